//! The tunnel backend: what carries the terminal's IP-in-IP traffic, chosen
//! once at start (`tunnel_backend` in the configuration).
//!
//! * **tun** (what the MCM always did, [`crate::tunnel`]): the kernel routes the
//!   terminal's traffic into the TUN device (`tunnel_dev`, `mip0`); the MCM sends
//!   it through a raw `IPPROTO_IPIP` socket on the care-of address and writes
//!   what the MSM tunnels back into the device.
//! * **kernel**: the kernel's own `ipip` device (`kernel_tunnel_dev`, `mcmip0`),
//!   created over rtnetlink when a binding by IP-in-IP is accepted, as
//!   `ip link add mcmip0 type ipip local COA remote IPmsm-wlan dev WLAN ttl 64`,
//!   changed in place at a handover to another WLAN (`local` moves), deleted
//!   when the traffic goes back to the WWAN and at exit. The kernel encapsulates
//!   and decapsulates; the MCM moves the route (`default dev mcmip0 src HOME
//!   table T`), exactly as it does for the TUN device. The home address stays on
//!   `lo`, as on the TUN path: the route's `src` picks it.
//! * **auto** (the default): probes at start whether the kernel can create an
//!   ipip device (a temporary one, deleted at once) and takes `kernel` if so,
//!   `tun` otherwise, and logs which and why.
//!
//! The UDP tunnel (RFC 3519, MIP Tunnel Data) always takes the userspace path,
//! whatever the backend: the kernel's `fou` encapsulation would put the inner
//! packet right after the UDP header, but MIP Tunnel Data has the 4-byte
//! header `[4, 4, 0, 0]` (RFC 3519 section 3.3) between them, which neither
//! `fou` nor `gue` writes or accepts. So the TUN device is opened in every
//! mode, and a binding with the UDP tunnel routes into it.
//!
//! With the kernel device, the raw IP-in-IP socket of each care-of address stays
//! open: it is how Registration Replies come back through the tunnel (path 2)
//! and how probe answers are seen (Linux hands raw sockets a copy of every
//! packet of their protocol). The daemon delivers a packet from that socket into
//! the TUN device only when the kernel device does not decapsulate it (its outer
//! destination is not the device's `local`): downlink still in flight to the
//! previous care-of address after a handover is not lost.
//!
//! The decisions are pure functions ([`decide`], [`tunnel_mtu`], [`carrier`],
//! [`IpipPlan`]), tested in `backend_tests.rs`; [`KernelDev`] does the netlink.

use crate::netlink::Routes;
use crate::tunnel::{Tun, NAT_EXTRA};
use netlink_packet_core::{DefaultNla, Emitable, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::link::{InfoData, InfoKind, LinkAttribute, LinkFlags, LinkInfo};
use netlink_packet_route::RouteNetlinkMessage;
use serde::Serialize;
use std::io;
use std::net::Ipv4Addr;

/// The outer IPv4 header IP-in-IP adds (RFC 2003).
pub const IPIP_OVERHEAD: u32 = 20;

/// The smallest MTU an IPv4 device may have (RFC 791).
pub const MIN_IPV4_MTU: u32 = 68;

/// `tunnel_backend` in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The kernel's ipip device where the kernel can create one, else TUN.
    Auto,
    /// The kernel's ipip device; the MCM does not start without it.
    Kernel,
    /// The TUN device and the MCM's own relay.
    Tun,
}

impl Mode {
    /// Parse the configuration's value; the error names the key.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "kernel" => Ok(Mode::Kernel),
            "tun" => Ok(Mode::Tun),
            o => Err(format!(
                "tunnel_backend: {o:?} must be \"auto\", \"kernel\" or \"tun\""
            )),
        }
    }

    /// As written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Kernel => "kernel",
            Mode::Tun => "tun",
        }
    }
}

/// The backend in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// TUN device + raw socket (the MCM relays).
    Tun,
    /// The kernel's ipip device (the kernel relays IP-in-IP).
    Kernel,
}

/// The backend chosen at start, and why (logged once, shown by `mcm ctl status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// The backend.
    pub kind: Kind,
    /// The configured mode.
    pub mode: Mode,
    /// Why this one.
    pub reason: String,
}

impl Selection {
    /// The one log line at start.
    pub fn log_line(&self) -> String {
        let k = match self.kind {
            Kind::Tun => "tun",
            Kind::Kernel => "kernel",
        };
        format!("tunnel backend: {k} ({})", self.reason)
    }
}

/// Why the kernel could not create an ipip device, in `ip`'s words where
/// `ip` has its own (EOPNOTSUPP is its "Unknown device type").
pub fn unavailable_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => {
            "Unknown device type: this kernel has no ipip (CONFIG_NET_IPIP)".into()
        }
        Some(libc::EPERM) => "Operation not permitted (needs CAP_NET_ADMIN)".into(),
        _ => e.to_string(),
    }
}

