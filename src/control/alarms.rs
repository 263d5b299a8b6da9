//! Alarms: conditions an operator must act on, raised and cleared with one log line each.
//!
//! The control lcore owns one [`Alarms`]; `msm ctl stats` and the stats file show the
//! active ones under `alarms` (name, since when, detail). Raising an alarm that is already
//! active only updates its detail (no new log line), so a condition checked every loop
//! iteration logs once when it starts and once when it ends.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The journal cannot make changes durable (write or fdatasync failing, e.g. disk full):
/// no code 0 is sent and no change reaches the data plane until it can again.
pub const JOURNAL_CANNOT_COMMIT: &str = "journal_cannot_commit";
/// A worker stopped polling its queues (it panicked): the process is exiting.
pub const WORKER_STOPPED: &str = "worker_stopped";

/// The binding table holds 90 % of `table.max_bindings` or more.
pub const TABLE_NEARLY_FULL: &str = "table_nearly_full";
/// The binding table is full: new registrations get code 130.
pub const TABLE_FULL: &str = "table_full";
/// A next hop (gateway) has no MAC address (ARP unanswered): traffic to it is dropped.
pub const NEXT_HOP_UNRESOLVED: &str = "next_hop_unresolved";
/// Fewer than 10 % of the packet buffers are free.
pub const MEMPOOL_LOW: &str = "mempool_low";

/// Clustered only (`[cluster]`): this member is [`REPLICATION_LAG_BATCHES`] or more
/// batches behind its shard's log, or has no connection to etcd. A standby that lags
/// cannot take over at once; an owner whose batches etcd does not acknowledge sends no
/// code 0.
pub const REPLICATION_LAG: &str = "replication_lag";

/// Every alarm the MSM can raise (listed, active or not, by the metrics endpoint).
pub const KNOWN: &[&str] = &[
    JOURNAL_CANNOT_COMMIT,
    WORKER_STOPPED,
    TABLE_NEARLY_FULL,
    TABLE_FULL,
    NEXT_HOP_UNRESOLVED,
    MEMPOOL_LOW,
    REPLICATION_LAG,
];

/// Batches behind the shard's log from which [`REPLICATION_LAG`] is raised (at the
/// default batch bound, some 10^4-10^5 registrations).
pub const REPLICATION_LAG_BATCHES: u64 = 64;

/// Seconds after start before an unresolved next hop is an alarm (ARP gets its chance).
pub const NEXT_HOP_GRACE_S: f64 = 5.0;

/// The levels the control loop checks every stats interval.
#[derive(Debug, Clone, Default)]
pub struct Levels {
    pub bindings: usize,
    pub max_bindings: usize,
    pub mbufs_available: usize,
    pub mbufs_in_use: usize,
    /// Next hops without a MAC address, as `IP on PORT`.
    pub unresolved: Vec<String>,
    pub uptime_s: f64,
    /// Clustered only: batches behind the shard's log, and whether etcd is connected.
    pub replication: Option<(u64, bool)>,
}

#[derive(Debug, Clone)]
struct Active {
    since_unix: u64,
    detail: String,
}

