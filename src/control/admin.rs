//! Operator interface: a line protocol on a Unix stream socket, served by the control
//! lcore (`msm ctl ...` is the client).
//!
//! One request line per connection, one JSON document back:
//! * `stats`: every counter (per worker, summed, control lcore, ports, table, neighbours);
//!   in a build with `--features stage-cycles`, each worker also has `stage_cycles`: TSC
//!   ticks per loop stage and per packet (`dataplane/instrument.rs`; how to read them:
//!   perf/README.md);
//! * `show HOME`: one binding;
//! * `bind HOME CARE_OF|- MSISDN`, `unbind HOME`: administrative binding changes,
//!   journalled and committed like a registration's, then published by RCU;
//! * `reload`: re-read the subscriber file on a helper thread; the new store replaces
//!   the old one only if the whole file is valid (result in `stats`: `control.subscribers_reload`);
//! * `ping`.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One request line, parsed. `Display` writes it back as the line [`parse`] reads.
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

/// Why a request line is not a [`Command`]; sent back to the client as `{"error": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("empty command")]
    Empty,
    #[error("unknown command '{0}' (ping, stats, show, bind, unbind, reload)")]
    Unknown(String),
    #[error("missing address")]
    MissingAddress,
    #[error("'{0}' is not an IPv4 address")]
    BadAddress(String),
    #[error("missing MSISDN")]
    MissingMsisdn,
    #[error("MSISDN '{0}' is not 1..15 digits")]
    BadMsisdn(String),
    #[error("unexpected '{0}'")]
    Unexpected(String),
}

/// An IPv4 address (a home or care-of address).
pub fn parse_addr(s: &str) -> Result<u32, CommandError> {
    s.parse::<Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| CommandError::BadAddress(s.to_string()))
}

/// A care-of address, or `-` for none (the terminal is reached over the WWAN).
pub fn parse_care_of(s: &str) -> Result<Option<u32>, CommandError> {
    match s {
        "-" => Ok(None),
        a => parse_addr(a).map(Some),
    }
}

/// An MSISDN: 1 to 15 decimal digits.
pub fn parse_msisdn(s: &str) -> Result<u64, CommandError> {
    if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::BadMsisdn(s.to_string()));
    }
    s.parse()
        .map_err(|_| CommandError::BadMsisdn(s.to_string()))
}

fn addr(s: Option<&str>) -> Result<u32, CommandError> {
    parse_addr(s.ok_or(CommandError::MissingAddress)?)
}

/// Parses one request line (words separated by whitespace).
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let mut w = line.split_whitespace();
    let cmd = w.next().ok_or(CommandError::Empty)?;
    let c = match cmd {
        "ping" => Command::Ping,
        "stats" => Command::Stats,
        "reload" => Command::Reload,
        "show" => Command::Show(addr(w.next())?),
        "unbind" => Command::Unbind(addr(w.next())?),
        "bind" => {
            let home = addr(w.next())?;
            let coa = parse_care_of(w.next().ok_or(CommandError::MissingAddress)?)?;
            let msisdn = parse_msisdn(w.next().ok_or(CommandError::MissingMsisdn)?)?;
            Command::Bind { home, coa, msisdn }
        }
        other => return Err(CommandError::Unknown(other.to_string())),
    };
    if let Some(extra) = w.next() {
        return Err(CommandError::Unexpected(extra.to_string()));
    }
    Ok(c)
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = Ipv4Addr::from;
        match *self {
            Command::Ping => f.write_str("ping"),
            Command::Stats => f.write_str("stats"),
            Command::Reload => f.write_str("reload"),
            Command::Show(home) => write!(f, "show {}", ip(home)),
            Command::Unbind(home) => write!(f, "unbind {}", ip(home)),
            Command::Bind {
                home,
                coa: Some(coa),
                msisdn,
            } => write!(f, "bind {} {} {msisdn}", ip(home), ip(coa)),
            Command::Bind {
                home,
                coa: None,
                msisdn,
            } => write!(f, "bind {} - {msisdn}", ip(home)),
        }
    }
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
    pub fn poll(&self, mut handle: impl FnMut(Result<Command, CommandError>) -> String) {
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

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
}
