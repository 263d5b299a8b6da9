//! Tests of the registrar: codes, signatures, replay, admission limits, a full table.

use super::*;
use msm_mip::RequestBuilder;
use msm_table::{Lookup, Rcu, TableConfig};
use std::net::Ipv4Addr;

mod care_of;
mod nat;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const GPRS: u32 = 0xc000_0281; // 192.0.2.129
const WLAN: u32 = 0xc633_6401; // 198.51.100.1
const HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const COA: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const NOW: u64 = 1_800_000_000;

fn key() -> Vec<u8> {
    (0u8..32).collect()
}

struct Rig {
    reg: Registrar,
    table: TableWriter,
    now: Now,
}

/// The registration settings of the registrar and service tests.
pub(crate) fn cfg() -> RegistrationConfig {
    RegistrationConfig {
        subscribers: None,
        state_dir: None,
        max_lifetime_s: 600,
        replay_window_s: 7,
        admission_per_sec: 1000,
        per_subscriber_per_sec: 5,
        per_source_per_sec: 1000,
        unauthenticated_replies_per_sec: 1000,
        unauthenticated_replies_per_source_per_sec: 1000,
        journal_compact_bytes: 1 << 20,
        nat_keepalive_s: 110,
    }
}

fn rig_with(cfg: RegistrationConfig, max_bindings: usize) -> Rig {
    let pools = vec![Prefix::parse("192.0.2.0/25").unwrap()];
    let text = format!("491700000010 192.0.2.10 256 {KEY}\n491700000011 192.0.2.11 300 {KEY}\n");
    let subs = Subscribers::parse(&text, &pools).unwrap();
    let (rcu, _readers) = Rcu::new(1);
    let table = TableWriter::new(TableConfig::new(max_bindings), rcu).unwrap();
    Rig {
        reg: Registrar::new(cfg, pools, subs, vec![GPRS, WLAN]),
        table,
        now: Now {
            unix_s: NOW,
            ms: NOW * 1000,
        },
    }
}

fn rig() -> Rig {
    rig_with(cfg(), 100)
}

fn ident(skew: i64, low: u32) -> u64 {
    let ntp = (NOW as i64 + msm_mip::NTP_UNIX_OFFSET as i64 + skew) as u64;
    (ntp << 32) | low as u64
}

fn req(lifetime: u16, coa: Ipv4Addr, id: u64) -> Vec<u8> {
    req_udp(lifetime, coa, id, None)
}

/// [`req`] with an optional UDP Tunnel Request extension (RFC 3519).
fn req_udp(
    lifetime: u16,
    coa: Ipv4Addr,
    id: u64,
    udp: Option<msm_mip::UdpTunnelRequestRepr>,
) -> Vec<u8> {
    let k = key();
    RequestBuilder {
        lifetime,
        home: HOME,
        home_agent: Ipv4Addr::from(GPRS),
        care_of: coa,
        identification: id,
        nai: "491700000010",
        spi: 256,
        key: &k,
    }
    .to_vec_with(udp)
    .unwrap()
}

impl Rig {
    fn send(&mut self, payload: &[u8], path: Path, src: u32) -> Outcome {
        self.now.ms += 1000; // stay under the per-subscriber limit
        self.reg
            .handle(payload, path, src, self.now, &mut self.table)
    }
    fn lookup(&self) -> Option<Binding> {
        self.table.get(u32::from(HOME))
    }
}

use msm_table::Binding;

mod admission;

fn reply(o: &Outcome) -> msm_mip::ParsedReply<'_> {
    msm_mip::parse_reply(o.reply_bytes().expect("a reply")).expect("parses")
}

