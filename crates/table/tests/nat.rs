//! NAT bindings (RFC 3519): an endpoint (address, UDP port) per binding,
//! kept in the NAT endpoint array and named by the slot word; a reader sees
//! a whole endpoint; a released index is not reused before its grace period.

use msm_table::{Binding, Lookup, Rcu, TableConfig, TableError, TableWriter, Upsert};

const H1: u32 = 0x0a00_0001;
const H2: u32 = 0x0a00_0002;
const NAT1: u32 = 0xcb00_7132; // 203.0.113.50
const NAT2: u32 = 0xcb00_7133;

fn cfg(max: usize) -> TableConfig {
    let mut c = TableConfig::new(max);
    c.huge_pages = false;
    c
}

#[test]
fn nat_binding_lookup_update_and_back() {
    let (rcu, mut rs) = Rcu::new(1);
    let mut w = TableWriter::new(cfg(100), rcu).unwrap();
    let h = w.handle();
    assert_eq!(
        w.upsert_endpoint(H1, Some(NAT1), 40001, 7, 100),
        Ok(Upsert::Inserted)
    );
    w.upsert(H2, Some(0xc633_6407), 8, 100).unwrap();
    assert_eq!(w.nat_len(), 1);
    let look = |rs: &mut Vec<msm_table::RcuReader>, k| {
        let g = rs[0].begin();
        h.view(&g).lookup(k)
    };
    assert_eq!(
        look(&mut rs, H1),
        Lookup::Nat {
            addr: NAT1,
            port: 40001
        }
    );
    assert_eq!(look(&mut rs, H2), Lookup::CareOf(0xc633_6407));
    assert_eq!(
        w.get(H1),
        Some(Binding {
            home: H1,
            coa: Some(NAT1),
            port: 40001,
            msisdn: 7,
            expires_at: 100
        })
    );
    // New mapping (new port): in place, same count.
    assert_eq!(
        w.upsert_endpoint(H1, Some(NAT2), 40002, 7, 200),
        Ok(Upsert::Updated)
    );
    assert_eq!(w.nat_len(), 1);
    assert_eq!(
        look(&mut rs, H1),
        Lookup::Nat {
            addr: NAT2,
            port: 40002
        }
    );
    // A public care-of address again: IP-in-IP.
    w.upsert(H1, Some(0xc633_6409), 7, 300).unwrap();
    assert_eq!(w.nat_len(), 0);
    assert_eq!(look(&mut rs, H1), Lookup::CareOf(0xc633_6409));
    assert_eq!(w.get(H1).unwrap().port, 0);
    // Iteration carries the port.
    w.upsert_endpoint(H2, Some(NAT1), 5, 8, 100).unwrap();
    let mut all: Vec<Binding> = w.iter().collect();
    all.sort_by_key(|b| b.home);
    assert_eq!(all[1].port, 5);
    assert_eq!(all[1].coa, Some(NAT1));
    // Removal releases the endpoint.
    assert!(w.remove(H2));
    assert_eq!(w.nat_len(), 0);
    assert_eq!(look(&mut rs, H2), Lookup::Miss);
}

#[test]
fn invalid_nat_bindings_refused() {
    let (rcu, _rs) = Rcu::new(0);
    let mut w = TableWriter::new(cfg(10), rcu).unwrap();
    // A port without an address.
    assert_eq!(
        w.upsert_endpoint(H1, None, 1, 0, 0),
        Err(TableError::InvalidCareOf)
    );
    // 240.0.0.0/4 as a plain care-of address would read as a NAT index.
    assert_eq!(
        w.upsert(H1, Some(0xf000_0001), 0, 0),
        Err(TableError::InvalidCareOf)
    );
    assert!(w.is_empty());
}

#[test]
fn released_index_waits_for_the_grace_period() {
    let (rcu, mut rs) = Rcu::new(1);
    let mut w = TableWriter::new(cfg(2), rcu).unwrap();
    let h = w.handle();
    w.upsert_endpoint(H1, Some(NAT1), 1111, 1, 100).unwrap();
    w.publish();
    // A reader in the middle of a burst that found H1's slot word.
    let g = rs[0].begin();
    let v = h.view(&g);
    assert_eq!(
        v.lookup(H1),
        Lookup::Nat {
            addr: NAT1,
            port: 1111
        }
    );
    // The writer removes H1 and binds H2 behind a NAT: H2 must not get H1's
    // index while the reader may still follow it.
    assert!(w.remove(H1));
    w.publish();
    w.upsert_endpoint(H2, Some(NAT2), 2222, 2, 100).unwrap();
    // Whatever H1's old index holds, it is still H1's endpoint.
    assert_eq!(
        v.lookup(H2),
        Lookup::Nat {
            addr: NAT2,
            port: 2222
        }
    );
    drop(g);
    // The reader's next burst ends the grace period of H1's old index.
    drop(rs[0].begin());
    // Both indices in use: a third NAT binding exceeds max_bindings (2).
    assert_eq!(
        w.upsert_endpoint(H1, Some(NAT1), 3333, 1, 100),
        Ok(Upsert::Inserted)
    );
    assert_eq!(w.nat_len(), 2);
    assert_eq!(
        w.upsert_endpoint(0x0a00_0003, Some(NAT1), 4444, 1, 100),
        Err(TableError::Full)
    );
    assert_eq!(w.nat_len(), 2);
}

