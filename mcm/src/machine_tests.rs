use super::*;
use msm_mip::{parse_request, ReplyBuilder};

const HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const MSM: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 129);
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const NTP: u32 = 3_970_000_000;

fn params() -> Params {
    Params {
        nai: "491700000010".into(),
        home: HOME,
        msm_wwan: MSM,
        spi: 256,
        key: KEY.to_vec(),
        lifetime_s: 60,
        rtx_initial_ms: 1000,
        rtx_max_ms: 8000,
        renew_fraction: 0.8,
        clock_offset_s: 0,
        udp_tunnel: UdpTunnelMode::Auto,
        private_prefixes: DEFAULT_PRIVATE_PREFIXES.to_vec(),
        probe_interval_ms: 1000,
        probe_misses: 3,
        quality: None,
    }
}

fn now(ms: u64) -> Now {
    Now {
        ms,
        ntp: NTP + (ms / 1000) as u32,
    }
}

fn wlan(n: u8) -> Wlan {
    Wlan {
        ifname: "wlan0".into(),
        coa: Ipv4Addr::new(203, 0, 113, n),
    }
}

/// The requests among `acts`, parsed: (path, lifetime, care-of, ident).
fn sent(acts: &[Action]) -> Vec<(Path, u16, Ipv4Addr, u64)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Send { path, msg } => {
                let r = parse_request(msg).expect("a valid request");
                assert!(verify_mn_ha(&r, KEY), "signed with the key");
                assert_eq!(r.home, HOME);
                assert_eq!(r.home_agent, MSM);
                Some((*path, r.lifetime, r.care_of, r.identification))
            }
            _ => None,
        })
        .collect()
}

fn reply(code: u8, lifetime: u16, ident: u64, key: &[u8]) -> Vec<u8> {
    ReplyBuilder {
        code: Code::from_u8(code).unwrap(),
        lifetime,
        home: HOME,
        home_agent: MSM,
        identification: ident,
        nai: "491700000010",
        spi: 256,
        key,
    }
    .to_vec()
    .unwrap()
}

fn registered(m: &mut Machine, n: u8, t: u64) -> u64 {
    let acts = m.set_wlan(Some(wlan(n)), Loss::Gone, now(t));
    let s = sent(&acts);
    assert_eq!(s.len(), 1);
    let acts = m.on_reply(&reply(0, 60, s[0].3, KEY), now(t + 50));
    assert_eq!(acts, vec![Action::TunnelUp(wlan(n))]);
    s[0].3
}

#[test]
fn wlan_address_registers_through_the_wwan_and_tunnels_only_after_acceptance() {
    let mut m = Machine::new(params(), 7);
    assert!(m.set_wwan(true, now(0)).is_empty());
    let acts = m.set_wlan(Some(wlan(10)), Loss::Gone, now(100));
    let s = sent(&acts);
    assert_eq!(
        acts.len(),
        1,
        "only the request: no traffic switch before the reply"
    );
    assert_eq!(s[0].0, Path::Wwan);
    assert_eq!(s[0].1, 60);
    assert_eq!(s[0].2, wlan(10).coa);
    assert_eq!((s[0].3 >> 32) as u32, NTP, "NTP seconds in the high bits");
    assert_eq!(m.state(), "registering");
    let acts = m.on_reply(&reply(0, 50, s[0].3, KEY), now(300));
    assert_eq!(acts, vec![Action::TunnelUp(wlan(10))]);
    assert_eq!(m.state(), "tunnel");
    assert_eq!(m.stats().registrations_accepted, 1);
    assert_eq!(m.stats().retransmissions, 0);
}

#[test]
fn retransmits_with_exponential_backoff_and_fresh_identifications() {
    let mut m = Machine::new(params(), 7);
    m.set_wwan(true, now(0));
    let first = sent(&m.set_wlan(Some(wlan(10)), Loss::Gone, now(0)));
    assert_eq!(m.next_deadline(), Some(1000));
    assert!(m.tick(now(999)).is_empty());
    let mut times = vec![];
    let mut idents = vec![first[0].3];
    let mut t = 0;
    while times.len() < 6 {
        t = m.next_deadline().unwrap();
        let s = sent(&m.tick(now(t)));
        assert_eq!(s.len(), 1);
        idents.push(s[0].3);
        times.push(t);
    }
    assert_eq!(
        times,
        vec![1000, 3000, 7000, 15000, 23000, 31000],
        "1, 2, 4, 8, 8, 8 s (capped)"
    );
    assert!(
        idents.windows(2).all(|w| w[1] > w[0]),
        "identifications increase: {idents:x?}"
    );
    assert_eq!(m.stats().retransmissions, 6);
    // A late reply to the very first transmission still counts.
    let acts = m.on_reply(&reply(0, 60, idents[0], KEY), now(t + 10));
    assert_eq!(acts, vec![Action::TunnelUp(wlan(10))]);
    assert!(m.tick(now(t + 9000)).is_empty(), "no more retransmissions");
}

