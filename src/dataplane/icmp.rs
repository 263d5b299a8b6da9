//! ICMP errors: time exceeded and fragmentation needed, sent back to the packet's source under a per-worker token-bucket rate limit.
//!
//! Counters: events `icmp_time_exceeded_sent`, `icmp_frag_needed_sent`,
//! `icmp_rate_limited` (the packet itself is counted as a drop by the stage that
//! decided on the error: `ttl_expired`, `frag_needed`).

use crate::dataplane::classify::Ipv4Summary;
use crate::dataplane::counters::Event;
use crate::dataplane::forward::send_back;
use crate::dataplane::pipeline::{
    Action, PacketBuf, Plane, ReturnPath, WorkerLocal, ETH, ICMP_QUOTE_MAX,
};
use msm_wire::icmp;

/// Token bucket for ICMP errors, in caller-supplied clock ticks (TSC in production).
#[derive(Debug, Clone)]
pub struct RateLimit {
    ticks_per_token: u64,
    burst: u64,
    /// Tokens available, scaled by `ticks_per_token` (i.e. in ticks).
    credit: u64,
    last: u64,
}

impl RateLimit {
    pub fn new(per_sec: u32, burst: u32, ticks_per_sec: u64) -> RateLimit {
        let ticks_per_token = if per_sec == 0 {
            u64::MAX
        } else {
            (ticks_per_sec / per_sec as u64).max(1)
        };
        let burst = burst.max(1) as u64;
        RateLimit {
            ticks_per_token,
            burst,
            credit: if per_sec == 0 {
                0
            } else {
                burst * ticks_per_token
            },
            last: 0,
        }
    }
    /// Takes one token at time `now`; false if none is left.
    #[inline]
    pub fn take(&mut self, now: u64) -> bool {
        if self.ticks_per_token == u64::MAX {
            return false;
        }
        let cap = self.burst * self.ticks_per_token;
        let elapsed = now.saturating_sub(self.last);
        self.last = now;
        self.credit = self.credit.saturating_add(elapsed).min(cap);
        if self.credit >= self.ticks_per_token {
            self.credit -= self.ticks_per_token;
            true
        } else {
            false
        }
    }
}

/// Which ICMP error to send, and the event that counts it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IcmpError {
    ty: u8,
    code: u8,
    /// The 32-bit word after the checksum (the next-hop MTU for frag-needed).
    rest: u32,
    sent: Event,
}

impl IcmpError {
    pub const TIME_EXCEEDED: IcmpError = IcmpError {
        ty: icmp::TYPE_TIME_EXCEEDED,
        code: 0,
        rest: 0,
        sent: Event::IcmpTimeExceededSent,
    };
    /// Destination unreachable, fragmentation needed, with the next hop's MTU.
    pub fn frag_needed(mtu: u16) -> IcmpError {
        IcmpError {
            ty: icmp::TYPE_DEST_UNREACH,
            code: icmp::CODE_FRAG_NEEDED,
            rest: mtu as u32,
            sent: Event::IcmpFragNeededSent,
        }
    }
}

/// Turns `pkt` (whose header `ip` summarises) into an ICMP error about itself and sends
/// it back along `ret`, rate-limited.
pub(crate) fn icmp_error<B: PacketBuf>(
    plane: &Plane,
    local: &mut WorkerLocal,
    pkt: &mut B,
    ret: ReturnPath,
    ip: &Ipv4Summary,
    err: IcmpError,
) -> Action {
    let orig = &pkt.data()[ETH..];
    if !icmp::may_send_icmp_error(orig) {
        return Action::Drop;
    }
    if !local.icmp.take(local.now) {
        local.counters.event(Event::IcmpRateLimited);
        return Action::Drop;
    }
    let q = orig.len().min(ICMP_QUOTE_MAX);
    let mut quote = [0u8; ICMP_QUOTE_MAX];
    quote[..q].copy_from_slice(&orig[..q]);
    let src = match ret.tunnel {
        Some(_) => plane.msm_wlan,
        None => plane.ports[ret.port as usize].ip,
    };
    if !pkt.resize(ETH + 20 + 8 + q) {
        return Action::Drop;
    }
    let id = local.next_id();
    if icmp::write_icmp_error(
        &mut pkt.data_mut()[ETH..],
        src,
        ip.src,
        64,
        id,
        err.ty,
        err.code,
        err.rest,
        &quote[..q],
    )
    .is_err()
    {
        return Action::Drop;
    }
    local.counters.event(err.sent);
    send_back(plane, local, pkt, ret)
}
