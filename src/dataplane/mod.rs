//! The data plane: what a worker lcore does to every packet.
//!
//! * [`worker`]: the poll loop (rx burst -> prefetch -> process -> tx burst), DPDK side.
//! * [`pipeline`]: classify, look up, rewrite, as pure functions over a `PacketBuf`.
//! * [`neigh`]: the next hops' MAC addresses (ARP cache shared with the control lcore).
//! * [`counters`]: per-worker event and drop-reason counters.
//! * [`instrument`]: optional per-stage cycle counters (feature `stage-cycles`).

pub mod counters;
pub mod instrument;
pub mod neigh;
pub mod pipeline;
pub mod worker;

#[cfg(test)]
mod pipeline_tests;
