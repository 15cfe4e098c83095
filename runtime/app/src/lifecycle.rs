//! A function's lifecycle after deployment: its numbered versions, the
//! aliases that route calls to them by weight, rollback, and the deletion
//! and unloading of versions nothing uses any more.
//!
//! ```text
//!  deploy ──▶ version N+1 (record: number, deploy time) ──▶ current route (all, or a canary share)
//!  PUT alias {"1": 90, "2": 10} ──▶ store (function_aliases) ──▶ host: next call / next pin
//!  rollback ──▶ current route = the version before the newest it routes to
//!  sweep (after each change, and periodically) ──▶ unload versions no route and no unfinished instance uses
//! ```
//!
//! Every change is durable before the host follows it, and happens under
//! the deployments' lock, so a version's "unused" checked here stays true
//! until it is deleted: nothing routes to it, and new instances pin only
//! what a route names.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use swirl_core::function_ref;
use swirl_function::{MAX_ROUTE_VERSIONS, Route, RouteError};
use swirl_store::StoreError;
use swirl_store::apps::DeploymentWrite;

use crate::deployment::{DeployError, Deployments, FunctionRecord, list};

/// (function, version) → the unfinished instances pinned to it.
type Pinned = BTreeMap<(String, String), BTreeSet<String>>;

/// What keeps a function version from being deleted.
enum InUse<'a> {
    /// The current route sends calls to it.
    Route,
    /// These aliases send calls to it.
    Aliases(Vec<String>),
    /// These unfinished instances are pinned to it.
    Instances(&'a BTreeSet<String>),
}

impl std::fmt::Display for InUse<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InUse::Route => write!(
                f,
                "the function's current route sends calls to it; deploy or roll back to another version first"
            ),
            InUse::Aliases(aliases) => write!(
                f,
                "aliases {} send calls to it; change or delete them first",
                aliases.join(", ")
            ),
            InUse::Instances(instances) => {
                let named: Vec<&str> = instances
                    .iter()
                    .take(NAMED_INSTANCES)
                    .map(String::as_str)
                    .collect();
                write!(
                    f,
                    "{} unfinished instances call it ({}); let them end or cancel them first",
                    instances.len(),
                    named.join(", ")
                )
            }
        }
    }
}

/// Most aliases one function may have.
pub const MAX_ALIASES: usize = 64;

/// Instances a refusal names at most (it says how many there are in all).
const NAMED_INSTANCES: usize = 5;

/// One recorded version of a function.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// From 1, in deploy order.
    pub number: u32,
    /// The content id: hash of the component, limits and config.
    pub version: String,
    /// When it was first deployed, Unix milliseconds (0: before numbers existed).
    pub deployed_ms: u64,
}

/// A version a route sends calls to, with its share.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoutedVersion {
    pub number: u32,
    pub version: String,
    /// Percentage of calls.
    pub weight: u32,
}

/// A function's versions and routes, as `GET /functions/{name}` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub versions: Vec<VersionInfo>,
    /// Where calls of the plain name go (empty once the function is deleted).
    pub current: Vec<RoutedVersion>,
    pub aliases: BTreeMap<String, Vec<RoutedVersion>>,
}

impl Deployments {
    /// The recorded versions of function `name`, by number.
    pub fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, DeployError> {
        let mut versions = self
            .store
            .function_versions_of(name)?
            .into_iter()
            .map(|(version, record)| {
                let record: FunctionRecord =
                    serde_json::from_slice(&record).map_err(|error| StoreError::Corrupt {
                        key: format!("{name}@{version}"),
                        reason: error.to_string(),
                    })?;
                Ok(VersionInfo {
                    number: record.number,
                    version,
                    deployed_ms: record.deployed_ms,
                })
            })
            .collect::<Result<Vec<_>, DeployError>>()?;
        versions.sort_by_key(|info| info.number);
        Ok(versions)
    }

    /// Function `name`'s versions, current route and aliases; 404 when no
    /// version of it is recorded.
    pub fn catalog(&self, name: &str) -> Result<Catalog, DeployError> {
        let versions = self.versions(name)?;
        if versions.is_empty() {
            return Err(self.unknown_function(name));
        }
        let view = |route: &Route| routed(&versions, route);
        Ok(Catalog {
            current: self
                .host
                .route(name, None)
                .map(|route| view(&route))
                .unwrap_or_default(),
            aliases: self
                .host
                .aliases(name)
                .iter()
                .map(|(alias, route)| (alias.clone(), view(route)))
                .collect(),
            versions,
        })
    }

