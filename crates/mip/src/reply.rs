//! Registration Reply (RFC 5944 §3.4).

use crate::error::ReplyError;
use crate::ext::{self, ExtensionIter, Nai, AUTHENTICATOR_LEN};
use crate::nat::{UdpTunnelReplyRepr, EXT_UDP_TUNNEL_REPLY};
use crate::request::be64;
use crate::{Code, EmitError, MnHaProtected};
use core::net::Ipv4Addr;

/// Type of a Registration Reply.
pub const TYPE_REPLY: u8 = 3;
/// Length of the fixed part of a Registration Reply.
pub const REPLY_FIXED_LEN: usize = 20;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const LIFETIME: usize = 2;
    pub const HOME_ADDRESS: usize = 4;
    pub const HOME_AGENT: usize = 8;
    pub const IDENT: usize = 12;
}

/// A read/write view of a Registration Reply (a UDP payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationReply<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RegistrationReply<T> {
    /// Wrap without checking (fixed-field getters panic on a buffer shorter
    /// than 20 bytes).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        RegistrationReply { buffer }
    }

    /// Wrap and check: shorter than 20 bytes → `Truncated`; Type not 3 →
    /// `BadType`. Extensions are not checked (see [`parse_reply`]).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ReplyError> {
        let b = buffer.as_ref();
        if b.len() < REPLY_FIXED_LEN {
            return Err(ReplyError::Truncated);
        }
        if b[field::TYPE] != TYPE_REPLY {
            return Err(ReplyError::BadType(b[field::TYPE]));
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Give back the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole message.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Type (3).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code byte.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Lifetime granted, in seconds.
    #[inline]
    pub fn lifetime(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::LIFETIME], b[field::LIFETIME + 1]])
    }

    /// Home Address.
    #[inline]
    pub fn home_address(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        let o = field::HOME_ADDRESS;
        Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3])
    }

    /// Home Agent.
    #[inline]
    pub fn home_agent(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        let o = field::HOME_AGENT;
        Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3])
    }

    /// Identification.
    #[inline]
    pub fn identification(&self) -> u64 {
        be64(self.buffer.as_ref(), field::IDENT)
    }

    /// The extensions after the fixed part.
    #[inline]
    pub fn extensions(&self) -> ExtensionIter<'_> {
        ExtensionIter::new(self.buffer.as_ref(), REPLY_FIXED_LEN)
    }

    /// The data of the first Mobile Node NAI extension, without other checks.
    #[inline]
    pub fn nai(&self) -> Option<&[u8]> {
        ext::find_nai(self.buffer.as_ref(), REPLY_FIXED_LEN)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RegistrationReply<T> {
    /// Set Type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Set Code.
    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Set Lifetime.
    #[inline]
    pub fn set_lifetime(&mut self, v: u16) {
        self.buffer.as_mut()[field::LIFETIME..field::LIFETIME + 2]
            .copy_from_slice(&v.to_be_bytes());
    }

    /// Set Home Address.
    #[inline]
    pub fn set_home_address(&mut self, v: Ipv4Addr) {
        let o = field::HOME_ADDRESS;
        self.buffer.as_mut()[o..o + 4].copy_from_slice(&v.octets());
    }

    /// Set Home Agent.
    #[inline]
    pub fn set_home_agent(&mut self, v: Ipv4Addr) {
        let o = field::HOME_AGENT;
        self.buffer.as_mut()[o..o + 4].copy_from_slice(&v.octets());
    }

    /// Set Identification.
    #[inline]
    pub fn set_identification(&mut self, v: u64) {
        self.buffer.as_mut()[field::IDENT..field::IDENT + 8].copy_from_slice(&v.to_be_bytes());
    }

    /// Recompute the authenticator of the first well-sized MN-HA
    /// authentication extension; false (nothing changed) if there is none.
    pub fn fill_mn_ha(&mut self, key: &[u8]) -> bool {
        match ext::find_auth(self.buffer.as_ref(), REPLY_FIXED_LEN) {
            Some(off) => {
                ext::resign(self.buffer.as_mut(), off, key);
                true
            }
            None => false,
        }
    }
}

/// A Registration Reply that passed [`parse_reply`]'s structural checks.
/// The MCM must still [`verify_mn_ha`](crate::verify_mn_ha) it and match its
/// Identification's low 32 bits against the pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedReply<'a> {
    /// Code byte (any value; see [`known_code`](Self::known_code)).
    pub code: u8,
    /// Lifetime granted.
    pub lifetime: u16,
    /// Home Address.
    pub home: Ipv4Addr,
    /// Home Agent.
    pub home_agent: Ipv4Addr,
    /// Identification.
    pub identification: u64,
    /// The echoed NAI (validated).
    pub nai: &'a [u8],
    /// SPI of the MN-HA authentication extension.
    pub spi: u32,
    /// The HMAC-SHA-256 authenticator.
    pub authenticator: &'a [u8; AUTHENTICATOR_LEN],
    /// Exactly the bytes the authenticator covers.
    pub auth_covered: &'a [u8],
    /// The UDP Tunnel Reply extension (RFC 3519 §3.2), if the home agent
    /// answered a UDP tunnel request (covered by the authenticator).
    pub udp_tunnel: Option<UdpTunnelReplyRepr>,
}

