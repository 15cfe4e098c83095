//! The one wasmtime `Engine` of a host, narrowed to what swirl uses:
//! components, the pooling allocator, epoch interruption, and a linker that
//! offers WASI (with nothing granted) plus swirl's `host` and `kv` imports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::CodeCache;
use super::component::LoadError;
use super::host_api::HostState;

/// How often the engine's epoch advances; a timeout fires at most one tick late.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Bytes of dirtied memory (and of table) a slot resets in place rather than
/// returning to the kernel, when the kernel can say which pages are dirty.
const KEEP_RESIDENT_WITH_PAGEMAP: usize = 1024 * 1024;

/// Settings of a host, shared by all its functions.
#[derive(Clone)]
pub struct HostConfig {
    /// Where compiled code is cached, keyed by content and engine.
    pub cache_dir: PathBuf,
    /// Component instances alive at once across all functions.
    pub max_live_instances: u32,
    /// The largest `memory` any function may ask for, in bytes.
    pub max_function_memory: u64,
    /// Core module instances one component may hold; a component with
    /// more is refused when it loads. componentize-py's CPython built with
    /// `--stub-wasi` holds 38.
    pub max_core_instances_per_component: u32,
    /// Told when a compile of a component of at least
    /// [`CompileProgress::REPORTED_BYTES`] starts and ends, so that whoever
    /// waits the seconds it takes sees why; loads from the code cache are
    /// not reported.
    pub on_compile: Option<OnCompile>,
}

/// What [`HostConfig::on_compile`] calls.
pub type OnCompile = Arc<dyn Fn(&CompileProgress) + Send + Sync>;

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("cache_dir", &self.cache_dir)
            .field("max_live_instances", &self.max_live_instances)
            .field("max_function_memory", &self.max_function_memory)
            .field(
                "max_core_instances_per_component",
                &self.max_core_instances_per_component,
            )
            .field("on_compile", &self.on_compile.is_some())
            .finish()
    }
}

/// A compile of a function's component starting or ending; its `Display`
/// is the line a command prints.
#[derive(Debug, Clone, PartialEq)]
pub enum CompileProgress {
    Started {
        function: String,
        bytes: usize,
    },
    Finished {
        function: String,
        bytes: usize,
        took: Duration,
    },
}

impl CompileProgress {
    /// Smaller components compile in about a second at most and are not
    /// reported; componentize-py's and componentize-js's are 12–40 MB and
    /// take several.
    pub const REPORTED_BYTES: usize = 1024 * 1024;
}

impl std::fmt::Display for CompileProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let megabytes = |bytes: usize| bytes as f64 / 1e6;
        match self {
            CompileProgress::Started { function, bytes } => write!(
                f,
                "compiling function {function} ({:.1} MB); this takes a few seconds once, then the code cache has it",
                megabytes(*bytes)
            ),
            CompileProgress::Finished {
                function,
                bytes,
                took,
            } => write!(
                f,
                "compiled function {function} ({:.1} MB) in {:.1} s (stored in the code cache)",
                megabytes(*bytes),
                took.as_secs_f64()
            ),
        }
    }
}

impl HostConfig {
    /// Defaults with the code cache in `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            cache_dir: cache_dir.into(),
            max_live_instances: 1000,
            max_function_memory: 4 * 1024 * 1024 * 1024,
            max_core_instances_per_component: 64,
            on_compile: None,
        }
    }
}

/// The engine, its linker and code cache, and the thread that ticks epochs.
pub(crate) struct WasmEngine {
    pub engine: Engine,
    pub linker: Linker<HostState>,
    pub cache: CodeCache,
    pub config: HostConfig,
    /// The empty directory every guest sees as `/`.
    pub empty_root: Arc<Path>,
    /// One lock per piece of work under way that others must wait for
    /// rather than repeat: a compile, by content hash (a deployment and a
    /// restored version's first call compile the same code once, the other
    /// then finds it in the cache), and a version's load, by `name@version`.
    under_way: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    ticker_stop: Arc<AtomicBool>,
}

