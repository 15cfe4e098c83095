//! `swirl validate`: checks manifests and workflow definitions without
//! running anything, reporting every problem at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use swirl_app::manifest::{Manifest, ManifestError};
use swirl_function::{FunctionHost, KvError, KvStore};
use swirl_workflow::{self as workflow, Diagnostic, KnownFunctions, Severity};

use super::{DataDir, Outcome};

/// Check manifests and workflow definitions, listing every error and warning
///
/// A manifest (`*.toml`) is checked with its functions (each compiled, or
/// found in the code cache, and checked against the swirl:function world)
/// and the workflow files it lists; any other file is read as a workflow
/// definition (JSON or YAML, either dialect). Exit 0 when everything is
/// valid (warnings allowed), 2 when not.
///
/// Example: swirl validate examples/hello/swirl.toml workflows/order.yaml
#[derive(clap::Args)]
pub struct Args {
    /// Manifests (swirl.toml) and workflow definition files
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print the findings as JSON on stdout
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data_dir: DataDir,
}

/// One error or warning, in one shape for manifests and workflows.
#[derive(Serialize)]
struct Finding {
    file: PathBuf,
    line: usize,
    column: usize,
    severity: Severity,
    /// The manifest key, for manifest findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// The JSON pointer, for workflow findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
    message: String,
}

impl Finding {
    fn from_manifest(error: ManifestError) -> Self {
        Finding {
            file: error.file,
            line: error.line,
            column: error.column,
            severity: Severity::Error,
            key: error.key,
            pointer: None,
            message: error.message,
        }
    }

    fn from_workflow(file: &Path, diagnostic: Diagnostic) -> Self {
        Finding {
            file: file.to_path_buf(),
            line: diagnostic.line,
            column: diagnostic.column,
            severity: diagnostic.severity,
            key: None,
            pointer: Some(diagnostic.pointer),
            message: diagnostic.message,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // The compiler's format, as `run` and `serve` print it too.
        write!(
            f,
            "{}:{}:{}: {severity}: ",
            self.file.display(),
            self.line,
            self.column
        )?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(pointer) = &self.pointer {
            write!(f, " (at {pointer})")?;
        }
        Ok(())
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut findings = Vec::new();
    let mut host = None;
    for path in &args.files {
        if path.extension().is_some_and(|ext| ext == "toml") {
            let host = match &mut host {
                Some(host) => host,
                None => host.insert(open_host(&args.data_dir.data_dir)?),
            };
            check_manifest(path, host, &mut findings);
        } else {
            let diagnostics = match workflow::load_file(path, KnownFunctions::Unchecked) {
                Ok(loaded) => loaded.warnings,
                Err(diagnostics) => diagnostics.0,
            };
            findings.extend(
                diagnostics
                    .into_iter()
                    .map(|d| Finding::from_workflow(path, d)),
            );
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "findings": findings }))?
        );
    } else {
        for finding in &findings {
            eprintln!("{finding}");
        }
    }
    let valid = !findings.iter().any(|f| f.severity == Severity::Error);
    Ok(if valid {
        Outcome::Success
    } else {
        Outcome::Invalid
    })
}

/// A host that compiles (through the data directory's code cache, which
/// any number of processes share) but opens no store, so that validating
/// works while a server holds the data directory.
fn open_host(data_dir: &Path) -> anyhow::Result<FunctionHost> {
    Ok(swirl_app::app::host(
        data_dir,
        Arc::new(NoKv),
        swirl_app::app::CompileLines::Stderr,
    )?)
}

/// The kv store of a host that runs no function.
struct NoKv;

impl KvStore for NoKv {
    fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, KvError> {
        Err(KvError("swirl validate runs no function".into()))
    }

    fn apply(&self, _: &str, _: &BTreeMap<String, Option<Vec<u8>>>) -> Result<(), KvError> {
        Err(KvError("swirl validate runs no function".into()))
    }
}

fn check_manifest(path: &Path, host: &FunctionHost, findings: &mut Vec<Finding>) {
    let manifest = match Manifest::load(path) {
        Ok(manifest) => manifest,
        Err(errors) => {
            findings.extend(errors.0.into_iter().map(Finding::from_manifest));
            return;
        }
    };
    if let Err(errors) = swirl_app::app::deploy(&manifest, host) {
        findings.extend(errors.0.into_iter().map(Finding::from_manifest));
    }
    let mut ids = Vec::new();
    for file in swirl_app::app::load_workflows(&manifest) {
        let diagnostics = match file.result {
            Ok(loaded) => {
                ids.push(loaded.definition.id.clone());
                loaded.warnings
            }
            Err(diagnostics) => diagnostics.0,
        };
        findings.extend(
            diagnostics
                .into_iter()
                .map(|d| Finding::from_workflow(&file.path, d)),
        );
    }
    // Only when every workflow loaded: one that did not has no id.
    if ids.len() < manifest.workflows.len() {
        return;
    }
    findings.extend(
        manifest
            .retention
            .unknown_workflows(&ids)
            .into_iter()
            .map(Finding::from_manifest),
    );
}
