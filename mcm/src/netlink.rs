//! rtnetlink: the link/address monitor (events, no polling of `ip`), and the
//! route and rule changes that move the terminal's traffic.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleHeader, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

/// What the kernel says about one link.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// Interface name.
    pub name: String,
    /// Administratively up.
    pub up: bool,
    /// Carrier (IFF_LOWER_UP).
    pub carrier: bool,
    /// IPv4 addresses (address, prefix length), in the order they came.
    pub addrs: Vec<(Ipv4Addr, u8)>,
    /// MTU, when the kernel said (the tunnel's MTU is kept within a WLAN's).
    pub mtu: Option<u32>,
}

impl Link {
    /// Up with carrier.
    pub fn usable(&self) -> bool {
        self.up && self.carrier
    }
}

/// A route of the main table: what a DHCP client (or the operator) installs
/// once an access network is usable.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    /// Destination prefix.
    pub dst: Ipv4Addr,
    /// Its length.
    pub plen: u8,
    /// Output interface.
    pub oif: u32,
    /// Metric.
    pub metric: u32,
    /// Gateway, if any.
    pub gateway: Option<Ipv4Addr>,
}

impl Route {
    /// Does it cover `a`?
    pub fn covers(&self, a: Ipv4Addr) -> bool {
        let mask = if self.plen == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.plen.min(32)))
        };
        u32::from(a) & mask == u32::from(self.dst) & mask
    }
}

/// The link/address/route monitor: a netlink socket subscribed to link,
/// IPv4 address and IPv4 route events, and the state they describe.
pub struct Monitor {
    sock: Socket,
    links: BTreeMap<u32, Link>,
    routes: Vec<Route>,
    buf: Vec<u8>,
}

const MAIN_TABLE: u32 = 254;

fn socket() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    Ok(s)
}

fn send(sock: &Socket, msg: RouteNetlinkMessage, flags: u16, seq: u32) -> io::Result<()> {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = flags;
    hdr.sequence_number = seq;
    let mut packet = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    sock.send(&buf, 0)?;
    Ok(())
}

/// Parse every message of one datagram.
fn parse_all(buf: &[u8]) -> Vec<NetlinkMessage<RouteNetlinkMessage>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let Ok(m) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..]) else {
            // A message this crate cannot parse: skip it by its header length.
            let len = buf
                .get(off..off + 4)
                .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize);
            if len < 16 {
                break;
            }
            off += (len + 3) & !3;
            continue;
        };
        let len = m.header.length as usize;
        out.push(m);
        if len == 0 {
            break;
        }
        off += (len + 3) & !3;
    }
    out
}

impl Monitor {
    /// Subscribe to link, IPv4 address and route events, then dump the current
    /// state (on a second socket, so no event between the two is lost).
    pub fn open() -> io::Result<Monitor> {
        let sock = socket()?;
        sock.add_membership(libc::RTNLGRP_LINK)?;
        sock.add_membership(libc::RTNLGRP_IPV4_IFADDR)?;
        sock.add_membership(libc::RTNLGRP_IPV4_ROUTE)?;
        let _ = sock.set_rx_buf_sz(1 << 20);
        sock.set_non_blocking(true)?;
        let mut m = Monitor {
            sock,
            links: BTreeMap::new(),
            routes: Vec::new(),
            buf: vec![0; 1 << 16],
        };
        m.resync()?;
        Ok(m)
    }

    /// Dump links, addresses and routes afresh (at start, and after an overrun).
    pub fn resync(&mut self) -> io::Result<()> {
        let d = socket()?;
        self.links.clear();
        send(
            &d,
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_REQUEST | NLM_F_DUMP,
            1,
        )?;
        self.drain_dump(&d)?;
        let mut am = AddressMessage::default();
        am.header.family = AddressFamily::Inet;
        send(
            &d,
            RouteNetlinkMessage::GetAddress(am),
            NLM_F_REQUEST | NLM_F_DUMP,
            2,
        )?;
        self.drain_dump(&d)?;
        self.resync_routes(&d)
    }

    /// Dump the routes afresh: the kernel does not announce every route it
    /// flushes (link down, address removed), so this follows every route
    /// event and every link or address change.
    fn resync_routes(&mut self, d: &Socket) -> io::Result<()> {
        // The dump's RTM_NEWROUTE messages go through `apply`, which collects them.
        self.routes.clear();
        let mut rm = RouteMessage::default();
        rm.header.address_family = AddressFamily::Inet;
        send(
            d,
            RouteNetlinkMessage::GetRoute(rm),
            NLM_F_REQUEST | NLM_F_DUMP,
            3,
        )?;
        self.drain_dump(d)
    }

