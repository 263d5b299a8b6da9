//! Tests of the registration service: replies after the commit, commit failure, expiry, bind.
//!
//! Most use a stand-in journal (`FakeLog`) that can fail its commits; one uses the real
//! journal in a temporary directory.

use super::*;
use crate::config::Prefix;
use crate::control::journal::Kind;
use msm_mip::RequestBuilder;
use msm_table::{Lookup, Rcu, RcuReader, TableConfig};
use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;

pub(super) const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub(super) const GPRS: u32 = 0xc000_0281; // 192.0.2.129
pub(super) const COA: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
pub(super) const NOW: u64 = 1_800_000_000;

/// Subscriber `i` (0 or 1): MSISDN 49170000001i, home 192.0.2.1i, SPI 256.
pub(super) fn msisdn(i: u8) -> u64 {
    491_700_000_010 + u64::from(i)
}

pub(super) fn home(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10 + i)
}

pub(super) fn now(s: u64) -> Now {
    Now {
        unix_s: s,
        ms: s * 1000,
    }
}

/// An Identification inside the replay window at `NOW`.
pub(super) fn ident(low: u32) -> u64 {
    ((NOW + msm_mip::NTP_UNIX_OFFSET) << 32) | u64::from(low)
}

/// A request from subscriber `i`, signed with `key`.
pub(super) fn request(i: u8, lifetime: u16, id: u64, key: &[u8]) -> Vec<u8> {
    RequestBuilder {
        lifetime,
        home: home(i),
        home_agent: Ipv4Addr::from(GPRS),
        care_of: COA,
        identification: id,
        nai: &msisdn(i).to_string(),
        spi: 256,
        key,
    }
    .to_vec()
    .unwrap()
}

pub(super) fn key() -> Vec<u8> {
    (0u8..32).collect()
}

pub(super) fn registrar() -> Registrar {
    let pools = vec![Prefix::parse("192.0.2.0/25").unwrap()];
    let text = format!(
        "{} 192.0.2.10 256 {KEY}\n{} 192.0.2.11 256 {KEY}\n",
        msisdn(0),
        msisdn(1)
    );
    let subs = Subscribers::parse(&text, &pools).unwrap();
    let cfg = crate::control::registrar::tests::cfg();
    Registrar::new(cfg, pools, subs, vec![GPRS])
}

pub(super) fn table() -> (TableWriter, RcuReader) {
    let (rcu, mut readers) = Rcu::new(1);
    let writer = TableWriter::new(TableConfig::new(100), rcu).unwrap();
    (writer, readers.pop().unwrap())
}

/// What the stand-in journal saw; shared with the test so that a release callback can
/// look at it while the service holds the log.
#[derive(Debug, Default)]
pub(super) struct LogState {
    pub(super) buffered: Vec<Record>,
    pub(super) committed: Vec<Record>,
    /// Commits fail while this is set (the group is dropped, as the journal does).
    pub(super) failing: bool,
    pub(super) compactions: Vec<Vec<Record>>,
    /// Groups begun and not yet finished, with their numbers.
    pub(super) flight: std::collections::VecDeque<(u64, Vec<Record>)>,
    pub(super) next: u64,
    /// While set, `poll_commit(false)` finds no group finished (the disk is slow).
    pub(super) slow: bool,
    /// Groups up to this number fail (a failure fails every group begun before it was
    /// reported, as the journal's sync thread does).
    pub(super) fail_through: Option<u64>,
    /// Results a blocking `commit` collected for `poll_commit`.
    pub(super) backlog: std::collections::VecDeque<(u64, io::Result<()>)>,
}

impl LogState {
    /// Finishes the oldest group in flight.
    fn finish_one(&mut self) -> Option<(u64, io::Result<()>)> {
        let (n, group) = self.flight.pop_front()?;
        if self.failing && self.fail_through.is_none_or(|t| t < n) {
            self.fail_through = self.flight.back().map_or(Some(n), |&(last, _)| Some(last));
        }
        if self.fail_through.is_some_and(|t| n <= t) {
            return Some((n, Err(io::Error::other("injected commit failure"))));
        }
        self.committed.extend(group);
        Some((n, Ok(())))
    }
}

