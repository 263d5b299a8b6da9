//! Target `mip_request`: Registration Request parse + verify (and Reply parse + verify:
//! same extension walker, same bytes).
//!
//! Input: a UDP payload.
//!
//! Properties:
//! * `parse_request` accepts only what `parse_request_any_flags` accepts, with the same
//!   result, and then `check_flags` passes;
//! * what parses has the NAI that `RegistrationRequest::nai` finds (it is what the MSM
//!   signs a refusal with when parsing failed);
//! * the authenticator covers the payload up to and including the SPI, and is its last
//!   32 bytes;
//! * re-signing a parsed request with [`KEY`] (`fill_mn_ha`) makes it verify with that
//!   key and no other, and leaves every parsed field as it was;
//! * the same for Replies.

use msm_mip::{
    parse_reply, parse_request, parse_request_any_flags, verify_mn_ha, RegistrationReply,
    RegistrationRequest,
};

/// The key the requests are signed with (the seed corpus too).
pub const KEY: [u8; 32] = *b"fuzz-key-0123456789abcdef-fuzz!!";
const OTHER_KEY: [u8; 32] = *b"fuzz-key-0123456789abcdef-fuzz!?";

pub fn run(data: &[u8]) {
    request(data);
    reply(data);
}

fn request(data: &[u8]) {
    let any = parse_request_any_flags(data);
    match parse_request(data) {
        Ok(r) => {
            assert_eq!(any.as_ref().ok(), Some(&r));
            assert!(r.check_flags().is_ok());
        }
        Err(e) => match &any {
            Ok(a) => assert_eq!(a.check_flags(), Err(e)),
            Err(a) => assert_eq!(*a, e),
        },
    }
    let Ok(r) = any else {
        return;
    };
    // Fields of the message as found by the lenient view.
    let v = RegistrationRequest::new_checked(data).expect("parsed, so the fixed part is there");
    assert_eq!(v.nai(), Some(r.nai));
    assert_eq!(v.identification(), r.identification);
    assert!(r.nai_parsed().is_some());
    assert_eq!(r.msisdn(), r.nai_parsed().map(|n| n.msisdn()));
    let cov = r.auth_covered.len();
    assert!(cov >= 24 + 6, "fixed part, NAI header, SPI");
    assert_eq!(cov + 32, data.len(), "nothing after the authenticator");
    assert_eq!(&data[cov - 4..cov], &r.spi.to_be_bytes());
    assert_eq!(&data[cov..cov + 32], &r.authenticator[..]);
    let _ = verify_mn_ha(&r, &KEY);

    let mut signed = data.to_vec();
    let mut w = RegistrationRequest::new_checked(&mut signed[..]).expect("checked above");
    assert!(
        w.fill_mn_ha(&KEY),
        "a parsed request has an MN-HA extension"
    );
    let s = parse_request_any_flags(&signed).expect("re-signing keeps the structure");
    assert!(verify_mn_ha(&s, &KEY));
    assert!(!verify_mn_ha(&s, &OTHER_KEY));
    assert_eq!(
        (s.flags, s.lifetime, s.home, s.home_agent, s.care_of),
        (r.flags, r.lifetime, r.home, r.home_agent, r.care_of)
    );
    assert_eq!(
        (s.identification, s.nai, s.spi),
        (r.identification, r.nai, r.spi)
    );
}

fn reply(data: &[u8]) {
    let Ok(r) = parse_reply(data) else {
        return;
    };
    let v = RegistrationReply::new_checked(data).expect("parsed, so the fixed part is there");
    assert_eq!(v.nai(), Some(r.nai));
    let _ = verify_mn_ha(&r, &KEY);
    let mut signed = data.to_vec();
    let mut w = RegistrationReply::new_checked(&mut signed[..]).expect("checked above");
    assert!(w.fill_mn_ha(&KEY), "a parsed reply has an MN-HA extension");
    let s = parse_reply(&signed).expect("re-signing keeps the structure");
    assert!(verify_mn_ha(&s, &KEY));
    assert!(!verify_mn_ha(&s, &OTHER_KEY));
    assert_eq!(
        (s.code, s.lifetime, s.identification),
        (r.code, r.lifetime, r.identification)
    );
}
