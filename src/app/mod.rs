//! Start-up wiring: configuration -> control-plane state -> EAL, ports, table -> workers
//! and the control loop, in the order that lets every error surface before traffic flows.

mod dpdk_tools;
mod error;
pub mod notify;
mod ports;
mod table;
mod workers;

pub use error::{LoadError, RunError, StartError};

use crate::config::Config;
use crate::control::admin;
use crate::control::cluster::{self, MsmLog};
use crate::control::journal::{Journal, Replay};
use crate::control::lcore::ControlCtx;
use crate::control::metrics::{self, Metrics};
use crate::control::preload::{self, PreloadFile};
use crate::control::registrar::Registrar;
use crate::control::service::RegistrationService;
use crate::control::stats::Snapshot;
use crate::control::subscribers::Subscribers;
use crate::control::top::TopN;
use msm_dpdk::{Eal, Mempool};
use msm_table::Rcu;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Config and preload file, validated before EAL starts.
pub fn load(path: &Path) -> Result<(Config, Option<PreloadFile>), LoadError> {
    let cfg = Config::load(path)?;
    let pre = match &cfg.preload {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| LoadError::PreloadRead {
                path: p.clone(),
                source,
            })?;
            let bindings =
                preload::parse(&text, &cfg.home_pools).map_err(|source| LoadError::Preload {
                    path: p.clone(),
                    source,
                })?;
            Some(PreloadFile {
                bindings,
                sha256: preload::digest(text.as_bytes()),
            })
        }
        None => None,
    };
    let count = pre.as_ref().map_or(0, |p| p.bindings.len());
    if count as u64 > cfg.max_bindings {
        return Err(LoadError::PreloadTooLarge {
            count,
            max: cfg.max_bindings,
        });
    }
    Ok((cfg, pre))
}

/// What `msm check-config` found in a valid configuration.
pub struct Checked {
    pub cfg: Config,
    pub preloaded: usize,
    pub subscribers: usize,
}

/// [`load`], plus the subscriber file: everything `msm run` reads before EAL starts.
pub fn check(path: &Path) -> Result<Checked, LoadError> {
    let (cfg, pre) = load(path)?;
    let subscribers = match &cfg.registration.subscribers {
        Some(p) => Subscribers::load(p, &cfg.home_pools)
            .map_err(LoadError::Subscribers)?
            .len(),
        None => 0,
    };
    Ok(Checked {
        cfg,
        preloaded: pre.map_or(0, |p| p.bindings.len()),
        subscribers,
    })
}

