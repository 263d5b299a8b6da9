//! What the benchmark sends: addresses, the bound population, packet templates,
//! the generator's per-packet rewrite, and checks of what the worker sent back.
//!
//! Every address here exists only in this process' memory: the ring-backed
//! ports are not connected to any network.

use rand::Rng;

/// Home pool of the benchmark: 10.0.0.0/8.
pub const POOL_ADDR: u32 = 0x0a00_0000;
/// Prefix length of [`POOL_ADDR`].
pub const POOL_LEN: u8 = 8;
/// WWAN-side port address (`IPmsm-gprs`), 192.0.2.129/29.
pub const WWAN_IP: u32 = 0xc000_0281;
/// WWAN-side next hop (the GGSN), 192.0.2.130.
pub const WWAN_GW: u32 = 0xc000_0282;
/// Internet-side port address (`IPmsm-wlan`, where tunnels end), 198.51.100.1/24.
pub const INET_IP: u32 = 0xc633_6401;
/// Internet-side next hop, 198.51.100.2.
pub const INET_GW: u32 = 0xc633_6402;
/// The correspondent: source of downlink, destination of uplink (203.0.113.10).
pub const SERVER: u32 = 0xcb00_710a;
/// MAC of the WWAN-side next hop (pre-resolved).
pub const WWAN_GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// MAC of the Internet-side next hop (pre-resolved).
pub const INET_GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Care-of addresses come from 198.18.0.0/15 (RFC 2544 benchmarking range).
const COA_NET: u32 = 0xc612_0000;
/// The MSM's UDP port for registrations and MIP Tunnel Data (RFC 3519).
pub const MIP_PORT: u16 = 434;
/// What the UDP tunnel adds to IP-in-IP: the UDP header and the 4-byte MIP Tunnel Data
/// header (type 4, next header 4 = IPv4, reserved).
const NAT_EXTRA: usize = 8 + 4;

/// Ethernet header length.
const ETH: usize = 14;
/// Headers the source writes: Ethernet + IPv4 + UDP (downlink), + outer IPv4 (uplink).
const DOWNLINK_HDR: usize = ETH + 20 + 8;
const UPLINK_HDR: usize = DOWNLINK_HDR + 20;
const NAT_UPLINK_HDR: usize = UPLINK_HDR + NAT_EXTRA;
/// Offset of the 8-byte TSC timestamp (first bytes of the UDP payload) in a
/// plain frame and in a tunnelled one.
pub const TS_PLAIN: usize = DOWNLINK_HDR;
pub const TS_TUNNELLED: usize = UPLINK_HDR;
/// ... and in a MIP Tunnel Data message (the UDP tunnel of RFC 3519).
pub const TS_NAT: usize = NAT_UPLINK_HDR;
/// Frame sizes are given as the mobile-side Ethernet frame including the FCS
/// (64 = the classic minimum frame); the tunnelled side is 20 bytes longer.
/// Limits: room for the timestamp, and the encapsulated packet within MTU 1500.
pub const MIN_FRAME: u16 = 64;
pub const MAX_FRAME: u16 = 1498;
/// Downlink frame of the 64-byte size: Ethernet + IPv4 + UDP + 18 bytes = 60
/// bytes in the mbuf (64 on the wire with FCS).
pub const DOWNLINK_LEN: usize = 60;
/// Uplink frame of the 64-byte size: the same inner packet in an IP-in-IP tunnel.
pub const UPLINK_LEN: usize = 80;
/// The "realistic mix" (IMIX-like): mobile-side frame sizes and their weights
/// (7:4:1 as in the classic simple IMIX, with 1400 instead of 1500 so that the
/// encapsulated packet fits MTU 1500), each size in both directions with
/// downlink : uplink = 2 : 1 (downlink-heavy, like mobile traffic).
pub const IMIX: [(u16, u32); 3] = [(64, 7), (576, 4), (1400, 1)];
pub const IMIX_DOWN_UP: (u32, u32) = (2, 1);

/// What the source emits: one frame size or the realistic mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frames {
    Fixed(u16),
    Imix,
}

impl Frames {
    pub fn label(self) -> String {
        match self {
            Frames::Fixed(b) => b.to_string(),
            Frames::Imix => "imix".into(),
        }
    }
    /// Mean mobile-side frame size (bytes incl. FCS) of what is emitted.
    pub fn mean_bytes(self) -> f64 {
        match self {
            Frames::Fixed(b) => f64::from(b),
            Frames::Imix => {
                let w: u32 = IMIX.iter().map(|x| x.1).sum();
                IMIX.iter()
                    .map(|&(b, n)| f64::from(b) * f64::from(n))
                    .sum::<f64>()
                    / f64::from(w)
            }
        }
    }
}

