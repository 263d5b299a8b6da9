//! The MCM's registration state machine.
//!
//! Pure: no sockets, no clock. The daemon feeds it what rtnetlink says about
//! the links ([`Machine::set_wwan`], [`Machine::set_wlan`]), the operator's
//! judgement ([`Machine::wlan_poor`]), Registration Replies
//! ([`Machine::on_reply`]) and timer ticks ([`Machine::tick`]); it answers
//! with [`Action`]s: send this request by this path, route the terminal's
//! traffic into the tunnel, take it out again.
//!
//! Rules it keeps (PROTOCOL.md):
//! * a WLAN address on an up link means "register it as care-of address";
//!   the request goes through the WWAN when the WWAN is up (the seed's
//!   preference), reverse-tunnelled through the WLAN when it is not;
//! * the terminal's traffic moves into the tunnel only after the MSM
//!   accepted ([`Action::TunnelUp`] follows a code 0): make-before-break;
//! * a WLAN that is lost (link down, address gone) takes the traffic back to
//!   the WWAN at once (the old path is dead) and is cancelled through the
//!   WWAN; a WLAN judged poor while it still works is cancelled first and
//!   left only once the MSM accepted the cancel (make-before-break again);
//! * every request is retransmitted with exponential back-off until a reply
//!   comes, each transmission with a fresh Identification; a reply to any of
//!   them is accepted (a late one included);
//! * 133 resynchronises the clock offset from the MSM's time in the reply's
//!   Identification and sends again at once;
//! * an accepted registration is renewed before its lifetime ends;
//! * NAT traversal (RFC 3519, PROTOCOL.md section 3): a care-of address the
//!   [`UdpTunnelMode`] judges to be behind a NAT (by default: RFC 1918, shared
//!   and link-local space) is registered directly from the care-of address
//!   (path 3, [`Path::Direct`]) with the UDP Tunnel Request extension, so the
//!   NAT's mapping is what the MSM binds; when the Reply carries a UDP Tunnel
//!   Reply extension with code 0, the tunnel is MIP Tunnel Data on that same
//!   UDP socket ([`Machine::udp_tunnel`]);
//! * keepalives ([`Action::Probe`]: an ICMP echo request to IPmsm-wlan through
//!   the UDP tunnel, which the MSM answers through it) at least every keepalive
//!   interval of the Reply, and every `probe_interval_ms` when that is shorter;
//! * the NAT's public address:port is invisible to the mobile (the Reply does
//!   not report the translated source), so a changed mapping is detected the
//!   way RFC 3519 leaves open: `probe_misses` keepalives in a row without an
//!   answer (after a mapping change the MSM drops our uplink as spoofed and its
//!   downlink dies at the NAT) trigger an immediate re-registration from the
//!   same socket, which the MSM binds to the new mapping;
//! * WLAN quality without an operator ([`Quality`], optional): while any
//!   tunnel is up, the same probes (through IP-in-IP too) fill a window of
//!   outcomes; a full window with `poor_loss_pct` or more lost marks the WLAN
//!   poor by itself ([`Action::Reevaluate`]: the daemon then leaves it like a
//!   `wlan-poor`, make-before-break). Hysteresis: the WLAN is tried again only
//!   after a hold-down that doubles each time it is found poor again (up to
//!   `hold_max_ms`) and falls back to `hold_ms` once a full window shows
//!   `good_loss_pct` or less; `wlan-ok` clears the judgement at once.
//!
//! Times are milliseconds of a monotonic clock; Identification timestamps
//! are NTP seconds from the wall clock, both passed in [`Now`].

use msm_mip::{make_identification, parse_reply, verify_mn_ha, Code, RequestBuilder};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use tracing::{info, warn};

/// The two clocks the machine needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds (timers).
    pub ms: u64,
    /// Wall clock, NTP seconds (Identification).
    pub ntp: u32,
}

/// How a request reaches the MSM (PROTOCOL.md "Paths").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// Path 1: `IPgprs -> IPmsm-gprs:434` by the WWAN.
    Wwan,
    /// Path 2: the same request reverse-tunnelled from this care-of address.
    WlanTunnel(Ipv4Addr),
    /// Path 3: UDP from this care-of address to `IPmsm-wlan:434`, with the
    /// UDP Tunnel Request extension (RFC 3519); the socket it leaves by is
    /// the UDP tunnel's.
    Direct(Ipv4Addr),
}

/// When to ask for the UDP tunnel of RFC 3519 (config `udp_tunnel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UdpTunnelMode {
    /// When the care-of address lies in one of the private prefixes (the MSM
    /// grants it only if it sees a NAT: source differs from care-of address).
    Auto,
    /// Always, with the F (force) flag: the MSM tunnels in UDP even without
    /// a NAT (e.g. a firewall that passes only UDP).
    Always,
    /// Never: IP-in-IP only (a NATed WLAN is then refused with 134).
    Never,
}

/// A usable WLAN attachment: an interface with an address on an up link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Wlan {
    /// Interface name.
    pub ifname: String,
    /// Its address: the care-of address.
    pub coa: Ipv4Addr,
}

