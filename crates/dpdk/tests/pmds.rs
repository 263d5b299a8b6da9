//! The PMDs MSM uses are found at runtime (EAL loads them from its plugin
//! directory; nothing is linked for them). Own process: EAL inits once.
//! Needs root for af_packet/pcap on `lo` (as in CI).

use msm_dpdk::{Eal, Mempool, PortConf, PortId, DEFAULT_BUF_SIZE, SOCKET_ID_ANY};

#[test]
fn pmds_are_loaded() {
    // Fixed prefix: --no-shconf keeps the runtime dir unused, so parallel runs
    // do not clash and reruns do not litter /var/run/dpdk.
    let prefix = "--file-prefix=msm-dpdk-test-pmds".to_string();
    let root = unsafe_is_root();
    let mut args = vec![
        "--no-huge".to_string(),
        "-m".into(),
        "256".into(),
        "--no-pci".into(),
        "--no-shconf".into(),
        "--no-telemetry".into(),
        prefix,
        "--vdev=net_null0".into(),
        "--vdev=net_ring0".into(),
    ];
    if root {
        args.push("--vdev=net_af_packet0,iface=lo".into());
        args.push("--vdev=net_pcap0,iface=lo".into());
    }
    let eal = Eal::init(&args).expect("EAL init");
    let pool = Mempool::new("pmd_pool", 2047, 32, DEFAULT_BUF_SIZE, SOCKET_ID_ANY).unwrap();
    let mut expect = vec![("net_null0", "net_null"), ("net_ring0", "net_ring")];
    if root {
        expect.push(("net_af_packet0", "net_af_packet"));
        expect.push(("net_pcap0", "net_pcap"));
    } else {
        eprintln!("not root: skipping net_af_packet / net_pcap");
    }
    assert_eq!(PortId::all().unwrap().len(), expect.len());
    for (name, driver) in expect {
        let p = PortId::by_name(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.driver_name().unwrap(), driver);
        let setup = p
            .configure(
                &PortConf {
                    rx_desc: 256,
                    tx_desc: 256,
                    ..PortConf::default()
                },
                &pool,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{name}: {setup:?} stats {:?}", p.stats().unwrap());
    }
    // RSS: enabled (masked to the device's hash types) only with > 1 rx queue
    // and device support; net_null advertises hash types, net_ring none.
    let two = PortConf {
        rx_queues: 2,
        tx_queues: 2,
        ..PortConf::default()
    };
    let null = PortId::by_name("net_null0").unwrap();
    let s = null.configure(&two, &pool).unwrap();
    assert_ne!(s.rss_hf, 0);
    assert_eq!(s.rss_hf & !null.info().unwrap().flow_type_rss_offloads, 0);
    let ring = PortId::by_name("net_ring0").unwrap();
    let s = ring.configure(&two, &pool).unwrap();
    assert_eq!(s.rss_hf, 0);
    assert!(s.warnings.iter().any(|w| w.contains("RSS")), "{s:?}");
    let q1 = ring.rx_queue(1).unwrap();
    assert_eq!((q1.port(), q1.queue_id()), (ring, 1));
    drop(q1);
    drop(pool);
    drop(eal);
    assert!(!Eal::is_running());
}

fn unsafe_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
