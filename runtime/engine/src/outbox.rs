//! Produced events between the commit that produced them and their
//! consumers, and the observer through which the engine reports what it did
//! without knowing who listens (the server's sinks and logs).
//!
//! An event gets its `id`, `time` and (when its producer named none)
//! `source` once, when it is written to the outbox in the commit of the
//! step that produced it. Draining routes it to this engine's workflows
//! (whose `(source, id)` dedup makes a second drain after a crash harmless),
//! hands it to the observer, and only then removes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::IncomingEvent;
use super::record::ProducedEvent;
use swirl_ports::invoke::{EmittedEvent, Invocation};

/// The source of workflow-produced events whose definition named none.
pub const DEFAULT_SOURCE: &str = "swirl";

/// A produced CloudEvent with its runtime-assigned attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEvent {
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix milliseconds when it was produced.
    pub time_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default)]
    pub extensions: BTreeMap<String, String>,
}

impl OutboxEvent {
    /// An event a workflow produced (`end.kind = EVENT`).
    pub fn produced(event: ProducedEvent, now_ms: u64) -> Self {
        OutboxEvent {
            id: event.id.unwrap_or_else(swirl_core::ids::new_id),
            source: if event.source.is_empty() {
                DEFAULT_SOURCE.to_string()
            } else {
                event.source
            },
            event_type: event.event_type,
            time_ms: now_ms,
            subject: None,
            data: event.data,
            extensions: event.extensions,
        }
    }

    /// An event function `function` emitted; data that is not JSON travels
    /// as a JSON string.
    pub fn emitted(function: &str, event: EmittedEvent, now_ms: u64) -> Self {
        let data = event.data.map(|bytes| {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        });
        OutboxEvent {
            id: swirl_core::ids::new_id(),
            source: if event.source.is_empty() {
                format!("swirl/functions/{function}")
            } else {
                event.source
            },
            event_type: event.event_type,
            time_ms: now_ms,
            subject: event.subject,
            data,
            extensions: event.extensions.into_iter().collect(),
        }
    }

    /// The event as this engine's workflows receive it: as if it had come
    /// over HTTP, with its `time` and `subject`.
    pub fn incoming(&self) -> IncomingEvent {
        let mut attributes = BTreeMap::new();
        attributes.insert("time".into(), swirl_core::time::rfc3339(self.time_ms));
        if let Some(subject) = &self.subject {
            attributes.insert("subject".into(), subject.clone());
        }
        IncomingEvent {
            id: self.id.clone(),
            event_type: self.event_type.clone(),
            source: self.source.clone(),
            data: self.data.clone().unwrap_or(Value::Null),
            extensions: self.extensions.clone(),
            attributes,
        }
    }

    /// The outbox key: the id, which sorts by time.
    pub(crate) fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

/// One call of a workflow action, as the engine reports it.
pub struct ActionCall<'a> {
    pub function: &'a str,
    pub instance_id: &'a str,
    pub state: &'a str,
    pub invocation: &'a Invocation,
}

/// What the engine reports as it runs; set with
/// [`Engine::set_observer`](super::Engine::set_observer). Methods run on the
/// blocking pool or a tokio task and must not block for long.
pub trait EngineObserver: Send + Sync {
    /// A workflow action's function call ended (whatever its outcome).
    fn action(&self, call: ActionCall<'_>) {
        let _ = call;
    }

    /// A produced event was routed to the workflows: take it durably and
    /// remove `outbox_key` from the outbox in the same step
    /// ([`Store::hand_off`](swirl_store::Store::hand_off)), or say why not
    /// (it then stays in the outbox and is drained again later).
    fn produced(&self, event: &OutboxEvent, outbox_key: &[u8]) -> Result<(), String>;
}
