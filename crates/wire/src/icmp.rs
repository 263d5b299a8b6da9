//! ICMPv4 (RFC 792): view type, echo reply in place, error generation and
//! the RFC 1812 §4.3.2.7 rules for when an error may be sent.

use crate::ipv4::{self, Ipv4Packet, Ipv4Repr, PROTO_ICMP};
use crate::{be16, be32, checksum, put16, put32, Error};

/// Length of the ICMP header (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = 8;
/// Echo reply.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const TYPE_DEST_UNREACH: u8 = 3;
/// Destination unreachable, code: fragmentation needed and DF set
/// (rest of header: low 16 bits = next-hop MTU, RFC 1191).
pub const CODE_FRAG_NEEDED: u8 = 4;
/// Source quench (deprecated, still an error message).
pub const TYPE_SOURCE_QUENCH: u8 = 4;
/// Redirect.
pub const TYPE_REDIRECT: u8 = 5;
/// Echo request.
pub const TYPE_ECHO_REQUEST: u8 = 8;
/// Time exceeded.
pub const TYPE_TIME_EXCEEDED: u8 = 11;
/// Time exceeded, code: TTL exceeded in transit.
pub const CODE_TTL_EXCEEDED: u8 = 0;
/// Parameter problem.
pub const TYPE_PARAM_PROBLEM: u8 = 12;

/// Most bytes of the offending datagram quoted in an error, so the whole
/// error stays within 576 bytes (576 - 20 IP - 8 ICMP).
pub const MAX_QUOTE_LEN: usize = 548;
/// IP + ICMP header bytes of a generated error.
pub const ERROR_HEADER_LEN: usize = ipv4::HEADER_LEN + HEADER_LEN;
/// DSCP/ECN byte of generated errors: precedence 6, internetwork control
/// (RFC 1812 §4.3.2.5).
pub const ERROR_DSCP_ECN: u8 = 0xc0;
/// TTL used by [`make_echo_reply_in_place`].
pub const ECHO_REPLY_TTL: u8 = 64;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const REST: usize = 4;
}

/// True for the ICMP error message types (3, 4, 5, 11, 12), about which no
/// ICMP error may be sent.
#[inline]
pub const fn is_icmp_error(icmp_type: u8) -> bool {
    matches!(
        icmp_type,
        TYPE_DEST_UNREACH
            | TYPE_SOURCE_QUENCH
            | TYPE_REDIRECT
            | TYPE_TIME_EXCEEDED
            | TYPE_PARAM_PROBLEM
    )
}

/// A read/write view of an ICMPv4 message (an IPv4 payload; the message
/// extends to the end of the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wrap a buffer without any check.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wrap a buffer, checking it holds the 8-byte header (`Truncated`).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The check of [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Give back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Bytes 4..8 as a big-endian `u32`.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        be32(self.buffer.as_ref(), field::REST)
    }
    /// Echo identifier (bytes 4..6).
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::REST)
    }
    /// Echo sequence number (bytes 6..8).
    #[inline]
    pub fn seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), field::REST + 2)
    }
    /// Next-hop MTU of a "fragmentation needed" message (bytes 6..8).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), field::REST + 2)
    }
    /// Everything after the 8-byte header (echo data, or the quoted
    /// datagram of an error).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default()
    }
    /// True if the checksum over the whole buffer is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        b.len() >= HEADER_LEN && checksum::sum(b) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Set the message type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    /// Set the code.
    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    /// Set bytes 4..8.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::REST, v);
    }
    /// Set the echo identifier.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::REST, v);
    }
    /// Set the echo sequence number.
    #[inline]
    pub fn set_seq_no(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::REST + 2, v);
    }
    /// Set the next-hop MTU (bytes 6..8).
    #[inline]
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::REST + 2, v);
    }
    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or_default()
    }
    /// Compute and store the checksum over the whole buffer
    /// (no-op if shorter than 8 bytes).
    #[inline]
    pub fn fill_checksum(&mut self) {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return;
        }
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// Turn a whole IPv4 packet holding an ICMP echo request into the echo
/// reply, in place: swap IP source and destination, set the ICMP type to 0
/// (checksum patched incrementally, RFC 1624), set TTL to 64 and recompute
/// the IP header checksum. Identifier, sequence number, data and IP options
/// are kept; the packet length does not change.
///
/// Errors (packet untouched): anything [`Ipv4Packet::new_checked`] rejects;
/// `Unsupported` (protocol is not ICMP); `Fragmented` (the request is an IP
/// fragment, so its ICMP checksum cannot be patched); `Truncated` (ICMP
/// part < 8 bytes); `NotRequest` (type is not 8).
///
/// The request's checksums are not verified (a corrupt request yields an
/// equally corrupt reply); whether to answer (e.g. not to broadcast
/// destinations) is the caller's policy.
#[inline]
pub fn make_echo_reply_in_place(ip_packet: &mut [u8]) -> Result<(), Error> {
    let mut ip = Ipv4Packet::new_checked(ip_packet)?;
    if ip.protocol() != PROTO_ICMP {
        return Err(Error::Unsupported);
    }
    if ip.is_fragment() {
        return Err(Error::Fragmented);
    }
    {
        let mut icmp = Icmpv4Packet::new_checked(ip.payload_mut())?;
        if icmp.msg_type() != TYPE_ECHO_REQUEST {
            return Err(Error::NotRequest);
        }
        let code = u16::from(icmp.code());
        let old = (u16::from(TYPE_ECHO_REQUEST) << 8) | code;
        let new = (u16::from(TYPE_ECHO_REPLY) << 8) | code;
        let c = checksum::update_u16(icmp.checksum(), old, new);
        icmp.set_msg_type(TYPE_ECHO_REPLY);
        icmp.set_checksum(c);
    }
    let src = ip.src();
    let dst = ip.dst();
    ip.set_src(dst);
    ip.set_dst(src);
    ip.set_ttl(ECHO_REPLY_TTL);
    ip.fill_checksum();
    Ok(())
}