#[derive(Clone, Default)]
pub(super) struct FakeLog(pub(super) Rc<RefCell<LogState>>);

impl DurableLog for FakeLog {
    fn append(&mut self, rec: &Record) {
        self.0.borrow_mut().buffered.push(*rec);
    }
    fn pending(&self) -> usize {
        self.0.borrow().buffered.len()
    }
    fn begin_commit(&mut self) -> io::Result<Option<u64>> {
        let mut s = self.0.borrow_mut();
        if s.buffered.is_empty() {
            return Ok(None);
        }
        let n = s.next;
        s.next += 1;
        let group = std::mem::take(&mut s.buffered);
        s.flight.push_back((n, group));
        Ok(Some(n))
    }
    fn poll_commit(&mut self, wait: bool) -> Option<(u64, io::Result<()>)> {
        let mut s = self.0.borrow_mut();
        if let Some(r) = s.backlog.pop_front() {
            return Some(r);
        }
        if s.slow && !wait {
            return None;
        }
        s.finish_one()
    }
    fn commit(&mut self) -> io::Result<()> {
        let mine = self.begin_commit()?;
        let mut s = self.0.borrow_mut();
        let mut res = Ok(());
        while let Some((n, r)) = s.finish_one() {
            if Some(n) == mine {
                res = r;
            } else {
                s.backlog.push_back((n, r));
            }
        }
        res
    }
    fn log_bytes(&self) -> u64 {
        (self.0.borrow().committed.len() * crate::control::journal::RECORD_LEN) as u64
    }
    fn maybe_compact(&mut self, threshold: u64) -> CompactionEvent {
        if self.log_bytes() < threshold || self.commit().is_err() {
            return CompactionEvent::Idle;
        }
        let mut s = self.0.borrow_mut();
        let sealed = std::mem::take(&mut s.committed);
        let records = sealed.len() as u64;
        s.compactions.push(sealed);
        CompactionEvent::Finished {
            records,
            duration: std::time::Duration::ZERO,
        }
    }
}

pub(super) type Service = RegistrationService<usize, FakeLog>;

pub(super) fn service(compact_bytes: u64) -> (Service, FakeLog, RcuReader) {
    let log = FakeLog::default();
    let (writer, reader) = table();
    let svc = RegistrationService::new(Some(registrar()), writer, Some(log.clone()), compact_bytes);
    (svc, log, reader)
}

/// Finishes the batch, returning the released (token, code) pairs.
pub(super) fn finish(svc: &mut Service) -> (BatchReport, Vec<(usize, Option<Code>)>) {
    let mut out = Vec::new();
    let report = svc.finish_batch(|t, r| out.push((t, r.code)));
    (report, out)
}

/// What a worker sees for `home` (through its RCU reader).
pub(super) fn worker_sees(svc: &Service, reader: &mut RcuReader, home: Ipv4Addr) -> Lookup {
    let handle = svc.writer().handle();
    let guard = reader.begin();
    let view = handle.view(&guard);
    view.lookup(u32::from(home))
}