#[test]
fn accepted_on_every_path_and_reply_is_signed() {
    let mut r = rig();
    let direct = Path::Direct;
    let tunnel = Path::Tunnel {
        outer_src: u32::from(COA),
        outer_dst: WLAN,
    };
    for (i, (path, src)) in [
        (Path::Wwan, u32::from(HOME)),
        (tunnel, u32::from(HOME)),
        (direct, u32::from(COA)),
    ]
    .into_iter()
    .enumerate()
    {
        let id = ident(0, i as u32 + 1);
        let o = r.send(&req(900, COA, id), path, src);
        assert_eq!(o.code, Some(Code::Accepted), "{path:?}");
        let p = reply(&o);
        assert_eq!(p.code, 0);
        assert_eq!(p.lifetime, 600, "capped at max_lifetime_s");
        assert_eq!(p.identification, id);
        assert_eq!(p.nai, b"491700000010");
        assert!(
            msm_mip::verify_mn_ha(&p, &key()),
            "reply authenticator verifies"
        );
        let c = o.change.unwrap();
        assert_eq!(c.binding.unwrap().coa, Some(u32::from(COA)));
        assert_eq!(c.last_ident, id);
    }
    let b = r.lookup().unwrap();
    assert_eq!(b.coa, Some(u32::from(COA)));
    assert_eq!(b.expires_at as u64, NOW + 600);
    assert_eq!(r.reg.counters.accepted, 3);
}

#[test]
fn wwan_registration_and_cancel_keep_an_entry_without_care_of() {
    let mut r = rig();
    let o = r.send(
        &req(300, Ipv4Addr::UNSPECIFIED, ident(0, 1)),
        Path::Wwan,
        u32::from(HOME),
    );
    assert_eq!(o.code, Some(Code::Accepted));
    assert_eq!(r.lookup().unwrap().coa, None);
    let o = r.send(&req(300, COA, ident(0, 2)), Path::Direct, u32::from(COA));
    assert_eq!(o.code, Some(Code::Accepted));
    let view_rcu = r.table.rcu().clone();
    let _ = view_rcu;
    assert_eq!(r.lookup().unwrap().coa, Some(u32::from(COA)));
    let o = r.send(&req(0, COA, ident(0, 3)), Path::Wwan, u32::from(HOME));
    assert_eq!(o.code, Some(Code::Accepted));
    assert_eq!(reply(&o).lifetime, 0);
    let b = r.lookup().unwrap();
    assert_eq!(b.coa, None, "cancel drops the care-of address");
    assert_eq!(o.change.unwrap().binding.unwrap().coa, None);
    assert_eq!(r.reg.counters.cancelled, 1);
    // home address as care-of = from the WWAN
    let o = r.send(&req(300, HOME, ident(0, 4)), Path::Wwan, u32::from(HOME));
    assert_eq!(o.code, Some(Code::Accepted));
    assert_eq!(r.lookup().unwrap().coa, None);
}

#[test]
fn retransmission_is_idempotent_and_duplicates_get_133() {
    let mut r = rig();
    let a = r.send(&req(300, COA, ident(0, 1)), Path::Wwan, 0);
    let b1 = r.lookup();
    let b = r.send(&req(300, COA, ident(0, 2)), Path::Wwan, 0);
    assert_eq!(
        (a.code, b.code),
        (Some(Code::Accepted), Some(Code::Accepted))
    );
    assert_eq!(r.lookup().map(|b| b.coa), b1.map(|b| b.coa));
    assert_eq!(r.table.len(), 1);
    // the very same request again: not increasing
    let c = r.send(&req(300, COA, ident(0, 2)), Path::Wwan, 0);
    assert_eq!(c.code, Some(Code::IdentificationMismatch));
    assert!(c.change.is_none());
}

