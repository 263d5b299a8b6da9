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
//! All mutable state is in atomics written only by the worker thread (relaxed
//! load + store, no read-modify-write) so the main thread may read it while
//! the worker runs.

use crate::traffic::{Expect, Template};
use msm_dpdk::{ffi, rdtsc, Mbuf, PortId, RxQueue, TxQueue};
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

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
    tpl: Template,
    /// Home addresses in the order they are used (uniform random draws).
    seq: Arc<[u32]>,
    pos: AtomicUsize,
    pub cost: Cost,
    /// Mbufs too small for a frame (never expected; sent as they are).
    pub failed: AtomicU64,
}

impl Source {
    pub fn new(tpl: Template, seq: Arc<[u32]>) -> Source {
        Source {
            tpl,
            seq,
            pos: AtomicUsize::new(0),
            cost: Cost::default(),
            failed: AtomicU64::new(0),
        }
    }

    #[inline]
    fn fill(&self, pkts: &[*mut ffi::rte_mbuf]) {
        let t0 = rdtsc();
        let mut pos = self.pos.load(Relaxed);
        let mut failed = 0;
        for &p in pkts {
            // SAFETY: a fresh mbuf from our mempool that the rx burst
            // returns to its caller: nobody else uses it during the burst.
            // ManuallyDrop: ownership stays with the burst.
            let Some(m) = (unsafe { Mbuf::from_raw(p) }) else {
                continue;
            };
            let mut m = ManuallyDrop::new(m);
            if m.set_len(self.tpl.len()) {
                self.tpl.write(m.data_mut(), self.seq[pos]);
            } else {
                failed += 1;
            }
            pos += 1;
            if pos == self.seq.len() {
                pos = 0;
            }
        }
        self.pos.store(pos, Relaxed);
        if failed > 0 {
            bump(&self.failed, failed);
        }
        bump(&self.cost.pkts, pkts.len() as u64);
        bump(&self.cost.ticks, rdtsc() - t0);
    }
}

/// Verifies a sample of what the worker transmits.
pub struct Check {
    expect: Expect,
    port_mac: [u8; 6],
    pub cost: Cost,
    pub checked: AtomicU64,
    pub bad: AtomicU64,
}

impl Check {
    pub fn new(expect: Expect, port_mac: [u8; 6]) -> Check {
        Check {
            expect,
            port_mac,
            cost: Cost::default(),
            checked: AtomicU64::new(0),
            bad: AtomicU64::new(0),
        }
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
    _max_pkts: u16,
    user: *mut c_void,
) -> u16 {
    if nb_pkts > 0 {
        // SAFETY: `user` is the Source installed with this callback; it is
        // freed only after the callback was removed while no burst could run
        // (Installed::remove). DPDK passes `nb_pkts` valid mbuf pointers.
        let (src, pkts) = unsafe {
            (
                &*user.cast::<Source>(),
                std::slice::from_raw_parts(pkts, usize::from(nb_pkts)),
            )
        };
        src.fill(pkts);
    }
    nb_pkts
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
        let state = Box::into_raw(Box::new(src));
        // SAFETY: `on_rx` has the rte_rx_callback_fn signature; `state` stays
        // valid until remove() (or forever).
        let cb =
            unsafe { ffi::rte_eth_add_rx_callback(port.id(), queue, Some(on_rx), state.cast()) };
        match NonNull::new(cb.cast_mut()) {
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
                    "rte_eth_add_rx_callback: {}",
                    msm_dpdk::strerror(msm_dpdk::rte_errno())
                ))
            }
        }
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
        let state = Box::into_raw(Box::new(chk));
        // SAFETY: as in Installed::rx, for the tx callback signature.
        let cb =
            unsafe { ffi::rte_eth_add_tx_callback(port.id(), queue, Some(on_tx), state.cast()) };
        match NonNull::new(cb.cast_mut()) {
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
                    "rte_eth_add_tx_callback: {}",
                    msm_dpdk::strerror(msm_dpdk::rte_errno())
                ))
            }
        }
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
