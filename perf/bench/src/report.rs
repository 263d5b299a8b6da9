//! The results file (markdown) and its JSON twin, plus facts about the machine.

use crate::churn::Churn;
use crate::harness::RunResult;
use crate::testpmd::TestpmdResult;
use crate::traffic::{Frames, Traffic};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::process::Command;

/// A throughput target of the issue, applied to one run.
struct Target<'a> {
    bindings: usize,
    /// Required fraction of testpmd's rate, and the rate itself (Mpps).
    ratio: f64,
    required: f64,
    run: &'a RunResult,
}

/// Binding-table facts at one size.
#[derive(Debug, Clone)]
pub struct TableRow {
    pub bindings: usize,
    pub fill_s: f64,
    pub memory_bytes: usize,
    pub buckets: usize,
    pub slots: usize,
    pub max_probe: usize,
    pub huge_pages: bool,
    /// The bucket array is in reserved huge pages (`--huge-dir`: `TableConfig::hugetlb`).
    pub hugetlb: bool,
    /// Growth in `AnonHugePages` of this process while the table was filled (KiB).
    pub thp_kib: Option<u64>,
}

impl TableRow {
    pub fn bytes_per_binding(&self) -> f64 {
        self.memory_bytes as f64 / self.bindings.max(1) as f64
    }
}

/// An MSM run at a table size.
#[derive(Debug, Clone)]
pub struct MsmRun {
    pub bindings: usize,
    pub run: RunResult,
}

/// Results gathered by perf/bench.sh outside this process.
#[derive(Debug)]
pub struct External {
    /// perf/kernel-baseline.sh's JSON, or why there is none.
    pub kernel: Result<Value, String>,
    /// perf/xdp/run.sh's JSON (the XDP peer), or why there is none.
    pub xdp: Result<Value, String>,
    /// examples/regbench.rs's markdown (or why it could not be read), if run.
    pub control: Option<Result<String, String>>,
    pub control_command: Option<String>,
    /// perf/operator-cost.sh's JSON (the operator surface's instructions per packet in
    /// the worker, off and on), or why there is none.
    pub operator_cost: Result<Value, String>,
}

impl Default for External {
    fn default() -> Self {
        External {
            kernel: Err("not run".into()),
            xdp: Err("not run".into()),
            control: None,
            control_command: None,
            operator_cost: Err("not run".into()),
        }
    }
}

/// Throughput over 1..N workers (downlink at the largest table).
#[derive(Debug, Clone)]
pub struct Scaling {
    pub bindings: usize,
    pub frames: Frames,
    pub cpus: usize,
    /// Test layout: several worker lcores on one CPU (not scaling).
    pub oversubscribed: bool,
    /// Runs with 1, 2, ... workers.
    pub runs: Vec<RunResult>,
    /// Why more workers did not run.
    pub not_run: Option<String>,
}

impl Scaling {
    /// Mpps per worker with k workers relative to 1 worker.
    pub fn efficiency(&self, r: &RunResult) -> Option<f64> {
        let one = self.runs.iter().find(|r| r.workers == 1)?;
        (one.mpps > 0.0).then(|| r.mpps / (r.workers as f64 * one.mpps))
    }
}

/// The operator-surface A/B at one table size and direction: interleaved rounds with
/// the top-N sampling (and its consumer) off and on.
#[derive(Debug, Clone)]
pub struct OperatorAb {
    pub bindings: usize,
    pub traffic: Traffic,
    pub frames: Frames,
    pub off: Vec<RunResult>,
    pub on: Vec<RunResult>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl OperatorAb {
    /// Median Mpps off, on, and on/off (packet source included, and worker only).
    pub fn medians(&self, hz: u64) -> (f64, f64, f64, f64) {
        let m = |v: &[RunResult], w: bool| {
            median(
                v.iter()
                    .map(|r| if w { r.worker_mpps(hz) } else { r.mpps })
                    .collect(),
            )
        };
        let (off, on) = (m(&self.off, false), m(&self.on, false));
        (off, on, on / off, m(&self.on, true) / m(&self.off, true))
    }
}

/// Everything one invocation measured.
#[derive(Debug, Default)]
pub struct Report {
    pub date: String,
    /// How the wrapper was invoked (e.g. `perf/bench.sh`), if given.
    pub invocation: Option<String>,
    /// This program's exact command line.
    pub command: String,
    pub eal_args: Vec<String>,
    pub warmup_ms: u64,
    pub window_ms: u64,
    pub sample_ms: u64,
    pub tsc_hz: u64,
    /// Busiest CPU's share used by other processes just before the start.
    pub start_busy: f64,
    pub testpmd_null: Vec<TestpmdResult>,
    pub harness: Vec<RunResult>,
    pub tables: Vec<TableRow>,
    pub msm: Vec<MsmRun>,
    /// Profiled downlink runs (not in the results table).
    pub profiles: Vec<MsmRun>,
    /// Worker lcores available; whether they were oversubscribed (test only).
    pub max_workers: usize,
    pub oversubscribed: bool,
    /// The measured maximum the latency loads are shares of (Mpps, as run).
    pub latency_max_mpps: Option<f64>,
    /// (load %, run).
    pub latency: Vec<(f64, MsmRun)>,
    /// (rate limit in updates/s, 0 = none; run).
    pub storm: Vec<(f64, MsmRun)>,
    pub scaling: Option<Scaling>,
    pub churn: Option<Churn>,
    /// The operator-surface A/B (`--operator-ab`).
    pub operator_ab: Vec<OperatorAb>,
    /// Share of the bindings behind a NAT (`--nat-share`) and the NAT-T runs (RFC 3519
    /// UDP tunnel, first frame size, smallest and largest table).
    pub nat_share: f64,
    pub nat: Vec<MsmRun>,
    pub external: External,
}

/// Verdict of a target.
fn verdict(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "met",
        Some(false) => "**NOT met**",
        None => "not measurable",
    }
}

/// "1K", "1M", "10M", or the number.
pub fn size_label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}K", n / 1_000),
        n => n.to_string(),
    }
}

