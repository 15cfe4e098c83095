//! The Serverless Workflow 1.0 conformance kit (CTK): every scenario of the
//! official Gherkin features, run against the real `swirl` binary with
//! `swirl run` (and `swirl history` for the order of tasks).
//!
//! Our own features (`tests/features/`) add steps in the kit's phrasing for
//! what only `swirl serve` runs, schedules: `When the workflow is served`
//! starts a real server on loopback with the scenario's workflows deployed,
//! `the event is published:` sends it a CloudEvent, `the server is killed
//! and started again` restarts it on the same data, and `N instances of the
//! workflow should complete with outputs:` waits (at most
//! [`INSTANCE_WAIT`]) for instances of the scenario's first workflow.
//! Every process the runner starts is bounded by [`PROCESS_TIMEOUT`]: one
//! that hangs fails its scenario, naming the command, instead of the test.
//!
//! The features are read from the specification copy next to the
//! repository (`../shared/spec/serverless-workflow-1.0/ctk/features`, or
//! `SWIRL_SPEC_DIR`/ctk/features). The runner knows the steps the kit
//! phrases; an unknown step fails its scenario, so a new kit cannot pass by
//! being misread. Scenarios that need what swirl does not run yet are
//! listed in [`NOT_YET`] with the reason, and must be refused at validation
//! with "is not supported yet": when support lands they start passing and
//! this test tells you to take them off the list.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use swirl_tests::{Run, swirl, workspace_root};

use crate::server::util::{Server, serve_command};

/// How long any process the runner starts may take (a `swirl run`, a
/// `swirl history`); one still running then is killed and fails its
/// scenario.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a served scenario waits for the instances it expects.
const INSTANCE_WAIT: Duration = Duration::from_secs(30);

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
    swirl_tests::serve_on_thread(listener, app);
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

/// Runs `command` to its end, or kills it after [`PROCESS_TIMEOUT`] and
/// says which command hung.
fn run_bounded(command: &mut Command) -> Result<Run, String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    // Drained while it runs, so that it never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
                return Err(format!(
                    "`swirl {}` did not end within {} s and was killed; it printed:\n{}",
                    args.join(" "),
                    PROCESS_TIMEOUT.as_secs(),
                    stderr.join().unwrap_or_default()
                ));
            }
        }
    };
    Ok(Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// The environment variable a scenario's secret is passed in.
fn secret_variable(name: &str) -> String {
    format!("SWIRL_TEST_SECRET_{}", name.to_uppercase())
}

/// An app of `definitions` (with the kit's services rewritten to the
/// stand-in) that has the test functions `functions` and the secrets
/// `secrets`; returns its directory and the first workflow's id.
fn write_app(
    definitions: &[String],
    functions: &[String],
    secrets: &[(String, String)],
    services: &str,
) -> (tempfile::TempDir, String) {
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
    if !secrets.is_empty() {
        manifest.push_str("\n[secrets]\n");
    }
    for (name, _) in secrets {
        manifest.push_str(&format!(
            "{name} = {{ env = {:?} }}\n",
            secret_variable(name)
        ));
    }
    std::fs::write(dir.path().join("swirl.toml"), manifest).unwrap();
    let id = yaml(&definitions[0])["document"]["name"]
        .as_str()
        .expect("document.name")
        .to_string();
    (dir, id)
}

/// Runs the first of `definitions` (the others are there for it to run as
/// children) in an app that has the test functions `functions`.
fn execute(
    definitions: &[String],
    functions: &[String],
    secrets: &[(String, String)],
    input: Option<&Value>,
    services: &str,
) -> Result<Outcome, String> {
    let (dir, id) = write_app(definitions, functions, secrets, services);
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
        command.env(secret_variable(name), value);
    }
    let result = run_bounded(&mut command)?;
    let last_line = result.stderr.lines().last().unwrap_or_default();
    let history = run_bounded(swirl(dir.path()).args(["history", "data", "ctk", "--json"]))?;
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
    Ok(Outcome {
        code: result.code,
        output: serde_json::from_str(result.stdout.trim()).unwrap_or(Value::Null),
        error: serde_json::from_str(last_line).unwrap_or(Value::Null),
        stderr: result.stderr,
        tasks,
    })
}

/// A scenario's workflows deployed on a real `swirl serve`.
struct Served {
    dir: tempfile::TempDir,
    /// The first workflow's id: "the workflow" of the steps.
    workflow: String,
    secrets: Vec<(String, String)>,
    server: Server,
    runtime: tokio::runtime::Runtime,
}

impl Served {
    fn start(
        definitions: &[String],
        functions: &[String],
        secrets: &[(String, String)],
        services: &str,
    ) -> Served {
        let (dir, workflow) = write_app(definitions, functions, secrets, services);
        let server = Self::spawn(dir.path(), secrets);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Served {
            dir,
            workflow,
            secrets: secrets.to_vec(),
            server,
            runtime,
        }
    }

