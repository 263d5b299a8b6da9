//! The three workloads, the provisioning files and the manifest.

use crate::frames::{self, Tunnel, Udp, L2};
use crate::{hex, Population, Subscriber};
use anyhow::{bail, Context, Result};
use msm_mip::{make_identification, ntp_seconds, RequestBuilder, MIP_PORT};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// Addresses of the MSM under test and of the peer the generator plays.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    /// MAC of the MSM port the frames are sent to.
    pub msm_mac: [u8; 6],
    /// MAC of the generator (source of every frame; the MSM's next hop learns it).
    pub peer_mac: [u8; 6],
    /// IPmsm-gprs (home agent address, WWAN side), host order.
    pub msm_gprs: u32,
    /// IPmsm-wlan (tunnel end point, Internet side), host order.
    pub msm_wlan: u32,
    /// The gateway IP the generator plays on that link (the MSM's `gateway`).
    pub gateway: u32,
    /// The correspondent host on the Internet.
    pub correspondent: u32,
    /// TTL of generated packets (inner and outer).
    pub ttl: u8,
    /// Start the pcap with an ARP request from the gateway to the MSM.
    pub arp: bool,
}

impl Net {
    fn l2(&self) -> L2 {
        L2 {
            dst: self.msm_mac,
            src: self.peer_mac,
        }
    }
}

/// Frame sizes (with FCS) and their weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeMix(pub Vec<(usize, u32)>);

impl SizeMix {
    /// `64`, `mix` (= `64:7,512:4,1400:1`), or `SIZE[:WEIGHT],...`.
    pub fn parse(s: &str) -> Result<SizeMix> {
        let s = if s == "mix" { "64:7,512:4,1400:1" } else { s };
        let mut v = Vec::new();
        for part in s.split(',') {
            let (size, w) = match part.split_once(':') {
                Some((a, b)) => (a, b),
                None => (part, "1"),
            };
            let size: usize = size
                .trim()
                .parse()
                .with_context(|| format!("frame size '{size}'"))?;
            let w: u32 = w.trim().parse().with_context(|| format!("weight '{w}'"))?;
            if size < frames::MIN_FRAME {
                bail!("frame size {size} is below {}", frames::MIN_FRAME);
            }
            if w == 0 {
                bail!("weight 0 for frame size {size}");
            }
            v.push((size, w));
        }
        Ok(SizeMix(v))
    }

    fn max(&self) -> usize {
        self.0.iter().map(|x| x.0).max().unwrap_or(0)
    }
}

/// Parameters of the downlink and uplink workloads.
#[derive(Debug, Clone)]
pub struct DataSpec {
    /// Data packets to write.
    pub packets: u64,
    /// Frame sizes (of the user frame, untunnelled, with FCS).
    pub sizes: SizeMix,
    /// UDP destination port.
    pub dport: u16,
    /// Packets per second of the pcap timestamps.
    pub rate: f64,
    /// IP MTU of the MSM's Internet link: the tunnelled packet must fit.
    pub mtu: usize,
    /// Unix time of the first packet.
    pub time_unix: u64,
}

/// How registration requests reach the MSM (PROTOCOL.md section 1, "Paths").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RegPath {
    /// 3: UDP from the care-of address to IPmsm-wlan:434 (a standard MIPv4 client with a
    /// co-located care-of address), on the Internet port.
    Direct,
    /// 1: UDP from the home address to IPmsm-gprs:434, on the WWAN port.
    Wwan,
    /// 2: reverse-tunnelled, outer care-of -> IPmsm-wlan, inner home -> IPmsm-gprs:434.
    Tunnel,
}

/// Parameters of a registration storm.
#[derive(Debug, Clone)]
pub struct RegSpec {
    /// Path of every request.
    pub path: RegPath,
    /// Requested lifetime (s).
    pub lifetime: u16,
    /// Unix time (s) of the first request; Identification timestamps start here.
    pub time_unix: u64,
    /// Requests per second: the pcap timestamps, and the Identification's seconds,
    /// advance at this rate.
    pub rate: f64,
    /// Each subscriber registers this many times (round r uses the care-of address of
    /// subscriber i + r: a handover every round).
    pub rounds: u32,
    /// The MSM's `replay_window_s` (only for the manifest's validity interval).
    pub window_s: u32,
}

