//! Mobile IP NAT traversal (RFC 3519, PROTOCOL.md §3): the UDP Tunnel
//! Request extension (§3.1), the UDP Tunnel Reply extension (§3.2) and the
//! MIP Tunnel Data message header (§3.3), as typed zero-copy views with a
//! `Repr` to parse and emit (the smoltcp style of `msm-wire`).
//!
//! ```text
//! UDP Tunnel Request extension (type 144, skippable), 8 bytes on the wire
//!  0 type = 144   1 length = 6   2 sub-type = 0   3 reserved 1
//!  4 F R reserved 2 (6 bits)     5 encapsulation  6 reserved 3 (16 bits)
//!
//! UDP Tunnel Reply extension (type 44, non-skippable), 8 bytes on the wire
//!  0 type = 44    1 length = 6   2 sub-type = 0   3 reply code
//!  4 F + reserved (15 bits)                       6 keepalive interval (s)
//!
//! MIP Tunnel Data message header (UDP payload to/from port 434), 4 bytes
//!  0 type = 4     1 next header (4 = IPv4)        2 reserved (16 bits)
//! ```
//!
//! Placement in this profile: the Request extension goes between the NAI
//! and the MN-HA authentication extension, so the authenticator covers it
//! (anything after the MN-HA extension is refused, see the crate docs); the
//! MSM places the Reply extension the same way.

/// Extension type: UDP Tunnel Request (RFC 3519 §3.1), skippable.
pub const EXT_UDP_TUNNEL_REQUEST: u8 = 144;
/// Extension type: UDP Tunnel Reply (RFC 3519 §3.2), non-skippable.
pub const EXT_UDP_TUNNEL_REPLY: u8 = 44;
/// The length field of both UDP tunnel extensions.
pub const UDP_TUNNEL_EXT_DATA_LEN: u8 = 6;
/// Bytes of either UDP tunnel extension on the wire (type, length, data).
pub const UDP_TUNNEL_EXT_LEN: usize = 2 + UDP_TUNNEL_EXT_DATA_LEN as usize;
/// The only sub-type RFC 3519 defines for both extensions.
pub const UDP_TUNNEL_SUBTYPE: u8 = 0;
/// Encapsulation / next header: IP in IP (RFC 2003).
pub const ENCAP_IPIP: u8 = 4;
/// Encapsulation / next header: GRE (not offered by the MSM).
pub const ENCAP_GRE: u8 = 47;
/// Encapsulation / next header: minimal encapsulation (not offered).
pub const ENCAP_MINIMAL: u8 = 55;
/// UDP Tunnel Reply code: the home agent will use UDP tunnelling.
pub const UDP_TUNNEL_ACCEPTED: u8 = 0;
/// UDP Tunnel Reply code: tunnelling declined, reason unspecified.
pub const UDP_TUNNEL_DECLINED: u8 = 64;
/// Message type of a MIP Tunnel Data message (RFC 3519 §3.3).
pub const TYPE_TUNNEL_DATA: u8 = 4;
/// Bytes of the MIP Tunnel Data header.
pub const TUNNEL_DATA_HEADER_LEN: usize = 4;
/// Default NAT keepalive interval, seconds (RFC 3519 §3.2: 110 s).
pub const DEFAULT_KEEPALIVE_S: u16 = 110;

/// Why a view or a `Repr` refused a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum NatWireError {
    /// Shorter than the fixed layout.
    #[error("truncated")]
    Truncated,
    /// Wrong type byte.
    #[error("type {0} is not the expected one")]
    BadType(u8),
    /// Extension length field not 6.
    #[error("extension length {0}, RFC 3519 says 6")]
    BadLength(u8),
    /// Sub-type other than 0.
    #[error("unknown sub-type {0}")]
    BadSubType(u8),
}

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

/// Checks the shared extension layout: type, length 6, sub-type 0.
fn check_ext(b: &[u8], ty: u8) -> Result<(), NatWireError> {
    if b.len() < UDP_TUNNEL_EXT_LEN {
        return Err(NatWireError::Truncated);
    }
    if b[0] != ty {
        return Err(NatWireError::BadType(b[0]));
    }
    if b[1] != UDP_TUNNEL_EXT_DATA_LEN {
        return Err(NatWireError::BadLength(b[1]));
    }
    if b[2] != UDP_TUNNEL_SUBTYPE {
        return Err(NatWireError::BadSubType(b[2]));
    }
    Ok(())
}

