//! A copy of one worker's stage counters, and the tables (text, JSON) made from it.

use super::{Stage, Step, SAMPLE_EVERY};

/// A copy of one worker's stage counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageSnapshot {
    pub ticks: [u64; Stage::COUNT],
    pub events: [u64; Stage::COUNT],
    /// Laps charged to each stage (each lap contains one `rdtsc`: see `lap_cost`).
    pub laps: [u64; Stage::COUNT],
    /// Ticks from the worker's start to its last published lap (= the sum of `ticks`).
    pub elapsed: u64,
    pub step_ticks: [u64; Step::COUNT],
    /// Passes through each step (each contains one fenced mark: see `mark_cost`).
    pub step_events: [u64; Step::COUNT],
    /// Sampled bursts whose marks were discarded because the burst was interrupted.
    pub discarded_bursts: u64,
    /// Packets of the sampled bursts whose marks were kept.
    pub sampled_kept: u64,
    /// What one lap / one mark costs by itself, calibrated by the worker when it starts
    /// (median of back-to-back laps / marks). Not differences: constants of the run.
    pub lap_cost: u64,
    pub mark_cost: u64,
}

impl StageSnapshot {
    /// Sum of all stages' ticks.
    pub fn total_ticks(&self) -> u64 {
        self.ticks.iter().sum()
    }
    /// Packets received (the denominator of every per-packet figure).
    pub fn packets(&self) -> u64 {
        self.events[Stage::Rx as usize]
    }
    /// Packets of the sampled bursts whose marks were kept (the denominator of the
    /// [`Step`] figures).
    pub fn sampled_packets(&self) -> u64 {
        self.sampled_kept
    }
    /// The difference `self - earlier` (counters of one worker over an interval).
    pub fn since(&self, earlier: &StageSnapshot) -> StageSnapshot {
        let sub = |a: &[u64], b: &[u64], out: &mut [u64]| {
            for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
                *o = x.wrapping_sub(*y);
            }
        };
        let mut d = StageSnapshot {
            elapsed: self.elapsed.wrapping_sub(earlier.elapsed),
            discarded_bursts: self.discarded_bursts.wrapping_sub(earlier.discarded_bursts),
            sampled_kept: self.sampled_kept.wrapping_sub(earlier.sampled_kept),
            lap_cost: self.lap_cost,
            mark_cost: self.mark_cost,
            ..StageSnapshot::default()
        };
        sub(&self.ticks, &earlier.ticks, &mut d.ticks);
        sub(&self.events, &earlier.events, &mut d.events);
        sub(&self.laps, &earlier.laps, &mut d.laps);
        sub(&self.step_ticks, &earlier.step_ticks, &mut d.step_ticks);
        sub(&self.step_events, &earlier.step_events, &mut d.step_events);
        d
    }
    /// Ticks of `s` per received packet.
    pub fn per_packet(&self, s: Stage) -> f64 {
        self.ticks[s as usize] as f64 / self.packets().max(1) as f64
    }
    /// Ticks of `s` per received packet without the cost of its laps' own `rdtsc`.
    pub fn net_per_packet(&self, s: Stage) -> f64 {
        let i = s as usize;
        self.ticks[i].saturating_sub(self.laps[i] * self.lap_cost) as f64
            / self.packets().max(1) as f64
    }
    /// Ticks of step `s` per sampled packet, without the marks' own cost.
    pub fn net_step_per_packet(&self, s: Step) -> f64 {
        let i = s as usize;
        self.step_ticks[i].saturating_sub(self.step_events[i] * self.mark_cost) as f64
            / self.sampled_packets().max(1) as f64
    }
    /// What the instrumentation itself costs per received packet: every lap's `rdtsc`,
    /// and the marks in the sampled bursts.
    pub fn overhead_per_packet(&self) -> f64 {
        let laps: u64 = self.laps.iter().sum();
        let marks: u64 = self.step_events.iter().sum();
        (laps * self.lap_cost + marks * self.mark_cost) as f64 / self.packets().max(1) as f64
    }

    /// A plain-text table: one line per stage (ticks, share of the loop, ticks per
    /// received packet with and without the laps' own cost, laps, events), then the
    /// sampled per-packet steps.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let total = self.total_ticks().max(1) as f64;
        let pkts = self.packets().max(1) as f64;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<16} {:>14} {:>7} {:>9} {:>9} {:>11} {:>11}",
            "stage", "ticks", "share", "tick/pkt", "net/pkt", "laps", "events"
        );
        for st in Stage::ALL {
            let i = *st as usize;
            let _ = writeln!(
                s,
                "{:<16} {:>14} {:>6.1}% {:>9.1} {:>9.1} {:>11} {:>11}",
                st.name(),
                self.ticks[i],
                100.0 * self.ticks[i] as f64 / total,
                self.per_packet(*st),
                self.net_per_packet(*st),
                self.laps[i],
                self.events[i]
            );
        }
        let net_total: f64 = Stage::ALL.iter().map(|st| self.net_per_packet(*st)).sum();
        let _ = writeln!(
            s,
            "{:<16} {:>14} {:>6.1}% {:>9.1} {:>9.1} {:>11} {:>11}",
            "total",
            self.total_ticks(),
            100.0,
            self.total_ticks() as f64 / pkts,
            net_total,
            self.laps.iter().sum::<u64>(),
            self.packets()
        );
        let _ = writeln!(
            s,
            "one lap costs {} ticks, one mark {}; instrumentation {:.1} ticks/pkt in all",
            self.lap_cost,
            self.mark_cost,
            self.overhead_per_packet()
        );
        let sp = self.sampled_packets();
        if sp > 0 {
            let _ = writeln!(
                s,
                "per-packet steps in the sampled bursts (1 in {SAMPLE_EVERY}; {sp} packets; \
                 {} interrupted bursts left out):",
                self.discarded_bursts
            );
            let _ = writeln!(
                s,
                "  {:<14} {:>14} {:>9} {:>9} {:>11}",
                "step", "ticks", "tick/pkt", "net/pkt", "passes"
            );
            for st in Step::ALL {
                let i = *st as usize;
                let _ = writeln!(
                    s,
                    "  {:<14} {:>14} {:>9.1} {:>9.1} {:>11}",
                    st.name(),
                    self.step_ticks[i],
                    self.step_ticks[i] as f64 / sp as f64,
                    self.net_step_per_packet(*st),
                    self.step_events[i]
                );
            }
        }
        s
    }

    /// The JSON object `msm ctl stats` shows per worker.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let pkts = self.packets().max(1) as f64;
        let mut stages = Map::new();
        for st in Stage::ALL {
            let i = *st as usize;
            stages.insert(
                st.name().into(),
                json!({"ticks": self.ticks[i], "laps": self.laps[i], "events": self.events[i],
                       "ticks_per_packet": self.per_packet(*st),
                       "net_ticks_per_packet": self.net_per_packet(*st)}),
            );
        }
        let mut steps = Map::new();
        for st in Step::ALL {
            let i = *st as usize;
            steps.insert(
                st.name().into(),
                json!({"ticks": self.step_ticks[i], "passes": self.step_events[i],
                       "net_ticks_per_sampled_packet": self.net_step_per_packet(*st)}),
            );
        }
        json!({
            "elapsed_ticks": self.elapsed,
            "packets": self.packets(),
            "ticks_per_packet": self.total_ticks() as f64 / pkts,
            "lap_cost_ticks": self.lap_cost,
            "mark_cost_ticks": self.mark_cost,
            "instrumentation_ticks_per_packet": self.overhead_per_packet(),
            "stages": Value::Object(stages),
            "sample_every_bursts": SAMPLE_EVERY,
            "sampled_packets": self.sampled_packets(),
            "discarded_sampled_bursts": self.discarded_bursts,
            "steps": Value::Object(steps),
        })
    }
}
