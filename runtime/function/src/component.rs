//! Turning a function's bytes into linked, checked code: compile or load from
//! the code cache, check the component implements the `function` world, and
//! pre-link it once so every instantiation only allocates.

use std::path::PathBuf;
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::engine::{CompileProgress, WasmEngine};
use super::host_api::{FunctionPre, HostState};
use super::{ComponentBytes, FunctionSpec};

/// Why a function's code cannot be deployed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "{path}: not a WebAssembly component ({what}); build functions for wasm32-wasip2, e.g. `cargo build --target wasm32-wasip2 --release`"
    )]
    NotAComponent { path: PathBuf, what: &'static str },
    #[error("{path}: does not implement the swirl:function world: {problem}")]
    WrongWorld { path: PathBuf, problem: String },
    #[error("{path}: cannot read the component: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot compile the component: {message}")]
    Compile { path: PathBuf, message: String },
    #[error("code cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the component is larger than this host allows: {problem}")]
    OverHostLimits { path: PathBuf, problem: String },
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error(
        "function '{name}': memory limit of {requested} bytes is above the host's maximum of {maximum} bytes"
    )]
    MemoryAboveMaximum {
        name: String,
        requested: u64,
        maximum: u64,
    },
}

impl LoadError {
    pub(crate) fn engine(error: wasmtime::Error) -> Self {
        LoadError::Engine(format!("{error:#}"))
    }
}

/// A function's code, compiled, checked and linked.
pub(crate) struct LoadedComponent {
    pub pre: FunctionPre<HostState>,
    /// Short content hash of the component bytes.
    pub version: String,
    pub from_cache: bool,
}

/// Interfaces a function may import besides WASI.
const SWIRL_IMPORTS: [&str; 3] = [
    "swirl:function/types@0.1.0",
    "swirl:function/host@0.1.0",
    "swirl:function/kv@0.1.0",
];

impl LoadedComponent {
    pub fn load(engine: &WasmEngine, spec: &FunctionSpec) -> Result<Self, LoadError> {
        if spec.limits.memory > engine.config.max_function_memory {
            return Err(LoadError::MemoryAboveMaximum {
                name: spec.name.clone(),
                requested: spec.limits.memory,
                maximum: engine.config.max_function_memory,
            });
        }
        check_header(spec)?;
        // Hashing is most of a restart's cost for a large component: a file
        // seen unchanged before has its hash remembered in the cache.
        let remembered = spec.content_hash.clone().or_else(|| {
            spec.source_stamp
                .and_then(|stamp| engine.cache.known_hash(&stamp))
        });
        let content_hash = match remembered {
            Some(hash) => hash,
            None => {
                let hash = hex(&Sha256::digest(read(spec)?.as_slice()));
                if let Some(stamp) = &spec.source_stamp {
                    engine.cache.remember_hash(stamp, &hash);
                }
                hash
            }
        };
        let entry = engine.cache.entry_path(&engine.engine, &content_hash);
        let (component, from_cache) = match engine.cache.load(&engine.engine, &entry) {
            Some(component) => (component, true),
            None => engine.one_at_a_time(&content_hash, || {
                // Whoever compiled it while this thread waited left it here.
                match engine.cache.load(&engine.engine, &entry) {
                    Some(component) => Ok((component, true)),
                    None => compile(engine, spec, &entry).map(|component| (component, false)),
                }
            })?,
        };
        check_world(engine, &component, spec)?;
        let wrong_world = |error: wasmtime::Error| LoadError::WrongWorld {
            path: spec.source.clone(),
            problem: format!("{error:#}"),
        };
        let extended = super::sandbox::linker_for(&engine.engine, &engine.linker, &component)
            .map_err(wrong_world)?;
        let instance_pre = extended
            .as_ref()
            .unwrap_or(&engine.linker)
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = FunctionPre::new(instance_pre).map_err(wrong_world)?;
        Ok(LoadedComponent {
            pre,
            version: content_hash[..12].to_string(),
            from_cache,
        })
    }
}

