//! `rte_ring`s carrying owned mbufs between threads.

use std::cell::Cell;
use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::burst::MbufBurst;
use crate::eal::{self, LiveGuard};
use crate::error::{Error, Result};
use crate::ffi;
use crate::mbuf::Mbuf;

#[derive(Debug)]
struct RingInner {
    ptr: NonNull<ffi::rte_ring>,
    name: String,
    _live: LiveGuard,
}

// SAFETY: the ring is only accessed through DPDK's ring API; the sync mode
// the ring was created with is enforced by the public wrapper types (Ring is
// MP/MC; RingProducer/RingConsumer are unique and !Sync for SP/SC).
unsafe impl Send for RingInner {}
// SAFETY: see above.
unsafe impl Sync for RingInner {}

impl RingInner {
    fn create(name: &str, capacity: u32, socket: i32, flags: u32) -> Result<RingInner> {
        let cname = CString::new(name)
            .map_err(|_| Error::InvalidArgument(format!("ring name {name:?} contains NUL")))?;
        let running = eal::running()?;
        // SAFETY: EAL running; valid C string. RING_F_EXACT_SZ makes the
        // usable capacity exactly `capacity`.
        let p = unsafe {
            ffi::rte_ring_create(
                cname.as_ptr(),
                capacity,
                socket,
                flags | ffi::RING_F_EXACT_SZ,
            )
        };
        let ptr = NonNull::new(p)
            .ok_or_else(|| Error::from_rte_errno("rte_ring_create", format!("ring {name:?}")))?;
        Ok(RingInner {
            ptr,
            name: name.to_owned(),
            _live: LiveGuard::new(&running),
        })
    }

    /// # Safety
    /// The caller must respect the ring's producer sync mode.
    #[inline]
    unsafe fn enqueue_burst<const N: usize>(&self, b: &mut MbufBurst<N>) -> usize {
        let len = b.len() as u32;
        // SAFETY: the first len entries are owned mbufs; DPDK takes ownership
        // of the first n, which the burst then forgets.
        unsafe {
            let n = ffi::msm_ring_enqueue_burst(
                self.ptr.as_ptr(),
                b.owned_ptr().cast::<*mut c_void>(),
                len,
                ptr::null_mut(),
            );
            b.forget_front(n as usize);
            n as usize
        }
    }

    /// # Safety
    /// The caller must respect the ring's producer sync mode.
    #[inline]
    unsafe fn enqueue(&self, m: Mbuf) -> Result<(), Mbuf> {
        let p = m.as_ptr().cast::<c_void>();
        // SAFETY: one owned pointer; on success the ring owns it.
        let n = unsafe { ffi::msm_ring_enqueue_burst(self.ptr.as_ptr(), &p, 1, ptr::null_mut()) };
        if n == 1 {
            std::mem::forget(m);
            Ok(())
        } else {
            Err(m)
        }
    }

    /// # Safety
    /// The caller must respect the ring's consumer sync mode.
    #[inline]
    unsafe fn dequeue_burst<const N: usize>(&self, b: &mut MbufBurst<N>) -> usize {
        let room = b.remaining() as u32;
        if room == 0 {
            return 0;
        }
        // SAFETY: spare slots can hold `room` pointers; dequeued objects are
        // mbufs whose ownership was given to the ring and now moves to b.
        unsafe {
            let n = ffi::msm_ring_dequeue_burst(
                self.ptr.as_ptr(),
                b.spare_ptr().cast::<*mut c_void>(),
                room,
                ptr::null_mut(),
            );
            b.set_len(b.len() + n as usize);
            n as usize
        }
    }

    /// # Safety
    /// The caller must respect the ring's consumer sync mode.
    #[inline]
    unsafe fn dequeue(&self) -> Option<Mbuf> {
        let mut p: *mut c_void = ptr::null_mut();
        // SAFETY: room for one pointer; ownership moves from the ring to us.
        unsafe {
            let n = ffi::msm_ring_dequeue_burst(self.ptr.as_ptr(), &mut p, 1, ptr::null_mut());
            if n == 1 {
                Mbuf::from_raw(p.cast())
            } else {
                None
            }
        }
    }

    fn len(&self) -> usize {
        // SAFETY: valid ring; the count is a racy but safe snapshot.
        unsafe { ffi::msm_ring_count(self.ptr.as_ptr()) as usize }
    }

    fn capacity(&self) -> usize {
        // SAFETY: valid ring; capacity is immutable.
        unsafe { ffi::msm_ring_get_capacity(self.ptr.as_ptr()) as usize }
    }
}

