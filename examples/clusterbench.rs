//! Replicated durability against a real etcd, without DPDK: a member writes groups of binding changes through the `ReplicatedLog` (local journal + etcd), a standby follows.
//!
//! Used by `tests/e2e/cluster_e2e.sh` (failover: every acknowledged change is in the
//! standby's view after it takes over) and `perf/cluster.sh` (replicated records/s and
//! latency to durable). Each member:
//! * follows the shard's log while standby (a map home -> last record, as its table);
//! * once it serves, writes groups of `--group` upserts (home `10.0.0.1 + k % homes`,
//!   care-of `k + 1`, `k` counting up), keeping up to `--inflight` groups in flight; each
//!   group durable on both sides is appended to `--acked` (`home coa` lines) before the
//!   next result is read;
//! * at the moment it takes over, writes its view to `--dump` (`home coa` lines).
//!
//! `clusterbench --endpoints URL[,URL..] --member NAME --state DIR [--shard s0]
//! [--seconds 10] [--group 256] [--inflight 8] [--homes 100000] [--ttl-ms 2000]
//! [--acked FILE] [--dump FILE] [--local-only] [--records N]`; prints a JSON summary at
//! the end. `--local-only`: the baseline, the local journal alone (no etcd).
//! `--records N`: write N records, then stop (once all are durable) instead of after
//! `--seconds`; the summary's `last_seq` is the log's last entry.
//!
//! Catch-up of a new member (`perf/cluster.sh --catchup`): `clusterbench --catchup SEQ
//! --endpoints .. --member NAME --state FRESH_DIR [--shard s0] [--homes N]` starts a
//! member as the MSM does (etcd thread as a standby: it reads the shard's whole log from
//! etcd, then watches), applies every batch through the MSM's own
//! `RegistrationService::follow` (its local journal through a `ReplicatedLog`, then its
//! RCU table, published per batch, compaction at `--compact-bytes`, by default the MSM's
//! 64 MiB) until its
//! table holds entry `SEQ` durably, and prints the time to caught-up, records/s and
//! memory.

use msm::control::cluster::etcd::{EtcdConfig, Handle};
use msm::control::cluster::replicated::ReplicatedLog;
use msm::control::journal::{Journal, Kind, Record};
use msm::control::service::{DurableLog, RegistrationService};
use msm_table::{Rcu, TableConfig, TableWriter};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

struct Args {
    endpoints: Vec<String>,
    member: String,
    shard: String,
    state: String,
    seconds: f64,
    group: usize,
    inflight: usize,
    homes: u64,
    ttl_ms: u64,
    acked: Option<String>,
    dump: Option<String>,
    /// The baseline: the local journal alone, no etcd.
    local_only: bool,
    /// Stop after this many records (all durable).
    records: Option<u64>,
    /// Catch-up mode: follow until this seq is applied.
    catchup: Option<u64>,
    /// Catch-up mode: the journal's compaction threshold (the MSM's default: 64 MiB).
    compact_bytes: u64,
}

fn args() -> Args {
    let mut a = Args {
        endpoints: vec![],
        member: String::new(),
        shard: "s0".into(),
        state: String::new(),
        seconds: 10.0,
        group: 256,
        inflight: 8,
        homes: 100_000,
        ttl_ms: 2000,
        acked: None,
        dump: None,
        local_only: false,
        records: None,
        catchup: None,
        compact_bytes: 64 << 20,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        if v[i] == "--local-only" {
            a.local_only = true;
            i += 1;
            continue;
        }
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--endpoints" => a.endpoints = val.split(',').map(str::to_owned).collect(),
            "--member" => a.member = val,
            "--shard" => a.shard = val,
            "--state" => a.state = val,
            "--seconds" => a.seconds = val.parse().expect("--seconds"),
            "--group" => a.group = val.parse().expect("--group"),
            "--inflight" => a.inflight = val.parse().expect("--inflight"),
            "--homes" => a.homes = val.parse().expect("--homes"),
            "--ttl-ms" => a.ttl_ms = val.parse().expect("--ttl-ms"),
            "--acked" => a.acked = Some(val),
            "--dump" => a.dump = Some(val),
            "--records" => a.records = Some(val.parse().expect("--records")),
            "--catchup" => a.catchup = Some(val.parse().expect("--catchup")),
            "--compact-bytes" => a.compact_bytes = val.parse().expect("--compact-bytes"),
            o => panic!("unknown argument {o}"),
        }
        i += 2;
    }
    assert!(
        (a.local_only || !a.endpoints.is_empty()) && !a.member.is_empty() && !a.state.is_empty(),
        "--endpoints, --member and --state are required"
    );
    a
}

