//! Local delivery tests: ARP, echo, registrations to the control lcore.

use super::*;

#[test]
fn arp_requests_for_us_are_answered_and_next_hops_learned() {
    let r = Rig::new();
    let new_router_mac = [2, 0, 0, 0, 0, 0xdd];
    let f = arp_request(new_router_mac, ROUTER, MSM_WLAN);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(&d[0..6], &new_router_mac);
    assert_eq!(&d[6..12], &INET_MAC);
    assert_eq!(&d[20..22], &[0, 2], "ARP reply");
    assert_eq!(&d[22..28], &INET_MAC, "sender hardware address is ours");
    assert_eq!(&d[28..32], &ipb(MSM_WLAN));
    assert_eq!(&d[32..38], &new_router_mac);
    assert_eq!(&d[38..42], &ipb(ROUTER));
    assert_eq!(
        r.plane.neigh.mac(1),
        Some(new_router_mac),
        "learned from the request"
    );
    // for someone else: ignored
    let f = arp_request(PEER_MAC, ROUTER, "198.51.100.9");
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::ArpIgnored), 1);
}

#[test]
fn a_standby_does_not_answer_arp_but_still_learns() {
    let r = Rig::new();
    r.plane
        .standby
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let router_mac = [2, 0, 0, 0, 0, 0xee];
    let f = arp_request(router_mac, ROUTER, MSM_WLAN);
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::ArpNotOwner), 1);
    assert_eq!(
        r.plane.neigh.mac(1),
        Some(router_mac),
        "learned all the same"
    );
    // Serving again (the shard's owner): answered.
    r.plane
        .standby
        .store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(r.run(1, &f).0, Action::Tx(1));
    assert_eq!(r.drops(DropReason::ArpNotOwner), 1);
}

/// A member that does not serve its shard (clustered: a standby) forwards nothing on any
/// path, each drop counted as `not_owner`, but still hands registrations (direct and
/// reverse-tunnelled) to the control lcore; serving again, it forwards.
#[test]
fn a_standby_forwards_nothing_but_hands_registrations_to_control() {
    use std::sync::atomic::Ordering::Relaxed;
    let r = Rig::new();
    let up = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"uplink through wlan")[14..];
    let up_nat = &udp_frame(INET_MAC, HOME_NAT, SERVER, 64, 5000, b"behind a NAT")[14..];
    let data: [(&str, u16, Vec<u8>, Action); 5] = [
        (
            "downlink to a care-of address",
            1,
            udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"down"),
            Action::Tx(1),
        ),
        (
            "downlink to the WWAN",
            1,
            udp_frame(INET_MAC, SERVER, HOME2, 50, 5000, b"down"),
            Action::Tx(0),
        ),
        (
            "uplink from the WWAN",
            0,
            udp_frame(WWAN_MAC, HOME2, SERVER, 64, 5000, b"up"),
            Action::Tx(1),
        ),
        (
            "reverse tunnel",
            1,
            ipip_frame(INET_MAC, COA, MSM_WLAN, up),
            Action::Tx(1),
        ),
        (
            "MIP Tunnel Data",
            1,
            super::nat::nat_frame(INET_MAC, NAT_ADDR, NAT_PORT, 4, up_nat),
            Action::Tx(1),
        ),
    ];
    let reg_inner = &udp_frame(INET_MAC, "192.0.2.99", MSM_GPRS, 64, 434, b"req")[14..];
    let regs = [
        (0, udp_frame(WWAN_MAC, HOME2, MSM_GPRS, 64, 434, b"req")),
        (1, ipip_frame(INET_MAC, COA, MSM_WLAN, reg_inner)),
        (1, udp_frame(INET_MAC, COA, MSM_WLAN, 64, 434, b"req")),
    ];
    r.plane.standby.store(true, Relaxed);
    for (what, port, f, _) in &data {
        assert_eq!(r.run(*port, f).0, Action::Drop, "{what}");
    }
    assert_eq!(r.drops(DropReason::NotOwner), data.len() as u64);
    assert_eq!(
        r.counters.total_drops(),
        data.len() as u64,
        "no other reason"
    );
    for (port, f) in &regs {
        assert_eq!(r.run(*port, f).0, Action::Control);
    }
    assert_eq!(r.events(Event::ControlHanded), regs.len() as u64);
    for e in [
        Event::DownlinkTunnel,
        Event::DownlinkWwan,
        Event::UplinkWwan,
        Event::UplinkTunnel,
        Event::UplinkNat,
    ] {
        assert_eq!(r.events(e), 0, "{e:?}");
    }
    // The shard's owner again (a takeover): every path forwards.
    r.plane.standby.store(false, Relaxed);
    for (what, port, f, want) in &data {
        assert_eq!(r.run(*port, f).0, *want, "{what}");
    }
    assert_eq!(r.drops(DropReason::NotOwner), data.len() as u64);
    assert_eq!(r.counters.total_drops(), data.len() as u64);
}

