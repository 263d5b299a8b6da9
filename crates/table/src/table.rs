//! The binding table: generations of cache-line buckets of one-word slots,
//! the single writer, and the workers' read-only views.

use crate::rcu::{Limbo, Rcu, RcuGuard};
use crate::region::{Region, Zeroable};
use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Slots (one `u64` word each) per bucket: one 64-byte cache line.
pub const SLOTS_PER_BUCKET: usize = 8;

const EMPTY_HOME: u32 = 0;
const TOMB_HOME: u32 = u32::MAX;
const EMPTY_WORD: u64 = 0;
const TOMB_WORD: u64 = (TOMB_HOME as u64) << 32;
/// What a retired generation's slots are overwritten with when
/// [`TableConfig::poison_retired`] is set (test support).
#[doc(hidden)]
pub const POISON_WORD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// One cache line of 8 slot words `home << 32 | coa`.
#[repr(C, align(64))]
pub(crate) struct Bucket(pub(crate) [AtomicU64; SLOTS_PER_BUCKET]);
// SAFETY: all-zero AtomicU64s are valid (and mean EMPTY).
unsafe impl Zeroable for Bucket {}

#[inline(always)]
fn word(home: u32, coa: u32) -> u64 {
    (u64::from(home) << 32) | u64::from(coa)
}

#[inline(always)]
fn home_of(w: u64) -> u32 {
    (w >> 32) as u32
}

#[inline(always)]
fn is_live(home: u32) -> bool {
    home != EMPTY_HOME && home != TOMB_HOME
}

/// Valid home addresses: anything but 0.0.0.0 and 255.255.255.255.
#[inline(always)]
pub fn is_valid_home(home: u32) -> bool {
    is_live(home)
}

/// Care-of field values with these top 4 bits (240.0.0.0/4, which the
/// care-of address policy never binds) are not addresses but
/// `NAT_TAG | index` into the NAT endpoint array.
const NAT_TAG: u32 = 0xF000_0000;
/// Largest number of NAT endpoints (28-bit index).
pub const MAX_NAT_ENDPOINTS: usize = 1 << 28;

#[inline(always)]
fn nat_index(coa: u32) -> Option<usize> {
    (coa & NAT_TAG == NAT_TAG).then_some((coa & !NAT_TAG) as usize)
}

/// A NAT endpoint word: `addr << 16 | port` (never 0 while in use: port != 0).
#[inline(always)]
fn endpoint_word(addr: u32, port: u16) -> u64 {
    (u64::from(addr) << 16) | u64::from(port)
}

#[inline(always)]
fn decode(w: u64, nat: &Region<AtomicU64>) -> Lookup {
    match w as u32 {
        0 => Lookup::Wwan,
        coa => match nat_index(coa) {
            None => Lookup::CareOf(coa),
            Some(i) => {
                // Acquire (free on x86): the writer stored the endpoint
                // (Release) before the slot word that names it.
                std::sync::atomic::fence(Ordering::Acquire);
                let e = match nat.as_slice().get(i) {
                    Some(e) => e.load(Ordering::Relaxed),
                    None => return Lookup::Miss,
                };
                Lookup::Nat {
                    addr: (e >> 16) as u32,
                    port: e as u16,
                }
            }
        },
    }
}

/// Result of a worker lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// No binding for this home address.
    Miss,
    /// Bound, without a care-of address: the mobile is on the WWAN.
    Wwan,
    /// Bound to this care-of address (IPv4, host order).
    CareOf(u32),
    /// Bound behind a NAT (RFC 3519): UDP-tunnel to this translated address
    /// and port (host order).
    Nat { addr: u32, port: u16 },
}

/// Result of [`TableWriter::upsert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Inserted,
    Updated,
}

/// Errors of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// `max_bindings` reached (the control plane answers code 130).
    #[error("binding table full")]
    Full,
    /// Home address 0.0.0.0 or 255.255.255.255.
    #[error("invalid home address")]
    InvalidKey,
    /// Care-of address 0.0.0.0 (use `None` for "no care-of address").
    #[error("invalid care-of address 0.0.0.0")]
    InvalidCareOf,
    /// A generation's memory could not be allocated (table unchanged).
    #[error("out of memory allocating a table generation")]
    OutOfMemory,
    /// Bad [`TableConfig`].
    #[error("invalid table configuration: {0}")]
    Config(&'static str),
}

/// A full binding as the writer knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding {
    pub home: u32,
    /// `None`: no care-of address (WWAN). With `port != 0`, the NAT's
    /// translated address the mobile's UDP tunnel comes from.
    pub coa: Option<u32>,
    /// 0: IP-in-IP to `coa`. Otherwise the UDP source port of the NAT
    /// mapping: MIP Tunnel Data (RFC 3519) to `coa:port`.
    pub port: u16,
    pub msisdn: u64,
    /// Seconds (monotonic or Unix, the caller's choice); expired when
    /// `expires_at <= now` in [`TableWriter::expire`].
    pub expires_at: u32,
}

/// Seed of the hash `bucket = (mul * home + add) mod 2^64 >> (64 - log2 buckets)`.
///
/// With `mul` odd and both words random this is the multiply-add-shift
/// family, strongly universal for 32-bit keys: which home addresses collide is
/// unpredictable without the seed. `mul = 0` sends every key to the same
/// bucket: only useful to test probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSeed {
    pub mul: u64,
    pub add: u64,
}

impl HashSeed {
    /// A per-process random seed (from std's `RandomState` keys).
    pub fn random() -> Self {
        let s = RandomState::new();
        HashSeed {
            mul: s.hash_one(0x006d_736d_5f6d_756c_u64) | 1,
            add: s.hash_one(0x006d_736d_5f61_6464_u64),
        }
    }

    #[inline(always)]
    fn hash(&self, home: u32) -> u64 {
        self.mul
            .wrapping_mul(u64::from(home))
            .wrapping_add(self.add)
    }
}

/// Table configuration.
#[derive(Debug, Clone)]
pub struct TableConfig {
    /// Bindings the first generation holds without growing (clamped to
    /// `max_bindings`). Size it for the expected peak so growth never happens
    /// in service.
    pub initial_capacity: usize,
    /// Hard cap: inserts beyond it fail with [`TableError::Full`].
    pub max_bindings: usize,
    /// `None`: random per table.
    pub hash_seed: Option<HashSeed>,
    /// `mmap` + `MADV_HUGEPAGE` for regions >= 2 MiB.
    pub huge_pages: bool,
    /// The bucket array (what lookups read) from reserved huge pages
    /// (`MAP_HUGETLB`) while there are enough free ones, else as `huge_pages` says.
    /// Off by default: reserved pages are usually DPDK's.
    pub hugetlb: bool,
    /// Test support: retired generations are overwritten with
    /// [`POISON_WORD`] and leaked (never unmapped) instead of freed, so a
    /// reader that used one after its grace period reads poison.
    #[doc(hidden)]
    pub poison_retired: bool,
}

impl TableConfig {
    /// Pre-sized for `max_bindings` (no growth), random seed, huge pages.
    pub fn new(max_bindings: usize) -> Self {
        TableConfig {
            initial_capacity: max_bindings,
            max_bindings,
            hash_seed: None,
            huge_pages: true,
            hugetlb: false,
            poison_retired: false,
        }
    }
}

/// Buckets for `capacity` bindings at load factor <= 3/4 (6 per bucket).
fn buckets_for(capacity: usize) -> Option<usize> {
    capacity.div_ceil(6).max(2).checked_next_power_of_two()
}

/// Live bindings beyond which the generation grows (load factor 3/4).
fn grow_limit(n_slots: usize) -> usize {
    n_slots / 4 * 3
}

/// Live + tombstone slots beyond which the generation is rebuilt (7/8).
fn occupied_limit(n_slots: usize) -> usize {
    n_slots / 8 * 7
}

/// Tombstones beyond which the generation is rebuilt (1/4).
fn tombstone_limit(n_slots: usize) -> usize {
    n_slots / 4
}

