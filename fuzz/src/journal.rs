//! Target `journal_replay`: `Journal::open` on a state directory holding arbitrary
//! `bindings.snap` and/or `bindings.log` files (a directory of its own per process, in
//! `/dev/shm` when there is one: tmpfs, so the fsyncs cost nothing).
//!
//! Input: `[flags, snap_len (u16 LE), snapshot (snap_len bytes), log (the rest)]`;
//! flags bit 0: write `bindings.snap`; bit 1: write `bindings.log`; bit 2: write a
//! leftover `bindings.snap.tmp` (the snapshot bytes); bit 3: after the replay, append a
//! record, commit, and open again.
//!
//! Properties: without a snapshot file, open succeeds; a replay counts snapshot + log
//! records = records replayed; the log keeps exactly its whole valid records (the cut
//! is the rest, reported by a warning; the file is truncated to it); the tmp file is
//! gone; after an append + commit, a second open replays the same records plus that
//! one, with no warning.

use msm::control::journal::{
    Error, Journal, Record, LOG_FILE, RECORD_LEN, SNAP_FILE, SNAP_TMP_FILE,
};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Encodes an input.
pub fn input(flags: u8, snap: &[u8], log: &[u8]) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(&(snap.len().min(65535) as u16).to_le_bytes());
    v.extend_from_slice(&snap[..snap.len().min(65535)]);
    v.extend_from_slice(log);
    v
}

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("msm-fuzz-journal-{}", std::process::id()))
    })
}

pub fn run(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let flags = data[0];
    let k = usize::from(u16::from_le_bytes([data[1], data[2]])).min(data.len() - 3);
    let (snap, log) = data[3..].split_at(k);
    let dir = dir();
    std::fs::create_dir_all(dir).expect("state directory");
    for f in [LOG_FILE, SNAP_FILE, SNAP_TMP_FILE] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    if flags & 1 != 0 {
        std::fs::write(dir.join(SNAP_FILE), snap).expect("write snapshot");
    }
    if flags & 2 != 0 {
        std::fs::write(dir.join(LOG_FILE), log).expect("write log");
    }
    if flags & 4 != 0 {
        std::fs::write(dir.join(SNAP_TMP_FILE), snap).expect("write tmp");
    }
    let log_len = if flags & 2 != 0 { log.len() as u64 } else { 0 };

    let (mut j, r) = match Journal::open(dir) {
        Ok(x) => x,
        Err(Error::CorruptSnapshot { .. }) => {
            assert!(flags & 1 != 0, "corrupt snapshot without one");
            return;
        }
        Err(e) => panic!("open: {e}"),
    };
    assert!(!dir.join(SNAP_TMP_FILE).exists());
    assert_eq!(r.records.len() as u64, r.snapshot_records + r.log_records);
    let kept = r.log_records * RECORD_LEN as u64;
    assert_eq!(kept + r.cut_bytes, log_len, "{:?}", r.warnings);
    assert_eq!(
        r.cut_bytes > 0,
        r.warnings.iter().any(|w| w.contains("cut")),
        "{:?}",
        r.warnings
    );
    let on_disk = std::fs::metadata(dir.join(LOG_FILE)).expect("log").len();
    assert_eq!(on_disk, kept);
    assert_eq!(j.log_bytes(), kept);
    let _ = r.live(u32::MAX / 2);

    if flags & 8 != 0 {
        let rec = Record::remove(0xc000_020a, 491700000010, 1 << 40);
        j.append(&rec);
        j.commit().expect("commit");
        drop(j);
        let (_j2, r2) = Journal::open(dir).expect("reopen");
        assert!(r2.warnings.is_empty(), "{:?}", r2.warnings);
        assert_eq!(r2.records.len(), r.records.len() + 1);
        assert_eq!(r2.records[..r.records.len()], r.records[..]);
        assert_eq!(r2.records.last(), Some(&rec));
    }
}
