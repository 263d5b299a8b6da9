//! Pipeline stage tests on plain byte buffers. Frames are built and checked with
//! `etherparse`, an independent implementation of the wire formats.

use crate::config::{Prefix, Role};
use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::neigh::Neighbours;
use crate::dataplane::pipeline::*;
use etherparse::{Ipv4HeaderSlice, PacketBuilder, TcpOptionElement};
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::Ipv4Addr;

const WWAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const INET_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const GGSN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xbb];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xcc];

fn ip(s: &str) -> u32 {
    u32::from(s.parse::<Ipv4Addr>().unwrap())
}
fn ipb(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().unwrap().octets()
}

const MSM_GPRS: &str = "192.0.2.129";
const GGSN: &str = "192.0.2.130";
const MSM_WLAN: &str = "198.51.100.1";
const ROUTER: &str = "198.51.100.2";
const SERVER: &str = "198.51.100.77";
const HOME: &str = "192.0.2.10";
const HOME2: &str = "192.0.2.11";
const HOME3: &str = "192.0.2.12";
const COA: &str = "203.0.113.10";
const COA2: &str = "203.0.113.20";

fn plane() -> Plane {
    let neigh = Neighbours::new(&[(0, ip(GGSN)), (1, ip(ROUTER))]);
    assert!(neigh.learn(0, ip(GGSN), GGSN_MAC, 1));
    assert!(neigh.learn(1, ip(ROUTER), ROUTER_MAC, 1));
    Plane {
        ports: vec![
            PortInfo {
                role: Role::Wwan,
                ip: ip(MSM_GPRS),
                mac: WWAN_MAC,
                mtu: 1500,
            },
            PortInfo {
                role: Role::Internet,
                ip: ip(MSM_WLAN),
                mac: INET_MAC,
                mtu: 1500,
            },
        ],
        pools: vec![Prefix::parse("192.0.2.0/25").unwrap()],
        msm_wlan: ip(MSM_WLAN),
        msm_gprs: ip(MSM_GPRS),
        to_internet: NextHop { port: 1, neigh: 1 },
        to_wwan: NextHop { port: 0, neigh: 0 },
        outer_ttl: 64,
        mss_max: Some(1500 - 60),
        neigh,
    }
}

struct MapTab(HashMap<u32, Lookup>);
impl Bindings for MapTab {
    fn lookup(&self, home: u32) -> Lookup {
        self.0.get(&home).copied().unwrap_or(Lookup::Miss)
    }
}

fn tab() -> MapTab {
    let mut m = HashMap::new();
    m.insert(ip(HOME), Lookup::CareOf(ip(COA)));
    m.insert(ip(HOME2), Lookup::Wwan);
    m.insert(ip(HOME3), Lookup::CareOf(ip(COA2)));
    MapTab(m)
}

struct Rig {
    plane: Plane,
    tab: MapTab,
    counters: Box<Counters>,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            plane: plane(),
            tab: tab(),
            counters: Box::default(),
        }
    }
    /// Runs one frame through the pipeline with a fresh rate limiter (burst 10).
    fn run(&self, ingress: u16, frame: &[u8]) -> (Action, VecBuf) {
        let mut local = self.local();
        self.run_with(&mut local, ingress, frame)
    }
    fn local(&self) -> WorkerLocal<'_> {
        WorkerLocal {
            counters: &self.counters,
            ip_id: 0,
            icmp: RateLimit::new(100, 10, 1_000_000),
            now: 1,
            now_s: 1,
        }
    }
    fn run_with(&self, local: &mut WorkerLocal, ingress: u16, frame: &[u8]) -> (Action, VecBuf) {
        let mut b = VecBuf::new(frame);
        let a = process(&self.plane, local, &self.tab, ingress, &mut b);
        (a, b)
    }
    fn drops(&self, d: DropReason) -> u64 {
        self.counters.get_drop(d)
    }
    fn events(&self, e: Event) -> u64 {
        self.counters.get_event(e)
    }
}

