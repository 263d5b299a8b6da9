//! The role of this MSM for one shard (standby, candidate, active, deposed): a sans-IO state machine driven by events.
//!
//! The etcd thread feeds it what etcd said (watch events, campaign and keepalive
//! results, write results) and the time; it answers with the [`Action`]s to carry out.
//! It never does I/O and never reads a clock, so every transition is tested here. See
//! `docs/cluster.md` ("Roles", "Lease and local deadline").

use std::time::{Duration, Instant};

/// The role for a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Follows the owner's log; campaigns when the leader key disappears.
    Standby = 0,
    /// Holds the election; drains the log and writes the epoch marker before serving.
    Candidate = 1,
    /// Owns the shard: answers registrations, writes fenced batches.
    Active = 2,
    /// Lost the shard (deadline passed, lease lost or a write fenced): serves nothing.
    Deposed = 3,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Standby => "standby",
            Role::Candidate => "candidate",
            Role::Active => "active",
            Role::Deposed => "deposed",
        }
    }
    pub fn from_u8(v: u8) -> Role {
        match v {
            1 => Role::Candidate,
            2 => Role::Active,
            3 => Role::Deposed,
            _ => Role::Standby,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The leader key is absent (deleted by a lease expiry or a release, or none yet).
    LeaderAbsent,
    /// Another member holds the leader key.
    LeaderPresent,
    /// Our campaign put the leader key with create revision `rev`; the lease request
    /// left at `sent` with `ttl`.
    Won {
        rev: i64,
        sent: Instant,
        ttl: Duration,
    },
    /// Our campaign found the key taken.
    Lost,
    /// A keepalive sent at `sent` was answered with `ttl` (zero: the lease is gone).
    KeepAlive { sent: Instant, ttl: Duration },
    /// The log has been read and applied up to its end (`seq`: the last entry, 0: none).
    Drained { seq: u64 },
    /// Our epoch marker is in the log.
    EpochWritten,
    /// A write's guard failed: another member owns the shard or our key is gone.
    Fenced,
    /// The local state was dropped and caught up from etcd again.
    Resynced,
    /// Time passes.
    Tick,
}

/// What the etcd thread must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Put the leader key if absent, with our lease.
    Campaign,
    /// Read the log from the last applied entry to its end and apply it.
    Drain,
    /// Append the epoch marker at `seq` (fenced by the election revision).
    WriteEpoch { seq: u64 },
    /// Answer registrations (and ARP) for the shard.
    StartServing,
    /// Stop answering at once; fail every group in flight.
    StopServing,
    /// Drop local state and catch up from the snapshot and the log.
    Resync,
}

/// The state of one shard. `margin`: how long before the lease can expire at etcd
/// the owner stops serving.
#[derive(Debug, Clone)]
pub struct Shard {
    role: Role,
    /// The election revision while candidate or active.
    fence: Option<i64>,
    /// Serving is allowed only before this instant.
    deadline: Option<Instant>,
    margin: Duration,
    /// Transitions into `Deposed` (for stats).
    pub depositions: u64,
    /// Takeovers completed (candidate -> active).
    pub takeovers: u64,
}

