//! The embedded runtime the in-process commands share: the store of a data
//! directory, a function host with the manifests' functions, and an engine
//! with their workflows, resuming what earlier runs left unfinished.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use swirl_app::manifest::Manifest;
use swirl_engine::{Engine, EngineConfig};
use swirl_store::Store;

use super::report_manifest_errors;

pub struct Embedded {
    pub store: Store,
    pub engine: Engine,
}

/// Opens the app; `None` when the manifest, a function or a workflow is
/// invalid (the problems are printed on stderr).
pub fn open(
    manifest_path: &Path,
    data_dir: &Path,
    build: bool,
) -> anyhow::Result<Option<Embedded>> {
    open_all(
        &[manifest_path.to_path_buf()],
        data_dir,
        build,
        EngineConfig::default(),
    )
}

/// Opens the apps of several manifests (possibly none) in one data
/// directory; `None` when any of them is invalid (every problem is printed).
pub fn open_all(
    manifest_paths: &[PathBuf],
    data_dir: &Path,
    build: bool,
    config: EngineConfig,
) -> anyhow::Result<Option<Embedded>> {
    let mut manifests = Vec::new();
    let mut valid = true;
    for path in manifest_paths {
        match Manifest::load(path) {
            Ok(manifest) => manifests.push(manifest),
            Err(errors) => {
                report_manifest_errors(&errors);
                valid = false;
            }
        }
    }
    if !valid {
        return Ok(None);
    }
    if build {
        for manifest in &manifests {
            if let Err(errors) = swirl_app::app::build(manifest) {
                report_manifest_errors(&errors);
                return Ok(None);
            }
        }
    }
    let store = super::open_store(data_dir)?;
    let host = Arc::new(swirl_app::app::host(
        data_dir,
        Arc::new(store.clone()),
        swirl_app::app::CompileLines::Stderr,
    )?);
    for manifest in &manifests {
        if let Err(errors) = swirl_app::app::deploy(manifest, &host) {
            report_manifest_errors(&errors);
            valid = false;
        }
    }
    if !valid {
        return Ok(None);
    }
    let outbound = Arc::default();
    let engine = swirl_app::app::engine(&store, &host, &outbound, config)?;
    for manifest in &manifests {
        if let Err(failures) = swirl_app::app::register_workflows(manifest, &engine, &outbound) {
            for (path, diagnostics) in failures {
                for diagnostic in diagnostics.0 {
                    eprintln!("{}:{diagnostic}", path.display());
                }
            }
            valid = false;
        }
    }
    if !valid {
        return Ok(None);
    }
    engine.recover()?;
    Ok(Some(Embedded { store, engine }))
}

/// Names for a message: "a, b" or "none".
pub fn names(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
