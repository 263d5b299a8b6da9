//! The fuzz targets' bodies, their input formats and the rigs they run in, shared by
//! `fuzz_targets/*.rs` (one line each) and `examples/seeds.rs` (which writes the seed
//! corpora in these formats from the project's own emitters).
//!
//! Every target checks, beyond "does not panic", a few properties that must hold for any
//! input (a violated property panics, so libFuzzer reports it as a crash). Each run
//! builds its state from scratch, so a crash reproduces from its input alone.

pub mod config;
pub mod dataplane;
pub mod journal;
pub mod mip;
pub mod registrar;
pub mod subscribers;

#[cfg(test)]
mod tests;
