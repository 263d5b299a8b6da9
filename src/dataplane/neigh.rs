//! Next-hop neighbour table (ARP cache) for the configured gateways.
//!
//! The MSM only ever forwards to a handful of next hops (each port's gateway, and the
//! WWAN gateway of a `both` port), so the table is a small fixed array built from the
//! configuration. Each entry's MAC is one `AtomicU64` (`VALID | mac`): workers read it
//! with a relaxed load per packet and learn from ARP replies / requests with a plain
//! store (several workers may store the same value: no read-modify-write is needed).
//! The control lcore sends ARP requests for entries that are unresolved or stale.
//!
//! An entry may be *static* (`gateway_mac` in the configuration): set before the workers
//! start, never ARPed for, never overridden by ARP ([`Learned::StaticKept`]). A learned
//! MAC that replaces another is [`Learned::Changed`]: the worker counts it, and the
//! control lcore, comparing each entry against what it saw last
//! ([`NeighEntry::take_change`]), logs it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const VALID: u64 = 1 << 63;

pub struct NeighEntry {
    pub port: u16,
    pub ip: u32,
    mac: AtomicU64,
    /// Seconds (caller's clock) of the last update; 0 = never.
    updated: AtomicU64,
    /// Configured MAC: ARP neither refreshes nor overrides it.
    fixed: bool,
    /// The MAC (as `mac`) the control lcore saw last; written only by the control lcore.
    seen: AtomicU64,
}

/// What an ARP packet from `(port, ip)` did to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// Not one of our next hops (or a MAC never learned: zero, broadcast, multicast).
    NotNextHop,
    /// First resolution, or the MAC we already had (refreshed).
    Resolved,
    /// A next hop's MAC replaced by a different one.
    Changed,
    /// A different MAC for a static entry: ignored.
    StaticKept,
}

impl Learned {
    /// Whether the sender was one of our next hops.
    #[inline]
    pub fn is_next_hop(self) -> bool {
        self != Learned::NotNextHop
    }
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
                    fixed: false,
                    seen: AtomicU64::new(0),
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

    /// Makes the entry for `(port, ip)` static with `mac` (at start-up, before the workers
    /// run). Returns whether `(port, ip)` is one of the next hops and `mac` a unicast MAC.
    pub fn set_static(&mut self, port: u16, ip: u32, mac: [u8; 6]) -> bool {
        if !is_unicast(mac) {
            return false;
        }
        let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.port == port && e.ip == ip)
        else {
            return false;
        };
        let v = VALID | mac_to_u64(mac);
        e.mac.store(v, Relaxed);
        e.seen.store(v, Relaxed);
        e.fixed = true;
        true
    }

    /// Learns `mac` for `(port, ip)` if that is one of our next hops. Returns whether it was.
    #[inline]
    pub fn learn(&self, port: u16, ip: u32, mac: [u8; 6], now_s: u64) -> bool {
        self.learn_arp(port, ip, mac, now_s).is_next_hop()
    }

    /// Learns `mac` for `(port, ip)` (from an ARP request or reply to us) unless the
    /// entry is static; says what changed. No read-modify-write: a plain store, skipped
    /// when the value is already there.
    #[inline]
    pub fn learn_arp(&self, port: u16, ip: u32, mac: [u8; 6], now_s: u64) -> Learned {
        if !is_unicast(mac) {
            return Learned::NotNextHop; // never learn broadcast/multicast/zero
        }
        let Some(e) = self.entries.iter().find(|e| e.port == port && e.ip == ip) else {
            return Learned::NotNextHop;
        };
        let v = VALID | mac_to_u64(mac);
        let old = e.mac.load(Relaxed);
        if e.fixed {
            return if old == v {
                Learned::Resolved
            } else {
                Learned::StaticKept
            };
        }
        if old != v {
            e.mac.store(v, Relaxed);
        }
        if e.updated.load(Relaxed) != now_s {
            e.updated.store(now_s, Relaxed);
        }
        if old & VALID != 0 && old != v {
            Learned::Changed
        } else {
            Learned::Resolved
        }
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
    /// Configured in the file (`gateway_mac`): not ARPed for, not overridden.
    pub fn is_static(&self) -> bool {
        self.fixed
    }
    /// For the control lcore (the only caller): the `(old, new)` MACs if the entry's MAC
    /// changed since the last call (a first resolution is not a change), and remembers
    /// the current one. Changes in between are counted by the workers
    /// (`neighbour_mac_changes`), not seen here.
    pub fn take_change(&self) -> Option<([u8; 6], [u8; 6])> {
        let now = self.mac.load(Relaxed);
        let seen = self.seen.load(Relaxed);
        if now == seen {
            return None;
        }
        self.seen.store(now, Relaxed);
        (seen & VALID != 0 && now & VALID != 0).then(|| (u64_to_mac(seen), u64_to_mac(now)))
    }
}

/// Neither zero nor a group (broadcast/multicast) address.
#[inline]
fn is_unicast(mac: [u8; 6]) -> bool {
    mac != [0; 6] && mac[0] & 1 == 0
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

    #[test]
    fn a_changed_mac_is_reported_once_to_the_control_lcore() {
        let n = Neighbours::new(&[(0, 10)]);
        let e = &n.entries()[0];
        assert_eq!(e.take_change(), None);
        assert_eq!(n.learn_arp(0, 10, [2, 0, 0, 0, 0, 1], 5), Learned::Resolved);
        assert_eq!(e.take_change(), None, "a first resolution is not a change");
        assert_eq!(n.learn_arp(0, 10, [2, 0, 0, 0, 0, 1], 6), Learned::Resolved);
        assert_eq!(e.take_change(), None);
        assert_eq!(n.learn_arp(0, 10, [2, 0, 0, 0, 0, 2], 7), Learned::Changed);
        assert_eq!(
            e.take_change(),
            Some(([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]))
        );
        assert_eq!(e.take_change(), None, "reported once");
        assert_eq!(n.mac(0), Some([2, 0, 0, 0, 0, 2]));
        assert_eq!(e.updated(), 7);
    }

    #[test]
    fn a_static_entry_is_used_and_not_overridden() {
        let mut n = Neighbours::new(&[(0, 10), (1, 20)]);
        assert!(!n.set_static(0, 11, [2, 0, 0, 0, 0, 9]), "not a next hop");
        assert!(!n.set_static(0, 10, [0xff; 6]), "not unicast");
        assert!(n.set_static(0, 10, [2, 0, 0, 0, 0, 9]));
        let e = &n.entries()[0];
        assert!(e.is_static());
        assert!(!n.entries()[1].is_static());
        assert_eq!(n.mac(0), Some([2, 0, 0, 0, 0, 9]), "resolved without ARP");
        assert_eq!(e.take_change(), None);
        assert_eq!(
            n.learn_arp(0, 10, [2, 0, 0, 0, 0, 1], 5),
            Learned::StaticKept
        );
        assert!(n.learn(0, 10, [2, 0, 0, 0, 0, 1], 5), "still a next hop");
        assert_eq!(n.learn_arp(0, 10, [2, 0, 0, 0, 0, 9], 5), Learned::Resolved);
        assert_eq!(n.mac(0), Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(e.take_change(), None);
        assert_eq!(e.updated(), 0, "ARP does not touch a static entry");
    }
}
