//! Target `dataplane`: `process_frame` (classify + process) on an arbitrary frame, then
//! `fragment` when the verdict is to fragment, with a small binding table.
//!
//! Input: one control byte, then the frame.
//! * bit 0: ingress port (0 = WWAN, 1 = Internet);
//! * bits 1-2: egress MTU of both ports (1500, 1280, 576, 9000: the range the config allows);
//! * bit 3: MSS clamping off;
//! * bits 4-6: fragment buffers available (0 = unlimited, else that number minus one);
//! * bit 7: the next hops' MACs are unknown (not learned).
//!
//! Properties: a `Tx` or `Fragment` names an existing port; every fragment fits the
//! egress MTU and the number emitted is what `fragment` returns.

use msm::config::{Prefix, Role};
use msm::dataplane::counters::Counters;
use msm::dataplane::neigh::Neighbours;
use msm::dataplane::pipeline::*;

pub const WWAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const INET_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const GGSN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
pub const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xbb];
pub const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xcc];

/// `IPmsm-gprs` (192.0.2.129), on port 0 (WWAN).
pub const MSM_GPRS: u32 = 0xc000_0281;
/// The GGSN (192.0.2.130).
pub const GGSN: u32 = 0xc000_0282;
/// `IPmsm-wlan` (198.51.100.1), on port 1 (Internet).
pub const MSM_WLAN: u32 = 0xc633_6401;
/// The Internet router (198.51.100.2).
pub const ROUTER: u32 = 0xc633_6402;
/// A server on the Internet (198.51.100.77).
pub const SERVER: u32 = 0xc633_644d;
/// The home pool: 192.0.2.0/25.
pub const POOL: &str = "192.0.2.0/25";
/// Bound to [`COA`] (192.0.2.10).
pub const HOME: u32 = 0xc000_020a;
/// Bound through the WWAN (192.0.2.11).
pub const HOME_WWAN: u32 = 0xc000_020b;
/// Bound to [`COA2`] (192.0.2.12).
pub const HOME3: u32 = 0xc000_020c;
/// In the pool, not bound (192.0.2.13).
pub const HOME_MISS: u32 = 0xc000_020d;
/// 203.0.113.10.
pub const COA: u32 = 0xcb00_710a;
/// 203.0.113.20.
pub const COA2: u32 = 0xcb00_7114;

const MTUS: [u16; 4] = [1500, 1280, 576, 9000];

struct Tab;

impl Bindings for Tab {
    fn lookup(&self, home: u32) -> Lookup {
        match home {
            HOME => Lookup::CareOf(COA),
            HOME_WWAN => Lookup::Wwan,
            HOME3 => Lookup::CareOf(COA2),
            _ => Lookup::Miss,
        }
    }
}

fn plane(ctl: u8) -> Plane {
    let mtu = MTUS[usize::from(ctl >> 1) & 3];
    let neigh = Neighbours::new(&[(0, GGSN), (1, ROUTER)]);
    if ctl & 0x80 == 0 {
        neigh.learn(0, GGSN, GGSN_MAC, 1);
        neigh.learn(1, ROUTER, ROUTER_MAC, 1);
    }
    Plane {
        ports: vec![
            PortInfo {
                role: Role::Wwan,
                ip: MSM_GPRS,
                mac: WWAN_MAC,
                mtu,
            },
            PortInfo {
                role: Role::Internet,
                ip: MSM_WLAN,
                mac: INET_MAC,
                mtu,
            },
        ],
        pools: vec![Prefix::parse(POOL).expect("pool")],
        msm_wlan: MSM_WLAN,
        msm_gprs: MSM_GPRS,
        to_internet: NextHop { port: 1, neigh: 1 },
        to_wwan: NextHop { port: 0, neigh: 0 },
        outer_ttl: 64,
        mss_max: (ctl & 8 == 0).then(|| mtu.saturating_sub(60)),
        neigh,
        standby: Default::default(),
    }
}

/// The control byte for a frame arriving on `ingress` with the default rig (MTU 1500,
/// clamping on, buffers unlimited, next hops known).
pub fn ctl(ingress: u16) -> u8 {
    (ingress & 1) as u8
}

pub fn run(data: &[u8]) {
    outcome(data);
}

/// Runs one input (see the module doc): the verdict and the number of fragments emitted.
pub fn outcome(data: &[u8]) -> Option<(Action, usize)> {
    let (&ctl, frame) = data.split_first()?;
    let plane = plane(ctl);
    let counters = Counters::default();
    let mut local = WorkerLocal::new(&plane, &counters, 0, RateLimit::new(100, 10, 1_000_000));
    local.now = 1;
    local.now_s = 1;
    let ingress = u16::from(ctl & 1);
    let mut pkt = VecBuf::new(frame);
    let action = process_frame(&plane, &mut local, &Tab, ingress, &mut pkt);
    let mut emitted = 0usize;
    match action {
        Action::Tx(port) => assert!(usize::from(port) < plane.ports.len(), "Tx({port})"),
        Action::Control | Action::Drop => {}
        Action::Fragment(plan) => {
            let port = usize::from(plan.port);
            assert!(port < plane.ports.len(), "{plan:?}");
            let max = ETH + usize::from(plane.ports[port].mtu);
            let mut bufs = match (ctl >> 4) & 7 {
                0 => usize::MAX,
                n => usize::from(n - 1),
            };
            let n = fragment(
                &plane,
                &mut local,
                &pkt,
                plan,
                || {
                    bufs = bufs.checked_sub(1)?;
                    Some(VecBuf::new(&[]))
                },
                |b| {
                    assert!(
                        b.data().len() <= max,
                        "fragment of {} > {max} ({plan:?})",
                        b.data().len()
                    );
                    emitted += 1;
                },
            );
            assert_eq!(n, emitted);
        }
    }
    Some((action, emitted))
}
