//! How registration messages travel (PROTOCOL.md section 1, "Paths"), as pure functions.
//!
//! A request reaches the MSM
//! 1. through the WWAN: `IPgprs:any -> IPmsm-gprs:434`;
//! 2. reverse-tunnelled through the WLAN: outer `IPwlan -> IPmsm-wlan` protocol 4, inner
//!    `IPgprs:any -> IPmsm-gprs:434`;
//! 3. directly from the care-of address: `IPwlan:any -> IPmsm-wlan:434`.
//!
//! A path is bound to its side: path 1 is accepted only from a port facing the WWAN,
//! paths 2 and 3 only from a port facing the Internet (a `both` port serves both). The
//! control lcore drops the others unanswered (`registrations_wrong_side`); a tunnel from
//! the WWAN side does not even get here: the workers drop it (`drop_tunnel_wrong_side`).
//!
//! [`extract`] finds the UDP payload and the path of a frame the workers handed to the
//! control lcore, given the role of the port it came in on; [`write_reply`] turns the
//! same buffer into the Reply, sent back the way the request came: addresses and ports
//! swapped, and for path 2 tunnelled `IPmsm-wlan -> IPwlan`.

use crate::config::Role;
use crate::dataplane::pipeline::{PacketBuf, ETH, MIP_PORT, OUTER};
use msm_wire::{ipv4, udp};

/// Which way a request came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// 1: plain UDP through the WWAN.
    Wwan,
    /// 2: reverse-tunnelled through the WLAN; `outer_src` is the care-of address the
    /// packet came from.
    Tunnel { outer_src: u32, outer_dst: u32 },
    /// 3: plain UDP from the care-of address to IPmsm-wlan.
    Direct,
}

/// A registration packet located in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegPacket {
    pub path: Path,
    /// Source / destination of the (inner) IP header carrying the UDP datagram.
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    /// Byte range of the UDP payload in the frame.
    pub payload: (usize, usize),
    pub src_mac: [u8; 6],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractError {
    Malformed,
    NotRegistration,
    BadUdpChecksum,
    /// Addressed to none of the paths: a tunnel to an address other than IPmsm-wlan, or
    /// plain UDP to an address that is neither IPmsm-gprs nor IPmsm-wlan.
    WrongPath,
    /// A path on a port of the other side: path 1 on a port that does not face the
    /// WWAN, path 2 or 3 on a port that does not face the Internet. Dropped unanswered.
    WrongSide,
}

/// Locates the registration request in `frame`, received on a port of role `ingress`.
/// `msm_gprs`/`msm_wlan` are our two addresses (equal in GGSN-expansion mode).
pub fn extract(
    frame: &[u8],
    msm_gprs: u32,
    msm_wlan: u32,
    ingress: Role,
) -> Result<RegPacket, ExtractError> {
    if frame.len() < ETH {
        return Err(ExtractError::Malformed);
    }
    let src_mac = [frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]];
    let ip = ipv4::Ipv4Packet::new_checked(&frame[ETH..]).map_err(|_| ExtractError::Malformed)?;
    let (mut at, mut p, mut outer) = (ETH, ip, None);
    if p.protocol() == ipv4::PROTO_IPIP {
        if p.dst_u32() != msm_wlan {
            return Err(ExtractError::WrongPath);
        }
        outer = Some((p.src_u32(), p.dst_u32()));
        at += p.header_len();
        p = ipv4::Ipv4Packet::new_checked(&frame[at..]).map_err(|_| ExtractError::Malformed)?;
    }
    if p.protocol() != ipv4::PROTO_UDP || p.is_fragment() {
        return Err(ExtractError::NotRegistration);
    }
    let hl = p.header_len();
    let total = p.total_len() as usize;
    let (src, dst) = (p.src_u32(), p.dst_u32());
    let u = udp::UdpPacket::new_checked(&frame[at + hl..at + total])
        .map_err(|_| ExtractError::Malformed)?;
    if u.dst_port() != MIP_PORT {
        return Err(ExtractError::NotRegistration);
    }
    if !u.verify_checksum(src, dst) {
        return Err(ExtractError::BadUdpChecksum);
    }
    let path = match outer {
        Some((outer_src, outer_dst)) => Path::Tunnel {
            outer_src,
            outer_dst,
        },
        None if dst == msm_gprs && dst != msm_wlan => Path::Wwan,
        None if dst == msm_wlan && dst != msm_gprs => Path::Direct,
        // One address for both sides: the port tells the path (path 1 on a `both` port).
        None if dst == msm_gprs && ingress == Role::Internet => Path::Direct,
        None if dst == msm_gprs => Path::Wwan,
        None => return Err(ExtractError::WrongPath),
    };
    if !path_is_on_its_side(path, ingress) {
        return Err(ExtractError::WrongSide);
    }
    let start = at + hl + 8;
    let end = at + hl + u.len() as usize;
    Ok(RegPacket {
        path,
        src,
        dst,
        sport: u.src_port(),
        dport: u.dst_port(),
        payload: (start, end),
        src_mac,
    })
}

