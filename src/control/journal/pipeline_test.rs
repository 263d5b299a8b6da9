//! Tests of commits in flight: several groups handed to the sync thread before any result.

use super::tests::{up, TempDir};
use super::*;

/// Hands `n` groups of one record each over without waiting; returns their numbers.
fn begin_n(j: &mut Journal, from: u32, n: u32) -> Vec<u64> {
    (from..from + n)
        .map(|i| {
            j.append(&up(i, None, u64::from(i)));
            j.begin_commit().unwrap().expect("a group")
        })
        .collect()
}

fn results(j: &mut Journal) -> Vec<(u64, bool)> {
    std::iter::from_fn(|| j.poll_commit(true))
        .map(|(seq, r)| (seq, r.is_ok()))
        .collect()
}

#[test]
fn groups_in_flight_come_back_in_order_and_are_all_durable() {
    let d = TempDir::new("pipeline-order");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    assert_eq!(j.begin_commit().unwrap(), None, "nothing to commit");
    let seqs = begin_n(&mut j, 1, 5);
    assert_eq!(j.in_flight(), 5);
    assert_eq!(
        results(&mut j),
        seqs.iter().map(|&s| (s, true)).collect::<Vec<_>>()
    );
    assert_eq!(j.in_flight(), 0);
    assert_eq!(j.stats().commits, 5);
    assert_eq!(j.log_bytes(), 5 * RECORD_LEN as u64);
    drop(j);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(
        r.records,
        (1..=5)
            .map(|i| up(i, None, u64::from(i)))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_blocking_commit_keeps_earlier_results_for_poll() {
    let d = TempDir::new("pipeline-backlog");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    let seqs = begin_n(&mut j, 1, 2);
    j.append(&up(3, None, 3));
    j.commit().unwrap();
    assert_eq!(
        j.in_flight(),
        2,
        "the two earlier results wait for poll_commit"
    );
    assert_eq!(results(&mut j), vec![(seqs[0], true), (seqs[1], true)]);
}

#[test]
fn after_a_failed_sync_the_later_groups_in_flight_are_not_written() {
    let d = TempDir::new("pipeline-sync-fault");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    j.append(&up(1, None, 1));
    j.commit().unwrap();
    j.fault = Some(Fault::Sync);
    let seqs = begin_n(&mut j, 2, 3);
    let got = results(&mut j);
    assert_eq!(got, seqs.iter().map(|&s| (s, false)).collect::<Vec<_>>());
    assert!(j.poisoned().is_some(), "a failed fdatasync poisons");
    // Recovery cuts the log back to record 1; a new group is written in a new epoch.
    j.recover_after = Some(Instant::now());
    j.append(&up(9, None, 9));
    j.commit().unwrap();
    assert_eq!(j.poisoned(), None);
    drop(j);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.records, vec![up(1, None, 1), up(9, None, 9)]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn after_a_failed_write_later_groups_fail_until_the_log_is_cut_back() {
    let d = TempDir::new("pipeline-write-fault");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    j.fault = Some(Fault::Write);
    let seqs = begin_n(&mut j, 1, 2);
    // A group begun while the failure is not settled yet is refused at once, or
    // refused by the sync thread: either way it fails.
    j.append(&up(3, None, 3));
    let third = j.begin_commit();
    let mut got = results(&mut j);
    if let Ok(Some(s)) = third {
        assert_eq!(got.pop(), Some((s, false)));
    }
    assert_eq!(got, vec![(seqs[0], false), (seqs[1], false)]);
    assert_eq!(j.poisoned(), None, "a failed write does not poison");
    assert_eq!(fs::metadata(d.file(LOG_FILE)).unwrap().len(), 0, "cut back");
    j.append(&up(4, None, 4));
    j.commit().unwrap();
    drop(j);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.records, vec![up(4, None, 4)]);
}
