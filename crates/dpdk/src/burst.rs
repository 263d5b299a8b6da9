//! Fixed-capacity, heap-free bursts of owned mbufs.

use std::fmt;
use std::ptr;
use std::slice;

use crate::ffi;
use crate::mbuf::Mbuf;
use crate::port::{RxQueue, TxQueue};

/// Up to `N` owned mbufs in an inline array (no heap allocation).
///
/// Invariant: `bufs[..len]` are valid mbufs owned by the burst; the rest is
/// unspecified. `Drop` frees the owned ones.
pub struct MbufBurst<const N: usize> {
    len: usize,
    bufs: [*mut ffi::rte_mbuf; N],
}

// SAFETY: the burst exclusively owns its mbufs, which are Send.
unsafe impl<const N: usize> Send for MbufBurst<N> {}

impl<const N: usize> Default for MbufBurst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for MbufBurst<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MbufBurst")
            .field("len", &self.len)
            .field("capacity", &N)
            .finish()
    }
}

impl<const N: usize> MbufBurst<N> {
    /// Capacity `N`.
    pub const CAPACITY: usize = N;

    /// An empty burst.
    #[inline]
    pub fn new() -> Self {
        MbufBurst {
            len: 0,
            bufs: [ptr::null_mut(); N],
        }
    }

    /// Number of mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the burst is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the burst is full.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Capacity `N`.
    #[inline]
    pub fn capacity(&self) -> usize {
        N
    }

    /// Free slots.
    #[inline]
    pub fn remaining(&self) -> usize {
        N - self.len
    }

    /// Pointer to the first free slot (for FFI that fills the spare space).
    #[inline]
    pub(crate) fn spare_ptr(&mut self) -> *mut *mut ffi::rte_mbuf {
        // SAFETY: len <= N, so this is in bounds or one past the end.
        unsafe { self.bufs.as_mut_ptr().add(self.len) }
    }

    /// Set the number of owned mbufs.
    ///
    /// # Safety
    /// `n <= N` and `bufs[..n]` must be valid, exclusively owned mbufs; any
    /// previously owned mbuf beyond `n` must have been released elsewhere.
    #[inline]
    pub(crate) unsafe fn set_len(&mut self, n: usize) {
        debug_assert!(n <= N);
        self.len = n;
    }

