//! Functions in Python and JavaScript through the real host: real
//! components built with componentize-py and componentize-js from
//! `tests/lang-guests/`, their SDKs in `guest-sdk/`, and real sled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use swirl_function::{Call, FunctionHost, FunctionLimits, FunctionSpec, HostConfig, LogStream};
use swirl_store::Store;
use swirl_tests::lang::{self, Lang};

use crate::server::{self, util::Server};

struct Host {
    host: FunctionHost,
    _dir: tempfile::TempDir,
}

fn host(lang: Lang) -> Host {
    let guest = match lang {
        Lang::Python => "python-probe",
        Lang::JavaScript => "js-probe",
    };
    let source = lang::build(
        lang,
        &swirl_tests::workspace_root()
            .join("tests/lang-guests")
            .join(guest),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let host = FunctionHost::new(
        HostConfig::new(swirl_tests::shared_code_cache()),
        Arc::new(store),
    )
    .unwrap();
    host.deploy(FunctionSpec {
        name: "probe".to_string(),
        wasm: std::fs::read(&source).unwrap().into(),
        source_stamp: None,
        content_hash: None,
        source,
        limits: FunctionLimits {
            timeout: Duration::from_secs(2),
            memory: 128 * 1024 * 1024,
            ..FunctionLimits::default()
        },
        config: BTreeMap::from([("GREETING".to_string(), "Hej".to_string())]),
    })
    .unwrap();
    Host { host, _dir: dir }
}

impl Host {
    fn call(&self, input: Value) -> swirl_function::Invocation {
        self.host
            .invoke("probe", Call::new(input.to_string()))
            .unwrap()
    }

    fn ok(&self, input: Value) -> Value {
        let output = self
            .call(input.clone())
            .outcome
            .unwrap_or_else(|failure| panic!("{input} failed: {failure}"));
        serde_json::from_slice(&output).unwrap()
    }

    fn failure(&self, input: Value) -> (String, String, Option<Value>) {
        let failure = self
            .call(input.clone())
            .outcome
            .expect_err("the call should fail");
        (failure.code, failure.message, failure.details)
    }
}

/// Calls, config, context, logs (the SDK's and console/print), kv across
/// calls, emit and named failures: what both SDKs give.
fn the_sdk_gives_what_the_rust_one_does(lang: Lang) {
    let host = host(lang);
    let greeted = host.call(json!({"action": "greet", "name": "Ada"}));
    let output: Value = serde_json::from_slice(greeted.outcome.as_ref().unwrap()).unwrap();
    assert_eq!(
        output,
        json!({"message": "Hej, Ada!", "function": "probe", "attempt": 1, "missing": null})
    );
    let logs: Vec<(LogStream, &str)> = greeted
        .logs
        .iter()
        .map(|line| (line.stream, line.message.as_str()))
        .collect();
    assert_eq!(
        logs,
        [
            (LogStream::Stdout, "printing for Ada"),
            (LogStream::Host, "a warning")
        ]
    );

    assert_eq!(host.ok(json!({"action": "count"})), 1);
    assert_eq!(host.ok(json!({"action": "count"})), 2);
    assert_eq!(host.ok(json!({"action": "forget"})), Value::Null);
    assert_eq!(host.ok(json!({"action": "count"})), 1);

    let emitted = host.call(json!({"action": "emit"})).emitted;
    assert_eq!(emitted.len(), 1);
    let event = &emitted[0];
    assert_eq!(event.source, "/functions/probe");
    assert_eq!(event.subject.as_deref(), Some("o-1"));
    assert_eq!(event.extensions, [("tenant".to_string(), "t1".to_string())]);
    assert!(event.event_type.starts_with("order."));

    let (code, message, details) = host.failure(json!({"action": "fail"}));
    assert_eq!(
        (code.as_str(), message.as_str(), details),
        ("OutOfStock", "no more widgets", Some(json!({"sku": "w-1"})))
    );
    let not_json = host
        .host
        .invoke("probe", Call::new("{not json"))
        .unwrap()
        .outcome
        .expect_err("input that is not JSON fails");
    assert_eq!(
        not_json.code, "SYS.InvalidParameter",
        "{}",
        not_json.message
    );
}

#[test]
fn python_functions_get_the_sdk() {
    the_sdk_gives_what_the_rust_one_does(Lang::Python);
}

#[test]
fn javascript_functions_get_the_sdk() {
    the_sdk_gives_what_the_rust_one_does(Lang::JavaScript);
}

#[test]
fn an_uncaught_exception_is_sys_fail_naming_it() {
    let (code, message, _) = host(Lang::Python).failure(json!({"action": "raise", "zero": 0}));
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("SYS.Fail", "uncaught ZeroDivisionError: division by zero")
    );
    let (code, message, _) = host(Lang::JavaScript).failure(json!({"action": "throw"}));
    assert_eq!(code, "SYS.Fail");
    assert!(message.starts_with("uncaught TypeError: "), "{message}");
}

