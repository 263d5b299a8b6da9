//! Registration handling on the control lcore (PROTOCOL.md section 1), without DPDK.
//!
//! [`Registrar::handle`] takes one Registration Request (the UDP payload and how it
//! arrived), decides against a [`BindingStore`] (the registration service's staged view
//! of the table: the batch's own changes on top of the committed table, none of them
//! visible to the workers), and returns the Reply to send and the [`Change`] that must be
//! made durable before that Reply leaves and before the workers forward by it.
//!
//! Order of checks, and the code each failure gets:
//!
//! | step | failure | code |
//! | --- | --- | --- |
//! | per-source admission limit | over | dropped, counted, no reply |
//! | global admission limit | over | dropped, counted, no reply |
//! | fixed part present, type 1 | no | dropped, counted (`dropped_unparsable`), no reply |
//! | structure (extensions, NAI, MN-HA present) | see `msm_mip::RequestError::code` | 134 / 131, or silent discard |
//! | subscriber by NAI | unknown | 129 (Reply without MN-HA: no key) |
//! | SPI | not the subscriber's | 131 |
//! | MN-HA authenticator (constant time) | wrong | 131 |
//! | per-subscriber limit | over | dropped, counted, no reply |
//! | Identification: timestamp window, increasing | no | 133, our time in the high 32 bits |
//! | flags (D, T, no M/G, no S/B) | no | 134 / 137 / 139 |
//! | home address | not the subscriber's or outside the pools | 129 |
//! | home agent | not one of our addresses | 136 |
//! | care-of address policy ([`care_of`]: martians, own addresses, home pools) | refused | 134 |
//! | care-of vs source (paths 2 and 3) | differ, without a UDP Tunnel Request extension | 134 |
//! | NAT traversal (RFC 3519, below) | path 2, encapsulation not 4, translated source refused by the policy | 134 / 139 / 134 |
//! | table | `max_bindings` reached | 130 |
//!
//! NAT traversal (PROTOCOL.md section 3): a request with a care-of address whose IP source
//! differs from it (path 3; path 2: the outer source) is behind a NAT. With a UDP Tunnel
//! Request extension (before the MN-HA extension, so authenticated), or whenever that
//! extension's F flag is set, the registrar binds the home address to the translated source
//! address and UDP source port of the request, and the Reply carries a UDP Tunnel Reply
//! extension (code 0, keepalive `control.nat_keepalive_secs`). Only path 3 can be tunnelled
//! in UDP (a path 2 request has no UDP port through the NAT): a path 2 request that would
//! need it gets 134. Without the extension a NATed request gets 134 as before. An extension
//! on a request that needs no UDP tunnel (no NAT, no F, or the WWAN report) is ignored and
//! the Reply carries none (RFC 3519: the home agent declines by leaving it out).
//!
//! Authentication comes before everything that depends on the request's contents
//! (RFC 5944 §3.8.2.1), so an unauthenticated peer can only learn "unknown subscriber" or
//! "authentication failed". Replies to known subscribers always carry an MN-HA
//! authenticator computed with the subscriber's key and SPI.
//!
//! Admission (PROTOCOL.md section 1): only the per-source and global limits are charged
//! before authentication; the subscriber's own budget is charged after it, so forged
//! requests naming an MSISDN cannot starve that subscriber. Replies to requests that did
//! not authenticate (129, 131, 134 before authentication) go to an address nobody proved
//! to own: they are rate-limited per destination and globally and never larger than the
//! request (see `reply.rs`).
//!
//! Idempotence: a retransmission carries a fresh Identification and the same binding, so
//! applying it again changes nothing but the expiry. A verbatim duplicate (same
//! Identification) gets 133, which the mobile treats as "resynchronise and retry".

use crate::config::{Prefix, RegistrationConfig};
use crate::control::reg_io::Path;
use crate::control::subscribers::{Subscriber, Subscribers};
pub use admission::MAX_PER_SUBSCRIBER_PER_SEC;
use admission::{take_packed, Bucket, SourceBuckets};
use care_of::{CareOfRefusal, CareOfRefusals};
use msm_mip::{Code, ParsedRequest};
use msm_table::{Binding, TableError, TableWriter};
use std::collections::HashMap;

