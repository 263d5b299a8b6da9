//! Error types. The request error → reply code table is in the crate docs.

use crate::{Code, Flags};
use thiserror::Error;

/// Why a Registration Request was rejected by [`parse_request`](crate::parse_request)
/// or [`RegistrationRequest::new_checked`](crate::RegistrationRequest::new_checked).
///
/// [`code`](RequestError::code) gives the Reply code; [`reply_code`](RequestError::reply_code)
/// is `None` for the one case RFC 5944 §1.9 says to discard silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Shorter than the 24-byte fixed part.
    #[error("request shorter than its 24-byte fixed part")]
    Truncated,
    /// The Type byte is not 1 (Registration Request).
    #[error("message type {0} is not a Registration Request (1)")]
    BadType(u8),
    /// D = 0 (care-of address not co-located), or S or B set: outside the
    /// profile.
    #[error("flags {0:?} outside the profile (D must be 1, S and B 0)")]
    BadFlags(Flags),
    /// M or G set: only IP-in-IP (RFC 2003) is offered.
    #[error("flags {0:?} request minimal or GRE encapsulation")]
    EncapsulationUnavailable(Flags),
    /// T = 0: the profile always reverse-tunnels (RFC 3024).
    #[error("T bit not set but reverse tunnelling is mandatory")]
    ReverseTunnelRequired,
    /// Fewer than 2 bytes (type and length) left for the extension at `offset`.
    #[error("extension header at offset {offset} truncated")]
    ExtensionTruncated {
        /// Offset of the extension in the UDP payload.
        offset: usize,
    },
    /// The length of the extension at `offset` runs past the end of the payload.
    #[error("extension type {ty} at offset {offset} claims {len} bytes past the end")]
    ExtensionOverrun {
        /// Offset of the extension in the UDP payload.
        offset: usize,
        /// Its type.
        ty: u8,
        /// Its length field.
        len: u8,
    },
    /// A non-skippable extension (type 0-127) other than MN-HA
    /// authentication (32): RFC 5944 §1.9 says discard silently.
    #[error("unrecognised non-skippable extension type {0}")]
    UnknownExtension(u8),
    /// An MN-HA authentication extension without a Mobile Node NAI extension.
    #[error("no Mobile Node NAI extension")]
    MissingNai,
    /// More than one Mobile Node NAI extension.
    #[error("more than one Mobile Node NAI extension")]
    DuplicateNai,
    /// The NAI is not 1-15 E.164 digits (first digit 1-9), optionally
    /// followed by `@realm`.
    #[error("NAI is not an E.164 MSISDN optionally followed by @realm")]
    BadNai,
    /// The Mobile Node NAI extension comes after the MN-HA authentication
    /// extension.
    #[error("Mobile Node NAI extension after the MN-HA authentication extension")]
    ExtensionOrder,
    /// No MN-HA authentication extension.
    #[error("no MN-HA authentication extension")]
    MissingAuth,
    /// The MN-HA authentication extension is too short to hold an SPI.
    #[error("MN-HA authentication extension length {0} cannot hold an SPI")]
    AuthTooShort(u8),
    /// The MN-HA authentication extension's authenticator is not the 32
    /// bytes of HMAC-SHA-256 (length field `!= 36`).
    #[error("MN-HA authentication extension length {0}, HMAC-SHA-256 needs 36")]
    BadAuthLength(u8),
    /// SPI 0-255: reserved (RFC 5944 §3.5.1), never an HMAC-SHA-256 SPI.
    #[error("reserved SPI {0}")]
    ReservedSpi(u32),
    /// Bytes after the MN-HA authentication extension (not covered by the
    /// authenticator).
    #[error("{len} bytes after the MN-HA authentication extension at offset {offset}")]
    TrailingData {
        /// Offset of the first trailing byte.
        offset: usize,
        /// How many bytes trail.
        len: usize,
    },
    /// A UDP Tunnel Request extension (RFC 3519, type 144) whose length is
    /// not 6 or whose sub-type is not 0, or a second one.
    #[error("malformed or repeated UDP Tunnel Request extension")]
    BadUdpTunnel,
}

impl RequestError {
    /// The Registration Reply code for this error (see the table in the
    /// crate docs).
    pub const fn code(&self) -> Code {
        match self {
            RequestError::MissingAuth
            | RequestError::BadAuthLength(_)
            | RequestError::ReservedSpi(_) => Code::MnFailedAuthentication,
            RequestError::EncapsulationUnavailable(_) => Code::EncapsulationUnavailable,
            RequestError::ReverseTunnelRequired => Code::ReverseTunnelMandatory,
            RequestError::Truncated
            | RequestError::BadType(_)
            | RequestError::BadFlags(_)
            | RequestError::ExtensionTruncated { .. }
            | RequestError::ExtensionOverrun { .. }
            | RequestError::UnknownExtension(_)
            | RequestError::MissingNai
            | RequestError::DuplicateNai
            | RequestError::BadNai
            | RequestError::ExtensionOrder
            | RequestError::AuthTooShort(_)
            | RequestError::TrailingData { .. }
            | RequestError::BadUdpTunnel => Code::PoorlyFormedRequest,
        }
    }

    /// The code to answer with, or `None` when the request must be
    /// discarded without a Reply: an unrecognised extension of type 0-127
    /// (RFC 5944 §1.9), or a message that is not a Registration Request at
    /// all (wrong type: there is nothing to answer).
    pub const fn reply_code(&self) -> Option<Code> {
        match self {
            RequestError::UnknownExtension(_) | RequestError::BadType(_) => None,
            e => Some(e.code()),
        }
    }
}

