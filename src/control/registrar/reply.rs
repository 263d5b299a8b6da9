//! Building the Reply of a request: signed for a known subscriber, unsigned otherwise;
//! the limits and size bound of Replies to requests that did not authenticate.

use super::{Now, Outcome, Registrar, RequestFacts, MAX_REPLY};
use crate::control::subscribers::Subscriber;
use msm_mip::{Code, ParsedRequest, RequestError};
use std::net::Ipv4Addr;

impl Registrar {
    fn count(&mut self, code: Code) {
        *self.counters.by_code.entry(code as u8).or_default() += 1;
    }

    pub(super) fn reply(
        &mut self,
        req: &ParsedRequest,
        sub: Option<&Subscriber>,
        code: Code,
        lifetime: u16,
        ident: u64,
    ) -> Outcome {
        self.reply_with(req, sub, code, lifetime, ident, None)
    }

    /// [`reply`](Self::reply), with a UDP Tunnel Reply extension (RFC 3519) when `udp`
    /// is set (signed replies only).
    pub(super) fn reply_with(
        &mut self,
        req: &ParsedRequest,
        sub: Option<&Subscriber>,
        code: Code,
        lifetime: u16,
        ident: u64,
        udp: Option<msm_mip::UdpTunnelReplyRepr>,
    ) -> Outcome {
        self.count(code);
        let mut buf = [0u8; MAX_REPLY];
        let Some(sub) = sub else {
            // Unknown subscriber: no key to sign with (see `unsigned_reply`).
            let n = unsigned_reply(&mut buf, code, req.home, req.home_agent, ident, req.nai);
            return Outcome {
                request: Some(RequestFacts::of(req)),
                code: Some(code),
                reply: Some((buf, n)),
                change: None,
            };
        };
        let b = msm_mip::ReplyBuilder {
            code,
            lifetime,
            home: req.home,
            home_agent: req.home_agent,
            identification: ident,
            nai: req.nai_str().unwrap_or(""),
            spi: sub.spi,
            key: sub.key(),
        };
        match b.emit_with(&mut buf, udp) {
            Ok(n) => Outcome {
                request: Some(RequestFacts::of(req)),
                code: Some(code),
                reply: Some((buf, n)),
                change: None,
            },
            Err(_) => Outcome::silent(),
        }
    }

    /// A request that did not parse. Without its fixed part or with another type it is
    /// structurally unparsable: dropped and counted, no reply. Otherwise answer with the
    /// error's code if it has one (no NAI echo, no authenticator: we don't know whose it
    /// is), as an unauthenticated reply; an unknown extension 0-127 is discarded silently.
    pub(super) fn reply_unparsed(
        &mut self,
        payload: &[u8],
        error: msm_mip::RequestError,
        peer: u32,
        now: Now,
    ) -> Outcome {
        let fixed = msm_mip::RegistrationRequest::new_checked(payload);
        let (Ok(v), Some(code)) = (fixed, error.reply_code()) else {
            match error {
                RequestError::Truncated | RequestError::BadType(_) => {
                    self.counters.dropped_unparsable += 1
                }
                _ => self.counters.dropped_silently += 1,
            }
            return Outcome::silent();
        };
        let (home, ha, ident) = (v.home_address(), v.home_agent(), v.identification());
        self.unauthenticated(payload.len(), peer, now, |me| {
            me.count(code);
            let mut buf = [0u8; MAX_REPLY];
            let n = unsigned_reply(&mut buf, code, home, ha, ident, &[]);
            Outcome {
                request: None,
                code: Some(code),
                reply: Some((buf, n)),
                change: None,
            }
        })
    }

    /// Sends the Reply `build` makes to a request that did not authenticate, within the
    /// limits of such replies: per destination address (`peer`, where the Reply goes: the
    /// address a spoofed request aims it at), checked first so that one flooded victim
    /// does not use the global budget, then globally. Over a limit: no Reply, counted. A
    /// Reply longer than the request (`request_len`) is cut to its fixed part, so the MSM
    /// never amplifies.
    pub(super) fn unauthenticated(
        &mut self,
        request_len: usize,
        peer: u32,
        now: Now,
        build: impl FnOnce(&mut Self) -> Outcome,
    ) -> Outcome {
        if !self.unauthenticated_per_source.take(peer, now.ms) {
            self.counters.unauthenticated_replies_dropped_per_source += 1;
            return Outcome::silent();
        }
        if !self.unauthenticated_global.take(now.ms) {
            self.counters.unauthenticated_replies_dropped_global += 1;
            return Outcome::silent();
        }
        let mut out = build(self);
        if let Some((_, n)) = out.reply.as_mut() {
            if *n > request_len {
                // Without extensions it is still a well-formed Reply, one a mobile cannot
                // authenticate (as every reply here); the fixed part (20 bytes) is shorter
                // than any request that reaches this point (24 bytes at least).
                *n = msm_mip::REPLY_FIXED_LEN;
                self.counters.unauthenticated_replies_trimmed += 1;
            }
        }
        out
    }
}

/// A Reply without the MN-HA extension, for requests whose sender we cannot identify
/// (unknown subscriber, unparsable extensions): there is no key to sign with. A
/// compliant mobile ignores it (it cannot authenticate it); it exists so that an
/// operator's capture shows why a request was refused. The NAI is echoed when valid.
fn unsigned_reply(
    out: &mut [u8; MAX_REPLY],
    code: Code,
    home: Ipv4Addr,
    ha: Ipv4Addr,
    ident: u64,
    nai: &[u8],
) -> usize {
    out[0] = msm_mip::TYPE_REPLY;
    out[1] = code as u8;
    out[2..4].copy_from_slice(&0u16.to_be_bytes());
    out[4..8].copy_from_slice(&home.octets());
    out[8..12].copy_from_slice(&ha.octets());
    out[12..20].copy_from_slice(&ident.to_be_bytes());
    let mut n = msm_mip::REPLY_FIXED_LEN;
    if !nai.is_empty()
        && nai.len() <= 255
        && msm_mip::Nai::parse(nai).is_some()
        && n + 2 + nai.len() <= MAX_REPLY
    {
        out[n] = msm_mip::EXT_MN_NAI;
        out[n + 1] = nai.len() as u8;
        out[n + 2..n + 2 + nai.len()].copy_from_slice(nai);
        n += 2 + nai.len();
    }
    n
}