/// Where frames go.
pub trait Sink {
    /// Writes one frame with its capture timestamp (since the Unix epoch).
    fn frame(&mut self, ts: Duration, data: &[u8]) -> Result<()>;
}

/// A classic pcap file (little-endian, microseconds, Ethernet, snaplen 65535).
pub struct PcapSink {
    w: PcapWriter<BufWriter<File>>,
    /// Frames written.
    pub frames: u64,
}

impl PcapSink {
    /// Creates `path`.
    pub fn create(path: &Path) -> Result<PcapSink> {
        let f = File::create(path).with_context(|| format!("create {}", path.display()))?;
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: 65535,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
        };
        Ok(PcapSink {
            w: PcapWriter::with_header(BufWriter::new(f), header)?,
            frames: 0,
        })
    }

    /// Flushes and closes.
    pub fn finish(self) -> Result<()> {
        let mut f = self.w.into_writer();
        f.flush()?;
        f.into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
            .map_err(Into::into)
    }
}

impl Sink for PcapSink {
    fn frame(&mut self, ts: Duration, data: &[u8]) -> Result<()> {
        self.w
            .write_packet(&PcapPacket::new(ts, data.len() as u32, data))?;
        self.frames += 1;
        Ok(())
    }
}

impl Sink for Vec<(Duration, Vec<u8>)> {
    fn frame(&mut self, ts: Duration, data: &[u8]) -> Result<()> {
        self.push((ts, data.to_vec()));
        Ok(())
    }
}

/// What a generator wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Frames, ARP included.
    pub frames: u64,
    /// ARP frames.
    pub arp_frames: u64,
    /// Frames per size (data workloads).
    pub per_size: Vec<(usize, u64)>,
    /// NTP seconds of the first and last Identification (registrations).
    pub ident_ntp: Option<(u32, u32)>,
}

fn ts_at(start_unix: u64, i: u64, rate: f64) -> Duration {
    Duration::from_secs(start_unix) + Duration::from_secs_f64(i as f64 / rate)
}

/// Largest user frame (with FCS) whose tunnelled form fits `mtu`.
pub fn max_frame_for_mtu(mtu: usize) -> usize {
    mtu - frames::OUTER + frames::ETH_OVERHEAD
}

fn check_data(spec: &DataSpec) -> Result<()> {
    if spec.packets == 0 {
        bail!("--packets must be at least 1");
    }
    if spec.rate.is_nan() || spec.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let max = max_frame_for_mtu(spec.mtu);
    if spec.sizes.max() > max {
        bail!(
            "frame size {} does not fit the tunnel: with MTU {} the largest user frame is {max} bytes (the MSM would fragment or answer ICMP)",
            spec.sizes.max(),
            spec.mtu
        );
    }
    Ok(())
}

/// Downlink: UDP from the correspondent to home addresses drawn uniformly over the
/// population, into the MSM's Internet port.
pub fn downlink(
    pop: &Population,
    net: &Net,
    spec: &DataSpec,
    seed: u64,
    out: &mut dyn Sink,
) -> Result<Written> {
    data(pop, net, spec, seed, out, false)
}

/// Uplink: IP-in-IP from each drawn subscriber's care-of address to IPmsm-wlan, inner UDP
/// from its home address to the correspondent.
pub fn uplink(
    pop: &Population,
    net: &Net,
    spec: &DataSpec,
    seed: u64,
    out: &mut dyn Sink,
) -> Result<Written> {
    data(pop, net, spec, seed, out, true)
}

