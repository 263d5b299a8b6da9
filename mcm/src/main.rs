//! `mcm`: the Mobility Control Module daemon and its operator command.
//!
//! ```text
//! mcm run --config mcm.toml           # the daemon (root: TUN, routes, raw sockets)
//! mcm check-config mcm.toml           # validate a configuration
//! mcm ctl --socket S status           # JSON status
//! mcm ctl --socket S wlan-poor wlan0  # judge a WLAN too poor: leave it (make-before-break)
//! mcm ctl --socket S wlan-ok wlan0    # usable again
//! mcm tunnel --local COA --interface IF --remote MSM --home HOME
//!                                     # the IP-in-IP endpoint alone (testbeds)
//! ```

use clap::{Parser, Subcommand};
use mcm::config::Config;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "mcm",
    about = "Mobility Control Module: registers the terminal's care-of addresses with the MSM"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon.
    Run {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a configuration file.
    CheckConfig {
        /// Configuration file.
        config: PathBuf,
    },
    /// Ask a running daemon: status | wlan-poor IFNAME | wlan-ok IFNAME.
    Ctl {
        /// The daemon's socket.
        #[arg(long, default_value = "/run/mcm.sock")]
        socket: PathBuf,
        /// The command.
        #[arg(required = true)]
        words: Vec<String>,
    },
    /// Serve only the IP-in-IP endpoint, with fixed addresses (no
    /// registration, no routes): the terminal's end on the data-plane testbed.
    Tunnel(mcm::endpoint::TunnelArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { config } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("MCM_LOG")
                        // netlink-packet-route warns about every attribute newer than itself.
                        .unwrap_or_else(|_| "info,netlink_packet_route=error".into()),
                )
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .init();
            let run = Config::load(&config).and_then(mcm::daemon::run);
            match run {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("mcm: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::CheckConfig { config } => match Config::load(&config) {
            Ok(c) => {
                println!(
                    "{}: ok (home {}, WWAN {}, WLAN {:?})",
                    config.display(),
                    c.cfg.home,
                    c.cfg.wwan,
                    c.cfg.wlan
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mcm: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Tunnel(args) => match mcm::endpoint::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mcm tunnel: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Ctl { socket, words } => {
            let r = (|| -> std::io::Result<String> {
                let mut s = std::os::unix::net::UnixStream::connect(&socket)?;
                s.set_read_timeout(Some(Duration::from_secs(3)))?;
                writeln!(s, "{}", words.join(" "))?;
                let mut line = String::new();
                BufReader::new(&s).read_line(&mut line)?;
                Ok(line)
            })();
            match r {
                Ok(line) => {
                    print!("{line}");
                    if line.contains("\"error\"") {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("mcm ctl: {}: {e}", socket.display());
                    ExitCode::from(1)
                }
            }
        }
    }
}
