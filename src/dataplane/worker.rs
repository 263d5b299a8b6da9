//! The worker lcore: receive a burst, classify and prefetch, process, transmit (the shape of DPDK's l3fwd).
//!
//! Each worker polls its (port, rx queue) list and owns tx queue `index` on every port
//! and one single-producer ring to the control lcore. Per burst it opens one RCU
//! read-side section (one Acquire load of the table generation; dropping the guard
//! reports the quiescent state), then makes two passes over the burst:
//!
//! 1. classify every packet once ([`classify_into`]) into a [`Classified`] summary, kept in an
//!    inline array beside the mbufs, and prefetch the binding buckets it will look up;
//! 2. hand every packet with its summary to [`pipeline::process`] and act on the verdict
//!    (stage for tx on a port, hand to the control lcore, fragment, or free);
//!
//! one burst apart under load: a full burst (32 packets: more are waiting in the queue)
//! is classified and prefetched at one poll of its queue and processed at the next,
//! after the following burst has been received and prefetched, so that a whole burst's
//! work hides the table's memory latency (at 10M bindings every lookup misses the
//! caches). A burst that drains the queue is processed at once, after the held one: at
//! low load no packet waits for a later poll. Where the table holds NAT bindings, a
//! pass over the held burst, before the next one is classified, prefetches the NAT
//! endpoint words its lookups will read (its buckets are cached by then). Then the
//! worker flushes the per-port tx bursts and the control burst. No allocation (bursts and
//! summaries are inline arrays set up before the loop), no locks, no syscalls, no atomic
//! read-modify-write: counters are single-writer load+store. `Plane::standby` (clustered:
//! this member does not serve its shard) is read once per burst (a relaxed load) into
//! `WorkerLocal::standby`.
//!
//! The packet trace (`trace.rs`) is checked once per poll round; a round that traces runs
//! in `slow_round`, a cold, out-of-line copy of the loop, so that the common loop compiles
//! as without it. The top-N sampling (`sample.rs`) costs one compare per burst: the burst
//! that holds the packet to sample hands it to `take_sample` (cold) after its classify
//! pass, without leaving the lookahead loop.
//!
//! With the `stage-cycles` feature the loop is timed per stage ([`Clock`] laps, see
//! `instrument.rs`); without it those calls are empty and compile to nothing.

use crate::dataplane::classify::{classify_into, Classified, Kind};
use crate::dataplane::counters::{Counters, DropReason, Event};
use crate::dataplane::instrument::{Clock, Stage, Step};
use crate::dataplane::pipeline::{
    self, Action, Bindings, Lookup, PacketBuf, Plane, RateLimit, WorkerLocal,
};
use crate::dataplane::sample::{self, SampleRing, Sampler};
use crate::dataplane::trace::{self, Trace};
use msm_dpdk::{Mbuf, MbufBurst, Mempool, RingProducer, RxQueue, TxQueue};
use msm_table::{RcuReader, TableHandle, TableView};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Packets per rx burst.
pub const BURST: usize = 32;
/// Per-port tx staging (a burst can fan out, fragments add packets).
const TX_STAGE: usize = 64;
/// Staging toward the control lcore: one poll processes up to two bursts (the held one
/// and a draining one), all of which may be registrations.
const CTL_STAGE: usize = 2 * BURST;
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
    #[inline(always)]
    fn prefetch_endpoint(&self, home: u32) {
        TableView::prefetch_endpoint(self, home)
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
    /// Every worker's packet trace (`msm ctl trace`); this worker writes `traces[index]`.
    pub traces: Arc<[Trace]>,
    /// Every worker's traffic samples (the top-N view); this worker writes `samples[index]`.
    pub samples: Arc<[SampleRing]>,
    /// Sample 1 packet in this many (`control.top_sample_every`); 0 = off.
    pub sample_every: u32,
    pub stop: Arc<AtomicBool>,
    pub icmp_rate_per_sec: u32,
    pub icmp_burst: u32,
}

/// One port's tx staging: packets wait here until the end of the burst.
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

/// The tx staging of port `port`; `None` (and the drop counted) if this worker has no
/// tx queue there.
#[inline]
fn tx_stage<'a, S>(stages: &'a mut [S], port: u16, c: &Counters) -> Option<&'a mut S> {
    let stage = stages.get_mut(port as usize);
    if stage.is_none() {
        c.count_drop(DropReason::UnknownTxPort);
    }
    stage
}

