//! Functions written in Python and JavaScript, built from source with the
//! real toolchains (componentize-py, componentize-js) through the SDKs'
//! own build scripts, as a user's `build` command runs them.
//!
//! The scripts install their toolchain, pinned, into a cache on first use
//! (`.ci/run` does it up front). A built component is kept under
//! `target/lang-components/`, named by a hash of everything it is built
//! from, so a rerun with unchanged sources builds nothing.

use std::hash::{DefaultHasher, Hash, Hasher};
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
/// `index.js`), from the cache when its sources are unchanged.
pub fn build(lang: Lang, dir: &Path) -> PathBuf {
    // One build at a time: the tests that want the same component wait for it.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _building = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("function");
    let mut inputs = vec![workspace_root().join("wit")];
    inputs.push(lang.sdk());
    inputs.push(dir.to_path_buf());
    let cache = target_dir().join("lang-components");
    let path = cache.join(format!("{name}-{:016x}.wasm", hash_files(&inputs)));
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&cache).expect("create target/lang-components");
    let partial = path.with_extension("partial");
    let output = Command::new("sh")
        .arg(lang.sdk().join("build.sh"))
        .arg(lang.source_argument(dir))
        .arg(&partial)
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
    std::fs::rename(&partial, &path).expect("move the built component into the cache");
    path
}

/// A hash of the names and contents of every file under `paths`, in order.
fn hash_files(paths: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for path in paths {
        let mut files = Vec::new();
        collect(path, &mut files);
        files.sort();
        for file in files {
            file.strip_prefix(workspace_root())
                .unwrap_or(&file)
                .hash(&mut hasher);
            std::fs::read(&file)
                .unwrap_or_else(|error| panic!("read {}: {error}", file.display()))
                .hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_file() {
        files.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Bytecode Python leaves beside a module is not a source.
        if path.file_name().is_some_and(|name| name == "__pycache__") {
            continue;
        }
        collect(&path, files);
    }
}
