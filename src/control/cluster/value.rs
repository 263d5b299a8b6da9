//! The value of one replicated log entry in etcd: a batch of journal records, an epoch marker or a snapshot chunk.
//!
//! Layout (little endian): `0..4` magic `MSMB`, `4` version, `5` kind, `6..8` zero, `8..16`
//! seq, `16..24` the writer's fencing (election) revision, `24..28` record count, `28..32`
//! trailer length, `32..40` (version 2 only) the writer's wall-clock time when it encoded
//! the entry (ms since the Unix epoch), then the records (the journal's 36-byte encoding,
//! each with its own CRC), the trailer (an epoch marker's member name), and a CRC-32 of
//! everything before. Version 1 (no time, a 32-byte header) is still decoded: a log
//! written before version 2 stays readable; its entries have no time.

use crate::control::journal::{Record, RECORD_LEN};

const MAGIC: &[u8; 4] = b"MSMB";
/// The version written.
const VERSION: u8 = 2;
/// Bytes of the header (version 2).
pub const HEADER_LEN: usize = 40;
/// Bytes of a version-1 header (no time).
const HEADER_LEN_V1: usize = 32;
/// Largest value we write: etcd refuses requests over 1.5 MiB.
pub const MAX_VALUE: usize = 1024 * 1024;
/// Most records one value can hold.
pub const MAX_RECORDS: usize = (MAX_VALUE - HEADER_LEN - 4 - 256) / RECORD_LEN;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryKind {
    /// A group-commit batch of binding changes.
    Batch = 1,
    /// A new owner's epoch marker (no records; the trailer is its member name).
    Epoch = 2,
    /// One chunk of a snapshot (live bindings as Upsert records).
    SnapshotChunk = 3,
}

/// One decoded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    pub seq: u64,
    /// The election revision of the owner that wrote it.
    pub fence: i64,
    /// When the writer encoded it (ms since the Unix epoch, its wall clock); `None` for
    /// a version-1 entry.
    pub written_ms: Option<u64>,
    pub records: Vec<Record>,
    pub trailer: Vec<u8>,
}

/// Why a value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("value too short ({0} bytes)")]
    Short(usize),
    #[error("bad magic")]
    Magic,
    #[error("unknown version {0}")]
    Version(u8),
    #[error("unknown kind {0}")]
    Kind(u8),
    #[error("length does not match the record count")]
    Length,
    #[error("bad CRC")]
    Crc,
    #[error("record {0}: {1}")]
    Record(usize, &'static str),
}

/// The wall clock in ms since the Unix epoch (0 if it is before the epoch).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Encodes an entry into `out` (cleared first), stamped `written_ms` (normally
/// [`now_ms`]). `records` must hold at most [`MAX_RECORDS`] records (the caller splits
/// bigger ones).
#[allow(clippy::too_many_arguments)]
pub fn encode_into(
    out: &mut Vec<u8>,
    kind: EntryKind,
    seq: u64,
    fence: i64,
    written_ms: u64,
    records: &[Record],
    trailer: &[u8],
) {
    debug_assert!(records.len() <= MAX_RECORDS);
    out.clear();
    out.reserve(HEADER_LEN + records.len() * RECORD_LEN + trailer.len() + 4);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&fence.to_le_bytes());
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    out.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
    out.extend_from_slice(&written_ms.to_le_bytes());
    for r in records {
        out.extend_from_slice(&r.encode());
    }
    out.extend_from_slice(trailer);
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// [`encode_into`] into a new vector.
pub fn encode(
    kind: EntryKind,
    seq: u64,
    fence: i64,
    written_ms: u64,
    records: &[Record],
    trailer: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    encode_into(&mut v, kind, seq, fence, written_ms, records, trailer);
    v
}

