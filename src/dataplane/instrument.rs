//! Per-stage cycle counters of the worker loop (cargo feature `stage-cycles`).
//!
//! Built without the feature (the default), everything here is a zero-sized type or an
//! empty `#[inline(always)]` function: the worker and the pipeline contain no extra
//! instruction (checked on the disassembly of `msm::dataplane::worker::run`, see perf/README.md,
//! "Profiling: flamegraphs and stage counters").
//!
//! Built with `--features stage-cycles`, each worker times its loop with the TSC:
//!
//! * **Per burst, every burst** ([`Stage`]): a worker-local [`Clock`] takes one plain
//!   `rdtsc` at each stage boundary and charges the ticks since the previous boundary to
//!   the stage that just ended ("laps"), so the stages tile the loop without gaps: their
//!   sum is exactly the ticks elapsed since the worker started. The clock is published
//!   once per round of polls with relaxed stores into the worker's [`StageCounters`]
//!   (inside its [`Counters`]): single writer, no atomic read-modify-write, like the
//!   other counters.
//! * **Per packet, one burst in [`SAMPLE_EVERY`]** ([`Step`]): inside those bursts the
//!   pipeline marks the end of classification, of each binding lookup, of the rewrite,
//!   and of the tx staging, with a fenced `rdtsc` (`lfence; rdtsc; lfence`, so a
//!   lookup's cache miss is charged to the lookup and not to whatever instruction first
//!   uses its result). Per-packet marks in every burst would cost more than the
//!   stages they measure; one burst in 256 still gives tens of thousands of sampled
//!   packets a second. The sampled bursts' `process` time is kept apart
//!   ([`Stage::ProcessSampled`]) so that `process` stays unperturbed.
//! * **Interruptions**: the TSC runs on while the thread is preempted. A lap longer
//!   than [`INTERRUPTED_US`] goes to [`Stage::Interrupted`] instead of its stage, and a
//!   sampled burst that long has its marks discarded, so a shared or noisy core shows
//!   up as such instead of inflating whatever stage was running.
//! * **Their own cost**: each lap and each mark includes one `rdtsc` (calibrated at about
//!   25 ticks per lap and 65 to 75 per fenced mark on this project's VM). The clock calibrates both when the worker starts
//!   (median of back-to-back laps and marks) and the tables show each stage and step
//!   with that cost subtracted ("net"), and the instrumentation's total per packet.
//!
//! How to read them: [`StageSnapshot::table`] (printed by msm-bench),
//! [`StageSnapshot::json`] (`msm ctl stats`), and perf/README.md. TSC ticks are not core cycles (the TSC runs at its nominal rate);
//! stage boundaries taken with an unfenced `rdtsc` are exact to within the CPU's
//! out-of-order window (some tens of ticks per burst, under 2 ticks per packet at 32
//! packets a burst).

#[cfg(doc)]
use crate::dataplane::counters::Counters;

macro_rules! stage_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum $name { $($(#[$vm])* $v,)* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub const COUNT: usize = Self::ALL.len();
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }
    };
}

stage_enum! {
    /// Stages of the worker loop, timed every burst. They tile the loop: every tick of
    /// the worker is charged to exactly one of them.
    Stage {
        /// `rte_eth_rx_burst` calls that returned nothing (idle polling). Events: polls.
        PollEmpty = "poll_empty",
        /// `rte_eth_rx_burst` calls that returned packets (the PMD's rx, and any rx
        /// callback such as msm-bench's packet source). Events: packets.
        Rx = "rx",
        /// Parsing each packet's lookup keys and prefetching their buckets. Events: packets.
        Prefetch = "prefetch",
        /// The per-packet loop (classify, look up, rewrite, stage for tx) of bursts
        /// without per-packet marks. Events: packets.
        Process = "process",
        /// The same loop in the sampled bursts (with per-packet marks, see [`Step`]).
        /// Events: packets.
        ProcessSampled = "process_sampled",
        /// Flushing the tx staging: `rte_eth_tx_burst` (and any tx callback), retries,
        /// freeing what was refused. Events: none.
        Tx = "tx",
        /// Handing registrations and ARP to the control lcore's ring. Events: none.
        Control = "control",
        /// Everything else: the stop check, the per-burst clock and counters, the RCU
        /// read-side section (begin, quiescent state), publishing these counters.
        /// Events: non-empty bursts.
        Bookkeeping = "bookkeeping",
        /// Laps longer than [`INTERRUPTED_US`]: the thread was preempted or interrupted
        /// (other processes, the kernel). None on a dedicated core. Their events stay
        /// with the stage they belong to.
        Interrupted = "interrupted",
    }
}

