//! The fast tier of the server: the admin API and the CloudEvents ingress
//! through [`swirl_server::app`], one request at a time with tower's
//! `oneshot`, no socket and no process. Everything behind the router is
//! real: the store is sled in a temporary directory (opening it costs
//! milliseconds; an in-memory stand-in for the admin reads would be a mock
//! of our own store), the engine and its run pool, the deployments. The
//! workflows make no function call, so no component is built; calls,
//! sockets, processes and crashes are the real tier's (`tests/tests/all/server`).

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use swirl_app::deployment::Deployments;
use swirl_engine::EngineConfig;
use swirl_server::auth::Tokens;
use swirl_server::{ServerConfig, ServerState, app};
use swirl_store::Store;
use tower::ServiceExt;

/// A v0.1 workflow: one state that adds a field.
const GREET: &str = r#"{ "id": "greet", "version": "1.0", "name": "greet",
  "states": [{ "name": "Greet", "type": "RELAY", "start": { "kind": "DEFAULT" },
    "inject": { "greeting": "hello" }, "end": { "kind": "DEFAULT" } }] }"#;

/// A 1.0 workflow: a sum by jq.
const SUM: &str = "document: { dsl: '1.0.0', namespace: fast, name: sum, version: '1.0.0' }
do:
  - add:
      set:
        sum: ${ .a + .b }
";

/// A 1.0 workflow that waits for an `order.paid` event with its order id.
const PAID: &str = "document: { dsl: '1.0.0', namespace: fast, name: paid, version: '1.0.0' }
do:
  - wait:
      listen:
        to:
          one:
            with: { type: order.paid, source: shop }
  - done:
      set:
        paid: true
";

