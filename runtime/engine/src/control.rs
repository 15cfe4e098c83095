//! Cancel, suspend and resume: a run each.

use super::*;

impl Engine {
    /// Cancels instance `id`, and the child instances it waits for; running
    /// actions finish but their results are dropped.
    pub async fn cancel(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.control(id, "cancel", |_, step| {
            if step.record().status.is_final() {
                return Err("an unfinished");
            }
            step.cancel();
            Ok(())
        })
        .await
    }

    /// Suspends instance `id`: nothing new starts until it is resumed.
    pub async fn suspend(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.control(id, "suspend", |_, step| {
            let status = step.record().status;
            if status.is_final() || status == Status::Suspended {
                return Err("a running or waiting");
            }
            step.suspend();
            Ok(())
        })
        .await
    }

    /// Resumes a suspended instance.
    pub async fn resume(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.control(id, "resume", |record, step| {
            if step.record().status != Status::Suspended {
                return Err("a suspended");
            }
            step.resume(record.suspended_from.unwrap_or(Status::Running));
            Ok(())
        })
        .await
    }

    /// Applies `change` in a run of its own.
    pub(crate) async fn control(
        &self,
        id: &str,
        action: &'static str,
        change: impl FnOnce(&InstanceRecord, &mut Step<'_>) -> Result<(), &'static str> + Send + 'static,
    ) -> Result<InstanceRecord, EngineError> {
        let begin = Begin::Control {
            action,
            change: Box::new(change),
        };
        self.execute(id, begin, Admission::Internal, std::time::Instant::now())
            .await?
            .record
            .ok_or_else(|| EngineError::UnknownInstance(id.to_string()))
    }
}
