//! What a server deployed, so that it serves the same apps after a restart:
//!
//! - `blobs`: file contents (components, workflow files, manifests) keyed by
//!   their SHA-256, written once however often they are deployed;
//! - `function_versions`: `name \0 version` → the record a version is loaded
//!   from, kept after newer deployments for the instances pinned to it;
//! - `functions`, `workflows`: name or id → the current version;
//! - `apps`: app name → the record of its latest deployment.
//!
//! A deployment's records and current versions are written in one
//! transaction; the blobs they name are written (and flushed) before it.

use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::TransactionError;

use super::{Store, StoreError};

/// Everything one deployment changes, applied all or nothing.
#[derive(Debug, Default)]
pub struct DeploymentWrite {
    /// App name and its record.
    pub app: Option<(String, Vec<u8>)>,
    /// Function name, version, and the record that version is loaded from.
    pub function_versions: Vec<(String, String, Vec<u8>)>,
    /// Function name → version that becomes current.
    pub current_functions: Vec<(String, String)>,
    /// Workflow id → definition version that becomes current.
    pub current_workflows: Vec<(String, String)>,
}

impl Store {
    /// Stores `bytes` under their content hash, which it returns.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let hash: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !self.blobs.contains_key(hash.as_bytes())? {
            self.blobs.insert(hash.as_bytes(), bytes)?;
        }
        Ok(hash)
    }

    /// The blob stored under `hash`.
    pub fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.blobs.get(hash.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Applies a deployment in one transaction and makes it durable.
    pub fn commit_deployment(&self, write: &DeploymentWrite) -> Result<(), StoreError> {
        // The blobs written before must be on disk before records name them.
        self.db.flush()?;
        let result: Result<(), TransactionError<StoreError>> = (
            &self.apps,
            &self.function_versions,
            &self.functions,
            &self.workflows,
        )
            .transaction(|(apps, versions, functions, workflows)| {
                if let Some((name, record)) = &write.app {
                    apps.insert(name.as_bytes(), record.as_slice())?;
                }
                for (name, version, record) in &write.function_versions {
                    versions.insert(version_key(name, version), record.as_slice())?;
                }
                for (name, version) in &write.current_functions {
                    functions.insert(name.as_bytes(), version.as_bytes())?;
                }
                for (id, version) in &write.current_workflows {
                    workflows.insert(id.as_bytes(), version.as_bytes())?;
                }
                Ok(())
            });
        result.map_err(|error| match error {
            TransactionError::Abort(error) => error,
            TransactionError::Storage(error) => StoreError::Sled(error),
        })?;
        self.db.flush()?;
        Ok(())
    }

    /// The record version `version` of function `name` is loaded from.
    pub fn function_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .function_versions
            .get(version_key(name, version))?
            .map(|v| v.to_vec()))
    }

    /// Current function versions, by name.
    pub fn current_functions(&self) -> Result<Vec<(String, String)>, StoreError> {
        pairs(&self.functions)
    }

    /// Current workflow definition versions, by id.
    pub fn current_workflows(&self) -> Result<Vec<(String, String)>, StoreError> {
        pairs(&self.workflows)
    }

    /// The record of each app's latest deployment, by app name.
    pub fn apps(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.apps
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((String::from_utf8_lossy(&key).into_owned(), value.to_vec()))
            })
            .collect()
    }

    /// Deletes function `name` (its versions stay for pinned instances); durable on return.
    pub fn remove_function(&self, name: &str) -> Result<(), StoreError> {
        self.functions.remove(name.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Deletes workflow `id` (its definitions stay for running instances); durable on return.
    pub fn remove_workflow(&self, id: &str) -> Result<(), StoreError> {
        self.workflows.remove(id.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }
}

fn version_key(name: &str, version: &str) -> Vec<u8> {
    [name.as_bytes(), &[0], version.as_bytes()].concat()
}

fn pairs(tree: &sled::Tree) -> Result<Vec<(String, String)>, StoreError> {
    tree.iter()
        .map(|entry| {
            let (key, value) = entry?;
            Ok((
                String::from_utf8_lossy(&key).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_and_a_delete_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let wasm = store.put_blob(b"code").unwrap();
            assert_eq!(store.put_blob(b"code").unwrap(), wasm);
            store
                .commit_deployment(&DeploymentWrite {
                    app: Some(("shop".into(), b"app".to_vec())),
                    function_versions: vec![("f".into(), "v1".into(), wasm.into_bytes())],
                    current_functions: vec![("f".into(), "v1".into()), ("g".into(), "v2".into())],
                    current_workflows: vec![("w".into(), "d1".into())],
                })
                .unwrap();
            store.remove_function("g").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.current_functions().unwrap(),
            [("f".into(), "v1".into())]
        );
        assert_eq!(
            store.current_workflows().unwrap(),
            [("w".into(), "d1".into())]
        );
        let record = store.function_version("f", "v1").unwrap().unwrap();
        let hash = String::from_utf8(record).unwrap();
        assert_eq!(store.blob(&hash).unwrap().unwrap(), b"code");
        assert_eq!(store.apps().unwrap(), [("shop".into(), b"app".to_vec())]);
    }
}
