//! Durable state: the only module that knows sled.
//!
//! One sled database lives under `<data-dir>/db`; each kind of record has its
//! own tree:
//! - `kv`: the functions' key-value store, keys `<function>\0<key>`, written
//!   one atomic, flushed batch per successful call;
//! - `instances`, `history`, `subscriptions`, `definitions`: workflow
//!   instances and what indexes them ([`instances`]), committed together in
//!   one transaction per interpreter step and flushed by group commit;
//! - `event_ids`, `buffered_events`: CloudEvents already seen, and events
//!   kept until an instance waits for them ([`events`]);
//! - `outbox`, `sink_queue`, `dead_letters`: produced events until they are
//!   routed, delivered to the sinks, or given up on ([`outbox`]).
//! - `blobs`, `function_versions`, `functions`, `workflows`, `apps`: what a
//!   server deployed, restored after a restart ([`apps`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::function::{KvError, KvStore};

pub mod apps;
pub mod events;
mod group_commit;
pub mod instances;
pub mod outbox;

use group_commit::GroupCommit;

/// Why the store cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database in {path}")]
    Open { path: PathBuf, source: sled::Error },
    /// Another process has the database open: one process at a time can.
    #[error("the data directory {path} is in use by {holder}")]
    InUse { path: PathBuf, holder: String },
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    #[error("record '{key}' cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("the data directory {path} cannot take writes yet: {source}")]
    NoRoom {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How commits reach the disk. Both are durable: a commit returns only after
/// its flush; they differ in whether concurrent commits share one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Concurrent commits share one flush (group commit).
    #[default]
    Group,
    /// Every commit flushes on its own: the baseline that shows what group
    /// commit saves (`swirl serve --flush each`).
    EachCommit,
}

/// The durable store of one data directory.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    kv: sled::Tree,
    instances: sled::Tree,
    history: sled::Tree,
    subscriptions: sled::Tree,
    definitions: sled::Tree,
    event_ids: sled::Tree,
    buffered: sled::Tree,
    outbox: sled::Tree,
    sink_queue: sled::Tree,
    dead_letters: sled::Tree,
    blobs: sled::Tree,
    function_versions: sled::Tree,
    functions: sled::Tree,
    workflows: sled::Tree,
    apps: sled::Tree,
    group_commit: std::sync::Arc<GroupCommit>,
    flush_policy: FlushPolicy,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, which is made
    /// readable by its owner only.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, FlushPolicy::default())
    }

    /// Like [`Store::open`], with commits flushed as `flush_policy` says.
    pub fn open_with(data_dir: &Path, flush_policy: FlushPolicy) -> Result<Self, StoreError> {
        create_private_dir(data_dir)?;
        let path = data_dir.join("db");
        let db = sled::Config::new()
            .path(&path)
            .open()
            // sled reports a lock held elsewhere as a plain I/O error: ask
            // the system who holds it.
            .map_err(|source| match lock_holder(&path.join("db")) {
                Some(holder) => StoreError::InUse {
                    path: data_dir.to_path_buf(),
                    holder,
                },
                None => StoreError::Open { path, source },
            })?;
        Ok(Store {
            kv: db.open_tree("kv")?,
            instances: db.open_tree("instances")?,
            history: db.open_tree("history")?,
            subscriptions: db.open_tree("subscriptions")?,
            definitions: db.open_tree("definitions")?,
            event_ids: db.open_tree("event_ids")?,
            buffered: db.open_tree("buffered_events")?,
            outbox: db.open_tree("outbox")?,
            sink_queue: db.open_tree("sink_queue")?,
            dead_letters: db.open_tree("dead_letters")?,
            blobs: db.open_tree("blobs")?,
            function_versions: db.open_tree("function_versions")?,
            functions: db.open_tree("functions")?,
            workflows: db.open_tree("workflows")?,
            apps: db.open_tree("apps")?,
            group_commit: std::sync::Arc::default(),
            flush_policy,
            db,
        })
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Who holds the lock sled takes on its database file `lock_file`, as
/// "process PID (COMMAND LINE)": found in `/proc/locks` by the file's inode,
/// so on Linux only.
fn lock_holder(lock_file: &Path) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(lock_file).ok()?.ino();
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        // "1: FLOCK  ADVISORY  WRITE 7130 fe:00:10027996 0 EOF": the pid,
        // then major:minor:inode of the locked file.
        let pid = locks.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let locked = fields.get(5)?.rsplit(':').next()?.parse::<u64>().ok()?;
            (locked == inode).then(|| fields.get(4)?.parse::<u32>().ok())?
        })?;
        let command = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|bytes| {
                let words: Vec<String> = bytes
                    .split(|b| *b == 0)
                    .filter(|word| !word.is_empty())
                    .map(|word| String::from_utf8_lossy(word).into_owned())
                    .collect();
                words.join(" ")
            })
            .unwrap_or_default();
        Some(if command.is_empty() {
            format!("process {pid}")
        } else {
            format!("process {pid} ({command})")
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = lock_file;
        None
    }
}

