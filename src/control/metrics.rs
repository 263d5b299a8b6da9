//! The Prometheus/OpenMetrics endpoint: `GET /metrics` on its own thread, off the data path.
//!
//! The control lcore publishes its stats document (the one `msm ctl stats` returns) every
//! `control.stats_interval_ms` into [`Metrics`], and observes each Reply's latency (from the
//! batch's dequeue to the Reply's transmission) in a histogram. At each scrape the HTTP
//! thread (`control.metrics_listen`) renders the newest document with `prometheus-client`:
//! the workers, the data path and the control lcore are never asked anything, so a scrape
//! costs them nothing.
//!
//! | stats document | metric (OpenMetrics type) |
//! | --- | --- |
//! | `total.drop_<reason>` / `workers[i].drop_<reason>` | `msm_drops_total{reason}` / `msm_worker_drops_total{worker,reason}` (counter) |
//! | `total.<event>` / `workers[i].<event>` | `msm_events_total{event}` / `msm_worker_events_total{worker,event}` (counter) |
//! | `total.neighbours_resolved`, `neighbours_total` | `msm_neighbours_resolved`, `msm_neighbours` (gauge) |
//! | `control.registration.by_code` | `msm_registration_replies_total{code}` |
//! | `control.registrations_by_path` | `msm_registration_requests_total{path}` |
//! | `control.registration.care_of_refused` | `msm_registration_care_of_refused_total{reason}` |
//! | `control.registration.<n>` | `msm_registration_<n>_total` |
//! | `control.journal_stats.<n>` | `msm_journal_<n>` (gauge: sizes, maxima, last values) |
//! | `control.<n>` (maxima, epoch, subscribers) | `msm_control_<n>` (gauge) |
//! | `control.<n>` (the rest) | `msm_control_<n>_total` (counter) |
//! | `table.<n>`, `mempool.<n>` | `msm_table_<n>`, `msm_mempool_<n>` (gauge) |
//! | `ports[i].<n>` | `msm_port_<n>_total{port}` (counter) |
//! | `alarms` | `msm_alarm{name}` (gauge, 1 while active; the known alarms are always listed) |
//! | `uptime_s` | `msm_uptime_seconds` (gauge) |
//! | `top.top[i].bytes`, `.bytes_per_s` | `msm_top_bytes{rank,home}`, `msm_top_bytes_per_second{rank,home}` (gauge; the top 10 only, so at most 10 series each at a time) |
//! | `top.samples.<kind>` | `msm_top_samples_total{kind}` (counter: taken, lost, downlink, uplink, other) |
//! | `top.window_s`, `top.sample_every` | `msm_top_window_seconds`, `msm_top_sample_every` (gauge) |
//! | (the control lcore) | `msm_registration_reply_latency_seconds` (histogram) |
//! | `cluster.shards[i].role` | `msm_cluster_role{shard,role}` (gauge, 1 for the current role) |
//! | `cluster.shards[i].<n>` (serving, lease deadline, seqs, lag, revisions) | `msm_cluster_<n>{shard}` (gauge; `lease_deadline_ms`, `lag_ms`, `apply_delay_ms` as `msm_cluster_lease_deadline_seconds`, `msm_cluster_lag_seconds`, `msm_cluster_apply_delay_seconds`) |
//! | `cluster.shards[i].takeovers` | `msm_cluster_takeovers_total{shard}` (counter) |
//! | `cluster.<n>` (etcd errors, fenced writes, txns, groups, records) | `msm_cluster_<n>_total` (counter); `cluster.connected`: `msm_cluster_connected` (gauge) |

use crate::control::alarms;
use crate::control::stats::Snapshot;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

type Labels = Vec<(String, String)>;
type F64Gauge = Gauge<f64, AtomicU64>;

/// Keys of the `control` section that are gauges (maxima, levels), not counters.
const CONTROL_GAUGES: &[&str] = &[
    "batch_max_us",
    "iteration_max_us",
    "iteration_requests_max",
    "subscribers",
    "rcu_epoch",
];

/// Keys of `control.journal_stats` that only ever grow (the rest are levels or maxima).
const JOURNAL_COUNTERS: &[&str] = &[
    "commits",
    "syncs",
    "records",
    "bytes",
    "fsync_ns_total",
    "commit_errors",
    "compactions",
    "compaction_failures",
    "recoveries",
];

