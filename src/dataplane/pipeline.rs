//! The data path as pure functions over packet buffers: classify, look up, rewrite.
//!
//! [`process`] takes one received Ethernet frame (in anything that implements
//! [`PacketBuf`]: a DPDK mbuf in production, a `Vec` with headroom in tests), the
//! read-only [`Plane`] shared by every worker, the worker's own [`WorkerLocal`] state and
//! a binding-table view, rewrites the frame in place, and says what to do with it
//! ([`Action`]). It never allocates, locks, blocks or panics on any input; every drop is
//! counted with its reason in the worker's [`Counters`]. The DPDK layer (`worker.rs`)
//! only moves mbufs between NIC queues and these functions.
//!
//! Contract: `../shared/PROTOCOL.md` section 2. In short:
//! * downlink (destination in a home pool): binding with a care-of address -> inner TTL
//!   decremented, IP-in-IP `IPmsm-wlan -> CoA` toward the Internet side; otherwise
//!   forwarded (TTL decremented) toward the WWAN;
//! * uplink from the WWAN (source in a home pool): forwarded to the Internet;
//! * IP-in-IP to `IPmsm-wlan`: accepted only if the outer source is the care-of address
//!   bound to the inner source, then decapsulated and routed like any other packet
//!   (mobile-to-mobile goes down the other mobile's path). Reverse-tunnelled
//!   registrations (inner UDP 434 to us) go to the control lcore without that check:
//!   the control plane authenticates them;
//! * TCP SYNs forwarded in either direction get their MSS clamped to fit the tunnel;
//!   too big for the egress MTU: DF -> ICMP fragmentation needed (rate-limited), else
//!   fragmented; TTL expiry -> ICMP time exceeded (rate-limited);
//! * ARP for our addresses is answered; ARP from our next hops is learned; ICMP echo to
//!   our addresses is answered; UDP 434 to our addresses goes to the control lcore.
//!
//! Locally generated answers (echo replies, ICMP errors) go back the way the packet came:
//! out of the ingress port to the Ethernet source, re-encapsulated if it came through the
//! tunnel.

use crate::config::{Prefix, Role};
use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::instrument::Step;
use crate::dataplane::neigh::Neighbours;
use msm_wire::{arp, ethernet, icmp, ipv4, tcp, udp};

/// Ethernet header length.
pub const ETH: usize = ethernet::HEADER_LEN;
/// Outer IPv4 header length of the tunnel.
pub const OUTER: usize = 20;
/// Well-known Mobile IP registration port.
pub const MIP_PORT: u16 = 434;
/// Most of the original datagram an ICMP error quotes (576 - 20 - 8).
pub const ICMP_QUOTE_MAX: usize = 548;

/// A packet buffer with headroom: one contiguous segment.
pub trait PacketBuf {
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet at the front by `n` bytes (contents unspecified).
    fn prepend(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the front.
    fn adj(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the end.
    fn trim(&mut self, n: usize) -> bool;
    /// Grows the packet at the end by `n` bytes (contents unspecified).
    fn append(&mut self, n: usize) -> bool;
    #[inline]
    fn len(&self) -> usize {
        self.data().len()
    }
    #[inline]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sets the length to exactly `n` bytes by trimming or appending.
    #[inline]
    fn resize(&mut self, n: usize) -> bool {
        let l = self.len();
        if n <= l {
            self.trim(l - n)
        } else {
            self.append(n - l)
        }
    }
}

/// What the binding table says about a home address (`Miss`, `Wwan`, `CareOf(coa)`).
pub use msm_table::Lookup;

/// Read access to the binding table, as a worker sees it during one burst.
pub trait Bindings {
    fn lookup(&self, home: u32) -> Lookup;
    #[inline]
    fn prefetch(&self, _home: u32) {}
}

/// Per-port facts the data path needs.
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub role: Role,
    pub ip: u32,
    pub mac: [u8; 6],
    pub mtu: u16,
}

/// A next hop: egress port and neighbour-table index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    pub port: u16,
    pub neigh: usize,
}

