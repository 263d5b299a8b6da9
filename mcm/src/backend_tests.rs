//! Tests of the tunnel backend's pure parts: the choice at start, the
//! carrier of a binding, the MTU figures, the ipip device's plan and its
//! netlink encoding. (The kernel device itself needs an ipip kernel, which
//! the machines this project is tested on lack: docs/mcm-and-handover.md.)

use super::*;
use netlink_packet_core::{NlaBuffer, Parseable};
use std::cell::Cell;

const COA: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const MSM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

fn err(code: i32) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(code))
}

#[test]
fn tun_is_taken_without_probing_the_kernel() {
    let probed = Cell::new(0);
    let s = decide(Mode::Tun, || {
        probed.set(probed.get() + 1);
        Ok(())
    })
    .unwrap();
    assert_eq!((s.kind, s.mode, probed.get()), (Kind::Tun, Mode::Tun, 0));
    assert_eq!(
        s.log_line(),
        "tunnel backend: tun (tunnel_backend = \"tun\")"
    );
}

#[test]
fn auto_takes_the_kernel_device_only_when_the_probe_succeeds() {
    let probed = Cell::new(0);
    let s = decide(Mode::Auto, || {
        probed.set(probed.get() + 1);
        Ok(())
    })
    .unwrap();
    assert_eq!((s.kind, probed.get()), (Kind::Kernel, 1));
    assert!(
        s.log_line().starts_with("tunnel backend: kernel ("),
        "{}",
        s.log_line()
    );
    assert!(s.reason.contains("UDP tunnel stays on the userspace path"));

    // This machine's kernel: no ipip, `ip` says "Unknown device type" (EOPNOTSUPP).
    let s = decide(Mode::Auto, || err(libc::EOPNOTSUPP)).unwrap();
    assert_eq!(s.kind, Kind::Tun);
    assert_eq!(
        s.log_line(),
        "tunnel backend: tun (tunnel_backend = \"auto\": kernel ipip unavailable: \
         Unknown device type: this kernel has no ipip (CONFIG_NET_IPIP))"
    );
    let s = decide(Mode::Auto, || err(libc::EPERM)).unwrap();
    assert_eq!(s.kind, Kind::Tun);
    assert!(
        s.reason
            .ends_with("Operation not permitted (needs CAP_NET_ADMIN)"),
        "{}",
        s.reason
    );
    // Any other error: the kernel's own words.
    let s = decide(Mode::Auto, || err(libc::ENOMEM)).unwrap();
    assert_eq!(s.kind, Kind::Tun);
    assert!(s
        .reason
        .contains(&io::Error::from_raw_os_error(libc::ENOMEM).to_string()));
}

#[test]
fn kernel_asked_for_and_unavailable_is_an_error_not_a_fallback() {
    let e = decide(Mode::Kernel, || err(libc::EOPNOTSUPP)).unwrap_err();
    assert_eq!(
        e,
        "tunnel_backend = \"kernel\": the kernel cannot create an ipip device: \
         Unknown device type: this kernel has no ipip (CONFIG_NET_IPIP) \
         (use \"auto\" or \"tun\" for the TUN device)"
    );
    let e = decide(Mode::Kernel, || err(libc::EPERM)).unwrap_err();
    assert!(e.contains("Operation not permitted"), "{e}");
    let s = decide(Mode::Kernel, || Ok(())).unwrap();
    assert_eq!((s.kind, s.mode), (Kind::Kernel, Mode::Kernel));
}

#[test]
fn the_udp_tunnel_always_takes_the_tun_device() {
    assert_eq!(carrier(Kind::Kernel, false), Carrier::Kernel);
    assert_eq!(carrier(Kind::Kernel, true), Carrier::Tun);
    assert_eq!(carrier(Kind::Tun, false), Carrier::Tun);
    assert_eq!(carrier(Kind::Tun, true), Carrier::Tun);
}

#[test]
fn mtu_accounts_for_the_outer_headers() {
    // What the daemon always set: tunnel_mtu, 12 less for the UDP tunnel.
    assert_eq!(tunnel_mtu(1480, None, false), 1480);
    assert_eq!(tunnel_mtu(1480, None, true), 1468);
    // A 1500-byte WLAN: the same (1500 - 20, 1500 - 32).
    assert_eq!(tunnel_mtu(1480, Some(1500), false), 1480);
    assert_eq!(tunnel_mtu(1480, Some(1500), true), 1468);
    // A configured MTU too large for the WLAN is cut to what the WLAN carries.
    assert_eq!(tunnel_mtu(1500, Some(1500), false), 1480);
    assert_eq!(tunnel_mtu(1500, Some(1500), true), 1468);
    assert_eq!(tunnel_mtu(1480, Some(1400), false), 1380);
    assert_eq!(tunnel_mtu(1480, Some(1400), true), 1368);
    // A smaller configured MTU stays.
    assert_eq!(tunnel_mtu(1280, Some(9000), false), 1280);
    assert_eq!(tunnel_mtu(1280, Some(9000), true), 1268);
    // Never under IPv4's minimum.
    assert_eq!(tunnel_mtu(576, Some(60), false), 68);
    assert_eq!(tunnel_mtu(576, Some(0), true), 68);
    assert_eq!(IPIP_OVERHEAD + NAT_EXTRA, 32);
}

fn plan() -> IpipPlan {
    IpipPlan {
        name: "mcmip0".into(),
        local: COA,
        remote: MSM,
        link: ("wlan0".into(), 7),
        mtu: 1480,
        home: HOME,
        table: 100,
    }
}

