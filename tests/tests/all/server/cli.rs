//! The CLI client (`swirl start|get|ls|send|logs|cancel|suspend|resume`)
//! against a real server.

use serde_json::{Value, json};
use swirl_tests::{Run, run, swirl};

use super::sinks::{Receiver, start_receiver};
use super::util::{DEAL_SOURCE, Server, app, app_with, deal_workflow};

fn client(app: &swirl_tests::App, server: &Server, args: &[&str]) -> Run {
    run(swirl(app.path())
        .args(args)
        .args(["--server", &format!("http://{}", server.addr)])
        .env_remove("SWIRL_ADMIN_TOKEN")
        .env_remove("SWIRL_INGRESS_TOKEN"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_commands_drive_a_running_server() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);

    let started = client(
        &app,
        &server,
        &["start", "add", "--input", r#"{"a":4,"b":5}"#, "--wait"],
    );
    assert_eq!(started.code, 0, "{}", started.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&started.stdout).unwrap(),
        json!({"a": 4, "b": 5, "sum": 9.0})
    );

    let sent = client(
        &app,
        &server,
        &[
            "send",
            "--type",
            "order.paid",
            "--source",
            "shop",
            "--data",
            r#"{"paid":"o1"}"#,
            "--ext",
            "orderid=o1",
            "--json",
        ],
    );
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let sent: Value = serde_json::from_str(&sent.stdout).unwrap();
    let id = sent["started"][0].as_str().unwrap().to_string();
    server.wait_status(&id, "waiting").await;

    let listed = client(&app, &server, &["ls", "--status", "waiting"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.starts_with("ID"), "{}", listed.stdout);
    assert!(listed.stdout.contains(&id), "{}", listed.stdout);

    let got = client(&app, &server, &["get", &id, "--json"]);
    let got: Value = serde_json::from_str(&got.stdout).unwrap();
    assert_eq!(got["status"], "waiting");

    for (command, status) in [
        ("suspend", "suspended"),
        ("resume", "waiting"),
        ("cancel", "cancelled"),
    ] {
        let answer = client(&app, &server, &[command, &id, "--json"]);
        assert_eq!(answer.code, 0, "{command}: {}", answer.stderr);
        let answer: Value = serde_json::from_str(&answer.stdout).unwrap();
        assert_eq!(answer["status"], status, "{command}");
    }
    let again = client(&app, &server, &["cancel", &id]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("409"), "{}", again.stderr);

    server
        .post_json(
            "/functions/probe/invoke",
            json!({"action": "log", "message": "from the cli test"}),
        )
        .await;
    let logs = client(&app, &server, &["logs", "probe"]);
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    assert!(logs.stdout.contains("from the cli test"), "{}", logs.stdout);

    let missing = client(&app, &server, &["get", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no instance 'nope'"),
        "{}",
        missing.stderr
    );
}

/// `swirl send` percent-encodes what it puts in headers, so any value
/// reaches the workflow as given.
#[tokio::test(flavor = "multi_thread")]
async fn send_encodes_attribute_values() {
    let app = app_with(vec![deal_workflow()], "");
    let server = Server::start(&app, &[], &[]);
    let sent = client(
        &app,
        &server,
        &[
            "send",
            "--type",
            "deal.made",
            "--source",
            DEAL_SOURCE,
            "--ext",
            "discount=10% \"off\"",
            "--json",
        ],
    );
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let sent: Value = serde_json::from_str(&sent.stdout).unwrap();
    let id = sent["started"][0].as_str().expect("an instance started");
    let instance = server.wait_status(id, "completed").await;
    assert_eq!(instance["correlation"], json!({"discount": "10% \"off\""}));

    let twice = client(
        &app,
        &server,
        &["send", "--type", "t", "--source", "s", "--ext", "id=x"],
    );
    assert_eq!(twice.code, 2, "{}", twice.stderr);
    assert!(
        twice.stderr.contains("--ext 'id=x' sets 'id' again"),
        "{}",
        twice.stderr
    );
}

/// The receiver drops a repeated `(source, id)` as a duplicate, so the ids
/// `swirl send` makes up must not collide between processes: random UUIDs.
#[tokio::test(flavor = "multi_thread")]
async fn send_makes_up_a_random_uuid_for_each_event() {
    let receiver = Receiver::default();
    let addr = start_receiver(receiver.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let sent = run(swirl(dir.path()).args([
            "send",
            "--type",
            "t",
            "--source",
            "s",
            "--server",
            &format!("http://{addr}"),
        ]));
        assert_eq!(sent.code, 0, "{}", sent.stderr);
    }
    let ids: Vec<String> = receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(headers, _)| headers["ce-id"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        let groups: Vec<&str> = id.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12], "{id} is not a UUID");
        assert!(groups[2].starts_with('4'), "{id} is not a random (v4) UUID");
        assert!(
            id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
            "{id}"
        );
    }
}

/// `validate` needs no store; the commands that do name the server that
/// holds it and say what to do instead.
#[tokio::test(flavor = "multi_thread")]
async fn offline_commands_name_the_server_that_holds_the_data_directory() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    let validated = run(swirl(app.path()).args(["validate", "swirl.toml", "--data-dir", "data"]));
    assert_eq!(validated.code, 0, "{}", validated.stderr);
    let holder = format!("is in use by process {} (", server.pid());
    for args in [
        vec!["instances", "data"],
        vec!["history", "data", "some-id"],
        vec!["invoke", "swirl.toml", "probe", "--data-dir", "data"],
        vec!["run", "swirl.toml", "add", "--data-dir", "data"],
    ] {
        let answer = run(swirl(app.path()).args(&args));
        assert_eq!(answer.code, 2, "{args:?}: {}", answer.stderr);
        for expected in [holder.as_str(), "serve", "--data-dir", "`swirl ls`"] {
            assert!(
                answer.stderr.contains(expected),
                "{args:?}: no '{expected}' in {}",
                answer.stderr
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_lists_workflows_functions_history_and_dead_letters() {
    let app = app("");
    let server = Server::start(&app, &[], &[]);
    for _ in 0..3 {
        let started = client(
            &app,
            &server,
            &["start", "add", "--input", r#"{"a":1,"b":2}"#, "--wait"],
        );
        assert_eq!(started.code, 0, "{}", started.stderr);
    }
    let newest = client(&app, &server, &["ls", "--limit", "2", "--json"]);
    let newest: Value = serde_json::from_str(&newest.stdout).unwrap();
    assert_eq!(newest.as_array().unwrap().len(), 2, "{newest}");
    let id = newest[0]["id"].as_str().unwrap();

    let history = client(&app, &server, &["get", id, "--history"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    let kinds: Vec<&str> = history
        .stdout
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        kinds.first(),
        Some(&"instanceStarted"),
        "{}",
        history.stdout
    );
    assert_eq!(
        kinds.last(),
        Some(&"instanceCompleted"),
        "{}",
        history.stdout
    );

    let workflows = client(&app, &server, &["workflows"]);
    assert!(workflows.stdout.starts_with("ID"), "{}", workflows.stdout);
    for id in ["add", "jobs", "orders"] {
        assert!(workflows.stdout.contains(id), "{}", workflows.stdout);
    }
    let definition = client(&app, &server, &["workflows", "add"]);
    let definition: Value = serde_json::from_str(&definition.stdout).unwrap();
    assert_eq!(definition["id"], "add");

    let functions = client(&app, &server, &["functions", "--json"]);
    let functions: Value = serde_json::from_str(&functions.stdout).unwrap();
    assert_eq!(functions[0]["name"], "probe", "{functions}");
    let table = client(&app, &server, &["functions"]).stdout;
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|row| row.split_whitespace().take(2).eq(["probe", "1"])),
        "the table shows the version's number: {table}"
    );
    let probe = client(&app, &server, &["functions", "probe"]);
    let probe: Value = serde_json::from_str(&probe.stdout).unwrap();
    assert!(probe["versions"].is_array(), "{probe}");

    let letters = client(&app, &server, &["dead-letters"]);
    assert_eq!(letters.code, 0, "{}", letters.stderr);
    assert!(letters.stdout.starts_with("ID"), "{}", letters.stdout);
    let missing = client(&app, &server, &["dead-letters", "replay", "nope"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("404"), "{}", missing.stderr);
}

#[test]
fn completions_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let script = run(swirl(dir.path()).args(["completions", shell]));
        assert_eq!(script.code, 0, "{shell}: {}", script.stderr);
        for command in ["serve", "dead-letters", "workflows", "completions"] {
            assert!(script.stdout.contains(command), "{shell}: no {command}");
        }
    }
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let answer = run(swirl(dir.path()).args(["ls", "--server", "http://127.0.0.1:9"]));
    assert_eq!(answer.code, 2);
    assert!(
        answer
            .stderr
            .contains("cannot reach the server at http://127.0.0.1:9"),
        "{}",
        answer.stderr
    );
    assert!(answer.stdout.is_empty());
}
