//! ARP (RFC 826) for Ethernet / IPv4 only.

use crate::ethernet::{self, EthernetFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use crate::{arr4, arr6, be16, put16, Error};
use core::net::Ipv4Addr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Length of an Ethernet frame carrying an ARP packet, without padding.
pub const FRAME_LEN: usize = ethernet::HEADER_LEN + PACKET_LEN;
/// Hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP operation: request.
pub const OP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const OP_REPLY: u16 = 2;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// A read/write view of an Ethernet/IPv4 ARP packet (starting at the ARP
/// header, i.e. an Ethernet payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wrap a buffer without any check.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wrap a buffer, checking it holds 28 bytes (`Truncated`) and describes
    /// Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4; else
    /// `Unsupported`). Trailing bytes (Ethernet padding) are allowed.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    /// The checks of [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if self.htype() != HTYPE_ETHERNET
            || self.ptype() != ETHERTYPE_IPV4
            || self.hlen() != 6
            || self.plen() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(())
    }

    /// Give back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type.
    #[inline]
    pub fn htype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE)
    }
    /// Protocol type.
    #[inline]
    pub fn ptype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE)
    }
    /// Hardware address length.
    #[inline]
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    /// Protocol address length.
    #[inline]
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    /// Operation (1 = request, 2 = reply).
    #[inline]
    pub fn oper(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }
    /// Sender hardware address.
    #[inline]
    pub fn sha(&self) -> [u8; 6] {
        arr6(self.buffer.as_ref(), field::SHA)
    }
    /// Sender protocol address.
    #[inline]
    pub fn spa(&self) -> [u8; 4] {
        arr4(self.buffer.as_ref(), field::SPA)
    }
    /// Sender protocol address, host order.
    #[inline]
    pub fn spa_u32(&self) -> u32 {
        u32::from_be_bytes(self.spa())
    }
    /// Sender protocol address as `Ipv4Addr`.
    #[inline]
    pub fn spa_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.spa())
    }
    /// Target hardware address.
    #[inline]
    pub fn tha(&self) -> [u8; 6] {
        arr6(self.buffer.as_ref(), field::THA)
    }
    /// Target protocol address.
    #[inline]
    pub fn tpa(&self) -> [u8; 4] {
        arr4(self.buffer.as_ref(), field::TPA)
    }
    /// Target protocol address, host order.
    #[inline]
    pub fn tpa_u32(&self) -> u32 {
        u32::from_be_bytes(self.tpa())
    }
    /// Target protocol address as `Ipv4Addr`.
    #[inline]
    pub fn tpa_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.tpa())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Write the fixed Ethernet/IPv4 preamble (htype, ptype, hlen, plen).
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        put16(b, field::HTYPE, HTYPE_ETHERNET);
        put16(b, field::PTYPE, ETHERTYPE_IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }
    /// Set the operation.
    #[inline]
    pub fn set_oper(&mut self, oper: u16) {
        put16(self.buffer.as_mut(), field::OPER, oper);
    }
    /// Set the sender hardware address.
    #[inline]
    pub fn set_sha(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::SHA..field::SHA + 6].copy_from_slice(&mac);
    }
    /// Set the sender protocol address.
    #[inline]
    pub fn set_spa(&mut self, ip: [u8; 4]) {
        self.buffer.as_mut()[field::SPA..field::SPA + 4].copy_from_slice(&ip);
    }
    /// Set the target hardware address.
    #[inline]
    pub fn set_tha(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::THA..field::THA + 6].copy_from_slice(&mac);
    }
    /// Set the target protocol address.
    #[inline]
    pub fn set_tpa(&mut self, ip: [u8; 4]) {
        self.buffer.as_mut()[field::TPA..field::TPA + 4].copy_from_slice(&ip);
    }
}

