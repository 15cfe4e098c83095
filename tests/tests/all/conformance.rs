//! The Serverless Workflow 1.0 conformance kit (CTK): every scenario of the
//! official Gherkin features, run against the real `swirl` binary with
//! `swirl run` (and `swirl history` for the order of tasks).
//!
//! The features are read from the specification copy next to the
//! repository (`../shared/spec/serverless-workflow-1.0/ctk/features`, or
//! `SWIRL_SPEC_DIR`/ctk/features). The runner knows the steps the kit
//! phrases; an unknown step fails its scenario, so a new kit cannot pass by
//! being misread. Scenarios that need what swirl does not run yet are
//! listed in [`NOT_YET`] with the reason, and must be refused at validation
//! with "is not supported yet": when support lands they start passing and
//! this test tells you to take them off the list.

use std::path::{Path, PathBuf};

use serde_json::Value;
use swirl_tests::{run, swirl, workspace_root};

/// Scenarios refused for now, and why.
const NOT_YET: &[(&str, &str)] = &[];

/// The services the kit calls, rewritten to the local stand-in.
pub const SERVICES: [&str; 2] = ["https://petstore.swagger.io", "https://httpbin.org"];

/// A stand-in for the petstore and httpbin endpoints the kit (and the
/// specification's examples) call, on loopback: the runner rewrites their
/// URLs to it. Returns its base URL. Pets 1 to 100 are in the store.
pub fn start_services() -> String {
    use axum::extract::{Path as UrlPath, Query};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use axum::{Json, Router};
    use base64::Engine as _;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{address}");
    let document = serde_json::json!({
        "swagger": "2.0",
        "host": address.to_string(),
        "basePath": "/v2",
        "schemes": ["http"],
        "paths": {
            "/pet/findByStatus": {"get": {
                "operationId": "findPetsByStatus",
                "parameters": [{"name": "status", "in": "query", "type": "array"}],
            }},
            "/pet/{petId}": {"get": {
                "operationId": "getPetById",
                "parameters": [{"name": "petId", "in": "path", "type": "integer"}],
            }},
        },
    });
    let pet =
        |id: u64, status: &str| serde_json::json!({"id": id, "name": "Milou", "status": status});
    fn not_found() -> (StatusCode, Json<Value>) {
        let body = serde_json::json!({"code": 1, "type": "error", "message": "Pet not found"});
        (StatusCode::NOT_FOUND, Json(body))
    }
    let app = Router::new()
        .route("/v2/swagger.json", get(move || async move { Json(document) }))
        .route(
            "/v2/pet/findByStatus",
            get(move |Query(query): Query<std::collections::HashMap<String, String>>| async move {
                let status = query.get("status").cloned().unwrap_or_default();
                Json(serde_json::json!([pet(1, &status), pet(2, &status)]))
            }),
        )
        .route(
            "/v2/pet/{id}",
            get(move |UrlPath(id): UrlPath<u64>| async move {
                match id {
                    1..=100 => Ok(Json(pet(id, "available"))),
                    _ => Err(not_found()),
                }
            })
            // Takes the pet as sent.
            .put(|Json(pet): Json<Value>| async move { Json(pet) }),
        )
        .route(
            "/v2/pet/getPetByName/{name}",
            get(|| async { not_found() }),
        )
        .route(
            "/basic-auth/{user}/{password}",
            get(
                |UrlPath((user, password)): UrlPath<(String, String)>, headers: HeaderMap| async move {
                    let expected = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                    );
                    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                        Some(given) if given == expected => Ok(Json(
                            serde_json::json!({"authenticated": true, "user": user}),
                        )),
                        _ => Err(StatusCode::UNAUTHORIZED),
                    }
                },
            ),
        )
        .route(
            // As httpbin's: any bearer token passes, and is echoed back.
            "/bearer",
            get(|headers: HeaderMap| async move {
                let given = headers.get("authorization").and_then(|v| v.to_str().ok());
                match given.and_then(|v| v.strip_prefix("Bearer ")) {
                    Some(token) => Ok(Json(
                        serde_json::json!({"authenticated": true, "token": token}),
                    )),
                    None => Err(StatusCode::UNAUTHORIZED),
                }
            }),
        );
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    base
}

/// The 1.0 specification's directory: `SWIRL_SPEC_DIR`, or the copy next
/// to the repository.
pub fn spec_dir() -> PathBuf {
    std::env::var_os("SWIRL_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/spec/serverless-workflow-1.0"))
}

