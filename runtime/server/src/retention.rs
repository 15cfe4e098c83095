//! Retention: the background task that deletes what the server no longer
//! keeps, so that the data directory levels off instead of growing:
//!
//! | what                                   | kept (default)                  |
//! |----------------------------------------|---------------------------------|
//! | finished instances and their history   | `--instance-retention` (7 days), or the app manifest's `[retention]` |
//! | seen-event marks (the dedup window)    | `--dedup-retention` (24 h)      |
//! | buffered events                        | `--buffer-retention` (1 h)      |
//! | dead letters                           | `--dead-letter-retention` (7 d) |
//! | function versions nothing uses         | the newest `--versions-kept` (10) of each function |
//! | files no record names                  | `--file-grace` (1 h) after their last write |
//! | code-cache entries no version uses     | `--file-grace` (1 h) after their last write |
//!
//! Every `--retention-interval` a sweep deletes each kind in batches of
//! [`SWEEP_BATCH`] on the blocking pool, yielding between batches, so that a
//! backlog (a first start after an upgrade, a long stop) drains without
//! holding the commit lock for more than one instance at a time. Counts of
//! what each sweep deleted go to `/metrics`. Finished instances are found
//! by end time past the shortest retention any app gives; one whose own is
//! longer is moved in the index to when it is due (see
//! `Engine::forget_finished`).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use swirl_core::time::now_ms;

use super::ServerState;
use super::metrics::Deleted;

/// Items one batch deletes at most.
pub const SWEEP_BATCH: usize = 1_000;

/// How long things are kept, as `swirl serve` resolved its flags.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Finished instances (completed, failed, cancelled), after their end.
    pub instances: Duration,
    /// Seen-event marks, after the event was seen.
    pub dedup: Duration,
    /// Buffered events, after they arrived.
    pub buffer: Duration,
    /// Dead letters, after they were given up on.
    pub dead_letters: Duration,
    /// Versions of each function kept besides those in use (a route, an
    /// alias or an unfinished instance needs them).
    pub versions_kept: usize,
    /// Files and code-cache entries no record needs, after they were last
    /// written: a value's file is written just before the record that
    /// names it commits, and a component is compiled before its version
    /// is recorded, so this must be far longer than a commit or a deploy.
    pub files: Duration,
    /// How often a sweep runs.
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            instances: Duration::from_secs(7 * 24 * 60 * 60),
            dedup: Duration::from_secs(24 * 60 * 60),
            buffer: Duration::from_secs(60 * 60),
            dead_letters: Duration::from_secs(7 * 24 * 60 * 60),
            versions_kept: 10,
            files: Duration::from_secs(60 * 60),
            interval: Duration::from_secs(60),
        }
    }
}

/// Sweeps every `retention.interval` for as long as the tokio runtime it
/// was spawned on runs.
pub(crate) fn sweep_periodically(state: ServerState, retention: Retention) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(retention.interval.max(Duration::from_millis(100)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            sweep(&state, &retention).await;
        }
    });
}

/// One sweep of every kind; a failure is logged and the next sweep tries
/// again.
pub(crate) async fn sweep(state: &ServerState, retention: &Retention) {
    let cutoff = |kept: Duration| now_ms().saturating_sub(kept.as_millis() as u64);
    let metrics = state.shared.metrics.clone();
    let (engine, deployments) = (state.engine().clone(), state.deployments().clone());
    let server_default = retention.instances;
    let shortest = deployments
        .shortest_instance_retention()
        .map_or(server_default, |shortest| shortest.min(server_default));
    drain(state, Deleted::Instances, move |_| {
        let kept = |id: &str| deployments.instance_retention(id).unwrap_or(server_default);
        let (forgotten, full) = engine.forget_finished(shortest, kept, SWEEP_BATCH)?;
        // An empty cursor: the batch was full, so another one may find more.
        Ok((forgotten, full.then(Vec::new)))
    })
    .await;
    let store = state.store().clone();
    let marks_cutoff = cutoff(retention.dedup);
    drain(state, Deleted::EventMarks, move |_| {
        let (forgotten, full) = store.forget_events_before(marks_cutoff, SWEEP_BATCH)?;
        Ok((forgotten, full.then(Vec::new)))
    })
    .await;
    let engine = state.engine().clone();
    let buffer_cutoff = cutoff(retention.buffer);
    drain(state, Deleted::BufferedEvents, move |after| {
        Ok(engine.forget_buffered(buffer_cutoff, after.as_deref(), SWEEP_BATCH)?)
    })
    .await;
    let sinks = state.sinks().clone();
    let letters_cutoff = cutoff(retention.dead_letters);
    drain(state, Deleted::DeadLetters, move |_| {
        Ok((
            sinks.expire_dead_letters(letters_cutoff, SWEEP_BATCH)?,
            None,
        ))
    })
    .await;
    let deployments = state.deployments().clone();
    let versions_kept = retention.versions_kept;
    drain(state, Deleted::FunctionVersions, move |_| {
        Ok((
            deployments.forget_old_versions(versions_kept, SWEEP_BATCH)?,
            None,
        ))
    })
    .await;
    let (store, deployments) = (state.store().clone(), state.deployments().clone());
    let grace = retention.files;
    drain(state, Deleted::Files, move |_| {
        let referenced: HashSet<String> = deployments.referenced_files()?;
        let written_before = SystemTime::now() - grace;
        Ok((
            store.forget_files(&referenced, written_before, SWEEP_BATCH)?,
            None,
        ))
    })
    .await;
    let deployments = state.deployments().clone();
    drain(state, Deleted::CodeCache, move |_| {
        Ok((deployments.forget_unused_code(grace)?, None))
    })
    .await;
    metrics.retention_swept();
}

/// What a batch deleted, and where the next one goes on (`None`: the end).
type Batch = (usize, Option<Vec<u8>>);

/// Why a batch failed: whatever the layer that deletes says.
type SweepError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `batch` on the blocking pool until it deletes less than a full
/// batch and its cursor reaches the end, counting what it deleted.
async fn drain<F>(state: &ServerState, kind: Deleted, batch: F)
where
    F: Fn(Option<Vec<u8>>) -> Result<Batch, SweepError> + Send + Sync + 'static,
{
    let batch = std::sync::Arc::new(batch);
    let mut cursor = None;
    loop {
        let run = batch.clone();
        let after = cursor.take();
        let done = tokio::task::spawn_blocking(move || run(after)).await;
        let (deleted, next) = match done {
            Ok(Ok(done)) => done,
            Ok(Err(error)) => {
                tracing::warn!(kind = kind.as_str(), %error, "retention sweep failed; the next one tries again");
                return;
            }
            Err(error) => {
                tracing::warn!(kind = kind.as_str(), %error, "retention sweep task failed");
                return;
            }
        };
        state.shared.metrics.retention_deleted(kind, deleted as u64);
        if deleted < SWEEP_BATCH && next.is_none() {
            return;
        }
        cursor = next;
        // Other blocking work (the commits' reads, requests) goes first.
        tokio::task::yield_now().await;
    }
}