#[test]
fn identification_mismatch_resynchronises_the_clock_and_resends_at_once() {
    let mut m = Machine::new(params(), 7);
    m.set_wwan(true, now(0));
    let s = sent(&m.set_wlan(Some(wlan(10)), Loss::Gone, now(0)));
    // The MSM's clock is 100 s ahead: 133 with its time in the high bits.
    let theirs = make_identification(NTP + 100, s[0].3 as u32);
    let acts = m.on_reply(&reply(133, 0, theirs, KEY), now(20));
    let s2 = sent(&acts);
    assert_eq!(s2.len(), 1, "resent at once");
    assert_eq!((s2[0].3 >> 32) as u32, NTP + 100);
    assert_eq!(m.status().clock_offset_s, 100);
    assert_eq!(m.stats().resyncs, 1);
    assert_eq!(
        m.on_reply(&reply(0, 60, s2[0].3, KEY), now(40)),
        vec![Action::TunnelUp(wlan(10))]
    );
}

#[test]
fn lost_wlan_takes_traffic_back_at_once_and_cancels_through_the_wwan() {
    let mut m = Machine::new(params(), 1);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0);
    let acts = m.set_wlan(None, Loss::Gone, now(5000));
    assert_eq!(acts[0], Action::TunnelDown, "break: the old path is dead");
    let s = sent(&acts);
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].0, s[0].1),
        (Path::Wwan, 0),
        "cancel = lifetime 0 by the WWAN"
    );
    assert_eq!(m.state(), "cancelling");
    assert!(
        m.on_reply(&reply(0, 0, s[0].3, KEY), now(5100)).is_empty(),
        "no second switch"
    );
    assert_eq!(m.state(), "wwan");
    assert_eq!(m.stats().cancels_accepted, 1);
}

#[test]
fn poor_wlan_is_left_make_before_break() {
    let mut m = Machine::new(params(), 1);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0);
    m.wlan_poor("wlan0", true);
    let acts = m.set_wlan(None, Loss::Poor, now(5000));
    let s = sent(&acts);
    assert_eq!(acts.len(), 1, "cancel only: the tunnel stays up meanwhile");
    assert_eq!(s[0].1, 0);
    assert_eq!(m.tunnel(), Some(&wlan(10)));
    assert_eq!(
        m.on_reply(&reply(0, 0, s[0].3, KEY), now(5100)),
        vec![Action::TunnelDown]
    );
    assert!(m.is_poor("wlan0"));
}

#[test]
fn with_the_wwan_down_the_request_is_reverse_tunnelled_from_the_care_of_address() {
    let mut m = Machine::new(params(), 1);
    m.set_wwan(false, now(0));
    let s = sent(&m.set_wlan(Some(wlan(74)), Loss::Gone, now(0)));
    assert_eq!(s[0].0, Path::WlanTunnel(wlan(74).coa));
    assert_eq!(s[0].2, wlan(74).coa, "care-of = outer source (path 2)");
    // The WWAN comes back while waiting: the next transmission takes it, at once.
    let s = sent(&m.set_wwan(true, now(300)));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, Path::Wwan);
}

#[test]
fn nothing_is_sent_without_a_path_and_it_goes_out_when_one_appears() {
    let mut m = Machine::new(params(), 1);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0);
    m.set_wwan(false, now(1000));
    let acts = m.set_wlan(None, Loss::Gone, now(2000));
    assert_eq!(acts, vec![Action::TunnelDown], "cancel has no path yet");
    assert_eq!(m.stats().unsendable, 1);
    let s = sent(&m.set_wwan(true, now(2500)));
    assert_eq!((s[0].0, s[0].1), (Path::Wwan, 0));
}

#[test]
fn renews_before_the_lifetime_ends_and_lapses_without_an_answer() {
    let mut m = Machine::new(params(), 1);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0); // accepted at 50 ms, 60 s
    assert_eq!(m.next_deadline(), Some(50 + 48_000));
    let s = sent(&m.tick(now(48_050)));
    assert_eq!((s[0].1, s[0].2), (60, wlan(10).coa), "renewal");
    assert_eq!(m.state(), "renewing");
    assert!(
        m.on_reply(&reply(0, 60, s[0].3, KEY), now(48_100))
            .is_empty(),
        "same tunnel: no switch"
    );
    // Next renewal never answered: the binding lapses at its expiry.
    let mut t = 48_100 + 48_000;
    sent(&m.tick(now(t)));
    let mut down = false;
    while t < 48_100 + 61_000 {
        t += 500;
        down |= m.tick(now(t)).contains(&Action::TunnelDown);
    }
    assert!(down, "tunnel taken down when the lifetime ended");
    assert_eq!(m.stats().lapsed, 1);
}

