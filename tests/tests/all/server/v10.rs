//! Serverless Workflow 1.0 documents on a server: what needs a running
//! `swirl serve` and its restarts (durable timeouts, schedules).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::util::{Server, workflows_app};

/// A 1.0 document whose one task is `task`, named `name`.
fn document(name: &str, task: Value) -> Value {
    json!({
        "document": { "dsl": "1.0.3", "namespace": "test", "name": name, "version": "1.0.0" },
        "do": [task],
    })
}

/// Starts an instance of `slow` (a document named so), kills the server
/// while the instance waits, starts it again, and returns the problem the
/// instance fails with.
async fn fault_after_a_restart(slow: Value) -> Value {
    let app = workflows_app(vec![("slow.json", slow)], "");
    let mut server = Server::start(&app, &[], &[]);
    let started = server
        .post_json("/workflows/slow/instances", json!({}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&id, "waiting").await;
    server.kill();

    let server = Server::start(&app, &[], &[]);
    let failed = server.wait_status(&id, "failed").await;
    failed["error"]["problem"].clone()
}

/// A task's timeout is a timer in the instance's record: a server killed
/// while the task runs faults the instance with the timeout after its
/// restart, long before the task itself would end.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_timeout_survives_a_restart() {
    let slow = document(
        "slow",
        json!({ "slowWait": { "wait": "PT60S", "timeout": { "after": "PT2S" } } }),
    );
    let problem = fault_after_a_restart(slow).await;
    assert_eq!(
        problem["type"], "https://open-workflow-specification.org/spec/1.0.0/errors/timeout",
        "{problem}"
    );
    assert_eq!(problem["status"], 408);
    assert_eq!(problem["instance"], "/do/0/slowWait");
    assert_eq!(problem["detail"], "task 'slowWait' timed out after PT2S");
}

/// So is the workflow's: it faults the instance after a restart too.
#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_timeout_survives_a_restart() {
    let mut slow = document("slow", json!({ "slowWait": { "wait": "PT60S" } }));
    slow["timeout"] = json!({ "after": { "seconds": 2 } });
    let problem = fault_after_a_restart(slow).await;
    assert_eq!(problem["status"], 408, "{problem}");
    assert_eq!(problem["instance"], "/");
    assert_eq!(problem["detail"], "the workflow timed out after PT2S");
}

/// The ticks of the instances `server` started for schedule `workflow`,
/// in order, once each has `status`.
async fn ticks(server: &Server, workflow: &str, status: &str) -> Vec<u64> {
    let prefix = format!("sched-{workflow}-");
    let mut ticks: Vec<u64> = server
        .all_instances(workflow, status)
        .await
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap();
            id.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{id} is no tick of {workflow}"))
                .parse()
                .unwrap()
        })
        .collect();
    ticks.sort();
    ticks
}

/// Polls until `workflow` has at least `count` scheduled instances.
async fn wait_for_ticks(server: &Server, workflow: &str, count: usize) -> Vec<u64> {
    for _ in 0..600 {
        let page = server
            .get(&format!("/instances?workflow={workflow}&limit=1000"))
            .await;
        if page.body["instances"].as_array().map_or(0, Vec::len) >= count {
            return ticks(server, workflow, "completed").await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{workflow} did not start {count} instances:\n{}",
        server.log()
    );
}

/// `every` starts an instance at each multiple of its period; a server
/// back after missing ticks starts the latest one it missed at once, and
/// neither the others nor one that ran before.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_every_runs_the_latest_tick_it_missed_once_after_a_restart() {
    let mut ticker = document("ticker", json!({ "tick": { "set": { "ticked": true } } }));
    ticker["schedule"] = json!({ "every": "PT1S" });
    let app = workflows_app(vec![("ticker.json", ticker)], "");
    let mut server = Server::start(&app, &[], &[]);
    let before = wait_for_ticks(&server, "ticker", 2).await;
    assert!(before.iter().all(|t| t % 1000 == 0), "{before:?}");
    assert!(
        before.windows(2).all(|w| w[1] - w[0] == 1000),
        "a tick was lost or doubled: {before:?}"
    );
    server.kill();
    // Down across two ticks.
    let last = *before.last().unwrap();
    let now = swirl_core::time::now_ms();
    tokio::time::sleep(Duration::from_millis((last + 2100).saturating_sub(now))).await;

    let server = Server::start(&app, &[], &[]);
    let up = swirl_core::time::now_ms();
    let after = wait_for_ticks(&server, "ticker", before.len() + 1).await;
    assert_eq!(after[..before.len()], before[..]);
    let caught_up = after[before.len()];
    assert!(
        caught_up >= last + 2000 && caught_up <= up,
        "the server back at {up} did not start the latest tick it missed at once: {after:?}"
    );
    assert!(
        !after.contains(&(last + 1000)),
        "a missed tick other than the latest ran: {after:?}"
    );
}