#[test]
fn replies_leave_only_after_the_group_commit() {
    let (mut svc, log, _reader) = service(1 << 20);
    let k = key();
    let epoch0 = svc.writer().rcu().epoch();
    svc.submit(0, &request(0, 300, ident(1), &k), Path::Wwan, 0, now(NOW));
    svc.submit(1, &request(1, 300, ident(2), &k), Path::Wwan, 0, now(NOW));
    // Decided, staged and appended; nothing committed, applied or released yet.
    assert_eq!(svc.held(), 2);
    assert_eq!(
        svc.writer().get(u32::from(home(0))),
        None,
        "not in the table yet"
    );
    assert_eq!(log.0.borrow().buffered.len(), 2);
    assert!(log.0.borrow().committed.is_empty());
    let mut released = Vec::new();
    let report = svc.finish_batch(|t, r| {
        // Every record of the batch is durable by the time a Reply is released.
        let s = log.0.borrow();
        assert_eq!((s.committed.len(), s.buffered.len()), (2, 0));
        let p = msm_mip::parse_reply(r.payload).expect("a Reply");
        assert_eq!(p.code, 0);
        assert!(msm_mip::verify_mn_ha(&p, &key()));
        released.push((t, r.code));
    });
    assert_eq!(
        released,
        vec![(0, Some(Code::Accepted)), (1, Some(Code::Accepted))]
    );
    assert!(report.durable);
    assert_eq!((report.released, report.withheld), (2, 0));
    assert_eq!(svc.held(), 0);
    let c = svc.counters();
    assert_eq!(
        (c.journal_commits, c.publishes, c.journal_errors),
        (1, 1, 0)
    );
    assert!(svc.writer().rcu().epoch() > epoch0, "published");
    let committed = &log.0.borrow().committed;
    assert_eq!(committed[0].home, u32::from(home(0)));
    assert_eq!(committed[0].coa, Some(u32::from(COA)));
    assert_eq!(committed[0].last_ident, ident(1));
}

#[test]
fn a_failed_commit_withholds_accepting_replies_and_counts_them() {
    let (mut svc, log, mut reader) = service(1 << 20);
    let k = key();
    log.0.borrow_mut().failing = true;
    svc.submit(0, &request(0, 300, ident(1), &k), Path::Wwan, 0, now(NOW));
    // A refusal (wrong key: 131) carries no change.
    svc.submit(
        1,
        &request(1, 300, ident(2), &[7u8; 32]),
        Path::Wwan,
        0,
        now(NOW),
    );
    let (report, released) = finish(&mut svc);
    assert_eq!(released, vec![(1, Some(Code::MnFailedAuthentication))]);
    assert!(!report.durable);
    assert_eq!((report.released, report.withheld), (1, 1));
    let c = svc.counters().clone();
    assert_eq!(
        (
            c.journal_errors,
            c.journal_commits,
            c.journal_commit_failures,
            c.publishes
        ),
        (1, 0, 1, 0)
    );
    // Nothing reached the table or the workers; the journal dropped the group.
    assert_eq!(svc.writer().get(u32::from(home(0))), None);
    assert_eq!(worker_sees(&svc, &mut reader, home(0)), Lookup::Miss);
    assert!(log.0.borrow().buffered.is_empty());
    assert!(svc.journal_failure().unwrap().contains("injected"));
    // The store recovers: the retransmission is acknowledged and applied.
    log.0.borrow_mut().failing = false;
    svc.submit(
        2,
        &request(0, 300, ident(3), &k),
        Path::Wwan,
        0,
        now(NOW + 1),
    );
    let (report, released) = finish(&mut svc);
    assert_eq!(released, vec![(2, Some(Code::Accepted))]);
    assert!(report.durable);
    assert_eq!(report.applied, 1);
    assert_eq!(svc.counters().journal_errors, 1);
    assert_eq!(svc.journal_failure(), None, "cleared by the commit");
    assert_eq!(log.0.borrow().committed.len(), 1, "only the durable group");
    assert_eq!(
        worker_sees(&svc, &mut reader, home(0)),
        Lookup::CareOf(u32::from(COA))
    );
}

