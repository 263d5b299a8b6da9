//! The real worker loop's stage accounting (`--features stage-cycles`): `msm::dataplane::worker::run`
//! on two net_null ports for a moment, then its published stage counters must tile its
//! run (sum of the stages = elapsed ticks, inside the wall time around it) and agree with
//! the worker's own packet and burst counters. Own process: EAL initialises once.
#![cfg(feature = "stage-cycles")]

use msm::config::{Prefix, Role};
use msm::dataplane::counters::{Counters, Event};
use msm::dataplane::instrument::{Stage, Step};
use msm::dataplane::neigh::Neighbours;
use msm::dataplane::pipeline::{NextHop, Plane, PortInfo};
use msm::dataplane::worker::{self, WorkerCtx};
use msm_dpdk::{rdtsc, Eal, Mempool, PortConf, PortId, Ring, DEFAULT_BUF_SIZE, SOCKET_ID_ANY};
use msm_table::{Rcu, TableConfig, TableWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn worker_stage_counters_tile_its_loop() {
    let eal = Eal::init(&[
        "-l",
        "0,1",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--file-prefix=msm-test-stage-cycles",
        "--vdev=net_null0",
        "--vdev=net_null1",
    ])
    .expect("EAL init");
    let pool = Mempool::new("sc_pool", 4095, 256, DEFAULT_BUF_SIZE, SOCKET_ID_ANY).unwrap();
    let conf = PortConf {
        promiscuous: false,
        ..PortConf::default()
    };
    let ports: Vec<PortId> = ["net_null0", "net_null1"]
        .iter()
        .map(|n| PortId::by_name(n).unwrap())
        .collect();
    let mut macs = Vec::new();
    for p in &ports {
        p.configure(&conf, &pool).unwrap();
        macs.push(p.mac_addr().unwrap());
    }
    let gw = [0xc000_0282, 0xc633_6402]; // 192.0.2.130, 198.51.100.2
    let neigh = Neighbours::new(&[(0, gw[0]), (1, gw[1])]);
    let plane = Arc::new(Plane {
        ports: vec![
            PortInfo {
                role: Role::Wwan,
                ip: 0xc000_0281,
                mac: macs[0],
                mtu: 1500,
            },
            PortInfo {
                role: Role::Internet,
                ip: 0xc633_6401,
                mac: macs[1],
                mtu: 1500,
            },
        ],
        pools: vec![Prefix::parse("192.0.2.0/25").unwrap()],
        msm_wlan: 0xc633_6401,
        msm_gprs: 0xc000_0281,
        to_internet: NextHop { port: 1, neigh: 1 },
        to_wwan: NextHop { port: 0, neigh: 0 },
        outer_ttl: 64,
        mss_max: Some(1440),
        neigh,
        standby: Default::default(),
    });
    let (rcu, mut readers) = Rcu::new(1);
    let writer = TableWriter::new(TableConfig::new(1024), rcu).unwrap();
    let (to_control, mut from_worker) = Ring::new_spsc("sc_ctl", 1024, SOCKET_ID_ANY).unwrap();
    let counters: Arc<[Counters]> = (0..1).map(|_| Counters::default()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = WorkerCtx {
        index: 0,
        plane,
        table: writer.handle(),
        reader: readers.pop().unwrap(),
        rx: ports
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u16, p.rx_queue(0).unwrap()))
            .collect(),
        tx: ports.iter().map(|p| p.tx_queue(0).unwrap()).collect(),
        to_control,
        pool: pool.clone(),
        counters: counters.clone(),
        traces: (0..1)
            .map(|_| msm::dataplane::trace::Trace::default())
            .collect(),
        // Sampled rounds run without the stage clock: off here.
        samples: (0..1).map(|_| Default::default()).collect(),
        sample_every: 0,
        stop: stop.clone(),
        icmp_rate_per_sec: 100,
        icmp_burst: 10,
    };

    let t0 = rdtsc();
    eal.launch_on(1, Box::new(move || worker::run(ctx)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let running = counters[0].stage_snapshot().unwrap();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(eal.wait(1), 0);
    let t1 = rdtsc();
    let mut b = msm_dpdk::MbufBurst::<64>::new();
    while from_worker.dequeue_burst(&mut b) > 0 {
        b.clear();
    }

    let c = &counters[0];
    let s = c.stage_snapshot().unwrap();
    // Published while running, and growing.
    assert!(running.packets() > 0 && running.packets() <= s.packets());
    // The stages tile the loop, which ran inside [t0, t1].
    assert_eq!(s.total_ticks(), s.elapsed);
    assert!(
        s.elapsed > 0 && s.elapsed <= t1 - t0,
        "{} > {}",
        s.elapsed,
        t1 - t0
    );
    // They agree with the worker's own counters.
    let rx = c.get_event(Event::RxPackets);
    assert!(rx > 10_000, "net_null delivers full bursts: {rx}");
    assert_eq!(s.packets(), rx);
    // Every non-empty rx poll is one lap of `rx`, or of `interrupted` if the thread was
    // preempted during it.
    let bursts = c.get_event(Event::Bursts);
    assert!(s.laps[Stage::Rx as usize] <= bursts);
    assert!(s.laps[Stage::Rx as usize] + s.laps[Stage::Interrupted as usize] >= bursts);
    assert_eq!(s.events[Stage::Prefetch as usize], rx);
    assert_eq!(s.events[Stage::Process as usize] + s.sampled_packets(), rx);
    for st in [
        Stage::Rx,
        Stage::Prefetch,
        Stage::Process,
        Stage::Tx,
        Stage::Bookkeeping,
    ] {
        assert!(s.ticks[st as usize] > 0, "{st:?}");
    }
    // One burst in SAMPLE_EVERY was sampled; each of its packets passed the worker's
    // own marks once (net_null's frames are dropped before any lookup).
    assert!(s.sampled_packets() > 0);
    assert_eq!(
        s.sampled_packets() + 32 * s.discarded_bursts,
        s.events[Stage::ProcessSampled as usize]
    );
    assert_eq!(s.step_events[Step::Enqueue as usize], s.sampled_packets());
    assert_eq!(s.step_events[Step::Rewrite as usize], s.sampled_packets());
    assert_eq!(s.step_events[Step::Lookup as usize], 0);
    assert!(s.lap_cost > 0 && s.mark_cost > 0);
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
}
