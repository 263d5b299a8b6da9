//! Control-plane benchmark: authenticated, durable registrations per second on
//! one control lcore with N bindings loaded; registration-to-visible (seen by a worker)
//! and registration-to-acknowledged latency; and the lookup rate of a worker proxy while
//! a registration storm is being published.
//!
//! ```text
//! cargo run --release --example regbench -- [--bindings 10000000] [--requests 4000000]
//!     [--batches 32,64,256,1024] [--run-secs 3] [--quiet-secs 3] [--dir /var/tmp]
//!     [--writer-cpu 1] [--reader-cpu 0] [--no-pin] [--no-compact] [--micro 100000]
//! ```
//!
//! No DPDK. The timed loop drives the production `RegistrationService`
//! (`src/control/service.rs`) the way the control lcore does for one batch of requests
//! taken off the workers' rings: `reg_io::extract` the request from its frame,
//! `RegistrationService::submit` (`Registrar::handle`: parse, subscriber, HMAC-SHA-256,
//! replay, table upsert, signed Reply; `Journal::append` of the change), then
//! `RegistrationService::finish_batch` (one group `Journal::commit`: write + fdatasync on
//! the real disk; `TableWriter::publish`; the Replies released into
//! `reg_io::write_reply`, without the `rte_eth_tx_burst`), then the loop's
//! `RegistrationService::expire` + `reclaim`. Requests are
//! pre-built frames (the mobiles' cost), one per distinct subscriber, care-of addresses
//! random; the table, subscriber store and replay state hold `--bindings` entries.
//!
//! A second thread, pinned to the other CPU, plays a worker: bursts of 32 random lookups
//! over the bound population (prefetch all, then look up) inside an RCU read section, plus
//! a check of the "probe" registrations announced by the writer (one per batch, at a random
//! position): it records when it first sees the probe's new care-of address.
//!
//! Prints a markdown report on stdout (progress on stderr).

use crossbeam_utils::CachePadded;
use msm::config::{Prefix, RegistrationConfig};
use msm::control::journal::{Journal, Record};
use msm::control::reg_io::{self, RegPacket};
use msm::control::registrar::{Now, Registrar};
use msm::control::service::RegistrationService;
use msm::control::subscribers::{self, Subscribers};
use msm::dataplane::pipeline::PacketBuf;
use msm_mip::Code;
use msm_table::{Binding, Lookup, Rcu, RcuReader, TableConfig, TableHandle, TableWriter};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// IPmsm-gprs (path 1 destination) and IPmsm-wlan.
const GPRS: u32 = 0xc000_0281; // 192.0.2.129
const WLAN: u32 = 0xc633_6401; // 198.51.100.1
const MY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Bytes per pre-built frame slot (request 119 B, reply 115 B).
const SLOT: usize = 128;
const BURST: usize = 32;
const HOME_POOL: &str = "10.0.0.0/8";

// ---------------------------------------------------------------------------------------
// Arguments

struct Args {
    bindings: u64,
    requests: usize,
    batches: Vec<usize>,
    run_secs: f64,
    quiet_secs: f64,
    dir: PathBuf,
    writer_cpu: usize,
    reader_cpu: usize,
    pin: bool,
    compact: bool,
    micro: usize,
    seed: u64,
    wait_idle: f64,
    attempts: usize,
}

const USAGE: &str = "regbench [--bindings N] [--requests N] [--batches 32,64,256,1024] \
[--run-secs S] [--quiet-secs S] [--dir DIR] [--writer-cpu C] [--reader-cpu C] [--no-pin] \
[--no-compact] [--micro N] [--seed N] [--wait-idle S] [--attempts N]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        bindings: 10_000_000,
        requests: 4_000_000,
        batches: vec![32, 64, 256, 1024],
        run_secs: 3.0,
        quiet_secs: 3.0,
        dir: PathBuf::from("/var/tmp"),
        writer_cpu: 1,
        reader_cpu: 0,
        pin: true,
        compact: true,
        micro: 100_000,
        seed: 3,
        wait_idle: 300.0,
        attempts: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
        fn num<T: std::str::FromStr>(k: &str, v: String) -> Result<T, String> {
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{k}: bad number '{v}'"))
        }
        match k.as_str() {
            "--bindings" => a.bindings = num(&k, val()?)?,
            "--requests" => a.requests = num(&k, val()?)?,
            "--batches" => {
                a.batches = val()?
                    .split(',')
                    .map(|s| num(&k, s.to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--run-secs" => a.run_secs = num(&k, val()?)?,
            "--quiet-secs" => a.quiet_secs = num(&k, val()?)?,
            "--dir" => a.dir = PathBuf::from(val()?),
            "--writer-cpu" => a.writer_cpu = num(&k, val()?)?,
            "--reader-cpu" => a.reader_cpu = num(&k, val()?)?,
            "--no-pin" => a.pin = false,
            "--no-compact" => a.compact = false,
            "--micro" => a.micro = num(&k, val()?)?,
            "--seed" => a.seed = num(&k, val()?)?,
            "--wait-idle" => a.wait_idle = num(&k, val()?)?,
            "--attempts" => a.attempts = num(&k, val()?)?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ => return Err(format!("unknown argument {k}\n{USAGE}")),
        }
    }
    if a.bindings == 0 || a.batches.is_empty() || a.batches.contains(&0) {
        return Err("--bindings and every batch size must be > 0".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------
// Small helpers

fn pin_to(cpu: usize) -> bool {
    // SAFETY: plain libc calls on a zeroed cpu_set_t for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Run delay (ns spent runnable but not running) of the calling thread.
fn run_delay_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Interrupts per CPU since boot (sum of every /proc/interrupts row).
fn cpu_interrupts() -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string("/proc/interrupts") else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let ncpu = lines
        .next()
        .map(|l| l.split_whitespace().count())
        .unwrap_or(0);
    let mut sum = vec![0u64; ncpu];
    for l in lines {
        for (i, f) in l.split_whitespace().skip(1).take(ncpu).enumerate() {
            match f.parse::<u64>() {
                Ok(v) => sum[i] += v,
                Err(_) => break,
            }
        }
    }
    sum
}

/// Per-CPU busy share over `d`, from /proc/stat (user+nice+system+irq+softirq+steal).
fn cpu_busy(d: Duration) -> Vec<f64> {
    fn sample() -> Vec<(u64, u64)> {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let total: u64 = v.iter().take(8).sum();
                let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
                (total, total - idle)
            })
            .collect()
    }
    let a = sample();
    std::thread::sleep(d);
    let b = sample();
    a.iter()
        .zip(&b)
        .map(|(x, y)| {
            let t = y.0.saturating_sub(x.0).max(1);
            100.0 * y.1.saturating_sub(x.1) as f64 / t as f64
        })
        .collect()
}

/// CPU time (USER_HZ ticks) spent by everything (all CPUs, busy) and by this process.
fn cpu_ticks() -> (u64, u64) {
    let all = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            t.lines().next().map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                v.iter().take(8).sum::<u64>()
                    - v.get(3).copied().unwrap_or(0)
                    - v.get(4).copied().unwrap_or(0)
            })
        })
        .unwrap_or(0);
    // /proc/self/stat: fields after the ")" of comm; utime and stime are 14 and 15.
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| {
            let rest = t.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    (all, own)
}

