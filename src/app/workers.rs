//! The workers: one control ring, rx queues and a tx queue per port each, then their
//! launch on the EAL worker lcores.
//!
//! Each worker's loop runs inside [`worker::guarded`]: a panic is caught on its lcore
//! (never unwinding into DPDK), recorded in [`Workers::faults`] and seen by the control
//! loop, which raises `worker_stopped` and stops the MSM (`msm run` exits with 3). A
//! launch that fails after other workers started stops those (stop flag, wait) before
//! the error is returned.
//!
//! Fault injection, for tests only: `MSM_TEST_PANIC_WORKER=INDEX:MS` in the environment
//! of `msm run` makes worker INDEX panic after polling for MS milliseconds.

use super::StartError;
use crate::config::Config;
use crate::dataplane::counters::Counters;
use crate::dataplane::pipeline::Plane;
use crate::dataplane::sample::SampleRing;
use crate::dataplane::trace::Trace;
use crate::dataplane::worker::{self, WorkerCtx, WorkerFaults};
use msm_dpdk::{Eal, Mempool, PortId, Ring, RingConsumer};
use msm_table::{RcuReader, TableWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The environment variable of the test-only fault injection.
pub(super) const PANIC_WORKER_ENV: &str = "MSM_TEST_PANIC_WORKER";

/// Workers ready to launch, and what the control lcore keeps of them.
pub(super) struct Workers {
    /// (worker index, lcore, context).
    pub launch: Vec<(usize, u32, WorkerCtx)>,
    /// The consumer end of each worker's ring to the control lcore.
    pub rings: Vec<RingConsumer>,
    pub counters: Arc<[Counters]>,
    /// Every worker's packet trace (`msm ctl trace`).
    pub traces: Arc<[Trace]>,
    /// Every worker's traffic samples (the top-N view, `msm ctl top`).
    pub samples: Arc<[SampleRing]>,
    /// Set to stop the workers and the control loop.
    pub stop: Arc<AtomicBool>,
    /// Workers that stopped on a panic.
    pub faults: Arc<WorkerFaults>,
}

/// A test-only injected fault: worker `index` panics after polling for `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InjectedPanic {
    pub index: usize,
    pub after: Duration,
}

/// Parses [`PANIC_WORKER_ENV`] (`INDEX:MS`); `workers` bounds INDEX.
pub(super) fn injected_panic(
    value: Option<&str>,
    workers: usize,
) -> Result<Option<InjectedPanic>, StartError> {
    let Some(v) = value else { return Ok(None) };
    let bad = || StartError::FaultInjection(v.to_string());
    let (i, ms) = v.split_once(':').ok_or_else(bad)?;
    let index: usize = i.trim().parse().map_err(|_| bad())?;
    let ms: u64 = ms.trim().parse().map_err(|_| bad())?;
    if index >= workers {
        return Err(bad());
    }
    Ok(Some(InjectedPanic {
        index,
        after: Duration::from_millis(ms),
    }))
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
    let traces: Arc<[Trace]> = (0..cfg.workers.len()).map(|_| Trace::default()).collect();
    let samples: Arc<[SampleRing]> = (0..cfg.workers.len())
        .map(|_| SampleRing::default())
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
            traces: traces.clone(),
            samples: samples.clone(),
            sample_every: cfg.top_sample_every,
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
        traces,
        samples,
        stop,
        faults: Arc::new(WorkerFaults::default()),
    })
}

/// Starts each worker's loop on its lcore, inside [`worker::guarded`]. If a launch
/// fails, the workers already started are stopped (`stop` set, every lcore waited for)
/// and the error returned.
pub(super) fn launch(
    eal: &Eal,
    launch: Vec<(usize, u32, WorkerCtx)>,
    stop: &Arc<AtomicBool>,
    faults: &Arc<WorkerFaults>,
    inject: Option<InjectedPanic>,
) -> Result<(), StartError> {
    let jobs = launch.into_iter().map(|(wi, lcore, ctx)| {
        let faults = faults.clone();
        let inject = inject.filter(|p| p.index == wi);
        let job: Box<dyn FnOnce() -> i32 + Send> = match inject {
            None => Box::new(move || worker::guarded(wi, &faults, || worker::run(ctx))),
            Some(p) => {
                warn!(
                    "fault injection ({PANIC_WORKER_ENV}, test only): worker[{wi}] panics in {:?}",
                    p.after
                );
                Box::new(move || worker::guarded(wi, &faults, || run_then_panic(ctx, p.after)))
            }
        };
        (wi, lcore, job)
    });
    launch_all(
        jobs,
        |lcore, job| eal.launch_on(lcore, job),
        stop,
        || eal.wait_all(),
    )
}

