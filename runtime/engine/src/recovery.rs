//! Recovery at startup: every unfinished instance resumes from its committed
//! record.

use super::*;

impl Engine {
    /// Resumes every unfinished instance of the data directory (runs their
    /// actions in flight again, schedules their timers, re-routes their
    /// undelivered events, hands them the events buffered for their
    /// subscriptions). Call once after registering definitions; a server
    /// then calls [`Engine::start_schedules`] (a one-off run does not, so
    /// that it starts no instance of its own).
    pub fn recover(&self) -> Result<usize, EngineError> {
        let all = self.list(None, None)?;
        *self.inner.catalog.lock().unwrap_or_else(|e| e.into_inner()) = Some(Catalog::of(&all));
        self.index_finished(&all)?;
        if !self.inner.config.hold_outbox {
            self.drain_outbox();
        }
        let unfinished = all.into_iter().filter(|r| !r.status.is_final());
        let mut count = 0;
        for record in unfinished {
            count += 1;
            if self.orphaned(&record)? {
                self.cancel_orphans(vec![record.id.clone()]);
                continue;
            }
            if record.status != Status::Suspended {
                self.schedule_timers(&record);
                if !record.tasks.is_empty() {
                    self.spawn_run(&record.id, Begin::Continue, "go on with a run");
                }
            }
            // An event buffered before the instance subscribed, whose
            // delivery the stop interrupted: deliver it now.
            if !record.subscriptions.is_empty() {
                self.deliver_buffered(&record);
            }
            for (thread, child_id) in &record.children {
                match self.load(child_id)? {
                    Some(child) if child.status.is_final() => self.finished(&child),
                    Some(_) => {}
                    // The parent committed its SUBFLOW state but the process
                    // stopped before the child was created: create it now.
                    None => {
                        let Some(state) = record.threads.get(thread) else {
                            continue;
                        };
                        let workflow = self.workflow_version(&record.definition_version)?;
                        let Some(target) = workflow.subflow_target(&state.state) else {
                            continue;
                        };
                        let start = ChildStart {
                            child_id: child_id.clone(),
                            workflow_id: target.to_string(),
                            input: state.data.clone(),
                            thread: *thread,
                            waits: true,
                        };
                        self.spawn_child(&record, start);
                    }
                }
            }
        }
        Ok(count)
    }
}
