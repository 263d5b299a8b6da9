//! The workers: one control ring, rx queues and a tx queue per port each, then their
//! launch on the EAL worker lcores.

use super::StartError;
use crate::config::Config;
use crate::dataplane::counters::Counters;
use crate::dataplane::pipeline::Plane;
use crate::dataplane::worker::{self, WorkerCtx};
use msm_dpdk::{Eal, Mempool, PortId, Ring, RingConsumer};
use msm_table::{RcuReader, TableWriter};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tracing::info;

/// Workers ready to launch, and what the control lcore keeps of them.
pub(super) struct Workers {
    /// (worker index, lcore, context).
    pub launch: Vec<(usize, u32, WorkerCtx)>,
    /// The consumer end of each worker's ring to the control lcore.
    pub rings: Vec<RingConsumer>,
    pub counters: Arc<[Counters]>,
    /// Set to stop the workers and the control loop.
    pub stop: Arc<AtomicBool>,
}

/// Builds every worker's context; nothing runs yet.
pub(super) fn prepare(
    cfg: &Config,
    ports: &[PortId],
    plane: &Arc<Plane>,
    writer: &TableWriter,
    readers: Vec<RcuReader>,
    pool: &Mempool,
    socket: i32,
) -> Result<Workers, StartError> {
    let counters: Arc<[Counters]> = (0..cfg.workers.len())
        .map(|_| Counters::default())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut rings = Vec::new();
    let mut launch = Vec::new();
    let mut readers = readers.into_iter();
    for (wi, w) in cfg.workers.iter().enumerate() {
        let (prod, cons) = Ring::new_spsc(&format!("msm_ctl{wi}"), cfg.control_ring_size, socket)
            .map_err(StartError::Ring)?;
        rings.push(cons);
        let mut rx = Vec::new();
        for &(pi, q) in &w.queues {
            let queue = ports[pi]
                .rx_queue(q)
                .map_err(|source| StartError::WorkerRx { index: wi, source })?;
            rx.push((pi as u16, queue));
        }
        let mut tx = Vec::new();
        for p in ports {
            tx.push(
                p.tx_queue(wi as u16)
                    .map_err(|source| StartError::WorkerTx { index: wi, source })?,
            );
        }
        let ctx = WorkerCtx {
            index: wi,
            plane: plane.clone(),
            table: writer.handle(),
            reader: readers.next().ok_or(StartError::Internal("rcu readers"))?,
            rx,
            tx,
            to_control: prod,
            pool: pool.clone(),
            counters: counters.clone(),
            stop: stop.clone(),
            icmp_rate_per_sec: cfg.tunnel.icmp_rate_per_sec,
            icmp_burst: cfg.tunnel.icmp_burst,
        };
        launch.push((wi, w.lcore, ctx));
    }
    Ok(Workers {
        launch,
        rings,
        counters,
        stop,
    })
}

/// Starts each worker's loop on its lcore.
pub(super) fn launch(eal: &Eal, launch: Vec<(usize, u32, WorkerCtx)>) -> Result<(), StartError> {
    for (wi, lcore, ctx) in launch {
        info!("worker[{wi}] on lcore {lcore}");
        eal.launch_on(lcore, Box::new(move || worker::run(ctx)))
            .map_err(|source| StartError::Launch {
                index: wi,
                lcore,
                source,
            })?;
    }
    Ok(())
}
