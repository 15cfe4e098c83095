//! The function host: runs WebAssembly components that implement the
//! `swirl:function` world (`wit/function.wit`) in-process, from one instance
//! pool per function.
//!
//! ```text
//!  FunctionHost ──deploy(FunctionSpec)──▶ Component (compiled, or loaded from the code cache)
//!       │                                     │ checked against the world, linked once
//!       │                                     ▼
//!       └──invoke(name, Call)──▶ Pool ──▶ Instance (Store + bindings) ──▶ guest `handle`
//!                                 │  min/max instances, wait queue, idle reaping
//!                                 └─ reuse or fresh instances; trapped ones are dropped
//! ```
//!
//! This layer knows wasmtime and nothing of workflows. The durable key-value
//! store that functions import is reached through the [`KvStore`] trait, so
//! that only the store module knows sled.
//!
//! Start with [`FunctionHost`]; [`pool`] holds the scaling logic, [`instance`]
//! one call's limits and failure classification, [`host_api`] the imports.

mod cache;
mod component;
mod engine;
mod host_api;
mod instance;
mod pool;
mod stats;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use component::LoadError;
pub use engine::HostConfig;
pub use host_api::{EmittedEvent, LogLevel, LogLine, LogStream};
pub use stats::FunctionStats;

use component::LoadedComponent;
use engine::WasmEngine;
use pool::Pool;

/// Failure codes the runtime itself produces, as the workflow language names them.
pub mod codes {
    /// The call ran past its timeout.
    pub const TIMEOUT: &str = "SYS.Timeout";
    /// The call trapped, hit its memory limit, or failed inside the runtime.
    pub const FAIL: &str = "SYS.Fail";
    /// The function has `max-instances` busy and its wait queue is full or timed out.
    pub const BUSY: &str = "SYS.Busy";
    /// The input does not fit what the function accepts.
    pub const INVALID_PARAMETER: &str = "SYS.InvalidParameter";
    /// The function tried something its sandbox forbids.
    pub const PERMISSION: &str = "SYS.Permission";
}

/// Whether an instance serves call after call or only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceMode {
    /// Warm instances serve call after call; globals survive between calls.
    #[default]
    Reuse,
    /// A new instance per call, for strict isolation between calls.
    Fresh,
}

/// Resource limits and scaling of one function, as the manifest gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionLimits {
    /// Linear memory a single instance may grow to, in bytes.
    pub memory: u64,
    /// How long one call may run.
    pub timeout: Duration,
    /// Instances kept warm even when idle.
    pub min_instances: u32,
    /// Instances alive at once; calls beyond wait in the queue.
    pub max_instances: u32,
    /// Calls that may wait for an instance; one more fails with `SYS.Busy`.
    pub max_queue: u32,
    /// Idle instances above `min_instances` are dropped after this long.
    pub idle_timeout: Duration,
    /// Reuse warm instances or make a fresh one per call.
    pub instance_mode: InstanceMode,
}

impl Default for FunctionLimits {
    fn default() -> Self {
        FunctionLimits {
            memory: 64 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            min_instances: 0,
            max_instances: 32,
            max_queue: 256,
            idle_timeout: Duration::from_secs(60),
            instance_mode: InstanceMode::Reuse,
        }
    }
}

/// Everything needed to deploy one function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name in its manifest.
    pub name: String,
    /// Where its component was read from, for messages.
    pub source: PathBuf,
    /// The component's bytes.
    pub wasm: Vec<u8>,
    /// Limits and scaling.
    pub limits: FunctionLimits,
    /// Values the function reads with `host.config`.
    pub config: BTreeMap<String, String>,
}

/// One call of a function: its JSON input and where it comes from.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// The JSON input document.
    pub input: Vec<u8>,
    /// The workflow definition that calls, if any.
    pub workflow_id: Option<String>,
    /// The workflow instance that calls, if any.
    pub instance_id: Option<String>,
    /// The state whose action calls, if any.
    pub state_name: Option<String>,
    /// Attempt number, from 1; 0 is read as 1.
    pub attempt: u32,
    /// Hand a successful call's kv writes back in [`Invocation::kv_writes`]
    /// instead of applying them, so the caller can commit them atomically
    /// with its own record of the call (the engine does, per action).
    pub defer_kv_writes: bool,
    /// A shorter timeout for this call (a workflow action's own `timeout`);
    /// the function's manifest timeout still bounds it.
    pub timeout: Option<Duration>,
}

impl Call {
    /// A direct call with `input` as its JSON input.
    pub fn new(input: impl Into<Vec<u8>>) -> Self {
        Call {
            input: input.into(),
            attempt: 1,
            ..Call::default()
        }
    }
}

