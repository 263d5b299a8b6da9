//! Tests of batches in flight: sealed batches whose commits have not finished yet.

use super::tests::*;
use super::*;
use msm_table::Lookup;
use std::net::Ipv4Addr;

/// Releases what is ready, without waiting: the (token, code) pairs.
fn poll(svc: &mut Service, wait: bool) -> (BatchReport, Vec<(usize, Option<Code>)>) {
    let mut out = Vec::new();
    let report = svc.poll_batches(wait, |t, r| out.push((t, r.code)));
    (report, out)
}

#[test]
fn batches_in_flight_decide_against_each_other_and_finish_in_order() {
    let (mut svc, log, mut reader) = service(1 << 20);
    let k = key();
    log.0.borrow_mut().slow = true;
    let first = request(0, 300, ident(1), &k);
    svc.submit(0, &first, Path::Wwan, 0, now(NOW));
    svc.seal_batch();
    // The renewal is decided against the first batch's staged change (a greater
    // Identification than the one in flight), the replay of the first request is not.
    svc.submit(1, &request(0, 300, ident(2), &k), Path::Wwan, 0, now(NOW));
    svc.submit(2, &request(1, 300, ident(3), &k), Path::Wwan, 0, now(NOW));
    svc.seal_batch();
    svc.submit(3, &first, Path::Wwan, 0, now(NOW));
    svc.seal_batch();
    assert_eq!(svc.batches_in_flight(), 3);
    let (report, out) = poll(&mut svc, false);
    assert_eq!(
        (report.batches, out.len()),
        (0, 0),
        "no commit finished yet"
    );
    assert_eq!(svc.held(), 4);
    assert_eq!(
        worker_sees(&svc, &mut reader, home(0)),
        Lookup::Miss,
        "not durable: not forwarded by"
    );
    assert_eq!(svc.writer().len(), 0);

    log.0.borrow_mut().slow = false;
    let (report, out) = poll(&mut svc, false);
    assert_eq!(
        out,
        vec![
            (0, Some(Code::Accepted)),
            (1, Some(Code::Accepted)),
            (2, Some(Code::Accepted)),
            (3, Some(Code::IdentificationMismatch)),
        ]
    );
    assert!(report.durable);
    assert_eq!((report.batches, report.applied), (3, 3));
    assert_eq!(
        worker_sees(&svc, &mut reader, home(0)),
        Lookup::CareOf(u32::from(COA))
    );
    assert_eq!(
        worker_sees(&svc, &mut reader, home(1)),
        Lookup::CareOf(u32::from(COA))
    );
    assert_eq!(svc.writer().len(), 2);
    assert!(
        svc.staged.overlay.is_empty(),
        "every staged change reached the table"
    );
    assert_eq!(svc.staged.inserts, 0);
    assert_eq!(svc.batches_in_flight(), 0);
    assert_eq!(svc.held(), 0);
    let committed: Vec<u32> = log.0.borrow().committed.iter().map(|r| r.home).collect();
    assert_eq!(
        committed,
        vec![u32::from(home(0)), u32::from(home(0)), u32::from(home(1))]
    );
    assert_eq!(
        svc.counters().journal_commits,
        2,
        "two groups: the third batch had no change"
    );
}