mod admission;
pub mod care_of;
mod reply;
#[cfg(test)]
pub(crate) mod tests;

/// What the registrar reads and changes: the binding table itself (tests), or the
/// registration service's staged view of it (production: changes reach the table only
/// after their group commit).
pub trait BindingStore {
    /// The binding of `home`, if any.
    fn get(&self, home: u32) -> Option<Binding>;
    /// Inserts or replaces the binding of `b.home`; errors as [`TableWriter::upsert`]
    /// (`Full` when `max_bindings` is reached).
    fn upsert(&mut self, b: Binding) -> Result<(), TableError>;
}

impl BindingStore for TableWriter {
    fn get(&self, home: u32) -> Option<Binding> {
        TableWriter::get(self, home)
    }
    fn upsert(&mut self, b: Binding) -> Result<(), TableError> {
        TableWriter::upsert_endpoint(self, b.home, b.coa, b.port, b.msisdn, b.expires_at)
            .map(|_| ())
    }
}

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
                &Binding {
                    home: self.home,
                    coa: b.coa,
                    port: b.port,
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
    /// 0, or the UDP port of a NAT binding (RFC 3519).
    pub port: u16,
    pub msisdn: u64,
    /// Unix seconds.
    pub expires_at: u32,
}

/// Largest Reply we build (fixed 20 + NAI ext <= 2 + 255 + UDP Tunnel Reply ext 8 +
/// MN-HA ext 38).
pub const MAX_REPLY: usize = 328;

/// What a parsed request asked for (for the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFacts {
    /// The NAI's MSISDN, if the NAI is one.
    pub msisdn: Option<u64>,
    pub home: u32,
    pub care_of: u32,
    pub lifetime: u16,
}

impl RequestFacts {
    fn of(req: &ParsedRequest) -> RequestFacts {
        RequestFacts {
            msisdn: req.msisdn(),
            home: u32::from(req.home),
            care_of: u32::from(req.care_of),
            lifetime: req.lifetime,
        }
    }
}

/// The result of handling one request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What the request asked for, when it parsed.
    pub request: Option<RequestFacts>,
    pub code: Option<Code>,
    /// UDP payload of the Reply (`None`: silently dropped).
    pub reply: Option<([u8; MAX_REPLY], usize)>,
    pub change: Option<Change>,
}

