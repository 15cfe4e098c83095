//! OpenTelemetry traces of a real `swirl serve`, received by a real
//! OTLP/HTTP receiver in the test that decodes the protobuf
//! `ExportTraceServiceRequest`s (with a wire-format reader of its own,
//! written from the `.proto` files, not the server's encoder): the spans'
//! tree, names and attributes, the W3C trace context in (HTTP header,
//! CloudEvents extension) and out (produced events, sink deliveries), and
//! one trace per instance across a wait for an event and a SIGKILL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;

use super::sinks::{Receiver, start_receiver, wait_until};
use super::util::{Server, app_with};

/// A protobuf field's value, as the wire format has it.
#[derive(Debug, Clone)]
enum Wire {
    Varint(u64),
    Fixed64(u64),
    Bytes(Vec<u8>),
    Fixed32(u32),
}

/// The fields of one message, in order.
fn fields(mut bytes: &[u8]) -> Vec<(u64, Wire)> {
    fn varint(bytes: &mut &[u8]) -> u64 {
        let mut value = 0;
        for shift in (0..64).step_by(7) {
            let byte = bytes[0];
            *bytes = &bytes[1..];
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        value
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut bytes)),
            1 => {
                let (value, rest) = bytes.split_at(8);
                bytes = rest;
                Wire::Fixed64(u64::from_le_bytes(value.try_into().unwrap()))
            }
            2 => {
                let len = varint(&mut bytes) as usize;
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                Wire::Bytes(value.to_vec())
            }
            5 => {
                let (value, rest) = bytes.split_at(4);
                bytes = rest;
                Wire::Fixed32(u32::from_le_bytes(value.try_into().unwrap()))
            }
            other => panic!("wire type {other} in an OTLP message"),
        };
        out.push((key >> 3, value));
    }
    out
}

fn bytes_of(wire: &Wire) -> &[u8] {
    match wire {
        Wire::Bytes(bytes) => bytes,
        other => panic!("expected a length-delimited field, got {other:?}"),
    }
}

