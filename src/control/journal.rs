//! The durable binding journal: an append-only log with group commit, compacted into a snapshot.
//!
//! PROTOCOL.md section 1: the MSM sends code 0 only after the binding change is durable.
//! The control lcore [`append`](Journal::append)s one [`Record`] per accepted change
//! (no syscall), and once per loop iteration that produced changes calls
//! [`commit`](Journal::commit): one `write` and one `fdatasync` for the whole group. The
//! Replies of that group leave only after `commit` returned `Ok`. When
//! [`log_bytes`](Journal::log_bytes) passes the configured threshold it calls
//! [`compact`](Journal::compact) with the live bindings.
//!
//! On start, [`Journal::open`] replays the snapshot then the log; the caller applies the
//! records in order (or takes [`Replay::live`]), drops what expired and publishes the
//! table before the workers take traffic.
//!
//! # Files (in the state directory)
//!
//! * `bindings.snap`: the last compaction. Written as `bindings.snap.tmp`, then renamed.
//! * `bindings.log`: records appended since that compaction.
//! * `bindings.snap.tmp`: only after a crash during compaction; deleted at open.
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
//! # Crash safety of [`Journal::compact`]
//!
//! 0. Pending appended records are committed first, so the log ends at exactly the state
//!    the caller passes in.
//! 1. Write `bindings.snap.tmp`, `fsync` it. Crash here: the tmp file is partial or
//!    whole but not installed; open deletes it; old snapshot + full log are intact.
//! 2. `rename` it over `bindings.snap`, `fsync` the directory. Crash before the
//!    directory fsync: either name may have survived; both are complete files; with
//!    either, replaying the (still full) log gives the same state.
//! 3. Truncate `bindings.log` to 0 and `fsync` it. Crash before that is durable: the new
//!    snapshot is replayed and then the whole old log on top of it. That is idempotent:
//!    an Upsert or Remove sets a home's state regardless of what was there, so the last
//!    log record of each home (the state the snapshot was taken from) wins again, and
//!    homes the log does not touch keep their snapshot state. Bindings that expired and
//!    were left out of the snapshot come back from the log already expired and are
//!    dropped at start.
//!
//! # I/O errors
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
//! The log is locked with `flock(LOCK_EX)`: a second MSM on the same state directory
//! fails to open it instead of interleaving records.

mod record;
mod replay;
#[cfg(test)]
mod tests;

pub use record::{live, Kind, Record, RECORD_LEN, VERSION};
pub use replay::Replay;

use crc32fast::Hasher;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bytes in the snapshot header.
pub const SNAP_HEADER_LEN: usize = 24;
/// Snapshot magic.
pub const SNAP_MAGIC: &[u8; 8] = b"MSMSNAP1";

pub const LOG_FILE: &str = "bindings.log";
pub const SNAP_FILE: &str = "bindings.snap";
pub const SNAP_TMP_FILE: &str = "bindings.snap.tmp";

/// Errors of [`Journal::open`]; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: corrupt snapshot: {reason} (restore it from a backup, or remove it and lose the bindings it holds)", path.display())]
    CorruptSnapshot { path: PathBuf, reason: String },
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JournalStats {
    /// Successful commits (each one write + one fdatasync).
    pub commits: u64,
    pub records: u64,
    pub bytes: u64,
    pub fsync_ns_total: u64,
    pub fsync_ns_max: u64,
    /// Failed commits.
    pub commit_errors: u64,
    /// Poisoned journals made usable again ([`Journal::commit`] after a failed fsync).
    pub recoveries: u64,
    pub compactions: u64,
    /// Records written by the last compaction, and its duration.
    pub last_compaction_records: u64,
    pub last_compaction_ns: u64,
}

/// The open journal. See the module doc.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    log_path: PathBuf,
    snap_path: PathBuf,
    tmp_path: PathBuf,
    log: File,
    /// Committed (fsynced) length of the log.
    log_len: u64,
    buf: Vec<u8>,
    poisoned: Option<String>,
    /// When a poisoned journal next tries to recover.
    recover_after: Option<Instant>,
    stats: JournalStats,
    /// The next commit's injected failure (tests).
    #[cfg(test)]
    fault: Option<Fault>,
}

/// A failure [`Journal::commit`] can be made to meet once (tests).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Half the group is written, then `ENOSPC`.
    Write,
    /// The write succeeds, the `fdatasync` fails with `EIO`.
    Sync,
}

