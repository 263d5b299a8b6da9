//! The registration audit log: one JSON line per answered registration decision, written and rotated by its own thread.
//!
//! The registration service hands each decision that got a Reply (or whose code 0 was
//! withheld because the journal could not commit) to an [`AuditSink`]: a fixed-size
//! [`AuditRecord`] pushed on a bounded channel without blocking (a full channel drops the
//! record and counts it in `audit_dropped`). The `msm-audit` thread formats and writes
//! them (`control.audit_log`), flushing whenever the channel runs dry, and rotates the
//! file at `control.audit_log_max_bytes`: `audit.jsonl` -> `audit.jsonl.1` -> ... up to
//! `control.audit_log_keep` old files. Requests dropped without a Reply (admission limits,
//! unparsable) are counted, not audited: a flood must not turn into disk writes.
//!
//! A line:
//! `{"time_unix_ms":1764736200123,"msisdn":"491700000010","home":"192.0.2.10",`
//! `"care_of":"203.0.113.10","lifetime":300,"path":1,"source":"192.0.2.10","code":0,`
//! `"acknowledged":true}`: `msisdn` is the one the request's NAI names (known or not;
//! null when the NAI is not an MSISDN or the request did not parse), `care_of` null for 0.0.0.0, `path` 1 (WWAN), 2 (reverse tunnel) or 3 (direct),
//! `source` the address the Reply went to, `acknowledged` false when the commit failed
//! and the Reply was withheld.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Records the channel holds before the control lcore starts dropping them.
const QUEUE: usize = 65536;

/// One audited decision (no allocation: it crosses the channel as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRecord {
    pub time_unix_ms: u64,
    pub msisdn: Option<u64>,
    pub home: u32,
    pub care_of: u32,
    pub lifetime: u16,
    /// 1 (WWAN), 2 (reverse tunnel), 3 (direct).
    pub path: u8,
    /// Where the Reply went.
    pub source: u32,
    pub code: u8,
    /// `false`: a code 0 withheld because its commit failed.
    pub acknowledged: bool,
}

impl AuditRecord {
    /// The JSON line (without the newline).
    pub fn json(&self) -> String {
        let opt_ip = |a: u32| {
            if a == 0 {
                "null".to_string()
            } else {
                format!("\"{}\"", Ipv4Addr::from(a))
            }
        };
        let msisdn = self
            .msisdn
            .map_or("null".to_string(), |m| format!("\"{m}\""));
        format!(
            "{{\"time_unix_ms\":{},\"msisdn\":{msisdn},\"home\":\"{}\",\"care_of\":{},\"lifetime\":{},\"path\":{},\"source\":\"{}\",\"code\":{},\"acknowledged\":{}}}",
            self.time_unix_ms,
            Ipv4Addr::from(self.home),
            opt_ip(self.care_of),
            self.lifetime,
            self.path,
            Ipv4Addr::from(self.source),
            self.code,
            self.acknowledged
        )
    }
}

/// The control lcore's end: never blocks.
#[derive(Debug)]
pub struct AuditSink {
    tx: Sender<AuditRecord>,
    /// Records dropped because the writer fell behind.
    pub dropped: u64,
}

impl AuditSink {
    pub fn record(&mut self, r: AuditRecord) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(r) {
            self.dropped += 1;
        }
    }
}

/// Where and how big.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub path: PathBuf,
    pub max_bytes: u64,
    pub keep: usize,
}

/// Opens the log (errors name the file) and starts the writer thread.
pub fn start(cfg: AuditConfig) -> io::Result<AuditSink> {
    let file = open(&cfg.path)?;
    let (tx, rx) = crossbeam_channel::bounded(QUEUE);
    std::thread::Builder::new()
        .name("msm-audit".into())
        .spawn(move || {
            crate::control::housekeeping::enter(false, 0);
            writer(cfg, file, rx)
        })?;
    Ok(AuditSink { tx, dropped: 0 })
}

fn open(path: &Path) -> io::Result<(BufWriter<File>, u64)> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((BufWriter::with_capacity(1 << 16, f), len))
}

