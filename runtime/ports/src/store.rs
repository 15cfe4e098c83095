//! The instance store: where the engine keeps instances, their histories,
//! the index of the events they wait for, the events nobody waits for yet,
//! the ids of events already seen, produced events until they are routed,
//! and the definitions instances started with.
//!
//! Records are opaque bytes; the engine owns their shape. What a store
//! owns is atomicity and durability:
//! - one [`StepWrite`] (a run's record, history, subscription changes, kv
//!   writes, produced events, the buffered event it consumes) is applied
//!   atomically by [`InstanceStore::write_step`], and guarded: it writes
//!   nothing when the buffered event it takes is gone;
//! - [`InstanceStore::durable`] returns once everything written before it
//!   survives a power cut; concurrent callers may share one flush.

use std::sync::Arc;

use crate::kv::KvWrites;

/// A record's key and its bytes.
pub type KeyedBytes = (Vec<u8>, Vec<u8>);

/// Why the store could not do what was asked: the backend's own error, kept
/// whole for the message, shareable by every waiter of a failed flush.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct StoreFailure(Arc<dyn std::error::Error + Send + Sync>);

impl StoreFailure {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreFailure(Arc::new(error))
    }
}

/// How commits reach the disk. Both are durable: a commit is acknowledged
/// only after its flush; they differ in whether concurrent commits share one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Concurrent commits share one flush (group commit).
    #[default]
    Group,
    /// Every commit flushes on its own: the baseline that shows what group
    /// commit saves (`swirl serve --flush each`).
    EachCommit,
}

/// An index entry: instance `instance`'s thread `thread` waits for event
/// definition `event` with this type and source, and (when correlated)
/// this attribute value; an empty value accepts any value of the attribute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionKey {
    pub event_type: String,
    pub source: String,
    pub attribute: String,
    pub value: String,
    pub instance: String,
    pub thread: u64,
    pub event: String,
}

/// An event's seen mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// When the event was first seen, in Unix milliseconds.
    pub at_ms: u64,
    /// While the delivery may be unfinished, the instances it was for: one
    /// of them consumed the event (the mark was written with that run) but
    /// the delivery did not reach its final mark. A resend finishes it.
    pub unfinished: Option<Vec<String>>,
}

/// The event a run consumes, for the seen mark written with the run.
#[derive(Debug, Clone, Copy)]
pub struct ConsumedEvent<'a> {
    /// Its `(source, id)` key, as the engine spells it (`source \0 id`).
    pub key: &'a [u8],
    pub at_ms: u64,
    /// Every instance the delivery is for.
    pub targets: &'a [String],
}

/// Everything one commit of a run writes.
pub struct StepWrite<'a> {
    pub instance: &'a str,
    /// The record after the run.
    pub record: Vec<u8>,
    /// History lines the run added, in order; none holds a newline (JSON
    /// does not).
    pub history: Vec<Vec<u8>>,
    pub unsubscribe: Vec<SubscriptionKey>,
    pub subscribe: Vec<SubscriptionKey>,
    /// Function kv writes of the calls the run completed, by function,
    /// committed with them so a completed call's effects are stored
    /// exactly once.
    pub kv: Vec<(&'a str, &'a KvWrites)>,
    /// Events the run produced, into the outbox with the run, so that a
    /// committed run's events are never lost.
    pub outbox: Vec<KeyedBytes>,
    /// The keys of the buffered events the run consumes (a wake takes one,
    /// a start on `all` of several events one per event): removed in the
    /// run's commit; if any is already gone, nothing is written.
    pub take_buffered: Vec<Vec<u8>>,
    /// The events the run consumes (the live one; a start on `all`, each
    /// of its set): each marked seen, unfinished, in the commit unless it
    /// has a mark already, so that a resend after a crash before the
    /// delivery's final mark finishes that delivery.
    pub consumed_events: Vec<ConsumedEvent<'a>>,
    /// When the instance reached a final status, if this commit ended it:
    /// indexed with it, so that retention finds it by its end.
    pub finished_ms: Option<u64>,
}

impl<'a> StepWrite<'a> {
    /// A commit that writes `record` and `history` and nothing else.
    pub fn plain(instance: &'a str, record: &[u8], history: Vec<Vec<u8>>) -> Self {
        StepWrite {
            instance,
            record: record.to_vec(),
            history,
            unsubscribe: vec![],
            subscribe: vec![],
            kv: Vec::new(),
            outbox: vec![],
            take_buffered: Vec::new(),
            consumed_events: Vec::new(),
            finished_ms: None,
        }
    }
}

