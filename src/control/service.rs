//! The registration service: decide, journal, group commit, then apply, publish and reply; no DPDK.
//!
//! [`RegistrationService`] owns the [`Registrar`] (none when no subscriber file is
//! configured), the [`TableWriter`] and the journal (none without a state directory).
//!
//! **Workers never forward by a change that is not durable.** A batch's decisions are
//! staged: the registrar reads the committed table with the batch's own earlier changes
//! on top (a [`BindingStore`] view), the workers see none of them. Only after the group
//! commit succeeded are the changes applied to the table and published; if it failed they
//! are dropped together with their journal records and their accepting Replies (the
//! mobile retransmits). The operator's `bind`/`unbind` follow the same rule. While commits
//! fail, [`journal_failure`](RegistrationService::journal_failure) says why (the control
//! lcore raises the `journal_cannot_commit` alarm); the first commit that succeeds again
//! (space freed, a poisoned journal recovered) clears it.
//! The control lcore drives it with mbufs ([`crate::control::lcore`]); tests and
//! `examples/regbench.rs` drive it directly. Requests go in as their UDP payload, the
//! way they came ([`Path`]) and their source address, together with a caller's token
//! (the lcore's mbuf, a test's index); Replies come back out with that token, only
//! after the group commit of their batch. See [`RegistrationService::finish_batch`] for
//! the order of the steps and what a failed commit does.
//!
//! Every other binding change goes through the same journal and commit: expiry
//! ([`expire`](RegistrationService::expire)), the operator's
//! [`bind`](RegistrationService::bind) and [`unbind`](RegistrationService::unbind), and
//! compaction ([`maybe_compact`](RegistrationService::maybe_compact)).

use crate::control::audit::{AuditRecord, AuditSink};
use crate::control::journal::{CompactionEvent, Journal, Kind, Record};
use crate::control::reg_io::Path;
use crate::control::registrar::{Now, Outcome, Registrar, RequestFacts};
use crate::control::subscribers::Subscribers;
use msm_mip::Code;
use msm_table::{Binding, TableError, TableWriter};
use std::io;
use std::time::{Duration, Instant};

mod batches;
mod durable;
mod staged;
pub use durable::DurableLog;
use staged::{check_upsert, Staged, StagedView};
#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod tests;

/// Why the operator's [`bind`](RegistrationService::bind) failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{0}")]
    Table(#[from] TableError),
    #[error("journal commit failed: the binding is not durable")]
    NotDurable,
}

/// Replies a caller should hold at most before it finishes the batch (the control loop
/// stops taking requests off the rings at this many).
pub const MAX_HELD: usize = 4096;

/// Table slots [`RegistrationService::expire`] scans per call.
const EXPIRE_SLOTS: usize = 4096;

/// Counters of the service (the control lcore's `stats` shows them under `control`).
#[derive(Debug, Default, Clone)]
pub struct ServiceCounters {
    /// Registrations dropped because no subscriber store is configured.
    pub registrations_no_subscribers: u64,
    /// Accepted changes whose journal commit failed: no Reply sent (the mobile retries),
    /// nothing applied to the table.
    pub journal_errors: u64,
    /// Group commits that failed (each raises or keeps the `journal_cannot_commit` alarm).
    pub journal_commit_failures: u64,
    /// Committed changes the table then refused (e.g. out of memory growing it): logged;
    /// the journal has them, so a restart applies them.
    pub apply_errors: u64,
    pub journal_commits: u64,
    pub journal_compactions: u64,
    pub publishes: u64,
    pub expired: u64,
}

/// What the registrar decided for one request, its change staged and appended to the
/// journal (not yet in the table). Hand it to [`RegistrationService::hold`].
#[must_use = "a decision's Reply is lost unless it is held"]
#[derive(Debug)]
pub struct Decision {
    outcome: Option<Outcome>,
    path: Path,
    src: u32,
}

impl Decision {
    /// The Reply's code (`None`: no Reply, the request is dropped).
    pub fn code(&self) -> Option<Code> {
        self.outcome.as_ref().and_then(|o| o.code)
    }
}

/// A Reply released after its batch's commit.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub code: Option<Code>,
    /// The Reply's UDP payload.
    pub payload: &'a [u8],
    /// When its batch began (the first request of the batch was decided).
    pub since: Instant,
}

