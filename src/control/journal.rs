//! The durable binding journal: an append-only log with group commit, compacted into a
//! snapshot.
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
//! A failed `write` (e.g. `ENOSPC`) rolls the log back to its last committed length and
//! keeps the group buffered: the next `commit` retries it (the caller must not send
//! code 0 for the group whose `commit` failed). A failed `fdatasync` poisons the journal:
//! after one, Linux may have dropped the dirty pages and a retry could falsely succeed,
//! so every later `commit`/`compact` fails until the MSM restarts and replays.
//!
//! The log is locked with `flock(LOCK_EX)`: a second MSM on the same state directory
//! fails to open it instead of interleaving records.

use crc32fast::Hasher;
use hashbrown::HashTable;
use msm_table::Binding;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bytes in one encoded record.
pub const RECORD_LEN: usize = 36;
/// Bytes in the snapshot header.
pub const SNAP_HEADER_LEN: usize = 24;
/// Snapshot magic.
pub const SNAP_MAGIC: &[u8; 8] = b"MSMSNAP1";
/// Record format version.
pub const VERSION: u8 = 1;

pub const LOG_FILE: &str = "bindings.log";
pub const SNAP_FILE: &str = "bindings.snap";
pub const SNAP_TMP_FILE: &str = "bindings.snap.tmp";

/// Records per read while replaying (about 1 MiB).
const READ_RECORDS: usize = 29_127;

/// What a record does to its home address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Insert or replace the binding of `home`.
    Upsert = 1,
    /// Remove the binding of `home` (the other fields are kept for the record).
    Remove = 2,
}

/// One journal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Record {
    pub kind: Kind,
    pub home: u32,
    /// `None`: no care-of address (bound through the WWAN). `Some(0)` is stored as `None`.
    pub coa: Option<u32>,
    pub msisdn: u64,
    /// Unix seconds; `u32::MAX` = never. Live while `expires_at > now`.
    pub expires_at: u32,
    /// The last accepted registration Identification of the subscriber.
    pub last_ident: u64,
}

impl Record {
    pub fn upsert(b: &Binding, last_ident: u64) -> Record {
        Record {
            kind: Kind::Upsert,
            home: b.home,
            coa: b.coa,
            msisdn: b.msisdn,
            expires_at: b.expires_at,
            last_ident,
        }
    }

    pub fn remove(home: u32, msisdn: u64, last_ident: u64) -> Record {
        Record {
            kind: Kind::Remove,
            home,
            coa: None,
            msisdn,
            expires_at: 0,
            last_ident,
        }
    }

    /// The binding an Upsert installs.
    pub fn binding(&self) -> Binding {
        Binding {
            home: self.home,
            coa: self.coa.filter(|&c| c != 0),
            msisdn: self.msisdn,
            expires_at: self.expires_at,
        }
    }

    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0] = self.kind as u8;
        b[1] = VERSION;
        b[4..8].copy_from_slice(&self.home.to_le_bytes());
        b[8..12].copy_from_slice(&self.coa.unwrap_or(0).to_le_bytes());
        b[12..16].copy_from_slice(&self.expires_at.to_le_bytes());
        b[16..24].copy_from_slice(&self.msisdn.to_le_bytes());
        b[24..32].copy_from_slice(&self.last_ident.to_le_bytes());
        let crc = crc32fast::hash(&b[..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates one record; `Err` says why it is invalid.
    pub fn decode(b: &[u8; RECORD_LEN]) -> Result<Record, &'static str> {
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| u64::from(u32_at(o)) | u64::from(u32_at(o + 4)) << 32;
        if crc32fast::hash(&b[..32]) != u32_at(32) {
            return Err("bad CRC");
        }
        let kind = match b[0] {
            1 => Kind::Upsert,
            2 => Kind::Remove,
            _ => return Err("unknown record kind"),
        };
        if b[1] != VERSION {
            return Err("unknown record version");
        }
        if b[2] != 0 || b[3] != 0 {
            return Err("reserved bytes not zero");
        }
        let home = u32_at(4);
        if !msm_table::is_valid_home(home) {
            return Err("invalid home address");
        }
        let coa = u32_at(8);
        Ok(Record {
            kind,
            home,
            coa: (coa != 0).then_some(coa),
            expires_at: u32_at(12),
            msisdn: u64_at(16),
            last_ident: u64_at(24),
        })
    }
}

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