stage_enum! {
    /// Per-packet steps inside [`Stage::ProcessSampled`] (sampled bursts only). A packet
    /// may pass a step more than once (a decapsulated packet is classified again);
    /// events count the passes.
    Step {
        /// From the end of the previous packet to the first binding lookup (or to the
        /// rewrite when there is none): the loop step, Ethernet and IPv4 validation
        /// (checksum), martian checks, the routing decision; for IP-in-IP also the
        /// inner header; after a decapsulation, the inner packet's routing decision.
        Classify = "classify",
        /// One binding-table lookup (its bucket should already be in cache: prefetch).
        Lookup = "lookup",
        /// From the decision (or the lookup) to the end of `pipeline::process`: TTL and
        /// checksum update, MSS clamp, encapsulation or decapsulation, Ethernet header;
        /// for packets handled locally or dropped, whatever followed the last mark.
        Rewrite = "rewrite",
        /// Acting on `process`'s verdict: pushing to the per-port tx staging (a full
        /// staging flushes here), the control burst, fragmentation.
        Enqueue = "enqueue",
    }
}

/// One burst in this many gets per-packet [`Step`] marks (a power of two). A downlink
/// packet passes 5 marks of 65 to 75 ticks each, more than its whole processing, so
/// marking every burst would measure mostly the marks; one in 256 costs about 1.3 ticks
/// per packet on average and still gives tens of thousands of sampled packets a second.
pub const SAMPLE_EVERY: u64 = 256;
const _: () = assert!(SAMPLE_EVERY.is_power_of_two());

/// A lap longer than this (µs) is charged to [`Stage::Interrupted`], and a sampled burst
/// whose packet loop took longer has its [`Step`] marks discarded: the longest regular
/// lap, a burst of 32 packets processed, is well under 10 µs.
pub const INTERRUPTED_US: u64 = 50;

/// Whether this build has the stage counters.
pub const ENABLED: bool = cfg!(feature = "stage-cycles");

/// A copy of one worker's stage counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageSnapshot {
    pub ticks: [u64; Stage::COUNT],
    pub events: [u64; Stage::COUNT],
    /// Laps charged to each stage (each lap contains one `rdtsc`: see `lap_cost`).
    pub laps: [u64; Stage::COUNT],
    /// Ticks from the worker's start to its last published lap (= the sum of `ticks`).
    pub elapsed: u64,
    pub step_ticks: [u64; Step::COUNT],
    /// Passes through each step (each contains one fenced mark: see `mark_cost`).
    pub step_events: [u64; Step::COUNT],
    /// Sampled bursts whose marks were discarded because the burst was interrupted.
    pub discarded_bursts: u64,
    /// Packets of the sampled bursts whose marks were kept.
    pub sampled_kept: u64,
    /// What one lap / one mark costs by itself, calibrated by the worker when it starts
    /// (median of back-to-back laps / marks). Not differences: constants of the run.
    pub lap_cost: u64,
    pub mark_cost: u64,
}

