//! Durable state: the only crate that knows sled.
//!
//! One sled database lives under `<data-dir>/db`; each kind of record has its
//! own tree:
//! - `kv`: the functions' key-value store, keys `<function>\0<key>`, written
//!   one atomic, flushed batch per successful call;
//! - `instances`, `history`, `subscriptions`, `definitions`: workflow
//!   instances and what indexes them ([`instances`]), committed together
//!   once per run (`commits.rs`: one value under one key, then applied) and
//!   flushed by group commit;
//! - `event_ids`, `buffered_events`: CloudEvents already seen, and events
//!   kept until an instance waits for them ([`events`]);
//! - `outbox`, `sink_queue`, `dead_letters`: produced events until they are
//!   routed, delivered to the sinks, or given up on ([`outbox`]).
//! - `finished`, `marks_by_time`: finished instances by end time, and seen
//!   marks by the time they were written, for retention ([`retention`],
//!   which also deletes unnamed files).
//! - `function_versions`, `functions`, `function_aliases`, `workflows`, `apps`: what a server
//!   deployed, restored after a restart ([`apps`]); the deployed files
//!   themselves are content-addressed files ([`files`]).
//!
//! Values longer than [`values::INLINE_MAX`] live in those files too, so
//! that sled never writes a blob file of its own ([`values`]).
//!
//! **Durable means synced.** sled's `flush` on Linux ends with
//! `sync_file_range`, which survives a crash of the process but not a power
//! cut. So [`Store::flush`] follows it with `fdatasync` of sled's log file,
//! and with an `fsync` of the database directory when its entries changed
//! (sled's snapshots are created and renamed there). Every commit that is
//! acknowledged goes through it, shared by group commit.
//!
//! A backup ([`backup`]) is every tree's entries and every file, taken
//! under the commit lock, and restores into an empty directory.
//!
//! **Format.** `<data-dir>/FORMAT` names the layout of the directory; a
//! directory of another format is refused at open, never misread.

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here, and
// each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use swirl_ports::kv::{KvError, KvStore};
pub use swirl_ports::store::FlushPolicy;

pub mod apps;
pub mod backup;
mod commits;
pub mod events;
mod files;
mod group_commit;
pub mod instances;
pub mod outbox;
mod port;
pub mod retention;
pub mod stats;
pub mod values;

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
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "a key of {bytes} bytes (starting '{start}') is over the store's {}-byte key limit",
        values::KEY_MAX
    )]
    KeyTooLong { start: String, bytes: usize },
    #[error("{0}")]
    Backup(String),
    #[error(
        "the data directory {path} holds {found}; this swirl reads format {FORMAT} only: start it on an empty data directory (or use the swirl that wrote this one)"
    )]
    Format { path: PathBuf, found: String },
}

/// How often sled's flushing thread runs: a flush (an extra one; the
/// acknowledged writes have their own) and then the segment cleaning that
/// keeps the log from growing without end.
const SLED_GC_EVERY_MS: u64 = 1000;

