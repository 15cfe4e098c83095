//! Crash tests: `swirl run` processes killed with SIGKILL at random moments,
//! then restarted on the same data directory. Every instance must complete
//! with the right output, and a function that counts its own calls in kv
//! proves that no completed action ran twice.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use swirl_tests::{App, run, swirl};

const MANIFEST: &str = r#"
[app]
name = "crashy"
workflows = ["crashy.json"]

[functions.probe]
source = "{probe}"
timeout = "5s"
"#;

/// Sequential actions, a durable delay, parallel branches and a foreach, each
/// action counting itself under a key unique to the instance.
fn definition() -> Value {
    let tally = |key: &str| json!({ "functionRef": { "refName": "probe", "parameters": { "action": "tally", "key": key } } });
    let nap = |millis: u64| {
        json!({ "functionRef": { "refName": "probe", "parameters": { "action": "sleep", "millis": millis } },
                                    "actionDataFilter": { "dataResultsPath": "$.slept" } })
    };
    json!({
        "id": "crashy", "version": "1.0", "name": "crashy",
        "functions": [{ "name": "probe", "resource": "probe" }],
        "states": [
            { "name": "First", "type": "OPERATION", "start": { "kind": "DEFAULT" }, "actionMode": "SEQUENTIAL",
              "actions": [tally("$.a"), nap(30)], "transition": { "nextState": "Pause" } },
            { "name": "Pause", "type": "DELAY", "timeDelay": "PT0.05S", "transition": { "nextState": "Fork" } },
            { "name": "Fork", "type": "PARALLEL", "branches": [
                { "name": "Left", "waitForCompletion": true, "states": [
                    { "name": "LeftWork", "type": "OPERATION", "start": { "kind": "DEFAULT" }, "actionMode": "SEQUENTIAL",
                      "actions": [tally("$.b"), nap(20)], "end": { "kind": "DEFAULT" } }] },
                { "name": "Right", "waitForCompletion": true, "states": [
                    { "name": "RightWork", "type": "OPERATION", "start": { "kind": "DEFAULT" }, "actionMode": "SEQUENTIAL",
                      "actions": [tally("$.c")], "end": { "kind": "DEFAULT" } }] }
              ],
              "stateDataFilter": { "dataOutputPath": "$[0]" },
              "transition": { "nextState": "Last" } },
            { "name": "Last", "type": "OPERATION", "actionMode": "SEQUENTIAL",
              "actions": [tally("$.d")], "end": { "kind": "DEFAULT" } }
        ]
    })
}

fn input(run: usize) -> Value {
    json!({ "a": format!("r{run}-a"), "b": format!("r{run}-b"), "c": format!("r{run}-c"), "d": format!("r{run}-d") })
}

/// A small deterministic generator, seeded from the clock, printed on failure.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[test]
#[ignore = "heavy tier: cargo test -p swirl-tests --test all -- --ignored"]
fn killed_runs_resume_and_no_completed_action_runs_twice() {
    let app = App::new(MANIFEST);
    std::fs::write(app.path().join("crashy.json"), definition().to_string()).unwrap();
    let runs: usize = std::env::var("SWIRL_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut random = Random(seed);
    let mut killed = 0;
    for run_index in 0..runs {
        let input = input(run_index).to_string();
        let mut child = swirl(app.path())
            .args([
                "run",
                "swirl.toml",
                "crashy",
                "--id",
                &format!("run-{run_index}"),
                "--input",
                &input,
                "--data-dir",
                "data",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(random.below(400)));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        // SIGKILL on Unix: no chance to flush or clean up.
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        killed >= runs / 3,
        "only {killed} of {runs} runs were killed mid-way (seed {seed})"
    );

    for run_index in 0..runs {
        // Same id and input: a run killed before its start was committed starts now.
        let input = input(run_index).to_string();
        let result = run(swirl(app.path()).args([
            "run",
            "swirl.toml",
            "crashy",
            "--id",
            &format!("run-{run_index}"),
            "--input",
            &input,
            "--data-dir",
            "data",
        ]));
        assert_eq!(
            result.code, 0,
            "run-{run_index} (seed {seed}): {}",
            result.stderr
        );
        let output: Value = serde_json::from_str(&result.stdout).unwrap();
        let prefix = format!("r{run_index}");
        // The output is the left branch's data merged into the last state's.
        assert_eq!(
            output[format!("{prefix}-a")],
            1,
            "run-{run_index} (seed {seed}): {output}"
        );
        assert_eq!(
            output[format!("{prefix}-b")],
            1,
            "run-{run_index} (seed {seed}): {output}"
        );
        assert_eq!(
            output[format!("{prefix}-d")],
            1,
            "run-{run_index} (seed {seed}): {output}"
        );
        for key in ["a", "b", "c", "d"] {
            let count = app.invoke(
                "probe",
                &json!({"action": "kv-get", "key": format!("{prefix}-{key}")}).to_string(),
            );
            assert_eq!(
                count.stdout.trim(),
                "\"1\"",
                "{prefix}-{key} ran {} times (seed {seed})",
                count.stdout.trim()
            );
        }
    }
}
