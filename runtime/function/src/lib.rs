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
//! that only the store crate knows sled.
//!
//! Start with [`FunctionHost`]; [`pool`] holds the scaling logic, [`instance`]
//! one call's limits and failure classification, [`host_api`] the imports,
//! [`Route`] how calls of a name or an alias are split between versions.

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here, and
// each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cache;
mod component;
mod emit_rules;
mod engine;
mod host_api;
mod instance;
mod pool;
mod route;
mod sandbox;
mod stats;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use component::LoadError;
pub use engine::{CompileProgress, HostConfig, OnCompile};
pub use route::{MAX_ROUTE_VERSIONS, Route, RouteError};
pub use stats::FunctionStats;
pub use swirl_ports::invoke::{
    Call, EmittedEvent, Failure, Invocation, KvWrites, LogLevel, LogLine, LogStream,
};
pub use swirl_ports::kv::{KvError, KvStore};

use component::LoadedComponent;
use engine::WasmEngine;
use pool::Pool;

/// Failure codes the runtime itself produces, as the workflow language names them.
pub use swirl_core::codes;

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
    /// The component's bytes, or the file that holds them.
    pub wasm: ComponentBytes,
    /// The identity of the file `wasm` was read from, when it is known not to
    /// have changed while it was read; `None` for bytes from elsewhere. It
    /// lets a restart find the content hash without hashing the bytes again.
    pub source_stamp: Option<SourceStamp>,
    /// The SHA-256 of `wasm` (lower-case hex) when the caller knows it, as
    /// the name of a content-addressed blob; `None` hashes the bytes (or
    /// finds the hash by `source_stamp`). A restarted server loads stored
    /// versions on their first call, where hashing a large component again
    /// would be most of what that call waits for.
    pub content_hash: Option<String>,
    /// Limits and scaling.
    pub limits: FunctionLimits,
    /// Values the function reads with `host.config`.
    pub config: BTreeMap<String, String>,
}

/// A component's bytes, in memory or in a file read only when they are
/// needed: to hash them when the hash is not known, or to compile them on a
/// code cache miss. A restarted server loads a stored version by its
/// content-addressed file, whose hash is its name: with its code in the
/// cache, reading 18 MB of a Python component was most of its first call.
#[derive(Debug, Clone)]
pub enum ComponentBytes {
    Memory(Arc<Vec<u8>>),
    File(PathBuf),
}

impl ComponentBytes {
    /// The bytes, read from the file if they are in one.
    pub fn read(&self) -> std::io::Result<Arc<Vec<u8>>> {
        match self {
            ComponentBytes::Memory(bytes) => Ok(bytes.clone()),
            ComponentBytes::File(path) => std::fs::read(path).map(Arc::new),
        }
    }

    /// Up to the first `N` bytes, without reading the rest of a file.
    fn prefix<const N: usize>(&self) -> std::io::Result<Vec<u8>> {
        match self {
            ComponentBytes::Memory(bytes) => Ok(bytes[..N.min(bytes.len())].to_vec()),
            ComponentBytes::File(path) => {
                let mut prefix = Vec::with_capacity(N);
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(std::fs::File::open(path)?, N as u64),
                    &mut prefix,
                )?;
                Ok(prefix)
            }
        }
    }
}

impl From<Vec<u8>> for ComponentBytes {
    fn from(bytes: Vec<u8>) -> Self {
        ComponentBytes::Memory(Arc::new(bytes))
    }
}

/// What identifies a component file's content without reading it: its
/// device and inode, size, and modification and change times (as build
/// tools trust them; the change time cannot be set back by a user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceStamp {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub modified_ns: i128,
    pub changed_ns: i128,
}

impl SourceStamp {
    /// The stamp of a file's metadata; `None` where the platform lacks
    /// inodes or change times.
    pub fn of(metadata: &std::fs::Metadata) -> Option<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns =
                |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
            Some(SourceStamp {
                device: metadata.dev(),
                inode: metadata.ino(),
                size: metadata.size(),
                modified_ns: ns(metadata.mtime(), metadata.mtime_nsec()),
                changed_ns: ns(metadata.ctime(), metadata.ctime_nsec()),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            None
        }
    }
}

