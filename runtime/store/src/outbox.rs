//! Produced events on their way out: the outbox, the sink queue and the
//! dead letters, as opaque bytes under keys the callers choose.
//!
//! ```text
//!  step commit ──(same transaction)──▶ outbox ──drain──▶ sink queue ──2xx──▶ removed
//!                                                             │ retries exhausted
//!                                                             ▼
//!                                        replay ◀──────── dead letters
//! ```
//!
//! - `outbox`: events a step or a direct invocation produced, written with
//!   the step (see [`super::instances::StepWrite::outbox`]) and removed once
//!   they were routed and handed on;
//! - `sink_queue`: one entry per (event, sink) still to deliver, removed
//!   when the sink acknowledged it or it became a dead letter;
//! - `dead_letters`: entries that exhausted their retries, until replayed
//!   or deleted.
//!
//! Moves between the sink queue and the dead letters are one transaction
//! and durable before they return, so an event is always in exactly one of
//! them (or delivered).

use sled::Transactional;
use sled::transaction::TransactionError;

use super::events::KeyedBytes;
use super::{Store, StoreError};

impl Store {
    fn all(&self, tree: &sled::Tree) -> Result<Vec<KeyedBytes>, StoreError> {
        self.first(tree, usize::MAX)
    }

    /// The first `limit` entries of `tree`, in key order.
    fn first(&self, tree: &sled::Tree, limit: usize) -> Result<Vec<KeyedBytes>, StoreError> {
        tree.iter()
            .take(limit)
            .map(|entry| {
                let (key, stored) = entry?;
                Ok((key.to_vec(), self.unstow(&stored)?))
            })
            .collect()
    }

    /// What sled holds for each entry (see [`Store::stow`]), keys checked.
    fn stow_all(&self, entries: &[KeyedBytes]) -> Result<Vec<KeyedBytes>, StoreError> {
        entries
            .iter()
            .map(|(key, value)| {
                super::values::check_key(key)?;
                Ok((key.clone(), self.stow(value)?))
            })
            .collect()
    }
}

fn flatten(result: Result<bool, TransactionError<StoreError>>) -> Result<bool, StoreError> {
    result.map_err(|error| match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => StoreError::Sled(error),
    })
}

impl Store {
    /// Adds events to the outbox and returns once they are durable.
    pub fn put_outbox(&self, entries: &[KeyedBytes]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (key, value) in self.stow_all(entries)? {
            batch.insert(key, value);
        }
        self.outbox.apply_batch(batch)?;
        self.durable()
    }

    /// Every event in the outbox, oldest key first.
    pub fn outbox(&self) -> Result<Vec<KeyedBytes>, StoreError> {
        self.all(&self.outbox)
    }

    /// Moves an outbox event to the sink queue (one entry per sink) in one
    /// transaction, and returns once that is durable. With no sink entries
    /// it only removes the event, unflushed: losing that removal in a crash
    /// means draining the event again, which its dedup makes harmless.
    pub fn hand_off(&self, outbox_key: &[u8], queue: &[KeyedBytes]) -> Result<(), StoreError> {
        let stored = self.stow_all(queue)?;
        self.apart_from_backups(|| {
            flatten(
                (&self.outbox, &self.sink_queue).transaction(|(outbox, sink_queue)| {
                    outbox.remove(outbox_key)?;
                    for (key, value) in &stored {
                        sink_queue.insert(key.as_slice(), value.as_slice())?;
                    }
                    Ok(true)
                }),
            )
        })?;
        if queue.is_empty() {
            return Ok(());
        }
        self.durable()
    }

    /// Every entry of the sink queue, oldest key first.
    pub fn sink_queue(&self) -> Result<Vec<KeyedBytes>, StoreError> {
        self.all(&self.sink_queue)
    }

    /// Removes an entry the sink acknowledged. Not flushed at once: if the
    /// removal is lost in a crash, the entry is delivered again (at least once).
    pub fn acknowledge(&self, queue_key: &[u8]) -> Result<(), StoreError> {
        self.sink_queue.remove(queue_key)?;
        Ok(())
    }

    /// Moves a sink queue entry to the dead letters; durable on return.
    pub fn bury(
        &self,
        queue_key: &[u8],
        letter_key: &[u8],
        letter: &[u8],
    ) -> Result<(), StoreError> {
        super::values::check_key(letter_key)?;
        let letter = self.stow(letter)?;
        self.apart_from_backups(|| {
            flatten(
                (&self.sink_queue, &self.dead_letters).transaction(|(sink_queue, dead)| {
                    sink_queue.remove(queue_key)?;
                    dead.insert(letter_key, letter.as_slice())?;
                    Ok(true)
                }),
            )
        })?;
        self.durable()
    }

