//! Spans as an OTLP `ExportTraceServiceRequest` in protobuf, encoded by
//! hand: the few messages of `opentelemetry/proto/trace/v1/trace.proto`
//! and `common/v1/common.proto` that a span needs, written straight into
//! one buffer. (`prost` and generated code would bring a build step and a
//! dependency tree for about 150 lines.)
//!
//! Fields equal to their default are left out, as protobuf encoders do.

use super::span::{Attributes, Event, Span, Status, Value};
use swirl_core::trace_context::TraceContext;

/// The instrumentation scope spans are reported under.
pub const SCOPE_NAME: &str = "swirl";

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// The request body for `spans` of the resource `resource`.
pub fn encode(resource: &[(String, String)], spans: &[Span]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * spans.len() + 128);
    // ExportTraceServiceRequest.resource_spans = 1
    message(&mut out, 1, |rs| {
        // ResourceSpans.resource = 1: Resource.attributes = 1
        message(rs, 1, |r| {
            for (key, value) in resource {
                key_value(r, 1, key, &Value::Str(value.clone()));
            }
        });
        // ResourceSpans.scope_spans = 2
        message(rs, 2, |ss| {
            // ScopeSpans.scope = 1: InstrumentationScope.name = 1, version = 2
            message(ss, 1, |scope| {
                string(scope, 1, SCOPE_NAME);
                string(scope, 2, env!("CARGO_PKG_VERSION"));
            });
            for span in spans {
                // ScopeSpans.spans = 2
                message(ss, 2, |s| encode_span(s, span));
            }
        });
    });
    out
}

fn encode_span(out: &mut Vec<u8>, span: &Span) {
    let context = &span.context;
    bytes(out, 1, &context.trace_id.0);
    bytes(out, 2, &context.span_id.0);
    string(out, 3, &context.state);
    if let Some(parent) = span.parent {
        bytes(out, 4, &parent.0);
    }
    string(out, 5, &span.name);
    varint_field(out, 6, span.kind as u64);
    fixed64(out, 7, span.start_ns);
    fixed64(out, 8, span.end_ns.max(span.start_ns));
    attributes(out, 9, &span.attributes);
    for event in &span.events {
        message(out, 11, |e| encode_event(e, event));
    }
    for link in &span.links {
        message(out, 13, |l| encode_link(l, link));
    }
    match &span.status {
        Status::Unset => {}
        // Status.message = 2, code = 3
        Status::Ok => message(out, 15, |s| varint_field(s, 3, 1)),
        Status::Error(text) => message(out, 15, |s| {
            string(s, 2, text);
            varint_field(s, 3, 2);
        }),
    }
    fixed32(out, 16, u32::from(context.flags));
}

fn encode_event(out: &mut Vec<u8>, event: &Event) {
    fixed64(out, 1, event.at_ns);
    string(out, 2, event.name);
    attributes(out, 3, &event.attributes);
}

fn encode_link(out: &mut Vec<u8>, link: &TraceContext) {
    bytes(out, 1, &link.trace_id.0);
    bytes(out, 2, &link.span_id.0);
    string(out, 3, &link.state);
    fixed32(out, 6, u32::from(link.flags));
}

fn attributes(out: &mut Vec<u8>, field: u32, attributes: &Attributes) {
    for (key, value) in attributes {
        key_value(out, field, key, value);
    }
}

/// A `KeyValue { key = 1; AnyValue value = 2 }`.
fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    message(out, field, |kv| {
        string(kv, 1, key);
        // AnyValue: string_value = 1, bool_value = 2, int_value = 3; a
        // oneof member is written even when it is its default.
        message(kv, 2, |any| match value {
            Value::Str(text) => {
                tag(any, 1, LEN);
                varint(any, text.len() as u64);
                any.extend_from_slice(text.as_bytes());
            }
            Value::Bool(flag) => {
                tag(any, 2, VARINT);
                varint(any, u64::from(*flag));
            }
            Value::Int(number) => {
                tag(any, 3, VARINT);
                varint(any, *number as u64);
            }
        });
    });
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field) << 3 | u64::from(wire));
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, value);
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, FIXED32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        tag(out, field, LEN);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    bytes(out, field, value.as_bytes());
}

/// A length-delimited message written by `body` (into a scratch buffer,
/// since its length comes first).
fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    tag(out, field, LEN);
    varint(out, inner.len() as u64);
    out.extend_from_slice(&inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SpanKind;
    use swirl_core::trace_context::SpanId;

    #[test]
    fn varints_are_little_endian_base_128() {
        let mut out = Vec::new();
        varint(&mut out, 1);
        varint(&mut out, 300);
        varint(&mut out, u64::MAX);
        assert_eq!(&out[..3], &[0x01, 0xac, 0x02]);
        assert_eq!(out.len(), 3 + 10);
    }

    /// The bytes of a small request, worked out by hand from the .proto
    /// field numbers and the wire format.
    #[test]
    fn a_span_encodes_field_by_field() {
        let context = TraceContext::parse(
            "00-0102030405060708090a0b0c0d0e0f10-1112131415161718-01",
            None,
        )
        .unwrap();
        let mut span = Span::new("r", context, Some(SpanId([0x21; 8])), SpanKind::Internal, 5);
        span.end_ns = 6;
        span.set("k", 7i64);
        let encoded = encode(&[], &[span]);
        let mut span_bytes = vec![0x0a, 16];
        span_bytes.extend(1..=16u8);
        span_bytes.extend([0x12, 8]);
        span_bytes.extend(0x11..=0x18u8);
        span_bytes.extend([0x22, 8]);
        span_bytes.extend([0x21; 8]);
        span_bytes.extend([0x2a, 1, b'r']); // name = 5
        span_bytes.extend([0x30, 1]); // kind = 6
        span_bytes.extend([0x39, 5, 0, 0, 0, 0, 0, 0, 0]); // start = 7
        span_bytes.extend([0x41, 6, 0, 0, 0, 0, 0, 0, 0]); // end = 8
        span_bytes.extend([0x4a, 7, 0x0a, 1, b'k', 0x12, 2, 0x18, 7]); // attributes = 9
        span_bytes.extend([0x85, 0x01, 1, 0, 0, 0]); // flags = 16, fixed32
        let version = env!("CARGO_PKG_VERSION").as_bytes();
        let mut scope = vec![0x0a, 5];
        scope.extend(SCOPE_NAME.as_bytes());
        scope.extend([0x12, version.len() as u8]);
        scope.extend(version);
        let mut scope_spans = vec![0x0a, scope.len() as u8];
        scope_spans.extend(scope);
        scope_spans.extend([0x12, span_bytes.len() as u8]);
        scope_spans.extend(span_bytes);
        let mut resource_spans = vec![0x0a, 0]; // an empty resource
        resource_spans.extend([0x12, scope_spans.len() as u8]);
        resource_spans.extend(scope_spans);
        let mut expected = vec![0x0a, resource_spans.len() as u8];
        expected.extend(resource_spans);
        assert_eq!(encoded, expected);
    }
}