/// A loop times out and a memory bomb stops at the limit; the function
/// answers the next call either way.
fn loops_and_memory_bombs_are_contained(lang: Lang) {
    let host = host(lang);
    let (code, message, _) = host.failure(json!({"action": "loop"}));
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("SYS.Timeout", "call timed out after 2s")
    );
    let (code, message, _) = host.failure(json!({"action": "bomb"}));
    assert_eq!(code, "SYS.Fail", "{message}");
    assert_eq!(host.ok(json!({"action": "count"})), 1);
}

#[test]
fn python_loops_and_memory_bombs_are_contained() {
    loops_and_memory_bombs_are_contained(Lang::Python);
}

#[test]
fn javascript_loops_and_memory_bombs_are_contained() {
    loops_and_memory_bombs_are_contained(Lang::JavaScript);
}

#[test]
fn python_opening_a_file_is_a_permission_failure_and_the_root_is_empty() {
    let host = host(Lang::Python);
    let (code, message, _) = host.failure(json!({"action": "open", "path": "/etc/passwd"}));
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "SYS.Permission",
            "the function tried to open '/etc/passwd'; functions have no filesystem access"
        )
    );
    assert_eq!(host.ok(json!({"action": "listdir"})), json!([]));
}

#[test]
fn javascript_fetch_is_a_permission_failure_and_clocks_and_random_work() {
    let host = host(Lang::JavaScript);
    let (code, message, _) = host.failure(json!({"action": "fetch"}));
    assert_eq!(code, "SYS.Permission");
    assert!(
        message.starts_with("the function called 'wasi:http/"),
        "{message}"
    );
    // Not frozen at build time: the clock reads now, random differs per call.
    let first = host.ok(json!({"action": "clock"}));
    let second = host.ok(json!({"action": "clock"}));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    assert!(
        (first["now"].as_f64().unwrap() - now).abs() < 60_000.0,
        "{first}"
    );
    assert_ne!(first["random"], second["random"]);
}

/// Waits until the server's log has `line`; panics with the log after a minute.
async fn wait_for_log(server: &Server, line: &str) {
    for _ in 0..2400 {
        if server.log().contains(line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server never logged '{line}':\n{}", server.log());
}

/// A request that must not wait for the held compile: a hang fails the
/// test rather than the test waiting forever.
async fn unheld<T>(
    what: &str,
    server: &Server,
    request: impl std::future::Future<Output = T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(120), request)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what} waited for the Python function's compile:\n{}",
                server.log()
            )
        })
}

/// What another app does while the Python compile is held: deploy, start
/// a workflow, call a function, list functions.
async fn the_rust_app_is_served(server: &Server, deploy: &(String, Vec<u8>)) {
    let started = unheld(
        "a start",
        server,
        server.post_json(
            "/workflows/add/instances?wait=true",
            json!({"a": 2, "b": 3}),
        ),
    )
    .await;
    assert_eq!(started.status, 200, "{started:?}");
    assert_eq!(started.body["output"]["sum"], 5.0, "{started:?}");
    let called = unheld(
        "a function call",
        server,
        server.post_json(
            "/functions/probe/invoke",
            json!({"action": "echo", "value": 1}),
        ),
    )
    .await;
    assert_eq!(called.status, 200, "{called:?}");
    let listed = unheld("the function list", server, server.get("/functions")).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let (content_type, body) = deploy;
    let deployed = unheld(
        "another app's deployment",
        server,
        server.request(
            "POST",
            "/apps",
            &[("content-type", content_type)],
            body.clone(),
        ),
    )
    .await;
    assert_eq!(deployed.status, 201, "{deployed:?}");
}

