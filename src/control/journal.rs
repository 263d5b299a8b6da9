//! The durable binding journal: an append-only log with group commit, compacted into a snapshot.
//!
//! PROTOCOL.md section 1: the MSM sends code 0 only after the binding change is durable.
//! The control lcore [`append`](Journal::append)s one [`Record`] per accepted change
//! (no syscall), and once per loop iteration that produced changes hands the group to
//! the journal's sync thread with [`begin_commit`](Journal::begin_commit): one `write`
//! and one `fdatasync` for the whole group, off the control lcore (`syncer.rs`). The
//! Replies of that group leave only after [`poll_commit`](Journal::poll_commit)
//! reported it `Ok`; [`commit`](Journal::commit) does both and waits. Every iteration it
//! also calls [`maybe_compact`](Journal::maybe_compact): once the log passed the
//! configured size, the log is *sealed* (renamed; O(1)) and a helper thread merges the
//! old snapshot and the sealed segments into a new snapshot, LSM style, without the
//! binding table: the control lcore never waits for it (see "Compaction" below).
//!
//! On start, [`Journal::open`] replays the snapshot, the sealed segments, then the log;
//! the caller applies the
//! records in order (or takes [`Replay::live`]), drops what expired and publishes the
//! table before the workers take traffic.
//!
//! # Files (in the state directory)
//!
//! * `bindings.lock`: empty; `flock(LOCK_EX)`ed while the journal is open, so that a
//!   second MSM on the same state directory fails to open it instead of interleaving
//!   records.
//! * `bindings.snap`: the last compaction. Written as `bindings.snap.tmp`, then renamed.
//! * `bindings.log.<seq>` (`seq` a decimal number, increasing): sealed log segments, the
//!   live log as it was when a compaction began, waiting to be merged into the snapshot.
//!   Normally none, or the one being merged; more after failed compactions.
//! * `bindings.log`: records appended since the last seal.
//! * `bindings.snap.tmp`, `bindings.log.next`: only after a crash during compaction or
//!   seal; deleted at open.
//!
//! Replay order: snapshot, then the sealed segments by increasing `seq`, then the live
//! log.
//!
//! ## Record: 36 bytes, little-endian
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 1 | kind: 1 = Upsert, 2 = Remove (anything else is invalid) |
//! | 1  | 1 | format version, 1 |
//! | 2  | 2 | reserved, 0 |
//! | 4  | 4 | home address (not 0.0.0.0 / 255.255.255.255) |
//! | 8  | 4 | care-of address, 0 = none (bound through the WWAN) |
//! | 12 | 4 | `expires_at`, Unix seconds; `u32::MAX` = never |
//! | 16 | 8 | MSISDN |
//! | 24 | 8 | last accepted registration Identification of the subscriber (replay protection survives a restart) |
//! | 32 | 4 | CRC-32 (IEEE, as zlib) of bytes 0..32 |
//!
//! An all-zero record (what a crash can leave after a file-size update whose data never
//! reached the disk) fails both the CRC and the kind check.
//!
//! ## Log
//!
//! Records back to back, nothing else. Replay stops at the first record that is short
//! (torn write), fails its CRC or is otherwise invalid; the file is truncated there
//! (and fsynced) and the cut is reported in [`Replay::warnings`]. That includes a
//! damaged record in the *middle* of the log: everything from it on is cut, because
//! applying later records without it could resurrect a binding it removed or replaced.
//! Such a cut is not a torn write (only the last group can be torn, since each group is
//! fsynced before the next is written), so the warning then says how many valid records
//! followed and were dropped: it means media corruption, for the operator to look at.
//!
//! ## Snapshot
//!
//! A 24-byte header then `count` records (same encoding, each with its own CRC):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `MSMSNAP1` |
//! | 8  | 8 | `count` |
//! | 16 | 4 | CRC-32 of bytes 0..32 of every record, in order (not of their own CRCs: a
//! run of self-checked records has a content-independent CRC) |
//! | 20 | 4 | CRC-32 of header bytes 0..20 |
//!
//! The file size must be exactly `24 + 36 * count`. Any defect in `bindings.snap` is a
//! hard [`Error::CorruptSnapshot`] naming the file: a snapshot is only ever installed
//! whole (by rename after fsync), so a damaged one is not a crash artefact and the
//! operator must decide (restore it from a backup, or remove it and lose the bindings).
//!
//! ## Sealed segments
//!
//! The same format as the log. A segment only ever holds committed groups (it is the
//! log renamed right after a successful commit, and a failed `write` is cut before the
//! next commit), so a record that does not decode is damage, not a torn write: a hard
//! [`Error::CorruptSegment`] naming the file, as for the snapshot.
//!
//! # Compaction
//!
//! [`maybe_compact`](Journal::maybe_compact) (the control lcore, every iteration) polls a
//! running compaction through a channel (no wait) and, when none runs, the log holds at
//! least the threshold (or sealed segments wait, e.g. after a failure) and no backoff is
//! pending, begins one:
//!
//! * **Seal** (control lcore, O(1) whatever the number of bindings: one commit of the
//!   pending group, two renames, one directory fsync, one thread spawn):
//!   1. commit the pending records;
//!   2. create an empty `bindings.log.next`;
//!   3. rename `bindings.log` to `bindings.log.<seq>`;
//!   4. rename `bindings.log.next` to `bindings.log`;
//!   5. `fsync` the directory (before any record goes into the new log: a record
//!      fdatasynced into a file whose name is not durable could be lost). If this fails
//!      the journal is poisoned, as after a failed `fdatasync`.
//!   6. start the merge thread with the list of sealed segments.
//! * **Merge** (helper thread, memory bounded by the sealed segments, not by the
//!   bindings): read the segments into a map home -> last record; stream the old
//!   snapshot record by record, replacing each home found in the map by the map's record
//!   (or dropping it if that is a Remove); append the map's remaining Upserts; drop every
//!   Upsert already expired at the merge's `now`; write that to `bindings.snap.tmp`,
//!   `fsync` it, rename it over `bindings.snap`, `fsync` the directory, delete the
//!   merged segments, `fsync` the directory.
//!
//! The merged snapshot is the state "old snapshot, then the segments": for each home the
//! last record, kept if it is a live Upsert. That record also carries the subscriber's
//! replay-protection state: every accepted registration writes a record of its
//! subscriber's home carrying the request's Identification, so the latest record of a
//! home carries the subscriber's latest accepted Identification, exactly what the old
//! snapshot-from-the-table wrote (`Registrar::last_ident` of the binding's subscriber).
//! Subscribers without a binding lose it in both (removed and expired homes are left
//! out), and the Identification's timestamp window still refuses old requests.
//!
//! A failed compaction (`ENOSPC` on the tmp file, a failed seal, ...) is logged by the
//! caller, counted in [`JournalStats::compaction_failures`], and retried after a backoff
//! of 1 s doubling up to 5 min; the sealed segments stay and the next attempt merges
//! them together with a newly sealed log. Nothing is lost.
//!
//! ## Crash safety
//!
//! Replay is snapshot, segments in order, live log. Crash:
//!
//! * during the seal, before step 3: `bindings.log.next` (empty, never written) is
//!   deleted at open; nothing else changed.
//! * between steps 3 and 4: the segment holds the whole log, there is no
//!   `bindings.log`; open deletes `bindings.log.next` and creates an empty log. Same
//!   records, same order.
//! * before the directory fsync (5): either name of each rename may have survived; the
//!   records are the same in either case and none was written to the new log yet.
//! * during the merge, before the rename: `bindings.snap.tmp` (partial or whole) is
//!   deleted at open; old snapshot + segments + log are intact.
//! * after the rename, before the segments' deletion is durable (any subset of the
//!   merged segments may remain; deletion goes oldest first): the new snapshot, then the
//!   remaining segments, then the log. Idempotent: an Upsert or Remove sets a home's
//!   state regardless of what was there, so the last record of each home in the remaining
//!   segments (the state the merge took for it) wins again; homes they do not touch keep
//!   the new snapshot's state. Bindings that expired and were left out of the snapshot
//!   come back from a segment already expired and are dropped at start.
//!
//! Each of these is tested by leaving the files as the crash would and reopening.
//!
//! # I/O errors
//!
//! With groups in flight, a failed group fails every later group handed over before the
//! failure was collected: the sync thread writes none of them (they were decided on top
//! of the failed one), and the cut or poisoning below happens once all have come back.
//!
//! A failed `commit` drops its group: the caller drops the group's changes too (never
//! applied to the table, never acknowledged: the mobiles retransmit), so the journal and
//! the table never disagree. A failed `write` (e.g. `ENOSPC`) rolls the log back to its
//! last committed length; the next `commit` (a new group) simply tries again, so service
//! returns by itself once space is freed. A failed `fdatasync` poisons the journal: after
//! one, Linux may have dropped the dirty pages and a retry could falsely succeed. A
//! poisoned journal refuses every `commit`/`compact`; at most once a second a `commit`
//! first tries to recover it by cutting the log back to its committed length and fsyncing
//! that (`Journal::try_recover`), and carries on if it can.
//!

