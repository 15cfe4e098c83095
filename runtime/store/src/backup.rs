//! Backups: every tree's entries and every content-addressed file of a
//! store, as one stream, and a store rebuilt from it in an empty directory.
//!
//! A backup is taken while the store serves: it holds the commit lock, so
//! it holds every run commit (and the other writers that take the lock)
//! from before its first entry to after its last; what it copies is the
//! state between two commits, every commit acknowledged before it started
//! included. Every other write of several entries takes the lock as well
//! (the kv writes of direct calls, and moves between the outbox, the sink
//! queue and the dead letters), so none is in a backup in part; the server
//! holds its deployments meanwhile too. Writes of one entry (a buffered
//! event, an acknowledged delivery) are atomic in sled by themselves. It
//! also holds the files' removal lock, so that no file a copied record
//! names is deleted before it is copied. Writers wait meanwhile: back up
//! to a local file.
//!
//! The stream:
//!
//! ```text
//!  "swirl-backup\n"  format (u32)
//!  1  tree-name-len (u8) tree-name  key-len (u32) key  value-len (u32) value   (an entry, as sled holds it)
//!  2  hash (64 hex bytes)  length (u64)  bytes                                 (a file)
//!  0  entries (u64)  files (u64)                                               (the end)
//! ```
//!
//! All numbers big-endian. The end names the counts, so that a truncated
//! backup is refused rather than restored in part.

use std::io::{Read, Write};
use std::path::Path;

use super::files::content_hash;
use super::{FORMAT, Store, StoreError};

const MAGIC: &[u8] = b"swirl-backup\n";
const END: u8 = 0;
const ENTRY: u8 = 1;
const FILE: u8 = 2;

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupSummary {
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
}

/// Counts what goes through.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.bytes += written as u64;
        Ok(written)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn io(source: std::io::Error) -> StoreError {
    StoreError::Backup(format!("cannot write the backup: {source}"))
}

