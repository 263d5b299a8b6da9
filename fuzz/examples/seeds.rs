//! Writes the seed corpora (`fuzz/corpus/<target>/seed-*`) from the project's own
//! emitters: msm-pcapgen's frame builders and msm-wire, msm-mip's request and reply
//! builders, the journal's encoder and compaction, the subscriber file writer, and the
//! configuration files in dpdk-config/. `make fuzz-seeds` runs it; `make fuzz-cmin`
//! then minimises each corpus.

use msm::config::Prefix;
use msm::control::journal::{Journal, Record, LOG_FILE, SNAP_FILE};
use msm_fuzz::{dataplane as dp, journal, mip, registrar as rg};
use msm_mip::{Code, RegistrationRequest, ReplyBuilder, RequestBuilder};
use msm_pcapgen::frames::{arp_request, udp_frame, Tunnel, Udp, L2};
use msm_table::Binding;
use msm_wire::{ethernet, icmp::Icmpv4Packet, ipv4, tcp::TcpPacket};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

fn out_dir(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&d).expect("corpus directory");
    d
}

fn write(target: &str, name: &str, data: &[u8]) {
    std::fs::write(out_dir(target).join(format!("seed-{name}")), data).expect("write seed");
}

fn main() {
    dataplane();
    mip_request();
    registrar();
    journal_replay();
    subscribers();
    config();
    println!("seeds written under {}", out_dir("").display());
}

// --- dataplane -------------------------------------------------------------------------

const FROM_GGSN: L2 = L2 {
    dst: dp::WWAN_MAC,
    src: dp::GGSN_MAC,
};
const FROM_ROUTER: L2 = L2 {
    dst: dp::INET_MAC,
    src: dp::ROUTER_MAC,
};

fn udp(src: u32, dst: u32, dport: u16, ttl: u8, df: bool, payload: &[u8]) -> Udp<'_> {
    Udp {
        src,
        dst,
        sport: 40000,
        dport,
        ident: 7,
        ttl,
        df,
        payload,
    }
}

fn tunnel(src: u32) -> Option<Tunnel> {
    Some(Tunnel {
        src,
        dst: dp::MSM_WLAN,
        ttl: 64,
        ident: 9,
    })
}

/// Ethernet + IPv4 with `l4` (its checksum filled by `fill`) as payload.
fn ip_frame(l2: L2, proto: u8, src: u32, dst: u32, flags_frag: u16, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv4::HEADER_LEN + l4.len()];
    ethernet::write_header(&mut f, l2.dst, l2.src, ethernet::ETHERTYPE_IPV4).expect("eth");
    ipv4::Ipv4Repr {
        dscp_ecn: 0,
        total_len: (ipv4::HEADER_LEN + l4.len()) as u16,
        ident: 1,
        flags_frag,
        ttl: 64,
        protocol: proto,
        src,
        dst,
    }
    .emit(&mut f[ethernet::HEADER_LEN..])
    .expect("ipv4");
    f[ethernet::HEADER_LEN + ipv4::HEADER_LEN..].copy_from_slice(l4);
    f
}

fn echo(l2: L2, src: u32, dst: u32) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0, 7, 0, 1];
    m.extend_from_slice(b"ping-payload");
    Icmpv4Packet::new_unchecked(&mut m[..]).fill_checksum();
    ip_frame(l2, ipv4::PROTO_ICMP, src, dst, ipv4::FLAG_DF, &m)
}

fn syn(l2: L2, src: u32, dst: u32, mss: u16) -> Vec<u8> {
    let mut t = vec![0u8; 28];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&80u16.to_be_bytes());
    t[4..8].copy_from_slice(&12345u32.to_be_bytes());
    t[12] = 7 << 4; // 28 bytes
    t[13] = 0x02; // SYN
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t[20..24].copy_from_slice(&[2, 4, (mss >> 8) as u8, mss as u8]);
    t[24..28].copy_from_slice(&[1, 3, 3, 7]);
    TcpPacket::new_unchecked(&mut t[..]).fill_checksum(src, dst);
    ip_frame(l2, ipv4::PROTO_TCP, src, dst, ipv4::FLAG_DF, &t)
}

fn request(home: u32, coa: u32, lifetime: u16, nai: &str, key: &[u8], ident: u64) -> Vec<u8> {
    RequestBuilder {
        lifetime,
        home: Ipv4Addr::from(home),
        home_agent: Ipv4Addr::from(rg::GPRS),
        care_of: Ipv4Addr::from(coa),
        identification: ident,
        nai,
        spi: 256,
        key,
    }
    .to_vec()
    .expect("request")
}

