//! `msm`: the command line of the Mobility Supporting Module (run, check-config, ctl).
//!
//! * `msm run --config FILE`: start the data plane (EAL, ports, workers, control lcore).
//! * `msm check-config FILE`: validate a configuration (and the files it names) and exit.
//! * `msm ctl [--socket PATH] ping | stats | show HOME | bind HOME COA|- MSISDN |
//!   unbind HOME | reload | trace N|show|clear | top [N]`: talk to a running MSM.
//!
//! Exit codes: 2 for an invalid configuration (or a `ctl` socket that fails), 1 for a
//! run-time failure (or an error answered by the MSM), 3 when a worker panicked (alarm
//! `worker_stopped`; the other workers were stopped).

use clap::{Args, CommandFactory, Parser, Subcommand};
use msm::app;
use msm::control::admin::{self, Command};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tracing::error;

#[derive(Parser)]
#[command(
    name = "msm",
    version,
    about = "Mobility Supporting Module (DPDK IP-in-IP mobility anchor)",
    after_long_help = "Exit status: 0 on success, 1 on a run-time failure, 2 for an invalid \
                       configuration, 3 when a worker panicked (alarm worker_stopped; the \
                       others were stopped). The log goes to stderr; MSM_LOG sets its filter \
                       (e.g. MSM_LOG=debug); MSM_LOG_FORMAT=json writes it as JSON lines."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the MSM until SIGINT or SIGTERM, then print the final stats (JSON).
    Run {
        /// Configuration file (TOML; fields in dpdk-config/README.md).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file, its preload and subscriber files, and exit.
    CheckConfig {
        /// Configuration file.
        config: PathBuf,
    },
    /// Send a command to a running MSM and print its JSON answer.
    #[command(
        after_long_help = "Exit status: 0 when the MSM answers, 1 when it answers an error, \
                           2 when the socket fails or the arguments are invalid."
    )]
    Ctl(CtlArgs),
    /// Write the man pages (msm.1, msm-ctl.1, ...) into DIR.
    #[command(hide = true)]
    Manpages { dir: PathBuf },
}

#[derive(Args)]
struct CtlArgs {
    /// The MSM's control socket (control.socket in its configuration).
    #[arg(long, global = true, default_value = "/run/msm.sock")]
    socket: PathBuf,
    #[command(subcommand)]
    request: CtlRequest,
}

#[derive(Subcommand)]
enum CtlRequest {
    /// Check that the MSM answers.
    Ping,
    /// Every counter: per worker, summed, control lcore, ports, table, neighbours.
    Stats,
    /// The binding of one home address.
    Show {
        /// Home address.
        #[arg(value_name = "HOME", value_parser = ip)]
        home: Ipv4Addr,
    },
    /// Bind a home address (journalled, then published to the workers).
    Bind {
        /// Home address, inside a home pool.
        #[arg(value_name = "HOME", value_parser = ip)]
        home: Ipv4Addr,
        /// Care-of address, or - for none (the terminal is reached over the WWAN).
        #[arg(value_name = "COA|-", value_parser = care_of, allow_hyphen_values = true)]
        coa: CareOf,
        /// The subscriber's MSISDN (1 to 15 digits).
        #[arg(value_parser = msisdn)]
        msisdn: u64,
    },
    /// Remove the binding of a home address.
    Unbind {
        /// Home address.
        #[arg(value_name = "HOME", value_parser = ip)]
        home: Ipv4Addr,
    },
    /// Re-read the subscriber file in the background (outcome in stats:
    /// control.subscribers_reload).
    Reload,
    /// Packet trace: record the next N packets of each worker on their way through the
    /// pipeline (ingress, classification, binding, action, drop reason, events), show
    /// them, or clear them.
    Trace {
        /// A packet count (1..4096), `show` or `clear`.
        #[arg(value_name = "N|show|clear", value_parser = trace)]
        what: admin::TraceCommand,
    },
    /// The home addresses carrying the most traffic over the last one to two
    /// control.top_window_s, estimated from the workers' 1-in-K samples
    /// (control.top_sample_every): bytes (scaled by K, with a lower bound), bytes/s,
    /// per direction, samples.
    Top {
        /// How many (1..=20).
        #[arg(value_name = "N", default_value = "10", value_parser = top)]
        n: usize,
    },
}

/// A care-of address, or none (`-`).
#[derive(Clone, Copy)]
struct CareOf(Option<Ipv4Addr>);

fn ip(s: &str) -> Result<Ipv4Addr, admin::CommandError> {
    admin::parse_addr(s).map(Ipv4Addr::from)
}

fn care_of(s: &str) -> Result<CareOf, admin::CommandError> {
    admin::parse_care_of(s).map(|c| CareOf(c.map(Ipv4Addr::from)))
}

fn trace(s: &str) -> Result<admin::TraceCommand, admin::CommandError> {
    s.parse()
}

fn top(s: &str) -> Result<usize, admin::CommandError> {
    admin::parse_top(s)
}

fn msisdn(s: &str) -> Result<u64, admin::CommandError> {
    admin::parse_msisdn(s)
}

impl From<CtlRequest> for Command {
    fn from(r: CtlRequest) -> Command {
        match r {
            CtlRequest::Ping => Command::Ping,
            CtlRequest::Stats => Command::Stats,
            CtlRequest::Reload => Command::Reload,
            CtlRequest::Trace { what } => Command::Trace(what),
            CtlRequest::Top { n } => Command::Top(n),
            CtlRequest::Show { home } => Command::Show(home.into()),
            CtlRequest::Unbind { home } => Command::Unbind(home.into()),
            CtlRequest::Bind { home, coa, msisdn } => Command::Bind {
                home: home.into(),
                coa: coa.0.map(u32::from),
                msisdn,
            },
        }
    }
}

