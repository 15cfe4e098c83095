//! Every example app runs and does what its README promises: the cases of
//! each `examples/<name>/expected.json`, through the real binary. An example
//! with event-driven cases is served as its README says: one real
//! `swirl serve` per example on loopback serves all its cases, driven with
//! `swirl start`, `swirl send` and `swirl ls`. The others run each case with
//! `swirl run` on a fresh data directory. Examples run a few side by side,
//! so the suite waits for the slowest rather than for the sum.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swirl_tests::{build_example_functions, examples, in_parallel, run, swirl};

use crate::server::util::{Server, serve_command};

/// How long a served case's instances get to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

fn expected(example: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(example.join("expected.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", example.display())))
}

/// Whether the example is started by events (or by `swirl start` and then
/// events), so that its cases run on a server.
fn served(expected: &Value) -> bool {
    cases(expected)
        .iter()
        .any(|case| case.get("events").is_some())
}

/// The workflows that must each give the cases: `workflow` names one, or
/// an array of several (an app that writes the same workflow in two
/// dialects).
fn workflows(expected: &Value) -> Vec<&str> {
    match &expected["workflow"] {
        Value::Array(ids) => ids.iter().filter_map(Value::as_str).collect(),
        id => id.as_str().into_iter().collect(),
    }
}

fn cases(expected: &Value) -> &Vec<Value> {
    expected["cases"]
        .as_array()
        .expect("expected.json has cases")
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
pub fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|a| matches(value, a))),
        (Value::Array(expected), Value::Array(actual)) => {
            expected.len() == actual.len()
                && expected.iter().zip(actual).all(|(e, a)| matches(e, a))
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (e, a) => e == a,
    }
}

/// How long an example's cases take at least: the sum of their `minDuration`s.
fn least_duration(expected: &Value) -> Duration {
    cases(expected)
        .iter()
        .filter_map(|case| case.get("minDuration").and_then(duration))
        .sum()
}

/// Runs `each` on every example with an `expected.json` for which `select`
/// holds, a few side by side, the slowest first; returns how many cases ran.
fn for_each_example(select: fn(&Value) -> bool, each: fn(&Path, &Value) -> usize) -> usize {
    build_example_functions();
    let mut selected: Vec<(PathBuf, Value)> = examples()
        .into_iter()
        .filter_map(|dir| expected(&dir).map(|expected| (dir, expected)))
        .filter(|(_, expected)| select(expected))
        .collect();
    // Workers take from the end.
    selected.sort_by_key(|(_, expected)| least_duration(expected));
    in_parallel(selected, |(dir, expected)| each(&dir, &expected))
        .into_iter()
        .sum()
}

#[test]
fn every_request_response_example_runs_as_documented() {
    let checked = for_each_example(|expected| !served(expected), run_cases);
    assert!(checked >= 15, "only {checked} cases ran");
}

#[test]
fn every_event_driven_example_runs_on_the_server_as_documented() {
    let checked = for_each_example(served, serve_cases);
    assert!(checked >= 12, "only {checked} served cases ran");
}

/// Each case through `swirl run` on a fresh data directory.
fn run_cases(example: &Path, expected: &Value) -> usize {
    let workflows = workflows(expected);
    for (workflow, case) in workflows
        .iter()
        .flat_map(|workflow| cases(expected).iter().map(move |case| (*workflow, case)))
    {
        let label = format!("{} / {workflow} / {}", example.display(), case["name"]);
        let input = case
            .get("input")
            .unwrap_or_else(|| panic!("{label}: no input"));
        let data = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let result = run(swirl(example).args([
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
            // Slack for compiling the functions into the fresh data
            // directory on a loaded machine.
            assert!(
                elapsed <= max + Duration::from_secs(10),
                "{label}: took {elapsed:?}, over {max:?}"
            );
        }
    }
    workflows.len() * cases(expected).len()
}

/// All cases on one `swirl serve` of the example, one after another: a
/// case's input starts an instance (`swirl start`, waiting for its end when
/// no events follow), its events are sent (`swirl send`), and the instances
/// that appeared since the case began must settle as the case says.
fn serve_cases(example: &Path, expected: &Value) -> usize {
    let [workflow] = workflows(expected)[..] else {
        panic!("{}: a served example names one workflow", example.display());
    };
    let data = tempfile::tempdir().unwrap();
    let server = Server::spawn(serve_command(example, data.path()));
    let client = |label: &str, args: &[&str]| -> Value {
        server
            .client(example, args)
            .unwrap_or_else(|e| panic!("{label}: {e}"))
    };
    let ids = |listed: &Value| -> HashSet<String> {
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|instance| instance["id"].as_str().unwrap().to_string())
            .collect()
    };
    for (number, case) in cases(expected).iter().enumerate() {
        let label = format!("{} / {}", example.display(), case["name"]);
        let before = ids(&client(&label, &["ls"]));
        let events = case["events"].as_array().cloned().unwrap_or_default();
        let mut expected_instances: Vec<Value> =
            case["instances"].as_array().cloned().unwrap_or_default();
        if let Some(input) = case.get("input") {
            let id = format!("case-{number}");
            let input = input.to_string();
            let mut args = vec!["start", workflow, "--input", &input, "--id", &id];
            if events.is_empty() {
                args.push("--wait");
            }
            client(&label, &args);
            let mut instance = json!({"workflow": workflow, "status": case["status"]});
            for key in ["output", "error"] {
                if let Some(value) = case.get(key) {
                    instance[key] = value.clone();
                }
            }
            expected_instances.push(instance);
        }
        for (index, event) in events.iter().enumerate() {
            let id = format!("case-{number}-event-{index}");
            let data = event.get("data").unwrap_or(&json!({})).to_string();
            let mut args = vec![
                "send".to_string(),
                "--type".into(),
                event["type"].as_str().unwrap().into(),
                "--source".into(),
                event["source"].as_str().unwrap().into(),
                "--id".into(),
                id,
                "--data".into(),
                data,
            ];
            for (name, value) in event
                .get("extensions")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string);
                args.extend(["--ext".into(), format!("{name}={value}")]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            client(&label, &args);
        }
        // Sending returns once the events' effects are durable; the actions
        // they started may still be running, so poll until they settle.
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let instances = loop {
            let new: Vec<Value> = client(&label, &["ls"])
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| !before.contains(i["id"].as_str().unwrap()))
                .filter(|i| i.get("parentId").is_none())
                .cloned()
                .collect();
            let settled = new.iter().all(|i| {
                ["completed", "failed", "cancelled", "waiting"]
                    .contains(&i["status"].as_str().unwrap())
            });
            if (settled && new.len() >= expected_instances.len()) || Instant::now() > deadline {
                break new;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // `ls` shows the instance without its data; `get` has it.
        let instances: Vec<Value> = instances
            .iter()
            .map(|i| client(&label, &["get", i["id"].as_str().unwrap()]))
            .collect();
        assert_eq!(
            instances.len(),
            expected_instances.len(),
            "{label}: {instances:#?}"
        );
        for instance in &instances {
            let position = expected_instances.iter().position(|expected| {
                matches(
                    &json!({"workflowId": expected["workflow"], "status": expected["status"]}),
                    instance,
                ) && ["output", "error"].iter().all(|key| {
                    expected
                        .get(*key)
                        .is_none_or(|value| matches(value, &instance[*key]))
                })
            });
            let Some(position) = position else {
                panic!(
                    "{label}: no expected instance matches {instance:#}\nexpected: {expected_instances:#?}"
                );
            };
            expected_instances.remove(position);
        }
    }
    cases(expected).len()
}
