//! The draft-dialect example's `save_result`, as the handbook specifies it:
//! input `{"value1": String}`, output String. It saves `value1` in the
//! function's durable kv store and answers what it saved,
//! `{"value1": "Hello, World!"}` → `"saved: Hello, World!"`.
//!
//! Storage can be momentarily busy, and the workflow retries this action
//! when it is (`match: "@.error.name == 'StoreBusy'"`). To make that path
//! visible, the manifest's `BUSY_ATTEMPTS` says how many first attempts of
//! a call find the store busy: with `"1"` the first attempt fails with
//! `StoreBusy` and the retry succeeds. The attempt number comes from the
//! runtime (`Context::attempt`), so the knob needs no state of its own.

use serde::Deserialize;
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Input {
    value1: String,
}

fn save_result(input: Input, ctx: &Context) -> Result<String, Failure> {
    let busy_attempts: u32 = swirl_guest::config("BUSY_ATTEMPTS")
        .and_then(|text| text.parse().ok())
        .unwrap_or(0);
    if ctx.attempt <= busy_attempts {
        return Err(Failure::new(
            "StoreBusy",
            format!(
                "the store is busy (attempt {} of the {busy_attempts} that BUSY_ATTEMPTS makes busy); try again",
                ctx.attempt
            ),
        ));
    }
    swirl_guest::kv::set("value1", input.value1.as_bytes());
    swirl_guest::log::info(&format!("saved {} bytes", input.value1.len()));
    Ok(format!("saved: {}", input.value1))
}

swirl_guest::export!(save_result);
