//! ICMP error and fragmentation tests: time exceeded (rate-limited), fragmentation needed, fragments encapsulated.

use super::*;

#[test]
fn ttl_expiry_answers_time_exceeded_rate_limited() {
    let r = Rig::new();
    let mut local = r.local();
    let f = udp_frame(INET_MAC, SERVER, HOME, 1, 5000, b"expiring");
    let (a, out) = r.run_with(&mut local, 1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(&d[0..6], &PEER_MAC, "back to the previous hop");
    let h = hdr(&d[14..]);
    assert_eq!(h.source(), ipb(MSM_WLAN));
    assert_eq!(h.destination(), ipb(SERVER));
    assert!(checksum_ok(&d[14..]));
    let icmp = etherparse::Icmpv4Slice::from_slice(&d[34..]).unwrap();
    assert_eq!(icmp.type_u8(), 11);
    assert_eq!(icmp.code_u8(), 0);
    assert_eq!(
        &icmp.payload()[..f.len() - 14],
        &f[14..],
        "quotes the original datagram"
    );
    let sum = etherparse::checksum::Sum16BitWords::new()
        .add_slice(&d[34..])
        .ones_complement();
    assert_eq!(sum, 0, "ICMP checksum verifies");
    // burst of 10 tokens: 9 more answered, then suppressed
    for _ in 0..9 {
        assert_eq!(r.run_with(&mut local, 1, &f).0, Action::Tx(1));
    }
    assert_eq!(r.run_with(&mut local, 1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::TtlExpired), 11);
    assert_eq!(r.events(Event::IcmpTimeExceededSent), 10);
    assert_eq!(r.events(Event::IcmpRateLimited), 1);
    // tokens come back with time (100/s at 1e6 ticks/s: one per 10_000 ticks)
    local.now += 10_000;
    assert_eq!(r.run_with(&mut local, 1, &f).0, Action::Tx(1));
}

#[test]
fn df_too_big_for_tunnel_gets_frag_needed() {
    let r = Rig::new();
    let mut f = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, &[0x55; 1472]); // 1500-byte IP
    set_df_tos(&mut f, 14, true, 0);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(hdr(&d[14..]).destination(), ipb(SERVER));
    let icmp = etherparse::Icmpv4Slice::from_slice(&d[34..]).unwrap();
    assert_eq!((icmp.type_u8(), icmp.code_u8()), (3, 4));
    let mtu = u16::from_be_bytes([icmp.bytes5to8()[2], icmp.bytes5to8()[3]]);
    assert_eq!(mtu, 1480, "the tunnel's MTU");
    assert!(d.len() <= 14 + 576);
    assert_eq!(r.drops(DropReason::FragNeeded), 1);
    // The same size without DF to the WWAN fits: forwarded as is.
    let f = udp_frame(INET_MAC, SERVER, HOME2, 64, 5000, &[0x55; 1472]);
    assert_eq!(r.run(1, &f).0, Action::Tx(0));
}

#[test]
fn non_df_too_big_is_fragmented_then_encapsulated() {
    let r = Rig::new();
    let payload: Vec<u8> = (0..1472u32).map(|i| i as u8).collect();
    let mut f = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, &payload);
    set_df_tos(&mut f, 14, false, 0xba); // AF31 + ECT(0)
    let mut local = r.local();
    let (a, buf) = r.run_with(&mut local, 1, &f);
    let Action::Fragment(plan) = a else {
        panic!("{a:?}")
    };
    assert_eq!(plan.encap_to, Some(ip(COA)));
    assert_eq!(plan.ip_mtu, 1480);
    let mut outs = Vec::new();
    let n = fragment(
        &r.plane,
        &mut local,
        &buf,
        plan,
        || Some(VecBuf::new(&[])),
        |b| outs.push(b),
    );
    assert_eq!(n, 2);
    let mut reassembled = vec![0u8; 0];
    for o in &outs {
        let d = o.data();
        assert!(d.len() <= 1514);
        assert_eq!(&d[0..6], &ROUTER_MAC);
        let outer = hdr(&d[14..]);
        assert_eq!(outer.destination(), ipb(COA));
        assert_eq!(
            outer.dcp().value() << 2 | outer.ecn().value(),
            0xba,
            "TOS (ECN included) copied into every fragment's outer header"
        );
        assert!(checksum_ok(&d[14..]));
        assert_eq!(outer.total_len() as usize, d.len() - 14);
        let inner = hdr(&d[34..]);
        assert!(checksum_ok(&d[34..]));
        assert_eq!(inner.ttl(), 63);
        let off = inner.fragments_offset().value() as usize * 8;
        let body = &d[34 + inner.slice().len()..];
        if reassembled.len() < off + body.len() {
            reassembled.resize(off + body.len(), 0);
        }
        reassembled[off..off + body.len()].copy_from_slice(body);
    }
    // UDP header + payload
    assert_eq!(&reassembled[8..], &payload[..]);
    // allocation failure is counted, not fatal
    let n = fragment(&r.plane, &mut local, &buf, plan, || None::<VecBuf>, |_| {});
    assert_eq!(n, 0);
    assert_eq!(r.drops(DropReason::FragNoBuffer), 1);
}