#[test]
fn while_commits_fail_the_workers_keep_the_last_durable_state() {
    let (mut svc, log, mut reader) = service(1 << 20);
    let k = key();
    svc.submit(0, &request(0, 300, ident(1), &k), Path::Wwan, 0, now(NOW));
    finish(&mut svc);
    let before = worker_sees(&svc, &mut reader, home(0));
    assert_eq!(before, Lookup::CareOf(u32::from(COA)));
    log.0.borrow_mut().failing = true;
    // A cancellation, a new registration and an operator bind/unbind: all refused by
    // the journal, none visible.
    svc.submit(1, &request(0, 0, ident(2), &k), Path::Wwan, 0, now(NOW + 1));
    svc.submit(
        2,
        &request(1, 300, ident(3), &k),
        Path::Wwan,
        0,
        now(NOW + 1),
    );
    let (report, released) = finish(&mut svc);
    assert!(released.is_empty(), "{released:?}");
    assert_eq!((report.withheld, report.applied), (2, 0));
    assert!(matches!(
        svc.bind(u32::from(home(1)), Some(7), msisdn(1)),
        Err(BindError::NotDurable)
    ));
    assert!(matches!(
        svc.unbind(u32::from(home(0))),
        Err(BindError::NotDurable)
    ));
    assert_eq!(worker_sees(&svc, &mut reader, home(0)), before);
    assert_eq!(worker_sees(&svc, &mut reader, home(1)), Lookup::Miss);
    assert_eq!(svc.writer().len(), 1);
    assert_eq!(svc.counters().journal_errors, 4);
    assert!(svc.journal_failure().is_some());
    assert_eq!(log.0.borrow().committed.len(), 1);
}

#[test]
fn a_batch_sees_its_own_staged_changes() {
    let (mut svc, log, mut reader) = service(1 << 20);
    let k = key();
    // Register then cancel in one batch: the cancel finds the staged binding and keeps
    // its entry (care-of dropped, expiry kept), as it would after a commit.
    svc.submit(0, &request(0, 300, ident(1), &k), Path::Wwan, 0, now(NOW));
    svc.submit(1, &request(0, 0, ident(2), &k), Path::Wwan, 0, now(NOW));
    let (report, released) = finish(&mut svc);
    assert_eq!(
        released,
        vec![(0, Some(Code::Accepted)), (1, Some(Code::Accepted))]
    );
    assert_eq!(report.applied, 2);
    let b = svc.writer().get(u32::from(home(0))).unwrap();
    assert_eq!((b.coa, b.expires_at), (None, (NOW + 300) as u32));
    assert_eq!(worker_sees(&svc, &mut reader, home(0)), Lookup::Wwan);
    let s = log.0.borrow();
    assert_eq!(s.committed.len(), 2);
    assert_eq!(s.committed[1].coa, None);
    assert_eq!(s.committed[1].expires_at, (NOW + 300) as u32);
}

#[test]
fn staged_inserts_count_against_max_bindings() {
    let log = FakeLog::default();
    let (rcu, _readers) = Rcu::new(1);
    let writer = TableWriter::new(TableConfig::new(1), rcu).unwrap();
    let mut svc: Service =
        RegistrationService::new(Some(registrar()), writer, Some(log.clone()), 1 << 20);
    let k = key();
    svc.submit(0, &request(0, 300, ident(1), &k), Path::Wwan, 0, now(NOW));
    svc.submit(1, &request(1, 300, ident(2), &k), Path::Wwan, 0, now(NOW));
    // Subscriber 0 again (an update of its staged binding) still fits.
    svc.submit(2, &request(0, 300, ident(3), &k), Path::Wwan, 0, now(NOW));
    let (_, released) = finish(&mut svc);
    assert_eq!(
        released,
        vec![
            (0, Some(Code::Accepted)),
            (1, Some(Code::InsufficientResources)),
            (2, Some(Code::Accepted))
        ]
    );
    assert_eq!(svc.writer().len(), 1);
    assert_eq!(svc.counters().apply_errors, 0);
}

