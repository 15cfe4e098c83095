//! What retention needs to know of records: which finished instances may
//! go, and which buffered events expired. The server's retention task
//! calls these in bounded batches; the store does the deleting (see
//! `swirl_store::retention`).

use std::time::Duration;

use super::*;

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// Deletes, among up to `limit` instances that ended more than
    /// `shortest` ago, those that ended more than `kept(workflow id)` ago,
    /// with their history; returns how many, and whether the batch was
    /// full (more may be due). An instance kept longer has its index entry
    /// moved to when it is due, so that no later batch reads it before. A
    /// child whose parent still waits for its end is kept too (its entry
    /// moves to now), so that the parent's recovery finds it ended rather
    /// than never started.
    pub fn forget_finished(
        &self,
        shortest: Duration,
        kept: impl Fn(&str) -> Duration,
        limit: usize,
    ) -> Result<(usize, bool), EngineError> {
        let store = &self.inner.store;
        let now = self.now_ms();
        let shortest = millis(shortest);
        let batch = store.finished_before(now.saturating_sub(shortest), limit)?;
        let full = batch.len() == limit;
        let mut forgotten = 0;
        for (ended_ms, id) in batch {
            if let Some(record) = self.load(&id)? {
                if self.awaited(&record)? {
                    store.postpone_finished(ended_ms, now, &id)?;
                    continue;
                }
                let due = record
                    .updated_ms
                    .saturating_add(millis(kept(&record.workflow_id)));
                if due > now {
                    store.postpone_finished(ended_ms, due - shortest, &id)?;
                    continue;
                }
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
        Ok((forgotten, full))
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