/// What the control lcore shares with the metrics thread.
pub struct Metrics {
    /// The stats document the control lcore publishes (shared with DPDK telemetry).
    snapshot: Arc<Snapshot>,
    /// Reply latency on the control lcore: from the first decision of the Reply's batch to
    /// the Reply's transmission, after its commit (seconds).
    pub latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Arc::default())
    }
}

impl Metrics {
    /// Renders the documents published into `snapshot`.
    pub fn new(snapshot: Arc<Snapshot>) -> Metrics {
        Metrics {
            snapshot,
            // 50 us .. ~1.6 s.
            latency: Histogram::new(exponential_buckets(50e-6, 2.0, 16)),
        }
    }

    /// Replaces the document the next scrape renders.
    pub fn publish(&self, doc: Value) {
        self.snapshot.publish(doc);
    }

    /// The newest document in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let doc = self
            .snapshot
            .latest()
            .map_or_else(|| Arc::new(Value::Null), |(d, _)| d);
        render(&doc, &self.latency)
    }
}

/// Families built for one scrape.
#[derive(Default)]
struct Scrape {
    counters: HashMap<String, (String, Family<Labels, Counter>)>,
    gauges: HashMap<String, (String, Family<Labels, F64Gauge>)>,
}

impl Scrape {
    fn counter(&mut self, name: &str, help: &str, labels: Labels, v: u64) {
        let (_, f) = self
            .counters
            .entry(name.to_string())
            .or_insert_with(|| (help.to_string(), Family::default()));
        f.get_or_create(&labels).inc_by(v);
    }

    fn gauge(&mut self, name: &str, help: &str, labels: Labels, v: f64) {
        let (_, f) = self
            .gauges
            .entry(name.to_string())
            .or_insert_with(|| (help.to_string(), Family::default()));
        f.get_or_create(&labels).set(v);
    }

    fn into_registry(self, latency: &Histogram) -> Registry {
        let mut r = Registry::default();
        let mut counters: Vec<_> = self.counters.into_iter().collect();
        counters.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, (help, f)) in counters {
            r.register(name, help, f);
        }
        let mut gauges: Vec<_> = self.gauges.into_iter().collect();
        gauges.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, (help, f)) in gauges {
            r.register(name, help, f);
        }
        r.register(
            "msm_registration_reply_latency_seconds",
            "Registration Reply latency on the control lcore, from the batch's dequeue to the Reply's transmission",
            latency.clone(),
        );
        r
    }
}

fn label(k: &str, v: impl Into<String>) -> Labels {
    vec![(k.to_string(), v.into())]
}

/// Metric names: `[a-zA-Z0-9_]` only.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Numeric fields of an object, as (key, value).
fn numbers(m: &Map<String, Value>) -> impl Iterator<Item = (&str, f64)> {
    m.iter()
        .filter_map(|(k, v)| v.as_f64().map(|f| (k.as_str(), f)))
}

fn as_u64(f: f64) -> u64 {
    if f.is_finite() && f > 0.0 {
        f as u64
    } else {
        0
    }
}

/// The worker counters of one object (`total` or a worker's), labelled with `extra`.
fn worker_counters(s: &mut Scrape, m: &Map<String, Value>, prefix: &str, extra: &Labels) {
    for (k, v) in numbers(m) {
        let mut labels = extra.clone();
        if let Some(reason) = k.strip_prefix("drop_") {
            labels.push(("reason".into(), reason.into()));
            s.counter(
                &format!("{prefix}drops"),
                "Packets dropped by the workers, by reason",
                labels,
                as_u64(v),
            );
        } else if k == "neighbours_resolved" || k == "neighbours_total" {
            if extra.is_empty() {
                let name = if k == "neighbours_total" {
                    "msm_neighbours"
                } else {
                    "msm_neighbours_resolved"
                };
                s.gauge(
                    name,
                    "Next hops (configured / resolved by ARP or static)",
                    vec![],
                    v,
                );
            }
        } else {
            labels.push(("event".into(), k.into()));
            s.counter(
                &format!("{prefix}events"),
                "Packets handled by the workers, by event",
                labels,
                as_u64(v),
            );
        }
    }
}