#[test]
fn expired_bindings_are_removed_journaled_and_published() {
    let (mut svc, log, mut reader) = service(1 << 20);
    svc.submit(0, &request(0, 2, ident(1), &key()), Path::Wwan, 0, now(NOW));
    let (report, _) = finish(&mut svc);
    assert_eq!(report.released, 1);
    assert_eq!(
        worker_sees(&svc, &mut reader, home(0)),
        Lookup::CareOf(u32::from(COA))
    );
    assert_eq!(svc.expire(now(NOW + 1)), 0, "not yet");
    let publishes = svc.counters().publishes;
    let epoch = svc.writer().rcu().epoch();
    assert_eq!(svc.expire(now(NOW + 2)), 1);
    assert_eq!(svc.writer().get(u32::from(home(0))), None);
    assert_eq!(worker_sees(&svc, &mut reader, home(0)), Lookup::Miss);
    assert_eq!(
        svc.counters().journal_commits,
        1,
        "the Remove's commit is in flight"
    );
    assert_eq!(svc.batches_in_flight(), 1);
    let report = svc.poll_batches(true, |_, _| {});
    assert_eq!((report.batches, report.durable), (1, true));
    let c = svc.counters();
    assert_eq!((c.expired, c.publishes), (1, publishes + 1));
    assert_eq!(c.journal_commits, 2);
    assert!(svc.writer().rcu().epoch() > epoch, "published");
    let s = log.0.borrow();
    assert!(s.buffered.is_empty(), "committed");
    let last = s.committed.last().unwrap();
    assert_eq!(
        *last,
        Record::remove(u32::from(home(0)), msisdn(0), ident(1))
    );
}

#[test]
fn without_subscribers_registrations_are_counted_and_dropped() {
    let (writer, _reader) = table();
    let log = FakeLog::default();
    let mut svc: Service = RegistrationService::new(None, writer, Some(log.clone()), 1 << 20);
    let d = svc.decide(&request(0, 300, ident(1), &key()), Path::Wwan, 0, now(NOW));
    assert_eq!(d.code(), None);
    svc.hold(0, d);
    assert_eq!(svc.held(), 0);
    assert_eq!(svc.counters().registrations_no_subscribers, 1);
    assert!(log.0.borrow().buffered.is_empty());
}

#[test]
fn silent_drops_hold_nothing() {
    let (mut svc, log, _reader) = service(1 << 20);
    svc.submit(0, &[1, 2, 3], Path::Wwan, 0, now(NOW));
    assert_eq!(svc.held(), 0);
    assert!(log.0.borrow().buffered.is_empty());
}

#[test]
fn operator_bind_and_unbind_are_journaled_committed_and_published() {
    let (mut svc, log, mut reader) = service(1 << 20);
    let h = Ipv4Addr::new(192, 0, 2, 20);
    let epoch = svc.bind(u32::from(h), Some(u32::from(COA)), 4917).unwrap();
    assert_eq!(epoch, svc.writer().rcu().epoch());
    assert_eq!(
        worker_sees(&svc, &mut reader, h),
        Lookup::CareOf(u32::from(COA))
    );
    {
        let s = log.0.borrow();
        let r = s.committed.last().unwrap();
        assert_eq!(
            (r.kind, r.expires_at, r.msisdn),
            (Kind::Upsert, u32::MAX, 4917)
        );
    }
    assert!(svc.unbind(u32::from(h)).unwrap());
    assert!(!svc.unbind(u32::from(h)).unwrap(), "nothing left to remove");
    assert_eq!(worker_sees(&svc, &mut reader, h), Lookup::Miss);
    let s = log.0.borrow();
    assert_eq!(
        *s.committed.last().unwrap(),
        Record::remove(u32::from(h), 4917, 0)
    );
    let c = svc.counters();
    assert_eq!((c.journal_commits, c.publishes), (2, 2));
}

#[test]
fn the_journal_is_compacted_past_its_threshold() {
    let threshold = 2 * crate::control::journal::RECORD_LEN as u64;
    let (mut svc, log, _reader) = service(threshold);
    svc.submit(
        0,
        &request(0, 300, ident(1), &key()),
        Path::Wwan,
        0,
        now(NOW),
    );
    let _ = finish(&mut svc);
    svc.maybe_compact();
    assert_eq!(svc.counters().journal_compactions, 0, "below the threshold");
    svc.submit(
        1,
        &request(1, 300, ident(2), &key()),
        Path::Wwan,
        0,
        now(NOW),
    );
    let _ = finish(&mut svc);
    svc.maybe_compact();
    assert_eq!(svc.counters().journal_compactions, 1);
    let s = log.0.borrow();
    // What the merge gets: the log's records, each home's carrying its subscriber's
    // replay state (journal::compact_test checks the merge keeps it).
    let sealed = &s.compactions[0];
    assert_eq!(sealed.len(), 2);
    assert!(sealed.iter().all(|r| r.kind == Kind::Upsert));
    let r0 = sealed.iter().find(|r| r.msisdn == msisdn(0)).unwrap();
    assert_eq!(
        r0.last_ident,
        ident(1),
        "replay state goes into the snapshot"
    );
}