fn dataplane() {
    let t = "dataplane";
    let seed = |name: &str, ingress: u16, extra: u8, frame: Vec<u8>| {
        let mut v = vec![dp::ctl(ingress) | extra];
        v.extend_from_slice(&frame);
        write(t, name, &v);
    };
    let small = b"0123456789abcdef";
    let big = vec![0x5au8; 1472];
    let f = |l2, tun, u: &Udp| udp_frame(l2, tun, u).expect("frame");
    seed(
        "down-coa",
        1,
        0,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME, 5000, 64, true, small),
        ),
    );
    seed(
        "down-wwan",
        1,
        0,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME_WWAN, 5000, 64, true, small),
        ),
    );
    seed(
        "down-miss",
        1,
        0,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME_MISS, 5000, 64, true, small),
        ),
    );
    seed(
        "down-ttl1",
        1,
        0,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME, 5000, 1, true, small),
        ),
    );
    seed(
        "down-big-df",
        1,
        0,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME, 5000, 64, true, &big),
        ),
    );
    seed(
        "down-big-frag",
        1,
        0,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME, 5000, 64, false, &big),
        ),
    );
    seed(
        "down-big-frag-576",
        1,
        4,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME, 5000, 64, false, &big),
        ),
    );
    seed(
        "down-big-frag-nobuf",
        1,
        0x20,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME, 5000, 64, false, &big),
        ),
    );
    seed(
        "down-wwan-big-frag",
        1,
        2,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME_WWAN, 5000, 64, false, &big),
        ),
    );
    seed(
        "down-no-neigh",
        1,
        0x80,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::SERVER, dp::HOME, 5000, 64, true, small),
        ),
    );
    seed(
        "up-wwan",
        0,
        0,
        f(
            FROM_GGSN,
            None,
            &udp(dp::HOME_WWAN, dp::SERVER, 5000, 64, true, small),
        ),
    );
    seed(
        "up-tunnel",
        1,
        0,
        f(
            FROM_ROUTER,
            tunnel(dp::COA),
            &udp(dp::HOME, dp::SERVER, 5000, 64, true, small),
        ),
    );
    seed(
        "up-tunnel-spoofed",
        1,
        0,
        f(
            FROM_ROUTER,
            tunnel(dp::COA2),
            &udp(dp::HOME, dp::SERVER, 5000, 64, true, small),
        ),
    );
    seed(
        "up-tunnel-m2m",
        1,
        0,
        f(
            FROM_ROUTER,
            tunnel(dp::COA),
            &udp(dp::HOME, dp::HOME3, 5000, 64, true, small),
        ),
    );
    seed(
        "up-tunnel-big",
        1,
        2,
        f(
            FROM_ROUTER,
            tunnel(dp::COA),
            &udp(dp::HOME, dp::HOME3, 5000, 64, false, &big[..1400]),
        ),
    );
    let key = rg::SUBS[0].3;
    let reg = request(dp::HOME, dp::COA, 600, "491700000010", key, 1 << 40);
    seed(
        "reg-wwan",
        0,
        0,
        f(
            FROM_GGSN,
            None,
            &udp(dp::HOME, dp::MSM_GPRS, 434, 64, false, &reg),
        ),
    );
    seed(
        "reg-tunnel",
        1,
        0,
        f(
            FROM_ROUTER,
            tunnel(dp::COA),
            &udp(dp::HOME, dp::MSM_GPRS, 434, 64, false, &reg),
        ),
    );
    seed(
        "reg-direct",
        1,
        0,
        f(
            FROM_ROUTER,
            None,
            &udp(dp::COA, dp::MSM_WLAN, 434, 64, false, &reg),
        ),
    );
    seed(
        "arp-gprs",
        0,
        0x80,
        arp_request(dp::GGSN_MAC, dp::GGSN, dp::MSM_GPRS).expect("arp"),
    );
    seed(
        "arp-wlan",
        1,
        0x80,
        arp_request(dp::ROUTER_MAC, dp::ROUTER, dp::MSM_WLAN).expect("arp"),
    );
    seed(
        "echo-wlan",
        1,
        0,
        echo(FROM_ROUTER, dp::SERVER, dp::MSM_WLAN),
    );
    seed(
        "echo-gprs",
        0,
        0,
        echo(FROM_GGSN, dp::HOME_WWAN, dp::MSM_GPRS),
    );
    seed(
        "syn-down",
        1,
        0,
        syn(FROM_ROUTER, dp::SERVER, dp::HOME, 1460),
    );
    seed(
        "syn-up",
        0,
        0,
        syn(FROM_GGSN, dp::HOME_WWAN, dp::SERVER, 1460),
    );
    let mut frag = f(
        FROM_ROUTER,
        None,
        &udp(dp::SERVER, dp::HOME, 5000, 64, false, &big[..600]),
    );
    // MF set, then a later fragment: checksum fixed by rewriting the header.
    for (name, ff) in [("frag-first", ipv4::FLAG_MF), ("frag-later", 100)] {
        let ip = &mut frag[ethernet::HEADER_LEN..];
        ip[6..8].copy_from_slice(&ff.to_be_bytes());
        ipv4::Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
        seed(name, 1, 0, frag.clone());
    }
}