/// The layout of a data directory, written to `<data-dir>/FORMAT`.
/// Format 1 (no `FORMAT` file) kept large values in sled's own blob files.
pub const FORMAT: u32 = 2;

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
    function_versions: sled::Tree,
    functions: sled::Tree,
    function_aliases: sled::Tree,
    workflows: sled::Tree,
    apps: sled::Tree,
    /// The run commit a crash may have left half applied ([`commits`]).
    commits: sled::Tree,
    /// Finished instances by end time ([`retention`]).
    finished: sled::Tree,
    /// Seen marks by the time each was written ([`retention`]).
    marks_by_time: sled::Tree,
    /// Entries of `buffered`, kept by every insert and remove.
    buffered_count: Arc<std::sync::atomic::AtomicU64>,
    commit_lock: Arc<commits::Commits>,
    files: Arc<files::Files>,
    /// sled's log file, synced after each flush (see the module doc).
    log: Arc<fs::File>,
    /// The database directory and its modification time when last synced.
    db_dir: Arc<(PathBuf, Mutex<Option<SystemTime>>)>,
    group_commit: Arc<GroupCommit>,
    flush_policy: FlushPolicy,
    sync_times: Arc<stats::SyncTimes>,
    counts: Arc<stats::CountCache>,
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
        check_format(data_dir, &path)?;
        let config = sled::Config::new()
            .path(&path)
            .segment_size(values::SEGMENT_BYTES)
            // Every write that is acknowledged is flushed by `durable`; sled's
            // own flushing thread is on for what else it does: after each of
            // its flushes it rewrites the live pages of mostly-dead log
            // segments so that they can be reused. Without it the log grows
            // with every write, however much retention deletes
            // (RELIABILITY.md, "Bounded disk").
            .flush_every_ms(Some(SLED_GC_EVERY_MS));
        let lock_file = path.join("db");
        let mut waited = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                // A handle this process dropped a moment ago: sled's threads
                // let go of its lock shortly after.
                Err(_)
                    if waited < OWN_LOCK_WAITS
                        && lock_holder_pid(&lock_file) == Some(std::process::id()) =>
                {
                    waited += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                // sled reports a lock held elsewhere as a plain I/O error:
                // ask the system who holds it.
                Err(source) => {
                    return Err(match lock_holder(&lock_file) {
                        Some(holder) => StoreError::InUse {
                            path: data_dir.to_path_buf(),
                            holder,
                        },
                        None => StoreError::Open {
                            path: path.clone(),
                            source,
                        },
                    });
                }
            }
        };
        let file_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::File { path, source }
        };
        let log_path = path.join("db");
        let log = fs::File::open(&log_path).map_err(file_error(&log_path))?;
        // What sled created on a first open (its config, its log) and the
        // directories themselves become durable before anything is acknowledged.
        for file in [&path.join("conf"), &log_path] {
            fs::File::open(file)
                .and_then(|file| file.sync_all())
                .map_err(file_error(file))?;
        }
        for dir in [&path, data_dir] {
            files::sync_dir(dir).map_err(file_error(dir))?;
        }
        let store = Store {
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
            function_versions: db.open_tree("function_versions")?,
            functions: db.open_tree("functions")?,
            function_aliases: db.open_tree("function_aliases")?,
            workflows: db.open_tree("workflows")?,
            apps: db.open_tree("apps")?,
            commits: db.open_tree("commits")?,
            finished: db.open_tree("finished")?,
            marks_by_time: db.open_tree("marks_by_time")?,
            buffered_count: Arc::default(),
            commit_lock: Arc::default(),
            files: Arc::new(files::Files::open(data_dir.join("files"))?),
            log: Arc::new(log),
            db_dir: Arc::new((path, Mutex::new(None))),
            group_commit: Arc::default(),
            flush_policy,
            sync_times: Arc::default(),
            counts: Arc::default(),
            db,
        };
        store.replay_commit()?;
        store.index_marks()?;
        store.buffered_count.store(
            store.buffered.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(store)
    }

    /// Makes every write so far durable: sled's flush, then the syncs that
    /// make it survive a power cut (see the module doc).
    pub fn flush(&self) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        self.db.flush()?;
        self.log.sync_data().map_err(|source| StoreError::File {
            path: self.db_dir.0.join("db"),
            source,
        })?;
        self.sync_db_dir_if_changed()?;
        self.sync_times.record(started.elapsed());
        Ok(())
    }

    /// Runs `write`, a write of several entries that is atomic in sled,
    /// under the commit lock, so that a backup (which holds it) has all of
    /// it or none: a backup copies tree after tree, and a write landing
    /// between two of its reads would be in it in part.
    fn apart_from_backups<T>(&self, write: impl FnOnce() -> T) -> T {
        let _locked = self.commit_lock.lock();
        write()
    }

    /// The data directory the store lives in.
    pub fn data_dir(&self) -> &Path {
        self.db_dir.0.parent().unwrap_or(&self.db_dir.0)
    }

    /// Every tree, by name.
    fn named_trees(&self) -> [(&'static str, &sled::Tree); 18] {
        [
            ("kv", &self.kv),
            ("instances", &self.instances),
            ("history", &self.history),
            ("subscriptions", &self.subscriptions),
            ("definitions", &self.definitions),
            ("event_ids", &self.event_ids),
            ("buffered_events", &self.buffered),
            ("outbox", &self.outbox),
            ("sink_queue", &self.sink_queue),
            ("dead_letters", &self.dead_letters),
            ("function_versions", &self.function_versions),
            ("functions", &self.functions),
            ("function_aliases", &self.function_aliases),
            ("workflows", &self.workflows),
            ("apps", &self.apps),
            ("commits", &self.commits),
            ("finished", &self.finished),
            ("marks_by_time", &self.marks_by_time),
        ]
    }

    /// `fsync`s the database directory when its entries changed since the
    /// last time: a `stat` when they did not.
    fn sync_db_dir_if_changed(&self) -> Result<(), StoreError> {
        let (dir, synced) = &*self.db_dir;
        let error = |source| StoreError::File {
            path: dir.clone(),
            source,
        };
        let modified = fs::metadata(dir)
            .and_then(|m| m.modified())
            .map_err(error)?;
        let mut synced = synced.lock().unwrap_or_else(|e| e.into_inner());
        if *synced != Some(modified) {
            files::sync_dir(dir).map_err(error)?;
            *synced = Some(modified);
        }
        Ok(())
    }
}

