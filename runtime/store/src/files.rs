//! Content-addressed files of our own, under `<data-dir>/files/`: deployed
//! files (components, workflow sources, manifests) and values too large to
//! sit in sled's pages (see [`super::values`]).
//!
//! sled writes a page larger than a quarter of its segment into a blob file
//! that it never syncs, and a power cut can leave that file empty while the
//! log that points to it survives: the database then no longer opens. So
//! nothing large goes to sled; it comes here instead, written the way a file
//! survives a power cut: into a temporary name, `fsync`, `rename` to its
//! SHA-256, `fsync` of the directory. Only then is the record that names it
//! committed, so a committed record never names a file that is not whole.
//! A file under its final name is complete by construction and is never
//! rewritten.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::StoreError;

/// The directory of content-addressed files.
pub(super) struct Files {
    dir: PathBuf,
    /// Distinguishes the temporary names of concurrent writes.
    next_temporary: AtomicU64,
    /// Orders a write that finds its file present (and marks it written
    /// now) with the retention sweep's check-then-delete of that file.
    removing: Mutex<()>,
}

/// Prefix of a file being written; one left by a crash is removed at open.
const TEMPORARY: &str = "tmp-";

/// The lower-case hex SHA-256 of `bytes`.
pub(super) fn content_hash(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(bytes) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

impl Files {
    /// Opens (creating if needed) `dir`, removing what interrupted writes left.
    pub(super) fn open(dir: PathBuf) -> Result<Files, StoreError> {
        super::create_private_dir(&dir)?;
        for entry in fs::read_dir(&dir).map_err(|source| io_error(&dir, source))? {
            let entry = entry.map_err(|source| io_error(&dir, source))?;
            if entry.file_name().to_string_lossy().starts_with(TEMPORARY) {
                let path = entry.path();
                fs::remove_file(&path).map_err(|source| io_error(&path, source))?;
            }
        }
        Ok(Files {
            dir,
            next_temporary: AtomicU64::new(0),
            removing: Mutex::new(()),
        })
    }

    /// The directory the files live in.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `bytes` durably under their content hash, which it returns.
    pub(super) fn put(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let hash = content_hash(bytes);
        let path = self.dir.join(&hash);
        {
            let _removing = self.removing.lock().unwrap_or_else(|e| e.into_inner());
            if path.exists() {
                // Written again, as far as retention is concerned: a record
                // is about to name it.
                fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|file| file.set_modified(SystemTime::now()))
                    .map_err(|source| io_error(&path, source))?;
                return Ok(hash);
            }
        }
        let temporary = self.dir.join(format!(
            "{TEMPORARY}{}-{}",
            std::process::id(),
            self.next_temporary.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = fs::File::create(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, &path)?;
            sync_dir(&self.dir)
        })();
        if let Err(source) = written {
            let _ = fs::remove_file(&temporary);
            return Err(io_error(&path, source));
        }
        Ok(hash)
    }

    /// Every file, by hash.
    pub(super) fn all(&self) -> Result<Vec<String>, StoreError> {
        self.older_than(SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600))
    }

    /// Held, no file is removed (a backup copies them all).
    pub(super) fn removal_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.removing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The files last written before `time`, by hash.
    pub(super) fn older_than(&self, time: SystemTime) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|source| io_error(&self.dir, source))? {
            let entry = entry.map_err(|source| io_error(&self.dir, source))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMPORARY) {
                continue;
            }
            if entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < time)
            {
                found.push(name);
            }
        }
        Ok(found)
    }

    /// Removes the file `hash` if it was last written before `time`.
    pub(super) fn remove_if_older(&self, hash: &str, time: SystemTime) -> Result<bool, StoreError> {
        let path = self.dir.join(hash);
        let _removing = self.removing.lock().unwrap_or_else(|e| e.into_inner());
        let old = fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified < time);
        if !old {
            return Ok(false);
        }
        fs::remove_file(&path).map_err(|source| io_error(&path, source))?;
        Ok(true)
    }

    /// The bytes stored under `hash`.
    pub(super) fn get(&self, hash: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(hash)?;
        fs::read(&path).map_err(|source| io_error(&path, source))
    }

    /// The file named by `hash`, which must be a content hash.
    pub(super) fn path(&self, hash: &str) -> Result<PathBuf, StoreError> {
        let well_formed = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(StoreError::Corrupt {
                key: hash.to_string(),
                reason: "not the name of a content-addressed file".into(),
            });
        }
        Ok(self.dir.join(hash))
    }
}

/// Makes the entries of `dir` (files created, renamed or removed) durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_stored_once_under_its_hash_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path().join("files")).unwrap();
        let hash = files.put(b"code").unwrap();
        assert_eq!(files.put(b"code").unwrap(), hash);
        assert_eq!(files.get(&hash).unwrap(), b"code");
        let names: Vec<_> = fs::read_dir(dir.path().join("files"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from(&hash)]);
    }

    #[test]
    fn interrupted_writes_are_cleared_and_bad_names_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("files");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("tmp-1-0"), b"half").unwrap();
        let files = Files::open(path.clone()).unwrap();
        assert!(!path.join("tmp-1-0").exists());
        assert!(matches!(
            files.get("../escape"),
            Err(StoreError::Corrupt { .. })
        ));
        let missing = files.get(&content_hash(b"never stored")).unwrap_err();
        assert!(missing.to_string().contains("No such file"), "{missing}");
    }
}
