//! Opening the journal: replay of the snapshot, the sealed segments, then the log, cutting a damaged tail.

use super::{fsync_dir, io_err, live, segment_seq, Error, Journal, JournalStats, Record};
use super::{LOCK_FILE, LOG_FILE, LOG_NEXT_FILE, RECORD_LEN};
use super::{SNAP_FILE, SNAP_HEADER_LEN, SNAP_MAGIC, SNAP_TMP_FILE};
use crc32fast::Hasher;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Records per read while replaying (about 1 MiB).
const READ_RECORDS: usize = 29_127;

/// What [`Journal::open`] found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Snapshot records, sealed segments' records, then log records, in order (empty
    /// from [`Journal::open_with`]).
    pub records: Vec<Record>,
    pub snapshot_records: u64,
    /// Records in sealed segments (left by a compaction that had not finished).
    pub segment_records: u64,
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

    /// Opens the journal, calling `apply` on each snapshot record, each sealed segment's
    /// record, then each valid log record, in order. On `Err` whatever `apply` built must
    /// be discarded.
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
        let lock_path = dir.join(LOCK_FILE);
        let log_path = dir.join(LOG_FILE);
        let snap_path = dir.join(SNAP_FILE);
        let tmp_path = dir.join(SNAP_TMP_FILE);
        let mut replay = Replay::default();

        let mut dir_dirty = !lock_path.exists();
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a valid, owned descriptor.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    return Err(Error::Locked { path: lock_path });
                }
                return Err(Error::Io {
                    path: lock_path,
                    source: e,
                });
            }
        }

        for (name, what) in [
            (
                SNAP_TMP_FILE,
                "an interrupted compaction (the snapshot and logs it was made from are intact)",
            ),
            (
                LOG_NEXT_FILE,
                "an interrupted seal of the log (it was never written)",
            ),
        ] {
            let p = dir.join(name);
            match fs::remove_file(&p) {
                Ok(()) => {
                    replay
                        .warnings
                        .push(format!("{}: removed the leftover of {what}", p.display()));
                    dir_dirty = true;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io { path: p, source: e }),
            }
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

        let mut segs: Vec<(u64, PathBuf)> = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            if let Some(seq) = e.file_name().to_str().and_then(segment_seq) {
                segs.push((seq, e.path()));
            }
        }
        segs.sort_unstable();
        for (_, p) in &segs {
            replay.segment_records += read_segment(p, &mut apply)?;
        }
        let next_seq = segs.last().map_or(1, |(s, _)| s + 1);

        dir_dirty |= !log_path.exists();
        let log = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        if dir_dirty {
            fsync_dir(&dir).map_err(io_err(&dir))?;
        }

        let mut j = Journal {
            dir,
            log_path,
            snap_path,
            tmp_path,
            _lock: lock,
            log: std::sync::Arc::new(log),
            log_len: 0,
            buf: Vec::with_capacity(64 * RECORD_LEN),
            spare: Vec::new(),
            syncer: None,
            next_group: 0,
            epoch: 0,
            in_flight: 0,
            failure: None,
            backlog: Default::default(),
            poisoned: None,
            recover_after: None,
            stats: JournalStats::default(),
            sealed: segs.into_iter().map(|(_, p)| p).collect(),
            next_seq,
            compaction: Default::default(),
            #[cfg(test)]
            fault: None,
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
        let mut f: &File = &self.log;
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
}

/// Validates a sealed segment whole and feeds its records to `apply`; returns the count.
/// Any record that does not decode is [`Error::CorruptSegment`] (module doc).
pub(super) fn read_segment(path: &Path, apply: &mut impl FnMut(Record)) -> Result<u64, Error> {
    let corrupt = |reason: String| Error::CorruptSegment {
        path: path.to_owned(),
        reason,
    };
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut buf = vec![0u8; READ_RECORDS * RECORD_LEN];
    let mut k = 0u64;
    loop {
        let n = read_full(&mut f, &mut buf).map_err(io_err(path))?;
        if n % RECORD_LEN != 0 {
            return Err(corrupt(format!(
                "truncated record at offset {}",
                (k + (n / RECORD_LEN) as u64) * RECORD_LEN as u64
            )));
        }
        for c in buf[..n].chunks_exact(RECORD_LEN) {
            let r = Record::decode(as_record(c)).map_err(|why| {
                corrupt(format!(
                    "record {k} (offset {}): {why}",
                    k * RECORD_LEN as u64
                ))
            })?;
            apply(r);
            k += 1;
        }
        if n < buf.len() {
            return Ok(k);
        }
    }
}

/// Validates `bindings.snap` and feeds its records to `apply`; returns the count.
pub(super) fn read_snapshot(
    mut f: File,
    path: &Path,
    apply: &mut impl FnMut(Record),
) -> Result<u64, Error> {
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