    /// Drop the first `n` entries from ownership (they were handed to DPDK)
    /// and move the rest to the front.
    #[inline]
    fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        self.bufs.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Add an mbuf; gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        self.bufs[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Remove and return the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: the entry was owned by the burst and is no longer (len
        // decremented), so ownership moves to the returned Mbuf.
        unsafe { Mbuf::from_raw(self.bufs[self.len]) }
    }

    /// The owned mbufs.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: Mbuf is repr(transparent) over NonNull<rte_mbuf>, which has
        // the layout of *mut rte_mbuf; the first len entries are non-null
        // owned mbufs; the borrow of self keeps them owned.
        unsafe { slice::from_raw_parts(self.bufs.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The owned mbufs, mutable (modify packets in place; the slots cannot be
    /// replaced by other means than `std::mem::swap`, which keeps ownership
    /// consistent).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in as_slice, with exclusive access through &mut self.
        unsafe { slice::from_raw_parts_mut(self.bufs.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    /// Iterate over the mbufs by reference.
    #[inline]
    pub fn iter(&self) -> slice::Iter<'_, Mbuf> {
        self.as_slice().iter()
    }

    /// Iterate over the mbufs by mutable reference.
    #[inline]
    pub fn iter_mut(&mut self) -> slice::IterMut<'_, Mbuf> {
        self.as_mut_slice().iter_mut()
    }

    /// Move all mbufs out, in order. Mbufs not consumed from the iterator are
    /// freed when it is dropped; the burst is empty afterwards.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_, N> {
        let end = self.len;
        // Ownership moves to the Drain now: if it is leaked (mem::forget),
        // the mbufs leak but are never freed twice.
        self.len = 0;
        Drain {
            burst: self,
            pos: 0,
            end,
        }
    }

    /// Keep only the mbufs for which `f` returns `true` (in order); free the
    /// others.
    #[inline]
    pub fn retain(&mut self, mut f: impl FnMut(&mut Mbuf) -> bool) {
        let len = self.len;
        // Panic safety: during the loop the burst owns nothing (len = 0);
        // entries are re-adopted one by one as they are kept.
        self.len = 0;
        let mut keep = 0;
        for i in 0..len {
            // SAFETY: bufs[i] (i >= keep) is owned and not yet visited; we
            // take ownership into `m`.
            let mut m = unsafe { Mbuf::from_raw(self.bufs[i]).unwrap_unchecked() };
            if f(&mut m) {
                self.bufs[keep] = m.into_raw();
                keep += 1;
                self.len = keep;
            }
            // Otherwise `m` is dropped (freed) here.
        }
    }

    /// Free all mbufs (`rte_pktmbuf_free_bulk`).
    #[inline]
    pub fn clear(&mut self) {
        if self.len == 0 {
            return;
        }
        let n = self.len;
        self.len = 0;
        // SAFETY: bufs[..n] were owned by the burst and ownership is given up
        // (len = 0) before they are freed.
        unsafe { ffi::rte_pktmbuf_free_bulk(self.bufs.as_mut_ptr(), n as u32) }
    }

    /// Receive into the free space (`rte_eth_rx_burst`); returns the number
    /// of mbufs received.
    #[inline]
    pub fn rx(&mut self, q: &mut RxQueue) -> usize {
        let room = u16::try_from(self.remaining()).unwrap_or(u16::MAX);
        if room == 0 {
            return 0;
        }
        // SAFETY: the queue handle proves the port/queue exist, the EAL is
        // alive and this thread has exclusive use of the queue; the spare
        // slots have room for `room` pointers; received mbufs are fresh and
        // become owned by the burst.
        let n = unsafe { ffi::msm_eth_rx_burst(q.port_id(), q.queue_id(), self.spare_ptr(), room) };
        self.len += usize::from(n);
        usize::from(n)
    }

    /// Transmit from the front (`rte_eth_tx_burst`); returns the number sent.
    /// Unsent mbufs stay in the burst (moved to the front) for retry or
    /// freeing.
    #[inline]
    pub fn tx(&mut self, q: &mut TxQueue) -> usize {
        let cnt = u16::try_from(self.len).unwrap_or(u16::MAX);
        if cnt == 0 {
            return 0;
        }
        // SAFETY: as in `rx`; tx_burst takes ownership of the first `n`
        // mbufs, which we then drop from the burst without freeing.
        let n = unsafe {
            ffi::msm_eth_tx_burst(q.port_id(), q.queue_id(), self.bufs.as_mut_ptr(), cnt)
        };
        let n = usize::from(n);
        self.consume_front(n);
        n
    }

    /// Transmit everything; free what the NIC did not accept. Returns
    /// `(sent, dropped)`; the burst is empty afterwards.
    #[inline]
    pub fn tx_all_or_free(&mut self, q: &mut TxQueue) -> (usize, usize) {
        let sent = self.tx(q);
        let dropped = self.len;
        self.clear();
        (sent, dropped)
    }

    /// Transmit, retrying up to `retries` extra times while the queue makes
    /// progress; then free the rest. Returns `(sent, dropped)`.
    #[inline]
    pub fn tx_retry_or_free(&mut self, q: &mut TxQueue, retries: usize) -> (usize, usize) {
        let mut sent = self.tx(q);
        for _ in 0..retries {
            if self.is_empty() {
                break;
            }
            sent += self.tx(q);
        }
        let dropped = self.len;
        self.clear();
        (sent, dropped)
    }

    /// Enqueue-side helper for rings: raw pointer to the owned entries.
    #[inline]
    pub(crate) fn owned_ptr(&self) -> *const *mut ffi::rte_mbuf {
        self.bufs.as_ptr()
    }

    /// Forget the first `n` entries (ownership passed elsewhere) and shift
    /// the rest to the front.
    ///
    /// # Safety
    /// The first `n` mbufs must really have been handed over.
    #[inline]
    pub(crate) unsafe fn forget_front(&mut self, n: usize) {
        self.consume_front(n);
    }
}

impl<const N: usize> Drop for MbufBurst<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<const N: usize> Extend<Mbuf> for MbufBurst<N> {
    /// Push mbufs until full; the ones that do not fit are freed.
    fn extend<I: IntoIterator<Item = Mbuf>>(&mut self, iter: I) {
        for m in iter {
            if self.push(m).is_err() {
                // `m` returned and dropped (freed) here.
                continue;
            }
        }
    }
}

/// Draining iterator returned by [`MbufBurst::drain`].
pub struct Drain<'a, const N: usize> {
    burst: &'a mut MbufBurst<N>,
    pos: usize,
    end: usize,
}

impl<const N: usize> Iterator for Drain<'_, N> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.pos == self.end {
            return None;
        }
        let p = self.burst.bufs[self.pos];
        self.pos += 1;
        // SAFETY: entries in pos..end are owned by the Drain; each is moved
        // out exactly once.
        unsafe { Mbuf::from_raw(p) }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.pos;
        (n, Some(n))
    }
}

impl<const N: usize> ExactSizeIterator for Drain<'_, N> {}

impl<const N: usize> Drop for Drain<'_, N> {
    fn drop(&mut self) {
        let n = self.end - self.pos;
        if n > 0 {
            // SAFETY: entries pos..end are still owned by the Drain; mark them
            // consumed first, then free them in bulk.
            unsafe {
                let p = self.burst.bufs.as_mut_ptr().add(self.pos);
                self.pos = self.end;
                ffi::rte_pktmbuf_free_bulk(p, n as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_burst_is_heap_free_and_inert() {
        let mut b = MbufBurst::<32>::new();
        assert_eq!(b.len(), 0);
        assert_eq!(b.remaining(), 32);
        assert_eq!(MbufBurst::<32>::CAPACITY, 32);
        assert!(b.pop().is_none());
        assert_eq!(b.drain().count(), 0);
        b.retain(|_| false);
        b.clear();
        assert!(b.as_slice().is_empty());
        assert_eq!(std::mem::size_of::<MbufBurst<32>>(), 8 + 32 * 8);
        assert_eq!(std::mem::size_of::<Mbuf>(), 8);
        assert_eq!(std::mem::size_of::<Option<Mbuf>>(), 8);
    }
}
