//! Crashes inside a run, at the points a random SIGKILL would almost never
//! hit (`SWIRL_FAILPOINT`): between two calls, after a run's commit before
//! its answer, and after an event's receipt before its calls. After a
//! restart, whatever was acknowledged is there, every kv write of a call
//! took effect once, and a retry of the request is safe.

use std::time::Duration;

use serde_json::{Value, json};

use super::util::{Server, app_with, try_request};

/// Two calls in one run, each counting itself in kv under a key of the
/// instance's input; `tallies` is started by an event carrying the keys.
fn workflows() -> Vec<(&'static str, Value)> {
    let nap = json!({ "functionRef": { "refName": "probe", "parameters": { "action": "sleep", "millis": 400 } } });
    let functions = json!([{ "name": "probe", "resource": "probe" }]);
    let events = json!([{ "name": "Go", "source": "tests", "type": "tally.go" }]);
    let tally = |key: &str| json!({ "functionRef": { "refName": "probe", "parameters": { "action": "tally", "key": key } } });
    let actions = json!([tally("$.first"), tally("$.second")]);
    vec![
        (
            "tally.json",
            json!({ "id": "tally", "version": "1.0", "name": "tally",
                "functions": functions, "events": events,
                "states": [{ "name": "Two", "type": "OPERATION", "start": { "kind": "DEFAULT" },
                             "actionMode": "SEQUENTIAL", "actions": actions, "end": { "kind": "DEFAULT" } }] }),
        ),
        (
            "nap.json",
            json!({ "id": "nap", "version": "1.0", "name": "nap",
                "functions": functions, "events": events,
                "states": [{ "name": "Nap", "type": "OPERATION", "start": { "kind": "DEFAULT" },
                             "actionMode": "SEQUENTIAL", "actions": [nap], "end": { "kind": "DEFAULT" } }] }),
        ),
        (
            "tallies.json",
            json!({ "id": "tallies", "version": "1.0", "name": "tallies",
                "functions": functions, "events": events,
                "states": [{ "name": "OnGo", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
                             "eventsActions": [{ "eventRefs": ["Go"], "actions": actions }],
                             "end": { "kind": "DEFAULT" } }] }),
        ),
    ]
}

/// A server armed to crash at `point`.
fn armed(app: &swirl_tests::App, point: &str) -> Server {
    Server::start(app, &[], &[("SWIRL_FAILPOINT", point)])
}

/// How many times the calls counting under `key` took effect.
async fn tally(server: &Server, key: &str) -> Value {
    let answer = server
        .post_json(
            "/functions/probe/invoke",
            json!({"action": "kv-get", "key": key}),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["output"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_two_calls_reruns_the_run_and_each_call_counts_once() {
    let app = app_with(workflows(), "");
    let mut server = armed(&app, "run-between-calls");
    // Without `wait`, the start is answered at its receipt, before the calls.
    let started = server
        .post_json(
            "/workflows/tally/instances?id=between",
            json!({"first": "between-1", "second": "between-2"}),
        )
        .await;
    assert_eq!(started.status, 201, "{started:?}");
    server.crashed("run-between-calls").await;

    let server = Server::start(&app, &[], &[]);
    let done = server.wait_status("between", "completed").await;
    assert_eq!(done["output"]["between-1"], 1, "{done}");
    assert_eq!(done["output"]["between-2"], 1, "{done}");
    // The first call ran twice; its kv write, committed with the run, once.
    assert_eq!(tally(&server, "between-1").await, json!("1"));
    assert_eq!(tally(&server, "between-2").await, json!("1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_a_runs_commit_before_its_answer_keeps_the_run_and_a_retry_returns_it() {
    let app = app_with(workflows(), "");
    let mut server = armed(&app, "run-after-commit-before-answer");
    let answer = try_request(
        server.addr,
        "POST",
        "/workflows/tally/instances?id=committed&wait=true",
        &[("content-type", "application/json")],
        json!({"first": "committed-1", "second": "committed-2"})
            .to_string()
            .into(),
    )
    .await;
    assert!(answer.is_err(), "answered before the crash: {answer:?}");
    server.crashed("run-after-commit-before-answer").await;

    let server = Server::start(&app, &[], &[]);
    // The retry finds the committed run: it does not run again.
    let retried = server
        .post_json(
            "/workflows/tally/instances?id=committed&wait=true",
            json!({"first": "committed-1", "second": "committed-2"}),
        )
        .await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(retried.body["status"], "completed", "{retried:?}");
    assert_eq!(retried.body["output"]["committed-2"], 1, "{retried:?}");
    assert_eq!(tally(&server, "committed-1").await, json!("1"));
    assert_eq!(tally(&server, "committed-2").await, json!("1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_an_events_receipt_before_its_calls_loses_nothing_and_the_resend_is_a_duplicate()
 {
    let app = app_with(workflows(), "");
    let mut server = armed(&app, "run-after-receipt");
    let accepted = server
        .event(
            "go-1",
            "tests",
            "tally.go",
            &[],
            json!({"first": "receipt-1", "second": "receipt-2"}),
        )
        .await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let id = accepted.body["started"][0].as_str().unwrap().to_string();
    server.crashed("run-after-receipt").await;

    let server = Server::start(&app, &[], &[]);
    let done = server.wait_status(&id, "completed").await;
    assert_eq!(done["output"]["receipt-1"], 1, "{done}");
    assert_eq!(done["output"]["receipt-2"], 1, "{done}");
    let resent = server
        .event(
            "go-1",
            "tests",
            "tally.go",
            &[],
            json!({"first": "receipt-1", "second": "receipt-2"}),
        )
        .await;
    assert_eq!(resent.body["duplicates"], 1, "{resent:?}");
    assert_eq!(tally(&server, "receipt-1").await, json!("1"));
    assert_eq!(tally(&server, "receipt-2").await, json!("1"));
}

/// One run thread busy with a long call and a queue of one: the next start
/// waits, the one after is refused with 503 and `retry-after`, and changes
/// nothing; once the queue drains, starts are taken again.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_run_queue_answers_503_with_retry_after_and_changes_nothing() {
    let app = app_with(workflows(), "");
    let server = Server::start(&app, &["--run-threads", "1", "--run-queue", "1"], &[]);
    let start = |id: &'static str| {
        let addr = server.addr;
        async move {
            try_request(
                addr,
                "POST",
                &format!("/workflows/nap/instances?id={id}"),
                &[("content-type", "application/json")],
                "{}".into(),
            )
            .await
            .unwrap()
        }
    };
    // The first occupies the thread with its call (its answer comes at its
    // receipt, before the call); the second waits in the queue.
    assert_eq!(start("first").await.status, 201);
    let second = tokio::spawn(start("second"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = start("third").await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.header("retry-after"), Some("1"), "{refused:?}");
    assert!(
        refused
            .body["error"]
            .as_str()
            .unwrap()
            .starts_with("the engine is saturated: 1 runs are waiting for the engine's 1 run threads; retry shortly"),
        "{refused:?}"
    );
    assert_eq!(second.await.unwrap().status, 201);
    assert_eq!(server.get("/instances/third").await.status, 404);
    server.wait_status("second", "completed").await;
    assert_eq!(start("third").await.status, 201);
    server.wait_status("third", "completed").await;
}