/// One immutable-geometry version of the table. Slots never move within a
/// generation; growth and tombstone cleanup build a new one.
pub(crate) struct Generation {
    buckets: Region<Bucket>,
    mask: usize,
    shift: u32,
    seed: HashSeed,
    /// Largest distance (in buckets) from a key's home bucket to its bucket
    /// that the writer ever created in this generation. Raised *before* the
    /// slot store that needs it.
    max_probe: AtomicUsize,
    id: u64,
    poison_on_free: bool,
    poisoned: AtomicBool,
}

impl Generation {
    fn new(
        n_buckets: usize,
        seed: HashSeed,
        id: u64,
        (huge_pages, hugetlb): (bool, bool),
        poison_on_free: bool,
    ) -> Result<Box<Self>, TableError> {
        debug_assert!(n_buckets.is_power_of_two() && n_buckets >= 2);
        let buckets = hugetlb
            .then(|| Region::new_zeroed_hugetlb(n_buckets))
            .flatten()
            .or_else(|| Region::new_zeroed(n_buckets, huge_pages))
            .ok_or(TableError::OutOfMemory)?;
        Ok(Box::new(Generation {
            buckets,
            mask: n_buckets - 1,
            shift: 64 - n_buckets.trailing_zeros(),
            seed,
            max_probe: AtomicUsize::new(0),
            id,
            poison_on_free,
            poisoned: AtomicBool::new(false),
        }))
    }

    #[inline(always)]
    fn home_bucket(&self, home: u32) -> usize {
        (self.seed.hash(home) >> self.shift) as usize
    }

    /// Bucket `i mod n_buckets`.
    #[inline(always)]
    fn bucket(&self, i: usize) -> &Bucket {
        // SAFETY: the region holds mask + 1 buckets.
        unsafe { self.buckets.as_slice().get_unchecked(i & self.mask) }
    }

    #[inline(always)]
    fn slot(&self, s: usize) -> &AtomicU64 {
        &self.bucket(s / SLOTS_PER_BUCKET).0[s % SLOTS_PER_BUCKET]
    }

    fn n_buckets(&self) -> usize {
        self.mask + 1
    }

    fn n_slots(&self) -> usize {
        self.n_buckets() * SLOTS_PER_BUCKET
    }

    fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
        for b in self.buckets.as_slice() {
            for w in &b.0 {
                w.store(POISON_WORD, Ordering::Release);
            }
        }
    }
}

/// A generation waiting in limbo for its grace period.
pub(crate) struct Retired(Option<Box<Generation>>);

impl Drop for Retired {
    fn drop(&mut self) {
        if let Some(g) = self.0.take() {
            if g.poison_on_free {
                g.poison();
                Box::leak(g);
            }
        }
    }
}

struct Shared {
    rcu: Arc<Rcu>,
    /// NAT endpoints (`addr << 16 | port`), indexed by the care-of field of
    /// a NAT binding's slot word; shared by all generations (indices survive
    /// resizes), `max_bindings` entries (lazily touched anonymous memory).
    nat: Region<AtomicU64>,
    /// Whether a NAT endpoint was ever allocated: until then a worker skips the
    /// endpoint prefetch pass ([`TableView::has_nat`]). Never goes back to false.
    nat_used: AtomicBool,
    current: AtomicPtr<Generation>,
    /// Retired generations left when the writer was dropped: freed when the
    /// last handle goes (then no reader can hold a view).
    orphans: Mutex<Vec<Retired>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let p = *self.current.get_mut();
        if !p.is_null() {
            // SAFETY: `current` owns its generation; no view can outlive us.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// Cloneable, `Send + Sync` read access to the table; every worker keeps
/// one and opens a [`TableView`] per burst.
#[derive(Clone)]
pub struct TableHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TableHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableHandle").finish_non_exhaustive()
    }
}

impl TableHandle {
    /// The current generation, for the duration of `guard`'s burst: one
    /// Acquire load of a pointer. Panics if `guard` belongs to another RCU
    /// domain than the table.
    #[inline]
    pub fn view<'a>(&'a self, guard: &'a RcuGuard<'_>) -> TableView<'a> {
        assert!(
            std::ptr::eq(guard.rcu(), &*self.shared.rcu),
            "RcuGuard from another RCU domain than the table's"
        );
        let p = self.shared.current.load(Ordering::Acquire);
        // SAFETY: the pointer was published (Release) after the generation
        // was built; it is retired only with an epoch published after it was
        // replaced, and reclaimed only once this reader reports an epoch at
        // least that large, which it cannot do before `guard` drops.
        TableView {
            gen: unsafe { &*p },
            nat: &self.shared.nat,
            nat_used: &self.shared.nat_used,
        }
    }

    /// The RCU domain of the table.
    pub fn rcu(&self) -> &Arc<Rcu> {
        &self.shared.rcu
    }
}

/// Compares `home` with the keys of a bucket's 8 slots at once: bit i of
/// the first result says slot i holds `home` (the caller re-reads that slot's
/// word atomically and checks it), the second whether some slot is empty.
/// No branch per slot. On x86-64 the line is read with four 16-byte SSE2
/// loads in inline assembly (hardware loads like the writer's 8-byte stores,
/// each 8-byte half single-copy atomic; outside the language's memory model,
/// so no data race in its sense), the 8 high halves (the keys) gathered with
/// two shuffles and compared with two `pcmpeqd`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn scan(bucket: &Bucket, home: u32) -> (u32, bool) {
    use std::arch::x86_64::{
        __m128i, _mm_castps_si128, _mm_castsi128_ps, _mm_cmpeq_epi32, _mm_movemask_ps,
        _mm_set1_epi32, _mm_setzero_si128, _mm_shuffle_ps,
    };
    let p = bucket.0.as_ptr();
    let (a, b, c, d): (__m128i, __m128i, __m128i, __m128i);
    // SAFETY: `bucket` is a live, 64-byte aligned line of 64 bytes; the
    // loads only read it.
    unsafe {
        std::arch::asm!(
            "movdqa {a}, xmmword ptr [{p}]",
            "movdqa {b}, xmmword ptr [{p} + 16]",
            "movdqa {c}, xmmword ptr [{p} + 32]",
            "movdqa {d}, xmmword ptr [{p} + 48]",
            p = in(reg) p,
            a = out(xmm_reg) a,
            b = out(xmm_reg) b,
            c = out(xmm_reg) c,
            d = out(xmm_reg) d,
            options(nostack, readonly, preserves_flags),
        );
    }
    // SAFETY: SSE2 is part of the x86-64 baseline.
    unsafe {
        // Each slot is `home << 32 | coa`, little-endian: its key is the odd
        // 32-bit lane. 0xDD picks lanes 1, 3 of the first operand, then of the
        // second: the keys of slots 0-3, and of slots 4-7.
        let k03 = _mm_castps_si128(_mm_shuffle_ps::<0xDD>(
            _mm_castsi128_ps(a),
            _mm_castsi128_ps(b),
        ));
        let k47 = _mm_castps_si128(_mm_shuffle_ps::<0xDD>(
            _mm_castsi128_ps(c),
            _mm_castsi128_ps(d),
        ));
        let key = _mm_set1_epi32(home as i32);
        let zero = _mm_setzero_si128();
        let mask = |v| _mm_movemask_ps(_mm_castsi128_ps(v)) as u32;
        let hit = mask(_mm_cmpeq_epi32(k03, key)) | mask(_mm_cmpeq_epi32(k47, key)) << 4;
        let empty = mask(_mm_cmpeq_epi32(k03, zero)) | mask(_mm_cmpeq_epi32(k47, zero));
        (hit, empty != 0)
    }
}

/// [`scan`] without SIMD: each word loaded once (relaxed), the masks built
/// without a branch per slot.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn scan(bucket: &Bucket, home: u32) -> (u32, bool) {
    let key = u64::from(home);
    let mut hit = 0u32;
    let mut empty = false;
    for (i, w) in bucket.0.iter().enumerate() {
        let v = w.load(Ordering::Relaxed);
        hit |= u32::from(v >> 32 == key) << i;
        empty |= v >> 32 == 0;
    }
    (hit, empty)
}

/// A worker's view of one generation, valid for one burst.
#[derive(Clone, Copy)]
pub struct TableView<'a> {
    gen: &'a Generation,
    nat: &'a Region<AtomicU64>,
    nat_used: &'a AtomicBool,
}