/// Where processed packets go: the per-port tx staging, the burst for the control
/// lcore, and the pool fragments are allocated from.
struct Egress {
    tx: Vec<TxStage>,
    ctl: MbufBurst<CTL_STAGE>,
    to_control: RingProducer,
    pool: Mempool,
}

impl Egress {
    /// Acts on `pipeline::process`'s verdict for `m`, received on port `ingress`.
    #[inline(always)]
    fn enqueue(
        &mut self,
        plane: &Plane,
        local: &mut WorkerLocal,
        mut m: Mbuf,
        action: Action,
        ingress: u16,
    ) {
        let c = local.counters;
        match action {
            Action::Tx(port) => {
                if let Some(stage) = tx_stage(&mut self.tx, port, c) {
                    stage.push(m, c);
                }
            }
            Action::Control => {
                // The control lcore reads the ingress port (its side, and where the Reply
                // goes) from the mbuf: our port index, which is not always the DPDK port
                // id, and which the ring PMD does not set at all.
                m.set_port(ingress);
                if let Err(_m) = self.ctl.push(m) {
                    c.count_drop(DropReason::ControlRingFull);
                }
            }
            Action::Fragment(plan) => {
                let Some(stage) = tx_stage(&mut self.tx, plan.port, c) else {
                    return;
                };
                let pool = &self.pool;
                pipeline::fragment(
                    plane,
                    local,
                    &m,
                    plan,
                    || pool.alloc(),
                    |f| stage.push(f, c),
                );
            }
            Action::Drop => {}
        }
    }
    /// Transmits every port's staged packets.
    #[inline]
    fn flush_tx(&mut self, c: &Counters) {
        for s in self.tx.iter_mut() {
            s.flush(c);
        }
    }
    /// Hands the staged packets to the control lcore; false if there were none.
    #[inline]
    fn flush_control(&mut self, c: &Counters) -> bool {
        if self.ctl.is_empty() {
            return false;
        }
        self.to_control.enqueue_burst(&mut self.ctl);
        let left = self.ctl.len();
        if left > 0 {
            c.count_drop_n(DropReason::ControlRingFull, left as u64);
            self.ctl.clear();
        }
        true
    }
}

/// First pass over a received mbuf (whose bytes the caller counts): classifies it into
/// `out`.
#[inline(always)]
fn classify_mbuf(out: &mut Classified, plane: &Plane, c: &Counters, port: u16, m: &Mbuf) {
    if !m.is_contiguous() {
        c.count_drop(DropReason::MultiSegment);
        out.kind = Kind::Dropped;
        return;
    }
    classify_into(out, plane, c, port, m.data());
}

/// What one poll round works with (for [`slow_round`]).
struct Round<'r> {
    plane: &'r Plane,
    table: &'r TableHandle,
    reader: &'r mut RcuReader,
    burst: &'r mut MbufBurst<BURST>,
    classes: &'r mut [Classified; BURST],
    out: &'r mut Egress,
    hz: u64,
}

/// One poll round of every rx queue while `msm ctl trace N` is armed: the same steps as
/// [`run`]'s loop (without the stage clock and the lookahead), each packet recorded, and
/// the top-N view's sample ([`Sampler`]) taken as there. Out of line and cold, so that
/// the common loop is compiled as if tracing did not exist.
#[cold]
#[inline(never)]
fn slow_round(
    r: Round<'_>,
    rx: &mut [(u16, RxQueue)],
    local: &mut WorkerLocal,
    tr: &Trace,
    sampler: &mut Sampler<'_>,
    index: usize,
) {
    let c = local.counters;
    let tracing = tr.armed();
    let mut idle = true;
    for (port, rxq) in rx.iter_mut() {
        let n = r.burst.rx(rxq);
        if n == 0 {
            continue;
        }
        idle = false;
        local.now = msm_dpdk::rdtsc();
        local.now_s = local.now / r.hz;
        local.begin_burst(r.plane);
        // The number of this burst's first packet, as the sampler counts them.
        let first = c.get_event(Event::RxPackets);
        c.event(Event::Bursts);
        c.event_n(Event::RxPackets, n as u64);
        {
            let guard = r.reader.begin();
            let view = r.table.view(&guard);
            for (i, (m, cls)) in r.burst.iter().zip(r.classes.iter_mut()).enumerate() {
                c.event_n(Event::RxBytes, m.len() as u64);
                classify_mbuf(cls, r.plane, c, *port, m);
                cls.prefetch(&view);
                let k = first + i as u64;
                if sampler.wants(k) {
                    sampler.take(k, sample::sample_of(r.plane, cls, m.len()));
                }
            }
            for (mut m, cls) in r.burst.drain().zip(r.classes.iter()) {
                if tracing {
                    let before = trace::Before::take(c);
                    let action = pipeline::process(r.plane, local, &view, &mut m, cls);
                    local.flush_counts();
                    let found = trace::lookup_key(cls).map(|k| view.lookup(k));
                    r.out.enqueue(r.plane, local, m, action, cls.ingress);
                    trace::record(tr, index, cls, found, &action, c, &before);
                } else {
                    let action = pipeline::process(r.plane, local, &view, &mut m, cls);
                    r.out.enqueue(r.plane, local, m, action, cls.ingress);
                }
            }
            local.flush_counts();
        }
        r.out.flush_tx(c);
        r.out.flush_control(c);
    }
    if idle {
        r.reader.quiescent();
    }
}

