//! Start-up wiring: configuration -> control-plane state -> EAL, ports, table -> workers
//! and the control loop, in the order that lets every error surface before traffic flows.

use crate::config::{Config, Role};
use crate::control::admin;
use crate::control::journal::Journal;
use crate::control::lcore::ControlCtx;
use crate::control::preload;
use crate::control::registrar::Registrar;
use crate::control::service::RegistrationService;
use crate::control::subscribers::Subscribers;
use crate::dataplane::counters::Counters;
use crate::dataplane::neigh::Neighbours;
use crate::dataplane::pipeline::{NextHop, Plane, PortInfo};
use crate::dataplane::worker::{self, WorkerCtx};
use msm_dpdk::{Eal, Mempool, PortConf, PortId, Ring};
use msm_table::{Rcu, TableConfig, TableWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Config and preload, validated before EAL starts.
pub fn load(path: &std::path::Path) -> Result<(Config, Vec<preload::Preload>), String> {
    let cfg = Config::load(path).map_err(|e| e.to_string())?;
    let pre = match &cfg.preload {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("config: table.preload: {}: {e}", p.display()))?;
            preload::parse(&text, &cfg.home_pools)
                .map_err(|e| format!("config: table.preload: {}: {e}", p.display()))?
        }
        None => Vec::new(),
    };
    if pre.len() as u64 > cfg.max_bindings {
        return Err(format!(
            "config: table.preload: {} bindings exceed table.max_bindings {}",
            pre.len(),
            cfg.max_bindings
        ));
    }
    Ok((cfg, pre))
}

