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
//! The worker is the appliance's own `msm::worker::run` on lcore 1, polling
//! rx queue 0 of both ports and owning tx queue 0 of both, exactly like the
//! first worker of `msm run`; or, for the harness baseline, a macswap loop
//! with the same queues, bursts and counters. The main lcore only samples the
//! worker's counters (sleeping in between), so the worker core runs alone.
//!
//! The source and the check time themselves: a run reports the worker core's
//! total TSC ticks per packet and the part of it spent in them, hence the
//! worker's own cost (I/O + processing) with the packet source taken out.

use crate::source::{Check, Installed, Source};
use crate::traffic::{self, Expect, Template, Traffic};
use msm::config::{Prefix, Role};
use msm::counters::{Counters, Drop as DropReason, Event};
use msm::neigh::Neighbours;
use msm::pipeline::{NextHop, Plane, PortInfo};
use msm::worker::{self, WorkerCtx};
use msm_dpdk::{
    rdtsc, Eal, MbufBurst, Mempool, PortConf, PortId, Ring, RingConsumer, RingPort, RingProducer,
    RxQueue, TxQueue, DEFAULT_BUF_SIZE,
};
use msm_table::{RcuReader, TableHandle};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The worker's lcore (EAL `-l 0,1`: lcore 1 runs on CPU 1).
pub const WORKER_LCORE: u32 = 1;
/// The Internet-side device (an EAL `--vdev`).
pub const INET_DEVICE: &str = "net_null0";
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

/// Warm-up, measurement window and sampling period.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warmup_ms: u64,
    pub window_ms: u64,
    pub sample_ms: u64,
}

/// Which worker loop runs on lcore 1.
pub enum WorkerKind {
    /// The appliance's worker (`msm::worker::run`) over this binding table.
    Msm {
        table: TableHandle,
        reader: RcuReader,
    },
    /// Swap the Ethernet addresses and send the frame back out of the port it
    /// came in on (what `testpmd --forward-mode=macswap` does per packet).
    MacSwap,
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub name: String,
    pub worker: &'static str,
    pub traffic: Traffic,
    /// Measurement window actually covered (s).
    pub seconds: f64,
    /// Packets the worker received in the window.
    pub packets: u64,
    /// Worker core throughput over the window, packet source included.
    pub mpps: f64,
    /// Throughput per sampling period (spread).
    pub sample_mpps: Vec<f64>,
    /// TSC ticks per packet on the worker core (always busy polling).
    pub tsc_per_pkt: f64,
    /// Of which in the packet source (rx callback) and the output check (tx callback).
    pub source_tsc_per_pkt: f64,
    pub check_tsc_per_pkt: f64,
    /// Mean size of the worker's non-empty rx bursts.
    pub avg_burst: f64,
    /// Packets the worker transmitted in the window.
    pub tx_packets: u64,
    /// Packets that took the benchmarked path in the window (encapsulated /
    /// decapsulated; for macswap: transmitted).
    pub handled: u64,
    /// Non-zero drop counters of the worker in the window.
    pub drops: Vec<(String, u64)>,
    /// Frames checked / found wrong by the output check (whole run).
    pub checked: u64,
    pub bad: u64,
    /// Time the worker thread was runnable but not running (other processes), ms.
    pub run_delay_ms: f64,
    /// Hypervisor steal time on the worker's CPU during the window, ms.
    pub steal_ms: f64,
    /// Anything unexpected (worker exit code, leaks, stray egress).
    pub notes: Vec<String>,
    /// `perf report` lines, if this run was profiled.
    pub profile: Option<Vec<String>>,
    /// Attempts made (a contended run is repeated; see `contended`).
    pub attempts: u32,
}

