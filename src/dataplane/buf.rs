//! Packet buffers: the [`PacketBuf`] trait every stage works on, and [`VecBuf`] for tests and tools.
//!
//! In production the buffer is a DPDK mbuf (the impl is in `worker.rs`); the stages
//! never see the difference.

/// A packet buffer with headroom: one contiguous segment.
pub trait PacketBuf {
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet at the front by `n` bytes (contents unspecified).
    fn prepend(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the front.
    fn adj(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the end.
    fn trim(&mut self, n: usize) -> bool;
    /// Grows the packet at the end by `n` bytes (contents unspecified).
    fn append(&mut self, n: usize) -> bool;
    #[inline]
    fn len(&self) -> usize {
        self.data().len()
    }
    #[inline]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sets the length to exactly `n` bytes by trimming or appending.
    #[inline]
    fn resize(&mut self, n: usize) -> bool {
        let l = self.len();
        if n <= l {
            self.trim(l - n)
        } else {
            self.append(n - l)
        }
    }
}

/// A `Vec`-backed [`PacketBuf`] with headroom, for tests and tools.
#[derive(Debug, Clone)]
pub struct VecBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl VecBuf {
    pub const HEADROOM: usize = 128;
    pub fn new(frame: &[u8]) -> VecBuf {
        Self::with_capacity(frame, 2048)
    }
    pub fn with_capacity(frame: &[u8], cap: usize) -> VecBuf {
        let mut buf = vec![0u8; Self::HEADROOM + cap.max(frame.len())];
        buf[Self::HEADROOM..Self::HEADROOM + frame.len()].copy_from_slice(frame);
        VecBuf {
            buf,
            start: Self::HEADROOM,
            end: Self::HEADROOM + frame.len(),
        }
    }
}

impl PacketBuf for VecBuf {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.end -= n;
        true
    }
    fn append(&mut self, n: usize) -> bool {
        if self.end + n > self.buf.len() {
            return false;
        }
        self.end += n;
        true
    }
}