/// A view of a UDP Tunnel Request extension (from its type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpTunnelRequest<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpTunnelRequest<T> {
    /// F: force UDP tunnelling even without a detected NAT.
    pub const FLAG_F: u8 = 0x80;
    /// R: registration through a foreign agent required.
    pub const FLAG_R: u8 = 0x40;

    /// Wrap without checks (getters panic below 8 bytes).
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpTunnelRequest { buffer }
    }

    /// Wrap and check length, type 144, length field 6 and sub-type 0.
    pub fn new_checked(buffer: T) -> Result<Self, NatWireError> {
        check_ext(buffer.as_ref(), EXT_UDP_TUNNEL_REQUEST)?;
        Ok(Self::new_unchecked(buffer))
    }

    /// Type byte (144).
    pub fn ext_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Length field (6).
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// Sub-type (0).
    pub fn sub_type(&self) -> u8 {
        self.buffer.as_ref()[2]
    }
    /// Reserved 1.
    pub fn reserved1(&self) -> u8 {
        self.buffer.as_ref()[3]
    }
    /// The flags byte: F, R and 6 reserved bits.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[4]
    }
    /// F (force).
    pub fn force(&self) -> bool {
        self.flags() & Self::FLAG_F != 0
    }
    /// R (registration through FA required).
    pub fn fa_required(&self) -> bool {
        self.flags() & Self::FLAG_R != 0
    }
    /// Encapsulation (4 = IP in IP).
    pub fn encapsulation(&self) -> u8 {
        self.buffer.as_ref()[5]
    }
    /// Reserved 3.
    pub fn reserved3(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpTunnelRequest<T> {
    /// Write type 144, length 6, sub-type 0 and zero the reserved fields.
    pub fn fill_header(&mut self) {
        let b = self.buffer.as_mut();
        b[..UDP_TUNNEL_EXT_LEN].copy_from_slice(&[
            EXT_UDP_TUNNEL_REQUEST,
            UDP_TUNNEL_EXT_DATA_LEN,
            UDP_TUNNEL_SUBTYPE,
            0,
            0,
            0,
            0,
            0,
        ]);
    }
    /// Set the flags byte.
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[4] = v;
    }
    /// Set the encapsulation.
    pub fn set_encapsulation(&mut self, v: u8) {
        self.buffer.as_mut()[5] = v;
    }
}

/// The meaning of a UDP Tunnel Request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpTunnelRequestRepr {
    /// F: the mobile wants UDP tunnelling even if no NAT is detected.
    pub force: bool,
    /// R: registration through a foreign agent required (meaningless with a
    /// co-located care-of address; kept so it round-trips).
    pub fa_required: bool,
    /// Requested encapsulation inside UDP (4 = IP in IP).
    pub encapsulation: u8,
}

impl Default for UdpTunnelRequestRepr {
    fn default() -> Self {
        UdpTunnelRequestRepr {
            force: false,
            fa_required: false,
            encapsulation: ENCAP_IPIP,
        }
    }
}

impl UdpTunnelRequestRepr {
    /// Parse a checked view. Reserved fields are ignored on reception.
    pub fn parse<T: AsRef<[u8]>>(v: &UdpTunnelRequest<T>) -> Self {
        UdpTunnelRequestRepr {
            force: v.force(),
            fa_required: v.fa_required(),
            encapsulation: v.encapsulation(),
        }
    }

    /// Parse the extension's data (the 6 bytes after type and length), as
    /// [`ExtensionIter`](crate::ExtensionIter) yields it.
    pub fn parse_data(data: &[u8]) -> Result<Self, NatWireError> {
        let mut b = [0u8; UDP_TUNNEL_EXT_LEN];
        if data.len() != usize::from(UDP_TUNNEL_EXT_DATA_LEN) {
            return Err(NatWireError::BadLength(data.len().min(255) as u8));
        }
        b[0] = EXT_UDP_TUNNEL_REQUEST;
        b[1] = UDP_TUNNEL_EXT_DATA_LEN;
        b[2..].copy_from_slice(data);
        Ok(Self::parse(&UdpTunnelRequest::new_checked(&b[..])?))
    }

