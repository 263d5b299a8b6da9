//! Tests of compaction: the merge against a model, each crash point, failure and backoff, no stall.

use super::compact::backoff;
use super::*;
use msm_table::Binding;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "msm-compact-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const HOME: u32 = 0x0a14_0000;
/// The merges' `now`, and the time the states are compared at.
const NOW: u32 = 1_000;

fn up(i: u32, expires_at: u32, ident: u64) -> Record {
    Record::upsert(
        &Binding {
            home: HOME + i,
            coa: Some(0xc000_0200 + (ident as u32 & 0xff)),
            port: 0,
            msisdn: 491_700_000_000 + u64::from(i),
            expires_at,
        },
        ident,
    )
}

fn rm(i: u32, ident: u64) -> Record {
    Record::remove(HOME + i, 491_700_000_000 + u64::from(i), ident)
}

/// home -> record of the live state at `now` (whole records: the replay state too).
fn state(records: &[Record], now: u32) -> HashMap<u32, Record> {
    live(records, now)
        .into_iter()
        .map(|r| (r.home, r))
        .collect()
}

fn reopened_state(dir: &Path) -> HashMap<u32, Record> {
    let (_, r) = Journal::open(dir).unwrap();
    state(&r.records, NOW)
}

/// Makes the next merges fail where a full disk would: the tmp snapshot cannot be
/// created (a directory stands in its way).
fn block_tmp(d: &TempDir) {
    fs::create_dir(d.file(SNAP_TMP_FILE)).unwrap();
}
fn unblock_tmp(d: &TempDir) {
    fs::remove_dir(d.file(SNAP_TMP_FILE)).unwrap();
}

fn segments_on_disk(d: &TempDir) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(&d.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| segment_seq(n).is_some())
        .collect();
    v.sort();
    v
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random changes, commits, compactions (some failing), reopenings: after each
/// reopening the journal's live state is the model's, replay state included.
#[test]
fn compaction_merge_matches_the_model() {
    for seed in 1..=6u64 {
        let d = TempDir::new("model");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x1234_5678_9abc));
        let (mut j, _) = Journal::open(&d.0).unwrap();
        let mut committed: Vec<Record> = Vec::new();
        let mut pending: Vec<Record> = Vec::new();
        let mut blocked = false;
        let (mut compactions, mut failures) = (0, 0);
        for step in 0..400u64 {
            match rng.below(100) {
                0..=54 => {
                    // Some already expired at NOW, some expiring later, some never.
                    let exp = match rng.below(4) {
                        0 => NOW - 1 - rng.below(50) as u32,
                        1 => u32::MAX,
                        _ => NOW + 1 + rng.below(500) as u32,
                    };
                    let r = up(rng.below(40) as u32, exp, step);
                    j.append(&r);
                    pending.push(r);
                }
                55..=69 => {
                    let r = rm(rng.below(40) as u32, step);
                    j.append(&r);
                    pending.push(r);
                }
                70..=84 => {
                    j.commit().unwrap();
                    committed.append(&mut pending);
                }
                85..=92 => {
                    if rng.below(3) == 0 && !blocked {
                        block_tmp(&d);
                        blocked = true;
                    }
                    let res = j.compact_now(NOW);
                    committed.append(&mut pending);
                    match res {
                        Ok(None) => {}
                        Ok(Some(_)) => {
                            assert!(!blocked);
                            compactions += 1;
                            assert!(segments_on_disk(&d).is_empty());
                        }
                        Err(_) => {
                            assert!(blocked);
                            failures += 1;
                        }
                    }
                    if blocked && rng.below(2) == 0 {
                        unblock_tmp(&d);
                        blocked = false;
                    }
                }
                _ => {
                    drop(j);
                    pending.clear(); // never committed: lost, and never acknowledged
                    if blocked {
                        unblock_tmp(&d);
                        blocked = false;
                    }
                    assert_eq!(
                        reopened_state(&d.0),
                        state(&committed, NOW),
                        "seed {seed} step {step}"
                    );
                    j = Journal::open(&d.0).unwrap().0;
                }
            }
        }
        j.commit().unwrap();
        committed.append(&mut pending);
        drop(j);
        if blocked {
            unblock_tmp(&d);
        }
        assert_eq!(reopened_state(&d.0), state(&committed, NOW), "seed {seed}");
        assert!(
            compactions > 0 && failures > 0,
            "seed {seed}: {compactions} {failures}"
        );
    }
}

