//! The per-packet pipeline: the context the stages share, and [`process`], which hands a classified packet to its stage.
//!
//! A packet goes through [`classify`](crate::dataplane::classify::classify) once (the
//! worker does it for a whole burst, to prefetch), then [`process`] sends it, by its
//! [`Kind`], to one stage, each in its own file with its own counters:
//!
//! * `local.rs`: ARP, ICMP echo and registrations (UDP 434) addressed to us;
//! * `decap.rs`: the reverse tunnel, IP-in-IP or UDP (RFC 3519 MIP Tunnel Data from a
//!   mobile behind a NAT) (anti-spoofing, decapsulation), then on to local delivery or
//!   forwarding;
//! * `forward.rs`: routing, TTL, MSS clamping, encapsulation, the Ethernet rewrite;
//! * `icmp.rs` / `frag.rs`: ICMP errors (rate-limited) and fragmentation.
//!
//! Every stage takes the packet (in anything that implements [`PacketBuf`]: a DPDK mbuf
//! in production, a [`VecBuf`] in tests), the read-only [`Plane`] shared by every
//! worker, the worker's own [`WorkerLocal`] state and a binding-table view, rewrites the
//! frame in place and says what to do with it ([`Action`]). Nothing here allocates,
//! locks, blocks or panics on any input; every drop is counted with its reason in the
//! worker's [`Counters`]. The DPDK layer (`worker.rs`) only moves mbufs between NIC
//! queues and these functions.
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
//! * MIP Tunnel Data (UDP to `IPmsm-wlan`:434, type 4, next header 4, RFC 3519):
//!   accepted only if the outer source address and UDP source port are the NAT
//!   address:port bound to the inner source, then stripped (IP + UDP + 4 bytes) and
//!   routed like IP-in-IP; answers (echo replies, ICMP errors) go back through the UDP
//!   tunnel;
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
use crate::dataplane::classify::{self, Classified, Kind};
use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::neigh::Neighbours;
use crate::dataplane::{decap, forward, local};
use msm_wire::{ethernet, ipv4};
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::dataplane::buf::{PacketBuf, VecBuf};
pub use crate::dataplane::frag::fragment;
pub use crate::dataplane::icmp::RateLimit;

/// Ethernet header length.
pub const ETH: usize = ethernet::HEADER_LEN;
/// Outer IPv4 header length of the tunnel.
pub const OUTER: usize = ipv4::HEADER_LEN;
/// Well-known Mobile IP registration port.
pub const MIP_PORT: u16 = 434;
/// Most of the original datagram an ICMP error quotes (576 - 20 - 8).
pub const ICMP_QUOTE_MAX: usize = 548;

/// What the binding table says about a home address (`Miss`, `Wwan`, `CareOf(coa)`).
pub use msm_table::Lookup;

/// Read access to the binding table, as a worker sees it during one burst.
pub trait Bindings {
    fn lookup(&self, home: u32) -> Lookup;
    #[inline]
    fn prefetch(&self, _home: u32) {}
    /// Prefetches the NAT endpoint of `home`'s binding if it has one (the
    /// lookup's second memory access); its bucket should already be cached.
    #[inline]
    fn prefetch_endpoint(&self, _home: u32) {}
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
    /// Clustered only (`[cluster]`): this member does not serve its shard now (a standby,
    /// or an owner past its local deadline). ARP requests for our addresses are not
    /// answered (`arp_not_owner`), so that the shard's owner alone draws the traffic, and
    /// nothing is forwarded (`not_owner`): on a segment where both members see every
    /// frame, only the owner's copy goes on. Written by the control lcore; a worker reads
    /// it once per burst into [`WorkerLocal::standby`].
    pub standby: AtomicBool,
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

/// The events (almost) every forwarded packet counts. They are accumulated in the
/// worker's own [`WorkerLocal`] (a plain add, no load + store of the shared counter per
/// packet) and added to its [`Counters`] once per burst by
/// [`WorkerLocal::flush_counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Hot {
    DownlinkTunnel,
    DownlinkWwan,
    UplinkWwan,
    UplinkTunnel,
}

impl Hot {
    /// The counter each one is added to.
    const EVENTS: [Event; 4] = [
        Event::DownlinkTunnel,
        Event::DownlinkWwan,
        Event::UplinkWwan,
        Event::UplinkTunnel,
    ];
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
    /// The tunnel's outer header precomputed from `Plane::msm_wlan` and
    /// `Plane::outer_ttl` (see [`WorkerLocal::new`]): encapsulation only adds the
    /// per-packet fields.
    pub outer: ipv4::IpipTemplate,
    /// [`Plane::standby`] as read once at the start of this burst (one relaxed load per
    /// burst, not per packet): forward nothing, answer no ARP request.
    pub standby: bool,
    /// This burst's [`Hot`] events, not yet in `counters`.
    pending: [u64; 4],
}

