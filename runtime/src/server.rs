//! The HTTP face of swirl: the only module that knows HTTP and the
//! CloudEvents wire formats.
//!
//! `ingress` turns a request into CloudEvents.

pub mod ingress;