/// The merged snapshot holds exactly the live state: each home once, with its last
/// record (and so its subscriber's last Identification); Removes and bindings expired
/// at the merge's `now` are left out.
#[test]
fn compaction_snapshot_holds_each_live_home_once_with_its_last_record() {
    let d = TempDir::new("once");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    let mut all = Vec::new();
    for (k, r) in [
        up(1, NOW + 10, 1),
        up(2, NOW + 10, 2),
        up(3, NOW - 1, 3),
        up(4, NOW + 10, 4),
    ]
    .into_iter()
    .enumerate()
    {
        j.append(&r);
        all.push(r);
        if k == 1 {
            assert_eq!(j.compact_now(NOW).unwrap(), Some(2));
        }
    }
    for r in [
        up(1, NOW + 20, 11),
        rm(2, 12),
        up(4, NOW, 14),
        up(5, u32::MAX, 15),
    ] {
        j.append(&r);
        all.push(r);
    }
    assert_eq!(j.compact_now(NOW).unwrap(), Some(2), "homes 1 and 5");
    drop(j);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(
        (r.snapshot_records, r.segment_records, r.log_records),
        (2, 0, 0)
    );
    let snap: HashMap<u32, Record> = r.records.iter().map(|r| (r.home, *r)).collect();
    assert_eq!(snap.len(), 2);
    assert_eq!(snap[&(HOME + 1)].last_ident, 11);
    assert_eq!(snap[&(HOME + 1)].expires_at, NOW + 20);
    assert_eq!(snap[&(HOME + 5)].last_ident, 15);
    assert_eq!(snap, state(&all, NOW));
}

/// The directory's files, but the lock.
fn files(d: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != LOCK_FILE)
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// A directory's content: (file name, bytes).
type Files<'a> = Vec<(&'a str, &'a [u8])>;

/// Leaves `dir` holding exactly `set` (name -> content).
fn lay_out(dir: &Path, set: &[(&str, &[u8])]) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    for (name, content) in set {
        fs::write(dir.join(name), content).unwrap();
    }
}

