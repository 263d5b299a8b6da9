//! The subscriber records: one 64-byte, cache-line aligned record per subscriber holding
//! everything a registration reads and writes about it (MSISDN, home address, SPI, key,
//! replay state, admission bucket), in an open-addressing table keyed by MSISDN.
//!
//! Layout: `slots` (the records) and `tags` (one byte per slot: 0 = empty, else `0x80`
//! and 7 bits of the MSISDN's hash) of the same capacity, at most 80 % full, the slot
//! picked by a multiply-shift of the hash (no power-of-two rounding). A lookup scans the
//! tags from the home slot (linear probing; the tag array is 1/64 of the records, so the
//! scan stays in one or two cache lines) and touches a record only where the tag
//! matches: about one record line per lookup. Records are never removed (a store is
//! immutable once built; a reload builds a new one), so there are no tombstones and a
//! lookup ends at the first empty tag. Both arrays are anonymous `mmap`s advised for
//! transparent huge pages when large (a 10M-subscriber table is 800 MB: with 4 KiB pages
//! nearly every lookup would also miss the TLB).

use super::{hash, Subscriber, MAX_KEY_LEN};
use msm_table::region::{prefetch, Region, Zeroable};

/// MSISDN bits of [`Record::word`] (15 decimal digits < 2^50).
const MSISDN_MASK: u64 = (1 << 50) - 1;
const KEY_LEN_SHIFT: u32 = 50;
/// [`Record::word`]: the replay state (`last_ident`, `bucket`) is this record's own (see
/// `Registrar`: after a reload, a record's state is taken from the previous store on
/// first use).
const STATE_OWN: u64 = 1 << 63;
const TAG_USED: u8 = 0x80;

/// One subscriber: exactly one cache line.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub(crate) struct Record {
    /// MSISDN (bits 0..50), key length (bits 50..56), [`STATE_OWN`] (bit 63); 0: empty.
    word: u64,
    /// Last accepted Identification (0: none).
    pub(crate) last_ident: u64,
    /// The per-subscriber admission bucket, packed (`admission::take_packed`); 0: full.
    pub(crate) bucket: u64,
    home: u32,
    spi: u32,
    /// The key in its first `key_len` bytes, zeros after.
    key: [u8; MAX_KEY_LEN],
}

// SAFETY: all-zero is a valid (empty) record.
unsafe impl Zeroable for Record {}

const _: () = assert!(std::mem::size_of::<Record>() == 64);
const _: () = assert!(std::mem::align_of::<Record>() == 64);

impl Record {
    #[inline(always)]
    pub(crate) fn msisdn(&self) -> u64 {
        self.word & MSISDN_MASK
    }

    /// The subscriber's provisioning (a copy).
    #[inline]
    pub(crate) fn subscriber(&self) -> Subscriber {
        Subscriber {
            msisdn: self.msisdn(),
            home: self.home,
            spi: self.spi,
            key: self.key,
            key_len: ((self.word >> KEY_LEN_SHIFT) & 0x3f) as u8,
        }
    }

    /// Whether the replay state is this record's own (else it is to be taken from the
    /// previous store, or is the default: none, bucket full).
    #[inline(always)]
    pub(crate) fn state_own(&self) -> bool {
        self.word & STATE_OWN != 0
    }

    /// Sets the replay state and marks it as this record's own.
    #[inline]
    pub(crate) fn set_state(&mut self, last_ident: u64, bucket: u64) {
        self.last_ident = last_ident;
        self.bucket = bucket;
        self.word |= STATE_OWN;
    }
}

/// The open-addressing table of [`Record`]s, keyed by MSISDN.
pub(crate) struct Records {
    slots: Region<Record>,
    tags: Region<u8>,
    len: usize,
    seed: u64,
}

/// Why [`Records::insert`] did not insert.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// The MSISDN is already in the table, at this slot.
    Duplicate(usize),
    /// No free slot (the table was made for fewer subscribers).
    Full,
    /// Not a storable MSISDN (0, or more than 15 digits).
    BadMsisdn,
}

