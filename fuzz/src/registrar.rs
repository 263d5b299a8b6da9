//! Target `registrar`: `Registrar::handle` on a sequence of requests, with three
//! subscribers, a binding table of two entries and low admission limits, so that every
//! step of the decision (admission, parse, subscriber, authentication, replay, flags,
//! addresses, table full) is reachable.
//!
//! Input: steps, each `[ctl, sel, len, payload (len bytes)]` (a short last step takes
//! what is left):
//! * `ctl` bits 0-1: path (0 = WWAN, 1 = tunnel to `IPmsm-wlan`, 2 = direct, 3 = tunnel
//!   to `IPmsm-gprs`); bit 2: re-sign the payload with the key of the subscriber its NAI
//!   names (what a fuzzer cannot forge); bit 3: set a fresh Identification (our clock,
//!   increasing); bits 4-7: how far the clock moves before the step ([`ADVANCE_MS`]);
//! * `sel` bits 0-2: the IP source ([`ADDRS`]); bits 3-5: the tunnel's outer source.
//!
//! Properties, each step:
//! * a Reply fits `MAX_REPLY`; a binding change comes only with code 0, and the table
//!   then holds what it says; its journal record encodes and decodes to itself;
//! * a request that did not authenticate (by the subscribers' keys here) never gets a
//!   Reply longer than itself (no amplification), nor a binding change;
//! * an authenticated request's Reply (if any) parses and verifies with the
//!   subscriber's key, and echoes its Identification low 32 bits.

use msm::config::{Prefix, RegistrationConfig};
use msm::control::journal::Record;
use msm::control::reg_io::Path;
use msm::control::registrar::{Now, Registrar, MAX_REPLY};
use msm::control::subscribers::Subscribers;
use msm_mip::{Code, RegistrationRequest};
use msm_table::{HashSeed, Rcu, TableConfig, TableWriter};

/// `IPmsm-gprs` (192.0.2.129) and `IPmsm-wlan` (198.51.100.1).
pub const GPRS: u32 = 0xc000_0281;
pub const WLAN: u32 = 0xc633_6401;
/// The home pool.
pub const POOL: &str = "192.0.2.0/25";
/// 203.0.113.10 and 203.0.113.20: care-of addresses.
pub const COA: u32 = 0xcb00_710a;
pub const COA2: u32 = 0xcb00_7114;
/// Unix time of the first step.
pub const NOW: u64 = 1_800_000_000;

/// The subscribers: MSISDN, home address, SPI, key (32, 16 and 20 bytes).
pub const SUBS: [(u64, u32, u32, &[u8]); 3] = [
    (
        491700000010,
        0xc000_020a,
        256,
        b"0123456789abcdef0123456789abcdef",
    ),
    (491700000011, 0xc000_020b, 300, b"fedcba9876543210"),
    (491700000012, 0xc000_020c, 4096, b"twenty-byte-key-----"),
];

/// Sources a step can name (`sel` bits 0-2 and 3-5).
pub const ADDRS: [u32; 8] = [
    0xc000_020a, // home of subscriber 0
    0xc000_020b, // home of subscriber 1
    COA,
    COA2,
    GPRS,
    WLAN,
    0xc000_020c, // home of subscriber 2
    0x0a00_0001, // 10.0.0.1: private, a martian care-of address
];

/// Clock steps (ms) selected by `ctl` bits 4-7.
pub const ADVANCE_MS: [u64; 16] = [
    0,
    1,
    10,
    100,
    250,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    60_000,
    300_000,
    600_000,
    3_600_000,
    86_400_000,
    1_000_000_000,
];

fn cfg() -> RegistrationConfig {
    RegistrationConfig {
        subscribers: None,
        state_dir: None,
        max_lifetime_s: 600,
        replay_window_s: 7,
        admission_per_sec: 40,
        per_subscriber_per_sec: 5,
        per_source_per_sec: 20,
        unauthenticated_replies_per_sec: 10,
        unauthenticated_replies_per_source_per_sec: 3,
        journal_compact_bytes: 1 << 20,
        nat_keepalive_s: 110,
    }
}

/// The provisioning file of [`SUBS`].
pub fn subscribers_text() -> String {
    let mut t = String::from("# MSISDN HOME SPI KEY\n");
    for (m, h, spi, k) in SUBS {
        let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
        t += &format!("{m} {} {spi} {hex}\n", std::net::Ipv4Addr::from(h));
    }
    t
}

