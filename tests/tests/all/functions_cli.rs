//! `swirl invoke` and `swirl validate` through the real binary: exit codes,
//! stdout/stderr, the code cache and kv across processes.

use serde_json::Value;
use swirl_tests::{App, run, swirl};

const PROBE_APP: &str = r#"
[app]
name = "probe-app"

[functions.probe]
source = "{probe}"
timeout = "2s"
config = { COLOR = "teal" }
"#;

#[test]
fn invoke_prints_the_output_on_stdout_and_exits_0() {
    let app = App::new(PROBE_APP);
    let run = app.invoke("probe", r#"{"action":"config","key":"COLOR"}"#);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "\"teal\"\n");
}

#[test]
fn a_function_failure_prints_code_and_message_and_exits_1() {
    let app = App::new(PROBE_APP);
    let run = app.invoke(
        "probe",
        r#"{"action":"fail","code":"OutOfStock","message":"no more widgets"}"#,
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.ends_with("OutOfStock: no more widgets\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn logs_of_the_call_go_to_stderr() {
    let app = App::new(PROBE_APP);
    let run = app.invoke("probe", r#"{"action":"log","message":"hi"}"#);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("[info] hi\n"), "{}", run.stderr);
    assert!(run.stderr.contains("[warn] stderr: hi\n"), "{}", run.stderr);
}

#[test]
fn kv_survives_a_restart_and_the_second_process_uses_the_code_cache() {
    let app = App::new(PROBE_APP);
    let stats = |run: &swirl_tests::Run| -> Value {
        let line = run.stderr.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|_| panic!("no stats in {}", run.stderr))
    };
    let invoke = || {
        run(swirl(app.path()).args([
            "invoke",
            "swirl.toml",
            "probe",
            "--input",
            r#"{"action":"kv-increment","key":"visits"}"#,
            "--data-dir",
            "data",
            "--stats",
        ]))
    };
    let first = invoke();
    assert_eq!(
        (first.code, first.stdout.as_str()),
        (0, "1\n"),
        "{}",
        first.stderr
    );
    assert_eq!(stats(&first)["fromCache"], false);
    let second = invoke();
    assert_eq!(
        (second.code, second.stdout.as_str()),
        (0, "2\n"),
        "{}",
        second.stderr
    );
    assert_eq!(stats(&second)["fromCache"], true);
}

#[test]
fn usage_errors_exit_2() {
    let app = App::new(PROBE_APP);
    let unknown = app.invoke("nope", "{}");
    assert_eq!(unknown.code, 2);
    assert!(
        unknown
            .stderr
            .contains("has no function 'nope'; its functions: probe"),
        "{}",
        unknown.stderr
    );

    let bad_input = app.invoke("probe", "{not json");
    assert_eq!(bad_input.code, 2);
    assert!(
        bad_input.stderr.contains("--input is not JSON"),
        "{}",
        bad_input.stderr
    );

    let no_args = run(swirl(app.path()).arg("invoke"));
    assert_eq!(no_args.code, 2);
}

#[test]
fn a_bad_manifest_is_reported_with_file_line_and_key() {
    let app = App::new(
        "[app]\nname = \"x\"\n\n[functions.f]\nsource = \"f.wasm\"\ntimeout = \"forever\"\n",
    );
    let run = app.invoke("f", "{}");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("swirl.toml:6:11: error: functions.f.timeout: 'forever' is not a duration"),
        "{}",
        run.stderr
    );
}

#[test]
fn validate_lists_every_problem_and_exits_2() {
    let app = App::new(
        r#"
[app]
name = "mixed"

[functions.good]
source = "{probe}"

[functions.other]
source = "{wrong-world}"

[functions.missing]
source = "missing.wasm"
build = "cargo build -p missing"
"#,
    );
    let run = run(swirl(app.path()).args(["validate", "swirl.toml", "--data-dir", "data"]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    let errors: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(errors.len(), 2, "{}", run.stderr);
    assert!(
        errors[0].contains("swirl.toml:12:10: error: functions.missing.source: cannot read"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("build it with `cargo build -p missing`"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("swirl.toml:9:10: error: functions.other.source:"),
        "{}",
        errors[1]
    );
    assert!(
        errors[1].contains("does not export the function 'handle'"),
        "{}",
        errors[1]
    );

    let good = App::new(PROBE_APP);
    let ok = run_validate(&good);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

fn run_validate(app: &App) -> swirl_tests::Run {
    run(swirl(app.path()).args(["validate", "swirl.toml", "--json", "--data-dir", "data"]))
}

#[test]
fn every_command_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["invoke", "validate", "build"] {
        let run = run(swirl(dir.path()).args([command, "--help"]));
        assert_eq!(run.code, 0, "{command}: {}", run.stderr);
        assert!(
            run.stdout.contains("Example: swirl "),
            "{command} --help: {}",
            run.stdout
        );
    }
}

/// A build that honours `CARGO_TARGET_DIR` leaves `target/…` empty: the
/// error says so and where the component went, instead of a later
/// "cannot read".
#[test]
fn a_build_into_another_target_dir_names_where_the_component_went() {
    let app = App::new(
        "[app]\nname = \"x\"\n\n[functions.f]\nsource = \"target/wasm32-wasip2/release/probe.wasm\"\nbuild = \"mkdir -p \\\"$CARGO_TARGET_DIR/wasm32-wasip2/release\\\" && cp {probe} \\\"$CARGO_TARGET_DIR/wasm32-wasip2/release/probe.wasm\\\"\"\n",
    );
    let elsewhere = app.path().join("elsewhere");
    let built = run(swirl(app.path())
        .args(["build", "swirl.toml"])
        .env("CARGO_TARGET_DIR", &elsewhere));
    assert_eq!(built.code, 2, "{}", built.stderr);
    let found = elsewhere.join("wasm32-wasip2/release/probe.wasm");
    for expected in [
        "succeeded, but target/wasm32-wasip2/release/probe.wasm does not exist".to_string(),
        "CARGO_TARGET_DIR".to_string(),
        format!("the component is at {}", found.display()),
    ] {
        assert!(
            built.stderr.contains(&expected),
            "no '{expected}' in {}",
            built.stderr
        );
    }
}
