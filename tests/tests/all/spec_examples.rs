//! The 1.0 specification's examples (`../shared/spec/serverless-workflow-1.0/examples/`)
//! run through the real `swirl` binary, each with the outcome read off the
//! example. Those that only compute run with `swirl run`; those that wait
//! for events run on their own `swirl serve`, driven with `swirl start` and
//! `swirl send`. Calls to petstore go to the conformance kit's stand-in on
//! loopback (the runner rewrites the URLs, as for the kit).
//!
//! An example is either run here ([`cases`]) or listed in [`NOT_RUN`] with
//! what it needs that a test on loopback does not have; one that loads and
//! is in neither fails the test. An example swirl refuses at validation
//! (the load test, `conformance.rs`, names why) is skipped, and run as soon
//! as it loads.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swirl_tests::{in_parallel, run, swirl};

use crate::conformance::{SERVICES, start_services};
use crate::examples_run::matches;
use crate::server::util::{Server, serve_command};

/// The examples not run, and what each needs that the test does not have.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "accumulate-room-readings.yaml",
        "calls the OpenAPI document at http://myorg.io/ordersservices.json",
    ),
    (
        "authentication-oauth2.yaml",
        "gets its token from an OAuth2 authority (http://keycloak/realms/fake-authority)",
    ),
    (
        "authentication-oauth2-secret.yaml",
        "gets its token from an OAuth2 authority named in a secret",
    ),
    (
        "authentication-oidc.yaml",
        "gets its token from an OpenID Connect authority (http://keycloak/realms/fake-authority)",
    ),
    (
        "authentication-oidc-secret.yaml",
        "gets its token from an OpenID Connect authority named in a secret",
    ),
    (
        "call-asyncapi-publish.yaml",
        "an AsyncAPI document and server at fake.com",
    ),
    (
        "call-asyncapi-subscribe-consume-amount.yaml",
        "an AsyncAPI document and server at fake.com",
    ),
    (
        "call-asyncapi-subscribe-consume-forever-foreach.yaml",
        "an AsyncAPI document and server at fake.com, and never ends",
    ),
    (
        "call-asyncapi-subscribe-consume-until.yaml",
        "an AsyncAPI document and server at fake.com",
    ),
    (
        "call-asyncapi-subscribe-consume-while.yaml",
        "an AsyncAPI document and server at fake.com",
    ),
    (
        "call-custom-function-cataloged.yaml",
        "the function is fetched from the catalog on raw.githubusercontent.com",
    ),
    (
        "call-grpc.yaml",
        "a gRPC server on localhost:5011 and its file://app/greet.proto",
    ),
    (
        "call-http-query-headers-expressions.yaml",
        "calls https://swapi.dev",
    ),
    ("call-http-query-parameters.yaml", "calls https://swapi.dev"),
    ("call-http-redirect.yaml", "calls https://swapi.dev"),
    (
        "call-mcp.yaml",
        "runs an MCP server with npx (slack-mcp-server) that posts to Slack",
    ),
    (
        "fork.yaml",
        "calls https://fake-hospital.com in both branches",
    ),
    (
        "listen-to-any-forever-foreach.yaml",
        "never ends (until: false), and posts each event to https://fake-chat-api.com",
    ),
    (
        "listen-to-one.yaml",
        "after the event, posts to https://virtual-wf-powered-race.com",
    ),
    (
        "mock-service-extension.yaml",
        "its extension stands in for https://mocked.service.com, but the task calls https://fake.com",
    ),
    ("run-container.yaml", "runs a container"),
    ("run-container-cleanup-always.yaml", "runs a container"),
    ("run-container-cleanup-eventually.yaml", "runs a container"),
    ("run-container-stdin-and-arguments.yaml", "runs a container"),
    ("run-container-with-name.yaml", "runs a container"),
    ("run-container-with-pull-policy.yaml", "runs a container"),
    ("run-return-all.yaml", "runs a container"),
    ("run-return-code.yaml", "runs a container"),
    ("run-return-none.yaml", "runs a container"),
    ("run-return-stderr.yaml", "runs a container"),
    (
        "run-script-with-stdin-and-arguments.yaml",
        "runs a JavaScript script (node)",
    ),
    ("run-shell-stdin-and-arguments.yaml", "runs a shell command"),
    (
        "schedule-cron.yaml",
        "a daily schedule that posts to https://example.com",
    ),
    (
        "schedule-event-driven.yaml",
        "posts to https://hospital.example.com",
    ),
    ("star-wars-homeworld.yaml", "calls https://swapi.dev"),
    (
        "try-catch-then-directive.yaml",
        "calls https://external-service.example.com",
    ),
];