fn data(
    pop: &Population,
    net: &Net,
    spec: &DataSpec,
    seed: u64,
    out: &mut dyn Sink,
    up: bool,
) -> Result<Written> {
    check_data(spec)?;
    // A stream of its own, so the population is the same whatever is generated.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ if up { 0x5550 } else { 0xd0d0 });
    let wi = WeightedIndex::new(spec.sizes.0.iter().map(|x| x.1))?;
    let mut w = Written {
        per_size: spec.sizes.0.iter().map(|x| (x.0, 0)).collect(),
        ..Written::default()
    };
    let t0 = Duration::from_secs(spec.time_unix);
    if net.arp {
        out.frame(
            t0,
            &frames::arp_request(net.peer_mac, net.gateway, net.msm_wlan)?,
        )?;
        w.arp_frames += 1;
    }
    for seq in 0..spec.packets {
        let s: &Subscriber = &pop.subs[rng.gen_range(0..pop.subs.len())];
        let k = wi.sample(&mut rng);
        let size = spec.sizes.0[k].0;
        w.per_size[k].1 += 1;
        let payload = frames::data_payload(size, seq)?;
        let sport: u16 = rng.gen_range(49152..=65535);
        let (src, dst, tunnel) = if up {
            let t = Tunnel {
                src: s.coa,
                dst: net.msm_wlan,
                ttl: net.ttl,
                ident: seq as u16,
            };
            (s.home, net.correspondent, Some(t))
        } else {
            (net.correspondent, s.home, None)
        };
        let u = Udp {
            src,
            dst,
            sport,
            dport: spec.dport,
            ident: seq as u16,
            ttl: net.ttl,
            df: true,
            payload: &payload,
        };
        out.frame(
            ts_at(spec.time_unix, seq, spec.rate),
            &frames::udp_frame(net.l2(), tunnel, &u)?,
        )?;
    }
    w.frames = w.arp_frames + spec.packets;
    Ok(w)
}

/// The care-of address subscriber `i` registers in round `r` (a handover per round).
pub fn coa_for(pop: &Population, i: usize, r: u32) -> u32 {
    pop.subs[(i + r as usize) % pop.subs.len()].coa
}

/// The Identification of request `j` (0-based over the whole storm) of round `r`.
pub fn identification(spec: &RegSpec, j: u64, r: u32) -> u64 {
    let ts = ts_at(spec.time_unix, j, spec.rate);
    make_identification(ntp_seconds(UNIX_EPOCH + ts), r + 1)
}

/// A registration storm: every subscriber sends a Registration Request per round.
pub fn registrations(
    pop: &Population,
    net: &Net,
    spec: &RegSpec,
    seed: u64,
    out: &mut dyn Sink,
) -> Result<Written> {
    if spec.rate.is_nan() || spec.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    if spec.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4e67);
    let mut w = Written::default();
    if net.arp {
        let target = if spec.path == RegPath::Wwan {
            net.msm_gprs
        } else {
            net.msm_wlan
        };
        let t0 = Duration::from_secs(spec.time_unix);
        out.frame(t0, &frames::arp_request(net.peer_mac, net.gateway, target)?)?;
        w.arp_frames += 1;
    }
    let mut j = 0u64;
    let mut buf = vec![0u8; 256];
    for r in 0..spec.rounds {
        for (i, s) in pop.subs.iter().enumerate() {
            let ident = identification(spec, j, r);
            let secs = (ident >> 32) as u32;
            w.ident_ntp = Some(match w.ident_ntp {
                None => (secs, secs),
                Some((a, _)) => (a, secs),
            });
            let care_of = coa_for(pop, i, r);
            let nai = s.msisdn.to_string();
            let n = RequestBuilder {
                lifetime: spec.lifetime,
                home: Ipv4Addr::from(s.home),
                home_agent: Ipv4Addr::from(net.msm_gprs),
                care_of: Ipv4Addr::from(care_of),
                identification: ident,
                nai: &nai,
                spi: s.spi,
                key: &s.key,
            }
            .emit(&mut buf)
            .map_err(|e| anyhow::anyhow!("building request: {e}"))?;
            let sport: u16 = rng.gen_range(49152..=65535);
            let (src, dst, tunnel) = match spec.path {
                RegPath::Direct => (care_of, net.msm_wlan, None),
                RegPath::Wwan => (s.home, net.msm_gprs, None),
                RegPath::Tunnel => (
                    s.home,
                    net.msm_gprs,
                    Some(Tunnel {
                        src: care_of,
                        dst: net.msm_wlan,
                        ttl: net.ttl,
                        ident: j as u16,
                    }),
                ),
            };
            let u = Udp {
                src,
                dst,
                sport,
                dport: MIP_PORT,
                ident: j as u16,
                ttl: net.ttl,
                df: false,
                payload: &buf[..n],
            };
            out.frame(
                ts_at(spec.time_unix, j, spec.rate),
                &frames::udp_frame(net.l2(), tunnel, &u)?,
            )?;
            j += 1;
        }
    }
    w.frames = w.arp_frames + j;
    Ok(w)
}

