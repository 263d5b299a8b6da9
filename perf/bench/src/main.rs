//! `msm-bench`: the MSM's data-plane benchmark suite.
//!
//! Per-packet cost of the appliance's worker for downlink (lookup +
//! encapsulation) and uplink (anti-spoofing lookup + decapsulation) at several
//! binding-table sizes, with destinations uniformly random over the bound
//! population, next to two macswap baselines measured in the same invocation:
//! `dpdk-testpmd --forward-mode=macswap` on two net_null ports (child process,
//! before and after) and a macswap worker in this very harness. See
//! `harness.rs` for the setup and `perf/bench.sh` for the usual invocation.
//!
//! Steps: testpmd baselines -> EAL (lcore 0 = sampling only, lcores 1.. =
//! workers, one per remaining CPU) -> harness macswap -> for each table size:
//! fill a table, downlink and uplink runs (every frame size at the sizes of
//! `--all-frames-at`, 64 bytes at the others), the realistic mix -> at the
//! largest table also latency at 10/50/80 % of the measured maximum, a run
//! with a table-update storm published by the main lcore, scaling over 2..N
//! workers, and a churn run (RSS per round) -> (optional profile runs) ->
//! harness macswap again -> EAL cleanup -> testpmd again -> results (markdown
//! and JSON), with the kernel baseline's and the control-plane benchmark's
//! results (run by `perf/bench.sh`) folded in. A run during which other
//! processes took a worker's CPU is repeated (up to [`ATTEMPTS`]).

mod churn;
mod harness;
mod report;
mod source;
mod stages;
mod testpmd;
mod traffic;
mod xdp;

