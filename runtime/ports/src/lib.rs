//! The ports of swirl's engine: what it needs from the world, as traits,
//! and the values that cross them.
//!
//! - [`invoke`]: calling a function ([`invoke::Invoker`]) and making a
//!   1.0 protocol request (`call: http`, `call: openapi`).
//! - [`store`]: the durable instance store ([`store::InstanceStore`]): a
//!   run's commit is one atomic write; records are opaque bytes.
//! - [`kv`]: the key-value store functions import.
//! - [`clock`]: the time the engine records and its timers wait on.
//! - [`memory`]: all of them in memory, for tests of the engine alone and
//!   for runs that keep nothing.
//!
//! The engine knows these traits only: `swirl-function` (wasmtime) and
//! `swirl-calls` implement the invoker's sides, `swirl-store` (sled) the
//! store, and `swirl-app` wires them together. A second store backend (a
//! shared database, for several nodes) implements [`store::InstanceStore`].

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod clock;
pub mod invoke;
pub mod kv;
pub mod memory;
pub mod store;