    /// The number of version `version` of function `name`, if recorded.
    pub fn version_number(&self, name: &str, version: &str) -> Option<u32> {
        let record = self.store.function_version(name, version).ok()??;
        let record: FunctionRecord = serde_json::from_slice(&record).ok()?;
        Some(record.number).filter(|number| *number > 0)
    }

    /// The content id of the version `text` names: its number or its id.
    pub fn resolve_version(&self, name: &str, text: &str) -> Result<VersionInfo, DeployError> {
        let versions = self.versions(name)?;
        let by_number = text.parse::<u32>().ok();
        versions
            .iter()
            .find(|info| Some(info.number) == by_number || info.version == text)
            .cloned()
            .ok_or_else(|| {
                DeployError::Missing(format!(
                    "function '{name}' has no version '{text}'; its versions: {}",
                    describe_versions(&versions)
                ))
            })
    }

    /// Sets alias `alias` of function `name` to `weights` (version number or
    /// id → whole percentage, summing to 100), durably; the next call or new
    /// instance through the alias follows it.
    pub fn set_alias(
        &self,
        name: &str,
        alias: &str,
        weights: &[(String, u32)],
    ) -> Result<Vec<RoutedVersion>, DeployError> {
        function_ref::check_alias(alias).map_err(DeployError::BadInput)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.require_current(name)?;
        let aliases = self.host.aliases(name);
        if !aliases.contains_key(alias) && aliases.len() >= MAX_ALIASES {
            return Err(DeployError::Conflict(format!(
                "function '{name}' has {MAX_ALIASES} aliases, the most it may have; delete one first"
            )));
        }
        let route = self.route_of(name, weights)?;
        self.store
            .set_function_alias(name, alias, Some(&route.record()))?;
        self.host
            .set_route(name, Some(alias), Some(route.clone()))
            .map_err(|error| DeployError::BadInput(error.to_string()))?;
        self.sweep_locked();
        Ok(routed(&self.versions(name)?, &route))
    }

