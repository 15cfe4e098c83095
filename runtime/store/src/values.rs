//! How values sit in sled, so that sled never writes a blob file.
//!
//! sled 0.34 writes any page larger than a quarter of its log segment (less
//! the segment header) to a file of its own under `db/blobs/`, and never
//! syncs it (see [`super::files`] for what a power cut then does). A page is
//! a tree node: a leaf splits beyond 16 entries and may briefly hold up to
//! 21 after a merge; an index node holds up to 321 separator keys. So the
//! store bounds both sizes and picks the segment so that no node can reach
//! the threshold:
//!
//! - segments of [`SEGMENT_BYTES`] (8 MiB), so a page goes to a blob file
//!   only beyond 2 MiB;
//! - values of at most [`INLINE_MAX`] (64 KiB) sit in sled; a longer one is
//!   written to a content-addressed file first and sled holds its name;
//! - keys of at most [`KEY_MAX`] (4 KiB); a longer one is refused.
//!
//! A stored value starts with a tag byte: [`INLINE`] and the value, or
//! [`IN_FILE`] and the file's hex SHA-256.

use super::{Store, StoreError};

/// sled's log segment size.
pub(super) const SEGMENT_BYTES: usize = 8 << 20;

/// The longest value sled holds itself.
pub const INLINE_MAX: usize = 64 << 10;

/// The longest key the store accepts.
pub const KEY_MAX: usize = 4 << 10;

/// The largest page sled writes into its log rather than a blob file: a
/// quarter of a segment, less sled's segment header and message header.
const PAGE_MAX: usize = SEGMENT_BYTES / 4 - 64;
/// Bytes per entry that sled adds to a node, generously.
const ENTRY_OVERHEAD: usize = 64;
const _: () = assert!(24 * (INLINE_MAX + 1 + KEY_MAX + ENTRY_OVERHEAD) < PAGE_MAX);
const _: () = assert!(330 * (KEY_MAX + ENTRY_OVERHEAD) < PAGE_MAX);

const INLINE: u8 = 0;
const IN_FILE: u8 = 1;

impl Store {
    /// What sled holds for `value`: the value itself, or (when longer than
    /// [`INLINE_MAX`]) the name of the file it was durably written to.
    pub(super) fn stow(&self, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        if value.len() <= INLINE_MAX {
            let mut stored = Vec::with_capacity(1 + value.len());
            stored.push(INLINE);
            stored.extend_from_slice(value);
            return Ok(stored);
        }
        let hash = self.files.put(value)?;
        let mut stored = Vec::with_capacity(1 + hash.len());
        stored.push(IN_FILE);
        stored.extend_from_slice(hash.as_bytes());
        Ok(stored)
    }

    /// The value behind what sled holds (see [`Store::stow`]).
    pub(super) fn unstow(&self, stored: &[u8]) -> Result<Vec<u8>, StoreError> {
        match stored.split_first() {
            Some((&INLINE, value)) => Ok(value.to_vec()),
            Some((&IN_FILE, hash)) => self.files.get(&String::from_utf8_lossy(hash)),
            _ => Err(StoreError::Corrupt {
                key: String::new(),
                reason: "a stored value without its tag".into(),
            }),
        }
    }
}

/// The file a stored value names, if it is kept in one.
pub(super) fn file_named(stored: &[u8]) -> Option<String> {
    match stored.split_first() {
        Some((&IN_FILE, hash)) => Some(String::from_utf8_lossy(hash).into_owned()),
        _ => None,
    }
}

/// Refuses a key longer than [`KEY_MAX`].
pub(super) fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.len() > KEY_MAX {
        return Err(StoreError::KeyTooLong {
            start: String::from_utf8_lossy(&key[..40]).into_owned(),
            bytes: key.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_sit_inline_and_long_ones_in_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let short = vec![7u8; INLINE_MAX];
        let long = vec![8u8; INLINE_MAX + 1];
        let stored_short = store.stow(&short).unwrap();
        let stored_long = store.stow(&long).unwrap();
        assert_eq!(stored_short.len(), INLINE_MAX + 1);
        assert_eq!(stored_long.len(), 65);
        assert_eq!(store.unstow(&stored_short).unwrap(), short);
        assert_eq!(store.unstow(&stored_long).unwrap(), long);
        assert!(store.unstow(&[9, 1, 2]).is_err());
    }

    #[test]
    fn sled_writes_no_blob_file_whatever_the_sizes() {
        use swirl_ports::kv::KvStore;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Full leaves of the longest inline values and keys, in one tree.
        for n in 0..64u32 {
            let key = format!("{n:04}{}", "k".repeat(KEY_MAX - 200));
            let writes = std::collections::BTreeMap::from([(key, Some(vec![n as u8; INLINE_MAX]))]);
            store.apply("f", &writes).unwrap();
        }
        // Values far over the threshold: a 1 MiB kv value, 16 MiB of record.
        let writes =
            std::collections::BTreeMap::from([("big".to_string(), Some(vec![1u8; 1 << 20]))]);
        store.apply("f", &writes).unwrap();
        store
            .write_step(crate::instances::StepWrite::plain(
                "i",
                &vec![b'x'; 16 << 20],
                vec![vec![b'h'; 1 << 20]],
            ))
            .unwrap();
        store.flush().unwrap();
        let blobs: Vec<_> = std::fs::read_dir(dir.path().join("db/blobs"))
            .map(|entries| entries.map(|entry| entry.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(blobs.is_empty(), "sled wrote blob files: {blobs:?}");
        assert_eq!(store.instance("i").unwrap().unwrap().len(), 16 << 20);
        assert_eq!(store.get("f", "big").unwrap().unwrap().len(), 1 << 20);
    }

    #[test]
    fn a_long_key_is_refused_with_the_limit() {
        let error = check_key(&[b'k'; KEY_MAX + 1]).unwrap_err().to_string();
        assert!(error.contains("4096-byte"), "{error}");
        check_key(&[b'k'; KEY_MAX]).unwrap();
    }
}
