//! The measurement harness: everything the worker touches happens on the
//! worker core, as with testpmd on net_null.
//!
//! Two ports stand in for the appliance's two NICs, with the appliance's
//! roles and addresses:
//! * plane port 0, WWAN side: a ring-backed ethdev (`PortId::from_rings`)
//!   whose rx ring stays empty (this traffic never comes from the WWAN) and
//!   whose tx ring is checked for stray frames after each run;
//! * plane port 1, Internet side: `net_null0`, the device of the issue's
//!   testpmd baseline. Its rx hands out mbufs from the worker core's mempool
//!   cache, into which the rx callback [`Source`] writes the benchmark
//!   frames; its tx frees what the worker sends after the tx callback
//!   [`Check`] has verified a sample.
//!
//! The worker is the appliance's own `msm::dataplane::worker::run` on lcore 1, polling
//! rx queue 0 of both ports and owning tx queue 0 of both, exactly like the
//! first worker of `msm run`; or, for the harness baseline, a macswap loop
//! with the same queues, bursts and counters. With N workers (scaling runs),
//! worker `i` runs on the `i`-th worker lcore with queue pair `i` of both
//! ports, as `msm run` gives them out. The main lcore only samples the
//! workers' counters (sleeping in between, or publishing a storm of table
//! updates in the storm run), so the worker cores run alone.
//!
//! The source and the check time themselves: a run reports the worker core's
//! total TSC ticks per packet and the part of it spent in them, hence the
//! worker's own cost (I/O + processing) with the packet source taken out.

use crate::source::{Check, Installed, Source};
use crate::traffic::{self, Expect, Frames, Traffic};
use hdrhistogram::Histogram;
use msm::config::{Prefix, Role};
use msm::control::top::TopN;
use msm::dataplane::counters::{Counters, DropReason, Event};
use msm::dataplane::neigh::Neighbours;
use msm::dataplane::pipeline::{NextHop, Plane, PortInfo};
use msm::dataplane::sample::SampleRing;
use msm::dataplane::worker::{self, WorkerCtx};
use msm_dpdk::{
    rdtsc, Eal, MbufBurst, Mempool, PortConf, PortId, Ring, RingConsumer, RingPort, RingProducer,
    RxQueue, TxQueue, DEFAULT_BUF_SIZE,
};
use msm_table::{RcuReader, TableHandle};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Internet-side device (an EAL `--vdev`).
pub const INET_DEVICE: &str = "net_null0";
/// The Internet-side device of the latency runs: a `net_null` whose rx
/// returns nothing (the paced source allocates what arrives). Its EAL
/// `--vdev` argument, and its name.
pub const PACED_VDEV: &str = "net_null1,no-rx=1";
const PACED_DEVICE: &str = "net_null1";
/// Plane port index of the WWAN-side port.
const WWAN: usize = 0;
/// Plane port index of the Internet-side port (all benchmark traffic).
const INET: usize = 1;
/// MTU of both ports (as in the example configurations).
const MTU: u16 = 1500;
/// Mempool as testpmd's (`--total-num-mbufs=16384`, per-lcore cache 250).
const POOL_MBUFS: u32 = 16383;
const POOL_CACHE: u32 = 256;
/// Longest profile (call-graph samples are large).
const PROFILE_MS: u64 = 3000;
/// A run whose worker thread waited this share of the window for a CPU
/// (other processes) counts as contended.
const CONTENDED: f64 = 0.01;
/// A run whose main lcore sampled a mark this late (ms) is repeated too.
const LATE_MS: f64 = 50.0;

/// Warm-up, measurement window and sampling period.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warmup_ms: u64,
    pub window_ms: u64,
    pub sample_ms: u64,
}

/// Which worker loop runs on a worker lcore.
pub enum WorkerKind {
    /// The appliance's worker (`msm::dataplane::worker::run`) over this binding table.
    Msm {
        table: TableHandle,
        reader: RcuReader,
    },
    /// Swap the Ethernet addresses and send the frame back out of the port it
    /// came in on (what `testpmd --forward-mode=macswap` does per packet).
    MacSwap,
}

/// What one run sends and how it is measured.
#[derive(Clone, Copy)]
pub struct RunSpec<'a> {
    pub name: &'a str,
    pub traffic: Traffic,
    pub frames: Frames,
    /// Home addresses in the order they are used.
    pub seq: &'a Arc<[u32]>,
    pub timing: Timing,
    /// `perf record` into this file during (the start of) the window.
    pub profile: Option<&'a Path>,
    /// Latency run: pace the source to this total rate (Mpps) and record
    /// every packet's time through the worker.
    pub pace_mpps: Option<f64>,
    /// Bindings may move to `moved_coa` during the run (storm).
    pub moving: bool,
    /// The operator surface on the worker: sample 1 packet in this many for the top-N
    /// view (`control.top_sample_every`; 0 = off), the main lcore draining the samples
    /// into the view as the control lcore does. The packet trace is always there,
    /// unarmed (its check runs every poll round either way).
    pub sample_every: u32,
}