/// The issue's target for a table size, as a fraction of testpmd macswap.
pub fn target_for(bindings: usize) -> Option<f64> {
    match bindings {
        n if n >= 10_000_000 => Some(0.5),
        n if n <= 1_000 => Some(0.8),
        _ => None,
    }
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn cmd_out(cmd: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(cmd).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Facts about the machine and the build, gathered once.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub kernel: String,
    pub dpdk: String,
    pub rustc: String,
    pub git: String,
    pub thp: String,
    pub perf_hw_counters: bool,
}

impl Machine {
    pub fn gather() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let git = match cmd_out("git", &["rev-parse", "--short", "HEAD"]) {
            Some(h) => {
                let dirty =
                    cmd_out("git", &["status", "--porcelain", "--untracked-files=no"]).is_some();
                if dirty {
                    format!("{h} + uncommitted changes")
                } else {
                    h
                }
            }
            None => "unknown".into(),
        };
        // `perf stat` prints "<not supported>" when the VM exposes no PMU.
        let perf_hw_counters = Command::new("perf")
            .args(["stat", "-x,", "-e", "cycles", "--", "true"])
            .output()
            .map(|o| {
                let e = String::from_utf8_lossy(&o.stderr);
                o.status.success() && !e.contains("not supported") && !e.contains("not counted")
            })
            .unwrap_or(false);
        Machine {
            cpu,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            dpdk: cmd_out("pkg-config", &["--modversion", "libdpdk"])
                .or_else(|| cmd_out("dpkg-query", &["-W", "-f=${Version}", "dpdk"]))
                .unwrap_or_else(|| "unknown".into()),
            rustc: cmd_out("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            git,
            thp: std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            perf_hw_counters,
        }
    }
}

impl Report {
    /// testpmd macswap on net_null: mean of the runs that produced a figure.
    pub fn testpmd_mpps(&self) -> Option<f64> {
        mean(self.testpmd_null.iter().filter_map(|t| t.mpps))
    }

    /// The harness' macswap worker, worker only: mean of its runs.
    pub fn harness_worker_mpps(&self) -> Option<f64> {
        mean(self.harness.iter().map(|r| r.worker_mpps(self.tsc_hz)))
    }
    /// The harness macswap worker's worker-only cost (ns/packet, mean of its runs).
    pub fn harness_worker_ns(&self) -> Option<f64> {
        mean(
            self.harness
                .iter()
                .map(|r| r.worker_ns_per_pkt(self.tsc_hz)),
        )
    }

    fn ratio(x: f64, base: Option<f64>) -> Option<f64> {
        base.filter(|b| *b > 0.0).map(|b| x / b)
    }

    /// Whether `r` ran the first frame size (the one every table size has).
    fn is_first_frames(&self, r: &RunResult) -> bool {
        self.msm.first().map(|m| m.run.frames) == Some(r.frames)
    }

    /// Whether `mpps` meets the issue's target for `bindings` (None: no target
    /// or no testpmd figure).
    fn met(&self, bindings: usize, mpps: f64) -> Option<bool> {
        Some(Self::ratio(mpps, self.testpmd_mpps())? >= target_for(bindings)?)
    }

    /// The runs the issue sets a throughput target for.
    fn targets(&self) -> Vec<Target<'_>> {
        let Some(tp) = self.testpmd_mpps() else {
            return Vec::new();
        };
        self.msm
            .iter()
            .filter(|m| m.run.traffic != Traffic::Mix && self.is_first_frames(&m.run))
            .filter_map(|m| {
                let ratio = target_for(m.bindings)?;
                Some(Target {
                    bindings: m.bindings,
                    ratio,
                    required: ratio * tp,
                    run: &m.run,
                })
            })
            .collect()
    }

    pub fn markdown(&self, m: &Machine) -> String {
        let mut s = String::new();
        let f2 = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let hz = self.tsc_hz;
        let _ = writeln!(s, "# MSM benchmark suite ({})\n", self.date);
        let _ = writeln!(
            s,
            "Per-packet cost of the MSM worker (`msm::dataplane::worker::run`) for downlink \
             (lookup + IP-in-IP encapsulation), uplink (anti-spoofing lookup + decapsulation) and \
             a realistic mix, at several table and frame sizes, with destinations uniformly random \
             over the bound population, next to `dpdk-testpmd --forward-mode=macswap` on the same \
             virtual device (net_null) and the Linux kernel baseline in the same run; latency at \
             10/50/80 % load, scaling over worker cores, the worker under a table-update storm, \
             memory under churn, and the control-plane benchmark. Method: `perf/README.md` and the \
             end of this file.\n"
        );
        if self.oversubscribed {
            let _ = writeln!(
                s,
                "**TEST RUN: worker lcores oversubscribed on one CPU (`--oversubscribe-workers`). \
                 Multi-worker figures are NOT scaling.**\n"
            );
        }
        let _ = writeln!(s, "## Targets\n");
        let _ = writeln!(s, "| target | measured | verdict |\n|---|---|---|");
        for (t, m, v) in self.summary_targets() {
            let _ = writeln!(s, "| {t} | {m} | {} |", verdict(v));
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "## Commands\n");
        if let Some(inv) = &self.invocation {
            let _ = writeln!(s, "Produced by `{inv}`, which ran:\n");
        }
        let _ = writeln!(s, "```\n{}\n```\n", self.command);
        if !self.testpmd_null.is_empty() {
            let _ = writeln!(s, "which ran these baselines as child processes:\n\n```");
            for t in &self.testpmd_null {
                let _ = writeln!(s, "# {}\n{}", t.label, t.command);
            }
            let _ = writeln!(
                s,
                "```\n\n(each stopped with SIGINT; Mpps = median over its 1-s stats periods, \
                 after the first two, of the sum of `Rx-pps` over both ports.)"
            );
        }
        let _ = writeln!(
            s,
            "\nThe MSM ran under EAL `{}`.\n",
            self.eal_args.join(" ")
        );
        let _ = writeln!(s, "## Machine\n");
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| CPU | {} ({} CPUs) |", m.cpu, m.cpus);
        let _ = writeln!(s, "| TSC | {:.3} GHz |", hz as f64 / 1e9);
        let _ = writeln!(s, "| Kernel | {} |", m.kernel);
        let _ = writeln!(s, "| DPDK | {} (Debian packages) |", m.dpdk);
        let _ = writeln!(s, "| Rust | {} |", m.rustc);
        let _ = writeln!(s, "| Source | git {} |", m.git);
        let _ = writeln!(s, "| Transparent huge pages | {} |", m.thp);
        let _ = writeln!(
            s,
            "| Other load at start | {:.0} % of the busiest CPU |",
            self.start_busy * 100.0
        );
        let _ = writeln!(
            s,
            "| Hardware perf counters | {} |",
            if m.perf_hw_counters {
                "yes"
            } else {
                "no (VM): cycles below are TSC ticks"
            }
        );
        let _ = writeln!(s);

        let tp = self.testpmd_mpps();
        let hw = self.harness_worker_mpps();
        let _ = writeln!(s, "## Results (one worker core)\n");
        let _ = writeln!(
            s,
            "* **as run**: the worker core's throughput, including the packet source that writes \
             each frame into the mbuf net_null hands out (an rx callback on the worker core) and \
             the output check (a tx callback).\n\
             * **worker only**: the same with the source's and the check's measured TSC ticks \
             taken out: what the worker does with a free packet source, which is what testpmd has \
             on net_null.\n\
             * **x testpmd**: ratio to testpmd macswap on net_null, one forwarding core ({} Mpps, \
             mean of the runs before and after); the issue's targets apply to it. **x harness**: \
             worker-only ratio to the harness' own macswap worker on the same ports ({} Mpps \
             worker only): what the MSM's processing costs on top of identical I/O.\n",
            f2(tp),
            f2(hw),
        );
        let _ = writeln!(
            s,
            "| workload | frame B | bindings | Mpps as run | x testpmd | Mpps per on-CPU s | Mpps worker only | x testpmd | x harness | ns/pkt as run / worker only | Gbit/s worker only | TSC ticks/pkt: total = source + check + worker | spread as run (Mpps) | drops | mbufs in use at end (of {}) / leaked |",
            self.msm.first().map_or(0, |m| m.run.pool.capacity)
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|---:|---|"
        );
        for mr in &self.msm {
            let r = &mr.run;
            let wm = r.worker_mpps(hz);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {} | {:.2} | {:.2} | {} | {} | {:.1} / {:.1} | {:.2} | {:.0} = {:.0} + {:.0} + {:.0} | {} | {} | {} / {} |",
                r.traffic.name(),
                r.frames.label(),
                size_label(mr.bindings),
                r.mpps,
                f2(Self::ratio(r.mpps, tp)),
                r.mpps_oncpu(),
                wm,
                f2(Self::ratio(wm, tp)),
                f2(Self::ratio(wm, hw)),
                r.ns_per_pkt(hz),
                r.worker_ns_per_pkt(hz),
                wm * r.frames.mean_bytes() * 8.0 / 1e3,
                r.tsc_per_pkt,
                r.source_tsc_per_pkt,
                r.check_tsc_per_pkt,
                r.worker_tsc_per_pkt(),
                spread(&r.sample_mpps),
                r.total_drops(),
                r.pool.in_use_running,
                r.pool.in_use_after,
            );
        }
        let _ = writeln!(
            s,
            "\nFrame B = the mobile-side Ethernet frame including the FCS (downlink input, uplink \
             output); the tunnelled side is 20 bytes longer. **imix** = the realistic mix: sizes \
             64 / 576 / 1400 B in proportions 7 : 4 : 1, each as downlink and uplink in proportions \
             2 : 1, interleaved in a fixed shuffled cycle of 36 packets (mean {:.0} B). Gbit/s = \
             worker-only Mpps x mean mobile-side frame size. Mpps per on-CPU s = packets / the \
             worker thread's own CPU time in the window (schedstat): the rate while it had its \
             core, which other processes on a shared machine do not dilute (their cache \
             pollution stays); the as-run and worker-only figures count the whole window. ns/pkt = TSC ticks per packet on the \
             worker core / TSC rate. The testpmd ratio uses the 64-byte testpmd figure for every \
             size (net_null never touches packet data, so testpmd's rate does not depend on it). \
             mbufs in use at end = mempool in-use count at the end of the window with the worker \
             running (per-lcore caches count as free); leaked = still in use after the worker \
             stopped and every ring was drained (must be 0).",
            Frames::Imix.mean_bytes()
        );
        let _ = writeln!(s);
        let all = || self.msm.iter().map(|m| &m.run).chain(self.harness.iter());
        let checked: u64 = all().map(|r| r.checked).sum();
        let bad: u64 = all().map(|r| r.bad).sum();
        let _ = writeln!(
            s,
            "Output check: {checked} transmitted frames verified (1 in 64; encapsulated toward \
             the home's care-of address from 198.51.100.1, inner TTL 63 / decapsulated, TTL 63, \
             to 203.0.113.10 / MACs swapped; Ethernet addresses, lengths and IPv4 checksums): \
             {bad} wrong. Every run's worker received full bursts of 32 (mean rx burst: {}).\n",
            fmt_list(&all().map(|r| r.avg_burst).collect::<Vec<_>>())
        );
        let notes: Vec<String> = self
            .msm
            .iter()
            .map(|m| &m.run)
            .chain(self.harness.iter())
            .flat_map(|r| {
                let mut v: Vec<String> = r.notes.iter().map(|n| format!("{}: {n}", r.name)).collect();
                v.extend(r.drops.iter().map(|(d, n)| format!("{}: {n} dropped ({d})", r.name)));
                if r.attempts > 1 {
                    v.push(format!(
                        "{}: attempt {} kept (earlier ones lost the worker's CPU to other processes)",
                        r.name, r.attempts
                    ));
                }
                v
            })
            .collect();
        for n in &notes {
            let _ = writeln!(s, "* {n}");
        }
        if !notes.is_empty() {
            let _ = writeln!(s);
        }

        let _ = writeln!(s, "## Throughput targets in detail\n");
        match tp {
            Some(tpv) => {
                let _ = writeln!(
                    s,
                    "Against testpmd macswap on net_null ({tpv:.2} Mpps). Budget = worker-only TSC \
                     ticks per packet that would meet the target.\n"
                );
                let _ = writeln!(
                    s,
                    "| target | required | as run | worker only | short by (as run / worker only) | worker ticks/pkt: budget / actual |"
                );
                let _ = writeln!(s, "|---|---:|---:|---:|---|---|");
                for t in self.targets() {
                    let short = |x: f64| {
                        if x >= t.required {
                            "met".to_string()
                        } else {
                            format!("{:.0} %", (1.0 - x / t.required) * 100.0)
                        }
                    };
                    let _ = writeln!(
                        s,
                        "| {} at {}: >= {:.1} x testpmd | {:.2} Mpps | {:.2} | {:.2} | {} / {} | {:.0} / {:.0} |",
                        t.run.traffic.name(),
                        size_label(t.bindings),
                        t.ratio,
                        t.required,
                        t.run.mpps,
                        t.run.worker_mpps(hz),
                        short(t.run.mpps),
                        short(t.run.worker_mpps(hz)),
                        hz as f64 / (t.required * 1e6),
                        t.run.worker_tsc_per_pkt()
                    );
                }
            }
            None => {
                let _ = writeln!(
                    s,
                    "No testpmd figure: the throughput targets were not evaluated."
                );
            }
        }
        let worst = self
            .tables
            .iter()
            .map(TableRow::bytes_per_binding)
            .fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "\nMemory: <= 64 bytes per binding: {} (at most {worst:.1} B over the sizes measured).\n",
            if worst <= 64.0 { "met" } else { "**not met**" }
        );

        if let Some(io) = mean(self.harness.iter().map(RunResult::worker_tsc_per_pkt)) {
            let mut sizes: Vec<usize> = self.msm.iter().map(|m| m.bindings).collect();
            sizes.dedup();
            let _ = writeln!(s, "## Cost breakdown (worker-only TSC ticks per packet)\n");
            let _ = writeln!(
                s,
                "The harness macswap worker's ticks are the I/O and loop cost every worker pays on \
                 these ports; the MSM at the smallest table (in cache) adds its processing; larger \
                 tables add what the lookups cost once the buckets no longer fit in the caches.\n"
            );
            let _ = write!(s, "| workload | I/O + loop (harness macswap) |");
            for (i, n) in sizes.iter().enumerate() {
                let what = if i == 0 { "processing" } else { "larger table" };
                let _ = write!(s, " MSM at {}: + {what} |", size_label(*n));
            }
            let _ = writeln!(s, "\n|---|---:|{}", "---:|".repeat(sizes.len()));
            for traffic in [Traffic::Downlink, Traffic::Uplink] {
                let ticks: Vec<f64> = sizes
                    .iter()
                    .filter_map(|n| {
                        self.msm
                            .iter()
                            .find(|m| {
                                m.bindings == *n
                                    && m.run.traffic == traffic
                                    && self.is_first_frames(&m.run)
                            })
                            .map(|m| m.run.worker_tsc_per_pkt())
                    })
                    .collect();
                if ticks.len() != sizes.len() {
                    continue;
                }
                let _ = write!(s, "| {} | {io:.0} |", traffic.name());
                for (i, t) in ticks.iter().enumerate() {
                    let base = if i == 0 { io } else { ticks[0] };
                    let _ = write!(s, " {:+.0} = {t:.0} |", t - base);
                }
                let _ = writeln!(s);
            }
            let _ = writeln!(s);
        }

        let _ = writeln!(s, "## Baselines\n");
        let _ = writeln!(s, "| baseline | Mpps | notes |\n|---|---:|---|");
        for t in &self.testpmd_null {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                t.label,
                f2(t.mpps),
                t.error
                    .clone()
                    .unwrap_or_else(|| format!("1-s periods: {}", fmt_list(&t.periods)))
            );
        }
        for r in &self.harness {
            let _ = writeln!(
                s,
                "| {}: harness macswap worker on the MSM's ports | {:.2} as run, {:.2} worker only | ticks/pkt {:.0} = source {:.0} + check {:.0} + worker {:.0}; spread {}; {} drops |",
                r.name,
                r.mpps,
                r.worker_mpps(hz),
                r.tsc_per_pkt,
                r.source_tsc_per_pkt,
                r.check_tsc_per_pkt,
                r.worker_tsc_per_pkt(),
                spread(&r.sample_mpps),
                r.total_drops()
            );
        }
        let _ = writeln!(s);

        self.extra_sections(&mut s);

        let _ = writeln!(s, "## Binding table\n");
        let _ = writeln!(
            s,
            "Pre-sized for its population (`TableConfig::new(n)`), filled with distinct random \
             home addresses in 10.0.0.0/8, each bound to a care-of address in 198.18.0.0/15. \
             Memory = `TableWriter::memory_bytes()` (bucket array + writer-only metadata).\n"
        );
        let _ = writeln!(
            s,
            "| bindings | fill time | fill rate | memory | bytes/binding | <= 64 B | buckets | slots | max probe | huge pages |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|");
        for t in &self.tables {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} M/s | {:.2} MiB | {:.1} | {} | {} | {} | {} | {} |",
                size_label(t.bindings),
                fmt_secs(t.fill_s),
                t.bindings as f64 / t.fill_s.max(1e-9) / 1e6,
                t.memory_bytes as f64 / (1 << 20) as f64,
                t.bytes_per_binding(),
                if t.bytes_per_binding() <= 64.0 {
                    "yes"
                } else {
                    "**no**"
                },
                t.buckets,
                t.slots,
                t.max_probe,
                match (t.huge_pages, t.thp_kib) {
                    _ if t.hugetlb =>
                        "buckets in reserved 2 MiB pages; THP +".to_string()
                            + &t.thp_kib
                                .map_or("?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0)),
                    (false, _) => "no (small: heap)".to_string(),
                    (true, Some(k)) => format!("{:.0} MiB", k as f64 / 1024.0),
                    (true, None) => "unknown".to_string(),
                }
            );
        }
        let _ = writeln!(s);

        for p in &self.profiles {
            let _ = writeln!(
                s,
                "## Where the worker core's time goes: downlink at {}\n",
                size_label(p.bindings)
            );
            let _ = writeln!(
                s,
                "An extra run ({:.2} Mpps as run while profiled, not in the table above) under \
                 `perf record -e cpu-clock -p <msm-bench> --call-graph dwarf` (its only busy thread is the \
                 worker on CPU 1; timer sampling: this VM has \
                 no PMU); `perf report --children --inline --sort symbol -g none`: share of the \
                 worker core's samples in each function including what it calls or inlines \
                 (first column), and in its own code (second). `on_rx` is the packet source, \
                 `on_tx` the output check; net_null has no symbols (its hex addresses).\n",
                p.run.mpps
            );
            let _ = writeln!(s, "```");
            for l in p.run.profile.iter().flatten() {
                let _ = writeln!(s, "{l}");
            }
            let _ = writeln!(s, "```\n");
        }

        if !self.operator_ab.is_empty() {
            let _ = writeln!(s, "## The operator surface on and off (same run)\n");
            let _ = writeln!(
                s,
                "Interleaved rounds (off/on, then on/off, ...) of the worker with the operator surface \
                 off (no top-N sampling) and on (1 in {} packets sampled, the main lcore draining the \
                 samples into the top-N view and rendering the stats document and a Prometheus scrape \
                 at each mark); the packet trace is present and unarmed in both. Medians over the \
                 rounds; on a shared VM a single run varies by +-15 %.\n",
                msm::config::DEFAULT_TOP_SAMPLE_EVERY
            );
            let _ = writeln!(
                s,
                "| run | Mpps off (per round) | Mpps on (per round) | on/off (medians) | worker-only on/off | samples taken (on, per run) | top-1 estimate (on, last run) |"
            );
            let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- |");
            for ab in &self.operator_ab {
                let (_, _, ratio, wratio) = ab.medians(self.tsc_hz);
                let l = |v: &[RunResult]| fmt_list(&v.iter().map(|r| r.mpps).collect::<Vec<_>>());
                let taken: Vec<String> = ab
                    .on
                    .iter()
                    .map(|r| {
                        let lost = if r.samples_lost > 0 {
                            format!(" ({} lost)", r.samples_lost)
                        } else {
                            String::new()
                        };
                        format!("{}{lost}", r.samples_taken)
                    })
                    .collect();
                let first = ab
                    .on
                    .last()
                    .and_then(|r| r.top_first.as_ref())
                    .map_or("-".to_string(), |(h, b)| {
                        format!("{h}: {:.1} MB", *b as f64 / 1e6)
                    });
                let _ = writeln!(
                    s,
                    "| {}-{}-{} | {} | {} | {ratio:.3} | {wratio:.3} | {} | {first} |",
                    ab.traffic.name(),
                    size_label(ab.bindings),
                    ab.frames.label(),
                    l(&ab.off),
                    l(&ab.on),
                    taken.join(", "),
                );
            }
            let _ = writeln!(s);
        }
        if let Ok(v) = &self.external.operator_cost {
            let _ = writeln!(
                s,
                "## The operator surface's cost in instructions (same run)\n"
            );
            let _ = writeln!(
                s,
                "The worker loop (`msm::dataplane::worker::run`, the harness' packet source and \
                 output check included, which are the same per packet in both) under callgrind, \
                 instructions collected in the worker divided by the packets it received over its \
                 whole life, with the top-N sampling off and on (1 in {}); the trace is unarmed in \
                 both. The counts do not depend on the machine's load; the small differences in \
                 the worker's fixed start/stop cost, spread over runs of different lengths, move \
                 them by a few tenths of an instruction. Git `{}`. Command:\n\n```\n{}\n```\n",
                msm::config::DEFAULT_TOP_SAMPLE_EVERY,
                v["git"].as_str().unwrap_or("?"),
                v["command"].as_str().unwrap_or("?")
            );
            let _ = writeln!(
                s,
                "| traffic | off: instructions / packets = per packet | on: instructions / packets = per packet | on - off | take_sample per packet (samples) |\n|---|---|---|---:|---:|"
            );
            for r in v["runs"].as_array().into_iter().flatten() {
                let side = |k: &str| {
                    format!(
                        "{} / {} = {:.2}",
                        r[k]["instructions"].as_u64().unwrap_or(0),
                        r[k]["packets"].as_u64().unwrap_or(0),
                        r[k]["per_packet"].as_f64().unwrap_or(f64::NAN)
                    )
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:+.3} ({:+.4} %) | {:.3} ({}) |",
                    r["traffic"].as_str().unwrap_or("?"),
                    side("off"),
                    side("on"),
                    r["delta_per_packet"].as_f64().unwrap_or(f64::NAN),
                    r["delta_share"].as_f64().unwrap_or(f64::NAN) * 100.0,
                    r["take_sample_per_packet"].as_f64().unwrap_or(f64::NAN),
                    r["on"]["samples"].as_u64().unwrap_or(0)
                );
            }
            let _ = writeln!(s);
        }
        if !self.nat.is_empty() {
            let _ = writeln!(
                s,
                "## NAT traversal (RFC 3519) next to IP-in-IP (same run)\n"
            );
            let _ = writeln!(
                s,
                "A share of {:.0} % of the bindings is behind a NAT (bound to a translated address \
                 and UDP port: one more word read per lookup, in the NAT endpoint array). NAT-T runs \
                 send to (downlink) or from (uplink, MIP Tunnel Data checked against address and \
                 port) those mobiles only, uniformly at random; the IP-in-IP runs of the same table \
                 use the other mobiles. The UDP tunnel adds 12 bytes per packet beyond IP-in-IP's \
                 20. Outputs are checked as for the other runs.\n",
                self.nat_share * 100.0
            );
            let _ = writeln!(
                s,
                "| bindings | direction | IP-in-IP Mpps | NAT-T Mpps | NAT-T / IP-in-IP | worker-only NAT-T / IP-in-IP | NAT-T / testpmd | NAT-T drops / bad outputs of checked |"
            );
            let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            let tp = self.testpmd_mpps();
            for m in &self.nat {
                let plain = match m.run.traffic {
                    Traffic::NatUplink => Traffic::Uplink,
                    _ => Traffic::Downlink,
                };
                let r = &m.run;
                let base = self.msm_run(plain, m.bindings);
                let opt =
                    |v: Option<f64>, d: usize| v.map_or("-".to_string(), |x| format!("{x:.d$}"));
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.2} | {} | {} | {} | {} / {} of {} |",
                    size_label(m.bindings),
                    plain.name(),
                    opt(base.map(|b| b.mpps), 2),
                    r.mpps,
                    opt(base.map(|b| r.mpps / b.mpps), 3),
                    opt(
                        base.map(|b| r.worker_mpps(self.tsc_hz) / b.worker_mpps(self.tsc_hz)),
                        3
                    ),
                    opt(Self::ratio(r.mpps, tp), 2),
                    r.total_drops(),
                    r.bad,
                    r.checked,
                );
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## How it is measured\n");
        let _ = writeln!(s, "{}", method_text(self));
        s
    }

    pub fn json(&self, m: &Machine) -> Value {
        let tp = self.testpmd_mpps();
        let hw = self.harness_worker_mpps();
        let hz = self.tsc_hz;
        json!({
            "date": self.date,
            "invocation": self.invocation,
            "command": self.command,
            "eal_args": self.eal_args,
            "machine": {
                "cpu": m.cpu, "cpus": m.cpus, "kernel": m.kernel, "dpdk": m.dpdk,
                "rustc": m.rustc, "git": m.git, "thp": m.thp,
                "perf_hw_counters": m.perf_hw_counters, "tsc_hz": hz,
                "other_load_at_start": self.start_busy,
            },
            "setup": {
                "warmup_ms": self.warmup_ms, "window_ms": self.window_ms,
                "sample_ms": self.sample_ms, "worker_burst": msm::dataplane::worker::BURST,
                "check_every": crate::source::CHECK_EVERY,
            },
            "baselines": {
                "testpmd_macswap_net_null_mpps": tp,
                "testpmd_macswap_net_null": self.testpmd_null.iter().map(testpmd_json).collect::<Vec<_>>(),
                "harness_macswap_worker_only_mpps": hw,
                "harness_macswap": self.harness.iter().map(|r| run_json(r, hz)).collect::<Vec<_>>(),
            },
            "tables": self.tables.iter().map(|t| json!({
                "bindings": t.bindings, "fill_seconds": t.fill_s, "memory_bytes": t.memory_bytes,
                "bytes_per_binding": t.bytes_per_binding(), "buckets": t.buckets, "slots": t.slots,
                "max_probe": t.max_probe, "huge_pages_requested": t.huge_pages, "hugetlb": t.hugetlb, "thp_kib": t.thp_kib,
            })).collect::<Vec<_>>(),
            "msm": self.msm.iter().map(|mr| {
                let r = &mr.run;
                let mut v = run_json(r, hz);
                v["bindings"] = json!(mr.bindings);
                v["ratio_testpmd"] = json!(Self::ratio(r.mpps, tp));
                v["worker_only_ratio_testpmd"] = json!(Self::ratio(r.worker_mpps(hz), tp));
                v["worker_only_ratio_harness_macswap"] = json!(Self::ratio(r.worker_mpps(hz), hw));
                v["target_ratio_testpmd"] = json!(target_for(mr.bindings));
                v["target_met"] = json!(self.met(mr.bindings, r.mpps));
                v["target_met_worker_only"] = json!(self.met(mr.bindings, r.worker_mpps(hz)));
                v
            }).collect::<Vec<_>>(),
            "targets": self.targets().iter().map(|t| json!({
                "traffic": t.run.traffic.name(), "bindings": t.bindings,
                "ratio_of_testpmd": t.ratio, "required_mpps": t.required,
                "mpps": t.run.mpps, "worker_only_mpps": t.run.worker_mpps(hz),
                "met": t.run.mpps >= t.required, "met_worker_only": t.run.worker_mpps(hz) >= t.required,
                "worker_tsc_budget_per_packet": hz as f64 / (t.required * 1e6),
                "worker_tsc_per_packet": t.run.worker_tsc_per_pkt(),
            })).collect::<Vec<_>>(),
            "max_bytes_per_binding": self.tables.iter().map(TableRow::bytes_per_binding).fold(0.0, f64::max),
            "profiles": self.profiles.iter().map(|p| json!({
                "bindings": p.bindings,
                "run": run_json(&p.run, hz),
            })).collect::<Vec<_>>(),
            "suite": self.suite_json(),
            "nat_share": self.nat_share,
            "nat": self.nat.iter().map(|mr| {
                let r = &mr.run;
                let mut v = run_json(r, hz);
                v["bindings"] = json!(mr.bindings);
                v["ratio_testpmd"] = json!(Self::ratio(r.mpps, tp));
                let plain = if r.traffic == Traffic::NatUplink { Traffic::Uplink } else { Traffic::Downlink };
                v["ratio_ipip"] = json!(self.msm_run(plain, mr.bindings).map(|b| r.mpps / b.mpps));
                v
            }).collect::<Vec<_>>(),
            "operator_cost": match &self.external.operator_cost {
                Ok(v) => v.clone(),
                Err(e) => json!({ "missing": e }),
            },
            "operator_ab": self.operator_ab.iter().map(|ab| {
                let (off, on, ratio, wratio) = ab.medians(hz);
                json!({
                    "traffic": ab.traffic.name(), "bindings": ab.bindings,
                    "frame_bytes": ab.frames.label(),
                    "sample_every": msm::config::DEFAULT_TOP_SAMPLE_EVERY,
                    "off_mpps": ab.off.iter().map(|r| r.mpps).collect::<Vec<_>>(),
                    "on_mpps": ab.on.iter().map(|r| r.mpps).collect::<Vec<_>>(),
                    "off_worker_only_mpps": ab.off.iter().map(|r| r.worker_mpps(hz)).collect::<Vec<_>>(),
                    "on_worker_only_mpps": ab.on.iter().map(|r| r.worker_mpps(hz)).collect::<Vec<_>>(),
                    "median_off_mpps": off, "median_on_mpps": on,
                    "on_over_off": ratio, "worker_only_on_over_off": wratio,
                    "on_samples_taken": ab.on.iter().map(|r| r.samples_taken).collect::<Vec<_>>(),
                    "on_samples_lost": ab.on.iter().map(|r| r.samples_lost).collect::<Vec<_>>(),
                })
            }).collect::<Vec<_>>(),
        })
    }
}

