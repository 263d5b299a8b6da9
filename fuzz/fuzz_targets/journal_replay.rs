#![no_main]
//! See `msm_fuzz::journal`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| msm_fuzz::journal::run(data));
