//! The stage counters' accounting: laps tile the loop, marks land in the sampled bursts.

use super::*;
use crate::dataplane::counters::Counters;

fn spin(n: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..n {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

/// The laps tile the loop: their sum is the elapsed time, which lies inside the
/// wall time around it; events and laps land on their stages; one burst in
/// SAMPLE_EVERY gets per-packet marks; publish/snapshot round-trips.
#[test]
fn laps_add_up_to_the_elapsed_ticks() {
    let c = Counters::default();
    let before = msm_dpdk::rdtsc();
    let mut clk = Clock::new();
    let (mut empty, mut bursts) = (0u64, 0u64);
    for round in 0..3 * SAMPLE_EVERY {
        spin(10);
        if round % 3 == 0 {
            clk.lap(Stage::PollEmpty, 1);
            empty += 1;
        } else {
            bursts += 1;
            clk.lap(Stage::Rx, 32);
            spin(20);
            clk.lap(Stage::Prefetch, 32);
            let sampled = clk.begin_burst(&c);
            for _ in 0..32 {
                spin(2);
                c.step(Step::Classify);
                spin(2);
                c.step(Step::Lookup);
                spin(2);
                c.step(Step::Rewrite);
                c.step(Step::Enqueue);
            }
            clk.end_burst(&c, sampled, 32);
            spin(5);
            clk.lap(Stage::Tx, 0);
        }
        clk.lap(Stage::Bookkeeping, 0);
        clk.publish(&c);
    }
    let after = msm_dpdk::rdtsc();
    let s = c.stage_snapshot().unwrap();
    assert_eq!(s.total_ticks(), s.elapsed, "stages tile the loop");
    assert!(s.elapsed <= after - before, "inside the wall time");
    // (A lap of this thread may have been preempted: it then went to `interrupted`.)
    for st in [Stage::Rx, Stage::Prefetch, Stage::Process, Stage::Tx] {
        assert!(s.ticks[st as usize] > 0, "{st:?}");
    }
    assert_eq!(s.ticks[Stage::Control as usize], 0, "never lapped");
    assert_eq!(s.events[Stage::PollEmpty as usize], empty);
    assert_eq!(s.packets(), bursts * 32);
    // 2 laps per empty round, 5 per busy one.
    assert_eq!(s.laps.iter().sum::<u64>(), 2 * empty + 5 * bursts);
    assert!(s.laps[Stage::Rx as usize] <= bursts);
    assert_eq!(
        s.events[Stage::Process as usize] + s.events[Stage::ProcessSampled as usize],
        s.packets()
    );
    let sampled_bursts = bursts / SAMPLE_EVERY;
    assert!(sampled_bursts >= 1);
    assert_eq!(
        s.events[Stage::ProcessSampled as usize],
        sampled_bursts * 32
    );
    assert_eq!(
        s.sampled_packets() + 32 * s.discarded_bursts,
        sampled_bursts * 32
    );
    for st in Step::ALL {
        assert_eq!(s.step_events[*st as usize], s.sampled_packets(), "{st:?}");
    }
    // The kept steps happen inside the sampled bursts' process stage.
    let steps: u64 = s.step_ticks.iter().sum();
    assert!(
        steps <= s.ticks[Stage::ProcessSampled as usize] + s.ticks[Stage::Interrupted as usize]
    );
    // Calibrated costs: a lap and a mark each cost something, and the net figures
    // are the raw ones minus that cost.
    assert!(
        s.lap_cost > 0 && s.mark_cost > 0,
        "{} {}",
        s.lap_cost,
        s.mark_cost
    );
    assert!(s.net_per_packet(Stage::Rx) <= s.per_packet(Stage::Rx));
    assert!(s.overhead_per_packet() > 0.0);
    // Marks outside a sampled burst do nothing.
    let before = c.stage_snapshot().unwrap();
    c.step(Step::Lookup);
    assert_eq!(c.stage_snapshot().unwrap(), before);
    // since() of a snapshot with itself is zero but keeps the costs; the table and
    // the JSON name every stage.
    let z = s.since(&s);
    assert_eq!(
        (z.total_ticks(), z.packets(), z.lap_cost),
        (0, 0, s.lap_cost)
    );
    let t = s.table();
    for st in Stage::ALL {
        assert!(t.contains(st.name()), "{t}");
    }
    for st in Step::ALL {
        assert!(t.contains(st.name()), "{t}");
    }
    let j = s.json();
    assert_eq!(j["packets"], bursts * 32);
    assert_eq!(j["stages"]["poll_empty"]["events"], empty);
}
