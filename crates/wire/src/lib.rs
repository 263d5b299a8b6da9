//! Zero-copy typed views over packet bytes for the MSM mobility anchor.
//!
//! The design follows smoltcp's `wire` module: every protocol has a view
//! type `XxxPacket<T: AsRef<[u8]>> { buffer: T }` with
//!
//! * `new_unchecked(buf)` – wraps without looking at the bytes (the caller
//!   promises the buffer is long enough; fixed-offset getters index directly
//!   and may panic on a short buffer);
//! * `new_checked(buf) -> Result<Self, Error>` – validates every length field
//!   against the buffer, after which no accessor can panic;
//! * `into_inner()`, field getters, and setters when `T: AsMut<[u8]>`.
//!
//! Variable-length accessors (`payload()`, `options()`, ...) never panic even
//! on an unchecked or later-corrupted view: they return an empty slice when
//! the header's length fields point outside the buffer.
//!
//! Addresses are handled as `[u8; 4]` (wire order) or as `u32` in host order
//! (`src_u32()` = `u32::from_be_bytes(src())`), which is what the forwarding
//! hot path compares. `core::net::Ipv4Addr` conversions are provided too.
//!
//! The crate is `no_std` (the `std` feature, on by default, only adds
//! `impl std::error::Error for Error`), never allocates, and never links DPDK.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod frag;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use arp::ArpPacket;
pub use ethernet::EthernetFrame;
pub use icmp::Icmpv4Packet;
pub use ipv4::Ipv4Packet;
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

use core::fmt;

/// Everything that can go wrong when parsing or writing packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the fixed header, or shorter than a length
    /// field (IPv4 IHL or total length, TCP data offset, UDP length) claims.
    Truncated,
    /// The IP version nibble is not 4.
    BadVersion,
    /// A header-length field is below its minimum (IPv4 IHL < 5, TCP data
    /// offset < 5).
    BadHeaderLen,
    /// IPv4 total length is smaller than the header length.
    BadTotalLen,
    /// UDP length field is smaller than the 8-byte UDP header.
    BadLength,
    /// The packet is well formed but of a kind this crate does not handle
    /// (ARP for something other than Ethernet/IPv4, wrong EtherType, wrong
    /// IP protocol for the requested operation).
    Unsupported,
    /// The message is not the request the operation answers (ARP oper is
    /// not REQUEST, ICMP type is not ECHO_REQUEST).
    NotRequest,
    /// The packet is an IP fragment and the operation needs the whole
    /// datagram (e.g. answering an echo request).
    Fragmented,
    /// The output buffer is too small for what has to be written.
    BufferTooSmall,
    /// The result would not fit in the 16-bit IPv4 total length or the
    /// 13-bit fragment offset.
    Oversize,
    /// Fragmentation was needed but the packet has DF set.
    DontFragment,
    /// The MTU cannot carry the IP header plus 8 bytes of payload.
    BadMtu,
    /// IPv4 options are malformed (an option length runs past the header
    /// or is below 2).
    BadOptions,
    /// A fragment sink asked to stop.
    Aborted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::Truncated => "buffer truncated",
            Error::BadVersion => "IP version is not 4",
            Error::BadHeaderLen => "header length field below minimum",
            Error::BadTotalLen => "IPv4 total length smaller than header length",
            Error::BadLength => "UDP length smaller than UDP header",
            Error::Unsupported => "unsupported packet kind",
            Error::NotRequest => "not a request",
            Error::Fragmented => "packet is a fragment",
            Error::BufferTooSmall => "output buffer too small",
            Error::Oversize => "result exceeds IPv4 length or offset limits",
            Error::DontFragment => "fragmentation needed but DF set",
            Error::BadMtu => "MTU too small to fragment",
            Error::BadOptions => "malformed IPv4 options",
            Error::Aborted => "fragment sink aborted",
        };
        f.write_str(s)
    }
}

#[cfg(any(test, feature = "std"))]
impl std::error::Error for Error {}

/// Read a big-endian `u16` at `off`. Callers guarantee `off + 2 <= b.len()`
/// (or accept a panic on an unchecked view).
#[inline(always)]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Read a big-endian `u32` at `off`.
#[inline(always)]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Write a big-endian `u16` at `off`.
#[inline(always)]
pub(crate) fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

/// Write a big-endian `u32` at `off`.
#[inline(always)]
pub(crate) fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// Read 4 bytes at `off`.
#[inline(always)]
pub(crate) fn arr4(b: &[u8], off: usize) -> [u8; 4] {
    [b[off], b[off + 1], b[off + 2], b[off + 3]]
}

/// Read 6 bytes at `off`.
#[inline(always)]
pub(crate) fn arr6(b: &[u8], off: usize) -> [u8; 6] {
    [
        b[off],
        b[off + 1],
        b[off + 2],
        b[off + 3],
        b[off + 4],
        b[off + 5],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_and_traits() {
        let all = [
            Error::Truncated,
            Error::BadVersion,
            Error::BadHeaderLen,
            Error::BadTotalLen,
            Error::BadLength,
            Error::Unsupported,
            Error::NotRequest,
            Error::Fragmented,
            Error::BufferTooSmall,
            Error::Oversize,
            Error::DontFragment,
            Error::BadMtu,
            Error::BadOptions,
            Error::Aborted,
        ];
        for (i, e) in all.iter().enumerate() {
            let s = e.to_string();
            assert!(!s.is_empty());
            // Messages are distinct.
            for other in &all[i + 1..] {
                assert_ne!(s, other.to_string());
            }
            let copy = *e; // Copy
            assert_eq!(copy, *e);
            let _: &dyn std::error::Error = e;
        }
    }
}