#[test]
fn forged_mismatched_and_refused_replies() {
    let mut m = Machine::new(params(), 1);
    m.set_wwan(true, now(0));
    let s = sent(&m.set_wlan(Some(wlan(10)), Loss::Gone, now(0)));
    let id = s[0].3;
    assert!(m
        .on_reply(
            &reply(0, 60, id, b"another key, not the subscriber!"),
            now(1)
        )
        .is_empty());
    assert!(m
        .on_reply(&reply(0, 60, id ^ 0xffff, KEY), now(1))
        .is_empty());
    assert!(m.on_reply(b"\x03\x00garbage", now(1)).is_empty());
    assert_eq!(m.stats().bad_replies, 2);
    assert_eq!(m.stats().unmatched_replies, 1);
    assert_eq!(m.state(), "registering");
    // 129: refused for good, no retransmission, no retry for that address.
    assert!(m.on_reply(&reply(129, 0, id, KEY), now(2)).is_empty());
    assert_eq!(m.state(), "wwan");
    assert_eq!(m.next_deadline(), None);
    assert!(m.status().last_refusal.unwrap().starts_with("129"));
    // 130 (transient) keeps retrying.
    m.set_wlan(None, Loss::Gone, now(3));
    let s = sent(&m.set_wlan(Some(wlan(11)), Loss::Gone, now(4)));
    assert!(m.on_reply(&reply(130, 0, s[0].3, KEY), now(5)).is_empty());
    assert_eq!(m.state(), "registering");
    assert_eq!(sent(&m.tick(now(1004))).len(), 1);
}

#[test]
fn moving_between_wlans_breaks_then_makes() {
    let mut m = Machine::new(params(), 1);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0);
    // WLAN 108 lost: back to the WWAN, cancel.
    let a = m.set_wlan(None, Loss::Gone, now(10_000));
    assert_eq!(a[0], Action::TunnelDown);
    // WLAN 109 address: the registration supersedes the cancel.
    let s = sent(&m.set_wlan(Some(wlan(74)), Loss::Gone, now(10_500)));
    assert_eq!((s[0].1, s[0].2), (60, wlan(74).coa));
    assert_eq!(
        m.on_reply(&reply(0, 60, s[0].3, KEY), now(10_600)),
        vec![Action::TunnelUp(wlan(74))]
    );
    assert_eq!(m.stats().traffic_switches, 3);
}

#[test]
fn a_second_wlan_replaces_the_first_make_before_break() {
    let mut m = Machine::new(params(), 1);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0);
    let w2 = Wlan {
        ifname: "wlan1".into(),
        coa: Ipv4Addr::new(203, 0, 113, 74),
    };
    let a = m.set_wlan(Some(w2.clone()), Loss::Poor, now(1000));
    assert_eq!(sent(&a).len(), 1);
    assert!(
        !a.contains(&Action::TunnelDown),
        "old tunnel kept until the new one is accepted"
    );
    let s = sent(&a);
    assert_eq!(
        m.on_reply(&reply(0, 60, s[0].3, KEY), now(1100)),
        vec![Action::TunnelUp(w2)]
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Wwan(bool),
        Wlan(Option<u8>, bool),
        Poor(bool),
        /// Reply to the n-th most recent request with this code.
        Reply(usize, u8, u16),
        Garbage(Vec<u8>),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<bool>().prop_map(Op::Wwan),
            (proptest::option::of(10u8..13), any::<bool>()).prop_map(|(w, g)| Op::Wlan(w, g)),
            any::<bool>().prop_map(Op::Poor),
            (
                0usize..4,
                prop_oneof![Just(0u8), Just(133), Just(130), Just(129), Just(131)],
                0u16..100
            )
                .prop_map(|(n, c, l)| Op::Reply(n, c, l)),
            proptest::collection::vec(any::<u8>(), 0..120).prop_map(Op::Garbage),
            (0u64..20_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// Whatever happens, in whatever order: no panic; traffic moves into a
        /// tunnel only when a reply accepted a registration for that WLAN; the
        /// tunnel actions alternate consistently with `tunnel()`; every request
        /// is well formed and signed.
        #[test]
        fn machine_invariants(ops in proptest::collection::vec(op(), 1..60)) {
            let mut m = Machine::new(params(), 99);
            let mut t = 0u64;
            let mut sent_ids: Vec<u64> = Vec::new();
            let mut tunnel: Option<Wlan> = None;
            for o in ops {
                let from_reply = matches!(o, Op::Reply(..));
                let acts = match o {
                    Op::Wwan(up) => m.set_wwan(up, now(t)),
                    Op::Wlan(w, gone) => m.set_wlan(w.map(wlan), if gone { Loss::Gone } else { Loss::Poor }, now(t)),
                    Op::Poor(p) => { m.wlan_poor("wlan0", p); Vec::new() }
                    Op::Reply(n, code, life) => {
                        let Some(&id) = sent_ids.iter().rev().nth(n) else { continue };
                        let id = if code == 133 { make_identification(NTP + 50, id as u32) } else { id };
                        m.on_reply(&reply(code, life, id, KEY), now(t))
                    }
                    Op::Garbage(g) => m.on_reply(&g, now(t)),
                    Op::Advance(d) => { t += d; m.tick(now(t)) }
                };
                for a in &acts {
                    match a {
                        Action::Send { .. } | Action::Probe { .. } | Action::Reevaluate => {}
                        Action::TunnelUp(w) => {
                            prop_assert!(from_reply, "TunnelUp without an accepting reply");
                            prop_assert_ne!(tunnel.as_ref(), Some(w), "TunnelUp twice for the same WLAN");
                            tunnel = Some(w.clone());
                        }
                        Action::TunnelDown => {
                            prop_assert!(tunnel.is_some(), "TunnelDown without a tunnel");
                            tunnel = None;
                        }
                    }
                }
                for (_, _, _, id) in sent(&acts) {
                    sent_ids.push(id);
                }
                prop_assert_eq!(m.tunnel(), tunnel.as_ref());
                if let Some(d) = m.next_deadline() {
                    prop_assert!(d + 20_000 >= t, "deadline far in the past");
                }
            }
        }
    }
}

