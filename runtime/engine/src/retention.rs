//! What retention needs to know of records: which finished instances may
//! go, and which buffered events expired. The server's retention task
//! calls these in bounded batches; the store does the deleting (see
//! `swirl_store::retention`).

use super::*;

impl Engine {
    /// Deletes up to `limit` instances that ended before `cutoff_ms`, with
    /// their history; returns how many. A child whose parent still waits
    /// for its end is kept (its index entry moves to now), so that the
    /// parent's recovery finds it ended rather than never started.
    pub fn forget_finished(&self, cutoff_ms: u64, limit: usize) -> Result<usize, EngineError> {
        let store = &self.inner.store;
        let mut forgotten = 0;
        for (ended_ms, id) in store.finished_before(cutoff_ms, limit)? {
            if let Some(record) = self.load(&id)?
                && self.awaited(&record)?
            {
                store.postpone_finished(ended_ms, self.now_ms(), &id)?;
                continue;
            }
            let Some(bytes) = store.forget_instance(ended_ms, &id)? else {
                continue;
            };
            forgotten += 1;
            let mut catalog = self.inner.catalog.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some(catalog), Ok(record)) = (catalog.as_mut(), decode_record(&id, &bytes)) {
                catalog.forget(&record);
            }
        }
        Ok(forgotten)
    }

    /// True when `record`'s parent is unfinished and still waits for it.
    fn awaited(&self, record: &InstanceRecord) -> Result<bool, EngineError> {
        let Some(link) = record.parent.as_ref().filter(|link| link.waits) else {
            return Ok(false);
        };
        Ok(self.load(&link.instance_id)?.is_some_and(|parent| {
            !parent.status.is_final() && parent.children.values().any(|child| *child == record.id)
        }))
    }

    /// Deletes the buffered events received before `cutoff_ms` among up to
    /// `limit` after the key `after`; returns how many, and where a next
    /// batch goes on (`None`: the end).
    pub fn forget_buffered(
        &self,
        cutoff_ms: u64,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(usize, Option<Vec<u8>>), EngineError> {
        let store = &self.inner.store;
        let batch = store.buffered_after(after, limit)?;
        let next = (batch.len() == limit)
            .then(|| batch.last().map(|(key, _)| key.clone()))
            .flatten();
        let mut forgotten = 0;
        for (key, bytes) in batch {
            // An event that cannot be read can never be delivered either.
            let expired = serde_json::from_slice::<BufferedEvent>(&bytes)
                .map_or(true, |buffered| buffered.received_ms < cutoff_ms);
            if expired && store.take_buffered_event(&key)?.is_some() {
                forgotten += 1;
            }
        }
        Ok((forgotten, next))
    }

    /// Indexes the finished instances among `all` unless the store says
    /// they are (a data directory from before retention): each as ended at
    /// its last update.
    pub(crate) fn index_finished(&self, all: &[InstanceRecord]) -> Result<(), EngineError> {
        let store = &self.inner.store;
        if store.finished_indexed()? {
            return Ok(());
        }
        for record in all.iter().filter(|record| record.status.is_final()) {
            store.index_finished(record.updated_ms, &record.id)?;
        }
        Ok(store.mark_finished_indexed()?)
    }
}