/// The active alarms, by name.
#[derive(Debug, Default)]
pub struct Alarms {
    active: BTreeMap<&'static str, Active>,
    raised_total: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Alarms {
    /// Raises `name` (logged at error level the first time); `true` if it was not active.
    pub fn raise(&mut self, name: &'static str, detail: impl Into<String>) -> bool {
        let detail = detail.into();
        if let Some(a) = self.active.get_mut(name) {
            a.detail = detail;
            return false;
        }
        tracing::error!("ALARM raised: {name}: {detail}");
        self.raised_total += 1;
        self.active.insert(
            name,
            Active {
                since_unix: unix_now(),
                detail,
            },
        );
        true
    }

    /// Clears `name` (logged the one time it was active); `true` if it was.
    pub fn clear(&mut self, name: &'static str) -> bool {
        match self.active.remove(name) {
            Some(a) => {
                let secs = unix_now().saturating_sub(a.since_unix);
                tracing::warn!("ALARM cleared: {name} (was active {secs} s: {})", a.detail);
                true
            }
            None => false,
        }
    }

    /// Raises or clears `name` by `cond` (`Some(detail)`: the condition holds).
    pub fn set(&mut self, name: &'static str, cond: Option<String>) {
        match cond {
            Some(d) => {
                self.raise(name, d);
            }
            None => {
                self.clear(name);
            }
        }
    }

    pub fn is_raised(&self, name: &str) -> bool {
        self.active.contains_key(name)
    }

    /// Raises or clears the level alarms (table, mempool, next hops) from `l`.
    pub fn evaluate(&mut self, l: &Levels) {
        let full = l.max_bindings > 0 && l.bindings >= l.max_bindings;
        let nearly = l.max_bindings > 0 && l.bindings * 10 >= l.max_bindings * 9;
        let table = format!("{} of {} bindings", l.bindings, l.max_bindings);
        self.set(TABLE_FULL, full.then(|| table.clone()));
        self.set(TABLE_NEARLY_FULL, (nearly && !full).then_some(table));
        let total = l.mbufs_available + l.mbufs_in_use;
        let low = total > 0 && l.mbufs_available * 10 < total;
        self.set(
            MEMPOOL_LOW,
            low.then(|| format!("{} of {total} mbufs free", l.mbufs_available)),
        );
        let unresolved = !l.unresolved.is_empty() && l.uptime_s >= NEXT_HOP_GRACE_S;
        self.set(
            NEXT_HOP_UNRESOLVED,
            unresolved.then(|| l.unresolved.join(", ")),
        );
        let replication = match l.replication {
            Some((_, false)) if l.uptime_s >= NEXT_HOP_GRACE_S => {
                Some("no connection to etcd".into())
            }
            Some((lag, _)) if lag >= REPLICATION_LAG_BATCHES => {
                Some(format!("{lag} batches behind the shard's log"))
            }
            _ => None,
        };
        self.set(REPLICATION_LAG, replication);
    }

    /// Alarms raised since start (each raise of an inactive alarm counts once).
    pub fn raised_total(&self) -> u64 {
        self.raised_total
    }

    /// The active alarms as `[{"name", "since_unix", "detail"}]`.
    pub fn json(&self) -> Value {
        Value::Array(
            self.active
                .iter()
                .map(|(n, a)| json!({"name": n, "since_unix": a.since_unix, "detail": a.detail}))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_lag_is_raised_when_clustered_and_behind_or_disconnected() {
        let mut a = Alarms::default();
        let mut l = Levels {
            uptime_s: 60.0,
            ..Levels::default()
        };
        a.evaluate(&l);
        assert!(
            a.json().as_array().unwrap().is_empty(),
            "not clustered: no alarm"
        );
        l.replication = Some((REPLICATION_LAG_BATCHES - 1, true));
        a.evaluate(&l);
        assert!(a.json().as_array().unwrap().is_empty());
        l.replication = Some((REPLICATION_LAG_BATCHES, true));
        a.evaluate(&l);
        assert_eq!(a.json()[0]["name"], REPLICATION_LAG);
        assert_eq!(a.json()[0]["detail"], "64 batches behind the shard's log");
        l.replication = Some((0, false));
        a.evaluate(&l);
        assert_eq!(a.json()[0]["detail"], "no connection to etcd");
        assert_eq!(a.raised_total(), 1, "one alarm, its detail updated");
        l.replication = Some((0, true));
        a.evaluate(&l);
        assert!(a.json().as_array().unwrap().is_empty(), "cleared");
        // Just started: etcd gets its grace period, as ARP does.
        l.uptime_s = 1.0;
        l.replication = Some((0, false));
        a.evaluate(&l);
        assert!(a.json().as_array().unwrap().is_empty());
    }

    #[test]
    fn raise_once_update_detail_clear_once() {
        let mut a = Alarms::default();
        assert!(a.raise(JOURNAL_CANNOT_COMMIT, "ENOSPC"));
        assert!(!a.raise(JOURNAL_CANNOT_COMMIT, "ENOSPC again"));
        assert!(a.is_raised(JOURNAL_CANNOT_COMMIT));
        assert_eq!(a.raised_total(), 1);
        let j = a.json();
        assert_eq!(j[0]["name"], JOURNAL_CANNOT_COMMIT);
        assert_eq!(j[0]["detail"], "ENOSPC again");
        assert!(a.clear(JOURNAL_CANNOT_COMMIT));
        assert!(!a.clear(JOURNAL_CANNOT_COMMIT));
        assert_eq!(a.json(), json!([]));
        a.set(WORKER_STOPPED, Some("worker 1 panicked".into()));
        assert!(a.is_raised(WORKER_STOPPED));
        a.set(WORKER_STOPPED, None);
        assert!(!a.is_raised(WORKER_STOPPED));
        assert_eq!(a.raised_total(), 2);
    }

    #[test]
    fn level_alarms_follow_the_levels() {
        let mut a = Alarms::default();
        let mut l = Levels {
            bindings: 10,
            max_bindings: 100,
            mbufs_available: 900,
            mbufs_in_use: 100,
            unresolved: vec!["192.0.2.130 on wwan".into()],
            uptime_s: 1.0,
            replication: None,
        };
        a.evaluate(&l);
        assert_eq!(a.json(), json!([]), "next hop still in its grace period");
        l.uptime_s = 6.0;
        l.bindings = 90;
        l.mbufs_available = 99;
        l.mbufs_in_use = 901;
        a.evaluate(&l);
        for n in [NEXT_HOP_UNRESOLVED, TABLE_NEARLY_FULL, MEMPOOL_LOW] {
            assert!(a.is_raised(n), "{n}");
        }
        assert!(!a.is_raised(TABLE_FULL));
        l.bindings = 100;
        a.evaluate(&l);
        assert!(a.is_raised(TABLE_FULL) && !a.is_raised(TABLE_NEARLY_FULL));
        l = Levels {
            bindings: 89,
            max_bindings: 100,
            mbufs_available: 100,
            mbufs_in_use: 900,
            unresolved: vec![],
            uptime_s: 7.0,
            replication: None,
        };
        a.evaluate(&l);
        assert_eq!(a.json(), json!([]), "all cleared");
    }
}