/// Who holds the lock sled takes on its database file `lock_file`, as
/// "process PID (COMMAND LINE)": found in `/proc/locks` by the file's inode,
/// so on Linux only.
/// Times [`Store::open`] waits 10 ms for this process's own dropped
/// handle to let go of the database's lock (sled's flushing thread holds it
/// until its next round, at most [`SLED_GC_EVERY_MS`] later).
const OWN_LOCK_WAITS: u32 = 200;

/// The process holding the lock on `lock_file`, when the system says.
fn lock_holder_pid(lock_file: &Path) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(lock_file).ok()?.ino();
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        // "1: FLOCK  ADVISORY  WRITE 7130 fe:00:10027996 0 EOF": the pid,
        // then major:minor:inode of the locked file.
        locks.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let locked = fields.get(5)?.rsplit(':').next()?.parse::<u64>().ok()?;
            (locked == inode).then(|| fields.get(4)?.parse::<u32>().ok())?
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = lock_file;
        None
    }
}

fn lock_holder(lock_file: &Path) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        let pid = lock_holder_pid(lock_file)?;
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

/// Refuses a data directory of another format; marks a new one with ours.
fn check_format(data_dir: &Path, db: &Path) -> Result<(), StoreError> {
    let path = data_dir.join("FORMAT");
    let refuse = |found: String| StoreError::Format {
        path: data_dir.to_path_buf(),
        found,
    };
    match fs::read_to_string(&path) {
        Ok(text) if text.trim() == FORMAT.to_string() => Ok(()),
        Ok(text) => Err(refuse(format!("format {}", text.trim()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if db.exists() {
                return Err(refuse("format 1 (written by swirl before 0.2)".into()));
            }
            let written = (|| {
                let temporary = data_dir.join("FORMAT.new");
                fs::write(&temporary, format!("{FORMAT}\n"))?;
                fs::File::open(&temporary)?.sync_all()?;
                fs::rename(&temporary, &path)?;
                files::sync_dir(data_dir)
            })();
            written.map_err(|source| StoreError::File { path, source })
        }
        Err(source) => Err(StoreError::File { path, source }),
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

/// Bytes [`Store::has_room`] writes: room for a reopened store to append
/// and flush what recovery writes (sled writes its log as buffers fill, not
/// a segment at a time).
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
        let stored = self
            .kv
            .get(kv_key(function, key))
            .map_err(|error| KvError(error.to_string()))?;
        stored
            .map(|stored| self.unstow(&stored))
            .transpose()
            .map_err(|error| KvError(error.to_string()))
    }

    fn apply(
        &self,
        function: &str,
        writes: &BTreeMap<String, Option<Vec<u8>>>,
    ) -> Result<(), KvError> {
        let written = (|| {
            let mut batch = sled::Batch::default();
            for (key, value) in writes {
                let key = kv_key(function, key);
                values::check_key(&key)?;
                match value {
                    Some(value) => batch.insert(key, self.stow(value)?),
                    None => batch.remove(key),
                }
            }
            self.apart_from_backups(|| self.kv.apply_batch(batch))?;
            self.durable()
        })();
        written.map_err(|error| KvError(error.to_string()))
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