// --- mip_request -----------------------------------------------------------------------

fn mip_request() {
    let t = "mip_request";
    let k = &mip::KEY[..];
    let id = (3_000_000_000u64 << 32) | 1;
    let home = dp::HOME;
    write(
        t,
        "reg",
        &request(home, dp::COA, 600, "491700000010", k, id),
    );
    write(
        t,
        "reg-realm",
        &request(home, dp::COA, 1800, "491700000010@msm.example", k, id),
    );
    write(t, "dereg", &request(home, 0, 0, "4917", k, id));
    write(
        t,
        "wwan",
        &request(home, home, 65535, "123456789012345", k, id),
    );
    // A skippable extension (type 200) between the NAI and the authenticator, re-signed.
    let mut r = request(home, dp::COA, 600, "491700000010", k, id);
    let at = 24 + 2 + 12;
    r.splice(at..at, [200u8, 3, 1, 2, 3]);
    RegistrationRequest::new_checked(&mut r[..])
        .expect("fixed")
        .fill_mn_ha(k);
    write(t, "skippable-ext", &r);
    // Flags outside the profile (M and G, T clear), re-signed.
    let mut r = request(home, dp::COA, 600, "491700000010", k, id);
    r[1] = 0x0c;
    RegistrationRequest::new_checked(&mut r[..])
        .expect("fixed")
        .fill_mn_ha(k);
    write(t, "bad-flags", &r);
    for (name, code) in [
        ("reply-accepted", Code::Accepted),
        ("reply-133", Code::IdentificationMismatch),
    ] {
        let rep = ReplyBuilder {
            code,
            lifetime: 600,
            home: Ipv4Addr::from(home),
            home_agent: Ipv4Addr::from(rg::GPRS),
            identification: id,
            nai: "491700000010",
            spi: 256,
            key: k,
        }
        .to_vec()
        .expect("reply");
        write(t, name, &rep);
    }
}

// --- registrar -------------------------------------------------------------------------

fn registrar() {
    let t = "registrar";
    let ntp = rg::NOW + msm_mip::NTP_UNIX_OFFSET;
    let id = |low: u64| (ntp << 32) | low;
    let req = |s: usize, coa: u32, lifetime: u16, ident: u64| {
        let (m, h, spi, key) = rg::SUBS[s];
        RequestBuilder {
            lifetime,
            home: Ipv4Addr::from(h),
            home_agent: Ipv4Addr::from(rg::GPRS),
            care_of: Ipv4Addr::from(coa),
            identification: ident,
            nai: &m.to_string(),
            spi,
            key,
        }
        .to_vec()
        .expect("request")
    };
    // ctl: path | 4 (re-sign) | 8 (fresh identification) | clock << 4; sel: src | outer << 3.
    const WWAN: u8 = 0;
    const TUNNEL: u8 = 1;
    const DIRECT: u8 = 2;
    let (home0, coa, coa2) = (0u8, 2u8, 3u8);
    let seqs: Vec<(&str, Vec<u8>)> = vec![
        ("wwan", rg::step(WWAN | 0x60, home0, &req(0, 0, 600, id(1)))),
        (
            "tunnel",
            rg::step(
                TUNNEL | 0x60,
                home0 | coa << 3,
                &req(0, rg::COA, 600, id(1)),
            ),
        ),
        (
            "direct",
            rg::step(DIRECT | 0x60, coa, &req(0, rg::COA, 600, id(1))),
        ),
        (
            "direct-wrong-source",
            rg::step(DIRECT, coa2, &req(0, rg::COA, 600, id(1))),
        ),
        ("unknown-subscriber", {
            let mut r = req(0, rg::COA, 600, id(1));
            r[26..38].copy_from_slice(b"491799999999");
            rg::step(DIRECT, coa, &r)
        }),
        ("bad-key", {
            let mut r = req(0, rg::COA, 600, id(1));
            let n = r.len();
            r[n - 1] ^= 1;
            rg::step(DIRECT, coa, &r)
        }),
        (
            "stale-ident",
            rg::step(DIRECT, coa, &req(0, rg::COA, 600, 1 << 32)),
        ),
        ("register-then-cancel", {
            let mut v = rg::step(DIRECT, coa, &req(0, rg::COA, 600, id(1)));
            v.extend(rg::step(DIRECT | 0x60, coa, &req(0, rg::COA, 0, id(2))));
            v
        }),
        ("duplicate", {
            let r = req(0, rg::COA, 600, id(1));
            let mut v = rg::step(DIRECT, coa, &r);
            v.extend(rg::step(DIRECT | 0x60, coa, &r));
            v
        }),
        ("table-full", {
            let mut v = rg::step(WWAN, home0, &req(0, 0, 600, id(1)));
            v.extend(rg::step(WWAN, 1, &req(1, 0, 600, id(2))));
            v.extend(rg::step(WWAN, 6, &req(2, 0, 600, id(3))));
            v
        }),
        ("flood", {
            let r = req(1, rg::COA, 600, id(1));
            let mut v = Vec::new();
            for _ in 0..12 {
                v.extend(rg::step(DIRECT | 4 | 8, coa, &r));
            }
            v
        }),
        ("expire-and-move", {
            let mut v = rg::step(DIRECT, coa, &req(0, rg::COA, 600, id(1)));
            v.extend(rg::step(
                DIRECT | 0xc0 | 4 | 8,
                coa2,
                &req(0, rg::COA2, 600, id(2)),
            ));
            v
        }),
    ];
    for (name, s) in seqs {
        write(t, name, &s);
    }
}