    /// Bytes on the wire.
    pub const fn buffer_len(&self) -> usize {
        UDP_TUNNEL_EXT_LEN
    }

    /// Emit into a view of at least 8 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut UdpTunnelRequest<T>) {
        v.fill_header();
        let mut f = 0;
        if self.force {
            f |= UdpTunnelRequest::<T>::FLAG_F;
        }
        if self.fa_required {
            f |= UdpTunnelRequest::<T>::FLAG_R;
        }
        v.set_flags(f);
        v.set_encapsulation(self.encapsulation);
    }

    /// The 8 wire bytes.
    pub fn to_bytes(&self) -> [u8; UDP_TUNNEL_EXT_LEN] {
        let mut b = [0u8; UDP_TUNNEL_EXT_LEN];
        self.emit(&mut UdpTunnelRequest::new_unchecked(&mut b[..]));
        b
    }
}

/// A view of a UDP Tunnel Reply extension (from its type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpTunnelReply<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpTunnelReply<T> {
    /// F: the home agent forces UDP tunnelling.
    pub const FLAG_F: u16 = 0x8000;

    /// Wrap without checks (getters panic below 8 bytes).
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpTunnelReply { buffer }
    }

    /// Wrap and check length, type 44, length field 6 and sub-type 0.
    pub fn new_checked(buffer: T) -> Result<Self, NatWireError> {
        check_ext(buffer.as_ref(), EXT_UDP_TUNNEL_REPLY)?;
        Ok(Self::new_unchecked(buffer))
    }

    /// Type byte (44).
    pub fn ext_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Length field (6).
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// Sub-type (0).
    pub fn sub_type(&self) -> u8 {
        self.buffer.as_ref()[2]
    }
    /// Reply code (0 = will tunnel, 64 = declined).
    pub fn reply_code(&self) -> u8 {
        self.buffer.as_ref()[3]
    }
    /// F and the 15 reserved bits.
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }
    /// F (forced by the home agent).
    pub fn force(&self) -> bool {
        self.flags() & Self::FLAG_F != 0
    }
    /// Keepalive interval in seconds.
    pub fn keepalive_interval(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpTunnelReply<T> {
    /// Write type 44, length 6, sub-type 0, zero the rest.
    pub fn fill_header(&mut self) {
        let b = self.buffer.as_mut();
        b[..UDP_TUNNEL_EXT_LEN].copy_from_slice(&[
            EXT_UDP_TUNNEL_REPLY,
            UDP_TUNNEL_EXT_DATA_LEN,
            UDP_TUNNEL_SUBTYPE,
            0,
            0,
            0,
            0,
            0,
        ]);
    }
    /// Set the reply code.
    pub fn set_reply_code(&mut self, v: u8) {
        self.buffer.as_mut()[3] = v;
    }
    /// Set F and the reserved bits.
    pub fn set_flags(&mut self, v: u16) {
        self.buffer.as_mut()[4..6].copy_from_slice(&v.to_be_bytes());
    }
    /// Set the keepalive interval.
    pub fn set_keepalive_interval(&mut self, v: u16) {
        self.buffer.as_mut()[6..8].copy_from_slice(&v.to_be_bytes());
    }
}

/// The meaning of a UDP Tunnel Reply extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpTunnelReplyRepr {
    /// 0 = the home agent will use UDP tunnelling, 64 = declined.
    pub reply_code: u8,
    /// F: tunnelling forced by the home agent.
    pub force: bool,
    /// Keepalive interval, seconds.
    pub keepalive_interval: u16,
}

impl UdpTunnelReplyRepr {
    /// Parse a checked view (reserved bits ignored).
    pub fn parse<T: AsRef<[u8]>>(v: &UdpTunnelReply<T>) -> Self {
        UdpTunnelReplyRepr {
            reply_code: v.reply_code(),
            force: v.force(),
            keepalive_interval: v.keepalive_interval(),
        }
    }

