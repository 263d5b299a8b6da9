//! Traffic sampling for the top-N view ("which mobiles carry the most traffic"): 1 packet in K per worker, written to a single-producer ring of plain stores.
//!
//! Each worker keeps a [`Sampler`]: the number of the next packet to sample, counted in
//! the worker's own `rx_packets`, which it already counts per burst. The gap to the next
//! sample is drawn (xorshift, only when a sample is taken) uniformly from `1..=2K-1`,
//! mean K, so that periodic traffic cannot alias with the sampling and every packet is
//! sampled with probability 1/K whatever its mobile, direction or position in a burst.
//!
//! The worker's loop pays one compare per burst: after a burst's classify pass it checks
//! whether the next sample's number falls in the burst ([`Sampler::due`]); if so, a cold,
//! out-of-line function (`worker.rs`, `take_sample`) takes it from the burst's
//! classification. The lookahead is not disturbed. With sampling off (K = 0) the next
//! sample is never due.
//!
//! A sample is one `u64` ([`encode`]: home address, frame length, direction, and the
//! ring lap of its slot) stored with a relaxed store into the worker's [`SampleRing`],
//! then the ring's head with a release store: no read-modify-write, no lock, and the
//! worker never reads what the consumer did. The consumer (the control lcore,
//! [`crate::control::top`]) reads the slots between its tail and the head; a slot the
//! worker overwrote meanwhile (the ring went round) shows a later lap and is counted as
//! lost, never misread.

use crate::dataplane::classify::{Classified, Kind};
use crate::dataplane::pipeline::Plane;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots per worker ring (a power of two). At K = 1024 and 15 Mpps per worker that is
/// ~70 ms of samples; the control lcore drains every iteration (< 1 ms when idle).
pub const RING: usize = 1024;
const LAP_BITS: u32 = 14;

/// Which way a sampled packet went, for the mobile it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    /// Not a mobile's traffic (ARP, to us, dropped by classification, transit between
    /// two addresses outside the home pools).
    Other = 0,
    /// To a home address (destination in a home pool).
    Downlink = 1,
    /// From a home address: reverse-tunnelled (inner source) or from the WWAN.
    Uplink = 2,
}

/// One sample as the consumer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub home: u32,
    /// The frame's length as received (Ethernet header included), at most 65535.
    pub len: u16,
    pub dir: Direction,
}

/// Packs a sample with the lap of the slot it goes into: home (32 bits), length (16),
/// direction (2), lap (14).
#[inline]
pub fn encode(s: Sample, lap: u64) -> u64 {
    u64::from(s.home) << 32
        | u64::from(s.len) << 16
        | u64::from(s.dir as u8) << 14
        | (lap & ((1 << LAP_BITS) - 1))
}

/// Unpacks a slot: the sample and its lap.
#[inline]
pub fn decode(v: u64) -> (Sample, u64) {
    let dir = match (v >> 14) & 3 {
        1 => Direction::Downlink,
        2 => Direction::Uplink,
        _ => Direction::Other,
    };
    let s = Sample {
        home: (v >> 32) as u32,
        len: (v >> 16) as u16,
        dir,
    };
    (s, v & ((1 << LAP_BITS) - 1))
}

/// The mobile and direction a classified frame of `len` bytes counts for.
#[inline]
pub fn sample_of(plane: &Plane, cls: &Classified, len: usize) -> Sample {
    let len = len.min(u16::MAX as usize) as u16;
    let (home, dir) = match cls.kind {
        Kind::Tunnel | Kind::NatTunnel => match cls.inner {
            Some(i) if plane.in_pool(i.src) => (i.src, Direction::Uplink),
            _ => (0, Direction::Other),
        },
        Kind::Transit if plane.in_pool(cls.ip.dst) => (cls.ip.dst, Direction::Downlink),
        Kind::Transit if plane.in_pool(cls.ip.src) => (cls.ip.src, Direction::Uplink),
        _ => (0, Direction::Other),
    };
    Sample { home, len, dir }
}

/// A worker's ring of samples: written by that worker only, read by the control lcore.
#[repr(align(64))]
pub struct SampleRing {
    /// Samples written so far (the next slot is `head % RING`).
    head: AtomicU64,
    slots: Box<[AtomicU64]>,
}

impl Default for SampleRing {
    fn default() -> Self {
        SampleRing {
            head: AtomicU64::new(0),
            slots: (0..RING).map(|_| AtomicU64::new(u64::MAX)).collect(),
        }
    }
}

impl std::fmt::Debug for SampleRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleRing")
            .field("head", &self.head.load(Ordering::Relaxed))
            .finish()
    }
}

