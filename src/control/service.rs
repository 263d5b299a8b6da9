//! The registration service: decide, apply, journal, group commit, publish, then reply; no DPDK.
//!
//! [`RegistrationService`] owns the [`Registrar`] (none when no subscriber file is
//! configured), the [`TableWriter`] and the journal (none without a state directory).
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

use crate::control::journal::{CompactionEvent, Journal, Record};
use crate::control::reg_io::Path;
use crate::control::registrar::{Now, Outcome, Registrar};
use crate::control::subscribers::Subscribers;
use msm_mip::Code;
use msm_table::{Binding, TableError, TableWriter};
use std::io;
use std::time::{Duration, Instant};

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

/// Where binding changes become durable: the [`Journal`], or a test's stand-in.
pub trait DurableLog {
    /// Buffers a record for the next commit (no I/O).
    fn append(&mut self, rec: &Record);
    /// Records appended and not yet committed.
    fn pending(&self) -> usize;
    /// Makes every appended record durable; `Ok` only if they are.
    fn commit(&mut self) -> io::Result<()>;
    /// Committed bytes in the log (compared with the compaction threshold).
    fn log_bytes(&self) -> u64;
    /// The compaction step ([`Journal::maybe_compact`]): polls a running compaction, or
    /// begins one once the log holds `threshold` bytes. Never waits for it.
    fn maybe_compact(&mut self, threshold: u64) -> CompactionEvent;
}

impl DurableLog for Journal {
    fn append(&mut self, rec: &Record) {
        Journal::append(self, rec)
    }
    fn pending(&self) -> usize {
        Journal::pending(self)
    }
    fn commit(&mut self) -> io::Result<()> {
        Journal::commit(self)
    }
    fn log_bytes(&self) -> u64 {
        Journal::log_bytes(self)
    }
    fn maybe_compact(&mut self, threshold: u64) -> CompactionEvent {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().min(u64::from(u32::MAX - 1)) as u32);
        Journal::maybe_compact(self, threshold, Instant::now(), unix)
    }
}

/// Counters of the service (the control lcore's `stats` shows them under `control`).
#[derive(Debug, Default, Clone)]
pub struct ServiceCounters {
    /// Registrations dropped because no subscriber store is configured.
    pub registrations_no_subscribers: u64,
    /// Accepted changes whose journal commit failed: no Reply sent (the mobile retries).
    pub journal_errors: u64,
    pub journal_commits: u64,
    pub journal_compactions: u64,
    pub publishes: u64,
    pub expired: u64,
}

/// What the registrar decided for one request, its change already applied to the
/// table and appended to the journal. Hand it to [`RegistrationService::hold`].
#[must_use = "a decision's Reply is lost unless it is held"]
#[derive(Debug)]
pub struct Decision(Option<Outcome>);

impl Decision {
    /// The Reply's code (`None`: no Reply, the request is dropped).
    pub fn code(&self) -> Option<Code> {
        self.0.as_ref().and_then(|o| o.code)
    }
}

/// A Reply released after its batch's commit.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub code: Option<Code>,
    /// The Reply's UDP payload.
    pub payload: &'a [u8],
}

/// What [`RegistrationService::finish_batch`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    /// The group commit succeeded (or there was nothing to commit, or no journal).
    pub durable: bool,
    /// Replies handed to the caller.
    pub released: usize,
    /// Accepting Replies withheld because the commit failed.
    pub withheld: usize,
    /// Time spent in the group commit and in the publish.
    pub commit: Duration,
    pub publish: Duration,
}

