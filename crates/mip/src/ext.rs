//! Registration extensions (RFC 5944 §1.9, §3.5), the Mobile Node NAI
//! (RFC 2794) and the MN-HA authenticator.

use crate::error::ExtErr;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// Extension type: MN-HA Authentication (RFC 5944 §3.5.2), non-skippable.
pub const EXT_MN_HA_AUTH: u8 = 32;
/// Extension type: Mobile Node NAI (RFC 2794), skippable.
pub const EXT_MN_NAI: u8 = 131;
/// Extension types below this are non-skippable (RFC 5944 §1.9).
pub const FIRST_SKIPPABLE: u8 = 128;
/// Length of the HMAC-SHA-256 authenticator.
pub const AUTHENTICATOR_LEN: usize = 32;
/// Length field of the MN-HA authentication extension: SPI + authenticator.
pub const MN_HA_AUTH_LEN: u8 = 4 + AUTHENTICATOR_LEN as u8;
/// Bytes of the MN-HA authentication extension on the wire.
pub const MN_HA_AUTH_EXT_LEN: usize = 2 + MN_HA_AUTH_LEN as usize;
/// Smallest SPI this profile accepts; 0-255 are reserved (RFC 5944 §3.5.1).
pub const MIN_SPI: u32 = 256;
/// Most E.164 digits in an MSISDN.
pub const MAX_MSISDN_DIGITS: usize = 15;
/// Most bytes in an NAI (the extension's 1-byte length).
pub const MAX_NAI_LEN: usize = 255;

/// One extension, as found by [`ExtensionIter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// Type byte.
    pub ty: u8,
    /// Offset of the type byte in the message.
    pub offset: usize,
    /// The data after the length byte (`length` bytes).
    pub data: &'a [u8],
}

impl Extension<'_> {
    /// Whether an unrecognised extension of this type may be skipped
    /// (types 128-255) rather than causing the message to be discarded.
    #[inline]
    pub const fn is_skippable(&self) -> bool {
        self.ty >= FIRST_SKIPPABLE
    }

    /// Bytes on the wire: type, length and data.
    #[inline]
    pub const fn wire_len(&self) -> usize {
        2 + self.data.len()
    }
}

/// An extension that does not fit in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ExtensionError {
    /// A single byte left where a type and a length are needed.
    #[error("extension header at offset {offset} truncated")]
    Truncated {
        /// Offset of the extension.
        offset: usize,
    },
    /// The length field runs past the end of the message.
    #[error("extension type {ty} at offset {offset} claims {len} bytes past the end")]
    Overrun {
        /// Offset of the extension.
        offset: usize,
        /// Its type.
        ty: u8,
        /// Its length field.
        len: u8,
    },
}

impl From<ExtensionError> for ExtErr {
    fn from(e: ExtensionError) -> ExtErr {
        match e {
            ExtensionError::Truncated { offset } => ExtErr::ExtensionTruncated { offset },
            ExtensionError::Overrun { offset, ty, len } => {
                ExtErr::ExtensionOverrun { offset, ty, len }
            }
        }
    }
}

/// Iterator over the type-length-value extensions of a message, starting at
/// its fixed part's end. Every extension is read with the RFC 5944 §1.9
/// format (1-byte type, 1-byte length); the "long" format of §1.10 is only
/// used by non-skippable types, which end processing anyway.
///
/// Yields `Err` once for an extension that does not fit, then stops.
#[derive(Debug, Clone)]
pub struct ExtensionIter<'a> {
    msg: &'a [u8],
    off: usize,
    done: bool,
}

impl<'a> ExtensionIter<'a> {
    /// Iterate over `msg[start..]`. A `start` past the end yields nothing.
    #[inline]
    pub fn new(msg: &'a [u8], start: usize) -> Self {
        ExtensionIter {
            msg,
            off: start,
            done: start >= msg.len(),
        }
    }

    /// Offset of the next extension (the end of the last one read).
    #[inline]
    pub fn offset(&self) -> usize {
        self.off
    }
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = Result<Extension<'a>, ExtensionError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let off = self.off;
        let rest = self.msg.get(off..).unwrap_or_default();
        let (ty, len) = match rest {
            [] => {
                self.done = true;
                return None;
            }
            [_] => {
                self.done = true;
                return Some(Err(ExtensionError::Truncated { offset: off }));
            }
            [t, l, ..] => (*t, *l),
        };
        match rest.get(2..2 + usize::from(len)) {
            Some(data) => {
                self.off = off + 2 + data.len();
                self.done = self.off >= self.msg.len();
                Some(Ok(Extension {
                    ty,
                    offset: off,
                    data,
                }))
            }
            None => {
                self.done = true;
                Some(Err(ExtensionError::Overrun {
                    offset: off,
                    ty,
                    len,
                }))
            }
        }
    }
}

