//! Concurrent stress: one writer churns the table (inserts, CoA updates,
//! removes, expiry, forced shrinks followed by growths, tombstone rebuilds),
//! publishing in batches; reader threads run bursts and check that they never
//! see a torn, foreign or freed (poisoned) entry, never miss a key that is
//! present and never removed, and always see at least the version of a key
//! that was published before their burst began.
//!
//! Two runs: a good (random-looking) hash seed, and a structured one (bucket =
//! low address bits). The binding cap equals the capacity of a 2048-bucket
//! generation, so insert-heavy phases hold the table at load 3/4 where
//! buckets fill up, probes cross buckets and removals leave tombstones.
//!
//! `MSM_STRESS_OPS` sets the total number of changes over both runs (default
//! 2M in debug, 20M in release).

use msm_table::{HashSeed, Lookup, Rcu, RcuReader, TableConfig, TableHandle, TableWriter, Upsert};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const BASE: u32 = 0x0a00_0000;
/// Keys BASE+1 ..= BASE+STABLE: inserted first, updated, never removed.
const STABLE: u32 = 2_000;
/// Keys after them: inserted, updated and removed at random.
const CHURN: u32 = 30_000;
/// = the capacity of a 2048-bucket generation (load 3/4): insert-heavy
/// phases keep the table at its maximum load, where buckets fill up and
/// removals leave tombstones.
const MAX_BINDINGS: usize = 12_288;
const READERS: usize = 3;
/// Changes per insert-heavy / remove-heavy cycle; each ends with a shrink.
const CYCLE: u64 = 100_000;

fn checksum8(home: u32, version: u32) -> u32 {
    (home ^ version.rotate_left(13)).wrapping_mul(0x9e37_79b1) >> 24
}

/// Care-of address encoding key and version: `version << 8 | checksum8`.
fn coa_of(home: u32, version: u32) -> u32 {
    debug_assert!((1..1 << 24).contains(&version));
    (version << 8) | checksum8(home, version)
}

/// The version of a care-of address, if it belongs to `home`.
fn check_coa(home: u32, coa: u32) -> Option<u32> {
    let version = coa >> 8;
    (version != 0 && coa & 0xff == checksum8(home, version)).then_some(version)
}

fn is_stable(home: u32) -> bool {
    (BASE + 1..=BASE + STABLE).contains(&home)
}

struct Shared {
    ready: AtomicBool,
    done: AtomicBool,
    /// Version of each stable key that was published (epoch advanced) before
    /// this value was stored.
    published: Vec<AtomicU32>,
    bursts: AtomicU64,
    lookups: AtomicU64,
}

/// Sets `done` even if the writer panics, so readers stop.
struct DoneOnDrop(Arc<Shared>);
impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        self.0.done.store(true, Ordering::Release);
    }
}

fn ops() -> u64 {
    std::env::var("MSM_STRESS_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            2_000_000
        } else {
            20_000_000
        })
}

struct WriterReport {
    changes: u64,
    model: Vec<Option<Option<u32>>>,
    explicit_rebuilds: u64,
    full: u64,
    expired: u64,
    max_len: usize,
    max_probe: usize,
}