/// `audit.jsonl` -> `.1`, `.1` -> `.2`, ...; the oldest beyond `keep` is removed.
fn rotate(path: &Path, keep: usize) -> io::Result<()> {
    let name = |i: usize| PathBuf::from(format!("{}.{i}", path.display()));
    if keep == 0 {
        return fs::remove_file(path);
    }
    let _ = fs::remove_file(name(keep));
    for i in (1..keep).rev() {
        let _ = fs::rename(name(i), name(i + 1));
    }
    fs::rename(path, name(1))
}

fn writer(cfg: AuditConfig, file: (BufWriter<File>, u64), rx: Receiver<AuditRecord>) {
    let (mut out, mut len) = file;
    let mut failed = false;
    loop {
        let r = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                let _ = out.flush();
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        let mut line = r.json();
        line.push('\n');
        let res = out.write_all(line.as_bytes());
        len += line.len() as u64;
        if rx.is_empty() {
            let _ = out.flush();
        }
        match res {
            Err(e) if !failed => {
                tracing::error!("audit log {}: {e}", cfg.path.display());
                failed = true;
            }
            Ok(()) => failed = false,
            Err(_) => {}
        }
        if len >= cfg.max_bytes {
            let _ = out.flush();
            let reopened = rotate(&cfg.path, cfg.keep).and_then(|()| open(&cfg.path));
            match reopened {
                Ok((o, l)) => {
                    out = o;
                    len = l;
                }
                Err(e) => {
                    tracing::error!("audit log rotation of {}: {e}", cfg.path.display());
                    len = 0; // retry after another max_bytes
                }
            }
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64, code: u8) -> AuditRecord {
        AuditRecord {
            time_unix_ms: 1_764_736_200_000 + i,
            msisdn: Some(491_700_000_010),
            home: u32::from(Ipv4Addr::new(192, 0, 2, 10)),
            care_of: u32::from(Ipv4Addr::new(203, 0, 113, 10)),
            lifetime: 300,
            path: 1,
            source: u32::from(Ipv4Addr::new(192, 0, 2, 10)),
            code,
            acknowledged: true,
        }
    }

    #[test]
    fn a_record_is_one_json_object() {
        let v: serde_json::Value = serde_json::from_str(&rec(1, 0).json()).unwrap();
        assert_eq!(v["msisdn"], "491700000010");
        assert_eq!(v["home"], "192.0.2.10");
        assert_eq!(v["care_of"], "203.0.113.10");
        assert_eq!((v["path"].as_u64(), v["code"].as_u64()), (Some(1), Some(0)));
        assert_eq!(v["acknowledged"], true);
        let r = AuditRecord {
            msisdn: None,
            care_of: 0,
            acknowledged: false,
            ..rec(2, 129)
        };
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert!(v["msisdn"].is_null() && v["care_of"].is_null());
        assert_eq!(v["acknowledged"], false);
    }

    #[test]
    fn records_are_written_and_rotated() {
        let dir = std::env::temp_dir().join(format!("msm-audit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let line = rec(0, 0).json().len() as u64 + 1;
        let mut sink = start(AuditConfig {
            path: path.clone(),
            max_bytes: 10 * line,
            keep: 2,
        })
        .unwrap();
        for i in 0..35 {
            sink.record(rec(i, (i % 2) as u8));
        }
        drop(sink); // the writer drains the channel, flushes and ends
        let mut lines = Vec::new();
        for _ in 0..100 {
            lines.clear();
            for p in [
                path.with_extension("jsonl.2"),
                path.with_extension("jsonl.1"),
                path.clone(),
            ] {
                if let Ok(t) = fs::read_to_string(&p) {
                    lines.extend(t.lines().map(str::to_owned));
                }
            }
            if lines.len() >= 15 && fs::read_to_string(&path).map_or(0, |t| t.lines().count()) == 5
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // 35 records, 10 per file: .3 (the oldest 10) was removed (keep 2); .2 and .1 hold
        // 10 each, the current file the last 5.
        assert!(!path.with_extension("jsonl.3").exists());
        assert_eq!(lines.len(), 25, "{lines:?}");
        let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["time_unix_ms"], 1_764_736_200_010u64);
        let last: serde_json::Value = serde_json::from_str(&lines[24]).unwrap();
        assert_eq!(last["time_unix_ms"], 1_764_736_200_034u64);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let e = start(AuditConfig {
            path: PathBuf::from("/nonexistent-dir/audit.jsonl"),
            max_bytes: 1 << 20,
            keep: 1,
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent-dir/audit.jsonl"),
            "{e}"
        );
    }
}
