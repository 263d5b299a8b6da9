//! Tests of the replicated log: both answers needed, in order, failures of either side, against a fake etcd side and a fake local log.

use super::replicated::{ReplicatedLog, Replicator};
use crate::control::journal::{CompactionEvent, Record};
use crate::control::service::DurableLog;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// A local log whose groups finish when the test says.
#[derive(Default)]
struct LocalState {
    buffered: Vec<Record>,
    next: u64,
    /// Groups begun, not finished.
    flight: VecDeque<u64>,
    /// Finished, not reported.
    done: VecDeque<(u64, io::Result<()>)>,
    fail_next: bool,
}
#[derive(Clone, Default)]
struct Local(Rc<RefCell<LocalState>>);
impl Local {
    /// Finishes the oldest group in flight.
    fn sync_one(&self) {
        let mut s = self.0.borrow_mut();
        if let Some(n) = s.flight.pop_front() {
            let r = if std::mem::take(&mut s.fail_next) {
                Err(io::Error::other("disk full"))
            } else {
                Ok(())
            };
            s.done.push_back((n, r));
        }
    }
}
impl DurableLog for Local {
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
        s.buffered.clear();
        let n = s.next;
        s.next += 1;
        s.flight.push_back(n);
        Ok(Some(n))
    }
    fn poll_commit(&mut self, wait: bool) -> Option<(u64, io::Result<()>)> {
        if wait && self.0.borrow().done.is_empty() {
            self.sync_one();
        }
        self.0.borrow_mut().done.pop_front()
    }
    fn commit(&mut self) -> io::Result<()> {
        unimplemented!("not used by ReplicatedLog")
    }
    fn log_bytes(&self) -> u64 {
        0
    }
    fn maybe_compact(&mut self, _: u64) -> CompactionEvent {
        CompactionEvent::Idle
    }
}

/// An etcd side that acknowledges when the test says.
#[derive(Default)]
struct ReplState {
    /// Submitted, not answered: (group, records).
    flight: VecDeque<(u64, Vec<Record>)>,
    answers: VecDeque<(u64, Result<(), String>)>,
    /// Records etcd holds, in order.
    stored: Vec<Record>,
    refuse: bool,
    /// `wait` answers the oldest submitted group itself.
    answer_on_wait: bool,
}
#[derive(Clone, Default)]
struct Fake(Rc<RefCell<ReplState>>);
impl Fake {
    fn ack_one(&self) {
        let mut s = self.0.borrow_mut();
        if let Some((n, recs)) = s.flight.pop_front() {
            s.stored.extend(recs);
            s.answers.push_back((n, Ok(())));
        }
    }
    /// Fences the oldest and everything after it (as the etcd thread does).
    fn fence_all(&self) {
        let mut s = self.0.borrow_mut();
        while let Some((n, _)) = s.flight.pop_front() {
            s.answers.push_back((n, Err("fenced".into())));
        }
    }
}
impl Replicator for Fake {
    fn submit(&mut self, group: u64, records: Vec<Record>) -> bool {
        let mut s = self.0.borrow_mut();
        if s.refuse {
            return false;
        }
        s.flight.push_back((group, records));
        true
    }
    fn poll(&mut self) -> Option<(u64, Result<(), String>)> {
        self.0.borrow_mut().answers.pop_front()
    }
    fn wait(&mut self, _: Duration) -> Option<(u64, Result<(), String>)> {
        if self.0.borrow().answer_on_wait && self.0.borrow().answers.is_empty() {
            self.ack_one();
        }
        self.poll()
    }
}

fn rec(i: u32) -> Record {
    Record::remove(0x0a00_0001 + i, u64::from(i), 1)
}

fn log() -> (ReplicatedLog<Local, Fake>, Local, Fake) {
    let (l, f) = (Local::default(), Fake::default());
    let r = ReplicatedLog::new(l.clone(), f.clone(), Duration::from_millis(10));
    (r, l, f)
}

/// Begins a group of `n` records starting at `first`.
fn group(r: &mut ReplicatedLog<Local, Fake>, first: u32, n: u32) -> u64 {
    for i in first..first + n {
        r.append(&rec(i));
    }
    r.begin_commit().unwrap().expect("a group")
}

