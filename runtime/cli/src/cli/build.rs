//! `swirl build`: runs the `build` commands of a manifest's functions.

use std::path::PathBuf;

use swirl_app::manifest::Manifest;

use super::{Outcome, report_manifest_errors};

/// Build the functions of a manifest with their `build` commands
///
/// Example: swirl build examples/hello/swirl.toml
#[derive(clap::Args)]
pub struct Args {
    /// The app manifest (swirl.toml)
    manifest: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let manifest = match Manifest::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(errors) => return Ok(report_manifest_errors(&errors)),
    };
    Ok(match swirl_app::app::build(&manifest) {
        Ok(()) => Outcome::Success,
        Err(errors) => report_manifest_errors(&errors),
    })
}