/// A Reply waiting for the group commit, with the caller's token.
struct Held<T> {
    token: T,
    outcome: Outcome,
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
    held: Vec<Held<T>>,
    expired: Vec<Binding>,
    counters: ServiceCounters,
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
            expired: Vec::new(),
            counters: ServiceCounters::default(),
        }
    }

    /// Decides one request (`payload`: its UDP payload; `src`: the source of the IP
    /// header carrying it), applies an accepted change to the table in place and
    /// appends its journal record. Its Reply leaves only through
    /// [`hold`](Self::hold) and [`finish_batch`](Self::finish_batch).
    pub fn decide(&mut self, payload: &[u8], path: Path, src: u32, now: Now) -> Decision {
        let Some(registrar) = self.registrar.as_mut() else {
            self.counters.registrations_no_subscribers += 1;
            return Decision(None);
        };
        let outcome = registrar.handle(payload, path, src, now, &mut self.writer);
        if let (Some(change), Some(j)) = (&outcome.change, self.journal.as_mut()) {
            j.append(&change.record());
        }
        Decision(Some(outcome))
    }

    /// Holds the decision's Reply with `token` until the batch's commit; a decision
    /// without a Reply drops the token.
    pub fn hold(&mut self, token: T, decision: Decision) {
        if let Some(outcome) = decision.0.filter(|o| o.reply.is_some()) {
            self.held.push(Held { token, outcome });
        }
    }

    /// [`decide`](Self::decide) then [`hold`](Self::hold), for callers whose token
    /// does not own the request's bytes.
    pub fn submit(&mut self, token: T, payload: &[u8], path: Path, src: u32, now: Now) {
        let decision = self.decide(payload, path, src, now);
        self.hold(token, decision);
    }

    /// Replies held for the current batch.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Ends the batch. The order of the whole sequence, in one place:
    ///
    /// 1. (already done by [`decide`](Self::decide)) decide, apply the change to the
    ///    table, append its record to the journal. The table is updated *before* the
    ///    commit: workers may forward on a change whose commit then fails.
    /// 2. One group commit of the journal (one `write` + one `fdatasync`).
    /// 3. One publish of the table (RCU), whether or not the commit succeeded.
    /// 4. The held Replies go to `release`, with their tokens, in arrival order. If the
    ///    commit failed, every Reply that carries a change (code 0, a cancellation) is
    ///    withheld, its token dropped and counted in `journal_errors`: the MSM never
    ///    acknowledges what is not durable, and the mobile retransmits. Refusals carry
    ///    no change and are released either way.
    pub fn finish_batch(&mut self, mut release: impl FnMut(T, Reply<'_>)) -> BatchReport {
        let t0 = Instant::now();
        let durable = self.commit();
        let t1 = Instant::now();
        self.publish();
        let mut report = BatchReport {
            durable,
            commit: t1 - t0,
            publish: t1.elapsed(),
            ..BatchReport::default()
        };
        for Held { token, outcome } in self.held.drain(..) {
            if outcome.change.is_some() && !durable {
                self.counters.journal_errors += 1;
                report.withheld += 1;
                continue;
            }
            let Some(payload) = outcome.reply_bytes() else {
                continue;
            };
            report.released += 1;
            release(
                token,
                Reply {
                    code: outcome.code,
                    payload,
                },
            );
        }
        report
    }

    /// Removes bindings expired at `now` (up to a bounded scan per call): one journal
    /// Remove record each, one commit, one publish. Returns how many expired.
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
        self.commit();
        self.publish();
        n
    }

    /// The operator's `bind`: a binding that never expires, journaled, committed and
    /// published. Returns the epoch of the publish, or [`BindError::NotDurable`] when the
    /// journal commit failed (counted in `journal_errors`).
    pub fn bind(&mut self, home: u32, coa: Option<u32>, msisdn: u64) -> Result<u64, BindError> {
        self.writer.upsert(home, coa, msisdn, u32::MAX)?;
        let last = last_ident(self.registrar.as_ref(), msisdn);
        if let Some(j) = self.journal.as_mut() {
            let b = Binding {
                home,
                coa,
                msisdn,
                expires_at: u32::MAX,
            };
            j.append(&Record::upsert(&b, last));
        }
        let durable = self.commit();
        let epoch = self.publish();
        if !durable {
            self.counters.journal_errors += 1;
            return Err(BindError::NotDurable);
        }
        Ok(epoch)
    }

    /// The operator's `unbind`: removes the binding of `home`, journaled, committed and
    /// published. `false` if there was none.
    pub fn unbind(&mut self, home: u32) -> bool {
        let old = self.writer.get(home);
        if !self.writer.remove(home) {
            return false;
        }
        let msisdn = old.map(|b| b.msisdn).unwrap_or(0);
        let last = last_ident(self.registrar.as_ref(), msisdn);
        if let Some(j) = self.journal.as_mut() {
            j.append(&Record::remove(home, msisdn, last));
        }
        self.commit();
        self.publish();
        true
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
        match j.commit() {
            Ok(()) => {
                self.counters.journal_commits += 1;
                true
            }
            Err(e) => {
                tracing::error!("journal commit failed: {e}");
                false
            }
        }
    }

    fn publish(&mut self) -> u64 {
        self.counters.publishes += 1;
        self.writer.publish()
    }
}

/// The subscriber's last accepted Identification, 0 if unknown (journal records carry it
/// so that replay protection survives a restart).
fn last_ident(registrar: Option<&Registrar>, msisdn: u64) -> u64 {
    registrar.and_then(|r| r.last_ident(msisdn)).unwrap_or(0)
}
