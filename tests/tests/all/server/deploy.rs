//! Deployments over HTTP (`POST /apps`, `swirl deploy`): versions pinned by
//! running instances across redeployments and restarts, bad deployments
//! refused whole, deletes.

use serde_json::{Value, json};
use swirl_tests::App;

use super::util::{Answer, Server, multipart};

/// A workflow started by a `run.start` event that calls `probe`, keeping
/// the version that answered as `version`, waits for the `run.go` event of
/// the same `runid`, and calls `probe` again: its output has the version of
/// the first call as `value` and that of the second as `version`.
pub(super) fn versioned_workflow() -> Value {
    let events = json!([
        { "name": "Start", "source": "tests", "type": "run.start", "correlationToken": "runid" },
        { "name": "Go", "source": "tests", "type": "run.go", "correlationToken": "runid" }
    ]);
    let first = json!({ "functionRef": { "refName": "probe", "parameters": { "action": "echo", "value": "first" } },
        "actionDataFilter": { "dataResultsPath": "$.version" } });
    let second = json!({ "functionRef": { "refName": "probe", "parameters": { "action": "echo", "value": "$.version" } } });
    json!({ "id": "versioned", "version": "1.0", "name": "versioned",
        "functions": [{ "name": "probe", "resource": "probe" }], "events": events,
        "states": [
            { "name": "Begin", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
              "eventsActions": [{ "eventRefs": ["Start"], "actions": [first] }],
              "transition": { "nextState": "Wait" } },
            { "name": "Wait", "type": "EVENT", "exclusive": true,
              "eventsActions": [{ "eventRefs": ["Go"], "actions": [second] }],
              "end": { "kind": "DEFAULT" } }
        ] })
}

/// The manifest of the test app, with `probe`'s `label` config set to `label`.
pub(super) fn manifest(label: &str) -> String {
    format!(
        "[app]\nname = \"deploy-test\"\nworkflows = [\"versioned.json\"]\n\n[functions.probe]\nsource = \"functions/probe.wasm\"\ntimeout = \"5s\"\nconfig = {{ label = \"{label}\" }}\n"
    )
}

/// An app directory holding the manifest (label `v1`), the probe component
/// and the workflow, as `swirl deploy` would find them.
pub(super) fn app_dir() -> App {
    let app = App::new(&manifest("v1"));
    std::fs::create_dir_all(app.path().join("functions")).unwrap();
    std::fs::copy(
        swirl_tests::guest("probe"),
        app.path().join("functions/probe.wasm"),
    )
    .unwrap();
    std::fs::write(
        app.path().join("versioned.json"),
        versioned_workflow().to_string(),
    )
    .unwrap();
    app
}

/// `POST /apps` with `manifest` text and the app's files, replaced or added by `files`.
pub(super) async fn deploy(
    server: &Server,
    app: &App,
    manifest: &str,
    files: &[(&str, Vec<u8>)],
) -> Answer {
    let mut parts = vec![("manifest", manifest.as_bytes().to_vec())];
    for name in ["functions/probe.wasm", "versioned.json"] {
        if !files.iter().any(|(file, _)| *file == name) {
            parts.push((name, std::fs::read(app.path().join(name)).unwrap()));
        }
    }
    parts.extend(files.iter().filter(|(_, bytes)| !bytes.is_empty()).cloned());
    let (content_type, body) = multipart(&parts);
    server
        .request("POST", "/apps", &[("content-type", &content_type)], body)
        .await
}

