//! Support for swirl's black-box tests: builds the real `swirl` binary and
//! the test functions (real wasm32-wasip2 components, built from source in
//! `tests/guests/`) once per test process, and runs the binary.

pub mod bounded_disk;
pub mod lang;
pub mod soak;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace root")
}

/// Where cargo builds: `CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run_cargo(args: &[&str]) {
    let status = cargo()
        .args(args)
        .status()
        .unwrap_or_else(|error| panic!("cannot run cargo {args:?}: {error}"));
    assert!(status.success(), "cargo {args:?} failed: {status}");
}

/// A code cache shared by the tests of this build, so that each component
/// is compiled once rather than once per test.
pub fn shared_code_cache() -> PathBuf {
    target_dir().join("test-code-cache")
}

/// The test functions (and the hello example's `greet`), built once per process.
const GUESTS: [&str; 4] = ["probe", "wrong-world", "greet", "start-trap"];

/// Path of the compiled component of test function `name` (a crate under `tests/guests/`).
pub fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut args = vec!["build", "--quiet", "--release", "--target", "wasm32-wasip2"];
        for guest in GUESTS {
            args.extend(["-p", guest]);
        }
        run_cargo(&args);
    });
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Path of the `swirl` binary, built once per process with the tests' profile,
/// or the one `SWIRL_BINARY` names (a release build, for the soaks' long runs).
pub fn swirl_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("SWIRL_BINARY") {
                return PathBuf::from(path);
            }
            // `--workspace` resolves features as `cargo test --workspace`
            // does; `-p swirl` would build ring, rustls and the crates
            // above them a second time, with other features.
            run_cargo(&["build", "--quiet", "--workspace", "--bin", "swirl"]);
            target_dir().join("debug").join("swirl")
        })
        .clone()
}

/// A `swirl` command ready to run in `dir`.
pub fn swirl(dir: &Path) -> Command {
    let mut command = Command::new(swirl_binary());
    command.current_dir(dir);
    command
}

/// What a finished command printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `command` to completion.
pub fn run(command: &mut Command) -> Run {
    command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
        .into()
}

/// A temporary app directory with a manifest that names test functions by absolute path.
pub struct App {
    pub dir: tempfile::TempDir,
}

impl App {
    /// An app whose `swirl.toml` is `manifest`, with `{probe}` and
    /// `{wrong-world}` replaced by the paths of those test functions.
    pub fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut text = manifest.to_string();
        for name in GUESTS {
            let placeholder = format!("{{{name}}}");
            if text.contains(&placeholder) {
                text = text.replace(&placeholder, &guest(name).display().to_string());
            }
        }
        std::fs::write(dir.path().join("swirl.toml"), text).expect("write the manifest");
        App { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("swirl.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `swirl invoke` of `function` with `input` in this app.
    pub fn invoke(&self, function: &str, input: &str) -> Run {
        run(swirl(self.path()).args([
            "invoke",
            "swirl.toml",
            function,
            "--input",
            input,
            "--data-dir",
            "data",
        ]))
    }
}

/// The example apps: every directory under `examples/` with a `swirl.toml`, by name.
pub fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("examples"))
        .expect("read examples/")
        .map(|entry| entry.expect("read examples/").path())
        .filter(|dir| dir.join("swirl.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Package names of the examples' function crates (`examples/*/functions/*`).
fn example_crates() -> Vec<String> {
    let mut crates = Vec::new();
    for example in examples() {
        let Ok(functions) = std::fs::read_dir(example.join("functions")) else {
            continue;
        };
        for function in functions {
            let manifest = function.expect("read functions/").path().join("Cargo.toml");
            // A function in Python or JavaScript: built by its manifest's command.
            if !manifest.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&manifest)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", manifest.display()));
            let name = text
                .lines()
                .find_map(|line| line.strip_prefix("name = \""))
                .and_then(|rest| rest.strip_suffix('"'))
                .unwrap_or_else(|| panic!("no package name in {}", manifest.display()));
            crates.push(name.to_string());
        }
    }
    crates
}

/// Builds every example's functions once per process, where the examples'
/// manifests look for them (`target/wasm32-wasip2/release/`).
pub fn build_example_functions() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        // The manifests name their components relative to the workspace's own
        // target directory; built anywhere else, they would not be found.
        assert_eq!(
            target_dir(),
            workspace_root().join("target"),
            "the examples' manifests expect the default target directory; unset CARGO_TARGET_DIR"
        );
        let crates = example_crates();
        let mut args = vec!["build", "--quiet", "--release", "--target", "wasm32-wasip2"];
        for name in &crates {
            args.extend(["-p", name]);
        }
        run_cargo(&args);
        // Functions in other languages, with their manifests' build commands
        // (which keep what they built: unchanged sources build nothing).
        for example in examples()
            .iter()
            .filter(|example| has_other_languages(example))
        {
            let built = run(swirl(workspace_root())
                .arg("build")
                .arg(example.join("swirl.toml")));
            assert_eq!(
                built.code,
                0,
                "swirl build {} failed:\n{}",
                example.display(),
                built.stderr
            );
        }
    });
}

/// Whether an example has functions that are not Rust crates.
fn has_other_languages(example: &Path) -> bool {
    std::fs::read_dir(example.join("functions"))
        .map(|functions| {
            functions
                .flatten()
                .any(|function| !function.path().join("Cargo.toml").exists())
        })
        .unwrap_or(false)
}

/// The component of example function crate `name`, built with all the others.
pub fn example_function(name: &str) -> PathBuf {
    build_example_functions();
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Runs `each` on every item on as many threads as the machine has cores,
/// keeping the order of the results. Bounded, so that a test with many
/// cases does not starve the timing-sensitive tests that run beside it.
pub fn in_parallel<T: Send, R: Send>(items: Vec<T>, each: impl Fn(T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let queue = std::sync::Mutex::new(items.into_iter().enumerate().collect::<Vec<_>>());
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    // The lock is released before the work, with the closure's scope.
                    let next = || queue.lock().unwrap().pop();
                    let mut done = Vec::new();
                    while let Some((index, item)) = next() {
                        done.push((index, each(item)));
                    }
                    done
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|thread| thread.join().expect("a worker panicked"))
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Whether the tests run as root (effective uid 0), which mounting needs.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Real, effective, saved and filesystem uids.
            line.split_whitespace().nth(2).map(|uid| uid == "0")
        })
        .unwrap_or(false)
}

/// Serves `app` on `listener` from a thread of its own, for as long as the
/// test process lives: a stand-in for a service outside swirl that blocking
/// tests can call.
pub fn serve_on_thread(listener: std::net::TcpListener, app: axum::Router) {
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
}
