//! What the server produces is never lost: produced events across a
//! SIGKILL, dead letters across a restart, workflow actions in the function
//! logs, instance counts after a restart, and non-exclusive collection.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use swirl_tests::App;

use super::sinks::{Receiver, start_receiver, wait_until};
use super::util::{Server, app_with, try_request};

/// `jobs` produces `job.done` at its end; `tally` starts on `job.done`;
/// `logged` logs through the probe; `orders` waits for two events;
/// `collect` gathers both parts of one applicant (non-exclusive).
pub(super) fn workflows() -> Vec<(&'static str, Value)> {
    let events = json!([
        { "name": "Job", "source": "jobs", "type": "job.created" },
        { "name": "JobDone", "source": "jobs", "type": "job.done" },
        { "name": "Paid", "source": "shop", "type": "order.paid", "correlationToken": "orderid" },
        { "name": "Shipped", "source": "shop", "type": "order.shipped", "correlationToken": "orderid" },
        { "name": "PartA", "source": "apply", "type": "part.a", "correlationToken": "applicantid" },
        { "name": "PartB", "source": "apply", "type": "part.b", "correlationToken": "applicantid" }
    ]);
    let functions = json!([{ "name": "probe", "resource": "probe" }]);
    let add = json!({ "functionRef": { "refName": "probe",
        "parameters": { "action": "add", "a": "$.a", "b": "$.b" } } });
    let log = json!({ "functionRef": { "refName": "probe",
        "parameters": { "action": "log", "message": "$.message" } } });
    let workflow = |id: &str, states: Value| {
        json!({ "id": id, "version": "1.0", "name": id,
            "functions": functions, "events": events, "states": states })
    };
    vec![
        (
            "jobs.json",
            workflow(
                "jobs",
                json!([{ "name": "OnJob", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
                  "eventsActions": [{ "eventRefs": ["Job"], "actions": [add] }],
                  "end": { "kind": "EVENT", "produceEvent": { "nameRef": "JobDone", "data": "$" } } }]),
            ),
        ),
        (
            "tally.json",
            workflow(
                "tally",
                json!([{ "name": "OnDone", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
                  "eventsActions": [{ "eventRefs": ["JobDone"], "actions": [] }],
                  "end": { "kind": "DEFAULT" } }]),
            ),
        ),
        (
            "logged.json",
            workflow(
                "logged",
                json!([{ "name": "Log", "type": "OPERATION", "start": { "kind": "DEFAULT" },
                  "actionMode": "SEQUENTIAL", "actions": [log], "end": { "kind": "DEFAULT" } }]),
            ),
        ),
        (
            "orders.json",
            workflow(
                "orders",
                json!([
                    { "name": "OnPaid", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
                      "eventsActions": [{ "eventRefs": ["Paid"], "actions": [] }],
                      "transition": { "nextState": "OnShipped" } },
                    { "name": "OnShipped", "type": "EVENT", "exclusive": true,
                      "eventsActions": [{ "eventRefs": ["Shipped"], "actions": [] }],
                      "end": { "kind": "DEFAULT" } }
                ]),
            ),
        ),
        (
            "collect.json",
            workflow(
                "collect",
                json!([{ "name": "Collect", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": false,
                  "eventsActions": [{ "eventRefs": ["PartA", "PartB"], "actions": [] }],
                  "end": { "kind": "DEFAULT" } }]),
            ),
        ),
    ]
}

pub(super) fn test_app(sink: Option<std::net::SocketAddr>) -> App {
    let extra = match sink {
        Some(addr) => format!("\n[[sinks]]\nurl = \"http://{addr}/in\"\ntype = \"job.done\"\n"),
        None => String::new(),
    };
    app_with(workflows(), &extra)
}

/// Every instance of `workflow`, page by page.
async fn instances(server: &Server, workflow: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = server
            .get(&format!(
                "/instances?workflow={workflow}&limit=1000&cursor={cursor}"
            ))
            .await;
        all.extend(page.body["instances"].as_array().unwrap().iter().cloned());
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return all,
        }
    }
}

