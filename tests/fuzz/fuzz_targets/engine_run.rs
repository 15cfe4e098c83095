//! Fuzz target: the engine alone, on its in-memory ports, driven by
//! arbitrary inputs against valid definitions of every dialect.
//!
//! The first byte picks a definition (the v0.1 spec examples, the draft
//! examples and 1.0 documents covering each task kind); the rest is a
//! sequence of operations, two bytes each: start an instance (with an input
//! made of the second byte), deliver one of the definition's events (its
//! correlation value from the second byte), cancel, suspend or resume an
//! instance. Every function exists and answers from a hash of its input:
//! a result, or one of a few failures. Once the runs settle, every record
//! must satisfy `InstanceRecord::invariant_violations` (a finished instance
//! has no pending work, everything pending belongs to a live thread, a
//! waiting instance waits for something). A panic on any thread aborts.

#![no_main]

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use swirl_engine::record::Status;
use swirl_engine::{Engine, EngineConfig, IncomingEvent, PoolConfig};
use swirl_ports::invoke::{Call, Failure, Invocation, InvokeError, Invoker, RequestError};
use swirl_ports::memory::MemoryStore;
use swirl_workflow::KnownFunctions;

/// Each with the file name it loads as (a draft definition may need one).
const DEFINITIONS: &[(&str, &str)] = &[
    (
        "applicant-request-decision.json",
        include_str!("../../fixtures/workflows/spec-examples/applicant-request-decision.json"),
    ),
    (
        "event-based-greeting.json",
        include_str!("../../fixtures/workflows/spec-examples/event-based-greeting.json"),
    ),
    (
        "finalize-college-application.json",
        include_str!("../../fixtures/workflows/spec-examples/finalize-college-application.json"),
    ),
    (
        "greeting.json",
        include_str!("../../fixtures/workflows/spec-examples/greeting.json"),
    ),
    (
        "handle-car-auction-bids.json",
        include_str!("../../fixtures/workflows/spec-examples/handle-car-auction-bids.json"),
    ),
    (
        "hello-world.json",
        include_str!("../../fixtures/workflows/spec-examples/hello-world.json"),
    ),
    (
        "monitor-job.json",
        include_str!("../../fixtures/workflows/spec-examples-jsonpath/monitor-job.json"),
    ),
    (
        "monitor-patient-vital-signs.json",
        include_str!("../../fixtures/workflows/spec-examples/monitor-patient-vital-signs.json"),
    ),
    (
        "parallel-execution.json",
        include_str!("../../fixtures/workflows/spec-examples/parallel-execution.json"),
    ),
    (
        "perform-customer-credit-check.json",
        include_str!("../../fixtures/workflows/spec-examples/perform-customer-credit-check.json"),
    ),
    (
        "provision-orders.json",
        include_str!("../../fixtures/workflows/spec-examples-jsonpath/provision-orders.json"),
    ),
    (
        "send-cloudevent-on-workfow-completion.json",
        include_str!(
            "../../fixtures/workflows/spec-examples/send-cloudevent-on-workfow-completion.json"
        ),
    ),
    (
        "solving-math-problems.json",
        include_str!("../../fixtures/workflows/spec-examples/solving-math-problems.json"),
    ),
    (
        "all-states.yaml",
        include_str!("../../fixtures/workflows/draft-examples/all-states.yaml"),
    ),
    (
        "event-state.json",
        include_str!("../../fixtures/workflows/draft-examples/event-state.json"),
    ),
    ("steps.yaml", include_str!("engine_run/steps.yaml")),
    ("mixed.yaml", include_str!("engine_run/mixed.yaml")),
];

/// Answers every function from a hash of its name and input.
struct HashedFunctions;

impl Invoker for HashedFunctions {
    fn invoke(
        &self,
        function: &str,
        _version: Option<&str>,
        call: Call,
    ) -> Result<Invocation, InvokeError> {
        let mut hasher = DefaultHasher::new();
        (function, &call.input).hash(&mut hasher);
        let outcome = match hasher.finish() % 6 {
            0 => Err(Failure::new("Odd", "the input hashed odd")),
            1 => Err(Failure::new("SYS.Timeout", "the call took too long")),
            2 => Ok(b"[1, 2]".to_vec()),
            _ => Ok(serde_json::to_vec(&json!({ "ok": true, "n": call.input.len() })).unwrap()),
        };
        Ok(Invocation::immediate(
            format!("{function}-{}", call.attempt),
            "1",
            outcome,
        ))
    }