// ---- NAT traversal (RFC 3519) ------------------------------------------------

const NATTED: Ipv4Addr = Ipv4Addr::new(192, 168, 109, 74);
const MSM_WLAN_KA: u16 = 20;

fn nat_wlan() -> Wlan {
    Wlan {
        ifname: "wlan0".into(),
        coa: NATTED,
    }
}

/// The UDP Tunnel Request extensions of the requests among `acts`.
fn udp_exts(acts: &[Action]) -> Vec<Option<msm_mip::UdpTunnelRequestRepr>> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Send { msg, .. } => Some(parse_request(msg).unwrap().udp_tunnel),
            _ => None,
        })
        .collect()
}

fn udp_reply(code: u8, lifetime: u16, ident: u64, udp: Option<u8>) -> Vec<u8> {
    ReplyBuilder {
        code: Code::from_u8(code).unwrap(),
        lifetime,
        home: HOME,
        home_agent: MSM,
        identification: ident,
        nai: "491700000010",
        spi: 256,
        key: KEY,
    }
    .to_vec_with(udp.map(|c| msm_mip::UdpTunnelReplyRepr {
        reply_code: c,
        force: false,
        keepalive_interval: MSM_WLAN_KA,
    }))
    .unwrap()
}

fn probes(acts: &[Action]) -> Vec<u16> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Probe { seq } => Some(*seq),
            _ => None,
        })
        .collect()
}

/// Registered behind the NAT at `t` with the UDP tunnel; returns the ident.
fn nat_registered(m: &mut Machine, t: u64) -> u64 {
    m.set_wwan(true, now(t));
    let acts = m.set_wlan(Some(nat_wlan()), Loss::Gone, now(t));
    let s = sent(&acts);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, Path::Direct(NATTED));
    let acts = m.on_reply(&udp_reply(0, 60, s[0].3, Some(0)), now(t + 30));
    assert_eq!(acts, vec![Action::TunnelUp(nat_wlan())]);
    assert_eq!(m.udp_tunnel(), Some(NATTED));
    s[0].3
}

#[test]
fn private_prefix_decision_and_its_override() {
    assert!(in_prefix(
        Ipv4Addr::new(10, 9, 8, 7),
        Ipv4Addr::new(10, 0, 0, 0),
        8
    ));
    assert!(!in_prefix(
        Ipv4Addr::new(11, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 0),
        8
    ));
    assert!(in_prefix(
        Ipv4Addr::new(172, 31, 1, 1),
        Ipv4Addr::new(172, 16, 0, 0),
        12
    ));
    assert!(!in_prefix(
        Ipv4Addr::new(172, 32, 0, 1),
        Ipv4Addr::new(172, 16, 0, 0),
        12
    ));
    assert!(in_prefix(
        Ipv4Addr::new(1, 2, 3, 4),
        Ipv4Addr::UNSPECIFIED,
        0
    ));
    let m = Machine::new(params(), 1);
    assert!(m.wants_udp(NATTED));
    assert!(!m.wants_udp(Ipv4Addr::new(203, 0, 113, 10)));
    // The testbeds' "private" networks are documentation ranges: configurable.
    let mut p = params();
    p.private_prefixes = vec![(Ipv4Addr::new(192, 0, 2, 192), 29)];
    let m = Machine::new(p.clone(), 1);
    assert!(m.wants_udp(Ipv4Addr::new(192, 0, 2, 197)));
    assert!(!m.wants_udp(NATTED));
    p.udp_tunnel = UdpTunnelMode::Always;
    assert!(Machine::new(p.clone(), 1).wants_udp(Ipv4Addr::new(203, 0, 113, 10)));
    p.udp_tunnel = UdpTunnelMode::Never;
    assert!(!Machine::new(p, 1).wants_udp(Ipv4Addr::new(192, 0, 2, 197)));
}

