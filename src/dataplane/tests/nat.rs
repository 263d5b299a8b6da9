//! NAT traversal (RFC 3519) on the data path: downlink to a NAT binding as a MIP Tunnel
//! Data message, checked with etherparse; the MTU with the 32 extra bytes; uplink tunnel
//! data classified, checked against the bound address *and* port, stripped and routed;
//! malformed tunnel data counted; echo replies and ICMP errors sent back through the UDP
//! tunnel.

use super::*;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};

#[test]
fn downlink_to_nat_binding_is_udp_tunnelled() {
    let r = Rig::new();
    let mut f = udp_frame(INET_MAC, SERVER, HOME_NAT, 50, 5000, b"hello behind a NAT");
    set_df_tos(&mut f, 14, true, 0x10);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(&d[0..6], &ROUTER_MAC);
    assert_eq!(&d[6..12], &INET_MAC);
    let p = SlicedPacket::from_ethernet(d).expect("etherparse reads it");
    let Some(NetSlice::Ipv4(outer)) = &p.net else {
        panic!("no outer IPv4")
    };
    let h = outer.header();
    assert_eq!(h.source(), ipb(MSM_WLAN));
    assert_eq!(h.destination(), ipb(NAT_ADDR));
    assert_eq!(h.protocol(), etherparse::IpNumber::UDP);
    assert_eq!(h.ttl(), 64);
    assert!(h.dont_fragment(), "DF copied from the inner header");
    assert_eq!(h.total_len() as usize, d.len() - 14);
    assert!(checksum_ok(&d[14..]));
    let Some(TransportSlice::Udp(u)) = &p.transport else {
        panic!("no UDP")
    };
    assert_eq!(u.source_port(), 434);
    assert_eq!(u.destination_port(), NAT_PORT);
    assert_eq!(u.checksum(), 0, "zero UDP checksum (IPv4)");
    assert_eq!(u.length() as usize, d.len() - 14 - 20);
    let payload = u.payload();
    assert_eq!(&payload[..4], &[4, 4, 0, 0], "MIP Tunnel Data header");
    assert_eq!(&payload[4..], &decremented(&f[14..])[..]);
    assert_eq!(r.events(Event::DownlinkNat), 1);
    assert_eq!(r.events(Event::DownlinkTunnel), 0);
}

#[test]
fn nat_mtu_accounts_for_32_bytes() {
    let r = Rig::new();
    // 1500 - 32 = 1468 bytes of inner packet fit exactly.
    let fit = udp_frame(INET_MAC, SERVER, HOME_NAT, 50, 5000, &[7u8; 1468 - 28]);
    let (a, out) = r.run(1, &fit);
    assert_eq!(a, Action::Tx(1));
    assert_eq!(out.data().len(), 14 + 1500);
    // One more byte with DF: ICMP fragmentation needed carrying MTU 1468.
    let mut big = udp_frame(INET_MAC, SERVER, HOME_NAT, 50, 5000, &[7u8; 1469 - 28]);
    set_df_tos(&mut big, 14, true, 0);
    let (a, out) = r.run(1, &big);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    let icmp = &d[14 + 20..];
    assert_eq!((icmp[0], icmp[1]), (3, 4));
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1468);
    assert_eq!(r.drops(DropReason::FragNeeded), 1);
    // Without DF: not fragmented (not implemented for UDP tunnels), counted.
    let mut big = udp_frame(INET_MAC, SERVER, HOME_NAT, 50, 5000, &[7u8; 1469 - 28]);
    set_df_tos(&mut big, 14, false, 0);
    let (a, _) = r.run(1, &big);
    assert_eq!(a, Action::Drop);
    assert_eq!(r.drops(DropReason::NatFragUnsupported), 1);
}

