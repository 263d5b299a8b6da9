//! Registration Request: round trip, known answer, authentication coverage
//! and every error path.

use hmac::{Hmac, Mac};
use msm_mip::*;
use sha2::Sha256;
use std::net::Ipv4Addr;

/// Extensions as (type, data) pairs.
type Exts<'a> = &'a [(u8, &'a [u8])];

const KEY: &[u8] = b"msm-test-key-0123456789abcdef!!!";
const NAI: &str = "491701234567@msm.example";
const IDENT: u64 = (3_950_000_000u64 << 32) | 0x0102_0304;

fn builder() -> RequestBuilder<'static> {
    RequestBuilder {
        lifetime: 1800,
        home: Ipv4Addr::new(10, 20, 30, 40),
        home_agent: Ipv4Addr::new(192, 0, 2, 1),
        care_of: Ipv4Addr::new(198, 51, 100, 7),
        identification: IDENT,
        nai: NAI,
        spi: 0x1000,
        key: KEY,
    }
}

fn valid() -> Vec<u8> {
    builder().to_vec().unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// HMAC-SHA-256 straight from the RustCrypto crates, not through msm-mip.
fn hmac256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The fixed part of the request above with `flags`, then `exts` as
/// (type, data) TLVs; every well-sized MN-HA extension is then signed.
fn raw(flags: u8, exts: Exts) -> Vec<u8> {
    let mut v = valid()[..24].to_vec();
    v[1] = flags;
    for (t, d) in exts {
        v.push(*t);
        v.push(d.len() as u8);
        v.extend_from_slice(d);
    }
    let mut r = RegistrationRequest::new_unchecked(&mut v[..]);
    r.fill_mn_ha(KEY);
    v
}

fn auth(spi: u32) -> Vec<u8> {
    let mut d = spi.to_be_bytes().to_vec();
    d.extend_from_slice(&[0u8; 32]);
    d
}

const NAI_B: &[u8] = NAI.as_bytes();

#[test]
fn round_trip() {
    let b = builder();
    let buf = valid();
    assert_eq!(buf.len(), b.len());
    assert_eq!(buf.len(), 24 + 2 + NAI.len() + 2 + 36);
    let p = parse_request(&buf).unwrap();
    assert_eq!(p.flags, Flags::D | Flags::T);
    assert_eq!(p.flags, Flags::PROFILE);
    assert_eq!(p.lifetime, b.lifetime);
    assert_eq!(p.home, b.home);
    assert_eq!(p.home_agent, b.home_agent);
    assert_eq!(p.care_of, b.care_of);
    assert_eq!(p.identification, b.identification);
    assert_eq!(p.nai, NAI_B);
    assert_eq!(p.nai_str(), Some(NAI));
    assert_eq!(p.msisdn(), Some(491_701_234_567));
    assert_eq!(p.realm(), Some("msm.example"));
    assert_eq!(p.spi, 0x1000);
    assert!(!p.is_deregistration());
    assert_eq!(p.authenticator[..], buf[buf.len() - 32..]);
    assert_eq!(p.auth_covered, &buf[..buf.len() - 32]);
    assert!(verify_mn_ha(&p, KEY));
    assert_eq!(parse_request_any_flags(&buf), Ok(p));

    // The view sees the same thing.
    let v = RegistrationRequest::new_checked(&buf[..]).unwrap();
    assert_eq!(v.msg_type(), TYPE_REQUEST);
    assert_eq!(v.flags(), Flags::PROFILE);
    assert!(v.decapsulation_by_mn() && v.reverse_tunnel());
    assert!(!v.simultaneous_bindings() && !v.broadcast());
    assert!(!v.minimal_encapsulation() && !v.gre_encapsulation());
    assert_eq!(v.lifetime(), 1800);
    assert_eq!(v.home_address(), b.home);
    assert_eq!(v.home_agent(), b.home_agent);
    assert_eq!(v.care_of_address(), b.care_of);
    assert_eq!(v.identification(), IDENT);
    assert_eq!(v.nai(), Some(NAI_B));
    let exts: Vec<_> = v.extensions().collect::<Result<_, _>>().unwrap();
    assert_eq!(exts.len(), 2);
    assert_eq!((exts[0].ty, exts[0].offset, exts[0].data), (131, 24, NAI_B));
    assert_eq!(exts[1].ty, 32);
    assert_eq!(exts[1].offset, 26 + NAI.len());
    assert_eq!(exts[1].data.len(), 36);
    assert_eq!(v.as_bytes(), &buf[..]);
    assert_eq!(v.into_inner(), &buf[..]);

    // Without a realm; cancelling registration from the WWAN.
    let b2 = RequestBuilder {
        nai: "1",
        lifetime: 0,
        care_of: Ipv4Addr::UNSPECIFIED,
        ..builder()
    };
    let buf2 = b2.to_vec().unwrap();
    let p2 = parse_request(&buf2).unwrap();
    assert_eq!((p2.msisdn(), p2.realm()), (Some(1), None));
    assert!(p2.is_deregistration());
    assert_eq!(p2.care_of, Ipv4Addr::UNSPECIFIED);
    assert!(verify_mn_ha(&p2, KEY));
}

/// Expected bytes computed with Python's hmac/hashlib:
/// ```text
/// key = b"msm-test-key-0123456789abcdef!!!"; nai = b"491701234567@msm.example"
/// ident = (3950000000 << 32) | 0x01020304
/// fixed = struct.pack("!BBH4s4s4sQ", 1, 0x22, 1800, inet_aton("10.20.30.40"),
///     inet_aton("192.0.2.1"), inet_aton("198.51.100.7"), ident)
/// covered = fixed + bytes([131, len(nai)]) + nai + bytes([32, 36]) + struct.pack("!I", 0x1000)
/// req = covered + hmac.new(key, covered, hashlib.sha256).digest()
/// ```
const KAT_REQUEST: &str = "012207080a141e28c0000201c6336407eb703780010203048318343931373031\
323334353637406d736d2e6578616d706c65202400001000057b324febcbdffd1cf3a41003881b1987294c18a9d978e6\
2b870b904837ed0b";

#[test]
fn known_answer_matches_python() {
    let buf = valid();
    assert_eq!(hex(&buf), KAT_REQUEST);
    let kat = unhex(KAT_REQUEST);
    let p = parse_request(&kat).unwrap();
    assert!(verify_mn_ha(&p, KEY));
    assert_eq!(p.identification, IDENT);
    // Identification high word is NTP seconds 3_950_000_000 = 0xeb703780.
    assert_eq!(&buf[16..20], &[0xeb, 0x70, 0x37, 0x80]);
}

#[test]
fn authenticator_covers_exactly_the_named_bytes() {
    let buf = valid();
    let n = NAI.len();
    // Fixed 24 bytes + NAI extension (2 + n) + MN-HA type, length, SPI (2 + 4).
    let fixed = &buf[..24];
    let nai_ext = &buf[24..26 + n];
    assert_eq!(nai_ext[0], 131);
    assert_eq!(usize::from(nai_ext[1]), n);
    let head = &buf[26 + n..32 + n];
    assert_eq!(head, &[32, 36, 0, 0, 0x10, 0]);
    let want = hmac256(KEY, &[fixed, nai_ext, head]);
    assert_eq!(&buf[32 + n..], &want);
    assert_eq!(buf.len(), 64 + n);
    let p = parse_request(&buf).unwrap();
    assert_eq!(p.auth_covered.len(), 32 + n);
    assert_eq!(compute_authenticator(KEY, p.auth_covered), want);
}

#[test]
fn any_changed_byte_is_never_accepted() {
    let buf = valid();
    let auth_start = buf.len() - 32;
    for i in 0..buf.len() {
        for bit in 0..8 {
            let mut m = buf.clone();
            m[i] ^= 1 << bit;
            if let Ok(p) = parse_request(&m) {
                assert!(!verify_mn_ha(&p, KEY), "byte {i} bit {bit} accepted");
            }
            if i >= auth_start {
                // Authenticator bytes: the message still parses, only the
                // check fails.
                let p = parse_request(&m).unwrap();
                assert!(!verify_mn_ha(&p, KEY));
            }
        }
    }
}

#[test]
fn wrong_key_fails() {
    let buf = valid();
    let p = parse_request(&buf).unwrap();
    assert!(verify_mn_ha(&p, KEY));
    let mut k = KEY.to_vec();
    k[31] ^= 1;
    assert!(!verify_mn_ha(&p, &k));
    assert!(!verify_mn_ha(&p, &KEY[..31]));
    assert!(!verify_mn_ha(&p, b""));
    // A key longer than the SHA-256 block is hashed first (RFC 2104): still
    // a different key.
    assert!(!verify_mn_ha(&p, &[KEY, KEY, KEY].concat()));
}

#[test]
fn empty_and_long_keys_work() {
    for key in [&b""[..], &[0x55u8; 200][..]] {
        let buf = RequestBuilder { key, ..builder() }.to_vec().unwrap();
        let p = parse_request(&buf).unwrap();
        assert!(verify_mn_ha(&p, key));
        assert!(!verify_mn_ha(&p, KEY));
        assert_eq!(p.authenticator, &hmac256(key, &[p.auth_covered]));
    }
}

#[test]
fn verify_rejects_reserved_spi_even_if_signed() {
    let buf = valid();
    let mut p = parse_request(&buf).unwrap();
    p.spi = 255;
    assert!(!verify_mn_ha(&p, KEY));
}

#[test]
fn truncated_at_every_length() {
    let buf = valid();
    let n = NAI.len();
    let nai_end = 26 + n;
    for len in 0..buf.len() {
        let e = parse_request(&buf[..len]).unwrap_err();
        let want = if len < 24 {
            RequestError::Truncated
        } else if len == 24 || len == nai_end {
            // Cut at an extension boundary: no authentication extension.
            RequestError::MissingAuth
        } else if len == 25 {
            RequestError::ExtensionTruncated { offset: 24 }
        } else if len < nai_end {
            RequestError::ExtensionOverrun {
                offset: 24,
                ty: 131,
                len: n as u8,
            }
        } else if len == nai_end + 1 {
            RequestError::ExtensionTruncated { offset: nai_end }
        } else {
            RequestError::ExtensionOverrun {
                offset: nai_end,
                ty: 32,
                len: 36,
            }
        };
        assert_eq!(e, want, "len {len}");
        let code = if want == RequestError::MissingAuth {
            Code::MnFailedAuthentication
        } else {
            Code::PoorlyFormedRequest
        };
        assert_eq!(e.code(), code);
        assert_eq!(e.reply_code(), Some(code));
    }
    assert!(parse_request(&buf).is_ok());
}

#[test]
fn wrong_type() {
    for t in [0u8, 2, 3, 4, 255] {
        let mut m = valid();
        m[0] = t;
        assert_eq!(parse_request(&m), Err(RequestError::BadType(t)));
        assert_eq!(
            RegistrationRequest::new_checked(&m[..]),
            Err(RequestError::BadType(t))
        );
        assert_eq!(RequestError::BadType(t).reply_code(), None);
    }
    assert_eq!(
        RegistrationRequest::new_checked(&valid()[..23]),
        Err(RequestError::Truncated)
    );
}

#[test]
fn every_flag_combination() {
    for f in 0..=255u8 {
        let m = raw(f, &[(131, NAI_B), (32, &auth(0x1000))]);
        let got = parse_request(&m);
        let flags = Flags(f);
        let core = f & !0x05; // r and x are ignored
        let want = if core & 0x20 == 0 || core & 0xc0 != 0 {
            Err(RequestError::BadFlags(flags))
        } else if core & 0x18 != 0 {
            Err(RequestError::EncapsulationUnavailable(flags))
        } else if core & 0x02 == 0 {
            Err(RequestError::ReverseTunnelRequired)
        } else {
            Ok(())
        };
        assert_eq!(
            got.map(|p| assert!(verify_mn_ha(&p, KEY))),
            want,
            "{flags:?}"
        );
        // Without the flag check everything else is fine and authentic.
        let p = parse_request_any_flags(&m).unwrap();
        assert_eq!(p.flags, flags);
        assert!(verify_mn_ha(&p, KEY));
        assert_eq!(p.check_flags(), want);
        assert_eq!(flags.check(), want);
    }
    // Spot checks of the codes.
    let code = |f: Flags| Flags::check(f).unwrap_err().code().as_u8();
    assert_eq!(code(Flags::T), 134); // D = 0
    assert_eq!(code(Flags::PROFILE | Flags::S), 134);
    assert_eq!(code(Flags::PROFILE | Flags::B), 134);
    assert_eq!(code(Flags::PROFILE | Flags::M), 139);
    assert_eq!(code(Flags::PROFILE | Flags::G), 139);
    assert_eq!(code(Flags::D), 138);
    assert_eq!(code(Flags::D | Flags::G), 139);
    assert!((Flags::PROFILE | Flags::R | Flags::X).check().is_ok());
    assert_eq!(format!("{:?}", Flags(0xff)), "Flags(S|B|D|M|G|r|T|x)");
    assert_eq!(format!("{:?}", Flags::PROFILE), "Flags(D|T)");
    assert_eq!(format!("{:?}", Flags(0)), "Flags()");
    assert_eq!((Flags(0xff) & Flags::T).bits(), 0x02);
    assert_eq!(Flags(0xff).without_reserved(), Flags(0xfa));
}

#[test]
fn nai_errors() {
    let a = auth(0x1000);
    let cases: [(Exts, RequestError); 12] = [
        (&[(32, &a)], RequestError::MissingNai),
        (&[(200, b"x"), (32, &a)], RequestError::MissingNai),
        (&[(131, b""), (32, &a)], RequestError::BadNai),
        (&[(131, b"49170abc"), (32, &a)], RequestError::BadNai),
        (&[(131, b"+491701234567"), (32, &a)], RequestError::BadNai),
        (
            &[(131, b"1234567890123456"), (32, &a)],
            RequestError::BadNai,
        ),
        (&[(131, b"0491701234567"), (32, &a)], RequestError::BadNai),
        (&[(131, b"49@"), (32, &a)], RequestError::BadNai),
        (&[(131, b"@msm.example"), (32, &a)], RequestError::BadNai),
        (
            &[(131, b"49"), (131, b"49"), (32, &a)],
            RequestError::DuplicateNai,
        ),
        (&[(32, &a), (131, NAI_B)], RequestError::ExtensionOrder),
        (
            &[(32, &a), (200, b""), (131, NAI_B)],
            RequestError::ExtensionOrder,
        ),
    ];
    for (exts, want) in cases {
        let m = raw(0x22, exts);
        let e = parse_request(&m).unwrap_err();
        assert_eq!(e, want, "{exts:?}");
        assert_eq!(e.code(), Code::PoorlyFormedRequest);
        assert_eq!(e.reply_code(), Some(Code::PoorlyFormedRequest));
    }
    // Accepted forms: 15 digits, 1 digit, realm, no realm.
    for nai in [
        &b"123456789012345"[..],
        b"7",
        b"7@a",
        b"491701234567@mnc001.mcc262.3gppnetwork.org",
    ] {
        let m = raw(0x22, &[(131, nai), (32, &a)]);
        let p = parse_request(&m).unwrap();
        assert_eq!(p.nai, nai);
        assert!(verify_mn_ha(&p, KEY));
        let digits = nai.split(|&b| b == b'@').next().unwrap();
        assert_eq!(
            p.msisdn(),
            Some(std::str::from_utf8(digits).unwrap().parse().unwrap())
        );
    }
    // The view still finds the NAI of a request that failed to parse.
    let m = raw(0x22, &[(131, NAI_B), (32, &auth(7))]);
    assert_eq!(parse_request(&m), Err(RequestError::ReservedSpi(7)));
    let v = RegistrationRequest::new_checked(&m[..]).unwrap();
    assert_eq!(v.nai(), Some(NAI_B));
}

#[test]
fn auth_extension_errors() {
    // Missing entirely (131), with and without other extensions.
    for exts in [
        &[][..],
        &[(131u8, NAI_B)][..],
        &[(131, NAI_B), (200, b"zz")][..],
    ] {
        let e = parse_request(&raw(0x22, exts)).unwrap_err();
        assert_eq!(e, RequestError::MissingAuth);
        assert_eq!(e.reply_code(), Some(Code::MnFailedAuthentication));
    }
    // Too short to hold an SPI (134).
    for l in 0..4usize {
        let d = vec![1u8; l];
        let e = parse_request(&raw(0x22, &[(131, NAI_B), (32, &d)])).unwrap_err();
        assert_eq!(e, RequestError::AuthTooShort(l as u8));
        assert_eq!(e.code(), Code::PoorlyFormedRequest);
    }
    // SPI present but not a 32-byte authenticator (131): e.g. HMAC-MD5.
    for l in [4usize, 20, 35, 37, 255] {
        let mut d = 0x1000u32.to_be_bytes().to_vec();
        d.resize(l, 0);
        let e = parse_request(&raw(0x22, &[(131, NAI_B), (32, &d)])).unwrap_err();
        assert_eq!(e, RequestError::BadAuthLength(l as u8));
        assert_eq!(e.code(), Code::MnFailedAuthentication);
    }
    // Reserved SPIs (131); 256 is the first usable one.
    for spi in [0u32, 1, 255] {
        let e = parse_request(&raw(0x22, &[(131, NAI_B), (32, &auth(spi))])).unwrap_err();
        assert_eq!(e, RequestError::ReservedSpi(spi));
        assert_eq!(e.code(), Code::MnFailedAuthentication);
    }
    for spi in [256u32, u32::MAX] {
        let m = raw(0x22, &[(131, NAI_B), (32, &auth(spi))]);
        let p = parse_request(&m).unwrap();
        assert_eq!(p.spi, spi);
        assert!(verify_mn_ha(&p, KEY));
    }
}

#[test]
fn unknown_extensions() {
    let a = auth(0x1000);
    for t in 0..=255u8 {
        // 144, the UDP Tunnel Request extension, is known: tests/nat.rs.
        if t == 32 || t == 131 || t == EXT_UDP_TUNNEL_REQUEST {
            continue;
        }
        let data: &[u8] = b"\x01\x02\x03";
        // Before the NAI and between the NAI and the authenticator.
        for m in [
            raw(0x22, &[(t, data), (131, NAI_B), (32, &a)]),
            raw(0x22, &[(131, NAI_B), (t, data), (32, &a)]),
        ] {
            let got = parse_request(&m);
            if t < 128 {
                let e = got.unwrap_err();
                assert_eq!(e, RequestError::UnknownExtension(t));
                assert_eq!(e.code(), Code::PoorlyFormedRequest);
                assert_eq!(e.reply_code(), None, "silently discarded");
            } else {
                // Skipped, and covered by the authenticator like every byte
                // before it.
                let p = got.unwrap();
                assert_eq!(p.nai, NAI_B);
                assert_eq!(p.auth_covered, &m[..m.len() - 32]);
                assert!(verify_mn_ha(&p, KEY));
                let mut bad = m.clone();
                let i = m.windows(3).position(|w| w == data).unwrap();
                bad[i] ^= 0xff;
                assert!(!verify_mn_ha(&parse_request(&bad).unwrap(), KEY));
            }
        }
    }
}

#[test]
fn oversized_extension_lengths() {
    let m = valid();
    let n = NAI.len();
    // NAI length pointing past the end.
    let mut x = m.clone();
    x[25] = 255;
    assert_eq!(
        parse_request(&x),
        Err(RequestError::ExtensionOverrun {
            offset: 24,
            ty: 131,
            len: 255
        })
    );
    // NAI length pointing into the authentication extension: the walk then
    // reads garbage as an extension header.
    let mut x = m.clone();
    x[25] = n as u8 + 1;
    assert!(parse_request(&x).is_err());
    // Authentication length past the end.
    let mut x = m.clone();
    x[27 + n] = 37;
    assert_eq!(
        parse_request(&x),
        Err(RequestError::ExtensionOverrun {
            offset: 26 + n,
            ty: 32,
            len: 37
        })
    );
    // The iterator reports the same and stops.
    let v = RegistrationRequest::new_checked(&x[..]).unwrap();
    let items: Vec<_> = v.extensions().collect();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[1],
        Err(ExtensionError::Overrun {
            offset: 26 + n,
            ty: 32,
            len: 37
        })
    );
}

#[test]
fn trailing_data() {
    let m = valid();
    for tail in [
        &[0u8][..],
        &[200, 0],
        &[131, 1, b'4'],
        &[32, 36],
        &[0xff; 40],
    ] {
        let mut x = m.clone();
        x.extend_from_slice(tail);
        let e = parse_request(&x).unwrap_err();
        assert_eq!(
            e,
            RequestError::TrailingData {
                offset: m.len(),
                len: tail.len()
            }
        );
        assert_eq!(e.reply_code(), Some(Code::PoorlyFormedRequest));
    }
    // A second MN-HA extension after the first is trailing data too.
    let a = auth(0x1000);
    let x = raw(0x22, &[(131, NAI_B), (32, &a), (32, &a)]);
    assert!(matches!(
        parse_request(&x),
        Err(RequestError::TrailingData { len: 38, .. })
    ));
}

#[test]
fn error_code_table() {
    use RequestError as E;
    let table: [(E, u8, bool); 18] = [
        (E::Truncated, 134, true),
        (E::BadType(2), 134, false),
        (E::BadFlags(Flags(0)), 134, true),
        (E::EncapsulationUnavailable(Flags(0x3a)), 139, true),
        (E::ReverseTunnelRequired, 138, true),
        (E::ExtensionTruncated { offset: 24 }, 134, true),
        (
            E::ExtensionOverrun {
                offset: 24,
                ty: 131,
                len: 9,
            },
            134,
            true,
        ),
        (E::UnknownExtension(33), 134, false),
        (E::MissingNai, 134, true),
        (E::DuplicateNai, 134, true),
        (E::BadNai, 134, true),
        (E::ExtensionOrder, 134, true),
        (E::MissingAuth, 131, true),
        (E::AuthTooShort(3), 134, true),
        (E::BadAuthLength(20), 131, true),
        (E::ReservedSpi(0), 131, true),
        (E::TrailingData { offset: 88, len: 1 }, 134, true),
        (E::TrailingData { offset: 0, len: 0 }, 134, true),
    ];
    for (e, code, replies) in table {
        assert_eq!(e.code().as_u8(), code, "{e:?}");
        assert_eq!(e.reply_code().is_some(), replies, "{e:?}");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn builder_errors() {
    let b = builder();
    let mut out = vec![0u8; b.len()];
    assert_eq!(b.emit(&mut out), Ok(b.len()));
    assert_eq!(
        b.emit(&mut out[..b.len() - 1]),
        Err(EmitError::BufferTooSmall { need: b.len() })
    );
    assert_eq!(
        b.emit(&mut []),
        Err(EmitError::BufferTooSmall { need: b.len() })
    );
    // A bigger buffer: only the message is written, the length returned.
    let mut big = vec![0xeeu8; 200];
    assert_eq!(b.emit(&mut big), Ok(b.len()));
    assert_eq!(&big[..b.len()], &valid()[..]);
    assert!(big[b.len()..].iter().all(|&x| x == 0xee));
    for nai in ["", "abc", "0123", "1234567890123456", "49@", "49@a..b"] {
        assert_eq!(
            RequestBuilder { nai, ..b }.emit(&mut big),
            Err(EmitError::BadNai),
            "{nai}"
        );
    }
    let long = format!("1@{}", "a".repeat(254));
    assert_eq!(
        RequestBuilder { nai: &long, ..b }.to_vec(),
        Err(EmitError::BadNai)
    );
    for spi in [0, 255] {
        assert_eq!(
            RequestBuilder { spi, ..b }.emit(&mut big),
            Err(EmitError::ReservedSpi(spi))
        );
    }
    // Longest NAI: 255 bytes.
    let max = format!("1@{}", "a".repeat(253));
    let m = RequestBuilder { nai: &max, ..b }.to_vec().unwrap();
    assert_eq!(m.len(), 64 + 255);
    assert_eq!(parse_request(&m).unwrap().nai, max.as_bytes());
}

#[test]
fn setters_and_resigning() {
    let mut m = valid();
    {
        let mut v = RegistrationRequest::new_checked(&mut m[..]).unwrap();
        v.set_care_of_address(Ipv4Addr::new(203, 0, 113, 9));
        v.set_lifetime(0);
        v.set_identification(IDENT + 1);
        v.set_home_address(Ipv4Addr::new(10, 0, 0, 1));
        v.set_home_agent(Ipv4Addr::new(10, 0, 0, 254));
    }
    // Stale authenticator.
    assert!(!verify_mn_ha(&parse_request(&m).unwrap(), KEY));
    assert!(RegistrationRequest::new_unchecked(&mut m[..]).fill_mn_ha(KEY));
    let p = parse_request(&m).unwrap();
    assert!(verify_mn_ha(&p, KEY));
    assert_eq!(p.care_of, Ipv4Addr::new(203, 0, 113, 9));
    assert_eq!(p.lifetime, 0);
    assert_eq!(p.identification, IDENT + 1);
    assert_eq!(p.home, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(p.home_agent, Ipv4Addr::new(10, 0, 0, 254));
    // Equal to building it directly.
    let direct = RequestBuilder {
        care_of: Ipv4Addr::new(203, 0, 113, 9),
        lifetime: 0,
        identification: IDENT + 1,
        home: Ipv4Addr::new(10, 0, 0, 1),
        home_agent: Ipv4Addr::new(10, 0, 0, 254),
        ..builder()
    };
    assert_eq!(m, direct.to_vec().unwrap());
    // Type and flags setters.
    let mut v = RegistrationRequest::new_unchecked(&mut m[..]);
    v.set_flags(Flags::D);
    v.set_msg_type(9);
    assert_eq!((v.msg_type(), v.flags()), (9, Flags::D));
    // No authentication extension: nothing to sign.
    let mut short = valid()[..26 + NAI.len()].to_vec();
    assert!(!RegistrationRequest::new_unchecked(&mut short[..]).fill_mn_ha(KEY));
    assert_eq!(&short[..], &valid()[..26 + NAI.len()]);
}
