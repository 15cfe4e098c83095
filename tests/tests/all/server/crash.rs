//! SIGKILL during a burst of events: after a restart, every event that got
//! a 2xx had its effect exactly once, and resending every event (answered
//! or not) is safe.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::util::{Server, app, try_request};

const EVENTS: usize = 100_000;

fn event_body(n: usize) -> (Vec<(String, String)>, String) {
    (
        vec![
            ("ce-specversion".into(), "1.0".into()),
            ("ce-id".into(), format!("burst-{n}")),
            ("ce-source".into(), "jobs".into()),
            ("ce-type".into(), "job.created".into()),
            ("content-type".into(), "application/json".into()),
        ],
        json!({"a": n, "b": 0, "n": n}).to_string(),
    )
}

async fn send(addr: std::net::SocketAddr, n: usize) -> Option<Value> {
    let (headers, body) = event_body(n);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    match try_request(addr, "POST", "/events", &headers, body.into()).await {
        Ok(answer) if answer.status == 202 => Some(answer.body),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_burst_loses_no_acknowledged_event_and_duplicates_none() {
    let app = app("");
    let mut server = Server::start(&app, &[], &[]);
    let addr = server.addr;
    let burst = tokio::spawn(async move {
        // Send until the server is gone (or the bound), so the kill always
        // lands mid-burst however fast the machine is.
        let mut acknowledged = Vec::new();
        let mut sent = 0;
        while sent < EVENTS {
            let n = sent;
            sent += 1;
            match send(addr, n).await {
                Some(answer) => acknowledged.push((n, answer)),
                None => break,
            }
        }
        (acknowledged, sent)
    });
    // Let part of the burst through, then kill the server mid-flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    let (acknowledged, sent) = burst.await.unwrap();
    assert!(sent < EVENTS, "the kill came after the burst; raise EVENTS");

    let server = Server::start(&app, &[], &[]);
    // Every acknowledged event started exactly one instance, which exists.
    for (n, answer) in &acknowledged {
        let started = answer["started"].as_array().unwrap();
        assert_eq!(started.len(), 1, "event {n}: {answer}");
        let id = started[0].as_str().unwrap();
        let record = server.wait_status(id, "completed").await;
        assert_eq!(record["output"]["n"], json!(n), "{record}");
    }
    // Resending everything is safe: acknowledged events are duplicates,
    // the others take effect now.
    for n in 0..sent {
        let answer = send(server.addr, n)
            .await
            .expect("the restarted server accepts");
        if acknowledged.iter().any(|(m, _)| *m == n) {
            assert_eq!(answer["duplicates"], 1, "event {n}: {answer}");
        }
    }
    // One instance per event, whatever happened.
    let mut per_event: BTreeMap<i64, usize> = BTreeMap::new();
    for record in server.all_instances("jobs", "completed").await {
        *per_event
            .entry(record["output"]["n"].as_i64().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_event.len(), sent, "{per_event:?}");
    assert!(per_event.values().all(|count| *count == 1), "{per_event:?}");
}

/// A process that dies after an event's effects are durable but before its
/// seen mark: the resend finishes that delivery and reaches no instance that
/// started waiting since, nor the buffer. (`SWIRL_FAILPOINT` aborts the
/// server at that point; a random SIGKILL would almost never land there.)
#[tokio::test(flavor = "multi_thread")]
async fn a_resend_after_a_crash_before_the_seen_mark_reaches_only_the_instances_of_the_first_delivery()
 {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let first = paid(&server, "paid-1").await;
    let first = first.body["started"][0].as_str().unwrap().to_string();
    drop(server);

    let shipped = [
        ("ce-specversion", "1.0"),
        ("ce-id", "shipped-1"),
        ("ce-source", "shop"),
        ("ce-type", "order.shipped"),
        ("ce-orderid", "o1"),
        ("content-type", "application/json"),
    ];
    let body = json!({"shipped": "shipped-1"}).to_string();
    let mut server = Server::start(
        &app,
        &[],
        &[("SWIRL_FAILPOINT", "deliver-before-seen-mark")],
    );
    let answer = try_request(
        server.addr,
        "POST",
        "/events",
        &shipped,
        body.clone().into(),
    )
    .await;
    assert!(
        answer.is_err(),
        "the failpoint did not stop the server: {answer:?}"
    );
    server.crashed("deliver-before-seen-mark").await;

    let server = Server::start(&app, &[], &[]);
    // The first instance took the event before the crash.
    let done = server.wait_status(&first, "completed").await;
    assert_eq!(
        done["output"],
        json!({"paid": "paid-1", "shipped": "shipped-1"})
    );
    // A second order instance now waits for a shipment of the same order.
    let second = paid(&server, "paid-2").await;
    let second = second.body["started"][0].as_str().unwrap().to_string();
    let resent = server
        .request("POST", "/events", &shipped, body.clone())
        .await;
    assert_eq!(resent.status, 202, "{resent:?}");
    assert_eq!(
        resent.body,
        json!({"accepted": 1, "duplicates": 1, "started": [], "delivered": [], "buffered": 0})
    );
    // The second instance still waits, and takes a shipment of its own.
    let record = server.get(&format!("/instances/{second}")).await;
    assert_eq!(record.body["status"], "waiting", "{record:?}");
    assert_eq!(record.body["state"], "OnShipped", "{record:?}");
    let own = server
        .event(
            "shipped-2",
            "shop",
            "order.shipped",
            &[("orderid", "o1")],
            json!({"shipped": "shipped-2"}),
        )
        .await;
    assert_eq!(own.body["delivered"], json!([second]), "{own:?}");
    let done = server.wait_status(&second, "completed").await;
    assert_eq!(
        done["output"],
        json!({"paid": "paid-2", "shipped": "shipped-2"})
    );
}

async fn paid(server: &Server, id: &str) -> super::util::Answer {
    server
        .event(
            id,
            "shop",
            "order.paid",
            &[("orderid", "o1")],
            json!({"paid": id}),
        )
        .await
}

/// A parent cancelled just before the process died, its cancel committed
/// but not yet passed on: the restarted server cancels the child it waited for.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_cut_short_by_a_crash_reaches_the_child_after_restart() {
    let app = super::util::app_with(
        vec![
            (
                "napper.json",
                json!({ "id": "napper", "version": "1.0", "name": "napper",
                    "states": [{ "name": "Nap", "type": "DELAY", "start": { "kind": "DEFAULT" },
                                 "timeDelay": "PT60S", "end": { "kind": "DEFAULT" } }] }),
            ),
            (
                "waiter.json",
                json!({ "id": "waiter", "version": "1.0", "name": "waiter",
                    "states": [{ "name": "Call", "type": "SUBFLOW", "start": { "kind": "DEFAULT" },
                                 "workflowId": "napper", "waitForCompletion": true, "end": { "kind": "DEFAULT" } }] }),
            ),
        ],
        "",
    );
    let mut server = Server::start(&app, &[], &[("SWIRL_FAILPOINT", "cancel-before-cascade")]);
    let parent = server
        .post_json("/workflows/waiter/instances", json!({}))
        .await;
    let parent = parent.body["id"].as_str().unwrap().to_string();
    let mut child = None;
    for _ in 0..200 {
        let page = server.get("/instances?workflow=napper").await;
        if let Some(id) = page.body["instances"][0]["id"].as_str() {
            child = Some(id.to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let child = child.expect("the parent started its child");
    server.wait_status(&child, "waiting").await;
    // Its answer, if one goes out before the crash, says nothing more.
    let _ = try_request(
        server.addr,
        "POST",
        &format!("/instances/{parent}/cancel"),
        &[],
        String::new().into(),
    )
    .await;
    server.crashed("cancel-before-cascade").await;

    let server = Server::start(&app, &[], &[]);
    assert_eq!(
        server.get(&format!("/instances/{parent}")).await.body["status"],
        "cancelled"
    );
    server.wait_status(&child, "cancelled").await;
}