impl core::iter::FusedIterator for ExtensionIter<'_> {}

/// A validated Mobile Node NAI of this profile: an E.164 MSISDN (1-15
/// digits, the first one 1-9 because E.164 country codes never start with
/// 0), optionally followed by `@realm`, where the realm is one or more
/// dot-separated non-empty labels of ASCII letters, digits and `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nai<'a> {
    raw: &'a str,
    digits: &'a str,
    realm: Option<&'a str>,
}

impl<'a> Nai<'a> {
    /// Validate an NAI; `None` if it is not of the profile's form.
    pub fn parse(raw: &'a [u8]) -> Option<Nai<'a>> {
        if raw.is_empty() || raw.len() > MAX_NAI_LEN {
            return None;
        }
        let (digits, realm) = match raw.iter().position(|&b| b == b'@') {
            Some(at) => (&raw[..at], Some(&raw[at + 1..])),
            None => (raw, None),
        };
        if digits.is_empty()
            || digits.len() > MAX_MSISDN_DIGITS
            || !digits.iter().all(u8::is_ascii_digit)
            || digits[0] == b'0'
        {
            return None;
        }
        if let Some(r) = realm {
            let label_ok = |l: &[u8]| {
                !l.is_empty() && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            };
            if !r.split(|&b| b == b'.').all(label_ok) {
                return None;
            }
        }
        // All bytes are ASCII now, so these cannot fail.
        Some(Nai {
            raw: core::str::from_utf8(raw).ok()?,
            digits: core::str::from_utf8(digits).ok()?,
            realm: match realm {
                Some(r) => Some(core::str::from_utf8(r).ok()?),
                None => None,
            },
        })
    }

    /// The whole NAI.
    #[inline]
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The MSISDN digits (before any `@`).
    #[inline]
    pub fn digits(&self) -> &'a str {
        self.digits
    }

    /// The MSISDN as a number (at most 15 digits, so it fits; unique
    /// because the first digit is never 0).
    #[inline]
    pub fn msisdn(&self) -> u64 {
        self.digits
            .bytes()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
    }

    /// The realm after `@`, if any.
    #[inline]
    pub fn realm(&self) -> Option<&'a str> {
        self.realm
    }
}

/// What the shared extension walk found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    pub nai: &'a [u8],
    pub spi: u32,
    pub authenticator: &'a [u8; AUTHENTICATOR_LEN],
    /// End of the SPI: the authenticator covers `msg[..covered_end]`.
    pub covered_end: usize,
    /// The data of the UDP tunnel extension (RFC 3519) of type `udp_ty`
    /// found before the MN-HA extension: 6 bytes, sub-type 0.
    pub udp_tunnel: Option<&'a [u8]>,
}