#[test]
fn durable_only_after_both_sides_and_in_order() {
    let (mut r, local, etcd) = log();
    let g0 = group(&mut r, 0, 3);
    let g1 = group(&mut r, 3, 2);
    assert_eq!(r.in_flight(), 2);
    assert!(r.poll_commit(false).is_none());
    // Local fsync alone is not enough.
    local.sync_one();
    local.sync_one();
    assert!(r.poll_commit(false).is_none());
    // etcd alone for the second group is not enough either: order.
    etcd.ack_one();
    let (n, res) = r.poll_commit(false).expect("g0 done");
    assert_eq!(n, g0);
    assert!(res.is_ok());
    assert!(r.poll_commit(false).is_none(), "g1 not acked by etcd");
    etcd.ack_one();
    let (n, res) = r.poll_commit(false).expect("g1 done");
    assert_eq!((n, res.is_ok()), (g1, true));
    assert_eq!(etcd.0.borrow().stored, (0..5).map(rec).collect::<Vec<_>>());
    assert_eq!(r.counters.groups_durable, 2);
    assert_eq!(r.counters.records_replicated, 5);
    assert_eq!(r.in_flight(), 0);
}

#[test]
fn etcd_first_then_local_still_waits_for_the_disk() {
    let (mut r, local, etcd) = log();
    group(&mut r, 0, 1);
    etcd.ack_one();
    assert!(r.poll_commit(false).is_none(), "not fsynced locally yet");
    local.sync_one();
    assert!(r.poll_commit(false).unwrap().1.is_ok());
}

#[test]
fn a_fenced_write_fails_the_group_and_the_later_ones() {
    let (mut r, local, etcd) = log();
    let g0 = group(&mut r, 0, 1);
    let g1 = group(&mut r, 1, 1);
    let g2 = group(&mut r, 2, 1);
    etcd.ack_one();
    etcd.fence_all();
    for _ in 0..3 {
        local.sync_one();
    }
    let got: Vec<(u64, bool)> = std::iter::from_fn(|| r.poll_commit(false))
        .map(|(n, res)| (n, res.is_ok()))
        .collect();
    assert_eq!(got, vec![(g0, true), (g1, false), (g2, false)]);
    assert_eq!(r.counters.groups_remote_failed, 2);
    // Fenced groups are locally durable but never reported durable: no code 0.
    assert_eq!(etcd.0.borrow().stored.len(), 1);
}

#[test]
fn a_local_failure_fails_the_group_even_if_etcd_acked() {
    let (mut r, local, etcd) = log();
    group(&mut r, 0, 1);
    local.0.borrow_mut().fail_next = true;
    local.sync_one();
    etcd.ack_one();
    let (_, res) = r.poll_commit(false).unwrap();
    assert!(res.unwrap_err().to_string().contains("disk full"));
    assert_eq!(r.counters.groups_local_failed, 1);
}

#[test]
fn a_refused_submit_fails_the_group_at_once() {
    let (mut r, local, etcd) = log();
    etcd.0.borrow_mut().refuse = true;
    group(&mut r, 0, 1);
    local.sync_one();
    let (_, res) = r.poll_commit(false).unwrap();
    assert!(res.unwrap_err().to_string().contains("not replicated"));
}

#[test]
fn waiting_times_out_when_etcd_does_not_answer() {
    let (mut r, _local, _etcd) = log();
    group(&mut r, 0, 1);
    group(&mut r, 1, 1);
    let (_, res) = r.poll_commit(true).expect("settled by the timeout");
    assert!(res.unwrap_err().to_string().contains("did not answer"));
    // A late answer for it is ignored; the second group still waits for its own.
    let (_, res) = r.poll_commit(true).unwrap();
    assert!(res.is_err());
    assert!(r.poll_commit(true).is_none());
}

#[test]
fn commit_settles_its_group_and_keeps_earlier_results_for_poll() {
    let (mut r, _local, etcd) = log();
    etcd.0.borrow_mut().answer_on_wait = true;
    let g0 = group(&mut r, 0, 2);
    r.append(&rec(9));
    r.commit().expect("durable on both sides");
    let (n, res) = r
        .poll_commit(false)
        .expect("the earlier group's result stays");
    assert_eq!((n, res.is_ok()), (g0, true));
    assert!(r.poll_commit(false).is_none());
    assert_eq!(etcd.0.borrow().stored.len(), 3);
    assert_eq!(r.counters.records_replicated, 3);
}

#[test]
fn followed_records_go_to_the_local_log_only() {
    let (mut r, local, etcd) = log();
    r.append_local(&rec(1));
    r.append_local(&rec(2));
    assert_eq!(r.pending(), 2);
    r.begin_commit().unwrap().expect("a local group");
    assert!(etcd.0.borrow().flight.is_empty(), "nothing sent to etcd");
    assert!(r.poll_commit(false).is_none(), "waits for the disk");
    local.sync_one();
    assert!(r.poll_commit(false).unwrap().1.is_ok());
    assert_eq!(r.counters.records_replicated, 0);
}