impl StageSnapshot {
    /// Sum of all stages' ticks.
    pub fn total_ticks(&self) -> u64 {
        self.ticks.iter().sum()
    }
    /// Packets received (the denominator of every per-packet figure).
    pub fn packets(&self) -> u64 {
        self.events[Stage::Rx as usize]
    }
    /// Packets of the sampled bursts whose marks were kept (the denominator of the
    /// [`Step`] figures).
    pub fn sampled_packets(&self) -> u64 {
        self.sampled_kept
    }
    /// The difference `self - earlier` (counters of one worker over an interval).
    pub fn since(&self, earlier: &StageSnapshot) -> StageSnapshot {
        let sub = |a: &[u64], b: &[u64], out: &mut [u64]| {
            for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
                *o = x.wrapping_sub(*y);
            }
        };
        let mut d = StageSnapshot {
            elapsed: self.elapsed.wrapping_sub(earlier.elapsed),
            discarded_bursts: self.discarded_bursts.wrapping_sub(earlier.discarded_bursts),
            sampled_kept: self.sampled_kept.wrapping_sub(earlier.sampled_kept),
            lap_cost: self.lap_cost,
            mark_cost: self.mark_cost,
            ..StageSnapshot::default()
        };
        sub(&self.ticks, &earlier.ticks, &mut d.ticks);
        sub(&self.events, &earlier.events, &mut d.events);
        sub(&self.laps, &earlier.laps, &mut d.laps);
        sub(&self.step_ticks, &earlier.step_ticks, &mut d.step_ticks);
        sub(&self.step_events, &earlier.step_events, &mut d.step_events);
        d
    }
    /// Ticks of `s` per received packet.
    pub fn per_packet(&self, s: Stage) -> f64 {
        self.ticks[s as usize] as f64 / self.packets().max(1) as f64
    }
    /// Ticks of `s` per received packet without the cost of its laps' own `rdtsc`.
    pub fn net_per_packet(&self, s: Stage) -> f64 {
        let i = s as usize;
        self.ticks[i].saturating_sub(self.laps[i] * self.lap_cost) as f64
            / self.packets().max(1) as f64
    }
    /// Ticks of step `s` per sampled packet, without the marks' own cost.
    pub fn net_step_per_packet(&self, s: Step) -> f64 {
        let i = s as usize;
        self.step_ticks[i].saturating_sub(self.step_events[i] * self.mark_cost) as f64
            / self.sampled_packets().max(1) as f64
    }
    /// What the instrumentation itself costs per received packet: every lap's `rdtsc`,
    /// and the marks in the sampled bursts.
    pub fn overhead_per_packet(&self) -> f64 {
        let laps: u64 = self.laps.iter().sum();
        let marks: u64 = self.step_events.iter().sum();
        (laps * self.lap_cost + marks * self.mark_cost) as f64 / self.packets().max(1) as f64
    }

    /// A plain-text table: one line per stage (ticks, share of the loop, ticks per
    /// received packet with and without the laps' own cost, laps, events), then the
    /// sampled per-packet steps.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let total = self.total_ticks().max(1) as f64;
        let pkts = self.packets().max(1) as f64;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<16} {:>14} {:>7} {:>9} {:>9} {:>11} {:>11}",
            "stage", "ticks", "share", "tick/pkt", "net/pkt", "laps", "events"
        );
        for st in Stage::ALL {
            let i = *st as usize;
            let _ = writeln!(
                s,
                "{:<16} {:>14} {:>6.1}% {:>9.1} {:>9.1} {:>11} {:>11}",
                st.name(),
                self.ticks[i],
                100.0 * self.ticks[i] as f64 / total,
                self.per_packet(*st),
                self.net_per_packet(*st),
                self.laps[i],
                self.events[i]
            );
        }
        let net_total: f64 = Stage::ALL.iter().map(|st| self.net_per_packet(*st)).sum();
        let _ = writeln!(
            s,
            "{:<16} {:>14} {:>6.1}% {:>9.1} {:>9.1} {:>11} {:>11}",
            "total",
            self.total_ticks(),
            100.0,
            self.total_ticks() as f64 / pkts,
            net_total,
            self.laps.iter().sum::<u64>(),
            self.packets()
        );
        let _ = writeln!(
            s,
            "one lap costs {} ticks, one mark {}; instrumentation {:.1} ticks/pkt in all",
            self.lap_cost,
            self.mark_cost,
            self.overhead_per_packet()
        );
        let sp = self.sampled_packets();
        if sp > 0 {
            let _ = writeln!(
                s,
                "per-packet steps in the sampled bursts (1 in {SAMPLE_EVERY}; {sp} packets; \
                 {} interrupted bursts left out):",
                self.discarded_bursts
            );
            let _ = writeln!(
                s,
                "  {:<14} {:>14} {:>9} {:>9} {:>11}",
                "step", "ticks", "tick/pkt", "net/pkt", "passes"
            );
            for st in Step::ALL {
                let i = *st as usize;
                let _ = writeln!(
                    s,
                    "  {:<14} {:>14} {:>9.1} {:>9.1} {:>11}",
                    st.name(),
                    self.step_ticks[i],
                    self.step_ticks[i] as f64 / sp as f64,
                    self.net_step_per_packet(*st),
                    self.step_events[i]
                );
            }
        }
        s
    }

    /// The JSON object `msm ctl stats` shows per worker.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let pkts = self.packets().max(1) as f64;
        let mut stages = Map::new();
        for st in Stage::ALL {
            let i = *st as usize;
            stages.insert(
                st.name().into(),
                json!({"ticks": self.ticks[i], "laps": self.laps[i], "events": self.events[i],
                       "ticks_per_packet": self.per_packet(*st),
                       "net_ticks_per_packet": self.net_per_packet(*st)}),
            );
        }
        let mut steps = Map::new();
        for st in Step::ALL {
            let i = *st as usize;
            steps.insert(
                st.name().into(),
                json!({"ticks": self.step_ticks[i], "passes": self.step_events[i],
                       "net_ticks_per_sampled_packet": self.net_step_per_packet(*st)}),
            );
        }
        json!({
            "elapsed_ticks": self.elapsed,
            "packets": self.packets(),
            "ticks_per_packet": self.total_ticks() as f64 / pkts,
            "lap_cost_ticks": self.lap_cost,
            "mark_cost_ticks": self.mark_cost,
            "instrumentation_ticks_per_packet": self.overhead_per_packet(),
            "stages": Value::Object(stages),
            "sample_every_bursts": SAMPLE_EVERY,
            "sampled_packets": self.sampled_packets(),
            "discarded_sampled_bursts": self.discarded_bursts,
            "steps": Value::Object(steps),
        })
    }
}

