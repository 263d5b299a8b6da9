//! The etcd thread: campaign on a lease, fenced log writes, the standby's watch; a current-thread tokio runtime talking to the control lcore through bounded lock-free queues.
//!
//! The control lcore never blocks on it: [`EtcdReplicator`] pushes groups into a
//! bounded [`ArrayQueue`] and pops their results from another; a standby's followed
//! batches come out of a third ([`Handle::next_followed`]). The role state machine
//! ([`super::role::Shard`]) runs here, driven by what etcd says; the lcore reads the role
//! and the local deadline from [`Shared`] (atomics). Writes go out one txn at a time
//! (so the log is in seq order in etcd), each txn carrying every group queued while
//! the previous one was in flight, up to [`TXN_BYTES`]. See `docs/cluster.md`.

use super::follower::{self, Follower, Offer, WrittenTimes};
use super::replicated::Replicator;
use super::role::{Action, Event, Role, Shard};
use super::value::{self, EntryKind};
use crate::control::journal::Record;
use crossbeam_queue::ArrayQueue;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, LeaseKeepAliveResponse,
    LeaseKeepAliveStream, LeaseKeeper, PutOptions, Txn, TxnOp, TxnOpResponse, TxnResponse,
    WatchOptions,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// Most bytes of values one write txn carries (etcd refuses requests over 1.5 MiB).
pub const TXN_BYTES: usize = 1024 * 1024;
/// Most groups one write txn carries.
const TXN_OPS: usize = 64;
/// Groups the lcore may have queued for the etcd thread.
pub const QUEUE: usize = 1024;
/// Followed batches waiting for the lcore.
const FOLLOW_QUEUE: usize = 256;

/// What the etcd thread needs to know.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    /// This MSM's member name (the leader key's value, the epoch marker's trailer).
    pub member: String,
    pub shard: String,
    /// Lease TTL (whole seconds at etcd).
    pub lease_ttl: Duration,
}

impl EtcdConfig {
    fn ttl_secs(&self) -> i64 {
        (self.lease_ttl.as_millis().div_ceil(1000) as i64).max(1)
    }
    /// Serving stops this long before the lease can expire at etcd.
    pub fn margin(&self) -> Duration {
        Duration::from_secs(self.ttl_secs() as u64) / 4
    }
    fn leader_key(&self) -> String {
        format!("/msm/{}/leader", self.shard)
    }
    fn prefix(&self) -> String {
        format!("/msm/{}/", self.shard)
    }
    fn log_key(&self, seq: u64) -> String {
        format!("/msm/{}/log/{seq:016x}", self.shard)
    }
    /// The end of the log's key range (exclusive).
    fn log_end(&self) -> String {
        format!("/msm/{}/log0", self.shard)
    }
}

