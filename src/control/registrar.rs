//! Registration handling on the control lcore (PROTOCOL.md section 1), without DPDK.
//!
//! [`Registrar::handle`] takes one Registration Request (the UDP payload and how it
//! arrived), decides, applies the binding change to the table writer (in place: visible to
//! workers at once, published by the caller), and returns the Reply to send and the
//! [`Change`] that must be made durable before that Reply leaves.
//!
//! Order of checks, and the code each failure gets:
//!
//! | step | failure | code |
//! | --- | --- | --- |
//! | global admission limit | over | dropped, counted, no reply |
//! | structure (fixed part, extensions, NAI, MN-HA present) | see `msm_mip::RequestError::code` | 134 / 131, or silent discard |
//! | subscriber by NAI | unknown | 129 (Reply without MN-HA: no key) |
//! | per-subscriber limit | over | dropped, counted, no reply |
//! | SPI | not the subscriber's | 131 |
//! | MN-HA authenticator (constant time) | wrong | 131 |
//! | Identification: timestamp window, increasing | no | 133, our time in the high 32 bits |
//! | flags (D, T, no M/G, no S/B) | no | 134 / 137 / 139 |
//! | home address | not the subscriber's or outside the pools | 129 |
//! | home agent | not one of our addresses | 136 |
//! | care-of vs source (paths 2 and 3) | differ | 134 |
//! | table | `max_bindings` reached | 130 |
//!
//! Authentication comes before everything that depends on the request's contents
//! (RFC 5944 §3.8.2.1), so an unauthenticated peer can only learn "unknown subscriber" or
//! "authentication failed". Replies to known subscribers always carry an MN-HA
//! authenticator computed with the subscriber's key and SPI.
//!
//! Idempotence: a retransmission carries a fresh Identification and the same binding, so
//! applying it again changes nothing but the expiry. A verbatim duplicate (same
//! Identification) gets 133, which the mobile treats as "resynchronise and retry".

use crate::config::{Prefix, RegistrationConfig};
use crate::control::reg_io::Path;
use crate::control::subscribers::{Subscriber, Subscribers};
use msm_mip::{Code, ParsedRequest};
use msm_table::{TableError, TableWriter};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// A binding change that must be durable before its Reply leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub home: u32,
    pub msisdn: u64,
    /// `None` after a removal.
    pub binding: Option<BindingState>,
    /// Last accepted Identification of the subscriber (replay protection survives
    /// restarts).
    pub last_ident: u64,
}

impl Change {
    /// The journal record that makes this change durable.
    pub fn record(&self) -> crate::control::journal::Record {
        use crate::control::journal::Record;
        match self.binding {
            Some(b) => Record::upsert(
                &msm_table::Binding {
                    home: self.home,
                    coa: b.coa,
                    msisdn: b.msisdn,
                    expires_at: b.expires_at,
                },
                self.last_ident,
            ),
            None => Record::remove(self.home, self.msisdn, self.last_ident),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingState {
    pub coa: Option<u32>,
    pub msisdn: u64,
    /// Unix seconds.
    pub expires_at: u32,
}

/// Largest Reply we build (fixed 20 + NAI ext <= 2 + 255 + MN-HA ext 38).
pub const MAX_REPLY: usize = 320;

/// The result of handling one request.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: Option<Code>,
    /// UDP payload of the Reply (`None`: silently dropped).
    pub reply: Option<([u8; MAX_REPLY], usize)>,
    pub change: Option<Change>,
}

impl Outcome {
    fn silent() -> Outcome {
        Outcome {
            code: None,
            reply: None,
            change: None,
        }
    }
    pub fn reply_bytes(&self) -> Option<&[u8]> {
        self.reply.as_ref().map(|(b, n)| &b[..*n])
    }
}

/// Registration counters (control lcore only).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RegCounters {
    pub requests: u64,
    pub accepted: u64,
    pub cancelled: u64,
    pub dropped_admission: u64,
    pub dropped_per_subscriber: u64,
    pub dropped_silently: u64,
    /// Replies by code (code -> count).
    pub by_code: std::collections::BTreeMap<u8, u64>,
    /// Replies refused because the table was full (code 130): alarm on this.
    pub table_full: u64,
}

struct SubState {
    last_ident: u64,
    /// Per-subscriber admission limit.
    bucket: Bucket,
}

/// Token bucket in milliseconds with one second of burst.
#[derive(Debug)]
struct Bucket {
    per_sec: u64,
    tokens_milli: u64,
    last_ms: u64,
}

impl Bucket {
    fn new(per_sec: u32) -> Bucket {
        Bucket {
            per_sec: per_sec as u64,
            tokens_milli: per_sec as u64 * 1000,
            last_ms: 0,
        }
    }
    fn take(&mut self, now_ms: u64) -> bool {
        let cap = self.per_sec * 1000;
        let dt = now_ms.saturating_sub(self.last_ms);
        self.last_ms = now_ms;
        self.tokens_milli = self
            .tokens_milli
            .saturating_add(dt.saturating_mul(self.per_sec))
            .min(cap);
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            true
        } else {
            false
        }
    }
}

