//! The stats document (`msm ctl stats`, the stats file, the final print at exit).

use crate::control::admin::AdminCounters;
use crate::control::lcore::{ControlCounters, ControlCtx};
use msm_table::Binding;
use serde_json::{json, Map, Value};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The newest stats document, published by the control lcore every
/// `control.stats_interval_ms` and read by other threads (the metrics endpoint, DPDK
/// telemetry) without asking the control lcore anything. The lock is held only to swap
/// or clone an `Arc`.
#[derive(Default)]
pub struct Snapshot(Mutex<Option<(Instant, Arc<Value>)>>);

impl Snapshot {
    /// Replaces the document.
    pub fn publish(&self, doc: Value) {
        let doc = Arc::new(doc);
        if let Ok(mut l) = self.0.lock() {
            *l = Some((Instant::now(), doc));
        }
    }

    /// The newest document and its age; `None` before the first publication.
    pub fn latest(&self) -> Option<(Arc<Value>, Duration)> {
        let l = self.0.lock().ok()?;
        l.as_ref().map(|(t, d)| (Arc::clone(d), t.elapsed()))
    }
}

pub(crate) fn ip_str(a: u32) -> String {
    Ipv4Addr::from(a).to_string()
}

pub(crate) fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One binding as `show` and `bind` return it.
pub(crate) fn binding_json(b: &Binding) -> Value {
    json!({
        "home": ip_str(b.home),
        "care_of": b.coa.map(ip_str),
        // A NAT binding (RFC 3519): the UDP port of the care-of (NAT) address.
        "udp_port": if b.port != 0 { json!(b.port) } else { Value::Null },
        "msisdn": b.msisdn.to_string(),
        "expires_at": if b.expires_at == u32::MAX { Value::Null } else { json!(b.expires_at) },
    })
}

impl ControlCtx {
    /// The stats document: per-worker counters, their sum, control, ports, table,
    /// neighbours.
    pub fn stats(&self, cc: &ControlCounters) -> Value {
        let (mut total, workers) = self.worker_counters();
        let neigh = self.neighbours_json();
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
        let writer = self.service.writer();
        let ts = writer.stats();
        json!({
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "alarms": self.alarms.json(),
            "total": total,
            "workers": workers,
            // Per-stage cycle counters: per worker under "stage_cycles" when built with
            // `--features stage-cycles` (see dataplane/instrument.rs).
            "stage_cycles_enabled": crate::dataplane::instrument::ENABLED,
            "control": self.control_json(cc),
            "ports": ports,
            "table": {
                "bindings": writer.len(),
                "capacity": writer.capacity(),
                "max_bindings": writer.max_bindings(),
                "memory_bytes": writer.memory_bytes(),
                "detail": format!("{ts:?}"),
            },
            "mempool": {"in_use": self.pool.in_use(), "available": self.pool.available()},
            "neighbours": neigh,
            "top": self.top.view(crate::control::top::STATS_N, std::time::Instant::now()),
            "cluster": self.cluster_json(),
        })
    }

    /// `[cluster]`: the shard's role, the local deadline, replication progress and
    /// errors (`null` for a single box).
    /// Batches this member is behind its shard's log (clustered only): a standby by what
    /// its table has not applied, the owner by what etcd has not acknowledged yet.
    pub(crate) fn cluster_lag(&self) -> Option<u64> {
        Some(self.cluster.as_ref()?.shared.lag_batches())
    }

    /// Whether the etcd thread has a connection (clustered only; `true` otherwise).
    pub(crate) fn cluster_connected(&self) -> bool {
        self.cluster
            .as_ref()
            .is_none_or(|c| c.shared.connected.load(Ordering::Relaxed))
    }

