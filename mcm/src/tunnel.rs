//! The terminal's end of the IP-in-IP tunnel (RFC 2003).
//!
//! This is the `tun` backend ([`crate::backend`]; the `kernel` backend uses
//! the kernel's own `ipip` device where the kernel has `CONFIG_NET_IPIP`,
//! which the machines this project runs on do not). The MCM serves a TUN
//! device: the kernel routes the terminal's traffic into it (by
//! policy route, see [`crate::netlink::Routes`]), the MCM sends each packet
//! through a raw `IPPROTO_IPIP` socket bound to the care-of address (the
//! kernel writes the outer header), and writes what arrives tunnelled from
//! the MSM back into the TUN device, where the kernel receives it as if from
//! a real tunnel. The IP, TCP and ICMP endpoints stay the kernel's.
//!
//! The device and the sockets come from the `tun` and `socket2` crates
//! (no hand-written ioctls); the packet checks are pure functions, tested
//! below. [`Relay`] counts what crosses, for the daemon and for the static
//! endpoint of the testbeds (`mcm tunnel`, [`crate::endpoint`]).
//!
//! Behind a NAT (RFC 3519, PROTOCOL.md section 3) the same packets travel as
//! MIP Tunnel Data messages instead: a UDP socket bound to the care-of address
//! (the one the registration left from) sends `[4, 4, 0, 0] + packet` to
//! `IPmsm-wlan:434` ([`NAT_HEADER`]) and receives them back ([`nat_decap`]);
//! the keepalives are ICMP echo requests to IPmsm-wlan inside the tunnel
//! ([`icmp_echo`], answered ones recognised by [`probe_reply_in`]).

use msm_wire::{Icmpv4Packet, Ipv4Packet, UdpPacket};
use serde::Serialize;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use tun::AbstractDevice;

const PROTO_IPIP: u8 = 4;
const PROTO_UDP: u8 = 17;
const PROTO_ICMP: u8 = 1;

/// The MIP Tunnel Data header (RFC 3519 section 3.3) before every packet of
/// the UDP tunnel: type 4, next header 4 (IPv4), reserved 0.
pub const NAT_HEADER: [u8; msm_mip::TUNNEL_DATA_HEADER_LEN] =
    [msm_mip::TYPE_TUNNEL_DATA, msm_mip::nat::ENCAP_IPIP, 0, 0];

/// Bytes the UDP tunnel adds to a packet beyond IP-in-IP's 20: UDP (8) and
/// the MIP Tunnel Data header (4).
pub const NAT_EXTRA: u32 = 8 + msm_mip::TUNNEL_DATA_HEADER_LEN as u32;

/// Check a MIP Tunnel Data message (the UDP payload from `IPmsm-wlan:434`):
/// type 4, next header 4, one whole IPv4 packet; returns the inner packet.
pub fn nat_decap(payload: &[u8]) -> Result<&[u8], Refusal> {
    let hl = msm_mip::TUNNEL_DATA_HEADER_LEN;
    if payload.len() < hl || payload[0] != msm_mip::TYPE_TUNNEL_DATA {
        return Err("nat_not_tunnel_data");
    }
    if payload[1] != msm_mip::nat::ENCAP_IPIP {
        return Err("nat_next_header");
    }
    let inner = &payload[hl..];
    let len = usize::from(
        Ipv4Packet::new_checked(inner)
            .map_err(|_| "inner_malformed")?
            .total_len(),
    );
    Ok(&inner[..len.min(inner.len())])
}

