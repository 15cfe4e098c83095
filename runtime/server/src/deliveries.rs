//! What became of the events sent in: `GET /deliveries` (the recent ones,
//! and where each went) and `GET /buffered-events` (those kept until an
//! instance waits for them), for the console's events page.
//!
//! Recent deliveries are a bounded in-memory ring of the last
//! [`ServerConfig::recent_deliveries`](super::ServerConfig) events that
//! `POST /events` took or refused (oldest dropped first), kept by the
//! server and never persisted: the durable effects of a delivery are the
//! instances it started or woke and the events it buffered, which the
//! store keeps. Buffered events are listed from the store, a page at a time.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ServerState;
use super::error::{ApiError, blocking};
use swirl_core::time::rfc3339;
use swirl_engine::{Delivery, IncomingEvent};

/// Deliveries remembered when `swirl serve` is not told otherwise.
pub const DEFAULT_RECENT_DELIVERIES: usize = 200;
/// Buffered events one page lists when the request names no `limit`, and at most.
pub const DEFAULT_BUFFERED_PAGE: usize = 100;
pub const MAX_BUFFERED_PAGE: usize = 1000;

/// One event sent in, and where it went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryLog {
    pub at: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Instances it started.
    pub started: Vec<String>,
    /// Waiting instances it was delivered to.
    pub delivered: Vec<String>,
    /// Kept until an instance waits for it.
    pub buffered: bool,
    /// Seen before: it changed nothing.
    pub duplicate: bool,
    /// Why it was refused (the buffer full, the store failing); the sender
    /// was answered with an error and may send it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The ring of recent deliveries.
#[derive(Debug)]
pub struct RecentDeliveries {
    limit: usize,
    ring: Mutex<VecDeque<DeliveryLog>>,
}

impl RecentDeliveries {
    /// A ring of at most `limit` deliveries (0 remembers none).
    pub fn new(limit: usize) -> Self {
        RecentDeliveries {
            limit,
            ring: Mutex::new(VecDeque::with_capacity(limit.min(1024))),
        }
    }

    /// Remembers what delivering `event` did, or why it failed.
    pub fn record(&self, event: &IncomingEvent, outcome: Result<&Delivery, String>) {
        if self.limit == 0 {
            return;
        }
        let (delivery, error) = match outcome {
            Ok(delivery) => (delivery.clone(), None),
            Err(error) => (Delivery::default(), Some(error)),
        };
        let entry = DeliveryLog {
            at: rfc3339(swirl_core::time::now_ms()),
            id: event.id.clone(),
            source: event.source.clone(),
            event_type: event.event_type.clone(),
            started: delivery.started,
            delivered: delivery.delivered,
            buffered: delivery.buffered,
            duplicate: delivery.duplicate,
            error,
        };
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == self.limit {
            ring.pop_front();
        }
        ring.push_back(entry);
    }

    /// The deliveries remembered, newest first.
    pub fn recent(&self) -> Vec<DeliveryLog> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter().rev().cloned().collect()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// `GET /deliveries`: the recent deliveries, newest first, and how many
/// are kept at most.
pub async fn list_deliveries(State(state): State<ServerState>) -> Json<Value> {
    let deliveries = state.deliveries();
    Json(json!({ "limit": deliveries.limit(), "deliveries": deliveries.recent() }))
}

#[derive(Debug, Deserialize)]
pub struct BufferedQuery {
    limit: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /buffered-events`: a page of the events kept until an instance
/// waits for them (by type, then source, then arrival), and how many are
/// kept in all.
pub async fn list_buffered(
    State(state): State<ServerState>,
    Query(query): Query<BufferedQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = super::admin::page_limit(
        query.limit.as_deref(),
        DEFAULT_BUFFERED_PAGE,
        MAX_BUFFERED_PAGE,
    )?;
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(text) => Some(from_hex(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "cursor '{text}' is not a nextCursor this server gave; start again without one"
            ))
        })?),
    };
    let engine = state.engine().clone();
    let (entries, next) = blocking("buffered-event listing", move || {
        engine.buffered(after.as_deref(), limit)
    })
    .await?;
    let events: Vec<Value> = entries
        .iter()
        .map(|entry| {
            json!({
                "receivedAt": rfc3339(entry.received_ms),
                "id": entry.event.id,
                "source": entry.event.source,
                "type": entry.event.event_type,
                "extensions": entry.event.extensions,
                "data": entry.event.data,
            })
        })
        .collect();
    Ok(Json(json!({
        "count": state.store().buffered_count(),
        "events": events,
        "nextCursor": next.as_deref().map(to_hex),
    })))
}

/// A store key as a cursor: printable, and safe in a query string.
fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> IncomingEvent {
        IncomingEvent {
            id: id.to_string(),
            event_type: "t".to_string(),
            source: "s".to_string(),
            data: Value::Null,
            extensions: Default::default(),
            attributes: Default::default(),
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_up_to_its_limit() {
        let ring = RecentDeliveries::new(2);
        for id in ["1", "2", "3"] {
            ring.record(&event(id), Ok(&Delivery::default()));
        }
        ring.record(&event("4"), Err("the buffer is full".to_string()));
        let ids: Vec<String> = ring.recent().into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["4", "3"]);
        assert_eq!(
            ring.recent()[0].error.as_deref(),
            Some("the buffer is full")
        );
        let none = RecentDeliveries::new(0);
        none.record(&event("1"), Ok(&Delivery::default()));
        assert!(none.recent().is_empty());
    }

    #[test]
    fn cursors_go_through_hex_and_back() {
        let key = b"order.paid\0shop\0\x00\x01\xff".to_vec();
        assert_eq!(from_hex(&to_hex(&key)), Some(key));
        for bad in ["abc", "zz", "é0"] {
            assert_eq!(from_hex(bad), None, "{bad}");
        }
    }
}