use clap::Parser;
use harness::{
    Harness, RunResult, RunSpec, Timing, WorkerKind, WorkerLcore, INET_DEVICE, PACED_VDEV,
};
use msm::config::DEFAULT_TOP_SAMPLE_EVERY;
use msm_dpdk::Eal;
use msm_table::{Rcu, RcuReader, TableConfig, TableHandle, TableWriter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use report::{size_label, External, Machine, MsmRun, Report, Scaling, TableRow};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use traffic::{Frames, Traffic};

/// Length of the precomputed destination sequence (2^24 homes, 64 MiB).
const SEQ_LEN: usize = 1 << 24;
/// Most attempts per measurement (a contended attempt is repeated).
const ATTEMPTS: u32 = 3;
/// When contended runs stop being repeated (set once at the start).
static RETRY_DEADLINE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

#[derive(Parser, Debug)]
#[command(name = "msm-bench", about = "MSM data-plane benchmark suite")]
struct Args {
    /// Binding-table sizes.
    #[arg(long, value_delimiter = ',', default_value = "1000,1000000,10000000")]
    sizes: Vec<usize>,
    /// Frame sizes (mobile-side Ethernet frame incl. FCS; the tunnelled side
    /// is 20 bytes more).
    #[arg(long, value_delimiter = ',', default_value = "64,512,1400")]
    frame_sizes: Vec<u16>,
    /// Table sizes at which every frame size runs (others: the first frame
    /// size only). Default: the smallest and the largest table.
    #[arg(long, value_delimiter = ',')]
    all_frames_at: Option<Vec<usize>>,
    /// Skip the realistic mix.
    #[arg(long)]
    no_mix: bool,
    /// Latency runs at these percentages of the measured maximum (downlink,
    /// first frame size, largest table); empty: none.
    #[arg(long, value_delimiter = ',', default_value = "10,50,80")]
    latency_loads: Vec<f64>,
    /// Skip the storm run (table updates published while the worker runs).
    #[arg(long)]
    no_storm: bool,
    /// Table updates per published batch in the storm.
    #[arg(long, default_value_t = 1024)]
    storm_batch: usize,
    /// Storm rates (updates/s; 0 = as fast as the writer goes; -1 = a
    /// control: the main lcore busy-spins without updating). The default
    /// 300000 is the control plane's measured peak (regbench: 300-318 k
    /// registrations/s at batches of 1024).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "300000,0,-1",
        allow_negative_numbers = true
    )]
    storm_rates: Vec<f64>,
    /// Most workers for the scaling runs (default: one per CPU but the
    /// main lcore's).
    #[arg(long)]
    max_workers: Option<usize>,
    /// TEST ONLY: run this many worker lcores on CPU 1 (oversubscribed) to
    /// exercise the multi-worker path on a small machine. The figures are not
    /// scaling and are labelled so.
    #[arg(long, hide = true)]
    oversubscribe_workers: Option<usize>,
    /// Churn rounds on the largest table (0: none); each round unbinds,
    /// moves and rebinds `--churn-share` of the population.
    #[arg(long, default_value_t = 10)]
    churn_rounds: usize,
    /// Share of the population unbound, and another share moved, per round.
    #[arg(long, default_value_t = 0.1)]
    churn_share: f64,
    /// Kernel baseline results (JSON of perf/kernel-baseline.sh).
    #[arg(long)]
    kernel_json: Option<PathBuf>,
    /// Why the kernel baseline did not run (when there is no JSON).
    #[arg(long)]
    kernel_missing: Option<String>,
    /// XDP peer results (JSON of perf/xdp/run.sh).
    #[arg(long)]
    xdp_json: Option<PathBuf>,
    /// Why the XDP peer did not run (when there is no JSON).
    #[arg(long)]
    xdp_missing: Option<String>,
    /// Control-plane benchmark output (markdown of examples/regbench.rs).
    #[arg(long)]
    control_md: Option<PathBuf>,
    /// The command that produced `--control-md`.
    #[arg(long)]
    control_command: Option<String>,
    /// Warm-up before each measurement window (ms).
    #[arg(long, default_value_t = 1000)]
    warmup_ms: u64,
    /// Measurement window (ms).
    #[arg(long, default_value_t = 4000)]
    window_ms: u64,
    /// Sampling period inside the window (ms).
    #[arg(long, default_value_t = 500)]
    sample_ms: u64,
    /// EAL memory (`-m`, MiB).
    #[arg(long, default_value_t = 512)]
    eal_mem: u32,
    /// Run the MSM's EAL and the testpmd baselines on real huge pages from this
    /// hugetlbfs mount (`--huge-dir DIR --huge-unlink` instead of `--no-huge`); the mbuf
    /// pools then live in huge pages. `perf/bench.sh` reserves the pages and mounts the
    /// directory. Without it: `--no-huge`.
    #[arg(long)]
    huge_dir: Option<PathBuf>,
    /// testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: String,
    /// Skip the testpmd baselines.
    #[arg(long)]
    no_testpmd: bool,
    /// Seconds per testpmd run.
    #[arg(long, default_value_t = 10)]
    testpmd_secs: u64,
    /// Also profile downlink at the smallest and the largest size with
    /// `perf record` (extra runs, not in the results table), writing
    /// the perf.data files into this directory.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// The workloads `--profile` profiles (downlink, uplink).
    #[arg(long, value_delimiter = ',', default_value = "downlink")]
    profile_traffic: Vec<String>,
    /// Operator-surface A/B (issue 13, "no measurable data-plane cost with all of it
    /// on, in the same run"): this many interleaved rounds of the worker with the
    /// operator surface off (no top-N sampling) and on (sampling 1 in
    /// `control.top_sample_every`'s default, the main lcore draining the samples into the
    /// top-N view and rendering the stats document and a Prometheus scrape at each
    /// mark), downlink and uplink at the smallest and the largest table. The packet
    /// trace is present and unarmed in both. 0: none.
    #[arg(long, default_value_t = 0)]
    operator_ab: usize,
    /// Measurement window of each operator A/B run (ms; warm-up: a third of it).
    #[arg(long, default_value_t = 1500)]
    operator_ab_window_ms: u64,
    /// perf/operator-cost.sh's JSON: the operator surface's cost in worker instructions
    /// per packet (callgrind), judged in the Targets table.
    #[arg(long)]
    operator_cost_json: Option<PathBuf>,
    /// Why perf/operator-cost.sh did not run (when there is no JSON).
    #[arg(long)]
    operator_cost_missing: Option<String>,
    /// Internal, for `perf/operator-cost.sh` (run under callgrind): fill the first table
    /// size, run the MSM worker once with `TRAFFIC:on` or `TRAFFIC:off` (downlink or
    /// uplink; the top-N sampling on or off, as in `--operator-ab`), print
    /// `rx_total=N samples=M` on stdout and exit without a report.
    #[arg(long, hide = true)]
    operator_cost_probe: Option<String>,
    /// Share of the bindings behind a NAT (RFC 3519: bound to a translated address and
    /// UDP port), in [0, 0.9]. With a share, NAT-T downlink and uplink run at the first
    /// frame size at the smallest and the largest table, next to IP-in-IP (whose runs
    /// then use the other mobiles). 0: no NAT bindings, no NAT-T runs.
    #[arg(long, default_value_t = 0.25)]
    nat_share: f64,
    /// RNG seed (population, sequences).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the markdown results here.
    #[arg(long)]
    out_md: Option<PathBuf>,
    /// Write the JSON results here.
    #[arg(long)]
    out_json: Option<PathBuf>,
    /// How the wrapper script was invoked, recorded in the results.
    #[arg(long)]
    invocation: Option<String>,
    /// Wait up to this long for other processes to leave the CPUs idle
    /// before starting (s).
    #[arg(long, default_value_t = 60)]
    wait_quiet: u64,
    /// After this many seconds from the start, contended runs are no longer
    /// repeated (keeps the whole suite within its time budget on a busy
    /// machine; such runs are flagged in the results).
    #[arg(long, default_value_t = 240)]
    retry_budget_s: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msm-bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn validate(a: &Args) -> Result<(), String> {
    if a.sizes.is_empty() || a.sizes.contains(&0) {
        return Err("--sizes: need at least one size, none 0".into());
    }
    if a.sample_ms == 0 || a.window_ms < a.sample_ms {
        return Err("--window-ms must be >= --sample-ms > 0".into());
    }
    if a.frame_sizes.is_empty() {
        return Err("--frame-sizes: need at least one".into());
    }
    for &b in &a.frame_sizes {
        traffic::Template::new(Traffic::Downlink, b, [0; 6])?;
    }
    if a.latency_loads.iter().any(|l| !(*l > 0.0 && *l <= 100.0)) {
        return Err("--latency-loads: percentages in (0, 100]".into());
    }
    if !a.no_storm && !a.storm_rates.is_empty() && a.window_ms / a.sample_ms < 2 {
        return Err("the storm runs need a window of >= 2 sampling periods (or --no-storm)".into());
    }
    if !(0.0..=0.9).contains(&a.nat_share) {
        return Err("--nat-share: 0 ..= 0.9".into());
    }
    if a.nat_share > 0.0 {
        traffic::Template::new(Traffic::NatUplink, a.frame_sizes[0], [0; 6])
            .map_err(|e| format!("--nat-share with the first frame size: {e}"))?;
    }
    if !(0.0..=0.5).contains(&a.churn_share) {
        return Err("--churn-share: 0 ..= 0.5".into());
    }
    if let Some(p) = &a.operator_cost_probe {
        probe_of(p)?;
    }
    profile_traffic(a)?;
    Ok(())
}