/// What the daemon must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this Registration Request by `path`.
    Send {
        /// The path.
        path: Path,
        /// The request (UDP payload).
        msg: Vec<u8>,
    },
    /// Route the terminal's traffic (source = home address) into the tunnel
    /// through this WLAN.
    TunnelUp(Wlan),
    /// Route it by the WWAN again.
    TunnelDown,
    /// The judgement of a WLAN's quality changed ([`Machine::is_poor`]):
    /// recompute the usable WLAN and call [`Machine::set_wlan`] (with
    /// [`Loss::Poor`] when the current one still works).
    Reevaluate,
    /// Send keepalive/probe number `seq` (an ICMP echo request from the home
    /// address to IPmsm-wlan) through the tunnel (UDP or IP-in-IP).
    Probe {
        /// The echo's sequence number.
        seq: u16,
    },
}

/// Why a WLAN stopped being usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Link down or address gone: its path is dead now.
    Gone,
    /// Still up, but judged too poor (operator or test command): leave it
    /// make-before-break.
    Poor,
}

/// Static parameters.
#[derive(Clone, Debug)]
pub struct Params {
    /// NAI (the MSISDN).
    pub nai: String,
    /// Home address (IPgprs).
    pub home: Ipv4Addr,
    /// IPmsm-gprs (the Home Agent field).
    pub msm_wwan: Ipv4Addr,
    /// SPI of the MN-HA key.
    pub spi: u32,
    /// MN-HA key.
    pub key: Vec<u8>,
    /// Lifetime asked for (s, > 0).
    pub lifetime_s: u16,
    /// First retransmission timeout (ms).
    pub rtx_initial_ms: u64,
    /// Largest retransmission timeout (ms).
    pub rtx_max_ms: u64,
    /// Renew when this fraction of the granted lifetime has passed.
    pub renew_fraction: f64,
    /// Initial offset (s) added to the wall clock in Identifications; 133
    /// replies correct it.
    pub clock_offset_s: i64,
    /// When to ask for the UDP tunnel.
    pub udp_tunnel: UdpTunnelMode,
    /// Care-of addresses in these prefixes (address, length) are taken to be
    /// behind a NAT in [`UdpTunnelMode::Auto`].
    pub private_prefixes: Vec<(Ipv4Addr, u8)>,
    /// Probe the UDP tunnel this often (ms) when shorter than the Reply's
    /// keepalive interval; 0: only at the keepalive interval.
    pub probe_interval_ms: u64,
    /// Unanswered probes in a row that mean "the NAT mapping changed":
    /// re-register at once.
    pub probe_misses: u32,
    /// Leave a poor WLAN by itself (None: only by operator command).
    pub quality: Option<Quality>,
}

/// When a WLAN is poor enough to leave by itself, and when to try it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Quality {
    /// Probe outcomes judged together (the last ones).
    pub window: usize,
    /// Leave when this share (%) of a full window was lost.
    pub poor_loss_pct: u32,
    /// A full window with at most this share lost proves the WLAN good again:
    /// the hold-down falls back to `hold_ms`.
    pub good_loss_pct: u32,
    /// First hold-down before a WLAN left as poor is tried again (ms).
    pub hold_ms: u64,
    /// Largest hold-down (ms): it doubles each time the WLAN is poor again.
    pub hold_max_ms: u64,
}

/// Does `a` lie in `prefix/len`?
pub fn in_prefix(a: Ipv4Addr, prefix: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    u32::from(a) & mask == u32::from(prefix) & mask
}

/// The prefixes a care-of address behind a NAT usually has: RFC 1918, the
/// shared address space (RFC 6598) and link-local (RFC 3927).
pub const DEFAULT_PRIVATE_PREFIXES: [(Ipv4Addr, u8); 5] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
enum Kind {
    Register { wlan: Wlan, renewal: bool },
    Cancel { coa: Ipv4Addr },
}

#[derive(Clone, Debug, Serialize)]
struct Pending {
    #[serde(flatten)]
    kind: Kind,
    /// Low 32 bits of every Identification sent for it.
    idents: Vec<u32>,
    transmissions: u32,
    started_ms: u64,
    next_tx_ms: u64,
    interval_ms: u64,
    /// 133s in a row (resend at once at most 3 times).
    resyncs_in_a_row: u32,
    last_path: Option<Path>,
    /// The last transmission asked for the UDP tunnel.
    udp: bool,
}

#[derive(Clone, Debug, Serialize)]
struct Bound {
    wlan: Wlan,
    granted_s: u16,
    expires_ms: u64,
    renew_ms: u64,
    since_ms: u64,
    /// UDP tunnel granted: the keepalive interval (s) of the Reply.
    udp_keepalive_s: Option<u16>,
}

/// Keepalive/probe bookkeeping of the UDP tunnel.
#[derive(Clone, Debug, Default, Serialize)]
struct Probes {
    /// When the next probe is due (ms); 0: not scheduled.
    next_ms: u64,
    /// The outstanding probe: (seq, sent at ms).
    outstanding: Option<(u16, u64)>,
    /// Unanswered in a row.
    misses_in_a_row: u32,
    seq: u16,
    /// Round-trip time of the last answered probe (ms).
    last_rtt_ms: Option<u64>,
}

