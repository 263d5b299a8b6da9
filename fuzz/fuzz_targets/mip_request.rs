#![no_main]
//! See `msm_fuzz::mip`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| msm_fuzz::mip::run(data));
