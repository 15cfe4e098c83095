//! The server's part of distributed traces (when `swirl-telemetry` is on):
//! the trace context of what comes in over HTTP, and the spans of event
//! deliveries and sink deliveries.
//!
//! - A start (`POST /workflows/{id}/instances`) continues the trace of its
//!   `traceparent` header: the instance's span is a child of the caller's.
//! - An event is delivered in a span of its own, a child of the span its
//!   `traceparent` extension names (the CloudEvents distributed-tracing
//!   extension), else of the request's `traceparent` header. As a tracing
//!   intermediary does, the server then makes its delivery span the event's
//!   `traceparent`: instances the event starts are its children, and runs
//!   it wakes link to it.
//! - A direct call of a function is a server span, a child of the
//!   request's `traceparent`; the events it emits carry it.
//! - A sink delivery is a client span, a child of the span that produced
//!   the event, whose context goes out as the POST's `traceparent` header
//!   (the event's own `traceparent` extension stays its producer's).

use axum::http::HeaderMap;

use swirl_core::trace_context::TraceContext;
use swirl_engine::outbox::OutboxEvent;
use swirl_engine::{Delivery, EngineError, IncomingEvent};
use swirl_function::Invocation;
use swirl_telemetry::{Span, SpanKind, Status, now_ns};

/// The trace context of a request's `traceparent` and `tracestate` headers.
pub fn of_headers(headers: &HeaderMap) -> Option<TraceContext> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    TraceContext::parse(text("traceparent")?, text("tracestate"))
}

/// Begins the span of delivering `event`, and makes it the event's
/// `traceparent`; `request` is the context of the request that carried it.
pub fn begin_delivery(event: &mut IncomingEvent, request: Option<&TraceContext>) -> Span {
    let parent = TraceContext::of_extensions(&event.extensions).or_else(|| request.cloned());
    let mut span = child_span(
        format!("deliver {}", event.event_type),
        parent,
        SpanKind::Consumer,
    );
    span.context.set_extensions(&mut event.extensions);
    span.set("cloudevents.event_id", event.id.as_str());
    span.set("cloudevents.event_source", event.source.as_str());
    span.set("cloudevents.event_type", event.event_type.as_str());
    span
}

/// A span starting now, a child of `parent`, or the root of a new trace.
fn child_span(name: String, parent: Option<TraceContext>, kind: SpanKind) -> Span {
    let context = parent
        .as_ref()
        .map_or_else(TraceContext::root, TraceContext::child);
    Span::new(
        name,
        context,
        parent.map(|parent| parent.span_id),
        kind,
        now_ns(),
    )
}

/// Ends a delivery span with what the delivery did.
pub fn end_delivery(span: &mut Span, delivered: &Result<Delivery, EngineError>) {
    span.end_ns = now_ns();
    match delivered {
        Ok(delivery) => {
            span.set("swirl.delivery.duplicate", delivery.duplicate);
            span.set("swirl.delivery.buffered", delivery.buffered);
            span.set("swirl.delivery.started", delivery.started.join(","));
            span.set("swirl.delivery.delivered", delivery.delivered.join(","));
        }
        Err(error) => span.status = Status::Error(error.to_string()),
    }
}

/// Begins the span of one POST of `event` to the sink at `url`; its
/// context is the request's `traceparent`.
pub fn begin_sink(event: &OutboxEvent, url: &str, attempt: u32) -> Span {
    let mut span = child_span(
        format!("sink {}", event.event_type),
        TraceContext::of_extensions(&event.extensions),
        SpanKind::Client,
    );
    span.set("url.full", url);
    span.set("cloudevents.event_id", event.id.as_str());
    span.set("cloudevents.event_type", event.event_type.as_str());
    span.set("swirl.sink.attempt", attempt);
    span
}

/// Ends a sink span: `Err` holds why the POST failed.
pub fn end_sink(span: &mut Span, posted: Result<(), &str>) {
    span.end_ns = now_ns();
    if let Err(message) = posted {
        span.status = Status::Error(message.to_string());
    }
}

/// The span of a direct call of `function` (`POST /functions/{name}/invoke`)
/// that began at `started_ns`, a child of `parent` (the request's header).
pub fn invocation(
    function: &str,
    invocation: &Invocation,
    parent: Option<TraceContext>,
    started_ns: u64,
) -> Span {
    let mut span = child_span(format!("call {function}"), parent, SpanKind::Server);
    span.start_ns = started_ns.min(span.start_ns);
    span.end_ns = now_ns();
    span.set("swirl.function.name", function);
    span.set("swirl.function.version", invocation.version.as_str());
    span.set("swirl.invocation.id", invocation.id.as_str());
    match &invocation.outcome {
        Ok(_) => {
            span.set("swirl.call.outcome", "ok");
        }
        Err(failure) => {
            span.set("swirl.call.outcome", failure.code.as_str());
            span.status = Status::Error(failure.message.clone());
        }
    }
    span
}
