//! An app: a manifest's functions deployed into a function host, with every
//! problem reported against the manifest line that caused it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::invoker::{AppInvoker, OutboundHosts};
use crate::manifest::{Manifest, ManifestError, ManifestErrors};
use swirl_engine::{Engine, EngineConfig, EngineError};
use swirl_function::{CompileProgress, FunctionHost, HostConfig, KvStore, OnCompile};
use swirl_workflow::{self as workflow, Diagnostics, KnownFunctions, Loaded};

/// One workflow file of an app and what loading it gave.
pub struct WorkflowFile {
    pub path: PathBuf,
    pub result: Result<Loaded, Diagnostics>,
}

/// Loads every workflow file the manifest lists, checking that each
/// `functions[].resource` names a function of the manifest.
pub fn load_workflows(manifest: &Manifest) -> Vec<WorkflowFile> {
    let functions: HashSet<String> = manifest.functions.keys().cloned().collect();
    manifest
        .workflows
        .iter()
        .map(|path| WorkflowFile {
            path: path.clone(),
            result: workflow::load_file(path, KnownFunctions::Set(&functions)),
        })
        .collect()
}

/// Registers every workflow file of `manifest` with `engine`, their calls
/// to the hosts it allows (`outbound`, the engine's); the problems of each
/// file that does not load are returned with its path.
pub fn register_workflows(
    manifest: &Manifest,
    engine: &Engine,
    outbound: &OutboundHosts,
) -> Result<(), Vec<(PathBuf, Diagnostics)>> {
    let functions: HashSet<String> = manifest.functions.keys().cloned().collect();
    let mut failures = Vec::new();
    // Read before any workflow loads: its `$secrets` is made at load.
    match manifest.read_secrets() {
        Ok(values) => engine.add_secrets(values),
        Err(problems) => failures.extend(
            problems
                .into_iter()
                .map(|p| (manifest.path.clone(), single_diagnostic(p))),
        ),
    }
    for path in &manifest.workflows {
        let registered = workflow::read_source(path).and_then(|text| {
            let file_name = path.file_name().and_then(|n| n.to_str());
            let workflow = engine
                .register(&text, file_name, KnownFunctions::Set(&functions))
                .map_err(|error| match error {
                    EngineError::Definition(diagnostics) => diagnostics,
                    other => single_diagnostic(other.to_string()),
                })?;
            outbound.keep(
                &manifest.allowed_outbound_hosts,
                &[workflow.id().to_string()],
            );
            let missing = manifest.missing_secrets(&workflow.definition);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Diagnostics(
                    missing
                        .into_iter()
                        .flat_map(|m| single_diagnostic(m).0)
                        .collect(),
                ))
            }
        });
        if let Err(diagnostics) = registered {
            failures.push((path.clone(), diagnostics));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

pub(crate) fn single_diagnostic(message: String) -> Diagnostics {
    Diagnostics(vec![workflow::Diagnostic {
        severity: workflow::Severity::Error,
        pointer: String::new(),
        line: 1,
        column: 1,
        message,
    }])
}

/// Runs each function's `build` command in the manifest's directory.
pub fn build(manifest: &Manifest) -> Result<(), ManifestErrors> {
    let mut errors = Vec::new();
    for function in manifest.functions.values() {
        let Some(command) = &function.build else {
            continue;
        };
        let location = &function.source_location;
        // A manifest named without a directory (`swirl.toml`) has an empty
        // one, which is no directory to run in.
        let dir = Some(manifest.dir())
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let status = shell(command).current_dir(dir).status();
        match status {
            Ok(status) if status.success() => {
                if !function.source.exists() {
                    errors.push(location.error(missing_after_build(
                        command,
                        &function.name,
                        &function.source,
                        dir,
                    )));
                }
            }
            Ok(status) => errors.push(location.error(format!(
                "the build command `{command}` of function '{}' failed ({status})",
                function.name
            ))),
            Err(error) => errors.push(location.error(format!(
                "cannot run the build command `{command}` of function '{}': {error}",
                function.name
            ))),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ManifestErrors(errors))
    }
}

/// Why a build that succeeded left no component at `source`, and where it
/// went: cargo writes to `CARGO_TARGET_DIR` (or `build.target-dir`), not to
/// the `target/` a manifest's `source` usually names.
fn missing_after_build(command: &str, name: &str, source: &Path, dir: &Path) -> String {
    let mut message = format!(
        "the build command `{command}` of function '{name}' succeeded, but {} does not exist",
        source.display()
    );
    let Some(target_dir) = cargo_target_dir(dir) else {
        return message
            + "; make the build write the component there, or point `source` at where it does";
    };
    // The part of `source` below its `target/` directory, found again
    // below the directory cargo really used.
    let components: Vec<_> = source.components().collect();
    let below_target = components
        .iter()
        .rposition(|c| c.as_os_str() == "target")
        .map(|at| components[at + 1..].iter().collect::<PathBuf>());
    message.push_str(&format!(
        ": cargo builds into {} here (CARGO_TARGET_DIR or build.target-dir decide where)",
        target_dir.display()
    ));
    match below_target.map(|rest| target_dir.join(rest)) {
        Some(found) if found.exists() => message.push_str(&format!(
            ", and the component is at {}; point `source` there, or build without the override",
            found.display()
        )),
        _ => message.push_str("; point `source` below it, or build without the override"),
    }
    message
}

/// The directory cargo builds into from `dir`, when it is not the usual
/// `target/`: `CARGO_TARGET_DIR`, else what `cargo metadata` says.
fn cargo_target_dir(dir: &Path) -> Option<PathBuf> {
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
        return Some(dir.join(target));
    }
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    metadata["target_directory"].as_str().map(PathBuf::from)
}