fn features_dir() -> PathBuf {
    let dir = spec_dir().join("ctk/features");
    assert!(
        dir.is_dir(),
        "the conformance kit is not at {}: set SWIRL_SPEC_DIR to the serverless-workflow-1.0 spec directory",
        dir.display()
    );
    dir
}

/// One step: its text (after the keyword) and its doc string, if any.
#[derive(Debug)]
struct Step {
    text: String,
    doc: Option<String>,
}

#[derive(Debug)]
struct Scenario {
    feature: String,
    name: String,
    steps: Vec<Step>,
}

/// Reads the scenarios of a feature file: the subset of Gherkin the kit uses.
fn parse_feature(path: &Path) -> Vec<Scenario> {
    let text = std::fs::read_to_string(path).expect("read a feature file");
    let feature = path.file_stem().unwrap().to_string_lossy().into_owned();
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("Scenario:") {
            scenarios.push(Scenario {
                feature: feature.clone(),
                name: name.trim().to_string(),
                steps: Vec::new(),
            });
        } else if trimmed.starts_with("\"\"\"") {
            let indent = line.len() - line.trim_start().len();
            let mut doc = Vec::new();
            for inner in lines.by_ref() {
                if inner.trim().starts_with("\"\"\"") {
                    break;
                }
                doc.push(inner.get(indent..).unwrap_or(inner.trim_start()));
            }
            let step = scenarios
                .last_mut()
                .and_then(|s| s.steps.last_mut())
                .expect("a doc string follows a step");
            step.doc = Some(doc.join("\n"));
        } else if let Some(scenario) = scenarios.last_mut() {
            for keyword in ["Given ", "When ", "Then ", "And ", "But "] {
                if let Some(rest) = trimmed.strip_prefix(keyword) {
                    scenario.steps.push(Step {
                        text: rest.trim().to_string(),
                        doc: None,
                    });
                }
            }
        }
    }
    scenarios
}

fn yaml(text: &str) -> Value {
    swirl_workflow::source::parse_yaml(text)
        .unwrap_or_else(|e| panic!("the kit's YAML does not parse: {e}\n{text}"))
        .to_value()
}

/// What running a scenario's workflow gave.
struct Outcome {
    /// `swirl run`'s exit code: 0 completed, 1 faulted, 2 refused.
    code: i32,
    output: Value,
    error: Value,
    stderr: String,
    tasks: Vec<String>,
}

/// Runs the first of `definitions` (the others are there for it to run as
/// children) in an app that has the test functions `functions`.
fn execute(
    definitions: &[String],
    functions: &[String],
    secrets: &[(String, String)],
    input: Option<&Value>,
    services: &str,
) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (index, definition) in definitions.iter().enumerate() {
        let definition = SERVICES.iter().fold(definition.clone(), |text, service| {
            text.replace(service, services)
        });
        let file = format!("workflow-{index}.yaml");
        std::fs::write(dir.path().join(&file), definition).unwrap();
        files.push(format!("{file:?}"));
    }
    let mut manifest = format!(
        "[app]\nname = \"ctk\"\nworkflows = [{}]\n",
        files.join(", ")
    );
    for function in functions {
        manifest.push_str(&format!(
            "\n[functions.{function}]\nsource = {:?}\ntimeout = \"5s\"\n",
            swirl_tests::guest(function).display().to_string()
        ));
    }
    let variable = |name: &str| format!("SWIRL_TEST_SECRET_{}", name.to_uppercase());
    if !secrets.is_empty() {
        manifest.push_str("\n[secrets]\n");
    }
    for (name, _) in secrets {
        manifest.push_str(&format!("{name} = {{ env = {:?} }}\n", variable(name)));
    }
    std::fs::write(dir.path().join("swirl.toml"), manifest).unwrap();
    let id = yaml(&definitions[0])["document"]["name"]
        .as_str()
        .expect("document.name")
        .to_string();
    let mut command = swirl(dir.path());
    command.args([
        "run",
        "swirl.toml",
        &id,
        "--id",
        "ctk",
        "--data-dir",
        "data",
    ]);
    if let Some(input) = input {
        command.args(["--input", &input.to_string()]);
    }
    for (name, value) in secrets {
        command.env(variable(name), value);
    }
    let result = run(&mut command);
    let last_line = result.stderr.lines().last().unwrap_or_default();
    let history = run(swirl(dir.path()).args(["history", "data", "ctk", "--json"]));
    // A secret's value is in no record: not the history, not the output.
    for (name, value) in secrets {
        assert!(
            !history.stdout.contains(value.as_str()) && !result.stdout.contains(value.as_str()),
            "secret '{name}' appears in the history or output:\n{}{}",
            history.stdout,
            result.stdout
        );
    }
    let tasks = history
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["kind"] == "taskStarted")
        .filter_map(|entry| entry["task"].as_str().map(str::to_owned))
        .collect();
    Outcome {
        code: result.code,
        output: serde_json::from_str(result.stdout.trim()).unwrap_or(Value::Null),
        error: serde_json::from_str(last_line).unwrap_or(Value::Null),
        stderr: result.stderr,
        tasks,
    }
}