/// `--profile-traffic`'s workloads.
fn profile_traffic(a: &Args) -> Result<Vec<Traffic>, String> {
    a.profile_traffic
        .iter()
        .map(|t| match t.as_str() {
            "downlink" => Ok(Traffic::Downlink),
            "uplink" => Ok(Traffic::Uplink),
            _ => Err(format!(
                "--profile-traffic {t}: expected downlink or uplink"
            )),
        })
        .collect()
}

/// `--operator-cost-probe`'s value: the traffic and whether the sampling is on.
fn probe_of(p: &str) -> Result<(Traffic, bool), String> {
    let bad = || format!("--operator-cost-probe {p}: expected downlink|uplink:on|off");
    let (t, o) = p.split_once(':').ok_or_else(bad)?;
    let traffic = match t {
        "downlink" => Traffic::Downlink,
        "uplink" => Traffic::Uplink,
        _ => return Err(bad()),
    };
    let on = match o {
        "on" => true,
        "off" => false,
        _ => return Err(bad()),
    };
    Ok((traffic, on))
}

fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown date".into())
}

/// The EAL's memory option: `--no-huge`, or huge pages from `--huge-dir`.
fn eal_memory_args(a: &Args) -> Vec<String> {
    match &a.huge_dir {
        None => vec!["--no-huge".into()],
        Some(d) => vec![
            "--huge-dir".into(),
            d.display().to_string(),
            "--huge-unlink".into(),
        ],
    }
}

/// testpmd macswap on two net_null ports, one forwarding core (the baseline).
fn testpmd_null(a: &Args, label: &str) -> testpmd::TestpmdResult {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut eal = s(&["-l", "0,1"]);
    eal.extend(eal_memory_args(a));
    let r = testpmd::run(
        &a.testpmd,
        label,
        &[
            eal,
            s(&[
                "-m",
                "512",
                "--no-pci",
                "--file-prefix",
                "msm-bench-testpmd",
                "--vdev=net_null0",
                "--vdev=net_null1",
            ]),
        ]
        .concat(),
        &s(&[
            "--forward-mode=macswap",
            "--nb-cores=1",
            "--total-num-mbufs=16384",
            "--stats-period=1",
            "-a",
        ]),
        a.testpmd_secs,
    );
    log_testpmd(&r);
    r
}

fn log_testpmd(r: &testpmd::TestpmdResult) {
    match (r.mpps, &r.error) {
        (Some(m), _) => eprintln!("msm-bench: {}: {m:.2} Mpps", r.label),
        (None, Some(e)) => eprintln!("msm-bench: {}: FAILED: {e}", r.label),
        (None, None) => eprintln!("msm-bench: {}: no figure", r.label),
    }
}

