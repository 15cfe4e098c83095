//! Apps: what a manifest ([`manifest`]) declares, built and loaded into a
//! function host and an engine ([`app`]), and the deployments a server keeps
//! of them, checked whole before they become current ([`deployment`]), with
//! their functions' numbered versions, aliases and rollback ([`lifecycle`]),
//! and which stored files and compiled code they still need ([`retention`]).

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here, and
// each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod app;
pub mod deployment;
pub mod invoker;
pub mod lifecycle;
pub mod manifest;
pub mod retention;