/// The value at a dotted path (`error.instance`).
fn at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// Quoted names in a step: `'a', 'b.c'` → [a, b.c].
fn quoted(text: &str) -> Vec<&str> {
    text.split('\'').skip(1).step_by(2).collect()
}

/// Runs one scenario; `Err` says which step failed and why.
fn check(scenario: &Scenario, services: &str) -> Result<(), String> {
    let mut definitions = Vec::new();
    let mut functions = Vec::new();
    let mut secrets = Vec::new();
    let mut input = None;
    let mut outcome = None;
    for step in &scenario.steps {
        let text = step.text.as_str();
        let doc = step.doc.as_deref();
        fn got<'o>(outcome: &'o Option<Outcome>, text: &str) -> Result<&'o Outcome, String> {
            outcome
                .as_ref()
                .ok_or_else(|| format!("'{text}' before the workflow was executed"))
        }
        if text == "a workflow with definition:" || text == "another workflow with definition:" {
            definitions.extend(doc.map(str::to_owned));
        } else if let Some(rest) = text.strip_prefix("the app has the test function ") {
            functions.extend(quoted(rest).into_iter().map(str::to_owned));
        } else if let Some(rest) = text.strip_prefix("the app has the secret ") {
            let name = quoted(rest).first().copied().ok_or("no secret named")?;
            let value = doc.ok_or("no secret value")?.trim().to_string();
            secrets.push((name.to_string(), value));
        } else if text == "given the workflow input is:" || text == "the workflow input is:" {
            input = doc.map(yaml);
        } else if text == "the workflow is executed" {
            if definitions.is_empty() {
                return Err("no workflow definition given".into());
            }
            outcome = Some(execute(
                &definitions,
                &functions,
                &secrets,
                input.as_ref(),
                services,
            ));
        } else if text.starts_with("the workflow should complete") {
            let outcome = got(&outcome, text)?;
            if outcome.code != 0 {
                return Err(format!("it did not complete: {}", outcome.stderr.trim()));
            }
            if text.ends_with("with output:") {
                let expected = yaml(doc.ok_or("no expected output")?);
                if outcome.output != expected {
                    return Err(format!(
                        "output {} is not the expected {expected}",
                        outcome.output
                    ));
                }
            }
        } else if text.starts_with("the workflow should fault") {
            let outcome = got(&outcome, text)?;
            if outcome.code != 1 {
                return Err(format!(
                    "it did not fault (exit {}): {}{}",
                    outcome.code,
                    outcome.output,
                    outcome.stderr.trim()
                ));
            }
            if text.ends_with("with error:") {
                let expected = yaml(doc.ok_or("no expected error")?);
                for (key, value) in expected.as_object().ok_or("the error is no object")? {
                    if outcome.error.get(key) != Some(value) {
                        return Err(format!("error {} has no '{key}': {value}", outcome.error));
                    }
                }
            }
        } else if let Some(rest) = text.strip_prefix("the workflow output should have properties ")
        {
            let outcome = got(&outcome, text)?;
            for path in quoted(rest) {
                if at(&outcome.output, path).is_none() {
                    return Err(format!("output {} has no '{path}'", outcome.output));
                }
            }
        } else if let Some(rest) = text.strip_prefix("the workflow output should have a ") {
            let outcome = got(&outcome, text)?;
            let path = quoted(rest).first().copied().ok_or("no property named")?;
            let actual = at(&outcome.output, path);
            if rest.ends_with("property with value:") {
                let expected = yaml(doc.ok_or("no expected value")?);
                if actual != Some(&expected) {
                    return Err(format!("'{path}' is {actual:?}, not {expected}"));
                }
            } else if let Some(count) = rest
                .split("containing ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
            {
                let length = actual.and_then(Value::as_array).map(Vec::len);
                if length != Some(count) {
                    return Err(format!("'{path}' has {length:?} items, not {count}"));
                }
            } else {
                return Err(format!("unknown step '{text}'"));
            }
        } else if let Some((task, order)) = text.split_once(" should run ") {
            let tasks = &got(&outcome, text)?.tasks;
            let position = |name: &str| tasks.iter().position(|t| t == name);
            let ok = match order {
                "first" => tasks.first().map(String::as_str) == Some(task),
                "last" => tasks.last().map(String::as_str) == Some(task),
                after => match after.strip_prefix("after ") {
                    Some(before) => matches!(
                        (position(before), position(task)),
                        (Some(b), Some(t)) if b < t
                    ),
                    None => return Err(format!("unknown step '{text}'")),
                },
            };
            if !ok {
                return Err(format!("'{text}' is false: the tasks ran as {tasks:?}"));
            }
        } else {
            return Err(format!("unknown step '{text}'"));
        }
    }
    Ok(())
}