impl Outcome {
    fn silent() -> Outcome {
        Outcome {
            request: None,
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
    /// Over the per-source limit charged before authentication.
    pub dropped_per_source: u64,
    /// Shorter than the fixed part or not a Registration Request: no reply.
    pub dropped_unparsable: u64,
    pub dropped_silently: u64,
    /// Replies without a valid MN-HA extension not sent: over the per-destination limit.
    pub unauthenticated_replies_dropped_per_source: u64,
    /// ... over the global limit.
    pub unauthenticated_replies_dropped_global: u64,
    /// ... cut to their fixed part so as not to exceed the request.
    pub unauthenticated_replies_trimmed: u64,
    /// Replies by code (code -> count); code 0 Replies withheld because their commit
    /// failed are not counted.
    pub by_code: std::collections::BTreeMap<u8, u64>,
    /// Replies refused because the table was full (code 130): alarm on this.
    pub table_full: u64,
    /// Care-of addresses refused (code 134) by the care-of address policy or for not
    /// being the request's source, by reason.
    pub care_of_refused: CareOfRefusals,
    /// NAT traversal (RFC 3519).
    pub nat: NatCounters,
}

/// NAT traversal counters (RFC 3519, PROTOCOL.md section 3).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct NatCounters {
    /// Requests carrying a UDP Tunnel Request extension (that parsed).
    pub requests: u64,
    /// Requests behind a NAT (IP source other than the care-of address named).
    pub detected: u64,
    /// Requests with the F (force) flag.
    pub forced: u64,
    /// Registrations accepted as NAT bindings (Reply with the UDP Tunnel Reply extension).
    pub bindings: u64,
    /// NATed requests without the extension: 134.
    pub without_extension: u64,
    /// UDP tunnelling asked on path 2 (no UDP port through the NAT): 134.
    pub refused_path2: u64,
    /// Encapsulation other than IP in IP asked: 139.
    pub refused_encapsulation: u64,
    /// Translated source refused by the care-of address policy (or source port 0): 134.
    pub refused_source: u64,
}

/// Replay state of an MSISDN the subscriber store does not hold (a journal record of a
/// deprovisioned subscriber, or one removed by a reload): kept so that it is back if the
/// subscriber is provisioned again. The provisioned subscribers' state is in their
/// records.
#[derive(Debug, Clone, Copy, Default)]
struct Orphan {
    last_ident: u64,
    bucket: u64,
}

/// Slots of the previous store a [`Registrar::migrate_step`] visits per call.
pub const MIGRATE_SLOTS: usize = 1024;

pub struct Registrar {
    cfg: RegistrationConfig,
    pools: Vec<Prefix>,
    /// The subscribers, with their replay state and admission bucket in their records.
    subs: Subscribers,
    /// The store before the last reload while its replay state is being carried over:
    /// a record of `subs` whose state is not its own takes it from here on first use;
    /// [`migrate_step`](Registrar::migrate_step) sweeps the rest, then drops it.
    prev: Option<Subscribers>,
    /// Next slot of `prev` to sweep.
    migrate_at: usize,
    /// Replay state of MSISDNs not in `subs` (rare: see [`Orphan`]).
    orphans: HashMap<u64, Orphan>,
    /// Pre-authentication limit for all requests.
    global: Bucket,
    /// Pre-authentication limit per source address.
    per_source: SourceBuckets,
    /// Limits of the Replies without a valid MN-HA extension: global, per destination.
    unauthenticated_global: Bucket,
    unauthenticated_per_source: SourceBuckets,
    /// Our own addresses (every port's): what a request may name as home agent, and
    /// never as care-of address.
    own_addresses: Vec<u32>,
    /// What the current batch's accepted requests changed in the replay state:
    /// (MSISDN, last Identification before, was a cancellation), undone by
    /// [`rollback_batch`](Registrar::rollback_batch) when the batch's commit fails.
    undo: Vec<(u64, u64, bool)>,
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
    /// Unix seconds as the binding table stores them (`u32::MAX` means "never").
    pub fn table_time(&self) -> u32 {
        self.unix_s.min(u32::MAX as u64 - 1) as u32
    }
    fn ntp(&self) -> u32 {
        (self.unix_s + msm_mip::NTP_UNIX_OFFSET) as u32
    }
}

impl Registrar {
    /// `cfg.per_subscriber_per_sec` is clamped to [`MAX_PER_SUBSCRIBER_PER_SEC`] (the
    /// configuration refuses more).
    pub fn new(
        mut cfg: RegistrationConfig,
        pools: Vec<Prefix>,
        subs: Subscribers,
        home_agents: Vec<u32>,
    ) -> Registrar {
        cfg.per_subscriber_per_sec = cfg.per_subscriber_per_sec.min(MAX_PER_SUBSCRIBER_PER_SEC);
        Registrar {
            global: Bucket::new(cfg.admission_per_sec),
            per_source: SourceBuckets::new(cfg.per_source_per_sec),
            unauthenticated_global: Bucket::new(cfg.unauthenticated_replies_per_sec),
            unauthenticated_per_source: SourceBuckets::new(
                cfg.unauthenticated_replies_per_source_per_sec,
            ),
            cfg,
            pools,
            subs,
            prev: None,
            migrate_at: 0,
            orphans: HashMap::new(),
            own_addresses: home_agents,
            undo: Vec::new(),
            counters: RegCounters::default(),
        }
    }

    pub fn subscribers(&self) -> &Subscribers {
        &self.subs
    }

    /// Replaces the subscriber store (operator reload). Replay state is kept per MSISDN.
    /// The current batch's changes are durable: forget how to undo them.
    pub fn commit_batch(&mut self) {
        self.undo.clear();
    }

