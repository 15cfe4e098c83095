//! The workflow engine through the library: every state type, data filters,
//! retries, error handling and timeouts, with real functions (the `probe`
//! test component) and real sled on disk.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swirl_engine::record::{HistoryKind, InstanceRecord, Status};
use swirl_engine::{Engine, EngineConfig, IncomingEvent};
use swirl_function::{FunctionHost, FunctionLimits, FunctionSpec, HostConfig};
use swirl_store::Store;
use swirl_tests::guest;
use swirl_workflow::KnownFunctions;

struct App {
    engine: Engine,
    store: Store,
    _dir: tempfile::TempDir,
}

impl App {
    /// An engine with the probe component deployed as function `probe`,
    /// and `workflows` (JSON or YAML texts) registered.
    fn new(workflows: &[&str]) -> App {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let host = FunctionHost::new(
            HostConfig::new(swirl_tests::shared_code_cache()),
            Arc::new(store.clone()),
        )
        .unwrap();
        let source = guest("probe");
        host.deploy(FunctionSpec {
            name: "probe".into(),
            wasm: std::fs::read(&source).unwrap().into(),
            source_stamp: None,
            content_hash: None,
            source,
            limits: FunctionLimits {
                timeout: Duration::from_secs(2),
                ..FunctionLimits::default()
            },
            config: BTreeMap::new(),
        })
        .unwrap();
        let engine = swirl_app::app::engine(
            &store,
            &Arc::new(host),
            &Arc::default(),
            EngineConfig::default(),
        )
        .unwrap();
        for text in workflows {
            engine
                .register(text, None, KnownFunctions::Unchecked)
                .unwrap_or_else(|d| panic!("{d}\n{text}"));
        }
        App {
            engine,
            store,
            _dir: dir,
        }
    }

    async fn run(&self, workflow: &str, input: Value) -> InstanceRecord {
        let started = self.engine.start(workflow, input, None).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), self.engine.wait(&started.id))
            .await
            .expect("the instance ends in time")
            .unwrap()
    }

    async fn output(&self, workflow: &str, input: Value) -> Value {
        let record = self.run(workflow, input).await;
        assert_eq!(record.status, Status::Completed, "{:?}", record.error);
        record.output.unwrap()
    }

    async fn error(&self, workflow: &str, input: Value) -> (String, String) {
        let record = self.run(workflow, input).await;
        assert_eq!(record.status, Status::Failed, "{:?}", record.output);
        let error = record.error.unwrap();
        (error.name, error.message)
    }
}

/// A workflow with function `probe` and the given states (JSON text).
/// A child that naps for a minute, a parent that waits for one, and a
/// parent whose other branch terminates while its child naps.
fn napping_family() -> App {
    let child = workflow(
        "napper",
        json!([{ "name": "Nap", "type": "DELAY", "start": start(), "timeDelay": "PT60S", "end": end() }]),
    );
    let parent = workflow(
        "waiter",
        json!([{ "name": "Call", "type": "SUBFLOW", "start": start(), "workflowId": "napper",
                 "waitForCompletion": true, "end": end() }]),
    );
    let terminator = workflow(
        "terminator",
        json!([{
            "name": "Fork", "type": "PARALLEL", "start": start(),
            "branches": [
                { "name": "Child", "waitForCompletion": true, "states": [
                    { "name": "Call", "type": "SUBFLOW", "start": start(), "workflowId": "napper",
                      "waitForCompletion": true, "end": end() }] },
                { "name": "Stop", "waitForCompletion": true, "states": [
                    { "name": "Pause", "type": "DELAY", "start": start(), "timeDelay": "PT0.5S",
                      "end": { "kind": "TERMINATE" } }] }
            ],
            "end": end()
        }]),
    );
    App::new(&[&child, &parent, &terminator])
}