pub struct Registrar {
    cfg: RegistrationConfig,
    pools: Vec<Prefix>,
    subs: Subscribers,
    state: HashMap<u64, SubState>,
    global: Bucket,
    /// Our addresses a request may name as home agent.
    home_agents: Vec<u32>,
    pub counters: RegCounters,
}

/// Current time as the request handler sees it.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub unix_s: u64,
    pub ms: u64,
}

impl Now {
    pub fn system() -> Now {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Now {
            unix_s: d.as_secs(),
            ms: d.as_millis() as u64,
        }
    }
    fn ntp(&self) -> u32 {
        (self.unix_s + msm_mip::NTP_UNIX_OFFSET) as u32
    }
}

impl Registrar {
    pub fn new(
        cfg: RegistrationConfig,
        pools: Vec<Prefix>,
        subs: Subscribers,
        home_agents: Vec<u32>,
    ) -> Registrar {
        let global = Bucket::new(cfg.admission_per_sec);
        Registrar {
            cfg,
            pools,
            subs,
            state: HashMap::new(),
            global,
            home_agents,
            counters: RegCounters::default(),
        }
    }

    pub fn subscribers(&self) -> &Subscribers {
        &self.subs
    }

    /// Replaces the subscriber store (operator reload). Replay state is kept per MSISDN.
    pub fn replace_subscribers(&mut self, subs: Subscribers) {
        self.subs = subs;
    }

    /// Restores the last accepted Identification of a subscriber (journal replay).
    pub fn restore_ident(&mut self, msisdn: u64, ident: u64) {
        let per = self.cfg.per_subscriber_per_sec;
        let st = self.state.entry(msisdn).or_insert_with(|| SubState {
            last_ident: 0,
            bucket: Bucket::new(per),
        });
        st.last_ident = st.last_ident.max(ident);
    }

    pub fn last_ident(&self, msisdn: u64) -> Option<u64> {
        self.state
            .get(&msisdn)
            .map(|s| s.last_ident)
            .filter(|i| *i != 0)
    }

