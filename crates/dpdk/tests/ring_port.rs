//! `PortId::from_rings`: a ring-backed ethdev moves mbufs between the rings'
//! outer ends and the port's rx/tx queues, and is removed on drop. Own
//! process: EAL inits once.

use msm_dpdk::{Eal, MbufBurst, Mempool, PortConf, PortId, Ring, DEFAULT_BUF_SIZE, SOCKET_ID_ANY};

#[test]
fn ring_port_round_trip_and_removal() {
    let eal = Eal::init(&[
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--file-prefix=msm-dpdk-test-ring-port",
    ])
    .expect("EAL init");
    let pool = Mempool::new("rp_pool", 1023, 0, DEFAULT_BUF_SIZE, SOCKET_ID_ANY).unwrap();
    let (mut wire_in, rx_end) = Ring::new_spsc("rp_rx", 256, SOCKET_ID_ANY).unwrap();
    let (tx_end, mut wire_out) = Ring::new_spsc("rp_tx", 256, SOCKET_ID_ANY).unwrap();

    assert!(PortId::from_rings("bad\0name", vec![], vec![]).is_err());
    let port = PortId::from_rings("t0", vec![rx_end], vec![tx_end]).unwrap();
    let id = port.id();
    assert_eq!(PortId::by_name("net_ring_t0").unwrap(), id);
    assert_eq!(id.driver_name().unwrap(), "net_ring");
    let conf = PortConf {
        promiscuous: false,
        ..PortConf::default()
    };
    id.configure(&conf, &pool).unwrap();
    let mut rxq = id.rx_queue(0).unwrap();
    let mut txq = id.tx_queue(0).unwrap();

    // Wire -> port rx.
    let mut b = MbufBurst::<8>::new();
    assert!(pool.alloc_bulk(&mut b, 3));
    for (i, m) in b.iter_mut().enumerate() {
        m.append(60).unwrap().fill(i as u8);
    }
    assert_eq!(wire_in.enqueue_burst(&mut b), 3);
    assert_eq!(b.rx(&mut rxq), 3);
    assert_eq!(b.as_slice()[2].data()[0], 2);
    // Port tx -> wire.
    assert_eq!(b.tx(&mut txq), 3);
    let mut out = MbufBurst::<8>::new();
    assert_eq!(wire_out.dequeue_burst(&mut out), 3);
    assert_eq!(out.as_slice()[1].data(), &[1u8; 60][..]);
    drop(out);
    let st = id.stats().unwrap();
    assert_eq!((st.ipackets, st.opackets), (3, 3));

    // Dropped while queue handles exist: the port stays and its rings are
    // leaked (so EAL cleanup is skipped at the end, as designed).
    let (w2, r2) = Ring::new_spsc("rp_rx2", 16, SOCKET_ID_ANY).unwrap();
    let (t2, c2) = Ring::new_spsc("rp_tx2", 16, SOCKET_ID_ANY).unwrap();
    let p2 = PortId::from_rings("t1", vec![r2], vec![t2]).unwrap();
    let id2 = p2.id();
    id2.configure(&conf, &pool).unwrap();
    let q2 = id2.rx_queue(0).unwrap();
    drop(p2);
    assert!(
        PortId::by_name("net_ring_t1").is_ok(),
        "port kept while a queue handle exists"
    );
    drop((q2, w2, c2));

    // Normal removal: the device goes, the name can be reused.
    drop((rxq, txq));
    drop(port);
    assert!(PortId::by_name("net_ring_t0").is_err());
    let (w3, r3) = Ring::new_spsc("rp_rx3", 16, SOCKET_ID_ANY).unwrap();
    let (t3, c3) = Ring::new_spsc("rp_tx3", 16, SOCKET_ID_ANY).unwrap();
    let p3 = PortId::from_rings("t0", vec![r3], vec![t3]).unwrap();
    assert!(
        p3.id().rx_queue(0).is_err(),
        "never started: no queue handles"
    );
    drop((p3, w3, c3, wire_in, wire_out, pool));
    drop(eal);
}