/// Why a call failed: a code that workflows match on and a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
    /// JSON details the function attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl Failure {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What one call produced.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Unique id of the call, as the function saw it in its context.
    pub id: String,
    /// The function version that ran.
    pub version: String,
    /// The JSON output, or why the call failed.
    pub outcome: Result<Vec<u8>, Failure>,
    /// Log lines of the call: host logs and captured stdout/stderr.
    pub logs: Vec<LogLine>,
    /// Log lines dropped because the call went past the per-call log limit.
    pub dropped_log_lines: u64,
    /// CloudEvents the function emitted.
    pub emitted: Vec<EmittedEvent>,
    /// Time spent in the call, from acquiring an instance to its result.
    pub duration: Duration,
    /// True when no warm instance was available and one was instantiated.
    pub cold_start: bool,
    /// A successful call's kv writes, when the call asked to defer them.
    pub kv_writes: KvWrites,
}

/// Writes of one call to its function's kv namespace: a value, or `None` to delete.
pub type KvWrites = BTreeMap<String, Option<Vec<u8>>>;

/// A deployed function version, as deploy reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub name: String,
    /// Content hash of the component; a new deployment of other code is a new version.
    pub version: String,
    /// True when the compiled code came from the on-disk code cache.
    pub from_cache: bool,
}

/// The durable key-value store that functions import, one namespace per function.
pub trait KvStore: Send + Sync {
    /// Reads `key` of `function`'s namespace.
    fn get(&self, function: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Applies `writes` (a value, or `None` to delete) to `function`'s
    /// namespace atomically and durably.
    fn apply(
        &self,
        function: &str,
        writes: &BTreeMap<String, Option<Vec<u8>>>,
    ) -> Result<(), KvError>;
}

/// A failure of the key-value store behind functions.
#[derive(Debug, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

/// Errors of calling into the host, as opposed to failures of the function.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no function named '{name}' is deployed; deployed functions: {deployed}")]
    UnknownFunction { name: String, deployed: String },
}

/// Runs functions from per-function instance pools.
pub struct FunctionHost {
    engine: Arc<WasmEngine>,
    kv: Arc<dyn KvStore>,
    pools: RwLock<HashMap<String, Arc<Pool>>>,
    reaper: pool::Reaper,
}

impl FunctionHost {
    /// A host with its code cache under `config.cache_dir`.
    pub fn new(config: HostConfig, kv: Arc<dyn KvStore>) -> Result<Self, LoadError> {
        let engine = Arc::new(WasmEngine::new(config)?);
        Ok(FunctionHost {
            reaper: pool::Reaper::start().map_err(|error| {
                LoadError::Engine(format!("cannot start the reaper thread: {error}"))
            })?,
            engine,
            kv,
            pools: RwLock::new(HashMap::new()),
        })
    }

    /// Compiles (or loads from the code cache) and links `spec`'s component,
    /// checks it implements the function world, and makes it callable under
    /// its name. A function of the same name is replaced; its running calls finish.
    pub fn deploy(&self, spec: FunctionSpec) -> Result<Deployed, LoadError> {
        let loaded = LoadedComponent::load(&self.engine, &spec)?;
        let deployed = Deployed {
            name: spec.name.clone(),
            version: loaded.version.clone(),
            from_cache: loaded.from_cache,
        };
        let pool = Arc::new(Pool::new(
            self.engine.clone(),
            self.kv.clone(),
            spec,
            loaded,
        ));
        pool.warm_up();
        self.reaper.watch(&pool);
        let mut pools = self.pools.write().unwrap_or_else(|e| e.into_inner());
        pools.insert(deployed.name.clone(), pool);
        Ok(deployed)
    }

    /// Calls function `name`; blocks the calling thread until the call ends.
    ///
    /// A failure of the function (including traps, timeouts and `SYS.Busy`)
    /// is an `Ok(Invocation)` whose `outcome` is `Err`.
    pub fn invoke(&self, name: &str, call: Call) -> Result<Invocation, InvokeError> {
        let pool = self.pool(name)?;
        Ok(pool.invoke(call))
    }

    /// Statistics of function `name`.
    pub fn stats(&self, name: &str) -> Result<FunctionStats, InvokeError> {
        Ok(self.pool(name)?.stats())
    }

    /// Names of the deployed functions, sorted.
    pub fn function_names(&self) -> Vec<String> {
        let pools = self.pools.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = pools.keys().cloned().collect();
        names.sort();
        names
    }

    fn pool(&self, name: &str) -> Result<Arc<Pool>, InvokeError> {
        let pools = self.pools.read().unwrap_or_else(|e| e.into_inner());
        pools
            .get(name)
            .cloned()
            .ok_or_else(|| InvokeError::UnknownFunction {
                name: name.to_string(),
                deployed: describe_names(pools.keys()),
            })
    }
}

fn describe_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        return "none".to_string();
    }
    names.sort_unstable();
    names.join(", ")
}

/// Milliseconds since the Unix epoch, as the guest context carries deadlines.
fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
