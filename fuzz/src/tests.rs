//! The rigs reach what they are meant to reach (`cd fuzz && cargo test`): a fuzzer that
//! cannot get a request accepted or a datagram fragmented explores nothing behind them.

use crate::{dataplane as dp, journal, registrar as rg};
use msm::control::journal::Record;
use msm::dataplane::pipeline::Action;
use msm_mip::{Code, RequestBuilder};
use msm_pcapgen::frames::{udp_frame, Udp, L2};
use std::net::Ipv4Addr;

fn request(s: usize, coa: u32, lifetime: u16, low: u64) -> Vec<u8> {
    let (m, h, spi, key) = rg::SUBS[s];
    let ntp = rg::NOW + msm_mip::NTP_UNIX_OFFSET;
    RequestBuilder {
        lifetime,
        home: Ipv4Addr::from(h),
        home_agent: Ipv4Addr::from(rg::GPRS),
        care_of: Ipv4Addr::from(coa),
        identification: (ntp << 32) | low,
        nai: &m.to_string(),
        spi,
        key,
    }
    .to_vec()
    .unwrap()
}

const DIRECT: u8 = 2;
const COA_SRC: u8 = 2; // ADDRS[2]

#[test]
fn registrar_accepts_refuses_and_fills_the_table() {
    let ok = request(0, rg::COA, 600, 1);
    assert_eq!(
        rg::codes(&rg::step(DIRECT, COA_SRC, &ok)),
        [Some(Code::Accepted)]
    );
    // A damaged authenticator: 131, unless the rig re-signs it (ctl bit 2).
    let mut bad = ok.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        rg::codes(&rg::step(DIRECT, COA_SRC, &bad)),
        [Some(Code::MnFailedAuthentication)]
    );
    assert_eq!(
        rg::codes(&rg::step(DIRECT | 4, COA_SRC, &bad)),
        [Some(Code::Accepted)]
    );
    // A replayed request: 133, unless the rig gives it a fresh Identification (bit 3).
    let mut twice = rg::step(DIRECT, COA_SRC, &ok);
    twice.extend(rg::step(DIRECT | 0x60, COA_SRC, &ok));
    assert_eq!(rg::codes(&twice)[1], Some(Code::IdentificationMismatch));
    let mut fresh = rg::step(DIRECT, COA_SRC, &ok);
    fresh.extend(rg::step(DIRECT | 0x60 | 4 | 8, COA_SRC, &ok));
    assert_eq!(rg::codes(&fresh)[1], Some(Code::Accepted));
    // Three subscribers through the WWAN, a table of two.
    let mut three = Vec::new();
    for (s, src) in [(0, 0), (1, 1), (2, 6)] {
        three.extend(rg::step(0, src, &request(s, 0, 600, s as u64 + 1)));
    }
    assert_eq!(
        rg::codes(&three),
        [
            Some(Code::Accepted),
            Some(Code::Accepted),
            Some(Code::InsufficientResources)
        ]
    );
}

#[test]
fn dataplane_fragments_within_the_mtu_and_counts_buffers() {
    let payload = vec![0x5a; 1472];
    let frame = udp_frame(
        L2 {
            dst: dp::INET_MAC,
            src: dp::ROUTER_MAC,
        },
        None,
        &Udp {
            src: dp::SERVER,
            dst: dp::HOME,
            sport: 1,
            dport: 2,
            ident: 3,
            ttl: 64,
            df: false,
            payload: &payload,
        },
    )
    .unwrap();
    let input = |ctl: u8| [&[ctl][..], &frame].concat();
    let frag = |o: Option<(Action, usize)>| match o {
        Some((Action::Fragment(p), n)) => (p.encap_to, n),
        o => panic!("{o:?}"),
    };
    assert_eq!(frag(dp::outcome(&input(1))), (Some(dp::COA), 2));
    assert_eq!(
        frag(dp::outcome(&input(1 | 4))),
        (Some(dp::COA), 3),
        "MTU 576"
    );
    assert_eq!(
        frag(dp::outcome(&input(1 | 0x20))),
        (Some(dp::COA), 1),
        "one buffer"
    );
}

#[test]
fn journal_rig_replays_and_reopens() {
    let recs = [
        Record::remove(dp::HOME, 491700000010, 1),
        Record::remove(dp::HOME3, 491700000012, 2),
    ];
    let log: Vec<u8> = recs.iter().flat_map(|r| r.encode()).collect();
    journal::run(&journal::input(2 | 8, &[], &log));
    journal::run(&journal::input(2 | 8, &[], &log[..50]));
    journal::run(&journal::input(1 | 2, b"MSMSNAP1 not a snapshot", &log));
}