impl<'a> ParsedReply<'a> {
    /// The code as a [`Code`], `None` outside the profile's set.
    #[inline]
    pub fn known_code(&self) -> Option<Code> {
        Code::from_u8(self.code)
    }

    /// Whether the registration was accepted (codes 0 and 1, RFC 5944 §3.4).
    #[inline]
    pub fn is_accepted(&self) -> bool {
        self.code <= 1
    }

    /// The NAI.
    #[inline]
    pub fn nai_parsed(&self) -> Option<Nai<'a>> {
        Nai::parse(self.nai)
    }

    /// The MSISDN of the echoed NAI.
    #[inline]
    pub fn msisdn(&self) -> Option<u64> {
        self.nai_parsed().map(|n| n.msisdn())
    }

    /// The realm of the echoed NAI.
    #[inline]
    pub fn realm(&self) -> Option<&'a str> {
        self.nai_parsed().and_then(|n| n.realm())
    }
}

impl MnHaProtected for ParsedReply<'_> {
    #[inline]
    fn spi(&self) -> u32 {
        self.spi
    }
    #[inline]
    fn authenticator(&self) -> &[u8; AUTHENTICATOR_LEN] {
        self.authenticator
    }
    #[inline]
    fn auth_covered(&self) -> &[u8] {
        self.auth_covered
    }
}

/// Parse a Registration Reply (the UDP payload) with the same extension
/// rules as requests.
pub fn parse_reply(payload: &[u8]) -> Result<ParsedReply<'_>, ReplyError> {
    let v = RegistrationReply::new_checked(payload)?;
    let f = ext::walk(payload, REPLY_FIXED_LEN, EXT_UDP_TUNNEL_REPLY)?;
    let udp_tunnel = match f.udp_tunnel {
        Some(d) => Some(UdpTunnelReplyRepr::parse_data(d).map_err(|_| ReplyError::BadUdpTunnel)?),
        None => None,
    };
    Ok(ParsedReply {
        code: v.code(),
        lifetime: v.lifetime(),
        home: v.home_address(),
        home_agent: v.home_agent(),
        identification: v.identification(),
        nai: f.nai,
        spi: f.spi,
        authenticator: f.authenticator,
        auth_covered: &payload[..f.covered_end],
        udp_tunnel,
    })
}

/// Builds a Registration Reply the way the MSM sends it: the request's NAI
/// echoed, then an MN-HA authentication extension computed with the
/// subscriber's key and the request's SPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyBuilder<'a> {
    /// Code.
    pub code: Code,
    /// Lifetime granted (never above the MSM's maximum; 0 when rejecting).
    pub lifetime: u16,
    /// Home Address, copied from the request.
    pub home: Ipv4Addr,
    /// Home Agent, copied from the request.
    pub home_agent: Ipv4Addr,
    /// Identification (see [`reply_identification`](crate::reply_identification)).
    pub identification: u64,
    /// The request's NAI.
    pub nai: &'a str,
    /// The request's SPI.
    pub spi: u32,
    /// The subscriber's shared key.
    pub key: &'a [u8],
}

impl ReplyBuilder<'_> {
    /// Length of the message: 20 + 2 + NAI + 38.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        REPLY_FIXED_LEN + 2 + self.nai.len() + ext::MN_HA_AUTH_EXT_LEN
    }

    /// Length with the UDP Tunnel Reply extension when `udp` is set.
    pub fn len_with(&self, udp: Option<UdpTunnelReplyRepr>) -> usize {
        self.len() + udp.map_or(0, |u| u.buffer_len())
    }

    /// Write the reply to the start of `out`; returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        self.emit_with(out, None)
    }

    /// [`emit`](Self::emit), with a UDP Tunnel Reply extension (RFC 3519)
    /// between the NAI and the MN-HA extension when `udp` is set.
    pub fn emit_with(
        &self,
        out: &mut [u8],
        udp: Option<UdpTunnelReplyRepr>,
    ) -> Result<usize, EmitError> {
        let extra = udp.map(|u| u.to_bytes());
        let extra: &[u8] = match &extra {
            Some(b) => b,
            None => &[],
        };
        ext::check_emit(REPLY_FIXED_LEN, self.nai, extra.len(), self.spi, out.len())?;
        let mut v = RegistrationReply::new_unchecked(&mut out[..REPLY_FIXED_LEN]);
        v.set_msg_type(TYPE_REPLY);
        v.set_code(self.code.as_u8());
        v.set_lifetime(self.lifetime);
        v.set_home_address(self.home);
        v.set_home_agent(self.home_agent);
        v.set_identification(self.identification);
        Ok(ext::emit_exts(
            out,
            REPLY_FIXED_LEN,
            self.nai.as_bytes(),
            extra,
            self.spi,
            self.key,
        ))
    }

    /// [`emit`](Self::emit) into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EmitError> {
        self.to_vec_with(None)
    }

    /// [`emit_with`](Self::emit_with) into a new vector.
    pub fn to_vec_with(&self, udp: Option<UdpTunnelReplyRepr>) -> Result<Vec<u8>, EmitError> {
        let mut v = vec![0u8; self.len_with(udp)];
        let n = self.emit_with(&mut v, udp)?;
        v.truncate(n);
        Ok(v)
    }
}
