//! The durable key-value store that functions import, one namespace per
//! function: the function host reads it during a call; a call's writes are
//! handed back and committed with the run that made the call.

use std::collections::BTreeMap;

/// Writes of one call to its function's namespace: a value, or `None` to delete.
pub type KvWrites = BTreeMap<String, Option<Vec<u8>>>;

/// The key-value store behind functions.
pub trait KvStore: Send + Sync {
    /// Reads `key` of `function`'s namespace.
    fn get(&self, function: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Applies `writes` to `function`'s namespace atomically and durably.
    fn apply(&self, function: &str, writes: &KvWrites) -> Result<(), KvError>;
}

/// A failure of the key-value store behind functions.
#[derive(Debug, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);
