//! The journal's record: its 36-byte encoding, and the live state a record sequence leaves.
//!
//! Layout (little endian): `0` kind, `1` version, `2..4` version 1: zero, version 2: the
//! NAT binding's UDP port (RFC 3519), `4` home, `8` care-of (for a NAT binding the NAT's
//! translated address), `12` expiry, `16` MSISDN, `24` last Identification, `32` CRC-32 of
//! bytes 0..32. A record without a port is written as version 1, byte for byte what
//! earlier releases wrote (so they can still read journals without NAT bindings); one with
//! a port as version 2. Both versions are read.

use hashbrown::HashTable;
use msm_table::Binding;

/// Bytes in one encoded record.
pub const RECORD_LEN: usize = 36;
/// Record format version of records without a UDP port.
pub const VERSION: u8 = 1;
/// Record format version of NAT bindings (the port in bytes 2..4).
pub const VERSION_NAT: u8 = 2;

/// What a record does to its home address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Insert or replace the binding of `home`.
    Upsert = 1,
    /// Remove the binding of `home` (the other fields are kept for the record).
    Remove = 2,
}

/// One journal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Record {
    pub kind: Kind,
    pub home: u32,
    /// `None`: no care-of address (bound through the WWAN). `Some(0)` is stored as `None`.
    pub coa: Option<u32>,
    /// 0, or the UDP port of a NAT binding to `coa:port` (RFC 3519).
    pub port: u16,
    pub msisdn: u64,
    /// Unix seconds; `u32::MAX` = never. Live while `expires_at > now`.
    pub expires_at: u32,
    /// The last accepted registration Identification of the subscriber.
    pub last_ident: u64,
}

impl Record {
    pub fn upsert(b: &Binding, last_ident: u64) -> Record {
        Record {
            kind: Kind::Upsert,
            home: b.home,
            coa: b.coa,
            port: if b.coa.is_some() { b.port } else { 0 },
            msisdn: b.msisdn,
            expires_at: b.expires_at,
            last_ident,
        }
    }

    pub fn remove(home: u32, msisdn: u64, last_ident: u64) -> Record {
        Record {
            kind: Kind::Remove,
            home,
            coa: None,
            port: 0,
            msisdn,
            expires_at: 0,
            last_ident,
        }
    }

    /// The binding an Upsert installs.
    pub fn binding(&self) -> Binding {
        let coa = self.coa.filter(|&c| c != 0);
        Binding {
            home: self.home,
            coa,
            port: if coa.is_some() { self.port } else { 0 },
            msisdn: self.msisdn,
            expires_at: self.expires_at,
        }
    }

    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0] = self.kind as u8;
        if self.port != 0 && self.coa.is_some_and(|c| c != 0) {
            b[1] = VERSION_NAT;
            b[2..4].copy_from_slice(&self.port.to_le_bytes());
        } else {
            b[1] = VERSION;
        }
        b[4..8].copy_from_slice(&self.home.to_le_bytes());
        b[8..12].copy_from_slice(&self.coa.unwrap_or(0).to_le_bytes());
        b[12..16].copy_from_slice(&self.expires_at.to_le_bytes());
        b[16..24].copy_from_slice(&self.msisdn.to_le_bytes());
        b[24..32].copy_from_slice(&self.last_ident.to_le_bytes());
        let crc = crc32fast::hash(&b[..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates one record; `Err` says why it is invalid.
    pub fn decode(b: &[u8; RECORD_LEN]) -> Result<Record, &'static str> {
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| u64::from(u32_at(o)) | u64::from(u32_at(o + 4)) << 32;
        if crc32fast::hash(&b[..32]) != u32_at(32) {
            return Err("bad CRC");
        }
        let kind = match b[0] {
            1 => Kind::Upsert,
            2 => Kind::Remove,
            _ => return Err("unknown record kind"),
        };
        let port = u16::from_le_bytes([b[2], b[3]]);
        match b[1] {
            VERSION if port != 0 => return Err("reserved bytes not zero"),
            VERSION => {}
            VERSION_NAT if port == 0 => return Err("NAT record without a port"),
            VERSION_NAT => {}
            _ => return Err("unknown record version"),
        }
        let home = u32_at(4);
        if !msm_table::is_valid_home(home) {
            return Err("invalid home address");
        }
        let coa = u32_at(8);
        if port != 0 && coa == 0 {
            return Err("NAT record without an address");
        }
        Ok(Record {
            kind,
            home,
            coa: (coa != 0).then_some(coa),
            port,
            expires_at: u32_at(12),
            msisdn: u64_at(16),
            last_ident: u64_at(24),
        })
    }
}

#[inline]
fn mix(x: u64) -> u64 {
    let mut h = x ^ 0x6a09_e667_f3bc_c908;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// See [`Replay::live`].
pub fn live(records: &[Record], now: u32) -> Vec<Record> {
    let mut last: HashTable<usize> = HashTable::new();
    let h = |r: &Record| mix(u64::from(r.home));
    for (i, r) in records.iter().enumerate() {
        match last.entry(h(r), |&j| records[j].home == r.home, |&j| h(&records[j])) {
            hashbrown::hash_table::Entry::Occupied(mut o) => *o.get_mut() = i,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    let mut idx: Vec<usize> = last.into_iter().collect();
    idx.sort_unstable();
    idx.into_iter()
        .map(|i| records[i])
        .filter(|r| r.kind == Kind::Upsert && r.expires_at > now)
        .collect()
}
