//! The worker lcore: receive a burst, prefetch, classify/look up/rewrite, transmit.
//!
//! Each worker polls its (port, rx queue) list and owns tx queue `index` on every port
//! and one single-producer ring to the control lcore. Per burst it opens one RCU
//! read-side section (one Acquire load of the table generation; dropping the guard
//! reports the quiescent state), prefetches the binding buckets of the whole burst,
//! runs [`pipeline::process`] on each packet and flushes per-port tx bursts. No
//! allocation (bursts are inline arrays set up before the loop), no locks, no syscalls,
//! no atomic read-modify-write: counters are single-writer load+store.
//!
//! With the `stage-cycles` feature the loop is timed per stage ([`Clock`] laps, see
//! `stages.rs`); without it those calls are empty and compile to nothing.

use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::instrument::{Clock, Stage, Step};
use crate::dataplane::pipeline::{
    self, Action, Bindings, Lookup, PacketBuf, Plane, RateLimit, WorkerLocal,
};
use msm_dpdk::{Mbuf, MbufBurst, Mempool, RingProducer, RxQueue, TxQueue};
use msm_table::{RcuReader, TableHandle, TableView};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Packets per rx burst.
pub const BURST: usize = 32;
/// Per-port tx staging (a burst can fan out, fragments add packets).
const TX_STAGE: usize = 64;
/// tx retries before the rest of a staged burst is dropped (and counted).
const TX_RETRIES: usize = 4;

impl PacketBuf for Mbuf {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    #[inline(always)]
    fn prepend(&mut self, n: usize) -> bool {
        Mbuf::prepend(self, n).is_some()
    }
    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        Mbuf::adj(self, n)
    }
    #[inline(always)]
    fn trim(&mut self, n: usize) -> bool {
        Mbuf::trim(self, n)
    }
    #[inline(always)]
    fn append(&mut self, n: usize) -> bool {
        Mbuf::append(self, n).is_some()
    }
}

impl Bindings for TableView<'_> {
    #[inline(always)]
    fn lookup(&self, home: u32) -> Lookup {
        TableView::lookup(self, home)
    }
    #[inline(always)]
    fn prefetch(&self, home: u32) {
        TableView::prefetch(self, home)
    }
}

/// Everything one worker owns.
pub struct WorkerCtx {
    pub index: usize,
    pub plane: Arc<Plane>,
    pub table: TableHandle,
    pub reader: RcuReader,
    /// (port index, rx queue) pairs this worker polls.
    pub rx: Vec<(u16, RxQueue)>,
    /// tx queue `index` of every port, indexed by port.
    pub tx: Vec<TxQueue>,
    pub to_control: RingProducer,
    pub pool: Mempool,
    pub counters: Arc<[Counters]>,
    pub stop: Arc<AtomicBool>,
    pub icmp_rate_per_sec: u32,
    pub icmp_burst: u32,
}

struct TxStage {
    queue: TxQueue,
    burst: MbufBurst<TX_STAGE>,
}

impl TxStage {
    #[inline]
    fn push(&mut self, m: Mbuf, c: &Counters) {
        if let Err(m) = self.burst.push(m) {
            self.flush(c);
            if self.burst.push(m).is_err() {
                c.count_drop(DropReason::TxFull);
            }
        }
    }
    #[inline]
    fn flush(&mut self, c: &Counters) {
        if self.burst.is_empty() {
            return;
        }
        let (sent, dropped) = self.burst.tx_retry_or_free(&mut self.queue, TX_RETRIES);
        c.event_n(Event::TxPackets, sent as u64);
        if dropped > 0 {
            c.count_drop_n(DropReason::TxFull, dropped as u64);
        }
    }
}

