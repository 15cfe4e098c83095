//! Retention: what `swirl serve` deletes once it is past its time (finished
//! instances with their history, seen-event marks, buffered events, dead
//! letters), what it keeps, the refusal of an event beyond the buffer's
//! cap, and the counts of it all in `/metrics`. Retentions of a second and
//! sweeps every 200 ms stand for the days and minutes of the defaults.

use std::time::Duration;

use serde_json::json;

use super::outbox::{series, test_app, workflows};
use super::sinks::{Receiver, start_receiver};
use super::util::{Answer, Server, app_with};

/// Waits until `metrics` of `server` satisfy `done`; returns the last text.
async fn metrics_until(server: &Server, what: &str, done: impl Fn(&str) -> bool) -> String {
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = server.get("/metrics").await.text;
        if done(&metrics) {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}:\n{metrics}");
}

/// Sends an `order.*` event of the shop for order `order`.
async fn shop(server: &Server, id: &str, ty: &str, order: &str) -> Answer {
    server
        .event(id, "shop", ty, &[("orderid", order)], json!({}))
        .await
}

fn deleted(metrics: &str, kind: &str) -> f64 {
    series(
        metrics,
        &format!("swirl_retention_deleted_total{{kind=\"{kind}\"}}"),
    )
}

const FAST: [&str; 8] = [
    "--instance-retention",
    "1s",
    "--dedup-retention",
    "1s",
    "--buffer-retention",
    "1s",
    "--retention-interval",
    "200ms",
];

#[tokio::test(flavor = "multi_thread")]
async fn finished_instances_seen_marks_and_buffered_events_go_after_their_retention() {
    let app = test_app(None);
    let server = Server::start(&app, &FAST, &[]);
    let mut finished = Vec::new();
    for _ in 0..2 {
        let done = server
            .post_json(
                "/workflows/logged/instances?wait=true",
                json!({"message": "m"}),
            )
            .await;
        assert_eq!(done.body["status"], "completed", "{done:?}");
        finished.push(done.body["id"].as_str().unwrap().to_string());
    }
    // One instance waits (for its order to ship); one event waits for an
    // instance (no order o2 was paid).
    let paid = shop(&server, "paid-o1", "order.paid", "o1").await;
    assert_eq!(paid.status, 202, "{paid:?}");
    let waiting = paid.body["started"][0].as_str().unwrap().to_string();
    let shipped = shop(&server, "ship-o2", "order.shipped", "o2").await;
    assert_eq!(shipped.body["buffered"], 1, "{shipped:?}");

    let metrics = metrics_until(&server, "everything past its time is deleted", |m| {
        deleted(m, "instances") >= 2.0
            && deleted(m, "event_marks") >= 2.0
            && deleted(m, "buffered_events") >= 1.0
    })
    .await;
    assert_eq!(deleted(&metrics, "instances"), 2.0, "{metrics}");
    assert_eq!(deleted(&metrics, "buffered_events"), 1.0, "{metrics}");
    assert!(series(&metrics, "swirl_retention_sweeps_total") >= 1.0);
    assert_eq!(series(&metrics, "swirl_buffered_events"), 0.0);
    assert_eq!(
        series(&metrics, "swirl_instances{status=\"completed\"}"),
        0.0
    );
    assert_eq!(series(&metrics, "swirl_instances{status=\"waiting\"}"), 1.0);
    for id in &finished {
        for path in [
            format!("/instances/{id}"),
            format!("/instances/{id}/history"),
        ] {
            let gone = server.get(&path).await;
            assert_eq!(gone.status, 404, "{path}: {gone:?}");
        }
    }
    // The unfinished instance stays, whatever its age, with its history.
    let kept = server.get(&format!("/instances/{waiting}")).await;
    assert_eq!(kept.body["status"], "waiting", "{kept:?}");
    let history = server.get(&format!("/instances/{waiting}/history")).await;
    assert_eq!(history.status, 200, "{history:?}");
    // Its mark deleted, the event counts as new (and is buffered again);
    // the waiting instance still takes its own order's event.
    let again = shop(&server, "ship-o2", "order.shipped", "o2").await;
    assert_eq!(again.body["duplicates"], 0, "{again:?}");
    let shipped = shop(&server, "ship-o1", "order.shipped", "o1").await;
    assert_eq!(
        shipped.body["delivered"][0],
        waiting.as_str(),
        "{shipped:?}"
    );
}

