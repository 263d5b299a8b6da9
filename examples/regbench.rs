//! Control-plane benchmark: durable registrations per second through the production service.
//!
//! Authenticated, durable registrations per second on one control lcore with N bindings
//! loaded; registration-to-visible (seen by a worker) and registration-to-acknowledged
//! latency; and the lookup rate of a worker proxy while a registration storm is being
//! published.
//!
//! ```text
//! cargo run --release --example regbench -- [--bindings 10000000] [--requests 4000000]
//!     [--batches 32,64,256,1024] [--run-secs 3] [--quiet-secs 3] [--dir /var/tmp]
//!     [--writer-cpu 1] [--reader-cpu 0] [--no-pin] [--no-compact] [--pipeline] [--compact-mib 64]
//!     [--micro 100000]
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
//! `RegistrationService::expire` + `reclaim` + `maybe_compact` (the compaction step:
//! seal the log once it holds `--compact-mib` MiB and merge it into the snapshot on a
//! helper thread; `--no-compact` leaves it out, for reference). The journal starts with a
//! snapshot of the `--bindings` bindings (as after a restart), so each merge streams all of
//! them. With `--pipeline` each batch is sealed (`seal_batch`: its group commit goes to
//! the journal's sync thread) and the loop goes on with the next batch, releasing the
//! batches whose commit finished (`poll_batches` without waiting), as the control lcore
//! does; without it each batch waits for its own commit (`finish_batch`), so "commit" in
//! the report is then the fdatasync the loop waited for, and with `--pipeline` only the
//! time spent collecting results. Requests are
//! pre-built frames (the mobiles' cost), one per distinct subscriber, care-of addresses
//! random; the table, subscriber store and replay state hold `--bindings` entries.
//!
//! A second thread, pinned to the other CPU, plays a worker: bursts of 32 random lookups
//! over the bound population (prefetch all, then look up) inside an RCU read section, plus
//! a check of the "probe" registrations announced by the writer (one per batch, at a random
//! position): it records when it first sees the probe's new care-of address.
//!
//! Prints a markdown report on stdout (progress on stderr).

#[path = "regbench/proxy.rs"]
mod proxy;
#[path = "regbench/report.rs"]
mod report;
#[path = "regbench/setup.rs"]
mod setup;
#[path = "regbench/storm.rs"]
mod storm;
#[path = "regbench/sys.rs"]
mod sys;

use crossbeam_utils::CachePadded;
use msm::config::Prefix;
use msm::control::service::RegistrationService;
use msm::control::subscribers;
use proxy::{phase, worker_proxy, ReaderOut, Shared};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use storm::{control_idle, run_storm, Ctl, RunStats};
use sys::{cpu_busy, pin_to, Mark};

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
    pipeline: bool,
    compact_mib: u64,
    micro: usize,
    seed: u64,
    wait_idle: f64,
    attempts: usize,
}

const USAGE: &str = "regbench [--bindings N] [--requests N] [--batches 32,64,256,1024] \
[--run-secs S] [--quiet-secs S] [--dir DIR] [--writer-cpu C] [--reader-cpu C] [--no-pin] \
[--no-compact] [--pipeline] [--compact-mib N] [--micro N] [--seed N] [--wait-idle S] [--attempts N]";

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
        pipeline: false,
        compact_mib: 64,
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
            "--pipeline" => a.pipeline = true,
            "--compact-mib" => a.compact_mib = num(&k, val()?)?,
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

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let cmdline: Vec<String> = std::env::args().skip(1).collect();
    let pools = vec![Prefix::parse(HOME_POOL).expect("pool")];
    let n = args.bindings;
    assert!(
        subscribers::test_home(n - 1, &pools).is_some(),
        "{HOME_POOL} holds fewer than {n} addresses"
    );
    assert_eq!(
        subscribers::test_home(n - 1, &pools),
        Some(setup::found_home(n - 1))
    );
    let busy = wait_for_idle(args.wait_idle);

    let mut prep = setup::Setup::new(&args);
    let mut control = prep.control(&args, &pools);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut req = prep.requests(&args, &pools, control.ntp0, &mut rng);
    let mut micro_md = String::new();
    if req.micro_n > 0 {
        eprintln!(
            "regbench: micro-measurements on {} requests ...",
            req.micro_n
        );
        setup::micro(
            &mut micro_md,
            &control.registrar,
            &mut control.writer,
            req.frames,
            req.flen,
            req.requests..req.pool,
            &req.idx,
            control.now0.unix_s,
        );
    }
    let mut ctl = Ctl {
        svc: RegistrationService::new(
            Some(control.registrar),
            control.writer,
            Some(control.journal),
            control.compact_bytes,
        ),
        ip_id: 0,
        compact: args.compact,
        pipeline: args.pipeline,
        pending: Vec::with_capacity(args.batches.iter().copied().max().unwrap_or(1)),
    };
    let runs = run_phases(&args, &mut ctl, control.readers, &mut req, &mut rng);
    let checked = check_replies(&ctl, &req, runs.cursor);
    let compact_md = compaction(&mut ctl, &args);
    let summary = report::Summary::of(&ctl);
    drop(ctl);
    let _ = std::fs::remove_dir_all(&prep.tmp);

    let out = report::render(&report::Report {
        args: &args,
        cmdline: &cmdline,
        busy: &busy,
        setup: &prep,
        micro_n: req.micro_n,
        runs: &runs,
        micro_md: &micro_md,
        compact_md: &compact_md,
        summary: &summary,
        checked,
    });
    print!("{out}");
}