    /// Deletes alias `alias` of function `name`, durably; refused while a
    /// deployed workflow calls the function through it.
    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<(), DeployError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let aliases = self.host.aliases(name);
        if !aliases.contains_key(alias) {
            return Err(DeployError::Missing(format!(
                "function '{name}' has no alias '{alias}'; its aliases: {}",
                list(aliases.into_keys().collect())
            )));
        }
        let qualified = format!("{name}@{alias}");
        let users = self.workflows_calling(|resource| resource == qualified);
        if !users.is_empty() {
            return Err(DeployError::Conflict(format!(
                "alias '{alias}' of function '{name}' is in use: workflows {} call '{qualified}'; change them first",
                list(users)
            )));
        }
        self.store.set_function_alias(name, alias, None)?;
        self.host
            .set_route(name, Some(alias), None)
            .map_err(|error| DeployError::BadInput(error.to_string()))?;
        self.sweep_locked();
        Ok(())
    }

    /// Makes the version before the newest one the current route sends
    /// calls to the current version of function `name`, for all calls;
    /// returns it.
    pub fn rollback(&self, name: &str) -> Result<VersionInfo, DeployError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.require_current(name)?;
        let versions = self.versions(name)?;
        let newest = versions
            .iter()
            .filter(|info| current.contains(&info.version))
            .map(|info| info.number)
            .max()
            .unwrap_or(0);
        let previous = versions
            .iter()
            .rev()
            .find(|info| info.number < newest)
            .cloned()
            .ok_or_else(|| {
                DeployError::Conflict(format!(
                    "function '{name}' has no version before {newest} to roll back to; its versions: {}",
                    describe_versions(&versions)
                ))
            })?;
        let route = Route::single(&previous.version);
        self.store.set_current_function(name, &route.record())?;
        self.host
            .set_route(name, None, Some(route))
            .map_err(|error| DeployError::BadInput(error.to_string()))?;
        self.sweep_locked();
        Ok(previous)
    }

    /// Deletes version `text` (number or id) of function `name`: its record,
    /// and its pool if loaded. Refused (409) while the current route or an
    /// alias sends calls to it, or an unfinished instance pinned it.
    pub fn delete_version(&self, name: &str, text: &str) -> Result<VersionInfo, DeployError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let info = self.resolve_version(name, text)?;
        let what = format!(
            "version {} ({}) of function '{name}'",
            info.number, info.version
        );
        let pinned = self.pinned_by_unfinished()?;
        if let Some(user) = self.in_use(name, &info.version, &pinned) {
            return Err(DeployError::Conflict(format!("{what} is in use: {user}")));
        }
        self.store.remove_function_version(name, &info.version)?;
        self.host.unload(name, &info.version);
        Ok(info)
    }

    /// Deletes, for every function, its versions that nothing uses beyond
    /// the newest `kept` of them (a deleted function keeps none), as
    /// [`Deployments::delete_version`] would; at most `limit`. Returns how
    /// many. Their files and compiled code go with the next sweeps of
    /// files nothing names.
    pub fn forget_old_versions(&self, kept: usize, limit: usize) -> Result<usize, DeployError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let pinned = self.pinned_by_unfinished()?;
        let mut forgotten = 0;
        for name in self.store.versioned_functions()? {
            let kept = if self.host.route(&name, None).is_some() {
                kept
            } else {
                0
            };
            let versions = self.versions(&name)?;
            let unused = versions
                .iter()
                .rev()
                .filter(|info| self.in_use(&name, &info.version, &pinned).is_none());
            for info in unused.skip(kept) {
                if forgotten == limit {
                    return Ok(forgotten);
                }
                self.store.remove_function_version(&name, &info.version)?;
                self.host.unload(&name, &info.version);
                tracing::info!(function = %name, number = info.number, version = %info.version, "deleted an old function version");
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// What still uses `version` of function `name`, if anything: the
    /// current route, aliases, or unfinished instances pinned to it.
    fn in_use<'a>(&self, name: &str, version: &str, pinned: &'a Pinned) -> Option<InUse<'a>> {
        if self
            .host
            .route(name, None)
            .is_some_and(|route| route.contains(version))
        {
            return Some(InUse::Route);
        }
        let aliases: Vec<String> = self
            .host
            .aliases(name)
            .into_iter()
            .filter(|(_, route)| route.contains(version))
            .map(|(alias, _)| alias)
            .collect();
        if !aliases.is_empty() {
            return Some(InUse::Aliases(aliases));
        }
        pinned
            .get(&(name.to_string(), version.to_string()))
            .map(InUse::Instances)
    }

    /// Unloads every loaded version that no route sends calls to and no
    /// unfinished instance pinned (see [`Deployments::sweep_locked`]); the
    /// server runs it periodically, for versions whose last instance ended.
    pub fn sweep(&self) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sweep_locked();
    }

    /// Unloads every loaded version that no route sends calls to and no
    /// unfinished instance pinned: its pool, instances and compiled code are
    /// dropped (a later call by version loads it again). Reads the instances
    /// only when some version is a candidate. Best effort: a failure to read
    /// the instances leaves everything loaded.
    pub(crate) fn sweep_locked(&self) {
        let candidates = self.host.unrouted_versions();
        if candidates.is_empty() {
            return;
        }
        let pinned = match self.pinned_by_unfinished() {
            Ok(pinned) => pinned,
            Err(error) => {
                tracing::warn!(%error, "cannot read the instances; unused function versions stay loaded");
                return;
            }
        };
        for (name, version) in candidates {
            if !pinned.contains_key(&(name.clone(), version.clone()))
                && self.host.unload(&name, &version)
            {
                tracing::info!(function = %name, version = %version, "unloaded an unused function version");
            }
        }
    }

    /// (function, version) → the unfinished instances that pinned it.
    fn pinned_by_unfinished(&self) -> Result<Pinned, DeployError> {
        Ok(self.engine.pinned_versions()?)
    }

    /// The number and deploy time of `version` of function `name`: those
    /// recorded when it was deployed before, else the next number.
    pub(crate) fn number_for(
        &self,
        name: &str,
        version: &str,
        now_ms: u64,
    ) -> Result<(u32, u64), DeployError> {
        let versions = self.versions(name)?;
        Ok(match versions.iter().find(|info| info.version == version) {
            Some(info) if info.number > 0 => (info.number, info.deployed_ms),
            _ => (next_number(&versions), now_ms),
        })
    }

    /// Numbers the versions of function `name` recorded before numbers
    /// existed, after the numbered ones, the current version last.
    pub(crate) fn number_unnumbered(&self, name: &str) -> Result<(), DeployError> {
        let versions = self.versions(name)?;
        let current = self
            .store
            .current_functions()?
            .into_iter()
            .find(|(function, _)| function == name)
            .and_then(|(_, route)| Route::parse(&route).ok());
        let mut unnumbered: Vec<&VersionInfo> =
            versions.iter().filter(|info| info.number == 0).collect();
        if unnumbered.is_empty() {
            return Ok(());
        }
        unnumbered.sort_by_key(|info| current.as_ref().is_some_and(|r| r.contains(&info.version)));
        let mut next = next_number(&versions);
        let mut write = DeploymentWrite::default();
        for info in unnumbered {
            let Some(bytes) = self.store.function_version(name, &info.version)? else {
                continue;
            };
            let mut record: FunctionRecord =
                serde_json::from_slice(&bytes).map_err(|error| StoreError::Corrupt {
                    key: format!("{name}@{}", info.version),
                    reason: error.to_string(),
                })?;
            record.number = next;
            next += 1;
            let bytes = serde_json::to_vec(&record).map_err(|error| StoreError::Corrupt {
                key: format!("{name}@{}", info.version),
                reason: error.to_string(),
            })?;
            write
                .function_versions
                .push((name.to_string(), info.version.clone(), bytes));
        }
        self.store.commit_deployment(&write)?;
        Ok(())
    }

    /// Makes the recorded aliases the host's again (after a restart); the
    /// problems of those that cannot be.
    pub(crate) fn restore_aliases(&self) -> Result<Vec<String>, DeployError> {
        let mut problems = Vec::new();
        for (name, alias, route) in self.store.function_aliases()? {
            match Route::parse(&route) {
                Ok(route) => self.host.restore(&name, Some(&alias), route),
                Err(error) => {
                    problems.push(format!("alias '{alias}' of function '{name}': {error}"))
                }
            }
        }
        Ok(problems)
    }

    /// The route `weights` (version number or id → percentage) describes.
    fn route_of(&self, name: &str, weights: &[(String, u32)]) -> Result<Route, DeployError> {
        if weights.len() > MAX_ROUTE_VERSIONS {
            // Refused before each is looked up.
            return Err(DeployError::BadInput(format!(
                "alias of function '{name}': {}",
                RouteError::TooMany(weights.len())
            )));
        }
        let mut entries = Vec::new();
        for (text, weight) in weights {
            let info = self
                .resolve_version(name, text)
                .map_err(|error| DeployError::BadInput(error.to_string()))?;
            entries.push((info.version, *weight));
        }
        Route::new(entries).map_err(|error| {
            let hint = match error {
                RouteError::Empty => " (give {\"versions\": {\"<number or id>\": <weight>, ...}})",
                _ => "",
            };
            DeployError::BadInput(format!("alias of function '{name}': {error}{hint}"))
        })
    }

    /// Function `name`'s current route, or 404.
    fn require_current(&self, name: &str) -> Result<Route, DeployError> {
        self.host
            .route(name, None)
            .ok_or_else(|| self.unknown_function(name))
    }

    fn unknown_function(&self, name: &str) -> DeployError {
        DeployError::NotFound {
            kind: "function",
            name: name.to_string(),
            deployed: list(self.host.function_names()),
        }
    }

    /// Ids of the deployed workflows with a function resource `matches` accepts.
    pub(crate) fn workflows_calling(&self, matches: impl Fn(&str) -> bool) -> Vec<String> {
        self.engine
            .workflows()
            .into_iter()
            .filter(|(_, workflow)| workflow.function_resources().any(&matches))
            .map(|(id, _)| id)
            .collect()
    }
}

fn next_number(versions: &[VersionInfo]) -> u32 {
    versions.iter().map(|info| info.number).max().unwrap_or(0) + 1
}

fn routed(versions: &[VersionInfo], route: &Route) -> Vec<RoutedVersion> {
    route
        .entries()
        .iter()
        .map(|(version, weight)| RoutedVersion {
            number: versions
                .iter()
                .find(|info| &info.version == version)
                .map_or(0, |info| info.number),
            version: version.clone(),
            weight: *weight,
        })
        .collect()
}

fn describe_versions(versions: &[VersionInfo]) -> String {
    let versions: Vec<String> = versions
        .iter()
        .map(|info| format!("{} ({})", info.number, info.version))
        .collect();
    list(versions)
}
