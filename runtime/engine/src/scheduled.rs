//! Scheduled workflows: the loops that start instances by the clock, one per
//! workflow id, following its current definition: v0.1's repeating start
//! schedules and 1.0's `schedule.every`, `cron` and `after`; and, when a
//! workflow starting on `all` of several events is registered (the server's
//! start included), the starts of the sets its gathered events complete.
//!
//! The store is the schedule's record: an instance's id names its tick
//! (`sched-<workflow>-<unix ms>`), so a restart neither starts a tick twice
//! (a start with an existing id returns that instance) nor forgets where the
//! schedule stood. At start, a loop finds the newest instance it started; a
//! tick that came due while the server was down runs once, at once (the
//! latest such tick, when several did), and an `after` schedule waits for
//! that instance's end.

use super::*;
use crate::schedule::{self, Cadence};

impl Engine {
    /// Starts the schedule loops of the registered workflows now, and of
    /// those registered, replaced or removed later as that happens. Needs a
    /// tokio runtime; without one it does nothing.
    pub fn start_schedules(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.inner
            .schedules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .runtime = Some(runtime);
        for id in self.workflow_ids() {
            self.reschedule(&id);
        }
    }

    /// Makes the schedule loop of workflow `id` follow its current
    /// definition: stops the loop of the definition it replaced, and starts
    /// one when the current definition has a cadence.
    pub(crate) fn reschedule(&self, id: &str) {
        // Held while reading the definition, so that of two registrations
        // at once the later one's loop is the one that stays.
        let mut schedules = self
            .inner
            .schedules
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(runtime) = schedules.runtime.clone() else {
            return;
        };
        schedules.loops.remove(id);
        let Some(workflow) = read(&self.inner.workflows).get(id).cloned() else {
            return;
        };
        // Sets of events for a start on `all` that a crash (or the events'
        // arrival before this definition) left complete start now.
        if workflow.gathered_events().is_some() {
            let (engine, workflow) = (self.clone(), workflow.clone());
            runtime.spawn(async move {
                if let Err(error) = engine.start_gathered(&workflow, None).await {
                    tracing::error!(workflow = %workflow.id(), %error, "cannot start on the events gathered");
                }
            });
        }
        if schedule::cadence(&workflow).is_none() {
            return;
        }
        let (keep, stop) = oneshot::channel();
        schedules.loops.insert(id.to_string(), keep);
        runtime.spawn(self.clone().run_schedule(workflow, stop));
    }

    /// Starts an instance of `workflow` at each tick of its cadence, until
    /// its ticks are done or `stop` is dropped.
    async fn run_schedule(self, workflow: Arc<Workflow>, mut stop: oneshot::Receiver<()>) {
        let Some(cadence) = schedule::cadence(&workflow) else {
            return;
        };
        let prefix = format!("sched-{}-", workflow.id());
        let mut last = match self.newest_scheduled(&prefix) {
            Ok(last) => last,
            Err(error) => {
                tracing::error!(workflow = %workflow.id(), %error, "cannot read where a schedule stands");
                return;
            }
        };
        loop {
            let now = self.now_ms();
            let due = match &cadence {
                Cadence::After(delay) => match &last {
                    None => now,
                    Some((_, id)) => {
                        let ended = tokio::select! {
                            _ = &mut stop => return,
                            ended = self.wait(id) => ended,
                        };
                        // An instance deleted since ended long ago.
                        let end = ended.map_or(now, |record| record.updated_ms);
                        end.saturating_add(delay.as_millis() as u64)
                    }
                },
                clock => {
                    let from = last
                        .as_ref()
                        .map_or(now.saturating_sub(1), |(tick, _)| *tick);
                    let Some(tick) = clock.latest_due(from, now) else {
                        return;
                    };
                    tick
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                () = self.inner.clock.sleep_until(due) => {}
            }
            let id = format!("{prefix}{due}");
            if let Err(error) = self
                .start(
                    workflow.id(),
                    Value::Object(Default::default()),
                    Some(id.clone()),
                )
                .await
            {
                tracing::error!(workflow = %workflow.id(), %error, "cannot start a scheduled instance");
                // Not again at once: the next tick, or `after` from now.
                tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
            }
            last = Some((due, id));
        }
    }

    /// The newest instance whose id names a tick of the schedule `prefix`
    /// names: its tick and id.
    fn newest_scheduled(&self, prefix: &str) -> Result<Option<(u64, String)>, EngineError> {
        let mut newest: Option<(u64, String)> = None;
        for id in self.inner.store.instance_ids(prefix)? {
            let Some(tick) = id.strip_prefix(prefix).and_then(|t| t.parse::<u64>().ok()) else {
                continue;
            };
            if newest.as_ref().is_none_or(|(newest, _)| tick > *newest) {
                newest = Some((tick, id));
            }
        }
        Ok(newest)
    }
}
