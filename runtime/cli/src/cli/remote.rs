//! The CLI client of a running `swirl serve`: `start`, `get`, `ls`, `send`,
//! `logs`, `cancel`, `suspend`, `resume` (and `deploy`, in `deploy.rs`;
//! `workflows`, `functions` and `dead-letters`, in `catalog.rs`).
//!
//! It talks HTTP/1.1 through `swirl-client`: plain `http://` servers only
//! (a remote server sits behind a proxy that terminates TLS). Answers go to
//! stdout (JSON with `--json`, a table otherwise); errors to stderr with
//! exit 1 when the server refused, 2 when it could not be reached.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use swirl_client::{Answer, Request, blocking};
use swirl_server::header_value;

use super::Outcome;

/// Where the server is and how to print.
#[derive(clap::Args)]
pub struct Remote {
    /// The server's base url
    #[arg(
        long,
        value_name = "URL",
        env = "SWIRL_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// Print the server's JSON answer as it is
    #[arg(long)]
    pub json: bool,
}

/// Start a workflow instance on a running server
///
/// Example: swirl start greeting --input '{"name":"Ada"}' --wait
#[derive(clap::Args)]
pub struct StartArgs {
    /// The workflow id
    workflow: String,
    /// The input, a JSON object
    #[arg(long, value_name = "JSON", default_value = "{}")]
    input: String,
    /// An instance id: starting again with it returns the same instance
    #[arg(long)]
    id: Option<String>,
    /// Wait for the instance to end and print its output
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Show one instance of a running server, or its history
///
/// Example: swirl get 01a2...-0000 --history
#[derive(clap::Args)]
pub struct GetArgs {
    instance: String,
    /// Print the instance's history instead, as `swirl history` does
    #[arg(long)]
    history: bool,
    #[command(flatten)]
    remote: Remote,
}

/// List the instances of a running server
///
/// Example: swirl ls --status waiting
#[derive(clap::Args)]
pub struct LsArgs {
    /// Only this status (running, waiting, suspended, completed, failed, cancelled)
    #[arg(long)]
    status: Option<String>,
    /// Only this workflow
    #[arg(long)]
    workflow: Option<String>,
    /// At most this many, the newest (all by default)
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    remote: Remote,
}

/// Send a CloudEvent (binary mode) to a running server
///
/// Uses SWIRL_INGRESS_TOKEN (or SWIRL_ADMIN_TOKEN) when set.
///
/// Example: swirl send --type order.paid --source shop --data '{"total":12}' --ext orderid=o3
#[derive(clap::Args)]
pub struct SendArgs {
    #[arg(long = "type", value_name = "TYPE")]
    event_type: String,
    #[arg(long)]
    source: String,
    /// The event's JSON data
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
    /// An extension attribute, as name=value; repeatable
    #[arg(long = "ext", value_name = "NAME=VALUE")]
    extensions: Vec<String>,
    /// The event id (a random UUID by default); resending the same id is a no-op
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Show a function's recent invocations and their log lines
///
/// Example: swirl logs greet
#[derive(clap::Args)]
pub struct LogsArgs {
    function: String,
    #[command(flatten)]
    remote: Remote,
}

/// Cancel, suspend or resume an instance on a running server
///
/// Example: swirl cancel 01a2...-0000
#[derive(clap::Args)]
pub struct ControlArgs {
    instance: String,
    #[command(flatten)]
    remote: Remote,
}

pub(super) fn token(ingress: bool) -> Option<String> {
    let read = |name| std::env::var(name).ok().filter(|t: &String| !t.is_empty());
    if ingress {
        read("SWIRL_INGRESS_TOKEN").or_else(|| read("SWIRL_ADMIN_TOKEN"))
    } else {
        read("SWIRL_ADMIN_TOKEN")
    }
}

/// `request` with the admin token (or for `ingress`, the ingress token), when set.
pub(super) fn authorized(request: Request, ingress: bool) -> Request {
    match token(ingress) {
        Some(token) => request.header("authorization", &format!("Bearer {token}")),
        None => request,
    }
}

/// Says which server could not be reached, and what to check.
pub(super) fn cannot_reach(server: &str, error: swirl_client::Error) -> anyhow::Error {
    match error {
        swirl_client::Error::Invalid { .. } => error.into(),
        _ => anyhow::Error::new(error).context(format!(
            "cannot reach the server at {server}; is `swirl serve` running?"
        )),
    }
}

/// An answer's JSON, or its text as a JSON string.
pub(super) fn json_or_text(answer: &Answer) -> Value {
    answer
        .json()
        .unwrap_or_else(|_| Value::String(answer.text().into_owned()))
}

/// One request; `Ok((status, json))`, or an error when the server cannot be reached.
pub(super) fn call(
    remote: &Remote,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
    ingress: bool,
) -> anyhow::Result<(u16, Value)> {
    let url = format!("{}{path}", remote.server.trim_end_matches('/'));
    let mut request = authorized(Request::new(method, &url), ingress);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let answer = blocking::Client::new()?
        .send(request)
        .map_err(|error| cannot_reach(&remote.server, error))?;
    Ok((answer.status.as_u16(), json_or_text(&answer)))
}

/// Prints a refusal on stderr and says so to the shell.
pub(super) fn refused(status: u16, body: &Value) -> Outcome {
    let message = body["error"]
        .as_str()
        .map_or_else(|| body.to_string(), str::to_owned);
    eprintln!("error: the server answered {status}: {message}");
    Outcome::Failed
}

fn instance_table(instances: &[Value]) {
    println!(
        "{:<28} {:<20} {:<10} {:<20} CREATED",
        "ID", "WORKFLOW", "STATUS", "STATE"
    );
    for instance in instances {
        let text = |key: &str| instance[key].as_str().unwrap_or("-").to_string();
        println!(
            "{:<28} {:<20} {:<10} {:<20} {}",
            text("id"),
            text("workflowId"),
            text("status"),
            text("state"),
            text("createdAt")
        );
    }
}

fn show_instance(remote: &Remote, instance: &Value) {
    if remote.json {
        println!("{instance}");
        return;
    }
    instance_table(std::slice::from_ref(instance));
    if let Some(output) = instance.get("output") {
        println!("output: {output}");
    }
    if let Some(error) = instance.get("error") {
        println!("error: {error}");
    }
}

pub(super) fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

pub fn start(args: StartArgs) -> anyhow::Result<Outcome> {
    let input: Value = serde_json::from_str(&args.input).context("--input is not JSON")?;
    let mut path = format!(
        "/workflows/{}/instances?wait={}",
        encode(&args.workflow),
        args.wait
    );
    if let Some(id) = &args.id {
        path.push_str(&format!("&id={}", encode(id)));
    }
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let (status, body) = call(
        &args.remote,
        "POST",
        &path,
        &headers,
        Some(input.to_string().into_bytes()),
        false,
    )?;
    if status >= 400 {
        return Ok(refused(status, &body));
    }
    if args.wait && !args.remote.json && body["status"] == "completed" {
        println!("{}", body["output"]);
        return Ok(Outcome::Success);
    }
    show_instance(&args.remote, &body);
    Ok(match body["status"].as_str() {
        Some("failed" | "cancelled") if args.wait => Outcome::Failed,
        _ => Outcome::Success,
    })
}

pub fn get(args: GetArgs) -> anyhow::Result<Outcome> {
    let mut path = format!("/instances/{}", encode(&args.instance));
    if args.history {
        path.push_str("/history");
    }
    let (status, body) = call(&args.remote, "GET", &path, &[], None, false)?;
    if status >= 400 {
        return Ok(refused(status, &body));
    }
    if args.history {
        let entries = body.as_array().map(Vec::as_slice).unwrap_or_default();
        super::instances::print_history(entries, args.remote.json);
    } else {
        show_instance(&args.remote, &body);
    }
    Ok(Outcome::Success)
}

pub fn ls(args: LsArgs) -> anyhow::Result<Outcome> {
    let wanted = args.limit.unwrap_or(usize::MAX);
    let mut all = Vec::new();
    let mut cursor = String::new();
    while all.len() < wanted {
        let page = (wanted - all.len()).min(1000);
        let mut path = format!("/instances?limit={page}&cursor={}", encode(&cursor));
        if let Some(status) = &args.status {
            path.push_str(&format!("&status={}", encode(status)));
        }
        if let Some(workflow) = &args.workflow {
            path.push_str(&format!("&workflow={}", encode(workflow)));
        }
        let (status, body) = call(&args.remote, "GET", &path, &[], None, false)?;
        if status >= 400 {
            return Ok(refused(status, &body));
        }
        all.extend(body["instances"].as_array().cloned().unwrap_or_default());
        match body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    if args.remote.json {
        println!("{}", Value::Array(all));
    } else {
        instance_table(&all);
    }
    Ok(Outcome::Success)
}

pub fn send(args: SendArgs) -> anyhow::Result<Outcome> {
    // Random, not time-ordered: the receiver drops a repeated (source, id)
    // as a duplicate, so ids from separate processes must not collide.
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut attributes = BTreeMap::from([
        ("specversion", "1.0"),
        ("id", id.as_str()),
        ("source", args.source.as_str()),
        ("type", args.event_type.as_str()),
    ]);
    for extension in &args.extensions {
        let Some((name, value)) = extension.split_once('=') else {
            bail!("--ext '{extension}' is not name=value");
        };
        if attributes.insert(name, value).is_some() {
            bail!(
                "--ext '{extension}' sets '{name}' again; use --type, --source or --id for those"
            );
        }
    }
    let mut headers: Vec<(String, String)> = attributes
        .into_iter()
        .map(|(name, value)| {
            (
                format!("ce-{name}"),
                header_value::encode(value).into_owned(),
            )
        })
        .collect();
    let body = match &args.data {
        Some(data) => {
            let data: Value = serde_json::from_str(data).context("--data is not JSON")?;
            headers.push(("content-type".into(), "application/json".into()));
            Some(data.to_string().into_bytes())
        }
        None => None,
    };
    let (status, body) = call(&args.remote, "POST", "/events", &headers, body, true)?;
    if status >= 400 {
        return Ok(refused(status, &body));
    }
    if args.remote.json {
        println!("{body}");
    } else {
        let list = |key: &str| {
            let ids: Vec<&str> = body[key]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if ids.is_empty() {
                "-".to_string()
            } else {
                ids.join(",")
            }
        };
        println!(
            "{:<10} {:<10} {:<8} {:<30} DELIVERED",
            "ACCEPTED", "DUPLICATE", "BUFFERED", "STARTED"
        );
        println!(
            "{:<10} {:<10} {:<8} {:<30} {}",
            // JSON numbers ignore the width; their text does not.
            body["accepted"].to_string(),
            body["duplicates"].to_string(),
            body["buffered"].to_string(),
            list("started"),
            list("delivered")
        );
    }
    Ok(Outcome::Success)
}

pub fn logs(args: LogsArgs) -> anyhow::Result<Outcome> {
    let (status, body) = call(
        &args.remote,
        "GET",
        &format!("/functions/{}/logs", encode(&args.function)),
        &[],
        None,
        false,
    )?;
    if status >= 400 {
        return Ok(refused(status, &body));
    }
    if args.remote.json {
        println!("{body}");
        return Ok(Outcome::Success);
    }
    // Oldest first, as a log reads.
    let invocations = body["invocations"].as_array().cloned().unwrap_or_default();
    for invocation in invocations.iter().rev() {
        // A workflow action's call says which instance and state made it.
        let action = match (
            invocation["instanceId"].as_str(),
            invocation["state"].as_str(),
        ) {
            (Some(instance), Some(state)) => format!(" instance {instance} state {state}"),
            _ => String::new(),
        };
        println!(
            "{} {} {} {:.1}ms{}{action}",
            invocation["at"].as_str().unwrap_or("-"),
            invocation["invocationId"].as_str().unwrap_or("-"),
            invocation["outcome"].as_str().unwrap_or("-"),
            invocation["durationMs"].as_f64().unwrap_or(0.0),
            if invocation["coldStart"] == json!(true) {
                " cold"
            } else {
                ""
            }
        );
        for line in invocation["lines"].as_array().into_iter().flatten() {
            println!(
                "  {:<5} {:<6} {}",
                line["level"].as_str().unwrap_or("-"),
                line["stream"].as_str().unwrap_or("-"),
                line["message"].as_str().unwrap_or("")
            );
        }
    }
    Ok(Outcome::Success)
}

pub fn control(action: &str, args: ControlArgs) -> anyhow::Result<Outcome> {
    let path = format!("/instances/{}/{action}", encode(&args.instance));
    let (status, body) = call(&args.remote, "POST", &path, &[], None, false)?;
    if status >= 400 {
        return Ok(refused(status, &body));
    }
    show_instance(&args.remote, &body);
    Ok(Outcome::Success)
}
