//! The worker's per-packet work without DPDK: the classify + prefetch pass and the process
//! pass of `worker.rs`, over bursts of 32 frames in plain buffers, against a real binding
//! table (`msm_table`) of N bindings with uniformly random destinations. For stable
//! per-packet figures that the noisy end-to-end benchmark cannot give: run it under
//! `valgrind --tool=callgrind --toggle-collect='*pipebench*measure*'` for instructions per
//! packet (Ir of `measure` / packets), or natively for the minimum TSC ticks per packet.
//!
//! `cargo run --release --example pipebench -- [downlink|uplink] [BINDINGS] [PACKETS] [ahead]`
//! (defaults: downlink, 1000, 1048576; `ahead`: process each burst one burst later, after
//! the next one is classified and prefetched, as the worker does under load). Not a test: it prints, it asserts only that every
//! packet was forwarded.

use msm::config::{Prefix, Role};
use msm::dataplane::classify::{classify_into, Classified};
use msm::dataplane::counters::Counters;
use msm::dataplane::neigh::Neighbours;
use msm::dataplane::pipeline::{
    self, Action, Bindings, Lookup, NextHop, PacketBuf, Plane, PortInfo, RateLimit, WorkerLocal,
};
use msm_table::{HashSeed, Rcu, TableConfig, TableView, TableWriter};

const BURST: usize = 32;
const ETH: usize = 14;
const HEADROOM: usize = 128;
const INET_IP: u32 = 0xc633_6401;
const INET_GW: u32 = 0xc633_6402;
const WWAN_IP: u32 = 0xc000_0281;
const WWAN_GW: u32 = 0xc000_0282;
const SERVER: u32 = 0xcb00_710a;
const PORT_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];

/// A fixed buffer (no allocation per packet), reset from a frame before each use.
struct Buf {
    b: [u8; 256],
    start: usize,
    end: usize,
}

impl Buf {
    fn reset(&mut self, frame: &[u8]) {
        self.b[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        self.start = HEADROOM;
        self.end = HEADROOM + frame.len();
    }
}

impl PacketBuf for Buf {
    fn data(&self) -> &[u8] {
        &self.b[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.b[self.start..self.end]
    }
    fn prepend(&mut self, n: usize) -> bool {
        n <= self.start && {
            self.start -= n;
            true
        }
    }
    fn adj(&mut self, n: usize) -> bool {
        n <= self.end - self.start && {
            self.start += n;
            true
        }
    }
    fn trim(&mut self, n: usize) -> bool {
        n <= self.end - self.start && {
            self.end -= n;
            true
        }
    }
    fn append(&mut self, n: usize) -> bool {
        self.end + n <= self.b.len() && {
            self.end += n;
            true
        }
    }
}

struct View<'a>(TableView<'a>);
impl Bindings for View<'_> {
    #[inline(always)]
    fn lookup(&self, home: u32) -> Lookup {
        self.0.lookup(home)
    }
    #[inline(always)]
    fn prefetch(&self, home: u32) {
        self.0.prefetch(home)
    }
}

fn plane() -> Plane {
    let neigh = Neighbours::new(&[(0, WWAN_GW), (1, INET_GW)]);
    neigh.learn(0, WWAN_GW, [2, 0, 0, 0, 0, 1], 0);
    neigh.learn(1, INET_GW, [2, 0, 0, 0, 0, 2], 0);
    let port = |role, ip, mac| PortInfo {
        role,
        ip,
        mac,
        mtu: 1500,
    };
    Plane {
        ports: vec![
            port(Role::Wwan, WWAN_IP, [0x02, 0xaa, 0, 0, 0, 0]),
            port(Role::Internet, INET_IP, PORT_MAC),
        ],
        pools: vec![Prefix {
            addr: 0x0a00_0000,
            len: 8,
        }],
        msm_wlan: INET_IP,
        msm_gprs: WWAN_IP,
        to_internet: NextHop { port: 1, neigh: 1 },
        to_wwan: NextHop { port: 0, neigh: 0 },
        outer_ttl: 64,
        mss_max: Some(1440),
        neigh,
        standby: Default::default(),
    }
}

