#![no_main]
//! See `msm_fuzz::config`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| msm_fuzz::config::run(data));
