//! The soak harness: `swirl serve` under a steady load of workflow starts
//! (answered at once or when the instance completes), events and
//! deployments, killed with SIGKILL at random moments and restarted on the
//! same data directory, then checked by a model that knows nothing of
//! swirl's insides.
//!
//! With [`SoakConfig::power_cuts`], the data directory sits on
//! `swirl_lazyfs` and every kill is a power cut: what the server wrote but
//! never synced is dropped before the restart, and the store must then
//! open twice (a restart right after the first, with no cut) with every
//! acknowledged effect there both times. Cuts come after idle gaps of 0 to
//! 2 s, so that data left unsynced by an idle server is caught too.
//!
//! ```text
//!  driver ──starts, events──▶ swirl serve ◀──SIGKILL, restart── killer
//!     │ (retries until 2xx)        │
//!     ▼                            ▼
//!  ledger of acknowledged    instances, kv counters
//!  requests  ──────────────▶ checker (HTTP API only) ──▶ violations
//! ```
//!
//! The app is `tests/apps/soak/`: `pipeline` (a counted action, a durable
//! delay, parallel counted branches, a retried action, a last counted
//! action) started through the admin API, and `order` (started by a
//! `order.paid` event, a counted action, then a wait for `order.shipped`
//! with the same `orderid`, a counted action and a delay) driven by events.
//! Every counted action adds one to a kv key unique to its instance and
//! step, so a count above one is an action that completed twice.
//!
//! The checker's rules: every 2xx had its effect, visible right after the
//! next restart, before anything is resent; every instance ends `completed`
//! with the output the model predicts; every counter is exactly one; no
//! instance stays unfinished once everything is due (delays and retries are
//! timers, so this is also "due timers fired").

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swirl_client::{Client, Request};

use crate::{App, swirl};

/// How long a soak runs and how hard it pushes.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// SIGKILLs of the server, each followed by a restart.
    pub kills: usize,
    /// New requests per second (starts and events together).
    pub rate: u32,
    /// Shortest and longest time the server runs between kills.
    pub uptime: (Duration, Duration),
    /// Seed of the random kill moments and request mix; printed in the summary.
    pub seed: u64,
    /// How long the final check waits for instances to finish.
    pub settle: Duration,
    /// Each kill is a power cut on `swirl_lazyfs` (see the module doc).
    pub power_cuts: bool,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            kills: 5,
            rate: 100,
            uptime: (Duration::from_millis(500), Duration::from_millis(2500)),
            seed: 1,
            settle: Duration::from_secs(30),
            power_cuts: false,
        }
    }
}

/// What a soak did and what the checker found.
#[derive(Debug, Default)]
pub struct SoakSummary {
    pub seed: u64,
    /// Requests sent, answered or not.
    pub requests: u64,
    /// Requests answered 2xx.
    pub acknowledged: u64,
    /// Requests that failed (connection lost to a kill, or a 5xx) and were resent.
    pub resent: u64,
    pub kills: usize,
    /// Workflow instances checked at the end.
    pub instances: usize,
    /// Events acknowledged (each CloudEvent counted once).
    pub events: u64,
    /// Deployments acknowledged.
    pub deploys: u64,
    /// What the power cuts dropped: files with unsynced writes, and bytes.
    pub dropped: swirl_lazyfs::Dropped,
    pub elapsed: Duration,
    pub violations: Vec<String>,
}

impl std::fmt::Display for SoakSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "soak: seed {}, {:.0?}: {} requests ({} acknowledged, {} resent), {} kills, {} instances, {} events, {} deploys, {} violations",
            self.seed,
            self.elapsed,
            self.requests,
            self.acknowledged,
            self.resent,
            self.kills,
            self.instances,
            self.events,
            self.deploys,
            self.violations.len()
        )?;
        if self.dropped != swirl_lazyfs::Dropped::default() {
            writeln!(
                f,
                "  power cuts dropped {} unsynced bytes in {} files",
                self.dropped.bytes, self.dropped.files
            )?;
        }
        for violation in self.violations.iter().take(50) {
            writeln!(f, "  violation: {violation}")?;
        }
        Ok(())
    }
}

