//! Forwarding stage tests: downlink (tunnel or WWAN), uplink, transit, MSS clamping, unresolved next hops.

use super::*;

#[test]
fn downlink_with_care_of_is_encapsulated() {
    let r = Rig::new();
    let mut f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"hello mobile");
    set_df_tos(&mut f, 14, true, 0xb8);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(&d[0..6], &ROUTER_MAC);
    assert_eq!(&d[6..12], &INET_MAC);
    let outer = hdr(&d[14..]);
    assert_eq!(outer.source(), ipb(MSM_WLAN));
    assert_eq!(outer.destination(), ipb(COA));
    assert_eq!(outer.protocol(), etherparse::IpNumber(4));
    assert_eq!(outer.ttl(), 64);
    assert_eq!(outer.ihl(), 5);
    assert!(outer.dont_fragment(), "DF copied from the inner header");
    assert_eq!(
        outer.dcp().value() << 2 | outer.ecn().value(),
        0xb8,
        "TOS copied"
    );
    assert_eq!(outer.total_len() as usize, d.len() - 14);
    assert!(checksum_ok(&d[14..]));
    assert_eq!(&d[34..], &decremented(&f[14..])[..]);
    assert_eq!(r.events(Event::DownlinkTunnel), 1);
}

#[test]
fn outer_ip_ids_are_fresh() {
    let r = Rig::new();
    let mut local = r.local();
    let f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"x");
    let (_, a) = r.run_with(&mut local, 1, &f);
    let (_, b) = r.run_with(&mut local, 1, &f);
    assert_ne!(
        hdr(&a.data()[14..]).identification(),
        hdr(&b.data()[14..]).identification()
    );
}

#[test]
fn downlink_without_care_of_goes_to_wwan() {
    let r = Rig::new();
    for home in [HOME2, "192.0.2.99"] {
        let f = udp_frame(INET_MAC, SERVER, home, 50, 5000, b"hello");
        let (a, out) = r.run(1, &f);
        assert_eq!(a, Action::Tx(0), "{home}");
        let d = out.data();
        assert_eq!(&d[0..6], &GGSN_MAC);
        assert_eq!(&d[6..12], &WWAN_MAC);
        assert_eq!(&d[14..], &decremented(&f[14..])[..]);
        assert!(checksum_ok(&d[14..]));
    }
    assert_eq!(r.events(Event::DownlinkWwan), 2);
}

#[test]
fn uplink_from_wwan_goes_to_internet() {
    let r = Rig::new();
    let f = udp_frame(WWAN_MAC, HOME2, SERVER, 64, 5000, b"up");
    let (a, out) = r.run(0, &f);
    assert_eq!(a, Action::Tx(1));
    assert_eq!(&out.data()[0..6], &ROUTER_MAC);
    assert_eq!(&out.data()[14..], &decremented(&f[14..])[..]);
    assert_eq!(r.events(Event::UplinkWwan), 1);
}

#[test]
fn transit_from_internet_to_elsewhere_is_dropped() {
    let r = Rig::new();
    let f = udp_frame(INET_MAC, SERVER, "203.0.113.99", 64, 5000, b"x");
    assert_eq!(r.run(1, &f).0, Action::Drop);
    // A non-pool source from the WWAN is not an uplink either.
    let f = udp_frame(WWAN_MAC, GGSN, SERVER, 64, 5000, b"x");
    assert_eq!(r.run(0, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::UnknownDestination), 2);
}