fn control(s: &mut Scrape, c: &Map<String, Value>) {
    for (k, v) in numbers(c) {
        let name = format!("msm_control_{}", sanitize(k));
        if CONTROL_GAUGES.contains(&k) {
            s.gauge(
                &name,
                "Control loop level or maximum (see msm ctl stats)",
                vec![],
                v,
            );
        } else {
            s.counter(
                &name,
                "Control loop counter (see msm ctl stats)",
                vec![],
                as_u64(v),
            );
        }
    }
    if let Some(p) = c.get("registrations_by_path").and_then(Value::as_object) {
        for (path, v) in numbers(p) {
            s.counter(
                "msm_registration_requests",
                "Registration Requests taken by the control lcore, by path",
                label("path", path),
                as_u64(v),
            );
        }
    }
    if let Some(r) = c.get("registration").and_then(Value::as_object) {
        for (k, v) in numbers(r) {
            s.counter(
                &format!("msm_registration_{}", sanitize(k)),
                "Registration counter (see msm ctl stats, control.registration)",
                vec![],
                as_u64(v),
            );
        }
        if let Some(codes) = r.get("by_code").and_then(Value::as_object) {
            for (code, v) in numbers(codes) {
                s.counter(
                    "msm_registration_replies",
                    "Registration Replies sent, by code",
                    label("code", code),
                    as_u64(v),
                );
            }
        }
        if let Some(why) = r.get("care_of_refused").and_then(Value::as_object) {
            for (reason, v) in numbers(why) {
                s.counter(
                    "msm_registration_care_of_refused",
                    "Care-of addresses refused (code 134), by reason",
                    label("reason", reason),
                    as_u64(v),
                );
            }
        }
    }
    if let Some(j) = c.get("journal_stats").and_then(Value::as_object) {
        for (k, v) in numbers(j) {
            let name = format!("msm_journal_{}", sanitize(k));
            if JOURNAL_COUNTERS.contains(&k) {
                s.counter(&name, "Binding journal counter", vec![], as_u64(v));
            } else {
                s.gauge(
                    &name,
                    "Binding journal level, maximum or last value",
                    vec![],
                    v,
                );
            }
        }
    }
}

/// `[cluster]` (`cluster` of the stats document, `docs/cluster.md`).
fn cluster(s: &mut Scrape, c: &Map<String, Value>) {
    const ROLES: [&str; 4] = ["standby", "candidate", "active", "deposed"];
    for sh in c
        .get("shards")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(m) = sh.as_object() else { continue };
        let shard = m.get("shard").and_then(Value::as_str).unwrap_or("?");
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        for r in ROLES {
            let mut l = label("shard", shard);
            l.push(("role".into(), r.into()));
            let on = if r == role { 1.0 } else { 0.0 };
            s.gauge(
                "msm_cluster_role",
                "1 for this member's role in the shard",
                l,
                on,
            );
        }
        if let Some(b) = m.get("serving").and_then(Value::as_bool) {
            let v = if b { 1.0 } else { 0.0 };
            s.gauge(
                "msm_cluster_serving",
                "1 while this member answers the shard's registrations",
                label("shard", shard),
                v,
            );
        }
        for (k, v) in numbers(m) {
            match k {
                "takeovers" => s.counter(
                    "msm_cluster_takeovers",
                    "Takeovers of the shard by this member",
                    label("shard", shard),
                    as_u64(v),
                ),
                "lease_deadline_ms" => s.gauge(
                    "msm_cluster_lease_deadline_seconds",
                    "Time left before the local deadline (the owner stops serving then unless its lease is renewed)",
                    label("shard", shard),
                    v / 1000.0,
                ),
                "lag_ms" => s.gauge(
                    "msm_cluster_lag_seconds",
                    "Age of the oldest log entry this member knows of and has not applied (0: caught up)",
                    label("shard", shard),
                    v / 1000.0,
                ),
                "apply_delay_ms" => s.gauge(
                    "msm_cluster_apply_delay_seconds",
                    "From the owner's write of the last entry the table applied to its apply (wall clocks)",
                    label("shard", shard),
                    v / 1000.0,
                ),
                _ => s.gauge(
                    &format!("msm_cluster_{}", sanitize(k)),
                    "Replication level of the shard (see msm ctl stats, cluster)",
                    label("shard", shard),
                    v,
                ),
            }
        }
    }
    if let Some(b) = c.get("connected").and_then(Value::as_bool) {
        let v = if b { 1.0 } else { 0.0 };
        s.gauge(
            "msm_cluster_connected",
            "1 while the etcd session is up",
            vec![],
            v,
        );
    }
    for (k, v) in numbers(c) {
        s.counter(
            &format!("msm_cluster_{}", sanitize(k)),
            "Replication counter (see msm ctl stats, cluster)",
            vec![],
            as_u64(v),
        );
    }
}

