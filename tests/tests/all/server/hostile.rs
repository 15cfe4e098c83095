//! Hostile HTTP clients against a real server: slow headers and bodies,
//! oversized headers, more connections than the cap, huge batches and deep
//! JSON. Each case names the status and the message it expects, and the
//! server must answer a normal request afterwards.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::util::{Server, app};

/// Reads whatever the server sends until it closes the connection (or `limit` passes).
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(
        limit.saturating_sub(started.elapsed()),
        stream.read(&mut buffer),
    )
    .await
    {
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..n]);
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

/// This process's soft limit on open files (`ulimit -n`).
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(1024)
}

async fn healthy(server: &Server) {
    assert_eq!(server.get("/healthz").await.status, 200, "{}", server.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_headers_are_cut_at_the_header_timeout() {
    let app = app("");
    let server = Server::start(&app, &["--header-timeout", "1s"], &[]);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /events HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // One header byte every 200 ms would keep an idle timeout from ever firing.
    let trickle = async {
        for _ in 0..50 {
            if stream.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let started = Instant::now();
    trickle.await;
    let (_, _) = read_to_close(&mut stream, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a trickle of header bytes held the connection for {:?}",
        started.elapsed()
    );
    healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_body_is_408_at_the_body_timeout() {
    let app = app("");
    let server = Server::start(&app, &["--body-timeout", "1s"], &[]);
    for path in ["/events", "/workflows/add/instances"] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nce-specversion: 1.0\r\nce-id: slow\r\nce-source: jobs\r\nce-type: job.created\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"a\": 1"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let (answer, took) = read_to_close(&mut stream, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.contains("request body not received within 1s (--body-timeout)"),
            "{path}: {answer}"
        );
        assert!(took < Duration::from_secs(5), "{path}: {took:?}");
    }
    healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_too_many_headers_are_431() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let huge = "x".repeat(1024 * 1024);
    let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    for (case, headers) in [
        ("one 1 MiB header", format!("x-big: {huge}\r\n")),
        ("200 headers", many),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let request = format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{headers}\r\n");
        // The server may stop reading before the end: a failed write is fine.
        let _ = stream.write_all(request.as_bytes()).await;
        let (answer, _) = read_to_close(&mut stream, Duration::from_secs(10)).await;
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "{case}: {}",
            answer.chars().take(200).collect::<String>()
        );
    }
    healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_connections_meet_the_cap_with_503_and_the_server_recovers() {
    let app = app("");
    let server = Server::start(&app, &["--max-connections", "50"], &[]);
    // Hold the cap with idle connections that have sent a request's first line.
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Then 2,000 more at once (fewer if this process may not open that many
    // sockets): each is answered 503 and closed.
    let clients_count = 2000.min(open_files_limit().saturating_sub(200));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..clients_count {
        let addr = server.addr;
        clients.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.ok()?;
            let _ = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                .await;
            Some(read_to_close(&mut stream, Duration::from_secs(20)).await.0)
        });
    }
    let mut refused = 0;
    while let Some(answer) = clients.join_next().await {
        let answer = answer.unwrap().unwrap_or_default();
        if answer.starts_with("HTTP/1.1 503") {
            assert!(
                answer.contains("too many connections: the server holds at most 50 (--max-connections); retry later"),
                "{answer}"
            );
            refused += 1;
        }
    }
    assert!(
        clients_count >= 500 && refused >= clients_count * 95 / 100,
        "only {refused} of {clients_count} were answered 503"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_100000_tiny_events_is_413_naming_the_limit() {
    let app = app("");
    let server = Server::start(&app, &["--max-event-bytes", "20000000"], &[]);
    let batch: Vec<_> = (0..100_000)
        .map(|n| json!({"specversion": "1.0", "id": format!("t{n}"), "source": "s", "type": "t"}))
        .collect();
    let answer = server
        .request(
            "POST",
            "/events",
            &[("content-type", "application/cloudevents-batch+json")],
            serde_json::to_string(&batch).unwrap(),
        )
        .await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.error().contains("1000"), "{answer:?}");
    assert_eq!(
        server.get("/instances").await.body["instances"],
        json!([]),
        "a refused batch changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_json_in_admin_bodies_is_a_clean_400() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let object = format!("{{\"a\": {nested}}}");
    for path in ["/workflows/add/instances", "/functions/probe/invoke"] {
        let answer = server
            .request(
                "POST",
                path,
                &[("content-type", "application/json")],
                object.clone(),
            )
            .await;
        assert_eq!(answer.status, 400, "{path}: {answer:?}");
        assert!(
            answer
                .error()
                .starts_with("request body is not valid json: recursion limit exceeded"),
            "{path}: {answer:?}"
        );
    }
    healthy(&server).await;
}

/// A client that writes the whole body before it reads (Python's urllib
/// does) gets the 413 the server gave on the declared length alone, not a
/// reset: the server reads and drops the refused body before it closes.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_writes_a_refused_body_whole_reads_the_413() {
    let app = app("");
    let server = Server::start(
        &app,
        &[
            "--max-event-bytes",
            "65536",
            "--max-deploy-bytes",
            "1048576",
        ],
        &[],
    );
    // Far more than the socket buffers hold, so the body is still being
    // written when the answer comes.
    let body = vec![b'x'; 8 << 20];
    for (path, content_type) in [
        ("/events", "application/cloudevents+json"),
        ("/apps", "multipart/form-data; boundary=x"),
    ] {
        for attempt in 0..5 {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            if let Err(error) = stream.write_all(&body).await {
                panic!("{path}, attempt {attempt}: writing the body failed: {error}");
            }
            let (answer, _) = read_to_close(&mut stream, Duration::from_secs(10)).await;
            assert!(
                answer.starts_with("HTTP/1.1 413"),
                "{path}, attempt {attempt}: {answer}"
            );
        }
    }
    healthy(&server).await;
}