/// Whether `path` may arrive on a port of role `ingress`: path 1 from the WWAN side,
/// paths 2 and 3 from the Internet side.
pub fn path_is_on_its_side(path: Path, ingress: Role) -> bool {
    match path {
        Path::Wwan => ingress.faces_wwan(),
        Path::Tunnel { .. } | Path::Direct => ingress.faces_internet(),
    }
}

/// Rewrites `buf` (which held `req`) into the Reply carrying `payload`, back along the
/// request's path, from `my_mac` to the request's Ethernet source. `ttl`/`id` are for
/// the IP header(s) written.
pub fn write_reply<B: PacketBuf>(
    buf: &mut B,
    req: &RegPacket,
    payload: &[u8],
    my_mac: [u8; 6],
    ttl: u8,
    id: u16,
) -> bool {
    let tunnel = matches!(req.path, Path::Tunnel { .. });
    let inner_at = ETH + if tunnel { OUTER } else { 0 };
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let total = inner_at + ip_len;
    if ip_len > u16::MAX as usize || !buf.resize(total) {
        return false;
    }
    let d = buf.data_mut();
    d[0..6].copy_from_slice(&req.src_mac);
    d[6..12].copy_from_slice(&my_mac);
    d[12..14].copy_from_slice(&msm_wire::ethernet::ETHERTYPE_IPV4.to_be_bytes());
    // Inner (or only) IP + UDP: addresses and ports swapped.
    let repr = ipv4::Ipv4Repr {
        dscp_ecn: 0,
        total_len: ip_len as u16,
        ident: id,
        flags_frag: 0,
        ttl,
        protocol: ipv4::PROTO_UDP,
        src: req.dst,
        dst: req.src,
    };
    if repr.emit(&mut d[inner_at..inner_at + 20]).is_err() {
        return false;
    }
    {
        let u = &mut d[inner_at + 20..total];
        u[8..].copy_from_slice(payload);
        let mut up = udp::UdpPacket::new_unchecked(u);
        up.set_src_port(req.dport);
        up.set_dst_port(req.sport);
        up.set_len(udp_len as u16);
        up.fill_checksum(req.dst, req.src);
    }
    if let Path::Tunnel {
        outer_src,
        outer_dst,
    } = req.path
    {
        if ipv4::write_ipip_header_in_place(
            &mut d[ETH..],
            outer_dst,
            outer_src,
            ttl,
            id.wrapping_add(1),
        )
        .is_err()
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::pipeline::VecBuf;
    use etherparse::PacketBuilder;

    const GPRS: [u8; 4] = [192, 0, 2, 129];
    const WLAN: [u8; 4] = [198, 51, 100, 1];
    const HOME: [u8; 4] = [192, 0, 2, 10];
    const COA: [u8; 4] = [203, 0, 113, 10];
    const PEER: [u8; 6] = [2, 0, 0, 0, 0, 9];
    const ME: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn u(a: [u8; 4]) -> u32 {
        u32::from_be_bytes(a)
    }

    fn udp_ip(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .udp(40000, 434)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn eth(ip: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&ME);
        v.extend_from_slice(&PEER);
        v.extend_from_slice(&[8, 0]);
        v.extend_from_slice(ip);
        v
    }

    fn tunnelled(inner: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(COA, WLAN, 64)
            .write(&mut v, etherparse::IpNumber(4), inner)
            .unwrap();
        eth(&v)
    }

    #[test]
    fn three_paths_are_recognised() {
        let f = eth(&udp_ip(HOME, GPRS, b"REQ1"));
        let r = extract(&f, u(GPRS), u(WLAN), Role::Wwan).unwrap();
        assert_eq!(r.path, Path::Wwan);
        assert_eq!(&f[r.payload.0..r.payload.1], b"REQ1");
        let f = tunnelled(&udp_ip(HOME, GPRS, b"REQ2"));
        let r = extract(&f, u(GPRS), u(WLAN), Role::Internet).unwrap();
        assert_eq!(
            r.path,
            Path::Tunnel {
                outer_src: u(COA),
                outer_dst: u(WLAN)
            }
        );
        assert_eq!(r.src, u(HOME));
        assert_eq!(&f[r.payload.0..r.payload.1], b"REQ2");
        let f = eth(&udp_ip(COA, WLAN, b"REQ3"));
        let r = extract(&f, u(GPRS), u(WLAN), Role::Internet).unwrap();
        assert_eq!(r.path, Path::Direct);
        assert_eq!(r.src, u(COA));
    }

    #[test]
    fn bad_input_is_refused() {
        let mut f = eth(&udp_ip(HOME, GPRS, b"REQ1"));
        let n = f.len();
        f[n - 1] ^= 0xff; // payload byte: UDP checksum now wrong
        assert_eq!(
            extract(&f, u(GPRS), u(WLAN), Role::Wwan),
            Err(ExtractError::BadUdpChecksum)
        );
        assert_eq!(
            extract(&f[..20], u(GPRS), u(WLAN), Role::Wwan),
            Err(ExtractError::Malformed)
        );
        let f = eth(&udp_ip(HOME, [192, 0, 2, 200], b"x"));
        assert_eq!(
            extract(&f, u(GPRS), u(WLAN), Role::Both),
            Err(ExtractError::WrongPath)
        );
    }

    /// Every path on every port role: accepted on its own side (and on a `both` port),
    /// refused as `WrongSide` on the other.
    #[test]
    fn paths_are_bound_to_their_side() {
        let wwan = eth(&udp_ip(HOME, GPRS, b"REQ1"));
        let tunnel = tunnelled(&udp_ip(HOME, GPRS, b"REQ2"));
        let direct = eth(&udp_ip(COA, WLAN, b"REQ3"));
        // (frame, accepted on a wwan port, on an internet port, on a both port)
        let cases = [
            (&wwan, true, false, true),
            (&tunnel, false, true, true),
            (&direct, false, true, true),
        ];
        for (f, on_wwan, on_internet, on_both) in cases {
            for (role, accepted) in [
                (Role::Wwan, on_wwan),
                (Role::Internet, on_internet),
                (Role::Both, on_both),
            ] {
                let got = extract(f, u(GPRS), u(WLAN), role);
                if accepted {
                    assert!(got.is_ok(), "{role:?}: {got:?}");
                } else {
                    assert_eq!(got, Err(ExtractError::WrongSide), "{role:?}");
                }
            }
        }
    }

    /// One address for both sides (GGSN-expansion mode): plain UDP is path 1 on a WWAN or
    /// `both` port, path 3 on an Internet port; a tunnel still only from the Internet side.
    #[test]
    fn one_address_for_both_sides_takes_the_path_from_the_port() {
        let plain = eth(&udp_ip(COA, GPRS, b"REQ"));
        let path = |role| extract(&plain, u(GPRS), u(GPRS), role).map(|r| r.path);
        assert_eq!(path(Role::Wwan), Ok(Path::Wwan));
        assert_eq!(path(Role::Both), Ok(Path::Wwan));
        assert_eq!(path(Role::Internet), Ok(Path::Direct));
        let mut v = Vec::new();
        PacketBuilder::ipv4(COA, GPRS, 64)
            .write(&mut v, etherparse::IpNumber(4), &udp_ip(HOME, GPRS, b"REQ"))
            .unwrap();
        let tunnel = eth(&v);
        let path = |role| extract(&tunnel, u(GPRS), u(GPRS), role).map(|r| r.path);
        assert_eq!(path(Role::Wwan), Err(ExtractError::WrongSide));
        assert!(matches!(path(Role::Both), Ok(Path::Tunnel { .. })));
        assert!(matches!(path(Role::Internet), Ok(Path::Tunnel { .. })));
    }

    fn check_udp_reply(ip: &[u8], src: [u8; 4], dst: [u8; 4], payload: &[u8]) {
        let s = etherparse::SlicedPacket::from_ip(ip).unwrap();
        let Some(etherparse::NetSlice::Ipv4(h)) = &s.net else {
            panic!()
        };
        assert_eq!(h.header().source(), src);
        assert_eq!(h.header().destination(), dst);
        let Some(etherparse::TransportSlice::Udp(us)) = s.transport else {
            panic!()
        };
        assert_eq!(us.source_port(), 434);
        assert_eq!(us.destination_port(), 40000);
        assert_eq!(us.payload(), payload);
        let want = us
            .to_header()
            .calc_checksum_ipv4_raw(src, dst, us.payload())
            .unwrap();
        assert_eq!(us.checksum(), want);
    }

    #[test]
    fn replies_go_back_the_way_requests_came() {
        for (f, role, reply_src, reply_dst) in [
            (eth(&udp_ip(HOME, GPRS, b"REQ")), Role::Wwan, GPRS, HOME),
            (eth(&udp_ip(COA, WLAN, b"REQ")), Role::Internet, WLAN, COA),
        ] {
            let r = extract(&f, u(GPRS), u(WLAN), role).unwrap();
            let mut b = VecBuf::new(&f);
            assert!(write_reply(
                &mut b,
                &r,
                b"a longer reply payload",
                ME,
                64,
                7
            ));
            let d = b.data();
            assert_eq!(&d[0..6], &PEER);
            assert_eq!(&d[6..12], &ME);
            check_udp_reply(&d[14..], reply_src, reply_dst, b"a longer reply payload");
        }
        // path 2: tunnelled back IPmsm-wlan -> CoA
        let f = tunnelled(&udp_ip(HOME, GPRS, b"REQ"));
        let r = extract(&f, u(GPRS), u(WLAN), Role::Internet).unwrap();
        let mut b = VecBuf::new(&f);
        assert!(write_reply(&mut b, &r, b"R", ME, 64, 7));
        let d = b.data();
        let outer = etherparse::Ipv4HeaderSlice::from_slice(&d[14..]).unwrap();
        assert_eq!(outer.source(), WLAN);
        assert_eq!(outer.destination(), COA);
        assert_eq!(outer.protocol(), etherparse::IpNumber(4));
        assert_eq!(
            outer.to_header().calc_header_checksum(),
            outer.header_checksum()
        );
        check_udp_reply(&d[34..], GPRS, HOME, b"R");
    }
}
