//! Scheduled workflows: an instance at each repetition of a start schedule, for
//! as long as that definition is the registered one.

use super::*;

impl Engine {
    /// Starts instances of every workflow whose start state is scheduled with
    /// a repeating interval, at each repetition, from now on: the
    /// registered workflows' schedules now, and those of workflows
    /// registered, replaced or removed later as that happens. Instance ids
    /// derive from the tick, so a restart does not start a tick's instance
    /// twice. Needs a tokio runtime; without one it does nothing.
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
}
