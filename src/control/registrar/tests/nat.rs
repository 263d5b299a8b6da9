//! Tests of NAT traversal (RFC 3519, PROTOCOL.md section 3) through the registrar:
//! detection, the UDP Tunnel Request/Reply extensions, the binding to the translated
//! address and port, and each refusal.

use super::*;
use msm_mip::UdpTunnelRequestRepr;

const PRIVATE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 7);
const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
const NAT_PORT: u16 = 40001;

fn udp_ext() -> Option<UdpTunnelRequestRepr> {
    Some(UdpTunnelRequestRepr::default())
}

impl Rig {
    fn send_udp(&mut self, payload: &[u8], path: Path, src: u32, sport: u16) -> Outcome {
        self.now.ms += 1000;
        self.reg
            .handle_udp(payload, path, src, sport, self.now, &mut self.table)
    }
}

#[test]
fn natted_request_with_extension_binds_translated_address_and_port() {
    let mut r = rig();
    let id = ident(0, 1);
    let o = r.send_udp(
        &req_udp(900, PRIVATE, id, udp_ext()),
        Path::Direct,
        u32::from(NAT),
        NAT_PORT,
    );
    assert_eq!(o.code, Some(Code::Accepted));
    let p = reply(&o);
    assert!(
        msm_mip::verify_mn_ha(&p, &key()),
        "the extension is signed over"
    );
    let ext = p.udp_tunnel.expect("UDP Tunnel Reply extension");
    assert_eq!(
        (ext.reply_code, ext.keepalive_interval, ext.force),
        (0, 110, false)
    );
    let b = r.lookup().unwrap();
    assert_eq!((b.coa, b.port), (Some(u32::from(NAT)), NAT_PORT));
    let c = o.change.unwrap();
    assert_eq!(c.binding.unwrap().port, NAT_PORT);
    // The journal record carries the port.
    let rec = c.record();
    assert_eq!(rec.port, NAT_PORT);
    assert_eq!(
        crate::control::journal::Record::decode(&rec.encode()).unwrap(),
        rec
    );
    let n = &r.reg.counters.nat;
    assert_eq!((n.requests, n.detected, n.bindings), (1, 1, 1));
    // The keepalive interval is the configured one.
    let mut c2 = cfg();
    c2.nat_keepalive_s = 25;
    let mut r = rig_with(c2, 100);
    let o = r.send_udp(
        &req_udp(900, PRIVATE, ident(0, 2), udp_ext()),
        Path::Direct,
        u32::from(NAT),
        NAT_PORT,
    );
    assert_eq!(reply(&o).udp_tunnel.unwrap().keepalive_interval, 25);
}

#[test]
fn natted_request_without_extension_gets_134() {
    let mut r = rig();
    let o = r.send_udp(
        &req_udp(900, PRIVATE, ident(0, 1), None),
        Path::Direct,
        u32::from(NAT),
        NAT_PORT,
    );
    assert_eq!(o.code, Some(Code::PoorlyFormedRequest));
    assert!(r.lookup().is_none());
    assert_eq!(r.reg.counters.nat.without_extension, 1);
    assert_eq!(r.reg.counters.care_of_refused.not_the_source, 1);
}

#[test]
fn forced_without_nat_binds_udp_and_plain_extension_without_nat_is_ignored() {
    let mut r = rig();
    // No NAT, no F: an ordinary IP-in-IP binding, no Reply extension.
    let o = r.send_udp(
        &req_udp(900, COA, ident(0, 1), udp_ext()),
        Path::Direct,
        u32::from(COA),
        5000,
    );
    assert_eq!(o.code, Some(Code::Accepted));
    assert_eq!(reply(&o).udp_tunnel, None);
    assert_eq!(r.lookup().unwrap().port, 0);
    // F set: UDP tunnel to the source address and port even without a NAT.
    let forced = Some(UdpTunnelRequestRepr {
        force: true,
        ..Default::default()
    });
    let o = r.send_udp(
        &req_udp(900, COA, ident(0, 2), forced),
        Path::Direct,
        u32::from(COA),
        5000,
    );
    assert_eq!(o.code, Some(Code::Accepted));
    assert!(reply(&o).udp_tunnel.is_some());
    let b = r.lookup().unwrap();
    assert_eq!((b.coa, b.port), (Some(u32::from(COA)), 5000));
    assert_eq!(r.reg.counters.nat.forced, 1);
}

#[test]
fn nat_refusals() {
    let mut r = rig();
    // Path 2 behind a NAT: no UDP port to bind.
    let tunnel = Path::Tunnel {
        outer_src: u32::from(NAT),
        outer_dst: WLAN,
    };
    let o = r.send_udp(
        &req_udp(900, PRIVATE, ident(0, 1), udp_ext()),
        tunnel,
        u32::from(HOME),
        434,
    );
    assert_eq!(o.code, Some(Code::PoorlyFormedRequest));
    assert_eq!(r.reg.counters.nat.refused_path2, 1);
    // GRE inside UDP: 139.
    let gre = Some(UdpTunnelRequestRepr {
        encapsulation: msm_mip::nat::ENCAP_GRE,
        ..Default::default()
    });
    let o = r.send_udp(
        &req_udp(900, PRIVATE, ident(0, 2), gre),
        Path::Direct,
        u32::from(NAT),
        NAT_PORT,
    );
    assert_eq!(o.code, Some(Code::EncapsulationUnavailable));
    // Unknown source port (the port-less entry point): refused.
    let o = r.send(
        &req_udp(900, PRIVATE, ident(0, 3), udp_ext()),
        Path::Direct,
        u32::from(NAT),
    );
    assert_eq!(o.code, Some(Code::PoorlyFormedRequest));
    // A translated source the care-of policy refuses (one of our own addresses).
    let o = r.send_udp(
        &req_udp(900, PRIVATE, ident(0, 4), udp_ext()),
        Path::Direct,
        WLAN,
        NAT_PORT,
    );
    assert_eq!(o.code, Some(Code::PoorlyFormedRequest));
    assert_eq!(r.reg.counters.nat.refused_source, 2);
    assert_eq!(r.reg.counters.nat.refused_encapsulation, 1);
    assert!(r.lookup().is_none());
}

#[test]
fn nat_binding_then_public_care_of_then_cancel() {
    let mut r = rig();
    let o = r.send_udp(
        &req_udp(900, PRIVATE, ident(0, 1), udp_ext()),
        Path::Direct,
        u32::from(NAT),
        NAT_PORT,
    );
    assert_eq!(o.code, Some(Code::Accepted));
    // A new NAT mapping (port changed): re-registration binds the new port.
    let o = r.send_udp(
        &req_udp(900, PRIVATE, ident(0, 2), udp_ext()),
        Path::Direct,
        u32::from(NAT),
        NAT_PORT + 1,
    );
    assert_eq!(o.code, Some(Code::Accepted));
    assert_eq!(r.lookup().unwrap().port, NAT_PORT + 1);
    assert_eq!(r.table.nat_len(), 1);
    // Moves to a public WLAN: IP-in-IP again.
    let o = r.send_udp(
        &req_udp(900, COA, ident(0, 3), None),
        Path::Direct,
        u32::from(COA),
        7000,
    );
    assert_eq!(o.code, Some(Code::Accepted));
    let b = r.lookup().unwrap();
    assert_eq!((b.coa, b.port), (Some(u32::from(COA)), 0));
    assert_eq!(r.table.nat_len(), 0);
}