#[test]
fn clock_skew_gets_133_with_our_time() {
    let mut r = rig();
    for skew in [-8i64, 8, -3600] {
        let id = ident(skew, 0xabcd);
        let o = r.send(&req(300, COA, id), Path::Wwan, 0);
        assert_eq!(o.code, Some(Code::IdentificationMismatch), "skew {skew}");
        let p = reply(&o);
        assert_eq!(p.identification & 0xffff_ffff, 0xabcd, "low bits copied");
        assert_eq!(
            p.identification >> 32,
            NOW + msm_mip::NTP_UNIX_OFFSET,
            "our time"
        );
        assert!(msm_mip::verify_mn_ha(&p, &key()));
    }
    for skew in [-7i64, 7] {
        let o = r.send(
            &req(300, COA, ident(skew, (9 + skew) as u32)),
            Path::Wwan,
            0,
        );
        assert_eq!(
            o.code,
            Some(Code::Accepted),
            "skew {skew} inside the window"
        );
    }
    assert!(r.lookup().is_some());
}

/// A valid request (lifetime 300, path 1) signed with `k`.
fn base_request(k: &[u8]) -> RequestBuilder<'_> {
    RequestBuilder {
        lifetime: 300,
        home: HOME,
        home_agent: Ipv4Addr::from(GPRS),
        care_of: COA,
        identification: ident(0, 1),
        nai: "491700000010",
        spi: 256,
        key: k,
    }
}

/// (name, payload, path, source, expected code) of every refusal but the flags'.
type Case<'a> = (&'a str, Vec<u8>, Path, u32, Option<Code>);

