//! Tests of the care-of address policy through the registrar: each refused address gets a signed 134, no binding, and its counter.

use super::*;
use crate::control::registrar::care_of::CareOfRefusals;

/// A path 1 report (the care-of address is named freely there) naming `coa`.
fn report(coa: Ipv4Addr) -> Vec<u8> {
    req(300, coa, ident(0, 1))
}

fn refused_on_path_1(coa: Ipv4Addr) -> CareOfRefusals {
    let mut r = rig();
    let o = r.send(&report(coa), Path::Wwan, u32::from(HOME));
    assert_eq!(o.code, Some(Code::PoorlyFormedRequest), "{coa}");
    let p = reply(&o);
    assert_eq!(p.code, 134, "{coa}");
    assert!(msm_mip::verify_mn_ha(&p, &key()), "{coa}: signed");
    assert!(o.change.is_none(), "{coa}: no change");
    assert!(r.lookup().is_none(), "{coa}: no binding");
    assert_eq!(r.reg.counters.accepted, 0);
    r.reg.counters.care_of_refused.clone()
}

#[test]
fn every_bad_care_of_gets_134_and_its_counter() {
    type Field = fn(&CareOfRefusals) -> u64;
    let cases: [(Ipv4Addr, &str, Field); 11] = [
        (Ipv4Addr::new(0, 0, 0, 1), "this_network", |c| {
            c.this_network
        }),
        (Ipv4Addr::new(0, 9, 9, 9), "this_network", |c| {
            c.this_network
        }),
        (Ipv4Addr::new(127, 0, 0, 1), "loopback", |c| c.loopback),
        (Ipv4Addr::new(224, 0, 0, 5), "multicast", |c| c.multicast),
        (Ipv4Addr::new(239, 1, 2, 3), "multicast", |c| c.multicast),
        (Ipv4Addr::new(240, 0, 0, 1), "reserved", |c| c.reserved),
        (Ipv4Addr::BROADCAST, "broadcast", |c| c.broadcast),
        (Ipv4Addr::from(GPRS), "own_address", |c| c.own_address),
        (Ipv4Addr::from(WLAN), "own_address", |c| c.own_address),
        (Ipv4Addr::new(192, 0, 2, 50), "home_pool", |c| c.home_pool),
        (Ipv4Addr::new(192, 0, 2, 11), "home_pool", |c| c.home_pool),
    ];
    for (coa, name, field) in cases {
        let c = refused_on_path_1(coa);
        assert_eq!(field(&c), 1, "{coa}: counted as {name}");
        let all = c.this_network
            + c.loopback
            + c.multicast
            + c.reserved
            + c.broadcast
            + c.own_address
            + c.home_pool
            + c.not_the_source;
        assert_eq!(all, 1, "{coa}: counted once");
    }
}

/// 0.0.0.0 and the home address itself are the WWAN report ("no care-of address").
#[test]
fn the_wwan_report_is_not_a_bad_care_of() {
    for coa in [Ipv4Addr::UNSPECIFIED, HOME] {
        let mut r = rig();
        let o = r.send(&report(coa), Path::Wwan, u32::from(HOME));
        assert_eq!(o.code, Some(Code::Accepted), "{coa}");
        assert_eq!(r.lookup().unwrap().coa, None, "{coa}");
        assert_eq!(r.reg.counters.care_of_refused.this_network, 0);
    }
}

/// The policy also holds on paths 2 and 3 (where the data path already drops martian and
/// own sources), and a care-of address that is not the source is counted as such.
#[test]
fn paths_2_and_3_check_the_policy_and_the_source() {
    let pooled = Ipv4Addr::new(192, 0, 2, 50);
    let tunnel = |outer_src| Path::Tunnel {
        outer_src,
        outer_dst: WLAN,
    };
    for (path, src) in [
        (Path::Direct, u32::from(pooled)),
        (tunnel(u32::from(pooled)), u32::from(HOME)),
    ] {
        let mut r = rig();
        let o = r.send(&report(pooled), path, src);
        assert_eq!(o.code, Some(Code::PoorlyFormedRequest), "{path:?}");
        assert_eq!(r.reg.counters.care_of_refused.home_pool, 1, "{path:?}");
    }
    for (path, src) in [
        (Path::Direct, 0xcb00_7163),
        (tunnel(0xcb00_7163), u32::from(HOME)),
    ] {
        let mut r = rig();
        let o = r.send(&report(COA), path, src);
        assert_eq!(o.code, Some(Code::PoorlyFormedRequest), "{path:?}");
        assert_eq!(r.reg.counters.care_of_refused.not_the_source, 1, "{path:?}");
    }
}
