//! Per-stage cycle counters of the worker loop (cargo feature `stage-cycles`).
//!
//! Built without the feature (the default), everything here is a zero-sized type or an
//! empty `#[inline(always)]` function: the worker and the pipeline contain no extra
//! instruction (checked on the disassembly of `msm::dataplane::worker::run`, see perf/README.md,
//! "Profiling: flamegraphs and stage counters").
//!
//! Built with `--features stage-cycles`, each worker times its loop with the TSC:
//!
//! * **Per burst, every burst** ([`Stage`]): a worker-local [`Clock`] takes one plain
//!   `rdtsc` at each stage boundary and charges the ticks since the previous boundary to
//!   the stage that just ended ("laps"), so the stages tile the loop without gaps: their
//!   sum is exactly the ticks elapsed since the worker started. The clock is published
//!   once per round of polls with relaxed stores into the worker's [`StageCounters`]
//!   (inside its [`Counters`]): single writer, no atomic read-modify-write, like the
//!   other counters.
//! * **Per packet, one burst in [`SAMPLE_EVERY`]** ([`Step`]): inside those bursts the
//!   pipeline marks the end of classification, of each binding lookup, of the rewrite,
//!   and of the tx staging, with a fenced `rdtsc` (`lfence; rdtsc; lfence`, so a
//!   lookup's cache miss is charged to the lookup and not to whatever instruction first
//!   uses its result). Per-packet marks in every burst would cost more than the
//!   stages they measure; one burst in 256 still gives tens of thousands of sampled
//!   packets a second. The sampled bursts' `process` time is kept apart
//!   ([`Stage::ProcessSampled`]) so that `process` stays unperturbed.
//! * **Interruptions**: the TSC runs on while the thread is preempted. A lap longer
//!   than [`INTERRUPTED_US`] goes to [`Stage::Interrupted`] instead of its stage, and a
//!   sampled burst that long has its marks discarded, so a shared or noisy core shows
//!   up as such instead of inflating whatever stage was running.
//! * **Their own cost**: each lap and each mark includes one `rdtsc` (calibrated at about
//!   25 ticks per lap and 65 to 75 per fenced mark on this project's VM). The clock calibrates both when the worker starts
//!   (median of back-to-back laps and marks) and the tables show each stage and step
//!   with that cost subtracted ("net"), and the instrumentation's total per packet.
//!
//! How to read them: [`StageSnapshot::table`] (printed by msm-bench),
//! [`StageSnapshot::json`] (`msm ctl stats`), and perf/README.md. TSC ticks are not core cycles (the TSC runs at its nominal rate);
//! stage boundaries taken with an unfenced `rdtsc` are exact to within the CPU's
//! out-of-order window (some tens of ticks per burst, under 2 ticks per packet at 32
//! packets a burst).

#[cfg(doc)]
use crate::dataplane::counters::Counters;

use crate::dataplane::counters::counter_enum;

counter_enum! {
    /// Stages of the worker loop, timed every burst. They tile the loop: every tick of
    /// the worker is charged to exactly one of them.
    Stage {
        /// `rte_eth_rx_burst` calls that returned nothing (idle polling). Events: polls.
        PollEmpty = "poll_empty",
        /// `rte_eth_rx_burst` calls that returned packets (the PMD's rx, and any rx
        /// callback such as msm-bench's packet source). Events: packets.
        Rx = "rx",
        /// Classifying each packet (Ethernet, IPv4 header and checksum, the inner header
        /// of a tunnelled packet, martian checks: `classify.rs`) and prefetching the
        /// buckets it will look up. Events: packets.
        Prefetch = "prefetch",
        /// The per-packet loop (classify, look up, rewrite, stage for tx) of bursts
        /// without per-packet marks. Events: packets.
        Process = "process",
        /// The same loop in the sampled bursts (with per-packet marks, see [`Step`]).
        /// Events: packets.
        ProcessSampled = "process_sampled",
        /// Flushing the tx staging: `rte_eth_tx_burst` (and any tx callback), retries,
        /// freeing what was refused. Events: none.
        Tx = "tx",
        /// Handing registrations and ARP to the control lcore's ring. Events: none.
        Control = "control",
        /// Everything else: the stop check, the per-burst clock and counters, the RCU
        /// read-side section (begin, quiescent state), publishing these counters.
        /// Events: non-empty bursts.
        Bookkeeping = "bookkeeping",
        /// Laps longer than [`INTERRUPTED_US`]: the thread was preempted or interrupted
        /// (other processes, the kernel). None on a dedicated core. Their events stay
        /// with the stage they belong to.
        Interrupted = "interrupted",
    }
}