/// The launch sequence, apart from EAL (unit-tested with threads): each job on its
/// lcore; on the first failure, `stop` is set and `wait_all` waits for the started ones.
fn launch_all<J>(
    jobs: impl IntoIterator<Item = (usize, u32, J)>,
    mut launch_on: impl FnMut(u32, J) -> Result<(), msm_dpdk::Error>,
    stop: &AtomicBool,
    wait_all: impl FnOnce(),
) -> Result<(), StartError> {
    for (started, (wi, lcore, job)) in jobs.into_iter().enumerate() {
        info!("worker[{wi}] on lcore {lcore}");
        if let Err(source) = launch_on(lcore, job) {
            warn!("worker[{wi}] launch on lcore {lcore} failed: stopping the {started} worker(s) started");
            stop.store(true, Ordering::SeqCst);
            wait_all();
            return Err(StartError::Launch {
                index: wi,
                lcore,
                source,
            });
        }
    }
    Ok(())
}

/// The injected fault: the worker's loop runs with its own stop flag, which a helper
/// thread raises after `after` (or as soon as the MSM stops); then it panics, unless the
/// MSM was stopping anyway.
fn run_then_panic(mut ctx: WorkerCtx, after: Duration) -> i32 {
    let global = std::mem::replace(&mut ctx.stop, Arc::new(AtomicBool::new(false)));
    let local = ctx.stop.clone();
    let watch = global.clone();
    let timer = std::thread::spawn(move || {
        let t0 = Instant::now();
        while !watch.load(Ordering::Relaxed) && t0.elapsed() < after {
            std::thread::sleep(Duration::from_millis(5));
        }
        local.store(true, Ordering::Relaxed);
    });
    let rc = worker::run(ctx);
    let _ = timer.join();
    if !global.load(Ordering::Relaxed) {
        panic!("fault injection: {PANIC_WORKER_ENV}");
    }
    rc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::thread::JoinHandle;

    #[test]
    fn injected_panic_is_parsed_and_bounded() {
        assert_eq!(injected_panic(None, 2).unwrap(), None);
        assert_eq!(
            injected_panic(Some("1:250"), 2).unwrap(),
            Some(InjectedPanic {
                index: 1,
                after: Duration::from_millis(250)
            })
        );
        for bad in ["2:10", "1", "x:10", "1:x", ""] {
            let e = injected_panic(Some(bad), 2).unwrap_err().to_string();
            assert!(e.contains(PANIC_WORKER_ENV) && e.contains(bad), "{e}");
        }
    }

    /// A failed launch after two started workers: the stop flag is set, both are waited
    /// for (they ran until the flag), and the error names the worker and lcore.
    #[test]
    fn failed_launch_stops_the_started_workers() {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Mutex<Vec<JoinHandle<i32>>> = Mutex::new(Vec::new());
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let job = |ran: Arc<std::sync::atomic::AtomicUsize>, stop: Arc<AtomicBool>| {
            move || {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                ran.fetch_add(1, Ordering::SeqCst);
                0
            }
        };
        let jobs = (0..4).map(|wi| (wi, 10 + wi as u32, job(ran.clone(), stop.clone())));
        let mut waited = false;
        let r = launch_all(
            jobs,
            |lcore, j| {
                if lcore == 12 {
                    return Err(msm_dpdk::Error::InvalidArgument("busy".into()));
                }
                threads.lock().unwrap().push(std::thread::spawn(j));
                Ok(())
            },
            &stop,
            || {
                waited = true;
                for t in threads.lock().unwrap().drain(..) {
                    t.join().unwrap();
                }
            },
        );
        let e = r.unwrap_err().to_string();
        assert!(e.starts_with("worker[2] launch on lcore 12"), "{e}");
        assert!(stop.load(Ordering::SeqCst));
        assert!(waited);
        assert_eq!(
            ran.load(Ordering::SeqCst),
            2,
            "the two started workers stopped"
        );
        assert!(threads.lock().unwrap().is_empty());
    }

    #[test]
    fn launches_all_without_stopping() {
        let stop = AtomicBool::new(false);
        let mut lcores = Vec::new();
        let r = launch_all(
            (0..3).map(|wi| (wi, wi as u32 + 1, ())),
            |lcore, ()| {
                lcores.push(lcore);
                Ok(())
            },
            &stop,
            || panic!("not waited for"),
        );
        assert!(r.is_ok());
        assert_eq!(lcores, vec![1, 2, 3]);
        assert!(!stop.load(Ordering::SeqCst));
    }
}
