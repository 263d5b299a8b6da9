//! Forwarding: routes a transit packet (downlink to a care-of address or the WWAN, uplink to the Internet), decrements its TTL, clamps a SYN's MSS, encapsulates and rewrites the Ethernet header.
//!
//! Also sends locally generated answers back along their return path ([`send_back`]).
//!
//! Counters: events `downlink_tunnel`, `downlink_wwan`, `uplink_wwan`,
//! `mobile_to_mobile`, `mss_clamped`, `fragmented`; drops `unknown_destination`,
//! `ttl_expired`, `frag_needed`, `neighbour_unresolved`, `no_headroom`.

use crate::dataplane::classify::Ipv4Summary;
use crate::dataplane::counters::{DropReason, Event};
use crate::dataplane::icmp::{icmp_error, IcmpError};
use crate::dataplane::instrument::Step;
use crate::dataplane::pipeline::{
    discard, Action, Bindings, FragPlan, Hot, Lookup, NextHop, Origin, PacketBuf, Plane,
    ReturnPath, WorkerLocal, ETH, OUTER,
};
use msm_wire::{ethernet, ipv4, tcp};

/// Routes a packet not addressed to us; `ip` summarises its header, which follows the
/// Ethernet header in `pkt`.
pub(crate) fn route<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    pkt: &mut B,
    ret: ReturnPath,
    origin: Origin,
    ip: &Ipv4Summary,
) -> Action {
    let downlink = plane.in_pool(ip.dst);
    let uplink = !downlink
        && match origin {
            Origin::Tunnel => true,
            Origin::Wire(role) => role.faces_wwan() && plane.in_pool(ip.src),
        };
    if !downlink && !uplink {
        return discard(local, DropReason::UnknownDestination);
    }
    local.counters.step(Step::Classify);
    if ip.ttl <= 1 {
        local.counters.count_drop(DropReason::TtlExpired);
        return icmp_error(plane, local, pkt, ret, ip, IcmpError::TIME_EXCEEDED);
    }
    ipv4::Ipv4Packet::new_unchecked(&mut pkt.data_mut()[ETH..]).decrement_ttl_update_checksum();
    clamp_mss(plane, local, pkt, ip);
    if !downlink {
        if origin != Origin::Tunnel {
            local.count(Hot::UplinkWwan);
        }
        return emit(plane, local, pkt, ret, plane.to_internet, None, ip);
    }
    if origin == Origin::Tunnel {
        local.counters.event(Event::MobileToMobile);
    }
    local.counters.step(Step::Rewrite);
    let bound = tab.lookup(ip.dst);
    local.counters.step(Step::Lookup);
    match bound {
        Lookup::CareOf(coa) => {
            local.count(Hot::DownlinkTunnel);
            emit(plane, local, pkt, ret, plane.to_internet, Some(coa), ip)
        }
        Lookup::Nat { addr, port } => emit_nat(plane, local, pkt, ret, addr, port, ip),
        Lookup::Wwan | Lookup::Miss => {
            local.count(Hot::DownlinkWwan);
            emit(plane, local, pkt, ret, plane.to_wwan, None, ip)
        }
    }
}

/// Bytes a MIP Tunnel Data message adds (RFC 3519): outer IPv4 20 + UDP 8 + header 4.
pub const NAT_OUTER: usize = OUTER + 8 + msm_mip::TUNNEL_DATA_HEADER_LEN;

/// Sends a downlink packet (TTL already handled) to a mobile behind a NAT: a MIP Tunnel
/// Data message `IPmsm-wlan:434 -> addr:port` toward the Internet. Too big for the MTU
/// with DF: ICMP "fragmentation needed" with the tunnel's MTU; without DF: dropped and
/// counted (`nat_frag_unsupported`: fragmentation of UDP-tunnelled packets is not done).
fn emit_nat<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
    addr: u32,
    port: u16,
    ip: &Ipv4Summary,
) -> Action {
    let nh = plane.to_internet;
    let Some(mac) = plane.neigh.mac(nh.neigh) else {
        return discard(local, DropReason::NeighbourUnresolved);
    };
    let egress = &plane.ports[nh.port as usize];
    if ip.total_len() + NAT_OUTER > egress.mtu as usize {
        if ip.dont_frag() {
            local.counters.count_drop(DropReason::FragNeeded);
            let mtu = egress.mtu - NAT_OUTER as u16;
            return icmp_error(plane, local, pkt, ret, ip, IcmpError::frag_needed(mtu));
        }
        return discard(local, DropReason::NatFragUnsupported);
    }
    if !encapsulate_udp(plane, local, pkt, addr, port, ip.total_len()) {
        return discard(local, DropReason::NoHeadroom);
    }
    local.counters.event(Event::DownlinkNat);
    write_eth(pkt.data_mut(), mac, egress.mac);
    Action::Tx(nh.port)
}

