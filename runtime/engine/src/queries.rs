//! Reading instances: a record, waiting for its end, history and lists, also
//! without a running engine.

use super::*;

impl Engine {
    /// The record of instance `id`.
    pub fn get(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.load(id)?
            .ok_or_else(|| EngineError::UnknownInstance(id.to_string()))
    }

    /// Waits until instance `id` reaches a final status and returns it.
    pub async fn wait(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        loop {
            let notify = self
                .inner
                .finished
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(id.to_string())
                .or_default()
                .clone();
            let notified = notify.notified();
            let record = self.get(id)?;
            if record.status.is_final() {
                // The record may be a run's commit not yet durable.
                self.settled().await?;
                return Ok(record);
            }
            notified.await;
        }
    }

    /// History of instance `id`, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, EngineError> {
        history(&*self.inner.store, id)
    }

    /// Instances, optionally of one workflow and one status, newest first
    /// (see [`InstanceRecord::start_order`]).
    pub fn list(
        &self,
        workflow_id: Option<&str>,
        status: Option<Status>,
    ) -> Result<Vec<InstanceRecord>, EngineError> {
        list(&*self.inner.store, workflow_id, status)
    }
}

/// Instances of a data directory, optionally of one workflow and one
/// status, newest first (see [`InstanceRecord::start_order`]); needs no
/// running engine.
pub fn list(
    store: &dyn InstanceStore,
    workflow_id: Option<&str>,
    status: Option<Status>,
) -> Result<Vec<InstanceRecord>, EngineError> {
    let mut found = Vec::new();
    for entry in store.instances() {
        let (id, bytes) = entry?;
        let record = decode_record(&id, &bytes)?;
        if workflow_id.is_some_and(|w| w != record.workflow_id)
            || status.is_some_and(|s| s != record.status)
        {
            continue;
        }
        found.push(record);
    }
    // The store keeps records in id order, and ids started by events are
    // hashes: the start order needs a sort.
    found.sort_unstable_by(|a, b| b.start_order().cmp(&a.start_order()));
    Ok(found)
}

pub(crate) fn count_by_status(records: &[InstanceRecord]) -> HashMap<Status, u64> {
    let mut counts = HashMap::new();
    for record in records {
        *counts.entry(record.status).or_insert(0) += 1;
    }
    counts
}

/// History of instance `id`, oldest first; needs no running engine.
pub fn history(store: &dyn InstanceStore, id: &str) -> Result<Vec<HistoryEntry>, EngineError> {
    if store.instance(id)?.is_none() {
        return Err(EngineError::UnknownInstance(id.to_string()));
    }
    store
        .history(id)?
        .iter()
        .map(|bytes| {
            serde_json::from_slice(bytes).map_err(|error| EngineError::Corrupt {
                id: id.to_string(),
                reason: error.to_string(),
            })
        })
        .collect()
}
