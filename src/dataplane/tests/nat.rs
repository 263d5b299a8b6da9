//! NAT traversal (RFC 3519) on the data path: downlink to a NAT binding as a MIP Tunnel
//! Data message, checked with etherparse; the MTU with the 32 extra bytes.

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
