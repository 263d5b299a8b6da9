//! Tests of the journal: encoding, replay, torn and damaged logs, compaction, locking.

use super::*;
use msm_table::Binding;
use std::collections::HashMap;

pub(super) struct TempDir(pub(super) PathBuf);
impl TempDir {
    pub(super) fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "msm-journal-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }
    pub(super) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const HOME: u32 = 0x0a14_0000;

pub(super) fn up(i: u32, coa: Option<u32>, ident: u64) -> Record {
    Record::upsert(
        &Binding {
            home: HOME + i,
            coa,
            port: 0,
            msisdn: 491_700_000_000 + u64::from(i),
            expires_at: 1_000 + i,
        },
        ident,
    )
}

/// The state a record sequence leaves: home -> record (Removes delete).
fn state(records: &[Record]) -> HashMap<u32, Record> {
    let mut m = HashMap::new();
    for r in records {
        match r.kind {
            Kind::Upsert => m.insert(r.home, *r),
            Kind::Remove => m.remove(&r.home),
        };
    }
    m
}

#[test]
fn journal_record_encoding() {
    let r = up(7, Some(0xcb00_710a), 0x0123_4567_89ab_cdef);
    let b = r.encode();
    assert_eq!(b.len(), RECORD_LEN);
    assert_eq!(&b[..4], &[1, 1, 0, 0]);
    assert_eq!(&b[4..8], &(HOME + 7).to_le_bytes());
    assert_eq!(&b[8..12], &0xcb00_710au32.to_le_bytes());
    assert_eq!(&b[12..16], &1007u32.to_le_bytes());
    assert_eq!(&b[16..24], &491_700_000_007u64.to_le_bytes());
    assert_eq!(&b[24..32], &0x0123_4567_89ab_cdefu64.to_le_bytes());
    assert_eq!(Record::decode(&b), Ok(r));
    let rm = Record::remove(HOME, 5, 9);
    assert_eq!(Record::decode(&rm.encode()), Ok(rm));
    assert_eq!(rm.encode()[0], 2);
    assert_eq!(Record::decode(&[0; RECORD_LEN]), Err("bad CRC"));
    // A single flipped bit anywhere is caught.
    for bit in 0..RECORD_LEN * 8 {
        let mut c = b;
        c[bit / 8] ^= 1 << (bit % 8);
        assert!(Record::decode(&c).is_err(), "bit {bit}");
    }
    // Valid CRC but invalid content.
    let mut c = b;
    c[0] = 3;
    let crc = crc32fast::hash(&c[..32]);
    c[32..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(Record::decode(&c), Err("unknown record kind"));
    assert_eq!(up(1, None, 0).binding().coa, None);
}

#[test]
fn journal_round_trip() {
    let d = TempDir::new("rt");
    let (mut j, r) = Journal::open(&d.0).unwrap();
    assert!(r.records.is_empty() && r.warnings.is_empty());
    let recs = vec![
        up(1, Some(0xc000_0201), 10),
        up(2, None, 11),
        Record::remove(HOME + 1, 491_700_000_001, 12),
        up(3, Some(0xc000_0203), 13),
    ];
    j.append(&recs[0]);
    j.append(&recs[1]);
    assert_eq!(j.pending(), 2);
    j.commit().unwrap();
    j.commit().unwrap(); // empty: no-op
    j.append(&recs[2]);
    j.append(&recs[3]);
    j.commit().unwrap();
    let s = j.stats();
    assert_eq!(
        (s.commits, s.records, s.bytes),
        (2, 4, 4 * RECORD_LEN as u64)
    );
    assert_eq!(j.log_bytes(), 4 * RECORD_LEN as u64);
    drop(j);
    let (_j, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.records, recs);
    assert_eq!((r.snapshot_records, r.log_records, r.cut_bytes), (0, 4, 0));
    assert!(r.warnings.is_empty());
    assert_eq!(r.live(0), vec![recs[1], recs[3]]);
    // Expired at 1002: home 2 expires_at 1002 is dead, home 3 (1003) lives.
    assert_eq!(r.live(1002), vec![recs[3]]);
}

#[test]
fn journal_uncommitted_is_not_written() {
    let d = TempDir::new("uncommitted");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    j.append(&up(1, None, 1));
    j.commit().unwrap();
    j.append(&up(2, None, 2));
    drop(j); // crash before commit
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.records, vec![up(1, None, 1)]);
}

#[test]
fn journal_failed_write_drops_the_group_and_the_next_commit_works() {
    let d = TempDir::new("failed-write");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    j.append(&up(1, None, 1));
    j.commit().unwrap();
    let len = j.log_bytes();
    j.append(&up(2, None, 2));
    j.append(&up(3, None, 3));
    j.fault = Some(Fault::Write);
    let e = j.commit().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
    assert_eq!(j.pending(), 0, "the group is dropped");
    assert_eq!(j.poisoned(), None, "a failed write does not poison");
    assert_eq!(j.log_bytes(), len);
    assert_eq!(
        fs::metadata(d.file(LOG_FILE)).unwrap().len(),
        len,
        "partial write cut"
    );
    // Space is back: the next group commits; the dropped one never appears.
    j.append(&up(4, None, 4));
    j.commit().unwrap();
    assert_eq!(j.stats().commit_errors, 1);
    drop(j);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.records, vec![up(1, None, 1), up(4, None, 4)]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn journal_failed_fsync_poisons_then_recovers_by_cutting_back() {
    let d = TempDir::new("failed-sync");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    j.append(&up(1, None, 1));
    j.commit().unwrap();
    j.append(&up(2, None, 2));
    j.fault = Some(Fault::Sync);
    let e = j.commit().unwrap_err().to_string();
    assert!(e.contains("Input/output error"), "{e}");
    assert!(j.poisoned().is_some());
    // Refused until the recovery delay passed: the group is dropped, nothing written.
    j.append(&up(3, None, 3));
    assert!(j.commit().is_err());
    assert_eq!(j.pending(), 0);
    assert!(j.poisoned().is_some());
    assert_eq!(j.stats().recoveries, 0);
    // Once it may try: the log is cut back to the committed record 1 and fsynced, and
    // this commit goes on.
    j.recover_after = Some(Instant::now());
    j.append(&up(4, None, 4));
    j.commit().unwrap();
    assert_eq!(j.poisoned(), None);
    assert_eq!(j.stats().recoveries, 1);
    drop(j);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.records, vec![up(1, None, 1), up(4, None, 4)]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

fn write_log(d: &TempDir, recs: &[Record]) -> Vec<u8> {
    let (mut j, _) = Journal::open(&d.0).unwrap();
    for r in recs {
        j.append(r);
    }
    j.commit().unwrap();
    drop(j);
    fs::read(d.file(LOG_FILE)).unwrap()
}

#[test]
fn journal_truncated_tail_every_offset() {
    let d = TempDir::new("trunc");
    let recs: Vec<Record> = (0..3)
        .map(|i| up(i, Some(0xc000_0200 + i), u64::from(i)))
        .collect();
    let full = write_log(&d, &recs);
    let good = 2 * RECORD_LEN;
    for cut in good..full.len() {
        fs::write(d.file(LOG_FILE), &full[..cut]).unwrap();
        let (mut j, r) = Journal::open(&d.0).unwrap();
        assert_eq!(r.records, recs[..2], "cut at {cut}");
        assert_eq!(r.cut_bytes, (cut - good) as u64);
        if cut > good {
            assert_eq!(r.warnings.len(), 1);
            let w = &r.warnings[0];
            assert!(
                w.contains(LOG_FILE)
                    && w.contains("truncated record")
                    && w.contains(&format!("offset {good}")),
                "{w}"
            );
        } else {
            assert!(r.warnings.is_empty());
        }
        assert_eq!(fs::metadata(d.file(LOG_FILE)).unwrap().len(), good as u64);
        // Appending after the cut continues a clean log.
        j.append(&recs[2]);
        j.commit().unwrap();
        drop(j);
        let (_, r) = Journal::open(&d.0).unwrap();
        assert_eq!(r.records, recs);
        assert!(r.warnings.is_empty());
    }
}

#[test]
fn journal_garbage_tail_is_cut() {
    let d = TempDir::new("garbage");
    let recs = vec![up(1, None, 1), up(2, None, 2)];
    let mut bytes = write_log(&d, &recs);
    for tail in [
        &[0u8; 36][..],
        &[0u8; 100],
        b"garbage that is not a record at all, longer than one",
        &[0xff; 7],
    ] {
        let mut b = bytes.clone();
        b.extend_from_slice(tail);
        fs::write(d.file(LOG_FILE), &b).unwrap();
        let (_, r) = Journal::open(&d.0).unwrap();
        assert_eq!(r.records, recs);
        assert_eq!(r.cut_bytes, tail.len() as u64);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(
            !r.warnings[0].contains("valid CRCs followed"),
            "{:?}",
            r.warnings
        );
    }
    bytes.clear();
}

/// A damaged record in the middle: a tail cut from that record on, and the warning
/// says committed records were lost.
#[test]
fn journal_flipped_bit_mid_log_cuts_from_there() {
    let d = TempDir::new("flip");
    let recs: Vec<Record> = (0..5).map(|i| up(i, None, u64::from(i))).collect();
    let mut b = write_log(&d, &recs);
    b[2 * RECORD_LEN + 17] ^= 0x10;
    fs::write(d.file(LOG_FILE), &b).unwrap();
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.records, recs[..2]);
    assert_eq!(r.cut_bytes, 3 * RECORD_LEN as u64);
    let w = &r.warnings[0];
    assert!(
        w.contains("bad CRC at offset 72") && w.contains("2 records with valid CRCs followed"),
        "{w}"
    );
    assert_eq!(
        fs::metadata(d.file(LOG_FILE)).unwrap().len(),
        2 * RECORD_LEN as u64
    );
}

#[test]
fn journal_compaction_then_appends() {
    let d = TempDir::new("compact");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    let mut all = Vec::new();
    for i in 0..100 {
        let r = up(i % 30, Some(0xc000_0200 + i), u64::from(i));
        j.append(&r);
        all.push(r);
        if i % 7 == 0 {
            let rm = Record::remove(HOME + (i % 30), 0, u64::from(i));
            j.append(&rm);
            all.push(rm);
        }
        if i % 10 == 9 {
            j.commit().unwrap();
        }
    }
    // Uncommitted records are committed by compact.
    let live: Vec<Record> = live(&all, 0);
    j.install_snapshot(live.clone()).unwrap();
    assert_eq!(j.log_bytes(), 0);
    assert_eq!(j.stats().last_compaction_records, live.len() as u64);
    for i in 0..10 {
        let r = up(i + 25, None, 1000 + u64::from(i));
        j.append(&r);
        all.push(r);
    }
    let rm = Record::remove(HOME + 3, 0, 2000);
    j.append(&rm);
    all.push(rm);
    j.commit().unwrap();
    drop(j);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.snapshot_records, live.len() as u64);
    assert_eq!(r.log_records, 11);
    assert!(r.warnings.is_empty());
    assert_eq!(state(&r.records), state(&all));
    assert!(!d.file(SNAP_TMP_FILE).exists());
}

/// Crash after the rename, before the log truncation: the whole old log is replayed
/// on top of the new snapshot, with the same result.
#[test]
fn journal_log_replay_over_snapshot_is_idempotent() {
    let d = TempDir::new("idem");
    let mut all = Vec::new();
    for i in 0..40u32 {
        all.push(up(i % 12, Some(0xc000_0200 + i), u64::from(i)));
        if i % 5 == 0 {
            all.push(Record::remove(HOME + i % 12, 0, u64::from(i)));
        }
    }
    let log = write_log(&d, &all);
    let (mut j, _) = Journal::open(&d.0).unwrap();
    j.install_snapshot(live(&all, 0)).unwrap();
    drop(j);
    fs::write(d.file(LOG_FILE), &log).unwrap(); // the truncation never reached disk
    let (_, r) = Journal::open(&d.0).unwrap();
    assert!(r.warnings.is_empty());
    assert_eq!(r.log_records, all.len() as u64);
    assert_eq!(state(&r.records), state(&all));
    assert_eq!(state(&r.live(0)), state(&all));
}

/// Crash during compaction, before the rename: the tmp snapshot is deleted at open
/// and the old snapshot + log give the state.
#[test]
fn journal_leftover_tmp_snapshot_is_deleted() {
    let d = TempDir::new("tmp");
    let recs = vec![up(1, None, 1), up(2, Some(0xc000_0202), 2)];
    write_log(&d, &recs);
    // A complete tmp with different content, and a partial one.
    for tmp in [vec![0xab; 50], {
        let (mut j, _) = Journal::open(&d.0).unwrap();
        j.install_snapshot([up(9, None, 9)]).unwrap();
        drop(j);
        let s = fs::read(d.file(SNAP_FILE)).unwrap();
        fs::remove_file(d.file(SNAP_FILE)).unwrap();
        write_log(&d, &recs);
        s
    }] {
        fs::write(d.file(SNAP_TMP_FILE), &tmp).unwrap();
        let (_, r) = Journal::open(&d.0).unwrap();
        assert!(!d.file(SNAP_TMP_FILE).exists());
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains(SNAP_TMP_FILE), "{:?}", r.warnings);
        assert_eq!(state(&r.records), state(&recs));
    }
}

