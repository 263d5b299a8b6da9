//! TCP (RFC 9293) segments over IPv4, with MSS clamping.

use crate::ipv4::PROTO_TCP;
use crate::{be16, be32, checksum, put16, put32, Error};

/// Length of the TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Largest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// FIN flag.
pub const FLAG_FIN: u8 = 0x01;
/// SYN flag.
pub const FLAG_SYN: u8 = 0x02;
/// RST flag.
pub const FLAG_RST: u8 = 0x04;
/// PSH flag.
pub const FLAG_PSH: u8 = 0x08;
/// ACK flag.
pub const FLAG_ACK: u8 = 0x10;
/// URG flag.
pub const FLAG_URG: u8 = 0x20;
/// ECE flag.
pub const FLAG_ECE: u8 = 0x40;
/// CWR flag.
pub const FLAG_CWR: u8 = 0x80;

/// Option kind: end of option list.
pub const OPT_EOL: u8 = 0;
/// Option kind: no-operation.
pub const OPT_NOP: u8 = 1;
/// Option kind: maximum segment size (length 4).
pub const OPT_MSS: u8 = 2;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// A read/write view of a TCP segment. TCP has no length field: the buffer
/// must be exactly the segment (e.g. `Ipv4Packet::payload()`, which is
/// bounded by the IP total length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap a buffer without any check.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wrap a buffer and validate it: buffer < 20 bytes → `Truncated`;
    /// data offset < 5 → `BadHeaderLen`; header length > buffer →
    /// `Truncated`.
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
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::BadHeaderLen);
        }
        if hl > b.len() {
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
    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }
    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }
    /// Data offset in 32-bit words.
    #[inline]
    pub fn data_offset(&self) -> u8 {
        self.buffer.as_ref()[field::DATA_OFF] >> 4
    }
    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset()) * 4
    }
    /// The flags byte (CWR ECE URG ACK PSH RST SYN FIN).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// FIN set.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & FLAG_FIN != 0
    }
    /// SYN set.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }
    /// RST set.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & FLAG_RST != 0
    }
    /// PSH set.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags() & FLAG_PSH != 0
    }
    /// ACK set.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & FLAG_ACK != 0
    }
    /// URG set.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flags() & FLAG_URG != 0
    }
    /// ECE set.
    #[inline]
    pub fn ece(&self) -> bool {
        self.flags() & FLAG_ECE != 0
    }
    /// CWR set.
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flags() & FLAG_CWR != 0
    }
    /// Window size.
    #[inline]
    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT)
    }

    /// Options bytes (empty if the data offset is inconsistent).
    #[inline]
    pub fn options(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(HEADER_LEN..hl).unwrap_or_default()
    }

    /// Payload: everything after the header (empty if inconsistent).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(hl..).unwrap_or_default()
    }

    /// Offset (from the segment start) of the value of the first MSS option,
    /// or `None` if there is none or the option list is malformed (an option
    /// length < 2 or running past the header, or an MSS option whose length
    /// is not 4). Parsing stops at EOL.
    #[inline]
    fn mss_value_offset(&self) -> Option<usize> {
        let opts = self.options();
        let mut found = None;
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                OPT_EOL => break,
                OPT_NOP => i += 1,
                kind => {
                    let len = usize::from(*opts.get(i + 1)?);
                    if len < 2 || len > opts.len() - i {
                        return None;
                    }
                    if kind == OPT_MSS {
                        if len != 4 {
                            return None;
                        }
                        if found.is_none() {
                            found = Some(HEADER_LEN + i + 2);
                        }
                    }
                    i += len;
                }
            }
        }
        found
    }

    /// The value of the MSS option, if present and the options are well
    /// formed.
    #[inline]
    pub fn mss(&self) -> Option<u16> {
        self.mss_value_offset()
            .map(|off| be16(self.buffer.as_ref(), off))
    }

    /// Verify the checksum with the IPv4 pseudo header (host-order
    /// addresses); the segment is the whole buffer. False if the buffer is
    /// shorter than 20 bytes or longer than 65535.
    #[inline]
    pub fn verify_checksum(&self, src: u32, dst: u32) -> bool {
        let b = self.buffer.as_ref();
        let Ok(len) = u16::try_from(b.len()) else {
            return false;
        };
        if b.len() < HEADER_LEN {
            return false;
        }
        let ph = checksum::pseudo_header_sum(src, dst, PROTO_TCP, len);
        checksum::add(ph, checksum::sum(b)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Set the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }
    /// Set the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }
    /// Set the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SEQ, v);
    }
    /// Set the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::ACK, v);
    }
    /// Set the header length in bytes (stored as `len / 4`; the low nibble
    /// of byte 12, reserved/NS, is kept).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }
    /// Set the flags byte.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }
    /// Set the window size.
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::WINDOW, v);
    }
    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    /// Set the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::URGENT, v);
    }
    /// Mutable options.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..hl)
            .unwrap_or_default()
    }
    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer.as_mut().get_mut(hl..).unwrap_or_default()
    }

    /// Compute and store the checksum (the segment is the whole buffer).
    /// No-op if the buffer is shorter than 20 or longer than 65535 bytes.
    #[inline]
    pub fn fill_checksum(&mut self, src: u32, dst: u32) {
        let Ok(len) = u16::try_from(self.buffer.as_ref().len()) else {
            return;
        };
        if usize::from(len) < HEADER_LEN {
            return;
        }
        self.set_checksum(0);
        let ph = checksum::pseudo_header_sum(src, dst, PROTO_TCP, len);
        let c = !checksum::add(ph, checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
    }

    /// Clamp the MSS option to `max_mss`.
    ///
    /// Walks the options safely (EOL ends the list, NOP is one byte, every
    /// other option must have a length ≥ 2 that stays inside the header).
    /// If the list is well formed and its first MSS option (kind 2, length 4)
    /// carries a value greater than `max_mss`, the value is rewritten and the
    /// checksum patched incrementally (RFC 1624; an MSS at an odd offset is
    /// handled). Returns `Some((old, new))` when changed, `None` otherwise
    /// (no MSS, already small enough, malformed options: segment untouched).
    ///
    /// MSS is only meaningful on SYN segments; callers usually test
    /// [`syn`](Self::syn) first to keep other segments on the fast path.
    #[inline]
    pub fn clamp_mss(&mut self, max_mss: u16) -> Option<(u16, u16)> {
        let off = self.mss_value_offset()?;
        let old = be16(self.buffer.as_ref(), off);
        if old <= max_mss {
            return None;
        }
        let csum = self.checksum();
        let csum = if off % 2 == 0 {
            checksum::update_u16(csum, old, max_mss)
        } else {
            checksum::update_u16(csum, old.swap_bytes(), max_mss.swap_bytes())
        };
        put16(self.buffer.as_mut(), off, max_mss);
        self.set_checksum(csum);
        Some((old, max_mss))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: u32 = 0x0a00_0001;
    const DST: u32 = 0x0a00_0002;

    /// SYN with the given options (padded to a multiple of 4 with EOL) and
    /// a short payload; checksum filled.
    fn syn(opts: &[u8]) -> Vec<u8> {
        let olen = opts.len().div_ceil(4) * 4;
        let mut v = vec![0u8; 20 + olen + 3];
        v[0..2].copy_from_slice(&40000u16.to_be_bytes());
        v[2..4].copy_from_slice(&80u16.to_be_bytes());
        v[4..8].copy_from_slice(&0x01020304u32.to_be_bytes());
        v[12] = (((20 + olen) / 4) as u8) << 4;
        v[13] = FLAG_SYN;
        v[14..16].copy_from_slice(&65535u16.to_be_bytes());
        v[20..20 + opts.len()].copy_from_slice(opts);
        let n = v.len();
        v[n - 3..].copy_from_slice(b"xyz");
        TcpPacket::new_unchecked(&mut v[..]).fill_checksum(SRC, DST);
        v
    }

    #[test]
    fn getters_and_setters() {
        let v = syn(&[2, 4, 0x05, 0xb4]);
        let t = TcpPacket::new_checked(&v[..]).unwrap();
        assert_eq!(t.src_port(), 40000);
        assert_eq!(t.dst_port(), 80);
        assert_eq!(t.seq_number(), 0x01020304);
        assert_eq!(t.ack_number(), 0);
        assert_eq!(t.data_offset(), 6);
        assert_eq!(t.header_len(), 24);
        assert!(t.syn() && !t.ack() && !t.fin() && !t.rst());
        assert!(!t.psh() && !t.urg() && !t.ece() && !t.cwr());
        assert_eq!(t.window_len(), 65535);
        assert_eq!(t.urgent_at(), 0);
        assert_eq!(t.options(), &[2, 4, 0x05, 0xb4]);
        assert_eq!(t.payload(), b"xyz");
        assert_eq!(t.mss(), Some(1460));
        assert!(t.verify_checksum(SRC, DST));
        assert!(!t.verify_checksum(SRC, DST ^ 1));

        let mut b = [0u8; 24];
        let mut t = TcpPacket::new_unchecked(&mut b[..]);
        t.set_src_port(1);
        t.set_dst_port(2);
        t.set_seq_number(3);
        t.set_ack_number(4);
        t.set_header_len(24);
        t.set_flags(FLAG_ACK | FLAG_FIN | FLAG_PSH | FLAG_RST | FLAG_URG | FLAG_ECE | FLAG_CWR);
        t.set_window_len(5);
        t.set_urgent_at(6);
        t.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        t.fill_checksum(SRC, DST);
        assert!(t.check_len().is_ok());
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()),
            (1, 2, 3, 4)
        );
        assert!(t.ack() && t.fin() && t.psh() && t.rst() && t.urg() && t.ece() && t.cwr());
        assert!(!t.syn());
        assert_eq!((t.window_len(), t.urgent_at()), (5, 6));
        assert!(t.payload_mut().is_empty());
        assert!(t.verify_checksum(SRC, DST));
        t.set_checksum(0);
        assert!(!t.verify_checksum(SRC, DST));
        assert_eq!(t.mss(), None);
        assert_eq!(t.into_inner().len(), 24);
    }

    #[test]
    fn errors() {
        let v = syn(&[2, 4, 0x05, 0xb4]);
        for n in 0..20 {
            assert_eq!(
                TcpPacket::new_checked(&v[..n]).unwrap_err(),
                Error::Truncated
            );
        }
        for n in 20..24 {
            assert_eq!(
                TcpPacket::new_checked(&v[..n]).unwrap_err(),
                Error::Truncated
            );
        }
        for off in 0..5u8 {
            let mut x = v.clone();
            x[12] = off << 4;
            assert_eq!(
                TcpPacket::new_checked(&x[..]).unwrap_err(),
                Error::BadHeaderLen
            );
            // Unchecked view with bad offset: slices are empty, no panic.
            let mut t = TcpPacket::new_unchecked(&mut x[..]);
            assert!(t.options().is_empty());
            assert_eq!(t.clamp_mss(1), None);
        }
        let mut big = v.clone();
        big[12] = 0xf0; // 60 > 27
        let mut t = TcpPacket::new_unchecked(&mut big[..]);
        assert!(t.payload().is_empty());
        assert!(t.options_mut().is_empty());
        assert!(t.payload_mut().is_empty());
        assert_eq!(t.clamp_mss(1), None);
        assert!(!TcpPacket::new_unchecked(&v[..10]).verify_checksum(SRC, DST));
        let mut short = [0u8; 10];
        TcpPacket::new_unchecked(&mut short[..]).fill_checksum(SRC, DST);
        assert_eq!(short, [0u8; 10]);
    }

    fn clamp_ok(opts: &[u8], max: u16, expect: Option<(u16, u16)>) -> Vec<u8> {
        let mut v = syn(opts);
        let before = v.clone();
        let mut t = TcpPacket::new_checked(&mut v[..]).unwrap();
        assert_eq!(t.clamp_mss(max), expect, "opts {opts:?}");
        assert!(t.verify_checksum(SRC, DST), "opts {opts:?}");
        let inc = t.checksum();
        t.fill_checksum(SRC, DST);
        assert_eq!(t.checksum(), inc, "incremental == full for {opts:?}");
        if expect.is_none() {
            assert_eq!(v, before);
        } else {
            assert_eq!(TcpPacket::new_checked(&v[..]).unwrap().mss(), Some(max));
        }
        v
    }

    #[test]
    fn clamp_basic() {
        clamp_ok(&[2, 4, 0x05, 0xb4], 1400, Some((1460, 1400)));
        clamp_ok(&[2, 4, 0x05, 0xb4], 1460, None);
        clamp_ok(&[2, 4, 0x05, 0xb4], 1500, None);
        clamp_ok(&[2, 4, 0xff, 0xff], 0, Some((0xffff, 0)));
    }

    #[test]
    fn clamp_odd_offset_and_typical_syn() {
        // NOP before MSS puts the value at an odd offset.
        clamp_ok(&[1, 2, 4, 0x23, 0x28], 1360, Some((9000, 1360)));
        // Linux SYN: MSS, SACK-permitted, timestamps, NOP, window scale.
        let linux = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        clamp_ok(&linux, 1380, Some((1460, 1380)));
        // MSS after other options.
        clamp_ok(
            &[1, 1, 4, 2, 1, 3, 3, 7, 2, 4, 0x05, 0xb4],
            1200,
            Some((1460, 1200)),
        );
        // Only the first MSS option is considered.
        let v = clamp_ok(
            &[2, 4, 0x05, 0xb4, 2, 4, 0x23, 0x28],
            1400,
            Some((1460, 1400)),
        );
        assert_eq!(&v[24..28], &[2, 4, 0x23, 0x28]);
    }

    #[test]
    fn clamp_no_mss_or_malformed() {
        clamp_ok(&[], 1000, None);
        clamp_ok(&[1, 1, 1, 1], 1000, None);
        // MSS after EOL is ignored.
        clamp_ok(&[0, 0, 0, 0, 2, 4, 0x05, 0xb4], 1000, None);
        // Length 0 and 1 are malformed.
        clamp_ok(&[3, 0, 2, 4, 0x05, 0xb4], 1000, None);
        clamp_ok(&[3, 1, 2, 4, 0x05, 0xb4], 1000, None);
        // MSS with the wrong length.
        clamp_ok(&[2, 3, 0x05, 1], 1000, None);
        clamp_ok(&[2, 6, 0x05, 0xb4, 0, 0], 1000, None);
        // Option running past the header (MSS first, then a bad option):
        // nothing is changed.
        clamp_ok(&[2, 4, 0x05, 0xb4, 8, 10, 0, 0], 1000, None);
        // Kind byte at the very end without a length byte.
        clamp_ok(&[2, 4, 0x05, 0xb4, 1, 1, 1, 8], 1000, None);
        // MSS truncated by the header end.
        clamp_ok(&[1, 1, 2, 4], 1000, None);
    }
}
