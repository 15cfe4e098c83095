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
        let (found, read) = list_reading(&*self.inner.store, workflow_id, status)?;
        self.read(read);
        Ok(found)
    }

    /// Counts `count` records decoded.
    pub(crate) fn read(&self, count: u64) {
        self.inner
            .records_read
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
    }

    /// A page of [`Engine::list`]: up to `limit` instances started before
    /// `before` (see [`InstanceRecord::start_order`]), newest first, and
    /// whether more follow. Reads the records it answers, no other.
    pub fn page(
        &self,
        workflow_id: Option<&str>,
        status: Option<Status>,
        before: Option<(u64, &str)>,
        limit: usize,
    ) -> Result<(Vec<InstanceRecord>, bool), EngineError> {
        let (ids, more) = self.with_catalog(|catalog| {
            catalog.page(before, limit, |got, workflow, _| {
                workflow_id.is_none_or(|w| w == workflow) && status.is_none_or(|s| s == *got)
            })
        })?;
        Ok((self.load_all(&ids)?, more))
    }

    /// The unfinished instances whose calls go to function `name` (an
    /// alias of it included): up to `limit`, newest first, and how many
    /// there are. Reads the records it answers, no other.
    pub fn live_calling(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<(Vec<InstanceRecord>, usize), EngineError> {
        let calls = |status: &Status, _: &str, functions: &[(String, String)]| {
            !status.is_final()
                && functions
                    .iter()
                    .any(|(resource, _)| swirl_core::function_ref::split(resource).0 == name)
        };
        let (ids, count) = self
            .with_catalog(|catalog| (catalog.page(None, limit, calls).0, catalog.count(calls)))?;
        Ok((self.load_all(&ids)?, count))
    }

    /// (function, version) → the unfinished instances pinned to that
    /// version, reading no record.
    pub fn pinned_versions(
        &self,
    ) -> Result<BTreeMap<(String, String), BTreeSet<String>>, EngineError> {
        self.with_catalog(Catalog::pinned)
    }

    /// The records of `ids` still there (retention may have deleted one
    /// since the catalog named it).
    fn load_all(&self, ids: &[String]) -> Result<Vec<InstanceRecord>, EngineError> {
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            records.extend(self.load(id)?);
        }
        Ok(records)
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
    Ok(list_reading(store, workflow_id, status)?.0)
}

/// [`list`], and how many records it decoded.
fn list_reading(
    store: &dyn InstanceStore,
    workflow_id: Option<&str>,
    status: Option<Status>,
) -> Result<(Vec<InstanceRecord>, u64), EngineError> {
    let mut found = Vec::new();
    let mut read = 0;
    for entry in store.instances() {
        let (id, bytes) = entry?;
        read += 1;
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
    Ok((found, read))
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