/// The read-only data-plane context shared by all workers.
pub struct Plane {
    pub ports: Vec<PortInfo>,
    pub pools: Vec<Prefix>,
    /// `IPmsm-wlan`: where tunnels end.
    pub msm_wlan: u32,
    /// `IPmsm-gprs`.
    pub msm_gprs: u32,
    pub to_internet: NextHop,
    pub to_wwan: NextHop,
    pub outer_ttl: u8,
    /// Largest MSS a forwarded SYN may carry; `None` = clamping off.
    pub mss_max: Option<u16>,
    pub neigh: Neighbours,
}

impl Plane {
    #[inline]
    pub fn in_pool(&self, a: u32) -> bool {
        self.pools.iter().any(|p| p.contains(a))
    }
    #[inline]
    pub fn is_own(&self, a: u32) -> bool {
        self.ports.iter().any(|p| p.ip == a)
    }
}

/// Token bucket for ICMP errors, in caller-supplied clock ticks (TSC in production).
#[derive(Debug, Clone)]
pub struct RateLimit {
    ticks_per_token: u64,
    burst: u64,
    /// Tokens available, scaled by `ticks_per_token` (i.e. in ticks).
    credit: u64,
    last: u64,
}

impl RateLimit {
    pub fn new(per_sec: u32, burst: u32, ticks_per_sec: u64) -> RateLimit {
        let ticks_per_token = if per_sec == 0 {
            u64::MAX
        } else {
            (ticks_per_sec / per_sec as u64).max(1)
        };
        let burst = burst.max(1) as u64;
        RateLimit {
            ticks_per_token,
            burst,
            credit: if per_sec == 0 {
                0
            } else {
                burst * ticks_per_token
            },
            last: 0,
        }
    }
    /// Takes one token at time `now`; false if none is left.
    #[inline]
    pub fn take(&mut self, now: u64) -> bool {
        if self.ticks_per_token == u64::MAX {
            return false;
        }
        let cap = self.burst * self.ticks_per_token;
        let elapsed = now.saturating_sub(self.last);
        self.last = now;
        self.credit = self.credit.saturating_add(elapsed).min(cap);
        if self.credit >= self.ticks_per_token {
            self.credit -= self.ticks_per_token;
            true
        } else {
            false
        }
    }
}

/// State private to one worker.
pub struct WorkerLocal<'c> {
    pub counters: &'c Counters,
    /// Outer IP identification: per worker, started at a worker-specific offset.
    pub ip_id: u16,
    pub icmp: RateLimit,
    /// Current time in clock ticks, set once per burst.
    pub now: u64,
    /// Current time in seconds (for neighbour ages), set once per burst.
    pub now_s: u64,
}

impl WorkerLocal<'_> {
    #[inline]
    fn next_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }
}

/// How a packet must be fragmented by the caller (who owns the buffer pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragPlan {
    pub port: u16,
    pub dst_mac: [u8; 6],
    /// Encapsulate each fragment toward this care-of address.
    pub encap_to: Option<u32>,
    /// Largest IP packet (inner, before encapsulation) per fragment.
    pub ip_mtu: u16,
}

/// What the worker does with the packet after [`process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Transmit the rewritten frame on this port.
    Tx(u16),
    /// Hand the frame (unchanged) to the control lcore.
    Control,
    /// Fragment the IP packet after the Ethernet header (see [`fragment`]), then free it.
    Fragment(FragPlan),
    /// Free it; the reason is already counted.
    Drop,
}

/// Where a packet came from, so answers can go back the same way.
#[derive(Debug, Clone, Copy)]
struct ReturnPath {
    port: u16,
    mac: [u8; 6],
    /// Came through the reverse tunnel from this care-of address.
    tunnel: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Received on a port facing this role.
    Wire(Role),
    /// Decapsulated from the reverse tunnel.
    Tunnel,
}

#[inline]
fn discard(local: &WorkerLocal, d: DropReason) -> Action {
    local.counters.count_drop(d);
    Action::Drop
}

