//! A standby's view of the shard's log: which entry comes next, gaps, and the epoch markers it has seen.

use super::value::{Entry, EntryKind};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: EntryKind, seq: u64, n: usize) -> Entry {
        let r = crate::control::journal::Record::remove(0x0a00_0001, 1, 1);
        Entry {
            kind,
            seq,
            fence: 5,
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
    fn after_a_snapshot_the_log_continues_from_its_seq() {
        let mut f = Follower::at(100, 500);
        assert_eq!(f.offer(&e(EntryKind::Batch, 100, 1), 400), Offer::Old);
        assert_eq!(f.offer(&e(EntryKind::Batch, 101, 1), 501), Offer::Apply);
    }
}