impl std::fmt::Debug for TableView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableView")
            .field("generation", &self.gen.id)
            .finish()
    }
}

impl TableView<'_> {
    /// Looks `home` up: relaxed loads of one or (rarely) a few cache lines.
    #[inline]
    pub fn lookup(&self, home: u32) -> Lookup {
        if !is_live(home) {
            return Lookup::Miss;
        }
        let g = self.gen;
        let key = u64::from(home);
        let mut b = g.home_bucket(home);
        let mut left = g.max_probe.load(Ordering::Relaxed);
        loop {
            let bucket = g.bucket(b);
            let (hit, empty) = scan(bucket, home);
            if hit != 0 {
                // Relaxed: the word is the whole binding (no pointer to
                // follow); publication is ordered by the burst's epoch load.
                let v = bucket.0[hit.trailing_zeros() as usize & (SLOTS_PER_BUCKET - 1)]
                    .load(Ordering::Relaxed);
                if v >> 32 == key {
                    return decode(v, self.nat);
                }
                // The writer changed that slot since the scan read it: decide
                // on words loaded one by one.
                return self.lookup_scalar(home);
            }
            if empty || left == 0 {
                return Lookup::Miss;
            }
            left -= 1;
            b = b.wrapping_add(1);
        }
    }

    /// [`lookup`](Self::lookup) reading the slot words one by one (the
    /// fallback when a slot changed under the line scan).
    #[cold]
    #[inline(never)]
    fn lookup_scalar(&self, home: u32) -> Lookup {
        let g = self.gen;
        let key = u64::from(home);
        let mut b = g.home_bucket(home);
        let mut left = g.max_probe.load(Ordering::Relaxed);
        loop {
            let mut empty = false;
            for w in &g.bucket(b).0 {
                let v = w.load(Ordering::Relaxed);
                if v >> 32 == key {
                    return decode(v, self.nat);
                }
                empty |= v >> 32 == 0;
            }
            if empty || left == 0 {
                return Lookup::Miss;
            }
            left -= 1;
            b = b.wrapping_add(1);
        }
    }

    /// Prefetches `home`'s home bucket into L2 (no-op on architectures
    /// without a prefetch instruction here). Prefetch a whole burst, then
    /// look it up; the worker looks a burst up one burst later, by which
    /// time lines prefetched into L1 (`T0`) had been evicted by the next
    /// burst's packets: measured with `examples/pipebench.rs ... ahead` at
    /// 10M bindings, T0 one burst ahead cost ~100 TSC ticks/packet more than
    /// T1, which costs the same as T0 without the lookahead.
    #[inline]
    pub fn prefetch(&self, home: u32) {
        let p = self.gen.bucket(self.gen.home_bucket(home)) as *const Bucket;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetch never faults; the address is in our region anyway.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
            _mm_prefetch::<_MM_HINT_T1>(p.cast());
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        unsafe {
            std::arch::asm!("prfm pldl2keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags));
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = p;
    }

    /// Whether the table has ever held a NAT binding (one relaxed load): the
    /// worker runs its endpoint prefetch pass only then.
    #[inline]
    pub fn has_nat(&self) -> bool {
        self.nat_used.load(Ordering::Relaxed)
    }

    /// If `home` is bound behind a NAT, prefetches its endpoint word (the
    /// second memory access of its lookup, in its own array). Reads `home`'s
    /// home bucket, which should be in cache already ([`prefetch`] one burst
    /// earlier); does not follow probes (a binding displaced from its home
    /// bucket just gets no prefetch). Call it a little before the lookup.
    ///
    /// [`prefetch`]: Self::prefetch
    #[inline]
    pub fn prefetch_endpoint(&self, home: u32) {
        let g = self.gen;
        let bucket = g.bucket(g.home_bucket(home));
        let (hit, _) = scan(bucket, home);
        if hit == 0 {
            return;
        }
        let v = bucket.0[hit.trailing_zeros() as usize & (SLOTS_PER_BUCKET - 1)]
            .load(Ordering::Relaxed);
        let Some(i) = nat_index(v as u32) else {
            return;
        };
        if let Some(e) = self.nat.as_slice().get(i) {
            let p = e as *const AtomicU64;
            #[cfg(target_arch = "x86_64")]
            // SAFETY: prefetch never faults; the address is in our region.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(p.cast());
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = p;
        }
    }

    /// Id of the generation this view reads (increments on every
    /// growth/rebuild).
    pub fn generation(&self) -> u64 {
        self.gen.id
    }

    /// Test support: like [`lookup`](Self::lookup) but returns `Err(word)`
    /// if the generation has been poisoned or a poison word was read (only
    /// possible with [`TableConfig::poison_retired`] and a reader bug).
    #[doc(hidden)]
    pub fn lookup_checked(&self, home: u32) -> Result<Lookup, u64> {
        let g = self.gen;
        if g.poisoned.load(Ordering::SeqCst) {
            return Err(POISON_WORD);
        }
        if !is_live(home) {
            return Ok(Lookup::Miss);
        }
        let key = u64::from(home);
        let mut b = g.home_bucket(home);
        let mut left = g.max_probe.load(Ordering::Relaxed);
        loop {
            let mut empty = false;
            for w in &g.bucket(b).0 {
                let v = w.load(Ordering::Relaxed);
                if v == POISON_WORD {
                    return Err(v);
                }
                if v >> 32 == key {
                    return Ok(decode(v, self.nat));
                }
                empty |= v >> 32 == 0;
            }
            if empty || left == 0 {
                return Ok(Lookup::Miss);
            }
            left -= 1;
            b = b.wrapping_add(1);
        }
    }

    /// Test support: whether this view's generation has been poisoned.
    #[doc(hidden)]
    pub fn is_poisoned(&self) -> bool {
        self.gen.poisoned.load(Ordering::SeqCst)
    }
}

/// Counters and geometry of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    pub len: usize,
    pub tombstones: usize,
    pub buckets: usize,
    pub slots: usize,
    /// Bindings the current generation holds before it grows.
    pub capacity: usize,
    pub max_bindings: usize,
    /// Longest probe (buckets beyond the home bucket) in this generation.
    pub max_probe: usize,
    /// Id of the current generation (0 for the first).
    pub generation: u64,
    pub growths: u64,
    /// Same-size rebuilds (tombstone cleanup or explicit `rebuild`).
    pub rebuilds: u64,
    pub memory_bytes: usize,
    /// Whether the bucket array is an mmap advised for huge pages.
    pub huge_pages: bool,
    /// Whether the bucket array is in reserved huge pages ([`TableConfig::hugetlb`]).
    pub hugetlb: bool,
    /// Retired generations still waiting for a grace period.
    pub retired_pending: usize,
}

/// Outcome of one [`TableWriter::expire`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpireProgress {
    pub scanned: usize,
    pub expired: usize,
    /// The cursor reached the end of the table and went back to slot 0 (a
    /// sweep is complete; the call stops there).
    pub wrapped: bool,
}

#[derive(Clone, Copy)]
enum Resize {
    Grow,
    Rebuild,
}

/// The single writer (control core). `Send`, not `Sync`, not `Clone`.
pub struct TableWriter {
    shared: Arc<Shared>,
    gen: NonNull<Generation>,
    /// Writer-private metadata, parallel to the slots of `gen`.
    msisdn: Region<u64>,
    expires: Region<u32>,
    len: usize,
    tombstones: usize,
    max_bindings: usize,
    huge_pages: bool,
    hugetlb: bool,
    poison: bool,
    seed: HashSeed,
    growths: u64,
    rebuilds: u64,
    cursor: usize,
    limbo: Limbo<Retired>,
    /// NAT endpoint indices: never used beyond `nat_next`; `nat_free` can be
    /// reused now; `nat_unpublished` were released since the last publish;
    /// `nat_grace` wait for the grace period of the epoch they carry (a
    /// reader may still hold a slot word naming them).
    nat_next: usize,
    nat_free: Vec<u32>,
    nat_unpublished: Vec<u32>,
    nat_grace: std::collections::VecDeque<(u64, u32)>,
    nat_len: usize,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: the writer owns its private state; the generation it points to is
// shared with readers only through atomics.
unsafe impl Send for TableWriter {}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("stats", &self.stats())
            .finish()
    }
}