/// Every state a crash can leave during a seal or a merge gives, reopened, the state of
/// the committed records.
#[test]
fn compaction_every_crash_point_replays_to_the_same_state() {
    let d = TempDir::new("crash");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    let mut all = Vec::new();
    let mut add = |j: &mut Journal, recs: &[Record]| {
        for r in recs {
            j.append(r);
            all.push(*r);
        }
        j.commit().unwrap();
    };
    add(
        &mut j,
        &[up(1, NOW + 5, 1), up(2, NOW + 5, 2), up(3, NOW + 5, 3)],
    );
    j.compact_now(NOW).unwrap();
    // Two failed compactions leave two sealed segments; each changes homes of the
    // snapshot, removes one, and leaves one to expire before the next merge.
    block_tmp(&d);
    add(&mut j, &[up(1, NOW + 7, 11), rm(2, 12), up(4, NOW - 3, 14)]);
    assert!(j.compact_now(NOW).is_err());
    add(
        &mut j,
        &[up(2, NOW + 9, 22), up(5, NOW + 9, 25), up(1, NOW - 2, 21)],
    );
    assert!(j.compact_now(NOW).is_err());
    unblock_tmp(&d);
    add(
        &mut j,
        &[up(6, u32::MAX, 36), rm(3, 33), up(5, NOW + 11, 35)],
    );
    let want = state(&all, NOW);
    let before = files(&d.0);
    let segs = segments_on_disk(&d);
    assert_eq!(segs.len(), 2, "{:?}", before.keys());
    let live_log = before[LOG_FILE].clone();
    assert_eq!(live_log.len(), 3 * RECORD_LEN);
    let old_snap = before[SNAP_FILE].clone();
    // The successful compaction seals the live log as a third segment.
    j.compact_now(NOW).unwrap();
    drop(j);
    let after = files(&d.0);
    assert_eq!(after.keys().collect::<Vec<_>>(), [LOG_FILE, SNAP_FILE]);
    assert!(after[LOG_FILE].is_empty());
    let new_snap = after[SNAP_FILE].clone();
    let seg3 = segment_path(&d.0, segment_seq(&segs[1]).unwrap() + 1);
    let seg3 = seg3.file_name().unwrap().to_str().unwrap().to_string();
    let (s1, s2) = (&before[&segs[0]][..], &before[&segs[1]][..]);
    let seg = |n: &str| -> &[u8] {
        if n == segs[0] {
            s1
        } else {
            s2
        }
    };
    let cases: Vec<(&str, Files)> = vec![
        (
            "seal: bindings.log.next created",
            vec![
                (SNAP_FILE, &old_snap),
                (&segs[0], seg(&segs[0])),
                (&segs[1], seg(&segs[1])),
                (LOG_FILE, &live_log),
                (LOG_NEXT_FILE, b""),
            ],
        ),
        (
            "seal: log renamed to a segment, the new log not yet in place",
            vec![
                (SNAP_FILE, &old_snap),
                (&segs[0], s1),
                (&segs[1], s2),
                (&seg3, &live_log),
                (LOG_NEXT_FILE, b""),
            ],
        ),
        (
            "seal done, merge running",
            vec![
                (SNAP_FILE, &old_snap),
                (&segs[0], s1),
                (&segs[1], s2),
                (&seg3, &live_log),
                (LOG_FILE, b""),
            ],
        ),
        (
            "merge: partial tmp snapshot",
            vec![
                (SNAP_FILE, &old_snap),
                (&segs[0], s1),
                (&segs[1], s2),
                (&seg3, &live_log),
                (LOG_FILE, b""),
                (SNAP_TMP_FILE, &new_snap[..new_snap.len() / 2]),
            ],
        ),
        (
            "merge: whole tmp snapshot, not renamed",
            vec![
                (SNAP_FILE, &old_snap),
                (&segs[0], s1),
                (&segs[1], s2),
                (&seg3, &live_log),
                (LOG_FILE, b""),
                (SNAP_TMP_FILE, &new_snap),
            ],
        ),
        (
            "merge: snapshot renamed, no segment deleted",
            vec![
                (SNAP_FILE, &new_snap),
                (&segs[0], s1),
                (&segs[1], s2),
                (&seg3, &live_log),
                (LOG_FILE, b""),
            ],
        ),
        (
            "merge: first segment deleted",
            vec![
                (SNAP_FILE, &new_snap),
                (&segs[1], s2),
                (&seg3, &live_log),
                (LOG_FILE, b""),
            ],
        ),
        (
            "merge: two segments deleted",
            vec![(SNAP_FILE, &new_snap), (&seg3, &live_log), (LOG_FILE, b"")],
        ),
        ("merge: done", vec![(SNAP_FILE, &new_snap), (LOG_FILE, b"")]),
    ];
    let c = TempDir::new("crash-case");
    for (what, set) in cases {
        lay_out(&c.0, &set);
        let (mut j2, r) = Journal::open(&c.0).unwrap();
        assert_eq!(state(&r.records, NOW), want, "{what}");
        assert!(
            !c.file(SNAP_TMP_FILE).exists() && !c.file(LOG_NEXT_FILE).exists(),
            "{what}"
        );
        // And it goes on from there: a compaction, a reopening, the same state.
        j2.append(&up(7, NOW + 50, 77));
        j2.compact_now(NOW).unwrap();
        drop(j2);
        let mut want2 = want.clone();
        want2.insert(HOME + 7, up(7, NOW + 50, 77));
        assert_eq!(reopened_state(&c.0), want2, "{what}, then compacted");
        assert!(segments_on_disk(&c).is_empty(), "{what}");
    }
}

