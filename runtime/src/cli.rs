//! Command-line interface: one module per subcommand. Data goes to stdout,
//! everything else (logs, errors, progress) to stderr.

mod build;
mod embedded;
mod instances;
mod invoke;
mod run;
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
    Invoke(invoke::Args),
    Instances(instances::InstancesArgs),
    History(instances::HistoryArgs),
    Validate(validate::Args),
    Build(build::Args),
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

pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Invoke(args) => invoke::run(args),
        Command::Instances(args) => instances::instances(args),
        Command::History(args) => instances::history(args),
        Command::Validate(args) => validate::run(args),
        Command::Build(args) => build::run(args),
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWIRL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Prints every manifest error on stderr and tells the shell nothing ran.
pub fn report_manifest_errors(errors: &swirl::manifest::ManifestErrors) -> Outcome {
    for error in &errors.0 {
        eprintln!("error: {error}");
    }
    Outcome::Invalid
}
