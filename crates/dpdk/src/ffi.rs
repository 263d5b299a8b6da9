//! Raw bindgen-generated DPDK bindings (allow-listed) and the C shim.
//!
//! Everything here is `unsafe` to use; prefer the safe wrappers in the crate
//! root. Exposed as an escape hatch.

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    missing_docs,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    rustdoc::all,
    clippy::all,
    clippy::pedantic
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