/// An ICMP echo request `src -> dst` (identifier `id`, sequence `seq`, 8
/// bytes of payload), checksums filled: the UDP tunnel's keepalive probe.
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, ip_id: u16) -> Vec<u8> {
    let len = 20 + 8 + 8;
    let mut v = vec![0u8; len];
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut v[..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_total_len(len as u16);
        ip.set_ident(ip_id);
        ip.set_ttl(64);
        ip.set_protocol(PROTO_ICMP);
        ip.set_src(src.octets());
        ip.set_dst(dst.octets());
        ip.fill_checksum();
    }
    {
        let mut icmp = Icmpv4Packet::new_unchecked(&mut v[20..]);
        icmp.set_msg_type(msm_wire::icmp::TYPE_ECHO_REQUEST);
        icmp.set_code(0);
        icmp.set_ident(id);
        icmp.set_seq_no(seq);
        icmp.payload_mut()[..8].copy_from_slice(b"mcm-keep");
        icmp.set_checksum(0);
    }
    let sum = msm_wire::checksum::checksum(&v[20..]);
    Icmpv4Packet::new_unchecked(&mut v[20..]).set_checksum(sum);
    v
}

/// If `inner` is an ICMP echo reply `msm -> home` with identifier `id` (the
/// answer to a keepalive probe), its sequence number.
pub fn probe_reply_in(inner: &[u8], msm: Ipv4Addr, home: Ipv4Addr, id: u16) -> Option<u16> {
    let ip = Ipv4Packet::new_checked(inner).ok()?;
    if ip.protocol() != PROTO_ICMP
        || ip.src_addr() != msm
        || ip.dst_addr() != home
        || ip.is_fragment()
    {
        return None;
    }
    let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    (icmp.msg_type() == msm_wire::icmp::TYPE_ECHO_REPLY
        && icmp.ident() == id
        && icmp.verify_checksum())
    .then(|| icmp.seq_no())
}

/// Why a packet was not relayed (counted by reason).
pub type Refusal = &'static str;

/// Check a packet read from the raw socket: outer IPv4 from `msm` to `coa`,
/// protocol 4, carrying one whole IPv4 packet; returns the inner packet.
pub fn decap(pkt: &[u8], msm: Ipv4Addr, coa: Ipv4Addr) -> Result<&[u8], Refusal> {
    let outer = Ipv4Packet::new_checked(pkt).map_err(|_| "outer_malformed")?;
    if outer.protocol() != PROTO_IPIP {
        return Err("not_ipip");
    }
    if outer.is_fragment() {
        return Err("outer_fragment");
    }
    if outer.src_addr() != msm {
        return Err("outer_source_not_msm");
    }
    if outer.dst_addr() != coa {
        return Err("outer_destination_not_coa");
    }
    let (hl, total) = (outer.header_len(), usize::from(outer.total_len()));
    let inner = pkt.get(hl..total).ok_or("outer_malformed")?;
    let len = usize::from(
        Ipv4Packet::new_checked(inner)
            .map_err(|_| "inner_malformed")?
            .total_len(),
    );
    Ok(&inner[..len.min(inner.len())])
}

/// Check a packet the kernel routed into the tunnel device: IPv4 from the
/// home address (anything else must not leave through the reverse tunnel;
/// the MSM would drop it as spoofed anyway).
pub fn check_uplink(pkt: &[u8], home: Ipv4Addr) -> Result<(), Refusal> {
    let ip = Ipv4Packet::new_checked(pkt).map_err(|_| "uplink_malformed")?;
    if ip.src_addr() != home {
        return Err("uplink_source_not_home");
    }
    Ok(())
}

