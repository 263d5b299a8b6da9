//! Checks of the raw configuration, one section at a time: each error names the field.

use super::raw::{RawConfig, RawControl, RawPort, RawWorker};
use super::{
    Config, ConfigError, PortConfig, Prefix, RegistrationConfig, Role, TunnelConfig, WorkerConfig,
};
use std::collections::HashSet;
use std::net::Ipv4Addr;

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

/// Sizes of the table, the control rings and the mempool.
struct Sizes {
    table_capacity: u64,
    max_bindings: u64,
    ring: u32,
    mbufs: u32,
    data_room: u16,
}

pub(super) fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    if raw.eal.args.is_empty() {
        return err(
            "eal.args",
            "must not be empty (at least the lcore list and devices)",
        );
    }
    let ports = ports(&raw.ports)?;
    let wwan_port = match ports.iter().position(|p| p.role.faces_wwan()) {
        Some(i) => i,
        None => return err("port", "no port has role wwan or both"),
    };
    let internet_port = match ports.iter().position(|p| p.role.faces_internet()) {
        Some(i) => i,
        None => return err("port", "no port has role internet or both"),
    };
    let home_pools = home_pools(&raw.home.pools, &ports)?;
    let workers = workers(&raw.workers, &ports, raw.control.lcore)?;
    let t = &raw.tunnel;
    let outer_ttl = t.outer_ttl.unwrap_or(64);
    if outer_ttl == 0 {
        return err("tunnel.outer_ttl", "must be 1..=255");
    }
    let tunnel = TunnelConfig {
        outer_ttl,
        mss_clamp: t.mss_clamp.unwrap_or(true),
        icmp_rate_per_sec: t.icmp_rate_per_sec.unwrap_or(100),
        icmp_burst: t.icmp_burst.unwrap_or(10).max(1),
    };
    let sizes = sizes(&raw, &ports, workers.len())?;
    let registration = registration(&raw.control)?;
    let control_batch_max = batch_max(&raw.control)?;
    let metrics_listen = metrics_listen(&raw.control)?;
    let housekeeping_cpus = housekeeping_cpus(&raw.control)?;
    let audit = audit(&raw.control)?;
    let (top_sample_every, top_window_s) = top(&raw.control)?;
    let cluster = match &raw.cluster {
        Some(c) => Some(cluster(c, &registration)?),
        None => None,
    };
    Ok(Config {
        eal_args: raw.eal.args,
        registration,
        control_lcore: raw.control.lcore,
        control_socket: raw.control.socket,
        stats_file: raw.control.stats_file,
        stats_interval_ms: raw.control.stats_interval_ms.unwrap_or(1000).max(50),
        metrics_listen,
        housekeeping_cpus,
        audit,
        control_ring_size: sizes.ring,
        arp_retry_ms: raw.control.arp_retry_ms.unwrap_or(1000).max(10),
        control_batch_max,
        top_sample_every,
        top_window_s,
        ports,
        workers,
        home_pools,
        tunnel,
        table_capacity: sizes.table_capacity,
        max_bindings: sizes.max_bindings,
        preload: raw.table.preload,
        mbufs: sizes.mbufs,
        mbuf_cache: raw.mempool.cache.unwrap_or(256).min(512),
        data_room: sizes.data_room,
        wwan_port,
        internet_port,
        cluster,
    })
}

/// A member or shard name: 1..=64 of `A-Za-z0-9._-` (it is part of etcd keys).
fn name(field: &str, s: &str) -> Result<String, ConfigError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if s.is_empty() || s.len() > 64 || !s.chars().all(ok) {
        return err(
            field,
            format!("'{s}': must be 1 to 64 of A-Z a-z 0-9 . _ -"),
        );
    }
    Ok(s.to_string())
}