    fn cluster_json(&self) -> Value {
        let Some(c) = &self.cluster else {
            return Value::Null;
        };
        let sh = &c.shared;
        let now = std::time::Instant::now();
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let head = ld(&sh.head_seq);
        let role = sh.role();
        let lag = self.cluster_lag().unwrap_or(0);
        let repl = self
            .service
            .journal()
            .and_then(|j| j.replicated())
            .map(|r| r.counters)
            .unwrap_or_default();
        let cfg = self.cfg.cluster.as_ref();
        json!({
            "member": cfg.map(|c| c.member.clone()),
            "shards": [{
                "shard": cfg.map(|c| c.shard.clone()),
                "role": role.name(),
                "serving": sh.serving(now),
                "fence_revision": sh.fence.load(Ordering::Relaxed),
                "lease_deadline_ms": sh.deadline().map(|d| d.saturating_duration_since(now).as_millis() as u64),
                "head_seq": head,
                "applied_seq": ld(&sh.applied_seq),
                "table_seq": ld(&sh.lcore_seq),
                "lag_batches": lag,
                "lag_ms": sh.lag_ms(crate::control::cluster::value::now_ms()),
                "apply_delay_ms": sh.apply_delay_ms(),
                "followed_waiting": c.followed_waiting(),
                "last_applied_revision": sh.applied_rev.load(Ordering::Relaxed),
                "takeovers": ld(&sh.takeovers),
            }],
            "connected": sh.connected.load(Ordering::Relaxed),
            "etcd_errors": ld(&sh.etcd_errors),
            "fenced_writes": ld(&sh.fenced_writes),
            "txns": ld(&sh.txns),
            "groups_durable": repl.groups_durable,
            "groups_remote_failed": repl.groups_remote_failed,
            "groups_local_failed": repl.groups_local_failed,
            "records_replicated": repl.records_replicated,
        })
    }

    /// The workers' counters summed, and each worker's.
    fn worker_counters(&self) -> (Map<String, Value>, Vec<Value>) {
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
        (total, workers)
    }

    fn neighbours_json(&self) -> Vec<Value> {
        self.plane
            .neigh
            .entries()
            .iter()
            .map(|e| {
                json!({
                    "port": self.cfg.ports[e.port as usize].name,
                    "ip": ip_str(e.ip),
                    "mac": e.mac().map(mac_str),
                    "static": e.is_static(),
                })
            })
            .collect()
    }

    /// The control lcore's and the registration service's counters.
    fn control_json(&self, cc: &ControlCounters) -> Value {
        let svc = &self.service;
        let sc = svc.counters();
        let registrar = svc.registrar();
        let admin_count = |f: fn(&AdminCounters) -> &AtomicU64| {
            self.admin
                .as_ref()
                .map_or(0, |a| f(a.counters()).load(Ordering::Relaxed))
        };
        json!({
            "registrations_received": cc.registrations_received,
            "registrations_malformed": cc.registrations_malformed,
            "registrations_wrong_side": cc.registrations_wrong_side,
            "registrations_by_path": {
                "wwan": cc.registrations_by_path[0],
                "tunnel": cc.registrations_by_path[1],
                "direct": cc.registrations_by_path[2],
            },
            "registrations_no_subscribers": sc.registrations_no_subscribers,
            "replies_sent": cc.replies_sent,
            "replies_tx_failed": cc.replies_tx_failed,
            "journal_errors": sc.journal_errors,
            "journal_commit_failures": sc.journal_commit_failures,
            "journal_failure": svc.journal_failure(),
            "apply_errors": sc.apply_errors,
            "audit_dropped": svc.audit_dropped(),
            "journal_commits": sc.journal_commits,
            "journal_compactions": sc.journal_compactions,
            "batch_max_us": cc.batch_max_us,
            "iteration_max_us": cc.iteration_max_us,
            "iteration_requests_max": cc.iteration_requests_max,
            "iterations_at_bound": cc.iterations_at_bound,
            "registration": registrar.map(|r| json!(r.counters)),
            "subscribers": registrar.map(|r| r.subscribers().len()),
            "subscribers_reload": self.reload_status,
            "journal": svc.journal().map(|j| format!("{:?}", j.journal().stats())),
            "journal_stats": svc.journal().map(|j| {
                let j = j.journal();
                let mut v = serde_json::to_value(j.stats()).unwrap_or_default();
                v["log_bytes"] = json!(j.log_bytes());
                v
            }),
            "arp_requests_sent": cc.arp_requests_sent,
            "gratuitous_arp_sent": cc.gratuitous_arp_sent,
            "arp_alloc_failed": cc.arp_alloc_failed,
            "admin_requests": cc.admin_requests,
            "admin_errors": cc.admin_errors,
            "registrations_not_owner": cc.registrations_not_owner,
            "followed_batches": cc.followed_batches,
            "admin_peer_refused": admin_count(|a| &a.peer_refused),
            "admin_busy": admin_count(|a| &a.busy),
            "admin_io_errors": admin_count(|a| &a.io_errors),
            "publishes": sc.publishes,
            "expired": sc.expired,
            "rcu_epoch": svc.writer().rcu().epoch(),
        })
    }
}
