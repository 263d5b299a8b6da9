//! Classification: reads a received frame's headers once into a [`Classified`] summary that every later stage uses instead of the packet bytes.
//!
//! [`classify`] checks the Ethernet header (our MAC, EtherType), validates the IPv4
//! header (lengths, checksum), rejects martian sources and destinations, and decides
//! which stage gets the packet ([`Kind`]). For IP-in-IP to `IPmsm-wlan` it also reads
//! and validates the inner header, so that the prefetch pass can prefetch the
//! anti-spoofing lookup and the decapsulation stage does not parse it again.
//!
//! The worker classifies a whole burst first (keeping the summaries in an inline array
//! beside the mbufs) and prefetches each packet's binding buckets from its summary, then
//! processes the burst. Classification only reads: the packet is not touched until it
//! is processed. Its drops are counted here.

use crate::dataplane::counters::{Counters, DropReason};
use crate::dataplane::pipeline::{Bindings, Plane, ETH, MIP_PORT};
use msm_wire::{ethernet, ipv4};

/// The fields of one validated IPv4 header that the stages need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Summary {
    pub src: u32,
    pub dst: u32,
    /// Total length of the datagram (header included).
    pub total_len: u16,
    /// The flags + fragment offset word, as on the wire.
    pub flags_frag: u16,
    /// Header length in bytes (20 to 60).
    pub header_len: u8,
    pub proto: u8,
    pub ttl: u8,
}

impl Ipv4Summary {
    /// An all-zero summary (placeholder for packets that have none).
    pub const NONE: Ipv4Summary = Ipv4Summary {
        src: 0,
        dst: 0,
        total_len: 0,
        flags_frag: 0,
        header_len: 0,
        proto: 0,
        ttl: 0,
    };

    #[inline(always)]
    fn of(p: &ipv4::Ipv4Packet<&[u8]>) -> Ipv4Summary {
        Ipv4Summary {
            src: p.src_u32(),
            dst: p.dst_u32(),
            total_len: p.total_len(),
            flags_frag: p.flags_frag(),
            header_len: p.header_len() as u8,
            proto: p.protocol(),
            ttl: p.ttl(),
        }
    }
    /// Header length in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.header_len as usize
    }
    /// Total length in bytes.
    #[inline]
    pub fn total_len(&self) -> usize {
        self.total_len as usize
    }
    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag & ipv4::FLAG_DF != 0
    }
    /// A fragment of a larger datagram (more-fragments set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag & (ipv4::FLAG_MF | ipv4::FRAG_OFFSET_MASK) != 0
    }
    /// A fragment other than the first (non-zero offset: no transport header).
    #[inline]
    pub fn is_later_fragment(&self) -> bool {
        self.flags_frag & ipv4::FRAG_OFFSET_MASK != 0
    }
}

/// Which stage a classified packet goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Dropped by classification (the reason is counted).
    Dropped,
    /// ARP (to the local stage: answered or learned).
    Arp,
    /// IPv4 to one of our addresses (to the local stage), except a tunnel.
    Local,
    /// IP-in-IP to `IPmsm-wlan` (to the decapsulation stage).
    Tunnel,
    /// A MIP Tunnel Data message (RFC 3519: UDP to `IPmsm-wlan`:434, type 4, next
    /// header 4) from a mobile behind a NAT (to the decapsulation stage).
    NatTunnel,
    /// IPv4 for someone else (to the forwarding stage).
    Transit,
}

/// What classification learned about one frame: all the later stages read of its
/// headers. Small and `Copy`: the worker keeps one per packet of a burst on its stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub kind: Kind,
    /// The port the frame arrived on (valid unless `kind` is `Dropped`).
    pub ingress: u16,
    /// Ethernet source: where answers go (IPv4 kinds only).
    pub src_mac: [u8; 6],
    /// The IPv4 header after the Ethernet header (IPv4 kinds only).
    pub ip: Ipv4Summary,
    /// [`Kind::Tunnel`] or [`Kind::NatTunnel`] that is not a fragment: the inner header,
    /// if it is valid (checksum included) and fills the outer payload (after the UDP and
    /// MIP Tunnel Data headers for `NatTunnel`) exactly; `None` otherwise.
    pub inner: Option<Ipv4Summary>,
    /// [`Kind::NatTunnel`]: the outer UDP source port (checked against the binding).
    pub sport: u16,
}

impl Classified {
    /// A dropped packet (also the initial value of the worker's per-burst array).
    pub const DROPPED: Classified = Classified {
        kind: Kind::Dropped,
        ingress: 0,
        src_mac: [0; 6],
        ip: Ipv4Summary::NONE,
        inner: None,
        sport: 0,
    };

    /// Prefetches the binding bucket this packet's first lookup will read: the
    /// destination of a transit packet, the inner source of a tunnelled one
    /// (anti-spoofing).
    #[inline(always)]
    pub fn prefetch<T: Bindings>(&self, tab: &T) {
        match self.kind {
            Kind::Transit => tab.prefetch(self.ip.dst),
            Kind::Tunnel | Kind::NatTunnel => {
                if let Some(inner) = &self.inner {
                    tab.prefetch(inner.src);
                }
            }
            Kind::Dropped | Kind::Arp | Kind::Local => {}
        }
    }

    /// Prefetches the NAT endpoint its lookup will read, if the binding is behind a
    /// NAT: downlink (transit) to a NATed mobile and MIP Tunnel Data from one. An
    /// IP-in-IP uplink from a NATed binding is dropped as spoofed either way.
    #[inline]
    pub fn prefetch_endpoint<T: Bindings>(&self, tab: &T) {
        match self.kind {
            Kind::Transit => tab.prefetch_endpoint(self.ip.dst),
            Kind::NatTunnel => {
                if let Some(inner) = &self.inner {
                    tab.prefetch_endpoint(inner.src);
                }
            }
            Kind::Tunnel | Kind::Dropped | Kind::Arp | Kind::Local => {}
        }
    }
}