#[test]
fn a_private_care_of_address_registers_from_itself_with_the_udp_tunnel_request() {
    let mut m = Machine::new(params(), 7);
    m.set_wwan(true, now(0));
    let acts = m.set_wlan(Some(nat_wlan()), Loss::Gone, now(0));
    // Path 3 even though the WWAN is up: the NAT's mapping must be what the MSM sees.
    let s = sent(&acts);
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].0, s[0].1, s[0].2), (Path::Direct(NATTED), 60, NATTED));
    let ext = udp_exts(&acts)[0].expect("UDP Tunnel Request extension");
    assert!(!ext.force, "auto: the MSM decides by what it sees");
    assert_eq!(ext.encapsulation, 4);
    // Retransmissions keep the path and the extension.
    let acts = m.tick(now(1000));
    assert_eq!(sent(&acts)[0].0, Path::Direct(NATTED));
    assert!(udp_exts(&acts)[0].is_some());
    // Accepted with the UDP Tunnel Reply extension: the tunnel is UDP.
    let acts = m.on_reply(&udp_reply(0, 60, s[0].3, Some(0)), now(1100));
    assert_eq!(acts, vec![Action::TunnelUp(nat_wlan())]);
    assert_eq!(m.udp_tunnel(), Some(NATTED));
    assert_eq!(m.stats().udp_tunnel_accepted, 1);
    assert_eq!(m.status().state, "tunnel");
}

#[test]
fn a_public_care_of_address_stays_ip_in_ip_and_the_override_forces_udp() {
    let mut m = Machine::new(params(), 7);
    m.set_wwan(true, now(0));
    let acts = m.set_wlan(Some(wlan(10)), Loss::Gone, now(0));
    assert_eq!(sent(&acts)[0].0, Path::Wwan);
    assert_eq!(udp_exts(&acts), vec![None]);
    // udp_tunnel = always: path 3 with F, even for a public address.
    let mut p = params();
    p.udp_tunnel = UdpTunnelMode::Always;
    let mut m = Machine::new(p, 7);
    m.set_wwan(true, now(0));
    let acts = m.set_wlan(Some(wlan(10)), Loss::Gone, now(0));
    assert_eq!(sent(&acts)[0].0, Path::Direct(wlan(10).coa));
    assert!(udp_exts(&acts)[0].unwrap().force);
    // udp_tunnel = never: a private address goes the old way, no extension.
    let mut p = params();
    p.udp_tunnel = UdpTunnelMode::Never;
    let mut m = Machine::new(p, 7);
    m.set_wwan(true, now(0));
    let acts = m.set_wlan(Some(nat_wlan()), Loss::Gone, now(0));
    assert_eq!(sent(&acts)[0].0, Path::Wwan);
    assert_eq!(udp_exts(&acts), vec![None]);
}

#[test]
fn a_reply_without_the_udp_tunnel_reply_extension_means_ip_in_ip() {
    let mut m = Machine::new(params(), 7);
    m.set_wwan(true, now(0));
    let s = sent(&m.set_wlan(Some(nat_wlan()), Loss::Gone, now(0)));
    let acts = m.on_reply(&udp_reply(0, 60, s[0].3, None), now(50));
    assert_eq!(acts, vec![Action::TunnelUp(nat_wlan())]);
    assert_eq!(m.udp_tunnel(), None, "no NAT seen by the MSM: IP in IP");
    assert_eq!(m.stats().udp_tunnel_declined, 1);
    // And no keepalives for an IP-in-IP tunnel.
    assert!(probes(&m.tick(now(30_000))).is_empty());
    // A refusal code in the extension is not a UDP tunnel either.
    let mut m = Machine::new(params(), 7);
    m.set_wwan(true, now(0));
    let s = sent(&m.set_wlan(Some(nat_wlan()), Loss::Gone, now(0)));
    m.on_reply(&udp_reply(0, 60, s[0].3, Some(64)), now(50));
    assert_eq!(m.udp_tunnel(), None);
}