    /// Handles one request. `src` is the source address of the IP header carrying the
    /// UDP datagram (the inner one for path 2).
    pub fn handle(
        &mut self,
        payload: &[u8],
        path: Path,
        src: u32,
        now: Now,
        table: &mut TableWriter,
    ) -> Outcome {
        self.counters.requests += 1;
        if !self.global.take(now.ms) {
            self.counters.dropped_admission += 1;
            return Outcome::silent();
        }
        let req = match msm_mip::parse_request_any_flags(payload) {
            Ok(r) => r,
            Err(e) => return self.reply_unparsed(payload, e.reply_code(), now),
        };
        let Some(sub) = req.msisdn().and_then(|m| self.subs.by_msisdn(m)).copied() else {
            return self.reply(
                &req,
                None,
                Code::AdministrativelyProhibited,
                0,
                req.identification,
            );
        };
        // Per-subscriber admission.
        let per = self.cfg.per_subscriber_per_sec;
        let st = self.state.entry(sub.msisdn).or_insert_with(|| SubState {
            last_ident: 0,
            bucket: Bucket::new(per),
        });
        if !st.bucket.take(now.ms) {
            self.counters.dropped_per_subscriber += 1;
            return Outcome::silent();
        }
        let last = (st.last_ident != 0).then_some(st.last_ident);

        if req.spi != sub.spi || !msm_mip::verify_mn_ha(&req, sub.key()) {
            return self.reply(
                &req,
                Some(&sub),
                Code::MnFailedAuthentication,
                0,
                req.identification,
            );
        }
        if msm_mip::check_replay(
            req.identification,
            now.ntp(),
            self.cfg.replay_window_s,
            last,
        )
        .is_err()
        {
            let ident = msm_mip::reply_identification(req.identification, true, now.ntp());
            return self.reply(&req, Some(&sub), Code::IdentificationMismatch, 0, ident);
        }
        if let Err(e) = req.check_flags() {
            let code = e.code();
            return self.reply(&req, Some(&sub), code, 0, req.identification);
        }
        let home = u32::from(req.home);
        if home != sub.home || !self.pools.iter().any(|p| p.contains(home)) {
            return self.reply(
                &req,
                Some(&sub),
                Code::AdministrativelyProhibited,
                0,
                req.identification,
            );
        }
        if !self.home_agents.contains(&u32::from(req.home_agent)) {
            return self.reply(
                &req,
                Some(&sub),
                Code::UnknownHomeAgentAddress,
                0,
                req.identification,
            );
        }
        let care_of = u32::from(req.care_of);
        let coa_matches = match path {
            Path::Wwan => true,
            Path::Tunnel { outer_src, .. } => care_of == outer_src,
            Path::Direct => care_of == src,
        };
        if !coa_matches {
            return self.reply(
                &req,
                Some(&sub),
                Code::PoorlyFormedRequest,
                0,
                req.identification,
            );
        }
        let coa = (care_of != 0 && care_of != home).then_some(care_of);
        if coa.is_some_and(|c| {
            let a = Ipv4Addr::from(c);
            a.is_broadcast()
                || a.is_multicast()
                || a.is_loopback()
                || self.pools.iter().any(|p| p.contains(c))
        }) {
            return self.reply(
                &req,
                Some(&sub),
                Code::PoorlyFormedRequest,
                0,
                req.identification,
            );
        }

        // Apply.
        let (binding, granted) = if req.lifetime == 0 {
            // Cancelling registration report: drop the care-of address, keep the entry.
            match table.get(home) {
                Some(b) => (
                    Some(BindingState {
                        coa: None,
                        msisdn: sub.msisdn,
                        expires_at: b.expires_at,
                    }),
                    0,
                ),
                None => (None, 0),
            }
        } else {
            let granted = req.lifetime.min(self.cfg.max_lifetime_s);
            let expires_at = (now.unix_s + granted as u64).min(u32::MAX as u64 - 1) as u32;
            (
                Some(BindingState {
                    coa,
                    msisdn: sub.msisdn,
                    expires_at,
                }),
                granted,
            )
        };
        if let Some(b) = binding {
            match table.upsert(home, b.coa, b.msisdn, b.expires_at) {
                Ok(_) => {}
                Err(TableError::Full) => {
                    self.counters.table_full += 1;
                    return self.reply(
                        &req,
                        Some(&sub),
                        Code::InsufficientResources,
                        0,
                        req.identification,
                    );
                }
                Err(_) => {
                    return self.reply(
                        &req,
                        Some(&sub),
                        Code::ReasonUnspecified,
                        0,
                        req.identification,
                    );
                }
            }
        }
        if let Some(st) = self.state.get_mut(&sub.msisdn) {
            st.last_ident = req.identification;
        }
        if req.lifetime == 0 {
            self.counters.cancelled += 1;
        } else {
            self.counters.accepted += 1;
        }
        let mut out = self.reply(
            &req,
            Some(&sub),
            Code::Accepted,
            granted,
            req.identification,
        );
        out.change = Some(Change {
            home,
            msisdn: sub.msisdn,
            binding: binding.or(table.get(home).map(|b| BindingState {
                coa: b.coa,
                msisdn: b.msisdn,
                expires_at: b.expires_at,
            })),
            last_ident: req.identification,
        });
        out
    }

    fn count(&mut self, code: Code) {
        *self.counters.by_code.entry(code as u8).or_default() += 1;
    }

