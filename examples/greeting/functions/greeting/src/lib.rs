//! The greeting example's `greetingFunction`: the full greeting for the
//! person the input names, in the shape the specification assumes for its
//! result: `{"name": "John"}` →
//! `{"payload": {"greeting": "Welcome to Serverless Workflow, John!"}}`.
//!
//! The workflow's action picks the greeting out of this result with its
//! `dataResultsPath` (`$.payload.greeting`). The words before the name come
//! from the manifest's `GREETING`.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Person {
    name: String,
}

#[derive(Serialize)]
struct Reply {
    payload: Payload,
}

#[derive(Serialize)]
struct Payload {
    greeting: String,
}

fn greeting(person: Person, _ctx: &Context) -> Result<Reply, Failure> {
    let name = person.name.trim();
    if name.is_empty() {
        return Err(Failure::new(
            "EmptyName",
            "the input's 'name' is empty; say who to greet",
        ));
    }
    let words =
        swirl_guest::config("GREETING").unwrap_or_else(|| "Welcome to Serverless Workflow".into());
    Ok(Reply {
        payload: Payload {
            greeting: format!("{words}, {name}!"),
        },
    })
}

swirl_guest::export!(greeting);