/// Writes the subscriber file (`MSISDN HOME SPI KEY_HEX`, `control.subscribers`).
pub fn write_subscribers(path: &Path, pop: &Population, header: &str) -> Result<()> {
    let mut f = BufWriter::new(File::create(path).with_context(|| path.display().to_string())?);
    writeln!(f, "# {header}")?;
    writeln!(f, "# MSISDN HOME SPI KEY_HEX (msm control.subscribers)")?;
    for s in &pop.subs {
        writeln!(
            f,
            "{} {} {} {}",
            s.msisdn,
            Ipv4Addr::from(s.home),
            s.spi,
            hex(&s.key)
        )?;
    }
    f.flush()?;
    Ok(())
}

/// Writes a bindings file (`HOME CARE_OF MSISDN`, `table.preload`), care-of of round
/// `round` (0 = each subscriber's own).
pub fn write_bindings(path: &Path, pop: &Population, round: u32, header: &str) -> Result<()> {
    let mut f = BufWriter::new(File::create(path).with_context(|| path.display().to_string())?);
    writeln!(f, "# {header}")?;
    writeln!(f, "# HOME CARE_OF MSISDN (msm table.preload)")?;
    for (i, s) in pop.subs.iter().enumerate() {
        writeln!(
            f,
            "{} {} {}",
            Ipv4Addr::from(s.home),
            Ipv4Addr::from(coa_for(pop, i, round)),
            s.msisdn
        )?;
    }
    f.flush()?;
    Ok(())
}

/// What was generated, for the replay scripts, `msm-pcapgen verify` and humans.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// `downlink`, `uplink` or `registrations`.
    pub kind: String,
    /// The generator's version.
    pub generator: String,
    /// The command line.
    pub command: Vec<String>,
    /// The pcap (file name in the same directory).
    pub pcap: String,
    /// Subscriber file (file name).
    pub subscribers_file: String,
    /// Bindings to preload (data workloads) or expected after the storm (registrations).
    pub bindings_file: String,
    /// Frames in the pcap, ARP included.
    pub frames: u64,
    /// ARP frames (first in the pcap).
    pub arp_frames: u64,
    /// Data packets or registration requests.
    pub packets: u64,
    /// Subscribers.
    pub subscribers: usize,
    /// Seed.
    pub seed: u64,
    /// Destination MAC of every frame (the MSM's port).
    pub msm_mac: String,
    /// Source MAC (the generator, as the MSM's gateway).
    pub peer_mac: String,
    /// IPmsm-gprs.
    pub msm_gprs: Ipv4Addr,
    /// IPmsm-wlan.
    pub msm_wlan: Ipv4Addr,
    /// Gateway IP played by the generator.
    pub gateway: Ipv4Addr,
    /// Correspondent.
    pub correspondent: Ipv4Addr,
    /// TTL of the generated packets.
    pub ttl: u8,
    /// Home pool the homes were drawn from.
    pub home_pool: String,
    /// Care-of pool.
    pub coa_pool: String,
    /// Unix time of the first frame.
    pub time_unix: u64,
    /// Data: sizes and how many frames of each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames_per_size: Vec<(usize, u64)>,
    /// Data: UDP destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// Registrations: path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<RegPath>,
    /// Registrations: lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u16>,
    /// Registrations: rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u32>,
    /// Registrations: the pcap is accepted (code 0) only if replayed between these Unix
    /// times (first Identification - window .. last Identification + window), and only
    /// once (Identifications must increase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_unix: Option<(u64, u64)>,
    /// What the MSM should do with it.
    pub expect: String,
}

/// File name of the manifest of workload `kind`.
pub fn manifest_name(kind: &str) -> String {
    format!("manifest-{kind}.json")
}

/// Writes a manifest.
pub fn write_manifest(path: &Path, m: &Manifest) -> Result<()> {
    let mut f = File::create(path).with_context(|| path.display().to_string())?;
    serde_json::to_writer_pretty(&mut f, m)?;
    f.write_all(b"\n")?;
    Ok(())
}

