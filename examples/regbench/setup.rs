//! Setting up: request frames, timed steps, the isolated per-operation costs.

use crate::report::secs;
use crate::sys::huge_zeroed;
use crate::{Args, GPRS, MY_MAC, PEER_MAC, SLOT, WLAN};
use msm::config::{Prefix, RegistrationConfig, Role};
use msm::control::journal::{Journal, Record};
use msm::control::reg_io;
use msm::control::registrar::{Now, Registrar};
use msm::control::subscribers::{self, Subscribers};
use msm_mip::Code;
use msm_table::{Binding, Rcu, RcuReader, TableConfig, TableWriter};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Builds the frames of subscribers `idx` (Ethernet + IPv4 + UDP + Registration Request,
/// path 1: from the home address to IPmsm-gprs) into `arena`; returns (home, care-of).
pub fn build_frames(
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

pub fn timed<T>(label: &str, setup: &mut Vec<(String, Duration)>, f: impl FnOnce() -> T) -> T {
    eprintln!("regbench: {label} ...");
    let t = Instant::now();
    let r = f();
    let d = t.elapsed();
    eprintln!("regbench: {label}: {}", secs(d));
    setup.push((label.to_string(), d));
    r
}

#[allow(clippy::too_many_arguments)]
pub fn micro(
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
        regs.push(reg_io::extract(frame(j), GPRS, WLAN, Role::Wwan).expect("extract"));
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
            subs.by_msisdn(p.msisdn().expect("nai"))
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

    state_costs(&mut rows, writer, &idx[sample], &parsed, &found, unix_now);

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

/// The binding table's and the journal record's share of the per-operation costs.
fn state_costs(
    rows: &mut Vec<(&str, f64)>,
    writer: &mut TableWriter,
    sample: &[u32],
    parsed: &[msm_mip::ParsedRequest],
    found: &[msm::control::subscribers::Subscriber],
    unix_now: u64,
) {
    let m = sample.len().max(1) as f64;
    // Same values as the pre-fill: an in-place update that leaves the slot word alone.
    let exp = (unix_now + 3600) as u32;
    let t = Instant::now();
    for &i in sample {
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
    for &i in sample {
        black_box(writer.get(found_home(u64::from(i))));
    }
    rows.push((
        "TableWriter::get (handle() calls it once more)",
        t.elapsed().as_nanos() as f64 / m,
    ));

    let t = Instant::now();
    let mut jbuf: Vec<u8> = Vec::with_capacity(sample.len() * 36);
    for (p, s) in parsed.iter().zip(found) {
        let r = Record::upsert(
            &Binding {
                home: s.home,
                coa: Some(u32::from(p.care_of)),
                port: 0,
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
}

/// Home of subscriber `i` in the single test pool.
pub fn found_home(i: u64) -> u32 {
    // 10.0.0.0/8: base + i (checked against subscribers::test_home in main).
    0x0a00_0000 + i as u32
}

/// The care-of address the pre-filled binding of subscriber `i` has (203.0.113.0/24;
/// registrations move it into 198.18.0.0/15).
pub fn prefill_coa(i: u64) -> u32 {
    0xcb00_7100 | (i as u32 & 0xff) | 1
}

/// Setup state kept for the report: the temporary directory, the timed steps, sizes.
pub struct Setup {
    pub tmp: PathBuf,
    pub steps: Vec<(String, Duration)>,
    /// Provisioning file bytes, subscriber store and table memory.
    pub sub_bytes: u64,
    pub subs_mem: usize,
    pub table_mem: usize,
}

/// The control lcore's parts, before they go into the service.
pub struct Control {
    pub registrar: Registrar,
    pub writer: TableWriter,
    pub readers: Vec<RcuReader>,
    pub journal: Journal,
    pub compact_bytes: u64,
    pub now0: Now,
    /// `now0` as the high 32 bits of an Identification.
    pub ntp0: u32,
}

/// The pre-built requests: `idx[j]` is the subscriber of frame slot `j`.
pub struct Requests {
    pub idx: Vec<u32>,
    pub frames: &'static mut [u8],
    pub homes: Vec<u32>,
    pub coas: Vec<u32>,
    /// Length of every frame.
    pub flen: usize,
    /// Slots `0..requests` are for the storms, `requests..pool` for the micro-measurements.
    pub requests: usize,
    pub pool: usize,
    pub micro_n: usize,
}

impl Setup {
    pub fn new(args: &Args) -> Setup {
        let tmp = args.dir.join(format!(
            "regbench-{}-{}",
            std::process::id(),
            Now::system().unix_s
        ));
        std::fs::create_dir_all(&tmp).expect("temp dir");
        Setup {
            tmp,
            steps: Vec::new(),
            sub_bytes: 0,
            subs_mem: 0,
            table_mem: 0,
        }
    }

    /// Subscriber store, pre-filled table, registrar with replay state, journal: as the
    /// MSM has them after a start with `--bindings` subscribers bound.
    pub fn control(&mut self, args: &Args, pools: &[Prefix]) -> Control {
        let n = args.bindings;
        let subs = self.subscribers(n, pools);
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
            per_source_per_sec: 4_000_000,
            unauthenticated_replies_per_sec: 4_000_000,
            unauthenticated_replies_per_source_per_sec: 4_000_000,
            journal_compact_bytes: args.compact_mib << 20,
            nat_keepalive_s: 110,
        };
        let compact_bytes = cfg.journal_compact_bytes;
        let (writer, readers) = self.table(n, now0);
        let mut registrar = Registrar::new(cfg, pools.to_vec(), subs, vec![GPRS, WLAN]);
        let old_ident = (u64::from(ntp0 - 60) << 32) | 1;
        timed(
            &format!("restore_ident x {n} (replay state, as after a journal replay)"),
            &mut self.steps,
            || {
                for i in 0..n {
                    registrar.restore_ident(subscribers::test_msisdn(i), old_ident);
                }
            },
        );
        let (mut journal, _) = Journal::open(self.tmp.join("state")).expect("journal");
        timed(
            &format!("journal snapshot of the {n} bindings (as after a restart)"),
            &mut self.steps,
            || {
                journal
                    .install_snapshot(writer.iter().map(|b| Record::upsert(&b, old_ident)))
                    .expect("snapshot")
            },
        );
        Control {
            registrar,
            writer,
            readers,
            journal,
            compact_bytes,
            now0,
            ntp0,
        }
    }

    /// Writes the provisioning file of `n` subscribers and loads it.
    fn subscribers(&mut self, n: u64, pools: &[Prefix]) -> Subscribers {
        let sub_path = self.tmp.join("subscribers.txt");
        timed(
            &format!("write_test_file ({n} subscribers)"),
            &mut self.steps,
            || subscribers::write_test_file(&sub_path, n, pools).expect("write subscribers"),
        );
        self.sub_bytes = std::fs::metadata(&sub_path).map(|m| m.len()).unwrap_or(0);
        let subs = timed("Subscribers::load", &mut self.steps, || {
            Subscribers::load(&sub_path, pools).expect("load subscribers")
        });
        let _ = std::fs::remove_file(&sub_path);
        self.subs_mem = subs.memory_bytes();
        subs
    }

    /// The table with every subscriber bound (expiring in an hour), published.
    fn table(&mut self, n: u64, now0: Now) -> (TableWriter, Vec<RcuReader>) {
        let (rcu, readers) = Rcu::new(1);
        let mut writer = timed(
            &format!("TableWriter::new (max_bindings {n})"),
            &mut self.steps,
            || TableWriter::new(TableConfig::new(n as usize), rcu).expect("table"),
        );
        let expires = (now0.unix_s + 3600) as u32;
        timed(&format!("pre-fill {n} bindings"), &mut self.steps, || {
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
        self.table_mem = writer.memory_bytes();
        (writer, readers)
    }

    /// Requests from distinct random subscribers, built as frames (2 threads).
    pub fn requests(
        &mut self,
        args: &Args,
        pools: &[Prefix],
        ntp0: u32,
        rng: &mut StdRng,
    ) -> Requests {
        let n = args.bindings;
        let pool = (args.requests + args.micro).min(n as usize);
        let requests = pool.saturating_sub(args.micro).max(1).min(pool);
        let idx: Vec<u32> = timed(
            "choose subscribers (partial shuffle)",
            &mut self.steps,
            || {
                let mut all: Vec<u32> = (0..n as u32).collect();
                let (chosen, _) = all.partial_shuffle(rng, pool);
                chosen.to_vec()
            },
        );
        let frames: &'static mut [u8] = huge_zeroed(pool * SLOT);
        let hc: Vec<(u32, u32)> = timed(
            &format!("build {pool} request frames (2 threads, HMAC each)"),
            &mut self.steps,
            || {
                let threads = 2usize;
                let per = pool.div_ceil(threads);
                std::thread::scope(|s| {
                    let hs: Vec<_> = frames
                        .chunks_mut(per * SLOT)
                        .zip(idx.chunks(per))
                        .enumerate()
                        .map(|(t, (arena, ids))| {
                            s.spawn(move || {
                                let first = 2 + (t * per) as u32;
                                build_frames(arena, ids, pools, ntp0, first, t as u64)
                            })
                        })
                        .collect();
                    hs.into_iter()
                        .flat_map(|h| h.join().expect("builder"))
                        .collect()
                })
            },
        );
        let flen = {
            let r = reg_io::extract(&frames[..SLOT], GPRS, WLAN, Role::Wwan).expect("first frame");
            r.payload.1
        };
        Requests {
            homes: hc.iter().map(|x| x.0).collect(),
            coas: hc.iter().map(|x| x.1).collect(),
            idx,
            frames,
            flen,
            requests,
            pool,
            micro_n: pool - requests,
        }
    }
}
