//! Bindings preloaded from a file at start (until the control plane registers them).
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

/// Parses a preload file's text; every home address must be in one of `pools`.
pub fn parse(text: &str, pools: &[Prefix]) -> Result<Vec<Preload>, String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(format!(
                "line {n}: want 'HOME CARE_OF|- MSISDN', got {} fields",
                f.len()
            ));
        }
        let home: Ipv4Addr = f[0]
            .parse()
            .map_err(|_| format!("line {n}: home address '{}' is not IPv4", f[0]))?;
        let home = u32::from(home);
        if !pools.iter().any(|p| p.contains(home)) {
            return Err(format!(
                "line {n}: home address {} is outside every home pool",
                f[0]
            ));
        }
        let coa = if f[1] == "-" {
            None
        } else {
            let c: Ipv4Addr = f[1]
                .parse()
                .map_err(|_| format!("line {n}: care-of address '{}' is not IPv4 or '-'", f[1]))?;
            if c.is_unspecified() || c.is_broadcast() || c.is_multicast() || c.is_loopback() {
                return Err(format!(
                    "line {n}: care-of address {c} is not a unicast address"
                ));
            }
            Some(u32::from(c))
        };
        if f[2].is_empty() || f[2].len() > 15 || !f[2].bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "line {n}: MSISDN '{}' is not 1..15 E.164 digits",
                f[2]
            ));
        }
        let msisdn: u64 = f[2].parse().map_err(|_| format!("line {n}: bad MSISDN"))?;
        if !seen.insert(home) {
            return Err(format!("line {n}: home address {} listed twice", f[0]));
        }
        out.push(Preload { home, coa, msisdn });
    }
    Ok(out)
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
        let e = parse("192.0.2.10 203.0.113.10 1\n192.0.2.200 - 2\n", &pools).unwrap_err();
        assert!(e.starts_with("line 2:") && e.contains("outside"), "{e}");
        let e = parse("192.0.2.10 203.0.113.10 1\n192.0.2.10 - 2\n", &pools).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        assert!(parse("192.0.2.10 x 1\n", &pools)
            .unwrap_err()
            .contains("care-of"));
        assert!(parse("192.0.2.10 - 12a\n", &pools)
            .unwrap_err()
            .contains("MSISDN"));
        assert!(parse("192.0.2.10 -\n", &pools)
            .unwrap_err()
            .contains("fields"));
        assert!(parse("192.0.2.10 255.255.255.255 1\n", &pools).is_err());
    }
}
