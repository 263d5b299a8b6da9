//! The configuration file's raw TOML layout (serde), before validation.

use serde::Deserialize;
use std::path::PathBuf;

/// Raw file layout; turned into [`super::Config`] by [`super::Config::from_toml`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub eal: RawEal,
    #[serde(default)]
    pub control: RawControl,
    #[serde(rename = "port")]
    pub ports: Vec<RawPort>,
    #[serde(rename = "worker")]
    pub workers: Vec<RawWorker>,
    pub home: RawHome,
    #[serde(default)]
    pub tunnel: RawTunnel,
    #[serde(default)]
    pub table: RawTable,
    #[serde(default)]
    pub mempool: RawMempool,
    /// Hot standby on etcd (`docs/cluster.md`); absent: a single box.
    pub cluster: Option<RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub endpoints: Vec<String>,
    pub member: String,
    pub shard: Option<String>,
    pub lease_ttl_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEal {
    pub args: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub lcore: Option<u32>,
    pub socket: Option<PathBuf>,
    pub stats_file: Option<PathBuf>,
    pub stats_interval_ms: Option<u64>,
    pub metrics_listen: Option<String>,
    pub housekeeping_cpus: Option<Vec<usize>>,
    pub audit_log: Option<PathBuf>,
    pub audit_log_max_bytes: Option<u64>,
    pub audit_log_keep: Option<usize>,
    pub ring_size: Option<u32>,
    pub arp_retry_ms: Option<u64>,
    pub batch_max: Option<u32>,
    pub subscribers: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub max_lifetime_s: Option<u16>,
    pub replay_window_s: Option<u32>,
    pub admission_per_sec: Option<u32>,
    pub per_subscriber_per_sec: Option<u32>,
    pub per_source_per_sec: Option<u32>,
    pub unauthenticated_replies_per_sec: Option<u32>,
    pub unauthenticated_replies_per_source_per_sec: Option<u32>,
    pub journal_compact_bytes: Option<u64>,
    pub top_sample_every: Option<u32>,
    pub top_window_s: Option<u32>,
    pub nat_keepalive_secs: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub name: String,
    pub device: String,
    pub role: String,
    pub address: String,
    pub prefix_len: u8,
    #[serde(default)]
    pub mtu: Option<u16>,
    pub gateway: String,
    #[serde(default)]
    pub wwan_gateway: Option<String>,
    #[serde(default)]
    pub gateway_mac: Option<String>,
    #[serde(default)]
    pub wwan_gateway_mac: Option<String>,
    #[serde(default)]
    pub rx_desc: Option<u16>,
    #[serde(default)]
    pub tx_desc: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorker {
    pub lcore: u32,
    pub queues: Vec<RawQueue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    pub port: String,
    pub queue: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHome {
    pub pools: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTunnel {
    pub outer_ttl: Option<u8>,
    pub mss_clamp: Option<bool>,
    pub icmp_rate_per_sec: Option<u32>,
    pub icmp_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTable {
    pub capacity: Option<u64>,
    pub max_bindings: Option<u64>,
    pub preload: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMempool {
    pub mbufs: Option<u32>,
    pub cache: Option<u32>,
    pub data_room: Option<u16>,
}
