//! Why a provisioning file was refused: the path, the line and the reason.

use super::{MAX_KEY_LEN, MIN_KEY_LEN, MIN_SPI};
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// [`super::Subscribers::load`] failed: `PATH: line N: reason` or `PATH: <I/O error>`.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    Parse { path: PathBuf, source: ParseError },
}

/// [`super::Subscribers::parse`] failed: which line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {reason}")]
    Line { line: u64, reason: LineError },
    #[error("line {line}: duplicate MSISDN {msisdn} (first on line {first})")]
    DuplicateMsisdn { line: u32, msisdn: u64, first: u32 },
    #[error("line {line}: duplicate home address {home} (first on line {first})")]
    DuplicateHome {
        line: u32,
        home: Ipv4Addr,
        first: u32,
    },
    #[error("line {line}: longer than {mib} MiB")]
    LineTooLong { line: u64, mib: usize },
    #[error("more than {} subscribers", u32::MAX - 1)]
    TooManySubscribers,
    #[error("more than {} lines", u32::MAX)]
    TooManyLines,
    /// A helper thread panicked, or the indexes are inconsistent (a bug).
    #[error("{0}")]
    Internal(&'static str),
}

impl ParseError {
    /// The line the error is about (from 1), if it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            ParseError::Line { line, .. } | ParseError::LineTooLong { line, .. } => Some(*line),
            ParseError::DuplicateMsisdn { line, .. } | ParseError::DuplicateHome { line, .. } => {
                Some(u64::from(*line))
            }
            _ => None,
        }
    }
}

/// What is wrong with one line on its own (fields quoted as written, at most 40
/// characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("want 'MSISDN HOME_ADDRESS SPI KEY_HEX', got {0} field{}", plural(*.0))]
    FieldCount(usize),
    #[error("MSISDN '{0}' is not 1..15 E.164 digits")]
    MsisdnNotDigits(String),
    #[error(
        "MSISDN '{0}' starts with 0 (write it in international E.164 form, country code first)"
    )]
    MsisdnLeadingZero(String),
    #[error("home address '{0}' is not an IPv4 address")]
    HomeNotIpv4(String),
    #[error("home address {0} is reserved")]
    HomeReserved(Ipv4Addr),
    /// `pools` lists the first four pools (`, ...` if there are more).
    #[error("home address {home} is outside every home pool ({pools})")]
    HomeOutsidePools { home: Ipv4Addr, pools: String },
    #[error("bad SPI '{0}': want a decimal number {MIN_SPI}..=4294967295")]
    SpiNotNumber(String),
    #[error("bad SPI {0}: 0..=255 are reserved, want >= {MIN_SPI} (HMAC-SHA-256)")]
    SpiReserved(u32),
    #[error("bad key: not hex (character {position} is '{character}')")]
    KeyNotHex { position: usize, character: String },
    #[error("bad key: odd number of hex digits ({0})")]
    KeyOddDigits(usize),
    #[error(
        "bad key: {0} bytes, want {MIN_KEY_LEN}..={MAX_KEY_LEN} ({}..={} hex digits)",
        2 * MIN_KEY_LEN,
        2 * MAX_KEY_LEN
    )]
    KeyLength(usize),
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
