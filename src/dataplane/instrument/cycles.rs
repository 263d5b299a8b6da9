//! The stage counters themselves (feature `stage-cycles`): the worker-local clock, the per-packet marks, and their calibration.

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