/// Completes an `orders` instance (order `order` paid, then shipped); its id.
async fn complete_order(server: &Server, order: &str) -> String {
    let paid = shop(server, &format!("paid-{order}"), "order.paid", order).await;
    let id = paid.body["started"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{paid:?}"))
        .to_string();
    shop(server, &format!("ship-{order}"), "order.shipped", order).await;
    server.wait_status(&id, "completed").await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apps_manifest_sets_how_long_its_workflows_finished_instances_are_kept() {
    let retention = "\n[retention]\ninstances = \"1s\"\n\n[retention.workflows]\nlogged = \"1h\"\n";
    let app = app_with(workflows(), retention);
    let args = ["--retention-interval", "200ms"];
    let mut server = Server::start(&app, &args, &[]);
    let logged = server
        .post_json(
            "/workflows/logged/instances?wait=true",
            json!({"message": "m"}),
        )
        .await;
    assert_eq!(logged.body["status"], "completed", "{logged:?}");
    let logged = logged.body["id"].as_str().unwrap().to_string();
    // The app's 1 s, not the server's 7 days; `logged`'s own hour; and the
    // same after a restart, from what the store recorded.
    for order in ["o1", "o2"] {
        if order == "o2" {
            drop(server);
            server = Server::start_recorded(&app, &args);
        }
        let order = complete_order(&server, order).await;
        let mut found = server.get(&format!("/instances/{order}")).await;
        for _ in 0..100 {
            if found.status == 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            found = server.get(&format!("/instances/{order}")).await;
        }
        assert_eq!(found.status, 404, "{found:?}");
        let kept = server.get(&format!("/instances/{logged}")).await;
        assert_eq!(kept.body["status"], "completed", "{kept:?}");
    }
    drop(server);

    // A workflow id that is none of the app's is an error where it is written.
    std::fs::write(
        app.manifest(),
        std::fs::read_to_string(app.manifest())
            .unwrap()
            .replace("logged = ", "loged = "),
    )
    .unwrap();
    let validated =
        swirl_tests::run(swirl_tests::swirl(app.path()).args(["validate", "swirl.toml"]));
    assert_ne!(validated.code, 0, "{}", validated.stdout);
    let said = format!("{}{}", validated.stdout, validated.stderr);
    assert!(
        said.contains("retention.workflows.loged")
            && said.contains("no workflow of this app has id 'loged'; its workflows: ")
            && said.contains("logged"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_beyond_the_buffers_cap_is_refused_with_503_naming_the_limit() {
    let app = test_app(None);
    let server = Server::start(&app, &["--buffer-max-events", "1"], &[]);
    let ship = |order: &'static str| {
        let server = &server;
        async move { shop(server, &format!("ship-{order}"), "order.shipped", order).await }
    };
    assert_eq!(ship("o2").await.body["buffered"], 1);
    let refused = ship("o3").await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(
        refused.error().contains("--buffer-max-events"),
        "{refused:?}"
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    let metrics = server.get("/metrics").await.text;
    assert_eq!(series(&metrics, "swirl_events_buffer_full_total"), 1.0);
    assert_eq!(series(&metrics, "swirl_buffered_events"), 1.0);
    // An instance takes the buffered event: there is room again, and the
    // refused event, sent again, is accepted.
    let paid = shop(&server, "paid-o2", "order.paid", "o2").await;
    let id = paid.body["started"][0].as_str().unwrap().to_string();
    server.wait_status(&id, "completed").await;
    let accepted = ship("o3").await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    assert_eq!(accepted.body["buffered"], 1, "{accepted:?}");
}

/// Sends `count` jobs whose `job.done` the failing sink never takes, and
/// waits until they are dead letters, `left` of them kept, the others
/// dropped for `dropped`. (One scrape reads the gauge of dead letters
/// before the counters, so a drop in progress shows in the counter only.)
async fn bury(server: &Server, count: usize, dropped: &str, left: f64) -> String {
    for n in 1..=count {
        let answer = server
            .event(
                &format!("dl-{n}"),
                "jobs",
                "job.created",
                &[],
                json!({"a": n, "b": 0, "n": n}),
            )
            .await;
        assert_eq!(answer.status, 202, "{answer:?}");
    }
    let label = format!("swirl_dead_letters_dropped_total{{reason=\"{dropped}\"}}");
    metrics_until(server, "the dead letters are dropped", |m| {
        series(m, "swirl_sink_dead_lettered_total") == count as f64
            && series(m, &label) >= 1.0
            && series(m, "swirl_dead_letters") == left
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_past_their_age_or_the_cap_are_dropped_and_counted() {
    let receiver = Receiver::default();
    *receiver.failing.lock().unwrap() = true;
    let sink = start_receiver(receiver.clone()).await;
    let app = test_app(Some(sink));
    let aged = Server::start(
        &app,
        &[
            "--dead-letter-retention",
            "1s",
            "--retention-interval",
            "200ms",
        ],
        &[],
    );
    let metrics = bury(&aged, 1, "age", 0.0).await;
    assert_eq!(
        series(&metrics, "swirl_dead_letters_dropped_total{reason=\"age\"}"),
        1.0
    );
    assert_eq!(series(&metrics, "swirl_dead_letters"), 0.0, "{metrics}");
    assert_eq!(aged.get("/dead-letters").await.body, json!([]));
    drop(aged);

    let app = test_app(Some(sink));
    let capped = Server::start(&app, &["--dead-letter-max", "1"], &[]);
    let metrics = bury(&capped, 2, "cap", 1.0).await;
    assert_eq!(
        series(&metrics, "swirl_dead_letters_dropped_total{reason=\"cap\"}"),
        1.0
    );
    let letters = capped.get("/dead-letters").await.body;
    assert_eq!(letters.as_array().map(Vec::len), Some(1), "{letters}");
    assert_eq!(series(&metrics, "swirl_dead_letters"), 1.0, "{metrics}");
}

/// Calls function `f` as the greet component takes it.
async fn greet(server: &Server) -> Answer {
    server
        .post_json("/functions/f/invoke", json!({"name": "files"}))
        .await
}

/// Entries of `dir` under the app's data directory whose names end with
/// `suffix`.
fn entries(app: &swirl_tests::App, dir: &str, suffix: &str) -> usize {
    std::fs::read_dir(app.data_dir().join(dir))
        .unwrap()
        .filter(|entry| {
            let entry = entry.as_ref().unwrap();
            entry.file_type().unwrap().is_file()
                && entry.file_name().to_string_lossy().ends_with(suffix)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_files_and_code_of_a_deleted_version_go_and_the_current_versions_stay() {
    let manifest = |component: &std::path::Path| {
        format!(
            "[app]\nname = \"files\"\n\n[functions.f]\nsource = \"{}\"\n",
            component.display()
        )
    };
    let app = swirl_tests::App::new(&manifest(&swirl_tests::guest("probe")));
    let mut first = Server::start(&app, &[], &[]);
    first.terminate();
    // Version 2 of `f` is another component, with another manifest text.
    std::fs::write(app.manifest(), manifest(&swirl_tests::guest("greet"))).unwrap();
    let args = ["--file-grace", "1s", "--retention-interval", "200ms"];
    let server = Server::start(&app, &args, &[]);
    assert_eq!(
        entries(&app, "files", ""),
        4,
        "two manifests, two components"
    );
    assert_eq!(entries(&app, "cache", ".cwasm"), 2);
    let removed = server
        .request("DELETE", "/functions/f/versions/1", &[], "")
        .await;
    assert_eq!(removed.status, 200, "{removed:?}");
    metrics_until(&server, "version 1's files and code are deleted", |m| {
        deleted(m, "files") >= 2.0 && deleted(m, "code_cache") >= 1.0
    })
    .await;
    assert_eq!(entries(&app, "files", ""), 2);
    assert_eq!(entries(&app, "cache", ".cwasm"), 1);
    let answer = greet(&server).await;
    assert_eq!(
        answer.body["output"]["message"], "Hello, files!",
        "{answer:?}"
    );
    // What the current version needs is all there after a restart.
    drop(server);
    let restarted = Server::start_recorded(&app, &[]);
    let answer = greet(&restarted).await;
    assert_eq!(
        answer.body["output"]["message"], "Hello, files!",
        "{answer:?}"
    );
}
