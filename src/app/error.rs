//! Why the MSM would not start: each error names the setting, file or object at fault.

use crate::config::ConfigError;
use crate::control::journal;
use crate::control::preload::PreloadError;
use crate::control::subscribers;
use msm_table::TableError;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The configuration or a file it names is invalid (`msm check-config` and `msm run`
/// exit with 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("config: table.preload: {}: {source}", path.display())]
    PreloadRead { path: PathBuf, source: io::Error },
    #[error("config: table.preload: {}: {source}", path.display())]
    Preload { path: PathBuf, source: PreloadError },
    #[error("config: table.preload: {count} bindings exceed table.max_bindings {max}")]
    PreloadTooLarge { count: usize, max: u64 },
    #[error("config: control.subscribers: {0}")]
    Subscribers(#[source] subscribers::LoadError),
}

/// Start-up failed after the configuration was read (`msm run` exits with 1).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("config: control.subscribers: {0}")]
    Subscribers(#[source] subscribers::LoadError),
    #[error("journal: {0}")]
    Journal(#[source] journal::Error),
    #[error("cluster: cannot start the etcd thread: {0}")]
    Cluster(#[source] std::io::Error),
    #[error("EAL: {0}")]
    Eal(#[source] msm_dpdk::Error),
    #[error("config: control.lcore: {lcore} is not the EAL main lcore ({main}); the control loop runs on the main lcore")]
    ControlLcore { lcore: u32, main: u32 },
    #[error("config: worker[{index}].lcore: lcore {lcore} is not an EAL worker lcore (EAL has {available:?}; check eal.args -l)")]
    WorkerLcore {
        index: usize,
        lcore: u32,
        available: Vec<u32>,
    },
    #[error("mempool: {0}")]
    Mempool(#[source] msm_dpdk::Error),
    #[error("config: port[{index}].device '{device}': {source}")]
    PortDevice {
        index: usize,
        device: String,
        source: msm_dpdk::Error,
    },
    #[error("port[{index}] '{name}': {source}")]
    Port {
        index: usize,
        name: String,
        source: msm_dpdk::Error,
    },
    #[error("table: {0}")]
    Table(#[source] TableError),
    #[error("table.preload: {home}: {source}")]
    Preload { home: Ipv4Addr, source: TableError },
    #[error("table.preload: journal commit of the preloaded bindings: {0}")]
    PreloadCommit(#[source] io::Error),
    #[error("table.preload: {}: {source}", path.display())]
    PreloadMarker { path: PathBuf, source: io::Error },
    #[error("journal replay: {home}: {source}")]
    Replay { home: Ipv4Addr, source: TableError },
    #[error("ring: {0}")]
    Ring(#[source] msm_dpdk::Error),
    #[error("worker[{index}] rx: {source}")]
    WorkerRx {
        index: usize,
        source: msm_dpdk::Error,
    },
    #[error("worker[{index}] tx: {source}")]
    WorkerTx {
        index: usize,
        source: msm_dpdk::Error,
    },
    #[error("control tx: {0}")]
    ControlTx(#[source] msm_dpdk::Error),
    #[error("config: control.socket {}: {source}", path.display())]
    AdminSocket { path: PathBuf, source: io::Error },
    #[error("config: control.audit_log: {source}")]
    AuditLog { path: PathBuf, source: io::Error },
    #[error("config: control.metrics_listen {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("signal handler: {0}")]
    Signal(#[source] io::Error),
    #[error("worker[{index}] launch on lcore {lcore}: {source}")]
    Launch {
        index: usize,
        lcore: u32,
        source: msm_dpdk::Error,
    },
    #[error(
        "{}: '{0}' is not INDEX:MS with INDEX a worker (test-only fault injection)",
        super::workers::PANIC_WORKER_ENV
    )]
    FaultInjection(String),
    /// Start-up wiring that cannot fail unless the code is wrong.
    #[error("internal: {0}")]
    Internal(&'static str),
}

/// Why `msm run` ended with an error; [`exit_code`](RunError::exit_code) is its exit
/// status.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Start-up failed (exit 1).
    #[error(transparent)]
    Start(#[from] StartError),
    /// A worker panicked: the alarm `worker_stopped` was raised, the other workers were
    /// stopped (exit 3, for a supervisor to restart the MSM).
    #[error("stopped: {0}")]
    WorkerStopped(String),
    /// This member lost its shard (`docs/cluster.md`): its local state must be rebuilt
    /// from etcd, so it exits (75, EX_TEMPFAIL) for a supervisor to restart it as a standby.
    #[error("deposed: {0}")]
    Deposed(String),
}

impl RunError {
    /// 1 for a start-up failure, 3 when a worker stopped, 75 when deposed.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Start(_) => 1,
            RunError::WorkerStopped(_) => 3,
            RunError::Deposed(_) => 75,
        }
    }
}
