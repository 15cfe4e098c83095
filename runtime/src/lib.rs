//! swirl: a WebAssembly-hosted serverless workflow runtime.
//!
//! Functions are WebAssembly components run in-process from per-function
//! instance pools ([`function`]); apps declare them in a manifest
//! ([`manifest`]); workflow definitions are parsed and validated by
//! [`workflow`]; durable state lives in sled behind [`store`].
//! `ARCHITECTURE.md` at the repository root has the map.

pub mod app;
pub mod deployment;
pub mod engine;
pub mod function;
pub mod ids;
pub mod manifest;
pub mod server;
pub mod store;
pub mod workflow;