/// Counters shown by `mcm ctl status`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Requests sent, retransmissions included.
    pub requests_sent: u64,
    /// Of which retransmissions.
    pub retransmissions: u64,
    /// Requests that could not be sent (no path).
    pub unsendable: u64,
    /// Replies by code.
    pub replies: BTreeMap<u8, u64>,
    /// Replies dropped: malformed, wrong home/NAI/SPI, bad authenticator.
    pub bad_replies: u64,
    /// Replies matching no outstanding request.
    pub unmatched_replies: u64,
    /// 133 resynchronisations.
    pub resyncs: u64,
    /// Registrations accepted (renewals included).
    pub registrations_accepted: u64,
    /// Cancels accepted.
    pub cancels_accepted: u64,
    /// Switches of the terminal's traffic (into, between or out of tunnels).
    pub traffic_switches: u64,
    /// Bindings that lapsed before a renewal was accepted.
    pub lapsed: u64,
    /// Registrations accepted with the UDP tunnel (RFC 3519).
    pub udp_tunnel_accepted: u64,
    /// UDP tunnel asked for, but the Reply carried no UDP Tunnel Reply
    /// extension (no NAT seen by the MSM: IP-in-IP) or a refusal code.
    pub udp_tunnel_declined: u64,
    /// Keepalive probes sent through the UDP tunnel.
    pub probes_sent: u64,
    /// Of which answered.
    pub probes_answered: u64,
    /// Of which unanswered by the time the next was due.
    pub probes_missed: u64,
    /// Re-registrations because probes went unanswered (NAT mapping changed).
    pub nat_reregistrations: u64,
    /// WLANs left because the probes found them poor (no operator).
    pub quality_handovers: u64,
}

/// Snapshot for `mcm ctl status`.
#[derive(Clone, Debug, Serialize)]
pub struct Status<'a> {
    /// "wwan", "registering", "tunnel", "renewing", "cancelling".
    pub state: &'static str,
    /// WWAN link usable.
    pub wwan_up: bool,
    /// The usable WLAN, if any.
    pub wlan: Option<&'a Wlan>,
    /// WLANs judged poor by command.
    pub poor: Vec<&'a str>,
    /// The accepted registration the tunnel uses.
    pub bound: Option<serde_json::Value>,
    /// The outstanding request.
    pub pending: Option<serde_json::Value>,
    /// Clock offset learnt from 133 replies (s).
    pub clock_offset_s: i64,
    /// Counters.
    pub stats: &'a Stats,
    /// The last refusal (code and meaning).
    pub last_refusal: Option<String>,
    /// Tunnel probes (keepalives, quality).
    pub probes: Option<serde_json::Value>,
    /// WLANs judged poor by the probes: (interface, ms until tried again).
    pub quality_poor: Vec<(&'a str, u64)>,
    /// Lost share (%) of the current probe window, and its length.
    pub window_loss_pct: Option<(u32, usize)>,
}

/// The state machine.
#[derive(Debug)]
pub struct Machine {
    p: Params,
    wwan_up: bool,
    wlan: Option<Wlan>,
    poor: Vec<String>,
    bound: Option<Bound>,
    pending: Option<Pending>,
    clock_offset_s: i64,
    next_low: u32,
    stats: Stats,
    last_refusal: Option<String>,
    /// A refused registration for this CoA is not retried until it changes.
    refused: Option<Wlan>,
    probes: Probes,
    /// Outcomes of the current tunnel's last probes (true: answered).
    window: std::collections::VecDeque<bool>,
    /// WLANs judged poor by the probes: (interface, care-of address, tried
    /// again at ms). A new address on the interface is another WLAN.
    auto_poor: Vec<(String, Ipv4Addr, u64)>,
    /// The next hold-down per interface (doubles while it stays poor).
    holds: BTreeMap<String, u64>,
    /// Monotonic ms of the last call (for the status' hold-down countdown).
    last_ms: u64,
}

impl Machine {
    /// A new machine; `low_seed` seeds the Identification's low 32 bits.
    pub fn new(p: Params, low_seed: u32) -> Machine {
        Machine {
            clock_offset_s: p.clock_offset_s,
            p,
            wwan_up: false,
            wlan: None,
            poor: Vec::new(),
            bound: None,
            pending: None,
            next_low: low_seed,
            stats: Stats::default(),
            last_refusal: None,
            refused: None,
            probes: Probes::default(),
            window: Default::default(),
            auto_poor: Vec::new(),
            holds: BTreeMap::new(),
            last_ms: 0,
        }
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The state's name.
    pub fn state(&self) -> &'static str {
        match (&self.bound, &self.pending) {
            (
                _,
                Some(Pending {
                    kind: Kind::Cancel { .. },
                    ..
                }),
            ) => "cancelling",
            (Some(_), Some(_)) => "renewing",
            (None, Some(_)) => "registering",
            (Some(_), None) => "tunnel",
            (None, None) => "wwan",
        }
    }

