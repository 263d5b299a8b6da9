//! Load generator and binding-file writer for the kernel baseline
//! (`perf/kernel-baseline.sh`, see perf/README.md "Kernel baseline").
//!
//! ```text
//! kbgen bindings --count N [--seed S] --out FILE
//!     N distinct random home addresses in 10.0.0.0/8 with random care-of addresses in
//!     198.18.0.0/15, one `HOME CARE_OF MSISDN` a line (the MSM's preload format; the
//!     first M lines are the M-binding population of the same run).
//! kbgen send --eal "ARGS" --bindings FILE --count N --dst-mac MAC [--warmup-ms 1000]
//!     [--window-ms 3000] [--stats-dir /sys/class/net/eth0/statistics]
//!     [--in-flight 256] [--fwd-cpu 1] [--fwd-tasks TID,...]
//!     Sends 60-byte UDP frames from 203.0.113.10 to homes drawn uniformly (with
//!     replacement) from the first N homes of FILE on port 0 (net_af_packet on the
//!     generator's veth) and receives on the same port what the forwarder sends back
//!     (the tunnelled frames: IPv4 protocol 4). Closed loop: at most --in-flight
//!     frames are out (sent, not yet back), so the forwarder is never driven into
//!     overload (af_packet + softirq livelock) and the rate is what it sustains;
//!     frames in flight when nothing moves for 50 ms count as lost. After the warm-up
//!     it measures a window and prints one JSON line: frames sent and received back,
//!     rates, the veth's kernel counters, each CPU's busy share and the forwarder's
//!     CPU time (softirq of --fwd-cpu plus the --fwd-tasks threads).
//! ```
//!
//! The same process and the same frames drive both forwarders (the kernel and the MSM),
//! so the comparison differs only in the forwarder.

