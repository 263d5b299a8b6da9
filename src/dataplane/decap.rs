//! The reverse tunnel: IP-in-IP to `IPmsm-wlan` is checked against the binding table (anti-spoofing), stripped, and routed or delivered.
//!
//! Counters: event `uplink_tunnel`, `control_handed` (reverse-tunnelled registrations);
//! drops `tunnel_fragment`, `tunnel_wrong_side`, `bad_inner_packet`, `spoofed_tunnel`,
//! and `martian_destination` for an inner destination (the outer one is classify's).

use crate::dataplane::classify::{martian, Ipv4Summary};
use crate::dataplane::counters::{DropReason, Event};
use crate::dataplane::forward;
use crate::dataplane::instrument::Step;
use crate::dataplane::local;
use crate::dataplane::pipeline::{
    discard, Action, Bindings, Lookup, Origin, PacketBuf, Plane, ReturnPath, WorkerLocal, ETH,
};
use msm_wire::ipv4;

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
    local.counters.step(Step::Classify);
    let bound = tab.lookup(inner.src);
    local.counters.step(Step::Lookup);
    match bound {
        Lookup::CareOf(coa) if coa == outer.src => {}
        _ => return discard(local, DropReason::SpoofedTunnel),
    }
    if martian(inner.dst) {
        return discard(local, DropReason::MartianDestination);
    }
    if !pkt.adj(outer.header_len()) {
        return discard(local, DropReason::Truncated);
    }
    local.counters.event(Event::UplinkTunnel);
    let ret = ReturnPath {
        tunnel: Some(outer.src),
        ..ret
    };
    if plane.is_own(inner.dst) {
        // e.g. a ping to the MSM through the tunnel
        if inner.proto == ipv4::PROTO_IPIP {
            return discard(local, DropReason::LocalUnsupported); // no nested tunnels
        }
        return local::deliver(plane, local, pkt, ret, inner);
    }
    forward::route(plane, local, tab, pkt, ret, Origin::Tunnel, inner)
}
