//! The Mobility Control Module (MCM): the mobile terminal's side of the
//! PROTOCOL.md profile of Mobile IPv4. A Linux daemon without DPDK: it
//! follows the terminal's links through rtnetlink, registers care-of
//! addresses with the MSM, and moves the terminal's traffic into and out of
//! the IP-in-IP tunnel.

pub mod backend;
pub mod config;
pub mod daemon;
pub mod endpoint;
pub mod machine;
pub mod netlink;
pub mod tunnel;
