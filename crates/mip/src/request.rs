//! Registration Request (RFC 5944 §3.3).

use crate::error::RequestError;
use crate::ext::{self, ExtensionIter, Nai, AUTHENTICATOR_LEN};
use crate::nat::{UdpTunnelRequestRepr, EXT_UDP_TUNNEL_REQUEST};
use crate::{EmitError, MnHaProtected};
use core::fmt;
use core::net::Ipv4Addr;
use core::ops::{BitAnd, BitOr};

/// Type of a Registration Request.
pub const TYPE_REQUEST: u8 = 1;
/// Length of the fixed part of a Registration Request.
pub const REQUEST_FIXED_LEN: usize = 24;

mod field {
    pub const TYPE: usize = 0;
    pub const FLAGS: usize = 1;
    pub const LIFETIME: usize = 2;
    pub const HOME_ADDRESS: usize = 4;
    pub const HOME_AGENT: usize = 8;
    pub const CARE_OF: usize = 12;
    pub const IDENT: usize = 16;
}

/// The flags byte of a Registration Request: `S B D M G r T x`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// S: simultaneous bindings.
    pub const S: Flags = Flags(0x80);
    /// B: broadcast datagrams.
    pub const B: Flags = Flags(0x40);
    /// D: decapsulation by the mobile node (co-located care-of address).
    pub const D: Flags = Flags(0x20);
    /// M: minimal encapsulation.
    pub const M: Flags = Flags(0x10);
    /// G: GRE encapsulation.
    pub const G: Flags = Flags(0x08);
    /// r: reserved, sent as zero, ignored on reception.
    pub const R: Flags = Flags(0x04);
    /// T: reverse tunnelling requested (RFC 3024).
    pub const T: Flags = Flags(0x02);
    /// x: reserved, sent as zero, ignored on reception.
    pub const X: Flags = Flags(0x01);
    /// What this profile sends: D | T.
    pub const PROFILE: Flags = Flags(0x22);

    /// The byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    #[inline]
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// The flags with the reserved bits r and x cleared.
    #[inline]
    pub const fn without_reserved(self) -> Flags {
        Flags(self.0 & !(Flags::R.0 | Flags::X.0))
    }

    /// Check the flags against the profile (reserved r and x are ignored,
    /// RFC 5944 §3.3):
    /// D = 0, S = 1 or B = 1 → [`RequestError::BadFlags`] (134);
    /// else M = 1 or G = 1 → [`RequestError::EncapsulationUnavailable`] (139);
    /// else T = 0 → [`RequestError::ReverseTunnelRequired`] (138).
    pub const fn check(self) -> Result<(), RequestError> {
        if !self.contains(Flags::D) || self.intersects(Flags(Flags::S.0 | Flags::B.0)) {
            Err(RequestError::BadFlags(self))
        } else if self.intersects(Flags(Flags::M.0 | Flags::G.0)) {
            Err(RequestError::EncapsulationUnavailable(self))
        } else if !self.contains(Flags::T) {
            Err(RequestError::ReverseTunnelRequired)
        } else {
            Ok(())
        }
    }
}

