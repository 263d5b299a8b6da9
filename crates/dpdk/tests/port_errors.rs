//! Slow-path error paths on a running EAL (own process: EAL inits once).

use msm_dpdk::{Eal, Error, MbufBurst, Mempool, PortConf, PortId, Ring, SOCKET_ID_ANY};

#[test]
fn port_error_paths() {
    // Fixed prefix: --no-shconf keeps the runtime dir unused, so parallel runs
    // do not clash and reruns do not litter /var/run/dpdk.
    let prefix = "--file-prefix=msm-dpdk-test-porterr".to_string();
    let eal = Eal::init(&[
        "--no-huge",
        "--no-pci",
        "-m",
        "256",
        "--no-shconf",
        "--no-telemetry",
        prefix.as_str(),
        "--vdev=net_null0",
    ])
    .expect("EAL init");
    assert!(matches!(
        Eal::init(&["--no-huge"]),
        Err(Error::AlreadyInitialized)
    ));

    let e = PortId::by_name("net_bogus0").unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("net_bogus0") && s.contains("rte_eth_dev_get_port_by_name"),
        "{s}"
    );
    assert!(e.errno().is_some());
    assert!(PortId::from_raw(31).is_err());

    let pool = Mempool::new(
        "err_pool",
        255,
        0,
        msm_dpdk::DEFAULT_BUF_SIZE,
        SOCKET_ID_ANY,
    )
    .unwrap();
    // Duplicate names are reported with the object name and DPDK's message.
    let dup = Mempool::new(
        "err_pool",
        255,
        0,
        msm_dpdk::DEFAULT_BUF_SIZE,
        SOCKET_ID_ANY,
    )
    .unwrap_err();
    assert!(dup.to_string().contains("err_pool"), "{dup}");
    assert_eq!(dup.errno(), Some(libc_eexist()));
    let r = Ring::new("err_ring", 8, SOCKET_ID_ANY).unwrap();
    assert!(Ring::new("err_ring", 8, SOCKET_ID_ANY).is_err());
    // Too small a data room is rejected before DPDK sees it.
    assert!(matches!(
        Mempool::new("tiny", 63, 0, 16, SOCKET_ID_ANY),
        Err(Error::InvalidArgument(_))
    ));

    let port = PortId::by_name("net_null0").unwrap();
    assert_eq!(port.driver_name().unwrap(), "net_null");
    // Too many queues: error names the port.
    let conf = PortConf {
        rx_queues: u16::MAX,
        ..PortConf::default()
    };
    let e = port.configure(&conf, &pool).unwrap_err();
    assert!(e.to_string().contains("net_null0"), "{e}");
    assert!(port
        .configure(
            &PortConf {
                tx_queues: 0,
                ..PortConf::default()
            },
            &pool
        )
        .is_err());
    // Queue handles need a configured queue (the failed configure left none).
    assert!(port.rx_queue(0).is_err());
    let setup = port
        .configure(
            &PortConf {
                mtu: Some(1500),
                ..PortConf::default()
            },
            &pool,
        )
        .unwrap();
    eprintln!("net_null0 setup: {setup:?}");
    let rxq = port.rx_queue(0).unwrap();
    assert!(matches!(port.rx_queue(0), Err(Error::Busy(_))));
    assert!(matches!(port.stop(), Err(Error::Busy(_))));
    assert!(matches!(
        port.configure(&PortConf::default(), &pool),
        Err(Error::Busy(_))
    ));
    assert!(port.rx_queue(1).is_err());
    drop(rxq);
    port.stop().unwrap();
    port.start().unwrap();
    // Launching on the main lcore or a disabled lcore is refused.
    assert!(eal
        .launch_on(msm_dpdk::main_lcore(), Box::new(|| 0))
        .is_err());
    assert!(eal.launch_on(100, Box::new(|| 0)).is_err());

    let mut b = MbufBurst::<4>::new();
    assert!(pool.alloc_bulk(&mut b, 4));
    assert!(!pool.alloc_bulk(&mut b, 1), "burst is full");
    assert_eq!(pool.in_use(), 4);
    drop(r);
    drop(b);
    assert_eq!(pool.in_use(), 0);
    drop(pool);
    // Nothing alive any more: dropping the Eal cleans up, after which every
    // entry point refuses to run.
    drop(eal);
    assert!(!Eal::is_running());
    assert!(matches!(
        PortId::by_name("net_null0"),
        Err(Error::NotInitialized)
    ));
}

fn libc_eexist() -> i32 {
    17
}
