//! Command-line interface: one module per subcommand. Data goes to stdout,
//! everything else (logs, errors, progress) to stderr.

mod backup;
mod build;
mod catalog;
mod completions;
mod deploy;
mod embedded;
mod graph;
mod instances;
mod invoke;
mod lifecycle;
mod new;
mod remote;
mod run;
mod serve;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// swirl runs Serverless Workflow apps whose actions are WebAssembly functions.
#[derive(Parser)]
#[command(name = "swirl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(run::Args),
    Serve(Box<serve::Args>),
    Deploy(deploy::Args),
    Alias(lifecycle::AliasArgs),
    Rollback(lifecycle::RollbackArgs),
    Start(remote::StartArgs),
    Get(remote::GetArgs),
    Ls(remote::LsArgs),
    Send(remote::SendArgs),
    Logs(remote::LogsArgs),
    Workflows(catalog::WorkflowsArgs),
    Functions(catalog::FunctionsArgs),
    DeadLetters(catalog::DeadLettersArgs),
    Cancel(remote::ControlArgs),
    Suspend(remote::ControlArgs),
    Resume(remote::ControlArgs),
    Invoke(invoke::Args),
    Instances(instances::InstancesArgs),
    History(instances::HistoryArgs),
    Validate(validate::Args),
    Graph(graph::Args),
    Build(build::Args),
    Backup(backup::BackupArgs),
    Restore(backup::RestoreArgs),
    New(new::Args),
    Completions(completions::Args),
}

/// How a command ended, as its exit code tells the shell.
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the function or workflow ran and failed.
    Failed,
    /// Exit 2: bad usage, manifest or definition; nothing ran.
    Invalid,
}

/// The default data directory, relative to where swirl runs.
pub const DEFAULT_DATA_DIR: &str = ".swirl";

/// The data directory flag shared by commands that keep state.
#[derive(clap::Args)]
pub struct DataDir {
    /// Where durable state and the code cache live
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

/// Opens the store of a data directory for a one-shot command; when a
/// process (a `swirl serve`, most likely) holds it, says what to do instead.
pub fn open_store(data_dir: &std::path::Path) -> anyhow::Result<swirl_store::Store> {
    swirl_store::Store::open(data_dir).map_err(|error| match error {
        swirl_store::StoreError::InUse { .. } => anyhow::anyhow!(
            "{error}; one process at a time uses a data directory: stop it, give this command another --data-dir, or, if it is `swirl serve`, use the client commands against it (`swirl ls`, `swirl get`, `swirl start`, `swirl send`)"
        ),
        other => other.into(),
    })
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server's log is its record of what happened: info by default there,
    // warnings only for the one-shot commands.
    init_logging(match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    });
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Deploy(args) => deploy::run(args),
        Command::Alias(args) => lifecycle::alias(args),
        Command::Rollback(args) => lifecycle::rollback(args),
        Command::Start(args) => remote::start(args),
        Command::Get(args) => remote::get(args),
        Command::Ls(args) => remote::ls(args),
        Command::Send(args) => remote::send(args),
        Command::Logs(args) => remote::logs(args),
        Command::Workflows(args) => catalog::workflows(args),
        Command::Functions(args) => catalog::functions(args),
        Command::DeadLetters(args) => catalog::dead_letters(args),
        Command::Cancel(args) => remote::control("cancel", args),
        Command::Suspend(args) => remote::control("suspend", args),
        Command::Resume(args) => remote::control("resume", args),
        Command::Invoke(args) => invoke::run(args),
        Command::Instances(args) => instances::instances(args),
        Command::History(args) => instances::history(args),
        Command::Validate(args) => validate::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Build(args) => build::run(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::New(args) => new::run(args),
        Command::Completions(args) => completions::run(args),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Invalid) => ExitCode::from(2),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs on stderr, filtered by `SWIRL_LOG` (else `default`); one JSON
/// object per line when `SWIRL_LOG_FORMAT=json`, for log collectors. In
/// colour only on a terminal, and not when `NO_COLOR` is set.
fn init_logging(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWIRL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if std::env::var("SWIRL_LOG_FORMAT").is_ok_and(|format| format == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Prints every manifest error on stderr and tells the shell nothing ran.
pub fn report_manifest_errors(errors: &swirl_app::manifest::ManifestErrors) -> Outcome {
    for error in &errors.0 {
        eprintln!("{error}");
    }
    Outcome::Invalid
}
