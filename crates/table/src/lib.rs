//! # msm-table: the MSM binding table and the RCU that publishes it
//!
//! Maps a mobile's **home address** (IPv4, `u32`) to its binding: a
//! **care-of address** or none ("WWAN": the mobile registered from the WWAN
//! and its data goes by the WWAN), its **MSISDN** and its **lifetime
//! expiry**. Sized for 10 million bindings and more. Pure Rust, no DPDK.
//!
//! * Workers (DPDK poll-mode cores, up to ~64) **read lock-free**: per burst
//!   of packets they open an RCU read-side section, optionally prefetch the
//!   buckets of the whole burst, and look each home address up.
//! * The control core is the **only writer**. It applies changes in batches
//!   and publishes them ([`TableWriter::publish`]); it can ask whether a
//!   published change has been seen by every worker
//!   ([`TableWriter::visible`]) before it acts on it (make-before-break).
//!
//! ```
//! use msm_table::{Lookup, Rcu, TableConfig, TableWriter};
//!
//! let (rcu, mut readers) = Rcu::new(2); // one reader per worker core
//! let mut writer = TableWriter::new(TableConfig::new(1_000), rcu).unwrap();
//! let table = writer.handle(); // Clone + Send + Sync, one per worker
//!
//! writer.upsert(0x0a00_0001, Some(0xc633_6401), 46_700_000_001, 3600).unwrap();
//! let epoch = writer.publish();
//!
//! // Worker, once per burst:
//! let reader = &mut readers[0];
//! {
//!     let guard = reader.begin(); // loads the epoch
//!     let view = table.view(&guard); // loads the current generation
//!     view.prefetch(0x0a00_0001);
//!     assert_eq!(view.lookup(0x0a00_0001), Lookup::CareOf(0xc633_6401));
//!     assert_eq!(view.lookup(0x0a00_0002), Lookup::Miss);
//! } // guard dropped: quiescent state reported
//! assert!(writer.visible(epoch)); // (the other reader never started: offline)
//! ```
//!
//! ## Data path: one word per binding
//!
//! Everything a worker needs about a binding is one `AtomicU64` **slot word**
//! `home << 32 | coa`. Home `0` marks an EMPTY slot and home `0xFFFF_FFFF` a
//! TOMBSTONE (so 0.0.0.0 and 255.255.255.255 can't be home addresses:
//! [`TableError::InvalidKey`]); coa `0` means "no care-of address" (WWAN).
//! A worker can therefore never see a torn binding, and there is no pointer
//! to follow out of a slot: an update is **one store** into the binding's
//! slot, an insert one store into a free slot, a removal one store of
//! EMPTY/TOMBSTONE. Publishing costs what the change costs — never a copy of
//! the table.
//!
//! **NAT bindings** (RFC 3519) bind a home address to a translated address *and* UDP
//! port, 48 bits that do not fit beside the key. Their slot word's care-of field is
//! `0xF000_0000 | index` (240.0.0.0/4 is never a care-of address) into a NAT endpoint
//! array of `AtomicU64` words `addr << 16 | port` shared by all generations
//! ([`TableWriter::upsert_endpoint`], [`Lookup::Nat`]). A lookup of a NAT binding reads
//! one more word; a mapping change is one store into it; an index is reused only after
//! an RCU grace period, so no reader follows a stale slot word to another mobile's
//! endpoint. The array (`max_bindings * 9/8 + 64` entries, lazily touched) costs 8 B per
//! NAT binding. See docs/architecture.md, "NAT traversal".
//!
//! Slots are grouped 8 to a 64-byte-aligned cache line (a bucket). A lookup
//! hashes the address to its home bucket, compares the high halves of the 8
//! words, and stops at a match, or at the first bucket that has an EMPTY
//! slot (miss), or after `max_probe` further buckets (the longest
//! displacement the writer ever created in this generation; it raises it
//! *before* it stores a key that far away). Invariant: a live key sits in the
//! first bucket along its probe sequence that had a free slot when it was
//! inserted, and no bucket between its home bucket and its own has an EMPTY
//! slot. Removal therefore writes EMPTY only if the bucket already has an
//! EMPTY slot (no probe sequence can continue past such a bucket), else a
//! TOMBSTONE; inserts reuse the first free slot (tombstones included) after
//! checking the key is absent. Typical lookup: one cache line, already
//! prefetched. The worker path does relaxed/acquire loads and one release
//! store per burst: no allocation, no lock, no syscall, no read-modify-write,
//! no fence.
//!
//! **Hash**: `bucket = (mul * home + add) mod 2^64 >> (64 - log2 buckets)`
//! with a random odd `mul` and random `add` chosen at table creation
//! (multiply-add-shift: strongly universal for 32-bit keys), one multiply
//! per lookup. Which addresses collide can't be predicted without the seed,
//! and home addresses come from the operator's configured pools (assigned
//! by the control plane), so an attacker controls little of the key set
//! anyway. Multiplicative hashing also spreads a contiguous pool very evenly:
//! 10M consecutive addresses typically fill 2^21 buckets with no bucket
//! overflowing (`max_probe` 0).
//!
//! ## Writer-private metadata and memory
//!
//! MSISDN (8 B) and expiry (4 B) live in writer-only arrays parallel to the
//! slots (slots never move within a generation); workers never touch them.
//! Memory per binding = (8 B slot + 12 B metadata) / load factor. A
//! generation for `capacity` bindings has `next_pow2(capacity / 6)` buckets
//! (load <= 3/4). At 10,000,000 bindings: 2^21 buckets, 16.8M slots, 320 MiB,
//! **33.6 bytes/binding** (measured by `examples/table_mem.rs`); the range
//! over any table is 26.7 B (load 3/4) to 53.3 B (just after a doubling).
//! Large regions are anonymous `mmap`s aligned to 2 MiB and advised
//! `MADV_HUGEPAGE` (the bucket array of a 10M table is 128 MiB: with 4 KiB
//! pages nearly every lookup would also miss the TLB); small ones, or if
//! `mmap` fails, come from the global allocator.
//!
//! ## Publication: QSBR RCU ([`rcu`])
//!
//! A global epoch, advanced by `publish()` on the control core, and one
//! cache-padded counter per worker. `reader.begin()` loads the epoch; the
//! guard's drop stores it into the worker's counter — the epoch at which the
//! *completed* burst began. `visible(e)` holds when every online worker's
//! counter is `>= e`: each has finished a burst that saw everything published
//! up to `e`, and none still holds anything it loaded before `e`. Workers
//! that stop polling go `offline()` and don't block anyone; readers start
//! offline and `begin()` brings them online (the one reader operation with a
//! `SeqCst` fence, needed so the writer can't miss a reader coming online).
//!
//! The table is reached through an `AtomicPtr` to the current
//! **generation**, loaded once per burst by [`TableHandle::view`]. The writer
//! replaces the generation only for (a) **growth**: an insert would exceed
//! load 3/4 and `max_bindings` allows more — a 2x generation, every binding
//! re-inserted; and (b) **cleanup**: tombstones above 1/4 of the slots, or
//! live + tombstones above 7/8 (so some EMPTY slots always remain and probes
//! stay short) — a same-size rebuild. The old generation goes to a limbo
//! list and is freed only after a grace period. These are capacity events,
//! amortised O(1) per insert, not the publication path.
//!
//! ## Limits (honestly)
//!
//! * **A batch is not a transaction.** Each binding changes atomically, and
//!   in place, so a worker in mid-burst may already see part of a batch that
//!   isn't published yet. `publish()`/`visible()` give "every worker has seen
//!   everything up to here", not atomic multi-binding updates. A key removed
//!   and re-inserted within one burst may be missed by that burst.
//! * **Growth and rebuilds stop the writer for O(n)**: measured here ~60 ms
//!   for the doubling to 2^21 buckets at 6.3M bindings (keys move in bucket
//!   order: streaming) and ~0.9 s for a same-size rebuild at 10M bindings
//!   (mostly first-touch page faults of 320 MiB of fresh memory in this VM).
//!   Workers are never stopped, but registrations wait. Pre-size the table
//!   (`initial_capacity = max_bindings`) and growth never happens in service;
//!   tombstone rebuilds remain (rare: tombstones only form in full buckets).
//!   During a resize both generations exist (peak memory old + new) until the
//!   grace period ends. An incremental (resumable) rebuild is not done.
//! * **A stuck online worker blocks reclamation** (retired generations pile
//!   up; see [`TableStats::retired_pending`]) — never visibility of in-place
//!   changes, never safety. Readers are fixed at [`Rcu::new`].
//!   [`TableWriter::synchronize`] must not be called from a thread that is an
//!   online reader (it would wait for itself).
//! * **Linear probing** degrades with a bad hash or sustained high occupancy:
//!   a miss scans until a bucket with an EMPTY slot. The random seed and the
//!   7/8 occupancy rebuild bound this; `stats().max_probe` shows it.
//! * **No per-binding packet/byte counters**: a shared counter needs an
//!   atomic read-modify-write (or a torn-update race) on the worker path and
//!   a cache line bouncing between cores; they belong in per-worker arrays
//!   (e.g. indexed by a binding id) summed by the control plane.
//! * IPv4 home and care-of addresses only; 0.0.0.0 and 255.255.255.255 are
//!   reserved; MSISDN is a `u64`, expiry a `u32` number of seconds.
//! * The expiry sweep (`expire`) is incremental over slots (bounded work per
//!   call): expiry is detected within one full sweep, not at the exact second.

pub mod rcu;
pub mod region;
mod table;

pub use rcu::{Limbo, Rcu, RcuGuard, RcuReader};
#[doc(hidden)]
pub use table::POISON_WORD;
pub use table::{
    is_valid_home, Binding, ExpireProgress, HashSeed, Lookup, TableConfig, TableError, TableHandle,
    TableStats, TableView, TableWriter, Upsert, MAX_NAT_ENDPOINTS, SLOTS_PER_BUCKET,
};