fn text(wire: &Wire) -> String {
    String::from_utf8(bytes_of(wire).to_vec()).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// common.proto `KeyValue { string key = 1; AnyValue value = 2; }`, the
/// value as text (`AnyValue`: string 1, bool 2, int 3).
fn key_value(bytes: &[u8]) -> (String, String) {
    let mut key = String::new();
    let mut value = String::new();
    for (number, wire) in fields(bytes) {
        match number {
            1 => key = text(&wire),
            2 => {
                for (kind, any) in fields(bytes_of(&wire)) {
                    value = match (kind, any) {
                        (1, any) => text(&any),
                        (2, Wire::Varint(flag)) => (flag != 0).to_string(),
                        (3, Wire::Varint(number)) => (number as i64).to_string(),
                        other => panic!("unexpected AnyValue {other:?}"),
                    };
                }
            }
            _ => {}
        }
    }
    (key, value)
}

/// trace.proto `Span`, the fields the test reads.
#[derive(Debug, Clone, Default)]
struct ReceivedSpan {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: u64,
    start: u64,
    end: u64,
    attributes: HashMap<String, String>,
    /// (trace id, span id) of each link.
    links: Vec<(String, String)>,
    status_code: u64,
    flags: u32,
}

impl ReceivedSpan {
    fn decode(bytes: &[u8]) -> Self {
        let mut span = ReceivedSpan::default();
        for (number, wire) in fields(bytes) {
            match (number, &wire) {
                (1, _) => span.trace_id = hex(bytes_of(&wire)),
                (2, _) => span.span_id = hex(bytes_of(&wire)),
                (4, _) => span.parent = hex(bytes_of(&wire)),
                (5, _) => span.name = text(&wire),
                (6, Wire::Varint(kind)) => span.kind = *kind,
                (7, Wire::Fixed64(at)) => span.start = *at,
                (8, Wire::Fixed64(at)) => span.end = *at,
                (9, _) => {
                    let (key, value) = key_value(bytes_of(&wire));
                    span.attributes.insert(key, value);
                }
                (13, _) => {
                    let link = fields(bytes_of(&wire));
                    let get = |n| {
                        link.iter()
                            .find(|(k, _)| *k == n)
                            .map(|(_, w)| hex(bytes_of(w)))
                    };
                    span.links.push((get(1).unwrap(), get(2).unwrap()));
                }
                (15, _) => {
                    for (field, value) in fields(bytes_of(&wire)) {
                        if let (3, Wire::Varint(code)) = (field, value) {
                            span.status_code = code;
                        }
                    }
                }
                (16, Wire::Fixed32(flags)) => span.flags = *flags,
                _ => {}
            }
        }
        span
    }

    fn attribute(&self, key: &str) -> &str {
        self.attributes
            .get(key)
            .unwrap_or_else(|| panic!("span {} has no attribute {key}: {self:#?}", self.name))
    }
}

/// The resource attributes and the `x-test` header of one export request.
type Request = (HashMap<String, String>, Option<String>);

/// What the OTLP receiver got.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Collector {
    /// Decodes an `ExportTraceServiceRequest { repeated ResourceSpans = 1 }`.
    fn take(&self, headers: &HeaderMap, body: &[u8]) {
        for (_, resource_spans) in fields(body).iter().filter(|(n, _)| *n == 1) {
            let mut resource = HashMap::new();
            for (number, wire) in fields(bytes_of(resource_spans)) {
                match number {
                    // Resource { repeated KeyValue attributes = 1 }
                    1 => {
                        for (_, kv) in fields(bytes_of(&wire)).iter().filter(|(n, _)| *n == 1) {
                            let (key, value) = key_value(bytes_of(kv));
                            resource.insert(key, value);
                        }
                    }
                    // ScopeSpans { scope = 1; repeated Span spans = 2 }
                    2 => {
                        for (_, span) in fields(bytes_of(&wire)).iter().filter(|(n, _)| *n == 2) {
                            let span = ReceivedSpan::decode(bytes_of(span));
                            self.spans.lock().unwrap().push(span);
                        }
                    }
                    _ => {}
                }
            }
            let header = headers
                .get("x-test")
                .map(|value| value.to_str().unwrap().to_string());
            self.requests.lock().unwrap().push((resource, header));
        }
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    fn named(&self, name: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    fn one(&self, name: &str) -> ReceivedSpan {
        let found = self.named(name);
        assert_eq!(found.len(), 1, "spans named {name}: {:#?}", self.spans());
        found.into_iter().next().unwrap()
    }
}

/// An OTLP/HTTP receiver on a free loopback port: `POST /v1/traces`.
async fn start_collector(collector: Collector) -> std::net::SocketAddr {
    let state = collector.clone();
    let receive = post(move |headers: HeaderMap, body: axum::body::Bytes| {
        let state = state.clone();
        async move {
            if headers.get("content-type").and_then(|v| v.to_str().ok())
                != Some("application/x-protobuf")
            {
                return StatusCode::UNSUPPORTED_MEDIA_TYPE;
            }
            state.take(&headers, &body);
            StatusCode::OK
        }
    });
    let router = Router::new().route("/v1/traces", receive);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const EVENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const EVENT_SPAN: &str = "b7ad6b7169203331";
const DIRECT_TRACE: &str = "5c1f2e3d4b5a69788796a5b4c3d2e1f0";
const DIRECT_SPAN: &str = "53ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_is_one_trace_across_a_wait_and_a_restart() {
    let collector = Collector::default();
    let otlp = start_collector(collector.clone()).await;
    let sink = Receiver::default();
    let sink_addr = start_receiver(sink.clone()).await;
    let probe =
        |parameters| json!({ "functionRef": { "refName": "probe", "parameters": parameters } });
    let traced = json!({ "id": "traced", "version": "1.0", "name": "traced",
        "functions": [{ "name": "probe", "resource": "probe" }],
        "events": [{ "name": "Go", "source": "tests", "type": "go" },
                   { "name": "Done", "source": "traced", "type": "traced.done" }],
        "states": [
            { "name": "Add", "type": "OPERATION", "start": { "kind": "DEFAULT" },
              "actionMode": "SEQUENTIAL",
              "actions": [probe(json!({ "action": "add", "a": "$.a", "b": "$.b" }))],
              "transition": { "nextState": "Wait" } },
            { "name": "Wait", "type": "EVENT", "exclusive": true,
              "eventsActions": [{ "eventRefs": ["Go"],
                  "actions": [probe(json!({ "action": "log", "message": "woken up" }))] }],
              "end": { "kind": "EVENT", "produceEvent": { "nameRef": "Done", "data": "$" } } }
        ] });
    let app = app_with(
        vec![("traced.json", traced)],
        &format!("\n[[sinks]]\nurl = \"http://{sink_addr}/in\"\ntype = \"traced.done\"\n"),
    );
    let endpoint = format!("http://{otlp}");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_SERVICE_NAME", "swirl-test"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-test=yes%21"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("SWIRL_LOG_FORMAT", "json"),
    ];
    let mut server = Server::start(&app, &[], &env);

    // A start that continues the caller's trace.
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let started = server
        .request(
            "POST",
            "/workflows/traced/instances?id=t1",
            &[
                ("content-type", "application/json"),
                ("traceparent", &caller),
            ],
            json!({ "a": 2, "b": 3 }).to_string(),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    server.wait_status("t1", "waiting").await;
    wait_until("the first run's spans arrive", || {
        !collector.named("state Wait").is_empty()
    })
    .await;

    // Killed while the instance waits; the restarted server keeps its trace.
    server.kill();
    let server = Server::start(&app, &[], &env);
    let event_context = format!("00-{EVENT_TRACE}-{EVENT_SPAN}-01");
    let sent = server
        .event(
            "go-1",
            "tests",
            "go",
            &[("traceparent", &event_context)],
            json!({}),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.text);
    server.wait_status("t1", "completed").await;
    wait_until("the instance's span and the sink's arrive", || {
        !collector.named("instance traced").is_empty()
            && !collector.named("sink traced.done").is_empty()
    })
    .await;

    // The instance: a child of the caller's span, in the caller's trace.
    let instance = collector.one("instance traced");
    assert_eq!(instance.trace_id, CALLER_TRACE);
    assert_eq!(instance.parent, CALLER_SPAN);
    assert_eq!(instance.attribute("swirl.instance.id"), "t1");
    assert_eq!(instance.attribute("swirl.instance.status"), "completed");
    assert_eq!(instance.status_code, 1, "ok");
    assert_eq!(instance.flags & 0xff, 1, "sampled");

    // Two runs, before and after the restart, both under the instance.
    let runs = collector.named("run traced");
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let first = runs
        .iter()
        .find(|r| r.attribute("swirl.run.trigger") == "start")
        .unwrap();
    let woken = runs
        .iter()
        .find(|r| r.attribute("swirl.run.trigger") == "event")
        .unwrap();
    for run in &runs {
        assert_eq!(run.trace_id, CALLER_TRACE);
        assert_eq!(run.parent, instance.span_id);
        assert_eq!(run.attribute("swirl.workflow.id"), "traced");
        assert!(
            instance.start <= run.start && run.end <= instance.end,
            "{run:#?} in {instance:#?}"
        );
    }
    assert_eq!(first.attribute("swirl.instance.status"), "waiting");
    assert!(first.links.is_empty());

    // The first run: its states, the call under the state that made it.
    let add = collector.one("state Add");
    assert_eq!(add.parent, first.span_id);
    let calls = collector.named("call probe");
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let add_call = calls
        .iter()
        .find(|c| c.attribute("swirl.state.name") == "Add")
        .unwrap();
    assert_eq!(add_call.parent, add.span_id);
    assert_eq!(add_call.attribute("swirl.function.name"), "probe");
    assert_eq!(add_call.attribute("swirl.call.attempt"), "1");
    assert_eq!(add_call.attribute("swirl.call.outcome"), "ok");
    assert!(!add_call.attribute("swirl.function.version").is_empty());
    assert!(add.start <= add_call.start && add_call.end <= add.end);
    assert!(add_call.start < add_call.end);
    let waits = collector.named("state Wait");
    assert_eq!(waits.len(), 2, "{waits:#?}");
    let waiting = waits.iter().find(|w| w.parent == first.span_id).unwrap();
    assert_eq!(waiting.attribute("swirl.state.waiting"), "true");

    // The event's delivery: a span in the event's trace, under its span.
    let delivery = collector.one("deliver go");
    assert_eq!(delivery.trace_id, EVENT_TRACE);
    assert_eq!(delivery.parent, EVENT_SPAN);
    assert_eq!(delivery.kind, 5, "consumer");
    assert_eq!(delivery.attribute("cloudevents.event_id"), "go-1");
    assert_eq!(delivery.attribute("swirl.delivery.delivered"), "t1");

    // The woken run: in the instance's trace, linked to the delivery.
    assert_eq!(
        woken.links,
        vec![(EVENT_TRACE.to_string(), delivery.span_id.clone())]
    );
    assert_eq!(woken.attribute("swirl.instance.status"), "completed");
    let resumed = waits.iter().find(|w| w.parent == woken.span_id).unwrap();
    assert_eq!(resumed.attribute("swirl.state.resumed"), "true");
    let log_call = calls
        .iter()
        .find(|c| c.attribute("swirl.state.name") == "Wait")
        .unwrap();
    assert_eq!(log_call.parent, resumed.span_id);

    // The produced event: its traceparent names the run that produced it;
    // the sink's POST carries the sink delivery's span.
    let sink_span = collector.one("sink traced.done");
    assert_eq!(sink_span.trace_id, CALLER_TRACE);
    assert_eq!(sink_span.parent, woken.span_id);
    assert_eq!(sink_span.kind, 3, "client");
    let received = sink.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let header = |name: &str| {
        received[0]
            .0
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        header("ce-traceparent"),
        format!("00-{CALLER_TRACE}-{}-01", woken.span_id)
    );
    assert_eq!(
        header("traceparent"),
        format!("00-{CALLER_TRACE}-{}-01", sink_span.span_id)
    );

    // A direct call continues its caller's trace (a server span), and the
    // event it emits names that span.
    let direct_caller = format!("00-{DIRECT_TRACE}-{DIRECT_SPAN}-01");
    let invoked = server
        .request(
            "POST",
            "/functions/probe/invoke",
            &[
                ("content-type", "application/json"),
                ("traceparent", &direct_caller),
            ],
            json!({ "action": "emit", "event_type": "traced.done", "data": {} }).to_string(),
        )
        .await;
    assert_eq!(invoked.status, 200, "{}", invoked.text);
    let in_direct_trace = |name: &str| {
        collector
            .named(name)
            .into_iter()
            .find(|span| span.trace_id == DIRECT_TRACE)
    };
    wait_until(
        "the direct call's span and its event's sink span arrive",
        || in_direct_trace("call probe").is_some() && in_direct_trace("sink traced.done").is_some(),
    )
    .await;
    let direct = in_direct_trace("call probe").unwrap();
    assert_eq!(direct.parent, DIRECT_SPAN);
    assert_eq!(direct.kind, 2, "server");
    assert_eq!(direct.attribute("swirl.call.outcome"), "ok");
    assert_eq!(direct.attribute("swirl.function.name"), "probe");
    assert!(!direct.attribute("swirl.invocation.id").is_empty());
    assert_eq!(
        in_direct_trace("sink traced.done").unwrap().parent,
        direct.span_id
    );

    for (resource, header) in collector.requests.lock().unwrap().iter() {
        assert_eq!(
            resource.get("service.name").map(String::as_str),
            Some("swirl-test")
        );
        assert_eq!(header.as_deref(), Some("yes!"));
    }
    let metrics = server.get("/metrics").await.text;
    assert!(
        metrics.contains("swirl_trace_spans_dropped_total 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("swirl_trace_queue_capacity 2048"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("swirl_trace_spans_exported_total 0\n"),
        "{metrics}"
    );

    // The function's log lines reached the server's log, as structured
    // fields (SWIRL_LOG_FORMAT=json) with the instance, state and invocation.
    wait_until("the function's log line reaches the server's log", || {
        server.log().contains("woken up")
    })
    .await;
    let logged = server
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["target"] == "swirl::function" && line["fields"]["message"] == "woken up")
        .unwrap_or_else(|| panic!("no function log line in:\n{}", server.log()));
    let fields = &logged["fields"];
    assert_eq!(logged["level"], "INFO");
    assert_eq!(fields["function"], "probe");
    assert_eq!(fields["instance_id"], "t1");
    assert_eq!(fields["state"], "Wait");
    assert_eq!(fields["stream"], "host");
    assert!(
        fields["invocation_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{logged}"
    );
}