/// A group in flight: its number, when it began, its (home, care-of) changes.
type Flight = (u64, Instant, Vec<(u32, u32)>);

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let a = args();
    if let Some(seq) = a.catchup {
        catchup(&a, seq);
        return;
    }
    // (With --local-only the etcd thread runs but is never used.)
    let handle = Handle::start(EtcdConfig {
        endpoints: if a.local_only {
            vec!["http://127.0.0.1:1".into()]
        } else {
            a.endpoints.clone()
        },
        member: a.member.clone(),
        shard: a.shard.clone(),
        lease_ttl: Duration::from_millis(a.ttl_ms),
    })
    .expect("etcd thread");
    let (journal, _) = Journal::open(&a.state).expect("journal");
    let mut log: Box<dyn DurableLog> = if a.local_only {
        Box::new(journal)
    } else {
        Box::new(ReplicatedLog::new(
            journal,
            handle.replicator(),
            Duration::from_secs(5),
        ))
    };
    let mut acked = a.acked.as_ref().map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .expect("acked file")
    });
    let shared = &handle.shared;
    let t0 = Instant::now();
    let mut view: HashMap<u32, u32> = HashMap::new();
    let mut followed = 0u64;
    let mut serving_since: Option<Instant> = None;
    let mut takeover_ms = None;
    let mut k: u64 = 0;
    let mut flight: VecDeque<Flight> = VecDeque::new();
    let (mut lat_us, mut failed, mut records) = (Vec::new(), 0u64, 0u64);
    let mut line = String::new();
    loop {
        let now = Instant::now();
        let serving = a.local_only || shared.serving(now);
        // Drain after reading the role: what the takeover drained is queued before it.
        while let Some((seq, recs)) = handle.next_followed() {
            for r in recs {
                match r.kind {
                    Kind::Upsert => view.insert(r.home, r.coa.unwrap_or(0)),
                    Kind::Remove => view.remove(&r.home),
                };
            }
            followed += 1;
            shared.table_applied(seq, msm::control::cluster::value::now_ms());
        }
        if serving && serving_since.is_none() {
            serving_since = Some(now);
            takeover_ms = Some(now.duration_since(t0).as_millis() as u64);
            if let Some(p) = &a.dump {
                let mut s = String::new();
                for (h, c) in &view {
                    s.push_str(&format!("{h} {c}\n"));
                }
                std::fs::write(p, s).expect("dump");
            }
            eprintln!(
                "{}: serving after {:?} ({} homes followed)",
                a.member,
                now.duration_since(t0),
                view.len()
            );
        }
        if shared.must_resync.load(Ordering::SeqCst) {
            eprintln!("{}: deposed", a.member);
            std::process::exit(75);
        }
        let written = a.records.is_some_and(|n| k >= n);
        if written && flight.is_empty() {
            break;
        }
        let done = (a.records.is_none()
            && serving_since.is_some_and(|s| now.duration_since(s).as_secs_f64() >= a.seconds))
            || (serving_since.is_none()
                && now.duration_since(t0).as_secs_f64() >= a.seconds + 30.0);
        if done {
            break;
        }
        let mut busy = false;
        if serving && flight.len() < a.inflight && !written {
            let mut g = Vec::with_capacity(a.group);
            let n = a
                .records
                .map_or(a.group as u64, |n| (n - k).min(a.group as u64));
            for _ in 0..n {
                let home = 0x0a00_0001 + (k % a.homes) as u32;
                let coa = (k + 1) as u32;
                k += 1;
                log.append(&Record {
                    kind: Kind::Upsert,
                    home,
                    coa: Some(coa),
                    port: 0,
                    msisdn: u64::from(home),
                    expires_at: u32::MAX,
                    last_ident: k,
                });
                g.push((home, coa));
            }
            match log.begin_commit() {
                Ok(Some(n)) => flight.push_back((n, now, g)),
                Ok(None) => {}
                Err(e) => panic!("local journal: {e}"),
            }
            busy = true;
        }
        while let Some((n, r)) = log.poll_commit(false) {
            busy = true;
            let (m, since, g) = flight.pop_front().expect("a group in flight");
            assert_eq!(n, m, "groups are reported in order");
            match r {
                Ok(()) => {
                    lat_us.push(since.elapsed().as_micros() as u64);
                    records += g.len() as u64;
                    if let Some(f) = acked.as_mut() {
                        line.clear();
                        for (h, c) in &g {
                            line.push_str(&format!("{h} {c}\n"));
                        }
                        f.write_all(line.as_bytes()).expect("acked file");
                    }
                    for (h, c) in g {
                        view.insert(h, c);
                    }
                }
                Err(e) => {
                    failed += 1;
                    if failed < 5 {
                        eprintln!("{}: group failed: {e}", a.member);
                    }
                }
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    while let Some((_, r)) = log.poll_commit(true) {
        let (_, since, g) = flight.pop_front().expect("in flight");
        if r.is_ok() {
            lat_us.push(since.elapsed().as_micros() as u64);
            records += g.len() as u64;
        } else {
            failed += 1;
        }
    }
    let secs = serving_since.map_or(0.0, |s| s.elapsed().as_secs_f64());
    lat_us.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "member": a.member,
            "takeover_ms": takeover_ms,
            "followed_batches": followed,
            "view_homes": view.len(),
            "groups_durable": lat_us.len(),
            "groups_failed": failed,
            "records_durable": records,
            "serving_s": secs,
            "records_per_s": if secs > 0.0 { records as f64 / secs } else { 0.0 },
            "group": a.group,
            "inflight": a.inflight,
            "latency_ms_p50": pct(&lat_us, 0.5) as f64 / 1000.0,
            "latency_ms_p99": pct(&lat_us, 0.99) as f64 / 1000.0,
            "etcd_txns": shared.txns.load(Ordering::Relaxed),
            "etcd_errors": shared.etcd_errors.load(Ordering::Relaxed),
            "last_seq": shared.applied_seq.load(Ordering::Relaxed),
        })
    );
}

