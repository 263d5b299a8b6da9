//! With `stage-cycles`: where the pipeline's per-packet marks fall.

use super::*;

/// With `stage-cycles`, the per-packet marks sit where the stage table says: a downlink
/// packet is classified, rewritten (TTL, MSS) and looked up once each; a reverse-tunnelled
/// one is classified twice (outer, then the inner packet's routing) around one
/// anti-spoofing lookup. The marks telescope: their ticks fit in the time around them.
/// Outside a sampled burst they do nothing.
#[test]
fn stage_marks_follow_the_pipeline() {
    use crate::dataplane::instrument::{Clock, Stage, StageSnapshot, Step, SAMPLE_EVERY};
    let r = Rig::new();
    let steps = |s: &StageSnapshot| {
        Step::ALL
            .iter()
            .map(|st| s.step_events[*st as usize])
            .collect::<Vec<_>>()
    };
    let mut clock = Clock::new();
    // One frame in a sampled burst (retried if this thread was preempted during it):
    // the marks it made, and the ticks around it.
    let mut sampled_run = |frame: &[u8]| -> (StageSnapshot, u64) {
        loop {
            let before = r.counters.stage_snapshot().unwrap();
            let mut sampled = false;
            let t0 = msm_dpdk::rdtsc();
            for _ in 0..SAMPLE_EVERY {
                sampled = clock.begin_burst(&r.counters);
            }
            assert!(sampled, "every {SAMPLE_EVERY}th burst is sampled");
            assert_eq!(r.run(1, frame).0, Action::Tx(1));
            clock.end_burst(&r.counters, sampled, 1);
            let t1 = msm_dpdk::rdtsc();
            clock.publish(&r.counters);
            let d = r.counters.stage_snapshot().unwrap().since(&before);
            if d.discarded_bursts == 0 {
                assert_eq!(d.sampled_packets(), 1);
                assert_eq!(d.events[Stage::ProcessSampled as usize], 1);
                return (d, t1 - t0);
            }
        }
    };
    // Not sampling: nothing is recorded.
    let f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"hello mobile");
    assert_eq!(r.run(1, &f).0, Action::Tx(1));
    assert_eq!(steps(&r.counters.stage_snapshot().unwrap()), vec![0; 4]);

    // Downlink: classify, rewrite (TTL/MSS before the lookup), lookup.
    let (d, around) = sampled_run(&f);
    assert_eq!(steps(&d), vec![1, 1, 1, 0]);
    let ticks: u64 = d.step_ticks.iter().sum();
    assert!(ticks > 0 && ticks <= around, "{ticks} within {around}");
    // Reverse tunnel: classify (outer), lookup (anti-spoofing), classify (inner route).
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"uplink")[14..];
    let tunnelled = ipip_frame(INET_MAC, COA, MSM_WLAN, inner);
    let (d, _) = sampled_run(&tunnelled);
    assert_eq!(steps(&d), vec![2, 1, 0, 0]);
    // Marks after the burst ended do nothing.
    let s = r.counters.stage_snapshot().unwrap();
    assert_eq!(r.run(1, &f).0, Action::Tx(1));
    assert_eq!(
        r.counters.stage_snapshot().unwrap().step_events,
        s.step_events
    );
}
