//! The reverse tunnel: IP-in-IP to `IPmsm-wlan` is checked against the binding table (anti-spoofing), stripped, and routed or delivered.
//!
//! Also the UDP tunnel of RFC 3519 (MIP Tunnel Data from a mobile behind a NAT):
//! [`decap_nat`] checks the outer source address and UDP source port against the NAT
//! binding, then the packet goes the same way.
//!
//! Counters: events `uplink_tunnel`, `uplink_nat`, `control_handed` (reverse-tunnelled
//! registrations); drops `tunnel_fragment`, `tunnel_wrong_side`, `bad_inner_packet`,
//! `spoofed_tunnel`, `nat_uplink_no_binding`, `nat_uplink_spoofed`,
//! `ecn_ce_not_ect`, `not_owner` (clustered: a member that does not serve its shard),
//! and `martian_destination` for an inner destination (the outer one is classify's).
//!
//! ECN follows RFC 6040 (normal mode): an outer CE mark is copied into an ECN-capable
//! inner header ([`propagate_ecn`]); a CE-marked outer around a Not-ECT inner packet is
//! dropped.

use crate::dataplane::classify::{martian, Classified, Ipv4Summary};
use crate::dataplane::counters::{DropReason, Event};
use crate::dataplane::forward;
use crate::dataplane::instrument::Step;
use crate::dataplane::local;
use crate::dataplane::pipeline::{
    discard, Action, Bindings, Hot, Lookup, Origin, PacketBuf, Plane, ReturnPath, WorkerLocal, ETH,
};
use msm_wire::{checksum, ipv4};

/// Offset of the TOS (DSCP + ECN) byte in an IPv4 header.
const TOS: usize = 1;
/// The ECN field of a TOS byte (RFC 3168): the two low bits.
const ECN_MASK: u8 = 0b11;
/// ECN codepoint Not-ECT: the transport does not support ECN.
const NOT_ECT: u8 = 0b00;
/// ECN codepoint CE: congestion experienced.
const ECN_CE: u8 = 0b11;

/// A reverse-tunnelled packet: `outer` summarises its outer header, `inner` the inner one
/// (`None`: malformed). Accepted only if the outer source is the care-of address bound
/// to the inner source; then decapsulated and routed like any other packet.
pub(crate) fn decap<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    pkt: &mut B,
    ret: ReturnPath,
    outer: &Ipv4Summary,
    inner: Option<&Ipv4Summary>,
) -> Action {
    if outer.is_fragment() {
        return discard(local, DropReason::TunnelFragment); // no reassembly on the data path
    }
    if !plane.ports[ret.port as usize].role.faces_internet() {
        return discard(local, DropReason::TunnelWrongSide);
    }
    let Some(inner) = inner else {
        return discard(local, DropReason::BadInnerPacket);
    };
    // Reverse-tunnelled registration (PROTOCOL.md path 2): the control plane
    // authenticates it, including the first registration of a mobile with no binding.
    if plane.is_own(inner.dst) && inner.proto == ipv4::PROTO_UDP && !inner.is_fragment() {
        let at = ETH + outer.header_len() + inner.header_len();
        if local::is_registration(pkt.data().get(at..).unwrap_or_default()) {
            local.counters.event(Event::ControlHanded);
            return Action::Control;
        }
    }
    if local.standby {
        return discard(local, DropReason::NotOwner); // only the shard's owner forwards
    }
    local.counters.step(Step::Classify);
    let bound = tab.lookup(inner.src);
    local.counters.step(Step::Lookup);
    match bound {
        Lookup::CareOf(coa) if coa == outer.src => {}
        _ => return discard(local, DropReason::SpoofedTunnel),
    }
    strip_and_route(
        plane,
        local,
        tab,
        pkt,
        ret,
        outer,
        inner,
        outer.header_len(),
        0,
    )
}