#[test]
fn journal_corrupt_snapshot_is_an_error_naming_it() {
    let d = TempDir::new("badsnap");
    let (mut j, _) = Journal::open(&d.0).unwrap();
    j.install_snapshot((0..5).map(|i| up(i, None, 1))).unwrap();
    drop(j);
    let good = fs::read(d.file(SNAP_FILE)).unwrap();
    assert_eq!(good.len(), SNAP_HEADER_LEN + 5 * RECORD_LEN);
    let (_, r) = Journal::open(&d.0).unwrap();
    assert_eq!(r.snapshot_records, 5);
    let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
    let mut b = good.clone();
    b[SNAP_HEADER_LEN + 2 * RECORD_LEN + 5] ^= 1;
    cases.push((b, "record 2 (offset 96): bad CRC"));
    cases.push((good[..good.len() - 1].to_vec(), "header says 5 records"));
    cases.push((
        good[..good.len() - RECORD_LEN].to_vec(),
        "header says 5 records",
    ));
    cases.push((good[..10].to_vec(), "shorter than the header"));
    cases.push((Vec::new(), "shorter than the header"));
    let mut b = good.clone();
    b[0] = b'X';
    cases.push((b, "bad magic"));
    let mut b = good.clone();
    b[9] ^= 1;
    cases.push((b, "header CRC"));
    // Two whole records swapped: each record is valid, the whole-file CRC is not.
    let mut b = good.clone();
    let (x, y) = (SNAP_HEADER_LEN, SNAP_HEADER_LEN + RECORD_LEN);
    let first: Vec<u8> = b[x..y].to_vec();
    b.copy_within(y..y + RECORD_LEN, x);
    b[y..y + RECORD_LEN].copy_from_slice(&first);
    cases.push((b, "records CRC mismatch"));
    for (bytes, want) in cases {
        fs::write(d.file(SNAP_FILE), &bytes).unwrap();
        let e = Journal::open(&d.0).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::CorruptSnapshot { .. }), "{msg}");
        assert!(
            msg.contains(&d.file(SNAP_FILE).display().to_string()) && msg.contains(want),
            "{msg}\nwant {want}"
        );
    }
}

