//! Where binding changes become durable: the [`DurableLog`] trait and its [`Journal`] implementation.

use crate::control::journal::{CompactionEvent, Journal, Record};
use std::io;
use std::time::Instant;

/// Where binding changes become durable: the [`Journal`], or a test's stand-in.
pub trait DurableLog {
    /// Buffers a record for the next commit (no I/O).
    fn append(&mut self, rec: &Record);
    /// Buffers a record that is already replicated elsewhere (a standby following the
    /// owner's log): only the local log takes it. The default is [`append`](Self::append).
    fn append_local(&mut self, rec: &Record) {
        self.append(rec)
    }
    /// Records appended and not yet handed to a commit.
    fn pending(&self) -> usize;
    /// Starts making every appended record durable, without waiting: `Ok(Some(n))`, the
    /// group's number for [`poll_commit`](Self::poll_commit); `Ok(None)`: nothing to
    /// commit. On `Err` the group is dropped (none of it will be durable).
    fn begin_commit(&mut self) -> io::Result<Option<u64>>;
    /// The result of the oldest group begun and not reported yet, in order; waits for
    /// it if `wait`. After a failed group, every later group begun before the failure
    /// was reported fails too (none of them is written).
    fn poll_commit(&mut self, wait: bool) -> Option<(u64, io::Result<()>)>;
    /// Commits the appended records and waits until they and every group before them
    /// are settled; `Ok` only if they are durable. The earlier groups' results stay for
    /// [`poll_commit`](Self::poll_commit).
    fn commit(&mut self) -> io::Result<()>;
    /// Committed bytes in the log (compared with the compaction threshold).
    fn log_bytes(&self) -> u64;
    /// The compaction step ([`Journal::maybe_compact`]): polls a running compaction, or
    /// begins one once the log holds `threshold` bytes. Never waits for the merge.
    fn maybe_compact(&mut self, threshold: u64) -> CompactionEvent;
}

impl DurableLog for Journal {
    fn append(&mut self, rec: &Record) {
        Journal::append(self, rec)
    }
    fn pending(&self) -> usize {
        Journal::pending(self)
    }
    fn begin_commit(&mut self) -> io::Result<Option<u64>> {
        Journal::begin_commit(self)
    }
    fn poll_commit(&mut self, wait: bool) -> Option<(u64, io::Result<()>)> {
        Journal::poll_commit(self, wait)
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