/// The workflow `run-subflow.yaml` runs, which the examples do not give: it
/// answers what it was given.
const REGISTER_CUSTOMER: &str = "
document:
  dsl: '1.0.3'
  namespace: test
  name: register-customer
  version: '0.1.0'
do:
  - register:
      set:
        registered: ${ .customer }
";

/// How a case ends.
enum Expect {
    /// Completes with this output (`matches`: an object's members named here).
    Output(Value),
    /// Faults with a problem that has these members.
    Fault(Value),
}

/// One run of an example.
struct Case {
    file: &'static str,
    /// What this run of the file shows, when the file has several.
    label: &'static str,
    input: Option<Value>,
    /// Events sent, in order, once the instance started (`type`, `data`);
    /// a case with events runs on `swirl serve`.
    events: Vec<Value>,
    served: bool,
    expect: Expect,
    /// The least time it takes (a `wait`).
    at_least: Duration,
    /// Other workflows of the app (file name, YAML).
    others: Vec<(&'static str, &'static str)>,
}

fn case(file: &'static str, input: Value, expect: Expect) -> Case {
    Case {
        file,
        label: "",
        input: Some(input),
        events: Vec::new(),
        served: false,
        expect,
        at_least: Duration::ZERO,
        others: Vec::new(),
    }
}

/// A case on `swirl serve`: started with `input` (none: the events start it,
/// by the workflow's `schedule.on`), then sent `events`.
fn served(file: &'static str, input: Option<Value>, events: Vec<Value>, expect: Expect) -> Case {
    Case {
        input,
        events,
        served: true,
        ..case(file, Value::Null, expect)
    }
}

impl Case {
    fn label(self, label: &'static str) -> Self {
        Case { label, ..self }
    }
}

fn event(ty: &str, data: Value) -> Value {
    json!({"type": ty, "data": data})
}

const TEMPERATURE: &str = "com.fake-hospital.vitals.measurements.temperature";
const BPM: &str = "com.fake-hospital.vitals.measurements.bpm";

