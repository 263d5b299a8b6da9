//! IPv4 (RFC 791) packets and IP-in-IP (RFC 2003) encapsulation.

use crate::{arr4, be16, checksum, put16, Error};
use core::net::Ipv4Addr;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// Same as [`HEADER_LEN`].
pub const MIN_HEADER_LEN: usize = 20;
/// Largest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Largest IPv4 total length.
pub const MAX_PACKET_LEN: usize = 65535;
/// Default TTL for locally generated packets.
pub const DEFAULT_TTL: u8 = 64;

/// Protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// Protocol number of IP-in-IP (RFC 2003).
pub const PROTO_IPIP: u8 = 4;
/// Protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// Protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Don't-fragment bit in the flags/fragment-offset word.
pub const FLAG_DF: u16 = 0x4000;
/// More-fragments bit in the flags/fragment-offset word.
pub const FLAG_MF: u16 = 0x2000;
/// Fragment-offset mask (in units of 8 bytes) of the flags/offset word.
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// A read/write view of an IPv4 packet.
///
/// After [`new_checked`](Self::new_checked) the header length and total
/// length are known to be consistent with the buffer. The buffer may be
/// longer than the packet (Ethernet padding): [`payload`](Self::payload) is
/// bounded by the total length field, never by the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap a buffer without any check. Fixed-field getters panic if the
    /// buffer is shorter than 20 bytes; slice getters never panic.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wrap a buffer and validate it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validate the header only, allowing the buffer to hold less than the
    /// total length (e.g. a truncated copy quoted in an ICMP error):
    ///
    /// * buffer < 20 bytes: `Truncated`
    /// * version != 4: `BadVersion`
    /// * IHL < 5: `BadHeaderLen`
    /// * header length > buffer: `Truncated`
    /// * total length < header length: `BadTotalLen`
    #[inline]
    pub fn check_header(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Error::BadVersion);
        }
        let hl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if hl < HEADER_LEN {
            return Err(Error::BadHeaderLen);
        }
        if hl > b.len() {
            return Err(Error::Truncated);
        }
        if usize::from(be16(b, field::TOTAL_LEN)) < hl {
            return Err(Error::BadTotalLen);
        }
        Ok(())
    }

    /// [`check_header`](Self::check_header), plus: total length > buffer
    /// length gives `Truncated`.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        self.check_header()?;
        if usize::from(self.total_len()) > self.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Give back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole underlying buffer (may extend past the total length).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version nibble (4 for a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Internet header length in 32-bit words.
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0f
    }

    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// The DSCP/ECN byte (the old TOS byte).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Differentiated services code point (upper 6 bits of the TOS byte).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }

    /// Explicit congestion notification (lower 2 bits of the TOS byte).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }

    /// Total length (header + payload) in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }

    /// The raw flags + fragment offset word.
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG)
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in **bytes** (the field value times 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// True if this is a fragment of a larger datagram (MF set or offset
    /// non-zero).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address (wire order).
    #[inline]
    pub fn src(&self) -> [u8; 4] {
        arr4(self.buffer.as_ref(), field::SRC)
    }

    /// Source address as a host-order `u32`.
    #[inline]
    pub fn src_u32(&self) -> u32 {
        u32::from_be_bytes(self.src())
    }

    /// Source address as `Ipv4Addr`.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src())
    }

    /// Destination address (wire order).
    #[inline]
    pub fn dst(&self) -> [u8; 4] {
        arr4(self.buffer.as_ref(), field::DST)
    }

    /// Destination address as a host-order `u32`.
    #[inline]
    pub fn dst_u32(&self) -> u32 {
        u32::from_be_bytes(self.dst())
    }

    /// Destination address as `Ipv4Addr`.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst())
    }

    /// The header, options included (empty if IHL points past the buffer).
    #[inline]
    pub fn header(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(..hl).unwrap_or_default()
    }

    /// The options bytes (between byte 20 and the header length).
    #[inline]
    pub fn options(&self) -> &[u8] {
        let hl = self.header_len();
        self.buffer.as_ref().get(HEADER_LEN..hl).unwrap_or_default()
    }

    /// The payload, from the header length to the **total length** (trailing
    /// link-layer padding excluded). Empty if the lengths are inconsistent
    /// with the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        self.buffer.as_ref().get(hl..tl).unwrap_or_default()
    }

    /// The packet bytes up to the total length (empty if the total length
    /// exceeds the buffer).
    #[inline]
    pub fn packet(&self) -> &[u8] {
        let tl = usize::from(self.total_len());
        self.buffer.as_ref().get(..tl).unwrap_or_default()
    }

    /// True if the header checksum is correct (false if the header does not
    /// fit in the buffer).
    #[inline(always)]
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        // The common header without options: a fixed-size, straight-line sum, inlined.
        if let Some(h) = b.first_chunk::<HEADER_LEN>() {
            if h[field::VER_IHL] & 0x0f == 5 {
                return checksum::sum20(h) == 0xffff;
            }
        }
        self.verify_checksum_general()
    }

    /// [`verify_checksum`](Self::verify_checksum) for headers with options (or
    /// truncated ones): out of line.
    #[cold]
    #[inline(never)]
    fn verify_checksum_general(&self) -> bool {
        let h = self.header();
        !h.is_empty() && checksum::sum(h) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Set the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Set the header length in bytes (stored as `len / 4`, 4 bits).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Set the DSCP/ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    /// Set the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), field::TOTAL_LEN, len);
    }

    /// Set the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        put16(self.buffer.as_mut(), field::IDENT, ident);
    }

    /// Set the raw flags + fragment offset word.
    #[inline]
    pub fn set_flags_frag(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }

    /// Set or clear DF.
    #[inline]
    pub fn set_dont_frag(&mut self, on: bool) {
        let v = self.flags_frag();
        self.set_flags_frag(if on { v | FLAG_DF } else { v & !FLAG_DF });
    }

    /// Set or clear MF.
    #[inline]
    pub fn set_more_frags(&mut self, on: bool) {
        let v = self.flags_frag();
        self.set_flags_frag(if on { v | FLAG_MF } else { v & !FLAG_MF });
    }

    /// Set the fragment offset in bytes (low 3 bits are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = self.flags_frag();
        self.set_flags_frag((v & !FRAG_OFFSET_MASK) | (bytes >> 3));
    }

    /// Set the TTL (checksum not updated).
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Set the protocol.
    #[inline]
    pub fn set_protocol(&mut self, proto: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = proto;
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, csum);
    }

    /// Set the source address.
    #[inline]
    pub fn set_src(&mut self, addr: [u8; 4]) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&addr);
    }

    /// Set the source address from a host-order `u32`.
    #[inline]
    pub fn set_src_u32(&mut self, addr: u32) {
        self.set_src(addr.to_be_bytes());
    }

    /// Set the destination address.
    #[inline]
    pub fn set_dst(&mut self, addr: [u8; 4]) {
        self.buffer.as_mut()[field::DST..field::DST + 4].copy_from_slice(&addr);
    }

    /// Set the destination address from a host-order `u32`.
    #[inline]
    pub fn set_dst_u32(&mut self, addr: u32) {
        self.set_dst(addr.to_be_bytes());
    }

    /// Recompute the header checksum over the whole header.
    /// No-op if the header does not fit in the buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        if let Some(h) = self.buffer.as_mut().get_mut(..hl) {
            if hl >= HEADER_LEN {
                h[field::CHECKSUM] = 0;
                h[field::CHECKSUM + 1] = 0;
                let c = checksum::checksum(h);
                put16(h, field::CHECKSUM, c);
            }
        }
    }

    /// Decrement the TTL by one and patch the checksum incrementally
    /// (RFC 1624); returns the new TTL. The result equals a full
    /// recomputation whenever the old checksum was correct.
    ///
    /// A TTL of 0 is left untouched (returns 0): forwarders check
    /// `ttl() <= 1` first and send ICMP Time Exceeded instead.
    #[inline]
    pub fn decrement_ttl_update_checksum(&mut self) -> u8 {
        let ttl = self.ttl();
        if ttl == 0 {
            return 0;
        }
        // The word (TTL, protocol) drops by 0x0100, so the checksum grows by
        // 0x0100 in one's complement (RFC 1624 eqn. 3 with m' = m - 0x100):
        // one add with end-around carry (at most 0x100ff, so one fold). A
        // full recomputation never gives 0xffff (that needs an all-zero
        // header), so that representation of zero is written as 0x0000.
        let c = u32::from(self.checksum()) + 0x0100;
        let c = (c & 0xffff) + (c >> 16);
        let c = if c == 0xffff { 0 } else { c as u16 };
        self.set_ttl(ttl - 1);
        self.set_checksum(c);
        ttl - 1
    }

    /// Mutable header (empty if it does not fit in the buffer).
    #[inline]
    pub fn header_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer.as_mut().get_mut(..hl).unwrap_or_default()
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

    /// Mutable payload (bounded by the total length).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        self.buffer.as_mut().get_mut(hl..tl).unwrap_or_default()
    }
}