impl Store {
    /// Writes a backup of the store to `out` (see the module doc).
    pub fn backup(&self, out: impl Write) -> Result<BackupSummary, StoreError> {
        let mut out = Counting {
            inner: std::io::BufWriter::new(out),
            bytes: 0,
        };
        let mut locked = self.commit_lock.lock();
        if *locked {
            self.finish_pending()?;
            *locked = false;
        }
        let _removing = self.files.removal_lock();
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&FORMAT.to_be_bytes()).map_err(io)?;
        let mut summary = BackupSummary::default();
        for (name, tree) in self.named_trees() {
            for entry in tree.iter() {
                let (key, value) = entry?;
                out.write_all(&[ENTRY, name.len() as u8]).map_err(io)?;
                out.write_all(name.as_bytes()).map_err(io)?;
                for field in [&key[..], &value[..]] {
                    out.write_all(&(field.len() as u32).to_be_bytes())
                        .map_err(io)?;
                    out.write_all(field).map_err(io)?;
                }
                summary.entries += 1;
            }
        }
        for hash in self.files.all()? {
            let bytes = self.files.get(&hash)?;
            out.write_all(&[FILE]).map_err(io)?;
            out.write_all(hash.as_bytes()).map_err(io)?;
            out.write_all(&(bytes.len() as u64).to_be_bytes())
                .map_err(io)?;
            out.write_all(&bytes).map_err(io)?;
            summary.files += 1;
        }
        out.write_all(&[END]).map_err(io)?;
        out.write_all(&summary.entries.to_be_bytes()).map_err(io)?;
        out.write_all(&summary.files.to_be_bytes()).map_err(io)?;
        out.flush().map_err(io)?;
        summary.bytes = out.bytes;
        Ok(summary)
    }

    /// Rebuilds in `data_dir`, which must be empty or absent, the store a
    /// backup holds, and makes it durable. A backup that is cut short or
    /// damaged is refused with what is wrong; what was restored so far stays
    /// in `data_dir`, to be removed before another try.
    pub fn restore(data_dir: &Path, input: impl Read) -> Result<BackupSummary, StoreError> {
        let occupied = std::fs::read_dir(data_dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false);
        if occupied {
            return Err(StoreError::Backup(format!(
                "{} is not empty: a backup is restored into an empty or new directory only",
                data_dir.display()
            )));
        }
        let mut input = Reader {
            inner: std::io::BufReader::new(input),
            bytes: 0,
        };
        let magic = input.bytes(MAGIC.len())?;
        if magic != MAGIC {
            return Err(StoreError::Backup(
                "this is not a swirl backup (it does not start with 'swirl-backup')".into(),
            ));
        }
        let format = u32::from_be_bytes(input.array()?);
        if format != FORMAT {
            return Err(StoreError::Backup(format!(
                "the backup holds a data directory of format {format}; this swirl restores format {FORMAT} only"
            )));
        }
        let store = Store::open(data_dir)?;
        let trees = store.named_trees();
        let mut summary = BackupSummary::default();
        loop {
            match input.array::<1>()?[0] {
                ENTRY => {
                    let name_len = input.array::<1>()?[0] as usize;
                    let name = input.bytes(name_len)?;
                    let tree = trees
                        .iter()
                        .find(|(tree, _)| tree.as_bytes() == name.as_slice())
                        .map(|(_, tree)| *tree)
                        .ok_or_else(|| {
                            StoreError::Backup(format!(
                                "the backup names a tree '{}' this swirl does not have",
                                String::from_utf8_lossy(&name)
                            ))
                        })?;
                    let key_len = u32::from_be_bytes(input.array()?) as usize;
                    let key = input.bytes(key_len)?;
                    let value_len = u32::from_be_bytes(input.array()?) as usize;
                    let value = input.bytes(value_len)?;
                    tree.insert(key, value)?;
                    summary.entries += 1;
                }
                FILE => {
                    let hash = String::from_utf8_lossy(&input.bytes(64)?).into_owned();
                    let len = u64::from_be_bytes(input.array()?) as usize;
                    let bytes = input.bytes(len)?;
                    if content_hash(&bytes) != hash {
                        return Err(StoreError::Backup(format!(
                            "file {hash} in the backup is damaged: its content has another hash"
                        )));
                    }
                    store.files.put(&bytes)?;
                    summary.files += 1;
                }
                END => {
                    let entries = u64::from_be_bytes(input.array()?);
                    let files = u64::from_be_bytes(input.array()?);
                    if (entries, files) != (summary.entries, summary.files) {
                        return Err(StoreError::Backup(format!(
                            "the backup is damaged: it says {entries} entries and {files} files, and holds {} and {}",
                            summary.entries, summary.files
                        )));
                    }
                    break;
                }
                other => {
                    return Err(StoreError::Backup(format!(
                        "the backup is damaged: an unknown record kind {other} at byte {}",
                        input.bytes
                    )));
                }
            }
        }
        // A commit the backup caught pending is applied as at any open.
        store.replay_commit()?;
        store.flush()?;
        summary.bytes = input.bytes;
        Ok(summary)
    }
}

