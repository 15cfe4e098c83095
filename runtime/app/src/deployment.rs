//! The apps a server runs, kept durably: a deployment is checked whole
//! (manifest, components, workflow files) before anything changes, then its
//! files and versions are recorded in the store, then its functions become
//! the current versions in the host and its workflows in the engine.
//!
//! ```text
//!  manifest + files ──check all──▶ store: files, version records, current pointers (one transaction)
//!                                   └──▶ host.install (new function versions), engine.activate
//!  restart ──restore──▶ current routes from the store; their versions load in the
//!                       background, older ones when a pinned instance calls them (StoredVersions)
//! ```
//!
//! A deployment adds or replaces; it never removes what an earlier
//! deployment of the same app had. Deletes are explicit and refused while
//! a workflow still calls the function.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::invoker::OutboundHosts;
use crate::manifest::Manifest;
use swirl_engine::{Engine, EngineError};
use swirl_function::{
    ComponentBytes, FunctionHost, FunctionSpec, PreparedFunction, Route, VersionSource,
};
use swirl_store::apps::DeploymentWrite;
use swirl_store::{Store, StoreError};
use swirl_workflow::{self as workflow, KnownFunctions};

/// Why a deployment or a delete did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Every problem found, each naming its file, line and key; nothing changed.
    #[error("the deployment is invalid and nothing was deployed: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("no {kind} named '{name}' is deployed; deployed: {deployed}")]
    NotFound {
        kind: &'static str,
        name: String,
        deployed: String,
    },
    #[error("function '{name}' is still called by workflows {workflows}; delete them first")]
    InUse { name: String, workflows: String },
    /// A version, alias or rollback refused for what it would break; the
    /// message names who still uses it.
    #[error("{0}")]
    Conflict(String),
    /// A request that names something wrongly (a version, a weight, an alias name).
    #[error("{0}")]
    BadInput(String),
    /// A version or an alias that does not exist; the message lists those that do.
    #[error("{0}")]
    Missing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a deployment did to one function or workflow.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeployedItem {
    /// Function name or workflow id.
    pub name: String,
    pub version: String,
    /// A function version's number (1, 2, 3, ... in deploy order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// `new` when this deployment made the version current, `unchanged` when
    /// it already was, `canary` when it takes a share of the calls only.
    pub status: &'static str,
}

impl std::fmt::Display for DeployedItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{} ({})", self.name, self.version, self.status)
    }
}

/// Deployed items for a log line: `greet@1a2b (new), hello@3c4d (unchanged)`.
pub fn items_line(items: &[DeployedItem]) -> String {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    items.join(", ")
}

/// What a deployment deployed.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub app: String,
    pub functions: Vec<DeployedItem>,
    pub workflows: Vec<DeployedItem>,
    /// The app's `[[sinks]]` urls, which replace those of its earlier deployment.
    pub sinks: Vec<String>,
    /// The same sinks, for the server to start delivering to.
    #[serde(skip)]
    pub sink_manifests: Vec<crate::manifest::SinkManifest>,
}

/// The record of an app's latest deployment (`apps` tree).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AppRecord {
    /// Blob of the manifest text.
    pub(crate) manifest: String,
    /// The manifest's file name, to locate messages.
    manifest_file: String,
    /// Each file the manifest names, by its path relative to the manifest, → blob.
    pub(crate) files: BTreeMap<String, String>,
    /// The ids of the app's workflows (none in records written before
    /// they were kept: those apps' `[retention]` applies after a deploy).
    #[serde(default)]
    workflows: Vec<String>,
}

/// What a function version is loaded from (`function_versions` tree).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionRecord {
    /// Blob of the manifest text that gave its limits and config.
    pub(crate) manifest: String,
    manifest_file: String,
    /// Blob of the component.
    pub(crate) wasm: String,
    /// The version's number among its function's versions, from 1 in
    /// deploy order; 0 in records written before numbers existed, which
    /// [`Deployments::restore`] numbers.
    #[serde(default)]
    pub(crate) number: u32,
    /// When it was first deployed, Unix milliseconds (0: not known).
    #[serde(default)]
    pub(crate) deployed_ms: u64,
}

