//! Per-worker counters: every forwarding decision and every drop reason.
//!
//! Each worker owns one [`Counters`] (cache-line aligned, never shared for writing). The
//! worker is the only writer, so an increment is a relaxed load + store (a plain `add`
//! on x86), never an atomic read-modify-write; the control lcore reads them with relaxed
//! loads for the stats dump. A reader may see a count one burst late, never a torn one.
//!
//! [`Event`] and [`DropReason`] list their entries grouped by the stage (file) that
//! counts them; the names are the keys of `msm ctl stats` and of the benchmarks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A `#[repr(usize)]` enum of named entries with `ALL`, `COUNT` and `name()`: the counters
/// here and the stage counters of `instrument.rs`.
macro_rules! counter_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum $name { $($(#[$vm])* $v,)* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub const COUNT: usize = Self::ALL.len();
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }
    };
}
pub(crate) use counter_enum;

counter_enum! {
    /// What a worker did with a packet (or an extra packet it produced), grouped by the
    /// stage that counts it.
    Event {
        // worker.rs: the poll loop.
        RxPackets = "rx_packets",
        RxBytes = "rx_bytes",
        TxPackets = "tx_packets",
        Bursts = "bursts",
        // forward.rs: routing and encapsulation.
        /// Downlink encapsulated toward a care-of address.
        DownlinkTunnel = "downlink_tunnel",
        /// Downlink sent as a MIP Tunnel Data message to a mobile behind a NAT
        /// (RFC 3519).
        DownlinkNat = "downlink_nat",
        /// Downlink forwarded unencapsulated to the WWAN (no binding or no care-of).
        DownlinkWwan = "downlink_wwan",
        /// Uplink from the WWAN forwarded to the Internet.
        UplinkWwan = "uplink_wwan",
        /// Decapsulated packet whose destination is another mobile.
        MobileToMobile = "mobile_to_mobile",
        MssClamped = "mss_clamped",
        /// Too big for the egress MTU without DF: handed to fragmentation.
        Fragmented = "fragmented",
        // decap.rs: the reverse tunnel.
        /// Reverse-tunnelled uplink accepted and decapsulated.
        UplinkTunnel = "uplink_tunnel",
        /// MIP Tunnel Data message (RFC 3519) from a mobile behind a NAT accepted and
        /// decapsulated.
        UplinkNat = "uplink_nat",
        // local.rs: ARP, echo, registrations (also decap.rs for tunnelled registrations).
        ArpReplied = "arp_replied",
        ArpToControl = "arp_to_control",
        /// ARP from a next hop with a MAC different from the one it had (learned; the
        /// control lcore logs it).
        NeighbourMacChanges = "neighbour_mac_changes",
        /// ARP from a static next hop (`gateway_mac`) with a different MAC: ignored.
        NeighbourStaticOverrides = "neighbour_static_overrides",
        EchoReplied = "icmp_echo_replied",
        ControlHanded = "control_handed",
        // icmp.rs: ICMP errors.
        IcmpTimeExceededSent = "icmp_time_exceeded_sent",
        IcmpFragNeededSent = "icmp_frag_needed_sent",
        /// ICMP error suppressed by the rate limit (the packet itself is counted as a drop).
        IcmpRateLimited = "icmp_rate_limited",
        // frag.rs: fragmentation.
        FragmentsOut = "fragments_out",
    }
}

