//! The data plane: what a worker lcore does to every packet.
//!
//! * [`worker`]: the poll loop (rx burst -> classify + prefetch -> process -> tx burst),
//!   DPDK side.
//! * [`pipeline`]: the context the stages share, and `process`, which hands a classified
//!   packet to its stage. The stages, pure functions over a [`PacketBuf`]:
//!   [`classify`] (headers read once into a summary), `local` (ARP, echo, registrations
//!   to the control lcore), `decap` (reverse tunnel, anti-spoofing), `forward` (route,
//!   TTL, MSS clamp, encapsulation), `icmp` (rate-limited ICMP errors), `frag`
//!   (fragmentation).
//! * [`buf`]: the packet buffer trait and a `Vec`-backed buffer for tests and tools.
//! * [`neigh`]: the next hops' MAC addresses (ARP cache shared with the control lcore).
//! * [`counters`]: per-worker event and drop-reason counters, grouped by stage.
//! * [`trace`] and [`sample`]: the packet trace (`msm ctl trace`) and the 1-in-K traffic
//!   samples of the top-N view (`msm ctl top`), both out of the hot loop.
//! * [`instrument`]: optional per-stage cycle counters (feature `stage-cycles`).

pub mod buf;
pub mod classify;
pub mod counters;
mod decap;
mod forward;
mod frag;
mod icmp;
pub mod instrument;
mod local;
pub mod neigh;
pub mod pipeline;
pub mod sample;
pub mod trace;
pub mod worker;

pub use buf::{PacketBuf, VecBuf};
pub use forward::NAT_OUTER;

#[cfg(test)]
mod tests;