/// CPU ticks of every process (whole process, all threads) by pid.
fn proc_ticks() -> HashMap<u32, (String, u64)> {
    let mut m = HashMap::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return m;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(t) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (t.find('('), t.rfind(')')) else {
            continue;
        };
        let name = t[open + 1..close].to_string();
        let f: Vec<&str> = t[close + 1..].split_whitespace().collect();
        let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        m.insert(pid, (name, ticks));
    }
    m
}

/// Sectors written to every block device (not loop/ram) since boot.
fn disk_sectors_written() -> u64 {
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return 0;
    };
    rd.flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            !n.starts_with("loop") && !n.starts_with("ram")
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|t| {
            t.split_whitespace()
                .nth(6)
                .and_then(|x| x.parse::<u64>().ok())
        })
        .sum()
}

/// A zeroed anonymous mapping advised for transparent huge pages (DPDK mbufs live in
/// huge pages too). Leaked: it lives as long as the benchmark.
fn huge_zeroed(len: usize) -> &'static mut [u8] {
    let len = len.max(1).next_multiple_of(2 << 20);
    // SAFETY: a fresh private anonymous mapping, used only through the returned slice.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert!(p != libc::MAP_FAILED, "mmap {len} bytes");
        libc::madvise(p, len, libc::MADV_HUGEPAGE);
        std::slice::from_raw_parts_mut(p.cast::<u8>(), len)
    }
}

fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The care-of address the pre-filled binding of subscriber `i` has (203.0.113.0/24;
/// registrations move it into 198.18.0.0/15).
fn prefill_coa(i: u64) -> u32 {
    0xcb00_7100 | (i as u32 & 0xff) | 1
}

/// A frame slot as a [`PacketBuf`] (no headroom: path 1 replies need none).
struct SlotBuf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl PacketBuf for SlotBuf<'_> {
    fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
    fn prepend(&mut self, _n: usize) -> bool {
        false
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.len -= n;
        true
    }
    fn append(&mut self, n: usize) -> bool {
        if self.len + n > self.buf.len() {
            return false;
        }
        self.len += n;
        true
    }
}

// ---------------------------------------------------------------------------------------
// Writer <-> worker proxy

struct Shared {
    base: Instant,
    stop: AtomicBool,
    /// Current phase id (the reader accounts its lookups per phase).
    phase: CachePadded<AtomicUsize>,
    /// Probes announced so far (probe ids `0..announced`).
    announced: CachePadded<AtomicUsize>,
    probe_home: Box<[AtomicU32]>,
    probe_coa: Box<[AtomicU32]>,
    /// Bound population: homes `home_base + 0..n`.
    home_base: u32,
    n: u64,
}