#[test]
fn keepalives_at_the_replys_interval_or_the_probe_interval_when_shorter() {
    let mut p = params();
    p.probe_interval_ms = 0; // only the Reply's keepalive interval (20 s)
    let mut m = Machine::new(p, 7);
    nat_registered(&mut m, 0);
    assert_eq!(m.next_deadline(), Some(30 + 20_000));
    assert!(
        probes(&m.tick(now(20_000))).is_empty(),
        "not before the interval"
    );
    let a = probes(&m.tick(now(20_030)));
    assert_eq!(a.len(), 1);
    m.on_probe_reply(a[0], now(20_080));
    assert_eq!(m.stats().probes_answered, 1);
    assert_eq!(m.next_deadline(), Some(40_030));
    assert_eq!(probes(&m.tick(now(40_030))).len(), 1);
    // With probe_interval_ms = 1000: every second.
    let mut m = Machine::new(params(), 7);
    nat_registered(&mut m, 0);
    let mut seqs = Vec::new();
    for t in (1030..=5030).step_by(1000) {
        let a = probes(&m.tick(now(t)));
        assert_eq!(a.len(), 1, "at {t}");
        m.on_probe_reply(a[0], now(t + 10));
        seqs.push(a[0]);
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(
        (m.stats().probes_missed, m.stats().nat_reregistrations),
        (0, 0)
    );
    assert_eq!(m.status().probes.unwrap()["last_rtt_ms"], 10);
}

#[test]
fn unanswered_keepalives_mean_a_new_nat_mapping_and_trigger_a_re_registration() {
    let mut m = Machine::new(params(), 7);
    let first = nat_registered(&mut m, 0);
    // Three probes go unanswered (the mapping changed: the MSM's downlink
    // dies at the NAT); a stale answer to an old probe does not count.
    let mut sent_at = Vec::new();
    for t in [1030, 2030, 3030] {
        let acts = m.tick(now(t));
        assert!(sent(&acts).is_empty(), "no re-registration yet at {t}");
        sent_at.extend(probes(&acts));
    }
    m.on_probe_reply(sent_at[0], now(3100));
    assert_eq!(m.stats().probes_answered, 0);
    // The fourth tick counts the third miss: re-register at once, by path 3.
    let acts = m.tick(now(4030));
    let s = sent(&acts);
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].0, s[0].1), (Path::Direct(NATTED), 60));
    assert_ne!(s[0].3, first);
    assert!(udp_exts(&acts)[0].is_some());
    assert_eq!(m.stats().nat_reregistrations, 1);
    assert_eq!(m.stats().probes_missed, 3);
    assert_eq!(
        m.status().state,
        "renewing",
        "the tunnel stays up meanwhile"
    );
    // While it is outstanding, further misses do not start another one.
    m.tick(now(5030));
    m.tick(now(6030));
    m.tick(now(7030));
    assert_eq!(m.stats().nat_reregistrations, 1);
    // Accepted (the MSM bound the new mapping): same tunnel, no TunnelUp,
    // probing starts over.
    let ids: Vec<u64> = sent(&m.tick(now(8030))).iter().map(|x| x.3).collect();
    let id = ids.last().copied().unwrap_or(s[0].3);
    let acts = m.on_reply(&udp_reply(0, 60, id, Some(0)), now(8040));
    assert!(acts.is_empty(), "{acts:?}");
    assert_eq!(m.udp_tunnel(), Some(NATTED));
    let a = probes(&m.tick(now(9040)));
    assert_eq!(a.len(), 1);
    m.on_probe_reply(a[0], now(9050));
    assert_eq!(m.stats().probes_answered, 1);
    for t in [10_040, 11_040, 12_040] {
        let a = probes(&m.tick(now(t)));
        m.on_probe_reply(a[0], now(t + 5));
    }
    assert_eq!(m.stats().nat_reregistrations, 1, "answered probes: no more");
}

