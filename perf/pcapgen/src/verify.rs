//! Checks what the MSM sent in answer to a generated workload: every downlink packet
//! tunnelled to its binding's care-of address, every uplink packet decapsulated, every
//! registration answered with an authenticated Reply (code 0 expected).
//!
//! Input: the generation directory (manifest, provisioning files, input pcap) and the
//! pcaps the MSM's ports wrote (`net_pcap`'s `tx_pcap`) or a capture of its egress.

use crate::gen::{read_manifest, Manifest, RegPath};
use crate::{frames, unhex, Mac};
use anyhow::{bail, Context, Result};
use msm_mip::{parse_reply, parse_request, verify_mn_ha, MIP_PORT};
use msm_wire::{ethernet, ipv4, EthernetFrame, Ipv4Packet, UdpPacket};
use pcap_file::pcap::PcapReader;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Result of a verification.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Workload kind.
    pub kind: String,
    /// Data packets / requests in the input.
    pub expected: u64,
    /// Input packets answered exactly as expected, once.
    pub matched: u64,
    /// Input packets seen more than once in the output.
    pub duplicates: u64,
    /// Output frames that are ARP (the MSM's requests for its gateways, replies).
    pub arp: u64,
    /// Output frames that are neither ARP nor an expected answer.
    pub unexpected: u64,
    /// Output frames that answer an input packet but are wrong.
    pub wrong: u64,
    /// Registrations: Reply codes seen.
    pub codes: BTreeMap<u8, u64>,
    /// The first few problems, in words.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether everything matched.
    pub fn ok(&self) -> bool {
        self.matched == self.expected
            && self.duplicates == 0
            && self.unexpected == 0
            && self.wrong == 0
    }

    fn problem(&mut self, s: String) {
        if self.problems.len() < 10 {
            self.problems.push(s);
        }
    }

    /// One line per fact.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{}: expected {} matched {} duplicates {} wrong {} unexpected {} arp {}",
            self.kind,
            self.expected,
            self.matched,
            self.duplicates,
            self.wrong,
            self.unexpected,
            self.arp
        );
        if !self.codes.is_empty() {
            s += &format!(" reply_codes {:?}", self.codes);
        }
        for p in &self.problems {
            s += &format!("\n  {p}");
        }
        s
    }
}

/// Reads every frame of a pcap.
pub fn read_pcap(path: &Path) -> Result<Vec<Vec<u8>>> {
    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut r = PcapReader::new(f).with_context(|| format!("read {}", path.display()))?;
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        v.push(
            p.with_context(|| format!("read {}", path.display()))?
                .data
                .into_owned(),
        );
    }
    Ok(v)
}

struct Sub {
    home: u32,
    key: Vec<u8>,
}

fn lines(path: &Path) -> Result<Vec<(usize, Vec<String>)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    Ok(text
        .lines()
        .enumerate()
        .filter_map(|(n, l)| {
            let l = l.split('#').next().unwrap_or("");
            let f: Vec<String> = l.split_whitespace().map(String::from).collect();
            (!f.is_empty()).then_some((n + 1, f))
        })
        .collect())
}

fn ip(s: &str, path: &Path, n: usize) -> Result<u32> {
    s.parse::<Ipv4Addr>()
        .map(u32::from)
        .with_context(|| format!("{}:{n}: bad address '{s}'", path.display()))
}

fn read_subscribers(path: &Path) -> Result<HashMap<u64, Sub>> {
    let mut m = HashMap::new();
    for (n, f) in lines(path)? {
        if f.len() != 4 {
            bail!("{}:{n}: want MSISDN HOME SPI KEY_HEX", path.display());
        }
        let msisdn: u64 = f[0].parse().context("MSISDN")?;
        let key = unhex(&f[3]).with_context(|| format!("{}:{n}: key", path.display()))?;
        m.insert(
            msisdn,
            Sub {
                home: ip(&f[1], path, n)?,
                key,
            },
        );
    }
    Ok(m)
}

