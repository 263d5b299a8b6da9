//! Property tests: encapsulation then decapsulation is the identity (but TTL); no input panics.

use super::*;

proptest! {
    /// Encapsulation followed by decapsulation returns the original packet (TTL - 2,
    /// once per pass through the MSM as a router).
    #[test]
    fn encap_then_decap_returns_the_original(
        payload in proptest::collection::vec(any::<u8>(), 0..1400),
        ttl in 3u8..=255,
        sport in any::<u16>(),
        tos in any::<u8>(),
        df in any::<bool>(),
    ) {
        let r = Rig::new();
        let b = PacketBuilder::ethernet2(PEER_MAC, INET_MAC)
            .ipv4(ipb(SERVER), ipb(HOME), ttl)
            .udp(sport, 5000);
        let mut f = Vec::new();
        b.write(&mut f, &payload).unwrap();
        set_df_tos(&mut f, 14, df, tos);
        let (a, down) = r.run(1, &f);
        prop_assert_eq!(a, Action::Tx(1));
        // The care-of end reflects the inner packet back through the reverse tunnel
        // (swap inner addresses so it is a valid uplink from HOME).
        let mut inner = down.data()[34..].to_vec();
        let mut h = hdr(&inner).to_header();
        prop_assert_eq!(h.time_to_live, ttl - 1);
        std::mem::swap(&mut h.source, &mut h.destination);
        h.header_checksum = h.calc_header_checksum();
        inner[..20].copy_from_slice(&h.to_bytes());
        let (a, up) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, &inner));
        prop_assert_eq!(a, Action::Tx(1));
        let out = &up.data()[14..];
        let oh = hdr(out);
        prop_assert_eq!(oh.ttl(), ttl - 2);
        prop_assert!(checksum_ok(out));
        prop_assert_eq!(oh.source(), ipb(HOME));
        prop_assert_eq!(oh.destination(), ipb(SERVER));
        prop_assert_eq!(&out[20..], &f[34..], "payload untouched");
    }

    /// No input crashes the pipeline, on either port.
    #[test]
    fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..300), port in 0u16..3) {
        let r = Rig::new();
        let _ = r.run(port, &frame);
    }

    /// Mutations of valid frames (tunnelled, TCP, ICMP) never panic either.
    #[test]
    fn mutated_frames_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..6),
        cut in 0usize..200,
    ) {
        let r = Rig::new();
        let inner = udp_frame(INET_MAC, HOME, SERVER, 64, 434, b"0123456789")[14..].to_vec();
        let mut f = match which {
            0 => ipip_frame(INET_MAC, COA, MSM_WLAN, &inner),
            1 => tcp_syn_frame(INET_MAC, SERVER, HOME, 1460),
            2 => echo_frame(INET_MAC, SERVER, MSM_WLAN),
            _ => arp_request(PEER_MAC, ROUTER, MSM_WLAN),
        };
        for (i, v) in flips {
            if let Some(b) = f.get_mut(i) { *b ^= v }
        }
        f.truncate(f.len().saturating_sub(cut % 16));
        for port in 0..2 {
            let _ = r.run(port, &f);
        }
    }
}