fn log_run(r: &RunResult, hz: u64) {
    eprintln!(
        "msm-bench: {:<22} {:6.2} Mpps ({:6.2} per on-CPU s, {:6.2} worker-only, {:5.1} ns/pkt)  ticks/pkt {:4.0} = source {:3.0} + check {:2.0} + worker {:4.0}  \
         burst {:4.1}  drops {}  checked {} bad {}  pool in use {}  cpu lost {:.1} ms{}{}{}{}",
        r.name,
        r.mpps,
        r.mpps_oncpu(),
        r.worker_mpps(hz),
        r.worker_ns_per_pkt(hz),
        r.tsc_per_pkt,
        r.source_tsc_per_pkt,
        r.check_tsc_per_pkt,
        r.worker_tsc_per_pkt(),
        r.avg_burst,
        r.total_drops(),
        r.checked,
        r.bad,
        r.pool.in_use_running,
        r.run_delay_ms + r.steal_ms,
        r.latency.as_ref().map_or(String::new(), |l| format!(
            "  latency p50 {:.0} p99 {:.0} p99.9 {:.0} max {:.0} ns (n={}, overflow {})",
            l.p50_ns, l.p99_ns, l.p999_ns, l.max_ns, l.count, l.ring_overflow
        )),
        r.storm.as_ref().map_or(String::new(), |s| format!(
            "  storm: {:.2} -> {:.2} Mpps with {} updates in {:.1} s",
            s.quiet_mpps, s.storm_mpps, s.updates, s.seconds
        )),
        if r.sample_every == 0 { String::new() } else { format!(
            "  top-N: 1/{} sampled {} lost {} first {:?}",
            r.sample_every, r.samples_taken, r.samples_lost, r.top_first
        ) },
        if r.notes.is_empty() { String::new() } else { format!("  NOTES: {}", r.notes.join("; ")) }
    );
}

/// Runs a measurement, repeating it (with fresh workers from `workers`)
/// while other processes took a worker's CPU; keeps the first clean
/// attempt, else the least disturbed one. `retry: false` keeps the first.
fn measure(
    h: &mut Harness,
    eal: &Eal,
    spec: RunSpec<'_>,
    mut workers: impl FnMut() -> Result<Vec<WorkerKind>, String>,
    mut storm: Option<&mut dyn FnMut() -> u64>,
    retry: bool,
) -> Result<RunResult, String> {
    let mut best: Option<RunResult> = None;
    let attempts = if retry { ATTEMPTS } else { 1 };
    let mut made = 0;
    for attempt in 1..=attempts {
        if attempt > 1 && RETRY_DEADLINE.get().is_some_and(|d| Instant::now() > *d) {
            if let Some(b) = best.as_mut() {
                b.notes
                    .push("not repeated: past the suite's retry budget (--retry-budget-s)".into());
            }
            break;
        }
        let st: Option<&mut dyn FnMut() -> u64> = match storm.as_mut() {
            Some(f) => Some(&mut **f),
            None => None,
        };
        let mut r = h.run(eal, spec, workers()?, st)?;
        made = attempt;
        r.attempts = attempt;
        log_run(&r, h.hz());
        if !r.contended() {
            return Ok(r);
        }
        let lost = |r: &RunResult| {
            if r.packets == 0 {
                f64::INFINITY
            } else {
                r.run_delay_ms + r.steal_ms + r.late_ms
            }
        };
        if best.as_ref().map_or(true, |b| lost(&r) < lost(b)) {
            best = Some(r);
        }
    }
    let mut r = best.ok_or("no attempt")?;
    r.notes.push(format!(
        "other processes took the worker's CPU in all {made} attempts; this one lost {:.1} ms",
        r.run_delay_ms + r.steal_ms
    ));
    Ok(r)
}

