//! Workflow instances on disk: their records, histories, the event
//! subscription index, and the definition sources they started with.
//!
//! The store keeps records as opaque JSON bytes; the engine owns their
//! shape. What the store owns is atomicity and the index:
//! - one [`StepWrite`] (record, history lines, subscription index changes)
//!   is applied atomically across the trees (see `commits.rs`) by
//!   [`Store::write_step`]; the engine makes it durable with
//!   [`Store::durable`], shared by every step written since the last flush;
//! - a step that consumes a buffered event takes it out of the buffer in
//!   that same commit, so no crash can lose the event between its
//!   removal and the step that consumes it;
//! - the subscription index is keyed
//!   `type \0 source \0 attribute \0 value \0 instance \0 thread \0 event`,
//!   so finding the instances waiting for an event is a prefix scan per
//!   correlation attribute, whatever the number of waiting instances.

pub use swirl_ports::store::{StepWrite, SubscriptionKey};

use super::{Store, StoreError};

/// A subscription's key in the index.
fn encode_subscription(key: &SubscriptionKey) -> Vec<u8> {
    let thread = key.thread.to_string();
    join(&[
        &key.event_type,
        &key.source,
        &key.attribute,
        &key.value,
        &key.instance,
        &thread,
        &key.event,
    ])
}

fn decode_subscription(bytes: &[u8]) -> Option<SubscriptionKey> {
    let text = std::str::from_utf8(bytes).ok()?;
    let parts: Vec<&str> = text.split('\0').collect();
    let [
        event_type,
        source,
        attribute,
        value,
        instance,
        thread,
        event,
    ] = parts.as_slice()
    else {
        return None;
    };
    Some(SubscriptionKey {
        event_type: event_type.to_string(),
        source: source.to_string(),
        attribute: attribute.to_string(),
        value: value.to_string(),
        instance: instance.to_string(),
        thread: thread.parse().ok()?,
        event: event.to_string(),
    })
}

