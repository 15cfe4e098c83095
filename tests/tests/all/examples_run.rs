//! Every example app runs and does what its README promises: the cases of
//! each `examples/<name>/expected.json`. Cases with an `input` run through
//! the real binary (`swirl run`); cases driven by `events` run on the real
//! engine with the app's real functions.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swirl::engine::record::Status;
use swirl::engine::{Engine, IncomingEvent};
use swirl::manifest::Manifest;
use swirl::store::Store;
use swirl_tests::{build_example_functions, examples, run, swirl};

fn expected(example: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(example.join("expected.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", example.display())))
}

fn duration(text: &Value) -> Option<Duration> {
    let text = text.as_str()?;
    let seconds: f64 = text
        .strip_prefix("PT")?
        .strip_suffix('S')
        .and_then(|s| s.parse().ok())
        .or_else(|| {
            text.strip_prefix("PT")?
                .strip_suffix('M')?
                .parse::<f64>()
                .ok()
                .map(|m| m * 60.0)
        })?;
    Some(Duration::from_secs_f64(seconds))
}

/// `expected` holds for `actual` when every member it names matches.
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|a| matches(value, a))),
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (e, a) => e == a,
    }
}

#[test]
fn every_request_response_example_runs_as_documented() {
    let mut checked = 0;
    for example in examples() {
        let Some(expected) = expected(&example) else {
            continue;
        };
        build_example_functions();
        let workflow = expected["workflow"].as_str().unwrap();
        for case in expected["cases"].as_array().unwrap() {
            let Some(input) = case.get("input") else {
                continue;
            };
            if case.get("events").is_some() {
                continue;
            }
            let label = format!("{} / {}", example.display(), case["name"]);
            let data = tempfile::tempdir().unwrap();
            let started = Instant::now();
            let result = run(swirl(&example).args([
                "run",
                "swirl.toml",
                workflow,
                "--input",
                &input.to_string(),
                "--data-dir",
                &data.path().display().to_string(),
            ]));
            let elapsed = started.elapsed();
            match case["status"].as_str().unwrap() {
                "completed" => {
                    assert_eq!(result.code, 0, "{label}: {}", result.stderr);
                    let output: Value = serde_json::from_str(result.stdout.trim()).unwrap();
                    assert!(
                        matches(&case["output"], &output),
                        "{label}: expected {}, got {output}",
                        case["output"]
                    );
                }
                "failed" => {
                    assert_eq!(
                        result.code, 1,
                        "{label}: {}{}",
                        result.stdout, result.stderr
                    );
                    let error: Value =
                        serde_json::from_str(result.stderr.lines().last().unwrap()).unwrap();
                    assert!(
                        matches(&case["error"], &error),
                        "{label}: expected {}, got {error}",
                        case["error"]
                    );
                }
                other => panic!("{label}: unknown status {other}"),
            }
            if let Some(min) = case.get("minDuration").and_then(duration) {
                assert!(
                    elapsed >= min,
                    "{label}: took {elapsed:?}, less than {min:?}"
                );
            }
            if let Some(max) = case.get("maxDuration").and_then(duration) {
                assert!(
                    elapsed <= max + Duration::from_secs(10),
                    "{label}: took {elapsed:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} cases ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_driven_example_reacts_as_documented() {
    let mut checked = 0;
    for example in examples() {
        let Some(expected) = expected(&example) else {
            continue;
        };
        // Cases that start with an input and then send events need a server
        // between the two; they are left to the server tests.
        let cases: Vec<&Value> = expected["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c.get("events").is_some() && c.get("input").is_none())
            .collect();
        if cases.is_empty() {
            continue;
        }
        build_example_functions();
        for case in cases {
            let label = format!("{} / {}", example.display(), case["name"]);
            let data = tempfile::tempdir().unwrap();
            let manifest = Manifest::load(&example.join("swirl.toml")).unwrap();
            let store = Store::open(data.path()).unwrap();
            let host = Arc::new(
                swirl::app::host(&swirl_tests::shared_code_cache(), Arc::new(store.clone()))
                    .unwrap(),
            );
            swirl::app::deploy(&manifest, &host).unwrap_or_else(|e| panic!("{label}: {e}"));
            let engine = Engine::new(store, host);
            swirl::app::register_workflows(&manifest, &engine)
                .unwrap_or_else(|e| panic!("{label}: {e:?}"));
            engine.recover().unwrap();
            for (index, event) in case["events"].as_array().unwrap().iter().enumerate() {
                let extensions: BTreeMap<String, String> = event
                    .get("extensions")
                    .and_then(Value::as_object)
                    .map(|e| {
                        e.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let incoming = IncomingEvent {
                    id: format!("event-{index}"),
                    event_type: event["type"].as_str().unwrap().into(),
                    source: event["source"].as_str().unwrap().into(),
                    data: event.get("data").cloned().unwrap_or(json!({})),
                    extensions,
                };
                engine
                    .deliver(&incoming)
                    .await
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                // Events of one case arrive one after another, as a sender would send them.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut remaining: Vec<Value> = case["instances"].as_array().unwrap().clone();
            let deadline = Instant::now() + Duration::from_secs(20);
            let records = loop {
                let records = engine.list(None, None).unwrap();
                let settled = records
                    .iter()
                    .all(|r| r.status.is_final() || r.status == Status::Waiting);
                if (settled && records.len() >= remaining.len()) || Instant::now() > deadline {
                    break records;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let records: Vec<Value> = records
                .iter()
                .filter(|r| r.parent.is_none())
                .map(|r| serde_json::to_value(r).unwrap())
                .collect();
            assert_eq!(records.len(), remaining.len(), "{label}: {records:#?}");
            for record in &records {
                let position = remaining.iter().position(|expected| {
                    matches(
                        &json!({"workflowId": expected["workflow"], "status": expected["status"]}),
                        record,
                    ) && expected
                        .get("output")
                        .is_none_or(|output| matches(output, &record["output"]))
                });
                let Some(position) = position else {
                    panic!(
                        "{label}: no expected instance matches {record:#}\nexpected: {remaining:#?}"
                    );
                };
                remaining.remove(position);
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} event cases ran");
}
