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
//! The store is an open-addressing table of 64-byte records keyed by MSISDN, one cache
//! line per subscriber holding its provisioning *and* the registrar's replay state and
//! admission bucket (`records.rs`), at most 80 % full, plus a one-byte tag per slot; and
//! an index by home address of `u32` slot numbers (`hashbrown::HashTable<u32>`: 5 bytes a
//! bucket, buckets a power of two at most 7/8 full). About 89 bytes per subscriber at 10
//! million (80 + 1 + 8), replay state included.
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

mod builder;
mod error;
mod fields;
pub(crate) mod records;
mod testdata;
#[cfg(test)]
mod tests;

pub use error::{LineError, LoadError, ParseError};
/// What [`Subscribers::load`] returns (a reload thread sends it to the control lcore).
pub type LoadResult = Result<Subscribers, LoadError>;

pub use testdata::{test_home, test_key, test_msisdn, write_test_file};

use crate::config::Prefix;
use builder::Builder;
use hashbrown::HashTable;
use records::Records;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
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

/// The provisioned subscribers, indexed by MSISDN and by home address. The provisioning
/// is immutable once built; the records also carry the registrar's per-subscriber state,
/// which only the registrar changes (`records_mut`). `Send + Sync`.
pub struct Subscribers {
    records: Records,
    /// Slot numbers in `records`, by home address.
    by_home: HashTable<u32>,
    seed: u64,
}

impl fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribers")
            .field("len", &self.records.len())
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
    pub fn parse(text: &str, pools: &[Prefix]) -> Result<Subscribers, ParseError> {
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
    pub fn load(path: impl AsRef<Path>, pools: &[Prefix]) -> LoadResult {
        let path = path.as_ref();
        let io_error = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let parse_error = |source| LoadError::Parse {
            path: path.to_path_buf(),
            source,
        };
        let mut f = File::open(path).map_err(io_error)?;
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
                    Err(e) => return Err(io_error(e)),
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
                        return Err(parse_error(b.too_long(buf.len())));
                    }
                }
            };
            let b = b.get_or_insert_with(|| {
                // Pre-size from the line density of the first block.
                let lines = buf[..end].iter().filter(|&&c| c == b'\n').count().max(1);
                let est = (size as f64 * lines as f64 / end.max(1) as f64 * 1.02) as usize;
                Builder::new(pools, est.min(u32::MAX as usize))
            });
            b.feed(&buf[..end]).map_err(parse_error)?;
            if eof {
                break;
            }
            buf.copy_within(end..filled, 0);
            filled -= end;
        }
        match b {
            Some(b) => b.finish().map_err(parse_error),
            None => Builder::new(pools, 0).finish().map_err(parse_error),
        }
    }

    /// The subscriber with this MSISDN.
    #[inline]
    pub fn by_msisdn(&self, msisdn: u64) -> Option<Subscriber> {
        let i = self.records.find(msisdn)?;
        Some(self.records.get(i).subscriber())
    }

    /// The subscriber whose home address this is.
    #[inline]
    pub fn by_home(&self, home: u32) -> Option<Subscriber> {
        let seed = self.seed.rotate_left(32);
        let i = self.by_home.find(hash(seed, u64::from(home)), |&i| {
            self.records.get(i as usize).subscriber().home == home
        })?;
        Some(self.records.get(*i as usize).subscriber())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    /// All subscribers, in table order.
    pub fn iter(&self) -> impl Iterator<Item = Subscriber> + '_ {
        self.records.iter().map(|(_, r)| r.subscriber())
    }

    /// The records (with the registrar's state).
    pub(crate) fn records(&self) -> &Records {
        &self.records
    }

    /// The records, to change the registrar's state in them.
    pub(crate) fn records_mut(&mut self) -> &mut Records {
        &mut self.records
    }

    /// Heap bytes held by the store.
    pub fn memory_bytes(&self) -> usize {
        self.records.memory_bytes() + self.by_home.allocation_size()
    }
}