/// The fields of an option-less IPv4 header, for emitting one in a single
/// straight-line write with its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv4Repr {
    /// DSCP/ECN byte.
    pub dscp_ecn: u8,
    /// Total length (20 + payload).
    pub total_len: u16,
    /// Identification.
    pub ident: u16,
    /// Raw flags + fragment offset word (see [`FLAG_DF`], [`FLAG_MF`]).
    pub flags_frag: u16,
    /// TTL.
    pub ttl: u8,
    /// Protocol.
    pub protocol: u8,
    /// Source, host order.
    pub src: u32,
    /// Destination, host order.
    pub dst: u32,
}

impl Ipv4Repr {
    /// Header checksum of the 20-byte header this repr describes, computed
    /// as a straight-line sum of its ten 16-bit words.
    #[inline]
    pub const fn header_checksum(&self) -> u16 {
        let s: u32 = 0x4500
            + self.dscp_ecn as u32
            + self.total_len as u32
            + self.ident as u32
            + self.flags_frag as u32
            + ((self.ttl as u32) << 8)
            + self.protocol as u32
            + (self.src >> 16)
            + (self.src & 0xffff)
            + (self.dst >> 16)
            + (self.dst & 0xffff);
        let s = (s & 0xffff) + (s >> 16);
        let s = (s & 0xffff) + (s >> 16);
        !(s as u16)
    }