/// `[cluster]`: endpoints, names, the lease; the local journal is required.
fn cluster(
    c: &super::raw::RawCluster,
    reg: &RegistrationConfig,
) -> Result<super::ClusterConfig, ConfigError> {
    if c.endpoints.is_empty() {
        return err(
            "cluster.endpoints",
            "must list at least one etcd client URL",
        );
    }
    for (i, e) in c.endpoints.iter().enumerate() {
        let rest = e.strip_prefix("http://").unwrap_or("");
        if rest.is_empty() || rest.contains('/') || !rest.contains(':') {
            return err(
                format!("cluster.endpoints[{i}]"),
                format!("'{e}' is not http://host:port (TLS is not supported yet)"),
            );
        }
    }
    let member = name("cluster.member", &c.member)?;
    let shard = name("cluster.shard", c.shard.as_deref().unwrap_or("s0"))?;
    let lease_ttl_ms = c.lease_ttl_ms.unwrap_or(2000);
    if !(1000..=10_000).contains(&lease_ttl_ms) {
        return err(
            "cluster.lease_ttl_ms",
            format!("{lease_ttl_ms}: must be 1000..=10000 (etcd leases are whole seconds)"),
        );
    }
    if reg.state_dir.is_none() {
        return err(
            "cluster",
            "needs control.state_dir: a group is durable only after the local journal's fdatasync and etcd's acknowledgement",
        );
    }
    Ok(super::ClusterConfig {
        endpoints: c.endpoints.clone(),
        member,
        shard,
        lease_ttl_ms,
    })
}

/// `control.audit_log*`: where, the size at which it rotates, how many old files stay.
fn audit(c: &RawControl) -> Result<Option<crate::control::audit::AuditConfig>, ConfigError> {
    let Some(path) = c.audit_log.clone() else {
        if c.audit_log_max_bytes.is_some() || c.audit_log_keep.is_some() {
            return err(
                "control.audit_log",
                "audit_log_max_bytes/audit_log_keep need audit_log",
            );
        }
        return Ok(None);
    };
    let max_bytes = c.audit_log_max_bytes.unwrap_or(64 << 20);
    if max_bytes < 4096 {
        return err("control.audit_log_max_bytes", "at least 4096");
    }
    let keep = c.audit_log_keep.unwrap_or(5);
    if keep > 1000 {
        return err("control.audit_log_keep", "at most 1000");
    }
    Ok(Some(crate::control::audit::AuditConfig {
        path,
        max_bytes,
        keep,
    }))
}

/// `control.housekeeping_cpus`: distinct CPU numbers of this machine, at least one.
fn housekeeping_cpus(c: &RawControl) -> Result<Vec<usize>, ConfigError> {
    let Some(cpus) = &c.housekeeping_cpus else {
        return Ok(Vec::new());
    };
    let machine = crate::control::housekeeping::machine_cpus();
    if cpus.is_empty() {
        return err(
            "control.housekeeping_cpus",
            "is empty: name at least one CPU, or leave the key out",
        );
    }
    for (i, &cpu) in cpus.iter().enumerate() {
        if cpu >= machine {
            return err(
                "control.housekeeping_cpus",
                format!(
                    "CPU {cpu} does not exist: this machine has CPUs 0-{}",
                    machine - 1
                ),
            );
        }
        if cpus[..i].contains(&cpu) {
            return err(
                "control.housekeeping_cpus",
                format!("CPU {cpu} is named twice"),
            );
        }
    }
    Ok(cpus.clone())
}

/// `control.top_sample_every` (a power of two up to 2^20, or 0 = off) and
/// `control.top_window_s` (1..=3600).
fn top(c: &RawControl) -> Result<(u32, u32), ConfigError> {
    let every = c.top_sample_every.unwrap_or(DEFAULT_TOP_SAMPLE_EVERY);
    if every != 0 && (!every.is_power_of_two() || every > 1 << 20) {
        return err(
            "control.top_sample_every",
            format!("{every}: a power of two 1..=1048576, or 0 (off)"),
        );
    }
    let window = c.top_window_s.unwrap_or(10);
    if !(1..=3600).contains(&window) {
        return err(
            "control.top_window_s",
            format!("{window} is not in 1..=3600"),
        );
    }
    Ok((every, window))
}

/// `control.top_sample_every` when not given.
pub const DEFAULT_TOP_SAMPLE_EVERY: u32 = 1024;

/// `control.metrics_listen`: an `IP:PORT` socket address.
fn metrics_listen(c: &RawControl) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    match &c.metrics_listen {
        None => Ok(None),
        Some(s) => match s.parse() {
            Ok(a) => Ok(Some(a)),
            Err(_) => err(
                "control.metrics_listen",
                format!("'{s}' is not IP:PORT (e.g. \"127.0.0.1:9464\")"),
            ),
        },
    }
}

/// The `[[port]]` sections: unique names and addresses, a gateway on each subnet.
fn ports(raw: &[RawPort]) -> Result<Vec<PortConfig>, ConfigError> {
    if raw.is_empty() {
        return err("port", "at least one [[port]] is required");
    }
    let mut ports = Vec::new();
    let mut names = HashSet::new();
    let mut addrs = HashSet::new();
    for (i, p) in raw.iter().enumerate() {
        let f = |n: &str| format!("port[{i}].{n}");
        if p.name.is_empty() || !names.insert(p.name.clone()) {
            return err(f("name"), format!("'{}' is empty or used twice", p.name));
        }
        ports.push(port(i, p, &mut addrs)?);
    }
    Ok(ports)
}