fn read_bindings(path: &Path) -> Result<HashMap<u32, u32>> {
    let mut m = HashMap::new();
    for (n, f) in lines(path)? {
        if f.len() != 3 {
            bail!("{}:{n}: want HOME CARE_OF MSISDN", path.display());
        }
        if f[1] != "-" {
            m.insert(ip(&f[0], path, n)?, ip(&f[1], path, n)?);
        }
    }
    Ok(m)
}

/// An IPv4 packet in a frame, header checksum checked.
fn ipv4_of(frame: &[u8]) -> Option<Ipv4Packet<&[u8]>> {
    let e = EthernetFrame::new_checked(frame).ok()?;
    if e.ethertype() != ethernet::ETHERTYPE_IPV4 {
        return None;
    }
    let p = Ipv4Packet::new_checked(&frame[ethernet::HEADER_LEN..]).ok()?;
    Some(p)
}

/// The IP packet exactly (frame minus Ethernet header and padding).
fn ip_bytes(frame: &[u8]) -> Option<&[u8]> {
    ipv4_of(frame).map(|p| &frame[ethernet::HEADER_LEN..][..usize::from(p.total_len())])
}

fn udp_ok(p: &Ipv4Packet<&[u8]>) -> Option<(u16, u16, Vec<u8>)> {
    if p.protocol() != ipv4::PROTO_UDP || !p.verify_checksum() {
        return None;
    }
    let u = UdpPacket::new_checked(p.payload()).ok()?;
    if usize::from(u.len()) != p.payload().len() || !u.verify_checksum(p.src_u32(), p.dst_u32()) {
        return None;
    }
    Some((u.src_port(), u.dst_port(), u.payload().to_vec()))
}

/// `got` is `want` forwarded by a router: same bytes except TTL one less and the header
/// checksum (which must verify).
fn forwarded_once(want: &[u8], got: &[u8]) -> bool {
    if want.len() != got.len() || want.len() < 20 || got[8] != want[8].wrapping_sub(1) {
        return false;
    }
    let same = |r: std::ops::Range<usize>| want[r.clone()] == got[r];
    same(0..8)
        && same(9..10)
        && same(12..want.len())
        && Ipv4Packet::new_unchecked(got).verify_checksum()
}

/// Verifies the MSM's output pcaps against the workload generated in `dir`.
pub fn verify(dir: &Path, kind: &str, outputs: &[PathBuf]) -> Result<Report> {
    let m = read_manifest(&dir.join(crate::gen::manifest_name(kind)))?;
    let input = read_pcap(&dir.join(&m.pcap))?;
    let mut out = Vec::new();
    for o in outputs {
        out.extend(read_pcap(o)?);
    }
    match m.kind.as_str() {
        "downlink" | "uplink" => verify_data(&m, dir, &input, &out),
        "registrations" => verify_registrations(&m, dir, &input, &out),
        k => bail!("unknown workload kind '{k}' in the manifest"),
    }
}

