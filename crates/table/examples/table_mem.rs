//! Memory and speed of the binding table at 10 million bindings.
//!
//! `cargo run --release -p msm-table --example table_mem [N]`
//!
//! Fills N (default 10,000,000) bindings into a pre-sized table, prints bytes
//! per binding, fill time, single-thread lookups/s for random hits and misses
//! in bursts of 32 (with and without prefetching the burst first), then churns
//! the table (remove + insert) and measures again, and finally fills a table
//! that starts small, to time growth.

use msm_table::{Lookup, Rcu, RcuReader, TableConfig, TableHandle, TableWriter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Instant;

const POOL: u32 = 0x0a00_0001; // 10.0.0.1 ...
const BURST: usize = 32;

fn coa(home: u32) -> Option<u32> {
    // 1 in 4 on the WWAN, the rest behind some care-of address.
    (home % 4 != 0).then_some(0xc000_0000 | (home.wrapping_mul(2_654_435_761) >> 8))
}

fn anon_huge_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let line = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn thp_mode() -> String {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Lookups per second over `keys`, in bursts of 32, one reader.
fn bench(r: &mut RcuReader, t: &TableHandle, keys: &[u32], prefetch: bool) -> (f64, u64) {
    let mut found = 0u64;
    let t0 = Instant::now();
    for burst in keys.chunks_exact(BURST) {
        let g = r.begin();
        let v = t.view(&g);
        if prefetch {
            for &k in burst {
                v.prefetch(k);
            }
        }
        for &k in burst {
            if black_box(v.lookup(k)) != Lookup::Miss {
                found += 1;
            }
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    (keys.len() as f64 / dt, found)
}

fn report_lookups(r: &mut RcuReader, t: &TableHandle, hits: &[u32], misses: &[u32]) {
    for (name, keys, expect_hits) in [("hits", hits, true), ("misses", misses, false)] {
        for prefetch in [true, false] {
            // Warm-up pass, then the measured one.
            bench(r, t, &keys[..keys.len() / 8], prefetch);
            let (rate, found) = bench(r, t, keys, prefetch);
            let want = if expect_hits { keys.len() as u64 } else { 0 };
            assert_eq!(found, want, "{name}: wrong lookup results");
            println!(
                "  lookups, random {name:6} {}: {:6.1} M/s ({:5.1} ns each)",
                if prefetch {
                    "prefetch  "
                } else {
                    "no prefetch"
                },
                rate / 1e6,
                1e9 / rate
            );
        }
    }
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N"))
        .unwrap_or(10_000_000);
    println!("THP: {}", thp_mode());
    let (rcu, mut readers) = Rcu::new(1);
    let mut r = readers.pop().unwrap();

    // --- Pre-sized fill ---------------------------------------------------
    let mut w = TableWriter::new(TableConfig::new(n as usize), rcu.clone()).unwrap();
    let t = w.handle();
    let t0 = Instant::now();
    for i in 0..n {
        let home = POOL + i;
        w.upsert(home, coa(home), 4_670_000_000_000 + u64::from(i), 3600)
            .unwrap();
    }
    w.publish();
    let fill = t0.elapsed();
    let st = w.stats();
    println!(
        "fill {n} bindings (pre-sized): {:.2?} ({:.0} ns/insert)",
        fill,
        fill.as_nanos() as f64 / f64::from(n)
    );
    println!(
        "  buckets {} slots {} load {:.3} max_probe {} huge-page mmap {} AnonHugePages {} MiB",
        st.buckets,
        st.slots,
        st.len as f64 / st.slots as f64,
        st.max_probe,
        st.huge_pages,
        anon_huge_kib().map_or(-1, |k| (k / 1024) as i64)
    );
    println!(
        "  memory {:.1} MiB = {:.2} bytes/binding (8 B slot + 12 B writer metadata per slot, / load)",
        st.memory_bytes as f64 / (1 << 20) as f64,
        st.memory_bytes as f64 / st.len as f64
    );

    let mut rng = StdRng::seed_from_u64(1);
    let n_lookups = 4 << 20;
    let hits: Vec<u32> = (0..n_lookups).map(|_| POOL + rng.gen_range(0..n)).collect();
    // Outside the pool (100.64.0.0/10): never bound.
    let misses: Vec<u32> = (0..n_lookups)
        .map(|_| 0x6440_0000 + rng.gen_range(0..1 << 22))
        .collect();
    report_lookups(&mut r, &t, &hits, &misses);

    // --- Churn at full size -----------------------------------------------
    // Remove a random bound address and bind a fresh one, 2 changes each;
    // publish every 64 changes.
    // The reader is idle meanwhile: offline, or `synchronize` (from this very
    // thread) would wait for it forever.
    r.offline();
    let churn = (n / 5).max(1);
    let mut live: Vec<u32> = (0..n).map(|i| POOL + i).collect();
    let t0 = Instant::now();
    for c in 0..churn {
        let next = POOL + n + c;
        let j = rng.gen_range(0..live.len());
        assert!(w.remove(live[j]));
        w.upsert(next, coa(next), 1, 7200).unwrap();
        live[j] = next;
        if c % 32 == 31 {
            w.publish();
        }
    }
    w.synchronize();
    let dt = t0.elapsed();
    let st = w.stats();
    println!(
        "churn {} changes at {} bindings: {:.2?} ({:.0} ns/change incl. rebuilds); \
         tombstones {} rebuilds {} max_probe {}",
        2 * churn,
        st.len,
        dt,
        dt.as_nanos() as f64 / (2.0 * f64::from(churn)),
        st.tombstones,
        st.rebuilds,
        st.max_probe
    );
    let hits: Vec<u32> = (0..n_lookups)
        .map(|_| live[rng.gen_range(0..live.len())])
        .collect();
    report_lookups(&mut r, &t, &hits, &misses);

    // Tombstone cleanup / rebuild cost at full size.
    let t0 = Instant::now();
    w.rebuild(0).unwrap();
    println!(
        "explicit rebuild of {} bindings: {:.2?}",
        w.len(),
        t0.elapsed()
    );

    // Expiry sweep cost: scan everything, nothing expires.
    let mut out = Vec::new();
    let t0 = Instant::now();
    let mut scanned = 0;
    while scanned < w.stats().slots {
        scanned += w.expire(0, 1 << 16, &mut out).scanned;
    }
    println!(
        "expiry sweep of {} slots (64Ki per call): {:.2?}",
        scanned,
        t0.elapsed()
    );
    drop(r);
    drop(w);
    drop(t);

    // --- Fill with growth -------------------------------------------------
    let mut cfg = TableConfig::new(n as usize);
    cfg.initial_capacity = 1024;
    let mut w = TableWriter::new(cfg, rcu).unwrap();
    let t0 = Instant::now();
    let mut worst = std::time::Duration::ZERO;
    for i in 0..n {
        let home = POOL + i;
        let t1 = Instant::now();
        w.upsert(home, coa(home), 1, 3600).unwrap();
        worst = worst.max(t1.elapsed());
    }
    let st = w.stats();
    println!(
        "fill {n} from initial capacity 1024: {:.2?}, {} growths, longest single upsert (last growth) {:.2?}",
        t0.elapsed(),
        st.growths,
        worst
    );
}
