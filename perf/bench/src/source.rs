//! The packet source and the output check, both run on the worker core inside
//! the worker's own bursts, as DPDK rx/tx callbacks on the Internet port's
//! queue 0.
//!
//! `net_null`'s rx allocates mbufs from the worker core's mempool cache and
//! sets their length but never writes them (the device the testpmd
//! baseline uses). [`Source`], called by `rte_eth_rx_burst` right after the
//! PMD, turns each of them into the next benchmark frame; [`Check`], called by
//! `rte_eth_tx_burst` before `net_null` frees what the worker sends, verifies
//! one frame in [`CHECK_EVERY`]. Both time themselves with the TSC, so their
//! share of the worker core is known and can be taken out.
//!
//! For the latency runs the source is paced and sits on a `net_null` port
//! with `no-rx=1` (its rx returns nothing, so an idle poll costs what it
//! costs with a NIC, not an allocation and a free of a burst): packets
//! "arrive" at a constant rate on a virtual rx ring (scheduled TSC times);
//! each rx call allocates and emits those whose arrival time has passed (at
//! most a burst; the others wait, as in a NIC's ring, and a backlog beyond
//! [`RX_RING`] descriptors is dropped and counted) with the scheduled arrival
//! time in the payload; the tx callback reads it back and records the
//! difference in an HDR histogram.
//!
//! All mutable state is in atomics written only by the worker thread (relaxed
//! load + store, no read-modify-write) so the main thread may read it while
//! the worker runs.

