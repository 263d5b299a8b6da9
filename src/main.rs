//! `msm`: the Mobility Supporting Module appliance.
//!
//! * `msm run --config FILE`: start the data plane (EAL, ports, workers, control lcore).
//! * `msm check-config FILE`: validate a configuration (and its preload file) and exit.
//! * `msm ctl [--socket PATH] CMD...`: talk to a running MSM (`stats`, `show HOME`, ...).

use clap::{Parser, Subcommand};
use msm::app;
use msm::control::admin;
use msm::control::subscribers::Subscribers;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::error;

#[derive(Parser)]
#[command(
    name = "msm",
    version,
    about = "Mobility Supporting Module (DPDK IP-in-IP mobility anchor)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the MSM.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file and exit.
    CheckConfig { config: PathBuf },
    /// Send a command to a running MSM: ping | stats | show HOME | bind HOME COA|- MSISDN | unbind HOME | reload
    Ctl {
        #[arg(long, default_value = "/run/msm.sock")]
        socket: PathBuf,
        #[arg(required = true, trailing_var_arg = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MSM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::CheckConfig { config } => match app::load(&config) {
            Ok((cfg, pre)) => {
                let subs = match &cfg.registration.subscribers {
                    Some(p) => match Subscribers::load(p, &cfg.home_pools) {
                        Ok(s) => s.len(),
                        Err(e) => {
                            eprintln!("config: control.subscribers: {e}");
                            return ExitCode::from(2);
                        }
                    },
                    None => 0,
                };
                println!(
                    "{}: ok ({} ports, {} workers, {} preloaded bindings, {} subscribers)",
                    config.display(),
                    cfg.ports.len(),
                    cfg.workers.len(),
                    pre.len(),
                    subs
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Cmd::Ctl { socket, args } => match admin::request(&socket, &args.join(" ")) {
            Ok(reply) => {
                print!("{reply}");
                if reply.starts_with("{\"error\"") {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => {
                eprintln!("msm ctl: {}: {e}", socket.display());
                ExitCode::from(2)
            }
        },
        Cmd::Run { config } => {
            let (cfg, pre) = match app::load(&config) {
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
                    ExitCode::from(1)
                }
            }
        }
    }
}