/// Ethernet frame with UDP, built by etherparse.
fn udp_frame(
    dst_mac: [u8; 6],
    src: &str,
    dst: &str,
    ttl: u8,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(PEER_MAC, dst_mac)
        .ipv4(ipb(src), ipb(dst), ttl)
        .udp(40000, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn tcp_syn_frame(dst_mac: [u8; 6], src: &str, dst: &str, mss: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(PEER_MAC, dst_mac)
        .ipv4(ipb(src), ipb(dst), 64)
        .tcp(40000, 80, 12345, 64240)
        .syn()
        .options(&[
            TcpOptionElement::MaximumSegmentSize(mss),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(7),
        ])
        .unwrap();
    let mut v = Vec::new();
    b.write(&mut v, &[]).unwrap();
    v
}

fn echo_frame(dst_mac: [u8; 6], src: &str, dst: &str) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(PEER_MAC, dst_mac)
        .ipv4(ipb(src), ipb(dst), 64)
        .icmpv4_echo_request(7, 1);
    let mut v = Vec::new();
    b.write(&mut v, b"ping-payload").unwrap();
    v
}

/// Sets DF on or off (etherparse's default is on) and a TOS on the IPv4 header at offset
/// `at`, fixing the checksum with etherparse.
fn set_df_tos(frame: &mut [u8], at: usize, df: bool, tos: u8) {
    let mut h = Ipv4HeaderSlice::from_slice(&frame[at..])
        .unwrap()
        .to_header();
    h.dont_fragment = df;
    h.dscp = etherparse::Ipv4Dscp::try_new(tos >> 2).unwrap();
    h.ecn = etherparse::Ipv4Ecn::try_new(tos & 3).unwrap();
    h.header_checksum = h.calc_header_checksum();
    let bytes = h.to_bytes();
    frame[at..at + bytes.len()].copy_from_slice(&bytes);
}

/// Wraps an IPv4 packet into IP-in-IP from `outer_src` to `outer_dst`, built by etherparse.
fn ipip_frame(dst_mac: [u8; 6], outer_src: &str, outer_dst: &str, inner_ip: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(PEER_MAC, dst_mac).ipv4(ipb(outer_src), ipb(outer_dst), 64);
    let mut v = Vec::new();
    b.write(&mut v, etherparse::IpNumber(4), inner_ip).unwrap();
    v
}

fn hdr(b: &[u8]) -> Ipv4HeaderSlice<'_> {
    Ipv4HeaderSlice::from_slice(b).unwrap()
}

fn checksum_ok(b: &[u8]) -> bool {
    let h = hdr(b);
    h.to_header().calc_header_checksum() == h.header_checksum()
}

/// The original IP packet with TTL decremented and its checksum recomputed by etherparse.
fn decremented(ip_pkt: &[u8]) -> Vec<u8> {
    let mut h = hdr(ip_pkt).to_header();
    h.time_to_live -= 1;
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(&ip_pkt[h.header_len()..]);
    v
}

#[test]
fn downlink_with_care_of_is_encapsulated() {
    let r = Rig::new();
    let mut f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"hello mobile");
    set_df_tos(&mut f, 14, true, 0xb8);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(&d[0..6], &ROUTER_MAC);
    assert_eq!(&d[6..12], &INET_MAC);
    let outer = hdr(&d[14..]);
    assert_eq!(outer.source(), ipb(MSM_WLAN));
    assert_eq!(outer.destination(), ipb(COA));
    assert_eq!(outer.protocol(), etherparse::IpNumber(4));
    assert_eq!(outer.ttl(), 64);
    assert_eq!(outer.ihl(), 5);
    assert!(outer.dont_fragment(), "DF copied from the inner header");
    assert_eq!(
        outer.dcp().value() << 2 | outer.ecn().value(),
        0xb8,
        "TOS copied"
    );
    assert_eq!(outer.total_len() as usize, d.len() - 14);
    assert!(checksum_ok(&d[14..]));
    assert_eq!(&d[34..], &decremented(&f[14..])[..]);
    assert_eq!(r.events(Event::DownlinkTunnel), 1);
}

