//! A `swirl serve` child process and an HTTP client for it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use swirl_client::{Bytes, Connection, HeaderMap, Request};
use swirl_tests::App;

/// Workflows every server test app has, by file name.
pub fn workflows() -> Vec<(&'static str, Value)> {
    let events = json!([
        { "name": "Paid", "source": "shop", "type": "order.paid", "correlationToken": "orderid" },
        { "name": "Shipped", "source": "shop", "type": "order.shipped", "correlationToken": "orderid" },
        { "name": "Job", "source": "jobs", "type": "job.created" },
        { "name": "JobDone", "source": "jobs", "type": "job.done" }
    ]);
    let functions = json!([{ "name": "probe", "resource": "probe" }]);
    let add = json!({ "functionRef": { "refName": "probe",
        "parameters": { "action": "add", "a": "$.a", "b": "$.b" } } });
    vec![
        (
            "orders.json",
            json!({ "id": "orders", "version": "1.0", "name": "orders",
                "functions": functions, "events": events,
                "states": [
                    { "name": "OnPaid", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
                      "eventsActions": [{ "eventRefs": ["Paid"], "actions": [] }],
                      "transition": { "nextState": "OnShipped" } },
                    { "name": "OnShipped", "type": "EVENT", "exclusive": true,
                      "eventsActions": [{ "eventRefs": ["Shipped"], "actions": [] }],
                      "end": { "kind": "DEFAULT" } }
                ] }),
        ),
        (
            "add.json",
            json!({ "id": "add", "version": "1.0", "name": "add",
                "functions": functions, "events": events,
                "states": [
                    { "name": "Add", "type": "OPERATION", "start": { "kind": "DEFAULT" },
                      "actionMode": "SEQUENTIAL", "actions": [add],
                      "end": { "kind": "DEFAULT" } }
                ] }),
        ),
        (
            "jobs.json",
            json!({ "id": "jobs", "version": "1.0", "name": "jobs",
                "functions": functions, "events": events,
                "states": [
                    { "name": "OnJob", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
                      "eventsActions": [{ "eventRefs": ["Job"], "actions": [add] }],
                      "end": { "kind": "EVENT", "produceEvent": { "nameRef": "JobDone", "data": "$" } } }
                ] }),
        ),
    ]
}

/// A workflow that an event from a source that is not plain ASCII starts,
/// correlated by an extension, so that the instance shows both arrived whole.
pub fn deal_workflow() -> (&'static str, Value) {
    let deal = json!({ "id": "deal", "version": "1.0", "name": "deal",
        "events": [{ "name": "Deal", "source": DEAL_SOURCE, "type": "deal.made",
                     "correlationToken": "discount" }],
        "states": [{ "name": "OnDeal", "type": "EVENT", "start": { "kind": "DEFAULT" },
                     "eventsActions": [{ "eventRefs": ["Deal"], "actions": [] }],
                     "end": { "kind": "DEFAULT" } }] });
    ("deal.json", deal)
}

/// The source of the events that start `deal_workflow`.
pub const DEAL_SOURCE: &str = "caf\u{e9} 10%";

/// An app with the probe function, the workflows above and `extra` manifest text.
pub fn app(extra: &str) -> App {
    app_with(workflows(), extra)
}

/// An app with the probe function, `workflows` (file name, definition) and
/// `extra` manifest text.
pub fn app_with(workflows: Vec<(&str, Value)>, extra: &str) -> App {
    workflows_app(
        workflows,
        &format!("[functions.probe]\nsource = \"{{probe}}\"\ntimeout = \"5s\"\n{extra}"),
    )
}

/// An app of `workflows` (file name, definition) and `extra` manifest text
/// alone: with no function to compile, its server is up at once.
pub fn workflows_app(workflows: Vec<(&str, Value)>, extra: &str) -> App {
    let names: Vec<String> = workflows
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect();
    let app = App::new(&format!(
        "[app]\nname = \"server-test\"\nworkflows = [{}]\n\n{extra}",
        names.join(", ")
    ));
    for (name, definition) in workflows {
        std::fs::write(app.path().join(name), definition.to_string()).expect("write a workflow");
    }
    app
}

