//! Tests of the configuration: defaults, errors naming the field, the shipped files.

use super::*;
use std::net::Ipv4Addr;

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
    for n in ["0", "4097"] {
        let e = bad("[home]", &format!("[control]\nbatch_max = {n}\n[home]"));
        assert_eq!(e.field, "control.batch_max");
    }
    let e = bad(
        "[home]",
        "[control]\nmetrics_listen = \"localhost\"\n[home]",
    );
    assert_eq!(e.field, "control.metrics_listen");
    assert!(e.reason.contains("IP:PORT"), "{e}");
}

#[test]
fn audit_log_settings() {
    let e = bad("[home]", "[control]\naudit_log_keep = 3\n[home]");
    assert_eq!(e.field, "control.audit_log");
    let e = bad(
        "[home]",
        "[control]\naudit_log = \"a.jsonl\"\naudit_log_max_bytes = 100\n[home]",
    );
    assert_eq!(e.field, "control.audit_log_max_bytes");
    let text = GOOD.replacen(
        "[home]",
        "[control]\naudit_log = \"/var/log/msm/audit.jsonl\"\n[home]",
        1,
    );
    let a = Config::from_toml(&text).unwrap().audit.unwrap();
    assert_eq!((a.max_bytes, a.keep), (64 << 20, 5));
    assert_eq!(a.path, Path::new("/var/log/msm/audit.jsonl"));
}

#[test]
fn metrics_listen_is_a_socket_address() {
    let text = GOOD.replacen(
        "[home]",
        "[control]\nmetrics_listen = \"127.0.0.1:9464\"\n[home]",
        1,
    );
    let c = Config::from_toml(&text).unwrap();
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!(Config::from_toml(GOOD).unwrap().metrics_listen, None);
}

#[test]
fn top_sampling_settings() {
    let c = Config::from_toml(GOOD).unwrap();
    assert_eq!((c.top_sample_every, c.top_window_s), (1024, 10));
    let text = GOOD.replacen(
        "[home]",
        "[control]\ntop_sample_every = 0\ntop_window_s = 60\n[home]",
        1,
    );
    let c = Config::from_toml(&text).unwrap();
    assert_eq!((c.top_sample_every, c.top_window_s), (0, 60));
    for n in ["3", "1000", "2097152"] {
        let e = bad(
            "[home]",
            &format!("[control]\ntop_sample_every = {n}\n[home]"),
        );
        assert_eq!(e.field, "control.top_sample_every");
        assert!(e.reason.contains("power of two"), "{e}");
    }
    for n in ["0", "3601"] {
        let e = bad("[home]", &format!("[control]\ntop_window_s = {n}\n[home]"));
        assert_eq!(e.field, "control.top_window_s");
    }
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
    let e = Prefix::parse("10.0.0.1/8").unwrap_err();
    assert_eq!(
        e.to_string(),
        "'10.0.0.1/8' has host bits set (did you mean 10.0.0.0/8?)"
    );
    assert_eq!(
        Prefix::parse("10.0.0/8").unwrap_err(),
        PrefixError::BadAddress("10.0.0".into())
    );
}

#[test]
fn static_gateway_macs_are_optional_and_checked() {
    let c = Config::from_toml(GOOD).unwrap();
    assert_eq!(c.ports[0].gateway_mac, None, "ARP by default");
    let ok = GOOD.replacen(
        "gateway = \"198.51.100.2\"",
        "gateway = \"198.51.100.2\"\ngateway_mac = \"02:00:5E:00:00:bb\"",
        1,
    );
    let c = Config::from_toml(&ok).unwrap();
    assert_eq!(c.ports[1].gateway_mac, Some([2, 0, 0x5e, 0, 0, 0xbb]));
    assert_eq!(c.ports[0].gateway_mac, None);
    for bad_mac in [
        "02:00:5e:00:00",
        "02:00:5e:00:00:bb:cc",
        "02-00-5e-00-00-bb",
        "02:00:5e:00:00:g1",
        "2:0:5e:0:0:bb",
        "ff:ff:ff:ff:ff:ff",
        "01:00:5e:00:00:01",
        "00:00:00:00:00:00",
    ] {
        let e = bad(
            "gateway = \"192.0.2.130\"",
            &format!("gateway = \"192.0.2.130\"\ngateway_mac = \"{bad_mac}\""),
        );
        assert_eq!(e.field, "port[0].gateway_mac", "{bad_mac}");
        assert!(e.reason.contains(bad_mac), "{e}");
    }
    let e = bad(
        "gateway = \"192.0.2.130\"",
        "gateway = \"192.0.2.130\"\nwwan_gateway_mac = \"02:00:00:00:00:01\"",
    );
    assert_eq!(e.field, "port[0].wwan_gateway_mac");
    assert!(e.reason.contains("only allowed for role 'both'"), "{e}");
}

#[test]
fn both_role_takes_a_static_wwan_gateway_mac() {
    let both = GOOD.replacen(
        "role = \"internet\"",
        "role = \"both\"\nwwan_gateway = \"198.51.100.3\"\n\
         wwan_gateway_mac = \"02:00:00:00:00:aa\"\ngateway_mac = \"02:00:00:00:00:bb\"",
        1,
    );
    let c = Config::from_toml(&both).unwrap();
    assert_eq!(c.ports[1].wwan_gateway_mac, Some([2, 0, 0, 0, 0, 0xaa]));
    assert_eq!(c.ports[1].gateway_mac, Some([2, 0, 0, 0, 0, 0xbb]));
    // The same gateway address cannot have two MACs.
    let same = both.replacen("198.51.100.3", "198.51.100.2", 1);
    let e = Config::from_toml(&same).unwrap_err();
    assert_eq!(e.field, "port[1].wwan_gateway_mac");
    let same_mac = same.replacen("00:aa", "00:bb", 1);
    Config::from_toml(&same_mac).unwrap();
}