/// A received burst and the classify pass's summary of each of its packets.
struct Classes {
    burst: MbufBurst<BURST>,
    classes: [Classified; BURST],
}

/// One rx queue's lookahead: under load, the burst received at one poll is classified
/// and its table buckets prefetched, and it is processed at the next poll of the queue,
/// after the burst that follows it has been received and prefetched in turn. `slots[flip
/// as usize]` holds the waiting burst (empty if none), the other one receives.
struct Held {
    slots: [Classes; 2],
    flip: bool,
}

impl Held {
    fn new() -> Held {
        let slot = || Classes {
            burst: MbufBurst::new(),
            classes: [Classified::DROPPED; BURST],
        };
        Held {
            slots: [slot(), slot()],
            flip: false,
        }
    }
}

/// The classify pass over a received burst: a summary of each packet into `classes`,
/// and a prefetch of the table bucket its lookup will read.
#[inline(always)]
fn classify_burst(
    plane: &Plane,
    c: &Counters,
    port: u16,
    burst: &MbufBurst<BURST>,
    classes: &mut [Classified; BURST],
    view: &TableView<'_>,
) {
    // The burst's bytes are added up here and counted once (one store, not one per packet).
    let mut bytes = 0u64;
    for (m, cls) in burst.iter().zip(classes.iter_mut()) {
        bytes += m.len() as u64;
        classify_mbuf(cls, plane, c, port, m);
        cls.prefetch(view);
    }
    c.event_n(Event::RxBytes, bytes);
}

/// The NAT endpoint prefetch pass over a held (classified, bucket-prefetched) burst.
#[inline(always)]
fn prefetch_endpoints(b: &Classes, view: &TableView<'_>) {
    for cls in &b.classes[..b.burst.len()] {
        cls.prefetch_endpoint(view);
    }
}

/// Takes the top-N view's sample from a classified burst whose packets are numbered from
/// `first` (the sampler's next packet is among them). Out of line: one burst in many.
#[cold]
#[inline(never)]
fn take_sample(sampler: &mut Sampler<'_>, plane: &Plane, first: u64, b: &Classes) {
    for (i, (m, cls)) in b.burst.iter().zip(b.classes.iter()).enumerate() {
        let k = first + i as u64;
        if sampler.wants(k) {
            sampler.take(k, sample::sample_of(plane, cls, m.len()));
            return;
        }
    }
}

/// The process pass over a classified burst (which is empty afterwards): each packet
/// from its summary, and the verdict acted on.
#[inline(always)]
fn process_burst(
    plane: &Plane,
    local: &mut WorkerLocal,
    view: &TableView<'_>,
    b: &mut Classes,
    out: &mut Egress,
) {
    let c = local.counters;
    for (mut m, cls) in b.burst.drain().zip(b.classes.iter()) {
        let action = pipeline::process(plane, local, view, &mut m, cls);
        c.step(Step::Rewrite);
        out.enqueue(plane, local, m, action, cls.ingress);
        c.step(Step::Enqueue);
    }
    local.flush_counts();
}