/// The writer's reference to its current generation, detached from the
/// borrow of `self` so metadata can be updated alongside. Only valid until
/// the next resize, which the callers respect.
#[inline(always)]
fn gen_ref<'x>(p: NonNull<Generation>) -> &'x Generation {
    // SAFETY: the current generation lives at least until the writer retires
    // it (resize), and no caller holds the reference across a resize.
    unsafe { &*p.as_ptr() }
}

impl TableWriter {
    /// A new, empty table in the RCU domain `rcu`.
    pub fn new(config: TableConfig, rcu: Arc<Rcu>) -> Result<Self, TableError> {
        if config.max_bindings == 0 {
            return Err(TableError::Config("max_bindings must be > 0"));
        }
        let cap = config.initial_capacity.clamp(1, config.max_bindings);
        let n_buckets = buckets_for(cap).ok_or(TableError::OutOfMemory)?;
        let seed = config.hash_seed.unwrap_or_else(HashSeed::random);
        let pages = (config.huge_pages, config.hugetlb);
        let gen = Generation::new(n_buckets, seed, 0, pages, config.poison_retired)?;
        let n_slots = gen.n_slots();
        let msisdn =
            Region::new_zeroed(n_slots, config.huge_pages).ok_or(TableError::OutOfMemory)?;
        let expires =
            Region::new_zeroed(n_slots, config.huge_pages).ok_or(TableError::OutOfMemory)?;
        let gen = NonNull::from(Box::leak(gen));
        // Room for every binding behind a NAT, plus slack for indices in
        // their grace period (virtual memory: only used entries are touched).
        let nat_cap = config.max_bindings + config.max_bindings / 8 + 64;
        if nat_cap > MAX_NAT_ENDPOINTS {
            return Err(TableError::Config("max_bindings above 2^28 * 8/9"));
        }
        let nat = Region::new_zeroed(nat_cap, config.huge_pages).ok_or(TableError::OutOfMemory)?;
        let shared = Arc::new(Shared {
            nat,
            nat_used: AtomicBool::new(false),
            rcu,
            current: AtomicPtr::new(gen.as_ptr()),
            orphans: Mutex::new(Vec::new()),
        });
        Ok(TableWriter {
            shared,
            gen,
            msisdn,
            expires,
            len: 0,
            tombstones: 0,
            max_bindings: config.max_bindings,
            huge_pages: config.huge_pages,
            hugetlb: config.hugetlb,
            poison: config.poison_retired,
            seed,
            growths: 0,
            rebuilds: 0,
            cursor: 0,
            limbo: Limbo::new(),
            nat_next: 0,
            nat_free: Vec::new(),
            nat_unpublished: Vec::new(),
            nat_grace: std::collections::VecDeque::new(),
            nat_len: 0,
            _not_sync: PhantomData,
        })
    }

    /// A read handle for the workers.
    pub fn handle(&self) -> TableHandle {
        TableHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The table's RCU domain.
    pub fn rcu(&self) -> &Arc<Rcu> {
        &self.shared.rcu
    }

    #[inline(always)]
    fn gen(&self) -> &'static Generation {
        gen_ref(self.gen)
    }

    /// Slot of `home` if present.
    fn find(&self, home: u32) -> Option<usize> {
        let g = self.gen();
        let mut b = g.home_bucket(home);
        let max_probe = g.max_probe.load(Ordering::Relaxed);
        for _ in 0..=max_probe {
            let mut empty = false;
            for (j, w) in g.bucket(b).0.iter().enumerate() {
                let h = home_of(w.load(Ordering::Relaxed));
                if h == home {
                    return Some((b & g.mask) * SLOTS_PER_BUCKET + j);
                }
                empty |= h == EMPTY_HOME;
            }
            if empty {
                return None;
            }
            b = b.wrapping_add(1);
        }
        None
    }

    /// First free (EMPTY or TOMBSTONE) slot along `home`'s probe sequence:
    /// (slot, distance in buckets, was EMPTY).
    fn first_free(g: &Generation, home: u32) -> Option<(usize, usize, bool)> {
        let mut b = g.home_bucket(home);
        for d in 0..g.n_buckets() {
            for (j, w) in g.bucket(b).0.iter().enumerate() {
                let h = home_of(w.load(Ordering::Relaxed));
                if h == EMPTY_HOME || h == TOMB_HOME {
                    return Some(((b & g.mask) * SLOTS_PER_BUCKET + j, d, h == EMPTY_HOME));
                }
            }
            b = b.wrapping_add(1);
        }
        None
    }

    /// Inserts or updates the binding of `home`. An update is one store into
    /// the binding's slot; an insert is one store into a free slot (after
    /// possibly raising the generation's `max_probe`). Neither is visible to
    /// `visible()` accounting until [`publish`](Self::publish), though
    /// workers may already see it.
    pub fn upsert(
        &mut self,
        home: u32,
        coa: Option<u32>,
        msisdn: u64,
        expires_at: u32,
    ) -> Result<Upsert, TableError> {
        self.upsert_endpoint(home, coa, 0, msisdn, expires_at)
    }

    /// [`upsert`](Self::upsert) with a UDP port: `port != 0` binds `home`
    /// behind a NAT to `coa:port` (RFC 3519; `coa` must be set). The
    /// endpoint lives in the NAT array, the slot word names its index; an
    /// endpoint change of a NAT binding is one store into its entry, a change
    /// between NAT and not one store of the slot word (the entry is written
    /// first). A released index is reused only after a grace period.
    pub fn upsert_endpoint(
        &mut self,
        home: u32,
        coa: Option<u32>,
        port: u16,
        msisdn: u64,
        expires_at: u32,
    ) -> Result<Upsert, TableError> {
        if !is_live(home) {
            return Err(TableError::InvalidKey);
        }
        let coa = match coa {
            Some(0) => return Err(TableError::InvalidCareOf),
            Some(c) if port == 0 && nat_index(c).is_some() => {
                return Err(TableError::InvalidCareOf)
            }
            Some(c) => c,
            None if port != 0 => return Err(TableError::InvalidCareOf),
            None => 0,
        };
        let found = self.find(home);
        let old_nat =
            found.and_then(|s| nat_index(self.gen().slot(s).load(Ordering::Relaxed) as u32));
        let field = if port == 0 {
            coa
        } else {
            let i = match old_nat {
                Some(i) => i,
                None => {
                    if found.is_none() && self.len >= self.max_bindings {
                        return Err(TableError::Full);
                    }
                    self.nat_alloc().ok_or(TableError::Full)?
                }
            };
            let e = &self.shared.nat.as_slice()[i];
            let ew = endpoint_word(coa, port);
            if e.load(Ordering::Relaxed) != ew {
                e.store(ew, Ordering::Release);
            }
            NAT_TAG | i as u32
        };
        let w = word(home, field);
        if let Some(s) = found {
            let slot = self.gen().slot(s);
            if slot.load(Ordering::Relaxed) != w {
                slot.store(w, Ordering::Release);
            }
            if port == 0 {
                if let Some(i) = old_nat {
                    self.nat_release(i);
                }
            }
            self.msisdn.as_mut_slice()[s] = msisdn;
            self.expires.as_mut_slice()[s] = expires_at;
            return Ok(Upsert::Updated);
        }
        let r = self.insert_word(home, w, msisdn, expires_at);
        if r.is_err() {
            if let Some(i) = nat_index(field) {
                // Never named by a slot: reusable at once.
                self.shared.nat.as_slice()[i].store(0, Ordering::Relaxed);
                self.nat_free.push(i as u32);
                self.nat_len -= 1;
            }
        }
        r
    }

    /// A NAT endpoint index: a reusable one, else a fresh one.
    fn nat_alloc(&mut self) -> Option<usize> {
        self.nat_reclaim();
        let i = match self.nat_free.pop() {
            Some(i) => i as usize,
            None if self.nat_next < self.shared.nat.len() => {
                if self.nat_next == 0 {
                    self.shared.nat_used.store(true, Ordering::Relaxed);
                }
                self.nat_next += 1;
                self.nat_next - 1
            }
            None => return None,
        };
        self.nat_len += 1;
        Some(i)
    }