/// A MIP Tunnel Data message (RFC 3519) built by etherparse: UDP `src:sport ->
/// IPmsm-wlan:434`, the 4-byte header (type 4, next header `next`) and `inner_ip`.
pub(super) fn nat_frame(
    dst_mac: [u8; 6],
    src: &str,
    sport: u16,
    next: u8,
    inner_ip: &[u8],
) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(PEER_MAC, dst_mac)
        .ipv4(ipb(src), ipb(MSM_WLAN), 64)
        .udp(sport, 434);
    let mut payload = vec![4, next, 0, 0];
    payload.extend_from_slice(inner_ip);
    let mut v = Vec::new();
    b.write(&mut v, &payload).unwrap();
    v
}

/// Reads a MIP Tunnel Data message sent by the MSM with etherparse: checks the outer
/// IPv4 + UDP + header toward `NAT_ADDR:NAT_PORT`, sent to Ethernet `mac`, and returns
/// the inner packet.
fn unwrap_nat(d: &[u8], mac: [u8; 6]) -> Vec<u8> {
    assert_eq!(&d[0..6], &mac);
    assert_eq!(&d[6..12], &INET_MAC);
    let p = SlicedPacket::from_ethernet(d).expect("etherparse reads it");
    let Some(NetSlice::Ipv4(outer)) = &p.net else {
        panic!("no outer IPv4")
    };
    assert_eq!(outer.header().source(), ipb(MSM_WLAN));
    assert_eq!(outer.header().destination(), ipb(NAT_ADDR));
    assert!(checksum_ok(&d[14..]));
    let Some(TransportSlice::Udp(u)) = &p.transport else {
        panic!("no UDP")
    };
    assert_eq!((u.source_port(), u.destination_port()), (434, NAT_PORT));
    assert_eq!(u.length() as usize, d.len() - 14 - 20);
    assert_eq!(&u.payload()[..4], &[4, 4, 0, 0]);
    u.payload()[4..].to_vec()
}

#[test]
fn classify_reads_tunnel_data_once() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME_NAT, SERVER, 64, 5000, b"up")[14..];
    let f = nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner);
    let c = crate::dataplane::classify::classify(&r.plane, &r.counters, 1, &f);
    assert_eq!(c.kind, crate::dataplane::classify::Kind::NatTunnel);
    assert_eq!(c.sport, NAT_PORT);
    let i = c.inner.expect("inner header read");
    assert_eq!((i.src, i.dst, i.ttl), (ip(HOME_NAT), ip(SERVER), 64));
    assert_eq!(i.total_len as usize, inner.len());
    // A registration request (type 1) to 434 stays local (-> the control lcore).
    let reg = udp_frame(INET_MAC, NAT_ADDR, MSM_WLAN, 64, 434, &[1, 0, 0, 0]);
    let c = crate::dataplane::classify::classify(&r.plane, &r.counters, 1, &reg);
    assert_eq!(c.kind, crate::dataplane::classify::Kind::Local);
    assert_eq!(r.counters.total_drops(), 0);
}

#[test]
fn uplink_tunnel_data_is_checked_stripped_and_routed() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME_NAT, SERVER, 64, 5000, b"uplink behind a NAT")[14..];
    let (a, out) = r.run(1, &nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner));
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(&d[0..6], &ROUTER_MAC);
    assert_eq!(&d[6..12], &INET_MAC);
    assert_eq!(&d[12..14], &[0x08, 0x00]);
    assert_eq!(&d[14..], &decremented(inner)[..]);
    let p = SlicedPacket::from_ethernet(d).expect("etherparse reads it");
    let Some(NetSlice::Ipv4(ipv4)) = &p.net else {
        panic!("no IPv4")
    };
    assert_eq!(ipv4.header().source(), ipb(HOME_NAT));
    assert_eq!(ipv4.header().destination(), ipb(SERVER));
    assert_eq!(r.events(Event::UplinkNat), 1);
    assert_eq!(r.events(Event::UplinkTunnel), 0);
    assert_eq!(r.counters.total_drops(), 0);
}