/// The templates and the cyclic pattern (indices into the templates) for
/// `traffic` with `frames`. The mix's pattern holds every (size, direction)
/// combination in proportion, in a random order.
pub fn templates(
    traffic: Traffic,
    frames: Frames,
    port_mac: [u8; 6],
    rng: &mut impl Rng,
) -> Result<(Vec<Template>, Vec<u8>), String> {
    match (traffic, frames) {
        (Traffic::Mix, _) => {
            let mut tpls = Vec::new();
            let mut pattern = Vec::new();
            for &(bytes, w) in &IMIX {
                for (dir, dw) in [
                    (Traffic::Downlink, IMIX_DOWN_UP.0),
                    (Traffic::Uplink, IMIX_DOWN_UP.1),
                ] {
                    let i = tpls.len() as u8;
                    tpls.push(Template::new(dir, bytes, port_mac)?);
                    pattern.extend(std::iter::repeat(i).take((w * dw) as usize));
                }
            }
            // Fisher-Yates with the benchmark's seeded RNG.
            for i in (1..pattern.len()).rev() {
                pattern.swap(i, rng.gen_range(0..=i));
            }
            Ok((tpls, pattern))
        }
        (_, Frames::Imix) => Err("the mix has its own sizes".into()),
        (dir, Frames::Fixed(b)) => Ok((vec![Template::new(dir, b, port_mac)?], vec![0])),
    }
}

/// The care-of address bound to `home`: a fixed hash into 198.18.0.0/15, so
/// the generator can compute it instead of looking it up.
#[inline(always)]
pub fn coa_of(home: u32) -> u32 {
    COA_NET | (home.wrapping_mul(0x9e37_79b1) >> 15)
}

/// The translated UDP port of `home` if it is bound behind a NAT (RFC 3519): a fixed
/// hash into 1024..=65023, so the generator can compute it.
#[inline(always)]
pub fn nat_port_of(home: u32) -> u16 {
    1024 + ((home.wrapping_mul(0x85eb_ca6b) >> 16) % 64_000) as u16
}

/// Whether `home` is one of the mobiles behind a NAT when a share `nat_share` (0..=1)
/// of the population is: a fixed hash of the address, so the table fill and the
/// generator agree without a list.
pub fn is_nat(home: u32, nat_share: f64) -> bool {
    f64::from(home.wrapping_mul(0xc2b2_ae35).rotate_left(7)) < nat_share * 4_294_967_296.0
}

/// `n` distinct random home addresses in the pool (network and broadcast
/// addresses excluded), in random order.
pub fn population(n: usize, rng: &mut impl Rng) -> Result<Vec<u32>, String> {
    let span: u32 = 1 << (32 - POOL_LEN);
    if n > (span - 2) as usize {
        return Err(format!("{n} bindings do not fit in a /{POOL_LEN} pool"));
    }
    let mut seen = vec![0u64; span as usize / 64];
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let off = rng.gen_range(1..span - 1);
        let (w, b) = ((off / 64) as usize, off % 64);
        if seen[w] & (1 << b) == 0 {
            seen[w] |= 1 << b;
            v.push(POOL_ADDR | off);
        }
    }
    Ok(v)
}

/// `len` homes drawn uniformly (with replacement) from `homes`: the
/// generator's destination sequence, precomputed so that producing a packet
/// costs one sequential 4-byte read.
pub fn sequence(homes: &[u32], len: usize, rng: &mut impl Rng) -> Vec<u32> {
    if homes.is_empty() {
        return Vec::new();
    }
    (0..len)
        .map(|_| homes[rng.gen_range(0..homes.len())])
        .collect()
}