/// A server over a fresh data directory with the three workflows deployed.
struct Fixture {
    router: Router,
    state: ServerState,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self::with_config(ServerConfig::default())
    }

    fn with_config(config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (name, text) in [
            ("greet.json", GREET),
            ("sum.yaml", SUM),
            ("paid.yaml", PAID),
        ] {
            std::fs::write(dir.path().join(name), text).expect("write a workflow");
        }
        let manifest =
            "[app]\nname = \"fast\"\nworkflows = [\"greet.json\", \"sum.yaml\", \"paid.yaml\"]\n";
        std::fs::write(dir.path().join("swirl.toml"), manifest).expect("write the manifest");
        let state = state(dir.path(), config);
        let router = app(state.clone());
        Fixture {
            router,
            state,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// GET `path`, and how many instance records the engine read for it;
    /// prints both with the time it took.
    async fn measured(&self, path: &str) -> (Answer, u64) {
        let engine = self.state.engine();
        let before = engine.records_read();
        let at = std::time::Instant::now();
        let answer = self.get(path).await;
        let read = engine.records_read() - before;
        eprintln!("GET {path}: {:?}, {read} records read", at.elapsed());
        (answer, read)
    }

    async fn post_json(&self, path: &str, body: Value) -> Answer {
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// A binary-mode CloudEvent.
    async fn event(&self, id: &str, kind: &str, data: Value) -> Answer {
        self.send(
            Request::post("/events")
                .header("ce-specversion", "1.0")
                .header("ce-id", id)
                .header("ce-source", "shop")
                .header("ce-type", kind)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(data.to_string()))
                .unwrap(),
        )
        .await
    }

    /// The instance once its status is `status` (runs finish on the run
    /// pool, after the answer that started them).
    async fn wait_status(&self, id: &str, status: &str) -> Value {
        for _ in 0..500 {
            let got = self.get(&format!("/instances/{id}")).await;
            if got.body["status"] == status {
                return got.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("instance {id} never became {status}");
    }
}

/// What the router answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
    body: Value,
}

/// The server's state as `swirl serve` builds it, over `dir`'s manifest.
fn state(dir: &Path, config: ServerConfig) -> ServerState {
    let data = dir.join("data");
    let store = Store::open(&data).expect("open the store");
    let host = Arc::new(
        swirl_app::app::host(
            &data,
            Arc::new(store.clone()),
            swirl_app::app::CompileLines::Log,
        )
        .expect("a host"),
    );
    let engine_config = EngineConfig {
        hold_outbox: true,
        ..EngineConfig::default()
    };
    let outbound = Arc::default();
    let engine =
        swirl_app::app::engine(&store, &host, &outbound, engine_config).expect("an engine");
    let deployments = Deployments::new(store.clone(), host.clone(), engine.clone(), outbound);
    let manifest = Deployments::load_manifest(&dir.join("swirl.toml")).expect("a manifest");
    deployments.deploy(&manifest).expect("deploy");
    engine.recover().expect("recover");
    ServerState::new(engine, host, store, deployments, &[manifest], config).expect("a state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_with_wait_answers_the_output_in_both_dialects() {
    let server = Fixture::new();
    let summed = server
        .post_json(
            "/workflows/sum/instances?wait=true",
            json!({"a": 2, "b": 3}),
        )
        .await;
    assert_eq!(summed.status, StatusCode::OK, "{summed:?}");
    assert_eq!(summed.body["status"], "completed", "{summed:?}");
    assert_eq!(summed.body["output"]["sum"], 5, "{summed:?}");

    let greeted = server
        .post_json(
            "/workflows/greet/instances?wait=true",
            json!({"name": "ada"}),
        )
        .await;
    assert_eq!(greeted.status, StatusCode::OK, "{greeted:?}");
    assert_eq!(
        greeted.body["output"],
        json!({"name": "ada", "greeting": "hello"}),
        "{greeted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_list_leaves_out_a_1_mb_input() {
    let server = Fixture::new();
    let big = json!({ "a": 1, "b": 2, "blob": "x".repeat(1 << 20) });
    let started = server
        .post_json("/workflows/sum/instances?id=big&wait=true", big)
        .await;
    assert_eq!(started.body["output"]["sum"], 3, "{}", started.status);
    let full = server.get("/instances").await;
    assert!(full.text.len() > 1 << 20, "the full view has the input");
    let summary = server.get("/instances?view=summary").await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.text);
    assert!(summary.text.len() < 1000, "{}", summary.text);
    let listed = &summary.body["instances"][0];
    assert_eq!(
        (&listed["id"], &listed["status"]),
        (&json!("big"), &json!("completed"))
    );
    assert!(
        listed.get("input").is_none() && listed.get("output").is_none(),
        "{listed}"
    );
    let bad = server.get("/instances?view=short").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("use full or summary"), "{}", bad.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ten_thousand_instances_a_list_page_and_the_counts_read_a_page_of_records() {
    const INSTANCES: usize = 10_000;
    let server = Fixture::new();
    let started = std::time::Instant::now();
    // Started 250 at a time, so that the starts share their flushes.
    for chunk in 0..INSTANCES / 250 {
        let mut starts = tokio::task::JoinSet::new();
        for i in 0..250 {
            let router = server.router.clone();
            let path = format!("/workflows/greet/instances?id=i-{:05}", chunk * 250 + i);
            starts.spawn(async move {
                let request = Request::post(path)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .unwrap();
                router.oneshot(request).await.expect("an answer").status()
            });
        }
        while let Some(status) = starts.join_next().await {
            assert_eq!(status.expect("a start"), StatusCode::CREATED);
        }
    }
    let counts = loop {
        let counts = server.get("/instance-counts").await;
        if counts.body["completed"] == INSTANCES {
            break counts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    eprintln!(
        "{INSTANCES} instances started and completed in {:?}",
        started.elapsed()
    );
    assert_eq!(counts.body["running"], 0, "{counts:?}");

    let (counts, read) = server.measured("/instance-counts").await;
    assert_eq!(counts.body["completed"], INSTANCES, "{counts:?}");
    assert_eq!(read, 0, "the counts read no record");

    let ids = |page: &Answer| -> Vec<String> {
        page.body["instances"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|instance| instance["id"].as_str().expect("an id").to_string())
            .collect()
    };
    let (first, read) = server.measured("/instances?limit=50").await;
    assert_eq!(read, 50, "one record read per instance listed");
    assert_eq!(ids(&first).len(), 50, "{:?}", first.body["nextCursor"]);
    let cursor = first.body["nextCursor"].as_str().expect("a next page");
    let (second, read) = server
        .measured(&format!("/instances?limit=50&cursor={cursor}"))
        .await;
    assert_eq!(read, 50);
    // The two pages are the first hundred of the whole list, newest first.
    let paged = [ids(&first), ids(&second)].concat();
    let at = std::time::Instant::now();
    let all = server
        .state
        .engine()
        .list(None, None)
        .expect("the whole list");
    eprintln!(
        "the whole list, as every page read it before: {:?}",
        at.elapsed()
    );
    let listed: Vec<String> = all
        .iter()
        .take(100)
        .map(|record| record.id.clone())
        .collect();
    assert_eq!(paged, listed);

    // A filter that matches nothing reads nothing.
    let (failed, read) = server.measured("/instances?status=failed").await;
    assert_eq!(ids(&failed), Vec::<String>::new(), "{failed:?}");
    assert_eq!(failed.body["nextCursor"], Value::Null, "{failed:?}");
    assert_eq!(read, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_by_id_is_idempotent_and_listed_with_its_history() {
    let server = Fixture::new();
    let first = server
        .post_json("/workflows/sum/instances?id=s-1", json!({"a": 1, "b": 1}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let again = server
        .post_json("/workflows/sum/instances?id=s-1", json!({"a": 1, "b": 1}))
        .await;
    assert!(again.status.is_success(), "{again:?}");
    assert_eq!(again.body["id"], "s-1", "{again:?}");

    let done = server.wait_status("s-1", "completed").await;
    assert_eq!(done["output"]["sum"], 2, "{done:?}");
    let listed = server.get("/instances?workflow=sum").await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    let ids: Vec<&str> = listed.body["instances"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|instance| instance["id"].as_str())
        .collect();
    assert_eq!(ids, ["s-1"], "one instance for two starts: {listed:?}");

    let history = server.get("/instances/s-1/history").await;
    assert_eq!(history.status, StatusCode::OK, "{history:?}");
    let kinds: Vec<&str> = history
        .body
        .as_array()
        .expect("history lines, oldest first")
        .iter()
        .filter_map(|line| line["kind"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"instanceStarted"), "{history:?}");
    assert_eq!(kinds.last(), Some(&"instanceCompleted"), "{history:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_say_what_is_wrong_and_change_nothing() {
    let server = Fixture::new();
    let unknown = server
        .post_json("/workflows/nope/instances", json!({}))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{unknown:?}");
    assert!(unknown.text.contains("nope"), "{unknown:?}");

    let malformed = server
        .send(
            Request::post("/workflows/sum/instances")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"a\": 1,"))
                .unwrap(),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST, "{malformed:?}");

    let no_type = server
        .send(
            Request::post("/events")
                .header("ce-specversion", "1.0")
                .header("ce-id", "e-1")
                .header("ce-source", "shop")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(no_type.status, StatusCode::BAD_REQUEST, "{no_type:?}");
    assert!(no_type.text.contains("type"), "{no_type:?}");

    let missing = server.get("/instances/absent").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
    let listed = server.get("/instances").await;
    assert_eq!(
        listed.body["instances"].as_array().map(Vec::len),
        Some(0),
        "nothing was started: {listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_wakes_the_waiting_instance_once() {
    let server = Fixture::new();
    let started = server
        .post_json("/workflows/paid/instances?id=o-1", json!({"order": 1}))
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    server.wait_status("o-1", "waiting").await;

    let delivered = server
        .event("ev-1", "order.paid", json!({"order": 1}))
        .await;
    assert!(delivered.status.is_success(), "{delivered:?}");
    let done = server.wait_status("o-1", "completed").await;
    assert_eq!(done["output"]["paid"], true, "{done:?}");

    // The same event id again is a duplicate: acknowledged, delivered to nobody.
    let second = server
        .post_json("/workflows/paid/instances?id=o-2", json!({"order": 2}))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
    server.wait_status("o-2", "waiting").await;
    let duplicate = server
        .event("ev-1", "order.paid", json!({"order": 1}))
        .await;
    assert!(duplicate.status.is_success(), "{duplicate:?}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let still = server.get("/instances/o-2").await;
    assert_eq!(still.body["status"], "waiting", "{still:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_instance_is_suspended_resumed_and_cancelled() {
    let server = Fixture::new();
    server
        .post_json("/workflows/paid/instances?id=w-1", json!({}))
        .await;
    server.wait_status("w-1", "waiting").await;
    for (action, status) in [
        ("suspend", "suspended"),
        ("resume", "waiting"),
        ("cancel", "cancelled"),
    ] {
        let acted = server
            .post_json(&format!("/instances/w-1/{action}"), json!({}))
            .await;
        assert!(acted.status.is_success(), "{action}: {acted:?}");
        server.wait_status("w-1", status).await;
    }
    let again = server.post_json("/instances/w-1/resume", json!({})).await;
    assert!(again.status.is_client_error(), "{again:?}");
    assert!(again.text.contains("cancelled"), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_guards_the_admin_api_only() {
    let server = Fixture::with_config(ServerConfig {
        tokens: Tokens {
            admin: Some("s3cret".into()),
            ingress: None,
        },
        ..ServerConfig::default()
    });
    let refused = server.get("/instances").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    let wrong = server
        .send(
            Request::get("/instances")
                .header(header::AUTHORIZATION, "Bearer guess")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
    let allowed = server
        .send(
            Request::get("/instances")
                .header(header::AUTHORIZATION, "Bearer s3cret")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{allowed:?}");
    // The ingress has its own token, unset here; the console's assets hold no data.
    let event = server.event("ev-9", "order.paid", json!({})).await;
    assert!(event.status.is_success(), "{event:?}");
    let console = server.get("/ui/").await;
    assert_eq!(console.status, StatusCode::OK, "{console:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_metrics_openapi_and_the_console_are_served() {
    let server = Fixture::new();
    let workflows = server.get("/workflows").await;
    assert_eq!(workflows.status, StatusCode::OK, "{workflows:?}");
    let mut ids: Vec<&str> = workflows
        .body
        .as_array()
        .expect("a list of workflows")
        .iter()
        .filter_map(|workflow| workflow["id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["greet", "paid", "sum"], "{workflows:?}");

    server
        .post_json(
            "/workflows/sum/instances?wait=true",
            json!({"a": 1, "b": 2}),
        )
        .await;
    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK, "{metrics:?}");
    assert!(
        metrics
            .text
            .contains("swirl_store_entries{tree=\"instances\"}"),
        "{}",
        metrics.text
    );

    let openapi = server.get("/openapi.json").await;
    assert_eq!(openapi.status, StatusCode::OK, "{openapi:?}");
    assert!(
        openapi.body["paths"]["/workflows/{id}/instances"].is_object(),
        "{openapi:?}"
    );

    let page = server.get("/ui/instances/anything").await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let missing = server.get("/no/such/route").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
}
