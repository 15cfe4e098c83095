//! `swirl validate`: checks manifests without running anything, reporting
//! every problem at once.

use std::path::PathBuf;
use std::sync::Arc;

use swirl::manifest::{Manifest, ManifestError};
use swirl::store::Store;

use super::{DataDir, Outcome};

/// Check manifests and their functions, listing every problem
///
/// Each function's code is compiled (or found in the code cache) and checked
/// against the swirl:function world. Exit 0 when everything is valid, 2 when not.
///
/// Example: swirl validate examples/hello/swirl.toml
#[derive(clap::Args)]
pub struct Args {
    /// App manifests (swirl.toml)
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
    /// Print the problems as JSON on stdout
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data_dir: DataDir,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut errors: Vec<ManifestError> = Vec::new();
    let mut host = None;
    for path in &args.manifests {
        let manifest = match Manifest::load(path) {
            Ok(manifest) => manifest,
            Err(mut manifest_errors) => {
                errors.append(&mut manifest_errors.0);
                continue;
            }
        };
        let host = match &mut host {
            Some(host) => host,
            None => {
                let store = Store::open(&args.data_dir.data_dir)?;
                host.insert(swirl::app::host(&args.data_dir.data_dir, Arc::new(store))?)
            }
        };
        if let Err(mut deploy_errors) = swirl::app::deploy(&manifest, host) {
            errors.append(&mut deploy_errors.0);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "errors": errors }))?
        );
    } else {
        for error in &errors {
            eprintln!("error: {error}");
        }
    }
    Ok(if errors.is_empty() {
        Outcome::Success
    } else {
        Outcome::Invalid
    })
}
