//! Atomic writes across trees without sled transactions.
//!
//! sled makes a transaction (or a batch) atomic by rolling its I/O buffer
//! before and after it: one `pwrite` and one `sync_file_range` per commit,
//! on sled's I/O threads, which cost more than all the rest of a run. So a
//! run's commit is written as one value instead, under one key of the
//! `commits` tree (one insert is atomic in sled), then applied to its trees
//! key by key, then removed. sled recovers a prefix of its log, so after a
//! crash the commit is either absent (none of it happened) or still there,
//! its application perhaps partial: [`Store::open`] applies it again (every
//! operation is idempotent) before anything reads the trees.
//!
//! Commits take [`Commits::lock`] from their first read to their removal,
//! so at most one is pending at a time; so do the other writers whose
//! outcome depends on what a commit reads (taking a buffered event, the
//! seen mark of an event), so that a commit's conditions still hold when
//! it applies.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};

use super::{Store, StoreError};

/// A tree a commit writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum TreeId {
    Instances = 0,
    History = 1,
    Subscriptions = 2,
    Kv = 3,
    Outbox = 4,
    Buffered = 5,
    EventIds = 6,
    /// The index of finished instances by end time (see `retention.rs`).
    Finished = 7,
    /// The index of seen marks by time (see `retention.rs`).
    MarksByTime = 8,
}

impl TreeId {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => TreeId::Instances,
            1 => TreeId::History,
            2 => TreeId::Subscriptions,
            3 => TreeId::Kv,
            4 => TreeId::Outbox,
            5 => TreeId::Buffered,
            6 => TreeId::EventIds,
            7 => TreeId::Finished,
            8 => TreeId::MarksByTime,
            _ => return None,
        })
    }
}

/// One change a commit makes; values are stored as they go into the tree
/// (already stowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Put(TreeId, Vec<u8>, Vec<u8>),
    Remove(TreeId, Vec<u8>),
    /// Put unless the key holds a value already.
    PutIfAbsent(TreeId, Vec<u8>, Vec<u8>),
}

/// The lock that orders commits; it holds whether a failed commit left its
/// value behind, half applied.
#[derive(Default)]
pub(crate) struct Commits {
    lock: Mutex<bool>,
}

impl Commits {
    /// Held while a commit checks its conditions and writes.
    pub fn lock(&self) -> MutexGuard<'_, bool> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The key of the pending commit.
const PENDING: &[u8] = b"pending";

const PUT: u8 = 0;
const REMOVE: u8 = 1;
const PUT_IF_ABSENT: u8 = 2;

fn encode(ops: &[Op]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let field = |bytes: &mut Vec<u8>, value: &[u8]| {
        bytes.extend_from_slice(&(value.len() as u32).to_be_bytes());
        bytes.extend_from_slice(value);
    };
    for op in ops {
        match op {
            Op::Put(tree, key, value) | Op::PutIfAbsent(tree, key, value) => {
                let kind = if matches!(op, Op::Put(..)) {
                    PUT
                } else {
                    PUT_IF_ABSENT
                };
                bytes.extend_from_slice(&[kind, *tree as u8]);
                field(&mut bytes, key);
                field(&mut bytes, value);
            }
            Op::Remove(tree, key) => {
                bytes.extend_from_slice(&[REMOVE, *tree as u8]);
                field(&mut bytes, key);
            }
        }
    }
    bytes
}

fn decode(mut bytes: &[u8]) -> Option<Vec<Op>> {
    fn field<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        let (value, rest) = rest.split_at_checked(len)?;
        *bytes = rest;
        Some(value)
    }
    let mut ops = Vec::new();
    while let Some((&[kind, tree], rest)) = bytes.split_first_chunk::<2>() {
        bytes = rest;
        let tree = TreeId::from_byte(tree)?;
        let key = field(&mut bytes)?.to_vec();
        ops.push(match kind {
            PUT => Op::Put(tree, key, field(&mut bytes)?.to_vec()),
            PUT_IF_ABSENT => Op::PutIfAbsent(tree, key, field(&mut bytes)?.to_vec()),
            REMOVE => Op::Remove(tree, key),
            _ => return None,
        });
    }
    bytes.is_empty().then_some(ops)
}

