//! `swirl graph`: a workflow definition as a Mermaid flowchart, the same
//! graph the console draws.

use std::path::PathBuf;

use swirl_workflow::{self as workflow, KnownFunctions};

use super::Outcome;

/// Print a workflow definition as a Mermaid flowchart
///
/// Reads a definition (JSON or YAML, either dialect) and prints its states,
/// transitions, choices, error routes (dotted), parallel branches and
/// foreach iterations (thick) as a Mermaid `flowchart`, ready for a
/// Markdown ```mermaid block. An invalid definition prints its errors, as
/// `swirl validate` does, and exits 2.
///
/// Example: swirl graph examples/order-saga/workflow.json
#[derive(clap::Args)]
pub struct Args {
    /// A workflow definition file
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match workflow::load_file(&args.file, KnownFunctions::Unchecked) {
        Ok(loaded) => {
            print!("{}", workflow::graph::build(&loaded.definition).mermaid());
            Ok(Outcome::Success)
        }
        Err(diagnostics) => {
            for diagnostic in &diagnostics.0 {
                eprintln!("{}:{diagnostic}", args.file.display());
            }
            Ok(Outcome::Invalid)
        }
    }
}
