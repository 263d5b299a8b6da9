//! Property tests: no input panics; emit → parse round trips; replay check
//! against a plain-integer model.

use msm_mip::*;
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Random bytes that often get past the fixed part: type 1 or 3, and a
/// plausible extension chain (NAI / MN-HA / random types and lengths).
fn messageish() -> impl Strategy<Value = Vec<u8>> {
    let ext = (
        prop_oneof![Just(131u8), Just(32), any::<u8>()],
        prop_oneof![
            Just(b"491701234567".to_vec()),
            Just([&[0u8, 0, 1, 0][..], &[0u8; 32][..]].concat()), // SPI 256
            bytes(40)
        ],
        prop_oneof![Just(None), (0u8..=255).prop_map(Some)],
    );
    (
        prop_oneof![Just(1u8), Just(3), any::<u8>()],
        bytes(24),
        proptest::collection::vec(ext, 0..4),
        bytes(4),
    )
        .prop_map(|(ty, fixed, exts, tail)| {
            let mut v = vec![ty];
            v.extend_from_slice(&fixed);
            for (t, d, len) in exts {
                v.push(t);
                v.push(len.unwrap_or(d.len() as u8));
                v.extend_from_slice(&d);
            }
            v.extend_from_slice(&tail);
            v
        })
}

fn touch_request(b: &[u8]) -> usize {
    let mut acc = 0usize;
    if let Ok(p) = parse_request(b) {
        acc += p.nai.len() + p.auth_covered.len() + p.spi as usize;
        acc += usize::from(verify_mn_ha(&p, b"k"));
        acc += p.msisdn().unwrap_or(0) as usize + p.realm().map_or(0, str::len);
        // Everything parse_request accepts is structurally sound.
        assert_eq!(p.auth_covered.len() + 32, b.len());
        assert!(p.spi >= 256);
        assert!(p.flags.check().is_ok());
    }
    match parse_request_any_flags(b) {
        Ok(p) => acc += usize::from(p.check_flags().is_ok()),
        Err(e) => acc += usize::from(e.code().as_u8()) + usize::from(e.reply_code().is_some()),
    }
    if let Ok(v) = RegistrationRequest::new_checked(b) {
        acc += usize::from(v.msg_type()) + usize::from(v.flags().bits());
        acc += usize::from(v.lifetime()) + v.identification() as usize;
        acc += usize::from(v.home_address().is_loopback())
            + usize::from(v.home_agent().is_loopback())
            + usize::from(v.care_of_address().is_loopback());
        acc += v.nai().map_or(0, <[u8]>::len);
        for e in v.extensions() {
            match e {
                Ok(e) => {
                    assert!(e.offset + e.wire_len() <= b.len());
                    acc += e.data.len();
                }
                Err(_) => acc += 1,
            }
        }
    }
    acc
}

fn touch_reply(b: &[u8]) -> usize {
    let mut acc = 0usize;
    if let Ok(p) = parse_reply(b) {
        acc += p.nai.len() + usize::from(verify_mn_ha(&p, b"k"));
        acc += p.known_code().map_or(0, |c| c.name().len());
        assert_eq!(p.auth_covered.len() + 32, b.len());
    }
    if let Ok(v) = RegistrationReply::new_checked(b) {
        acc += usize::from(v.code()) + usize::from(v.lifetime()) + v.identification() as usize;
        acc +=
            usize::from(v.home_address().is_loopback()) + usize::from(v.home_agent().is_loopback());
        acc += v.nai().map_or(0, <[u8]>::len);
        acc += v.extensions().count();
    }
    acc
}

fn msisdn() -> impl Strategy<Value = String> {
    "[1-9][0-9]{0,14}"
}

