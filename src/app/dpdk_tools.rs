//! DPDK's own tools on the running MSM: `dpdk-telemetry.py` (the `/msm/...` commands
//! next to `/ethdev/...`), and `dpdk-dumpcap` / `dpdk-proc-info`, secondary processes
//! that attach to the MSM's memory (capture through `rte_pdump_init`).
//!
//! Secondary processes need the primary's memory shareable: huge pages, and the
//! multi-process channel of a runtime directory (a `--file-prefix` of its own, no
//! `--no-shconf` / `--in-memory`). Under `--no-huge` the MSM runs as before and says at
//! start that capture is unavailable, and why.

use crate::config::Config;
use crate::control::stats::Snapshot;
use crate::control::telemetry::{self, Queries};
use msm_dpdk::{Eal, PortId};
use std::path::Path;
use std::sync::Arc;
use tracing::{info, warn};

/// Why secondary processes cannot attach to this EAL, if they cannot: `has_hugepages`
/// is EAL's own answer, `eal_args` the configured arguments.
pub fn capture_unavailable(has_hugepages: bool, eal_args: &[String]) -> Option<&'static str> {
    if eal_args
        .iter()
        .any(|a| a == "--no-shconf" || a == "--in-memory")
    {
        Some("no multi-process channel (--no-shconf or --in-memory)")
    } else if !has_hugepages {
        Some("--no-huge: secondary processes (dpdk-dumpcap, dpdk-proc-info) cannot map anonymous memory; run on huge pages")
    } else {
        None
    }
}

/// Prepares capture (`rte_pdump_init`) and registers the telemetry commands; returns the
/// control loop's end of `/msm/binding` (`None` when telemetry is off). Never fails the
/// start: what does not work is logged.
pub fn start(
    eal: &Eal,
    cfg: &Config,
    ports: &[PortId],
    snapshot: &Arc<Snapshot>,
) -> Option<Queries> {
    let dir = eal.runtime_dir();
    let prefix = telemetry::file_prefix(&dir).to_string();
    let devices: Vec<&str> = cfg.ports.iter().map(|p| p.device.as_str()).collect();
    let pdump = match capture_unavailable(eal.has_hugepages(), &cfg.eal_args) {
        Some(why) => {
            warn!("capture (dpdk-dumpcap) and dpdk-proc-info unavailable: {why}");
            format!("unavailable: {why}")
        }
        None => match eal.pdump_init() {
            Ok(()) => {
                info!(
                    "capture ready: dpdk-dumpcap --file-prefix {prefix} -i <{}>",
                    devices.join("|")
                );
                format!("ready: dpdk-dumpcap --file-prefix {prefix} -i <device>")
            }
            Err(e) => {
                warn!("capture (dpdk-dumpcap) unavailable: {e}");
                format!("unavailable: {e}")
            }
        },
    };
    let sock = Path::new(&dir).join("dpdk_telemetry.v2");
    if !sock.exists() {
        info!("DPDK telemetry off (--no-telemetry, or no runtime directory)");
        return None;
    }
    let port_info: Vec<(String, String, u16)> = cfg
        .ports
        .iter()
        .zip(ports)
        .map(|(pc, id)| (pc.name.clone(), pc.device.clone(), id.id()))
        .collect();
    match telemetry::register(
        Arc::clone(snapshot),
        telemetry::info(&prefix, &port_info, &pdump),
    ) {
        Ok(q) => {
            info!(
                "DPDK telemetry at {} (dpdk-telemetry.py -f {prefix}): {}, {},<home>, {}, {}",
                sock.display(),
                telemetry::STATS,
                telemetry::BINDING,
                telemetry::ALARMS,
                telemetry::INFO
            );
            Some(q)
        }
        Err(e) => {
            warn!("DPDK telemetry: the /msm commands are not registered: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::capture_unavailable;

    #[test]
    fn capture_needs_huge_pages_and_the_multi_process_channel() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            capture_unavailable(true, &args(&["-l", "0,1", "--file-prefix", "x"])),
            None
        );
        assert!(
            capture_unavailable(false, &args(&["--no-huge", "-m", "512"]))
                .is_some_and(|w| w.starts_with("--no-huge"))
        );
        assert!(capture_unavailable(true, &args(&["--in-memory"]))
            .is_some_and(|w| w.contains("multi-process")));
        assert!(capture_unavailable(false, &args(&["--no-shconf"]))
            .is_some_and(|w| w.contains("multi-process")));
    }
}
