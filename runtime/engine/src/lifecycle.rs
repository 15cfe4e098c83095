//! Serverless Workflow 1.0's lifecycle CloudEvents
//! (`io.serverlessworkflow.workflow.*.v1`, `io.serverlessworkflow.task.*.v1`),
//! with the data the DSL reference gives each, when
//! [`EngineConfig::lifecycle_events`] asks for them.
//!
//! They are read off the history lines a commit writes and go to the outbox
//! in that same commit, so each happens once, with the change it reports:
//! a crash loses none and repeats none. Events of different commits may
//! reach a sink out of order; their ids sort in the order they happened
//! (and the data says when). Their source is
//! `swirl/workflows/<workflow id>`, their subject the instance id.
//!
//! A task is created when its thread enters it, before its `if` and its
//! input are looked at, and started once its `if` held and its input was
//! taken: a skipped task is created and never starts, one whose input
//! fails is created and faults. A `listen` whose events (`until`'s too)
//! have `correlate` sends `workflow.correlation-started` as it begins
//! waiting and `workflow.correlation-completed` (with `correlationKeys`,
//! the values its events bound) once it has consumed its last event; a
//! listen without `correlate` correlates nothing and sends neither, nor
//! does one that times out or is cancelled before it is done.

use serde_json::{Map, json};

use super::*;
use crate::interpreter::problem_of;
use crate::record::HistoryKind;

/// The type every lifecycle event's type starts with.
pub const LIFECYCLE_PREFIX: &str = "io.serverlessworkflow.";

/// The lifecycle events of `history`, lines `record` (an instance of
/// `workflow`) commits at `now_ms`; none for a v0.1 or draft workflow.
pub(crate) fn events(
    workflow: &Workflow,
    record: &InstanceRecord,
    history: &[HistoryEntry],
    now_ms: u64,
) -> Vec<OutboxEvent> {
    let definition = &workflow.definition;
    if definition.expression_language != ExpressionLanguage::Jq {
        return Vec::new();
    }
    let namespace = definition
        .metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // The DSL's qualified name of an instance: `<name>.<namespace>`.
    let name = format!("{}.{namespace}", record.id);
    let workflow_event = |kind: &str, at: &str, at_ms: u64, mut data: Map<String, Value>| {
        data.insert("name".into(), Value::from(name.as_str()));
        data.insert(at.into(), Value::from(swirl_core::time::rfc3339(at_ms)));
        (format!("workflow.{kind}"), data)
    };
    let task_event = |kind: &str, at: &str, at_ms: u64, reference: &str| {
        let mut data = Map::new();
        data.insert("workflow".into(), Value::from(name.as_str()));
        data.insert("task".into(), Value::from(reference));
        data.insert(at.into(), Value::from(swirl_core::time::rfc3339(at_ms)));
        (format!("task.{kind}"), data)
    };
    history
        .iter()
        .filter_map(|entry| {
            let at = entry.at_ms;
            let (kind, data) = match &entry.kind {
                HistoryKind::InstanceStarted => {
                    let mut data = Map::new();
                    data.insert(
                        "definition".into(),
                        json!({
                            "name": definition.name.as_deref().unwrap_or(&definition.id),
                            "namespace": namespace,
                            "version": definition.version,
                        }),
                    );
                    workflow_event("started", "startedAt", at, data)
                }
                HistoryKind::InstanceCompleted => {
                    workflow_event("completed", "completedAt", at, Map::new())
                }
                HistoryKind::InstanceFailed { error } => {
                    let mut data = Map::new();
                    let at_task = error.state.as_deref().unwrap_or("/");
                    data.insert("error".into(), problem_of(error, at_task));
                    workflow_event("faulted", "faultedAt", at, data)
                }
                HistoryKind::InstanceCancelled => {
                    workflow_event("cancelled", "cancelledAt", at, Map::new())
                }
                HistoryKind::InstanceSuspended => {
                    workflow_event("suspended", "suspendedAt", at, Map::new())
                }
                HistoryKind::InstanceResumed => {
                    workflow_event("resumed", "resumedAt", at, Map::new())
                }
                HistoryKind::CorrelationStarted { .. } => {
                    workflow_event("correlation-started", "startedAt", at, Map::new())
                }
                HistoryKind::CorrelationCompleted { keys, .. } => {
                    let mut data = Map::new();
                    if !keys.is_empty() {
                        let keys = keys.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                        data.insert("correlationKeys".into(), Value::Object(keys));
                    }
                    workflow_event("correlation-completed", "completedAt", at, data)
                }
                HistoryKind::TaskCreated { reference, .. } => {
                    task_event("created", "createdAt", at, reference)
                }
                HistoryKind::TaskStarted { reference, .. } => {
                    task_event("started", "startedAt", at, reference)
                }
                HistoryKind::TaskCompleted { reference, .. } => {
                    task_event("completed", "completedAt", at, reference)
                }
                HistoryKind::TaskFaulted {
                    reference, error, ..
                } => {
                    let (kind, mut data) = task_event("faulted", "faultedAt", at, reference);
                    data.insert("error".into(), problem_of(error, reference));
                    (kind, data)
                }
                HistoryKind::TaskRetried { reference, .. } => {
                    task_event("retried", "retriedAt", at, reference)
                }
                HistoryKind::TaskCancelled { reference, .. } => {
                    task_event("cancelled", "cancelledAt", at, reference)
                }
                HistoryKind::TaskSuspended { reference, .. } => {
                    task_event("suspended", "suspendedAt", at, reference)
                }
                HistoryKind::TaskResumed { reference, .. } => {
                    task_event("resumed", "resumedAt", at, reference)
                }
                _ => return None,
            };
            Some(OutboxEvent {
                id: swirl_core::ids::new_id(),
                source: format!("swirl/workflows/{}", record.workflow_id),
                event_type: format!("{LIFECYCLE_PREFIX}{kind}.v1"),
                time_ms: now_ms,
                subject: Some(record.id.clone()),
                data: Some(Value::Object(data)),
                extensions: Default::default(),
            })
        })
        .collect()
}
