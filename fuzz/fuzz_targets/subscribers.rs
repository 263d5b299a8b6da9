#![no_main]
//! See `msm_fuzz::subscribers`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| msm_fuzz::subscribers::run(data));