/// A function compiled and checked for a deployment, with its component's
/// bytes (to store) and the path the manifest names it by.
type Prepared = (PreparedFunction, Arc<Vec<u8>>, PathBuf);

/// Deploys, restores and deletes the apps of one store. Cheap to clone.
#[derive(Clone)]
pub struct Deployments {
    pub(crate) store: Store,
    pub(crate) host: Arc<FunctionHost>,
    pub(crate) engine: Engine,
    /// One deployment, route change or delete at a time, so checks and
    /// writes do not interleave.
    pub(crate) lock: Arc<Mutex<()>>,
    /// Workflow id → how long its finished instances are kept, for those
    /// whose app's manifest says (`[retention]`).
    retention: Arc<RwLock<HashMap<String, Duration>>>,
    /// Workflow id → the hosts its calls may reach, which the engine's
    /// invoker reads.
    outbound: Arc<OutboundHosts>,
}

impl Deployments {
    /// Deployments over `store`; older function versions are loaded from it
    /// from now on.
    pub fn new(
        store: Store,
        host: Arc<FunctionHost>,
        engine: Engine,
        outbound: Arc<OutboundHosts>,
    ) -> Self {
        host.set_version_source(Arc::new(StoredVersions {
            store: store.clone(),
        }));
        Deployments {
            store,
            host,
            engine,
            lock: Arc::default(),
            retention: Arc::default(),
            outbound,
        }
    }

    /// Reads and checks the manifest at `path`; its problems as [`DeployError::Invalid`].
    pub fn load_manifest(path: &Path) -> Result<Manifest, DeployError> {
        Manifest::load(path).map_err(|errors| {
            DeployError::Invalid(errors.0.iter().map(ToString::to_string).collect())
        })
    }

    /// Runs `work` while no deployment, delete, alias change or rollback
    /// writes: a backup is then consistent with the deployments too.
    pub fn exclusive<T>(&self, work: impl FnOnce() -> T) -> T {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        work()
    }