#[test]
fn tunnel_data_from_the_wrong_address_or_port_is_dropped() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME_NAT, SERVER, 64, 5000, b"x")[14..];
    // Right address, wrong port; wrong address, right port.
    for (src, port) in [(NAT_ADDR, NAT_PORT + 1), (COA2, NAT_PORT)] {
        let f = nat_frame(INET_MAC, src, port, 4, inner);
        assert_eq!(r.run(1, &f).0, Action::Drop, "{src}:{port}");
    }
    assert_eq!(r.drops(DropReason::NatSpoofed), 2);
    // HOME has a plain care-of address, HOME2 is on the WWAN, .99 has no binding.
    for home in [HOME, HOME2, "192.0.2.99"] {
        let inner = &udp_frame(INET_MAC, home, SERVER, 64, 5000, b"x")[14..];
        let f = nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner);
        assert_eq!(r.run(1, &f).0, Action::Drop, "{home}");
    }
    assert_eq!(r.drops(DropReason::NatNoBinding), 3);
    // Tunnel data arriving on the WWAN side.
    let mut f = nat_frame(WWAN_MAC, NAT_ADDR, NAT_PORT, 4, inner);
    // (to IPmsm-wlan, on port 0: same frame, our WWAN MAC)
    f[0..6].copy_from_slice(&WWAN_MAC);
    assert_eq!(r.run(0, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::TunnelWrongSide), 1);
    assert_eq!(r.events(Event::UplinkNat), 0);
    assert_eq!(r.counters.total_drops(), 6);
}

#[test]
fn malformed_tunnel_data_is_counted() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME_NAT, SERVER, 64, 5000, b"x")[14..];
    // GRE as next header: not supported.
    assert_eq!(
        r.run(1, &nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 47, inner))
            .0,
        Action::Drop
    );
    assert_eq!(r.drops(DropReason::NatNextHeader), 1);
    // Header cut short: 1 and 3 bytes of it.
    for n in [1, 3] {
        let f = udp_frame(INET_MAC, NAT_ADDR, MSM_WLAN, 64, 434, &[4, 4, 0][..n]);
        assert_eq!(r.run(1, &f).0, Action::Drop, "{n}");
    }
    // UDP length saying less than the IP payload.
    let mut f = nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner);
    let ulen = u16::from_be_bytes([f[38], f[39]]) - 1;
    f[38..40].copy_from_slice(&ulen.to_be_bytes());
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::NatBadHeader), 3);
    // Inner header with a bad checksum; inner packet shorter than the payload.
    let mut bad = inner.to_vec();
    bad[10] ^= 0xff;
    assert_eq!(
        r.run(1, &nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, &bad))
            .0,
        Action::Drop
    );
    let mut long = inner.to_vec();
    long.push(0);
    assert_eq!(
        r.run(1, &nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, &long))
            .0,
        Action::Drop
    );
    assert_eq!(r.drops(DropReason::BadInnerPacket), 2);
    // Outer CE around a Not-ECT inner packet (RFC 6040, as for IP-in-IP).
    let mut f = nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner);
    set_df_tos(&mut f, 14, true, 0b11);
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::EcnCeNotEct), 1);
    assert_eq!(r.counters.total_drops(), 7);
    assert_eq!(r.events(Event::UplinkNat), 0);
    // Type 4 to another port is not tunnel data: an ordinary local packet.
    let f = udp_frame(INET_MAC, NAT_ADDR, MSM_WLAN, 64, 435, &[4, 4, 0, 0]);
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::LocalUnsupported), 1);
}

#[test]
fn registration_to_434_still_goes_to_control() {
    let r = Rig::new();
    let reg = udp_frame(INET_MAC, NAT_ADDR, MSM_WLAN, 64, 434, &[1; 40]);
    assert_eq!(r.run(1, &reg).0, Action::Control);
    assert_eq!(r.events(Event::ControlHanded), 1);
    // Not inside tunnel data, though: registrations go to 434 directly.
    let inner = &udp_frame(INET_MAC, HOME_NAT, MSM_WLAN, 64, 434, &[1; 40])[14..];
    let f = nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner);
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::LocalUnsupported), 1);
    assert_eq!(r.events(Event::ControlHanded), 1);
}

