//! The terminal's end of the IP-in-IP tunnel (RFC 2003).
//!
//! The kernel's own `ipip` device would do this where the kernel has
//! `CONFIG_NET_IPIP`; the machines this project runs on do not, so the MCM
//! serves a TUN device: the kernel routes the terminal's traffic into it (by
//! policy route, see [`crate::netlink::Routes`]), the MCM sends each packet
//! through a raw `IPPROTO_IPIP` socket bound to the care-of address (the
//! kernel writes the outer header), and writes what arrives tunnelled from
//! the MSM back into the TUN device, where the kernel receives it as if from
//! a real tunnel. The IP, TCP and ICMP endpoints stay the kernel's.
//!
//! The packet checks are pure functions, tested below.

use msm_wire::{Ipv4Packet, UdpPacket};
use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const PROTO_IPIP: u8 = 4;
const PROTO_UDP: u8 = 17;

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

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() >= r.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    for (d, s) in r.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(r)
}

/// A TUN device (no packet information header), non-blocking.
pub struct Tun {
    fd: OwnedFd,
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub ifindex: u32,
}

impl Tun {
    /// Create (or attach to) the TUN device `name`, set its MTU and bring it up.
    pub fn open(name: &str, mtu: u32) -> io::Result<Tun> {
        let path = CString::new("/dev/net/tun").expect("no NUL");
        // SAFETY: plain open(2); the fd is owned right after.
        let fd = cvt(unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: fd was just returned by open and is not owned elsewhere.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut r = ifreq(name)?;
        r.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes the ifreq we own.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut r) })?;
        // MTU and IFF_UP through an AF_INET control socket.
        // SAFETY: socket(2); owned right after.
        let s =
            cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: as above.
        let s = unsafe { OwnedFd::from_raw_fd(s) };
        let mut r = ifreq(name)?;
        r.ifr_ifru.ifru_mtu = mtu as libc::c_int;
        // SAFETY: the ioctls read/write the ifreq we own.
        cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFMTU as _, &mut r) })?;
        let mut r = ifreq(name)?;
        cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut r) })?;
        // SAFETY: SIOCGIFFLAGS filled ifru_flags.
        unsafe { r.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        cvt(unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS as _, &mut r) })?;
        let cname = CString::new(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun {
            fd,
            name: name.to_string(),
            ifindex,
        })
    }

    /// Read one packet (WouldBlock when none).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Hand one packet to the kernel as received on the tunnel device.
    pub fn send(&self, pkt: &[u8]) -> io::Result<()> {
        // SAFETY: pkt is valid for pkt.len() bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), pkt.as_ptr().cast(), pkt.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A raw `IPPROTO_IPIP` socket bound to a care-of address and its
/// interface, non-blocking: sending gets an outer header `coa -> dst`
/// written by the kernel; receiving gets whole packets (outer header
/// included) addressed to `coa`.
pub struct RawIpip {
    fd: OwnedFd,
    /// The care-of address.
    pub coa: Ipv4Addr,
    /// Its interface.
    pub ifname: String,
}

fn sockaddr(a: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(a).to_be(),
        },
        sin_zero: [0; 8],
    }
}

impl RawIpip {
    /// Open and bind.
    pub fn open(coa: Ipv4Addr, ifname: &str) -> io::Result<RawIpip> {
        // SAFETY: socket(2); owned right after.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_IPIP,
            )
        })?;
        // SAFETY: as above.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the option value is the name's bytes.
        cvt(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                ifname.as_ptr().cast(),
                ifname.len() as libc::socklen_t,
            )
        })?;
        let sa = sockaddr(coa);
        // SAFETY: sa is a valid sockaddr_in.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of_val(&sa) as libc::socklen_t,
            )
        })?;
        Ok(RawIpip {
            fd,
            coa,
            ifname: ifname.to_string(),
        })
    }

    /// Send `inner` tunnelled to `dst`.
    pub fn send(&self, inner: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        let sa = sockaddr(dst);
        // SAFETY: buffer and address are valid for the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                inner.as_ptr().cast(),
                inner.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of_val(&sa) as libc::socklen_t,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Receive one packet, outer header included.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl AsRawFd for RawIpip {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Bind a UDP socket to `dev` (SO_BINDTODEVICE): requests by the WWAN leave
/// by the WWAN whatever the policy routes say.
pub fn bind_to_device(fd: RawFd, dev: &str) -> io::Result<()> {
    // SAFETY: the option value is the name's bytes.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            dev.as_ptr().cast(),
            dev.len() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const MSMG: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 129);
    const COA: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
    const HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

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
}