/// Choose the backend from the configured mode and, unless the mode is `tun`
/// (no probe then: `probe` is not called), the outcome of the kernel probe.
/// `kernel` asked for and unavailable is an error, never a fallback.
pub fn decide(mode: Mode, probe: impl FnOnce() -> io::Result<()>) -> Result<Selection, String> {
    let sel = |kind, reason: String| Selection { kind, mode, reason };
    match mode {
        Mode::Tun => Ok(sel(Kind::Tun, "tunnel_backend = \"tun\"".into())),
        Mode::Auto => Ok(match probe() {
            Ok(()) => sel(
                Kind::Kernel,
                "tunnel_backend = \"auto\": the kernel created a test ipip device; \
                 the UDP tunnel stays on the userspace path"
                    .into(),
            ),
            Err(e) => sel(
                Kind::Tun,
                format!(
                    "tunnel_backend = \"auto\": kernel ipip unavailable: {}",
                    unavailable_reason(&e)
                ),
            ),
        }),
        Mode::Kernel => match probe() {
            Ok(()) => Ok(sel(
                Kind::Kernel,
                "tunnel_backend = \"kernel\"; the UDP tunnel stays on the userspace path".into(),
            )),
            Err(e) => Err(format!(
                "tunnel_backend = \"kernel\": the kernel cannot create an ipip device: {} \
                 (use \"auto\" or \"tun\" for the TUN device)",
                unavailable_reason(&e)
            )),
        },
    }
}

/// What carries one binding's packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Carrier {
    /// The TUN device and the MCM's relay (IP-in-IP or UDP).
    Tun,
    /// The kernel's ipip device.
    Kernel,
}

/// The carrier of a binding: the kernel device only for IP-in-IP on the
/// kernel backend; the UDP tunnel always on the TUN device.
pub fn carrier(kind: Kind, udp: bool) -> Carrier {
    match (kind, udp) {
        (Kind::Kernel, false) => Carrier::Kernel,
        _ => Carrier::Tun,
    }
}

/// The tunnel device's MTU: the configured `tunnel_mtu` (for IP-in-IP), 12
/// bytes less for the UDP tunnel (UDP header and MIP Tunnel Data header), and
/// never more than the WLAN's own MTU leaves after the outer headers (20 bytes
/// of IP-in-IP; 32 for the UDP tunnel: 20 + 8 + 4). At least 68.
pub fn tunnel_mtu(configured: u32, wlan_mtu: Option<u32>, udp: bool) -> u32 {
    let extra = if udp { NAT_EXTRA } else { 0 };
    let mut mtu = configured.saturating_sub(extra);
    if let Some(link) = wlan_mtu {
        mtu = mtu.min(link.saturating_sub(IPIP_OVERHEAD + extra));
    }
    mtu.max(MIN_IPV4_MTU)
}

/// The kernel ipip device for one binding and the route into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpipPlan {
    /// The device's name (`kernel_tunnel_dev`).
    pub name: String,
    /// The care-of address: the outer source.
    pub local: Ipv4Addr,
    /// IPmsm-wlan: the outer destination.
    pub remote: Ipv4Addr,
    /// The WLAN interface (the outer packets leave by it) and its index.
    pub link: (String, u32),
    /// The device's MTU ([`tunnel_mtu`]).
    pub mtu: u32,
    /// The home address: the route's preferred source.
    pub home: Ipv4Addr,
    /// The policy-routing table.
    pub table: u32,
}

/// The outer TTL of the kernel device (the raw socket's default, too).
pub const OUTER_TTL: u8 = 64;

// linux/if_tunnel.h: IFLA_IPTUN_*.
const IFLA_IPTUN_LINK: u16 = 1;
const IFLA_IPTUN_LOCAL: u16 = 2;
const IFLA_IPTUN_REMOTE: u16 = 3;
const IFLA_IPTUN_TTL: u16 = 4;
const IFLA_IPTUN_PMTUDISC: u16 = 10;

impl IpipPlan {
    /// The same, as `ip` commands (logged at each change, and what an operator
    /// would type to do it by hand).
    pub fn ip_commands(&self) -> Vec<String> {
        let p = self;
        vec![
            format!(
                "ip link add {} type ipip local {} remote {} dev {} ttl {OUTER_TTL} pmtudisc",
                p.name, p.local, p.remote, p.link.0
            ),
            format!("ip link set {} mtu {} up", p.name, p.mtu),
            format!(
                "ip route replace default dev {} src {} table {}",
                p.name, p.home, p.table
            ),
        ]
    }

