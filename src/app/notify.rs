//! systemd's notify protocol (`Type=notify`): READY=1, WATCHDOG=1, STOPPING=1, STATUS=.
//!
//! systemd passes `NOTIFY_SOCKET` (a Unix datagram socket path, or `@name` for an abstract
//! one) and, with `WatchdogSec=`, `WATCHDOG_USEC`. The MSM sends `READY=1` once the binding
//! table is published and the workers run, `WATCHDOG=1` from the control loop at half the
//! watchdog interval (a stuck control loop gets the process restarted), and `STOPPING=1`
//! on shutdown. Without `NOTIFY_SOCKET` every call is a no-op.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// The notify socket from the environment, if systemd gave one.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
    /// Half of `WATCHDOG_USEC`, if the watchdog is on.
    watchdog_every: Option<Duration>,
    last_watchdog: Instant,
}

fn address(path: &str) -> io::Result<SocketAddr> {
    match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(path),
    }
}

impl Notifier {
    /// From `NOTIFY_SOCKET` and `WATCHDOG_USEC`; `None` when not run by systemd (or the
    /// variable is unusable: logged).
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var("NOTIFY_SOCKET").ok()?;
        let usec = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        match Notifier::new(&path, usec) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET={path}: {e}: not notifying systemd");
                None
            }
        }
    }

    /// A notifier for socket `path` (`@name`: abstract) with a watchdog of `usec`.
    pub fn new(path: &str, watchdog_usec: Option<u64>) -> io::Result<Notifier> {
        Ok(Notifier {
            sock: UnixDatagram::unbound()?,
            addr: address(path)?,
            watchdog_every: watchdog_usec
                .filter(|&u| u > 0)
                .map(|u| Duration::from_micros(u / 2)),
            last_watchdog: Instant::now(),
        })
    }

    /// Sends one notification (`KEY=value` lines).
    pub fn send(&self, state: &str) -> io::Result<()> {
        self.sock
            .send_to_addr(state.as_bytes(), &self.addr)
            .map(|_| ())
    }

    /// READY=1 with a status line.
    pub fn ready(&self, status: &str) {
        if let Err(e) = self.send(&format!(
            "READY=1\nSTATUS={status}\nMAINPID={}",
            std::process::id()
        )) {
            tracing::warn!("systemd notify READY=1: {e}");
        }
    }

    pub fn stopping(&self) {
        let _ = self.send("STOPPING=1");
    }

    /// WATCHDOG=1 if half the watchdog interval passed since the last one (call every
    /// control-loop iteration).
    pub fn watchdog(&mut self) {
        let Some(every) = self.watchdog_every else {
            return;
        };
        if self.last_watchdog.elapsed() >= every {
            self.last_watchdog = Instant::now();
            let _ = self.send("WATCHDOG=1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_pathname_socket() {
        let dir = std::env::temp_dir().join(format!("msm-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("notify.sock");
        let _ = std::fs::remove_file(&p);
        let rx = UnixDatagram::bind(&p).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut n = Notifier::new(p.to_str().unwrap(), Some(2_000)).unwrap();
        n.ready("12 bindings");
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(
            msg.starts_with("READY=1\nSTATUS=12 bindings\nMAINPID="),
            "{msg}"
        );
        std::thread::sleep(Duration::from_millis(2));
        n.watchdog();
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        n.stopping();
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_socket_and_no_watchdog() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("msm-notify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut n = Notifier::new(&format!("@{name}"), None).unwrap();
        n.watchdog(); // no watchdog configured: nothing sent
        n.send("STATUS=x").unwrap();
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..len],
            b"STATUS=x",
            "the watchdog call sent nothing first"
        );
    }
}
