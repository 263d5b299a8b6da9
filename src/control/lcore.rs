//! The control lcore's loop: registrations from the workers' rings, ARP, operator commands, housekeeping.
//!
//! It is the only writer of the binding table, through the [`RegistrationService`]. Each
//! iteration:
//! 1. drains the workers' rings round-robin, at most `control.batch_max` requests
//!    (counted whether or not they get a reply; [`drain`]): each frame is located by
//!    [`reg_io::extract`] (a path on the wrong side of its ingress port is dropped and
//!    counted), decided by the service, and its mbuf held for the Reply;
//! 2. finishes the batch: the service commits and publishes, then every released Reply is
//!    written into its request's mbuf ([`reg_io::write_reply`]) and sent on the control
//!    tx queue of the port the request came in on;
//! 3. resolves next hops by ARP through that tx queue on every port;
//! 4. drains the workers' traffic samples into the top-N view ([`crate::control::top`]),
//!    and executes the operator commands waiting (the socket has its own thread:
//!    [`crate::control::admin`]) and DPDK telemetry's binding queries
//!    ([`crate::control::telemetry`]; counted as `admin_requests`);
//! 5. expires bindings, compacts the journal, swaps in a reloaded subscriber store,
//!    reclaims retired table generations, and writes the stats file
//!    ([`crate::control::stats`]).

mod drain;

use crate::app::notify::Notifier;
use crate::config::Config;
use crate::control::admin::{self, Command, TraceCommand};
use crate::control::alarms::{self, Alarms};
use crate::control::cluster::etcd::Handle as EtcdHandle;
use crate::control::cluster::MsmLog;
use crate::control::metrics::Metrics;
use crate::control::reg_io::{self, RegPacket};
use crate::control::registrar::Now;
use crate::control::service::{BindError, RegistrationService, Reply, MAX_HELD};
use crate::control::stats::{binding_json, ip_str, mac_str, Snapshot};
use crate::control::subscribers::{LoadResult, Subscribers};
use crate::control::telemetry;
use crate::control::top::TopN;
use crate::dataplane::counters::Counters;
use crate::dataplane::pipeline::Plane;
use crate::dataplane::sample::SampleRing;
use crate::dataplane::trace::Trace;
use crate::dataplane::worker::WorkerFaults;
use drain::RoundRobin;
use msm_dpdk::{Mbuf, MbufBurst, Mempool, PortId, RingConsumer, TxQueue};
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A standby's followed batches applied per loop iteration at most.
const FOLLOW_PER_POLL: usize = 16;

/// Counters of the control loop itself (single-threaded: plain integers); the
/// registration service keeps its own ([`crate::control::service::ServiceCounters`]).
#[derive(Debug, Default, Clone)]
pub struct ControlCounters {
    pub registrations_received: u64,
    /// Frames handed to control that are not a well-formed registration datagram.
    pub registrations_malformed: u64,
    /// Requests on a path bound to the other side (path 1 not from a WWAN-side port,
    /// path 2 or 3 not from an Internet-side port): dropped, never answered.
    pub registrations_wrong_side: u64,
    /// Requests located, by path: WWAN (1), reverse tunnel (2), direct (3).
    pub registrations_by_path: [u64; 3],
    pub replies_sent: u64,
    pub replies_tx_failed: u64,
    /// Worst time from dequeuing a batch to its Replies leaving (us).
    pub batch_max_us: u64,
    /// Longest control-loop iteration (us): batch, ARP, operator commands, housekeeping.
    pub iteration_max_us: u64,
    /// Most requests taken off the rings in one iteration (at most `control.batch_max`).
    pub iteration_requests_max: u64,
    /// Iterations that stopped draining at `control.batch_max` (the rings held more).
    pub iterations_at_bound: u64,
    pub arp_requests_sent: u64,
    /// Gratuitous ARP announcements sent (clustered: on becoming the shard's owner).
    pub gratuitous_arp_sent: u64,
    pub arp_alloc_failed: u64,
    pub admin_requests: u64,
    pub admin_errors: u64,
    /// Requests dropped because this member does not serve the shard now (a standby, a
    /// candidate, or an owner past its local deadline): never answered.
    pub registrations_not_owner: u64,
    /// A standby's batches applied from the owner's log.
    pub followed_batches: u64,
}

/// A request's mbuf, held by the service until its Reply is released into it.
pub struct ReplyTo {
    pub mbuf: Mbuf,
    pub reg: RegPacket,
}

