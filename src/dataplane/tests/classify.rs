//! Classification tests: malformed input dropped with its reason; the summary agrees with etherparse and names the right stage.

use super::*;
use crate::dataplane::classify::{classify, Classified, Ipv4Summary, Kind};

#[test]
fn malformed_input_is_dropped_with_reasons() {
    let r = Rig::new();
    let good = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, b"x");
    let mut bad_csum = good.clone();
    bad_csum[24] ^= 0xff;
    assert_eq!(r.run(1, &bad_csum).0, Action::Drop);
    assert_eq!(r.drops(DropReason::BadIpChecksum), 1);
    assert_eq!(r.run(1, &good[..30]).0, Action::Drop);
    assert_eq!(r.drops(DropReason::Truncated), 1);
    let mut other_mac = good.clone();
    other_mac[0] = 0x06;
    assert_eq!(r.run(1, &other_mac).0, Action::Drop);
    assert_eq!(r.drops(DropReason::NotOurMac), 1);
    let mut v6 = good.clone();
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(r.run(1, &v6).0, Action::Drop);
    assert_eq!(r.drops(DropReason::Ethertype), 1);
    let martian = udp_frame(INET_MAC, "127.0.0.1", HOME, 64, 5000, b"x");
    assert_eq!(r.run(1, &martian).0, Action::Drop);
    assert_eq!(r.drops(DropReason::MartianSource), 1);
    // padding after the datagram is stripped, not forwarded
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 20]);
    let (a, out) = r.run(1, &padded);
    assert_eq!(a, Action::Tx(1));
    assert_eq!(out.data().len(), good.len() + 20);
    // inner packet malformed
    let mut inner = udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"x")[14..].to_vec();
    inner[10] ^= 1;
    assert_eq!(
        r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, &inner)).0,
        Action::Drop
    );
    assert_eq!(r.drops(DropReason::BadInnerPacket), 1);
}

#[test]
fn unknown_ingress_port_has_its_own_reason() {
    let r = Rig::new();
    let f = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, b"x");
    assert_eq!(r.run(2, &f).0, Action::Drop);
    assert_eq!(r.run(u16::MAX, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::UnknownIngressPort), 2);
    assert_eq!(r.drops(DropReason::BadIpHeader), 0);
    assert_eq!(r.counters.total_drops(), 2);
}

/// etherparse's reading of the IPv4 header at the start of `b`.
fn oracle(b: &[u8]) -> Ipv4Summary {
    let h = hdr(b);
    let flags = (u16::from(h.dont_fragment()) << 14)
        | (u16::from(h.more_fragments()) << 13)
        | h.fragments_offset().value();
    Ipv4Summary {
        src: u32::from_be_bytes(h.source()),
        dst: u32::from_be_bytes(h.destination()),
        total_len: h.total_len(),
        flags_frag: flags,
        header_len: h.slice().len() as u8,
        proto: h.protocol().0,
        ttl: h.ttl(),
    }
}

fn classified(r: &Rig, ingress: u16, f: &[u8]) -> Classified {
    classify(&r.plane, &r.counters, ingress, f)
}

/// Each kind of packet goes to its stage; nothing valid is counted as a drop.
#[test]
fn the_kind_names_the_stage() {
    let r = Rig::new();
    let arp = arp_request(PEER_MAC, ROUTER, MSM_WLAN);
    let c = classified(&r, 1, &arp);
    assert_eq!((c.kind, c.ingress), (Kind::Arp, 1));
    let echo = echo_frame(WWAN_MAC, GGSN, MSM_GPRS);
    let c = classified(&r, 0, &echo);
    assert_eq!((c.kind, c.ingress, c.src_mac), (Kind::Local, 0, PEER_MAC));
    assert_eq!(c.ip, oracle(&echo[14..]));
    let down = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"down");
    assert_eq!(classified(&r, 1, &down).kind, Kind::Transit);
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"up")[14..];
    let tunnel = ipip_frame(INET_MAC, COA, MSM_WLAN, inner);
    let c = classified(&r, 1, &tunnel);
    assert_eq!(c.kind, Kind::Tunnel);
    assert_eq!(c.ip, oracle(&tunnel[14..]));
    assert_eq!(c.inner, Some(oracle(inner)));
    // IP-in-IP to our other address is not a tunnel end.
    let c = classified(&r, 0, &ipip_frame(WWAN_MAC, HOME2, MSM_GPRS, inner));
    assert_eq!((c.kind, c.inner), (Kind::Local, None));
    // A fragmented tunnel is one, but its inner header is not read.
    let mut frag = tunnel.clone();
    set_frag(&mut frag, 14, true, 0);
    let c = classified(&r, 1, &frag);
    assert_eq!((c.kind, c.inner), (Kind::Tunnel, None));
    assert!(c.ip.is_fragment() && !c.ip.is_later_fragment());
    assert_eq!(r.counters.total_drops(), 0);
    // Dropped: counted once, by classification.
    let c = classified(&r, 1, &down[..20]);
    assert_eq!(c.kind, Kind::Dropped);
    assert_eq!(r.drops(DropReason::Truncated), 1);
}

proptest! {
    /// The summary holds what etherparse reads in the same headers (outer and inner),
    /// for any addresses, TTL, TOS, fragmentation and length.
    #[test]
    fn summaries_agree_with_etherparse(
        src in prop::sample::select(vec![SERVER, HOME, HOME2, COA, "10.1.2.3"]),
        dst in prop::sample::select(vec![SERVER, HOME, HOME3, MSM_WLAN, MSM_GPRS, "10.9.8.7"]),
        ttl in any::<u8>(),
        tos in any::<u8>(),
        df in any::<bool>(),
        frag in prop::option::of((any::<bool>(), 0u16..0x2000)),
        len in 0usize..1400,
        tunnelled in any::<bool>(),
        pad in 0usize..30,
    ) {
        let r = Rig::new();
        let mut f = udp_frame(INET_MAC, src, dst, ttl, 5000, &vec![0x5a; len]);
        set_df_tos(&mut f, 14, df, tos);
        if let Some((mf, offset)) = frag {
            set_frag(&mut f, 14, mf, offset);
        }
        if tunnelled {
            f = ipip_frame(INET_MAC, COA, MSM_WLAN, &f[14..]);
        }
        f.resize(f.len() + pad, 0);
        let c = classified(&r, 1, &f);
        prop_assert_eq!(r.counters.total_drops(), 0);
        prop_assert_eq!(c.ip, oracle(&f[14..]));
        prop_assert_eq!(c.ingress, 1);
        if tunnelled {
            prop_assert_eq!(c.kind, Kind::Tunnel);
            prop_assert_eq!(c.inner, Some(oracle(&f[34..])));
        } else {
            let own = dst == MSM_WLAN || dst == MSM_GPRS;
            prop_assert_eq!(c.kind, if own { Kind::Local } else { Kind::Transit });
            prop_assert_eq!(c.inner, None);
        }
    }
}