/// Write an IPv4 + ICMP error message into `out` and return its total
/// length.
///
/// * IP header: 20 bytes, DSCP/ECN [`ERROR_DSCP_ECN`], DF clear, the given
///   `ttl`, `ident`, host-order `src`/`dst`, protocol 1, correct checksum.
/// * ICMP: `icmp_type`, `icmp_code`, `rest_of_header` (e.g. the next-hop
///   MTU for type 3 code 4; 0 for time exceeded), correct checksum.
/// * Quoted data: `original[..min(original.len(), original total length,
///   548)]`, i.e. the offending IP header plus as much payload as keeps the
///   error within 576 bytes (RFC 1812 §4.3.2.3; at least the 8 bytes RFC
///   792 asks for whenever the original has them).
///
/// `original` may be a truncated copy of the offending datagram, but its IP
/// header must be sane (`Truncated`, `BadVersion`, `BadHeaderLen`,
/// `BadTotalLen` otherwise). `Err(BufferTooSmall)` if `out` cannot hold
/// `28 + quote` bytes. Whether an error may be sent at all is decided by
/// [`may_send_icmp_error`].
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn write_icmp_error(
    out: &mut [u8],
    src: u32,
    dst: u32,
    ttl: u8,
    ident: u16,
    icmp_type: u8,
    icmp_code: u8,
    rest_of_header: u32,
    original: &[u8],
) -> Result<usize, Error> {
    let orig = Ipv4Packet::new_unchecked(original);
    orig.check_header()?;
    let quote = original
        .len()
        .min(usize::from(orig.total_len()))
        .min(MAX_QUOTE_LEN);
    let total = ERROR_HEADER_LEN + quote;
    let out = out.get_mut(..total).ok_or(Error::BufferTooSmall)?;
    let (ip_hdr, icmp) = out.split_at_mut(ipv4::HEADER_LEN);
    Ipv4Repr {
        dscp_ecn: ERROR_DSCP_ECN,
        total_len: total as u16,
        ident,
        flags_frag: 0,
        ttl,
        protocol: PROTO_ICMP,
        src,
        dst,
    }
    .emit(ip_hdr)?;
    icmp[field::TYPE] = icmp_type;
    icmp[field::CODE] = icmp_code;
    put16(icmp, field::CHECKSUM, 0);
    put32(icmp, field::REST, rest_of_header);
    icmp[HEADER_LEN..].copy_from_slice(&original[..quote]);
    let c = checksum::checksum(icmp);
    put16(icmp, field::CHECKSUM, c);
    Ok(total)
}

/// True if `addr` (host order) may be the source of a datagram that gets an
/// ICMP error: not 0.0.0.0/8, not 127/8, not multicast 224/4, not class E
/// 240/4 (which includes the limited broadcast 255.255.255.255).
#[inline]
const fn is_single_host_source(addr: u32) -> bool {
    let first = (addr >> 24) as u8;
    !(first == 0 || first == 127 || first >= 224)
}