    /// The usable WLAN, as last set by [`set_wlan`](Self::set_wlan).
    pub fn wlan(&self) -> Option<&Wlan> {
        self.wlan.as_ref()
    }

    /// The care-of address the tunnel uses, if it is up.
    pub fn tunnel(&self) -> Option<&Wlan> {
        self.bound.as_ref().map(|b| &b.wlan)
    }

    /// The care-of address whose UDP socket carries the tunnel, when the
    /// tunnel is RFC 3519's MIP Tunnel Data rather than IP-in-IP.
    pub fn udp_tunnel(&self) -> Option<Ipv4Addr> {
        self.bound
            .as_ref()
            .filter(|b| b.udp_keepalive_s.is_some())
            .map(|b| b.wlan.coa)
    }

    /// Does a registration of `coa` ask for the UDP tunnel?
    pub fn wants_udp(&self, coa: Ipv4Addr) -> bool {
        match self.p.udp_tunnel {
            UdpTunnelMode::Always => true,
            UdpTunnelMode::Never => false,
            UdpTunnelMode::Auto => self
                .p
                .private_prefixes
                .iter()
                .any(|&(p, l)| in_prefix(coa, p, l)),
        }
    }

    /// Is `ifname` judged poor?
    pub fn is_poor(&self, ifname: &str) -> bool {
        self.poor.iter().any(|p| p == ifname) || self.auto_poor.iter().any(|(p, _, _)| p == ifname)
    }

    /// Is the WLAN on `ifname` with care-of address `coa` judged poor (by
    /// the operator, for the interface; by the probes, for this WLAN)?
    pub fn is_poor_at(&self, ifname: &str, coa: Ipv4Addr) -> bool {
        self.poor.iter().any(|p| p == ifname)
            || self
                .auto_poor
                .iter()
                .any(|(p, a, _)| p == ifname && *a == coa)
    }

