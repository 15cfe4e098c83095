//! What the store can say about itself for `/metrics`: its size on disk,
//! the entries of each tree, and how long its durable flushes take.
//!
//! Flush durations are kept for the last [`SYNC_WINDOW`] flushes, so the
//! percentiles follow the disk of the moment; the count and the sum cover
//! every flush. Counting a tree's entries walks it, so the counts are
//! computed at most once per [`COUNT_TTL`] and kept between scrapes.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use swirl_core::percentile::percentile;

use super::{Store, StoreError};

/// Flushes whose durations the percentiles cover.
pub const SYNC_WINDOW: usize = 1024;

/// How long tree counts are reused before they are counted again.
pub const COUNT_TTL: Duration = Duration::from_secs(30);

/// Durations of the store's durable flushes.
#[derive(Default)]
pub(crate) struct SyncTimes {
    state: Mutex<SyncState>,
}

#[derive(Default)]
struct SyncState {
    recent_micros: VecDeque<u64>,
    count: u64,
    total_micros: u64,
}

impl SyncTimes {
    pub fn record(&self, took: Duration) {
        let micros = took.as_micros() as u64;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.recent_micros.len() == SYNC_WINDOW {
            state.recent_micros.pop_front();
        }
        state.recent_micros.push_back(micros);
        state.count += 1;
        state.total_micros += micros;
    }

    fn summary(&self) -> SyncSummary {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut sorted: Vec<u64> = state.recent_micros.iter().copied().collect();
        sorted.sort_unstable();
        SyncSummary {
            p50_micros: percentile(&sorted, 50),
            p99_micros: percentile(&sorted, 99),
            count: state.count,
            total_micros: state.total_micros,
        }
    }
}

/// Durable flushes: percentiles over the last [`SYNC_WINDOW`], count and
/// sum over all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub p50_micros: u64,
    pub p99_micros: u64,
    pub count: u64,
    pub total_micros: u64,
}

/// The store at one moment.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// Bytes on disk of sled's database (`<data-dir>/db`).
    pub db_bytes: u64,
    /// Bytes on disk of the content-addressed files (`<data-dir>/files`).
    pub files_bytes: u64,
    /// Entries per tree, by tree name.
    pub trees: TreeCounts,
    /// Buffered events, counted as they come and go.
    pub buffered_events: u64,
    pub sync: SyncSummary,
}

/// Entries per tree, by tree name.
pub type TreeCounts = Vec<(&'static str, u64)>;

/// Tree counts and when they were counted.
#[derive(Default)]
pub(crate) struct CountCache {
    counted: Mutex<Option<(Instant, TreeCounts)>>,
}

impl Store {
    /// Sizes, tree counts (at most [`COUNT_TTL`] old) and flush times.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let trees = {
            let mut counted = self
                .counts
                .counted
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match &*counted {
                Some((at, counts)) if at.elapsed() < COUNT_TTL => counts.clone(),
                _ => {
                    let counts = self
                        .named_trees()
                        .into_iter()
                        .map(|(name, tree)| (name, tree.len() as u64))
                        .collect::<TreeCounts>();
                    *counted = Some((Instant::now(), counts.clone()));
                    counts
                }
            }
        };
        Ok(StoreStats {
            db_bytes: disk_bytes(&self.db_dir.0)?,
            files_bytes: disk_bytes(self.files.dir())?,
            trees,
            buffered_events: self.buffered_count(),
            sync: self.sync_times.summary(),
        })
    }
}

/// Bytes the files under `dir` occupy on disk (allocated blocks where the
/// platform says, so sparse files count what they use).
fn disk_bytes(dir: &Path) -> Result<u64, StoreError> {
    let error = |source| StoreError::File {
        path: dir.to_path_buf(),
        source,
    };
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let entry = entry.map_err(error)?;
        // A file removed since the listing (a temporary one) counts nothing.
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if metadata.is_dir() {
            total += disk_bytes(&entry.path())?;
            continue;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            total += metadata.blocks() * 512;
        }
        #[cfg(not(unix))]
        {
            total += metadata.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_are_timed_and_trees_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write_step(crate::instances::StepWrite::plain(
                "i",
                b"{}",
                vec![b"h".to_vec()],
            ))
            .unwrap();
        store.durable().unwrap();
        let stats = store.stats().unwrap();
        assert!(stats.sync.count >= 1, "{stats:?}");
        assert!(stats.sync.p99_micros >= stats.sync.p50_micros);
        assert!(stats.sync.p50_micros > 0, "{stats:?}");
        let count = |name| stats.trees.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(count("instances"), 1);
        assert_eq!(count("history"), 1);
        assert_eq!(count("commits"), 0);
        assert!(stats.db_bytes > 0, "{stats:?}");
    }

    #[test]
    fn the_sync_window_keeps_the_latest_durations() {
        let times = SyncTimes::default();
        for _ in 0..SYNC_WINDOW {
            times.record(Duration::from_millis(100));
        }
        for _ in 0..SYNC_WINDOW {
            times.record(Duration::from_micros(10));
        }
        let summary = times.summary();
        assert_eq!(summary.p99_micros, 10);
        assert_eq!(summary.count, 2 * SYNC_WINDOW as u64);
    }
}
