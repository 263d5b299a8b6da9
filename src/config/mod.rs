//! Appliance configuration (TOML), validated before EAL starts.
//!
//! Every field is documented in `dpdk-config/README.md`; the shipped examples are
//! `dpdk-config/testbed.toml` (namespace testbed, `net_af_packet`),
//! `dpdk-config/bench-null.toml` (benchmarks) and `dpdk-config/real-nic.example.toml`.
//!
//! Validation errors name the field (`port[1].gateway`) and the reason, so an operator
//! can fix the file without reading code.

mod prefix;
mod raw;
#[cfg(test)]
pub(crate) mod tests;
mod validate;

pub use prefix::{Prefix, PrefixError};
use raw::RawConfig;
use std::path::{Path, PathBuf};
pub use validate::DEFAULT_TOP_SAMPLE_EVERY;

/// Which side of the MSM a port faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Toward the GGSN / WWAN: home addresses are reached here without a tunnel.
    Wwan,
    /// Toward the Internet and the WLANs: tunnels and correspondents are here.
    Internet,
    /// GGSN-expansion mode: one port serves both sides.
    Both,
}

impl Role {
    pub fn faces_wwan(self) -> bool {
        matches!(self, Role::Wwan | Role::Both)
    }
    pub fn faces_internet(self) -> bool {
        matches!(self, Role::Internet | Role::Both)
    }
}

#[derive(Debug, Clone)]
pub struct PortConfig {
    pub name: String,
    pub device: String,
    pub role: Role,
    pub address: u32,
    pub prefix_len: u8,
    pub mtu: u16,
    /// Next hop for what this port sends toward its role's side
    /// (the Internet router for `internet`/`both`, the GGSN for `wwan`).
    pub gateway: u32,
    /// For `both`: the next hop toward the home pool (the GGSN).
    pub wwan_gateway: Option<u32>,
    /// Static MAC of `gateway` (`None`: resolved by ARP).
    pub gateway_mac: Option<[u8; 6]>,
    /// For `both`: static MAC of `wwan_gateway` (`None`: resolved by ARP).
    pub wwan_gateway_mac: Option<[u8; 6]>,
    pub rx_desc: u16,
    pub tx_desc: u16,
}

