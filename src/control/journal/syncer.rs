//! The journal's sync thread: writes each group and `fdatasync`s it, in order, off the control lcore.
//!
//! [`Journal::begin_commit`](super::Journal::begin_commit) hands a group over and
//! returns at once; [`Journal::poll_commit`](super::Journal::poll_commit) collects the
//! results, in the order the groups were handed over. Groups are written back to back
//! in one file (the journal's live log, shared through an `Arc`), one `write` then one
//! `fdatasync` for all the groups waiting when the thread gets to them (at most 256): while
//! the disk syncs, the control lcore decides the next batches, and their groups share
//! the next `fdatasync`.
//!
//! **After a failure nothing later of the same epoch is written.** A group that failed
//! (write or sync) makes the thread refuse every later group handed over with the same
//! epoch: the control lcore decided those against the failed group's changes, so they
//! must fail with it. The journal starts a new epoch only once every group handed over
//! has come back and it has cut the log back to its committed length (module doc, "I/O
//! errors").

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// A failure a group can be made to meet (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Half the group is written, then `ENOSPC`.
    Write,
    /// The write succeeds, the `fdatasync` fails with `EIO`.
    Sync,
}

/// One group handed to the thread.
pub(super) struct Group {
    pub seq: u64,
    pub epoch: u64,
    pub file: Arc<File>,
    pub bytes: Vec<u8>,
    pub fault: Option<Fault>,
}

/// Why a group is not durable.
#[derive(Debug)]
pub(super) enum GroupError {
    /// The write failed (part of the group may be in the file: the journal cuts it).
    Write(io::Error),
    /// The `fdatasync` failed: the journal is poisoned.
    Sync(io::Error),
    /// An earlier group of the same epoch failed; this one was not written.
    Refused,
}

/// A group's result.
pub(super) struct Done {
    pub seq: u64,
    pub len: u64,
    pub result: Result<(), GroupError>,
    pub fsync_ns: u64,
    /// The first group of its run: the one the `fdatasync` is counted for.
    pub first: bool,
    /// The group's buffer, for reuse.
    pub bytes: Vec<u8>,
}

pub(super) struct Syncer {
    tx: Option<crossbeam_channel::Sender<Group>>,
    rx: crossbeam_channel::Receiver<Done>,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Syncer")
    }
}

impl Syncer {
    pub fn start() -> io::Result<Syncer> {
        // Unbounded: the journal bounds what is in flight (the service's batches).
        let (tx, groups) = crossbeam_channel::unbounded::<Group>();
        let (results, rx) = crossbeam_channel::unbounded::<Done>();
        let handle = std::thread::Builder::new()
            .name("msm-journal-sync".into())
            .spawn(move || {
                crate::control::housekeeping::enter(false, 0);
                run(groups, results)
            })
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start the journal's sync thread: {e}"),
                )
            })?;
        Ok(Syncer {
            tx: Some(tx),
            rx,
            handle: Some(handle),
        })
    }

    /// Hands a group over (never blocks).
    pub fn send(&self, g: Group) -> Result<(), Group> {
        match &self.tx {
            Some(tx) => tx.send(g).map_err(|e| e.into_inner()),
            None => Err(g),
        }
    }

    /// The next result, waiting for it if `wait`.
    pub fn recv(&self, wait: bool) -> Option<Done> {
        if wait {
            self.rx.recv().ok()
        } else {
            self.rx.try_recv().ok()
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Most groups made durable by one `fdatasync`.
const COALESCE_MAX: usize = 256;

fn run(groups: crossbeam_channel::Receiver<Group>, results: crossbeam_channel::Sender<Done>) {
    let mut failed_epoch = None;
    let mut next: Option<Group> = None;
    let mut batch: Vec<Group> = Vec::new();
    loop {
        let Some(first) = next.take().or_else(|| groups.recv().ok()) else {
            return;
        };
        // Every group already waiting for the same file in the same epoch joins this
        // one: one write each, then one fdatasync for all (a group commit of groups).
        batch.push(first);
        while batch.len() < COALESCE_MAX {
            match groups.try_recv() {
                Ok(g) if g.epoch == batch[0].epoch && Arc::ptr_eq(&g.file, &batch[0].file) => {
                    batch.push(g)
                }
                Ok(g) => {
                    next = Some(g);
                    break;
                }
                Err(_) => break,
            }
        }
        let (mut error, fsync_ns) = if failed_epoch == Some(batch[0].epoch) {
            (Some(GroupError::Refused), 0)
        } else {
            match sync_run(&batch) {
                Ok(ns) => (None, ns),
                Err(e) => {
                    failed_epoch = Some(batch[0].epoch);
                    (Some(e), 0)
                }
            }
        };
        let failed = error.is_some();
        for (i, g) in batch.drain(..).enumerate() {
            // The run's first group carries its error (the journal cuts or poisons by
            // it); the others of a failed run were not synced: refused.
            let result = if failed {
                Err(error.take().unwrap_or(GroupError::Refused))
            } else {
                Ok(())
            };
            let done = Done {
                seq: g.seq,
                len: g.bytes.len() as u64,
                result,
                fsync_ns,
                first: i == 0,
                bytes: g.bytes,
            };
            if results.send(done).is_err() {
                return;
            }
        }
    }
}

/// Writes the groups of a run in order, then makes them durable with one
/// `fdatasync`; returns its duration.
fn sync_run(run: &[Group]) -> Result<u64, GroupError> {
    for g in run {
        write(g).map_err(GroupError::Write)?;
    }
    let t = Instant::now();
    if run.iter().any(|g| g.fault == Some(Fault::Sync)) {
        return Err(GroupError::Sync(io::Error::from_raw_os_error(libc::EIO)));
    }
    run[0].file.sync_data().map_err(GroupError::Sync)?;
    Ok(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

fn write(g: &Group) -> io::Result<()> {
    if g.fault == Some(Fault::Write) {
        // A partial write, then the disk is full.
        (&*g.file).write_all(&g.bytes[..g.bytes.len() / 2])?;
        return Err(io::Error::from_raw_os_error(libc::ENOSPC));
    }
    (&*g.file).write_all(&g.bytes)
}