/// The top-N view (`top` of the stats document: [`crate::control::top::STATS_N`] entries).
fn top(s: &mut Scrape, t: &Map<String, Value>) {
    for e in t.get("top").and_then(Value::as_array).into_iter().flatten() {
        let (Some(rank), Some(home)) = (
            e.get("rank").and_then(Value::as_u64),
            e.get("home").and_then(Value::as_str),
        ) else {
            continue;
        };
        let labels = vec![
            ("rank".to_string(), rank.to_string()),
            ("home".to_string(), home.to_string()),
        ];
        for (key, name, help) in [
            (
                "bytes",
                "msm_top_bytes",
                "Estimated bytes of a top home address over the view's window (sampled, scaled)",
            ),
            (
                "bytes_per_s",
                "msm_top_bytes_per_second",
                "Estimated bytes/s of a top home address over the view's window",
            ),
        ] {
            if let Some(v) = e.get(key).and_then(Value::as_f64) {
                s.gauge(name, help, labels.clone(), v);
            }
        }
    }
    if let Some(c) = t.get("samples").and_then(Value::as_object) {
        for (k, v) in numbers(c) {
            s.counter(
                "msm_top_samples",
                "Traffic samples of the top-N view, by kind (taken, lost, downlink, uplink, other)",
                label("kind", k),
                as_u64(v),
            );
        }
    }
    for (key, name, help) in [
        (
            "window_s",
            "msm_top_window_seconds",
            "How much recent traffic the top-N view covers",
        ),
        (
            "sample_every",
            "msm_top_sample_every",
            "The workers sample 1 packet in this many (0: off)",
        ),
    ] {
        if let Some(v) = t.get(key).and_then(Value::as_f64) {
            s.gauge(name, help, vec![], v);
        }
    }
}

/// Renders a stats document (and the latency histogram) in the OpenMetrics text format.
pub fn render(doc: &Value, latency: &Histogram) -> String {
    let mut s = Scrape::default();
    if let Some(u) = doc.get("uptime_s").and_then(Value::as_f64) {
        s.gauge(
            "msm_uptime_seconds",
            "Seconds since the MSM started",
            vec![],
            u,
        );
    }
    if let Some(t) = doc.get("total").and_then(Value::as_object) {
        worker_counters(&mut s, t, "msm_", &vec![]);
    }
    if let Some(ws) = doc.get("workers").and_then(Value::as_array) {
        for (i, w) in ws.iter().enumerate() {
            if let Some(w) = w.as_object() {
                worker_counters(&mut s, w, "msm_worker_", &label("worker", i.to_string()));
            }
        }
    }
    if let Some(c) = doc.get("control").and_then(Value::as_object) {
        control(&mut s, c);
    }
    for (section, help) in [
        ("table", "Binding table level"),
        ("mempool", "Packet buffer pool level"),
    ] {
        if let Some(m) = doc.get(section).and_then(Value::as_object) {
            for (k, v) in numbers(m) {
                s.gauge(&format!("msm_{section}_{}", sanitize(k)), help, vec![], v);
            }
        }
    }
    if let Some(ps) = doc.get("ports").and_then(Value::as_array) {
        for p in ps.iter().filter_map(Value::as_object) {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
            for (k, v) in numbers(p) {
                s.counter(
                    &format!("msm_port_{}", sanitize(k)),
                    "DPDK port statistics",
                    label("port", name),
                    as_u64(v),
                );
            }
        }
    }
    if let Some(t) = doc.get("top").and_then(Value::as_object) {
        top(&mut s, t);
    }
    if let Some(c) = doc.get("cluster").and_then(Value::as_object) {
        cluster(&mut s, c);
    }
    let active: Vec<&str> = doc
        .get("alarms")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    for name in alarms::KNOWN.iter().copied().chain(active.iter().copied()) {
        let on = if active.contains(&name) { 1.0 } else { 0.0 };
        s.gauge(
            "msm_alarm",
            "1 while the alarm is active",
            label("name", name),
            on,
        );
    }
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &s.into_registry(latency));
    out
}