impl Shared {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct PhaseStat {
    lookups: u64,
    misses: u64,
    secs: f64,
    run_delay_ns: u64,
}

struct ReaderOut {
    phases: Vec<PhaseStat>,
    /// Per probe id: when the new care-of address was first seen (0: never).
    seen: Vec<u64>,
    cpu_ok: bool,
}

const MAX_PHASES: usize = 256;

fn worker_proxy(
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

/// A phase boundary: CPU ticks (all CPUs busy, this process), per-process ticks, disk
/// sectors written.
struct Mark {
    label: String,
    ticks: (u64, u64),
    procs: HashMap<u32, (String, u64)>,
    sectors: u64,
}

impl Mark {
    fn now(label: String) -> Mark {
        Mark {
            label,
            ticks: cpu_ticks(),
            procs: proc_ticks(),
            sectors: disk_sectors_written(),
        }
    }
}

/// A phase in which other processes used more CPU than this is repeated.
const FOREIGN_LIMIT_MS: u64 = 150;

fn tick_hz() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as u64
}

/// CPU time (ms) used between two marks by everything but this process.
fn foreign_ms(a: &Mark, b: &Mark) -> u64 {
    let all = b.ticks.0.saturating_sub(a.ticks.0);
    let own = b.ticks.1.saturating_sub(a.ticks.1);
    all.saturating_sub(own) * 1000 / tick_hz()
}

fn busiest_others(a: &Mark, b: &Mark) -> String {
    let me = std::process::id();
    let mut v: Vec<(u64, &str, u32)> = b
        .procs
        .iter()
        .filter(|(pid, _)| **pid != me)
        .filter_map(|(pid, (name, t))| {
            let t0 = a.procs.get(pid).map(|x| x.1).unwrap_or(0);
            let d = t.saturating_sub(t0);
            (d * 1000 / tick_hz() >= 20).then_some((d, name.as_str(), *pid))
        })
        .collect();
    v.sort_unstable_by_key(|x| std::cmp::Reverse(x.0));
    v.iter()
        .take(3)
        .map(|(d, n, p)| format!("{n}({p}) {} ms", d * 1000 / tick_hz()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `body` as phase `label` (the worker proxy accounts its lookups to it), repeating
/// it up to `attempts` times while other processes used the CPUs. Returns the phase id.
fn phase<T>(
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

// ---------------------------------------------------------------------------------------
// The control lcore

/// The production registration service; a request's token is its frame slot and where
/// it was found (the control lcore's is the mbuf).
type Service = RegistrationService<(usize, RegPacket)>;

/// The control lcore's state besides the service.
struct Ctl {
    svc: Service,
    ip_id: u16,
}

impl Ctl {
    fn journal(&self) -> &Journal {
        self.svc.journal().expect("regbench runs with a journal")
    }
}

#[derive(Default)]
struct RunStats {
    batch: usize,
    requests: usize,
    accepted: u64,
    not_accepted: u64,
    journal_errors: u64,
    reply_failed: u64,
    malformed: u64,
    expired: u64,
    wall: Duration,
    /// Stage totals (ns): extract + handle + append; commit; publish; replies;
    /// expire + reclaim.
    t_handle: u64,
    t_commit: u64,
    t_publish: u64,
    t_reply: u64,
    t_house: u64,
    commits: Vec<u64>,
    batch_ns: Vec<u64>,
    ack: Vec<u64>,
    arrival_ack: Vec<u64>,
    /// (probe id, request started) of this run.
    probes: Vec<(usize, u64)>,
    irq: Vec<u64>,
    writer_run_delay_ns: u64,
    journal_bytes: u64,
}

#[allow(clippy::too_many_arguments)]
fn run_storm(
    ctl: &mut Ctl,
    sh: &Shared,
    frames: &mut [u8],
    coas: &[u32],
    homes: &[u32],
    flen: usize,
    start: usize,
    alloc: usize,
    b: usize,
    max_secs: f64,
    rng: &mut StdRng,
) -> RunStats {
    let mut st = RunStats {
        batch: b,
        ..Default::default()
    };
    let mut started = vec![0u64; alloc];
    let mut acked = vec![0u64; alloc];
    let mut batches: Vec<(usize, usize, u64)> = Vec::new(); // (first, n, start ns)
    let irq0 = cpu_interrupts();
    let rd0 = run_delay_ns();
    let jb0 = ctl.journal().stats().bytes;
    let t_run = Instant::now();
    let mut j = 0usize;
    while j < alloc && t_run.elapsed().as_secs_f64() < max_secs {
        let n = b.min(alloc - j);
        let probe_at = rng.gen_range(0..n);
        let tb = sh.now_ns();
        batches.push((j, n, tb));
        for k in 0..n {
            let idx = start + j + k;
            let t = sh.now_ns();
            started[j + k] = t;
            if k == probe_at {
                let p = sh.announced.load(Ordering::Relaxed);
                if p < sh.probe_home.len() {
                    sh.probe_home[p].store(homes[idx], Ordering::Relaxed);
                    sh.probe_coa[p].store(coas[idx], Ordering::Relaxed);
                    sh.announced.store(p + 1, Ordering::Release);
                    st.probes.push((p, t));
                }
            }
            // === the control lcore's take_request ===
            let frame = &frames[idx * SLOT..idx * SLOT + flen];
            let reg = match reg_io::extract(frame, GPRS, WLAN) {
                Ok(r) => r,
                Err(_) => {
                    st.malformed += 1;
                    continue;
                }
            };
            let payload = &frame[reg.payload.0..reg.payload.1];
            ctl.svc
                .submit((idx, reg), payload, reg.path, reg.src, Now::system());
        }
        // === the control lcore's finish_batch ===
        let t1 = sh.now_ns();
        let ip_id = &mut ctl.ip_id;
        let report = ctl.svc.finish_batch(|(idx, reg), reply| {
            if reply.code == Some(Code::Accepted) {
                st.accepted += 1;
            } else {
                st.not_accepted += 1;
            }
            *ip_id = ip_id.wrapping_add(2);
            let mut buf = SlotBuf {
                buf: &mut frames[idx * SLOT..(idx + 1) * SLOT],
                len: flen,
            };
            if !reg_io::write_reply(&mut buf, &reg, reply.payload, MY_MAC, 64, *ip_id) {
                st.reply_failed += 1;
                return;
            }
            acked[idx - start] = sh.now_ns();
        });
        st.journal_errors += report.withheld as u64;
        let t4 = sh.now_ns();
        // === the rest of the control loop iteration ===
        st.expired += ctl.svc.expire(Now::system()) as u64;
        ctl.svc.reclaim();
        let t5 = sh.now_ns();
        let (commit, publish) = (
            report.commit.as_nanos() as u64,
            report.publish.as_nanos() as u64,
        );
        let (t2, t3) = (t1 + commit, t1 + commit + publish);
        st.t_handle += t1 - tb;
        st.t_commit += t2 - t1;
        st.t_publish += t3 - t2;
        st.t_reply += t4.saturating_sub(t3);
        st.t_house += t5 - t4;
        st.commits.push(t2 - t1);
        st.batch_ns.push(t5 - tb);
        j += n;
    }
    st.wall = t_run.elapsed();
    st.writer_run_delay_ns = run_delay_ns() - rd0;
    st.journal_bytes = ctl.journal().stats().bytes - jb0;
    let irq1 = cpu_interrupts();
    st.irq = irq1.iter().zip(&irq0).map(|(a, b)| a - b).collect();
    st.requests = j;
    // Latencies. Ack: from the start of handling to the Reply written (after the group
    // commit). Arrival-to-ack (model of a saturating storm): a request of batch k
    // arrived during batch k-1, spread uniformly by its position.
    for w in 0..batches.len() {
        let (first, n, sb) = batches[w];
        for k in 0..n {
            let a = acked[first + k];
            if a == 0 {
                continue;
            }
            st.ack.push(a - started[first + k]);
            if w > 0 {
                let pb = batches[w - 1].2;
                let arrival = pb + (sb - pb) * k as u64 / n as u64;
                st.arrival_ack.push(a - arrival);
            }
        }
    }
    st.ack.sort_unstable();
    st.arrival_ack.sort_unstable();
    st.commits.sort_unstable();
    st.batch_ns.sort_unstable();
    st
}

/// What the control loop does with no registrations: expire + reclaim, then sleep 200 µs.
fn control_idle(ctl: &mut Ctl, d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        ctl.svc.expire(Now::system());
        ctl.svc.reclaim();
        std::thread::sleep(Duration::from_micros(200));
    }
}

// ---------------------------------------------------------------------------------------
// Setup

/// Builds the frames of subscribers `idx` (Ethernet + IPv4 + UDP + Registration Request,
/// path 1: from the home address to IPmsm-gprs) into `arena`; returns (home, care-of).
fn build_frames(
    arena: &mut [u8],
    idx: &[u32],
    pools: &[Prefix],
    ntp: u32,
    first_counter: u32,
    seed: u64,
) -> Vec<(u32, u32)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(idx.len());
    let mut payload = [0u8; SLOT];
    let mut frame: Vec<u8> = Vec::with_capacity(SLOT);
    for (k, (&i, slot)) in idx.iter().zip(arena.chunks_exact_mut(SLOT)).enumerate() {
        let i = u64::from(i);
        let home = subscribers::test_home(i, pools).expect("home in pool");
        let coa = 0xc612_0000 | (rng.gen::<u32>() & 0x1_fffe) | 1; // 198.18.0.0/15
        let key = subscribers::test_key(i);
        let nai = subscribers::test_msisdn(i).to_string();
        let n = msm_mip::RequestBuilder {
            lifetime: 600,
            home: Ipv4Addr::from(home),
            home_agent: Ipv4Addr::from(GPRS),
            care_of: Ipv4Addr::from(coa),
            identification: (u64::from(ntp) << 32) | u64::from(first_counter + k as u32),
            nai: &nai,
            spi: 256,
            key: &key,
        }
        .emit(&mut payload)
        .expect("request fits");
        frame.clear();
        etherparse::PacketBuilder::ethernet2(PEER_MAC, MY_MAC)
            .ipv4(home.to_be_bytes(), GPRS.to_be_bytes(), 64)
            .udp(49_152, msm_mip::MIP_PORT)
            .write(&mut frame, &payload[..n])
            .expect("frame");
        assert!(frame.len() <= SLOT);
        slot[..frame.len()].copy_from_slice(&frame);
        out.push((home, coa));
    }
    out
}

fn timed<T>(label: &str, setup: &mut Vec<(String, Duration)>, f: impl FnOnce() -> T) -> T {
    eprintln!("regbench: {label} ...");
    let t = Instant::now();
    let r = f();
    let d = t.elapsed();
    eprintln!("regbench: {label}: {}", secs(d));
    setup.push((label.to_string(), d));
    r
}

// ---------------------------------------------------------------------------------------
// Micro-measurements (isolated, on requests the runs do not use)

#[allow(clippy::too_many_arguments)]
fn micro(
    out: &mut String,
    registrar: &Registrar,
    writer: &mut TableWriter,
    frames: &[u8],
    flen: usize,
    sample: std::ops::Range<usize>,
    idx: &[u32],
    unix_now: u64,
) {
    let m = sample.len().max(1) as f64;
    let mut rows: Vec<(&str, f64)> = Vec::new();
    let frame = |j: usize| &frames[j * SLOT..j * SLOT + flen];

    let t = Instant::now();
    for _ in sample.clone() {
        black_box(Instant::now());
    }
    rows.push((
        "Instant::now (instrumentation, 2 per request)",
        t.elapsed().as_nanos() as f64 / m,
    ));
    let t = Instant::now();
    for _ in sample.clone() {
        black_box(Now::system());
    }
    rows.push((
        "Now::system (once per request, as the control lcore)",
        t.elapsed().as_nanos() as f64 / m,
    ));

    let t = Instant::now();
    let mut regs = Vec::with_capacity(sample.len());
    for j in sample.clone() {
        regs.push(reg_io::extract(frame(j), GPRS, WLAN).expect("extract"));
    }
    rows.push((
        "reg_io::extract (Eth/IPv4/UDP + UDP checksum)",
        t.elapsed().as_nanos() as f64 / m,
    ));

    let t = Instant::now();
    let mut parsed = Vec::with_capacity(sample.len());
    for (j, r) in sample.clone().zip(&regs) {
        let p =
            msm_mip::parse_request_any_flags(&frame(j)[r.payload.0..r.payload.1]).expect("parse");
        parsed.push(p);
    }
    rows.push(("parse_request_any_flags", t.elapsed().as_nanos() as f64 / m));

    let subs = registrar.subscribers();
    let t = Instant::now();
    let mut found = Vec::with_capacity(sample.len());
    for p in &parsed {
        found.push(
            *subs
                .by_msisdn(p.msisdn().expect("nai"))
                .expect("subscriber"),
        );
    }
    rows.push((
        "Subscribers::by_msisdn (random over the store)",
        t.elapsed().as_nanos() as f64 / m,
    ));

    let t = Instant::now();
    let mut ok = 0usize;
    for (p, s) in parsed.iter().zip(&found) {
        ok += usize::from(msm_mip::verify_mn_ha(p, s.key()));
    }
    rows.push((
        "verify_mn_ha (HMAC-SHA-256, request)",
        t.elapsed().as_nanos() as f64 / m,
    ));
    assert_eq!(ok, parsed.len(), "every sample request authenticates");

    let t = Instant::now();
    let mut buf = [0u8; msm::control::registrar::MAX_REPLY];
    for (p, s) in parsed.iter().zip(&found) {
        let n = msm_mip::ReplyBuilder {
            code: Code::Accepted,
            lifetime: 600,
            home: p.home,
            home_agent: p.home_agent,
            identification: p.identification,
            nai: p.nai_str().unwrap_or(""),
            spi: s.spi,
            key: s.key(),
        }
        .emit(&mut buf)
        .expect("reply");
        black_box(&buf[..n]);
    }
    rows.push((
        "ReplyBuilder::emit (HMAC-SHA-256, reply)",
        t.elapsed().as_nanos() as f64 / m,
    ));

    // Same values as the pre-fill: an in-place update that leaves the slot word alone.
    let exp = (unix_now + 3600) as u32;
    let t = Instant::now();
    for &i in &idx[sample.clone()] {
        let i = u64::from(i);
        let home = found_home(i);
        writer
            .upsert(home, Some(prefill_coa(i)), subscribers::test_msisdn(i), exp)
            .expect("upsert");
    }
    rows.push((
        "TableWriter::upsert (in-place update, random)",
        t.elapsed().as_nanos() as f64 / m,
    ));
    let t = Instant::now();
    for &i in &idx[sample.clone()] {
        black_box(writer.get(found_home(u64::from(i))));
    }
    rows.push((
        "TableWriter::get (handle() calls it once more)",
        t.elapsed().as_nanos() as f64 / m,
    ));

    let t = Instant::now();
    let mut jbuf: Vec<u8> = Vec::with_capacity(sample.len() * 36);
    for (p, s) in parsed.iter().zip(&found) {
        let r = Record::upsert(
            &Binding {
                home: s.home,
                coa: Some(u32::from(p.care_of)),
                msisdn: s.msisdn,
                expires_at: exp,
            },
            p.identification,
        );
        jbuf.extend_from_slice(&r.encode());
    }
    black_box(&jbuf);
    rows.push((
        "Record encode + append to a buffer (CRC-32)",
        t.elapsed().as_nanos() as f64 / m,
    ));

    let _ = writeln!(out, "| operation | ns/op |\n|---|---:|");
    let mut sum = 0.0;
    for (name, ns) in &rows {
        let _ = writeln!(out, "| {name} | {ns:.0} |");
        if !name.starts_with("Instant") {
            sum += ns;
        }
    }
    let _ = writeln!(out, "| **sum (without instrumentation)** | **{sum:.0}** |");
}

/// Home of subscriber `i` in the single test pool.
fn found_home(i: u64) -> u32 {
    // 10.0.0.0/8: base + i (checked against subscribers::test_home in main).
    0x0a00_0000 + i as u32
}

// ---------------------------------------------------------------------------------------

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let cmdline: Vec<String> = std::env::args().skip(1).collect();
    let mut out = String::new();
    let mut setup: Vec<(String, Duration)> = Vec::new();
    let pools = vec![Prefix::parse(HOME_POOL).expect("pool")];
    let n = args.bindings;
    assert!(
        subscribers::test_home(n - 1, &pools).is_some(),
        "{HOME_POOL} holds fewer than {n} addresses"
    );
    assert_eq!(
        subscribers::test_home(n - 1, &pools),
        Some(found_home(n - 1))
    );
    // Other benchmarks share this machine: wait (up to --wait-idle s) for idle CPUs.
    let t_wait = Instant::now();
    let mut busy = cpu_busy(Duration::from_millis(1000));
    while busy.iter().any(|b| *b > 10.0) && t_wait.elapsed().as_secs_f64() < args.wait_idle {
        eprintln!("regbench: waiting for idle CPUs ({busy:.0?} % busy)");
        busy = cpu_busy(Duration::from_millis(2000));
    }

    let tmp = args.dir.join(format!(
        "regbench-{}-{}",
        std::process::id(),
        Now::system().unix_s
    ));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let sub_path = tmp.join("subscribers.txt");
    timed(
        &format!("write_test_file ({n} subscribers)"),
        &mut setup,
        || subscribers::write_test_file(&sub_path, n, &pools).expect("write subscribers"),
    );
    let sub_bytes = std::fs::metadata(&sub_path).map(|m| m.len()).unwrap_or(0);
    let subs = timed("Subscribers::load", &mut setup, || {
        Subscribers::load(&sub_path, &pools).expect("load subscribers")
    });
    let _ = std::fs::remove_file(&sub_path);
    let subs_mem = subs.memory_bytes();

    let now0 = Now::system();
    let ntp0 = (now0.unix_s + msm_mip::NTP_UNIX_OFFSET) as u32;
    let cfg = RegistrationConfig {
        subscribers: None,
        state_dir: None,
        max_lifetime_s: 600,
        // The Identifications are made before the runs: a window wider than the default
        // 7 s keeps them valid for the whole benchmark (same cost per check).
        replay_window_s: 300,
        // High (below the bucket's arithmetic limit, ~10M/s with Unix-epoch ms).
        admission_per_sec: 4_000_000,
        per_subscriber_per_sec: 10,
        journal_compact_bytes: 64 << 20,
    };
    let compact_bytes = cfg.journal_compact_bytes;
    let (rcu, mut readers) = Rcu::new(1);
    let mut writer = timed(
        &format!("TableWriter::new (max_bindings {n})"),
        &mut setup,
        || TableWriter::new(TableConfig::new(n as usize), rcu).expect("table"),
    );
    let expires = (now0.unix_s + 3600) as u32;
    timed(&format!("pre-fill {n} bindings"), &mut setup, || {
        for i in 0..n {
            writer
                .upsert(
                    found_home(i),
                    Some(prefill_coa(i)),
                    subscribers::test_msisdn(i),
                    expires,
                )
                .expect("prefill");
        }
        writer.publish();
    });
    let table_mem = writer.memory_bytes();
    let mut registrar = Registrar::new(cfg, pools.clone(), subs, vec![GPRS, WLAN]);
    let old_ident = (u64::from(ntp0 - 60) << 32) | 1;
    timed(
        &format!("restore_ident x {n} (replay state, as after a journal replay)"),
        &mut setup,
        || {
            for i in 0..n {
                registrar.restore_ident(subscribers::test_msisdn(i), old_ident);
            }
        },
    );
    let state_dir = tmp.join("state");
    let (journal, _) = Journal::open(&state_dir).expect("journal");

    // Requests: distinct random subscribers.
    let pool = (args.requests + args.micro).min(n as usize);
    let requests = pool.saturating_sub(args.micro).max(1).min(pool);
    let micro_n = pool - requests;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let idx: Vec<u32> = timed("choose subscribers (partial shuffle)", &mut setup, || {
        let mut all: Vec<u32> = (0..n as u32).collect();
        let (chosen, _) = all.partial_shuffle(&mut rng, pool);
        chosen.to_vec()
    });
    let frames: &mut [u8] = huge_zeroed(pool * SLOT);
    let hc: Vec<(u32, u32)> = timed(
        &format!("build {pool} request frames (2 threads, HMAC each)"),
        &mut setup,
        || {
            let threads = 2usize;
            let per = pool.div_ceil(threads);
            std::thread::scope(|s| {
                let hs: Vec<_> = frames
                    .chunks_mut(per * SLOT)
                    .zip(idx.chunks(per))
                    .enumerate()
                    .map(|(t, (arena, ids))| {
                        let pools = &pools;
                        s.spawn(move || {
                            build_frames(arena, ids, pools, ntp0, 2 + (t * per) as u32, t as u64)
                        })
                    })
                    .collect();
                hs.into_iter()
                    .flat_map(|h| h.join().expect("builder"))
                    .collect()
            })
        },
    );
    let homes: Vec<u32> = hc.iter().map(|x| x.0).collect();
    let coas: Vec<u32> = hc.iter().map(|x| x.1).collect();
    let flen = {
        let r = reg_io::extract(&frames[..SLOT], GPRS, WLAN).expect("first frame");
        r.payload.1
    };

    // Isolated per-operation costs.
    let mut micro_md = String::new();
    if micro_n > 0 {
        eprintln!("regbench: micro-measurements on {micro_n} requests ...");
        micro(
            &mut micro_md,
            &registrar,
            &mut writer,
            frames,
            flen,
            requests..pool,
            &idx,
            now0.unix_s,
        );
    }

    let mut ctl = Ctl {
        svc: RegistrationService::new(Some(registrar), writer, Some(journal), compact_bytes),
        ip_id: 0,
    };

    // Worker proxy.
    let max_probes = requests / args.batches.iter().min().copied().unwrap_or(1) + 64;
    let sh = Arc::new(Shared {
        base: Instant::now(),
        stop: AtomicBool::new(false),
        phase: CachePadded::new(AtomicUsize::new(0)),
        announced: CachePadded::new(AtomicUsize::new(0)),
        probe_home: (0..max_probes).map(|_| AtomicU32::new(0)).collect(),
        probe_coa: (0..max_probes).map(|_| AtomicU32::new(0)).collect(),
        home_base: found_home(0),
        n,
    });
    let writer_cpu_ok = if args.pin {
        pin_to(args.writer_cpu)
    } else {
        true
    };
    let reader_thread = {
        let sh = Arc::clone(&sh);
        let reader = readers.pop().expect("reader");
        let handle = ctl.svc.writer().handle();
        let cpu = args.pin.then_some(args.reader_cpu);
        std::thread::spawn(move || worker_proxy(sh, reader, handle, cpu))
    };
    let mut marks: Vec<Mark> = vec![Mark::now("warm-up".into())];
    let attempts = args.attempts.max(1);
    control_idle(&mut ctl, Duration::from_millis(500));
    let quiet = Duration::from_secs_f64(args.quiet_secs);
    let (q_idle, _) = phase(
        &mut marks,
        &sh,
        "quiet, control idle loop",
        attempts,
        |_| control_idle(&mut ctl, quiet),
    );
    let (q_spin, _) = phase(
        &mut marks,
        &sh,
        "quiet, control core spinning",
        attempts,
        |_| {
            let t = Instant::now();
            while t.elapsed() < quiet {
                for _ in 0..1000 {
                    std::hint::spin_loop();
                }
            }
        },
    );
    let mut runs: Vec<(usize, RunStats)> = Vec::new();
    let mut cursor = 0usize;
    let nb = args.batches.len();
    for (r, &b) in args.batches.iter().enumerate() {
        if (requests - cursor) / (nb - r) < 16 * b {
            eprintln!("regbench: request pool exhausted (retries?): no run with batches of {b}");
            continue;
        }
        let (ph, st) = phase(&mut marks, &sh, &format!("storm B={b}"), attempts, |_| {
            let alloc = (requests - cursor) / (nb - r);
            eprintln!("regbench: storm with batches of {b} (up to {alloc} requests) ...");
            let st = run_storm(
                &mut ctl,
                &sh,
                frames,
                &coas,
                &homes,
                flen,
                cursor,
                alloc,
                b,
                args.run_secs,
                &mut rng,
            );
            cursor += st.requests;
            eprintln!(
                "regbench:   {} requests in {} -> {:.0}/s",
                st.requests,
                secs(st.wall),
                st.accepted as f64 / st.wall.as_secs_f64()
            );
            st
        });
        runs.push((ph, st));
        control_idle(&mut ctl, Duration::from_millis(200));
    }
    let (q_after, _) = phase(
        &mut marks,
        &sh,
        "quiet, control idle loop (after)",
        attempts,
        |_| control_idle(&mut ctl, quiet),
    );
    sh.stop.store(true, Ordering::Release);
    let ro = reader_thread.join().expect("worker proxy");

    // Sanity: the last replies verify, the table holds the new care-of addresses.
    let mut checked = 0;
    for j in (0..cursor).step_by((cursor / 1000).max(1)) {
        let i = u64::from(idx[j]);
        let f = &frames[j * SLOT..(j + 1) * SLOT];
        let ip_total = usize::from(u16::from_be_bytes([f[16], f[17]]));
        let p = msm_mip::parse_reply(&f[14 + 28..14 + ip_total]).expect("reply parses");
        assert_eq!(p.code, 0, "accepted");
        assert!(msm_mip::verify_mn_ha(&p, &subscribers::test_key(i)));
        assert_eq!(
            ctl.svc.writer().get(homes[j]).and_then(|b| b.coa),
            Some(coas[j])
        );
        checked += 1;
    }

    // Compaction (what maybe_compact does once the log passes journal_compact_bytes).
    let log_bytes = ctl.journal().log_bytes();
    let mut compact_md = String::new();
    if args.compact {
        let live = ctl.svc.writer().len();
        eprintln!("regbench: compaction of {live} live bindings ...");
        let t = Instant::now();
        let res = ctl.svc.compact();
        let t_compact = t.elapsed();
        let _ = writeln!(
            compact_md,
            "Compaction of {live} live bindings (log was {:.1} MiB; threshold 64 MiB = {} records): \
             `RegistrationService::compact` (collect the live records + `Journal::compact`) \
             **{}** ({}) during which the control lcore registers nothing.",
            log_bytes as f64 / (1 << 20) as f64,
            (64u64 << 20) / 36,
            secs(t_compact),
            if res.is_ok() { "ok" } else { "FAILED" },
        );
    }
    let jstats = ctl.journal().stats();
    let counters = ctl.svc.registrar().expect("registrar").counters.clone();
    let table_stats = ctl.svc.writer().stats();
    drop(ctl);
    let _ = std::fs::remove_dir_all(&tmp);

    // ---- report ----
    let _ = writeln!(
        out,
        "### Command\n\n```\ncargo run --release --example regbench -- {}\n```\n",
        cmdline.join(" ")
    );
    let _ = writeln!(
        out,
        "Bindings / subscribers / replay-state entries: {n}; home pool {HOME_POOL}; requests: {cursor} used \
         (distinct random subscribers, path 1, lifetime 600, SPI 256, 32-byte keys), {micro_n} for \
         the micro-measurements. Writer pinned to CPU {} ({}), worker proxy to CPU {} ({}). \
         CPU busy before start (1 s, /proc/stat): {}. State dir: {}.\n",
        args.writer_cpu,
        if args.pin && writer_cpu_ok { "ok" } else { "not pinned" },
        args.reader_cpu,
        if args.pin && ro.cpu_ok { "ok" } else { "not pinned" },
        busy.iter()
            .enumerate()
            .map(|(i, b)| format!("cpu{i} {b:.0} %"))
            .collect::<Vec<_>>()
            .join(", "),
        args.dir.display(),
    );
    let _ = writeln!(
        out,
        "### Setup (not timed in the results)\n\n| step | time |\n|---|---:|"
    );
    for (l, d) in &setup {
        let _ = writeln!(out, "| {l} | {} |", secs(*d));
    }
    let _ = writeln!(
        out,
        "\nProvisioning file {:.0} MiB; subscriber store {:.0} MiB; table {:.0} MiB ({} buckets, max_probe {}).\n",
        sub_bytes as f64 / (1 << 20) as f64,
        subs_mem as f64 / (1 << 20) as f64,
        table_mem as f64 / (1 << 20) as f64,
        table_stats.buckets,
        table_stats.max_probe,
    );

    let _ = writeln!(out, "### Registrations per second (one control lcore)\n");
    let _ = writeln!(
        out,
        "| batch | requests | wall | accepted + durable /s | µs/request | handle % | commit % | publish % | replies % | expire+reclaim % | commit p50 / p99 / max µs | batch p50 / p99 µs |"
    );
    let _ = writeln!(
        out,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    );
    for (_, st) in &runs {
        let w = st.wall.as_nanos().max(1) as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {} | **{:.0}** | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} / {} / {} | {} / {} |",
            st.batch,
            st.requests,
            secs(st.wall),
            st.accepted as f64 / st.wall.as_secs_f64(),
            w / 1e3 / st.requests.max(1) as f64,
            100.0 * st.t_handle as f64 / w,
            100.0 * st.t_commit as f64 / w,
            100.0 * st.t_publish as f64 / w,
            100.0 * st.t_reply as f64 / w,
            100.0 * st.t_house as f64 / w,
            us(pct(&st.commits, 0.5)),
            us(pct(&st.commits, 0.99)),
            us(st.commits.last().copied().unwrap_or(0)),
            us(pct(&st.batch_ns, 0.5)),
            us(pct(&st.batch_ns, 0.99)),
        );
    }
    let _ = writeln!(
        out,
        "\nhandle = `reg_io::extract` + `RegistrationService::submit` (`Registrar::handle` + `Journal::append`) \
         (+ 1 `Instant` per request); commit = one `write` + `fdatasync` of the batch's records and \
         publish = `TableWriter::publish`, both timed inside `RegistrationService::finish_batch`; \
         replies = the rest of `finish_batch`: `reg_io::write_reply` of each released Reply into the \
         request's buffer (the tx burst is not included).\n"
    );
    for (_, st) in &runs {
        if st.not_accepted + st.journal_errors + st.reply_failed + st.malformed + st.expired > 0 {
            let _ = writeln!(
                out,
                "B={}: not accepted {}, journal errors {}, reply failed {}, malformed {}, expired {}",
                st.batch, st.not_accepted, st.journal_errors, st.reply_failed, st.malformed, st.expired
            );
        }
    }