    /// Status snapshot.
    pub fn status(&self) -> Status<'_> {
        Status {
            state: self.state(),
            wwan_up: self.wwan_up,
            wlan: self.wlan.as_ref(),
            poor: self.poor.iter().map(|s| s.as_str()).collect(),
            bound: self
                .bound
                .as_ref()
                .and_then(|b| serde_json::to_value(b).ok()),
            pending: self
                .pending
                .as_ref()
                .and_then(|p| serde_json::to_value(p).ok()),
            clock_offset_s: self.clock_offset_s,
            stats: &self.stats,
            last_refusal: self.last_refusal.clone(),
            probes: self
                .probing()
                .then(|| serde_json::to_value(&self.probes).ok())
                .flatten(),
            quality_poor: self
                .auto_poor
                .iter()
                .map(|(i, _, t)| (i.as_str(), t.saturating_sub(self.last_ms)))
                .collect(),
            window_loss_pct: (!self.window.is_empty()).then(|| {
                let lost = self.window.iter().filter(|ok| !**ok).count();
                ((lost * 100 / self.window.len()) as u32, self.window.len())
            }),
        }
    }

    /// When [`tick`](Self::tick) next has something to do (monotonic ms).
    pub fn next_deadline(&self) -> Option<u64> {
        let p = self.pending.as_ref().map(|p| p.next_tx_ms);
        let b = self.bound.as_ref().map(|b| {
            if self.pending.is_some() {
                b.expires_ms
            } else {
                b.renew_ms.min(b.expires_ms)
            }
        });
        let k = self.probing().then_some(self.probes.next_ms);
        let q = self.auto_poor.iter().map(|(_, _, t)| *t).min();
        [p, b, k, q].into_iter().flatten().min()
    }

    /// The WWAN link became usable or unusable.
    pub fn set_wwan(&mut self, up: bool, now: Now) -> Vec<Action> {
        if up == self.wwan_up {
            return Vec::new();
        }
        self.wwan_up = up;
        info!(up, "WWAN {}", if up { "up" } else { "down" });
        // An outstanding request goes out at once by the path now best.
        let mut out = Vec::new();
        let best = self.pending.as_ref().map(|p| self.path_for(&p.kind));
        if let (Some(p), Some(best)) = (self.pending.as_mut(), best) {
            if p.last_path != best {
                p.next_tx_ms = now.ms;
            }
        }
        self.tick_into(now, &mut out);
        out
    }

    /// What rtnetlink says the usable WLAN is (an address on an up link of a
    /// configured WLAN interface, not judged poor), or that there is none
    /// (`loss` says why).
    pub fn set_wlan(&mut self, wlan: Option<Wlan>, loss: Loss, now: Now) -> Vec<Action> {
        if wlan == self.wlan {
            return Vec::new();
        }
        let old = std::mem::replace(&mut self.wlan, wlan.clone());
        let mut out = Vec::new();
        match wlan {
            Some(w) => {
                info!(ifname = %w.ifname, coa = %w.coa, "WLAN address acquired: registering it");
                if self.refused.as_ref() == Some(&w) {
                    warn!(coa = %w.coa, "this care-of address was refused; not retrying");
                    return out;
                }
                // A different WLAN replaces the old one (make-before-break:
                // the old tunnel stays until the new registration is accepted,
                // unless the old link is gone).
                if loss == Loss::Gone && old.is_some() {
                    self.drop_tunnel(&mut out, "previous WLAN gone");
                }
                self.start(
                    Kind::Register {
                        wlan: w,
                        renewal: false,
                    },
                    now,
                    &mut out,
                );
            }
            None => {
                let Some(old) = old else { return out };
                // The MSM may hold (or be about to hold) a binding for it.
                let registered_or_trying = self.bound.is_some() || self.pending.is_some();
                match loss {
                    Loss::Gone => {
                        info!(ifname = %old.ifname, coa = %old.coa, "WLAN lost: traffic back to the WWAN, cancelling");
                        self.drop_tunnel(&mut out, "WLAN lost");
                    }
                    Loss::Poor => {
                        info!(ifname = %old.ifname, coa = %old.coa, "WLAN judged poor: cancelling (tunnel kept until the MSM accepts)");
                    }
                }
                if registered_or_trying {
                    self.start(Kind::Cancel { coa: old.coa }, now, &mut out);
                }
            }
        }
        out
    }

    /// Operator or test judgement on a WLAN interface; the daemon then
    /// recomputes the usable WLAN and calls [`set_wlan`](Self::set_wlan)
    /// with [`Loss::Poor`].
    pub fn wlan_poor(&mut self, ifname: &str, poor: bool) {
        self.poor.retain(|p| p != ifname);
        if poor {
            self.poor.push(ifname.to_string());
        } else {
            // The operator overrides the probes' judgement.
            self.auto_poor.retain(|(p, _, _)| p != ifname);
            self.holds.remove(ifname);
        }
        self.refused = None;
    }

    /// A UDP payload that arrived from IPmsm-gprs:434 (by any path).
    pub fn on_reply(&mut self, payload: &[u8], now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        let r = match parse_reply(payload) {
            Ok(r) => r,
            Err(e) => {
                self.stats.bad_replies += 1;
                warn!(error = %e, "malformed reply dropped");
                return out;
            }
        };
        if r.home != self.p.home || r.nai != self.p.nai.as_bytes() || r.spi != self.p.spi {
            self.stats.bad_replies += 1;
            warn!(home = %r.home, spi = r.spi, "reply for another home address, NAI or SPI dropped");
            return out;
        }
        if !verify_mn_ha(&r, &self.p.key) {
            self.stats.bad_replies += 1;
            warn!("reply with a bad authenticator dropped");
            return out;
        }
        let low = r.identification as u32;
        let ours = i64::from(self.ident_secs(now));
        let Some(p) = self.pending.as_mut().filter(|p| p.idents.contains(&low)) else {
            self.stats.unmatched_replies += 1;
            info!(
                code = r.code,
                ident = format_args!("{:#018x}", r.identification),
                "reply matches no outstanding request (late duplicate?)"
            );
            return out;
        };
        *self.stats.replies.entry(r.code).or_default() += 1;
        let rtt = now.ms.saturating_sub(p.started_ms);
        match r.known_code() {
            Some(Code::Accepted) => {
                let p = self.pending.take().expect("matched above");
                match p.kind {
                    Kind::Register { wlan, renewal } if r.lifetime > 0 => {
                        self.stats.registrations_accepted += 1;
                        self.refused = None;
                        let granted = u64::from(r.lifetime) * 1000;
                        let renew = ((granted as f64) * self.p.renew_fraction) as u64;
                        let same = self.bound.as_ref().is_some_and(|b| b.wlan == wlan);
                        info!(coa = %wlan.coa, ifname = %wlan.ifname, lifetime = r.lifetime, transmissions = p.transmissions,
                              ms = rtt, renewal, "registration accepted");
                        let udp = match (p.udp, r.udp_tunnel) {
                            (true, Some(u))
                                if u.reply_code == msm_mip::nat::UDP_TUNNEL_ACCEPTED =>
                            {
                                self.stats.udp_tunnel_accepted += 1;
                                info!(coa = %wlan.coa, keepalive_s = u.keepalive_interval, "UDP tunnel (RFC 3519) granted");
                                Some(u.keepalive_interval.max(1))
                            }
                            (true, u) => {
                                self.stats.udp_tunnel_declined += 1;
                                info!(coa = %wlan.coa, reply_code = ?u.map(|u| u.reply_code),
                                      "UDP tunnel not granted (no NAT seen by the MSM): IP in IP");
                                None
                            }
                            (false, _) => None,
                        };
                        let same = same
                            && self
                                .bound
                                .as_ref()
                                .is_some_and(|b| b.udp_keepalive_s.is_some() == udp.is_some());
                        let since = self
                            .bound
                            .as_ref()
                            .filter(|_| same)
                            .map_or(now.ms, |b| b.since_ms);
                        self.bound = Some(Bound {
                            wlan: wlan.clone(),
                            granted_s: r.lifetime,
                            expires_ms: now.ms + granted,
                            renew_ms: now.ms + renew.max(1000).min(granted),
                            since_ms: since,
                            udp_keepalive_s: udp,
                        });
                        // A fresh binding (or a re-registration after a
                        // mapping change): probing starts over.
                        // A renewal (through a NAT: of the mapping too) resets
                        // the misses in a row; a new binding starts probing over.
                        self.probes.misses_in_a_row = 0;
                        if !same {
                            self.window.clear();
                            if self.probing() {
                                self.probes.outstanding = None;
                                self.probes.next_ms = now.ms + self.probe_interval_ms();
                            }
                        }
                        if !same {
                            self.stats.traffic_switches += 1;
                            info!(coa = %wlan.coa, "traffic into the tunnel");
                            out.push(Action::TunnelUp(wlan));
                        }
                    }
                    Kind::Register { .. } | Kind::Cancel { .. } => {
                        self.stats.cancels_accepted += 1;
                        info!(transmissions = p.transmissions, ms = rtt, "cancel accepted");
                        self.drop_tunnel(&mut out, "cancel accepted");
                    }
                }
            }
            Some(Code::IdentificationMismatch) => {
                let theirs = i64::from((r.identification >> 32) as u32);
                // Serial difference, so the 2036 rollover does not matter.
                let delta = i64::from((theirs as u32).wrapping_sub(ours as u32) as i32);
                p.resyncs_in_a_row += 1;
                let resend = p.resyncs_in_a_row <= 3;
                if resend {
                    p.next_tx_ms = now.ms;
                    p.interval_ms = self.p.rtx_initial_ms;
                }
                self.clock_offset_s += delta;
                self.stats.resyncs += 1;
                warn!(
                    delta_s = delta,
                    offset_s = self.clock_offset_s,
                    "133 identification mismatch: clock offset resynchronised"
                );
                self.tick_into(now, &mut out);
            }
            Some(Code::InsufficientResources) | Some(Code::ReasonUnspecified) => {
                // Transient: the retransmission timer (backing off) retries.
                let c = r.code;
                self.last_refusal = Some(format!("{c} {}", code_name(c)));
                warn!(
                    code = c,
                    reason = code_name(c),
                    "registration refused (transient): retrying with back-off"
                );
            }
            _ => {
                let p = self.pending.take().expect("matched above");
                let c = r.code;
                self.last_refusal = Some(format!("{c} {}", code_name(c)));
                warn!(code = c, reason = code_name(c), "registration refused");
                if let Kind::Register { wlan, .. } = p.kind {
                    self.refused = Some(wlan);
                }
            }
        }
        out
    }

    /// Timers: retransmissions, renewals, expiry.
    pub fn tick(&mut self, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        self.tick_into(now, &mut out);
        out
    }

    fn tick_into(&mut self, now: Now, out: &mut Vec<Action>) {
        self.last_ms = now.ms;
        let before = self.auto_poor.len();
        self.auto_poor.retain(|(ifname, _, until)| {
            let over = now.ms >= *until;
            if over {
                info!(ifname, "WLAN quality hold-down over: trying it again");
            }
            !over
        });
        if self.auto_poor.len() != before {
            out.push(Action::Reevaluate);
        }
        self.probe_tick(now, out);
        if let Some(b) = &self.bound {
            if now.ms >= b.expires_ms {
                self.stats.lapsed += 1;
                let wlan = b.wlan.clone();
                warn!(coa = %wlan.coa, "binding lifetime ended without a renewal");
                self.drop_tunnel(out, "lifetime ended");
                // With quality judged, a renewal that could not get through
                // the WLAN within the lifetime is the worst probe result (one
                // sent by the WWAN says nothing about the WLAN).
                let via_wlan = self.pending.as_ref().is_some_and(|p| {
                    matches!(p.last_path, Some(Path::Direct(_) | Path::WlanTunnel(_)))
                });
                if via_wlan
                    && self.p.quality.is_some()
                    && self.wlan.as_ref() == Some(&wlan)
                    && !self.is_poor(&wlan.ifname)
                {
                    self.mark_poor(&wlan, now, out, "its renewal did not get through in time");
                }
            } else if self.pending.is_none() && now.ms >= b.renew_ms {
                let wlan = b.wlan.clone();
                if self.wlan.as_ref() == Some(&wlan) {
                    info!(coa = %wlan.coa, "renewing before the lifetime ends");
                    self.start(
                        Kind::Register {
                            wlan,
                            renewal: true,
                        },
                        now,
                        out,
                    );
                    return;
                }
            }
        }
        let due = self
            .pending
            .as_ref()
            .is_some_and(|p| now.ms >= p.next_tx_ms);
        if due {
            self.transmit(now, out);
        }
    }

    /// The probe period of the bound UDP tunnel (ms): the Reply's keepalive
    /// interval, or `probe_interval_ms` when shorter.
    fn probe_interval_ms(&self) -> u64 {
        let ka = self
            .bound
            .as_ref()
            .and_then(|b| b.udp_keepalive_s)
            .map_or(u64::MAX, |s| u64::from(s) * 1000);
        match self.p.probe_interval_ms {
            0 if ka == u64::MAX => 1000, // quality probing of IP-in-IP
            0 => ka,
            p => p.min(ka),
        }
    }

    /// Are the bound tunnel's probes running? (UDP tunnel: keepalives;
    /// any tunnel when quality is judged.)
    fn probing(&self) -> bool {
        self.bound
            .as_ref()
            .is_some_and(|b| b.udp_keepalive_s.is_some() || self.p.quality.is_some())
    }

    /// Record one probe outcome in the window (its last `window` ones).
    fn record(&mut self, answered: bool) {
        let Some(q) = &self.p.quality else { return };
        self.window.push_back(answered);
        while self.window.len() > q.window.max(1) {
            self.window.pop_front();
        }
    }

    /// Judge the bound WLAN by a full window of probe outcomes.
    fn judge(&mut self, now: Now, out: &mut Vec<Action>) {
        let (Some(q), Some(b)) = (&self.p.quality, &self.bound) else {
            return;
        };
        if self.window.len() < q.window.max(1) {
            return;
        }
        let lost = self.window.iter().filter(|ok| !**ok).count();
        let pct = (lost * 100 / self.window.len()) as u32;
        let ifname = b.wlan.ifname.clone();
        if pct >= q.poor_loss_pct {
            if self.is_poor(&ifname) {
                return; // already being left
            }
            let wlan = b.wlan.clone();
            info!(ifname = %ifname, loss_pct = pct, window = self.window.len(), "probe window");
            self.mark_poor(&wlan, now, out, "its probes were lost");
        } else if pct <= q.good_loss_pct && self.holds.remove(&ifname).is_some() {
            info!(ifname = %ifname, loss_pct = pct, "WLAN proven good again: hold-down reset");
        }
    }

    /// Judge `wlan` poor by itself: leave it, try it again after the
    /// hold-down, and double the next one.
    fn mark_poor(&mut self, wlan: &Wlan, now: Now, out: &mut Vec<Action>, why: &str) {
        let Some(q) = &self.p.quality else { return };
        let ifname = wlan.ifname.clone();
        let hold = self.holds.get(&ifname).copied().unwrap_or(q.hold_ms);
        self.holds
            .insert(ifname.clone(), hold.saturating_mul(2).min(q.hold_max_ms));
        warn!(ifname = %ifname, coa = %wlan.coa, why, hold_ms = hold,
              "WLAN judged poor by its quality: leaving it (make-before-break)");
        self.auto_poor.push((ifname, wlan.coa, now.ms + hold));
        self.stats.quality_handovers += 1;
        self.window.clear();
        out.push(Action::Reevaluate);
    }

    /// An ICMP echo reply to probe `seq` came back through the UDP tunnel.
    pub fn on_probe_reply(&mut self, seq: u16, now: Now) {
        match self.probes.outstanding {
            Some((s, sent)) if s == seq => {
                self.probes.outstanding = None;
                self.probes.misses_in_a_row = 0;
                self.probes.last_rtt_ms = Some(now.ms.saturating_sub(sent));
                self.stats.probes_answered += 1;
                self.record(true);
                let mut ignored = Vec::new();
                self.judge(now, &mut ignored); // (only resets the hold-down)
            }
            _ => {} // late or foreign: ignored
        }
    }

    /// Keepalives: one probe per period while a UDP tunnel is bound; the
    /// previous one unanswered counts as a miss, and `probe_misses` in a row
    /// start a re-registration (the NAT mapping changed).
    fn probe_tick(&mut self, now: Now, out: &mut Vec<Action>) {
        if !self.probing() || now.ms < self.probes.next_ms {
            return;
        }
        let Some(b) = self.bound.as_ref() else { return };
        let wlan = b.wlan.clone();
        let udp = b.udp_keepalive_s.is_some();
        if self.probes.outstanding.take().is_some() {
            self.probes.misses_in_a_row += 1;
            self.stats.probes_missed += 1;
            self.record(false);
            self.judge(now, out);
            let misses = self.probes.misses_in_a_row;
            if udp
                && misses >= self.p.probe_misses.max(1)
                && self.pending.is_none()
                && self.wlan.as_ref() == Some(&wlan)
            {
                self.stats.nat_reregistrations += 1;
                warn!(coa = %wlan.coa, misses, "UDP tunnel keepalives unanswered: the NAT mapping changed? re-registering");
                self.probes.misses_in_a_row = 0;
                self.start(
                    Kind::Register {
                        wlan,
                        renewal: true,
                    },
                    now,
                    out,
                );
            }
        }
        self.probes.seq = self.probes.seq.wrapping_add(1);
        let seq = self.probes.seq;
        self.probes.outstanding = Some((seq, now.ms));
        self.probes.next_ms = now.ms + self.probe_interval_ms();
        self.stats.probes_sent += 1;
        out.push(Action::Probe { seq });
    }

    fn start(&mut self, kind: Kind, now: Now, out: &mut Vec<Action>) {
        if let Some(old) = &self.pending {
            info!(old = ?old.kind, "outstanding request superseded");
        }
        self.pending = Some(Pending {
            kind,
            idents: Vec::new(),
            transmissions: 0,
            started_ms: now.ms,
            next_tx_ms: now.ms,
            interval_ms: self.p.rtx_initial_ms,
            resyncs_in_a_row: 0,
            last_path: None,
            udp: false,
        });
        self.transmit(now, out);
    }

    fn path_for(&self, kind: &Kind) -> Option<Path> {
        // RFC 3519: a care-of address behind a NAT registers from itself
        // (path 3), so the MSM sees and binds the NAT's mapping. A cancel
        // names no mapping (the MSM drops the binding whatever its care-of
        // address): by the WWAN when it is up (a WLAN judged poor may lose
        // it), else from the care-of address of a UDP tunnel still in use
        // (path 2 cannot cross the NAT).
        match kind {
            Kind::Register { wlan, .. } if self.wants_udp(wlan.coa) => {
                return Some(Path::Direct(wlan.coa))
            }
            Kind::Cancel { coa }
                if !self.wwan_up
                    && self
                        .bound
                        .as_ref()
                        .is_some_and(|b| b.wlan.coa == *coa && b.udp_keepalive_s.is_some()) =>
            {
                return Some(Path::Direct(*coa))
            }
            _ => {}
        }
        if self.wwan_up {
            return Some(Path::Wwan);
        }
        // WWAN down: reverse-tunnelled through the WLAN being registered, or
        // (cancel of a WLAN judged poor) through the one still attached.
        match kind {
            Kind::Register { wlan, .. } => Some(Path::WlanTunnel(wlan.coa)),
            Kind::Cancel { .. } => self
                .wlan
                .as_ref()
                .or(self.bound.as_ref().map(|b| &b.wlan))
                .map(|w| Path::WlanTunnel(w.coa)),
        }
    }

    fn ident_secs(&self, now: Now) -> u32 {
        (i64::from(now.ntp) + self.clock_offset_s) as u32
    }

    fn transmit(&mut self, now: Now, out: &mut Vec<Action>) {
        let Some(kind) = self.pending.as_ref().map(|p| p.kind.clone()) else {
            return;
        };
        let Some(path) = self.path_for(&kind) else {
            self.stats.unsendable += 1;
            let p = self.pending.as_mut().expect("checked");
            p.next_tx_ms = now.ms + p.interval_ms;
            warn!(kind = ?kind, "no path to the MSM (WWAN down, no WLAN): waiting");
            return;
        };
        let low = self.next_low;
        self.next_low = self.next_low.wrapping_add(1);
        let ident = make_identification(self.ident_secs(now), low);
        let (lifetime, care_of) = match &kind {
            Kind::Register { wlan, .. } => (self.p.lifetime_s, wlan.coa),
            Kind::Cancel { coa } => (0, *coa),
        };
        let care_of = match path {
            // Path 2: the MSM checks the care-of address against the outer source.
            Path::WlanTunnel(outer) => outer,
            Path::Wwan | Path::Direct(_) => care_of,
        };
        let udp = matches!(path, Path::Direct(_)).then(|| msm_mip::UdpTunnelRequestRepr {
            force: self.p.udp_tunnel == UdpTunnelMode::Always,
            ..Default::default()
        });
        let b = RequestBuilder {
            lifetime,
            home: self.p.home,
            home_agent: self.p.msm_wwan,
            care_of,
            identification: ident,
            nai: &self.p.nai,
            spi: self.p.spi,
            key: &self.p.key,
        };
        let msg = match b.to_vec_with(udp) {
            Ok(m) => m,
            Err(e) => {
                // Config validation makes this unreachable; never panic.
                warn!(error = %e, "cannot build a request");
                self.pending = None;
                return;
            }
        };
        let p = self.pending.as_mut().expect("checked");
        if p.transmissions > 0 {
            self.stats.retransmissions += 1;
            info!(
                attempt = p.transmissions + 1,
                after_ms = now.ms - p.started_ms,
                ?path,
                "retransmitting"
            );
        } else {
            info!(?path, lifetime, care_of = %care_of, ident = format_args!("{ident:#018x}"), "request sent");
        }
        self.stats.requests_sent += 1;
        p.transmissions += 1;
        p.idents.push(low);
        if p.idents.len() > 16 {
            p.idents.remove(0);
        }
        p.next_tx_ms = now.ms + p.interval_ms;
        p.interval_ms = (p.interval_ms * 2).min(self.p.rtx_max_ms);
        p.last_path = Some(path);
        p.udp = udp.is_some();
        out.push(Action::Send { path, msg });
    }

    fn drop_tunnel(&mut self, out: &mut Vec<Action>, why: &str) {
        if let Some(b) = self.bound.take() {
            self.window.clear();
            self.probes.outstanding = None;
            self.probes.misses_in_a_row = 0;
            self.stats.traffic_switches += 1;
            info!(coa = %b.wlan.coa, why, "traffic back to the WWAN");
            out.push(Action::TunnelDown);
        }
    }
}

/// A reply code's meaning (PROTOCOL.md).
pub fn code_name(c: u8) -> &'static str {
    Code::from_u8(c).map_or("unknown code", Code::name)
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