#[test]
fn admission_limits_have_defaults_and_refuse_zero() {
    let r = Config::from_toml(GOOD).unwrap().registration;
    assert_eq!(r.per_source_per_sec, 5000);
    assert_eq!(r.unauthenticated_replies_per_sec, 1000);
    assert_eq!(r.unauthenticated_replies_per_source_per_sec, 10);
    for field in [
        "per_source_per_sec",
        "unauthenticated_replies_per_sec",
        "unauthenticated_replies_per_source_per_sec",
    ] {
        let e = bad("[home]", &format!("[control]\n{field} = 0\n[home]"));
        assert_eq!(e.field, format!("control.{field}"));
        let text = GOOD.replacen("[home]", &format!("[control]\n{field} = 7\n[home]"), 1);
        let r = Config::from_toml(&text).unwrap().registration;
        let v = [
            r.per_source_per_sec,
            r.unauthenticated_replies_per_sec,
            r.unauthenticated_replies_per_source_per_sec,
        ];
        assert_eq!(v.iter().filter(|&&x| x == 7).count(), 1, "{field}");
    }
}

#[test]
fn housekeeping_cpus_are_checked() {
    let with = |v: &str| {
        GOOD.replacen(
            "[home]",
            &format!("[control]\nhousekeeping_cpus = {v}\n[home]"),
            1,
        )
    };
    assert_eq!(
        Config::from_toml(&with("[0]")).unwrap().housekeeping_cpus,
        vec![0]
    );
    assert!(Config::from_toml(GOOD)
        .unwrap()
        .housekeeping_cpus
        .is_empty());
    for (v, says) in [
        ("[]", "is empty"),
        ("[0, 0]", "named twice"),
        ("[100000]", "does not exist"),
    ] {
        let e = Config::from_toml(&with(v)).unwrap_err();
        assert_eq!(e.field, "control.housekeeping_cpus", "{v}");
        assert!(e.reason.contains(says), "{v}: {}", e.reason);
    }
}

#[test]
fn the_real_nic_example_parses_and_keeps_cpu_0_for_housekeeping() {
    let c = Config::from_toml(include_str!("../../dpdk-config/real-nic.example.toml")).unwrap();
    assert_eq!(c.housekeeping_cpus, vec![0]);
    assert!(c.workers.iter().all(|w| w.lcore != 0), "no worker on CPU 0");
}

/// The per-subscriber limit fits the subscriber record's packed bucket: at most 4000/s.
#[test]
fn per_subscriber_limit_is_bounded() {
    assert_eq!(
        Config::from_toml(GOOD)
            .unwrap()
            .registration
            .per_subscriber_per_sec,
        10
    );
    let e = bad("[home]", "[control]\nper_subscriber_per_sec = 4001\n[home]");
    assert_eq!(e.field, "control.per_subscriber_per_sec");
    assert!(e.reason.contains("<= 4000"), "{}", e.reason);
    let text = GOOD.replacen(
        "[home]",
        "[control]\nper_subscriber_per_sec = 4000\n[home]",
        1,
    );
    let r = Config::from_toml(&text).unwrap().registration;
    assert_eq!(r.per_subscriber_per_sec, 4000);
}

#[test]
fn cluster_section_is_optional_and_checked() {
    assert_eq!(Config::from_toml(GOOD).unwrap().cluster, None);
    let with = |section: &str| {
        let text = format!("{GOOD}[control]\nstate_dir = \"/tmp/x\"\n{section}");
        Config::from_toml(&text)
    };
    let c = with("[cluster]\nendpoints = [\"http://127.0.0.1:2379\"]\nmember = \"msm-a\"\n")
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(c.shard, "s0");
    assert_eq!(c.lease_ttl_ms, 2000);
    assert_eq!(c.member, "msm-a");
    let field = |section: &str| with(section).unwrap_err().field;
    assert_eq!(
        field("[cluster]\nendpoints = []\nmember = \"a\"\n"),
        "cluster.endpoints"
    );
    assert_eq!(
        field("[cluster]\nendpoints = [\"https://h:1\"]\nmember = \"a\"\n"),
        "cluster.endpoints[0]"
    );
    assert_eq!(
        field("[cluster]\nendpoints = [\"http://h:1\"]\nmember = \"a/b\"\n"),
        "cluster.member"
    );
    assert_eq!(
        field("[cluster]\nendpoints = [\"http://h:1\"]\nmember = \"a\"\nshard = \"\"\n"),
        "cluster.shard"
    );
    assert_eq!(
        field("[cluster]\nendpoints = [\"http://h:1\"]\nmember = \"a\"\nlease_ttl_ms = 500\n"),
        "cluster.lease_ttl_ms"
    );
    // Without the local journal: refused.
    let text = format!("{GOOD}[cluster]\nendpoints = [\"http://h:1\"]\nmember = \"a\"\n");
    assert_eq!(Config::from_toml(&text).unwrap_err().field, "cluster");
}
