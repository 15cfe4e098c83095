//! A function whose static initialiser traps: the runtime must fail the
//! deployment or the call with a clear message and keep serving others.

use serde_json::Value;
use swirl_guest::{Context, Failure};

// Only in the component: a host build (clippy, `cargo test --workspace`)
// must not trap its own test binary at start.
#[cfg(target_arch = "wasm32")]
extern "C" fn trap_at_start() {
    core::arch::wasm32::unreachable()
}

/// Run by the linker's constructor list when the instance starts.
#[cfg(target_arch = "wasm32")]
#[used]
#[unsafe(link_section = ".init_array")]
static TRAP_AT_START: extern "C" fn() = trap_at_start;

fn handle(input: Value, _ctx: &Context) -> Result<Value, Failure> {
    Ok(input)
}

swirl_guest::export!(handle);