/// The largest share of extra worker instructions per packet with the operator surface
/// on that counts as "no measurable cost": far below what the wall-clock A/B on this
/// machine can resolve (its rounds spread by +-15 %).
const OPERATOR_COST_LIMIT: f64 = 0.005;

/// (traffic, instructions/packet off, on, on/off - 1) per run of perf/operator-cost.sh's
/// JSON.
fn operator_cost_rows(v: &Result<Value, String>) -> Result<Vec<(String, f64, f64, f64)>, String> {
    let v = v.as_ref().map_err(Clone::clone)?;
    let runs = v["runs"]
        .as_array()
        .ok_or("perf/operator-cost.sh's JSON has no runs")?;
    runs.iter()
        .map(|r| {
            let f = |k: &str| {
                r[k]["per_packet"]
                    .as_f64()
                    .ok_or_else(|| format!("operator cost: no {k}.per_packet"))
            };
            let (off, on) = (f("off")?, f("on")?);
            Ok((
                r["traffic"].as_str().unwrap_or("?").to_string(),
                off,
                on,
                on / off - 1.0,
            ))
        })
        .collect()
}

/// Seconds, or milliseconds below 0.1 s.
pub fn fmt_secs(s: f64) -> String {
    if s < 0.1 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn fmt_list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        "n/a".into()
    } else {
        format!("{lo:.2}-{hi:.2}")
    }
}

