//! Quiescent-state-based RCU (QSBR) for poll-mode workers.
//!
//! * One global epoch (`u64`, starts at 1, never wraps in practice), advanced
//!   by [`Rcu::publish`] on the control core.
//! * One cache-padded counter per reader (worker): the epoch it observed at
//!   the start of its last *completed* read-side section (burst), or
//!   [`OFFLINE`] while it does not read at all.
//! * A reader's burst: [`RcuReader::begin`] loads the epoch (Acquire) and
//!   returns a guard; everything the burst reads through the guard was
//!   published no later than that epoch or is newer; dropping the guard
//!   stores the observed epoch into the reader's counter (Release). That is
//!   one load and one store per burst: no read-modify-write, no fence, no
//!   allocation, no syscall.
//! * `visible(e)`: every online reader has *finished* a burst that started at
//!   epoch `>= e`, so (a) every reader has seen everything published up to
//!   `e`, and (b) no reader still holds a reference obtained before `e`.
//!   (a) is what the control plane needs for make-before-break; (b) is the
//!   grace period that [`Limbo`] uses to reclaim memory.
//!
//! Going online (`online()`, or `begin()` on an offline reader) is the only
//! reader operation with a full fence (`SeqCst`): the reader must announce
//! itself before it loads any protected pointer, and the writer must see that
//! announcement or else the reader must see the writer's newer pointer
//! (store-load ordering). This happens when an idle worker wakes up, not per
//! burst.
//!
//! Limits: the set of readers is fixed at [`Rcu::new`]; an *online* reader
//! that stops reporting (a stuck worker) blocks every grace period, so retired
//! memory piles up in the [`Limbo`] (visible as its length) — it never makes a
//! reader read freed memory. [`Rcu::synchronize`] must never be called by a
//! thread that is itself an online reader (it would wait for itself).

use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;

/// Counter value of a reader that is offline (reads nothing).
pub const OFFLINE: u64 = u64::MAX;

/// A QSBR domain: the global epoch and one counter per reader.
pub struct Rcu {
    epoch: CachePadded<AtomicU64>,
    readers: Box<[CachePadded<AtomicU64>]>,
}

impl std::fmt::Debug for Rcu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rcu")
            .field("epoch", &self.epoch())
            .field("n_readers", &self.readers.len())
            .finish()
    }
}

impl Rcu {
    /// A domain with `n_readers` reader handles, all initially offline (a
    /// worker that has not started yet does not block grace periods; its
    /// first `begin()` brings it online).
    pub fn new(n_readers: usize) -> (Arc<Rcu>, Vec<RcuReader>) {
        let rcu = Arc::new(Rcu {
            epoch: CachePadded::new(AtomicU64::new(1)),
            readers: (0..n_readers)
                .map(|_| CachePadded::new(AtomicU64::new(OFFLINE)))
                .collect(),
        });
        let readers = (0..n_readers)
            .map(|idx| RcuReader {
                rcu: Arc::clone(&rcu),
                idx,
                online: false,
                _not_sync: PhantomData,
            })
            .collect();
        (rcu, readers)
    }