/// RFC 1812 §4.3.2.7: may an ICMP error be sent about `original_ip_packet`
/// (the offending datagram, possibly a truncated copy holding at least its
/// IP header)?
///
/// Returns false when the header is not sane IPv4, when the datagram is a
/// non-first fragment (offset != 0), when its source does not define a
/// single host (0.0.0.0/8, 127/8, 224/4 multicast, 240/4 incl.
/// 255.255.255.255), when its destination is multicast or the limited
/// broadcast, or when it is itself an ICMP error message (or an ICMP
/// datagram too short to tell).
#[inline]
pub fn may_send_icmp_error(original_ip_packet: &[u8]) -> bool {
    let p = Ipv4Packet::new_unchecked(original_ip_packet);
    if p.check_header().is_err() {
        return false;
    }
    if p.frag_offset() != 0 {
        return false;
    }
    if !is_single_host_source(p.src_u32()) {
        return false;
    }
    let dst = p.dst_u32();
    if dst >> 28 == 0xe || dst == u32::MAX {
        return false;
    }
    if p.protocol() == PROTO_ICMP {
        let hl = p.header_len();
        if usize::from(p.total_len()) <= hl {
            return false;
        }
        match original_ip_packet.get(hl) {
            Some(&t) if !is_icmp_error(t) => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::{FLAG_MF, PROTO_UDP};

    const A: u32 = 0x0a00_0001; // 10.0.0.1
    const B: u32 = 0xc0a8_0102; // 192.168.1.2

    fn ip_packet(proto: u8, src: u32, dst: u32, payload: &[u8]) -> Vec<u8> {
        let total = 20 + payload.len();
        let mut v = vec![0u8; total];
        Ipv4Repr {
            dscp_ecn: 0,
            total_len: total as u16,
            ident: 7,
            flags_frag: 0,
            ttl: 9,
            protocol: proto,
            src,
            dst,
        }
        .emit(&mut v)
        .unwrap();
        v[20..].copy_from_slice(payload);
        v
    }

    fn echo_request(data: &[u8]) -> Vec<u8> {
        let mut icmp = vec![8u8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01];
        icmp.extend_from_slice(data);
        Icmpv4Packet::new_unchecked(&mut icmp[..]).fill_checksum();
        ip_packet(PROTO_ICMP, A, B, &icmp)
    }

    #[test]
    fn view() {
        let v = echo_request(b"hello");
        let ip = Ipv4Packet::new_checked(&v[..]).unwrap();
        let i = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(i.msg_type(), TYPE_ECHO_REQUEST);
        assert_eq!(i.code(), 0);
        assert_eq!(i.ident(), 0x1234);
        assert_eq!(i.seq_no(), 1);
        assert_eq!(i.next_hop_mtu(), 1);
        assert_eq!(i.rest_of_header(), 0x1234_0001);
        assert_eq!(i.payload(), b"hello");
        assert!(i.verify_checksum());
        assert_eq!(i.into_inner().len(), 13);

        let mut b = [0u8; 12];
        let mut i = Icmpv4Packet::new_unchecked(&mut b[..]);
        i.set_msg_type(TYPE_DEST_UNREACH);
        i.set_code(CODE_FRAG_NEEDED);
        i.set_rest_of_header(0xdead_beef);
        i.set_ident(0);
        i.set_next_hop_mtu(1480);
        i.payload_mut().copy_from_slice(b"quot");
        i.fill_checksum();
        assert!(i.verify_checksum());
        assert_eq!(i.rest_of_header(), 1480);
        i.set_seq_no(1);
        assert!(!i.verify_checksum());
        i.set_checksum(0);
        assert_eq!(i.checksum(), 0);
    }

    #[test]
    fn view_errors() {
        let b = [0u8; 8];
        for n in 0..8 {
            assert_eq!(
                Icmpv4Packet::new_checked(&b[..n]).unwrap_err(),
                Error::Truncated
            );
            let mut short = [0u8; 8];
            let mut i = Icmpv4Packet::new_unchecked(&mut short[..n]);
            assert!(i.payload().is_empty());
            assert!(i.payload_mut().is_empty());
            assert!(!i.verify_checksum());
            i.fill_checksum();
        }
        assert!(Icmpv4Packet::new_checked(&b[..]).is_ok());
    }

    #[test]
    fn echo_reply() {
        let mut v = echo_request(b"ping data!");
        v[1] = 0x10; // non-zero TOS is kept
        Ipv4Packet::new_unchecked(&mut v[..]).fill_checksum();
        let orig = v.clone();
        make_echo_reply_in_place(&mut v).unwrap();
        let ip = Ipv4Packet::new_checked(&v[..]).unwrap();
        assert_eq!(ip.src_u32(), B);
        assert_eq!(ip.dst_u32(), A);
        assert_eq!(ip.ttl(), 64);
        assert_eq!(ip.dscp_ecn(), 0x10);
        assert!(ip.verify_checksum());
        let i = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(i.msg_type(), TYPE_ECHO_REPLY);
        assert_eq!(i.rest_of_header(), 0x1234_0001);
        assert_eq!(i.payload(), b"ping data!");
        assert!(i.verify_checksum());
        // Incremental checksum equals a full recomputation.
        let mut full = ip.payload().to_vec();
        Icmpv4Packet::new_unchecked(&mut full[..]).fill_checksum();
        assert_eq!(&full[..], ip.payload());
        assert_eq!(v.len(), orig.len());
    }

    #[test]
    fn echo_reply_ignores_padding() {
        let mut v = echo_request(b"abc");
        v.extend_from_slice(&[0xaa; 6]); // Ethernet padding
        make_echo_reply_in_place(&mut v).unwrap();
        let ip = Ipv4Packet::new_checked(&v[..]).unwrap();
        assert!(Icmpv4Packet::new_checked(ip.payload())
            .unwrap()
            .verify_checksum());
        assert_eq!(&v[v.len() - 6..], &[0xaa; 6]);
    }

    #[test]
    fn echo_reply_errors() {
        let good = echo_request(b"x");
        let check = |mut v: Vec<u8>, e: Error| {
            let before = v.clone();
            assert_eq!(make_echo_reply_in_place(&mut v), Err(e));
            assert_eq!(v, before);
        };
        check(good[..19].to_vec(), Error::Truncated);
        check(good[..good.len() - 1].to_vec(), Error::Truncated);
        let mut v = good.clone();
        v[0] = 0x60;
        check(v, Error::BadVersion);
        let mut v = good.clone();
        v[9] = PROTO_UDP;
        check(v, Error::Unsupported);
        let mut v = good.clone();
        v[6] = (FLAG_MF >> 8) as u8;
        check(v, Error::Fragmented);
        let mut v = good.clone();
        v[7] = 1; // offset 8
        check(v, Error::Fragmented);
        let mut v = good.clone();
        v[20] = TYPE_ECHO_REPLY;
        check(v, Error::NotRequest);
        let mut v = good.clone();
        v[20] = TYPE_TIME_EXCEEDED;
        check(v, Error::NotRequest);
        // ICMP part of 7 bytes.
        let short = ip_packet(PROTO_ICMP, A, B, &[8, 0, 0, 0, 0, 0, 0]);
        check(short, Error::Truncated);
    }

    #[test]
    fn error_generation() {
        let udp_payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let orig = ip_packet(PROTO_UDP, B, A, &udp_payload);
        let mut out = [0u8; 600];
        let n = write_icmp_error(
            &mut out,
            A,
            B,
            64,
            99,
            TYPE_DEST_UNREACH,
            CODE_FRAG_NEEDED,
            1400,
            &orig,
        )
        .unwrap();
        assert_eq!(n, 576);
        let ip = Ipv4Packet::new_checked(&out[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.total_len(), 576);
        assert_eq!(ip.protocol(), PROTO_ICMP);
        assert_eq!(
            (ip.src_u32(), ip.dst_u32(), ip.ttl(), ip.ident()),
            (A, B, 64, 99)
        );
        assert_eq!(ip.dscp_ecn(), ERROR_DSCP_ECN);
        assert!(!ip.dont_frag() && !ip.is_fragment());
        let i = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(i.verify_checksum());
        assert_eq!((i.msg_type(), i.code(), i.next_hop_mtu()), (3, 4, 1400));
        assert_eq!(i.payload(), &orig[..548]);

        // A short original is quoted whole (and trailing padding is not).
        let small = ip_packet(PROTO_UDP, B, A, b"12345678");
        let mut padded = small.clone();
        padded.extend_from_slice(&[0; 10]);
        let n = write_icmp_error(&mut out, A, B, 64, 1, 11, 0, 0, &padded).unwrap();
        assert_eq!(n, 28 + 28);
        assert_eq!(&out[28..n], &small[..]);
        assert!(Icmpv4Packet::new_checked(&out[20..n])
            .unwrap()
            .verify_checksum());

        // A truncated copy (header + 8 bytes) is accepted.
        let n = write_icmp_error(&mut out, A, B, 64, 1, 11, 0, 0, &orig[..28]).unwrap();
        assert_eq!(n, 56);
        assert_eq!(&out[28..n], &orig[..28]);
        // Exactly-sized output works, one byte less does not.
        assert_eq!(
            write_icmp_error(&mut out[..56], A, B, 64, 1, 11, 0, 0, &orig[..28]),
            Ok(56)
        );
        assert_eq!(
            write_icmp_error(&mut out[..55], A, B, 64, 1, 11, 0, 0, &orig[..28]),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn error_generation_bad_original() {
        let orig = ip_packet(PROTO_UDP, B, A, b"12345678");
        let mut out = [0u8; 600];
        let mut w = |o: &[u8]| write_icmp_error(&mut out, A, B, 64, 1, 11, 0, 0, o);
        assert_eq!(w(&orig[..19]), Err(Error::Truncated));
        let mut v = orig.clone();
        v[0] = 0x46; // 24-byte header but total_len 28 and 28 bytes: fine
        assert!(w(&v).is_ok());
        v[0] = 0x4f; // 60 > 28
        assert_eq!(w(&v), Err(Error::Truncated));
        v[0] = 0x44;
        assert_eq!(w(&v), Err(Error::BadHeaderLen));
        v[0] = 0x55;
        assert_eq!(w(&v), Err(Error::BadVersion));
        let mut v = orig.clone();
        v[3] = 10;
        assert_eq!(w(&v), Err(Error::BadTotalLen));
    }

    #[test]
    fn icmp_error_types() {
        for t in 0..=255u8 {
            assert_eq!(is_icmp_error(t), [3, 4, 5, 11, 12].contains(&t), "type {t}");
        }
    }

    #[test]
    fn may_send_rules() {
        let udp = ip_packet(PROTO_UDP, B, A, b"12345678");
        assert!(may_send_icmp_error(&udp));
        assert!(may_send_icmp_error(&udp[..20])); // header-only copy is enough

        // Sources that do not define a single host.
        for src in [
            0x0000_0000,
            0x00ff_0001,
            0x7f00_0001,
            0xe000_0001,
            0xefff_ffff,
            0xf000_0001,
            0xffff_ffff,
        ] {
            let p = ip_packet(PROTO_UDP, src, A, b"12345678");
            assert!(!may_send_icmp_error(&p), "src {src:#x}");
        }
        for src in [0x0100_0000u32, 0x7e00_0001, 0x8000_0001, 0xdfff_ffff] {
            let p = ip_packet(PROTO_UDP, src, A, b"12345678");
            assert!(may_send_icmp_error(&p), "src {src:#x}");
        }
        // Multicast / broadcast destinations.
        for dst in [0xe000_0001u32, 0xefff_ffff, 0xffff_ffff] {
            let p = ip_packet(PROTO_UDP, B, dst, b"12345678");
            assert!(!may_send_icmp_error(&p), "dst {dst:#x}");
        }

        // Fragments: first fragment yes, later ones no.
        let mut first = udp.clone();
        first[6] = 0x20; // MF, offset 0
        assert!(may_send_icmp_error(&first));
        let mut later = udp.clone();
        later[7] = 1;
        assert!(!may_send_icmp_error(&later));

        // ICMP: queries yes, errors no.
        for (t, ok) in [
            (0u8, true),
            (8, true),
            (13, true),
            (3, false),
            (4, false),
            (5, false),
            (11, false),
            (12, false),
        ] {
            let p = ip_packet(PROTO_ICMP, B, A, &[t, 0, 0, 0, 0, 0, 0, 0]);
            assert_eq!(may_send_icmp_error(&p), ok, "icmp type {t}");
        }
        // ICMP datagram with no ICMP bytes at all (only padding after it).
        let mut empty = ip_packet(PROTO_ICMP, B, A, &[]);
        assert!(!may_send_icmp_error(&empty));
        empty.push(8);
        assert!(!may_send_icmp_error(&empty));
        // Header-only copy of an ICMP datagram: cannot tell, so no.
        let icmp = ip_packet(PROTO_ICMP, B, A, &[8, 0, 0, 0, 0, 0, 0, 0]);
        assert!(!may_send_icmp_error(&icmp[..20]));

        // Garbage.
        assert!(!may_send_icmp_error(&[]));
        assert!(!may_send_icmp_error(&udp[..19]));
        let mut v6 = udp.clone();
        v6[0] = 0x60;
        assert!(!may_send_icmp_error(&v6));
    }
}