    /// Makes what the store recorded current again (after a restart).
    /// Returns the manifests of the recorded apps (their sinks) and the
    /// problems of what could not be restored, which stays undeployed.
    pub fn restore(&self) -> Result<(Vec<Manifest>, Vec<String>), DeployError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut problems = Vec::new();
        for (name, route) in self.store.current_functions()? {
            if let Err(error) = self.number_unnumbered(&name) {
                problems.push(format!("function '{name}': {error}"));
            }
            match Route::parse(&route) {
                Ok(route) => self.host.restore(&name, None, route),
                Err(error) => problems.push(format!("function '{name}': {error}")),
            }
        }
        problems.extend(self.restore_aliases()?);
        // Compiling a large component takes seconds (all of them, after
        // an upgrade of swirl): the server serves meanwhile.
        if let Err(error) = self.host.load_routed_in_background() {
            problems.push(format!(
                "cannot start loading the recorded functions ({error}); each loads on its first call"
            ));
        }
        let mut manifests = Vec::new();
        for (name, record) in self.store.apps()? {
            match self.stored_manifest(&record) {
                Ok((manifest, workflows)) => {
                    self.keep_settings(&manifest, &workflows);
                    manifests.push(manifest);
                }
                Err(problem) => problems.push(format!("app '{name}': {problem}")),
            }
        }
        // Secrets are read again from where the manifests say, before the
        // workflows that read them load.
        for manifest in &manifests {
            match manifest.read_secrets() {
                Ok(values) => self.engine.add_secrets(values),
                Err(mut missing) => problems.append(&mut missing),
            }
        }
        for (id, version) in self.store.current_workflows()? {
            if let Err(error) = self.engine.activate(&version) {
                problems.push(format!("workflow '{id}' version {version}: {error}"));
            }
        }
        Ok((manifests, problems))
    }

    /// A recorded app's manifest, and the ids of its workflows.
    fn stored_manifest(&self, record: &[u8]) -> Result<(Manifest, Vec<String>), String> {
        let record: AppRecord = serde_json::from_slice(record).map_err(|e| e.to_string())?;
        let manifest = manifest_from_blob(&self.store, &record.manifest, &record.manifest_file)?;
        Ok((manifest, record.workflows))
    }

    /// How long workflow `id`'s finished instances are kept, when its
    /// app's manifest says; `None`: the server's default.
    pub fn instance_retention(&self, id: &str) -> Option<Duration> {
        let retention = self.retention.read().unwrap_or_else(|e| e.into_inner());
        retention.get(id).copied()
    }

    /// The shortest retention an app's manifest gives, if any does.
    pub fn shortest_instance_retention(&self) -> Option<Duration> {
        let retention = self.retention.read().unwrap_or_else(|e| e.into_inner());
        retention.values().min().copied()
    }

    /// Takes in what `manifest` says of `workflows`, its app's: how long
    /// their finished instances are kept, and which hosts they may call.
    fn keep_settings(&self, manifest: &Manifest, workflows: &[String]) {
        self.outbound
            .keep(&manifest.allowed_outbound_hosts, workflows);
        let mut retention = self.retention.write().unwrap_or_else(|e| e.into_inner());
        for id in workflows {
            match manifest.retention.of(id) {
                Some(kept) => retention.insert(id.clone(), kept),
                None => retention.remove(id),
            };
        }
    }

    /// Checks everything `manifest` names, then records and deploys it
    /// whole; on any problem nothing changes.
    pub fn deploy(&self, manifest: &Manifest) -> Result<DeployReport, DeployError> {
        self.deploy_canary(manifest, None)
    }

    /// Like [`Deployments::deploy`]; with `canary`, each function whose
    /// version changes takes that percentage (1 to 99) of its calls while
    /// the rest stays with the version that had most of them.
    pub fn deploy_canary(
        &self,
        manifest: &Manifest,
        canary: Option<u32>,
    ) -> Result<DeployReport, DeployError> {
        if let Some(percent) = canary.filter(|percent| !(1..100).contains(percent)) {
            return Err(DeployError::BadInput(format!(
                "a canary takes a whole percentage from 1 to 99 of the calls, not {percent}; deploy without one to give the new versions all calls"
            )));
        }
        let manifest_text = std::fs::read(&manifest.path).map_err(|error| {
            DeployError::Invalid(vec![format!(
                "{}: error: cannot read the manifest: {error}",
                manifest.path.display()
            )])
        })?;
        // Compiling takes seconds for a large component: done before the
        // lock, so that other deployments (and the routes and deletes the
        // lock orders) go on meanwhile. It touches only the code cache.
        let (functions, problems) = self.prepare_functions(manifest);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let report = self.deploy_locked(manifest, &manifest_text, functions, problems, canary)?;
        self.sweep_locked();
        Ok(report)
    }

    /// Compiles (or loads from the code cache) and checks each function
    /// of `manifest`; what was prepared, and the problems.
    fn prepare_functions(&self, manifest: &Manifest) -> (Vec<Prepared>, Vec<String>) {
        let mut problems = Vec::new();
        let mut functions = Vec::new();
        for function in manifest.functions.values() {
            let spec = match function.spec() {
                Ok(spec) => spec,
                Err(error) => {
                    problems.push(error.to_string());
                    continue;
                }
            };
            // In memory: the manifest read it (a copy of the Arc).
            let wasm = match spec.wasm.read() {
                Ok(wasm) => wasm,
                Err(error) => {
                    problems.push(
                        function
                            .source_location
                            .error(error.to_string())
                            .to_string(),
                    );
                    continue;
                }
            };
            match self.host.prepare(spec) {
                Ok(prepared) => functions.push((prepared, wasm, function.source.clone())),
                Err(error) => problems.push(
                    function
                        .source_location
                        .error(error.to_string())
                        .to_string(),
                ),
            }
        }
        (functions, problems)
    }

    fn deploy_locked(
        &self,
        manifest: &Manifest,
        manifest_text: &[u8],
        functions: Vec<Prepared>,
        mut problems: Vec<String>,
        canary: Option<u32>,
    ) -> Result<DeployReport, DeployError> {
        let known: HashSet<String> = manifest.functions.keys().cloned().collect();
        // Read before the workflows load: their `$secrets` is made at load.
        match manifest.read_secrets() {
            Ok(values) => self.engine.add_secrets(values),
            Err(mut missing) => problems.append(&mut missing),
        }
        let mut workflows = Vec::new();
        for path in &manifest.workflows {
            let file_name = path.file_name().and_then(|n| n.to_str());
            let prepared = workflow::read_source(path).and_then(|text| {
                self.engine
                    .prepare(&text, file_name, KnownFunctions::Set(&known))
                    .map(|workflow| (workflow, text))
                    .map_err(|error| match error {
                        EngineError::Definition(diagnostics) => diagnostics,
                        other => crate::app::single_diagnostic(other.to_string()),
                    })
            });
            match prepared {
                Ok((workflow, text)) => {
                    let missing = manifest.missing_secrets(&workflow.definition);
                    if missing.is_empty() {
                        workflows.push((workflow, text, path.clone()));
                    }
                    problems.extend(
                        missing
                            .into_iter()
                            .map(|m| format!("{}: error: {m}", path.display())),
                    );
                }
                Err(diagnostics) => problems.extend(
                    diagnostics
                        .0
                        .iter()
                        .map(|diagnostic| format!("{}:{diagnostic}", path.display())),
                ),
            }
        }
        let ids: Vec<String> = workflows
            .iter()
            .map(|(workflow, _, _)| workflow.id().to_string())
            .collect();
        // Only when every workflow loaded: one that did not has no id.
        if workflows.len() == manifest.workflows.len() {
            problems.extend(
                manifest
                    .retention
                    .unknown_workflows(&ids)
                    .iter()
                    .map(ToString::to_string),
            );
        }
        if !problems.is_empty() {
            return Err(DeployError::Invalid(problems));
        }

        let manifest_file = manifest
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "swirl.toml".to_string());
        let manifest_blob = self.store.put_blob(manifest_text)?;
        let relative = |path: &Path| {
            path.strip_prefix(manifest.dir())
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned()
        };
        let mut write = DeploymentWrite::default();
        let mut files = BTreeMap::new();
        let mut routes = Vec::new();
        let mut numbers = BTreeMap::new();
        let now = swirl_core::time::now_ms();
        for (prepared, wasm, source) in &functions {
            let wasm_blob = self.store.put_blob(wasm)?;
            files.insert(relative(source), wasm_blob.clone());
            let (number, deployed_ms) =
                self.number_for(prepared.name(), prepared.version(), now)?;
            numbers.insert(prepared.name().to_string(), number);
            let record = FunctionRecord {
                manifest: manifest_blob.clone(),
                manifest_file: manifest_file.clone(),
                wasm: wasm_blob,
                number,
                deployed_ms,
            };
            write.function_versions.push((
                prepared.name().to_string(),
                prepared.version().to_string(),
                serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
                    key: prepared.name().to_string(),
                    reason: e.to_string(),
                })?,
            ));
            let before = self.host.route(prepared.name(), None);
            let route = Route::deployed(before.as_ref(), prepared.version(), canary);
            write
                .current_functions
                .push((prepared.name().to_string(), route.record()));
            routes.push(route);
        }
        for (workflow, text, path) in &workflows {
            files.insert(relative(path), self.store.put_blob(text.as_bytes())?);
            write
                .current_workflows
                .push((workflow.id().to_string(), workflow.version.clone()));
        }
        let app = AppRecord {
            manifest: manifest_blob,
            manifest_file,
            files,
            workflows: ids.clone(),
        };
        write.app = Some((
            manifest.app_name.clone(),
            serde_json::to_vec(&app).map_err(|e| StoreError::Corrupt {
                key: manifest.app_name.clone(),
                reason: e.to_string(),
            })?,
        ));
        self.store.commit_deployment(&write)?;
        self.keep_settings(manifest, &ids);

        let mut report = DeployReport {
            app: manifest.app_name.clone(),
            functions: Vec::new(),
            workflows: Vec::new(),
            sinks: manifest.sinks.iter().map(|sink| sink.url.clone()).collect(),
            sink_manifests: manifest.sinks.clone(),
        };
        let before: BTreeMap<String, Option<String>> = functions
            .iter()
            .map(|(prepared, _, _)| {
                let name = prepared.name().to_string();
                let version = self.host.current_version(&name);
                (name, version)
            })
            .collect();
        let prepared = functions.into_iter().map(|(prepared, _, _)| prepared);
        for (deployed, route) in self
            .host
            .install_routed(prepared.zip(routes.iter().cloned()).collect())
            .into_iter()
            .zip(routes)
        {
            let before = before.get(&deployed.name).cloned().flatten();
            let mut item = item(deployed.name, deployed.version, before);
            if item.status == "new" && route.primary() != item.version {
                item.status = "canary";
            }
            item.number = numbers.get(&item.name).copied();
            report.functions.push(item);
        }
        let current = self.engine.workflows();
        for (workflow, _, _) in workflows {
            let before = current.get(workflow.id()).map(|w| w.version.clone());
            self.engine.activate(&workflow.version)?;
            report.workflows.push(item(
                workflow.id().to_string(),
                workflow.version.clone(),
                before,
            ));
        }
        Ok(report)
    }

    /// Deletes function `name`, refused while a workflow calls it. Instances
    /// that pinned one of its versions still call that version.
    pub fn delete_function(&self, name: &str) -> Result<(), DeployError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.host.current_version(name).is_none() {
            return Err(DeployError::NotFound {
                kind: "function",
                name: name.to_string(),
                deployed: list(self.host.function_names()),
            });
        }
        let users = self.workflows_calling(|r| swirl_core::function_ref::split(r).0 == name);
        if !users.is_empty() {
            return Err(DeployError::InUse {
                name: name.to_string(),
                workflows: list(users),
            });
        }
        self.store.remove_function(name)?;
        self.host.remove(name);
        self.sweep_locked();
        Ok(())
    }

    /// Deletes workflow `id`: no new instances, by call or by event; running
    /// ones finish on their version.
    pub fn delete_workflow(&self, id: &str) -> Result<(), DeployError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if !self.engine.workflows().contains_key(id) {
            return Err(DeployError::NotFound {
                kind: "workflow",
                name: id.to_string(),
                deployed: list(self.engine.workflow_ids()),
            });
        }
        self.store.remove_workflow(id)?;
        self.engine.unregister(id);
        Ok(())
    }
}