    let _ = writeln!(out, "### Latency\n");
    let _ = writeln!(
        out,
        "| batch | visible p50 / p99 / p99.9 / max µs (probes) | unseen | ack p50 / p99 / p99.9 / max µs | arrival→ack (model) p50 / p99 / max µs |"
    );
    let _ = writeln!(out, "|---:|---|---:|---|---|");
    for (_, st) in &runs {
        let mut vis: Vec<u64> = Vec::new();
        let mut unseen = 0;
        for &(p, started) in &st.probes {
            match ro.seen.get(p) {
                Some(&s) if s != 0 => vis.push(s.saturating_sub(started)),
                _ => unseen += 1,
            }
        }
        vis.sort_unstable();
        let _ = writeln!(
            out,
            "| {} | {} / {} / {} / {} (n={}) | {} | {} / {} / {} / {} | {} / {} / {} |",
            st.batch,
            us(pct(&vis, 0.5)),
            us(pct(&vis, 0.99)),
            us(pct(&vis, 0.999)),
            us(vis.last().copied().unwrap_or(0)),
            vis.len(),
            unseen,
            us(pct(&st.ack, 0.5)),
            us(pct(&st.ack, 0.99)),
            us(pct(&st.ack, 0.999)),
            us(st.ack.last().copied().unwrap_or(0)),
            us(pct(&st.arrival_ack, 0.5)),
            us(pct(&st.arrival_ack, 0.99)),
            us(st.arrival_ack.last().copied().unwrap_or(0)),
        );
    }
    let _ = writeln!(
        out,
        "\nvisible = from the writer starting to handle the request to the worker proxy's first burst \
         that looks the home up and gets the new care-of address (one probe per batch, random \
         position). ack = from the start of handling to its Reply written after the group commit \
         (every request). arrival→ack = ack measured from a modelled arrival: under a saturating \
         storm a request of batch k arrived during batch k-1 (uniformly by position).\n"
    );