/// Processes and sends every burst held for a lookahead (before a slow round, and when
/// the worker stops).
#[cold]
#[inline(never)]
fn process_held(
    plane: &Plane,
    table: &TableHandle,
    reader: &mut RcuReader,
    held: &mut [Held],
    local: &mut WorkerLocal,
    out: &mut Egress,
) {
    let c = local.counters;
    for h in held.iter_mut() {
        let cur = &mut h.slots[h.flip as usize];
        if cur.burst.is_empty() {
            continue;
        }
        local.now = msm_dpdk::rdtsc();
        local.now_s = local.now / msm_dpdk::tsc_hz().max(1);
        local.begin_burst(plane);
        {
            let guard = reader.begin();
            let view = table.view(&guard);
            process_burst(plane, local, &view, cur, out);
        }
        out.flush_tx(c);
        out.flush_control(c);
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
        to_control,
        pool,
        counters,
        traces,
        samples,
        sample_every,
        stop,
        icmp_rate_per_sec,
        icmp_burst,
    } = ctx;
    let c = &counters[index];
    let tr = &traces[index];
    let mut sampler = Sampler::new(&samples[index], sample_every, index as u64 + 1);
    let hz = msm_dpdk::tsc_hz().max(1);
    let mut local = WorkerLocal::new(
        &plane,
        c,
        (index as u16).wrapping_mul(0x2f1d),
        RateLimit::new(icmp_rate_per_sec, icmp_burst, hz),
    );
    local.now = msm_dpdk::rdtsc();
    let mut out = Egress {
        tx: tx
            .into_iter()
            .map(|queue| TxStage {
                queue,
                burst: MbufBurst::new(),
            })
            .collect(),
        ctl: MbufBurst::new(),
        to_control,
        pool,
    };
    // The slow round's burst and the classify pass's summary of each of its packets.
    let mut burst: MbufBurst<BURST> = MbufBurst::new();
    let mut classes = [Classified::DROPPED; BURST];
    // Per rx queue: the burst held for a lookahead and the one being received.
    let mut held: Vec<Held> = rx.iter().map(|_| Held::new()).collect();
    let mut clock = Clock::new();

    while !stop.load(Ordering::Relaxed) {
        if tr.armed() {
            // `msm ctl trace N`: the round out of line, after the bursts held for a
            // lookahead (received, sampled and classified in an earlier round) are
            // processed.
            process_held(&plane, &table, &mut reader, &mut held, &mut local, &mut out);
            let round = Round {
                plane: &plane,
                table: &table,
                reader: &mut reader,
                burst: &mut burst,
                classes: &mut classes,
                out: &mut out,
                hz,
            };
            slow_round(round, &mut rx, &mut local, tr, &mut sampler, index);
            continue;
        }
        let mut idle = true;
        for ((port, rxq), held) in rx.iter_mut().zip(held.iter_mut()) {
            let [a, b] = &mut held.slots;
            // `cur`: the burst received (and prefetched) at this queue's previous poll;
            // `next`: the burst received now.
            let (cur, next) = if held.flip { (b, a) } else { (a, b) };
            let n = next.burst.rx(rxq);
            if n == 0 && cur.burst.is_empty() {
                clock.lap(Stage::PollEmpty, 1);
                continue;
            }
            clock.lap(Stage::Rx, n as u64);
            idle = false;
            local.now = msm_dpdk::rdtsc();
            local.now_s = local.now / hz;
            // `Plane::standby`: one relaxed load per burst.
            local.begin_burst(&plane);
            // The number of this burst's first packet, as the sampler counts them.
            let first = c.get_event(Event::RxPackets);
            if n > 0 {
                c.event(Event::Bursts);
                c.event_n(Event::RxPackets, n as u64);
            }
            {
                let guard = reader.begin();
                let view = table.view(&guard);
                clock.lap(Stage::Bookkeeping, 1);
                // 0. Where the table holds NAT bindings: the held burst's buckets are in
                //    cache by now (prefetched at the previous poll); prefetch the NAT
                //    endpoints its lookups will read, so that the classify pass below
                //    hides their latency too (at 10M bindings each is a DRAM miss).
                if view.has_nat() {
                    prefetch_endpoints(cur, &view);
                }
                // 1. Classify each packet of the new burst once; prefetch the buckets it
                //    will look up. They are looked up one burst later, when this queue's
                //    next poll has received the burst after it: a whole burst's work
                //    hides the memory latency.
                classify_burst(&plane, c, *port, &next.burst, &mut next.classes, &view);
                // The top-N view's sample, if it is in this burst: one compare per burst.
                if sampler.due(first, n as u64) {
                    take_sample(&mut sampler, &plane, first, next);
                }
                clock.lap(Stage::Prefetch, n as u64);
                // 2. Process the previous burst from its summaries; act on the verdicts.
                let sampled = clock.begin_burst(c);
                let mut done = cur.burst.len() as u64;
                process_burst(&plane, &mut local, &view, cur, &mut out);
                if n < BURST {
                    done += n as u64;
                    // The queue is drained (not under full load): nothing follows soon
                    // to overlap with, and holding the packets would only add latency.
                    process_burst(&plane, &mut local, &view, next, &mut out);
                } else {
                    held.flip = !held.flip;
                }
                clock.end_burst(c, sampled, done);
                // guard drops here: quiescent state reported for this burst.
            }
            clock.lap(Stage::Bookkeeping, 0);
            // 3. Transmit, and hand registrations and ARP to the control lcore.
            out.flush_tx(c);
            clock.lap(Stage::Tx, 0);
            if out.flush_control(c) {
                clock.lap(Stage::Control, 0);
            }
        }
        if idle {
            reader.quiescent();
        }
        clock.publish(c);
        clock.lap(Stage::Bookkeeping, 0);
    }
    // Bursts still held for a lookahead are processed and sent, not dropped.
    process_held(&plane, &table, &mut reader, &mut held, &mut local, &mut out);
    reader.offline();
    0
}