#[test]
fn mss_is_clamped_in_both_directions() {
    let r = Rig::new();
    // downlink into the tunnel
    let f = tcp_syn_frame(INET_MAC, SERVER, HOME, 1460);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let inner = &out.data()[34..];
    let sliced = etherparse::SlicedPacket::from_ip(inner).unwrap();
    let Some(etherparse::TransportSlice::Tcp(t)) = sliced.transport else {
        panic!()
    };
    let mss: Vec<_> = t
        .options_iterator()
        .filter_map(|o| match o {
            Ok(TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(mss, vec![1440]);
    let ih = Ipv4HeaderSlice::from_slice(inner).unwrap();
    let sum = t.calc_checksum_ipv4(ih.source(), ih.destination()).unwrap();
    assert_eq!(sum, t.checksum(), "TCP checksum still valid");
    // uplink from the WWAN
    let f = tcp_syn_frame(WWAN_MAC, HOME2, SERVER, 1460);
    assert_eq!(r.run(0, &f).0, Action::Tx(1));
    // already small: untouched
    let f = tcp_syn_frame(WWAN_MAC, HOME2, SERVER, 1200);
    let (_, out) = r.run(0, &f);
    assert_eq!(&out.data()[14..], &decremented(&f[14..])[..]);
    assert_eq!(r.events(Event::MssClamped), 2);
}

#[test]
fn unresolved_next_hop_is_counted() {
    let mut r = Rig::new();
    r.plane.neigh = Neighbours::new(&[(0, ip(GGSN)), (1, ip(ROUTER))]);
    let f = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, b"x");
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::NeighbourUnresolved), 1);
}

/// RFC 6040 normal-mode encapsulation: the outer ECN field is the inner one (the whole
/// TOS byte is copied), for every codepoint, and the inner header is left as is.
#[test]
fn encapsulation_copies_every_ecn_codepoint() {
    let r = Rig::new();
    for tos in [0x00, 0x01, 0x02, 0x03, 0xb8, 0xb9, 0xba, 0xbb] {
        let mut f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"ecn");
        set_df_tos(&mut f, 14, true, tos);
        let (a, out) = r.run(1, &f);
        assert_eq!(a, Action::Tx(1), "{tos:#x}");
        let d = out.data();
        let outer = hdr(&d[14..]);
        assert_eq!(outer.ecn().value(), tos & 3, "{tos:#x}");
        assert_eq!(outer.dcp().value(), tos >> 2, "{tos:#x}");
        assert!(checksum_ok(&d[14..]));
        assert_eq!(&d[34..], &decremented(&f[14..])[..], "{tos:#x}");
    }
}

/// The per-packet events of a burst (`Hot`) reach the counters at `flush_counts`, once,
/// with every packet of the burst in them; `process_frame` flushes after its packet.
#[test]
fn hot_events_are_counted_once_per_burst() {
    let r = Rig::new();
    let mut local = r.local();
    let down = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"down");
    let wwan = udp_frame(INET_MAC, SERVER, HOME2, 50, 5000, b"wwan");
    let up = ipip_frame(
        INET_MAC,
        COA,
        MSM_WLAN,
        &udp_frame(INET_MAC, HOME, SERVER, 50, 5000, b"up")[14..],
    );
    let burst = [&down, &down, &wwan, &up, &down];
    for f in burst {
        let mut b = VecBuf::new(f);
        let cls = crate::dataplane::classify::classify(&r.plane, &r.counters, 1, b.data());
        assert!(matches!(
            process(&r.plane, &mut local, &r.tab, &mut b, &cls),
            Action::Tx(_)
        ));
    }
    for e in [
        Event::DownlinkTunnel,
        Event::DownlinkWwan,
        Event::UplinkTunnel,
    ] {
        assert_eq!(r.events(e), 0, "{} before the flush", e.name());
    }
    local.flush_counts();
    assert_eq!(r.events(Event::DownlinkTunnel), 3);
    assert_eq!(r.events(Event::DownlinkWwan), 1);
    assert_eq!(r.events(Event::UplinkTunnel), 1);
    local.flush_counts();
    assert_eq!(
        r.events(Event::DownlinkTunnel),
        3,
        "a second flush adds nothing"
    );
    let (_, _) = r.run_with(&mut local, 1, &down);
    assert_eq!(r.events(Event::DownlinkTunnel), 4, "process_frame flushes");
}
