//! Tests of the operator interface: the line protocol, the socket thread, bind's checks.

use super::*;

#[test]
fn parse_commands() {
    assert_eq!(parse("stats"), Ok(Command::Stats));
    assert_eq!(parse(" ping "), Ok(Command::Ping));
    assert_eq!(parse("reload"), Ok(Command::Reload));
    assert_eq!(parse("show 192.0.2.10"), Ok(Command::Show(0xc000020a)));
    assert_eq!(
        parse("bind 192.0.2.10 203.0.113.10 4917"),
        Ok(Command::Bind {
            home: 0xc000020a,
            coa: Some(0xcb00710a),
            msisdn: 4917
        })
    );
    assert_eq!(
        parse("bind 192.0.2.10 - 4917"),
        Ok(Command::Bind {
            home: 0xc000020a,
            coa: None,
            msisdn: 4917
        })
    );
    assert!(parse("bind 192.0.2.10 -").is_err());
    assert!(parse("bind 192.0.2.10 - 49x").is_err());
    assert!(parse("show").is_err());
    assert!(parse("show 1.2.3.4 5").is_err());
    assert!(parse("reboot").unwrap_err().to_string().contains("unknown"));
    assert_eq!(parse(""), Err(CommandError::Empty));
    assert_eq!(
        parse("bind 192.0.2.10 - 49x").unwrap_err().to_string(),
        "MSISDN '49x' is not 1..15 digits"
    );
    assert_eq!(
        parse("show 1.2.3").unwrap_err().to_string(),
        "'1.2.3' is not an IPv4 address"
    );
    assert_eq!(parse("bind 192.0.2.10"), Err(CommandError::MissingAddress));
    assert_eq!(parse("trace 20"), Ok(Command::Trace(TraceCommand::Arm(20))));
    assert_eq!(parse("trace show"), Ok(Command::Trace(TraceCommand::Show)));
    assert_eq!(
        parse("trace clear"),
        Ok(Command::Trace(TraceCommand::Clear))
    );
    for bad in ["trace", "trace 0", "trace -1", "trace all"] {
        assert!(
            matches!(parse(bad), Err(CommandError::BadTrace(_))),
            "{bad}"
        );
    }
    assert!(parse("trace 5 6").is_err());
    assert_eq!(parse("top"), Ok(Command::Top(10)));
    assert_eq!(parse("top 20"), Ok(Command::Top(20)));
    for bad in ["top 0", "top 21", "top x", "top -1"] {
        assert!(matches!(parse(bad), Err(CommandError::BadTop(_))), "{bad}");
    }
    assert!(parse("top 5 6").is_err());
}

/// What `msm ctl` sends is the line the server parses back.
#[test]
fn display_is_the_request_line() {
    for line in [
        "ping",
        "stats",
        "reload",
        "show 192.0.2.10",
        "unbind 192.0.2.10",
        "bind 192.0.2.10 203.0.113.10 4917",
        "bind 192.0.2.10 - 491700000010",
        "trace 20",
        "trace show",
        "trace clear",
        "top 3",
    ] {
        let c = parse(line).unwrap();
        assert_eq!(c.to_string(), line);
        assert_eq!(parse(&c.to_string()), Ok(c));
    }
}

#[test]
fn server_round_trip() {
    let dir = std::env::temp_dir().join(format!("msm-admin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let server = Server::bind(&path).unwrap();
    // nothing pending: returns at once without calling the handler
    server.poll(|_| panic!("no client"));
    let p2 = path.clone();
    let client = std::thread::spawn(move || request(&p2, "show 192.0.2.10").unwrap());
    let mut served = false;
    for _ in 0..500 {
        server.poll(|c| {
            served = true;
            assert_eq!(c, Ok(Command::Show(0xc000020a)));
            "{\"ok\":true}".to_string()
        });
        if served {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(served);
    assert_eq!(client.join().unwrap().trim(), "{\"ok\":true}");
    drop(server);
    assert!(!path.exists(), "socket removed on drop");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A socket in a fresh directory of its own (tests run in parallel).
fn test_socket(name: &str) -> (std::path::PathBuf, Server) {
    let dir = std::env::temp_dir().join(format!("msm-admin-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let server = Server::bind(&path).unwrap();
    (path, server)
}

#[test]
fn socket_mode_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let (path, server) = test_socket("mode");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    drop(server);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn only_root_and_the_own_uid_are_allowed() {
    assert!(peer_allowed(0, 1000));
    assert!(peer_allowed(1000, 1000));
    assert!(!peer_allowed(1001, 1000));
    assert!(peer_allowed(0, 0));
    assert!(!peer_allowed(65534, 0));
}

/// The control loop's side in a test: executes commands until `stop`.
fn control_loop(server: Server, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::Relaxed) {
        server.poll(|c| match c {
            Ok(Command::Ping) => "{\"ok\":true}".to_string(),
            _ => "{\"error\":\"test\"}".to_string(),
        });
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_silent_client_does_not_delay_another() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (path, server) = test_socket("silent");
    let stop = Arc::new(AtomicBool::new(false));
    let looped = {
        let stop = stop.clone();
        std::thread::spawn(move || control_loop(server, stop))
    };
    // Several clients that connect and say nothing.
    let silent: Vec<UnixStream> = (0..4)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let t = std::time::Instant::now();
    let reply = request(&path, "ping").unwrap();
    let took = t.elapsed();
    assert_eq!(reply.trim(), "{\"ok\":true}");
    assert!(took < Duration::from_millis(500), "ping took {took:?}");
    drop(silent);
    stop.store(true, Ordering::Relaxed);
    looped.join().unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn a_silent_client_times_out_counted() {
    use std::sync::atomic::Ordering;
    let (path, server) = test_socket("timeout");
    let mut silent = UnixStream::connect(&path).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = String::new();
    silent.read_to_string(&mut out).unwrap();
    assert!(out.contains("error"), "{out}");
    assert_eq!(server.counters().io_errors.load(Ordering::Relaxed), 1);
    server.poll(|_| panic!("nothing reached the control loop"));
    drop(server);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn care_of_policy() {
    let pools = [Prefix::parse("192.0.2.0/25").unwrap()];
    let own = [u32::from(Ipv4Addr::new(198, 51, 100, 1))];
    let refused = |a: [u8; 4]| care_of_refused(u32::from(Ipv4Addr::from(a)), &own, &pools);
    assert_eq!(refused([203, 0, 113, 10]), None);
    for bad in [
        [0, 0, 0, 0],
        [0, 1, 2, 3],
        [127, 0, 0, 1],
        [224, 0, 0, 1],
        [240, 0, 0, 1],
        [255, 255, 255, 255],
        [198, 51, 100, 1],
        [192, 0, 2, 10],
    ] {
        assert!(refused(bad).is_some(), "{bad:?}");
    }
}