impl Records {
    /// Capacity for `n` subscribers at most 80 % full; `None` if the memory cannot be had.
    pub(crate) fn with_capacity(n: usize, seed: u64) -> Option<Records> {
        let cap = n.checked_add(n / 4)?.checked_add(8)?;
        Records::with_slots(cap, seed)
    }

    /// Exactly `cap` slots (tests use small ones to force collisions and a full table).
    pub(crate) fn with_slots(cap: usize, seed: u64) -> Option<Records> {
        Some(Records {
            slots: Region::new_zeroed(cap.max(1), true)?,
            tags: Region::new_zeroed(cap.max(1), true)?,
            len: 0,
            seed,
        })
    }

    #[inline(always)]
    fn cap(&self) -> usize {
        self.tags.as_slice().len()
    }

    /// Home slot and tag of `msisdn`.
    #[inline(always)]
    fn home_of(&self, msisdn: u64) -> (usize, u8) {
        let h = hash(self.seed, msisdn);
        // Multiply-shift takes the slot from the high bits; the tag from the low ones.
        let slot = ((u128::from(h) * self.cap() as u128) >> 64) as usize;
        (slot, TAG_USED | (h as u8 & 0x7f))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Inserts a subscriber (with the default replay state); returns its slot.
    pub(crate) fn insert(&mut self, s: &Subscriber) -> Result<usize, InsertError> {
        if s.msisdn == 0 || s.msisdn > MSISDN_MASK || usize::from(s.key_len) > MAX_KEY_LEN {
            return Err(InsertError::BadMsisdn);
        }
        let (mut i, tag) = self.home_of(s.msisdn);
        let cap = self.cap();
        for _ in 0..cap {
            let t = self.tags.as_slice()[i];
            if t == 0 {
                self.tags.as_mut_slice()[i] = tag;
                self.slots.as_mut_slice()[i] = Record {
                    word: s.msisdn | (u64::from(s.key_len) << KEY_LEN_SHIFT),
                    last_ident: 0,
                    bucket: 0,
                    home: s.home,
                    spi: s.spi,
                    key: s.key,
                };
                self.len += 1;
                return Ok(i);
            }
            if t == tag && self.slots.as_slice()[i].msisdn() == s.msisdn {
                return Err(InsertError::Duplicate(i));
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        Err(InsertError::Full)
    }

    /// The slot of `msisdn`.
    #[inline]
    pub(crate) fn find(&self, msisdn: u64) -> Option<usize> {
        let slots = self.slots.as_slice();
        self.probe(msisdn, |i| slots[i].msisdn() == msisdn)
    }

    /// The first slot along `msisdn`'s probe sequence whose tag matches and for which
    /// `hit` holds; `None` at the first empty slot (or after a full round).
    #[inline(always)]
    fn probe(&self, msisdn: u64, hit: impl Fn(usize) -> bool) -> Option<usize> {
        let (mut i, tag) = self.home_of(msisdn);
        let tags = self.tags.as_slice();
        let cap = tags.len();
        for _ in 0..cap {
            let t = tags[i];
            if t == 0 {
                return None;
            }
            if t == tag && hit(i) {
                return Some(i);
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        None
    }

    /// First step of a batch's prefetch: the tag line of `msisdn`'s home slot.
    #[inline]
    pub(crate) fn prefetch_tags(&self, msisdn: u64) {
        let (i, _) = self.home_of(msisdn);
        prefetch(&self.tags.as_slice()[i]);
    }

    /// Second step (once the tags are in cache): the record itself.
    #[inline]
    pub(crate) fn prefetch_record(&self, msisdn: u64) {
        // Where its record most likely is: the first matching tag (no record read).
        if let Some(i) = self.probe(msisdn, |_| true) {
            prefetch(&self.slots.as_slice()[i]);
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self, slot: usize) -> &Record {
        &self.slots.as_slice()[slot]
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self, slot: usize) -> &mut Record {
        &mut self.slots.as_mut_slice()[slot]
    }

    /// Slots in table order with their records (occupied ones only).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Record)> + '_ {
        self.tags
            .as_slice()
            .iter()
            .zip(self.slots.as_slice())
            .enumerate()
            .filter(|(_, (t, _))| **t != 0)
            .map(|(i, (_, r))| (i, r))
    }

    /// Number of slots (occupied or not): the bound of a sweep over the table.
    pub(crate) fn slots(&self) -> usize {
        self.cap()
    }

    /// Whether `slot` holds a record.
    #[inline]
    pub(crate) fn occupied(&self, slot: usize) -> bool {
        self.tags.as_slice().get(slot).is_some_and(|t| *t != 0)
    }

    /// Bytes reserved for the records and tags.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.reserved_bytes() + self.tags.reserved_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(msisdn: u64) -> Subscriber {
        let mut key = [0u8; MAX_KEY_LEN];
        key[..16].copy_from_slice(&msisdn.to_le_bytes().repeat(2));
        Subscriber {
            msisdn,
            home: 0x0a00_0000 + msisdn as u32,
            spi: 256 + msisdn as u32,
            key,
            key_len: 16,
        }
    }

    #[test]
    fn records_round_trip_and_default_state() {
        let mut t = Records::with_capacity(100, 7).unwrap();
        for m in 1..=100 {
            t.insert(&sub(m)).unwrap();
        }
        assert_eq!(t.len(), 100);
        for m in 1..=100 {
            let r = t.get(t.find(m).unwrap());
            assert_eq!(r.subscriber(), sub(m));
            assert_eq!((r.last_ident, r.bucket, r.state_own()), (0, 0, false));
        }
        assert_eq!(t.find(101), None);
        assert_eq!(t.iter().count(), 100);
        // Every record starts on a cache line of its own.
        let r0 = t.get(t.find(1).unwrap()) as *const Record as usize;
        assert_eq!(r0 % 64, 0);
    }

    /// A table so small that every key collides: lookups follow the probe sequence past
    /// other keys (and wrap around the end), duplicates are found wherever they sit.
    #[test]
    fn records_collisions_wrap_and_duplicates() {
        let mut t = Records::with_slots(5, 1).unwrap();
        let mut at = Vec::new();
        for m in [11, 22, 33, 44, 55] {
            at.push(t.insert(&sub(m)).unwrap());
        }
        at.sort_unstable();
        assert_eq!(at, vec![0, 1, 2, 3, 4], "every slot used once");
        for m in [11, 22, 33, 44, 55] {
            let i = t.find(m).unwrap();
            assert_eq!(t.get(i).msisdn(), m);
            assert_eq!(t.insert(&sub(m)), Err(InsertError::Duplicate(i)));
        }
        // Full: a new key has nowhere to go and a missing one is not found (no endless
        // probe).
        assert_eq!(t.insert(&sub(66)), Err(InsertError::Full));
        assert_eq!(t.find(66), None);
        assert_eq!(t.len(), 5);
    }

    /// Many keys in few slots with equal tags: a tag match alone is not a hit.
    #[test]
    fn records_tag_collisions_compare_the_msisdn() {
        let mut t = Records::with_slots(1000, 3).unwrap();
        for m in 1..=800u64 {
            t.insert(&sub(m)).unwrap();
        }
        for m in 1..=800u64 {
            assert_eq!(t.get(t.find(m).unwrap()).msisdn(), m);
        }
        for m in 801..=5000u64 {
            assert_eq!(t.find(m), None, "{m}");
        }
    }

    #[test]
    fn records_state_is_kept_with_the_record() {
        let mut t = Records::with_capacity(4, 9).unwrap();
        let i = t.insert(&sub(MSISDN_MASK)).unwrap();
        t.get_mut(i).set_state(77, 5);
        let r = t.get(t.find(MSISDN_MASK).unwrap());
        assert_eq!((r.last_ident, r.bucket, r.state_own()), (77, 5, true));
        assert_eq!(
            r.msisdn(),
            MSISDN_MASK,
            "the flag does not leak into the MSISDN"
        );
        assert_eq!(r.subscriber().key_len, 16);
        assert_eq!(t.insert(&sub(0)), Err(InsertError::BadMsisdn));
        assert_eq!(t.insert(&sub(MSISDN_MASK + 1)), Err(InsertError::BadMsisdn));
    }
}
