//! DPDK telemetry: the MSM's `/msm/...` commands on EAL's telemetry socket, next to
//! DPDK's own (`/ethdev/...`, `/eal/...`), for `dpdk-telemetry.py -f <file-prefix>`.
//!
//! | command | reply |
//! | --- | --- |
//! | `/msm/stats` | the summed counters, the control lcore's (registrations by code and path, journal state), table occupancy, mempool, ports, active alarms, and the document's age |
//! | `/msm/binding,<home>` | the binding of a home address: care-of address, UDP port (NAT), MSISDN, expiry, remaining lifetime; or `{"error": "no binding for ..."}` |
//! | `/msm/alarms` | the active alarms (since when, detail) |
//! | `/msm/info` | version, ports (name -> DPDK device and port id) and whether `dpdk-dumpcap` can capture |
//!
//! DPDK runs these on its telemetry thread, never on an lcore. `stats` and `alarms` read
//! the stats document the control lcore publishes every `control.stats_interval_ms`
//! (the [`Snapshot`] the metrics endpoint renders too); `binding` asks the control loop
//! through a bounded queue, as `msm ctl show` does, and gives up after
//! [`QUERY_TIMEOUT`]: the control lcore never waits for telemetry, and the workers are
//! never involved. A bad parameter gets `{"error": ...}`, not DPDK's bare `null`.

use crate::control::admin::{self, Command, Pending};
use crate::control::stats::Snapshot;
use msm_dpdk::telemetry::{self, TelValue};
use serde_json::{Map, Value};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `/msm/stats`.
pub const STATS: &str = "/msm/stats";
/// `/msm/binding,<home address>`.
pub const BINDING: &str = "/msm/binding";
/// `/msm/alarms`.
pub const ALARMS: &str = "/msm/alarms";
/// `/msm/info`.
pub const INFO: &str = "/msm/info";

/// How long `/msm/binding` waits for the control loop.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// Binding queries waiting for the control loop at most (more: "busy").
const QUEUE: usize = 8;
/// Queries the control loop answers per iteration at most.
pub const PER_POLL: usize = 4;

/// The sections of the stats document `/msm/stats` carries (the per-worker counters and
/// the neighbours stay out: DPDK 22.11 replies are at most 16 KiB).
const STATS_SECTIONS: &[&str] = &["uptime_s", "total", "control", "table", "mempool", "ports"];
/// Debug renderings in the stats document that `/msm/stats` leaves out (their fields
/// are there as numbers: `control.journal_stats`, `table.*`).
const STATS_SKIP: &[(&str, &str)] = &[("control", "journal"), ("table", "detail")];

/// The control loop's end: binding queries from the telemetry thread.
pub struct Queries(Receiver<Pending>);

impl Queries {
    /// The next query waiting, if any; never blocks.
    pub fn next(&self) -> Option<Pending> {
        self.0.try_recv().ok()
    }
}

/// Registers the `/msm/...` commands (once per process). `info` is `/msm/info`'s reply.
pub fn register(snapshot: Arc<Snapshot>, info: Value) -> Result<Queries, msm_dpdk::Error> {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let s = Arc::clone(&snapshot);
    telemetry::register(
        STATS,
        "MSM counters (summed over workers), registrations, journal, table, mempool, ports, alarms",
        move |_| stats_reply(s.latest()),
    )?;
    telemetry::register(
        BINDING,
        "The binding of a home address: /msm/binding,<IPv4 home address>",
        move |p| binding_query(&tx, p),
    )?;
    let s = snapshot;
    telemetry::register(ALARMS, "The MSM's active alarms", move |_| {
        match s.latest() {
            Some((doc, _)) => alarms_reply(&doc["alarms"]),
            None => not_yet(),
        }
    })?;
    let info = from_json(&info);
    telemetry::register(
        INFO,
        "MSM version, ports (DPDK devices), capture",
        move |_| info.clone(),
    )?;
    Ok(Queries(rx))
}

/// A JSON value as telemetry carries it: numbers as `u64` (or `i32` when negative and
/// small), other numbers (fractions) as strings, `true`/`false` as 1/0, `null` as
/// `"null"`, arrays and objects as they are (see [`TelValue::fit`] for the rest).
pub fn from_json(v: &Value) -> TelValue {
    match v {
        Value::Null => TelValue::Str("null".into()),
        Value::Bool(b) => TelValue::U64(u64::from(*b)),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                TelValue::U64(u)
            } else if let Some(i) = n.as_i64().and_then(|i| i32::try_from(i).ok()) {
                TelValue::Int(i)
            } else {
                TelValue::Str(n.to_string())
            }
        }
        Value::String(s) => TelValue::Str(s.clone()),
        Value::Array(a) => TelValue::Array(a.iter().map(from_json).collect()),
        Value::Object(o) => TelValue::dict(o.iter().map(|(k, v)| (k.clone(), from_json(v)))),
    }
}

