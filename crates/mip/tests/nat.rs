//! RFC 3519 NAT traversal on the wire: Requests and Replies carrying the UDP
//! tunnel extensions (parse, authentication coverage, placement, errors),
//! and tshark's Mobile IP dissector as the independent decoder of the
//! extensions and of a MIP Tunnel Data message (skips, with a message, when
//! tshark is not installed).

use msm_mip::*;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

const KEY: &[u8] = b"msm-test-key-0123456789abcdef!!!";
const NAI: &str = "491701234567";
const IDENT: u64 = (3_950_000_000u64 << 32) | 0x0102_0304;

fn builder() -> RequestBuilder<'static> {
    RequestBuilder {
        lifetime: 1800,
        home: Ipv4Addr::new(10, 20, 30, 40),
        home_agent: Ipv4Addr::new(192, 0, 2, 1),
        care_of: Ipv4Addr::new(192, 168, 1, 7),
        identification: IDENT,
        nai: NAI,
        spi: 0x1000,
        key: KEY,
    }
}

fn forced() -> UdpTunnelRequestRepr {
    UdpTunnelRequestRepr {
        force: true,
        ..Default::default()
    }
}

fn reply_builder() -> ReplyBuilder<'static> {
    ReplyBuilder {
        code: Code::Accepted,
        lifetime: 600,
        home: Ipv4Addr::new(10, 20, 30, 40),
        home_agent: Ipv4Addr::new(192, 0, 2, 1),
        identification: IDENT,
        nai: NAI,
        spi: 0x1000,
        key: KEY,
    }
}

fn keepalive() -> UdpTunnelReplyRepr {
    UdpTunnelReplyRepr {
        reply_code: 0,
        force: false,
        keepalive_interval: 110,
    }
}

#[test]
fn request_with_extension_round_trips_and_is_authenticated() {
    let b = builder().to_vec_with(Some(forced())).unwrap();
    assert_eq!(b.len(), builder().len() + 8);
    // Fixed part, NAI, then the extension, then MN-HA.
    let ext_off = REQUEST_FIXED_LEN + 2 + NAI.len();
    assert_eq!(&b[ext_off..ext_off + 8], &[144, 6, 0, 0, 0x80, 4, 0, 0]);
    assert_eq!(b[ext_off + 8], EXT_MN_HA_AUTH);
    let r = parse_request(&b).unwrap();
    assert_eq!(r.udp_tunnel, Some(forced()));
    assert!(verify_mn_ha(&r, KEY));
    // The authenticator covers the extension: flipping F breaks it.
    let mut t = b.clone();
    t[ext_off + 4] ^= 0x80;
    let r = parse_request(&t).unwrap();
    assert_eq!(r.udp_tunnel.map(|u| u.force), Some(false));
    assert!(!verify_mn_ha(&r, KEY));
    // Without the extension: None, and the bytes are those of `emit`.
    let plain = builder().to_vec().unwrap();
    assert_eq!(builder().to_vec_with(None).unwrap(), plain);
    assert_eq!(parse_request(&plain).unwrap().udp_tunnel, None);
}

#[test]
fn request_extension_errors() {
    let b = builder().to_vec_with(Some(forced())).unwrap();
    let ext_off = REQUEST_FIXED_LEN + 2 + NAI.len();
    // Wrong sub-type.
    let mut t = b.clone();
    t[ext_off + 2] = 1;
    assert_eq!(parse_request(&t), Err(RequestError::BadUdpTunnel));
    assert_eq!(
        RequestError::BadUdpTunnel.reply_code(),
        Some(Code::PoorlyFormedRequest)
    );
    // Wrong length (7, one byte borrowed from MN-HA: now the walk is off).
    let mut t = b.clone();
    t[ext_off + 1] = 5;
    t.remove(ext_off + 7);
    assert_eq!(parse_request(&t), Err(RequestError::BadUdpTunnel));
    // Twice.
    let mut t = b.clone();
    let ext = t[ext_off..ext_off + 8].to_vec();
    t.splice(ext_off..ext_off, ext);
    assert_eq!(parse_request(&t), Err(RequestError::BadUdpTunnel));
    // After the MN-HA extension: not authenticated, refused (134).
    let mut t = builder().to_vec().unwrap();
    t.extend_from_slice(&forced().to_bytes());
    assert!(matches!(
        parse_request(&t),
        Err(RequestError::TrailingData { len: 8, .. })
    ));
    // Truncated in the middle of the extension.
    for cut in ext_off + 1..ext_off + 8 {
        let e = parse_request(&b[..cut]).unwrap_err();
        assert!(
            matches!(
                e,
                RequestError::ExtensionTruncated { .. } | RequestError::ExtensionOverrun { .. }
            ),
            "{cut}: {e:?}"
        );
    }
    // A Reply extension (44, non-skippable) in a Request is unknown: discard.
    let mut t = builder().to_vec().unwrap();
    t.splice(ext_off..ext_off, keepalive().to_bytes());
    assert_eq!(parse_request(&t), Err(RequestError::UnknownExtension(44)));
}

