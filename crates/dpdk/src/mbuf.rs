//! Owned packet buffers.

use std::ptr::NonNull;
use std::slice;

use crate::ffi;

/// `RTE_MBUF_F_RX_RSS_HASH` (`1ULL << 1` in rte_mbuf_core.h).
const RX_RSS_HASH: u64 = 1 << 1;

/// An owned `rte_mbuf` (packet buffer), freed with `rte_pktmbuf_free` on drop.
///
/// Same layout as a non-null `*mut rte_mbuf`, so `&[Mbuf]` can view an array
/// of owned mbuf pointers. Accessors work on the first segment (and the last
/// one for [`Mbuf::append`]/[`Mbuf::trim`]) and are pure Rust on the
/// `rte_mbuf` layout, mirroring DPDK's inline functions, so they inline.
///
/// Invariant: the pointer is a valid mbuf exclusively owned by this value,
/// with `refcnt == 1` and a direct (non-attached) data buffer — which holds
/// for every mbuf obtained from a [`crate::Mempool`], an rx burst or a ring
/// through this crate.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf {
    ptr: NonNull<ffi::rte_mbuf>,
}

// SAFETY: an Mbuf is uniquely owned; freeing it from another thread is
// allowed (mempool put is multi-producer safe, and non-EAL threads bypass the
// per-lcore cache).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Take ownership of a raw mbuf pointer; `None` if null.
    ///
    /// # Safety
    /// `p` must be a valid mbuf that the caller owns exclusively (refcnt 1,
    /// direct buffer, not referenced anywhere else) and it must come from a
    /// mempool created with [`crate::Mempool`] (so EAL cleanup accounting
    /// sees it).
    #[inline]
    pub unsafe fn from_raw(p: *mut ffi::rte_mbuf) -> Option<Mbuf> {
        NonNull::new(p).map(|ptr| Mbuf { ptr })
    }

    /// Give up ownership; the caller must eventually free the mbuf or hand it
    /// to DPDK.
    #[inline]
    pub fn into_raw(self) -> *mut ffi::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The raw pointer (ownership stays with `self`).
    #[inline]
    pub fn as_ptr(&self) -> *mut ffi::rte_mbuf {
        self.ptr.as_ptr()
    }

    #[inline(always)]
    fn m(&self) -> &ffi::rte_mbuf {
        // SAFETY: type invariant: valid and exclusively owned by self.
        unsafe { self.ptr.as_ref() }
    }

    #[inline(always)]
    fn m_mut(&mut self) -> &mut ffi::rte_mbuf {
        // SAFETY: type invariant: valid and exclusively owned by self.
        unsafe { self.ptr.as_mut() }
    }

    /// Pointer to the last segment (the first one for contiguous mbufs).
    #[inline]
    fn last_seg(&self) -> *mut ffi::rte_mbuf {
        let mut s = self.ptr.as_ptr();
        // SAFETY: segments form a valid NULL-terminated chain owned by self.
        unsafe {
            while !(*s).next.is_null() {
                s = (*s).next;
            }
        }
        s
    }

    /// Length of the data in the first segment (`data_len`).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.m().data_len)
    }

    /// Whether the first segment holds no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.m().data_len == 0
    }

    /// Total packet length over all segments (`pkt_len`).
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.m().pkt_len as usize
    }

    /// Number of segments.
    #[inline]
    pub fn nb_segs(&self) -> u16 {
        self.m().nb_segs
    }

    /// Whether the whole packet is in one segment (`nb_segs == 1`).
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.m().nb_segs == 1
    }

    /// Input port id (set by rx).
    #[inline]
    pub fn port(&self) -> u16 {
        self.m().port
    }

    /// Set the port field (informational; tx uses the queue's port).
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.m_mut().port = port;
    }

    /// Offload flags (`ol_flags`).
    #[inline]
    pub fn ol_flags(&self) -> u64 {
        self.m().ol_flags
    }

    /// RSS hash computed by the NIC, if it set `RTE_MBUF_F_RX_RSS_HASH`.
    #[inline]
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.m();
        if m.ol_flags & RX_RSS_HASH != 0 {
            // SAFETY: all union variants are plain integers; `rss` is the
            // active one when the flag is set.
            Some(unsafe { m.__bindgen_anon_2.hash.rss })
        } else {
            None
        }
    }

    /// Free bytes in front of the data in the first segment (`data_off`).
    #[inline]
    pub fn headroom(&self) -> usize {
        usize::from(self.m().data_off)
    }

    /// Free bytes after the data in the last segment (what
    /// [`Mbuf::append`] can add).
    #[inline]
    pub fn tailroom(&self) -> usize {
        let s = self.last_seg();
        // SAFETY: `s` is a valid segment owned by self.
        let s = unsafe { &*s };
        usize::from(s.buf_len) - usize::from(s.data_off) - usize::from(s.data_len)
    }

    /// The data of the first segment.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's
        // buffer (DPDK invariant data_off + data_len <= buf_len, maintained
        // by every mutator below) and is not aliased mutably while &self lives.
        unsafe {
            slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// The data of the first segment, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m();
        // SAFETY: as in `data`; &mut self gives exclusive access and the
        // buffer is not shared (refcnt 1, direct buffer: type invariant).
        unsafe {
            slice::from_raw_parts_mut(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// Grow the packet at the front by `n` bytes (`rte_pktmbuf_prepend`);
    /// returns the new, uninitialised-content prefix, or `None` (unchanged)
    /// if the headroom is too small.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let m = self.m_mut();
        let n16 = u16::try_from(n).ok()?;
        if n16 > m.data_off {
            return None;
        }
        m.data_off -= n16;
        m.data_len += n16;
        m.pkt_len += u32::from(n16);
        // SAFETY: the new prefix lies in the headroom inside the buffer;
        // exclusive via &mut self. (The bytes are whatever was there before —
        // initialised memory from the mempool, just not meaningful.)
        Some(unsafe {
            slice::from_raw_parts_mut(m.buf_addr.cast::<u8>().add(usize::from(m.data_off)), n)
        })
    }

    /// Remove `n` bytes from the front (`rte_pktmbuf_adj`); `false`
    /// (unchanged) if the first segment holds fewer than `n` bytes.
    #[inline]
    pub fn adj(&mut self, n: usize) -> bool {
        let m = self.m_mut();
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        if n16 > m.data_len {
            return false;
        }
        m.data_len -= n16;
        m.data_off += n16;
        m.pkt_len -= u32::from(n16);
        true
    }

    /// Remove `n` bytes from the end (`rte_pktmbuf_trim`, last segment
    /// only); `false` (unchanged) if the last segment holds fewer.
    #[inline]
    pub fn trim(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        let last = self.last_seg();
        // SAFETY: `last` is a valid segment owned by self; no reference to it
        // or to the head is live across these writes (raw-pointer access,
        // since `last` may be the head itself).
        unsafe {
            if n16 > (*last).data_len {
                return false;
            }
            (*last).data_len -= n16;
            (*self.ptr.as_ptr()).pkt_len -= u32::from(n16);
        }
        true
    }

    /// Grow the packet at the end by `n` bytes (`rte_pktmbuf_append`, into
    /// the last segment); returns the new tail, or `None` (unchanged) if the
    /// tailroom is too small.
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok()?;
        if n > self.tailroom() {
            return None;
        }
        let last = self.last_seg();
        // SAFETY: `last` is a valid segment owned by self; tailroom was
        // checked so the new tail stays inside its buffer; raw-pointer writes
        // because `last` may alias the head.
        unsafe {
            let tail = (*last)
                .buf_addr
                .cast::<u8>()
                .add(usize::from((*last).data_off) + usize::from((*last).data_len));
            (*last).data_len += n16;
            (*self.ptr.as_ptr()).pkt_len += u32::from(n16);
            Some(slice::from_raw_parts_mut(tail, n))
        }
    }

    /// Set the length of a contiguous mbuf to `n` bytes (both `data_len` and
    /// `pkt_len`); `false` (unchanged) if segmented or `n` exceeds the
    /// headroom-adjusted buffer.
    #[inline]
    pub fn set_len(&mut self, n: usize) -> bool {
        let m = self.m_mut();
        if m.nb_segs != 1 || n > usize::from(m.buf_len) - usize::from(m.data_off) {
            return false;
        }
        m.data_len = n as u16;
        m.pkt_len = n as u32;
        true
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (type invariant) and never use it again.
        unsafe { ffi::msm_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fake single-segment mbuf in ordinary memory, for testing the pure
    /// Rust accessors without EAL. Never dropped as an `Mbuf`.
    pub(crate) struct Fake {
        pub m: Box<ffi::rte_mbuf>,
        pub buf: Vec<u8>,
    }

    impl Fake {
        pub fn new(buf_len: u16, headroom: u16) -> Fake {
            let mut buf = vec![0u8; usize::from(buf_len)];
            // SAFETY: rte_mbuf is a C POD struct; all-zero is a valid value.
            let mut m: Box<ffi::rte_mbuf> = Box::new(unsafe { std::mem::zeroed() });
            m.buf_addr = buf.as_mut_ptr().cast();
            m.buf_len = buf_len;
            m.data_off = headroom;
            m.nb_segs = 1;
            m.refcnt = 1;
            Fake { m, buf }
        }

        /// Borrow as an `Mbuf` that must not be dropped.
        pub fn with<R>(&mut self, f: impl FnOnce(&mut Mbuf) -> R) -> R {
            // SAFETY: points to our boxed fake; ManuallyDrop prevents the
            // rte_pktmbuf_free call.
            let mut mb =
                std::mem::ManuallyDrop::new(unsafe { Mbuf::from_raw(&mut *self.m) }.unwrap());
            f(&mut mb)
        }
    }

    #[test]
    fn accessors_on_fake_mbuf() {
        let mut f = Fake::new(256, 128);
        f.with(|m| {
            assert_eq!(m.len(), 0);
            assert!(m.is_empty());
            assert_eq!(m.headroom(), 128);
            assert_eq!(m.tailroom(), 128);
            assert!(m.is_contiguous());
            assert!(m.append(129).is_none());
            m.append(10).unwrap().copy_from_slice(b"0123456789");
            assert_eq!(m.data(), b"0123456789");
            assert_eq!((m.len(), m.pkt_len(), m.tailroom()), (10, 10, 118));
            m.prepend(2).unwrap().copy_from_slice(b"ab");
            assert_eq!(m.data(), b"ab0123456789");
            assert_eq!((m.len(), m.pkt_len(), m.headroom()), (12, 12, 126));
            assert!(m.prepend(127).is_none());
            assert_eq!(m.len(), 12);
            assert!(m.adj(3));
            assert_eq!(m.data(), b"123456789");
            assert!(!m.adj(10));
            assert!(m.trim(4));
            assert_eq!(m.data(), b"12345");
            assert!(!m.trim(6));
            assert_eq!((m.len(), m.pkt_len()), (5, 5));
            m.data_mut()[0] = b'X';
            assert_eq!(m.data(), b"X2345");
            assert!(m.set_len(3));
            assert_eq!(m.data(), b"X23");
            assert!(!m.set_len(200));
            assert_eq!(m.rss_hash(), None);
        });
        assert_eq!(&f.buf[129..132], b"X23");
    }
}