fn testpmd_json(t: &TestpmdResult) -> Value {
    json!({
        "label": t.label, "command": t.command, "mpps": t.mpps,
        "periods_mpps": t.periods, "error": t.error,
    })
}

fn run_json(r: &RunResult, hz: u64) -> Value {
    json!({
        "name": r.name, "worker": r.worker, "traffic": r.traffic.name(),
        "frame_bytes": r.frames.label(), "mean_frame_bytes": r.frames.mean_bytes(),
        "workers": r.workers,
        "ns_per_packet": r.ns_per_pkt(hz), "worker_ns_per_packet": r.worker_ns_per_pkt(hz),
        "mempool": {
            "capacity": r.pool.capacity, "in_use_end_of_window": r.pool.in_use_running,
            "available_end_of_window": r.pool.available_running,
            "in_use_after_stop": r.pool.in_use_after, "rx_nombuf": r.pool.rx_nombuf,
        },
        "latency": r.latency.as_ref().map(|l| json!({
            "count": l.count, "p50_ns": l.p50_ns, "p99_ns": l.p99_ns, "p99_9_ns": l.p999_ns,
            "max_ns": l.max_ns, "mean_ns": l.mean_ns, "offered_mpps": l.offered_mpps,
            "rx_ring_overflow": l.ring_overflow,
        })),
        "storm": r.storm.as_ref().map(|s| json!({
            "quiet_mpps": s.quiet_mpps, "storm_mpps": s.storm_mpps,
            "updates": s.updates, "storm_seconds": s.seconds,
            "quiet_half_worker_cpu_lost_ms": s.quiet_lost_ms,
            "storm_half_worker_cpu_lost_ms": s.storm_lost_ms,
        })),
        "seconds": r.seconds, "packets": r.packets, "mpps": r.mpps,
        "worker_only_mpps": r.worker_mpps(hz), "sample_mpps": r.sample_mpps,
        "tsc_ticks_per_packet": r.tsc_per_pkt,
        "source_tsc_ticks_per_packet": r.source_tsc_per_pkt,
        "check_tsc_ticks_per_packet": r.check_tsc_per_pkt,
        "worker_tsc_ticks_per_packet": r.worker_tsc_per_pkt(),
        "mean_rx_burst": r.avg_burst, "tx_packets": r.tx_packets, "handled": r.handled,
        "drops": r.drops.iter().map(|(n, c)| json!({"reason": n, "count": c})).collect::<Vec<_>>(),
        "checked": r.checked, "bad": r.bad,
        "worker_run_delay_ms": r.run_delay_ms, "worker_cpu_steal_ms": r.steal_ms,
        "sampling_late_ms": r.late_ms,
        "worker_oncpu_seconds": r.oncpu_s, "mpps_per_oncpu_second": r.mpps_oncpu(),
        "attempts": r.attempts, "notes": r.notes, "profile": r.profile,
        "top_sample_every": r.sample_every, "top_samples_taken": r.samples_taken,
        "top_samples_lost": r.samples_lost,
        "top_first": r.top_first.as_ref().map(|(h, b)| json!({"home": h, "bytes": b})),
    })
}

