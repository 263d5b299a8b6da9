//! Property tests comparing msm-wire against etherparse, an independent
//! implementation.

use etherparse::{
    icmpv4::TimeExceededCode, IcmpEchoHeader, Icmpv4Header, Icmpv4Slice, Icmpv4Type, IpFragOffset,
    IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv4HeaderSlice, Ipv4Options, Ipv4Slice,
    PacketBuilder, TcpHeader, TcpOptionElement, UdpHeader,
};
use msm_wire::icmp::{self, Icmpv4Packet};
use msm_wire::ipv4::{self, Ipv4Packet};
use msm_wire::tcp::TcpPacket;
use msm_wire::udp::UdpPacket;
use msm_wire::{frag, Error};
use proptest::prelude::*;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- strategies

/// A syntactically valid IPv4 option list (padded to a multiple of 4 with
/// EOL, at most 40 bytes). Mixes copied (high bit) and non-copied options.
fn ipv4_options() -> impl Strategy<Value = Vec<u8>> {
    let one = prop_oneof![
        Just(vec![1u8]), // NOP
        // Record route (7, not copied), length 3..=11
        (0u8..=8, any::<u8>()).prop_map(|(n, fill)| {
            let mut v = vec![7, 3 + n, 4];
            v.extend(std::iter::repeat(fill).take(n as usize));
            v
        }),
        // Router alert (0x94, copied)
        Just(vec![0x94, 4, 0, 0]),
        // Loose source route (0x83, copied)
        (0u8..=8, any::<u8>()).prop_map(|(n, fill)| {
            let mut v = vec![0x83, 3 + n, 4];
            v.extend(std::iter::repeat(fill).take(n as usize));
            v
        }),
        // Timestamp (0x44, not copied)
        Just(vec![0x44, 4, 5, 0]),
        // Unknown copied option with payload
        (2u8..=6).prop_map(|l| {
            let mut v = vec![0x9e, l];
            v.resize(l as usize, 0xab);
            v
        }),
    ];
    (proptest::collection::vec(one, 0..6), any::<bool>()).prop_map(|(opts, eol)| {
        let mut out = Vec::new();
        for o in opts {
            if out.len() + o.len() <= 40 {
                out.extend_from_slice(&o);
            }
        }
        if eol && out.len() < 40 {
            out.push(0);
        }
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    })
}

#[derive(Debug, Clone)]
struct Ipv4Case {
    header: Ipv4Header,
    payload: Vec<u8>,
}

impl Ipv4Case {
    fn bytes(&self) -> Vec<u8> {
        let mut v = self.header.to_bytes().to_vec();
        v.extend_from_slice(&self.payload);
        v
    }
}

fn ipv4_case_with(max_payload: usize) -> impl Strategy<Value = Ipv4Case> {
    (
        (
            0u8..64,
            0u8..4,
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
            0u16..8192,
        ),
        (any::<u8>(), any::<u8>(), any::<[u8; 4]>(), any::<[u8; 4]>()),
        ipv4_options(),
        proptest::collection::vec(any::<u8>(), 0..max_payload),
    )
        .prop_map(
            |((dscp, ecn, id, df, mf, off), (ttl, proto, src, dst), opts, payload)| {
                let options = Ipv4Options::try_from(&opts[..]).unwrap();
                let total = 20 + opts.len() + payload.len();
                let mut header = Ipv4Header {
                    dscp: Ipv4Dscp::try_new(dscp).unwrap(),
                    ecn: Ipv4Ecn::try_new(ecn).unwrap(),
                    total_len: total as u16,
                    identification: id,
                    dont_fragment: df,
                    more_fragments: mf,
                    fragment_offset: IpFragOffset::try_new(off).unwrap(),
                    time_to_live: ttl,
                    // Not 51 (AH): etherparse's Ipv4Slice would parse it as an extension.
                    protocol: IpNumber(if proto == 51 { 50 } else { proto }),
                    header_checksum: 0,
                    source: src,
                    destination: dst,
                    options,
                };
                header.header_checksum = header.calc_header_checksum();
                Ipv4Case { header, payload }
            },
        )
}