fn verify_data(m: &Manifest, dir: &Path, input: &[Vec<u8>], out: &[Vec<u8>]) -> Result<Report> {
    let up = m.kind == "uplink";
    let bindings = read_bindings(&dir.join(&m.bindings_file))?;
    let msm_mac: Mac = m.msm_mac.parse()?;
    let peer_mac: Mac = m.peer_mac.parse()?;
    let wlan = u32::from(m.msm_wlan);
    // seq -> the user IP packet as the MSM must forward it (before its TTL decrement).
    let mut want: HashMap<u64, Vec<u8>> = HashMap::new();
    for f in input {
        let Some(p) = ipv4_of(f) else { continue };
        let user = if up {
            p.payload()
        } else {
            ip_bytes(f).unwrap_or_default()
        };
        let Ok(u) = Ipv4Packet::new_checked(user) else {
            continue;
        };
        if let Some((_, _, pl)) = udp_ok(&u) {
            if let Some(seq) = frames::payload_seq(&pl) {
                want.insert(seq, user.to_vec());
            }
        }
    }
    let mut r = Report {
        kind: m.kind.clone(),
        expected: want.len() as u64,
        ..Report::default()
    };
    if r.expected != m.packets {
        bail!(
            "the input pcap has {} data packets, the manifest says {}",
            r.expected,
            m.packets
        );
    }
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for (i, f) in out.iter().enumerate() {
        let e = match EthernetFrame::new_checked(&f[..]) {
            Ok(e) => e,
            Err(_) => {
                r.unexpected += 1;
                r.problem(format!("output frame {i}: not Ethernet"));
                continue;
            }
        };
        if e.ethertype() == ethernet::ETHERTYPE_ARP {
            r.arp += 1;
            continue;
        }
        let Some(p) = ipv4_of(f) else {
            r.unexpected += 1;
            r.problem(format!("output frame {i}: not IPv4"));
            continue;
        };
        // The user packet inside (downlink: inner of the tunnel; uplink: the packet).
        let user: &[u8] = if up {
            ip_bytes(f).unwrap_or_default()
        } else if p.protocol() == ipv4::PROTO_IPIP {
            p.payload()
        } else {
            r.unexpected += 1;
            r.problem(format!(
                "output frame {i}: {} -> {} proto {} is not a tunnelled packet",
                p.src_addr(),
                p.dst_addr(),
                p.protocol()
            ));
            continue;
        };
        let seq = Ipv4Packet::new_checked(user)
            .ok()
            .and_then(|u| udp_ok(&u))
            .and_then(|(_, _, pl)| frames::payload_seq(&pl));
        let Some((seq, w)) = seq.and_then(|s| want.get(&s).map(|w| (s, w))) else {
            r.unexpected += 1;
            r.problem(format!(
                "output frame {i}: {} -> {}: not one of the generated packets",
                p.src_addr(),
                p.dst_addr()
            ));
            continue;
        };
        let n = seen.entry(seq).or_insert(0);
        *n += 1;
        if *n > 1 {
            r.duplicates += 1;
            continue;
        }
        let mut why = Vec::new();
        if (e.src(), e.dst()) != (msm_mac.0, peer_mac.0) {
            why.push("MACs are not MSM -> gateway".to_string());
        }
        if !forwarded_once(w, user) {
            why.push("user packet not forwarded unchanged with TTL - 1".to_string());
        }
        if !up {
            let home = u32::from_be_bytes([w[16], w[17], w[18], w[19]]);
            let coa = bindings.get(&home).copied();
            if !p.verify_checksum() {
                why.push("outer header checksum".into());
            }
            if (p.src_u32(), Some(p.dst_u32())) != (wlan, coa) {
                why.push(format!(
                    "outer {} -> {}, want {} -> {:?}",
                    p.src_addr(),
                    p.dst_addr(),
                    m.msm_wlan,
                    coa.map(Ipv4Addr::from)
                ));
            }
            if usize::from(p.total_len()) != w.len() + 20 || p.header_len() != 20 {
                why.push("outer length".into());
            }
            if p.dont_frag() != (w[6] & 0x40 != 0) || p.dscp_ecn() != w[1] || p.ttl() == 0 {
                why.push("outer DF/TOS/TTL".into());
            }
        }
        if why.is_empty() {
            r.matched += 1;
        } else {
            r.wrong += 1;
            r.problem(format!("output frame {i} (seq {seq}): {}", why.join("; ")));
        }
    }
    if r.matched < r.expected {
        let missing: Vec<u64> = {
            let mut v: Vec<u64> = want
                .keys()
                .filter(|s| !seen.contains_key(s))
                .copied()
                .collect();
            v.sort_unstable();
            v.truncate(5);
            v
        };
        r.problem(format!(
            "{} input packets have no correct output (first missing seqs {missing:?})",
            r.expected - r.matched
        ));
    }
    Ok(r)
}