fn shell(command: &str) -> Command {
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(command);
    shell
}

/// Deploys every function of `manifest` into `host`, reporting all problems at once.
pub fn deploy(manifest: &Manifest, host: &FunctionHost) -> Result<(), ManifestErrors> {
    let errors: Vec<ManifestError> = manifest
        .functions
        .values()
        .filter_map(|function| {
            let spec = match function.spec() {
                Ok(spec) => spec,
                Err(error) => return Some(error),
            };
            host.deploy(spec)
                .err()
                .map(|error| function.source_location.error(error.to_string()))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ManifestErrors(errors))
    }
}

/// The engine of one data directory: its instances in `store`, its calls
/// through `host` and to the hosts `outbound` allows each workflow.
pub fn engine(
    store: &swirl_store::Store,
    host: &Arc<FunctionHost>,
    outbound: &Arc<OutboundHosts>,
    config: EngineConfig,
) -> Result<Engine, EngineError> {
    Engine::with_config(
        Arc::new(store.clone()),
        Arc::new(AppInvoker::new(host.clone(), outbound.clone())),
        config,
    )
}

/// Where a host tells of a compile that takes seconds (see [`CompileProgress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileLines {
    /// A plain line on stderr, for commands that run and end.
    Stderr,
    /// The server's log (`swirl serve`), which may be JSON lines.
    Log,
}

/// A host for the apps of one data directory: code cache under `<data-dir>/cache`.
pub fn host(
    data_dir: &Path,
    kv: Arc<dyn KvStore>,
    lines: CompileLines,
) -> Result<FunctionHost, swirl_function::LoadError> {
    let on_compile: OnCompile = match lines {
        CompileLines::Stderr => Arc::new(|progress: &CompileProgress| eprintln!("{progress}")),
        CompileLines::Log => Arc::new(|progress: &CompileProgress| tracing::info!("{progress}")),
    };
    let config = HostConfig {
        on_compile: Some(on_compile),
        ..HostConfig::new(data_dir.join("cache"))
    };
    FunctionHost::new(config, kv)
}