#[test]
fn outer_ip_ids_are_fresh() {
    let r = Rig::new();
    let mut local = r.local();
    let f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"x");
    let (_, a) = r.run_with(&mut local, 1, &f);
    let (_, b) = r.run_with(&mut local, 1, &f);
    assert_ne!(
        hdr(&a.data()[14..]).identification(),
        hdr(&b.data()[14..]).identification()
    );
}

#[test]
fn downlink_without_care_of_goes_to_wwan() {
    let r = Rig::new();
    for home in [HOME2, "192.0.2.99"] {
        let f = udp_frame(INET_MAC, SERVER, home, 50, 5000, b"hello");
        let (a, out) = r.run(1, &f);
        assert_eq!(a, Action::Tx(0), "{home}");
        let d = out.data();
        assert_eq!(&d[0..6], &GGSN_MAC);
        assert_eq!(&d[6..12], &WWAN_MAC);
        assert_eq!(&d[14..], &decremented(&f[14..])[..]);
        assert!(checksum_ok(&d[14..]));
    }
    assert_eq!(r.events(Event::DownlinkWwan), 2);
}

#[test]
fn uplink_from_wwan_goes_to_internet() {
    let r = Rig::new();
    let f = udp_frame(WWAN_MAC, HOME2, SERVER, 64, 5000, b"up");
    let (a, out) = r.run(0, &f);
    assert_eq!(a, Action::Tx(1));
    assert_eq!(&out.data()[0..6], &ROUTER_MAC);
    assert_eq!(&out.data()[14..], &decremented(&f[14..])[..]);
    assert_eq!(r.events(Event::UplinkWwan), 1);
}

#[test]
fn transit_from_internet_to_elsewhere_is_dropped() {
    let r = Rig::new();
    let f = udp_frame(INET_MAC, SERVER, "203.0.113.99", 64, 5000, b"x");
    assert_eq!(r.run(1, &f).0, Action::Drop);
    // A non-pool source from the WWAN is not an uplink either.
    let f = udp_frame(WWAN_MAC, GGSN, SERVER, 64, 5000, b"x");
    assert_eq!(r.run(0, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::UnknownDestination), 2);
}

#[test]
fn reverse_tunnel_is_checked_and_stripped() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"uplink through wlan")[14..];
    let f = ipip_frame(INET_MAC, COA, MSM_WLAN, inner);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    assert_eq!(&out.data()[0..6], &ROUTER_MAC);
    assert_eq!(&out.data()[14..], &decremented(inner)[..]);
    assert_eq!(r.events(Event::UplinkTunnel), 1);
}

#[test]
fn spoofed_reverse_tunnel_is_dropped_and_counted() {
    let r = Rig::new();
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"x")[14..];
    // wrong care-of address for HOME
    assert_eq!(
        r.run(1, &ipip_frame(INET_MAC, COA2, MSM_WLAN, inner)).0,
        Action::Drop
    );
    // HOME2 has no care-of address; 192.0.2.99 has no binding at all
    for home in [HOME2, "192.0.2.99"] {
        let inner = &udp_frame(INET_MAC, home, SERVER, 64, 5000, b"x")[14..];
        assert_eq!(
            r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner)).0,
            Action::Drop
        );
    }
    assert_eq!(r.drops(DropReason::SpoofedTunnel), 3);
    // IP-in-IP arriving on the WWAN side is not a reverse tunnel.
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"x")[14..];
    let f = ipip_frame(WWAN_MAC, COA, MSM_WLAN, inner);
    assert_eq!(r.run(0, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::TunnelWrongSide), 1);
}

