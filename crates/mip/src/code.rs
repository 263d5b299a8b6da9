//! Registration Reply codes (RFC 5944 §3.4, RFC 3024 §4.3).

use core::fmt;

/// The Code field of a Registration Reply, restricted to the values the MSM
/// profile uses (PROTOCOL.md §1) plus 138 (see the crate docs).
///
/// Codes a peer may legitimately send but that this profile never produces
/// (1, 64-127 from foreign agents, 132, 135, ...) are not variants:
/// [`Code::from_u8`] returns `None` for them and
/// [`ParsedReply`](crate::ParsedReply) keeps the raw byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Code {
    /// 0: registration accepted.
    Accepted = 0,
    /// 128: reason unspecified.
    ReasonUnspecified = 128,
    /// 129: administratively prohibited (unknown subscriber, home address
    /// outside the pool or not the subscriber's).
    AdministrativelyProhibited = 129,
    /// 130: insufficient resources.
    InsufficientResources = 130,
    /// 131: mobile node failed authentication.
    MnFailedAuthentication = 131,
    /// 133: registration Identification mismatch.
    IdentificationMismatch = 133,
    /// 134: poorly formed Request.
    PoorlyFormedRequest = 134,
    /// 136: unknown home agent address.
    UnknownHomeAgentAddress = 136,
    /// 137: requested reverse tunnel unavailable (RFC 3024).
    ReverseTunnelUnavailable = 137,
    /// 138: reverse tunnel is mandatory and 'T' bit not set (RFC 3024).
    ReverseTunnelMandatory = 138,
    /// 139: requested encapsulation unavailable (RFC 3024).
    EncapsulationUnavailable = 139,
}

impl Code {
    /// Every variant, in numeric order.
    pub const ALL: [Code; 11] = [
        Code::Accepted,
        Code::ReasonUnspecified,
        Code::AdministrativelyProhibited,
        Code::InsufficientResources,
        Code::MnFailedAuthentication,
        Code::IdentificationMismatch,
        Code::PoorlyFormedRequest,
        Code::UnknownHomeAgentAddress,
        Code::ReverseTunnelUnavailable,
        Code::ReverseTunnelMandatory,
        Code::EncapsulationUnavailable,
    ];

    /// The wire value.
    #[inline]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The variant for a wire value, `None` for codes outside the profile.
    #[inline]
    pub const fn from_u8(v: u8) -> Option<Code> {
        Some(match v {
            0 => Code::Accepted,
            128 => Code::ReasonUnspecified,
            129 => Code::AdministrativelyProhibited,
            130 => Code::InsufficientResources,
            131 => Code::MnFailedAuthentication,
            133 => Code::IdentificationMismatch,
            134 => Code::PoorlyFormedRequest,
            136 => Code::UnknownHomeAgentAddress,
            137 => Code::ReverseTunnelUnavailable,
            138 => Code::ReverseTunnelMandatory,
            139 => Code::EncapsulationUnavailable,
            _ => return None,
        })
    }

    /// The RFC's name for the code.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Accepted => "registration accepted",
            Code::ReasonUnspecified => "reason unspecified",
            Code::AdministrativelyProhibited => "administratively prohibited",
            Code::InsufficientResources => "insufficient resources",
            Code::MnFailedAuthentication => "mobile node failed authentication",
            Code::IdentificationMismatch => "registration Identification mismatch",
            Code::PoorlyFormedRequest => "poorly formed Request",
            Code::UnknownHomeAgentAddress => "unknown home agent address",
            Code::ReverseTunnelUnavailable => "requested reverse tunnel unavailable",
            Code::ReverseTunnelMandatory => "reverse tunnel is mandatory and 'T' bit not set",
            Code::EncapsulationUnavailable => "requested encapsulation unavailable",
        }
    }

    /// Whether the code accepts the registration (RFC 5944: codes 0 and 1).
    #[inline]
    pub const fn is_accepted(self) -> bool {
        matches!(self, Code::Accepted)
    }
}

impl From<Code> for u8 {
    #[inline]
    fn from(c: Code) -> u8 {
        c as u8
    }
}

impl TryFrom<u8> for Code {
    /// The unknown value.
    type Error = u8;

    #[inline]
    fn try_from(v: u8) -> Result<Code, u8> {
        Code::from_u8(v).ok_or(v)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_u8(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_byte() {
        let mut known = 0;
        for v in 0..=255u8 {
            match Code::from_u8(v) {
                Some(c) => {
                    known += 1;
                    assert_eq!(c.as_u8(), v);
                    assert_eq!(u8::from(c), v);
                    assert_eq!(Code::try_from(v), Ok(c));
                }
                None => assert_eq!(Code::try_from(v), Err(v)),
            }
        }
        assert_eq!(known, Code::ALL.len());
    }

    #[test]
    fn values_and_names() {
        let expect: [(Code, u8, &str); 11] = [
            (Code::Accepted, 0, "registration accepted"),
            (Code::ReasonUnspecified, 128, "reason unspecified"),
            (
                Code::AdministrativelyProhibited,
                129,
                "administratively prohibited",
            ),
            (Code::InsufficientResources, 130, "insufficient resources"),
            (
                Code::MnFailedAuthentication,
                131,
                "mobile node failed authentication",
            ),
            (
                Code::IdentificationMismatch,
                133,
                "registration Identification mismatch",
            ),
            (Code::PoorlyFormedRequest, 134, "poorly formed Request"),
            (
                Code::UnknownHomeAgentAddress,
                136,
                "unknown home agent address",
            ),
            (
                Code::ReverseTunnelUnavailable,
                137,
                "requested reverse tunnel unavailable",
            ),
            (
                Code::ReverseTunnelMandatory,
                138,
                "reverse tunnel is mandatory and 'T' bit not set",
            ),
            (
                Code::EncapsulationUnavailable,
                139,
                "requested encapsulation unavailable",
            ),
        ];
        for (i, (c, v, n)) in expect.iter().enumerate() {
            assert_eq!(Code::ALL[i], *c);
            assert_eq!(c.as_u8(), *v);
            assert_eq!(c.name(), *n);
            assert_eq!(c.to_string(), format!("{v} ({n})"));
            assert_eq!(c.is_accepted(), *v == 0);
        }
        // Codes outside the profile (1 = accepted without simultaneous
        // bindings, 132 = FA failed auth, 135 = too many bindings).
        for v in [1u8, 64, 127, 132, 135, 140, 255] {
            assert_eq!(Code::from_u8(v), None);
        }
    }
}
