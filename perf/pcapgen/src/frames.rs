//! Frame builders (Ethernet II + IPv4, checksums filled by `msm-wire`).

use anyhow::{bail, Result};
use msm_wire::{arp, ethernet, ipv4, udp};

/// Ethernet header + FCS: what a frame size has on top of its IP packet.
pub const ETH_OVERHEAD: usize = ethernet::HEADER_LEN + 4;
/// IPv4 + UDP headers.
pub const IP_UDP: usize = ipv4::HEADER_LEN + udp::HEADER_LEN;
/// Outer IPv4 header of IP-in-IP.
pub const OUTER: usize = ipv4::HEADER_LEN;
/// Smallest user frame (with FCS) the generator builds: 64 bytes.
pub const MIN_FRAME: usize = 64;
/// Bytes at the start of every data payload: `MAGIC` then the packet's sequence number.
pub const MAGIC: [u8; 4] = *b"MSMg";
/// Length of [`MAGIC`] + sequence number.
pub const TAG_LEN: usize = 12;

/// Source and destination MACs of the generated frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2 {
    /// The MSM port the frames arrive on.
    pub dst: [u8; 6],
    /// The sender: the router or GGSN the generator plays.
    pub src: [u8; 6],
}

/// A UDP datagram to build.
#[derive(Debug, Clone, Copy)]
pub struct Udp<'a> {
    /// Source address, host order.
    pub src: u32,
    /// Destination address, host order.
    pub dst: u32,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP identification.
    pub ident: u16,
    /// TTL.
    pub ttl: u8,
    /// Set DF.
    pub df: bool,
    /// UDP payload.
    pub payload: &'a [u8],
}

impl Udp<'_> {
    /// IPv4 total length.
    pub fn ip_len(&self) -> usize {
        IP_UDP + self.payload.len()
    }

    /// Writes the IPv4 + UDP packet at the start of `out` (`out.len() >= ip_len()`),
    /// both checksums filled.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let total = self.ip_len();
        if total > ipv4::MAX_PACKET_LEN || out.len() < total {
            bail!("UDP packet of {total} bytes does not fit");
        }
        ipv4::Ipv4Repr {
            dscp_ecn: 0,
            total_len: total as u16,
            ident: self.ident,
            flags_frag: if self.df { ipv4::FLAG_DF } else { 0 },
            ttl: self.ttl,
            protocol: ipv4::PROTO_UDP,
            src: self.src,
            dst: self.dst,
        }
        .emit(out)?;
        let seg = &mut out[ipv4::HEADER_LEN..total];
        let mut u = udp::UdpPacket::new_unchecked(&mut *seg);
        u.set_src_port(self.sport);
        u.set_dst_port(self.dport);
        u.set_len((udp::HEADER_LEN + self.payload.len()) as u16);
        u.set_checksum(0);
        seg[udp::HEADER_LEN..].copy_from_slice(self.payload);
        udp::UdpPacket::new_unchecked(seg).fill_checksum(self.src, self.dst);
        Ok(total)
    }
}

/// An outer IP-in-IP header to prepend.
#[derive(Debug, Clone, Copy)]
pub struct Tunnel {
    /// Outer source (the care-of address), host order.
    pub src: u32,
    /// Outer destination (IPmsm-wlan), host order.
    pub dst: u32,
    /// Outer TTL.
    pub ttl: u8,
    /// Outer IP identification.
    pub ident: u16,
}

/// Ethernet + (optional IP-in-IP) + IPv4/UDP frame, without FCS and unpadded (the
/// builders never go below 60 bytes for data).
pub fn udp_frame(l2: L2, tunnel: Option<Tunnel>, udp: &Udp) -> Result<Vec<u8>> {
    let outer = if tunnel.is_some() { OUTER } else { 0 };
    let mut f = vec![0u8; ethernet::HEADER_LEN + outer + udp.ip_len()];
    ethernet::write_header(&mut f, l2.dst, l2.src, ethernet::ETHERTYPE_IPV4)?;
    udp.emit(&mut f[ethernet::HEADER_LEN + outer..])?;
    if let Some(t) = tunnel {
        ipv4::write_ipip_header_in_place(
            &mut f[ethernet::HEADER_LEN..],
            t.src,
            t.dst,
            t.ttl,
            t.ident,
        )?;
    }
    if f.len() < 60 {
        f.resize(60, 0); // Ethernet minimum (IP total length tells the real end)
    }
    Ok(f)
}

/// The payload of data packet `seq` for a user frame of `frame_size` bytes (with FCS):
/// `MAGIC`, `seq` (u64, big-endian), then a byte pattern.
pub fn data_payload(frame_size: usize, seq: u64) -> Result<Vec<u8>> {
    if frame_size < MIN_FRAME {
        bail!("frame size {frame_size} is below {MIN_FRAME}");
    }
    let n = frame_size - ETH_OVERHEAD - IP_UDP;
    let mut p = vec![0u8; n];
    p[..4].copy_from_slice(&MAGIC);
    p[4..TAG_LEN].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[TAG_LEN..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(seq as u8);
    }
    Ok(p)
}

