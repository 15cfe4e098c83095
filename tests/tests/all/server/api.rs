//! The admin API of a real server: instances, workflows, functions,
//! metrics, the OpenAPI document and graceful shutdown.

use serde_json::json;

use super::util::{Server, app, app_with, workflows};

/// Ids are not start times (event-started ids are hashes; `?id=` ids are
/// anything): pages list the newest start first, whatever the ids.
#[tokio::test(flavor = "multi_thread")]
async fn instances_are_listed_newest_first_across_pages() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    for id in ["c", "a", "d", "b"] {
        let started = server
            .post_json(
                &format!("/workflows/add/instances?id={id}"),
                json!({"a": 1, "b": 1}),
            )
            .await;
        assert_eq!(started.status, 201, "{started:?}");
        // Starts in one millisecond would be listed by id.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let mut listed = Vec::new();
    let mut path = "/instances?limit=3".to_string();
    loop {
        let page = server.get(&path).await;
        assert_eq!(page.status, 200, "{page:?}");
        for instance in page.body["instances"].as_array().unwrap() {
            listed.push(instance["id"].as_str().unwrap().to_string());
        }
        match page.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/instances?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(listed, ["b", "d", "a", "c"]);
    let bad = server.get("/instances?cursor=c").await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(
        bad.error().contains("cursor 'c' is not a nextCursor"),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn start_wait_get_history_list_and_idempotent_start() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);

    let waited = server
        .post_json(
            "/workflows/add/instances?wait=true",
            json!({"a": 2, "b": 3}),
        )
        .await;
    assert_eq!(waited.status, 200, "{waited:?}");
    assert_eq!(waited.body["status"], "completed");
    assert_eq!(waited.body["output"], json!({"a": 2, "b": 3, "sum": 5.0}));

    let started = server
        .post_json(
            "/workflows/add/instances?id=order-1",
            json!({"a": 1, "b": 1}),
        )
        .await;
    assert_eq!(started.status, 201, "{started:?}");
    assert_eq!(started.body["id"], "order-1");
    let again = server
        .post_json(
            "/workflows/add/instances?id=order-1&wait=true",
            json!({"a": 100, "b": 100}),
        )
        .await;
    assert_eq!(again.body["id"], "order-1");
    assert_eq!(again.body["output"]["sum"], json!(2.0), "{again:?}");

    let got = server.get("/instances/order-1").await;
    assert_eq!(got.body["workflowId"], "add");
    assert!(got.body["createdAt"].as_str().unwrap().ends_with('Z'));
    let history = server.get("/instances/order-1/history").await;
    let kinds: Vec<&str> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"actionFinished"), "{kinds:?}");

    let page = server
        .get("/instances?workflow=add&status=completed&limit=1")
        .await;
    assert_eq!(
        page.body["instances"].as_array().unwrap().len(),
        1,
        "{page:?}"
    );
    let cursor = page.body["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let next = server
        .get(&format!("/instances?workflow=add&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next.body["instances"].as_array().unwrap().len(), 1);
    assert_eq!(next.body["nextCursor"], json!(null));

    for (path, status, message) in [
        ("/instances/nope", 404, "no instance 'nope'"),
        ("/instances?status=sleepy", 400, "unknown status 'sleepy'"),
        (
            "/instances?limit=0",
            400,
            "limit must be a number from 1 to 1000",
        ),
        ("/workflows/nope", 404, "no workflow 'nope' is deployed"),
        ("/functions/nope", 404, "no function named 'nope'"),
        ("/nowhere", 404, "no route for GET /nowhere"),
    ] {
        let answer = server.get(path).await;
        assert_eq!(answer.status, status, "{path}: {answer:?}");
        assert!(answer.error().contains(message), "{path}: {answer:?}");
    }
    let bad = server
        .post_json("/workflows/add/instances", json!([1]))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.error().contains("must be a JSON object"), "{bad:?}");
    let bad = server
        .post_json("/workflows/add/instances?id=a/b", json!({}))
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    let bad = server
        .post_json("/workflows/add/instances?id=a%20b", json!({}))
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn suspend_resume_and_cancel_a_waiting_instance() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let paid = server
        .event("p1", "shop", "order.paid", &[("orderid", "o1")], json!({}))
        .await;
    let id = paid.body["started"][0].as_str().unwrap().to_string();
    server.wait_status(&id, "waiting").await;
    let suspended = server
        .request("POST", &format!("/instances/{id}/suspend"), &[], "")
        .await;
    assert_eq!(suspended.body["status"], "suspended", "{suspended:?}");
    let twice = server
        .request("POST", &format!("/instances/{id}/suspend"), &[], "")
        .await;
    assert_eq!(twice.status, 409, "{twice:?}");
    let resumed = server
        .request("POST", &format!("/instances/{id}/resume"), &[], "")
        .await;
    assert_eq!(resumed.body["status"], "waiting", "{resumed:?}");
    let cancelled = server
        .request("POST", &format!("/instances/{id}/cancel"), &[], "")
        .await;
    assert_eq!(cancelled.body["status"], "cancelled", "{cancelled:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_lists_its_live_instances_with_the_version_they_call() {
    let mut definitions = workflows();
    // A workflow that uses no function: its instances are no function's.
    definitions.push((
        "idle.json",
        json!({ "id": "idle", "version": "1.0", "states": [{ "name": "Idle", "type": "DELAY",
            "start": { "kind": "DEFAULT" }, "timeDelay": "PT1H", "end": { "kind": "DEFAULT" } }] }),
    ));
    let app = app_with(definitions, "");
    let server = Server::start(&app, &[], &[]);
    let done = server
        .post_json(
            "/workflows/add/instances?wait=true",
            json!({"a": 1, "b": 2}),
        )
        .await;
    assert_eq!(done.body["status"], "completed", "{done:?}");
    let idle = server
        .post_json("/workflows/idle/instances", json!({}))
        .await;
    assert_eq!(idle.status, 201, "{idle:?}");
    let mut live = Vec::new();
    for order in ["o1", "o2"] {
        let paid = server
            .event(
                order,
                "shop",
                "order.paid",
                &[("orderid", order)],
                json!({}),
            )
            .await;
        let id = paid.body["started"][0].as_str().unwrap().to_string();
        server.wait_status(&id, "waiting").await;
        live.push(id);
    }
    let suspended = server
        .request("POST", &format!("/instances/{}/suspend", live[0]), &[], "")
        .await;
    assert_eq!(suspended.body["status"], "suspended", "{suspended:?}");

    let probe = server.get("/functions/probe").await.body;
    let listed = server.get("/functions/probe/instances").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["count"], 2);
    let shown: Vec<(&str, &str, &str, i64)> = listed.body["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap(),
                i["status"].as_str().unwrap(),
                i["functionVersion"].as_str().unwrap(),
                i["functionNumber"].as_i64().unwrap(),
            )
        })
        .collect();
    let version = probe["version"].as_str().unwrap();
    assert_eq!(
        shown,
        [
            (live[1].as_str(), "waiting", version, 1),
            (live[0].as_str(), "suspended", version, 1),
        ],
        "newest first; neither the completed nor the idle instance"
    );
    let one = server.get("/functions/probe/instances?limit=1").await.body;
    assert_eq!(
        (
            one["count"].clone(),
            one["instances"].as_array().unwrap().len()
        ),
        (json!(2), 1)
    );
    let missing = server.get("/functions/nothing/instances").await;
    assert_eq!(missing.status, 404, "{missing:?}");
    let bad = server.get("/functions/probe/instances?limit=x").await;
    assert_eq!(bad.status, 400, "{bad:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn workflows_functions_logs_metrics_and_openapi() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let workflows = server.get("/workflows").await;
    let ids: Vec<&str> = workflows
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["add", "jobs", "orders"]);
    let definition = server.get("/workflows/orders").await;
    assert_eq!(
        definition.body["states"][0]["name"], "OnPaid",
        "{definition:?}"
    );
    let graph = server.get("/workflows/orders/graph").await;
    assert_eq!(
        graph.body,
        json!({ "id": "orders", "version": "1.0",
            "nodes": [
                { "id": "OnPaid", "type": "EVENT", "start": true, "waits": ["Paid"] },
                { "id": "OnShipped", "type": "EVENT", "start": false, "end": "success", "waits": ["Shipped"] }],
            "edges": [{ "from": "OnPaid", "to": "OnShipped", "kind": "transition" }] })
    );
    assert_eq!(server.get("/workflows/nope/graph").await.status, 404);
    // The source as the file has it, not the model's v0.1 JSON.
    let source = server.get("/workflows/orders/source").await;
    let written = super::util::workflows()
        .into_iter()
        .find(|(name, _)| *name == "orders.json")
        .unwrap()
        .1
        .to_string();
    assert_eq!(
        (&source.body["fileName"], &source.body["source"]),
        (&json!("orders.json"), &json!(written)),
        "{source:?}"
    );
    assert_eq!(source.body["version"].as_str().map(str::len), Some(16));
    let missing = server.get("/workflows/nope/source").await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(
        missing
            .error()
            .contains("deployed workflows: add, jobs, orders"),
        "{}",
        missing.error()
    );

    let invoked = server
        .post_json(
            "/functions/probe/invoke",
            json!({"action": "log", "message": "hi there"}),
        )
        .await;
    assert_eq!(invoked.status, 200, "{invoked:?}");
    let failed = server
        .post_json(
            "/functions/probe/invoke",
            json!({"action": "fail", "code": "Nope", "message": "no"}),
        )
        .await;
    assert_eq!(failed.status, 422, "{failed:?}");
    assert_eq!(failed.body["failure"]["code"], "Nope");
    let logs = server.get("/functions/probe/logs").await;
    let recent = logs.body["invocations"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0]["outcome"], "Nope", "newest first");
    let lines: Vec<&str> = recent[1]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(lines.iter().any(|l| l.contains("hi there")), "{lines:?}");

    let functions = server.get("/functions").await;
    assert_eq!(functions.body[0]["name"], "probe");
    let probe = server.get("/functions/probe").await;
    assert_eq!(probe.body["stats"]["invocations"], 2, "{probe:?}");

    let metrics = server.get("/metrics").await.text;
    for line in [
        "swirl_function_invocations_total{function=\"probe\",version=\"1\"} 2",
        "swirl_function_cold_starts_total{function=\"probe\",version=\"1\"}",
        "swirl_instances{status=\"running\"} 0",
        "swirl_events_accepted_total 0",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
    assert_eq!(server.get("/healthz").await.body, json!({"status": "ok"}));
    let openapi = server.get("/openapi.json").await;
    assert_eq!(openapi.body["openapi"], "3.0.3");
    assert!(openapi.body["paths"]["/events"]["post"].is_object());

    let counts = server.get("/instance-counts").await;
    assert_eq!(
        counts.body,
        json!({ "running": 0, "waiting": 0, "suspended": 0, "completed": 0, "failed": 0, "cancelled": 0 })
    );
    server
        .post_json("/workflows/orders/instances", json!({}))
        .await;
    server
        .post_json(
            "/workflows/add/instances?wait=true",
            json!({"a": 1, "b": 2}),
        )
        .await;
    server
        .post_json(
            "/workflows/add/instances?wait=true",
            json!({"a": 1, "b": 2}),
        )
        .await;
    let counts = server.get("/instance-counts").await;
    assert_eq!(counts.body["completed"], 2, "{counts:?}");
    assert_eq!(
        counts.body["waiting"].as_u64().unwrap() + counts.body["running"].as_u64().unwrap(),
        1,
        "{counts:?}"
    );

    let waiting = server
        .post_json(
            "/workflows/orders/instances?id=paid-later",
            json!({"note": "kept"}),
        )
        .await;
    assert_eq!(waiting.status, 201, "{waiting:?}");
    server.wait_status("paid-later", "waiting").await;
    let data = server.get("/instances/paid-later/data").await;
    assert_eq!(data.body["threads"][0]["state"], "OnPaid", "{data:?}");
    assert_eq!(
        data.body["threads"][0]["data"],
        json!({"note": "kept"}),
        "{data:?}"
    );
    let ended = server
        .post_json(
            "/workflows/add/instances?wait=true",
            json!({"a": 1, "b": 2}),
        )
        .await;
    let ended = server
        .get(&format!(
            "/instances/{}/data",
            ended.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ended.body["threads"], json!([]), "{ended:?}");
    assert_eq!(server.get("/instances/nope/data").await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_server_cleanly_and_state_survives() {
    let app = app("");
    let mut server = Server::start(&app, &[], &[]);
    let started = server
        .post_json(
            "/workflows/add/instances?id=keep&wait=true",
            json!({"a": 1, "b": 2}),
        )
        .await;
    assert_eq!(started.body["status"], "completed");
    assert_eq!(server.terminate(), Some(0), "{}", server.log());
    assert!(server.log().contains("store flushed"), "{}", server.log());
    let server = Server::start(&app, &[], &[]);
    let kept = server.get("/instances/keep").await;
    assert_eq!(kept.body["output"]["sum"], json!(3.0), "{kept:?}");
}

/// The log is for people and tools reading a file or a pipe: no colour
/// codes there, and values as plain fields rather than Rust's `Debug`.
#[tokio::test(flavor = "multi_thread")]
async fn the_log_off_a_terminal_is_plain_text() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    assert_eq!(server.get("/healthz").await.status, 200);
    let log = server.log();
    assert!(!log.contains('\u{1b}'), "colour codes in {log}");
    let deployed = log
        .lines()
        .find(|line| line.contains("deployed"))
        .unwrap_or_else(|| panic!("no deployed line in {log}"));
    assert!(deployed.contains("functions=probe@"), "{deployed}");
    assert!(deployed.contains("(new)"), "{deployed}");
    assert!(!deployed.contains("DeployedItem"), "{deployed}");
}