use clap::{Parser, Subcommand};
use msm_dpdk::{Eal, MbufBurst, Mempool, PortConf, PortId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Correspondent (inner source).
const SRC_IP: [u8; 4] = [203, 0, 113, 10];
/// Frame length without FCS: Ethernet 14 + IPv4 20 + UDP 8 + 18 bytes of payload.
const FRAME: usize = 60;
/// Destination sequence length (uniform draws, read sequentially).
const SEQ_LEN: usize = 1 << 22;
const BURST: usize = 32;
/// Nothing sent or received for this long: the frames in flight are given up as lost.
/// Long enough to ride out a forwarder that is descheduled for a few time slices.
const STALL: Duration = Duration::from_millis(50);

#[derive(Parser, Debug)]
#[command(name = "kbgen", about = "kernel-baseline load generator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write a binding file (MSM preload format).
    Bindings {
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Send downlink frames and measure what comes back.
    Send {
        /// EAL arguments (one string, split on whitespace), without the program name.
        #[arg(long, allow_hyphen_values = true)]
        eal: String,
        #[arg(long)]
        bindings: PathBuf,
        /// Use the first N bindings of the file.
        #[arg(long)]
        count: usize,
        /// Destination MAC (the forwarder's ingress interface).
        #[arg(long)]
        dst_mac: String,
        #[arg(long, default_value_t = 1000)]
        warmup_ms: u64,
        #[arg(long, default_value_t = 3000)]
        window_ms: u64,
        /// Kernel statistics directory of the generator's interface.
        #[arg(long, default_value = "/sys/class/net/eth0/statistics")]
        stats_dir: PathBuf,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Closed loop: at most this many frames sent and not yet back.
        #[arg(long, default_value_t = 256)]
        in_flight: u64,
        /// The forwarder's CPU: its softirq time over the window is reported.
        #[arg(long)]
        fwd_cpu: Option<usize>,
        /// Threads (ids) of a user-space forwarder: their CPU time over the window is
        /// reported (e.g. the MSM worker lcore's thread).
        #[arg(long, value_delimiter = ',')]
        fwd_tasks: Vec<u32>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Bindings { count, seed, out } => write_bindings(count, seed, &out),
        Cmd::Send {
            eal,
            bindings,
            count,
            dst_mac,
            warmup_ms,
            window_ms,
            stats_dir,
            seed,
            in_flight,
            fwd_cpu,
            fwd_tasks,
        } => parse_mac(&dst_mac).and_then(|mac| {
            send(&SendArgs {
                eal: eal.split_whitespace().map(str::to_owned).collect(),
                bindings,
                count,
                dst_mac: mac,
                warmup: Duration::from_millis(warmup_ms),
                window: Duration::from_millis(window_ms),
                stats_dir,
                seed,
                in_flight,
                fwd_cpu,
                fwd_tasks,
            })
        }),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kbgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("bad MAC {s:?}"))?;
    v.try_into().map_err(|_| format!("bad MAC {s:?}"))
}

/// Homes: distinct offsets in 10.0.0.0/8 other than the network and broadcast
/// addresses; care-of addresses anywhere in 198.18.0.0/15 (benchmark range).
fn write_bindings(count: usize, seed: u64, out: &Path) -> Result<(), String> {
    const SPACE: usize = (1 << 24) - 2;
    if count == 0 || count > SPACE {
        return Err(format!("--count must be 1..={SPACE}"));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let homes = rand::seq::index::sample(&mut rng, SPACE, count);
    let f = fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    for (i, off) in homes.iter().enumerate() {
        let home = Ipv4Addr::from(0x0a00_0000u32 + off as u32 + 1);
        let coa = Ipv4Addr::from(0xc612_0000u32 + rng.gen_range(1..(1u32 << 17) - 1));
        writeln!(w, "{home} {coa} {}", 491_500_000_000_000u64 + i as u64)
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    w.flush().map_err(|e| format!("{}: {e}", out.display()))
}

/// The first `count` home addresses of a binding file.
fn read_homes(path: &Path, count: usize) -> Result<Vec<[u8; 4]>, String> {
    let f = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut homes = Vec::with_capacity(count);
    for (n, line) in BufReader::with_capacity(1 << 20, f).lines().enumerate() {
        if homes.len() == count {
            break;
        }
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let field = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next();
        let Some(field) = field else { continue };
        let a: Ipv4Addr = field
            .parse()
            .map_err(|_| format!("{}:{}: {field:?} is not IPv4", path.display(), n + 1))?;
        homes.push(a.octets());
    }
    if homes.len() < count {
        return Err(format!(
            "{}: {} bindings, {count} wanted",
            path.display(),
            homes.len()
        ));
    }
    Ok(homes)
}

struct SendArgs {
    eal: Vec<String>,
    bindings: PathBuf,
    count: usize,
    dst_mac: [u8; 6],
    warmup: Duration,
    window: Duration,
    stats_dir: PathBuf,
    seed: u64,
    in_flight: u64,
    fwd_cpu: Option<usize>,
    fwd_tasks: Vec<u32>,
}

/// Kernel counters of the generator's interface.
#[derive(Clone, Copy, Default)]
struct Counters {
    tx_packets: u64,
    tx_dropped: u64,
    rx_packets: u64,
}

fn read_counter(dir: &Path, name: &str) -> Result<u64, String> {
    let p = dir.join(name);
    let s = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    s.trim()
        .parse()
        .map_err(|_| format!("{}: not a number", p.display()))
}

fn read_counters(dir: &Path) -> Result<Counters, String> {
    Ok(Counters {
        tx_packets: read_counter(dir, "tx_packets")?,
        tx_dropped: read_counter(dir, "tx_dropped")?,
        rx_packets: read_counter(dir, "rx_packets")?,
    })
}

/// The frame template (destination address and header checksum filled per packet)
/// and the one's-complement sum of its IPv4 header without the destination.
fn template(dst_mac: [u8; 6], src_mac: [u8; 6]) -> ([u8; FRAME], u32) {
    let mut f = [0u8; FRAME];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&46u16.to_be_bytes()); // 20 + 8 + 18
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&SRC_IP);
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&9u16.to_be_bytes()); // discard
    udp[4..6].copy_from_slice(&26u16.to_be_bytes()); // checksum 0: none
    let mut sum = 0u32;
    for w in f[14..34].chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    (f, sum)
}

#[inline]
fn ip_checksum(base: u32, dst: [u8; 4]) -> [u8; 2] {
    let mut s = base
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]));
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    (!(s as u16)).to_be_bytes()
}

