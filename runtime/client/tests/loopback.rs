//! The client against a real axum server on loopback: what it sends, what
//! it reads back, and the errors it gives when the server is slow or gone.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{any, get};
use serde_json::{Value, json};
use swirl_client::{Client, Connection, Error, Request, blocking};

/// Echoes the request as JSON: method, path and query, the headers sent,
/// the body and the client's port (which tells connections apart).
async fn echo(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    // A header sent twice shows as its values joined by ", ".
    let mut joined = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap_or("?"))
            .collect();
        joined.insert(name.to_string(), json!(values.join(", ")));
    }
    let status = if uri.path() == "/missing" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let answer = json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "headers": joined,
        "body": String::from_utf8_lossy(&body),
        "port": peer.port(),
    });
    (status, [("x-echo", "yes")], answer.to_string())
}

/// A server on a free loopback port, on the current runtime.
async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/slow", get(|| tokio::time::sleep(Duration::from_secs(5))))
        .route("/{*path}", any(echo))
        .route("/", any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

#[tokio::test]
async fn a_request_arrives_whole_and_its_answer_comes_back() {
    let addr = server().await;
    let answer = Client::new()
        .send(
            Request::new("PUT", &format!("http://{addr}/things/1?x=y"))
                .header("ce-id", "a%20b")
                .header("ce-id", "second")
                .json(&json!({ "n": 1 })),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-echo"), Some("yes"));
    let echo: Value = answer.json().unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["uri"], "/things/1?x=y");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["headers"]["content-length"], "7");
    assert_eq!(echo["headers"]["host"], addr.to_string());
    assert_eq!(echo["body"], r#"{"n":1}"#);
    // A header given twice is sent twice.
    assert_eq!(echo["headers"]["ce-id"], "a%20b, second");
    assert!(answer.text().starts_with('{'));

    let missing = Client::new()
        .send(Request::get(&format!("http://{addr}/missing")))
        .await
        .unwrap();
    assert_eq!(missing.status, 404, "a refusal is an answer, not an error");
}

#[tokio::test]
async fn a_connection_carries_one_request_after_another() {
    let addr = server().await;
    let mut connection = Connection::open(&addr.to_string()).await.unwrap();
    let mut ports = Vec::new();
    for n in 0..3 {
        let answer = connection
            .send(Request::post(&format!("/events?n={n}")).body(format!("{n}")))
            .await
            .unwrap();
        let echo: Value = answer.json().unwrap();
        assert_eq!(echo["uri"], format!("/events?n={n}"));
        assert_eq!(echo["body"], format!("{n}"));
        assert_eq!(echo["headers"]["host"], addr.to_string());
        ports.push(echo["port"].as_u64().unwrap());
    }
    assert!(ports.windows(2).all(|p| p[0] == p[1]), "{ports:?}");
    // A second connection is another socket.
    let mut other = Connection::open(&addr.to_string()).await.unwrap();
    let echo: Value = other.send(Request::get("/")).await.unwrap().json().unwrap();
    assert_ne!(echo["port"].as_u64().unwrap(), ports[0]);
}

#[tokio::test]
async fn a_slow_answer_times_out_naming_the_url() {
    let addr = server().await;
    let url = format!("http://{addr}/slow");
    let started = Instant::now();
    let error = Client::new()
        .send(Request::get(&url).timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("no answer from {url} within 200ms")
    );

    let mut connection = Connection::open(&addr.to_string()).await.unwrap();
    let error = connection
        .send(Request::get("/slow").timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    // On a connection the request holds a path; the error names the server.
    assert_eq!(
        error.to_string(),
        format!("no answer from {url} within 200ms")
    );
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_connect_error_naming_the_address() {
    // A port that was free a moment ago and has no listener now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = Client::new()
        .send(Request::get(&format!("http://{addr}/status")))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("cannot connect to {addr}: ")),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");

    let error = Connection::open(&addr.to_string())
        .await
        .err()
        .expect("no connection");
    assert!(error.is_connect(), "{error:?}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[tokio::test]
async fn what_is_not_http_is_refused_before_sending_naming_the_url() {
    let addr = server().await;
    let client = Client::new();
    let url = format!("http://{addr}/x");
    for (request, url, reason) in [
        (
            Request::get(&url).header("bad name", "v"),
            url.as_str(),
            "'bad name' is not a header name",
        ),
        (
            Request::get(&url).header("x-a", "line\nbreak"),
            url.as_str(),
            "header x-a's value is not valid in HTTP",
        ),
        (
            Request::new("NOT A METHOD", &url),
            url.as_str(),
            "is not an HTTP method",
        ),
        (
            Request::get("http://exa mple/"),
            "http://exa mple/",
            "not a valid url",
        ),
    ] {
        let error = client.send(request).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("cannot send a request to '{url}': ")),
            "{text}"
        );
        assert!(text.contains(reason), "{text}");
    }
}

#[test]
fn the_blocking_client_works_outside_a_runtime_and_downloads_into_a_writer() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = runtime.block_on(server());
    let client = blocking::Client::new().unwrap();

    let answer = client
        .send(Request::get(&format!("http://{addr}/a")))
        .unwrap();
    assert_eq!(answer.json::<Value>().unwrap()["uri"], "/a");

    // A 2xx body goes to the writer, not the answer.
    let mut file = Vec::new();
    let answer = client
        .download(Request::get(&format!("http://{addr}/b")), &mut file)
        .unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.body.is_empty());
    let written: Value = serde_json::from_slice(&file).unwrap();
    assert_eq!(written["uri"], "/b");

    // Any other is read whole, and nothing is written.
    let mut file = Vec::new();
    let answer = client
        .download(Request::get(&format!("http://{addr}/missing")), &mut file)
        .unwrap();
    assert_eq!(answer.status, 404);
    assert!(file.is_empty());
    assert_eq!(answer.json::<Value>().unwrap()["uri"], "/missing");
}
