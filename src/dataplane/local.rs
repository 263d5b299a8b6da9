//! Local delivery: ARP for our addresses, ICMP echo to us, registrations (UDP 434) to the control lcore.
//!
//! Counters: events `arp_replied`, `arp_to_control`, `neighbour_mac_changes`,
//! `neighbour_static_overrides`, `icmp_echo_replied`, `control_handed`; drops
//! `arp_ignored`, `arp_not_owner` (a standby, clustered), `bad_arp`, `local_fragment`, `icmp_error_to_us`, `local_unsupported`
//! (and `truncated` for an echo request too short to answer).

use crate::dataplane::classify::Ipv4Summary;
use crate::dataplane::counters::{DropReason, Event};
use crate::dataplane::forward::send_back;
use crate::dataplane::neigh::Learned;
use crate::dataplane::pipeline::{
    discard, Action, PacketBuf, Plane, ReturnPath, WorkerLocal, ETH, MIP_PORT,
};
use msm_wire::{arp, icmp, ipv4, udp};

/// ARP received on port `ingress`: learns our next hops' addresses from requests and
/// replies to us, answers requests for our address.
pub(crate) fn arp<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    ingress: u16,
    pkt: &mut B,
) -> Action {
    let port = &plane.ports[ingress as usize];
    let (oper, sha, spa, tpa) = match arp::ArpPacket::new_checked(&pkt.data()[ETH..]) {
        Ok(a) => (a.oper(), a.sha(), a.spa_u32(), a.tpa_u32()),
        Err(_) => return discard(local, DropReason::BadArp),
    };
    if tpa != port.ip {
        return discard(local, DropReason::ArpIgnored);
    }
    // Learn our next hops from both requests and replies addressed to us.
    let learned = plane.neigh.learn_arp(ingress, spa, sha, local.now_s);
    if learned.is_next_hop() {
        local.counters.event(Event::ArpToControl);
    }
    match learned {
        Learned::Changed => local.counters.event(Event::NeighbourMacChanges),
        Learned::StaticKept => local.counters.event(Event::NeighbourStaticOverrides),
        Learned::NotNextHop | Learned::Resolved => {}
    }
    match oper {
        arp::OP_REQUEST => {
            if local.standby {
                return discard(local, DropReason::ArpNotOwner);
            }
            if arp::make_arp_reply_in_place(pkt.data_mut(), port.mac).is_err() {
                return discard(local, DropReason::BadArp);
            }
            local.counters.event(Event::ArpReplied);
            Action::Tx(ingress)
        }
        arp::OP_REPLY => {
            // Learned above (or not one of our next hops); nothing to send.
            discard(local, DropReason::ArpIgnored)
        }
        _ => discard(local, DropReason::BadArp),
    }
}

/// An IPv4 packet addressed to one of our own addresses (not a tunnel: see `decap.rs`),
/// from the wire or decapsulated; `ip` summarises its header, which follows the
/// Ethernet header in `pkt`.
pub(crate) fn deliver<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
    ip: &Ipv4Summary,
) -> Action {
    if ip.is_fragment() {
        return discard(local, DropReason::LocalFragment);
    }
    let l4 = pkt.data().get(ETH + ip.header_len()..).unwrap_or_default();
    match ip.proto {
        ipv4::PROTO_ICMP => {
            match l4.first() {
                Some(&icmp::TYPE_ECHO_REQUEST) => {}
                Some(&t) if icmp::is_icmp_error(t) => {
                    return discard(local, DropReason::IcmpErrorToUs)
                }
                _ => return discard(local, DropReason::LocalUnsupported),
            }
            if icmp::make_echo_reply_in_place(&mut pkt.data_mut()[ETH..]).is_err() {
                return discard(local, DropReason::Truncated);
            }
            local.counters.event(Event::EchoReplied);
            send_back(plane, local, pkt, ret)
        }
        ipv4::PROTO_UDP if is_registration(l4) => {
            local.counters.event(Event::ControlHanded);
            Action::Control
        }
        _ => discard(local, DropReason::LocalUnsupported),
    }
}

/// Whether the UDP datagram `l4` goes to the Mobile IP registration port.
#[inline]
pub(crate) fn is_registration(l4: &[u8]) -> bool {
    udp::UdpPacket::new_checked(l4).is_ok_and(|u| u.dst_port() == MIP_PORT)
}
