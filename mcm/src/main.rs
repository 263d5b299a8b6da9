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

use clap::{CommandFactory, Parser, Subcommand};
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
    /// Write the man pages (mcm.1, mcm-run.1, ...) into DIR (`make man`).
    #[command(hide = true)]
    Manpages { dir: PathBuf },
}

/// The man pages of `mcm` and its visible subcommands: (file name, roff text).
fn man_pages() -> Vec<(String, Vec<u8>)> {
    fn render(cmd: clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            render(sub.clone(), out);
        }
        let man = clap_mangen::Man::new(cmd).source(concat!("mcm ", env!("CARGO_PKG_VERSION")));
        let mut text = Vec::new();
        man.render(&mut text).expect("render to memory");
        out.push((man.get_filename(), text));
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    render(cmd, &mut out);
    out.sort();
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Manpages { dir } => {
            let written = std::fs::create_dir_all(&dir).and_then(|()| {
                man_pages()
                    .into_iter()
                    .try_for_each(|(name, text)| std::fs::write(dir.join(name), text))
            });
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mcm manpages: {}: {e}", dir.display());
                    ExitCode::from(1)
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/man/ holds what `mcm manpages` writes today (`make man` regenerates it).
    #[test]
    fn committed_man_pages_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/man");
        let pages = man_pages();
        for e in std::fs::read_dir(&dir).into_iter().flatten() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name == "mcm.1" || name.starts_with("mcm-") {
                assert!(
                    pages.iter().any(|(n, _)| *n == name),
                    "docs/man/{name} is not generated any more: run `make man`"
                );
            }
        }
        for (name, text) in pages {
            let committed = std::fs::read(dir.join(&name)).unwrap_or_default();
            assert!(
                committed == text,
                "docs/man/{name} differs from the clap definitions: run `make man`"
            );
        }
    }
}