fn ip_header(out: &mut [u8], len: usize, proto: u8, src: u32, dst: u32) {
    out[..20].copy_from_slice(&[
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    out[12..16].copy_from_slice(&src.to_be_bytes());
    out[16..20].copy_from_slice(&dst.to_be_bytes());
    msm_wire::Ipv4Packet::new_unchecked(&mut out[..20]).fill_checksum();
}

/// A 64-byte (60 without FCS) downlink frame to `home`, or its uplink form (80 bytes)
/// from `coa`.
fn frame(uplink: bool, home: u32, coa: u32) -> Vec<u8> {
    let inner_len = 60 - ETH;
    let mut f = vec![0u8; if uplink { 80 } else { 60 }];
    f[..6].copy_from_slice(&PORT_MAC);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[8, 0]);
    let mut at = ETH;
    let (src, dst) = if uplink {
        (home, SERVER)
    } else {
        (SERVER, home)
    };
    if uplink {
        ip_header(&mut f[at..], inner_len + 20, 4, coa, INET_IP);
        at += 20;
    }
    ip_header(&mut f[at..], inner_len, 17, src, dst);
    let udp = at + 20;
    f[udp..udp + 2].copy_from_slice(&5000u16.to_be_bytes());
    f[udp + 2..udp + 4].copy_from_slice(&9u16.to_be_bytes());
    f[udp + 4..udp + 6].copy_from_slice(&((inner_len - 20) as u16).to_be_bytes());
    f
}

fn coa_of(home: u32) -> u32 {
    0xc612_0000 | (home & 0x1_ffff).max(1)
}

/// The classify + prefetch pass over one burst (a fresh copy of each frame first: what
/// the harness' rx callback writes).
#[inline(always)]
fn rx_classify(
    plane: &Plane,
    c: &Counters,
    view: &View<'_>,
    chunk: &[Vec<u8>],
    bufs: &mut [Buf; BURST],
    classes: &mut [Classified; BURST],
) {
    for (b, f) in bufs.iter_mut().zip(chunk) {
        b.reset(f);
    }
    for (b, cls) in bufs.iter().zip(classes.iter_mut()) {
        classify_into(cls, plane, c, 1, b.data());
        cls.prefetch(view);
    }
}

/// The process pass over one classified burst; the packets forwarded.
#[inline(always)]
fn process(
    plane: &Plane,
    local: &mut WorkerLocal,
    view: &View<'_>,
    bufs: &mut [Buf; BURST],
    classes: &[Classified; BURST],
) -> u64 {
    let mut sent = 0;
    for (b, cls) in bufs.iter_mut().zip(classes.iter()) {
        let a = pipeline::process(plane, local, view, b, cls);
        sent += u64::from(a == Action::Tx(1));
    }
    local.flush_counts();
    sent
}

/// The measured part: both passes over every burst (with `ahead`, one burst apart, as
/// the worker does under load). Not inlined, so that callgrind can collect exactly this
/// function (`--toggle-collect`).
#[inline(never)]
#[allow(clippy::too_many_arguments)] // a benchmark's one measured call: plain arguments
fn measure(
    plane: &Plane,
    local: &mut WorkerLocal,
    view: &View<'_>,
    frames: &[Vec<u8>],
    packets: usize,
    bufs: &mut [[Buf; BURST]; 2],
    classes: &mut [[Classified; BURST]; 2],
    ahead: bool,
) -> u64 {
    let c = local.counters;
    let mut sent = 0;
    let mut held = false;
    let mut flip = 0;
    for chunk in frames.chunks_exact(BURST).cycle().take(packets / BURST) {
        if !ahead {
            rx_classify(plane, c, view, chunk, &mut bufs[0], &mut classes[0]);
            sent += process(plane, local, view, &mut bufs[0], &classes[0]);
            continue;
        }
        let next = 1 - flip;
        rx_classify(plane, c, view, chunk, &mut bufs[next], &mut classes[next]);
        if held {
            sent += process(plane, local, view, &mut bufs[flip], &classes[flip]);
        }
        held = true;
        flip = next;
    }
    if held {
        sent += process(plane, local, view, &mut bufs[flip], &classes[flip]);
    }
    sent
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let uplink = args.first().is_some_and(|a| a == "uplink");
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let packets: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1 << 20);
    let packets = packets / BURST * BURST;
    let ahead = args.get(3).is_some_and(|a| a == "ahead");

    let (rcu, mut readers) = Rcu::new(1);
    // A fixed hash seed: which homes share a bucket (and so the scan's path) is the same
    // in every run, so callgrind's counts repeat exactly.
    let mut cfg = TableConfig::new(n);
    cfg.hash_seed = Some(HashSeed {
        mul: 0x9e37_79b9_7f4a_7c15,
        add: 0x2545_f491_4f6c_dd1d,
    });
    let mut writer = TableWriter::new(cfg, rcu).expect("table");
    // Distinct homes in 10.0.0.0/8 (a multiplicative walk, no RNG crate needed).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let homes: Vec<u32> = (0..n as u32)
        .map(|i| 0x0a00_0000 | (i.wrapping_mul(2_654_435_761 & 0x00ff_ffff) & 0x00ff_ffff))
        .collect();
    let mut homes = homes;
    homes.sort_unstable();
    homes.dedup();
    for &h in &homes {
        writer.upsert(h, Some(coa_of(h)), 0, 0).expect("upsert");
    }
    writer.publish();
    // At 1K bindings at most 4096 distinct frames (they stay in L2; the harness writes
    // each frame's headers in place too), cycled through for `packets` packets; above,
    // one frame per packet, so that the lookups spread over the whole table.
    let distinct = if homes.len() <= 4096 {
        packets.min(4096)
    } else {
        packets
    };
    let frames: Vec<Vec<u8>> = (0..distinct)
        .map(|_| {
            let h = homes[(next() % homes.len() as u64) as usize];
            frame(uplink, h, coa_of(h))
        })
        .collect();

    let plane = plane();
    let counters = Counters::default();
    let mut local = WorkerLocal::new(&plane, &counters, 0, RateLimit::new(100, 10, 1_000_000));
    let mut bufs: Box<[[Buf; BURST]; 2]> = Box::new(std::array::from_fn(|_| {
        std::array::from_fn(|_| Buf {
            b: [0; 256],
            start: HEADROOM,
            end: HEADROOM,
        })
    }));
    let mut classes = [[Classified::DROPPED; BURST]; 2];
    let handle = writer.handle();
    let reader = &mut readers[0];
    let guard = reader.begin();
    let view = View(handle.view(&guard));
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t0 = tsc();
        let sent = measure(
            &plane,
            &mut local,
            &view,
            &frames,
            packets,
            &mut bufs,
            &mut classes,
            ahead,
        );
        let ticks = (tsc() - t0) as f64 / packets as f64;
        assert_eq!(sent, packets as u64, "every packet forwarded");
        best = best.min(ticks);
    }
    println!(
        "pipebench {}{} bindings={} packets={} (x3 passes): min {:.1} TSC ticks/packet",
        if uplink { "uplink" } else { "downlink" },
        if ahead { " (one burst ahead)" } else { "" },
        homes.len(),
        packets,
        best
    );
}

fn tsc() -> u64 {
    msm_dpdk::rdtsc()
}