fn not_yet() -> TelValue {
    TelValue::error("no stats published yet (every control.stats_interval_ms)")
}

/// `/msm/stats` from the newest stats document and its age.
pub fn stats_reply(latest: Option<(Arc<Value>, Duration)>) -> TelValue {
    let Some((doc, age)) = latest else {
        return not_yet();
    };
    let mut out = vec![("age_ms".to_string(), TelValue::U64(age.as_millis() as u64))];
    for &section in STATS_SECTIONS {
        let v = match (section, &doc[section]) {
            (_, Value::Null) => continue,
            // Whole seconds: DPDK telemetry has no fractions.
            ("uptime_s", u) => TelValue::U64(u.as_f64().unwrap_or(0.0) as u64),
            ("ports", Value::Array(ports)) => TelValue::dict(ports.iter().map(|p| {
                let name = p["name"].as_str().unwrap_or("?").to_string();
                (name, from_json(p))
            })),
            (_, Value::Object(o)) => {
                let mut o: Map<String, Value> = o.clone();
                for (_, k) in STATS_SKIP.iter().filter(|(s, _)| *s == section) {
                    o.remove(*k);
                }
                from_json(&Value::Object(o))
            }
            (_, v) => from_json(v),
        };
        out.push((section.to_string(), v));
    }
    out.push(("alarms".into(), alarms_reply(&doc["alarms"])));
    TelValue::Dict(out)
}

/// The stats document's `alarms` (`[{"name", "since_unix", "detail"}]`) as
/// `{"active": N, "<name>": {"since_unix", "detail"}, ...}`.
pub fn alarms_reply(alarms: &Value) -> TelValue {
    let list = alarms.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut out = vec![("active".to_string(), TelValue::U64(list.len() as u64))];
    for a in list {
        let name = a["name"].as_str().unwrap_or("?").to_string();
        let mut fields = a.as_object().cloned().unwrap_or_default();
        fields.remove("name");
        out.push((name, from_json(&Value::Object(fields))));
    }
    TelValue::Dict(out)
}

/// The home address of `/msm/binding,<home>`, or why there is none.
pub fn binding_param(p: Option<&str>) -> Result<u32, String> {
    let p = p
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("usage: {BINDING},<IPv4 home address>"))?;
    admin::parse_addr(p).map_err(|e| e.to_string())
}

fn binding_query(queries: &SyncSender<Pending>, p: Option<&str>) -> TelValue {
    let home = match binding_param(p) {
        Ok(h) => h,
        Err(e) => return TelValue::error(e),
    };
    let (pending, answer) = Pending::new(Command::Show(home));
    match queries.try_send(pending) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return TelValue::error("busy: too many queries waiting"),
        Err(TrySendError::Disconnected(_)) => return TelValue::error("the MSM is stopping"),
    }
    match answer.recv_timeout(QUERY_TIMEOUT) {
        Ok(a) => binding_reply(&a, unix_now()),
        Err(_) => TelValue::error(format!(
            "no answer from the control loop within {} ms",
            QUERY_TIMEOUT.as_millis()
        )),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `/msm/binding`'s reply from the control loop's answer to `show HOME` (the binding as
/// `msm ctl show` prints it, or `{"error"}`), at unix time `now`: home, `care_of`
/// (`"none"`: reached over the WWAN), `udp_port` (a NAT binding's translated port, or
/// `"none"`), MSISDN, `expires_at_unix` and
/// `remaining_lifetime_s` (both `"never"` for a static binding).
pub fn binding_reply(answer: &str, now: u64) -> TelValue {
    let v: Value = match serde_json::from_str(answer) {
        Ok(v) => v,
        Err(e) => return TelValue::error(format!("unreadable answer: {e}")),
    };
    if let Some(e) = v["error"].as_str() {
        return TelValue::error(e);
    }
    let s = |k: &str| v[k].as_str().unwrap_or("?").to_string();
    let (expires, remaining) = match v["expires_at"].as_u64() {
        Some(t) => (TelValue::U64(t), TelValue::U64(t.saturating_sub(now))),
        None => (TelValue::Str("never".into()), TelValue::Str("never".into())),
    };
    TelValue::dict([
        ("home", TelValue::Str(s("home"))),
        (
            "care_of",
            TelValue::Str(v["care_of"].as_str().unwrap_or("none").into()),
        ),
        // A NAT binding (RFC 3519): the UDP port of the translated care-of address.
        (
            "udp_port",
            v["udp_port"]
                .as_u64()
                .map_or(TelValue::Str("none".into()), TelValue::U64),
        ),
        ("msisdn", TelValue::Str(s("msisdn"))),
        ("expires_at_unix", expires),
        ("remaining_lifetime_s", remaining),
    ])
}

/// `/msm/info`'s reply: version, file prefix, the ports (name -> device, DPDK port id)
/// and what `dpdk-dumpcap` can do (`pdump`).
pub fn info(prefix: &str, ports: &[(String, String, u16)], pdump: &str) -> Value {
    let ports: Map<String, Value> = ports
        .iter()
        .map(|(name, device, id)| {
            (
                name.clone(),
                serde_json::json!({"device": device, "port_id": id}),
            )
        })
        .collect();
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "file_prefix": prefix,
        "ports": ports,
        "pdump": pdump,
    })
}