/// Reads a manifest.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let f = File::open(path).with_context(|| path.display().to_string())?;
    serde_json::from_reader(f).with_context(|| format!("parse {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PopulationSpec, Prefix};
    use msm_mip::{check_replay, parse_request, verify_mn_ha};
    use msm_wire::{ethernet, ipv4, EthernetFrame, Ipv4Packet, UdpPacket};

    pub(crate) fn pop(n: usize) -> Population {
        Population::generate(&PopulationSpec {
            n,
            seed: 3,
            home_pool: "100.64.0.0/16".parse::<Prefix>().unwrap(),
            coa_pool: "198.18.0.0/15".parse().unwrap(),
            msisdn_base: 491_500_000_000,
            spi: 256,
            exclude: vec![],
        })
        .unwrap()
    }

    pub(crate) fn net() -> Net {
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

    fn dspec(sizes: &str, packets: u64) -> DataSpec {
        DataSpec {
            packets,
            sizes: SizeMix::parse(sizes).unwrap(),
            dport: 9,
            rate: 1e6,
            mtu: 1500,
            time_unix: 1_800_000_000,
        }
    }

    /// Parses an IPv4 packet, checks its header checksum and (for UDP) the UDP checksum
    /// and lengths, returns (packet, UDP payload).
    fn ip_udp(ip: &[u8]) -> (Ipv4Packet<&[u8]>, &[u8]) {
        let p = Ipv4Packet::new_checked(ip).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.protocol(), ipv4::PROTO_UDP);
        let u = UdpPacket::new_checked(p.payload()).unwrap();
        assert_eq!(usize::from(u.len()), p.payload().len());
        assert_ne!(u.checksum(), 0);
        assert!(u.verify_checksum(p.src_u32(), p.dst_u32()));
        let pl = &ip[p.header_len() + 8..usize::from(p.total_len())];
        (p, pl)
    }

    #[test]
    fn downlink_frames_parse_and_cover_the_population() {
        let p = pop(50);
        let n = net();
        let mut out = Vec::new();
        let w = downlink(&p, &n, &dspec("mix", 3000), 3, &mut out).unwrap();
        assert_eq!(w.frames, 3001);
        assert_eq!(out.len(), 3001);
        assert_eq!(w.per_size.iter().map(|x| x.1).sum::<u64>(), 3000);
        // mix = 7:4:1: every size present, 64 the most frequent.
        assert!(w.per_size.iter().all(|x| x.1 > 0));
        assert!(w.per_size[0].1 > w.per_size[1].1 && w.per_size[1].1 > w.per_size[2].1);
        let e = EthernetFrame::new_checked(&out[0].1[..]).unwrap();
        assert_eq!(e.ethertype(), ethernet::ETHERTYPE_ARP);
        let mut hit = std::collections::HashSet::new();
        for (seq, (ts, f)) in out[1..].iter().enumerate() {
            let e = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_eq!((e.dst(), e.src()), (n.msm_mac, n.peer_mac));
            let (ip, pl) = ip_udp(e.payload());
            assert_eq!(ip.src_u32(), n.correspondent);
            assert!(p.subs.iter().any(|s| s.home == ip.dst_u32()));
            hit.insert(ip.dst_u32());
            assert_eq!(frames::payload_seq(pl), Some(seq as u64));
            assert!([64, 512, 1400].contains(&(f.len() + 4)));
            assert_eq!(
                *ts,
                Duration::from_secs(1_800_000_000) + Duration::from_micros(seq as u64)
            );
        }
        assert_eq!(hit.len(), 50, "uniform draws over 50 homes hit them all");
        // Deterministic.
        let mut again = Vec::new();
        downlink(&p, &n, &dspec("mix", 3000), 3, &mut again).unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn uplink_frames_are_tunnelled_from_the_matching_care_of() {
        let p = pop(20);
        let mut n = net();
        n.arp = false;
        let mut out = Vec::new();
        let w = uplink(&p, &n, &dspec("512", 500), 3, &mut out).unwrap();
        assert_eq!((w.frames, w.arp_frames), (500, 0));
        for (seq, (_, f)) in out.iter().enumerate() {
            assert_eq!(f.len() + 4, 512 + 20);
            let e = EthernetFrame::new_checked(&f[..]).unwrap();
            let o = Ipv4Packet::new_checked(e.payload()).unwrap();
            assert!(o.verify_checksum());
            assert_eq!(o.protocol(), ipv4::PROTO_IPIP);
            assert_eq!(o.dst_u32(), n.msm_wlan);
            assert_eq!(usize::from(o.total_len()), e.payload().len());
            let (inner, pl) = ip_udp(o.payload());
            let s = p.subs.iter().find(|s| s.home == inner.src_u32()).unwrap();
            assert_eq!(o.src_u32(), s.coa, "outer source = the home's care-of");
            assert_eq!(inner.dst_u32(), n.correspondent);
            assert_eq!(frames::payload_seq(pl), Some(seq as u64));
        }
    }

    #[test]
    fn oversize_frames_are_refused() {
        let p = pop(2);
        let mut v = Vec::new();
        assert!(downlink(&p, &net(), &dspec("1499", 1), 3, &mut v).is_err());
        assert!(downlink(&p, &net(), &dspec("1498", 1), 3, &mut v).is_ok());
        assert!(SizeMix::parse("63").is_err());
        assert!(SizeMix::parse("64:0").is_err());
        assert_eq!(
            SizeMix::parse("64,1400:3").unwrap(),
            SizeMix(vec![(64, 1), (1400, 3)])
        );
    }

    fn rspec(path: RegPath, rounds: u32) -> RegSpec {
        RegSpec {
            path,
            lifetime: 600,
            time_unix: 1_800_000_000,
            rate: 100.0,
            rounds,
            window_s: 7,
        }
    }

    #[test]
    fn registration_requests_authenticate_and_pass_the_replay_check() {
        let p = pop(300);
        let n = net();
        for path in [RegPath::Direct, RegPath::Wwan, RegPath::Tunnel] {
            let spec = rspec(path, 2);
            let mut out = Vec::new();
            let w = registrations(&p, &n, &spec, 3, &mut out).unwrap();
            assert_eq!(w.frames, 601);
            let first = ntp_seconds(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
            // 600 requests at 100/s: 6 seconds of Identifications.
            assert_eq!(w.ident_ntp, Some((first, first + 5)));
            let mut last: Vec<Option<u64>> = vec![None; 300];
            for (j, (ts, f)) in out[1..].iter().enumerate() {
                let (i, r) = (j % 300, (j / 300) as u32);
                let s = &p.subs[i];
                let e = EthernetFrame::new_checked(&f[..]).unwrap();
                let mut ip = e.payload();
                if path == RegPath::Tunnel {
                    let o = Ipv4Packet::new_checked(ip).unwrap();
                    assert!(o.verify_checksum());
                    assert_eq!(o.protocol(), ipv4::PROTO_IPIP);
                    assert_eq!((o.src_u32(), o.dst_u32()), (coa_for(&p, i, r), n.msm_wlan));
                    ip = &e.payload()[20..];
                }
                let (pkt, payload) = ip_udp(ip);
                let want = match path {
                    RegPath::Direct => (coa_for(&p, i, r), n.msm_wlan),
                    _ => (s.home, n.msm_gprs),
                };
                assert_eq!((pkt.src_u32(), pkt.dst_u32()), want);
                assert_eq!(
                    UdpPacket::new_checked(pkt.payload()).unwrap().dst_port(),
                    434
                );
                let req = parse_request(payload).unwrap();
                assert_eq!(req.msisdn(), Some(s.msisdn));
                assert_eq!(u32::from(req.home), s.home);
                assert_eq!(u32::from(req.care_of), coa_for(&p, i, r));
                assert_eq!(u32::from(req.home_agent), n.msm_gprs);
                assert_eq!((req.lifetime, req.spi), (600, 256));
                assert!(verify_mn_ha(&req, &s.key));
                assert!(!verify_mn_ha(&req, &p.subs[(i + 1) % 300].key));
                // The MSM's clock at the moment the frame is replayed at the pcap's pace.
                let now = ntp_seconds(UNIX_EPOCH + *ts);
                check_replay(req.identification, now, 7, last[i]).unwrap();
                // Replayed 8 s late: 133.
                assert!(check_replay(req.identification, now + 8, 7, None).is_err());
                last[i] = Some(req.identification);
            }
        }
    }

    #[test]
    fn wwan_path_arp_targets_msm_gprs() {
        let p = pop(3);
        let mut n = net();
        n.gateway = u32::from(Ipv4Addr::new(192, 0, 2, 130));
        let mut out = Vec::new();
        registrations(&p, &n, &rspec(RegPath::Wwan, 1), 3, &mut out).unwrap();
        let e = EthernetFrame::new_checked(&out[0].1[..]).unwrap();
        let a = msm_wire::ArpPacket::new_checked(e.payload()).unwrap();
        assert_eq!((a.spa_u32(), a.tpa_u32()), (n.gateway, n.msm_gprs));
    }
}