    fn spawn(dir: &Path, secrets: &[(String, String)]) -> Server {
        let mut command = serve_command(dir, Path::new("data"));
        command.env("SWIRL_LOG", "info");
        for (name, value) in secrets {
            command.env(secret_variable(name), value);
        }
        Server::spawn(command)
    }

    /// SIGKILL, then a new server on the same data.
    fn restart(&mut self) {
        self.server.kill();
        self.server = Self::spawn(self.dir.path(), &self.secrets);
    }

    /// Sends `event` in structured mode; `Err` unless it is accepted.
    fn publish(&self, event: &Value) -> Result<(), String> {
        let answer = self.runtime.block_on(self.server.request(
            "POST",
            "/events",
            &[("content-type", "application/cloudevents+json")],
            event.to_string(),
        ));
        if answer.status >= 300 {
            return Err(format!(
                "the event {event} was answered {}: {}",
                answer.status, answer.text
            ));
        }
        Ok(())
    }

    /// Every instance of the workflow now, in start order.
    fn instances(&self) -> Vec<Value> {
        let mut instances = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self.runtime.block_on(self.server.get(&format!(
                "/instances?workflow={}&limit=1000&cursor={cursor}",
                self.workflow
            )));
            instances.extend(
                page.body["instances"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            match page.body["nextCursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => return instances,
            }
        }
    }

    /// Waits until `count` instances of the workflow have completed (at
    /// most [`INSTANCE_WAIT`]); returns every completed one.
    fn wait_completed(&self, count: usize) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + INSTANCE_WAIT;
        loop {
            let instances = self.instances();
            let completed: Vec<Value> = instances
                .iter()
                .filter(|i| i["status"] == "completed")
                .cloned()
                .collect();
            if completed.len() >= count {
                return Ok(completed);
            }
            if Instant::now() >= deadline {
                let statuses: Vec<String> = instances
                    .iter()
                    .map(|i| format!("{} {}", i["id"], i["status"]))
                    .collect();
                return Err(format!(
                    "{} of the {count} instances of '{}' expected completed within {} s; its instances: {statuses:?}\nserver log:\n{}",
                    completed.len(),
                    self.workflow,
                    INSTANCE_WAIT.as_secs(),
                    self.server.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The count a step starts or ends with: `2 instances of …` → 2.
fn count_in(text: &str, at_end: bool) -> Option<usize> {
    let word = if at_end {
        text.rsplit(' ').nth(1)
    } else {
        text.split(' ').next()
    };
    word?.parse().ok()
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
    let mut served: Option<Served> = None;
    for step in &scenario.steps {
        let text = step.text.as_str();
        let doc = step.doc.as_deref();
        fn got<'o>(outcome: &'o Option<Outcome>, text: &str) -> Result<&'o Outcome, String> {
            outcome
                .as_ref()
                .ok_or_else(|| format!("'{text}' before the workflow was executed"))
        }
        fn serving<'s>(served: &'s Option<Served>, text: &str) -> Result<&'s Served, String> {
            served
                .as_ref()
                .ok_or_else(|| format!("'{text}' before the workflow was served"))
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
            )?);
        } else if text == "the workflow is served" {
            if definitions.is_empty() {
                return Err("no workflow definition given".into());
            }
            served = Some(Served::start(&definitions, &functions, &secrets, services));
        } else if text == "the event is published:" {
            let event = yaml(doc.ok_or("no event given")?);
            serving(&served, text)?.publish(&event)?;
        } else if text == "the server is killed and started again" {
            served
                .as_mut()
                .ok_or_else(|| format!("'{text}' before the workflow was served"))?
                .restart();
        } else if let Some(rest) = text.strip_prefix("the workflow should have ") {
            let served = serving(&served, text)?;
            let count = count_in(rest, true).ok_or_else(|| format!("unknown step '{text}'"))?;
            let instances = served.instances();
            if instances.len() != count {
                let ids: Vec<&Value> = instances.iter().map(|i| &i["id"]).collect();
                return Err(format!(
                    "'{}' has {} instances, not {count}: {ids:?}",
                    served.workflow,
                    instances.len()
                ));
            }
        } else if text.contains(" of the workflow should complete") {
            let served = serving(&served, text)?;
            let count = count_in(text, false).ok_or_else(|| format!("unknown step '{text}'"))?;
            let completed = served.wait_completed(count)?;
            if text.ends_with(':') {
                let expected = yaml(doc.ok_or("no expected outputs")?);
                let expected = expected.as_array().ok_or("the outputs are no list")?;
                // Each expected output is some other completed instance's.
                let mut outputs: Vec<&Value> = completed.iter().map(|i| &i["output"]).collect();
                for output in expected {
                    match outputs.iter().position(|o| *o == output) {
                        Some(at) => {
                            outputs.remove(at);
                        }
                        None => {
                            let all: Vec<&Value> = completed.iter().map(|i| &i["output"]).collect();
                            return Err(format!(
                                "no completed instance has output {output}: their outputs are {all:?}"
                            ));
                        }
                    }
                }
            }
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