/// Reads a component file, with the stamp that vouches for the bytes read:
/// `None` when the file changed while it was read.
pub fn read_component(
    path: &std::path::Path,
) -> std::io::Result<(ComponentBytes, Option<SourceStamp>)> {
    let before = std::fs::metadata(path)?;
    let wasm = std::fs::read(path)?;
    let stamp = SourceStamp::of(&before)
        .filter(|stamp| stamp.size == wasm.len() as u64)
        .filter(|stamp| {
            std::fs::metadata(path)
                .ok()
                .and_then(|after| SourceStamp::of(&after))
                == Some(*stamp)
        });
    Ok((wasm.into(), stamp))
}

/// A deployed function version, as deploy reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub name: String,
    /// Hash of the component, its limits and its config: a deployment that
    /// changes any of them is a new version, one that changes none is the same.
    pub version: String,
    /// True when the compiled code came from the on-disk code cache.
    pub from_cache: bool,
}

/// A function version compiled, checked and linked, not yet callable:
/// [`FunctionHost::prepare`] makes it, [`FunctionHost::install`] deploys it,
/// so that a deployment of many functions can be checked whole first.
pub struct PreparedFunction {
    spec: FunctionSpec,
    loaded: LoadedComponent,
}

impl PreparedFunction {
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    /// The version it will be deployed as.
    pub fn version(&self) -> &str {
        &self.loaded.version
    }
}

/// Finds the spec of a function version that is not loaded in this process
/// (an older version that instances started before a restart still use).
pub trait VersionSource: Send + Sync {
    fn spec(&self, name: &str, version: &str) -> Option<FunctionSpec>;
}

/// Errors of calling into the host, as opposed to failures of the function.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no function named '{name}' is deployed; deployed functions: {deployed}")]
    UnknownFunction { name: String, deployed: String },
    #[error(
        "version {version} of function '{name}' is not deployed and cannot be loaded: {reason}"
    )]
    UnknownVersion {
        name: String,
        version: String,
        reason: String,
    },
    #[error("function '{name}' has no alias '{alias}'; its aliases: {aliases}")]
    UnknownAlias {
        name: String,
        alias: String,
        aliases: String,
    },
}

/// The versions of one function name and the routes to them.
#[derive(Default)]
struct Versions {
    /// Where calls of the plain name go: the newest deployment, or split
    /// with a canary. `None` after the function was deleted: its versions
    /// stay callable by version for instances that pinned them, but new work
    /// cannot find it.
    current: Option<Route>,
    /// Named routes, called as `name@alias`.
    aliases: BTreeMap<String, Route>,
    pools: HashMap<String, Arc<Pool>>,
}

impl Versions {
    /// The route of the plain name (`alias` `None`) or of an alias.
    fn route(&self, alias: Option<&str>) -> Option<&Route> {
        match alias {
            None => self.current.as_ref(),
            Some(alias) => self.aliases.get(alias),
        }
    }

    /// Whether the current route or an alias sends calls to `version`.
    fn routed(&self, version: &str) -> bool {
        self.current.as_ref().is_some_and(|r| r.contains(version))
            || self.aliases.values().any(|r| r.contains(version))
    }
}

