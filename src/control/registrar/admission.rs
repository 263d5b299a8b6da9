//! Admission limits: token buckets for all requests, per source address (a bounded table),
//! per subscriber, and for unauthenticated replies.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// Token bucket in milliseconds with one second of burst.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    per_sec: u64,
    tokens_milli: u64,
    last_ms: u64,
}

impl Bucket {
    pub(super) fn new(per_sec: u32) -> Bucket {
        Bucket {
            per_sec: per_sec as u64,
            tokens_milli: per_sec as u64 * 1000,
            last_ms: 0,
        }
    }
    pub(super) fn take(&mut self, now_ms: u64) -> bool {
        let cap = self.per_sec * 1000;
        let dt = now_ms.saturating_sub(self.last_ms);
        self.last_ms = now_ms;
        self.tokens_milli = self
            .tokens_milli
            .saturating_add(dt.saturating_mul(self.per_sec))
            .min(cap);
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// Largest per-subscriber limit: the subscriber's bucket is packed into one word of its
/// record (42 bits of time, 22 of tokens in thousandths: `per_sec * 1000 < 2^22`).
pub const MAX_PER_SUBSCRIBER_PER_SEC: u32 = 4000;
const TIME_BITS: u32 = 42;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// [`Bucket::take`] on a bucket packed into one `u64` (a subscriber record's): the last
/// take's time in ms (mod 2^42, about 139 years) in the low 42 bits, the *missing*
/// thousandths of a token in the high 22, so that 0 is a full bucket that has never been
/// used (as [`Bucket::new`]). Same arithmetic as [`Bucket::take`] for
/// `per_sec <= MAX_PER_SUBSCRIBER_PER_SEC` (larger rates are clamped to it), including
/// a clock that steps back (no refill, the time taken as the new last).
#[inline]
pub(super) fn take_packed(word: &mut u64, per_sec: u32, now_ms: u64) -> bool {
    let per_sec = u64::from(per_sec.min(MAX_PER_SUBSCRIBER_PER_SEC));
    let cap = per_sec * 1000;
    let last = *word & TIME_MASK;
    let missing = (*word >> TIME_BITS).min(cap);
    let now = now_ms & TIME_MASK;
    let d = now.wrapping_sub(last) & TIME_MASK;
    // More than half the range "ahead" is a step back: no refill (`saturating_sub`).
    let dt = if d >= 1 << (TIME_BITS - 1) { 0 } else { d };
    let mut tokens = (cap - missing).saturating_add(dt * per_sec).min(cap);
    let ok = tokens >= 1000;
    if ok {
        tokens -= 1000;
    }
    *word = now | ((cap - tokens) << TIME_BITS);
    ok
}

/// Slots of a [`SourceBuckets`] table (a power of two). Fewer in the fuzz build
/// (`--cfg fuzzing`, set by cargo-fuzz only), whose registrar target builds a `Registrar`
/// per input and names a handful of sources: 16384 slots cost most of its time.
#[allow(unexpected_cfgs)]
const SOURCE_SLOTS: usize = if cfg!(fuzzing) { 1024 } else { 16384 };
/// Slots a source address may occupy (one set); a new source evicts the least recently
/// used of them.
const WAYS: usize = 4;

#[derive(Debug, Clone)]
struct Slot {
    addr: u32,
    used: bool,
    /// [`SourceBuckets::clock`] at the last use (recency for eviction).
    last_use: u64,
    bucket: Bucket,
}

/// One token bucket per source address in a fixed-size, set-associative table: memory is
/// bounded whatever the number of (spoofed) sources. A source without a slot takes the
/// least recently used one of its set and starts with a full bucket, so eviction can only
/// make the limit more lenient, never refuse a source wrongly; a source sending above the
/// limit touches its slot constantly and is not evicted by a spread of other sources. The
/// hash is keyed with a random seed, so a sender cannot choose addresses that share a set.
pub(super) struct SourceBuckets {
    per_sec: u32,
    hasher: RandomState,
    /// Counts lookups: orders uses even within one millisecond.
    clock: u64,
    slots: Box<[Slot]>,
}

impl SourceBuckets {
    pub(super) fn new(per_sec: u32) -> SourceBuckets {
        let empty = Slot {
            addr: 0,
            used: false,
            last_use: 0,
            bucket: Bucket::new(per_sec),
        };
        SourceBuckets {
            per_sec,
            hasher: RandomState::new(),
            clock: 0,
            slots: vec![empty; SOURCE_SLOTS].into_boxed_slice(),
        }
    }

    /// Takes a token from `addr`'s bucket; `false` when it is empty.
    pub(super) fn take(&mut self, addr: u32, now_ms: u64) -> bool {
        self.clock += 1;
        let sets = SOURCE_SLOTS / WAYS;
        let set = (self.hasher.hash_one(addr) as usize) & (sets - 1);
        let ways = &mut self.slots[set * WAYS..(set + 1) * WAYS];
        let i = match ways.iter().position(|s| s.used && s.addr == addr) {
            Some(i) => i,
            None => {
                let lru = (0..WAYS)
                    .min_by_key(|&i| (ways[i].used, ways[i].last_use))
                    .unwrap_or(0);
                ways[lru] = Slot {
                    addr,
                    used: true,
                    last_use: 0,
                    bucket: Bucket::new(self.per_sec),
                };
                lru
            }
        };
        ways[i].last_use = self.clock;
        ways[i].bucket.take(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packed bucket of a subscriber record decides as [`Bucket`] does, over rates,
    /// bursts, idle gaps and a clock stepping back.
    #[test]
    fn packed_bucket_matches_bucket() {
        for per_sec in [0u32, 1, 2, 5, 10, 333, MAX_PER_SUBSCRIBER_PER_SEC] {
            let mut b = Bucket::new(per_sec);
            let mut w = 0u64;
            let mut now = 1_800_000_000_000u64;
            let mut x = u64::from(per_sec) + 1;
            let mut admitted = 0;
            for _ in 0..20_000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                now = match x >> 60 {
                    0 => now - (x >> 40) % 5000, // the clock steps back
                    1 => now + 3000,
                    2..=7 => now + (x >> 40) % 300,
                    _ => now,
                };
                let (a, p) = (b.take(now), take_packed(&mut w, per_sec, now));
                assert_eq!(a, p, "per_sec {per_sec} at {now}");
                admitted += usize::from(a);
            }
            assert_eq!(admitted > 0, per_sec > 0);
        }
        // Larger rates are clamped.
        let mut w = 0u64;
        let n = (0..10_000)
            .filter(|_| take_packed(&mut w, u32::MAX, 5))
            .count();
        assert_eq!(n, MAX_PER_SUBSCRIBER_PER_SEC as usize);
    }

    #[test]
    fn each_source_has_its_own_bucket() {
        let mut t = SourceBuckets::new(2);
        assert!(t.take(1, 1000) && t.take(1, 1000));
        assert!(!t.take(1, 1000), "source 1 is over its limit");
        assert!(t.take(2, 1000), "source 2 is not");
        assert!(t.take(1, 1500), "refilled after 500 ms");
    }

    #[test]
    fn memory_is_bounded_and_a_busy_source_keeps_its_slot() {
        let mut t = SourceBuckets::new(10);
        for _ in 0..10 {
            assert!(t.take(7, 1000));
        }
        // a spoofed-source flood: many more sources than slots, the busy source in between
        for a in 0..(4 * SOURCE_SLOTS as u32) {
            let _ = t.take(0x0a00_0000 + a, 1000);
            if a % 64 == 0 {
                assert!(!t.take(7, 1000), "source 7 stays limited during the flood");
            }
        }
        assert_eq!(t.slots.len(), SOURCE_SLOTS);
    }
}
