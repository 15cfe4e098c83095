//! CloudEvents on disk: the ids already seen (for exactly-once effects of
//! redelivered events) and the events that arrived before any instance
//! waited for them.
//!
//! Buffered events are keyed `type \0 source \0 sequence`, so an instance
//! that starts waiting finds the candidates with one prefix scan. Taking one
//! out is a `remove` that only one caller can win: of an instance that
//! subscribes and an event that arrives at the same moment, exactly one
//! delivers it.

use std::sync::atomic::Ordering;

pub use swirl_ports::store::{ConsumedEvent, KeyedBytes, Seen};

use super::{Store, StoreError};

/// A mark is the time as 8 big-endian bytes; an unfinished one continues
/// with its targets as a JSON array.
pub(super) fn unfinished_mark(event: &ConsumedEvent<'_>) -> Vec<u8> {
    let mut mark = event.at_ms.to_be_bytes().to_vec();
    // A list of strings always serializes.
    mark.extend(serde_json::to_vec(event.targets).unwrap_or_else(|_| b"[]".to_vec()));
    mark
}

/// When a mark was written.
pub(super) fn mark_time(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

fn decode_mark(bytes: &[u8]) -> Option<Seen> {
    let at_ms = mark_time(bytes)?;
    let unfinished = match &bytes[8..] {
        [] => None,
        targets => Some(serde_json::from_slice(targets).unwrap_or_default()),
    };
    Some(Seen { at_ms, unfinished })
}

fn id_key(source: &str, id: &str) -> Vec<u8> {
    let mut key = source.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The keys of the events of this type and source; with an empty source,
/// of this type and every source (an event always has one).
fn buffer_prefix(event_type: &str, source: &str) -> Vec<u8> {
    let mut key = event_type.as_bytes().to_vec();
    key.push(0);
    if !source.is_empty() {
        key.extend_from_slice(source.as_bytes());
        key.push(0);
    }
    key
}

impl Store {
    /// The seen mark of the event `(source, id)`, if it has one.
    pub fn event_seen(&self, source: &str, id: &str) -> Result<Option<Seen>, StoreError> {
        match self.event_ids.get(id_key(source, id))? {
            Some(stored) => Ok(decode_mark(&self.unstow(&stored)?)),
            None => Ok(None),
        }
    }

    /// Remembers the event `(source, id)` as seen at `now_ms`, its delivery
    /// complete.
    pub fn mark_event_seen(&self, source: &str, id: &str, now_ms: u64) -> Result<(), StoreError> {
        let key = id_key(source, id);
        super::values::check_key(&key)?;
        let mark = self.stow(&now_ms.to_be_bytes())?;
        // Ordered with the run commits that write an unfinished mark.
        let _locked = self.commit_lock.lock();
        // Indexed first: sled recovers a prefix of its log, so a crash
        // leaves no mark that retention cannot find.
        self.marks_by_time
            .insert(super::retention::time_key(now_ms, &key), &[])?;
        self.event_ids.insert(key, mark)?;
        Ok(())
    }

    /// Keeps an event until an instance waits for it; returns its key, or
    /// `None` (and keeps nothing) when `limit` events are kept already.
    pub fn buffer_event(
        &self,
        event_type: &str,
        source: &str,
        event: &[u8],
        limit: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut key = buffer_prefix(event_type, source);
        key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        super::values::check_key(&key)?;
        let stored = self.stow(event)?;
        // Counted before the insert, so that racing callers cannot pass
        // the limit together.
        let kept = self.buffered_count.fetch_add(1, Ordering::Relaxed);
        if kept >= limit as u64 {
            self.buffered_count.fetch_sub(1, Ordering::Relaxed);
            return Ok(None);
        }
        if let Err(error) = self.buffered.insert(&key, stored) {
            self.buffered_count.fetch_sub(1, Ordering::Relaxed);
            return Err(error.into());
        }
        Ok(Some(key))
    }

    /// How many events are buffered.
    pub fn buffered_count(&self) -> u64 {
        self.buffered_count.load(Ordering::Relaxed)
    }

    /// The buffered events of this type and source, oldest first.
    pub fn buffered_events(
        &self,
        event_type: &str,
        source: &str,
    ) -> Result<Vec<KeyedBytes>, StoreError> {
        self.buffered
            .scan_prefix(buffer_prefix(event_type, source))
            .map(|entry| {
                let (key, stored) = entry?;
                Ok((key.to_vec(), self.unstow(&stored)?))
            })
            .collect()
    }

    /// Takes a buffered event out; `None` when someone else took it first.
    pub fn take_buffered_event(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        // Ordered with the run commits that take buffered events.
        let _locked = self.commit_lock.lock();
        let taken = self.buffered.remove(key)?;
        if taken.is_some() {
            self.buffered_count.fetch_sub(1, Ordering::Relaxed);
        }
        taken.map(|stored| self.unstow(&stored)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffered_event_is_taken_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.buffer_event("t", "s", b"one", 2).unwrap().unwrap();
        store
            .buffer_event("t", "other", b"two", 2)
            .unwrap()
            .unwrap();
        assert_eq!(store.buffer_event("t", "s", b"three", 2).unwrap(), None);
        assert_eq!(store.buffered_count(), 2);
        let found = store.buffered_events("t", "s").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            store.take_buffered_event(&found[0].0).unwrap(),
            Some(b"one".to_vec())
        );
        assert_eq!(store.take_buffered_event(&found[0].0).unwrap(), None);
        assert_eq!(store.buffered_count(), 1);
    }

    #[test]
    fn seen_events_are_remembered_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.mark_event_seen("s", "1", 100).unwrap();
        store.mark_event_seen("s", "2", 300).unwrap();
        let complete = |at_ms| {
            Some(Seen {
                at_ms,
                unfinished: None,
            })
        };
        assert_eq!(store.event_seen("s", "1").unwrap(), complete(100));
        assert_eq!(store.forget_events_before(200, 10).unwrap(), (1, false));
        assert_eq!(store.event_seen("s", "1").unwrap(), None);
        assert_eq!(store.event_seen("s", "2").unwrap(), complete(300));
    }
}
