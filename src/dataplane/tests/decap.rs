//! Reverse-tunnel stage tests: anti-spoofing, decapsulation, mobile to mobile.

use super::*;

#[test]
fn reverse_tunnel_is_checked_and_stripped() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"uplink through wlan")[14..];
    let f = ipip_frame(INET_MAC, COA, MSM_WLAN, inner);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    assert_eq!(&out.data()[0..6], &ROUTER_MAC);
    assert_eq!(&out.data()[14..], &decremented(inner)[..]);
    assert_eq!(r.events(Event::UplinkTunnel), 1);
}

#[test]
fn spoofed_reverse_tunnel_is_dropped_and_counted() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"x")[14..];
    // wrong care-of address for HOME
    assert_eq!(
        r.run(1, &ipip_frame(INET_MAC, COA2, MSM_WLAN, inner)).0,
        Action::Drop
    );
    // HOME2 has no care-of address; 192.0.2.99 has no binding at all
    for home in [HOME2, "192.0.2.99"] {
        let inner = &udp_frame(INET_MAC, home, SERVER, 64, 5000, b"x")[14..];
        assert_eq!(
            r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner)).0,
            Action::Drop
        );
    }
    assert_eq!(r.drops(DropReason::SpoofedTunnel), 3);
    // IP-in-IP arriving on the WWAN side is not a reverse tunnel.
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"x")[14..];
    let f = ipip_frame(WWAN_MAC, COA, MSM_WLAN, inner);
    assert_eq!(r.run(0, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::TunnelWrongSide), 1);
}

#[test]
fn mobile_to_mobile_goes_down_the_other_path() {
    let r = Rig::new();
    // HOME (in WLAN) -> HOME3 (in another WLAN): re-encapsulated to COA2
    let inner = &udp_frame(INET_MAC, HOME, HOME3, 64, 5000, b"m2m")[14..];
    let (a, out) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner));
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(hdr(&d[14..]).destination(), ipb(COA2));
    assert_eq!(&d[34..], &decremented(inner)[..]);
    // HOME -> HOME2 (on the WWAN): plain to the GGSN
    let inner = &udp_frame(INET_MAC, HOME, HOME2, 64, 5000, b"m2m")[14..];
    let (a, out) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner));
    assert_eq!(a, Action::Tx(0));
    assert_eq!(&out.data()[14..], &decremented(inner)[..]);
    assert_eq!(r.events(Event::MobileToMobile), 2);
}

/// IP-in-IP to `IPmsm-wlan` that is itself a fragment is counted as `tunnel_fragment`
/// (not reassembled); IP-in-IP fragments to our other address stay local fragments.
#[test]
fn tunnelled_fragments_are_counted_as_such() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"first part")[14..];
    for (mf, offset) in [(true, 0), (false, 8), (true, 8)] {
        let mut f = ipip_frame(INET_MAC, COA, MSM_WLAN, inner);
        set_frag(&mut f, 14, mf, offset);
        assert_eq!(r.run(1, &f).0, Action::Drop, "{mf} {offset}");
    }
    assert_eq!(r.drops(DropReason::TunnelFragment), 3);
    assert_eq!(r.drops(DropReason::LocalFragment), 0);
    // Checked before the side it came from: no reassembly anywhere.
    let mut f = ipip_frame(WWAN_MAC, COA, MSM_WLAN, inner);
    set_frag(&mut f, 14, true, 0);
    assert_eq!(r.run(0, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::TunnelFragment), 4);
    // Not a tunnel end: an ordinary fragment to us.
    let mut f = ipip_frame(WWAN_MAC, HOME2, MSM_GPRS, inner);
    set_frag(&mut f, 14, true, 0);
    assert_eq!(r.run(0, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::LocalFragment), 1);
    assert_eq!(r.counters.total_drops(), 5);
}

/// A tunnel in the tunnel to us is not decapsulated twice; an inner packet that does not
/// fill the outer payload exactly is malformed.
#[test]
fn nested_and_ill_fitting_tunnels_are_dropped() {
    let r = Rig::new();
    let innermost = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"x")[14..];
    let middle = &ipip_frame(INET_MAC, HOME, MSM_WLAN, innermost)[14..];
    assert_eq!(
        r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, middle)).0,
        Action::Drop
    );
    assert_eq!(r.drops(DropReason::LocalUnsupported), 1);
    assert_eq!(r.events(Event::UplinkTunnel), 1);
    let mut longer = innermost.to_vec();
    longer.extend_from_slice(&[0; 4]);
    assert_eq!(
        r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, &longer)).0,
        Action::Drop
    );
    assert_eq!(r.drops(DropReason::BadInnerPacket), 1);
}