impl RunResult {
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }
    /// Ticks per packet of the worker itself (source and check taken out).
    pub fn worker_tsc_per_pkt(&self) -> f64 {
        self.tsc_per_pkt - self.source_tsc_per_pkt - self.check_tsc_per_pkt
    }
    /// Throughput the worker would reach with a free packet source.
    pub fn worker_mpps(&self, hz: u64) -> f64 {
        hz as f64 / self.worker_tsc_per_pkt() / 1e6
    }
    /// Whether other processes took the worker's CPU for a noticeable time.
    pub fn contended(&self) -> bool {
        self.run_delay_ms + self.steal_ms > CONTENDED * self.seconds * 1e3
    }
}

/// Counters sampled at each mark.
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
    steal_ticks: u64,
}

/// Context of the macswap baseline worker.
struct MacSwapCtx {
    rx: Vec<(u16, RxQueue)>,
    tx: Vec<TxQueue>,
    counters: Arc<[Counters]>,
    stop: Arc<AtomicBool>,
}

/// The baseline worker: the same rx/tx queues, bursts of 32 and counters as
/// the appliance's worker, and per packet only a MAC swap.
fn macswap(ctx: MacSwapCtx) -> i32 {
    let MacSwapCtx {
        mut rx,
        mut tx,
        counters,
        stop,
    } = ctx;
    let c = &counters[0];
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
                c.drop_n(DropReason::TxFull, n as u64);
                burst.clear();
                continue;
            };
            let (sent, dropped) = burst.tx_retry_or_free(q, 4);
            c.event_n(Event::TxPackets, sent as u64);
            c.drop_n(DropReason::TxFull, dropped as u64);
        }
    }
    0
}

/// Ports, mempool and the appliance's read-only plane.
pub struct Harness {
    pool: Mempool,
    wwan: RingPort,
    /// The WWAN wire: nothing is ever put in (kept so the rx ring stays valid
    /// and empty); what the worker sends there is counted after each run.
    _wwan_in: RingProducer,
    wwan_out: RingConsumer,
    inet: PortId,
    macs: [[u8; 6]; 2],
    plane: Arc<Plane>,
    hz: u64,
    runs: usize,
    /// Kernel thread id of the worker lcore (for its scheduler statistics).
    worker_tid: Arc<AtomicI32>,
}