fn ipv4_case() -> impl Strategy<Value = Ipv4Case> {
    ipv4_case_with(64)
}

fn u32_of(a: [u8; 4]) -> u32 {
    u32::from_be_bytes(a)
}

// --------------------------------------------------------------------- IPv4

proptest! {
    /// Our parse of etherparse-serialised headers agrees field by field and
    /// our fill_checksum equals etherparse's calc_header_checksum.
    #[test]
    fn ipv4_fields_and_checksum_match(case in ipv4_case(), pad in 0usize..8, garbage in any::<u16>()) {
        let mut bytes = case.bytes();
        bytes.extend(std::iter::repeat(0xee).take(pad)); // link padding
        let h = &case.header;
        let mut p = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        prop_assert_eq!(p.version(), 4);
        prop_assert_eq!(p.header_len(), h.header_len());
        prop_assert_eq!(p.dscp(), h.dscp.value());
        prop_assert_eq!(p.ecn(), h.ecn.value());
        prop_assert_eq!(p.total_len(), h.total_len);
        prop_assert_eq!(p.ident(), h.identification);
        prop_assert_eq!(p.dont_frag(), h.dont_fragment);
        prop_assert_eq!(p.more_frags(), h.more_fragments);
        prop_assert_eq!(p.frag_offset(), h.fragment_offset.byte_offset());
        prop_assert_eq!(p.is_fragment(), h.is_fragmenting_payload());
        prop_assert_eq!(p.ttl(), h.time_to_live);
        prop_assert_eq!(p.protocol(), h.protocol.0);
        prop_assert_eq!(p.src(), h.source);
        prop_assert_eq!(p.dst(), h.destination);
        prop_assert_eq!(p.src_u32(), u32_of(h.source));
        prop_assert_eq!(p.options(), h.options.as_slice());
        prop_assert_eq!(p.payload(), &case.payload[..]);
        prop_assert!(p.verify_checksum());
        // Overwrite the checksum with garbage, recompute, compare.
        p.set_checksum(garbage);
        p.fill_checksum();
        prop_assert_eq!(p.checksum(), h.calc_header_checksum());
        prop_assert!(p.verify_checksum());
    }

    /// Incremental TTL decrement equals a full recomputation (ours and
    /// etherparse's), for every TTL and header shape.
    #[test]
    fn ttl_decrement_incremental_equals_full(case in ipv4_case(), ttl in 1u8..=255) {
        let mut h = case.header.clone();
        h.time_to_live = ttl;
        h.header_checksum = h.calc_header_checksum();
        let mut bytes = Ipv4Case { header: h.clone(), payload: case.payload.clone() }.bytes();
        let mut p = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        prop_assert_eq!(p.decrement_ttl_update_checksum(), ttl - 1);
        let incremental = p.checksum();
        h.time_to_live = ttl - 1;
        prop_assert_eq!(incremental, h.calc_header_checksum());
        p.fill_checksum();
        prop_assert_eq!(p.checksum(), incremental);
    }

    /// Accept/reject decisions and payload bounds match etherparse's
    /// Ipv4Slice on arbitrary (biased) bytes. Protocol 51 (AH) is avoided
    /// because etherparse also parses the AH extension.
    #[test]
    fn ipv4_validation_matches_etherparse(
        ver_ihl in prop_oneof![Just(0x45u8), 0x40u8..=0x4f, any::<u8>()],
        tl_delta in -30i32..30,
        body in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut b = body.clone();
        if !b.is_empty() { b[0] = ver_ihl; }
        if b.len() >= 4 {
            let tl = (b.len() as i32 + tl_delta).clamp(0, 65535) as u16;
            b[2..4].copy_from_slice(&tl.to_be_bytes());
        }
        if b.len() > 9 && b[9] == 51 { b[9] = 50; }
        let ours = Ipv4Packet::new_checked(&b[..]);
        let theirs = Ipv4Slice::from_slice(&b[..]);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "ours {:?}", ours.err());
        if let (Ok(o), Ok(t)) = (ours, theirs) {
            prop_assert_eq!(o.payload(), t.payload().payload);
            prop_assert_eq!(o.header(), t.header().slice());
            prop_assert_eq!(o.verify_checksum(),
                t.header().header_checksum() == t.header().to_header().calc_header_checksum());
        }
    }

    /// write_ipip_header produces a header etherparse parses with the
    /// contract's fields.
    #[test]
    fn ipip_header_parses(case in ipv4_case(), src in any::<u32>(), dst in any::<u32>(),
                          ttl in any::<u8>(), ident in any::<u16>()) {
        let inner = case.bytes();
        let mut pkt = vec![0u8; 20];
        ipv4::write_ipip_header(&mut pkt, &inner, src, dst, ttl, ident).unwrap();
        pkt.extend_from_slice(&inner);
        let s = Ipv4Slice::from_slice(&pkt).unwrap();
        let h = s.header().to_header();
        prop_assert_eq!(h.header_len(), 20);
        prop_assert_eq!(h.dscp, case.header.dscp);
        prop_assert_eq!(h.ecn, case.header.ecn);
        prop_assert_eq!(h.dont_fragment, case.header.dont_fragment);
        prop_assert!(!h.more_fragments);
        prop_assert_eq!(h.fragment_offset.value(), 0);
        prop_assert_eq!(h.time_to_live, ttl);
        prop_assert_eq!(h.identification, ident);
        prop_assert_eq!(h.protocol, IpNumber::IPV4);
        prop_assert_eq!(h.total_len as usize, 20 + inner.len());
        prop_assert_eq!(h.source, src.to_be_bytes());
        prop_assert_eq!(h.destination, dst.to_be_bytes());
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(s.payload().payload, &inner[..]);
        // The in-place variant writes the same bytes.
        let mut in_place = vec![0u8; 20];
        in_place.extend_from_slice(&inner);
        ipv4::write_ipip_header_in_place(&mut in_place, src, dst, ttl, ident).unwrap();
        prop_assert_eq!(&in_place, &pkt);
        // So does the precomputed template (the data path's way).
        let mut templ = vec![0xa5u8; 20];
        templ.extend_from_slice(&inner);
        ipv4::IpipTemplate::new(src, ttl).write_in_place(&mut templ, dst, ident).unwrap();
        prop_assert_eq!(&templ, &pkt);
    }

    /// The template's incremental checksum equals a full recomputation over the
    /// written header (and etherparse's), for any inner TOS/flags/length, source,
    /// destination, TTL and identification, including the extremes of the sum.
    #[test]
    fn ipip_template_checksum_equals_full(tos in any::<u8>(), flags in any::<u16>(),
                                          len in 20u16..=65515, src in any::<u32>(),
                                          dst in any::<u32>(), ttl in any::<u8>(),
                                          ident in any::<u16>(),
                                          extreme in 0u8..4) {
        let (src, dst, ident) = match extreme {
            0 => (u32::MAX, u32::MAX, u16::MAX),
            1 => (0, 0, 0),
            _ => (src, dst, ident),
        };
        let mut buf = [0u8; 40];
        buf[20] = 0x45;
        buf[21] = tos;
        buf[22..24].copy_from_slice(&len.to_be_bytes());
        buf[26..28].copy_from_slice(&flags.to_be_bytes());
        ipv4::IpipTemplate::new(src, ttl).write_in_place(&mut buf, dst, ident).unwrap();
        let hdr: [u8; 20] = buf[..20].try_into().unwrap();
        // The checksum field (bytes 10..12) against a full sum with the field zeroed.
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        let full = msm_wire::checksum::checksum(&zeroed);
        prop_assert_eq!(u16::from_be_bytes([hdr[10], hdr[11]]), full);
        let h = Ipv4HeaderSlice::from_slice(&hdr).unwrap().to_header();
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(h.total_len, len + 20);
        prop_assert_eq!(h.dscp.value() << 2 | h.ecn.value(), tos);
        prop_assert_eq!(h.dont_fragment, flags & 0x4000 != 0);
        prop_assert!(!h.more_fragments && h.fragment_offset.value() == 0);
        prop_assert_eq!(h.time_to_live, ttl);
        prop_assert_eq!(h.protocol, IpNumber::IPV4);
        prop_assert_eq!(h.identification, ident);
        prop_assert_eq!(h.source, src.to_be_bytes());
        prop_assert_eq!(h.destination, dst.to_be_bytes());
    }
}