/// Turn a received Ethernet frame holding an ARP request into the reply, in
/// place.
///
/// On success the frame is: Ethernet dst = the requester's hardware address
/// (the request's SHA, as RFC 826 prescribes), Ethernet src = `my_mac`,
/// oper = REPLY, SHA = `my_mac`, SPA = the request's TPA, THA = the request's
/// SHA, TPA = the request's SPA. The frame length is unchanged (send
/// `FRAME_LEN` bytes, or the original length if the NIC wants padding).
///
/// Whether the request's TPA is an address we answer for is the caller's
/// decision (check `tpa_u32()` first). Errors: `Truncated` (< 42 bytes),
/// `Unsupported` (EtherType not ARP, or not Ethernet/IPv4 ARP), `NotRequest`
/// (oper != 1); the frame is untouched on error.
#[inline]
pub fn make_arp_reply_in_place(frame: &mut [u8], my_mac: [u8; 6]) -> Result<(), Error> {
    let eth = EthernetFrame::new_checked(&*frame)?;
    if eth.ethertype() != ETHERTYPE_ARP {
        return Err(Error::Unsupported);
    }
    let (eth_hdr, arp_bytes) = frame.split_at_mut(ethernet::HEADER_LEN);
    let mut arp = ArpPacket::new_checked(arp_bytes)?;
    if arp.oper() != OP_REQUEST {
        return Err(Error::NotRequest);
    }
    let requester_mac = arp.sha();
    let requester_ip = arp.spa();
    let wanted_ip = arp.tpa();
    arp.set_oper(OP_REPLY);
    arp.set_sha(my_mac);
    arp.set_spa(wanted_ip);
    arp.set_tha(requester_mac);
    arp.set_tpa(requester_ip);
    let mut eth = EthernetFrame::new_unchecked(eth_hdr);
    eth.set_dst(requester_mac);
    eth.set_src(my_mac);
    Ok(())
}

