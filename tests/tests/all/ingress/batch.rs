//! Batch content mode (`application/cloudevents-batch+json`): all of a
//! batch's events, or none.

use serde_json::{Value, json};
use swirl_server::ingress::IngressLimits;

use super::util::Server;

const BATCH: (&str, &str) = ("content-type", "application/cloudevents-batch+json");

fn event(id: &str, orderid: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/orders", "type": "order.created", "orderid": orderid, "data": {"n": id}})
}

#[tokio::test]
async fn yields_every_event_in_order() {
    let server = Server::start().await;
    let sent = json!([event("1", "o1"), event("2", "o2"), event("3", "o3")]);
    let answer = server.events(&[BATCH], sent.to_string()).await;
    let events = answer.events();
    assert_eq!(events.len(), 3);
    for (event, n) in events.iter().zip(["1", "2", "3"]) {
        assert_eq!(event["id"], n);
        assert_eq!(event["extensions"], json!({"orderid": format!("o{n}")}));
        assert_eq!(event["data"], json!({"n": n}));
    }
}

#[tokio::test]
async fn v03_batch_and_empty_batch() {
    let server = Server::start().await;
    let sent = json!([
        {"specversion": "0.3", "id": "1", "source": "/s", "type": "t"},
        {"specversion": "0.3", "id": "2", "source": "/s", "type": "t", "datacontenttype": "text/plain", "data": "hi"},
    ]);
    let answer = server.post("/", &[BATCH], sent.to_string()).await;
    assert_eq!(answer.events().len(), 2);
    assert_eq!(answer.events()[1]["specversion"], "0.3");
    assert_eq!(server.events(&[BATCH], "[]").await.events().len(), 0);
}

#[tokio::test]
async fn one_bad_event_refuses_the_whole_batch() {
    let server = Server::start().await;
    let mut bad = event("4", "o4");
    bad.as_object_mut().map(|event| event.remove("source"));
    let sent = json!([
        event("1", "o1"),
        event("2", "o2"),
        event("3", "o3"),
        bad,
        event("5", "o5")
    ]);
    let answer = server.events(&[BATCH], sent.to_string()).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        json!({"error": "missing required attribute 'source'", "event": 3})
    );
    assert_eq!(
        server.handled(),
        0,
        "nothing of the batch reached the handler"
    );
}

#[tokio::test]
async fn bad_batches() {
    let server = Server::start().await;
    let cases: Vec<(String, Value)> = vec![
        (event("1", "o1").to_string(), json!({"error": "a batch must be a json array of events"})),
        (
            json!([event("1", "o1"), "not an event"]).to_string(),
            json!({"error": "an event must be a json object", "event": 1}),
        ),
        (
            json!([event("1", "o1"), {"specversion": "0.3", "id": "2", "source": "/s", "type": "t"}]).to_string(),
            json!({
                "error": "spec version '0.3' differs from '1.0' of the batch's first event; all events of a batch must have the same spec version",
                "event": 1,
            }),
        ),
        (
            json!([event("1", "o1"), event("", "o2")]).to_string(),
            json!({"error": "attribute 'id' must not be empty", "event": 1}),
        ),
        (
            json!([{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "ce_bad": 1}]).to_string(),
            json!({"error": "attribute name 'ce_bad' breaks the naming rules; use only lower-case letters a-z and digits 0-9", "event": 0}),
        ),
        (
            "[{\"id\": 1},".to_owned(),
            json!({"error": "request body is not valid json: EOF while parsing a value at line 1 column 11"}),
        ),
    ];
    for (sent, expected) in cases {
        let answer = server.events(&[BATCH], sent.clone()).await;
        assert_eq!((answer.status, &answer.body), (400, &expected), "{sent}");
    }
    assert_eq!(server.handled(), 0);
}

#[tokio::test]
async fn too_many_events_is_413() {
    let server =
        Server::with_limits(IngressLimits::new(IngressLimits::DEFAULT_BODY_BYTES, 5)).await;
    let five: Vec<Value> = (0..5).map(|n| event(&n.to_string(), "o")).collect();
    assert_eq!(
        server
            .events(&[BATCH], Value::from(five.clone()).to_string())
            .await
            .events()
            .len(),
        5
    );
    let six: Vec<Value> = (0..6).map(|n| event(&n.to_string(), "o")).collect();
    let answer = server.events(&[BATCH], Value::from(six).to_string()).await;
    assert_eq!(answer.status, 413);
    assert_eq!(
        answer.error(),
        "batch has 6 events, more than the limit of 5; split it into smaller batches"
    );
}
