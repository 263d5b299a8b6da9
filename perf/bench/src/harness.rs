//! The measurement harness.
//!
//! Two ring-backed ethdevs (`rte_eth_from_rings`, the `net_ring` PMD) stand in
//! for the appliance's two NICs: port 0 faces the WWAN, port 1 the Internet.
//! The worker on lcore 1 polls rx queue 0 of both ports and owns tx queue 0 of
//! both, exactly as the appliance's first worker does; it is either the
//! appliance's own `msm::worker::run` or a trivial macswap loop (the I/O
//! ceiling of this very setup).
//!
//! The generator runs on the main lcore (0). It plays both wires: it takes what
//! the worker transmitted on the Internet port out of that port's tx ring,
//! checks a sample of it, rewrites every mbuf in place into a fresh input
//! frame (reset headroom and length, copy a template, patch the addresses and
//! checksums for the next home of a precomputed uniformly random sequence) and
//! puts it into the Internet port's rx ring. A fixed number of mbufs circulates
//! and both rings can hold all of them, so neither side can ever find a ring
//! full: nothing is dropped by the harness. The mempool is not on the fast path
//! of either core.
//!
//! Throughput is the worker's own `rx_packets` counter over a window after a
//! warm-up, sampled by the generator. Whether the generator kept up shows in
//! the worker's mean rx burst (32 = it always found a full burst waiting) and
//! in the generator's busy fraction.

use crate::traffic::{self, Expect, Template, Traffic};
use msm::config::{Prefix, Role};
use msm::counters::{Counters, Drop as DropReason, Event};
use msm::neigh::Neighbours;
use msm::pipeline::{NextHop, Plane, PortInfo};
use msm::worker::{self, WorkerCtx};
use msm_dpdk::{
    rdtsc, Eal, Mbuf, MbufBurst, Mempool, PortConf, PortId, Ring, RingConsumer, RingPort,
    RingProducer, RxQueue, TxQueue, DEFAULT_BUF_SIZE,
};
use msm_table::{RcuReader, TableHandle};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The worker's lcore (EAL `-l 0,1`: lcore 1 runs on CPU 1).
pub const WORKER_LCORE: u32 = 1;
/// Plane port index of the WWAN-side port.
const WWAN: usize = 0;
/// Plane port index of the Internet-side port (all benchmark traffic).
const INET: usize = 1;
/// Most mbufs the generator takes back from the tx ring at once.
const GEN_BURST: usize = 64;
/// The generator checks one returned frame in this many.
const CHECK_EVERY: u64 = 16;
/// MTU of both ports (as in the example configurations).
const MTU: u16 = 1500;

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
    /// came in on (what `testpmd --forward-mode=macswap` does).
    MacSwap,
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub name: String,
    pub worker: &'static str,
    pub traffic: Traffic,
    /// Measurement window actually covered.
    pub seconds: f64,
    /// Packets the worker received in the window.
    pub packets: u64,
    /// Worker throughput over the window (one worker core).
    pub mpps: f64,
    /// Throughput per sampling period (spread).
    pub sample_mpps: Vec<f64>,
    /// TSC ticks per packet on the (always busy-polling) worker core.
    pub tsc_per_pkt: f64,
    /// Mean size of the worker's non-empty rx bursts (32 = never starved).
    pub avg_burst: f64,
    /// Packets the worker transmitted in the window.
    pub tx_packets: u64,
    /// Packets that took the benchmarked path (encapsulated / decapsulated;
    /// for macswap: transmitted).
    pub handled: u64,
    /// Non-zero drop counters of the worker in the window.
    pub drops: Vec<(String, u64)>,
    /// Generator cost per packet while it had work (ns).
    pub gen_ns_per_pkt: f64,
    /// Fraction of the window the generator had work (1.0 = never waited).
    pub gen_busy: f64,
    /// Returned frames checked / found wrong (whole run).
    pub checked: u64,
    pub bad: u64,
    /// Anything unexpected (worker exit code, leaks, stray egress).
    pub notes: Vec<String>,
    /// `perf report` lines, if this run was profiled.
    pub profile: Option<Vec<String>>,
}

impl RunResult {
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }
}

/// Counters sampled by the generator at each mark.
#[derive(Debug, Clone, Copy, Default)]
struct Snap {
    tsc: u64,
    rx: u64,
    tx: u64,
    bursts: u64,
    drops: u64,
    handled: u64,
    gen_pkts: u64,
    gen_busy: u64,
}

/// The generator: rewrites returned mbufs into fresh input frames.
struct Generator<'a> {
    tpl: Template,
    seq: &'a [u32],
    pos: usize,
    expect: Expect,
    port_mac: [u8; 6],
    /// Mbufs recycled.
    pkts: u64,
    checked: u64,
    bad: u64,
    /// Mbufs that could not be rewritten (never expected; they are sent as they are).
    refill_failed: u64,
}

