//! A data directory on a small tmpfs that fills up: requests fail with 503
//! and a clear message, the same process resumes by itself once there is
//! space again, and nothing acknowledged is lost. Needs root for `mount`:
//! skipped, saying so, when not root; as root, a failed mount fails the
//! test, unless SWIRL_SKIP_TMPFS=1 says to skip it
//! knowingly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::util::{Server, app};

/// A tmpfs mounted for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        if !swirl_tests::is_root() {
            eprintln!(
                "\n!!! SKIPPED, NOT PASSED: the disk-full test mounts a tmpfs, which needs root; run the tests as root to include it !!!\n"
            );
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        match output {
            Ok(output) if output.status.success() => Some(Tmpfs(at.to_path_buf())),
            Ok(output) => Self::cannot(&String::from_utf8_lossy(&output.stderr)),
            Err(error) => Self::cannot(&error.to_string()),
        }
    }

    fn cannot(why: &str) -> Option<Tmpfs> {
        let message = format!(
            "cannot mount a tmpfs for the disk-full test (it needs root): {}",
            why.trim()
        );
        if std::env::var_os("SWIRL_SKIP_TMPFS").is_some() {
            eprintln!("\n!!! SKIPPED, NOT PASSED: {message} !!!\n");
            None
        } else {
            panic!("{message}; set SWIRL_SKIP_TMPFS=1 to skip this test knowingly");
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a file the killed server held open must not keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn job(server: &Server, n: usize) -> super::util::Answer {
    server
        .event(
            &format!("job-{n}"),
            "jobs",
            "job.created",
            &[],
            json!({"a": n, "b": 0, "n": n}),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "heavy tier: cargo test -p swirl-tests --test all -- --ignored"]
async fn a_full_disk_is_503_until_space_returns_then_the_same_process_resumes_losing_nothing() {
    let app = app("");
    let Some(_tmpfs) = Tmpfs::mount(&app.data_dir(), "32m") else {
        return;
    };
    let mut server = Server::start(&app, &[], &[]);
    let mut acknowledged: Vec<(usize, String)> = Vec::new();
    for n in 0..20 {
        let answer = job(&server, n).await;
        assert_eq!(answer.status, 202, "{answer:?}");
        acknowledged.push((n, answer.body["started"][0].as_str().unwrap().to_string()));
    }
    // Fill the file system to the last byte.
    let filler = app.data_dir().join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        while file.write_all(&block[..1]).is_ok() {}
    }
    // sled may still have room in its buffers for a few writes; then 503.
    let mut refused = None;
    for n in 20..2_000 {
        let Ok(answer) = super::util::try_request(
            server.addr,
            "POST",
            "/events",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", &format!("job-{n}")),
                ("ce-source", "jobs"),
                ("ce-type", "job.created"),
                ("content-type", "application/json"),
            ],
            json!({"a": n, "b": 0, "n": n}).to_string().into(),
        )
        .await
        else {
            break;
        };
        match answer.status {
            202 => acknowledged.push((n, answer.body["started"][0].as_str().unwrap().to_string())),
            503 => {
                refused = Some((n, answer));
                break;
            }
            _ => panic!("event {n}: {answer:?}"),
        }
    }
    let (first_refused, answer) = refused.expect("the full disk never caused a 503");
    assert!(
        answer
            .error()
            .starts_with("storage is unavailable; retry later (error id "),
        "{answer:?}"
    );
    // The server says why, and keeps answering 503 while the disk is full.
    let mut waiting = false;
    for _ in 0..100 {
        if server
            .log()
            .contains("answering 503 until the data directory takes writes again")
        {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        waiting,
        "the server did not say it waits:\n{}",
        server.log()
    );
    assert!(
        server.log().contains("No space left on device"),
        "{}",
        server.log()
    );
    let answer = job(&server, first_refused).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(
        answer.error(),
        "storage is unavailable; retry later (the data directory cannot take writes; the server resumes by itself once it can)"
    );
    let health = server.get("/healthz").await;
    assert_eq!(health.status, 503, "{health:?}");

    // Space again: the same process resumes, with everything acknowledged there.
    std::fs::remove_file(&filler).unwrap();
    let mut resumed = None;
    for _ in 0..200 {
        let answer = job(&server, first_refused).await;
        if answer.status != 503 {
            resumed = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The refused event was safe to send again.
    let answer = resumed
        .unwrap_or_else(|| panic!("the server did not resume within 10 s:\n{}", server.log()));
    assert_eq!(answer.status, 202, "{answer:?}");
    assert!(
        server
            .log()
            .contains("the data directory takes writes again; resuming"),
        "{}",
        server.log()
    );
    assert!(server.is_running(), "{}", server.log());
    for (n, id) in &acknowledged {
        let record: Value = server.wait_status(id, "completed").await;
        assert_eq!(record["output"]["n"], json!(n), "{record}");
    }
    // The refused event took effect once: by the resend, or by its first
    // sending, whose commit a flush made durable once the disk had room
    // (then the resend finishes that delivery and answers a duplicate).
    let found: Vec<Value> = server
        .all_instances("jobs", "completed")
        .await
        .into_iter()
        .filter(|record| record["output"]["n"] == json!(first_refused))
        .collect();
    assert_eq!(found.len(), 1, "{found:?} for {answer:?}");
}
