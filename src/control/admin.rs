//! Operator interface: a line protocol on a Unix stream socket (`msm ctl ...` is the
//! client), served by its own thread; the control lcore only executes the commands
//! ([`server`]). The socket is mode 0600 and only root or the MSM's own uid may use it.
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
//! * `trace N`, `trace show`, `trace clear`: record the next N packets of each worker on
//!   their way through the pipeline ([`crate::dataplane::trace`]), show them, forget them;
//! * `top [N]`: the N (default 10, at most 20) home addresses carrying the most traffic
//!   over the last one to two `control.top_window_s`, estimated from the workers' 1-in-K
//!   samples ([`crate::control::top`]);
//! * `ping`.

use crate::config::Prefix;
use std::fmt;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

mod server;
pub use server::{peer_allowed, AdminCounters, Pending, Server, PER_POLL};

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
    /// The packet trace.
    Trace(TraceCommand),
    /// The N home addresses carrying the most traffic (sampled; [`crate::control::top`]).
    Top(usize),
}

/// `trace N` / `trace show` / `trace clear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceCommand {
    /// Record the next N packets of each worker.
    Arm(u32),
    Show,
    Clear,
}

impl std::str::FromStr for TraceCommand {
    type Err = CommandError;
    fn from_str(s: &str) -> Result<TraceCommand, CommandError> {
        match s {
            "show" => Ok(TraceCommand::Show),
            "clear" => Ok(TraceCommand::Clear),
            n => match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(TraceCommand::Arm(n)),
                _ => Err(CommandError::BadTrace(n.to_string())),
            },
        }
    }
}

/// Why a request line is not a [`Command`]; sent back to the client as `{"error": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("empty command")]
    Empty,
    #[error("unknown command '{0}' (ping, stats, show, bind, unbind, reload, trace, top)")]
    Unknown(String),
    #[error("missing address")]
    MissingAddress,
    #[error("'{0}' is not an IPv4 address")]
    BadAddress(String),
    #[error("missing MSISDN")]
    MissingMsisdn,
    #[error("MSISDN '{0}' is not 1..15 digits")]
    BadMsisdn(String),
    #[error("trace wants a packet count (1..), 'show' or 'clear', not '{0}'")]
    BadTrace(String),
    #[error("top wants a count 1..=20, not '{0}'")]
    BadTop(String),
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

/// Entries `top` shows without a count.
pub const TOP_DEFAULT: usize = 10;

/// The count of `top N`: 1..=[`crate::control::top::MAX_N`].
pub fn parse_top(s: &str) -> Result<usize, CommandError> {
    match s.parse::<usize>() {
        Ok(n) if (1..=crate::control::top::MAX_N).contains(&n) => Ok(n),
        _ => Err(CommandError::BadTop(s.to_string())),
    }
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
        "trace" => Command::Trace(w.next().unwrap_or("").parse()?),
        "top" => Command::Top(w.next().map_or(Ok(TOP_DEFAULT), parse_top)?),
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
            Command::Trace(TraceCommand::Arm(n)) => write!(f, "trace {n}"),
            Command::Trace(TraceCommand::Show) => f.write_str("trace show"),
            Command::Trace(TraceCommand::Clear) => f.write_str("trace clear"),
            Command::Top(n) => write!(f, "top {n}"),
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

/// Why the MSM refuses `coa` as a care-of address (PROTOCOL.md, care-of address
/// policy): not a host's unicast address, one of the MSM's own addresses (`own`), or
/// inside a home pool. `None`: acceptable.
pub fn care_of_refused(coa: u32, own: &[u32], pools: &[Prefix]) -> Option<&'static str> {
    crate::control::registrar::care_of::check(coa, own, pools)
        .err()
        .map(|why| why.text())
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
mod tests;