/// Compiles `spec`'s component and stores the code at `entry` of the code
/// cache, telling [`super::HostConfig::on_compile`] when it is large.
fn compile(
    engine: &WasmEngine,
    spec: &FunctionSpec,
    entry: &std::path::Path,
) -> Result<Component, LoadError> {
    let wasm = read(spec)?;
    let bytes = wasm.len();
    let report = |progress: CompileProgress| {
        if let Some(on_compile) = &engine.config.on_compile
            && bytes >= CompileProgress::REPORTED_BYTES
        {
            on_compile(&progress);
        }
    };
    let function = spec.name.clone();
    report(CompileProgress::Started {
        function: function.clone(),
        bytes,
    });
    if bytes >= CompileProgress::REPORTED_BYTES {
        // Lets a test act while a large compile is under way.
        swirl_core::failpoint::hold("compile");
    }
    let started = Instant::now();
    let code = engine
        .engine
        .precompile_component(&wasm)
        .map_err(|error| LoadError::Compile {
            path: spec.source.clone(),
            message: format!("{error:#}"),
        })?;
    engine.cache.store(entry, &code)?;
    // SAFETY: `code` was produced just now by this engine's
    // `precompile_component`.
    let component = unsafe { Component::deserialize(&engine.engine, &code) }
        .map_err(|error| over_limits_or_engine(spec, error))?;
    report(CompileProgress::Finished {
        function,
        bytes,
        took: started.elapsed(),
    });
    Ok(component)
}

/// The pooling allocator checks a component against its per-component
/// maximums when the component is deserialized; a component over one is the
/// function's problem, named as such, not the engine's.
fn over_limits_or_engine(spec: &FunctionSpec, error: wasmtime::Error) -> LoadError {
    let message = format!("{error:#}");
    if message.contains("pooling allocator") {
        LoadError::OverHostLimits {
            path: spec.source.clone(),
            problem: message,
        }
    } else {
        LoadError::engine(error)
    }
}

/// The component's bytes, read now if they are in a file.
fn read(spec: &FunctionSpec) -> Result<std::sync::Arc<Vec<u8>>, LoadError> {
    spec.wasm.read().map_err(|source| read_error(spec, source))
}

fn read_error(spec: &FunctionSpec, source: std::io::Error) -> LoadError {
    let path = match &spec.wasm {
        ComponentBytes::File(path) => path.clone(),
        ComponentBytes::Memory(_) => spec.source.clone(),
    };
    LoadError::Read { path, source }
}

/// Tells core modules and other files from components before compiling, for a precise message.
fn check_header(spec: &FunctionSpec) -> Result<(), LoadError> {
    let not_a_component = |what| LoadError::NotAComponent {
        path: spec.source.clone(),
        what,
    };
    let prefix = spec
        .wasm
        .prefix::<8>()
        .map_err(|source| read_error(spec, source))?;
    match prefix.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 0x01, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', 0x01, 0, 0, 0]) => Err(not_a_component("it is a core module")),
        Some([0, b'a', b's', b'm', ..]) => Err(not_a_component("unknown WebAssembly version")),
        _ => Err(not_a_component(
            "it does not start with the WebAssembly magic bytes",
        )),
    }
}

/// Names the import or export that keeps a component from being a swirl function.
fn check_world(
    engine: &WasmEngine,
    component: &Component,
    spec: &FunctionSpec,
) -> Result<(), LoadError> {
    let wrong_world = |problem: String| LoadError::WrongWorld {
        path: spec.source.clone(),
        problem,
    };
    let ty = component.component_type();
    for (name, _) in ty.imports(&engine.engine) {
        if !(name.starts_with("wasi:") || SWIRL_IMPORTS.contains(&name)) {
            return Err(wrong_world(format!(
                "it imports '{name}', which swirl does not provide; functions may import only {} and wasi:*@0.2",
                SWIRL_IMPORTS[1..].join(", ")
            )));
        }
    }
    let exports: Vec<(String, bool)> = ty
        .exports(&engine.engine)
        .map(|(name, item)| {
            (
                name.to_string(),
                matches!(item.ty, ComponentItem::ComponentFunc(_)),
            )
        })
        .collect();
    if !exports
        .iter()
        .any(|(name, is_func)| name == "handle" && *is_func)
    {
        let found = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(wrong_world(format!(
            "it does not export the function 'handle' (it exports {found}); write it with swirl-guest or against wit/function.wit"
        )));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
