//! Tests of admission and of unauthenticated replies: forged requests cannot spend a
//! subscriber's budget, per-source and global limits, replies bounded in rate and size,
//! unparsable requests dropped.

use super::*;

const SRC_A: u32 = 0xcb00_7101; // 203.0.113.1
const SRC_B: u32 = 0xcb00_7102;

impl Rig {
    /// Handles a request at the rig's current time (no refill in between).
    fn now_send(&mut self, payload: &[u8], path: Path, src: u32) -> Outcome {
        self.reg
            .handle(payload, path, src, self.now, &mut self.table)
    }
}

/// A request naming the victim (491700000010) signed with a key that is not its own.
fn forged(id: u64) -> Vec<u8> {
    let wrong = [0x5au8; 32];
    RequestBuilder {
        identification: id,
        ..base_request(&wrong)
    }
    .to_vec()
    .unwrap()
}

/// A well-formed request for a subscriber the MSM does not know.
fn unknown_subscriber(id: u64) -> Vec<u8> {
    let k = key();
    RequestBuilder {
        identification: id,
        nai: "491799999999",
        ..base_request(&k)
    }
    .to_vec()
    .unwrap()
}

#[test]
fn forged_requests_naming_a_victim_do_not_spend_its_budget() {
    let mut c = cfg();
    c.per_subscriber_per_sec = 2;
    c.per_source_per_sec = u32::MAX / 2;
    c.admission_per_sec = u32::MAX / 2;
    let mut r = rig_with(c, 10);
    let mut low = 0;
    // 4 s of flood, 50 forged requests per 100 ms from spoofed sources (25 times the
    // victim's budget), the victim renewing once a second from its own address.
    for step in 0..40u32 {
        r.now.ms += 100;
        r.now.unix_s = r.now.ms / 1000;
        for i in 0..50u32 {
            low += 1;
            let o = r.now_send(&forged(ident(0, low)), Path::Wwan, 0x0a00_0000 + i);
            assert_ne!(o.code, Some(Code::Accepted));
        }
        if step % 10 == 0 {
            let id = ((r.now.unix_s + msm_mip::NTP_UNIX_OFFSET) << 32) | step as u64;
            let o = r.now_send(&req(300, COA, id), Path::Wwan, u32::from(HOME));
            assert_eq!(
                o.code,
                Some(Code::Accepted),
                "victim's renewal at step {step}"
            );
        }
    }
    assert_eq!(r.reg.counters.accepted, 4);
    assert_eq!(r.reg.counters.dropped_per_subscriber, 0);
    // the victim's own excess is still limited
    for i in 0..3 {
        let id = ((r.now.unix_s + msm_mip::NTP_UNIX_OFFSET) << 32) | (5000 + i);
        let o = r.now_send(&req(300, COA, id), Path::Wwan, u32::from(HOME));
        let want = if i < 2 { Some(Code::Accepted) } else { None };
        assert_eq!(o.code, want, "authenticated request {i}");
    }
    assert_eq!(r.reg.counters.dropped_per_subscriber, 1);
}

#[test]
fn per_source_limit_is_charged_before_authentication_and_first() {
    let mut c = cfg();
    c.per_source_per_sec = 3;
    c.admission_per_sec = 5;
    let mut r = rig_with(c, 10);
    let junk = [0u8; 8];
    // one source: 3 pass admission (then dropped as unparsable), 7 over its limit
    for _ in 0..10 {
        assert!(r.now_send(&junk, Path::Direct, SRC_A).reply.is_none());
    }
    assert_eq!(r.reg.counters.dropped_per_source, 7);
    assert_eq!(r.reg.counters.dropped_unparsable, 3);
    assert_eq!(
        r.reg.counters.dropped_admission, 0,
        "A spent no more than 3"
    );
    // others are not limited by A's excess; the global limit (5) holds for everyone
    for i in 0..4 {
        let _ = r.now_send(&junk, Path::Direct, SRC_B + i);
    }
    assert_eq!(r.reg.counters.dropped_unparsable, 5);
    assert_eq!(r.reg.counters.dropped_admission, 2);
    // path 2 is keyed by the outer source: the same inner source from new outer sources
    r.now.ms += 1000;
    for i in 0..5 {
        let tunnel = Path::Tunnel {
            outer_src: SRC_B + 100 + i,
            outer_dst: WLAN,
        };
        let _ = r.now_send(&junk, tunnel, SRC_A);
    }
    assert_eq!(
        r.reg.counters.dropped_per_source, 7,
        "no new per-source drop"
    );
    // a valid request from a fresh second is accepted
    r.now.ms += 1000;
    let o = r.now_send(&req(300, COA, ident(0, 1)), Path::Wwan, SRC_A);
    assert_eq!(o.code, Some(Code::Accepted));
}

