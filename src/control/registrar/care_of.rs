//! The care-of address policy (PROTOCOL.md section 1): a care-of address must be a host's unicast address, and on paths 2 and 3 the source the request came from.
//!
//! Refused (134), each counted under its reason in [`CareOfRefusals`]: 0.0.0.0/8 (but the
//! WWAN report's 0.0.0.0, which means "no care-of address" and is never checked here),
//! 127.0.0.0/8, 224.0.0.0/4, 240.0.0.0/4 (but 255.255.255.255, counted as broadcast), the
//! MSM's own addresses and the home pools.

use crate::config::Prefix;

/// Why a care-of address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CareOfRefusal {
    /// 0.0.0.0/8 other than 0.0.0.0 itself: "this network", not a host's address.
    ThisNetwork,
    /// 127.0.0.0/8.
    Loopback,
    /// 224.0.0.0/4.
    Multicast,
    /// 240.0.0.0/4 other than the broadcast address.
    Reserved,
    /// 255.255.255.255.
    Broadcast,
    /// One of the MSM's own addresses.
    OwnAddress,
    /// Inside a home pool.
    HomePool,
    /// Paths 2 and 3: not the address the request came from.
    NotTheSource,
}

impl CareOfRefusal {
    /// What is wrong with the address, for an operator's error message.
    pub fn text(self) -> &'static str {
        match self {
            CareOfRefusal::ThisNetwork
            | CareOfRefusal::Loopback
            | CareOfRefusal::Multicast
            | CareOfRefusal::Reserved
            | CareOfRefusal::Broadcast => "is not a host's unicast address",
            CareOfRefusal::OwnAddress => "is one of the MSM's own addresses",
            CareOfRefusal::HomePool => "is inside a home pool",
            CareOfRefusal::NotTheSource => "is not the address the request came from",
        }
    }
}

/// Care-of addresses refused (code 134), by reason.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CareOfRefusals {
    pub this_network: u64,
    pub loopback: u64,
    pub multicast: u64,
    pub reserved: u64,
    pub broadcast: u64,
    pub own_address: u64,
    pub home_pool: u64,
    pub not_the_source: u64,
}

impl CareOfRefusals {
    pub fn count(&mut self, why: CareOfRefusal) {
        let n = match why {
            CareOfRefusal::ThisNetwork => &mut self.this_network,
            CareOfRefusal::Loopback => &mut self.loopback,
            CareOfRefusal::Multicast => &mut self.multicast,
            CareOfRefusal::Reserved => &mut self.reserved,
            CareOfRefusal::Broadcast => &mut self.broadcast,
            CareOfRefusal::OwnAddress => &mut self.own_address,
            CareOfRefusal::HomePool => &mut self.home_pool,
            CareOfRefusal::NotTheSource => &mut self.not_the_source,
        };
        *n += 1;
    }
}

/// Whether `coa` may be a care-of address: a host's unicast address, none of `own` (the
/// MSM's addresses), outside every one of `pools`. 0.0.0.0 ("no care-of address") is the
/// caller's to handle before; here it is refused like the rest of 0.0.0.0/8.
pub fn check(coa: u32, own: &[u32], pools: &[Prefix]) -> Result<(), CareOfRefusal> {
    let why = match coa >> 24 {
        0 => Some(CareOfRefusal::ThisNetwork),
        127 => Some(CareOfRefusal::Loopback),
        224..=239 => Some(CareOfRefusal::Multicast),
        _ if coa == u32::MAX => Some(CareOfRefusal::Broadcast),
        240.. => Some(CareOfRefusal::Reserved),
        _ if own.contains(&coa) => Some(CareOfRefusal::OwnAddress),
        _ if pools.iter().any(|p| p.contains(coa)) => Some(CareOfRefusal::HomePool),
        _ => None,
    };
    why.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const OWN: [u32; 2] = [0xc000_0281, 0xc633_6401]; // 192.0.2.129, 198.51.100.1

    fn why(a: [u8; 4]) -> Result<(), CareOfRefusal> {
        let pools = [Prefix::parse("192.0.2.0/25").unwrap()];
        check(u32::from(Ipv4Addr::from(a)), &OWN, &pools)
    }

    #[test]
    fn every_refused_range_has_its_reason() {
        use CareOfRefusal::*;
        for (a, want) in [
            ([0, 0, 0, 0], ThisNetwork),
            ([0, 0, 0, 1], ThisNetwork),
            ([0, 255, 255, 255], ThisNetwork),
            ([127, 0, 0, 1], Loopback),
            ([127, 255, 255, 254], Loopback),
            ([224, 0, 0, 1], Multicast),
            ([239, 255, 255, 255], Multicast),
            ([240, 0, 0, 1], Reserved),
            ([255, 255, 255, 254], Reserved),
            ([255, 255, 255, 255], Broadcast),
            ([192, 0, 2, 129], OwnAddress),
            ([198, 51, 100, 1], OwnAddress),
            ([192, 0, 2, 0], HomePool),
            ([192, 0, 2, 127], HomePool),
        ] {
            assert_eq!(why(a), Err(want), "{a:?}");
        }
    }

    #[test]
    fn host_unicast_addresses_pass() {
        for a in [
            [1, 0, 0, 1],
            [10, 1, 2, 3], // private: a WLAN behind NAT names its private address
            [126, 255, 255, 255],
            [128, 0, 0, 1],
            [192, 0, 2, 128], // just outside the pool
            [198, 51, 100, 2],
            [203, 0, 113, 10],
            [223, 255, 255, 254],
        ] {
            assert_eq!(why(a), Ok(()), "{a:?}");
        }
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let mut c = CareOfRefusals::default();
        c.count(CareOfRefusal::Loopback);
        c.count(CareOfRefusal::Loopback);
        c.count(CareOfRefusal::HomePool);
        c.count(CareOfRefusal::NotTheSource);
        assert_eq!((c.loopback, c.home_pool, c.not_the_source), (2, 1, 1));
        assert_eq!(c.multicast + c.reserved + c.broadcast + c.this_network, 0);
    }
}
