//! Mobile IPv4 registration messages, as profiled by PROTOCOL.md §1
//! (RFC 5944 with RFC 2794 NAI, RFC 3024 reverse tunnelling, and an
//! HMAC-SHA-256 MN-HA authenticator). Shared by the MSM (home-agent side)
//! and the MCM (mobile side). Pure parse / emit / crypto: no I/O, no DPDK.
//!
//! * Views in the style of `msm-wire`: [`RegistrationRequest`],
//!   [`RegistrationReply`] (`new_checked`, getters, setters, extension
//!   iterator, in-place re-signing).
//! * Validating parsers: [`parse_request`] / [`parse_reply`] →
//!   [`ParsedRequest`] / [`ParsedReply`], authenticated with
//!   [`verify_mn_ha`].
//! * Builders: [`RequestBuilder`] (MCM), [`ReplyBuilder`] (MSM).
//! * Replay protection: [`ntp_seconds`], [`make_identification`],
//!   [`check_replay`], [`reply_identification`].
//!
//! # Wire format
//!
//! ```text
//! Request (UDP payload, to port 434)     Reply
//!  0 type = 1                             0 type = 3
//!  1 flags S B D M G r T x (sent 0x22)    1 code
//!  2 lifetime (u16)                       2 lifetime (u16)
//!  4 home address                         4 home address
//!  8 home agent                           8 home agent
//! 12 care-of address                     12 identification (u64)
//! 16 identification (u64)                20 extensions
//! 24 extensions
//!
//! extensions, in this order:
//!   131, len, NAI (1-255 bytes: MSISDN digits [ "@" realm ])
//!   [144, 6, UDP Tunnel Request (Request) | 44, 6, UDP Tunnel Reply (Reply)]
//!    32, 36, SPI (u32, >= 256), HMAC-SHA-256 (32 bytes)
//! authenticator = HMAC-SHA-256(key, payload[.. up to and including the SPI])
//! ```
//!
//! # Parsing rules and the error → Reply code table
//!
//! [`parse_request`] checks in wire order; the first failure is reported.
//! [`RequestError::code`] is the Reply code; [`RequestError::reply_code`]
//! is `None` where no Reply must be sent.
//!
//! | error | code | why |
//! | --- | --- | --- |
//! | `Truncated` (< 24 bytes) | 134 | poorly formed |
//! | `BadType(t)` (t ≠ 1) | 134, no reply | not a Registration Request: nothing to answer |
//! | `ExtensionTruncated`, `ExtensionOverrun` (an extension's header or length runs past the payload) | 134 | poorly formed |
//! | `UnknownExtension(t)`, t < 128, t ≠ 32 | 134, **no reply** | RFC 5944 §1.9: unrecognised non-skippable extension → silently discard |
//! | unknown type ≥ 128 | — (skipped) | RFC 5944 §1.9; still covered by the authenticator if before it |
//! | `DuplicateNai` | 134 | |
//! | `BadNai` (empty, non-digit, > 15 digits, leading 0, bad realm) | 134 | |
//! | `MissingNai` (MN-HA ext. with no NAI anywhere) | 134 | the NAI names the subscriber (RFC 2794) |
//! | `ExtensionOrder` (NAI after the MN-HA ext.) | 134 | RFC 2794 / PROTOCOL.md: NAI first, covered by the authenticator |
//! | `MissingAuth` (no MN-HA ext.) | 131 | RFC 5944 §3.8.2.1 a): no authorization-enabling extension = authentication failed |
//! | `AuthTooShort(l)` (l < 4) | 134 | cannot even hold an SPI |
//! | `BadAuthLength(l)` (4 ≤ l ≠ 36) | 131 | another algorithm's authenticator: not HMAC-SHA-256, so the MN fails authentication |
//! | `ReservedSpi(s)` (s < 256) | 131 | RFC 5944 §3.5.1 reserved SPIs; PROTOCOL.md: unknown SPI → 131 |
//! | `TrailingData` (bytes after the MN-HA ext.) | 134 | see below |
//! | `BadUdpTunnel` (UDP Tunnel Request ext. of length ≠ 6, sub-type ≠ 0, or twice) | 134 | RFC 3519 §3.1 layout ([`nat`]) |
//! | `BadFlags` (D = 0, or S or B set) | 134 | outside the profile |
//! | `EncapsulationUnavailable` (M or G set) | 139 | only IP-in-IP is offered (RFC 3024 §4.3 / RFC 5944) |
//! | `ReverseTunnelRequired` (T = 0) | 138 | RFC 3024 §4.3: "reverse tunnel is mandatory and 'T' bit not set" |
//! | [`ReplayError`] (from [`check_replay`]) | 133 | RFC 5944 §5.7 |
//!
//! Flags: the reserved bits r and x are **ignored** on reception
//! (RFC 5944 §3.3: "sent as zero; ignored on reception"); the builders send
//! them as 0. Precedence when several flags are wrong: 134, then 139, then
//! 138 (see [`Flags::check`]). 137 ("requested reverse tunnel unavailable")
//! is never produced by the parser: it answers T = 1 when the agent cannot
//! reverse-tunnel, and the MSM always can.
//!
//! Trailing data: RFC 5944 §3.2/§3.5.2 makes the MN-HA authentication
//! extension the last one the mobile node adds; only a foreign agent may
//! append extensions after it. This profile has no foreign agent (D = 1, the
//! three paths of PROTOCOL.md reach the MSM directly), so anything after the
//! authenticator is unauthenticated data from an unknown source; the parser
//! rejects it with 134 rather than silently ignoring part of a message it
//! acts on.
//!
//! Order of checks in the MSM: RFC 5944 §3.8.2.1 authenticates first
//! (131), then checks Identification (133), then decides. An MSM that wants
//! exactly that order uses [`parse_request_any_flags`], looks the subscriber
//! up by [`ParsedRequest::msisdn`] (129), calls [`verify_mn_ha`] (131),
//! [`check_replay`] (133), and only then [`ParsedRequest::check_flags`]
//! (134 / 138 / 139). [`parse_request`] does the flag check up front.
//! For a request that failed to parse, [`RegistrationRequest::nai`] still
//! finds the NAI, so the Reply can be signed with the subscriber's key.
//!
//! Replies are parsed with the same extension rules ([`ReplyError`]); the
//! MCM drops a Reply that fails to parse or to verify.
//!
//! # Example
//!
//! ```
//! use msm_mip::*;
//! use std::net::Ipv4Addr;
//! use std::time::SystemTime;
//!
//! let key = b"per-subscriber 32-byte key......";
//! let now = ntp_seconds(SystemTime::now());
//! // MCM: registration report from a WLAN.
//! let req = RequestBuilder {
//!     lifetime: 1800,
//!     home: Ipv4Addr::new(10, 20, 30, 40),
//!     home_agent: Ipv4Addr::new(192, 0, 2, 1),
//!     care_of: Ipv4Addr::new(198, 51, 100, 7),
//!     identification: make_identification(now, 1),
//!     nai: "491701234567",
//!     spi: 256,
//!     key,
//! }
//! .to_vec()?;
//!
//! // MSM.
//! let r = parse_request(&req)?; // else answer e.code(), or drop if e.reply_code() is None
//! assert_eq!(r.msisdn(), Some(491701234567)); // -> subscriber, key
//! assert!(verify_mn_ha(&r, key)); // else 131
//! let code = match check_replay(r.identification, now, DEFAULT_REPLAY_WINDOW_S, None) {
//!     Ok(()) => Code::Accepted,
//!     Err(e) => e.code(), // 133
//! };
//! let mut out = [0u8; 128];
//! let n = ReplyBuilder {
//!     code,
//!     lifetime: r.lifetime.min(600),
//!     home: r.home,
//!     home_agent: r.home_agent,
//!     identification: reply_identification(r.identification, code == Code::IdentificationMismatch, now),
//!     nai: r.nai_str().unwrap_or_default(),
//!     spi: r.spi,
//!     key,
//! }
//! .emit(&mut out)?;
//!
//! // MCM.
//! let reply = parse_reply(&out[..n])?;
//! assert!(verify_mn_ha(&reply, key));
//! assert_eq!(reply.known_code(), Some(Code::Accepted));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod code;
mod error;
pub mod ext;
pub mod nat;
mod replay;
mod reply;
mod request;

