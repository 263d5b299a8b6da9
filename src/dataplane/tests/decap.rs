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