/// If `inner` is a UDP datagram `msm:434 -> home:port` (a Registration
/// Reply that came back through the tunnel, path 2), its payload.
pub fn reply_in(inner: &[u8], msm: Ipv4Addr, home: Ipv4Addr, port: u16) -> Option<&[u8]> {
    let ip = Ipv4Packet::new_checked(inner).ok()?;
    if ip.protocol() != PROTO_UDP
        || ip.src_addr() != msm
        || ip.dst_addr() != home
        || ip.is_fragment()
    {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    if udp.src_port() != msm_mip::MIP_PORT || udp.dst_port() != port {
        return None;
    }
    if udp.checksum() != 0 && !udp.verify_checksum(ip.src_u32(), ip.dst_u32()) {
        return None;
    }
    let start = ip.header_len() + 8;
    let end = ip.header_len() + usize::from(udp.len());
    inner.get(start..end)
}

/// The inner packet of a path-2 request: IPv4/UDP `home:port ->
/// msm:434` around `payload` (TTL 64, DF, checksums filled).
pub fn udp_packet(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
    id: u16,
) -> Vec<u8> {
    let len = 20 + 8 + payload.len();
    let mut v = vec![0u8; len];
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut v[..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_total_len(len as u16);
        ip.set_ident(id);
        ip.set_dont_frag(true);
        ip.set_ttl(64);
        ip.set_protocol(PROTO_UDP);
        ip.set_src(src.octets());
        ip.set_dst(dst.octets());
        ip.fill_checksum();
    }
    {
        let mut udp = UdpPacket::new_unchecked(&mut v[20..]);
        udp.set_src_port(sport);
        udp.set_dst_port(dport);
        udp.set_len((8 + payload.len()) as u16);
        udp.payload_mut()[..payload.len()].copy_from_slice(payload);
        udp.fill_checksum(u32::from(src), u32::from(dst));
    }
    v
}

/// Relay counters: what crossed the tunnel, and what was refused by reason.
#[derive(Debug, Default, Serialize)]
pub struct Relay {
    /// Packets from the tunnel device sent tunnelled to the MSM.
    pub uplink_packets: u64,
    /// Their bytes (inner).
    pub uplink_bytes: u64,
    /// Tunnelled packets from the MSM handed to the kernel.
    pub downlink_packets: u64,
    /// Their bytes (inner).
    pub downlink_bytes: u64,
    /// Registration replies that came back through the tunnel (path 2).
    pub tunnelled_replies: u64,
    /// Of the uplink packets, those sent as MIP Tunnel Data (RFC 3519).
    pub nat_uplink_packets: u64,
    /// Of the downlink packets, those received as MIP Tunnel Data.
    pub nat_downlink_packets: u64,
    /// Keepalive probe answers received through the UDP tunnel.
    pub probe_replies: u64,
    /// Tunnelled packets the kernel's ipip device decapsulated and delivered
    /// (the raw socket's copies, not delivered again; `kernel` backend).
    pub downlink_by_kernel: u64,
    /// Drops by reason.
    pub drops: BTreeMap<Refusal, u64>,
}

impl Relay {
    /// Count one packet not relayed.
    pub fn count_drop(&mut self, why: Refusal) {
        *self.drops.entry(why).or_default() += 1;
    }

    /// Send one checked uplink packet through `raw` (None: no socket for
    /// the tunnel's care-of address) to `msm`, counted either way.
    pub fn send_uplink(&mut self, raw: Option<&RawIpip>, pkt: &[u8], msm: Ipv4Addr) {
        match raw.map(|r| r.send(pkt, msm)) {
            Some(Ok(())) => {
                self.uplink_packets += 1;
                self.uplink_bytes += pkt.len() as u64;
            }
            Some(Err(_)) => self.count_drop("uplink_send_error"),
            None => self.count_drop("uplink_no_socket"),
        }
    }

    /// Count the outcome of sending one MIP Tunnel Data message of `inner`
    /// bytes of packet.
    pub fn count_nat_uplink(&mut self, sent: io::Result<usize>, inner: usize) {
        match sent {
            Ok(_) => {
                self.uplink_packets += 1;
                self.nat_uplink_packets += 1;
                self.uplink_bytes += inner as u64;
            }
            Err(_) => self.count_drop("uplink_send_error"),
        }
    }

    /// Hand one decapsulated packet to the kernel through `tun`, counted
    /// either way.
    pub fn deliver_downlink(&mut self, tun: &Tun, inner: &[u8]) {
        match tun.send(inner) {
            Ok(()) => {
                self.downlink_packets += 1;
                self.downlink_bytes += inner.len() as u64;
            }
            Err(_) => self.count_drop("downlink_tun_write_error"),
        }
    }
}

/// A TUN device (no packet information header), non-blocking.
pub struct Tun {
    dev: tun::Device,
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub ifindex: u32,
}

fn tun_error(e: tun::Error) -> io::Error {
    match e {
        tun::Error::Io(e) => e,
        e => io::Error::other(e),
    }
}

impl Tun {
    /// Create (or attach to) the TUN device `name`, set its MTU and bring it
    /// up (`IFF_UP | IFF_RUNNING`).
    pub fn open(name: &str, mtu: u32) -> io::Result<Tun> {
        let mtu = u16::try_from(mtu)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU over 65535"))?;
        let mut conf = tun::Configuration::default();
        // Layer 3 (IFF_TUN); the crate's default adds IFF_NO_PI, so the
        // packets are bare IPv4, as the relay expects.
        conf.tun_name(name).layer(tun::Layer::L3).mtu(mtu).up();
        let dev = tun::create(&conf).map_err(tun_error)?;
        dev.set_nonblock()?;
        let ifindex = dev.tun_index().map_err(tun_error)?;
        Ok(Tun {
            name: dev.tun_name().map_err(tun_error)?,
            ifindex: u32::try_from(ifindex).map_err(io::Error::other)?,
            dev,
        })
    }

    /// Read one packet (WouldBlock when none).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.dev.recv(buf)
    }

    /// Hand one packet to the kernel as received on the tunnel device.
    pub fn send(&self, pkt: &[u8]) -> io::Result<()> {
        self.dev.send(pkt).map(|_| ())
    }

    /// Change the device's MTU (the UDP tunnel needs 12 bytes more than
    /// IP-in-IP).
    pub fn set_mtu(&mut self, mtu: u32) -> io::Result<()> {
        let mtu = u16::try_from(mtu)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU over 65535"))?;
        self.dev.set_mtu(mtu).map_err(tun_error)
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }
}

