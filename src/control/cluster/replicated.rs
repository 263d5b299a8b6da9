//! A replicated [`DurableLog`]: a group is durable only once the local journal has fsynced it AND etcd has acknowledged its fenced write.
//!
//! [`ReplicatedLog`] wraps the local log (the [`Journal`](crate::control::journal::Journal))
//! and a [`Replicator`] (the etcd thread's queues, or a test's fake). `begin_commit`
//! starts both without waiting; `poll_commit` reports groups in order, each only when
//! both sides have answered, durable only if both succeeded. Several groups stay in
//! flight. A group the replicator refuses (queue full, not the owner) or fails (fenced,
//! etcd unreachable until the deadline) fails; the service then fails every later one.

use crate::control::journal::{CompactionEvent, Record};
use crate::control::service::DurableLog;
use std::collections::VecDeque;
use std::io;
use std::time::Duration;

/// The etcd side as the control lcore sees it: never blocks except in
/// [`wait`](Replicator::wait).
pub trait Replicator {
    /// Hands group `group`'s records over; false if they could not be queued (queue
    /// full, or this member does not own the shard): the group fails.
    fn submit(&mut self, group: u64, records: Vec<Record>) -> bool;
    /// The next write result, in submission order: `Err` says why it is not replicated.
    fn poll(&mut self) -> Option<(u64, Result<(), String>)>;
    /// [`poll`](Self::poll), waiting up to `timeout` for a result.
    fn wait(&mut self, timeout: Duration) -> Option<(u64, Result<(), String>)>;
}

/// A group begun and not yet reported.
struct Flight {
    n: u64,
    local: Option<io::Result<()>>,
    remote: Option<Result<(), String>>,
}

/// Counters of the replicated log.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplCounters {
    /// Groups durable on both sides.
    pub groups_durable: u64,
    /// Groups that failed because etcd refused, fenced or did not answer.
    pub groups_remote_failed: u64,
    /// Groups that failed locally.
    pub groups_local_failed: u64,
    /// Records replicated (acknowledged by etcd).
    pub records_replicated: u64,
}

/// See the module doc.
pub struct ReplicatedLog<L, R> {
    local: L,
    repl: R,
    buf: Vec<Record>,
    flight: VecDeque<Flight>,
    /// Records per group in flight (for the counters).
    sizes: VecDeque<(u64, usize)>,
    /// How long a waiting caller waits for etcd before it fails the group.
    wait_timeout: Duration,
    pub counters: ReplCounters,
}

impl<L: DurableLog, R: Replicator> ReplicatedLog<L, R> {
    pub fn new(local: L, repl: R, wait_timeout: Duration) -> Self {
        ReplicatedLog {
            local,
            repl,
            buf: Vec::new(),
            flight: VecDeque::new(),
            sizes: VecDeque::new(),
            wait_timeout,
            counters: ReplCounters::default(),
        }
    }

    pub fn local(&self) -> &L {
        &self.local
    }

    pub fn local_mut(&mut self) -> &mut L {
        &mut self.local
    }

    pub fn replicator(&self) -> &R {
        &self.repl
    }

    pub fn replicator_mut(&mut self) -> &mut R {
        &mut self.repl
    }

    /// Groups begun and not reported yet.
    pub fn in_flight(&self) -> usize {
        self.flight.len()
    }

    fn set_local(&mut self, n: u64, r: io::Result<()>) {
        if let Some(f) = self.flight.iter_mut().find(|f| f.n == n) {
            f.local = Some(r);
        }
    }

    fn set_remote(&mut self, n: u64, r: Result<(), String>) {
        if let Some(f) = self.flight.iter_mut().find(|f| f.n == n) {
            if f.remote.is_none() {
                f.remote = Some(r);
            }
        }
    }

    /// Takes every result either side has, without waiting.
    fn gather(&mut self) {
        while let Some((n, r)) = self.local.poll_commit(false) {
            self.set_local(n, r);
        }
        while let Some((n, r)) = self.repl.poll() {
            self.set_remote(n, r);
        }
    }