#[cfg(feature = "stage-cycles")]
mod imp {
    use super::{Stage, StageSnapshot, Step, INTERRUPTED_US, SAMPLE_EVERY};
    use crate::dataplane::counters::Counters;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

    #[inline(always)]
    fn rdtsc() -> u64 {
        // SAFETY: RDTSC exists on every x86_64 CPU and has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// `lfence; rdtsc; lfence`: every earlier instruction (loads included) has
    /// completed before the read, and no later one starts before it.
    #[inline(always)]
    fn fenced_rdtsc() -> u64 {
        // SAFETY: LFENCE and RDTSC exist on every x86_64 CPU (SSE2 is baseline).
        unsafe {
            core::arch::x86_64::_mm_lfence();
            let t = core::arch::x86_64::_rdtsc();
            core::arch::x86_64::_mm_lfence();
            t
        }
    }

    #[inline(always)]
    fn bump(c: &AtomicU64, n: u64) {
        // Single writer: load + store, not fetch_add.
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// One worker's published stage counters (inside its [`Counters`]).
    #[repr(C, align(64))]
    pub struct StageCounters {
        ticks: [AtomicU64; Stage::COUNT],
        events: [AtomicU64; Stage::COUNT],
        laps: [AtomicU64; Stage::COUNT],
        elapsed: AtomicU64,
        lap_cost: AtomicU64,
        mark_cost: AtomicU64,
        step_ticks: [AtomicU64; Step::COUNT],
        step_events: [AtomicU64; Step::COUNT],
        discarded_bursts: AtomicU64,
        sampled_kept: AtomicU64,
        /// The current sampled burst's marks, committed to `step_*` at its end unless
        /// the burst was interrupted.
        pend_ticks: [AtomicU64; Step::COUNT],
        pend_events: [AtomicU64; Step::COUNT],
        /// Set by the worker for the duration of a sampled burst's packet loop.
        sampling: AtomicBool,
        /// TSC of the last [`Step`] mark.
        step_last: AtomicU64,
    }

    impl Default for StageCounters {
        fn default() -> Self {
            StageCounters {
                ticks: std::array::from_fn(|_| AtomicU64::new(0)),
                events: std::array::from_fn(|_| AtomicU64::new(0)),
                laps: std::array::from_fn(|_| AtomicU64::new(0)),
                elapsed: AtomicU64::new(0),
                lap_cost: AtomicU64::new(0),
                mark_cost: AtomicU64::new(0),
                step_ticks: std::array::from_fn(|_| AtomicU64::new(0)),
                step_events: std::array::from_fn(|_| AtomicU64::new(0)),
                discarded_bursts: AtomicU64::new(0),
                sampled_kept: AtomicU64::new(0),
                pend_ticks: std::array::from_fn(|_| AtomicU64::new(0)),
                pend_events: std::array::from_fn(|_| AtomicU64::new(0)),
                sampling: AtomicBool::new(false),
                step_last: AtomicU64::new(0),
            }
        }
    }

    impl StageCounters {
        pub fn snapshot(&self) -> StageSnapshot {
            let ld = |a: &[AtomicU64], out: &mut [u64]| {
                for (o, x) in out.iter_mut().zip(a) {
                    *o = x.load(Relaxed);
                }
            };
            let mut s = StageSnapshot {
                elapsed: self.elapsed.load(Relaxed),
                lap_cost: self.lap_cost.load(Relaxed),
                mark_cost: self.mark_cost.load(Relaxed),
                discarded_bursts: self.discarded_bursts.load(Relaxed),
                sampled_kept: self.sampled_kept.load(Relaxed),
                ..StageSnapshot::default()
            };
            ld(&self.ticks, &mut s.ticks);
            ld(&self.events, &mut s.events);
            ld(&self.laps, &mut s.laps);
            ld(&self.step_ticks, &mut s.step_ticks);
            ld(&self.step_events, &mut s.step_events);
            s
        }

        /// Starts the per-packet marks (the sampled burst's packet loop begins now).
        #[inline]
        fn begin_steps(&self) {
            self.step_last.store(fenced_rdtsc(), Relaxed);
            self.sampling.store(true, Relaxed);
        }
        /// Ends the marks of a sampled burst of `packets`: keeps them, or, if the burst
        /// was `interrupted`, discards them (and counts the burst).
        #[inline]
        fn end_steps(&self, interrupted: bool, packets: u64) {
            self.sampling.store(false, Relaxed);
            if interrupted {
                bump(&self.discarded_bursts, 1);
            } else {
                bump(&self.sampled_kept, packets);
            }
            for i in 0..Step::COUNT {
                if !interrupted {
                    bump(&self.step_ticks[i], self.pend_ticks[i].load(Relaxed));
                    bump(&self.step_events[i], self.pend_events[i].load(Relaxed));
                }
                self.pend_ticks[i].store(0, Relaxed);
                self.pend_events[i].store(0, Relaxed);
            }
        }
        #[inline(always)]
        fn step(&self, s: Step) {
            if self.sampling.load(Relaxed) {
                let t = fenced_rdtsc();
                let last = self.step_last.load(Relaxed);
                bump(&self.pend_ticks[s as usize], t.wrapping_sub(last));
                bump(&self.pend_events[s as usize], 1);
                self.step_last.store(t, Relaxed);
            }
        }
    }

    /// The worker-local per-burst clock (see the module documentation).
    pub struct Clock {
        start: u64,
        last: u64,
        ticks: [u64; Stage::COUNT],
        events: [u64; Stage::COUNT],
        laps: [u64; Stage::COUNT],
        bursts: u64,
        lap_cost: u64,
        mark_cost: u64,
        /// Laps longer than this many ticks go to [`Stage::Interrupted`].
        long: u64,
    }

    /// TSC ticks per second, measured against the monotonic clock over 2 ms (works
    /// without EAL, e.g. in tests).
    fn tsc_hz() -> u64 {
        let (t0, i0) = (rdtsc(), std::time::Instant::now());
        while i0.elapsed() < std::time::Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let (t1, e) = (rdtsc(), i0.elapsed());
        ((t1.wrapping_sub(t0)) as f64 / e.as_secs_f64()) as u64
    }

    /// Median over 15 batches of the mean of 64 back-to-back runs of `batch`'s unit,
    /// `batch` returning the ticks of its 64 runs.
    fn median_cost(mut batch: impl FnMut() -> u64) -> u64 {
        let mut v = [0u64; 15];
        for x in v.iter_mut() {
            *x = batch() / 64;
        }
        v.sort_unstable();
        v[7]
    }

    /// Ticks one [`Clock::lap`] adds by itself (its `rdtsc` and bookkeeping).
    fn calibrate_lap() -> u64 {
        median_cost(|| {
            let mut c = Clock::bare();
            for _ in 0..64 {
                c.lap(Stage::Bookkeeping, 0);
            }
            std::hint::black_box(&c);
            c.ticks[Stage::Bookkeeping as usize]
        })
    }

    /// Ticks one [`Step`] mark adds by itself (two fences, `rdtsc`, four stores).
    fn calibrate_mark() -> u64 {
        median_cost(|| {
            let sc = StageCounters::default();
            sc.begin_steps();
            for _ in 0..64 {
                sc.step(Step::Classify);
            }
            std::hint::black_box(&sc);
            sc.pend_ticks[Step::Classify as usize].load(Relaxed)
        })
    }

    impl Default for Clock {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Clock {
        fn bare() -> Clock {
            let t = rdtsc();
            Clock {
                start: t,
                last: t,
                ticks: [0; Stage::COUNT],
                events: [0; Stage::COUNT],
                laps: [0; Stage::COUNT],
                bursts: 0,
                lap_cost: 0,
                mark_cost: 0,
                long: u64::MAX,
            }
        }
        /// Calibrates the cost of a lap and of a mark (a few hundred microseconds),
        /// then starts the clock: the first lap begins now.
        pub fn new() -> Clock {
            let (lap_cost, mark_cost) = (calibrate_lap(), calibrate_mark());
            let long = (tsc_hz() / 1_000_000).max(1) * INTERRUPTED_US;
            Clock {
                lap_cost,
                mark_cost,
                long,
                ..Clock::bare()
            }
        }
        /// Charges the ticks since the previous lap to `s` (or, if they are too many,
        /// to [`Stage::Interrupted`]), and `events` events to `s`. Returns whether the
        /// lap was interrupted.
        #[inline(always)]
        pub fn lap(&mut self, s: Stage, events: u64) -> bool {
            let t = rdtsc();
            let d = t.wrapping_sub(self.last);
            let interrupted = d > self.long;
            let i = if interrupted {
                Stage::Interrupted as usize
            } else {
                s as usize
            };
            self.ticks[i] += d;
            self.laps[i] += 1;
            self.events[s as usize] += events;
            self.last = t;
            interrupted
        }
        /// Called once per non-empty burst before its packet loop: whether this burst
        /// is sampled; if so, the per-packet marks in `c` are switched on.
        #[inline(always)]
        pub fn begin_burst(&mut self, c: &Counters) -> bool {
            self.bursts = self.bursts.wrapping_add(1);
            let sampled = self.bursts & (SAMPLE_EVERY - 1) == 0;
            if sampled {
                c.stages.begin_steps();
            }
            sampled
        }
        /// Called after the packet loop: switches the per-packet marks off and charges
        /// the loop to [`Stage::Process`] or [`Stage::ProcessSampled`].
        #[inline(always)]
        pub fn end_burst(&mut self, c: &Counters, sampled: bool, packets: u64) {
            if sampled {
                let interrupted = self.lap(Stage::ProcessSampled, packets);
                c.stages.end_steps(interrupted, packets);
            } else {
                self.lap(Stage::Process, packets);
            }
        }
        /// Publishes the totals into `c` (relaxed stores; single writer).
        #[inline]
        pub fn publish(&self, c: &Counters) {
            let st = &c.stages;
            for i in 0..Stage::COUNT {
                st.ticks[i].store(self.ticks[i], Relaxed);
                st.events[i].store(self.events[i], Relaxed);
                st.laps[i].store(self.laps[i], Relaxed);
            }
            st.lap_cost.store(self.lap_cost, Relaxed);
            st.mark_cost.store(self.mark_cost, Relaxed);
            st.elapsed
                .store(self.last.wrapping_sub(self.start), Relaxed);
        }
    }

    impl Counters {
        /// Per-packet [`Step`] mark (does something only inside a sampled burst).
        #[inline(always)]
        pub fn step(&self, s: Step) {
            self.stages.step(s);
        }
        /// This worker's stage counters, if the build has them.
        pub fn stage_snapshot(&self) -> Option<StageSnapshot> {
            Some(self.stages.snapshot())
        }
    }
}

#[cfg(not(feature = "stage-cycles"))]
mod imp {
    use super::{Stage, StageSnapshot, Step};
    use crate::dataplane::counters::Counters;

    /// Without the feature: nothing (zero-sized, no field in [`Counters`]).
    #[derive(Default)]
    pub struct StageCounters;

    /// Without the feature: a zero-sized clock whose methods are empty.
    #[derive(Default)]
    pub struct Clock;

    impl Clock {
        #[inline(always)]
        pub fn new() -> Clock {
            Clock
        }
        #[inline(always)]
        pub fn lap(&mut self, _s: Stage, _events: u64) -> bool {
            false
        }
        #[inline(always)]
        pub fn begin_burst(&mut self, _c: &Counters) -> bool {
            false
        }
        #[inline(always)]
        pub fn end_burst(&mut self, _c: &Counters, _sampled: bool, _packets: u64) {}
        #[inline(always)]
        pub fn publish(&self, _c: &Counters) {}
    }

    impl Counters {
        #[inline(always)]
        pub fn step(&self, _s: Step) {}
        /// This worker's stage counters, if the build has them (it does not).
        pub fn stage_snapshot(&self) -> Option<StageSnapshot> {
            None
        }
    }
}

pub use imp::{Clock, StageCounters};

#[cfg(all(test, feature = "stage-cycles"))]
mod tests {
    use super::*;
    use crate::dataplane::counters::Counters;

    fn spin(n: u64) -> u64 {
        let mut x = 1u64;
        for i in 0..n {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        x
    }

    /// The laps tile the loop: their sum is the elapsed time, which lies inside the
    /// wall time around it; events and laps land on their stages; one burst in
    /// SAMPLE_EVERY gets per-packet marks; publish/snapshot round-trips.
    #[test]
    fn laps_add_up_to_the_elapsed_ticks() {
        let c = Counters::default();
        let before = msm_dpdk::rdtsc();
        let mut clk = Clock::new();
        let (mut empty, mut bursts) = (0u64, 0u64);
        for round in 0..3 * SAMPLE_EVERY {
            spin(10);
            if round % 3 == 0 {
                clk.lap(Stage::PollEmpty, 1);
                empty += 1;
            } else {
                bursts += 1;
                clk.lap(Stage::Rx, 32);
                spin(20);
                clk.lap(Stage::Prefetch, 32);
                let sampled = clk.begin_burst(&c);
                for _ in 0..32 {
                    spin(2);
                    c.step(Step::Classify);
                    spin(2);
                    c.step(Step::Lookup);
                    spin(2);
                    c.step(Step::Rewrite);
                    c.step(Step::Enqueue);
                }
                clk.end_burst(&c, sampled, 32);
                spin(5);
                clk.lap(Stage::Tx, 0);
            }
            clk.lap(Stage::Bookkeeping, 0);
            clk.publish(&c);
        }
        let after = msm_dpdk::rdtsc();
        let s = c.stage_snapshot().unwrap();
        assert_eq!(s.total_ticks(), s.elapsed, "stages tile the loop");
        assert!(s.elapsed <= after - before, "inside the wall time");
        // (A lap of this thread may have been preempted: it then went to `interrupted`.)
        for st in [Stage::Rx, Stage::Prefetch, Stage::Process, Stage::Tx] {
            assert!(s.ticks[st as usize] > 0, "{st:?}");
        }
        assert_eq!(s.ticks[Stage::Control as usize], 0, "never lapped");
        assert_eq!(s.events[Stage::PollEmpty as usize], empty);
        assert_eq!(s.packets(), bursts * 32);
        // 2 laps per empty round, 5 per busy one.
        assert_eq!(s.laps.iter().sum::<u64>(), 2 * empty + 5 * bursts);
        assert!(s.laps[Stage::Rx as usize] <= bursts);
        assert_eq!(
            s.events[Stage::Process as usize] + s.events[Stage::ProcessSampled as usize],
            s.packets()
        );
        let sampled_bursts = bursts / SAMPLE_EVERY;
        assert!(sampled_bursts >= 1);
        assert_eq!(
            s.events[Stage::ProcessSampled as usize],
            sampled_bursts * 32
        );
        assert_eq!(
            s.sampled_packets() + 32 * s.discarded_bursts,
            sampled_bursts * 32
        );
        for st in Step::ALL {
            assert_eq!(s.step_events[*st as usize], s.sampled_packets(), "{st:?}");
        }
        // The kept steps happen inside the sampled bursts' process stage.
        let steps: u64 = s.step_ticks.iter().sum();
        assert!(
            steps <= s.ticks[Stage::ProcessSampled as usize] + s.ticks[Stage::Interrupted as usize]
        );
        // Calibrated costs: a lap and a mark each cost something, and the net figures
        // are the raw ones minus that cost.
        assert!(
            s.lap_cost > 0 && s.mark_cost > 0,
            "{} {}",
            s.lap_cost,
            s.mark_cost
        );
        assert!(s.net_per_packet(Stage::Rx) <= s.per_packet(Stage::Rx));
        assert!(s.overhead_per_packet() > 0.0);
        // Marks outside a sampled burst do nothing.
        let before = c.stage_snapshot().unwrap();
        c.step(Step::Lookup);
        assert_eq!(c.stage_snapshot().unwrap(), before);
        // since() of a snapshot with itself is zero but keeps the costs; the table and
        // the JSON name every stage.
        let z = s.since(&s);
        assert_eq!(
            (z.total_ticks(), z.packets(), z.lap_cost),
            (0, 0, s.lap_cost)
        );
        let t = s.table();
        for st in Stage::ALL {
            assert!(t.contains(st.name()), "{t}");
        }
        for st in Step::ALL {
            assert!(t.contains(st.name()), "{t}");
        }
        let j = s.json();
        assert_eq!(j["packets"], bursts * 32);
        assert_eq!(j["stages"]["poll_empty"]["events"], empty);
    }
}