    /// Parse the extension's 6 data bytes.
    pub fn parse_data(data: &[u8]) -> Result<Self, NatWireError> {
        let mut b = [0u8; UDP_TUNNEL_EXT_LEN];
        if data.len() != usize::from(UDP_TUNNEL_EXT_DATA_LEN) {
            return Err(NatWireError::BadLength(data.len().min(255) as u8));
        }
        b[0] = EXT_UDP_TUNNEL_REPLY;
        b[1] = UDP_TUNNEL_EXT_DATA_LEN;
        b[2..].copy_from_slice(data);
        Ok(Self::parse(&UdpTunnelReply::new_checked(&b[..])?))
    }

    /// Bytes on the wire.
    pub const fn buffer_len(&self) -> usize {
        UDP_TUNNEL_EXT_LEN
    }

    /// Emit into a view of at least 8 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut UdpTunnelReply<T>) {
        v.fill_header();
        v.set_reply_code(self.reply_code);
        v.set_flags(if self.force {
            UdpTunnelReply::<T>::FLAG_F
        } else {
            0
        });
        v.set_keepalive_interval(self.keepalive_interval);
    }

    /// The 8 wire bytes.
    pub fn to_bytes(&self) -> [u8; UDP_TUNNEL_EXT_LEN] {
        let mut b = [0u8; UDP_TUNNEL_EXT_LEN];
        self.emit(&mut UdpTunnelReply::new_unchecked(&mut b[..]));
        b
    }
}

