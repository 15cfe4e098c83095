//! `swirl serve` over real loopback HTTP: the real binary on an ephemeral
//! port, the `probe` test function, workflows written by each test.
//! `util` starts servers and talks to them.

mod api;
mod backup;
mod cli;
mod crash;
mod deploy;
mod disk_full;
mod events;
mod hostile;
mod lifecycle;
mod outbox;
mod retention;
mod runs;
mod security;
mod sinks;
mod traces;
pub mod util;
mod v10;
