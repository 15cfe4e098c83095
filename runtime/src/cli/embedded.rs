//! The embedded runtime the in-process commands share: the store of a data
//! directory, a function host with the manifest's functions, and an engine
//! with its workflows, resuming what earlier runs left unfinished.

use std::path::Path;
use std::sync::Arc;

use swirl::engine::Engine;
use swirl::manifest::Manifest;
use swirl::store::Store;

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
    let manifest = match Manifest::load(manifest_path) {
        Ok(manifest) => manifest,
        Err(errors) => {
            report_manifest_errors(&errors);
            return Ok(None);
        }
    };
    if build && let Err(errors) = swirl::app::build(&manifest) {
        report_manifest_errors(&errors);
        return Ok(None);
    }
    let store = Store::open(data_dir)?;
    let host = Arc::new(swirl::app::host(data_dir, Arc::new(store.clone()))?);
    if let Err(errors) = swirl::app::deploy(&manifest, &host) {
        report_manifest_errors(&errors);
        return Ok(None);
    }
    let engine = Engine::new(store.clone(), host);
    if let Err(failures) = swirl::app::register_workflows(&manifest, &engine) {
        for (path, diagnostics) in failures {
            for diagnostic in diagnostics.0 {
                eprintln!("{}:{diagnostic}", path.display());
            }
        }
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