/// What [`RegistrationService::finish_batch`] or
/// [`poll_batches`](RegistrationService::poll_batches) did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    /// Every batch finished was durable (or there was nothing to commit, or no journal).
    pub durable: bool,
    /// Batches finished (durable or failed).
    pub batches: usize,
    /// Replies handed to the caller.
    pub released: usize,
    /// Accepting Replies withheld because the commit failed.
    pub withheld: usize,
    /// Changes applied to the table after the commit.
    pub applied: usize,
    /// Time spent waiting for group commits, and in the publish.
    pub commit: Duration,
    pub publish: Duration,
}

/// A Reply waiting for the group commit, with the caller's token.
struct Held<T> {
    token: T,
    outcome: Outcome,
    path: Path,
    src: u32,
}

/// The registration sequence without DPDK; `T` is the caller's token for a request
/// (the mbuf its Reply goes out in), `L` where changes become durable. See the module
/// doc.
pub struct RegistrationService<T, L: DurableLog = Journal> {
    registrar: Option<Registrar>,
    writer: TableWriter,
    journal: Option<L>,
    /// Compact the journal once its log holds this many bytes.
    compact_bytes: u64,
    /// The open batch's Replies.
    held: Vec<Held<T>>,
    staged: Staged,
    /// The open batch: its number and when its first request was decided.
    batch: u64,
    opened: Option<Instant>,
    /// Sealed batches waiting for their commit, oldest first (see [`batches`]).
    sealed: std::collections::VecDeque<batches::Batch<T>>,
    /// Replies of finished batches not yet handed to a caller's `release`.
    ready: Vec<batches::Ready<T>>,
    /// The registrar's undo entries when the open batch began.
    undo_mark: usize,
    expired: Vec<Binding>,
    counters: ServiceCounters,
    /// Why the last commit failed; `None` once one succeeds.
    failing: Option<String>,
    /// The registration audit log, if configured.
    audit: Option<AuditSink>,
}

impl<T, L: DurableLog> RegistrationService<T, L> {
    /// `registrar`: `None` when no subscriber file is configured (registrations are
    /// counted and dropped); `journal`: `None` when bindings are not durable (testing).
    pub fn new(
        registrar: Option<Registrar>,
        writer: TableWriter,
        journal: Option<L>,
        compact_bytes: u64,
    ) -> Self {
        RegistrationService {
            registrar,
            writer,
            journal,
            compact_bytes,
            held: Vec::with_capacity(MAX_HELD),
            staged: Staged::default(),
            batch: 0,
            opened: None,
            sealed: Default::default(),
            ready: Vec::new(),
            undo_mark: 0,
            expired: Vec::new(),
            counters: ServiceCounters::default(),
            failing: None,
            audit: None,
        }
    }

    /// Decides one request (`payload`: its UDP payload; `src`: the source of the IP
    /// header carrying it), stages an accepted change (later requests of the batch see
    /// it, the workers do not) and appends its journal record. Its Reply leaves, and its
    /// change reaches the table, only through [`hold`](Self::hold) and
    /// [`finish_batch`](Self::finish_batch).
    pub fn decide(&mut self, payload: &[u8], path: Path, src: u32, now: Now) -> Decision {
        self.decide_udp(payload, path, src, 0, now)
    }

    /// [`decide`](Self::decide) with the request's UDP source port (`sport`), which a
    /// NAT binding (RFC 3519) is bound to.
    pub fn decide_udp(
        &mut self,
        payload: &[u8],
        path: Path,
        src: u32,
        sport: u16,
        now: Now,
    ) -> Decision {
        let Some(registrar) = self.registrar.as_mut() else {
            self.counters.registrations_no_subscribers += 1;
            return Decision {
                outcome: None,
                path,
                src,
            };
        };
        self.opened.get_or_insert_with(Instant::now);
        let mut view = StagedView {
            table: &self.writer,
            staged: &mut self.staged,
            batch: self.batch,
        };
        let outcome = registrar.handle_udp(payload, path, src, sport, now, &mut view);
        if let Some(change) = &outcome.change {
            let rec = change.record();
            self.staged.records.push(rec);
            if let Some(j) = self.journal.as_mut() {
                j.append(&rec);
            }
        }
        Decision {
            outcome: Some(outcome),
            path,
            src,
        }
    }

