//! Bindings preloaded from a file at start, before any registration arrives.
//!
//! Format: one binding a line, `HOME CARE_OF MSISDN`, whitespace separated, where
//! `CARE_OF` is an IPv4 address or `-` (registered from the WWAN, no care-of address).
//! `#` starts a comment. Errors name the line.
//!
//! # Applied once per content
//!
//! With a state directory, a preload file's bindings go through the journal like any
//! other change, and the file is applied only when its content is new: after the
//! journal commit of its bindings, [`record_applied`] writes the SHA-256 of the file's
//! bytes to `preload.applied` in the state directory. At the next start the same content
//! is not applied again, so a preloaded binding that was later removed (unbind, expiry,
//! a cancel) or replaced by a registration stays as the journal says; a changed file is
//! applied again, whole, on top of the journal. A crash between the commit and the
//! marker only applies the same bindings a second time. Without a state directory the
//! file is applied at every start (nothing is durable then).

use crate::config::Prefix;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::Path;

/// The marker in the state directory: the SHA-256 of the last preload file applied.
pub const APPLIED_FILE: &str = "preload.applied";

/// A parsed preload file and the SHA-256 (hex) of its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreloadFile {
    pub bindings: Vec<Preload>,
    pub sha256: String,
}

/// Hex SHA-256 of a preload file's bytes.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a preload file with this digest was applied to the journal in `state_dir`.
/// A missing marker means never; an unreadable one is an error.
pub fn was_applied(state_dir: &Path, sha256: &str) -> io::Result<bool> {
    match std::fs::read_to_string(state_dir.join(APPLIED_FILE)) {
        Ok(text) => Ok(text
            .lines()
            .any(|l| l.strip_prefix("sha256 ").map(str::trim) == Some(sha256))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Records (durably: temporary file, fsync, rename, directory fsync) that the preload
/// file with this digest is applied; call only after the journal commit of its bindings.
pub fn record_applied(state_dir: &Path, sha256: &str) -> io::Result<()> {
    let tmp = state_dir.join(format!("{APPLIED_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(format!("sha256 {sha256}\n").as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, state_dir.join(APPLIED_FILE))?;
    std::fs::File::open(state_dir)?.sync_all()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preload {
    pub home: u32,
    pub coa: Option<u32>,
    pub msisdn: u64,
}

/// A refused preload file: the line (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct PreloadError {
    pub line: usize,
    pub reason: PreloadLineError,
}

/// What is wrong with one line of a preload file (fields quoted as written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreloadLineError {
    #[error("want 'HOME CARE_OF|- MSISDN', got {0} fields")]
    FieldCount(usize),
    #[error("home address '{0}' is not IPv4")]
    HomeNotIpv4(String),
    #[error("home address {0} is outside every home pool")]
    HomeOutsidePools(String),
    #[error("care-of address '{0}' is not IPv4 or '-'")]
    CareOfNotIpv4(String),
    #[error("care-of address {0} is not a unicast address")]
    CareOfNotUnicast(Ipv4Addr),
    #[error("MSISDN '{0}' is not 1..15 E.164 digits")]
    BadMsisdn(String),
    #[error("home address {0} listed twice")]
    HomeTwice(String),
}

/// Parses a preload file's text; every home address must be in one of `pools`.
pub fn parse(text: &str, pools: &[Prefix]) -> Result<Vec<Preload>, PreloadError> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |reason| PreloadError {
            line: n + 1,
            reason,
        };
        let p = parse_line(line, pools).map_err(at)?;
        if !seen.insert(p.home) {
            let home = line.split_whitespace().next().unwrap_or_default();
            return Err(at(PreloadLineError::HomeTwice(home.to_string())));
        }
        out.push(p);
    }
    Ok(out)
}

/// One non-empty line, comment stripped.
fn parse_line(line: &str, pools: &[Prefix]) -> Result<Preload, PreloadLineError> {
    use PreloadLineError as E;
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != 3 {
        return Err(E::FieldCount(f.len()));
    }
    let home: Ipv4Addr = f[0].parse().map_err(|_| E::HomeNotIpv4(f[0].into()))?;
    let home = u32::from(home);
    if !pools.iter().any(|p| p.contains(home)) {
        return Err(E::HomeOutsidePools(f[0].into()));
    }
    let coa = if f[1] == "-" {
        None
    } else {
        let c: Ipv4Addr = f[1].parse().map_err(|_| E::CareOfNotIpv4(f[1].into()))?;
        if c.is_unspecified() || c.is_broadcast() || c.is_multicast() || c.is_loopback() {
            return Err(E::CareOfNotUnicast(c));
        }
        Some(u32::from(c))
    };
    let m = f[2];
    if m.is_empty() || m.len() > 15 || !m.bytes().all(|b| b.is_ascii_digit()) {
        return Err(E::BadMsisdn(m.into()));
    }
    let msisdn: u64 = m.parse().map_err(|_| E::BadMsisdn(m.into()))?;
    Ok(Preload { home, coa, msisdn })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_marker_matches_only_the_same_content() {
        let dir = std::env::temp_dir().join(format!("msm-preload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = digest(b"192.0.2.10 203.0.113.10 1\n");
        let b = digest(b"192.0.2.10 203.0.113.11 1\n");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        // Known vector: SHA-256 of the empty input.
        assert_eq!(
            digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(!was_applied(&dir, &a).unwrap(), "no marker: never applied");
        record_applied(&dir, &a).unwrap();
        assert!(was_applied(&dir, &a).unwrap());
        assert!(
            !was_applied(&dir, &b).unwrap(),
            "changed file: applied again"
        );
        record_applied(&dir, &b).unwrap();
        assert!(was_applied(&dir, &b).unwrap());
        assert!(!was_applied(&dir, &a).unwrap(), "only the last file counts");
        assert!(!dir.join(format!("{APPLIED_FILE}.tmp")).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_and_reports_lines() {
        let pools = [Prefix::parse("192.0.2.0/25").unwrap()];
        let ok = "# home coa msisdn\n192.0.2.10 203.0.113.10 491700000010\n\n192.0.2.11 - 491700000011 # wwan\n";
        let v = parse(ok, &pools).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].coa, Some(u32::from(Ipv4Addr::new(203, 0, 113, 10))));
        assert_eq!(v[1].coa, None);
        assert_eq!(v[1].msisdn, 491700000011);
        let err = |text: &str| parse(text, &pools).unwrap_err().to_string();
        let e = err("192.0.2.10 203.0.113.10 1\n192.0.2.200 - 2\n");
        assert!(e.starts_with("line 2:") && e.contains("outside"), "{e}");
        assert_eq!(
            parse("192.0.2.10 203.0.113.10 1\n192.0.2.200 - 2\n", &pools),
            Err(PreloadError {
                line: 2,
                reason: PreloadLineError::HomeOutsidePools("192.0.2.200".into())
            })
        );
        let e = err("192.0.2.10 203.0.113.10 1\n192.0.2.10 - 2\n");
        assert!(e.contains("twice"), "{e}");
        assert!(err("192.0.2.10 x 1\n").contains("care-of"));
        assert!(err("192.0.2.10 - 12a\n").contains("MSISDN"));
        assert_eq!(
            err("192.0.2.10 -\n"),
            "line 1: want 'HOME CARE_OF|- MSISDN', got 2 fields"
        );
        assert!(parse("192.0.2.10 255.255.255.255 1\n", &pools).is_err());
    }
}