/// One `[[port]]`; `addrs` holds the addresses of the ports before it.
fn port(i: usize, p: &RawPort, addrs: &mut HashSet<u32>) -> Result<PortConfig, ConfigError> {
    let f = |n: &str| format!("port[{i}].{n}");
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
    let (gateway_mac, wwan_gateway_mac) = static_macs(&f, p, role, gateway, wwan_gateway)?;
    let desc = |v: Option<u16>, n: &str| -> Result<u16, ConfigError> {
        let d = v.unwrap_or(1024);
        if !(64..=8192).contains(&d) || !d.is_power_of_two() {
            return err(f(n), format!("{d} is not a power of two in 64..=8192"));
        }
        Ok(d)
    };
    Ok(PortConfig {
        name: p.name.clone(),
        device: p.device.clone(),
        role,
        address,
        prefix_len: p.prefix_len,
        mtu,
        gateway,
        wwan_gateway,
        gateway_mac,
        wwan_gateway_mac,
        rx_desc: desc(p.rx_desc, "rx_desc")?,
        tx_desc: desc(p.tx_desc, "tx_desc")?,
    })
}

/// An Ethernet address.
type Mac = [u8; 6];

/// A port's `gateway_mac` and `wwan_gateway_mac` (the latter only for role `both`);
/// one next hop (both gateways the same address) cannot have two MACs.
fn static_macs(
    f: &dyn Fn(&str) -> String,
    p: &RawPort,
    role: Role,
    gateway: u32,
    wwan_gateway: Option<u32>,
) -> Result<(Option<Mac>, Option<Mac>), ConfigError> {
    let parse = |n: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| unicast_mac(s).or_else(|reason| err(f(n), reason)))
            .transpose()
    };
    let gateway_mac = parse("gateway_mac", &p.gateway_mac)?;
    let wwan_gateway_mac = parse("wwan_gateway_mac", &p.wwan_gateway_mac)?;
    if wwan_gateway_mac.is_some() && role != Role::Both {
        return err(f("wwan_gateway_mac"), "only allowed for role 'both'");
    }
    if let (Some(a), Some(b)) = (gateway_mac, wwan_gateway_mac) {
        if wwan_gateway == Some(gateway) && a != b {
            return err(
                f("wwan_gateway_mac"),
                "differs from gateway_mac for the same gateway address",
            );
        }
    }
    Ok((gateway_mac, wwan_gateway_mac))
}

/// A unicast Ethernet address written `02:00:00:00:00:01` (hex, colon-separated).
fn unicast_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("'{s}' is not a MAC address like 02:00:5e:00:00:01");
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if mac == [0; 6] || mac[0] & 1 != 0 {
        return Err(format!("'{s}' is not a unicast address"));
    }
    Ok(mac)
}

/// `[home] pools`: disjoint prefixes of /8 or longer that hold no port address.
fn home_pools(raw: &[String], ports: &[PortConfig]) -> Result<Vec<Prefix>, ConfigError> {
    if raw.is_empty() {
        return err("home.pools", "at least one home pool prefix is required");
    }
    let mut pools: Vec<Prefix> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let field = format!("home.pools[{i}]");
        let p = Prefix::parse(s).or_else(|e| err(&field, e.to_string()))?;
        if p.len < 8 {
            return err(field, "prefix shorter than /8");
        }
        if let Some(q) = pools
            .iter()
            .find(|q| q.contains(p.addr) || p.contains(q.addr))
        {
            return err(field, format!("overlaps {q}"));
        }
        if let Some(j) = ports.iter().position(|port| p.contains(port.address)) {
            return err(field, format!("contains port[{j}].address"));
        }
        pools.push(p);
    }
    Ok(pools)
}

