//! The Mobility Supporting Module (MSM): a DPDK poll-mode mobility anchor.
//!
//! Two planes, wired together by [`app`]:
//! * [`dataplane`]: the workers. Each polls its NIC queues, classifies every packet once,
//!   looks up the binding table and forwards, encapsulates, decapsulates or drops it,
//!   counting every decision. Pure functions over a `PacketBuf`, driven by a DPDK loop.
//! * [`control`]: the control lcore. It receives registrations from the workers,
//!   decides them, makes them durable (journal, group commit), publishes the table to the
//!   workers by RCU and only then replies; it also resolves next hops, expires bindings
//!   and serves the operator socket.
//!
//! Below them: `msm-wire` (typed packet views, no DPDK), `msm-mip` (Mobile IPv4
//! messages), `msm-table` (the binding table and its QSBR RCU), `msm-dpdk` (the only
//! crate that talks to DPDK). [`config`] is the validated TOML configuration.

pub mod app;
pub mod config;
pub mod control;
pub mod dataplane;
