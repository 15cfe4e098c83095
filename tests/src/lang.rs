//! Functions written in Python and JavaScript, built from source with the
//! real toolchains (componentize-py, componentize-js) through the SDKs'
//! own build scripts, as a user's `build` command runs them.
//!
//! The scripts install their toolchain, pinned, into a cache on first use
//! (`.ci/run` does it up front), and keep each component they built by a
//! hash of its sources, so a rerun with unchanged sources builds nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::{target_dir, workspace_root};

/// A language swirl has a guest SDK for, besides Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    JavaScript,
}

impl Lang {
    fn sdk(self) -> PathBuf {
        let dir = match self {
            Lang::Python => "python",
            Lang::JavaScript => "js",
        };
        workspace_root().join("guest-sdk").join(dir)
    }

    /// What the build script takes: the function's directory or its module.
    fn source_argument(self, dir: &Path) -> PathBuf {
        match self {
            Lang::Python => dir.to_path_buf(),
            Lang::JavaScript => dir.join("index.js"),
        }
    }
}

/// The component built from the function in `dir` (holding `app.py` or
/// `index.js`), as `target/lang-components/<dir's name>.wasm`.
pub fn build(lang: Lang, dir: &Path) -> PathBuf {
    // One build at a time: the tests that want the same component wait for it.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("function");
    let path = target_dir()
        .join("lang-components")
        .join(format!("{name}.wasm"));
    let output = Command::new("sh")
        .arg(lang.sdk().join("build.sh"))
        .arg(lang.source_argument(dir))
        .arg(&path)
        .output()
        .unwrap_or_else(|error| panic!("cannot run sh for the {lang:?} build: {error}"));
    assert!(
        output.status.success(),
        "building {} with guest-sdk's {lang:?} build.sh failed ({}); it installs its toolchain \
         on first use, which needs python3 (with venv) or node and npm, and the package \
         registries (.ci/run installs them):\n{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    path
}
