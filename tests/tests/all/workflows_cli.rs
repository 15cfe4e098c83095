//! `swirl validate` on workflow definitions and on manifests that list them,
//! and `swirl graph` on definitions, through the real binary.

use serde_json::Value;
use swirl_tests::{App, run, swirl, workspace_root};

fn fixture(path: &str) -> String {
    workspace_root()
        .join("tests/fixtures/workflows")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn a_valid_definition_validates_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let run = run(swirl(dir.path()).args(["validate", &fixture("spec-examples/greeting.yaml")]));
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn an_invalid_definition_lists_every_finding_with_file_position_and_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("invalid/transition-target-missing/workflow.json");
    let run = run(swirl(dir.path()).args(["validate", &file]));
    assert_eq!(run.code, 2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{file}:33:22: error: state 'CheckCredit' transitions to 'Aprove', which does not exist; did you mean 'Approve'? (at /states/0/transition/nextState)"
            ),
            format!(
                "{file}:37:15: warning: state 'Approve' is never reached: no transition leads to it from the start state of the workflow (at /states/1/name)"
            ),
        ]
    );
}

#[test]
fn json_output_carries_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("invalid/transition-target-missing/workflow.json");
    let run = run(swirl(dir.path()).args(["validate", "--json", &file]));
    assert_eq!(run.code, 2);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let first = &report["findings"][0];
    assert_eq!(first["pointer"], "/states/0/transition/nextState");
    assert_eq!(first["severity"], "error");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(33), Some(22))
    );
}

#[test]
fn a_manifest_checks_its_workflows_against_its_functions() {
    let app = App::new(
        r#"
[app]
name = "wf"
workflows = ["greeting.json"]

[functions.probe]
source = "{probe}"
"#,
    );
    std::fs::write(
        app.path().join("greeting.json"),
        r#"{
  "id": "greeting",
  "version": "1.0",
  "name": "Greeting",
  "functions": [{ "name": "greetingFunction", "resource": "greeter" }],
  "states": [
    {
      "name": "Greet",
      "type": "OPERATION",
      "start": { "kind": "DEFAULT" },
      "actionMode": "SEQUENTIAL",
      "actions": [{ "functionRef": { "refName": "greetingFunction" } }],
      "end": { "kind": "DEFAULT" }
    }
  ]
}
"#,
    )
    .unwrap();
    let run = run(swirl(app.path()).args(["validate", "swirl.toml", "--data-dir", "data"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("greeting.json:5:"), "{}", run.stderr);
    assert!(run.stderr.contains("'greeter'"), "{}", run.stderr);
    assert!(
        run.stderr.contains("(at /functions/0/resource)"),
        "{}",
        run.stderr
    );
}

/// `validate`, `run` and `serve` report a problem in one format, the
/// compiler's (`file:line:column: error: …`), which editors jump to.
#[test]
fn every_command_reports_problems_in_the_compilers_format() {
    let app = App::new(
        "[app]\nname = \"d\"\nworkflows = [\"w.json\"]\n\n[functions.f]\nsource = \"{probe}\"\ntimeot = \"1s\"\n",
    );
    std::fs::write(
        app.path().join("w.json"),
        r#"{"id": "w", "version": "1", "name": "w",
  "states": [{"name": "A", "type": "RELAY", "start": {"kind": "DEFAULT"}, "transition": {"nextState": "B"}}]}"#,
    )
    .unwrap();
    let manifest_error = "swirl.toml:7:1: error: functions.f.timeot: unknown field 'timeot'";
    let workflow_error = "w.json:2:103: error: state 'A' transitions to 'B', which does not exist";
    let validated = run(swirl(app.path()).args(["validate", "swirl.toml"]));
    let ran = run(swirl(app.path()).args(["run", "swirl.toml", "w"]));
    let served = run(swirl(app.path()).args(["serve", "swirl.toml", "--listen", "127.0.0.1:0"]));
    for (command, answer) in [("validate", &validated), ("run", &ran), ("serve", &served)] {
        assert_eq!(answer.code, 2, "{command}: {}", answer.stderr);
        assert!(
            answer.stderr.lines().any(|l| l.starts_with(manifest_error)),
            "{command}: {}",
            answer.stderr
        );
    }
    // The manifest fixed, the workflow's error shows the same way.
    let fixed = std::fs::read_to_string(app.manifest())
        .unwrap()
        .replace("timeot", "timeout");
    std::fs::write(app.manifest(), fixed).unwrap();
    for command in [
        vec!["validate", "swirl.toml"],
        vec!["run", "swirl.toml", "w"],
        vec!["serve", "swirl.toml", "--listen", "127.0.0.1:0"],
    ] {
        let answer = run(swirl(app.path()).args(&command));
        assert_eq!(answer.code, 2, "{command:?}: {}", answer.stderr);
        assert!(
            answer
                .stderr
                .lines()
                .any(|l| l.ends_with("(at /states/0/transition/nextState)")
                    && l.starts_with(workflow_error)),
            "{command:?}: {}",
            answer.stderr
        );
    }
}

#[test]
fn graph_prints_a_mermaid_flowchart_of_every_dialect() {
    let dir = tempfile::tempdir().unwrap();
    let saga = workspace_root().join("examples/order-saga/workflow.json");
    let run_saga = run(swirl(dir.path()).arg("graph").arg(&saga));
    assert_eq!(run_saga.code, 0, "{}", run_saga.stderr);
    let lines: Vec<&str> = run_saga.stdout.lines().collect();
    assert_eq!(lines[0], "flowchart TD");
    for line in [
        "    s0[\"<b>ReserveInventory</b><br/>OPERATION<br/>calls inventory\"]",
        "    start --> s0",
        "    s0 -.->|\"error: @.error.name == 'OutOfStock'\"| s7",
        "    s4[\"<b>RefundPayment</b><br/>SUBFLOW<br/>runs workflow refundpayment\"]",
        "    s3 --> stop",
    ] {
        assert!(lines.contains(&line), "{line} not in\n{}", run_saga.stdout);
    }
    let draft = workspace_root().join("examples/order-saga/refund-payment.json");
    let run_draft = run(swirl(dir.path()).arg("graph").arg(&draft));
    assert_eq!(run_draft.code, 0, "{}", run_draft.stderr);
    assert!(run_draft.stdout.starts_with("flowchart TD\n"));
    // A 1.0 task is labelled with its 1.0 kind, not the state it runs as.
    let v10 = dir.path().join("checkout.yaml");
    std::fs::write(
        &v10,
        "document: { dsl: '1.0.0', namespace: test, name: checkout, version: '1.0.0' }\n\
         do:\n  - quote: { call: probe }\n  - pause: { wait: { seconds: 1 } }\n",
    )
    .unwrap();
    let run_v10 = run(swirl(dir.path()).arg("graph").arg(&v10));
    assert_eq!(run_v10.code, 0, "{}", run_v10.stderr);
    for line in [
        "    s0[\"<b>/do/0/quote</b><br/>call<br/>calls probe\"]",
        "    s1[\"<b>/do/1/pause</b><br/>wait<br/>wait PT1S\"]",
    ] {
        assert!(
            run_v10.stdout.lines().any(|l| l == line),
            "{line} not in\n{}",
            run_v10.stdout
        );
    }
}

#[test]
fn graph_of_an_invalid_definition_reports_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("invalid/transition-target-missing/workflow.json");
    let run = run(swirl(dir.path()).args(["graph", &file]));
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.starts_with(&format!(
            "{file}:33:22: error: state 'CheckCredit' transitions to 'Aprove'"
        )),
        "{}",
        run.stderr
    );
}
