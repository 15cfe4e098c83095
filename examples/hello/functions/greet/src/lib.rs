//! Greets whoever the input names, with the greeting the manifest configures.

use serde::{Deserialize, Serialize};
use swirl_guest::{Context, Failure};

#[derive(Deserialize)]
struct Greeting {
    name: String,
}

#[derive(Serialize)]
struct Reply {
    message: String,
}

fn greet(input: Greeting, _ctx: &Context) -> Result<Reply, Failure> {
    if input.name.trim().is_empty() {
        return Err(Failure::new(
            "EmptyName",
            "the input's 'name' is empty; say who to greet",
        ));
    }
    let greeting = swirl_guest::config("GREETING").unwrap_or_else(|| "Hello".to_string());
    swirl_guest::log::info(&format!("greeting {}", input.name));
    Ok(Reply {
        message: format!("{greeting}, {}!", input.name),
    })
}

swirl_guest::export!(greet);