    /// Undo entries kept (accepted changes not yet durable), oldest first.
    pub fn undo_len(&self) -> usize {
        self.undo.len()
    }

    /// The oldest batch, whose `n` undo entries are the first ones, is durable: forget
    /// them.
    pub fn forget_undo(&mut self, n: usize) {
        self.undo.drain(..n.min(self.undo.len()));
    }

    /// The current batch's commit failed (with the pipeline: the oldest batch not
    /// durable, and so every later one): its accepted requests did not happen. Their
    /// replay state goes back (a verbatim retransmission is decided afresh, not refused
    /// as a replay) and they are not counted as accepted or cancelled.
    pub fn rollback_batch(&mut self) {
        let mut undo = std::mem::take(&mut self.undo);
        for &(msisdn, before, cancel) in undo.iter().rev() {
            match self.subs.records().find(msisdn) {
                Some(i) => self.subs.records_mut().get_mut(i).last_ident = before,
                None => self.orphans.entry(msisdn).or_default().last_ident = before,
            }
            if cancel {
                self.counters.cancelled -= 1;
            } else {
                self.counters.accepted -= 1;
            }
            if let Some(n) = self.counters.by_code.get_mut(&(Code::Accepted as u8)) {
                *n -= 1;
            }
        }
        undo.clear();
        self.undo = undo;
    }

    /// Replaces the subscriber store (operator reload), between batches. Replay state
    /// is kept per MSISDN: the new records take it from the old store on first use, and
    /// [`migrate_step`](Self::migrate_step) carries over the rest a bounded number of
    /// slots at a time (the swap itself does not touch the 10M records). A reload while
    /// the previous one is still being carried over finishes that one first.
    pub fn replace_subscribers(&mut self, subs: Subscribers) {
        debug_assert!(self.undo.is_empty(), "reload inside a batch");
        while self.migrate_step(usize::MAX) > 0 {}
        let old = std::mem::replace(&mut self.subs, subs);
        // Orphans the new store provisions get their state back (orphans are few).
        let records = self.subs.records_mut();
        self.orphans
            .retain(|&msisdn, o| match records.find(msisdn) {
                Some(i) => {
                    records.get_mut(i).set_state(o.last_ident, o.bucket);
                    false
                }
                None => true,
            });
        self.prev = Some(old);
        self.migrate_at = 0;
    }

    /// Carries the replay state of up to `max` slots of the store before the last reload
    /// over to the current one (the control loop calls it every iteration with
    /// [`MIGRATE_SLOTS`]); drops the old store once it is swept. Returns the slots
    /// visited (0: nothing to carry over).
    pub fn migrate_step(&mut self, max: usize) -> usize {
        let Some(prev) = self.prev.as_ref() else {
            return 0;
        };
        let old = prev.records();
        let end = self.migrate_at.saturating_add(max).min(old.slots());
        let records = self.subs.records_mut();
        for slot in self.migrate_at..end {
            if !old.occupied(slot) {
                continue;
            }
            let r = old.get(slot);
            if !r.state_own() {
                continue;
            }
            match records.find(r.msisdn()) {
                Some(i) => {
                    let n = records.get_mut(i);
                    if !n.state_own() {
                        n.set_state(r.last_ident, r.bucket);
                    }
                }
                None => {
                    let o = Orphan {
                        last_ident: r.last_ident,
                        bucket: r.bucket,
                    };
                    self.orphans.insert(r.msisdn(), o);
                }
            }
        }
        let visited = end - self.migrate_at;
        self.migrate_at = end;
        if end >= old.slots() {
            self.prev = None;
            self.migrate_at = 0;
        }
        visited
    }

    /// Makes the replay state of the record in `slot` its own: taken from the store
    /// before the last reload if that still holds it, else the default (none, full
    /// bucket).
    #[inline]
    fn settle(&mut self, slot: usize) {
        if self.subs.records().get(slot).state_own() {
            return;
        }
        let msisdn = self.subs.records().get(slot).msisdn();
        let o = self.prev_state(msisdn).unwrap_or_default();
        self.subs
            .records_mut()
            .get_mut(slot)
            .set_state(o.last_ident, o.bucket);
    }