/// A failed compaction keeps its segments and backs off (1 s doubling, capped at
/// 5 min), instead of retrying every iteration; the next attempt merges the old
/// segments with the newly sealed log, and nothing is lost.
#[test]
fn compaction_failure_backs_off_and_loses_nothing() {
    let got: Vec<u64> = (1..=12).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(got, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    assert_eq!(backoff(u32::MAX), BACKOFF_MAX);

    let d = TempDir::new("backoff");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    let threshold = 2 * RECORD_LEN as u64;
    let mut all = Vec::new();
    let mut add = |j: &mut Journal, i: u32| {
        let r = up(i, NOW + 100, u64::from(i));
        j.append(&r);
        all.push(r);
        j.commit().unwrap();
    };
    let t0 = Instant::now();
    let at = |s: f64| t0 + Duration::from_secs_f64(s);
    block_tmp(&d);
    add(&mut j, 1);
    assert!(matches!(
        j.maybe_compact(threshold, at(0.0), NOW),
        CompactionEvent::Idle
    ));
    add(&mut j, 2);
    assert!(matches!(
        j.maybe_compact(threshold, at(0.0), NOW),
        CompactionEvent::Started
    ));
    let Some(CompactionEvent::Failed { error, retry_in }) = j.wait_compaction(at(0.0)) else {
        panic!("the merge must fail")
    };
    assert!(error.to_string().contains(SNAP_TMP_FILE), "{error}");
    assert_eq!(retry_in, Duration::from_secs(1));
    let s = j.stats();
    assert_eq!((s.compaction_failures, s.sealed_segments), (1, 1));
    assert!(!s.compaction_running);
    // More changes past the threshold: still no attempt during the backoff.
    add(&mut j, 3);
    add(&mut j, 4);
    for t in [0.1, 0.5, 0.999] {
        assert!(matches!(
            j.maybe_compact(threshold, at(t), NOW),
            CompactionEvent::Idle
        ));
        assert!(!j.stats().compaction_running);
    }
    assert_eq!(j.stats().compaction_failures, 1);
    // Second failure: the live log was sealed as a second segment; backoff doubles.
    assert!(matches!(
        j.maybe_compact(threshold, at(1.0), NOW),
        CompactionEvent::Started
    ));
    let Some(CompactionEvent::Failed { retry_in, .. }) = j.wait_compaction(at(1.0)) else {
        panic!("the merge must fail")
    };
    assert_eq!(retry_in, Duration::from_secs(2));
    assert_eq!(j.stats().sealed_segments, 2);
    assert!(matches!(
        j.maybe_compact(threshold, at(2.9), NOW),
        CompactionEvent::Idle
    ));
    // A failed seal (here: the commit before it, the journal being poisoned would do
    // the same) counts as well; simulate with a third failing merge instead.
    assert!(matches!(
        j.maybe_compact(threshold, at(3.0), NOW),
        CompactionEvent::Started
    ));
    let Some(CompactionEvent::Failed { retry_in, .. }) = j.wait_compaction(at(3.0)) else {
        panic!("the merge must fail")
    };
    assert_eq!(retry_in, Duration::from_secs(4));
    assert_eq!(j.stats().sealed_segments, 2, "nothing new to seal");
    assert_eq!(segments_on_disk(&d).len(), 2);
    // The disk has room again.
    unblock_tmp(&d);
    add(&mut j, 5);
    assert!(matches!(
        j.maybe_compact(threshold, at(6.9), NOW),
        CompactionEvent::Idle
    ));
    assert!(matches!(
        j.maybe_compact(threshold, at(7.0), NOW),
        CompactionEvent::Started
    ));
    let Some(CompactionEvent::Finished { records, .. }) = j.wait_compaction(at(7.0)) else {
        panic!("the merge must succeed")
    };
    assert_eq!(records, 5);
    let s = j.stats();
    assert_eq!(
        (s.compactions, s.compaction_failures, s.sealed_segments),
        (1, 3, 0)
    );
    assert_eq!(s.compaction_backoff_ms, 0);
    assert!(segments_on_disk(&d).is_empty());
    // Reset: the next failure waits 1 s again.
    block_tmp(&d);
    add(&mut j, 6);
    add(&mut j, 7);
    assert!(matches!(
        j.maybe_compact(threshold, at(7.0), NOW),
        CompactionEvent::Started
    ));
    let Some(CompactionEvent::Failed { retry_in, .. }) = j.wait_compaction(at(7.0)) else {
        panic!("the merge must fail")
    };
    assert_eq!(retry_in, Duration::from_secs(1));
    drop(j);
    unblock_tmp(&d);
    assert_eq!(reopened_state(&d.0), state(&all, NOW));
}

/// No stall: beginning a compaction does no work in the number of bindings. It
/// returns while the merge thread is held before its first step, it does not read the
/// snapshot (a damaged one is only found by the merge), and changes go on being
/// committed to the new log while the merge runs.
#[test]
fn compaction_begin_does_not_wait_for_or_do_the_merge() {
    let d = TempDir::new("nostall");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    let base: Vec<Record> = (0..1000).map(|i| up(i, u32::MAX, 1)).collect();
    j.install_snapshot(base.iter().copied()).unwrap();
    let mut all = base.clone();
    for i in 0..10 {
        let r = up(i, NOW + 100, 100 + u64::from(i));
        j.append(&r);
        all.push(r);
    }
    j.commit().unwrap();
    let good_snap = fs::read(d.file(SNAP_FILE)).unwrap();
    // Damage the snapshot behind the journal's back.
    let mut bad = good_snap.clone();
    bad[SNAP_HEADER_LEN + 500 * RECORD_LEN + 3] ^= 0x40;
    fs::write(d.file(SNAP_FILE), &bad).unwrap();

    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    j.compaction.gate = Some(gate_rx);
    let t = Instant::now();
    assert!(matches!(
        j.maybe_compact(1, t, NOW),
        CompactionEvent::Started
    ));
    // Returned with the merge held at its gate: the log is sealed, the new log empty.
    assert!(j.stats().compaction_running);
    assert_eq!(j.log_bytes(), 0);
    assert_eq!(segments_on_disk(&d).len(), 1);
    assert!(j.poll_compaction(t).is_none(), "the merge has not run");
    // Registrations go on meanwhile, into the new log.
    for i in 10..20 {
        let r = up(i, NOW + 100, 100 + u64::from(i));
        j.append(&r);
        all.push(r);
    }
    j.commit().unwrap();
    assert_eq!(
        fs::metadata(d.file(LOG_FILE)).unwrap().len(),
        10 * RECORD_LEN as u64
    );
    // Polling never starts a second merge.
    assert!(matches!(j.maybe_compact(1, t, NOW), CompactionEvent::Idle));
    drop(gate_tx);
    let Some(CompactionEvent::Failed { error, .. }) = j.wait_compaction(t) else {
        panic!("the merge must find the damaged snapshot")
    };
    let msg = error.to_string();
    assert!(msg.contains(SNAP_FILE) && msg.contains("bad CRC"), "{msg}");
    assert_eq!(segments_on_disk(&d).len(), 1, "the segment is kept");
    // Restored from a backup: the retry merges the kept segment and the new log.
    fs::write(d.file(SNAP_FILE), &good_snap).unwrap();
    assert_eq!(
        j.compact_now(NOW).unwrap(),
        Some(1000),
        "homes 0..20 replaced"
    );
    drop(j);
    assert_eq!(reopened_state(&d.0), state(&all, NOW));
}

/// Closing the journal during a merge stops it; what it leaves reopens to the same
/// state.
#[test]
fn compaction_running_at_close_is_stopped_safely() {
    let d = TempDir::new("close");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    let recs: Vec<Record> = (0..200).map(|i| up(i, NOW + 10, u64::from(i))).collect();
    for r in &recs {
        j.append(r);
    }
    j.commit().unwrap();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    j.compaction.gate = Some(gate_rx);
    assert!(matches!(
        j.maybe_compact(1, Instant::now(), NOW),
        CompactionEvent::Started
    ));
    drop(gate_tx);
    drop(j);
    assert_eq!(reopened_state(&d.0), state(&recs, NOW));
}

/// The lock is not on the log: it still refuses a second opener after seals.
#[test]
fn compaction_keeps_the_state_directory_locked() {
    let d = TempDir::new("lock");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    j.append(&up(1, NOW + 10, 1));
    j.compact_now(NOW).unwrap();
    j.append(&up(2, NOW + 10, 2));
    j.compact_now(NOW).unwrap();
    let e = Journal::open(&d.0).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    drop(j);
    assert!(Journal::open(&d.0).is_ok());
}

/// A damaged sealed segment is a hard error naming it (segments hold only committed
/// groups: damage is not a torn write).
#[test]
fn compaction_corrupt_segment_is_an_error_naming_it() {
    let d = TempDir::new("badseg");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    block_tmp(&d);
    for i in 0..4 {
        j.append(&up(i, NOW + 10, 1));
    }
    assert!(j.compact_now(NOW).is_err());
    drop(j);
    unblock_tmp(&d);
    let seg = d.file(&segments_on_disk(&d)[0]);
    let good = fs::read(&seg).unwrap();
    for (bytes, want) in [
        (
            good[..good.len() - 1].to_vec(),
            "truncated record at offset 108",
        ),
        (
            {
                let mut b = good.clone();
                b[RECORD_LEN + 5] ^= 1;
                b
            },
            "record 1 (offset 36): bad CRC",
        ),
    ] {
        fs::write(&seg, &bytes).unwrap();
        let e = Journal::open(&d.0).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::CorruptSegment { .. }), "{msg}");
        assert!(
            msg.contains(&seg.display().to_string()) && msg.contains(want),
            "{msg}\nwant {want}"
        );
    }
    fs::write(&seg, &good).unwrap();
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.segment_records, 4);
}

/// A snapshot of several write-behind chunks is streamed through the merge record by
/// record: updated, removed and expired homes handled, the rest kept in order.
#[test]
fn compaction_streams_a_large_snapshot() {
    let d = TempDir::new("large");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    let n = 300_000u32; // 10.8 MB: three write-behind chunks
    j.install_snapshot((0..n).map(|i| up(i, u32::MAX, 1)))
        .unwrap();
    let changes = [
        up(7, NOW + 5, 70),
        rm(8, 80),
        up(9, NOW - 1, 90),
        up(n + 1, NOW + 5, 100),
    ];
    for r in &changes {
        j.append(r);
    }
    assert_eq!(j.compact_now(NOW).unwrap(), Some(u64::from(n) - 2 + 1));
    drop(j);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.snapshot_records, u64::from(n) - 1);
    assert_eq!(r.records[7], changes[0], "replaced in place");
    assert_eq!(r.records[8], up(10, u32::MAX, 1), "8 removed, 9 expired");
    assert_eq!(*r.records.last().unwrap(), changes[3], "new homes last");
    let homes: Vec<u32> = r.records.iter().map(|r| r.home).collect();
    assert!(homes.windows(2).all(|w| w[0] < w[1]), "snapshot order kept");
}
