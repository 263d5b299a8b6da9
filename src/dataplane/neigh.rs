//! Next-hop neighbour table (ARP cache) for the configured gateways.
//!
//! The MSM only ever forwards to a handful of next hops (each port's gateway, and the
//! WWAN gateway of a `both` port), so the table is a small fixed array built from the
//! configuration. Each entry's MAC is one `AtomicU64` (`VALID | mac`): workers read it
//! with a relaxed load per packet and learn from ARP replies / requests with a plain
//! store (several workers may store the same value: no read-modify-write is needed).
//! The control lcore sends ARP requests for entries that are unresolved or stale.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const VALID: u64 = 1 << 63;

pub struct NeighEntry {
    pub port: u16,
    pub ip: u32,
    mac: AtomicU64,
    /// Seconds (caller's clock) of the last update; 0 = never.
    updated: AtomicU64,
}

pub struct Neighbours {
    entries: Vec<NeighEntry>,
}

fn mac_to_u64(m: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&m);
    u64::from_be_bytes(b)
}

fn u64_to_mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl Neighbours {
    /// One entry per distinct (port, ip); returns the table and is indexed by
    /// [`Neighbours::index_of`].
    pub fn new(hops: &[(u16, u32)]) -> Neighbours {
        let mut entries: Vec<NeighEntry> = Vec::new();
        for &(port, ip) in hops {
            if !entries.iter().any(|e| e.port == port && e.ip == ip) {
                entries.push(NeighEntry {
                    port,
                    ip,
                    mac: AtomicU64::new(0),
                    updated: AtomicU64::new(0),
                });
            }
        }
        Neighbours { entries }
    }

    pub fn index_of(&self, port: u16, ip: u32) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.port == port && e.ip == ip)
    }

    #[inline]
    pub fn mac(&self, idx: usize) -> Option<[u8; 6]> {
        let v = self.entries.get(idx)?.mac.load(Relaxed);
        (v & VALID != 0).then(|| u64_to_mac(v))
    }

    /// Learns `mac` for `(port, ip)` if that is one of our next hops. Returns whether it was.
    #[inline]
    pub fn learn(&self, port: u16, ip: u32, mac: [u8; 6], now_s: u64) -> bool {
        if mac == [0; 6] || mac[0] & 1 != 0 {
            return false; // never learn broadcast/multicast/zero
        }
        for e in &self.entries {
            if e.port == port && e.ip == ip {
                let v = VALID | mac_to_u64(mac);
                if e.mac.load(Relaxed) != v {
                    e.mac.store(v, Relaxed);
                }
                if e.updated.load(Relaxed) != now_s {
                    e.updated.store(now_s, Relaxed);
                }
                return true;
            }
        }
        false
    }

    pub fn entries(&self) -> &[NeighEntry] {
        &self.entries
    }
}

impl NeighEntry {
    pub fn mac(&self) -> Option<[u8; 6]> {
        let v = self.mac.load(Relaxed);
        (v & VALID != 0).then(|| u64_to_mac(v))
    }
    pub fn updated(&self) -> u64 {
        self.updated.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learn_only_known_next_hops() {
        let n = Neighbours::new(&[(0, 10), (1, 20), (0, 10)]);
        assert_eq!(n.entries().len(), 2);
        let i = n.index_of(1, 20).unwrap();
        assert_eq!(n.mac(i), None);
        assert!(!n.learn(1, 21, [2, 0, 0, 0, 0, 1], 5));
        assert!(
            !n.learn(0, 20, [2, 0, 0, 0, 0, 1], 5),
            "same ip on another port"
        );
        assert!(!n.learn(1, 20, [0xff; 6], 5), "broadcast is never learned");
        assert!(n.learn(1, 20, [2, 0, 0, 0, 0, 1], 5));
        assert_eq!(n.mac(i), Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(n.entries()[i].updated(), 5);
        assert!(n.learn(1, 20, [2, 0, 0, 0, 0, 2], 6));
        assert_eq!(n.mac(i), Some([2, 0, 0, 0, 0, 2]));
        assert_eq!(n.mac(99), None);
    }
}
