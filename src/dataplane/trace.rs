//! Packet trace, as VPP's `trace add`: the next N packets of each worker, recorded on their way through the pipeline.
//!
//! `msm ctl trace N` arms every worker's [`Trace`] with N; `msm ctl trace show` returns what
//! they recorded; `msm ctl trace clear` disarms and empties them. When unarmed the cost is
//! one relaxed load per burst. An armed worker records, for each packet until its count runs
//! out: the ingress port, the classification, the binding looked up (the destination of a
//! transit packet, the inner source of a tunnelled one), the action, the drop reason and
//! the events counted. Reasons and events are read as the difference of the worker's own
//! counters around the packet (the worker is their only writer), so the stages need no
//! trace code of their own.

use crate::dataplane::classify::{Classified, Kind};
use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::pipeline::Action;
use msm_table::Lookup;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Records a worker keeps at most (an armed count above it is cut to it).
pub const MAX_RECORDS: u32 = 4096;

/// One worker's trace: how many more packets to record, and the records.
#[derive(Debug, Default)]
pub struct Trace {
    armed: AtomicU32,
    records: Mutex<Vec<Value>>,
}

impl Trace {
    /// Records the next `n` packets (from the control lcore); clears earlier records.
    pub fn arm(&self, n: u32) {
        if let Ok(mut r) = self.records.lock() {
            r.clear();
        }
        self.armed.store(n.min(MAX_RECORDS), Ordering::Relaxed);
    }

    /// Disarms and forgets the records.
    pub fn clear(&self) {
        self.armed.store(0, Ordering::Relaxed);
        if let Ok(mut r) = self.records.lock() {
            r.clear();
        }
    }

    /// Packets still to record.
    pub fn remaining(&self) -> u32 {
        self.armed.load(Ordering::Relaxed)
    }

    /// The worker's check, once per burst.
    #[inline(always)]
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed) != 0
    }

    /// The records so far.
    pub fn records(&self) -> Vec<Value> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Takes one packet's slot; `false` once the count ran out.
    fn take(&self) -> bool {
        self.armed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// The worker's counters before one packet: compared afterwards.
pub struct Before {
    events: [u64; Event::COUNT],
    drops: [u64; DropReason::COUNT],
}

impl Before {
    pub fn take(c: &Counters) -> Before {
        Before {
            events: std::array::from_fn(|i| c.get_event(Event::ALL[i])),
            drops: std::array::from_fn(|i| c.get_drop(DropReason::ALL[i])),
        }
    }
}

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Dropped => "dropped",
        Kind::Arp => "arp",
        Kind::Local => "local",
        Kind::Tunnel => "tunnel",
        Kind::NatTunnel => "nat_tunnel",
        Kind::Transit => "transit",
    }
}

fn lookup_json(l: Lookup) -> Value {
    match l {
        Lookup::Miss => json!("none"),
        Lookup::Wwan => json!("wwan"),
        Lookup::CareOf(c) => json!({"care_of": Ipv4Addr::from(c).to_string()}),
        Lookup::Nat { addr, port } => {
            json!({"nat": Ipv4Addr::from(addr).to_string(), "port": port})
        }
    }
}

/// Records one packet if the trace still wants one: its classification, the binding
/// `lookup` found for it, the action and what the counters say happened since `before`.
/// Ports are recorded by index (`msm ctl trace show` names them).
pub fn record(
    trace: &Trace,
    worker: usize,
    cls: &Classified,
    lookup: Option<Lookup>,
    action: &Action,
    c: &Counters,
    before: &Before,
) {
    if !trace.take() {
        return;
    }
    let events: Vec<&str> = Event::ALL
        .iter()
        .enumerate()
        .filter(|&(i, e)| c.get_event(*e) > before.events[i])
        .map(|(_, e)| e.name())
        .collect();
    let drop = DropReason::ALL
        .iter()
        .enumerate()
        .find(|&(i, d)| c.get_drop(*d) > before.drops[i])
        .map(|(_, d)| d.name());
    let ip = |a: u32| Ipv4Addr::from(a).to_string();
    let action = match action {
        Action::Tx(p) => json!({"tx": p}),
        Action::Control => json!("control"),
        Action::Fragment(_) => json!("fragment"),
        Action::Drop => json!("drop"),
    };
    let mut v = json!({
        "worker": worker,
        "ingress": cls.ingress,
        "kind": kind_str(cls.kind),
        "action": action,
        "drop_reason": drop,
        "events": events,
    });
    if cls.kind != Kind::Dropped && cls.kind != Kind::Arp {
        v["src"] = json!(ip(cls.ip.src));
        v["dst"] = json!(ip(cls.ip.dst));
    }
    if let Some(inner) = &cls.inner {
        v["inner_src"] = json!(ip(inner.src));
        v["inner_dst"] = json!(ip(inner.dst));
    }
    if let Some(l) = lookup {
        v["binding"] = lookup_json(l);
    }
    if let Ok(mut r) = trace.records.lock() {
        r.push(v);
    }
}

/// The address whose binding a packet of this class is looked up by, if any.
pub fn lookup_key(cls: &Classified) -> Option<u32> {
    match cls.kind {
        Kind::Transit => Some(cls.ip.dst),
        Kind::Tunnel | Kind::NatTunnel => cls.inner.map(|i| i.src),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_trace_records_n_packets_with_reason_and_events() {
        let t = Trace::default();
        let c = Counters::default();
        assert!(!t.armed());
        t.arm(2);
        assert!(t.armed());
        let mut cls = Classified::DROPPED;
        cls.kind = Kind::Transit;
        cls.ingress = 1;
        cls.ip.src = u32::from(Ipv4Addr::new(198, 51, 100, 2));
        cls.ip.dst = u32::from(Ipv4Addr::new(192, 0, 2, 10));
        for i in 0..3u32 {
            let b = Before::take(&c);
            if i == 1 {
                c.count_drop(DropReason::ALL[0]);
            } else {
                c.event(Event::DownlinkTunnel);
            }
            let action = if i == 1 { Action::Drop } else { Action::Tx(1) };
            let l = Lookup::CareOf(u32::from(Ipv4Addr::new(203, 0, 113, 10)));
            record(&t, 0, &cls, Some(l), &action, &c, &b);
        }
        let r = t.records();
        assert_eq!(r.len(), 2, "the third packet is past the count");
        assert!(!t.armed());
        assert_eq!(r[0]["ingress"], 1);
        assert_eq!(r[0]["kind"], "transit");
        assert_eq!(r[0]["dst"], "192.0.2.10");
        assert_eq!(r[0]["binding"]["care_of"], "203.0.113.10");
        assert_eq!(r[0]["action"]["tx"], 1);
        assert_eq!(r[0]["events"], json!(["downlink_tunnel"]));
        assert!(r[0]["drop_reason"].is_null());
        assert_eq!(r[1]["action"], "drop");
        assert_eq!(r[1]["drop_reason"], DropReason::ALL[0].name());
        t.arm(1);
        assert!(t.records().is_empty(), "re-arming clears");
        t.clear();
        assert!(!t.armed());
    }

    #[test]
    fn the_count_is_capped() {
        let t = Trace::default();
        t.arm(u32::MAX);
        assert_eq!(t.remaining(), MAX_RECORDS);
    }
}
