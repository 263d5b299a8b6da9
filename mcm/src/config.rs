//! The MCM's configuration file (TOML). Every error names the field.

use serde::Deserialize;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The configuration, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The subscriber's MSISDN: the NAI of every request (1-15 digits).
    pub msisdn: String,
    /// The invariable home address (IPgprs). It must be configured on the
    /// terminal (e.g. on `lo` or a dummy interface) so that it survives moves.
    pub home: Ipv4Addr,
    /// SPI of the MN-HA key (>= 256).
    pub spi: u32,
    /// MN-HA key, hex (16-32 bytes).
    pub key: String,
    /// IPmsm-gprs: where requests go (the Home Agent field).
    pub msm_wwan: Ipv4Addr,
    /// IPmsm-wlan: the MSM's tunnel endpoint.
    pub msm_wlan: Ipv4Addr,
    /// WWAN interface.
    pub wwan: String,
    /// WLAN interfaces, in order of preference.
    pub wlan: Vec<String>,
    /// Lifetime asked for, seconds (1-65534).
    #[serde(default = "d_lifetime")]
    pub lifetime_s: u16,
    /// First retransmission timeout (ms); doubles up to `retransmit_max_ms`.
    #[serde(default = "d_rtx")]
    pub retransmit_initial_ms: u64,
    /// Largest retransmission timeout (ms).
    #[serde(default = "d_rtx_max")]
    pub retransmit_max_ms: u64,
    /// Renew when this fraction of the granted lifetime has passed (0.1-0.95).
    #[serde(default = "d_renew")]
    pub renew_fraction: f64,
    /// Seconds added to the terminal's clock in Identifications at start
    /// (-86400-86400). 133 replies correct it anyway; this exists for
    /// terminals whose clock is known to be off, and for tests of the
    /// resynchronisation.
    #[serde(default)]
    pub clock_offset_s: i64,
    /// Name of the tunnel device (a TUN device the MCM serves).
    #[serde(default = "d_tun")]
    pub tunnel_dev: String,
    /// What carries IP-in-IP (`mcm/src/backend.rs`, docs/mcm-and-handover.md):
    /// "auto" (default) the kernel's ipip device where the kernel can create
    /// one, else the TUN device; "kernel" the ipip device, and the MCM does not
    /// start without it; "tun" the TUN device and the MCM's own relay. The UDP
    /// tunnel (RFC 3519) always uses the TUN device.
    #[serde(default = "d_backend")]
    pub tunnel_backend: String,
    /// Name of the kernel's ipip device (the `kernel` backend).
    #[serde(default = "d_kernel_dev")]
    pub kernel_tunnel_dev: String,
    /// MTU of the tunnel device (576-1480 for 1500-byte links); 12 bytes less
    /// for the UDP tunnel, and never more than the WLAN's MTU less the outer
    /// headers (20 bytes; 32 for the UDP tunnel).
    #[serde(default = "d_mtu")]
    pub tunnel_mtu: u32,
    /// Policy-routing table for traffic from the home address (1-252).
    #[serde(default = "d_table")]
    pub route_table: u32,
    /// Priority of the rule `from <home> lookup <route_table>`.
    #[serde(default = "d_prio")]
    pub rule_priority: u32,
    /// Operator socket (`mcm ctl`).
    #[serde(default = "d_socket")]
    pub socket: PathBuf,
    /// Source UDP port of requests (0: any free port); also the port of the
    /// UDP tunnel's socket on each care-of address.
    #[serde(default)]
    pub port: u16,
    /// NAT traversal (RFC 3519): "auto" asks for the UDP tunnel when the
    /// care-of address lies in `private_prefixes`, "always" always (with the
    /// F flag), "never" never.
    #[serde(default = "d_udp_tunnel")]
    pub udp_tunnel: String,
    /// Prefixes whose care-of addresses are taken to be behind a NAT
    /// ("auto"). Default: RFC 1918, 100.64.0.0/10, 169.254.0.0/16.
    #[serde(default = "d_private")]
    pub private_prefixes: Vec<String>,
    /// Probe the UDP tunnel (ICMP echo to IPmsm-wlan) this often, ms, when
    /// shorter than the MSM's keepalive interval (0: only at that interval;
    /// else 100-600000).
    #[serde(default = "d_probe")]
    pub probe_interval_ms: u64,
    /// Unanswered probes in a row after which the MCM re-registers (the NAT
    /// mapping is taken to have changed), 1-100.
    #[serde(default = "d_probe_misses")]
    pub probe_misses: u32,
    /// Leave a WLAN by itself when its probes (ICMP echo to IPmsm-wlan
    /// through the tunnel, every `probe_interval_ms`) find it poor.
    #[serde(default)]
    pub quality: bool,
    /// Probe outcomes judged together (3-1000).
    #[serde(default = "d_q_window")]
    pub quality_window: usize,
    /// Leave when this share (%) of a full window is lost (1-100).
    #[serde(default = "d_q_poor")]
    pub quality_poor_loss_pct: u32,
    /// At most this share (%) lost over a full window proves a WLAN good
    /// again (hold-down reset); below `quality_poor_loss_pct`.
    #[serde(default = "d_q_good")]
    pub quality_good_loss_pct: u32,
    /// First hold-down before a WLAN left as poor is tried again (ms, >= 1000).
    #[serde(default = "d_q_hold")]
    pub quality_hold_ms: u64,
    /// Largest hold-down (ms, >= quality_hold_ms); it doubles each time.
    #[serde(default = "d_q_hold_max")]
    pub quality_hold_max_ms: u64,
}

