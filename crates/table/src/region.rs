//! Zero-initialised, cache-line aligned memory regions.
//!
//! Large regions are anonymous `mmap`s, aligned to 2 MiB and advised with
//! `MADV_HUGEPAGE` so the kernel backs them with transparent huge pages
//! (a 10M-binding table spans ~130 MiB of buckets: with 4 KiB pages nearly
//! every lookup would also miss the TLB). Anonymous mappings are zero-filled
//! lazily by the kernel, so creating a big table does not touch its memory.
//! Small regions, or when `mmap` fails, come from the global allocator's
//! `alloc_zeroed`.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ptr::NonNull;

/// Types for which the all-zero bit pattern is a valid value.
///
/// # Safety
/// Implementors must be valid when every byte is zero.
pub unsafe trait Zeroable {}
unsafe impl Zeroable for u8 {}
unsafe impl Zeroable for u32 {}
unsafe impl Zeroable for u64 {}
unsafe impl Zeroable for std::sync::atomic::AtomicU64 {}

/// Prefetches the cache line at `p` into L1 (no-op on architectures without a prefetch
/// instruction here). Never faults, whatever `p` is.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch never faults.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

const HUGE_PAGE: usize = 2 << 20;
const MIN_ALIGN: usize = 64;

enum Backing {
    /// Nothing allocated (zero-length region).
    None,
    /// `alloc_zeroed` with this layout.
    Heap(Layout),
    /// Anonymous mapping of `len` bytes at the region's pointer; `hugetlb`: of
    /// reserved huge pages (`MAP_HUGETLB`).
    #[cfg(unix)]
    Mmap { len: usize, hugetlb: bool },
}

pub struct Region<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    backing: Backing,
    _owns: PhantomData<T>,
}

// SAFETY: a Region owns its elements like a Box<[T]>.
unsafe impl<T: Zeroable + Send> Send for Region<T> {}
unsafe impl<T: Zeroable + Sync> Sync for Region<T> {}

impl<T: Zeroable> Region<T> {
    /// `len` zeroed elements; `None` if the memory cannot be had.
    pub fn new_zeroed(len: usize, huge_pages: bool) -> Option<Self> {
        let bytes = len.checked_mul(size_of::<T>())?;
        if bytes == 0 {
            return Some(Self {
                ptr: NonNull::dangling(),
                len,
                backing: Backing::None,
                _owns: PhantomData,
            });
        }
        #[cfg(unix)]
        if huge_pages && bytes >= HUGE_PAGE {
            if let Some((ptr, map_len)) = mmap_aligned(bytes) {
                return Some(Self {
                    ptr: ptr.cast(),
                    len,
                    backing: Backing::Mmap {
                        len: map_len,
                        hugetlb: false,
                    },
                    _owns: PhantomData,
                });
            }
        }
        let _ = huge_pages;
        let layout = Layout::from_size_align(bytes, align_of::<T>().max(MIN_ALIGN)).ok()?;
        // SAFETY: layout has non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Self {
            ptr: ptr.cast(),
            len,
            backing: Backing::Heap(layout),
            _owns: PhantomData,
        })
    }

    /// `len` zeroed elements in reserved 2 MiB huge pages (`MAP_HUGETLB`: the
    /// hugetlbfs pool of `/proc/sys/vm/nr_hugepages`, not transparent huge pages);
    /// `None` if there are not enough free ones, if the region is smaller than one
    /// huge page (it would waste most of it), or not on Linux.
    pub fn new_zeroed_hugetlb(len: usize) -> Option<Self> {
        let bytes = len.checked_mul(size_of::<T>())?;
        if bytes < HUGE_PAGE {
            return None;
        }
        let map_len = bytes.checked_add(HUGE_PAGE - 1)? & !(HUGE_PAGE - 1);
        let ptr = mmap_hugetlb(map_len)?;
        Some(Self {
            ptr: ptr.cast(),
            len,
            #[cfg(unix)]
            backing: Backing::Mmap {
                len: map_len,
                hugetlb: true,
            },
            #[cfg(not(unix))]
            backing: Backing::None,
            _owns: PhantomData,
        })
    }

    /// Whether the region is in reserved huge pages ([`new_zeroed_hugetlb`](Self::new_zeroed_hugetlb)).
    pub fn is_hugetlb(&self) -> bool {
        #[cfg(unix)]
        if let Backing::Mmap { hugetlb, .. } = self.backing {
            return hugetlb;
        }
        false
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: ptr is valid for len zero-initialised (hence valid) T's.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as above, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Bytes of address space reserved for this region.
    pub fn reserved_bytes(&self) -> usize {
        match self.backing {
            Backing::None => 0,
            Backing::Heap(l) => l.size(),
            #[cfg(unix)]
            Backing::Mmap { len, .. } => len,
        }
    }

    /// Whether the region is an `mmap` advised for huge pages.
    pub fn is_mmap(&self) -> bool {
        #[cfg(unix)]
        if let Backing::Mmap { .. } = self.backing {
            return true;
        }
        false
    }
}