impl ReplyTo {
    /// The request's UDP payload.
    fn payload(&self) -> &[u8] {
        &self.mbuf.data()[self.reg.payload.0..self.reg.payload.1]
    }
}

pub struct ControlCtx {
    pub cfg: Config,
    pub plane: Arc<Plane>,
    /// Registrations, the binding table, the journal.
    pub service: RegistrationService<ReplyTo, MsmLog>,
    pub rings: Vec<RingConsumer>,
    /// The control tx queue of every port, indexed by port.
    pub tx: Vec<TxQueue>,
    pub ports: Vec<PortId>,
    pub pool: Mempool,
    pub counters: Arc<[Counters]>,
    /// Every worker's packet trace (`msm ctl trace`).
    pub traces: Arc<[Trace]>,
    /// Every worker's traffic samples, drained each iteration into `top`.
    pub samples: Arc<[SampleRing]>,
    /// The top-N view (`msm ctl top`, `top` in the stats).
    pub top: TopN,
    pub stop: Arc<AtomicBool>,
    /// Workers that stopped on a panic: the loop raises `worker_stopped` and stops.
    pub worker_faults: Arc<WorkerFaults>,
    pub admin: Option<admin::Server>,
    pub started: Instant,
    pub ip_id: u16,
    /// A subscriber reload running on a helper thread.
    pub reload: Option<Receiver<LoadResult>>,
    /// Outcome of the last reload, for `stats`.
    pub reload_status: Option<String>,
    /// Active alarms (shown by `stats`).
    pub alarms: Alarms,
    /// The reply latency histogram of the metrics endpoint (`control.metrics_listen`),
    /// if configured.
    pub metrics: Option<Arc<Metrics>>,
    /// Where the stats document is published every `control.stats_interval_ms` for the
    /// metrics endpoint and DPDK telemetry (`None`: nobody reads it).
    pub snapshot: Option<Arc<Snapshot>>,
    /// Binding queries from DPDK telemetry's `/msm/binding` (answered like `show`).
    pub telemetry: Option<telemetry::Queries>,
    /// systemd's notify socket (READY=1, WATCHDOG=1, STOPPING=1), when run by systemd.
    pub notify: Option<Notifier>,
    /// The etcd thread, with `[cluster]` (`docs/cluster.md`).
    pub cluster: Option<EtcdHandle>,
    /// Why this member stopped serving its shard for good (it must restart as a standby).
    pub deposed: Option<String>,
}

