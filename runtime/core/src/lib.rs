//! What every layer of swirl shares and none owns: the `SYS.*` error codes
//! ([`codes`]), unique, time-ordered ids
//! ([`ids`]), how a workflow names a function through an alias
//! ([`function_ref`]), wall-clock time as records hold it and as it is shown
//! ([`time`]), the crash points of the crash tests ([`failpoint`]), the
//! percentiles the metrics report ([`percentile`]), and the W3C trace
//! context that traces travel with ([`trace_context`]).
//!
//! `ARCHITECTURE.md` at the repository root has the map of the crates.

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here, and
// each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod codes;
pub mod failpoint;
pub mod function_ref;
pub mod ids;
pub mod percentile;
pub mod time;
pub mod trace_context;
pub mod uri_template;
