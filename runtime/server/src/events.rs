//! `POST /events` and `POST /`: CloudEvents in, engine deliveries out.
//!
//! The whole request is decoded and checked (by [`super::ingress`], then
//! here for what the engine needs: data it can read as JSON or text) before
//! the first event is delivered, so a refused request changed nothing. Each
//! event then goes through [`Engine::deliver`](swirl_engine::Engine::deliver),
//! which returns once its effects are durable; the `202` is sent only after
//! the last one. An event the engine has seen before (same `source` and `id`)
//! counts as a duplicate and changes nothing, so a client that got no answer
//! can always send the same request again. What each delivery did (or why
//! it failed) goes to the [recent deliveries](super::deliveries) too.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Data, Event};
use serde::Serialize;
use serde_json::Value;

use super::ServerState;
use super::error::ApiError;
use super::ingress::{self, EventError, IngressError};
use super::traces;
use swirl_core::trace_context::TraceContext;
use swirl_engine::{EngineError, IncomingEvent};

/// The answer to an accepted request.
#[derive(Debug, Default, Serialize)]
pub struct Accepted {
    pub accepted: usize,
    pub duplicates: usize,
    pub started: Vec<String>,
    pub delivered: Vec<String>,
    pub buffered: usize,
}

pub async fn receive(State(state): State<ServerState>, request: Request) -> Response {
    let limits = state.config().ingress_limits;
    let trace = state
        .telemetry()
        .and_then(|_| traces::of_headers(request.headers()));
    let events = match ingress::decode(request, &limits).await {
        Ok(events) => events,
        Err(error) => {
            state.metrics().event_rejected();
            tracing::debug!(%error, "refused an ingress request");
            return error.into_response();
        }
    };
    let incoming = match events
        .iter()
        .enumerate()
        .map(|(index, event)| to_incoming(event).map_err(|error| (index, error)))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(incoming) => incoming,
        Err((index, error)) => {
            state.metrics().event_rejected();
            let index = (events.len() > 1).then_some(index);
            return IngressError::InvalidEvent { index, error }.into_response();
        }
    };
    match deliver_all(&state, incoming, trace.as_ref()).await {
        Ok(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Delivers the events in order, each in a span when traces are on
/// (`request` is the request's trace context); stops at the first failure
/// (the client sends the request again, and the events already delivered
/// count as duplicates).
async fn deliver_all(
    state: &ServerState,
    events: Vec<IncomingEvent>,
    request: Option<&TraceContext>,
) -> Result<Accepted, ApiError> {
    let mut accepted = Accepted::default();
    for mut event in events {
        let span = state
            .telemetry()
            .map(|telemetry| (telemetry, traces::begin_delivery(&mut event, request)));
        let delivered = state.engine().deliver(&event).await;
        if let Some((telemetry, mut span)) = span {
            traces::end_delivery(&mut span, &delivered);
            telemetry.record(span);
        }
        state
            .deliveries()
            .record(&event, delivered.as_ref().map_err(ToString::to_string));
        let delivery = match delivered {
            Ok(delivery) => delivery,
            Err(error) => {
                if matches!(error, EngineError::BufferFull(_)) {
                    state.metrics().event_buffer_full();
                }
                return Err(error.into());
            }
        };
        tracing::info!(
            event_id = %event.id,
            source = %event.source,
            event_type = %event.event_type,
            duplicate = delivery.duplicate,
            started = %delivery.started.join(", "),
            delivered = %delivery.delivered.join(", "),
            buffered = delivery.buffered,
            "event accepted"
        );
        accepted.accepted += 1;
        state.metrics().events_accepted(1);
        if delivery.duplicate {
            accepted.duplicates += 1;
            state.metrics().events_duplicate(1);
        }
        if delivery.buffered {
            accepted.buffered += 1;
        }
        accepted.started.extend(delivery.started);
        accepted.delivered.extend(delivery.delivered);
    }
    Ok(accepted)
}

/// The event as the engine matches it: JSON data (text data as a JSON
/// string), extension attributes as strings.
pub fn to_incoming(event: &Event) -> Result<IncomingEvent, EventError> {
    let data = match ingress::data_json(event) {
        Ok(data) => data.unwrap_or(Value::Null),
        Err(ingress::DataError::NotJson(content_type)) => match event.data() {
            Some(Data::String(text)) => Value::String(text.clone()),
            Some(Data::Binary(bytes)) => match std::str::from_utf8(bytes) {
                Ok(text) => Value::String(text.to_owned()),
                Err(_) => {
                    return Err(EventError::Rejected(format!(
                        "data with content type '{content_type}' is not text; workflows read json or text data"
                    )));
                }
            },
            _ => Value::Null,
        },
        Err(ingress::DataError::InvalidJson(error)) => {
            return Err(EventError::Rejected(format!(
                "data is not valid json although its content type says so: {error}"
            )));
        }
    };
    // 1.0 filters match the optional context attributes, and an envelope
    // shows them.
    let attributes = [
        ("subject", event.subject().map(str::to_owned)),
        ("time", event.time().map(|time| time.to_rfc3339())),
        (
            "datacontenttype",
            event.datacontenttype().map(str::to_owned),
        ),
        ("dataschema", event.dataschema().map(ToString::to_string)),
    ];
    let attributes = attributes
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect();
    let extensions: BTreeMap<String, String> = event
        .iter_extensions()
        .map(|(name, value)| {
            let text = match value {
                ExtensionValue::String(text) => text.clone(),
                ExtensionValue::Boolean(flag) => flag.to_string(),
                ExtensionValue::Integer(number) => number.to_string(),
            };
            (name.to_owned(), text)
        })
        .collect();
    Ok(IncomingEvent {
        id: event.id().to_owned(),
        event_type: event.ty().to_owned(),
        source: event.source().to_string(),
        data,
        extensions,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};
    use serde_json::json;

    #[test]
    fn json_text_and_extensions_become_an_incoming_event() {
        let event = EventBuilderV10::new()
            .id("e1")
            .source("/orders")
            .ty("order.paid")
            .extension("orderid", "o3")
            .extension("attempt", 2i64)
            .data("application/json", json!({"total": 12}))
            .build()
            .expect("event");
        let incoming = to_incoming(&event).expect("valid");
        assert_eq!(incoming.id, "e1");
        assert_eq!(incoming.source, "/orders");
        assert_eq!(incoming.data, json!({"total": 12}));
        assert_eq!(incoming.extensions["orderid"], "o3");
        assert_eq!(incoming.extensions["attempt"], "2");
        let text = EventBuilderV10::new()
            .id("e2")
            .source("/s")
            .ty("t")
            .data("text/plain", "hello")
            .build()
            .expect("event");
        assert_eq!(to_incoming(&text).expect("text").data, json!("hello"));
    }
}