impl Drop for RingInner {
    fn drop(&mut self) {
        // We are the last owner: no other producer/consumer exists, so any
        // sync mode is respected. Free the remaining mbufs, then the ring.
        let mut b = MbufBurst::<64>::new();
        loop {
            // SAFETY: exclusive access (last Arc).
            let n = unsafe { self.dequeue_burst(&mut b) };
            b.clear();
            if n == 0 {
                break;
            }
        }
        // SAFETY: exclusive access; the ring is empty and never used again.
        unsafe { ffi::rte_ring_free(self.ptr.as_ptr()) }
    }
}

/// A multi-producer/multi-consumer ring of owned mbufs. Cheap to clone,
/// `Send + Sync`. Mbufs left in it are freed when the last clone drops.
#[derive(Debug, Clone)]
pub struct Ring {
    inner: Arc<RingInner>,
}

impl Ring {
    /// Create an MP/MC ring holding up to `capacity` mbufs (any value; exact).
    pub fn new(name: &str, capacity: u32, socket: i32) -> Result<Ring> {
        Ok(Ring {
            inner: Arc::new(RingInner::create(name, capacity, socket, 0)?),
        })
    }

    /// Create a single-producer/single-consumer ring (cheaper); the two ends
    /// are unique, `Send` and `!Sync`, so the SP/SC contract holds.
    pub fn new_spsc(
        name: &str,
        capacity: u32,
        socket: i32,
    ) -> Result<(RingProducer, RingConsumer)> {
        let inner = Arc::new(RingInner::create(
            name,
            capacity,
            socket,
            ffi::RING_F_SP_ENQ | ffi::RING_F_SC_DEQ,
        )?);
        Ok((
            RingProducer {
                inner: inner.clone(),
                _not_sync: PhantomData,
            },
            RingConsumer {
                inner,
                _not_sync: PhantomData,
            },
        ))
    }

    /// Move as many mbufs as fit from the front of `burst` into the ring;
    /// the rest stay in `burst`. Returns the number enqueued.
    #[inline]
    pub fn enqueue_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        // SAFETY: MP ring: concurrent producers are allowed.
        unsafe { self.inner.enqueue_burst(burst) }
    }

    /// Enqueue one mbuf; gives it back if the ring is full.
    #[inline]
    pub fn enqueue(&self, m: Mbuf) -> Result<(), Mbuf> {
        // SAFETY: MP ring.
        unsafe { self.inner.enqueue(m) }
    }

    /// Move up to `burst.remaining()` mbufs from the ring into `burst`.
    #[inline]
    pub fn dequeue_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        // SAFETY: MC ring: concurrent consumers are allowed.
        unsafe { self.inner.dequeue_burst(burst) }
    }

    /// Dequeue one mbuf.
    #[inline]
    pub fn dequeue(&self) -> Option<Mbuf> {
        // SAFETY: MC ring.
        unsafe { self.inner.dequeue() }
    }

    /// Mbufs currently in the ring (snapshot).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the ring is empty (snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Usable capacity.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Ring name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

/// Producer end of an SP/SC ring (see [`Ring::new_spsc`]).
#[derive(Debug)]
pub struct RingProducer {
    inner: Arc<RingInner>,
    _not_sync: PhantomData<Cell<()>>,
}

/// Consumer end of an SP/SC ring (see [`Ring::new_spsc`]).
#[derive(Debug)]
pub struct RingConsumer {
    inner: Arc<RingInner>,
    _not_sync: PhantomData<Cell<()>>,
}

impl RingProducer {
    /// The raw ring (ownership stays with `self`), for [`crate::PortId::from_rings`].
    pub(crate) fn raw(&self) -> *mut ffi::rte_ring {
        self.inner.ptr.as_ptr()
    }

    /// Like [`Ring::enqueue_burst`].
    #[inline]
    pub fn enqueue_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        // SAFETY: this is the unique, !Sync producer end; &mut self excludes
        // concurrent use.
        unsafe { self.inner.enqueue_burst(burst) }
    }

    /// Like [`Ring::enqueue`].
    #[inline]
    pub fn enqueue(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        // SAFETY: unique producer end.
        unsafe { self.inner.enqueue(m) }
    }

    /// Mbufs currently in the ring (snapshot).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the ring is empty (snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Usable capacity.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

impl RingConsumer {
    /// The raw ring (ownership stays with `self`), for [`crate::PortId::from_rings`].
    pub(crate) fn raw(&self) -> *mut ffi::rte_ring {
        self.inner.ptr.as_ptr()
    }

    /// Like [`Ring::dequeue_burst`].
    #[inline]
    pub fn dequeue_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        // SAFETY: unique, !Sync consumer end; &mut self excludes concurrent use.
        unsafe { self.inner.dequeue_burst(burst) }
    }

    /// Like [`Ring::dequeue`].
    #[inline]
    pub fn dequeue(&mut self) -> Option<Mbuf> {
        // SAFETY: unique consumer end.
        unsafe { self.inner.dequeue() }
    }

    /// Mbufs currently in the ring (snapshot).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the ring is empty (snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
