//! End-to-end smoke test on a `net_ring` vdev (no hugepages, no PCI).
//! One #[test] per file: EAL initialises once per process.
//!
//! A `net_ring` vdev created from EAL args with no parameters uses the same
//! rte_ring for rx and tx of each queue, so transmitted mbufs come back on rx.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use msm_dpdk::{
    ffi, worker_lcores, Eal, Error, Mbuf, MbufBurst, Mempool, Port, PortConf, Ring,
    DEFAULT_BUF_SIZE, PKTMBUF_HEADROOM, SOCKET_ID_ANY,
};

fn frame(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

fn filled(pool: &Mempool, bytes: &[u8]) -> Mbuf {
    let mut m = pool.alloc().expect("mbuf");
    m.append(bytes.len())
        .expect("tailroom")
        .copy_from_slice(bytes);
    m
}

#[test]
fn smoke() {
    // Fixed prefix: --no-shconf keeps the runtime dir unused, so parallel runs
    // do not clash and reruns do not litter /var/run/dpdk.
    let prefix = "--file-prefix=msm-dpdk-test-smoke".to_string();
    let args: Vec<String> = [
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        prefix.as_str(),
        "--vdev=net_ring0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).expect("EAL init");
    assert!(Eal::is_running());
    assert!(matches!(Eal::init(&args), Err(Error::AlreadyInitialized)));
    assert_eq!(msm_dpdk::lcore_id(), msm_dpdk::main_lcore());
    assert!(msm_dpdk::lcore_count() >= 1);
    assert!(msm_dpdk::tsc_hz() > 0);
    let t0 = msm_dpdk::rdtsc();
    assert!(msm_dpdk::rdtsc() >= t0);
    // SAFETY: reading a thread-local through the shim; cross-checks rdtsc.
    assert!(unsafe { ffi::msm_rdtsc() } >= t0);

    let pool = Mempool::new(
        "smoke_pool",
        1023,
        32,
        DEFAULT_BUF_SIZE,
        msm_dpdk::socket_id(),
    )
    .expect("mempool");
    assert_eq!(pool.capacity(), 1023);
    assert_eq!(pool.in_use(), 0);
    assert_eq!(pool.available(), 1023);

    // ---- port ----
    let port = Port::by_name("net_ring0").expect("port");
    assert_eq!(port.name().unwrap(), "net_ring0");
    let info = port.info().unwrap();
    assert_eq!(info.driver_name, "net_ring");
    assert!(port.max_rx_queues().unwrap() >= 1 && port.max_tx_queues().unwrap() >= 1);
    let setup = port
        .configure(
            &PortConf {
                rx_desc: 512,
                tx_desc: 512,
                mtu: Some(1500),
                ..PortConf::default()
            },
            &pool,
        )
        .expect("configure");
    eprintln!(
        "net_ring0: {info:?} {setup:?} mac {:02x?}",
        port.mac_addr().unwrap()
    );
    assert_eq!(setup.rss_hf, 0, "single queue: no RSS");
    assert!(port.link_up().unwrap());
    let mut rxq = port.rx_queue(0).unwrap();
    let mut txq = port.tx_queue(0).unwrap();
    assert!(matches!(port.tx_queue(0), Err(Error::Busy(_))));

    // ---- tx -> rx loopback, bytes intact ----
    let mut tx = MbufBurst::<32>::new();
    let frames: Vec<Vec<u8>> = (0..8).map(|i| frame(i, 60 + i * 7)).collect();
    for f in &frames {
        tx.push(filled(&pool, f)).expect("room");
    }
    assert_eq!(pool.in_use(), 8);
    assert_eq!(tx.len(), 8);
    let (sent, dropped) = tx.tx_all_or_free(&mut txq);
    assert_eq!((sent, dropped), (8, 0));
    assert!(tx.is_empty());

    let mut rx = MbufBurst::<32>::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while rx.len() < 8 && Instant::now() < deadline {
        rx.rx(&mut rxq);
    }
    assert_eq!(rx.len(), 8, "net_ring must loop tx back to rx");
    for (m, f) in rx.iter().zip(&frames) {
        assert_eq!(m.data(), &f[..]);
        assert_eq!(m.pkt_len(), f.len());
        assert!(m.is_contiguous());
        assert_eq!(m.nb_segs(), 1);
    }
    let st = port.stats().unwrap();
    assert_eq!((st.ipackets, st.opackets), (8, 8));
    // (net_ring counts packets only; byte counters stay 0)

    // in-place processing + retain (frees the dropped ones), then tx again
    for m in rx.iter_mut() {
        m.data_mut()[0] = 0xee;
    }
    rx.retain(|m| m.len() % 2 == 0);
    let kept = rx.len();
    assert_eq!(kept, frames.iter().filter(|f| f.len() % 2 == 0).count());
    assert_eq!(pool.in_use() as usize, kept);
    assert_eq!(rx.tx(&mut txq), kept);
    assert!(rx.is_empty());
    assert_eq!(rx.rx(&mut rxq), kept);
    assert!(rx.iter().all(|m| m.data()[0] == 0xee));
    // drain yields owned Mbufs; partially consumed drains free the rest
    let mut d = rx.drain();
    let first = d.next().unwrap();
    drop(d);
    assert!(rx.is_empty());
    assert_eq!(pool.in_use(), 1);
    drop(first);
    assert_eq!(pool.in_use(), 0);

    // ---- mbuf edit semantics, cross-checked with DPDK's inline functions ----
    let mut m = filled(&pool, b"payload");
    assert_eq!(m.headroom(), PKTMBUF_HEADROOM as usize);
    assert_eq!(
        m.tailroom(),
        DEFAULT_BUF_SIZE as usize - PKTMBUF_HEADROOM as usize - 7
    );
    // SAFETY: the shim reads fields of an mbuf we own.
    unsafe {
        assert_eq!(ffi::msm_pktmbuf_headroom(m.as_ptr()) as usize, m.headroom());
        assert_eq!(ffi::msm_pktmbuf_tailroom(m.as_ptr()) as usize, m.tailroom());
        assert_eq!(
            ffi::msm_pktmbuf_mtod(m.as_ptr()).cast::<u8>().cast_const(),
            m.data().as_ptr()
        );
    }
    m.prepend(4).unwrap().copy_from_slice(b"HDR:");
    assert_eq!(m.data(), b"HDR:payload");
    assert_eq!((m.len(), m.pkt_len()), (11, 11));
    assert!(
        m.prepend(PKTMBUF_HEADROOM as usize).is_none(),
        "not enough headroom left"
    );
    assert_eq!(m.data(), b"HDR:payload");
    assert!(m.adj(4));
    assert_eq!(m.data(), b"payload");
    assert!(m.trim(4));
    assert_eq!(m.data(), b"pay");
    assert!(!m.trim(4) && !m.adj(4));
    m.append(2).unwrap().copy_from_slice(b"!!");
    assert_eq!(m.data(), b"pay!!");
    // SAFETY: as above; C and Rust agree on the lengths.
    unsafe {
        assert_eq!(ffi::msm_pktmbuf_data_len(m.as_ptr()), 5);
        assert_eq!(ffi::msm_pktmbuf_pkt_len(m.as_ptr()), 5);
        // DPDK's own prepend on the same mbuf, then read back in Rust.
        assert!(!ffi::msm_pktmbuf_prepend(m.as_ptr(), 1).is_null());
    }
    assert_eq!(m.len(), 6);
    assert_eq!(&m.data()[1..], b"pay!!");
    let raw = m.into_raw();
    // SAFETY: `raw` came from into_raw and is owned by nobody else.
    let m = unsafe { Mbuf::from_raw(raw) }.unwrap();
    drop(m);
    assert_eq!(pool.in_use(), 0);

    // ---- bulk alloc / burst ownership ----
    let mut b = MbufBurst::<8>::new();
    assert!(pool.alloc_bulk(&mut b, 6));
    assert!(!pool.alloc_bulk(&mut b, 3), "only 2 free slots");
    assert!(b.push(pool.alloc().unwrap()).is_ok());
    assert!(b.push(pool.alloc().unwrap()).is_ok());
    let back = b.push(pool.alloc().unwrap()).unwrap_err();
    drop(back);
    assert_eq!(pool.in_use(), 8);
    let popped = b.pop().unwrap();
    assert_eq!(b.len(), 7);
    drop(popped);
    drop(b); // Drop frees the rest
    assert_eq!(pool.in_use(), 0);

    // ---- MP/MC ring: full ring hands the rest back ----
    let ring = Ring::new("smoke_ring", 4, SOCKET_ID_ANY).unwrap();
    assert_eq!(ring.capacity(), 4);
    let mut b = MbufBurst::<8>::new();
    for i in 0..6 {
        b.push(filled(&pool, &frame(i, 20))).unwrap();
    }
    assert_eq!(ring.enqueue_burst(&mut b), 4);
    assert_eq!(b.len(), 2, "the two that did not fit stay with the caller");
    assert_eq!(b.as_slice()[0].data(), &frame(4, 20)[..]);
    let extra = ring.enqueue(b.pop().unwrap()).unwrap_err();
    drop(extra);
    assert_eq!(ring.len(), 4);
    let mut out = MbufBurst::<3>::new();
    assert_eq!(ring.dequeue_burst(&mut out), 3);
    for (i, m) in out.iter().enumerate() {
        assert_eq!(m.data(), &frame(i, 20)[..]);
    }
    assert_eq!(ring.dequeue().unwrap().data(), &frame(3, 20)[..]);
    assert!(ring.dequeue().is_none());
    drop(out);
    drop(b);
    // mbufs left in a ring are freed with it
    ring.enqueue(filled(&pool, b"left behind")).unwrap();
    assert_eq!(pool.in_use(), 1);
    drop(ring);
    assert_eq!(pool.in_use(), 0);

    // ---- SP/SC ring across threads ----
    let (mut prod, mut cons) = Ring::new_spsc("smoke_spsc", 64, SOCKET_ID_ANY).unwrap();
    const N: usize = 500;
    let consumer = std::thread::spawn(move || {
        let mut got = 0usize;
        let mut b = MbufBurst::<16>::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got < N && Instant::now() < deadline {
            cons.dequeue_burst(&mut b);
            for m in b.drain() {
                assert_eq!(m.data(), &frame(got, 40)[..]);
                got += 1;
            }
        }
        got
    });
    let mut i = 0;
    let mut pending = MbufBurst::<16>::new();
    while i < N || !pending.is_empty() {
        while i < N && !pending.is_full() {
            pending.push(filled(&pool, &frame(i, 40))).unwrap();
            i += 1;
        }
        prod.enqueue_burst(&mut pending);
    }
    assert_eq!(consumer.join().unwrap(), N);
    drop(prod);
    assert_eq!(pool.in_use(), 0);

    // ---- worker lcore launch (if the machine has a second core) ----
    if let Some(worker) = worker_lcores().next() {
        let ring = Ring::new("smoke_worker", 16, SOCKET_ID_ANY).unwrap();
        let seen = Arc::new(AtomicUsize::new(u32::MAX as usize));
        let (p2, r2, s2) = (pool.clone(), ring.clone(), seen.clone());
        eal.launch_on(
            worker,
            Box::new(move || {
                s2.store(msm_dpdk::lcore_id() as usize, Ordering::SeqCst);
                let m = filled(&p2, b"from worker");
                if r2.enqueue(m).is_err() {
                    return -1;
                }
                42
            }),
        )
        .unwrap();
        assert_eq!(eal.wait(worker), 42);
        assert_eq!(seen.load(Ordering::SeqCst), worker as usize);
        assert_eq!(ring.dequeue().unwrap().data(), b"from worker");
        // a panicking closure is caught and reported as -1
        eal.launch_on(worker, Box::new(|| panic!("expected test panic")))
            .unwrap();
        eal.wait_all();
        assert_eq!(eal.wait(worker), -1);
    } else {
        eprintln!("single lcore: skipping launch_on test");
    }

    // ---- no leak: everything returned to the pool; clean EAL shutdown ----
    assert_eq!(pool.in_use(), 0);
    assert_eq!(pool.available(), 1023);
    drop((rxq, txq));
    port.stop().unwrap();
    drop(pool);
    drop(eal);
    assert!(
        !Eal::is_running(),
        "EAL cleanup ran (no handle or mbuf left)"
    );
}