impl<T: Zeroable> Drop for Region<T> {
    fn drop(&mut self) {
        match self.backing {
            Backing::None => {}
            // SAFETY: allocated by alloc_zeroed with this layout.
            Backing::Heap(layout) => unsafe { dealloc(self.ptr.as_ptr().cast(), layout) },
            #[cfg(unix)]
            Backing::Mmap { len, .. } => {
                // SAFETY: we mapped exactly [ptr, ptr+len).
                unsafe { libc::munmap(self.ptr.as_ptr().cast(), len) };
            }
        }
    }
}

/// Maps `len` bytes (a multiple of 2 MiB) of reserved huge pages; the kernel hands out
/// zeroed pages aligned to their size.
#[cfg(target_os = "linux")]
fn mmap_hugetlb(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: anonymous private mapping, no file; checked for MAP_FAILED.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(raw.cast())
}

/// No reserved huge pages off Linux.
#[cfg(not(target_os = "linux"))]
fn mmap_hugetlb(_len: usize) -> Option<NonNull<u8>> {
    None
}

/// Maps `bytes` (rounded up to 2 MiB) at a 2 MiB-aligned address.
#[cfg(unix)]
fn mmap_aligned(bytes: usize) -> Option<(NonNull<u8>, usize)> {
    let len = bytes.checked_add(HUGE_PAGE - 1)? & !(HUGE_PAGE - 1);
    let over = len.checked_add(HUGE_PAGE)?;
    // SAFETY: anonymous private mapping, no file; checked for MAP_FAILED.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            over,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let start = raw as usize;
    let aligned = (start + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
    let head = aligned - start;
    let tail = over - head - len;
    // SAFETY: trimming the unused head and tail of our own mapping.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
        #[cfg(target_os = "linux")]
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    NonNull::new(aligned as *mut u8).map(|p| (p, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_region_is_zeroed_and_aligned() {
        let mut r = Region::<u64>::new_zeroed(1000, true).unwrap();
        assert!(!r.is_mmap());
        assert_eq!(r.as_slice().as_ptr() as usize % 64, 0);
        assert!(r.as_slice().iter().all(|&x| x == 0));
        r.as_mut_slice()[999] = 7;
        assert_eq!(r.as_slice()[999], 7);
    }

    /// Reserved huge pages: none on a machine without any (`None`, the caller falls
    /// back); where some are free, a zeroed, 2 MiB-aligned region marked as such.
    #[test]
    fn hugetlb_region_is_zeroed_or_absent() {
        assert!(Region::<u64>::new_zeroed_hugetlb(0).is_none());
        assert!(Region::<u64>::new_zeroed_hugetlb((HUGE_PAGE - 64) / 8).is_none());
        let n = (3 << 20) / 8;
        match Region::<u64>::new_zeroed_hugetlb(n) {
            None => assert!(!Region::<u64>::new_zeroed(n, true).unwrap().is_hugetlb()),
            Some(mut r) => {
                assert!(r.is_hugetlb() && r.is_mmap());
                assert_eq!(r.as_slice().as_ptr() as usize % HUGE_PAGE, 0);
                assert_eq!(r.reserved_bytes(), 4 << 20);
                assert!(r.as_slice().iter().all(|&x| x == 0));
                r.as_mut_slice()[n - 1] = 5;
                assert_eq!(r.as_slice()[n - 1], 5);
            }
        }
    }

    #[test]
    fn large_region_is_huge_page_aligned_mmap() {
        let n = (5 << 20) / 8 + 3;
        let mut r = Region::<u64>::new_zeroed(n, true).unwrap();
        #[cfg(unix)]
        {
            assert!(r.is_mmap());
            assert_eq!(r.as_slice().as_ptr() as usize % HUGE_PAGE, 0);
            assert_eq!(r.reserved_bytes(), 6 << 20);
        }
        assert!(r.as_slice().iter().all(|&x| x == 0));
        r.as_mut_slice()[n - 1] = 9;
        assert_eq!(r.as_slice()[n - 1], 9);
        let h = Region::<u64>::new_zeroed(n, false).unwrap();
        assert!(!h.is_mmap());
    }

    #[test]
    fn empty_region() {
        let r = Region::<u32>::new_zeroed(0, true).unwrap();
        assert!(r.as_slice().is_empty());
        assert_eq!(r.reserved_bytes(), 0);
    }
}