impl Generator<'_> {
    /// Turns `m` into the next input frame.
    #[inline(always)]
    fn refill(&mut self, m: &mut Mbuf) {
        if !m.reset() || !m.set_len(self.tpl.len()) {
            self.refill_failed += 1;
            return;
        }
        let home = self.seq[self.pos];
        self.pos += 1;
        if self.pos == self.seq.len() {
            self.pos = 0;
        }
        self.tpl.write(m.data_mut(), home);
    }

    /// Checks a sample of the frames the worker sent back (`ms`), then rewrites them all.
    #[inline]
    fn recycle(&mut self, ms: &mut [Mbuf]) {
        // The worker wrote these headers and frames on the other core; ask for
        // all of them (for writing) before touching any.
        for m in ms.iter() {
            prefetch_w(m.as_ptr().cast());
            prefetch_w(m.data().as_ptr());
        }
        for m in ms.iter_mut() {
            if self.pkts % CHECK_EVERY == 0 {
                self.checked += 1;
                if !self.expect.check(m.data(), self.port_mac) {
                    self.bad += 1;
                }
            }
            self.pkts += 1;
            self.refill(m);
        }
    }
}

/// Prefetch a cache line with intent to write (PREFETCHW where available).
#[inline(always)]
fn prefetch_w(p: *const u8) {
    // SAFETY: prefetching never faults and has no effect on program
    // semantics; any address is allowed. SSE is x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        _mm_prefetch::<_MM_HINT_ET0>(p.cast());
    }
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

/// Ring ports, rings, mempool and the appliance's read-only plane.
pub struct Harness {
    pool: Mempool,
    /// Indexed by plane port index ([`WWAN`], [`INET`]).
    ports: Vec<RingPort>,
    macs: Vec<[u8; 6]>,
    /// Generator -> port rx rings.
    wire_in: Vec<RingProducer>,
    /// Port tx rings -> generator.
    wire_out: Vec<RingConsumer>,
    plane: Arc<Plane>,
    inflight: usize,
    hz: u64,
    runs: usize,
}

impl Harness {
    /// Creates the mempool, the two ring ports (rings hold `inflight` mbufs
    /// each) and the plane. Needs the EAL.
    pub fn new(inflight: usize) -> Result<Harness, String> {
        let socket = msm_dpdk::socket_id();
        // All circulating mbufs plus a margin (the worker may allocate for
        // fragmentation; it never does here). 2^k - 1 is the efficient size.
        let n_mbufs = ((inflight + 1024) as u32 + 1).next_power_of_two() - 1;
        let pool = Mempool::new("bench_pool", n_mbufs, 256, DEFAULT_BUF_SIZE, socket)
            .map_err(|e| format!("mempool: {e}"))?;
        let cap = u32::try_from(inflight).map_err(|_| "inflight too large".to_string())?;
        let mut ports = Vec::new();
        let mut macs = Vec::new();
        let mut wire_in = Vec::new();
        let mut wire_out = Vec::new();
        for (i, name) in ["wwan", "internet"].iter().enumerate() {
            let (in_p, in_c) = Ring::new_spsc(&format!("bench_rx{i}"), cap, socket)
                .map_err(|e| format!("ring: {e}"))?;
            let (out_p, out_c) = Ring::new_spsc(&format!("bench_tx{i}"), cap, socket)
                .map_err(|e| format!("ring: {e}"))?;
            let port = PortId::from_rings(&format!("bench_{name}"), vec![in_c], vec![out_p])
                .map_err(|e| format!("port {name}: {e}"))?;
            let conf = PortConf {
                rx_queues: 1,
                tx_queues: 1,
                rx_desc: 1024,
                tx_desc: 1024,
                mtu: Some(MTU),
                promiscuous: false,
                rss: false,
            };
            let setup = port
                .id()
                .configure(&conf, &pool)
                .map_err(|e| format!("port {name}: {e}"))?;
            for w in &setup.warnings {
                eprintln!("msm-bench: port {name}: {w}");
            }
            macs.push(port.id().mac_addr().map_err(|e| format!("port {name}: {e}"))?);
            ports.push(port);
            wire_in.push(in_p);
            wire_out.push(out_c);
        }
        let plane = Arc::new(plane(&macs)?);
        Ok(Harness {
            pool,
            ports,
            macs,
            wire_in,
            wire_out,
            plane,
            inflight,
            hz: msm_dpdk::tsc_hz().max(1),
            runs: 0,
        })
    }