/// The file prefix of a runtime directory (`/var/run/dpdk/<prefix>`).
pub fn file_prefix(runtime_dir: &str) -> &str {
    runtime_dir.rsplit('/').next().unwrap_or(runtime_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use TelValue::{Dict, Int, Str, U64};

    fn get<'a>(v: &'a TelValue, k: &str) -> &'a TelValue {
        let Dict(d) = v else {
            panic!("not a dict: {v:?}")
        };
        &d.iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("no {k} in {v:?}"))
            .1
    }

    #[test]
    fn json_values_map_onto_telemetry_types() {
        assert_eq!(from_json(&json!(7)), U64(7));
        assert_eq!(from_json(&json!(-7)), Int(-7));
        assert_eq!(
            from_json(&json!(-5_000_000_000i64)),
            Str("-5000000000".into())
        );
        assert_eq!(from_json(&json!(1.5)), Str("1.5".into()));
        assert_eq!(from_json(&json!(true)), U64(1));
        assert_eq!(from_json(&json!(null)), Str("null".into()));
        assert_eq!(
            from_json(&json!({"a": [1, "x"]})),
            Dict(vec![(
                "a".into(),
                TelValue::Array(vec![U64(1), Str("x".into())])
            )])
        );
    }

    fn doc() -> Value {
        json!({
            "uptime_s": 12.7,
            "alarms": [{"name": "table_full", "since_unix": 1_700_000_000u64, "detail": "10 of 10 bindings"}],
            "total": {"rx_packets": 10, "drop_spoofed_tunnel": 3},
            "workers": [{"rx_packets": 10}],
            "control": {
                "registrations_by_path": {"wwan": 5, "tunnel": 1, "direct": 0},
                "registration": {"by_code": {"0": 4, "131": 1}},
                "journal": "JournalStats { commits: 4, ... }",
                "journal_stats": {"commits": 4, "log_bytes": 144},
            },
            "ports": [{"name": "wwan", "device": "net_af_packet0", "ipackets": 11},
                      {"name": "internet", "device": "net_af_packet1", "ipackets": 2}],
            "table": {"bindings": 10, "capacity": 64, "max_bindings": 10, "detail": "..."},
            "mempool": {"in_use": 5, "available": 100},
            "neighbours": [{"ip": "192.0.2.130"}],
        })
    }

    #[test]
    fn stats_carries_the_summary_sections() {
        let r = stats_reply(Some((Arc::new(doc()), Duration::from_millis(250))));
        assert_eq!(get(&r, "age_ms"), &U64(250));
        assert_eq!(get(&r, "uptime_s"), &U64(12));
        assert_eq!(get(get(&r, "total"), "drop_spoofed_tunnel"), &U64(3));
        let control = get(&r, "control");
        assert_eq!(get(get(control, "registrations_by_path"), "wwan"), &U64(5));
        assert_eq!(
            get(get(get(control, "registration"), "by_code"), "131"),
            &U64(1)
        );
        assert_eq!(get(get(control, "journal_stats"), "commits"), &U64(4));
        assert_eq!(get(get(&r, "table"), "bindings"), &U64(10));
        assert_eq!(get(get(get(&r, "ports"), "internet"), "ipackets"), &U64(2));
        assert_eq!(get(get(&r, "alarms"), "active"), &U64(1));
        let Dict(d) = &r else { unreachable!() };
        let keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            !keys.contains(&"workers") && !keys.contains(&"neighbours"),
            "{keys:?}"
        );
        let Dict(c) = control else { unreachable!() };
        assert!(
            c.iter().all(|(k, _)| k != "journal"),
            "the Debug string is left out"
        );
        let Dict(t) = get(&r, "table") else {
            unreachable!()
        };
        assert!(t.iter().all(|(k, _)| k != "detail"));
    }

    #[test]
    fn stats_before_the_first_publication_is_an_error() {
        let r = stats_reply(None);
        assert!(matches!(get(&r, "error"), Str(e) if e.contains("no stats published yet")));
    }

    #[test]
    fn alarms_are_keyed_by_name() {
        let r = alarms_reply(&doc()["alarms"]);
        assert_eq!(get(&r, "active"), &U64(1));
        let a = get(&r, "table_full");
        assert_eq!(get(a, "since_unix"), &U64(1_700_000_000));
        assert_eq!(get(a, "detail"), &Str("10 of 10 bindings".into()));
        assert_eq!(
            alarms_reply(&json!([])),
            Dict(vec![("active".into(), U64(0))])
        );
    }

    #[test]
    fn binding_params_are_checked() {
        assert_eq!(binding_param(Some("192.0.2.10")), Ok(0xc000_020a));
        assert_eq!(binding_param(Some(" 192.0.2.10 ")), Ok(0xc000_020a));
        for (p, want) in [
            (None, "usage: /msm/binding,<IPv4 home address>"),
            (Some(""), "usage: /msm/binding,<IPv4 home address>"),
            (Some("192.0.2"), "'192.0.2' is not an IPv4 address"),
            (Some("mobile"), "'mobile' is not an IPv4 address"),
            (
                Some("192.0.2.10,1"),
                "'192.0.2.10,1' is not an IPv4 address",
            ),
        ] {
            assert_eq!(binding_param(p), Err(want.to_string()), "{p:?}");
        }
    }

    #[test]
    fn binding_replies_carry_care_of_msisdn_and_remaining_lifetime() {
        let r = binding_reply(
            r#"{"home":"192.0.2.10","care_of":"203.0.113.10","msisdn":"491700000010","expires_at":1000300}"#,
            1_000_000,
        );
        assert_eq!(
            r,
            TelValue::dict([
                ("home", Str("192.0.2.10".into())),
                ("care_of", Str("203.0.113.10".into())),
                ("udp_port", Str("none".into())),
                ("msisdn", Str("491700000010".into())),
                ("expires_at_unix", U64(1_000_300)),
                ("remaining_lifetime_s", U64(300)),
            ])
        );
        let r = binding_reply(
            r#"{"home":"192.0.2.11","care_of":null,"msisdn":"1","expires_at":null}"#,
            5,
        );
        assert_eq!(get(&r, "care_of"), &Str("none".into()));
        assert_eq!(get(&r, "remaining_lifetime_s"), &Str("never".into()));
        let nat = binding_reply(
            r#"{"home":"192.0.2.12","care_of":"203.0.113.7","udp_port":40123,"msisdn":"2","expires_at":null}"#,
            5,
        );
        assert_eq!(get(&nat, "udp_port"), &U64(40_123));
        assert_eq!(
            get(
                &binding_reply(r#"{"home":"x","expires_at":3}"#, 9),
                "remaining_lifetime_s"
            ),
            &U64(0),
            "expired, not yet swept"
        );
        assert_eq!(
            binding_reply(r#"{"error":"no binding for 192.0.2.77"}"#, 0),
            TelValue::error("no binding for 192.0.2.77")
        );
    }

    #[test]
    fn binding_queries_go_to_the_control_loop_and_time_out() {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let control = std::thread::spawn(move || {
            let q = Queries(rx);
            loop {
                if let Some(p) = q.next() {
                    assert_eq!(p.command, Ok(Command::Show(0xc000_020a)));
                    p.answer(r#"{"home":"192.0.2.10","care_of":"203.0.113.10","msisdn":"4917","expires_at":null}"#.into());
                    return q; // keeps the queue open, answers nothing more
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let r = binding_query(&tx, Some("192.0.2.10"));
        assert_eq!(get(&r, "care_of"), &Str("203.0.113.10".into()));
        let q = control.join().unwrap();
        let t = std::time::Instant::now();
        let r = binding_query(&tx, Some("192.0.2.10"));
        assert!(
            matches!(get(&r, "error"), Str(e) if e.contains("no answer from the control loop"))
        );
        assert!(t.elapsed() >= QUERY_TIMEOUT);
        assert!(
            matches!(get(&binding_query(&tx, Some("x")), "error"), Str(e) if e.contains("not an IPv4"))
        );
        drop(q);
        assert_eq!(
            binding_query(&tx, Some("192.0.2.10")),
            TelValue::error("the MSM is stopping")
        );
    }

    #[test]
    fn info_names_the_ports_and_the_prefix() {
        let v = info(
            file_prefix("/var/run/dpdk/msmtb"),
            &[("wwan".into(), "net_af_packet0".into(), 0)],
            "ready",
        );
        assert_eq!(v["file_prefix"], "msmtb");
        assert_eq!(
            v["ports"]["wwan"],
            json!({"device": "net_af_packet0", "port_id": 0})
        );
    }
}