/// State the lcore, `msm ctl stats` and the metrics read (written by the etcd thread).
#[derive(Debug)]
pub struct Shared {
    base: Instant,
    role: AtomicU8,
    /// Microseconds after `base` (0: none).
    deadline_us: AtomicU64,
    pub fence: AtomicI64,
    /// The last seq in the log this member knows of (written or watched).
    pub head_seq: AtomicU64,
    /// The last seq handed to the lcore (standby) or acknowledged (active).
    pub applied_seq: AtomicU64,
    /// The last seq the lcore applied to its table (standby).
    pub lcore_seq: AtomicU64,
    pub applied_rev: AtomicI64,
    pub etcd_errors: AtomicU64,
    pub fenced_writes: AtomicU64,
    pub txns: AtomicU64,
    pub takeovers: AtomicU64,
    pub connected: AtomicBool,
    /// Set when the member was deposed: its local state must be rebuilt (the process
    /// exits and is restarted as a standby; `docs/cluster.md`).
    pub must_resync: AtomicBool,
    /// The writers' times of the entries seen (standby, candidate's drain).
    pub times: WrittenTimes,
    /// For the last entry the table applied: its apply time minus its writer's time, in
    /// ms, plus 1 (0: none yet, or the entry had no time).
    apply_delay_ms: AtomicU64,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            base: Instant::now(),
            role: AtomicU8::new(Role::Standby as u8),
            deadline_us: AtomicU64::new(0),
            fence: AtomicI64::new(0),
            head_seq: AtomicU64::new(0),
            applied_seq: AtomicU64::new(0),
            lcore_seq: AtomicU64::new(0),
            applied_rev: AtomicI64::new(0),
            etcd_errors: AtomicU64::new(0),
            fenced_writes: AtomicU64::new(0),
            txns: AtomicU64::new(0),
            takeovers: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            must_resync: AtomicBool::new(false),
            times: WrittenTimes::default(),
            apply_delay_ms: AtomicU64::new(0),
        }
    }

    /// The lcore applied entry `seq` to its table at `now_ms` (wall clock, ms).
    pub fn table_applied(&self, seq: u64, now_ms: u64) {
        self.lcore_seq.store(seq, Ordering::Relaxed);
        if let Some(w) = self.times.get(seq) {
            self.apply_delay_ms
                .store(now_ms.saturating_sub(w) + 1, Ordering::Relaxed);
        }
    }

    /// How long the last entry the table applied took from its writer to the table (ms;
    /// `None` before the first timed one).
    pub fn apply_delay_ms(&self) -> Option<u64> {
        self.apply_delay_ms.load(Ordering::Relaxed).checked_sub(1)
    }

    /// (last seq known, last seq done): a standby is done with what its table applied,
    /// the owner with what etcd acknowledged.
    fn progress(&self) -> (u64, u64) {
        let done = if self.role() == Role::Standby {
            self.lcore_seq.load(Ordering::Relaxed)
        } else {
            self.applied_seq.load(Ordering::Relaxed)
        };
        (self.head_seq.load(Ordering::Relaxed), done)
    }

    /// Batches this member is behind its shard's log.
    pub fn lag_batches(&self) -> u64 {
        let (head, done) = self.progress();
        head.saturating_sub(done)
    }

    /// The age at `now_ms` of the oldest log entry this member knows of and is not done
    /// with (0: none; `None`: that entry has no time). See [`follower::lag_ms`].
    pub fn lag_ms(&self, now_ms: u64) -> Option<u64> {
        let (head, done) = self.progress();
        follower::lag_ms(done, head, self.times.get(done + 1), now_ms)
    }

    pub fn role(&self) -> Role {
        Role::from_u8(self.role.load(Ordering::Acquire))
    }

    /// The local deadline, if candidate or active.
    pub fn deadline(&self) -> Option<Instant> {
        match self.deadline_us.load(Ordering::Acquire) {
            0 => None,
            us => Some(self.base + Duration::from_micros(us)),
        }
    }

    /// Active and before the local deadline: registrations may be answered.
    pub fn serving(&self, now: Instant) -> bool {
        self.role() == Role::Active && self.deadline().is_some_and(|d| now < d)
    }

    fn publish(&self, sm: &Shard) {
        let us = sm.deadline().map_or(0, |d| {
            (d.saturating_duration_since(self.base).as_micros() as u64).max(1)
        });
        self.deadline_us.store(us, Ordering::Release);
        self.fence.store(sm.fence().unwrap_or(0), Ordering::Relaxed);
        self.role.store(sm.role() as u8, Ordering::Release);
        self.takeovers.store(sm.takeovers, Ordering::Relaxed);
    }
}

type Ack = (u64, Result<(), String>);