pub(super) async fn start_run(server: &Server, runid: &str) -> String {
    let answer = server
        .event(
            &format!("start-{runid}"),
            "tests",
            "run.start",
            &[("runid", runid)],
            json!({}),
        )
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    let id = answer.body["started"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{answer:?}"));
    server.wait_status(id, "waiting").await;
    id.to_string()
}

/// Sends `run.go` to the run; the versions of its first and second call.
pub(super) async fn finish_run(server: &Server, runid: &str, id: &str) -> (Value, Value) {
    let answer = server
        .event(
            &format!("go-{runid}"),
            "tests",
            "run.go",
            &[("runid", runid)],
            json!({}),
        )
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    let output = server.wait_status(id, "completed").await["output"].clone();
    (output["value"].clone(), output["version"].clone())
}

pub(super) fn item<'a>(answer: &'a Answer, kind: &str, name: &str) -> &'a Value {
    answer.body[kind]
        .as_array()
        .and_then(|items| items.iter().find(|item| item["name"] == name))
        .unwrap_or_else(|| panic!("no {kind} '{name}' in {answer:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn running_instances_keep_their_function_version_across_redeploys_and_restarts() {
    let app = app_dir();
    let mut server = Server::start_recorded(&app, &[]);
    let first = deploy(&server, &app, &manifest("v1"), &[]).await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(item(&first, "functions", "probe")["status"], "new");
    assert_eq!(item(&first, "workflows", "versioned")["status"], "new");
    let v1 = item(&first, "functions", "probe")["version"].clone();

    let again = deploy(&server, &app, &manifest("v1"), &[]).await;
    assert_eq!(
        item(&again, "functions", "probe")["status"],
        "unchanged",
        "{again:?}"
    );
    assert_eq!(item(&again, "functions", "probe")["version"], v1);

    let old = start_run(&server, "a").await;
    let second = deploy(&server, &app, &manifest("v2"), &[]).await;
    assert_eq!(second.status, 201, "{second:?}");
    assert_eq!(item(&second, "functions", "probe")["status"], "new");
    assert_eq!(
        item(&second, "workflows", "versioned")["status"],
        "unchanged"
    );
    let v2 = item(&second, "functions", "probe")["version"].clone();
    assert_ne!(v1, v2);
    let new = start_run(&server, "b").await;

    // Both wait; after a SIGKILL the server comes back from its data
    // directory alone, with v2 current and v1 loaded for the old instance.
    server.kill();
    let server = Server::start_recorded(&app, &[]);
    let function = server.get("/functions/probe").await;
    assert_eq!(function.body["version"], v2, "{function:?}");
    assert_eq!(function.body["config"]["label"], "v2", "{function:?}");
    assert_eq!(server.get("/workflows/versioned").await.status, 200);

    assert_eq!(
        finish_run(&server, "a", &old).await,
        (v1.clone(), v1.clone())
    );
    assert_eq!(
        finish_run(&server, "b", &new).await,
        (v2.clone(), v2.clone())
    );
    let echo = json!({ "action": "echo", "value": 1 });
    let older = server
        .post_json(
            &format!("/functions/probe/invoke?version={}", v1.as_str().unwrap()),
            echo.clone(),
        )
        .await;
    assert_eq!(older.body["output"]["version"], v1, "{older:?}");
    let current = server
        .post_json("/functions/probe/invoke", echo.clone())
        .await;
    assert_eq!(current.body["output"]["version"], v2, "{current:?}");
    let unknown = server
        .post_json("/functions/probe/invoke?version=nope", echo)
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let versions = server.get("/functions/probe").await.body["versions"].clone();
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_deployments_are_refused_whole_with_precise_messages() {
    let app = app_dir();
    let server = Server::start_recorded(&app, &[]);
    let good = deploy(&server, &app, &manifest("v1"), &[]).await;
    assert_eq!(good.status, 201, "{good:?}");
    let version = item(&good, "functions", "probe")["version"].clone();

    let toml_error = deploy(&server, &app, "[app]\nname = \n", &[]).await;
    assert_eq!(toml_error.status, 422, "{toml_error:?}");
    assert!(
        toml_error.body["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("swirl.toml:2:"),
        "{toml_error:?}"
    );

    let missing = deploy(
        &server,
        &app,
        &manifest("v2").replace("functions/probe.wasm", "functions/other.wasm"),
        &[],
    )
    .await;
    assert_eq!(missing.status, 422, "{missing:?}");
    let problem = missing.body["problems"][0].as_str().unwrap();
    assert!(
        problem.starts_with("swirl.toml:6:")
            && problem.contains("functions.probe.source")
            && problem.contains("cannot read functions/other.wasm"),
        "{problem}"
    );
    assert!(
        !missing.text.contains("swirl-upload"),
        "a server path leaked: {missing:?}"
    );

    let wrong_world = std::fs::read(swirl_tests::guest("wrong-world")).unwrap();
    let refused = deploy(
        &server,
        &app,
        &manifest("v2"),
        &[("functions/probe.wasm", wrong_world)],
    )
    .await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(
        refused.body["problems"][0]
            .as_str()
            .unwrap()
            .contains("functions/probe.wasm"),
        "{refused:?}"
    );

    let mut workflow = versioned_workflow();
    workflow["functions"][0]["resource"] = json!("nowhere");
    let invalid = deploy(
        &server,
        &app,
        &manifest("v2"),
        &[("versioned.json", workflow.to_string().into_bytes())],
    )
    .await;
    assert_eq!(invalid.status, 422, "{invalid:?}");
    assert!(
        invalid.body["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("versioned.json:"),
        "{invalid:?}"
    );

    // A part may climb out of the manifest's directory first, as the
    // examples' component paths do, but cannot be absolute or climb later.
    for name in ["/etc/escape.wasm", "functions/../../escape.wasm", ".."] {
        let (content_type, body) =
            multipart(&[("manifest", manifest("v2").into_bytes()), (name, vec![0])]);
        let escape = server
            .request("POST", "/apps", &[("content-type", &content_type)], body)
            .await;
        assert_eq!(escape.status, 400, "{name}: {escape:?}");
        assert!(escape.error().contains(&format!("'{name}'")), "{escape:?}");
    }
    let no_manifest = server
        .request(
            "POST",
            "/apps",
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(no_manifest.status, 400, "{no_manifest:?}");

    // Nothing of the refused deployments took: v1 is still current.
    let function = server.get("/functions/probe").await;
    assert_eq!(function.body["version"], version, "{function:?}");
    assert_eq!(function.body["config"]["label"], "v1");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_over_the_limit_gets_413() {
    let app = app_dir();
    let server = Server::start_recorded(&app, &["--max-deploy-bytes", "100000"]);
    let answer = deploy(&server, &app, &manifest("v1"), &[]).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.error().contains("100000"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn swirl_deploy_uploads_an_example_whose_components_live_outside_its_directory() {
    // examples/hello names its component ../../target/wasm32-wasip2/release/greet.wasm.
    swirl_tests::build_example_functions();
    let app = App::new("");
    let server = Server::start_recorded(&app, &[]);
    let url = format!("http://{}", server.addr);
    let hello = swirl_tests::workspace_root().join("examples/hello");
    let deployed = swirl_tests::run(swirl_tests::swirl(&hello).args([
        "deploy",
        "swirl.toml",
        "--json",
        "--server",
        &url,
    ]));
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    let report: Value = serde_json::from_str(&deployed.stdout).unwrap();
    assert_eq!(report["functions"][0]["name"], "greet", "{report}");
    let answer = server
        .post_json("/functions/greet/invoke", json!({"name": "World"}))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer.body.to_string().contains("Hello, World!"),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn swirl_deploy_uploads_an_app_and_prints_its_versions() {
    let app = app_dir();
    let server = Server::start_recorded(&app, &[]);
    let url = format!("http://{}", server.addr);
    let first = swirl_tests::run(swirl_tests::swirl(app.path()).args([
        "deploy",
        "swirl.toml",
        "--server",
        &url,
    ]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stdout.contains("function  probe") && first.stdout.contains("new"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("workflow  versioned"),
        "{}",
        first.stdout
    );
    let again = swirl_tests::run(swirl_tests::swirl(app.path()).args([
        "deploy",
        "swirl.toml",
        "--json",
        "--server",
        &url,
    ]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    let report: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(report["functions"][0]["status"], "unchanged", "{report}");

    // --build runs the build command on the client; the server gets its output.
    let built = manifest("v3").replace(
        "source = \"functions/probe.wasm\"",
        "source = \"functions/built.wasm\"\nbuild = \"cp functions/probe.wasm functions/built.wasm\"",
    );
    std::fs::write(app.manifest(), built).unwrap();
    let build = swirl_tests::run(swirl_tests::swirl(app.path()).args([
        "deploy",
        "swirl.toml",
        "--build",
        "--json",
        "--server",
        &url,
    ]));
    assert_eq!(build.code, 0, "{}", build.stderr);
    let report: Value = serde_json::from_str(&build.stdout).unwrap();
    assert_eq!(report["functions"][0]["status"], "new", "{report}");

    std::fs::write(
        app.manifest(),
        manifest("v1").replace("functions/probe.wasm", "functions/gone.wasm"),
    )
    .unwrap();
    let missing = swirl_tests::run(swirl_tests::swirl(app.path()).args([
        "deploy",
        "swirl.toml",
        "--server",
        &url,
    ]));
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("functions/gone.wasm"),
        "{}",
        missing.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_refuse_functions_in_use_and_last_across_restarts() {
    let app = app_dir();
    let mut server = Server::start_recorded(&app, &[]);
    let deployed = deploy(&server, &app, &manifest("v1"), &[]).await;
    assert_eq!(deployed.status, 201, "{deployed:?}");
    let v1 = item(&deployed, "functions", "probe")["version"].clone();
    let running = start_run(&server, "a").await;

    let in_use = server.request("DELETE", "/functions/probe", &[], "").await;
    assert_eq!(in_use.status, 409, "{in_use:?}");
    assert!(in_use.error().contains("versioned"), "{in_use:?}");

    let deleted = server
        .request("DELETE", "/workflows/versioned", &[], "")
        .await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    let start = server
        .post_json("/workflows/versioned/instances", json!({}))
        .await;
    assert_eq!(start.status, 404, "{start:?}");
    let by_event = server
        .event(
            "start-c",
            "tests",
            "run.start",
            &[("runid", "c")],
            json!({}),
        )
        .await;
    assert_eq!(by_event.body["started"], json!([]), "{by_event:?}");
    assert_eq!(
        server
            .request("DELETE", "/functions/probe", &[], "")
            .await
            .status,
        200
    );
    assert_eq!(server.get("/functions/probe").await.status, 404);

    // The running instance finishes on its versions, deleted or not.
    assert_eq!(finish_run(&server, "a", &running).await, (v1.clone(), v1));
    server.kill();
    let server = Server::start_recorded(&app, &[]);
    assert_eq!(server.get("/workflows/versioned").await.status, 404);
    assert_eq!(server.get("/functions/probe").await.status, 404);
    let missing = server
        .request("DELETE", "/workflows/versioned", &[], "")
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_deployed_over_http_delivers_to_its_sinks() {
    let receiver = super::sinks::Receiver::default();
    let addr = super::sinks::start_receiver(receiver.clone()).await;
    let app = app_dir();
    let server = Server::start_recorded(&app, &[]);
    let notify = json!({ "id": "notify", "version": "1.0", "name": "notify",
        "events": [
            { "name": "Ping", "source": "tests", "type": "run.ping" },
            { "name": "Pong", "source": "tests", "type": "run.pong" }
        ],
        "states": [
            { "name": "OnPing", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
              "eventsActions": [{ "eventRefs": ["Ping"], "actions": [] }],
              "end": { "kind": "EVENT", "produceEvent": { "nameRef": "Pong", "data": "$" } } }
        ] });
    let manifest = manifest("v1").replace(
        "workflows = [\"versioned.json\"]",
        "workflows = [\"versioned.json\", \"notify.json\"]",
    ) + &format!("\n[[sinks]]\nurl = \"http://{addr}/in\"\n");
    let deployed = deploy(
        &server,
        &app,
        &manifest,
        &[("notify.json", notify.to_string().into_bytes())],
    )
    .await;
    assert_eq!(deployed.status, 201, "{deployed:?}");
    assert_eq!(deployed.body["sinks"], json!([format!("http://{addr}/in")]));

    let ping = server
        .event("ping-1", "tests", "run.ping", &[], json!({ "n": 1 }))
        .await;
    assert_eq!(
        ping.body["started"].as_array().map(Vec::len),
        Some(1),
        "{ping:?}"
    );
    super::sinks::wait_until("the deployed sink got the produced event", || {
        !receiver.received.lock().unwrap().is_empty()
    })
    .await;
}

/// A workflow that starts every 200 ms and ends with `{"v": label}`.
fn ticker(label: &str) -> Vec<u8> {
    json!({ "id": "ticker", "version": "1.0", "name": "ticker",
        "states": [
            { "name": "Tick", "type": "RELAY", "start": { "kind": "SCHEDULED", "schedule": { "interval": "R/PT0.2S" } },
              "inject": { "v": label }, "end": { "kind": "DEFAULT" } }
        ] })
    .to_string()
    .into_bytes()
}

/// The labels of the ticker's completed instances, oldest first.
async fn ticks(server: &Server) -> Vec<String> {
    let page = server
        .get("/instances?workflow=ticker&status=completed&limit=1000")
        .await;
    let mut labels: Vec<String> = page.body["instances"]
        .as_array()
        .unwrap_or_else(|| panic!("{page:?}"))
        .iter()
        .map(|i| i["output"]["v"].as_str().unwrap_or_default().to_string())
        .collect();
    labels.reverse();
    labels
}

async fn wait_for_ticks(server: &Server, what: &str, done: impl Fn(&[String]) -> bool) {
    for _ in 0..100 {
        if done(&ticks(server).await) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what}: {:?}\n{}", ticks(server).await, server.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeating_schedule_starts_on_deploy_follows_redeploys_and_stops_on_delete() {
    let app = app_dir();
    let server = Server::start_recorded(&app, &[]);
    let manifest = manifest("v1").replace(
        "workflows = [\"versioned.json\"]",
        "workflows = [\"versioned.json\", \"ticker.json\"]",
    );
    let deployed = deploy(&server, &app, &manifest, &[("ticker.json", ticker("one"))]).await;
    assert_eq!(deployed.status, 201, "{deployed:?}");
    wait_for_ticks(&server, "the deployed schedule ticks", |t| t.len() >= 2).await;

    let redeployed = deploy(&server, &app, &manifest, &[("ticker.json", ticker("two"))]).await;
    assert_eq!(redeployed.status, 201, "{redeployed:?}");
    wait_for_ticks(&server, "the redeployed schedule ticks", |t| {
        t.iter().filter(|v| *v == "two").count() >= 2
    })
    .await;
    // The old definition's loop stopped: nothing of it after the new one's ticks.
    let after = ticks(&server).await;
    let first_two = after.iter().position(|v| v == "two").unwrap();
    assert!(after[first_two..].iter().all(|v| v == "two"), "{after:?}");

    let deleted = server.request("DELETE", "/workflows/ticker", &[], "").await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let at_delete = ticks(&server).await.len();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        ticks(&server).await.len(),
        at_delete,
        "ticks after the delete"
    );
}
