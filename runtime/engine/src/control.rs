//! Cancel, suspend and resume: one step each, under the instance's lock.

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

    pub(crate) async fn control(
        &self,
        id: &str,
        action: &'static str,
        change: impl FnOnce(&InstanceRecord, &mut Step<'_>) -> Result<(), &'static str>,
    ) -> Result<InstanceRecord, EngineError> {
        let lock = self.lock(id);
        let guard = lock.lock().await;
        let before = self.get(id)?;
        let workflow = self.workflow_version(&before.definition_version)?;
        let mut record = before.clone();
        let (history, orphans) = {
            let mut step = Step::new(&workflow, &mut record, now_ms());
            change(&before, &mut step).map_err(|needs| EngineError::WrongStatus {
                id: id.to_string(),
                status: before.status.as_str(),
                action,
                needs,
            })?;
            (step.history, step.orphans)
        };
        let produced = self
            .commit(
                Some(&before),
                &mut record,
                history,
                None,
                Vec::new(),
                Consumes::default(),
            )
            .await?
            .unwrap_or_default();
        drop(guard);
        self.after_commit(&record, Vec::new(), orphans, false, produced);
        Ok(record)
    }
}