/// The worker reads `Plane::standby` once per burst: a burst that started serving is
/// processed as serving even if the flag flips under it.
#[test]
fn standby_is_read_once_per_burst() {
    use std::sync::atomic::Ordering::Relaxed;
    let r = Rig::new();
    let f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"down");
    let mut local = r.local();
    local.begin_burst(&r.plane);
    r.plane.standby.store(true, Relaxed);
    let cls = crate::dataplane::classify::classify(&r.plane, &r.counters, 1, &f);
    let mut b = VecBuf::new(&f);
    assert_eq!(
        process(&r.plane, &mut local, &r.tab, &mut b, &cls),
        Action::Tx(1)
    );
    local.begin_burst(&r.plane);
    let mut b = VecBuf::new(&f);
    assert_eq!(
        process(&r.plane, &mut local, &r.tab, &mut b, &cls),
        Action::Drop
    );
    assert_eq!(r.drops(DropReason::NotOwner), 1);
}

#[test]
fn echo_to_our_addresses_is_answered() {
    let r = Rig::new();
    let f = echo_frame(WWAN_MAC, GGSN, MSM_GPRS);
    let (a, out) = r.run(0, &f);
    assert_eq!(a, Action::Tx(0));
    let d = out.data();
    assert_eq!(&d[0..6], &PEER_MAC);
    let h = hdr(&d[14..]);
    assert_eq!(h.source(), ipb(MSM_GPRS));
    assert_eq!(h.destination(), ipb(GGSN));
    assert!(checksum_ok(&d[14..]));
    let icmp = etherparse::Icmpv4Slice::from_slice(&d[34..]).unwrap();
    assert_eq!(icmp.type_u8(), 0);
    assert_eq!(icmp.payload(), b"ping-payload");
    let sum = etherparse::checksum::Sum16BitWords::new()
        .add_slice(&d[34..])
        .ones_complement();
    assert_eq!(sum, 0);
    // through the tunnel: answered back through the tunnel
    let inner = &echo_frame(INET_MAC, HOME, MSM_WLAN)[14..];
    let (a, out) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner));
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(hdr(&d[14..]).destination(), ipb(COA));
    assert_eq!(hdr(&d[34..]).destination(), ipb(HOME));
    assert_eq!(r.events(Event::EchoReplied), 2);
}

#[test]
fn registrations_go_to_control_on_all_three_paths() {
    let r = Rig::new();
    // 1. through the WWAN
    let f = udp_frame(WWAN_MAC, HOME2, MSM_GPRS, 64, 434, b"req");
    assert_eq!(r.run(0, &f).0, Action::Control);
    // 2. reverse-tunnelled, even for a mobile with no binding yet
    let inner = &udp_frame(INET_MAC, "192.0.2.99", MSM_GPRS, 64, 434, b"req")[14..];
    assert_eq!(
        r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner)).0,
        Action::Control
    );
    // 3. directly from a care-of address
    let f = udp_frame(INET_MAC, COA, MSM_WLAN, 64, 434, b"req");
    assert_eq!(r.run(1, &f).0, Action::Control);
    assert_eq!(r.events(Event::ControlHanded), 3);
    // an ICMP error to us is counted as such
    let mut f = echo_frame(INET_MAC, COA, MSM_WLAN);
    f[34] = 3; // destination unreachable (checksum is not checked for local ICMP)
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::IcmpErrorToUs), 1);
    // other UDP to us is not
    let f = udp_frame(INET_MAC, COA, MSM_WLAN, 64, 53, b"q");
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::LocalUnsupported), 1);
}

/// ARP moving a learned next hop is followed and counted; one moving a static next hop
/// (`gateway_mac`) is answered but ignored and counted, and traffic keeps the static MAC.
#[test]
fn arp_moves_learned_next_hops_but_not_static_ones() {
    let mut r = Rig::new();
    let moved = [2, 0, 0, 0, 0, 0xdd];
    // Learned: the GGSN moves (after the control lcore has seen it resolved).
    assert_eq!(r.plane.neigh.entries()[0].take_change(), None);
    assert_eq!(
        r.run(0, &arp_request(moved, GGSN, MSM_GPRS)).0,
        Action::Tx(0)
    );
    assert_eq!(r.plane.neigh.mac(0), Some(moved));
    assert_eq!(r.events(Event::NeighbourMacChanges), 1);
    // The same MAC again is a refresh, not a change.
    assert_eq!(
        r.run(0, &arp_request(moved, GGSN, MSM_GPRS)).0,
        Action::Tx(0)
    );
    assert_eq!(r.events(Event::NeighbourMacChanges), 1);
    assert_eq!(
        r.plane.neigh.entries()[0].take_change(),
        Some((GGSN_MAC, moved))
    );
    // Static: the router stays where the configuration put it.
    let mut neigh = Neighbours::new(&[(0, ip(GGSN)), (1, ip(ROUTER))]);
    assert!(neigh.set_static(1, ip(ROUTER), ROUTER_MAC));
    r.plane.neigh = neigh;
    let (a, out) = r.run(1, &arp_request(moved, ROUTER, MSM_WLAN));
    assert_eq!(a, Action::Tx(1), "the request is still answered");
    assert_eq!(&out.data()[0..6], &moved);
    assert_eq!(r.plane.neigh.mac(1), Some(ROUTER_MAC));
    assert_eq!(r.events(Event::NeighbourStaticOverrides), 1);
    assert_eq!(r.events(Event::NeighbourMacChanges), 1);
    let f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"to the mobile");
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    assert_eq!(&out.data()[0..6], &ROUTER_MAC, "static MAC used");
    assert_eq!(r.plane.neigh.entries()[1].take_change(), None);
}
