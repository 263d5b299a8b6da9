//! Batches in flight: sealed, their group commit on the journal's sync thread, their Replies held.
//!
//! The control lcore seals a batch ([`RegistrationService::seal_batch`]) and goes on
//! deciding the next one while the disk syncs; each iteration
//! [`RegistrationService::poll_batches`] collects the commits that finished, in order,
//! and for each durable batch applies its changes to the table, publishes once, and
//! releases its Replies. Later batches decide against the earlier ones' staged changes
//! (the overlay), so a batch's decisions depend on every batch before it: when one
//! fails, every batch sealed after it fails too (the journal writes none of them), and
//! the overlay and the registrar's replay state are rolled back to the last durable
//! batch.

use super::{BatchReport, Held, RegistrationService, Reply};
use crate::control::journal::Record;
use crate::control::service::DurableLog;
use std::time::Instant;

/// How a sealed batch's commit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Handed to the journal as group `n`.
    Pending(u64),
    Durable,
    Failed,
}

/// A sealed batch.
pub(super) struct Batch<T> {
    id: u64,
    state: State,
    records: Vec<Record>,
    pub(super) held: Vec<Held<T>>,
    /// The registrar's undo entries of this batch.
    undo: usize,
    opened: Instant,
}

/// A Reply of a finished batch, waiting for a caller's `release`.
pub(super) struct Ready<T> {
    held: Held<T>,
    durable: bool,
    since: Instant,
}

impl<T, L: DurableLog> RegistrationService<T, L> {
    /// Ends the open batch without waiting: its journal group goes to the journal's
    /// sync thread, its Replies wait for the result
    /// ([`poll_batches`](Self::poll_batches)). No-op if nothing is open or pending.
    pub fn seal_batch(&mut self) {
        let pending = self.journal.as_ref().map_or(0, |j| j.pending());
        if self.held.is_empty() && self.staged.records.is_empty() && pending == 0 {
            return;
        }
        let state = match self.journal.as_mut().map(|j| j.begin_commit()) {
            None | Some(Ok(None)) => State::Durable,
            Some(Ok(Some(n))) => State::Pending(n),
            Some(Err(e)) => {
                self.note_commit(&Err(e));
                State::Failed
            }
        };
        let undo_now = self.registrar.as_ref().map_or(0, |r| r.undo_len());
        self.sealed.push_back(Batch {
            id: self.batch,
            state,
            records: std::mem::take(&mut self.staged.records),
            held: std::mem::take(&mut self.held),
            undo: undo_now - self.undo_mark,
            opened: self.opened.take().unwrap_or_else(Instant::now),
        });
        self.undo_mark = undo_now;
        self.batch += 1;
    }

    /// A standby's batch, already replicated by the shard's owner (`docs/cluster.md`):
    /// its records go to the local journal only and, once that commit is durable, into
    /// the table (published) and the registrar's replay state, in order with any other
    /// batch. Nothing is decided and no Reply is held.
    pub fn follow(&mut self, records: &[Record]) {
        self.seal_batch();
        if let Some(r) = self.registrar.as_mut() {
            for rec in records {
                if rec.last_ident != 0 && rec.msisdn != 0 {
                    r.restore_ident(rec.msisdn, rec.last_ident);
                }
            }
        }
        if let Some(j) = self.journal.as_mut() {
            for rec in records {
                j.append_local(rec);
            }
        }
        self.staged.records.extend_from_slice(records);
        self.seal_batch();
    }

    /// Sealed batches whose commit has not finished.
    pub fn batches_in_flight(&self) -> usize {
        self.sealed.len()
    }

