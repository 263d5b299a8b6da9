//! Typed, safe wrappers over DPDK 22.11 for the MSM mobility anchor.
//!
//! Built against Debian's `libdpdk-dev` via `pkg-config`; PMDs (`net_null`,
//! `net_ring`, `net_af_packet`, `net_pcap`, ...) are loaded by EAL at runtime
//! from its plugin directory (pass `-d <dir>` in the EAL args for others).
//!
//! # Ownership model
//!
//! * [`Eal`] is created once per process ([`Eal::init`]) and is `!Send`: it
//!   stays on the thread that became the main lcore. Dropping it waits for
//!   worker lcores, stops and closes all ports and calls `rte_eal_cleanup` —
//!   but only if no [`Mempool`], [`Ring`], [`RxQueue`] or [`TxQueue`] handle
//!   and no [`Mbuf`] is still alive (otherwise cleanup is skipped, so no
//!   handle can ever touch freed EAL memory).
//! * [`Mbuf`] is an owned packet buffer (freed on drop, `Send`).
//! * [`MbufBurst`] is a fixed-capacity, heap-free array of owned mbufs used for
//!   rx/tx bursts and ring transfers.
//! * Fast-path ethdev access goes through [`RxQueue`]/[`TxQueue`] handles: at
//!   most one handle per (port, queue) exists, so DPDK's "one thread per
//!   queue" rule is enforced by the type system (they are `Send`, `!Sync`,
//!   and rx/tx take `&mut`).
//!
//! # Worker loop
//!
//! ```no_run
//! use msm_dpdk::{Eal, Mempool, MbufBurst, PortConf, PortId, SOCKET_ID_ANY};
//! # fn main() -> Result<(), msm_dpdk::Error> {
//! let eal = Eal::init(&["--no-huge", "-m", "512", "--no-pci", "--vdev=net_null0"])?;
//! let pool = Mempool::new("pool0", 8191, 256, msm_dpdk::DEFAULT_BUF_SIZE, SOCKET_ID_ANY)?;
//! let port = PortId::by_name("net_null0")?;
//! port.configure(&PortConf::default(), &pool)?;
//! let mut rxq = port.rx_queue(0)?;
//! let mut txq = port.tx_queue(0)?;
//! let mut burst = MbufBurst::<32>::new();
//! for _ in 0..1000 {
//!     burst.rx(&mut rxq);
//!     burst.retain(|m| m.len() >= 14); // drop (free) runts
//!     for m in burst.iter_mut() {
//!         let d = m.data_mut();
//!         d.swap(0, 6); // ... rewrite headers in place
//!     }
//!     let (_sent, _dropped) = burst.tx_all_or_free(&mut txq);
//! }
//! # drop((rxq, txq, pool, eal));
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod ffi;

mod burst;
mod eal;
mod error;
mod lcore;
mod mbuf;
mod mempool;
mod port;
mod ring;
pub mod telemetry;

pub use burst::{Drain, MbufBurst};
pub use eal::Eal;
pub use error::{rte_errno, strerror, Error, Result};
pub use lcore::{
    lcore_count, lcore_id, main_lcore, rdtsc, socket_id, tsc_hz, worker_lcores, WorkerLcores,
};
pub use mbuf::Mbuf;
pub use mempool::{Mempool, DEFAULT_BUF_SIZE};
pub use port::{
    Port, PortConf, PortId, PortInfo, PortSetup, PortStats, RingPort, RxQueue, TxQueue,
};
pub use ring::{Ring, RingConsumer, RingProducer};

/// "Any NUMA socket" (`SOCKET_ID_ANY`).
pub const SOCKET_ID_ANY: i32 = ffi::SOCKET_ID_ANY;
/// Bytes reserved in front of the packet data of a fresh mbuf
/// (`RTE_PKTMBUF_HEADROOM`).
pub const PKTMBUF_HEADROOM: u16 = ffi::RTE_PKTMBUF_HEADROOM as u16;
/// Value returned by [`lcore_id`] on a thread that is not an EAL lcore
/// (`LCORE_ID_ANY`).
pub const LCORE_ID_ANY: u32 = u32::MAX;

/// Prefetch the cache line at `p` into all cache levels (`rte_prefetch0`).
///
/// Prefetching is only a hint; any address (even dangling) is allowed.
#[inline(always)]
pub fn prefetch0<T>(p: *const T) {
    // SAFETY: `_mm_prefetch` never faults and does not dereference `p` in the
    // Rust abstract machine; SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    }
}