#[test]
fn mobile_to_mobile_goes_down_the_other_path() {
    let r = Rig::new();
    // HOME (in WLAN) -> HOME3 (in another WLAN): re-encapsulated to COA2
    let inner = &udp_frame(INET_MAC, HOME, HOME3, 64, 5000, b"m2m")[14..];
    let (a, out) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner));
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(hdr(&d[14..]).destination(), ipb(COA2));
    assert_eq!(&d[34..], &decremented(inner)[..]);
    // HOME -> HOME2 (on the WWAN): plain to the GGSN
    let inner = &udp_frame(INET_MAC, HOME, HOME2, 64, 5000, b"m2m")[14..];
    let (a, out) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner));
    assert_eq!(a, Action::Tx(0));
    assert_eq!(&out.data()[14..], &decremented(inner)[..]);
    assert_eq!(r.events(Event::MobileToMobile), 2);
}

#[test]
fn ttl_expiry_answers_time_exceeded_rate_limited() {
    let r = Rig::new();
    let mut local = r.local();
    let f = udp_frame(INET_MAC, SERVER, HOME, 1, 5000, b"expiring");
    let (a, out) = r.run_with(&mut local, 1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(&d[0..6], &PEER_MAC, "back to the previous hop");
    let h = hdr(&d[14..]);
    assert_eq!(h.source(), ipb(MSM_WLAN));
    assert_eq!(h.destination(), ipb(SERVER));
    assert!(checksum_ok(&d[14..]));
    let icmp = etherparse::Icmpv4Slice::from_slice(&d[34..]).unwrap();
    assert_eq!(icmp.type_u8(), 11);
    assert_eq!(icmp.code_u8(), 0);
    assert_eq!(
        &icmp.payload()[..f.len() - 14],
        &f[14..],
        "quotes the original datagram"
    );
    let sum = etherparse::checksum::Sum16BitWords::new()
        .add_slice(&d[34..])
        .ones_complement();
    assert_eq!(sum, 0, "ICMP checksum verifies");
    // burst of 10 tokens: 9 more answered, then suppressed
    for _ in 0..9 {
        assert_eq!(r.run_with(&mut local, 1, &f).0, Action::Tx(1));
    }
    assert_eq!(r.run_with(&mut local, 1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::TtlExpired), 11);
    assert_eq!(r.events(Event::IcmpTimeExceededSent), 10);
    assert_eq!(r.events(Event::IcmpRateLimited), 1);
    // tokens come back with time (100/s at 1e6 ticks/s: one per 10_000 ticks)
    local.now += 10_000;
    assert_eq!(r.run_with(&mut local, 1, &f).0, Action::Tx(1));
}

#[test]
fn df_too_big_for_tunnel_gets_frag_needed() {
    let r = Rig::new();
    let mut f = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, &[0x55; 1472]); // 1500-byte IP
    set_df_tos(&mut f, 14, true, 0);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(hdr(&d[14..]).destination(), ipb(SERVER));
    let icmp = etherparse::Icmpv4Slice::from_slice(&d[34..]).unwrap();
    assert_eq!((icmp.type_u8(), icmp.code_u8()), (3, 4));
    let mtu = u16::from_be_bytes([icmp.bytes5to8()[2], icmp.bytes5to8()[3]]);
    assert_eq!(mtu, 1480, "the tunnel's MTU");
    assert!(d.len() <= 14 + 576);
    assert_eq!(r.drops(DropReason::FragNeeded), 1);
    // The same size without DF to the WWAN fits: forwarded as is.
    let f = udp_frame(INET_MAC, SERVER, HOME2, 64, 5000, &[0x55; 1472]);
    assert_eq!(r.run(1, &f).0, Action::Tx(0));
}

