//! The XDP peer baseline (`perf/xdp/run.sh`, perf/README.md "XDP peer"): its JSON folded
//! into the results, and the ratio of per-packet costs MSM : XDP (issue 12: goal >= 2 x).
//!
//! Both sides are taken over their own macswap floor, measured the same way in the same
//! run: the XDP forwarder's cost over `xdp_macswap` on the same veth (native XDP, NAPI loop)
//! against the MSM worker's worker-only cost over the harness macswap worker's. The ratio
//! against the MSM's whole worker-only cost (its net_null I/O included) is shown too.

use crate::report::{size_label, Report};
use crate::traffic::Traffic;
use serde_json::Value;
use std::fmt::Write as _;

/// Goal of issue 12: the XDP peer costs at least this many times the MSM per packet.
pub const GOAL: f64 = 2.0;

/// The XDP peer's figures (ns per packet) for one table size and direction.
struct Peer {
    /// veth method: generator + veth + forwarder, the same with the macswap floor, and the
    /// difference (the forwarder over the floor).
    veth_total: f64,
    veth_floor: f64,
    veth_net: f64,
    /// Per-call method (BPF_PROG_TEST_RUN once per frame): the forwarder, the floor, and
    /// the forwarder on one frame repeated.
    call: f64,
    call_floor: f64,
    same: f64,
}

fn peer(v: &Value, bindings: usize, dir: &str) -> Option<Peer> {
    let runs = v["runs"].as_array()?;
    let find = |method: Option<&str>| {
        runs.iter().find(|r| {
            r["program"] == "msm_xdp"
                && r["bindings"].as_u64() == Some(bindings as u64)
                && r["direction"] == dir
                && r["method"].as_str() == method
        })
    };
    let veth = find(Some("veth"))?;
    let call = find(None)?;
    Some(Peer {
        veth_total: veth["ns_per_pkt"].as_f64()?,
        veth_floor: veth["floor_ns_per_pkt"].as_f64()?,
        veth_net: veth["net_ns_per_pkt"].as_f64()?,
        call: call["ns_per_pkt"].as_f64()?,
        call_floor: call["floor_ns_per_pkt"].as_f64()?,
        same: call["same_frame"]["ns_per_pkt"].as_f64()?,
    })
}

/// Binding counts the peer ran at.
fn sizes(v: &Value) -> Vec<usize> {
    let mut s: Vec<usize> = v["runs"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["bindings"].as_u64().map(|b| b as usize))
                .collect()
        })
        .unwrap_or_default();
    s.sort_unstable();
    s.dedup();
    s
}

/// One comparison: (MSM worker-only ns, harness macswap ns, the peer).
fn compare(rep: &Report, v: &Value, n: usize, t: Traffic) -> Result<(f64, f64, Peer), String> {
    let p = peer(v, n, t.name()).ok_or_else(|| "the XDP peer has no figure here".to_string())?;
    let r = rep
        .msm_run(t, n)
        .ok_or_else(|| "the MSM did not run here".to_string())?;
    let floor = rep
        .harness_worker_ns()
        .ok_or_else(|| "no harness macswap figure".to_string())?;
    Ok((r.worker_ns_per_pkt(rep.tsc_hz), floor, p))
}

fn status(rep: &Report) -> Result<&Value, String> {
    match &rep.external.xdp {
        Ok(v) if v["status"] == "ok" => Ok(v),
        Ok(v) => Err(format!(
            "XDP peer unavailable: {}",
            v["reason"].as_str().unwrap_or("no reason given")
        )),
        Err(e) => Err(format!("XDP peer {e}")),
    }
}