    /// Restores the last accepted Identification of a subscriber (journal replay).
    pub fn restore_ident(&mut self, msisdn: u64, ident: u64) {
        match self.subs.records().find(msisdn) {
            Some(i) => {
                self.settle(i);
                let r = self.subs.records_mut().get_mut(i);
                r.last_ident = r.last_ident.max(ident);
            }
            None => {
                let o = self.orphans.entry(msisdn).or_default();
                o.last_ident = o.last_ident.max(ident);
            }
        }
    }

    pub fn last_ident(&self, msisdn: u64) -> Option<u64> {
        let ident = match self.subs.records().find(msisdn) {
            Some(i) if self.subs.records().get(i).state_own() => {
                self.subs.records().get(i).last_ident
            }
            Some(_) => self.prev_state(msisdn).map_or(0, |o| o.last_ident),
            None => match self.orphans.get(&msisdn) {
                Some(o) => o.last_ident,
                None => self.prev_state(msisdn).map_or(0, |o| o.last_ident),
            },
        };
        (ident != 0).then_some(ident)
    }

    /// The state the store before the last reload holds for `msisdn`, while it is
    /// being carried over.
    fn prev_state(&self, msisdn: u64) -> Option<Orphan> {
        let p = self.prev.as_ref()?.records();
        let r = p.get(p.find(msisdn)?);
        r.state_own().then_some(Orphan {
            last_ident: r.last_ident,
            bucket: r.bucket,
        })
    }

    /// Prefetches what deciding these requests (UDP payloads) will read: the tag line
    /// and then the record of each one's subscriber, and the binding table's bucket of
    /// its home address. The control lcore calls it for a batch before deciding it; a
    /// payload that does not look like a request is skipped (it is only a hint).
    pub fn prefetch<'a>(
        &self,
        payloads: impl Iterator<Item = &'a [u8]> + Clone,
        table: &TableWriter,
    ) {
        let records = self.subs.records();
        for p in payloads.clone() {
            if let Some((msisdn, home)) = peek(p) {
                records.prefetch_tags(msisdn);
                table.prefetch(home);
            }
        }
        for p in payloads {
            if let Some((msisdn, _)) = peek(p) {
                records.prefetch_record(msisdn);
            }
        }
    }

    /// [`handle_udp`](Self::handle_udp) without the UDP source port (0: unknown, so a
    /// request that needs a UDP tunnel is refused).
    pub fn handle(
        &mut self,
        payload: &[u8],
        path: Path,
        src: u32,
        now: Now,
        table: &mut impl BindingStore,
    ) -> Outcome {
        self.handle_udp(payload, path, src, 0, now, table)
    }

    /// Handles one request. `src` and `sport` are the source address of the IP header
    /// carrying the UDP datagram (the inner one for path 2) and its UDP source port. The
    /// steps run in the order of the module doc's table; the first that refuses decides
    /// the outcome.
    pub fn handle_udp(
        &mut self,
        payload: &[u8],
        path: Path,
        src: u32,
        sport: u16,
        now: Now,
        table: &mut impl BindingStore,
    ) -> Outcome {
        self.counters.requests += 1;
        let peer = reply_address(path, src);
        if !self.admit_before_authentication(peer, now) {
            return Outcome::silent();
        }
        let req = match msm_mip::parse_request_any_flags(payload) {
            Ok(r) => r,
            Err(e) => return self.reply_unparsed(payload, e, peer, now),
        };
        let found = req.msisdn().and_then(|m| self.subs.records().find(m));
        let Some(slot) = found else {
            let code = Code::AdministrativelyProhibited;
            return self.unauthenticated(payload.len(), peer, now, |me| {
                me.reply(&req, None, code, 0, req.identification)
            });
        };
        let sub = self.subs.records().get(slot).subscriber();
        match self.check_and_apply(&req, (&sub, slot), path, (src, sport), now, table) {
            Ok(applied) => self.accept(&req, &sub, slot, applied, table),
            Err(Refusal::Dropped) => Outcome::silent(),
            Err(Refusal::Unauthenticated(code, ident)) => {
                self.unauthenticated(payload.len(), peer, now, |me| {
                    me.reply(&req, Some(&sub), code, 0, ident)
                })
            }
            Err(Refusal::Code(code, ident)) => self.reply(&req, Some(&sub), code, 0, ident),
        }
    }