#[test]
fn non_df_too_big_is_fragmented_then_encapsulated() {
    let r = Rig::new();
    let payload: Vec<u8> = (0..1472u32).map(|i| i as u8).collect();
    let mut f = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, &payload);
    set_df_tos(&mut f, 14, false, 0);
    let mut local = r.local();
    let (a, buf) = r.run_with(&mut local, 1, &f);
    let Action::Fragment(plan) = a else {
        panic!("{a:?}")
    };
    assert_eq!(plan.encap_to, Some(ip(COA)));
    assert_eq!(plan.ip_mtu, 1480);
    let mut outs = Vec::new();
    let n = fragment(
        &r.plane,
        &mut local,
        &buf,
        plan,
        || Some(VecBuf::new(&[])),
        |b| outs.push(b),
    );
    assert_eq!(n, 2);
    let mut reassembled = vec![0u8; 0];
    for o in &outs {
        let d = o.data();
        assert!(d.len() <= 1514);
        assert_eq!(&d[0..6], &ROUTER_MAC);
        let outer = hdr(&d[14..]);
        assert_eq!(outer.destination(), ipb(COA));
        assert!(checksum_ok(&d[14..]));
        assert_eq!(outer.total_len() as usize, d.len() - 14);
        let inner = hdr(&d[34..]);
        assert!(checksum_ok(&d[34..]));
        assert_eq!(inner.ttl(), 63);
        let off = inner.fragments_offset().value() as usize * 8;
        let body = &d[34 + inner.slice().len()..];
        if reassembled.len() < off + body.len() {
            reassembled.resize(off + body.len(), 0);
        }
        reassembled[off..off + body.len()].copy_from_slice(body);
    }
    // UDP header + payload
    assert_eq!(&reassembled[8..], &payload[..]);
    // allocation failure is counted, not fatal
    let n = fragment(&r.plane, &mut local, &buf, plan, || None::<VecBuf>, |_| {});
    assert_eq!(n, 0);
    assert_eq!(r.drops(DropReason::FragNoBuffer), 1);
}

#[test]
fn mss_is_clamped_in_both_directions() {
    let r = Rig::new();
    // downlink into the tunnel
    let f = tcp_syn_frame(INET_MAC, SERVER, HOME, 1460);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let inner = &out.data()[34..];
    let sliced = etherparse::SlicedPacket::from_ip(inner).unwrap();
    let Some(etherparse::TransportSlice::Tcp(t)) = sliced.transport else {
        panic!()
    };
    let mss: Vec<_> = t
        .options_iterator()
        .filter_map(|o| match o {
            Ok(TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(mss, vec![1440]);
    let ih = Ipv4HeaderSlice::from_slice(inner).unwrap();
    let sum = t.calc_checksum_ipv4(ih.source(), ih.destination()).unwrap();
    assert_eq!(sum, t.checksum(), "TCP checksum still valid");
    // uplink from the WWAN
    let f = tcp_syn_frame(WWAN_MAC, HOME2, SERVER, 1460);
    assert_eq!(r.run(0, &f).0, Action::Tx(1));
    // already small: untouched
    let f = tcp_syn_frame(WWAN_MAC, HOME2, SERVER, 1200);
    let (_, out) = r.run(0, &f);
    assert_eq!(&out.data()[14..], &decremented(&f[14..])[..]);
    assert_eq!(r.events(Event::MssClamped), 2);
}

fn arp_request(sender_mac: [u8; 6], sender_ip: &str, target_ip: &str) -> Vec<u8> {
    let mut v = vec![0xff; 6];
    v.extend_from_slice(&sender_mac);
    v.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    v.extend_from_slice(&sender_mac);
    v.extend_from_slice(&ipb(sender_ip));
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(&ipb(target_ip));
    v.resize(60, 0);
    v
}

#[test]
fn arp_requests_for_us_are_answered_and_next_hops_learned() {
    let r = Rig::new();
    let new_router_mac = [2, 0, 0, 0, 0, 0xdd];
    let f = arp_request(new_router_mac, ROUTER, MSM_WLAN);
    let (a, out) = r.run(1, &f);
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(&d[0..6], &new_router_mac);
    assert_eq!(&d[6..12], &INET_MAC);
    assert_eq!(&d[20..22], &[0, 2], "ARP reply");
    assert_eq!(&d[22..28], &INET_MAC, "sender hardware address is ours");
    assert_eq!(&d[28..32], &ipb(MSM_WLAN));
    assert_eq!(&d[32..38], &new_router_mac);
    assert_eq!(&d[38..42], &ipb(ROUTER));
    assert_eq!(
        r.plane.neigh.mac(1),
        Some(new_router_mac),
        "learned from the request"
    );
    // for someone else: ignored
    let f = arp_request(PEER_MAC, ROUTER, "198.51.100.9");
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::ArpIgnored), 1);
}

#[test]
fn echo_to_our_addresses_is_answered() {
    let r = Rig::new();
    let f = echo_frame(WWAN_MAC, GGSN, MSM_GPRS);
    let (a, out) = r.run(0, &f);
    assert_eq!(a, Action::Tx(0));
    let d = out.data();
    assert_eq!(&d[0..6], &PEER_MAC);
    let h = hdr(&d[14..]);
    assert_eq!(h.source(), ipb(MSM_GPRS));
    assert_eq!(h.destination(), ipb(GGSN));
    assert!(checksum_ok(&d[14..]));
    let icmp = etherparse::Icmpv4Slice::from_slice(&d[34..]).unwrap();
    assert_eq!(icmp.type_u8(), 0);
    assert_eq!(icmp.payload(), b"ping-payload");
    let sum = etherparse::checksum::Sum16BitWords::new()
        .add_slice(&d[34..])
        .ones_complement();
    assert_eq!(sum, 0);
    // through the tunnel: answered back through the tunnel
    let inner = &echo_frame(INET_MAC, HOME, MSM_WLAN)[14..];
    let (a, out) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner));
    assert_eq!(a, Action::Tx(1));
    let d = out.data();
    assert_eq!(hdr(&d[14..]).destination(), ipb(COA));
    assert_eq!(hdr(&d[34..]).destination(), ipb(HOME));
    assert_eq!(r.events(Event::EchoReplied), 2);
}

