//! Operator interface: a line protocol on a Unix stream socket, served by the control
//! lcore (`msm ctl ...` is the client).
//!
//! One request line per connection, one JSON document back:
//! * `stats`: every counter (per worker, summed, control lcore, ports, table, neighbours);
//!   in a build with `--features stage-cycles`, each worker also has `stage_cycles`: TSC
//!   ticks per loop stage and per packet (`stages.rs`; how to read them: perf/README.md);
//! * `show HOME`: one binding;
//! * `bind HOME CARE_OF|- MSISDN`, `unbind HOME`: administrative binding changes (the
//!   same path the control plane uses: journal-free until issue 3, published by RCU);
//! * `reload`: re-read the subscriber file on a helper thread; the new store replaces
//!   the old one only if the whole file is valid (result in `stats`: `control.subscribers_reload`);
//! * `ping`.

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ping,
    Stats,
    Show(u32),
    Bind {
        home: u32,
        coa: Option<u32>,
        msisdn: u64,
    },
    Unbind(u32),
    /// Reload the subscriber provisioning file (in the background; see `stats`).
    Reload,
}

fn addr(s: Option<&str>) -> Result<u32, String> {
    let s = s.ok_or("missing address")?;
    s.parse::<Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| format!("'{s}' is not an IPv4 address"))
}

pub fn parse(line: &str) -> Result<Command, String> {
    let mut w = line.split_whitespace();
    let cmd = w.next().ok_or("empty command")?;
    let c = match cmd {
        "ping" => Command::Ping,
        "stats" => Command::Stats,
        "reload" => Command::Reload,
        "show" => Command::Show(addr(w.next())?),
        "unbind" => Command::Unbind(addr(w.next())?),
        "bind" => {
            let home = addr(w.next())?;
            let coa = match w.next() {
                Some("-") => None,
                other => Some(addr(other)?),
            };
            let m = w.next().ok_or("missing MSISDN")?;
            if m.is_empty() || m.len() > 15 || !m.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("MSISDN '{m}' is not 1..15 digits"));
            }
            Command::Bind {
                home,
                coa,
                msisdn: m.parse().map_err(|_| "bad MSISDN")?,
            }
        }
        other => {
            return Err(format!(
                "unknown command '{other}' (ping, stats, show, bind, unbind, reload)"
            ))
        }
    };
    if let Some(extra) = w.next() {
        return Err(format!("unexpected '{extra}'"));
    }
    Ok(c)
}

/// Non-blocking listener polled by the control lcore.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
}

impl Server {
    pub fn bind(path: &Path) -> std::io::Result<Server> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Serves at most one pending connection with `handle`; never blocks when none is
    /// pending. A client gets 200 ms to send its line.
    pub fn poll(&self, mut handle: impl FnMut(Result<Command, String>) -> String) {
        let Ok((stream, _)) = self.listener.accept() else {
            return;
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
        let mut line = String::new();
        let mut r = BufReader::new(&stream).take(4096);
        let reply = match r.read_line(&mut line) {
            Ok(_) => handle(parse(line.trim())),
            Err(e) => format!("{{\"error\":\"read: {e}\"}}"),
        };
        let mut w = &stream;
        let _ = w.write_all(reply.as_bytes());
        let _ = w.write_all(b"\n");
    }
}

impl std::ops::Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

use std::io::Read;

/// Client side: sends one command, returns the reply.
pub fn request(path: &Path, line: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(line.as_bytes())?;
    s.write_all(b"\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
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
        assert!(parse("reboot").unwrap_err().contains("unknown"));
        assert!(parse("").is_err());
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
}
