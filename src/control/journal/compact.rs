//! Compaction off the control lcore: seal the log (O(1)), merge on a helper thread, poll.

use super::replay::{read_segment, read_snapshot};
use super::{fsync_dir, install, ms, ns, segment_path, with_path, Journal, Kind, Record};
use super::{SnapWriter, LOG_NEXT_FILE};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// First wait after a failed compaction; doubled after each further failure in a row.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Snapshot records between two checks of the cancel flag.
const CANCEL_EVERY: u64 = 1 << 16;

/// What [`Journal::maybe_compact`] did.
#[derive(Debug)]
pub enum CompactionEvent {
    /// Nothing: below the threshold, a merge still running, or backing off.
    Idle,
    /// The log was sealed and a merge started.
    Started,
    /// A merge finished and its snapshot is installed.
    Finished { records: u64, duration: Duration },
    /// The seal or the merge failed; the sealed segments stay and the next attempt is
    /// not before `retry_in`.
    Failed {
        error: io::Error,
        retry_in: Duration,
    },
}

/// A merge on its helper thread.
#[derive(Debug)]
struct Running {
    rx: Receiver<io::Result<u64>>,
    handle: Option<JoinHandle<()>>,
    cancel: Arc<AtomicBool>,
    started: Instant,
    /// The merge takes the first `merged` of [`Journal::sealed`].
    merged: usize,
}

/// The compaction state of a [`Journal`].
#[derive(Debug, Default)]
pub(super) struct State {
    running: Option<Running>,
    failures_in_row: u32,
    retry_at: Option<Instant>,
    /// Tests: the next merge thread waits for a message (or hang-up) on this before it
    /// starts, so a test can act while it is known to be running.
    #[cfg(test)]
    pub(super) gate: Option<Receiver<()>>,
}

impl State {
    pub(super) fn running(&self) -> bool {
        self.running.is_some()
    }

    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }
}

/// The wait after `failures` failures in a row.
pub fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    (BACKOFF_MIN * (1u32 << shift)).min(BACKOFF_MAX)
}

impl Journal {
    /// The control lcore's compaction step, once per loop iteration; never waits for the
    /// merge. Polls a running merge; otherwise, unless a backoff is pending, begins a
    /// compaction when the log holds at least `threshold` bytes or sealed segments wait
    /// (e.g. left by a failure or a crash). `now`: for the backoff; `unix_s`: the merge
    /// drops bindings expired at that time.
    pub fn maybe_compact(&mut self, threshold: u64, now: Instant, unix_s: u32) -> CompactionEvent {
        if self.compaction.running.is_some() {
            return self.poll_compaction(now).unwrap_or(CompactionEvent::Idle);
        }
        if self.compaction.retry_at.is_some_and(|t| now < t) {
            return CompactionEvent::Idle;
        }
        if self.log_len < threshold && self.sealed.is_empty() {
            return CompactionEvent::Idle;
        }
        self.start_compaction(now, unix_s)
    }

    /// Begins a compaction now (ignoring threshold and backoff) unless one is running;
    /// counts a failure as [`maybe_compact`](Self::maybe_compact) does.
    pub fn start_compaction(&mut self, now: Instant, unix_s: u32) -> CompactionEvent {
        if self.compaction.running.is_some() {
            return CompactionEvent::Idle;
        }
        match self.begin_compaction(unix_s) {
            Ok(true) => CompactionEvent::Started,
            Ok(false) => CompactionEvent::Idle,
            Err(error) => self.compaction_failed(error, now),
        }
    }

    /// A running merge's result, if it is there (no wait).
    pub fn poll_compaction(&mut self, now: Instant) -> Option<CompactionEvent> {
        let r = self.compaction.running.as_ref()?;
        let res = match r.rx.try_recv() {
            Ok(res) => res,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(io::Error::other("compaction thread died")),
        };
        Some(self.compaction_done(res, now))
    }

    /// Waits for a running merge's result (tests, tools, shutdown).
    pub fn wait_compaction(&mut self, now: Instant) -> Option<CompactionEvent> {
        let r = self.compaction.running.as_ref()?;
        let res =
            r.rx.recv()
                .unwrap_or_else(|_| Err(io::Error::other("compaction thread died")));
        Some(self.compaction_done(res, now))
    }