/// The records of every instance, in id order.
pub type Records<'a> = Box<dyn Iterator<Item = Result<(String, Vec<u8>), StoreFailure>> + 'a>;

/// The durable store of instances, as the engine uses it.
pub trait InstanceStore: Send + Sync {
    // Instances.

    /// The record of instance `id`, if it exists.
    fn instance(&self, id: &str) -> Result<Option<Vec<u8>>, StoreFailure>;
    /// Every instance's id and record.
    fn instances(&self) -> Records<'_>;
    /// The ids of the instances whose id starts with `prefix`, in id order,
    /// without reading their records.
    fn instance_ids(&self, prefix: &str) -> Result<Vec<String>, StoreFailure>;
    /// Instance `id`'s history lines, oldest first.
    fn history(&self, id: &str) -> Result<Vec<Vec<u8>>, StoreFailure>;
    /// Applies one run's commit atomically; `false` (nothing written) when
    /// a buffered event it takes was taken first.
    fn write_step(&self, write: StepWrite<'_>) -> Result<bool, StoreFailure>;
    /// Returns once everything written so far survives a power cut.
    fn durable(&self) -> Result<(), StoreFailure>;
    fn flush_policy(&self) -> FlushPolicy;
    /// The subscriptions an event with this type and source matches: those
    /// with no correlation, and for each `(attribute, value)` the event
    /// carries, those bound to that value or not yet bound.
    fn subscribers(
        &self,
        event_type: &str,
        source: &str,
        attributes: &[(String, String)],
    ) -> Result<Vec<SubscriptionKey>, StoreFailure>;

    // Definitions, by version.

    fn put_definition(&self, version: &str, source: &[u8]) -> Result<(), StoreFailure>;
    fn definition(&self, version: &str) -> Result<Option<Vec<u8>>, StoreFailure>;

    // Events seen and events kept.

    /// The seen mark of the event `(source, id)`.
    fn event_seen(&self, source: &str, id: &str) -> Result<Option<Seen>, StoreFailure>;
    /// Marks `(source, id)` seen, finished, at `now_ms`.
    fn mark_event_seen(&self, source: &str, id: &str, now_ms: u64) -> Result<(), StoreFailure>;
    /// Keeps an event until an instance waits for it; returns its key, or
    /// `None` (and keeps nothing) when `limit` events are kept already.
    fn buffer_event(
        &self,
        event_type: &str,
        source: &str,
        event: &[u8],
        limit: usize,
    ) -> Result<Option<Vec<u8>>, StoreFailure>;
    /// The kept events of this type and source (of every source when
    /// `source` is empty: events always have one), oldest first by source.
    fn buffered_events(
        &self,
        event_type: &str,
        source: &str,
    ) -> Result<Vec<KeyedBytes>, StoreFailure>;
    /// Up to `limit` kept events after the key `after`, in key order.
    fn buffered_after(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyedBytes>, StoreFailure>;
    /// Takes a kept event out; `None` when someone else took it first.
    fn take_buffered_event(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreFailure>;

    // Produced events until they are routed.

    fn put_outbox(&self, entries: &[KeyedBytes]) -> Result<(), StoreFailure>;
    fn outbox(&self) -> Result<Vec<KeyedBytes>, StoreFailure>;
    /// Moves an outbox event to the sink queue (one entry per sink) in one
    /// transaction, durably; with no sink entries it only removes it.
    fn hand_off(&self, outbox_key: &[u8], queue: &[KeyedBytes]) -> Result<(), StoreFailure>;

    // Finished instances by end time, for retention.

    /// Up to `limit` instances that ended before `cutoff_ms`, earliest
    /// first, as `(ended_ms, id)`.
    fn finished_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreFailure>;
    /// Moves instance `id`'s entry from `ended_ms` to `later_ms`.
    fn postpone_finished(&self, ended_ms: u64, later_ms: u64, id: &str)
    -> Result<(), StoreFailure>;
    /// Deletes a finished instance, its history and its index entry;
    /// answers its record, or `None` when it was gone.
    fn forget_instance(&self, ended_ms: u64, id: &str) -> Result<Option<Vec<u8>>, StoreFailure>;
    /// True once every finished instance is indexed.
    fn finished_indexed(&self) -> Result<bool, StoreFailure>;
    /// Records, durably, that every finished instance is indexed.
    fn mark_finished_indexed(&self) -> Result<(), StoreFailure>;
    fn index_finished(&self, ended_ms: u64, id: &str) -> Result<(), StoreFailure>;
}
