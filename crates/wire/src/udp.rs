//! UDP (RFC 768) datagrams over IPv4.

use crate::ipv4::PROTO_UDP;
use crate::{be16, checksum, put16, Error};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A read/write view of a UDP datagram (an IPv4 payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wrap a buffer without any check.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wrap a buffer and validate it: buffer < 8 bytes → `Truncated`;
    /// length field < 8 → `BadLength`; length field > buffer → `Truncated`.
    /// The buffer may be longer than the length field.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Give back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field (header + payload).
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum field (0 = none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The datagram bytes up to the length field (empty if inconsistent).
    #[inline]
    pub fn datagram(&self) -> &[u8] {
        let len = usize::from(self.len());
        self.buffer.as_ref().get(..len).unwrap_or_default()
    }

    /// Payload, bounded by the length field (empty if inconsistent).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let len = usize::from(self.len());
        self.buffer
            .as_ref()
            .get(HEADER_LEN..len)
            .unwrap_or_default()
    }

    /// Verify the checksum with the IPv4 pseudo header (host-order
    /// addresses). A zero checksum means "not computed" and verifies.
    /// Returns false if the length field is inconsistent with the buffer.
    #[inline]
    pub fn verify_checksum(&self, src: u32, dst: u32) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let d = self.datagram();
        if d.len() < HEADER_LEN {
            return false;
        }
        let ph = checksum::pseudo_header_sum(src, dst, PROTO_UDP, self.len());
        checksum::add(ph, checksum::sum(d)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Set the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    /// Set the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    /// Set the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, csum);
    }

    /// Mutable payload, bounded by the length field.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..len)
            .unwrap_or_default()
    }

    /// Compute and store the checksum over the pseudo header and the
    /// datagram (up to the length field). A computed 0 is sent as 0xffff
    /// (RFC 768). No-op if the length field is inconsistent with the buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: u32, dst: u32) {
        let len = self.len();
        if usize::from(len) < HEADER_LEN || usize::from(len) > self.buffer.as_ref().len() {
            return;
        }
        self.set_checksum(0);
        let ph = checksum::pseudo_header_sum(src, dst, PROTO_UDP, len);
        let c = !checksum::add(ph, checksum::sum(self.datagram()));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: u32 = 0xc0a8_0001;
    const DST: u32 = 0xc0a8_00c7;

    #[rustfmt::skip]
    const DGRAM: [u8; 14] = [
        0x04, 0xd2, 0x16, 0x2e, // 1234 -> 5678
        0x00, 0x0c, 0x00, 0x00, // len 12, no checksum
        b'a', b'b', b'c', b'd',
        0xff, 0xff,             // trailing junk beyond len
    ];

    #[test]
    fn parse() {
        let u = UdpPacket::new_checked(&DGRAM[..]).unwrap();
        assert_eq!(u.src_port(), 1234);
        assert_eq!(u.dst_port(), 5678);
        assert_eq!(u.len(), 12);
        assert_eq!(u.checksum(), 0);
        assert_eq!(u.payload(), b"abcd");
        assert_eq!(u.datagram(), &DGRAM[..12]);
        assert!(u.verify_checksum(SRC, DST)); // zero = unchecked
        assert_eq!(u.into_inner().len(), 14);
    }

    #[test]
    fn checksum_roundtrip() {
        let mut b = DGRAM;
        let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
        u.fill_checksum(SRC, DST);
        assert_ne!(u.checksum(), 0);
        assert!(u.verify_checksum(SRC, DST));
        assert!(!u.verify_checksum(SRC, DST + 1));
        // Reference: manual pseudo header + datagram.
        let mut ph = Vec::new();
        ph.extend_from_slice(&SRC.to_be_bytes());
        ph.extend_from_slice(&DST.to_be_bytes());
        ph.extend_from_slice(&[0, 17, 0, 12]);
        let mut d = DGRAM[..12].to_vec();
        d[6..8].copy_from_slice(&u.checksum().to_be_bytes());
        ph.extend_from_slice(&d);
        assert_eq!(checksum::sum(&ph), 0xffff);
        u.payload_mut()[0] = b'z';
        assert!(!u.verify_checksum(SRC, DST));
    }

    #[test]
    fn zero_checksum_becomes_ffff() {
        // Find a payload word that makes the computed checksum zero.
        let mut b = [0u8; 10];
        b[4..6].copy_from_slice(&10u16.to_be_bytes());
        let mut u = UdpPacket::new_checked(&mut b[..]).unwrap();
        u.fill_checksum(SRC, DST);
        let c = u.checksum();
        // Adding ~c to the payload word turns the sum into 0xffff (checksum 0).
        u.payload_mut().copy_from_slice(&c.to_be_bytes());
        u.fill_checksum(SRC, DST);
        assert_eq!(u.checksum(), 0xffff);
        assert!(u.verify_checksum(SRC, DST));
    }

    #[test]
    fn errors() {
        for n in 0..8 {
            assert_eq!(
                UdpPacket::new_checked(&DGRAM[..n]).unwrap_err(),
                Error::Truncated
            );
        }
        assert_eq!(
            UdpPacket::new_checked(&DGRAM[..11]).unwrap_err(),
            Error::Truncated
        );
        for l in 0..8u8 {
            let mut b = DGRAM;
            b[5] = l;
            assert_eq!(
                UdpPacket::new_checked(&b[..]).unwrap_err(),
                Error::BadLength
            );
        }
        let mut b = DGRAM;
        b[5] = 8;
        assert!(UdpPacket::new_checked(&b[..]).unwrap().payload().is_empty());
    }

    #[test]
    fn inconsistent_unchecked_never_panics() {
        let mut b = DGRAM;
        b[4] = 0xff; // len 0xff0c > buffer
        b[6] = 1;
        let mut u = UdpPacket::new_unchecked(&mut b[..]);
        assert!(u.payload().is_empty());
        assert!(u.datagram().is_empty());
        assert!(!u.verify_checksum(SRC, DST));
        u.fill_checksum(SRC, DST);
        assert_eq!(u.checksum(), 0x0100); // untouched
        assert!(u.payload_mut().is_empty());
        u.set_len(4);
        assert!(!u.verify_checksum(SRC, DST));
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 8];
        let mut u = UdpPacket::new_unchecked(&mut b[..]);
        u.set_src_port(53);
        u.set_dst_port(5353);
        u.set_len(8);
        u.set_checksum(0xbeef);
        assert_eq!(
            (u.src_port(), u.dst_port(), u.len(), u.checksum()),
            (53, 5353, 8, 0xbeef)
        );
        assert!(u.check_len().is_ok());
    }
}