#[test]
fn registrations_go_to_control_on_all_three_paths() {
    let r = Rig::new();
    // 1. through the WWAN
    let f = udp_frame(WWAN_MAC, HOME2, MSM_GPRS, 64, 434, b"req");
    assert_eq!(r.run(0, &f).0, Action::Control);
    // 2. reverse-tunnelled, even for a mobile with no binding yet
    let inner = &udp_frame(INET_MAC, "192.0.2.99", MSM_GPRS, 64, 434, b"req")[14..];
    assert_eq!(
        r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, inner)).0,
        Action::Control
    );
    // 3. directly from a care-of address
    let f = udp_frame(INET_MAC, COA, MSM_WLAN, 64, 434, b"req");
    assert_eq!(r.run(1, &f).0, Action::Control);
    assert_eq!(r.events(Event::ControlHanded), 3);
    // an ICMP error to us is counted as such
    let mut f = echo_frame(INET_MAC, COA, MSM_WLAN);
    f[34] = 3; // destination unreachable (checksum is not checked for local ICMP)
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::IcmpErrorToUs), 1);
    // other UDP to us is not
    let f = udp_frame(INET_MAC, COA, MSM_WLAN, 64, 53, b"q");
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::LocalUnsupported), 1);
}

#[test]
fn malformed_input_is_dropped_with_reasons() {
    let r = Rig::new();
    let good = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, b"x");
    let mut bad_csum = good.clone();
    bad_csum[24] ^= 0xff;
    assert_eq!(r.run(1, &bad_csum).0, Action::Drop);
    assert_eq!(r.drops(DropReason::BadIpChecksum), 1);
    assert_eq!(r.run(1, &good[..30]).0, Action::Drop);
    assert_eq!(r.drops(DropReason::Truncated), 1);
    let mut other_mac = good.clone();
    other_mac[0] = 0x06;
    assert_eq!(r.run(1, &other_mac).0, Action::Drop);
    assert_eq!(r.drops(DropReason::NotOurMac), 1);
    let mut v6 = good.clone();
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(r.run(1, &v6).0, Action::Drop);
    assert_eq!(r.drops(DropReason::Ethertype), 1);
    let martian = udp_frame(INET_MAC, "127.0.0.1", HOME, 64, 5000, b"x");
    assert_eq!(r.run(1, &martian).0, Action::Drop);
    assert_eq!(r.drops(DropReason::MartianSource), 1);
    // padding after the datagram is stripped, not forwarded
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 20]);
    let (a, out) = r.run(1, &padded);
    assert_eq!(a, Action::Tx(1));
    assert_eq!(out.data().len(), good.len() + 20);
    // inner packet malformed
    let mut inner = udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"x")[14..].to_vec();
    inner[10] ^= 1;
    assert_eq!(
        r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, &inner)).0,
        Action::Drop
    );
    assert_eq!(r.drops(DropReason::BadInnerPacket), 1);
}