counter_enum! {
    /// Per-packet steps inside [`Stage::ProcessSampled`] (sampled bursts only). A packet
    /// may pass a step more than once (a decapsulated packet is classified again);
    /// events count the passes.
    Step {
        /// From the end of the previous packet to the first binding lookup (or to the
        /// rewrite when there is none): the loop step, the dispatch on the packet's
        /// classification (done in [`Stage::Prefetch`]), stripping Ethernet padding, the
        /// routing decision; for IP-in-IP the tunnel checks; after a decapsulation, the
        /// inner packet's routing decision.
        Classify = "classify",
        /// One binding-table lookup (its bucket should already be in cache: prefetch).
        Lookup = "lookup",
        /// From the decision (or the lookup) to the end of `pipeline::process`: TTL and
        /// checksum update, MSS clamp, encapsulation or decapsulation, Ethernet header;
        /// for packets handled locally or dropped, whatever followed the last mark.
        Rewrite = "rewrite",
        /// Acting on `process`'s verdict: pushing to the per-port tx staging (a full
        /// staging flushes here), the control burst, fragmentation.
        Enqueue = "enqueue",
    }
}

/// One burst in this many gets per-packet [`Step`] marks (a power of two). A downlink
/// packet passes 5 marks of 65 to 75 ticks each, more than its whole processing, so
/// marking every burst would measure mostly the marks; one in 256 costs about 1.3 ticks
/// per packet on average and still gives tens of thousands of sampled packets a second.
pub const SAMPLE_EVERY: u64 = 256;
const _: () = assert!(SAMPLE_EVERY.is_power_of_two());

/// A lap longer than this (µs) is charged to [`Stage::Interrupted`], and a sampled burst
/// whose packet loop took longer has its [`Step`] marks discarded: the longest regular
/// lap, a burst of 32 packets processed, is well under 10 µs.
pub const INTERRUPTED_US: u64 = 50;

/// Whether this build has the stage counters.
pub const ENABLED: bool = cfg!(feature = "stage-cycles");

mod snapshot;
pub use snapshot::StageSnapshot;

#[cfg(feature = "stage-cycles")]
mod cycles;
#[cfg(feature = "stage-cycles")]
pub use cycles::{Clock, StageCounters};

/// Without the feature: the same API, empty.
#[cfg(not(feature = "stage-cycles"))]
mod off {
    use super::{Stage, StageSnapshot, Step};
    use crate::dataplane::counters::Counters;

    /// Without the feature: nothing (zero-sized, no field in [`Counters`]).
    #[derive(Default)]
    pub struct StageCounters;

    /// Without the feature: a zero-sized clock whose methods are empty.
    #[derive(Default)]
    pub struct Clock;

    impl Clock {
        #[inline(always)]
        pub fn new() -> Clock {
            Clock
        }
        #[inline(always)]
        pub fn lap(&mut self, _s: Stage, _events: u64) -> bool {
            false
        }
        #[inline(always)]
        pub fn begin_burst(&mut self, _c: &Counters) -> bool {
            false
        }
        #[inline(always)]
        pub fn end_burst(&mut self, _c: &Counters, _sampled: bool, _packets: u64) {}
        #[inline(always)]
        pub fn publish(&self, _c: &Counters) {}
    }

    impl Counters {
        #[inline(always)]
        pub fn step(&self, _s: Step) {}
        /// This worker's stage counters, if the build has them (it does not).
        pub fn stage_snapshot(&self) -> Option<StageSnapshot> {
            None
        }
    }
}

#[cfg(not(feature = "stage-cycles"))]
pub use off::{Clock, StageCounters};

#[cfg(all(test, feature = "stage-cycles"))]
mod tests;