/// A raw `IPPROTO_IPIP` socket bound to a care-of address and its
/// interface, non-blocking: sending gets an outer header `coa -> dst`
/// written by the kernel; receiving gets whole packets (outer header
/// included) addressed to `coa`.
pub struct RawIpip {
    sock: Socket,
    /// The care-of address.
    pub coa: Ipv4Addr,
    /// Its interface.
    pub ifname: String,
}

impl RawIpip {
    /// Open (close-on-exec, non-blocking), bind to `ifname`
    /// (SO_BINDTODEVICE) and to `coa`.
    pub fn open(coa: Ipv4Addr, ifname: &str) -> io::Result<RawIpip> {
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW.nonblocking(),
            Some(Protocol::from(i32::from(PROTO_IPIP))),
        )?;
        sock.bind_device(Some(ifname.as_bytes()))?;
        sock.bind(&SocketAddrV4::new(coa, 0).into())?;
        set_rx_buffer(&sock, RX_BUFFER)?;
        Ok(RawIpip {
            sock,
            coa,
            ifname: ifname.to_string(),
        })
    }

    /// Send `inner` tunnelled to `dst`.
    pub fn send(&self, inner: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        self.sock
            .send_to(inner, &SocketAddrV4::new(dst, 0).into())
            .map(|_| ())
    }

    /// Receive one packet, outer header included.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.sock).read(buf)
    }
}