impl BitOr for Flags {
    type Output = Flags;
    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitAnd for Flags {
    type Output = Flags;
    #[inline]
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u8, &str); 8] = [
            (0x80, "S"),
            (0x40, "B"),
            (0x20, "D"),
            (0x10, "M"),
            (0x08, "G"),
            (0x04, "r"),
            (0x02, "T"),
            (0x01, "x"),
        ];
        f.write_str("Flags(")?;
        let mut first = true;
        for (bit, name) in NAMES {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// A read/write view of a Registration Request (a UDP payload).
///
/// After [`new_checked`](Self::new_checked) every fixed-field accessor is
/// in bounds; extension accessors never panic on any buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationRequest<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RegistrationRequest<T> {
    /// Wrap without checking (fixed-field getters panic on a buffer shorter
    /// than 24 bytes).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        RegistrationRequest { buffer }
    }

    /// Wrap and check: shorter than 24 bytes → `Truncated`; Type not 1 →
    /// `BadType`. Extensions are not checked (see [`parse_request`]).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, RequestError> {
        let b = buffer.as_ref();
        if b.len() < REQUEST_FIXED_LEN {
            return Err(RequestError::Truncated);
        }
        if b[field::TYPE] != TYPE_REQUEST {
            return Err(RequestError::BadType(b[field::TYPE]));
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

    /// Type (1).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Flags byte.
    #[inline]
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }

    /// S: simultaneous bindings.
    #[inline]
    pub fn simultaneous_bindings(&self) -> bool {
        self.flags().contains(Flags::S)
    }

    /// B: broadcast datagrams.
    #[inline]
    pub fn broadcast(&self) -> bool {
        self.flags().contains(Flags::B)
    }

    /// D: decapsulation by the mobile node (co-located care-of address).
    #[inline]
    pub fn decapsulation_by_mn(&self) -> bool {
        self.flags().contains(Flags::D)
    }

    /// M: minimal encapsulation.
    #[inline]
    pub fn minimal_encapsulation(&self) -> bool {
        self.flags().contains(Flags::M)
    }

    /// G: GRE encapsulation.
    #[inline]
    pub fn gre_encapsulation(&self) -> bool {
        self.flags().contains(Flags::G)
    }

    /// T: reverse tunnelling.
    #[inline]
    pub fn reverse_tunnel(&self) -> bool {
        self.flags().contains(Flags::T)
    }

    /// Lifetime in seconds (0 = deregistration, 0xffff = infinity).
    #[inline]
    pub fn lifetime(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::LIFETIME], b[field::LIFETIME + 1]])
    }

    /// Home Address.
    #[inline]
    pub fn home_address(&self) -> Ipv4Addr {
        addr(self.buffer.as_ref(), field::HOME_ADDRESS)
    }

    /// Home Agent.
    #[inline]
    pub fn home_agent(&self) -> Ipv4Addr {
        addr(self.buffer.as_ref(), field::HOME_AGENT)
    }

    /// Care-of Address.
    #[inline]
    pub fn care_of_address(&self) -> Ipv4Addr {
        addr(self.buffer.as_ref(), field::CARE_OF)
    }

    /// Identification.
    #[inline]
    pub fn identification(&self) -> u64 {
        be64(self.buffer.as_ref(), field::IDENT)
    }

    /// The extensions after the fixed part.
    #[inline]
    pub fn extensions(&self) -> ExtensionIter<'_> {
        ExtensionIter::new(self.buffer.as_ref(), REQUEST_FIXED_LEN)
    }

    /// The data of the first Mobile Node NAI extension, without other
    /// checks: lets the MSM find the subscriber (and its key, to sign the
    /// Reply) for a request that [`parse_request`] rejected.
    #[inline]
    pub fn nai(&self) -> Option<&[u8]> {
        ext::find_nai(self.buffer.as_ref(), REQUEST_FIXED_LEN)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RegistrationRequest<T> {
    /// Set Type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Set the flags byte.
    #[inline]
    pub fn set_flags(&mut self, v: Flags) {
        self.buffer.as_mut()[field::FLAGS] = v.0;
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
        set_addr(self.buffer.as_mut(), field::HOME_ADDRESS, v);
    }

    /// Set Home Agent.
    #[inline]
    pub fn set_home_agent(&mut self, v: Ipv4Addr) {
        set_addr(self.buffer.as_mut(), field::HOME_AGENT, v);
    }

    /// Set Care-of Address.
    #[inline]
    pub fn set_care_of_address(&mut self, v: Ipv4Addr) {
        set_addr(self.buffer.as_mut(), field::CARE_OF, v);
    }

    /// Set Identification.
    #[inline]
    pub fn set_identification(&mut self, v: u64) {
        self.buffer.as_mut()[field::IDENT..field::IDENT + 8].copy_from_slice(&v.to_be_bytes());
    }

    /// Recompute the authenticator of the first well-sized (length 36) MN-HA
    /// authentication extension after fields were changed. Returns false
    /// (and changes nothing) if there is none.
    pub fn fill_mn_ha(&mut self, key: &[u8]) -> bool {
        match ext::find_auth(self.buffer.as_ref(), REQUEST_FIXED_LEN) {
            Some(off) => {
                ext::resign(self.buffer.as_mut(), off, key);
                true
            }
            None => false,
        }
    }
}

#[inline]
fn addr(b: &[u8], off: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[off], b[off + 1], b[off + 2], b[off + 3])
}