    /// Index `i` is no longer named by any slot of the current table: free
    /// after the next publication's grace period.
    fn nat_release(&mut self, i: usize) {
        self.nat_unpublished.push(i as u32);
        self.nat_len -= 1;
    }

    /// After a publication at epoch `e`: released indices wait for it.
    fn nat_published(&mut self, e: u64) {
        for i in self.nat_unpublished.drain(..) {
            self.nat_grace.push_back((e, i));
        }
        self.nat_reclaim();
    }

    fn nat_reclaim(&mut self) {
        while let Some(&(e, i)) = self.nat_grace.front() {
            if !self.shared.rcu.visible(e) {
                break;
            }
            self.nat_grace.pop_front();
            self.nat_free.push(i);
        }
    }

    /// NAT bindings in the table.
    pub fn nat_len(&self) -> usize {
        self.nat_len
    }

    /// NAT endpoint indices released but not reusable yet (waiting for a
    /// grace period).
    pub fn nat_in_grace(&self) -> usize {
        self.nat_unpublished.len() + self.nat_grace.len()
    }

    /// Inserts the word `w` of a `home` known to be absent.
    fn insert_word(
        &mut self,
        home: u32,
        w: u64,
        msisdn: u64,
        expires_at: u32,
    ) -> Result<Upsert, TableError> {
        if self.len >= self.max_bindings {
            return Err(TableError::Full);
        }
        if self.len + 1 > grow_limit(self.gen().n_slots()) {
            let n = self
                .gen()
                .n_buckets()
                .checked_mul(2)
                .ok_or(TableError::OutOfMemory)?;
            self.resize_to(n, Resize::Grow)?;
        }
        let mut free = Self::first_free(self.gen(), home);
        if let Some((_, _, true)) = free {
            if self.len + self.tombstones + 1 > occupied_limit(self.gen().n_slots()) {
                self.resize_to(self.gen().n_buckets(), Resize::Rebuild)?;
                free = Self::first_free(self.gen(), home);
            }
        }
        // Occupancy <= 7/8 guarantees a free slot.
        let (s, dist, was_empty) = free.ok_or(TableError::Full)?;
        let g = self.gen();
        if dist > g.max_probe.load(Ordering::Relaxed) {
            g.max_probe.store(dist, Ordering::Release);
        }
        g.slot(s).store(w, Ordering::Release);
        self.msisdn.as_mut_slice()[s] = msisdn;
        self.expires.as_mut_slice()[s] = expires_at;
        self.len += 1;
        if !was_empty {
            self.tombstones -= 1;
        }
        Ok(Upsert::Inserted)
    }

    /// Removes the binding of `home`; `false` if there was none.
    pub fn remove(&mut self, home: u32) -> bool {
        if !is_live(home) {
            return false;
        }
        match self.find(home) {
            Some(s) => {
                self.remove_slot(s);
                self.maybe_compact();
                true
            }
            None => false,
        }
    }

    /// Empties live slot `s`: EMPTY if its bucket already has an EMPTY slot
    /// (no probe sequence continues past such a bucket, so nobody can be cut
    /// off), TOMBSTONE otherwise.
    fn remove_slot(&mut self, s: usize) {
        let g = self.gen();
        let nat = nat_index(g.slot(s).load(Ordering::Relaxed) as u32);
        let bucket = g.bucket(s / SLOTS_PER_BUCKET);
        let has_empty = bucket
            .0
            .iter()
            .any(|w| home_of(w.load(Ordering::Relaxed)) == EMPTY_HOME);
        if has_empty {
            g.slot(s).store(EMPTY_WORD, Ordering::Release);
        } else {
            g.slot(s).store(TOMB_WORD, Ordering::Release);
            self.tombstones += 1;
        }
        self.msisdn.as_mut_slice()[s] = 0;
        self.expires.as_mut_slice()[s] = 0;
        self.len -= 1;
        if let Some(i) = nat {
            self.nat_release(i);
        }
    }

    fn maybe_compact(&mut self) {
        if self.tombstones > tombstone_limit(self.gen().n_slots()) {
            // On allocation failure the table stays correct, only slower.
            let _ = self.resize_to(self.gen().n_buckets(), Resize::Rebuild);
        }
    }

    /// Prefetches `home`'s home bucket (the control lcore prefetches a batch before
    /// deciding it).
    #[inline]
    pub fn prefetch(&self, home: u32) {
        let g = self.gen();
        crate::region::prefetch(g.bucket(g.home_bucket(home)) as *const Bucket);
    }

    /// The full binding of `home`.
    pub fn get(&self, home: u32) -> Option<Binding> {
        if !is_live(home) {
            return None;
        }
        self.find(home).map(|s| self.binding_at(s))
    }

    fn binding_at(&self, s: usize) -> Binding {
        let w = self.gen().slot(s).load(Ordering::Relaxed);
        let (coa, port) = match decode(w, &self.shared.nat) {
            Lookup::CareOf(c) => (Some(c), 0),
            Lookup::Nat { addr, port } => (Some(addr), port),
            Lookup::Wwan | Lookup::Miss => (None, 0),
        };
        Binding {
            home: home_of(w),
            coa,
            port,
            msisdn: self.msisdn.as_slice()[s],
            expires_at: self.expires.as_slice()[s],
        }
    }

