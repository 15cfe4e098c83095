//! The on-disk cache of compiled components, so that a restart or a
//! scaled-to-zero function never compiles again.
//!
//! An entry is named by the component's content hash and the engine's
//! compatibility hash (wasmtime version and settings), so code compiled by
//! another engine is never looked up. Each file ends with a CRC-32 of its
//! contents: a truncated or corrupted entry is detected, removed and
//! recompiled, never loaded.
//!
//! Beside the entries, `sources/` remembers the content hash of each
//! component file by its [`SourceStamp`] (device, inode, size, times), so
//! that a restart does not hash a file it has seen unchanged before; and
//! `verified/` remembers which entries were checked whole since the machine
//! booted, by their stamp. Reading a 35 MB entry through the checksum was
//! most of a restarted process's first call of a Python function (10–80 ms
//! of 30–90 ms on a loaded machine): an entry is now checked by the first
//! process of each boot that loads it. Entries are written whole and never
//! changed in place (see [`CodeCache::store`]), so what that leaves
//! unchecked is a file changed underneath the file system within one boot;
//! after a crash, a power loss or a reboot, and for a file truncated,
//! rewritten or copied (new times or a new inode), the check runs again.

use std::collections::HashSet;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::SourceStamp;
use super::component::LoadError;

const CHECKSUM_LEN: usize = 4;

pub(crate) struct CodeCache {
    dir: PathBuf,
}