mod compact;
#[cfg(test)]
mod compact_test;
#[cfg(test)]
mod pipeline_test;
mod record;
mod replay;
mod syncer;
#[cfg(test)]
mod tests;

pub use compact::{CompactionEvent, BACKOFF_MAX, BACKOFF_MIN};
pub use record::{live, Kind, Record, RECORD_LEN, VERSION};
pub use replay::Replay;

use crc32fast::Hasher;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use syncer::{Fault, Group, GroupError, Syncer};

/// Bytes in the snapshot header.
pub const SNAP_HEADER_LEN: usize = 24;
/// Snapshot magic.
pub const SNAP_MAGIC: &[u8; 8] = b"MSMSNAP1";

pub const LOCK_FILE: &str = "bindings.lock";
pub const LOG_FILE: &str = "bindings.log";
/// The new log while a seal creates it.
pub const LOG_NEXT_FILE: &str = "bindings.log.next";
pub const SNAP_FILE: &str = "bindings.snap";
pub const SNAP_TMP_FILE: &str = "bindings.snap.tmp";

/// Errors of [`Journal::open`]; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: corrupt snapshot: {reason} (restore it from a backup, or remove it and lose the bindings it holds)", path.display())]
    CorruptSnapshot { path: PathBuf, reason: String },
    #[error("{}: corrupt sealed log segment: {reason} (restore it from a backup, or remove it and lose the changes it holds)", path.display())]
    CorruptSegment { path: PathBuf, reason: String },
    #[error("{}: locked by another process (is another MSM using this state directory?)", path.display())]
    Locked { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// An `io::Error` whose message names `path`.
fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Counters since open.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct JournalStats {
    /// Groups made durable (each one write; the groups waiting together share one
    /// fdatasync).
    pub commits: u64,
    /// `fdatasync`s that made groups durable (`fsync_ns_*` are theirs).
    pub syncs: u64,
    pub records: u64,
    pub bytes: u64,
    pub fsync_ns_total: u64,
    pub fsync_ns_max: u64,
    /// Failed commits.
    pub commit_errors: u64,
    /// Poisoned journals made usable again ([`Journal::commit`] after a failed fsync).
    pub recoveries: u64,
    /// Successful compactions.
    pub compactions: u64,
    /// Failed compactions (seal or merge), each followed by a backoff.
    pub compaction_failures: u64,
    /// A merge is running on its helper thread.
    pub compaction_running: bool,
    /// Sealed segments waiting to be merged (including the running merge's).
    pub sealed_segments: u64,
    /// Records written by the last compaction, and its duration (seal to poll of the
    /// result).
    pub last_compaction_records: u64,
    pub last_compaction_ns: u64,
    /// The control lcore's part of a compaction (the seal), last and worst.
    pub last_seal_ns: u64,
    pub seal_ns_max: u64,
    /// Milliseconds until the next attempt after a failure (0: no backoff pending).
    pub compaction_backoff_ms: u64,
}

/// The open journal. See the module doc.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    log_path: PathBuf,
    snap_path: PathBuf,
    tmp_path: PathBuf,
    /// Holds the `flock` for as long as the journal is open.
    _lock: File,
    /// The live log, shared with the sync thread.
    log: Arc<File>,
    /// Committed (fsynced) length of the log.
    log_len: u64,
    buf: Vec<u8>,
    /// Buffers of finished groups, for reuse.
    spare: Vec<Vec<u8>>,
    /// The sync thread (started by the first commit).
    syncer: Option<Syncer>,
    /// The next group's number, and the epoch groups are handed over in (a new one
    /// after each failure: syncer module doc).
    next_group: u64,
    epoch: u64,
    /// Groups handed to the sync thread whose result was not collected yet.
    in_flight: usize,
    /// A group failed and later ones are still in flight: settled (log cut back, or
    /// the journal poisoned) once they all came back.
    failure: Option<Failure>,
    /// Results collected by a blocking [`commit`](Self::commit) for
    /// [`poll_commit`](Self::poll_commit) to return, in order.
    backlog: std::collections::VecDeque<(u64, io::Result<()>)>,
    poisoned: Option<String>,
    /// When a poisoned journal next tries to recover.
    recover_after: Option<Instant>,
    stats: JournalStats,
    /// Sealed segments, oldest first, and the next segment number.
    sealed: Vec<PathBuf>,
    next_seq: u64,
    compaction: compact::State,
    /// The next commit's injected failure (tests).
    #[cfg(test)]
    fault: Option<Fault>,
}