/// Creates `dir` (and parents) with mode 0700 where the platform has modes.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let error = |source| StoreError::CreateDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(error)
}

/// Bytes [`Store::has_room`] writes: two of sled's 512 KiB log segments, so
/// that a store that opens can also append and flush.
const ROOM_PROBE_BYTES: usize = 1024 * 1024;

impl Store {
    /// Checks, without opening the database, that `data_dir` takes writes
    /// again: writes [`ROOM_PROBE_BYTES`] to a scratch file, syncs and removes
    /// it. Cheap next to opening sled, which reads its whole log, so a server
    /// whose disk filled up asks this first, as often as it likes.
    pub fn has_room(data_dir: &Path) -> Result<(), StoreError> {
        let path = data_dir.join("room-probe");
        let written = (|| {
            use std::io::Write;
            let mut file = fs::File::create(&path)?;
            file.write_all(&vec![0u8; ROOM_PROBE_BYTES])?;
            file.sync_all()
        })();
        let removed = fs::remove_file(&path);
        written.and(removed).map_err(|source| StoreError::NoRoom {
            path: data_dir.to_path_buf(),
            source,
        })
    }
}

fn kv_key(function: &str, key: &str) -> Vec<u8> {
    let mut full = Vec::with_capacity(function.len() + 1 + key.len());
    full.extend_from_slice(function.as_bytes());
    full.push(0);
    full.extend_from_slice(key.as_bytes());
    full
}

impl KvStore for Store {
    fn get(&self, function: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.kv
            .get(kv_key(function, key))
            .map(|value| value.map(|bytes| bytes.to_vec()))
            .map_err(|error| KvError(error.to_string()))
    }

    fn apply(
        &self,
        function: &str,
        writes: &BTreeMap<String, Option<Vec<u8>>>,
    ) -> Result<(), KvError> {
        let mut batch = sled::Batch::default();
        for (key, value) in writes {
            match value {
                Some(value) => batch.insert(kv_key(function, key), value.as_slice()),
                None => batch.remove(kv_key(function, key)),
            }
        }
        self.kv
            .apply_batch(batch)
            .and_then(|()| self.db.flush().map(drop))
            .map_err(|error| KvError(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_writes_survive_reopening_and_stay_per_function() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let writes = BTreeMap::from([
                ("a".to_string(), Some(b"1".to_vec())),
                ("b".to_string(), Some(b"2".to_vec())),
            ]);
            store.apply("f", &writes).unwrap();
            store
                .apply("f", &BTreeMap::from([("b".to_string(), None)]))
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.get("f", "a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.get("f", "b").unwrap(), None);
        assert_eq!(store.get("g", "a").unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Store::open(&data).unwrap();
        let mode = fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
