//! What the function-host benchmarks share: building the guest functions
//! they call, and a host environment like a process has (one sled store,
//! one code cache directory).
//!
//! Used by `function_calls.rs` (the criterion benchmarks) and `profile_call.rs`
//! (a driver that repeats one kind of call, for profilers).

// Each bench binary compiles its own copy of this module and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use swirl_function::{
    Call, FunctionHost, FunctionLimits, FunctionSpec, HostConfig, InstanceMode, KvStore,
    read_component,
};
use swirl_store::Store;

/// A function under measurement: its component and the inputs the benchmarks send it.
pub struct Guest {
    /// The figure's label, and the name the function is deployed under.
    pub label: &'static str,
    pub source: PathBuf,
    /// A call that succeeds without touching kv.
    pub input: &'static [u8],
    /// A call that traps, so that the pool drops the instance it ran on;
    /// `None` for a function that has none (the cold-pool figure is skipped).
    pub trap_input: Option<&'static [u8]>,
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the function crate lives in runtime/ of the workspace root")
}

/// The cargo target directory, which also holds the profiling driver's code cache.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds the guests for wasm32-wasip2, as the tests do, and describes them.
pub fn guests() -> [Guest; 2] {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .args(["-p", "probe", "-p", "bigdata"])
        .status()
        .expect("run cargo to build the benchmark functions");
    assert!(status.success(), "building the benchmark functions failed");
    let built = target_dir().join("wasm32-wasip2/release");

    let bigdata = built.join("bigdata.wasm");
    let size = std::fs::metadata(&bigdata).expect("bigdata.wasm").len();
    // The component is its code (a few MiB with debug info) plus the data.
    assert!(
        size > 10 << 20,
        "{} is {size} bytes; it should carry 10 MiB of data",
        bigdata.display()
    );
    [
        Guest {
            label: "trivial",
            source: built.join("probe.wasm"),
            input: br#"{"action":"count"}"#,
            trap_input: Some(br#"{"action":"trap"}"#),
        },
        Guest {
            label: "bigdata",
            source: bigdata,
            input: br#"{"offset":5242880}"#,
            trap_input: Some(br#"{"offset":4294967295}"#),
        },
    ]
}

/// The functions `SWIRL_BENCH_GUESTS` names (`label=path.wasm,...`), each
/// called with `{"name":"World"}`, as the greeters `swirl new` writes take:
/// to set functions in different languages side by side (BENCHMARKS.md).
pub fn guests_from_env() -> Option<Vec<Guest>> {
    let list = std::env::var("SWIRL_BENCH_GUESTS").ok()?;
    let guests = list
        .split(',')
        .map(|entry| {
            let (label, path) = entry
                .split_once('=')
                .expect("SWIRL_BENCH_GUESTS holds label=path.wasm entries");
            Guest {
                label: Box::leak(label.to_string().into_boxed_str()),
                source: PathBuf::from(path),
                input: br#"{"name":"World"}"#,
                trap_input: None,
            }
        })
        .collect();
    Some(guests)
}

/// Resident memory of this process, from `/proc/self/status`.
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status")
        * 1024
}

/// What one process has: a sled store behind kv and a code cache directory.
pub struct Environment {
    dir: tempfile::TempDir,
    /// The code cache that `deployed` hosts share.
    pub cache: PathBuf,
    kv: Arc<dyn KvStore>,
    /// Set for runs under valgrind, which cannot reserve the terabytes of
    /// address space a default host's instance pool takes: a host then
    /// holds few instances of at most 256 MiB. Calls cost the same.
    pub small_pool: bool,
}

impl Environment {
    /// A new store, with the code cache in `cache`, or in a new directory when `None`.
    pub fn new(cache: Option<PathBuf>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let kv = Arc::new(Store::open(&dir.path().join("db")).expect("open the store"));
        Environment {
            cache: cache.unwrap_or_else(|| dir.path().join("cache")),
            dir,
            kv,
            small_pool: false,
        }
    }

    /// A directory that lives as long as the environment.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// A host whose code cache is `cache`.
    pub fn host(&self, cache: &Path) -> FunctionHost {
        let mut config = HostConfig::new(cache);
        if self.small_pool {
            config.max_live_instances = 4;
            config.max_function_memory = 256 << 20;
        }
        FunctionHost::new(config, self.kv.clone()).expect("start a host")
    }

    /// A host with `guest` deployed in `mode`, from the shared code cache.
    pub fn deployed(&self, guest: &Guest, mode: InstanceMode) -> FunctionHost {
        let host = self.host(&self.cache);
        deploy(&host, guest, mode);
        host
    }
}

/// Deploys `guest` on `host`, reading its file as a starting process would.
pub fn deploy(host: &FunctionHost, guest: &Guest, instance_mode: InstanceMode) {
    deploy_with(
        host,
        guest,
        FunctionLimits {
            instance_mode,
            ..FunctionLimits::default()
        },
    );
}

/// Deploys `guest` on `host` with `limits`.
pub fn deploy_with(host: &FunctionHost, guest: &Guest, limits: FunctionLimits) {
    let (wasm, source_stamp) = read_component(&guest.source).expect("read the component");
    host.deploy(FunctionSpec {
        name: guest.label.to_string(),
        source: guest.source.clone(),
        wasm,
        source_stamp,
        content_hash: None,
        limits,
        config: BTreeMap::new(),
    })
    .expect("deploy");
}

/// Calls `guest`, checking the call went the way the figure assumes.
pub fn call(host: &FunctionHost, guest: &Guest, expect_cold: Option<bool>) {
    let invocation = host
        .invoke(guest.label, Call::new(guest.input))
        .expect("the function is deployed");
    if let Err(failure) = &invocation.outcome {
        panic!("{} failed: {failure}", guest.label);
    }
    if let Some(cold) = expect_cold {
        assert_eq!(invocation.cold_start, cold, "{}", guest.label);
    }
}

/// Calls `guest` so that it traps, which makes its pool drop the instance.
pub fn trap(host: &FunctionHost, guest: &Guest) {
    let invocation = host
        .invoke(
            guest.label,
            Call::new(guest.trap_input.expect("a guest that can trap")),
        )
        .expect("the function is deployed");
    assert!(invocation.outcome.is_err(), "{} should trap", guest.label);
}