/// One request the driver must get acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Start pipeline instance `p-N` through the admin API; with `wait`,
    /// the answer comes when the instance completed.
    Start { n: u64, wait: bool },
    /// Deploy app `extra-N`, whose function `stamp-N` has config `round = N`.
    Deploy(u64),
    /// Send `order.paid` for order `o-N`, which starts an `order` instance.
    Paid(u64),
    /// Send `order.shipped` for order `o-N`, which wakes its instance.
    Shipped(u64),
}

fn pipeline_input(n: u64) -> Value {
    let key = |step: &str| format!("p-{n}/{step}");
    json!({ "n": n, "a": key("a"), "b": key("b"), "c": key("c"), "d": key("d"), "f": key("f") })
}

fn paid_data(n: u64) -> Value {
    json!({ "n": n, "a": format!("o-{n}/a"), "b": format!("o-{n}/b") })
}

fn shipped_data(n: u64) -> Value {
    json!({ "shipped": n })
}

/// The model: the output instance `p-N` must end with. `calls` (attempts of
/// the retried action) is at least 2 and at most the retry policy's 5.
fn pipeline_output(n: u64) -> Value {
    let mut output = pipeline_input(n);
    for step in ["a", "b", "d"] {
        output[format!("p-{n}/{step}")] = json!(1);
    }
    output["flaky"] = json!(format!("p-{n}/f"));
    output
}

/// The model: the output of order `o-N`: both events' data and the counts.
fn order_output(n: u64) -> Value {
    let mut output = paid_data(n);
    output[format!("o-{n}/a")] = json!(1);
    output["shipped"] = json!(n);
    output[format!("o-{n}/b")] = json!(1);
    output
}

/// The kv keys the counted actions of each kind of instance write.
fn counters(n: u64) -> Vec<String> {
    let mut keys: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|step| format!("p-{n}/{step}"))
        .collect();
    keys.extend(["a", "b"].iter().map(|step| format!("o-{n}/{step}")));
    keys
}

/// The small generator behind the kill moments and the request mix.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low).as_millis() as u64;
        low + Duration::from_millis(self.next() % (span + 1))
    }
}

/// A `swirl serve` child whose stderr goes to a log file.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl ServerProcess {
    /// `swirl serve swirl.toml` in `app` with its data in `app/data` and
    /// `extra` arguments, its log appended to `log`; once it listens.
    pub(crate) fn start(app: &Path, log: &Path, extra: &[&str]) -> Result<ServerProcess, String> {
        let mut child = swirl(app)
            .args([
                "serve",
                "swirl.toml",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                "data",
            ])
            .args(extra)
            .env_remove("SWIRL_ADMIN_TOKEN")
            .env_remove("SWIRL_INGRESS_TOKEN")
            .env("SWIRL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot spawn swirl serve: {error}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|error| format!("cannot open {}: {error}", log.display()))?;
        let (found, address) = std::sync::mpsc::channel();
        // Drains stderr for the life of the process so that it never blocks.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = found.send(addr.to_string());
                }
                let _ = writeln!(log, "{line}");
            }
        });
        match address.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => Ok(ServerProcess {
                child,
                addr: addr.parse().map_err(|_| format!("bad address {addr}"))?,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("swirl serve did not start; see its log".to_string())
            }
        }
    }

    /// Sends SIGKILL without waiting for the process to go.
    fn signal_kill(&self) -> Result<(), String> {
        std::process::Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .map(drop)
            .map_err(|error| format!("cannot run kill: {error}"))
    }

    /// SIGKILL (no flush, no cleanup), and wait for the process to go.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Counter reads in flight at once during the final check.
const COUNTER_READS_AT_ONCE: usize = 32;

