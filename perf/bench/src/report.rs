//! The results file (markdown) and its JSON twin, plus facts about the machine.

use crate::harness::RunResult;
use crate::testpmd::TestpmdResult;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::process::Command;

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

/// Everything one invocation measured.
#[derive(Debug, Default)]
pub struct Report {
    pub date: String,
    /// How the wrapper was invoked (e.g. `perf/bench.sh`), if given.
    pub invocation: Option<String>,
    /// This program's exact command line.
    pub command: String,
    pub eal_args: Vec<String>,
    pub inflight: usize,
    pub warmup_ms: u64,
    pub window_ms: u64,
    pub sample_ms: u64,
    pub tsc_hz: u64,
    pub testpmd_null: Vec<TestpmdResult>,
    pub testpmd_ring: Option<TestpmdResult>,
    pub harness: Vec<RunResult>,
    pub tables: Vec<TableRow>,
    pub msm: Vec<MsmRun>,
    pub profile: Option<RunResult>,
    pub profile_bindings: usize,
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
                let dirty = cmd_out("git", &["status", "--porcelain", "--untracked-files=no"]).is_some();
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
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
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

    /// The harness' macswap ceiling: mean of its runs.
    pub fn harness_mpps(&self) -> Option<f64> {
        mean(self.harness.iter().map(|r| r.mpps))
    }

    fn ratio(x: f64, base: Option<f64>) -> Option<f64> {
        base.filter(|b| *b > 0.0).map(|b| x / b)
    }

    /// (met, text) of the target for an MSM run.
    fn target(&self, m: &MsmRun) -> (Option<bool>, String) {
        match (target_for(m.bindings), Self::ratio(m.run.mpps, self.testpmd_mpps())) {
            (Some(t), Some(r)) => (Some(r >= t), format!(">= {t:.1}x")),
            (Some(t), None) => (None, format!(">= {t:.1}x (no testpmd figure)")),
            (None, _) => (None, "-".into()),
        }
    }

    /// Whether the generator limited a run: the worker found less than a
    /// full burst waiting on average (more than 3 % short of 32).
    fn generator_bound(r: &RunResult) -> bool {
        r.avg_burst < 0.97 * msm::worker::BURST as f64
    }

