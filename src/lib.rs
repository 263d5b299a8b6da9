//! The Mobility Supporting Module (MSM): a DPDK poll-mode mobility anchor.
//!
//! Layers, from the wire up:
//! * `msm-wire` (crate): zero-copy typed views over packet bytes; no DPDK.
//! * [`pipeline`]: the data path as pure functions over a [`pipeline::PacketBuf`].
//! * `msm-table` (crate): the binding table and the QSBR RCU that publishes it.
//! * [`worker`] / [`control`]: the DPDK layer: poll loops on pinned lcores.
//! * [`config`]: TOML configuration, validated before EAL starts.

pub mod admin;
pub mod config;
pub mod control;
pub mod counters;
pub mod journal;
pub mod neigh;
pub mod pipeline;
pub mod preload;
pub mod registrar;
pub mod regpath;
pub mod stages;
pub mod subscribers;
pub mod worker;

#[cfg(test)]
mod pipeline_tests;