/// Walk the extensions of `msg` after its `fixed` bytes and apply the
/// profile's rules (see the crate docs): skippable unknown types are
/// skipped, non-skippable ones end the walk with `UnknownExtension`, exactly
/// one valid NAI precedes the MN-HA authentication extension, which is the
/// last thing in the message. `udp_ty` is the UDP tunnel extension this
/// message kind may carry (RFC 3519: 144 in a Request, 44 in a Reply): at
/// most one, of length 6 and sub-type 0, else `BadUdpTunnel`.
pub(crate) fn walk(msg: &[u8], fixed: usize, udp_ty: u8) -> Result<Found<'_>, ExtErr> {
    let mut nai: Option<&[u8]> = None;
    let mut udp: Option<&[u8]> = None;
    let mut it = ExtensionIter::new(msg, fixed);
    while let Some(ext) = it.next() {
        let ext = ext?;
        match ext.ty {
            EXT_MN_NAI => {
                if nai.is_some() {
                    return Err(ExtErr::DuplicateNai);
                }
                if Nai::parse(ext.data).is_none() {
                    return Err(ExtErr::BadNai);
                }
                nai = Some(ext.data);
            }
            t if t == udp_ty => {
                if udp.is_some()
                    || ext.data.len() != usize::from(crate::nat::UDP_TUNNEL_EXT_DATA_LEN)
                    || ext.data[0] != crate::nat::UDP_TUNNEL_SUBTYPE
                {
                    return Err(ExtErr::BadUdpTunnel);
                }
                udp = Some(ext.data);
            }
            EXT_MN_HA_AUTH => {
                let nai = match nai {
                    Some(n) => n,
                    None => {
                        let later = it.any(|e| matches!(e, Ok(e) if e.ty == EXT_MN_NAI));
                        return Err(if later {
                            ExtErr::ExtensionOrder
                        } else {
                            ExtErr::MissingNai
                        });
                    }
                };
                let len = ext.data.len() as u8; // <= 255 by construction
                if ext.data.len() < 4 {
                    return Err(ExtErr::AuthTooShort(len));
                }
                if len != MN_HA_AUTH_LEN {
                    return Err(ExtErr::BadAuthLength(len));
                }
                let spi = u32::from_be_bytes([ext.data[0], ext.data[1], ext.data[2], ext.data[3]]);
                if spi < MIN_SPI {
                    return Err(ExtErr::ReservedSpi(spi));
                }
                let authenticator: &[u8; AUTHENTICATOR_LEN] = match ext.data[4..].try_into() {
                    Ok(a) => a,
                    Err(_) => return Err(ExtErr::BadAuthLength(len)),
                };
                let end = ext.offset + ext.wire_len();
                if end != msg.len() {
                    return Err(ExtErr::TrailingData {
                        offset: end,
                        len: msg.len() - end,
                    });
                }
                return Ok(Found {
                    nai,
                    spi,
                    authenticator,
                    covered_end: ext.offset + 2 + 4,
                    udp_tunnel: udp,
                });
            }
            t if t < FIRST_SKIPPABLE => return Err(ExtErr::UnknownExtension(t)),
            _ => {} // RFC 5944 §1.9: skip unrecognised skippable extensions.
        }
    }
    Err(ExtErr::MissingAuth)
}

/// Offset of the MN-HA authentication extension, looked up without any
/// other check (for re-signing a message in place).
pub(crate) fn find_auth(msg: &[u8], fixed: usize) -> Option<usize> {
    ExtensionIter::new(msg, fixed)
        .map_while(Result::ok)
        .find(|e| e.ty == EXT_MN_HA_AUTH && e.data.len() == usize::from(MN_HA_AUTH_LEN))
        .map(|e| e.offset)
}

/// The first Mobile Node NAI extension's data, found without any other
/// check.
pub(crate) fn find_nai(msg: &[u8], fixed: usize) -> Option<&[u8]> {
    ExtensionIter::new(msg, fixed)
        .map_while(Result::ok)
        .find(|e| e.ty == EXT_MN_NAI)
        .map(|e| e.data)
}

type HmacSha256 = Hmac<Sha256>;

/// The MN-HA authenticator: HMAC-SHA-256 keyed by `key` over `covered`
/// (every byte of the UDP payload before the authenticator).
pub fn compute_authenticator(key: &[u8], covered: &[u8]) -> [u8; AUTHENTICATOR_LEN] {
    let mut out = [0u8; AUTHENTICATOR_LEN];
    // HMAC takes keys of any length; the error branch is unreachable.
    if let Ok(mut mac) = HmacSha256::new_from_slice(key) {
        mac.update(covered);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// Constant-time check of `authenticator` against HMAC-SHA-256(`key`,
/// `covered`).
pub fn verify_authenticator(key: &[u8], covered: &[u8], authenticator: &[u8]) -> bool {
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(covered);
            mac.verify_slice(authenticator).is_ok()
        }
        Err(_) => false,
    }
}

/// Write a Mobile Node NAI extension and an MN-HA authentication extension
/// with its authenticator after the `fixed` bytes already in `out`.
/// The caller has checked `out` is long enough and `nai.len() <= 255`.
/// `extra` (whole extensions, type and length included) goes between the
/// NAI and the MN-HA extension, covered by the authenticator.
pub(crate) fn emit_exts(
    out: &mut [u8],
    fixed: usize,
    nai: &[u8],
    extra: &[u8],
    spi: u32,
    key: &[u8],
) -> usize {
    let mut off = fixed;
    out[off] = EXT_MN_NAI;
    out[off + 1] = nai.len() as u8;
    out[off + 2..off + 2 + nai.len()].copy_from_slice(nai);
    off += 2 + nai.len();
    out[off..off + extra.len()].copy_from_slice(extra);
    off += extra.len();
    out[off] = EXT_MN_HA_AUTH;
    out[off + 1] = MN_HA_AUTH_LEN;
    out[off + 2..off + 6].copy_from_slice(&spi.to_be_bytes());
    let covered_end = off + 6;
    let auth = compute_authenticator(key, &out[..covered_end]);
    out[covered_end..covered_end + AUTHENTICATOR_LEN].copy_from_slice(&auth);
    covered_end + AUTHENTICATOR_LEN
}