use crate::traffic::{self, Expect, Template};
use hdrhistogram::Histogram;
use msm_dpdk::{ffi, rdtsc, Mbuf, Mempool, PortId, RxQueue, TxQueue};
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Descriptors of the virtual rx ring of the paced source (as the ports' rx_desc).
pub const RX_RING: u64 = 1024;

/// The output check looks at one transmitted frame in this many.
pub const CHECK_EVERY: u64 = 64;

#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Packets seen and TSC ticks spent by a callback.
#[derive(Debug, Default)]
pub struct Cost {
    pkts: AtomicU64,
    ticks: AtomicU64,
}

impl Cost {
    /// (packets, ticks) so far.
    pub fn get(&self) -> (u64, u64) {
        (self.pkts.load(Relaxed), self.ticks.load(Relaxed))
    }
}

/// Writes the benchmark frames into the mbufs `net_null` hands out.
pub struct Source {
    /// Frame templates, used in the cyclic order of `pattern` (one template
    /// and pattern `[0]` for a single workload and size).
    tpls: Vec<Template>,
    pattern: Vec<u8>,
    /// Home addresses in the order they are used (uniform random draws).
    seq: Arc<[u32]>,
    pos: AtomicUsize,
    ppos: AtomicUsize,
    /// Paced: TSC ticks between arrivals, and the pool the packets are
    /// allocated from; `None`: every mbuf net_null hands out becomes a packet
    /// (as fast as the worker polls).
    interval: Option<f64>,
    pool: Option<Mempool>,
    /// Paced: next scheduled arrival (TSC ticks, f64 bits; 0 = not started).
    next: AtomicU64,
    pub cost: Cost,
    /// Mbufs too small for a frame (never expected; sent as they are).
    pub failed: AtomicU64,
    /// Paced: arrivals dropped because the virtual rx ring was full.
    pub overflow: AtomicU64,
    /// Paced: allocation failures (the arrivals stay due).
    pub nombuf: AtomicU64,
}

impl Source {
    /// A source cycling through `tpls` in the order of `pattern`, homes from
    /// `seq`; paced to `interval` TSC ticks per packet allocated from `pool`
    /// if given (on a port whose rx returns nothing).
    pub fn new(
        tpls: Vec<Template>,
        pattern: Vec<u8>,
        seq: Arc<[u32]>,
        paced: Option<(f64, Mempool)>,
    ) -> Result<Source, String> {
        let (interval, pool) = match paced {
            Some((iv, pool)) if iv > 0.0 => (Some(iv), Some(pool)),
            _ => (None, None),
        };
        if tpls.is_empty()
            || pattern.is_empty()
            || pattern.iter().any(|&i| usize::from(i) >= tpls.len())
            || seq.is_empty()
        {
            return Err("source: empty template, pattern or sequence".into());
        }
        Ok(Source {
            tpls,
            pattern,
            seq,
            pos: AtomicUsize::new(0),
            ppos: AtomicUsize::new(0),
            interval,
            pool,
            next: AtomicU64::new(0),
            cost: Cost::default(),
            failed: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
            nombuf: AtomicU64::new(0),
        })
    }

    /// The same source, starting at position `pos` of its sequence (workers
    /// of a multi-worker run start at different places).
    pub fn starting_at(self, pos: usize) -> Source {
        self.pos.store(pos % self.seq.len(), Relaxed);
        self
    }

    /// Unpaced: turns the `nb` mbufs net_null put in `pkts` into benchmark
    /// frames. Paced: allocates the packets whose arrival time has come (at
    /// most `max`) into `pkts` (any mbufs already there are freed first) and
    /// writes them. Returns how many packets `pkts` holds.
    ///
    /// # Safety
    /// `pkts` has room for `max` pointers, the first `nb` of them mbufs of
    /// this rx burst.
    #[inline]
    unsafe fn fill(&self, pkts: *mut *mut ffi::rte_mbuf, nb: usize, max: usize) -> usize {
        let t0 = rdtsc();
        let mut at = (self.pos.load(Relaxed), self.ppos.load(Relaxed));
        let n = match (self.interval, &self.pool) {
            (Some(iv), Some(pool)) => {
                if nb > 0 {
                    // SAFETY: mbufs of this burst that we do not return.
                    unsafe { ffi::rte_pktmbuf_free_bulk(pkts, nb as u32) };
                }
                let now = t0 as f64;
                let mut next = f64::from_bits(self.next.load(Relaxed));
                if next == 0.0 {
                    next = now;
                }
                let backlog = ((now - next) / iv).floor();
                if backlog > RX_RING as f64 {
                    let lost = backlog - RX_RING as f64;
                    next += lost * iv;
                    bump(&self.overflow, lost as u64);
                }
                let due = if now >= next {
                    (((now - next) / iv) as usize + 1).min(max)
                } else {
                    0
                };
                // SAFETY: room for `max` >= `due` pointers.
                let got = due > 0
                    && unsafe { ffi::msm_pktmbuf_alloc_bulk(pool.as_ptr(), pkts, due as u32) } == 0;
                if due > 0 && !got {
                    bump(&self.nombuf, 1);
                }
                let n = if got { due } else { 0 };
                // SAFETY: the first n are our freshly allocated mbufs.
                let list = unsafe { std::slice::from_raw_parts(pkts, n) };
                for &p in list {
                    self.write(p, &mut at, Some(next as u64));
                    next += iv;
                }
                self.next.store(next.to_bits(), Relaxed);
                n
            }
            _ => {
                // SAFETY: the first nb entries are this burst's mbufs.
                let list = unsafe { std::slice::from_raw_parts(pkts, nb) };
                for &p in list {
                    self.write(p, &mut at, None);
                }
                nb
            }
        };
        self.pos.store(at.0, Relaxed);
        self.ppos.store(at.1, Relaxed);
        bump(&self.cost.pkts, n as u64);
        bump(&self.cost.ticks, rdtsc() - t0);
        n
    }

    /// Writes the frame at position `at` (sequence, pattern) into mbuf `p`
    /// and advances `at`.
    #[inline(always)]
    fn write(&self, p: *mut ffi::rte_mbuf, at: &mut (usize, usize), ts: Option<u64>) {
        // SAFETY: an mbuf of the current rx burst, used by nobody else
        // during the burst; ManuallyDrop: ownership stays with the burst.
        let Some(m) = (unsafe { Mbuf::from_raw(p) }) else {
            return;
        };
        let mut m = ManuallyDrop::new(m);
        let (pos, ppos) = *at;
        let tpl = &self.tpls[usize::from(self.pattern[ppos])];
        if m.set_len(tpl.len()) {
            tpl.write(m.data_mut(), self.seq[pos], ts);
        } else {
            bump(&self.failed, 1);
        }
        at.0 = if pos + 1 == self.seq.len() {
            0
        } else {
            pos + 1
        };
        at.1 = if ppos + 1 == self.pattern.len() {
            0
        } else {
            ppos + 1
        };
    }
}

/// Verifies a sample of what the worker transmits.
pub struct Check {
    expect: Expect,
    port_mac: [u8; 6],
    pub cost: Cost,
    pub checked: AtomicU64,
    pub bad: AtomicU64,
    /// Latency runs: TSC ticks from each packet's scheduled arrival (its
    /// timestamp) to its tx burst. Locked once per burst by the worker only
    /// (read after the callback is removed).
    pub latency: Option<Mutex<Histogram<u64>>>,
}

impl Check {
    /// `latency`: record every packet's time through the worker (the source
    /// must be paced, which writes the timestamps).
    pub fn new(expect: Expect, port_mac: [u8; 6], latency: bool) -> Result<Check, String> {
        let latency = if latency {
            // 1 tick .. 60 s at 10 GHz, 3 significant digits.
            let h = Histogram::new_with_bounds(1, 600_000_000_000, 3)
                .map_err(|e| format!("histogram: {e}"))?;
            Some(Mutex::new(h))
        } else {
            None
        };
        Ok(Check {
            expect,
            port_mac,
            cost: Cost::default(),
            checked: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            latency,
        })
    }

    #[inline]
    fn inspect(&self, pkts: &[*mut ffi::rte_mbuf]) {
        let t0 = rdtsc();
        let seen = self.cost.pkts.load(Relaxed);
        let (mut checked, mut bad) = (0, 0);
        for (i, &p) in pkts.iter().enumerate() {
            if (seen + i as u64) % CHECK_EVERY != 0 {
                continue;
            }
            // SAFETY: an mbuf the worker passed to tx; it stays owned by the
            // tx burst (ManuallyDrop) and is only read here.
            let Some(m) = (unsafe { Mbuf::from_raw(p) }) else {
                continue;
            };
            let m = ManuallyDrop::new(m);
            checked += 1;
            if !self.expect.check(m.data(), self.port_mac) {
                bad += 1;
            }
        }
        if let Some(h) = &self.latency {
            if let Ok(mut h) = h.lock() {
                for &p in pkts {
                    // SAFETY: as above; only read.
                    let Some(m) = (unsafe { Mbuf::from_raw(p) }) else {
                        continue;
                    };
                    let m = ManuallyDrop::new(m);
                    let d = m.data();
                    let at = traffic::ts_offset_out(d);
                    if let Some(b) = d.get(at..at + 8) {
                        let mut ts = [0u8; 8];
                        ts.copy_from_slice(b);
                        let ts = u64::from_le_bytes(ts);
                        h.saturating_record(t0.saturating_sub(ts).max(1));
                    }
                }
            }
        }
        bump(&self.checked, checked);
        bump(&self.bad, bad);
        bump(&self.cost.pkts, pkts.len() as u64);
        bump(&self.cost.ticks, rdtsc() - t0);
    }
}

unsafe extern "C" fn on_rx(
    _port: u16,
    _queue: u16,
    pkts: *mut *mut ffi::rte_mbuf,
    nb_pkts: u16,
    max_pkts: u16,
    user: *mut c_void,
) -> u16 {
    // SAFETY: `user` is the Source installed with this callback; it is freed
    // only after the callback was removed while no burst could run
    // (Installed::remove).
    let src = unsafe { &*user.cast::<Source>() };
    if nb_pkts == 0 && src.interval.is_none() {
        return 0;
    }
    // SAFETY: DPDK passes `nb_pkts` valid mbufs in an array of `max_pkts`.
    unsafe { src.fill(pkts, usize::from(nb_pkts), usize::from(max_pkts)) as u16 }
}

unsafe extern "C" fn on_tx(
    _port: u16,
    _queue: u16,
    pkts: *mut *mut ffi::rte_mbuf,
    nb_pkts: u16,
    user: *mut c_void,
) -> u16 {
    if nb_pkts > 0 {
        // SAFETY: as in `on_rx`, with the Check installed on the tx queue.
        let (chk, pkts) = unsafe {
            (
                &*user.cast::<Check>(),
                std::slice::from_raw_parts(pkts, usize::from(nb_pkts)),
            )
        };
        chk.inspect(pkts);
    }
    nb_pkts
}

/// A callback installed on one queue of a port, with its state.
///
/// The state lives until [`Installed::remove`], which needs that queue's
/// handle: holding the only handle of the queue proves that no burst (and so
/// no call of the callback) is running on it, so the state can be freed. If
/// it is dropped instead, the callback stays installed and its state leaks
/// (memory-safe).
pub struct Installed<T> {
    port: u16,
    queue: u16,
    cb: NonNull<ffi::rte_eth_rxtx_callback>,
    state: NonNull<T>,
}

impl<T> Installed<T> {
    /// The callback's state (all shared-safe).
    pub fn state(&self) -> &T {
        // SAFETY: the Box is alive until remove(); the callbacks only take
        // shared references to it.
        unsafe { self.state.as_ref() }
    }

    /// Boxes `state` and registers it with `add` (a call of
    /// `rte_eth_add_{rx,tx}_callback` named `what`, given the state pointer).
    fn install(
        port: PortId,
        queue: u16,
        state: T,
        what: &str,
        add: impl FnOnce(*mut T) -> *const ffi::rte_eth_rxtx_callback,
    ) -> Result<Self, String> {
        let state = Box::into_raw(Box::new(state));
        match NonNull::new(add(state).cast_mut()) {
            Some(cb) => Ok(Installed {
                port: port.id(),
                queue,
                cb,
                // SAFETY: from Box::into_raw, never null.
                state: unsafe { NonNull::new_unchecked(state) },
            }),
            None => {
                // SAFETY: not installed: we still own the Box.
                drop(unsafe { Box::from_raw(state) });
                Err(format!(
                    "{what}: {}",
                    msm_dpdk::strerror(msm_dpdk::rte_errno())
                ))
            }
        }
    }

    fn finish(self, rc: i32) -> Result<T, String> {
        if rc != 0 {
            // Still installed: keep the state alive forever.
            return Err(format!("removing callback: {}", msm_dpdk::strerror(-rc)));
        }
        // SAFETY: removed, and the caller proved no burst runs on the queue:
        // nothing references the callback record or the state any more.
        unsafe {
            ffi::rte_free(self.cb.as_ptr().cast());
            Ok(*Box::from_raw(self.state.as_ptr()))
        }
    }
}

impl Installed<Source> {
    /// Installs `src` on rx queue `queue` of `port`.
    pub fn rx(port: PortId, queue: u16, src: Source) -> Result<Self, String> {
        Self::install(port, queue, src, "rte_eth_add_rx_callback", |state| {
            // SAFETY: `on_rx` has the rte_rx_callback_fn signature; `state`
            // stays valid until remove() (or forever).
            unsafe { ffi::rte_eth_add_rx_callback(port.id(), queue, Some(on_rx), state.cast()) }
        })
    }

    /// Removes the callback and returns its state. `q` must be the queue's
    /// handle (proof that nobody else is in an rx burst on it).
    pub fn remove(self, q: &RxQueue) -> Result<Source, String> {
        if (q.port().id(), q.queue_id()) != (self.port, self.queue) {
            return Err("remove: handle of another queue".into());
        }
        // SAFETY: valid port/queue/callback; see finish() for the state.
        let rc =
            unsafe { ffi::rte_eth_remove_rx_callback(self.port, self.queue, self.cb.as_ptr()) };
        self.finish(rc)
    }
}

impl Installed<Check> {
    /// Installs `chk` on tx queue `queue` of `port`.
    pub fn tx(port: PortId, queue: u16, chk: Check) -> Result<Self, String> {
        Self::install(port, queue, chk, "rte_eth_add_tx_callback", |state| {
            // SAFETY: as in Installed::rx, for the tx callback signature.
            unsafe { ffi::rte_eth_add_tx_callback(port.id(), queue, Some(on_tx), state.cast()) }
        })
    }

    /// Removes the callback and returns its state. `q` must be the queue's
    /// handle (proof that nobody else is in a tx burst on it).
    pub fn remove(self, q: &TxQueue) -> Result<Check, String> {
        if (q.port().id(), q.queue_id()) != (self.port, self.queue) {
            return Err("remove: handle of another queue".into());
        }
        // SAFETY: valid port/queue/callback; see finish() for the state.
        let rc =
            unsafe { ffi::rte_eth_remove_tx_callback(self.port, self.queue, self.cb.as_ptr()) };
        self.finish(rc)
    }
}
