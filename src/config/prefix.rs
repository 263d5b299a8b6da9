//! IPv4 prefixes (`a.b.c.d/len`): the home pools and port subnets.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: u32,
    pub len: u8,
}

/// Why a text is not a prefix; the message quotes the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("'{0}' is not a prefix (want a.b.c.d/len)")]
    NoLength(String),
    #[error("'{0}' is not an IPv4 address")]
    BadAddress(String),
    #[error("'{0}' is not a prefix length 0..=32")]
    BadLength(String),
    #[error("'{text}' has host bits set (did you mean {network}/{len}?)")]
    HostBitsSet {
        text: String,
        network: Ipv4Addr,
        len: u8,
    },
}

impl Prefix {
    pub fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }

    #[inline]
    pub fn contains(self, a: u32) -> bool {
        a & self.mask() == self.addr
    }

    /// Parses `a.b.c.d/len`; host bits must be zero.
    pub fn parse(s: &str) -> Result<Prefix, PrefixError> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| PrefixError::NoLength(s.to_string()))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| PrefixError::BadAddress(a.to_string()))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| PrefixError::BadLength(l.to_string()))?;
        let p = Prefix {
            addr: u32::from(addr),
            len,
        };
        if p.addr & !p.mask() != 0 {
            return Err(PrefixError::HostBitsSet {
                text: s.to_string(),
                network: Ipv4Addr::from(p.addr & p.mask()),
                len,
            });
        }
        Ok(p)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}