fn writer(mut w: TableWriter, sh: Arc<Shared>, total: u64) -> (TableWriter, WriterReport) {
    let _done = DoneOnDrop(sh.clone());
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let n = (STABLE + CHURN) as usize;
    // model[i]: binding of BASE+1+i: None absent, Some(coa) present.
    let mut model: Vec<Option<Option<u32>>> = vec![None; n];
    let mut stable_version = vec![1u32; STABLE as usize];
    for i in 0..STABLE {
        let home = BASE + 1 + i;
        let coa = coa_of(home, 1);
        assert_eq!(
            w.upsert(home, Some(coa), u64::from(home), u32::MAX),
            Ok(Upsert::Inserted)
        );
        model[i as usize] = Some(Some(coa));
    }
    w.publish();
    for p in &sh.published {
        p.store(1, Ordering::Release);
    }
    sh.ready.store(true, Ordering::Release);

    let mut rep = WriterReport {
        changes: 0,
        model: Vec::new(),
        explicit_rebuilds: 0,
        full: 0,
        expired: 0,
        max_len: 0,
        max_probe: 0,
    };
    let mut now = 0u32;
    let mut touched = Vec::new();
    let mut expired = Vec::new();
    let mut live = STABLE as usize;
    let mut next_cycle = CYCLE;
    let mut next_sync = 50_000;
    while rep.changes < total {
        let insert_heavy = rep.changes % CYCLE < CYCLE / 2;
        let (p_ins, p_rem) = if insert_heavy { (60, 25) } else { (10, 75) };
        let batch = rng.gen_range(1..=64);
        now += 1;
        for _ in 0..batch {
            let r = rng.gen_range(0..100);
            if r < 10 {
                // CoA update of a stable key, version strictly increasing.
                let i = rng.gen_range(0..STABLE) as usize;
                let home = BASE + 1 + i as u32;
                stable_version[i] += 1;
                let coa = coa_of(home, stable_version[i]);
                assert_eq!(
                    w.upsert(home, Some(coa), u64::from(home), u32::MAX),
                    Ok(Upsert::Updated)
                );
                model[i] = Some(Some(coa));
                touched.push(i);
            } else if r < 10 + p_ins {
                let i = rng.gen_range(STABLE..STABLE + CHURN) as usize;
                let home = BASE + 1 + i as u32;
                let coa = if rng.gen_bool(0.2) {
                    None
                } else {
                    Some(coa_of(home, rng.gen_range(1..0xf0_0000))) // 240.0.0.0/4 names NAT indices
                };
                let exp = now + rng.gen_range(0..2_000);
                match w.upsert(home, coa, u64::from(home), exp) {
                    Ok(Upsert::Inserted) => {
                        assert!(model[i].is_none());
                        live += 1;
                    }
                    Ok(Upsert::Updated) => assert!(model[i].is_some()),
                    Err(msm_table::TableError::Full) => {
                        assert!(model[i].is_none() && live == MAX_BINDINGS);
                        rep.full += 1;
                        rep.changes += 1;
                        continue;
                    }
                    Err(e) => panic!("upsert: {e}"),
                }
                model[i] = Some(coa);
            } else if r < 10 + p_ins + p_rem {
                let i = rng.gen_range(STABLE..STABLE + CHURN) as usize;
                let removed = w.remove(BASE + 1 + i as u32);
                assert_eq!(removed, model[i].is_some());
                if removed {
                    live -= 1;
                }
                model[i] = None;
            } else {
                expired.clear();
                w.expire(now, 64, &mut expired);
                for b in &expired {
                    assert!(b.expires_at <= now && !is_stable(b.home));
                    let i = (b.home - BASE - 1) as usize;
                    assert_eq!(model[i], Some(b.coa));
                    model[i] = None;
                    live -= 1;
                }
                rep.expired += expired.len() as u64;
            }
            rep.changes += 1;
        }
        assert_eq!(w.len(), live);
        rep.max_len = rep.max_len.max(live);
        rep.max_probe = rep.max_probe.max(w.stats().max_probe);
        w.publish();
        for &i in &touched {
            sh.published[i].store(stable_version[i], Ordering::Release);
        }
        touched.clear();
        if rep.changes >= next_cycle {
            // End of a remove-heavy half: shrink, so the next insert-heavy
            // half has to grow again.
            next_cycle += CYCLE;
            w.rebuild(0).unwrap();
            rep.explicit_rebuilds += 1;
        }
        if rep.changes >= next_sync {
            next_sync += 50_000;
            let e = w.synchronize();
            assert!(w.visible(e));
            assert_eq!(w.stats().retired_pending, 0);
        }
    }
    w.synchronize();
    rep.model = model;
    (w, rep)
}

fn reader(mut r: RcuReader, table: TableHandle, sh: Arc<Shared>, seed: u64) {
    while !sh.ready.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut keys = [0u32; 32];
    let mut min_version = [0u32; 32];
    let mut bursts = 0u64;
    while !sh.done.load(Ordering::Acquire) {
        for j in 0..32 {
            keys[j] = if j % 2 == 0 {
                BASE + 1 + rng.gen_range(0..STABLE)
            } else {
                BASE + 1 + rng.gen_range(STABLE..STABLE + CHURN + 100)
            };
            // Published before the burst begins => must be visible in it.
            min_version[j] = if is_stable(keys[j]) {
                sh.published[(keys[j] - BASE - 1) as usize].load(Ordering::Acquire)
            } else {
                0
            };
        }
        let g = r.begin();
        let v = table.view(&g);
        assert!(!v.is_poisoned(), "burst started on a freed generation");
        for &k in &keys {
            v.prefetch(k);
        }
        for j in 0..32 {
            if j == 16 && bursts % 16 == 0 {
                // Preempted mid-burst (2 cores, 4 threads): the writer runs
                // and may retire the generation this burst is reading.
                std::thread::yield_now();
            }
            let k = keys[j];
            let got = match v.lookup_checked(k) {
                Ok(l) => l,
                Err(w) => panic!("read freed memory: {w:#018x} looking up {k:#x}"),
            };
            match got {
                Lookup::Miss => assert!(!is_stable(k), "false miss of stable key {k:#x}"),
                Lookup::Wwan => assert!(!is_stable(k), "stable key {k:#x} read as WWAN"),
                Lookup::Nat { .. } => panic!("this test binds no NAT endpoint ({k:#x})"),
                Lookup::CareOf(c) => {
                    let ver = check_coa(k, c)
                        .unwrap_or_else(|| panic!("torn or foreign CoA {c:#x} for {k:#x}"));
                    assert!(
                        ver >= min_version[j],
                        "stale: {k:#x} v{ver} < v{}",
                        min_version[j]
                    );
                }
            }
            if is_stable(k) {
                // The plain fast path agrees on stable keys.
                match v.lookup(k) {
                    Lookup::CareOf(c) => assert!(check_coa(k, c).is_some()),
                    other => panic!("fast path: {other:?} for stable {k:#x}"),
                }
            }
        }
        assert!(!v.is_poisoned(), "generation freed during the burst");
        drop(g);
        bursts += 1;
        if bursts % 8 == 0 {
            std::thread::yield_now();
        }
        if bursts % 256 == 0 {
            // An idle period: must not block the writer's grace periods.
            r.offline();
            std::thread::yield_now();
        }
    }
    sh.bursts.fetch_add(bursts, Ordering::Relaxed);
    sh.lookups.fetch_add(bursts * 32, Ordering::Relaxed);
}