// ---------------------------------------------------------------- UDP / TCP

proptest! {
    #[test]
    fn udp_checksum_matches(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
                            sp in any::<u16>(), dp in any::<u16>(),
                            payload in proptest::collection::vec(any::<u8>(), 0..300),
                            junk in proptest::collection::vec(any::<u8>(), 0..4)) {
        let hdr = UdpHeader { source_port: sp, destination_port: dp,
                              length: (8 + payload.len()) as u16, checksum: 0 };
        let expected = hdr.calc_checksum_ipv4_raw(src, dst, &payload).unwrap();
        let mut bytes = hdr.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&junk); // beyond the UDP length: ignored
        let mut u = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        u.fill_checksum(u32_of(src), u32_of(dst));
        prop_assert_eq!(u.checksum(), expected);
        prop_assert!(u.verify_checksum(u32_of(src), u32_of(dst)));
        prop_assert_eq!(u.payload(), &payload[..]);
        // Single bit flip in the payload is detected.
        if !payload.is_empty() {
            u.payload_mut()[0] ^= 0x01;
            prop_assert!(!u.verify_checksum(u32_of(src), u32_of(dst)));
        }
    }

    #[test]
    fn tcp_checksum_matches(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
                            ports in any::<(u16, u16)>(), seq in any::<u32>(), ack in any::<u32>(),
                            flags in any::<u8>(), win in any::<u16>(),
                            opt_words in 0usize..=10, opt_fill in any::<u8>(),
                            payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut hdr = TcpHeader::new(ports.0, ports.1, seq, win);
        hdr.acknowledgment_number = ack;
        hdr.fin = flags & 1 != 0;
        hdr.syn = flags & 2 != 0;
        hdr.rst = flags & 4 != 0;
        hdr.psh = flags & 8 != 0;
        hdr.ack = flags & 16 != 0;
        hdr.urg = flags & 32 != 0;
        hdr.ece = flags & 64 != 0;
        hdr.cwr = flags & 128 != 0;
        hdr.set_options_raw(&vec![opt_fill; opt_words * 4]).unwrap();
        let expected = hdr.calc_checksum_ipv4_raw(src, dst, &payload).unwrap();
        let mut bytes = hdr.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let mut t = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        prop_assert_eq!(t.flags(), flags);
        prop_assert_eq!(t.seq_number(), seq);
        prop_assert_eq!(t.ack_number(), ack);
        prop_assert_eq!(t.header_len(), hdr.header_len());
        prop_assert_eq!(t.payload(), &payload[..]);
        t.fill_checksum(u32_of(src), u32_of(dst));
        prop_assert_eq!(t.checksum(), expected);
        prop_assert!(t.verify_checksum(u32_of(src), u32_of(dst)));
    }
}