fn nai() -> impl Strategy<Value = String> {
    (
        msisdn(),
        proptest::option::of("[a-zA-Z0-9-]{1,20}(\\.[a-zA-Z0-9-]{1,20}){0,3}"),
    )
        .prop_map(|(d, r)| match r {
            Some(r) => format!("{d}@{r}"),
            None => d,
        })
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_random_bytes(b in bytes(120)) {
        touch_request(&b);
        touch_reply(&b);
    }

    #[test]
    fn parse_never_panics_on_plausible_bytes(b in messageish()) {
        touch_request(&b);
        touch_reply(&b);
        // In-place re-signing never panics either, and a re-signed request
        // that parses verifies.
        let mut m = b.clone();
        if RegistrationRequest::new_checked(&m[..]).is_ok()
            && RegistrationRequest::new_unchecked(&mut m[..]).fill_mn_ha(b"k")
        {
            if let Ok(p) = parse_request_any_flags(&m) {
                prop_assert!(verify_mn_ha(&p, b"k"));
            }
        }
        let mut m = b;
        if RegistrationReply::new_checked(&m[..]).is_ok() {
            RegistrationReply::new_unchecked(&mut m[..]).fill_mn_ha(b"k");
        }
    }

    #[test]
    fn request_round_trip(
        lifetime in any::<u16>(),
        home in addr(),
        home_agent in addr(),
        care_of in addr(),
        identification in any::<u64>(),
        nai in nai(),
        spi in 256u32..,
        key in bytes(100),
    ) {
        let b = RequestBuilder { lifetime, home, home_agent, care_of, identification, nai: &nai, spi, key: &key };
        let m = b.to_vec().unwrap();
        prop_assert_eq!(m.len(), b.len());
        let p = parse_request(&m).unwrap();
        prop_assert_eq!(p.flags, Flags::PROFILE);
        prop_assert_eq!(p.lifetime, lifetime);
        prop_assert_eq!(p.home, home);
        prop_assert_eq!(p.home_agent, home_agent);
        prop_assert_eq!(p.care_of, care_of);
        prop_assert_eq!(p.identification, identification);
        prop_assert_eq!(p.nai, nai.as_bytes());
        prop_assert_eq!(p.nai_str(), Some(nai.as_str()));
        let digits = nai.split('@').next().unwrap();
        prop_assert_eq!(p.msisdn(), Some(digits.parse::<u64>().unwrap()));
        prop_assert_eq!(p.realm(), nai.split_once('@').map(|(_, r)| r));
        prop_assert_eq!(p.spi, spi);
        prop_assert!(verify_mn_ha(&p, &key));
        // (Appending 0 would be the same HMAC key: keys shorter than the
        // block are zero-padded, RFC 2104.)
        let mut other = key.clone();
        other.push(1);
        prop_assert!(!verify_mn_ha(&p, &other));
    }

    #[test]
    fn reply_round_trip(
        code in proptest::sample::select(Code::ALL.to_vec()),
        lifetime in any::<u16>(),
        home in addr(),
        home_agent in addr(),
        identification in any::<u64>(),
        nai in nai(),
        spi in 256u32..,
        key in bytes(100),
    ) {
        let b = ReplyBuilder { code, lifetime, home, home_agent, identification, nai: &nai, spi, key: &key };
        let m = b.to_vec().unwrap();
        let p = parse_reply(&m).unwrap();
        prop_assert_eq!(p.known_code(), Some(code));
        prop_assert_eq!(p.lifetime, lifetime);
        prop_assert_eq!(p.home, home);
        prop_assert_eq!(p.home_agent, home_agent);
        prop_assert_eq!(p.identification, identification);
        prop_assert_eq!(p.nai, nai.as_bytes());
        prop_assert_eq!(p.spi, spi);
        prop_assert!(verify_mn_ha(&p, &key));
    }

    #[test]
    fn corrupted_request_never_verifies(
        nai in nai(),
        identification in any::<u64>(),
        pos in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let key = b"k3y";
        let b = RequestBuilder {
            lifetime: 60,
            home: Ipv4Addr::new(10, 0, 0, 1),
            home_agent: Ipv4Addr::new(10, 0, 0, 254),
            care_of: Ipv4Addr::new(192, 0, 2, 7),
            identification,
            nai: &nai,
            spi: 300,
            key,
        };
        let mut m = b.to_vec().unwrap();
        let i = pos.index(m.len());
        m[i] ^= flip;
        if let Ok(p) = parse_request_any_flags(&m) {
            prop_assert!(!verify_mn_ha(&p, key));
        }
    }

    /// Away from the 32-bit wrap, check_replay is the contract's plain rule:
    /// |ts - now| <= window and ident > last.
    #[test]
    fn replay_matches_model(
        now in 1_000_000u32..4_000_000_000,
        dt in -100i64..100,
        low in any::<u32>(),
        window in 0u32..30,
        last in proptest::option::of((-100i64..100, any::<u32>())),
    ) {
        let ts = (i64::from(now) + dt) as u32;
        let ident = make_identification(ts, low);
        let last = last.map(|(d, l)| make_identification((i64::from(now) + d) as u32, l));
        let want = if dt.unsigned_abs() > u64::from(window) {
            Err(ReplayError::OutOfWindow)
        } else if last.is_some_and(|l| ident <= l) {
            Err(ReplayError::NotIncreasing)
        } else {
            Ok(())
        };
        prop_assert_eq!(check_replay(ident, now, window, last), want);
        let r = reply_identification(ident, want.is_err(), now);
        prop_assert_eq!(r as u32, low);
        prop_assert_eq!((r >> 32) as u32, if want.is_err() { now } else { ts });
    }
}