/// Prepends outer IPv4 (protocol 17), UDP (434 -> `port`, checksum 0, allowed for IPv4)
/// and the MIP Tunnel Data header (type 4, next header 4): `[eth][inner]` becomes
/// `[eth][ip][udp][4 0 ..][inner]`.
#[inline]
fn encapsulate_udp<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    addr: u32,
    port: u16,
    inner_len: usize,
) -> bool {
    if !pkt.prepend(NAT_OUTER) {
        return false;
    }
    let id = local.next_id();
    let d = pkt.data_mut();
    let (hdr, inner) = d[ETH..].split_at_mut(NAT_OUTER);
    let udp_len = (inner_len + 8 + msm_mip::TUNNEL_DATA_HEADER_LEN) as u16;
    let (ip_hdr, rest) = hdr.split_at_mut(OUTER);
    if ipv4::write_ipip_header(ip_hdr, inner, plane.msm_wlan, addr, plane.outer_ttl, id).is_err() {
        return false;
    }
    let total = u16::from_be_bytes([ip_hdr[2], ip_hdr[3]]).wrapping_add(12);
    ip_hdr[2..4].copy_from_slice(&total.to_be_bytes());
    ip_hdr[9] = ipv4::PROTO_UDP;
    ipv4::Ipv4Packet::new_unchecked(&mut ip_hdr[..]).fill_checksum();
    rest[0..2].copy_from_slice(&msm_mip::MIP_PORT.to_be_bytes());
    rest[2..4].copy_from_slice(&port.to_be_bytes());
    rest[4..6].copy_from_slice(&udp_len.to_be_bytes());
    rest[6..8].copy_from_slice(&[0, 0]);
    rest[8..12].copy_from_slice(&[msm_mip::TYPE_TUNNEL_DATA, msm_mip::nat::ENCAP_IPIP, 0, 0]);
    true
}

/// Lowers the MSS option of a forwarded TCP SYN to `plane.mss_max`, so that the
/// segments fit the tunnel.
#[inline]
fn clamp_mss<B: PacketBuf>(plane: &Plane, local: &WorkerLocal, pkt: &mut B, ip: &Ipv4Summary) {
    let Some(max) = plane.mss_max else { return };
    if ip.proto != ipv4::PROTO_TCP || ip.is_later_fragment() {
        return; // not TCP, or no TCP header in this fragment
    }
    let seg = &mut pkt.data_mut()[ETH + ip.header_len()..ETH + ip.total_len()];
    if let Ok(mut t) = tcp::TcpPacket::new_checked(seg) {
        if t.syn() && t.clamp_mss(max).is_some() {
            local.counters.event(Event::MssClamped);
        }
    }
}

/// Sends a forwarded packet (TTL already handled) to `nh`, encapsulated toward
/// `encap_to` if given; handles the MTU ([`too_big`], out of line).
#[inline(always)]
fn emit<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
    nh: NextHop,
    encap_to: Option<u32>,
    ip: &Ipv4Summary,
) -> Action {
    let Some(mac) = plane.neigh.mac(nh.neigh) else {
        return discard(local, DropReason::NeighbourUnresolved);
    };
    let egress = &plane.ports[nh.port as usize];
    let overhead = if encap_to.is_some() { OUTER } else { 0 };
    if ip.total_len() + overhead > egress.mtu as usize {
        return too_big(plane, local, pkt, ret, nh, mac, encap_to, ip);
    }
    if let Some(coa) = encap_to {
        if !encapsulate(local, pkt, coa) {
            return discard(local, DropReason::NoHeadroom);
        }
    }
    write_eth(pkt.data_mut(), mac, egress.mac);
    Action::Tx(nh.port)
}

/// A packet too big for the egress MTU (once encapsulated toward `encap_to`): with DF,
/// ICMP "fragmentation needed"; without, handed to fragmentation.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)] // emit's state, passed on unchanged
fn too_big<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
    nh: NextHop,
    mac: [u8; 6],
    encap_to: Option<u32>,
    ip: &Ipv4Summary,
) -> Action {
    let overhead = if encap_to.is_some() { OUTER } else { 0 };
    let ip_mtu = plane.ports[nh.port as usize].mtu - overhead as u16;
    if ip.dont_frag() {
        local.counters.count_drop(DropReason::FragNeeded);
        return icmp_error(plane, local, pkt, ret, ip, IcmpError::frag_needed(ip_mtu));
    }
    local.counters.event(Event::Fragmented);
    Action::Fragment(FragPlan {
        port: nh.port,
        dst_mac: mac,
        encap_to,
        ip_mtu,
    })
}

/// Prepends the tunnel header: `[eth][inner]` becomes `[eth][outer][inner]`.
#[inline(always)]
fn encapsulate<B: PacketBuf>(local: &mut WorkerLocal, pkt: &mut B, coa: u32) -> bool {
    if !pkt.prepend(OUTER) {
        return false;
    }
    let id = local.next_id();
    let d = pkt.data_mut();
    // The inner header now starts at ETH + OUTER; the outer goes where the old
    // Ethernet header was. The worker's template holds the constant words and their
    // partial sum (IPmsm-wlan, outer TTL, protocol 4).
    local.outer.write_in_place(&mut d[ETH..], coa, id).is_ok()
}

/// Writes an IPv4 Ethernet header at the start of `frame`.
#[inline]
pub(crate) fn write_eth(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    // Every frame here holds at least an Ethernet header: this cannot fail.
    let _ = ethernet::write_header(frame, dst, src, ethernet::ETHERTYPE_IPV4);
}

/// Answers a locally handled packet back along its return path: out of the ingress
/// port to the Ethernet source, re-encapsulated if it came through the tunnel (as a MIP
/// Tunnel Data message to the NAT address:port if it came through the UDP tunnel).
pub(crate) fn send_back<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
) -> Action {
    let port = &plane.ports[ret.port as usize];
    if let Some(coa) = ret.tunnel {
        let overhead = if ret.nat_port != 0 { NAT_OUTER } else { OUTER };
        let inner_len = pkt.len() - ETH;
        if inner_len + overhead > port.mtu as usize {
            return discard(local, DropReason::FragNeeded);
        }
        let ok = if ret.nat_port != 0 {
            encapsulate_udp(plane, local, pkt, coa, ret.nat_port, inner_len)
        } else {
            encapsulate(local, pkt, coa)
        };
        if !ok {
            return discard(local, DropReason::NoHeadroom);
        }
    }
    write_eth(pkt.data_mut(), ret.mac, port.mac);
    Action::Tx(ret.port)
}