    /// Every dead letter, oldest key first.
    pub fn dead_letters(&self) -> Result<Vec<KeyedBytes>, StoreError> {
        self.all(&self.dead_letters)
    }

    /// The first `limit` dead letters, oldest key first.
    pub fn first_dead_letters(&self, limit: usize) -> Result<Vec<KeyedBytes>, StoreError> {
        self.first(&self.dead_letters, limit)
    }

    /// How many dead letters there are (sled counts by walking the keys).
    pub fn dead_letter_count(&self) -> usize {
        self.dead_letters.len()
    }

    /// The dead letter under `key`.
    pub fn dead_letter(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.dead_letters
            .get(key)?
            .map(|stored| self.unstow(&stored))
            .transpose()
    }

    /// The key of the oldest dead letter.
    pub fn oldest_dead_letter(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.dead_letters.first()?.map(|(key, _)| key.to_vec()))
    }

    /// Moves a dead letter back to the sink queue; `false` when there was no
    /// such dead letter (someone replayed or deleted it first). Durable on return.
    pub fn requeue(
        &self,
        letter_key: &[u8],
        queue_key: &[u8],
        entry: &[u8],
    ) -> Result<bool, StoreError> {
        super::values::check_key(queue_key)?;
        let entry = self.stow(entry)?;
        let moved = self.apart_from_backups(|| {
            flatten(
                (&self.dead_letters, &self.sink_queue).transaction(|(dead, sink_queue)| {
                    if dead.remove(letter_key)?.is_none() {
                        return Ok(false);
                    }
                    sink_queue.insert(queue_key, entry.as_slice())?;
                    Ok(true)
                }),
            )
        })?;
        if moved {
            self.durable()?;
        }
        Ok(moved)
    }

    /// Deletes up to `limit` dead letters whose keys sort before `bound`
    /// (the oldest, when keys are time-ordered ids); returns how many. Not
    /// flushed: one that a crash brings back goes with the next batch.
    pub fn forget_dead_letters_before(
        &self,
        bound: &[u8],
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        for key in self.dead_letters.range(..bound).keys().take(limit) {
            if self.dead_letters.remove(key?)?.is_some() {
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// Deletes a dead letter; `false` when there was none. Durable on return.
    pub fn delete_dead_letter(&self, key: &[u8]) -> Result<bool, StoreError> {
        let removed = self.dead_letters.remove(key)?.is_some();
        if removed {
            self.durable()?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> KeyedBytes {
        (key.as_bytes().to_vec(), value.as_bytes().to_vec())
    }

    #[test]
    fn an_event_moves_outbox_queue_dead_letters_queue_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.put_outbox(&[entry("e1", "event")]).unwrap();
            store
                .hand_off(b"e1", &[entry("e1\0a", "to a"), entry("e1\0b", "to b")])
                .unwrap();
            assert!(store.outbox().unwrap().is_empty());
            store.acknowledge(b"e1\0a").unwrap();
            store.bury(b"e1\0b", b"d1", b"letter").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.sink_queue().unwrap().is_empty());
        assert_eq!(store.dead_letters().unwrap(), [entry("d1", "letter")]);
        assert!(store.requeue(b"d1", b"e1\0b", b"again").unwrap());
        assert!(!store.requeue(b"d1", b"e1\0b", b"again").unwrap());
        assert_eq!(store.sink_queue().unwrap(), [entry("e1\0b", "again")]);
        assert!(store.dead_letters().unwrap().is_empty());
        assert!(!store.delete_dead_letter(b"d1").unwrap());
        for key in ["a1", "a2", "b1"] {
            store.bury(b"none", key.as_bytes(), b"letter").unwrap();
        }
        assert_eq!(store.dead_letter_count(), 3);
        assert_eq!(
            store.first_dead_letters(2).unwrap(),
            [entry("a1", "letter"), entry("a2", "letter")]
        );
        assert_eq!(store.forget_dead_letters_before(b"b", 1).unwrap(), 1);
        assert_eq!(store.forget_dead_letters_before(b"b", 10).unwrap(), 1);
        assert_eq!(store.dead_letters().unwrap(), [entry("b1", "letter")]);
    }
}