#[test]
fn reply_with_extension() {
    let b = reply_builder().to_vec_with(Some(keepalive())).unwrap();
    let ext_off = REPLY_FIXED_LEN + 2 + NAI.len();
    assert_eq!(&b[ext_off..ext_off + 8], &[44, 6, 0, 0, 0, 0, 0, 110]);
    let r = parse_reply(&b).unwrap();
    assert_eq!(r.udp_tunnel, Some(keepalive()));
    assert!(verify_mn_ha(&r, KEY));
    let mut t = b.clone();
    t[ext_off + 7] = 111;
    assert!(!verify_mn_ha(&parse_reply(&t).unwrap(), KEY));
    let mut t = b.clone();
    t[ext_off + 1] = 4;
    t.drain(ext_off + 6..ext_off + 8);
    assert_eq!(parse_reply(&t), Err(ReplyError::BadUdpTunnel));
    assert_eq!(
        parse_reply(&reply_builder().to_vec().unwrap())
            .unwrap()
            .udp_tunnel,
        None
    );
}

// ---- tshark ----------------------------------------------------------------

fn tshark() -> bool {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("SKIP: tshark is not installed; the tshark decode check did not run");
            false
        }
    }
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = 20 + payload.len();
    let mut h = vec![
        0x45,
        0,
        (len >> 8) as u8,
        len as u8,
        0,
        1,
        0,
        0,
        64,
        proto,
        0,
        0,
    ];
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = ip_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// UDP with checksum 0 (allowed for IPv4).
fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn frame(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend_from_slice(ip);
    f
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for (i, f) in frames.iter().enumerate() {
        b.extend_from_slice(&(i as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn tshark_decodes_udp_tunnel_extensions_and_tunnel_data() {
    if !tshark() {
        return;
    }
    let nat = [203, 0, 113, 50];
    let msm = [198, 51, 100, 1];
    let req = builder().to_vec_with(Some(forced())).unwrap();
    let rep = reply_builder().to_vec_with(Some(keepalive())).unwrap();
    let inner = ipv4(
        [10, 20, 30, 40],
        [203, 0, 113, 10],
        17,
        &udp(5000, 9, b"hello"),
    );
    let mut data = vec![TYPE_TUNNEL_DATA, 4, 0, 0];
    data.extend_from_slice(&inner);
    let frames = vec![
        frame(&ipv4(nat, msm, 17, &udp(40001, 434, &req))),
        frame(&ipv4(msm, nat, 17, &udp(434, 40001, &rep))),
        frame(&ipv4(msm, nat, 17, &udp(434, 40001, &data))),
    ];
    let dir = std::env::temp_dir().join(format!("msm-mip-nat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("nat.pcap");
    write_pcap(&pcap, &frames);

    let o = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .arg("-V")
        .output()
        .expect("run tshark");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let fields = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "mip.type",
            "-e",
            "mip.ext.utrq.subtype",
            "-e",
            "mip.ext.utrq.f",
        ])
        .args(["-e", "mip.ext.utrq.r", "-e", "mip.ext.utrq.encaptype"])
        .args(["-e", "mip.ext.utrp.subtype", "-e", "mip.ext.utrp.code"])
        .args(["-e", "mip.ext.utrp.keepalive", "-e", "mip.nattt.nexthdr"])
        .args(["-e", "mip.auth.spi", "-e", "ip.dst"])
        .output()
        .expect("run tshark");
    let _ = std::fs::remove_dir_all(&dir);
    let out = String::from_utf8_lossy(&fields.stdout).into_owned();
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 3, "{out}\n{text}");
    // Request: type 1, sub-type 0, F set, R clear, encapsulation 4.
    assert_eq!(rows[0][0], "1", "{out}");
    assert_eq!(rows[0][1], "0", "{out}");
    assert!(rows[0][2] == "1" || rows[0][2] == "True", "{out}");
    assert!(rows[0][3] == "0" || rows[0][3] == "False", "{out}");
    assert_eq!(rows[0][4], "4", "{out}");
    // Reply: type 3, sub-type 0, code 0, keepalive 110.
    assert_eq!(rows[1][0], "3", "{out}");
    assert_eq!(&rows[1][5..8], &["0", "0", "110"], "{out}");
    // Tunnel data: type 4, next header 4 (IPv4), the inner packet decoded.
    assert_eq!(rows[2][0], "4", "{out}");
    assert_eq!(rows[2][8], "4", "{out}");
    assert!(rows[2][10].contains("203.0.113.10"), "{out}");
    // And the verbose decode names the extensions.
    assert!(text.contains("UDP Tunnel Request Extension"), "{text}");
    assert!(text.contains("UDP Tunnel Reply Extension"), "{text}");
    assert!(text.contains("Keepalive Interval: 110"), "{text}");
    assert!(!text.contains("Malformed"), "{text}");
}
