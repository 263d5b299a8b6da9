//! The control lcore: the only writer of the binding table.
//!
//! It drains the workers' rings (registrations: counted and dropped until the control
//! plane issue lands), resolves next hops by ARP through its own tx queue on every port,
//! serves the operator socket ([`crate::control::admin`]), applies binding changes in batches and
//! publishes them by RCU, expires bindings and reclaims retired table generations, and
//! writes the stats file.

use crate::config::Config;
use crate::control::admin::{self, Command};
use crate::control::journal::{Journal, Record};
use crate::control::reg_io::{self, RegPacket};
use crate::control::registrar::{Now, Outcome, Registrar};
use crate::dataplane::counters::Counters;
use crate::dataplane::pipeline::Plane;
use msm_dpdk::{Mbuf, MbufBurst, Mempool, PortId, RingConsumer, TxQueue};
use msm_table::{Binding, TableWriter};
use serde_json::{json, Map, Value};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counters of the control lcore (single-threaded: plain integers).
#[derive(Debug, Default, Clone)]
pub struct ControlCounters {
    pub registrations_received: u64,
    /// Frames handed to control that are not a well-formed registration datagram.
    pub registrations_malformed: u64,
    /// Registrations dropped because no subscriber store is configured.
    pub registrations_no_subscribers: u64,
    /// Accepted changes whose journal commit failed: no Reply sent (the mobile retries).
    pub journal_errors: u64,
    pub journal_commits: u64,
    pub journal_compactions: u64,
    pub replies_sent: u64,
    pub replies_tx_failed: u64,
    /// Worst time from dequeuing a batch to its Replies leaving (us).
    pub batch_max_us: u64,
    pub arp_requests_sent: u64,
    pub arp_alloc_failed: u64,
    pub admin_requests: u64,
    pub admin_errors: u64,
    pub publishes: u64,
    pub expired: u64,
}

pub struct ControlCtx {
    pub cfg: Config,
    pub plane: Arc<Plane>,
    pub writer: TableWriter,
    pub rings: Vec<RingConsumer>,
    /// The control tx queue of every port, indexed by port.
    pub tx: Vec<TxQueue>,
    pub ports: Vec<PortId>,
    pub pool: Mempool,
    pub counters: Arc<[Counters]>,
    pub stop: Arc<AtomicBool>,
    pub admin: Option<admin::Server>,
    pub started: Instant,
    pub registrar: Option<Registrar>,
    pub journal: Option<Journal>,
    pub ip_id: u16,
    /// A subscriber reload running on a helper thread.
    pub reload: Option<std::sync::mpsc::Receiver<crate::control::subscribers::LoadResult>>,
    /// Outcome of the last reload, for `stats`.
    pub reload_status: Option<String>,
}

/// A request of the current batch waiting for its group commit.
struct Pending {
    mbuf: Mbuf,
    reg: RegPacket,
    outcome: Outcome,
}

fn unix_now() -> u32 {
    Now::system().unix_s.min(u32::MAX as u64 - 1) as u32
}