fn method_text(r: &Report) -> String {
    format!(
        "\
* **Ports.** The appliance's two ports with their roles and addresses: WWAN (192.0.2.129, a \
ring-backed ethdev from `PortId::from_rings` whose rx ring stays empty: this traffic never \
comes from the WWAN) and Internet (198.51.100.1 = `IPmsm-wlan`, `net_null0`, the issue's \
testpmd device). MTU 1500, MSS clamping on, next hops pre-resolved in the neighbour table.
* **Worker.** The appliance's own `msm::dataplane::worker::run` on lcore 1 (CPU 1) with the appliance's \
`Plane` and a `TableWriter`-filled table, polling rx queue 0 of both ports in bursts of {burst} \
and owning tx queue 0 of both, exactly like the first worker of `msm run`. Throughput is its \
own `rx_packets` counter over a {window} ms window after {warmup} ms of warm-up, sampled every \
{sample} ms by the main lcore, which otherwise sleeps: the worker core runs alone.
* **Packet source.** net_null's rx hands out mbufs from the worker core's mempool cache (16383 \
mbufs, cache 256, as testpmd's) and never writes them. An rx callback (`rte_eth_add_rx_callback`, \
run inside the worker's `rte_eth_rx_burst`) writes each frame's headers (the payload is \
not written: nobody reads it): a downlink frame (UDP 203.0.113.10 -> home; 60 bytes in the mbuf \
for the 64-byte size) or an uplink frame (IP-in-IP care-of -> 198.51.100.1 carrying UDP \
home -> 203.0.113.10, 20 bytes longer, from the care-of address bound to that home, so every \
packet passes the anti-spoofing check), or the mix's cycle of both at three sizes, for the \
next home of a precomputed sequence of 2^24 draws, uniform with replacement over the bound \
population. A tx callback checks 1 frame in {check} (addresses, TTLs, lengths, checksums) before net_null \
frees it. Both time themselves with the TSC: **worker only** = total ticks minus theirs.
* **Baselines.** testpmd macswap on two net_null ports, one forwarding core: rx allocates, \
macswap, tx frees, all on one core, frames never written (so never a cache miss on packet \
data). The harness macswap worker does the same per packet inside this harness (same ports, \
queues, bursts, counters, source and check); it is faster than testpmd, whose forwarding \
engine does more per packet than this bare loop, so \"x harness\" is the stricter comparison: \
the MSM's processing cost on identical I/O.
* **Optimism shared with testpmd on net_null.** The frames are in L1 when the worker reads \
them (written a moment before on the same core), and no descriptor ring is touched; with a NIC \
each frame arrives by DMA (LLC at best) and the PMD handles descriptors. Table lookups, by \
contrast, are as real as it gets: uniform over 10M bindings they miss all caches.
* **Cycles.** TSC ticks per packet = window ticks / packets (the worker polls all the time); \
the TSC runs at {ghz:.2} GHz. The VM exposes no PMU, so the profile uses timer sampling.
* **Contention.** The worker's scheduler run delay and the CPU's steal time are read for each \
window; if they exceed 1 % of it the run is repeated (up to 3 attempts) and noted.
* **Memory per binding** = `memory_bytes() / len` of a table pre-sized for exactly that many \
bindings (load <= 3/4). A table sized for more than it holds costs more per binding.
* Nothing here is a timed test: the targets are evaluated in this report only.",
        burst = msm::dataplane::worker::BURST,
        window = r.window_ms,
        warmup = r.warmup_ms,
        sample = r.sample_ms,
        check = crate::source::CHECK_EVERY,
        ghz = r.tsc_hz as f64 / 1e9,
    )
}