/// HDR histogram summary of a latency run (ns).
#[derive(Debug, Clone)]
pub struct Latency {
    pub count: u64,
    pub p50_ns: f64,
    pub p99_ns: f64,
    pub p999_ns: f64,
    pub max_ns: f64,
    pub mean_ns: f64,
    /// Offered rate (Mpps, all workers).
    pub offered_mpps: f64,
    /// Arrivals dropped because the virtual rx ring was full.
    pub ring_overflow: u64,
}

/// The worker's throughput without and with a table-update storm.
#[derive(Debug, Clone)]
pub struct Storm {
    pub quiet_mpps: f64,
    pub storm_mpps: f64,
    /// Updates published during the storm half of the window, and its length.
    pub updates: u64,
    pub seconds: f64,
    /// Worker CPU time lost to other processes (run delay + steal) in each half, ms.
    pub quiet_lost_ms: f64,
    pub storm_lost_ms: f64,
}

/// Mempool state around a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolHealth {
    pub capacity: u32,
    /// In use / available at the end of the window, workers still running
    /// (per-lcore caches count as available).
    pub in_use_running: u32,
    pub available_running: u32,
    /// In use after the workers stopped and everything was drained (a leak if > 0).
    pub in_use_after: u32,
    /// net_null rx allocation failures during the window.
    pub rx_nombuf: u64,
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub name: String,
    pub worker: &'static str,
    pub traffic: Traffic,
    pub frames: Frames,
    /// Worker lcores that ran (each its own queue pair).
    pub workers: usize,
    /// Measurement window actually covered (s).
    pub seconds: f64,
    /// Packets the workers received in the window.
    pub packets: u64,
    /// Throughput over the window (all workers), packet source included.
    pub mpps: f64,
    /// Throughput per sampling period (spread).
    pub sample_mpps: Vec<f64>,
    /// TSC ticks per packet on a worker core (always busy polling).
    pub tsc_per_pkt: f64,
    /// Of which in the packet source (rx callback) and the output check (tx callback).
    pub source_tsc_per_pkt: f64,
    pub check_tsc_per_pkt: f64,
    /// Mean size of the workers' non-empty rx bursts.
    pub avg_burst: f64,
    /// Packets the workers transmitted in the window.
    pub tx_packets: u64,
    /// Packets that took the benchmarked path in the window (encapsulated /
    /// decapsulated; for macswap: transmitted).
    pub handled: u64,
    /// Non-zero drop counters of the workers in the window.
    pub drops: Vec<(String, u64)>,
    /// Frames checked / found wrong by the output check (whole run).
    pub checked: u64,
    pub bad: u64,
    /// Time the worker threads were runnable but not running (other processes), ms.
    pub run_delay_ms: f64,
    /// Hypervisor steal time on the workers' CPUs during the window, ms.
    pub steal_ms: f64,
    /// Latest sample taken after its mark (the main lcore lost its CPU), ms.
    pub late_ms: f64,
    /// Time the worker threads actually ran on a CPU in the window (s, summed).
    pub oncpu_s: f64,
    pub pool: PoolHealth,
    pub latency: Option<Latency>,
    pub storm: Option<Storm>,
    /// Anything unexpected (worker exit code, leaks, stray egress).
    pub notes: Vec<String>,
    /// `perf report` lines, if this run was profiled.
    pub profile: Option<Vec<String>>,
    /// Attempts made (a contended run is repeated; see `contended`).
    pub attempts: u32,
    /// The top-N sampling of the run: K (0 = off), samples taken / lost, and the view's
    /// first entry (home, estimated bytes) at the end.
    pub sample_every: u32,
    pub samples_taken: u64,
    pub samples_lost: u64,
    pub top_first: Option<(String, u64)>,
    /// Packets the workers received over the whole run (warm-up, window and stop), read
    /// after they returned: the divisor for a count taken over the worker's whole life
    /// (`perf/operator-cost.sh`'s instructions per packet).
    pub rx_total: u64,
}

impl RunResult {
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }
    /// Ticks per packet of a worker itself (source and check taken out).
    pub fn worker_tsc_per_pkt(&self) -> f64 {
        self.tsc_per_pkt - self.source_tsc_per_pkt - self.check_tsc_per_pkt
    }
    /// Throughput the workers would reach with a free packet source.
    pub fn worker_mpps(&self, hz: u64) -> f64 {
        self.workers as f64 * hz as f64 / self.worker_tsc_per_pkt() / 1e6
    }
    /// Packets per second of the workers' own CPU time (Mpps): the rate while
    /// they had their CPUs, which other processes' interference (if any)
    /// does not dilute. Packet source and check included.
    pub fn mpps_oncpu(&self) -> f64 {
        if self.oncpu_s > 0.0 {
            self.packets as f64 / self.oncpu_s / 1e6
        } else {
            f64::NAN
        }
    }
    /// Nanoseconds per packet on one worker core, worker only.
    pub fn worker_ns_per_pkt(&self, hz: u64) -> f64 {
        self.worker_tsc_per_pkt() / hz as f64 * 1e9
    }
    /// Nanoseconds per packet on one worker core, as run.
    pub fn ns_per_pkt(&self, hz: u64) -> f64 {
        self.tsc_per_pkt / hz as f64 * 1e9
    }
    /// Whether other processes took a worker's CPU for a noticeable time,
    /// or the main lcore sampled too late for the samples to mean anything.
    pub fn contended(&self) -> bool {
        self.packets == 0
            || self.late_ms > LATE_MS
            || self.run_delay_ms + self.steal_ms
                > CONTENDED * self.seconds * 1e3 * self.workers.max(1) as f64
    }
}