/// The cases, each checked against the example as written.
fn cases() -> Vec<Case> {
    use Expect::{Fault, Output};
    let pet = |id: u64, status: &str| json!({"id": id, "name": "Milou", "status": status});
    let token = json!({"petId": 1, "token": "t0k3n"});
    let not_implemented = json!({
        "type": "https://serverlessworkflow.io/errors/not-implemented",
        "status": 500,
        "title": "Not Implemented",
        "detail": "The workflow 'raise-not-implemented:0.1.0' is a work in progress and cannot be run yet",
        "instance": "/do/0/notImplemented",
    });
    let waited = |file| Case {
        at_least: Duration::from_secs(30),
        ..case(file, json!({"n": 1}), Output(json!({"n": 1})))
    };
    vec![
        case(
            "authentication-bearer.yaml",
            token.clone(),
            Output(pet(1, "available")),
        ),
        case(
            "authentication-bearer-uri-format.yaml",
            token.clone(),
            Output(pet(1, "available")),
        ),
        case(
            "authentication-reusable.yaml",
            token,
            Output(pet(1, "available")),
        ),
        // Its function, defined in `use.functions`, calls petstore.
        case(
            "call-custom-function-inline.yaml",
            json!({}),
            Output(pet(69, "available")),
        ),
        case(
            "call-http-endpoint-interpolation.yaml",
            json!({"petId": 7}),
            Output(pet(7, "available")),
        ),
        case(
            "call-http-endpoint-interpolation-shorthand.yaml",
            json!({"petId": 7}),
            Output(pet(7, "available")),
        ),
        case(
            "call-openapi.yaml",
            json!({}),
            Output(json!([pet(1, "available"), pet(2, "available")])),
        ),
        case(
            "call-openapi-redirect.yaml",
            json!({}),
            Output(json!([pet(1, "available"), pet(2, "available")])),
        ),
        // A customer of age raises the error; one who is not would post a
        // bet to https://superbet-casinos.com.
        case(
            "conditional-task.yaml",
            json!({"customer": {"age": 16}}),
            Fault(json!({
                "type": "https://superbet-casinos.com/customer/access-forbidden",
                "status": 400,
                "title": "Access Forbidden",
                "instance": "/do/0/raiseErrorIfUnderage",
            })),
        ),
        case(
            "do-single.yaml",
            json!({"petId": 1}),
            Output(pet(1, "available")),
        ),
        // The stand-in answers a PUT with the pet it was sent.
        case(
            "do-multiple.yaml",
            json!({"petId": 1}),
            Output(pet(1, "sold")),
        ),
        case(
            "emit.yaml",
            json!({}),
            Output(json!({
                "specversion": "1.0",
                "source": "https://petstore.com",
                "type": "com.petstore.order.placed.v1",
                "data": {
                    "client": {"firstName": "Cruella", "lastName": "de Vil"},
                    "items": [{"breed": "dalmatian", "quantity": 101}],
                },
            })),
        ),
        case(
            "for-inline-array.yaml",
            json!({}),
            Output(json!({"processed": [
                {"name": "red", "hex": "#FF0000"},
                {"name": "green", "hex": "#00FF00"},
                {"name": "blue", "hex": "#0000FF"},
            ]})),
        ),
        // As written it cannot complete: its `output.as` reads `.pets` of
        // the listen's output, which is the array of the events consumed.
        served(
            "for.yaml",
            Some(json!({"pets": [{"id": 1}, {"id": 2}], "vet": "Dr. Ada"})),
            vec![event(
                "com.fake.petclinic.pets.checkup.completed.v2",
                json!({"petId": 1}),
            )],
            Fault(json!({
                "type": "https://open-workflow-specification.org/spec/1.0.0/errors/expression",
                "status": 400,
                "instance": "/do/0/checkup/do/0/waitForCheckup",
            })),
        ),
        // The first temperature is turned down by its filter's condition.
        served(
            "listen-to-all.yaml",
            Some(json!({})),
            vec![
                event(TEMPERATURE, json!({"temperature": 37})),
                event(BPM, json!({"bpm": 120})),
                event(TEMPERATURE, json!({"temperature": 39})),
            ],
            Output(json!([{"temperature": 39}, {"bpm": 120}])),
        ),
        served(
            "listen-to-all read-envelope.yaml",
            Some(json!({})),
            vec![
                event(TEMPERATURE, json!({"temperature": 39})),
                event(BPM, json!({"bpm": 50})),
            ],
            Output(json!([
                {"specversion": "1.0", "type": TEMPERATURE, "source": "spec-examples", "data": {"temperature": 39}},
                {"specversion": "1.0", "type": BPM, "source": "spec-examples", "data": {"bpm": 50}},
            ])),
        ),
        served(
            "listen-to-any.yaml",
            Some(json!({})),
            vec![event("com.example.anything", json!({"any": 1}))],
            Output(json!([{"any": 1}])),
        ),
        served(
            "listen-to-any-filter.yaml",
            Some(json!({})),
            vec![
                event(TEMPERATURE, json!({"temperature": 37})),
                event(BPM, json!({"bpm": 80})),
                event(BPM, json!({"bpm": 50})),
            ],
            Output(json!([{"bpm": 50}])),
        ),
        // Until more than three events were consumed.
        served(
            "listen-to-any-until-condition.yaml",
            Some(json!({})),
            (1..=4)
                .map(|n| event("com.example.anything", json!({"n": n})))
                .collect(),
            Output(json!([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}])),
        ),
        // The check-out ends the listen and is not part of its output.
        served(
            "listen-to-any-until-consumed.yaml",
            Some(json!({})),
            vec![
                event(TEMPERATURE, json!({"temperature": 39})),
                event(TEMPERATURE, json!({"temperature": 36})),
                event(BPM, json!({"bpm": 120})),
                event("com.fake-hospital.patient.checked-out", json!({})),
            ],
            Output(json!([{"temperature": 39}, {"bpm": 120}])),
        ),
        case(
            "raise-inline.yaml",
            json!({}),
            Fault(not_implemented.clone()),
        ),
        case("raise-reusable.yaml", json!({}), Fault(not_implemented)),
        // `customer: .user` has no `${ }`: it is the string, not an
        // expression (the 1.0 default, `evaluate.mode: strict`).
        Case {
            others: vec![("register-customer.yaml", REGISTER_CUSTOMER)],
            ..case(
                "run-subflow.yaml",
                json!({"user": {"name": "Ada"}}),
                Output(json!({"registered": ".user"})),
            )
        },
        // Started by the event, whose data is the input's first item.
        served(
            "set.yaml",
            None,
            vec![event(
                "io.serverlessworkflow.samples.events.trigger.v1",
                json!({"hello": "world"}),
            )],
            Output(json!({"startEvent": {"hello": "world"}})),
        ),
        served(
            "set-expression.yaml",
            None,
            vec![event(
                "io.serverlessworkflow.samples.events.trigger.v1",
                json!({"hello": "world"}),
            )],
            Output(json!({"hello": "world"})),
        ),
        case(
            "switch-then-string.yaml",
            json!({"orderType": "electronic"}),
            Output(json!({"validate": true, "status": "fulfilled"})),
        )
        .label("electronic"),
        case(
            "switch-then-string.yaml",
            json!({"orderType": "physical"}),
            Output(json!({"inventory": "clear", "items": 1, "address": "Elmer St"})),
        )
        .label("physical"),
        case(
            "switch-then-string.yaml",
            json!({"orderType": "gift card"}),
            Output(json!({"log": "warn", "message": "something's wrong"})),
        )
        .label("default"),
        // A pet the store has needs no retry; one it has not (404) is not
        // the 503 the retry is for.
        case(
            "try-catch-retry-inline.yaml",
            json!({"petId": 1}),
            Output(pet(1, "available")),
        ),
        case(
            "try-catch-retry-reusable.yaml",
            json!({"petId": 1}),
            Output(pet(1, "available")),
        )
        .label("found"),
        case(
            "try-catch-retry-reusable.yaml",
            json!({"petId": 404}),
            Fault(json!({"status": 404, "instance": "/do/0/tryGetPet/try/0/getPet"})),
        )
        .label("not found"),
        case(
            "try-catch.yaml",
            json!({"petId": 1}),
            Output(pet(1, "available")),
        )
        .label("found"),
        // Caught, with no tasks to run: the try's output is its input.
        case(
            "try-catch.yaml",
            json!({"petId": 404}),
            Output(json!({"petId": 404})),
        )
        .label("not found"),
        case(
            "try-catch-then.yaml",
            json!({"petId": 1}),
            Output(pet(1, "sold")),
        )
        .label("found: bought"),
        // The catch exports the error, so `buyPet` is skipped; `error:
        // $error` in its `set` has no `${ }`, so it sets the string.
        case(
            "try-catch-then.yaml",
            json!({"petId": 404}),
            Output(json!({"error": "$error"})),
        )
        .label("not found: not bought"),
        waited("wait-duration-inline.yaml"),
        waited("wait-duration-iso8601.yaml"),
    ]
}

