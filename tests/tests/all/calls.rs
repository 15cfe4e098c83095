//! 1.0 HTTP calls against a stand-in service on loopback, through `swirl
//! run`: redirects followed hop by hop, and the app's
//! `allowed-outbound-hosts`, which a request, or a redirect hop, to another
//! host never passes (that host hears nothing).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use swirl_tests::{run, swirl};

/// A stand-in on loopback: `/pet` answers, `/moved` redirects to `/pet`,
/// `/away` to the same service under the name `localhost`; the counter
/// counts the requests that reached it under that name.
fn start_service() -> (u16, Arc<AtomicUsize>) {
    use axum::Json;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let by_localhost = Arc::new(AtomicUsize::new(0));
    let counted = by_localhost.clone();
    let app = axum::Router::new()
        .route(
            "/pet",
            get(move |headers: HeaderMap| async move {
                let name = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default();
                if name.starts_with("localhost") {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                Json(serde_json::json!({"name": "Milou"}))
            }),
        )
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/pet")]).into_response() }),
        )
        .route(
            "/away",
            get(move || async move {
                let elsewhere = format!("http://localhost:{port}/pet");
                (StatusCode::FOUND, [(header::LOCATION, elsewhere)]).into_response()
            }),
        );
    swirl_tests::serve_on_thread(listener, app);
    (port, by_localhost)
}

/// Runs a one-task workflow calling `endpoint` (with `redirect: true`)
/// under a manifest that allows `allowed`: its exit code, output and the
/// error on stderr's last line.
fn call(endpoint: &str, allowed: Option<&str>) -> (i32, Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let workflow = format!(
        "document: {{dsl: '1.0.3', namespace: default, name: fetch, version: '1.0.0'}}\n\
         do:\n  - getPet:\n      call: http\n      with:\n        method: get\n        \
         endpoint: {endpoint}\n        redirect: true\n"
    );
    std::fs::write(dir.path().join("fetch.yaml"), workflow).unwrap();
    let allowed = allowed
        .map(|hosts| format!("allowed-outbound-hosts = {hosts}\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.path().join("swirl.toml"),
        format!("[app]\nname = \"calls\"\nworkflows = [\"fetch.yaml\"]\n{allowed}"),
    )
    .unwrap();
    let result = run(swirl(dir.path()).args(["run", "swirl.toml", "fetch", "--data-dir", "data"]));
    let last_line = result.stderr.lines().last().unwrap_or_default();
    (
        result.code,
        serde_json::from_str(result.stdout.trim()).unwrap_or(Value::Null),
        serde_json::from_str(last_line).unwrap_or(Value::Null),
    )
}

#[test]
fn a_redirect_is_followed_to_an_allowed_host() {
    let (port, _) = start_service();
    let moved = format!("http://127.0.0.1:{port}/moved");
    for allowed in [None, Some(r#"["http://127.0.0.1:*"]"#)] {
        let (code, output, error) = call(&moved, allowed);
        assert_eq!(
            (code, &output["name"]),
            (0, &Value::from("Milou")),
            "{allowed:?}: {error}"
        );
    }
}

#[test]
fn a_host_the_app_does_not_allow_is_never_called() {
    let (port, by_localhost) = start_service();
    let allowed = format!(r#"["http://127.0.0.1:{port}"]"#);
    // Called directly, and reached by a redirect from an allowed host.
    for path in ["localhost:{port}/pet", "127.0.0.1:{port}/away"] {
        let endpoint = format!("http://{}", path.replace("{port}", &port.to_string()));
        let (code, _, error) = call(&endpoint, Some(&allowed));
        assert_eq!(code, 1, "{endpoint}: {error}");
        assert_eq!(error["status"], 403, "{endpoint}: {error}");
        assert!(
            error["type"].as_str().unwrap().ends_with("/authorization"),
            "{error}"
        );
        assert_eq!(error["instance"], "/do/0/getPet", "{error}");
        let detail = error["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("http://localhost:{port}"))
                && detail.contains("allowed-outbound-hosts"),
            "{detail}"
        );
    }
    assert_eq!(by_localhost.load(Ordering::SeqCst), 0);
    // The same host by the name the app allows is called.
    let (code, output, error) = call(
        &format!("http://localhost:{port}/pet"),
        Some(r#"["localhost:*"]"#),
    );
    assert_eq!(
        (code, &output["name"]),
        (0, &Value::from("Milou")),
        "{error}"
    );
    assert_eq!(by_localhost.load(Ordering::SeqCst), 1);
}

#[test]
fn a_bad_host_pattern_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("swirl.toml"),
        "[app]\nname = \"calls\"\nallowed-outbound-hosts = [\"https://example.com/api\"]\n",
    )
    .unwrap();
    let result = run(swirl(dir.path()).args(["validate", "swirl.toml"]));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result.stderr.contains("swirl.toml:3:")
            && result.stderr.contains("app.allowed-outbound-hosts[0]")
            && result.stderr.contains("without a path"),
        "{}",
        result.stderr
    );
}