// --- journal_replay --------------------------------------------------------------------

fn journal_replay() {
    let t = "journal_replay";
    let b = |home: u32, coa: Option<u32>, expires_at: u32| Binding {
        home,
        coa,
        port: 0,
        msisdn: 491700000000 + u64::from(home & 0xff),
        expires_at,
    };
    let recs = [
        Record::upsert(&b(dp::HOME, Some(dp::COA), 1_800_000_600), 1 << 40),
        Record::upsert(&b(dp::HOME_WWAN, None, u32::MAX), 2 << 40),
        Record::remove(dp::HOME, 491700000010, 3 << 40),
        Record::upsert(&b(dp::HOME3, Some(dp::COA2), 1_800_000_000), 4 << 40),
    ];
    let log: Vec<u8> = recs.iter().flat_map(|r| r.encode()).collect();
    // A snapshot as compaction writes it.
    let dir = std::env::temp_dir().join(format!("msm-fuzz-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut j, _) = Journal::open(&dir).expect("journal");
    for r in &recs {
        j.append(r);
    }
    j.commit().expect("commit");
    j.install_snapshot(recs[..2].iter().copied()).expect("snapshot");
    j.append(&recs[2]);
    j.commit().expect("commit");
    let snap = std::fs::read(dir.join(SNAP_FILE)).expect("snapshot");
    let log_after = std::fs::read(dir.join(LOG_FILE)).expect("log");
    drop(j);
    let _ = std::fs::remove_dir_all(&dir);

    write(t, "log", &journal::input(2, &[], &log));
    write(
        t,
        "log-torn",
        &journal::input(2, &[], &log[..log.len() - 5]),
    );
    let mut mid = log.clone();
    mid[40] ^= 0xff;
    write(t, "log-damaged-middle", &journal::input(2, &[], &mid));
    write(t, "log-append-reopen", &journal::input(2 | 8, &[], &log));
    write(t, "snap", &journal::input(1, &snap, &[]));
    write(t, "snap-and-log", &journal::input(3, &snap, &log_after));
    write(
        t,
        "snap-tmp-leftover",
        &journal::input(3 | 4, &snap, &log_after),
    );
    write(
        t,
        "snap-truncated",
        &journal::input(1, &snap[..snap.len() - 1], &[]),
    );
    write(t, "empty-reopen", &journal::input(8, &[], &[]));
}

// --- subscribers -----------------------------------------------------------------------

fn subscribers() {
    let t = "subscribers";
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let testbed = std::fs::read(root.join("dpdk-config/testbed-subscribers.txt")).expect("testbed");
    write(t, "testbed", &testbed);
    write(t, "registrar", rg::subscribers_text().as_bytes());
    write(
        t,
        "crlf",
        rg::subscribers_text().replace('\n', "\r\n").as_bytes(),
    );
    let pools = [Prefix::parse("10.0.0.0/8").expect("pool")];
    let p = std::env::temp_dir().join(format!("msm-fuzz-subs-{}", std::process::id()));
    msm::control::subscribers::write_test_file(&p, 12, &pools).expect("test file");
    write(t, "generated", &std::fs::read(&p).expect("read"));
    let _ = std::fs::remove_file(&p);
    let dup = format!(
        "{}{}",
        rg::subscribers_text(),
        rg::subscribers_text().lines().nth(1).unwrap_or("")
    );
    write(t, "duplicate", dup.as_bytes());
}

// --- config ----------------------------------------------------------------------------

fn config() {
    let t = "config";
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dpdk-config");
    for name in ["testbed.toml", "real-nic.example.toml", "mcm-testbed.toml"] {
        let text = std::fs::read(root.join(name)).expect("config");
        write(t, name.trim_end_matches(".toml"), &text);
    }
}
