//! The engine alone, on its in-memory ports: functions are Rust closures,
//! the store is maps. No wasm, no disk, no HTTP: the fast tier, which
//! shows the interpreter and the driver right before the real tier shows
//! the whole server right.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use swirl_engine::record::{InstanceRecord, Status};
use swirl_engine::{Engine, IncomingEvent};
use swirl_ports::invoke::Failure;
use swirl_ports::memory::{MemoryStore, NativeInvoker};
use swirl_workflow::KnownFunctions;

fn functions() -> NativeInvoker {
    NativeInvoker::new()
        .with("double", |input| {
            let n = input["n"].as_i64().unwrap_or(0);
            Ok(json!({ "n": n * 2 }))
        })
        .with("reserve", |_| {
            Err(Failure::new("OutOfStock", "nothing left to reserve"))
        })
}

fn engine(store: &MemoryStore, definitions: &[&str]) -> Engine {
    let engine = Engine::new(Arc::new(store.clone()), Arc::new(functions())).unwrap();
    for text in definitions {
        engine
            .register(text, None, KnownFunctions::Unchecked)
            .unwrap_or_else(|d| panic!("{d}\n{text}"));
    }
    engine
}

async fn ended(engine: &Engine, id: &str) -> InstanceRecord {
    let record = tokio::time::timeout(Duration::from_secs(10), engine.wait(id))
        .await
        .expect("the instance ends in time")
        .unwrap();
    assert_eq!(
        record.invariant_violations(),
        Vec::<String>::new(),
        "{record:?}"
    );
    record
}

async fn output(engine: &Engine, workflow: &str, input: Value) -> Value {
    let started = engine.start(workflow, input, None).await.unwrap();
    let record = ended(engine, &started.id).await;
    assert_eq!(record.status, Status::Completed, "{:?}", record.error);
    record.output.unwrap()
}

const STEPS_V10: &str = r#"
document: { dsl: '1.0.0', namespace: test, name: steps, version: '1.0.0' }
do:
  - first:
      call: double
      with:
        n: ${ .n }
  - second:
      call: double
      with:
        n: ${ .n }
"#;

const STEPS_V01: &str = r#"{
  "id": "steps01", "version": "1.0", "name": "steps01",
  "functions": [{ "name": "double", "resource": "double" }],
  "states": [{
    "name": "Twice", "type": "OPERATION", "start": { "kind": "DEFAULT" },
    "actionMode": "SEQUENTIAL",
    "actions": [
      { "functionRef": { "refName": "double", "parameters": { "n": "$.n" } } },
      { "functionRef": { "refName": "double", "parameters": { "n": "$.n" } } }
    ],
    "end": { "kind": "DEFAULT" }
  }]
}"#;

const CAUGHT: &str = r#"
document: { dsl: '1.0.0', namespace: test, name: caught, version: '1.0.0' }
do:
  - order:
      try:
        - reserve:
            call: reserve
      catch:
        as: failure
        do:
          - report:
              set:
                failed: ${ $failure.type }
"#;

const LISTENS: &str = r#"
document: { dsl: '1.0.0', namespace: test, name: listens, version: '1.0.0' }
do:
  - paid:
      listen:
        to:
          one:
            with: { type: order.paid, source: shop }
"#;