/// `AnonHugePages` of this process (KiB).
fn anon_huge_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Lets child processes use every CPU again (EAL pinned this thread to lcore 0's).
fn unpin_main_thread() {
    // SAFETY: cpu_set_t is plain data (all-zero is the empty set); CPU_SET
    // writes inside it; sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        for cpu in 0..n.min(libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Per-CPU (busy, total) jiffies from `/proc/stat`.
fn cpu_times() -> Vec<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    s.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = v.iter().take(8).sum();
            // idle + iowait
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// Busiest CPU's busy share over `d`.
fn busiest_cpu(d: Duration) -> f64 {
    let a = cpu_times();
    std::thread::sleep(d);
    let b = cpu_times();
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (y.0 - x.0) as f64 / (y.1 - x.1).max(1) as f64)
        .fold(0.0, f64::max)
}

/// Waits until no CPU is more than 10 % busy over a second (other processes
/// would share the worker's CPU), at most `max`. Returns the last busiest share.
fn wait_quiet(max: Duration) -> f64 {
    let t0 = Instant::now();
    loop {
        let busy = busiest_cpu(Duration::from_secs(1));
        if busy <= 0.10 || t0.elapsed() >= max {
            return busy;
        }
        eprintln!(
            "msm-bench: a CPU is {:.0} % busy with other processes; waiting (up to {} s more)",
            busy * 100.0,
            max.saturating_sub(t0.elapsed()).as_secs()
        );
        std::thread::sleep(Duration::from_secs(4));
    }
}

/// `n` MSM workers over the table of `table`, each with a fresh RCU reader.
fn msm_workers(
    table: &TableHandle,
    readers: &mut Vec<RcuReader>,
    n: usize,
) -> Result<Vec<WorkerKind>, String> {
    (0..n)
        .map(|_| {
            Ok(WorkerKind::Msm {
                table: table.clone(),
                reader: readers.pop().ok_or("out of RCU readers")?,
            })
        })
        .collect()
}

/// [`measure`] of one MSM worker over `table` (the common case).
fn msm_one(
    h: &mut Harness,
    eal: &Eal,
    table: &TableHandle,
    readers: &mut Vec<RcuReader>,
    spec: RunSpec<'_>,
    storm: Option<&mut dyn FnMut() -> u64>,
    retry: bool,
) -> Result<RunResult, String> {
    measure(
        h,
        eal,
        spec,
        || msm_workers(table, readers, 1),
        storm,
        retry,
    )
}

/// Worker lcores: one per CPU but CPU 0 (the main lcore's), or the
/// oversubscribed test layout (all on CPU 1). Returns them with the EAL's
/// core option.
fn worker_layout(a: &Args, cpus: usize) -> Result<(Vec<WorkerLcore>, Vec<String>), String> {
    if let Some(k) = a.oversubscribe_workers {
        if k == 0 || cpus < 2 {
            return Err("--oversubscribe-workers needs >= 1 worker and 2 CPUs".into());
        }
        let map = std::iter::once("0@0".to_string())
            .chain((1..=k).map(|l| format!("{l}@1")))
            .collect::<Vec<_>>()
            .join(",");
        let lc = (1..=k as u32)
            .map(|lcore| WorkerLcore { lcore, cpu: 1 })
            .collect();
        return Ok((lc, vec!["--lcores".into(), map]));
    }
    if cpus < 2 {
        return Err(format!(
            "needs >= 2 CPUs (a main lcore and a worker), have {cpus}"
        ));
    }
    let n = a.max_workers.unwrap_or(cpus - 1).clamp(1, cpus - 1);
    let lc = (1..=n as u32)
        .map(|l| WorkerLcore { lcore: l, cpu: l })
        .collect();
    Ok((lc, vec!["-l".into(), format!("0-{n}")]))
}

/// Reads what perf/bench.sh gathered outside this process.
fn externals(a: &Args) -> External {
    let kernel = match (&a.kernel_json, &a.kernel_missing) {
        (Some(p), _) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).map_err(|e| e.to_string()))
        {
            Ok(v) => Ok(v),
            Err(e) => Err(format!("not run: {}: {e}", p.display())),
        },
        (None, Some(why)) => Err(why.clone()),
        (None, None) => Err("not run (msm-bench started without --kernel-json)".into()),
    };
    let xdp = match (&a.xdp_json, &a.xdp_missing) {
        (Some(p), _) => std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).map_err(|e| e.to_string()))
            .map_err(|e| format!("not run: {}: {e}", p.display())),
        (None, Some(why)) => Err(why.clone()),
        (None, None) => Err("not run (msm-bench started without --xdp-json)".into()),
    };
    let control = a
        .control_md
        .as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())));
    let operator_cost = match (&a.operator_cost_json, &a.operator_cost_missing) {
        (Some(p), _) => std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).map_err(|e| e.to_string()))
            .map_err(|e| format!("not run: {}: {e}", p.display())),
        (None, Some(why)) => Err(why.clone()),
        (None, None) => Err("not run (msm-bench started without --operator-cost-json)".into()),
    };
    External {
        kernel,
        xdp,
        control,
        control_command: a.control_command.clone(),
        operator_cost,
    }
}

/// A run of `traffic` with `frames` over `seq`, nothing special.
fn spec<'a>(
    name: &'a str,
    traffic: Traffic,
    frames: Frames,
    seq: &'a Arc<[u32]>,
    timing: Timing,
) -> RunSpec<'a> {
    RunSpec {
        name,
        traffic,
        frames,
        seq,
        timing,
        profile: None,
        pace_mpps: None,
        moving: false,
        // As `msm run` does by default: the top-N sampling on.
        sample_every: DEFAULT_TOP_SAMPLE_EVERY,
    }
}

