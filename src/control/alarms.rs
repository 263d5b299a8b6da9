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

/// Every alarm the MSM can raise (listed, active or not, by the metrics endpoint).
pub const KNOWN: &[&str] = &[JOURNAL_CANNOT_COMMIT, WORKER_STOPPED];

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
}