fn item(name: String, version: String, before: Option<String>) -> DeployedItem {
    let status = if before.as_deref() == Some(version.as_str()) {
        "unchanged"
    } else {
        "new"
    };
    DeployedItem {
        name,
        version,
        number: None,
        status,
    }
}

pub(crate) fn list(names: Vec<String>) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn manifest_from_blob(store: &Store, blob: &str, file: &str) -> Result<Manifest, String> {
    let text = store
        .blob(blob)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the manifest blob {blob} is missing"))?;
    let text = String::from_utf8(text).map_err(|e| e.to_string())?;
    Manifest::parse(Path::new(file), &text).map_err(|errors| errors.to_string())
}

/// Loads function versions from their deployment records.
struct StoredVersions {
    store: Store,
}

impl StoredVersions {
    fn load(&self, name: &str, version: &str) -> Result<FunctionSpec, String> {
        let record = self
            .store
            .function_version(name, version)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no deployment recorded it".to_string())?;
        let record: FunctionRecord = serde_json::from_slice(&record).map_err(|e| e.to_string())?;
        let manifest = manifest_from_blob(&self.store, &record.manifest, &record.manifest_file)?;
        let function = manifest
            .functions
            .get(name)
            .ok_or_else(|| "its manifest no longer names it".to_string())?;
        // Read only if the code cache has no code for it.
        let wasm = self
            .store
            .blob_path(&record.wasm)
            .map_err(|e| e.to_string())?;
        if !wasm.exists() {
            return Err(format!("the component blob {} is missing", record.wasm));
        }
        Ok(FunctionSpec {
            name: name.to_string(),
            source: function.source.clone(),
            wasm: ComponentBytes::File(wasm),
            source_stamp: None,
            // Blobs are stored under the SHA-256 of their bytes.
            content_hash: Some(record.wasm),
            limits: function.limits.clone(),
            config: function.config.clone(),
        })
    }
}

impl VersionSource for StoredVersions {
    fn spec(&self, name: &str, version: &str) -> Option<FunctionSpec> {
        self.load(name, version)
            .inspect_err(|error| {
                tracing::error!(function = name, version, %error, "cannot load a stored function version");
            })
            .ok()
    }
}
