//! Serverless Workflow 1.0 documents on a server: what needs a running
//! `swirl serve` and its restarts (durable timeouts).

use serde_json::{Value, json};

use super::util::{Server, app_with};

/// A 1.0 document whose one task is `task`, named `name`.
fn document(name: &str, task: Value) -> Value {
    json!({
        "document": { "dsl": "1.0.3", "namespace": "test", "name": name, "version": "1.0.0" },
        "do": [task],
    })
}

/// Starts an instance of `slow` (a document named so), kills the server
/// while the instance waits, starts it again, and returns the problem the
/// instance fails with.
async fn fault_after_a_restart(slow: Value) -> Value {
    let app = app_with(vec![("slow.json", slow)], "");
    let mut server = Server::start(&app, &[], &[]);
    let started = server
        .post_json("/workflows/slow/instances", json!({}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    server.wait_status(&id, "waiting").await;
    server.kill();

    let server = Server::start(&app, &[], &[]);
    let failed = server.wait_status(&id, "failed").await;
    failed["error"]["problem"].clone()
}

/// A task's timeout is a timer in the instance's record: a server killed
/// while the task runs faults the instance with the timeout after its
/// restart, long before the task itself would end.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_timeout_survives_a_restart() {
    let slow = document(
        "slow",
        json!({ "slowWait": { "wait": "PT60S", "timeout": { "after": "PT2S" } } }),
    );
    let problem = fault_after_a_restart(slow).await;
    assert_eq!(
        problem["type"], "https://open-workflow-specification.org/spec/1.0.0/errors/timeout",
        "{problem}"
    );
    assert_eq!(problem["status"], 408);
    assert_eq!(problem["instance"], "/do/0/slowWait");
    assert_eq!(problem["detail"], "task 'slowWait' timed out after PT2S");
}

/// So is the workflow's: it faults the instance after a restart too.
#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_timeout_survives_a_restart() {
    let mut slow = document("slow", json!({ "slowWait": { "wait": "PT60S" } }));
    slow["timeout"] = json!({ "after": { "seconds": 2 } });
    let problem = fault_after_a_restart(slow).await;
    assert_eq!(problem["status"], 408, "{problem}");
    assert_eq!(problem["instance"], "/");
    assert_eq!(problem["detail"], "the workflow timed out after PT2S");
}