fn refusal_cases(base: RequestBuilder<'_>) -> Vec<Case<'static>> {
    vec![
        (
            "unknown subscriber",
            RequestBuilder {
                nai: "491799999999",
                ..base
            }
            .to_vec()
            .unwrap(),
            Path::Wwan,
            0,
            Some(Code::AdministrativelyProhibited),
        ),
        (
            "wrong key",
            RequestBuilder {
                key: &[7u8; 32],
                ..base
            }
            .to_vec()
            .unwrap(),
            Path::Wwan,
            0,
            Some(Code::MnFailedAuthentication),
        ),
        (
            "unknown SPI",
            RequestBuilder { spi: 999, ..base }.to_vec().unwrap(),
            Path::Wwan,
            0,
            Some(Code::MnFailedAuthentication),
        ),
        (
            "not the subscriber's home",
            RequestBuilder {
                home: Ipv4Addr::new(192, 0, 2, 11),
                ..base
            }
            .to_vec()
            .unwrap(),
            Path::Wwan,
            0,
            Some(Code::AdministrativelyProhibited),
        ),
        (
            "unknown home agent",
            RequestBuilder {
                home_agent: Ipv4Addr::new(192, 0, 2, 1),
                ..base
            }
            .to_vec()
            .unwrap(),
            Path::Wwan,
            0,
            Some(Code::UnknownHomeAgentAddress),
        ),
        (
            "care-of differs from source (direct)",
            base.to_vec().unwrap(),
            Path::Direct,
            0xcb00_7163,
            Some(Code::PoorlyFormedRequest),
        ),
        (
            "care-of differs from outer source",
            base.to_vec().unwrap(),
            Path::Tunnel {
                outer_src: 0xcb00_7163,
                outer_dst: WLAN,
            },
            0,
            Some(Code::PoorlyFormedRequest),
        ),
        (
            "care-of inside the home pool",
            RequestBuilder {
                care_of: Ipv4Addr::new(192, 0, 2, 50),
                ..base
            }
            .to_vec()
            .unwrap(),
            Path::Wwan,
            0,
            Some(Code::PoorlyFormedRequest),
        ),
        (
            "truncated",
            base.to_vec().unwrap()[..20].to_vec(),
            Path::Wwan,
            0,
            None,
        ),
    ]
}

#[test]
fn every_refusal_code_has_its_trigger() {
    let k = key();
    for (name, payload, path, src, want) in refusal_cases(base_request(&k)) {
        let mut r = rig();
        let o = r.send(&payload, path, src);
        assert_eq!(o.code, want, "{name}");
        assert!(o.change.is_none(), "{name}: no change");
        assert!(r.lookup().is_none(), "{name}: no binding");
        match want {
            Some(c) if name == "unknown subscriber" => {
                // no key to sign with: fixed part + NAI echo, no MN-HA
                let b = o.reply_bytes().unwrap();
                assert_eq!((b[0], b[1]), (3, c as u8));
                assert_eq!(&b[20..22], &[131, 12]);
                assert_eq!(b.len(), 20 + 2 + 12);
            }
            Some(c) => {
                let p = reply(&o);
                assert_eq!(p.code, c as u8, "{name}");
                assert!(msm_mip::verify_mn_ha(&p, &k), "{name}: signed");
            }
            None => assert!(o.reply.is_none(), "{name}: silent"),
        }
    }
}

#[test]
fn refused_flags_and_a_bad_authenticator_get_their_codes() {
    let k = key();
    let base = base_request(&k);
    // flags: T = 0 -> 138, G -> 139, D = 0 -> 134 (re-signed after the flag change)
    for (flags, want) in [
        (0x20u8, Code::ReverseTunnelMandatory),
        (0x2a, Code::EncapsulationUnavailable),
        (0x02, Code::PoorlyFormedRequest),
    ] {
        let mut r = rig();
        let mut p = base.to_vec().unwrap();
        let mut v = msm_mip::RegistrationRequest::new_checked(&mut p[..]).unwrap();
        v.set_flags(msm_mip::Flags(flags));
        assert!(v.fill_mn_ha(&k));
        assert_eq!(
            r.send(&p, Path::Wwan, 0).code,
            Some(want),
            "flags {flags:#x}"
        );
    }
    // bad authenticator byte: 131
    let mut r = rig();
    let mut p = base.to_vec().unwrap();
    let n = p.len();
    p[n - 1] ^= 1;
    assert_eq!(
        r.send(&p, Path::Wwan, 0).code,
        Some(Code::MnFailedAuthentication)
    );
}

#[test]
fn full_table_gets_130_and_is_counted() {
    let mut r = rig_with(cfg(), 1);
    r.table.upsert(0xc000_0263, None, 1, u32::MAX).unwrap(); // someone else fills it
    let o = r.send(&req(300, COA, ident(0, 1)), Path::Wwan, 0);
    assert_eq!(o.code, Some(Code::InsufficientResources));
    assert!(msm_mip::verify_mn_ha(&reply(&o), &key()));
    assert_eq!(r.reg.counters.table_full, 1);
    assert!(o.change.is_none());
}

#[test]
fn admission_limits_drop_silently() {
    let mut c = cfg();
    c.per_subscriber_per_sec = 2;
    let mut r = rig_with(c, 10);
    let mut codes = Vec::new();
    for i in 0..4 {
        // same millisecond: the bucket does not refill
        codes.push(
            r.reg
                .handle(
                    &req(300, COA, ident(0, i + 1)),
                    Path::Wwan,
                    0,
                    r.now,
                    &mut r.table,
                )
                .code,
        );
    }
    assert_eq!(
        codes,
        vec![Some(Code::Accepted), Some(Code::Accepted), None, None]
    );
    assert_eq!(r.reg.counters.dropped_per_subscriber, 2);
    let mut c = cfg();
    c.admission_per_sec = 1;
    let mut r = rig_with(c, 10);
    let now = r.now;
    assert!(r
        .reg
        .handle(
            &req(300, COA, ident(0, 1)),
            Path::Wwan,
            0,
            now,
            &mut r.table
        )
        .code
        .is_some());
    assert!(r
        .reg
        .handle(
            &req(300, COA, ident(0, 2)),
            Path::Wwan,
            0,
            now,
            &mut r.table
        )
        .code
        .is_none());
    assert_eq!(r.reg.counters.dropped_admission, 1);
    // a huge limit with a first call at a realistic clock must not overflow
    let mut c = cfg();
    c.admission_per_sec = u32::MAX;
    let mut r = rig_with(c, 10);
    assert!(r
        .send(&req(300, COA, ident(0, 1)), Path::Wwan, 0)
        .code
        .is_some());
}

#[test]
fn replay_state_is_restored() {
    let mut r = rig();
    r.reg.restore_ident(491700000010, ident(0, 50));
    assert_eq!(
        r.send(&req(300, COA, ident(0, 40)), Path::Wwan, 0).code,
        Some(Code::IdentificationMismatch)
    );
    assert_eq!(
        r.send(&req(300, COA, ident(0, 51)), Path::Wwan, 0).code,
        Some(Code::Accepted)
    );
    let _ = Lookup::Miss;
}

/// A request of subscriber 491700000010 (home `HOME`) or 491700000011 (192.0.2.11, SPI
/// 300).
fn req_of(sub11: bool, id: u64) -> Vec<u8> {
    let k = key();
    RequestBuilder {
        lifetime: 300,
        home: if sub11 {
            Ipv4Addr::new(192, 0, 2, 11)
        } else {
            HOME
        },
        home_agent: Ipv4Addr::from(GPRS),
        care_of: COA,
        identification: id,
        nai: if sub11 {
            "491700000011"
        } else {
            "491700000010"
        },
        spi: if sub11 { 300 } else { 256 },
        key: &k,
    }
    .to_vec()
    .unwrap()
}

impl Rig {
    /// Decides a request of subscriber 10 or 11 at the rig's current time (no advance).
    fn at_once(&mut self, sub11: bool, id: u64) -> Option<Code> {
        let now = self.now;
        let p = req_of(sub11, id);
        self.reg
            .handle(&p, Path::Wwan, 0, now, &mut self.table)
            .code
    }
}

/// A store of the given lines (subscriber 10 and 11 as in the rig, plus others).
fn store(lines: &[&str]) -> Subscribers {
    let pools = vec![Prefix::parse("192.0.2.0/25").unwrap()];
    let mut text = String::new();
    for l in lines {
        text.push_str(&l.replace("KEY", KEY));
        text.push('\n');
    }
    Subscribers::parse(&text, &pools).unwrap()
}
const SUB10: &str = "491700000010 192.0.2.10 256 KEY";
const SUB11: &str = "491700000011 192.0.2.11 300 KEY";

/// The replay state and the admission budget live in the subscriber records: a reload
/// (a new store) takes them over, on first use and by the sweep, and only then drops
/// the old store.
#[test]
fn replay_state_and_budget_survive_a_reload() {
    let mut c = cfg();
    c.per_subscriber_per_sec = 2;
    let mut r = rig_with(c, 10);
    assert_eq!(r.at_once(false, ident(0, 50)), Some(Code::Accepted));
    r.reg.restore_ident(491700000011, ident(0, 70));
    // Many more subscribers in the new store: other slots, other neighbours.
    let mut lines = vec![SUB11.to_string(), SUB10.to_string()];
    for i in 20..100 {
        lines.push(format!("4917000000{i} 192.0.2.{i} 256 KEY"));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    r.reg.replace_subscribers(store(&lines));
    // Before any sweep: read through to the old store.
    assert_eq!(r.reg.last_ident(491700000010), Some(ident(0, 50)));
    assert_eq!(r.reg.last_ident(491700000011), Some(ident(0, 70)));
    // First use takes the state over: the replay is refused, and the budget (2/s, one
    // spent in this millisecond) has one left.
    assert_eq!(
        r.at_once(false, ident(0, 40)),
        Some(Code::IdentificationMismatch)
    );
    assert_eq!(
        r.at_once(false, ident(0, 51)),
        None,
        "the carried-over budget is spent"
    );
    assert_eq!(r.reg.counters.dropped_per_subscriber, 1);
    // The sweep carries over the rest, in bounded steps, then drops the old store.
    let mut steps = 0;
    while r.reg.migrate_step(3) > 0 {
        steps += 1;
    }
    assert!(steps > 1, "bounded steps ({steps})");
    assert!(r.reg.prev.is_none());
    assert_eq!(r.reg.migrate_step(3), 0);
    assert_eq!(r.reg.last_ident(491700000011), Some(ident(0, 70)));
    r.now.ms += 1000;
    assert_eq!(
        r.at_once(true, ident(0, 69)),
        Some(Code::IdentificationMismatch)
    );
    assert_eq!(r.at_once(true, ident(0, 71)), Some(Code::Accepted));
    assert_eq!(r.reg.last_ident(491700000020), None);
}

/// A subscriber a reload removes keeps its replay state (outside the records) and has
/// it again when a later reload provisions it; so does the state of an MSISDN the
/// journal names that was never provisioned. A reload during the sweep of the previous
/// one finishes that sweep first.
#[test]
fn replay_state_of_a_removed_subscriber_comes_back() {
    let mut r = rig();
    r.reg.restore_ident(491700000011, ident(0, 70));
    r.reg.restore_ident(491700000099, ident(0, 90));
    assert_eq!(r.reg.last_ident(491700000099), Some(ident(0, 90)));
    r.reg.replace_subscribers(store(&[SUB10]));
    assert_eq!(
        r.reg.last_ident(491700000011),
        Some(ident(0, 70)),
        "mid-sweep"
    );
    // No sweep step: the next reload finishes it.
    r.reg
        .replace_subscribers(store(&[SUB10, "491700000099 192.0.2.99 256 KEY"]));
    while r.reg.migrate_step(1) > 0 {}
    assert_eq!(r.reg.last_ident(491700000011), Some(ident(0, 70)));
    assert_eq!(r.reg.last_ident(491700000099), Some(ident(0, 90)));
    r.reg.replace_subscribers(store(&[SUB11, SUB10]));
    while r.reg.migrate_step(1) > 0 {}
    assert!(r.reg.orphans.contains_key(&491700000099));
    assert!(!r.reg.orphans.contains_key(&491700000011));
    assert_eq!(
        r.at_once(true, ident(0, 70)),
        Some(Code::IdentificationMismatch),
        "a replay after all that"
    );
    assert_eq!(r.at_once(true, ident(0, 71)), Some(Code::Accepted));
}

/// A failed commit undoes the batch's replay state in the records, the later of two
/// changes of one subscriber first.
#[test]
fn rollback_restores_the_records_replay_state() {
    let mut r = rig();
    r.reg.restore_ident(491700000010, ident(0, 10));
    for low in [20, 30] {
        assert_eq!(
            r.send(&req(300, COA, ident(0, low)), Path::Wwan, 0).code,
            Some(Code::Accepted)
        );
    }
    assert_eq!(r.reg.last_ident(491700000010), Some(ident(0, 30)));
    r.reg.rollback_batch();
    assert_eq!(r.reg.last_ident(491700000010), Some(ident(0, 10)));
    assert_eq!(r.reg.counters.accepted, 0);
    // Decided afresh, then committed: it stays.
    assert_eq!(
        r.send(&req(300, COA, ident(0, 20)), Path::Wwan, 0).code,
        Some(Code::Accepted)
    );
    r.reg.commit_batch();
    r.reg.rollback_batch();
    assert_eq!(r.reg.last_ident(491700000010), Some(ident(0, 20)));
}

/// The prefetch's peek finds the MSISDN and home of a request as the MCM builds it, and
/// nothing in what is not one (it is only a hint: `handle` parses properly).
#[test]
fn prefetch_peeks_msisdn_and_home() {
    let p = req_of(true, ident(0, 1));
    assert_eq!(
        peek(&p),
        Some((491700000011, u32::from(Ipv4Addr::new(192, 0, 2, 11))))
    );
    assert_eq!(peek(&p[..20]), None);
    let mut q = p.clone();
    q[24] = 32; // the MN-HA extension first
    assert_eq!(peek(&q), None);
    assert_eq!(peek(&p[..30]), None, "the NAI cut short");
    // Prefetching a batch of any bytes changes nothing.
    let r = rig();
    let batch: Vec<&[u8]> = vec![&p, &q, &[], &p[..30]];
    r.reg.prefetch(batch.iter().copied(), &r.table);
}