/// How long requests keep coming after a SIGKILL was sent.
const KILL_OVERLAP: Duration = Duration::from_millis(300);

/// The longest quiet time before a power cut.
const MAX_IDLE_BEFORE_CUT: Duration = Duration::from_secs(2);

/// One request in this many is a deployment.
const DEPLOY_ONE_IN: u64 = 60;

/// One answer: status and JSON body (`Null` when not JSON).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

pub(crate) async fn send(
    client: &Client,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: String,
) -> Result<Reply, String> {
    let mut request = Request::new(method, &format!("http://{addr}{path}"))
        .body(body)
        .timeout(Duration::from_secs(30));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer = client
        .send(request)
        .await
        .map_err(|error| error.to_string())?;
    Ok(Reply {
        status: answer.status.as_u16(),
        body: answer.json().unwrap_or(Value::Null),
    })
}

async fn event(
    client: &Client,
    addr: SocketAddr,
    id: String,
    event_type: &str,
    order: u64,
    data: Value,
) -> Result<Reply, String> {
    let headers = [
        ("ce-specversion", "1.0".to_string()),
        ("ce-id", id),
        ("ce-source", "shop".to_string()),
        ("ce-type", event_type.to_string()),
        ("ce-orderid", format!("o-{order}")),
        ("content-type", "application/json".to_string()),
    ];
    send(client, addr, "POST", "/events", &headers, data.to_string()).await
}

/// The manifest of app `extra-N`, next to the soak app's `stamp.wasm`.
fn deploy_manifest(n: u64) -> String {
    format!(
        "[app]\nname = \"extra-{n}\"\n\n[functions.stamp-{n}]\nsource = \"stamp.wasm\"\nconfig = {{ round = \"{n}\" }}\n"
    )
}

