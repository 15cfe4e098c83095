//! The body limit: 413, whether the length is declared or not, and never
//! below the 64 KiB the specification asks consumers to accept.

use serde_json::json;
use swirl_server::ingress::IngressLimits;

use super::util::Server;

const LIMIT: usize = IngressLimits::MIN_BODY_BYTES;
const TOO_LARGE: &str =
    "request body is larger than the limit of 65536 bytes; send smaller events or split the batch";

/// A structured event of exactly `size` bytes.
fn event_of_size(size: usize) -> String {
    let empty = json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": ""})
        .to_string();
    let padding = "x".repeat(size - empty.len());
    json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": padding})
        .to_string()
}

#[tokio::test]
async fn a_body_at_the_limit_is_accepted() {
    // Asking for less than the minimum gets the minimum.
    let server = Server::with_limits(IngressLimits::new(1024, 10)).await;
    let sent = event_of_size(LIMIT);
    assert_eq!(sent.len(), LIMIT);
    let answer = server
        .events(&[("content-type", "application/cloudevents+json")], sent)
        .await;
    assert_eq!(answer.events().len(), 1);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_reading() {
    let server = Server::with_limits(IngressLimits::new(LIMIT, 10)).await;
    // No body follows the headers: the answer can only come from the header.
    let request = format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/cloudevents+json\r\nContent-Length: {}\r\n\r\n",
        LIMIT + 1
    );
    let answer = server.raw(request.as_bytes()).await;
    assert_eq!((answer.status, answer.error()), (413, TOO_LARGE));

    let request = "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                   ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\n\
                   Content-Length: 10000000000\r\n\r\n";
    let answer = server.raw(request.as_bytes()).await;
    assert_eq!((answer.status, answer.error()), (413, TOO_LARGE));
    assert_eq!(server.handled(), 0);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let server = Server::with_limits(IngressLimits::new(LIMIT, 10)).await;
    let sent = event_of_size(LIMIT + 1);
    let mut request = b"POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
        Content-Type: application/cloudevents+json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    // Several chunks, so the limit is crossed while reading.
    for chunk in sent.as_bytes().chunks(16 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = server.raw(&request).await;
    assert_eq!((answer.status, answer.error()), (413, TOO_LARGE));

    // The same body within the limit, chunked, is fine.
    let sent = event_of_size(1000);
    let request = format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/cloudevents+json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{sent}\r\n0\r\n\r\n",
        sent.len()
    );
    assert_eq!(server.raw(request.as_bytes()).await.events().len(), 1);
}

#[tokio::test]
async fn the_default_limit_is_one_mebibyte() {
    let server = Server::start().await;
    let request = format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/cloudevents-batch+json\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024 + 1
    );
    let answer = server.raw(request.as_bytes()).await;
    assert_eq!(answer.status, 413);
    assert_eq!(
        answer.error(),
        "request body is larger than the limit of 1048576 bytes; send smaller events or split the batch"
    );
    let sent = event_of_size(LIMIT * 2);
    let answer = server
        .events(&[("content-type", "application/cloudevents+json")], sent)
        .await;
    assert_eq!(answer.events().len(), 1);
}