    /// Every binding, in slot order (e.g. for journal compaction).
    pub fn iter(&self) -> impl Iterator<Item = Binding> + '_ {
        let g = self.gen();
        (0..g.n_slots())
            .filter(move |&s| is_live(home_of(g.slot(s).load(Ordering::Relaxed))))
            .map(move |s| self.binding_at(s))
    }

    /// Incremental expiry: examines at most `max_slots` slots from an internal
    /// cursor (wrapping), removes bindings with `expires_at <= now` and
    /// appends them to `out`. Bounded work per call; call it every tick. A
    /// call stops at the end of the table (`wrapped`). The cursor restarts at
    /// 0 when the generation changes.
    pub fn expire(&mut self, now: u32, max_slots: usize, out: &mut Vec<Binding>) -> ExpireProgress {
        let n = self.gen().n_slots();
        let mut p = ExpireProgress::default();
        for _ in 0..max_slots.min(n) {
            let s = self.cursor;
            let h = home_of(self.gen().slot(s).load(Ordering::Relaxed));
            if is_live(h) && self.expires.as_slice()[s] <= now {
                out.push(self.binding_at(s));
                self.remove_slot(s);
                p.expired += 1;
            }
            p.scanned += 1;
            self.cursor += 1;
            if self.cursor == n {
                self.cursor = 0;
                p.wrapped = true;
                break;
            }
        }
        self.maybe_compact();
        p
    }

    /// Rebuilds into a fresh generation sized for `max(len, min_capacity)`
    /// bindings (grows, shrinks, or just drops tombstones). O(len); the old
    /// generation is retired by RCU. Publishes.
    pub fn rebuild(&mut self, min_capacity: usize) -> Result<(), TableError> {
        let n = buckets_for(
            self.len
                .max(min_capacity)
                .min(self.max_bindings.max(self.len)),
        )
        .ok_or(TableError::OutOfMemory)?;
        self.resize_to(n, Resize::Rebuild)
    }

    /// Builds a new generation of `n_buckets` holding every live binding,
    /// publishes it and retires the old one.
    fn resize_to(&mut self, n_buckets: usize, kind: Resize) -> Result<(), TableError> {
        let old = self.gen();
        let new = Generation::new(
            n_buckets,
            self.seed,
            old.id + 1,
            (self.huge_pages, self.hugetlb),
            self.poison,
        )?;
        let n_slots = new.n_slots();
        let oom = TableError::OutOfMemory;
        let mut msisdn = Region::<u64>::new_zeroed(n_slots, self.huge_pages).ok_or(oom)?;
        let mut expires = Region::<u32>::new_zeroed(n_slots, self.huge_pages).ok_or(oom)?;
        debug_assert!(self.len <= grow_limit(n_slots));
        let (old_msisdn, old_expires) = (self.msisdn.as_slice(), self.expires.as_slice());
        let (new_msisdn, new_expires) = (msisdn.as_mut_slice(), expires.as_mut_slice());
        let mut max_probe = 0;
        // Slots used per new bucket: a fresh generation has no tombstones,
        // so the first free slot of a bucket is slot `fill[b]`. (Counting
        // here instead of reading the new, untouched memory also avoids
        // mapping the zero page first and faulting again on the write.)
        let mut fill = vec![0u8; n_buckets];
        for s in 0..old.n_slots() {
            let w = old.slot(s).load(Ordering::Relaxed);
            if !is_live(home_of(w)) {
                continue;
            }
            let mut b = new.home_bucket(home_of(w));
            let mut d = 0;
            while usize::from(fill[b]) == SLOTS_PER_BUCKET {
                b = (b + 1) & new.mask;
                d += 1;
            }
            let ns = b * SLOTS_PER_BUCKET + usize::from(fill[b]);
            fill[b] += 1;
            new.slot(ns).store(w, Ordering::Relaxed);
            new_msisdn[ns] = old_msisdn[s];
            new_expires[ns] = old_expires[s];
            max_probe = max_probe.max(d);
        }
        new.max_probe.store(max_probe, Ordering::Relaxed);
        let new = NonNull::from(Box::leak(new));
        // Release: the generation's contents before the pointer.
        self.shared.current.store(new.as_ptr(), Ordering::Release);
        let old = std::mem::replace(&mut self.gen, new);
        self.msisdn = msisdn;
        self.expires = expires;
        self.tombstones = 0;
        self.cursor = 0;
        match kind {
            Resize::Grow => self.growths += 1,
            Resize::Rebuild => self.rebuilds += 1,
        }
        // Readers that load this epoch see the new pointer; the old
        // generation is freed once every reader has reported it.
        let e = self.shared.rcu.publish();
        // SAFETY: `old` came from Box::leak and is no longer reachable by
        // new readers.
        self.limbo
            .defer_free(e, Retired(Some(unsafe { Box::from_raw(old.as_ptr()) })));
        self.limbo.reclaim(&self.shared.rcu);
        self.nat_published(e);
        Ok(())
    }

    /// Publishes the changes made so far (advances the RCU epoch) and frees
    /// retired generations whose grace period has elapsed. Returns the
    /// epoch: once [`visible`](Self::visible)`(epoch)`, every worker sees the
    /// changes. O(1) plus reclamation: never a table copy.
    pub fn publish(&mut self) -> u64 {
        let e = self.shared.rcu.publish();
        self.limbo.reclaim(&self.shared.rcu);
        self.nat_published(e);
        e
    }

    /// Whether every online worker has completed a burst begun at `epoch`
    /// or later.
    pub fn visible(&self, epoch: u64) -> bool {
        self.shared.rcu.visible(epoch)
    }

    /// Publishes and waits until every worker has seen it, then reclaims.
    pub fn synchronize(&mut self) -> u64 {
        let e = self.shared.rcu.synchronize();
        self.limbo.reclaim(&self.shared.rcu);
        self.nat_published(e);
        e
    }

    /// Frees retired generations whose grace period has elapsed.
    pub fn reclaim(&mut self) -> usize {
        self.limbo.reclaim(&self.shared.rcu)
    }

    /// Live bindings.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bindings the current generation holds before it must grow.
    pub fn capacity(&self) -> usize {
        grow_limit(self.gen().n_slots())
    }

    pub fn max_bindings(&self) -> usize {
        self.max_bindings
    }

    /// Memory of the current generation: bucket array + writer metadata
    /// (reserved sizes, including huge-page rounding). Excludes retired
    /// generations still in limbo.
    pub fn memory_bytes(&self) -> usize {
        self.gen().buckets.reserved_bytes()
            + self.nat_next * std::mem::size_of::<u64>()
            + self.msisdn.reserved_bytes()
            + self.expires.reserved_bytes()
            + std::mem::size_of::<Generation>()
    }

    pub fn stats(&self) -> TableStats {
        let g = self.gen();
        TableStats {
            len: self.len,
            tombstones: self.tombstones,
            buckets: g.n_buckets(),
            slots: g.n_slots(),
            capacity: self.capacity(),
            max_bindings: self.max_bindings,
            max_probe: g.max_probe.load(Ordering::Relaxed),
            generation: g.id,
            growths: self.growths,
            rebuilds: self.rebuilds,
            memory_bytes: self.memory_bytes(),
            huge_pages: g.buckets.is_mmap(),
            hugetlb: g.buckets.is_hugetlb(),
            retired_pending: self.limbo.len(),
        }
    }

    #[cfg(test)]
    fn raw_slot(&self, s: usize) -> u64 {
        self.gen().slot(s).load(Ordering::Relaxed)
    }

    /// Home bucket of `home` in the current generation (tests).
    #[cfg(test)]
    fn home_bucket(&self, home: u32) -> usize {
        self.gen().home_bucket(home)
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        self.limbo.reclaim(&self.shared.rcu);
        if !self.limbo.is_empty() {
            let mut orphans = self
                .shared
                .orphans
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            orphans.extend(self.limbo.drain_all());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const COLLIDE: HashSeed = HashSeed { mul: 0, add: 0 };

    fn table(
        cfg: TableConfig,
        n_readers: usize,
    ) -> (TableWriter, TableHandle, Vec<crate::RcuReader>) {
        let (rcu, readers) = Rcu::new(n_readers);
        let w = TableWriter::new(cfg, rcu).unwrap();
        let h = w.handle();
        (w, h, readers)
    }

    fn cfg(initial: usize, max: usize, seed: Option<HashSeed>) -> TableConfig {
        TableConfig {
            initial_capacity: initial,
            max_bindings: max,
            hash_seed: seed,
            huge_pages: false,
            hugetlb: false,
            poison_retired: false,
        }
    }

    fn look(h: &TableHandle, r: &mut crate::RcuReader, home: u32) -> Lookup {
        let g = r.begin();
        let v = h.view(&g);
        v.lookup(home)
    }

    #[test]
    fn has_nat_turns_on_with_the_first_nat_binding_and_endpoint_prefetch_is_harmless() {
        let (mut w, h, mut rs) = table(TableConfig::new(1000), 1);
        let r = &mut rs[0];
        w.upsert(0x0a00_0001, Some(0xc0a8_0101), 1, 100).unwrap();
        w.publish();
        {
            let g = r.begin();
            let v = h.view(&g);
            assert!(!v.has_nat(), "no NAT binding yet");
            // Plain binding, unbound address, non-live key: no endpoint, no fault.
            v.prefetch_endpoint(0x0a00_0001);
            v.prefetch_endpoint(0x0a00_0099);
            v.prefetch_endpoint(0);
        }
        w.upsert_endpoint(0x0a00_0002, Some(0xcb00_7142), 4500, 2, 100)
            .unwrap();
        w.publish();
        let g = r.begin();
        let v = h.view(&g);
        assert!(v.has_nat());
        v.prefetch_endpoint(0x0a00_0002);
        // The prefetch changes nothing the lookup sees.
        assert_eq!(
            v.lookup(0x0a00_0002),
            Lookup::Nat {
                addr: 0xcb00_7142,
                port: 4500
            }
        );
        assert_eq!(v.lookup(0x0a00_0001), Lookup::CareOf(0xc0a8_0101));
    }

    #[test]
    fn insert_update_remove_get() {
        let (mut w, h, mut rs) = table(TableConfig::new(1000), 1);
        let r = &mut rs[0];
        assert_eq!(
            w.upsert(0x0a00_0001, None, 46_700_000_001, 100),
            Ok(Upsert::Inserted)
        );
        assert_eq!(
            w.upsert(0x0a00_0002, Some(0xc0a8_0102), 46_700_000_002, 200),
            Ok(Upsert::Inserted)
        );
        assert_eq!(w.len(), 2);
        assert_eq!(look(&h, r, 0x0a00_0001), Lookup::Wwan);
        assert_eq!(look(&h, r, 0x0a00_0002), Lookup::CareOf(0xc0a8_0102));
        assert_eq!(look(&h, r, 0x0a00_0003), Lookup::Miss);
        assert_eq!(
            w.get(0x0a00_0002),
            Some(Binding {
                home: 0x0a00_0002,
                coa: Some(0xc0a8_0102),
                port: 0,
                msisdn: 46_700_000_002,
                expires_at: 200
            })
        );
        // Update: WWAN -> CoA, and new metadata.
        assert_eq!(
            w.upsert(0x0a00_0001, Some(0x0101_0101), 7, 300),
            Ok(Upsert::Updated)
        );
        assert_eq!(w.len(), 2);
        assert_eq!(look(&h, r, 0x0a00_0001), Lookup::CareOf(0x0101_0101));
        assert_eq!(w.get(0x0a00_0001).unwrap().msisdn, 7);
        assert_eq!(w.get(0x0a00_0001).unwrap().expires_at, 300);
        // CoA -> WWAN.
        assert_eq!(w.upsert(0x0a00_0002, None, 8, 400), Ok(Upsert::Updated));
        assert_eq!(look(&h, r, 0x0a00_0002), Lookup::Wwan);
        assert_eq!(w.get(0x0a00_0002).unwrap().coa, None);
        assert!(w.remove(0x0a00_0001));
        assert!(!w.remove(0x0a00_0001));
        assert_eq!(look(&h, r, 0x0a00_0001), Lookup::Miss);
        assert_eq!(w.get(0x0a00_0001), None);
        assert_eq!(w.len(), 1);
        let all: Vec<_> = w.iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].home, 0x0a00_0002);
    }

    #[test]
    fn invalid_keys_and_coa() {
        let (mut w, h, mut rs) = table(TableConfig::new(100), 1);
        assert_eq!(w.upsert(0, None, 1, 1), Err(TableError::InvalidKey));
        assert_eq!(w.upsert(u32::MAX, None, 1, 1), Err(TableError::InvalidKey));
        assert_eq!(w.upsert(5, Some(0), 1, 1), Err(TableError::InvalidCareOf));
        assert!(w.is_empty());
        assert!(!w.remove(0));
        assert!(!w.remove(u32::MAX));
        assert_eq!(w.get(0), None);
        // Lookups of the reserved keys never match EMPTY/TOMBSTONE slots.
        w.upsert(5, None, 1, 1).unwrap();
        w.remove(5);
        assert_eq!(look(&h, &mut rs[0], 0), Lookup::Miss);
        assert_eq!(look(&h, &mut rs[0], u32::MAX), Lookup::Miss);
    }

    #[test]
    fn full_at_max_bindings() {
        let (mut w, _h, _rs) = table(cfg(2, 5, None), 0);
        for k in 1..=5 {
            assert_eq!(w.upsert(k, None, 0, 0), Ok(Upsert::Inserted));
        }
        assert_eq!(w.upsert(6, None, 0, 0), Err(TableError::Full));
        // Updates still work at the cap.
        assert_eq!(w.upsert(3, Some(9), 0, 0), Ok(Upsert::Updated));
        assert!(w.remove(1));
        assert_eq!(w.upsert(6, None, 0, 0), Ok(Upsert::Inserted));
        assert_eq!(w.upsert(7, None, 0, 0), Err(TableError::Full));
        assert_eq!(w.len(), 5);
        assert!(TableWriter::new(cfg(1, 0, None), Rcu::new(0).0).is_err());
    }

    /// All keys collide into bucket 0: they fill buckets 0, 1, 2... in order.
    #[test]
    fn probe_across_full_buckets_and_empty_vs_tombstone() {
        let (mut w, h, mut rs) = table(cfg(100, 100, Some(COLLIDE)), 1);
        let r = &mut rs[0];
        assert_eq!(w.stats().buckets, 32);
        for k in 1..=20u32 {
            w.upsert(k, Some(k + 1000), 0, 0).unwrap();
        }
        assert_eq!(w.home_bucket(1), 0);
        assert_eq!(w.stats().max_probe, 2); // buckets 0, 1 full; 2 has 4
        for k in 1..=20u32 {
            assert_eq!(w.raw_slot(k as usize - 1), word(k, k + 1000));
            assert_eq!(look(&h, r, k), Lookup::CareOf(k + 1000));
        }
        assert_eq!(look(&h, r, 21), Lookup::Miss);
        // Removing from a full bucket leaves a TOMBSTONE: keys 9..=20 are
        // beyond it and must stay reachable.
        assert!(w.remove(3));
        assert_eq!(w.raw_slot(2), TOMB_WORD);
        assert_eq!(w.stats().tombstones, 1);
        for k in (1..=20u32).filter(|&k| k != 3) {
            assert_eq!(look(&h, r, k), Lookup::CareOf(k + 1000), "key {k}");
        }
        // Bucket 2 (slots 16..24) has EMPTY slots: removal there is EMPTY.
        assert!(w.remove(18));
        assert_eq!(w.raw_slot(17), EMPTY_WORD);
        assert_eq!(w.stats().tombstones, 1);
        assert_eq!(look(&h, r, 18), Lookup::Miss);
        assert_eq!(look(&h, r, 20), Lookup::CareOf(1020));
        // A new key reuses the first free slot along its probe: the
        // tombstone in bucket 0.
        assert_eq!(w.upsert(77, None, 0, 0), Ok(Upsert::Inserted));
        assert_eq!(w.raw_slot(2), word(77, 0));
        assert_eq!(w.stats().tombstones, 0);
        assert_eq!(look(&h, r, 77), Lookup::Wwan);
        // Re-inserting an existing key beyond a free slot updates in place
        // (no duplicate in the earlier free slot).
        assert!(w.remove(4));
        assert_eq!(w.upsert(12, Some(5), 0, 0), Ok(Upsert::Updated));
        assert_eq!(w.raw_slot(3), TOMB_WORD);
        assert_eq!(w.raw_slot(11), word(12, 5));
        assert_eq!(w.iter().filter(|b| b.home == 12).count(), 1);
    }

    #[test]
    fn growth_preserves_every_binding_and_old_view_stays_valid() {
        let (mut w, h, mut rs) = table(cfg(16, 1_000_000, None), 1);
        let mut model = HashMap::new();
        let mut rng = 0x1234_5678_9abc_def0u64;
        for i in 0..5000u64 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = (rng >> 33) as u32 | 1;
            let coa = if i % 3 == 0 {
                None
            } else {
                Some((rng as u32) & 0x7fff_ffff | 1)
            };
            w.upsert(k, coa, i, i as u32).unwrap();
            model.insert(k, (coa, i));
        }
        assert!(w.stats().growths >= 8, "{:?}", w.stats());
        assert_eq!(w.len(), model.len());
        // A reader inside a burst keeps its generation across a growth.
        let r = &mut rs[0];
        let g = r.begin();
        let v = h.view(&g);
        let gen_before = v.generation();
        let some_key = *model.keys().next().unwrap();
        let growths_before = w.stats().growths;
        let mut k = 1u32;
        while w.stats().growths == growths_before {
            k += 2;
            if model.contains_key(&k) {
                continue;
            }
            w.upsert(k, None, 0, 0).unwrap();
            model.insert(k, (None, 0));
        }
        assert!(w.stats().retired_pending >= 1);
        assert_eq!(v.generation(), gen_before);
        assert_ne!(v.lookup(some_key), Lookup::Miss);
        drop(g); // reports the epoch the burst began at: still too old
        w.publish();
        assert!(w.stats().retired_pending >= 1);
        r.quiescent();
        w.reclaim();
        assert_eq!(w.stats().retired_pending, 0);
        let g = r.begin();
        let v = h.view(&g);
        assert!(v.generation() > gen_before);
        for (&k, &(coa, msisdn)) in &model {
            let want = coa.map_or(Lookup::Wwan, Lookup::CareOf);
            assert_eq!(v.lookup(k), want);
            let b = w.get(k).unwrap();
            assert_eq!((b.coa, b.msisdn), (coa, msisdn));
        }
        assert_eq!(w.iter().count(), model.len());
    }

    #[test]
    fn tombstone_rebuild_preserves_every_binding() {
        // All keys collide: they sit in full consecutive buckets, so
        // removals leave tombstones.
        let (mut w, h, mut rs) = table(cfg(48, 48, Some(COLLIDE)), 1);
        let slots = w.stats().slots;
        assert_eq!(slots, 64);
        for k in 1..=48u32 {
            w.upsert(k, Some(k), u64::from(k), k).unwrap();
        }
        assert_eq!(w.stats().max_probe, 5);
        let mut removed = 0;
        for k in (2..=48u32).step_by(2) {
            assert!(w.remove(k));
            removed += 1;
            if w.stats().rebuilds > 0 {
                break;
            }
            assert_eq!(w.stats().tombstones, removed);
        }
        let st = w.stats();
        assert_eq!(st.rebuilds, 1, "{st:?}");
        assert_eq!(removed, slots / 4 + 1);
        assert_eq!(st.tombstones, 0);
        assert_eq!(st.generation, 1);
        assert_eq!(st.len, 48 - removed);
        let g = rs[0].begin();
        let v = h.view(&g);
        for k in 1..=48u32 {
            let gone = k % 2 == 0 && k <= 2 * removed as u32;
            let want = if gone {
                Lookup::Miss
            } else {
                Lookup::CareOf(k)
            };
            assert_eq!(v.lookup(k), want, "key {k}");
            assert_eq!(
                w.get(k).map(|b| (b.msisdn, b.expires_at)),
                (!gone).then_some((u64::from(k), k))
            );
        }
    }

    #[test]
    fn occupancy_triggers_rebuild_not_growth() {
        // bucket = home mod 16 with 16 buckets.
        let seed = HashSeed {
            mul: 1 << 60,
            add: 0,
        };
        let (mut w, _h, _rs) = table(cfg(96, 96, Some(seed)), 0);
        assert_eq!(w.stats().slots, 128);
        let key = |b: u32, i: u32| b + 16 * (i + 1);
        // Fill buckets 0..4 and empty them again: 32 tombstones (= slots/4,
        // not above it).
        for b in 0..4 {
            for i in 0..8 {
                w.upsert(key(b, i), None, 0, 0).unwrap();
            }
        }
        for b in 0..4 {
            for i in 0..8 {
                assert!(w.remove(key(b, i)));
            }
        }
        assert_eq!(w.stats().tombstones, 32);
        assert_eq!(w.stats().rebuilds, 0);
        // Keys homed in buckets 4.. never probe into the tombstones: live
        // stays below 3/4 while live + tombstones crosses 7/8.
        let mut added = Vec::new();
        'fill: for b in 4..16 {
            for i in 0..8 {
                w.upsert(key(b, i), None, 0, 0).unwrap();
                added.push(key(b, i));
                if w.stats().rebuilds > 0 {
                    break 'fill;
                }
            }
        }
        let st = w.stats();
        assert_eq!(
            (st.rebuilds, st.growths, st.tombstones),
            (1, 0, 0),
            "{st:?}"
        );
        assert_eq!(st.len, 81); // 81 + 32 > 112
        for k in added {
            assert!(w.get(k).is_some(), "key {k}");
        }
    }

    #[test]
    fn explicit_rebuild_shrinks_and_grows() {
        let (mut w, h, mut rs) = table(cfg(10_000, 10_000, None), 1);
        let big = w.stats().buckets;
        for k in 1..=100u32 {
            w.upsert(k, Some(k), 0, 0).unwrap();
        }
        w.rebuild(0).unwrap();
        assert!(w.stats().buckets < big);
        assert_eq!(w.stats().buckets, 32);
        w.rebuild(5000).unwrap();
        assert_eq!(w.stats().buckets, 1024);
        w.rebuild(1 << 30).unwrap(); // clamped to max_bindings
        assert_eq!(w.stats().buckets, 2048);
        let g = rs[0].begin();
        let v = h.view(&g);
        for k in 1..=100u32 {
            assert_eq!(v.lookup(k), Lookup::CareOf(k));
        }
    }

    #[test]
    fn expiry_sweep_is_incremental_and_complete() {
        let (mut w, h, mut rs) = table(cfg(200, 200, None), 1);
        for k in 1..=100u32 {
            w.upsert(k, None, u64::from(k), k).unwrap();
        }
        let slots = w.stats().slots;
        let mut out = Vec::new();
        let mut scanned = 0;
        loop {
            let p = w.expire(50, 7, &mut out);
            assert!(p.scanned <= 7);
            scanned += p.scanned;
            if p.wrapped {
                break;
            }
        }
        assert_eq!(scanned, slots);
        let mut homes: Vec<u32> = out.iter().map(|b| b.home).collect();
        homes.sort_unstable();
        assert_eq!(homes, (1..=50).collect::<Vec<_>>());
        assert!(out
            .iter()
            .all(|b| b.expires_at <= 50 && b.msisdn == u64::from(b.home)));
        assert_eq!(w.len(), 50);
        let g = rs[0].begin();
        let v = h.view(&g);
        for k in 1..=100u32 {
            assert_eq!(
                v.lookup(k),
                if k <= 50 { Lookup::Miss } else { Lookup::Wwan }
            );
        }
        drop(g);
        out.clear();
        let p = w.expire(50, usize::MAX, &mut out);
        assert_eq!((p.scanned, p.expired), (slots, 0));
        let p = w.expire(u32::MAX, usize::MAX, &mut out);
        assert_eq!(p.expired, 50);
        assert!(w.is_empty());
    }

    #[test]
    fn memory_and_stats() {
        let (mut w, _h, _rs) = table(cfg(6000, 6000, None), 0);
        let st = w.stats();
        assert_eq!(st.buckets, 1024);
        assert_eq!(st.capacity, 6144);
        assert_eq!(w.capacity(), 6144);
        assert_eq!(
            st.memory_bytes,
            1024 * 64 + 8192 * 8 + 8192 * 4 + std::mem::size_of::<Generation>()
        );
        for k in 1..=6000 {
            w.upsert(k, None, 0, 0).unwrap();
        }
        // 20 bytes per slot at load 6000/8192.
        let per = w.memory_bytes() as f64 / w.len() as f64;
        assert!(per < 28.0, "{per}");
    }

    #[test]
    fn poisoned_retired_generation() {
        let (rcu, _r) = Rcu::new(0);
        let g = Generation::new(2, COLLIDE, 0, (false, false), true).unwrap();
        g.slot(0).store(word(1, 2), Ordering::Relaxed);
        let p: *const Generation = &*g;
        drop(Retired(Some(g))); // poisons and leaks
                                // SAFETY: poisoned generations are leaked, never freed.
        let g = unsafe { &*p };
        assert!(g.poisoned.load(Ordering::SeqCst));
        assert!((0..16).all(|s| g.slot(s).load(Ordering::Relaxed) == POISON_WORD));
        let nat = Region::new_zeroed(0, false).unwrap();
        let nat_used = AtomicBool::new(false);
        let v = TableView {
            gen: g,
            nat: &nat,
            nat_used: &nat_used,
        };
        assert_eq!(v.lookup_checked(1), Err(POISON_WORD));
        drop(rcu);
    }

    #[test]
    fn writer_dropped_with_pending_generations() {
        let (mut w, h, mut rs) = table(cfg(8, 1000, None), 1);
        let g = rs[0].begin();
        for k in 1..=500 {
            w.upsert(k, None, 0, 0).unwrap();
        }
        assert!(w.stats().retired_pending > 0);
        let v = h.view(&g);
        let id = v.generation();
        drop(w); // pending generations move to the shared state
        assert_eq!(v.generation(), id);
        let _ = v.lookup(1);
        drop(g);
        let g = rs[0].begin();
        assert_eq!(h.view(&g).lookup(500), Lookup::Wwan);
    }

    #[test]
    #[should_panic(expected = "another RCU domain")]
    fn view_rejects_foreign_guard() {
        let (_w, h, _rs) = table(cfg(8, 8, None), 1);
        let (_rcu2, mut rs2) = Rcu::new(1);
        let g = rs2[0].begin();
        let _ = h.view(&g);
    }
}
