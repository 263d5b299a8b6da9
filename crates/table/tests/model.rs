//! Property test: random operation sequences against a `HashMap` model.

use msm_table::{Binding, HashSeed, Lookup, Rcu, TableConfig, TableError, TableWriter, Upsert};
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Upsert {
        k: u32,
        coa: Option<u32>,
        msisdn: u64,
        exp: u32,
    },
    Remove(u32),
    Lookup(u32),
    Publish,
    Expire {
        now: u32,
        max_slots: usize,
    },
    Rebuild(usize),
}

fn key() -> impl Strategy<Value = u32> {
    prop_oneof![
        20 => 1u32..120,
        1 => Just(0u32),
        1 => Just(u32::MAX),
        1 => any::<u32>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let coa = prop_oneof![4 => Just(None), 1 => Just(Some(0u32)), 8 => (1u32..).prop_map(Some)];
    prop_oneof![
        12 => (key(), coa, any::<u64>(), 0u32..100)
            .prop_map(|(k, coa, msisdn, exp)| Op::Upsert { k, coa, msisdn, exp }),
        6 => key().prop_map(Op::Remove),
        6 => key().prop_map(Op::Lookup),
        1 => Just(Op::Publish),
        1 => (0u32..100, 1usize..300).prop_map(|(now, max_slots)| Op::Expire { now, max_slots }),
        1 => (0usize..300).prop_map(Op::Rebuild),
    ]
}

fn seed() -> impl Strategy<Value = HashSeed> {
    prop_oneof![
        // Everything collides into one bucket.
        Just(HashSeed { mul: 0, add: 0 }),
        // A weak hash: heavy clustering.
        Just(HashSeed {
            mul: 1 << 60,
            add: 0
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(m, a)| HashSeed { mul: m | 1, add: a }),
    ]
}

fn want(model: &HashMap<u32, Binding>, k: u32) -> Lookup {
    match model.get(&k) {
        None => Lookup::Miss,
        Some(Binding { coa: None, .. }) => Lookup::Wwan,
        Some(Binding { coa: Some(c), .. }) => Lookup::CareOf(*c),
    }
}

fn valid(k: u32) -> bool {
    k != 0 && k != u32::MAX
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn table_agrees_with_hashmap(
        ops in proptest::collection::vec(op(), 1..400),
        seed in seed(),
        initial in 1usize..64,
        max in 8usize..150,
    ) {
        let (rcu, mut readers) = Rcu::new(1);
        let cfg = TableConfig {
            initial_capacity: initial,
            max_bindings: max,
            hash_seed: Some(seed),
            huge_pages: false,
            hugetlb: false,
            poison_retired: false,
        };
        let mut w = TableWriter::new(cfg, rcu).unwrap();
        let table = w.handle();
        let r = &mut readers[0];
        let mut model: HashMap<u32, Binding> = HashMap::new();
        let mut out = Vec::new();
        for op in ops {
            match op {
                Op::Upsert { k, coa, msisdn, exp } => {
                    let expect = if !valid(k) {
                        Err(TableError::InvalidKey)
                    } else if coa == Some(0) || coa.is_some_and(|c| c >= 0xf000_0000) {
                        Err(TableError::InvalidCareOf)
                    } else if model.contains_key(&k) {
                        Ok(Upsert::Updated)
                    } else if model.len() >= max {
                        Err(TableError::Full)
                    } else {
                        Ok(Upsert::Inserted)
                    };
                    prop_assert_eq!(w.upsert(k, coa, msisdn, exp), expect);
                    if expect.is_ok() {
                        model.insert(k, Binding { home: k, coa, port: 0, msisdn, expires_at: exp });
                    }
                }
                Op::Remove(k) => {
                    prop_assert_eq!(w.remove(k), model.remove(&k).is_some());
                }
                Op::Lookup(k) => {
                    prop_assert_eq!(w.get(k), model.get(&k).copied());
                    let g = r.begin();
                    prop_assert_eq!(table.view(&g).lookup(k), want(&model, k));
                }
                Op::Publish => {
                    let e = w.publish();
                    if r.is_online() {
                        // The reader last reported an older epoch.
                        prop_assert!(!w.visible(e));
                        r.quiescent();
                    }
                    prop_assert!(w.visible(e));
                }
                Op::Expire { now, max_slots } => {
                    out.clear();
                    let p = w.expire(now, max_slots, &mut out);
                    prop_assert!(p.scanned <= max_slots);
                    prop_assert_eq!(p.expired, out.len());
                    for b in &out {
                        prop_assert!(b.expires_at <= now);
                        prop_assert_eq!(model.remove(&b.home), Some(*b));
                    }
                }
                Op::Rebuild(cap) => {
                    prop_assert_eq!(w.rebuild(cap), Ok(()));
                }
            }
            prop_assert_eq!(w.len(), model.len());
        }
        // Final: every key, by the writer, a worker view and iteration.
        let st = w.stats();
        prop_assert!(st.len + st.tombstones <= st.slots * 7 / 8);
        prop_assert!(st.len <= st.capacity);
        let g = r.begin();
        let v = table.view(&g);
        for k in 0..130u32 {
            prop_assert_eq!(v.lookup(k), want(&model, k), "key {}", k);
            prop_assert_eq!(w.get(k), model.get(&k).copied());
        }
        let mut all: Vec<Binding> = w.iter().collect();
        all.sort_by_key(|b| b.home);
        let mut expect: Vec<Binding> = model.values().copied().collect();
        expect.sort_by_key(|b| b.home);
        prop_assert_eq!(all, expect);
        drop(g);
        // A full expiry sweep at the latest time removes exactly the rest.
        out.clear();
        // (Calls stop at the end of the table; the cursor may start mid-way.)
        // A tombstone rebuild (new generation) restarts the cursor at 0.
        let (mut scanned, mut gen) = (0, w.stats().generation);
        while scanned < w.stats().slots {
            scanned += w.expire(u32::MAX, 1000, &mut out).scanned;
            if w.stats().generation != gen {
                (scanned, gen) = (0, w.stats().generation);
            }
        }
        prop_assert_eq!(out.len(), model.len());
        prop_assert!(w.is_empty());
    }
}