fn d_q_window() -> usize {
    10
}
fn d_q_poor() -> u32 {
    50
}
fn d_q_good() -> u32 {
    10
}
fn d_q_hold() -> u64 {
    20_000
}
fn d_q_hold_max() -> u64 {
    300_000
}

fn d_udp_tunnel() -> String {
    "auto".into()
}
fn d_private() -> Vec<String> {
    crate::machine::DEFAULT_PRIVATE_PREFIXES
        .iter()
        .map(|(a, l)| format!("{a}/{l}"))
        .collect()
}
fn d_probe() -> u64 {
    1000
}
fn d_probe_misses() -> u32 {
    3
}

/// Parse `a.b.c.d/len` (host bits must be zero).
pub fn prefix(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let a: Ipv4Addr = a.parse().ok()?;
    let l: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    let host = u32::MAX.checked_shr(u32::from(l)).unwrap_or(0);
    (u32::from(a) & host == 0).then_some((a, l))
}

fn d_lifetime() -> u16 {
    60
}
fn d_rtx() -> u64 {
    1000
}
fn d_rtx_max() -> u64 {
    16_000
}
fn d_renew() -> f64 {
    0.8
}
fn d_tun() -> String {
    "mip0".into()
}
fn d_backend() -> String {
    "auto".into()
}
fn d_kernel_dev() -> String {
    "mcmip0".into()
}
fn d_mtu() -> u32 {
    1480
}
fn d_table() -> u32 {
    100
}
fn d_prio() -> u32 {
    100
}
fn d_socket() -> PathBuf {
    "/run/mcm.sock".into()
}

/// A checked configuration: the key decoded.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The file's fields.
    pub cfg: Config,
    /// The key's bytes.
    pub key: Vec<u8>,
    /// `udp_tunnel`, decoded.
    pub udp_tunnel: crate::machine::UdpTunnelMode,
    /// `private_prefixes`, decoded.
    pub private_prefixes: Vec<(Ipv4Addr, u8)>,
    /// The `quality*` keys, when `quality = true`.
    pub quality: Option<crate::machine::Quality>,
    /// `tunnel_backend`, decoded.
    pub tunnel_backend: crate::backend::Mode,
}

/// Check an interface name as Linux takes it; errors name `field`.
pub(crate) fn ifname_ok(field: &str, n: &str) -> Result<(), String> {
    if n.is_empty() || n.len() > 15 || n.contains(['/', ' ', '\0']) {
        return Err(format!(
            "{field}: {n:?} is not an interface name (1-15 characters, no '/' or spaces)"
        ));
    }
    Ok(())
}