impl WasmEngine {
    pub fn new(config: HostConfig) -> Result<Self, LoadError> {
        let engine = Engine::new(&engine_config(&config)).map_err(LoadError::engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(LoadError::engine)?;
        super::sandbox::add_to_linker(&mut linker).map_err(LoadError::engine)?;
        super::host_api::add_to_linker(&mut linker).map_err(LoadError::engine)?;
        let cache = CodeCache::open(&config.cache_dir)?;
        let empty_root: Arc<Path> = config.cache_dir.join("empty-root").into();
        super::sandbox::make_empty_root(&empty_root).map_err(|source| LoadError::Cache {
            path: empty_root.to_path_buf(),
            source,
        })?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), ticker_stop.clone())
            .map_err(|error| LoadError::engine(error.into()))?;
        Ok(WasmEngine {
            engine,
            linker,
            cache,
            config,
            empty_root,
            under_way: Mutex::default(),
            ticker_stop,
        })
    }

    /// Runs `work` while no other thread runs work for the same `key`.
    pub fn one_at_a_time<T>(&self, key: &str, work: impl FnOnce() -> T) -> T {
        let turn = self
            .under_way
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone();
        let result = {
            let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
            work()
        };
        let mut under_way = self.under_way.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map and this thread hold it: nobody waits, forget it.
        if Arc::strong_count(&turn) == 2 {
            under_way.remove(key);
        }
        result
    }

    /// Epoch ticks that make up `timeout`, rounded up so a call gets at least its timeout.
    pub fn ticks_for(timeout: Duration) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        (timeout.as_nanos().div_ceil(tick) as u64).max(1) + 1
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn engine_config(host: &HostConfig) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Timeouts interrupt guests through epochs: a counter check at loop heads,
    // far cheaper than fuel metering on every instruction.
    config.epoch_interruption(true);

    let instances = host.max_live_instances;
    let mut pooling = PoolingAllocationConfig::default();
    pooling.total_component_instances(instances);
    // A Rust wasm32-wasip2 component instantiates a few core instances (the
    // program plus the adapter shims wit-component adds), one memory and a
    // few tables. componentize-py links CPython dynamically from a dozen
    // or more core modules. A component over a per-component maximum is
    // refused when it loads.
    pooling.total_core_instances(instances.saturating_mul(16));
    pooling.total_memories(instances.saturating_mul(2));
    pooling.total_tables(instances.saturating_mul(4));
    pooling.max_core_instances_per_component(host.max_core_instances_per_component);
    pooling.max_memories_per_component(4);
    pooling.max_tables_per_component(8);
    // Slots are reserved up front; a per-function limiter then enforces each
    // function's own `memory`, which may not exceed this.
    pooling.max_memory_size(host.max_function_memory as usize);
    // Keeping memory resident per slot lets a fresh instance reuse pages
    // instead of faulting them in again, which is most of what makes
    // `instance-mode = "fresh"` cheap. Where the kernel has PAGEMAP_SCAN
    // (Linux 6.7+), only the pages an instance dirtied are reset, so a
    // generous bound costs nothing per call and spares the `madvise` and the
    // page faults; without it the whole bound is `memset` on every reset,
    // so it stays small.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pooling.pagemap_scan(Enabled::Yes);
        pooling.linear_memory_keep_resident(KEEP_RESIDENT_WITH_PAGEMAP);
        pooling.table_keep_resident(KEEP_RESIDENT_WITH_PAGEMAP);
    } else {
        pooling.linear_memory_keep_resident(64 * 1024);
        pooling.table_keep_resident(16 * 1024);
    }
    // Calls run synchronously on the caller's thread, never on fibers, so the
    // pool needs no async stacks; reserving wasmtime's default of 1,000
    // (one guard-page `mprotect` each) was half of what starting a host cost.
    pooling.total_stacks(0);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    config
}

fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("swirl-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
}
