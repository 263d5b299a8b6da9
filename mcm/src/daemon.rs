//! The daemon: one thread, one mio loop over the rtnetlink monitor, the
//! registration socket, the tunnel device, the per-care-of-address endpoints
//! (a raw IP-in-IP socket and the RFC 3519 UDP socket) and the operator
//! socket; the [`Machine`] decides, this module does the I/O.

use crate::backend::{self, Backend, IpipPlan};
use crate::config::Checked;
use crate::machine::{Action, Loss, Machine, Now, Params, Path, Wlan};
use crate::netlink::{Monitor, Routes};
use crate::tunnel::{self, RawIpip, Relay, Tun};
use mio::net::{UdpSocket, UnixListener};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing::{error, info, warn};

const NETLINK: Token = Token(0);
const UDP: Token = Token(1);
const TUN: Token = Token(2);
const CTL: Token = Token(3);
/// Endpoint sockets: Token(RAW_BASE + 2 * slot) the raw IP-in-IP socket,
/// Token(RAW_BASE + 2 * slot + 1) the UDP socket (registrations by path 3 and
/// the UDP tunnel, RFC 3519: one socket, one port, as the RFC requires).
const RAW_BASE: usize = 16;
/// The ICMP identifier of the UDP tunnel's keepalive probes.
const PROBE_ID: u16 = 0x4d43;

/// The tunnel's end on one care-of address.
struct Ep {
    raw: RawIpip,
    udp: UdpSocket,
}

#[derive(Clone, Copy)]
struct Addrs {
    home: Ipv4Addr,
    msm_wwan: Ipv4Addr,
    msm_wlan: Ipv4Addr,
    route_table: u32,
}

struct Daemon {
    cfg: Checked,
    m: Machine,
    mon: Monitor,
    routes: Routes,
    /// The TUN device and, on the `kernel` backend, the kernel's ipip device.
    backend: Backend,
    udp: UdpSocket,
    udp_port: u16,
    raws: Vec<Option<Ep>>,
    relay: Relay,
    poll: Poll,
    start: Instant,
    ip_id: u16,
    wwan_seen: bool,
    /// The machine asked for the usable WLAN to be recomputed.
    reeval: bool,
}

fn now(start: Instant) -> Now {
    let ms = start.elapsed().as_millis() as u64;
    Now {
        ms,
        ntp: msm_mip::ntp_seconds(SystemTime::now()),
    }
}

