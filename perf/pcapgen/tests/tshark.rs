//! An independent decoder reads the generated pcaps: tshark must decode every
//! registration request as Mobile IP (NAI and MN-HA extensions, the subscriber's values),
//! with good IP and UDP checksums and no malformed or warning-level expert items; and the
//! data pcaps with good checksums. Skips (with a message) when tshark is not installed.

use msm_pcapgen::gen::{self, DataSpec, Net, PcapSink, RegPath, RegSpec, SizeMix};
use msm_pcapgen::{Population, PopulationSpec};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

fn tshark() -> bool {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("SKIP: tshark is not installed; the tshark decode check did not run");
            false
        }
    }
}

fn fields(pcap: &Path, filter: &str, f: &[&str]) -> Vec<Vec<String>> {
    let mut c = Command::new("tshark");
    c.arg("-r")
        .arg(pcap)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ])
        // The data payload is a test pattern: without this, random source ports make
        // tshark try whatever protocol is registered there (e.g. 54328, Elasticsearch)
        // and call the pattern malformed.
        .args(["-d", "udp.port==9,data"])
        .args(["-Y", filter, "-T", "fields", "-E", "separator=|"]);
    for x in f {
        c.args(["-e", x]);
    }
    let o = c.output().expect("run tshark");
    assert!(
        o.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('|').map(String::from).collect())
        .collect()
}

fn pop() -> Population {
    Population::generate(&PopulationSpec {
        n: 200,
        seed: 11,
        home_pool: "100.64.0.0/16".parse().unwrap(),
        coa_pool: "198.18.0.0/15".parse().unwrap(),
        msisdn_base: 491_500_000_000,
        spi: 256,
        exclude: vec![],
    })
    .unwrap()
}

fn net() -> Net {
    Net {
        msm_mac: [2, 0x70, 0x63, 0x61, 0x70, 1],
        peer_mac: [2, 0, 0, 0, 0, 2],
        msm_gprs: u32::from(Ipv4Addr::new(192, 0, 2, 129)),
        msm_wlan: u32::from(Ipv4Addr::new(198, 51, 100, 1)),
        gateway: u32::from(Ipv4Addr::new(198, 51, 100, 2)),
        correspondent: u32::from(Ipv4Addr::new(203, 0, 113, 10)),
        ttl: 64,
        arp: true,
    }
}

fn no_malformed(pcap: &Path) {
    let bad = fields(
        pcap,
        "_ws.malformed || _ws.expert.severity >= warning",
        &["frame.number", "_ws.expert.message"],
    );
    assert!(
        bad.is_empty(),
        "{}: malformed/warnings: {bad:?}",
        pcap.display()
    );
}

/// Every value of a (possibly comma-separated, for tunnels) checksum status is 1 (good).
fn all_good(v: &str) -> bool {
    !v.is_empty() && v.split(',').all(|x| x == "1")
}

#[test]
fn tshark_decodes_registration_storms_as_mobile_ip() {
    if !tshark() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = pop();
    for path in [RegPath::Direct, RegPath::Wwan, RegPath::Tunnel] {
        let file = dir.path().join(format!("reg-{path:?}.pcap"));
        let mut sink = PcapSink::create(&file).unwrap();
        let spec = RegSpec {
            path,
            lifetime: 600,
            time_unix: 1_795_000_000,
            rate: 1000.0,
            rounds: 2,
            window_s: 7,
        };
        let w = gen::registrations(&p, &net(), &spec, 11, &mut sink).unwrap();
        sink.finish().unwrap();
        assert_eq!(w.frames, 401);
        no_malformed(&file);
        let rows = fields(
            &file,
            "mip",
            &[
                "mip.type",
                "mip.nai",
                "mip.auth.spi",
                "mip.homeaddr",
                "mip.haaddr",
                "mip.coa",
                "mip.life",
                "mip.flags",
                "mip.auth.auth",
                "ip.checksum.status",
                "udp.checksum.status",
                "udp.dstport",
            ],
        );
        assert_eq!(
            rows.len(),
            400,
            "{path:?}: every request decoded as Mobile IP"
        );
        for (j, r) in rows.iter().enumerate() {
            let (i, round) = (j % 200, (j / 200) as u32);
            let s = &p.subs[i];
            assert_eq!(r[0], "1", "Registration Request");
            assert_eq!(r[1], s.msisdn.to_string());
            assert_eq!(r[2], "0x00000100");
            assert_eq!(r[3], Ipv4Addr::from(s.home).to_string());
            assert_eq!(r[4], "192.0.2.129");
            assert_eq!(r[5], Ipv4Addr::from(gen::coa_for(&p, i, round)).to_string());
            assert_eq!(r[6], "600");
            assert_eq!(r[7], "0x22", "D and T");
            assert_eq!(r[8].len(), 64, "32-byte authenticator");
            assert!(all_good(&r[9]), "{path:?} frame {j}: IP checksum {}", r[9]);
            assert!(
                all_good(&r[10]),
                "{path:?} frame {j}: UDP checksum {}",
                r[10]
            );
            assert_eq!(r[11], "434");
        }
    }
}

#[test]
fn tshark_finds_the_data_pcaps_well_formed() {
    if !tshark() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = pop();
    let spec = DataSpec {
        packets: 600,
        sizes: SizeMix::parse("mix").unwrap(),
        dport: 9,
        rate: 1e6,
        mtu: 1500,
        time_unix: 1_795_000_000,
    };
    for up in [false, true] {
        let file = dir.path().join(format!("data-{up}.pcap"));
        let mut sink = PcapSink::create(&file).unwrap();
        if up {
            gen::uplink(&p, &net(), &spec, 11, &mut sink).unwrap();
        } else {
            gen::downlink(&p, &net(), &spec, 11, &mut sink).unwrap();
        }
        sink.finish().unwrap();
        no_malformed(&file);
        let rows = fields(
            &file,
            "udp",
            &[
                "ip.proto",
                "ip.checksum.status",
                "udp.checksum.status",
                "ip.dst",
            ],
        );
        assert_eq!(rows.len(), 600);
        for r in rows {
            assert_eq!(r[0], if up { "4,17" } else { "17" });
            assert!(all_good(&r[1]) && all_good(&r[2]), "{r:?}");
            if up {
                assert!(r[3].starts_with("198.51.100.1,203.0.113.10"), "{r:?}");
            }
        }
    }
}