    /// The limits charged before authentication: per source address first (a flooding
    /// source does not drain the global budget of everyone else), then global.
    fn admit_before_authentication(&mut self, peer: u32, now: Now) -> bool {
        if !self.per_source.take(peer, now.ms) {
            self.counters.dropped_per_source += 1;
            return false;
        }
        if !self.global.take(now.ms) {
            self.counters.dropped_admission += 1;
            return false;
        }
        true
    }

    /// The steps after the subscriber is known: authentication, its admission limit (only
    /// authenticated requests charge it), replay, flags, addresses, then the table.
    fn check_and_apply(
        &mut self,
        req: &ParsedRequest,
        (sub, slot): (&Subscriber, usize),
        path: Path,
        (src, sport): (u32, u16),
        now: Now,
        table: &mut impl BindingStore,
    ) -> Result<Applied, Refusal> {
        authenticate(req, sub)?;
        let last = self.admit_subscriber(slot, now)?;
        self.check_replay(req, last, now)?;
        req.check_flags()
            .map_err(|e| Refusal::Code(e.code(), req.identification))?;
        let (home, target) = self.check_addresses(req, sub, path, src, sport)?;
        self.apply(req, sub, home, target, now, table)
    }

    /// The per-subscriber admission limit; returns the subscriber's last accepted
    /// Identification.
    fn admit_subscriber(&mut self, slot: usize, now: Now) -> Result<Option<u64>, Refusal> {
        let per = self.cfg.per_subscriber_per_sec;
        self.settle(slot);
        let r = self.subs.records_mut().get_mut(slot);
        if !take_packed(&mut r.bucket, per, now.ms) {
            self.counters.dropped_per_subscriber += 1;
            return Err(Refusal::Dropped);
        }
        Ok((r.last_ident != 0).then_some(r.last_ident))
    }

    /// Identification: inside the timestamp window and increasing; a refusal carries our
    /// time in the high 32 bits.
    fn check_replay(
        &self,
        req: &ParsedRequest,
        last: Option<u64>,
        now: Now,
    ) -> Result<(), Refusal> {
        let window = self.cfg.replay_window_s;
        if msm_mip::check_replay(req.identification, now.ntp(), window, last).is_err() {
            let ident = msm_mip::reply_identification(req.identification, true, now.ntp());
            return Err(Refusal::Code(Code::IdentificationMismatch, ident));
        }
        Ok(())
    }