    /// TSC frequency (Hz).
    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// Runs `worker` on lcore 1 against `traffic` whose home addresses follow
    /// `seq`; measures over `timing`. With `profile`, `perf record -C 1` writes
    /// that file during the warm-up and window and its report is attached.
    pub fn run(
        &mut self,
        eal: &Eal,
        name: &str,
        traffic: Traffic,
        seq: &[u32],
        worker: WorkerKind,
        timing: Timing,
        profile: Option<&Path>,
    ) -> Result<RunResult, String> {
        if seq.is_empty() {
            return Err(format!("{name}: empty destination sequence"));
        }
        self.runs += 1;
        let (worker_name, expect, handled_event) = match (&worker, traffic) {
            (WorkerKind::MacSwap, _) => ("macswap", Expect::MacSwapped, Event::TxPackets),
            (WorkerKind::Msm { .. }, Traffic::Downlink) => {
                ("msm", Expect::Encapsulated, Event::DownlinkTunnel)
            }
            (WorkerKind::Msm { .. }, Traffic::Uplink) => {
                ("msm", Expect::Decapsulated, Event::UplinkTunnel)
            }
        };
        if matches!(worker, WorkerKind::MacSwap) && traffic != Traffic::Downlink {
            return Err("the macswap baseline uses the downlink frames".into());
        }
        let mut gen = Generator {
            tpl: Template::new(traffic, self.macs[INET]),
            seq,
            pos: 0,
            expect,
            port_mac: self.macs[INET],
            pkts: 0,
            checked: 0,
            bad: 0,
            refill_failed: 0,
        };
        let counters: Arc<[Counters]> = (0..1).map(|_| Counters::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for (i, p) in self.ports.iter().enumerate() {
            rx.push((i as u16, p.id().rx_queue(0).map_err(|e| e.to_string())?));
            tx.push(p.id().tx_queue(0).map_err(|e| e.to_string())?);
        }
        let (to_control, mut from_worker) = Ring::new_spsc(
            &format!("bench_ctl{}", self.runs),
            1024,
            msm_dpdk::socket_id(),
        )
        .map_err(|e| format!("ring: {e}"))?;

        // Prime: all circulating mbufs start as input frames in the rx ring.
        let mut b: MbufBurst<GEN_BURST> = MbufBurst::new();
        let mut primed = 0;
        while primed < self.inflight {
            let n = GEN_BURST.min(self.inflight - primed);
            if !self.pool.alloc_bulk(&mut b, n) {
                return Err(format!("{name}: mempool exhausted while priming"));
            }
            for m in b.iter_mut() {
                gen.refill(m);
            }
            if self.wire_in[INET].enqueue_burst(&mut b) != n {
                return Err(format!("{name}: rx ring full while priming"));
            }
            primed += n;
        }

        let total_ms = timing.warmup_ms + timing.window_ms;
        let mut perf = profile.and_then(|out| spawn_perf_record(out, total_ms));

        let stop_w = stop.clone();
        let counters_w = counters.clone();
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
                    counters: counters_w,
                    stop: stop_w,
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
                    counters: counters_w,
                    stop: stop_w,
                };
                Box::new(move || macswap(ctx))
            }
        };
        eal.launch_on(WORKER_LCORE, job)
            .map_err(|e| format!("{name}: launch on lcore {WORKER_LCORE}: {e}"))?;

        // The generator loop, on this (main) lcore.
        let hz = self.hz;
        let ticks = |ms: u64| hz.saturating_mul(ms) / 1000;
        let n_marks = (timing.window_ms / timing.sample_ms.max(1)).max(1) as usize + 1;
        let sample_ticks = ticks(timing.window_ms) / (n_marks as u64 - 1);
        let c = &counters[0];
        let mut snaps: Vec<Snap> = Vec::with_capacity(n_marks);
        let mut drops_first = Vec::new();
        let mut busy = 0u64;
        let mut next_mark = rdtsc() + ticks(timing.warmup_ms);
        let drops_last = loop {
            let now = rdtsc();
            if now >= next_mark {
                snaps.push(Snap {
                    tsc: now,
                    rx: c.get_event(Event::RxPackets),
                    tx: c.get_event(Event::TxPackets),
                    bursts: c.get_event(Event::Bursts),
                    drops: c.total_drops(),
                    handled: c.get_event(handled_event),
                    gen_pkts: gen.pkts,
                    gen_busy: busy,
                });
                if snaps.len() == 1 {
                    drops_first = c.snapshot();
                }
                if snaps.len() == n_marks {
                    break c.snapshot();
                }
                next_mark += sample_ticks;
            }
            let have = b.len();
            if self.wire_out[INET].dequeue_burst(&mut b) == 0 && have == 0 {
                std::hint::spin_loop();
                continue;
            }
            gen.recycle(&mut b.as_mut_slice()[have..]);
            // Cannot come back short (the ring holds every circulating mbuf);
            // anything left would simply go in on the next round.
            self.wire_in[INET].enqueue_burst(&mut b);
            busy += rdtsc() - now;
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
        drop(b);
        let drained = self.drain(&mut from_worker)?;
        if drained.wwan_tx > 0 {
            notes.push(format!("{} frames sent out of the WWAN port", drained.wwan_tx));
        }
        if drained.control > 0 {
            notes.push(format!("{} frames handed to the control ring", drained.control));
        }
        if gen.refill_failed > 0 {
            notes.push(format!("{} mbufs could not be rewritten", gen.refill_failed));
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
        let packets = l.rx - f.rx;
        let rate = |a: &Snap, b: &Snap| (b.rx - a.rx) as f64 / ((b.tsc - a.tsc) as f64 / hz as f64) / 1e6;
        let drops = drops_last
            .iter()
            .zip(drops_first.iter())
            .filter(|((n, _), _)| n.starts_with("drop_"))
            .map(|((n, a), (_, b))| (n.trim_start_matches("drop_").to_string(), a - b))
            .filter(|(_, d)| *d > 0)
            .collect::<Vec<_>>();
        debug_assert_eq!(drops.iter().map(|(_, n)| n).sum::<u64>(), l.drops - f.drops);
        Ok(RunResult {
            name: name.to_string(),
            worker: worker_name,
            traffic,
            seconds: dt / hz as f64,
            packets,
            mpps: packets as f64 / (dt / hz as f64) / 1e6,
            sample_mpps: snaps.windows(2).map(|w| rate(&w[0], &w[1])).collect(),
            tsc_per_pkt: if packets > 0 { dt / packets as f64 } else { f64::INFINITY },
            avg_burst: if l.bursts > f.bursts {
                packets as f64 / (l.bursts - f.bursts) as f64
            } else {
                0.0
            },
            tx_packets: l.tx - f.tx,
            handled: l.handled - f.handled,
            drops,
            gen_ns_per_pkt: if l.gen_pkts > f.gen_pkts {
                (l.gen_busy - f.gen_busy) as f64 / (l.gen_pkts - f.gen_pkts) as f64 / hz as f64 * 1e9
            } else {
                0.0
            },
            gen_busy: (l.gen_busy - f.gen_busy) as f64 / dt,
            checked: gen.checked,
            bad: gen.bad,
            notes,
            profile,
        })
    }

    /// After a run: frees whatever is left in the rings (the worker has
    /// stopped, so the generator may claim the ports' rx queues).
    fn drain(&mut self, ctl: &mut RingConsumer) -> Result<Drained, String> {
        let mut b: MbufBurst<GEN_BURST> = MbufBurst::new();
        for p in &self.ports {
            let mut q = p.id().rx_queue(0).map_err(|e| e.to_string())?;
            while b.rx(&mut q) > 0 {
                b.clear();
            }
        }
        let mut out = [0u64; 2];
        for (i, w) in self.wire_out.iter_mut().enumerate() {
            loop {
                let n = w.dequeue_burst(&mut b);
                if n == 0 {
                    break;
                }
                out[i] += n as u64;
                b.clear();
            }
        }
        let mut control = 0;
        loop {
            let n = ctl.dequeue_burst(&mut b);
            if n == 0 {
                break;
            }
            control += n as u64;
            b.clear();
        }
        Ok(Drained {
            wwan_tx: out[WWAN],
            control,
        })
    }
}