/// The generator's view at the start and the end of the measurement window.
#[derive(Clone)]
struct Snapshot {
    at: Instant,
    counters: Counters,
    /// Frames sent, received back, presumed lost (totals since the start).
    totals: [u64; 3],
    cpu: Vec<(u64, u64)>,
    /// See [`fwd_ticks`].
    fwd: [u64; 4],
}

/// Softirq, steal and busy (all but idle and iowait) ticks of one CPU (`/proc/stat`,
/// USER_HZ).
fn cpu_ticks(cpu: usize) -> [u64; 3] {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let name = format!("cpu{cpu}");
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let at = |i: usize| v.get(i).copied().unwrap_or(0);
            let total: u64 = v.iter().take(8).sum();
            [at(6), at(7), total - at(3) - at(4)]
        })
        .unwrap_or([0; 3])
}

/// utime + stime of one thread (USER_HZ ticks), 0 if it is gone. (`/proc/TID/stat`
/// would be the whole process.)
fn task_ticks(tid: u32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{tid}/task/{tid}/stat")) else {
        return 0;
    };
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|x| x.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(14) + get(15)
}

/// The forwarder's CPU use: softirq, steal and busy ticks of its CPU, ticks of its
/// threads.
fn fwd_ticks(a: &SendArgs) -> [u64; 4] {
    let [si, st, busy] = a.fwd_cpu.map(cpu_ticks).unwrap_or([0; 3]);
    [
        si,
        st,
        busy,
        a.fwd_tasks.iter().map(|&t| task_ticks(t)).sum(),
    ]
}