/// Other benchmarks share this machine: waits (up to `max_s` seconds) for idle CPUs;
/// returns the last busy share per CPU.
fn wait_for_idle(max_s: f64) -> Vec<f64> {
    let t_wait = Instant::now();
    let mut busy = cpu_busy(Duration::from_millis(1000));
    while busy.iter().any(|b| *b > 10.0) && t_wait.elapsed().as_secs_f64() < max_s {
        eprintln!("regbench: waiting for idle CPUs ({busy:.0?} % busy)");
        busy = cpu_busy(Duration::from_millis(2000));
    }
    busy
}

/// Everything the timed phases produced.
struct Runs {
    marks: Vec<Mark>,
    q_idle: usize,
    q_spin: usize,
    q_after: usize,
    /// (phase id, stats) of each storm.
    storms: Vec<(usize, RunStats)>,
    /// Requests used.
    cursor: usize,
    writer_cpu_ok: bool,
    proxy: ReaderOut,
}

/// The quiet phases and one storm per batch size, with the worker proxy looking up on
/// the other CPU.
fn run_phases(
    args: &Args,
    ctl: &mut Ctl,
    mut readers: Vec<msm_table::RcuReader>,
    req: &mut setup::Requests,
    rng: &mut StdRng,
) -> Runs {
    let max_probes = req.requests / args.batches.iter().min().copied().unwrap_or(1) + 64;
    let sh = Arc::new(Shared {
        base: Instant::now(),
        stop: AtomicBool::new(false),
        phase: CachePadded::new(AtomicUsize::new(0)),
        announced: CachePadded::new(AtomicUsize::new(0)),
        probe_home: (0..max_probes).map(|_| AtomicU32::new(0)).collect(),
        probe_coa: (0..max_probes).map(|_| AtomicU32::new(0)).collect(),
        home_base: setup::found_home(0),
        n: args.bindings,
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
    control_idle(ctl, Duration::from_millis(500));
    let quiet = Duration::from_secs_f64(args.quiet_secs);
    let (q_idle, _) = phase(
        &mut marks,
        &sh,
        "quiet, control idle loop",
        attempts,
        |_| control_idle(ctl, quiet),
    );
    let (q_spin, _) = phase(
        &mut marks,
        &sh,
        "quiet, control core spinning",
        attempts,
        |_| spin(quiet),
    );
    let (storms, cursor) = storms(args, ctl, &sh, &mut marks, req, rng);
    let (q_after, _) = phase(
        &mut marks,
        &sh,
        "quiet, control idle loop (after)",
        attempts,
        |_| control_idle(ctl, quiet),
    );
    sh.stop.store(true, Ordering::Release);
    let proxy = reader_thread.join().expect("worker proxy");
    Runs {
        marks,
        q_idle,
        q_spin,
        q_after,
        storms,
        cursor,
        writer_cpu_ok,
        proxy,
    }
}

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        for _ in 0..1000 {
            std::hint::spin_loop();
        }
    }
}

