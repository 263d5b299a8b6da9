//! A standby's view of the shard's log: which entry comes next, gaps, and the epoch markers it has seen.

use super::value::{Entry, EntryKind};
use std::sync::atomic::{AtomicU64, Ordering};

/// What to do with an entry the watch delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Apply its records (a batch) or note it (an epoch marker): it is the next one.
    Apply,
    /// Already applied (a replay of the watch after a reconnect): skip it.
    Old,
    /// Entries are missing before it (the log was trimmed under us, or a watch lost
    /// events): catch up from the snapshot.
    Gap { expected: u64 },
}

/// The standby's position in the log.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    /// The last applied seq (0: none).
    pub applied_seq: u64,
    /// The etcd revision of the last applied entry.
    pub applied_rev: i64,
    /// The last epoch marker seen: its writer's fencing revision and member name.
    pub epoch: Option<(i64, String)>,
    /// Records applied.
    pub records: u64,
}

impl Follower {
    /// Positions a follower after a snapshot taken at `seq` (0: the empty start).
    pub fn at(seq: u64, rev: i64) -> Follower {
        Follower {
            applied_seq: seq,
            applied_rev: rev,
            ..Follower::default()
        }
    }

    /// Classifies `entry` (stored at revision `rev`); on [`Offer::Apply`] the caller
    /// applies it and the follower has moved past it.
    pub fn offer(&mut self, entry: &Entry, rev: i64) -> Offer {
        if entry.seq <= self.applied_seq {
            return Offer::Old;
        }
        if entry.seq != self.applied_seq + 1 {
            return Offer::Gap {
                expected: self.applied_seq + 1,
            };
        }
        self.applied_seq = entry.seq;
        self.applied_rev = self.applied_rev.max(rev);
        match entry.kind {
            EntryKind::Epoch => {
                let name = String::from_utf8_lossy(&entry.trailer).into_owned();
                self.epoch = Some((entry.fence, name));
            }
            _ => self.records += entry.records.len() as u64,
        }
        Offer::Apply
    }
}

/// Replication lag in milliseconds at `now_ms` (`docs/cluster.md`): the age of the
/// oldest entry this member knows of (`head`) and has not applied (`applied`), i.e. the
/// time since its writer encoded entry `applied + 1`; 0 when everything known is applied.
/// `oldest_written_ms` is that entry's time (`None`: not known, a version-1 entry, then
/// so is the lag). A writer's clock ahead of ours counts as 0, not negative.
pub fn lag_ms(applied: u64, head: u64, oldest_written_ms: Option<u64>, now_ms: u64) -> Option<u64> {
    if applied >= head {
        return Some(0);
    }
    oldest_written_ms.map(|w| now_ms.saturating_sub(w))
}

/// Slots of [`WrittenTimes`]: more than the entries a standby can hold between the watch
/// and its table (the follow queue plus the one being handed over).
pub const TIMES: usize = 1024;

/// The writers' times of the last [`TIMES`] entries seen, by seq: written by the etcd
/// thread as it offers entries, read by the lcore (apply delay) and `msm ctl stats`
/// (lag) without a lock. A slot holds (seq, time); a read checks the seq before and
/// after reading the time, so an entry overwritten meanwhile reads as unknown.
#[derive(Debug)]
pub struct WrittenTimes {
    slots: Box<[(AtomicU64, AtomicU64)]>,
}

impl Default for WrittenTimes {
    fn default() -> Self {
        WrittenTimes {
            slots: (0..TIMES)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
        }
    }
}

impl WrittenTimes {
    /// Notes entry `seq` (>= 1), written at `ms`.
    pub fn record(&self, seq: u64, ms: u64) {
        let (s, t) = &self.slots[(seq % TIMES as u64) as usize];
        s.store(0, Ordering::Release);
        t.store(ms, Ordering::Release);
        s.store(seq, Ordering::Release);
    }

    /// Entry `seq`'s time, if still held (and it had one).
    pub fn get(&self, seq: u64) -> Option<u64> {
        if seq == 0 {
            return None;
        }
        let (s, t) = &self.slots[(seq % TIMES as u64) as usize];
        if s.load(Ordering::Acquire) != seq {
            return None;
        }
        let ms = t.load(Ordering::Acquire);
        (s.load(Ordering::Acquire) == seq).then_some(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: EntryKind, seq: u64, n: usize) -> Entry {
        let r = crate::control::journal::Record::remove(0x0a00_0001, 1, 1);
        Entry {
            kind,
            seq,
            fence: 5,
            written_ms: Some(1),
            records: vec![r; n],
            trailer: b"msm-a".to_vec(),
        }
    }

    #[test]
    fn in_order_old_and_gaps() {
        let mut f = Follower::at(0, 0);
        assert_eq!(f.offer(&e(EntryKind::Epoch, 1, 0), 10), Offer::Apply);
        assert_eq!(f.epoch, Some((5, "msm-a".to_string())));
        assert_eq!(f.offer(&e(EntryKind::Batch, 2, 3), 11), Offer::Apply);
        assert_eq!(f.offer(&e(EntryKind::Batch, 2, 3), 11), Offer::Old);
        assert_eq!(f.offer(&e(EntryKind::Batch, 1, 3), 9), Offer::Old);
        assert_eq!(
            f.offer(&e(EntryKind::Batch, 4, 3), 13),
            Offer::Gap { expected: 3 }
        );
        assert_eq!((f.applied_seq, f.applied_rev, f.records), (2, 11, 3));
        assert_eq!(f.offer(&e(EntryKind::Batch, 3, 2), 12), Offer::Apply);
        assert_eq!((f.applied_seq, f.applied_rev, f.records), (3, 12, 5));
    }

    #[test]
    fn lag_is_the_age_of_the_oldest_unapplied_entry() {
        // Caught up: 0, whatever the times.
        assert_eq!(lag_ms(5, 5, None, 1_000), Some(0));
        assert_eq!(lag_ms(6, 5, Some(10), 1_000), Some(0));
        // Behind: now minus the time of entry applied + 1.
        assert_eq!(lag_ms(4, 9, Some(700), 1_000), Some(300));
        // Unknown time (a version-1 entry): unknown lag.
        assert_eq!(lag_ms(4, 9, None, 1_000), None);
        // The writer's clock ahead of ours: 0, not an underflow.
        assert_eq!(lag_ms(4, 9, Some(1_500), 1_000), Some(0));
    }

    #[test]
    fn written_times_by_seq_with_overwrite() {
        let t = WrittenTimes::default();
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(1), None);
        t.record(1, 100);
        t.record(2, 150);
        assert_eq!((t.get(1), t.get(2), t.get(3)), (Some(100), Some(150), None));
        // Seq 1 + TIMES takes seq 1's slot: seq 1 is no longer known.
        t.record(1 + TIMES as u64, 900);
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(1 + TIMES as u64), Some(900));
        assert_eq!(t.get(2), Some(150));
        // With the lag: a standby that applied 1 of 2 known entries at t = 400.
        assert_eq!(lag_ms(1, 2, t.get(2), 400), Some(250));
    }

    #[test]
    fn after_a_snapshot_the_log_continues_from_its_seq() {
        let mut f = Follower::at(100, 500);
        assert_eq!(f.offer(&e(EntryKind::Batch, 100, 1), 400), Offer::Old);
        assert_eq!(f.offer(&e(EntryKind::Batch, 101, 1), 501), Offer::Apply);
    }
}