    /// Waits until group `n` (and so every group before it) has both answers.
    fn settle(&mut self, n: u64) {
        loop {
            self.gather();
            let Some(f) = self.flight.iter().find(|f| f.n == n) else {
                return;
            };
            if f.local.is_some() && f.remote.is_some() {
                return;
            }
            if f.local.is_none() {
                match self.local.poll_commit(true) {
                    Some((m, r)) => self.set_local(m, r),
                    None => {
                        // The local log lost track of it: it cannot be durable.
                        let lost = io::Error::other("local log lost the group");
                        self.set_local(n, Err(lost));
                    }
                }
                continue;
            }
            if f.remote.is_none() {
                match self.repl.wait(self.wait_timeout) {
                    Some((m, r)) => self.set_remote(m, r),
                    None => {
                        let ms = self.wait_timeout.as_millis();
                        // Every group up to `n` without an answer fails: etcd did not
                        // answer in time (a late answer is then ignored).
                        for f in self.flight.iter_mut() {
                            if f.remote.is_none() {
                                f.remote = Some(Err(format!("etcd did not answer in {ms} ms")));
                            }
                            if f.n == n {
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    fn finish(&mut self, f: Flight) -> (u64, io::Result<()>) {
        let size = match self.sizes.front() {
            Some(&(m, s)) if m == f.n => {
                self.sizes.pop_front();
                s
            }
            _ => 0,
        };
        let r = match (f.local, f.remote) {
            (Some(Err(e)), _) => {
                self.counters.groups_local_failed += 1;
                Err(e)
            }
            (_, Some(Err(e))) => {
                self.counters.groups_remote_failed += 1;
                Err(io::Error::other(format!("not replicated: {e}")))
            }
            _ => {
                self.counters.groups_durable += 1;
                self.counters.records_replicated += size as u64;
                Ok(())
            }
        };
        (f.n, r)
    }
}

impl<L: DurableLog, R: Replicator> DurableLog for ReplicatedLog<L, R> {
    fn append(&mut self, rec: &Record) {
        self.local.append(rec);
        self.buf.push(*rec);
    }

    fn append_local(&mut self, rec: &Record) {
        self.local.append(rec);
    }

    fn pending(&self) -> usize {
        self.local.pending()
    }

    fn begin_commit(&mut self) -> io::Result<Option<u64>> {
        let records = std::mem::take(&mut self.buf);
        let n = match self.local.begin_commit() {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e),
        };
        let size = records.len();
        let remote = if records.is_empty() {
            // Only followed (already replicated) records: the local commit decides.
            Some(Ok(()))
        } else if self.repl.submit(n, records) {
            None
        } else {
            Some(Err("etcd queue full or not the shard's owner".to_string()))
        };
        self.flight.push_back(Flight {
            n,
            local: None,
            remote,
        });
        self.sizes.push_back((n, size));
        Ok(Some(n))
    }

    fn poll_commit(&mut self, wait: bool) -> Option<(u64, io::Result<()>)> {
        let front = self.flight.front()?.n;
        if wait {
            self.settle(front);
        } else {
            self.gather();
        }
        let f = self.flight.front()?;
        if f.local.is_none() || f.remote.is_none() {
            return None;
        }
        let f = self.flight.pop_front()?;
        Some(self.finish(f))
    }

    fn commit(&mut self) -> io::Result<()> {
        let Some(n) = self.begin_commit()? else {
            if let Some(last) = self.flight.back().map(|f| f.n) {
                self.settle(last);
            }
            return Ok(());
        };
        self.settle(n);
        let i = self
            .flight
            .iter()
            .position(|f| f.n == n)
            .expect("settled, not reported");
        let f = self.flight.remove(i).expect("index exists");
        // Its size entry goes with it.
        if let Some(j) = self.sizes.iter().position(|&(m, _)| m == n) {
            let (_, s) = self.sizes.remove(j).expect("index exists");
            self.sizes.push_front((n, s));
        }
        self.finish(f).1
    }

    fn log_bytes(&self) -> u64 {
        self.local.log_bytes()
    }

    fn maybe_compact(&mut self, threshold: u64) -> CompactionEvent {
        self.local.maybe_compact(threshold)
    }
}
