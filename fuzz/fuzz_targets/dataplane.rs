#![no_main]
//! See `msm_fuzz::dataplane`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| msm_fuzz::dataplane::run(data));
