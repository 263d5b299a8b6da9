//! Registration Reply, and the MCM ⇄ MSM exchange end to end.

use msm_mip::*;
use std::net::Ipv4Addr;

/// Extensions as (type, data) pairs.
type Exts<'a> = &'a [(u8, &'a [u8])];

const KEY: &[u8] = b"msm-test-key-0123456789abcdef!!!";
const NAI: &str = "491701234567@msm.example";
const IDENT: u64 = (3_950_000_000u64 << 32) | 0x0102_0304;
const HOME: Ipv4Addr = Ipv4Addr::new(10, 20, 30, 40);
const MSM_GPRS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const COA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn reply() -> ReplyBuilder<'static> {
    ReplyBuilder {
        code: Code::Accepted,
        lifetime: 600,
        home: HOME,
        home_agent: MSM_GPRS,
        identification: IDENT,
        nai: NAI,
        spi: 0x1000,
        key: KEY,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Python: `struct.pack("!BBH4s4sQ", 3, 0, 600, home, ha, ident)` + NAI ext +
/// `bytes([32, 36]) + struct.pack("!I", 0x1000)` + HMAC-SHA-256 over all that.
const KAT_REPLY: &str = "030002580a141e28c0000201eb703780010203048318343931373031323334353637\
406d736d2e6578616d706c652024000010007d2a3483eb30288a8fd8feed656241f86717211fd45ea5b41daec2d214\
03ac27";

#[test]
fn round_trip_and_known_answer() {
    let b = reply();
    let m = b.to_vec().unwrap();
    assert_eq!(m.len(), b.len());
    assert_eq!(m.len(), 20 + 2 + NAI.len() + 38);
    assert_eq!(hex(&m), KAT_REPLY);
    let p = parse_reply(&m).unwrap();
    assert_eq!(p.code, 0);
    assert_eq!(p.known_code(), Some(Code::Accepted));
    assert!(p.is_accepted());
    assert_eq!(p.lifetime, 600);
    assert_eq!(p.home, HOME);
    assert_eq!(p.home_agent, MSM_GPRS);
    assert_eq!(p.identification, IDENT);
    assert_eq!(p.nai, NAI.as_bytes());
    assert_eq!(p.msisdn(), Some(491_701_234_567));
    assert_eq!(p.realm(), Some("msm.example"));
    assert_eq!(p.spi, 0x1000);
    assert_eq!(p.auth_covered, &m[..m.len() - 32]);
    assert_eq!(compute_authenticator(KEY, p.auth_covered), *p.authenticator);
    assert!(verify_mn_ha(&p, KEY));
    assert!(!verify_mn_ha(&p, b"other key"));

    let v = RegistrationReply::new_checked(&m[..]).unwrap();
    assert_eq!(v.msg_type(), TYPE_REPLY);
    assert_eq!(v.code(), 0);
    assert_eq!(v.lifetime(), 600);
    assert_eq!(v.home_address(), HOME);
    assert_eq!(v.home_agent(), MSM_GPRS);
    assert_eq!(v.identification(), IDENT);
    assert_eq!(v.nai(), Some(NAI.as_bytes()));
    let tys: Vec<u8> = v.extensions().map(|e| e.unwrap().ty).collect();
    assert_eq!(tys, [131, 32]);

    for c in Code::ALL {
        let m = ReplyBuilder { code: c, ..reply() }.to_vec().unwrap();
        let p = parse_reply(&m).unwrap();
        assert_eq!(p.known_code(), Some(c));
        assert_eq!(p.is_accepted(), c == Code::Accepted);
        assert!(verify_mn_ha(&p, KEY));
    }
}

#[test]
fn any_changed_byte_is_never_accepted() {
    let m = reply().to_vec().unwrap();
    for i in 0..m.len() {
        for bit in 0..8 {
            let mut x = m.clone();
            x[i] ^= 1 << bit;
            if let Ok(p) = parse_reply(&x) {
                assert!(!verify_mn_ha(&p, KEY), "byte {i} bit {bit}");
            }
        }
    }
}

#[test]
fn reply_errors() {
    let m = reply().to_vec().unwrap();
    let nai_end = 22 + NAI.len();
    for len in 0..m.len() {
        let e = parse_reply(&m[..len]).unwrap_err();
        let want = if len < 20 {
            ReplyError::Truncated
        } else if len == 20 || len == nai_end {
            ReplyError::MissingAuth
        } else if len == 21 || len == nai_end + 1 {
            ReplyError::ExtensionTruncated {
                offset: if len == 21 { 20 } else { nai_end },
            }
        } else if len < nai_end {
            ReplyError::ExtensionOverrun {
                offset: 20,
                ty: 131,
                len: NAI.len() as u8,
            }
        } else {
            ReplyError::ExtensionOverrun {
                offset: nai_end,
                ty: 32,
                len: 36,
            }
        };
        assert_eq!(e, want, "len {len}");
    }
    let mut x = m.clone();
    x[0] = 1;
    assert_eq!(parse_reply(&x), Err(ReplyError::BadType(1)));
    assert_eq!(
        RegistrationReply::new_checked(&x[..]),
        Err(ReplyError::BadType(1))
    );
    // A request is not a reply and vice versa.
    let req = RequestBuilder {
        lifetime: 1,
        home: HOME,
        home_agent: MSM_GPRS,
        care_of: COA,
        identification: IDENT,
        nai: NAI,
        spi: 0x1000,
        key: KEY,
    }
    .to_vec()
    .unwrap();
    assert_eq!(parse_reply(&req), Err(ReplyError::BadType(1)));
    assert_eq!(parse_request(&m), Err(RequestError::BadType(3)));

    let mut x = m.clone();
    x.push(0);
    assert_eq!(
        parse_reply(&x),
        Err(ReplyError::TrailingData {
            offset: m.len(),
            len: 1
        })
    );

    // Extension-level errors use the same rules as requests.
    let fixed = &m[..20];
    let with = |exts: Exts| {
        let mut v = fixed.to_vec();
        for (t, d) in exts {
            v.push(*t);
            v.push(d.len() as u8);
            v.extend_from_slice(d);
        }
        v
    };
    let mut a = 0x1000u32.to_be_bytes().to_vec();
    a.resize(36, 0);
    let nai = NAI.as_bytes();
    let cases: [(Exts, ReplyError); 9] = [
        (&[(32, &a)], ReplyError::MissingNai),
        (&[(131, b"x"), (32, &a)], ReplyError::BadNai),
        (
            &[(131, nai), (131, nai), (32, &a)],
            ReplyError::DuplicateNai,
        ),
        (&[(32, &a), (131, nai)], ReplyError::ExtensionOrder),
        (&[(131, nai), (34, &a)], ReplyError::UnknownExtension(34)),
        (&[(131, nai)], ReplyError::MissingAuth),
        (&[(131, nai), (32, &a[..3])], ReplyError::AuthTooShort(3)),
        (&[(131, nai), (32, &a[..20])], ReplyError::BadAuthLength(20)),
        (
            &[(131, nai), (32, &[0, 0, 0, 255, 0, 0, 0, 0][..])],
            ReplyError::BadAuthLength(8),
        ),
    ];
    for (exts, want) in cases {
        assert_eq!(parse_reply(&with(exts)), Err(want), "{exts:?}");
        assert!(!want.to_string().is_empty());
    }
    let mut r = a.clone();
    r[..4].copy_from_slice(&255u32.to_be_bytes());
    assert_eq!(
        parse_reply(&with(&[(131, nai), (32, &r)])),
        Err(ReplyError::ReservedSpi(255))
    );
    // Skippable unknown extensions are skipped.
    let mut ok = with(&[(131, nai), (145, b"hello"), (32, &a)]);
    assert!(RegistrationReply::new_unchecked(&mut ok[..]).fill_mn_ha(KEY));
    let p = parse_reply(&ok).unwrap();
    assert!(verify_mn_ha(&p, KEY));

    // Codes outside the profile are kept raw.
    let mut x = m.clone();
    {
        let mut v = RegistrationReply::new_unchecked(&mut x[..]);
        v.set_code(1);
        assert!(v.fill_mn_ha(KEY));
    }
    let p = parse_reply(&x).unwrap();
    assert_eq!((p.code, p.known_code(), p.is_accepted()), (1, None, true));
}

#[test]
fn reply_builder_errors() {
    let b = reply();
    let mut out = vec![0u8; b.len() - 1];
    assert_eq!(
        b.emit(&mut out),
        Err(EmitError::BufferTooSmall { need: b.len() })
    );
    assert_eq!(
        ReplyBuilder { nai: "x", ..b }.to_vec(),
        Err(EmitError::BadNai)
    );
    assert_eq!(
        ReplyBuilder { spi: 3, ..b }.to_vec(),
        Err(EmitError::ReservedSpi(3))
    );
}

#[test]
fn reply_setters() {
    let mut m = reply().to_vec().unwrap();
    let mut v = RegistrationReply::new_checked(&mut m[..]).unwrap();
    v.set_code(133);
    v.set_lifetime(0);
    v.set_home_address(Ipv4Addr::new(1, 2, 3, 4));
    v.set_home_agent(Ipv4Addr::new(5, 6, 7, 8));
    v.set_identification(42);
    assert!(v.fill_mn_ha(KEY));
    v.set_msg_type(3);
    assert_eq!(v.as_bytes().len(), reply().len());
    let direct = ReplyBuilder {
        code: Code::IdentificationMismatch,
        lifetime: 0,
        home: Ipv4Addr::new(1, 2, 3, 4),
        home_agent: Ipv4Addr::new(5, 6, 7, 8),
        identification: 42,
        ..reply()
    };
    assert_eq!(m, direct.to_vec().unwrap());
}

/// The MCM registers with a clock 100 s behind the MSM's, gets 133 with
/// the MSM's time, resynchronises and is accepted; a replay of the accepted
/// request is refused.
#[test]
fn exchange_with_resync_and_replay() {
    const WINDOW: u32 = DEFAULT_REPLAY_WINDOW_S;
    let msm_now = 3_950_000_000u32;
    let mut last_accepted: Option<u64> = None;

    // What the MSM does with one request; returns the reply bytes.
    let mut msm = |payload: &[u8], now: u32| -> Vec<u8> {
        let req = parse_request(payload).unwrap();
        assert_eq!(req.msisdn(), Some(491_701_234_567));
        assert!(verify_mn_ha(&req, KEY));
        let code = match check_replay(req.identification, now, WINDOW, last_accepted) {
            Ok(()) => {
                last_accepted = Some(req.identification);
                Code::Accepted
            }
            Err(e) => e.code(),
        };
        ReplyBuilder {
            code,
            lifetime: if code == Code::Accepted {
                req.lifetime.min(600)
            } else {
                0
            },
            home: req.home,
            home_agent: req.home_agent,
            identification: reply_identification(
                req.identification,
                code == Code::IdentificationMismatch,
                now,
            ),
            nai: req.nai_str().unwrap(),
            spi: req.spi,
            key: KEY,
        }
        .to_vec()
        .unwrap()
    };
    let request = |ntp: u32, low: u32| {
        RequestBuilder {
            lifetime: 1800,
            home: HOME,
            home_agent: MSM_GPRS,
            care_of: COA,
            identification: make_identification(ntp, low),
            nai: NAI,
            spi: 0x1000,
            key: KEY,
        }
        .to_vec()
        .unwrap()
    };

    // 1. Clock 100 s behind → 133, with the MSM's time and our low bits.
    let r1 = msm(&request(msm_now - 100, 0xaaaa_0001), msm_now);
    let p1 = parse_reply(&r1).unwrap();
    assert!(verify_mn_ha(&p1, KEY));
    assert_eq!(p1.known_code(), Some(Code::IdentificationMismatch));
    assert_eq!(p1.lifetime, 0);
    assert_eq!(p1.identification as u32, 0xaaaa_0001);
    let offset = (p1.identification >> 32) as u32 - (msm_now - 100);
    assert_eq!(offset, 100);

    // 2. Resynchronised → accepted, Identification echoed unchanged.
    let req2 = request(msm_now - 100 + offset + 1, 0xaaaa_0002);
    let r2 = msm(&req2, msm_now + 1);
    let p2 = parse_reply(&r2).unwrap();
    assert!(verify_mn_ha(&p2, KEY));
    assert_eq!(p2.known_code(), Some(Code::Accepted));
    assert_eq!(p2.lifetime, 600);
    assert_eq!(
        p2.identification,
        make_identification(msm_now + 1, 0xaaaa_0002)
    );

    // 3. The same request replayed 2 s later → 133 (not increasing).
    let r3 = msm(&req2, msm_now + 3);
    let p3 = parse_reply(&r3).unwrap();
    assert_eq!(p3.known_code(), Some(Code::IdentificationMismatch));
    assert_eq!(
        p3.identification,
        make_identification(msm_now + 3, 0xaaaa_0002)
    );

    // 4. A fresh one → accepted.
    let r4 = msm(&request(msm_now + 4, 0xaaaa_0003), msm_now + 4);
    assert_eq!(parse_reply(&r4).unwrap().code, 0);
}
