//! `msm-bench`: the MSM's first data-plane benchmark (issue 2).
//!
//! Per-packet cost of the appliance's worker for downlink (lookup +
//! encapsulation) and uplink (anti-spoofing lookup + decapsulation) at several
//! binding-table sizes, with destinations uniformly random over the bound
//! population, next to two macswap baselines measured in the same invocation:
//! `dpdk-testpmd --forward-mode=macswap` on two net_null ports (child process,
//! before and after) and a macswap worker in this very harness. See
//! `harness.rs` for the setup and `perf/bench.sh` for the usual invocation.
//!
//! Steps: testpmd baselines -> EAL (lcore 0 = generator, lcore 1 = worker) ->
//! harness macswap -> for each size: fill a table, downlink run, uplink run ->
//! (optional profile run) -> harness macswap again -> EAL cleanup -> testpmd
//! again -> results (markdown + JSON).

mod harness;
mod report;
mod testpmd;
mod traffic;

use clap::Parser;
use harness::{Harness, Timing, WorkerKind, WORKER_LCORE};
use msm_dpdk::Eal;
use msm_table::{Rcu, TableConfig, TableWriter};
use rand::rngs::StdRng;
use rand::SeedableRng;
use report::{size_label, Machine, MsmRun, Report, TableRow};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use traffic::Traffic;

/// Length of the precomputed destination sequence (2^24 homes, 64 MiB).
const SEQ_LEN: usize = 1 << 24;

