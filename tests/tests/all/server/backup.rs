//! `swirl backup` and `swirl restore`: a backup taken from a running server
//! under load holds every instance acknowledged before it started; one of a
//! stopped data directory holds everything; a restore goes into an empty
//! directory only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::util::{Server, app};

/// Runs `swirl` with `args` in `dir`; panics unless it succeeds; its stdout.
fn swirl_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let output = swirl_tests::swirl(dir)
        .args(args)
        .env_remove("SWIRL_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "swirl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts that the server holds every instance of `ids`, completed.
async fn holds_all(server: &Server, ids: &[String]) {
    for id in ids {
        let instance = server.wait_status(id, "completed").await;
        assert_eq!(instance["output"]["sum"], json!(3.0), "{instance}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_under_load_restores_every_instance_acknowledged_before_it() {
    let app = app("");
    let mut server = Server::start(&app, &[], &[]);
    let server_url = server.url();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        let addr = server.addr;
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("b-{client}-{n}");
                let answer = super::util::try_request(
                    addr,
                    "POST",
                    &format!("/workflows/add/instances?id={id}"),
                    &[("content-type", "application/json")],
                    json!({"a": 1, "b": 2}).to_string().into(),
                )
                .await;
                if answer.is_ok_and(|answer| answer.status == 201) {
                    acknowledged.lock().unwrap().push(id);
                }
            }
        }));
    }
    let count = |acknowledged: &Mutex<Vec<String>>| acknowledged.lock().unwrap().len();
    while count(&acknowledged) < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = acknowledged.lock().unwrap().clone();
    let dir = app.path().to_path_buf();
    let url = server_url.clone();
    let printed = tokio::task::spawn_blocking(move || {
        swirl_ok(&dir, &["backup", "--server", &url, "live.backup"])
    })
    .await
    .unwrap();
    assert!(printed.starts_with("backed up "), "{printed}");
    let at_backup = count(&acknowledged);
    while count(&acknowledged) < at_backup + 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let all = acknowledged.lock().unwrap().clone();
    server.terminate();

    // The stopped directory's own backup, before anything else touches it.
    swirl_ok(
        app.path(),
        &["backup", "--data-dir", "data", "stopped.backup"],
    );
    std::fs::rename(app.path().join("data"), app.path().join("original")).unwrap();
    let printed = swirl_ok(
        app.path(),
        &["restore", "live.backup", "--data-dir", "data"],
    );
    assert!(printed.starts_with("restored "), "{printed}");
    let restored = Server::start_recorded(&app, &[]);
    holds_all(&restored, &before).await;
    let page = restored.get("/instances?workflow=add&limit=1000").await;
    let held = page.body["instances"].as_array().unwrap().len();
    assert!(
        held >= before.len() && held <= all.len() + 4,
        "{held} instances restored, {} acknowledged before the backup, {} in all",
        before.len(),
        all.len()
    );
    drop(restored);

    std::fs::remove_dir_all(app.path().join("data")).unwrap();
    swirl_ok(
        app.path(),
        &["restore", "stopped.backup", "--data-dir", "data"],
    );
    let restored = Server::start_recorded(&app, &[]);
    holds_all(&restored, &all).await;
    // The restored server takes new work.
    let done = restored
        .post_json(
            "/workflows/add/instances?wait=true",
            json!({"a": 1, "b": 2}),
        )
        .await;
    assert_eq!(done.body["status"], "completed", "{done:?}");
}

#[test]
fn a_restore_goes_into_an_empty_directory_only() {
    let app = app("");
    std::fs::create_dir(app.path().join("data")).unwrap();
    std::fs::write(app.path().join("data/keep"), "mine").unwrap();
    std::fs::write(app.path().join("some.backup"), "swirl-backup\n").unwrap();
    let output = swirl_tests::swirl(app.path())
        .args(["restore", "some.backup", "--data-dir", "data"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(app.path().join("data/keep")).unwrap(),
        "mine"
    );
    let output = swirl_tests::swirl(app.path())
        .args(["backup", "--data-dir", "nowhere", "x.backup"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("holds no swirl data"), "{stderr}");
    assert!(!app.path().join("nowhere").exists());
    assert!(!app.path().join("x.backup").exists());
}
