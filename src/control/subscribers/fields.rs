//! One line of the provisioning file: split into fields and checked, over bytes.

use super::{LineError, Subscriber, MAX_KEY_LEN, MIN_KEY_LEN, MIN_SPI};
use crate::config::Prefix;
use std::net::Ipv4Addr;

const OTHER: u8 = 0;
const SPACE: u8 = 1;
const NEWLINE: u8 = 2;
const HASH: u8 = 3;

/// Byte classes for [`split_line`].
const CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    t[b' ' as usize] = SPACE;
    t[b'\t' as usize] = SPACE;
    t[b'\r' as usize] = SPACE;
    t[0x0b] = SPACE;
    t[0x0c] = SPACE;
    t[b'\n' as usize] = NEWLINE;
    t[b'#' as usize] = HASH;
    t
};

/// Splits the first line of `rest` into fields in one pass: the first four go to `f`.
/// Returns (number of fields, bytes consumed including the `\n`).
#[inline]
pub(super) fn split_line<'a>(rest: &'a [u8], f: &mut [&'a [u8]; 4]) -> (usize, usize) {
    let len = rest.len();
    let mut i = 0;
    let mut n = 0;
    loop {
        while i < len && CLASS[usize::from(rest[i])] == SPACE {
            i += 1;
        }
        if i == len {
            return (n, len);
        }
        match CLASS[usize::from(rest[i])] {
            NEWLINE => return (n, i + 1),
            HASH => {
                return match rest[i..].iter().position(|&c| c == b'\n') {
                    Some(p) => (n, i + p + 1),
                    None => (n, len),
                }
            }
            _ => {}
        }
        let s = i;
        while i < len && CLASS[usize::from(rest[i])] == OTHER {
            i += 1;
        }
        if n < 4 {
            f[n] = &rest[s..i];
        }
        n += 1;
    }
}

/// A field for an error message: lossy UTF-8, at most 40 characters.
fn show(f: &[u8]) -> String {
    let s = String::from_utf8_lossy(&f[..f.len().min(40)]).into_owned();
    if f.len() > 40 {
        format!("{s}...")
    } else {
        s
    }
}

/// Checks the fields of one line: `Ok(None)` for blank and comment lines.
pub(super) fn parse_fields(
    f: &[&[u8]; 4],
    n: usize,
    pools: &[Prefix],
) -> Result<Option<Subscriber>, LineError> {
    if n == 0 {
        return Ok(None);
    }
    if n != 4 {
        return Err(LineError::FieldCount(n));
    }
    let msisdn = parse_msisdn(f[0])?;
    let home = parse_ipv4(f[1]).ok_or_else(|| LineError::HomeNotIpv4(show(f[1])))?;
    if !msm_table::is_valid_home(home) {
        return Err(LineError::HomeReserved(Ipv4Addr::from(home)));
    }
    if !pools.iter().any(|p| p.contains(home)) {
        let list: Vec<String> = pools.iter().take(4).map(|p| p.to_string()).collect();
        let more = if pools.len() > 4 { ", ..." } else { "" };
        return Err(LineError::HomeOutsidePools {
            home: Ipv4Addr::from(home),
            pools: format!("{}{more}", list.join(", ")),
        });
    }
    let spi = parse_u32(f[2]).ok_or_else(|| LineError::SpiNotNumber(show(f[2])))?;
    if spi < MIN_SPI {
        return Err(LineError::SpiReserved(spi));
    }
    let (key, key_len) = parse_key(f[3])?;
    Ok(Some(Subscriber {
        msisdn,
        home,
        spi,
        key,
        key_len,
    }))
}

fn parse_msisdn(f: &[u8]) -> Result<u64, LineError> {
    if f.is_empty() || f.len() > 15 || !f.iter().all(u8::is_ascii_digit) {
        return Err(LineError::MsisdnNotDigits(show(f)));
    }
    if f[0] == b'0' {
        return Err(LineError::MsisdnLeadingZero(show(f)));
    }
    Ok(f.iter().fold(0u64, |a, &c| a * 10 + u64::from(c - b'0')))
}

/// Strict dotted quad: four decimal octets 0..=255, no leading zeros, nothing else.
fn parse_ipv4(f: &[u8]) -> Option<u32> {
    let mut addr = 0u32;
    let mut octets = 0;
    for part in f.split(|&c| c == b'.') {
        if octets == 4 || part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        let mut v = 0u32;
        for &c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        if v > 255 {
            return None;
        }
        addr = addr << 8 | v;
        octets += 1;
    }
    (octets == 4).then_some(addr)
}

fn parse_u32(f: &[u8]) -> Option<u32> {
    if f.is_empty() || f.len() > 10 {
        return None;
    }
    let mut v = 0u64;
    for &c in f {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    u32::try_from(v).ok()
}

const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

fn parse_key(f: &[u8]) -> Result<([u8; MAX_KEY_LEN], u8), LineError> {
    if let Some(p) = f.iter().position(|&c| HEX[c as usize] == 0xff) {
        return Err(LineError::KeyNotHex {
            position: p + 1,
            character: show(&f[p..p + 1]),
        });
    }
    if f.len() & 1 == 1 {
        return Err(LineError::KeyOddDigits(f.len()));
    }
    let len = f.len() / 2;
    if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&len) {
        return Err(LineError::KeyLength(len));
    }
    let mut key = [0u8; MAX_KEY_LEN];
    for (k, pair) in key.iter_mut().zip(f.chunks_exact(2)) {
        *k = HEX[pair[0] as usize] << 4 | HEX[pair[1] as usize];
    }
    Ok((key, len as u8))
}