    /// Seals the open batch, then finishes every sealed batch whose commit is done, in
    /// order (waiting for all of them if `wait`): applies and publishes the durable
    /// ones, drops failed ones with every later one, and hands their Replies to
    /// `release` (steps 3 and 4 of [`finish_batch`](Self::finish_batch)).
    pub fn poll_batches(
        &mut self,
        wait: bool,
        mut release: impl FnMut(T, Reply<'_>),
    ) -> BatchReport {
        self.seal_batch();
        let t0 = Instant::now();
        let mut report = self.process(wait);
        let t1 = Instant::now();
        if report.applied > 0 {
            self.publish();
        }
        report.commit = t1 - t0;
        report.publish = t1.elapsed();
        let time_unix_ms = self.audit.as_ref().map_or(0, |_| super::unix_ms());
        for Ready {
            held,
            durable,
            since,
        } in std::mem::take(&mut self.ready)
        {
            let Held {
                token,
                outcome,
                path,
                src,
            } = held;
            if let Some(a) = self.audit.as_mut() {
                a.record(super::audit_record(
                    &outcome,
                    path,
                    src,
                    durable,
                    time_unix_ms,
                ));
            }
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
                    since,
                },
            );
        }
        report
    }

    /// Finishes every sealed batch, waiting for their commits; their Replies wait in
    /// `ready` for the next [`poll_batches`](Self::poll_batches). Publishes what it
    /// applied.
    pub(super) fn settle(&mut self) {
        self.seal_batch();
        if self.process(true).applied > 0 {
            self.publish();
        }
    }

    /// Collects the journal's results and finishes batches from the front while their
    /// commit is done (all of them if `wait`). Replies go to `ready`.
    fn process(&mut self, wait: bool) -> BatchReport {
        let mut report = BatchReport {
            durable: true,
            ..BatchReport::default()
        };
        loop {
            self.collect(false);
            let Some(front) = self.sealed.front() else {
                break;
            };
            match front.state {
                State::Pending(_) if wait => {
                    if !self.collect(true) {
                        // The journal lost track of it: it cannot be durable.
                        if let Some(b) = self.sealed.front_mut() {
                            b.state = State::Failed;
                        }
                    }
                }
                State::Pending(_) => break,
                State::Durable => {
                    let b = self.sealed.pop_front().expect("front exists");
                    report.applied += self.finish_durable(b);
                    report.batches += 1;
                }
                State::Failed => {
                    report.durable = false;
                    report.batches += self.fail_all();
                }
            }
        }
        report
    }

    /// Moves the journal's results into the sealed batches' states; with `wait`, waits
    /// for one first. False if waiting found nothing in flight.
    fn collect(&mut self, wait: bool) -> bool {
        let mut wait = wait;
        let mut got = false;
        loop {
            let Some(j) = self.journal.as_mut() else {
                return got;
            };
            let Some((n, r)) = j.poll_commit(wait) else {
                return got || !wait;
            };
            wait = false;
            got = true;
            self.note_commit(&r);
            // Results come in order; one for a batch already failed is dropped.
            if let Some(b) = self
                .sealed
                .iter_mut()
                .find(|b| b.state == State::Pending(n))
            {
                b.state = if r.is_ok() {
                    State::Durable
                } else {
                    State::Failed
                };
            }
        }
    }

    /// A durable batch: its changes into the table (their overlay entries go, unless a
    /// later batch changed the home again), its undo entries forgotten, its Replies
    /// ready. Returns how many changes the table took.
    fn finish_durable(&mut self, b: Batch<T>) -> usize {
        let applied = self.apply(&b.records);
        for rec in &b.records {
            let staged = &mut self.staged;
            if let Some(s) = staged.overlay.get_mut(&rec.home) {
                if s.batch == b.id {
                    if s.inserted {
                        staged.inserts -= 1;
                    }
                    staged.overlay.remove(&rec.home);
                } else if s.inserted {
                    // A later batch's change of a home the table holds now.
                    s.inserted = false;
                    staged.inserts -= 1;
                }
            }
        }
        if let Some(r) = self.registrar.as_mut() {
            r.forget_undo(b.undo);
        }
        self.undo_mark -= b.undo.min(self.undo_mark);
        let since = b.opened;
        self.ready.extend(b.held.into_iter().map(|held| Ready {
            held,
            durable: true,
            since,
        }));
        applied
    }

    /// The front batch failed: it and every later sealed batch are dropped (their
    /// changes never reach the table, their accepting Replies are withheld), the
    /// overlay is emptied and the registrar's replay state rolled back. Returns how many
    /// batches failed.
    fn fail_all(&mut self) -> usize {
        let n = self.sealed.len();
        for b in std::mem::take(&mut self.sealed) {
            let since = b.opened;
            self.ready.extend(b.held.into_iter().map(|held| Ready {
                held,
                durable: false,
                since,
            }));
        }
        self.staged.overlay.clear();
        self.staged.inserts = 0;
        if let Some(r) = self.registrar.as_mut() {
            r.rollback_batch();
        }
        self.undo_mark = 0;
        n
    }
}