impl PortConfig {
    pub fn subnet(&self) -> Prefix {
        let p = Prefix {
            addr: self.address,
            len: self.prefix_len,
        };
        Prefix {
            addr: self.address & p.mask(),
            len: self.prefix_len,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub lcore: u32,
    /// (port index, rx queue)
    pub queues: Vec<(usize, u16)>,
}

#[derive(Debug, Clone)]
pub struct TunnelConfig {
    pub outer_ttl: u8,
    pub mss_clamp: bool,
    pub icmp_rate_per_sec: u32,
    pub icmp_burst: u32,
}

/// Registration handling (control plane).
#[derive(Debug, Clone)]
pub struct RegistrationConfig {
    /// Provisioning file (MSISDN, home address, SPI, key); `None`: registration requests
    /// are dropped without a reply (counted as `registrations_no_subscribers`).
    pub subscribers: Option<PathBuf>,
    /// Where the binding journal lives; `None` = bindings are not durable (testing only).
    pub state_dir: Option<PathBuf>,
    /// Largest lifetime granted (seconds).
    pub max_lifetime_s: u16,
    /// Identification timestamp window (seconds either side of our clock).
    pub replay_window_s: u32,
    /// Global admission limit (requests/s, token bucket with one second of burst).
    pub admission_per_sec: u32,
    /// Per-subscriber limit (requests/s), charged only by authenticated requests.
    pub per_subscriber_per_sec: u32,
    /// Limit per source address before authentication (requests/s).
    pub per_source_per_sec: u32,
    /// Global limit of Replies without a valid MN-HA extension (replies/s).
    pub unauthenticated_replies_per_sec: u32,
    /// Limit of Replies without a valid MN-HA extension per destination address
    /// (replies/s).
    pub unauthenticated_replies_per_source_per_sec: u32,
    /// Compact the journal when its log exceeds this many bytes.
    pub journal_compact_bytes: u64,
    /// Keepalive interval (seconds) sent in the UDP Tunnel Reply extension to mobiles
    /// behind a NAT (RFC 3519; PROTOCOL.md section 3).
    pub nat_keepalive_s: u16,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub eal_args: Vec<String>,
    pub control_lcore: Option<u32>,
    pub control_socket: Option<PathBuf>,
    pub stats_file: Option<PathBuf>,
    pub stats_interval_ms: u64,
    /// Where the Prometheus/OpenMetrics endpoint (`GET /metrics`) listens, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// CPUs for the background threads (compaction merge, audit writer, metrics server);
    /// empty: see `control::housekeeping`.
    pub housekeeping_cpus: Vec<usize>,
    /// The registration audit log (`control.audit_log*`), if configured.
    pub audit: Option<crate::control::audit::AuditConfig>,
    pub control_ring_size: u32,
    pub arp_retry_ms: u64,
    /// Most requests the control loop takes off the rings per iteration (one group commit).
    pub control_batch_max: usize,
    /// The workers sample 1 packet in this many for the top-N view (a power of two; 0 = off).
    pub top_sample_every: u32,
    /// The top-N view's window (s): it shows the last one to two windows.
    pub top_window_s: u32,
    pub registration: RegistrationConfig,
    pub ports: Vec<PortConfig>,
    pub workers: Vec<WorkerConfig>,
    pub home_pools: Vec<Prefix>,
    pub tunnel: TunnelConfig,
    pub table_capacity: u64,
    pub max_bindings: u64,
    pub preload: Option<PathBuf>,
    pub mbufs: u32,
    pub mbuf_cache: u32,
    pub data_room: u16,
    /// Index of the port that carries `IPmsm-gprs` (first port facing the WWAN).
    pub wwan_port: usize,
    /// Index of the port that carries `IPmsm-wlan` (first port facing the Internet).
    pub internet_port: usize,
    /// Hot standby on etcd (`[cluster]`, `docs/cluster.md`); `None`: a single box.
    pub cluster: Option<ClusterConfig>,
}

/// `[cluster]`: this MSM's place in a hot-standby pair (or more) on etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// etcd client URLs (`http://host:port`).
    pub endpoints: Vec<String>,
    /// This MSM's name (unique among the members).
    pub member: String,
    /// The shard this MSM may own (first slice: one, covering every home pool).
    pub shard: String,
    /// The owner's etcd lease TTL (whole seconds at etcd).
    pub lease_ttl_ms: u64,
}

/// A configuration error: which field (or `line N` for a TOML syntax error), and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config: {field}: {reason}")]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            field: path.display().to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        let mut cfg = Self::from_toml(&text)?;
        // Relative paths are relative to the config file.
        if let Some(dir) = path.parent() {
            for p in [
                cfg.preload.as_mut(),
                cfg.registration.subscribers.as_mut(),
                cfg.registration.state_dir.as_mut(),
                cfg.audit.as_mut().map(|a| &mut a.path),
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
        Ok(cfg)
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                })
                .unwrap_or_else(|| "file".into());
            ConfigError {
                field: span,
                reason: e.message().to_string(),
            }
        })?;
        validate::validate(raw)
    }

    /// Number of rx queues the workers poll on port `pi`.
    pub fn rx_queues(&self, pi: usize) -> u16 {
        self.workers
            .iter()
            .flat_map(|w| w.queues.iter())
            .filter(|(p, _)| *p == pi)
            .count() as u16
    }

    /// Tx queues per port: one per worker, plus one for the control lcore (the last).
    pub fn tx_queues(&self) -> u16 {
        self.workers.len() as u16 + 1
    }

    pub fn in_home_pool(&self, a: u32) -> bool {
        self.home_pools.iter().any(|p| p.contains(a))
    }
}