#[test]
fn unauthenticated_replies_are_limited_per_destination_and_globally() {
    let mut c = cfg();
    c.unauthenticated_replies_per_source_per_sec = 2;
    c.unauthenticated_replies_per_sec = 3;
    let mut r = rig_with(c, 10);
    let mut low = 0;
    let mut send = |r: &mut Rig, payload: &dyn Fn(u64) -> Vec<u8>, path, src| {
        low += 1;
        r.now_send(&payload(ident(0, low)), path, src)
    };
    // 129 to A: 2 answered, then over A's limit
    for _ in 0..5 {
        send(&mut r, &unknown_subscriber, Path::Direct, SRC_A);
    }
    assert_eq!(r.reg.counters.unauthenticated_replies_dropped_per_source, 3);
    // 131 to B: 1 answered (the global budget of 3 is then spent), 1 over the global
    // limit, 3 over B's own
    for _ in 0..5 {
        send(&mut r, &forged, Path::Direct, SRC_B);
    }
    assert_eq!(r.reg.counters.unauthenticated_replies_dropped_global, 1);
    assert_eq!(r.reg.counters.unauthenticated_replies_dropped_per_source, 6);
    // 134 (broken extensions) is limited too
    let mut broken = unknown_subscriber(ident(0, 99));
    broken.push(0x80); // a truncated extension header
    let o = r.now_send(&broken, Path::Direct, SRC_A + 10);
    assert!(o.reply.is_none());
    assert_eq!(r.reg.counters.unauthenticated_replies_dropped_global, 2);
    assert_eq!(
        r.reg.counters.by_code.values().sum::<u64>(),
        3,
        "only sent replies"
    );
    // on path 2 the key is the outer source, where the Reply goes
    let mut c = cfg();
    c.unauthenticated_replies_per_source_per_sec = 1;
    let mut r = rig_with(c, 10);
    let tunnel = |outer_src| Path::Tunnel {
        outer_src,
        outer_dst: WLAN,
    };
    let o = send(&mut r, &unknown_subscriber, Path::Direct, SRC_A);
    assert!(o.reply.is_some());
    let o = send(&mut r, &unknown_subscriber, tunnel(SRC_B), SRC_A);
    assert!(
        o.reply.is_some(),
        "inner source A is over its limit, outer B is not"
    );
    let o = send(&mut r, &unknown_subscriber, tunnel(SRC_B), SRC_A + 5);
    assert!(o.reply.is_none(), "outer B is over its limit");
    // replies to authenticated requests are not limited: 133 ten times
    let mut c = cfg();
    c.unauthenticated_replies_per_source_per_sec = 1;
    c.unauthenticated_replies_per_sec = 1;
    c.per_subscriber_per_sec = 100;
    let mut r = rig_with(c, 10);
    for i in 0..10 {
        let o = r.now_send(&req(300, COA, ident(100, i + 1)), Path::Wwan, SRC_A);
        assert_eq!(o.code, Some(Code::IdentificationMismatch));
        assert!(o.reply.is_some());
    }
}

#[test]
fn replies_are_never_larger_than_the_request() {
    let k = key();
    let mut cases = refusal_cases(base_request(&k));
    cases.push(("forged", forged(ident(0, 1)), Path::Wwan, 0, None));
    cases.push(("accepted", req(300, COA, ident(0, 1)), Path::Wwan, 0, None));
    for (name, payload, path, src, _) in cases {
        let mut r = rig();
        let o = r.send(&payload, path, src);
        if let Some(b) = o.reply_bytes() {
            assert!(
                b.len() <= payload.len(),
                "{name}: {} > {}",
                b.len(),
                payload.len()
            );
        }
    }
    // a Reply that would exceed its request is cut to the fixed part
    let mut r = rig();
    let payload = unknown_subscriber(ident(0, 1));
    let parsed = msm_mip::parse_request_any_flags(&payload).unwrap();
    let now = r.now;
    let o = r.reg.unauthenticated(21, SRC_A, now, |me| {
        me.reply(&parsed, None, Code::AdministrativelyProhibited, 0, 1)
    });
    let b = o.reply_bytes().unwrap();
    assert_eq!(b.len(), msm_mip::REPLY_FIXED_LEN);
    assert_eq!((b[0], b[1]), (3, 129));
    assert_eq!(r.reg.counters.unauthenticated_replies_trimmed, 1);
}

#[test]
fn unparsable_requests_get_no_reply_and_are_counted() {
    let mut r = rig();
    let valid = req(300, COA, ident(0, 1));
    let mut wrong_type = valid.clone();
    wrong_type[0] = 3;
    for payload in [&[][..], &[1u8][..], &valid[..23], &wrong_type[..]] {
        let o = r.send(payload, Path::Direct, SRC_A);
        assert!(o.reply.is_none() && o.code.is_none(), "{payload:?}");
    }
    assert_eq!(r.reg.counters.dropped_unparsable, 4);
    assert!(r.reg.counters.by_code.is_empty());
}
