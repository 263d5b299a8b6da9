//! The top-N view, "which mobiles carry the most traffic": the workers' 1-in-K samples ([`crate::dataplane::sample`]) summed per home address in a space-saving summary, over a sliding pair of windows.
//!
//! The control lcore drains every worker's sample ring each iteration into a
//! [`SpaceSaving`] summary of [`MONITORED`] home addresses, weighted by the sampled
//! frame's length (Metwally et al.'s space-saving, weighted): a sample for an address not
//! monitored, when the summary is full, replaces the address with the fewest bytes and
//! inherits its count as its error. So for every monitored address `bytes - error <= true
//! <= bytes` (in sampled bytes), an address not monitored has at most the smallest count,
//! and every address with more than `1/MONITORED` of the window's sampled bytes is
//! monitored. Estimates are scaled by K (`control.top_sample_every`).
//!
//! Windows: samples go into the current window; after `control.top_window_s` it becomes
//! the previous one and a new one starts. The view merges both, so it covers the last
//! one to two windows (`window_s` in the answer says how long exactly).
//!
//! Sampling error comes on top: an address seen in `s` samples has its bytes known to
//! roughly `1/sqrt(s)` (relative standard error), so the answer gives `samples` per entry.

use crate::control::stats::ip_str;
use crate::dataplane::sample::{Direction, Sample, SampleRing};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Home addresses the summary monitors per window.
pub const MONITORED: usize = 256;
/// Most entries a `top N` answer (and the Prometheus endpoint) shows.
pub const MAX_N: usize = 20;
/// Entries of the stats document's `top` (and so of the Prometheus endpoint).
pub const STATS_N: usize = 10;

/// One monitored home address (counts in sampled units: not yet scaled by K).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub home: u32,
    /// Sampled bytes (an overestimate by at most `bytes_err`).
    pub bytes: u64,
    /// The count inherited when it replaced another address.
    pub bytes_err: u64,
    /// Samples, and sampled bytes per direction, since it was (last) admitted.
    pub samples: u64,
    pub downlink_bytes: u64,
    pub uplink_bytes: u64,
}

/// A weighted space-saving summary of at most `capacity` addresses.
#[derive(Debug, Clone)]
pub struct SpaceSaving {
    capacity: usize,
    entries: Vec<Entry>,
    index: HashMap<u32, usize>,
    /// Every sampled byte counted, monitored or not.
    total: u64,
}

impl SpaceSaving {
    pub fn new(capacity: usize) -> SpaceSaving {
        SpaceSaving {
            capacity: capacity.max(1),
            entries: Vec::with_capacity(capacity),
            index: HashMap::with_capacity(capacity),
            total: 0,
        }
    }

    /// Counts `bytes` for `home` in direction `dir`.
    pub fn add(&mut self, home: u32, bytes: u64, dir: Direction) {
        self.total += bytes;
        let i = match self.index.get(&home) {
            Some(&i) => i,
            None if self.entries.len() < self.capacity => {
                self.entries.push(Entry {
                    home,
                    bytes: 0,
                    bytes_err: 0,
                    samples: 0,
                    downlink_bytes: 0,
                    uplink_bytes: 0,
                });
                self.index.insert(home, self.entries.len() - 1);
                self.entries.len() - 1
            }
            None => {
                let (i, min) = self
                    .entries
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.bytes)
                    .map(|(i, e)| (i, *e))
                    .expect("full, so not empty");
                self.index.remove(&min.home);
                self.index.insert(home, i);
                self.entries[i] = Entry {
                    home,
                    bytes: min.bytes,
                    bytes_err: min.bytes,
                    samples: 0,
                    downlink_bytes: 0,
                    uplink_bytes: 0,
                };
                i
            }
        };
        let e = &mut self.entries[i];
        e.bytes += bytes;
        e.samples += 1;
        match dir {
            Direction::Downlink => e.downlink_bytes += bytes,
            Direction::Uplink => e.uplink_bytes += bytes,
            Direction::Other => {}
        }
    }

    /// The entry of `home`, if monitored.
    pub fn get(&self, home: u32) -> Option<&Entry> {
        self.index.get(&home).map(|&i| &self.entries[i])
    }

    /// The most an address not monitored can have had: the smallest count when full.
    pub fn floor(&self) -> u64 {
        if self.entries.len() < self.capacity {
            0
        } else {
            self.entries.iter().map(|e| e.bytes).min().unwrap_or(0)
        }
    }

    /// Sampled bytes counted, in total.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `n` entries with the most bytes, most first (ties: lower address first).
    pub fn top(&self, n: usize) -> Vec<Entry> {
        let mut v = self.entries.clone();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.home.cmp(&b.home)));
        v.truncate(n);
        v
    }

    /// The union of two summaries (the previous and the current window): counts added;
    /// an address missing from a full summary gets that summary's floor as extra error
    /// (it may have had up to that much there). Not itself bounded in size.
    fn merged(&self, other: &SpaceSaving) -> Vec<Entry> {
        let mut out: HashMap<u32, Entry> = HashMap::new();
        for (s, o) in [(self, other), (other, self)] {
            let floor = o.floor();
            for e in &s.entries {
                let m = out.entry(e.home).or_insert(Entry {
                    home: e.home,
                    bytes: 0,
                    bytes_err: 0,
                    samples: 0,
                    downlink_bytes: 0,
                    uplink_bytes: 0,
                });
                m.bytes += e.bytes;
                m.bytes_err += e.bytes_err;
                m.samples += e.samples;
                m.downlink_bytes += e.downlink_bytes;
                m.uplink_bytes += e.uplink_bytes;
                if o.get(e.home).is_none() {
                    m.bytes += floor;
                    m.bytes_err += floor;
                }
            }
        }
        let mut v: Vec<Entry> = out.into_values().collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.home.cmp(&b.home)));
        v
    }
}