/// A worker that stopped on a panic: its index and the panic message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerFault {
    pub index: usize,
    pub message: String,
}

/// Workers that stopped on a panic, shared by the workers (writers, on their way out)
/// and the control loop (which checks [`failed`](Self::failed) every iteration).
#[derive(Debug, Default)]
pub struct WorkerFaults {
    failed: AtomicBool,
    faults: Mutex<Vec<WorkerFault>>,
}

impl WorkerFaults {
    /// Records a fault and raises the flag.
    pub fn record(&self, index: usize, message: String) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.push(WorkerFault { index, message });
        self.failed.store(true, Ordering::Release);
    }

    /// Whether any worker stopped on a panic (one atomic load).
    #[inline]
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Every fault recorded, in order.
    pub fn all(&self) -> Vec<WorkerFault> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One line naming every fault, for the alarm and the exit message.
    pub fn describe(&self) -> String {
        self.all()
            .iter()
            .map(|f| format!("worker[{}] panicked: {}", f.index, f.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Runs worker `index`'s loop `f` and catches a panic there, so that it never unwinds
/// into DPDK's launch code (C frames): the panic is recorded in `faults` (which the
/// control loop watches) and the lcore returns -1.
pub fn guarded(index: usize, faults: &WorkerFaults, f: impl FnOnce() -> i32) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(rc) => rc,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            faults.record(index, message);
            -1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_and_recorded_with_its_worker() {
        let faults = WorkerFaults::default();
        assert_eq!(guarded(0, &faults, || 0), 0);
        assert!(!faults.failed());
        assert_eq!(guarded(3, &faults, || panic!("queue {} broke", 7)), -1);
        assert_eq!(guarded(1, &faults, || std::panic::panic_any(5u8)), -1);
        assert!(faults.failed());
        assert_eq!(
            faults.all(),
            vec![
                WorkerFault {
                    index: 3,
                    message: "queue 7 broke".into()
                },
                WorkerFault {
                    index: 1,
                    message: "(no message)".into()
                },
            ]
        );
        assert_eq!(
            faults.describe(),
            "worker[3] panicked: queue 7 broke; worker[1] panicked: (no message)"
        );
    }

    /// A verdict for a port without a tx queue is counted as such, not as a full queue.
    #[test]
    fn tx_to_an_unknown_port_is_counted() {
        let c = Counters::default();
        let mut stages = [0u8, 1];
        assert_eq!(tx_stage(&mut stages, 1, &c).copied(), Some(1));
        assert_eq!(c.total_drops(), 0);
        assert!(tx_stage(&mut stages, 2, &c).is_none());
        assert_eq!(c.get_drop(DropReason::UnknownTxPort), 1);
        assert_eq!(c.get_drop(DropReason::TxFull), 0);
    }
}
