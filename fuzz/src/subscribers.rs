//! Target `subscribers`: `Subscribers::parse` of an arbitrary provisioning file (home
//! pools 192.0.2.0/25 and 10.0.0.0/8; bytes that are not UTF-8 are replaced).
//!
//! Properties: on success, every subscriber is found by its MSISDN and by its home
//! address, its home address is in a pool, its SPI is >= 256, its key 16 to 32 bytes;
//! on failure, the error names a line that exists (or none).

use msm::config::Prefix;
use msm::control::subscribers::Subscribers;

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pools = [
        Prefix::parse("192.0.2.0/25").expect("pool"),
        Prefix::parse("10.0.0.0/8").expect("pool"),
    ];
    match Subscribers::parse(&text, &pools) {
        Ok(subs) => {
            let mut n = 0;
            for s in subs.iter() {
                n += 1;
                assert_eq!(subs.by_msisdn(s.msisdn).map(|x| x.home), Some(s.home));
                assert_eq!(subs.by_home(s.home).map(|x| x.msisdn), Some(s.msisdn));
                assert!(pools.iter().any(|p| p.contains(s.home)));
                assert!(s.spi >= 256);
                assert!((16..=32).contains(&s.key().len()));
            }
            assert_eq!(n, subs.len());
        }
        Err(e) => {
            let lines = text.bytes().filter(|&b| b == b'\n').count() as u64 + 1;
            if let Some(l) = e.line() {
                assert!(l >= 1 && l <= lines, "line {l} of {lines}: {e}");
            }
            let _ = e.to_string();
        }
    }
}
