//! swirl: a WebAssembly-hosted serverless workflow runtime.
//!
//! Functions are WebAssembly components run in-process from per-function
//! instance pools ([`function`]); apps declare them in a manifest
//! ([`manifest`]); workflow definitions are parsed and validated by
//! [`workflow`]; durable state lives in sled behind [`store`].
//! `ARCHITECTURE.md` at the repository root has the map.
//!
//! Nothing a network peer, an event sender or a guest sends may panic the
//! server: outside tests, `unwrap`, `expect` and `panic!` are refused here,
//! and each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod app;
pub mod deployment;
pub mod engine;
pub mod failpoint;
pub mod function;
pub mod ids;
pub mod manifest;
pub mod server;
pub mod store;
pub mod workflow;
