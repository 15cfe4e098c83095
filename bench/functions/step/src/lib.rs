//! The benchmark app's only function: `{"n": k}` → `{"n": k + 1}`.
//!
//! It does as little as a function can while still reading and writing
//! JSON, so that the workflow figures of `bench/run.sh` measure the runtime
//! (HTTP, engine, commits, calls) rather than the guest.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize, Serialize)]
struct Counter {
    #[serde(default)]
    n: u64,
}

fn step(counter: Counter, _ctx: &Context) -> Result<Counter, Failure> {
    Ok(Counter { n: counter.n + 1 })
}

swirl_guest::export!(step);
