//! `swirl run`: runs one workflow instance in-process to its end and prints
//! its output.

use std::path::PathBuf;

use serde_json::Value;
use swirl_engine::record::Status;

use super::{DataDir, Outcome, embedded};

/// Run a workflow instance in-process until it ends and print its output
///
/// The instance's output JSON goes to stdout (exit 0); a failed or cancelled
/// instance prints its error as one JSON object on the last line of stderr
/// (exit 1): for a 1.0 workflow, an RFC 7807 problem (`type`, `status`,
/// `title`, `instance`). Delays and retries are
/// honoured; unfinished instances of earlier runs in the same data directory
/// are resumed alongside.
///
/// Example: swirl run examples/greeting/swirl.toml greeting --input '{"greet":{"name":"John"}}'
#[derive(clap::Args)]
pub struct Args {
    /// The app manifest (swirl.toml)
    manifest: PathBuf,
    /// The workflow definition's id
    workflow: String,
    /// The workflow input: a JSON object, or any JSON value for a 1.0
    /// workflow [default: {}, or null for 1.0]
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// An id for the instance; running again with the same id returns the same instance
    #[arg(long)]
    id: Option<String>,
    /// Run the functions' build commands first
    #[arg(long)]
    build: bool,
    #[command(flatten)]
    data_dir: DataDir,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let input: Option<Value> = match args.input.as_deref().map(serde_json::from_str) {
        None => None,
        Some(Ok(input)) => Some(input),
        Some(Err(error)) => {
            eprintln!("error: --input is not JSON: {error}");
            return Ok(Outcome::Invalid);
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let Some(app) = embedded::open(&args.manifest, &args.data_dir.data_dir, args.build)? else {
            return Ok(Outcome::Invalid);
        };
        if !app.engine.workflow_ids().contains(&args.workflow) {
            eprintln!(
                "error: {} has no workflow '{}'; its workflows: {}",
                args.manifest.display(),
                args.workflow,
                embedded::names(&app.engine.workflow_ids())
            );
            return Ok(Outcome::Invalid);
        }
        let input = input.unwrap_or_else(|| match app.engine.is_v10(&args.workflow) {
            true => Value::Null,
            false => Value::Object(Default::default()),
        });
        let started = match app.engine.start(&args.workflow, input, args.id).await {
            Ok(record) => record,
            Err(error @ swirl_engine::EngineError::InputNotObject(_)) => {
                eprintln!("error: {error}");
                return Ok(Outcome::Invalid);
            }
            Err(error) => return Err(error.into()),
        };
        let record = app.engine.wait(&started.id).await?;
        app.store.durable()?;
        Ok(match record.status {
            Status::Completed => {
                println!("{}", record.output.unwrap_or(Value::Null));
                Outcome::Success
            }
            _ => {
                let error = match &record.error {
                    Some(error) => match &error.problem {
                        Some(problem) => Value::clone(problem),
                        None => serde_json::to_value(error)?,
                    },
                    None => Value::Null,
                };
                eprintln!(
                    "{}",
                    if error.is_null() {
                        serde_json::json!({"status": record.status.as_str()})
                    } else {
                        error
                    }
                );
                Outcome::Failed
            }
        })
    })
}
