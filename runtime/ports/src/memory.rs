//! The ports in memory: a store that keeps everything in maps (and loses
//! it with the process), an invoker whose functions are Rust closures, and
//! a clock that moves only when told.
//! For tests of the engine alone (no wasm, no disk) and for runs that keep
//! nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::watch;

use crate::clock::{Clock, Sleep};
use crate::invoke::{Call, Failure, Invocation, InvokeError, Invoker, RequestError};
use crate::kv::{KvError, KvStore, KvWrites};
use crate::store::{
    FlushPolicy, InstanceStore, KeyedBytes, Records, Seen, StepWrite, StoreFailure, SubscriptionKey,
};

#[derive(Default)]
struct State {
    instances: BTreeMap<String, Vec<u8>>,
    /// Each instance's history lines, oldest first.
    history: BTreeMap<String, Vec<Vec<u8>>>,
    subscriptions: BTreeMap<SubscriptionKey, ()>,
    definitions: BTreeMap<String, Vec<u8>>,
    seen: BTreeMap<Vec<u8>, Seen>,
    /// Keyed `type \0 source \0 sequence`, so one type and source are a range.
    buffered: BTreeMap<Vec<u8>, Vec<u8>>,
    next_buffered: u64,
    outbox: BTreeMap<Vec<u8>, Vec<u8>>,
    sink_queue: BTreeMap<Vec<u8>, Vec<u8>>,
    finished: BTreeMap<(u64, String), ()>,
    finished_indexed: bool,
    kv: BTreeMap<(String, String), Vec<u8>>,
}