    /// The 20 header bytes, checksum included.
    #[inline]
    pub const fn to_bytes(&self) -> [u8; 20] {
        let tl = self.total_len.to_be_bytes();
        let id = self.ident.to_be_bytes();
        let ff = self.flags_frag.to_be_bytes();
        let c = self.header_checksum().to_be_bytes();
        let s = self.src.to_be_bytes();
        let d = self.dst.to_be_bytes();
        [
            0x45,
            self.dscp_ecn,
            tl[0],
            tl[1],
            id[0],
            id[1],
            ff[0],
            ff[1],
            self.ttl,
            self.protocol,
            c[0],
            c[1],
            s[0],
            s[1],
            s[2],
            s[3],
            d[0],
            d[1],
            d[2],
            d[3],
        ]
    }

    /// Write the 20-byte header at the start of `out`
    /// (`Err(BufferTooSmall)` if `out` is shorter).
    #[inline]
    pub fn emit(&self, out: &mut [u8]) -> Result<(), Error> {
        let h = out.get_mut(..HEADER_LEN).ok_or(Error::BufferTooSmall)?;
        h.copy_from_slice(&self.to_bytes());
        Ok(())
    }
}

/// Build the outer header repr for RFC 2003 encapsulation of `inner`
/// (`inner` needs at least its first 20 bytes).
#[inline]
fn ipip_repr(inner: &[u8], src: u32, dst: u32, ttl: u8, ident: u16) -> Result<Ipv4Repr, Error> {
    if inner.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    if inner[field::VER_IHL] >> 4 != 4 {
        return Err(Error::BadVersion);
    }
    let total = u32::from(be16(inner, field::TOTAL_LEN)) + HEADER_LEN as u32;
    if total > MAX_PACKET_LEN as u32 {
        return Err(Error::Oversize);
    }
    Ok(Ipv4Repr {
        dscp_ecn: inner[field::DSCP_ECN],
        total_len: total as u16,
        ident,
        flags_frag: be16(inner, field::FLAGS_FRAG) & FLAG_DF,
        ttl,
        protocol: PROTO_IPIP,
        src,
        dst,
    })
}