/// A Python function's compile takes seconds: it is logged when it starts
/// and ends, and other apps are deployed, started and called meanwhile,
/// both when it is deployed over HTTP and when a restarted server (with
/// its code cache gone, as after an upgrade) loads it again. The compile is
/// held at the `compile` failpoint until the test has done its part.
#[tokio::test(flavor = "multi_thread")]
async fn a_python_compile_holds_up_no_other_app() {
    let python = lang::build(
        Lang::Python,
        &swirl_tests::workspace_root().join("tests/lang-guests/python-probe"),
    );
    let app = server::util::app("");
    let hold = app.path().join("hold");
    std::fs::write(&hold, "").unwrap();
    let hold_env = [
        ("SWIRL_FAILPOINT", "compile"),
        ("SWIRL_FAILPOINT_HOLD", hold.to_str().unwrap()),
    ];
    let server = Server::start(&app, &[], &hold_env);
    let python_app = server::util::multipart(&[
        (
            "manifest",
            b"[app]\nname = \"scores\"\n\n[functions.py]\nsource = \"py.wasm\"\nmemory = \"128MiB\"\n"
                .to_vec(),
        ),
        ("py.wasm", std::fs::read(&python).unwrap()),
    ]);
    let other_app = |name: &str| {
        server::util::multipart(&[
            (
                "manifest",
                format!("[app]\nname = \"{name}\"\n\n[functions.other]\nsource = \"other.wasm\"\n")
                    .into_bytes(),
            ),
            (
                "other.wasm",
                std::fs::read(swirl_tests::guest("probe")).unwrap(),
            ),
        ])
    };

    let deploying = {
        let (addr, (content_type, body)) = (server.addr, python_app.clone());
        tokio::spawn(async move {
            server::util::request(
                addr,
                "POST",
                "/apps",
                &[("content-type", &content_type)],
                body.into(),
            )
            .await
        })
    };
    wait_for_log(&server, "compiling function py (").await;
    the_rust_app_is_served(&server, &other_app("other-1")).await;
    assert!(!deploying.is_finished(), "the compile is held");
    assert!(!server.log().contains("compiled function py"));
    std::fs::remove_file(&hold).unwrap();
    let deployed = deploying.await.unwrap();
    assert_eq!(deployed.status, 201, "{deployed:?}");
    assert!(
        server.log().contains("compiled function py ("),
        "{}",
        server.log()
    );

    // Restarted without its code cache: the server listens at once, and
    // loads the recorded functions in the background.
    let mut server = server;
    server.terminate();
    std::fs::remove_dir_all(app.data_dir().join("cache")).unwrap();
    std::fs::write(&hold, "").unwrap();
    let mut command = swirl_tests::swirl(app.path());
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
        .env("SWIRL_LOG", "info")
        .envs(hold_env);
    let server = Server::spawn(command);
    wait_for_log(&server, "compiling function py (").await;
    the_rust_app_is_served(&server, &other_app("other-2")).await;
    let python_call = {
        let addr = server.addr;
        tokio::spawn(async move {
            server::util::request(
                addr,
                "POST",
                "/functions/py/invoke",
                &[("content-type", "application/json")],
                json!({"action": "count"}).to_string().into(),
            )
            .await
        })
    };
    assert!(!python_call.is_finished(), "the compile is held");
    std::fs::remove_file(&hold).unwrap();
    let called = python_call.await.unwrap();
    assert_eq!(called.status, 200, "{called:?}");
    assert_eq!(called.body["output"], 1, "{called:?}");
    assert!(
        server.log().contains("compiled function py ("),
        "{}",
        server.log()
    );
}