impl AsRawFd for RawIpip {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// The tunnel socket's receive buffer. The kernel's default (`net.core.rmem_default`,
/// ~208 KiB) holds ~140 full-size packets: a TCP window arriving in one burst from the
/// MSM overflowed it while the endpoint was descheduled, and the kernel dropped what
/// followed (seen as lost pings beside a TCP transfer in the flood test).
const RX_BUFFER: usize = 4 << 20;

/// Sets `sock`'s receive buffer to `bytes`: SO_RCVBUFFORCE (past `net.core.rmem_max`,
/// needs CAP_NET_ADMIN, which the endpoint has to create its TUN device), else
/// SO_RCVBUF (capped by `rmem_max`).
fn set_rx_buffer(sock: &Socket, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt on an open socket with a pointer to a c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    sock.set_recv_buffer_size(bytes)
}

/// Bind a socket to `dev` (SO_BINDTODEVICE): requests by the WWAN leave
/// by the WWAN whatever the policy routes say.
pub fn bind_to_device(sock: &impl AsFd, dev: &str) -> io::Result<()> {
    SockRef::from(sock).bind_device(Some(dev.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const MSMG: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 129);
    const COA: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
    const HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    #[test]
    fn the_raw_socket_gets_a_large_receive_buffer() {
        // Needs CAP_NET_RAW (the tests run as root in CI); without it there is nothing to test.
        let Ok(raw) = RawIpip::open(Ipv4Addr::LOCALHOST, "lo") else {
            assert_ne!(
                unsafe { libc::geteuid() },
                0,
                "root could not open the socket"
            );
            return;
        };
        // The kernel reports twice what was set (its bookkeeping overhead).
        let got = raw.sock.recv_buffer_size().unwrap();
        assert!(got >= RX_BUFFER, "receive buffer {got} < {RX_BUFFER}");
    }

    fn outer(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, inner: &[u8]) -> Vec<u8> {
        let mut v = udp_packet(src, 1, dst, 2, inner, 7);
        // Turn the UDP packet into an IP-in-IP one: drop the UDP header.
        v.drain(20..28);
        let len = v.len() as u16;
        let mut ip = Ipv4Packet::new_unchecked(&mut v[..]);
        ip.set_total_len(len);
        ip.set_protocol(proto);
        ip.fill_checksum();
        v
    }

    #[test]
    fn decap_checks_the_outer_header() {
        let inner = udp_packet(
            Ipv4Addr::new(203, 0, 113, 130),
            5001,
            HOME,
            40000,
            b"data",
            1,
        );
        let pkt = outer(MSM, COA, 4, &inner);
        assert_eq!(decap(&pkt, MSM, COA), Ok(&inner[..]));
        assert_eq!(
            decap(&outer(MSM, COA, 17, &inner), MSM, COA),
            Err("not_ipip")
        );
        assert_eq!(
            decap(&outer(COA, COA, 4, &inner), MSM, COA),
            Err("outer_source_not_msm")
        );
        assert_eq!(
            decap(&outer(MSM, HOME, 4, &inner), MSM, COA),
            Err("outer_destination_not_coa")
        );
        assert_eq!(
            decap(&outer(MSM, COA, 4, b"not an ip packet at all"), MSM, COA),
            Err("inner_malformed")
        );
        assert_eq!(decap(&pkt[..10], MSM, COA), Err("outer_malformed"));
        // Trailing padding after the inner packet is cut.
        let mut padded = inner.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(
            decap(&outer(MSM, COA, 4, &padded), MSM, COA),
            Ok(&inner[..])
        );
    }

    #[test]
    fn nat_decap_checks_the_tunnel_data_header() {
        let inner = udp_packet(Ipv4Addr::new(203, 0, 113, 130), 5001, HOME, 40000, b"d", 1);
        let mut msg = NAT_HEADER.to_vec();
        msg.extend_from_slice(&inner);
        assert_eq!(nat_decap(&msg), Ok(&inner[..]));
        // Padding after the inner packet is cut.
        let mut padded = msg.clone();
        padded.extend_from_slice(&[0; 3]);
        assert_eq!(nat_decap(&padded), Ok(&inner[..]));
        let mut gre = msg.clone();
        gre[1] = 47;
        assert_eq!(nat_decap(&gre), Err("nat_next_header"));
        let mut reg = msg.clone();
        reg[0] = 3; // a Registration Reply is not tunnel data
        assert_eq!(nat_decap(&reg), Err("nat_not_tunnel_data"));
        assert_eq!(nat_decap(&msg[..3]), Err("nat_not_tunnel_data"));
        assert_eq!(nat_decap(&NAT_HEADER), Err("inner_malformed"));
        assert_eq!(nat_decap(&msg[..10]), Err("inner_malformed"));
        // What the MSM's workers write (src/dataplane/forward.rs): 4, 4, 0, 0.
        assert_eq!(NAT_HEADER, [4, 4, 0, 0]);
        assert_eq!(NAT_EXTRA + 20, 32);
    }

    #[test]
    fn keepalive_probes_and_their_answers() {
        let p = icmp_echo(HOME, MSM, 0x4d43, 7, 1);
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.protocol()),
            (HOME, MSM, 1)
        );
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(
            (icmp.msg_type(), icmp.ident(), icmp.seq_no()),
            (8, 0x4d43, 7)
        );
        // The answer: addresses swapped, type 0, checksum recomputed.
        let mut r = icmp_echo(MSM, HOME, 0x4d43, 7, 2);
        r[20] = 0;
        r[22] = 0;
        r[23] = 0;
        let sum = msm_wire::checksum::checksum(&r[20..]);
        r[22..24].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(probe_reply_in(&r, MSM, HOME, 0x4d43), Some(7));
        assert_eq!(probe_reply_in(&r, MSM, HOME, 0x4d44), None, "another id");
        assert_eq!(
            probe_reply_in(&r, COA, HOME, 0x4d43),
            None,
            "another source"
        );
        assert_eq!(probe_reply_in(&p, HOME, MSM, 0x4d43), None, "a request");
        let mut bad = r.clone();
        bad[30] ^= 1;
        assert_eq!(
            probe_reply_in(&bad, MSM, HOME, 0x4d43),
            None,
            "bad checksum"
        );
    }