/// Decodes and checks one value.
pub fn decode(b: &[u8]) -> Result<Entry, DecodeError> {
    if b.len() < HEADER_LEN_V1 + 4 {
        return Err(DecodeError::Short(b.len()));
    }
    if &b[0..4] != MAGIC {
        return Err(DecodeError::Magic);
    }
    let header = match b[4] {
        1 => HEADER_LEN_V1,
        2 => HEADER_LEN,
        v => return Err(DecodeError::Version(v)),
    };
    if b.len() < header + 4 {
        return Err(DecodeError::Short(b.len()));
    }
    let kind = match b[5] {
        1 => EntryKind::Batch,
        2 => EntryKind::Epoch,
        3 => EntryKind::SnapshotChunk,
        k => return Err(DecodeError::Kind(k)),
    };
    let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let u64_at = |o: usize| u64::from(u32_at(o)) | u64::from(u32_at(o + 4)) << 32;
    let count = u32_at(24) as usize;
    let trailer_len = u32_at(28) as usize;
    let body = count
        .checked_mul(RECORD_LEN)
        .and_then(|n| n.checked_add(trailer_len))
        .and_then(|n| n.checked_add(header + 4));
    if body != Some(b.len()) {
        return Err(DecodeError::Length);
    }
    let end = b.len() - 4;
    if crc32fast::hash(&b[..end]) != u32_at(end) {
        return Err(DecodeError::Crc);
    }
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        let o = header + i * RECORD_LEN;
        let rb: &[u8; RECORD_LEN] = b[o..o + RECORD_LEN].try_into().expect("length checked");
        records.push(Record::decode(rb).map_err(|e| DecodeError::Record(i, e))?);
    }
    let t = header + count * RECORD_LEN;
    Ok(Entry {
        kind,
        seq: u64_at(8),
        fence: u64_at(16) as i64,
        written_ms: (header == HEADER_LEN).then(|| u64_at(32)),
        records,
        trailer: b[t..end].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::journal::Kind;

    fn rec(i: u32) -> Record {
        Record {
            kind: if i.is_multiple_of(3) {
                Kind::Remove
            } else {
                Kind::Upsert
            },
            home: 0x0a00_0001 + i,
            coa: if i.is_multiple_of(2) {
                Some(0xc000_0200 + i)
            } else {
                None
            },
            port: if i.is_multiple_of(4) { 4500 } else { 0 },
            msisdn: 46_700_000_000 + u64::from(i),
            expires_at: 1_800_000_000 + i,
            last_ident: u64::from(i) << 32 | 7,
        }
    }

    #[test]
    fn round_trip_batch_and_epoch() {
        let recs: Vec<Record> = (0..100).map(rec).collect();
        let v = encode(EntryKind::Batch, 42, 1234, 1_796_000_000_123, &recs, b"");
        assert_eq!(v.len(), HEADER_LEN + 100 * RECORD_LEN + 4);
        let e = decode(&v).unwrap();
        assert_eq!(e.kind, EntryKind::Batch);
        assert_eq!((e.seq, e.fence), (42, 1234));
        assert_eq!(e.written_ms, Some(1_796_000_000_123));
        assert_eq!(e.records, recs);
        assert!(e.trailer.is_empty());

        let v = encode(EntryKind::Epoch, 43, -1, 7, &[], b"msm-b");
        let e = decode(&v).unwrap();
        assert_eq!((e.kind, e.seq, e.fence), (EntryKind::Epoch, 43, -1));
        assert_eq!(e.written_ms, Some(7));
        assert_eq!(e.trailer, b"msm-b");
    }

    /// A version-1 value, built by hand as the first slice wrote it (32-byte header, no
    /// time).
    fn encode_v1(
        kind: EntryKind,
        seq: u64,
        fence: i64,
        recs: &[Record],
        trailer: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"MSMB");
        out.extend_from_slice(&[1, kind as u8, 0, 0]);
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&fence.to_le_bytes());
        out.extend_from_slice(&(recs.len() as u32).to_le_bytes());
        out.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
        for r in recs {
            out.extend_from_slice(&r.encode());
        }
        out.extend_from_slice(trailer);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn version_1_values_still_decode_without_a_time() {
        let recs: Vec<Record> = (0..10).map(rec).collect();
        let v = encode_v1(EntryKind::Batch, 9, 77, &recs, b"");
        assert_eq!(v.len(), 32 + 10 * RECORD_LEN + 4);
        let e = decode(&v).unwrap();
        assert_eq!((e.kind, e.seq, e.fence), (EntryKind::Batch, 9, 77));
        assert_eq!(e.written_ms, None);
        assert_eq!(e.records, recs);
        let e = decode(&encode_v1(EntryKind::Epoch, 10, 77, &[], b"msm-a")).unwrap();
        assert_eq!((e.written_ms, e.trailer.as_slice()), (None, &b"msm-a"[..]));
        // The same records as version 2 are 8 bytes longer, and the versions are not
        // confused: a v2 value relabelled v1 fails (length or CRC).
        let mut w = encode(EntryKind::Batch, 9, 77, 5, &recs, b"");
        assert_eq!(w.len(), v.len() + 8);
        w[4] = 1;
        assert!(decode(&w).is_err());
        let mut w = v.clone();
        w[4] = 3;
        assert_eq!(decode(&w), Err(DecodeError::Version(3)));
    }

    #[test]
    fn every_corruption_is_refused() {
        let recs: Vec<Record> = (0..5).map(rec).collect();
        let v = encode(EntryKind::Batch, 7, 9, 1_796_000_000_000, &recs, b"x");
        for i in 0..v.len() {
            let mut w = v.clone();
            w[i] ^= 0x10;
            assert!(decode(&w).is_err(), "flip at byte {i} accepted");
        }
        for n in 0..v.len() {
            assert!(decode(&v[..n]).is_err(), "truncation to {n} accepted");
        }
        let mut w = v.clone();
        w.push(0);
        assert_eq!(decode(&w), Err(DecodeError::Length));
    }

    #[test]
    fn a_full_service_batch_fits_one_request() {
        const { assert!(MAX_RECORDS >= crate::control::service::MAX_HELD) };
        let recs: Vec<Record> = (0..MAX_RECORDS as u32).map(|i| rec(i % 1000)).collect();
        let v = encode(EntryKind::SnapshotChunk, 1, 1, u64::MAX, &recs, &[0u8; 256]);
        assert!(v.len() <= MAX_VALUE);
        assert_eq!(decode(&v).unwrap().records.len(), MAX_RECORDS);
    }
}