/// How often a poisoned journal tries to recover.
const RECOVER_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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

    /// Writes the buffered group with one `write` and makes it durable with one
    /// `fdatasync`. The Replies of the group may leave once this returned `Ok`.
    /// No-op without pending records. See the module doc for errors.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.poisoned.is_some() {
            self.try_recover();
        }
        if let Some(p) = &self.poisoned {
            self.stats.commit_errors += 1;
            self.buf.clear();
            return Err(io::Error::other(p.clone()));
        }
        if let Err(e) = self.write_group() {
            self.stats.commit_errors += 1;
            // Cut whatever part of the group reached the file and drop the group: the
            // caller drops its changes (none was applied or acknowledged).
            self.buf.clear();
            if let Err(e2) = self.log.set_len(self.log_len) {
                self.poison(format!(
                    "{}: write failed ({e}) and the partial write could not be cut ({e2})",
                    self.log_path.display()
                ));
            }
            return Err(with_path(&self.log_path, e));
        }
        let t = Instant::now();
        if let Err(e) = self.sync_group() {
            self.stats.commit_errors += 1;
            self.buf.clear();
            let e = with_path(&self.log_path, e);
            self.poison(format!("fdatasync failed: {e}"));
            return Err(e);
        }
        let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let n = self.buf.len() as u64;
        self.stats.commits += 1;
        self.stats.records += n / RECORD_LEN as u64;
        self.stats.bytes += n;
        self.stats.fsync_ns_total = self.stats.fsync_ns_total.saturating_add(ns);
        self.stats.fsync_ns_max = self.stats.fsync_ns_max.max(ns);
        self.log_len += n;
        self.buf.clear();
        Ok(())
    }

    /// Writes the buffered group at the end of the log.
    fn write_group(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.fault == Some(Fault::Write) {
            self.fault = None;
            // A partial write, then the disk is full.
            self.log.write_all(&self.buf[..self.buf.len() / 2])?;
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.log.write_all(&self.buf)
    }

    fn sync_group(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.fault == Some(Fault::Sync) {
            self.fault = None;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.log.sync_data()
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
            .and_then(|()| self.log.seek(SeekFrom::Start(self.log_len)).map(|_| ()))
            .and_then(|()| self.log.sync_all());
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

    /// Committed bytes in the log: compare with the compaction threshold.
    pub fn log_bytes(&self) -> u64 {
        self.log_len
    }

    pub fn stats(&self) -> JournalStats {
        self.stats
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces snapshot + log by a snapshot of `live` (the state after every record
    /// appended so far, e.g. the table's bindings with their subscribers' last
    /// Identification). Commits pending records first. Blocking: about one sequential
    /// write of `36 * live.len()` bytes plus three fsyncs. Crash-safe at every step
    /// (module doc).
    pub fn compact(&mut self, live: impl IntoIterator<Item = Record>) -> io::Result<()> {
        self.commit()?;
        let t = Instant::now();
        let count = match self.write_snapshot(live) {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_file(&self.tmp_path);
                return Err(e);
            }
        };
        fs::rename(&self.tmp_path, &self.snap_path).map_err(|e| {
            let _ = fs::remove_file(&self.tmp_path);
            with_path(&self.snap_path, e)
        })?;
        // If this fails the rename may not be durable: keep the log (replay is correct
        // with either snapshot).
        fsync_dir(&self.dir).map_err(|e| with_path(&self.dir, e))?;
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
        self.stats.last_compaction_ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Ok(())
    }

    fn write_snapshot(&self, live: impl IntoIterator<Item = Record>) -> io::Result<u64> {
        let p = &self.tmp_path;
        let f = File::create(p).map_err(|e| with_path(p, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(&[0u8; SNAP_HEADER_LEN])
            .map_err(|e| with_path(p, e))?;
        let mut crc = Hasher::new();
        let mut count = 0u64;
        for r in live {
            let b = r.encode();
            crc.update(&b[..32]);
            w.write_all(&b).map_err(|e| with_path(p, e))?;
            count += 1;
        }
        let mut f = w.into_inner().map_err(|e| with_path(p, e.into_error()))?;
        let mut h = [0u8; SNAP_HEADER_LEN];
        h[..8].copy_from_slice(SNAP_MAGIC);
        h[8..16].copy_from_slice(&count.to_le_bytes());
        h[16..20].copy_from_slice(&crc.finalize().to_le_bytes());
        let hc = crc32fast::hash(&h[..20]);
        h[20..24].copy_from_slice(&hc.to_le_bytes());
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&h))
            .and_then(|_| f.sync_all())
            .map_err(|e| with_path(p, e))?;
        Ok(count)
    }
}