    /// Number of reader handles.
    pub fn n_readers(&self) -> usize {
        self.readers.len()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Writer side: advances the epoch and returns the new value. Every store
    /// the caller made before is visible to every reader burst that starts at
    /// this epoch or later. (A `fetch_add` on the control core; cheap.)
    pub fn publish(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The smallest epoch reported by an online reader ([`OFFLINE`] if none
    /// is online).
    pub fn min_reported(&self) -> u64 {
        // Pairs with the fence in `RcuReader::online` (store-load ordering).
        fence(Ordering::SeqCst);
        self.readers
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .min()
            .unwrap_or(OFFLINE)
    }

    /// Whether every online reader has completed a burst that started at
    /// epoch `>= epoch` (offline readers count as done).
    pub fn visible(&self, epoch: u64) -> bool {
        self.min_reported() >= epoch
    }

    /// Starts a grace period now (publishes) and waits until it has elapsed:
    /// every store made before the call is visible to every reader, and no
    /// reader holds a reference loaded before the call. Spins briefly, then
    /// yields. Returns the epoch waited for. Must not be called by an online
    /// reader's thread.
    pub fn synchronize(&self) -> u64 {
        let e = self.publish();
        let mut spins = 0u32;
        while !self.visible(e) {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        e
    }
}

/// A worker's reader handle: `Send` (move it to the worker's core), not
/// `Sync`, not `Clone`. Dropping it takes the reader offline.
pub struct RcuReader {
    rcu: Arc<Rcu>,
    idx: usize,
    online: bool,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for RcuReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RcuReader")
            .field("idx", &self.idx)
            .field("online", &self.online)
            .finish()
    }
}

impl RcuReader {
    /// This reader's index in its domain.
    pub fn index(&self) -> usize {
        self.idx
    }

    /// The domain.
    pub fn rcu(&self) -> &Arc<Rcu> {
        &self.rcu
    }

    /// Whether the reader is online.
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Starts a read-side section (one per burst): one Acquire load of the
    /// epoch. Dropping the guard reports the quiescent state. An offline
    /// reader goes online first.
    #[inline]
    pub fn begin(&mut self) -> RcuGuard<'_> {
        if !self.online {
            self.online();
        }
        let epoch = self.rcu.epoch.load(Ordering::Acquire);
        RcuGuard {
            reader: self,
            epoch,
            _not_send: PhantomData,
        }
    }

    /// Reports a quiescent state outside a burst (the reader holds no
    /// reference): stores the current epoch. No-op while offline.
    #[inline]
    pub fn quiescent(&mut self) {
        if self.online {
            let e = self.rcu.epoch.load(Ordering::Acquire);
            self.rcu.readers[self.idx].store(e, Ordering::Release);
        }
    }

    /// Stops reading (e.g. an idle worker that goes to sleep): grace periods
    /// no longer wait for this reader.
    pub fn offline(&mut self) {
        self.rcu.readers[self.idx].store(OFFLINE, Ordering::Release);
        self.online = false;
    }

    /// Resumes reading. Has a full fence (see the module doc).
    pub fn online(&mut self) {
        let e = self.rcu.epoch.load(Ordering::Acquire);
        self.rcu.readers[self.idx].store(e, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.online = true;
    }
}

impl Drop for RcuReader {
    fn drop(&mut self) {
        self.offline();
    }
}

/// An open read-side section. Dropping it reports a quiescent state.
pub struct RcuGuard<'r> {
    reader: &'r mut RcuReader,
    epoch: u64,
    _not_send: PhantomData<*const ()>,
}

impl RcuGuard<'_> {
    /// The epoch observed when the section began.
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The domain this section belongs to.
    #[inline]
    pub fn rcu(&self) -> &Rcu {
        &self.reader.rcu
    }
}

impl Drop for RcuGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.reader.rcu.readers[self.reader.idx].store(self.epoch, Ordering::Release);
    }
}

/// Retired objects waiting for a grace period (writer-private).
pub struct Limbo<T> {
    queue: VecDeque<(u64, T)>,
}

impl<T> Default for Limbo<T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
        }
    }
}

impl<T> std::fmt::Debug for Limbo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limbo").field("len", &self.len()).finish()
    }
}