fn verify_registrations(
    m: &Manifest,
    dir: &Path,
    input: &[Vec<u8>],
    out: &[Vec<u8>],
) -> Result<Report> {
    let subs = read_subscribers(&dir.join(&m.subscribers_file))?;
    let path = m.path.context("manifest without a registration path")?;
    let (gprs, wlan) = (u32::from(m.msm_gprs), u32::from(m.msm_wlan));
    // (msisdn, identification) -> (care-of, request's UDP source port)
    let mut want: HashMap<(u64, u64), (u32, u16)> = HashMap::new();
    // A 133 Reply carries the MSM's time in the high 32 bits: match it by the low 32.
    let mut by_low: HashMap<(u64, u32), u64> = HashMap::new();
    for f in input {
        let Some(p) = ipv4_of(f) else { continue };
        let inner = if p.protocol() == ipv4::PROTO_IPIP {
            match Ipv4Packet::new_checked(p.payload()) {
                Ok(i) => i,
                Err(_) => continue,
            }
        } else {
            p
        };
        let Some((sport, MIP_PORT, pl)) = udp_ok(&inner) else {
            continue;
        };
        let req = parse_request(&pl).context("a request in the input pcap does not parse")?;
        let msisdn = req.msisdn().context("request without MSISDN")?;
        by_low.insert((msisdn, req.identification as u32), req.identification);
        want.insert(
            (msisdn, req.identification),
            (u32::from(req.care_of), sport),
        );
    }
    let mut r = Report {
        kind: m.kind.clone(),
        expected: want.len() as u64,
        ..Report::default()
    };
    if r.expected != m.packets {
        bail!(
            "the input pcap has {} requests, the manifest says {}",
            r.expected,
            m.packets
        );
    }
    let mut seen: HashMap<(u64, u64), u32> = HashMap::new();
    for (i, f) in out.iter().enumerate() {
        if EthernetFrame::new_checked(&f[..]).map(|e| e.ethertype()) == Ok(ethernet::ETHERTYPE_ARP)
        {
            r.arp += 1;
            continue;
        }
        let Some(p) = ipv4_of(f) else {
            r.unexpected += 1;
            r.problem(format!("output frame {i}: not IPv4"));
            continue;
        };
        let (outer, inner) = if p.protocol() == ipv4::PROTO_IPIP {
            match Ipv4Packet::new_checked(p.payload()) {
                Ok(inner) => (Some((p.src_u32(), p.dst_u32(), p.verify_checksum())), inner),
                Err(_) => {
                    r.unexpected += 1;
                    continue;
                }
            }
        } else {
            (None, p)
        };
        let Some((MIP_PORT, dport, pl)) = udp_ok(&inner) else {
            r.unexpected += 1;
            r.problem(format!(
                "output frame {i}: {} -> {} is not a Registration Reply with valid checksums",
                inner.src_addr(),
                inner.dst_addr()
            ));
            continue;
        };
        let reply = match parse_reply(&pl) {
            Ok(x) => x,
            Err(e) => {
                r.wrong += 1;
                r.problem(format!("output frame {i}: reply does not parse: {e}"));
                continue;
            }
        };
        *r.codes.entry(reply.code).or_insert(0) += 1;
        let Some(msisdn) = reply.msisdn() else {
            r.wrong += 1;
            continue;
        };
        let mut key = (msisdn, reply.identification);
        if reply.code == 133 && !want.contains_key(&key) {
            if let Some(&id) = by_low.get(&(msisdn, reply.identification as u32)) {
                key.1 = id;
            }
        }
        let Some(&(coa, sport)) = want.get(&key) else {
            r.unexpected += 1;
            r.problem(format!(
                "output frame {i}: reply (code {}) to MSISDN {msisdn} ident {:#x} answers no generated request",
                reply.code, reply.identification
            ));
            continue;
        };
        let n = seen.entry(key).or_insert(0);
        *n += 1;
        if *n > 1 {
            r.duplicates += 1;
            continue;
        }
        let sub = subs
            .get(&msisdn)
            .context("reply for an MSISDN not in the subscriber file")?;
        let mut why = Vec::new();
        if reply.code != 0 {
            why.push(format!("code {}", reply.code));
        }
        if !verify_mn_ha(&reply, &sub.key) {
            why.push("MN-HA authenticator does not verify".into());
        }
        if u32::from(reply.home) != sub.home || reply.home_agent != m.msm_gprs {
            why.push("home address / home agent".into());
        }
        if dport != sport {
            why.push("UDP port not the request's".into());
        }
        let addrs = (inner.src_u32(), inner.dst_u32());
        let path_ok = match path {
            RegPath::Direct => outer.is_none() && addrs == (wlan, coa),
            RegPath::Wwan => outer.is_none() && addrs == (gprs, sub.home),
            RegPath::Tunnel => outer == Some((wlan, coa, true)) && addrs == (gprs, sub.home),
        };
        if !path_ok {
            why.push(format!(
                "not sent back the way the request came ({:?}, {} -> {})",
                path,
                inner.src_addr(),
                inner.dst_addr()
            ));
        }
        if reply.lifetime == 0 && m.lifetime.unwrap_or(0) != 0 {
            why.push("lifetime 0".into());
        }
        if why.is_empty() {
            r.matched += 1;
        } else {
            r.wrong += 1;
            r.problem(format!(
                "output frame {i} (MSISDN {msisdn}): {}",
                why.join("; ")
            ));
        }
    }
    if r.matched < r.expected {
        r.problem(format!(
            "{} requests have no correct reply",
            r.expected - r.matched
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{Udp, L2};
    use crate::gen::{
        self, manifest_name, write_manifest, DataSpec, Net, PcapSink, RegSpec, Sink, SizeMix,
    };
    use crate::{Population, PopulationSpec};
    use msm_mip::{Code, ReplyBuilder};
    use std::time::Duration;

    fn pop() -> Population {
        Population::generate(&PopulationSpec {
            n: 30,
            seed: 5,
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

    fn manifest(kind: &str, n: &Net, packets: u64, path: Option<RegPath>) -> Manifest {
        Manifest {
            kind: kind.into(),
            generator: "test".into(),
            command: vec![],
            pcap: format!("{kind}.pcap"),
            subscribers_file: "subscribers.txt".into(),
            bindings_file: "bindings.txt".into(),
            frames: packets + 1,
            arp_frames: 1,
            packets,
            subscribers: 30,
            seed: 5,
            msm_mac: Mac(n.msm_mac).to_string(),
            peer_mac: Mac(n.peer_mac).to_string(),
            msm_gprs: Ipv4Addr::from(n.msm_gprs),
            msm_wlan: Ipv4Addr::from(n.msm_wlan),
            gateway: Ipv4Addr::from(n.gateway),
            correspondent: Ipv4Addr::from(n.correspondent),
            ttl: 64,
            home_pool: "100.64.0.0/16".into(),
            coa_pool: "198.18.0.0/15".into(),
            time_unix: 1_800_000_000,
            frames_per_size: vec![],
            dport: None,
            path,
            lifetime: path.map(|_| 600),
            rounds: path.map(|_| 1),
            valid_unix: None,
            expect: String::new(),
        }
    }

    /// Generates `kind` into `dir` with its provisioning files and manifest.
    fn generate(dir: &Path, kind: &str) -> (Population, Net) {
        let (p, n) = (pop(), net());
        let mut sink = PcapSink::create(&dir.join(format!("{kind}.pcap"))).unwrap();
        let w = match kind {
            "registrations" => {
                let spec = RegSpec {
                    path: RegPath::Direct,
                    lifetime: 600,
                    time_unix: 1_800_000_000,
                    rate: 1000.0,
                    rounds: 1,
                    window_s: 7,
                };
                gen::registrations(&p, &n, &spec, 5, &mut sink).unwrap()
            }
            _ => {
                let spec = DataSpec {
                    packets: 200,
                    sizes: SizeMix::parse("mix").unwrap(),
                    dport: 9,
                    rate: 1e6,
                    mtu: 1500,
                    time_unix: 1_800_000_000,
                };
                if kind == "uplink" {
                    gen::uplink(&p, &n, &spec, 5, &mut sink).unwrap()
                } else {
                    gen::downlink(&p, &n, &spec, 5, &mut sink).unwrap()
                }
            }
        };
        sink.finish().unwrap();
        gen::write_subscribers(&dir.join("subscribers.txt"), &p, "t").unwrap();
        gen::write_bindings(&dir.join("bindings.txt"), &p, 0, "t").unwrap();
        let path = (kind == "registrations").then_some(RegPath::Direct);
        let m = manifest(kind, &n, w.frames - w.arp_frames, path);
        write_manifest(&dir.join(manifest_name(kind)), &m).unwrap();
        (p, n)
    }

    fn eth(n: &Net, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        ethernet::write_header(&mut f, n.peer_mac, n.msm_mac, ethernet::ETHERTYPE_IPV4).unwrap();
        f.extend_from_slice(ip);
        f
    }

    fn ttl_minus_one(ip: &[u8]) -> Vec<u8> {
        let mut v = ip.to_vec();
        let mut p = Ipv4Packet::new_unchecked(&mut v[..]);
        p.set_ttl(p.ttl() - 1);
        p.fill_checksum();
        v
    }

    /// What a correct MSM transmits for the generated data workload.
    fn msm_data(dir: &Path, kind: &str, p: &Population, n: &Net) -> Vec<Vec<u8>> {
        let input = read_pcap(&dir.join(format!("{kind}.pcap"))).unwrap();
        let mut out = Vec::new();
        for f in input.iter().skip(1) {
            let ip = ip_bytes(f).unwrap();
            if kind == "uplink" {
                out.push(eth(n, &ttl_minus_one(&ip[20..])));
            } else {
                let inner = ttl_minus_one(ip);
                let home = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
                let coa = p.subs.iter().find(|s| s.home == home).unwrap().coa;
                let mut o = vec![0u8; 20];
                o.extend_from_slice(&inner);
                ipv4::write_ipip_header_in_place(&mut o, n.msm_wlan, coa, 64, 1).unwrap();
                out.push(eth(n, &o));
            }
        }
        out
    }

    fn write(dir: &Path, frames: &[Vec<u8>]) -> PathBuf {
        let f = dir.join("out.pcap");
        let mut s = PcapSink::create(&f).unwrap();
        for x in frames {
            s.frame(Duration::ZERO, x).unwrap();
        }
        s.finish().unwrap();
        f
    }

    #[test]
    fn data_verification_passes_a_correct_msm_and_catches_faults() {
        for kind in ["downlink", "uplink"] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let (p, n) = generate(d, kind);
            let good = msm_data(d, kind, &p, &n);
            let r = verify(d, kind, &[write(d, &good)]).unwrap();
            assert!(r.ok(), "{}", r.render());
            assert_eq!((r.expected, r.matched), (200, 200));

            // A lost packet.
            let r = verify(d, kind, &[write(d, &good[1..])]).unwrap();
            assert!(!r.ok());
            assert_eq!(r.matched, 199);
            // A duplicate.
            let mut dup = good.clone();
            dup.push(good[7].clone());
            let r = verify(d, kind, &[write(d, &dup)]).unwrap();
            assert_eq!((r.ok(), r.duplicates), (false, 1));
            // TTL not decremented (the input forwarded as is, re-encapsulated or not).
            let mut bad = good.clone();
            let input = read_pcap(&d.join(format!("{kind}.pcap"))).unwrap();
            bad[3] = if kind == "uplink" {
                eth(&n, &ip_bytes(&input[4]).unwrap()[20..])
            } else {
                let mut f = good[3].clone();
                f[14 + 20..].copy_from_slice(ip_bytes(&input[4]).unwrap());
                f
            };
            let r = verify(d, kind, &[write(d, &bad)]).unwrap();
            assert_eq!((r.ok(), r.wrong), (false, 1), "{}", r.render());
            // A broken UDP checksum makes the packet unrecognisable.
            let mut bad = good.clone();
            let last = bad[5].len() - 1;
            bad[5][last] ^= 0xff;
            let r = verify(d, kind, &[write(d, &bad)]).unwrap();
            assert!(!r.ok() && r.unexpected == 1, "{}", r.render());
            if kind == "downlink" {
                // Tunnelled to the wrong care-of address.
                let mut bad = good.clone();
                let mut ip = bad[9][14..].to_vec();
                let wrong = p.subs[0].coa ^ 1;
                let inner = ip[20..].to_vec();
                ipv4::write_ipip_header(&mut ip, &inner, n.msm_wlan, wrong, 64, 1).unwrap();
                bad[9] = eth(&n, &ip);
                let r = verify(d, kind, &[write(d, &bad)]).unwrap();
                assert_eq!((r.ok(), r.wrong), (false, 1), "{}", r.render());
                // The input itself is not an answer.
                let r = verify(d, kind, &[d.join("downlink.pcap")]).unwrap();
                assert!(!r.ok());
                assert_eq!(r.matched, 0);
            }
        }
    }

    fn msm_replies(dir: &Path, p: &Population, n: &Net, code: Code) -> Vec<Vec<u8>> {
        let input = read_pcap(&dir.join("registrations.pcap")).unwrap();
        let mut out = Vec::new();
        for f in input.iter().skip(1) {
            let ip = ipv4_of(f).unwrap();
            let (sport, _, pl) = udp_ok(&ip).unwrap();
            let req = parse_request(&pl).unwrap();
            let s = p
                .subs
                .iter()
                .find(|s| s.home == u32::from(req.home))
                .unwrap();
            let rep = ReplyBuilder {
                code,
                lifetime: 600,
                home: req.home,
                home_agent: req.home_agent,
                identification: req.identification,
                nai: req.nai_str().unwrap(),
                spi: 256,
                key: &s.key,
            };
            let mut b = vec![0u8; 128];
            let len = rep.emit(&mut b).unwrap();
            let u = Udp {
                src: n.msm_wlan,
                dst: ip.src_u32(),
                sport: MIP_PORT,
                dport: sport,
                ident: 0,
                ttl: 64,
                df: false,
                payload: &b[..len],
            };
            let l2 = L2 {
                dst: n.peer_mac,
                src: n.msm_mac,
            };
            out.push(frames::udp_frame(l2, None, &u).unwrap());
        }
        out
    }

    #[test]
    fn registration_verification_checks_code_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (p, n) = generate(d, "registrations");
        let good = msm_replies(d, &p, &n, Code::Accepted);
        let r = verify(d, "registrations", &[write(d, &good)]).unwrap();
        assert!(r.ok(), "{}", r.render());
        assert_eq!(r.codes.get(&0), Some(&30));

        let r = verify(d, "registrations", &[write(d, &good[..29])]).unwrap();
        assert_eq!((r.ok(), r.matched), (false, 29));

        let r = verify(
            d,
            "registrations",
            &[write(
                d,
                &msm_replies(d, &p, &n, Code::IdentificationMismatch),
            )],
        )
        .unwrap();
        assert!(!r.ok());
        assert_eq!((r.wrong, r.codes.get(&133)), (30, Some(&30)));

        // Signed with another subscriber's key.
        let mut other = p.clone();
        for (i, s) in other.subs.iter_mut().enumerate() {
            s.key = p.subs[(i + 1) % p.subs.len()].key;
        }
        let bad = msm_replies(d, &other, &n, Code::Accepted);
        let r = verify(d, "registrations", &[write(d, &bad)]).unwrap();
        assert!(!r.ok());
        assert!(
            r.problems.iter().any(|x| x.contains("authenticator")),
            "{}",
            r.render()
        );
    }
}