/// Reads an ICMP message from `IPmsm-wlan` to `HOME_NAT` with etherparse: its type and
/// payload.
fn icmp_from_msm(ip_pkt: &[u8]) -> (etherparse::Icmpv4Type, Vec<u8>) {
    let p = SlicedPacket::from_ip(ip_pkt).expect("inner ICMP");
    let Some(NetSlice::Ipv4(h)) = &p.net else {
        panic!("no inner IPv4")
    };
    assert_eq!(h.header().source(), ipb(MSM_WLAN));
    assert_eq!(h.header().destination(), ipb(HOME_NAT));
    let Some(TransportSlice::Icmpv4(icmp)) = &p.transport else {
        panic!("no ICMP")
    };
    (icmp.icmp_type(), icmp.payload().to_vec())
}

/// Answers go back the way the packet came: to its Ethernet source, as tunnel data.
#[test]
fn echo_to_the_msm_is_answered_through_the_udp_tunnel() {
    let r = Rig::new();
    let inner = &echo_frame(INET_MAC, HOME_NAT, MSM_WLAN)[14..];
    let (a, out) = r.run(1, &nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner));
    assert_eq!(a, Action::Tx(1));
    let reply = unwrap_nat(out.data(), PEER_MAC);
    let (ty, payload) = icmp_from_msm(&reply);
    assert!(matches!(ty, etherparse::Icmpv4Type::EchoReply(_)));
    assert_eq!(payload, b"ping-payload");
    assert_eq!(r.events(Event::EchoReplied), 1);
    assert_eq!(r.events(Event::UplinkNat), 1);
}

#[test]
fn icmp_errors_go_back_through_the_udp_tunnel() {
    let r = Rig::new();
    // TTL 1 inside: time exceeded, from IPmsm-wlan to the mobile, UDP-tunnelled.
    let inner = &udp_frame(INET_MAC, HOME_NAT, SERVER, 1, 5000, b"expiring")[14..];
    let (a, out) = r.run(1, &nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner));
    assert_eq!(a, Action::Tx(1));
    let err = unwrap_nat(out.data(), PEER_MAC);
    let (ty, _) = icmp_from_msm(&err);
    assert!(matches!(ty, etherparse::Icmpv4Type::TimeExceeded(_)));
    assert_eq!(r.drops(DropReason::TtlExpired), 1);
    assert_eq!(r.events(Event::IcmpTimeExceededSent), 1);
    // Too big for the Internet side with DF: frag needed, back through the tunnel.
    let mut r = Rig::new();
    r.plane.ports[1].mtu = 1400;
    let mut big = udp_frame(INET_MAC, HOME_NAT, SERVER, 64, 5000, &[9u8; 1380])[14..].to_vec();
    set_df_tos(&mut big, 0, true, 0);
    let (a, out) = r.run(1, &nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, &big));
    assert_eq!(a, Action::Tx(1));
    let err = unwrap_nat(out.data(), PEER_MAC);
    assert_eq!(hdr(&err).destination(), ipb(HOME_NAT));
    let icmp = &err[20..];
    assert_eq!((icmp[0], icmp[1]), (3, 4));
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1400);
    assert_eq!(r.drops(DropReason::FragNeeded), 1);
}

#[test]
fn mobile_to_mobile_across_the_nat_tunnel() {
    let r = Rig::new();
    // Behind the NAT -> HOME3 (IP-in-IP to COA2).
    let inner = &udp_frame(INET_MAC, HOME_NAT, HOME3, 64, 5000, b"m2m")[14..];
    let (a, out) = r.run(1, &nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, inner));
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(hdr(&d[14..]).destination(), ipb(COA2));
    assert_eq!(&d[34..], &decremented(inner)[..]);
    // HOME (reverse tunnel) -> behind the NAT (UDP tunnel).
    let inner = &udp_frame(INET_MAC, HOME, HOME_NAT, 64, 5000, b"m2m")[14..];
    let (a, out) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner));
    assert_eq!(a, Action::Tx(1));
    assert_eq!(unwrap_nat(out.data(), ROUTER_MAC), decremented(inner));
    assert_eq!(r.events(Event::MobileToMobile), 2);
    assert_eq!(r.events(Event::UplinkNat), 1);
    assert_eq!(r.events(Event::DownlinkNat), 1);
}