    pub fn markdown(&self, m: &Machine) -> String {
        let mut s = String::new();
        let f2 = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let _ = writeln!(s, "# Issue 2: first data-plane benchmark ({})\n", self.date);
        let _ = writeln!(
            s,
            "Per-packet cost of the MSM worker (`msm::worker::run`, one worker core) for downlink \
             (lookup + IP-in-IP encapsulation) and uplink (anti-spoofing lookup + decapsulation) \
             with destinations uniformly random over the bound population, next to \
             `dpdk-testpmd --forward-mode=macswap` in the same run. How it is measured and what \
             that means: end of this file.\n"
        );
        let _ = writeln!(s, "## Commands\n");
        if let Some(inv) = &self.invocation {
            let _ = writeln!(s, "Produced by `{inv}`, which ran:\n");
        }
        let _ = writeln!(s, "```\n{}\n```\n", self.command);
        let _ = writeln!(s, "which ran these baselines as child processes:\n\n```");
        for t in self.testpmd_null.iter().chain(self.testpmd_ring.iter()) {
            let _ = writeln!(s, "# {}\n{}", t.label, t.command);
        }
        let _ = writeln!(
            s,
            "```\n\n(each stopped with SIGINT after a few seconds; Mpps = median over the \
             1-s stats periods after the first two of the sum of `Rx-pps` over both ports.) \
             The MSM itself ran under EAL `{}`.\n",
            self.eal_args.join(" ")
        );
        let _ = writeln!(s, "## Machine\n");
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| CPU | {} ({} CPUs) |", m.cpu, m.cpus);
        let _ = writeln!(s, "| TSC | {:.3} GHz |", self.tsc_hz as f64 / 1e9);
        let _ = writeln!(s, "| Kernel | {} |", m.kernel);
        let _ = writeln!(s, "| DPDK | {} (Debian packages) |", m.dpdk);
        let _ = writeln!(s, "| Rust | {} |", m.rustc);
        let _ = writeln!(s, "| Source | git {} |", m.git);
        let _ = writeln!(s, "| Transparent huge pages | {} |", m.thp);
        let _ = writeln!(
            s,
            "| Hardware perf counters | {} |",
            if m.perf_hw_counters { "yes" } else { "no (VM): cycles below are TSC ticks" }
        );
        let _ = writeln!(s);

        let tp = self.testpmd_mpps();
        let hm = self.harness_mpps();
        let _ = writeln!(s, "## Results (one worker core)\n");
        let _ = writeln!(
            s,
            "Ratios are to testpmd macswap on net_null ({} Mpps, the issue's baseline) and to the \
             harness' own macswap worker on the same ring ports with the same generator ({} Mpps). \
             Spread = slowest and fastest {} ms sample.\n",
            f2(tp),
            f2(hm),
            self.sample_ms
        );
        let _ = writeln!(
            s,
            "| workload | bindings | Mpps | TSC ticks/pkt | x testpmd | x harness macswap | target | met | spread Mpps | mean rx burst | drops | generator busy | generator ns/pkt |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|");
        for mr in &self.msm {
            let r = &mr.run;
            let (met, target) = self.target(mr);
            let met = match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {} | {:.1}{} | {} | {:.0} % | {:.1} |",
                r.traffic.name(),
                size_label(mr.bindings),
                r.mpps,
                r.tsc_per_pkt,
                f2(Self::ratio(r.mpps, tp)),
                f2(Self::ratio(r.mpps, hm)),
                target,
                met,
                spread(&r.sample_mpps),
                r.avg_burst,
                if Self::generator_bound(r) { " (generator-bound)" } else { "" },
                r.total_drops(),
                r.gen_busy * 100.0,
                r.gen_ns_per_pkt
            );
        }
        let _ = writeln!(s);
        let all = || self.msm.iter().map(|m| &m.run).chain(self.harness.iter());
        let checked: u64 = all().map(|r| r.checked).sum();
        let bad: u64 = all().map(|r| r.bad).sum();
        let _ = writeln!(
            s,
            "Output check: the generator verified {checked} returned frames (1 in 16: \
             encapsulated toward the right care-of address / decapsulated with TTL 63 / \
             MACs swapped, checksums valid): {bad} wrong.\n"
        );
        let notes: Vec<String> = self
            .msm
            .iter()
            .map(|m| &m.run)
            .chain(self.harness.iter())
            .flat_map(|r| r.notes.iter().map(move |n| format!("{}: {n}", r.name)))
            .chain(self.msm.iter().flat_map(|m| {
                m.run
                    .drops
                    .iter()
                    .map(move |(d, n)| format!("{}: {n} dropped ({d})", m.run.name))
            }))
            .collect();
        for n in &notes {
            let _ = writeln!(s, "* {n}");
        }
        if !notes.is_empty() {
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
                t.error.clone().unwrap_or_else(|| format!("periods: {}", fmt_list(&t.periods)))
            );
        }
        for r in &self.harness {
            let _ = writeln!(
                s,
                "| {}: harness macswap worker, same ring ports and generator | {:.2} | spread {}, mean rx burst {:.1}{}, generator busy {:.0} %, {:.1} ns/pkt, {} drops |",
                r.name,
                r.mpps,
                spread(&r.sample_mpps),
                r.avg_burst,
                if Self::generator_bound(r) { " (generator-bound)" } else { "" },
                r.gen_busy * 100.0,
                r.gen_ns_per_pkt,
                r.total_drops()
            );
        }
        if let Some(t) = &self.testpmd_ring {
            let _ = writeln!(
                s,
                "| {} (informational) | {} | {} |",
                t.label,
                f2(t.mpps),
                t.error.clone().unwrap_or_else(|| {
                    "one core, 64 mbufs looping through the ports' own rings: no producer core, \
                     everything in L1; not comparable, shows what the ring PMD itself costs"
                        .into()
                })
            );
        }
        let _ = writeln!(s);

        let _ = writeln!(s, "## Binding table\n");
        let _ = writeln!(
            s,
            "Pre-sized for its population (`TableConfig::new(n)`), filled with distinct random \
             home addresses in 10.0.0.0/8, each bound to a care-of address in 198.18.0.0/15. \
             Memory = `TableWriter::memory_bytes()` (bucket array + writer-only metadata).\n"
        );
        let _ = writeln!(
            s,
            "| bindings | fill time | fill rate | memory | bytes/binding | <= 64 B | buckets | slots | max probe | THP-backed |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|");
        for t in &self.tables {
            let _ = writeln!(
                s,
                "| {} | {:.3} s | {:.1} M/s | {:.1} MiB | {:.1} | {} | {} | {} | {} | {} |",
                size_label(t.bindings),
                t.fill_s,
                t.bindings as f64 / t.fill_s.max(1e-9) / 1e6,
                t.memory_bytes as f64 / (1 << 20) as f64,
                t.bytes_per_binding(),
                if t.bytes_per_binding() <= 64.0 { "yes" } else { "**no**" },
                t.buckets,
                t.slots,
                t.max_probe,
                match (t.huge_pages, t.thp_kib) {
                    (false, _) => "no (not requested)".to_string(),
                    (true, Some(k)) => format!("{:.0} MiB", k as f64 / 1024.0),
                    (true, None) => "unknown".to_string(),
                }
            );
        }
        let _ = writeln!(s);

        if let Some(p) = &self.profile {
            let _ = writeln!(
                s,
                "## Where the worker's time goes: downlink at {}\n",
                size_label(self.profile_bindings)
            );
            let _ = writeln!(
                s,
                "An extra run ({:.2} Mpps, not in the table above) under `perf record -e cpu-clock -C 1` \
                 (timer sampling: this VM has no PMU), `perf report --stdio --sort dso,symbol`:\n",
                p.mpps
            );
            let _ = writeln!(s, "```");
            for l in p.profile.iter().flatten() {
                let _ = writeln!(s, "{l}");
            }
            let _ = writeln!(s, "```\n");
        }

        let _ = writeln!(s, "## How it is measured\n");
        let _ = writeln!(s, "{}", method_text(self));
        s
    }

    pub fn json(&self, m: &Machine) -> Value {
        let tp = self.testpmd_mpps();
        let hm = self.harness_mpps();
        json!({
            "date": self.date,
            "invocation": self.invocation,
            "command": self.command,
            "eal_args": self.eal_args,
            "machine": {
                "cpu": m.cpu, "cpus": m.cpus, "kernel": m.kernel, "dpdk": m.dpdk,
                "rustc": m.rustc, "git": m.git, "thp": m.thp,
                "perf_hw_counters": m.perf_hw_counters, "tsc_hz": self.tsc_hz,
            },
            "setup": {
                "inflight_mbufs": self.inflight, "warmup_ms": self.warmup_ms,
                "window_ms": self.window_ms, "sample_ms": self.sample_ms,
                "worker_burst": msm::worker::BURST,
            },
            "baselines": {
                "testpmd_macswap_net_null_mpps": tp,
                "testpmd_macswap_net_null": self.testpmd_null.iter().map(testpmd_json).collect::<Vec<_>>(),
                "testpmd_macswap_net_ring_loopback": self.testpmd_ring.as_ref().map(testpmd_json),
                "harness_macswap_mpps": hm,
                "harness_macswap": self.harness.iter().map(run_json).collect::<Vec<_>>(),
            },
            "tables": self.tables.iter().map(|t| json!({
                "bindings": t.bindings, "fill_seconds": t.fill_s, "memory_bytes": t.memory_bytes,
                "bytes_per_binding": t.bytes_per_binding(), "buckets": t.buckets, "slots": t.slots,
                "max_probe": t.max_probe, "huge_pages_requested": t.huge_pages, "thp_kib": t.thp_kib,
            })).collect::<Vec<_>>(),
            "msm": self.msm.iter().map(|mr| {
                let (met, _) = self.target(mr);
                let mut v = run_json(&mr.run);
                v["bindings"] = json!(mr.bindings);
                v["ratio_testpmd"] = json!(Self::ratio(mr.run.mpps, tp));
                v["ratio_harness_macswap"] = json!(Self::ratio(mr.run.mpps, hm));
                v["target_ratio_testpmd"] = json!(target_for(mr.bindings));
                v["target_met"] = json!(met);
                v
            }).collect::<Vec<_>>(),
            "profile": self.profile.as_ref().map(|p| json!({
                "bindings": self.profile_bindings,
                "run": run_json(p),
            })),
        })
    }
}