    fn drain_dump(&mut self, d: &Socket) -> io::Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = d.recv(&mut &mut buf[..], 0)?;
            for m in parse_all(&buf[..n]) {
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(e) => {
                        return Err(io::Error::other(format!("netlink dump: {e:?}")));
                    }
                    NetlinkPayload::InnerMessage(msg) => {
                        self.apply(msg);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Read every pending event; true if the state changed.
    pub fn drain(&mut self) -> io::Result<bool> {
        let mut changed = false;
        loop {
            let r = self.sock.recv(&mut &mut self.buf[..], 0);
            let n = match r {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(changed),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    tracing::warn!("netlink event overrun: dumping the state again");
                    self.resync()?;
                    changed = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let buf = self.buf[..n].to_vec();
            // Routes are not tracked event by event: a replace announces only the
            // new route, and the kernel flushes routes silently (link down,
            // address removed). Any route event, or a link or address change,
            // re-dumps them instead.
            let mut redump = false;
            for m in parse_all(&buf) {
                if let NetlinkPayload::InnerMessage(msg) = m.payload {
                    match msg {
                        RouteNetlinkMessage::NewRoute(_) | RouteNetlinkMessage::DelRoute(_) => {
                            redump = true
                        }
                        other => {
                            let c = self.apply(other);
                            changed |= c;
                            redump |= c;
                        }
                    }
                }
            }
            if redump {
                let before = self.routes.clone();
                self.resync_routes(&socket()?)?;
                changed |= before != self.routes;
            }
        }
    }

    fn apply(&mut self, msg: RouteNetlinkMessage) -> bool {
        let before = (self.links.clone(), self.routes.len());
        match msg {
            RouteNetlinkMessage::NewRoute(r) => {
                if let Some(r) = main_route(&r) {
                    if !self.routes.contains(&r) {
                        self.routes.push(r);
                    }
                }
            }
            RouteNetlinkMessage::NewLink(l) => {
                let e = self.links.entry(l.header.index).or_default();
                for a in &l.attributes {
                    match a {
                        LinkAttribute::IfName(n) => e.name.clone_from(n),
                        LinkAttribute::Mtu(m) => e.mtu = Some(*m),
                        _ => {}
                    }
                }
                e.up = l.header.flags.contains(LinkFlags::Up);
                e.carrier = l.header.flags.contains(LinkFlags::LowerUp);
            }
            RouteNetlinkMessage::DelLink(l) => {
                self.links.remove(&l.header.index);
            }
            RouteNetlinkMessage::NewAddress(a) if a.header.family == AddressFamily::Inet => {
                if let Some(ip) = ipv4_of(&a) {
                    let e = self.links.entry(a.header.index).or_default();
                    if !e.addrs.iter().any(|x| x.0 == ip) {
                        e.addrs.push((ip, a.header.prefix_len));
                    }
                }
            }
            RouteNetlinkMessage::DelAddress(a) if a.header.family == AddressFamily::Inet => {
                if let (Some(ip), Some(e)) = (ipv4_of(&a), self.links.get_mut(&a.header.index)) {
                    e.addrs.retain(|x| x.0 != ip);
                }
            }
            _ => {}
        }
        before != (self.links.clone(), self.routes.len())
    }

    /// The main table's routes.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Is there a main-table route out of `oif` that covers `dst`?
    pub fn has_route(&self, oif: u32, dst: Ipv4Addr) -> bool {
        self.routes.iter().any(|r| r.oif == oif && r.covers(dst))
    }

    /// The links by index.
    pub fn links(&self) -> &BTreeMap<u32, Link> {
        &self.links
    }

    /// A link by name.
    pub fn by_name(&self, name: &str) -> Option<(u32, &Link)> {
        self.links
            .iter()
            .find(|(_, l)| l.name == name)
            .map(|(i, l)| (*i, l))
    }
}

/// A unicast IPv4 route of the main table with an output interface.
fn main_route(m: &RouteMessage) -> Option<Route> {
    if m.header.address_family != AddressFamily::Inet || m.header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(m.header.table);
    let (mut dst, mut oif, mut metric, mut gateway) = (Ipv4Addr::UNSPECIFIED, None, 0, None);
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
            RouteAttribute::Oif(o) => oif = Some(*o),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(*g),
            _ => {}
        }
    }
    (table == MAIN_TABLE).then_some(())?;
    Some(Route {
        dst,
        plen: m.header.destination_prefix_length,
        oif: oif?,
        metric,
        gateway,
    })
}

/// The local IPv4 address of an address message (IFA_LOCAL, else IFA_ADDRESS).
fn ipv4_of(a: &AddressMessage) -> Option<Ipv4Addr> {
    let pick = |local: bool| {
        a.attributes.iter().find_map(|x| match (x, local) {
            (AddressAttribute::Local(IpAddr::V4(v)), true) => Some(*v),
            (AddressAttribute::Address(IpAddr::V4(v)), false) => Some(*v),
            _ => None,
        })
    };
    pick(true).or_else(|| pick(false))
}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

/// Route and rule changes, each acknowledged by the kernel.
pub struct Routes {
    sock: Socket,
    seq: u32,
}

impl Routes {
    /// A request socket.
    pub fn open() -> io::Result<Routes> {
        Ok(Routes {
            sock: socket()?,
            seq: 100,
        })
    }

    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        send(&self.sock, msg, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq)?;
        let mut buf = vec![0u8; 1 << 14];
        loop {
            let n = self.sock.recv(&mut &mut buf[..], 0)?;
            for m in parse_all(&buf[..n]) {
                if m.header.sequence_number != self.seq {
                    continue;
                }
                if let NetlinkPayload::Error(e) = m.payload {
                    return match e.code {
                        None => Ok(()),
                        Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                    };
                }
            }
        }
    }