/// `swirl serve swirl.toml` in `dir` on a free loopback port, with its data
/// in `data` and no tokens from the test's environment.
pub fn serve_command(dir: &Path, data: &Path) -> Command {
    let mut command = swirl_tests::swirl(dir);
    command
        .args([
            "serve",
            "swirl.toml",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data)
        .env_remove("SWIRL_ADMIN_TOKEN")
        .env_remove("SWIRL_INGRESS_TOKEN");
    command
}

/// A running `swirl serve`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `swirl serve` on the app with `args` and `env`, and waits
    /// until it listens.
    pub fn start(app: &App, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = serve_command(app.path(), Path::new("data"));
        command.args(args).env("SWIRL_LOG", "info");
        for (name, value) in env {
            command.env(name, value);
        }
        Server::spawn(command)
    }

    /// Starts `swirl serve` in the app's directory with `args` and no
    /// manifest: it serves what its data directory recorded.
    pub fn start_recorded(app: &App, args: &[&str]) -> Server {
        let mut command = swirl_tests::swirl(app.path());
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
            .args(args)
            .env_remove("SWIRL_ADMIN_TOKEN")
            .env_remove("SWIRL_INGRESS_TOKEN")
            .env("SWIRL_LOG", "info");
        Server::spawn(command)
    }

    /// Spawns `command`, a `swirl serve` that listens on a free port, and
    /// waits until it listens.
    pub fn spawn(mut command: Command) -> Server {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn swirl serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (found, address) = mpsc::channel();
        let sink = log.clone();
        // Drains stderr for the whole life of the server, so that it never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = found.send(addr.to_string());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match address.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => addr.parse().expect("a socket address"),
            Err(_) => {
                let _ = child.kill();
                panic!("swirl serve did not start:\n{}", log.lock().unwrap());
            }
        };
        Server { child, addr, log }
    }

    /// The server's base url, as the client commands take it.
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Runs the client command `swirl <args> --json` in `dir` against this
    /// server, with no tokens from the test's environment: its JSON, or
    /// what went wrong (with the server's log).
    pub fn client(&self, dir: &Path, args: &[&str]) -> Result<Value, String> {
        let result = swirl_tests::run(
            swirl_tests::swirl(dir)
                .env("SWIRL_SERVER", self.url())
                .env_remove("SWIRL_ADMIN_TOKEN")
                .env_remove("SWIRL_INGRESS_TOKEN")
                .args(args)
                .arg("--json"),
        );
        if result.code != 0 {
            return Err(format!(
                "swirl {}: {}\nserver log:\n{}",
                args.join(" "),
                result.stderr,
                self.log()
            ));
        }
        serde_json::from_str(result.stdout.trim())
            .map_err(|e| format!("swirl {args:?} printed {}: {e}", result.stdout))
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until the process has crashed at the failpoint `point`
    /// (`SWIRL_FAILPOINT`).
    pub async fn crashed(&mut self, point: &str) {
        for _ in 0..250 {
            if !self.is_running() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!self.is_running(), "{}", self.log());
        assert!(
            self.log().contains(&format!("failpoint {point} reached")),
            "{}",
            self.log()
        );
    }

    /// SIGKILL, and wait for the process to go.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("swirl serve did not stop on SIGTERM:\n{}", self.log());
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        request(self.addr, method, path, headers, body.into()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[], Bytes::new()).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Answer {
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    /// Sends one binary-mode event.
    pub async fn event(
        &self,
        id: &str,
        source: &str,
        ty: &str,
        ext: &[(&str, &str)],
        data: Value,
    ) -> Answer {
        let ext_headers: Vec<(String, String)> = ext
            .iter()
            .map(|(name, value)| (format!("ce-{name}"), value.to_string()))
            .collect();
        let mut headers = vec![
            ("ce-specversion", "1.0"),
            ("ce-id", id),
            ("ce-source", source),
            ("ce-type", ty),
            ("content-type", "application/json"),
        ];
        headers.extend(ext_headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        self.request("POST", "/events", &headers, data.to_string())
            .await
    }

    /// Polls instance `id` until it has `status`.
    /// Every instance of `workflow`, each once it has `status`, through
    /// every page of `GET /instances`.
    pub async fn all_instances(&self, workflow: &str, status: &str) -> Vec<Value> {
        let mut records = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self
                .get(&format!(
                    "/instances?workflow={workflow}&limit=1000&cursor={cursor}"
                ))
                .await;
            for instance in page.body["instances"].as_array().unwrap() {
                let id = instance["id"].as_str().unwrap();
                records.push(self.wait_status(id, status).await);
            }
            match page.body["nextCursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => return records,
            }
        }
    }

    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        for _ in 0..400 {
            let answer = self.get(&format!("/instances/{id}")).await;
            if answer.body["status"] == status {
                return answer.body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("instance {id} never became {status}:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    /// A response header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    pub fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {self:?}"))
    }
}

/// A multipart/form-data body of `parts` (name, bytes).
pub fn multipart(parts: &[(&str, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "swirl-test-boundary";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// One request on a new connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Answer {
    try_request(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
}

/// One request on a new connection; `Err` when the connection fails (a
/// killed server).
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<Answer, String> {
    let mut request = Request::new(method, path).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut connection = Connection::open(&addr.to_string())
        .await
        .map_err(|e| e.to_string())?;
    let answer = connection.send(request).await.map_err(|e| e.to_string())?;
    let text = answer.text().into_owned();
    Ok(Answer {
        status: answer.status.as_u16(),
        headers: answer.headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    })
}