impl CodeCache {
    pub fn open(dir: &Path) -> Result<Self, LoadError> {
        fs::create_dir_all(dir).map_err(|source| LoadError::Cache {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(CodeCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The entry for code with content hash `content_hash` compiled by `engine`.
    pub fn entry_path(&self, engine: &Engine, content_hash: &str) -> PathBuf {
        // DefaultHasher::new() uses fixed keys, so the name is stable for a
        // given build of swirl, which is all a cache of compiled code needs.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{content_hash}-{:016x}.cwasm", hasher.finish()))
    }

    /// Removes the entries whose component's content hash is not in `keep`
    /// and that were written before `written_before` (code of versions no
    /// longer recorded, or compiled by another engine of the same hash);
    /// returns how many.
    pub fn forget_unused(
        &self,
        keep: &HashSet<String>,
        written_before: SystemTime,
    ) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(hash) = name
                .strip_suffix(".cwasm")
                .and_then(|stem| stem.split_once('-'))
                .map(|(hash, _)| hash)
            else {
                continue;
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < written_before);
            if old && !keep.contains(hash) && fs::remove_file(entry.path()).is_ok() {
                let _ = fs::remove_file(self.dir.join("verified").join(&name));
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Loads a cached component; `None` when absent or damaged (a damaged
    /// entry is removed so the caller's recompile replaces it).
    ///
    /// The entry is checked by streaming it through the checksum, then mapped
    /// by wasmtime rather than read into memory: the code is not copied, and
    /// data segments become copy-on-write images of the file itself instead of
    /// copies in anonymous memory, which made a function with 10 MiB of data
    /// take several times longer to load than its code alone.
    pub fn load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let stamp = fs::metadata(path)
            .ok()
            .and_then(|metadata| SourceStamp::of(&metadata));
        let verified = stamp
            .as_ref()
            .is_some_and(|stamp| self.verified(path, stamp));
        match if verified {
            Ok(true)
        } else {
            checksum_matches(path)
        } {
            Ok(true) if verified => {}
            Ok(true) => {
                if let Some(stamp) = &stamp {
                    self.remember_verified(path, stamp);
                }
            }
            Ok(false) => {
                tracing::warn!(path = %path.display(), "code cache entry is damaged; recompiling");
                let _ = fs::remove_file(path);
                return None;
            }
            // Absent, or unreadable: compiling again replaces it.
            Err(_) => return None,
        }
        // SAFETY: the file was written by `store` below from
        // `Engine::precompile_component` output of an engine with the same
        // compatibility hash (it is part of the file name), and the checksum
        // proves it is intact. wasmtime maps the file, which must then not
        // change: entries are only ever created whole (written to a temporary
        // file, then renamed into place) or removed, and neither changes a
        // file already mapped. The cache directory belongs to the host.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "code cache entry cannot be loaded; recompiling");
                let _ = fs::remove_file(path);
                None
            }
        }
    }

    /// Whether the entry at `path`, with this stamp, was checked whole
    /// since the machine booted.
    fn verified(&self, path: &Path, stamp: &SourceStamp) -> bool {
        let Some(expected) = verified_memo(stamp) else {
            return false;
        };
        self.verified_path(path)
            .and_then(|memo| fs::read_to_string(memo).ok())
            .is_some_and(|memo| memo == expected)
    }

    /// Remembers that the entry at `path` was checked whole. Best effort,
    /// like [`CodeCache::remember_hash`]: a memo missing or torn means
    /// checking again.
    fn remember_verified(&self, path: &Path, stamp: &SourceStamp) {
        let (Some(memo), Some(text)) = (self.verified_path(path), verified_memo(stamp)) else {
            return;
        };
        let write = || -> std::io::Result<()> {
            fs::create_dir_all(self.dir.join("verified"))?;
            let (temporary, mut file) = tempfile_in(&self.dir)?;
            file.write_all(text.as_bytes())?;
            fs::rename(temporary, &memo)
        };
        if let Err(error) = write() {
            tracing::debug!(path = %memo.display(), %error, "cannot remember a checked code cache entry");
        }
    }

    fn verified_path(&self, entry: &Path) -> Option<PathBuf> {
        Some(self.dir.join("verified").join(entry.file_name()?))
    }

    /// The content hash remembered for a component file with this stamp.
    pub fn known_hash(&self, stamp: &SourceStamp) -> Option<String> {
        let memo = fs::read_to_string(self.memo_path(stamp)).ok()?;
        let (recorded, hash) = memo.trim_end().rsplit_once(' ')?;
        (recorded == memo_stamp(stamp)
            && hash.len() == 64
            && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash.to_string())
    }

    /// Remembers the content hash of a component file. Best effort: a memo
    /// that cannot be written only means hashing again next time, and one
    /// torn by a crash does not parse, which means the same.
    pub fn remember_hash(&self, stamp: &SourceStamp, content_hash: &str) {
        let path = self.memo_path(stamp);
        let write = || -> std::io::Result<()> {
            fs::create_dir_all(self.dir.join("sources"))?;
            let (temporary, mut file) = tempfile_in(&self.dir)?;
            file.write_all(format!("{} {content_hash}\n", memo_stamp(stamp)).as_bytes())?;
            fs::rename(temporary, &path)
        };
        if let Err(error) = write() {
            tracing::debug!(path = %path.display(), %error, "cannot remember a component's content hash");
        }
    }

    fn memo_path(&self, stamp: &SourceStamp) -> PathBuf {
        self.dir
            .join("sources")
            .join(format!("{:x}-{:x}", stamp.device, stamp.inode))
    }

    /// Writes a compiled component atomically: readers see the whole entry or none.
    pub fn store(&self, path: &Path, code: &[u8]) -> Result<(), LoadError> {
        let error = |source| LoadError::Cache {
            path: path.to_path_buf(),
            source,
        };
        let mut file = tempfile_in(&self.dir).map_err(error)?;
        file.1.write_all(code).map_err(error)?;
        file.1
            .write_all(&crc32fast::hash(code).to_le_bytes())
            .map_err(error)?;
        file.1.sync_all().map_err(error)?;
        fs::rename(&file.0, path).map_err(error)?;
        Ok(())
    }
}

/// The part of a memo that must match the file: everything but where it is.
fn memo_stamp(stamp: &SourceStamp) -> String {
    format!("{} {} {}", stamp.size, stamp.modified_ns, stamp.changed_ns)
}

/// What a verified memo holds: the boot and the entry's stamp; `None`
/// where the boot cannot be told (then every load checks).
fn verified_memo(stamp: &SourceStamp) -> Option<String> {
    static BOOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let boot = BOOT.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
    });
    Some(format!(
        "{} {:x} {:x} {}\n",
        boot.as_deref()?,
        stamp.device,
        stamp.inode,
        memo_stamp(stamp)
    ))
}

/// Whether the file at `path` ends with the CRC-32 of what precedes it.
/// Reads through a small buffer, so checking a large entry copies little.
fn checksum_matches(path: &Path) -> std::io::Result<bool> {
    let mut file = fs::File::open(path)?;
    let Some(code_len) = file.metadata()?.len().checked_sub(CHECKSUM_LEN as u64) else {
        return Ok(false);
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0; 256 * 1024];
    let mut code = (&mut file).take(code_len);
    loop {
        let read = code.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let mut checksum = [0; CHECKSUM_LEN];
    file.read_exact(&mut checksum)?;
    Ok(hasher.finalize() == u32::from_le_bytes(checksum))
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, fs::File)> {
    let path = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let file = fs::File::create(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_accepts_intact_and_refuses_damaged_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::open(dir.path()).unwrap();
        let path = dir.path().join("entry.cwasm");
        // Larger than the read buffer, so the checksum spans several reads.
        let code: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        cache.store(&path, &code).unwrap();
        assert!(checksum_matches(&path).unwrap());

        let mut entry = fs::read(&path).unwrap();
        entry[3] ^= 0x40;
        fs::write(&path, &entry).unwrap();
        assert!(!checksum_matches(&path).unwrap());

        entry[3] ^= 0x40;
        fs::write(&path, &entry[..entry.len() - 1]).unwrap();
        assert!(!checksum_matches(&path).unwrap());
        fs::write(&path, [1, 2]).unwrap();
        assert!(!checksum_matches(&path).unwrap());
        assert!(checksum_matches(&dir.path().join("absent")).is_err());
    }

    #[test]
    fn only_old_entries_of_components_not_kept_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::open(dir.path()).unwrap();
        let (kept, dropped) = ("aa".repeat(32), "bb".repeat(32));
        for hash in [&kept, &dropped] {
            let path = dir.path().join(format!("{hash}-0123456789abcdef.cwasm"));
            cache.store(&path, b"code").unwrap();
        }
        fs::create_dir(dir.path().join("sources")).unwrap();
        let keep = HashSet::from([kept.clone()]);
        let past = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(cache.forget_unused(&keep, past).unwrap(), 0, "too young");
        let future = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(cache.forget_unused(&keep, future).unwrap(), 1);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [format!("{kept}-0123456789abcdef.cwasm"), "sources".into()]
        );
    }

