//! `swirl validate` on workflow definitions and on manifests that list them,
//! through the real binary.

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
                "error: {file}:33:22: state 'CheckCredit' transitions to 'Aprove', which does not exist; did you mean 'Approve'? (at /states/0/transition/nextState)"
            ),
            format!(
                "warning: {file}:37:15: state 'Approve' is never reached: no transition leads to it from the start state of the workflow (at /states/1/name)"
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
