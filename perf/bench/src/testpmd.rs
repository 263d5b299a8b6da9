//! The `dpdk-testpmd --forward-mode=macswap` baseline: run it as a child
//! process for a few seconds, stop it with SIGINT, parse its periodic stats.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Stats periods discarded at the start (the first shows 0, the second may be partial).
const SKIP_PERIODS: usize = 2;

/// One testpmd run.
#[derive(Debug, Clone)]
pub struct TestpmdResult {
    pub label: String,
    /// The exact command line.
    pub command: String,
    /// Median over the kept periods of the sum of Rx-pps over all ports (Mpps).
    pub mpps: Option<f64>,
    /// Every period's sum (Mpps), including the discarded first ones.
    pub periods: Vec<f64>,
    pub error: Option<String>,
}

/// Runs `bin` with `eal` (EAL options) and `app` (testpmd options, which must
/// include `--stats-period=1`) for `secs` seconds.
pub fn run(bin: &str, label: &str, eal: &[String], app: &[String], secs: u64) -> TestpmdResult {
    let mut args: Vec<String> = eal.to_vec();
    args.push("--".into());
    args.extend_from_slice(app);
    let command = std::iter::once(bin.to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut res = TestpmdResult {
        label: label.to_string(),
        command,
        mpps: None,
        periods: Vec::new(),
        error: None,
    };
    match run_child(bin, &args, secs) {
        Ok((stdout, stderr)) => {
            res.periods = parse_periods(&stdout);
            res.mpps = median(res.periods.get(SKIP_PERIODS..).unwrap_or(&[]));
            if res.mpps.is_none() {
                let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                res.error = Some(format!(
                    "no throughput in testpmd's output ({} stats periods); stderr ends: {}",
                    res.periods.len(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
        }
        Err(e) => res.error = Some(e),
    }
    res
}

/// Spawns testpmd, lets it run `secs`, SIGINTs it, returns (stdout, stderr).
fn run_child(bin: &str, args: &[String], secs: u64) -> Result<(String, String), String> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{bin}: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut err = child.stderr.take().ok_or("no stderr pipe")?;
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let mut exited_early = None;
    while t0.elapsed() < Duration::from_secs(secs) {
        if let Ok(Some(st)) = child.try_wait() {
            exited_early = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if exited_early.is_none() {
        let pid = libc::pid_t::try_from(child.id()).map_err(|_| "pid out of range")?;
        // SAFETY: plain kill(2) on our own child, which has not been reaped.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if let Some(st) = exited_early {
        return Err(format!(
            "testpmd exited after {:.1} s ({st}); stderr: {}",
            t0.elapsed().as_secs_f64(),
            stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok((stdout, stderr))
}

/// Sums `Rx-pps` over the ports of each `--stats-period` block (Mpps). A
/// block starts with port 0's "NIC statistics for port 0".
pub fn parse_periods(out: &str) -> Vec<f64> {
    let mut periods: Vec<f64> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.split("NIC statistics for port").nth(1) {
            let port: Option<u32> = rest.split_whitespace().next().and_then(|p| p.parse().ok());
            if port == Some(0) || periods.is_empty() {
                periods.push(0.0);
            }
        } else if let Some(rest) = line.split("Rx-pps:").nth(1) {
            let pps: Option<f64> = rest.split_whitespace().next().and_then(|v| v.parse().ok());
            if let (Some(p), Some(last)) = (pps, periods.last_mut()) {
                *last += p / 1e6;
            }
        }
    }
    periods
}

/// Median, `None` for an empty slice.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  RX-packets: 427552     RX-missed: 0          RX-bytes:  0
  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:            0          Tx-bps:            0
  ######################## NIC statistics for port 1  ########################
  Rx-pps:            0          Rx-bps:            0
\x1b[2J\x1b[1;1H
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  Rx-pps:     14077333          Rx-bps:            0
  Tx-pps:     14077317          Tx-bps:            0
  ######################## NIC statistics for port 1  ########################
  Rx-pps:     14077318          Rx-bps:            0
  Tx-pps:     14077334          Tx-bps:            0
";

    #[test]
    fn periods_sum_ports() {
        let p = parse_periods(SAMPLE);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], 0.0);
        assert!((p[1] - 28.154651).abs() < 1e-6, "{p:?}");
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
