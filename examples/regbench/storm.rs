//! The timed loop: the control lcore's batches through the production `RegistrationService`.

use crate::proxy::Shared;
use crate::setup::Requests;
use crate::sys::{cpu_interrupts, run_delay_ns};
use crate::{GPRS, MY_MAC, SLOT, WLAN};
use msm::config::Role;
use msm::control::journal::{CompactionEvent, Journal};
use msm::control::reg_io::{self, RegPacket};
use msm::control::registrar::Now;
use msm::control::service::RegistrationService;
use msm::dataplane::pipeline::PacketBuf;
use msm_mip::Code;
use rand::rngs::StdRng;
use rand::Rng;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The production registration service; a request's token is its frame slot and where
/// it was found (the control lcore's is the mbuf).
pub type Service = RegistrationService<(usize, RegPacket)>;

/// The control lcore's state besides the service.
pub struct Ctl {
    pub svc: Service,
    pub ip_id: u16,
    /// Run the compaction step in the loop (`--no-compact`: not).
    pub compact: bool,
    /// Seal each batch and go on while its commit runs (`--pipeline`), as the control
    /// lcore does; otherwise wait for each batch's commit.
    pub pipeline: bool,
    /// The batch's located requests (frame slot, where), between extracting and deciding.
    pub pending: Vec<(usize, RegPacket)>,
}

impl Ctl {
    pub fn journal(&self) -> &Journal {
        self.svc.journal().expect("regbench runs with a journal")
    }
}

#[derive(Default)]
pub struct RunStats {
    pub batch: usize,
    pub requests: usize,
    pub accepted: u64,
    pub not_accepted: u64,
    pub journal_errors: u64,
    pub reply_failed: u64,
    pub malformed: u64,
    pub expired: u64,
    pub wall: Duration,
    /// Stage totals (ns): extract + handle + append; commit; publish; replies;
    /// expire + reclaim.
    pub t_handle: u64,
    pub t_commit: u64,
    pub t_publish: u64,
    pub t_reply: u64,
    pub t_house: u64,
    pub commits: Vec<u64>,
    pub batch_ns: Vec<u64>,
    pub ack: Vec<u64>,
    pub arrival_ack: Vec<u64>,
    /// (probe id, request started) of this run.
    pub probes: Vec<(usize, u64)>,
    pub irq: Vec<u64>,
    pub writer_run_delay_ns: u64,
    pub journal_bytes: u64,
    /// Compaction steps (`maybe_compact`) of the loop: events, and the longest call.
    pub compact_started: u64,
    pub compact_finished: u64,
    pub compact_failed: u64,
    pub compact_step_max_ns: u64,
}

/// Per-request times of a storm (ns since `Shared::base`), indexed from its first slot.
struct Times {
    started: Vec<u64>,
    /// 0: no Reply written.
    acked: Vec<u64>,
    /// (first request, requests, start) of every batch.
    batches: Vec<(usize, usize, u64)>,
}

/// A storm: batches of `b` requests from slot `start` on (at most `alloc` requests or
/// `max_secs`), as fast as the control lcore takes them.
#[allow(clippy::too_many_arguments)]
pub fn run_storm(
    ctl: &mut Ctl,
    sh: &Shared,
    req: &mut Requests,
    start: usize,
    alloc: usize,
    b: usize,
    max_secs: f64,
    rng: &mut StdRng,
) -> RunStats {
    let mut st = RunStats {
        batch: b,
        ..Default::default()
    };
    let mut times = Times {
        started: vec![0u64; alloc],
        acked: vec![0u64; alloc],
        batches: Vec::new(),
    };
    let irq0 = cpu_interrupts();
    let rd0 = run_delay_ns();
    let jb0 = ctl.journal().stats().bytes;
    let t_run = Instant::now();
    let mut j = 0usize;
    while j < alloc && t_run.elapsed().as_secs_f64() < max_secs {
        let n = b.min(alloc - j);
        let probe_at = rng.gen_range(0..n);
        batch(ctl, sh, req, start, j, n, probe_at, &mut st, &mut times);
        j += n;
    }
    // --pipeline: the batches still in flight finish (their time counts).
    release(ctl, sh, req, start, &mut st, &mut times, true);
    st.wall = t_run.elapsed();
    st.writer_run_delay_ns = run_delay_ns() - rd0;
    st.journal_bytes = ctl.journal().stats().bytes - jb0;
    let irq1 = cpu_interrupts();
    st.irq = irq1.iter().zip(&irq0).map(|(a, b)| a - b).collect();
    st.requests = j;
    latencies(&mut st, &times);
    st.commits.sort_unstable();
    st.batch_ns.sort_unstable();
    st
}