/// The child instances of `parent`, once it has started them.
async fn children_of(app: &App, parent: &str) -> Vec<InstanceRecord> {
    for _ in 0..500 {
        let children: Vec<InstanceRecord> = app
            .engine
            .list(Some("napper"), None)
            .unwrap()
            .into_iter()
            .filter(|c| c.parent.as_ref().is_some_and(|p| p.instance_id == parent))
            .collect();
        if !children.is_empty() {
            return children;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{parent} started no child");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_parent_cancels_the_child_it_waits_for() {
    let app = napping_family();
    let parent = app.engine.start("waiter", json!({}), None).await.unwrap();
    let child = children_of(&app, &parent.id).await.remove(0);
    wait_for_status(&app, &child.id, Status::Waiting).await;
    app.engine.cancel(&parent.id).await.unwrap();
    wait_for_status(&app, &child.id, Status::Cancelled).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn terminating_a_parent_cancels_its_running_children() {
    let app = napping_family();
    let record = app.run("terminator", json!({})).await;
    assert_eq!(record.status, Status::Completed);
    let child = children_of(&app, &record.id).await.remove(0);
    wait_for_status(&app, &child.id, Status::Cancelled).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_action_that_finishes_after_cancel_changes_nothing() {
    let app = App::new(&[&workflow(
        "slow",
        json!([{ "name": "Sleep", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
                 "actions": [{ "functionRef": { "refName": "probe", "parameters": { "action": "sleep", "millis": 300 } } }],
                 "end": end() }]),
    )]);
    let started = app.engine.start("slow", json!({}), None).await.unwrap();
    let cancelled = app.engine.cancel(&started.id).await.unwrap();
    assert_eq!(cancelled.status, Status::Cancelled);
    // The action ran on and ended meanwhile; its result is dropped.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.engine.get(&started.id).unwrap(), cancelled);
    let kinds: Vec<HistoryKind> = app
        .engine
        .history(&started.id)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        !kinds
            .iter()
            .any(|k| matches!(k, HistoryKind::ActionFinished { .. })),
        "{kinds:?}"
    );
}

/// A control request that is refused still interrupts the run it waited
/// for: the run must go on after it, not stay stranded.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_control_request_during_a_call_leaves_the_run_going() {
    let app = App::new(&[&workflow(
        "slow2",
        json!([{ "name": "Sleep", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
                 "actions": [{ "functionRef": { "refName": "probe", "parameters": { "action": "sleep", "millis": 300 } } },
                             add(json!(1), json!(2))],
                 "end": end() }]),
    )]);
    let started = app.engine.start("slow2", json!({}), None).await.unwrap();
    let error = app
        .engine
        .resume(&started.id)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("resume needs a suspended instance"),
        "{error}"
    );
    let done = tokio::time::timeout(Duration::from_secs(10), app.engine.wait(&started.id))
        .await
        .expect("the run went on after the refused request")
        .unwrap();
    assert_eq!(done.status, Status::Completed, "{:?}", done.error);
    assert_eq!(done.output.unwrap()["sum"], json!(3.0));
}

fn workflow(id: &str, states: Value) -> String {
    json!({
        "id": id,
        "version": "1.0",
        "name": id,
        "functions": [{ "name": "probe", "resource": "probe" }],
        "events": [
            { "name": "Paid", "source": "shop", "type": "order.paid", "correlationToken": "orderid" },
            { "name": "Shipped", "source": "shop", "type": "order.shipped", "correlationToken": "orderid" },
            { "name": "Done", "source": "worker", "type": "job.done" }
        ],
        "states": states
    })
    .to_string()
}

fn add(a: Value, b: Value) -> Value {
    json!({ "functionRef": { "refName": "probe", "parameters": { "action": "add", "a": a, "b": b } } })
}

const START: &str = r#"{"kind": "DEFAULT"}"#;
fn start() -> Value {
    serde_json::from_str(START).unwrap()
}
fn end() -> Value {
    json!({ "kind": "DEFAULT" })
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_actions_see_each_others_results() {
    let app = App::new(&[&workflow(
        "seq",
        json!([{
            "name": "Sum", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
            "actions": [add(json!("$.x"), json!(2)), add(json!("$.sum"), json!(10))],
            "end": end()
        }]),
    )]);
    assert_eq!(
        app.output("seq", json!({"x": 1})).await,
        json!({"x": 1, "sum": 13.0})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_actions_merge_in_declaration_order() {
    let app = App::new(&[&workflow(
        "par",
        json!([{
            "name": "Both", "type": "OPERATION", "start": start(), "actionMode": "PARALLEL",
            "actions": [
                { "functionRef": { "refName": "probe", "parameters": { "action": "sleep", "millis": 150 } },
                  "actionDataFilter": { "dataResultsPath": "$" } },
                add(json!(1), json!(1))
            ],
            "end": end()
        }]),
    )]);
    let started = Instant::now();
    // Both results merge, in declaration order, whatever order they finished in.
    assert_eq!(
        app.output("par", json!({})).await,
        json!({"slept": 150, "sum": 2.0})
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_select_input_parameters_results_and_output() {
    let app = App::new(&[&workflow(
        "filters",
        json!([{
            "name": "Filter", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
            "stateDataFilter": { "dataInputPath": "$.order", "dataOutputPath": "$.sum" },
            "actions": [{
                "functionRef": { "refName": "probe", "parameters": { "action": "add", "a": "$.price", "b": "$.tax" } },
                "actionDataFilter": { "dataInputPath": "$.amounts", "dataResultsPath": "$.sum" }
            }, {
                "functionRef": { "refName": "probe", "parameters": { "action": "add", "a": "$.sum", "b": 0 } },
                "actionDataFilter": { "dataResultsPath": "$.sum" }
            }],
            "transition": { "nextState": "Rename" }
        }, {
            "name": "Rename", "type": "RELAY", "inject": { "currency": "EUR" }, "end": end()
        }]),
    )]);
    let input = json!({"order": {"amounts": {"price": 10, "tax": 2}}, "other": true});
    // dataOutputPath selects the number, which becomes the next state's data;
    // the relay's inject then replaces a non-object with its object.
    assert_eq!(
        app.output("filters", input).await,
        json!({"currency": "EUR"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_that_selects_nothing_fails_with_filter_error_naming_the_path() {
    let app = App::new(&[&workflow(
        "nofilter",
        json!([{
            "name": "Pick", "type": "RELAY", "start": start(),
            "stateDataFilter": { "dataInputPath": "$.missing" }, "end": end()
        }]),
    )]);
    let (name, message) = app.error("nofilter", json!({"x": 1})).await;
    assert_eq!(name, "SYS.FilterError");
    assert_eq!(
        message,
        "stateDataFilter.dataInputPath '$.missing' selects nothing from the data"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_world_relays_inject_key_by_key() {
    let text = std::fs::read_to_string(
        swirl_tests::workspace_root()
            .join("tests/fixtures/workflows/spec-examples/hello-world.json"),
    )
    .unwrap();
    let app = App::new(&[&text]);
    assert_eq!(app.output("helloworld", json!({})).await, json!(" World!"));
}

fn switch_workflow(operator: &str, value: &str) -> String {
    workflow(
        &format!("switch-{operator}"),
        json!([{
            "name": "Decide", "type": "SWITCH", "start": start(),
            "choices": [{ "path": "$.age", "value": value, "operator": operator, "transition": { "nextState": "Yes" } }],
            "default": { "nextState": "No" }
        },
        { "name": "Yes", "type": "RELAY", "inject": { "decision": "yes" }, "end": end() },
        { "name": "No", "type": "RELAY", "inject": { "decision": "no" }, "end": end() }]),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_switch_operator_decides_as_named() {
    let cases = [
        ("Exists", "", "yes"),
        ("Equals", "18", "yes"),
        ("LessThan", "20", "yes"),
        ("LessThanEquals", "18", "yes"),
        ("GreaterThan", "18", "no"),
        ("GreaterThanEquals", "19", "no"),
        ("EQ", "18", "yes"),
        ("LT", "9", "no"),
        ("LTEQ", "18", "yes"),
        ("GT", "9", "yes"),
        ("GTEQ", "18", "yes"),
        // String comparison: "18" < "9".
        ("StrLT", "9", "yes"),
        ("StrEQ", "18", "yes"),
        ("StrLTEQ", "17", "no"),
        ("StrGT", "100", "yes"),
        ("StrGTEQ", "18", "yes"),
    ];
    let texts: Vec<String> = cases
        .iter()
        .map(|(op, value, _)| switch_workflow(op, value))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let app = App::new(&refs);
    for (operator, value, expected) in cases {
        let output = app
            .output(&format!("switch-{operator}"), json!({"age": 18}))
            .await;
        assert_eq!(output["decision"], expected, "{operator} {value}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn and_or_not_choices_and_the_default() {
    let app = App::new(&[&workflow(
        "choices",
        json!([{
            "name": "Decide", "type": "SWITCH", "start": start(),
            "choices": [
                { "and": [{ "path": "$.age", "value": "18", "operator": "GreaterThanEquals" },
                          { "path": "$.country", "value": "NL", "operator": "Equals" }],
                  "transition": { "nextState": "Adult" } },
                { "not": { "path": "$.age", "value": "13", "operator": "LessThan" },
                  "transition": { "nextState": "Teen" } },
                { "or": [{ "path": "$.age", "value": "5", "operator": "LessThan" },
                         { "path": "$.guardian", "value": "", "operator": "Exists" }],
                  "transition": { "nextState": "Kid" } }
            ],
            "default": { "nextState": "Other" }
        },
        { "name": "Adult", "type": "RELAY", "inject": { "is": "adult" }, "end": end() },
        { "name": "Teen", "type": "RELAY", "inject": { "is": "teen" }, "end": end() },
        { "name": "Kid", "type": "RELAY", "inject": { "is": "kid" }, "end": end() },
        { "name": "Other", "type": "RELAY", "inject": { "is": "other" }, "end": end() }]),
    )]);
    for (input, expected) in [
        (json!({"age": 30, "country": "NL"}), "adult"),
        (json!({"age": 30, "country": "BE"}), "teen"),
        (json!({"age": 3}), "kid"),
        (json!({"age": 9, "guardian": "mum"}), "kid"),
        (json!({"age": 9}), "other"),
    ] {
        assert_eq!(
            app.output("choices", input.clone()).await["is"],
            expected,
            "{input}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delay_waits_on_a_durable_timer() {
    let app = App::new(&[&workflow(
        "delay",
        json!([{ "name": "Wait", "type": "DELAY", "start": start(), "timeDelay": "PT0.3S", "end": end() }]),
    )]);
    let started = Instant::now();
    let record = app.run("delay", json!({"a": 1})).await;
    assert_eq!(record.output, Some(json!({"a": 1})));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let history = app.engine.history(&record.id).unwrap();
    assert!(
        history
            .iter()
            .any(|h| matches!(h.kind, HistoryKind::TimerFired { .. }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_branches_run_on_copies_and_output_in_declaration_order() {
    let branch = |name: &str, millis: u64, tag: &str| {
        json!({ "name": name, "waitForCompletion": true, "states": [{
            "name": format!("{name}Work"), "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
            "actions": [{ "functionRef": { "refName": "probe", "parameters": { "action": "sleep", "millis": millis } },
                          "actionDataFilter": { "dataResultsPath": "$" } }],
            "transition": { "nextState": format!("{name}Tag") }
        }, {
            "name": format!("{name}Tag"), "type": "RELAY", "inject": { "branch": tag }, "end": end()
        }]})
    };
    let app = App::new(&[&workflow(
        "branches",
        json!([{
            "name": "Fork", "type": "PARALLEL", "start": start(),
            "branches": [branch("Slow", 300, "slow"), branch("Fast", 10, "fast")],
            "end": end()
        }]),
    )]);
    let started = Instant::now();
    let output = app.output("branches", json!({})).await;
    assert_eq!(
        output,
        json!([{"slept": 300, "branch": "slow"}, {"slept": 10, "branch": "fast"}])
    );
    // Both ran at once: far less than the sum if they had run one after the other.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn terminate_inside_a_branch_ends_the_whole_instance() {
    let app = App::new(&[&workflow(
        "terminate",
        json!([{
            "name": "Fork", "type": "PARALLEL", "start": start(),
            "branches": [
                { "name": "Stop", "waitForCompletion": true, "states": [
                    { "name": "Halt", "type": "RELAY", "start": start(), "inject": { "halted": true }, "end": { "kind": "TERMINATE" } }] },
                { "name": "Long", "waitForCompletion": true, "states": [
                    { "name": "Nap", "type": "DELAY", "start": start(), "timeDelay": "PT30S", "end": end() }] }
            ],
            "end": end()
        }]),
    )]);
    let started = Instant::now();
    let record = app.run("terminate", json!({"x": 1})).await;
    assert_eq!(record.status, Status::Completed);
    assert_eq!(record.output, Some(json!({"x": 1, "halted": true})));
    assert!(record.timers.is_empty() && record.threads.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn foreach_runs_at_most_max_at_once_and_collects_in_input_order() {
    let app = App::new(&[&workflow(
        "foreach",
        json!([{
            "name": "Each", "type": "FOREACH", "start": start(),
            "inputCollection": "$.numbers", "inputParameter": "$.n", "outputCollection": "$.results", "max": 2,
            "states": [{
                "name": "Double", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
                "actions": [
                    { "functionRef": { "refName": "probe", "parameters": { "action": "sleep", "millis": 100 } },
                      "actionDataFilter": { "dataResultsPath": "$.slept" } },
                    add(json!("$.n"), json!("$.n"))
                ],
                "stateDataFilter": { "dataOutputPath": "$.sum" },
                "end": end()
            }],
            "stateDataFilter": { "dataOutputPath": "$.results" },
            "end": end()
        }]),
    )]);
    let started = Instant::now();
    let output = app
        .output("foreach", json!({"numbers": [1, 2, 3, 4]}))
        .await;
    assert_eq!(output, json!([2.0, 4.0, 6.0, 8.0]));
    // Four 100 ms iterations two at a time take at least two rounds.
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn foreach_starts_its_iterations_time_delay_apart() {
    let app = App::new(&[&workflow(
        "spaced",
        json!([{
            "name": "Each", "type": "FOREACH", "start": start(),
            "inputCollection": "$.numbers", "inputParameter": "$.n", "outputCollection": "$.results",
            "timeDelay": "PT0.3S",
            "states": [{
                "name": "Double", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
                "actions": [add(json!("$.n"), json!("$.n"))],
                "stateDataFilter": { "dataOutputPath": "$.sum" },
                "end": end()
            }],
            "stateDataFilter": { "dataOutputPath": "$.results" },
            "end": end()
        }]),
    )]);
    let started = Instant::now();
    let record = app.run("spaced", json!({"numbers": [1, 2, 3]})).await;
    assert_eq!(record.output, Some(json!([2.0, 4.0, 6.0])));
    // Three iterations, each starting 300 ms after the one before.
    assert!(started.elapsed() >= Duration::from_millis(600));
    let starts: Vec<u64> = app
        .engine
        .history(&record.id)
        .unwrap()
        .iter()
        .filter(|e| matches!(&e.kind, HistoryKind::StateEntered { state } if state == "Double"))
        .map(|e| e.at_ms)
        .collect();
    assert_eq!(starts.len(), 3);
    assert!(starts.windows(2).all(|w| w[1] - w[0] >= 300), "{starts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreach_over_a_million_elements_fails_naming_the_limit() {
    let app = App::new(&[&workflow(
        "million",
        json!([{
            "name": "Each", "type": "FOREACH", "start": start(),
            "inputCollection": "$.numbers", "inputParameter": "$.n", "outputCollection": "$.results",
            "states": [{
                "name": "Double", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
                "actions": [add(json!("$.n"), json!("$.n"))], "end": end()
            }],
            "end": end()
        }]),
    )]);
    let numbers: Vec<u32> = (0..1_000_000).collect();
    let (name, message) = app.error("million", json!({ "numbers": numbers })).await;
    assert_eq!(
        (name.as_str(), message.as_str()),
        (
            "SYS.Fail",
            "inputCollection '$.numbers' has 1000000 elements, more than the limit of 10000"
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subflow_runs_a_child_instance_and_takes_its_output() {
    let child = workflow(
        "child",
        json!([{ "name": "Compute", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
                 "actions": [add(json!("$.x"), json!(100))], "end": end() }]),
    );
    let parent = workflow(
        "parent",
        json!([{ "name": "Call", "type": "SUBFLOW", "start": start(), "workflowId": "child",
                 "waitForCompletion": true, "transition": { "nextState": "Mark" } },
               { "name": "Mark", "type": "RELAY", "inject": { "parent": true }, "end": end() }]),
    );
    let app = App::new(&[&child, &parent]);
    let record = app.run("parent", json!({"x": 1})).await;
    assert_eq!(
        record.output,
        Some(json!({"x": 1, "sum": 101.0, "parent": true}))
    );
    let children = app.engine.list(Some("child"), None).unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].parent.as_ref().unwrap().instance_id, record.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn cyclic_subflows_stop_at_the_depth_limit() {
    let a = workflow(
        "a",
        json!([{ "name": "ToB", "type": "SUBFLOW", "start": start(), "workflowId": "b", "waitForCompletion": true, "end": end() }]),
    );
    let b = workflow(
        "b",
        json!([{ "name": "ToA", "type": "SUBFLOW", "start": start(), "workflowId": "a", "waitForCompletion": true, "end": end() }]),
    );
    let app = App::new(&[&a, &b]);
    let (name, message) = app.error("a", json!({})).await;
    assert_eq!(name, "SYS.Fail");
    assert!(
        message.contains("more than the limit of 16; check for cycles"),
        "{message}"
    );
}

fn retrying(failures: u32, max_attempts: u32) -> String {
    workflow(
        &format!("retry-{failures}-{max_attempts}"),
        json!([{
            "name": "Try", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
            "actions": [{ "functionRef": { "refName": "probe", "parameters": {
                "action": "flaky", "key": format!("k-{failures}-{max_attempts}"), "failures": failures, "code": "Flaky" } } }],
            "retry": [{ "expression": { "language": "jsonpath", "body": "@.error.name == 'Flaky'" },
                        "interval": "PT0.1S", "multiplier": "PT0.1S", "maxAttempts": max_attempts }],
            "end": end()
        }]),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_wait_their_interval_plus_multiplier_and_count_attempts() {
    let app = App::new(&[&retrying(2, 3), &retrying(3, 2)]);
    let started = Instant::now();
    let record = app.run("retry-2-3", json!({})).await;
    assert_eq!(record.status, Status::Completed, "{:?}", record.error);
    assert_eq!(record.output.as_ref().unwrap()["calls"], 3);
    // Waits of 100 ms then 200 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    let attempts: Vec<u32> = app
        .engine
        .history(&record.id)
        .unwrap()
        .iter()
        .filter_map(|h| match &h.kind {
            HistoryKind::ActionStarted { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3]);

    let (name, message) = app.error("retry-3-2", json!({})).await;
    assert_eq!(
        (name.as_str(), message.as_str()),
        ("Flaky", "call 3 of 'k-3-2' fails")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_error_routes_by_expression_and_filters_the_error() {
    let app = App::new(&[&workflow(
        "onerror",
        json!([{
            "name": "Provision", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
            "actions": [{ "functionRef": { "refName": "probe", "parameters": {
                "action": "fail", "code": "$.code", "message": "order is incomplete" } } }],
            "onError": [
                { "expression": { "language": "jsonpath", "body": "@.error.name == 'MissingId'" },
                  "errorDataFilter": { "dataOutputPath": "$.message" },
                  "transition": { "nextState": "HandleId" } },
                { "expression": { "language": "jsonpath", "body": "@.error.name == 'MissingItem'" },
                  "transition": { "nextState": "HandleItem" } },
                { "expression": { "language": "jsonpath", "body": "@.error.details.calls > 0" },
                  "errorDataFilter": { "dataOutputPath": "$.details" },
                  "transition": { "nextState": "HandleDetails" } }
            ],
            "end": end()
        },
        { "name": "HandleId", "type": "RELAY", "inject": { "handled": "id" }, "end": end() },
        { "name": "HandleItem", "type": "RELAY", "inject": { "handled": "item" }, "end": end() },
        { "name": "HandleDetails", "type": "RELAY", "inject": { "handled": "details" }, "end": end() }]),
    )]);
    // An error data filter that selects a string merges nothing an object can hold: the string replaces the data.
    assert_eq!(
        app.output("onerror", json!({"code": "MissingId"})).await,
        json!({"handled": "id"})
    );
    // The probe attaches `{"calls": n}` to its failures (`Failure::with_details`).
    let mut item = app.output("onerror", json!({"code": "MissingItem"})).await;
    let calls = item["error"]["details"]["calls"].take();
    assert!(calls.as_u64().is_some_and(|n| n > 0), "{item}");
    assert_eq!(
        item,
        json!({"code": "MissingItem", "error": {"name": "MissingItem", "message": "order is incomplete", "details": {"calls": null}}, "handled": "item"})
    );
    let mut detailed = app.output("onerror", json!({"code": "Other"})).await;
    assert!(detailed["calls"].take().as_u64().is_some(), "{detailed}");
    assert_eq!(
        detailed,
        json!({"code": "Other", "calls": null, "handled": "details"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhandled_failure_keeps_the_functions_details() {
    let app = App::new(&[&workflow(
        "unhandled",
        json!([{
            "name": "Provision", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
            "actions": [{ "functionRef": { "refName": "probe", "parameters": {
                "action": "fail", "code": "Other", "message": "no" } } }],
            "end": end()
        }]),
    )]);
    let record = app.run("unhandled", json!({})).await;
    let error = record.error.unwrap();
    assert_eq!(
        (error.name.as_str(), error.state.as_deref()),
        ("Other", Some("Provision"))
    );
    assert!(
        error.details.as_ref().is_some_and(|d| d["calls"].is_u64()),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_false_transition_guard_fails_naming_the_state_and_expression() {
    let app = App::new(&[&workflow(
        "guard",
        json!([{ "name": "Check", "type": "RELAY", "start": start(),
                 "transition": { "nextState": "Next", "expression": { "language": "jsonpath", "body": "@.approved == true" } } },
               { "name": "Next", "type": "RELAY", "end": end() }]),
    )]);
    assert_eq!(
        app.output("guard", json!({"approved": true})).await,
        json!({"approved": true})
    );
    let (name, message) = app.error("guard", json!({"approved": false})).await;
    assert_eq!(name, "SYS.Fail");
    assert_eq!(
        message,
        "state 'Check' may not transition to 'Next': its condition '@.approved == true' is false for the state's output"
    );
}

fn event(event_type: &str, data: Value, orderid: Option<&str>) -> IncomingEvent {
    IncomingEvent {
        id: swirl_core::ids::new_id(),
        event_type: event_type.into(),
        source: "shop".into(),
        data,
        extensions: orderid
            .map(|id| BTreeMap::from([("orderid".to_string(), id.to_string())]))
            .unwrap_or_default(),
        attributes: BTreeMap::new(),
    }
}

async fn wait_for_status(app: &App, id: &str, status: Status) {
    // Generous: a loaded two-core CI machine can take seconds to run an action.
    for _ in 0..2000 {
        if app.engine.get(id).unwrap().status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{id} never became {status:?}: {:?}",
        app.engine.get(id).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_start_state_creates_instances_and_correlates_later_events() {
    let app = App::new(&[&workflow(
        "orders",
        json!([{
            "name": "OnPaid", "type": "EVENT", "start": start(), "exclusive": true,
            "eventsActions": [{ "eventRefs": ["Paid"], "actions": [] }],
            "transition": { "nextState": "OnShipped" }
        }, {
            "name": "OnShipped", "type": "EVENT", "exclusive": true,
            "eventsActions": [{ "eventRefs": ["Shipped"], "actions": [] }],
            "end": end()
        }]),
    )]);
    let o1 = app
        .engine
        .deliver(&event("order.paid", json!({"paid": "o1"}), Some("o1")))
        .await
        .unwrap();
    let o2 = app
        .engine
        .deliver(&event("order.paid", json!({"paid": "o2"}), Some("o2")))
        .await
        .unwrap();
    assert_eq!((o1.started.len(), o2.started.len()), (1, 1));
    let (i1, i2) = (o1.started[0].clone(), o2.started[0].clone());
    wait_for_status(&app, &i1, Status::Waiting).await;

    let shipped = app
        .engine
        .deliver(&event(
            "order.shipped",
            json!({"shipped": true}),
            Some("o2"),
        ))
        .await
        .unwrap();
    assert_eq!(shipped.delivered, std::slice::from_ref(&i2));
    let done = app.engine.wait(&i2).await.unwrap();
    assert_eq!(done.output, Some(json!({"paid": "o2", "shipped": true})));
    assert_eq!(app.engine.get(&i1).unwrap().status, Status::Waiting);

    let nobody = app
        .engine
        .deliver(&event("order.shipped", json!({}), Some("o9")))
        .await
        .unwrap();
    assert!(nobody.delivered.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_exclusive_event_state_waits_for_all_its_events() {
    let app = App::new(&[&workflow(
        "both",
        json!([{
            "name": "Collect", "type": "EVENT", "start": start(), "exclusive": false,
            "eventsActions": [
                { "eventRefs": ["Paid"], "actions": [] },
                { "eventRefs": ["Shipped"], "actions": [add(json!(1), json!(2))] }
            ],
            "end": end()
        }]),
    )]);
    let started = app
        .engine
        .deliver(&event("order.paid", json!({"paid": true}), Some("o5")))
        .await
        .unwrap();
    let id = started.started[0].clone();
    wait_for_status(&app, &id, Status::Waiting).await;
    app.engine
        .deliver(&event(
            "order.shipped",
            json!({"shipped": true}),
            Some("o5"),
        ))
        .await
        .unwrap();
    let record = app.engine.wait(&id).await.unwrap();
    assert_eq!(
        record.output,
        Some(json!({"paid": true, "shipped": true, "sum": 3.0}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_state_timeout_moves_on_without_running_the_actions() {
    let app = App::new(&[&workflow(
        "timeout",
        json!([{ "name": "Begin", "type": "RELAY", "start": start(), "transition": { "nextState": "Await" } },
               { "name": "Await", "type": "EVENT", "exclusive": true, "timeout": "PT0.2S",
                 "eventsActions": [{ "eventRefs": ["Done"], "actions": [add(json!(1), json!(1))] }],
                 "end": end() }]),
    )]);
    let record = app.run("timeout", json!({"a": 1})).await;
    assert_eq!(record.output, Some(json!({"a": 1})));
}

fn callback(timeout: &str) -> String {
    workflow(
        &format!("callback-{timeout}"),
        json!([{
            "name": "Check", "type": "CALLBACK", "start": start(),
            "action": add(json!(2), json!(3)),
            "eventRef": "Done", "timeout": timeout,
            "eventDataFilter": { "dataOutputPath": "$.decision" },
            "end": end()
        }]),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_runs_its_action_then_waits_for_its_event_or_moves_on_after_its_timeout() {
    let app = App::new(&[&callback("PT10S"), &callback("PT0.2S")]);
    let started = app
        .engine
        .start("callback-PT10S", json!({}), None)
        .await
        .unwrap();
    wait_for_status(&app, &started.id, Status::Waiting).await;
    let done = IncomingEvent {
        id: "done-1".into(),
        event_type: "job.done".into(),
        source: "worker".into(),
        data: json!({"decision": {"approved": true}}),
        extensions: BTreeMap::new(),
        attributes: BTreeMap::new(),
    };
    assert_eq!(
        app.engine.deliver(&done).await.unwrap().delivered,
        std::slice::from_ref(&started.id)
    );
    let record = app.engine.wait(&started.id).await.unwrap();
    assert_eq!(record.output, Some(json!({"sum": 5.0, "approved": true})));

    // Without its event in time, the state moves on with the data it has.
    let timed_out = app.output("callback-PT0.2S", json!({})).await;
    assert_eq!(timed_out, json!({"sum": 5.0}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_start_with_the_same_id_returns_the_existing_instance() {
    let app = App::new(&[&workflow(
        "idem",
        json!([{ "name": "Wait", "type": "DELAY", "start": start(), "timeDelay": "PT0.1S", "end": end() }]),
    )]);
    let first = app
        .engine
        .start("idem", json!({"n": 1}), Some("order-7".into()))
        .await
        .unwrap();
    let second = app
        .engine
        .start("idem", json!({"n": 2}), Some("order-7".into()))
        .await
        .unwrap();
    assert_eq!(second.input, json!({"n": 1}));
    assert_eq!(first.id, second.id);
    assert_eq!(app.engine.list(Some("idem"), None).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn suspend_holds_work_until_resume_and_cancel_ends_the_instance() {
    let app = App::new(&[&workflow(
        "ctl",
        json!([{ "name": "Wait", "type": "DELAY", "start": start(), "timeDelay": "PT0.2S", "transition": { "nextState": "Sum" } },
               { "name": "Sum", "type": "OPERATION", "actionMode": "SEQUENTIAL", "actions": [add(json!(1), json!(1))], "end": end() }]),
    )]);
    let started = app.engine.start("ctl", json!({}), None).await.unwrap();
    app.engine.suspend(&started.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let suspended = app.engine.get(&started.id).unwrap();
    assert_eq!(suspended.status, Status::Suspended);
    assert!(
        suspended.tasks.is_empty(),
        "no action started while suspended"
    );
    let resumed = app.engine.resume(&started.id).await.unwrap();
    assert_ne!(resumed.status, Status::Suspended);
    let done = app.engine.wait(&started.id).await.unwrap();
    assert_eq!(done.output, Some(json!({"sum": 2.0})));

    let other = app.engine.start("ctl", json!({}), None).await.unwrap();
    let cancelled = app.engine.cancel(&other.id).await.unwrap();
    assert_eq!(cancelled.status, Status::Cancelled);
    let error = app.engine.cancel(&other.id).await.unwrap_err().to_string();
    assert!(
        error.contains("is cancelled; cancel needs an unfinished instance"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workflow_input_must_be_an_object() {
    let app = App::new(&[&workflow(
        "any",
        json!([{ "name": "R", "type": "RELAY", "start": start(), "end": end() }]),
    )]);
    let error = app
        .engine
        .start("any", json!([1]), None)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(error, "workflow input must be a JSON object, not an array");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_draft_dialect_runs_with_input_result_and_output_paths_and_match_any() {
    let draft = json!({
        "name": "draft-chain",
        "states": [
            { "name": "HelloWorld", "type": "OPERATION", "start": true, "action-mode": "Sequential",
              "actions": [{ "function": "probe", "retry": [
                  { "match": "SYS.MatchAny", "retry-interval": "1", "max-retry": "1" }] }],
              "next-state": "UpdateArg" },
            { "name": "UpdateArg", "type": "OPERATION", "start": false, "action-mode": "Sequential",
              "InputPath": "$.payload", "ResultPath": "$.ifttt.value1", "OutputPath": "$.ifttt",
              "actions": [], "next-state": "STATE-END" },
            { "name": "STATE-END", "type": "END", "status": "SUCCESS" }
        ]
    })
    .to_string();
    let app = App::new(&[&draft]);
    let record = app
        .run(
            "draft-chain",
            json!({"action": "echo", "value": 1, "payload": {"greeting": "hi"}}),
        )
        .await;
    assert_eq!(record.status, Status::Completed, "{:?}", record.error);
    let output = record.output.unwrap();
    assert_eq!(output["value1"]["greeting"], "hi", "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_action_that_completed_never_runs_again_and_its_kv_writes_commit_once() {
    let app = App::new(&[&workflow(
        "tally",
        json!([{ "name": "Count", "type": "OPERATION", "start": start(), "actionMode": "SEQUENTIAL",
                 "actions": [
                     { "functionRef": { "refName": "probe", "parameters": { "action": "tally", "key": "one" } } },
                     { "functionRef": { "refName": "probe", "parameters": { "action": "tally", "key": "two" } } }
                 ],
                 "end": end() }]),
    )]);
    let output = app.output("tally", json!({})).await;
    assert_eq!(output, json!({"one": 1, "two": 1}));
    use swirl_function::KvStore;
    assert_eq!(app.store.get("probe", "one").unwrap(), Some(b"1".to_vec()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivered_event_is_a_duplicate_and_changes_nothing() {
    let app = App::new(&[&workflow(
        "dedup",
        json!([{ "name": "OnPaid", "type": "EVENT", "start": start(), "exclusive": true,
                 "eventsActions": [{ "eventRefs": ["Paid"], "actions": [] }], "end": end() }]),
    )]);
    let paid = event("order.paid", json!({"n": 1}), Some("o1"));
    let first = app.engine.deliver(&paid).await.unwrap();
    assert_eq!(first.started.len(), 1);
    let again = app.engine.deliver(&paid).await.unwrap();
    assert!(again.duplicate && again.started.is_empty() && again.delivered.is_empty());
    assert_eq!(app.engine.list(Some("dedup"), None).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_arrives_before_its_instance_waits_is_kept_and_delivered() {
    let app = App::new(&[&workflow(
        "early",
        json!([{ "name": "Work", "type": "DELAY", "start": start(), "timeDelay": "PT0.2S", "transition": { "nextState": "Await" } },
               { "name": "Await", "type": "EVENT", "exclusive": true,
                 "eventsActions": [{ "eventRefs": ["Shipped"], "actions": [] }], "end": end() }]),
    )]);
    let started = app.engine.start("early", json!({}), None).await.unwrap();
    let early = app
        .engine
        .deliver(&event("order.shipped", json!({"shipped": 1}), Some("o1")))
        .await
        .unwrap();
    assert!(early.buffered, "{early:?}");
    let record = tokio::time::timeout(Duration::from_secs(10), app.engine.wait(&started.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.output, Some(json!({"shipped": 1})));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_buffered_event_goes_to_exactly_one_of_two_instances_that_start_waiting() {
    let app = App::new(&[&workflow(
        "early",
        json!([{ "name": "Work", "type": "DELAY", "start": start(), "timeDelay": "PT0.2S", "transition": { "nextState": "Await" } },
               { "name": "Await", "type": "EVENT", "exclusive": true,
                 "eventsActions": [{ "eventRefs": ["Shipped"], "actions": [] }], "end": end() }]),
    )]);
    let first = app.engine.start("early", json!({}), None).await.unwrap();
    let second = app.engine.start("early", json!({}), None).await.unwrap();
    let shipped = |n: u64| event("order.shipped", json!({ "shipped": n }), Some("o1"));
    assert!(app.engine.deliver(&shipped(1)).await.unwrap().buffered);
    // Both subscribe at about the same moment and race for the event; the
    // loser's step commits nothing and it keeps waiting.
    let either = async {
        tokio::select! {
            record = app.engine.wait(&first.id) => record,
            record = app.engine.wait(&second.id) => record,
        }
    };
    let winner = tokio::time::timeout(Duration::from_secs(10), either)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(winner.output, Some(json!({"shipped": 1})));
    let loser = if winner.id == first.id {
        &second.id
    } else {
        &first.id
    };
    wait_for_status(&app, loser, Status::Waiting).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.engine.get(loser).unwrap().status, Status::Waiting);
    let delivery = app.engine.deliver(&shipped(2)).await.unwrap();
    assert_eq!(delivery.delivered, std::slice::from_ref(loser));
    let record = app.engine.wait(loser).await.unwrap();
    assert_eq!(record.output, Some(json!({"shipped": 2})));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_start_starts_instances_at_each_repetition() {
    let app = App::new(&[&workflow(
        "ticker",
        json!([{ "name": "Tick", "type": "OPERATION", "start": { "kind": "SCHEDULED", "schedule": { "interval": "R/PT0.3S" } },
                 "actionMode": "SEQUENTIAL", "actions": [add(json!(1), json!(1))], "end": end() }]),
    )]);
    app.engine.recover().unwrap();
    app.engine.start_schedules();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let started = app.engine.list(Some("ticker"), None).unwrap();
    assert!(
        (2..=5).contains(&started.len()),
        "{} instances in one second",
        started.len()
    );
    assert!(started.iter().all(|r| r.id.starts_with("sched-ticker-")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_event_start_accepts_events_only_inside_its_window() {
    let windowed = |id: &str, interval: &str| {
        workflow(
            id,
            json!([{ "name": "OnPaid", "type": "EVENT", "start": { "kind": "SCHEDULED", "schedule": { "interval": interval } },
                     "exclusive": true, "eventsActions": [{ "eventRefs": ["Paid"], "actions": [] }], "end": end() }]),
        )
    };
    let app = App::new(&[
        &windowed("closed", "2020-03-20T09:00:00Z/2020-03-20T15:00:00Z"),
        &windowed("open", "2020-03-20T09:00:00Z/2999-01-01T00:00:00Z"),
        &windowed(
            "closed-offset",
            "2020-03-20T09:00:00+02:00/2020-03-20T15:00:00.5+02:00",
        ),
        &windowed(
            "open-mixed",
            "2020-03-20T09:00:00Z/2999-01-01T00:00:00+02:00",
        ),
        &windowed("closed-duration", "P1Y/2020-03-20T15:00:00+02:00"),
    ]);
    let delivery = app
        .engine
        .deliver(&event("order.paid", json!({}), Some("o1")))
        .await
        .unwrap();
    let mut started: Vec<String> = delivery
        .started
        .iter()
        .map(|id| app.engine.get(id).unwrap().workflow_id)
        .collect();
    started.sort();
    assert_eq!(started, ["open", "open-mixed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draft_action_timeout_bounds_the_call_below_the_manifest_timeout() {
    let draft = json!({
        "name": "draft-timeout",
        "states": [
            { "name": "Spin", "type": "OPERATION", "start": true, "action-mode": "Sequential",
              "actions": [{ "function": "probe", "timeout": "1" }], "next-state": "STATE-END" },
            { "name": "STATE-END", "type": "END", "status": "SUCCESS" }
        ]
    })
    .to_string();
    let app = App::new(&[&draft]);
    let (name, message) = app.error("draft-timeout", json!({"action": "spin"})).await;
    assert_eq!(name, "SYS.Timeout", "{message}");
    // The manifest allows 2 s; the action's own 1 s wins. The message names
    // the limit that fired, which a wall clock on a loaded machine cannot.
    assert!(message.contains("timed out after 1s"), "{message}");
}