    /// A whole compaction, blocking (tests and tools): waits for a running one, then
    /// seals and merges. Returns the records of the new snapshot (`Ok(None)`: nothing to
    /// compact).
    pub fn compact_now(&mut self, unix_s: u32) -> io::Result<Option<u64>> {
        self.wait_compaction(Instant::now());
        match self.start_compaction(Instant::now(), unix_s) {
            CompactionEvent::Started => {}
            CompactionEvent::Failed { error, .. } => return Err(error),
            _ => return Ok(None),
        }
        match self.wait_compaction(Instant::now()) {
            Some(CompactionEvent::Finished { records, .. }) => Ok(Some(records)),
            Some(CompactionEvent::Failed { error, .. }) => Err(error),
            _ => Ok(None),
        }
    }

    /// The seal and the start of the merge thread: O(1) in the number of bindings
    /// (module doc, "Compaction"). `Ok(false)`: a merge runs already, or there is nothing
    /// to compact.
    fn begin_compaction(&mut self, unix_s: u32) -> io::Result<bool> {
        if self.compaction.running.is_some() {
            return Ok(false);
        }
        self.commit()?;
        let t = Instant::now();
        if self.log_len > 0 {
            self.seal()?;
        }
        if self.sealed.is_empty() {
            return Ok(false);
        }
        let job = Merge {
            snap: self.snap_path.clone(),
            tmp: self.tmp_path.clone(),
            dir: self.dir.clone(),
            segments: self.sealed.clone(),
            now: unix_s,
            cancel: Arc::new(AtomicBool::new(false)),
            #[cfg(test)]
            gate: self.compaction.gate.take(),
        };
        let cancel = Arc::clone(&job.cancel);
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("msm-compact".into())
            .spawn(move || {
                let _ = tx.send(job.run());
            })
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot start the compaction thread: {e}"))
            })?;
        self.compaction.running = Some(Running {
            rx,
            handle: Some(handle),
            cancel,
            started: t,
            merged: self.sealed.len(),
        });
        let seal = ns(t.elapsed());
        self.stats.last_seal_ns = seal;
        self.stats.seal_ns_max = self.stats.seal_ns_max.max(seal);
        Ok(true)
    }

    /// Renames the live log to the next sealed segment and opens a fresh one (module
    /// doc, steps 2 to 5).
    fn seal(&mut self) -> io::Result<()> {
        let next = self.dir.join(LOG_NEXT_FILE);
        let seg = segment_path(&self.dir, self.next_seq);
        match fs::remove_file(&next) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(&next, e)),
        }
        let new_log = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&next)
            .map_err(|e| with_path(&next, e))?;
        if let Err(e) = fs::rename(&self.log_path, &seg) {
            let _ = fs::remove_file(&next);
            return Err(with_path(&seg, e));
        }
        if let Err(e) = fs::rename(&next, &self.log_path) {
            let e = with_path(&self.log_path, e);
            if let Err(e2) = fs::rename(&seg, &self.log_path) {
                self.poison(format!(
                    "sealing the log failed ({e}) and could not be undone ({e2})"
                ));
            }
            let _ = fs::remove_file(&next);
            return Err(e);
        }
        self.log = std::sync::Arc::new(new_log);
        self.log_len = 0;
        self.sealed.push(seg);
        self.next_seq += 1;
        if let Err(e) = fsync_dir(&self.dir) {
            let e = with_path(&self.dir, e);
            self.poison(format!(
                "fsync of the directory after sealing the log failed: {e}"
            ));
            return Err(e);
        }
        Ok(())
    }

    fn compaction_done(&mut self, res: io::Result<u64>, now: Instant) -> CompactionEvent {
        let Some(mut r) = self.compaction.running.take() else {
            return CompactionEvent::Idle;
        };
        if let Some(h) = r.handle.take() {
            let _ = h.join();
        }
        match res {
            Ok(records) => {
                self.sealed.drain(..r.merged);
                let duration = r.started.elapsed();
                self.stats.compactions += 1;
                self.stats.last_compaction_records = records;
                self.stats.last_compaction_ns = ns(duration);
                self.compaction.failures_in_row = 0;
                self.compaction.retry_at = None;
                CompactionEvent::Finished { records, duration }
            }
            Err(error) => {
                // A merge that installed its snapshot may have deleted some segments
                // before failing; the others are merged again (idempotent).
                self.sealed.retain(|p| p.exists());
                self.compaction_failed(error, now)
            }
        }
    }

    fn compaction_failed(&mut self, error: io::Error, now: Instant) -> CompactionEvent {
        let c = &mut self.compaction;
        c.failures_in_row = c.failures_in_row.saturating_add(1);
        let retry_in = backoff(c.failures_in_row);
        c.retry_at = Some(now + retry_in);
        self.stats.compaction_failures += 1;
        CompactionEvent::Failed { error, retry_in }
    }

    /// Milliseconds until the next attempt (0: none pending), for logs.
    pub fn compaction_backoff_ms(&self) -> u64 {
        self.compaction
            .retry_at
            .map_or(0, |t| ms(t.saturating_duration_since(Instant::now())))
    }
}