fn main() -> ExitCode {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MSM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr);
    // MSM_LOG_FORMAT=json: one JSON object per log line (for a log shipper).
    if std::env::var("MSM_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    match Cli::parse().cmd {
        Cmd::CheckConfig { config } => check_config(&config),
        Cmd::Ctl(args) => ctl(args),
        Cmd::Run { config } => run(&config),
        Cmd::Manpages { dir } => match write_man_pages(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("msm manpages: {}: {e}", dir.display());
                ExitCode::from(1)
            }
        },
    }
}

fn check_config(config: &Path) -> ExitCode {
    match app::check(config) {
        Ok(c) => {
            println!(
                "{}: ok ({} ports, {} workers, {} preloaded bindings, {} subscribers)",
                config.display(),
                c.cfg.ports.len(),
                c.cfg.workers.len(),
                c.preloaded,
                c.subscribers
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn run(config: &Path) -> ExitCode {
    let (cfg, pre) = match app::load(config) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match app::run(cfg, pre) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Sends one request line; exit 1 when the MSM answers an error, 2 when the socket fails.
fn ctl(args: CtlArgs) -> ExitCode {
    let line = Command::from(args.request).to_string();
    match admin::request(&args.socket, &line) {
        Ok(reply) => {
            print!("{reply}");
            if reply.starts_with("{\"error\"") {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("msm ctl: {}: {e}", args.socket.display());
            ExitCode::from(2)
        }
    }
}

/// The man pages of `msm` and its visible subcommands: (file name, roff text).
fn man_pages() -> Vec<(String, Vec<u8>)> {
    fn render(cmd: clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            render(sub.clone(), out);
        }
        let man = clap_mangen::Man::new(cmd).source(concat!("msm ", env!("CARGO_PKG_VERSION")));
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

fn write_man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in man_pages() {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn ctl_line(args: &[&str]) -> Result<String, clap::Error> {
        let cli = Cli::try_parse_from(["msm", "ctl"].iter().chain(args))?;
        match cli.cmd {
            Cmd::Ctl(a) => Ok(Command::from(a.request).to_string()),
            _ => unreachable!(),
        }
    }

    /// The invocations of tests/ and scripts/ send the same lines as before.
    #[test]
    fn ctl_sends_the_request_lines() {
        let s = ["--socket", "/tmp/x.sock"];
        let line = |rest: &[&str]| ctl_line(&[&s[..], rest].concat()).unwrap();
        assert_eq!(line(&["ping"]), "ping");
        assert_eq!(line(&["stats"]), "stats");
        assert_eq!(line(&["reload"]), "reload");
        assert_eq!(line(&["show", "192.0.2.10"]), "show 192.0.2.10");
        assert_eq!(line(&["unbind", "192.0.2.10"]), "unbind 192.0.2.10");
        assert_eq!(
            line(&["bind", "192.0.2.10", "-", "491700000010"]),
            "bind 192.0.2.10 - 491700000010"
        );
        assert_eq!(
            line(&["bind", "192.0.2.10", "203.0.113.10", "4917"]),
            "bind 192.0.2.10 203.0.113.10 4917"
        );
        // --socket after the subcommand, and the default socket.
        assert_eq!(
            ctl_line(&["show", "192.0.2.10", "--socket", "/tmp/x"]).unwrap(),
            "show 192.0.2.10"
        );
        assert_eq!(ctl_line(&["ping"]).unwrap(), "ping");
        assert_eq!(line(&["top"]), "top 10");
        assert_eq!(line(&["top", "3"]), "top 3");
    }

    #[test]
    fn ctl_validates_on_the_client() {
        let e = |args: &[&str]| ctl_line(args).unwrap_err();
        let bad_top = e(&["top", "21"]).to_string();
        assert!(bad_top.contains("top wants a count 1..=20"), "{bad_top}");
        let bad_home = e(&["show", "192.0.2"]).to_string();
        assert!(
            bad_home.contains("'192.0.2' is not an IPv4 address"),
            "{bad_home}"
        );
        let bad_coa = e(&["bind", "192.0.2.10", "x", "4917"]).to_string();
        assert!(bad_coa.contains("'x' is not an IPv4 address"), "{bad_coa}");
        let bad_msisdn = e(&["bind", "192.0.2.10", "-", "49x"]).to_string();
        assert!(
            bad_msisdn.contains("MSISDN '49x' is not 1..15 digits"),
            "{bad_msisdn}"
        );
        assert_eq!(
            e(&["bind", "192.0.2.10", "-"]).kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            e(&["show", "192.0.2.10", "5"]).kind(),
            clap::error::ErrorKind::UnknownArgument
        );
        assert_eq!(
            e(&["reboot"]).kind(),
            clap::error::ErrorKind::InvalidSubcommand
        );
        // clap's usage errors exit with 2, like a socket that fails.
        assert_eq!(e(&["show", "x"]).exit_code(), 2);
    }

    /// docs/man/ holds what `msm manpages` writes today (`make man` regenerates it).
    #[test]
    fn committed_man_pages_are_current() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
        let pages = man_pages();
        assert!(pages.iter().any(|(n, _)| n == "msm-ctl.1"));
        assert!(pages.iter().any(|(n, _)| n == "msm-ctl-bind.1"));
        // No page left over from a subcommand that is gone.
        for e in std::fs::read_dir(&dir).into_iter().flatten() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name == "msm.1" || name.starts_with("msm-") {
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