/// Counters sampled at each mark (summed over the workers).
#[derive(Debug, Clone, Copy, Default)]
struct Snap {
    tsc: u64,
    rx: u64,
    tx: u64,
    bursts: u64,
    handled: u64,
    src: (u64, u64),
    chk: (u64, u64),
    run_delay_ns: u64,
    oncpu_ns: u64,
    steal_ticks: u64,
}

/// Context of the macswap baseline worker.
struct MacSwapCtx {
    index: usize,
    rx: Vec<(u16, RxQueue)>,
    tx: Vec<TxQueue>,
    counters: Arc<[Counters]>,
    stop: Arc<AtomicBool>,
}

/// The baseline worker: the same rx/tx queues, bursts of 32 and counters as
/// the appliance's worker, and per packet only a MAC swap.
fn macswap(ctx: MacSwapCtx) -> i32 {
    let MacSwapCtx {
        index,
        mut rx,
        mut tx,
        counters,
        stop,
    } = ctx;
    let c = &counters[index];
    let mut burst: MbufBurst<{ worker::BURST }> = MbufBurst::new();
    while !stop.load(Ordering::Relaxed) {
        for (port, rxq) in rx.iter_mut() {
            let n = burst.rx(rxq);
            if n == 0 {
                continue;
            }
            c.event(Event::Bursts);
            c.event_n(Event::RxPackets, n as u64);
            for m in burst.iter_mut() {
                let d = m.data_mut();
                if d.len() >= 12 {
                    let (dst, rest) = d.split_at_mut(6);
                    dst.swap_with_slice(&mut rest[..6]);
                }
            }
            let Some(q) = tx.get_mut(usize::from(*port)) else {
                c.count_drop_n(DropReason::TxFull, n as u64);
                burst.clear();
                continue;
            };
            let (sent, dropped) = burst.tx_retry_or_free(q, 4);
            c.event_n(Event::TxPackets, sent as u64);
            c.count_drop_n(DropReason::TxFull, dropped as u64);
        }
    }
    0
}

/// A worker lcore and the CPU it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLcore {
    pub lcore: u32,
    pub cpu: u32,
}

/// Ports, mempool and the appliance's read-only plane.
pub struct Harness {
    pool: Mempool,
    wwan: RingPort,
    /// The WWAN wire, one ring pair per queue: nothing is ever put in (kept
    /// so the rx rings stay valid and empty); what the workers send there is
    /// counted after each run.
    _wwan_in: Vec<RingProducer>,
    wwan_out: Vec<RingConsumer>,
    inet: PortId,
    /// Stands in for `inet` in the latency runs (same plane port, same MAC
    /// in the frames: net_null does not filter).
    inet_paced: PortId,
    macs: [[u8; 6]; 2],
    plane: Arc<Plane>,
    hz: u64,
    runs: usize,
    /// Worker lcores; worker `i` polls queue `i` of both ports.
    lcores: Vec<WorkerLcore>,
    /// Kernel thread ids of the worker lcores (for their scheduler statistics).
    worker_tids: Arc<[AtomicI32]>,
}

impl Harness {
    /// Creates the mempool, configures the two ports with one queue pair per
    /// worker lcore and builds the plane. Needs the EAL, with `--vdev=net_null0`.
    pub fn new(lcores: Vec<WorkerLcore>) -> Result<Harness, String> {
        if lcores.is_empty() {
            return Err("no worker lcore".into());
        }
        let socket = msm_dpdk::socket_id();
        let pool = Mempool::new(
            "bench_pool",
            POOL_MBUFS,
            POOL_CACHE,
            DEFAULT_BUF_SIZE,
            socket,
        )
        .map_err(|e| format!("mempool: {e}"))?;
        let n = lcores.len();
        let (mut wwan_in, mut rx_ends, mut tx_ends, mut wwan_out) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for q in 0..n {
            let (p, c) = Ring::new_spsc(&format!("bench_wwan_rx{q}"), 1024, socket)
                .map_err(|e| format!("ring: {e}"))?;
            wwan_in.push(p);
            rx_ends.push(c);
            let (p, c) = Ring::new_spsc(&format!("bench_wwan_tx{q}"), 1024, socket)
                .map_err(|e| format!("ring: {e}"))?;
            tx_ends.push(p);
            wwan_out.push(c);
        }
        let wwan = PortId::from_rings("bench_wwan", rx_ends, tx_ends)
            .map_err(|e| format!("wwan port: {e}"))?;
        let inet = PortId::by_name(INET_DEVICE).map_err(|e| format!("{INET_DEVICE}: {e}"))?;
        let inet_paced =
            PortId::by_name(PACED_DEVICE).map_err(|e| format!("{PACED_DEVICE}: {e}"))?;
        let conf = PortConf {
            rx_queues: n as u16,
            tx_queues: n as u16,
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: Some(MTU),
            promiscuous: false,
            rss: false,
        };
        let mut macs = [[0u8; 6]; 2];
        for (i, id) in [wwan.id(), inet].into_iter().enumerate() {
            let setup = id.configure(&conf, &pool).map_err(|e| e.to_string())?;
            for w in &setup.warnings {
                eprintln!("msm-bench: {w}");
            }
            macs[i] = id.mac_addr().map_err(|e| e.to_string())?;
        }
        let setup = inet_paced
            .configure(&conf, &pool)
            .map_err(|e| e.to_string())?;
        for w in &setup.warnings {
            eprintln!("msm-bench: {w}");
        }
        let plane = Arc::new(plane(&macs)?);
        Ok(Harness {
            pool,
            wwan,
            _wwan_in: wwan_in,
            wwan_out,
            inet,
            inet_paced,
            macs,
            plane,
            hz: msm_dpdk::tsc_hz().max(1),
            runs: 0,
            worker_tids: (0..n).map(|_| AtomicI32::new(0)).collect(),
            lcores,
        })
    }