fn bench(a: &Args) -> Result<(), String> {
    validate(a)?;
    let _ = RETRY_DEADLINE.set(Instant::now() + Duration::from_secs(a.retry_budget_s));
    let busy = wait_quiet(Duration::from_secs(a.wait_quiet));
    if busy > 0.10 {
        eprintln!(
            "msm-bench: WARNING: starting with a CPU {:.0} % busy; runs will be repeated or flagged",
            busy * 100.0
        );
    }
    let machine = Machine::gather();
    let (lcores, core_opt) = worker_layout(a, machine.cpus)?;
    let oversubscribed = a.oversubscribe_workers.is_some();
    let mut rep = Report {
        date: now_utc(),
        invocation: a.invocation.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        warmup_ms: a.warmup_ms,
        window_ms: a.window_ms,
        sample_ms: a.sample_ms,
        start_busy: busy,
        oversubscribed,
        nat_share: a.nat_share,
        external: externals(a),
        ..Report::default()
    };
    let timing = Timing {
        warmup_ms: a.warmup_ms,
        window_ms: a.window_ms,
        sample_ms: a.sample_ms,
    };

    let probe = a.operator_cost_probe.as_deref().map(probe_of).transpose()?;
    if !a.no_testpmd && probe.is_none() {
        rep.testpmd_null.push(testpmd_null(
            a,
            "testpmd macswap, 2 x net_null, 1 core (before)",
        ));
    }

    let vdev = format!("--vdev={INET_DEVICE}");
    let vdev_paced = format!("--vdev={PACED_VDEV}");
    rep.eal_args = core_opt;
    rep.eal_args.extend(eal_memory_args(a));
    rep.eal_args.extend(
        [
            "-m",
            &a.eal_mem.to_string(),
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
            "--file-prefix",
            "msm-bench",
            &vdev,
            &vdev_paced,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let eal = Eal::init(&rep.eal_args).map_err(|e| format!("EAL: {e}"))?;
    for l in &lcores {
        if !msm_dpdk::worker_lcores().any(|w| w == l.lcore) {
            return Err(format!("lcore {} is not an EAL worker lcore", l.lcore));
        }
    }
    let mut h = Harness::new(lcores)?;
    let max_workers = h.max_workers();
    rep.tsc_hz = h.hz();
    rep.max_workers = max_workers;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let f0 = Frames::Fixed(a.frame_sizes[0]);
    let retry = !oversubscribed;

    // The harness ceiling, before and after the MSM runs (drift check). The
    // macswap worker ignores addresses; any sequence will do.
    let any_homes = traffic::population(1024, &mut rng)?;
    let any_seq: Arc<[u32]> = traffic::sequence(&any_homes, 1 << 16, &mut rng).into();
    let macswap = || Ok(vec![WorkerKind::MacSwap]);
    if probe.is_some() {
        // The probe measures the MSM worker only.
    } else {
        let r = measure(
            &mut h,
            &eal,
            spec("macswap-before", Traffic::Downlink, f0, &any_seq, timing),
            macswap,
            None,
            retry,
        )?;
        rep.harness.push(r);
    }

    let largest = a.sizes.iter().copied().max().unwrap_or(0);
    let smallest = a.sizes.iter().copied().min().unwrap_or(0);
    let all_frames_at = a
        .all_frames_at
        .clone()
        .unwrap_or_else(|| vec![smallest, largest]);
    // Runs per table (upper bound) x attempts x workers: RCU readers needed.
    let runs_per_table = 2 * a.frame_sizes.len()
        + 2
        + a.storm_rates.len()
        + a.latency_loads.len()
        + 4 * a.operator_ab
        + 2 * a.profile_traffic.len()
        + max_workers * (max_workers + 1) / 2;
    for &n in &a.sizes {
        let t = Instant::now();
        let homes = traffic::population(n, &mut rng)?;
        // The mobiles behind a NAT (a fixed hash of the address picks them) get the
        // NAT-T runs; the IP-in-IP runs send to the others.
        let (nat_homes, plain_homes): (Vec<u32>, Vec<u32>) = homes
            .iter()
            .partition(|&&h| traffic::is_nat(h, a.nat_share));
        let seq: Arc<[u32]> = traffic::sequence(&plain_homes, SEQ_LEN, &mut rng).into();
        drop(plain_homes);
        let nat_seq: Arc<[u32]> = traffic::sequence(&nat_homes, SEQ_LEN / 4, &mut rng).into();
        drop(nat_homes);
        eprintln!(
            "msm-bench: {}: population and sequence in {:.2} s",
            size_label(n),
            t.elapsed().as_secs_f64()
        );
        // One reader per worker per attempt on this table (readers start offline).
        let (rcu, mut readers) = Rcu::new(runs_per_table * ATTEMPTS as usize * max_workers);
        let mut tcfg = TableConfig::new(n);
        // With --huge-dir, the bucket array in reserved huge pages too (else THP).
        tcfg.hugetlb = a.huge_dir.is_some();
        let mut writer = TableWriter::new(tcfg, rcu).map_err(|e| format!("table: {e}"))?;
        let thp0 = anon_huge_kib();
        let t = Instant::now();
        for (i, &home) in homes.iter().enumerate() {
            let port = if traffic::is_nat(home, a.nat_share) {
                traffic::nat_port_of(home)
            } else {
                0
            };
            writer
                .upsert_endpoint(
                    home,
                    Some(traffic::coa_of(home)),
                    port,
                    46_700_000_000 + i as u64,
                    u32::MAX,
                )
                .map_err(|e| format!("table fill: {e}"))?;
        }
        writer.publish();
        let fill_s = t.elapsed().as_secs_f64();
        let st = writer.stats();
        let row = TableRow {
            bindings: writer.len(),
            fill_s,
            memory_bytes: writer.memory_bytes(),
            buckets: st.buckets,
            slots: st.slots,
            max_probe: st.max_probe,
            huge_pages: st.huge_pages,
            hugetlb: st.hugetlb,
            thp_kib: anon_huge_kib().zip(thp0).map(|(a, b)| a.saturating_sub(b)),
        };
        eprintln!(
            "msm-bench: {}: table filled in {}, {} bytes = {:.1} B/binding",
            size_label(n),
            report::fmt_secs(fill_s),
            row.memory_bytes,
            row.bytes_per_binding()
        );
        rep.tables.push(row);
        let table = writer.handle();
        if let Some((traffic, on)) = probe {
            let name = format!("probe-{}-{}", traffic.name(), if on { "on" } else { "off" });
            let mut sp = spec(&name, traffic, f0, &seq, timing);
            sp.sample_every = if on { DEFAULT_TOP_SAMPLE_EVERY } else { 0 };
            let r = msm_one(&mut h, &eal, &table, &mut readers, sp, None, false)?;
            if r.bad > 0 || r.total_drops() > 0 {
                return Err(format!(
                    "{name}: {} wrong frames, {} drops",
                    r.bad,
                    r.total_drops()
                ));
            }
            println!("rx_total={} samples={}", r.rx_total, r.samples_taken);
            return Ok(());
        }

        let frames: Vec<Frames> = if all_frames_at.contains(&n) {
            a.frame_sizes.iter().map(|&b| Frames::Fixed(b)).collect()
        } else {
            vec![f0]
        };
        let mut max_downlink = None;
        for &fr in &frames {
            for traffic in [Traffic::Downlink, Traffic::Uplink] {
                let name = format!("{}-{}-{}", traffic.name(), size_label(n), fr.label());
                let r = msm_one(
                    &mut h,
                    &eal,
                    &table,
                    &mut readers,
                    spec(&name, traffic, fr, &seq, timing),
                    None,
                    retry,
                )?;
                if traffic == Traffic::Downlink && fr == f0 {
                    max_downlink = Some(r.clone());
                }
                rep.msm.push(MsmRun {
                    bindings: n,
                    run: r,
                });
            }
        }
        if !nat_seq.is_empty() && (n == smallest || n == largest) {
            for traffic in [Traffic::NatDownlink, Traffic::NatUplink] {
                let name = format!("{}-{}-{}", traffic.name(), size_label(n), f0.label());
                let r = msm_one(
                    &mut h,
                    &eal,
                    &table,
                    &mut readers,
                    spec(&name, traffic, f0, &nat_seq, timing),
                    None,
                    retry,
                )?;
                rep.nat.push(MsmRun {
                    bindings: n,
                    run: r,
                });
            }
        }
        if a.operator_ab > 0 && (n == smallest || n == largest) {
            let t = Timing {
                warmup_ms: a.operator_ab_window_ms / 3,
                window_ms: a.operator_ab_window_ms,
                sample_ms: (a.operator_ab_window_ms / 4).max(1),
            };
            for traffic in [Traffic::Downlink, Traffic::Uplink] {
                let mut ab = report::OperatorAb {
                    bindings: n,
                    traffic,
                    frames: f0,
                    off: Vec::new(),
                    on: Vec::new(),
                };
                for round in 0..a.operator_ab {
                    // Alternate which goes first, so that a drift favours neither.
                    let order = if round % 2 == 0 {
                        [false, true]
                    } else {
                        [true, false]
                    };
                    for on in order {
                        let name = format!(
                            "operator-{}-{}-{}-{}",
                            if on { "on" } else { "off" },
                            traffic.name(),
                            size_label(n),
                            f0.label()
                        );
                        let mut sp = spec(&name, traffic, f0, &seq, t);
                        sp.sample_every = if on { DEFAULT_TOP_SAMPLE_EVERY } else { 0 };
                        let r = msm_one(&mut h, &eal, &table, &mut readers, sp, None, retry)?;
                        if on {
                            ab.on.push(r)
                        } else {
                            ab.off.push(r)
                        }
                    }
                }
                rep.operator_ab.push(ab);
            }
        }
        if !a.no_mix {
            let name = format!("mix-{}", size_label(n));
            let r = msm_one(
                &mut h,
                &eal,
                &table,
                &mut readers,
                spec(&name, Traffic::Mix, Frames::Imix, &seq, timing),
                None,
                retry,
            )?;
            rep.msm.push(MsmRun {
                bindings: n,
                run: r,
            });
        }
        if n == largest {
            // Latency at shares of the measured maximum (as run: what the
            // worker core sustains with this source).
            if let Some(max) = &max_downlink {
                rep.latency_max_mpps = Some(max.mpps);
                for &load in &a.latency_loads {
                    let name = format!("latency-{}-{}-{load:.0}%", size_label(n), f0.label());
                    let mut sp = spec(&name, Traffic::Downlink, f0, &seq, timing);
                    sp.pace_mpps = Some(max.mpps * load / 100.0);
                    let r = msm_one(&mut h, &eal, &table, &mut readers, sp, None, retry)?;
                    rep.latency.push((
                        load,
                        MsmRun {
                            bindings: n,
                            run: r,
                        },
                    ));
                }
            }
            // The worker while the main lcore publishes a storm of moves: at
            // each rate of --storm-rates (0: as fast as the writer goes).
            for &rate in if a.no_storm {
                &[][..]
            } else {
                &a.storm_rates[..]
            } {
                let label = if rate > 0.0 {
                    format!("{:.0}k", rate / 1e3)
                } else if rate == 0.0 {
                    "max".into()
                } else {
                    "spin".into()
                };
                let name = format!("storm-{}-{}-{label}", size_label(n), f0.label());
                let mut sp = spec(&name, Traffic::Downlink, f0, &seq, timing);
                sp.moving = true;
                let mut srng = StdRng::seed_from_u64(a.seed ^ 0x5707);
                let batch = a.storm_batch.max(1);
                let w = &mut writer;
                // Pacing: updates allowed so far since the storm began (a
                // gap of > 100 ms between calls means a new attempt).
                let mut began = Instant::now();
                let mut last = began - Duration::from_secs(1);
                let mut done = 0u64;
                let mut storm_fn = || -> u64 {
                    let now = Instant::now();
                    if now - last > Duration::from_millis(100) {
                        began = now;
                        done = 0;
                    }
                    last = now;
                    if rate < 0.0 {
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_micros(100) {
                            std::hint::spin_loop();
                        }
                        return 0;
                    }
                    if rate > 0.0
                        && (done + batch as u64) as f64 > (now - began).as_secs_f64() * rate
                    {
                        std::thread::sleep(Duration::from_micros(20));
                        return 0;
                    }
                    for _ in 0..batch {
                        let home = seq[srng.gen_range(0..seq.len())];
                        let coa = if srng.gen::<bool>() {
                            traffic::moved_coa(home)
                        } else {
                            traffic::coa_of(home)
                        };
                        let _ = w.upsert(home, Some(coa), 46_700_000_000, u32::MAX);
                    }
                    w.publish();
                    done += batch as u64;
                    batch as u64
                };
                let r = msm_one(
                    &mut h,
                    &eal,
                    &table,
                    &mut readers,
                    sp,
                    Some(&mut storm_fn),
                    retry,
                )?;
                rep.storm.push((
                    rate,
                    MsmRun {
                        bindings: n,
                        run: r,
                    },
                ));
            }
            // Scaling: 1 worker is the downlink run above; 2.. as far as the
            // machine has worker lcores.
            let mut scaling = Scaling {
                bindings: n,
                frames: f0,
                cpus: machine.cpus,
                oversubscribed,
                runs: max_downlink.iter().cloned().collect(),
                not_run: None,
            };
            for k in 2..=max_workers {
                let name = format!("scaling-{}-{}-{k}w", size_label(n), f0.label());
                let r = measure(
                    &mut h,
                    &eal,
                    spec(&name, Traffic::Downlink, f0, &seq, timing),
                    || msm_workers(&table, &mut readers, k),
                    None,
                    retry,
                )?;
                scaling.runs.push(r);
            }
            if max_workers < 2 {
                scaling.not_run = Some(format!(
                    "2 workers: not run, needs >= 3 cores (have {})",
                    machine.cpus
                ));
            }
            rep.scaling = Some(scaling);
        }
        if let (Some(dir), true) = (&a.profile, n == largest || n == smallest) {
            for traffic in profile_traffic(a)? {
                let name = format!("profile-{}-{}", traffic.name(), size_label(n));
                let path = dir.join(format!("{name}.perf.data"));
                let mut sp = spec(&name, traffic, f0, &seq, timing);
                sp.profile = Some(&path);
                let r = msm_one(&mut h, &eal, &table, &mut readers, sp, None, retry)?;
                rep.profiles.push(MsmRun {
                    bindings: n,
                    run: r,
                });
            }
        }
        if n == largest && a.churn_rounds > 0 {
            rep.churn = Some(churn::run(
                &mut writer,
                &homes,
                a.churn_rounds,
                a.churn_share,
                &mut rng,
            )?);
        }
        drop(homes);
    }

    let r = measure(
        &mut h,
        &eal,
        spec("macswap-after", Traffic::Downlink, f0, &any_seq, timing),
        macswap,
        None,
        retry,
    )?;
    rep.harness.push(r);
    drop(h);
    drop(eal);

    if !a.no_testpmd {
        unpin_main_thread();
        rep.testpmd_null.push(testpmd_null(
            a,
            "testpmd macswap, 2 x net_null, 1 core (after)",
        ));
    }

    let md = rep.markdown(&machine);
    let js = serde_json::to_string_pretty(&rep.json(&machine)).map_err(|e| e.to_string())?;
    if let Some(p) = &a.out_md {
        std::fs::write(p, &md).map_err(|e| format!("{}: {e}", p.display()))?;
        eprintln!("msm-bench: wrote {}", p.display());
    }
    if let Some(p) = &a.out_json {
        std::fs::write(p, js + "\n").map_err(|e| format!("{}: {e}", p.display()))?;
        eprintln!("msm-bench: wrote {}", p.display());
    }
    if a.out_md.is_none() {
        print!("{md}");
    }
    Ok(())
}