/// Deploys app `extra-N` with `swirl deploy`, as a user would.
async fn deploy(app: &Path, addr: SocketAddr, n: u64) -> Result<Value, String> {
    let manifest = format!("deploy-{n}.toml");
    std::fs::write(app.join(&manifest), deploy_manifest(n))
        .map_err(|error| format!("cannot write {manifest}: {error}"))?;
    let mut command = tokio::process::Command::new(crate::swirl_binary());
    command
        .current_dir(app)
        .args(["deploy", &manifest, "--json", "--server"])
        .arg(format!("http://{addr}"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .map_err(|_| "swirl deploy did not finish within 60 s".to_string())?
        .map_err(|error| format!("cannot run swirl deploy: {error}"))?;
    if output.status.success() {
        serde_json::from_slice(&output.stdout).map_err(|error| error.to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Sends `op` once; `Ok` with what the 2xx answer said, `Err` otherwise.
async fn perform(client: &Client, app: &Path, addr: SocketAddr, op: Op) -> Result<Value, String> {
    let reply = match op {
        Op::Start { n, wait } => {
            send(
                client,
                addr,
                "POST",
                &format!("/workflows/pipeline/instances?id=p-{n}&wait={wait}"),
                &[("content-type", "application/json".to_string())],
                pipeline_input(n).to_string(),
            )
            .await?
        }
        Op::Deploy(n) => return deploy(app, addr, n).await,
        Op::Paid(n) => {
            event(
                client,
                addr,
                format!("paid-{n}"),
                "order.paid",
                n,
                paid_data(n),
            )
            .await?
        }
        Op::Shipped(n) => {
            event(
                client,
                addr,
                format!("shipped-{n}"),
                "order.shipped",
                n,
                shipped_data(n),
            )
            .await?
        }
    };
    if (200..300).contains(&reply.status) {
        Ok(reply.body)
    } else {
        Err(format!("answered {}: {}", reply.status, reply.body))
    }
}

/// What the driver knows: what is still to send and what was acknowledged.
#[derive(Default)]
struct Ledger {
    todo: VecDeque<Op>,
    /// Acknowledged and not yet checked against a restarted server.
    unverified: Vec<(Op, Value)>,
    shipped_sent: u64,
    requests: u64,
    acknowledged: u64,
    resent: u64,
    events: u64,
    deploys: u64,
}

impl Ledger {
    /// Counts an answer; a request that failed goes back in line.
    fn answered(&mut self, op: Op, result: &Result<Value, String>) {
        self.requests += 1;
        match result {
            Ok(_) => {
                self.acknowledged += 1;
                match op {
                    Op::Paid(_) | Op::Shipped(_) => self.events += 1,
                    Op::Deploy(_) => self.deploys += 1,
                    Op::Start { .. } => {}
                }
            }
            Err(_) => {
                self.resent += 1;
                self.todo.push_back(op);
            }
        }
    }
}

/// Runs a soak in a fresh temporary app and returns what it found.
pub fn run(config: &SoakConfig) -> SoakSummary {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(soak(config))
}

fn soak_app() -> App {
    let source = crate::workspace_root().join("tests/apps/soak");
    let manifest =
        std::fs::read_to_string(source.join("swirl.toml")).expect("read the soak manifest");
    let app = App::new(&manifest);
    for name in ["pipeline.json", "order.json"] {
        std::fs::copy(source.join(name), app.path().join(name)).expect("copy a soak workflow");
    }
    std::fs::copy(crate::guest("probe"), app.path().join("stamp.wasm"))
        .expect("copy the probe for deployments");
    app
}

async fn soak(config: &SoakConfig) -> SoakSummary {
    let started = Instant::now();
    let app = soak_app();
    let log: PathBuf = app.path().join("serve.log");
    let mut random = SplitMix(config.seed);
    // A killed server's pooled connections are dropped soon.
    let client = Client::with_idle_timeout(Duration::from_secs(5));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut summary = SoakSummary {
        seed: config.seed,
        ..SoakSummary::default()
    };
    let mut next_pipeline = 0;
    let mut next_order = 0;
    let mut next_deploy = 0;
    // Declared before the server, so that the server goes first when dropped.
    let mut disk = None;
    if config.power_cuts {
        let (backing, data) = (app.path().join("disk"), app.path().join("data"));
        for dir in [&backing, &data] {
            std::fs::create_dir(dir).expect("create the lazy disk's directories");
        }
        match swirl_lazyfs::Mounted::mount(&backing, &data) {
            Ok(mounted) => disk = Some(mounted),
            Err(error) => {
                summary
                    .violations
                    .push(format!("cannot mount the lazy disk: {error}"));
                return summary;
            }
        }
    }
    let mut server = match ServerProcess::start(app.path(), &log, &[]) {
        Ok(server) => server,
        Err(error) => {
            summary.violations.push(error);
            return summary;
        }
    };
    let tick = Duration::from_secs(1) / config.rate.max(1);
    for round in 0..=config.kills {
        let last = round == config.kills;
        let uptime = random.between(config.uptime.0, config.uptime.1);
        let kill_at = Instant::now() + uptime;
        // Requests keep coming for a while after the SIGKILL, so that some
        // are in flight when it lands and some find the server gone; before
        // a power cut, they may stop up to 2 s earlier instead.
        let idle = if config.power_cuts {
            random.between(Duration::ZERO, MAX_IDLE_BEFORE_CUT)
        } else {
            Duration::ZERO
        };
        let until = if last {
            kill_at
        } else if idle < KILL_OVERLAP {
            kill_at + KILL_OVERLAP
        } else {
            kill_at - idle
        };
        let mut killing = None;
        let mut flights = tokio::task::JoinSet::new();
        while Instant::now() < until {
            if killing.is_none() && !last && Instant::now() >= kill_at {
                killing = Some(server.signal_kill());
            }
            let op = {
                let mut ledger = ledger.lock().expect("ledger");
                if let Some(op) = ledger.todo.pop_front() {
                    op
                } else {
                    // Roughly: a third starts (a third of them waited for),
                    // a third new orders, a third shipments, and now and
                    // then a deployment.
                    let shippable = ledger.shipped_sent < next_order;
                    let roll = random.next();
                    match roll % 3 {
                        _ if roll.is_multiple_of(DEPLOY_ONE_IN) => {
                            next_deploy += 1;
                            Op::Deploy(next_deploy - 1)
                        }
                        2 if shippable => {
                            ledger.shipped_sent += 1;
                            Op::Shipped(ledger.shipped_sent - 1)
                        }
                        1 | 2 => {
                            next_order += 1;
                            Op::Paid(next_order - 1)
                        }
                        _ => {
                            next_pipeline += 1;
                            Op::Start {
                                n: next_pipeline - 1,
                                wait: (roll / 3).is_multiple_of(3),
                            }
                        }
                    }
                }
            };
            let (client, ledger, addr) = (client.clone(), ledger.clone(), server.addr);
            let dir = app.path().to_path_buf();
            flights.spawn(async move {
                let result = perform(&client, &dir, addr, op).await;
                let mut ledger = ledger.lock().expect("ledger");
                ledger.answered(op, &result);
                if let Ok(answer) = result {
                    ledger.unverified.push((op, answer));
                }
            });
            tokio::time::sleep(tick).await;
        }
        if last {
            while flights.join_next().await.is_some() {}
            break;
        }
        tokio::time::sleep_until(kill_at.into()).await;
        if let Some(Err(error)) = killing {
            summary.violations.push(error);
        }
        server.kill();
        summary.kills += 1;
        if let Some(mounted) = disk.take() {
            match mounted.cut() {
                Ok((mounted, dropped)) => {
                    summary.dropped.files += dropped.files;
                    summary.dropped.bytes += dropped.bytes;
                    disk = Some(mounted);
                }
                Err(error) => {
                    summary
                        .violations
                        .push(format!("power cut {}: {error}", round + 1));
                    return summary;
                }
            }
        }
        while flights.join_next().await.is_some() {}
        // Before resending anything: every acknowledged request's effect is
        // there; after a power cut, also after a second opening of the store.
        let unverified = std::mem::take(&mut ledger.lock().expect("ledger").unverified);
        let openings = if config.power_cuts { 2 } else { 1 };
        for opening in 1..=openings {
            if opening > 1 {
                server.kill();
            }
            server = match ServerProcess::start(app.path(), &log, &[]) {
                Ok(server) => server,
                Err(error) => {
                    summary.violations.push(format!(
                        "restart {} (opening {opening}): {error}",
                        round + 1
                    ));
                    return summary;
                }
            };
            for (op, answer) in &unverified {
                if let Err(violation) = check_effect(&client, server.addr, *op, answer).await {
                    summary
                        .violations
                        .push(format!("opening {opening}: {violation}"));
                }
            }
        }
    }
    // Drain: whatever was never acknowledged is resent until it is, and every
    // order gets its shipment.
    let drain_until = Instant::now() + config.settle;
    loop {
        let op = {
            let mut ledger = ledger.lock().expect("ledger");
            match ledger.todo.pop_front() {
                Some(op) => Some(op),
                None if ledger.shipped_sent < next_order => {
                    ledger.shipped_sent += 1;
                    Some(Op::Shipped(ledger.shipped_sent - 1))
                }
                None => None,
            }
        };
        let Some(op) = op else { break };
        let result = perform(&client, app.path(), server.addr, op).await;
        ledger.lock().expect("ledger").answered(op, &result);
        if let Err(error) = result {
            if Instant::now() > drain_until {
                ledger
                    .lock()
                    .expect("ledger")
                    .todo
                    .retain(|queued| *queued != op);
                summary.violations.push(format!(
                    "{op:?} is still refused by a running server: {error}"
                ));
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let checked = check_final(
        &client,
        server.addr,
        (next_pipeline, next_order, next_deploy),
        config.settle,
    )
    .await;
    summary.instances = checked.0;
    summary.violations.extend(checked.1);
    let ledger = ledger.lock().expect("ledger");
    summary.requests = ledger.requests;
    summary.acknowledged = ledger.acknowledged;
    summary.resent = ledger.resent;
    summary.events = ledger.events;
    summary.deploys = ledger.deploys;
    summary.elapsed = started.elapsed();
    if !summary.violations.is_empty() {
        // Keep the evidence: the data directory and the server's log.
        let kept = app.dir.keep();
        summary
            .violations
            .push(format!("data and serve.log kept in {}", kept.display()));
    }
    summary
}

/// Right after a restart: the effect of an acknowledged request is durable.
async fn check_effect(
    client: &Client,
    addr: SocketAddr,
    op: Op,
    answer: &Value,
) -> Result<(), String> {
    let get = |id: String| async move {
        send(
            client,
            addr,
            "GET",
            &format!("/instances/{id}"),
            &[],
            String::new(),
        )
        .await
    };
    match op {
        Op::Start { n, wait } => {
            let reply = get(format!("p-{n}")).await?;
            if reply.status != 200 {
                return Err(format!(
                    "start of p-{n} was acknowledged but after a kill the instance is {}: {}",
                    reply.status, reply.body
                ));
            }
            if wait && reply.body["status"] != "completed" {
                return Err(format!(
                    "p-{n} was answered completed ({answer}) but after a kill it is {}",
                    reply.body["status"]
                ));
            }
        }
        Op::Deploy(n) => check_deployed(client, addr, n).await?,
        Op::Paid(n) | Op::Shipped(n) => {
            let ids = answer["started"]
                .as_array()
                .into_iter()
                .chain(answer["delivered"].as_array())
                .flatten()
                .filter_map(Value::as_str);
            for id in ids {
                let effect = match op {
                    // Delivered: the instance consumed the event.
                    Op::Shipped(_) => {
                        let reply = get(format!("{id}/history")).await?;
                        reply.body.as_array().is_some_and(|lines| {
                            lines.iter().any(|line| {
                                line["kind"] == "eventConsumed" && line["event"] == "Shipped"
                            })
                        })
                    }
                    // Started: the instance exists.
                    _ => get(id.to_string()).await?.status == 200,
                };
                if !effect {
                    return Err(format!(
                        "{op:?} for o-{n} was acknowledged ({answer}) but after a kill instance {id} shows no effect"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Deployment `n` took: its function answers with its own config.
async fn check_deployed(client: &Client, addr: SocketAddr, n: u64) -> Result<(), String> {
    let body = json!({ "action": "config", "key": "round" }).to_string();
    let headers = [("content-type", "application/json".to_string())];
    let path = format!("/functions/stamp-{n}/invoke");
    let reply = send(client, addr, "POST", &path, &headers, body).await?;
    let round = reply.body["output"]
        .as_str()
        .and_then(|text| text.parse().ok());
    if round == Some(n) {
        Ok(())
    } else {
        Err(format!(
            "deployment extra-{n} was acknowledged but its function answers {}: {}",
            reply.status, reply.body
        ))
    }
}

/// The end: every instance final with the model's output, every counter
/// one, every deployment there. Returns the number of instances and the
/// violations.
async fn check_final(
    client: &Client,
    addr: SocketAddr,
    (pipelines, orders, deploys): (u64, u64, u64),
    settle: Duration,
) -> (usize, Vec<String>) {
    let mut violations = Vec::new();
    for n in 0..deploys {
        if let Err(violation) = check_deployed(client, addr, n).await {
            violations.push(violation);
        }
    }
    let deadline = Instant::now() + settle;
    // Waits for everything to be final: delays and retry timers are due by now.
    let records = loop {
        let records = match list_all(client, addr).await {
            Ok(records) => records,
            Err(error) => return (0, vec![format!("cannot list instances: {error}")]),
        };
        let unfinished = records
            .iter()
            .filter(|r| {
                !matches!(
                    r["status"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                )
            })
            .count();
        if unfinished == 0 || Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut seen_pipelines: BTreeMap<u64, usize> = BTreeMap::new();
    let mut seen_orders: BTreeMap<u64, usize> = BTreeMap::new();
    for record in &records {
        let id = record["id"].as_str().unwrap_or("?");
        if record["status"] != "completed" {
            violations.push(format!(
                "instance {id} ended {} (state {}) {}s after the last request: {}",
                record["status"],
                record["state"],
                settle.as_secs(),
                record.get("error").unwrap_or(&Value::Null)
            ));
            continue;
        }
        let output = &record["output"];
        let Some(n) = output["n"].as_u64() else {
            violations.push(format!("instance {id} has no n in its output: {output}"));
            continue;
        };
        match record["workflowId"].as_str() {
            Some("pipeline") => {
                *seen_pipelines.entry(n).or_default() += 1;
                let calls = output["calls"].as_u64().unwrap_or(0);
                let mut rest = output.clone();
                if let Some(object) = rest.as_object_mut() {
                    object.remove("calls");
                }
                if rest != pipeline_output(n) || !(2..=5).contains(&calls) {
                    violations.push(format!(
                        "pipeline p-{n}: output {output}, the model says {} with 2 to 5 calls",
                        pipeline_output(n)
                    ));
                }
            }
            Some("order") => {
                *seen_orders.entry(n).or_default() += 1;
                if *output != order_output(n) {
                    violations.push(format!(
                        "order o-{n}: output {output}, the model says {}",
                        order_output(n)
                    ));
                }
            }
            other => violations.push(format!("instance {id} of unexpected workflow {other:?}")),
        }
    }
    for (kind, seen, expected) in [
        ("p", &seen_pipelines, pipelines),
        ("o", &seen_orders, orders),
    ] {
        for n in 0..expected {
            match seen.get(&n) {
                Some(1) => {}
                Some(count) => violations.push(format!("{kind}-{n} has {count} instances")),
                None => violations.push(format!("{kind}-{n} has no completed instance")),
            }
        }
    }
    // The functions' own counts, read through direct calls of the function,
    // a few at a time.
    let keys: Vec<String> = (0..pipelines.max(orders))
        .flat_map(counters)
        .filter(|key| {
            let n: u64 = key[2..key.find('/').unwrap_or(2)]
                .parse()
                .unwrap_or(u64::MAX);
            if key.starts_with('p') {
                n < pipelines
            } else {
                n < orders
            }
        })
        .collect();
    for chunk in keys.chunks(COUNTER_READS_AT_ONCE) {
        let mut reads = tokio::task::JoinSet::new();
        for key in chunk {
            let (client, key) = (client.clone(), key.clone());
            reads.spawn(async move {
                let body = json!({ "action": "kv-get", "key": key }).to_string();
                let headers = [("content-type", "application/json".to_string())];
                let reply = send(
                    &client,
                    addr,
                    "POST",
                    "/functions/probe/invoke",
                    &headers,
                    body,
                )
                .await;
                match reply {
                    Ok(reply) if reply.body["output"] == "1" => None,
                    Ok(reply) => Some(format!(
                        "counter {key} is {} (an action that completed more or less than once)",
                        reply.body["output"]
                    )),
                    Err(error) => Some(format!("cannot read counter {key}: {error}")),
                }
            });
        }
        while let Some(read) = reads.join_next().await {
            violations.extend(read.ok().flatten());
        }
    }
    (records.len(), violations)
}

/// Every instance, through the paged list.
async fn list_all(client: &Client, addr: SocketAddr) -> Result<Vec<Value>, String> {
    let mut records = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = send(
            client,
            addr,
            "GET",
            &format!("/instances?limit=1000&cursor={cursor}"),
            &[],
            String::new(),
        )
        .await?;
        let instances = page.body["instances"]
            .as_array()
            .ok_or_else(|| format!("no instances in {}", page.body))?;
        records.extend(instances.iter().cloned());
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return Ok(records),
        }
    }
}