/// The lcore's end of the etcd thread.
pub struct Handle {
    pub shared: Arc<Shared>,
    cmds: Arc<ArrayQueue<(u64, Vec<Record>)>>,
    acks: Arc<ArrayQueue<Ack>>,
    follow: Arc<ArrayQueue<(u64, Vec<Record>)>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The [`Replicator`] the [`ReplicatedLog`](super::replicated::ReplicatedLog) uses.
pub struct EtcdReplicator {
    shared: Arc<Shared>,
    cmds: Arc<ArrayQueue<(u64, Vec<Record>)>>,
    acks: Arc<ArrayQueue<Ack>>,
}

impl Replicator for EtcdReplicator {
    fn submit(&mut self, group: u64, records: Vec<Record>) -> bool {
        self.shared.role() == Role::Active && self.cmds.push((group, records)).is_ok()
    }
    fn poll(&mut self) -> Option<Ack> {
        self.acks.pop()
    }
    fn wait(&mut self, timeout: Duration) -> Option<Ack> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(a) = self.acks.pop() {
                return Some(a);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

impl Handle {
    /// Starts the etcd thread.
    pub fn start(cfg: EtcdConfig) -> std::io::Result<Handle> {
        let shared = Arc::new(Shared::new());
        let cmds = Arc::new(ArrayQueue::new(QUEUE));
        let acks = Arc::new(ArrayQueue::new(QUEUE * 2));
        let follow = Arc::new(ArrayQueue::new(FOLLOW_QUEUE));
        let stop = Arc::new(AtomicBool::new(false));
        let mut t = Thread {
            sm: Shard::new(cfg.margin()),
            cfg,
            shared: Arc::clone(&shared),
            cmds: Arc::clone(&cmds),
            acks: Arc::clone(&acks),
            follow: Arc::clone(&follow),
            stop: Arc::clone(&stop),
            follower: Follower::at(0, 0),
            lease: None,
            renewed: None,
            pending: VecDeque::new(),
            next_seq: 0,
            ka: None,
        };
        let thread = std::thread::Builder::new()
            .name("msm-etcd".into())
            .spawn(move || {
                crate::control::housekeeping::enter(false, 0);
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        error!("etcd thread: no tokio runtime: {e}");
                        return;
                    }
                };
                rt.block_on(t.run());
            })?;
        Ok(Handle {
            shared,
            cmds,
            acks,
            follow,
            stop,
            thread: Some(thread),
        })
    }

    pub fn replicator(&self) -> EtcdReplicator {
        EtcdReplicator {
            shared: Arc::clone(&self.shared),
            cmds: Arc::clone(&self.cmds),
            acks: Arc::clone(&self.acks),
        }
    }

    /// The next entry a standby must apply (seq, records), in log order (an epoch
    /// marker: no records); the caller then reports it with [`Shared::table_applied`].
    pub fn next_followed(&self) -> Option<(u64, Vec<Record>)> {
        self.follow.pop()
    }