/// One storm per batch size, each on its own share of the requests; returns the storms
/// and the requests used.
fn storms(
    args: &Args,
    ctl: &mut Ctl,
    sh: &Shared,
    marks: &mut Vec<Mark>,
    req: &mut setup::Requests,
    rng: &mut StdRng,
) -> (Vec<(usize, RunStats)>, usize) {
    let mut runs: Vec<(usize, RunStats)> = Vec::new();
    let mut cursor = 0usize;
    let requests = req.requests;
    let nb = args.batches.len();
    for (r, &b) in args.batches.iter().enumerate() {
        if (requests - cursor) / (nb - r) < 16 * b {
            eprintln!("regbench: request pool exhausted (retries?): no run with batches of {b}");
            continue;
        }
        let (ph, st) = phase(
            marks,
            sh,
            &format!("storm B={b}"),
            args.attempts.max(1),
            |_| {
                let alloc = (requests - cursor) / (nb - r);
                if alloc < 16 * b {
                    // A repeat with the pool used up: nothing to measure (the report then
                    // shows an empty run: give --requests room for --attempts).
                    eprintln!("regbench: request pool exhausted: no repeat with batches of {b}");
                }
                eprintln!("regbench: storm with batches of {b} (up to {alloc} requests) ...");
                let st = run_storm(ctl, sh, req, cursor, alloc, b, args.run_secs, rng);
                cursor += st.requests;
                eprintln!(
                    "regbench:   {} requests in {} -> {:.0}/s",
                    st.requests,
                    report::secs(st.wall),
                    st.accepted as f64 / st.wall.as_secs_f64()
                );
                st
            },
        );
        runs.push((ph, st));
        control_idle(ctl, Duration::from_millis(200));
    }
    (runs, cursor)
}

/// Sanity: the last replies verify, the table holds the new care-of addresses. Returns
/// how many were checked.
fn check_replies(ctl: &Ctl, req: &setup::Requests, cursor: usize) -> usize {
    let mut checked = 0;
    for j in (0..cursor).step_by((cursor / 1000).max(1)) {
        let i = u64::from(req.idx[j]);
        let f = &req.frames[j * SLOT..(j + 1) * SLOT];
        let ip_total = usize::from(u16::from_be_bytes([f[16], f[17]]));
        let p = msm_mip::parse_reply(&f[14 + 28..14 + ip_total]).expect("reply parses");
        assert_eq!(p.code, 0, "accepted");
        assert!(msm_mip::verify_mn_ha(&p, &subscribers::test_key(i)));
        let coa = ctl.svc.writer().get(req.homes[j]).and_then(|b| b.coa);
        assert_eq!(coa, Some(req.coas[j]));
        checked += 1;
    }
    checked
}

/// After the storms: lets a running compaction finish, then (unless `--no-compact`) one
/// more, started explicitly, timed from the control lcore's side (the seal) and in the
/// background (the merge); returns the report paragraph.
fn compaction(ctl: &mut Ctl, args: &Args) -> String {
    let settle = |ctl: &mut Ctl| {
        while ctl.journal().stats().compaction_running {
            ctl.svc.maybe_compact();
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    if !args.compact {
        return "No compaction (`--no-compact`).\n".to_string();
    }
    settle(ctl);
    let log_bytes = ctl.journal().log_bytes();
    let live = ctl.svc.writer().len();
    eprintln!("regbench: one more compaction ({live} live bindings) ...");
    let t = Instant::now();
    let ev = ctl.svc.compact();
    let t_seal = t.elapsed();
    settle(ctl);
    let t_all = t.elapsed();
    let s = ctl.journal().stats();
    format!(
        "Compaction after the storms ({live} live bindings; live log {:.1} MiB; threshold {} MiB): \
         `RegistrationService::compact` (commit + seal + thread start) returned in **{} µs** ({ev:?}); \
         the merge on its helper thread wrote {} records in {} (polled every 10 ms). \
         Journal compaction counters over the whole run: {} compactions, {} failures, seal max {} µs.\n",
        log_bytes as f64 / (1 << 20) as f64,
        args.compact_mib,
        report::us(t_seal.as_nanos() as u64),
        s.last_compaction_records,
        report::secs(t_all),
        s.compactions,
        s.compaction_failures,
        report::us(s.seal_ns_max),
    )
}