/// Starts the MSM and runs it until SIGINT or SIGTERM (or a worker's panic); then prints
/// the final stats.
pub fn run(cfg: Config, pre: Option<PreloadFile>) -> Result<(), RunError> {
    // Control-plane state first: its errors come before EAL starts.
    let inject = workers::injected_panic(
        std::env::var(workers::PANIC_WORKER_ENV).ok().as_deref(),
        cfg.workers.len(),
    )?;
    let subs = load_subscribers(&cfg)?;
    let (mut journal, replay) = open_journal(&cfg)?;
    let eal = Eal::init(&cfg.eal_args).map_err(StartError::Eal)?;
    let main_lcore = check_lcores(&cfg)?;
    let socket = msm_dpdk::socket_id();
    let pool = Mempool::new("msm_pool", cfg.mbufs, cfg.mbuf_cache, cfg.data_room, socket)
        .map_err(StartError::Mempool)?;
    let (ports, infos) = ports::start(&cfg, &pool)?;
    let plane = Arc::new(ports::plane(&cfg, infos)?);

    // Binding table, preloaded and published before any worker runs.
    let (rcu, readers) = Rcu::new(cfg.workers.len());
    let home_agents: Vec<u32> = cfg.ports.iter().map(|p| p.address).collect();
    let mut registrar = subs.map(|s| {
        Registrar::new(
            cfg.registration.clone(),
            cfg.home_pools.clone(),
            s,
            home_agents,
        )
    });
    let writer = table::build(
        &cfg,
        rcu,
        pre.as_ref(),
        replay,
        journal.as_mut(),
        registrar.as_mut(),
    )?;

    let workers = workers::prepare(&cfg, &ports, &plane, &writer, readers, &pool, socket)?;
    let mut ctl_tx = Vec::new();
    for p in &ports {
        ctl_tx.push(
            p.tx_queue(cfg.workers.len() as u16)
                .map_err(StartError::ControlTx)?,
        );
    }
    let admin_srv = match &cfg.control_socket {
        Some(path) => {
            Some(
                admin::Server::bind(path).map_err(|source| StartError::AdminSocket {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    // Everything that can fail starts before the workers do.
    crate::control::housekeeping::configure(&cfg.housekeeping_cpus);
    if !cfg.housekeeping_cpus.is_empty() {
        info!(cpus = ?cfg.housekeeping_cpus, "background threads on the housekeeping CPUs");
    }
    let audit = match &cfg.audit {
        Some(a) => Some(crate::control::audit::start(a.clone()).map_err(|source| {
            StartError::AuditLog {
                path: a.path.clone(),
                source,
            }
        })?),
        None => None,
    };
    let snapshot = Arc::new(Snapshot::default());
    let telemetry = dpdk_tools::start(&eal, &cfg, &ports, &snapshot);
    let metrics = match cfg.metrics_listen {
        Some(addr) => {
            let m = Arc::new(Metrics::new(Arc::clone(&snapshot)));
            metrics::serve(addr, Arc::clone(&m))
                .map_err(|source| StartError::Metrics { addr, source })?;
            info!("metrics at http://{addr}/metrics");
            Some(m)
        }
        None => None,
    };
    // SIGINT and SIGTERM set the flag the workers and the control loop watch.
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&workers.stop)).map_err(StartError::Signal)?;
    }
    workers::launch(&eal, workers.launch, &workers.stop, &workers.faults, inject)?;
    info!(
        "msm running: control on lcore {main_lcore}, {} worker(s)",
        cfg.workers.len()
    );

    let compact_bytes = cfg.registration.journal_compact_bytes;
    let (journal, cluster) = replicate(&cfg, journal)?;
    let mut service = RegistrationService::new(registrar, writer, journal, compact_bytes);
    if let Some(a) = audit {
        service.set_audit(a);
    }
    let top = TopN::new(
        cfg.top_sample_every,
        Duration::from_secs(u64::from(cfg.top_window_s)),
        cfg.workers.len(),
        Instant::now(),
    );
    let ctl = ControlCtx {
        service,
        cfg,
        plane,
        rings: workers.rings,
        tx: ctl_tx,
        ports,
        pool,
        counters: workers.counters,
        traces: workers.traces,
        samples: workers.samples,
        top,
        stop: workers.stop,
        worker_faults: workers.faults.clone(),
        admin: admin_srv,
        started: Instant::now(),
        ip_id: 0,
        reload: None,
        reload_status: None,
        alarms: Default::default(),
        snapshot: (metrics.is_some() || telemetry.is_some()).then_some(snapshot),
        metrics,
        telemetry,
        notify: notify::Notifier::from_env(),
        cluster,
        deposed: None,
    };
    let (final_stats, deposed) = ctl.run();
    eal.wait_all();
    info!("stopped");
    println!(
        "{}",
        serde_json::to_string_pretty(&final_stats).unwrap_or_default()
    );
    if workers.faults.failed() {
        return Err(RunError::WorkerStopped(workers.faults.describe()));
    }
    if let Some(why) = deposed {
        return Err(RunError::Deposed(why));
    }
    Ok(())
}

/// With `[cluster]`: starts the etcd thread and wraps the journal so that a group is
/// durable only once etcd has it too (`docs/cluster.md`). Without: the journal alone.
fn replicate(
    cfg: &Config,
    journal: Option<Journal>,
) -> Result<(Option<MsmLog>, Option<cluster::etcd::Handle>), StartError> {
    let (c, j) = match (&cfg.cluster, journal) {
        (Some(c), Some(j)) => (c, j),
        (_, j) => return Ok((j.map(MsmLog::Local), None)),
    };
    let handle = cluster::etcd::Handle::start(cluster::etcd::EtcdConfig {
        endpoints: c.endpoints.clone(),
        member: c.member.clone(),
        shard: c.shard.clone(),
        lease_ttl: Duration::from_millis(c.lease_ttl_ms),
    })
    .map_err(StartError::Cluster)?;
    info!(
        member = %c.member,
        shard = %c.shard,
        "cluster: bindings replicated through etcd at {:?}; standby until this member wins the shard",
        c.endpoints
    );
    let log = cluster::replicated::ReplicatedLog::new(
        j,
        handle.replicator(),
        Duration::from_millis(c.lease_ttl_ms),
    );
    Ok((Some(MsmLog::Replicated(log)), Some(handle)))
}

/// The subscriber file, if configured: without it registrations get no reply.
fn load_subscribers(cfg: &Config) -> Result<Option<Subscribers>, StartError> {
    let Some(p) = &cfg.registration.subscribers else {
        warn!(
            "no control.subscribers: registration requests are dropped without a reply \
             (counted as registrations_no_subscribers)"
        );
        return Ok(None);
    };
    let t = Instant::now();
    let s = Subscribers::load(p, &cfg.home_pools).map_err(StartError::Subscribers)?;
    info!(
        "{} subscribers loaded from {} in {:?}",
        s.len(),
        p.display(),
        t.elapsed()
    );
    Ok(Some(s))
}

/// The binding journal, if configured, and what it holds.
fn open_journal(cfg: &Config) -> Result<(Option<Journal>, Option<Replay>), StartError> {
    let Some(d) = &cfg.registration.state_dir else {
        warn!("no control.state_dir: bindings are NOT durable");
        return Ok((None, None));
    };
    let (j, r) = Journal::open(d).map_err(StartError::Journal)?;
    for w in &r.warnings {
        warn!("journal: {w}");
    }
    Ok((Some(j), Some(r)))
}

/// The control loop runs on the EAL main lcore, the workers on EAL worker lcores;
/// returns the main lcore.
fn check_lcores(cfg: &Config) -> Result<u32, StartError> {
    let main = msm_dpdk::main_lcore();
    if let Some(lcore) = cfg.control_lcore {
        if lcore != main {
            return Err(StartError::ControlLcore { lcore, main });
        }
    }
    let available: Vec<u32> = msm_dpdk::worker_lcores().collect();
    for (index, w) in cfg.workers.iter().enumerate() {
        if !available.contains(&w.lcore) {
            return Err(StartError::WorkerLcore {
                index,
                lcore: w.lcore,
                available,
            });
        }
    }
    Ok(main)
}