fn ip_str(a: u32) -> String {
    Ipv4Addr::from(a).to_string()
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl ControlCtx {
    /// Runs until `stop` is set; returns the final stats document.
    pub fn run(mut self) -> Value {
        let mut cc = ControlCounters::default();
        let mut burst: MbufBurst<32> = MbufBurst::new();
        let mut last_arp = Instant::now() - Duration::from_secs(3600);
        let mut last_stats = Instant::now();
        let mut expired: Vec<Binding> = Vec::new();
        let mut pending: Vec<Pending> = Vec::with_capacity(4096);
        let arp_every = Duration::from_millis(self.cfg.arp_retry_ms);
        let stats_every = Duration::from_millis(self.cfg.stats_interval_ms);
        while !self.stop.load(Ordering::Relaxed) {
            let mut busy = false;
            let t_batch = Instant::now();
            // One batch: everything the rings hold now (bounded), then one group commit.
            for r in self.rings.iter_mut() {
                while pending.len() < 4096 && r.dequeue_burst(&mut burst) > 0 {
                    busy = true;
                    for m in burst.drain() {
                        cc.registrations_received += 1;
                        Self::handle_request(
                            m,
                            &self.plane,
                            self.registrar.as_mut(),
                            &mut self.writer,
                            self.journal.as_mut(),
                            &mut pending,
                            &mut cc,
                        );
                    }
                }
            }
            if !pending.is_empty() {
                self.finish_batch(&mut pending, &mut cc);
                let us = t_batch.elapsed().as_micros() as u64;
                cc.batch_max_us = cc.batch_max_us.max(us);
            }
            if last_arp.elapsed() >= arp_every {
                last_arp = Instant::now();
                self.resolve_neighbours(&mut cc);
            }
            if let Some(srv) = self.admin.take() {
                srv.poll(|c| self.admin_command(c, &mut cc));
                self.admin = Some(srv);
            }
            self.writer.expire(unix_now(), 4096, &mut expired);
            if !expired.is_empty() {
                cc.expired += expired.len() as u64;
                for b in expired.drain(..) {
                    let last = self.last_ident(b.msisdn);
                    if let Some(j) = self.journal.as_mut() {
                        j.append(&Record::remove(b.home, b.msisdn, last));
                    }
                }
                self.commit(&mut cc);
                self.writer.publish();
                cc.publishes += 1;
            }
            self.maybe_compact(&mut cc);
            self.poll_reload();
            self.writer.reclaim();
            if last_stats.elapsed() >= stats_every {
                last_stats = Instant::now();
                if let Some(path) = &self.cfg.stats_file {
                    let doc = self.stats(&cc).to_string();
                    let tmp = path.with_extension("tmp");
                    if std::fs::write(&tmp, doc).is_ok() {
                        let _ = std::fs::rename(&tmp, path);
                    }
                }
            }
            if !busy {
                // A control core, not a worker: idle politely.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        self.stats(&cc)
    }

    /// Handles one frame from a worker: decide, apply to the table, journal the change,
    /// and queue the Reply until the group commit.
    fn handle_request(
        m: Mbuf,
        plane: &Plane,
        registrar: Option<&mut Registrar>,
        writer: &mut TableWriter,
        journal: Option<&mut Journal>,
        pending: &mut Vec<Pending>,
        cc: &mut ControlCounters,
    ) {
        let reg = match reg_io::extract(m.data(), plane.msm_gprs, plane.msm_wlan) {
            Ok(r) => r,
            Err(_) => {
                cc.registrations_malformed += 1;
                return;
            }
        };
        let Some(registrar) = registrar else {
            cc.registrations_no_subscribers += 1;
            return;
        };
        let payload = &m.data()[reg.payload.0..reg.payload.1];
        let outcome = registrar.handle(payload, reg.path, reg.src, Now::system(), writer);
        if let (Some(c), Some(j)) = (&outcome.change, journal) {
            j.append(&c.record());
        }
        if outcome.reply.is_some() {
            pending.push(Pending {
                mbuf: m,
                reg,
                outcome,
            });
        }
    }

    /// Group commit, publish, then send the batch's Replies (code 0 only if durable).
    fn finish_batch(&mut self, pending: &mut Vec<Pending>, cc: &mut ControlCounters) {
        let durable = self.commit(cc);
        self.writer.publish();
        cc.publishes += 1;
        for p in pending.drain(..) {
            let Pending {
                mut mbuf,
                reg,
                outcome,
            } = p;
            if outcome.change.is_some() && !durable {
                cc.journal_errors += 1;
                continue; // never acknowledge what is not durable; the mobile retransmits
            }
            let Some(payload) = outcome.reply_bytes() else {
                continue;
            };
            let pi = mbuf.port() as usize;
            let Some(port) = self.plane.ports.get(pi) else {
                cc.replies_tx_failed += 1;
                continue;
            };
            self.ip_id = self.ip_id.wrapping_add(2);
            if !reg_io::write_reply(&mut mbuf, &reg, payload, port.mac, 64, self.ip_id) {
                cc.replies_tx_failed += 1;
                continue;
            }
            let mut b: MbufBurst<1> = MbufBurst::new();
            let _ = b.push(mbuf);
            let (sent, _) = b.tx_retry_or_free(&mut self.tx[pi], 8);
            if sent == 1 {
                cc.replies_sent += 1;
            } else {
                cc.replies_tx_failed += 1;
            }
        }
    }

    /// Commits the journal's pending records; true if they are durable (or there is no
    /// journal: bindings are then explicitly not durable).
    fn commit(&mut self, cc: &mut ControlCounters) -> bool {
        let Some(j) = self.journal.as_mut() else {
            return true;
        };
        if j.pending() == 0 {
            return true;
        }
        match j.commit() {
            Ok(()) => {
                cc.journal_commits += 1;
                true
            }
            Err(e) => {
                tracing::error!("journal commit failed: {e}");
                false
            }
        }
    }

    fn last_ident(&self, msisdn: u64) -> u64 {
        self.registrar
            .as_ref()
            .and_then(|r| r.last_ident(msisdn))
            .unwrap_or(0)
    }

    fn maybe_compact(&mut self, cc: &mut ControlCounters) {
        let limit = self.cfg.registration.journal_compact_bytes;
        let Some(j) = self.journal.as_ref() else {
            return;
        };
        if j.log_bytes() < limit {
            return;
        }
        let live: Vec<Record> = self
            .writer
            .iter()
            .map(|b| Record::upsert(&b, self.last_ident(b.msisdn)))
            .collect();
        if let Some(j) = self.journal.as_mut() {
            match j.compact(live) {
                Ok(()) => cc.journal_compactions += 1,
                Err(e) => tracing::error!("journal compaction failed: {e}"),
            }
        }
    }

    /// Starts reloading the subscriber file on a helper thread (a 10M-line file takes
    /// seconds: the control lcore must not stall on it).
    fn start_reload(&mut self) -> Result<Value, String> {
        let Some(path) = self.cfg.registration.subscribers.clone() else {
            return Err("no control.subscribers configured".into());
        };
        if self.registrar.is_none() {
            return Err("registrations are disabled".into());
        }
        if self.reload.is_some() {
            return Err("a reload is already running".into());
        }
        let pools = self.cfg.home_pools.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("msm-reload".into())
            .spawn(move || {
                let _ = tx.send(crate::control::subscribers::Subscribers::load(
                    &path, &pools,
                ));
            })
            .map_err(|e| format!("cannot start the reload thread: {e}"))?;
        self.reload = Some(rx);
        self.reload_status = Some("running".into());
        Ok(json!({"reload": "started"}))
    }

    /// Swaps in a reloaded subscriber store once it is ready; a bad file keeps the old one.
    fn poll_reload(&mut self) {
        let Some(rx) = &self.reload else { return };
        let status = match rx.try_recv() {
            Err(std::sync::mpsc::TryRecvError::Empty) => return,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                "error: reload thread died".to_string()
            }
            Ok(Err(e)) => {
                tracing::warn!("subscriber reload refused, old store kept: {e}");
                format!("error: {e}")
            }
            Ok(Ok(subs)) => {
                let n = subs.len();
                if let Some(r) = self.registrar.as_mut() {
                    r.replace_subscribers(subs);
                }
                tracing::info!("subscribers reloaded: {n}");
                format!("ok: {n} subscribers")
            }
        };
        self.reload = None;
        self.reload_status = Some(status);
    }

    /// Sends ARP requests for next hops that are unresolved or not refreshed for 60 s.
    fn resolve_neighbours(&mut self, cc: &mut ControlCounters) {
        let now = msm_dpdk::rdtsc() / msm_dpdk::tsc_hz().max(1);
        for e in self.plane.neigh.entries() {
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

    fn admin_command(
        &mut self,
        c: Result<Command, admin::CommandError>,
        cc: &mut ControlCounters,
    ) -> String {
        cc.admin_requests += 1;
        let reply = match c {
            Err(e) => Err(e.to_string()),
            Ok(Command::Ping) => Ok(json!({"ok": true})),
            Ok(Command::Stats) => Ok(self.stats(cc)),
            Ok(Command::Reload) => self.start_reload(),
            Ok(Command::Show(home)) => match self.writer.get(home) {
                Some(b) => Ok(binding_json(&b)),
                None => Err(format!("no binding for {}", ip_str(home))),
            },
            Ok(Command::Bind { home, coa, msisdn }) => {
                if !self.cfg.in_home_pool(home) {
                    Err(format!("{} is outside every home pool", ip_str(home)))
                } else {
                    match self.writer.upsert(home, coa, msisdn, u32::MAX) {
                        Ok(_) => {
                            let last = self.last_ident(msisdn);
                            if let Some(j) = self.journal.as_mut() {
                                j.append(&Record::upsert(
                                    &Binding {
                                        home,
                                        coa,
                                        msisdn,
                                        expires_at: u32::MAX,
                                    },
                                    last,
                                ));
                            }
                            self.commit(cc);
                            let epoch = self.writer.publish();
                            cc.publishes += 1;
                            self.writer
                                .get(home)
                                .map(|b| {
                                    let mut v = binding_json(&b);
                                    v["epoch"] = json!(epoch);
                                    v
                                })
                                .ok_or_else(|| "vanished".to_string())
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
            }
            Ok(Command::Unbind(home)) => {
                let old = self.writer.get(home);
                if self.writer.remove(home) {
                    let msisdn = old.map(|b| b.msisdn).unwrap_or(0);
                    let last = self.last_ident(msisdn);
                    if let Some(j) = self.journal.as_mut() {
                        j.append(&Record::remove(home, msisdn, last));
                    }
                    self.commit(cc);
                    self.writer.publish();
                    cc.publishes += 1;
                    Ok(json!({"removed": ip_str(home)}))
                } else {
                    Err(format!("no binding for {}", ip_str(home)))
                }
            }
        };
        match reply {
            Ok(v) => v.to_string(),
            Err(e) => {
                cc.admin_errors += 1;
                json!({"error": e}).to_string()
            }
        }
    }

    /// The stats document: per-worker counters, their sum, control, ports, table,
    /// neighbours.
    pub fn stats(&self, cc: &ControlCounters) -> Value {
        let mut total: Map<String, Value> = Map::new();
        let mut workers = Vec::new();
        for c in self.counters.iter() {
            let mut w = Map::new();
            for (k, v) in c.snapshot() {
                let t = total.entry(k.clone()).or_insert(json!(0u64));
                *t = json!(t.as_u64().unwrap_or(0) + v);
                w.insert(k, json!(v));
            }
            if let Some(st) = c.stage_snapshot() {
                w.insert("stage_cycles".into(), st.json());
            }
            workers.push(Value::Object(w));
        }
        let neigh: Vec<Value> = self
            .plane
            .neigh
            .entries()
            .iter()
            .map(|e| {
                json!({
                    "port": self.cfg.ports[e.port as usize].name,
                    "ip": ip_str(e.ip),
                    "mac": e.mac().map(mac_str),
                })
            })
            .collect();
        let resolved = neigh.iter().filter(|n| !n["mac"].is_null()).count();
        total.insert("neighbours_resolved".into(), json!(resolved));
        total.insert("neighbours_total".into(), json!(neigh.len()));
        let ports: Vec<Value> = self
            .ports
            .iter()
            .zip(&self.cfg.ports)
            .map(|(p, pc)| {
                let s = p.stats().unwrap_or_default();
                json!({
                    "name": pc.name, "device": pc.device,
                    "ipackets": s.ipackets, "opackets": s.opackets,
                    "ibytes": s.ibytes, "obytes": s.obytes,
                    "imissed": s.imissed, "ierrors": s.ierrors, "oerrors": s.oerrors,
                    "rx_nombuf": s.rx_nombuf,
                })
            })
            .collect();
        let ts = self.writer.stats();
        json!({
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "total": total,
            "workers": workers,
            // Per-stage cycle counters: per worker under "stage_cycles" when built with
            // `--features stage-cycles` (see stages.rs).
            "stage_cycles_enabled": crate::dataplane::instrument::ENABLED,
            "control": {
                "registrations_received": cc.registrations_received,
                "registrations_malformed": cc.registrations_malformed,
                "registrations_no_subscribers": cc.registrations_no_subscribers,
                "replies_sent": cc.replies_sent,
                "replies_tx_failed": cc.replies_tx_failed,
                "journal_errors": cc.journal_errors,
                "journal_commits": cc.journal_commits,
                "journal_compactions": cc.journal_compactions,
                "batch_max_us": cc.batch_max_us,
                "registration": self.registrar.as_ref().map(|r| json!(r.counters)),
                "subscribers": self.registrar.as_ref().map(|r| r.subscribers().len()),
                "subscribers_reload": self.reload_status,
                "journal": self.journal.as_ref().map(|j| format!("{:?}", j.stats())),
                "arp_requests_sent": cc.arp_requests_sent,
                "arp_alloc_failed": cc.arp_alloc_failed,
                "admin_requests": cc.admin_requests,
                "admin_errors": cc.admin_errors,
                "publishes": cc.publishes,
                "expired": cc.expired,
                "rcu_epoch": self.writer.rcu().epoch(),
            },
            "ports": ports,
            "table": {
                "bindings": self.writer.len(),
                "capacity": self.writer.capacity(),
                "max_bindings": self.writer.max_bindings(),
                "memory_bytes": self.writer.memory_bytes(),
                "detail": format!("{ts:?}"),
            },
            "mempool": {"in_use": self.pool.in_use(), "available": self.pool.available()},
            "neighbours": neigh,
        })
    }
}

fn binding_json(b: &Binding) -> Value {
    json!({
        "home": ip_str(b.home),
        "care_of": b.coa.map(ip_str),
        "msisdn": b.msisdn.to_string(),
        "expires_at": if b.expires_at == u32::MAX { Value::Null } else { json!(b.expires_at) },
    })
}

fn fill_arp_request(m: &mut Mbuf, mac: [u8; 6], ip: u32, target: u32) -> bool {
    let Some(buf) = m.append(60) else {
        return false;
    };
    buf.fill(0); // padded to the Ethernet minimum
    msm_wire::arp::write_arp_request(buf, mac, ip, target).is_ok()
}
