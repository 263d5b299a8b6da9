//! Packet-buffer mempools.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::burst::MbufBurst;
use crate::eal::{self, LiveGuard};
use crate::error::{Error, Result};
use crate::ffi;
use crate::mbuf::Mbuf;

/// Default mbuf data room: 2048 bytes of data + [`crate::PKTMBUF_HEADROOM`]
/// (`RTE_MBUF_DEFAULT_BUF_SIZE`).
pub const DEFAULT_BUF_SIZE: u16 = 2048 + crate::PKTMBUF_HEADROOM;

#[derive(Debug)]
struct PoolInner {
    ptr: NonNull<ffi::rte_mempool>,
    name: String,
    data_room: u16,
    _live: LiveGuard,
}

// SAFETY: DPDK mempools created by rte_pktmbuf_pool_create use the default
// multi-producer/multi-consumer ops; get/put/count are thread-safe from any
// thread (non-EAL threads bypass the per-lcore cache).
unsafe impl Send for PoolInner {}
// SAFETY: see above; all methods take &self and are thread-safe.
unsafe impl Sync for PoolInner {}

/// A pktmbuf mempool (`rte_pktmbuf_pool_create`). Cheap to clone.
///
/// The underlying pool is never freed while the EAL runs (ports and rings may
/// still reference it); its memory is released by EAL cleanup.
#[derive(Debug, Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

impl Mempool {
    /// Create a pool of `n_mbufs` mbufs (best: 2^k - 1) with a per-lcore cache
    /// of `cache_size` (<= 512, 0 = none) and `data_room` bytes of buffer per
    /// mbuf including headroom (e.g. [`DEFAULT_BUF_SIZE`]), on NUMA `socket`
    /// ([`crate::SOCKET_ID_ANY`] for any).
    pub fn new(
        name: &str,
        n_mbufs: u32,
        cache_size: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool> {
        let cname = CString::new(name)
            .map_err(|_| Error::InvalidArgument(format!("mempool name {name:?} contains NUL")))?;
        if data_room < crate::PKTMBUF_HEADROOM {
            return Err(Error::InvalidArgument(format!(
                "mempool {name:?}: data_room {data_room} is smaller than the headroom {}",
                crate::PKTMBUF_HEADROOM
            )));
        }
        let running = eal::running()?;
        // SAFETY: EAL is running (guard held); cname is a valid C string.
        let p = unsafe {
            ffi::rte_pktmbuf_pool_create(cname.as_ptr(), n_mbufs, cache_size, 0, data_room, socket)
        };
        let ptr = NonNull::new(p).ok_or_else(|| {
            Error::from_rte_errno("rte_pktmbuf_pool_create", format!("mempool {name:?}"))
        })?;
        eal::register_pool(&running, ptr.as_ptr());
        Ok(Mempool {
            inner: Arc::new(PoolInner {
                ptr,
                name: name.to_owned(),
                data_room,
                _live: LiveGuard::new(&running),
            }),
        })
    }

    /// Allocate one mbuf (reset, empty, with default headroom).
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid while self (and its LiveGuard) lives; the
        // returned mbuf is fresh and exclusively ours.
        unsafe { Mbuf::from_raw(ffi::msm_pktmbuf_alloc(self.inner.ptr.as_ptr())) }
    }

    /// Allocate `n` mbufs into the free space of `burst`, all or nothing.
    /// Returns `false` if `n` exceeds the free space or the pool is short.
    pub fn alloc_bulk<const N: usize>(&self, burst: &mut MbufBurst<N>, n: usize) -> bool {
        if n > burst.remaining() {
            return false;
        }
        let Ok(n32) = u32::try_from(n) else {
            return false;
        };
        // SAFETY: the spare slots are writable; on success (0) all n entries
        // are fresh mbufs that become owned by the burst.
        unsafe {
            let spare = burst.spare_ptr();
            if ffi::msm_pktmbuf_alloc_bulk(self.inner.ptr.as_ptr(), spare, n32) != 0 {
                return false;
            }
            burst.set_len(burst.len() + n);
        }
        true
    }

    /// Free mbufs in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: valid pool; the count walks per-lcore caches read-only.
        unsafe { ffi::rte_mempool_avail_count(self.inner.ptr.as_ptr()) }
    }

    /// Mbufs currently allocated (held by the application, rings, or NIC rx
    /// descriptors).
    pub fn in_use(&self) -> u32 {
        // SAFETY: as in `available`.
        unsafe { ffi::rte_mempool_in_use_count(self.inner.ptr.as_ptr()) }
    }

    /// Total number of mbufs in the pool.
    pub fn capacity(&self) -> u32 {
        // SAFETY: `size` is immutable after creation.
        unsafe { (*self.inner.ptr.as_ptr()).size }
    }

    /// Buffer size per mbuf including headroom, as passed to [`Mempool::new`].
    pub fn data_room(&self) -> u16 {
        self.inner.data_room
    }

    /// The pool name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Raw pointer for FFI (stays owned by this handle).
    pub fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.inner.ptr.as_ptr()
    }
}
