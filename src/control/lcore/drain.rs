//! Fair, bounded draining of the workers' rings: round-robin with a rotating start and a
//! per-iteration budget that counts every request taken, so no ring can starve another
//! and no flood can keep the control loop from its commits, replies and housekeeping.

/// A ring the control loop dequeues requests from (a worker's ring; a queue in tests).
pub trait RequestRing {
    type Item;
    /// Hands up to `max` items to `take`; returns how many it handed.
    fn dequeue_up_to(&mut self, max: usize, take: &mut dyn FnMut(Self::Item)) -> usize;
}

/// Most requests taken from one ring before the next ring's turn.
pub const BURST: usize = 32;

/// What one [`RoundRobin::drain`] took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Requests taken off the rings (with or without a reply to come).
    pub taken: usize,
    /// The budget ran out (the rings may hold more).
    pub hit_bound: bool,
}

/// Round-robin over the rings, `BURST` at a time, starting one ring later each call.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    /// Takes at most `budget` requests from `rings` into `take`, a burst per ring per
    /// round, until the budget is spent or a whole round finds every ring empty.
    pub fn drain<R: RequestRing>(
        &mut self,
        rings: &mut [R],
        budget: usize,
        mut take: impl FnMut(R::Item),
    ) -> Drained {
        let n = rings.len();
        let mut d = Drained::default();
        if n == 0 {
            return d;
        }
        let start = self.next % n;
        self.next = (start + 1) % n;
        loop {
            let mut progress = false;
            for k in 0..n {
                let left = budget - d.taken;
                if left == 0 {
                    d.hit_bound = true;
                    return d;
                }
                let got = rings[(start + k) % n].dequeue_up_to(left.min(BURST), &mut take);
                d.taken += got.min(left);
                progress |= got > 0;
            }
            if !progress {
                return d;
            }
        }
    }
}

impl RequestRing for msm_dpdk::RingConsumer {
    type Item = msm_dpdk::Mbuf;

    fn dequeue_up_to(&mut self, max: usize, take: &mut dyn FnMut(msm_dpdk::Mbuf)) -> usize {
        let mut got = 0;
        if max >= BURST {
            let mut burst: msm_dpdk::MbufBurst<BURST> = msm_dpdk::MbufBurst::new();
            got = self.dequeue_burst(&mut burst);
            burst.drain().for_each(take);
        } else {
            while got < max {
                let Some(m) = self.dequeue() else { break };
                take(m);
                got += 1;
            }
        }
        got
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring in a test: `left` items (`usize::MAX`: never empty), each item its ring's id.
    struct TestRing {
        id: usize,
        left: usize,
    }

    impl RequestRing for TestRing {
        type Item = usize;
        fn dequeue_up_to(&mut self, max: usize, take: &mut dyn FnMut(usize)) -> usize {
            let n = max.min(self.left);
            if self.left != usize::MAX {
                self.left -= n;
            }
            (0..n).for_each(|_| take(self.id));
            n
        }
    }

    fn rings(lens: &[usize]) -> Vec<TestRing> {
        lens.iter()
            .enumerate()
            .map(|(id, &left)| TestRing { id, left })
            .collect()
    }

    #[test]
    fn a_flooded_ring_does_not_starve_the_others() {
        let mut rr = RoundRobin::default();
        let mut r = rings(&[usize::MAX, 100, 5]);
        let mut per_ring = [0usize; 3];
        let d = rr.drain(&mut r, 4096, |id| per_ring[id] += 1);
        assert_eq!(
            d,
            Drained {
                taken: 4096,
                hit_bound: true
            }
        );
        assert_eq!(per_ring[1..], [100, 5], "the quiet rings are emptied");
        assert_eq!(per_ring[0], 4096 - 105);
    }

    #[test]
    fn a_small_budget_still_reaches_every_ring() {
        // Budget of one burst: the rotating start gives each ring its turn.
        let mut rr = RoundRobin::default();
        let mut r = rings(&[usize::MAX, usize::MAX, 40]);
        let mut per_ring = [0usize; 3];
        for _ in 0..3 {
            let d = rr.drain(&mut r, BURST, |id| per_ring[id] += 1);
            assert!(d.hit_bound && d.taken == BURST);
        }
        assert_eq!(per_ring, [BURST; 3]);
        // and a budget below a burst
        let mut per_ring = [0usize; 3];
        for _ in 0..6 {
            rr.drain(&mut r, 3, |id| per_ring[id] += 1);
        }
        assert_eq!(per_ring, [6, 6, 6]);
    }

    #[test]
    fn the_budget_holds_for_any_load() {
        let mut rr = RoundRobin::default();
        for budget in [1, 2, 31, 32, 33, 100, 4096] {
            for lens in [[usize::MAX, 0, 0], [7, 0, 9], [usize::MAX; 3], [0; 3]] {
                let mut r = rings(&lens);
                let mut taken = 0;
                let d = rr.drain(&mut r, budget, |_| taken += 1);
                assert_eq!(d.taken, taken);
                assert!(taken <= budget, "{taken} > {budget}");
                let total = lens.iter().fold(0usize, |a, &l| a.saturating_add(l));
                assert_eq!(taken, total.min(budget), "takes all it may: {lens:?}");
                assert_eq!(d.hit_bound, total >= budget);
            }
        }
    }

    #[test]
    fn empty_rings_and_no_rings() {
        let mut rr = RoundRobin::default();
        let mut none: Vec<TestRing> = Vec::new();
        assert_eq!(rr.drain(&mut none, 10, |_| ()), Drained::default());
        let mut r = rings(&[0, 0]);
        assert_eq!(rr.drain(&mut r, 10, |_| ()), Drained::default());
    }

    /// The control loop's shape under a flood on every ring: each iteration drains within
    /// the budget and returns, so the housekeeping after it runs every iteration.
    #[test]
    fn housekeeping_runs_every_iteration_under_a_flood() {
        let mut rr = RoundRobin::default();
        let mut r = rings(&[usize::MAX, usize::MAX]);
        let mut housekeeping = 0;
        let mut taken = 0;
        for i in 1..=1000 {
            let d = rr.drain(&mut r, 256, |_| taken += 1);
            assert!(d.hit_bound);
            housekeeping += 1;
            assert_eq!(housekeeping, i);
        }
        assert_eq!(taken, 256 * 1000);
    }
}
