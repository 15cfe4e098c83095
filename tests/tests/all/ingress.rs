//! Integration tests of the CloudEvents ingress over a real axum server on
//! loopback: one module per content mode, plus the size limits. `util` starts
//! the server and holds the two clients (`swirl-client`, and raw TCP for requests that
//! a well-behaved client will not send).

mod batch;
mod binary;
mod limits;
mod structured;
mod util;