/// One batch of `n` requests from slot `start + j`: what one iteration of the control
/// loop does with them, timed by stage. Request `probe_at` of the batch is announced to
/// the worker proxy.
#[allow(clippy::too_many_arguments)]
fn batch(
    ctl: &mut Ctl,
    sh: &Shared,
    req: &mut Requests,
    start: usize,
    j: usize,
    n: usize,
    probe_at: usize,
    st: &mut RunStats,
    times: &mut Times,
) {
    let flen = req.flen;
    // --pipeline: the control lcore takes no more than MAX_HELD requests whose Replies
    // wait for their commit; at the bound it only collects finished commits.
    while ctl.pipeline && ctl.svc.held() + n > msm::control::service::MAX_HELD {
        release(ctl, sh, req, start, st, times, false);
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
    let tb = sh.now_ns();
    times.batches.push((j, n, tb));
    for k in 0..n {
        let idx = start + j + k;
        let t = sh.now_ns();
        times.started[j + k] = t;
        if k == probe_at {
            let p = sh.announced.load(Ordering::Relaxed);
            if p < sh.probe_home.len() {
                sh.probe_home[p].store(req.homes[idx], Ordering::Relaxed);
                sh.probe_coa[p].store(req.coas[idx], Ordering::Relaxed);
                sh.announced.store(p + 1, Ordering::Release);
                st.probes.push((p, t));
            }
        }
        // === the control lcore's locate_request ===
        let frame = &req.frames[idx * SLOT..idx * SLOT + flen];
        match reg_io::extract(frame, GPRS, WLAN, Role::Wwan) {
            Ok(r) => ctl.pending.push((idx, r)),
            Err(_) => st.malformed += 1,
        }
    }
    // === the control lcore's prefetch of the batch, then decide in arrival order ===
    let frames = &*req.frames;
    let payload = |idx: usize, r: &RegPacket| -> &[u8] {
        &frames[idx * SLOT + r.payload.0..idx * SLOT + r.payload.1]
    };
    ctl.svc
        .prefetch(ctl.pending.iter().map(|(idx, r)| payload(*idx, r)));
    for (idx, r) in ctl.pending.drain(..) {
        let (path, src) = (r.path, r.src);
        ctl.svc
            .submit((idx, r), payload(idx, &r), path, src, Now::system());
    }
    // === the control lcore's finish_batch (--pipeline: seal, then release the
    // batches whose commit finished, without waiting) ===
    let t1 = sh.now_ns();
    let report = if ctl.pipeline {
        ctl.svc.seal_batch();
        release(ctl, sh, req, start, st, times, false)
    } else {
        release(ctl, sh, req, start, st, times, true)
    };
    let t4 = sh.now_ns();
    // === the rest of the control loop iteration ===
    st.expired += ctl.svc.expire(Now::system()) as u64;
    ctl.svc.reclaim();
    let tc = sh.now_ns();
    compaction_step(ctl, st);
    let t5 = sh.now_ns();
    st.compact_step_max_ns = st.compact_step_max_ns.max(t5 - tc);
    let commit = report.commit.as_nanos() as u64;
    let publish = report.publish.as_nanos() as u64;
    st.t_handle += t1 - tb;
    st.t_commit += commit;
    st.t_publish += publish;
    st.t_reply += (t4 - t1).saturating_sub(commit + publish);
    st.t_house += t5 - t4;
    st.commits.push(commit);
    st.batch_ns.push(t5 - tb);
}

/// Finishes the sealed batches (all if `wait`) and writes their Replies, as the
/// control lcore does.
fn release(
    ctl: &mut Ctl,
    sh: &Shared,
    req: &mut Requests,
    start: usize,
    st: &mut RunStats,
    times: &mut Times,
    wait: bool,
) -> msm::control::service::BatchReport {
    let flen = req.flen;
    let ip_id = &mut ctl.ip_id;
    let frames = &mut *req.frames;
    let report = ctl.svc.poll_batches(wait, |(idx, reg), reply| {
        if reply.code == Some(Code::Accepted) {
            st.accepted += 1;
        } else {
            st.not_accepted += 1;
        }
        *ip_id = ip_id.wrapping_add(2);
        let mut buf = SlotBuf {
            buf: &mut frames[idx * SLOT..(idx + 1) * SLOT],
            len: flen,
        };
        if !reg_io::write_reply(&mut buf, &reg, reply.payload, MY_MAC, 64, *ip_id) {
            st.reply_failed += 1;
            return;
        }
        times.acked[idx - start] = sh.now_ns();
    });
    st.journal_errors += report.withheld as u64;
    report
}

/// Ack: from the start of handling to the Reply written (after the group commit).
/// Arrival-to-ack (model of a saturating storm): a request of batch k arrived during
/// batch k-1, spread uniformly by its position.
fn latencies(st: &mut RunStats, times: &Times) {
    let batches = &times.batches;
    for w in 0..batches.len() {
        let (first, n, sb) = batches[w];
        for k in 0..n {
            let a = times.acked[first + k];
            if a == 0 {
                continue;
            }
            st.ack.push(a - times.started[first + k]);
            if w > 0 {
                let pb = batches[w - 1].2;
                let arrival = pb + (sb - pb) * k as u64 / n as u64;
                st.arrival_ack.push(a - arrival);
            }
        }
    }
    st.ack.sort_unstable();
    st.arrival_ack.sort_unstable();
}

/// The loop's compaction step (unless `--no-compact`), its event counted.
fn compaction_step(ctl: &mut Ctl, st: &mut RunStats) {
    if !ctl.compact {
        return;
    }
    match ctl.svc.maybe_compact() {
        CompactionEvent::Idle => {}
        CompactionEvent::Started => st.compact_started += 1,
        CompactionEvent::Finished { .. } => st.compact_finished += 1,
        CompactionEvent::Failed { error, .. } => {
            eprintln!("regbench: compaction failed: {error}");
            st.compact_failed += 1;
        }
    }
}

/// What the control loop does with no registrations: expire + reclaim + compaction
/// step, then sleep 200 µs.
pub fn control_idle(ctl: &mut Ctl, d: Duration) {
    let t = Instant::now();
    let mut st = RunStats::default();
    while t.elapsed() < d {
        ctl.svc.expire(Now::system());
        ctl.svc.reclaim();
        compaction_step(ctl, &mut st);
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A frame slot as a [`PacketBuf`] (no headroom: path 1 replies need none).
pub struct SlotBuf<'a> {
    pub buf: &'a mut [u8],
    pub len: usize,
}

impl PacketBuf for SlotBuf<'_> {
    fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
    fn prepend(&mut self, _n: usize) -> bool {
        false
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.len -= n;
        true
    }
    fn append(&mut self, n: usize) -> bool {
        if self.len + n > self.buf.len() {
            return false;
        }
        self.len += n;
        true
    }
}
