//! Application telemetry commands on EAL's real telemetry socket, read the way
//! `dpdk-telemetry.py` reads them (SOCK_SEQPACKET: a greeting, then one JSON reply per
//! request), next to DPDK's own `/ethdev/list`; and `rte_pdump_init` under `--no-huge`.
//! Own process: EAL inits once. Needs the runtime directory (no `--no-shconf`), so the
//! file prefix carries the pid and the directory is removed at the end.

use msm_dpdk::telemetry::{self, TelValue};
use msm_dpdk::Eal;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// A SOCK_SEQPACKET connection (std's UnixStream only does SOCK_STREAM).
fn connect(path: &str) -> UnixStream {
    // SAFETY: plain socket(2)/connect(2) on a sockaddr_un we fill in; the fd is handed
    // to UnixStream, which owns and closes it (read/write work on any connected socket).
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0);
        assert!(fd >= 0, "socket");
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(path.as_bytes()) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        let rc = libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len);
        assert_eq!(rc, 0, "connect {path}: {}", std::io::Error::last_os_error());
        std::os::unix::io::FromRawFd::from_raw_fd(fd)
    }
}

fn reply(s: &mut UnixStream) -> Value {
    let mut buf = vec![0u8; 1 << 16];
    let n = s.read(&mut buf).expect("read");
    serde_json::from_slice(&buf[..n])
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&buf[..n])))
}

fn ask(s: &mut UnixStream, req: &str) -> Value {
    s.write_all(req.as_bytes()).expect("write");
    let mut v = reply(s);
    v[req.split(',').next().unwrap()].take()
}

#[test]
fn commands_answer_on_the_telemetry_socket() {
    let prefix = format!("msm-dpdk-test-tel-{}", std::process::id());
    let args = [
        "--no-huge".to_string(),
        "-m".into(),
        "128".into(),
        "--no-pci".into(),
        format!("--file-prefix={prefix}"),
        "--vdev=net_null0".into(),
    ];
    let eal = Eal::init(&args).expect("EAL init");
    assert!(!eal.has_hugepages(), "--no-huge");
    eal.pdump_init()
        .expect("rte_pdump_init works without huge pages too");
    let dir = eal.runtime_dir();
    let _cleanup = RemoveDir(dir.clone());
    assert!(dir.ends_with(&prefix), "{dir}");

    telemetry::register("/test/echo", "Echoes its parameter", |p| {
        TelValue::dict([
            ("param", TelValue::Str(p.unwrap_or("none").into())),
            ("n", TelValue::U64(u64::MAX)),
            ("neg", TelValue::Int(-5)),
            ("bad key!", TelValue::U64(1)),
            (
                "nested",
                TelValue::dict([(
                    "list",
                    TelValue::Array(vec![TelValue::U64(1), TelValue::U64(2)]),
                )]),
            ),
            (
                "rows",
                TelValue::Array(vec![TelValue::dict([("a", TelValue::U64(1))])]),
            ),
        ])
    })
    .expect("register");
    telemetry::register("/test/panic", "Panics", |_| panic!("boom")).expect("register");
    assert!(
        telemetry::register("/test/echo", "", |_| TelValue::U64(0)).is_err(),
        "twice"
    );

    let mut s = connect(&format!("{dir}/dpdk_telemetry.v2"));
    let hello = reply(&mut s);
    assert_eq!(hello["pid"], json!(std::process::id()));
    assert_eq!(
        ask(&mut s, "/test/echo,192.0.2.10"),
        json!({"param": "192.0.2.10", "n": u64::MAX, "neg": -5, "bad_key_": 1,
               "nested": {"list": [1, 2]}, "rows": {"0": {"a": 1}}})
    );
    assert_eq!(ask(&mut s, "/test/echo")["param"], "none");
    assert_eq!(ask(&mut s, "/test/echo,")["param"], "none");
    assert_eq!(
        ask(&mut s, "/test/panic"),
        json!({"error": "the command's handler panicked"})
    );
    let list = ask(&mut s, "/");
    assert!(
        list.as_array().unwrap().contains(&json!("/test/echo")),
        "{list}"
    );
    assert_eq!(
        ask(&mut s, "/ethdev/list"),
        json!([0]),
        "DPDK's own commands still work"
    );
    assert_eq!(
        ask(&mut s, "/help,/test/echo"),
        json!({"/test/echo": "Echoes its parameter"})
    );
    drop(s);
    drop(eal);
}

/// Removes the runtime directory however the test ends.
struct RemoveDir(String);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