pub fn run(cfg: Config, pre: Vec<preload::Preload>) -> Result<(), String> {
    // Control-plane state first: its errors come before EAL starts.
    let subs = match &cfg.registration.subscribers {
        Some(p) => {
            let t = Instant::now();
            let s = Subscribers::load(p, &cfg.home_pools)
                .map_err(|e| format!("config: control.subscribers: {e}"))?;
            info!(
                "{} subscribers loaded from {} in {:?}",
                s.len(),
                p.display(),
                t.elapsed()
            );
            Some(s)
        }
        None => {
            warn!("no control.subscribers: every registration is refused");
            None
        }
    };
    let (journal, replay) = match &cfg.registration.state_dir {
        Some(d) => {
            let (j, r) = Journal::open(d).map_err(|e| format!("journal: {e}"))?;
            for w in &r.warnings {
                warn!("journal: {w}");
            }
            (Some(j), Some(r))
        }
        None => {
            warn!("no control.state_dir: bindings are NOT durable");
            (None, None)
        }
    };
    let eal = Eal::init(&cfg.eal_args).map_err(|e| format!("EAL: {e}"))?;
    let main_lcore = msm_dpdk::main_lcore();
    if let Some(c) = cfg.control_lcore {
        if c != main_lcore {
            return Err(format!(
                "config: control.lcore: {c} is not the EAL main lcore ({main_lcore}); the control loop runs on the main lcore"
            ));
        }
    }
    let available: Vec<u32> = msm_dpdk::worker_lcores().collect();
    for (i, w) in cfg.workers.iter().enumerate() {
        if !available.contains(&w.lcore) {
            return Err(format!(
                "config: worker[{i}].lcore: lcore {} is not an EAL worker lcore (EAL has {available:?}; check eal.args -l)",
                w.lcore
            ));
        }
    }
    let socket = msm_dpdk::socket_id();
    let pool = Mempool::new("msm_pool", cfg.mbufs, cfg.mbuf_cache, cfg.data_room, socket)
        .map_err(|e| format!("mempool: {e}"))?;

    // Ports.
    let mut ports = Vec::new();
    let mut infos = Vec::new();
    for (i, pc) in cfg.ports.iter().enumerate() {
        let id = PortId::by_name(&pc.device)
            .map_err(|e| format!("config: port[{i}].device '{}': {e}", pc.device))?;
        let setup = id
            .configure(
                &PortConf {
                    rx_queues: cfg.rx_queues(i),
                    tx_queues: cfg.tx_queues(),
                    rx_desc: pc.rx_desc,
                    tx_desc: pc.tx_desc,
                    mtu: Some(pc.mtu),
                    promiscuous: false,
                    rss: true,
                },
                &pool,
            )
            .map_err(|e| format!("port[{i}] '{}': {e}", pc.name))?;
        for w in &setup.warnings {
            warn!("port[{i}] '{}': {w}", pc.name);
        }
        let mac = id
            .mac_addr()
            .map_err(|e| format!("port[{i}] '{}': {e}", pc.name))?;
        info!(
            "port[{i}] '{}' = {} ({}), role {:?}, {}/{}, mtu {}, mac {}",
            pc.name,
            pc.device,
            id.driver_name().unwrap_or_default(),
            pc.role,
            std::net::Ipv4Addr::from(pc.address),
            pc.prefix_len,
            pc.mtu,
            mac.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        );
        infos.push(PortInfo {
            role: pc.role,
            ip: pc.address,
            mac,
            mtu: pc.mtu,
        });
        ports.push(id);
    }

    // Next hops.
    let wp = &cfg.ports[cfg.wwan_port];
    let wwan_gw = if wp.role == Role::Both {
        wp.wwan_gateway.unwrap_or(wp.gateway)
    } else {
        wp.gateway
    };
    let ip_ = &cfg.ports[cfg.internet_port];
    let neigh = Neighbours::new(&[
        (cfg.wwan_port as u16, wwan_gw),
        (cfg.internet_port as u16, ip_.gateway),
    ]);
    let to_wwan = NextHop {
        port: cfg.wwan_port as u16,
        neigh: neigh
            .index_of(cfg.wwan_port as u16, wwan_gw)
            .ok_or("internal: wwan next hop")?,
    };
    let to_internet = NextHop {
        port: cfg.internet_port as u16,
        neigh: neigh
            .index_of(cfg.internet_port as u16, ip_.gateway)
            .ok_or("internal: internet next hop")?,
    };
    let plane = Arc::new(Plane {
        ports: infos,
        pools: cfg.home_pools.clone(),
        msm_wlan: ip_.address,
        msm_gprs: wp.address,
        to_internet,
        to_wwan,
        outer_ttl: cfg.tunnel.outer_ttl,
        mss_max: cfg.tunnel.mss_clamp.then(|| ip_.mtu.saturating_sub(60)),
        neigh,
    });

    // Binding table, preloaded and published before any worker runs.
    let (rcu, mut readers) = Rcu::new(cfg.workers.len());
    let mut tc = TableConfig::new(cfg.max_bindings as usize);
    tc.initial_capacity = cfg.table_capacity.min(cfg.max_bindings) as usize;
    let mut writer = TableWriter::new(tc, rcu).map_err(|e| format!("table: {e}"))?;
    let t0 = Instant::now();
    for p in &pre {
        writer
            .upsert(p.home, p.coa, p.msisdn, u32::MAX)
            .map_err(|e| format!("table.preload: {}: {e}", std::net::Ipv4Addr::from(p.home)))?;
    }
    info!("{} bindings preloaded in {:?}", pre.len(), t0.elapsed());
    let home_agents: Vec<u32> = cfg.ports.iter().map(|p| p.address).collect();
    let mut registrar = subs.map(|s| {
        Registrar::new(
            cfg.registration.clone(),
            cfg.home_pools.clone(),
            s,
            home_agents,
        )
    });
    if let Some(r) = &replay {
        let t = Instant::now();
        let now = crate::control::registrar::Now::system()
            .unix_s
            .min(u32::MAX as u64 - 1) as u32;
        if let Some(reg) = registrar.as_mut() {
            for rec in &r.records {
                if rec.last_ident != 0 && rec.msisdn != 0 {
                    reg.restore_ident(rec.msisdn, rec.last_ident);
                }
            }
        }
        let mut restored = 0usize;
        for rec in r.live(now) {
            let b = rec.binding();
            writer
                .upsert(b.home, b.coa, b.msisdn, b.expires_at)
                .map_err(|e| {
                    format!("journal replay: {}: {e}", std::net::Ipv4Addr::from(b.home))
                })?;
            restored += 1;
        }
        info!(
            "journal: {restored} live bindings restored in {:?} (cut {} bytes)",
            t.elapsed(),
            r.cut_bytes
        );
    }
    drop(replay);
    // Published before any worker takes traffic.
    writer.publish();
    info!(
        "table published: {} bindings, {} bytes",
        writer.len(),
        writer.memory_bytes()
    );

    // Workers.
    let counters: Arc<[Counters]> = (0..cfg.workers.len())
        .map(|_| Counters::default())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut rings = Vec::new();
    let mut launched = Vec::new();
    let mut reader_iter = readers.drain(..);
    for (wi, w) in cfg.workers.iter().enumerate() {
        let (prod, cons) = Ring::new_spsc(&format!("msm_ctl{wi}"), cfg.control_ring_size, socket)
            .map_err(|e| format!("ring: {e}"))?;
        rings.push(cons);
        let mut rx = Vec::new();
        for &(pi, q) in &w.queues {
            rx.push((
                pi as u16,
                ports[pi]
                    .rx_queue(q)
                    .map_err(|e| format!("worker[{wi}] rx: {e}"))?,
            ));
        }
        let mut tx = Vec::new();
        for p in &ports {
            tx.push(
                p.tx_queue(wi as u16)
                    .map_err(|e| format!("worker[{wi}] tx: {e}"))?,
            );
        }
        let ctx = WorkerCtx {
            index: wi,
            plane: plane.clone(),
            table: writer.handle(),
            reader: reader_iter.next().ok_or("internal: rcu readers")?,
            rx,
            tx,
            to_control: prod,
            pool: pool.clone(),
            counters: counters.clone(),
            stop: stop.clone(),
            icmp_rate_per_sec: cfg.tunnel.icmp_rate_per_sec,
            icmp_burst: cfg.tunnel.icmp_burst,
        };
        launched.push((wi, w.lcore, ctx));
    }
    drop(reader_iter);
    let mut ctl_tx = Vec::new();
    for p in &ports {
        ctl_tx.push(
            p.tx_queue(cfg.workers.len() as u16)
                .map_err(|e| format!("control tx: {e}"))?,
        );
    }
    let admin_srv = match &cfg.control_socket {
        Some(path) => Some(
            admin::Server::bind(path)
                .map_err(|e| format!("config: control.socket {}: {e}", path.display()))?,
        ),
        None => None,
    };

    // SAFETY: installing a handler that only stores to an atomic is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let stop_watch = stop.clone();
    // The control loop watches the process-wide flag through the shared stop flag.
    let watcher = std::thread::spawn(move || {
        while !STOP.load(Ordering::Relaxed) && !stop_watch.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        stop_watch.store(true, Ordering::Relaxed);
    });

    for (wi, lcore, ctx) in launched {
        info!("worker[{wi}] on lcore {lcore}");
        eal.launch_on(lcore, Box::new(move || worker::run(ctx)))
            .map_err(|e| format!("worker[{wi}] launch on lcore {lcore}: {e}"))?;
    }
    info!(
        "msm running: control on lcore {main_lcore}, {} worker(s)",
        cfg.workers.len()
    );

    let compact_bytes = cfg.registration.journal_compact_bytes;
    let ctl = ControlCtx {
        service: RegistrationService::new(registrar, writer, journal, compact_bytes),
        cfg,
        plane,
        rings,
        tx: ctl_tx,
        ports,
        pool,
        counters,
        stop: stop.clone(),
        admin: admin_srv,
        started: Instant::now(),
        ip_id: 0,
        reload: None,
        reload_status: None,
    };
    let final_stats = ctl.run();
    eal.wait_all();
    let _ = watcher.join();
    info!("stopped");
    println!(
        "{}",
        serde_json::to_string_pretty(&final_stats).unwrap_or_default()
    );
    Ok(())
}
