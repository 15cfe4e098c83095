//! What a server deployed, so that it serves the same apps after a restart:
//!
//! - file contents (components, workflow files, manifests) are
//!   content-addressed files (see [`super::files`]) named by their SHA-256,
//!   written once however often they are deployed;
//! - `function_versions`: `name \0 version` → the record a version is loaded
//!   from, kept after newer deployments for the instances pinned to it;
//! - `functions`: name → its current route (a version, or versions with
//!   weights; the function crate's `Route` record);
//! - `function_aliases`: `name \0 alias` → the alias's route;
//! - `workflows`: id → the current version;
//! - `apps`: app name → the record of its latest deployment.
//!
//! A deployment's records and current versions are written in one
//! transaction; the files they name are durable before it.

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
    /// Stores `bytes` durably under their content hash, which it returns.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreError> {
        self.files.put(bytes)
    }

    /// The blob stored under `hash`.
    pub fn blob(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.files.get(hash) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(StoreError::File { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// The file that holds the blob stored under `hash`, for a reader that
    /// may not need its bytes (it need not exist).
    pub fn blob_path(&self, hash: &str) -> Result<std::path::PathBuf, StoreError> {
        self.files.path(hash)
    }

    /// Applies a deployment in one transaction and makes it durable.
    pub fn commit_deployment(&self, write: &DeploymentWrite) -> Result<(), StoreError> {
        let app = match &write.app {
            Some((name, record)) => {
                super::values::check_key(name.as_bytes())?;
                Some((name, self.stow(record)?))
            }
            None => None,
        };
        let versions = write
            .function_versions
            .iter()
            .map(|(name, version, record)| {
                let key = version_key(name, version);
                super::values::check_key(&key)?;
                Ok((key, self.stow(record)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let result: Result<(), TransactionError<StoreError>> = (
            &self.apps,
            &self.function_versions,
            &self.functions,
            &self.workflows,
        )
            .transaction(|(apps, versions_tree, functions, workflows)| {
                if let Some((name, record)) = &app {
                    apps.insert(name.as_bytes(), record.as_slice())?;
                }
                for (key, record) in &versions {
                    versions_tree.insert(key.as_slice(), record.as_slice())?;
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
        self.flush()
    }

    /// The record version `version` of function `name` is loaded from.
    pub fn function_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.function_versions
            .get(version_key(name, version))?
            .map(|stored| self.unstow(&stored))
            .transpose()
    }

    /// Every recorded version of function `name`, by version, with its record.
    pub fn function_versions_of(&self, name: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let prefix = version_key(name, "");
        self.function_versions
            .scan_prefix(&prefix)
            .map(|entry| {
                let (key, stored) = entry?;
                Ok((
                    String::from_utf8_lossy(&key[prefix.len()..]).into_owned(),
                    self.unstow(&stored)?,
                ))
            })
            .collect()
    }

    /// The record of every recorded version of every function.
    pub fn all_function_versions(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.function_versions
            .iter()
            .values()
            .map(|stored| self.unstow(&stored?))
            .collect()
    }

    /// The name of every function with a recorded version.
    pub fn versioned_functions(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = Vec::new();
        for key in self.function_versions.iter().keys() {
            let key = key?;
            let name = key.split(|byte| *byte == 0).next().unwrap_or_default();
            if names.last().is_none_or(|last| last.as_bytes() != name) {
                names.push(String::from_utf8_lossy(name).into_owned());
            }
        }
        Ok(names)
    }

    /// Deletes the record of `version` of function `name`; durable on
    /// return. Its files stay: other versions may share them.
    pub fn remove_function_version(&self, name: &str, version: &str) -> Result<(), StoreError> {
        self.function_versions.remove(version_key(name, version))?;
        self.flush()
    }

    /// Current function routes, by name.
    pub fn current_functions(&self) -> Result<Vec<(String, String)>, StoreError> {
        pairs(&self.functions)
    }

    /// Sets the current route of function `name`; durable on return.
    pub fn set_current_function(&self, name: &str, route: &str) -> Result<(), StoreError> {
        super::values::check_key(name.as_bytes())?;
        self.functions.insert(name.as_bytes(), route.as_bytes())?;
        self.flush()
    }

    /// Sets (or with `None` removes) alias `alias` of function `name`; durable on return.
    pub fn set_function_alias(
        &self,
        name: &str,
        alias: &str,
        route: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = version_key(name, alias);
        super::values::check_key(&key)?;
        match route {
            Some(route) => self.function_aliases.insert(key, route.as_bytes())?,
            None => self.function_aliases.remove(key)?,
        };
        self.flush()
    }

    /// Every alias, as (function, alias, route).
    pub fn function_aliases(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(pairs(&self.function_aliases)?
            .into_iter()
            .filter_map(|(key, route)| {
                let (name, alias) = key.split_once('\0')?;
                Some((name.to_string(), alias.to_string(), route))
            })
            .collect())
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
                let (key, stored) = entry?;
                Ok((
                    String::from_utf8_lossy(&key).into_owned(),
                    self.unstow(&stored)?,
                ))
            })
            .collect()
    }

    /// Deletes function `name` and its aliases (its versions stay for
    /// pinned instances); durable on return.
    pub fn remove_function(&self, name: &str) -> Result<(), StoreError> {
        let alias_keys = self
            .function_aliases
            .scan_prefix(version_key(name, ""))
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        let result: Result<(), TransactionError<StoreError>> =
            (&self.functions, &self.function_aliases).transaction(|(functions, aliases)| {
                functions.remove(name.as_bytes())?;
                for key in &alias_keys {
                    aliases.remove(key)?;
                }
                Ok(())
            });
        result.map_err(|error| match error {
            TransactionError::Abort(error) => error,
            TransactionError::Storage(error) => StoreError::Sled(error),
        })?;
        self.flush()
    }

    /// Deletes workflow `id` (its definitions stay for running instances); durable on return.
    pub fn remove_workflow(&self, id: &str) -> Result<(), StoreError> {
        self.workflows.remove(id.as_bytes())?;
        self.flush()
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

    #[test]
    fn aliases_routes_and_version_deletes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .commit_deployment(&DeploymentWrite {
                    function_versions: vec![
                        ("f".into(), "v1".into(), b"one".to_vec()),
                        ("f".into(), "v2".into(), b"two".to_vec()),
                        ("fg".into(), "v9".into(), b"other".to_vec()),
                    ],
                    ..DeploymentWrite::default()
                })
                .unwrap();
            store.set_current_function("f", "v1=90,v2=10").unwrap();
            store.set_function_alias("f", "live", Some("v2")).unwrap();
            store.set_function_alias("f", "old", Some("v1")).unwrap();
            store.set_function_alias("fg", "live", Some("v9")).unwrap();
            store.set_function_alias("f", "old", None).unwrap();
            store.remove_function_version("f", "v1").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.function_versions_of("f").unwrap(),
            [("v2".into(), b"two".to_vec())],
            "another function's versions are not listed"
        );
        assert_eq!(
            store.current_functions().unwrap(),
            [("f".into(), "v1=90,v2=10".into())]
        );
        assert_eq!(
            store.function_aliases().unwrap(),
            [
                ("f".into(), "live".into(), "v2".into()),
                ("fg".into(), "live".into(), "v9".into())
            ]
        );
        store.remove_function("f").unwrap();
        assert_eq!(
            store.function_aliases().unwrap(),
            [("fg".into(), "live".into(), "v9".into())]
        );
    }
}