/// The "Targets" rows: (target, measured, verdict).
pub fn targets(rep: &Report) -> Vec<(String, String, Option<bool>)> {
    let mut out = Vec::new();
    let v = match status(rep) {
        Ok(v) => v,
        Err(e) => {
            out.push((
                format!("MSM vs XDP peer: ratio of per-packet cost >= {GOAL} x"),
                e,
                None,
            ));
            return out;
        }
    };
    for n in sizes(v) {
        for t in [Traffic::Downlink, Traffic::Uplink] {
            let target = format!(
                "MSM vs XDP peer, {} at {} bindings: ratio of per-packet cost >= {GOAL} x",
                t.name(),
                size_label(n)
            );
            match compare(rep, v, n, t) {
                Ok((msm, floor, p)) => {
                    let net = msm - floor;
                    let ratio = (net > 0.0).then(|| p.veth_net / net);
                    out.push((
                        target,
                        format!(
                            "XDP {:.0} ns/pkt over its macswap floor (veth, native XDP; per call: {:.0}), \
                             MSM {:.1} ns/pkt over the harness macswap (worker only {:.1}): {} x \
                             ({:.2} x against the MSM's whole worker-only cost)",
                            p.veth_net,
                            p.call - p.call_floor,
                            net,
                            msm,
                            ratio.map_or("n/a".into(), |x| format!("{x:.2}")),
                            p.veth_net / msm
                        ),
                        ratio.map(|x| x >= GOAL),
                    ))
                }
                Err(e) => out.push((target, e, None)),
            }
        }
    }
    out
}

/// The section "XDP peer".
pub fn section(rep: &Report, s: &mut String) {
    let _ = writeln!(s, "## XDP peer (perf/xdp/run.sh)\n");
    let v = match status(rep) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(s, "Not measured: {e}\n");
            return;
        }
    };
    let _ = writeln!(
        s,
        "The MSM's job as an eBPF/XDP forwarder (`perf/xdp/msm_xdp.bpf.c`: BPF hash map home -> \
         care-of, IP-in-IP push/pop, anti-spoofing), kernel {}, CPU {}. ns per 64-byte packet. \
         **veth**: a generator (`xdp_gen`, BPF_PROG_TEST_RUN live frames, {} frames a round, \
         best of the rounds) sends into a veth pair whose other end runs the forwarder in native \
         XDP (NAPI loop) and sends it back (XDP_TX) to a checking sink; the same with \
         `xdp_macswap` instead of the forwarder is the floor; *net* = the difference. **per \
         call**: BPF_PROG_TEST_RUN once per frame over {} distinct frames (the kernel's own \
         timing; cold caches between calls), the floor likewise, and one frame repeated. \
         **MSM**: worker-only cost of this run's downlink/uplink 64-byte runs, and the harness \
         macswap worker's (its floor). Ratio = XDP net / MSM net (goal >= {GOAL}); \
         *whole* = XDP net / MSM worker only. See perf/README.md \"XDP peer\" for the biases.\n",
        v["kernel"].as_str().unwrap_or("?"),
        v["cpu"],
        v["runs"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["method"] == "veth"))
            .map_or("?".into(), |x| x["frames_per_round"].to_string()),
        v["frames"],
    );
    let _ = writeln!(
        s,
        "| bindings | direction | XDP veth total / floor / **net** | XDP per call total / floor / net / same frame | MSM worker only / harness macswap / **net** | ratio (net) | ratio (whole) |\n|---:|---|---:|---:|---:|---:|---:|"
    );
    for n in sizes(v) {
        for t in [Traffic::Downlink, Traffic::Uplink] {
            match compare(rep, v, n, t) {
                Ok((msm, floor, p)) => {
                    let net = msm - floor;
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.0} / {:.0} / **{:.0}** | {:.0} / {:.0} / {:.0} / {:.0} | {:.1} / {:.1} / **{:.1}** | {} | {:.2} |",
                        size_label(n),
                        t.name(),
                        p.veth_total,
                        p.veth_floor,
                        p.veth_net,
                        p.call,
                        p.call_floor,
                        p.call - p.call_floor,
                        p.same,
                        msm,
                        floor,
                        net,
                        if net > 0.0 {
                            format!("{:.2}", p.veth_net / net)
                        } else {
                            "n/a".into()
                        },
                        p.veth_net / msm
                    );
                }
                Err(e) => {
                    let _ = writeln!(s, "| {} | {} | {e} | | | | |", size_label(n), t.name());
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "\nMachine during the peer's run: {} involuntary context switches, CPU steal {} %. \
         Command: `{}`\n",
        v["involuntary_switches"],
        v["cpu_steal_pct"],
        v["command"].as_str().unwrap_or("?")
    );
}