/// Busy jiffies and total jiffies of each CPU (`/proc/stat`).
fn cpu_times() -> Vec<(u64, u64)> {
    let Ok(text) = fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = v.iter().sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// Whether a returned frame is the tunnelled downlink (IPv4, protocol 4).
#[inline]
fn is_ipip(d: &[u8]) -> bool {
    d.len() >= 34 && d[12] == 0x08 && d[13] == 0x00 && d[23] == 4
}

fn send(a: &SendArgs) -> Result<(), String> {
    let homes = read_homes(&a.bindings, a.count)?;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let seq: Vec<[u8; 4]> = (0..SEQ_LEN)
        .map(|_| homes[rng.gen_range(0..homes.len())])
        .collect();
    drop(homes);

    let eal = Eal::init(&a.eal).map_err(|e| format!("EAL: {e}"))?;
    let pool = Mempool::new(
        "kbgen",
        8191,
        256,
        msm_dpdk::DEFAULT_BUF_SIZE,
        msm_dpdk::socket_id(),
    )
    .map_err(|e| format!("mempool: {e}"))?;
    let port = PortId::from_raw(0).map_err(|e| format!("port 0: {e}"))?;
    port.configure(
        &PortConf {
            promiscuous: false,
            ..PortConf::default()
        },
        &pool,
    )
    .map_err(|e| format!("port 0: {e}"))?;
    let src_mac = port.mac_addr().map_err(|e| format!("port 0: {e}"))?;
    let mut txq = port.tx_queue(0).map_err(|e| format!("port 0: {e}"))?;
    let mut rxq = port.rx_queue(0).map_err(|e| format!("port 0: {e}"))?;
    let (tmpl, base) = template(a.dst_mac, src_mac);

    let mut out = MbufBurst::<BURST>::new();
    let mut back = MbufBurst::<BURST>::new();
    let mut next = 0usize;
    // Totals since the start: frames the PMD took, tunnelled frames back, frames given
    // up as lost (in flight when nothing moved for STALL).
    let (mut sent, mut received, mut lost) = (0u64, 0u64, 0u64);
    let mut iter = 0u64;
    let start = Instant::now();
    let mut last_progress = start;
    let mut window_start: Option<Snapshot> = None;
    let result = loop {
        let n = back.rx(&mut rxq);
        if n > 0 {
            received += back.iter().filter(|m| is_ipip(m.data())).count() as u64;
            back.clear();
        }
        let in_flight = sent - received - lost;
        if out.is_empty()
            && in_flight + BURST as u64 <= a.in_flight
            && pool.alloc_bulk(&mut out, BURST)
        {
            for m in out.iter_mut() {
                let Some(d) = m.append(FRAME) else { continue };
                let dst = seq[next];
                next = (next + 1) & (SEQ_LEN - 1);
                d.copy_from_slice(&tmpl);
                d[24..26].copy_from_slice(&ip_checksum(base, dst));
                d[30..34].copy_from_slice(&dst);
            }
        }
        let s = out.tx(&mut txq) as u64;
        sent += s;
        iter += 1;
        if !iter.is_multiple_of(64) {
            continue;
        }
        let now = Instant::now();
        if n > 0 || s > 0 {
            last_progress = now;
        } else if now - last_progress >= STALL {
            lost += sent - received - lost;
            last_progress = now;
        }
        match &window_start {
            None if now - start >= a.warmup => {
                window_start = Some(Snapshot {
                    at: now,
                    counters: read_counters(&a.stats_dir)?,
                    totals: [sent, received, lost],
                    cpu: cpu_times(),
                    fwd: fwd_ticks(a),
                });
            }
            Some(w0) if now - w0.at >= a.window => {
                let w1 = Snapshot {
                    at: now,
                    counters: read_counters(&a.stats_dir)?,
                    totals: [sent, received, lost],
                    cpu: cpu_times(),
                    fwd: fwd_ticks(a),
                };
                break (w0.clone(), w1);
            }
            _ => {}
        }
    };
    out.clear();
    let (w0, w1) = result;
    let (c0, c1) = (w0.counters, w1.counters);
    let busy: Vec<f64> = w1
        .cpu
        .iter()
        .zip(&w0.cpu)
        .map(|(b, a)| {
            let dt = b.1.saturating_sub(a.1).max(1) as f64;
            (100.0 * b.0.saturating_sub(a.0) as f64 / dt).round()
        })
        .collect();
    let [sent_w, received_w, lost_w] = [0, 1, 2].map(|i| w1.totals[i] - w0.totals[i]);
    let dt = w1.at - w0.at;
    let secs = dt.as_secs_f64();
    // USER_HZ is 100 on Linux.
    let [softirq_s, steal_s, busy_s, tasks_s] =
        [0, 1, 2, 3].map(|i| w1.fwd[i].saturating_sub(w0.fwd[i]) as f64 / 100.0);
    // Tick accounting charges softirq work to the CPU's softirq time *and* to the
    // thread it interrupted, so worker + softirq counts the softirq work done in the
    // worker's context twice: capped at the window, it is an upper bound.
    let fwd_cpu_s = (softirq_s + tasks_s).min(secs);
    // Share of the forwarder's CPU that other processes took: a user-space forwarder
    // spins, so whatever its threads did not get; a softirq forwarder has no thread, so
    // the CPU's busy time outside softirq.
    let other_share = if a.fwd_tasks.is_empty() {
        (busy_s - softirq_s) / secs
    } else {
        1.0 - tasks_s / secs
    }
    .clamp(0.0, 1.0);
    let doc = serde_json::json!({
        "window_s": (secs * 1e4).round() / 1e4,
        "bindings": a.count,
        "frame_bytes": FRAME,
        "in_flight": a.in_flight,
        "sent": sent_w,
        "received": received_w,
        "presumed_lost": lost_w,
        "sent_mpps": (sent_w as f64 / secs / 1e6 * 1e4).round() / 1e4,
        "received_mpps": (received_w as f64 / secs / 1e6 * 1e4).round() / 1e4,
        "veth_tx_packets": c1.tx_packets - c0.tx_packets,
        "veth_tx_dropped": c1.tx_dropped - c0.tx_dropped,
        "veth_rx_packets": c1.rx_packets - c0.rx_packets,
        "cpu_busy_pct": busy,
        "fwd_softirq_s": softirq_s,
        "fwd_tasks_s": tasks_s,
        "fwd_steal_s": steal_s,
        "fwd_busy_s": busy_s,
        "fwd_other_share": (other_share * 100.0).round() / 100.0,
        "fwd_cpu_s": (fwd_cpu_s * 100.0).round() / 100.0,
        "mpps_per_fwd_cpu": if fwd_cpu_s > 0.0 {
            (received_w as f64 / fwd_cpu_s / 1e6 * 1e4).round() / 1e4
        } else {
            0.0
        },
    });
    println!("{doc}");
    drop(txq);
    drop(rxq);
    drop(pool);
    drop(eal);
    Ok(())
}
