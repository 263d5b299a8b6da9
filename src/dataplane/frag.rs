//! Fragmentation: splits a forwarded datagram too big for the egress MTU (DF clear) into fresh buffers, each encapsulated if the datagram was going into the tunnel.
//!
//! Counters: event `fragments_out`; drop `frag_no_buffer`.

use crate::dataplane::counters::{DropReason, Event};
use crate::dataplane::forward::write_eth;
use crate::dataplane::pipeline::{FragPlan, PacketBuf, Plane, WorkerLocal, ETH, OUTER};
use msm_wire::ipv4;

/// Fragments the IP packet in `pkt` (after its Ethernet header) per `plan`: each
/// fragment is written into a fresh buffer from `alloc` (Ethernet + optional tunnel
/// header + fragment) and passed to `out`. Returns the number of fragments emitted; on
/// allocation failure the rest are dropped and counted.
pub fn fragment<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &B,
    plan: FragPlan,
    mut alloc: impl FnMut() -> Option<B>,
    mut out: impl FnMut(B),
) -> usize {
    let egress_mac = plane.ports[plan.port as usize].mac;
    let overhead = if plan.encap_to.is_some() { OUTER } else { 0 };
    let mut n = 0usize;
    let mut failed = false;
    let res =
        msm_wire::frag::fragment_ipv4(&pkt.data()[ETH..], plan.ip_mtu as usize, |hdr, chunk| {
            let Some(mut b) = alloc() else {
                failed = true;
                return false;
            };
            let len = ETH + overhead + hdr.len() + chunk.len();
            if !b.resize(len) {
                failed = true;
                return false;
            }
            let d = b.data_mut();
            write_eth(d, plan.dst_mac, egress_mac);
            let at = ETH + overhead;
            d[at..at + hdr.len()].copy_from_slice(hdr);
            d[at + hdr.len()..len].copy_from_slice(chunk);
            if let Some(coa) = plan.encap_to {
                let id = local.next_id();
                if ipv4::write_ipip_header_in_place(
                    &mut d[ETH..],
                    plane.msm_wlan,
                    coa,
                    plane.outer_ttl,
                    id,
                )
                .is_err()
                {
                    failed = true;
                    return false;
                }
            }
            out(b);
            n += 1;
            true
        });
    if failed || res.is_err() {
        local.counters.count_drop(DropReason::FragNoBuffer);
    }
    local.counters.event_n(Event::FragmentsOut, n as u64);
    n
}