/// The sequence number of a data payload built by [`data_payload`].
pub fn payload_seq(p: &[u8]) -> Option<u64> {
    if p.len() < TAG_LEN || p[..4] != MAGIC {
        return None;
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&p[4..TAG_LEN]);
    Some(u64::from_be_bytes(s))
}

/// "Who has `target_ip`? tell `src_ip`" from `src_mac`, broadcast, padded to 60 bytes:
/// the MSM learns its next hop from it (and answers it).
pub fn arp_request(src_mac: [u8; 6], src_ip: u32, target_ip: u32) -> Result<Vec<u8>> {
    let mut f = vec![0u8; 60];
    arp::write_arp_request(&mut f, src_mac, src_ip, target_ip)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use msm_wire::{EthernetFrame, Ipv4Packet, UdpPacket};

    const L: L2 = L2 {
        dst: [2, 0x70, 0x63, 0x61, 0x70, 1],
        src: [2, 0, 0, 0, 0, 2],
    };
    const CORR: u32 = 0xcb00_710a; // 203.0.113.10
    const HOME: u32 = 0x6440_0007; // 100.64.0.7
    const COA: u32 = 0xc612_0001; // 198.18.0.1
    const WLAN: u32 = 0xc633_6401; // 198.51.100.1

    fn parse_udp(ip: &[u8]) -> (Ipv4Packet<&[u8]>, Vec<u8>) {
        let p = Ipv4Packet::new_checked(ip).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.protocol(), ipv4::PROTO_UDP);
        let u = UdpPacket::new_checked(p.payload()).unwrap();
        assert_eq!(usize::from(u.len()), p.payload().len());
        assert_ne!(u.checksum(), 0, "checksum must be filled");
        assert!(u.verify_checksum(p.src_u32(), p.dst_u32()));
        let pl = u.payload().to_vec();
        (p, pl)
    }

    #[test]
    fn plain_udp_frame_sizes_and_checksums() {
        for size in [64usize, 65, 512, 1400, 1518] {
            let pl = data_payload(size, 99).unwrap();
            let u = Udp {
                src: CORR,
                dst: HOME,
                sport: 40000,
                dport: 9,
                ident: 7,
                ttl: 64,
                df: true,
                payload: &pl,
            };
            let f = udp_frame(L, None, &u).unwrap();
            assert_eq!(f.len() + 4, size);
            let e = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_eq!((e.dst(), e.src()), (L.dst, L.src));
            assert_eq!(e.ethertype(), ethernet::ETHERTYPE_IPV4);
            let (p, payload) = parse_udp(e.payload());
            assert_eq!(usize::from(p.total_len()) + ETH_OVERHEAD, size);
            assert_eq!((p.src_u32(), p.dst_u32(), p.ttl()), (CORR, HOME, 64));
            assert!(p.dont_frag());
            assert_eq!(payload_seq(&payload), Some(99));
        }
        assert!(data_payload(63, 0).is_err());
    }

    #[test]
    fn tunnelled_frame() {
        let pl = data_payload(64, 5).unwrap();
        let u = Udp {
            src: HOME,
            dst: CORR,
            sport: 1234,
            dport: 9,
            ident: 1,
            ttl: 64,
            df: false,
            payload: &pl,
        };
        let t = Tunnel {
            src: COA,
            dst: WLAN,
            ttl: 64,
            ident: 77,
        };
        let f = udp_frame(L, Some(t), &u).unwrap();
        assert_eq!(f.len() + 4, 64 + 20);
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        let o = Ipv4Packet::new_checked(e.payload()).unwrap();
        assert!(o.verify_checksum());
        assert_eq!(o.protocol(), ipv4::PROTO_IPIP);
        assert_eq!((o.src_u32(), o.dst_u32(), o.ident()), (COA, WLAN, 77));
        assert_eq!(usize::from(o.total_len()), 20 + 28 + pl.len());
        let (i, payload) = parse_udp(o.payload());
        assert_eq!((i.src_u32(), i.dst_u32()), (HOME, CORR));
        assert_eq!(payload_seq(&payload), Some(5));
    }

    #[test]
    fn arp_frame() {
        let f = arp_request(L.src, 0xc633_6402, WLAN).unwrap();
        assert_eq!(f.len(), 60);
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(e.dst(), ethernet::BROADCAST);
        let a = arp::ArpPacket::new_checked(e.payload()).unwrap();
        assert_eq!(a.oper(), arp::OP_REQUEST);
        assert_eq!(
            (a.sha(), a.spa_u32(), a.tpa_u32()),
            (L.src, 0xc633_6402, WLAN)
        );
    }
}