fn fmt_list(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(", ")
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

fn run_json(r: &RunResult) -> Value {
    json!({
        "name": r.name, "worker": r.worker, "traffic": r.traffic.name(),
        "seconds": r.seconds, "packets": r.packets, "mpps": r.mpps,
        "sample_mpps": r.sample_mpps, "tsc_ticks_per_packet": r.tsc_per_pkt,
        "mean_rx_burst": r.avg_burst, "tx_packets": r.tx_packets,
        "handled": r.handled, "drops": r.drops.iter().map(|(n, c)| json!({"reason": n, "count": c})).collect::<Vec<_>>(),
        "generator_ns_per_packet": r.gen_ns_per_pkt, "generator_busy_fraction": r.gen_busy,
        "checked": r.checked, "bad": r.bad, "notes": r.notes, "profile": r.profile,
    })
}

fn method_text(r: &Report) -> String {
    format!(
        "\
* **Ports.** Two ethdevs from `rte_eth_from_rings` (the `net_ring` PMD; `PortId::from_rings` in \
`crates/dpdk`), one per appliance port: WWAN (192.0.2.129) and Internet (198.51.100.1 = \
`IPmsm-wlan`), MTU 1500, MSS clamping on, next hops pre-resolved. Each has one rx and one tx \
queue backed by an SP/SC ring of {inflight} slots.
* **Worker.** The appliance's own `msm::worker::run` on lcore 1 (CPU 1), built into the \
appliance's `Plane` and a `TableWriter`-filled table, polling rx queue 0 of both ports (the WWAN \
one stays empty, as it would for this traffic) with bursts of {burst}, exactly as `msm run` \
does. Its own counters give the throughput: `rx_packets` over a {window} ms window after \
{warmup} ms of warm-up, sampled every {sample} ms by the generator.
* **Generator.** The main lcore (CPU 0) plays the wire: {inflight} mbufs circulate; it takes \
what the worker sent from the Internet port's tx ring, checks 1 in 16, and rewrites each mbuf \
in place into a new input frame (reset headroom and length, copy a 60-byte (downlink) or \
80-byte (uplink) template, patch address and checksums) for the next home address of a \
precomputed sequence of 2^24 homes drawn uniformly from the bound population, then puts it \
into that port's rx ring. Downlink: UDP 203.0.113.10 -> home. Uplink: IP-in-IP \
care-of -> 198.51.100.1 carrying UDP home -> 203.0.113.10 (the binding's real care-of address, \
so every packet passes the anti-spoofing check). Both rings hold every circulating mbuf, so \
neither side can find a ring full: the harness drops nothing by construction; any drop in the \
table is the worker's. The mempool is off both fast paths (mbufs are recycled).
* **Is the generator the bottleneck?** \"mean rx burst\" is the worker's received packets per \
non-empty rx burst: {burst}.0 means it found a full burst waiting every time, i.e. it never \
waited for the generator. Below ~31 the generator limited the run (marked). \"generator busy\" \
is the share of the window the generator had returned mbufs to rewrite.
* **Harness macswap** is the same harness with a worker that only swaps the MACs and sends the \
frame back out (same queues, bursts and counters as the MSM worker): the I/O + generator \
ceiling of this exact setup. **testpmd macswap on net_null** is the issue's baseline: one \
forwarding core, two null ports, whose rx allocates mbufs and tx frees them from that core's \
own mempool cache: the frames are never written by another core, so it is a no-miss I/O \
ceiling. On the ring ports every mbuf header and frame the worker reads was last written by \
the generator's core: at least two cross-core cache-line transfers per packet, which a NIC \
(DMA into LLC or memory) also causes for the frame but not for the header; conversely the ring \
PMD does no descriptor or mempool work on the worker core. So \"x testpmd\" compares the MSM \
with a cheaper I/O path than its own, and \"x harness macswap\" isolates what the MSM's \
processing costs on top of identical I/O.
* **Cycles.** TSC ticks per packet = worker window / packets (the worker polls 100 % of the \
time); the TSC runs at {ghz:.2} GHz. With hardware counters unavailable in this VM, the profile \
uses timer sampling.
* **Memory per binding** = `memory_bytes() / len` of a table pre-sized for exactly that many \
bindings (load <= 3/4). A table sized for more bindings than it holds costs more per binding.
* Nothing here is a timed test: the targets are evaluated only in this report.",
        inflight = r.inflight,
        burst = msm::worker::BURST,
        window = r.window_ms,
        warmup = r.warmup_ms,
        sample = r.sample_ms,
        ghz = r.tsc_hz as f64 / 1e9,
    )
}
