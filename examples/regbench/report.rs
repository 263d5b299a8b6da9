//! The markdown report on stdout.

use crate::proxy::MAX_PHASES;
use crate::sys::{busiest_others, foreign_ms, FOREIGN_LIMIT_MS};
use crate::{Args, Runs, HOME_POOL};
use msm::control::journal::JournalStats;
use msm::control::registrar::RegCounters;
use msm_table::TableStats;
use std::fmt::Write as _;
use std::time::Duration;

/// What the report shows besides the runs, taken from the service before it is dropped.
pub struct Summary {
    pub journal: JournalStats,
    pub counters: RegCounters,
    pub table: TableStats,
}

impl Summary {
    pub fn of(ctl: &crate::storm::Ctl) -> Summary {
        Summary {
            journal: ctl.journal().stats(),
            counters: ctl.svc.registrar().expect("registrar").counters.clone(),
            table: ctl.svc.writer().stats(),
        }
    }
}

pub struct Report<'a> {
    pub args: &'a Args,
    pub cmdline: &'a [String],
    /// CPU busy share before start.
    pub busy: &'a [f64],
    pub setup: &'a crate::setup::Setup,
    pub micro_n: usize,
    pub runs: &'a Runs,
    pub micro_md: &'a str,
    pub compact_md: &'a str,
    pub summary: &'a Summary,
    /// Replies re-parsed and verified after the runs.
    pub checked: usize,
}

/// The whole report.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    header(&mut out, r);
    rates(&mut out, r);
    stalls(&mut out, r);
    latency(&mut out, r);
    proxy(&mut out, r);
    costs(&mut out, r);
    out
}

/// Command, setup and its costs.
fn header(out: &mut String, r: &Report) {
    let (args, n, cursor, micro_n) = (r.args, r.args.bindings, r.runs.cursor, r.micro_n);
    let (writer_cpu_ok, proxy_cpu_ok) = (r.runs.writer_cpu_ok, r.runs.proxy.cpu_ok);
    let (setup, table_stats) = (r.setup, &r.summary.table);
    let _ = writeln!(
        out,
        "### Command\n\n```\ncargo run --release --example regbench -- {}\n```\n",
        r.cmdline.join(" ")
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
        if args.pin && proxy_cpu_ok { "ok" } else { "not pinned" },
        r.busy
            .iter()
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
    for (l, d) in &setup.steps {
        let _ = writeln!(out, "| {l} | {} |", secs(*d));
    }
    let _ = writeln!(
        out,
        "\nProvisioning file {:.0} MiB; subscriber store {:.0} MiB; table {:.0} MiB ({} buckets, max_probe {}).\n",
        setup.sub_bytes as f64 / (1 << 20) as f64,
        setup.subs_mem as f64 / (1 << 20) as f64,
        setup.table_mem as f64 / (1 << 20) as f64,
        table_stats.buckets,
        table_stats.max_probe,
    );
}

/// Registrations per second, by batch size.
fn rates(out: &mut String, r: &Report) {
    let runs = &r.runs.storms;
    let _ = writeln!(out, "### Registrations per second (one control lcore)\n");
    let _ = writeln!(
        out,
        "| batch | requests | wall | accepted + durable /s | µs/request | handle % | commit % | publish % | replies % | expire+reclaim % | commit p50 / p99 / max µs | batch p50 / p99 µs |"
    );
    let _ = writeln!(
        out,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    );
    for (_, st) in runs {
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
    for (_, st) in runs {
        if st.not_accepted + st.journal_errors + st.reply_failed + st.malformed + st.expired > 0 {
            let _ = writeln!(
                out,
                "B={}: not accepted {}, journal errors {}, reply failed {}, malformed {}, expired {}",
                st.batch, st.not_accepted, st.journal_errors, st.reply_failed, st.malformed, st.expired
            );
        }
    }
}

/// The longest control-loop iteration (stall) and the compaction steps, by storm.
fn stalls(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "### Control-loop stalls and compaction
"
    );
    let _ = writeln!(
        out,
        "| batch | wall | accepted + durable /s | batch p99 / p99.9 / max µs | longest compaction step µs | compactions started / finished / failed |\n|---:|---:|---:|---|---:|---|"
    );
    for (_, st) in &r.runs.storms {
        let _ = writeln!(
            out,
            "| {} | {} | **{:.0}** | {} / {} / **{}** | {} | {} / {} / {} |",
            st.batch,
            secs(st.wall),
            st.accepted as f64 / st.wall.as_secs_f64(),
            us(pct(&st.batch_ns, 0.99)),
            us(pct(&st.batch_ns, 0.999)),
            us(st.batch_ns.last().copied().unwrap_or(0)),
            us(st.compact_step_max_ns),
            st.compact_started,
            st.compact_finished,
            st.compact_failed,
        );
    }
    let _ = writeln!(
        out,
        "\nbatch = one control-loop iteration: the batch's requests, its commit, publish and \
         replies, expire + reclaim and the compaction step (`RegistrationService::maybe_compact`: \
         poll the merge thread, or seal the log and start one). {}\n",
        if r.args.compact {
            format!("Compaction threshold {} MiB.", r.args.compact_mib)
        } else {
            "`--no-compact`: no compaction step.".to_string()
        }
    );
}

/// Registration-to-visible and registration-to-acknowledged latency.
fn latency(out: &mut String, r: &Report) {
    let (ro, runs) = (&r.runs.proxy, &r.runs.storms);
    let _ = writeln!(out, "### Latency\n");
    let _ = writeln!(
        out,
        "| batch | visible p50 / p99 / p99.9 / max µs (probes) | unseen | ack p50 / p99 / p99.9 / max µs | arrival→ack (model) p50 / p99 / max µs |"
    );
    let _ = writeln!(out, "|---:|---|---:|---|---|");
    for (_, st) in runs {
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
}

/// The worker proxy's lookup rate per phase.
fn proxy(out: &mut String, r: &Report) {
    let n = r.args.bindings;
    let (ro, runs, marks) = (&r.runs.proxy, &r.runs.storms, &r.runs.marks);
    let (q_idle, q_spin, q_after) = (r.runs.q_idle, r.runs.q_spin, r.runs.q_after);
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
    for (_, st) in runs {
        let _ = writeln!(
            out,
            "B={}: interrupts per CPU during the run: {:?}; writer run delay {:.1} ms",
            st.batch,
            st.irq,
            st.writer_run_delay_ns as f64 / 1e6
        );
    }
}

/// Per-operation costs, journal, compaction, registrar counters.
fn costs(out: &mut String, r: &Report) {
    let (n, micro_n) = (r.args.bindings, r.micro_n);
    let (micro_md, compact_md, checked) = (r.micro_md, r.compact_md, r.checked);
    let (jstats, counters) = (&r.summary.journal, &r.summary.counters);
    if !micro_md.is_empty() {
        let _ = writeln!(out, "\n### Per-operation costs in isolation\n\n{micro_n} random requests over the same {n}-entry state. Consecutive iterations are independent, so their cache misses overlap: lower bounds for the serial chain inside `handle()` (see the profile in the results file).\n");
        out.push_str(micro_md);
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
    out.push_str(compact_md);
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
}

pub fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e3)
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