struct RunReport {
    writer: WriterReport,
    stats: msm_table::TableStats,
}

fn run(seed: HashSeed, total: u64) -> RunReport {
    let (rcu, mut readers) = Rcu::new(READERS + 1);
    let mut main_reader = readers.pop().unwrap(); // offline until used
    let cfg = TableConfig {
        initial_capacity: 256,
        max_bindings: MAX_BINDINGS,
        hash_seed: Some(seed),
        huge_pages: false,
        hugetlb: false,
        poison_retired: true,
    };
    let w = TableWriter::new(cfg, rcu).unwrap();
    let table = w.handle();
    let sh = Arc::new(Shared {
        ready: AtomicBool::new(false),
        done: AtomicBool::new(false),
        published: (0..STABLE).map(|_| AtomicU32::new(0)).collect(),
        bursts: AtomicU64::new(0),
        lookups: AtomicU64::new(0),
    });
    let t0 = Instant::now();
    let handles: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let (t, s) = (table.clone(), sh.clone());
            std::thread::spawn(move || reader(r, t, s, i as u64))
        })
        .collect();
    let wsh = sh.clone();
    let wt = std::thread::spawn(move || writer(w, wsh, total));
    let writer_result = wt.join();
    for h in handles {
        h.join().expect("reader panicked");
    }
    let (w, rep) = writer_result.expect("writer panicked");
    let st = w.stats();
    eprintln!(
        "stress {seed:x?}: {} changes in {:.2?}; {} bursts ({} lookups); {st:?}; \
         explicit rebuilds {}, full {}, expired {}, max len {}, max probe {}",
        rep.changes,
        t0.elapsed(),
        sh.bursts.load(Ordering::Relaxed),
        sh.lookups.load(Ordering::Relaxed),
        rep.explicit_rebuilds,
        rep.full,
        rep.expired,
        rep.max_len,
        rep.max_probe
    );
    assert!(rep.changes >= total);
    assert!(sh.bursts.load(Ordering::Relaxed) > 0);
    // Final state, through a worker view, equals the writer's model.
    let g = main_reader.begin();
    let v = table.view(&g);
    for (i, m) in rep.model.iter().enumerate() {
        let home = BASE + 1 + i as u32;
        let want = match m {
            None => Lookup::Miss,
            Some(None) => Lookup::Wwan,
            Some(Some(c)) => Lookup::CareOf(*c),
        };
        assert_eq!(v.lookup(home), want, "key {home:#x}");
    }
    assert_eq!(w.len(), rep.model.iter().filter(|m| m.is_some()).count());
    drop(g);
    RunReport {
        writer: rep,
        stats: st,
    }
}

#[test]
fn concurrent_churn_with_growth_and_rebuilds() {
    let total = ops();
    let good = run(
        HashSeed {
            mul: 0x9e37_79b9_7f4a_7c15,
            add: 0x0123_4567_89ab_cdef,
        },
        total / 2,
    );
    // A structured hash: bucket = low address bits (2^12-periodic
    // collisions, pairs of neighbours share a bucket).
    let structured = run(
        HashSeed {
            mul: 1 << 52,
            add: 0,
        },
        total - total / 2,
    );
    if total >= 300_000 {
        // The runs really exercised what they claim to.
        for r in [&good, &structured] {
            assert!(r.writer.explicit_rebuilds >= 2, "no forced shrink");
            assert!(
                r.stats.growths >= r.writer.explicit_rebuilds,
                "growth after shrinks"
            );
            assert!(r.writer.expired > 0 && r.writer.full > 0);
            assert!(r.writer.max_probe >= 1, "no probe beyond the home bucket");
        }
        let tomb_rebuilds = good.stats.rebuilds + structured.stats.rebuilds
            - good.writer.explicit_rebuilds
            - structured.writer.explicit_rebuilds;
        assert!(tomb_rebuilds > 0, "no tombstone/occupancy rebuild");
    }
}