impl<'c> WorkerLocal<'c> {
    /// A worker's state for `plane`: identifications from `ip_id` on, the ICMP rate
    /// limiter `icmp`, clocks at 0 (the worker sets them per burst).
    pub fn new(plane: &Plane, counters: &'c Counters, ip_id: u16, icmp: RateLimit) -> Self {
        WorkerLocal {
            counters,
            ip_id,
            icmp,
            now: 0,
            now_s: 0,
            outer: ipv4::IpipTemplate::new(plane.msm_wlan, plane.outer_ttl),
            standby: plane.standby.load(Ordering::Relaxed),
            pending: [0; 4],
        }
    }

    /// Reads [`Plane::standby`] for the burst that starts (the worker, once per burst;
    /// [`process_frame`], once per frame).
    #[inline(always)]
    pub fn begin_burst(&mut self, plane: &Plane) {
        self.standby = plane.standby.load(Ordering::Relaxed);
    }

    /// Counts one [`Hot`] event (in `counters` at the next [`flush_counts`](Self::flush_counts)).
    #[inline(always)]
    pub(crate) fn count(&mut self, h: Hot) {
        self.pending[h as usize] += 1;
    }

    /// Adds the burst's [`Hot`] events to the worker's counters: once per burst (the
    /// worker), or after each packet ([`process_frame`], tracing).
    #[inline(never)]
    pub fn flush_counts(&mut self) {
        for (n, e) in self.pending.iter_mut().zip(Hot::EVENTS) {
            self.counters.event_n(e, *n);
            *n = 0;
        }
    }

    #[inline]
    pub(crate) fn next_id(&mut self) -> u16 {
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
pub(crate) struct ReturnPath {
    pub port: u16,
    pub mac: [u8; 6],
    /// Came through the reverse tunnel from this care-of address (or NAT address).
    pub tunnel: Option<u32>,
    /// Came through the UDP tunnel (RFC 3519) from this port of `tunnel`; 0: IP-in-IP.
    pub nat_port: u16,
}

/// How a packet to be routed arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Received on a port facing this role.
    Wire(Role),
    /// Decapsulated from the reverse tunnel.
    Tunnel,
}

/// Counts `d` and drops the packet.
#[inline]
pub(crate) fn discard(local: &WorkerLocal, d: DropReason) -> Action {
    local.counters.count_drop(d);
    Action::Drop
}

/// Processes one frame that [`classify`](classify::classify) summarised as `cls`:
/// hands it to the stage its kind names. See the module documentation.
#[inline]
pub fn process<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    pkt: &mut B,
    cls: &Classified,
) -> Action {
    if cls.kind == Kind::Dropped {
        return Action::Drop;
    }
    if cls.kind == Kind::Arp {
        return local::arp(plane, local, cls.ingress, pkt);
    }
    // Drop Ethernet padding (or anything after the IP datagram).
    let extra = pkt.len().saturating_sub(ETH + cls.ip.total_len());
    if extra > 0 && !pkt.trim(extra) {
        return discard(local, DropReason::Truncated);
    }
    let ret = ReturnPath {
        port: cls.ingress,
        mac: cls.src_mac,
        tunnel: None,
        nat_port: 0,
    };
    match cls.kind {
        Kind::Local => local::deliver(plane, local, pkt, ret, &cls.ip),
        // A member that does not serve its shard forwards nothing (a reverse-tunnelled
        // registration still goes to the control lcore: `decap` checks `standby` after it).
        Kind::NatTunnel | Kind::Transit if local.standby => discard(local, DropReason::NotOwner),
        Kind::Tunnel => decap::decap(plane, local, tab, pkt, ret, &cls.ip, cls.inner.as_ref()),
        Kind::NatTunnel => decap::decap_nat(plane, local, tab, pkt, ret, cls),
        Kind::Transit | Kind::Dropped | Kind::Arp => {
            let role = plane.ports[cls.ingress as usize].role;
            forward::route(plane, local, tab, pkt, ret, Origin::Wire(role), &cls.ip)
        }
    }
}

/// Classifies and processes one received frame: [`classify`](classify::classify) then
/// [`process`], for callers that handle one packet at a time (tests, tools).
#[inline]
pub fn process_frame<B: PacketBuf, T: Bindings>(
    plane: &Plane,
    local: &mut WorkerLocal,
    tab: &T,
    ingress: u16,
    pkt: &mut B,
) -> Action {
    local.begin_burst(plane);
    let cls = classify::classify(plane, local.counters, ingress, pkt.data());
    let action = process(plane, local, tab, pkt, &cls);
    local.flush_counts();
    action
}