impl SampleRing {
    /// Samples written so far (the worker's "samples taken").
    pub fn written(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// The producer side: the only writer, which keeps the head itself.
    fn put(&self, head: u64, s: Sample) {
        let slot = &self.slots[(head as usize) & (RING - 1)];
        slot.store(encode(s, head / RING as u64), Ordering::Relaxed);
        self.head.store(head + 1, Ordering::Release);
    }

    /// The consumer side: hands every sample written since `*tail` to `f` and advances
    /// `*tail`; returns how many were lost (overwritten before they were read).
    pub fn drain(&self, tail: &mut u64, mut f: impl FnMut(Sample)) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        let mut lost = 0;
        if head.saturating_sub(*tail) > RING as u64 {
            lost += head - *tail - RING as u64;
            *tail = head - RING as u64;
        }
        for i in *tail..head {
            let (s, lap) = decode(self.slots[(i as usize) & (RING - 1)].load(Ordering::Relaxed));
            if lap == (i / RING as u64) & ((1 << LAP_BITS) - 1) {
                f(s);
            } else {
                lost += 1; // the worker went round the ring while we read
            }
        }
        *tail = head.max(*tail);
        lost
    }
}

/// A worker's sampling state (private to the worker).
pub struct Sampler<'r> {
    ring: &'r SampleRing,
    /// K: sample 1 packet in K on average; 0 = off.
    every: u64,
    /// The worker's packet number (its `rx_packets` before the packet) of the next sample.
    next: u64,
    /// Samples written (the ring's head, kept here: the worker never loads it).
    head: u64,
    rng: u64,
}

