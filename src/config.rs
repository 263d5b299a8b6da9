//! Appliance configuration (TOML), validated before EAL starts.
//!
//! Every field is documented in `dpdk-config/README.md`; the shipped examples are
//! `dpdk-config/testbed.toml` (namespace testbed, `net_af_packet`),
//! `dpdk-config/bench-null.toml` (benchmarks) and `dpdk-config/real-nic.example.toml`.
//!
//! Validation errors name the field (`port[1].gateway`) and the reason, so an operator
//! can fix the file without reading code.

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Raw file layout; turned into [`Config`] by [`Config::from_toml`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    eal: RawEal,
    #[serde(default)]
    control: RawControl,
    #[serde(rename = "port")]
    ports: Vec<RawPort>,
    #[serde(rename = "worker")]
    workers: Vec<RawWorker>,
    home: RawHome,
    #[serde(default)]
    tunnel: RawTunnel,
    #[serde(default)]
    table: RawTable,
    #[serde(default)]
    mempool: RawMempool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEal {
    args: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    lcore: Option<u32>,
    socket: Option<PathBuf>,
    stats_file: Option<PathBuf>,
    stats_interval_ms: Option<u64>,
    ring_size: Option<u32>,
    arp_retry_ms: Option<u64>,
    subscribers: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    max_lifetime_s: Option<u16>,
    replay_window_s: Option<u32>,
    admission_per_sec: Option<u32>,
    per_subscriber_per_sec: Option<u32>,
    journal_compact_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: String,
    device: String,
    role: String,
    address: String,
    prefix_len: u8,
    #[serde(default)]
    mtu: Option<u16>,
    gateway: String,
    #[serde(default)]
    wwan_gateway: Option<String>,
    #[serde(default)]
    rx_desc: Option<u16>,
    #[serde(default)]
    tx_desc: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    lcore: u32,
    queues: Vec<RawQueue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    port: String,
    queue: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHome {
    pools: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTunnel {
    outer_ttl: Option<u8>,
    mss_clamp: Option<bool>,
    icmp_rate_per_sec: Option<u32>,
    icmp_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    capacity: Option<u64>,
    max_bindings: Option<u64>,
    preload: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMempool {
    mbufs: Option<u32>,
    cache: Option<u32>,
    data_room: Option<u16>,
}

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

/// An IPv4 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: u32,
    pub len: u8,
}

impl Prefix {
    pub fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }
    #[inline]
    pub fn contains(self, a: u32) -> bool {
        a & self.mask() == self.addr
    }
    pub fn parse(s: &str) -> Result<Prefix, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not a prefix (want a.b.c.d/len)"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IPv4 address"))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("'{l}' is not a prefix length 0..=32"))?;
        let p = Prefix {
            addr: u32::from(addr),
            len,
        };
        if p.addr & !p.mask() != 0 {
            return Err(format!(
                "'{s}' has host bits set (did you mean {}/{len}?)",
                Ipv4Addr::from(p.addr & p.mask())
            ));
        }
        Ok(p)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
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
    /// Provisioning file (MSISDN, home address, SPI, key); `None` = registrations refused.
    pub subscribers: Option<PathBuf>,
    /// Where the binding journal lives; `None` = bindings are not durable (testing only).
    pub state_dir: Option<PathBuf>,
    /// Largest lifetime granted (seconds).
    pub max_lifetime_s: u16,
    /// Identification timestamp window (seconds either side of our clock).
    pub replay_window_s: u32,
    /// Global admission limit (requests/s, token bucket with one second of burst).
    pub admission_per_sec: u32,
    /// Per-subscriber limit (requests/s).
    pub per_subscriber_per_sec: u32,
    /// Compact the journal when its log exceeds this many bytes.
    pub journal_compact_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub eal_args: Vec<String>,
    pub control_lcore: Option<u32>,
    pub control_socket: Option<PathBuf>,
    pub stats_file: Option<PathBuf>,
    pub stats_interval_ms: u64,
    pub control_ring_size: u32,
    pub arp_retry_ms: u64,
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
}