fn examples_dir() -> std::path::PathBuf {
    crate::conformance::spec_dir().join("examples")
}

/// Whether swirl loads `text`; `Err` has the errors when it does not.
fn loads(file: &str, text: &str) -> Result<(), String> {
    swirl_workflow::parse(text, Some(file), swirl_workflow::KnownFunctions::Unchecked)
        .map(drop)
        .map_err(|diagnostics| {
            let errors: Vec<String> = diagnostics
                .0
                .iter()
                .filter(|d| d.severity == swirl_workflow::Severity::Error)
                .map(|d| d.message.clone())
                .collect();
            errors.join("; ")
        })
}

/// The app of a case in `dir`: the example as `workflow.yaml` (petstore
/// rewritten to `services`) and the case's other workflows. Returns the
/// workflow's id.
fn write_app(dir: &Path, case: &Case, text: &str, services: &str) -> String {
    let text = SERVICES.iter().fold(text.to_string(), |text, service| {
        text.replace(service, services)
    });
    std::fs::write(dir.join("workflow.yaml"), &text).unwrap();
    let mut files = vec!["\"workflow.yaml\"".to_string()];
    for (file, other) in &case.others {
        std::fs::write(dir.join(file), other).unwrap();
        files.push(format!("{file:?}"));
    }
    std::fs::write(
        dir.join("swirl.toml"),
        format!(
            "[app]\nname = \"spec-examples\"\nworkflows = [{}]\n",
            files.join(", ")
        ),
    )
    .unwrap();
    swirl_workflow::source::parse_yaml(&text)
        .unwrap()
        .to_value()["document"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs one case; `Err` says how it went otherwise.
fn check(case: &Case, text: &str, services: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let workflow = write_app(dir.path(), case, text, services);
    let started = Instant::now();
    let (output, problem) = if case.served {
        on_a_server(dir.path(), &workflow, case)?
    } else {
        let mut command = swirl(dir.path());
        command.args(["run", "swirl.toml", &workflow, "--data-dir", "data"]);
        if let Some(input) = &case.input {
            command.args(["--input", &input.to_string()]);
        }
        let result = run(&mut command);
        let last_line = result.stderr.lines().last().unwrap_or_default();
        match result.code {
            0 => (serde_json::from_str(result.stdout.trim()).ok(), None),
            1 => (None, serde_json::from_str(last_line).ok()),
            code => return Err(format!("exit {code}: {}", result.stderr.trim())),
        }
    };
    let elapsed = started.elapsed();
    match (&case.expect, output, problem) {
        (Expect::Output(expected), Some(output), _) if !matches(expected, &output) => {
            Err(format!("output {output}, not {expected}"))
        }
        (Expect::Output(_), Some(_), _) => Ok(()),
        (Expect::Fault(expected), _, Some(problem)) if !matches(expected, &problem) => {
            Err(format!("faulted with {problem}, not {expected}"))
        }
        (Expect::Fault(_), _, Some(_)) => Ok(()),
        (_, output, problem) => Err(format!(
            "ended otherwise: output {output:?}, problem {problem:?}"
        )),
    }?;
    if elapsed < case.at_least {
        return Err(format!("took {elapsed:?}, less than {:?}", case.at_least));
    }
    Ok(())
}

/// Runs a case on its own `swirl serve`: starts the instance (unless its
/// events start it), sends the events, and waits for the instance to end.
/// Returns its output or its problem.
fn on_a_server(
    dir: &Path,
    workflow: &str,
    case: &Case,
) -> Result<(Option<Value>, Option<Value>), String> {
    let server = Server::spawn(serve_command(dir, &dir.join("data")));
    let client = |args: &[&str]| server.client(dir, args);
    if let Some(input) = &case.input {
        client(&[
            "start",
            workflow,
            "--id",
            "example",
            "--input",
            &input.to_string(),
        ])?;
    }
    for (index, event) in case.events.iter().enumerate() {
        client(&[
            "send",
            "--type",
            event["type"].as_str().unwrap(),
            "--source",
            "spec-examples",
            "--id",
            &format!("event-{index}"),
            "--data",
            &event["data"].to_string(),
        ])?;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listed = client(&["ls", "--workflow", workflow])?;
        let ended = listed.as_array().and_then(|instances| {
            instances
                .iter()
                .find(|i| i["status"] == "completed" || i["status"] == "failed")
        });
        if let Some(instance) = ended {
            let instance = client(&["get", instance["id"].as_str().unwrap()])?;
            return Ok((
                instance.get("output").cloned(),
                instance.pointer("/error/problem").cloned(),
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no instance ended: {listed}\nserver log:\n{}",
                server.log()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_specification_examples_run_as_written() {
    let dir = examples_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    let cases = cases();
    let mut problems = Vec::new();
    let mut runnable = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let listed = NOT_RUN.iter().any(|(name, _)| name == file);
        let run_here: Vec<&Case> = cases.iter().filter(|c| c.file == file).collect();
        match (loads(file, &text), listed, run_here.is_empty()) {
            (_, true, false) => problems.push(format!("{file}: both run and in NOT_RUN")),
            (Ok(()), false, true) => problems.push(format!(
                "{file} loads: add cases for it, or list it in NOT_RUN with what it needs"
            )),
            (Err(why), false, false) => {
                eprintln!("{file}: refused at validation, not run yet ({why})")
            }
            (Ok(()), false, false) => {
                runnable.extend(run_here.into_iter().map(|c| (c, text.clone())))
            }
            (_, true, true) | (Err(_), false, true) => {}
        }
    }
    for (name, _) in NOT_RUN {
        if !files.iter().any(|file| file == name) {
            problems.push(format!("{name} is in NOT_RUN but not among the examples"));
        }
    }
    for case in &cases {
        if !files.iter().any(|file| file == case.file) {
            problems.push(format!(
                "{} has cases but is not among the examples",
                case.file
            ));
        }
    }
    let services = start_services();
    // Built before the clock of any case starts.
    swirl_tests::swirl_binary();
    // The waits sleep on threads of their own; the others share the
    // bounded pool.
    let (slow, quick): (Vec<_>, Vec<_>) = runnable
        .into_iter()
        .partition(|(case, _)| case.at_least > Duration::ZERO);
    let count = slow.len() + quick.len();
    let mut examples: Vec<&str> = slow.iter().chain(&quick).map(|(c, _)| c.file).collect();
    examples.dedup();
    let results = std::thread::scope(|scope| {
        let waiting: Vec<_> = slow
            .iter()
            .map(|(case, text)| scope.spawn(|| (*case, check(case, text, &services))))
            .collect();
        let mut results = in_parallel(quick, |(case, text)| (case, check(case, &text, &services)));
        results.extend(waiting.into_iter().map(|t| t.join().unwrap()));
        results
    });
    for (case, result) in results {
        if let Err(why) = result {
            problems.push(format!("{} {}: {why}", case.file, case.label));
        }
    }
    eprintln!(
        "{count} runs of {} examples; {} not run",
        examples.len(),
        NOT_RUN.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