    fn reply(
        &mut self,
        req: &ParsedRequest,
        sub: Option<&Subscriber>,
        code: Code,
        lifetime: u16,
        ident: u64,
    ) -> Outcome {
        self.count(code);
        let mut buf = [0u8; MAX_REPLY];
        let Some(sub) = sub else {
            // Unknown subscriber: no key to sign with (see `unsigned_reply`).
            let n = unsigned_reply(&mut buf, code, req.home, req.home_agent, ident, req.nai);
            return Outcome {
                code: Some(code),
                reply: Some((buf, n)),
                change: None,
            };
        };
        let b = msm_mip::ReplyBuilder {
            code,
            lifetime,
            home: req.home,
            home_agent: req.home_agent,
            identification: ident,
            nai: req.nai_str().unwrap_or(""),
            spi: sub.spi,
            key: sub.key(),
        };
        match b.emit(&mut buf) {
            Ok(n) => Outcome {
                code: Some(code),
                reply: Some((buf, n)),
                change: None,
            },
            Err(_) => Outcome::silent(),
        }
    }

    /// A request that did not parse: answer with the code if its fixed part is readable
    /// (no NAI echo, no authenticator: we don't know whose it is), else drop.
    fn reply_unparsed(&mut self, payload: &[u8], code: Option<Code>, _now: Now) -> Outcome {
        let (Some(code), Ok(v)) = (code, msm_mip::RegistrationRequest::new_checked(payload)) else {
            self.counters.dropped_silently += 1;
            return Outcome::silent();
        };
        self.count(code);
        let mut buf = [0u8; MAX_REPLY];
        let n = unsigned_reply(
            &mut buf,
            code,
            v.home_address(),
            v.home_agent(),
            v.identification(),
            &[],
        );
        Outcome {
            code: Some(code),
            reply: Some((buf, n)),
            change: None,
        }
    }
}

/// A Reply without the MN-HA extension, for requests whose sender we cannot identify
/// (unknown subscriber, unparsable extensions): there is no key to sign with. A
/// compliant mobile ignores it (it cannot authenticate it); it exists so that an
/// operator's capture shows why a request was refused. The NAI is echoed when valid.
fn unsigned_reply(
    out: &mut [u8; MAX_REPLY],
    code: Code,
    home: Ipv4Addr,
    ha: Ipv4Addr,
    ident: u64,
    nai: &[u8],
) -> usize {
    out[0] = msm_mip::TYPE_REPLY;
    out[1] = code as u8;
    out[2..4].copy_from_slice(&0u16.to_be_bytes());
    out[4..8].copy_from_slice(&home.octets());
    out[8..12].copy_from_slice(&ha.octets());
    out[12..20].copy_from_slice(&ident.to_be_bytes());
    let mut n = msm_mip::REPLY_FIXED_LEN;
    if !nai.is_empty()
        && nai.len() <= 255
        && msm_mip::Nai::parse(nai).is_some()
        && n + 2 + nai.len() <= MAX_REPLY
    {
        out[n] = msm_mip::EXT_MN_NAI;
        out[n + 1] = nai.len() as u8;
        out[n + 2..n + 2 + nai.len()].copy_from_slice(nai);
        n += 2 + nai.len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use msm_mip::RequestBuilder;
    use msm_table::{Lookup, Rcu, TableConfig};

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

    fn cfg() -> RegistrationConfig {
        RegistrationConfig {
            subscribers: None,
            state_dir: None,
            max_lifetime_s: 600,
            replay_window_s: 7,
            admission_per_sec: 1000,
            per_subscriber_per_sec: 5,
            journal_compact_bytes: 1 << 20,
        }
    }

    fn rig_with(cfg: RegistrationConfig, max_bindings: usize) -> Rig {
        let pools = vec![Prefix::parse("192.0.2.0/25").unwrap()];
        let text =
            format!("491700000010 192.0.2.10 256 {KEY}\n491700000011 192.0.2.11 300 {KEY}\n");
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
        .to_vec()
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
            let o = r.send(&req(300, COA, ident(skew, 9 + skew as u32)), Path::Wwan, 0);
            assert_eq!(
                o.code,
                Some(Code::Accepted),
                "skew {skew} inside the window"
            );
        }
        assert!(r.lookup().is_some());
    }

    #[test]
    fn every_refusal_code_has_its_trigger() {
        let k = key();
        let base = RequestBuilder {
            lifetime: 300,
            home: HOME,
            home_agent: Ipv4Addr::from(GPRS),
            care_of: COA,
            identification: ident(0, 1),
            nai: "491700000010",
            spi: 256,
            key: &k,
        };
        type Case<'a> = (&'a str, Vec<u8>, Path, u32, Option<Code>);
        let cases: Vec<Case> = vec![
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
        ];
        for (name, payload, path, src, want) in cases {
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
}
