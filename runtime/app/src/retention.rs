//! What the recorded deployments still need, for the server's retention
//! sweep: the content-addressed files their records name (which the store
//! cannot read in them), and the compiled code of their components.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use swirl_store::StoreError;

use crate::deployment::{AppRecord, DeployError, Deployments, FunctionRecord};

impl Deployments {
    /// The files every recorded app and function version names: manifests,
    /// components, workflow files. A record that cannot be read fails the
    /// whole call, so that its files are never taken for unnamed.
    pub fn referenced_files(&self) -> Result<HashSet<String>, DeployError> {
        let mut named = HashSet::new();
        for (name, record) in self.store.apps()? {
            let app: AppRecord = decode(&name, &record)?;
            named.insert(app.manifest);
            named.extend(app.files.into_values());
        }
        for version in self.function_records()? {
            named.insert(version.manifest);
            named.insert(version.wasm);
        }
        Ok(named)
    }

    /// Removes the code-cache entries of components no recorded function
    /// version has, written more than `grace` ago; returns how many.
    pub fn forget_unused_code(&self, grace: Duration) -> Result<usize, DeployError> {
        let keep: HashSet<String> = self
            .function_records()?
            .into_iter()
            .map(|version| version.wasm)
            .collect();
        self.host
            .forget_cached_code(&keep, SystemTime::now() - grace)
            .map_err(|source| {
                DeployError::Store(StoreError::File {
                    path: "code cache".into(),
                    source,
                })
            })
    }

    fn function_records(&self) -> Result<Vec<FunctionRecord>, DeployError> {
        self.store
            .all_function_versions()?
            .iter()
            .map(|record| decode("function version", record))
            .collect()
    }
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, DeployError> {
    serde_json::from_slice(bytes).map_err(|error| {
        DeployError::Store(StoreError::Corrupt {
            key: what.to_string(),
            reason: error.to_string(),
        })
    })
}
