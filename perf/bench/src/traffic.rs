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

/// Ethernet header length.
const ETH: usize = 14;
/// Downlink frame: Ethernet + IPv4 + UDP + 18 bytes = 60 bytes (64 on the wire with FCS).
pub const DOWNLINK_LEN: usize = 60;
/// Uplink frame: the same inner packet (46 bytes) in an IP-in-IP tunnel: 80 bytes.
pub const UPLINK_LEN: usize = 80;
/// Inner IP packet length (IPv4 + UDP + payload).
const INNER_LEN: usize = DOWNLINK_LEN - ETH;

/// The care-of address bound to `home`: a fixed hash into 198.18.0.0/15, so
/// the generator can compute it instead of looking it up.
#[inline(always)]
pub fn coa_of(home: u32) -> u32 {
    COA_NET | (home.wrapping_mul(0x9e37_79b1) >> 15)
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
}

impl Traffic {
    pub fn name(self) -> &'static str {
        match self {
            Traffic::Downlink => "downlink",
            Traffic::Uplink => "uplink",
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

/// A ready-made frame plus what changes per packet.
pub struct Template {
    traffic: Traffic,
    bytes: [u8; UPLINK_LEN],
    len: usize,
    /// Checksum partial sums of the IPv4 header(s) with the variable address 0:
    /// downlink: the header (dst varies); uplink: outer (src = CoA varies),
    /// inner (src = home varies).
    base_a: u32,
    base_b: u32,
}

impl Template {
    /// The frame for `traffic`, addressed to the Internet port's MAC `port_mac`.
    pub fn new(traffic: Traffic, port_mac: [u8; 6]) -> Template {
        let mut b = [0u8; UPLINK_LEN];
        b[0..6].copy_from_slice(&port_mac);
        b[6..12].copy_from_slice(&INET_GW_MAC);
        b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        // The inner (or only) packet: UDP 40000 -> 5001, checksum 0 (none).
        let inner_at = match traffic {
            Traffic::Downlink => ETH,
            Traffic::Uplink => ETH + 20,
        };
        let (src, dst) = match traffic {
            Traffic::Downlink => (SERVER, 0),
            Traffic::Uplink => (0, SERVER),
        };
        ipv4_header(&mut b[inner_at..inner_at + 20], INNER_LEN, 17, src, dst);
        let udp = inner_at + 20;
        b[udp..udp + 2].copy_from_slice(&40000u16.to_be_bytes());
        b[udp + 2..udp + 4].copy_from_slice(&5001u16.to_be_bytes());
        b[udp + 4..udp + 6].copy_from_slice(&((INNER_LEN - 20) as u16).to_be_bytes());
        let inner_sum = sum16(&b[inner_at..inner_at + 20]);
        match traffic {
            Traffic::Downlink => Template {
                traffic,
                bytes: b,
                len: DOWNLINK_LEN,
                base_a: inner_sum,
                base_b: 0,
            },
            Traffic::Uplink => {
                ipv4_header(&mut b[ETH..ETH + 20], UPLINK_LEN - ETH, 4, 0, INET_IP);
                Template {
                    traffic,
                    base_a: sum16(&b[ETH..ETH + 20]),
                    bytes: b,
                    len: UPLINK_LEN,
                    base_b: inner_sum,
                }
            }
        }
    }

    /// Frame length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes the frame for bound home address `home` into `d` (at least
    /// [`Template::len`] bytes): downlink to `home`; uplink from `home`
    /// through the tunnel from its care-of address.
    #[inline(always)]
    pub fn write(&self, d: &mut [u8], home: u32) {
        match self.traffic {
            Traffic::Downlink => {
                // Fixed-size copies: inlined moves, no memcpy call.
                d[..DOWNLINK_LEN].copy_from_slice(&self.bytes[..DOWNLINK_LEN]);
                d[ETH + 16..ETH + 20].copy_from_slice(&home.to_be_bytes());
                d[ETH + 10..ETH + 12].copy_from_slice(&csum_with(self.base_a, home).to_be_bytes());
            }
            Traffic::Uplink => {
                d[..UPLINK_LEN].copy_from_slice(&self.bytes);
                let coa = coa_of(home);
                d[ETH + 12..ETH + 16].copy_from_slice(&coa.to_be_bytes());
                d[ETH + 10..ETH + 12].copy_from_slice(&csum_with(self.base_a, coa).to_be_bytes());
                let inner = ETH + 20;
                d[inner + 12..inner + 16].copy_from_slice(&home.to_be_bytes());
                d[inner + 10..inner + 12]
                    .copy_from_slice(&csum_with(self.base_b, home).to_be_bytes());
            }
        }
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
    /// The MSM's uplink: `[eth to INET_GW][inner home -> SERVER, TTL 63]`.
    Decapsulated,
    /// The harness' macswap worker: the downlink frame with its MACs swapped.
    MacSwapped,
}

impl Expect {
    /// Whether `d` (a frame the worker transmitted on the Internet port,
    /// whose MAC is `port_mac`) is what this workload must produce.
    pub fn check(self, d: &[u8], port_mac: [u8; 6]) -> bool {
        let eth_ok =
            |d: &[u8]| d[0..6] == INET_GW_MAC && d[6..12] == port_mac && d[12..14] == [8, 0];
        match self {
            Expect::Encapsulated => {
                d.len() == UPLINK_LEN && eth_ok(d) && header_ok(&d[ETH..]) && d[ETH + 9] == 4 && {
                    let inner = &d[ETH + 20..];
                    be32(d, ETH + 12) == INET_IP
                        && be32(d, ETH + 16) == coa_of(be32(inner, 16))
                        && header_ok(inner)
                        && inner[8] == 63
                        && be32(inner, 12) == SERVER
                }
            }
            Expect::Decapsulated => {
                d.len() == DOWNLINK_LEN
                    && eth_ok(d)
                    && header_ok(&d[ETH..])
                    && d[ETH + 8] == 63
                    && be32(d, ETH + 12) >> (32 - POOL_LEN) == POOL_ADDR >> (32 - POOL_LEN)
                    && be32(d, ETH + 16) == SERVER
            }
            Expect::MacSwapped => d.len() == DOWNLINK_LEN && eth_ok(d) && d[ETH + 8] == 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msm::config::{Prefix, Role};
    use msm::counters::Counters;
    use msm::neigh::Neighbours;
    use msm::pipeline::{
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
        for home in [0x0a00_0001, 0x0aff_fffe, 0x0a12_3456] {
            let mut d = [0u8; DOWNLINK_LEN];
            Template::new(Traffic::Downlink, PORT_MAC).write(&mut d, home);
            let ip = msm_wire::Ipv4Packet::new_checked(&d[ETH..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(ip.dst_u32(), home);
            let mut u = [0u8; UPLINK_LEN];
            Template::new(Traffic::Uplink, PORT_MAC).write(&mut u, home);
            let outer = msm_wire::Ipv4Packet::new_checked(&u[ETH..]).unwrap();
            assert!(outer.verify_checksum());
            assert_eq!((outer.src_u32(), outer.dst_u32()), (coa_of(home), INET_IP));
            let inner = msm_wire::Ipv4Packet::new_checked(&u[ETH + 20..]).unwrap();
            assert!(inner.verify_checksum());
            assert_eq!((inner.src_u32(), inner.dst_u32()), (home, SERVER));
        }
    }

    /// The templates take the paths the benchmark claims to measure through
    /// the real pipeline, and the output checks accept what it produces.
    #[test]
    fn pipeline_encapsulates_and_decapsulates_the_templates() {
        let plane = plane();
        let counters = Counters::default();
        let mut local = WorkerLocal {
            counters: &counters,
            ip_id: 0,
            icmp: RateLimit::new(100, 10, 1_000_000),
            now: 0,
            now_s: 0,
        };
        let home = 0x0a01_0203;
        for (traffic, expect) in [
            (Traffic::Downlink, Expect::Encapsulated),
            (Traffic::Uplink, Expect::Decapsulated),
        ] {
            let t = Template::new(traffic, PORT_MAC);
            let mut frame = vec![0u8; t.len()];
            t.write(&mut frame, home);
            let mut buf = VecBuf::new(&frame);
            assert_eq!(
                pipeline::process(&plane, &mut local, &AllBound, 1, &mut buf),
                Action::Tx(1)
            );
            assert!(
                expect.check(pipeline::PacketBuf::data(&buf), PORT_MAC),
                "{traffic:?}"
            );
            assert!(
                !expect.check(&frame, PORT_MAC),
                "input must not pass as output"
            );
        }
        assert_eq!(counters.total_drops(), 0);
        // A spoofed tunnel (wrong care-of address) is dropped, not forwarded.
        let t = Template::new(Traffic::Uplink, PORT_MAC);
        let mut frame = vec![0u8; t.len()];
        t.write(&mut frame, home);
        frame[ETH + 15] ^= 1;
        frame[ETH + 10..ETH + 12].fill(0); // recompute the outer checksum
        let c = csum_with(sum16(&frame[ETH..ETH + 20]), 0);
        frame[ETH + 10..ETH + 12].copy_from_slice(&c.to_be_bytes());
        let mut buf = VecBuf::new(&frame);
        assert_eq!(
            pipeline::process(&plane, &mut local, &AllBound, 1, &mut buf),
            Action::Drop
        );
        // The macswap check.
        let mut d = [0u8; DOWNLINK_LEN];
        Template::new(Traffic::Downlink, PORT_MAC).write(&mut d, home);
        assert!(!Expect::MacSwapped.check(&d, PORT_MAC));
        let (a, b) = d.split_at_mut(6);
        a.swap_with_slice(&mut b[..6]);
        assert!(Expect::MacSwapped.check(&d, PORT_MAC));
    }
}