/// Runs functions from per-function instance pools, one pool per version.
pub struct FunctionHost {
    engine: Arc<WasmEngine>,
    kv: Arc<dyn KvStore>,
    functions: RwLock<HashMap<String, Versions>>,
    source: RwLock<Option<Arc<dyn VersionSource>>>,
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
            functions: RwLock::new(HashMap::new()),
            source: RwLock::new(None),
        })
    }

    /// Removes the code-cache entries of components not in `keep` (content
    /// hashes) written before `written_before`; returns how many.
    pub fn forget_cached_code(
        &self,
        keep: &std::collections::HashSet<String>,
        written_before: std::time::SystemTime,
    ) -> std::io::Result<usize> {
        self.engine.cache.forget_unused(keep, written_before)
    }

    /// Where versions that are not loaded come from (the server's stored deployments).
    pub fn set_version_source(&self, source: Arc<dyn VersionSource>) {
        *self.source.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// Compiles (or loads from the code cache) and links `spec`'s component
    /// and checks it implements the function world, without deploying it.
    pub fn prepare(&self, spec: FunctionSpec) -> Result<PreparedFunction, LoadError> {
        let mut loaded = LoadedComponent::load(&self.engine, &spec)?;
        loaded.version = function_version(&loaded.version, &spec);
        Ok(PreparedFunction { spec, loaded })
    }

    /// Makes a prepared function the current version of its name. Earlier
    /// versions stay callable by version, and their running calls finish;
    /// their idle instances are reaped like any other.
    pub fn install(&self, prepared: PreparedFunction) -> Deployed {
        let route = Route::single(prepared.version());
        let (deployed, pool) = self.ready(prepared);
        self.make_current(&[(deployed.clone(), pool, route)]);
        deployed
    }

    /// Installs several functions at once, each with the route its plain
    /// name takes (which names the new version, and may name versions
    /// already loaded): an instance that pins versions sees all of them new
    /// or all of them old, never a mix.
    pub fn install_routed(&self, prepared: Vec<(PreparedFunction, Route)>) -> Vec<Deployed> {
        let ready: Vec<_> = prepared
            .into_iter()
            .map(|(prepared, route)| {
                let (deployed, pool) = self.ready(prepared);
                (deployed, pool, route)
            })
            .collect();
        self.make_current(&ready);
        ready.into_iter().map(|(deployed, ..)| deployed).collect()
    }

    /// A pool for a version not loaded yet, made (and warmed up) outside the lock.
    fn ready(&self, prepared: PreparedFunction) -> (Deployed, Option<Arc<Pool>>) {
        let deployed = Deployed {
            name: prepared.spec.name.clone(),
            version: prepared.loaded.version.clone(),
            from_cache: prepared.loaded.from_cache,
        };
        let loaded = {
            let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
            functions
                .get(&deployed.name)
                .is_some_and(|versions| versions.pools.contains_key(&deployed.version))
        };
        let pool = (!loaded).then(|| self.new_pool(prepared));
        (deployed, pool)
    }

    fn make_current(&self, ready: &[(Deployed, Option<Arc<Pool>>, Route)]) {
        let mut functions = self.functions.write().unwrap_or_else(|e| e.into_inner());
        for (deployed, pool, route) in ready {
            let versions = functions.entry(deployed.name.clone()).or_default();
            if let Some(pool) = pool {
                versions
                    .pools
                    .entry(deployed.version.clone())
                    .or_insert_with(|| pool.clone());
            }
            versions.current = Some(route.clone());
        }
    }

    /// Sets (or with `None` removes) the route of function `name`'s plain
    /// name (`alias` `None`) or of one alias, loading every version it
    /// names first; the next call or pin follows it.
    pub fn set_route(
        &self,
        name: &str,
        alias: Option<&str>,
        route: Option<Route>,
    ) -> Result<(), InvokeError> {
        for (version, _) in route.iter().flat_map(Route::entries) {
            self.version_pool(name, version)?;
        }
        self.route_to(name, alias, route);
        Ok(())
    }

    fn route_to(&self, name: &str, alias: Option<&str>, route: Option<Route>) {
        let mut functions = self.functions.write().unwrap_or_else(|e| e.into_inner());
        let versions = functions.entry(name.to_string()).or_default();
        match (alias, route) {
            (None, route) => versions.current = route,
            (Some(alias), Some(route)) => {
                versions.aliases.insert(alias.to_string(), route);
            }
            (Some(alias), None) => {
                versions.aliases.remove(alias);
            }
        }
    }

    /// The route of function `name`'s plain name (`alias` `None`) or of one alias.
    pub fn route(&self, name: &str, alias: Option<&str>) -> Option<Route> {
        let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
        functions.get(name)?.route(alias).cloned()
    }

    /// The aliases of function `name` and their routes.
    pub fn aliases(&self, name: &str) -> BTreeMap<String, Route> {
        let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
        functions
            .get(name)
            .map(|versions| versions.aliases.clone())
            .unwrap_or_default()
    }

    /// Drops the pool of `version` of function `name` (its compiled code and
    /// instances; calls in flight finish) unless the current route or an
    /// alias sends calls to it. A pinned instance that calls it later loads
    /// it again. True when it was unloaded.
    pub fn unload(&self, name: &str, version: &str) -> bool {
        let mut functions = self.functions.write().unwrap_or_else(|e| e.into_inner());
        let Some(versions) = functions.get_mut(name) else {
            return false;
        };
        !versions.routed(version) && versions.pools.remove(version).is_some()
    }

    /// Prepares and installs `spec` in one go.
    pub fn deploy(&self, spec: FunctionSpec) -> Result<Deployed, LoadError> {
        Ok(self.install(self.prepare(spec)?))
    }

    /// Stops offering function `name` to new work, by its name or its
    /// aliases; instances that pinned one of its versions still call it.
    /// False when it is not deployed.
    pub fn remove(&self, name: &str) -> bool {
        let mut functions = self.functions.write().unwrap_or_else(|e| e.into_inner());
        functions.get_mut(name).is_some_and(|versions| {
            versions.aliases.clear();
            versions.current.take().is_some()
        })
    }

    fn new_pool(&self, prepared: PreparedFunction) -> Arc<Pool> {
        let pool = Arc::new(Pool::new(
            self.engine.clone(),
            self.kv.clone(),
            prepared.spec,
            prepared.loaded,
        ));
        pool.warm_up();
        self.reaper.watch(&pool);
        pool
    }

    /// Calls the current version of function `name`; blocks the calling
    /// thread until the call ends.
    ///
    /// A failure of the function (including traps, timeouts and `SYS.Busy`)
    /// is an `Ok(Invocation)` whose `outcome` is `Err`.
    /// `name` may be `function@alias`; a route split between versions
    /// picks one by weight for this call.
    pub fn invoke(&self, name: &str, call: Call) -> Result<Invocation, InvokeError> {
        let pool = self.routed_pool(name)?;
        Ok(pool.invoke(call))
    }

    /// Calls `version` of function `name` (the one its route picks when
    /// `None`), loading it through the version source when this process has
    /// not yet. `name` may be `function@alias`, as workflows pin it.
    pub fn invoke_version(
        &self,
        name: &str,
        version: Option<&str>,
        call: Call,
    ) -> Result<Invocation, InvokeError> {
        let pool = match version {
            Some(version) => self.version_pool(swirl_core::function_ref::split(name).0, version)?,
            None => self.routed_pool(name)?,
        };
        Ok(pool.invoke(call))
    }

    /// The version each of `names` (plain, or `function@alias`) that is
    /// deployed would call now, picked by weight, read at one moment (see
    /// [`FunctionHost::install_routed`]): what a new instance pins.
    pub fn current_versions<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
    ) -> BTreeMap<String, String> {
        let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
        names
            .filter_map(|name| {
                let (function, alias) = swirl_core::function_ref::split(name);
                let version = functions.get(function)?.route(alias)?.pick().to_string();
                Some((name.to_string(), version))
            })
            .collect()
    }

    /// The primary version of function `name`'s current route (see
    /// [`Route::primary`]), if it is deployed.
    pub fn current_version(&self, name: &str) -> Option<String> {
        Some(self.route(name, None)?.primary().to_string())
    }

    /// Makes stored `route` the route of function `name`'s plain name
    /// (`alias` `None`) or of one alias, as after a restart, without loading
    /// its versions: a call loads what it needs, and
    /// [`FunctionHost::load_routed_in_background`] the rest, so that one
    /// function's compile does not hold up the others.
    pub fn restore(&self, name: &str, alias: Option<&str>, route: Route) {
        self.route_to(name, alias, Some(route));
    }

    /// Loads, one after the other on a thread of its own, every version a
    /// route or an alias names that is not loaded yet (after
    /// [`FunctionHost::restore`]); a call of one of them meanwhile loads it
    /// itself, or waits for its compile. A version that cannot be loaded is
    /// logged, and its calls fail naming why.
    pub fn load_routed_in_background(self: &Arc<Self>) -> std::io::Result<()> {
        let pending: Vec<(String, String)> = {
            let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
            functions
                .iter()
                .flat_map(|(name, versions)| {
                    versions
                        .current
                        .iter()
                        .chain(versions.aliases.values())
                        .flat_map(Route::entries)
                        .filter(|(version, _)| !versions.pools.contains_key(version))
                        .map(move |(version, _)| (name.clone(), version.clone()))
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        if pending.is_empty() {
            return Ok(());
        }
        let host = self.clone();
        std::thread::Builder::new()
            .name("swirl-load".into())
            .spawn(move || {
                for (name, version) in pending {
                    if let Err(error) = host.version_pool(&name, &version) {
                        tracing::error!(function = %name, %version, %error, "cannot load a recorded function version; its calls fail until it is deployed again");
                    }
                }
            })
            .map(drop)
    }

    /// The config values of the current version of function `name`; of a
    /// version not loaded yet, from its record, without waiting for its code.
    pub fn config(&self, name: &str) -> Result<BTreeMap<String, String>, InvokeError> {
        match self.route_target(name, None, Route::primary)? {
            (_, Some(pool)) => Ok(pool.config().clone()),
            (version, None) => Ok(self.recorded_spec(name, &version)?.config),
        }
    }

    /// Statistics of each version of function `name` loaded in this process.
    pub fn version_stats(&self, name: &str) -> Vec<FunctionStats> {
        let pools: Vec<Arc<Pool>> = {
            let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
            functions
                .get(name)
                .map(|versions| versions.pools.values().cloned().collect())
                .unwrap_or_default()
        };
        pools.iter().map(|pool| pool.stats()).collect()
    }

    /// Every loaded version that neither a current route nor an alias
    /// sends calls to, as (function, version): what only pinned instances
    /// and calls by version can still reach.
    pub fn unrouted_versions(&self) -> Vec<(String, String)> {
        let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
        functions
            .iter()
            .flat_map(|(name, versions)| {
                versions
                    .pools
                    .keys()
                    .filter(|version| !versions.routed(version))
                    .map(move |version| (name.clone(), version.clone()))
            })
            .collect()
    }

    /// Versions of function `name` loaded in this process, sorted.
    pub fn versions(&self, name: &str) -> Vec<String> {
        let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
        let mut versions: Vec<String> = functions
            .get(name)
            .map(|v| v.pools.keys().cloned().collect())
            .unwrap_or_default();
        versions.sort();
        versions
    }

    /// Statistics of the current version of function `name`: all zero for
    /// a version not loaded yet (after a restart, while it compiles), which
    /// this does not wait for.
    pub fn stats(&self, name: &str) -> Result<FunctionStats, InvokeError> {
        match self.route_target(name, None, Route::primary)? {
            (_, Some(pool)) => Ok(pool.stats()),
            (version, None) => Ok(stats::Stats::default().snapshot(&version, false, 0, 0)),
        }
    }

    /// Names of the deployed functions, sorted.
    pub fn function_names(&self) -> Vec<String> {
        let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = current_names(&functions).cloned().collect();
        names.sort();
        names
    }

    /// The pool one call of `name` (plain, or `function@alias`) goes to.
    fn routed_pool(&self, name: &str) -> Result<Arc<Pool>, InvokeError> {
        let (function, alias) = swirl_core::function_ref::split(name);
        self.resolve(function, alias, Route::pick)
    }

    fn resolve(
        &self,
        name: &str,
        alias: Option<&str>,
        choose: impl Fn(&Route) -> &str,
    ) -> Result<Arc<Pool>, InvokeError> {
        match self.route_target(name, alias, choose)? {
            (_, Some(pool)) => Ok(pool),
            // A version an alias names that this process unloaded, or
            // never loaded (restored after a restart): load it.
            (version, None) => self.version_pool(name, &version),
        }
    }

    /// The version the route of `name` (or of its `alias`) chooses, with
    /// its pool when it is loaded.
    fn route_target(
        &self,
        name: &str,
        alias: Option<&str>,
        choose: impl Fn(&Route) -> &str,
    ) -> Result<(String, Option<Arc<Pool>>), InvokeError> {
        let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
        let versions = functions
            .get(name)
            .filter(|versions| versions.current.is_some())
            .ok_or_else(|| InvokeError::UnknownFunction {
                name: name.to_string(),
                deployed: describe_names(current_names(&functions)),
            })?;
        let route = versions
            .route(alias)
            .ok_or_else(|| InvokeError::UnknownAlias {
                name: name.to_string(),
                alias: alias.unwrap_or_default().to_string(),
                aliases: describe_names(versions.aliases.keys()),
            })?;
        let version = choose(route);
        Ok((version.to_string(), versions.pools.get(version).cloned()))
    }

    fn version_pool(&self, name: &str, version: &str) -> Result<Arc<Pool>, InvokeError> {
        let loaded = || {
            let functions = self.functions.read().unwrap_or_else(|e| e.into_inner());
            functions
                .get(name)
                .and_then(|v| v.pools.get(version))
                .cloned()
        };
        if let Some(pool) = loaded() {
            return Ok(pool);
        }
        // A load under way (the background load after a restart, another
        // call's) is waited for rather than done twice.
        self.engine.one_at_a_time(&format!("{name}@{version}"), || {
            if let Some(pool) = loaded() {
                return Ok(pool);
            }
            let spec = self.recorded_spec(name, version)?;
            let mut prepared = self
                .prepare(spec)
                .map_err(|error| InvokeError::UnknownVersion {
                    name: name.to_string(),
                    version: version.to_string(),
                    reason: error.to_string(),
                })?;
            // Stored under the version it was pinned as, even if this
            // build of swirl would hash it differently.
            prepared.loaded.version = version.to_string();
            // Made (and warmed up) outside the lock that every call takes.
            let pool = self.new_pool(prepared);
            let mut functions = self.functions.write().unwrap_or_else(|e| e.into_inner());
            let versions = functions.entry(name.to_string()).or_default();
            Ok(versions
                .pools
                .entry(version.to_string())
                .or_insert(pool)
                .clone())
        })
    }

    /// The spec of a version, from the version source.
    fn recorded_spec(&self, name: &str, version: &str) -> Result<FunctionSpec, InvokeError> {
        let source = self
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        source
            .and_then(|source| source.spec(name, version))
            .ok_or_else(|| InvokeError::UnknownVersion {
                name: name.to_string(),
                version: version.to_string(),
                reason: "no deployment record holds it".to_string(),
            })
    }
}

fn current_names(functions: &HashMap<String, Versions>) -> impl Iterator<Item = &String> {
    functions
        .iter()
        .filter(|(_, versions)| versions.current.is_some())
        .map(|(name, _)| name)
}

/// A function version: the code's content hash with the limits and config it
/// runs under, so that a changed config is a new version too.
fn function_version(code_version: &str, spec: &FunctionSpec) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(code_version.as_bytes());
    hasher.update(format!("{:?}", spec.limits).as_bytes());
    for (key, value) in &spec.config {
        hasher.update((key.len() as u64).to_le_bytes());
        hasher.update(key.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

fn describe_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        return "none".to_string();
    }
    names.sort_unstable();
    names.join(", ")
}