/// Samples handed over by the workers, for the stats.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SampleCounts {
    /// Written by the workers (read from their rings' heads).
    pub taken: u64,
    /// Overwritten in a ring before the control lcore read them.
    pub lost: u64,
    pub downlink: u64,
    pub uplink: u64,
    /// Not a mobile's traffic.
    pub other: u64,
}

/// The top-N view: the windows, the workers' ring tails and the sample counts.
#[derive(Debug)]
pub struct TopN {
    every: u32,
    window: Duration,
    current: SpaceSaving,
    current_start: Instant,
    previous: Option<(SpaceSaving, Duration)>,
    tails: Vec<u64>,
    counts: SampleCounts,
}

impl TopN {
    /// A view of samples taken 1 in `every` (0: sampling off), windows of `window`.
    pub fn new(every: u32, window: Duration, workers: usize, now: Instant) -> TopN {
        TopN {
            every,
            window: window.max(Duration::from_millis(1)),
            current: SpaceSaving::new(MONITORED),
            current_start: now,
            previous: None,
            tails: vec![0; workers],
            counts: SampleCounts::default(),
        }
    }

    /// Starts a new window if the current one is over (and forgets a previous one that
    /// is more than a window old).
    fn rotate(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.current_start);
        if age < self.window {
            return;
        }
        let done = std::mem::replace(&mut self.current, SpaceSaving::new(MONITORED));
        self.previous = (age < 2 * self.window).then_some((done, age));
        self.current_start = now;
    }

    /// Counts one sample.
    pub fn add(&mut self, s: Sample, now: Instant) {
        self.rotate(now);
        match s.dir {
            Direction::Downlink => self.counts.downlink += 1,
            Direction::Uplink => self.counts.uplink += 1,
            Direction::Other => {
                self.counts.other += 1;
                return;
            }
        }
        self.current.add(s.home, u64::from(s.len), s.dir);
    }

    /// Drains every worker's ring (the control lcore, each iteration).
    pub fn drain(&mut self, rings: &[SampleRing], now: Instant) {
        self.rotate(now);
        let mut tails = std::mem::take(&mut self.tails);
        tails.resize(rings.len(), 0);
        let mut taken = 0;
        for (ring, tail) in rings.iter().zip(tails.iter_mut()) {
            taken += ring.written();
            let lost = ring.drain(tail, |s| self.add(s, now));
            self.counts.lost += lost;
        }
        self.counts.taken = taken;
        self.tails = tails;
    }

    pub fn counts(&self) -> SampleCounts {
        self.counts
    }

    /// The `n` (at most [`MAX_N`]) home addresses with the most bytes over the previous
    /// and the current window, estimates scaled by K, as the `top` answer.
    pub fn view(&self, n: usize, now: Instant) -> Value {
        let k = u64::from(self.every);
        let current_s = now.saturating_duration_since(self.current_start);
        let (entries, span, total) = match &self.previous {
            Some((p, d)) if current_s < self.window => (
                p.merged(&self.current),
                *d + current_s,
                p.total() + self.current.total(),
            ),
            _ if current_s < self.window => {
                (self.current.top(MONITORED), current_s, self.current.total())
            }
            // Nothing drained for a window or more: nothing recent to show.
            _ => (Vec::new(), Duration::ZERO, 0),
        };
        let secs = span.as_secs_f64();
        let top: Vec<Value> = entries
            .iter()
            .take(n.min(MAX_N))
            .enumerate()
            .map(|(i, e)| {
                json!({
                    "rank": i + 1,
                    "home": ip_str(e.home),
                    "bytes": e.bytes * k,
                    "bytes_min": (e.bytes - e.bytes_err) * k,
                    "bytes_per_s": if secs > 0.0 { (e.bytes * k) as f64 / secs } else { 0.0 },
                    "downlink_bytes": e.downlink_bytes * k,
                    "uplink_bytes": e.uplink_bytes * k,
                    "samples": e.samples,
                })
            })
            .collect();
        let c = self.counts;
        json!({
            "sample_every": self.every,
            "window_s": secs,
            "monitored": MONITORED,
            "bytes_sampled": total * k,
            "samples": {
                "taken": c.taken, "lost": c.lost, "downlink": c.downlink,
                "uplink": c.uplink, "other": c.other,
            },
            "top": top,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::sample::Sampler;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A Zipf-like stream: address i gets weight ~ 1/(i+1)^1.2; lengths 60..1500.
    fn skewed(n: usize, addrs: u32, seed: u64) -> Vec<(u32, u64)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let w: Vec<f64> = (0..addrs)
            .map(|i| 1.0 / f64::from(i + 1).powf(1.2))
            .collect();
        let sum: f64 = w.iter().sum();
        let cdf: Vec<f64> = w
            .iter()
            .scan(0.0, |a, x| {
                *a += x / sum;
                Some(*a)
            })
            .collect();
        (0..n)
            .map(|_| {
                let u: f64 = rng.gen();
                let i = cdf.partition_point(|&c| c < u).min(addrs as usize - 1);
                (0xc000_0000 + i as u32, rng.gen_range(60..=1500))
            })
            .collect()
    }

    #[test]
    fn heavy_hitters_are_found_with_bounded_estimates() {
        let stream = skewed(200_000, 20_000, 7);
        let mut exact: HashMap<u32, u64> = HashMap::new();
        let mut ss = SpaceSaving::new(64);
        for &(h, b) in &stream {
            *exact.entry(h).or_default() += b;
            ss.add(h, b, Direction::Downlink);
        }
        let total: u64 = exact.values().sum();
        assert_eq!(ss.total(), total);
        // Every monitored estimate brackets the truth.
        for e in ss.top(64) {
            let t = exact[&e.home];
            assert!(e.bytes >= t && e.bytes - e.bytes_err <= t, "{e:?} true {t}");
        }
        // The floor is at most total / capacity, and bounds every unmonitored address.
        assert!(ss.floor() <= total / 64, "{} > {}", ss.floor(), total / 64);
        for (h, &t) in &exact {
            if ss.get(*h).is_none() {
                assert!(t <= ss.floor(), "{h} had {t} > floor {}", ss.floor());
            }
        }
        // Every address above total / capacity is monitored; the exact top 5 (well
        // separated in a Zipf stream) come out in order.
        let mut truth: Vec<(u32, u64)> = exact.into_iter().collect();
        truth.sort_by_key(|x| std::cmp::Reverse(x.1));
        for &(h, t) in truth.iter().filter(|(_, t)| *t > total / 64) {
            assert!(ss.get(h).is_some(), "{h} with {t} not monitored");
        }
        let top5: Vec<u32> = ss.top(5).iter().map(|e| e.home).collect();
        let want: Vec<u32> = truth.iter().take(5).map(|x| x.0).collect();
        assert_eq!(top5, want);
    }

    #[test]
    fn directions_and_samples_are_kept_per_entry() {
        let mut ss = SpaceSaving::new(2);
        ss.add(1, 100, Direction::Downlink);
        ss.add(1, 50, Direction::Uplink);
        ss.add(2, 10, Direction::Uplink);
        ss.add(3, 30, Direction::Downlink); // replaces 2 (10 bytes)
        let e3 = *ss.get(3).unwrap();
        assert_eq!(
            (e3.bytes, e3.bytes_err, e3.samples, e3.downlink_bytes),
            (40, 10, 1, 30)
        );
        assert!(ss.get(2).is_none());
        let e1 = ss.get(1).unwrap();
        assert_eq!(
            (e1.bytes, e1.downlink_bytes, e1.uplink_bytes, e1.samples),
            (150, 100, 50, 2)
        );
        assert_eq!(ss.top(1)[0].home, 1);
    }

    fn sample(home: u32, len: u16) -> Sample {
        Sample {
            home,
            len,
            dir: Direction::Downlink,
        }
    }

    #[test]
    fn the_view_scales_by_k_and_spans_two_windows() {
        let t0 = Instant::now();
        let w = Duration::from_secs(10);
        let mut top = TopN::new(4, w, 1, t0);
        top.add(sample(0xc000_0201, 1000), t0);
        top.add(sample(0xc000_0202, 100), t0);
        top.add(
            Sample {
                home: 0,
                len: 60,
                dir: Direction::Other,
            },
            t0,
        );
        let v = top.view(5, t0 + Duration::from_secs(5));
        assert_eq!(v["top"][0]["home"], "192.0.2.1");
        assert_eq!(v["top"][0]["bytes"], 4000);
        assert_eq!(v["top"][0]["bytes_min"], 4000);
        assert_eq!(v["top"][1]["bytes"], 400);
        assert_eq!(v["samples"]["downlink"], 2);
        assert_eq!(v["samples"]["other"], 1);
        assert_eq!(v["window_s"], 5.0);
        // Next window: the first is still in the view, added to the new one.
        top.add(sample(0xc000_0202, 1500), t0 + Duration::from_secs(11));
        let v = top.view(5, t0 + Duration::from_secs(12));
        assert_eq!(v["top"][0]["home"], "192.0.2.2");
        assert_eq!(v["top"][0]["bytes"], 6400);
        assert_eq!(v["top"][0]["samples"], 2);
        assert_eq!(v["top"][1]["bytes"], 4000);
        assert_eq!(v["window_s"], 12.0);
        // The window of t0 ends: only the one of t0 + 11 s is left.
        top.drain(&[], t0 + Duration::from_secs(25));
        let v = top.view(5, t0 + Duration::from_secs(25));
        assert_eq!(v["top"].as_array().unwrap().len(), 1);
        assert_eq!(v["top"][0]["bytes"], 6000);
        // Two windows without traffic: nothing left.
        top.drain(&[], t0 + Duration::from_secs(36));
        assert_eq!(top.view(5, t0 + Duration::from_secs(36))["top"], json!([]));
        // n is capped.
        for i in 0..40 {
            top.add(sample(0xc000_0300 + i, 100), t0 + Duration::from_secs(26));
        }
        let v = top.view(1000, t0 + Duration::from_secs(26));
        assert_eq!(v["top"].as_array().unwrap().len(), MAX_N);
    }

    /// The whole path: a sampler at K = 64 over a stream where one mobile has 10x the
    /// traffic of the next; the view ranks it first with a byte estimate within 10 %.
    #[test]
    fn sampled_stream_ranks_the_heavy_mobile_first() {
        let ring = SampleRing::default();
        let mut s = Sampler::new(&ring, 64, 5);
        let t0 = Instant::now();
        let mut top = TopN::new(64, Duration::from_secs(10), 1, t0);
        let (heavy, light) = (0xc000_0201u32, 0xc000_0202u32);
        let mut true_heavy = 0u64;
        let mut rng = StdRng::seed_from_u64(11);
        for n in 0..400_000u64 {
            let (home, len) = match rng.gen_range(0..12) {
                0..=9 => (heavy, 1000u16),
                10 => (light, 1000),
                _ => (0xc000_0300 + rng.gen_range(0..500), 200),
            };
            if home == heavy {
                true_heavy += u64::from(len);
            }
            if s.wants(n) {
                s.take(n, sample(home, len));
            }
            if n % 512 == 0 {
                top.drain(std::slice::from_ref(&ring), t0);
            }
        }
        top.drain(std::slice::from_ref(&ring), t0);
        let v = top.view(3, t0);
        assert_eq!(v["top"][0]["home"], "192.0.2.1");
        assert_eq!(v["top"][1]["home"], "192.0.2.2");
        let est = v["top"][0]["bytes"].as_f64().unwrap();
        let err = (est - true_heavy as f64).abs() / true_heavy as f64;
        assert!(err < 0.1, "estimate {est} vs {true_heavy}");
        assert_eq!(v["samples"]["lost"], 0);
        assert_eq!(v["samples"]["taken"], ring.written());
    }
}
