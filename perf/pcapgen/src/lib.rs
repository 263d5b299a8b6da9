//! Workload pcaps for replaying against the MSM on a real testbed (pktgen-dpdk, TRex) or
//! through DPDK's `net_pcap` vdev, plus the provisioning files that make the MSM under
//! test accept that traffic.
//!
//! Three workloads (PROTOCOL.md):
//!
//! * **downlink**: UDP from a correspondent to home addresses drawn uniformly (with
//!   replacement) over the bound population; the MSM tunnels each packet to the bound
//!   care-of address (IP-in-IP, `IPmsm-wlan -> care-of`);
//! * **uplink**: reverse-tunnelled IP-in-IP from each subscriber's care-of address to
//!   `IPmsm-wlan`, carrying UDP from the matching home address to the correspondent; the
//!   MSM checks the care-of address against the binding and decapsulates;
//! * **registrations**: a storm of Mobile IPv4 Registration Requests (UDP 434) with valid
//!   HMAC-SHA-256 MN-HA authenticators and NTP-timestamp Identifications, one (or more
//!   rounds) per subscriber, by any of the three paths of PROTOCOL.md section 1.
//!
//! Everything is derived from a seed (`ChaCha8Rng`), so the same parameters give
//! byte-identical files. Frames are built and checksummed with `msm-wire`, requests with
//! `msm-mip`'s [`RequestBuilder`](msm_mip::RequestBuilder).
//!
//! Frame sizes follow the RFC 2544 convention: the size of the Ethernet frame including
//! its 4-byte FCS, so a "64-byte" frame is 60 bytes in the pcap. For both data workloads
//! the size is that of the *user* frame (untunnelled); the tunnelled side is 20 bytes
//! longer (downlink: 64 in, 84 out; uplink: 84 in, 64 out).

pub mod frames;
pub mod gen;
pub mod verify;

use anyhow::{bail, Context, Result};
use rand::seq::index;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 prefix `a.b.c.d/len` (host bits must be zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// Network address, host order.
    pub net: u32,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Prefix {
    /// The netmask, host order.
    pub fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }

    /// Whether `a` (host order) is inside.
    pub fn contains(&self, a: u32) -> bool {
        a & self.mask() == self.net
    }

    /// Whether the two prefixes share an address.
    pub fn overlaps(&self, o: &Prefix) -> bool {
        self.contains(o.net) || o.contains(self.net)
    }

    /// Number of usable host addresses (network and broadcast excluded up to /30).
    pub fn hosts(&self) -> u64 {
        let size = 1u64 << (32 - u32::from(self.len));
        if self.len <= 30 {
            size - 2
        } else {
            size
        }
    }

    /// The `i`-th usable host address (`i < hosts()`), host order.
    pub fn host(&self, i: u64) -> u32 {
        let skip = u64::from(self.len <= 30);
        self.net.wrapping_add((i + skip) as u32)
    }
}

impl FromStr for Prefix {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Prefix> {
        let (a, l) = s
            .split_once('/')
            .with_context(|| format!("prefix '{s}': want a.b.c.d/len"))?;
        let a: Ipv4Addr = a
            .parse()
            .with_context(|| format!("prefix '{s}': bad address"))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .with_context(|| format!("prefix '{s}': bad length"))?;
        let p = Prefix {
            net: u32::from(a),
            len,
        };
        if p.net & !p.mask() != 0 {
            bail!("prefix '{s}': host bits set");
        }
        Ok(p)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.net), self.len)
    }
}

/// A MAC address `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Mac> {
        let mut m = [0u8; 6];
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            bail!("MAC '{s}': want six hex bytes aa:bb:cc:dd:ee:ff");
        }
        for (o, p) in m.iter_mut().zip(parts) {
            *o = u8::from_str_radix(p, 16).with_context(|| format!("MAC '{s}': bad byte '{p}'"))?;
        }
        Ok(Mac(m))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Length of the generated MN-HA keys (HMAC-SHA-256, the subscriber file allows 16..=32).
pub const KEY_LEN: usize = 32;

/// One generated subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// E.164 digits.
    pub msisdn: u64,
    /// Home address, host order.
    pub home: u32,
    /// Care-of address, host order.
    pub coa: u32,
    /// SPI (>= 256).
    pub spi: u32,
    /// MN-HA shared key.
    pub key: [u8; KEY_LEN],
}

/// Parameters of the subscriber population.
#[derive(Debug, Clone)]
pub struct PopulationSpec {
    /// Number of subscribers.
    pub n: usize,
    /// Seed of everything random.
    pub seed: u64,
    /// Home addresses are drawn (distinct) from here: one of the MSM's `[home] pools`.
    pub home_pool: Prefix,
    /// Care-of addresses are drawn (distinct) from here.
    pub coa_pool: Prefix,
    /// MSISDN of subscriber 0; subscriber `i` gets `msisdn_base + i`.
    pub msisdn_base: u64,
    /// SPI of every subscriber (>= 256).
    pub spi: u32,
    /// Addresses never to hand out (the MSM's own, its gateways, the correspondent).
    pub exclude: Vec<u32>,
}

/// The subscriber population: who is provisioned, bound where, with which key.
#[derive(Debug, Clone)]
pub struct Population {
    /// In generation order (homes and care-of addresses in random order).
    pub subs: Vec<Subscriber>,
}

/// The largest MSISDN (15 digits).
pub const MAX_MSISDN: u64 = 999_999_999_999_999;