#[test]
fn a_failed_commit_fails_every_later_batch_in_flight() {
    let (mut svc, log, mut reader) = service(1 << 20);
    let k = key();
    log.0.borrow_mut().slow = true;
    let first = request(0, 300, ident(1), &k);
    svc.submit(0, &first, Path::Wwan, 0, now(NOW));
    svc.seal_batch();
    svc.submit(1, &request(1, 300, ident(2), &k), Path::Wwan, 0, now(NOW));
    svc.seal_batch();
    log.0.borrow_mut().failing = true;
    let (report, out) = poll(&mut svc, true);
    assert!(
        out.is_empty(),
        "no acceptance of what is not durable: {out:?}"
    );
    assert!(!report.durable);
    assert_eq!((report.batches, report.withheld, report.applied), (2, 2, 0));
    assert_eq!(svc.counters().journal_errors, 2);
    assert!(log.0.borrow().committed.is_empty());
    assert_eq!(worker_sees(&svc, &mut reader, home(0)), Lookup::Miss);
    assert_eq!(worker_sees(&svc, &mut reader, home(1)), Lookup::Miss);
    assert!(svc.staged.overlay.is_empty());
    assert_eq!(svc.staged.inserts, 0);
    assert!(svc.journal_failure().is_some());

    // The disk is back: the mobile's retransmission of the very same bytes is decided
    // afresh (its replay state was rolled back), not refused as a replay.
    log.0.borrow_mut().failing = false;
    log.0.borrow_mut().fail_through = None;
    svc.submit(2, &first, Path::Wwan, 0, now(NOW));
    let (report, out) = finish(&mut svc);
    assert_eq!(out, vec![(2, Some(Code::Accepted))]);
    assert!(report.durable);
    assert!(svc.journal_failure().is_none());
    assert_eq!(
        worker_sees(&svc, &mut reader, home(0)),
        Lookup::CareOf(u32::from(COA))
    );
}

#[test]
fn an_operator_bind_lands_after_the_batches_in_flight() {
    let (mut svc, log, mut reader) = service(1 << 20);
    let k = key();
    log.0.borrow_mut().slow = true;
    svc.submit(0, &request(0, 300, ident(1), &k), Path::Wwan, 0, now(NOW));
    svc.seal_batch();
    // The operator then moves the same home elsewhere: the batch's change first, then
    // the operator's, in the table and in the journal.
    let other = u32::from(Ipv4Addr::new(198, 51, 100, 7));
    svc.bind(u32::from(home(0)), Some(other), msisdn(0))
        .unwrap();
    assert_eq!(
        worker_sees(&svc, &mut reader, home(0)),
        Lookup::CareOf(other)
    );
    let coas: Vec<Option<u32>> = log.0.borrow().committed.iter().map(|r| r.coa).collect();
    assert_eq!(coas, vec![Some(u32::from(COA)), Some(other)]);
    // The batch's Reply waited for the next poll.
    assert_eq!(svc.held(), 1);
    let (_, out) = poll(&mut svc, false);
    assert_eq!(out, vec![(0, Some(Code::Accepted))]);
}

/// A standby's batch (`docs/cluster.md`): into the table only after its local commit, in
/// order with the other batches, and the owner's replay state comes along.
#[test]
fn a_followed_batch_reaches_the_table_after_its_local_commit_with_the_replay_state() {
    let (mut svc, log, mut reader) = service(1 << 20);
    let k = key();
    let id = ident(5);
    let b = Binding {
        home: u32::from(home(0)),
        coa: Some(u32::from(COA)),
        port: 0,
        msisdn: msisdn(0),
        expires_at: NOW as u32 + 300,
    };
    log.0.borrow_mut().slow = true;
    svc.follow(&[Record::upsert(&b, id)]);
    assert_eq!(svc.batches_in_flight(), 1);
    let (report, out) = poll(&mut svc, false);
    assert_eq!((report.applied, out.len()), (0, 0));
    assert_eq!(worker_sees(&svc, &mut reader, home(0)), Lookup::Miss);
    log.0.borrow_mut().slow = false;
    let (report, out) = poll(&mut svc, false);
    assert_eq!(
        (report.applied, out.len()),
        (1, 0),
        "applied, nothing to reply"
    );
    assert_eq!(
        worker_sees(&svc, &mut reader, home(0)),
        Lookup::CareOf(u32::from(COA))
    );
    assert_eq!(log.0.borrow().committed.len(), 1, "in the local journal");
    // The owner's Identification came with it: the same request again is a replay.
    svc.submit(0, &request(0, 300, id, &k), Path::Wwan, 0, now(NOW));
    let (_, out) = poll(&mut svc, true);
    assert_eq!(out, vec![(0, Some(Code::IdentificationMismatch))]);
    // A newer one is accepted against the followed state.
    svc.submit(1, &request(0, 300, ident(6), &k), Path::Wwan, 0, now(NOW));
    let (_, out) = poll(&mut svc, true);
    assert_eq!(out, vec![(1, Some(Code::Accepted))]);
}