/// Decode hex (even length, 0-9a-fA-F).
pub fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Config {
    /// Parse and check a file.
    pub fn load(path: &Path) -> Result<Checked, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parse and check the file's text.
    pub fn parse(text: &str) -> Result<Checked, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.check()
    }

    fn check(self) -> Result<Checked, String> {
        let c = &self;
        if c.msisdn.is_empty()
            || c.msisdn.len() > 15
            || !c.msisdn.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("msisdn: {:?} must be 1-15 digits", c.msisdn));
        }
        if c.spi < msm_mip::MIN_SPI {
            return Err(format!(
                "spi: {} is reserved (must be >= {})",
                c.spi,
                msm_mip::MIN_SPI
            ));
        }
        let key = hex(&c.key).ok_or_else(|| "key: not an even-length hex string".to_string())?;
        if !(16..=32).contains(&key.len()) {
            // The MSM's subscriber file takes 16-32 bytes (src/control/subscribers/).
            return Err(format!(
                "key: {} bytes (must be 16-32, as the MSM's subscriber file)",
                key.len()
            ));
        }
        for (f, a) in [
            ("home", c.home),
            ("msm_wwan", c.msm_wwan),
            ("msm_wlan", c.msm_wlan),
        ] {
            if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() {
                return Err(format!("{f}: {a} is not a unicast address"));
            }
        }
        if c.home == c.msm_wwan || c.home == c.msm_wlan {
            return Err("home: must differ from the MSM's addresses".into());
        }
        ifname_ok("wwan", &c.wwan)?;
        if c.wlan.is_empty() {
            return Err("wlan: at least one WLAN interface".into());
        }
        for w in &c.wlan {
            ifname_ok("wlan", w)?;
            if *w == c.wwan {
                return Err(format!("wlan: {w} is also the WWAN interface"));
            }
        }
        ifname_ok("tunnel_dev", &c.tunnel_dev)?;
        let tunnel_backend = crate::backend::Mode::parse(&c.tunnel_backend)?;
        ifname_ok("kernel_tunnel_dev", &c.kernel_tunnel_dev)?;
        if c.kernel_tunnel_dev == c.tunnel_dev
            || c.kernel_tunnel_dev == c.wwan
            || c.wlan.contains(&c.kernel_tunnel_dev)
        {
            return Err(format!(
                "kernel_tunnel_dev: {:?} is already tunnel_dev, wwan or a wlan",
                c.kernel_tunnel_dev
            ));
        }
        if c.lifetime_s == 0 || c.lifetime_s == u16::MAX {
            return Err("lifetime_s: must be 1-65534 (0 means cancel, 65535 infinity)".into());
        }
        if c.retransmit_initial_ms < 10 || c.retransmit_max_ms < c.retransmit_initial_ms {
            return Err("retransmit_initial_ms: must be >= 10 and <= retransmit_max_ms".into());
        }
        if !(0.1..=0.95).contains(&c.renew_fraction) {
            return Err(format!(
                "renew_fraction: {} not in 0.1-0.95",
                c.renew_fraction
            ));
        }
        if !(-86400..=86400).contains(&c.clock_offset_s) {
            return Err(format!(
                "clock_offset_s: {} not in -86400-86400",
                c.clock_offset_s
            ));
        }
        if !(576..=65515).contains(&c.tunnel_mtu) {
            return Err(format!("tunnel_mtu: {} not in 576-65515", c.tunnel_mtu));
        }
        if !(1..=252).contains(&c.route_table) {
            return Err(format!(
                "route_table: {} not in 1-252 (253-255 are the kernel's)",
                c.route_table
            ));
        }
        if c.rule_priority == 0 || c.rule_priority >= 32766 {
            return Err(format!(
                "rule_priority: {} must be 1-32765 (before the main table's rule)",
                c.rule_priority
            ));
        }
        let udp_tunnel = match c.udp_tunnel.as_str() {
            "auto" => crate::machine::UdpTunnelMode::Auto,
            "always" => crate::machine::UdpTunnelMode::Always,
            "never" => crate::machine::UdpTunnelMode::Never,
            o => {
                return Err(format!(
                    "udp_tunnel: {o:?} must be \"auto\", \"always\" or \"never\""
                ))
            }
        };
        let private_prefixes = c
            .private_prefixes
            .iter()
            .map(|p| {
                prefix(p).ok_or_else(|| {
                    format!("private_prefixes: {p:?} is not an IPv4 prefix a.b.c.d/len with zero host bits")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if c.probe_interval_ms != 0 && !(100..=600_000).contains(&c.probe_interval_ms) {
            return Err(format!(
                "probe_interval_ms: {} must be 0 or 100-600000",
                c.probe_interval_ms
            ));
        }
        if !(1..=100).contains(&c.probe_misses) {
            return Err(format!("probe_misses: {} not in 1-100", c.probe_misses));
        }
        if !(3..=1000).contains(&c.quality_window) {
            return Err(format!(
                "quality_window: {} not in 3-1000",
                c.quality_window
            ));
        }
        if !(1..=100).contains(&c.quality_poor_loss_pct) {
            return Err(format!(
                "quality_poor_loss_pct: {} not in 1-100",
                c.quality_poor_loss_pct
            ));
        }
        if c.quality_good_loss_pct >= c.quality_poor_loss_pct {
            return Err(format!(
                "quality_good_loss_pct: {} must be below quality_poor_loss_pct ({}): the hysteresis",
                c.quality_good_loss_pct, c.quality_poor_loss_pct
            ));
        }
        if c.quality_hold_ms < 1000 || c.quality_hold_max_ms < c.quality_hold_ms {
            return Err("quality_hold_ms: must be >= 1000 and <= quality_hold_max_ms".into());
        }
        let quality = c.quality.then_some(crate::machine::Quality {
            window: c.quality_window,
            poor_loss_pct: c.quality_poor_loss_pct,
            good_loss_pct: c.quality_good_loss_pct,
            hold_ms: c.quality_hold_ms,
            hold_max_ms: c.quality_hold_max_ms,
        });
        Ok(Checked {
            cfg: self,
            key,
            udp_tunnel,
            private_prefixes,
            quality,
            tunnel_backend,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
msisdn = "491700000010"
home = "192.0.2.10"
spi = 256
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
msm_wwan = "192.0.2.129"
msm_wlan = "198.51.100.1"
wwan = "wwan0"
wlan = ["wlan0"]
"#;

    #[test]
    fn good_config_and_defaults() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.key.len(), 32);
        assert_eq!(c.cfg.lifetime_s, 60);
        assert_eq!(c.cfg.tunnel_dev, "mip0");
        assert_eq!(c.cfg.route_table, 100);
        assert_eq!(c.udp_tunnel, crate::machine::UdpTunnelMode::Auto);
        assert_eq!(
            c.private_prefixes,
            crate::machine::DEFAULT_PRIVATE_PREFIXES.to_vec()
        );
        assert_eq!((c.cfg.probe_interval_ms, c.cfg.probe_misses), (1000, 3));
        assert_eq!(c.tunnel_backend, crate::backend::Mode::Auto);
        assert_eq!(c.cfg.kernel_tunnel_dev, "mcmip0");
    }

    #[test]
    fn tunnel_backend_key() {
        use crate::backend::Mode;
        for (v, m) in [
            ("auto", Mode::Auto),
            ("kernel", Mode::Kernel),
            ("tun", Mode::Tun),
        ] {
            let c = Config::parse(&format!("{GOOD}tunnel_backend = \"{v}\"\n")).unwrap();
            assert_eq!(c.tunnel_backend, m, "{v}");
            assert_eq!(m.as_str(), v);
        }
        let e = Config::parse(&format!("{GOOD}tunnel_backend = \"ipip\"\n")).unwrap_err();
        assert_eq!(
            e,
            "tunnel_backend: \"ipip\" must be \"auto\", \"kernel\" or \"tun\""
        );
        let e = Config::parse(&format!("{GOOD}tunnel_backend = \"Kernel\"\n")).unwrap_err();
        assert!(e.starts_with("tunnel_backend: \"Kernel\""), "{e}");
        let e = Config::parse(&format!("{GOOD}tunnel_backend = 1\n")).unwrap_err();
        assert!(e.contains("tunnel_backend"), "{e}");
        let c = Config::parse(&format!("{GOOD}kernel_tunnel_dev = \"ipip7\"\n")).unwrap();
        assert_eq!(c.cfg.kernel_tunnel_dev, "ipip7");
        for clash in ["mip0", "wwan0", "wlan0"] {
            let e = Config::parse(&format!("{GOOD}kernel_tunnel_dev = \"{clash}\"\n")).unwrap_err();
            assert!(e.starts_with("kernel_tunnel_dev:"), "{clash}: {e}");
        }
        let e = Config::parse(&format!("{GOOD}kernel_tunnel_dev = \"a/b\"\n")).unwrap_err();
        assert!(e.starts_with("kernel_tunnel_dev:"), "{e}");
    }

    #[test]
    fn nat_traversal_keys() {
        let t =
            GOOD.to_string() + "udp_tunnel = \"always\"\nprivate_prefixes = [\"192.0.2.192/29\"]\n";
        let c = Config::parse(&t).unwrap();
        assert_eq!(c.udp_tunnel, crate::machine::UdpTunnelMode::Always);
        assert_eq!(
            c.private_prefixes,
            vec![(Ipv4Addr::new(192, 0, 2, 192), 29)]
        );
        assert_eq!(prefix("10.0.0.0/8"), Some((Ipv4Addr::new(10, 0, 0, 0), 8)));
        assert_eq!(prefix("10.0.0.1/8"), None, "host bits set");
        assert_eq!(prefix("10.0.0.0/33"), None);
        assert_eq!(prefix("10.0.0.0"), None);
        assert_eq!(prefix("0.0.0.0/0"), Some((Ipv4Addr::UNSPECIFIED, 0)));
        assert_eq!(
            prefix("192.0.2.7/32"),
            Some((Ipv4Addr::new(192, 0, 2, 7), 32))
        );
    }

    #[test]
    fn shipped_mcm_configs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dpdk-config");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("mcm") && name.ends_with(".toml") {
                Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 1, "no mcm-*.toml in {}", dir.display());
    }

    #[test]
    fn errors_name_the_field() {
        let bad = |from: &str, to: &str, field: &str| {
            let t = GOOD.replace(from, to);
            let e = Config::parse(&t).unwrap_err();
            assert!(e.contains(field), "{from} -> {to}: {e}");
        };
        bad("\"491700000010\"", "\"49170x\"", "msisdn");
        bad("spi = 256", "spi = 255", "spi");
        bad("1d1e1f\"", "1d1e1\"", "key");
        bad("wlan = [\"wlan0\"]", "wlan = []", "wlan");
        bad("wlan = [\"wlan0\"]", "wlan = [\"wwan0\"]", "wlan");
        bad("home = \"192.0.2.10\"", "home = \"192.0.2.129\"", "home");
        bad("wwan = \"wwan0\"", "wwan = \"a/b\"", "wwan");
        bad(
            "wwan = \"wwan0\"",
            "wwan = \"wwan0\"\nlifetime_s = 0",
            "lifetime_s",
        );
        bad(
            "wwan = \"wwan0\"",
            "wwan = \"wwan0\"\nroute_table = 254",
            "route_table",
        );
        bad(
            "wwan = \"wwan0\"",
            "wwan = \"wwan0\"\nrenew_fraction = 1.0",
            "renew_fraction",
        );
        bad("wwan = \"wwan0\"", "wwan = \"wwan0\"\nbogus = 1", "bogus");
        bad("home = \"192.0.2.10\"", "home = \"192.0.2.300\"", "home");
        let extra = |line: &str, field: &str| {
            let e = Config::parse(&format!("{GOOD}{line}\n")).unwrap_err();
            assert!(e.contains(field), "{line}: {e}");
        };
        extra("udp_tunnel = \"sometimes\"", "udp_tunnel");
        extra("private_prefixes = [\"10.1.2.3/8\"]", "private_prefixes");
        extra("probe_interval_ms = 50", "probe_interval_ms");
        extra("probe_misses = 0", "probe_misses");
        extra("quality_window = 2", "quality_window");
        extra("quality_good_loss_pct = 50", "quality_good_loss_pct");
        extra("quality_hold_ms = 10", "quality_hold_ms");
        let q = Config::parse(&format!("{GOOD}quality = true\nquality_window = 5\n")).unwrap();
        assert_eq!(
            q.quality,
            Some(crate::machine::Quality {
                window: 5,
                poor_loss_pct: 50,
                good_loss_pct: 10,
                hold_ms: 20_000,
                hold_max_ms: 300_000
            })
        );
        assert_eq!(Config::parse(GOOD).unwrap().quality, None, "off by default");
    }
}