fn distinct(rng: &mut ChaCha8Rng, pool: &Prefix, n: usize, exclude: &[u32]) -> Result<Vec<u32>> {
    let hosts = pool.hosts();
    let bad: Vec<u32> = exclude
        .iter()
        .copied()
        .filter(|a| pool.contains(*a))
        .collect();
    let want = n + bad.len();
    if want as u64 > hosts || hosts > usize::MAX as u64 {
        bail!(
            "{pool} has {hosts} usable addresses ({} excluded): cannot draw {n} distinct ones",
            bad.len()
        );
    }
    let v: Vec<u32> = index::sample(rng, hosts as usize, want)
        .into_iter()
        .map(|i| pool.host(i as u64))
        .filter(|a| !bad.contains(a))
        .take(n)
        .collect();
    debug_assert_eq!(v.len(), n);
    Ok(v)
}

impl Population {
    /// Draws the population: `n` distinct home addresses from the home pool, `n` distinct
    /// care-of addresses from the care-of pool, a random 32-byte key each.
    pub fn generate(spec: &PopulationSpec) -> Result<Population> {
        if spec.n == 0 {
            bail!("--subscribers must be at least 1");
        }
        if spec.home_pool.overlaps(&spec.coa_pool) {
            bail!(
                "home pool {} and care-of pool {} overlap (the MSM refuses a care-of address inside a home pool)",
                spec.home_pool,
                spec.coa_pool
            );
        }
        if spec.spi < msm_mip::MIN_SPI {
            bail!("SPI {} is reserved: use 256 or more", spec.spi);
        }
        if spec.msisdn_base == 0 || spec.msisdn_base + spec.n as u64 - 1 > MAX_MSISDN {
            bail!(
                "MSISDNs {}..{} are not 1..15-digit E.164 numbers",
                spec.msisdn_base,
                spec.msisdn_base + spec.n as u64 - 1
            );
        }
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let homes = distinct(&mut rng, &spec.home_pool, spec.n, &spec.exclude)?;
        let coas = distinct(&mut rng, &spec.coa_pool, spec.n, &spec.exclude)?;
        let subs = homes
            .into_iter()
            .zip(coas)
            .enumerate()
            .map(|(i, (home, coa))| {
                let mut key = [0u8; KEY_LEN];
                rng.fill_bytes(&mut key);
                Subscriber {
                    msisdn: spec.msisdn_base + i as u64,
                    home,
                    coa,
                    spi: spec.spi,
                    key,
                }
            })
            .collect();
        Ok(Population { subs })
    }
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses lowercase/uppercase hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: usize) -> PopulationSpec {
        PopulationSpec {
            n,
            seed: 7,
            home_pool: "100.64.0.0/16".parse().unwrap(),
            coa_pool: "198.18.0.0/15".parse().unwrap(),
            msisdn_base: 491_500_000_000,
            spi: 256,
            exclude: vec![u32::from(Ipv4Addr::new(100, 64, 0, 5))],
        }
    }

    #[test]
    fn prefix_parse_and_hosts() {
        let p: Prefix = "192.0.2.0/25".parse().unwrap();
        assert_eq!(p.hosts(), 126);
        assert_eq!(Ipv4Addr::from(p.host(0)), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(Ipv4Addr::from(p.host(125)), Ipv4Addr::new(192, 0, 2, 126));
        assert!(p.contains(u32::from(Ipv4Addr::new(192, 0, 2, 127))));
        assert!(!p.contains(u32::from(Ipv4Addr::new(192, 0, 2, 128))));
        assert!("192.0.2.1/24".parse::<Prefix>().is_err());
        assert!("192.0.2.0/33".parse::<Prefix>().is_err());
        assert_eq!(p.to_string(), "192.0.2.0/25");
    }

    #[test]
    fn mac_roundtrip() {
        let m: Mac = "02:70:63:61:70:01".parse().unwrap();
        assert_eq!(m.0, [2, 0x70, 0x63, 0x61, 0x70, 1]);
        assert_eq!(m.to_string(), "02:70:63:61:70:01");
        assert!("02:70:63:61:70".parse::<Mac>().is_err());
        assert!("02:70:63:61:70:zz".parse::<Mac>().is_err());
    }

    #[test]
    fn population_is_deterministic_distinct_and_in_pools() {
        let s = spec(5000);
        let a = Population::generate(&s).unwrap();
        let b = Population::generate(&s).unwrap();
        assert_eq!(a.subs, b.subs);
        let mut homes: Vec<u32> = a.subs.iter().map(|s| s.home).collect();
        let mut coas: Vec<u32> = a.subs.iter().map(|s| s.coa).collect();
        homes.sort_unstable();
        homes.dedup();
        coas.sort_unstable();
        coas.dedup();
        assert_eq!(homes.len(), 5000);
        assert_eq!(coas.len(), 5000);
        assert!(a.subs.iter().all(|x| s.home_pool.contains(x.home)
            && s.coa_pool.contains(x.coa)
            && x.home != s.exclude[0]
            && x.home & 0xffff != 0
            && x.home & 0xffff != 0xffff));
        assert_eq!(a.subs[4999].msisdn, 491_500_004_999);
        let other = Population::generate(&PopulationSpec { seed: 8, ..s }).unwrap();
        assert_ne!(a.subs, other.subs);
    }

    #[test]
    fn population_refuses_what_the_msm_would() {
        // The whole pool but the excluded address: fine; one more: error.
        let mut s = spec(65533);
        assert!(Population::generate(&s).is_ok());
        s.n = 65534;
        assert!(Population::generate(&s).is_err());
        let mut s = spec(10);
        s.coa_pool = "100.64.128.0/17".parse().unwrap();
        assert!(Population::generate(&s).is_err());
        let mut s = spec(10);
        s.spi = 255;
        assert!(Population::generate(&s).is_err());
        let mut s = spec(10);
        s.msisdn_base = MAX_MSISDN - 5;
        assert!(Population::generate(&s).is_err());
    }

    #[test]
    fn hex_roundtrip() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(unhex("00AB10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