/// Looks up the keys of `pkt` this burst will need, so their buckets can be prefetched
/// before the lookups: the destination, and for IP-in-IP the inner source.
#[inline]
pub fn prefetch_key(frame: &[u8]) -> Option<(u32, Option<u32>)> {
    if frame.len() < ETH + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[ETH..];
    let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
    let inner_src = if ip[9] == ipv4::PROTO_IPIP {
        let hl = ((ip[0] & 0x0f) as usize) * 4;
        ip.get(hl + 12..hl + 16)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    } else {
        None
    };
    Some((dst, inner_src))
}

/// 0/8, loopback, multicast, reserved and broadcast: never a source or destination we route.
#[inline]
fn martian(a: u32) -> bool {
    let first = (a >> 24) as u8;
    first == 0 || first == 127 || first >= 224
}

#[inline]
fn write_eth(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    frame[0..6].copy_from_slice(&dst);
    frame[6..12].copy_from_slice(&src);
    frame[12..14].copy_from_slice(&ethernet::ETHERTYPE_IPV4.to_be_bytes());
}

/// Processes one received frame. See the module documentation.
#[inline]
pub fn process<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    ingress: u16,
    pkt: &mut B,
) -> Action {
    let Some(port) = plane.ports.get(ingress as usize) else {
        return discard(local, DropReason::BadIpHeader);
    };
    let data = pkt.data();
    if data.len() < ETH {
        return discard(local, DropReason::Truncated);
    }
    let dst_mac: [u8; 6] = [data[0], data[1], data[2], data[3], data[4], data[5]];
    if dst_mac != port.mac && dst_mac != [0xff; 6] {
        return discard(local, DropReason::NotOurMac);
    }
    match u16::from_be_bytes([data[12], data[13]]) {
        ethernet::ETHERTYPE_IPV4 => {}
        ethernet::ETHERTYPE_ARP => return process_arp(plane, local, ingress, pkt),
        _ => return discard(local, DropReason::Ethertype),
    }
    if dst_mac != port.mac {
        return discard(local, DropReason::NotOurMac); // IPv4 to broadcast MAC: not routed
    }
    let src_mac: [u8; 6] = [data[6], data[7], data[8], data[9], data[10], data[11]];
    let ret = ReturnPath {
        port: ingress,
        mac: src_mac,
        tunnel: None,
    };
    let (total, src, dst, proto, frag) = match check_ipv4(local, &data[ETH..]) {
        Ok(v) => v,
        Err(a) => return a,
    };
    // Drop Ethernet padding (or anything after the IP datagram).
    let extra = data.len() - ETH - total;
    if extra > 0 && !pkt.trim(extra) {
        return discard(local, DropReason::Truncated);
    }
    if martian(src) || plane.is_own(src) {
        return discard(local, DropReason::MartianSource);
    }
    if plane.is_own(dst) {
        return process_local(plane, local, tab, pkt, ret, port.role, proto, frag);
    }
    if martian(dst) {
        return discard(local, DropReason::MartianDestination);
    }
    route(plane, local, tab, pkt, ret, Origin::Wire(port.role))
}

/// Validates the IPv4 header at the start of `ip`: (total_len, src, dst, proto, is_fragment).
#[inline]
fn check_ipv4(local: &WorkerLocal, ip: &[u8]) -> Result<(usize, u32, u32, u8, bool), Action> {
    let p = match ipv4::Ipv4Packet::new_checked(ip) {
        Ok(p) => p,
        Err(msm_wire::Error::Truncated) => return Err(discard(local, DropReason::Truncated)),
        Err(_) => return Err(discard(local, DropReason::BadIpHeader)),
    };
    if !p.verify_checksum() {
        return Err(discard(local, DropReason::BadIpChecksum));
    }
    Ok((
        p.total_len() as usize,
        p.src_u32(),
        p.dst_u32(),
        p.protocol(),
        p.is_fragment(),
    ))
}