fn tcp_option_element() -> impl Strategy<Value = TcpOptionElement> {
    prop_oneof![
        Just(TcpOptionElement::Noop),
        any::<u16>().prop_map(TcpOptionElement::MaximumSegmentSize),
        (0u16..2000).prop_map(TcpOptionElement::MaximumSegmentSize),
        any::<u8>().prop_map(TcpOptionElement::WindowScale),
        Just(TcpOptionElement::SelectiveAcknowledgementPermitted),
        any::<(u32, u32)>().prop_map(|(a, b)| TcpOptionElement::Timestamp(a, b)),
    ]
}

/// Build a TCP SYN (etherparse) with the given options, serialised with a
/// correct checksum.
fn tcp_syn(
    src: [u8; 4],
    dst: [u8; 4],
    opts: &[TcpOptionElement],
    payload: &[u8],
) -> Option<Vec<u8>> {
    let mut hdr = TcpHeader::new(12345, 443, 0xdead_beef, 64240);
    hdr.syn = true;
    hdr.set_options(opts).ok()?;
    hdr.checksum = hdr.calc_checksum_ipv4_raw(src, dst, payload).unwrap();
    let mut v = hdr.to_bytes().to_vec();
    v.extend_from_slice(payload);
    Some(v)
}

fn first_mss(hdr: &TcpHeader) -> Option<u16> {
    hdr.options_iterator().find_map(|o| match o {
        Ok(TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    })
}

proptest! {
    /// After clamp_mss the segment still has a valid checksum (checked by
    /// etherparse) and its MSS is <= max; it only changes when it must.
    #[test]
    fn clamp_mss_keeps_checksum_valid(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
                                      opts in proptest::collection::vec(tcp_option_element(), 0..6),
                                      max in prop_oneof![any::<u16>(), 500u16..1500],
                                      payload in proptest::collection::vec(any::<u8>(), 0..40)) {
        let Some(mut bytes) = tcp_syn(src, dst, &opts, &payload) else {
            return Ok(()); // options too long for the header
        };
        let (before, _) = TcpHeader::from_slice(&bytes).unwrap();
        let orig_mss = first_mss(&before);
        let orig = bytes.clone();
        let r = TcpPacket::new_checked(&mut bytes[..]).unwrap().clamp_mss(max);
        let (after, rest) = TcpHeader::from_slice(&bytes).unwrap();
        prop_assert_eq!(after.checksum, after.calc_checksum_ipv4_raw(src, dst, rest).unwrap());
        match orig_mss {
            Some(m) if m > max => {
                prop_assert_eq!(r, Some((m, max)));
                prop_assert_eq!(first_mss(&after), Some(max));
            }
            _ => {
                prop_assert_eq!(r, None);
                prop_assert_eq!(&bytes, &orig);
            }
        }
        if let Some(m) = first_mss(&after) {
            prop_assert!(m <= max);
        }
    }

    /// Arbitrary option bytes: clamp_mss never breaks the checksum, and it
    /// only writes a value <= max.
    #[test]
    fn clamp_mss_random_options_checksum(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
                                         raw in proptest::collection::vec(
                                             prop_oneof![Just(0u8), Just(1), Just(2), Just(4), any::<u8>()], 0..=40),
                                         max in any::<u16>()) {
        let mut raw = raw;
        raw.truncate(raw.len() / 4 * 4);
        let mut hdr = TcpHeader::new(1, 2, 3, 4);
        hdr.syn = true;
        hdr.set_options_raw(&raw).unwrap();
        hdr.checksum = hdr.calc_checksum_ipv4_raw(src, dst, &[]).unwrap();
        let mut bytes = hdr.to_bytes().to_vec();
        let orig = bytes.clone();
        let mut t = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        let r = t.clamp_mss(max);
        prop_assert!(t.verify_checksum(u32_of(src), u32_of(dst)));
        let (after, _) = TcpHeader::from_slice(&bytes).unwrap();
        prop_assert_eq!(after.checksum, after.calc_checksum_ipv4_raw(src, dst, &[]).unwrap());
        match r {
            None => prop_assert_eq!(bytes, orig),
            Some((old, new)) => {
                prop_assert!(old > max && new == max);
                prop_assert_eq!(TcpPacket::new_checked(&bytes[..]).unwrap().mss(), Some(max));
            }
        }
    }
}

// --------------------------------------------------------------------- ICMP

proptest! {
    #[test]
    fn echo_reply_in_place_verifies(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
                                    ttl in any::<u8>(), id in any::<u16>(), seq in any::<u16>(),
                                    payload in proptest::collection::vec(any::<u8>(), 0..200),
                                    pad in 0usize..10) {
        let mut v = Vec::new();
        PacketBuilder::ipv4(src, dst, ttl)
            .icmpv4_echo_request(id, seq)
            .write(&mut v, &payload)
            .unwrap();
        v.extend(std::iter::repeat(0).take(pad));
        icmp::make_echo_reply_in_place(&mut v).unwrap();
        let ip = Ipv4Slice::from_slice(&v).unwrap();
        let h = ip.header().to_header();
        prop_assert_eq!(h.source, dst);
        prop_assert_eq!(h.destination, src);
        prop_assert_eq!(h.time_to_live, 64);
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        let i = Icmpv4Slice::from_slice(ip.payload().payload).unwrap();
        prop_assert_eq!(i.icmp_type(), Icmpv4Type::EchoReply(IcmpEchoHeader { id, seq }));
        prop_assert_eq!(i.payload(), &payload[..]);
        let recomputed = Icmpv4Header::with_checksum(i.icmp_type(), i.payload());
        prop_assert_eq!(i.checksum(), recomputed.checksum);
    }

    #[test]
    fn icmp_error_parses(orig in ipv4_case_with(1200), src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
                         ttl in any::<u8>(), ident in any::<u16>(),
                         kind in 0usize..3, mtu in any::<u16>(), truncate in any::<bool>()) {
        let original_full = orig.bytes();
        let original = if truncate {
            &original_full[..original_full.len().min(orig.header.header_len() + 8)]
        } else {
            &original_full[..]
        };
        let (t, c, rest) = [
            (icmp::TYPE_TIME_EXCEEDED, icmp::CODE_TTL_EXCEEDED, 0u32),
            (icmp::TYPE_DEST_UNREACH, icmp::CODE_FRAG_NEEDED, u32::from(mtu)),
            (icmp::TYPE_PARAM_PROBLEM, 0, 0x1400_0000),
        ][kind];
        let mut out = [0u8; 600];
        let n = icmp::write_icmp_error(&mut out, u32_of(src), u32_of(dst), ttl, ident, t, c, rest, original).unwrap();
        let quote = original.len().min(icmp::MAX_QUOTE_LEN);
        prop_assert_eq!(n, 28 + quote);
        prop_assert!(n <= 576);
        let ip = Ipv4Slice::from_slice(&out[..n]).unwrap();
        let h = ip.header().to_header();
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(h.protocol, IpNumber::ICMP);
        prop_assert_eq!((h.source, h.destination, h.time_to_live, h.identification), (src, dst, ttl, ident));
        prop_assert_eq!(h.total_len as usize, n);
        let i = Icmpv4Slice::from_slice(ip.payload().payload).unwrap();
        let expected_type = match kind {
            0 => Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
            1 => Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu }),
            _ => i.icmp_type(),
        };
        prop_assert_eq!(i.icmp_type(), expected_type);
        prop_assert_eq!(i.payload(), &original[..quote]);
        let recomputed = Icmpv4Header::with_checksum(i.icmp_type(), i.payload());
        prop_assert_eq!(i.checksum(), recomputed.checksum);
        // The quoted datagram header is parseable by etherparse too.
        prop_assert!(etherparse::Ipv4HeaderSlice::from_slice(i.payload()).is_ok());
        // And our own view agrees.
        let ours = Icmpv4Packet::new_checked(ip.payload().payload).unwrap();
        prop_assert!(ours.verify_checksum());
        prop_assert_eq!(ours.rest_of_header(), rest);
    }
}