impl Store {
    fn tree(&self, id: TreeId) -> &sled::Tree {
        match id {
            TreeId::Instances => &self.instances,
            TreeId::History => &self.history,
            TreeId::Subscriptions => &self.subscriptions,
            TreeId::Kv => &self.kv,
            TreeId::Outbox => &self.outbox,
            TreeId::Buffered => &self.buffered,
            TreeId::EventIds => &self.event_ids,
            TreeId::Finished => &self.finished,
            TreeId::MarksByTime => &self.marks_by_time,
        }
    }

    /// Writes `ops` atomically (see the module doc); the caller holds
    /// [`Commits::lock`]. A commit whose application failed (the disk is
    /// full, say) stays pending and is finished before the next one, as
    /// at open after a crash.
    pub(crate) fn commit(
        &self,
        left: &mut MutexGuard<'_, bool>,
        ops: &[Op],
    ) -> Result<(), StoreError> {
        if **left {
            self.finish_pending()?;
            **left = false;
        }
        self.commits.insert(PENDING, self.stow(&encode(ops))?)?;
        **left = true;
        self.apply(ops)?;
        self.commits.remove(PENDING)?;
        **left = false;
        Ok(())
    }

    fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        for op in ops {
            match op {
                Op::Put(tree, key, value) => {
                    self.tree(*tree).insert(key.as_slice(), value.as_slice())?;
                }
                Op::Remove(tree, key) => {
                    let removed = self.tree(*tree).remove(key.as_slice())?;
                    if *tree == TreeId::Buffered && removed.is_some() {
                        self.buffered_count.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Op::PutIfAbsent(tree, key, value) => {
                    let tree = self.tree(*tree);
                    if tree.get(key.as_slice())?.is_none() {
                        tree.insert(key.as_slice(), value.as_slice())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies again the commit a crash left pending, if any, and makes
    /// that durable. Called by [`Store::open`].
    pub(crate) fn replay_commit(&self) -> Result<(), StoreError> {
        if self.finish_pending()? {
            self.flush()?;
        }
        Ok(())
    }

    /// Applies the pending commit, if there is one, and removes it.
    pub(crate) fn finish_pending(&self) -> Result<bool, StoreError> {
        let Some(stored) = self.commits.get(PENDING)? else {
            return Ok(false);
        };
        let ops = decode(&self.unstow(&stored)?).ok_or_else(|| StoreError::Corrupt {
            key: "commits/pending".into(),
            reason: "the pending commit cannot be decoded".into(),
        })?;
        self.apply(&ops)?;
        self.commits.remove(PENDING)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_survive_encoding() {
        let ops = vec![
            Op::Put(TreeId::Instances, b"a".to_vec(), b"{}".to_vec()),
            Op::Remove(TreeId::Buffered, vec![0, 1, 2]),
            Op::PutIfAbsent(TreeId::EventIds, b"k".to_vec(), Vec::new()),
            Op::Put(TreeId::History, Vec::new(), vec![b'x'; 70_000]),
        ];
        assert_eq!(decode(&encode(&ops)), Some(ops.clone()));
        let bytes = encode(&ops);
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None, "truncated");
        assert_eq!(decode(&[9, 0, 0, 0, 0, 0]), None, "unknown kind");
    }

    #[test]
    fn a_commit_left_by_a_crash_is_applied_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            // What a crash between the commit's insert and its application
            // leaves: the commit, and only part of its effects.
            let ops = [
                Op::Put(TreeId::Instances, b"i".to_vec(), store.stow(b"{}").unwrap()),
                Op::Put(TreeId::Outbox, b"o".to_vec(), store.stow(b"e").unwrap()),
                Op::PutIfAbsent(TreeId::EventIds, b"s".to_vec(), store.stow(b"new").unwrap()),
            ];
            store
                .event_ids
                .insert(b"s", store.stow(b"old").unwrap())
                .unwrap();
            store
                .commits
                .insert(PENDING, store.stow(&encode(&ops)).unwrap())
                .unwrap();
            store.apply(&ops[..1]).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.instance("i").unwrap().unwrap(), b"{}");
        assert_eq!(
            store
                .unstow(&store.outbox.get(b"o").unwrap().unwrap())
                .unwrap(),
            b"e"
        );
        assert_eq!(
            store
                .unstow(&store.event_ids.get(b"s").unwrap().unwrap())
                .unwrap(),
            b"old"
        );
        assert!(store.commits.is_empty());
    }
}