impl Shard {
    pub fn new(margin: Duration) -> Shard {
        Shard {
            role: Role::Standby,
            fence: None,
            deadline: None,
            margin,
            depositions: 0,
            takeovers: 0,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The election revision every write is guarded by (candidate and active only).
    pub fn fence(&self) -> Option<i64> {
        self.fence
    }

    /// The local deadline (candidate and active only).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether registrations may be answered now: active and before the deadline.
    pub fn serving(&self, now: Instant) -> bool {
        self.role == Role::Active && self.deadline.is_some_and(|d| now < d)
    }

    fn deadline_after(&self, sent: Instant, ttl: Duration) -> Instant {
        sent + ttl.saturating_sub(self.margin)
    }

    fn depose(&mut self, out: &mut Vec<Action>) {
        if self.role == Role::Active {
            out.push(Action::StopServing);
        }
        self.role = Role::Deposed;
        self.fence = None;
        self.deadline = None;
        self.depositions += 1;
        out.push(Action::Resync);
    }

    /// Feeds one event at `now`; returns the actions, in order.
    pub fn handle(&mut self, ev: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match (self.role, ev) {
            (Role::Standby, Event::LeaderAbsent) => out.push(Action::Campaign),
            (Role::Standby, Event::Won { rev, sent, ttl }) => {
                let d = self.deadline_after(sent, ttl);
                if now < d {
                    self.role = Role::Candidate;
                    self.fence = Some(rev);
                    self.deadline = Some(d);
                    out.push(Action::Drain);
                } else {
                    // Won too slowly to trust the lease: act as if lost it.
                    self.depose(&mut out);
                }
            }
            (Role::Candidate, Event::Drained { seq }) => {
                out.push(Action::WriteEpoch { seq: seq + 1 })
            }
            (Role::Candidate, Event::EpochWritten) => {
                if self.deadline.is_some_and(|d| now < d) {
                    self.role = Role::Active;
                    self.takeovers += 1;
                    out.push(Action::StartServing);
                } else {
                    self.depose(&mut out);
                }
            }
            (Role::Candidate | Role::Active, Event::KeepAlive { sent, ttl }) => {
                if ttl.is_zero() {
                    self.depose(&mut out);
                } else {
                    let d = self.deadline_after(sent, ttl);
                    // Answers may come out of order: keep the latest deadline.
                    if self.deadline.is_none_or(|old| d > old) {
                        self.deadline = Some(d);
                    }
                    if now >= d {
                        self.depose(&mut out);
                    }
                }
            }
            (Role::Candidate | Role::Active, Event::Fenced) => self.depose(&mut out),
            (Role::Candidate | Role::Active, Event::Tick)
                if self.deadline.is_none_or(|d| now >= d) =>
            {
                self.depose(&mut out);
            }
            (Role::Deposed, Event::Resynced) => {
                self.role = Role::Standby;
            }
            // Everything else changes nothing: a standby ignores keepalives of a lease it
            // no longer holds, a candidate or active ignores leader-key watch events
            // (its own key), a deposed member waits for its resync.
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(2);
    const MARGIN: Duration = Duration::from_millis(500);

    fn ms(t0: Instant, m: u64) -> Instant {
        t0 + Duration::from_millis(m)
    }

    /// Standby -> candidate -> active at `t0`.
    fn active(t0: Instant) -> Shard {
        let mut s = Shard::new(MARGIN);
        assert_eq!(s.handle(Event::LeaderAbsent, t0), vec![Action::Campaign]);
        let won = Event::Won {
            rev: 77,
            sent: t0,
            ttl: TTL,
        };
        assert_eq!(s.handle(won, ms(t0, 10)), vec![Action::Drain]);
        assert_eq!(s.role(), Role::Candidate);
        assert!(!s.serving(ms(t0, 10)), "a candidate does not serve");
        assert_eq!(
            s.handle(Event::Drained { seq: 41 }, ms(t0, 20)),
            vec![Action::WriteEpoch { seq: 42 }]
        );
        assert_eq!(
            s.handle(Event::EpochWritten, ms(t0, 30)),
            vec![Action::StartServing]
        );
        assert_eq!(s.role(), Role::Active);
        assert_eq!(s.fence(), Some(77));
        s
    }

    #[test]
    fn takeover_then_serving_until_the_local_deadline() {
        let t0 = Instant::now();
        let mut s = active(t0);
        assert!(s.serving(ms(t0, 1499)));
        assert!(!s.serving(ms(t0, 1500)), "deadline = sent + ttl - margin");
        assert_eq!(s.handle(Event::Tick, ms(t0, 1400)), vec![]);
        assert_eq!(
            s.handle(Event::Tick, ms(t0, 1500)),
            vec![Action::StopServing, Action::Resync]
        );
        assert_eq!(s.role(), Role::Deposed);
        assert_eq!(s.fence(), None);
        assert!(!s.serving(ms(t0, 1501)));
        assert_eq!(s.handle(Event::LeaderAbsent, ms(t0, 1600)), vec![]);
        assert_eq!(s.handle(Event::Resynced, ms(t0, 1700)), vec![]);
        assert_eq!(s.role(), Role::Standby);
        assert_eq!(
            s.handle(Event::LeaderAbsent, ms(t0, 1800)),
            vec![Action::Campaign]
        );
        assert_eq!((s.depositions, s.takeovers), (1, 1));
    }

    #[test]
    fn keepalives_extend_the_deadline_from_when_they_were_sent() {
        let t0 = Instant::now();
        let mut s = active(t0);
        let ka = |m| Event::KeepAlive {
            sent: ms(t0, m),
            ttl: TTL,
        };
        // Sent at 600, answered at 900: deadline 600 + 2000 - 500.
        assert_eq!(s.handle(ka(600), ms(t0, 900)), vec![]);
        assert_eq!(s.deadline(), Some(ms(t0, 2100)));
        // A late answer to an older request does not shorten it.
        assert_eq!(s.handle(ka(300), ms(t0, 950)), vec![]);
        assert_eq!(s.deadline(), Some(ms(t0, 2100)));
        assert!(s.serving(ms(t0, 2099)));
        assert_eq!(s.handle(Event::Tick, ms(t0, 2099)), vec![]);
        // An answer that comes after its own deadline deposes.
        let late = s.handle(ka(700), ms(t0, 2300));
        assert_eq!(late, vec![Action::StopServing, Action::Resync]);
    }

    #[test]
    fn lease_lost_or_fenced_deposes_at_once() {
        let t0 = Instant::now();
        let mut s = active(t0);
        let gone = Event::KeepAlive {
            sent: ms(t0, 100),
            ttl: Duration::ZERO,
        };
        assert_eq!(
            s.handle(gone, ms(t0, 110)),
            vec![Action::StopServing, Action::Resync]
        );
        let mut s = active(t0);
        assert_eq!(
            s.handle(Event::Fenced, ms(t0, 110)),
            vec![Action::StopServing, Action::Resync]
        );
        assert!(!s.serving(ms(t0, 120)));
        // Fenced while still a candidate (its epoch marker refused): no serving to stop.
        let mut s = Shard::new(MARGIN);
        s.handle(Event::LeaderAbsent, t0);
        s.handle(
            Event::Won {
                rev: 5,
                sent: t0,
                ttl: TTL,
            },
            t0,
        );
        assert_eq!(s.handle(Event::Fenced, t0), vec![Action::Resync]);
        assert_eq!(s.role(), Role::Deposed);
    }

    #[test]
    fn a_standby_ignores_what_is_not_its_business() {
        let t0 = Instant::now();
        let mut s = Shard::new(MARGIN);
        for ev in [
            Event::LeaderPresent,
            Event::Lost,
            Event::Tick,
            Event::Fenced,
            Event::EpochWritten,
            Event::Drained { seq: 3 },
            Event::KeepAlive { sent: t0, ttl: TTL },
        ] {
            assert_eq!(s.handle(ev, t0), vec![], "{ev:?}");
            assert_eq!(s.role(), Role::Standby);
        }
        assert!(!s.serving(t0));
    }

    #[test]
    fn a_win_that_arrives_after_its_deadline_is_not_trusted() {
        let t0 = Instant::now();
        let mut s = Shard::new(MARGIN);
        s.handle(Event::LeaderAbsent, t0);
        let won = Event::Won {
            rev: 9,
            sent: t0,
            ttl: TTL,
        };
        assert_eq!(s.handle(won, ms(t0, 1600)), vec![Action::Resync]);
        assert_eq!(s.role(), Role::Deposed);
    }

    #[test]
    fn a_drain_slower_than_the_lease_never_serves() {
        let t0 = Instant::now();
        let mut s = Shard::new(MARGIN);
        s.handle(Event::LeaderAbsent, t0);
        s.handle(
            Event::Won {
                rev: 9,
                sent: t0,
                ttl: TTL,
            },
            t0,
        );
        s.handle(Event::Drained { seq: 0 }, ms(t0, 100));
        assert_eq!(
            s.handle(Event::EpochWritten, ms(t0, 1600)),
            vec![Action::Resync]
        );
        assert!(!s.serving(ms(t0, 1600)));
    }
}
