//! Deleting what no one needs any more, in bounded batches, so that the
//! data directory stops growing: finished instances with their history,
//! seen-event marks past the dedup window, and content-addressed files that
//! no record names. The callers (the server's retention task) decide what
//! is old; here is only how to find and delete it without a full scan per
//! batch and without racing the commits:
//!
//! - `finished`: `ended_ms (8 bytes, big-endian) ‖ instance id` → nothing,
//!   written in the commit that ends an instance, so the instances that
//!   ended before a time are a range scan from the start;
//! - an instance is deleted under the commit lock, its history first, its
//!   index entry last: sled recovers a prefix of its log, so a crash leaves
//!   the index entry while anything of the instance is left, and the next
//!   sweep finishes the job;
//! - `marks_by_time`: `written_ms ‖ source \0 id` → nothing, written with
//!   every seen mark (before it, or in the same commit), so the marks
//!   written before a time are a range scan from the start too; a mark is
//!   removed only if it is still older than the cutoff and holds what was
//!   read (compare and swap), and its index entry goes either way: a mark
//!   rewritten since has an entry of its own for its new time;
//! - a file is deleted only when no record names it and it was last written
//!   (or found already written by [`super::files`]) longer than a grace
//!   period ago: a value is written to its file just before the record
//!   that names it commits, so a file younger than that may be about to be
//!   named.
//!
//! Deletions are not flushed: one that a crash loses is done again by the
//! next sweep.

use std::collections::HashSet;
use std::time::SystemTime;

use super::events::KeyedBytes;
use super::{Store, StoreError};

/// The index key of instance `id`, finished at `ended_ms`.
pub(super) fn finished_key(ended_ms: u64, id: &str) -> Vec<u8> {
    time_key(ended_ms, id.as_bytes())
}

/// An index key: `at_ms` (8 bytes, big-endian), then `key`.
pub(super) fn time_key(at_ms: u64, key: &[u8]) -> Vec<u8> {
    let mut indexed = at_ms.to_be_bytes().to_vec();
    indexed.extend_from_slice(key);
    indexed
}

fn decode_finished_key(key: &[u8]) -> Option<(u64, String)> {
    let (ended, id) = key.split_first_chunk::<8>()?;
    Some((
        u64::from_be_bytes(*ended),
        String::from_utf8_lossy(id).into_owned(),
    ))
}

/// The key that says an index (of finished instances, of seen marks) is
/// complete: after every time, so that no scan for what is older than a
/// time reaches it.
const INDEXED: &[u8] = b"\xff\xff\xff\xff\xff\xff\xff\xffindexed";

/// Where a batched scan stopped: the last key it visited, or the end.
pub type Cursor = Option<Vec<u8>>;