/// A view of a MIP Tunnel Data message: the 4-byte header, then the
/// encapsulated packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelData<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TunnelData<T> {
    /// Wrap without checks (getters panic below 4 bytes).
    pub const fn new_unchecked(buffer: T) -> Self {
        TunnelData { buffer }
    }

    /// Wrap and check: at least 4 bytes, type 4.
    pub fn new_checked(buffer: T) -> Result<Self, NatWireError> {
        let b = buffer.as_ref();
        if b.len() < TUNNEL_DATA_HEADER_LEN {
            return Err(NatWireError::Truncated);
        }
        if b[0] != TYPE_TUNNEL_DATA {
            return Err(NatWireError::BadType(b[0]));
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Type (4).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Next header (4 = IPv4).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// Reserved.
    pub fn reserved(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    /// The encapsulated packet.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[TUNNEL_DATA_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TunnelData<T> {
    /// Set type 4, `next_header`, reserved 0.
    pub fn fill_header(&mut self, next_header: u8) {
        self.buffer.as_mut()[..TUNNEL_DATA_HEADER_LEN].copy_from_slice(&[
            TYPE_TUNNEL_DATA,
            next_header,
            0,
            0,
        ]);
    }
}

/// The meaning of a MIP Tunnel Data header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelDataRepr {
    /// Next header (4 = IPv4).
    pub next_header: u8,
}

impl TunnelDataRepr {
    /// Parse a checked view (reserved ignored).
    pub fn parse<T: AsRef<[u8]>>(v: &TunnelData<T>) -> Self {
        TunnelDataRepr {
            next_header: v.next_header(),
        }
    }
    /// Header bytes on the wire.
    pub const fn buffer_len(&self) -> usize {
        TUNNEL_DATA_HEADER_LEN
    }
    /// Emit the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut TunnelData<T>) {
        v.fill_header(self.next_header);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_and_round_trip() {
        for (force, r, enc) in [(false, false, 4u8), (true, false, 4), (true, true, 47)] {
            let repr = UdpTunnelRequestRepr {
                force,
                fa_required: r,
                encapsulation: enc,
            };
            let b = repr.to_bytes();
            let flags = if force { 0x80 } else { 0 } | if r { 0x40 } else { 0 };
            assert_eq!(b, [144, 6, 0, 0, flags, enc, 0, 0]);
            let v = UdpTunnelRequest::new_checked(&b[..]).unwrap();
            assert_eq!(UdpTunnelRequestRepr::parse(&v), repr);
            assert_eq!(UdpTunnelRequestRepr::parse_data(&b[2..]), Ok(repr));
            assert_eq!((v.ext_type(), v.length(), v.sub_type()), (144, 6, 0));
        }
        // Reserved bits are ignored on reception.
        let b = [144u8, 6, 0, 0xff, 0xbf, 4, 0xff, 0xff];
        let v = UdpTunnelRequest::new_checked(&b[..]).unwrap();
        assert_eq!((v.reserved1(), v.reserved3()), (0xff, 0xffff));
        assert_eq!(
            UdpTunnelRequestRepr::parse(&v),
            UdpTunnelRequestRepr {
                force: true,
                fa_required: false,
                encapsulation: 4
            }
        );
    }

    #[test]
    fn reply_layout_and_round_trip() {
        let repr = UdpTunnelReplyRepr {
            reply_code: 0,
            force: false,
            keepalive_interval: 110,
        };
        let b = repr.to_bytes();
        assert_eq!(b, [44, 6, 0, 0, 0, 0, 0, 110]);
        let v = UdpTunnelReply::new_checked(&b[..]).unwrap();
        assert_eq!(UdpTunnelReplyRepr::parse(&v), repr);
        let repr = UdpTunnelReplyRepr {
            reply_code: 64,
            force: true,
            keepalive_interval: 0x1234,
        };
        let b = repr.to_bytes();
        assert_eq!(b, [44, 6, 0, 64, 0x80, 0, 0x12, 0x34]);
        assert_eq!(UdpTunnelReplyRepr::parse_data(&b[2..]), Ok(repr));
    }

    #[test]
    fn truncation_and_bad_headers() {
        let req = UdpTunnelRequestRepr::default().to_bytes();
        for n in 0..UDP_TUNNEL_EXT_LEN {
            assert_eq!(
                UdpTunnelRequest::new_checked(&req[..n]),
                Err(NatWireError::Truncated)
            );
        }
        let mut b = req;
        b[0] = 145;
        assert_eq!(
            UdpTunnelRequest::new_checked(&b[..]),
            Err(NatWireError::BadType(145))
        );
        let mut b = req;
        b[1] = 7;
        assert_eq!(
            UdpTunnelRequest::new_checked(&b[..]),
            Err(NatWireError::BadLength(7))
        );
        let mut b = req;
        b[2] = 1;
        assert_eq!(
            UdpTunnelRequest::new_checked(&b[..]),
            Err(NatWireError::BadSubType(1))
        );
        assert_eq!(
            UdpTunnelRequestRepr::parse_data(&req[2..7]),
            Err(NatWireError::BadLength(5))
        );
        let rep = UdpTunnelReplyRepr {
            reply_code: 0,
            force: false,
            keepalive_interval: 1,
        }
        .to_bytes();
        for n in 0..UDP_TUNNEL_EXT_LEN {
            assert_eq!(
                UdpTunnelReply::new_checked(&rep[..n]),
                Err(NatWireError::Truncated)
            );
        }
        assert_eq!(
            UdpTunnelReply::new_checked(&req[..]),
            Err(NatWireError::BadType(144))
        );
        for n in 0..TUNNEL_DATA_HEADER_LEN {
            assert_eq!(
                TunnelData::new_checked(&[4u8, 4, 0, 0][..n]),
                Err(NatWireError::Truncated)
            );
        }
        assert_eq!(
            TunnelData::new_checked(&[1u8, 4, 0, 0][..]),
            Err(NatWireError::BadType(1))
        );
    }

    #[test]
    fn tunnel_data_round_trip() {
        let mut b = [0xaau8; 8];
        TunnelDataRepr { next_header: 4 }.emit(&mut TunnelData::new_unchecked(&mut b[..]));
        assert_eq!(b, [4, 4, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
        let v = TunnelData::new_checked(&b[..]).unwrap();
        assert_eq!(TunnelDataRepr::parse(&v), TunnelDataRepr { next_header: 4 });
        assert_eq!((v.msg_type(), v.reserved()), (4, 0));
        assert_eq!(v.payload(), &[0xaa; 4]);
        // Exactly the header: an empty payload (a keepalive).
        assert_eq!(TunnelData::new_checked(&b[..4]).unwrap().payload(), &[]);
    }
}
