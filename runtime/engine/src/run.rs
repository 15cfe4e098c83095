//! Running what a committed record holds: actions on the function host, timers
//! as tokio sleeps, child instances, and the end of an instance.

use super::*;

impl Engine {
    pub(crate) fn run_work(&self, record: &InstanceRecord) {
        for (task_id, task) in &record.tasks {
            let key = (record.id.clone(), *task_id);
            if !self
                .inner
                .running_tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone())
            {
                continue;
            }
            let engine = self.clone();
            let call = Call {
                input: serde_json::to_vec(&task.input).unwrap_or_default(),
                workflow_id: Some(record.workflow_id.clone()),
                instance_id: Some(record.id.clone()),
                state_name: Some(task.state.clone()),
                attempt: task.attempt,
                defer_kv_writes: true,
                timeout: task.timeout_ms.map(std::time::Duration::from_millis),
            };
            let function = task.function.clone();
            let function_name = task.function.clone();
            let state = task.state.clone();
            let version = record.function_versions.get(&task.function).cloned();
            let task_id = *task_id;
            tokio::spawn(async move {
                let started = Instant::now();
                let host = engine.inner.host.clone();
                let invoked = tokio::task::spawn_blocking(move || {
                    host.invoke_version(&function, version.as_deref(), call)
                })
                .await;
                let mut kv_writes = swirl_function::KvWrites::new();
                let mut emitted = Vec::new();
                let result = match invoked {
                    Ok(Ok(mut invocation)) => {
                        if let Some(observer) = engine.observer() {
                            observer.action(ActionCall {
                                function: &function_name,
                                instance_id: &key.0,
                                state: &state,
                                invocation: &invocation,
                            });
                        }
                        kv_writes = std::mem::take(&mut invocation.kv_writes);
                        let now = now_ms();
                        emitted = std::mem::take(&mut invocation.emitted)
                            .into_iter()
                            .map(|event| OutboxEvent::emitted(&function_name, event, now))
                            .collect();
                        invocation
                            .outcome
                            .map_err(|failure| WorkflowError {
                                details: failure.details.map(Box::new),
                                ..WorkflowError::new(failure.code, failure.message)
                            })
                            .and_then(|bytes| {
                                serde_json::from_slice(&bytes).map_err(|error| {
                                    WorkflowError::new(
                                        interpreter::FAIL,
                                        format!("the function's output is not JSON: {error}"),
                                    )
                                })
                            })
                    }
                    Ok(Err(error)) => Err(WorkflowError::new(interpreter::FAIL, error.to_string())),
                    Err(error) => Err(WorkflowError::new(
                        interpreter::FAIL,
                        format!("the action's thread failed: {error}"),
                    )),
                };
                let duration_ms = started.elapsed().as_millis() as u64;
                let id = key.0.clone();
                let input = Input::Task {
                    task: task_id,
                    result,
                    duration_ms,
                    kv: (function_name, kv_writes),
                    emitted,
                };
                let applied = engine.apply(&id, input).await;
                engine
                    .inner
                    .running_tasks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                if let Err(error) = applied {
                    tracing::error!(instance = %id, %error, "cannot record an action's result");
                }
            });
        }
        for (timer_id, timer) in &record.timers {
            let key = (record.id.clone(), *timer_id);
            if !self
                .inner
                .scheduled_timers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone())
            {
                continue;
            }
            let engine = self.clone();
            let due_ms = timer.due_ms;
            let timer_id = *timer_id;
            tokio::spawn(async move {
                let wait = due_ms.saturating_sub(now_ms());
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                engine
                    .inner
                    .scheduled_timers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                if let Err(error) = engine.apply(&key.0, Input::Timer(timer_id)).await {
                    tracing::error!(instance = %key.0, %error, "cannot fire a timer");
                }
            });
        }
    }

    pub(crate) fn spawn_child(&self, parent: &InstanceRecord, child: ChildStart) {
        let engine = self.clone();
        let link = ParentLink {
            instance_id: parent.id.clone(),
            thread: child.thread,
            waits: child.waits,
            depth: parent.parent.as_ref().map_or(0, |p| p.depth) + 1,
        };
        tokio::spawn(async move {
            let started = engine
                .start_with(
                    &child.workflow_id,
                    child.input.clone(),
                    Some(child.child_id.clone()),
                    Some(link.clone()),
                    None,
                )
                .await;
            if let Err(error) = started
                && link.waits
            {
                let error = WorkflowError::new(
                    interpreter::FAIL,
                    format!("cannot start subflow '{}': {error}", child.workflow_id),
                );
                let _ = engine
                    .apply(
                        &link.instance_id,
                        Input::Child {
                            thread: link.thread,
                            result: Err(error),
                        },
                    )
                    .await;
            }
        });
    }

    pub(crate) fn finished(&self, record: &InstanceRecord) {
        if let Some(notify) = self
            .inner
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&record.id)
        {
            notify.notify_waiters();
        }
        if let Some(parent) = record.parent.as_ref().filter(|p| p.waits) {
            let result = match record.status {
                Status::Completed => Ok(record.output.clone().unwrap_or(Value::Null)),
                _ => Err(record.error.clone().unwrap_or_else(|| {
                    WorkflowError::new(
                        interpreter::FAIL,
                        format!(
                            "subflow instance '{}' was {}",
                            record.id,
                            record.status.as_str()
                        ),
                    )
                })),
            };
            let engine = self.clone();
            let parent = parent.clone();
            tokio::spawn(async move {
                let _ = engine
                    .apply(
                        &parent.instance_id,
                        Input::Child {
                            thread: parent.thread,
                            result,
                        },
                    )
                    .await;
            });
        }
    }
}