    #[test]
    fn uplink_must_come_from_the_home_address() {
        let ok = udp_packet(HOME, 1, MSM, 2, b"x", 1);
        assert_eq!(check_uplink(&ok, HOME), Ok(()));
        let bad = udp_packet(COA, 1, MSM, 2, b"x", 1);
        assert_eq!(check_uplink(&bad, HOME), Err("uplink_source_not_home"));
        assert_eq!(check_uplink(&[0x45, 0], HOME), Err("uplink_malformed"));
    }

    #[test]
    fn tunnelled_replies_are_recognised_and_checksummed() {
        let p = udp_packet(MSMG, 434, HOME, 40000, b"reply bytes", 3);
        assert!(Ipv4Packet::new_checked(&p[..]).unwrap().verify_checksum());
        assert_eq!(reply_in(&p, MSMG, HOME, 40000), Some(&b"reply bytes"[..]));
        assert_eq!(reply_in(&p, MSMG, HOME, 40001), None, "another port");
        assert_eq!(reply_in(&p, MSM, HOME, 40000), None, "another source");
        let mut corrupt = p.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert_eq!(
            reply_in(&corrupt, MSMG, HOME, 40000),
            None,
            "bad UDP checksum"
        );
        // And the same builder's output parses as a valid datagram.
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(udp.verify_checksum(ip.src_u32(), ip.dst_u32()));
        assert!(ip.dont_frag());
    }

    #[test]
    fn relay_counts_refusals_by_reason_under_the_status_keys() {
        let mut relay = Relay::default();
        let pkt = udp_packet(HOME, 1, MSM, 2, b"x", 1);
        relay.send_uplink(None, &pkt, MSM);
        relay.send_uplink(None, &pkt, MSM);
        relay.count_drop("uplink_source_not_home");
        assert_eq!(relay.uplink_packets, 0);
        assert_eq!(relay.drops.get("uplink_no_socket"), Some(&2));
        assert_eq!(relay.drops.get("uplink_source_not_home"), Some(&1));
        // `mcm ctl status` shows these keys under "relay"; the handover
        // tests read `tunnelled_replies`.
        let json = serde_json::to_value(&relay).unwrap();
        for key in [
            "uplink_packets",
            "uplink_bytes",
            "downlink_packets",
            "downlink_bytes",
            "tunnelled_replies",
        ] {
            assert_eq!(json[key], 0, "{key}");
        }
        assert_eq!(json["drops"]["uplink_no_socket"], 2);
    }

    #[test]
    fn tun_open_refuses_an_mtu_over_65535_before_any_system_call() {
        // Opening needs root; the MTU is checked first.
        let e = Tun::open("mip0", 70_000).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
