#![no_main]
//! See `msm_fuzz::registrar`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| msm_fuzz::registrar::run(data));