/// UDP header length.
const UDP_LEN: usize = 8;

/// 0/8, loopback, multicast, reserved and broadcast: never a source or destination we route.
#[inline]
pub(crate) fn martian(a: u32) -> bool {
    let first = (a >> 24) as u8;
    first == 0 || first == 127 || first >= 224
}

/// Classifies `frame`, received on port `ingress`. Counts the drop if it is one.
#[inline]
pub fn classify(plane: &Plane, c: &Counters, ingress: u16, frame: &[u8]) -> Classified {
    let mut cls = Classified::DROPPED;
    classify_into(&mut cls, plane, c, ingress, frame);
    cls
}

/// [`classify`] into `out` (the worker's per-burst array: written in place, field by
/// field, rather than built on the stack and copied).
#[inline(always)]
pub fn classify_into(
    out: &mut Classified,
    plane: &Plane,
    c: &Counters,
    ingress: u16,
    frame: &[u8],
) {
    out.kind = Kind::Dropped;
    let Some(port) = plane.ports.get(ingress as usize) else {
        return c.count_drop(DropReason::UnknownIngressPort);
    };
    let Ok(eth) = ethernet::EthernetFrame::new_checked(frame) else {
        return c.count_drop(DropReason::Truncated);
    };
    out.ingress = ingress;
    let dst_mac = eth.dst();
    if dst_mac != port.mac && dst_mac != ethernet::BROADCAST {
        return c.count_drop(DropReason::NotOurMac);
    }
    match eth.ethertype() {
        ethernet::ETHERTYPE_IPV4 => {}
        ethernet::ETHERTYPE_ARP => {
            out.kind = Kind::Arp;
            return;
        }
        _ => return c.count_drop(DropReason::Ethertype),
    }
    if dst_mac != port.mac {
        return c.count_drop(DropReason::NotOurMac); // IPv4 to broadcast MAC: not routed
    }
    let p = match ipv4::Ipv4Packet::new_checked(&frame[ETH..]) {
        Ok(p) => p,
        Err(msm_wire::Error::Truncated) => return c.count_drop(DropReason::Truncated),
        Err(_) => return c.count_drop(DropReason::BadIpHeader),
    };
    if !p.verify_checksum() {
        return c.count_drop(DropReason::BadIpChecksum);
    }
    let ip = Ipv4Summary::of(&p);
    if martian(ip.src) || plane.is_own(ip.src) {
        return c.count_drop(DropReason::MartianSource);
    }
    out.ip = ip;
    out.src_mac = eth.src();
    out.inner = None;
    if plane.is_own(ip.dst) {
        if ip.proto == ipv4::PROTO_IPIP && ip.dst == plane.msm_wlan {
            out.kind = Kind::Tunnel;
            if !ip.is_fragment() {
                inner_header(&mut out.inner, p.payload());
            }
        } else if ip.proto == ipv4::PROTO_UDP && ip.dst == plane.msm_wlan && !ip.is_fragment() {
            nat_tunnel(out, c, p.payload());
        } else {
            out.kind = Kind::Local;
        }
        return;
    }
    if martian(ip.dst) {
        return c.count_drop(DropReason::MartianDestination);
    }
    out.kind = Kind::Transit;
}

/// UDP to `IPmsm-wlan` (not a fragment), whose datagram is `l4`: a MIP Tunnel Data
/// message (UDP destination 434, first payload byte 4) becomes [`Kind::NatTunnel`] with
/// its source port and inner header; anything else (a registration: type 1) stays
/// [`Kind::Local`]. A tunnel data message with a bad UDP length, a short header or a
/// next header other than IPv4 is dropped and counted here.
#[inline]
fn nat_tunnel(out: &mut Classified, c: &Counters, l4: &[u8]) {
    out.kind = Kind::Local;
    if l4.len() < UDP_LEN + 1
        || u16::from_be_bytes([l4[2], l4[3]]) != MIP_PORT
        || l4[UDP_LEN] != msm_mip::TYPE_TUNNEL_DATA
    {
        return;
    }
    out.kind = Kind::Dropped;
    let udp_len = u16::from_be_bytes([l4[4], l4[5]]) as usize;
    if udp_len != l4.len() || l4.len() < UDP_LEN + msm_mip::TUNNEL_DATA_HEADER_LEN {
        return c.count_drop(DropReason::NatBadHeader);
    }
    if l4[UDP_LEN + 1] != msm_mip::nat::ENCAP_IPIP {
        return c.count_drop(DropReason::NatNextHeader);
    }
    out.kind = Kind::NatTunnel;
    out.sport = u16::from_be_bytes([l4[0], l4[1]]);
    inner_header(
        &mut out.inner,
        &l4[UDP_LEN + msm_mip::TUNNEL_DATA_HEADER_LEN..],
    );
}

/// The inner header of an IP-in-IP packet whose outer payload is `payload`, into `out`:
/// `Some` if it is valid and the inner datagram fills the payload exactly. (Written in
/// place: a returned `Option` would be built on the stack and copied.)
#[inline]
fn inner_header(out: &mut Option<Ipv4Summary>, payload: &[u8]) {
    *out = match ipv4::Ipv4Packet::new_checked(payload) {
        Ok(p) if p.verify_checksum() && p.total_len() as usize == payload.len() => {
            Some(Ipv4Summary::of(&p))
        }
        _ => None,
    }
}