fn paid(id: &str, amount: u64) -> IncomingEvent {
    IncomingEvent {
        id: id.into(),
        event_type: "order.paid".into(),
        source: "shop".into(),
        data: json!({ "amount": amount }),
        extensions: Default::default(),
        attributes: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_1_0_document_calls_functions_in_sequence() {
    let engine = engine(&MemoryStore::new(), &[STEPS_V10]);
    assert_eq!(
        output(&engine, "steps", json!({ "n": 3 })).await,
        json!({ "n": 12 })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v0_1_workflow_runs_on_the_same_core() {
    let engine = engine(&MemoryStore::new(), &[STEPS_V01]);
    let out = output(&engine, "steps01", json!({ "n": 3 })).await;
    assert_eq!(out["n"], json!(12), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caught_function_failure_is_the_catch_blocks_data() {
    let engine = engine(&MemoryStore::new(), &[CAUGHT]);
    let out = output(&engine, "caught", json!({})).await;
    let failed = out["failed"].as_str().unwrap_or_default();
    assert!(failed.contains("OutOfStock"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_instance_takes_the_event_it_listens_for() {
    let engine = engine(&MemoryStore::new(), &[LISTENS]);
    let started = engine.start("listens", json!({}), None).await.unwrap();
    let delivery = engine.deliver(&paid("p1", 5)).await.unwrap();
    assert_eq!(delivery.delivered, vec![started.id.clone()], "{delivery:?}");
    let record = ended(&engine, &started.id).await;
    assert_eq!(record.output, Some(json!([{ "amount": 5 }])));
    // The same event again is a duplicate, and changes nothing.
    assert!(engine.deliver(&paid("p1", 5)).await.unwrap().duplicate);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_before_its_listener_is_kept_until_it_listens() {
    let engine = engine(&MemoryStore::new(), &[LISTENS]);
    assert!(engine.deliver(&paid("early", 7)).await.unwrap().buffered);
    let record = ended(
        &engine,
        &engine.start("listens", json!({}), None).await.unwrap().id,
    )
    .await;
    assert_eq!(record.output, Some(json!([{ "amount": 7 }])));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_engine_over_the_same_store_resumes_a_waiting_instance() {
    let store = MemoryStore::new();
    let id = {
        let first = engine(&store, &[LISTENS]);
        let started = first.start("listens", json!({}), None).await.unwrap();
        let waiting = first.get(&started.id).unwrap();
        assert_eq!(waiting.status, Status::Waiting);
        assert_eq!(waiting.invariant_violations(), Vec::<String>::new());
        started.id
    };
    let second = engine(&store, &[LISTENS]);
    second.recover().unwrap();
    assert_eq!(
        second.deliver(&paid("p2", 9)).await.unwrap().delivered,
        vec![id.clone()]
    );
    assert_eq!(
        ended(&second, &id).await.output,
        Some(json!([{ "amount": 9 }]))
    );
}

/// What fails after a composite task ended (here a raise after a try) fails
/// the thread that went on, not the ended one.
#[tokio::test(flavor = "multi_thread")]
async fn a_raise_after_a_try_fails_the_instance() {
    let doc = r#"
document: { dsl: '1.0.0', namespace: test, name: late, version: '1.0.0' }
do:
  - attempt:
      try:
        - first:
            call: double
            with:
              n: 1
      catch:
        retry:
          limit:
            attempt: { count: 3 }
  - tooLate:
      raise:
        error:
          type: https://example.com/errors/too-late
          status: 409
          title: it took too many attempts
"#;
    let engine = engine(&MemoryStore::new(), &[doc]);
    let started = engine.start("late", json!({}), None).await.unwrap();
    let record = ended(&engine, &started.id).await;
    assert_eq!(record.status, Status::Failed);
    let error = record.error.unwrap();
    assert_eq!(error.message, "it took too many attempts");
    assert_eq!(error.state.as_deref(), Some("/do/1/tooLate"));
}

const GREETS: &str = r#"
document: { dsl: '1.0.0', namespace: test, name: greets, version: '1.0.0' }
schedule:
  on:
    one:
      with: { type: order.paid, source: shop }
do:
  - thanks:
      set:
        first: ${ .[0].amount }
  - next:
      listen:
        to:
          one:
            with: { type: order.paid, source: shop }
"#;

/// `schedule.on` starts an instance per event, whose input is the array of
/// that event's data; an instance listening for the same events takes the
/// next one, which starts another instance all the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_on_starts_an_instance_per_event_even_while_one_listens() {
    let engine = engine(&MemoryStore::new(), &[GREETS]);
    let first = engine.deliver(&paid("p1", 5)).await.unwrap();
    assert_eq!(first.started.len(), 1, "{first:?}");
    let second = engine.deliver(&paid("p2", 7)).await.unwrap();
    assert_eq!(second.delivered, first.started, "{second:?}");
    assert_eq!(second.started.len(), 1, "{second:?}");
    let record = ended(&engine, &first.started[0]).await;
    assert_eq!(record.input, json!([{ "amount": 5 }]));
    assert_eq!(record.output, Some(json!([{ "amount": 7 }])));
    let waiting = engine.get(&second.started[0]).unwrap();
    assert_eq!(waiting.status, Status::Waiting);
    assert_eq!(waiting.input, json!([{ "amount": 7 }]));
}

/// A `schedule.on` filter may name only the type, as the specification's
/// event-driven example does: then an event of any source starts one.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_on_by_type_alone_takes_any_source() {
    let any = r#"
document: { dsl: '1.0.0', namespace: test, name: any, version: '1.0.0' }
schedule:
  on:
    one:
      with: { type: order.paid }
do:
  - thanks:
      set:
        paid: ${ .[0].amount }
"#;
    let engine = engine(&MemoryStore::new(), &[any]);
    let mut event = paid("p1", 3);
    event.source = "elsewhere".into();
    let delivery = engine.deliver(&event).await.unwrap();
    assert_eq!(delivery.started.len(), 1, "{delivery:?}");
    let record = ended(&engine, &delivery.started[0]).await;
    assert_eq!(record.output, Some(json!({ "paid": 3 })));
}

/// Takes the events an engine produces.
#[derive(Default)]
struct Produced(std::sync::Mutex<Vec<swirl_engine::outbox::OutboxEvent>>);

impl swirl_engine::outbox::EngineObserver for Produced {
    fn produced(
        &self,
        event: &swirl_engine::outbox::OutboxEvent,
        _outbox_key: &[u8],
    ) -> Result<(), String> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// Asked for, a 1.0 instance produces the lifecycle events of the
/// workflow and of each task, in order, with the data the DSL reference
/// gives them; a v0.1 instance produces none.
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_events_tell_what_a_1_0_instance_did() {
    let config = swirl_engine::EngineConfig {
        lifecycle_events: true,
        ..Default::default()
    };
    let store = MemoryStore::new();
    let engine = Engine::with_config(Arc::new(store), Arc::new(functions()), config).unwrap();
    for text in [STEPS_V10, CAUGHT, STEPS_V01] {
        engine
            .register(text, None, KnownFunctions::Unchecked)
            .unwrap();
    }
    let produced = Arc::new(Produced::default());
    engine.set_observer(produced.clone());
    let started = engine
        .start("steps", json!({ "n": 1 }), None)
        .await
        .unwrap();
    ended(&engine, &started.id).await;
    output(&engine, "steps01", json!({ "n": 1 })).await;
    let failing = r#"
document: { dsl: '1.0.0', namespace: test, name: failing, version: '1.0.0' }
do:
  - reserve:
      call: reserve
"#;
    engine
        .register(failing, None, KnownFunctions::Unchecked)
        .unwrap();
    let failed = engine.start("failing", json!({}), None).await.unwrap();
    ended(&engine, &failed.id).await;
    let mut events = Vec::new();
    for _ in 0..100 {
        events = produced.0.lock().unwrap().clone();
        if events.len() >= 13 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The commits of a run hand their events on concurrently; their ids
    // sort in the order they happened.
    events.sort_by(|a, b| a.id.cmp(&b.id));
    let of = |id: &str| -> Vec<(String, Value)> {
        events
            .iter()
            .filter(|e| e.subject.as_deref() == Some(id))
            .map(|e| {
                let mut data = e.data.clone().unwrap();
                for at in ["createdAt", "startedAt", "completedAt", "faultedAt"] {
                    if let Some(time) = data.as_object_mut().unwrap().remove(at) {
                        assert!(time.as_str().unwrap().ends_with('Z'), "{time}");
                    }
                }
                (e.event_type.clone(), data)
            })
            .collect()
    };
    let name = format!("{}.test", started.id);
    let task = |reference: &str| json!({ "workflow": name, "task": reference });
    assert_eq!(
        of(&started.id),
        vec![
            (
                "io.serverlessworkflow.workflow.started.v1".into(),
                json!({ "name": name, "definition": { "name": "steps", "namespace": "test", "version": "1.0.0" } })
            ),
            (
                "io.serverlessworkflow.task.created.v1".into(),
                task("/do/0/first")
            ),
            (
                "io.serverlessworkflow.task.started.v1".into(),
                task("/do/0/first")
            ),
            (
                "io.serverlessworkflow.task.completed.v1".into(),
                task("/do/0/first")
            ),
            (
                "io.serverlessworkflow.task.created.v1".into(),
                task("/do/1/second")
            ),
            (
                "io.serverlessworkflow.task.started.v1".into(),
                task("/do/1/second")
            ),
            (
                "io.serverlessworkflow.task.completed.v1".into(),
                task("/do/1/second")
            ),
            (
                "io.serverlessworkflow.workflow.completed.v1".into(),
                json!({ "name": name })
            ),
        ]
    );
    let faulted = of(&failed.id);
    let (kind, data) = faulted.last().unwrap();
    assert_eq!(kind, "io.serverlessworkflow.workflow.faulted.v1");
    assert_eq!(data["error"]["instance"], "/do/0/reserve", "{data}");
    assert_eq!(data["error"]["title"], "nothing left to reserve", "{data}");
    // The task that met the error faulted first, in the same commit.
    let (kind, data) = &faulted[faulted.len() - 2];
    assert_eq!(kind, "io.serverlessworkflow.task.faulted.v1");
    assert_eq!(data["task"], "/do/0/reserve", "{data}");
    assert_eq!(data["error"]["title"], "nothing left to reserve", "{data}");
    assert!(
        events
            .iter()
            .all(|e| e.source.starts_with("swirl/workflows/") && !e.source.ends_with("steps01")),
        "{events:?}"
    );
}

/// Asked for alone, the optional status-changed events follow a 1.0
/// instance's status phases and each task's: a `wait` waits, and waits
/// again once resumed; the instance waits while it does and is suspended,
/// running and cancelled as the operator says.
#[tokio::test(flavor = "multi_thread")]
async fn status_changed_events_follow_the_phases() {
    let config = swirl_engine::EngineConfig {
        status_changed_events: true,
        ..Default::default()
    };
    let store = MemoryStore::new();
    let engine = Engine::with_config(Arc::new(store), Arc::new(functions()), config).unwrap();
    let napping = r#"
document: { dsl: '1.0.0', namespace: test, name: napping, version: '1.0.0' }
do:
  - first:
      call: double
      with:
        n: ${ .n }
  - nap:
      wait: PT1H
"#;
    engine
        .register(napping, None, KnownFunctions::Unchecked)
        .unwrap();
    let produced = Arc::new(Produced::default());
    engine.set_observer(produced.clone());
    let id = engine
        .start("napping", json!({ "n": 1 }), None)
        .await
        .unwrap()
        .id;
    let status = |wanted: Status| {
        let engine = engine.clone();
        let id = id.clone();
        async move {
            for _ in 0..500 {
                if engine.get(&id).is_ok_and(|r| r.status == wanted) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{id} never became {wanted:?}");
        }
    };
    status(Status::Waiting).await;
    engine.suspend(&id).await.unwrap();
    engine.resume(&id).await.unwrap();
    engine.cancel(&id).await.unwrap();
    ended(&engine, &id).await;
    let mut events = Vec::new();
    for _ in 0..100 {
        events = produced.0.lock().unwrap().clone();
        if events.len() >= 15 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    events.sort_by(|a, b| a.id.cmp(&b.id));
    let name = format!("{id}.test");
    let seen: Vec<String> = events
        .iter()
        .map(|event| {
            let kind = event.event_type.as_str();
            let data = event.data.as_ref().unwrap();
            assert!(data["updatedAt"].as_str().unwrap().ends_with('Z'), "{data}");
            match kind {
                "io.serverlessworkflow.workflow.status-changed.v1" => {
                    assert_eq!(data["name"], name.as_str());
                    format!("workflow {}", data["status"].as_str().unwrap())
                }
                "io.serverlessworkflow.task.status-changed.v1" => {
                    assert_eq!(data["workflow"], name.as_str());
                    format!(
                        "{} {}",
                        data["task"].as_str().unwrap(),
                        data["status"].as_str().unwrap()
                    )
                }
                other => panic!("only status changes were asked for, not {other}"),
            }
        })
        .collect();
    assert_eq!(
        seen,
        [
            "workflow running",
            "/do/0/first pending",
            "/do/0/first running",
            "/do/0/first completed",
            "/do/1/nap pending",
            "/do/1/nap running",
            "/do/1/nap waiting",
            "workflow waiting",
            "workflow suspended",
            "/do/1/nap suspended",
            "workflow running",
            "/do/1/nap waiting",
            "workflow waiting",
            "/do/1/nap cancelled",
            "workflow cancelled",
        ]
    );
}