    let _ = writeln!(out, "### Worker proxy throughput (lookups, bursts of 32 with prefetch, uniform over {n} bindings)\n");
    let _ = writeln!(
        out,
        "| phase | seconds | Mlookups/s | vs quiet idle | vs quiet spin | proxy run delay ms | CPU ms not ours | disk MiB written (ours) | busiest others |\n|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let rate_of = |ph: usize| {
        let s = ro.phases[ph.min(MAX_PHASES - 1)];
        s.lookups as f64 / s.secs.max(1e-9)
    };
    let (idle_rate, spin_rate) = (rate_of(q_idle), rate_of(q_spin));
    let mut show = vec![q_idle, q_spin];
    show.extend(runs.iter().map(|r| r.0));
    show.push(q_after);
    for ph in show {
        let s = ro.phases[ph.min(MAX_PHASES - 1)];
        let rate = rate_of(ph);
        let (m0, m1) = (&marks[ph], &marks[ph + 1]);
        let ours = runs
            .iter()
            .find(|r| r.0 == ph)
            .map(|r| format!(" ({:.1})", r.1.journal_bytes as f64 / (1 << 20) as f64))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:+.1} % | {:+.1} % | {:.1} | {} | {:.1}{} | {} |",
            m0.label,
            s.secs,
            rate / 1e6,
            100.0 * (rate / idle_rate - 1.0),
            100.0 * (rate / spin_rate - 1.0),
            s.run_delay_ns as f64 / 1e6,
            foreign_ms(m0, m1),
            (m1.sectors - m0.sectors) as f64 * 512.0 / (1 << 20) as f64,
            ours,
            busiest_others(m0, m1),
        );
    }
    let retried: Vec<&str> = marks
        .iter()
        .filter(|m| m.label.contains("attempt"))
        .map(|m| m.label.as_str())
        .collect();
    if !retried.is_empty() {
        let _ = writeln!(
            out,
            "\nRepeated because another process used > {FOREIGN_LIMIT_MS} ms of CPU during the phase: {}.",
            retried.join(", ")
        );
    }
    let _ = writeln!(out);
    for (_, st) in &runs {
        let _ = writeln!(
            out,
            "B={}: interrupts per CPU during the run: {:?}; writer run delay {:.1} ms",
            st.batch,
            st.irq,
            st.writer_run_delay_ns as f64 / 1e6
        );
    }

    if !micro_md.is_empty() {
        let _ = writeln!(out, "\n### Per-operation costs in isolation\n\n{micro_n} random requests over the same {n}-entry state. Consecutive iterations are independent, so their cache misses overlap: lower bounds for the serial chain inside `handle()` (see the profile in the results file).\n");
        out.push_str(&micro_md);
    }
    let _ = writeln!(out, "\n### Journal\n");
    let _ = writeln!(
        out,
        "commits {}, records {}, bytes {}, fdatasync mean {} µs, max {} µs.\n",
        jstats.commits,
        jstats.records,
        jstats.bytes,
        us(jstats.fsync_ns_total / jstats.commits.max(1)),
        us(jstats.fsync_ns_max)
    );
    out.push_str(&compact_md);
    let _ = writeln!(
        out,
        "\nRegistrar counters: requests {}, accepted {}, dropped (admission {}, per subscriber {}, silently {}), replies by code {:?}. Sanity: {checked} replies re-parsed, verified (HMAC) and their bindings checked in the table.",
        counters.requests,
        counters.accepted,
        counters.dropped_admission,
        counters.dropped_per_subscriber,
        counters.dropped_silently,
        counters.by_code
    );
    print!("{out}");
}