#[test]
fn unresolved_next_hop_is_counted() {
    let mut r = Rig::new();
    r.plane.neigh = Neighbours::new(&[(0, ip(GGSN)), (1, ip(ROUTER))]);
    let f = udp_frame(INET_MAC, SERVER, HOME, 64, 5000, b"x");
    assert_eq!(r.run(1, &f).0, Action::Drop);
    assert_eq!(r.drops(DropReason::NeighbourUnresolved), 1);
}

proptest! {
    /// Encapsulation followed by decapsulation returns the original packet (TTL - 2,
    /// once per pass through the MSM as a router).
    #[test]
    fn encap_then_decap_returns_the_original(
        payload in proptest::collection::vec(any::<u8>(), 0..1400),
        ttl in 3u8..=255,
        sport in any::<u16>(),
        tos in any::<u8>(),
        df in any::<bool>(),
    ) {
        let r = Rig::new();
        let b = PacketBuilder::ethernet2(PEER_MAC, INET_MAC)
            .ipv4(ipb(SERVER), ipb(HOME), ttl)
            .udp(sport, 5000);
        let mut f = Vec::new();
        b.write(&mut f, &payload).unwrap();
        set_df_tos(&mut f, 14, df, tos);
        let (a, down) = r.run(1, &f);
        prop_assert_eq!(a, Action::Tx(1));
        // The care-of end reflects the inner packet back through the reverse tunnel
        // (swap inner addresses so it is a valid uplink from HOME).
        let mut inner = down.data()[34..].to_vec();
        let mut h = hdr(&inner).to_header();
        prop_assert_eq!(h.time_to_live, ttl - 1);
        std::mem::swap(&mut h.source, &mut h.destination);
        h.header_checksum = h.calc_header_checksum();
        inner[..20].copy_from_slice(&h.to_bytes());
        let (a, up) = r.run(1, &ipip_frame(INET_MAC, COA, MSM_WLAN, &inner));
        prop_assert_eq!(a, Action::Tx(1));
        let out = &up.data()[14..];
        let oh = hdr(out);
        prop_assert_eq!(oh.ttl(), ttl - 2);
        prop_assert!(checksum_ok(out));
        prop_assert_eq!(oh.source(), ipb(HOME));
        prop_assert_eq!(oh.destination(), ipb(SERVER));
        prop_assert_eq!(&out[20..], &f[34..], "payload untouched");
    }

    /// No input crashes the pipeline, on either port.
    #[test]
    fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..300), port in 0u16..3) {
        let r = Rig::new();
        let _ = r.run(port, &frame);
    }

    /// Mutations of valid frames (tunnelled, TCP, ICMP) never panic either.
    #[test]
    fn mutated_frames_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..6),
        cut in 0usize..200,
    ) {
        let r = Rig::new();
        let inner = udp_frame(INET_MAC, HOME, SERVER, 64, 434, b"0123456789")[14..].to_vec();
        let mut f = match which {
            0 => ipip_frame(INET_MAC, COA, MSM_WLAN, &inner),
            1 => tcp_syn_frame(INET_MAC, SERVER, HOME, 1460),
            2 => echo_frame(INET_MAC, SERVER, MSM_WLAN),
            _ => arp_request(PEER_MAC, ROUTER, MSM_WLAN),
        };
        for (i, v) in flips {
            if let Some(b) = f.get_mut(i) { *b ^= v }
        }
        f.truncate(f.len().saturating_sub(cut % 16));
        for port in 0..2 {
            let _ = r.run(port, &f);
        }
    }
}

