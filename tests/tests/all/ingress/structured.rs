//! Structured content mode (`application/cloudevents+json`), and requests
//! whose content type is no CloudEvents mode at all.

use serde_json::{Value, json};

use super::util::Server;

const STRUCTURED: (&str, &str) = ("content-type", "application/cloudevents+json");

fn event(extra: Value) -> Value {
    let mut event =
        json!({"specversion": "1.0", "id": "e1", "source": "/orders", "type": "order.created"});
    if let (Some(event), Value::Object(extra)) = (event.as_object_mut(), extra) {
        event.extend(extra);
    }
    event
}

fn body(value: &Value) -> String {
    value.to_string()
}

#[tokio::test]
async fn v10_with_extensions_and_json_data() {
    let server = Server::start().await;
    let sent = event(json!({
        "orderid": "o3", "priority": 2, "urgent": true, "ignored": null,
        "subject": "order/o3", "time": "2024-05-01T12:00:00Z",
        "data": {"total": 12},
    }));
    let answer = server.events(&[STRUCTURED], body(&sent)).await;
    assert_eq!(
        answer.events(),
        &vec![json!({
            "specversion": "1.0",
            "id": "e1",
            "source": "/orders",
            "type": "order.created",
            "subject": "order/o3",
            "time": "2024-05-01T12:00:00+00:00",
            "datacontenttype": null,
            "schema": null,
            "extensions": {"orderid": "o3", "priority": 2, "urgent": true},
            "data": {"total": 12},
            "data_error": null,
        })]
    );
}

#[tokio::test]
async fn v03_on_the_sink_path_with_parameters_and_odd_case() {
    let server = Server::start().await;
    let sent = json!({
        "specversion": "0.3", "id": "e2", "source": "/shop", "type": "order.paid",
        "schemaurl": "https://example.com/paid.json", "orderid": "o3",
        "datacontenttype": "application/json", "data": {"paid": true},
    });
    let content_type = (
        "content-type",
        "Application/CloudEvents+JSON; charset=UTF-8",
    );
    let event = server
        .post("/", &[content_type], body(&sent))
        .await
        .events()[0]
        .clone();
    assert_eq!(event["specversion"], "0.3");
    assert_eq!(event["schema"], "https://example.com/paid.json");
    assert_eq!(event["extensions"], json!({"orderid": "o3"}));
    assert_eq!(event["data"], json!({"paid": true}));
}

#[tokio::test]
async fn base64_data() {
    let server = Server::start().await;
    // `{"a":1}` in base64, declared as JSON.
    let sent = event(json!({"datacontenttype": "application/json", "data_base64": "eyJhIjoxfQ=="}));
    let event = server.events(&[STRUCTURED], body(&sent)).await.events()[0].clone();
    assert_eq!(event["data"], json!({"a": 1}));
}

#[tokio::test]
async fn bad_input() {
    let server = Server::start().await;
    let mut no_source = event(json!({}));
    no_source
        .as_object_mut()
        .map(|event| event.remove("source"));
    let cases: Vec<(String, &str)> = vec![
        (body(&no_source), "missing required attribute 'source'"),
        (
            body(&event(json!({"id": null}))),
            "missing required attribute 'id'",
        ),
        (
            body(&event(json!({"type": ""}))),
            "attribute 'type' must not be empty",
        ),
        (
            body(&event(json!({"source": 12}))),
            "attribute 'source' must be a string",
        ),
        (
            body(&event(json!({"specversion": 1.0}))),
            "attribute 'specversion' must be a string",
        ),
        (
            body(&event(json!({"specversion": "2.0"}))),
            "unknown spec version '2.0'; use '1.0' or '0.3'",
        ),
        (
            body(&event(json!({"Order_Id": "o3"}))),
            "attribute name 'Order_Id' breaks the naming rules; use only lower-case letters a-z and digits 0-9",
        ),
        (
            body(&event(json!({"orderid": {"nested": true}}))),
            "attribute 'orderid' must be a string, a boolean or an integer from -2147483648 to 2147483647",
        ),
        (
            body(&event(json!({"data": 1, "data_base64": "AA=="}))),
            "event has both 'data' and 'data_base64'; send only one of them",
        ),
        (
            body(&event(json!({"time": "2024-05-01"}))),
            "attribute 'time' must be an rfc 3339 timestamp such as 2024-05-01T12:00:00Z",
        ),
        ("[]".to_owned(), "an event must be a json object"),
        (
            "{\"id\": ".to_owned(),
            "request body is not valid json: EOF while parsing a value at line 1 column 7",
        ),
        (
            "".to_owned(),
            "request body is not valid json: EOF while parsing a value at line 1 column 0",
        ),
    ];
    for (sent, message) in cases {
        let answer = server.events(&[STRUCTURED], sent.clone()).await;
        assert_eq!((answer.status, answer.error()), (400, message), "{sent}");
        assert_eq!(answer.body.get("event"), None, "no index outside a batch");
    }
    assert_eq!(server.handled(), 0);
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let server = Server::start().await;
    let sent = body(&event(json!({})));
    let hint = "send binary mode (ce-specversion, ce-id, ce-source and ce-type headers), \
                structured mode (application/cloudevents+json) or batch mode (application/cloudevents-batch+json)";
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (
            vec![("content-type", "application/json")],
            format!(
                "request is not a cloudevent (content type 'application/json' and no ce- headers); {hint}"
            ),
        ),
        (
            vec![("content-type", "text/plain")],
            format!(
                "request is not a cloudevent (content type 'text/plain' and no ce- headers); {hint}"
            ),
        ),
        (
            vec![],
            format!("request is not a cloudevent (no content type and no ce- headers); {hint}"),
        ),
        (
            vec![("content-type", "application/cloudevents+avro")],
            "event format 'application/cloudevents+avro' is not supported; \
             use application/cloudevents+json or application/cloudevents-batch+json"
                .to_owned(),
        ),
    ];
    for (headers, message) in cases {
        let answer = server.events(&headers, sent.clone()).await;
        assert_eq!(
            (answer.status, answer.error()),
            (415, message.as_str()),
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn deeply_nested_json_is_a_clean_400() {
    let server = Server::start().await;
    let deep = format!(
        r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{}{}}}"#,
        "{\"a\":".repeat(100_000),
        "}".repeat(100_000)
    );
    let answer = server.events(&[STRUCTURED], deep).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer
            .error()
            .starts_with("request body is not valid json: recursion limit exceeded at line 1"),
        "{answer:?}"
    );

    // Nesting below the limit is fine.
    let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let sent =
        format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{nested}}}"#);
    let answer = server.events(&[STRUCTURED], sent).await;
    assert_eq!(answer.events().len(), 1);
}