    /// Home address, home agent, then the care-of address: the policy of
    /// [`care_of::check`], and on paths 2 and 3 the source it came from (or, behind a NAT
    /// with the UDP Tunnel Request extension, the translated source and port: see the
    /// module doc); returns the home address and where to bind it.
    fn check_addresses(
        &mut self,
        req: &ParsedRequest,
        sub: &Subscriber,
        path: Path,
        src: u32,
        sport: u16,
    ) -> Result<(u32, Target), Refusal> {
        let refuse = |code| Refusal::Code(code, req.identification);
        let home = u32::from(req.home);
        if home != sub.home || !self.pools.iter().any(|p| p.contains(home)) {
            return Err(refuse(Code::AdministrativelyProhibited));
        }
        if !self.own_addresses.contains(&u32::from(req.home_agent)) {
            return Err(refuse(Code::UnknownHomeAgentAddress));
        }
        let care_of = u32::from(req.care_of);
        // 0.0.0.0 or the home address: the WWAN report, no care-of address.
        let coa = (care_of != 0 && care_of != home).then_some(care_of);
        let policy = coa.map_or(Ok(()), |c| {
            care_of::check(c, &self.own_addresses, &self.pools)
        });
        let from_source = match path {
            Path::Wwan => true,
            Path::Tunnel { outer_src, .. } => care_of == outer_src,
            Path::Direct => care_of == src,
        };
        if let Err(why) = policy {
            self.counters.care_of_refused.count(why);
            return Err(refuse(Code::PoorlyFormedRequest));
        }
        let plain = Target {
            coa,
            port: 0,
            udp_reply: false,
        };
        let nat = &mut self.counters.nat;
        let udp = req.udp_tunnel;
        if udp.is_some() {
            nat.requests += 1;
        }
        let natted = coa.is_some() && !from_source;
        if natted {
            nat.detected += 1;
        }
        let forced = udp.is_some_and(|u| u.force);
        if forced {
            nat.forced += 1;
        }
        let Some(udp) = udp.filter(|_| coa.is_some() && (natted || forced)) else {
            if natted {
                nat.without_extension += 1;
                self.counters
                    .care_of_refused
                    .count(CareOfRefusal::NotTheSource);
                return Err(refuse(Code::PoorlyFormedRequest));
            }
            return Ok((home, plain));
        };
        match path {
            Path::Wwan => Ok((home, plain)),
            Path::Tunnel { .. } => {
                nat.refused_path2 += 1;
                Err(refuse(Code::PoorlyFormedRequest))
            }
            Path::Direct => {
                if udp.encapsulation != msm_mip::nat::ENCAP_IPIP {
                    nat.refused_encapsulation += 1;
                    return Err(refuse(Code::EncapsulationUnavailable));
                }
                if sport == 0 || care_of::check(src, &self.own_addresses, &self.pools).is_err() {
                    nat.refused_source += 1;
                    return Err(refuse(Code::PoorlyFormedRequest));
                }
                Ok((
                    home,
                    Target {
                        coa: Some(src),
                        port: sport,
                        udp_reply: true,
                    },
                ))
            }
        }
    }

    /// Applies the binding to the table: a registration sets care-of and expiry (lifetime
    /// capped), a cancellation (lifetime 0) drops the care-of address and keeps the entry.
    fn apply(
        &mut self,
        req: &ParsedRequest,
        sub: &Subscriber,
        home: u32,
        target: Target,
        now: Now,
        table: &mut impl BindingStore,
    ) -> Result<Applied, Refusal> {
        let (binding, granted) = if req.lifetime == 0 {
            let kept = table.get(home).map(|b| BindingState {
                coa: None,
                port: 0,
                msisdn: sub.msisdn,
                expires_at: b.expires_at,
            });
            (kept, 0)
        } else {
            let granted = req.lifetime.min(self.cfg.max_lifetime_s);
            let expires_at = (now.unix_s + granted as u64).min(u32::MAX as u64 - 1) as u32;
            let b = BindingState {
                coa: target.coa,
                port: target.port,
                msisdn: sub.msisdn,
                expires_at,
            };
            (Some(b), granted)
        };
        if let Some(b) = binding {
            let row = Binding {
                home,
                coa: b.coa,
                port: b.port,
                msisdn: b.msisdn,
                expires_at: b.expires_at,
            };
            match table.upsert(row) {
                Ok(_) => {}
                Err(TableError::Full) => {
                    self.counters.table_full += 1;
                    let code = Code::InsufficientResources;
                    return Err(Refusal::Code(code, req.identification));
                }
                Err(_) => return Err(Refusal::Code(Code::ReasonUnspecified, req.identification)),
            }
        }
        Ok(Applied {
            home,
            binding,
            granted,
            udp_reply: target.udp_reply && req.lifetime != 0,
        })
    }