/// With `stage-cycles`, the per-packet marks sit where the stage table says: a downlink
/// packet is classified, rewritten (TTL, MSS) and looked up once each; a reverse-tunnelled
/// one is classified twice (outer, then the inner packet's routing) around one
/// anti-spoofing lookup. The marks telescope: their ticks fit in the time around them.
/// Outside a sampled burst they do nothing.
#[cfg(feature = "stage-cycles")]
#[test]
fn stage_marks_follow_the_pipeline() {
    use crate::dataplane::instrument::{Clock, Stage, StageSnapshot, Step, SAMPLE_EVERY};
    let r = Rig::new();
    let steps = |s: &StageSnapshot| {
        Step::ALL
            .iter()
            .map(|st| s.step_events[*st as usize])
            .collect::<Vec<_>>()
    };
    let mut clock = Clock::new();
    // One frame in a sampled burst (retried if this thread was preempted during it):
    // the marks it made, and the ticks around it.
    let mut sampled_run = |frame: &[u8]| -> (StageSnapshot, u64) {
        loop {
            let before = r.counters.stage_snapshot().unwrap();
            let mut sampled = false;
            let t0 = msm_dpdk::rdtsc();
            for _ in 0..SAMPLE_EVERY {
                sampled = clock.begin_burst(&r.counters);
            }
            assert!(sampled, "every {SAMPLE_EVERY}th burst is sampled");
            assert_eq!(r.run(1, frame).0, Action::Tx(1));
            clock.end_burst(&r.counters, sampled, 1);
            let t1 = msm_dpdk::rdtsc();
            clock.publish(&r.counters);
            let d = r.counters.stage_snapshot().unwrap().since(&before);
            if d.discarded_bursts == 0 {
                assert_eq!(d.sampled_packets(), 1);
                assert_eq!(d.events[Stage::ProcessSampled as usize], 1);
                return (d, t1 - t0);
            }
        }
    };
    // Not sampling: nothing is recorded.
    let f = udp_frame(INET_MAC, SERVER, HOME, 50, 5000, b"hello mobile");
    assert_eq!(r.run(1, &f).0, Action::Tx(1));
    assert_eq!(steps(&r.counters.stage_snapshot().unwrap()), vec![0; 4]);

    // Downlink: classify, rewrite (TTL/MSS before the lookup), lookup.
    let (d, around) = sampled_run(&f);
    assert_eq!(steps(&d), vec![1, 1, 1, 0]);
    let ticks: u64 = d.step_ticks.iter().sum();
    assert!(ticks > 0 && ticks <= around, "{ticks} within {around}");
    // Reverse tunnel: classify (outer), lookup (anti-spoofing), classify (inner route).
    let inner = &udp_frame(INET_MAC, HOME, SERVER, 64, 5000, b"uplink")[14..];
    let tunnelled = ipip_frame(INET_MAC, COA, MSM_WLAN, inner);
    let (d, _) = sampled_run(&tunnelled);
    assert_eq!(steps(&d), vec![2, 1, 0, 0]);
    // Marks after the burst ended do nothing.
    let s = r.counters.stage_snapshot().unwrap();
    assert_eq!(r.run(1, &f).0, Action::Tx(1));
    assert_eq!(
        r.counters.stage_snapshot().unwrap().step_events,
        s.step_events
    );
}