#[inline]
fn set_addr(b: &mut [u8], off: usize, v: Ipv4Addr) {
    b[off..off + 4].copy_from_slice(&v.octets());
}

#[inline]
pub(crate) fn be64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_be_bytes(a)
}

/// A Registration Request that passed every structural and profile check
/// of [`parse_request`] (authentication and replay are separate steps:
/// [`verify_mn_ha`](crate::verify_mn_ha), [`check_replay`](crate::check_replay)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedRequest<'a> {
    /// Flags byte (reserved r/x may be set: they are ignored).
    pub flags: Flags,
    /// Lifetime in seconds; 0 = cancelling registration report.
    pub lifetime: u16,
    /// Home Address (IPgprs).
    pub home: Ipv4Addr,
    /// Home Agent (IPmsm-gprs).
    pub home_agent: Ipv4Addr,
    /// Care-of Address (IPwlan, or 0.0.0.0 / the home address from the WWAN).
    pub care_of: Ipv4Addr,
    /// Identification (high 32 bits: NTP seconds).
    pub identification: u64,
    /// The Mobile Node NAI extension's data (validated, see [`Nai`]).
    pub nai: &'a [u8],
    /// SPI of the MN-HA authentication extension (>= 256).
    pub spi: u32,
    /// The HMAC-SHA-256 authenticator.
    pub authenticator: &'a [u8; AUTHENTICATOR_LEN],
    /// Exactly the bytes the authenticator covers: the payload up to and
    /// including the SPI.
    pub auth_covered: &'a [u8],
    /// The UDP Tunnel Request extension (RFC 3519 §3.1), if the mobile asked
    /// for UDP tunnelling; it precedes the MN-HA extension, so it is
    /// authenticated once [`verify_mn_ha`](crate::verify_mn_ha) holds.
    pub udp_tunnel: Option<UdpTunnelRequestRepr>,
}

impl<'a> ParsedRequest<'a> {
    /// The NAI, `None` only if `nai` was changed to something invalid.
    #[inline]
    pub fn nai_parsed(&self) -> Option<Nai<'a>> {
        Nai::parse(self.nai)
    }

    /// The NAI as text.
    #[inline]
    pub fn nai_str(&self) -> Option<&'a str> {
        self.nai_parsed().map(|n| n.as_str())
    }

    /// The MSISDN (the digits before any `@`) as a number.
    #[inline]
    pub fn msisdn(&self) -> Option<u64> {
        self.nai_parsed().map(|n| n.msisdn())
    }

    /// The realm after `@`, if any.
    #[inline]
    pub fn realm(&self) -> Option<&'a str> {
        self.nai_parsed().and_then(|n| n.realm())
    }

    /// Whether this is a cancelling registration report (Lifetime 0).
    #[inline]
    pub fn is_deregistration(&self) -> bool {
        self.lifetime == 0
    }

    /// The profile flag check (see [`Flags::check`]).
    #[inline]
    pub fn check_flags(&self) -> Result<(), RequestError> {
        self.flags.check()
    }
}

impl MnHaProtected for ParsedRequest<'_> {
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

/// Parse and validate a Registration Request (the UDP payload): fixed part,
/// extensions, and the profile's flags. See the crate docs for every rule
/// and the error → code table.
pub fn parse_request(payload: &[u8]) -> Result<ParsedRequest<'_>, RequestError> {
    let req = parse_request_any_flags(payload)?;
    req.check_flags()?;
    Ok(req)
}

