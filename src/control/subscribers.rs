//! The subscriber provisioning file: who may register, with which home address and key.
//!
//! # Format
//!
//! One subscriber a line, four fields separated by spaces or tabs:
//!
//! ```text
//! # MSISDN       HOME_ADDRESS  SPI  KEY_HEX
//! 491701234567   10.20.0.7     256  00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
//! ```
//!
//! * `MSISDN`: the subscriber's E.164 number, 1 to 15 decimal digits, no leading `0`
//!   (E.164 country codes never start with 0; a leading zero would also make `049…` and
//!   `49…` the same number once stored as an integer). It is what the Mobile Node NAI
//!   extension carries.
//! * `HOME_ADDRESS`: dotted-quad IPv4 address (no leading zeros in an octet) inside one of
//!   the configured home pools (`[home] pools`), neither `0.0.0.0` nor `255.255.255.255`.
//! * `SPI`: decimal `u32`, at least 256: SPIs 0..=255 are reserved by RFC 5944, and 256 and
//!   up select HMAC-SHA-256 in this profile (PROTOCOL.md section 1).
//! * `KEY_HEX`: the MN-HA shared key, 16 to 32 bytes written as 32 to 64 hex digits
//!   (either case).
//!
//! `#` starts a comment that runs to the end of the line; blank lines are ignored; a
//! trailing `\r` (CRLF files) is whitespace. MSISDNs and home addresses are each unique in
//! the file. Any error rejects the whole file and names the line and the reason
//! (`line 7: duplicate MSISDN 491701234567 (first on line 3)`); [`Subscribers::load`]
//! prefixes the path.
//!
//! # Memory and speed
//!
//! The store is one `Vec<Subscriber>` (56 bytes each) plus two open-addressing indexes
//! of `u32` positions into it (`hashbrown::HashTable<u32>`: 5 bytes a bucket, buckets a
//! power of two at most 7/8 full), about 73 bytes per subscriber at 10 million.
//! Parsing is hand-written over bytes (no per-line allocation) and runs on up to
//! `available_parallelism()` threads over blocks split at line boundaries; the file is
//! streamed in 64 MiB blocks, so it is never held whole in memory. The two indexes (and
//! their duplicate checks) are then built on two threads.
//!
//! # Reload
//!
//! [`Subscribers::load`] builds a fresh, immutable store; the caller swaps it in when it
//! returns `Ok` and keeps the old one on `Err`. Loading 10 million subscribers takes
//! seconds: call it off the control lcore (a plain `std::thread`) and hand the result
//! back, e.g. as an `Arc<Subscribers>`.

use crate::config::Prefix;
use hashbrown::HashTable;
use std::fmt;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, BufWriter, Read, Write};
use std::net::Ipv4Addr;
use std::path::Path;

/// Shortest accepted shared key, bytes.
pub const MIN_KEY_LEN: usize = 16;
/// Longest accepted shared key, bytes.
pub const MAX_KEY_LEN: usize = 32;
/// Smallest SPI accepted (256 and up: HMAC-SHA-256).
pub const MIN_SPI: u32 = 256;
/// Largest MSISDN (15 digits).
pub const MAX_MSISDN: u64 = 999_999_999_999_999;

/// Bytes read from the file per parse round in [`Subscribers::load`].
const BLOCK: usize = 64 << 20;
/// Below this a block is parsed on the calling thread only.
const PARALLEL_MIN: usize = 1 << 20;

/// One provisioned subscriber.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    pub msisdn: u64,
    pub home: u32,
    pub spi: u32,
    /// The shared key in its first `key_len` bytes; the rest is zero.
    pub key: [u8; MAX_KEY_LEN],
    pub key_len: u8,
}

impl Subscriber {
    /// The MN-HA shared key.
    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.key_len).min(MAX_KEY_LEN)]
    }
}

/// Never prints the key.
impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("msisdn", &self.msisdn)
            .field("home", &Ipv4Addr::from(self.home))
            .field("spi", &self.spi)
            .field("key_len", &self.key_len)
            .finish_non_exhaustive()
    }
}