pub use code::Code;
pub use error::{EmitError, ReplyError, RequestError};
pub use ext::{
    compute_authenticator, verify_authenticator, Extension, ExtensionError, ExtensionIter, Nai,
    AUTHENTICATOR_LEN, EXT_MN_HA_AUTH, EXT_MN_NAI, MIN_SPI, MN_HA_AUTH_LEN,
};
pub use nat::{
    TunnelData, TunnelDataRepr, UdpTunnelReply, UdpTunnelReplyRepr, UdpTunnelRequest,
    UdpTunnelRequestRepr, EXT_UDP_TUNNEL_REPLY, EXT_UDP_TUNNEL_REQUEST, TUNNEL_DATA_HEADER_LEN,
    TYPE_TUNNEL_DATA,
};
pub use replay::{
    check_replay, make_identification, ntp_seconds, reply_identification, ReplayError,
    DEFAULT_REPLAY_WINDOW_S, NTP_UNIX_OFFSET,
};
pub use reply::{
    parse_reply, ParsedReply, RegistrationReply, ReplyBuilder, REPLY_FIXED_LEN, TYPE_REPLY,
};
pub use request::{
    parse_request, parse_request_any_flags, Flags, ParsedRequest, RegistrationRequest,
    RequestBuilder, REQUEST_FIXED_LEN, TYPE_REQUEST,
};

/// UDP port of Mobile IP registration (RFC 5944 §3.1).
pub const MIP_PORT: u16 = 434;

/// A message protected by an MN-HA authentication extension.
pub trait MnHaProtected {
    /// The SPI.
    fn spi(&self) -> u32;
    /// The 32-byte authenticator.
    fn authenticator(&self) -> &[u8; AUTHENTICATOR_LEN];
    /// Exactly the bytes the authenticator covers.
    fn auth_covered(&self) -> &[u8];
}

/// Verify the MN-HA authenticator of a parsed request or reply with the
/// subscriber's shared key, in constant time (hmac's `verify_slice`).
/// False for a reserved SPI (< 256) whatever the authenticator.
///
/// Which key goes with which SPI is the caller's business: the MSM answers
/// 131 when the subscriber has no key for [`MnHaProtected::spi`].
///
/// HMAC (RFC 2104) zero-pads keys shorter than 64 bytes, so `k` and
/// `k ‖ 0x00` are the same key: provision fixed-length random keys.
pub fn verify_mn_ha<M: MnHaProtected + ?Sized>(msg: &M, key: &[u8]) -> bool {
    msg.spi() >= MIN_SPI && verify_authenticator(key, msg.auth_covered(), msg.authenticator())
}