counter_enum! {
    /// Why a packet was dropped, grouped by the stage that counts it (a few reasons are
    /// also counted by a later stage: said on the reason).
    DropReason {
        // worker.rs: the poll loop, before classification and after processing.
        /// Chained (multi-segment) mbuf: not supported on this path.
        MultiSegment = "multi_segment",
        /// A stage asked to transmit on a port this worker has no tx queue for.
        UnknownTxPort = "unknown_tx_port",
        /// The NIC's tx queue did not take the packet.
        TxFull = "tx_full",
        /// The ring to the control lcore was full.
        ControlRingFull = "control_ring_full",
        // classify.rs: Ethernet and IPv4 headers.
        /// Received on a port the data plane does not know.
        UnknownIngressPort = "unknown_ingress_port",
        /// Ethernet destination neither our MAC nor broadcast.
        NotOurMac = "not_our_mac",
        /// Neither IPv4 nor ARP.
        Ethertype = "unsupported_ethertype",
        /// Frame shorter than its headers say. Also local.rs: an echo request too short
        /// to answer.
        Truncated = "truncated",
        /// Not IPv4, bad IHL, total length inconsistent.
        BadIpHeader = "bad_ip_header",
        BadIpChecksum = "bad_ip_checksum",
        /// Source is a martian (0/8, 127/8, multicast, broadcast, one of ours).
        MartianSource = "martian_source",
        /// Destination multicast/broadcast/0.0.0.0. Also decap.rs, for the inner
        /// destination.
        MartianDestination = "martian_destination",
        // local.rs: packets to us.
        /// Addressed to us but not ICMP echo, UDP 434 or IP-in-IP. Also decap.rs: a
        /// tunnel inside the tunnel.
        LocalUnsupported = "local_unsupported",
        /// ICMP error (unreachable, time exceeded, ...) addressed to us: informational,
        /// e.g. a care-of host's kernel refusing tunnelled packets.
        IcmpErrorToUs = "icmp_error_to_us",
        /// Fragment addressed to us (no reassembly on the data path).
        LocalFragment = "local_fragment",
        /// ARP that is neither a request for our address nor a reply to us.
        ArpIgnored = "arp_ignored",
        BadArp = "bad_arp",
        /// ARP request for our address on a member that does not serve its shard now
        /// (clustered: a standby, or an owner past its lease's local deadline).
        ArpNotOwner = "arp_not_owner",
        // pipeline.rs / decap.rs: a member that does not serve its shard.
        /// Data-path traffic (downlink, uplink, reverse-tunnelled IP-in-IP, MIP Tunnel
        /// Data) on a member that does not serve its shard now (clustered: a standby, or
        /// an owner past its lease's local deadline): only the owner forwards. Registrations
        /// still go to the control lcore (which does not answer them on such a member).
        NotOwner = "not_owner",
        // classify.rs: MIP Tunnel Data messages (RFC 3519).
        /// MIP Tunnel Data message whose UDP length disagrees with the IP length, or too
        /// short for the 4-byte header.
        NatBadHeader = "nat_bad_header",
        /// MIP Tunnel Data message whose next header is not IPv4 (4): GRE and minimal
        /// encapsulation are not supported.
        NatNextHeader = "nat_unknown_next_header",
        // decap.rs: the reverse tunnel.
        /// IP-in-IP to `IPmsm-wlan` that is itself a fragment (no reassembly on the data
        /// path).
        TunnelFragment = "tunnel_fragment",
        /// IP-in-IP (or a MIP Tunnel Data message) to us from the WWAN side.
        TunnelWrongSide = "tunnel_wrong_side",
        /// IP-in-IP (or a MIP Tunnel Data message) to us whose inner packet is malformed.
        BadInnerPacket = "bad_inner_packet",
        /// Reverse-tunnelled packet whose outer source is not the care-of address bound
        /// to its inner source.
        SpoofedTunnel = "spoofed_tunnel",
        /// MIP Tunnel Data message whose inner source has no NAT binding (no binding, or
        /// one with a plain care-of address).
        NatNoBinding = "nat_uplink_no_binding",
        /// MIP Tunnel Data message whose outer source address or UDP source port is not
        /// the NAT address:port bound to its inner source.
        NatSpoofed = "nat_uplink_spoofed",
        /// Reverse-tunnelled packet whose outer header is marked CE (congestion
        /// experienced) around a Not-ECT inner packet (RFC 6040: the mark cannot be
        /// passed on).
        EcnCeNotEct = "ecn_ce_not_ect",
        // forward.rs: routing and encapsulation.
        /// Not ours, not in the home pool, and not an uplink from the WWAN.
        UnknownDestination = "unknown_destination",
        TtlExpired = "ttl_expired",
        /// Too big for the egress MTU with DF set (answered with ICMP frag-needed). Also
        /// an answer to a tunnelled packet too big to go back through the tunnel.
        FragNeeded = "frag_needed",
        /// Next hop's MAC address not resolved yet.
        NeighbourUnresolved = "neighbour_unresolved",
        /// No room in the mbuf to prepend the tunnel header.
        NoHeadroom = "no_headroom",
        /// Downlink to a NAT binding too big for the MTU once UDP-tunnelled, without DF
        /// (fragmentation of UDP-tunnelled packets is not implemented).
        NatFragUnsupported = "nat_frag_unsupported",
        // frag.rs: fragmentation.
        /// Fragmentation needed but no mbuf was available.
        FragNoBuffer = "frag_no_buffer",
    }
}

/// One worker's counters. Written only by its worker.
#[repr(C, align(64))]
pub struct Counters {
    events: [AtomicU64; Event::COUNT],
    drops: [AtomicU64; DropReason::COUNT],
    /// Per-stage cycle counters (only with the `stage-cycles` feature; see `instrument.rs`).
    #[cfg(feature = "stage-cycles")]
    pub(crate) stages: crate::dataplane::instrument::StageCounters,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            events: std::array::from_fn(|_| AtomicU64::new(0)),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            #[cfg(feature = "stage-cycles")]
            stages: Default::default(),
        }
    }
}

#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    // Single writer: load + store, not fetch_add (no locked instruction on the data path).
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl Counters {
    #[inline(always)]
    pub fn event(&self, e: Event) {
        bump(&self.events[e as usize], 1);
    }
    #[inline(always)]
    pub fn event_n(&self, e: Event, n: u64) {
        bump(&self.events[e as usize], n);
    }
    #[inline(always)]
    pub fn count_drop(&self, d: DropReason) {
        bump(&self.drops[d as usize], 1);
    }
    #[inline(always)]
    pub fn count_drop_n(&self, d: DropReason, n: u64) {
        bump(&self.drops[d as usize], n);
    }
    pub fn get_event(&self, e: Event) -> u64 {
        self.events[e as usize].load(Relaxed)
    }
    pub fn get_drop(&self, d: DropReason) -> u64 {
        self.drops[d as usize].load(Relaxed)
    }
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|c| c.load(Relaxed)).sum()
    }
    /// (name, value) of every counter, events then drops (prefixed `drop_`).
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = Event::ALL
            .iter()
            .map(|e| (e.name().to_string(), self.get_event(*e)))
            .collect();
        v.extend(
            DropReason::ALL
                .iter()
                .map(|d| (format!("drop_{}", d.name()), self.get_drop(*d))),
        );
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_names_are_distinct() {
        let c = Counters::default();
        c.count_drop(DropReason::SpoofedTunnel);
        c.count_drop_n(DropReason::SpoofedTunnel, 2);
        c.event(Event::DownlinkTunnel);
        assert_eq!(c.get_drop(DropReason::SpoofedTunnel), 3);
        assert_eq!(c.total_drops(), 3);
        let snap = c.snapshot();
        assert_eq!(snap.len(), Event::COUNT + DropReason::COUNT);
        let mut names: Vec<_> = snap.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), snap.len(), "counter names must be unique");
        assert!(snap.contains(&("downlink_tunnel".to_string(), 1)));
    }
}