/// An [`InstanceStore`] (and [`KvStore`]) in memory. Clones share one store.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event index, in key order (for tests that it matches the
    /// records' subscriptions).
    pub fn subscription_index(&self) -> Vec<SubscriptionKey> {
        self.lock().subscriptions.keys().cloned().collect()
    }

    /// The entries of the sink queue (for tests of what was handed off).
    pub fn sink_queue(&self) -> Vec<KeyedBytes> {
        let state = self.lock();
        state
            .sink_queue
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// As the sled store's: an empty source is every source.
fn buffer_prefix(event_type: &str, source: &str) -> Vec<u8> {
    if source.is_empty() {
        return [event_type.as_bytes(), b"\0"].concat();
    }
    [event_type.as_bytes(), b"\0", source.as_bytes(), b"\0"].concat()
}

fn entries(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<KeyedBytes> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn apply_kv(state: &mut State, function: &str, writes: &KvWrites) {
    for (key, value) in writes {
        let key = (function.to_string(), key.clone());
        match value {
            Some(value) => state.kv.insert(key, value.clone()),
            None => state.kv.remove(&key),
        };
    }
}

impl InstanceStore for MemoryStore {
    fn instance(&self, id: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        Ok(self.lock().instances.get(id).cloned())
    }

    fn instances(&self) -> Records<'_> {
        let all: Vec<_> = self
            .lock()
            .instances
            .iter()
            .map(|(id, record)| Ok((id.clone(), record.clone())))
            .collect();
        Box::new(all.into_iter())
    }

    fn instance_ids(&self, prefix: &str) -> Result<Vec<String>, StoreFailure> {
        Ok(self
            .lock()
            .instances
            .range(prefix.to_string()..)
            .map(|(id, _)| id)
            .take_while(|id| id.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn history(&self, id: &str) -> Result<Vec<Vec<u8>>, StoreFailure> {
        Ok(self.lock().history.get(id).cloned().unwrap_or_default())
    }

    fn write_step(&self, write: StepWrite<'_>) -> Result<bool, StoreFailure> {
        let mut state = self.lock();
        if write
            .take_buffered
            .iter()
            .any(|key| !state.buffered.contains_key(key))
        {
            return Ok(false);
        }
        for key in &write.take_buffered {
            state.buffered.remove(key);
        }
        let id = write.instance.to_string();
        state.instances.insert(id.clone(), write.record);
        state
            .history
            .entry(id.clone())
            .or_default()
            .extend(write.history);
        for key in write.unsubscribe {
            state.subscriptions.remove(&key);
        }
        for key in write.subscribe {
            state.subscriptions.insert(key, ());
        }
        for (function, writes) in write.kv {
            apply_kv(&mut state, function, writes);
        }
        state.outbox.extend(write.outbox);
        for event in write.consumed_events {
            state.seen.entry(event.key.to_vec()).or_insert(Seen {
                at_ms: event.at_ms,
                unfinished: Some(event.targets.to_vec()),
            });
        }
        if let Some(ended_ms) = write.finished_ms {
            state.finished.insert((ended_ms, id), ());
        }
        Ok(true)
    }

    fn durable(&self) -> Result<(), StoreFailure> {
        Ok(())
    }

    fn flush_policy(&self) -> FlushPolicy {
        FlushPolicy::Group
    }

    fn subscribers(
        &self,
        event_type: &str,
        source: &str,
        attributes: &[(String, String)],
    ) -> Result<Vec<SubscriptionKey>, StoreFailure> {
        let state = self.lock();
        let matches = |key: &SubscriptionKey| {
            key.event_type == event_type
                && key.source == source
                && (key.attribute.is_empty()
                    || attributes.iter().any(|(attribute, value)| {
                        key.attribute == *attribute && (key.value.is_empty() || key.value == *value)
                    }))
        };
        Ok(state
            .subscriptions
            .keys()
            .filter(|key| matches(key))
            .cloned()
            .collect())
    }

    fn put_definition(&self, version: &str, source: &[u8]) -> Result<(), StoreFailure> {
        self.lock()
            .definitions
            .insert(version.to_string(), source.to_vec());
        Ok(())
    }

    fn definition(&self, version: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        Ok(self.lock().definitions.get(version).cloned())
    }

    fn event_seen(&self, source: &str, id: &str) -> Result<Option<Seen>, StoreFailure> {
        let key = [source.as_bytes(), b"\0", id.as_bytes()].concat();
        Ok(self.lock().seen.get(&key).cloned())
    }

    fn mark_event_seen(&self, source: &str, id: &str, now_ms: u64) -> Result<(), StoreFailure> {
        let key = [source.as_bytes(), b"\0", id.as_bytes()].concat();
        let seen = Seen {
            at_ms: now_ms,
            unfinished: None,
        };
        self.lock().seen.insert(key, seen);
        Ok(())
    }

    fn buffer_event(
        &self,
        event_type: &str,
        source: &str,
        event: &[u8],
        limit: usize,
    ) -> Result<Option<Vec<u8>>, StoreFailure> {
        let mut state = self.lock();
        if state.buffered.len() >= limit {
            return Ok(None);
        }
        state.next_buffered += 1;
        let mut key = buffer_prefix(event_type, source);
        key.extend_from_slice(&state.next_buffered.to_be_bytes());
        state.buffered.insert(key.clone(), event.to_vec());
        Ok(Some(key))
    }

    fn buffered_events(
        &self,
        event_type: &str,
        source: &str,
    ) -> Result<Vec<KeyedBytes>, StoreFailure> {
        let prefix = buffer_prefix(event_type, source);
        let state = self.lock();
        Ok(state
            .buffered
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn buffered_after(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyedBytes>, StoreFailure> {
        let state = self.lock();
        Ok(state
            .buffered
            .iter()
            .filter(|(key, _)| after.is_none_or(|after| key.as_slice() > after))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn take_buffered_event(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreFailure> {
        Ok(self.lock().buffered.remove(key))
    }

    fn put_outbox(&self, entries: &[KeyedBytes]) -> Result<(), StoreFailure> {
        self.lock().outbox.extend(entries.iter().cloned());
        Ok(())
    }

    fn outbox(&self) -> Result<Vec<KeyedBytes>, StoreFailure> {
        Ok(entries(&self.lock().outbox))
    }

    fn hand_off(&self, outbox_key: &[u8], queue: &[KeyedBytes]) -> Result<(), StoreFailure> {
        let mut state = self.lock();
        state.outbox.remove(outbox_key);
        state.sink_queue.extend(queue.iter().cloned());
        Ok(())
    }

    fn finished_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreFailure> {
        let state = self.lock();
        Ok(state
            .finished
            .keys()
            .take_while(|(ended_ms, _)| *ended_ms < cutoff_ms)
            .take(limit)
            .cloned()
            .collect())
    }

    fn postpone_finished(
        &self,
        ended_ms: u64,
        later_ms: u64,
        id: &str,
    ) -> Result<(), StoreFailure> {
        let mut state = self.lock();
        state.finished.remove(&(ended_ms, id.to_string()));
        state.finished.insert((later_ms, id.to_string()), ());
        Ok(())
    }

    fn forget_instance(&self, ended_ms: u64, id: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        let mut state = self.lock();
        state.history.remove(id);
        state.finished.remove(&(ended_ms, id.to_string()));
        Ok(state.instances.remove(id))
    }

    fn finished_indexed(&self) -> Result<bool, StoreFailure> {
        Ok(self.lock().finished_indexed)
    }

    fn mark_finished_indexed(&self) -> Result<(), StoreFailure> {
        self.lock().finished_indexed = true;
        Ok(())
    }

    fn index_finished(&self, ended_ms: u64, id: &str) -> Result<(), StoreFailure> {
        self.lock().finished.insert((ended_ms, id.to_string()), ());
        Ok(())
    }
}

impl KvStore for MemoryStore {
    fn get(&self, function: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let key = (function.to_string(), key.to_string());
        Ok(self.lock().kv.get(&key).cloned())
    }

    fn apply(&self, function: &str, writes: &KvWrites) -> Result<(), KvError> {
        apply_kv(&mut self.lock(), function, writes);
        Ok(())
    }
}

/// A function as a closure: JSON input to JSON output or a failure.
pub type NativeFunction = Arc<dyn Fn(Value) -> Result<Value, Failure> + Send + Sync>;

/// An [`Invoker`] whose functions are closures, every one at version `1`;
/// protocol requests are refused.
#[derive(Clone, Default)]
pub struct NativeInvoker {
    functions: BTreeMap<String, NativeFunction>,
}

impl NativeInvoker {
    pub fn new() -> Self {
        NativeInvoker::default()
    }

    /// Adds function `name`.
    pub fn with(
        mut self,
        name: &str,
        function: impl Fn(Value) -> Result<Value, Failure> + Send + Sync + 'static,
    ) -> Self {
        self.functions.insert(name.to_string(), Arc::new(function));
        self
    }
}

impl Invoker for NativeInvoker {
    fn invoke(
        &self,
        function: &str,
        _version: Option<&str>,
        call: Call,
    ) -> Result<Invocation, InvokeError> {
        let body = self
            .functions
            .get(function)
            .ok_or_else(|| InvokeError(format!("no function named '{function}'")))?;
        let input = serde_json::from_slice(&call.input).unwrap_or(Value::Null);
        let outcome = body(input).map(|output| output.to_string().into_bytes());
        Ok(Invocation::immediate(
            format!("{function}-{}", call.attempt),
            "1",
            outcome,
        ))
    }

    fn current_versions(
        &self,
        functions: &mut dyn Iterator<Item = &str>,
    ) -> BTreeMap<String, String> {
        functions
            .filter(|name| self.functions.contains_key(*name))
            .map(|name| (name.to_string(), "1".to_string()))
            .collect()
    }

    fn request(
        &self,
        _workflow: &str,
        protocol: &str,
        _arguments: &Value,
    ) -> Result<Value, RequestError> {
        Err(RequestError::Transport(format!(
            "{protocol} requests are not made in memory"
        )))
    }
}

/// A [`Clock`] that stands still until [`ManualClock::advance`] moves it:
/// what waits on it wakes when the clock passes its due time, at once and in
/// order, however long the wait. Clones share one time.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<u64>>,
}

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn at(now_ms: u64) -> Self {
        ManualClock {
            now: Arc::new(watch::Sender::new(now_ms)),
        }
    }

    /// Moves the clock forward by `by`, waking what came due.
    pub fn advance(&self, by: std::time::Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, due_ms: u64) -> Sleep {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // An error means the clock is gone: nothing will come due.
            if now.wait_for(|now| *now >= due_ms).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