    /// Prefetches what deciding these requests (UDP payloads) will touch, before the
    /// batch is decided one by one: each subscriber's record and each home's table
    /// bucket ([`Registrar::prefetch`]). Only a hint: nothing changes.
    pub fn prefetch<'a>(&self, payloads: impl Iterator<Item = &'a [u8]> + Clone) {
        if let Some(r) = self.registrar.as_ref() {
            r.prefetch(payloads, &self.writer);
        }
    }

    /// Carries replay state over from the subscriber store before a reload, a bounded
    /// number of records per call ([`Registrar::migrate_step`]); the control loop calls
    /// it every iteration. Returns the slots visited (0: nothing to do).
    pub fn migrate_replay_state(&mut self) -> usize {
        self.registrar.as_mut().map_or(0, |r| {
            r.migrate_step(crate::control::registrar::MIGRATE_SLOTS)
        })
    }

    /// Holds the decision's Reply with `token` until the batch's commit; a decision
    /// without a Reply drops the token.
    pub fn hold(&mut self, token: T, decision: Decision) {
        let Decision { outcome, path, src } = decision;
        if let Some(outcome) = outcome.filter(|o| o.reply.is_some()) {
            self.held.push(Held {
                token,
                outcome,
                path,
                src,
            });
        }
    }

    /// [`decide`](Self::decide) then [`hold`](Self::hold), for callers whose token
    /// does not own the request's bytes.
    pub fn submit(&mut self, token: T, payload: &[u8], path: Path, src: u32, now: Now) {
        let decision = self.decide(payload, path, src, now);
        self.hold(token, decision);
    }

    /// Replies held: the open batch's, those of batches waiting for their commit, and
    /// those ready to be released.
    pub fn held(&self) -> usize {
        self.held.len() + self.sealed.iter().map(|b| b.held.len()).sum::<usize>() + self.ready.len()
    }

    /// Ends the batch and waits for it: [`seal_batch`](Self::seal_batch), then
    /// [`poll_batches`](Self::poll_batches) until every sealed batch is finished (tests,
    /// tools, benchmarks; the control lcore polls without waiting). The order of the
    /// whole sequence, in one place:
    ///
    /// 1. (already done by [`decide`](Self::decide)) decide, stage the change, append
    ///    its record to the journal. The table is not touched.
    /// 2. One group commit of the journal (one `write` + one `fdatasync`, on the
    ///    journal's sync thread).
    /// 3. If it succeeded: the staged changes are applied to the table in decision order
    ///    and published (RCU) once. If it failed: they are dropped (the journal dropped
    ///    their records too), with those of every later batch; the table and the
    ///    workers never saw them. The registrar's replay state is rolled back with them:
    ///    a verbatim retransmission of a request whose commit failed is decided afresh.
    /// 4. The held Replies go to `release`, with their tokens, in arrival order. If the
    ///    commit failed, every Reply that carries a change (code 0, a cancellation) is
    ///    withheld, its token dropped and counted in `journal_errors`: the MSM never
    ///    acknowledges what is not durable, and the mobile retransmits. Refusals carry
    ///    no change and are released either way.
    pub fn finish_batch(&mut self, release: impl FnMut(T, Reply<'_>)) -> BatchReport {
        self.seal_batch();
        self.poll_batches(true, release)
    }

    /// Removes bindings expired at `now` (up to a bounded scan per call): one journal
    /// Remove record each, one commit, one publish. Returns how many expired.
    ///
    /// The one change that reaches the table before its commit, on purpose: the binding's
    /// expiry time is already durable, so a restart drops it whether or not its Remove
    /// record made it (and a journal that cannot commit must not keep forwarding to a
    /// care-of address whose lifetime ran out).
    pub fn expire(&mut self, now: Now) -> usize {
        self.writer
            .expire(now.table_time(), EXPIRE_SLOTS, &mut self.expired);
        let n = self.expired.len();
        if n == 0 {
            return 0;
        }
        self.counters.expired += n as u64;
        for b in self.expired.drain(..) {
            let last = last_ident(self.registrar.as_ref(), b.msisdn);
            if let Some(j) = self.journal.as_mut() {
                j.append(&Record::remove(b.home, b.msisdn, last));
            }
        }
        // Committed like a batch (nothing waits for it), after the open one if any.
        self.seal_batch();
        self.publish();
        n
    }

    /// The operator's `bind`: a binding that never expires, journaled and committed,
    /// then applied and published. Returns the epoch of the publish, or
    /// [`BindError::NotDurable`] when the journal commit failed (counted in
    /// `journal_errors`; the table is unchanged).
    pub fn bind(&mut self, home: u32, coa: Option<u32>, msisdn: u64) -> Result<u64, BindError> {
        self.assert_no_batch();
        let insert = self.writer.get(home).is_none();
        check_upsert(&self.writer, home, coa, insert, 0)?;
        let b = Binding {
            home,
            coa,
            port: 0,
            msisdn,
            expires_at: u32::MAX,
        };
        let last = last_ident(self.registrar.as_ref(), msisdn);
        self.commit_then_apply(Record::upsert(&b, last))
    }

    /// The operator's `unbind`: removes the binding of `home`, journaled and committed,
    /// then applied and published. `Ok(false)` if there was none;
    /// [`BindError::NotDurable`] when the commit failed (the binding stays).
    pub fn unbind(&mut self, home: u32) -> Result<bool, BindError> {
        self.assert_no_batch();
        let Some(old) = self.writer.get(home) else {
            return Ok(false);
        };
        let last = last_ident(self.registrar.as_ref(), old.msisdn);
        self.commit_then_apply(Record::remove(home, old.msisdn, last))?;
        Ok(true)
    }

    /// One operator change: journal, commit, and only if durable apply and publish.
    /// Every sealed batch is finished first (their Replies wait for the next
    /// [`poll_batches`](Self::poll_batches)), so that the change lands after theirs.
    fn commit_then_apply(&mut self, rec: Record) -> Result<u64, BindError> {
        self.settle();
        if let Some(j) = self.journal.as_mut() {
            j.append(&rec);
        }
        if !self.commit() {
            self.counters.journal_errors += 1;
            return Err(BindError::NotDurable);
        }
        let applied = self.apply(&[rec]);
        if applied == 0 {
            return Err(BindError::Table(TableError::OutOfMemory));
        }
        Ok(self.publish())
    }

    /// Applies durable changes to the table in order; returns how many the table took.
    fn apply(&mut self, records: &[Record]) -> usize {
        let mut n = 0;
        for rec in records {
            let res = match rec.kind {
                Kind::Upsert => self
                    .writer
                    .upsert_endpoint(rec.home, rec.coa, rec.port, rec.msisdn, rec.expires_at)
                    .map(|_| ()),
                Kind::Remove => {
                    self.writer.remove(rec.home);
                    Ok(())
                }
            };
            match res {
                Ok(()) => n += 1,
                Err(e) => {
                    self.counters.apply_errors += 1;
                    tracing::error!(
                        "committed change for {} not applied to the table: {e}",
                        std::net::Ipv4Addr::from(rec.home)
                    );
                }
            }
        }
        n
    }

    /// Operator changes run between batches, never inside one.
    fn assert_no_batch(&self) {
        debug_assert!(
            self.staged.records.is_empty() && self.held.is_empty(),
            "operator change inside a registration batch"
        );
    }

    /// Sends every answered decision to the audit log from now on.
    pub fn set_audit(&mut self, sink: AuditSink) {
        self.audit = Some(sink);
    }

    /// Audit records dropped because the audit writer fell behind (`None`: no audit log).
    pub fn audit_dropped(&self) -> Option<u64> {
        self.audit.as_ref().map(|a| a.dropped)
    }

    /// Why the journal cannot commit (the last commit failed), if it cannot.
    pub fn journal_failure(&self) -> Option<&str> {
        self.failing.as_deref()
    }

    /// The control loop's compaction step, every iteration: polls a running compaction
    /// and begins one once the journal's log passed the configured size. Beginning one
    /// seals the log (O(1): a commit, two renames, a directory fsync); the merge into
    /// the new snapshot runs on a helper thread from the files, never from the table, and
    /// nothing waits for it (journal module doc, "Compaction"). A failure is logged and
    /// counted, and retried after a backoff (1 s doubling to 5 min); nothing is lost.
    pub fn maybe_compact(&mut self) -> CompactionEvent {
        self.compaction_step(self.compact_bytes)
    }

    /// [`maybe_compact`](Self::maybe_compact) whatever the log's size: begins a
    /// compaction if there is anything to compact, none is running and no backoff is
    /// pending. Does not wait for it.
    pub fn compact(&mut self) -> CompactionEvent {
        self.compaction_step(0)
    }

    fn compaction_step(&mut self, threshold: u64) -> CompactionEvent {
        // A seal commits what is pending: that must be a sealed batch's group.
        self.seal_batch();
        let Some(j) = self.journal.as_mut() else {
            return CompactionEvent::Idle;
        };
        let ev = j.maybe_compact(threshold);
        match &ev {
            CompactionEvent::Finished { records, duration } => {
                self.counters.journal_compactions += 1;
                tracing::info!("journal compacted: {records} bindings in {duration:?}");
            }
            CompactionEvent::Failed { error, retry_in } => tracing::error!(
                "journal compaction failed, next attempt in {retry_in:?} (the sealed log segments are kept: nothing is lost): {error}"
            ),
            CompactionEvent::Idle | CompactionEvent::Started => {}
        }
        ev
    }

    /// Frees table generations no worker can still read.
    pub fn reclaim(&mut self) -> usize {
        self.writer.reclaim()
    }

    /// Swaps in a reloaded subscriber store; `false` when registrations are disabled.
    pub fn replace_subscribers(&mut self, subs: Subscribers) -> bool {
        match self.registrar.as_mut() {
            Some(r) => {
                r.replace_subscribers(subs);
                true
            }
            None => false,
        }
    }

    pub fn registrar(&self) -> Option<&Registrar> {
        self.registrar.as_ref()
    }

    /// The table, read-only: every change goes through the service.
    pub fn writer(&self) -> &TableWriter {
        &self.writer
    }

    pub fn journal(&self) -> Option<&L> {
        self.journal.as_ref()
    }

    pub fn counters(&self) -> &ServiceCounters {
        &self.counters
    }

    /// Commits the journal's pending records; true if they are durable (or there is
    /// no journal: bindings are then explicitly not durable).
    fn commit(&mut self) -> bool {
        let Some(j) = self.journal.as_mut() else {
            return true;
        };
        if j.pending() == 0 {
            return true;
        }
        let r = j.commit();
        self.note_commit(&r);
        r.is_ok()
    }

    /// Counts a group commit's result and keeps why commits fail (the alarm).
    fn note_commit(&mut self, r: &io::Result<()>) {
        match r {
            Ok(()) => {
                self.counters.journal_commits += 1;
                if let Some(why) = self.failing.take() {
                    tracing::warn!("journal commits again (was failing: {why})");
                }
            }
            Err(e) => {
                self.counters.journal_commit_failures += 1;
                if self.failing.is_none() {
                    tracing::error!("journal commit failed: {e}");
                }
                self.failing = Some(e.to_string());
            }
        }
    }

    fn publish(&mut self) -> u64 {
        self.counters.publishes += 1;
        self.writer.publish()
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The audit log's view of an answered decision.
fn audit_record(
    o: &Outcome,
    path: Path,
    src: u32,
    durable: bool,
    time_unix_ms: u64,
) -> AuditRecord {
    let facts = o.request.unwrap_or(RequestFacts {
        msisdn: None,
        home: 0,
        care_of: 0,
        lifetime: 0,
    });
    let (path, source) = match path {
        Path::Wwan => (1, src),
        Path::Tunnel { outer_src, .. } => (2, outer_src),
        Path::Direct => (3, src),
    };
    AuditRecord {
        time_unix_ms,
        msisdn: facts.msisdn,
        home: facts.home,
        care_of: facts.care_of,
        lifetime: facts.lifetime,
        path,
        source,
        code: o.code.map_or(0, |c| c as u8),
        acknowledged: durable || o.change.is_none(),
    }
}

/// The subscriber's last accepted Identification, 0 if unknown (journal records carry it
/// so that replay protection survives a restart).
fn last_ident(registrar: Option<&Registrar>, msisdn: u64) -> u64 {
    registrar.and_then(|r| r.last_ident(msisdn)).unwrap_or(0)
}