/// Run until SIGTERM/SIGINT.
pub fn run(cfg: Checked) -> Result<(), String> {
    let c = &cfg.cfg;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let mon = Monitor::open().map_err(|e| format!("rtnetlink monitor: {e}"))?;
    let mut routes = Routes::open().map_err(|e| format!("rtnetlink: {e}"))?;
    // The backend first: `kernel` without an ipip kernel stops here, before
    // anything is set up.
    let selection = backend::decide(cfg.tunnel_backend, || {
        backend::probe_kernel(&mut routes, c.msm_wlan)
    })?;
    info!("{}", selection.log_line());
    let tun = Tun::open(&c.tunnel_dev, c.tunnel_mtu)
        .map_err(|e| format!("tunnel device {}: {e}", c.tunnel_dev))?;
    let backend = Backend::new(selection, tun, &c.kernel_tunnel_dev, &mut routes)
        .map_err(|e| format!("stale kernel tunnel device {}: {e}", c.kernel_tunnel_dev))?;
    routes
        .clear_default(c.route_table)
        .map_err(|e| format!("route table {}: {e}", c.route_table))?;
    routes
        .add_rule(c.home, c.route_table, c.rule_priority)
        .map_err(|e| format!("rule from {} lookup {}: {e}", c.home, c.route_table))?;
    let std_udp = std::net::UdpSocket::bind(SocketAddrV4::new(c.home, c.port)).map_err(|e| {
        format!(
            "bind {}:{}: {e} (is the home address configured on this terminal, e.g. on lo?)",
            c.home, c.port
        )
    })?;
    tunnel::bind_to_device(&std_udp, &c.wwan)
        .map_err(|e| format!("SO_BINDTODEVICE {}: {e}", c.wwan))?;
    std_udp.set_nonblocking(true).map_err(|e| e.to_string())?;
    let udp_port = std_udp.local_addr().map_err(|e| e.to_string())?.port();
    let udp = UdpSocket::from_std(std_udp);
    let _ = std::fs::remove_file(&c.socket);
    let mut ctl =
        UnixListener::bind(&c.socket).map_err(|e| format!("socket {}: {e}", c.socket.display()))?;

    let poll = Poll::new().map_err(|e| e.to_string())?;
    let reg = poll.registry();
    reg.register(&mut SourceFd(&mon.as_raw_fd()), NETLINK, Interest::READABLE)
        .map_err(|e| e.to_string())?;
    reg.register(
        &mut SourceFd(&backend.tun.as_raw_fd()),
        TUN,
        Interest::READABLE,
    )
    .map_err(|e| e.to_string())?;
    let mut udp = udp;
    reg.register(&mut udp, UDP, Interest::READABLE)
        .map_err(|e| e.to_string())?;
    reg.register(&mut ctl, CTL, Interest::READABLE)
        .map_err(|e| e.to_string())?;

    let params = Params {
        nai: c.msisdn.clone(),
        home: c.home,
        msm_wwan: c.msm_wwan,
        spi: c.spi,
        key: cfg.key.clone(),
        lifetime_s: c.lifetime_s,
        rtx_initial_ms: c.retransmit_initial_ms,
        rtx_max_ms: c.retransmit_max_ms,
        renew_fraction: c.renew_fraction,
        clock_offset_s: c.clock_offset_s,
        udp_tunnel: cfg.udp_tunnel,
        private_prefixes: cfg.private_prefixes.clone(),
        probe_interval_ms: c.probe_interval_ms,
        probe_misses: c.probe_misses,
        quality: cfg.quality.clone(),
    };
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos());
    info!(
        home = %c.home, msisdn = %c.msisdn, msm_wwan = %c.msm_wwan, msm_wlan = %c.msm_wlan, wwan = %c.wwan,
        wlan = ?c.wlan, tunnel = %c.tunnel_dev, port = udp_port, udp_tunnel = ?cfg.udp_tunnel,
        backend = ?backend.selection.kind, "MCM started"
    );
    let mut d = Daemon {
        m: Machine::new(params, seed),
        mon,
        routes,
        backend,
        udp,
        udp_port,
        raws: Vec::new(),
        relay: Relay::default(),
        poll,
        start: Instant::now(),
        ip_id: seed as u16,
        wwan_seen: false,
        reeval: false,
        cfg,
    };
    d.links_changed();
    let r = d.event_loop(&stop, &mut ctl);
    d.shutdown();
    let _ = std::fs::remove_file(&d.cfg.cfg.socket);
    r
}