/// Reads exact lengths, naming a backup cut short as such.
struct Reader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Reader<R> {
    fn bytes(&mut self, len: usize) -> Result<Vec<u8>, StoreError> {
        let mut buffer = Vec::new();
        let read = (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut buffer)
            .map_err(|source| StoreError::Backup(format!("cannot read the backup: {source}")))?;
        self.bytes += read as u64;
        if read < len {
            return Err(StoreError::Backup(format!(
                "the backup ends early, after {} bytes: it is incomplete",
                self.bytes
            )));
        }
        Ok(buffer)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let bytes = self.bytes(N)?;
        let mut array = [0; N];
        array.copy_from_slice(&bytes);
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instances::StepWrite;
    use swirl_ports::kv::KvStore;

    fn filled(dir: &Path) -> Store {
        let store = Store::open(dir).unwrap();
        store
            .write_step(StepWrite::plain("small", b"{}", vec![b"one".to_vec()]))
            .unwrap();
        let long = vec![b'x'; crate::values::INLINE_MAX + 10];
        store
            .write_step(StepWrite::plain("big", &long, vec![]))
            .unwrap();
        let writes = std::collections::BTreeMap::from([("k".to_string(), Some(b"v".to_vec()))]);
        store.apply("f", &writes).unwrap();
        store
    }

    #[test]
    fn a_backup_restores_every_entry_and_file_into_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir.path().join("live"));
        let mut backup = Vec::new();
        let taken = store.backup(&mut backup).unwrap();
        assert_eq!(taken.files, 1);
        assert_eq!(taken.bytes, backup.len() as u64);
        let target = dir.path().join("restored");
        let restored = Store::restore(&target, backup.as_slice()).unwrap();
        assert_eq!(
            (restored.entries, restored.files),
            (taken.entries, taken.files)
        );
        let store = Store::open(&target).unwrap();
        assert_eq!(store.instance("small").unwrap().unwrap(), b"{}");
        assert_eq!(store.history("small").unwrap(), [b"one".to_vec()]);
        assert_eq!(
            store.instance("big").unwrap().unwrap().len(),
            crate::values::INLINE_MAX + 10
        );
        assert_eq!(store.get("f", "k").unwrap(), Some(b"v".to_vec()));
    }

    #[test]
    fn a_cut_damaged_or_misplaced_restore_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir.path().join("live"));
        let mut backup = Vec::new();
        store.backup(&mut backup).unwrap();
        let restore = |name: &str, bytes: &[u8]| {
            Store::restore(&dir.path().join(name), bytes)
                .unwrap_err()
                .to_string()
        };
        let cut = restore("cut", &backup[..backup.len() - 20]);
        assert!(cut.contains("ends early"), "{cut}");
        let mut damaged = backup.clone();
        let at = damaged.len() - 100;
        damaged[at] ^= 1;
        let damaged = restore("damaged", &damaged);
        assert!(damaged.contains("damaged"), "{damaged}");
        assert!(restore("other", b"hello, this is a text file").contains("not a swirl backup"));
        let occupied = restore("live", &backup);
        assert!(occupied.contains("is not empty"), "{occupied}");
    }

    #[test]
    fn writes_of_several_entries_are_in_a_backup_whole_or_none_of_them() {
        const LETTERS: usize = 40;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("live")).unwrap();
        let key = |kind: &str, n: usize| format!("{kind}-{n:03}").into_bytes();
        for n in 0..LETTERS {
            store.bury(&key("q", n), &key("l", n), b"letter").unwrap();
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mover = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut round = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for n in 0..LETTERS {
                        assert!(store.requeue(&key("l", n), &key("q", n), b"entry").unwrap());
                        store.bury(&key("q", n), &key("l", n), b"letter").unwrap();
                    }
                    let count = Some(round.to_string().into_bytes());
                    let writes = std::collections::BTreeMap::from([
                        ("a".to_string(), count.clone()),
                        ("b".to_string(), count),
                    ]);
                    store.apply("f", &writes).unwrap();
                    round += 1;
                }
            })
        };
        for taken in 0..20 {
            let mut bytes = Vec::new();
            store.backup(&mut bytes).unwrap();
            let target = dir.path().join(format!("restored-{taken}"));
            Store::restore(&target, bytes.as_slice()).unwrap();
            let restored = Store::open(&target).unwrap();
            let held =
                restored.dead_letters().unwrap().len() + restored.sink_queue().unwrap().len();
            assert_eq!(held, LETTERS, "backup {taken}: every letter once");
            assert_eq!(
                restored.get("f", "a").unwrap(),
                restored.get("f", "b").unwrap(),
                "backup {taken}: a kv write whole"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        mover.join().unwrap();
    }
}
