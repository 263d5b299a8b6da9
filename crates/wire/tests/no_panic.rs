//! Robustness: no constructor, accessor or in-place operation panics on
//! arbitrary bytes. Inputs are random, plus random bytes with a plausible
//! prefix so that validation passes often enough to reach the accessors.

use msm_wire::arp::{self, ArpPacket};
use msm_wire::ethernet::{self, EthernetFrame};
use msm_wire::icmp::{self, Icmpv4Packet};
use msm_wire::ipv4::{self, Ipv4Packet};
use msm_wire::tcp::TcpPacket;
use msm_wire::udp::UdpPacket;
use msm_wire::{checksum, frag};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Random bytes that often look like an IPv4 packet: version/IHL biased to
/// 0x45..0x4f, total length near the buffer length, protocol biased to
/// ICMP/TCP/UDP/IPIP, and sometimes ICMP echo request / TCP SYN bytes.
fn ipv4ish() -> impl Strategy<Value = Vec<u8>> {
    (
        bytes(200),
        prop_oneof![Just(0x45u8), 0x40u8..=0x4f, any::<u8>()],
        -8i32..8,
        prop_oneof![Just(1u8), Just(4), Just(6), Just(17), any::<u8>()],
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(mut b, vi, delta, proto, ff, patch)| {
            if b.len() >= 20 {
                b[0] = vi;
                let tl = (b.len() as i32 + delta).clamp(0, 65535) as u16;
                b[2..4].copy_from_slice(&tl.to_be_bytes());
                b[6..8].copy_from_slice(&(ff & 0xbfff).to_be_bytes());
                b[9] = proto;
                let hl = usize::from(vi & 0x0f) * 4;
                if patch && b.len() > hl + 13 {
                    match proto {
                        1 => b[hl] = 8,
                        6 => {
                            b[hl + 12] = (b[hl + 12] & 0x0f) | 0x60; // 24-byte TCP header
                            b[hl + 13] = 0x02;
                        }
                        _ => {}
                    }
                }
            }
            b
        })
}

fn touch_ipv4<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> usize {
    let mut acc = usize::from(p.version()) + usize::from(p.ihl()) + p.header_len();
    acc += usize::from(p.dscp_ecn()) + usize::from(p.dscp()) + usize::from(p.ecn());
    acc += usize::from(p.total_len()) + usize::from(p.ident()) + usize::from(p.flags_frag());
    acc += usize::from(p.dont_frag()) + usize::from(p.more_frags()) + usize::from(p.frag_offset());
    acc += usize::from(p.is_fragment()) + usize::from(p.ttl()) + usize::from(p.protocol());
    acc += usize::from(p.checksum()) + p.src_u32() as usize + p.dst_u32() as usize;
    acc += usize::from(p.src_addr().is_loopback()) + usize::from(p.dst_addr().is_multicast());
    acc += p.src()[0] as usize + p.dst()[0] as usize;
    acc += p.header().len() + p.options().len() + p.payload().len() + p.packet().len();
    acc + usize::from(p.verify_checksum()) + p.as_bytes().len()
}