    /// A link request (the kernel tunnel device, [`crate::backend`]),
    /// acknowledged; the kernel's error as an `io::Error`.
    pub fn link_request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(msg, flags)
    }

    fn rule(home: Ipv4Addr, table: u32, priority: u32) -> RuleMessage {
        let mut r = RuleMessage::default();
        r.header = RuleHeader {
            family: AddressFamily::Inet,
            src_len: 32,
            table: if table < 256 { table as u8 } else { 0 },
            action: RuleAction::ToTable,
            ..Default::default()
        };
        r.attributes = vec![
            RuleAttribute::Source(IpAddr::V4(home)),
            RuleAttribute::Table(table),
            RuleAttribute::Priority(priority),
        ];
        r
    }

    /// `ip rule add from <home> lookup <table> pref <priority>`, replacing a
    /// stale one left by an earlier run.
    pub fn add_rule(&mut self, home: Ipv4Addr, table: u32, priority: u32) -> io::Result<()> {
        let _ = self.del_rule(home, table, priority);
        self.request(
            RouteNetlinkMessage::NewRule(Self::rule(home, table, priority)),
            NLM_F_CREATE,
        )
    }

    /// Remove that rule (absent is fine).
    pub fn del_rule(&mut self, home: Ipv4Addr, table: u32, priority: u32) -> io::Result<()> {
        match self.request(
            RouteNetlinkMessage::DelRule(Self::rule(home, table, priority)),
            0,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }

    fn default_route(table: u32, oif: Option<u32>, src: Ipv4Addr) -> RouteMessage {
        let mut r = RouteMessage::default();
        r.header = RouteHeader {
            address_family: AddressFamily::Inet,
            table: if table < 256 { table as u8 } else { 0 },
            protocol: RouteProtocol::Static,
            scope: RouteScope::Link,
            kind: RouteType::Unicast,
            ..Default::default()
        };
        r.attributes.push(RouteAttribute::Table(table));
        if let Some(oif) = oif {
            r.attributes.push(RouteAttribute::Oif(oif));
            r.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::Inet(src)));
        }
        r
    }

    /// `ip route replace default dev <tunnel> src <home> table <table>`:
    /// the terminal's traffic goes into the tunnel.
    pub fn tunnel_default(
        &mut self,
        table: u32,
        tun_ifindex: u32,
        home: Ipv4Addr,
    ) -> io::Result<()> {
        let m = Self::default_route(table, Some(tun_ifindex), home);
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// `ip route del default table <table>`: traffic by the main table (the
    /// WWAN) again. Absent is fine.
    pub fn clear_default(&mut self, table: u32) -> io::Result<()> {
        let mut m = Self::default_route(table, None, Ipv4Addr::UNSPECIFIED);
        m.header.scope = RouteScope::NoWhere;
        match self.request(RouteNetlinkMessage::DelRoute(m), 0) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(dst: [u8; 4], plen: u8) -> Route {
        Route {
            dst: Ipv4Addr::from(dst),
            plen,
            oif: 3,
            metric: 0,
            gateway: None,
        }
    }

    #[test]
    fn route_coverage() {
        let msm = Ipv4Addr::new(198, 51, 100, 1);
        assert!(r([0, 0, 0, 0], 0).covers(msm), "default");
        assert!(r([198, 51, 100, 0], 24).covers(msm));
        assert!(r([198, 51, 100, 1], 32).covers(msm));
        assert!(
            !r([203, 0, 113, 0], 26).covers(msm),
            "the WLAN's own prefix"
        );
        assert!(!r([198, 51, 100, 2], 32).covers(msm));
        assert!(r([198, 51, 100, 0], 31).covers(msm));
    }

    #[test]
    fn only_main_table_unicast_routes_with_an_interface() {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.kind = RouteType::Unicast;
        m.header.table = 254;
        m.attributes.push(RouteAttribute::Oif(3));
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(
                203, 0, 113, 1,
            ))));
        m.attributes.push(RouteAttribute::Priority(600));
        let got = main_route(&m).unwrap();
        assert_eq!((got.plen, got.oif, got.metric), (0, 3, 600));
        let mut other = m.clone();
        other.attributes.push(RouteAttribute::Table(100));
        assert_eq!(main_route(&other), None, "policy table");
        let mut local = m.clone();
        local.header.kind = RouteType::Local;
        assert_eq!(main_route(&local), None);
        let mut no_oif = m.clone();
        no_oif
            .attributes
            .retain(|a| !matches!(a, RouteAttribute::Oif(_)));
        assert_eq!(main_route(&no_oif), None);
    }
}