/// A configuration error: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config: {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError {
        field: field.into(),
        reason: reason.into(),
    })
}

fn addr(field: &str, s: &str) -> Result<u32, ConfigError> {
    match s.parse::<Ipv4Addr>() {
        Ok(a) => Ok(u32::from(a)),
        Err(_) => err(field, format!("'{s}' is not an IPv4 address")),
    }
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
        Self::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        if raw.eal.args.is_empty() {
            return err(
                "eal.args",
                "must not be empty (at least the lcore list and devices)",
            );
        }
        if raw.ports.is_empty() {
            return err("port", "at least one [[port]] is required");
        }
        let mut ports = Vec::new();
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        for (i, p) in raw.ports.iter().enumerate() {
            let f = |n: &str| format!("port[{i}].{n}");
            if p.name.is_empty() || !names.insert(p.name.clone()) {
                return err(f("name"), format!("'{}' is empty or used twice", p.name));
            }
            let role = match p.role.as_str() {
                "wwan" => Role::Wwan,
                "internet" => Role::Internet,
                "both" => Role::Both,
                other => {
                    return err(
                        f("role"),
                        format!("'{other}': expected wwan, internet or both"),
                    )
                }
            };
            let address = addr(&f("address"), &p.address)?;
            if !addrs.insert(address) {
                return err(f("address"), "used by another port");
            }
            if !(8..=30).contains(&p.prefix_len) {
                return err(
                    f("prefix_len"),
                    format!("{} is not in 8..=30", p.prefix_len),
                );
            }
            let mtu = p.mtu.unwrap_or(1500);
            if !(576..=9000).contains(&mtu) {
                return err(f("mtu"), format!("{mtu} is not in 576..=9000"));
            }
            let gateway = addr(&f("gateway"), &p.gateway)?;
            let subnet = Prefix {
                addr: address
                    & Prefix {
                        addr: 0,
                        len: p.prefix_len,
                    }
                    .mask(),
                len: p.prefix_len,
            };
            if !subnet.contains(gateway) || gateway == address {
                return err(
                    f("gateway"),
                    format!("{} is not another host on {subnet}", p.gateway),
                );
            }
            let wwan_gateway = match (&p.wwan_gateway, role) {
                (Some(g), Role::Both) => {
                    let g = addr(&f("wwan_gateway"), g)?;
                    if !subnet.contains(g) || g == address {
                        return err(f("wwan_gateway"), format!("not another host on {subnet}"));
                    }
                    Some(g)
                }
                (None, Role::Both) => return err(f("wwan_gateway"), "required for role 'both'"),
                (Some(_), _) => return err(f("wwan_gateway"), "only allowed for role 'both'"),
                (None, _) => None,
            };
            let desc = |v: Option<u16>, n: &str| -> Result<u16, ConfigError> {
                let d = v.unwrap_or(1024);
                if !(64..=8192).contains(&d) || !d.is_power_of_two() {
                    return err(f(n), format!("{d} is not a power of two in 64..=8192"));
                }
                Ok(d)
            };
            ports.push(PortConfig {
                name: p.name.clone(),
                device: p.device.clone(),
                role,
                address,
                prefix_len: p.prefix_len,
                mtu,
                gateway,
                wwan_gateway,
                rx_desc: desc(p.rx_desc, "rx_desc")?,
                tx_desc: desc(p.tx_desc, "tx_desc")?,
            });
        }
        let wwan_port = match ports.iter().position(|p| p.role.faces_wwan()) {
            Some(i) => i,
            None => return err("port", "no port has role wwan or both"),
        };
        let internet_port = match ports.iter().position(|p| p.role.faces_internet()) {
            Some(i) => i,
            None => return err("port", "no port has role internet or both"),
        };

        let mut pools = Vec::new();
        if raw.home.pools.is_empty() {
            return err("home.pools", "at least one home pool prefix is required");
        }
        for (i, s) in raw.home.pools.iter().enumerate() {
            let p = Prefix::parse(s).or_else(|e| err(format!("home.pools[{i}]"), e))?;
            if p.len < 8 {
                return err(format!("home.pools[{i}]"), "prefix shorter than /8");
            }
            for q in &pools {
                let q: &Prefix = q;
                if q.contains(p.addr) || p.contains(q.addr) {
                    return err(format!("home.pools[{i}]"), format!("overlaps {q}"));
                }
            }
            for (j, port) in ports.iter().enumerate() {
                if p.contains(port.address) {
                    return err(
                        format!("home.pools[{i}]"),
                        format!("contains port[{j}].address"),
                    );
                }
            }
            pools.push(p);
        }

        if raw.workers.is_empty() {
            return err("worker", "at least one [[worker]] is required");
        }
        let mut workers = Vec::new();
        let mut lcores = HashSet::new();
        let mut polled = HashSet::new();
        for (i, w) in raw.workers.iter().enumerate() {
            if !lcores.insert(w.lcore) {
                return err(
                    format!("worker[{i}].lcore"),
                    format!("lcore {} used twice", w.lcore),
                );
            }
            if w.queues.is_empty() {
                return err(
                    format!("worker[{i}].queues"),
                    "a worker must poll at least one queue",
                );
            }
            let mut qs = Vec::new();
            for (k, q) in w.queues.iter().enumerate() {
                let Some(pi) = ports.iter().position(|p| p.name == q.port) else {
                    return err(
                        format!("worker[{i}].queues[{k}].port"),
                        format!("no port named '{}'", q.port),
                    );
                };
                if !polled.insert((pi, q.queue)) {
                    return err(
                        format!("worker[{i}].queues[{k}]"),
                        "queue polled by two workers",
                    );
                }
                qs.push((pi, q.queue));
            }
            workers.push(WorkerConfig {
                lcore: w.lcore,
                queues: qs,
            });
        }
        // Every port's rx queues must be 0..n without gaps, and every port polled.
        for (pi, p) in ports.iter().enumerate() {
            let n = polled.iter().filter(|(x, _)| *x == pi).count() as u16;
            if n == 0 {
                return err(
                    format!("port[{pi}]"),
                    format!("'{}' is polled by no worker", p.name),
                );
            }
            for q in 0..n {
                if !polled.contains(&(pi, q)) {
                    return err(
                        format!("port[{pi}]"),
                        format!("rx queues must be 0..{n}: queue {q} is polled by no worker"),
                    );
                }
            }
        }
        if let Some(c) = raw.control.lcore {
            if lcores.contains(&c) {
                return err("control.lcore", format!("lcore {c} is also a worker"));
            }
        }

        let t = raw.tunnel;
        let outer_ttl = t.outer_ttl.unwrap_or(64);
        if outer_ttl == 0 {
            return err("tunnel.outer_ttl", "must be 1..=255");
        }
        let table_capacity = raw.table.capacity.unwrap_or(1 << 20);
        if !(1..=1 << 28).contains(&table_capacity) {
            return err("table.capacity", "must be 1..=268435456");
        }
        let max_bindings = raw.table.max_bindings.unwrap_or(table_capacity);
        if max_bindings == 0 {
            return err("table.max_bindings", "must be > 0");
        }
        let ring = raw.control.ring_size.unwrap_or(4096);
        if !ring.is_power_of_two() || !(64..=1 << 20).contains(&ring) {
            return err(
                "control.ring_size",
                "must be a power of two in 64..=1048576",
            );
        }
        let mbufs = raw.mempool.mbufs.unwrap_or(16383);
        if mbufs < 1024 {
            return err("mempool.mbufs", "must be >= 1024");
        }
        // Requests wait in the control rings holding their mbufs (until durable):
        // full rings must still leave mbufs for receiving.
        let held = u64::from(ring) * workers.len() as u64;
        if held >= u64::from(mbufs) {
            return err(
                "control.ring_size",
                format!(
                    "{ring} x {} workers = {held} mbufs could wait in the control rings, \
                     not fewer than mempool.mbufs ({mbufs}): receiving would starve",
                    workers.len()
                ),
            );
        }
        let data_room = raw.mempool.data_room.unwrap_or(2176);
        let max_mtu = ports.iter().map(|p| p.mtu).max().unwrap_or(1500);
        // headroom (128) + ethernet + tunnel header + MTU must fit one segment
        if (data_room as u32) < 128 + 14 + 20 + max_mtu as u32 {
            return err(
                "mempool.data_room",
                format!(
                    "{data_room} too small for MTU {max_mtu} (needs >= {})",
                    128 + 14 + 20 + max_mtu as u32
                ),
            );
        }
        let rc = &raw.control;
        let max_lifetime_s = rc.max_lifetime_s.unwrap_or(1800);
        if max_lifetime_s == 0 {
            return err("control.max_lifetime_s", "must be > 0");
        }
        let replay_window_s = rc.replay_window_s.unwrap_or(7);
        if !(1..=3600).contains(&replay_window_s) {
            return err("control.replay_window_s", "must be 1..=3600");
        }
        let registration = RegistrationConfig {
            subscribers: rc.subscribers.clone(),
            state_dir: rc.state_dir.clone(),
            max_lifetime_s,
            replay_window_s,
            admission_per_sec: rc.admission_per_sec.unwrap_or(500_000),
            per_subscriber_per_sec: rc.per_subscriber_per_sec.unwrap_or(10),
            journal_compact_bytes: rc.journal_compact_bytes.unwrap_or(64 << 20).max(4096),
        };
        Ok(Config {
            eal_args: raw.eal.args,
            registration,
            control_lcore: raw.control.lcore,
            control_socket: raw.control.socket,
            stats_file: raw.control.stats_file,
            stats_interval_ms: raw.control.stats_interval_ms.unwrap_or(1000).max(50),
            control_ring_size: ring,
            arp_retry_ms: raw.control.arp_retry_ms.unwrap_or(1000).max(10),
            ports,
            workers,
            home_pools: pools,
            tunnel: TunnelConfig {
                outer_ttl,
                mss_clamp: t.mss_clamp.unwrap_or(true),
                icmp_rate_per_sec: t.icmp_rate_per_sec.unwrap_or(100),
                icmp_burst: t.icmp_burst.unwrap_or(10).max(1),
            },
            table_capacity,
            max_bindings,
            preload: raw.table.preload,
            mbufs,
            mbuf_cache: raw.mempool.cache.unwrap_or(256).min(512),
            data_room,
            wwan_port,
            internet_port,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    pub const GOOD: &str = r#"
[eal]
args = ["-l", "0,1", "--no-huge", "--no-pci"]
[[port]]
name = "wwan"
device = "net_null0"
role = "wwan"
address = "192.0.2.129"
prefix_len = 29
gateway = "192.0.2.130"
[[port]]
name = "internet"
device = "net_null1"
role = "internet"
address = "198.51.100.1"
prefix_len = 24
gateway = "198.51.100.2"
[[worker]]
lcore = 1
queues = [{ port = "wwan", queue = 0 }, { port = "internet", queue = 0 }]
[home]
pools = ["192.0.2.0/25"]
"#;

    #[test]
    fn good_config_parses_with_defaults() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.wwan_port, 0);
        assert_eq!(c.internet_port, 1);
        assert_eq!(c.tunnel.outer_ttl, 64);
        assert!(c.tunnel.mss_clamp);
        assert_eq!(c.tx_queues(), 2);
        assert_eq!(c.rx_queues(0), 1);
        assert!(c.in_home_pool(u32::from(Ipv4Addr::new(192, 0, 2, 10))));
        assert!(!c.in_home_pool(u32::from(Ipv4Addr::new(192, 0, 2, 129))));
    }

    fn bad(from: &str, to: &str) -> ConfigError {
        let text = GOOD.replacen(from, to, 1);
        assert_ne!(text, GOOD, "replacement '{from}' not found");
        Config::from_toml(&text).unwrap_err()
    }

    #[test]
    fn errors_name_the_field() {
        let e = bad("role = \"wwan\"", "role = \"gprs\"");
        assert_eq!(e.field, "port[0].role");
        let e = bad("gateway = \"198.51.100.2\"", "gateway = \"203.0.113.1\"");
        assert_eq!(e.field, "port[1].gateway");
        let e = bad("address = \"198.51.100.1\"", "address = \"198.51.100.300\"");
        assert_eq!(e.field, "port[1].address");
        let e = bad("pools = [\"192.0.2.0/25\"]", "pools = [\"192.0.2.1/25\"]");
        assert_eq!(e.field, "home.pools[0]");
        assert!(e.reason.contains("host bits"), "{e}");
        let e = bad("pools = [\"192.0.2.0/25\"]", "pools = [\"192.0.2.0/24\"]");
        assert!(e.reason.contains("port[0].address"), "{e}");
        let e = bad(
            "port = \"internet\", queue = 0",
            "port = \"inet\", queue = 0",
        );
        assert_eq!(e.field, "worker[0].queues[1].port");
        let e = bad(
            "port = \"internet\", queue = 0",
            "port = \"internet\", queue = 1",
        );
        assert!(e.reason.contains("queue 0"), "{e}");
        let e = bad("prefix_len = 24", "prefix_len = 24\nmtu = 100");
        assert_eq!(e.field, "port[1].mtu");
        let e = bad("[home]", "[tunnel]\nouter_ttl = 0\n[home]");
        assert_eq!(e.field, "tunnel.outer_ttl");
        let e = bad("[home]", "[control]\nlcore = 1\n[home]");
        assert_eq!(e.field, "control.lcore");
        // Full control rings would hold every mbuf (found replaying a 10k storm).
        let e = bad(
            "[home]",
            "[control]\nring_size = 65536\n[mempool]\nmbufs = 8191\n[home]",
        );
        assert_eq!(e.field, "control.ring_size");
        assert!(e.reason.contains("mempool.mbufs"), "{e}");
    }

    #[test]
    fn unknown_field_is_reported_with_line() {
        let e = bad("prefix_len = 29", "prefix_len = 29\nmtuu = 1500");
        assert!(e.field.starts_with("line "), "{e}");
        assert!(e.reason.contains("mtuu"), "{e}");
    }

    #[test]
    fn both_role_needs_wwan_gateway() {
        let e = bad("role = \"internet\"", "role = \"both\"");
        assert_eq!(e.field, "port[1].wwan_gateway");
        let ok = GOOD.replacen(
            "role = \"internet\"",
            "role = \"both\"\nwwan_gateway = \"198.51.100.3\"",
            1,
        );
        let c = Config::from_toml(&ok).unwrap();
        assert_eq!(c.ports[1].role, Role::Both);
    }

    #[test]
    fn shipped_configs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dpdk-config");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            // mcm-*.toml are the terminal's (checked by the mcm crate).
            let mcm = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("mcm"));
            if p.extension().is_some_and(|x| x == "toml") && !mcm {
                let c = Config::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                if let Some(pre) = &c.preload {
                    let text = std::fs::read_to_string(pre).unwrap();
                    crate::control::preload::parse(&text, &c.home_pools).unwrap();
                }
                n += 1;
            }
        }
        assert!(n >= 2, "expected the shipped configs in {}", dir.display());
    }

    #[test]
    fn prefix_parse() {
        assert_eq!(Prefix::parse("10.0.0.0/8").unwrap().mask(), 0xff00_0000);
        assert!(Prefix::parse("10.0.0.0").is_err());
        assert!(Prefix::parse("10.0.0.0/33").is_err());
        assert!(Prefix::parse("0.0.0.0/0").unwrap().contains(1));
    }
}