/// Write a broadcast Ethernet + ARP request ("who has `target_ip`? tell
/// `src_ip`") into `buf` and return its length, 42 (no padding to 60 is
/// added; NICs pad short frames). THA is zero. With `target_ip == src_ip`
/// this is a gratuitous ARP. Addresses are host-order `u32`s.
/// `Err(BufferTooSmall)` if `buf` is shorter than 42 bytes.
#[inline]
pub fn write_arp_request(
    buf: &mut [u8],
    src_mac: [u8; 6],
    src_ip: u32,
    target_ip: u32,
) -> Result<usize, Error> {
    let out = buf.get_mut(..FRAME_LEN).ok_or(Error::BufferTooSmall)?;
    let (eth, arp) = out.split_at_mut(ethernet::HEADER_LEN);
    ethernet::write_header(eth, ethernet::BROADCAST, src_mac, ETHERTYPE_ARP)?;
    let mut p = ArpPacket::new_unchecked(arp);
    p.set_ethernet_ipv4();
    p.set_oper(OP_REQUEST);
    p.set_sha(src_mac);
    p.set_spa(src_ip.to_be_bytes());
    p.set_tha([0; 6]);
    p.set_tpa(target_ip.to_be_bytes());
    Ok(FRAME_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

    fn request_frame() -> [u8; 60] {
        let mut f = [0u8; 60]; // padded to the Ethernet minimum
        let n = write_arp_request(
            &mut f,
            PEER_MAC,
            u32::from_be_bytes([10, 0, 0, 99]),
            u32::from_be_bytes([10, 0, 0, 1]),
        )
        .unwrap();
        assert_eq!(n, 42);
        f
    }

    #[test]
    fn request_layout() {
        let f = request_frame();
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
            0x02, 0, 0, 0, 0, 0x99, 10, 0, 0, 99,
            0, 0, 0, 0, 0, 0, 10, 0, 0, 1,
        ];
        assert_eq!(&f[..42], &expected);
        let arp = ArpPacket::new_checked(&f[14..]).unwrap();
        assert_eq!(arp.oper(), OP_REQUEST);
        assert_eq!(arp.spa_addr(), Ipv4Addr::new(10, 0, 0, 99));
        assert_eq!(arp.tpa_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(arp.tpa_u32(), 0x0a00_0001);
        assert_eq!(arp.spa_u32(), 0x0a00_0063);
        assert_eq!(arp.tha(), [0; 6]);
        assert_eq!(arp.htype(), 1);
        assert_eq!(arp.ptype(), 0x0800);
        assert_eq!((arp.hlen(), arp.plen()), (6, 4));
        assert_eq!(arp.into_inner().len(), 46);
    }

    #[test]
    fn reply_in_place() {
        let mut f = request_frame();
        make_arp_reply_in_place(&mut f, MY_MAC).unwrap();
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.dst(), PEER_MAC);
        assert_eq!(eth.src(), MY_MAC);
        assert_eq!(eth.ethertype(), ETHERTYPE_ARP);
        let arp = ArpPacket::new_checked(eth.payload()).unwrap();
        assert_eq!(arp.oper(), OP_REPLY);
        assert_eq!(arp.sha(), MY_MAC);
        assert_eq!(arp.spa(), [10, 0, 0, 1]);
        assert_eq!(arp.tha(), PEER_MAC);
        assert_eq!(arp.tpa(), [10, 0, 0, 99]);
        // A reply is not a request: a second call is refused, frame unchanged.
        let before = f;
        assert_eq!(
            make_arp_reply_in_place(&mut f, MY_MAC),
            Err(Error::NotRequest)
        );
        assert_eq!(f, before);
    }

    #[test]
    fn reply_errors() {
        let f = request_frame();
        for n in 0..42 {
            let mut short = f[..n].to_vec();
            assert_eq!(
                make_arp_reply_in_place(&mut short, MY_MAC),
                Err(Error::Truncated),
                "len {n}"
            );
        }
        let mut ipv4 = f;
        ipv4[13] = 0x00; // EtherType 0x0800
        assert_eq!(
            make_arp_reply_in_place(&mut ipv4, MY_MAC),
            Err(Error::Unsupported)
        );
        let mut bad_htype = f;
        bad_htype[15] = 6; // IEEE 802
        assert_eq!(
            make_arp_reply_in_place(&mut bad_htype, MY_MAC),
            Err(Error::Unsupported)
        );
        assert_eq!(bad_htype, {
            let mut x = f;
            x[15] = 6;
            x
        });
    }

    #[test]
    fn new_checked_errors() {
        let f = request_frame();
        let arp = &f[14..42];
        for n in 0..PACKET_LEN {
            assert_eq!(
                ArpPacket::new_checked(&arp[..n]).unwrap_err(),
                Error::Truncated
            );
        }
        for (idx, val) in [(1usize, 6u8), (2, 0x86), (4, 16), (5, 16)] {
            let mut b = [0u8; 28];
            b.copy_from_slice(arp);
            b[idx] = val;
            assert_eq!(
                ArpPacket::new_checked(&b[..]).unwrap_err(),
                Error::Unsupported
            );
        }
        assert!(ArpPacket::new_checked(arp).is_ok());
    }

    #[test]
    fn setters() {
        let mut b = [0u8; 28];
        let mut p = ArpPacket::new_unchecked(&mut b[..]);
        assert_eq!(p.check(), Err(Error::Unsupported));
        p.set_ethernet_ipv4();
        p.set_oper(OP_REPLY);
        p.set_sha([1; 6]);
        p.set_spa([2; 4]);
        p.set_tha([3; 6]);
        p.set_tpa([4; 4]);
        assert_eq!(p.check(), Ok(()));
        assert_eq!(
            (p.oper(), p.sha(), p.spa(), p.tha(), p.tpa()),
            (2, [1; 6], [2; 4], [3; 6], [4; 4])
        );
    }

    #[test]
    fn write_request_too_small() {
        assert_eq!(
            write_arp_request(&mut [0u8; 41], MY_MAC, 1, 2),
            Err(Error::BufferTooSmall)
        );
    }
}
