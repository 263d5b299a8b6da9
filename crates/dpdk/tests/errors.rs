//! EAL init error paths. One #[test] per file: EAL initialises once per process.

use msm_dpdk::{Eal, Error, Mempool, PortId, Ring, SOCKET_ID_ANY};

#[test]
fn error_paths() {
    // Before init: everything refuses cleanly.
    assert!(!Eal::is_running());
    assert!(matches!(
        Mempool::new("p", 63, 0, 2176, SOCKET_ID_ANY),
        Err(Error::NotInitialized)
    ));
    assert!(matches!(
        PortId::by_name("net_null0"),
        Err(Error::NotInitialized)
    ));
    assert!(matches!(
        Ring::new("r", 8, SOCKET_ID_ANY),
        Err(Error::NotInitialized)
    ));
    // Invalid arguments are rejected without using up the one init attempt.
    assert!(matches!(
        Eal::init(&["--no-huge\0"]),
        Err(Error::InvalidArgument(_))
    ));

    // Fixed prefix: --no-shconf keeps the runtime dir unused, so parallel runs
    // do not clash and reruns do not litter /var/run/dpdk.
    let prefix = "--file-prefix=msm-dpdk-test-errors".to_string();
    let args: Vec<String> = [
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "-l",
        "0",
        prefix.as_str(),
        "--vdev=net_null0",
        "--vdev=net_bogus0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let first = Eal::init(&args);
    eprintln!("init with a bogus vdev: {:?}", first.as_ref().map(|_| ()));

    // A second init always fails with a clear error.
    let second = Eal::init(&["--no-huge"]);
    assert!(
        matches!(second, Err(Error::AlreadyInitialized)),
        "{second:?}"
    );
    assert!(second.unwrap_err().to_string().contains("once"));

    match first {
        Err(e) => {
            // EAL 22.11 refuses an unknown vdev driver outright
            // ("failed to parse device").
            assert!(matches!(e, Error::EalInit { .. }), "{e}");
            assert!(e.to_string().contains("net_bogus0"), "{e}");
        }
        Ok(_) => panic!("EAL accepted an unknown vdev driver"),
    }
}