/// The provisioned subscribers, indexed by MSISDN and by home address. Immutable once
/// built; `Send + Sync`.
pub struct Subscribers {
    subs: Vec<Subscriber>,
    by_msisdn: HashTable<u32>,
    by_home: HashTable<u32>,
    seed: u64,
}

impl fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribers")
            .field("len", &self.subs.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

#[inline]
fn hash(seed: u64, x: u64) -> u64 {
    // Seeded multiply-xorshift (murmur3 fmix64 on x ^ seed): hashbrown takes the bucket
    // from the low bits and the tag from the top 7, so both ends must be mixed.
    let mut h = x ^ seed;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Subscribers {
    /// Parses the text of a provisioning file; every home address must be inside one of
    /// `pools`. Errors are `line N: reason`.
    pub fn parse(text: &str, pools: &[Prefix]) -> Result<Subscribers, String> {
        let mut b = Builder::new(pools, text.len() / 64);
        let mut bytes = text.as_bytes();
        while !bytes.is_empty() {
            let end = if bytes.len() <= BLOCK {
                bytes.len()
            } else {
                match bytes[..BLOCK].iter().rposition(|&c| c == b'\n') {
                    Some(p) => p + 1,
                    None => return Err(b.too_long(BLOCK)),
                }
            };
            b.feed(&bytes[..end])?;
            bytes = &bytes[end..];
        }
        b.finish()
    }

    /// Reads and parses a provisioning file. Errors are `PATH: line N: reason` or
    /// `PATH: <I/O error>`.
    pub fn load(path: impl AsRef<Path>, pools: &[Prefix]) -> Result<Subscribers, String> {
        let path = path.as_ref();
        let ctx = |e: String| format!("{}: {e}", path.display());
        let mut f = File::open(path).map_err(|e| ctx(e.to_string()))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut b: Option<Builder> = None;
        let want = usize::try_from(size.saturating_add(1)).unwrap_or(BLOCK);
        let mut buf = vec![0u8; want.clamp(1 << 20, BLOCK)];
        let mut filled = 0usize;
        loop {
            let mut eof = false;
            while filled < buf.len() {
                match f.read(&mut buf[filled..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(ctx(e.to_string())),
                }
            }
            // Parse up to the last complete line (everything at end of file).
            let end = if eof {
                filled
            } else {
                match buf[..filled].iter().rposition(|&c| c == b'\n') {
                    Some(p) => p + 1,
                    None => {
                        let b = b.get_or_insert_with(|| Builder::new(pools, 0));
                        return Err(ctx(b.too_long(buf.len())));
                    }
                }
            };
            let b = b.get_or_insert_with(|| {
                // Pre-size from the line density of the first block.
                let lines = buf[..end].iter().filter(|&&c| c == b'\n').count().max(1);
                let est = (size as f64 * lines as f64 / end.max(1) as f64 * 1.02) as usize;
                Builder::new(pools, est.min(u32::MAX as usize))
            });
            b.feed(&buf[..end]).map_err(ctx)?;
            if eof {
                break;
            }
            buf.copy_within(end..filled, 0);
            filled -= end;
        }
        match b {
            Some(b) => b.finish().map_err(ctx),
            None => Builder::new(pools, 0).finish().map_err(ctx),
        }
    }

    /// The subscriber with this MSISDN.
    #[inline]
    pub fn by_msisdn(&self, msisdn: u64) -> Option<&Subscriber> {
        let i = self.by_msisdn.find(hash(self.seed, msisdn), |&i| {
            self.subs[i as usize].msisdn == msisdn
        })?;
        self.subs.get(*i as usize)
    }

    /// The subscriber whose home address this is.
    #[inline]
    pub fn by_home(&self, home: u32) -> Option<&Subscriber> {
        let seed = self.seed.rotate_left(32);
        let i = self.by_home.find(hash(seed, u64::from(home)), |&i| {
            self.subs[i as usize].home == home
        })?;
        self.subs.get(*i as usize)
    }

    pub fn len(&self) -> usize {
        self.subs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// All subscribers in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Subscriber> + '_ {
        self.subs.iter()
    }

    /// Heap bytes held by the store.
    pub fn memory_bytes(&self) -> usize {
        self.subs.capacity() * std::mem::size_of::<Subscriber>()
            + self.by_msisdn.allocation_size()
            + self.by_home.allocation_size()
    }
}

/// Accumulates parsed blocks, then builds the indexes.
struct Builder<'p> {
    pools: &'p [Prefix],
    subs: Vec<Subscriber>,
    /// Line number of each subscriber (for duplicate messages); dropped by `finish`.
    line_of: Vec<u32>,
    /// Lines consumed so far.
    lines: u64,
    threads: usize,
    /// One output buffer per parser thread, reused from block to block.
    scratch: Vec<Part>,
}

/// A block part's result: subscribers and their line numbers relative to the part.
#[derive(Default)]
struct Part {
    subs: Vec<Subscriber>,
    line_of: Vec<u32>,
    lines: u64,
}

/// A parse error at a line relative to the part.
struct PartError {
    line: u64,
    msg: String,
}

impl<'p> Builder<'p> {
    fn new(pools: &'p [Prefix], estimate: usize) -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        Builder {
            pools,
            subs: Vec::with_capacity(estimate),
            line_of: Vec::with_capacity(estimate),
            lines: 0,
            threads,
            scratch: Vec::new(),
        }
    }

    fn too_long(&self, limit: usize) -> String {
        format!("line {}: longer than {} MiB", self.lines + 1, limit >> 20)
    }

    /// Parses whole lines (`block` ends at a line end, or at end of input).
    fn feed(&mut self, block: &[u8]) -> Result<(), String> {
        let parts = if self.threads > 1 && block.len() >= PARALLEL_MIN {
            split_lines(block, self.threads)
        } else {
            vec![block]
        };
        let pools = self.pools;
        if self.scratch.len() < parts.len() {
            self.scratch.resize_with(parts.len(), Part::default);
        }
        let scratch = &mut self.scratch[..parts.len()];
        let results: Vec<Result<(), PartError>> = match scratch.split_first_mut() {
            Some((first, rest)) if !rest.is_empty() => std::thread::scope(|s| {
                let handles: Vec<_> = parts[1..]
                    .iter()
                    .zip(rest.iter_mut())
                    .map(|(p, out)| s.spawn(move || parse_part(p, pools, out)))
                    .collect();
                let mut res = vec![parse_part(parts[0], pools, first)];
                for h in handles {
                    res.push(h.join().unwrap_or_else(|_| {
                        Err(PartError {
                            line: 0,
                            msg: "parser thread panicked".into(),
                        })
                    }));
                }
                res
            }),
            Some((first, _)) => vec![parse_part(block, pools, first)],
            None => Vec::new(),
        };
        for (r, p) in results.into_iter().zip(&self.scratch) {
            match r {
                Ok(()) => {
                    if self.subs.len() + p.subs.len() >= u32::MAX as usize {
                        return Err(format!("more than {} subscribers", u32::MAX - 1));
                    }
                    let base = self.lines;
                    let last = base + p.lines;
                    if last > u64::from(u32::MAX) {
                        return Err(format!("more than {} lines", u32::MAX));
                    }
                    self.subs.extend_from_slice(&p.subs);
                    self.line_of
                        .extend(p.line_of.iter().map(|&l| (base + u64::from(l)) as u32));
                    self.lines = last;
                }
                Err(e) => return Err(format!("line {}: {}", self.lines + e.line, e.msg)),
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Subscribers, String> {
        let Builder {
            mut subs, line_of, ..
        } = self;
        subs.shrink_to_fit();
        let seed =
            std::collections::hash_map::RandomState::new().hash_one(0x6d73_6d5f_7375_6273u64);
        let subs_ref = &subs;
        let build_msisdn = move || {
            build_index(
                subs_ref,
                |s| hash(seed, s.msisdn),
                |a, b| a.msisdn == b.msisdn,
            )
        };
        let hseed = seed.rotate_left(32);
        let build_home = move || {
            build_index(
                subs_ref,
                |s| hash(hseed, u64::from(s.home)),
                |a, b| a.home == b.home,
            )
        };
        let (by_msisdn, by_home) = if self.threads > 1 && subs.len() >= 1 << 16 {
            std::thread::scope(|s| {
                let h = s.spawn(build_home);
                let m = build_msisdn();
                let h = h.join().unwrap_or(Err((usize::MAX, 0)));
                (m, h)
            })
        } else {
            (build_msisdn(), build_home())
        };
        // Report the duplicate that comes first in the file.
        let dup_m = by_msisdn.as_ref().err().copied();
        let dup_h = by_home.as_ref().err().copied();
        let line = |i: usize| line_of.get(i).copied().unwrap_or(0);
        match (dup_m, dup_h) {
            (Some((i, j)), h) if !matches!(h, Some((k, _)) if k < i) => {
                return Err(format!(
                    "line {}: duplicate MSISDN {} (first on line {})",
                    line(i),
                    subs[i].msisdn,
                    line(j)
                ))
            }
            (_, Some((i, j))) if i < subs.len() => {
                return Err(format!(
                    "line {}: duplicate home address {} (first on line {})",
                    line(i),
                    Ipv4Addr::from(subs[i].home),
                    line(j)
                ))
            }
            (_, Some(_)) => return Err("index builder thread panicked".into()),
            _ => {}
        }
        let (Ok(by_msisdn), Ok(by_home)) = (by_msisdn, by_home) else {
            return Err("internal error building indexes".into());
        };
        Ok(Subscribers {
            subs,
            by_msisdn,
            by_home,
            seed,
        })
    }
}

/// Builds an index of positions into `subs`; `Err((dup, first))` on the first duplicate.
fn build_index(
    subs: &[Subscriber],
    h: impl Fn(&Subscriber) -> u64,
    eq: impl Fn(&Subscriber, &Subscriber) -> bool,
) -> Result<HashTable<u32>, (usize, usize)> {
    let mut t: HashTable<u32> = HashTable::with_capacity(subs.len());
    for (i, s) in subs.iter().enumerate() {
        match t.entry(
            h(s),
            |&j| eq(&subs[j as usize], s),
            |&j| h(&subs[j as usize]),
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => return Err((i, *o.get() as usize)),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(i as u32);
            }
        }
    }
    Ok(t)
}

/// Splits `block` into up to `n` parts, each ending at a line end.
fn split_lines(block: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (block.len() * k / n).max(start);
        let Some(p) = block[target..].iter().position(|&c| c == b'\n') else {
            break;
        };
        let end = target + p + 1;
        if end >= block.len() {
            break;
        }
        parts.push(&block[start..end]);
        start = end;
    }
    parts.push(&block[start..]);
    parts
}

/// Parses `part` into `out` (cleared first).
fn parse_part(part: &[u8], pools: &[Prefix], out: &mut Part) -> Result<(), PartError> {
    out.subs.clear();
    out.line_of.clear();
    out.lines = 0;
    let mut rest = part;
    let mut f: [&[u8]; 4] = [&[]; 4];
    while !rest.is_empty() {
        let (n, used) = split_line(rest, &mut f);
        rest = &rest[used..];
        out.lines += 1;
        match parse_fields(&f, n, pools) {
            Ok(None) => {}
            Ok(Some(s)) => {
                out.subs.push(s);
                // Lines of a part fit u32: a part is at most one block (64 MiB).
                out.line_of.push(out.lines as u32);
            }
            Err(msg) => {
                return Err(PartError {
                    line: out.lines,
                    msg,
                })
            }
        }
    }
    Ok(())
}

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
fn split_line<'a>(rest: &'a [u8], f: &mut [&'a [u8]; 4]) -> (usize, usize) {
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

const FORMAT: &str = "want 'MSISDN HOME_ADDRESS SPI KEY_HEX'";

/// Checks the fields of one line: `Ok(None)` for blank and comment lines.
fn parse_fields(f: &[&[u8]; 4], n: usize, pools: &[Prefix]) -> Result<Option<Subscriber>, String> {
    if n == 0 {
        return Ok(None);
    }
    if n != 4 {
        return Err(format!(
            "{FORMAT}, got {n} field{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    let msisdn = parse_msisdn(f[0])?;
    let home = parse_ipv4(f[1])
        .ok_or_else(|| format!("home address '{}' is not an IPv4 address", show(f[1])))?;
    if !msm_table::is_valid_home(home) {
        return Err(format!("home address {} is reserved", Ipv4Addr::from(home)));
    }
    if !pools.iter().any(|p| p.contains(home)) {
        let list: Vec<String> = pools.iter().take(4).map(|p| p.to_string()).collect();
        let more = if pools.len() > 4 { ", ..." } else { "" };
        return Err(format!(
            "home address {} is outside every home pool ({}{more})",
            Ipv4Addr::from(home),
            list.join(", ")
        ));
    }
    let spi = parse_u32(f[2]).ok_or_else(|| {
        format!(
            "bad SPI '{}': want a decimal number {MIN_SPI}..=4294967295",
            show(f[2])
        )
    })?;
    if spi < MIN_SPI {
        return Err(format!(
            "bad SPI {spi}: 0..=255 are reserved, want >= {MIN_SPI} (HMAC-SHA-256)"
        ));
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

fn parse_msisdn(f: &[u8]) -> Result<u64, String> {
    if f.is_empty() || f.len() > 15 || !f.iter().all(u8::is_ascii_digit) {
        return Err(format!("MSISDN '{}' is not 1..15 E.164 digits", show(f)));
    }
    if f[0] == b'0' {
        return Err(format!(
            "MSISDN '{}' starts with 0 (write it in international E.164 form, country code first)",
            show(f)
        ));
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

fn parse_key(f: &[u8]) -> Result<([u8; MAX_KEY_LEN], u8), String> {
    if let Some(p) = f.iter().position(|&c| HEX[c as usize] == 0xff) {
        return Err(format!(
            "bad key: not hex (character {} is '{}')",
            p + 1,
            show(&f[p..p + 1])
        ));
    }
    if f.len() & 1 == 1 {
        return Err(format!("bad key: odd number of hex digits ({})", f.len()));
    }
    let len = f.len() / 2;
    if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&len) {
        return Err(format!(
            "bad key: {len} bytes, want {MIN_KEY_LEN}..={MAX_KEY_LEN} ({}..={} hex digits)",
            2 * MIN_KEY_LEN,
            2 * MAX_KEY_LEN
        ));
    }
    let mut key = [0u8; MAX_KEY_LEN];
    for (k, pair) in key.iter_mut().zip(f.chunks_exact(2)) {
        *k = HEX[pair[0] as usize] << 4 | HEX[pair[1] as usize];
    }
    Ok((key, len as u8))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pools() -> Vec<Prefix> {
        vec![
            Prefix::parse("10.20.0.0/16").unwrap(),
            Prefix::parse("192.0.2.0/25").unwrap(),
        ]
    }

    const K16: &str = "00112233445566778899aabbccddeeff";
    const K32: &str = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "msm-subscribers-{}-{name}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn err(text: &str) -> String {
        Subscribers::parse(text, &pools()).unwrap_err()
    }

    #[test]
    fn subscribers_parse_and_lookup() {
        let text = format!(
            "# provisioning\n\n491701234567 10.20.0.7 256 {K32}   # alice\n\
             \t15551234567\t192.0.2.9\t4294967295\t{K16}\r\n1 10.20.255.254 300 {K16}"
        );
        let s = Subscribers::parse(&text, &pools()).unwrap();
        assert_eq!(s.len(), 3);
        let a = s.by_msisdn(491701234567).unwrap();
        assert_eq!(a.home, u32::from(Ipv4Addr::new(10, 20, 0, 7)));
        assert_eq!(a.spi, 256);
        assert_eq!(a.key().len(), 32);
        assert_eq!(a.key()[10], 0xaa);
        assert_eq!(a.key()[31], 0xff);
        let b = s.by_home(u32::from(Ipv4Addr::new(192, 0, 2, 9))).unwrap();
        assert_eq!(b.msisdn, 15551234567);
        assert_eq!(b.spi, u32::MAX);
        assert_eq!(b.key().len(), 16);
        assert_eq!(s.by_msisdn(1).unwrap().spi, 300);
        assert!(s.by_msisdn(491701234568).is_none());
        assert!(s.by_home(u32::from(Ipv4Addr::new(10, 20, 0, 8))).is_none());
        // The key never shows in Debug output.
        assert!(!format!("{a:?}").contains("aa"), "{a:?}");
        assert!(Subscribers::parse("# nothing\n\n", &pools())
            .unwrap()
            .is_empty());
        assert!(Subscribers::parse("", &pools()).unwrap().is_empty());
    }

    #[test]
    fn subscribers_errors_name_line_and_reason() {
        let ok = format!("491701234567 10.20.0.7 256 {K16}\n");
        let cases: Vec<(String, &str)> = vec![
            (format!("{ok}491701234567 10.20.0.8 256 {K16}\n"), "line 2: duplicate MSISDN 491701234567 (first on line 1)"),
            (format!("{ok}\n# x\n491701234568 10.20.0.7 256 {K16}\n"), "line 4: duplicate home address 10.20.0.7 (first on line 1)"),
            (format!("{ok}491701234568 10.21.0.7 256 {K16}\n"), "line 2: home address 10.21.0.7 is outside every home pool (10.20.0.0/16, 192.0.2.0/25)"),
            (format!("{ok}491701234568 192.0.2.128 256 {K16}\n"), "outside every home pool"),
            (format!("{ok}491701234568 10.20.0.07 256 {K16}\n"), "line 2: home address '10.20.0.07' is not an IPv4 address"),
            (format!("{ok}491701234568 10.20.0 256 {K16}\n"), "not an IPv4"),
            (format!("{ok}491701234568 10.20.0.1.1 256 {K16}\n"), "not an IPv4"),
            (format!("{ok}491701234568 10.20.0.256 256 {K16}\n"), "not an IPv4"),
            (format!("{ok}491701234568 10.20.0.8 255 {K16}\n"), "line 2: bad SPI 255"),
            (format!("{ok}491701234568 10.20.0.8 4294967296 {K16}\n"), "line 2: bad SPI '4294967296'"),
            (format!("{ok}491701234568 10.20.0.8 0x100 {K16}\n"), "bad SPI '0x100'"),
            (format!("{ok}491701234568 10.20.0.8 256 {K16}0\n"), "line 2: bad key: odd number"),
            (format!("{ok}491701234568 10.20.0.8 256 {}\n", &K16[..30]), "line 2: bad key: 15 bytes, want 16..=32"),
            (format!("{ok}491701234568 10.20.0.8 256 {K32}00\n"), "bad key: 33 bytes"),
            (format!("{ok}491701234568 10.20.0.8 256 {}g\n", &K16[..31]), "line 2: bad key: not hex (character 32 is 'g')"),
            (format!("{ok}491701234568 10.20.0.8 256\n"), "line 2: want 'MSISDN HOME_ADDRESS SPI KEY_HEX', got 3 fields"),
            (format!("{ok}491701234568 10.20.0.8 256 {K16} extra\n"), "got 5 fields"),
            (format!("{ok}491701234568\n"), "got 1 field"),
            (format!("{ok}4917012345678901 10.20.0.8 256 {K16}\n"), "line 2: MSISDN '4917012345678901' is not 1..15 E.164 digits"),
            (format!("{ok}+4917 10.20.0.8 256 {K16}\n"), "is not 1..15 E.164 digits"),
            (format!("{ok}04917 10.20.0.8 256 {K16}\n"), "starts with 0"),
            (format!("{ok}4917\u{e9} 10.20.0.8 256 {K16}\n"), "MSISDN '4917\u{e9}'"),
        ];
        for (text, want) in cases {
            let e = err(&text);
            assert!(e.contains(want), "text {text:?}\n got  {e}\n want {want}");
        }
        let zero = [Prefix::parse("0.0.0.0/0").unwrap()];
        let e = Subscribers::parse(&format!("1 0.0.0.0 256 {K16}"), &zero).unwrap_err();
        assert!(e.contains("reserved"), "{e}");
    }

    #[test]
    fn subscribers_never_panic_on_garbage() {
        let mut rng = 0x1234_5678_9abc_def0u64;
        let alphabet = b"0123456789abcdef. \t\n#\r\xff\x00g";
        for _ in 0..2000 {
            let mut t = Vec::new();
            for _ in 0..(rng % 200) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                t.push(alphabet[(rng % alphabet.len() as u64) as usize]);
            }
            let text = String::from_utf8_lossy(&t);
            let _ = Subscribers::parse(&text, &pools());
        }
    }

    #[test]
    fn subscribers_split_lines_covers_block() {
        let block = b"a\nbb\nccc\ndddd\n\neeeee";
        for n in 1..8 {
            let parts = split_lines(block, n);
            assert_eq!(parts.concat(), block.to_vec());
            for p in &parts[..parts.len() - 1] {
                assert_eq!(p.last(), Some(&b'\n'));
            }
        }
        assert_eq!(split_lines(b"", 4), vec![&b""[..]]);
    }

    /// A file big enough to be parsed in parallel parts and in several blocks keeps
    /// line numbers exact.
    #[test]
    fn subscribers_load_parallel_line_numbers() {
        let dir = TempDir::new("par");
        let pools = [Prefix::parse("10.0.0.0/8").unwrap()];
        let path = dir.0.join("subs.txt");
        let n = 100_000u64;
        write_test_file(&path, n, &pools).unwrap();
        let s = Subscribers::load(&path, &pools).unwrap();
        assert_eq!(s.len(), n as usize);
        for i in [0, 1, n / 2, n - 1] {
            let sub = s.by_msisdn(test_msisdn(i)).unwrap();
            assert_eq!(Some(sub.home), test_home(i, &pools));
            assert_eq!(sub.key(), &test_key(i)[..]);
            assert_eq!(s.by_home(sub.home).unwrap().msisdn, test_msisdn(i));
        }
        // A duplicate near the end: line numbers count the header comment.
        let mut text = std::fs::read_to_string(&path).unwrap();
        let line_of_i = |i: u64| i + 2;
        let dup = format!(
            "{} {} 256 {K16}\n",
            test_msisdn(n + 5),
            Ipv4Addr::from(test_home(7, &pools).unwrap())
        );
        text.push_str(&dup);
        std::fs::write(&path, &text).unwrap();
        let e = Subscribers::load(&path, &pools).unwrap_err();
        assert_eq!(
            e,
            format!(
                "{}: line {}: duplicate home address 10.0.0.7 (first on line {})",
                path.display(),
                n + 2,
                line_of_i(7)
            )
        );
        // A bad line deep in the second half of a parallel block.
        let mut lines: Vec<&str> = text.lines().collect();
        lines[90_001] = "bad line";
        std::fs::write(&path, lines.join("\n")).unwrap();
        let e = Subscribers::load(&path, &pools).unwrap_err();
        assert!(
            e.ends_with("line 90002: want 'MSISDN HOME_ADDRESS SPI KEY_HEX', got 2 fields"),
            "{e}"
        );
        let e = Subscribers::load(dir.0.join("missing"), &pools).unwrap_err();
        assert!(e.contains("missing") && e.contains("No such file"), "{e}");
    }

    /// The operator edits the file and asks for a reload: a bad file leaves the error
    /// (the caller keeps its old store); a good one changes the lookups.
    #[test]
    fn subscribers_reload() {
        let dir = TempDir::new("reload");
        let path = dir.0.join("subs.txt");
        std::fs::write(&path, format!("491701234567 10.20.0.7 256 {K16}\n")).unwrap();
        let mut store = Subscribers::load(&path, &pools()).unwrap();
        let home7 = u32::from(Ipv4Addr::new(10, 20, 0, 7));
        assert_eq!(store.by_home(home7).unwrap().msisdn, 491701234567);

        std::fs::write(
            &path,
            format!("491701234567 10.20.0.8 256 {K16}\n491701234567 10.20.0.9 256 {K16}\n"),
        )
        .unwrap();
        match Subscribers::load(&path, &pools()) {
            Ok(_) => panic!("bad reload accepted"),
            Err(e) => assert!(e.contains("line 2: duplicate MSISDN"), "{e}"),
        }
        assert_eq!(store.by_home(home7).unwrap().msisdn, 491701234567);

        std::fs::write(
            &path,
            format!("491701234567 10.20.0.8 257 {K32}\n491709999999 10.20.0.7 256 {K16}\n"),
        )
        .unwrap();
        store = Subscribers::load(&path, &pools()).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.by_home(home7).unwrap().msisdn, 491709999999);
        let a = store.by_msisdn(491701234567).unwrap();
        assert_eq!((a.home, a.spi, a.key().len()), (home7 + 1, 257, 32));
    }

    #[test]
    fn subscribers_test_homes_skip_reserved() {
        let all = [Prefix::parse("0.0.0.0/0").unwrap()];
        assert_eq!(test_home(0, &all), Some(1));
        assert_eq!(test_home(u64::from(u32::MAX) - 2, &all), Some(u32::MAX - 1));
        assert_eq!(test_home(u64::from(u32::MAX) - 1, &all), None);
        let p = pools();
        assert_eq!(
            test_home(65535, &p),
            Some(u32::from(Ipv4Addr::new(10, 20, 255, 255)))
        );
        assert_eq!(
            test_home(65536, &p),
            Some(u32::from(Ipv4Addr::new(192, 0, 2, 0)))
        );
        assert_eq!(test_home(65536 + 128, &p), None);
    }

    /// `cargo test --release -p msm --lib -- --ignored subscribers_load_10m --nocapture`
    /// (`MSM_SUBSCRIBERS_N` overrides the count).
    #[test]
    #[ignore]
    fn subscribers_load_10m() {
        let n: u64 = std::env::var("MSM_SUBSCRIBERS_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000);
        let dir = TempDir::new("10m");
        let pools = [Prefix::parse("10.0.0.0/8").unwrap()];
        let path = dir.0.join("subs.txt");
        let t = std::time::Instant::now();
        write_test_file(&path, n, &pools).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        println!(
            "generated {n} subscribers, {} MB, in {:.2?}",
            size >> 20,
            t.elapsed()
        );
        // Warm the page cache as a reload would find it, then time the load.
        let _ = std::fs::read(&path).map(|v| v.len());
        let t = std::time::Instant::now();
        let s = Subscribers::load(&path, &pools).unwrap();
        let dt = t.elapsed();
        let mem = s.memory_bytes();
        println!(
            "loaded {} subscribers in {:.2?} ({:.1} M lines/s); {} MB, {:.1} bytes/subscriber",
            s.len(),
            dt,
            n as f64 / dt.as_secs_f64() / 1e6,
            mem >> 20,
            mem as f64 / n as f64
        );
        assert_eq!(s.len() as u64, n);
        let t = std::time::Instant::now();
        let mut hits = 0u64;
        for i in (0..n).step_by(7) {
            let sub = s.by_msisdn(test_msisdn(i)).unwrap();
            hits += u64::from(s.by_home(sub.home).is_some());
        }
        println!(
            "{hits} msisdn+home lookups in {:.2?} ({:.0} ns each pair)",
            t.elapsed(),
            t.elapsed().as_nanos() as f64 / hits as f64
        );
    }
}