#[test]
fn grace_period_seen_through_the_index() {
    // The index H1 released is not handed out again while a reader that may
    // have loaded H1's slot word is still in its burst.
    let (rcu, mut rs) = Rcu::new(1);
    let mut w = TableWriter::new(cfg(1), rcu).unwrap();
    let h = w.handle();
    w.upsert_endpoint(H1, Some(NAT1), 1111, 1, 100).unwrap();
    let g = rs[0].begin();
    let v = h.view(&g);
    assert_eq!(
        v.lookup(H1),
        Lookup::Nat {
            addr: NAT1,
            port: 1111
        }
    );
    assert!(w.remove(H1));
    assert_eq!(w.nat_in_grace(), 1);
    w.publish();
    w.upsert_endpoint(H2, Some(NAT2), 2222, 2, 100).unwrap();
    assert_eq!(w.nat_in_grace(), 1, "reused during the reader's burst");
    drop(g);
    assert_eq!(
        w.nat_in_grace(),
        1,
        "the reader's burst began before the release"
    );
    drop(rs[0].begin());
    w.publish();
    assert_eq!(w.nat_in_grace(), 0);
    let g = rs[0].begin();
    assert_eq!(
        h.view(&g).lookup(H2),
        Lookup::Nat {
            addr: NAT2,
            port: 2222
        }
    );
}

#[test]
fn resize_keeps_nat_endpoints() {
    let (rcu, mut rs) = Rcu::new(1);
    let mut c = cfg(5000);
    c.initial_capacity = 8;
    let mut w = TableWriter::new(c, rcu).unwrap();
    let h = w.handle();
    for k in 1..=3000u32 {
        if k % 2 == 0 {
            w.upsert_endpoint(k, Some(NAT1 + k), k as u16, u64::from(k), 100)
                .unwrap();
        } else {
            w.upsert(k, Some(0xc633_0000 + k), u64::from(k), 100)
                .unwrap();
        }
    }
    assert!(w.stats().growths > 0);
    assert_eq!(w.nat_len(), 1500);
    let g = rs[0].begin();
    let v = h.view(&g);
    for k in 1..=3000u32 {
        let want = if k % 2 == 0 {
            Lookup::Nat {
                addr: NAT1 + k,
                port: k as u16,
            }
        } else {
            Lookup::CareOf(0xc633_0000 + k)
        };
        assert_eq!(v.lookup(k), want, "{k}");
    }
}

/// Concurrent readers never see an endpoint of another binding: the writer
/// churns NAT bindings (insert, endpoint change, back to IP-in-IP, remove),
/// always with `addr = key ^ v << 8`, `port = key as u16 ^ v` for some
/// version `v`, and a reader checks every endpoint it sees belongs to its key.
#[test]
fn concurrent_readers_see_whole_endpoints() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const KEYS: u32 = 64;
    let (rcu, rs) = Rcu::new(2);
    let mut w = TableWriter::new(cfg(KEYS as usize), rcu).unwrap();
    let h = w.handle();
    let stop = Arc::new(AtomicBool::new(false));
    let seen_nat = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut readers = Vec::new();
    for mut r in rs {
        let h = h.clone();
        let stop = Arc::clone(&stop);
        let seen_nat = Arc::clone(&seen_nat);
        readers.push(std::thread::spawn(move || {
            let mut seen = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let g = r.begin();
                let v = h.view(&g);
                for k in 1..=KEYS {
                    match v.lookup(k) {
                        Lookup::Nat { addr, port } => {
                            let ver = (addr ^ k) >> 8;
                            assert_eq!(addr, k ^ (ver << 8), "foreign address for {k}");
                            assert_eq!(port, k as u16 ^ ver as u16, "torn/foreign port for {k}");
                            seen += 1;
                            seen_nat.fetch_add(1, Ordering::Relaxed);
                        }
                        Lookup::CareOf(c) => assert_eq!(c & 0xff, k, "foreign care-of"),
                        Lookup::Wwan | Lookup::Miss => {}
                    }
                }
            }
            r.offline();
            seen
        }));
    }
    let start = std::time::Instant::now();
    let mut round = 0u32;
    // At least 20k changes and 300 ms, and on until the readers (scheduled late on a
    // busy machine) have seen NAT bindings; at most 20 s.
    let ms = |n| std::time::Duration::from_millis(n);
    while (round < 20_000 || start.elapsed() < ms(300) || seen_nat.load(Ordering::Relaxed) < 1000)
        && start.elapsed() < ms(20_000)
    {
        round = round.wrapping_add(1);
        let k = round % KEYS + 1;
        let v = round & 0xfff | 1;
        match round % 5 {
            0 => {
                w.remove(k);
            }
            1 => {
                let _ = w.upsert(k, Some(0xc600_0000 | (round << 8 & 0xff_ff00) | k), 0, 100);
            }
            _ => {
                let _ = w.upsert_endpoint(k, Some(k ^ (v << 8)), k as u16 ^ v as u16, 0, 100);
            }
        }
        if round % 7 == 0 {
            w.publish();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seen: u64 = readers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(seen > 0, "readers saw no NAT binding");
}