#[test]
fn leaving_a_natted_wlan_cancels_by_the_wwan_or_from_it_when_the_wwan_is_down() {
    let mut m = Machine::new(params(), 7);
    nat_registered(&mut m, 0);
    m.wlan_poor("wlan0", true);
    let acts = m.set_wlan(None, Loss::Poor, now(100));
    assert_eq!(sent(&acts)[0].0, Path::Wwan, "the WWAN is up: the sure way");
    assert_eq!(m.udp_tunnel(), Some(NATTED), "make-before-break");
    // WWAN down: only path 3 crosses the NAT.
    let mut m = Machine::new(params(), 7);
    nat_registered(&mut m, 0);
    m.set_wwan(false, now(50));
    m.wlan_poor("wlan0", true);
    let acts = m.set_wlan(None, Loss::Poor, now(100));
    let s = sent(&acts);
    assert_eq!((s[0].0, s[0].1, s[0].2), (Path::Direct(NATTED), 0, NATTED));
    assert!(
        udp_exts(&acts)[0].is_some(),
        "a NATed cancel needs the extension too"
    );
    assert_eq!(m.udp_tunnel(), Some(NATTED), "make-before-break");
    let acts = m.on_reply(&udp_reply(0, 0, s[0].3, Some(0)), now(150));
    assert_eq!(acts, vec![Action::TunnelDown]);
    assert_eq!(m.udp_tunnel(), None);
    // Gone: traffic back at once, the cancel by the WWAN.
    let mut m = Machine::new(params(), 7);
    nat_registered(&mut m, 0);
    let acts = m.set_wlan(None, Loss::Gone, now(100));
    assert_eq!(acts[0], Action::TunnelDown);
    let s = sent(&acts);
    assert_eq!((s[0].0, s[0].1), (Path::Wwan, 0));
    assert!(
        probes(&m.tick(now(5000))).is_empty(),
        "no keepalives without a tunnel"
    );
}

// ---- WLAN quality without an operator -------------------------------------------

fn quality_params() -> Params {
    let mut p = params();
    p.quality = Some(Quality {
        window: 5,
        poor_loss_pct: 50,
        good_loss_pct: 10,
        hold_ms: 10_000,
        hold_max_ms: 40_000,
    });
    p
}

/// One probe per second from `*t`, answered or not as `pattern` says (a miss
/// is counted when the next probe is due); every action the ticks returned.
fn run_probes(m: &mut Machine, t: &mut u64, pattern: &[bool]) -> Vec<Action> {
    let mut all = Vec::new();
    for &answered in pattern {
        let acts = m.tick(now(*t));
        let seqs = probes(&acts);
        assert_eq!(seqs.len(), 1, "one probe at {t}: {acts:?}");
        if answered {
            m.on_probe_reply(seqs[0], now(*t + 20));
        }
        all.extend(acts);
        *t += 1000;
    }
    all
}

fn reevaluations(acts: &[Action]) -> usize {
    acts.iter().filter(|a| **a == Action::Reevaluate).count()
}

/// The daemon's part after a Reevaluate: the WLAN is usable unless judged poor.
fn reevaluate(m: &mut Machine, n: u8, t: u64) -> Vec<Action> {
    let w = (!m.is_poor("wlan0")).then(|| wlan(n));
    m.set_wlan(w, Loss::Poor, now(t))
}

#[test]
fn ip_in_ip_is_probed_only_when_quality_is_judged() {
    let mut m = Machine::new(params(), 7);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0);
    assert!(
        probes(&m.tick(now(5000))).is_empty(),
        "no quality: no probes"
    );
    let mut m = Machine::new(quality_params(), 7);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0);
    assert_eq!(probes(&m.tick(now(1050))), vec![1]);
}