/// The two workloads (and which template the harness baseline uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// UDP from [`SERVER`] to a bound home address, arriving on the Internet
    /// port: looked up and encapsulated toward its care-of address.
    Downlink,
    /// The reverse tunnel: IP-in-IP from a care-of address to `IPmsm-wlan`,
    /// inner source the home bound to that care-of address, inner
    /// destination [`SERVER`]: anti-spoofing lookup, decapsulated, forwarded.
    Uplink,
    /// Both, interleaved, with mixed sizes ([`IMIX`], [`IMIX_DOWN_UP`]).
    Mix,
    /// Downlink to a mobile behind a NAT: the same frames as [`Traffic::Downlink`],
    /// sent as MIP Tunnel Data (UDP `IPmsm-wlan:434 -> coa:port`, RFC 3519).
    NatDownlink,
    /// Uplink from a mobile behind a NAT: MIP Tunnel Data from `coa_of(home):
    /// nat_port_of(home)` to `IPmsm-wlan:434`, checked against address and port,
    /// decapsulated and forwarded.
    NatUplink,
}

impl Traffic {
    pub fn name(self) -> &'static str {
        match self {
            Traffic::Downlink => "downlink",
            Traffic::Uplink => "uplink",
            Traffic::Mix => "mix",
            Traffic::NatDownlink => "nat-downlink",
            Traffic::NatUplink => "nat-uplink",
        }
    }
}