/// A MIP Tunnel Data message (RFC 3519) from a mobile behind a NAT, classified as `cls`
/// (outer header, UDP source port, inner header): accepted only if its outer source
/// address *and* UDP source port are the NAT endpoint bound to the inner source; then
/// stripped (outer IP + UDP + 4-byte header) and routed like reverse-tunnelled IP-in-IP.
/// Registrations are not carried in tunnel data (they go to UDP 434 directly): an inner
/// one to us is dropped (`local_unsupported`).
pub(crate) fn decap_nat<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    pkt: &mut B,
    ret: ReturnPath,
    cls: &Classified,
) -> Action {
    let outer = &cls.ip;
    if !plane.ports[ret.port as usize].role.faces_internet() {
        return discard(local, DropReason::TunnelWrongSide);
    }
    let Some(inner) = &cls.inner else {
        return discard(local, DropReason::BadInnerPacket);
    };
    local.counters.step(Step::Classify);
    let bound = tab.lookup(inner.src);
    local.counters.step(Step::Lookup);
    match bound {
        Lookup::Nat { addr, port } if addr == outer.src && port == cls.sport => {}
        Lookup::Nat { .. } => return discard(local, DropReason::NatSpoofed),
        Lookup::CareOf(_) | Lookup::Wwan | Lookup::Miss => {
            return discard(local, DropReason::NatNoBinding)
        }
    }
    let strip = outer.header_len() + NAT_HEADERS;
    strip_and_route(plane, local, tab, pkt, ret, outer, inner, strip, cls.sport)
}

/// UDP header + MIP Tunnel Data header, between the outer IPv4 header and the inner one.
const NAT_HEADERS: usize = 8 + msm_mip::TUNNEL_DATA_HEADER_LEN;

/// The common end of both tunnels, once the sender is authenticated: checks the inner
/// destination, propagates ECN, strips the `strip` bytes of tunnel headers after the
/// Ethernet header and routes or delivers the inner packet, remembering the way back
/// (`nat_port` non-zero: the UDP tunnel).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn strip_and_route<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    pkt: &mut B,
    ret: ReturnPath,
    outer: &Ipv4Summary,
    inner: &Ipv4Summary,
    strip: usize,
    nat_port: u16,
) -> Action {
    if martian(inner.dst) {
        return discard(local, DropReason::MartianDestination);
    }
    // Only a CE-marked outer header needs the inner one looked at (or rewritten).
    let ce = pkt
        .data()
        .get(ETH + TOS)
        .is_some_and(|t| t & ECN_MASK == ECN_CE);
    if ce && !propagate_ecn(pkt.data_mut(), strip) {
        return discard(local, DropReason::EcnCeNotEct);
    }
    if !pkt.adj(strip) {
        return discard(local, DropReason::Truncated);
    }
    if nat_port != 0 {
        local.counters.event(Event::UplinkNat);
    } else {
        local.count(Hot::UplinkTunnel);
    }
    let ret = ReturnPath {
        tunnel: Some(outer.src),
        nat_port,
        ..ret
    };
    if plane.is_own(inner.dst) {
        // e.g. a ping to the MSM through the tunnel
        if inner.proto == ipv4::PROTO_IPIP {
            return discard(local, DropReason::LocalUnsupported); // no nested tunnels
        }
        if nat_port != 0 && inner.proto == ipv4::PROTO_UDP {
            return discard(local, DropReason::LocalUnsupported); // no registration inside
        }
        return local::deliver(plane, local, pkt, ret, inner);
    }
    forward::route(plane, local, tab, pkt, ret, Origin::Tunnel, inner)
}

/// RFC 6040 normal-mode decapsulation of the ECN field, in `frame` (`[eth][outer][inner]`,
/// both headers validated by classify; `outer_len` is the outer header's length): an outer
/// CE is copied into an ECN-capable inner header (its checksum updated incrementally);
/// every other combination leaves the inner header as it is. Returns `false` when the
/// packet must be dropped: CE outside, Not-ECT inside. (`outer_len` counts every byte
/// between the Ethernet header and the inner header: also UDP + 4 for RFC 3519.)
#[cold]
#[inline(never)]
pub(crate) fn propagate_ecn(frame: &mut [u8], outer_len: usize) -> bool {
    let Some(&outer_tos) = frame.get(ETH + TOS) else {
        return true;
    };
    if outer_tos & ECN_MASK != ECN_CE {
        return true;
    }
    let at = ETH + outer_len;
    let Some(inner) = frame.get_mut(at..at + ipv4::HEADER_LEN) else {
        return true;
    };
    let tos = inner[TOS];
    match tos & ECN_MASK {
        NOT_ECT => false,
        ECN_CE => true,
        _ => {
            // The TOS byte is the low half of the header's first 16-bit word.
            let old = u16::from_be_bytes([inner[0], tos]);
            let new = u16::from_be_bytes([inner[0], tos | ECN_CE]);
            let mut h = ipv4::Ipv4Packet::new_unchecked(inner);
            let sum = checksum::update_u16(h.checksum(), old, new);
            h.set_dscp_ecn(tos | ECN_CE);
            h.set_checksum(sum);
            true
        }
    }
}
