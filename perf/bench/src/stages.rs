//! The worker's per-stage cycle counters over a measurement window, printed
//! after each run of a `--features stage-cycles` build (`msm::dataplane::instrument`).
//! Without the feature the worker has no stage counters and this prints
//! nothing.
//!
//! The `rx` stage contains this harness' packet source (the rx callback runs
//! inside `rte_eth_rx_burst`) and `tx` its output check (tx callback); both
//! time themselves, so their share is printed next to those stages.

use msm::dataplane::counters::Counters;
use msm::dataplane::instrument::{Stage, StageSnapshot};

/// Stage counters at the start and the end of a measurement window.
#[derive(Debug, Default)]
pub struct Window {
    first: Option<StageSnapshot>,
    last: Option<StageSnapshot>,
}

impl Window {
    /// At the window's first mark.
    pub fn start(&mut self, c: &Counters) {
        self.first = c.stage_snapshot();
    }
    /// At the window's last mark.
    pub fn end(&mut self, c: &Counters) {
        self.last = c.stage_snapshot();
    }
    /// The counters over the window, if the worker has them.
    pub fn delta(&self) -> Option<StageSnapshot> {
        Some(self.last.as_ref()?.since(self.first.as_ref()?))
    }
    /// Prints the stage table of run `name` to stderr; `source` and `check`
    /// are the harness' own ticks per packet inside `rx` and `tx`.
    pub fn print(&self, name: &str, source: f64, check: f64) {
        let Some(d) = self.delta().filter(|d| d.packets() > 0) else {
            return;
        };
        eprintln!("msm-bench: {name}: worker stage cycles (TSC ticks) over the window:");
        for line in d.table().lines() {
            eprintln!("msm-bench:   {line}");
        }
        let rx = d.per_packet(Stage::Rx);
        let tx = d.per_packet(Stage::Tx);
        eprintln!(
            "msm-bench:   rx {rx:.1}/pkt includes the packet source ({source:.1}): {:.1} without; \
             tx {tx:.1}/pkt includes the output check ({check:.1}): {:.1} without; \
             worker total without them {:.1}/pkt ({:.1} net of the instrumentation)",
            rx - source,
            tx - check,
            d.total_ticks() as f64 / d.packets().max(1) as f64 - source - check,
            d.total_ticks() as f64 / d.packets().max(1) as f64
                - source
                - check
                - d.overhead_per_packet()
        );
    }
}