fn process_arp<B: PacketBuf>(
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
    if plane.neigh.learn(ingress, spa, sha, local.now_s) {
        local.counters.event(Event::ArpToControl);
    }
    match oper {
        arp::OP_REQUEST => {
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

/// Packet addressed to one of our own addresses. `pkt` holds Ethernet + a validated
/// IPv4 header.
#[allow(clippy::too_many_arguments)]
fn process_local<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    pkt: &mut B,
    ret: ReturnPath,
    role: Role,
    proto: u8,
    frag: bool,
) -> Action {
    if frag {
        return discard(local, DropReason::LocalFragment);
    }
    let ip = &pkt.data()[ETH..];
    let hl = ((ip[0] & 0x0f) as usize) * 4;
    let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
    match proto {
        ipv4::PROTO_ICMP => {
            match ip.get(hl) {
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
        ipv4::PROTO_UDP => {
            let is_mip = udp::UdpPacket::new_checked(&ip[hl..])
                .map(|u| u.dst_port() == MIP_PORT)
                .unwrap_or(false);
            if !is_mip {
                return discard(local, DropReason::LocalUnsupported);
            }
            local.counters.event(Event::ControlHanded);
            Action::Control
        }
        ipv4::PROTO_IPIP if dst == plane.msm_wlan => {
            if !role.faces_internet() {
                return discard(local, DropReason::TunnelWrongSide);
            }
            decap(plane, local, tab, pkt, ret, hl)
        }
        _ => discard(local, DropReason::LocalUnsupported),
    }
}

/// Reverse-tunnelled packet: anti-spoofing check, strip, route the inner packet.
fn decap<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    pkt: &mut B,
    ret: ReturnPath,
    outer_hl: usize,
) -> Action {
    let ip = &pkt.data()[ETH..];
    let outer_src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
    let outer_payload = &ip[outer_hl..];
    let (inner_total, src, dst, proto, frag) = match ipv4::Ipv4Packet::new_checked(outer_payload) {
        Ok(p) if p.verify_checksum() => (
            p.total_len() as usize,
            p.src_u32(),
            p.dst_u32(),
            p.protocol(),
            p.is_fragment(),
        ),
        _ => return discard(local, DropReason::BadInnerPacket),
    };
    if inner_total != outer_payload.len() {
        return discard(local, DropReason::BadInnerPacket);
    }
    // Reverse-tunnelled registration (PROTOCOL.md path 2): the control plane
    // authenticates it, including the first registration of a mobile with no binding.
    if plane.is_own(dst) && proto == ipv4::PROTO_UDP && !frag {
        let ihl = ((outer_payload[0] & 0x0f) as usize) * 4;
        if let Ok(u) = udp::UdpPacket::new_checked(&outer_payload[ihl..]) {
            if u.dst_port() == MIP_PORT {
                local.counters.event(Event::ControlHanded);
                return Action::Control;
            }
        }
    }
    local.counters.step(Step::Classify);
    let bound = tab.lookup(src);
    local.counters.step(Step::Lookup);
    match bound {
        Lookup::CareOf(coa) if coa == outer_src => {}
        _ => return discard(local, DropReason::SpoofedTunnel),
    }
    if martian(dst) {
        return discard(local, DropReason::MartianDestination);
    }
    if !pkt.adj(outer_hl) {
        return discard(local, DropReason::Truncated);
    }
    local.counters.event(Event::UplinkTunnel);
    let ret = ReturnPath {
        tunnel: Some(outer_src),
        ..ret
    };
    if plane.is_own(dst) {
        // e.g. a ping to the MSM through the tunnel
        let role = plane.ports[ret.port as usize].role;
        if proto == ipv4::PROTO_IPIP {
            return discard(local, DropReason::LocalUnsupported); // no nested tunnels
        }
        return process_local(plane, local, tab, pkt, ret, role, proto, frag);
    }
    route(plane, local, tab, pkt, ret, Origin::Tunnel)
}

/// Routes a transit packet (Ethernet + validated IPv4, not for us).
fn route<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    pkt: &mut B,
    ret: ReturnPath,
    origin: Origin,
) -> Action {
    let ip = &pkt.data()[ETH..];
    let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
    let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
    let ttl = ip[8];
    let downlink = plane.in_pool(dst);
    let uplink = !downlink
        && match origin {
            Origin::Tunnel => true,
            Origin::Wire(role) => role.faces_wwan() && plane.in_pool(src),
        };
    if !downlink && !uplink {
        return discard(local, DropReason::UnknownDestination);
    }
    local.counters.step(Step::Classify);
    if ttl <= 1 {
        local.counters.count_drop(DropReason::TtlExpired);
        return icmp_error(
            plane,
            local,
            pkt,
            ret,
            icmp::TYPE_TIME_EXCEEDED,
            0,
            0,
            Event::IcmpTimeExceededSent,
        );
    }
    {
        let mut p = ipv4::Ipv4Packet::new_unchecked(&mut pkt.data_mut()[ETH..]);
        p.decrement_ttl_update_checksum();
    }
    clamp_mss(plane, local, pkt);
    if downlink {
        if origin == Origin::Tunnel {
            local.counters.event(Event::MobileToMobile);
        }
        local.counters.step(Step::Rewrite);
        let bound = tab.lookup(dst);
        local.counters.step(Step::Lookup);
        match bound {
            Lookup::CareOf(coa) => {
                local.counters.event(Event::DownlinkTunnel);
                emit(plane, local, pkt, ret, plane.to_internet, Some(coa))
            }
            Lookup::Wwan | Lookup::Miss => {
                local.counters.event(Event::DownlinkWwan);
                emit(plane, local, pkt, ret, plane.to_wwan, None)
            }
        }
    } else {
        if origin != Origin::Tunnel {
            local.counters.event(Event::UplinkWwan);
        }
        emit(plane, local, pkt, ret, plane.to_internet, None)
    }
}

#[inline]
fn clamp_mss<B: PacketBuf>(plane: &Plane, local: &WorkerLocal, pkt: &mut B) {
    let Some(max) = plane.mss_max else { return };
    let ip = &pkt.data()[ETH..];
    if ip[9] != ipv4::PROTO_TCP || (ip[6] & 0x1f) != 0 || ip[7] != 0 {
        return; // not TCP, or a fragment (no first-fragment TCP header guarantees)
    }
    let hl = ((ip[0] & 0x0f) as usize) * 4;
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    // SYN flag set? (byte 13 of the TCP header)
    if ip.get(hl + 13).is_none_or(|f| f & 0x02 == 0) {
        return;
    }
    let seg = &mut pkt.data_mut()[ETH + hl..ETH + total];
    if let Ok(mut t) = tcp::TcpPacket::new_checked(seg) {
        if t.clamp_mss(max).is_some() {
            local.counters.event(Event::MssClamped);
        }
    }
}

/// Sends a forwarded packet (TTL already handled) to `nh`, encapsulated toward
/// `encap_to` if given; handles the MTU.
fn emit<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
    nh: NextHop,
    encap_to: Option<u32>,
) -> Action {
    let Some(mac) = plane.neigh.mac(nh.neigh) else {
        return discard(local, DropReason::NeighbourUnresolved);
    };
    let egress = &plane.ports[nh.port as usize];
    let ip_len = pkt.len() - ETH;
    let overhead = if encap_to.is_some() { OUTER } else { 0 };
    if ip_len + overhead > egress.mtu as usize {
        let ip_mtu = egress.mtu - overhead as u16;
        let df = pkt.data()[ETH + 6] & 0x40 != 0;
        if df {
            local.counters.count_drop(DropReason::FragNeeded);
            return icmp_error(
                plane,
                local,
                pkt,
                ret,
                icmp::TYPE_DEST_UNREACH,
                icmp::CODE_FRAG_NEEDED,
                ip_mtu as u32,
                Event::IcmpFragNeededSent,
            );
        }
        local.counters.event(Event::Fragmented);
        return Action::Fragment(FragPlan {
            port: nh.port,
            dst_mac: mac,
            encap_to,
            ip_mtu,
        });
    }
    if let Some(coa) = encap_to {
        if !encapsulate(plane, local, pkt, coa) {
            return discard(local, DropReason::NoHeadroom);
        }
    }
    write_eth(pkt.data_mut(), mac, egress.mac);
    Action::Tx(nh.port)
}

/// Prepends the tunnel header: `[eth][inner]` becomes `[eth][outer][inner]`.
#[inline]
fn encapsulate<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    coa: u32,
) -> bool {
    if !pkt.prepend(OUTER) {
        return false;
    }
    let id = local.next_id();
    let d = pkt.data_mut();
    // The inner header now starts at ETH + OUTER; the outer goes where the old
    // Ethernet header was.
    ipv4::write_ipip_header_in_place(&mut d[ETH..], plane.msm_wlan, coa, plane.outer_ttl, id)
        .is_ok()
}