/// Why an operator command failed (the client gets `{"error": "<message>"}`).
#[derive(Debug, thiserror::Error)]
enum AdminError {
    /// The command line did not parse.
    #[error("{0}")]
    Request(String),
    #[error("no binding for {0}")]
    NoBinding(Ipv4Addr),
    #[error("{0} is outside every home pool")]
    OutsideHomePools(Ipv4Addr),
    #[error("care-of address {0} {1}")]
    CareOfRefused(Ipv4Addr, &'static str),
    #[error("MSISDN {0} is out of range")]
    MsisdnOutOfRange(u64),
    #[error("{0}")]
    Bind(#[from] BindError),
    #[error("vanished")]
    Vanished,
    #[error("no control.subscribers configured")]
    NoSubscriberFile,
    #[error("registrations are disabled")]
    RegistrationsDisabled,
    #[error("a reload is already running")]
    ReloadRunning,
    #[error("cannot start the reload thread: {0}")]
    ReloadThread(std::io::Error),
}

impl ControlCtx {
    /// Runs until `stop` is set; returns the final stats document, and why this member
    /// was deposed from its shard if it was.
    pub fn run(mut self) -> (Value, Option<String>) {
        let mut cc = ControlCounters::default();
        let mut round_robin = RoundRobin::default();
        let mut last_arp = Instant::now() - Duration::from_secs(3600);
        let mut last_stats = Instant::now();
        let arp_every = Duration::from_millis(self.cfg.arp_retry_ms);
        let stats_every = Duration::from_millis(self.cfg.stats_interval_ms);
        // The batch's requests, located, between draining and deciding (prefetched first).
        let mut taken: Vec<ReplyTo> = Vec::with_capacity(MAX_HELD);
        // With `[cluster]`: serving the shard and its drained log applied.
        let mut caught_up = false;
        if let Some(n) = &self.notify {
            // The table is published and the workers run: the MSM forwards from now on.
            n.ready(&format!(
                "forwarding: {} bindings, {} worker(s)",
                self.service.writer().len(),
                self.cfg.workers.len()
            ));
        }
        while !self.stop.load(Ordering::Relaxed) {
            if self.worker_faults.failed() {
                let why = self.worker_faults.describe();
                self.alarms
                    .raise(crate::control::alarms::WORKER_STOPPED, why + ": exiting");
                self.stop.store(true, Ordering::SeqCst);
                self.publish_stats(&cc); // the alarm, for a supervisor reading the file
                break;
            }
            let t_batch = Instant::now();
            // One batch: what the rings hold now, within the budget, then one group commit.
            let budget =
                (self.cfg.control_batch_max).min(MAX_HELD.saturating_sub(self.service.held()));
            let (plane, service) = (&self.plane, &mut self.service);
            let drained = round_robin.drain(&mut self.rings, budget, |m| {
                cc.registrations_received += 1;
                if let Some(t) = Self::locate_request(m, plane, &mut cc) {
                    taken.push(t);
                }
            });
            // Prefetch every subscriber record and table bucket of the batch, then decide
            // the requests in arrival order.
            if let Some(c) = &self.cluster {
                // Serve only once everything drained at the takeover is in the table.
                let serving = c.shared.serving(Instant::now());
                let was = caught_up;
                caught_up = serving
                    && (caught_up
                        || (c.followed_waiting() == 0 && service.batches_in_flight() == 0));
                if caught_up != was {
                    // Silent on ARP unless serving; on becoming the owner, tell the
                    // segments' hosts where our addresses are now.
                    plane.standby.store(!caught_up, Ordering::Relaxed);
                    if caught_up {
                        cc.gratuitous_arp_sent += announce(plane, &self.pool, &mut self.tx);
                    }
                }
                if !caught_up {
                    // Not the shard's owner now: no answer (the mobile's retransmission
                    // reaches the owner once it serves).
                    cc.registrations_not_owner += taken.len() as u64;
                    taken.clear();
                }
            }
            service.prefetch(taken.iter().map(ReplyTo::payload));
            for t in taken.drain(..) {
                let decision = service.decide_udp(
                    t.payload(),
                    t.reg.path,
                    t.reg.src,
                    t.reg.sport,
                    Now::system(),
                );
                service.hold(t, decision);
            }
            cc.iteration_requests_max = cc.iteration_requests_max.max(drained.taken as u64);
            cc.iterations_at_bound += u64::from(drained.hit_bound);
            if drained.taken > 0 {
                // Its group commit goes to the journal's sync thread: the loop goes on.
                self.service.seal_batch();
                let us = t_batch.elapsed().as_micros() as u64;
                cc.batch_max_us = cc.batch_max_us.max(us);
            }
            self.release_replies(&mut cc, false);
            if self.follow_cluster(&mut cc) {
                break;
            }
            if last_arp.elapsed() >= arp_every {
                last_arp = Instant::now();
                self.resolve_neighbours(&mut cc);
            }
            self.top.drain(&self.samples, Instant::now());
            for _ in 0..admin::PER_POLL {
                let Some(p) = self.admin.as_ref().and_then(|a| a.next_command()) else {
                    break;
                };
                p.answer(self.admin_command(p.command.clone(), &mut cc));
            }
            for _ in 0..telemetry::PER_POLL {
                let Some(p) = self.telemetry.as_ref().and_then(|t| t.next()) else {
                    break;
                };
                p.answer(self.admin_command(p.command.clone(), &mut cc));
            }
            // A standby does not expire on its own: the owner's expiries reach it
            // through the log (and a standby's own write would not be replicated).
            if self
                .cluster
                .as_ref()
                .is_none_or(|c| c.shared.serving(Instant::now()))
            {
                self.service.expire(Now::system());
            }
            self.service.maybe_compact();
            self.alarms.set(
                alarms::JOURNAL_CANNOT_COMMIT,
                self.service.journal_failure().map(str::to_owned),
            );
            self.poll_reload();
            self.service.migrate_replay_state();
            self.service.reclaim();
            if last_stats.elapsed() >= stats_every {
                last_stats = Instant::now();
                self.check_levels();
                self.publish_stats(&cc);
            }
            if let Some(n) = &mut self.notify {
                n.watchdog();
            }
            let us = t_batch.elapsed().as_micros() as u64;
            cc.iteration_max_us = cc.iteration_max_us.max(us);
            if drained.taken == 0 {
                // A control core, not a worker: idle politely (less long while a
                // commit is in flight: its Replies wait for the next poll).
                let idle = if self.service.batches_in_flight() > 0 {
                    50
                } else {
                    200
                };
                std::thread::sleep(Duration::from_micros(idle));
            }
        }
        // Batches still in flight: wait for their commits and answer them.
        self.release_replies(&mut cc, true);
        if let Some(n) = &self.notify {
            n.stopping();
        }
        let deposed = self.deposed.take();
        (self.stats(&cc), deposed)
    }

    /// With `[cluster]`: applies what the owner replicated (a standby), in log order,
    /// at most a few batches per iteration; true if this member was deposed (the loop
    /// stops: it must restart as a standby, `docs/cluster.md`).
    fn follow_cluster(&mut self, cc: &mut ControlCounters) -> bool {
        let Some(c) = &self.cluster else {
            return false;
        };
        for _ in 0..FOLLOW_PER_POLL {
            let Some((seq, records)) = c.next_followed() else {
                break;
            };
            if !records.is_empty() {
                self.service.follow(&records);
            }
            c.shared
                .table_applied(seq, crate::control::cluster::value::now_ms());
            cc.followed_batches += 1;
        }
        if c.shared.must_resync.load(Ordering::SeqCst) {
            let why = "lost the shard (local deadline passed, lease lost or a write fenced): restart as a standby".to_string();
            tracing::error!("cluster: {why}");
            self.deposed = Some(why);
            self.stop.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// One frame from a worker: locate the request in it (the service decides it once
    /// the batch is prefetched); `None`: counted and dropped.
    fn locate_request(m: Mbuf, plane: &Plane, cc: &mut ControlCounters) -> Option<ReplyTo> {
        // The worker stamped the index of the ingress port into the mbuf.
        let Some(ingress) = plane.ports.get(m.port() as usize) else {
            cc.registrations_wrong_side += 1;
            return None;
        };
        let reg = match reg_io::extract(m.data(), plane.msm_gprs, plane.msm_wlan, ingress.role) {
            Ok(r) => r,
            Err(reg_io::ExtractError::WrongSide) => {
                cc.registrations_wrong_side += 1;
                return None;
            }
            Err(_) => {
                cc.registrations_malformed += 1;
                return None;
            }
        };
        let path = match reg.path {
            reg_io::Path::Wwan => 0,
            reg_io::Path::Tunnel { .. } => 1,
            reg_io::Path::Direct => 2,
        };
        cc.registrations_by_path[path] += 1;
        Some(ReplyTo { mbuf: m, reg })
    }

    /// The batches whose group commit finished (waiting for all if `wait`): applied and
    /// published by the service, then each released Reply goes out in its request's
    /// mbuf, back the way the request came.
    fn release_replies(&mut self, cc: &mut ControlCounters, wait: bool) {
        let (plane, tx, ip_id) = (&self.plane, &mut self.tx, &mut self.ip_id);
        let latency = self.metrics.as_ref().map(|m| &m.latency);
        self.service
            .poll_batches(wait, |ReplyTo { mut mbuf, reg }, reply: Reply<'_>| {
                let pi = mbuf.port() as usize;
                let Some(port) = plane.ports.get(pi) else {
                    cc.replies_tx_failed += 1;
                    return;
                };
                *ip_id = ip_id.wrapping_add(2);
                if !reg_io::write_reply(&mut mbuf, &reg, reply.payload, port.mac, 64, *ip_id) {
                    cc.replies_tx_failed += 1;
                    return;
                }
                let mut b: MbufBurst<1> = MbufBurst::new();
                let _ = b.push(mbuf);
                let (sent, _) = b.tx_retry_or_free(&mut tx[pi], 8);
                if sent == 1 {
                    cc.replies_sent += 1;
                    if let Some(h) = latency {
                        h.observe(reply.since.elapsed().as_secs_f64());
                    }
                } else {
                    cc.replies_tx_failed += 1;
                }
            });
    }

    /// Starts reloading the subscriber file on a helper thread (a 10M-line file takes
    /// seconds: the control lcore must not stall on it).
    fn start_reload(&mut self) -> Result<Value, AdminError> {
        let Some(path) = self.cfg.registration.subscribers.clone() else {
            return Err(AdminError::NoSubscriberFile);
        };
        if self.service.registrar().is_none() {
            return Err(AdminError::RegistrationsDisabled);
        }
        if self.reload.is_some() {
            return Err(AdminError::ReloadRunning);
        }
        let pools = self.cfg.home_pools.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("msm-reload".into())
            .spawn(move || {
                let _ = tx.send(Subscribers::load(&path, &pools));
            })
            .map_err(AdminError::ReloadThread)?;
        self.reload = Some(rx);
        self.reload_status = Some("running".into());
        Ok(json!({"reload": "started"}))
    }

    /// Swaps in a reloaded subscriber store once it is ready; a bad file keeps the old one.
    fn poll_reload(&mut self) {
        let Some(rx) = &self.reload else { return };
        let status = match rx.try_recv() {
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => "error: reload thread died".to_string(),
            Ok(Err(e)) => {
                tracing::warn!("subscriber reload refused, old store kept: {e}");
                format!("error: {e}")
            }
            Ok(Ok(subs)) => {
                let n = subs.len();
                self.service.replace_subscribers(subs);
                tracing::info!("subscribers reloaded: {n}");
                format!("ok: {n} subscribers")
            }
        };
        self.reload = None;
        self.reload_status = Some(status);
    }

    /// Logs next hops whose MAC changed since the last look (the workers count each
    /// change as `neighbour_mac_changes`), and sends ARP requests for next hops that are
    /// unresolved or not refreshed for 60 s (never for static ones).
    fn resolve_neighbours(&mut self, cc: &mut ControlCounters) {
        let now = msm_dpdk::rdtsc() / msm_dpdk::tsc_hz().max(1);
        for e in self.plane.neigh.entries() {
            if let Some((old, new)) = e.take_change() {
                tracing::warn!(
                    "next hop {} on port {} moved: MAC {} -> {}",
                    ip_str(e.ip),
                    self.cfg.ports[e.port as usize].name,
                    mac_str(old),
                    mac_str(new),
                );
            }
            if e.is_static() {
                continue;
            }
            let stale = e.mac().is_none() || now.saturating_sub(e.updated()) > 60;
            if !stale {
                continue;
            }
            let pi = e.port as usize;
            let port = &self.plane.ports[pi];
            let Some(mut m) = self.pool.alloc() else {
                cc.arp_alloc_failed += 1;
                continue;
            };
            if !fill_arp_request(&mut m, port.mac, port.ip, e.ip) {
                continue;
            }
            let mut b: MbufBurst<1> = MbufBurst::new();
            let _ = b.push(m);
            let (sent, _) = b.tx_all_or_free(&mut self.tx[pi]);
            cc.arp_requests_sent += sent as u64;
        }
    }

    /// Serves one operator command; the reply is one JSON document.
    fn admin_command<E: std::fmt::Display>(
        &mut self,
        c: Result<Command, E>,
        cc: &mut ControlCounters,
    ) -> String {
        cc.admin_requests += 1;
        let reply = match c {
            Err(e) => Err(AdminError::Request(e.to_string())),
            Ok(c) => self.admin_reply(c, cc),
        };
        match reply {
            Ok(v) => v.to_string(),
            Err(e) => {
                cc.admin_errors += 1;
                json!({"error": e.to_string()}).to_string()
            }
        }
    }

    fn admin_reply(&mut self, c: Command, cc: &ControlCounters) -> Result<Value, AdminError> {
        match c {
            Command::Ping => Ok(json!({"ok": true})),
            Command::Stats => Ok(self.stats(cc)),
            Command::Reload => self.start_reload(),
            Command::Trace(t) => Ok(self.trace(t)),
            Command::Top(n) => Ok(self.top.view(n, Instant::now())),
            Command::Show(home) => match self.service.writer().get(home) {
                Some(b) => Ok(binding_json(&b)),
                None => Err(AdminError::NoBinding(Ipv4Addr::from(home))),
            },
            Command::Bind { home, coa, msisdn } => {
                self.check_bind(home, coa, msisdn)?;
                let epoch = self.service.bind(home, coa, msisdn)?;
                let b = self
                    .service
                    .writer()
                    .get(home)
                    .ok_or(AdminError::Vanished)?;
                let mut v = binding_json(&b);
                v["epoch"] = json!(epoch);
                Ok(v)
            }
            Command::Unbind(home) => {
                if self.service.unbind(home)? {
                    Ok(json!({"removed": ip_str(home)}))
                } else {
                    Err(AdminError::NoBinding(Ipv4Addr::from(home)))
                }
            }
        }
    }

    /// The level alarms: table, mempool, next hops, replication (clustered).
    fn check_levels(&mut self) {
        let w = self.service.writer();
        let unresolved = self
            .plane
            .neigh
            .entries()
            .iter()
            .filter(|e| e.mac().is_none())
            .map(|e| {
                format!(
                    "{} on {}",
                    ip_str(e.ip),
                    self.cfg.ports[e.port as usize].name
                )
            })
            .collect();
        let levels = alarms::Levels {
            bindings: w.len(),
            max_bindings: w.max_bindings(),
            mbufs_available: self.pool.available() as usize,
            mbufs_in_use: self.pool.in_use() as usize,
            unresolved,
            uptime_s: self.started.elapsed().as_secs_f64(),
            replication: self
                .cluster_lag()
                .map(|lag| (lag, self.cluster_connected())),
        };
        self.alarms.evaluate(&levels);
    }

    /// `trace N|show|clear` on every worker's trace; `show` names the ports.
    fn trace(&self, t: TraceCommand) -> Value {
        let name = |v: &Value| {
            v.as_u64()
                .and_then(|i| self.cfg.ports.get(i as usize))
                .map_or(v.clone(), |p| json!(p.name))
        };
        match t {
            TraceCommand::Arm(n) => {
                self.traces.iter().for_each(|w| w.arm(n));
                json!({"armed": n.min(crate::dataplane::trace::MAX_RECORDS), "workers": self.traces.len()})
            }
            TraceCommand::Clear => {
                self.traces.iter().for_each(|w| w.clear());
                json!({"cleared": self.traces.len()})
            }
            TraceCommand::Show => {
                let mut records = Vec::new();
                for w in self.traces.iter() {
                    for mut r in w.records() {
                        r["ingress"] = name(&r["ingress"]);
                        if r["action"]["tx"].is_u64() {
                            r["action"]["tx"] = name(&r["action"]["tx"]);
                        }
                        records.push(r);
                    }
                }
                let remaining: Vec<u32> = self.traces.iter().map(|w| w.remaining()).collect();
                json!({"remaining": remaining, "records": records})
            }
        }
    }

    /// The server's own checks of a `bind` (whatever the client checked): the home
    /// address in a home pool, the care-of address acceptable, the MSISDN 1..15 digits.
    fn check_bind(&self, home: u32, coa: Option<u32>, msisdn: u64) -> Result<(), AdminError> {
        if !self.cfg.in_home_pool(home) {
            return Err(AdminError::OutsideHomePools(Ipv4Addr::from(home)));
        }
        if let Some(coa) = coa {
            let own: Vec<u32> = self.cfg.ports.iter().map(|p| p.address).collect();
            if let Some(why) = admin::care_of_refused(coa, &own, &self.cfg.home_pools) {
                return Err(AdminError::CareOfRefused(Ipv4Addr::from(coa), why));
            }
        }
        if !(1..=999_999_999_999_999).contains(&msisdn) {
            return Err(AdminError::MsisdnOutOfRange(msisdn));
        }
        Ok(())
    }

    /// Writes the stats document to the configured file (through a rename: readers never
    /// see half a document) and publishes it for the metrics endpoint and telemetry.
    fn publish_stats(&self, cc: &ControlCounters) {
        if self.cfg.stats_file.is_none() && self.snapshot.is_none() {
            return;
        }
        let doc = self.stats(cc);
        if let Some(path) = &self.cfg.stats_file {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, doc.to_string()).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
        if let Some(s) = &self.snapshot {
            s.publish(doc);
        }
    }
}

/// Sends one gratuitous ARP (an ARP announcement, RFC 5227: a broadcast request whose
/// sender and target are our own address) on every port; returns how many were sent.
fn announce(plane: &Plane, pool: &Mempool, tx: &mut [TxQueue]) -> u64 {
    let mut sent = 0;
    for (port, q) in plane.ports.iter().zip(tx.iter_mut()) {
        let Some(mut m) = pool.alloc() else {
            continue;
        };
        if !fill_arp_request(&mut m, port.mac, port.ip, port.ip) {
            continue;
        }
        let mut b: MbufBurst<1> = MbufBurst::new();
        let _ = b.push(m);
        sent += b.tx_all_or_free(q).0 as u64;
    }
    sent
}

fn fill_arp_request(m: &mut Mbuf, mac: [u8; 6], ip: u32, target: u32) -> bool {
    let Some(buf) = m.append(60) else {
        return false;
    };
    buf.fill(0); // padded to the Ethernet minimum
    msm_wire::arp::write_arp_request(buf, mac, ip, target).is_ok()
}