/// The `[[worker]]` sections: distinct lcores, each rx queue polled by exactly one
/// worker, every port's queues numbered 0..n.
fn workers(
    raw: &[RawWorker],
    ports: &[PortConfig],
    control_lcore: Option<u32>,
) -> Result<Vec<WorkerConfig>, ConfigError> {
    if raw.is_empty() {
        return err("worker", "at least one [[worker]] is required");
    }
    let mut workers = Vec::new();
    let mut lcores = HashSet::new();
    let mut polled = HashSet::new();
    for (i, w) in raw.iter().enumerate() {
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
        if let Some(q) = (0..n).find(|q| !polled.contains(&(pi, *q))) {
            return err(
                format!("port[{pi}]"),
                format!("rx queues must be 0..{n}: queue {q} is polled by no worker"),
            );
        }
    }
    if let Some(c) = control_lcore {
        if lcores.contains(&c) {
            return err("control.lcore", format!("lcore {c} is also a worker"));
        }
    }
    Ok(workers)
}

/// `[table]`, `control.ring_size` and `[mempool]`: the rings must not be able to hold
/// every mbuf, and one mbuf must hold the largest frame.
fn sizes(raw: &RawConfig, ports: &[PortConfig], workers: usize) -> Result<Sizes, ConfigError> {
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
    let held = u64::from(ring) * workers as u64;
    if held >= u64::from(mbufs) {
        return err(
            "control.ring_size",
            format!(
                "{ring} x {workers} workers = {held} mbufs could wait in the control rings, \
                 not fewer than mempool.mbufs ({mbufs}): receiving would starve"
            ),
        );
    }
    let data_room = raw.mempool.data_room.unwrap_or(2176);
    let max_mtu = ports.iter().map(|p| p.mtu).max().unwrap_or(1500);
    // headroom (128) + ethernet + tunnel header + MTU must fit one segment
    let needed = 128 + 14 + 20 + max_mtu as u32;
    if (data_room as u32) < needed {
        return err(
            "mempool.data_room",
            format!("{data_room} too small for MTU {max_mtu} (needs >= {needed})"),
        );
    }
    Ok(Sizes {
        table_capacity,
        max_bindings,
        ring,
        mbufs,
        data_room,
    })
}

/// The registration settings of `[control]`.
fn registration(rc: &RawControl) -> Result<RegistrationConfig, ConfigError> {
    let max_lifetime_s = rc.max_lifetime_s.unwrap_or(1800);
    if max_lifetime_s == 0 {
        return err("control.max_lifetime_s", "must be > 0");
    }
    let replay_window_s = rc.replay_window_s.unwrap_or(7);
    if !(1..=3600).contains(&replay_window_s) {
        return err("control.replay_window_s", "must be 1..=3600");
    }
    let per_subscriber_per_sec = rc.per_subscriber_per_sec.unwrap_or(10);
    let max = crate::control::registrar::MAX_PER_SUBSCRIBER_PER_SEC;
    if per_subscriber_per_sec > max {
        return err(
            "control.per_subscriber_per_sec",
            format!("must be <= {max} (registrations per second of one subscriber)"),
        );
    }
    let rate = |field: &str, v: Option<u32>, default: u32| match v.unwrap_or(default) {
        0 => err(format!("control.{field}"), "must be >= 1"),
        v => Ok(v),
    };
    Ok(RegistrationConfig {
        subscribers: rc.subscribers.clone(),
        state_dir: rc.state_dir.clone(),
        max_lifetime_s,
        replay_window_s,
        admission_per_sec: rc.admission_per_sec.unwrap_or(500_000),
        per_subscriber_per_sec,
        per_source_per_sec: rate("per_source_per_sec", rc.per_source_per_sec, 5000)?,
        unauthenticated_replies_per_sec: rate(
            "unauthenticated_replies_per_sec",
            rc.unauthenticated_replies_per_sec,
            1000,
        )?,
        unauthenticated_replies_per_source_per_sec: rate(
            "unauthenticated_replies_per_source_per_sec",
            rc.unauthenticated_replies_per_source_per_sec,
            10,
        )?,
        journal_compact_bytes: rc.journal_compact_bytes.unwrap_or(64 << 20).max(4096),
        nat_keepalive_s: match rc
            .nat_keepalive_secs
            .unwrap_or(msm_mip::nat::DEFAULT_KEEPALIVE_S)
        {
            0 => return err("control.nat_keepalive_secs", "must be >= 1"),
            v => v,
        },
    })
}

/// `control.batch_max`: requests taken off the rings per control-loop iteration.
fn batch_max(rc: &RawControl) -> Result<usize, ConfigError> {
    let n = rc
        .batch_max
        .unwrap_or(crate::control::service::MAX_HELD as u32);
    let most = crate::control::service::MAX_HELD as u32;
    if !(1..=most).contains(&n) {
        return err(
            "control.batch_max",
            format!("must be 1..={most} (the most requests one group commit holds)"),
        );
    }
    Ok(n as usize)
}