// ------------------------------------------------------------ fragmentation

/// Simple reassembler: offset -> bytes; checks for gaps/overlaps and that
/// exactly one fragment (the last) has MF clear unless the original had MF.
fn reassemble(frags: &[(Vec<u8>, Vec<u8>)], base_off: usize) -> Result<Vec<u8>, String> {
    let mut pieces = BTreeMap::new();
    let mut end_seen = None;
    for (h, p) in frags {
        let ip = Ipv4Packet::new_unchecked(&h[..]);
        ip.check_header().map_err(|e| e.to_string())?;
        let off = usize::from(ip.frag_offset());
        if pieces.insert(off, p.clone()).is_some() {
            return Err(format!("duplicate offset {off}"));
        }
        if !ip.more_frags() {
            if end_seen.is_some() {
                return Err("two last fragments".into());
            }
            end_seen = Some(off + p.len());
        }
    }
    let mut data = Vec::new();
    let mut next = base_off;
    for (off, p) in pieces {
        if off != next {
            return Err(format!("gap/overlap at {off}, expected {next}"));
        }
        next += p.len();
        data.extend_from_slice(&p);
    }
    if let Some(end) = end_seen {
        if end != next {
            return Err("last fragment is not at the end".into());
        }
    }
    Ok(data)
}