/// [`parse_request`] without the flag check, for an MSM that follows
/// RFC 5944 §3.8.2.1's order (authenticate, then check Identification,
/// then decide on the flags with [`ParsedRequest::check_flags`]).
pub fn parse_request_any_flags(payload: &[u8]) -> Result<ParsedRequest<'_>, RequestError> {
    let v = RegistrationRequest::new_checked(payload)?;
    let f = ext::walk(payload, REQUEST_FIXED_LEN, EXT_UDP_TUNNEL_REQUEST)?;
    let udp_tunnel = match f.udp_tunnel {
        Some(d) => {
            Some(UdpTunnelRequestRepr::parse_data(d).map_err(|_| RequestError::BadUdpTunnel)?)
        }
        None => None,
    };
    Ok(ParsedRequest {
        flags: v.flags(),
        lifetime: v.lifetime(),
        home: v.home_address(),
        home_agent: v.home_agent(),
        care_of: v.care_of_address(),
        identification: v.identification(),
        nai: f.nai,
        spi: f.spi,
        authenticator: f.authenticator,
        auth_covered: &payload[..f.covered_end],
        udp_tunnel,
    })
}

/// Builds a Registration Request the way the MCM sends it: flags D | T,
/// the Mobile Node NAI extension, then the MN-HA authentication extension
/// with HMAC-SHA-256 keyed by `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestBuilder<'a> {
    /// Lifetime in seconds (0 = cancel).
    pub lifetime: u16,
    /// Home Address (IPgprs).
    pub home: Ipv4Addr,
    /// Home Agent (IPmsm-gprs).
    pub home_agent: Ipv4Addr,
    /// Care-of Address.
    pub care_of: Ipv4Addr,
    /// Identification (see [`make_identification`](crate::make_identification)).
    pub identification: u64,
    /// NAI: MSISDN, optionally `@realm`.
    pub nai: &'a str,
    /// SPI (>= 256).
    pub spi: u32,
    /// The subscriber's shared key.
    pub key: &'a [u8],
}

impl RequestBuilder<'_> {
    /// Length of the message: 24 + 2 + NAI + 38.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        REQUEST_FIXED_LEN + 2 + self.nai.len() + ext::MN_HA_AUTH_EXT_LEN
    }

    /// Length with the UDP Tunnel Request extension when `udp` is set.
    pub fn len_with(&self, udp: Option<UdpTunnelRequestRepr>) -> usize {
        self.len() + udp.map_or(0, |u| u.buffer_len())
    }

    /// Write the request to the start of `out`; returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        self.emit_with(out, None)
    }

    /// [`emit`](Self::emit), with a UDP Tunnel Request extension (RFC 3519)
    /// between the NAI and the MN-HA extension when `udp` is set.
    pub fn emit_with(
        &self,
        out: &mut [u8],
        udp: Option<UdpTunnelRequestRepr>,
    ) -> Result<usize, EmitError> {
        let extra = udp.map(|u| u.to_bytes());
        let extra: &[u8] = match &extra {
            Some(b) => b,
            None => &[],
        };
        ext::check_emit(
            REQUEST_FIXED_LEN,
            self.nai,
            extra.len(),
            self.spi,
            out.len(),
        )?;
        let mut v = RegistrationRequest::new_unchecked(&mut out[..REQUEST_FIXED_LEN]);
        v.set_msg_type(TYPE_REQUEST);
        v.set_flags(Flags::PROFILE);
        v.set_lifetime(self.lifetime);
        v.set_home_address(self.home);
        v.set_home_agent(self.home_agent);
        v.set_care_of_address(self.care_of);
        v.set_identification(self.identification);
        Ok(ext::emit_exts(
            out,
            REQUEST_FIXED_LEN,
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
    pub fn to_vec_with(&self, udp: Option<UdpTunnelRequestRepr>) -> Result<Vec<u8>, EmitError> {
        let mut v = vec![0u8; self.len_with(udp)];
        let n = self.emit_with(&mut v, udp)?;
        v.truncate(n);
        Ok(v)
    }
}