/// The worker loop; returns when `stop` is set.
pub fn run(ctx: WorkerCtx) -> i32 {
    let WorkerCtx {
        index,
        plane,
        table,
        mut reader,
        mut rx,
        tx,
        mut to_control,
        pool,
        counters,
        stop,
        icmp_rate_per_sec,
        icmp_burst,
    } = ctx;
    let c = &counters[index];
    let hz = msm_dpdk::tsc_hz().max(1);
    let mut local = WorkerLocal {
        counters: c,
        ip_id: (index as u16).wrapping_mul(0x2f1d),
        icmp: RateLimit::new(icmp_rate_per_sec, icmp_burst, hz),
        now: msm_dpdk::rdtsc(),
        now_s: 0,
    };
    let mut stages: Vec<TxStage> = tx
        .into_iter()
        .map(|queue| TxStage {
            queue,
            burst: MbufBurst::new(),
        })
        .collect();
    let mut burst: MbufBurst<BURST> = MbufBurst::new();
    let mut ctl: MbufBurst<BURST> = MbufBurst::new();
    let mut clock = Clock::new();

    while !stop.load(Ordering::Relaxed) {
        let mut idle = true;
        for (port, rxq) in rx.iter_mut() {
            let n = burst.rx(rxq);
            if n == 0 {
                clock.lap(Stage::PollEmpty, 1);
                continue;
            }
            clock.lap(Stage::Rx, n as u64);
            idle = false;
            local.now = msm_dpdk::rdtsc();
            local.now_s = local.now / hz;
            c.event(Event::Bursts);
            c.event_n(Event::RxPackets, n as u64);
            {
                let guard = reader.begin();
                let view = table.view(&guard);
                clock.lap(Stage::Bookkeeping, 1);
                // Stage 1: prefetch every bucket this burst will look up.
                for m in burst.iter() {
                    if let Some((dst, inner_src)) = pipeline::prefetch_key(m.data()) {
                        view.prefetch(dst);
                        if let Some(s) = inner_src {
                            view.prefetch(s);
                        }
                    }
                }
                clock.lap(Stage::Prefetch, n as u64);
                // Stage 2: classify, look up, rewrite; stage per egress port.
                let sampled = clock.begin_burst(c);
                for mut m in burst.drain() {
                    c.event_n(Event::RxBytes, m.len() as u64);
                    if !m.is_contiguous() {
                        c.count_drop(DropReason::MultiSegment);
                        continue;
                    }
                    let action = pipeline::process(&plane, &mut local, &view, *port, &mut m);
                    c.step(Step::Rewrite);
                    match action {
                        Action::Tx(p) => match stages.get_mut(p as usize) {
                            Some(s) => s.push(m, c),
                            None => c.count_drop(DropReason::TxFull),
                        },
                        Action::Control => {
                            if let Err(_m) = ctl.push(m) {
                                c.count_drop(DropReason::ControlRingFull);
                            }
                        }
                        Action::Fragment(plan) => {
                            let Some(stage) = stages.get_mut(plan.port as usize) else {
                                c.count_drop(DropReason::TxFull);
                                continue;
                            };
                            pipeline::fragment(
                                &plane,
                                &mut local,
                                &m,
                                plan,
                                || pool.alloc(),
                                |f| stage.push(f, c),
                            );
                        }
                        Action::Drop => {}
                    }
                    c.step(Step::Enqueue);
                }
                clock.end_burst(c, sampled, n as u64);
                // guard drops here: quiescent state reported for this burst.
            }
            clock.lap(Stage::Bookkeeping, 0);
            for s in stages.iter_mut() {
                s.flush(c);
            }
            clock.lap(Stage::Tx, 0);
            if !ctl.is_empty() {
                to_control.enqueue_burst(&mut ctl);
                let left = ctl.len();
                if left > 0 {
                    c.count_drop_n(DropReason::ControlRingFull, left as u64);
                    ctl.clear();
                }
                clock.lap(Stage::Control, 0);
            }
        }
        if idle {
            reader.quiescent();
        }
        clock.publish(c);
        clock.lap(Stage::Bookkeeping, 0);
    }
    reader.offline();
    0
}