#[test]
fn a_lossy_wlan_is_left_by_itself_with_hysteresis() {
    let mut m = Machine::new(quality_params(), 7);
    m.set_wwan(true, now(0));
    registered(&mut m, 10, 0);
    let mut t = 1050;
    // Good: a full window, nothing lost.
    assert_eq!(reevaluations(&run_probes(&mut m, &mut t, &[true; 6])), 0);
    // The hysteresis band: 2 of 5 lost (40 %) is neither poor (>= 50) nor good (<= 10).
    let acts = run_probes(&mut m, &mut t, &[false, true, false, true, true, true]);
    assert_eq!(reevaluations(&acts), 0);
    assert!(!m.is_poor("wlan0"));
    // Poor: 3 of the last 5 lost -> left by itself, no operator.
    let acts = run_probes(&mut m, &mut t, &[false, false, false, true]);
    assert_eq!(reevaluations(&acts), 1, "{acts:?}");
    assert!(m.is_poor("wlan0"));
    assert_eq!(m.stats().quality_handovers, 1);
    let left_at = t - 1000; // the tick that counted the third miss
                            // Leaving is make-before-break: the cancel first, the tunnel until it is accepted.
    let acts = reevaluate(&mut m, 10, t);
    let s = sent(&acts);
    assert_eq!((s[0].0, s[0].1), (Path::Wwan, 0));
    assert!(m.tunnel().is_some());
    assert_eq!(
        m.on_reply(&reply(0, 0, s[0].3, KEY), now(t + 50)),
        vec![Action::TunnelDown]
    );
    // Tried again only after the hold-down (10 s).
    assert_eq!(m.next_deadline(), Some(left_at + 10_000));
    assert_eq!(reevaluations(&m.tick(now(left_at + 9_999))), 0);
    assert!(m.is_poor("wlan0"));
    assert_eq!(reevaluations(&m.tick(now(left_at + 10_000))), 1);
    assert!(!m.is_poor("wlan0"));
    // Back on it, still lossy: left again, and the hold-down doubled (20 s).
    t = left_at + 10_000;
    let s = sent(&reevaluate(&mut m, 10, t));
    assert_eq!(
        m.on_reply(&reply(0, 60, s[0].3, KEY), now(t + 50)),
        vec![Action::TunnelUp(wlan(10))]
    );
    t += 1050;
    let acts = run_probes(&mut m, &mut t, &[false; 6]);
    assert_eq!(reevaluations(&acts), 1);
    let left_at = t - 1000;
    m.set_wlan(None, Loss::Gone, now(t));
    assert_eq!(reevaluations(&m.tick(now(left_at + 19_999))), 0);
    assert_eq!(reevaluations(&m.tick(now(left_at + 20_000))), 1);
    // Good this time: a full clean window resets the hold-down to 10 s.
    t = left_at + 20_000;
    let s = sent(&reevaluate(&mut m, 10, t));
    m.on_reply(&reply(0, 60, s[0].3, KEY), now(t + 50));
    t += 1050;
    run_probes(&mut m, &mut t, &[true; 6]);
    let acts = run_probes(&mut m, &mut t, &[false; 6]);
    assert_eq!(reevaluations(&acts), 1);
    assert_eq!(m.stats().quality_handovers, 3);
    // (The window still held 5 answered probes: the third miss, at the 4th
    // of these 6 ticks, made it 60 % lost; the last tick was 2 s later.)
    let left_at = t - 3000;
    let last_tick = t - 1000;
    assert_eq!(
        m.status().quality_poor,
        vec![("wlan0", left_at + 10_000 - last_tick)],
        "the hold-down is back to 10 s"
    );
    // The judgement is of this WLAN: another network on the same interface is not poor.
    assert!(m.is_poor_at("wlan0", wlan(10).coa));
    assert!(!m.is_poor_at("wlan0", wlan(74).coa));
    // The operator overrides: wlan-ok clears the judgement at once.
    m.wlan_poor("wlan0", false);
    assert!(!m.is_poor("wlan0"));
}

#[test]
fn quality_and_nat_keepalives_share_the_probes() {
    let mut p = quality_params();
    p.probe_misses = 100; // keep the NAT re-registration out of the way
    let mut m = Machine::new(p, 7);
    nat_registered(&mut m, 0);
    let mut t = 1030;
    let acts = run_probes(&mut m, &mut t, &[true, false, false, false, false, true]);
    assert_eq!(
        reevaluations(&acts),
        1,
        "a NATed WLAN is judged the same way"
    );
    assert!(m.is_poor("wlan0"));
    // Left make-before-break, the cancel by the WWAN.
    let s = sent(&m.set_wlan(None, Loss::Poor, now(t)));
    assert_eq!((s[0].0, s[0].1), (Path::Wwan, 0));
    assert_eq!(m.udp_tunnel(), Some(NATTED));
}

#[test]
fn with_quality_judged_a_renewal_that_never_gets_through_makes_the_wlan_poor() {
    // (quality judged, renewal through the WLAN): only then is the lapse a verdict.
    for (quality, through_wlan) in [(false, true), (true, false), (true, true)] {
        let mut p = if quality { quality_params() } else { params() };
        p.lifetime_s = 4;
        p.probe_misses = 100;
        let mut m = Machine::new(p, 7);
        m.set_wwan(true, now(0));
        let w = if through_wlan { nat_wlan() } else { wlan(10) };
        let s = sent(&m.set_wlan(Some(w), Loss::Gone, now(0)));
        m.on_reply(&udp_reply(0, 4, s[0].3, Some(0)), now(10));
        let quality = quality && through_wlan;
        // Renewal at 80 % (3.2 s), never answered; answered probes meanwhile.
        let mut acts = Vec::new();
        for t in (1010..=4010).step_by(500) {
            let a = m.tick(now(t));
            for seq in probes(&a) {
                m.on_probe_reply(seq, now(t + 5));
            }
            acts.extend(a);
        }
        assert_eq!(sent(&acts).len(), 1, "the renewal");
        assert_eq!(m.stats().lapsed, 1);
        assert!(acts.contains(&Action::TunnelDown));
        assert_eq!(
            reevaluations(&acts),
            usize::from(quality),
            "quality {quality}"
        );
        assert_eq!(m.is_poor("wlan0"), quality);
        if quality {
            // The daemon's reevaluation: leave it (the renewal is superseded by a cancel).
            let s = sent(&m.set_wlan(None, Loss::Poor, now(4100)));
            assert_eq!((s[0].0, s[0].1), (Path::Wwan, 0));
            assert_eq!(m.stats().quality_handovers, 1);
        }
    }
}