/// Starts the HTTP thread serving `GET /metrics` on `addr`.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    std::thread::Builder::new()
        .name("msm-metrics".into())
        .spawn(move || {
            crate::control::housekeeping::enter(false, 0);
            for req in server.incoming_requests() {
                let resp = match (req.method(), req.url()) {
                    (tiny_http::Method::Get, "/metrics") => {
                        let ct = tiny_http::Header::from_bytes(
                            &b"Content-Type"[..],
                            &b"application/openmetrics-text; version=1.0.0; charset=utf-8"[..],
                        )
                        .expect("static header");
                        tiny_http::Response::from_string(metrics.render()).with_header(ct)
                    }
                    (tiny_http::Method::Get, "/") => {
                        tiny_http::Response::from_string("msm: metrics at /metrics\n")
                    }
                    _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
                };
                let _ = req.respond(resp);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "uptime_s": 12.5,
            "alarms": [{"name": "journal_cannot_commit", "since_unix": 1, "detail": "ENOSPC"}],
            "total": {"rx_packets": 10, "drop_spoofed_tunnel": 3, "neighbours_resolved": 2, "neighbours_total": 2},
            "workers": [{"rx_packets": 10, "drop_spoofed_tunnel": 3}],
            "control": {
                "replies_sent": 7, "batch_max_us": 250, "journal_failure": "No space",
                "registrations_by_path": {"wwan": 5, "tunnel": 1, "direct": 1},
                "registration": {"accepted": 6, "by_code": {"0": 6, "131": 1},
                                 "care_of_refused": {"loopback": 2}},
                "journal_stats": {"commits": 4, "fsync_ns_max": 900}
            },
            "ports": [{"name": "wwan", "device": "net_af_packet0", "ipackets": 11}],
            "table": {"bindings": 3, "capacity": 64, "detail": "..."},
            "mempool": {"in_use": 5, "available": 100},
            "top": {"sample_every": 1024, "window_s": 12.5, "samples": {"taken": 9, "lost": 1},
                    "top": [{"rank": 1, "home": "192.0.2.10", "bytes": 2048000, "bytes_per_s": 163840.0}]},
            "cluster": {"member": "msm-a", "connected": true, "etcd_errors": 2, "fenced_writes": 0,
                        "records_replicated": 900,
                        "shards": [{"shard": "s0", "role": "active", "serving": true,
                                    "lease_deadline_ms": 1250, "lag_batches": 3,
                                    "lag_ms": 420, "apply_delay_ms": 35,
                                    "last_applied_revision": 77, "takeovers": 1}]},
        })
    }

    #[test]
    fn the_stats_document_renders_as_openmetrics() {
        let m = Metrics::default();
        m.latency.observe(0.0002);
        m.publish(doc());
        let out = m.render();
        for want in [
            "msm_uptime_seconds 12.5",
            "msm_events_total{event=\"rx_packets\"} 10",
            "msm_drops_total{reason=\"spoofed_tunnel\"} 3",
            "msm_worker_drops_total{worker=\"0\",reason=\"spoofed_tunnel\"} 3",
            "msm_neighbours_resolved 2.0",
            "msm_control_replies_sent_total 7",
            "msm_control_batch_max_us 250.0",
            "msm_registration_requests_total{path=\"wwan\"} 5",
            "msm_registration_replies_total{code=\"131\"} 1",
            "msm_registration_accepted_total 6",
            "msm_registration_care_of_refused_total{reason=\"loopback\"} 2",
            "msm_journal_commits_total 4",
            "msm_journal_fsync_ns_max 900.0",
            "msm_port_ipackets_total{port=\"wwan\"} 11",
            "msm_table_bindings 3.0",
            "msm_mempool_available 100.0",
            "msm_alarm{name=\"journal_cannot_commit\"} 1.0",
            "msm_alarm{name=\"worker_stopped\"} 0.0",
            "msm_top_bytes{rank=\"1\",home=\"192.0.2.10\"} 2048000.0",
            "msm_top_bytes_per_second{rank=\"1\",home=\"192.0.2.10\"} 163840.0",
            "msm_top_samples_total{kind=\"lost\"} 1",
            "msm_top_window_seconds 12.5",
            "msm_top_sample_every 1024.0",
            "msm_registration_reply_latency_seconds_count 1",
            "msm_cluster_role{shard=\"s0\",role=\"active\"} 1.0",
            "msm_cluster_role{shard=\"s0\",role=\"standby\"} 0.0",
            "msm_cluster_serving{shard=\"s0\"} 1.0",
            "msm_cluster_lease_deadline_seconds{shard=\"s0\"} 1.25",
            "msm_cluster_lag_batches{shard=\"s0\"} 3.0",
            "msm_cluster_lag_seconds{shard=\"s0\"} 0.42",
            "msm_cluster_apply_delay_seconds{shard=\"s0\"} 0.035",
            "msm_cluster_last_applied_revision{shard=\"s0\"} 77.0",
            "msm_cluster_takeovers_total{shard=\"s0\"} 1",
            "msm_cluster_connected 1.0",
            "msm_cluster_etcd_errors_total 2",
            "msm_cluster_records_replicated_total 900",
            "# TYPE msm_drops counter",
            "# EOF",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        // Strings (journal_failure, detail, device) are not metrics.
        assert!(!out.contains("journal_failure"), "{out}");
        assert!(!out.contains("msm_table_detail"), "{out}");
    }

    /// Every metric packaging/grafana/msm-dashboard.json queries is one the MSM exports.
    #[test]
    fn the_grafana_dashboard_queries_exported_metrics() {
        let dash: Value =
            serde_json::from_str(include_str!("../../packaging/grafana/msm-dashboard.json"))
                .unwrap();
        let mut d = doc();
        d["control"]["journal_commit_failures"] = json!(0);
        d["control"]["journal_stats"]["compactions"] = json!(1);
        d["table"]["max_bindings"] = json!(64);
        d["ports"][0]["opackets"] = json!(1);
        d["ports"][0]["imissed"] = json!(0);
        d["workers"][0]["rx_packets"] = json!(1);
        let m = Metrics::default();
        m.publish(d);
        let out = m.render();
        let mut names = std::collections::BTreeSet::new();
        for p in dash["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let e = t["expr"].as_str().unwrap();
                let mut rest = e;
                while let Some(i) = rest.find("msm_") {
                    let n: String = rest[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    rest = &rest[i + n.len()..];
                    names.insert(n);
                }
            }
        }
        assert!(names.len() >= 10, "{names:?}");
        for n in names {
            let exported = out
                .lines()
                .any(|l| l.starts_with(&format!("{n}{{")) || l.starts_with(&format!("{n} ")));
            assert!(exported, "the dashboard queries {n}, not exported:\n{out}");
        }
    }

    #[test]
    fn nothing_published_yet_renders_the_histogram_and_alarms_only() {
        let out = Metrics::default().render();
        assert!(
            out.contains("msm_alarm{name=\"journal_cannot_commit\"} 0.0"),
            "{out}"
        );
        assert!(out.contains("msm_registration_reply_latency_seconds_count 0"));
        assert!(!out.contains("msm_events_total"));
    }

    #[test]
    fn the_endpoint_serves_metrics_and_404s_the_rest() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let m = Arc::new(Metrics::default());
        m.publish(doc());
        serve(addr, m).unwrap();
        let get = |path: &str| {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            write!(c, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
            let mut r = String::new();
            c.read_to_string(&mut r).unwrap();
            r
        };
        let r = get("/metrics");
        assert!(
            r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"),
            "{r}"
        );
        assert!(r.contains("application/openmetrics-text"), "{r}");
        assert!(r.contains("msm_table_bindings 3.0"), "{r}");
        let r = get("/nope");
        assert!(r.contains(" 404 "), "{r}");
    }
}