/// A group's failure, settled once nothing is in flight.
#[derive(Debug)]
enum Failure {
    /// The write failed: cut the log back to its committed length.
    Write,
    /// The `fdatasync` failed: poison the journal.
    Sync(String),
}

/// How often a poisoned journal tries to recover.
const RECOVER_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `bindings.log.<seq>` in `dir`.
fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{LOG_FILE}.{seq}"))
}

/// The `seq` of a sealed segment's file name.
fn segment_seq(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(LOG_FILE)?.strip_prefix('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Journal {
    /// Buffers a record for the next [`commit`](Self::commit). No syscall.
    #[inline]
    pub fn append(&mut self, rec: &Record) {
        self.buf.extend_from_slice(&rec.encode());
    }

    /// Records appended and not yet committed.
    pub fn pending(&self) -> usize {
        self.buf.len() / RECORD_LEN
    }

    /// Hands the buffered group to the sync thread (one `write`, one `fdatasync`) and
    /// returns its number at once; [`poll_commit`](Self::poll_commit) tells when it is
    /// durable. `Ok(None)`: nothing to commit. `Err`: the group is dropped (none of it
    /// will be written): the journal is poisoned, or an earlier group failed and later
    /// ones are still in flight (syncer module doc).
    pub fn begin_commit(&mut self) -> io::Result<Option<u64>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        if self.failure.is_some() {
            return Err(self.drop_group("an earlier group failed: this one is not written".into()));
        }
        if self.poisoned.is_some() && self.in_flight == 0 {
            self.try_recover();
        }
        if let Some(p) = self.poisoned.clone() {
            return Err(self.drop_group(p));
        }
        if self.syncer.is_none() {
            match Syncer::start() {
                Ok(s) => self.syncer = Some(s),
                Err(e) => return Err(self.drop_group(e.to_string())),
            }
        }
        let seq = self.next_group;
        let bytes = std::mem::replace(&mut self.buf, self.spare.pop().unwrap_or_default());
        let group = Group {
            seq,
            epoch: self.epoch,
            file: Arc::clone(&self.log),
            bytes,
            fault: self.take_fault(),
        };
        if let Some(Err(_)) = self.syncer.as_ref().map(|s| s.send(group)) {
            self.poison("the journal's sync thread is gone".into());
            self.stats.commit_errors += 1;
            return Err(io::Error::other("the journal's sync thread is gone"));
        }
        self.next_group += 1;
        self.in_flight += 1;
        Ok(Some(seq))
    }

    /// The result of the oldest group handed over and not yet reported, in order;
    /// waits for it if `wait`. `None`: nothing in flight (or, without `wait`, not done
    /// yet).
    pub fn poll_commit(&mut self, wait: bool) -> Option<(u64, io::Result<()>)> {
        if let Some(r) = self.backlog.pop_front() {
            return Some(r);
        }
        self.collect(wait)
    }

    /// Groups handed to the sync thread whose result was not reported yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight + self.backlog.len()
    }

    /// Commits the buffered group and waits until it and every group before it are
    /// settled. `Ok` only if this group is durable. The earlier groups' results stay for
    /// [`poll_commit`](Self::poll_commit). No-op without pending records and nothing in
    /// flight.
    pub fn commit(&mut self) -> io::Result<()> {
        let mine = self.begin_commit()?;
        let mut res = Ok(());
        while self.in_flight > 0 {
            let Some((seq, r)) = self.collect(true) else {
                break;
            };
            if Some(seq) == mine {
                res = r;
            } else {
                self.backlog.push_back((seq, r));
            }
        }
        res
    }

    fn drop_group(&mut self, why: String) -> io::Error {
        self.stats.commit_errors += 1;
        self.buf.clear();
        io::Error::other(why)
    }

    /// Collects one result from the sync thread.
    fn collect(&mut self, wait: bool) -> Option<(u64, io::Result<()>)> {
        if self.in_flight == 0 {
            return None;
        }
        let done = self.syncer.as_ref()?.recv(wait)?;
        self.in_flight -= 1;
        let res = match done.result {
            Ok(()) => {
                self.stats.commits += 1;
                self.stats.records += done.len / RECORD_LEN as u64;
                self.stats.bytes += done.len;
                if done.first {
                    self.stats.syncs += 1;
                    self.stats.fsync_ns_total =
                        self.stats.fsync_ns_total.saturating_add(done.fsync_ns);
                    self.stats.fsync_ns_max = self.stats.fsync_ns_max.max(done.fsync_ns);
                }
                self.log_len += done.len;
                Ok(())
            }
            Err(e) => {
                self.stats.commit_errors += 1;
                Err(match e {
                    GroupError::Write(e) => {
                        self.failure.get_or_insert(Failure::Write);
                        with_path(&self.log_path, e)
                    }
                    GroupError::Sync(e) => {
                        let e = with_path(&self.log_path, e);
                        self.failure = Some(Failure::Sync(format!("fdatasync failed: {e}")));
                        e
                    }
                    GroupError::Refused => io::Error::other("not written: an earlier group failed"),
                })
            }
        };
        let mut bytes = done.bytes;
        if self.spare.len() < 8 {
            bytes.clear();
            self.spare.push(bytes);
        }
        if self.in_flight == 0 {
            self.settle_failure();
        }
        Some((done.seq, res))
    }

    /// Nothing is in flight any more after a failure: cut whatever a failed write left
    /// (the caller dropped those changes; none was applied or acknowledged), or poison
    /// the journal after a failed `fdatasync`; then start a new epoch.
    fn settle_failure(&mut self) {
        match self.failure.take() {
            None => return,
            Some(Failure::Write) => {
                if let Err(e) = self.log.set_len(self.log_len) {
                    self.poison(format!(
                        "{}: write failed and the partial write could not be cut ({e})",
                        self.log_path.display()
                    ));
                }
            }
            Some(Failure::Sync(why)) => self.poison(why),
        }
        self.epoch += 1;
    }

    #[cfg(test)]
    fn take_fault(&mut self) -> Option<Fault> {
        self.fault.take()
    }

    #[cfg(not(test))]
    fn take_fault(&mut self) -> Option<Fault> {
        None
    }

    fn poison(&mut self, why: String) {
        self.poisoned = Some(format!("binding journal unusable: {why}"));
        self.recover_after = Some(Instant::now() + RECOVER_EVERY);
    }

    /// Tries to make a poisoned journal usable again, at most once per
    /// [`RECOVER_EVERY`]: cuts the log back to its last committed length and fsyncs it.
    /// Everything before that length was fsynced by earlier commits; whatever a failed
    /// `fdatasync` may or may not have written after it is cut, so the file again holds
    /// exactly the committed records. (Retrying the failed `fdatasync` itself would not
    /// do: after one, Linux may have dropped the dirty pages and report success.)
    fn try_recover(&mut self) {
        if self.recover_after.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let res = self
            .log
            .set_len(self.log_len)
            .and_then(|()| (&*self.log).seek(SeekFrom::Start(self.log_len)).map(|_| ()))
            .and_then(|()| self.log.sync_all())
            // A failed seal (compaction) poisons too: make its renames durable as well.
            .and_then(|()| fsync_dir(&self.dir));
        match res {
            Ok(()) => {
                tracing::warn!(
                    "binding journal recovered: {} cut back to its {} committed bytes",
                    self.log_path.display(),
                    self.log_len
                );
                self.poisoned = None;
                self.recover_after = None;
                self.stats.recoveries += 1;
            }
            Err(e) => {
                tracing::debug!("binding journal recovery failed: {e}");
                self.recover_after = Some(Instant::now() + RECOVER_EVERY);
            }
        }
    }

    /// Why the journal refuses work, if it does.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// Committed bytes in the live log: compare with the compaction threshold.
    pub fn log_bytes(&self) -> u64 {
        self.log_len
    }

    pub fn stats(&self) -> JournalStats {
        let mut s = self.stats;
        s.compaction_running = self.compaction.running();
        s.sealed_segments = self.sealed.len() as u64;
        s.compaction_backoff_ms = self
            .compaction
            .retry_at()
            .map_or(0, |t| ms(t.saturating_duration_since(Instant::now())));
        s
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces snapshot, sealed segments and log by a snapshot of `live`, which must be
    /// the state after every record appended so far (tools and tests: the MSM compacts
    /// with [`maybe_compact`](Self::maybe_compact)). Commits pending records first.
    /// Blocking: one sequential write of `36 * live.len()` bytes plus fsyncs; refused
    /// while a compaction runs. Crash-safe at every step: the snapshot is installed
    /// first, then the segments and the log are emptied (replaying any of them over the
    /// new snapshot gives the same state, module doc).
    pub fn install_snapshot(&mut self, live: impl IntoIterator<Item = Record>) -> io::Result<()> {
        if self.compaction.running() {
            return Err(io::Error::other("a compaction is running"));
        }
        self.commit()?;
        let t = Instant::now();
        let count = write_snapshot(&self.tmp_path, live.into_iter())?;
        install(&self.tmp_path, &self.snap_path, &self.dir)?;
        for p in std::mem::take(&mut self.sealed) {
            fs::remove_file(&p).map_err(|e| with_path(&p, e))?;
        }
        self.log
            .set_len(0)
            .map_err(|e| with_path(&self.log_path, e))?;
        if let Err(e) = self.log.sync_all() {
            let e = with_path(&self.log_path, e);
            self.poison(format!("fsync after truncation failed: {e}"));
            return Err(e);
        }
        self.log_len = 0;
        self.stats.compactions += 1;
        self.stats.last_compaction_records = count;
        self.stats.last_compaction_ns = ns(t.elapsed());
        Ok(())
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Renames the complete, fsynced `tmp` over `snap` and makes that durable; removes `tmp`
/// if the rename fails.
fn install(tmp: &Path, snap: &Path, dir: &Path) -> io::Result<()> {
    fs::rename(tmp, snap).map_err(|e| {
        let _ = fs::remove_file(tmp);
        with_path(snap, e)
    })?;
    // If this fails the rename may not be durable: the caller keeps what the snapshot
    // was made from (replay is correct with either snapshot).
    fsync_dir(dir).map_err(|e| with_path(dir, e))
}

/// A snapshot being written record by record to its tmp file; [`finish`](Self::finish)
/// writes the header and fsyncs. Dropped unfinished, the caller removes the file.
struct SnapWriter<'a> {
    path: &'a Path,
    w: BufWriter<File>,
    crc: Hasher,
    count: u64,
    /// Bytes handed to the kernel for writeback, and the end of the chunk before.
    started: u64,
    waited: u64,
}

/// Write-behind chunk of a snapshot being written: at most about two of these are
/// dirty in the page cache at any time.
const WRITE_BEHIND: u64 = 4 << 20;

impl<'a> SnapWriter<'a> {
    fn create(path: &'a Path) -> io::Result<Self> {
        let f = File::create(path).map_err(|e| with_path(path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(&[0u8; SNAP_HEADER_LEN])
            .map_err(|e| with_path(path, e))?;
        Ok(SnapWriter {
            path,
            w,
            crc: Hasher::new(),
            count: 0,
            started: 0,
            waited: 0,
        })
    }

    fn push(&mut self, r: &Record) -> io::Result<()> {
        let b = r.encode();
        self.crc.update(&b[..32]);
        self.count += 1;
        self.w.write_all(&b).map_err(|e| with_path(self.path, e))?;
        let len = SNAP_HEADER_LEN as u64 + self.count * RECORD_LEN as u64;
        if len - self.started >= WRITE_BEHIND {
            self.write_behind(len)?;
        }
        Ok(())
    }

    /// Starts the writeback of what was written since the last call and waits for the
    /// chunk before it: the dirty data stays bounded, so that a journal commit of the
    /// file system (which, with ext4's `data=ordered`, flushes newly allocated data of
    /// every file) triggered by the log's `fdatasync` on the control lcore never has the
    /// whole snapshot to write first. Best effort: the final fsync makes it durable.
    fn write_behind(&mut self, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        self.w.flush().map_err(|e| with_path(self.path, e))?;
        let fd = self.w.get_ref().as_raw_fd();
        // SAFETY: sync_file_range on a valid descriptor; offsets within the file.
        unsafe {
            libc::sync_file_range(
                fd,
                self.started as libc::off64_t,
                (len - self.started) as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
            if self.started > self.waited {
                libc::sync_file_range(
                    fd,
                    self.waited as libc::off64_t,
                    (self.started - self.waited) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE
                        | libc::SYNC_FILE_RANGE_WRITE
                        | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                );
            }
        }
        self.waited = self.started;
        self.started = len;
        Ok(())
    }

    /// Writes the header and fsyncs; returns the record count.
    fn finish(self) -> io::Result<u64> {
        let p = self.path;
        let mut f = self
            .w
            .into_inner()
            .map_err(|e| with_path(p, e.into_error()))?;
        let mut h = [0u8; SNAP_HEADER_LEN];
        h[..8].copy_from_slice(SNAP_MAGIC);
        h[8..16].copy_from_slice(&self.count.to_le_bytes());
        h[16..20].copy_from_slice(&self.crc.finalize().to_le_bytes());
        let hc = crc32fast::hash(&h[..20]);
        h[20..24].copy_from_slice(&hc.to_le_bytes());
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&h))
            .and_then(|_| f.sync_all())
            .map_err(|e| with_path(p, e))?;
        Ok(self.count)
    }
}

/// Writes a snapshot of `records` to `p` and fsyncs it; removes `p` on failure. Returns
/// the record count.
fn write_snapshot(p: &Path, records: impl Iterator<Item = Record>) -> io::Result<u64> {
    let res = SnapWriter::create(p).and_then(|mut w| {
        for r in records {
            w.push(&r)?;
        }
        w.finish()
    });
    if res.is_err() {
        let _ = fs::remove_file(p);
    }
    res
}