    /// The IFLA_INFO_DATA of an ipip link: link, local, remote, TTL,
    /// path MTU discovery on (the outer DF bit, as the raw socket sets it).
    pub fn info_data(&self) -> Vec<u8> {
        let nlas = [
            DefaultNla::new(IFLA_IPTUN_LINK, self.link.1.to_ne_bytes().to_vec()),
            DefaultNla::new(IFLA_IPTUN_LOCAL, self.local.octets().to_vec()),
            DefaultNla::new(IFLA_IPTUN_REMOTE, self.remote.octets().to_vec()),
            DefaultNla::new(IFLA_IPTUN_TTL, vec![OUTER_TTL]),
            DefaultNla::new(IFLA_IPTUN_PMTUDISC, vec![1]),
        ];
        let mut buf = vec![0; nlas.as_slice().buffer_len()];
        nlas.as_slice().emit(&mut buf);
        buf
    }

    /// RTM_NEWLINK: create the device (`index` None) or change the existing
    /// one in place (`Some(ifindex)`): endpoints, MTU, up.
    pub fn newlink(&self, index: Option<u32>) -> LinkMessage {
        let mut m = ipip_link(&self.name, Some(self.info_data()));
        m.header.index = index.unwrap_or(0);
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::Mtu(self.mtu));
        m
    }
}

/// An ipip link message named `name`, with `data` as its IFLA_INFO_DATA.
fn ipip_link(name: &str, data: Option<Vec<u8>>) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    let mut info = vec![LinkInfo::Kind(InfoKind::IpTun)];
    if let Some(d) = data {
        info.push(LinkInfo::Data(InfoData::Other(d)));
    }
    m.attributes.push(LinkAttribute::LinkInfo(info));
    m
}

/// The name of the probe's temporary device (15 characters at most).
pub fn probe_name(pid: u32) -> String {
    format!("mcmprobe{}", pid % 10_000_000)
}

/// Can the kernel create an ipip device here? Creates `mcmprobeN` (down,
/// `remote` as its far end, no local address) and deletes it. EEXIST counts
/// as yes: a tunnel with those endpoints exists, so the kernel has ipip.
pub fn probe_kernel(routes: &mut Routes, remote: Ipv4Addr) -> io::Result<()> {
    let name = probe_name(std::process::id());
    let plan = IpipPlan {
        name: name.clone(),
        local: Ipv4Addr::UNSPECIFIED,
        remote,
        link: (String::new(), 0),
        mtu: 1280,
        home: Ipv4Addr::UNSPECIFIED,
        table: 0,
    };
    let mut m = plan.newlink(None);
    m.header.flags = LinkFlags::empty();
    match routes.link_request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL) {
        Ok(()) => delete_link(routes, &name).map_err(|e| {
            io::Error::other(format!("the test device {name} could not be deleted: {e}"))
        }),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `ip link del NAME` (absent is fine).
pub fn delete_link(routes: &mut Routes, name: &str) -> io::Result<()> {
    let m = ipip_link(name, None);
    match routes.link_request(RouteNetlinkMessage::DelLink(m), 0) {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        r => r,
    }
}

fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated string that lives across the call.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

/// The kernel's ipip device while a binding uses it.
#[derive(Debug)]
pub struct KernelDev {
    /// Its name.
    pub name: String,
    /// Its index and `local` (the care-of address it decapsulates for), when it exists.
    pub live: Option<(u32, Ipv4Addr)>,
}

impl KernelDev {
    /// Create the device, or change the existing one to `plan`'s endpoints;
    /// returns its index.
    pub fn up(&mut self, routes: &mut Routes, plan: &IpipPlan) -> io::Result<u32> {
        let r = match self.live {
            Some((i, _)) => routes
                .link_request(RouteNetlinkMessage::NewLink(plan.newlink(Some(i))), 0)
                .map(|()| i),
            None => routes
                .link_request(
                    RouteNetlinkMessage::NewLink(plan.newlink(None)),
                    NLM_F_CREATE | NLM_F_EXCL,
                )
                .and_then(|()| ifindex(&plan.name)),
        };
        match r {
            Ok(i) => {
                self.live = Some((i, plan.local));
                Ok(i)
            }
            Err(e) => {
                // Whatever half exists goes: the binding takes the TUN path.
                let _ = self.down(routes);
                Err(e)
            }
        }
    }

    /// Delete the device (absent is fine).
    pub fn down(&mut self, routes: &mut Routes) -> io::Result<()> {
        self.live = None;
        delete_link(routes, &self.name)
    }

    /// Does the kernel decapsulate what the MSM tunnels to `coa`?
    pub fn decapsulates(&self, coa: Ipv4Addr) -> bool {
        self.live.is_some_and(|(_, local)| local == coa)
    }
}

/// What the daemon drives: the TUN device (always open: the UDP tunnel and
/// the `tun` backend use it) and, on the `kernel` backend, the ipip device.
pub struct Backend {
    /// The choice made at start.
    pub selection: Selection,
    /// The TUN device.
    pub tun: Tun,
    /// The kernel device (`kernel` backend only).
    pub kernel: Option<KernelDev>,
    /// What carries the current binding (None: no tunnel).
    pub carrier: Option<Carrier>,
}

/// The device a binding's traffic is routed into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its name.
    pub name: String,
    /// Its index.
    pub ifindex: u32,
    /// What it is.
    pub carrier: Carrier,
    /// Its MTU as set.
    pub mtu: u32,
}