fn copied_only(opts: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            k => {
                let l = opts[i + 1] as usize;
                if k & 0x80 != 0 {
                    out.extend_from_slice(&opts[i..i + l]);
                }
                i += l;
            }
        }
    }
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

proptest! {
    #[test]
    fn fragments_reassemble(case in ipv4_case_with(3000), mtu in 68usize..1600) {
        let mut h = case.header.clone();
        h.dont_fragment = false;
        // Keep offsets representable.
        let max_off = (65535 - case.payload.len()) / 8;
        h.fragment_offset = IpFragOffset::try_new(h.fragment_offset.value().min(max_off as u16)).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let case = Ipv4Case { header: h.clone(), payload: case.payload };
        let bytes = case.bytes();
        prop_assume!(mtu >= h.header_len() + 8);

        let mut frags: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let n = frag::fragment_ipv4(&bytes, mtu, |hd, p| {
            frags.push((hd.to_vec(), p.to_vec()));
            true
        }).unwrap();
        prop_assert_eq!(n, frags.len());
        prop_assert!(n >= 1);
        if bytes.len() <= mtu {
            prop_assert_eq!(n, 1);
        }
        let later_opts = copied_only(h.options.as_slice());
        for (i, (hd, p)) in frags.iter().enumerate() {
            prop_assert!(hd.len() + p.len() <= mtu || n == 1 && bytes.len() <= mtu);
            let mut whole = hd.clone();
            whole.extend_from_slice(p);
            let s = Ipv4Slice::from_slice(&whole).unwrap();
            let fh = s.header().to_header();
            prop_assert_eq!(fh.header_checksum, fh.calc_header_checksum());
            prop_assert_eq!(fh.total_len as usize, whole.len());
            prop_assert_eq!(fh.identification, h.identification);
            prop_assert_eq!((fh.source, fh.destination, fh.protocol), (h.source, h.destination, h.protocol));
            prop_assert_eq!(fh.time_to_live, h.time_to_live);
            prop_assert_eq!((fh.dscp, fh.ecn), (h.dscp, h.ecn));
            let last = i + 1 == n;
            if !last {
                prop_assert_eq!(p.len() % 8, 0);
                prop_assert!(fh.more_fragments);
            } else {
                prop_assert_eq!(fh.more_fragments, h.more_fragments);
            }
            if i == 0 {
                prop_assert_eq!(fh.options.as_slice(), h.options.as_slice());
            } else {
                prop_assert_eq!(fh.options.as_slice(), &later_opts[..]);
            }
        }
        let data = reassemble(&frags, usize::from(h.fragment_offset.byte_offset()))
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(data, case.payload);
    }

    #[test]
    fn fragment_df_or_tiny_mtu_refused(case in ipv4_case_with(200), mtu in 0usize..100) {
        let bytes = case.bytes();
        let h = &case.header;
        let mut called = false;
        let r = frag::fragment_ipv4(&bytes, mtu, |_, _| { called = true; true });
        if bytes.len() <= mtu {
            prop_assert_eq!(r, Ok(1));
        } else if h.dont_fragment {
            prop_assert_eq!(r, Err(Error::DontFragment));
            prop_assert!(!called);
        } else if mtu < h.header_len() + 8 {
            prop_assert_eq!(r, Err(Error::BadMtu));
            prop_assert!(!called);
        } else {
            prop_assert!(r.is_ok() || r == Err(Error::Oversize));
        }
    }
}
