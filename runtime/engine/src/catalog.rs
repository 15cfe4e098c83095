//! The instances in start order, in memory: what a listing page, the counts
//! by status and a function's live instances need to know of each instance
//! (status, workflow, functions), so that they read the records they answer
//! and no other. Built once from the records (by recovery, or by the first
//! query of an engine that did not recover), then kept by every commit and
//! every deletion, like the counts it holds.

use super::*;

/// The key of an instance in start order: see [`InstanceRecord::start_order`].
type StartKey = (u64, String);

/// What the catalog keeps of one instance.
struct Entry {
    status: Status,
    workflow_id: String,
    /// The function resources its calls go to, with the version each is
    /// pinned to (fixed at its start).
    functions: Vec<(String, String)>,
}

impl Entry {
    fn of(record: &InstanceRecord) -> Self {
        Entry {
            status: record.status,
            workflow_id: record.workflow_id.clone(),
            functions: record
                .function_versions
                .iter()
                .map(|(resource, version)| (resource.clone(), version.clone()))
                .collect(),
        }
    }
}

/// Instances by start order, and how many there are of each status.
#[derive(Default)]
pub(crate) struct Catalog {
    entries: BTreeMap<StartKey, Entry>,
    counts: HashMap<Status, u64>,
}

impl Catalog {
    pub(crate) fn of(records: &[InstanceRecord]) -> Self {
        let mut catalog = Catalog::default();
        for record in records {
            catalog.keep(record);
        }
        catalog
    }

    /// Takes in `record` as committed: added when new, else its status
    /// moved. Idempotent, so a commit seen by the first count too is
    /// counted once.
    pub(crate) fn keep(&mut self, record: &InstanceRecord) {
        let key = start_key(record);
        if let Some(entry) = self.entries.get_mut(&key) {
            if entry.status == record.status {
                return;
            }
            decrement(&mut self.counts, entry.status);
            entry.status = record.status;
        } else {
            self.entries.insert(key, Entry::of(record));
        }
        *self.counts.entry(record.status).or_insert(0) += 1;
    }

    /// Takes out a deleted instance.
    pub(crate) fn forget(&mut self, record: &InstanceRecord) {
        if let Some(entry) = self.entries.remove(&start_key(record)) {
            decrement(&mut self.counts, entry.status);
        }
    }

    pub(crate) fn counts(&self) -> &HashMap<Status, u64> {
        &self.counts
    }

    /// Up to `limit` ids of instances started before `before` (all when
    /// `None`), newest first, that `keep` accepts; and whether more follow.
    pub(crate) fn page(
        &self,
        before: Option<(u64, &str)>,
        limit: usize,
        keep: impl Fn(&Status, &str, &[(String, String)]) -> bool,
    ) -> (Vec<String>, bool) {
        let range = match before {
            Some((ms, id)) => self.entries.range(..(ms, id.to_string())),
            None => self.entries.range(..),
        };
        let mut ids = range
            .rev()
            .filter(|(_, entry)| keep(&entry.status, &entry.workflow_id, &entry.functions))
            .map(|((_, id), _)| id.clone())
            .take(limit + 1)
            .collect::<Vec<_>>();
        let more = ids.len() > limit;
        ids.truncate(limit);
        (ids, more)
    }

    /// How many instances `keep` accepts, reading no record.
    pub(crate) fn count(&self, keep: impl Fn(&Status, &str, &[(String, String)]) -> bool) -> usize {
        self.entries
            .values()
            .filter(|entry| keep(&entry.status, &entry.workflow_id, &entry.functions))
            .count()
    }
}

impl Catalog {
    /// (function, version) → the unfinished instances pinned to it.
    pub(crate) fn pinned(&self) -> BTreeMap<(String, String), BTreeSet<String>> {
        let mut pinned: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let live = self
            .entries
            .iter()
            .filter(|(_, entry)| !entry.status.is_final());
        for ((_, id), entry) in live {
            for (resource, version) in &entry.functions {
                let function = swirl_core::function_ref::split(resource).0.to_string();
                pinned
                    .entry((function, version.clone()))
                    .or_default()
                    .insert(id.clone());
            }
        }
        pinned
    }
}

fn start_key(record: &InstanceRecord) -> StartKey {
    (record.created_ms, record.id.clone())
}

fn decrement(counts: &mut HashMap<Status, u64>, status: Status) {
    if let Some(count) = counts.get_mut(&status) {
        *count = count.saturating_sub(1);
    }
}
