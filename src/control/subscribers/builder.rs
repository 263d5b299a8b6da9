//! Parsing in parallel parts and blocks, then building the records and the home index.

use super::fields::{parse_fields, split_line};
use super::records::{InsertError, Records};
use super::{hash, LineError, ParseError, Subscriber, Subscribers, PARALLEL_MIN};
use crate::config::Prefix;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

/// Accumulates parsed blocks, then builds the indexes.
pub(super) struct Builder<'p> {
    pools: &'p [Prefix],
    subs: Vec<Subscriber>,
    /// Line number of each subscriber (for duplicate messages); dropped by `finish`.
    line_of: Vec<u32>,
    /// Lines consumed so far.
    lines: u64,
    /// Parser threads, asked of the system only when an input is big enough to use more
    /// than one (`available_parallelism` reads cgroup files: most of the cost of parsing
    /// a small file, e.g. in the fuzz target).
    threads: Option<usize>,
    /// One output buffer per parser thread, reused from block to block.
    scratch: Vec<Part>,
}

/// A block part's result: subscribers and their line numbers relative to the part.
#[derive(Default)]
struct Part {
    subs: Vec<Subscriber>,
    line_of: Vec<u32>,
    lines: u64,
}

/// Why a part was refused.
enum PartError {
    /// At a line relative to the part.
    Line {
        line: u64,
        reason: LineError,
    },
    Panicked,
}

impl<'p> Builder<'p> {
    pub(super) fn new(pools: &'p [Prefix], estimate: usize) -> Self {
        Builder {
            pools,
            subs: Vec::with_capacity(estimate),
            line_of: Vec::with_capacity(estimate),
            lines: 0,
            threads: None,
            scratch: Vec::new(),
        }
    }