/// Answers a locally handled packet back along its return path.
fn send_back<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
) -> Action {
    let port = &plane.ports[ret.port as usize];
    if let Some(coa) = ret.tunnel {
        if pkt.len() - ETH + OUTER > port.mtu as usize {
            return discard(local, DropReason::FragNeeded);
        }
        if !encapsulate(plane, local, pkt, coa) {
            return discard(local, DropReason::NoHeadroom);
        }
    }
    write_eth(pkt.data_mut(), ret.mac, port.mac);
    Action::Tx(ret.port)
}

/// Turns `pkt` into an ICMP error about itself and sends it back, rate-limited.
#[allow(clippy::too_many_arguments)]
fn icmp_error<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
    ty: u8,
    code: u8,
    rest: u32,
    sent: Event,
) -> Action {
    let orig = &pkt.data()[ETH..];
    if !icmp::may_send_icmp_error(orig) {
        return Action::Drop;
    }
    if !local.icmp.take(local.now) {
        local.counters.event(Event::IcmpRateLimited);
        return Action::Drop;
    }
    let q = orig.len().min(ICMP_QUOTE_MAX);
    let mut quote = [0u8; ICMP_QUOTE_MAX];
    quote[..q].copy_from_slice(&orig[..q]);
    let dst = u32::from_be_bytes([orig[12], orig[13], orig[14], orig[15]]);
    let src = match ret.tunnel {
        Some(_) => plane.msm_wlan,
        None => plane.ports[ret.port as usize].ip,
    };
    if !pkt.resize(ETH + 20 + 8 + q) {
        return Action::Drop;
    }
    let id = local.next_id();
    if icmp::write_icmp_error(
        &mut pkt.data_mut()[ETH..],
        src,
        dst,
        64,
        id,
        ty,
        code,
        rest,
        &quote[..q],
    )
    .is_err()
    {
        return Action::Drop;
    }
    local.counters.event(sent);
    send_back(plane, local, pkt, ret)
}

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

/// A `Vec`-backed [`PacketBuf`] with headroom, for tests and tools.
#[derive(Debug, Clone)]
pub struct VecBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl VecBuf {
    pub const HEADROOM: usize = 128;
    pub fn new(frame: &[u8]) -> VecBuf {
        Self::with_capacity(frame, 2048)
    }
    pub fn with_capacity(frame: &[u8], cap: usize) -> VecBuf {
        let mut buf = vec![0u8; Self::HEADROOM + cap.max(frame.len())];
        buf[Self::HEADROOM..Self::HEADROOM + frame.len()].copy_from_slice(frame);
        VecBuf {
            buf,
            start: Self::HEADROOM,
            end: Self::HEADROOM + frame.len(),
        }
    }
}

impl PacketBuf for VecBuf {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.end -= n;
        true
    }
    fn append(&mut self, n: usize) -> bool {
        if self.end + n > self.buf.len() {
            return false;
        }
        self.end += n;
        true
    }
}
