//! The control plane: the control lcore and everything it owns.
//!
//! * [`lcore`]: the control loop (rings from the workers, batches, ARP, expiry, admin).
//! * [`service`]: the registration service, without DPDK: decide, apply, journal, group
//!   commit, publish, then reply; also expiry, the operator's bind/unbind, compaction.
//! * [`registrar`]: registration decisions (authentication, replay, codes).
//! * [`reg_io`]: registration I/O per path: where a request came from, how its Reply goes back.
//! * [`journal`]: durable bindings (append-only log, group commit, snapshots).
//! * [`stats`]: the stats document.
//! * [`subscribers`]: the provisioning file (MSISDN, home address, SPI, key).
//! * [`preload`]: static bindings loaded at start.
//! * [`admin`]: the operator socket (`msm ctl`).
//! * [`housekeeping`]: the CPUs of the background threads (merge, audit, metrics).
//! * [`metrics`], [`telemetry`]: the Prometheus endpoint and DPDK telemetry's `/msm/...`
//!   commands, both reading the stats document the control loop publishes.
//! * [`top`]: the top-N view of the mobiles carrying the most traffic (sampled by the workers).

pub mod admin;
pub mod alarms;
pub mod audit;
pub mod cluster;
pub mod housekeeping;
pub mod journal;
pub mod lcore;
pub mod metrics;
pub mod preload;
pub mod reg_io;
pub mod registrar;
pub mod service;
pub mod stats;
pub mod subscribers;
pub mod telemetry;
pub mod top;