struct Drained {
    wwan_tx: u64,
    control: u64,
}

/// The appliance's plane for the two ring ports, next hops pre-resolved (as
/// after the control lcore's first ARP exchange).
fn plane(macs: &[[u8; 6]]) -> Result<Plane, String> {
    let neigh = Neighbours::new(&[(WWAN as u16, traffic::WWAN_GW), (INET as u16, traffic::INET_GW)]);
    let to_wwan = neigh.index_of(WWAN as u16, traffic::WWAN_GW).ok_or("wwan next hop")?;
    let to_internet = neigh.index_of(INET as u16, traffic::INET_GW).ok_or("internet next hop")?;
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

/// `perf record -e cpu-clock -C 1` for `ms` milliseconds, in the background.
fn spawn_perf_record(out: &Path, ms: u64) -> Option<Child> {
    let secs = format!("{:.1}", ms as f64 / 1000.0);
    let child = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-C", "1", "-o"])
        .arg(out)
        .args(["--", "sleep", &secs])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // Let perf attach before the worker starts.
    std::thread::sleep(std::time::Duration::from_millis(300));
    Some(child)
}

/// The flat profile: `perf report --stdio --sort dso,symbol`, without comments.
fn perf_report(path: &Path) -> Vec<String> {
    let out = Command::new("perf")
        .args(["report", "--stdio", "--sort", "dso,symbol", "--percent-limit", "0.7", "-i"])
        .arg(path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .take(40)
            .map(|l| l.trim_end().to_string())
            .collect(),
        Ok(o) => vec![format!("perf report failed: {}", o.status)],
        Err(e) => vec![format!("perf report: {e}")],
    }
}
