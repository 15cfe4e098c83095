//! `swirl invoke`: calls one function of a manifest directly and prints its
//! JSON output.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use swirl_app::manifest::Manifest;
use swirl_function::{Call, LogLevel};

use super::{DataDir, Outcome, report_manifest_errors};

/// Call a function directly and print its JSON output
///
/// The output goes to stdout; the function's log lines and a failure's
/// `code: message` go to stderr. Exit 0 on success, 1 when the function
/// fails, 2 on usage or manifest errors.
///
/// Example: swirl invoke examples/hello/swirl.toml greet --input '{"name":"World"}'
#[derive(clap::Args)]
pub struct Args {
    /// The app manifest (swirl.toml)
    manifest: PathBuf,
    /// The function to call, as named in the manifest
    function: String,
    /// The JSON input document
    #[arg(long, value_name = "JSON", default_value = "{}")]
    input: String,
    /// Run the function's build command first
    #[arg(long)]
    build: bool,
    /// Print the function's statistics as JSON on stderr after the call
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    data_dir: DataDir,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(&args.input) {
        eprintln!("error: --input is not JSON: {error}");
        return Ok(Outcome::Invalid);
    }
    let manifest = match Manifest::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(errors) => return Ok(report_manifest_errors(&errors)),
    };
    let Some(function) = manifest.functions.get(&args.function) else {
        let known: Vec<&str> = manifest.functions.keys().map(String::as_str).collect();
        eprintln!(
            "error: {} has no function '{}'; its functions: {}",
            args.manifest.display(),
            args.function,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
        return Ok(Outcome::Invalid);
    };
    if args.build {
        let only_this = Manifest {
            functions: [(function.name.clone(), function.clone())].into(),
            ..manifest.clone()
        };
        if let Err(errors) = swirl_app::app::build(&only_this) {
            return Ok(report_manifest_errors(&errors));
        }
    }
    let spec = match function.spec() {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(Outcome::Invalid);
        }
    };

    let store = super::open_store(&args.data_dir.data_dir)?;
    let host = swirl_app::app::host(
        &args.data_dir.data_dir,
        Arc::new(store.clone()),
        swirl_app::app::CompileLines::Stderr,
    )?;
    if let Err(error) = host.deploy(spec) {
        eprintln!(
            "error: {}",
            function.source_location.error(error.to_string())
        );
        return Ok(Outcome::Invalid);
    }
    let invocation = host
        .invoke(&function.name, Call::new(args.input.into_bytes()))
        .context("cannot call the function")?;
    for line in &invocation.logs {
        eprintln!("[{}] {}", level_name(line.level), line.message);
    }
    if invocation.dropped_log_lines > 0 {
        eprintln!(
            "[warn] {} more log lines were dropped (per-call log limit)",
            invocation.dropped_log_lines
        );
    }
    for event in &invocation.emitted {
        eprintln!("[emit] type={} source={}", event.event_type, event.source);
    }
    if args.stats {
        let stats = host.stats(&function.name)?;
        eprintln!("{}", serde_json::to_string(&stats)?);
    }
    store.flush()?;
    match invocation.outcome {
        Ok(output) => {
            println!("{}", String::from_utf8_lossy(&output));
            Ok(Outcome::Success)
        }
        Err(failure) => {
            eprintln!("{failure}");
            Ok(Outcome::Failed)
        }
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}