impl Harness {
    /// Creates the mempool, configures the two ports and builds the plane.
    /// Needs the EAL, with `--vdev=net_null0`.
    pub fn new() -> Result<Harness, String> {
        let socket = msm_dpdk::socket_id();
        let pool = Mempool::new(
            "bench_pool",
            POOL_MBUFS,
            POOL_CACHE,
            DEFAULT_BUF_SIZE,
            socket,
        )
        .map_err(|e| format!("mempool: {e}"))?;
        let (wwan_in, rx_end) =
            Ring::new_spsc("bench_wwan_rx", 1024, socket).map_err(|e| format!("ring: {e}"))?;
        let (tx_end, wwan_out) =
            Ring::new_spsc("bench_wwan_tx", 1024, socket).map_err(|e| format!("ring: {e}"))?;
        let wwan = PortId::from_rings("bench_wwan", vec![rx_end], vec![tx_end])
            .map_err(|e| format!("wwan port: {e}"))?;
        let inet = PortId::by_name(INET_DEVICE).map_err(|e| format!("{INET_DEVICE}: {e}"))?;
        let conf = PortConf {
            rx_queues: 1,
            tx_queues: 1,
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
        let plane = Arc::new(plane(&macs)?);
        Ok(Harness {
            pool,
            wwan,
            _wwan_in: wwan_in,
            wwan_out,
            inet,
            macs,
            plane,
            hz: msm_dpdk::tsc_hz().max(1),
            runs: 0,
            worker_tid: Arc::new(AtomicI32::new(0)),
        })
    }

    /// TSC frequency (Hz).
    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// Runs `worker` on lcore 1 with `traffic` whose home addresses follow
    /// `seq`, measured over `timing`. With `profile`, `perf record -p PID`
    /// writes that file during (the start of) the window and its report is
    /// attached.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        eal: &Eal,
        name: &str,
        traffic: Traffic,
        seq: &Arc<[u32]>,
        worker: WorkerKind,
        timing: Timing,
        profile: Option<&Path>,
    ) -> Result<RunResult, String> {
        if seq.is_empty() {
            return Err(format!("{name}: empty destination sequence"));
        }
        self.runs += 1;
        let (worker_name, expect, handled_event) = match (&worker, traffic) {
            (WorkerKind::MacSwap, Traffic::Downlink) => {
                ("macswap", Expect::MacSwapped, Event::TxPackets)
            }
            (WorkerKind::MacSwap, Traffic::Uplink) => {
                return Err("the macswap baseline uses the downlink frames".into())
            }
            (WorkerKind::Msm { .. }, Traffic::Downlink) => {
                ("msm", Expect::Encapsulated, Event::DownlinkTunnel)
            }
            (WorkerKind::Msm { .. }, Traffic::Uplink) => {
                ("msm", Expect::Decapsulated, Event::UplinkTunnel)
            }
        };
        let counters: Arc<[Counters]> = (0..1).map(|_| Counters::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for (i, id) in [self.wwan.id(), self.inet].into_iter().enumerate() {
            rx.push((i as u16, id.rx_queue(0).map_err(|e| e.to_string())?));
            tx.push(id.tx_queue(0).map_err(|e| e.to_string())?);
        }
        let (to_control, mut from_worker) = Ring::new_spsc(
            &format!("bench_ctl{}", self.runs),
            1024,
            msm_dpdk::socket_id(),
        )
        .map_err(|e| format!("ring: {e}"))?;
        let src = Installed::rx(
            self.inet,
            0,
            Source::new(Template::new(traffic, self.macs[INET]), seq.clone()),
        )?;
        let chk = Installed::tx(self.inet, 0, Check::new(expect, self.macs[INET]))?;

        let job: Box<dyn FnOnce() -> i32 + Send> = match worker {
            WorkerKind::Msm { table, reader } => {
                let ctx = WorkerCtx {
                    index: 0,
                    plane: self.plane.clone(),
                    table,
                    reader,
                    rx,
                    tx,
                    to_control,
                    pool: self.pool.clone(),
                    counters: counters.clone(),
                    stop: stop.clone(),
                    icmp_rate_per_sec: 100,
                    icmp_burst: 10,
                };
                Box::new(move || worker::run(ctx))
            }
            WorkerKind::MacSwap => {
                drop(to_control);
                let ctx = MacSwapCtx {
                    rx,
                    tx,
                    counters: counters.clone(),
                    stop: stop.clone(),
                };
                Box::new(move || macswap(ctx))
            }
        };
        let tid = self.worker_tid.clone();
        let job: Box<dyn FnOnce() -> i32 + Send> = Box::new(move || {
            // SAFETY: gettid(2) has no preconditions.
            tid.store(unsafe { libc::gettid() }, Ordering::Relaxed);
            job()
        });
        eal.launch_on(WORKER_LCORE, job)
            .map_err(|e| format!("{name}: launch on lcore {WORKER_LCORE}: {e}"))?;

        // Sample the counters at fixed TSC marks; sleep in between.
        let hz = self.hz;
        let ticks = |ms: u64| hz.saturating_mul(ms) / 1000;
        let n_marks = (timing.window_ms / timing.sample_ms.max(1)).max(1) as usize + 1;
        let sample_ticks = ticks(timing.window_ms) / (n_marks as u64 - 1);
        let c = &counters[0];
        let mut snaps: Vec<Snap> = Vec::with_capacity(n_marks);
        let mut drops_first = Vec::new();
        let mut perf: Option<Child> = None;
        let mut stage_window = crate::stages::Window::default();
        let mut next_mark = rdtsc() + ticks(timing.warmup_ms);
        let drops_last = loop {
            let now = rdtsc();
            if now < next_mark {
                let left_ns = (next_mark - now) as f64 / hz as f64 * 1e9;
                std::thread::sleep(Duration::from_nanos((left_ns as u64).min(5_000_000)));
                continue;
            }
            let tid = self.worker_tid.load(Ordering::Relaxed);
            snaps.push(Snap {
                tsc: now,
                rx: c.get_event(Event::RxPackets),
                tx: c.get_event(Event::TxPackets),
                bursts: c.get_event(Event::Bursts),
                handled: c.get_event(handled_event),
                src: src.state().cost.get(),
                chk: chk.state().cost.get(),
                run_delay_ns: run_delay_ns(tid).unwrap_or(0),
                steal_ticks: steal_ticks(WORKER_LCORE).unwrap_or(0),
            });
            if snaps.len() == 1 {
                drops_first = c.snapshot();
                stage_window.start(c);
                if let Some(out) = profile {
                    perf = spawn_perf_record(out, timing.window_ms.min(PROFILE_MS));
                }
            }
            if snaps.len() == n_marks {
                stage_window.end(c);
                break c.snapshot();
            }
            next_mark += sample_ticks;
        };

        stop.store(true, Ordering::Relaxed);
        let rc = eal.wait(WORKER_LCORE);
        let mut notes = Vec::new();
        if rc != 0 {
            notes.push(format!("worker exited with {rc}"));
        }
        if let Some(p) = perf.as_mut() {
            let _ = p.wait();
        }
        // The worker has returned and dropped its queue handles: claiming
        // them here proves no burst runs, so the callbacks can go.
        let rxq = self.inet.rx_queue(0).map_err(|e| e.to_string())?;
        let txq = self.inet.tx_queue(0).map_err(|e| e.to_string())?;
        let src = src.remove(&rxq)?;
        let chk = chk.remove(&txq)?;
        drop((rxq, txq));
        let (wwan_tx, control) = self.drain(&mut from_worker);
        if wwan_tx > 0 {
            notes.push(format!("{wwan_tx} frames sent out of the WWAN port"));
        }
        if control > 0 {
            notes.push(format!("{control} frames handed to the control ring"));
        }
        let failed = src.failed.load(Ordering::Relaxed);
        if failed > 0 {
            notes.push(format!("{failed} mbufs too small for a frame"));
        }
        let in_use = self.pool.in_use();
        if in_use != 0 {
            notes.push(format!("{in_use} mbufs not returned to the pool"));
        }
        let profile = match (profile, perf) {
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
        // USER_HZ is 100 on Linux: /proc/stat counts 10 ms ticks.
        let steal_ms = (l.steal_ticks - f.steal_ticks) as f64 * 10.0;
        let (src_pp, chk_pp) = (per_pkt(l.src.1 - f.src.1), per_pkt(l.chk.1 - f.chk.1));
        stage_window.print(name, src_pp, chk_pp);
        Ok(RunResult {
            name: name.to_string(),
            worker: worker_name,
            traffic,
            seconds: secs,
            packets,
            mpps: packets as f64 / secs / 1e6,
            sample_mpps: snaps.windows(2).map(|w| rate(&w[0], &w[1])).collect(),
            tsc_per_pkt: per_pkt(l.tsc - f.tsc),
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
            checked: chk.checked.load(Ordering::Relaxed),
            bad: chk.bad.load(Ordering::Relaxed),
            run_delay_ms: (l.run_delay_ns - f.run_delay_ns) as f64 / 1e6,
            steal_ms,
            notes,
            profile,
            attempts: 1,
        })
    }

    /// After a run: counts and frees what the worker sent to the WWAN port and
    /// to the control ring (the worker has stopped).
    fn drain(&mut self, ctl: &mut RingConsumer) -> (u64, u64) {
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
        let wwan_tx = count(&mut |b| self.wwan_out.dequeue_burst(b));
        let control = count(&mut |b| ctl.dequeue_burst(b));
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
    })
}

/// Nanoseconds thread `tid` of this process has waited for a CPU
/// (`/proc/self/task/TID/schedstat`, second field).
fn run_delay_ns(tid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    s.split_whitespace().nth(1)?.parse().ok()
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
