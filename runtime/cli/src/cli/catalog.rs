//! What a running server holds besides instances: `swirl workflows`,
//! `swirl functions` and `swirl dead-letters`, clients of its admin API
//! like the commands of `remote.rs`.

use serde_json::Value;

use super::Outcome;
use super::remote::{Remote, call, encode, refused};

/// List the workflows of a running server, or show one definition
///
/// Example: swirl workflows order
#[derive(clap::Args)]
pub struct WorkflowsArgs {
    /// A workflow id: print its definition (v0.1 JSON)
    workflow: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// List the functions of a running server, or show one with its stats
///
/// Example: swirl functions greet
#[derive(clap::Args)]
pub struct FunctionsArgs {
    /// A function name: print its versions, config and stats (JSON)
    function: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// List, replay or delete the events a sink did not take
///
/// Example: swirl dead-letters replay 01a2...-0000
#[derive(clap::Args)]
pub struct DeadLettersArgs {
    /// What to do with dead letter ID; without it, list them
    #[arg(requires = "id")]
    action: Option<DeadLetterAction>,
    /// The dead letter's id
    id: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DeadLetterAction {
    /// Queue it for its sink again
    Replay,
    /// Drop it
    Delete,
}

/// `GET path`; prints the answer as JSON with `--json` or when `table` is
/// `None`, else as `table` prints it.
fn show(remote: &Remote, path: &str, table: Option<fn(&Value)>) -> anyhow::Result<Outcome> {
    let (status, body) = call(remote, "GET", path, &[], None, false)?;
    if status >= 400 {
        return Ok(refused(status, &body));
    }
    match table {
        Some(table) if !remote.json => table(&body),
        _ => println!("{body}"),
    }
    Ok(Outcome::Success)
}

/// Rows of `items` (a JSON array) under `columns` (key, heading, width).
fn table(items: &Value, columns: &[(&str, &str, usize)]) {
    let row = |cells: Vec<String>| {
        let mut line = String::new();
        for ((_, _, width), cell) in columns.iter().zip(cells) {
            line.push_str(&format!("{cell:<width$} "));
        }
        println!("{}", line.trim_end());
    };
    row(columns
        .iter()
        .map(|(_, heading, _)| heading.to_string())
        .collect());
    for item in items.as_array().into_iter().flatten() {
        row(columns
            .iter()
            .map(|(key, _, _)| match &item[*key] {
                Value::String(text) => text.clone(),
                Value::Null => "-".to_string(),
                other => other.to_string(),
            })
            .collect());
    }
}

pub fn workflows(args: WorkflowsArgs) -> anyhow::Result<Outcome> {
    match &args.workflow {
        Some(id) => show(&args.remote, &format!("/workflows/{}", encode(id)), None),
        None => show(
            &args.remote,
            "/workflows",
            Some(|body| {
                table(
                    body,
                    &[
                        ("id", "ID", 24),
                        ("version", "VERSION", 18),
                        ("name", "NAME", 0),
                    ],
                )
            }),
        ),
    }
}

pub fn functions(args: FunctionsArgs) -> anyhow::Result<Outcome> {
    match &args.function {
        Some(name) => show(&args.remote, &format!("/functions/{}", encode(name)), None),
        None => show(
            &args.remote,
            "/functions",
            Some(|body| {
                table(
                    body,
                    &[
                        ("name", "NAME", 24),
                        ("number", "NUMBER", 6),
                        ("version", "VERSION", 18),
                        ("invocations", "INVOCATIONS", 0),
                    ],
                )
            }),
        ),
    }
}

pub fn dead_letters(args: DeadLettersArgs) -> anyhow::Result<Outcome> {
    let id = encode(args.id.as_deref().unwrap_or_default());
    let (method, path) = match args.action {
        None => {
            return show(
                &args.remote,
                "/dead-letters",
                Some(|body| {
                    table(
                        body,
                        &[
                            ("id", "ID", 28),
                            ("sink", "SINK", 32),
                            ("attempts", "ATTEMPTS", 8),
                            ("failedAt", "FAILED", 24),
                            ("lastError", "LAST ERROR", 0),
                        ],
                    )
                }),
            );
        }
        Some(DeadLetterAction::Replay) => ("POST", format!("/dead-letters/{id}/replay")),
        Some(DeadLetterAction::Delete) => ("DELETE", format!("/dead-letters/{id}")),
    };
    let (status, body) = call(&args.remote, method, &path, &[], None, false)?;
    if status >= 400 {
        return Ok(refused(status, &body));
    }
    if args.remote.json {
        println!("{body}");
    }
    Ok(Outcome::Success)
}
