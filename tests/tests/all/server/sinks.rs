//! Produced events delivered to a sink (a small HTTP receiver in the test),
//! retries, dead letters and replay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use super::util::{DEAL_SOURCE, Server, app, app_with, deal_workflow};

/// A sink that records what it receives, answering `status` while
/// `failing` is set.
#[derive(Clone, Default)]
pub(super) struct Receiver {
    pub received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    pub failing: Arc<Mutex<bool>>,
}

pub(super) async fn start_receiver(receiver: Receiver) -> std::net::SocketAddr {
    let state = receiver.clone();
    let record = post(move |headers: HeaderMap, body: String| {
        let state = state.clone();
        async move {
            if *state.failing.lock().unwrap() {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            state.received.lock().unwrap().push((headers, body));
            StatusCode::ACCEPTED
        }
    });
    // `/events` too: `swirl send --server` posts there.
    let router = Router::new()
        .route("/in", record.clone())
        .route("/events", record);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

pub(super) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn produced_events_reach_the_sink_and_dead_letters_replay() {
    let receiver = Receiver::default();
    let addr = start_receiver(receiver.clone()).await;
    let app = app(&format!(
        "\n[[sinks]]\nurl = \"http://{addr}/in\"\ntype = \"job.done\"\n[[sinks]]\nurl = \"http://{addr}/in\"\ntype = \"never.sent\"\n"
    ));
    let server = Server::start(&app, &[], &[]);

    let answer = server
        .event("j1", "jobs", "job.created", &[], json!({"a": 1, "b": 2}))
        .await;
    assert_eq!(answer.status, 202);
    wait_until("the sink got the produced event", || {
        !receiver.received.lock().unwrap().is_empty()
    })
    .await;
    {
        let received = receiver.received.lock().unwrap();
        assert_eq!(
            received.len(),
            1,
            "the type filter keeps the second sink out"
        );
        let (headers, body) = &received[0];
        assert_eq!(headers["ce-type"], "job.done");
        assert_eq!(headers["ce-source"], "jobs");
        assert_eq!(headers["ce-specversion"], "1.0");
        assert!(!headers["ce-id"].is_empty() && headers.contains_key("ce-time"));
        let data: Value = serde_json::from_str(body).unwrap();
        assert_eq!(data["sum"], json!(3.0));
    }

    // The sink goes down: the event is retried, then dead-lettered.
    *receiver.failing.lock().unwrap() = true;
    server
        .event("j2", "jobs", "job.created", &[], json!({"a": 5, "b": 5}))
        .await;
    let mut letters = Value::Null;
    for _ in 0..400 {
        letters = server.get("/dead-letters").await.body;
        if letters.as_array().is_some_and(|l| !l.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let letter = &letters[0];
    assert_eq!(letter["attempts"], 5, "{letters}");
    assert!(
        letter["lastError"].as_str().unwrap().contains("503"),
        "{letters}"
    );
    assert_eq!(receiver.received.lock().unwrap().len(), 1);
    let metrics = server.get("/metrics").await.text;
    assert!(
        metrics.contains("swirl_sink_dead_lettered_total 1"),
        "{metrics}"
    );

    // It comes back: replay delivers the dead letter.
    *receiver.failing.lock().unwrap() = false;
    let id = letter["id"].as_str().unwrap();
    let replayed = server
        .request("POST", &format!("/dead-letters/{id}/replay"), &[], "")
        .await;
    assert_eq!(replayed.status, 202, "{replayed:?}");
    wait_until("the replay arrived", || {
        receiver.received.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(server.get("/dead-letters").await.body, json!([]));
    let again = server
        .request("POST", &format!("/dead-letters/{id}/replay"), &[], "")
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_a_function_emits_reach_the_sink() {
    let receiver = Receiver::default();
    let addr = start_receiver(receiver.clone()).await;
    let app = app(&format!("\n[[sinks]]\nurl = \"http://{addr}/in\"\n"));
    let server = Server::start(&app, &[], &[]);
    let invoked = server
        .post_json(
            "/functions/probe/invoke",
            json!({"action": "emit", "event_type": "probe.said", "data": {"x": 1},
                   "source": "/caf\u{e9}", "subject": "10% \"off\"",
                   "extensions": [["city", "M\u{fc}nchen"], ["plain", "o-1"]]}),
        )
        .await;
    assert_eq!(invoked.status, 200, "{invoked:?}");
    wait_until("the emitted event arrived", || {
        !receiver.received.lock().unwrap().is_empty()
    })
    .await;
    let received = receiver.received.lock().unwrap();
    let headers = &received[0].0;
    assert_eq!(headers["ce-type"], "probe.said");
    // Percent-encoded as the HTTP binding requires; untouched when nothing needs it.
    assert_eq!(headers["ce-source"], "/caf%C3%A9");
    assert_eq!(headers["ce-subject"], "10%25%20%22off%22");
    assert_eq!(headers["ce-city"], "M%C3%BCnchen");
    assert_eq!(headers["ce-plain"], "o-1");
    assert_eq!(
        serde_json::from_str::<Value>(&received[0].1).unwrap(),
        json!({"x": 1})
    );
}

/// A sink that is another swirl: what one produces with `%` and non-ASCII
/// attributes, the other reads as it was produced.
#[tokio::test(flavor = "multi_thread")]
async fn another_swirl_reads_what_a_sink_sends() {
    let downstream_app = app_with(vec![deal_workflow()], "");
    let downstream = Server::start(&downstream_app, &[], &[]);
    let app = app(&format!(
        "\n[[sinks]]\nurl = \"{}/events\"\n",
        downstream.url()
    ));
    let server = Server::start(&app, &[], &[]);
    let invoked = server
        .post_json(
            "/functions/probe/invoke",
            json!({"action": "emit", "event_type": "deal.made", "data": {"deal": 1},
                   "source": DEAL_SOURCE, "subject": "caf\u{e9}",
                   "extensions": [["discount", "10% \"off\""]]}),
        )
        .await;
    assert_eq!(invoked.status, 200, "{invoked:?}");
    let mut instances = Value::Null;
    for _ in 0..400 {
        instances = downstream.get("/instances?workflow=deal").await.body;
        if instances["instances"]
            .as_array()
            .is_some_and(|list| !list.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let id = instances["instances"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no instance downstream: {instances}\n{}", server.log()));
    let instance = downstream.wait_status(id, "completed").await;
    assert_eq!(instance["correlation"], json!({"discount": "10% \"off\""}));
    assert_eq!(instance["output"], json!({"deal": 1}));
    assert_eq!(server.get("/dead-letters").await.body, json!([]));
}