impl Drop for Journal {
    /// Stops a running merge (it removes its tmp file; what it leaves is a crash state
    /// the next open handles) and waits for its thread.
    fn drop(&mut self) {
        if let Some(mut r) = self.compaction.running.take() {
            r.cancel.store(true, Ordering::Relaxed);
            if let Some(h) = r.handle.take() {
                let _ = h.join();
            }
        }
    }
}

/// A hasher for `u32` keys (home addresses): one multiply-xorshift mix.
#[derive(Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0 ^ 0x6a09_e667_f3bc_c908;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = u64::from(x);
    }
}

/// What the merge thread needs: paths, the segments (oldest first), the time.
struct Merge {
    snap: PathBuf,
    tmp: PathBuf,
    dir: PathBuf,
    segments: Vec<PathBuf>,
    now: u32,
    cancel: Arc<AtomicBool>,
    #[cfg(test)]
    gate: Option<Receiver<()>>,
}

fn invalid(e: super::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "compaction cancelled")
}

impl Merge {
    /// The merge (module doc): returns the records of the installed snapshot.
    fn run(self) -> io::Result<u64> {
        // Every CPU at nice + 10, or the housekeeping CPUs when configured.
        crate::control::housekeeping::enter(true, 10);
        #[cfg(test)]
        if let Some(g) = &self.gate {
            let _ = g.recv();
        }
        let res = self.write();
        if res.is_err() {
            let _ = fs::remove_file(&self.tmp);
            return res;
        }
        install(&self.tmp, &self.snap, &self.dir)?;
        for p in &self.segments {
            fs::remove_file(p).map_err(|e| with_path(p, e))?;
        }
        fsync_dir(&self.dir).map_err(|e| with_path(&self.dir, e))?;
        res
    }

    /// Writes and fsyncs the tmp snapshot.
    fn write(&self) -> io::Result<u64> {
        let now = self.now;
        let mut last: HashMap<u32, Record, BuildHasherDefault<MixHasher>> = HashMap::default();
        for p in &self.segments {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(cancelled());
            }
            read_segment(p, &mut |r: Record| {
                last.insert(r.home, r);
            })
            .map_err(invalid)?;
        }
        let live = |r: &Record| r.kind == Kind::Upsert && r.expires_at > now;
        let mut w = SnapWriter::create(&self.tmp)?;
        let mut err: Option<io::Error> = None;
        let mut seen = 0u64;
        match File::open(&self.snap) {
            Ok(f) => {
                let res = read_snapshot(f, &self.snap, &mut |r: Record| {
                    if err.is_some() {
                        return;
                    }
                    seen += 1;
                    if seen.is_multiple_of(CANCEL_EVERY) && self.cancel.load(Ordering::Relaxed) {
                        err = Some(cancelled());
                        return;
                    }
                    let r = last.remove(&r.home).unwrap_or(r);
                    if live(&r) {
                        if let Err(e) = w.push(&r) {
                            err = Some(e);
                        }
                    }
                });
                if let Some(e) = err {
                    return Err(e);
                }
                res.map_err(invalid)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(&self.snap, e)),
        }
        let mut rest: Vec<Record> = last.into_values().filter(live).collect();
        rest.sort_unstable_by_key(|r| r.home);
        for r in &rest {
            w.push(r)?;
        }
        w.finish()
    }
}