    /// Records the accepted request (replay state, counters) and builds its signed Reply
    /// with the [`Change`] to make durable.
    fn accept(
        &mut self,
        req: &ParsedRequest,
        sub: &Subscriber,
        slot: usize,
        applied: Applied,
        table: &impl BindingStore,
    ) -> Outcome {
        // admit_subscriber settled the record's state.
        let r = self.subs.records_mut().get_mut(slot);
        self.undo
            .push((sub.msisdn, r.last_ident, req.lifetime == 0));
        r.last_ident = req.identification;
        if req.lifetime == 0 {
            self.counters.cancelled += 1;
        } else {
            self.counters.accepted += 1;
        }
        let Applied {
            home,
            binding,
            granted,
            udp_reply,
        } = applied;
        let udp = udp_reply.then(|| {
            self.counters.nat.bindings += 1;
            msm_mip::UdpTunnelReplyRepr {
                reply_code: msm_mip::nat::UDP_TUNNEL_ACCEPTED,
                force: false,
                keepalive_interval: self.cfg.nat_keepalive_s,
            }
        });
        let code = Code::Accepted;
        let mut out = self.reply_with(req, Some(sub), code, granted, req.identification, udp);
        out.change = Some(Change {
            home,
            msisdn: sub.msisdn,
            binding: binding.or_else(|| {
                table.get(home).map(|b| BindingState {
                    coa: b.coa,
                    port: b.port,
                    msisdn: b.msisdn,
                    expires_at: b.expires_at,
                })
            }),
            last_ident: req.identification,
        });
        out
    }
}

/// Why a request gets no binding.
enum Refusal {
    /// Dropped and counted (an admission limit): no Reply.
    Dropped,
    /// Authentication failed: the Reply goes to an unproven address (rate-limited).
    Unauthenticated(Code, u64),
    /// Refused with this code; the Reply carries this Identification.
    Code(Code, u64),
}

/// What [`Registrar::apply`] did to the table.
struct Applied {
    home: u32,
    /// `None`: a cancellation for a home without an entry.
    binding: Option<BindingState>,
    /// Lifetime granted in the Reply (0 for a cancellation).
    granted: u16,
    /// The Reply carries a UDP Tunnel Reply extension (a NAT binding).
    udp_reply: bool,
}

/// Where a registration binds its home address.
#[derive(Debug, Clone, Copy)]
struct Target {
    /// `None`: the WWAN.
    coa: Option<u32>,
    /// 0: IP in IP to `coa`; else a NAT binding to `coa:port` (RFC 3519).
    port: u16,
    /// Answer with a UDP Tunnel Reply extension.
    udp_reply: bool,
}

/// The SPI must be the subscriber's and the MN-HA authenticator must verify (constant
/// time).
fn authenticate(req: &ParsedRequest, sub: &Subscriber) -> Result<(), Refusal> {
    if req.spi != sub.spi || !msm_mip::verify_mn_ha(req, sub.key()) {
        return Err(Refusal::Unauthenticated(
            Code::MnFailedAuthentication,
            req.identification,
        ));
    }
    Ok(())
}

/// The MSISDN (NAI digits) and home address of a Registration Request whose first
/// extension is the NAI, as the MCM sends it; `None` otherwise. For prefetching only:
/// [`Registrar::handle`] parses properly.
#[inline]
fn peek(p: &[u8]) -> Option<(u64, u32)> {
    const FIXED: usize = msm_mip::REQUEST_FIXED_LEN;
    if p.len() < FIXED + 3 || p[FIXED] != msm_mip::EXT_MN_NAI {
        return None;
    }
    let len = usize::from(p[FIXED + 1]).min(15);
    let nai = p.get(FIXED + 2..FIXED + 2 + len)?;
    let mut msisdn = 0u64;
    for &c in nai.iter().take_while(|c| c.is_ascii_digit()) {
        msisdn = msisdn * 10 + u64::from(c - b'0');
    }
    let home = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    Some((msisdn, home))
}

/// The address a request's Reply goes to, which keys the per-source limits. On path 2 it
/// is the outer source, not the inner one: the Reply is tunnelled to the outer source, so
/// that is the address a spoofed request would aim replies at, and the inner source (a home
/// address) names no host on the Internet side the request came from.
fn reply_address(path: Path, src: u32) -> u32 {
    match path {
        Path::Tunnel { outer_src, .. } => outer_src,
        Path::Wwan | Path::Direct => src,
    }
}