fn join(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

/// The prefix of every history key of instance `id`.
pub(super) fn history_prefix(id: &str) -> Vec<u8> {
    let mut prefix = id.as_bytes().to_vec();
    prefix.push(0);
    prefix
}

fn history_key(instance: &str, sequence: u64) -> Vec<u8> {
    let mut key = history_prefix(instance);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

impl Store {
    /// The record of instance `id`, if it exists.
    pub fn instance(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.instances
            .get(id)?
            .map(|stored| self.unstow(&stored))
            .transpose()
    }

    /// Applies a step atomically; `false` (and nothing written) when the
    /// buffered event it would take was taken by someone else first. The
    /// write is visible at once and durable after the next
    /// [`Store::durable`]: the caller holds back what depends on it until
    /// then.
    pub fn write_step(&self, write: StepWrite<'_>) -> Result<bool, StoreError> {
        use super::commits::{Op, TreeId};
        // Long values go to their files, durably, before the records that
        // name them commit.
        super::values::check_key(write.instance.as_bytes())?;
        if write.history.iter().any(|line| line.contains(&b'\n')) {
            return Err(StoreError::Corrupt {
                key: write.instance.to_string(),
                reason: "a history line holds a newline".into(),
            });
        }
        let mut ops = vec![Op::Put(
            TreeId::Instances,
            write.instance.as_bytes().to_vec(),
            self.stow(&write.record)?,
        )];
        for key in &write.unsubscribe {
            ops.push(Op::Remove(TreeId::Subscriptions, encode_subscription(key)));
        }
        for key in &write.subscribe {
            let key = encode_subscription(key);
            super::values::check_key(&key)?;
            ops.push(Op::Put(TreeId::Subscriptions, key, Vec::new()));
        }
        for (function, writes) in &write.kv {
            for (key, value) in writes.iter() {
                let key = super::kv_key(function, key);
                super::values::check_key(&key)?;
                ops.push(match value {
                    Some(value) => Op::Put(TreeId::Kv, key, self.stow(value)?),
                    None => Op::Remove(TreeId::Kv, key),
                });
            }
        }
        for (key, event) in &write.outbox {
            super::values::check_key(key)?;
            ops.push(Op::Put(TreeId::Outbox, key.clone(), self.stow(event)?));
        }
        for event in &write.consumed_events {
            super::values::check_key(event.key)?;
            ops.push(Op::PutIfAbsent(
                TreeId::EventIds,
                event.key.to_vec(),
                self.stow(&super::events::unfinished_mark(event))?,
            ));
            ops.push(Op::Put(
                TreeId::MarksByTime,
                super::retention::time_key(event.at_ms, event.key),
                Vec::new(),
            ));
        }
        if let Some(ended_ms) = write.finished_ms {
            ops.push(Op::Put(
                TreeId::Finished,
                super::retention::finished_key(ended_ms, write.instance),
                Vec::new(),
            ));
        }
        let history = match write.history.len() {
            0 => None,
            _ => Some(self.stow(&write.history.join(&b'\n'))?),
        };
        let mut locked = self.commit_lock.lock();
        for key in &write.take_buffered {
            if self.buffered.get(key)?.is_none() {
                return Ok(false);
            }
            ops.push(Op::Remove(TreeId::Buffered, key.clone()));
        }
        if let Some(lines) = history {
            // A run's lines are one value under the number of its last line.
            let last = self.last_history_line(write.instance)?;
            let count = write.history.len() as u64;
            let key = history_key(write.instance, last.map_or(0, |n| n + 1) + count - 1);
            ops.push(Op::Put(TreeId::History, key, lines));
        }
        self.commit(&mut locked, &ops)?;
        Ok(true)
    }

    /// The number of instance `id`'s last history line.
    fn last_history_line(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let Some(entry) = self.history.scan_prefix(history_prefix(id)).next_back() else {
            return Ok(None);
        };
        let (key, _) = entry?;
        let tail: [u8; 8] = key[key.len() - 8..]
            .try_into()
            .map_err(|_| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "history key without a sequence number".into(),
            })?;
        Ok(Some(u64::from_be_bytes(tail)))
    }

    /// How commits reach the disk.
    pub fn flush_policy(&self) -> super::FlushPolicy {
        self.flush_policy
    }

    /// Waits until everything written so far is on disk, sharing the flush
    /// with concurrent writers unless the flush policy says otherwise.
    pub fn durable(&self) -> Result<(), StoreError> {
        match self.flush_policy {
            super::FlushPolicy::Group => self.group_commit.durable(|| self.flush()),
            super::FlushPolicy::EachCommit => self.flush(),
        }
    }

    /// Every instance record, in id order.
    pub fn instances(&self) -> impl Iterator<Item = Result<(String, Vec<u8>), StoreError>> + '_ {
        self.instances.iter().map(|entry| {
            let (key, stored) = entry?;
            Ok((
                String::from_utf8_lossy(&key).into_owned(),
                self.unstow(&stored)?,
            ))
        })
    }

    /// The ids of the instances whose id starts with `prefix`, in id order;
    /// their records are not read.
    pub fn instance_ids(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.instances
            .scan_prefix(prefix)
            .keys()
            .map(|key| Ok(String::from_utf8_lossy(&key?).into_owned()))
            .collect()
    }

    /// The history lines of instance `id`, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut lines = Vec::new();
        for entry in self.history.scan_prefix(history_prefix(id)) {
            let step = self.unstow(&entry?.1)?;
            lines.extend(step.split(|byte| *byte == b'\n').map(<[u8]>::to_vec));
        }
        Ok(lines)
    }

    /// The subscriptions an event with this type and source matches: those
    /// with no correlation, and for each `(attribute, value)` the event
    /// carries, those bound to that value or not yet bound.
    pub fn subscribers(
        &self,
        event_type: &str,
        source: &str,
        attributes: &[(String, String)],
    ) -> Result<Vec<SubscriptionKey>, StoreError> {
        let mut prefixes = vec![join(&[event_type, source, "", "", ""])];
        for (attribute, value) in attributes {
            prefixes.push(join(&[event_type, source, attribute, value, ""]));
            prefixes.push(join(&[event_type, source, attribute, "", ""]));
        }
        let mut found = Vec::new();
        for prefix in prefixes {
            for entry in self.subscriptions.scan_prefix(&prefix) {
                let (key, _) = entry?;
                if let Some(key) = decode_subscription(&key) {
                    found.push(key);
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// Stores a definition's source text under its version hash.
    pub fn put_definition(&self, version: &str, source: &[u8]) -> Result<(), StoreError> {
        super::values::check_key(version.as_bytes())?;
        self.definitions
            .insert(version.as_bytes(), self.stow(source)?)?;
        Ok(())
    }

    /// The source text of definition version `version`.
    pub fn definition(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.definitions
            .get(version.as_bytes())?
            .map(|stored| self.unstow(&stored))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(instance: &str, attribute: &str, value: &str) -> SubscriptionKey {
        SubscriptionKey {
            event_type: "order.paid".into(),
            source: "shop".into(),
            attribute: attribute.into(),
            value: value.into(),
            instance: instance.into(),
            thread: 1,
            event: "Paid".into(),
        }
    }

    #[test]
    fn subscribers_are_found_by_correlation_value_through_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let keys = [
            key("a", "orderid", "o1"),
            key("b", "orderid", "o2"),
            key("c", "", ""),
            key("d", "orderid", ""),
        ];
        for (i, k) in keys.iter().enumerate() {
            let id = format!("i{i}");
            store
                .write_step(StepWrite {
                    subscribe: vec![k.clone()],
                    ..StepWrite::plain(&id, b"{}", vec![b"h".to_vec()])
                })
                .unwrap();
        }
        let found = store
            .subscribers("order.paid", "shop", &[("orderid".into(), "o2".into())])
            .unwrap();
        let mut instances: Vec<&str> = found.iter().map(|k| k.instance.as_str()).collect();
        instances.sort_unstable();
        assert_eq!(instances, ["b", "c", "d"]);
        assert!(
            store
                .subscribers("order.paid", "other", &[])
                .unwrap()
                .is_empty()
        );
    }

    fn taking<'a>(instance: &'a str, key: &[u8]) -> StepWrite<'a> {
        StepWrite {
            take_buffered: vec![key.to_vec()],
            ..StepWrite::plain(instance, b"{}", vec![b"took it".to_vec()])
        }
    }

    #[test]
    fn the_first_step_that_consumes_an_event_marks_it_unfinished_and_no_step_overwrites_a_mark() {
        use crate::events::{ConsumedEvent, Seen};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let targets = ["a".to_string(), "b".to_string()];
        let consuming = |instance, at_ms| StepWrite {
            consumed_events: vec![ConsumedEvent {
                key: b"shop\0e1",
                at_ms,
                targets: &targets,
            }],
            ..StepWrite::plain(instance, b"{}", vec![])
        };
        assert!(store.write_step(consuming("a", 10)).unwrap());
        assert!(store.write_step(consuming("b", 20)).unwrap());
        let unfinished = Seen {
            at_ms: 10,
            unfinished: Some(targets.to_vec()),
        };
        assert_eq!(store.event_seen("shop", "e1").unwrap(), Some(unfinished));
        store.mark_event_seen("shop", "e1", 30).unwrap();
        assert!(store.write_step(consuming("b", 40)).unwrap());
        let complete = Seen {
            at_ms: 30,
            unfinished: None,
        };
        assert_eq!(store.event_seen("shop", "e1").unwrap(), Some(complete));
    }

    #[test]
    fn a_buffered_event_leaves_the_buffer_in_the_step_that_consumes_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = store
            .buffer_event("order.paid", "shop", b"event", 10)
            .unwrap()
            .unwrap();
        assert_eq!(store.buffered_count(), 1);
        assert!(store.write_step(taking("a", &key)).unwrap());
        assert_eq!(store.buffered_count(), 0);
        assert!(
            store
                .buffered_events("order.paid", "shop")
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.history("a").unwrap(), [b"took it".to_vec()]);
        // The loser of a race for the event writes nothing at all.
        assert!(!store.write_step(taking("b", &key)).unwrap());
        assert_eq!(store.instance("b").unwrap(), None);
        assert!(store.history("b").unwrap().is_empty());
    }

    #[test]
    fn history_lines_append_in_order_across_steps() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let write = |lines: &[&str]| {
            store
                .write_step(StepWrite::plain(
                    "x",
                    b"{}",
                    lines.iter().map(|line| line.as_bytes().to_vec()).collect(),
                ))
                .map(|_| ())
        };
        for step in [
            &["one", "two"][..],
            &[],
            &["three"],
            &["four", "five", "six"],
        ] {
            write(step).unwrap();
        }
        let error = write(&["seven\neight"]).unwrap_err().to_string();
        assert!(error.contains("a history line holds a newline"), "{error}");
        let lines: Vec<Vec<u8>> = ["one", "two", "three", "four", "five", "six"]
            .iter()
            .map(|line| line.as_bytes().to_vec())
            .collect();
        assert_eq!(store.history("x").unwrap(), lines);
        assert!(store.history("x2").unwrap().is_empty());
        // Reopened, the numbering goes on after the last line.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        store
            .write_step(StepWrite::plain("x", b"{}", vec![b"seven".to_vec()]))
            .unwrap();
        assert_eq!(store.history("x").unwrap().len(), 7);
        assert_eq!(store.history("x").unwrap()[6], b"seven");
    }
}