    /// TSC frequency (Hz).
    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// Worker lcores available (the most workers a run can have).
    pub fn max_workers(&self) -> usize {
        self.lcores.len()
    }

    /// Runs `workers` (worker `i` on the `i`-th worker lcore, polling queue
    /// `i` of both ports) with the traffic of `spec`. With `storm`, the main
    /// lcore calls it back to back during the second half of the window
    /// instead of sleeping (each call publishes a batch of table updates and
    /// returns how many), and the result compares both halves.
    pub fn run(
        &mut self,
        eal: &Eal,
        spec: RunSpec<'_>,
        workers: Vec<WorkerKind>,
        mut storm: Option<&mut dyn FnMut() -> u64>,
    ) -> Result<RunResult, String> {
        let name = spec.name;
        let traffic = spec.traffic;
        let timing = spec.timing;
        let nw = workers.len();
        if nw == 0 || nw > self.lcores.len() {
            return Err(format!(
                "{name}: {nw} workers, {} worker lcores",
                self.lcores.len()
            ));
        }
        self.runs += 1;
        let msm = matches!(workers[0], WorkerKind::Msm { .. });
        let (worker_name, expect, handled_event) = match (msm, traffic) {
            (false, Traffic::Downlink) => ("macswap", Expect::MacSwapped, Event::TxPackets),
            (false, _) => return Err("the macswap baseline uses the downlink frames".into()),
            (true, Traffic::Downlink) => (
                "msm",
                if spec.moving {
                    Expect::EncapsulatedMoving
                } else {
                    Expect::Encapsulated
                },
                Event::DownlinkTunnel,
            ),
            (true, Traffic::Uplink) => ("msm", Expect::Decapsulated, Event::UplinkTunnel),
            (true, Traffic::Mix) => ("msm", Expect::Mixed, Event::TxPackets),
            (true, Traffic::NatDownlink) => ("msm", Expect::NatEncapsulated, Event::DownlinkNat),
            (true, Traffic::NatUplink) => ("msm", Expect::Decapsulated, Event::UplinkNat),
        };
        let interval = spec
            .pace_mpps
            .map(|m| self.hz as f64 * nw as f64 / (m * 1e6));
        let inet = if interval.is_some() {
            self.inet_paced
        } else {
            self.inet
        };
        let counters: Arc<[Counters]> = (0..nw).map(|_| Counters::default()).collect();
        let traces: Arc<[msm::dataplane::trace::Trace]> =
            (0..nw).map(|_| Default::default()).collect();
        let samples: Arc<[SampleRing]> = (0..nw).map(|_| Default::default()).collect();
        let mut top = (spec.sample_every > 0).then(|| {
            TopN::new(
                spec.sample_every,
                Duration::from_secs(10),
                nw,
                Instant::now(),
            )
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut srcs = Vec::new();
        let mut chks = Vec::new();
        let mut ctls = Vec::new();
        let mut jobs: Vec<Box<dyn FnOnce() -> i32 + Send>> = Vec::new();
        for (q, worker) in workers.into_iter().enumerate() {
            let qid = q as u16;
            let mut rx = Vec::new();
            let mut tx = Vec::new();
            for (i, id) in [self.wwan.id(), inet].into_iter().enumerate() {
                rx.push((i as u16, id.rx_queue(qid).map_err(|e| e.to_string())?));
                tx.push(id.tx_queue(qid).map_err(|e| e.to_string())?);
            }
            let (to_control, from_worker) = Ring::new_spsc(
                &format!("bench_ctl{}_{q}", self.runs),
                1024,
                msm_dpdk::socket_id(),
            )
            .map_err(|e| format!("ring: {e}"))?;
            ctls.push(from_worker);
            let mut rng = StdRng::seed_from_u64(0x5eed + q as u64);
            let (tpls, pattern) =
                traffic::templates(traffic, spec.frames, self.macs[INET], &mut rng)?;
            let start = q * spec.seq.len() / nw;
            let paced = interval.map(|iv| (iv, self.pool.clone()));
            let src = Source::new(tpls, pattern, spec.seq.clone(), paced)?.starting_at(start);
            srcs.push(Installed::rx(inet, qid, src)?);
            chks.push(Installed::tx(
                inet,
                qid,
                Check::new(expect, self.macs[INET], interval.is_some())?,
            )?);
            let job: Box<dyn FnOnce() -> i32 + Send> = match worker {
                WorkerKind::Msm { table, reader } => {
                    let ctx = WorkerCtx {
                        index: q,
                        plane: self.plane.clone(),
                        table,
                        reader,
                        rx,
                        tx,
                        to_control,
                        pool: self.pool.clone(),
                        counters: counters.clone(),
                        traces: traces.clone(),
                        samples: samples.clone(),
                        sample_every: spec.sample_every,
                        stop: stop.clone(),
                        icmp_rate_per_sec: 100,
                        icmp_burst: 10,
                    };
                    Box::new(move || worker::run(ctx))
                }
                WorkerKind::MacSwap => {
                    drop(to_control);
                    let ctx = MacSwapCtx {
                        index: q,
                        rx,
                        tx,
                        counters: counters.clone(),
                        stop: stop.clone(),
                    };
                    Box::new(move || macswap(ctx))
                }
            };
            jobs.push(job);
        }
        let nombuf0 = inet.stats().map(|s| s.rx_nombuf).unwrap_or(0);
        for (q, job) in jobs.into_iter().enumerate() {
            let tids = self.worker_tids.clone();
            let job: Box<dyn FnOnce() -> i32 + Send> = Box::new(move || {
                // SAFETY: gettid(2) has no preconditions.
                tids[q].store(unsafe { libc::gettid() }, Ordering::Relaxed);
                job()
            });
            let lcore = self.lcores[q].lcore;
            if let Err(e) = eal.launch_on(lcore, job) {
                stop.store(true, Ordering::Relaxed);
                for l in &self.lcores[..q] {
                    eal.wait(l.lcore);
                }
                return Err(format!("{name}: launch on lcore {lcore}: {e}"));
            }
        }

        // Sample the counters at fixed TSC marks; sleep (or storm) in between.
        let hz = self.hz;
        let ticks = |ms: u64| hz.saturating_mul(ms) / 1000;
        let n_marks = (timing.window_ms / timing.sample_ms.max(1)).max(1) as usize + 1;
        let mid_mark = (n_marks - 1) / 2 + 1;
        let sample_ticks = ticks(timing.window_ms) / (n_marks as u64 - 1);
        let sum = |e: Event| counters.iter().map(|c| c.get_event(e)).sum::<u64>();
        let sum_cost = |v: &[(u64, u64)]| v.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let sum_snapshot = || {
            let mut total = counters[0].snapshot();
            for c in counters.iter().skip(1) {
                for (t, (_, v)) in total.iter_mut().zip(c.snapshot()) {
                    t.1 += v;
                }
            }
            total
        };
        let worker_cpus: Vec<u32> = {
            let mut v: Vec<u32> = self.lcores[..nw].iter().map(|l| l.cpu).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut snaps: Vec<Snap> = Vec::with_capacity(n_marks);
        let mut drops_first = Vec::new();
        let mut perf: Option<Child> = None;
        let mut stage_window = crate::stages::Window::default();
        let mut storm_updates = 0u64;
        let mut nombuf = (0, 0);
        let mut next_mark = rdtsc() + ticks(timing.warmup_ms);
        // Latest a mark was sampled after its time (the main lcore lost its CPU).
        let mut late_ticks = 0u64;
        let metrics = msm::control::metrics::Metrics::default();
        let mut scraped = 0usize;
        let (drops_last, pool_running) = loop {
            let now = rdtsc();
            if now < next_mark {
                if let Some(t) = top.as_mut() {
                    // What the control lcore does every iteration.
                    t.drain(&samples, Instant::now());
                }
                match storm.as_mut() {
                    Some(f) if snaps.len() >= mid_mark => storm_updates += f(),
                    _ => {
                        let left_ns = (next_mark - now) as f64 / hz as f64 * 1e9;
                        std::thread::sleep(Duration::from_nanos((left_ns as u64).min(5_000_000)));
                    }
                }
                continue;
            }
            late_ticks = late_ticks.max(now - next_mark);
            let (oncpu, run_delay) = self.worker_tids[..nw]
                .iter()
                .map(|t| schedstat_ns(t.load(Ordering::Relaxed)).unwrap_or((0, 0)))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            let steal: u64 = worker_cpus
                .iter()
                .map(|&c| steal_ticks(c).unwrap_or(0))
                .sum();
            let src_cost: Vec<(u64, u64)> = srcs.iter().map(|s| s.state().cost.get()).collect();
            let chk_cost: Vec<(u64, u64)> = chks.iter().map(|s| s.state().cost.get()).collect();
            snaps.push(Snap {
                tsc: now,
                rx: sum(Event::RxPackets),
                tx: sum(Event::TxPackets),
                bursts: sum(Event::Bursts),
                handled: sum(handled_event),
                src: sum_cost(&src_cost),
                chk: sum_cost(&chk_cost),
                run_delay_ns: run_delay,
                oncpu_ns: oncpu,
                steal_ticks: steal,
            });
            if let Some(t) = &top {
                // The control lcore's stats document and a Prometheus scrape of it, at
                // each mark (off the worker's CPU, as on the appliance).
                let total: serde_json::Map<String, serde_json::Value> = sum_snapshot()
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::json!(v)))
                    .collect();
                metrics.publish(serde_json::json!({
                    "total": total,
                    "top": t.view(msm::control::top::STATS_N, Instant::now()),
                }));
                scraped += metrics.render().len();
            }
            if snaps.len() == 1 {
                drops_first = sum_snapshot();
                stage_window.start(&counters[0]);
                nombuf.0 = inet.stats().map(|s| s.rx_nombuf).unwrap_or(nombuf0);
                if let Some(out) = spec.profile {
                    perf = spawn_perf_record(out, timing.window_ms.min(PROFILE_MS));
                }
            }
            if snaps.len() == n_marks {
                stage_window.end(&counters[0]);
                nombuf.1 = inet.stats().map(|s| s.rx_nombuf).unwrap_or(nombuf.0);
                break (sum_snapshot(), (self.pool.in_use(), self.pool.available()));
            }
            next_mark += sample_ticks;
        };

        stop.store(true, Ordering::Relaxed);
        let mut notes = Vec::new();
        for l in &self.lcores[..nw] {
            let rc = eal.wait(l.lcore);
            if rc != 0 {
                notes.push(format!("worker on lcore {} exited with {rc}", l.lcore));
            }
        }
        if let Some(p) = perf.as_mut() {
            let _ = p.wait();
        }
        // The workers have returned and dropped their queue handles: claiming
        // them here proves no burst runs, so the callbacks can go.
        let mut failed = 0;
        let mut overflow = 0;
        let mut src_nombuf = 0;
        let (mut checked, mut bad) = (0, 0);
        let mut hist: Option<Histogram<u64>> = None;
        for (q, (src, chk)) in srcs.into_iter().zip(chks).enumerate() {
            let qid = q as u16;
            let rxq = inet.rx_queue(qid).map_err(|e| e.to_string())?;
            let txq = inet.tx_queue(qid).map_err(|e| e.to_string())?;
            let src = src.remove(&rxq)?;
            let chk = chk.remove(&txq)?;
            failed += src.failed.load(Ordering::Relaxed);
            overflow += src.overflow.load(Ordering::Relaxed);
            src_nombuf += src.nombuf.load(Ordering::Relaxed);
            checked += chk.checked.load(Ordering::Relaxed);
            bad += chk.bad.load(Ordering::Relaxed);
            if let Some(h) = chk.latency {
                let h = h.into_inner().map_err(|_| "latency histogram poisoned")?;
                match hist.as_mut() {
                    Some(all) => all.add(&h).map_err(|e| format!("histogram: {e}"))?,
                    None => hist = Some(h),
                }
            }
        }
        let rx_total = sum(Event::RxPackets);
        let (wwan_tx, control) = self.drain(&mut ctls);
        if wwan_tx > 0 {
            notes.push(format!("{wwan_tx} frames sent out of the WWAN port"));
        }
        if control > 0 {
            notes.push(format!("{control} frames handed to the control ring"));
        }
        if failed > 0 {
            notes.push(format!("{failed} mbufs too small for a frame"));
        }
        let pool = PoolHealth {
            capacity: self.pool.capacity(),
            in_use_running: pool_running.0,
            available_running: pool_running.1,
            in_use_after: self.pool.in_use(),
            rx_nombuf: nombuf.1.saturating_sub(nombuf.0) + src_nombuf,
        };
        if pool.in_use_after != 0 {
            notes.push(format!(
                "{} mbufs not returned to the pool",
                pool.in_use_after
            ));
        }
        let top_first = top.as_mut().and_then(|t| {
            t.drain(&samples, Instant::now());
            let v = t.view(1, Instant::now());
            let e = v["top"].get(0)?;
            Some((e["home"].as_str()?.to_string(), e["bytes"].as_u64()?))
        });
        let sample_counts = top.as_ref().map(|t| t.counts()).unwrap_or_default();
        if top.is_some() && scraped == 0 {
            notes.push("the operator surface rendered no metrics".into());
        }
        if sample_counts.lost > 0 {
            notes.push(format!(
                "{} top-N samples lost (ring full)",
                sample_counts.lost
            ));
        }
        let late_ms = late_ticks as f64 / hz as f64 * 1e3;
        if late_ms > LATE_MS {
            notes.push(format!(
                "the sampling main lcore was up to {late_ms:.0} ms late (lost its CPU)"
            ));
        }
        if pool.rx_nombuf != 0 {
            notes.push(format!("{} rx mbuf allocation failures", pool.rx_nombuf));
        }
        let profile = match (spec.profile, perf) {
            (Some(path), Some(_)) => Some(perf_report(path)),
            (Some(_), None) => Some(vec!["perf record could not be started".to_string()]),
            _ => None,
        };

        let (f, l) = match (snaps.first(), snaps.last()) {
            (Some(f), Some(l)) if snaps.len() >= 2 => (*f, *l),
            _ => return Err(format!("{name}: no measurement window")),
        };
        let dt = (l.tsc - f.tsc) as f64;
        let secs = dt / hz as f64;
        let packets = l.rx - f.rx;
        let per_pkt = |ticks: u64| {
            if packets > 0 {
                ticks as f64 / packets as f64
            } else {
                f64::NAN
            }
        };
        let rate =
            |a: &Snap, b: &Snap| (b.rx - a.rx) as f64 / ((b.tsc - a.tsc) as f64 / hz as f64) / 1e6;
        let drops = drops_last
            .iter()
            .zip(drops_first.iter())
            .filter(|((n, _), _)| n.starts_with("drop_"))
            .map(|((n, a), (_, b))| (n.trim_start_matches("drop_").to_string(), a - b))
            .filter(|(_, d)| *d > 0)
            .collect::<Vec<_>>();
        let latency = hist.map(|h| {
            let ns = |t: u64| t as f64 / hz as f64 * 1e9;
            Latency {
                count: h.len(),
                p50_ns: ns(h.value_at_quantile(0.5)),
                p99_ns: ns(h.value_at_quantile(0.99)),
                p999_ns: ns(h.value_at_quantile(0.999)),
                max_ns: ns(h.max()),
                mean_ns: h.mean() / hz as f64 * 1e9,
                offered_mpps: spec.pace_mpps.unwrap_or(0.0),
                ring_overflow: overflow,
            }
        });
        // USER_HZ is 100 on Linux: /proc/stat counts 10 ms ticks.
        let lost_ms = |a: &Snap, b: &Snap| {
            (b.run_delay_ns - a.run_delay_ns) as f64 / 1e6
                + (b.steal_ticks - a.steal_ticks) as f64 * 10.0
        };
        let storm = match (storm.is_some(), snaps.get(mid_mark - 1)) {
            (true, Some(m)) if mid_mark >= 2 && mid_mark < n_marks => Some(Storm {
                quiet_mpps: rate(&f, m),
                storm_mpps: rate(m, &l),
                updates: storm_updates,
                seconds: (l.tsc - m.tsc) as f64 / hz as f64,
                quiet_lost_ms: lost_ms(&f, m),
                storm_lost_ms: lost_ms(m, &l),
            }),
            _ => None,
        };
        // USER_HZ is 100 on Linux: /proc/stat counts 10 ms ticks.
        let steal_ms = (l.steal_ticks - f.steal_ticks) as f64 * 10.0;
        let (src_pp, chk_pp) = (per_pkt(l.src.1 - f.src.1), per_pkt(l.chk.1 - f.chk.1));
        stage_window.print(name, src_pp, chk_pp);
        Ok(RunResult {
            name: name.to_string(),
            worker: worker_name,
            traffic,
            frames: spec.frames,
            workers: nw,
            seconds: secs,
            packets,
            mpps: packets as f64 / secs / 1e6,
            sample_mpps: snaps.windows(2).map(|w| rate(&w[0], &w[1])).collect(),
            tsc_per_pkt: per_pkt(l.tsc - f.tsc) * nw as f64,
            source_tsc_per_pkt: src_pp,
            check_tsc_per_pkt: chk_pp,
            avg_burst: if l.bursts > f.bursts {
                packets as f64 / (l.bursts - f.bursts) as f64
            } else {
                0.0
            },
            tx_packets: l.tx - f.tx,
            handled: l.handled - f.handled,
            drops,
            checked,
            bad,
            run_delay_ms: (l.run_delay_ns - f.run_delay_ns) as f64 / 1e6,
            steal_ms,
            late_ms,
            oncpu_s: (l.oncpu_ns - f.oncpu_ns) as f64 / 1e9,
            pool,
            latency,
            storm,
            notes,
            profile,
            attempts: 1,
            sample_every: spec.sample_every,
            samples_taken: sample_counts.taken,
            rx_total,
            samples_lost: sample_counts.lost,
            top_first,
        })
    }

    /// After a run: counts and frees what the workers sent to the WWAN port
    /// and to the control rings (the workers have stopped).
    fn drain(&mut self, ctls: &mut [RingConsumer]) -> (u64, u64) {
        let mut b: MbufBurst<64> = MbufBurst::new();
        let mut count = |f: &mut dyn FnMut(&mut MbufBurst<64>) -> usize| {
            let mut n = 0u64;
            loop {
                let k = f(&mut b);
                b.clear();
                if k == 0 {
                    return n;
                }
                n += k as u64;
            }
        };
        let mut wwan_tx = 0;
        for out in self.wwan_out.iter_mut() {
            wwan_tx += count(&mut |b| out.dequeue_burst(b));
        }
        let mut control = 0;
        for ctl in ctls.iter_mut() {
            control += count(&mut |b| ctl.dequeue_burst(b));
        }
        (wwan_tx, control)
    }
}

/// The appliance's plane for the two ports, next hops pre-resolved (as after
/// the control lcore's first ARP exchange).
fn plane(macs: &[[u8; 6]; 2]) -> Result<Plane, String> {
    let neigh = Neighbours::new(&[
        (WWAN as u16, traffic::WWAN_GW),
        (INET as u16, traffic::INET_GW),
    ]);
    let to_wwan = neigh
        .index_of(WWAN as u16, traffic::WWAN_GW)
        .ok_or("wwan next hop")?;
    let to_internet = neigh
        .index_of(INET as u16, traffic::INET_GW)
        .ok_or("internet next hop")?;
    if !neigh.learn(WWAN as u16, traffic::WWAN_GW, traffic::WWAN_GW_MAC, 0)
        || !neigh.learn(INET as u16, traffic::INET_GW, traffic::INET_GW_MAC, 0)
    {
        return Err("could not pre-resolve the next hops".into());
    }
    Ok(Plane {
        ports: vec![
            PortInfo {
                role: Role::Wwan,
                ip: traffic::WWAN_IP,
                mac: macs[WWAN],
                mtu: MTU,
            },
            PortInfo {
                role: Role::Internet,
                ip: traffic::INET_IP,
                mac: macs[INET],
                mtu: MTU,
            },
        ],
        pools: vec![Prefix {
            addr: traffic::POOL_ADDR,
            len: traffic::POOL_LEN,
        }],
        msm_wlan: traffic::INET_IP,
        msm_gprs: traffic::WWAN_IP,
        to_internet: NextHop {
            port: INET as u16,
            neigh: to_internet,
        },
        to_wwan: NextHop {
            port: WWAN as u16,
            neigh: to_wwan,
        },
        outer_ttl: 64,
        // tunnel.mss_clamp = true, as in the example configurations.
        mss_max: Some(MTU - 60),
        neigh,
        standby: Default::default(),
    })
}

/// Nanoseconds thread `tid` of this process has run on a CPU and has waited
/// for one (`/proc/self/task/TID/schedstat`, first and second fields).
fn schedstat_ns(tid: i32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut f = s.split_whitespace();
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// Steal ticks (USER_HZ) of CPU `cpu` (`/proc/stat`, 8th value).
fn steal_ticks(cpu: u32) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let tag = format!("cpu{cpu} ");
    let line = s.lines().find(|l| l.starts_with(&tag))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

/// `perf record -e cpu-clock -p PID --call-graph dwarf` of this process for
/// `ms` milliseconds, in the background. Its only busy thread is the worker
/// (pinned to CPU 1; the main thread sleeps), so this is `-C 1` without other
/// processes' samples, which would make the report slow and wrong.
fn spawn_perf_record(out: &Path, ms: u64) -> Option<Child> {
    let secs = format!("{:.1}", ms as f64 / 1000.0);
    // perf would keep an old file as FILE.old.
    let _ = std::fs::remove_file(out);
    Command::new("perf")
        .args([
            "record",
            "-e",
            "cpu-clock",
            "-p",
            &std::process::id().to_string(),
        ])
        .args(["--call-graph", "dwarf,8192", "-o"])
        .arg(out)
        .args(["--", "sleep", &secs])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Frames every sample goes through (thread start, EAL trampoline, closures).
fn boilerplate(l: &str) -> bool {
    const FRAMES: [&str; 10] = [
        "start_thread",
        "clone3",
        "trampoline",
        "catch_unwind",
        "call_once",
        "Harness::run",
        "[.] 0x00007",
        "do_call",
        "vtable.shim",
        "[unknown]",
    ];
    FRAMES.iter().any(|f| l.contains(f))
}

/// The inclusive profile of the worker: `perf report --children
/// --inline --sort symbol -g none`, without comments and boilerplate frames.
fn perf_report(path: &Path) -> Vec<String> {
    let out = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--children",
            "--inline",
            "--sort",
            "symbol",
            "-g",
            "none",
        ])
        .args(["--percent-limit", "1.5", "-i"])
        .arg(path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let mut lines: Vec<String> = Vec::new();
            let mut last_pcts = String::new();
            for l in String::from_utf8_lossy(&o.stdout).lines() {
                if l.trim().is_empty() || l.starts_with('#') || boilerplate(l) {
                    continue;
                }
                let l = l.trim_end_matches(|c: char| c == '-' || c.is_whitespace());
                // An inlined wrapper with exactly the numbers of the line
                // before it adds nothing.
                let pcts = l.split("[.]").next().unwrap_or("").to_string();
                if pcts == last_pcts && l.ends_with("(inlined)") {
                    continue;
                }
                last_pcts = pcts;
                lines.push(l.to_string());
                if lines.len() == 40 {
                    break;
                }
            }
            lines
        }
        Ok(o) => vec![format!("perf report failed: {}", o.status)],
        Err(e) => vec![format!("perf report: {e}")],
    }
}
