//! What the engine reports for traces, on its in-memory ports: an
//! instance's place in a trace is kept in its record, so the run an event
//! wakes on a second engine over the same store is in the same trace and
//! links to the event's span; calls are reported with their function and
//! attempt; produced events carry the run's span. Without a tracer, none of
//! it: no trace on the record, no `traceparent` on what it produces.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use swirl_core::trace_context::TraceContext;
use swirl_engine::outbox::{EngineObserver, OutboxEvent};
use swirl_engine::record::Status;
use swirl_engine::tracer::{RunTrace, Tracer, Trigger};
use swirl_engine::{Engine, IncomingEvent};
use swirl_ports::memory::{MemoryStore, NativeInvoker};
use swirl_workflow::KnownFunctions;

/// Calls `double`, waits for `order.paid`, then emits `order.done`.
const WAITS_THEN_EMITS: &str = r#"
document: { dsl: '1.0.0', namespace: test, name: traced, version: '1.0.0' }
do:
  - first:
      call: double
      with:
        n: ${ .n }
  - paid:
      listen:
        to:
          one:
            with: { type: order.paid, source: shop }
  - done:
      emit:
        event:
          with: { type: order.done, source: test }
"#;

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const SENDER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// The runs reported, and the events produced.
#[derive(Default)]
struct Collected {
    runs: Mutex<Vec<RunTrace>>,
    produced: Mutex<Vec<OutboxEvent>>,
}

impl Tracer for Collected {
    fn run(&self, run: RunTrace) {
        self.runs.lock().unwrap().push(run);
    }
}

impl EngineObserver for Collected {
    fn produced(&self, event: &OutboxEvent, _outbox_key: &[u8]) -> Result<(), String> {
        self.produced.lock().unwrap().push(event.clone());
        Ok(())
    }
}

impl Collected {
    /// Waits (5 s at most) for what `find` finds in the runs.
    async fn run(&self, find: impl Fn(&RunTrace) -> bool) -> RunTrace {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(run) = self.runs.lock().unwrap().iter().find(|r| find(r)) {
                return run.clone();
            }
            assert!(Instant::now() < deadline, "no such run reported");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn produced(&self) -> OutboxEvent {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(event) = self.produced.lock().unwrap().first() {
                return event.clone();
            }
            assert!(Instant::now() < deadline, "no event produced");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn engine(store: &MemoryStore, collected: &Arc<Collected>, traced: bool) -> Engine {
    let functions = NativeInvoker::new().with("double", |input| {
        Ok(json!({ "n": input["n"].as_i64().unwrap_or(0) * 2 }))
    });
    let engine = Engine::new(Arc::new(store.clone()), Arc::new(functions)).unwrap();
    if traced {
        engine.set_tracer(collected.clone());
    }
    engine.set_observer(collected.clone());
    engine
        .register(WAITS_THEN_EMITS, None, KnownFunctions::Unchecked)
        .unwrap();
    engine
}

fn paid(traceparent: &str) -> IncomingEvent {
    IncomingEvent {
        id: "p1".into(),
        event_type: "order.paid".into(),
        source: "shop".into(),
        data: json!({}),
        extensions: [("traceparent".to_string(), traceparent.to_string())].into(),
        attributes: Default::default(),
    }
}

async fn ended(engine: &Engine, id: &str) -> swirl_engine::record::InstanceRecord {
    tokio::time::timeout(Duration::from_secs(10), engine.wait(id))
        .await
        .expect("the instance ends in time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_stays_in_its_trace_across_a_wait_and_a_second_engine() {
    let store = MemoryStore::new();
    let caller = TraceContext::parse(CALLER, Some("vendor=1")).unwrap();
    let first = Arc::new(Collected::default());
    let engine1 = engine(&store, &first, true);
    let started = engine1
        .start_and_run(
            "traced",
            json!({ "n": 1 }),
            Some("t1".into()),
            Some(caller.clone()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(started.status, Status::Waiting);
    let trace = started.trace.clone().expect("the record keeps its trace");
    let instance = trace.context().unwrap();
    assert_eq!(instance.trace_id, caller.trace_id);
    assert_ne!(instance.span_id, caller.span_id);
    assert_eq!(instance.state, "vendor=1");
    assert_eq!(trace.parent_span(), Some(caller.span_id));

    let start = first.run(|run| run.trigger == Trigger::Start).await;
    assert_eq!(start.instance, instance);
    assert_eq!(start.instance_parent, Some(caller.span_id));
    assert_eq!(start.status, Status::Waiting);
    assert_eq!(start.calls.len(), 1, "{:?}", start.calls);
    let call = &start.calls[0];
    assert_eq!((call.function.as_str(), call.attempt), ("double", 1));
    assert_eq!(call.state, "/do/0/first");
    assert!(call.error.is_none());
    assert!(start.started_ns <= call.started_ns && call.ended_ns <= start.ended_ns);
    drop(engine1);

    // Another engine over the same store (a restart), woken by an event
    // sent in a trace of its own.
    let second = Arc::new(Collected::default());
    let engine2 = engine(&store, &second, true);
    engine2.recover().unwrap();
    let delivery = engine2.deliver(&paid(SENDER)).await.unwrap();
    assert_eq!(delivery.delivered, vec!["t1".to_string()]);
    let record = ended(&engine2, "t1").await;
    assert_eq!(record.status, Status::Completed, "{:?}", record.error);
    assert_eq!(record.trace, Some(trace));
    let sender = TraceContext::parse(SENDER, None).unwrap();
    let woken = second
        .run(|run| matches!(run.trigger, Trigger::Event { .. }))
        .await;
    assert_eq!(
        woken.trigger,
        Trigger::Event {
            link: Some(sender.clone())
        }
    );
    assert_eq!(woken.instance, instance, "the same instance span");
    assert_ne!(woken.span_id, start.span_id);
    assert_eq!(woken.status, Status::Completed);

    // The event it produced names the woken run's span.
    let done = second.produced().await;
    assert_eq!(done.event_type, "order.done");
    let named = TraceContext::of_extensions(&done.extensions).unwrap();
    assert_eq!(named.trace_id, caller.trace_id);
    assert_eq!(named.span_id, woken.span_id);
    assert_eq!(named.state, "vendor=1");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_tracer_nothing_of_a_trace_is_kept_or_sent() {
    let store = MemoryStore::new();
    let collected = Arc::new(Collected::default());
    let engine = engine(&store, &collected, false);
    let caller = TraceContext::parse(CALLER, None).unwrap();
    let started = engine
        .start_and_run(
            "traced",
            json!({ "n": 1 }),
            None,
            Some(caller),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(started.status, Status::Waiting);
    engine.deliver(&paid(SENDER)).await.unwrap();
    let record = ended(&engine, &started.id).await;
    assert_eq!(record.status, Status::Completed, "{:?}", record.error);
    assert_eq!(record.trace, None);
    let done = collected.produced().await;
    assert!(!done.extensions.contains_key("traceparent"), "{done:?}");
    assert!(collected.runs.lock().unwrap().is_empty());
}