    fn current_versions(
        &self,
        functions: &mut dyn Iterator<Item = &str>,
    ) -> BTreeMap<String, String> {
        functions
            .map(|name| (name.to_string(), "1".to_string()))
            .collect()
    }

    fn request(
        &self,
        _workflow: &str,
        _protocol: &str,
        arguments: &Value,
    ) -> Result<Value, RequestError> {
        Ok(arguments.clone())
    }
}

fn input(byte: u8) -> Value {
    json!({
        "n": byte,
        "name": format!("n{byte}"),
        "items": (0..byte % 4).collect::<Vec<u8>>(),
        "flag": byte % 2 == 0,
    })
}

async fn drive((file_name, text): (&str, &str), ops: &[u8]) {
    // One run thread: an engine per input, and threads are slow to start
    // under the sanitizer.
    let config = EngineConfig {
        pool: PoolConfig {
            threads: 1,
            ..PoolConfig::default()
        },
        ..EngineConfig::default()
    };
    let store = MemoryStore::new();
    let engine = Engine::with_config(Arc::new(store.clone()), Arc::new(HashedFunctions), config)
        .expect("an engine");
    let workflow = engine
        .register(text, Some(file_name), KnownFunctions::Unchecked)
        .unwrap_or_else(|d| panic!("a definition of the target does not load: {d}"));
    let id = workflow.id().to_string();
    let events: Vec<_> = workflow.definition.events.clone();
    let mut instances: Vec<String> = Vec::new();
    for (n, op) in ops.chunks_exact(2).enumerate() {
        let (kind, arg) = (op[0] % 5, op[1]);
        let pick = |list: &[String]| list.get(arg as usize % list.len().max(1)).cloned();
        match kind {
            0 => {
                if let Ok(record) = engine.start(&id, input(arg), None).await {
                    instances.push(record.id);
                }
            }
            1 if !events.is_empty() => {
                let definition = &events[arg as usize % events.len()];
                let mut extensions = BTreeMap::new();
                if let Some(attribute) = definition.correlation_attribute() {
                    extensions.insert(attribute, format!("c{}", arg % 3));
                }
                let _ = engine
                    .deliver(&IncomingEvent {
                        id: format!("e{n}"),
                        event_type: definition.event_type.clone(),
                        source: definition.source.clone(),
                        data: input(arg),
                        extensions,
                        attributes: Default::default(),
                    })
                    .await;
            }
            2 => {
                if let Some(id) = pick(&instances) {
                    let _ = engine.cancel(&id).await;
                }
            }
            3 => {
                if let Some(id) = pick(&instances) {
                    let _ = engine.suspend(&id).await;
                }
            }
            _ => {
                if let Some(id) = pick(&instances) {
                    let _ = engine.resume(&id).await;
                }
            }
        }
    }
    // Runs go on after their answer: wait until none is in progress.
    let by = Instant::now() + Duration::from_secs(2);
    let records = loop {
        let records = engine.list(None, None).expect("the memory store lists");
        if records.iter().all(|r| r.status != Status::Running) || Instant::now() > by {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    for record in records.iter().filter(|r| r.status != Status::Running) {
        let violations = record.invariant_violations();
        assert!(violations.is_empty(), "{violations:?} in {record:#?}");
    }
    // The index and the records are read one after the other while timers
    // still fire on the real clock (a waiting instance may run in between):
    // compare them only when the index did not move across the listing.
    let settled = store.subscription_index();
    let records = engine.list(None, None).expect("the memory store lists");
    if store.subscription_index() == settled && records.iter().all(|r| r.status != Status::Running)
    {
        let mut subscribed: Vec<_> = records.iter().flat_map(|r| r.subscription_keys()).collect();
        subscribed.sort();
        assert_eq!(
            settled, subscribed,
            "the event index is not the records' subscriptions"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, ops)) = data.split_first() else {
        return;
    };
    let definition = DEFINITIONS[first as usize % DEFINITIONS.len()];
    // At most 32 operations: longer inputs explore little more, slowly.
    let ops = &ops[..ops.len().min(64)];
    // A runtime per input: dropping it drops the timers the input's
    // instances wait for, and the engine they hold.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(drive(definition, ops));
});