/// The kernel baseline's runs: (bindings, direction, frame bytes, kernel Mpps,
/// MSM Mpps, ratio) as the script reported them.
type KernelRun = (
    u64,
    String,
    Option<u64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

fn kernel_runs(v: &Value) -> Vec<KernelRun> {
    v["runs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["bindings"].as_u64().unwrap_or(0),
                        r["direction"].as_str().unwrap_or("?").to_string(),
                        r["frame_bytes"].as_u64(),
                        r["kernel_mpps"].as_f64(),
                        r["msm_mpps"].as_f64(),
                        r["ratio"].as_f64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Report {
    /// The MSM run of `traffic` at `bindings` with the first frame size.
    pub(crate) fn msm_run(&self, traffic: Traffic, bindings: usize) -> Option<&RunResult> {
        self.msm
            .iter()
            .find(|m| m.bindings == bindings && m.run.traffic == traffic)
            .map(|m| &m.run)
            .filter(|r| self.is_first_frames(r))
    }

    /// The latency run at `load` %.
    fn latency_at(&self, load: f64) -> Option<&RunResult> {
        self.latency
            .iter()
            .find(|(l, _)| (*l - load).abs() < 1e-9)
            .map(|(_, m)| &m.run)
    }

    /// Every target of the project: (target, what was measured, verdict).
    /// Issue 13's "no measurable data-plane cost with all of it on": judged on the
    /// worker's instructions per packet (perf/operator-cost.sh, callgrind), which do not
    /// vary from run to run; the wall-clock A/B of the same run is quoted beside it.
    fn operator_cost_target(&self, hz: u64) -> (String, String, Option<bool>) {
        let t = format!(
            "operator surface on: no measurable data-plane cost (worker instructions per packet \
             within {:.1} % of off)",
            OPERATOR_COST_LIMIT * 100.0
        );
        let ab = if self.operator_ab.is_empty() {
            String::new()
        } else {
            format!(
                "; wall clock, same run, on/off of the medians: {}",
                self.operator_ab
                    .iter()
                    .map(|ab| format!(
                        "{} {} {:.3}",
                        ab.traffic.name(),
                        size_label(ab.bindings),
                        ab.medians(hz).2
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        match operator_cost_rows(&self.external.operator_cost) {
            Ok(rows) if !rows.is_empty() => {
                let worst = rows.iter().map(|r| r.3).fold(f64::NEG_INFINITY, f64::max);
                let m = rows
                    .iter()
                    .map(|(t, off, on, share)| {
                        format!("{t} {off:.2} -> {on:.2} ({:+.3} %)", share * 100.0)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    t,
                    format!("{m} instructions/packet (callgrind){ab}"),
                    Some(worst <= OPERATOR_COST_LIMIT),
                )
            }
            Ok(_) => (t, format!("perf/operator-cost.sh gave no runs{ab}"), None),
            Err(e) => (t, format!("{e}{ab}"), None),
        }
    }

    pub fn summary_targets(&self) -> Vec<(String, String, Option<bool>)> {
        let mut v = Vec::new();
        let hz = self.tsc_hz;
        let tp = self.testpmd_mpps();
        let largest = self.tables.iter().map(|t| t.bindings).max().unwrap_or(0);
        let mut sizes: Vec<usize> = self.msm.iter().map(|m| m.bindings).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for &n in sizes.iter().rev() {
            let Some(ratio) = target_for(n) else { continue };
            for traffic in [Traffic::Downlink, Traffic::Uplink] {
                let t = format!(
                    "{} at {} bindings >= {ratio} x testpmd macswap",
                    traffic.name(),
                    size_label(n),
                );
                match (self.msm_run(traffic, n), tp) {
                    (Some(r), Some(tp)) => v.push((
                        t,
                        format!(
                            "{:.2} x as run ({:.2} Mpps), {:.2} x worker only (testpmd {tp:.2} Mpps, wall clock); {:.2} Mpps per on-CPU second of the worker (no ratio: testpmd has no such figure){}",
                            r.mpps / tp,
                            r.mpps,
                            r.worker_mpps(hz) / tp,
                            r.mpps_oncpu(),
                            if r.contended() {
                                format!(
                                    "; contended: the worker lost {:.0} ms of its CPU in the window",
                                    r.run_delay_ms + r.steal_ms
                                )
                            } else {
                                String::new()
                            }
                        ),
                        Some(r.mpps >= ratio * tp),
                    )),
                    (None, _) => v.push((t, "not run".into(), None)),
                    (_, None) => v.push((t, "no testpmd figure".into(), None)),
                }
            }
        }
        let kruns = match &self.external.kernel {
            Ok(k) if k["status"] == "ok" => Ok(kernel_runs(k)),
            Ok(k) => Err(format!(
                "kernel baseline unavailable: {}",
                k["reason"].as_str().unwrap_or("no reason given")
            )),
            Err(e) => Err(format!("kernel baseline {e}")),
        };
        for traffic in [Traffic::Downlink, Traffic::Uplink] {
            let t = format!(
                "{} at {} bindings >= 5 x the kernel baseline",
                traffic.name(),
                size_label(largest)
            );
            match &kruns {
                Err(e) => v.push((t, e.clone(), None)),
                Ok(runs) => {
                    let mine: Vec<&KernelRun> =
                        runs.iter().filter(|r| r.1 == traffic.name()).collect();
                    match mine.iter().find(|r| r.0 as usize == largest) {
                        Some(r) => {
                            let ratio = r.5.or_else(|| Some(r.4? / r.3?));
                            v.push((
                                t,
                                format!(
                                    "kernel {} Mpps, MSM {} Mpps: {} x",
                                    r.3.map_or("n/a".into(), |x| format!("{x:.3}")),
                                    r.4.map_or("n/a".into(), |x| format!("{x:.3}")),
                                    ratio.map_or("n/a".into(), |x| format!("{x:.2}"))
                                ),
                                ratio.map(|x| x >= 5.0),
                            ))
                        }
                        None => {
                            let other = mine
                                .iter()
                                .map(|r| {
                                    format!(
                                        "{} bindings: {} x",
                                        size_label(r.0 as usize),
                                        r.5.map_or("n/a".into(), |x| format!("{x:.2}"))
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", ");
                            v.push((
                                t,
                                format!(
                                    "kernel baseline not run at {} bindings{}",
                                    size_label(largest),
                                    if other.is_empty() {
                                        String::new()
                                    } else {
                                        format!(" (measured: {other})")
                                    }
                                ),
                                None,
                            ))
                        }
                    }
                }
            }
        }
        v.extend(crate::xdp::targets(self));
        let t = "p99.9 < 20 us at 80 % load".to_string();
        match self.latency_at(80.0).and_then(|r| r.latency.as_ref().map(|l| (r, l))) {
            Some((r, l)) => v.push((
                t,
                format!(
                    "p99.9 {:.1} us (p50 {:.1}, p99 {:.1}, max {:.1}) at {:.2} Mpps offered, downlink {} B, {} bindings",
                    l.p999_ns / 1e3,
                    l.p50_ns / 1e3,
                    l.p99_ns / 1e3,
                    l.max_ns / 1e3,
                    l.offered_mpps,
                    r.frames.label(),
                    size_label(largest)
                ) + &if r.contended() {
                    format!(
                        "; CONTENDED: the worker lost {:.0} ms of its CPU to other processes in the window, which is what the tail measures",
                        r.run_delay_ms + r.steal_ms
                    )
                } else {
                    String::new()
                },
                if r.contended() {
                    None
                } else {
                    Some(l.p999_ns < 20_000.0)
                },
            )),
            None => v.push((t, "no latency run at 80 %".into(), None)),
        }
        let t = "linear scaling per worker".to_string();
        match &self.scaling {
            None => v.push((t, "not run".into(), None)),
            Some(sc) if sc.oversubscribed => v.push((
                t,
                "oversubscribed test run: workers share a CPU, not scaling".into(),
                None,
            )),
            Some(sc) if sc.runs.len() < 2 => v.push((
                t,
                format!(
                    "1 worker: {}; {}",
                    sc.runs
                        .first()
                        .map_or("n/a".into(), |r| format!("{:.2} Mpps", r.mpps)),
                    sc.not_run.clone().unwrap_or_default()
                ),
                None,
            )),
            Some(sc) => {
                let effs: Vec<f64> = sc.runs.iter().filter_map(|r| sc.efficiency(r)).collect();
                let worst = effs.iter().copied().fold(f64::INFINITY, f64::min);
                v.push((
                    t,
                    format!(
                        "per-worker efficiency over 1..{} workers: {} (worst {:.0} %; linear = >= 90 %)",
                        sc.runs.len(),
                        effs.iter()
                            .map(|e| format!("{:.0} %", e * 100.0))
                            .collect::<Vec<_>>()
                            .join(", "),
                        worst * 100.0
                    ),
                    Some(worst >= 0.9),
                ))
            }
        }
        let worst = self
            .tables
            .iter()
            .map(TableRow::bytes_per_binding)
            .fold(0.0, f64::max);
        v.push((
            "<= 64 bytes per binding".into(),
            format!(
                "at most {worst:.1} B over the table sizes; {} at {}",
                self.tables
                    .iter()
                    .find(|t| t.bindings == largest)
                    .map_or("n/a".into(), |t| format!("{:.1} B", t.bytes_per_binding())),
                size_label(largest)
            ),
            (!self.tables.is_empty()).then_some(worst <= 64.0),
        ));
        v.push(self.operator_cost_target(hz));
        let t = "RSS does not grow under churn".to_string();
        match &self.churn {
            Some(c) => v.push((
                t,
                format!(
                    "{} rounds over {} bindings: {:+.1} MiB from the first to the last round",
                    c.rounds.len(),
                    size_label(c.bindings),
                    c.growth_kib() as f64 / 1024.0
                ),
                Some(c.flat()),
            )),
            None => v.push((t, "not run".into(), None)),
        }
        let control_dip = self
            .storm
            .iter()
            .find(|(r, _)| *r < 0.0)
            .and_then(|(_, m)| m.run.storm.as_ref())
            .map(|c| 1.0 - c.storm_mpps / c.quiet_mpps);
        let control = control_dip.map_or(String::new(), |d| {
            format!(
                "; control (main lcore spinning, no updates): {:+.1} %{}",
                -d * 100.0,
                if d > 0.10 {
                    ": the dip is not the table's, so the target cannot be judged here"
                } else {
                    ""
                }
            )
        });
        for (rate, m) in self.storm.iter().filter(|(r, _)| *r >= 0.0) {
            let t = format!(
                "data-plane dip <= 10 % while a storm is published{}",
                if *rate > 0.0 {
                    format!(", at {:.0} k updates/s (control-plane peak)", rate / 1e3)
                } else {
                    ", writer at full speed (stress, beyond the control plane)".into()
                }
            );
            match &m.run.storm {
                Some(st) => {
                    let dip = 1.0 - st.storm_mpps / st.quiet_mpps;
                    v.push((
                        t,
                        format!(
                            "real worker: {:.2} -> {:.2} Mpps ({:+.1} %) with {:.0} k updates/s published (worker CPU lost to other processes: {:.0} / {:.0} ms per half){}",
                            st.quiet_mpps,
                            st.storm_mpps,
                            -dip * 100.0,
                            st.updates as f64 / st.seconds / 1e3,
                            st.quiet_lost_ms,
                            st.storm_lost_ms,
                            control
                        ),
                        if control_dip.is_some_and(|d| d > 0.10) {
                            None
                        } else {
                            Some(dip <= 0.10)
                        },
                    ))
                }
                None => v.push((t, "no storm window".into(), None)),
            }
        }
        if self.storm.is_empty() {
            v.push((
                "data-plane dip <= 10 % while a storm is published".into(),
                "not run".into(),
                None,
            ));
        }
        v
    }

    /// Latency, storm, scaling, kernel, churn and control-plane sections.
    fn extra_sections(&self, s: &mut String) {
        let hz = self.tsc_hz;
        let _ = writeln!(s, "## Latency\n");
        match (self.latency_max_mpps, self.latency.is_empty()) {
            (Some(max), false) => {
                let _ = writeln!(
                    s,
                    "Time through the worker at shares of the measured maximum ({max:.2} Mpps: the \
                     downlink run at this table and frame size, as run), HDR histogram of every \
                     packet in the window (3 significant digits). The paced source sits on a \
                     second net_null port created with `no-rx=1` (its rx returns nothing, so an \
                     idle poll costs about what it costs on a NIC), standing in for the Internet \
                     port: packets arrive at a constant rate on a virtual rx ring of {} \
                     descriptors (scheduled TSC times); each rx call of the worker allocates the \
                     packets whose time has come (at most a burst; the rest wait, as in a NIC \
                     ring; a backlog beyond the ring is dropped and counted as ring overflow, and \
                     not in the histogram) and writes the scheduled arrival time into each \
                     payload; the tx callback reads it when the worker's tx burst sends the \
                     packet. **Included**: waiting in the (virtual) rx ring until the worker \
                     polls, burst accumulation, processing of the packets ahead in the same \
                     burst, tx staging up to the tx burst call, and any time the worker thread \
                     was descheduled. **Excluded**: NIC, DMA, PCIe, the wire, the tx descriptor \
                     ring (net_null frees at once) and the receiving host. On a shared VM the \
                     tail is dominated by the worker thread losing its CPU (see the run's \
                     notes).\n",
                    crate::source::RX_RING
                );
                let _ = writeln!(
                    s,
                    "| load | offered Mpps | achieved Mpps | p50 us | p99 us | p99.9 us | max us | mean us | packets | ring overflow | drops |"
                );
                let _ = writeln!(
                    s,
                    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                );
                for (load, m) in &self.latency {
                    let r = &m.run;
                    if let Some(l) = &r.latency {
                        let _ = writeln!(
                            s,
                            "| {load:.0} % | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
                            l.offered_mpps,
                            r.mpps,
                            l.p50_ns / 1e3,
                            l.p99_ns / 1e3,
                            l.p999_ns / 1e3,
                            l.max_ns / 1e3,
                            l.mean_ns / 1e3,
                            l.count,
                            l.ring_overflow,
                            r.total_drops()
                        );
                    }
                }
                let _ = writeln!(s);
            }
            _ => {
                let _ = writeln!(s, "Not run.\n");
            }
        }

        let _ = writeln!(s, "## Data plane under a table-update storm\n");
        if self.storm.is_empty() {
            let _ = writeln!(s, "Not run.\n");
        } else {
            let m0 = &self.storm[0].1;
            let _ = writeln!(
                s,
                "The real worker (downlink, {} B, {} bindings) on lcore 1; during the second \
                 half of the window the main lcore (CPU 0) publishes table updates: batches of \
                 moves of random bound homes between two care-of addresses (`TableWriter::upsert` \
                 x batch + `publish`), paced to the given rate or back to back. That is the \
                 table side of a registration storm without the HMAC, journal and replies (see \
                 the control-plane section for those). The output check accepts either care-of \
                 address. Dip = storm half vs quiet half of the same run. The control row keeps \
                 the main lcore busy without touching the table: a dip there comes from the two \
                 vCPUs sharing a physical core or the host, not from the table.\n",
                m0.run.frames.label(),
                size_label(m0.bindings)
            );
            let _ = writeln!(
                s,
                "| rate limit | quiet half Mpps | storm half Mpps | dip | worker CPU lost to others, ms: quiet / storm half | updates published | updates/s | drops | checked / bad |\n|---|---:|---:|---:|---|---:|---:|---:|---|"
            );
            for (rate, m) in &self.storm {
                if let Some(st) = &m.run.storm {
                    let _ = writeln!(
                        s,
                        "| {} | {:.2} | {:.2} | {:.1} % | {:.0} / {:.0} | {} | {:.0} k | {} | {} / {} |",
                        if *rate > 0.0 {
                            format!("{:.0} k/s", rate / 1e3)
                        } else if *rate == 0.0 {
                            "none (full speed)".into()
                        } else {
                            "control: no updates, main lcore busy-spinning".into()
                        },
                        st.quiet_mpps,
                        st.storm_mpps,
                        (1.0 - st.storm_mpps / st.quiet_mpps) * 100.0,
                        st.quiet_lost_ms,
                        st.storm_lost_ms,
                        st.updates,
                        st.updates as f64 / st.seconds / 1e3,
                        m.run.total_drops(),
                        m.run.checked,
                        m.run.bad
                    );
                }
            }
            let _ = writeln!(s);
        }

        let _ = writeln!(s, "## Scaling over worker cores\n");
        match &self.scaling {
            Some(sc) => {
                let _ = writeln!(
                    s,
                    "Downlink, {} B, {} bindings; worker i on lcore i with queue pair i of both \
                     ports (its own net_null queue, source and check), as `msm run` hands them \
                     out. {} CPUs here: lcore 0 samples, {} worker lcore(s).{}\n",
                    sc.frames.label(),
                    size_label(sc.bindings),
                    sc.cpus,
                    self.max_workers,
                    if sc.oversubscribed {
                        " **Oversubscribed test layout: all worker lcores on CPU 1; these figures \
                         exercise the code path and are not scaling.**"
                    } else {
                        ""
                    }
                );
                let _ = writeln!(
                    s,
                    "| workers | Mpps as run | Mpps per worker | Mpps worker only | per-worker efficiency | drops |\n|---:|---:|---:|---:|---:|---:|"
                );
                for r in &sc.runs {
                    let _ = writeln!(
                        s,
                        "| {} | {:.2} | {:.2} | {:.2} | {} | {} |",
                        r.workers,
                        r.mpps,
                        r.mpps / r.workers as f64,
                        r.worker_mpps(hz),
                        sc.efficiency(r)
                            .map_or("n/a".into(), |e| format!("{:.0} %", e * 100.0)),
                        r.total_drops()
                    );
                }
                if let Some(why) = &sc.not_run {
                    let _ = writeln!(s, "| 2 | {why} | | | | |");
                }
                let _ = writeln!(s);
            }
            None => {
                let _ = writeln!(s, "Not run.\n");
            }
        }

        crate::xdp::section(self, s);
        let _ = writeln!(s, "## Kernel baseline (perf/kernel-baseline.sh)\n");
        match &self.external.kernel {
            Ok(k) => {
                let _ = writeln!(
                    s,
                    "Status: **{}**{}\n",
                    k["status"].as_str().unwrap_or("?"),
                    k["reason"]
                        .as_str()
                        .filter(|r| !r.is_empty())
                        .map_or(String::new(), |r| format!(": {r}"))
                );
                let runs = kernel_runs(k);
                if !runs.is_empty() {
                    let _ = writeln!(
                        s,
                        "| bindings | direction | frame B | kernel Mpps | MSM Mpps (same setup) | MSM / kernel |\n|---:|---|---:|---:|---:|---:|"
                    );
                    let o =
                        |x: Option<f64>, p: usize| x.map_or("n/a".into(), |v| format!("{v:.p$}"));
                    for r in &runs {
                        let _ = writeln!(
                            s,
                            "| {} | {} | {} | {} | {} | {} |",
                            size_label(r.0 as usize),
                            r.1,
                            r.2.map_or("n/a".into(), |b| b.to_string()),
                            o(r.3, 3),
                            o(r.4, 3),
                            o(r.5, 2)
                        );
                    }
                }
                if let Some(cmds) = k["commands"].as_array() {
                    let _ = writeln!(s, "\nCommands:\n\n```");
                    for c in cmds {
                        let _ = writeln!(s, "{}", c.as_str().unwrap_or(""));
                    }
                    let _ = writeln!(s, "```");
                }
                let _ = writeln!(s);
            }
            Err(e) => {
                let _ = writeln!(s, "{e}\n");
            }
        }

        let _ = writeln!(s, "## Memory under churn\n");
        match &self.churn {
            Some(c) => {
                let _ = writeln!(
                    s,
                    "The largest table ({} bindings) after its runs: per round, unbind {:.0} % of \
                     the population (`remove`), move another {:.0} % to another care-of address \
                     (`upsert`), `publish`, rebind the removed ones, `synchronize` (retired \
                     generations reclaimed). Process RSS (`VmRSS` of /proc/self/status) after \
                     each round; it starts at {:.1} MiB before the first round (the whole \
                     process: EAL memory, destination sequence, table). Verdict: growth from the \
                     first to the last round within 1 % of the table plus 4 MiB.\n",
                    size_label(c.bindings),
                    c.share * 100.0,
                    c.share * 100.0,
                    c.rss_start_kib as f64 / 1024.0
                );
                let _ = writeln!(
                    s,
                    "| round | operations | seconds | RSS MiB | table MiB | bindings |\n|---:|---:|---:|---:|---:|---:|"
                );
                for (i, r) in c.rounds.iter().enumerate() {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.2} | {:.1} | {:.1} | {} |",
                        i + 1,
                        r.ops,
                        r.seconds,
                        r.rss_kib as f64 / 1024.0,
                        r.table_bytes as f64 / (1 << 20) as f64,
                        r.bindings
                    );
                }
                let _ = writeln!(
                    s,
                    "\nGrowth first -> last round: {:+.1} MiB: {}.\n",
                    c.growth_kib() as f64 / 1024.0,
                    if c.flat() { "no growth" } else { "**grows**" }
                );
            }
            None => {
                let _ = writeln!(s, "Not run.\n");
            }
        }

        let _ = writeln!(s, "## Control plane (examples/regbench.rs)\n");
        match &self.external.control {
            Some(Ok(md)) => {
                if let Some(c) = &self.external.control_command {
                    let _ = writeln!(
                        s,
                        "Command (short configuration for `make bench`):\n\n```\n{c}\n```\n"
                    );
                }
                let _ = writeln!(
                    s,
                    "Its output follows (headings demoted). Its \"worker proxy\" is a lookup \
                     loop on the other CPU, not the DPDK worker; the real worker under a storm \
                     is in \"Data plane under a table-update storm\" above.\n"
                );
                for l in md.lines() {
                    if l.starts_with('#') {
                        let _ = writeln!(s, "#{l}");
                    } else {
                        let _ = writeln!(s, "{l}");
                    }
                }
                let _ = writeln!(s);
            }
            Some(Err(e)) => {
                let _ = writeln!(s, "Not available: {e}\n");
            }
            None => {
                let _ = writeln!(s, "Not run (msm-bench started without --control-md).\n");
            }
        }
    }

    /// JSON of the rest of the suite: target summary, latency, scaling, storm, churn.
    fn suite_json(&self) -> Value {
        let hz = self.tsc_hz;
        json!({
            "summary_targets": self.summary_targets().iter().map(|(t, m, v)| json!({
                "target": t, "measured": m,
                "verdict": match v { Some(true) => "met", Some(false) => "not met", None => "not measurable" },
            })).collect::<Vec<_>>(),
            "oversubscribed_test_run": self.oversubscribed,
            "max_workers": self.max_workers,
            "latency": {
                "max_mpps": self.latency_max_mpps,
                "runs": self.latency.iter().map(|(load, m)| {
                    let mut v = run_json(&m.run, hz);
                    v["load_percent"] = json!(load);
                    v["bindings"] = json!(m.bindings);
                    v
                }).collect::<Vec<_>>(),
            },
            "storm": self.storm.iter().map(|(rate, m)| {
                let mut v = run_json(&m.run, hz);
                v["bindings"] = json!(m.bindings);
                v["rate_limit_updates_per_s"] = json!(if *rate > 0.0 { Some(*rate) } else { None });
                v["control_spin_no_updates"] = json!(*rate < 0.0);
                v
            }).collect::<Vec<_>>(),
            "scaling": self.scaling.as_ref().map(|sc| json!({
                "bindings": sc.bindings, "frame_bytes": sc.frames.label(), "cpus": sc.cpus,
                "oversubscribed": sc.oversubscribed, "not_run": sc.not_run,
                "runs": sc.runs.iter().map(|r| {
                    let mut v = run_json(r, hz);
                    v["efficiency"] = json!(sc.efficiency(r));
                    v
                }).collect::<Vec<_>>(),
            })),
            "churn": self.churn.as_ref().map(|c| json!({
                "bindings": c.bindings, "share": c.share, "rss_start_kib": c.rss_start_kib,
                "table_bytes_start": c.table_bytes_start, "growth_kib": c.growth_kib(),
                "flat": c.flat(),
                "rounds": c.rounds.iter().map(|r| json!({
                    "ops": r.ops, "seconds": r.seconds, "rss_kib": r.rss_kib,
                    "table_bytes": r.table_bytes, "bindings": r.bindings,
                })).collect::<Vec<_>>(),
            })),
            "kernel_baseline": match &self.external.kernel {
                Ok(v) => v.clone(),
                Err(e) => json!({"status": "not run", "reason": e}),
            },
            "xdp_peer": match &self.external.xdp {
                Ok(v) => v.clone(),
                Err(e) => json!({"status": "not run", "reason": e}),
            },
            "control_plane": match &self.external.control {
                Some(Ok(md)) => json!({"command": self.external.control_command, "markdown": md}),
                Some(Err(e)) => json!({"command": self.external.control_command, "error": e}),
                None => json!(null),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(off: f64, on: f64) -> Value {
        json!({
            "git": "x", "command": "c",
            "runs": [
                { "traffic": "downlink", "off": { "per_packet": 800.0 }, "on": { "per_packet": 800.3 } },
                { "traffic": "uplink", "off": { "per_packet": off }, "on": { "per_packet": on } },
            ]
        })
    }

    #[test]
    fn operator_cost_verdict_follows_the_worst_run() {
        let mut r = Report::default();
        r.external.operator_cost = Ok(cost(960.0, 960.2));
        let (_, m, v) = r.operator_cost_target(2_600_000_000);
        assert_eq!(v, Some(true), "{m}");
        assert!(m.contains("uplink 960.00 -> 960.20"), "{m}");
        // 1 % more on the uplink: measurable, not met.
        r.external.operator_cost = Ok(cost(960.0, 969.6));
        let (_, m, v) = r.operator_cost_target(2_600_000_000);
        assert_eq!(v, Some(false), "{m}");
    }

    #[test]
    fn operator_cost_missing_or_malformed_is_not_judged() {
        let mut r = Report::default();
        r.external.operator_cost = Err("not run: skipped".into());
        let (_, m, v) = r.operator_cost_target(1);
        assert_eq!(v, None);
        assert!(m.contains("skipped"), "{m}");
        r.external.operator_cost = Ok(json!({ "runs": [ { "traffic": "downlink", "off": {} } ] }));
        assert_eq!(r.operator_cost_target(1).2, None);
    }
}
