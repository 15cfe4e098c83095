//! The draft-dialect example's `hello`, as the handbook specifies it: input
//! `{"name": String}`, output `{"payload": String}`.
//!
//! `{"name": "World"}` → `{"payload": "Hello, World!"}`. A name that is not a
//! string fails the call with `SYS.InvalidParameter` (the guest SDK's check
//! of the input type), which the workflow's `retry` routes to its
//! `BadInput` end state.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Input {
    name: String,
}

#[derive(Serialize)]
struct Output {
    payload: String,
}

fn hello(input: Input, _ctx: &Context) -> Result<Output, Failure> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(Failure::new(
            swirl_guest::INVALID_PARAMETER,
            "the input's 'name' is empty; say who to greet",
        ));
    }
    Ok(Output {
        payload: format!("Hello, {name}!"),
    })
}

swirl_guest::export!(hello);