proptest! {
    #[test]
    fn ethernet_and_arp(b in bytes(80), arp_type in any::<bool>(), mac in any::<[u8; 6]>()) {
        let mut b = b;
        if arp_type && b.len() >= 22 {
            b[12] = 0x08; b[13] = 0x06;
            b[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        }
        if let Ok(f) = EthernetFrame::new_checked(&b[..]) {
            let _ = (f.dst(), f.src(), f.ethertype(), f.payload().len(), f.header_len());
            if let Ok(a) = ArpPacket::new_checked(f.payload()) {
                let _ = (a.oper(), a.sha(), a.spa_u32(), a.tha(), a.tpa_addr(), a.hlen(), a.plen());
            }
        }
        let _ = ArpPacket::new_checked(&b[..]).map(|a| (a.spa(), a.tpa_u32(), a.spa_addr()));
        let before = b.clone();
        match arp::make_arp_reply_in_place(&mut b, mac) {
            Ok(()) => {
                let f = EthernetFrame::new_checked(&b[..]).unwrap();
                prop_assert_eq!(f.src(), mac);
                let a = ArpPacket::new_checked(f.payload()).unwrap();
                prop_assert_eq!(a.oper(), arp::OP_REPLY);
                prop_assert_eq!(a.tha(), f.dst());
            }
            Err(_) => prop_assert_eq!(&b, &before),
        }
        let mut out = b.clone();
        let r = arp::write_arp_request(&mut out, mac, 1, 2);
        prop_assert_eq!(r.is_ok(), out.len() >= 42);
        let _ = ethernet::write_header(&mut out, mac, mac, ethernet::ETHERTYPE_IPV4);
    }

    #[test]
    fn ipv4_views(b in prop_oneof![bytes(100), ipv4ish()]) {
        if let Ok(p) = Ipv4Packet::new_checked(&b[..]) {
            touch_ipv4(&p);
            prop_assert!(p.header_len() >= 20);
            prop_assert!(p.header_len() <= usize::from(p.total_len()));
            prop_assert!(usize::from(p.total_len()) <= b.len());
            prop_assert_eq!(p.payload().len() + p.header_len(), usize::from(p.total_len()));
        }
        // Unchecked views of >= 20 bytes: all getters are safe.
        if b.len() >= 20 {
            let mut m = b.clone();
            let mut p = Ipv4Packet::new_unchecked(&mut m[..]);
            touch_ipv4(&p);
            p.fill_checksum();
            let _ = p.decrement_ttl_update_checksum();
            let _ = (p.payload_mut().len(), p.options_mut().len(), p.header_mut().len());
        }
    }

    #[test]
    fn transport_views(b in bytes(120), src in any::<u32>(), dst in any::<u32>(), max in any::<u16>()) {
        if let Ok(u) = UdpPacket::new_checked(&b[..]) {
            let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum(), u.payload(), u.datagram());
            let _ = u.verify_checksum(src, dst);
            let mut m = b.clone();
            let mut u = UdpPacket::new_checked(&mut m[..]).unwrap();
            u.fill_checksum(src, dst);
            prop_assert!(u.verify_checksum(src, dst));
        }
        if b.len() >= 8 {
            let mut m = b.clone();
            let mut u = UdpPacket::new_unchecked(&mut m[..]);
            let _ = (u.payload().len(), u.datagram().len(), u.verify_checksum(src, dst));
            u.fill_checksum(src, dst);
            let _ = u.payload_mut().len();
        }
        let mut m = b.clone();
        if let Ok(mut t) = TcpPacket::new_checked(&mut m[..]) {
            let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number(), t.flags());
            let _ = (t.syn(), t.ack(), t.fin(), t.rst(), t.window_len(), t.urgent_at());
            let _ = (t.options().len(), t.payload().len(), t.mss());
            t.fill_checksum(src, dst);
            prop_assert!(t.verify_checksum(src, dst));
            if let Some((old, new)) = t.clamp_mss(max) {
                prop_assert!(old > max && new == max);
            }
            prop_assert!(t.verify_checksum(src, dst));
        }
        if b.len() >= 20 {
            let mut m = b.clone();
            let mut t = TcpPacket::new_unchecked(&mut m[..]);
            let _ = (t.options().len(), t.payload().len(), t.mss(), t.clamp_mss(max));
            let _ = (t.options_mut().len(), t.payload_mut().len());
        }
        if let Ok(i) = Icmpv4Packet::new_checked(&b[..]) {
            let _ = (i.msg_type(), i.code(), i.checksum(), i.rest_of_header(), i.ident());
            let _ = (i.seq_no(), i.next_hop_mtu(), i.payload().len(), i.verify_checksum());
            let mut m = b.clone();
            let mut i = Icmpv4Packet::new_checked(&mut m[..]).unwrap();
            i.fill_checksum();
            prop_assert!(i.verify_checksum());
        }
        let _ = checksum::sum(&b);
    }

    #[test]
    fn clamp_mss_on_syn_with_random_options(opts in bytes(41), payload in bytes(20),
                                            src in any::<u32>(), dst in any::<u32>(), max in any::<u16>()) {
        let olen = opts.len() / 4 * 4;
        let mut seg = vec![0u8; 20];
        seg[12] = (((20 + olen) / 4) as u8) << 4;
        seg[13] = 0x02;
        seg.extend_from_slice(&opts[..olen]);
        seg.extend_from_slice(&payload);
        let mut t = TcpPacket::new_checked(&mut seg[..]).unwrap();
        t.fill_checksum(src, dst);
        let before = t.mss();
        let r = t.clamp_mss(max);
        prop_assert!(t.verify_checksum(src, dst));
        match (before, r) {
            (Some(m), Some((old, new))) => prop_assert!(m == old && old > max && new == max),
            (Some(m), None) => prop_assert!(m <= max),
            (None, None) => {}
            (None, Some(_)) => prop_assert!(false, "changed without an MSS"),
        }
    }

    #[test]
    fn in_place_ops_and_writers(b in prop_oneof![bytes(100), ipv4ish()], mtu in 0usize..300,
                                out_len in 0usize..700, src in any::<u32>(), dst in any::<u32>()) {
        // Echo reply: either an error with the packet untouched, or a valid reply.
        let mut m = b.clone();
        match icmp::make_echo_reply_in_place(&mut m) {
            Ok(()) => {
                let p = Ipv4Packet::new_checked(&m[..]).unwrap();
                prop_assert!(p.verify_checksum());
                prop_assert_eq!(p.ttl(), 64);
                let i = Icmpv4Packet::new_checked(p.payload()).unwrap();
                prop_assert_eq!(i.msg_type(), icmp::TYPE_ECHO_REPLY);
            }
            Err(_) => prop_assert_eq!(&m, &b),
        }

        let _ = icmp::may_send_icmp_error(&b);
        let mut out = vec![0u8; out_len];
        if let Ok(n) = icmp::write_icmp_error(&mut out, src, dst, 64, 1, 11, 0, 0, &b) {
            prop_assert!(n <= 576 && n <= out_len);
            let p = Ipv4Packet::new_checked(&out[..n]).unwrap();
            prop_assert!(p.verify_checksum());
            prop_assert!(Icmpv4Packet::new_checked(p.payload()).unwrap().verify_checksum());
        }

        let mut outer = [0u8; 20];
        if ipv4::write_ipip_header(&mut outer, &b, src, dst, 64, 7).is_ok() {
            prop_assert!(Ipv4Packet::new_unchecked(&outer[..]).verify_checksum());
        }
        let mut enc = vec![0u8; 20];
        enc.extend_from_slice(&b);
        let _ = ipv4::write_ipip_header_in_place(&mut enc, src, dst, 64, 7);

        // Fragmentation: any result; every emitted piece is valid and fits.
        let needs_split = Ipv4Packet::new_checked(&b[..]).map(|p| usize::from(p.total_len()) > mtu);
        let mut ok = true;
        let r = frag::fragment_ipv4(&b, mtu, |h, p| {
            let mut whole = h.to_vec();
            whole.extend_from_slice(p);
            ok &= whole.len() <= mtu;
            match Ipv4Packet::new_checked(&whole[..]) {
                // Split pieces always carry a freshly computed checksum.
                Ok(f) => ok &= f.verify_checksum() || needs_split == Ok(false),
                Err(_) => ok = false,
            }
            true
        });
        prop_assert!(ok);
        if let Ok(n) = r {
            prop_assert!(n >= 1 && needs_split.is_ok());
        }
    }
}
