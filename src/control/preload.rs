//! Bindings preloaded from a file at start, before any registration arrives.
//!
//! Format: one binding a line, `HOME CARE_OF MSISDN`, whitespace separated, where
//! `CARE_OF` is an IPv4 address or `-` (registered from the WWAN, no care-of address).
//! `#` starts a comment. Errors name the line.

use crate::config::Prefix;
use std::net::Ipv4Addr;

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
