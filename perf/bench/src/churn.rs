//! Memory under churn: repeated unbind / move / rebind of a share of a bound
//! population through `TableWriter` (as registrations, deregistrations and
//! handovers would do), with the process' resident set size sampled after
//! every round. A table that leaks (retired generations never reclaimed,
//! tombstones never cleaned, side arrays reallocated) grows here.

use crate::traffic;
use msm_table::TableWriter;
use rand::Rng;
use std::time::Instant;

/// One churn round.
#[derive(Debug, Clone)]
pub struct Round {
    /// Table operations in the round (removes + moves + re-inserts).
    pub ops: u64,
    pub seconds: f64,
    /// `VmRSS` after the round (KiB).
    pub rss_kib: u64,
    /// `TableWriter::memory_bytes()` after the round.
    pub table_bytes: usize,
    pub bindings: usize,
}

/// A churn run.
#[derive(Debug, Clone)]
pub struct Churn {
    pub bindings: usize,
    pub share: f64,
    /// RSS before the first round (KiB).
    pub rss_start_kib: u64,
    pub table_bytes_start: usize,
    pub rounds: Vec<Round>,
}

impl Churn {
    /// RSS after the last round minus RSS after the first (KiB): growth once
    /// the churn is in its steady state.
    pub fn growth_kib(&self) -> i64 {
        match (self.rounds.first(), self.rounds.last()) {
            (Some(f), Some(l)) => l.rss_kib as i64 - f.rss_kib as i64,
            _ => 0,
        }
    }
    /// Whether the RSS stayed flat: growth from the first to the last round
    /// within 1 % of the table's memory plus 4 MiB (allocator noise).
    pub fn flat(&self) -> bool {
        let tol = self.table_bytes_start as i64 / 1024 / 100 + 4096;
        self.growth_kib() <= tol
    }
}

/// `VmRSS` of this process (KiB).
pub fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// `rounds` rounds over the bound population `homes` (every home bound to
/// `coa_of(home)`, in random order): per round, unbind a share of them,
/// move another share to `moved_coa` (or back), publish, rebind the unbound
/// ones, publish and wait for the grace period (reclaiming retired
/// generations). No worker is online, so grace periods end at once.
pub fn run(
    w: &mut TableWriter,
    homes: &[u32],
    rounds: usize,
    share: f64,
    rng: &mut impl Rng,
) -> Result<Churn, String> {
    let n = homes.len();
    let k = ((n as f64 * share) as usize).clamp(1, n / 2);
    let mut c = Churn {
        bindings: n,
        share,
        rss_start_kib: rss_kib().unwrap_or(0),
        table_bytes_start: w.memory_bytes(),
        rounds: Vec::with_capacity(rounds),
    };
    for r in 0..rounds {
        let t = Instant::now();
        let start = rng.gen_range(0..n);
        let pick = |i: usize| homes[(start + i) % n];
        let mut ops = 0u64;
        for i in 0..k {
            if !w.remove(pick(i)) {
                return Err(format!("churn round {r}: home not bound"));
            }
            ops += 1;
        }
        for i in k..2 * k {
            let h = pick(i);
            let coa = if r % 2 == 0 {
                traffic::moved_coa(h)
            } else {
                traffic::coa_of(h)
            };
            w.upsert(h, Some(coa), 46_700_000_000, u32::MAX)
                .map_err(|e| format!("churn move: {e}"))?;
            ops += 1;
        }
        w.publish();
        for i in 0..k {
            let h = pick(i);
            w.upsert(h, Some(traffic::coa_of(h)), 46_700_000_000, u32::MAX)
                .map_err(|e| format!("churn rebind: {e}"))?;
            ops += 1;
        }
        w.synchronize();
        if w.len() != n {
            return Err(format!("churn round {r}: {} bindings, not {n}", w.len()));
        }
        c.rounds.push(Round {
            ops,
            seconds: t.elapsed().as_secs_f64(),
            rss_kib: rss_kib().unwrap_or(0),
            table_bytes: w.memory_bytes(),
            bindings: w.len(),
        });
        let last = c.rounds.last().map(|r| r.rss_kib).unwrap_or(0);
        eprintln!(
            "msm-bench: churn round {r}: {ops} ops in {:.2} s, RSS {:.1} MiB",
            t.elapsed().as_secs_f64(),
            last as f64 / 1024.0
        );
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use msm_table::{Rcu, TableConfig};
    use rand::SeedableRng;

    #[test]
    fn churn_keeps_the_population_and_reports_rounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let homes = traffic::population(20_000, &mut rng).unwrap();
        let (rcu, _readers) = Rcu::new(1);
        let mut w = TableWriter::new(TableConfig::new(homes.len()), rcu).unwrap();
        for &h in &homes {
            w.upsert(h, Some(traffic::coa_of(h)), 1, u32::MAX).unwrap();
        }
        w.publish();
        let c = run(&mut w, &homes, 6, 0.2, &mut rng).unwrap();
        assert_eq!(c.rounds.len(), 6);
        assert!(c
            .rounds
            .iter()
            .all(|r| r.bindings == 20_000 && r.ops == 12_000));
        assert!(c.rss_start_kib > 0);
        // Every home is bound again, to its care-of address or the moved one.
        for &h in &homes {
            let coa = w.get(h).expect("bound").coa;
            assert!(coa == Some(traffic::coa_of(h)) || coa == Some(traffic::moved_coa(h)));
        }
    }
}
