//! `swirl instances` and `swirl history`: look at the instances of a data
//! directory without running anything.

use std::path::PathBuf;

use swirl_engine::record::Status;

use super::Outcome;

/// List the workflow instances of a data directory
///
/// A table on stdout (or JSON with --json): id, workflow, status, current
/// states, start time.
///
/// Example: swirl instances .swirl --status failed
#[derive(clap::Args)]
pub struct InstancesArgs {
    /// The data directory
    data_dir: PathBuf,
    /// Only instances with this status (running, waiting, suspended, completed, failed, cancelled)
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// Only instances of this workflow
    #[arg(long)]
    workflow: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

fn parse_status(text: &str) -> Result<Status, String> {
    Status::parse(text).ok_or_else(|| {
        format!("unknown status '{text}'; use running, waiting, suspended, completed, failed or cancelled")
    })
}

pub fn instances(args: InstancesArgs) -> anyhow::Result<Outcome> {
    let store = super::open_store(&args.data_dir)?;
    let records = swirl_engine::list(&store, args.workflow.as_deref(), args.status)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(Outcome::Success);
    }
    println!(
        "{:<28} {:<24} {:<10} {:<24} CREATED",
        "ID", "WORKFLOW", "STATUS", "STATE"
    );
    for record in records {
        let states: Vec<&str> = record.threads.values().map(|t| t.state.as_str()).collect();
        println!(
            "{:<28} {:<24} {:<10} {:<24} {}",
            record.id,
            record.workflow_id,
            record.status.as_str(),
            states.join(","),
            swirl_core::time::rfc3339(record.created_ms)
        );
    }
    Ok(Outcome::Success)
}

/// Show the history of a workflow instance
///
/// One line per state entered or left, action started, finished or failed,
/// event consumed, timer set or fired (JSON lines with --json).
///
/// Example: swirl history .swirl 019a8f3c2b41-5e2a-00000007
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The data directory
    data_dir: PathBuf,
    /// The instance id
    instance: String,
    /// Print one JSON object per line
    #[arg(long)]
    json: bool,
}

pub fn history(args: HistoryArgs) -> anyhow::Result<Outcome> {
    let store = super::open_store(&args.data_dir)?;
    let entries = match swirl_engine::history(&store, &args.instance) {
        Ok(entries) => entries,
        Err(error @ swirl_engine::EngineError::UnknownInstance(_)) => {
            eprintln!("error: {error}");
            return Ok(Outcome::Invalid);
        }
        Err(error) => return Err(error.into()),
    };
    let lines = entries
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    print_history(&lines, args.json);
    Ok(Outcome::Success)
}

/// Prints history entries (as JSON values, the way the store and the
/// server's API give them), one a line: JSON with `json`, else the time,
/// the kind and the other fields as `name=value` in the entry's own order.
pub(super) fn print_history(entries: &[serde_json::Value], json: bool) {
    for line in entries {
        if json {
            println!("{line}");
            continue;
        }
        let at_ms = line["atMs"].as_u64().unwrap_or(0);
        let at = swirl_core::time::rfc3339(at_ms);
        let kind = line["kind"].as_str().unwrap_or_default();
        let details: Vec<String> = line
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "atMs" && *k != "kind")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("{at} {kind:<16} {}", details.join(" "));
    }
}
