//! `msm-pcapgen`: workload pcaps + provisioning files for the MSM (see lib.rs and
//! perf/README.md, "Traffic generators").

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use msm_pcapgen::gen::{
    self, manifest_name, DataSpec, Manifest, Net, PcapSink, RegPath, RegSpec, SizeMix, Written,
};
use msm_pcapgen::{verify, Mac, Population, PopulationSpec, Prefix};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// MAC DPDK's net_pcap gives port N: 02:70:63:61:70:0N ("pcap"). With dpdk-config/testbed.toml's
/// port order (wwan first, internet second) these are the MSM's two MACs under net_pcap.
const PCAP_WWAN_MAC: &str = "02:70:63:61:70:00";
const PCAP_INET_MAC: &str = "02:70:63:61:70:01";
/// Data workloads without --time: fixed (2026-01-01T00:00:00Z) so the files are
/// byte-for-byte reproducible; timestamps do not matter to the MSM there.
const DATA_EPOCH: u64 = 1_767_225_600;

#[derive(Parser)]
#[command(
    name = "msm-pcapgen",
    version,
    about = "Workload pcaps (downlink, reverse-tunnelled uplink, registration storms) and the matching MSM provisioning files"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// UDP from a correspondent to N home addresses (drawn uniformly), into the Internet port.
    /// Writes downlink.pcap, subscribers.txt, bindings.txt (preload), manifest-downlink.json.
    Downlink {
        #[command(flatten)]
        c: Common,
        #[command(flatten)]
        d: DataArgs,
    },
    /// IP-in-IP from N care-of addresses to IPmsm-wlan carrying UDP from the matching home
    /// address. Writes uplink.pcap, subscribers.txt, bindings.txt (preload), manifest-uplink.json.
    Uplink {
        #[command(flatten)]
        c: Common,
        #[command(flatten)]
        d: DataArgs,
    },
    /// A registration storm: N subscribers register their care-of addresses (UDP 434) with
    /// valid MN-HA authenticators. Writes registrations.pcap, subscribers.txt,
    /// bindings-after.txt (what the MSM should hold afterwards), manifest-registrations.json.
    /// The Identification timestamps go stale: replay within the window printed.
    Registrations {
        #[command(flatten)]
        c: Common,
        #[command(flatten)]
        r: RegArgs,
    },
    /// Check the pcaps the MSM wrote (net_pcap tx_pcap, or a capture of its egress) against
    /// a generated workload; exit 1 if anything is missing or wrong.
    Verify {
        /// The directory the workload was generated into.
        #[arg(long)]
        dir: PathBuf,
        /// downlink | uplink | registrations
        #[arg(long)]
        kind: String,
        /// Output pcaps (all ports / queues of the MSM).
        #[arg(required = true)]
        outputs: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct Common {
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
    /// Number of subscribers (distinct home and care-of addresses).
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Seed: same seed and parameters, same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Home addresses are drawn from this prefix (one of the MSM's [home] pools).
    #[arg(long, default_value = "100.64.0.0/16")]
    home_pool: Prefix,
    /// Care-of addresses are drawn from this prefix (outside every home pool).
    #[arg(long, default_value = "198.18.0.0/15")]
    coa_pool: Prefix,
    /// MSISDN of the first subscriber (then +1 each).
    #[arg(long, default_value_t = 491_500_000_000)]
    msisdn_base: u64,
    /// SPI of every subscriber (>= 256: HMAC-SHA-256).
    #[arg(long, default_value_t = 256)]
    spi: u32,
    /// Destination MAC: the MSM port the frames enter. Default: net_pcap's MAC of the
    /// internet port (02:70:63:61:70:01), or of the wwan port (…:00) for --path wwan.
    #[arg(long)]
    msm_mac: Option<Mac>,
    /// Source MAC: the generator's port, which plays the MSM's gateway.
    #[arg(long, default_value = "02:00:00:00:00:02")]
    peer_mac: Mac,
    /// IPmsm-gprs (the home agent address; [[port]] address of the wwan port).
    #[arg(long, default_value = "192.0.2.129")]
    msm_gprs: Ipv4Addr,
    /// IPmsm-wlan (tunnel end point; [[port]] address of the internet port).
    #[arg(long, default_value = "198.51.100.1")]
    msm_wlan: Ipv4Addr,
    /// The gateway the generator plays (sender of the leading ARP request). Default: the
    /// internet port's gateway 198.51.100.2, or the GGSN 192.0.2.130 for --path wwan.
    #[arg(long)]
    gateway: Option<Ipv4Addr>,
    /// The correspondent host on the Internet.
    #[arg(long, default_value = "203.0.113.10")]
    correspondent: Ipv4Addr,
    /// TTL of generated packets.
    #[arg(long, default_value_t = 64)]
    ttl: u8,
    /// Do not start the pcap with an ARP request from the gateway to the MSM (use when the
    /// tester answers the MSM's ARP itself, or a real router does).
    #[arg(long)]
    no_arp: bool,
    /// Unix time (s) of the first frame. Registrations: default now (the Identification
    /// timestamps must be within the MSM's replay window when replayed). Data: default
    /// 2026-01-01T00:00:00Z, so the files are reproducible.
    #[arg(long)]
    time: Option<u64>,
    /// Seconds added to --time (or now), e.g. 60 to generate a storm for a minute from now.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    time_offset: i64,
}

#[derive(Args)]
struct DataArgs {
    /// Data packets (plus the leading ARP frame).
    #[arg(long, default_value_t = 65536)]
    packets: u64,
    /// User frame size with FCS (64, 512, 1400...), `mix` (64:7,512:4,1400:1) or
    /// SIZE:WEIGHT,... The tunnelled side is 20 bytes longer.
    #[arg(long, default_value = "64")]
    size: String,
    /// UDP destination port.
    #[arg(long, default_value_t = 9)]
    dport: u16,
    /// Packets per second of the pcap timestamps (replay tools that honour timing).
    #[arg(long, default_value_t = 1e6)]
    rate: f64,
    /// IP MTU of the MSM's Internet link: refuse sizes whose tunnelled form exceeds it.
    #[arg(long, default_value_t = 1500)]
    mtu: usize,
}

#[derive(Args)]
struct RegArgs {
    /// How requests reach the MSM: direct (care-of -> IPmsm-wlan:434, Internet port), wwan
    /// (home -> IPmsm-gprs:434, WWAN port), tunnel (reverse-tunnelled, Internet port).
    #[arg(long, value_enum, default_value_t = RegPath::Direct)]
    path: RegPath,
    /// Requested lifetime (s); the MSM grants at most its max_lifetime_s.
    #[arg(long, default_value_t = 600)]
    lifetime: u16,
    /// Requests per second: pcap timestamps and Identification seconds advance at this rate.
    #[arg(long, default_value_t = 10000.0)]
    rate: f64,
    /// Registrations per subscriber; round r moves subscriber i to the care-of address of
    /// subscriber i+r (the MSM limits each subscriber to per_subscriber_per_sec, default 10/s).
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// The MSM's replay_window_s, for the validity interval printed and in the manifest.
    #[arg(long, default_value_t = 7)]
    window: u32,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn start_time(c: &Common, default: u64) -> Result<u64> {
    let t = c.time.unwrap_or(default) as i64 + c.time_offset;
    if t < 0 {
        bail!("--time + --time-offset is before 1970");
    }
    Ok(t as u64)
}

fn setup(c: &Common, wwan: bool) -> Result<(Population, Net)> {
    let gateway = c.gateway.unwrap_or(if wwan {
        Ipv4Addr::new(192, 0, 2, 130)
    } else {
        Ipv4Addr::new(198, 51, 100, 2)
    });
    let msm_mac = match c.msm_mac {
        Some(m) => m,
        None => (if wwan { PCAP_WWAN_MAC } else { PCAP_INET_MAC }).parse()?,
    };
    let net = Net {
        msm_mac: msm_mac.0,
        peer_mac: c.peer_mac.0,
        msm_gprs: u32::from(c.msm_gprs),
        msm_wlan: u32::from(c.msm_wlan),
        gateway: u32::from(gateway),
        correspondent: u32::from(c.correspondent),
        ttl: c.ttl,
        arp: !c.no_arp,
    };
    if c.ttl < 2 {
        bail!("--ttl must be at least 2 (the MSM decrements it)");
    }
    for (name, a) in [
        ("msm-gprs", c.msm_gprs),
        ("msm-wlan", c.msm_wlan),
        ("correspondent", c.correspondent),
    ] {
        if c.home_pool.contains(u32::from(a)) {
            bail!("--{name} {a} is inside the home pool {}", c.home_pool);
        }
    }
    let pop = Population::generate(&PopulationSpec {
        n: c.subscribers,
        seed: c.seed,
        home_pool: c.home_pool,
        coa_pool: c.coa_pool,
        msisdn_base: c.msisdn_base,
        spi: c.spi,
        exclude: vec![
            net.msm_gprs,
            net.msm_wlan,
            net.gateway,
            net.correspondent,
            u32::from(Ipv4Addr::new(192, 0, 2, 130)),
            u32::from(Ipv4Addr::new(198, 51, 100, 2)),
        ],
    })?;
    Ok((pop, net))
}

fn base_manifest(kind: &str, c: &Common, net: &Net, pop: &Population, w: &Written) -> Manifest {
    Manifest {
        kind: kind.into(),
        generator: format!("msm-pcapgen {}", env!("CARGO_PKG_VERSION")),
        command: std::env::args().collect(),
        pcap: format!("{kind}.pcap"),
        subscribers_file: "subscribers.txt".into(),
        bindings_file: if kind == "registrations" {
            "bindings-after.txt".into()
        } else {
            "bindings.txt".into()
        },
        frames: w.frames,
        arp_frames: w.arp_frames,
        packets: w.frames - w.arp_frames,
        subscribers: pop.subs.len(),
        seed: c.seed,
        msm_mac: Mac(net.msm_mac).to_string(),
        peer_mac: Mac(net.peer_mac).to_string(),
        msm_gprs: c.msm_gprs,
        msm_wlan: c.msm_wlan,
        gateway: Ipv4Addr::from(net.gateway),
        correspondent: c.correspondent,
        ttl: c.ttl,
        home_pool: c.home_pool.to_string(),
        coa_pool: c.coa_pool.to_string(),
        time_unix: 0,
        frames_per_size: Vec::new(),
        dport: None,
        path: None,
        lifetime: None,
        rounds: None,
        valid_unix: None,
        expect: String::new(),
    }
}

fn data_cmd(c: Common, d: DataArgs, up: bool) -> Result<()> {
    let kind = if up { "uplink" } else { "downlink" };
    std::fs::create_dir_all(&c.out)?;
    let (pop, net) = setup(&c, false)?;
    let spec = DataSpec {
        packets: d.packets,
        sizes: SizeMix::parse(&d.size)?,
        dport: d.dport,
        rate: d.rate,
        mtu: d.mtu,
        time_unix: start_time(&c, DATA_EPOCH)?,
    };
    let pcap = c.out.join(format!("{kind}.pcap"));
    let mut sink = PcapSink::create(&pcap)?;
    let w = if up {
        gen::uplink(&pop, &net, &spec, c.seed, &mut sink)?
    } else {
        gen::downlink(&pop, &net, &spec, c.seed, &mut sink)?
    };
    sink.finish()?;
    let header = format!(
        "msm-pcapgen: {} subscribers, seed {}, home pool {}",
        pop.subs.len(),
        c.seed,
        c.home_pool
    );
    gen::write_subscribers(&c.out.join("subscribers.txt"), &pop, &header)?;
    gen::write_bindings(&c.out.join("bindings.txt"), &pop, 0, &header)?;
    let mut m = base_manifest(kind, &c, &net, &pop, &w);
    m.time_unix = spec.time_unix;
    m.frames_per_size = w.per_size.clone();
    m.dport = Some(d.dport);
    m.expect = if up {
        format!(
            "each of the {} IP-in-IP packets (care-of -> {}) decapsulated: the inner UDP {{home}} -> {} with TTL - 1, out of the internet port toward the gateway (MSM MAC -> {})",
            m.packets, c.msm_wlan, c.correspondent, m.peer_mac
        )
    } else {
        format!(
            "each of the {} UDP packets to a home address encapsulated {} -> the care-of address of bindings.txt (inner TTL - 1), out of the internet port toward the gateway (MSM MAC -> {})",
            m.packets, c.msm_wlan, m.peer_mac
        )
    };
    gen::write_manifest(&c.out.join(manifest_name(kind)), &m)?;
    println!(
        "{}: {} frames ({} ARP + {} {kind}), sizes {:?}; provisioning: {} ({} subscribers), {} (preload); manifest: {}",
        pcap.display(),
        w.frames,
        w.arp_frames,
        m.packets,
        w.per_size,
        c.out.join("subscribers.txt").display(),
        pop.subs.len(),
        c.out.join("bindings.txt").display(),
        c.out.join(manifest_name(kind)).display()
    );
    Ok(())
}

fn reg_cmd(c: Common, r: RegArgs) -> Result<()> {
    let kind = "registrations";
    std::fs::create_dir_all(&c.out)?;
    let (pop, net) = setup(&c, r.path == RegPath::Wwan)?;
    let spec = RegSpec {
        path: r.path,
        lifetime: r.lifetime,
        time_unix: start_time(&c, now_unix())?,
        rate: r.rate,
        rounds: r.rounds,
        window_s: r.window,
    };
    let pcap = c.out.join(format!("{kind}.pcap"));
    let mut sink = PcapSink::create(&pcap)?;
    let w = gen::registrations(&pop, &net, &spec, c.seed, &mut sink)?;
    sink.finish()?;
    let header = format!(
        "msm-pcapgen: {} subscribers, seed {}, home pool {}",
        pop.subs.len(),
        c.seed,
        c.home_pool
    );
    gen::write_subscribers(&c.out.join("subscribers.txt"), &pop, &header)?;
    gen::write_bindings(
        &c.out.join("bindings-after.txt"),
        &pop,
        spec.rounds - 1,
        &format!("{header}; the bindings the MSM holds after the storm (not a preload)"),
    )?;
    let (first, last) = w.ident_ntp.unwrap_or((0, 0));
    let ntp_to_unix = |s: u32| u64::from(s).wrapping_sub(msm_mip::NTP_UNIX_OFFSET);
    let valid = (
        ntp_to_unix(first).saturating_sub(u64::from(r.window)),
        ntp_to_unix(last) + u64::from(r.window),
    );
    let mut m = base_manifest(kind, &c, &net, &pop, &w);
    m.time_unix = spec.time_unix;
    m.path = Some(r.path);
    m.lifetime = Some(r.lifetime);
    m.rounds = Some(r.rounds);
    m.valid_unix = Some(valid);
    m.expect = format!(
        "one Registration Reply with code 0 per request ({}), authenticated with the subscriber's key, sent back the way the request came; then the bindings of bindings-after.txt. Only if replayed once, between Unix {} and {} (Identification timestamps, replay_window_s {})",
        m.packets, valid.0, valid.1, r.window
    );
    gen::write_manifest(&c.out.join(manifest_name(kind)), &m)?;
    let now = now_unix();
    println!(
        "{}: {} frames ({} ARP + {} requests, path {:?}, {} round(s)); provisioning: {} ({} subscribers); expected bindings: {}; manifest: {}",
        pcap.display(),
        w.frames,
        w.arp_frames,
        m.packets,
        r.path,
        r.rounds,
        c.out.join("subscribers.txt").display(),
        pop.subs.len(),
        c.out.join("bindings-after.txt").display(),
        c.out.join(manifest_name(kind)).display()
    );
    println!(
        "replay window: the MSM accepts these requests only between Unix {} and {} ({}s from now until {}s from now), once; regenerate after that",
        valid.0,
        valid.1,
        valid.0 as i64 - now as i64,
        valid.1 as i64 - now as i64
    );
    Ok(())
}

fn verify_cmd(dir: &Path, kind: &str, outputs: &[PathBuf]) -> Result<bool> {
    let r = verify::verify(dir, kind, outputs)?;
    println!("{}", r.render());
    println!("{}", if r.ok() { "PASS" } else { "FAIL" });
    Ok(r.ok())
}

fn main() -> ExitCode {
    let res = match Cli::parse().cmd {
        Cmd::Downlink { c, d } => data_cmd(c, d, false).map(|_| true),
        Cmd::Uplink { c, d } => data_cmd(c, d, true).map(|_| true),
        Cmd::Registrations { c, r } => reg_cmd(c, r).map(|_| true),
        Cmd::Verify { dir, kind, outputs } => verify_cmd(&dir, &kind, &outputs),
    };
    match res {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("msm-pcapgen: {e:#}");
            ExitCode::from(2)
        }
    }
}