/// With the real journal: the record is in the log file when the Reply is released.
#[test]
fn with_the_journal_the_record_is_on_disk_before_the_reply() {
    let dir = std::env::temp_dir().join(format!("msm-service-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (journal, _) = Journal::open(&dir).unwrap();
    let (writer, _reader) = table();
    let mut svc: RegistrationService<usize> =
        RegistrationService::new(Some(registrar()), writer, Some(journal), 1 << 20);
    svc.submit(
        7,
        &request(0, 300, ident(1), &key()),
        Path::Wwan,
        0,
        now(NOW),
    );
    let log = dir.join(crate::control::journal::LOG_FILE);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
    let mut released = 0;
    let report = svc.finish_batch(|t, _| {
        assert_eq!(t, 7);
        let len = std::fs::metadata(&log).unwrap().len();
        assert_eq!(len, crate::control::journal::RECORD_LEN as u64);
        released += 1;
    });
    assert_eq!((released, report.durable), (1, true));
    assert_eq!(svc.journal().unwrap().stats().commits, 1);
    drop(svc);
    let (_, replay) = Journal::open(&dir).unwrap();
    assert_eq!(replay.records.len(), 1);
    assert_eq!(replay.records[0].home, u32::from(home(0)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn operator_bind_reports_a_failed_commit() {
    let (mut svc, log, _reader) = service(1 << 20);
    log.0.borrow_mut().failing = true;
    let h = u32::from(Ipv4Addr::new(192, 0, 2, 20));
    let e = svc.bind(h, Some(u32::from(COA)), 4917).unwrap_err();
    assert!(matches!(e, BindError::NotDurable), "{e}");
    assert!(e.to_string().contains("not durable"));
    assert_eq!(svc.counters().journal_errors, 1);
    assert!(log.0.borrow().committed.is_empty());
    assert_eq!(svc.writer().get(h), None, "not applied");
    log.0.borrow_mut().failing = false;
    assert!(
        svc.bind(h, Some(u32::from(COA)), 4917).is_ok(),
        "back once the disk is"
    );
}

#[test]
fn a_verbatim_retransmission_after_a_failed_commit_is_decided_afresh() {
    let (mut svc, log, _reader) = service(1 << 20);
    let req = request(0, 300, ident(1), &key());
    log.0.borrow_mut().failing = true;
    svc.submit(0, &req, Path::Wwan, 0, now(NOW));
    let (report, released) = finish(&mut svc);
    assert!(released.is_empty());
    assert_eq!(report.withheld, 1);
    let c = &svc.registrar().unwrap().counters;
    assert_eq!(c.accepted, 0, "a withheld acceptance is not counted");
    assert_eq!(c.by_code.get(&0), Some(&0));
    assert_eq!(svc.registrar().unwrap().last_ident(msisdn(0)), None);
    // Same bytes, same Identification: not a replay (133), since nothing happened.
    log.0.borrow_mut().failing = false;
    svc.submit(1, &req, Path::Wwan, 0, now(NOW + 1));
    let (_, released) = finish(&mut svc);
    assert_eq!(released, vec![(1, Some(Code::Accepted))]);
    assert_eq!(
        svc.registrar().unwrap().last_ident(msisdn(0)),
        Some(ident(1))
    );
    // And now it is one.
    svc.submit(2, &req, Path::Wwan, 0, now(NOW + 2));
    let (_, released) = finish(&mut svc);
    assert_eq!(released, vec![(2, Some(Code::IdentificationMismatch))]);
}