    #[test]
    fn an_entry_counts_as_checked_only_with_the_stamp_it_was_checked_with() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::open(dir.path()).unwrap();
        let entry = dir.path().join("entry.cwasm");
        cache.store(&entry, b"code").unwrap();
        let stamp = SourceStamp::of(&fs::metadata(&entry).unwrap()).unwrap();
        assert!(!cache.verified(&entry, &stamp));
        cache.remember_verified(&entry, &stamp);
        assert!(cache.verified(&entry, &stamp));
        for changed in [
            SourceStamp { size: 5, ..stamp },
            SourceStamp {
                changed_ns: stamp.changed_ns + 1,
                ..stamp
            },
            SourceStamp {
                inode: stamp.inode + 1,
                ..stamp
            },
        ] {
            assert!(!cache.verified(&entry, &changed), "{changed:?}");
        }
        let other = dir.path().join("other.cwasm");
        assert!(!cache.verified(&other, &stamp), "memos are per entry");
    }

    #[test]
    fn a_content_hash_is_remembered_only_for_the_same_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CodeCache::open(dir.path()).unwrap();
        let stamp = SourceStamp {
            device: 1,
            inode: 2,
            size: 3,
            modified_ns: 4,
            changed_ns: 5,
        };
        let hash = "ab".repeat(32);
        assert_eq!(cache.known_hash(&stamp), None);
        cache.remember_hash(&stamp, &hash);
        assert_eq!(cache.known_hash(&stamp), Some(hash.clone()));
        for changed in [
            SourceStamp { size: 4, ..stamp },
            SourceStamp {
                modified_ns: 6,
                ..stamp
            },
            SourceStamp {
                changed_ns: 6,
                ..stamp
            },
            SourceStamp { inode: 3, ..stamp },
        ] {
            assert_eq!(cache.known_hash(&changed), None, "{changed:?}");
        }
        // A torn memo is no memo.
        fs::write(cache.memo_path(&stamp), "3 4 5 abab").unwrap();
        assert_eq!(cache.known_hash(&stamp), None);
    }
}