/// What [`Journal::open`] found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Snapshot records then log records, in order (empty from [`Journal::open_with`]).
    pub records: Vec<Record>,
    pub snapshot_records: u64,
    pub log_records: u64,
    /// Bytes cut from the log's tail.
    pub cut_bytes: u64,
    /// Human-readable, each naming the file: log for the operator.
    pub warnings: Vec<String>,
}

impl Replay {
    /// The state after replaying [`records`](Self::records): for each home its last
    /// record, kept if it is an Upsert still live at `now` (`expires_at > now`). In
    /// replay order of those last records.
    pub fn live(&self, now: u32) -> Vec<Record> {
        live(&self.records, now)
    }
}

#[inline]
fn mix(x: u64) -> u64 {
    let mut h = x ^ 0x6a09_e667_f3bc_c908;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// See [`Replay::live`].
pub fn live(records: &[Record], now: u32) -> Vec<Record> {
    let mut last: HashTable<usize> = HashTable::new();
    let h = |r: &Record| mix(u64::from(r.home));
    for (i, r) in records.iter().enumerate() {
        match last.entry(h(r), |&j| records[j].home == r.home, |&j| h(&records[j])) {
            hashbrown::hash_table::Entry::Occupied(mut o) => *o.get_mut() = i,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    let mut idx: Vec<usize> = last.into_iter().collect();
    idx.sort_unstable();
    idx.into_iter()
        .map(|i| records[i])
        .filter(|r| r.kind == Kind::Upsert && r.expires_at > now)
        .collect()
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
    stats: JournalStats,
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads until `buf` is full or end of file; returns the bytes read.
fn read_full(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn as_record(c: &[u8]) -> &[u8; RECORD_LEN] {
    c.try_into().expect("chunks_exact(RECORD_LEN)")
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir` and replays it into
    /// [`Replay::records`]. Holds every record in memory once; with millions of
    /// bindings prefer [`open_with`](Self::open_with).
    pub fn open(dir: impl AsRef<Path>) -> Result<(Journal, Replay), Error> {
        let mut records = Vec::new();
        let (j, mut r) = Self::open_with(dir, |rec| records.push(rec))?;
        r.records = records;
        Ok((j, r))
    }

    /// Opens the journal, calling `apply` on each snapshot record then each valid log
    /// record, in order. On `Err` whatever `apply` built must be discarded.
    pub fn open_with(
        dir: impl AsRef<Path>,
        mut apply: impl FnMut(Record),
    ) -> Result<(Journal, Replay), Error> {
        let dir = dir.as_ref().to_owned();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            // Make the new directory's own entry durable.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent).map_err(io_err(parent))?;
            }
        }
        let log_path = dir.join(LOG_FILE);
        let snap_path = dir.join(SNAP_FILE);
        let tmp_path = dir.join(SNAP_TMP_FILE);
        let mut replay = Replay::default();

        let log_existed = log_path.exists();
        let log = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a valid, owned descriptor.
            if unsafe { libc::flock(log.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    return Err(Error::Locked { path: log_path });
                }
                return Err(Error::Io {
                    path: log_path,
                    source: e,
                });
            }
        }

        let mut dir_dirty = !log_existed;
        match fs::remove_file(&tmp_path) {
            Ok(()) => {
                replay.warnings.push(format!(
                    "{}: removed the leftover of an interrupted compaction (the snapshot and log it was made from are intact)",
                    tmp_path.display()
                ));
                dir_dirty = true;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Io {
                    path: tmp_path,
                    source: e,
                })
            }
        }
        if dir_dirty {
            fsync_dir(&dir).map_err(io_err(&dir))?;
        }

        match File::open(&snap_path) {
            Ok(f) => {
                replay.snapshot_records = read_snapshot(f, &snap_path, &mut apply)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Io {
                    path: snap_path,
                    source: e,
                })
            }
        }

        let mut j = Journal {
            dir,
            log_path,
            snap_path,
            tmp_path,
            log,
            log_len: 0,
            buf: Vec::with_capacity(64 * RECORD_LEN),
            poisoned: None,
            stats: JournalStats::default(),
        };
        j.replay_log(&mut replay, &mut apply)?;
        Ok((j, replay))
    }

    fn replay_log(
        &mut self,
        replay: &mut Replay,
        apply: &mut impl FnMut(Record),
    ) -> Result<(), Error> {
        let path = self.log_path.clone();
        let mut f = &self.log;
        f.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
        let mut buf = vec![0u8; READ_RECORDS * RECORD_LEN];
        let mut off = 0u64;
        // (offset, reason) of the first bad record.
        let mut bad: Option<(u64, &'static str)> = None;
        let mut valid_after = 0u64;
        loop {
            let n = read_full(&mut f, &mut buf).map_err(io_err(&path))?;
            let whole = n - n % RECORD_LEN;
            for c in buf[..whole].chunks_exact(RECORD_LEN) {
                match (Record::decode(as_record(c)), bad) {
                    (Ok(r), None) => {
                        apply(r);
                        replay.log_records += 1;
                        off += RECORD_LEN as u64;
                    }
                    (Err(why), None) => bad = Some((off, why)),
                    (Ok(_), Some(_)) => valid_after += 1,
                    (Err(_), Some(_)) => {}
                }
            }
            if n < buf.len() {
                if n > whole && bad.is_none() {
                    bad = Some((off, "truncated record"));
                }
                break;
            }
        }
        let end = f.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
        if let Some((at, why)) = bad {
            let cut = end - at;
            let mut w = format!(
                "{}: {why} at offset {at} (after {} good records); cut {cut} bytes of tail",
                path.display(),
                replay.log_records
            );
            if valid_after > 0 {
                w.push_str(&format!(
                    "; {valid_after} records with valid CRCs followed and were dropped: this is not a torn write but damage to committed data (check the disk)"
                ));
            }
            replay.warnings.push(w);
            replay.cut_bytes = cut;
            self.log.set_len(at).map_err(io_err(&path))?;
            self.log.sync_all().map_err(io_err(&path))?;
        }
        self.log_len = bad.map_or(end, |(at, _)| at);
        Ok(())
    }

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
        if let Some(p) = &self.poisoned {
            return Err(io::Error::other(p.clone()));
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.log.write_all(&self.buf) {
            self.stats.commit_errors += 1;
            // Cut whatever part of the group reached the file; keep the group buffered.
            if let Err(e2) = self.log.set_len(self.log_len) {
                self.poison(format!(
                    "{}: write failed ({e}) and the partial write could not be cut ({e2})",
                    self.log_path.display()
                ));
            }
            return Err(with_path(&self.log_path, e));
        }
        let t = Instant::now();
        if let Err(e) = self.log.sync_data() {
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

    fn poison(&mut self, why: String) {
        self.poisoned = Some(format!("binding journal unusable until restart: {why}"));
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

/// Validates `bindings.snap` and feeds its records to `apply`; returns the count.
fn read_snapshot(mut f: File, path: &Path, apply: &mut impl FnMut(Record)) -> Result<u64, Error> {
    let corrupt = |reason: String| Error::CorruptSnapshot {
        path: path.to_owned(),
        reason,
    };
    let size = f.metadata().map_err(io_err(path))?.len();
    let mut h = [0u8; SNAP_HEADER_LEN];
    let n = read_full(&mut f, &mut h).map_err(io_err(path))?;
    if n < SNAP_HEADER_LEN {
        return Err(corrupt(format!("{size} bytes, shorter than the header")));
    }
    if &h[..8] != SNAP_MAGIC {
        return Err(corrupt("bad magic (want MSMSNAP1)".into()));
    }
    let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    if crc32fast::hash(&h[..20]) != u32_at(20) {
        return Err(corrupt("header CRC mismatch".into()));
    }
    let count = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    let want = count
        .checked_mul(RECORD_LEN as u64)
        .and_then(|b| b.checked_add(SNAP_HEADER_LEN as u64));
    if want != Some(size) {
        return Err(corrupt(format!(
            "{size} bytes but the header says {count} records"
        )));
    }
    let mut crc = Hasher::new();
    let mut buf = vec![0u8; READ_RECORDS * RECORD_LEN];
    let mut k = 0u64;
    while k < count {
        let want = usize::try_from((count - k).min(READ_RECORDS as u64)).unwrap_or(READ_RECORDS)
            * RECORD_LEN;
        let n = read_full(&mut f, &mut buf[..want]).map_err(io_err(path))?;
        if n < want {
            return Err(corrupt(format!("shrank while being read (record {k})")));
        }
        for c in buf[..want].chunks_exact(RECORD_LEN) {
            crc.update(&c[..32]);
            let r = Record::decode(as_record(c)).map_err(|why| {
                corrupt(format!(
                    "record {k} (offset {}): {why}",
                    SNAP_HEADER_LEN as u64 + k * RECORD_LEN as u64
                ))
            })?;
            apply(r);
            k += 1;
        }
    }
    if crc.finalize() != u32_at(16) {
        return Err(corrupt("records CRC mismatch".into()));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "msm-journal-{}-{name}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            TempDir(p)
        }
        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const HOME: u32 = 0x0a14_0000;

    fn up(i: u32, coa: Option<u32>, ident: u64) -> Record {
        Record::upsert(
            &Binding {
                home: HOME + i,
                coa,
                msisdn: 491_700_000_000 + u64::from(i),
                expires_at: 1_000 + i,
            },
            ident,
        )
    }

    /// The state a record sequence leaves: home -> record (Removes delete).
    fn state(records: &[Record]) -> HashMap<u32, Record> {
        let mut m = HashMap::new();
        for r in records {
            match r.kind {
                Kind::Upsert => m.insert(r.home, *r),
                Kind::Remove => m.remove(&r.home),
            };
        }
        m
    }

    #[test]
    fn journal_record_encoding() {
        let r = up(7, Some(0xcb00_710a), 0x0123_4567_89ab_cdef);
        let b = r.encode();
        assert_eq!(b.len(), RECORD_LEN);
        assert_eq!(&b[..4], &[1, 1, 0, 0]);
        assert_eq!(&b[4..8], &(HOME + 7).to_le_bytes());
        assert_eq!(&b[8..12], &0xcb00_710au32.to_le_bytes());
        assert_eq!(&b[12..16], &1007u32.to_le_bytes());
        assert_eq!(&b[16..24], &491_700_000_007u64.to_le_bytes());
        assert_eq!(&b[24..32], &0x0123_4567_89ab_cdefu64.to_le_bytes());
        assert_eq!(Record::decode(&b), Ok(r));
        let rm = Record::remove(HOME, 5, 9);
        assert_eq!(Record::decode(&rm.encode()), Ok(rm));
        assert_eq!(rm.encode()[0], 2);
        assert_eq!(Record::decode(&[0; RECORD_LEN]), Err("bad CRC"));
        // A single flipped bit anywhere is caught.
        for bit in 0..RECORD_LEN * 8 {
            let mut c = b;
            c[bit / 8] ^= 1 << (bit % 8);
            assert!(Record::decode(&c).is_err(), "bit {bit}");
        }
        // Valid CRC but invalid content.
        let mut c = b;
        c[0] = 3;
        let crc = crc32fast::hash(&c[..32]);
        c[32..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Record::decode(&c), Err("unknown record kind"));
        assert_eq!(up(1, None, 0).binding().coa, None);
    }

    #[test]
    fn journal_round_trip() {
        let d = TempDir::new("rt");
        let (mut j, r) = Journal::open(&d.0).unwrap();
        assert!(r.records.is_empty() && r.warnings.is_empty());
        let recs = vec![
            up(1, Some(0xc000_0201), 10),
            up(2, None, 11),
            Record::remove(HOME + 1, 491_700_000_001, 12),
            up(3, Some(0xc000_0203), 13),
        ];
        j.append(&recs[0]);
        j.append(&recs[1]);
        assert_eq!(j.pending(), 2);
        j.commit().unwrap();
        j.commit().unwrap(); // empty: no-op
        j.append(&recs[2]);
        j.append(&recs[3]);
        j.commit().unwrap();
        let s = j.stats();
        assert_eq!(
            (s.commits, s.records, s.bytes),
            (2, 4, 4 * RECORD_LEN as u64)
        );
        assert_eq!(j.log_bytes(), 4 * RECORD_LEN as u64);
        drop(j);
        let (_j, r) = Journal::open(&d.0).unwrap();
        assert_eq!(r.records, recs);
        assert_eq!((r.snapshot_records, r.log_records, r.cut_bytes), (0, 4, 0));
        assert!(r.warnings.is_empty());
        assert_eq!(r.live(0), vec![recs[1], recs[3]]);
        // Expired at 1002: home 2 expires_at 1002 is dead, home 3 (1003) lives.
        assert_eq!(r.live(1002), vec![recs[3]]);
    }

    #[test]
    fn journal_uncommitted_is_not_written() {
        let d = TempDir::new("uncommitted");
        let (mut j, _) = Journal::open(&d.0).unwrap();
        j.append(&up(1, None, 1));
        j.commit().unwrap();
        j.append(&up(2, None, 2));
        drop(j); // crash before commit
        let (_, r) = Journal::open(&d.0).unwrap();
        assert_eq!(r.records, vec![up(1, None, 1)]);
    }

    fn write_log(d: &TempDir, recs: &[Record]) -> Vec<u8> {
        let (mut j, _) = Journal::open(&d.0).unwrap();
        for r in recs {
            j.append(r);
        }
        j.commit().unwrap();
        drop(j);
        fs::read(d.file(LOG_FILE)).unwrap()
    }

    #[test]
    fn journal_truncated_tail_every_offset() {
        let d = TempDir::new("trunc");
        let recs: Vec<Record> = (0..3)
            .map(|i| up(i, Some(0xc000_0200 + i), u64::from(i)))
            .collect();
        let full = write_log(&d, &recs);
        let good = 2 * RECORD_LEN;
        for cut in good..full.len() {
            fs::write(d.file(LOG_FILE), &full[..cut]).unwrap();
            let (mut j, r) = Journal::open(&d.0).unwrap();
            assert_eq!(r.records, recs[..2], "cut at {cut}");
            assert_eq!(r.cut_bytes, (cut - good) as u64);
            if cut > good {
                assert_eq!(r.warnings.len(), 1);
                let w = &r.warnings[0];
                assert!(
                    w.contains(LOG_FILE)
                        && w.contains("truncated record")
                        && w.contains(&format!("offset {good}")),
                    "{w}"
                );
            } else {
                assert!(r.warnings.is_empty());
            }
            assert_eq!(fs::metadata(d.file(LOG_FILE)).unwrap().len(), good as u64);
            // Appending after the cut continues a clean log.
            j.append(&recs[2]);
            j.commit().unwrap();
            drop(j);
            let (_, r) = Journal::open(&d.0).unwrap();
            assert_eq!(r.records, recs);
            assert!(r.warnings.is_empty());
        }
    }

    #[test]
    fn journal_garbage_tail_is_cut() {
        let d = TempDir::new("garbage");
        let recs = vec![up(1, None, 1), up(2, None, 2)];
        let mut bytes = write_log(&d, &recs);
        for tail in [
            &[0u8; 36][..],
            &[0u8; 100],
            b"garbage that is not a record at all, longer than one",
            &[0xff; 7],
        ] {
            let mut b = bytes.clone();
            b.extend_from_slice(tail);
            fs::write(d.file(LOG_FILE), &b).unwrap();
            let (_, r) = Journal::open(&d.0).unwrap();
            assert_eq!(r.records, recs);
            assert_eq!(r.cut_bytes, tail.len() as u64);
            assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
            assert!(
                !r.warnings[0].contains("valid CRCs followed"),
                "{:?}",
                r.warnings
            );
        }
        bytes.clear();
    }

    /// A damaged record in the middle: a tail cut from that record on, and the warning
    /// says committed records were lost.
    #[test]
    fn journal_flipped_bit_mid_log_cuts_from_there() {
        let d = TempDir::new("flip");
        let recs: Vec<Record> = (0..5).map(|i| up(i, None, u64::from(i))).collect();
        let mut b = write_log(&d, &recs);
        b[2 * RECORD_LEN + 17] ^= 0x10;
        fs::write(d.file(LOG_FILE), &b).unwrap();
        let (_, r) = Journal::open(&d.0).unwrap();
        assert_eq!(r.records, recs[..2]);
        assert_eq!(r.cut_bytes, 3 * RECORD_LEN as u64);
        let w = &r.warnings[0];
        assert!(
            w.contains("bad CRC at offset 72") && w.contains("2 records with valid CRCs followed"),
            "{w}"
        );
        assert_eq!(
            fs::metadata(d.file(LOG_FILE)).unwrap().len(),
            2 * RECORD_LEN as u64
        );
    }

    #[test]
    fn journal_compaction_then_appends() {
        let d = TempDir::new("compact");
        let (mut j, _) = Journal::open(&d.0).unwrap();
        let mut all = Vec::new();
        for i in 0..100 {
            let r = up(i % 30, Some(0xc000_0200 + i), u64::from(i));
            j.append(&r);
            all.push(r);
            if i % 7 == 0 {
                let rm = Record::remove(HOME + (i % 30), 0, u64::from(i));
                j.append(&rm);
                all.push(rm);
            }
            if i % 10 == 9 {
                j.commit().unwrap();
            }
        }
        // Uncommitted records are committed by compact.
        let live: Vec<Record> = live(&all, 0);
        j.compact(live.clone()).unwrap();
        assert_eq!(j.log_bytes(), 0);
        assert_eq!(j.stats().last_compaction_records, live.len() as u64);
        for i in 0..10 {
            let r = up(i + 25, None, 1000 + u64::from(i));
            j.append(&r);
            all.push(r);
        }
        let rm = Record::remove(HOME + 3, 0, 2000);
        j.append(&rm);
        all.push(rm);
        j.commit().unwrap();
        drop(j);
        let (_, r) = Journal::open(&d.0).unwrap();
        assert_eq!(r.snapshot_records, live.len() as u64);
        assert_eq!(r.log_records, 11);
        assert!(r.warnings.is_empty());
        assert_eq!(state(&r.records), state(&all));
        assert!(!d.file(SNAP_TMP_FILE).exists());
    }

    /// Crash after the rename, before the log truncation: the whole old log is replayed
    /// on top of the new snapshot, with the same result.
    #[test]
    fn journal_log_replay_over_snapshot_is_idempotent() {
        let d = TempDir::new("idem");
        let mut all = Vec::new();
        for i in 0..40u32 {
            all.push(up(i % 12, Some(0xc000_0200 + i), u64::from(i)));
            if i % 5 == 0 {
                all.push(Record::remove(HOME + i % 12, 0, u64::from(i)));
            }
        }
        let log = write_log(&d, &all);
        let (mut j, _) = Journal::open(&d.0).unwrap();
        j.compact(live(&all, 0)).unwrap();
        drop(j);
        fs::write(d.file(LOG_FILE), &log).unwrap(); // the truncation never reached disk
        let (_, r) = Journal::open(&d.0).unwrap();
        assert!(r.warnings.is_empty());
        assert_eq!(r.log_records, all.len() as u64);
        assert_eq!(state(&r.records), state(&all));
        assert_eq!(state(&r.live(0)), state(&all));
    }

    /// Crash during compaction, before the rename: the tmp snapshot is deleted at open
    /// and the old snapshot + log give the state.
    #[test]
    fn journal_leftover_tmp_snapshot_is_deleted() {
        let d = TempDir::new("tmp");
        let recs = vec![up(1, None, 1), up(2, Some(0xc000_0202), 2)];
        write_log(&d, &recs);
        // A complete tmp with different content, and a partial one.
        for tmp in [vec![0xab; 50], {
            let (mut j, _) = Journal::open(&d.0).unwrap();
            j.compact([up(9, None, 9)]).unwrap();
            drop(j);
            let s = fs::read(d.file(SNAP_FILE)).unwrap();
            fs::remove_file(d.file(SNAP_FILE)).unwrap();
            write_log(&d, &recs);
            s
        }] {
            fs::write(d.file(SNAP_TMP_FILE), &tmp).unwrap();
            let (_, r) = Journal::open(&d.0).unwrap();
            assert!(!d.file(SNAP_TMP_FILE).exists());
            assert_eq!(r.warnings.len(), 1);
            assert!(r.warnings[0].contains(SNAP_TMP_FILE), "{:?}", r.warnings);
            assert_eq!(state(&r.records), state(&recs));
        }
    }

    #[test]
    fn journal_corrupt_snapshot_is_an_error_naming_it() {
        let d = TempDir::new("badsnap");
        let (mut j, _) = Journal::open(&d.0).unwrap();
        j.compact((0..5).map(|i| up(i, None, 1))).unwrap();
        drop(j);
        let good = fs::read(d.file(SNAP_FILE)).unwrap();
        assert_eq!(good.len(), SNAP_HEADER_LEN + 5 * RECORD_LEN);
        let (_, r) = Journal::open(&d.0).unwrap();
        assert_eq!(r.snapshot_records, 5);
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
        let mut b = good.clone();
        b[SNAP_HEADER_LEN + 2 * RECORD_LEN + 5] ^= 1;
        cases.push((b, "record 2 (offset 96): bad CRC"));
        cases.push((good[..good.len() - 1].to_vec(), "header says 5 records"));
        cases.push((
            good[..good.len() - RECORD_LEN].to_vec(),
            "header says 5 records",
        ));
        cases.push((good[..10].to_vec(), "shorter than the header"));
        cases.push((Vec::new(), "shorter than the header"));
        let mut b = good.clone();
        b[0] = b'X';
        cases.push((b, "bad magic"));
        let mut b = good.clone();
        b[9] ^= 1;
        cases.push((b, "header CRC"));
        // Two whole records swapped: each record is valid, the whole-file CRC is not.
        let mut b = good.clone();
        let (x, y) = (SNAP_HEADER_LEN, SNAP_HEADER_LEN + RECORD_LEN);
        let first: Vec<u8> = b[x..y].to_vec();
        b.copy_within(y..y + RECORD_LEN, x);
        b[y..y + RECORD_LEN].copy_from_slice(&first);
        cases.push((b, "records CRC mismatch"));
        for (bytes, want) in cases {
            fs::write(d.file(SNAP_FILE), &bytes).unwrap();
            let e = Journal::open(&d.0).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, Error::CorruptSnapshot { .. }), "{msg}");
            assert!(
                msg.contains(&d.file(SNAP_FILE).display().to_string()) && msg.contains(want),
                "{msg}\nwant {want}"
            );
        }
    }

    #[test]
    fn journal_second_opener_is_refused() {
        let d = TempDir::new("lock");
        let (_j, _) = Journal::open(&d.0).unwrap();
        let e = Journal::open(&d.0).unwrap_err();
        assert!(matches!(e, Error::Locked { .. }), "{e}");
        assert!(e.to_string().contains(LOG_FILE), "{e}");
    }

    #[test]
    fn journal_open_errors_name_the_path() {
        let d = TempDir::new("notdir");
        fs::create_dir_all(&d.0).unwrap();
        let f = d.file("plainfile");
        fs::write(&f, b"x").unwrap();
        let e = Journal::open(f.join("state")).unwrap_err();
        assert!(e.to_string().contains("plainfile"), "{e}");
    }

    /// Random garbage as log content never panics, and what survives is a prefix.
    #[test]
    fn journal_random_log_content_never_panics() {
        let d = TempDir::new("fuzz");
        let recs: Vec<Record> = (0..8).map(|i| up(i, None, 1)).collect();
        let base = write_log(&d, &recs);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = base.clone();
            let pos = (x % b.len() as u64) as usize;
            b[pos] ^= (x >> 40) as u8 | 1;
            b.truncate(b.len() - (x >> 20) as usize % 40);
            fs::write(d.file(LOG_FILE), &b).unwrap();
            let (_, r) = Journal::open(&d.0).unwrap();
            assert!(r.records.len() <= pos / RECORD_LEN);
            assert_eq!(r.records, recs[..r.records.len()]);
        }
    }

    /// `cargo test --release -p msm --lib -- --ignored journal_group_commit_throughput --nocapture`.
    /// `MSM_JOURNAL_DIR` picks the disk (default: the temp dir).
    #[test]
    #[ignore]
    fn journal_group_commit_throughput() {
        let base = std::env::var_os("MSM_JOURNAL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        for (total, group) in [
            (200_000u32, 64usize),
            (20_000, 1),
            (200_000, 16),
            (200_000, 256),
            (400_000, 1024),
        ] {
            let d = TempDir(base.join(format!("msm-journal-bench-{}-{group}", std::process::id())));
            let _ = fs::remove_dir_all(&d.0);
            let (mut j, _) = Journal::open(&d.0).unwrap();
            let t = Instant::now();
            for i in 0..total {
                j.append(&up(i % 1_000_000, Some(0xc000_0200), u64::from(i)));
                if j.pending() == group {
                    j.commit().unwrap();
                }
            }
            j.commit().unwrap();
            let dt = t.elapsed();
            let s = j.stats();
            println!(
                "group {group:>4}: {total} records in {:.2?} = {:.0} records/s, {} commits, fdatasync mean {:.0} us max {:.0} us",
                dt,
                f64::from(total) / dt.as_secs_f64(),
                s.commits,
                s.fsync_ns_total as f64 / s.commits as f64 / 1e3,
                s.fsync_ns_max as f64 / 1e3
            );
            if group != 64 {
                continue;
            }
            let n: u32 = std::env::var("MSM_JOURNAL_COMPACT_N")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000);
            let t = Instant::now();
            j.compact((0..n).map(|i| up(i, None, 1))).unwrap();
            println!("compaction of {n} records: {:.2?}", t.elapsed());
            drop(j);
            let t = Instant::now();
            let mut k = 0u64;
            let (_, r) = Journal::open_with(&d.0, |_| k += 1).unwrap();
            assert_eq!(k, u64::from(n));
            println!(
                "replay of {} snapshot records: {:.2?}",
                r.snapshot_records,
                t.elapsed()
            );
        }
    }
}