impl Daemon {
    fn event_loop(&mut self, stop: &AtomicBool, ctl: &mut UnixListener) -> Result<(), String> {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let t = now(self.start);
            let wait = self
                .m
                .next_deadline()
                .map_or(200, |d| d.saturating_sub(t.ms))
                .min(200);
            match self
                .poll
                .poll(&mut events, Some(Duration::from_millis(wait)))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            for ev in events.iter() {
                match ev.token() {
                    NETLINK => match self.mon.drain() {
                        Ok(true) => self.links_changed(),
                        Ok(false) => {}
                        Err(e) => return Err(format!("rtnetlink: {e}")),
                    },
                    UDP => self.read_udp(&mut buf),
                    TUN => self.read_tun(&mut buf),
                    CTL => self.accept_ctl(ctl),
                    Token(t) if t >= RAW_BASE && (t - RAW_BASE).is_multiple_of(2) => {
                        self.read_raw((t - RAW_BASE) / 2, &mut buf)
                    }
                    Token(t) if t >= RAW_BASE => self.read_ep_udp((t - RAW_BASE) / 2, &mut buf),
                    _ => {}
                }
            }
            let acts = self.m.tick(now(self.start));
            self.exec(acts);
            if std::mem::take(&mut self.reeval) {
                self.links_changed();
            }
        }
        info!("stopping");
        Ok(())
    }

    /// Derive WWAN and WLAN usability from the monitor's state.
    fn links_changed(&mut self) {
        let c = &self.cfg.cfg;
        let wwan = self.mon.by_name(&c.wwan).map(|(_, l)| l.usable());
        if wwan.is_none() && !self.wwan_seen {
            warn!(wwan = %c.wwan, "WWAN interface not present");
        }
        self.wwan_seen |= wwan.is_some();
        let mut best: Option<Wlan> = None;
        for name in &c.wlan {
            let Some((idx, l)) = self.mon.by_name(name) else {
                continue;
            };
            let Some(&(coa, _)) = l.addrs.first().filter(|_| l.usable()) else {
                continue;
            };
            // Usable once it can reach the MSM's tunnel endpoint: the route a
            // DHCP client installs after the address.
            if !self.mon.has_route(idx, c.msm_wlan) {
                continue;
            }
            if self.m.is_poor_at(name, coa) {
                continue;
            }
            best = Some(Wlan {
                ifname: name.clone(),
                coa,
            });
            break;
        }
        // Poor = the current WLAN still has its address and route on an up link.
        let loss = match self.m.wlan() {
            Some(w) => {
                let still = self.mon.by_name(&w.ifname).is_some_and(|(i, l)| {
                    l.usable()
                        && l.addrs.iter().any(|a| a.0 == w.coa)
                        && self.mon.has_route(i, c.msm_wlan)
                });
                if still {
                    Loss::Poor
                } else {
                    Loss::Gone
                }
            }
            None => Loss::Gone,
        };
        let t = now(self.start);
        let mut acts = self.m.set_wwan(wwan.unwrap_or(false), t);
        if let Some(w) = &best {
            self.ensure_raw(w);
        }
        acts.extend(self.m.set_wlan(best, loss, t));
        self.exec(acts);
    }

    /// A raw socket for this WLAN's care-of address (kept while it is the
    /// WLAN in use or the tunnel's, so tunnelled downlink in flight during a
    /// handover is still delivered).
    fn ensure_raw(&mut self, w: &Wlan) {
        let keep: Vec<Ipv4Addr> = [Some(w.coa), self.m.tunnel().map(|t| t.coa)]
            .into_iter()
            .flatten()
            .collect();
        for slot in self.raws.iter_mut() {
            let stale = slot.as_ref().is_some_and(|ep| {
                let r = &ep.raw;
                !keep.contains(&r.coa) || (r.coa == w.coa && r.ifname != w.ifname)
            });
            if stale {
                if let Some(mut ep) = slot.take() {
                    let reg = self.poll.registry();
                    let _ = reg.deregister(&mut SourceFd(&ep.raw.as_raw_fd()));
                    let _ = reg.deregister(&mut ep.udp);
                }
            }
        }
        if self.raws.iter().flatten().any(|ep| ep.raw.coa == w.coa) {
            return;
        }
        let port = self.cfg.cfg.port;
        let opened = RawIpip::open(w.coa, &w.ifname).and_then(|raw| {
            let u = std::net::UdpSocket::bind(SocketAddrV4::new(w.coa, port))?;
            tunnel::bind_to_device(&u, &w.ifname)?;
            u.set_nonblocking(true)?;
            Ok(Ep {
                raw,
                udp: UdpSocket::from_std(u),
            })
        });
        match opened {
            Ok(mut ep) => {
                let slot = self
                    .raws
                    .iter()
                    .position(Option::is_none)
                    .unwrap_or_else(|| {
                        self.raws.push(None);
                        self.raws.len() - 1
                    });
                let reg = self.poll.registry();
                let r = reg
                    .register(
                        &mut SourceFd(&ep.raw.as_raw_fd()),
                        Token(RAW_BASE + 2 * slot),
                        Interest::READABLE,
                    )
                    .and_then(|()| {
                        reg.register(
                            &mut ep.udp,
                            Token(RAW_BASE + 2 * slot + 1),
                            Interest::READABLE,
                        )
                    });
                if let Err(e) = r {
                    error!(error = %e, "cannot poll the tunnel sockets");
                    let _ = reg.deregister(&mut SourceFd(&ep.raw.as_raw_fd()));
                    return;
                }
                let uport = ep.udp.local_addr().map_or(0, |a| a.port());
                info!(coa = %w.coa, ifname = %w.ifname, udp_port = uport, "tunnel endpoint open (IP in IP and UDP)");
                self.raws[slot] = Some(ep);
            }
            Err(e) => {
                error!(coa = %w.coa, ifname = %w.ifname, error = %e, "cannot open the tunnel sockets")
            }
        }
    }

    /// The kernel device's plan for a binding on `w` (its MTU is the TUN
    /// device's too, when that carries the binding).
    fn ipip_plan(&self, w: &Wlan, udp: bool) -> IpipPlan {
        let c = &self.cfg.cfg;
        let link = self.mon.by_name(&w.ifname);
        IpipPlan {
            name: c.kernel_tunnel_dev.clone(),
            local: w.coa,
            remote: c.msm_wlan,
            link: (w.ifname.clone(), link.map_or(0, |(i, _)| i)),
            mtu: backend::tunnel_mtu(c.tunnel_mtu, link.and_then(|(_, l)| l.mtu), udp),
            home: c.home,
            table: c.route_table,
        }
    }

    /// The addresses the I/O paths need (copied: the paths borrow `self`).
    fn addrs(&self) -> Addrs {
        let c = &self.cfg.cfg;
        Addrs {
            home: c.home,
            msm_wwan: c.msm_wwan,
            msm_wlan: c.msm_wlan,
            route_table: c.route_table,
        }
    }

    fn raw_for(&self, coa: Ipv4Addr) -> Option<&RawIpip> {
        self.ep_for(coa).map(|ep| &ep.raw)
    }

    fn ep_for(&self, coa: Ipv4Addr) -> Option<&Ep> {
        self.raws.iter().flatten().find(|ep| ep.raw.coa == coa)
    }

    fn exec(&mut self, acts: Vec<Action>) {
        let c = self.addrs();
        for a in acts {
            match a {
                Action::Send {
                    path: Path::Wwan,
                    msg,
                } => {
                    if let Err(e) = self.udp.send_to(
                        &msg,
                        SocketAddrV4::new(c.msm_wwan, msm_mip::MIP_PORT).into(),
                    ) {
                        warn!(error = %e, "request not sent by the WWAN (the retransmission timer will retry)");
                    }
                }
                Action::Send {
                    path: Path::WlanTunnel(coa),
                    msg,
                } => {
                    self.ip_id = self.ip_id.wrapping_add(1);
                    let inner = tunnel::udp_packet(
                        c.home,
                        self.udp_port,
                        c.msm_wwan,
                        msm_mip::MIP_PORT,
                        &msg,
                        self.ip_id,
                    );
                    match self.raw_for(coa) {
                        Some(r) => {
                            if let Err(e) = r.send(&inner, c.msm_wlan) {
                                warn!(error = %e, "request not sent through the tunnel (will retry)");
                            }
                        }
                        None => warn!(%coa, "no tunnel socket for this care-of address"),
                    }
                }
                Action::Send {
                    path: Path::Direct(coa),
                    msg,
                } => match self.ep_for(coa) {
                    Some(ep) => {
                        if let Err(e) = ep.udp.send_to(
                            &msg,
                            SocketAddrV4::new(c.msm_wlan, msm_mip::MIP_PORT).into(),
                        ) {
                            warn!(error = %e, "request not sent from the care-of address (will retry)");
                        }
                    }
                    None => warn!(%coa, "no UDP socket for this care-of address"),
                },
                Action::Probe { seq } => {
                    self.ip_id = self.ip_id.wrapping_add(1);
                    let probe = tunnel::icmp_echo(c.home, c.msm_wlan, PROBE_ID, seq, self.ip_id);
                    if self.m.udp_tunnel().is_some() {
                        self.send_nat(&probe);
                    } else if let Some(coa) = self.m.tunnel().map(|w| w.coa) {
                        let raw = self.raw_for(coa).map(|r| r.send(&probe, c.msm_wlan));
                        if !matches!(raw, Some(Ok(()))) {
                            self.relay.count_drop("probe_not_sent");
                        }
                    }
                }
                Action::Reevaluate => self.reeval = true,
                Action::TunnelUp(w) => {
                    self.ensure_raw(&w);
                    let udp = self.m.udp_tunnel().is_some();
                    let plan = self.ipip_plan(&w, udp);
                    let (dev, failed) = self.backend.up(&mut self.routes, &plan, udp);
                    if let Some(e) = failed {
                        error!(
                            error = %e, dev = %plan.name,
                            "kernel ipip device not set up: this tunnel takes the TUN device"
                        );
                    }
                    match dev.carrier {
                        backend::Carrier::Kernel => info!(
                            mtu = dev.mtu,
                            "kernel ipip device {} (as `{}`; `{}`)",
                            dev.name,
                            plan.ip_commands()[0],
                            plan.ip_commands()[1]
                        ),
                        backend::Carrier::Tun if udp && self.backend.kernel.is_some() => info!(
                            mtu = dev.mtu,
                            udp,
                            "tunnel device MTU (the UDP tunnel takes the userspace path: the kernel's fou cannot write MIP Tunnel Data)"
                        ),
                        backend::Carrier::Tun => info!(mtu = dev.mtu, udp, "tunnel device MTU"),
                    }
                    match self.routes.tunnel_default(c.route_table, dev.ifindex, c.home) {
                        Ok(()) => info!(
                            "route: default dev {} src {} table {} (traffic from the home address into the tunnel via {})",
                            dev.name, c.home, c.route_table, w.coa
                        ),
                        Err(e) => error!(error = %e, "cannot route traffic into the tunnel"),
                    }
                }
                Action::TunnelDown => {
                    match self.routes.clear_default(c.route_table) {
                        Ok(()) => info!(
                            "route: table {} emptied (traffic from the home address by the WWAN)",
                            c.route_table
                        ),
                        Err(e) => error!(error = %e, "cannot take traffic out of the tunnel"),
                    }
                    if let Err(e) = self.backend.down(&mut self.routes) {
                        warn!(error = %e, "cannot delete the kernel ipip device");
                    }
                }
            }
        }
    }

    fn read_udp(&mut self, buf: &mut [u8]) {
        loop {
            match self.udp.recv_from(buf) {
                Ok((n, from)) => {
                    let c = &self.cfg.cfg;
                    if from != SocketAddrV4::new(c.msm_wwan, msm_mip::MIP_PORT).into() {
                        self.relay.count_drop("udp_not_from_msm");
                        continue;
                    }
                    let acts = self.m.on_reply(&buf[..n], now(self.start));
                    self.exec(acts);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!(error = %e, "registration socket");
                    return;
                }
            }
        }
    }

    fn read_tun(&mut self, buf: &mut [u8]) {
        let c = self.addrs();
        loop {
            let n = match self.backend.tun.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!(error = %e, "tunnel device");
                    return;
                }
            };
            let pkt = &buf[..n];
            if let Err(why) = tunnel::check_uplink(pkt, c.home) {
                self.relay.count_drop(why);
                continue;
            }
            let Some(coa) = self.m.tunnel().map(|w| w.coa) else {
                self.relay.count_drop("uplink_no_tunnel");
                continue;
            };
            if self.m.udp_tunnel().is_some() {
                self.send_nat(pkt);
                continue;
            }
            let raw = self.raws.iter().flatten().find(|ep| ep.raw.coa == coa);
            self.relay
                .send_uplink(raw.map(|ep| &ep.raw), pkt, c.msm_wlan);
        }
    }

    /// Send `pkt` through the UDP tunnel as a MIP Tunnel Data message, from
    /// the socket the registration left from, to `IPmsm-wlan:434`.
    fn send_nat(&mut self, pkt: &[u8]) {
        let msm = SocketAddrV4::new(self.cfg.cfg.msm_wlan, msm_mip::MIP_PORT);
        let Some(ep) = self.m.udp_tunnel().and_then(|coa| self.ep_for(coa)) else {
            self.relay.count_drop("uplink_no_socket");
            return;
        };
        let mut msg = Vec::with_capacity(tunnel::NAT_HEADER.len() + pkt.len());
        msg.extend_from_slice(&tunnel::NAT_HEADER);
        msg.extend_from_slice(pkt);
        let r = ep.udp.send_to(&msg, msm.into());
        self.relay.count_nat_uplink(r, pkt.len());
    }

    /// The UDP socket of endpoint `slot`: Registration Replies (path 3) and
    /// MIP Tunnel Data messages from `IPmsm-wlan:434`.
    fn read_ep_udp(&mut self, slot: usize, buf: &mut [u8]) {
        let c = self.addrs();
        let msm = std::net::SocketAddr::from(SocketAddrV4::new(c.msm_wlan, msm_mip::MIP_PORT));
        loop {
            let Some(ep) = self.raws.get(slot).and_then(Option::as_ref) else {
                return;
            };
            let (n, from) = match ep.udp.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!(error = %e, "UDP tunnel socket");
                    return;
                }
            };
            if from != msm {
                self.relay.count_drop("udp_not_from_msm");
                continue;
            }
            let msg = &buf[..n];
            if msg.first() != Some(&msm_mip::TYPE_TUNNEL_DATA) {
                let reply = msg.to_vec();
                let acts = self.m.on_reply(&reply, now(self.start));
                self.exec(acts);
                continue;
            }
            let inner = match tunnel::nat_decap(msg) {
                Ok(i) => i,
                Err(why) => {
                    self.relay.count_drop(why);
                    continue;
                }
            };
            if self.take_probe_reply(inner, &c) {
                continue;
            }
            self.relay.nat_downlink_packets += 1;
            self.relay.deliver_downlink(&self.backend.tun, inner);
        }
    }

    /// Whether `inner` (decapsulated from either tunnel) answers one of our probes; if
    /// so it is counted and handed to the machine, not delivered.
    fn take_probe_reply(&mut self, inner: &[u8], c: &Addrs) -> bool {
        let Some(seq) = tunnel::probe_reply_in(inner, c.msm_wlan, c.home, PROBE_ID) else {
            return false;
        };
        self.relay.probe_replies += 1;
        self.m.on_probe_reply(seq, now(self.start));
        true
    }

    fn read_raw(&mut self, slot: usize, buf: &mut [u8]) {
        let c = self.addrs();
        loop {
            let Some(r) = self
                .raws
                .get(slot)
                .and_then(Option::as_ref)
                .map(|ep| &ep.raw)
            else {
                return;
            };
            let coa = r.coa;
            let n = match r.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!(error = %e, "tunnel socket");
                    return;
                }
            };
            let inner = match tunnel::decap(&buf[..n], c.msm_wlan, coa) {
                Ok(i) => i,
                Err(why) => {
                    self.relay.count_drop(why);
                    continue;
                }
            };
            if self.take_probe_reply(inner, &c) {
                continue;
            }
            if let Some(reply) = tunnel::reply_in(inner, c.msm_wwan, c.home, self.udp_port) {
                self.relay.tunnelled_replies += 1;
                let reply = reply.to_vec();
                let acts = self.m.on_reply(&reply, now(self.start));
                self.exec(acts);
                continue;
            }
            if self.backend.kernel_decapsulates(coa) {
                // The kernel's ipip device delivered it; this is the raw socket's copy.
                self.relay.downlink_by_kernel += 1;
                continue;
            }
            self.relay.deliver_downlink(&self.backend.tun, inner);
        }
    }

    fn accept_ctl(&mut self, ctl: &mut UnixListener) {
        loop {
            let (s, _) = match ctl.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!(error = %e, "operator socket");
                    return;
                }
            };
            // One short request per connection, answered at once.
            let s = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(s));
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut line = String::new();
            if BufReader::new(&s).read_line(&mut line).is_err() {
                continue;
            }
            let answer = self.command(line.trim());
            let mut s = s;
            let _ = writeln!(s, "{answer}");
        }
    }

    fn command(&mut self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["status"] => {
                let links: BTreeMap<&str, &crate::netlink::Link> = self
                    .mon
                    .links()
                    .values()
                    .filter(|l| l.name == self.cfg.cfg.wwan || self.cfg.cfg.wlan.contains(&l.name))
                    .map(|l| (l.name.as_str(), l))
                    .collect();
                serde_json::json!({
                    "home": self.cfg.cfg.home,
                    "msisdn": self.cfg.cfg.msisdn,
                    "port": self.udp_port,
                    "uptime_ms": now(self.start).ms,
                    "machine": self.m.status(),
                    "relay": self.relay,
                    "tunnel_backend": self.backend.status(),
                    "links": links,
                    "routes": self.mon.routes(),
                })
                .to_string()
            }
            [cmd @ ("wlan-poor" | "wlan-ok"), ifname] => {
                if !self.cfg.cfg.wlan.iter().any(|w| w == ifname) {
                    return serde_json::json!({"error": format!("{ifname} is not a configured WLAN interface")}).to_string();
                }
                let poor = *cmd == "wlan-poor";
                info!(
                    ifname,
                    poor,
                    "operator: WLAN judged {}",
                    if poor { "poor" } else { "usable" }
                );
                self.m.wlan_poor(ifname, poor);
                self.links_changed();
                serde_json::json!({"ok": true, "state": self.m.state()}).to_string()
            }
            _ => {
                serde_json::json!({"error": "commands: status | wlan-poor IFNAME | wlan-ok IFNAME"})
                    .to_string()
            }
        }
    }

    fn shutdown(&mut self) {
        let c = &self.cfg.cfg;
        if let Err(e) = self.routes.clear_default(c.route_table) {
            warn!(error = %e, "cleanup: route table");
        }
        if let Err(e) = self.routes.del_rule(c.home, c.route_table, c.rule_priority) {
            warn!(error = %e, "cleanup: rule");
        }
        if let Err(e) = self.backend.down(&mut self.routes) {
            warn!(error = %e, "cleanup: kernel ipip device");
        }
        info!(state = self.m.state(), "MCM stopped (routes and rule removed; the MSM keeps the binding until its lifetime ends)");
    }
}