    /// Batches waiting for the lcore.
    pub fn followed_waiting(&self) -> usize {
        self.follow.len()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The etcd thread's state.
struct Thread {
    cfg: EtcdConfig,
    sm: Shard,
    shared: Arc<Shared>,
    cmds: Arc<ArrayQueue<(u64, Vec<Record>)>>,
    acks: Arc<ArrayQueue<Ack>>,
    follow: Arc<ArrayQueue<(u64, Vec<Record>)>>,
    stop: Arc<AtomicBool>,
    follower: Follower,
    lease: Option<i64>,
    /// When the last keepalive answered with a positive TTL left.
    renewed: Option<Instant>,
    /// Groups taken from the lcore, not yet written.
    pending: VecDeque<(u64, Vec<Record>)>,
    /// The seq of the next log write (active).
    next_seq: u64,
    /// The lease's keepalive, while a session is up.
    ka: Option<KeepAlive>,
}

/// The lease's keepalive: requests every `every`, their send times waiting for answers.
struct KeepAlive {
    keeper: LeaseKeeper,
    stream: LeaseKeepAliveStream,
    sent: VecDeque<Instant>,
    last: Instant,
    every: Duration,
}

type Err = Box<dyn std::error::Error>;

/// The next keepalive answer (never, without a session).
async fn ka_message(
    ka: &mut Option<KeepAlive>,
) -> Result<Option<LeaseKeepAliveResponse>, etcd_client::Error> {
    match ka {
        Some(k) => k.stream.message().await,
        None => std::future::pending().await,
    }
}

/// What a write txn came back with.
enum Written {
    Ok,
    Fenced,
}

impl Thread {
    async fn run(&mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            if let Err(e) = self.session().await {
                self.shared.etcd_errors.fetch_add(1, Ordering::Relaxed);
                self.shared.connected.store(false, Ordering::Relaxed);
                warn!(shard = %self.cfg.shard, "etcd: {e}");
                let acts = self.sm.handle(Event::Tick, Instant::now());
                self.act_local(&acts);
                if self.sm.role() == Role::Standby {
                    // A standby's lease holds nothing; it may be what failed (expired:
                    // "lease not found" on every new session). The next session takes a
                    // new one; the old one, if alive, runs out on its own.
                    self.lease = None;
                }
                // An owner (or candidate) holds a lease whose local deadline is a fraction of
                // a second away: it reconnects at once (the balanced channel may route the
                // first requests to the member that just failed). Others back off.
                let holding = matches!(self.sm.role(), Role::Active | Role::Candidate);
                let pause = if holding { 10 } else { 100 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
        // Whatever is still queued is not replicated.
        self.fail_pending("stopping");
    }

    fn ack(&self, group: u64, r: Result<(), String>) {
        // The ack queue holds twice the command queue: it cannot be full.
        let _ = self.acks.push((group, r));
    }

    fn fail_pending(&mut self, why: &str) {
        while let Some((g, _)) = self.pending.pop_front() {
            self.ack(g, Err(why.to_string()));
        }
        while let Some((g, _)) = self.cmds.pop() {
            self.ack(g, Err(why.to_string()));
        }
    }

    /// Role transitions that need no etcd request.
    fn act_local(&mut self, acts: &[Action]) {
        for a in acts {
            match a {
                Action::StopServing => warn!(
                    shard = %self.cfg.shard,
                    deadline_in = ?self.sm.deadline().map(|d| d.saturating_duration_since(Instant::now())),
                    renewed_ago = ?self.renewed.map(|r| r.elapsed()),
                    "deposed: not serving"
                ),
                Action::Resync => {
                    self.fail_pending("deposed");
                    self.shared.must_resync.store(true, Ordering::SeqCst);
                    self.lease = None;
                }
                _ => {}
            }
        }
        self.shared.publish(&self.sm);
    }

    async fn hand_to_lcore(&self, seq: u64, records: Vec<Record>) {
        let mut item = (seq, records);
        loop {
            match self.follow.push(item) {
                Ok(()) => return,
                Err(_) if self.stop.load(Ordering::Relaxed) => return,
                Err(back) => {
                    item = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }

    /// Offers one stored log entry (standby, or a candidate's drain).
    async fn offer(&mut self, value: &[u8], rev: i64) -> Result<(), Err> {
        let entry = value::decode(value)?;
        if let Some(w) = entry.written_ms {
            self.shared.times.record(entry.seq, w);
        }
        self.shared.head_seq.fetch_max(entry.seq, Ordering::Relaxed);
        match self.follower.offer(&entry, rev) {
            Offer::Apply => {
                // Every applied entry goes to the lcore, an epoch marker with no records
                // too: its table is then at the log's head (lag 0) after a takeover.
                let records = if entry.kind == EntryKind::Batch {
                    entry.records
                } else {
                    Vec::new()
                };
                self.hand_to_lcore(entry.seq, records).await;
                self.shared
                    .applied_seq
                    .store(self.follower.applied_seq, Ordering::Relaxed);
                self.shared
                    .applied_rev
                    .store(self.follower.applied_rev, Ordering::Relaxed);
                Ok(())
            }
            Offer::Old => Ok(()),
            Offer::Gap { expected } => Err(format!(
                "log gap: expected seq {expected}, got {} (snapshot catch-up is not built yet)",
                entry.seq
            )
            .into()),
        }
    }

    /// Reads the log after the last applied entry to its end (one revision); returns
    /// that revision.
    async fn read_log(&mut self, client: &mut Client) -> Result<i64, Err> {
        let mut rev = 0;
        loop {
            let from = self.cfg.log_key(self.follower.applied_seq + 1);
            let mut opts = GetOptions::new()
                .with_range(self.cfg.log_end())
                .with_limit(16);
            if rev > 0 {
                opts = opts.with_revision(rev);
            }
            let r = client.get(from, Some(opts)).await?;
            if rev == 0 {
                rev = r.header().map_or(0, |h| h.revision());
            }
            for kv in r.kvs() {
                self.offer(kv.value(), kv.mod_revision()).await?;
            }
            if !r.more() || r.kvs().is_empty() {
                return Ok(rev);
            }
        }
    }

    fn write_txn(&self, fence: i64, items: &[(u64, Vec<u8>)]) -> Txn {
        let mut when = vec![Compare::create_revision(
            self.cfg.leader_key(),
            CompareOp::Equal,
            fence,
        )];
        let mut ops = Vec::with_capacity(items.len());
        for (seq, v) in items {
            let k = self.cfg.log_key(*seq);
            when.push(Compare::create_revision(k.clone(), CompareOp::Equal, 0));
            ops.push(TxnOp::put(k, v.clone(), None));
        }
        Txn::new()
            .when(when)
            .and_then(ops)
            .or_else(vec![TxnOp::get(self.cfg.leader_key(), None)])
    }

    /// One fenced write, retried on transport errors until it lands, is fenced, or the
    /// member is deposed.
    async fn write(
        &mut self,
        client: &mut Client,
        items: &[(u64, Vec<u8>)],
    ) -> Result<Written, Err> {
        loop {
            let Some(fence) = self.sm.fence() else {
                return Ok(Written::Fenced);
            };
            let txn = self.write_txn(fence, items);
            self.shared.txns.fetch_add(1, Ordering::Relaxed);
            match self.txn_keeping_alive(client, txn).await? {
                Ok(r) if r.succeeded() => return Ok(Written::Ok),
                Ok(r) => {
                    // The guard failed: ours if the leader key is still ours (a retry of
                    // a txn that had landed), fenced otherwise.
                    let ours = r.op_responses().iter().any(|op| match op {
                        TxnOpResponse::Get(g) => g
                            .kvs()
                            .first()
                            .is_some_and(|kv| kv.create_revision() == fence),
                        _ => false,
                    });
                    if ours {
                        return Ok(Written::Ok);
                    }
                    self.shared.fenced_writes.fetch_add(1, Ordering::Relaxed);
                    return Ok(Written::Fenced);
                }
                Err(e) => {
                    self.shared.etcd_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(shard = %self.cfg.shard, "etcd write failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let acts = self.sm.handle(Event::Tick, Instant::now());
                    self.act_local(&acts);
                    if self.sm.role() == Role::Deposed {
                        return Ok(Written::Fenced);
                    }
                }
            }
        }
    }

    /// Sends a keepalive if one is due.
    async fn ka_send(&mut self) -> Result<(), Err> {
        if let Some(ka) = self.ka.as_mut() {
            let now = Instant::now();
            if now.duration_since(ka.last) >= ka.every {
                ka.last = now;
                ka.sent.push_back(now);
                ka.keeper.keep_alive().await?;
            }
        }
        Ok(())
    }

    /// One keepalive answer: the deadline moves (or the member is deposed).
    fn ka_answer(&mut self, k: Option<LeaseKeepAliveResponse>) -> Result<Vec<Action>, Err> {
        let Some(k) = k else {
            return Err("keepalive stream closed".into());
        };
        let sent = self
            .ka
            .as_mut()
            .and_then(|ka| ka.sent.pop_front())
            .unwrap_or_else(Instant::now);
        let ttl = Duration::from_secs(k.ttl().max(0) as u64);
        if !ttl.is_zero() {
            self.renewed = Some(sent);
        } else if self.sm.role() == Role::Standby {
            // Our lease is gone: a new one on the next session.
            self.lease = None;
            return Err("lease expired".into());
        }
        Ok(self
            .sm
            .handle(Event::KeepAlive { sent, ttl }, Instant::now()))
    }

    /// A txn, with the lease kept alive (and its answers handled) while it is out: a
    /// slow write must not cost the lease.
    async fn txn_keeping_alive(
        &mut self,
        client: &mut Client,
        txn: Txn,
    ) -> Result<Result<TxnResponse, etcd_client::Error>, Err> {
        let mut kv = client.kv_client();
        let fut = kv.txn(txn);
        tokio::pin!(fut);
        loop {
            let k = tokio::select! {
                r = &mut fut => return Ok(r),
                k = ka_message(&mut self.ka) => k,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {
                    self.ka_send().await?;
                    let acts = self.sm.handle(Event::Tick, Instant::now());
                    self.act_local(&acts);
                    continue;
                }
            };
            let acts = self.ka_answer(k?)?;
            self.act_local(&acts);
        }
    }

    /// Carries out actions that talk to etcd; feeds their results back in.
    async fn act(&mut self, client: &mut Client, mut acts: Vec<Action>) -> Result<(), Err> {
        while !acts.is_empty() {
            let mut next = Vec::new();
            for a in acts {
                match a {
                    Action::Campaign => {
                        let (Some(lease), Some(renewed)) = (self.lease, self.renewed) else {
                            continue;
                        };
                        let k = self.cfg.leader_key();
                        let txn = Txn::new()
                            .when(vec![Compare::create_revision(
                                k.clone(),
                                CompareOp::Equal,
                                0,
                            )])
                            .and_then(vec![TxnOp::put(
                                k,
                                self.cfg.member.clone(),
                                Some(PutOptions::new().with_lease(lease)),
                            )]);
                        let r = client.txn(txn).await?;
                        let ev = if r.succeeded() {
                            let rev = r.header().map_or(0, |h| h.revision());
                            info!(shard = %self.cfg.shard, rev, "won the election: draining the log");
                            Event::Won {
                                rev,
                                sent: renewed,
                                ttl: Duration::from_secs(self.cfg.ttl_secs() as u64),
                            }
                        } else {
                            Event::Lost
                        };
                        next.extend(self.sm.handle(ev, Instant::now()));
                    }
                    Action::Drain => {
                        self.read_log(client).await?;
                        let seq = self.follower.applied_seq;
                        next.extend(self.sm.handle(Event::Drained { seq }, Instant::now()));
                    }
                    Action::WriteEpoch { seq } => {
                        let fence = self.sm.fence().unwrap_or(0);
                        let v = value::encode(
                            EntryKind::Epoch,
                            seq,
                            fence,
                            value::now_ms(),
                            &[],
                            self.cfg.member.as_bytes(),
                        );
                        let ev = match self.write(client, &[(seq, v)]).await? {
                            Written::Ok => {
                                self.next_seq = seq + 1;
                                self.follower.applied_seq = seq;
                                self.shared.head_seq.fetch_max(seq, Ordering::Relaxed);
                                self.shared.applied_seq.store(seq, Ordering::Relaxed);
                                Event::EpochWritten
                            }
                            Written::Fenced => Event::Fenced,
                        };
                        next.extend(self.sm.handle(ev, Instant::now()));
                    }
                    Action::StartServing => {
                        info!(shard = %self.cfg.shard, fence = ?self.sm.fence(), next_seq = self.next_seq, "active: serving the shard");
                    }
                    Action::StopServing | Action::Resync => self.act_local(&[a]),
                }
            }
            acts = next;
        }
        // Every event may have moved the deadline (a keepalive answer), not only those
        // with actions.
        self.shared.publish(&self.sm);
        Ok(())
    }

    /// Writes what the lcore queued: one txn (several groups), then back to the loop
    /// (keepalives and the watch must not wait behind a stream of writes).
    async fn flush(&mut self, client: &mut Client) -> Result<(), Err> {
        while let Some(c) = self.cmds.pop() {
            self.pending.push_back(c);
        }
        if self.sm.role() != Role::Active {
            self.fail_pending("not the shard's owner");
            return Ok(());
        }
        if !self.pending.is_empty() {
            let fence = self.sm.fence().unwrap_or(0);
            let now_ms = value::now_ms();
            let mut items = Vec::new();
            let mut groups = Vec::new();
            let mut bytes = 0;
            // The groups stay queued until the txn's outcome is known: a session error
            // during the write (the keepalive's member died) must not lose them, or the
            // lcore would wait for them forever and release no later group either. The
            // next session writes them again at the same seqs; if the first txn had
            // landed, its guard fails with the leader key still ours: written.
            for (g, recs) in self.pending.iter() {
                let v = value::encode(
                    EntryKind::Batch,
                    self.next_seq + items.len() as u64,
                    fence,
                    now_ms,
                    recs,
                    &[],
                );
                if !items.is_empty() && (bytes + v.len() > TXN_BYTES || items.len() >= TXN_OPS) {
                    break;
                }
                bytes += v.len();
                groups.push(*g);
                items.push((self.next_seq + items.len() as u64, v));
            }
            let written = self.write(client, &items).await?;
            self.pending.drain(..groups.len());
            match written {
                Written::Ok => {
                    self.next_seq += items.len() as u64;
                    let last = self.next_seq - 1;
                    self.follower.applied_seq = last;
                    self.shared.head_seq.fetch_max(last, Ordering::Relaxed);
                    self.shared.applied_seq.store(last, Ordering::Relaxed);
                    for g in groups {
                        self.ack(g, Ok(()));
                    }
                }
                Written::Fenced => {
                    for g in groups {
                        self.ack(g, Err("fenced: another member owns the shard".into()));
                    }
                    warn!(shard = %self.cfg.shard, "write fenced: another member owns the shard");
                    let acts = self.sm.handle(Event::Fenced, Instant::now());
                    self.act_local(&acts);
                    self.fail_pending("deposed");
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn session(&mut self) -> Result<(), Err> {
        let opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(2));
        let mut client = Client::connect(&self.cfg.endpoints, Some(opts)).await?;
        self.shared.connected.store(true, Ordering::Relaxed);
        // A standby catches up before it takes (or renews) a lease: the keepalives only
        // run in the loop below, and reading a long log (the whole log for a new member:
        // ~4 s at 10M bindings, no snapshots yet) must not outlive the lease. The watch
        // starts after the revision read, so nothing written meanwhile is missed.
        let standby_rev = if self.sm.role() == Role::Standby {
            Some(self.read_log(&mut client).await?)
        } else {
            None
        };
        if self.lease.is_none() {
            let sent = Instant::now();
            let g = client.lease_grant(self.cfg.ttl_secs(), None).await?;
            self.lease = Some(g.id());
            self.renewed = Some(sent);
        }
        let lease = self.lease.unwrap_or(0);
        let (keeper, stream) = client.lease_keep_alive(lease).await?;
        let every = Duration::from_secs(self.cfg.ttl_secs() as u64) / 3;
        self.ka = Some(KeepAlive {
            keeper,
            stream,
            sent: VecDeque::new(),
            last: Instant::now() - every,
            every,
        });
        // Caught up (above), or, for the owner, check where the log ends; then follow.
        let rev = if let Some(rev) = standby_rev {
            rev
        } else {
            client
                .get(self.cfg.leader_key(), None)
                .await?
                .header()
                .map_or(0, |h| h.revision())
        };
        let (_watcher, mut ws) = client
            .watch(
                self.cfg.prefix(),
                Some(
                    WatchOptions::new()
                        .with_prefix()
                        .with_start_revision(rev + 1),
                ),
            )
            .await?;
        if client
            .get(self.cfg.leader_key(), None)
            .await?
            .kvs()
            .is_empty()
        {
            let acts = self.sm.handle(Event::LeaderAbsent, Instant::now());
            self.act(&mut client, acts).await?;
        }
        info!(shard = %self.cfg.shard, role = self.sm.role().name(), rev, "etcd session up");
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let leader = self.cfg.leader_key().into_bytes();
        let log_prefix = format!("/msm/{}/log/", self.cfg.shard).into_bytes();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                if self.sm.role() == Role::Active || self.sm.role() == Role::Candidate {
                    // A clean stop hands the shard over at once.
                    let _ = client.lease_revoke(lease).await;
                }
                return Ok(());
            }
            if self.sm.role() == Role::Deposed {
                // Nothing more to do until the process restarts as a standby.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            tokio::select! {
                m = ws.message() => {
                    let Some(m) = m? else { return Err("watch closed".into()) };
                    if m.canceled() {
                        return Err(format!("watch canceled (compacted at {})", m.compact_revision()).into());
                    }
                    let mut acts = Vec::new();
                    for ev in m.events() {
                        let Some(kv) = ev.kv() else { continue };
                        if kv.key() == leader.as_slice() {
                            if ev.event_type() == EventType::Delete {
                                acts.extend(self.sm.handle(Event::LeaderAbsent, Instant::now()));
                            } else {
                                acts.extend(self.sm.handle(Event::LeaderPresent, Instant::now()));
                            }
                        } else if kv.key().starts_with(&log_prefix)
                            && ev.event_type() == EventType::Put
                            && self.sm.role() == Role::Standby
                        {
                            self.offer(kv.value(), kv.mod_revision()).await?;
                        }
                    }
                    self.act(&mut client, acts).await?;
                }
                k = ka_message(&mut self.ka) => {
                    let acts = self.ka_answer(k?)?;
                    self.act(&mut client, acts).await?;
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.ka_send().await?;
                    let acts = self.sm.handle(Event::Tick, now);
                    self.act(&mut client, acts).await?;
                    self.flush(&mut client).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standby_reports_its_lag_in_batches_and_ms() {
        let sh = Shared::new();
        assert_eq!(
            (sh.lag_batches(), sh.lag_ms(5_000), sh.apply_delay_ms()),
            (0, Some(0), None)
        );
        // The etcd thread saw entries 1..=4, written at 1000, 1100, 1200, 1300.
        for seq in 1..=4u64 {
            sh.times.record(seq, 900 + 100 * seq);
            sh.head_seq.fetch_max(seq, Ordering::Relaxed);
        }
        assert_eq!((sh.lag_batches(), sh.lag_ms(2_000)), (4, Some(1_000)));
        // The table applied 1 and 2 at 1500: entry 3 (written 1200) is the oldest left.
        sh.table_applied(1, 1_500);
        sh.table_applied(2, 1_500);
        assert_eq!(sh.apply_delay_ms(), Some(400));
        assert_eq!((sh.lag_batches(), sh.lag_ms(2_000)), (2, Some(800)));
        sh.table_applied(4, 1_350);
        assert_eq!((sh.lag_batches(), sh.lag_ms(2_000)), (0, Some(0)));
        assert_eq!(sh.apply_delay_ms(), Some(50));
        // An untimed (version-1) entry behind: the lag in ms is unknown.
        sh.head_seq.fetch_max(5, Ordering::Relaxed);
        assert_eq!((sh.lag_batches(), sh.lag_ms(2_000)), (1, None));
    }
}