/// `after` starts the next instance only once the previous one ended, and
/// that long after its end.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_after_starts_each_instance_after_the_previous_one_ends() {
    let mut napper = document(
        "napper",
        json!({ "nap": { "wait": { "milliseconds": 300 } } }),
    );
    napper["schedule"] = json!({ "after": { "milliseconds": 500 } });
    let app = workflows_app(vec![("napper.json", napper)], "");
    let server = Server::start(&app, &[], &[]);
    let ticks = wait_for_ticks(&server, "napper", 3).await;
    // Each starts 300 ms of nap and 500 ms of pause after the one before.
    assert!(ticks.windows(2).all(|w| w[1] - w[0] >= 800), "{ticks:?}");
}

/// `on` starts an instance per matching event; its input is the array of
/// the events read as `read` says (their data unless told otherwise), and a
/// resent event starts none.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_on_starts_an_instance_per_event() {
    let mut greeter = document(
        "greeter",
        json!({ "greet": { "set": { "hello": "${ .[0].name }" } } }),
    );
    greeter["schedule"] =
        json!({ "on": { "one": { "with": { "type": "com.example.hello", "source": "test" } } } });
    let mut auditor = document(
        "auditor",
        json!({ "audit": { "set": { "from": "${ .[0].source }", "id": "${ .[0].id }", "name": "${ .[0].data.name }" } } }),
    );
    auditor["schedule"] = json!({
        "on": { "any": [{ "with": { "type": "com.example.audit", "source": "test" } }] },
        "read": "envelope",
    });
    let app = workflows_app(
        vec![("greeter.json", greeter), ("auditor.json", auditor)],
        "",
    );
    let server = Server::start(&app, &[], &[]);

    let hello = || {
        server.event(
            "hello-1",
            "test",
            "com.example.hello",
            &[],
            json!({ "name": "Ada" }),
        )
    };
    let answer = hello().await;
    assert!(answer.status < 300, "{answer:?}");
    let id = answer.body["started"][0].as_str().unwrap().to_string();
    let done = server.wait_status(&id, "completed").await;
    assert_eq!(done["output"], json!({ "hello": "Ada" }));
    let again = hello().await;
    assert_eq!(again.body["duplicates"], 1, "{again:?}");
    assert_eq!(server.all_instances("greeter", "completed").await.len(), 1);

    let answer = server
        .event(
            "audit-1",
            "test",
            "com.example.audit",
            &[],
            json!({ "name": "Grace" }),
        )
        .await;
    let id = answer.body["started"][0].as_str().unwrap().to_string();
    let done = server.wait_status(&id, "completed").await;
    assert_eq!(
        done["output"],
        json!({ "from": "test", "id": "audit-1", "name": "Grace" })
    );
}

/// An app of the workflow `shipper`, which starts on `all` of an order's
/// placed event (from the shop) and its paid event (from any source), and
/// puts out the order each of them names.
fn shipper() -> swirl_tests::App {
    let mut shipper = document(
        "shipper",
        json!({ "ship": { "set": { "order": "${ .[0].order }", "paid": "${ .[1].order }" } } }),
    );
    shipper["schedule"] = json!({ "on": { "all": [
        { "with": { "type": "com.example.placed", "source": "shop" } },
        { "with": { "type": "com.example.paid" } },
    ] } });
    workflows_app(vec![("shipper.json", shipper)], "")
}