/// Write the 20-byte outer IPv4 header for IP-in-IP (RFC 2003) into
/// `out[..20]`, given the inner packet's header bytes in `inner`.
///
/// Contract: version 4, IHL 5, TOS copied from the inner header, DF copied
/// from the inner header, MF 0, offset 0, the given TTL and ident, protocol
/// 4, total length = 20 + inner total length, correct checksum (computed
/// straight-line, no loop). `src`/`dst` are host-order.
///
/// Errors: `BufferTooSmall` (`out` < 20 bytes), `Truncated` (`inner` < 20
/// bytes), `BadVersion` (inner is not IPv4), `Oversize` (inner total length
/// above 65515). Only those inner fields are read; validating the inner
/// packet is the caller's job.
#[inline]
pub fn write_ipip_header(
    out: &mut [u8],
    inner: &[u8],
    src: u32,
    dst: u32,
    ttl: u8,
    ident: u16,
) -> Result<(), Error> {
    if out.len() < HEADER_LEN {
        return Err(Error::BufferTooSmall);
    }
    ipip_repr(inner, src, dst, ttl, ident)?.emit(out)
}

/// Like [`write_ipip_header`] for the usual in-place case: `buf[..20]` is
/// the room prepended for the outer header and `buf[20..]` holds the inner
/// packet. `Err(Truncated)` if `buf` is shorter than 40 bytes.
#[inline]
pub fn write_ipip_header_in_place(
    buf: &mut [u8],
    src: u32,
    dst: u32,
    ttl: u8,
    ident: u16,
) -> Result<(), Error> {
    if buf.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    let (out, inner) = buf.split_at_mut(HEADER_LEN);
    let repr = ipip_repr(inner, src, dst, ttl, ident)?;
    out.copy_from_slice(&repr.to_bytes());
    Ok(())
}

/// The constant part of an RFC 2003 outer header, precomputed once per tunnel source
/// (per worker): version/IHL 5, the tunnel's TTL, protocol 4, the source address, and
/// the one's-complement partial sum over those words. [`write_in_place`](Self::write_in_place)
/// then only reads the inner header's first 8 bytes, adds the per-packet words (TOS,
/// total length, identification, DF, destination) to the partial sum and stores five
/// 32-bit words: the same bytes as [`write_ipip_header_in_place`] with the same `src`
/// and `ttl` (same contract: TOS and DF copied from the inner header, MF and offset 0,
/// correct checksum; same errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpipTemplate {
    /// Bytes 8..12 without the checksum: TTL, protocol 4, 0, 0.
    ttl_proto: u32,
    src: u32,
    /// Unfolded sum of 0x4500, TTL/protocol and the source's two halves.
    partial: u32,
}

impl IpipTemplate {
    /// The template for tunnels from `src` (host order) with outer TTL `ttl`.
    #[inline]
    pub const fn new(src: u32, ttl: u8) -> Self {
        let tp = ((ttl as u32) << 8) | PROTO_IPIP as u32;
        IpipTemplate {
            ttl_proto: tp << 16,
            src,
            partial: 0x4500 + tp + (src >> 16) + (src & 0xffff),
        }
    }