/// `/proc/self/status` field `key` (kB).
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A new member catches up from the shard's whole log (no snapshot) to entry `until`.
fn catchup(a: &Args, until: u64) {
    let t0 = Instant::now();
    let rss0 = status_kib("VmRSS:");
    let handle = Handle::start(EtcdConfig {
        endpoints: a.endpoints.clone(),
        member: a.member.clone(),
        shard: a.shard.clone(),
        lease_ttl: Duration::from_millis(a.ttl_ms),
    })
    .expect("etcd thread");
    let (journal, _) = Journal::open(&a.state).expect("journal");
    let log = ReplicatedLog::new(journal, handle.replicator(), Duration::from_secs(5));
    let (rcu, _readers) = Rcu::new(1);
    let writer = TableWriter::new(TableConfig::new(a.homes as usize), rcu).expect("table");
    let mut svc: RegistrationService<(), _> =
        RegistrationService::new(None, writer, Some(log), a.compact_bytes);
    let shared = &handle.shared;
    let (mut records, mut batches, mut first) = (0u64, 0u64, None);
    let mut seen = 0u64;
    loop {
        let mut busy = false;
        while let Some((seq, recs)) = handle.next_followed() {
            busy = true;
            first.get_or_insert_with(|| t0.elapsed());
            if !recs.is_empty() {
                svc.follow(&recs);
                records += recs.len() as u64;
                batches += 1;
            }
            shared.table_applied(seq, msm::control::cluster::value::now_ms());
            seen = seq;
            if seen >= until {
                break;
            }
        }
        svc.poll_batches(false, |_, _| {});
        svc.maybe_compact();
        if seen >= until {
            break;
        }
        if shared.must_resync.load(Ordering::SeqCst) {
            eprintln!("{}: deposed", a.member);
            std::process::exit(75);
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    // Caught up: the last batch durable in the local journal and in the table.
    svc.poll_batches(true, |_, _| {});
    let secs = t0.elapsed().as_secs_f64();
    let bindings = svc.writer().len();
    let table_bytes = svc.writer().memory_bytes();
    println!(
        "{}",
        serde_json::json!({
            "member": a.member,
            "until_seq": until,
            "caught_up_s": secs,
            "first_batch_s": first.map(|d| d.as_secs_f64()),
            "batches": batches,
            "records": records,
            "records_per_s": records as f64 / secs,
            "table_bindings": bindings,
            "table_memory_bytes": table_bytes,
            "rss_start_kib": rss0,
            "rss_kib": status_kib("VmRSS:"),
            "rss_peak_kib": status_kib("VmHWM:"),
            "journal_bytes": dir_bytes(std::path::Path::new(&a.state)),
            "compact_bytes": a.compact_bytes,
            "etcd_errors": shared.etcd_errors.load(Ordering::Relaxed),
            "applied_rev": shared.applied_rev.load(Ordering::Relaxed),
        })
    );
}
