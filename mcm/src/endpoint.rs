//! `mcm tunnel`: the MCM's IP-in-IP endpoint alone, with fixed addresses
//! (no registration, no routes, no link monitor): the terminal's end of the
//! tunnel on the data-plane testbed (`scripts/testbed.sh`).
//!
//! It relays with the daemon's own pieces ([`Tun`], [`RawIpip`], the checks
//! [`tunnel::check_uplink`] and [`tunnel::decap`], the [`Relay`] counters):
//! packets the kernel routes into the tunnel device from the home address go
//! to the MSM through a raw socket bound to the care-of address; what the MSM
//! tunnels to the care-of address is checked and written back into the
//! device. Prints a readiness line once the device and socket are open, and
//! the counters when SIGTERM or SIGINT stops it.

use crate::tunnel::{self, RawIpip, Relay, Tun};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TUN: Token = Token(0);
const RAW: Token = Token(1);

/// The endpoint's addresses (`mcm tunnel --help`).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct TunnelArgs {
    /// The tunnel device (TUN) to create or attach to.
    #[arg(long, default_value = "mip0", value_parser = interface_name)]
    pub dev: String,
    /// MTU of the tunnel device.
    #[arg(long, default_value_t = 1480, value_parser = clap::value_parser!(u32).range(576..=65515))]
    pub mtu: u32,
    /// The care-of address: the outer source, where the MSM tunnels to.
    #[arg(long)]
    pub local: Ipv4Addr,
    /// The care-of address's interface (the raw socket is bound to it).
    #[arg(long, value_parser = interface_name)]
    pub interface: String,
    /// The MSM's tunnel endpoint (IPmsm-wlan).
    #[arg(long)]
    pub remote: Ipv4Addr,
    /// The home address: only packets from it enter the tunnel.
    #[arg(long)]
    pub home: Ipv4Addr,
}

fn interface_name(s: &str) -> Result<String, String> {
    crate::config::ifname_ok("interface", s)?;
    Ok(s.to_string())
}

/// Why the endpoint could not start or went on no longer.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The tunnel device could not be created, configured or attached.
    #[error("tunnel device {dev}: {source}")]
    Device { dev: String, source: io::Error },
    /// The raw IP-in-IP socket could not be opened or bound.
    #[error("raw IP-in-IP socket on {local} ({interface}): {source}")]
    Socket {
        local: Ipv4Addr,
        interface: String,
        source: io::Error,
    },
    /// Signal handlers, poll(7) set-up or waiting.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: io::Error,
    },
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> EndpointError {
    move |source| EndpointError::Io { what, source }
}

/// The readiness line the testbed waits for.
pub fn ready_line(a: &TunnelArgs) -> String {
    format!("mcm tunnel: {} {} <-> {} ready", a.dev, a.local, a.remote)
}

/// Serve the endpoint until SIGTERM or SIGINT; print the readiness line on
/// stdout once serving and the counters (JSON) when stopped.
pub fn run(a: &TunnelArgs) -> Result<(), EndpointError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(io_error("signal handler"))?;
    }
    let tun = Tun::open(&a.dev, a.mtu).map_err(|source| EndpointError::Device {
        dev: a.dev.clone(),
        source,
    })?;
    let raw = RawIpip::open(a.local, &a.interface).map_err(|source| EndpointError::Socket {
        local: a.local,
        interface: a.interface.clone(),
        source,
    })?;
    let mut poll = Poll::new().map_err(io_error("poll"))?;
    for (fd, token) in [(tun.as_raw_fd(), TUN), (raw.as_raw_fd(), RAW)] {
        poll.registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
            .map_err(io_error("poll"))?;
    }
    println!("{}", ready_line(a));
    let mut relay = Relay::default();
    let r = serve(a, &tun, &raw, &mut poll, &stop, &mut relay);
    println!(
        "mcm tunnel: stopped; {}",
        serde_json::to_string(&relay).unwrap_or_default()
    );
    r
}

fn serve(
    a: &TunnelArgs,
    tun: &Tun,
    raw: &RawIpip,
    poll: &mut Poll,
    stop: &AtomicBool,
    relay: &mut Relay,
) -> Result<(), EndpointError> {
    let mut events = Events::with_capacity(8);
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        match poll.poll(&mut events, Some(Duration::from_millis(200))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error("poll")(e)),
        }
        for ev in events.iter() {
            match ev.token() {
                TUN => uplink(a, tun, raw, relay, &mut buf),
                RAW => downlink(a, tun, raw, relay, &mut buf),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Everything the kernel routed into the device, checked, to the MSM.
fn uplink(a: &TunnelArgs, tun: &Tun, raw: &RawIpip, relay: &mut Relay, buf: &mut [u8]) {
    loop {
        let n = match tun.recv(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("mcm tunnel: tunnel device: {e}");
                return;
            }
        };
        let pkt = &buf[..n];
        match tunnel::check_uplink(pkt, a.home) {
            Ok(()) => relay.send_uplink(Some(raw), pkt, a.remote),
            Err(why) => relay.count_drop(why),
        }
    }
}

/// Everything the MSM tunnelled to the care-of address, checked and
/// decapsulated, to the kernel.
fn downlink(a: &TunnelArgs, tun: &Tun, raw: &RawIpip, relay: &mut Relay, buf: &mut [u8]) {
    loop {
        let n = match raw.recv(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("mcm tunnel: tunnel socket: {e}");
                return;
            }
        };
        match tunnel::decap(&buf[..n], a.remote, a.local) {
            Ok(inner) => relay.deliver_downlink(tun, inner),
            Err(why) => relay.count_drop(why),
        }
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