    /// Writes the outer header toward `dst` (host order) with identification `ident`
    /// into `buf[..20]`, for the inner IPv4 packet at `buf[20..]`. Errors:
    /// `Truncated` (`buf` shorter than 40 bytes), `BadVersion` (inner not IPv4),
    /// `Oversize` (inner total length above 65515), as [`write_ipip_header_in_place`].
    #[inline(always)]
    pub fn write_in_place(&self, buf: &mut [u8], dst: u32, ident: u16) -> Result<(), Error> {
        let Some((out, inner)) = buf.split_first_chunk_mut::<HEADER_LEN>() else {
            return Err(Error::Truncated);
        };
        let Some(inner) = inner.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated);
        };
        let w0 = u32::from_be_bytes([inner[0], inner[1], inner[2], inner[3]]);
        if w0 >> 28 != 4 {
            return Err(Error::BadVersion);
        }
        let total = (w0 & 0xffff) + HEADER_LEN as u32;
        if total > MAX_PACKET_LEN as u32 {
            return Err(Error::Oversize);
        }
        let tos = (w0 >> 16) & 0xff;
        let df = u32::from(inner[6]) << 8 & u32::from(FLAG_DF);
        let id = u32::from(ident);
        let s = self.partial + tos + total + id + df + (dst >> 16) + (dst & 0xffff);
        let s = (s & 0xffff) + (s >> 16);
        let s = (s & 0xffff) + (s >> 16);
        let c = !s & 0xffff;
        out[0..4].copy_from_slice(&(0x4500_0000 | tos << 16 | total).to_be_bytes());
        out[4..8].copy_from_slice(&(id << 16 | df).to_be_bytes());
        out[8..12].copy_from_slice(&(self.ttl_proto | c).to_be_bytes());
        out[12..16].copy_from_slice(&self.src.to_be_bytes());
        out[16..20].copy_from_slice(&dst.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20-byte header + 8 bytes payload + 4 bytes Ethernet padding.
    #[rustfmt::skip]
    const PKT: [u8; 32] = [
        0x45, 0xb8, 0x00, 0x1c, // v4 ihl5, tos b8, total 28
        0x12, 0x34, 0x40, 0x00, // ident, DF
        0x40, 0x11, 0x00, 0x00, // ttl 64, UDP, checksum (filled in tests)
        0xc0, 0xa8, 0x01, 0x02, // 192.168.1.2
        0x0a, 0x00, 0x00, 0x01, // 10.0.0.1
        1, 2, 3, 4, 5, 6, 7, 8, // payload
        0xee, 0xee, 0xee, 0xee, // padding
    ];

    fn pkt() -> [u8; 32] {
        let mut p = PKT;
        Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
        p
    }

    #[test]
    fn getters() {
        let b = pkt();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.ihl(), 5);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0xb8);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_UDP);
        assert_eq!(p.src(), [192, 168, 1, 2]);
        assert_eq!(p.src_u32(), 0xc0a8_0102);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!(p.dst(), [10, 0, 0, 1]);
        assert_eq!(p.dst_u32(), 0x0a00_0001);
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert!(p.options().is_empty());
        assert_eq!(p.header(), &b[..20]);
        // Payload stops at total_len, not at the padded buffer end.
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.packet(), &b[..28]);
        assert_eq!(p.as_bytes().len(), 32);
        assert!(p.verify_checksum());
        assert_eq!(
            checksum::checksum(&{
                let mut h = [0u8; 20];
                h.copy_from_slice(&b[..20]);
                h[10] = 0;
                h[11] = 0;
                h
            }),
            p.checksum()
        );
        assert_eq!(p.into_inner().len(), 32);
    }

    #[test]
    fn known_checksum() {
        // Wikipedia example header, checksum 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let mut v = [0u8; 0x73];
        v[..20].copy_from_slice(&h);
        let mut p = Ipv4Packet::new_checked(&mut v[..]).unwrap();
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert_eq!(p.checksum(), 0xb861);
        assert!(p.verify_checksum());
        h[10] = 0xb8;
        h[11] = 0x61;
        assert_eq!(&v[..20], &h);
    }

    #[test]
    fn check_errors() {
        let b = pkt();
        for n in 0..20 {
            assert_eq!(
                Ipv4Packet::new_checked(&b[..n]).unwrap_err(),
                Error::Truncated
            );
        }
        // total_len 28 > 27 bytes of buffer
        assert_eq!(
            Ipv4Packet::new_checked(&b[..27]).unwrap_err(),
            Error::Truncated
        );
        assert!(Ipv4Packet::new_checked(&b[..28]).is_ok());
        // ...but check_header accepts a truncated copy.
        assert!(Ipv4Packet::new_unchecked(&b[..20]).check_header().is_ok());

        let mut v6 = b;
        v6[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v6[..]).unwrap_err(),
            Error::BadVersion
        );
        let mut v0 = b;
        v0[0] = 0x05;
        assert_eq!(
            Ipv4Packet::new_checked(&v0[..]).unwrap_err(),
            Error::BadVersion
        );

        for ihl in 0..5u8 {
            let mut x = b;
            x[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::new_checked(&x[..]).unwrap_err(),
                Error::BadHeaderLen
            );
        }
        // IHL 15 = 60 bytes > 32-byte buffer.
        let mut big = b;
        big[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&big[..]).unwrap_err(),
            Error::Truncated
        );
        // IHL 7 = 28 bytes fits but total_len 28 is fine; total_len 27 < 28 is not.
        let mut opt = b;
        opt[0] = 0x47;
        opt[3] = 27;
        assert_eq!(
            Ipv4Packet::new_checked(&opt[..]).unwrap_err(),
            Error::BadTotalLen
        );
        let mut tl = b;
        tl[2] = 0;
        tl[3] = 19;
        assert_eq!(
            Ipv4Packet::new_checked(&tl[..]).unwrap_err(),
            Error::BadTotalLen
        );
        tl[3] = 20; // header-only packet is fine
        let p = Ipv4Packet::new_checked(&tl[..]).unwrap();
        assert!(p.payload().is_empty());
        tl[3] = 33;
        assert_eq!(
            Ipv4Packet::new_checked(&tl[..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn unchecked_slices_never_panic() {
        let mut b = pkt();
        b[0] = 0x4f; // header claims 60 bytes
        b[3] = 0xff;
        let p = Ipv4Packet::new_unchecked(&b[..]);
        assert!(p.header().is_empty());
        assert!(p.options().is_empty());
        assert!(p.payload().is_empty());
        assert!(p.packet().is_empty());
        assert!(!p.verify_checksum());
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(); // no-op
        assert!(p.payload_mut().is_empty());
        assert!(p.options_mut().is_empty());
        assert!(p.header_mut().is_empty());
        let mut ihl0 = pkt();
        ihl0[0] = 0x40;
        let p = Ipv4Packet::new_unchecked(&ihl0[..]);
        assert!(p.header().is_empty());
        assert!(!p.verify_checksum());
        Ipv4Packet::new_unchecked(&mut ihl0[..]).fill_checksum();
        assert_eq!(ihl0[10..12], pkt()[10..12]);
    }

    #[test]
    fn options_and_payload() {
        let mut v = [0u8; 24 + 4];
        v[0] = 0x46;
        v[3] = 28;
        v[20..24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]); // router alert
        v[24..28].copy_from_slice(&[9, 9, 9, 9]);
        let mut p = Ipv4Packet::new_checked(&mut v[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
        assert_eq!(p.payload(), &[9, 9, 9, 9]);
        p.options_mut()[2] = 1;
        p.payload_mut()[0] = 7;
        p.header_mut()[1] = 0x10;
        assert_eq!(v[22], 1);
        assert_eq!(v[24], 7);
        assert_eq!(v[1], 0x10);
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 40];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_dscp_ecn(0x03);
        p.set_total_len(40);
        p.set_ident(0xabcd);
        p.set_dont_frag(true);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        p.set_ttl(3);
        p.set_protocol(PROTO_TCP);
        p.set_src_u32(0x01020304);
        p.set_dst([5, 6, 7, 8]);
        p.fill_checksum();
        assert_eq!(p.check_len(), Ok(()));
        assert!(p.verify_checksum());
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.ecn(), 3);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.ident(), 0xabcd);
        assert!(p.dont_frag() && p.more_frags());
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.is_fragment());
        assert_eq!(p.flags_frag(), FLAG_DF | FLAG_MF | 185);
        p.set_dont_frag(false);
        p.set_more_frags(false);
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.is_fragment());
        p.set_frag_offset(0);
        assert!(!p.is_fragment());
        p.set_more_frags(true);
        assert!(p.is_fragment() && !p.dont_frag());
        p.set_src([9, 9, 9, 9]);
        p.set_dst_u32(0x0a000001);
        assert_eq!(p.src_u32(), 0x09090909);
        assert_eq!(p.dst(), [10, 0, 0, 1]);
        p.set_checksum(0x1234);
        assert_eq!(p.checksum(), 0x1234);
        assert_eq!(p.ttl(), 3);
        assert_eq!(p.protocol(), 6);
    }

    /// The one-add patch equals a full recomputation for every old checksum
    /// value (the identification sweeps it through all 2^16), carries and the
    /// 0xffff/0x0000 case included.
    #[test]
    fn ttl_decrement_matches_recomputation_for_every_checksum() {
        let mut b = pkt();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        let mut seen = std::collections::HashSet::new();
        for ident in 0..=u16::MAX {
            p.set_ttl(64);
            p.header_mut()[4..6].copy_from_slice(&ident.to_be_bytes());
            p.fill_checksum();
            seen.insert(p.checksum());
            assert_eq!(p.decrement_ttl_update_checksum(), 63);
            let incremental = p.checksum();
            p.fill_checksum();
            assert_eq!(p.checksum(), incremental, "ident {ident:#06x}");
        }
        assert!(seen.len() > 65_000, "the sweep covers the checksum values");
    }

    #[test]
    fn ttl_decrement() {
        let mut b = pkt();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        for expect in (0..64u8).rev() {
            assert_eq!(p.decrement_ttl_update_checksum(), expect);
            assert!(p.verify_checksum());
            let incremental = p.checksum();
            p.fill_checksum();
            assert_eq!(p.checksum(), incremental);
        }
        assert_eq!(p.ttl(), 0);
        let before = p.checksum();
        assert_eq!(p.decrement_ttl_update_checksum(), 0);
        assert_eq!(p.checksum(), before);
    }

    #[test]
    fn repr_emit() {
        let r = Ipv4Repr {
            dscp_ecn: 0,
            total_len: 0x73,
            ident: 0,
            flags_frag: FLAG_DF,
            ttl: 64,
            protocol: PROTO_UDP,
            src: 0xc0a8_0001,
            dst: 0xc0a8_00c7,
        };
        assert_eq!(r.header_checksum(), 0xb861);
        let mut out = [0u8; 20];
        r.emit(&mut out).unwrap();
        assert_eq!(checksum::sum(&out), 0xffff);
        assert_eq!(r.emit(&mut [0u8; 19]), Err(Error::BufferTooSmall));
        // Checksum straight-line sum with maximal fields still folds right.
        let m = Ipv4Repr {
            dscp_ecn: 0xff,
            total_len: 0xffff,
            ident: 0xffff,
            flags_frag: 0xffff,
            ttl: 0xff,
            protocol: 0xff,
            src: u32::MAX,
            dst: u32::MAX,
        };
        let bytes = m.to_bytes();
        assert_eq!(checksum::sum(&bytes), 0xffff);
    }

    #[test]
    fn ipip() {
        let inner = pkt();
        let mut out = [0u8; 20];
        write_ipip_header(&mut out, &inner, 0x01020304, 0x05060708, 17, 0x4242).unwrap();
        let mut whole = out.to_vec();
        whole.extend_from_slice(&inner[..28]);
        let p = Ipv4Packet::new_checked(&whole[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0xb8);
        assert!(p.dont_frag() && !p.more_frags() && p.frag_offset() == 0);
        assert_eq!(p.ttl(), 17);
        assert_eq!(p.ident(), 0x4242);
        assert_eq!(p.protocol(), PROTO_IPIP);
        assert_eq!(p.total_len(), 48);
        assert_eq!(p.src_u32(), 0x01020304);
        assert_eq!(p.dst_u32(), 0x05060708);
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &inner[..28]);

        // In place gives identical bytes.
        let mut buf = [0u8; 52];
        buf[20..].copy_from_slice(&inner);
        write_ipip_header_in_place(&mut buf, 0x01020304, 0x05060708, 17, 0x4242).unwrap();
        assert_eq!(&buf[..20], &out);

        // DF clear and MF/offset on the inner are not copied.
        let mut frag = inner;
        frag[6] = 0x20;
        frag[7] = 0x10;
        write_ipip_header(&mut out, &frag, 1, 2, 3, 4).unwrap();
        let p = Ipv4Packet::new_unchecked(&out[..]);
        assert_eq!(p.flags_frag(), 0);
        assert!(p.verify_checksum());
    }

    /// The template writes the bytes of `write_ipip_header_in_place` and fails the same way.
    #[test]
    fn ipip_template_matches_repr() {
        let inner = pkt();
        for (src, dst, ttl, id) in [
            (0x0102_0304, 0x0506_0708, 17, 0x4242),
            (u32::MAX, u32::MAX, 255, u16::MAX),
            (0, 0, 0, 0),
            (0xc633_6401, 0xc612_0001, 64, 1),
        ] {
            for (tos, flags) in [(0xb8, 0x4000), (0, 0), (0xff, 0xffff), (3, 0x2010)] {
                let mut a = [0u8; 52];
                a[20..].copy_from_slice(&inner);
                a[21] = tos;
                a[26..28].copy_from_slice(&u16::to_be_bytes(flags));
                let mut b = a;
                b[..20].fill(0x5a);
                write_ipip_header_in_place(&mut a, src, dst, ttl, id).unwrap();
                IpipTemplate::new(src, ttl)
                    .write_in_place(&mut b, dst, id)
                    .unwrap();
                assert_eq!(a, b);
                assert_eq!(checksum::sum(&b[..20]), 0xffff);
            }
        }
        let t = IpipTemplate::new(1, 3);
        let mut short = [0u8; 39];
        short[20] = 0x45;
        assert_eq!(t.write_in_place(&mut short, 2, 4), Err(Error::Truncated));
        let mut buf = [0u8; 52];
        buf[20..].copy_from_slice(&inner);
        buf[20] = 0x65;
        assert_eq!(t.write_in_place(&mut buf, 2, 4), Err(Error::BadVersion));
        buf[20] = 0x45;
        buf[22..24].copy_from_slice(&65516u16.to_be_bytes());
        assert_eq!(t.write_in_place(&mut buf, 2, 4), Err(Error::Oversize));
        buf[22..24].copy_from_slice(&65515u16.to_be_bytes());
        t.write_in_place(&mut buf, 2, 4).unwrap();
        assert_eq!(Ipv4Packet::new_unchecked(&buf[..20]).total_len(), 65535);
    }

    #[test]
    fn ipip_errors() {
        let inner = pkt();
        let mut out = [0u8; 20];
        assert_eq!(
            write_ipip_header(&mut out[..19], &inner, 1, 2, 3, 4),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(
            write_ipip_header(&mut out, &inner[..19], 1, 2, 3, 4),
            Err(Error::Truncated)
        );
        let mut v6 = inner;
        v6[0] = 0x60;
        assert_eq!(
            write_ipip_header(&mut out, &v6, 1, 2, 3, 4),
            Err(Error::BadVersion)
        );
        let mut huge = inner;
        huge[2] = 0xff;
        huge[3] = 0xec; // 65516
        assert_eq!(
            write_ipip_header(&mut out, &huge, 1, 2, 3, 4),
            Err(Error::Oversize)
        );
        huge[3] = 0xeb; // 65515 -> outer 65535 is fine
        write_ipip_header(&mut out, &huge, 1, 2, 3, 4).unwrap();
        assert_eq!(Ipv4Packet::new_unchecked(&out[..]).total_len(), 65535);
        let mut small = [0u8; 39];
        assert_eq!(
            write_ipip_header_in_place(&mut small[..19], 1, 2, 3, 4),
            Err(Error::Truncated)
        );
        assert_eq!(
            write_ipip_header_in_place(&mut small, 1, 2, 3, 4),
            Err(Error::Truncated)
        );
    }
}
