//! Data-plane stage tests on plain byte buffers: the rig (plane, bindings, counters) and frame builders shared by the per-stage test files.
//!
//! Frames are built and checked with `etherparse`, an independent implementation of the
//! wire formats.

mod classify;
mod decap;
mod forward;
mod icmp_frag;
mod local;
mod nat;
mod props;
#[cfg(feature = "stage-cycles")]
mod stage_marks;

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
/// Bound behind a NAT (RFC 3519) to `NAT_ADDR:NAT_PORT`.
const HOME_NAT: &str = "192.0.2.13";
const NAT_ADDR: &str = "203.0.113.50";
const NAT_PORT: u16 = 40001;

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
        standby: Default::default(),
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
    m.insert(
        ip(HOME_NAT),
        Lookup::Nat {
            addr: ip(NAT_ADDR),
            port: NAT_PORT,
        },
    );
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
        let mut l = WorkerLocal::new(
            &self.plane,
            &self.counters,
            0,
            RateLimit::new(100, 10, 1_000_000),
        );
        l.now = 1;
        l.now_s = 1;
        l
    }
    fn run_with(&self, local: &mut WorkerLocal, ingress: u16, frame: &[u8]) -> (Action, VecBuf) {
        let mut b = VecBuf::new(frame);
        let a = process_frame(&self.plane, local, &self.tab, ingress, &mut b);
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

/// Sets the more-fragments flag and the fragment offset (in 8-byte units) of the IPv4
/// header at offset `at`, fixing the checksum with etherparse.
fn set_frag(frame: &mut [u8], at: usize, mf: bool, offset: u16) {
    let mut h = Ipv4HeaderSlice::from_slice(&frame[at..])
        .unwrap()
        .to_header();
    h.dont_fragment = false;
    h.more_fragments = mf;
    h.fragment_offset = etherparse::IpFragOffset::try_new(offset).unwrap();
    h.header_checksum = h.calc_header_checksum();
    let bytes = h.to_bytes();
    frame[at..at + bytes.len()].copy_from_slice(&bytes);
}