    fn threads(&mut self) -> usize {
        *self.threads.get_or_insert_with(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 8)
        })
    }

    /// The error for a line that does not fit in `limit` bytes.
    pub(super) fn too_long(&self, limit: usize) -> ParseError {
        ParseError::LineTooLong {
            line: self.lines + 1,
            mib: limit >> 20,
        }
    }

    /// Parses whole lines (`block` ends at a line end, or at end of input).
    pub(super) fn feed(&mut self, block: &[u8]) -> Result<(), ParseError> {
        let parts = if block.len() >= PARALLEL_MIN && self.threads() > 1 {
            split_lines(block, self.threads())
        } else {
            vec![block]
        };
        let pools = self.pools;
        if self.scratch.len() < parts.len() {
            self.scratch.resize_with(parts.len(), Part::default);
        }
        let scratch = &mut self.scratch[..parts.len()];
        let results: Vec<Result<(), PartError>> = match scratch.split_first_mut() {
            Some((first, rest)) if !rest.is_empty() => std::thread::scope(|s| {
                let handles: Vec<_> = parts[1..]
                    .iter()
                    .zip(rest.iter_mut())
                    .map(|(p, out)| s.spawn(move || parse_part(p, pools, out)))
                    .collect();
                let mut res = vec![parse_part(parts[0], pools, first)];
                for h in handles {
                    res.push(h.join().unwrap_or(Err(PartError::Panicked)));
                }
                res
            }),
            Some((first, _)) => vec![parse_part(block, pools, first)],
            None => Vec::new(),
        };
        for (r, p) in results.into_iter().zip(&self.scratch) {
            match r {
                Ok(()) => {
                    if self.subs.len() + p.subs.len() >= u32::MAX as usize {
                        return Err(ParseError::TooManySubscribers);
                    }
                    let base = self.lines;
                    let last = base + p.lines;
                    if last > u64::from(u32::MAX) {
                        return Err(ParseError::TooManyLines);
                    }
                    self.subs.extend_from_slice(&p.subs);
                    self.line_of
                        .extend(p.line_of.iter().map(|&l| (base + u64::from(l)) as u32));
                    self.lines = last;
                }
                Err(PartError::Line { line, reason }) => {
                    return Err(ParseError::Line {
                        line: self.lines + line,
                        reason,
                    })
                }
                Err(PartError::Panicked) => {
                    return Err(ParseError::Internal("parser thread panicked"))
                }
            }
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<Subscribers, ParseError> {
        let parallel = self.subs.len() >= 1 << 16 && self.threads() > 1;
        let Builder { subs, line_of, .. } = self;
        let seed =
            std::collections::hash_map::RandomState::new().hash_one(0x6d73_6d5f_7375_6273u64);
        let subs_ref = &subs;
        let build_records = move || build_records(subs_ref, seed);
        let hseed = seed.rotate_left(32);
        let build_home = move || {
            build_index(
                subs_ref,
                |s| hash(hseed, u64::from(s.home)),
                |a, b| a.home == b.home,
            )
        };
        let (records, by_home) = if parallel {
            std::thread::scope(|s| {
                let h = s.spawn(build_home);
                let m = build_records();
                let h = h.join().unwrap_or(Err((usize::MAX, 0)));
                (m, h)
            })
        } else {
            (build_records(), build_home())
        };
        // Report the duplicate that comes first in the file.
        let dup_m = match &records {
            Err(RecordsError::Duplicate(i, j)) => Some((*i, *j)),
            _ => None,
        };
        let dup_h = by_home.as_ref().err().copied();
        let line = |i: usize| line_of.get(i).copied().unwrap_or(0);
        match (dup_m, dup_h) {
            (Some((i, j)), h) if !matches!(h, Some((k, _)) if k < i) => {
                return Err(ParseError::DuplicateMsisdn {
                    line: line(i),
                    msisdn: subs[i].msisdn,
                    first: line(j),
                })
            }
            (_, Some((i, j))) if i < subs.len() => {
                return Err(ParseError::DuplicateHome {
                    line: line(i),
                    home: Ipv4Addr::from(subs[i].home),
                    first: line(j),
                })
            }
            (_, Some(_)) => return Err(ParseError::Internal("index builder thread panicked")),
            _ => {}
        }
        let (records, slot_of) = match records {
            Ok(r) => r,
            Err(RecordsError::TooMany) => return Err(ParseError::TooManySubscribers),
            Err(RecordsError::NoMemory) => {
                return Err(ParseError::Internal(
                    "cannot allocate memory for the subscriber table",
                ))
            }
            Err(_) => return Err(ParseError::Internal("internal error building the records")),
        };
        let Ok(mut by_home) = by_home else {
            return Err(ParseError::Internal("internal error building indexes"));
        };
        // The home index was built over file positions: make them slots of the records.
        for v in by_home.iter_mut() {
            *v = slot_of[*v as usize];
        }
        Ok(Subscribers {
            records,
            by_home,
            seed,
        })
    }
}

/// Why [`build_records`] failed.
enum RecordsError {
    /// Subscriber `.0` has the MSISDN of subscriber `.1` (file positions).
    Duplicate(usize, usize),
    /// More slots than a `u32` numbers.
    TooMany,
    NoMemory,
    /// A subscriber the table cannot hold (cannot happen after parsing).
    Bad,
}

/// The records table of `subs`, and the slot of each subscriber (by file position).
fn build_records(subs: &[Subscriber], seed: u64) -> Result<(Records, Vec<u32>), RecordsError> {
    let mut r = Records::with_capacity(subs.len(), seed).ok_or(RecordsError::NoMemory)?;
    if r.slots() > u32::MAX as usize {
        return Err(RecordsError::TooMany);
    }
    let mut slot_of: Vec<u32> = Vec::with_capacity(subs.len());
    for (i, s) in subs.iter().enumerate() {
        match r.insert(s) {
            Ok(slot) => slot_of.push(slot as u32),
            Err(InsertError::Duplicate(slot)) => {
                // The error path: find the first subscriber at that slot.
                let j = slot_of
                    .iter()
                    .position(|&x| x as usize == slot)
                    .unwrap_or(0);
                return Err(RecordsError::Duplicate(i, j));
            }
            Err(InsertError::Full) => return Err(RecordsError::TooMany),
            Err(InsertError::BadMsisdn) => return Err(RecordsError::Bad),
        }
    }
    Ok((r, slot_of))
}

/// Builds an index of positions into `subs`; `Err((dup, first))` on the first duplicate.
fn build_index(
    subs: &[Subscriber],
    h: impl Fn(&Subscriber) -> u64,
    eq: impl Fn(&Subscriber, &Subscriber) -> bool,
) -> Result<HashTable<u32>, (usize, usize)> {
    let mut t: HashTable<u32> = HashTable::with_capacity(subs.len());
    for (i, s) in subs.iter().enumerate() {
        match t.entry(
            h(s),
            |&j| eq(&subs[j as usize], s),
            |&j| h(&subs[j as usize]),
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => return Err((i, *o.get() as usize)),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(i as u32);
            }
        }
    }
    Ok(t)
}

/// Splits `block` into up to `n` parts, each ending at a line end.
pub(super) fn split_lines(block: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (block.len() * k / n).max(start);
        let Some(p) = block[target..].iter().position(|&c| c == b'\n') else {
            break;
        };
        let end = target + p + 1;
        if end >= block.len() {
            break;
        }
        parts.push(&block[start..end]);
        start = end;
    }
    parts.push(&block[start..]);
    parts
}

/// Parses `part` into `out` (cleared first).
fn parse_part(part: &[u8], pools: &[Prefix], out: &mut Part) -> Result<(), PartError> {
    out.subs.clear();
    out.line_of.clear();
    out.lines = 0;
    let mut rest = part;
    let mut f: [&[u8]; 4] = [&[]; 4];
    while !rest.is_empty() {
        let (n, used) = split_line(rest, &mut f);
        rest = &rest[used..];
        out.lines += 1;
        match parse_fields(&f, n, pools) {
            Ok(None) => {}
            Ok(Some(s)) => {
                out.subs.push(s);
                // Lines of a part fit u32: a part is at most one block (64 MiB).
                out.line_of.push(out.lines as u32);
            }
            Err(reason) => {
                return Err(PartError::Line {
                    line: out.lines,
                    reason,
                })
            }
        }
    }
    Ok(())
}