#[test]
fn journal_second_opener_is_refused() {
    let d = TempDir::new("lock");
    let (_j, _) = Journal::open(&d.0).unwrap();
    let e = Journal::open(&d.0).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    assert!(e.to_string().contains(LOCK_FILE), "{e}");
}

#[test]
fn journal_open_errors_name_the_path() {
    let d = TempDir::new("notdir");
    fs::create_dir_all(&d.0).unwrap();
    let f = d.file("plainfile");
    fs::write(&f, b"x").unwrap();
    let e = Journal::open(f.join("state")).unwrap_err();
    assert!(e.to_string().contains("plainfile"), "{e}");
}

/// Random garbage as log content never panics, and what survives is a prefix.
#[test]
fn journal_random_log_content_never_panics() {
    let d = TempDir::new("fuzz");
    let recs: Vec<Record> = (0..8).map(|i| up(i, None, 1)).collect();
    let base = write_log(&d, &recs);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = base.clone();
        let pos = (x % b.len() as u64) as usize;
        b[pos] ^= (x >> 40) as u8 | 1;
        b.truncate(b.len() - (x >> 20) as usize % 40);
        fs::write(d.file(LOG_FILE), &b).unwrap();
        let (_, r) = Journal::open(&d.0).unwrap();
        assert!(r.records.len() <= pos / RECORD_LEN);
        assert_eq!(r.records, recs[..r.records.len()]);
    }
}

