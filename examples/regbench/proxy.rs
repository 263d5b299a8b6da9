//! The worker proxy: random lookups on the other CPU, per phase, and when it first sees each probe.

use crate::sys::{busiest_others, foreign_ms, pin_to, run_delay_ns, Mark, FOREIGN_LIMIT_MS};
use crate::BURST;
use crossbeam_utils::CachePadded;
use msm_table::{Lookup, RcuReader, TableHandle};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct Shared {
    pub base: Instant,
    pub stop: AtomicBool,
    /// Current phase id (the reader accounts its lookups per phase).
    pub phase: CachePadded<AtomicUsize>,
    /// Probes announced so far (probe ids `0..announced`).
    pub announced: CachePadded<AtomicUsize>,
    pub probe_home: Box<[AtomicU32]>,
    pub probe_coa: Box<[AtomicU32]>,
    /// Bound population: homes `home_base + 0..n`.
    pub home_base: u32,
    pub n: u64,
}

impl Shared {
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PhaseStat {
    pub lookups: u64,
    pub misses: u64,
    pub secs: f64,
    pub run_delay_ns: u64,
}

pub struct ReaderOut {
    pub phases: Vec<PhaseStat>,
    /// Per probe id: when the new care-of address was first seen (0: never).
    pub seen: Vec<u64>,
    pub cpu_ok: bool,
}

pub const MAX_PHASES: usize = 256;

pub fn worker_proxy(
    sh: Arc<Shared>,
    mut reader: RcuReader,
    table: TableHandle,
    cpu: Option<usize>,
) -> ReaderOut {
    let cpu_ok = cpu.map(pin_to).unwrap_or(true);
    let mut phases = vec![PhaseStat::default(); MAX_PHASES];
    let mut seen = vec![0u64; sh.probe_home.len()];
    let mut lo = 0usize; // first probe not yet seen
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut homes = [0u32; BURST];
    let mut cur = sh.phase.load(Ordering::Acquire);
    let mut t_phase = Instant::now();
    let mut d_phase = run_delay_ns();
    let (mut lookups, mut misses) = (0u64, 0u64);
    loop {
        let p = sh.phase.load(Ordering::Relaxed);
        if p != cur || sh.stop.load(Ordering::Relaxed) {
            let d = run_delay_ns();
            let st = &mut phases[cur.min(MAX_PHASES - 1)];
            st.lookups += lookups;
            st.misses += misses;
            st.secs += t_phase.elapsed().as_secs_f64();
            st.run_delay_ns += d - d_phase;
            (lookups, misses, d_phase, t_phase, cur) = (0, 0, d, Instant::now(), p);
            if sh.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        for h in homes.iter_mut() {
            // xorshift64, then a multiply-shift range reduction.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *h = sh.home_base + (((x >> 32) * sh.n) >> 32) as u32;
        }
        let guard = reader.begin();
        let view = table.view(&guard);
        for &h in &homes {
            view.prefetch(h);
        }
        for &h in &homes {
            if view.lookup(h) == Lookup::Miss {
                misses += 1;
            }
        }
        lookups += BURST as u64;
        let a = sh.announced.load(Ordering::Acquire);
        if lo < a {
            let mut t = 0u64;
            for (i, s) in seen.iter_mut().enumerate().take(a).skip(lo) {
                if *s != 0 {
                    continue;
                }
                let h = sh.probe_home[i].load(Ordering::Relaxed);
                let c = sh.probe_coa[i].load(Ordering::Relaxed);
                if view.lookup(h) == Lookup::CareOf(c) {
                    if t == 0 {
                        t = sh.now_ns();
                    }
                    *s = t;
                }
            }
            while lo < a && seen[lo] != 0 {
                lo += 1;
            }
        }
        drop(guard);
    }
    ReaderOut {
        phases,
        seen,
        cpu_ok,
    }
}

/// Runs `body` as phase `label` (the worker proxy accounts its lookups to it), repeating
/// it up to `attempts` times while other processes used the CPUs. Returns the phase id.
pub fn phase<T>(
    marks: &mut Vec<Mark>,
    sh: &Shared,
    label: &str,
    attempts: usize,
    mut body: impl FnMut(usize) -> T,
) -> (usize, T) {
    let mut a = 1;
    loop {
        let l = if a == 1 {
            label.to_string()
        } else {
            format!("{label} (attempt {a})")
        };
        marks.push(Mark::now(l));
        let id = marks.len() - 1;
        sh.phase.store(id, Ordering::Release);
        let r = body(a);
        marks.push(Mark::now("between phases".into()));
        sh.phase.store(id + 1, Ordering::Release);
        let f = foreign_ms(&marks[id], &marks[id + 1]);
        if f <= FOREIGN_LIMIT_MS || a >= attempts {
            return (id, r);
        }
        eprintln!(
            "regbench: {label}: other processes used {f} ms of CPU ({}); repeating",
            busiest_others(&marks[id], &marks[id + 1])
        );
        a += 1;
    }
}
