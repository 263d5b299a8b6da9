//! Deterministic provisioning files for tests and the performance harness.

use super::MAX_KEY_LEN;
use crate::config::Prefix;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;

/// The deterministic test key of subscriber `i` of [`write_test_file`] (32 bytes).
pub fn test_key(i: u64) -> [u8; MAX_KEY_LEN] {
    let mut key = [0u8; MAX_KEY_LEN];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x6d73_6d5f_6b65_7973;
    for chunk in key.chunks_exact_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    key
}

/// MSISDN of subscriber `i` of [`write_test_file`].
pub fn test_msisdn(i: u64) -> u64 {
    4_917_000_000_000 + i
}

/// Home address of subscriber `i` of [`write_test_file`]: the pools' addresses in
/// order (pool base + i, then on into the next pool), skipping the reserved
/// 0.0.0.0 / 255.255.255.255. `None` if the pools hold fewer than `i + 1`.
pub fn test_home(i: u64, pools: &[Prefix]) -> Option<u32> {
    let mut i = i;
    for p in pools {
        let size = 1u64 << (32 - u32::from(p.len.min(32)));
        let mut skip = 0u64;
        // A pool holding 0.0.0.0 starts there: skip it.
        if p.addr == 0 {
            skip = 1;
        }
        let usable = size - skip - u64::from(p.contains(u32::MAX) && size > skip);
        if i < usable {
            return Some(p.addr.wrapping_add((i + skip) as u32));
        }
        i -= usable;
    }
    None
}

/// Writes a provisioning file of `n` deterministic subscribers: MSISDN
/// [`test_msisdn`]`(i)`, home [`test_home`]`(i)`, SPI 256, key [`test_key`]`(i)`.
/// For tests and the performance harness.
pub fn write_test_file(path: impl AsRef<Path>, n: u64, pools: &[Prefix]) -> io::Result<()> {
    if n > 0 && test_home(n - 1, pools).is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the home pools hold fewer than {n} addresses"),
        ));
    }
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path.as_ref())?);
    w.write_all(b"# MSISDN HOME_ADDRESS SPI KEY_HEX (generated)\n")?;
    const DIG: &[u8; 16] = b"0123456789abcdef";
    let mut line = Vec::with_capacity(128);
    for i in 0..n {
        line.clear();
        let home = test_home(i, pools).unwrap_or(0);
        write!(line, "{} {} 256 ", test_msisdn(i), Ipv4Addr::from(home))?;
        for b in test_key(i) {
            line.push(DIG[usize::from(b >> 4)]);
            line.push(DIG[usize::from(b & 15)]);
        }
        line.push(b'\n');
        w.write_all(&line)?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}