/// The ECN codepoints (RFC 3168), in the order of RFC 6040's tables.
const NOT_ECT: u8 = 0;
const ECT1: u8 = 1;
const ECT0: u8 = 2;
const CE: u8 = 3;
const ECN_ALL: [u8; 4] = [NOT_ECT, ECT0, ECT1, CE];

/// RFC 6040 normal-mode decapsulation for every outer x inner ECN codepoint: an outer CE
/// goes into an ECN-capable inner header, CE around Not-ECT is dropped and counted, every
/// other combination leaves the inner header as is. The DSCP is never touched; the
/// expected inner header, checksum included, is built by etherparse.
#[test]
fn decapsulation_follows_rfc6040_for_every_ecn_pair() {
    const DSCP: u8 = 0x2e; // EF: must survive
    let r = Rig::new();
    let mut expected_drops = 0;
    for outer_ecn in ECN_ALL {
        for inner_ecn in ECN_ALL {
            let mut inner = udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"ecn")[14..].to_vec();
            set_df_tos(&mut inner, 0, true, DSCP << 2 | inner_ecn);
            let mut f = ipip_frame(INET_MAC, COA, MSM_WLAN, &inner);
            set_df_tos(&mut f, 14, true, outer_ecn);
            let (a, out) = r.run(1, &f);
            let case = format!("outer {outer_ecn:02b} inner {inner_ecn:02b}");
            if outer_ecn == CE && inner_ecn == NOT_ECT {
                assert_eq!(a, Action::Drop, "{case}");
                expected_drops += 1;
                continue;
            }
            assert_eq!(a, Action::Tx(1), "{case}");
            let want_ecn = if outer_ecn == CE { CE } else { inner_ecn };
            let mut want = inner.clone();
            set_df_tos(&mut want, 0, true, DSCP << 2 | want_ecn);
            let d = &out.data()[14..];
            assert!(checksum_ok(d), "{case}");
            assert_eq!(hdr(d).ecn().value(), want_ecn, "{case}");
            assert_eq!(hdr(d).dcp().value(), DSCP, "{case}");
            assert_eq!(d, &decremented(&want)[..], "{case}");
        }
    }
    assert_eq!(expected_drops, 1);
    assert_eq!(r.drops(DropReason::EcnCeNotEct), 1);
    assert_eq!(r.counters.total_drops(), 1);
    assert_eq!(r.events(Event::UplinkTunnel), 15);
}

/// The ECN rules hold for every TOS byte and inner TTL, checked against etherparse.
#[test]
fn decapsulated_checksum_matches_etherparse_for_any_tos() {
    let r = Rig::new();
    for inner_tos in 0..=255u8 {
        let ttl = inner_tos | 2; // > 1 (forwarded), and varying the checksummed words
        let mut inner = udp_frame(INET_MAC, HOME, SERVER, ttl, 5000, b"x")[14..].to_vec();
        set_df_tos(&mut inner, 0, inner_tos & 4 != 0, inner_tos);
        let mut f = ipip_frame(INET_MAC, COA, MSM_WLAN, &inner);
        set_df_tos(&mut f, 14, false, CE);
        let (a, out) = r.run(1, &f);
        if inner_tos & 3 == NOT_ECT {
            assert_eq!(a, Action::Drop, "{inner_tos:#x}");
            continue;
        }
        assert_eq!(a, Action::Tx(1), "{inner_tos:#x}");
        let mut want = inner.clone();
        set_df_tos(&mut want, 0, inner_tos & 4 != 0, inner_tos | CE);
        assert_eq!(&out.data()[14..], &decremented(&want)[..], "{inner_tos:#x}");
    }
    assert_eq!(r.drops(DropReason::EcnCeNotEct), 64);
}

/// A CE-marked outer around a Not-ECT packet to the MSM itself (a ping through the
/// tunnel) is dropped too: the rule is the decapsulator's, whatever comes next.
#[test]
fn ce_around_not_ect_to_us_is_dropped() {
    let r = Rig::new();
    let inner = &echo_frame(INET_MAC, HOME, MSM_WLAN)[14..];
    let mut f = ipip_frame(INET_MAC, COA, MSM_WLAN, inner);
    set_df_tos(&mut f, 14, true, CE);
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::EcnCeNotEct), 1);
    // ECT(0) inside: the echo reply goes back through the tunnel.
    let mut inner = inner.to_vec();
    set_df_tos(&mut inner, 0, true, ECT0);
    let mut f = ipip_frame(INET_MAC, COA, MSM_WLAN, &inner);
    set_df_tos(&mut f, 14, true, CE);
    assert_eq!(r.run(1, &f).0, Action::Tx(1));
    assert_eq!(r.events(Event::EchoReplied), 1);
}