/// `cargo test --release -p msm --lib -- --ignored journal_group_commit_throughput --nocapture`.
/// `MSM_JOURNAL_DIR` picks the disk (default: the temp dir).
#[test]
#[ignore]
fn journal_group_commit_throughput() {
    let base = std::env::var_os("MSM_JOURNAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    for (total, group) in [
        (200_000u32, 64usize),
        (20_000, 1),
        (200_000, 16),
        (200_000, 256),
        (400_000, 1024),
    ] {
        let d = TempDir(base.join(format!("msm-journal-bench-{}-{group}", std::process::id())));
        let _ = fs::remove_dir_all(&d.0);
        let (mut j, _) = Journal::open(&d.0).unwrap();
        let t = Instant::now();
        for i in 0..total {
            j.append(&up(i % 1_000_000, Some(0xc000_0200), u64::from(i)));
            if j.pending() == group {
                j.commit().unwrap();
            }
        }
        j.commit().unwrap();
        let dt = t.elapsed();
        let s = j.stats();
        println!(
            "group {group:>4}: {total} records in {:.2?} = {:.0} records/s, {} commits, fdatasync mean {:.0} us max {:.0} us",
            dt,
            f64::from(total) / dt.as_secs_f64(),
            s.commits,
            s.fsync_ns_total as f64 / s.commits as f64 / 1e3,
            s.fsync_ns_max as f64 / 1e3
        );
        if group != 64 {
            continue;
        }
        let n: u32 = std::env::var("MSM_JOURNAL_COMPACT_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let t = Instant::now();
        j.install_snapshot((0..n).map(|i| up(i, None, 1))).unwrap();
        println!("compaction of {n} records: {:.2?}", t.elapsed());
        drop(j);
        let t = Instant::now();
        let mut k = 0u64;
        let (_, r) = Journal::open_with(&d.0, |_| k += 1).unwrap();
        assert_eq!(k, u64::from(n));
        println!(
            "replay of {} snapshot records: {:.2?}",
            r.snapshot_records,
            t.elapsed()
        );
    }
}

#[test]
fn record_versions_nat_port() {
    // Without a port: version 1, byte for byte what earlier releases wrote.
    let plain = up(1, Some(0xc633_6407), 9);
    let b = plain.encode();
    assert_eq!((b[1], b[2], b[3]), (VERSION, 0, 0));
    assert_eq!(Record::decode(&b).unwrap(), plain);
    // A NAT binding: version 2, the port in bytes 2..4, read back whole.
    let mut nat = plain;
    nat.port = 40001;
    let b = nat.encode();
    assert_eq!(b[1], 2);
    assert_eq!(u16::from_le_bytes([b[2], b[3]]), 40001);
    let d = Record::decode(&b).unwrap();
    assert_eq!(d, nat);
    assert_eq!(d.binding().port, 40001);
    // A version 1 record with something in the reserved bytes is still refused.
    let mut bad = plain.encode();
    bad[2] = 1;
    let crc = crc32fast::hash(&bad[..32]);
    bad[32..36].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(Record::decode(&bad), Err("reserved bytes not zero"));
    // Version 2 without a port, or without an address.
    let mut bad = nat.encode();
    bad[2..4].copy_from_slice(&[0, 0]);
    let crc = crc32fast::hash(&bad[..32]);
    bad[32..36].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(Record::decode(&bad), Err("NAT record without a port"));
    let mut bad = nat.encode();
    bad[8..12].copy_from_slice(&[0; 4]);
    let crc = crc32fast::hash(&bad[..32]);
    bad[32..36].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(Record::decode(&bad), Err("NAT record without an address"));
    // A port on a binding without a care-of address is not written.
    let mut wwan = up(2, None, 3);
    wwan.port = 5;
    assert_eq!(wwan.encode()[1], VERSION);
}