/// Re-sign a message in place: recompute the authenticator of the MN-HA
/// extension at `auth_off` (whose length is known to be 36).
pub(crate) fn resign(msg: &mut [u8], auth_off: usize, key: &[u8]) {
    let covered_end = auth_off + 6;
    if covered_end + AUTHENTICATOR_LEN > msg.len() {
        return;
    }
    let auth = compute_authenticator(key, &msg[..covered_end]);
    msg[covered_end..covered_end + AUTHENTICATOR_LEN].copy_from_slice(&auth);
}

/// Shared builder checks; returns the message length.
pub(crate) fn check_emit(
    fixed: usize,
    nai: &str,
    extra: usize,
    spi: u32,
    out_len: usize,
) -> Result<usize, crate::EmitError> {
    if Nai::parse(nai.as_bytes()).is_none() {
        return Err(crate::EmitError::BadNai);
    }
    if spi < MIN_SPI {
        return Err(crate::EmitError::ReservedSpi(spi));
    }
    let need = fixed + 2 + nai.len() + extra + MN_HA_AUTH_EXT_LEN;
    if out_len < need {
        return Err(crate::EmitError::BufferTooSmall { need });
    }
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iter_walks_and_stops() {
        let msg = [9u8, 9, 1, 0, 200, 2, b'a', b'b', 131, 1];
        let got: Vec<_> = ExtensionIter::new(&msg, 2).collect();
        assert_eq!(
            got,
            vec![
                Ok(Extension {
                    ty: 1,
                    offset: 2,
                    data: &[]
                }),
                Ok(Extension {
                    ty: 200,
                    offset: 4,
                    data: b"ab"
                }),
                Err(ExtensionError::Overrun {
                    offset: 8,
                    ty: 131,
                    len: 1
                }),
            ]
        );
        let got: Vec<_> = ExtensionIter::new(&msg[..9], 8).collect();
        assert_eq!(got, vec![Err(ExtensionError::Truncated { offset: 8 })]);
        assert_eq!(ExtensionIter::new(&msg, 10).count(), 0);
        assert_eq!(ExtensionIter::new(&msg, 99).count(), 0);
        let mut it = ExtensionIter::new(&msg[..8], 2);
        assert_eq!(it.offset(), 2);
        assert!(!it.next().unwrap().unwrap().is_skippable());
        assert_eq!(it.offset(), 4);
        let e = it.next().unwrap().unwrap();
        assert!(e.is_skippable());
        assert_eq!(e.wire_len(), 4);
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn nai_forms() {
        let n = Nai::parse(b"491701234567").unwrap();
        assert_eq!(n.msisdn(), 491_701_234_567);
        assert_eq!(n.digits(), "491701234567");
        assert_eq!(n.realm(), None);
        assert_eq!(n.as_str(), "491701234567");
        let n = Nai::parse(b"1@mnc001.mcc001.3gppnetwork.org").unwrap();
        assert_eq!(n.msisdn(), 1);
        assert_eq!(n.realm(), Some("mnc001.mcc001.3gppnetwork.org"));
        let n = Nai::parse(b"999999999999999@a-b").unwrap();
        assert_eq!(n.msisdn(), 999_999_999_999_999);
        for bad in [
            &b""[..],
            b"0",
            b"0491701234567",
            b"1234567890123456", // 16 digits
            b"+491701234567",
            b"49170x",
            b"49 170",
            b"@realm",
            b"49@",
            b"49@.org",
            b"49@org.",
            b"49@a..b",
            b"49@a@b",
            b"49@a_b",
            b"49@r\xc3\xa9alm",
            b"49\0",
        ] {
            assert_eq!(Nai::parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let mut long = b"4@".to_vec();
        long.extend(std::iter::repeat(b'a').take(253));
        assert!(Nai::parse(&long).is_some());
        long.push(b'a');
        assert!(Nai::parse(&long).is_none());
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        // RFC 4231 test case 2.
        let mac = compute_authenticator(b"Jefe", b"what do ya want for nothing?");
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want);
        assert!(verify_authenticator(
            b"Jefe",
            b"what do ya want for nothing?",
            &mac
        ));
        assert!(!verify_authenticator(
            b"Jefe",
            b"what do ya want for nothing!",
            &mac
        ));
        assert!(!verify_authenticator(
            b"Jefe",
            b"what do ya want for nothing?",
            &mac[..31]
        ));
    }
}
