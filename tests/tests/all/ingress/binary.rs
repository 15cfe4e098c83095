//! Binary content mode: attributes in `ce-` headers, data in the body.

use serde_json::json;

use super::util::Server;

const V10: [(&str, &str); 4] = [
    ("ce-specversion", "1.0"),
    ("ce-id", "e1"),
    ("ce-source", "/orders"),
    ("ce-type", "order.created"),
];

/// Request headers, a body, and the error message expected for them.
type Case = (
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
);

fn headers_with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    V10.iter().chain(extra).copied().collect()
}

fn without(name: &str) -> Vec<(&'static str, &'static str)> {
    V10.iter()
        .filter(|(header, _)| *header != name)
        .copied()
        .collect()
}

#[tokio::test]
async fn v10_with_json_data_and_extensions() {
    let server = Server::start().await;
    let headers = headers_with(&[
        ("ce-orderid", "o3"),
        ("ce-time", "2024-05-01T12:00:00Z"),
        ("ce-subject", "order/o3"),
        ("ce-dataschema", "https://example.com/order.json"),
        ("content-type", "application/json; charset=utf-8"),
    ]);
    let answer = server
        .events(&headers, r#"{"total": 12, "items": [1, 2]}"#)
        .await;
    assert_eq!(
        answer.events(),
        &vec![json!({
            "specversion": "1.0",
            "id": "e1",
            "source": "/orders",
            "type": "order.created",
            "subject": "order/o3",
            "time": "2024-05-01T12:00:00+00:00",
            "datacontenttype": "application/json; charset=utf-8",
            "schema": "https://example.com/order.json",
            "extensions": {"orderid": "o3"},
            "data": {"total": 12, "items": [1, 2]},
            "data_error": null,
        })]
    );
    assert_eq!(server.handled(), 1);
}

#[tokio::test]
async fn v03_on_the_sink_path() {
    let server = Server::start().await;
    let headers = [
        ("ce-specversion", "0.3"),
        ("ce-id", "e2"),
        ("ce-source", "https://example.com/shop"),
        ("ce-type", "order.paid"),
        ("ce-schemaurl", "https://example.com/paid.json"),
        ("ce-orderid", "o3"),
        ("content-type", "application/json"),
    ];
    let answer = server.post("/", &headers, r#"{"paid": true}"#).await;
    let event = &answer.events()[0];
    assert_eq!(event["specversion"], "0.3");
    assert_eq!(event["schema"], "https://example.com/paid.json");
    assert_eq!(event["extensions"], json!({"orderid": "o3"}));
    assert_eq!(event["data"], json!({"paid": true}));
}

#[tokio::test]
async fn without_data() {
    let server = Server::start().await;
    let answer = server.events(&V10, "").await;
    assert_eq!(answer.events()[0]["data"], json!(null));
}

#[tokio::test]
async fn percent_encoded_and_quoted_values_are_decoded() {
    let server = Server::start().await;
    let headers = headers_with(&[
        ("ce-subject", "Euro%20%E2%82%AC%20%F0%9F%98%80"),
        ("ce-city", "M%C3%BCnchen"),
        ("ce-note", r#""a \"quoted\" value""#),
    ]);
    let event = server.events(&headers, "").await.events()[0].clone();
    assert_eq!(event["subject"], "Euro \u{20ac} \u{1f600}");
    assert_eq!(
        event["extensions"],
        json!({"city": "M\u{fc}nchen", "note": r#"a "quoted" value"#})
    );
}

#[tokio::test]
async fn non_json_data_is_kept_but_not_json() {
    let server = Server::start().await;
    let headers = headers_with(&[("content-type", "text/plain")]);
    let event = server.events(&headers, "hello").await.events()[0].clone();
    assert_eq!(event["data"], json!(null));
    assert_eq!(
        event["data_error"],
        "event data has content type 'text/plain', which is not json"
    );
}

#[tokio::test]
async fn bad_input() {
    let server = Server::start().await;
    let json = ("content-type", "application/json");
    let cases: Vec<Case> = vec![
        (
            without("ce-source"),
            "",
            "missing required attribute 'source'",
        ),
        (without("ce-id"), "", "missing required attribute 'id'"),
        (without("ce-type"), "", "missing required attribute 'type'"),
        (
            without("ce-specversion"),
            "",
            "missing required attribute 'specversion'",
        ),
        (
            vec![
                ("ce-specversion", "0.2"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            "",
            "unknown spec version '0.2'; use '1.0' or '0.3'",
        ),
        (
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", ""),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            "",
            "attribute 'id' must not be empty",
        ),
        (
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", ""),
            ],
            "",
            "attribute 'type' must not be empty",
        ),
        (
            headers_with(&[("ce-time", "yesterday")]),
            "",
            "attribute 'time' must be an rfc 3339 timestamp such as 2024-05-01T12:00:00Z",
        ),
        (
            headers_with(&[("ce-dataschema", "order.json")]),
            "",
            "attribute 'dataschema' must be an absolute uri",
        ),
        (
            headers_with(&[("ce-order.id", "o3")]),
            "",
            "header 'ce-order.id' breaks the attribute naming rules; after 'ce-' use only letters a-z and digits 0-9",
        ),
        (
            headers_with(&[("ce-orderid", "o3"), ("ce-orderid", "o4")]),
            "",
            "header 'ce-orderid' is repeated; send each attribute once",
        ),
        (
            headers_with(&[("ce-space", "%C0%A0")]),
            "",
            "header 'ce-space' is not a valid attribute value: its percent-encoded bytes are not valid utf-8",
        ),
        (
            headers_with(&[("ce-note", "a%0Ab")]),
            "",
            "header 'ce-note' is not a valid attribute value: it has control characters, which attribute values must not contain",
        ),
        (
            headers_with(&[json]),
            "{\"total\": ",
            "request body is not valid json: EOF while parsing a value at line 1 column 10",
        ),
    ];
    for (headers, body, message) in cases {
        let answer = server.events(&headers, body).await;
        assert_eq!(
            (answer.status, answer.error()),
            (400, message),
            "{headers:?}"
        );
        assert_eq!(
            answer.body.as_object().map(|body| body.len()),
            Some(1),
            "only 'error': {answer:?}"
        );
    }
    assert_eq!(server.handled(), 0);
}

#[tokio::test]
async fn header_names_are_case_insensitive_but_underscores_break_the_rules() {
    let server = Server::start().await;
    let answer = server
        .raw(
            b"POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\
              CE-SpecVersion: 1.0\r\nCe-Id: 1\r\nCE-Source: /s\r\nce-type: t\r\nCE-OrderId: o3\r\n\r\n",
        )
        .await;
    assert_eq!(answer.events()[0]["extensions"], json!({"orderid": "o3"}));

    let answer = server
        .raw(
            b"POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\
              ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\nce-Foo_Bar: x\r\n\r\n",
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error(),
        "header 'ce-foo_bar' breaks the attribute naming rules; after 'ce-' use only letters a-z and digits 0-9"
    );
}

/// The official SDKs' older APIs send values raw (`ce-subject: café 10%`):
/// UTF-8 is taken as it is and a `%` without two hex digits stays literal.
#[tokio::test]
async fn raw_values_of_the_sdks_are_accepted() {
    let server = Server::start().await;
    let mut request =
        b"POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\
        ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\nce-discount: 10% off\r\n"
            .to_vec();
    request
        .extend_from_slice("ce-subject: caf\u{e9} 10%\r\nce-city: M\u{fc}nchen\r\n\r\n".as_bytes());
    let answer = server.raw(&request).await;
    let event = &answer.events()[0];
    assert_eq!(event["subject"], "caf\u{e9} 10%");
    assert_eq!(
        event["extensions"],
        json!({"city": "M\u{fc}nchen", "discount": "10% off"})
    );
}

/// Raw bytes that are not UTF-8 are ISO-8859-1, as Python's `http.client`
/// and `fetch` send `café`; its C1 controls are refused, naming the header.
#[tokio::test]
async fn raw_iso_8859_1_is_read_as_such() {
    let server = Server::start().await;
    let request = |header: &[u8]| {
        let mut request =
            b"POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\
            ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\n"
                .to_vec();
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n\r\n");
        request
    };
    let answer = server.raw(&request(b"ce-city: M\xfcnchen")).await;
    assert_eq!(
        answer.events()[0]["extensions"],
        json!({"city": "M\u{fc}nchen"})
    );

    let answer = server.raw(&request(b"ce-city: a\x85b")).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(
        answer.error(),
        "header 'ce-city' is not a valid attribute value: it has control characters, which attribute values must not contain"
    );
}

#[tokio::test]
async fn deeply_nested_json_data_is_a_clean_400() {
    let server = Server::start().await;
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let answer = server
        .events(&headers_with(&[("content-type", "application/json")]), deep)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error(),
        "request body is not valid json: recursion limit exceeded at line 1 column 128"
    );
    // The server is still there.
    assert_eq!(server.events(&V10, "").await.status, 200);
}
