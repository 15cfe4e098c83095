//! The store as the engine's [`InstanceStore`] port: each method is the
//! store's own, its error kept whole inside a [`StoreFailure`].

use swirl_ports::store::{
    FlushPolicy, InstanceStore, KeyedBytes, Records, Seen, StepWrite, StoreFailure, SubscriptionKey,
};

use super::{Store, StoreError};

impl From<StoreError> for StoreFailure {
    fn from(error: StoreError) -> Self {
        StoreFailure::new(error)
    }
}

type Result<T> = std::result::Result<T, StoreFailure>;

impl InstanceStore for Store {
    fn instance(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(Store::instance(self, id)?)
    }

    fn instances(&self) -> Records<'_> {
        Box::new(Store::instances(self).map(|entry| entry.map_err(StoreFailure::from)))
    }

    fn instance_ids(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(Store::instance_ids(self, prefix)?)
    }

    fn history(&self, id: &str) -> Result<Vec<Vec<u8>>> {
        Ok(Store::history(self, id)?)
    }

    fn write_step(&self, write: StepWrite<'_>) -> Result<bool> {
        Ok(Store::write_step(self, write)?)
    }

    fn durable(&self) -> Result<()> {
        Ok(Store::durable(self)?)
    }

    fn flush_policy(&self) -> FlushPolicy {
        Store::flush_policy(self)
    }

    fn subscribers(
        &self,
        event_type: &str,
        source: &str,
        attributes: &[(String, String)],
    ) -> Result<Vec<SubscriptionKey>> {
        Ok(Store::subscribers(self, event_type, source, attributes)?)
    }

    fn put_definition(&self, version: &str, source: &[u8]) -> Result<()> {
        Ok(Store::put_definition(self, version, source)?)
    }

    fn definition(&self, version: &str) -> Result<Option<Vec<u8>>> {
        Ok(Store::definition(self, version)?)
    }

    fn event_seen(&self, source: &str, id: &str) -> Result<Option<Seen>> {
        Ok(Store::event_seen(self, source, id)?)
    }

    fn mark_event_seen(&self, source: &str, id: &str, now_ms: u64) -> Result<()> {
        Ok(Store::mark_event_seen(self, source, id, now_ms)?)
    }

    fn buffer_event(
        &self,
        event_type: &str,
        source: &str,
        event: &[u8],
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        Ok(Store::buffer_event(self, event_type, source, event, limit)?)
    }

    fn buffered_events(&self, event_type: &str, source: &str) -> Result<Vec<KeyedBytes>> {
        Ok(Store::buffered_events(self, event_type, source)?)
    }

    fn buffered_after(&self, after: Option<&[u8]>, limit: usize) -> Result<Vec<KeyedBytes>> {
        Ok(Store::buffered_after(self, after, limit)?)
    }

    fn take_buffered_event(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(Store::take_buffered_event(self, key)?)
    }

    fn put_outbox(&self, entries: &[KeyedBytes]) -> Result<()> {
        Ok(Store::put_outbox(self, entries)?)
    }

    fn outbox(&self) -> Result<Vec<KeyedBytes>> {
        Ok(Store::outbox(self)?)
    }

    fn hand_off(&self, outbox_key: &[u8], queue: &[KeyedBytes]) -> Result<()> {
        Ok(Store::hand_off(self, outbox_key, queue)?)
    }

    fn finished_before(&self, cutoff_ms: u64, limit: usize) -> Result<Vec<(u64, String)>> {
        Ok(Store::finished_before(self, cutoff_ms, limit)?)
    }

    fn postpone_finished(&self, ended_ms: u64, later_ms: u64, id: &str) -> Result<()> {
        Ok(Store::postpone_finished(self, ended_ms, later_ms, id)?)
    }

    fn forget_instance(&self, ended_ms: u64, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(Store::forget_instance(self, ended_ms, id)?)
    }

    fn finished_indexed(&self) -> Result<bool> {
        Ok(Store::finished_indexed(self)?)
    }

    fn mark_finished_indexed(&self) -> Result<()> {
        Ok(Store::mark_finished_indexed(self)?)
    }

    fn index_finished(&self, ended_ms: u64, id: &str) -> Result<()> {
        Ok(Store::index_finished(self, ended_ms, id)?)
    }
}