impl Store {
    /// Up to `limit` instances that ended before `cutoff_ms`, earliest
    /// first, as `(ended_ms, id)`.
    pub fn finished_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let mut found = Vec::new();
        for entry in self.finished.range(..cutoff_ms.to_be_bytes()).take(limit) {
            let (key, _) = entry?;
            if let Some(finished) = decode_finished_key(&key) {
                found.push(finished);
            }
        }
        Ok(found)
    }

    /// True once every finished instance is indexed: always, but in a data
    /// directory written before the index existed, whose finished
    /// instances the engine indexes at startup with
    /// [`Store::index_finished`], then [`Store::mark_finished_indexed`].
    pub fn finished_indexed(&self) -> Result<bool, StoreError> {
        Ok(self.finished.contains_key(INDEXED)?)
    }

    /// Records, durably, that every finished instance is indexed: until
    /// then a crash halfway through the indexing leaves it to be done again.
    pub fn mark_finished_indexed(&self) -> Result<(), StoreError> {
        self.finished.insert(INDEXED, &[])?;
        self.flush()
    }

    /// Indexes instance `id` as finished at `ended_ms`.
    pub fn index_finished(&self, ended_ms: u64, id: &str) -> Result<(), StoreError> {
        self.finished.insert(finished_key(ended_ms, id), &[])?;
        Ok(())
    }

    /// Moves instance `id`'s index entry from `ended_ms` to `later_ms`: it
    /// must be kept for now (a parent still waits for it).
    pub fn postpone_finished(
        &self,
        ended_ms: u64,
        later_ms: u64,
        id: &str,
    ) -> Result<(), StoreError> {
        self.finished.insert(finished_key(later_ms, id), &[])?;
        self.finished.remove(finished_key(ended_ms, id))?;
        Ok(())
    }

    /// Deletes instance `id`, its history and its index entry `ended_ms`;
    /// returns the record it had, if any.
    pub fn forget_instance(&self, ended_ms: u64, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let locked = self.commit_lock.lock();
        // A commit whose application failed may still name the instance: it
        // is finished first by the next commit, and this waits for then.
        if *locked {
            return Ok(None);
        }
        for key in self
            .history
            .scan_prefix(super::instances::history_prefix(id))
            .keys()
        {
            self.history.remove(key?)?;
        }
        let record = self
            .instances
            .remove(id.as_bytes())?
            .map(|stored| self.unstow(&stored))
            .transpose()?;
        self.finished.remove(finished_key(ended_ms, id))?;
        Ok(record)
    }

    /// Forgets up to `limit` seen marks written before `cutoff_ms`, oldest
    /// first; returns how many, and whether the batch was full (more may
    /// be due).
    pub fn forget_events_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<(usize, bool), StoreError> {
        let due = self
            .marks_by_time
            .range(..cutoff_ms.to_be_bytes())
            .keys()
            .take(limit)
            .collect::<Result<Vec<_>, _>>()?;
        let mut forgotten = 0;
        for indexed in &due {
            let key = &indexed[8..];
            if let Some(stored) = self.event_ids.get(key)?
                && super::events::mark_time(&self.unstow(&stored)?).unwrap_or(0) < cutoff_ms
                && self
                    .event_ids
                    .compare_and_swap(key, Some(&stored), None as Option<&[u8]>)?
                    .is_ok()
            {
                forgotten += 1;
            }
            self.marks_by_time.remove(indexed)?;
        }
        Ok((forgotten, due.len() == limit))
    }

    /// Indexes the seen marks by time, once: a data directory written
    /// before the index existed has marks it does not name. Durable on
    /// return, so that a crash halfway has it done again.
    pub(super) fn index_marks(&self) -> Result<(), StoreError> {
        if self.marks_by_time.contains_key(INDEXED)? {
            return Ok(());
        }
        for entry in self.event_ids.iter() {
            let (key, stored) = entry?;
            let at_ms = super::events::mark_time(&self.unstow(&stored)?).unwrap_or(0);
            self.marks_by_time.insert(time_key(at_ms, &key), &[])?;
        }
        self.marks_by_time.insert(INDEXED, &[])?;
        self.flush()
    }

    /// Up to `limit` buffered events after the key `after`, in key order.
    pub fn buffered_after(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyedBytes>, StoreError> {
        let entries = match after {
            Some(after) => self.buffered.range((
                std::ops::Bound::Excluded(after.to_vec()),
                std::ops::Bound::Unbounded,
            )),
            None => self.buffered.iter(),
        };
        entries
            .take(limit)
            .map(|entry| {
                let (key, stored) = entry?;
                Ok((key.to_vec(), self.unstow(&stored)?))
            })
            .collect()
    }

    /// Deletes up to `limit` content-addressed files that neither
    /// `referenced` (the deployments' files, which the store cannot read in
    /// their records) nor any value of the store names, and that were last
    /// written before `written_before`; returns how many.
    pub fn forget_files(
        &self,
        referenced: &HashSet<String>,
        written_before: SystemTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let candidates = self.files.older_than(written_before)?;
        if candidates.is_empty() {
            return Ok(0);
        }
        let mut named = referenced.clone();
        for tree in self.stowing_trees() {
            for value in tree.iter().values() {
                if let Some(hash) = super::values::file_named(&value?) {
                    named.insert(hash);
                }
            }
        }
        let mut forgotten = 0;
        for hash in candidates.iter().filter(|hash| !named.contains(*hash)) {
            if forgotten == limit {
                break;
            }
            if self.files.remove_if_older(hash, written_before)? {
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// The trees whose values are stowed (see [`super::values`]), and so may
    /// name a file.
    fn stowing_trees(&self) -> [&sled::Tree; 12] {
        [
            &self.kv,
            &self.instances,
            &self.history,
            &self.definitions,
            &self.event_ids,
            &self.buffered,
            &self.outbox,
            &self.sink_queue,
            &self.dead_letters,
            &self.function_versions,
            &self.apps,
            &self.commits,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instances::StepWrite;

    #[test]
    fn finished_instances_are_found_by_end_and_forgotten_with_their_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (id, ended) in [("a", Some(100)), ("b", Some(300)), ("c", None)] {
            store
                .write_step(StepWrite {
                    finished_ms: ended,
                    ..StepWrite::plain(id, b"{}", vec![b"line".to_vec()])
                })
                .unwrap();
        }
        assert_eq!(
            store.finished_before(200, 10).unwrap(),
            [(100, "a".to_string())]
        );
        assert_eq!(store.finished_before(1_000, 1).unwrap().len(), 1);
        assert_eq!(
            store.forget_instance(100, "a").unwrap(),
            Some(b"{}".to_vec())
        );
        assert_eq!(store.instance("a").unwrap(), None);
        assert!(store.history("a").unwrap().is_empty());
        assert!(store.finished_before(200, 10).unwrap().is_empty());
        // The others keep everything.
        assert_eq!(store.history("b").unwrap().len(), 1);
        assert_eq!(store.history("c").unwrap().len(), 1);
        store.postpone_finished(300, 5_000, "b").unwrap();
        assert!(store.finished_before(1_000, 10).unwrap().is_empty());
        assert_eq!(
            store.finished_before(6_000, 10).unwrap(),
            [(5_000, "b".to_string())]
        );
        assert!(!store.finished_indexed().unwrap());
        store.mark_finished_indexed().unwrap();
        assert!(store.finished_indexed().unwrap());
        assert_eq!(store.finished_before(u64::MAX, 10).unwrap().len(), 1);
    }

    #[test]
    fn seen_marks_are_forgotten_in_batches_by_time_unless_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for n in 0..10 {
            store
                .mark_event_seen("s", &n.to_string(), if n < 6 { 100 } else { 900 })
                .unwrap();
        }
        // Written again later: its old index entry finds a newer mark.
        store.mark_event_seen("s", "0", 700).unwrap();
        let mut batches = vec![store.forget_events_before(500, 4).unwrap()];
        while batches.last().unwrap().1 {
            batches.push(store.forget_events_before(500, 4).unwrap());
        }
        assert_eq!(batches, [(3, true), (2, false)]);
        assert_eq!(store.event_seen("s", "1").unwrap(), None);
        assert!(store.event_seen("s", "0").unwrap().is_some());
        assert!(store.event_seen("s", "7").unwrap().is_some());
        assert_eq!(store.forget_events_before(800, 4).unwrap(), (1, false));
        assert_eq!(store.event_seen("s", "0").unwrap(), None);
    }

    #[test]
    fn marks_written_before_the_index_existed_are_indexed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.mark_event_seen("s", "old", 100).unwrap();
            // As a data directory written before the index.
            store.marks_by_time.clear().unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.forget_events_before(200, 10).unwrap(), (1, false));
        assert_eq!(store.event_seen("s", "old").unwrap(), None);
    }

    #[test]
    fn only_old_files_no_record_names_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let long = |byte| vec![byte; crate::values::INLINE_MAX + 1];
        // Named by an instance record, by a deployment, and by nothing.
        store
            .write_step(StepWrite::plain("i", &long(1), vec![]))
            .unwrap();
        let deployed = store.put_blob(&long(2)).unwrap();
        let orphan = store.put_blob(&long(3)).unwrap();
        let referenced = HashSet::from([deployed.clone()]);
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        assert_eq!(store.forget_files(&referenced, past, 10).unwrap(), 0);
        let future = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert_eq!(store.forget_files(&referenced, future, 10).unwrap(), 1);
        assert_eq!(store.blob(&orphan).unwrap(), None);
        assert!(store.blob(&deployed).unwrap().is_some());
        assert_eq!(store.instance("i").unwrap().unwrap(), long(1));
    }
}