/// Why a Registration Reply was rejected by [`parse_reply`](crate::parse_reply).
/// The MCM drops such a reply (RFC 5944 §3.6.2.1) and keeps retransmitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// Shorter than the 20-byte fixed part.
    #[error("reply shorter than its 20-byte fixed part")]
    Truncated,
    /// The Type byte is not 3 (Registration Reply).
    #[error("message type {0} is not a Registration Reply (3)")]
    BadType(u8),
    /// See [`RequestError::ExtensionTruncated`].
    #[error("extension header at offset {offset} truncated")]
    ExtensionTruncated {
        /// Offset of the extension in the UDP payload.
        offset: usize,
    },
    /// See [`RequestError::ExtensionOverrun`].
    #[error("extension type {ty} at offset {offset} claims {len} bytes past the end")]
    ExtensionOverrun {
        /// Offset of the extension in the UDP payload.
        offset: usize,
        /// Its type.
        ty: u8,
        /// Its length field.
        len: u8,
    },
    /// See [`RequestError::UnknownExtension`].
    #[error("unrecognised non-skippable extension type {0}")]
    UnknownExtension(u8),
    /// See [`RequestError::MissingNai`].
    #[error("no Mobile Node NAI extension")]
    MissingNai,
    /// See [`RequestError::DuplicateNai`].
    #[error("more than one Mobile Node NAI extension")]
    DuplicateNai,
    /// See [`RequestError::BadNai`].
    #[error("NAI is not an E.164 MSISDN optionally followed by @realm")]
    BadNai,
    /// See [`RequestError::ExtensionOrder`].
    #[error("Mobile Node NAI extension after the MN-HA authentication extension")]
    ExtensionOrder,
    /// See [`RequestError::MissingAuth`].
    #[error("no MN-HA authentication extension")]
    MissingAuth,
    /// See [`RequestError::AuthTooShort`].
    #[error("MN-HA authentication extension length {0} cannot hold an SPI")]
    AuthTooShort(u8),
    /// See [`RequestError::BadAuthLength`].
    #[error("MN-HA authentication extension length {0}, HMAC-SHA-256 needs 36")]
    BadAuthLength(u8),
    /// See [`RequestError::ReservedSpi`].
    #[error("reserved SPI {0}")]
    ReservedSpi(u32),
    /// See [`RequestError::TrailingData`].
    #[error("{len} bytes after the MN-HA authentication extension at offset {offset}")]
    TrailingData {
        /// Offset of the first trailing byte.
        offset: usize,
        /// How many bytes trail.
        len: usize,
    },
    /// A UDP Tunnel Reply extension (RFC 3519, type 44) whose length is not
    /// 6 or whose sub-type is not 0, or a second one.
    #[error("malformed or repeated UDP Tunnel Reply extension")]
    BadUdpTunnel,
}

/// Why a builder could not emit a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer is shorter than the message
    /// (see `RequestBuilder::len` / `ReplyBuilder::len`).
    #[error("output buffer too small: {need} bytes needed")]
    BufferTooSmall {
        /// Bytes the message needs.
        need: usize,
    },
    /// The NAI is not 1-15 E.164 digits (first digit 1-9), optionally
    /// followed by `@realm`, or is longer than 255 bytes.
    #[error("NAI is not an E.164 MSISDN optionally followed by @realm")]
    BadNai,
    /// SPI 0-255 is reserved.
    #[error("reserved SPI {0}")]
    ReservedSpi(u32),
}

/// Extension-walk failures shared by requests and replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExtErr {
    ExtensionTruncated { offset: usize },
    ExtensionOverrun { offset: usize, ty: u8, len: u8 },
    UnknownExtension(u8),
    MissingNai,
    DuplicateNai,
    BadNai,
    ExtensionOrder,
    MissingAuth,
    AuthTooShort(u8),
    BadAuthLength(u8),
    ReservedSpi(u32),
    TrailingData { offset: usize, len: usize },
    BadUdpTunnel,
}

macro_rules! from_ext_err {
    ($t:ident) => {
        impl From<ExtErr> for $t {
            fn from(e: ExtErr) -> $t {
                match e {
                    ExtErr::ExtensionTruncated { offset } => $t::ExtensionTruncated { offset },
                    ExtErr::ExtensionOverrun { offset, ty, len } => {
                        $t::ExtensionOverrun { offset, ty, len }
                    }
                    ExtErr::UnknownExtension(t) => $t::UnknownExtension(t),
                    ExtErr::MissingNai => $t::MissingNai,
                    ExtErr::DuplicateNai => $t::DuplicateNai,
                    ExtErr::BadNai => $t::BadNai,
                    ExtErr::ExtensionOrder => $t::ExtensionOrder,
                    ExtErr::MissingAuth => $t::MissingAuth,
                    ExtErr::AuthTooShort(l) => $t::AuthTooShort(l),
                    ExtErr::BadAuthLength(l) => $t::BadAuthLength(l),
                    ExtErr::ReservedSpi(s) => $t::ReservedSpi(s),
                    ExtErr::TrailingData { offset, len } => $t::TrailingData { offset, len },
                    ExtErr::BadUdpTunnel => $t::BadUdpTunnel,
                }
            }
        }
    };
}

from_ext_err!(RequestError);
from_ext_err!(ReplyError);