impl<'r> Sampler<'r> {
    /// A sampler writing to `ring`, 1 packet in `every` (0 = off); `seed` varies the gaps
    /// between workers.
    pub fn new(ring: &'r SampleRing, every: u32, seed: u64) -> Sampler<'r> {
        let mut s = Sampler {
            ring,
            every: u64::from(every),
            next: u64::MAX,
            head: ring.head.load(Ordering::Relaxed),
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        };
        if s.every > 0 {
            s.next = s.gap() - 1;
        }
        s
    }

    /// The gap to the next sample: uniform in `1..=2K-1` (mean K).
    fn gap(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        1 + r % (2 * self.every - 1)
    }

    /// The worker's check, once per burst: do the next `span` packets, after the `seen`
    /// received so far, include the one to sample?
    #[inline(always)]
    pub fn due(&self, seen: u64, span: u64) -> bool {
        seen.saturating_add(span) > self.next
    }

    /// Packet number `n` (the worker's `rx_packets` before it) is being classified: is it
    /// the one to sample?
    #[inline(always)]
    pub fn wants(&self, n: u64) -> bool {
        n >= self.next
    }

    /// Takes the sample of packet `n` and schedules the next one.
    pub fn take(&mut self, n: u64, s: Sample) {
        self.ring.put(self.head, s);
        self.head += 1;
        self.next = n + self.gap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Prefix;
    use crate::dataplane::classify::Ipv4Summary;
    use crate::dataplane::neigh::Neighbours;
    use crate::dataplane::pipeline::NextHop;

    fn plane() -> Plane {
        let hop = NextHop { port: 0, neigh: 0 };
        Plane {
            ports: vec![],
            pools: vec![Prefix {
                addr: 0xc000_0200, // 192.0.2.0/24
                len: 24,
            }],
            msm_wlan: 0,
            msm_gprs: 0,
            to_internet: hop,
            to_wwan: hop,
            outer_ttl: 64,
            mss_max: None,
            neigh: Neighbours::new(&[]),
            standby: Default::default(),
        }
    }

    fn cls(kind: Kind, src: u32, dst: u32, inner: Option<(u32, u32)>) -> Classified {
        let mut c = Classified::DROPPED;
        c.kind = kind;
        c.ip = Ipv4Summary {
            src,
            dst,
            ..Ipv4Summary::NONE
        };
        c.inner = inner.map(|(src, dst)| Ipv4Summary {
            src,
            dst,
            ..Ipv4Summary::NONE
        });
        c
    }

    #[test]
    fn a_sample_round_trips_through_its_encoding() {
        for dir in [Direction::Other, Direction::Downlink, Direction::Uplink] {
            let s = Sample {
                home: 0xc000_02ff,
                len: 65535,
                dir,
            };
            assert_eq!(decode(encode(s, 5)), (s, 5));
            assert_eq!(decode(encode(s, (1 << LAP_BITS) + 3)).1, 3);
        }
    }

    #[test]
    fn direction_and_home_follow_the_classification() {
        let p = plane();
        let home = 0xc000_020a; // 192.0.2.10
        let far = 0xc633_6402; // 198.51.100.2
        let coa = 0xcb00_710a;
        let down = sample_of(&p, &cls(Kind::Transit, far, home, None), 100);
        assert_eq!(
            (down.home, down.dir, down.len),
            (home, Direction::Downlink, 100)
        );
        let up_wwan = sample_of(&p, &cls(Kind::Transit, home, far, None), 70_000);
        assert_eq!(
            (up_wwan.home, up_wwan.dir, up_wwan.len),
            (home, Direction::Uplink, 65535)
        );
        let up_tun = sample_of(&p, &cls(Kind::Tunnel, coa, 1, Some((home, far))), 90);
        assert_eq!((up_tun.home, up_tun.dir), (home, Direction::Uplink));
        let up_nat = sample_of(&p, &cls(Kind::NatTunnel, coa, 1, Some((home, far))), 90);
        assert_eq!((up_nat.home, up_nat.dir), (home, Direction::Uplink));
        for other in [
            cls(Kind::Tunnel, coa, 1, Some((far, home))), // inner source not a home address
            cls(Kind::Tunnel, coa, 1, None),
            cls(Kind::Transit, far, coa, None),
            cls(Kind::Local, home, 1, None),
            cls(Kind::Arp, 0, 0, None),
        ] {
            assert_eq!(sample_of(&p, &other, 60).dir, Direction::Other, "{other:?}");
        }
    }

    /// Drives a sampler as the worker does: per round of `burst` packets, the hot check,
    /// then each packet of a due round.
    fn run(s: &mut Sampler, seen: &mut u64, packets: u64, burst: u64, mut f: impl FnMut(u64)) {
        let end = *seen + packets;
        while *seen < end {
            let n = burst.min(end - *seen);
            if s.due(*seen, burst) {
                for i in *seen..*seen + n {
                    if s.wants(i) {
                        s.take(
                            i,
                            Sample {
                                home: i as u32,
                                len: 64,
                                dir: Direction::Downlink,
                            },
                        );
                        f(i);
                    }
                }
            } else {
                // The hot round must not hold the packet to sample.
                assert!(!(*seen..*seen + n).any(|i| s.wants(i)));
            }
            *seen += n;
        }
    }

    #[test]
    fn one_packet_in_k_is_sampled_on_average_and_none_when_off() {
        for (k, bursts) in [(1u32, 32u64), (16, 32), (1024, 32), (1024, 7)] {
            let ring = SampleRing::default();
            let mut s = Sampler::new(&ring, k, 3);
            let (mut seen, mut taken) = (0, 0u64);
            let packets = 2_000_000;
            run(&mut s, &mut seen, packets, bursts, |_| taken += 1);
            let want = packets as f64 / k as f64;
            let tol = if k == 1 { 0.0 } else { 4.0 * want.sqrt() };
            assert!(
                (taken as f64 - want).abs() <= tol,
                "K={k}: {taken} samples, want {want}"
            );
            assert_eq!(ring.written(), taken);
        }
        let ring = SampleRing::default();
        let mut s = Sampler::new(&ring, 0, 3);
        let mut seen = 0;
        run(&mut s, &mut seen, 100_000, 32, |_| {
            panic!("sampled while off")
        });
        assert!(!s.due(u64::MAX - 64, 32));
    }

    /// Systematic 1-in-K sampling would see only one of K interleaved flows; random gaps
    /// see each in proportion.
    #[test]
    fn periodic_traffic_does_not_alias() {
        let ring = SampleRing::default();
        let mut s = Sampler::new(&ring, 16, 9);
        let mut per_flow = [0u64; 16];
        let mut seen = 0;
        run(&mut s, &mut seen, 1 << 20, 32, |i| {
            per_flow[(i % 16) as usize] += 1
        });
        let mean = (1u64 << 20) as f64 / 16.0 / 16.0; // 4096 each
        for (f, &n) in per_flow.iter().enumerate() {
            assert!((n as f64 - mean).abs() < 5.0 * mean.sqrt(), "flow {f}: {n}");
        }
    }

    #[test]
    fn the_ring_hands_over_in_order_and_counts_what_was_overwritten() {
        let ring = SampleRing::default();
        let mut s = Sampler::new(&ring, 1, 1);
        let mut tail = 0;
        let mut got = Vec::new();
        let mut seen = 0;
        run(&mut s, &mut seen, 10, 32, |_| {});
        assert_eq!(ring.drain(&mut tail, |x| got.push(x.home)), 0);
        assert_eq!(got, (0..10).collect::<Vec<u32>>());
        got.clear();
        run(&mut s, &mut seen, RING as u64 + 100, 32, |_| {});
        assert_eq!(
            ring.drain(&mut tail, |x| got.push(x.home)),
            100,
            "100 overwritten"
        );
        assert_eq!(got.len(), RING);
        assert_eq!(got[0], 110);
        assert_eq!(tail, ring.written());
        assert_eq!(ring.drain(&mut tail, |_| panic!("nothing new")), 0);
    }

    /// A slot the worker overwrites between the consumer's head load and its slot load
    /// has a later lap: counted as lost, never read as the older sample.
    #[test]
    fn a_slot_overwritten_during_the_drain_is_lost_not_misread() {
        let ring = SampleRing::default();
        let x = Sample {
            home: 7,
            len: 64,
            dir: Direction::Uplink,
        };
        for h in 0..RING as u64 {
            ring.put(h, x);
        }
        // Pretend the consumer loaded head = RING, then the worker wrote slot 0 again.
        ring.slots[0].store(encode(Sample { home: 8, ..x }, 1), Ordering::Relaxed);
        let mut tail = 0;
        let mut homes = Vec::new();
        let lost = ring.drain(&mut tail, |s| homes.push(s.home));
        assert_eq!(lost, 1);
        assert_eq!(homes.len(), RING - 1);
        assert!(homes.iter().all(|&h| h == 7));
    }
}
