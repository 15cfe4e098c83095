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
//!
//! The optional `workflow.status-changed` and `task.status-changed` events,
//! when [`EngineConfig::status_changed_events`] asks for them, follow the
//! status phases: an instance is running from its start, waiting when a
//! commit leaves it with nothing to do until an event, a timer or a child,
//! running again from the first line of the next commit that does work,
//! and suspended, completed, faulted or cancelled with those lines. A task
//! is pending once created, running once started (again once retried or
//! resumed), waiting once a `wait` or `listen` begins waiting (and again
//! once resumed), and completed, faulted, suspended or cancelled with those
//! lines.

use serde_json::{Map, json};

use super::*;
use crate::interpreter::problem_of;
use crate::record::HistoryKind;
use swirl_workflow::model::StateKind;

/// The type every lifecycle event's type starts with.
pub const LIFECYCLE_PREFIX: &str = "io.serverlessworkflow.";

/// The lifecycle events `config` asks for of `history`, lines `record` (an
/// instance of `workflow`, `before` its status as last committed) commits
/// at `now_ms`; none for a v0.1 or draft workflow.
pub(crate) fn events(
    config: &EngineConfig,
    workflow: &Workflow,
    record: &InstanceRecord,
    before: Option<Status>,
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
    let lifecycle_event = |entry: &HistoryEntry| {
        let at = entry.at_ms;
        Some(match &entry.kind {
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
            HistoryKind::InstanceResumed => workflow_event("resumed", "resumedAt", at, Map::new()),
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
        })
    };
    let status_changed = |task: Option<&str>, status: &str, at_ms: u64| {
        let (kind, mut data) = match task {
            Some(reference) => task_event("status-changed", "updatedAt", at_ms, reference),
            None => workflow_event("status-changed", "updatedAt", at_ms, Map::new()),
        };
        data.insert("status".into(), Value::from(status));
        (kind, data)
    };
    let mut status = before.map(phase);
    let mut produced = Vec::new();
    for entry in history {
        if config.lifecycle_events
            && let Some(event) = lifecycle_event(entry)
        {
            produced.push(event);
        }
        if !config.status_changed_events {
            continue;
        }
        let (workflow_status, task_status) = phases_of(workflow, &entry.kind);
        let workflow_status = workflow_status.or_else(|| {
            // A waiting instance that does work again runs.
            (status == Some("waiting") && !interrupts(&entry.kind)).then_some("running")
        });
        if let Some(changed) = workflow_status.filter(|&s| status != Some(s)) {
            status = Some(changed);
            produced.push(status_changed(None, changed, entry.at_ms));
        }
        if let Some((reference, changed)) = task_status {
            produced.push(status_changed(Some(reference), changed, entry.at_ms));
        }
    }
    if config.status_changed_events && status != Some(phase(record.status)) {
        produced.push(status_changed(None, phase(record.status), now_ms));
    }
    produced
        .into_iter()
        .map(|(kind, data)| OutboxEvent {
            id: swirl_core::ids::new_id(),
            source: format!("swirl/workflows/{}", record.workflow_id),
            event_type: format!("{LIFECYCLE_PREFIX}{kind}.v1"),
            time_ms: now_ms,
            subject: Some(record.id.clone()),
            data: Some(Value::Object(data)),
            extensions: Default::default(),
        })
        .collect()
}

/// The status phase the DSL names for an instance's `status`: ours but
/// for a failed one, which the DSL calls faulted.
fn phase(status: Status) -> &'static str {
    match status {
        Status::Failed => "faulted",
        other => other.as_str(),
    }
}

/// The phase a history line puts the instance in, and the task it names
/// with the phase it puts that task in. A resumed `wait` or `listen` waits
/// again: it was waiting from its start.
fn phases_of<'k>(
    workflow: &Workflow,
    kind: &'k HistoryKind,
) -> (Option<&'static str>, Option<(&'k str, &'static str)>) {
    let waits = |reference: &str| {
        workflow
            .state(reference)
            .is_ok_and(|state| matches!(state.kind, StateKind::Delay(_) | StateKind::Event(_)))
    };
    let workflow = match kind {
        HistoryKind::InstanceStarted | HistoryKind::InstanceResumed => Some("running"),
        HistoryKind::InstanceSuspended => Some("suspended"),
        HistoryKind::InstanceCompleted => Some("completed"),
        HistoryKind::InstanceFailed { .. } => Some("faulted"),
        HistoryKind::InstanceCancelled => Some("cancelled"),
        _ => None,
    };
    let task = match kind {
        HistoryKind::TaskCreated { reference, .. } => Some((reference, "pending")),
        HistoryKind::TaskResumed { reference, .. } if waits(reference) => {
            Some((reference, "waiting"))
        }
        HistoryKind::TaskStarted { reference, .. }
        | HistoryKind::TaskRetried { reference, .. }
        | HistoryKind::TaskResumed { reference, .. } => Some((reference, "running")),
        HistoryKind::TaskWaiting { reference, .. } => Some((reference, "waiting")),
        HistoryKind::TaskCompleted { reference, .. } => Some((reference, "completed")),
        HistoryKind::TaskFaulted { reference, .. } => Some((reference, "faulted")),
        HistoryKind::TaskCancelled { reference, .. } => Some((reference, "cancelled")),
        HistoryKind::TaskSuspended { reference, .. } => Some((reference, "suspended")),
        _ => None,
    };
    (
        workflow,
        task.map(|(reference, phase)| (reference.as_str(), phase)),
    )
}

/// Whether a line is an operator's doing to a waiting instance (its tasks
/// suspended, resumed or cancelled), which is not the instance running.
fn interrupts(kind: &HistoryKind) -> bool {
    matches!(
        kind,
        HistoryKind::TaskSuspended { .. }
            | HistoryKind::TaskResumed { .. }
            | HistoryKind::TaskCancelled { .. }
            | HistoryKind::InstanceSuspended
            | HistoryKind::InstanceResumed
            | HistoryKind::InstanceCancelled
    )
}