#[derive(Parser, Debug)]
#[command(name = "msm-bench", about = "MSM data-plane benchmark (issue 2)")]
struct Args {
    /// Binding-table sizes.
    #[arg(long, value_delimiter = ',', default_value = "1000,1000000,10000000")]
    sizes: Vec<usize>,
    /// Warm-up before each measurement window (ms).
    #[arg(long, default_value_t = 1000)]
    warmup_ms: u64,
    /// Measurement window (ms).
    #[arg(long, default_value_t = 4000)]
    window_ms: u64,
    /// Sampling period inside the window (ms).
    #[arg(long, default_value_t = 500)]
    sample_ms: u64,
    /// Mbufs circulating between generator and worker (= ring size).
    #[arg(long, default_value_t = 1024)]
    inflight: usize,
    /// EAL memory (`-m`, MiB).
    #[arg(long, default_value_t = 512)]
    eal_mem: u32,
    /// testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: String,
    /// Skip the testpmd baselines.
    #[arg(long)]
    no_testpmd: bool,
    /// Seconds per testpmd run.
    #[arg(long, default_value_t = 6)]
    testpmd_secs: u64,
    /// Also profile downlink at the largest size with `perf record -C 1`,
    /// writing this perf.data file (an extra run, not in the results table).
    #[arg(long)]
    profile: Option<PathBuf>,
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
    if !(64..=1 << 16).contains(&a.inflight) {
        return Err("--inflight: 64..=65536".into());
    }
    if a.sample_ms == 0 || a.window_ms < a.sample_ms {
        return Err("--window-ms must be >= --sample-ms > 0".into());
    }
    Ok(())
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

/// testpmd macswap on two net_null ports, one forwarding core (the baseline).
fn testpmd_null(a: &Args, label: &str) -> testpmd::TestpmdResult {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let r = testpmd::run(
        &a.testpmd,
        label,
        &s(&[
            "-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", "msm-bench-testpmd",
            "--vdev=net_null0", "--vdev=net_null1",
        ]),
        &s(&[
            "--forward-mode=macswap", "--nb-cores=1", "--total-num-mbufs=16384", "--stats-period=1", "-a",
        ]),
        a.testpmd_secs,
    );
    log_testpmd(&r);
    r
}

/// testpmd macswap on two net_ring loopback vdevs seeded by `--tx-first`
/// (informational: the ring PMD's own cost with everything in L1).
fn testpmd_ring(a: &Args) -> testpmd::TestpmdResult {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let r = testpmd::run(
        &a.testpmd,
        "testpmd macswap, 2 x net_ring loopback, --tx-first",
        &s(&[
            "-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", "msm-bench-testpmd",
            "--vdev=net_ring0", "--vdev=net_ring1",
        ]),
        &s(&[
            "--forward-mode=macswap", "--nb-cores=1", "--total-num-mbufs=16384", "--stats-period=1", "-a",
            "--tx-first",
        ]),
        a.testpmd_secs.min(4),
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

fn log_run(r: &harness::RunResult) {
    eprintln!(
        "msm-bench: {:<16} {:6.2} Mpps  {:5.0} ticks/pkt  burst {:4.1}  drops {}  gen busy {:3.0} % {:5.1} ns/pkt  checked {} bad {}{}",
        r.name,
        r.mpps,
        r.tsc_per_pkt,
        r.avg_burst,
        r.total_drops(),
        r.gen_busy * 100.0,
        r.gen_ns_per_pkt,
        r.checked,
        r.bad,
        if r.notes.is_empty() { String::new() } else { format!("  NOTES: {}", r.notes.join("; ")) }
    );
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
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        for cpu in 0..n.min(libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn bench(a: &Args) -> Result<(), String> {
    validate(a)?;
    let machine = Machine::gather();
    let mut rep = Report {
        date: now_utc(),
        invocation: a.invocation.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        inflight: a.inflight,
        warmup_ms: a.warmup_ms,
        window_ms: a.window_ms,
        sample_ms: a.sample_ms,
        ..Report::default()
    };
    let timing = Timing {
        warmup_ms: a.warmup_ms,
        window_ms: a.window_ms,
        sample_ms: a.sample_ms,
    };

    if !a.no_testpmd {
        rep.testpmd_null.push(testpmd_null(a, "testpmd macswap, 2 x net_null, 1 core (before)"));
        rep.testpmd_ring = Some(testpmd_ring(a));
    }

    rep.eal_args = [
        "-l", "0,1", "--no-huge", "-m", &a.eal_mem.to_string(), "--no-pci", "--no-shconf",
        "--no-telemetry", "--file-prefix", "msm-bench",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&rep.eal_args).map_err(|e| format!("EAL: {e}"))?;
    if !msm_dpdk::worker_lcores().any(|l| l == WORKER_LCORE) {
        return Err(format!("lcore {WORKER_LCORE} is not an EAL worker lcore"));
    }
    let mut h = Harness::new(a.inflight)?;
    rep.tsc_hz = h.hz();
    let mut rng = StdRng::seed_from_u64(a.seed);

    // The harness ceiling, before and after the MSM runs (drift check). The
    // macswap worker ignores addresses; any sequence will do.
    let any_homes = traffic::population(1024, &mut rng)?;
    let any_seq = traffic::sequence(&any_homes, 1 << 16, &mut rng);
    let r = h.run(&eal, "macswap-before", Traffic::Downlink, &any_seq, WorkerKind::MacSwap, timing, None)?;
    log_run(&r);
    rep.harness.push(r);

    let largest = a.sizes.iter().copied().max().unwrap_or(0);
    for &n in &a.sizes {
        let t = Instant::now();
        let homes = traffic::population(n, &mut rng)?;
        let seq = traffic::sequence(&homes, SEQ_LEN, &mut rng);
        eprintln!(
            "msm-bench: {}: population and sequence in {:.2} s",
            size_label(n),
            t.elapsed().as_secs_f64()
        );
        // One reader per run on this table (readers start offline).
        let (rcu, mut readers) = Rcu::new(3);
        let mut writer = TableWriter::new(TableConfig::new(n), rcu).map_err(|e| format!("table: {e}"))?;
        let thp0 = anon_huge_kib();
        let t = Instant::now();
        for (i, &home) in homes.iter().enumerate() {
            writer
                .upsert(home, Some(traffic::coa_of(home)), 46_700_000_000 + i as u64, u32::MAX)
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
            thp_kib: anon_huge_kib().zip(thp0).map(|(a, b)| a.saturating_sub(b)),
        };
        eprintln!(
            "msm-bench: {}: table filled in {:.3} s, {} bytes = {:.1} B/binding",
            size_label(n),
            fill_s,
            row.memory_bytes,
            row.bytes_per_binding()
        );
        rep.tables.push(row);
        drop(homes);

        for traffic in [Traffic::Downlink, Traffic::Uplink] {
            let reader = readers.pop().ok_or("rcu readers")?;
            let name = format!("{}-{}", traffic.name(), size_label(n));
            let worker = WorkerKind::Msm {
                table: writer.handle(),
                reader,
            };
            let r = h.run(&eal, &name, traffic, &seq, worker, timing, None)?;
            log_run(&r);
            rep.msm.push(MsmRun { bindings: n, run: r });
        }
        if let (Some(path), true) = (&a.profile, n == largest) {
            let reader = readers.pop().ok_or("rcu readers")?;
            let worker = WorkerKind::Msm {
                table: writer.handle(),
                reader,
            };
            let name = format!("profile-downlink-{}", size_label(n));
            let r = h.run(&eal, &name, Traffic::Downlink, &seq, worker, timing, Some(path))?;
            log_run(&r);
            rep.profile = Some(r);
            rep.profile_bindings = n;
        }
    }

    let r = h.run(&eal, "macswap-after", Traffic::Downlink, &any_seq, WorkerKind::MacSwap, timing, None)?;
    log_run(&r);
    rep.harness.push(r);
    drop(h);
    drop(eal);

    if !a.no_testpmd {
        unpin_main_thread();
        rep.testpmd_null.push(testpmd_null(a, "testpmd macswap, 2 x net_null, 1 core (after)"));
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
