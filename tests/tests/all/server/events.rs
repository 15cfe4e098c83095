//! The event ingress of a real server: each content mode starting
//! instances, bad input, correlation, duplicates and early events.

use serde_json::{Value, json};

use super::util::{Server, app};

/// Headers, body, expected status and expected message of a refused request.
type BadRequest = (Vec<(&'static str, &'static str)>, String, u16, &'static str);

#[tokio::test(flavor = "multi_thread")]
async fn each_content_mode_starts_instances() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);

    let binary = server
        .event("b1", "jobs", "job.created", &[], json!({"a": 1, "b": 2}))
        .await;
    assert_eq!(binary.status, 202, "{binary:?}");
    assert_eq!(binary.body["accepted"], 1);
    assert_eq!(binary.body["started"].as_array().unwrap().len(), 1);

    let structured = json!({"specversion": "1.0", "id": "s1", "source": "jobs", "type": "job.created",
        "datacontenttype": "application/json", "data": {"a": 2, "b": 3}});
    let answer = server
        .request(
            "POST",
            "/",
            &[("content-type", "application/cloudevents+json")],
            structured.to_string(),
        )
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(answer.body["started"].as_array().unwrap().len(), 1);

    let batch = json!([
        {"specversion": "1.0", "id": "m1", "source": "jobs", "type": "job.created", "data": {"a": 1, "b": 1}},
        {"specversion": "0.3", "id": "m2", "source": "jobs", "type": "job.created", "data": {"a": 5, "b": 5}}
    ]);
    let answer = server
        .request(
            "POST",
            "/events",
            &[("content-type", "application/cloudevents-batch+json")],
            batch.to_string(),
        )
        .await;
    // Mixed spec versions in one batch are refused whole.
    assert_eq!(answer.status, 400, "{answer:?}");
    let batch = json!([
        {"specversion": "1.0", "id": "m1", "source": "jobs", "type": "job.created", "data": {"a": 1, "b": 1}},
        {"specversion": "1.0", "id": "m2", "source": "jobs", "type": "job.created", "data": {"a": 5, "b": 5}}
    ]);
    let answer = server
        .request(
            "POST",
            "/events",
            &[("content-type", "application/cloudevents-batch+json")],
            batch.to_string(),
        )
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(answer.body["accepted"], 2);
    let started: Vec<String> = answer.body["started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    assert_eq!(started.len(), 2);
    let done = server.wait_status(&started[1], "completed").await;
    assert_eq!(done["output"]["sum"], json!(10.0));
    assert_eq!(done["workflowId"], "jobs");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_status_and_message_and_changes_nothing() {
    let app = app("");
    let server = Server::start(&app, &["--max-event-bytes", "1000"], &[]);
    let cases: Vec<BadRequest> = vec![
        (
            vec![("content-type", "application/json")],
            "{}".into(),
            415,
            "request is not a cloudevent",
        ),
        (
            vec![
                ("ce-specversion", "1.0"),
                ("ce-source", "jobs"),
                ("ce-type", "job.created"),
            ],
            "{}".into(),
            400,
            "missing required attribute 'id'",
        ),
        (
            vec![
                ("ce-specversion", "2.0"),
                ("ce-id", "x"),
                ("ce-source", "jobs"),
                ("ce-type", "job.created"),
            ],
            "{}".into(),
            400,
            "unknown spec version '2.0'",
        ),
        (
            vec![("content-type", "application/cloudevents+json")],
            "{not json".into(),
            400,
            "request body is not valid json",
        ),
        (
            vec![("content-type", "application/cloudevents-batch+json")],
            json!([{"specversion": "1.0", "id": "ok", "source": "jobs", "type": "job.created"},
                   {"specversion": "1.0", "id": "bad", "type": "job.created"}])
            .to_string(),
            400,
            "missing required attribute 'source'",
        ),
        (
            vec![("content-type", "application/cloudevents+json")],
            json!({"specversion": "1.0", "id": "x", "source": "jobs", "type": "t", "Bad_Name": 1})
                .to_string(),
            400,
            "breaks the naming rules",
        ),
        (
            vec![("content-type", "application/cloudevents+json")],
            " ".repeat(70_000),
            413,
            "larger than the limit of 65536 bytes",
        ),
    ];
    for (headers, body, status, message) in cases {
        let answer = server.request("POST", "/events", &headers, body).await;
        assert_eq!(answer.status, status, "{headers:?}: {answer:?}");
        assert!(answer.error().contains(message), "{headers:?}: {answer:?}");
    }
    // The valid first event of the refused batch was not applied.
    let listed = server.get("/instances?workflow=jobs").await;
    assert_eq!(listed.body["instances"], json!([]), "{listed:?}");
    let metrics = server.get("/metrics").await.text;
    assert!(
        metrics.contains("swirl_events_rejected_total 7"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_the_instance_they_correlate_with_among_many() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let mut ids = Vec::new();
    for n in 0..20 {
        let order = format!("o{n}");
        let answer = server
            .event(
                &format!("paid-{n}"),
                "shop",
                "order.paid",
                &[("orderid", &order)],
                json!({"paid": order}),
            )
            .await;
        assert_eq!(answer.status, 202, "{answer:?}");
        ids.push(answer.body["started"][0].as_str().unwrap().to_string());
    }
    for id in &ids {
        server.wait_status(id, "waiting").await;
    }
    let answer = server
        .event(
            "ship-7",
            "shop",
            "order.shipped",
            &[("orderid", "o7")],
            json!({"shipped": true}),
        )
        .await;
    assert_eq!(answer.body["delivered"], json!([ids[7]]), "{answer:?}");
    let done = server.wait_status(&ids[7], "completed").await;
    assert_eq!(done["output"], json!({"paid": "o7", "shipped": true}));
    assert_eq!(
        server.get(&format!("/instances/{}", ids[8])).await.body["status"],
        "waiting"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivered_event_is_a_duplicate_that_changes_nothing() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let first = server
        .event("dup-1", "jobs", "job.created", &[], json!({"a": 1, "b": 1}))
        .await;
    assert_eq!(
        (
            first.body["accepted"].clone(),
            first.body["duplicates"].clone()
        ),
        (json!(1), json!(0))
    );
    let again = server
        .event("dup-1", "jobs", "job.created", &[], json!({"a": 1, "b": 1}))
        .await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body["duplicates"], 1, "{again:?}");
    assert_eq!(again.body["started"], json!([]));
    let listed = server.get("/instances?workflow=jobs").await;
    assert_eq!(listed.body["instances"].as_array().unwrap().len(), 1);
    let metrics = server.get("/metrics").await.text;
    assert!(
        metrics.contains("swirl_events_duplicate_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_sent_before_the_instance_waits_is_kept_and_delivered() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    // The shipment arrives before the order that waits for it exists.
    let early = server
        .event(
            "ship-early",
            "shop",
            "order.shipped",
            &[("orderid", "o42")],
            json!({"shipped": "early"}),
        )
        .await;
    assert_eq!(early.status, 202);
    assert_eq!(early.body["buffered"], 1, "{early:?}");
    let paid = server
        .event(
            "paid-42",
            "shop",
            "order.paid",
            &[("orderid", "o42")],
            json!({"paid": "o42"}),
        )
        .await;
    let id = paid.body["started"][0].as_str().unwrap().to_string();
    let done = server.wait_status(&id, "completed").await;
    assert_eq!(done["output"], json!({"paid": "o42", "shipped": "early"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn text_data_reaches_the_workflow_as_a_string() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let answer = server
        .request(
            "POST",
            "/events",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "t1"),
                ("ce-source", "nobody"),
                ("ce-type", "x"),
                ("content-type", "text/plain"),
            ],
            "hello",
        )
        .await;
    // Nothing consumes it: accepted, nothing started or kept.
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(
        answer.body,
        json!({"accepted": 1, "duplicates": 0, "started": [], "delivered": [], "buffered": 0})
    );
    let _: Value = answer.body;
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_deliveries_say_where_each_event_went_and_buffered_events_are_listed() {
    let app = app("");
    let server = Server::start(
        &app,
        &["--recent-deliveries", "4", "--buffer-max-events", "2"],
        &[],
    );
    let shipped = |id: &'static str, order: &'static str| {
        let server = &server;
        async move {
            server
                .event(
                    id,
                    "shop",
                    "order.shipped",
                    &[("orderid", order)],
                    json!({ "order": order }),
                )
                .await
        }
    };
    let paid = |id: &'static str, order: &'static str| {
        let server = &server;
        async move {
            server
                .event(id, "shop", "order.paid", &[("orderid", order)], json!({}))
                .await
        }
    };
    // (Not the jobs workflow: the event it produces would be buffered too.)
    let started = paid("p0", "o0").await;
    paid("p0", "o0").await;
    assert_eq!(shipped("s1", "o1").await.body["buffered"], 1);
    // The order that takes the buffered shipment.
    let order = paid("p1", "o1").await;
    let recent = server.get("/deliveries").await;
    assert_eq!(recent.status, 200, "{recent:?}");
    assert_eq!(recent.body["limit"], 4);
    let seen: Vec<(Value, Value, Value, Value, Value)> = recent.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].clone(),
                d["started"].clone(),
                d["delivered"].clone(),
                d["buffered"].clone(),
                d["duplicate"].clone(),
            )
        })
        .collect();
    let none = json!([]);
    assert_eq!(
        seen,
        [
            (
                json!("p1"),
                order.body["started"].clone(),
                none.clone(),
                json!(false),
                json!(false)
            ),
            (
                json!("s1"),
                none.clone(),
                none.clone(),
                json!(true),
                json!(false)
            ),
            (
                json!("p0"),
                none.clone(),
                none.clone(),
                json!(false),
                json!(true)
            ),
            (
                json!("p0"),
                started.body["started"].clone(),
                none.clone(),
                json!(false),
                json!(false)
            ),
        ]
    );
    assert_eq!(recent.body["deliveries"][1]["type"], "order.shipped");
    assert_eq!(recent.body["deliveries"][1]["source"], "shop");

    // One delivered to a waiting instance, two buffered, one refused.
    let waiting = paid("p9", "o9").await.body["started"][0].clone();
    let id = waiting.as_str().unwrap().to_string();
    server.wait_status(&id, "waiting").await;
    assert_eq!(shipped("s9", "o9").await.body["delivered"], json!([id]));
    assert_eq!(shipped("s2", "o2").await.body["buffered"], 1);
    assert_eq!(shipped("s3", "o3").await.body["buffered"], 1);
    assert_eq!(shipped("s4", "o4").await.status, 503);
    let recent = server.get("/deliveries").await.body["deliveries"].clone();
    let ids: Vec<&str> = recent
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s4", "s3", "s2", "s9"], "the oldest go first");
    assert!(
        recent[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("--buffer-max-events")),
        "{recent}"
    );
    assert_eq!(recent[3]["delivered"], json!([id]));

    // The buffered ones, a page at a time, oldest first.
    let first = server.get("/buffered-events?limit=1").await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["count"], 2);
    let event = &first.body["events"][0];
    assert_eq!(
        (&event["id"], &event["type"], &event["source"]),
        (&json!("s2"), &json!("order.shipped"), &json!("shop"))
    );
    assert_eq!(event["extensions"]["orderid"], "o2");
    assert_eq!(event["data"], json!({ "order": "o2" }));
    assert!(event["receivedAt"].is_string(), "{event}");
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = server
        .get(&format!("/buffered-events?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second.body["events"][0]["id"], "s3");
    let all = server.get("/buffered-events").await;
    assert_eq!(all.body["events"].as_array().unwrap().len(), 2);
    assert_eq!(all.body["nextCursor"], Value::Null);
    for (query, message) in [
        ("limit=0", "limit must be a number from 1 to 1000"),
        ("cursor=zz", "is not a nextCursor this server gave"),
    ] {
        let bad = server.get(&format!("/buffered-events?{query}")).await;
        assert_eq!(bad.status, 400, "{query}: {bad:?}");
        assert!(bad.error().contains(message), "{query}: {}", bad.error());
    }
}