impl<T> Limbo<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops `item` once `rcu.visible(epoch)`. `epoch` must come from a
    /// `publish()` made *after* the item was unlinked from every place a
    /// reader could find it. Epochs must be non-decreasing across calls.
    pub fn defer_free(&mut self, epoch: u64, item: T) {
        debug_assert!(self.queue.back().map_or(true, |(e, _)| *e <= epoch));
        self.queue.push_back((epoch, item));
    }

    /// Drops every item whose grace period has elapsed; returns how many.
    pub fn reclaim(&mut self, rcu: &Rcu) -> usize {
        if self.queue.is_empty() {
            return 0;
        }
        let min = rcu.min_reported();
        let mut n = 0;
        while self.queue.front().is_some_and(|(e, _)| *e <= min) {
            self.queue.pop_front();
            n += 1;
        }
        n
    }

    /// Items still waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Takes every item out regardless of grace periods (to hand them to an
    /// owner that outlives all readers).
    pub(crate) fn drain_all(&mut self) -> impl Iterator<Item = T> + '_ {
        self.queue.drain(..).map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn offline_readers_do_not_block() {
        let (rcu, mut readers) = Rcu::new(3);
        assert_eq!(rcu.epoch(), 1);
        let e = rcu.publish();
        assert_eq!(e, 2);
        // Nobody ever began: all offline.
        assert!(rcu.visible(e));
        assert!(rcu.visible(u64::MAX));
        {
            let g = readers[0].begin();
            assert_eq!(g.epoch(), 2);
        }
        assert!(readers[0].is_online());
        assert_eq!(rcu.min_reported(), 2);
        let e3 = rcu.publish();
        // Reader 0 is online and has only reported epoch 2.
        assert!(!rcu.visible(e3));
        assert!(rcu.visible(2));
        readers[0].quiescent();
        assert!(rcu.visible(e3));
        let e4 = rcu.publish();
        assert!(!rcu.visible(e4));
        readers[0].offline();
        assert!(rcu.visible(e4));
        // Coming back online reports the current epoch at once.
        readers[1].online();
        assert!(rcu.visible(e4));
        let e5 = rcu.publish();
        assert!(!rcu.visible(e5));
        drop(readers.remove(1)); // dropping a reader takes it offline
        assert!(rcu.visible(e5));
    }

    #[test]
    fn guard_reports_epoch_observed_at_begin_not_at_end() {
        let (rcu, mut readers) = Rcu::new(1);
        let r = &mut readers[0];
        let g = r.begin();
        let e = rcu.publish();
        drop(g); // this burst started before `e`: it may hold older refs
        assert!(!rcu.visible(e));
        drop(r.begin());
        assert!(rcu.visible(e));
    }

    #[test]
    fn synchronize_waits_for_an_active_reader() {
        let (rcu, mut readers) = Rcu::new(2);
        let mut r = readers.pop().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicBool::new(false));
        let (s2, en2) = (stop.clone(), entered.clone());
        let t = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                let _g = r.begin();
                en2.store(true, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(50));
            }
            r.offline();
        });
        while !entered.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        for _ in 0..20 {
            let e = rcu.synchronize();
            assert!(rcu.visible(e));
            assert!(rcu.min_reported() >= e);
        }
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
    }

    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn limbo_frees_only_after_every_reader_quiesces() {
        let (rcu, mut readers) = Rcu::new(2);
        let (a, b) = readers.split_at_mut(1);
        let (r0, r1) = (&mut a[0], &mut b[0]);
        r0.online();
        r1.online();
        let mut limbo = Limbo::new();
        let f1 = Arc::new(AtomicBool::new(false));
        let f2 = Arc::new(AtomicBool::new(false));
        let g0 = r0.begin(); // r0 is inside a burst that began before retiring
        let e1 = rcu.publish();
        limbo.defer_free(e1, Flag(f1.clone()));
        assert_eq!(limbo.reclaim(&rcu), 0);
        drop(g0); // r0 reports the epoch it began at (< e1)
        assert_eq!(limbo.reclaim(&rcu), 0);
        assert!(!f1.load(Ordering::SeqCst));
        drop(r0.begin()); // r0 now reports e1; r1 still at the old epoch
        assert_eq!(limbo.reclaim(&rcu), 0);
        assert!(!f1.load(Ordering::SeqCst));
        let e2 = rcu.publish();
        limbo.defer_free(e2, Flag(f2.clone()));
        r1.quiescent(); // r1 reports e2: item 1 is free, item 2 waits for r0
        assert_eq!(limbo.reclaim(&rcu), 1);
        assert!(f1.load(Ordering::SeqCst));
        assert!(!f2.load(Ordering::SeqCst));
        assert_eq!(limbo.len(), 1);
        r0.offline();
        assert_eq!(limbo.reclaim(&rcu), 1);
        assert!(f2.load(Ordering::SeqCst));
        assert!(limbo.is_empty());
    }
}