/// `on` with `all` starts an instance once each filter has matched an event
/// of its own, whatever their order, across a SIGKILL between them; its input
/// is the events in the order of the filters. Each event is consumed once:
/// a resend starts nothing, and of events sent at once every set starts one
/// instance and no event is in two.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_on_all_starts_an_instance_per_set_of_events() {
    let app = shipper();
    let mut server = Server::start(&app, &[], &[]);
    /// Sends order `order`'s event `ty` (placed by the shop, paid by the bank).
    async fn send(server: &Server, id: &str, ty: &str, order: u64) -> super::util::Answer {
        let source = if ty == "com.example.placed" {
            "shop"
        } else {
            "bank"
        };
        let answer = server
            .event(id, source, ty, &[], json!({ "order": order }))
            .await;
        assert!(answer.status < 300, "{answer:?}");
        answer
    }

    // The second filter's event first: kept, acknowledged, nothing starts.
    let paid = send(&server, "paid-1", "com.example.paid", 1).await;
    assert_eq!(paid.body["started"], json!([]), "{paid:?}");
    assert!(
        server
            .all_instances("shipper", "completed")
            .await
            .is_empty()
    );
    server.kill();

    let server = Server::start(&app, &[], &[]);
    let placed = send(&server, "placed-1", "com.example.placed", 1).await;
    let id = placed.body["started"][0]
        .as_str()
        .unwrap_or_else(|| {
            panic!(
                "the last event started nothing: {placed:?}\n{}",
                server.log()
            )
        })
        .to_string();
    let done = server.wait_status(&id, "completed").await;
    assert_eq!(done["input"], json!([{ "order": 1 }, { "order": 1 }]));
    assert_eq!(done["output"], json!({ "order": 1, "paid": 1 }));

    // A resend is a duplicate; an event of an event's set does not start
    // another with a new one.
    let again = send(&server, "placed-1", "com.example.placed", 1).await;
    assert_eq!(again.body["duplicates"], 1, "{again:?}");
    let placed = send(&server, "placed-2", "com.example.placed", 2).await;
    assert_eq!(placed.body["started"], json!([]), "{placed:?}");

    // Sent at once: placed-2 waits already, so three sets.
    let answers = tokio::join!(
        send(&server, "paid-2", "com.example.paid", 2),
        send(&server, "placed-3", "com.example.placed", 3),
        send(&server, "paid-3", "com.example.paid", 3),
        send(&server, "placed-4", "com.example.placed", 4),
        send(&server, "paid-4", "com.example.paid", 4),
    );
    let started: usize = [&answers.0, &answers.1, &answers.2, &answers.3, &answers.4]
        .iter()
        .map(|a| a.body["started"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(started, 3, "{answers:?}");
    let instances = server.all_instances("shipper", "completed").await;
    assert_eq!(instances.len(), 4, "{instances:?}");
    let mut placed: Vec<u64> = instances
        .iter()
        .map(|i| i["output"]["order"].as_u64().unwrap())
        .collect();
    let mut paid: Vec<u64> = instances
        .iter()
        .map(|i| i["output"]["paid"].as_u64().unwrap())
        .collect();
    placed.sort();
    paid.sort();
    assert_eq!(
        placed,
        [1, 2, 3, 4],
        "an event started two instances or none: {instances:?}"
    );
    assert_eq!(
        paid,
        [1, 2, 3, 4],
        "an event started two instances or none: {instances:?}"
    );
}

/// A process that dies once the event that completes a set of `on` with
/// `all` is kept, before the set's instance starts (`SWIRL_FAILPOINT` aborts
/// the server there): the restarted server starts that instance by itself,
/// its input the events in the order of the filters, and the resend of the
/// event whose answer the crash cut off is a duplicate that starts no other
/// and is not kept again.
#[tokio::test(flavor = "multi_thread")]
async fn a_set_of_events_completed_just_before_a_crash_starts_its_instance_after_the_restart() {
    let app = shipper();
    let mut server = Server::start(&app, &[], &[("SWIRL_FAILPOINT", "gather-before-start")]);
    /// How many events the server keeps (those gathered for a set included).
    async fn buffered(server: &Server) -> Value {
        server.get("/buffered-events").await.body["count"].clone()
    }

    // The second filter's event first: kept, acknowledged, nothing starts.
    let paid = server
        .event(
            "paid-1",
            "bank",
            "com.example.paid",
            &[],
            json!({ "order": 1, "by": "bank" }),
        )
        .await;
    assert_eq!(paid.status, 202, "{paid:?}");
    assert_eq!(paid.body["started"], json!([]), "{paid:?}");
    assert_eq!(buffered(&server).await, 1);

    // The first filter's completes the set: the server dies before its start.
    let placed = [
        ("ce-specversion", "1.0"),
        ("ce-id", "placed-1"),
        ("ce-source", "shop"),
        ("ce-type", "com.example.placed"),
        ("content-type", "application/json"),
    ];
    let body = json!({ "order": 1 }).to_string();
    let answer =
        super::util::try_request(server.addr, "POST", "/events", &placed, body.clone().into())
            .await;
    assert!(
        answer.is_err(),
        "the failpoint did not stop the server: {answer:?}"
    );
    server.crashed("gather-before-start").await;

    // No event comes: the restart alone starts the set's one instance.
    let server = Server::start(&app, &[], &[]);
    let mut instances = Vec::new();
    for _ in 0..200 {
        instances = server.all_instances("shipper", "completed").await;
        if !instances.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(instances.len(), 1, "{instances:?}\n{}", server.log());
    assert_eq!(
        instances[0]["input"],
        json!([{ "order": 1 }, { "order": 1, "by": "bank" }])
    );
    assert_eq!(instances[0]["output"], json!({ "order": 1, "paid": 1 }));
    assert_eq!(buffered(&server).await, 0);

    // Its sender resends the event whose answer it never had.
    let resent = server.request("POST", "/events", &placed, body).await;
    assert_eq!(resent.status, 202, "{resent:?}");
    assert_eq!(
        resent.body,
        json!({ "accepted": 1, "duplicates": 1, "started": [], "delivered": [], "buffered": 0 })
    );
    assert_eq!(server.all_instances("shipper", "completed").await.len(), 1);
    assert_eq!(buffered(&server).await, 0);
}

/// `swirl serve --lifecycle-events` sends a 1.0 instance's lifecycle
/// CloudEvents to the app's sinks like any produced event (here through a
/// sink's type filter); without the flag it sends none.
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_events_reach_the_sinks_when_asked_for() {
    use super::sinks::{Receiver, start_receiver, wait_until};

    let receiver = Receiver::default();
    let addr = start_receiver(receiver.clone()).await;
    let greeter = document(
        "greeter",
        json!({ "greet": { "set": { "hello": "world" } } }),
    );
    let app = workflows_app(
        vec![("greeter.json", greeter)],
        &format!(
            "[[sinks]]\nurl = \"http://{addr}/in\"\ntype = \"io.serverlessworkflow.workflow.completed.v1\"\n"
        ),
    );
    for (flag, sent) in [(None, 0), (Some("--lifecycle-events"), 1)] {
        let args: Vec<&str> = flag.into_iter().collect();
        let mut server = Server::start(&app, &args, &[]);
        let started = server
            .post_json("/workflows/greeter/instances", json!({}))
            .await;
        let id = started.body["id"].as_str().unwrap().to_string();
        server.wait_status(&id, "completed").await;
        if sent > 0 {
            wait_until("the sink got the completed event", || {
                !receiver.received.lock().unwrap().is_empty()
            })
            .await;
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let received = receiver.received.lock().unwrap().clone();
        assert_eq!(received.len(), sent, "{received:?}");
        if let Some((headers, body)) = received.first() {
            assert_eq!(headers["ce-subject"], id.as_str());
            assert_eq!(headers["ce-source"], "swirl/workflows/greeter");
            let data: Value = serde_json::from_str(body).unwrap();
            assert_eq!(data["name"], format!("{id}.test"), "{data}");
            assert!(data["completedAt"].is_string(), "{data}");
        }
        server.kill();
    }
}

/// `swirl serve --status-changed-events` alone sends the optional
/// status-changed events and no other lifecycle event: a `listen` waits
/// until its event comes, and so does its instance, which then runs again
/// and completes.
#[tokio::test(flavor = "multi_thread")]
async fn status_changed_events_reach_the_sinks_when_asked_for() {
    use super::sinks::{Receiver, start_receiver, wait_until};

    let receiver = Receiver::default();
    let addr = start_receiver(receiver.clone()).await;
    let payee = json!({
        "document": { "dsl": "1.0.3", "namespace": "test", "name": "payee", "version": "1.0.0" },
        "do": [
            { "greet": { "set": { "hello": "world" } } },
            { "paid": { "listen": { "to": { "one": { "with": { "type": "com.example.paid" } } } } } },
        ],
    });
    let app = workflows_app(
        vec![("payee.json", payee)],
        &format!("[[sinks]]\nurl = \"http://{addr}/in\"\n"),
    );
    let mut server = Server::start(&app, &["--status-changed-events"], &[]);
    let started = server
        .post_json("/workflows/payee/instances", json!({}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&id, "waiting").await;
    let answer = server
        .event("paid-1", "shop", "com.example.paid", &[], json!({}))
        .await;
    assert!(answer.status < 300, "{answer:?}");
    server.wait_status(&id, "completed").await;
    // In the order they happened: their ids sort so.
    let seen = || -> Vec<String> {
        let received = receiver.received.lock().unwrap();
        let mut events: Vec<(String, String)> = received
            .iter()
            .map(|(headers, body)| {
                let data: Value = serde_json::from_str(body).unwrap();
                assert!(data["updatedAt"].is_string(), "{data}");
                let seen = match headers["ce-type"].to_str().unwrap() {
                    "io.serverlessworkflow.workflow.status-changed.v1" => {
                        assert_eq!(data["name"], format!("{id}.test"), "{data}");
                        format!("workflow {}", data["status"].as_str().unwrap())
                    }
                    "io.serverlessworkflow.task.status-changed.v1" => {
                        assert_eq!(data["workflow"], format!("{id}.test"), "{data}");
                        let task = data["task"].as_str().unwrap();
                        format!("{task} {}", data["status"].as_str().unwrap())
                    }
                    other => panic!("only status changes were asked for, not {other}"),
                };
                (headers["ce-id"].to_str().unwrap().to_string(), seen)
            })
            .collect();
        events.sort();
        events.into_iter().map(|(_, seen)| seen).collect()
    };
    // Events of different commits may reach the sink out of order.
    wait_until("the sink got every change", || seen().len() >= 11).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        seen(),
        [
            "workflow running",
            "/do/0/greet pending",
            "/do/0/greet running",
            "/do/0/greet completed",
            "/do/1/paid pending",
            "/do/1/paid running",
            "/do/1/paid waiting",
            "workflow waiting",
            "workflow running",
            "/do/1/paid completed",
            "workflow completed",
        ]
    );
    server.kill();
}

/// A task that meets an error sends `task.faulted` (with the error, as a
/// problem at the task) even when a `try` catches it, and each retry of the
/// `try` sends `task.retried` for it; the caught `try` itself does not fault.
#[tokio::test(flavor = "multi_thread")]
async fn faulted_and_retried_tasks_reach_the_sinks() {
    use super::sinks::{Receiver, start_receiver, wait_until};

    let receiver = Receiver::default();
    let addr = start_receiver(receiver.clone()).await;
    let flaky = document(
        "flaky",
        json!({ "attempt": {
            "try": [{ "fail": { "raise": { "error": {
                "type": "https://example.com/errors/down", "status": 503, "title": "down",
            } } } }],
            "catch": {
                "errors": { "with": { "type": "https://example.com/errors/down" } },
                "retry": { "delay": "PT0.01S", "limit": { "attempt": { "count": 1 } } },
                "do": [{ "recover": { "set": { "recovered": true } } }],
            },
        } }),
    );
    let app = workflows_app(
        vec![("flaky.json", flaky)],
        &format!("[[sinks]]\nurl = \"http://{addr}/in\"\n"),
    );
    let mut server = Server::start(&app, &["--lifecycle-events"], &[]);
    let started = server
        .post_json("/workflows/flaky/instances", json!({}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&id, "completed").await;
    let of_type = |kind: &str| -> Vec<Value> {
        let kind = format!("io.serverlessworkflow.{kind}.v1");
        let received = receiver.received.lock().unwrap();
        received
            .iter()
            .filter(|(headers, _)| headers["ce-type"] == kind.as_str())
            .map(|(_, body)| serde_json::from_str(body).unwrap())
            .collect()
    };
    // Events of different commits may reach the sink out of order.
    wait_until("the sink got the task and workflow events", || {
        !of_type("workflow.completed").is_empty()
            && of_type("task.faulted").len() >= 2
            && !of_type("task.retried").is_empty()
    })
    .await;
    let faulted = of_type("task.faulted");
    assert_eq!(faulted.len(), 2, "one fault per attempt: {faulted:?}");
    for data in &faulted {
        assert_eq!(data["workflow"], format!("{id}.test"), "{data}");
        assert_eq!(data["task"], "/do/0/attempt/try/0/fail", "{data}");
        assert!(data["faultedAt"].is_string(), "{data}");
        assert_eq!(data["error"]["type"], "https://example.com/errors/down");
        assert_eq!(data["error"]["status"], 503, "{data}");
    }
    let retried = of_type("task.retried");
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_eq!(retried[0]["task"], "/do/0/attempt", "{retried:?}");
    assert!(retried[0]["retriedAt"].is_string(), "{retried:?}");
    server.kill();
}

/// Each task sends `task.created` as its thread enters it and
/// `task.started` once its `if` held and its input was taken (a skipped
/// task is created only); a listen with `correlate` sends
/// `workflow.correlation-started` as it begins waiting and
/// `workflow.correlation-completed` with the keys its event bound, one
/// without sends neither. In the order they happened, with their data.
#[tokio::test(flavor = "multi_thread")]
async fn created_tasks_and_correlations_reach_the_sinks() {
    use super::sinks::{Receiver, start_receiver, wait_until};

    let receiver = Receiver::default();
    let addr = start_receiver(receiver.clone()).await;
    let matcher = json!({
        "document": { "dsl": "1.0.3", "namespace": "test", "name": "matcher", "version": "1.0.0" },
        "do": [
            { "skipped": { "if": "${ false }", "set": { "never": true } } },
            { "paid": { "listen": { "to": { "one": {
                "with": { "type": "com.example.paid" },
                "correlate": { "order": { "from": "${ .data.order }", "expect": "${ .order }" } },
            } } } } },
            { "shipped": { "listen": { "to": { "one": { "with": { "type": "com.example.shipped" } } } } } },
        ],
    });
    let app = workflows_app(
        vec![("matcher.json", matcher)],
        &format!("[[sinks]]\nurl = \"http://{addr}/in\"\n"),
    );
    let mut server = Server::start(&app, &["--lifecycle-events"], &[]);
    let started = server
        .post_json("/workflows/matcher/instances", json!({ "order": "o-1" }))
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&id, "waiting").await;
    // The instance's events in the order they happened: their ids sort so.
    let events = || -> Vec<(String, Value)> {
        let received = receiver.received.lock().unwrap();
        let mut events: Vec<(String, String, Value)> = received
            .iter()
            .filter(|(headers, _)| headers["ce-subject"] == id.as_str())
            .map(|(headers, body)| {
                let kind = headers["ce-type"].to_str().unwrap();
                let kind = kind.strip_prefix("io.serverlessworkflow.").unwrap();
                (
                    headers["ce-id"].to_str().unwrap().to_string(),
                    kind.strip_suffix(".v1").unwrap().to_string(),
                    serde_json::from_str(body).unwrap(),
                )
            })
            .collect();
        events.sort_by(|a, b| a.0.cmp(&b.0));
        events
            .into_iter()
            .map(|(_, kind, data)| (kind, data))
            .collect()
    };
    let has = |kind: &str| events().iter().any(|(k, _)| k == kind);
    for (order, event_id) in [("o-2", "paid-2"), ("o-1", "paid-1")] {
        let answer = server
            .event(
                event_id,
                "shop",
                "com.example.paid",
                &[],
                json!({ "order": order }),
            )
            .await;
        assert!(answer.status < 300, "{answer:?}");
    }
    // Another order's event does not end the correlation; its own does.
    wait_until("the correlation completed", || {
        has("workflow.correlation-completed")
    })
    .await;
    let answer = server
        .event("shipped-1", "shop", "com.example.shipped", &[], json!({}))
        .await;
    assert!(answer.status < 300, "{answer:?}");
    server.wait_status(&id, "completed").await;
    wait_until("the sink got the workflow's end", || {
        has("workflow.completed")
    })
    .await;
    let events = events();
    let name = format!("{id}.test");
    // `task.created` has createdAt, `workflow.correlation-started` startedAt.
    let at = |kind: &str| match kind.rsplit(['.', '-']).next() {
        Some("created") => "createdAt",
        Some("started") => "startedAt",
        _ => "completedAt",
    };
    let mut seen = Vec::new();
    for (kind, data) in &events {
        let mut data = data.clone();
        let time = data.as_object_mut().unwrap().remove(at(kind));
        assert!(time.is_some_and(|t| t.is_string()), "{kind}: {data}");
        if kind.starts_with("task.") {
            assert_eq!(data["workflow"], name.as_str(), "{kind}: {data}");
            seen.push(format!("{kind} {}", data["task"].as_str().unwrap()));
        } else {
            assert_eq!(data["name"], name.as_str(), "{kind}: {data}");
            data.as_object_mut().unwrap().remove("name");
            data.as_object_mut().unwrap().remove("definition");
            seen.push(format!("{kind} {data}"));
        }
    }
    assert_eq!(
        seen,
        [
            "workflow.started {}",
            "task.created /do/0/skipped",
            "task.created /do/1/paid",
            "task.started /do/1/paid",
            "workflow.correlation-started {}",
            r#"workflow.correlation-completed {"correlationKeys":{"order":"o-1"}}"#,
            "task.completed /do/1/paid",
            "task.created /do/2/shipped",
            "task.started /do/2/shipped",
            "task.completed /do/2/shipped",
            "workflow.completed {}",
        ]
    );
    server.kill();
}

/// The running tasks of a suspended, resumed or cancelled instance send
/// `task.suspended`, `task.resumed` and `task.cancelled`; the losing
/// branch of a `fork` with `compete` sends `task.cancelled`, the winner not.
#[tokio::test(flavor = "multi_thread")]
async fn suspended_resumed_and_cancelled_tasks_reach_the_sinks() {
    use super::sinks::{Receiver, start_receiver, wait_until};

    let receiver = Receiver::default();
    let addr = start_receiver(receiver.clone()).await;
    let napper = document("napper", json!({ "nap": { "wait": "PT1H" } }));
    let racer = document(
        "racer",
        json!({ "race": { "fork": { "compete": true, "branches": [
            // Not a set: a branch ending as it starts wins before the slow
            // one starts, which then never does.
            { "fast": { "wait": "PT0.1S" } },
            { "slow": { "wait": "PT1H" } },
        ] } } }),
    );
    let sprinter = document(
        "sprinter",
        json!({ "race": { "fork": { "compete": true, "branches": [
            { "fast": { "set": { "won": true } } },
            { "slow": { "wait": "PT1H" } },
        ] } } }),
    );
    let app = workflows_app(
        vec![
            ("napper.json", napper),
            ("racer.json", racer),
            ("sprinter.json", sprinter),
        ],
        &format!("[[sinks]]\nurl = \"http://{addr}/in\"\n"),
    );
    let mut server = Server::start(&app, &["--lifecycle-events"], &[]);
    let of = |id: &str, kind: &str| -> Vec<Value> {
        let kind = format!("io.serverlessworkflow.{kind}.v1");
        let received = receiver.received.lock().unwrap();
        received
            .iter()
            .filter(|(headers, _)| {
                headers["ce-type"] == kind.as_str() && headers["ce-subject"] == id
            })
            .map(|(_, body)| serde_json::from_str(body).unwrap())
            .collect()
    };
    let started = server
        .post_json("/workflows/napper/instances", json!({}))
        .await;
    let nap = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&nap, "waiting").await;
    for action in ["suspend", "resume", "cancel"] {
        let answer = server
            .request("POST", &format!("/instances/{nap}/{action}"), &[], "")
            .await;
        assert!(answer.status < 300, "{action}: {answer:?}");
    }
    let started = server
        .post_json("/workflows/racer/instances", json!({}))
        .await;
    let race = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&race, "completed").await;
    // Events of different commits may reach the sink out of order.
    wait_until("the sink got the task events", || {
        ["task.suspended", "task.resumed", "task.cancelled"]
            .iter()
            .all(|kind| !of(&nap, kind).is_empty())
            && !of(&race, "workflow.completed").is_empty()
            && !of(&race, "task.cancelled").is_empty()
    })
    .await;
    for (kind, at) in [
        ("task.suspended", "suspendedAt"),
        ("task.resumed", "resumedAt"),
        ("task.cancelled", "cancelledAt"),
    ] {
        let events = of(&nap, kind);
        assert_eq!(events.len(), 1, "{kind}: {events:?}");
        assert_eq!(events[0]["workflow"], format!("{nap}.test"), "{events:?}");
        assert_eq!(events[0]["task"], "/do/0/nap", "{events:?}");
        assert!(events[0][at].is_string(), "{events:?}");
    }
    let cancelled: Vec<Value> = of(&race, "task.cancelled")
        .iter()
        .map(|data| data["task"].clone())
        .collect();
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert!(
        cancelled[0].as_str().unwrap().ends_with("/slow"),
        "{cancelled:?}"
    );
    // A branch that wins as it starts keeps the ones after it from starting.
    let started = server
        .post_json("/workflows/sprinter/instances", json!({}))
        .await;
    let sprint = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&sprint, "completed").await;
    wait_until("the sink got the sprint's end", || {
        !of(&sprint, "workflow.completed").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tasks: Vec<Value> = of(&sprint, "task.started")
        .iter()
        .map(|data| data["task"].clone())
        .collect();
    assert_eq!(tasks.len(), 2, "the fork and its fast branch: {tasks:?}");
    assert!(of(&sprint, "task.cancelled").is_empty());
    server.kill();
}

/// An HTTP call waits on the server it calls, not on a run thread: while
/// three instances' requests hang, another instance runs to its end on
/// the server's one run thread; released, the three end with the response.
#[tokio::test(flavor = "multi_thread")]
async fn hanging_http_calls_hold_up_no_other_instance() {
    let (release, released) = tokio::sync::watch::channel(false);
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let router = Router::new().route(
        "/slow",
        get(move || {
            let (mut released, counter) = (released.clone(), counter.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                released.wait_for(|go| *go).await.unwrap();
                axum::Json(json!({ "answer": 42 }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let calling = document(
        "calling",
        json!({ "ask": { "call": "http", "with": { "method": "get", "endpoint": format!("http://{addr}/slow") } } }),
    );
    let quick = document("quick", json!({ "answer": { "set": { "done": true } } }));
    let app = workflows_app(vec![("calling.json", calling), ("quick.json", quick)], "");
    let server = Server::start(&app, &["--run-threads", "1"], &[]);
    let mut hanging = Vec::new();
    for _ in 0..3 {
        let started = server
            .post_json("/workflows/calling/instances", json!({}))
            .await;
        hanging.push(started.body["id"].as_str().unwrap().to_string());
    }
    super::sinks::wait_until("the three requests are out", || {
        asked.load(Ordering::SeqCst) == 3
    })
    .await;
    let quick = server
        .post_json("/workflows/quick/instances?wait=true", json!({}))
        .await;
    assert_eq!(quick.body["status"], "completed", "{quick:?}");
    assert_eq!(quick.body["output"]["done"], true, "{quick:?}");
    for id in &hanging {
        let instance = server.get(&format!("/instances/{id}")).await;
        assert_eq!(instance.body["status"], "running", "{instance:?}");
    }
    release.send(true).unwrap();
    for id in &hanging {
        let done = server.wait_status(id, "completed").await;
        assert_eq!(done["output"]["answer"], 42, "{done}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 3, "each request sent once");
}

/// A listen part way through its events keeps them across a SIGKILL: the
/// events it consumed are in the instance's committed record. `any` with
/// `until` (filtered on an attribute, correlated with the input, of every
/// source) and `all` each get their last event after the restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_partly_consumed_listen_survives_a_kill() {
    let collector = document(
        "collector",
        json!({ "collect": {
            "listen": {
                "to": {
                    "any": [{
                        "with": { "type": "com.example.item", "subject": "cart-.*" },
                        "correlate": { "cart": { "from": ".cartid", "expect": "${ .cart }" } },
                    }],
                    "until": { "one": { "with": { "type": "com.example.checkout", "source": "shop" } } },
                },
                "read": "envelope",
            },
            "output": { "as": "${ [.[] | {source, item: .data}] }" },
        } }),
    );
    let pair = document(
        "pair",
        json!({ "both": {
            "listen": { "to": { "all": [
                { "with": { "type": "com.example.left", "source": "shop" } },
                { "with": { "type": "com.example.right", "source": "shop" } },
            ] } },
        } }),
    );
    let app = workflows_app(vec![("collector.json", collector), ("pair.json", pair)], "");
    let mut server = Server::start(&app, &[], &[]);
    let started = server
        .post_json("/workflows/collector/instances", json!({ "cart": "c1" }))
        .await;
    let collector = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&collector, "waiting").await;
    let started = server
        .post_json("/workflows/pair/instances", json!({}))
        .await;
    let pair = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&pair, "waiting").await;

    let item = |id: &'static str, source: &'static str, cart: &'static str, subject| {
        let data = json!(id);
        let server = &server;
        async move {
            server
                .event(
                    id,
                    source,
                    "com.example.item",
                    &[("cartid", cart), ("subject", subject)],
                    data,
                )
                .await
        }
    };
    let first = item("apple", "shop-a", "c1", "cart-1").await;
    assert_eq!(first.body["delivered"], json!([collector]), "{first:?}");
    // Another cart's item is taken by no one: it waits in the buffer for
    // a listen of its cart. One whose subject no filter matches is for no
    // workflow: it is not even kept.
    for (id, cart, subject, kept) in [("pear", "c2", "cart-2", 1), ("fig", "c1", "aisle-3", 0)] {
        let other = item(id, "shop-a", cart, subject).await;
        assert_eq!(other.body["delivered"], json!([]), "{other:?}");
        assert_eq!(other.body["buffered"], kept, "{other:?}");
    }
    let second = item("plum", "shop-b", "c1", "cart-1").await;
    assert_eq!(second.body["delivered"], json!([collector]), "{second:?}");
    let left = server
        .event("l1", "shop", "com.example.left", &[], json!("left"))
        .await;
    assert_eq!(left.body["delivered"], json!([pair]), "{left:?}");
    server.kill();

    let server = Server::start(&app, &[], &[]);
    // A resend of a consumed event changes nothing (the output below).
    server
        .event(
            "apple",
            "shop-a",
            "com.example.item",
            &[("cartid", "c1"), ("subject", "cart-1")],
            json!("apple"),
        )
        .await;
    server
        .event("done", "shop", "com.example.checkout", &[], json!(null))
        .await;
    let done = server.wait_status(&collector, "completed").await;
    assert_eq!(
        done["output"],
        json!([
            { "source": "shop-a", "item": "apple" },
            { "source": "shop-b", "item": "plum" },
        ])
    );
    server
        .event("r1", "shop", "com.example.right", &[], json!("right"))
        .await;
    let done = server.wait_status(&pair, "completed").await;
    assert_eq!(done["output"], json!(["left", "right"]));
}

/// A listen to every event with a `foreach` processes each event once,
/// across a SIGKILL: the item processed before the kill is not processed
/// again, the one whose call was in flight is called again (at least
/// once, as any action), and the one that came meanwhile and waited its
/// turn in the record's queue is processed after the restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_listen_for_each_event_survives_a_kill() {
    // Counts the requests for each item; the first for item 2 never ends.
    let asked = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        i64,
        usize,
    >::new()));
    let counter = asked.clone();
    let router = Router::new().route(
        "/items",
        post(move |axum::Json(item): axum::Json<Value>| {
            let counter = counter.clone();
            async move {
                let n = item["n"].as_i64().unwrap_or(-1);
                let times = {
                    let mut counts = counter.lock().unwrap();
                    let times = counts.entry(n).or_default();
                    *times += 1;
                    *times
                };
                if n == 2 && times == 1 {
                    std::future::pending::<()>().await;
                }
                axum::Json(json!({ "n": n, "seen": true }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let monitor = document(
        "monitor",
        json!({ "everything": {
            "listen": { "to": {
                "any": [],
                "until": { "one": { "with": { "type": "com.example.stop" } } },
            } },
            "foreach": {
                "item": "event",
                "do": [{ "record": { "call": "http", "with": {
                    "method": "post",
                    "endpoint": format!("http://{addr}/items"),
                    "body": "${ $event }",
                } } }],
                "output": { "as": "${ .n }" },
            },
        } }),
    );
    let app = workflows_app(vec![("monitor.json", monitor)], "");
    let mut server = Server::start(&app, &[], &[]);
    let started = server
        .post_json("/workflows/monitor/instances", json!({}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&id, "waiting").await;
    let count = |n: i64| asked.lock().unwrap().get(&n).copied().unwrap_or(0);
    for (event, n) in [("one", 1), ("two", 2), ("three", 3)] {
        let sent = server
            .event(
                event,
                &format!("sensor-{n}"),
                &format!("com.example.t{n}"),
                &[],
                json!({ "n": n }),
            )
            .await;
        assert_eq!(sent.body["delivered"], json!([id]), "{sent:?}");
    }
    super::sinks::wait_until("item 2's call is out", || count(2) == 1).await;
    assert_eq!((count(1), count(3)), (1, 0), "one at a time, in order");
    server.kill();

    let server = Server::start(&app, &[], &[]);
    // A resend of a processed event changes nothing.
    server
        .event("one", "sensor-1", "com.example.t1", &[], json!({ "n": 1 }))
        .await;
    super::sinks::wait_until("item 3 is processed", || count(3) == 1).await;
    let stop = server
        .event("stop", "console", "com.example.stop", &[], json!(null))
        .await;
    assert_eq!(stop.body["delivered"], json!([id]), "{stop:?}");
    let done = server.wait_status(&id, "completed").await;
    assert_eq!(done["output"], json!([1, 2, 3]), "{done}");
    assert_eq!((count(1), count(2), count(3)), (1, 2, 1));
}