fn scenarios_in(dir: &Path) -> Vec<Scenario> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "feature"))
        .collect();
    paths.sort();
    paths.iter().flat_map(|p| parse_feature(p)).collect()
}

#[test]
fn the_conformance_kit_passes() {
    let scenarios = scenarios_in(&features_dir());
    assert!(
        scenarios.len() >= 21,
        "the kit has {} scenarios",
        scenarios.len()
    );
    run_scenarios(&scenarios);
}

/// Our own scenarios in the kit's phrasing, for what it does not cover
/// (`tests/features/`).
#[test]
fn our_own_features_pass() {
    let scenarios = scenarios_in(&workspace_root().join("tests/features"));
    assert!(!scenarios.is_empty());
    run_scenarios(&scenarios);
}

fn run_scenarios(scenarios: &[Scenario]) {
    let services = start_services();
    let results =
        swirl_tests::in_parallel(scenarios.iter().collect(), |s| (s, check(s, &services)));
    let mut failures = Vec::new();
    let mut passed = 0;
    for (scenario, result) in &results {
        let not_yet = NOT_YET.iter().find(|(name, _)| *name == scenario.name);
        match (result, not_yet) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(_)) => failures.push(format!(
                "{}/{}: passes now; take it off NOT_YET",
                scenario.feature, scenario.name
            )),
            (Err(why), Some((_, needs))) if why.contains("is not supported yet") => {
                eprintln!("{}/{}: not yet ({needs})", scenario.feature, scenario.name)
            }
            (Err(why), _) => {
                failures.push(format!("{}/{}: {why}", scenario.feature, scenario.name))
            }
        }
    }
    eprintln!(
        "{passed} of {} scenarios pass, {} not supported yet",
        scenarios.len(),
        NOT_YET.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every example of the 1.0 specification either loads or is refused with
/// errors that each name something swirl does not run yet; none is
/// misread (an error of any other kind) and none panics the reader.
#[test]
fn the_specification_examples_load_or_are_refused_by_name() {
    let dir = spec_dir().join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() > 50, "{} examples", paths.len());
    let (mut loaded, mut refused, mut misread) = (Vec::new(), Vec::new(), Vec::new());
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        match swirl_workflow::parse(
            &text,
            Some(&name),
            swirl_workflow::KnownFunctions::Unchecked,
        ) {
            Ok(_) => loaded.push(name),
            Err(diagnostics) => {
                let errors: Vec<_> = diagnostics
                    .0
                    .iter()
                    .filter(|d| d.severity == swirl_workflow::Severity::Error)
                    .map(|d| d.message.clone())
                    .collect();
                if errors.iter().all(|m| m.contains("not supported")) {
                    refused.push(format!("{name}: {}", errors.join("; ")));
                } else {
                    misread.push(format!("{name}: {}", errors.join("; ")));
                }
            }
        }
    }
    eprintln!("{} examples load: {}", loaded.len(), loaded.join(", "));
    eprintln!("{} are refused:\n  {}", refused.len(), refused.join("\n  "));
    assert!(misread.is_empty(), "misread:\n{}", misread.join("\n"));
}