/// Encodes one step.
pub fn step(ctl: u8, sel: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![ctl, sel, payload.len().min(255) as u8];
    v.extend_from_slice(&payload[..payload.len().min(255)]);
    v
}

/// The subscriber a payload's NAI names, if it is one of [`SUBS`].
fn named(payload: &[u8]) -> Option<(u64, u32, u32, &'static [u8])> {
    let v = RegistrationRequest::new_checked(payload).ok()?;
    let m = msm_mip::Nai::parse(v.nai()?)?.msisdn();
    SUBS.iter().copied().find(|s| s.0 == m)
}

pub fn run(data: &[u8]) {
    codes(data);
}

/// Runs the steps of `data` (see the module doc); returns each step's code.
pub fn codes(data: &[u8]) -> Vec<Option<Code>> {
    let mut codes = Vec::new();
    let pools = vec![Prefix::parse(POOL).expect("pool")];
    let subs = Subscribers::parse(&subscribers_text(), &pools).expect("subscribers");
    let mut reg = Registrar::new(cfg(), pools, subs, vec![GPRS, WLAN]);
    let (rcu, _readers) = Rcu::new(1);
    let mut table = TableWriter::new(
        TableConfig {
            initial_capacity: 2,
            max_bindings: 2,
            hash_seed: Some(HashSeed {
                mul: 0x9e37_79b9_7f4a_7c15,
                add: 1,
            }),
            huge_pages: false,
            hugetlb: false,
            poison_retired: false,
        },
        rcu,
    )
    .expect("table");
    let mut now = Now {
        unix_s: NOW,
        ms: NOW * 1000,
    };
    let mut rest = data;
    let mut n = 0u32;
    while rest.len() >= 3 && n < 64 {
        n += 1;
        let (ctl, sel) = (rest[0], rest[1]);
        let len = usize::from(rest[2]).min(rest.len() - 3);
        let mut payload = rest[3..3 + len].to_vec();
        rest = &rest[3 + len..];

        now.ms += ADVANCE_MS[usize::from(ctl >> 4)];
        now.unix_s = now.ms / 1000;
        let src = ADDRS[usize::from(sel & 7)];
        let path = match ctl & 3 {
            0 => Path::Wwan,
            2 => Path::Direct,
            k => Path::Tunnel {
                outer_src: ADDRS[usize::from(sel >> 3) & 7],
                outer_dst: if k == 1 { WLAN } else { GPRS },
            },
        };
        let sub = named(&payload);
        if let Ok(mut v) = RegistrationRequest::new_checked(&mut payload[..]) {
            if ctl & 8 != 0 {
                let ntp = (now.unix_s + msm_mip::NTP_UNIX_OFFSET) as u32;
                v.set_identification(u64::from(ntp) << 32 | u64::from(n));
            }
            if ctl & 4 != 0 {
                v.fill_mn_ha(sub.map_or(SUBS[0].3, |s| s.3));
            }
        }
        let authenticated = sub.is_some_and(|(_, _, spi, key)| {
            msm_mip::parse_request_any_flags(&payload)
                .is_ok_and(|r| r.spi == spi && msm_mip::verify_mn_ha(&r, key))
        });

        let out = reg.handle(&payload, path, src, now, &mut table);
        codes.push(out.code);

        let reply = out.reply_bytes();
        if let Some(r) = reply {
            assert!(r.len() <= MAX_REPLY);
            assert!(out.code.is_some(), "a Reply has a code");
        }
        if let Some(c) = out.change {
            assert_eq!(out.code, Some(Code::Accepted), "{c:?}");
            assert!(
                authenticated,
                "a change from an unauthenticated request: {c:?}"
            );
            let rec = c.record();
            assert_eq!(Record::decode(&rec.encode()), Ok(rec));
            if let Some(b) = c.binding {
                let t = table.get(c.home).expect("the change is in the table");
                assert_eq!(
                    (t.coa, t.msisdn, t.expires_at),
                    (b.coa, b.msisdn, b.expires_at)
                );
            }
        }
        if !authenticated {
            if let Some(r) = reply {
                assert!(
                    r.len() <= payload.len(),
                    "amplification: {} > {}",
                    r.len(),
                    payload.len()
                );
            }
        } else if let (Some(r), Some((_, _, _, key))) = (reply, sub) {
            let p = msm_mip::parse_reply(r).expect("a signed Reply");
            assert!(msm_mip::verify_mn_ha(&p, key));
            let req = msm_mip::parse_request_any_flags(&payload).expect("authenticated");
            assert_eq!(p.identification as u32, req.identification as u32);
        }
    }
    codes
}