/// How many instances of `workflow` have each output `n`, once all are completed.
async fn completed_per_n(server: &Server, workflow: &str) -> Option<BTreeMap<i64, usize>> {
    let mut per_n = BTreeMap::new();
    for instance in instances(server, workflow).await {
        if instance["status"] != "completed" {
            return None;
        }
        *per_n
            .entry(instance["output"]["n"].as_i64().unwrap())
            .or_insert(0) += 1;
    }
    Some(per_n)
}

fn job_event(n: usize) -> (Vec<(&'static str, String)>, String) {
    (
        vec![
            ("ce-specversion", "1.0".into()),
            ("ce-id", format!("job-{n}")),
            ("ce-source", "jobs".into()),
            ("ce-type", "job.created".into()),
            ("content-type", "application/json".into()),
        ],
        json!({"a": n, "b": 0, "n": n}).to_string(),
    )
}

/// Concurrent senders of the burst.
const SENDERS: usize = 8;

#[tokio::test(flavor = "multi_thread")]
async fn produced_events_reach_sink_and_workflows_exactly_once_across_a_sigkill() {
    let receiver = Receiver::default();
    let sink = start_receiver(receiver.clone()).await;
    let app = test_app(Some(sink));
    let mut server = Server::start(&app, &[], &[]);
    let addr = server.addr;
    // Each event starts `jobs`, whose last step commits `job.done` to the
    // outbox: killing during a burst from several senders lands between
    // such a commit and its drain for some of them.
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            tokio::spawn(async move {
                let mut sent = 0;
                for n in (sender..).step_by(SENDERS).take(100_000) {
                    let (headers, body) = job_event(n);
                    let headers: Vec<(&str, &str)> =
                        headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    sent += 1;
                    if try_request(addr, "POST", "/events", &headers, body.into())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                sent
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill();
    let mut sent = 0;
    for sender in senders {
        sent += sender.await.unwrap();
    }
    assert!(sent > SENDERS, "no event got through before the kill");

    let server = Server::start(&app, &[], &[]);
    // Wait until every job finished and its event was taken.
    let mut settled = None;
    for _ in 0..300 {
        if let (Some(jobs), Some(tallies)) = (
            completed_per_n(&server, "jobs").await,
            completed_per_n(&server, "tally").await,
        ) && jobs.len() == tallies.len()
        {
            let at_sink: BTreeSet<i64> = receiver
                .received
                .lock()
                .unwrap()
                .iter()
                .map(|(_, body)| {
                    serde_json::from_str::<Value>(body).unwrap()["n"]
                        .as_i64()
                        .unwrap()
                })
                .collect();
            if at_sink.len() >= jobs.len() {
                settled = Some((jobs, tallies, at_sink));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (jobs, tallies, at_sink) =
        settled.unwrap_or_else(|| panic!("produced events did not all arrive:\n{}", server.log()));
    assert!(!jobs.is_empty());
    assert!(jobs.values().all(|count| *count == 1), "{jobs:?}");
    // Exactly once as a workflow effect, at least once at the sink.
    assert_eq!(tallies, jobs, "every job.done started exactly one tally");
    let finished: BTreeSet<i64> = jobs.keys().copied().collect();
    assert_eq!(at_sink, finished);
    // A sink that got an event twice got it with the same id.
    let mut ids_per_n: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for (headers, body) in receiver.received.lock().unwrap().iter() {
        let n = serde_json::from_str::<Value>(body).unwrap()["n"]
            .as_i64()
            .unwrap();
        let id = headers["ce-id"].to_str().unwrap().to_string();
        ids_per_n.entry(n).or_default().insert(id);
    }
    assert!(
        ids_per_n.values().all(|ids| ids.len() == 1),
        "{ids_per_n:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_survive_a_sigkill_and_replay_after_the_restart() {
    let receiver = Receiver::default();
    *receiver.failing.lock().unwrap() = true;
    let sink = start_receiver(receiver.clone()).await;
    let app = test_app(Some(sink));
    let mut server = Server::start(&app, &[], &[]);
    for n in 1..=2 {
        let answer = server
            .event(
                &format!("dl-{n}"),
                "jobs",
                "job.created",
                &[],
                json!({"a": n, "b": 0, "n": n}),
            )
            .await;
        assert_eq!(answer.status, 202, "{answer:?}");
    }
    let mut letters = Value::Null;
    for _ in 0..300 {
        letters = server.get("/dead-letters").await.body;
        if letters.as_array().is_some_and(|l| l.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(letters.as_array().map(Vec::len), Some(2), "{letters}");
    server.kill();

    let server = Server::start(&app, &[], &[]);
    let after = server.get("/dead-letters").await.body;
    assert_eq!(
        after, letters,
        "the dead letters survived the kill as they were"
    );
    let metrics = server.get("/metrics").await.text;
    assert!(metrics.contains("\nswirl_dead_letters 2\n"), "{metrics}");
    // The console's poll: the count, and a page of the oldest.
    let count = server.get("/dead-letter-count").await.body;
    assert_eq!(count, json!({ "count": 2 }));
    let oldest = server.get("/dead-letters?limit=1").await.body;
    assert_eq!(oldest, json!([after[0]]));
    assert_eq!(server.get("/dead-letters?limit=0").await.status, 400);
    assert!(metrics.contains("\nswirl_sink_queue 0\n"), "{metrics}");
    let letter = &after[0];
    assert_eq!(letter["sink"], format!("http://{sink}/in"));
    assert_eq!(letter["attempts"], 5);
    assert!(
        letter["lastError"].as_str().unwrap().contains("503"),
        "{letter}"
    );
    assert!(letter["queuedAt"].is_string() && letter["failedAt"].is_string());
    assert_eq!(letter["event"]["type"], "job.done");
    assert!(receiver.received.lock().unwrap().is_empty());

    // The sink is back: replay one, delete the other.
    *receiver.failing.lock().unwrap() = false;
    let (first, second) = (
        letter["id"].as_str().unwrap(),
        after[1]["id"].as_str().unwrap(),
    );
    let replayed = server
        .request("POST", &format!("/dead-letters/{first}/replay"), &[], "")
        .await;
    assert_eq!(replayed.status, 202, "{replayed:?}");
    wait_until("the replayed event arrived", || {
        receiver.received.lock().unwrap().len() == 1
    })
    .await;
    {
        let received = receiver.received.lock().unwrap();
        assert_eq!(
            received[0].0["ce-id"],
            letter["event"]["id"].as_str().unwrap()
        );
    }
    let deleted = server
        .request("DELETE", &format!("/dead-letters/{second}"), &[], "")
        .await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(server.get("/dead-letters").await.body, json!([]));
    let metrics = server.get("/metrics").await.text;
    assert!(metrics.contains("\nswirl_dead_letters 0\n"), "{metrics}");
    for (method, path) in [
        ("DELETE", format!("/dead-letters/{second}")),
        ("POST", format!("/dead-letters/{first}/replay")),
    ] {
        let again = server.request(method, &path, &[], "").await;
        assert_eq!(again.status, 404, "{again:?}");
        assert!(again.error().contains("GET /dead-letters"), "{again:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn workflow_actions_show_in_the_function_logs() {
    let app = test_app(None);
    let server = Server::start(&app, &[], &[]);
    let started = server
        .post_json(
            "/workflows/logged/instances?wait=true",
            json!({"message": "from a workflow"}),
        )
        .await;
    assert_eq!(started.status, 200, "{started:?}");
    assert_eq!(started.body["status"], "completed");
    let id = started.body["id"].as_str().unwrap();
    let logs = server.get("/functions/probe/logs").await.body;
    let invocation = &logs["invocations"][0];
    assert_eq!(invocation["instanceId"], id, "{logs}");
    assert_eq!(invocation["state"], "Log");
    assert_eq!(invocation["outcome"], "ok");
    let messages: Vec<&str> = invocation["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("from a workflow")),
        "{logs}"
    );
    let cli = swirl_tests::run(swirl_tests::swirl(app.path()).args([
        "logs",
        "probe",
        "--server",
        &server.url(),
    ]));
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert!(
        cli.stdout.contains(&format!("instance {id} state Log")),
        "{}",
        cli.stdout
    );
}

fn instance_count(metrics: &str, status: &str) -> u64 {
    series(metrics, &format!("swirl_instances{{status=\"{status}\"}}")) as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_instances_by_status_before_and_after_a_restart() {
    let app = test_app(None);
    let mut server = Server::start(&app, &[], &[]);
    for _ in 0..2 {
        let done = server
            .post_json(
                "/workflows/logged/instances?wait=true",
                json!({"message": "m"}),
            )
            .await;
        assert_eq!(done.body["status"], "completed", "{done:?}");
    }
    for order in ["o1", "o2"] {
        let answer = server
            .event(
                &format!("paid-{order}"),
                "shop",
                "order.paid",
                &[("orderid", order)],
                json!({}),
            )
            .await;
        assert_eq!(answer.status, 202, "{answer:?}");
    }
    let waiting = instances(&server, "orders").await;
    let cancelled = server
        .request(
            "POST",
            &format!("/instances/{}/cancel", waiting[0]["id"].as_str().unwrap()),
            &[],
            "",
        )
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let expect = |metrics: &str| {
        for (status, count) in [
            ("completed", 2),
            ("waiting", 1),
            ("cancelled", 1),
            ("running", 0),
            ("failed", 0),
        ] {
            assert_eq!(
                instance_count(metrics, status),
                count,
                "{status}:\n{metrics}"
            );
        }
    };
    expect(&server.get("/metrics").await.text);
    server.kill();
    let server = Server::start(&app, &[], &[]);
    expect(&server.get("/metrics").await.text);
}

/// The value of the series `series` (name and labels) in `metrics`.
pub(super) fn series(metrics: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_show_the_stores_size_entries_and_sync_latency() {
    let app = test_app(None);
    let server = Server::start(&app, &[], &[]);
    for _ in 0..3 {
        let done = server
            .post_json(
                "/workflows/logged/instances?wait=true",
                json!({"message": "m"}),
            )
            .await;
        assert_eq!(done.body["status"], "completed", "{done:?}");
    }
    let metrics = server.get("/metrics").await.text;
    assert_eq!(
        series(&metrics, "swirl_store_entries{tree=\"instances\"}"),
        3.0
    );
    assert!(series(&metrics, "swirl_store_entries{tree=\"history\"}") >= 3.0);
    assert_eq!(
        series(&metrics, "swirl_store_entries{tree=\"commits\"}"),
        0.0
    );
    assert!(series(&metrics, "swirl_store_disk_bytes{part=\"db\"}") > 0.0);
    // Each acknowledged instance waited for at least one durable flush.
    assert!(series(&metrics, "swirl_store_sync_seconds_count") >= 3.0);
    let p50 = series(&metrics, "swirl_store_sync_seconds{quantile=\"0.5\"}");
    let p99 = series(&metrics, "swirl_store_sync_seconds{quantile=\"0.99\"}");
    assert!(p50 > 0.0 && p99 >= p50, "p50 {p50}, p99 {p99}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_exclusive_state_collects_one_correlation_values_events() {
    let app = test_app(None);
    let server = Server::start(&app, &[], &[]);
    let send = |id: &'static str, ty: &'static str, applicant: &'static str, data: Value| {
        let server = &server;
        async move {
            let answer = server
                .event(id, "apply", ty, &[("applicantid", applicant)], data)
                .await;
            assert_eq!(answer.status, 202, "{answer:?}");
            answer.body
        }
    };
    // Parts of two applicants, interleaved; A-1's start its instance.
    let first = send("a1", "part.a", "A-1", json!({"scores": 1480})).await;
    let started = first["started"].as_array().unwrap().clone();
    assert_eq!(started.len(), 1, "{first}");
    let other = send("a2", "part.a", "A-2", json!({"scores": 1200})).await;
    assert_eq!(other["started"].as_array().unwrap().len(), 1, "{other}");
    let second = send("b1", "part.b", "A-1", json!({"letter": "strong"})).await;
    assert_eq!(second["delivered"], json!(started), "{second}");
    assert_eq!(second["started"], json!([]), "{second}");

    let id = started[0].as_str().unwrap();
    let record = server.wait_status(id, "completed").await;
    assert_eq!(record["output"]["scores"], 1480, "{record}");
    assert_eq!(record["output"]["letter"], "strong", "{record}");
    let all = instances(&server, "collect").await;
    assert_eq!(all.len(), 2, "{all:?}");
    let waiting: Vec<&Value> = all.iter().filter(|i| i["status"] == "waiting").collect();
    assert_eq!(waiting.len(), 1, "{all:?}");
    assert_eq!(waiting[0]["correlation"]["applicantid"], "A-2");
}
