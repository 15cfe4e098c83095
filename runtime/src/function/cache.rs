//! The on-disk cache of compiled components, so that a restart or a
//! scaled-to-zero function never compiles again.
//!
//! An entry is named by the component's content hash and the engine's
//! compatibility hash (wasmtime version and settings), so code compiled by
//! another engine is never looked up. Each file ends with a CRC-32 of its
//! contents: a truncated or corrupted entry is detected, removed and
//! recompiled, never loaded.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

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

    /// Loads a cached component; `None` when absent or damaged (a damaged
    /// entry is removed so the caller's recompile replaces it).
    pub fn load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let bytes = fs::read(path).ok()?;
        let Some(code) = verified(&bytes) else {
            tracing::warn!(path = %path.display(), "code cache entry is damaged; recompiling");
            let _ = fs::remove_file(path);
            return None;
        };
        // SAFETY: the bytes were written by `store` below from
        // `Engine::precompile_component` output of an engine with the same
        // compatibility hash (it is part of the file name), and the checksum
        // proves they are intact. The cache directory belongs to the host.
        match unsafe { Component::deserialize(engine, code) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "code cache entry cannot be loaded; recompiling");
                let _ = fs::remove_file(path);
                None
            }
        }
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

/// The code part of a cache file, if its checksum matches.
fn verified(bytes: &[u8]) -> Option<&[u8]> {
    let split = bytes.len().checked_sub(CHECKSUM_LEN)?;
    let (code, checksum) = bytes.split_at(split);
    let expected = u32::from_le_bytes(checksum.try_into().ok()?);
    (crc32fast::hash(code) == expected).then_some(code)
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
    fn verified_accepts_intact_and_refuses_damaged_entries() {
        let code = b"compiled code".to_vec();
        let mut entry = code.clone();
        entry.extend_from_slice(&crc32fast::hash(&code).to_le_bytes());
        assert_eq!(verified(&entry), Some(&code[..]));

        let mut flipped = entry.clone();
        flipped[3] ^= 0x40;
        assert_eq!(verified(&flipped), None);
        assert_eq!(verified(&entry[..entry.len() - 1]), None);
        assert_eq!(verified(&[1, 2]), None);
    }
}