/// The status's `tunnel_backend` object.
#[derive(Serialize)]
pub struct BackendStatus<'a> {
    /// The backend.
    pub kind: Kind,
    /// The configured mode.
    pub mode: Mode,
    /// Why.
    pub reason: &'a str,
    /// What carries the current binding (null: no tunnel).
    pub carrier: Option<Carrier>,
    /// The kernel device, if it exists now.
    pub kernel_dev: Option<&'a str>,
}

impl Backend {
    /// The TUN device opened, the kernel device (if chosen) not yet created;
    /// a stale kernel device from an earlier run is deleted.
    pub fn new(
        selection: Selection,
        tun: Tun,
        kernel_dev: &str,
        routes: &mut Routes,
    ) -> io::Result<Backend> {
        let kernel = match selection.kind {
            Kind::Kernel => {
                delete_link(routes, kernel_dev)?;
                Some(KernelDev {
                    name: kernel_dev.to_string(),
                    live: None,
                })
            }
            Kind::Tun => None,
        };
        Ok(Backend {
            selection,
            tun,
            kernel,
            carrier: None,
        })
    }

    /// Prepare the device of a binding accepted on `plan.local` (`udp`: with
    /// the UDP tunnel); `plan.mtu` is the MTU for it. The kernel device when
    /// [`carrier`] says so and it can be set up, else the TUN device (the
    /// error is returned beside it to be logged). The caller routes into it.
    pub fn up(
        &mut self,
        routes: &mut Routes,
        plan: &IpipPlan,
        udp: bool,
    ) -> (Device, Option<io::Error>) {
        let mut failed = None;
        if let (Carrier::Kernel, Some(k)) = (carrier(self.selection.kind, udp), &mut self.kernel) {
            match k.up(routes, plan) {
                Ok(ifindex) => {
                    self.carrier = Some(Carrier::Kernel);
                    return (
                        Device {
                            name: plan.name.clone(),
                            ifindex,
                            carrier: Carrier::Kernel,
                            mtu: plan.mtu,
                        },
                        None,
                    );
                }
                Err(e) => failed = Some(e),
            }
        }
        // The UDP tunnel, the `tun` backend, or the kernel device failed.
        if let Some(k) = self.kernel.as_mut().filter(|k| k.live.is_some()) {
            let _ = k.down(routes);
        }
        if let Err(e) = self.tun.set_mtu(plan.mtu) {
            tracing::warn!(error = %e, mtu = plan.mtu, "cannot set the tunnel device's MTU");
        }
        self.carrier = Some(Carrier::Tun);
        (
            Device {
                name: self.tun.name.clone(),
                ifindex: self.tun.ifindex,
                carrier: Carrier::Tun,
                mtu: plan.mtu,
            },
            failed,
        )
    }

    /// The traffic went back to the WWAN (the caller emptied the table): the
    /// kernel device goes.
    pub fn down(&mut self, routes: &mut Routes) -> io::Result<()> {
        self.carrier = None;
        match &mut self.kernel {
            Some(k) if k.live.is_some() => k.down(routes),
            _ => Ok(()),
        }
    }

    /// Does the kernel decapsulate what the MSM tunnels to `coa` (so the MCM
    /// must not deliver its raw socket's copy)?
    pub fn kernel_decapsulates(&self, coa: Ipv4Addr) -> bool {
        self.kernel.as_ref().is_some_and(|k| k.decapsulates(coa))
    }

    /// For `mcm ctl status`.
    pub fn status(&self) -> BackendStatus<'_> {
        BackendStatus {
            kind: self.selection.kind,
            mode: self.selection.mode,
            reason: &self.selection.reason,
            carrier: self.carrier,
            kernel_dev: self
                .kernel
                .as_ref()
                .filter(|k| k.live.is_some())
                .map(|k| k.name.as_str()),
        }
    }
}

#[cfg(test)]
#[path = "backend_tests.rs"]
mod tests;