#[test]
fn the_plan_as_ip_commands() {
    assert_eq!(
        plan().ip_commands(),
        [
            "ip link add mcmip0 type ipip local 203.0.113.10 remote 198.51.100.1 dev wlan0 ttl 64 pmtudisc",
            "ip link set mcmip0 mtu 1480 up",
            "ip route replace default dev mcmip0 src 192.0.2.10 table 100",
        ]
    );
    let mut p = plan();
    p.local = Ipv4Addr::new(192, 168, 109, 74);
    p.mtu = 1380;
    let c = p.ip_commands();
    assert!(
        c[0].contains("local 192.168.109.74 remote 198.51.100.1"),
        "{}",
        c[0]
    );
    assert_eq!(c[1], "ip link set mcmip0 mtu 1380 up");
}

/// The IFLA_IPTUN_* attributes of `data`, by type.
fn iptun_attrs(data: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let nla = NlaBuffer::new_checked(&data[off..]).unwrap();
        let d = DefaultNla::parse(&nla).unwrap();
        let mut v = vec![0; d.value_len()];
        d.emit_value(&mut v);
        out.push((nla.kind(), v));
        off += (usize::from(nla.length()) + 3) & !3;
    }
    out
}

use netlink_packet_core::Nla;

#[test]
fn the_ipip_attributes_are_encoded_as_the_kernel_reads_them() {
    let a = iptun_attrs(&plan().info_data());
    assert_eq!(
        a,
        vec![
            (1, 7u32.to_ne_bytes().to_vec()), // IFLA_IPTUN_LINK: the WLAN's index
            (2, vec![203, 0, 113, 10]),       // IFLA_IPTUN_LOCAL: the care-of address
            (3, vec![198, 51, 100, 1]),       // IFLA_IPTUN_REMOTE: IPmsm-wlan
            (4, vec![64]),                    // IFLA_IPTUN_TTL
            (10, vec![1]),                    // IFLA_IPTUN_PMTUDISC
        ]
    );
}

#[test]
fn newlink_creates_or_changes_the_device_up_with_its_mtu() {
    let p = plan();
    for index in [None, Some(42)] {
        let m = p.newlink(index);
        assert_eq!(m.header.index, index.unwrap_or(0));
        assert!(m.header.flags.contains(LinkFlags::Up));
        assert!(m.header.change_mask.contains(LinkFlags::Up));
        assert!(m
            .attributes
            .contains(&LinkAttribute::IfName("mcmip0".into())));
        assert!(m.attributes.contains(&LinkAttribute::Mtu(1480)));
        let info = m
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::LinkInfo(i) => Some(i.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(info[0], LinkInfo::Kind(InfoKind::IpTun));
        assert_eq!(info[1], LinkInfo::Data(InfoData::Other(p.info_data())));
        // Serialised, the kind is the kernel's "ipip".
        let mut buf = vec![0; m.buffer_len()];
        m.emit(&mut buf);
        assert!(buf.windows(5).any(|w| w == b"ipip\0"));
    }
}

#[test]
fn the_probe_device_name_fits_linux() {
    for pid in [1, 4_194_304, u32::MAX] {
        let n = probe_name(pid);
        crate::config::ifname_ok("probe", &n).unwrap();
        assert!(n.starts_with("mcmprobe"));
    }
    assert_ne!(probe_name(100), probe_name(101));
}

#[test]
fn the_kernel_device_decapsulates_for_its_local_address_only() {
    let mut k = KernelDev {
        name: "mcmip0".into(),
        live: None,
    };
    assert!(
        !k.decapsulates(COA),
        "no device: the MCM delivers everything"
    );
    k.live = Some((9, COA));
    assert!(k.decapsulates(COA));
    assert!(
        !k.decapsulates(Ipv4Addr::new(203, 0, 113, 74)),
        "the previous care-of address after a handover: the MCM delivers"
    );
}

/// The IFLA_INFO_DATA iproute2 (6.x) sends for `ip link add mcmip0 type ipip local
/// 203.0.113.10 remote 198.51.100.1 dev wlan0 ttl 64 pmtudisc` with wlan0 at index 3,
/// captured with `strace -e sendmsg -xx` (the kernel then answers EOPNOTSUPP here).
const IP_TOOL_INFO_DATA: &[u8] =
    b"\x05\x00\x09\x00\x00\x00\x00\x00\x08\x00\x02\x00\xcb\x00\x71\x0a\
\x08\x00\x03\x00\xc6\x33\x64\x01\x05\x00\x0a\x00\x01\x00\x00\x00\x05\x00\x05\x00\x00\x00\x00\x00\
\x05\x00\x04\x00\x40\x00\x00\x00\x08\x00\x01\x00\x03\x00\x00\x00\x08\x00\x14\x00\x00\x00\x00\x00\
\x06\x00\x0f\x00\x00\x00\x00\x00\x06\x00\x10\x00\x00\x00\x00\x00\x06\x00\x11\x00\x00\x00\x00\x00\
\x06\x00\x12\x00\x00\x00\x00\x00";

#[test]
fn every_ipip_attribute_is_encoded_as_iproute2_encodes_it() {
    let mut p = plan();
    p.link.1 = 3;
    let ours = iptun_attrs(&p.info_data());
    let theirs = iptun_attrs(IP_TOOL_INFO_DATA);
    assert_eq!(ours.len(), 5);
    for a in &ours {
        assert!(
            theirs.contains(a),
            "{a:?} not as iproute2 sends it: {theirs:?}"
        );
    }
    // What iproute2 sends beyond ours is zero: protocol (any), TOS (inherit 0), fwmark,
    // no encapsulation: the kernel's defaults.
    for (kind, v) in theirs.iter().filter(|t| !ours.contains(t)) {
        assert!(v.iter().all(|b| *b == 0), "attribute {kind}: {v:?}");
    }
}