/// One's-complement sum of the 16-bit big-endian words of `b` (not folded).
fn sum16(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

/// IPv4 header checksum from a partial sum plus one 32-bit address.
#[inline(always)]
fn csum_with(base: u32, addr: u32) -> u16 {
    let s = base + (addr >> 16) + (addr & 0xffff);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// Writes a 20-byte IPv4 header (checksum 0) into `h`.
fn ipv4_header(h: &mut [u8], total: usize, proto: u8, src: u32, dst: u32) {
    h[0] = 0x45;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[8] = 64; // TTL
    h[9] = proto;
    h[12..16].copy_from_slice(&src.to_be_bytes());
    h[16..20].copy_from_slice(&dst.to_be_bytes());
}

/// A ready-made frame (its headers) plus what changes per packet.
pub struct Template {
    traffic: Traffic,
    bytes: [u8; NAT_UPLINK_HDR],
    /// Frame length in the mbuf (no FCS).
    len: usize,
    /// Checksum partial sums of the IPv4 header(s) with the variable address 0:
    /// downlink: the header (dst varies); uplink: outer (src = CoA varies),
    /// inner (src = home varies); NAT uplink: the same (the UDP checksum is 0).
    base_a: u32,
    base_b: u32,
}

impl Template {
    /// The frame for `traffic` (downlink or uplink) whose mobile-side frame is
    /// `frame_bytes` long including the FCS (see [`MIN_FRAME`]), addressed to
    /// the Internet port's MAC `port_mac`.
    pub fn new(traffic: Traffic, frame_bytes: u16, port_mac: [u8; 6]) -> Result<Template, String> {
        if !(MIN_FRAME..=MAX_FRAME).contains(&frame_bytes) {
            return Err(format!(
                "frame size {frame_bytes}: must be {MIN_FRAME}..={MAX_FRAME}"
            ));
        }
        let nat = matches!(traffic, Traffic::NatDownlink | Traffic::NatUplink);
        if nat && usize::from(frame_bytes) > usize::from(MAX_FRAME) - NAT_EXTRA {
            // The MSM does not fragment UDP-tunnelled packets (`nat_frag_unsupported`).
            return Err(format!(
                "frame size {frame_bytes}: the UDP tunnel needs it <= {}",
                usize::from(MAX_FRAME) - NAT_EXTRA
            ));
        }
        let inner_len = usize::from(frame_bytes) - 4 - ETH;
        let mut b = [0u8; NAT_UPLINK_HDR];
        b[0..6].copy_from_slice(&port_mac);
        b[6..12].copy_from_slice(&INET_GW_MAC);
        b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        // The inner (or only) packet: UDP 40000 -> 5001, checksum 0 (none).
        let inner_at = match traffic {
            Traffic::Downlink | Traffic::NatDownlink => ETH,
            Traffic::Uplink => ETH + 20,
            Traffic::NatUplink => ETH + 20 + NAT_EXTRA,
            Traffic::Mix => return Err("a template is downlink or uplink".into()),
        };
        let (src, dst) = match traffic {
            Traffic::Downlink | Traffic::NatDownlink => (SERVER, 0),
            _ => (0, SERVER),
        };
        ipv4_header(&mut b[inner_at..inner_at + 20], inner_len, 17, src, dst);
        let udp = inner_at + 20;
        b[udp..udp + 2].copy_from_slice(&40000u16.to_be_bytes());
        b[udp + 2..udp + 4].copy_from_slice(&5001u16.to_be_bytes());
        b[udp + 4..udp + 6].copy_from_slice(&((inner_len - 20) as u16).to_be_bytes());
        let inner_sum = sum16(&b[inner_at..inner_at + 20]);
        Ok(match traffic {
            Traffic::Downlink | Traffic::NatDownlink => Template {
                traffic,
                bytes: b,
                len: ETH + inner_len,
                base_a: inner_sum,
                base_b: 0,
            },
            Traffic::NatUplink => {
                let outer_len = inner_len + 20 + NAT_EXTRA;
                ipv4_header(&mut b[ETH..ETH + 20], outer_len, 17, 0, INET_IP);
                // UDP (source port per home, checksum 0), then the MIP Tunnel Data header.
                let u = ETH + 20;
                b[u + 2..u + 4].copy_from_slice(&MIP_PORT.to_be_bytes());
                b[u + 4..u + 6].copy_from_slice(&((outer_len - 20) as u16).to_be_bytes());
                b[u + 8..u + 12].copy_from_slice(&[4, 4, 0, 0]);
                Template {
                    traffic,
                    base_a: sum16(&b[ETH..ETH + 20]),
                    bytes: b,
                    len: ETH + outer_len,
                    base_b: inner_sum,
                }
            }
            _ => {
                ipv4_header(&mut b[ETH..ETH + 20], inner_len + 20, 4, 0, INET_IP);
                Template {
                    traffic,
                    base_a: sum16(&b[ETH..ETH + 20]),
                    bytes: b,
                    len: ETH + 20 + inner_len,
                    base_b: inner_sum,
                }
            }
        })
    }

    /// Frame length in the mbuf.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes the headers of the frame for bound home address `home` into `d`
    /// (at least [`Template::len`] bytes): downlink to `home`; uplink from
    /// `home` through the tunnel from its care-of address. The payload is not
    /// written (nobody reads it) except for the 8-byte timestamp `ts`, if any,
    /// at its start.
    #[inline(always)]
    pub fn write(&self, d: &mut [u8], home: u32, ts: Option<u64>) {
        match self.traffic {
            Traffic::Uplink => {
                // Fixed-size copies: inlined moves, no memcpy call.
                d[..UPLINK_HDR].copy_from_slice(&self.bytes[..UPLINK_HDR]);
                let coa = coa_of(home);
                d[ETH + 12..ETH + 16].copy_from_slice(&coa.to_be_bytes());
                d[ETH + 10..ETH + 12].copy_from_slice(&csum_with(self.base_a, coa).to_be_bytes());
                let inner = ETH + 20;
                d[inner + 12..inner + 16].copy_from_slice(&home.to_be_bytes());
                d[inner + 10..inner + 12]
                    .copy_from_slice(&csum_with(self.base_b, home).to_be_bytes());
                if let Some(t) = ts {
                    d[TS_TUNNELLED..TS_TUNNELLED + 8].copy_from_slice(&t.to_le_bytes());
                }
            }
            Traffic::NatUplink => {
                d[..NAT_UPLINK_HDR].copy_from_slice(&self.bytes);
                let coa = coa_of(home);
                d[ETH + 12..ETH + 16].copy_from_slice(&coa.to_be_bytes());
                d[ETH + 10..ETH + 12].copy_from_slice(&csum_with(self.base_a, coa).to_be_bytes());
                d[ETH + 20..ETH + 22].copy_from_slice(&nat_port_of(home).to_be_bytes());
                let inner = ETH + 20 + NAT_EXTRA;
                d[inner + 12..inner + 16].copy_from_slice(&home.to_be_bytes());
                d[inner + 10..inner + 12]
                    .copy_from_slice(&csum_with(self.base_b, home).to_be_bytes());
                if let Some(t) = ts {
                    d[TS_NAT..TS_NAT + 8].copy_from_slice(&t.to_le_bytes());
                }
            }
            _ => {
                d[..DOWNLINK_HDR].copy_from_slice(&self.bytes[..DOWNLINK_HDR]);
                d[ETH + 16..ETH + 20].copy_from_slice(&home.to_be_bytes());
                d[ETH + 10..ETH + 12].copy_from_slice(&csum_with(self.base_a, home).to_be_bytes());
                if let Some(t) = ts {
                    d[TS_PLAIN..TS_PLAIN + 8].copy_from_slice(&t.to_le_bytes());
                }
            }
        }
    }
}

/// The care-of address a storm moves `home` to (and back).
#[inline(always)]
pub fn moved_coa(home: u32) -> u32 {
    coa_of(home) ^ 1
}

/// Offset of the timestamp in a frame the worker transmitted (tunnelled, UDP-tunnelled
/// from the MSM's port 434, or plain).
#[inline(always)]
pub fn ts_offset_out(d: &[u8]) -> usize {
    match d.get(ETH + 9) {
        Some(&4) => TS_TUNNELLED,
        Some(&17) if d.get(ETH + 20..ETH + 22) == Some(&MIP_PORT.to_be_bytes()[..]) => TS_NAT,
        _ => TS_PLAIN,
    }
}

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

fn header_ok(h: &[u8]) -> bool {
    h.len() >= 20 && h[0] == 0x45 && (sum16(&h[..20]) % 0xffff) == 0
}

/// What a correct worker sends back, checked on a sample of returned frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The MSM's downlink: `[eth to INET_GW][outer IPmsm-wlan -> coa_of(home)][inner, TTL 63]`.
    Encapsulated,
    /// The same while a storm moves bindings: care-of address `coa_of(home)`
    /// or [`moved_coa`]`(home)`.
    EncapsulatedMoving,
    /// The MSM's uplink: `[eth to INET_GW][inner home -> SERVER, TTL 63]`.
    Decapsulated,
    /// The mix: encapsulated or decapsulated (told apart by the IP protocol).
    Mixed,
    /// The MSM's downlink to a mobile behind a NAT: `[eth to INET_GW][outer IPmsm-wlan ->
    /// coa_of(home), UDP][UDP 434 -> nat_port_of(home)][4, 4, 0, 0][inner, TTL 63]`.
    NatEncapsulated,
    /// The harness' macswap worker: the downlink frame with its MACs swapped.
    MacSwapped,
}

impl Expect {
    /// Whether `d` (a frame the worker transmitted on the Internet port,
    /// whose MAC is `port_mac`) is what this workload must produce.
    pub fn check(self, d: &[u8], port_mac: [u8; 6]) -> bool {
        if d.len() < DOWNLINK_LEN {
            return false;
        }
        let eth_ok =
            |d: &[u8]| d[0..6] == INET_GW_MAC && d[6..12] == port_mac && d[12..14] == [8, 0];
        let total = |h: &[u8]| usize::from(u16::from_be_bytes([h[2], h[3]]));
        let encapsulated = |moving: bool| {
            d.len() >= UPLINK_LEN && eth_ok(d) && header_ok(&d[ETH..]) && d[ETH + 9] == 4 && {
                let inner = &d[ETH + 20..];
                let home = be32(inner, 16);
                let coa = be32(d, ETH + 16);
                be32(d, ETH + 12) == INET_IP
                    && (coa == coa_of(home) || (moving && coa == moved_coa(home)))
                    && total(&d[ETH..]) == d.len() - ETH
                    && header_ok(inner)
                    && total(inner) == d.len() - ETH - 20
                    && inner[8] == 63
                    && be32(inner, 12) == SERVER
            }
        };
        let decapsulated = || {
            eth_ok(d)
                && header_ok(&d[ETH..])
                && total(&d[ETH..]) == d.len() - ETH
                && d[ETH + 9] == 17
                && d[ETH + 8] == 63
                && be32(d, ETH + 12) >> (32 - POOL_LEN) == POOL_ADDR >> (32 - POOL_LEN)
                && be32(d, ETH + 16) == SERVER
        };
        let nat_encapsulated = || {
            let u = ETH + 20;
            let inner_at = u + NAT_EXTRA;
            d.len() >= inner_at + 28 && eth_ok(d) && header_ok(&d[ETH..]) && d[ETH + 9] == 17 && {
                let inner = &d[inner_at..];
                let home = be32(inner, 16);
                let port = |at: usize| u16::from_be_bytes([d[at], d[at + 1]]);
                be32(d, ETH + 12) == INET_IP
                    && be32(d, ETH + 16) == coa_of(home)
                    && total(&d[ETH..]) == d.len() - ETH
                    && port(u) == MIP_PORT
                    && port(u + 2) == nat_port_of(home)
                    && usize::from(port(u + 4)) == d.len() - u
                    && d[u + 8..u + 12] == [4, 4, 0, 0]
                    && header_ok(inner)
                    && total(inner) == d.len() - inner_at
                    && inner[8] == 63
                    && be32(inner, 12) == SERVER
            }
        };
        match self {
            Expect::NatEncapsulated => nat_encapsulated(),
            Expect::Encapsulated => encapsulated(false),
            Expect::EncapsulatedMoving => encapsulated(true),
            Expect::Decapsulated => decapsulated(),
            Expect::Mixed => {
                if d[ETH + 9] == 4 {
                    encapsulated(false)
                } else {
                    decapsulated()
                }
            }
            Expect::MacSwapped => {
                eth_ok(d) && d[ETH + 8] == 64 && total(&d[ETH..]) == d.len() - ETH
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msm::config::{Prefix, Role};
    use msm::dataplane::counters::{Counters, Event};
    use msm::dataplane::neigh::Neighbours;
    use msm::dataplane::pipeline::{
        self, Action, Bindings, NextHop, Plane, PortInfo, RateLimit, VecBuf, WorkerLocal,
    };
    use msm_table::Lookup;
    use rand::SeedableRng;

    const PORT_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0x01];

    /// Every home of the population is bound to `coa_of(home)`.
    struct AllBound;
    impl Bindings for AllBound {
        fn lookup(&self, home: u32) -> Lookup {
            if home >> 24 == 10 {
                Lookup::CareOf(coa_of(home))
            } else {
                Lookup::Miss
            }
        }
    }

    /// Every home of the population is bound behind a NAT to `coa_of(home):nat_port_of(home)`.
    struct NatBound;
    impl Bindings for NatBound {
        fn lookup(&self, home: u32) -> Lookup {
            if home >> 24 == 10 {
                Lookup::Nat {
                    addr: coa_of(home),
                    port: nat_port_of(home),
                }
            } else {
                Lookup::Miss
            }
        }
    }

    fn plane() -> Plane {
        let neigh = Neighbours::new(&[(0, WWAN_GW), (1, INET_GW)]);
        assert!(neigh.learn(0, WWAN_GW, WWAN_GW_MAC, 0));
        assert!(neigh.learn(1, INET_GW, INET_GW_MAC, 0));
        let port = |role, ip, mac| PortInfo {
            role,
            ip,
            mac,
            mtu: 1500,
        };
        Plane {
            ports: vec![
                port(Role::Wwan, WWAN_IP, [0x02, 0xaa, 0, 0, 0, 0]),
                port(Role::Internet, INET_IP, PORT_MAC),
            ],
            pools: vec![Prefix {
                addr: POOL_ADDR,
                len: POOL_LEN,
            }],
            msm_wlan: INET_IP,
            msm_gprs: WWAN_IP,
            to_internet: NextHop { port: 1, neigh: 1 },
            to_wwan: NextHop { port: 0, neigh: 0 },
            outer_ttl: 64,
            mss_max: Some(1440),
            neigh,
            standby: Default::default(),
        }
    }

    #[test]
    fn population_is_distinct_and_in_pool() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut p = population(50_000, &mut rng).unwrap();
        assert!(p
            .iter()
            .all(|&a| a >> 24 == 10 && a & 0xff_ffff != 0 && a & 0xff_ffff != 0xff_ffff));
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), 50_000);
        assert!(population(1 << 24, &mut rng).is_err());
        let s = sequence(&p, 1000, &mut rng);
        assert!(s.iter().all(|a| p.binary_search(a).is_ok()));
    }

    #[test]
    fn templates_have_valid_checksums() {
        for bytes in [64u16, 512, 1400] {
            for home in [0x0a00_0001, 0x0aff_fffe, 0x0a12_3456] {
                let t = Template::new(Traffic::Downlink, bytes, PORT_MAC).unwrap();
                assert_eq!(t.len(), usize::from(bytes) - 4);
                let mut d = vec![0u8; t.len()];
                t.write(&mut d, home, Some(0x1122_3344_5566_7788));
                let ip = msm_wire::Ipv4Packet::new_checked(&d[ETH..]).unwrap();
                assert!(ip.verify_checksum());
                assert_eq!(ip.dst_u32(), home);
                assert_eq!(usize::from(ip.total_len()), d.len() - ETH);
                assert_eq!(
                    d[TS_PLAIN..TS_PLAIN + 8],
                    0x1122_3344_5566_7788u64.to_le_bytes()
                );
                let t = Template::new(Traffic::Uplink, bytes, PORT_MAC).unwrap();
                assert_eq!(t.len(), usize::from(bytes) - 4 + 20);
                let mut u = vec![0u8; t.len()];
                t.write(&mut u, home, None);
                let outer = msm_wire::Ipv4Packet::new_checked(&u[ETH..]).unwrap();
                assert!(outer.verify_checksum());
                assert_eq!((outer.src_u32(), outer.dst_u32()), (coa_of(home), INET_IP));
                assert_eq!(usize::from(outer.total_len()), u.len() - ETH);
                let inner = msm_wire::Ipv4Packet::new_checked(&u[ETH + 20..]).unwrap();
                assert!(inner.verify_checksum());
                assert_eq!((inner.src_u32(), inner.dst_u32()), (home, SERVER));
            }
        }
        assert!(Template::new(Traffic::Downlink, 63, PORT_MAC).is_err());
        assert!(Template::new(Traffic::Downlink, MAX_FRAME + 1, PORT_MAC).is_err());
    }

    #[test]
    fn a_share_of_the_population_is_behind_a_nat() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let p = population(100_000, &mut rng).unwrap();
        let n = p.iter().filter(|&&h| is_nat(h, 0.25)).count();
        assert!((23_000..27_000).contains(&n), "{n} of 100000 behind a NAT");
        assert!(!p.iter().any(|&h| is_nat(h, 0.0)));
        assert!(p.iter().all(|&h| is_nat(h, 1.0)));
        assert!(p.iter().all(|&h| nat_port_of(h) >= 1024));
    }

    /// The UDP-tunnel templates take the NAT paths through the real pipeline; the
    /// checks accept what it produces; a wrong source port is dropped.
    #[test]
    fn pipeline_carries_the_nat_templates() {
        let plane = plane();
        let counters = Counters::default();
        let mut local = WorkerLocal::new(&plane, &counters, 0, RateLimit::new(100, 10, 1_000_000));
        let home = 0x0a01_0203;
        let mut run = |frame: &[u8]| {
            let mut buf = VecBuf::new(frame);
            let a = pipeline::process_frame(&plane, &mut local, &NatBound, 1, &mut buf);
            (a, pipeline::PacketBuf::data(&buf).to_vec())
        };
        for bytes in [64u16, 512, 1400] {
            let t = Template::new(Traffic::NatDownlink, bytes, PORT_MAC).unwrap();
            let mut frame = vec![0u8; t.len()];
            t.write(&mut frame, home, Some(42));
            let (a, out) = run(&frame);
            assert_eq!(a, Action::Tx(1));
            assert!(Expect::NatEncapsulated.check(&out, PORT_MAC), "{bytes}");
            assert!(!Expect::Encapsulated.check(&out, PORT_MAC));
            assert_eq!(out.len(), frame.len() + 20 + NAT_EXTRA);
            let at = ts_offset_out(&out);
            assert_eq!((at, &out[at..at + 8]), (TS_NAT, &42u64.to_le_bytes()[..]));

            let t = Template::new(Traffic::NatUplink, bytes, PORT_MAC).unwrap();
            assert_eq!(t.len(), usize::from(bytes) - 4 + 20 + NAT_EXTRA);
            let mut frame = vec![0u8; t.len()];
            t.write(&mut frame, home, Some(43));
            let outer = msm_wire::Ipv4Packet::new_checked(&frame[ETH..]).unwrap();
            assert!(outer.verify_checksum());
            assert_eq!((outer.src_u32(), outer.dst_u32()), (coa_of(home), INET_IP));
            let (a, out) = run(&frame);
            assert_eq!(a, Action::Tx(1));
            assert!(Expect::Decapsulated.check(&out, PORT_MAC), "{bytes}");
            let at = ts_offset_out(&out);
            assert_eq!(out[at..at + 8], 43u64.to_le_bytes());
            // Another source port than the bound one: spoofed, dropped.
            frame[ETH + 21] ^= 1;
            assert_eq!(run(&frame).0, Action::Drop);
        }
        assert_eq!(counters.get_event(Event::DownlinkNat), 3);
        assert_eq!(counters.get_event(Event::UplinkNat), 3);
        assert_eq!(counters.total_drops(), 3);
        assert!(Template::new(Traffic::NatUplink, MAX_FRAME, PORT_MAC).is_err());
    }

    #[test]
    fn the_mix_has_its_proportions() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (tpls, pattern) = templates(Traffic::Mix, Frames::Imix, PORT_MAC, &mut rng).unwrap();
        assert_eq!(tpls.len(), 6);
        assert_eq!(pattern.len(), 36);
        let down: usize = pattern
            .iter()
            .filter(|&&i| tpls[usize::from(i)].traffic == Traffic::Downlink)
            .count();
        assert_eq!(down, 24);
        let small = pattern
            .iter()
            .filter(|&&i| matches!(tpls[usize::from(i)].len(), 60 | 80))
            .count();
        assert_eq!(small, 21);
        assert!(
            (Frames::Imix.mean_bytes() - (7.0 * 64.0 + 4.0 * 576.0 + 1400.0) / 12.0).abs() < 1e-9
        );
    }

    /// The templates take the paths the benchmark claims to measure through
    /// the real pipeline, the output checks accept what it produces, and the
    /// timestamp arrives where the tx side reads it.
    #[test]
    fn pipeline_encapsulates_and_decapsulates_the_templates() {
        let plane = plane();
        let counters = Counters::default();
        let mut local = WorkerLocal::new(&plane, &counters, 0, RateLimit::new(100, 10, 1_000_000));
        let home = 0x0a01_0203;
        for bytes in [64u16, 512, 1400] {
            for (traffic, expect) in [
                (Traffic::Downlink, Expect::Encapsulated),
                (Traffic::Uplink, Expect::Decapsulated),
                (Traffic::Downlink, Expect::Mixed),
                (Traffic::Uplink, Expect::Mixed),
            ] {
                let t = Template::new(traffic, bytes, PORT_MAC).unwrap();
                let mut frame = vec![0u8; t.len()];
                t.write(&mut frame, home, Some(42));
                let mut buf = VecBuf::new(&frame);
                assert_eq!(
                    pipeline::process_frame(&plane, &mut local, &AllBound, 1, &mut buf),
                    Action::Tx(1)
                );
                let out = pipeline::PacketBuf::data(&buf);
                assert!(expect.check(out, PORT_MAC), "{traffic:?} {bytes}");
                let at = ts_offset_out(out);
                assert_eq!(out[at..at + 8], 42u64.to_le_bytes());
                assert!(
                    !expect.check(&frame, PORT_MAC),
                    "input must not pass as output"
                );
            }
        }
        assert_eq!(counters.total_drops(), 0);
        // The storm's check accepts the moved care-of address; the plain one does not.
        let t = Template::new(Traffic::Downlink, 64, PORT_MAC).unwrap();
        let mut frame = vec![0u8; t.len()];
        t.write(&mut frame, home, None);
        let mut buf = VecBuf::new(&frame);
        pipeline::process_frame(&plane, &mut local, &AllBound, 1, &mut buf);
        let mut out = pipeline::PacketBuf::data(&buf).to_vec();
        out[ETH + 19] ^= 1;
        out[ETH + 10..ETH + 12].fill(0);
        let c = csum_with(sum16(&out[ETH..ETH + 20]), 0);
        out[ETH + 10..ETH + 12].copy_from_slice(&c.to_be_bytes());
        assert!(!Expect::Encapsulated.check(&out, PORT_MAC));
        assert!(Expect::EncapsulatedMoving.check(&out, PORT_MAC));
        // A spoofed tunnel (wrong care-of address) is dropped, not forwarded.
        let t = Template::new(Traffic::Uplink, 64, PORT_MAC).unwrap();
        let mut frame = vec![0u8; t.len()];
        t.write(&mut frame, home, None);
        frame[ETH + 15] ^= 1;
        frame[ETH + 10..ETH + 12].fill(0); // recompute the outer checksum
        let c = csum_with(sum16(&frame[ETH..ETH + 20]), 0);
        frame[ETH + 10..ETH + 12].copy_from_slice(&c.to_be_bytes());
        let mut buf = VecBuf::new(&frame);
        assert_eq!(
            pipeline::process_frame(&plane, &mut local, &AllBound, 1, &mut buf),
            Action::Drop
        );
        // The macswap check.
        let mut d = [0u8; DOWNLINK_LEN];
        Template::new(Traffic::Downlink, 64, PORT_MAC)
            .unwrap()
            .write(&mut d, home, None);
        assert!(!Expect::MacSwapped.check(&d, PORT_MAC));
        let (a, b) = d.split_at_mut(6);
        a.swap_with_slice(&mut b[..6]);
        assert!(Expect::MacSwapped.check(&d, PORT_MAC));
    }
}
