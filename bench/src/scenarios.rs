//! The kinds of load, one function each, and the table rows they print.

use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::client::{Answer, Bytes, Connection, Expected, Requests, Server, StatusCode};
use crate::stats::{Latencies, Memory, cpu_time, mib, show};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Start instances with POST /workflows/{id}/instances?wait=true
    Start(StartArgs),
    /// POST a JSON body to any url that answers when the work is done (a peer
    /// engine's endpoint, say), measured as `start` measures
    Post(PostArgs),
    /// Start instances with CloudEvents (POST /events) and count completions per second
    Events(EventsArgs),
    /// Leave many instances waiting for correlated events, then wake some one by one
    Correlate(CorrelateArgs),
    /// Resident memory of the server before, right after and long after a burst of calls
    Idle(IdleArgs),
}

/// The label and targets of a table row.
#[derive(clap::Args)]
pub struct Row {
    /// The figure's name in the table
    #[arg(long)]
    label: String,
    /// The server's process id: adds its CPU time per completed instance.
    /// Repeat it for a server made of several processes: their times add up
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
}

impl Row {
    /// The CPU time the server's processes have used so far; none without pids.
    fn cpu_start(&self) -> anyhow::Result<Option<Duration>> {
        if self.server_pids.is_empty() {
            return Ok(None);
        }
        let used: anyhow::Result<Duration> =
            self.server_pids.iter().map(|&pid| cpu_time(pid)).sum();
        used.map(Some)
    }

    /// The server's CPU time per instance since `start`, when the pids are known.
    fn cpu_per_instance(
        &self,
        start: Option<Duration>,
        instances: usize,
    ) -> anyhow::Result<Option<Duration>> {
        let (Some(now), Some(start)) = (self.cpu_start()?, start) else {
            return Ok(None);
        };
        Ok(Some(now.saturating_sub(start) / instances.max(1) as u32))
    }

    /// ", server CPU N µs per instance" when the pids are known.
    fn cpu_per(&self, start: Option<Duration>, instances: usize) -> anyhow::Result<String> {
        Ok(cpu_note(self.cpu_per_instance(start, instances)?))
    }
}

fn cpu_note(per_instance: Option<Duration>) -> String {
    per_instance
        .map(|cpu| format!("; server CPU {} per instance", show(cpu)))
        .unwrap_or_default()
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// The workflow to start; its input is {"n": 0}
    #[arg(long, default_value = "seq3")]
    workflow: String,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(clap::Args)]
pub struct PostArgs {
    /// Where to send each request: http://host:port/path (this command ignores --server)
    #[arg(long)]
    url: String,
    /// The body of every request, JSON
    #[arg(long, default_value = r#"{"n":0}"#)]
    body: String,
    /// The JSON every answer must hold (at --expect-at): other answers count as errors.
    /// Without it, any 200 answer counts as done
    #[arg(long)]
    expect: Option<String>,
    /// Where in the answer --expect is, as a JSON pointer ("" is the whole answer)
    #[arg(long, default_value = "")]
    expect_at: String,
    #[command(flatten)]
    load: LoadArgs,
}

/// How `start` and `post` load the server: clients sending one request at a
/// time each, for a duration, and what the row checks.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Concurrent clients, one connection and one request at a time each
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// How long to measure
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long to run before measuring
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Target for the median latency, shown and checked
    #[arg(long, value_parser = humantime::parse_duration)]
    p50_target: Option<Duration>,
    /// Target for completed instances per second, shown and checked
    #[arg(long)]
    rate_target: Option<f64>,
    /// Also append the figures to this file, one tab-separated line: label,
    /// p50 µs, p99 µs, completed/s, wrong answers, server CPU µs per
    /// instance (empty without --server-pid); for scripts that compare runs
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
    #[command(flatten)]
    row: Row,
}

#[derive(clap::Args)]
pub struct EventsArgs {
    /// Events to send, one per request, each starting an instance
    #[arg(long, default_value_t = 20_000)]
    count: usize,
    /// Concurrent clients
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Target for completed instances per second
    #[arg(long)]
    rate_target: Option<f64>,
    #[command(flatten)]
    row: Row,
}

#[derive(clap::Args)]
pub struct CorrelateArgs {
    /// Instances to leave waiting
    #[arg(long, default_value_t = 100_000)]
    waiting: usize,
    /// Events per batch-mode request while opening them
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Concurrent clients while opening them
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Correlated events to time, one at a time, each to a different instance
    #[arg(long, default_value_t = 2_000)]
    samples: usize,
    /// The server's process id, for its resident memory
    #[arg(long)]
    pid: u32,
    #[command(flatten)]
    row: Row,
}

#[derive(clap::Args)]
pub struct IdleArgs {
    /// The server's process id
    #[arg(long)]
    pid: u32,
    /// The functions' idle-timeout (as their manifest says)
    #[arg(long, value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// Calls of each function in the burst
    #[arg(long, default_value_t = 20)]
    calls: usize,
    /// Concurrent clients in the burst
    #[arg(long, default_value_t = 32)]
    clients: usize,
    #[command(flatten)]
    row: Row,
}

pub async fn run(url: &str, command: Command) -> anyhow::Result<()> {
    // `post` names its own url; the others talk to the server at `url`.
    let server = || Server::parse(url);
    match command {
        Command::Start(args) => start(&server()?, args).await,
        Command::Post(args) => post(args).await,
        Command::Events(args) => events(&server()?, args).await,
        Command::Correlate(args) => correlate(&server()?, args).await,
        Command::Idle(args) => idle(&server()?, args).await,
    }
}

/// One row of the results table.
fn print_row(label: &str, target: &str, result: &str, met: Option<bool>) {
    let met = match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "—",
    };
    println!("| {label} | {target} | {result} | {met} |");
}

/// A number with thousands separators, for rates and counts.
fn count(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Runs `clients` copies of `client` concurrently and collects their results.
async fn concurrently<T, F, Fut>(clients: usize, client: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + 'static,
    T: 'static,
{
    let local = tokio::task::LocalSet::new();
    let handles: Vec<_> = (0..clients).map(|i| local.spawn_local(client(i))).collect();
    local.await;
    let mut results = Vec::with_capacity(clients);
    for handle in handles {
        results.push(handle.await.context("a client task failed")??);
    }
    Ok(results)
}

/// Unique per run, so event ids never collide with an earlier run's (the
/// server would count them as duplicates).
fn run_nonce() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

// ---- start and post: requests that answer when the work is done ----

/// What is wrong with an answer, if anything.
type Check = Rc<dyn Fn(&Answer) -> Result<(), String>>;

async fn start(server: &Server, args: StartArgs) -> anyhow::Result<()> {
    let path = format!("/workflows/{}/instances?wait=true", args.workflow);
    let check: Check = Rc::new(|answer| {
        let view = answer
            .expect_json(StatusCode::OK, "starting an instance with wait=true")
            .map_err(|error| format!("{error:#}"))?;
        match view["status"].as_str() {
            Some("completed") => Ok(()),
            other => Err(format!(
                "an instance ended {}, not completed: {view}",
                other.unwrap_or("without a status")
            )),
        }
    });
    drive(
        server,
        &path,
        Bytes::from_static(br#"{"n":0}"#),
        &args.load,
        check,
    )
    .await
}

async fn post(args: PostArgs) -> anyhow::Result<()> {
    let (server, path) = Server::parse_url(&args.url)?;
    serde_json::from_str::<Value>(&args.body).context("--body is not JSON")?;
    let expected: Option<Value> = args
        .expect
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("--expect is not JSON")?;
    let at = args.expect_at.clone();
    let check: Check = Rc::new(move |answer| {
        if answer.status != StatusCode::OK {
            return Err(format!(
                "the server answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        let Some(expected) = &expected else {
            return Ok(());
        };
        let body: Value = serde_json::from_slice(&answer.body).map_err(|_| {
            format!(
                "the answer is not JSON: {}",
                String::from_utf8_lossy(&answer.body)
            )
        })?;
        match body.pointer(&at) {
            Some(found) if found == expected => Ok(()),
            Some(found) => Err(format!("expected {expected} at '{at}', got {found}")),
            None => Err(format!("the answer has nothing at '{at}': {body}")),
        }
    });
    drive(&server, &path, Bytes::from(args.body), &args.load, check).await
}

/// Sends `body` to `path` from `load.clients` clients, one request at a time
/// each, for the warm-up and then the measured duration, and prints the row:
/// latency percentiles and completed requests per second over the answers
/// that pass `check`. An answer that does not pass is an error: counted,
/// shown in the row, and the command fails once the row is printed.
async fn drive(
    server: &Server,
    path: &str,
    body: Bytes,
    load: &LoadArgs,
    check: Check,
) -> anyhow::Result<()> {
    // Server CPU is counted over the warm-up too, per instance completed in all.
    let cpu = load.row.cpu_start()?;
    let begin = Instant::now() + load.warmup;
    let end = begin + load.duration;
    let results = concurrently(load.clients, |_| {
        let server = server.clone();
        let path = path.to_string();
        let body = body.clone();
        let check = check.clone();
        async move {
            let mut connection = server.connect().await?;
            let mut run = ClientRun::default();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let answer = connection
                    .post(&path, "application/json", body.clone())
                    .await?;
                let done = Instant::now();
                match check(&answer) {
                    Ok(()) => {
                        run.total += 1;
                        if sent >= begin {
                            run.latencies.record(done - sent);
                            run.last = Some(done);
                        }
                    }
                    Err(wrong) => {
                        run.errors += 1;
                        run.first_error.get_or_insert(wrong);
                    }
                }
            }
            Ok(run)
        }
    })
    .await?;
    let mut all = ClientRun::default();
    let mut last = begin;
    for run in results {
        all.latencies.merge(run.latencies);
        last = last.max(run.last.unwrap_or(begin));
        all.total += run.total;
        all.errors += run.errors;
        if all.first_error.is_none() {
            all.first_error = run.first_error;
        }
    }
    let cpu_per_instance = load.row.cpu_per_instance(cpu, all.total)?;
    let cpu = cpu_note(cpu_per_instance);
    let completed = all.latencies.len();
    let rate = completed as f64 / (last - begin).as_secs_f64().max(1e-9);
    let summary = all.latencies.summary();
    let mut targets = Vec::new();
    let mut met = None;
    if let Some(target) = load.p50_target {
        targets.push(format!("p50 ≤ {}", show(target)));
        met = Some(summary.p50 <= target);
    }
    if let Some(target) = load.rate_target {
        targets.push(format!("≥ {} /s", count(target)));
        met = Some(met.unwrap_or(true) && rate >= target);
    }
    let errors = match all.errors {
        0 => String::new(),
        errors => {
            met = Some(false);
            format!("; **{} wrong answers**", count(errors as f64))
        }
    };
    print_row(
        &load.row.label,
        &targets.join(", "),
        &format!(
            "p50 {}, p99 {}, max {}; {} completed/s ({} in {:.1} s){cpu}{errors}",
            show(summary.p50),
            show(summary.p99),
            show(summary.max),
            count(rate),
            count(completed as f64),
            (last - begin).as_secs_f64()
        ),
        met,
    );
    if let Some(file) = &load.record {
        let micros = |duration: Duration| format!("{:.0}", duration.as_secs_f64() * 1e6);
        let line = format!(
            "{}\t{}\t{}\t{rate:.1}\t{}\t{}\n",
            load.row.label,
            micros(summary.p50),
            micros(summary.p99),
            all.errors,
            cpu_per_instance.map(micros).unwrap_or_default(),
        );
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut out| std::io::Write::write_all(&mut out, line.as_bytes()))
            .with_context(|| format!("cannot append to {}", file.display()))?;
    }
    if let Some(first) = all.first_error {
        bail!(
            "{} of {} answers were wrong; the first: {first}",
            all.errors,
            all.errors + all.total
        );
    }
    Ok(())
}

/// What one client of `drive` saw.
#[derive(Default)]
struct ClientRun {
    /// Latencies of the right answers to requests sent after the warm-up.
    latencies: Latencies,
    /// When the last of those came back.
    last: Option<Instant>,
    /// Right answers, warm-up included.
    total: usize,
    /// Wrong answers, warm-up included.
    errors: usize,
    first_error: Option<String>,
}

// ---- events: POST /events, completions per second ----

fn structured_event(id: &str, event_type: &str, extensions: &[(&str, &str)], data: Value) -> Value {
    let mut event = json!({
        "specversion": "1.0",
        "id": id,
        "source": "swirl-load",
        "type": event_type,
        "datacontenttype": "application/json",
        "data": data,
    });
    for (name, value) in extensions {
        event[*name] = json!(value);
    }
    event
}

async fn events(server: &Server, args: EventsArgs) -> anyhow::Result<()> {
    let nonce = run_nonce();
    let clients = args.clients.max(1);
    let cpu = args.row.cpu_start()?;
    let began = Instant::now();
    let started = concurrently(clients, |client| {
        let server = server.clone();
        let total = args.count;
        async move {
            let mut connection = server.connect().await?;
            let mut latencies = Latencies::default();
            let mut ids = Vec::new();
            for index in (client..total).step_by(clients) {
                let event = structured_event(
                    &format!("go-{nonce}-{index}"),
                    "bench.go",
                    &[],
                    json!({"n": 0}),
                );
                let sent = Instant::now();
                let answer = connection.post_event(&event).await?;
                latencies.record(sent.elapsed());
                let accepted = answer.expect_json(StatusCode::ACCEPTED, "sending a start event")?;
                let id = accepted["started"][0]
                    .as_str()
                    .with_context(|| format!("the event started no instance: {accepted}"))?;
                ids.push(id.to_string());
            }
            Ok((latencies, ids))
        }
    })
    .await?;
    let sent = began.elapsed();
    let mut latencies = Latencies::default();
    let mut last_ids = Vec::new();
    let mut all_ids = Vec::new();
    for (client, ids) in started {
        latencies.merge(client);
        last_ids.extend(ids.last().cloned());
        all_ids.extend(ids);
    }
    // Instances run in about the order they started: when each client's
    // last one is done, so are (nearly) all. The sweep below checks every
    // one, untimed, and waits for stragglers, whose time then counts.
    let mut connection = server.connect().await?;
    wait_completed(&mut connection, &last_ids).await?;
    let mut done = began.elapsed();
    // Before the sweep's reads add to it.
    let cpu = args.row.cpu_per(cpu, all_ids.len())?;
    let stragglers = sweep_completed(server, &all_ids).await?;
    if stragglers > 0 {
        done = began.elapsed();
    }
    let rate = all_ids.len() as f64 / done.as_secs_f64();
    let summary = latencies.summary();
    let target = args.rate_target;
    print_row(
        &args.row.label,
        &target
            .map(|t| format!("≥ {} /s", count(t)))
            .unwrap_or_default(),
        &format!(
            "{} completed/s ({} instances: sent in {:.1} s, all completed after {:.1} s); POST /events p50 {}, p99 {}{cpu}",
            count(rate),
            count(all_ids.len() as f64),
            sent.as_secs_f64(),
            done.as_secs_f64(),
            show(summary.p50),
            show(summary.p99),
        ),
        target.map(|t| rate >= t),
    );
    Ok(())
}

/// An instance's status through `GET /instances/{id}`.
async fn status_of(connection: &mut Connection, id: &str) -> anyhow::Result<String> {
    let answer = connection.get(&format!("/instances/{id}")).await?;
    let view = answer.expect_json(StatusCode::OK, "reading an instance")?;
    Ok(view["status"].as_str().unwrap_or_default().to_string())
}

/// Polls until every instance of `ids` has completed (2 min at most).
async fn wait_completed(connection: &mut Connection, ids: &[String]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            match status_of(connection, id).await?.as_str() {
                "completed" => break,
                "failed" | "cancelled" => bail!("instance {id} did not complete"),
                _ if Instant::now() > deadline => {
                    bail!("instance {id} has not completed after 2 minutes")
                }
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
    Ok(())
}

/// Checks that every instance completed, waiting for those that have not;
/// returns how many had to be waited for.
async fn sweep_completed(server: &Server, ids: &[String]) -> anyhow::Result<usize> {
    const CONNECTIONS: usize = 8;
    let chunk = ids.len().div_ceil(CONNECTIONS).max(1);
    let waited = concurrently(ids.len().div_ceil(chunk), |part| {
        let server = server.clone();
        let ids: Vec<String> = ids.iter().skip(part * chunk).take(chunk).cloned().collect();
        async move {
            let mut connection = server.connect().await?;
            let mut waited = 0;
            for id in &ids {
                if status_of(&mut connection, id).await? != "completed" {
                    waited += 1;
                    wait_completed(&mut connection, std::slice::from_ref(id)).await?;
                }
            }
            Ok(waited)
        }
    })
    .await?;
    Ok(waited.into_iter().sum())
}

// ---- correlate: many waiting, one woken at a time ----

async fn correlate(server: &Server, args: CorrelateArgs) -> anyhow::Result<()> {
    let nonce = run_nonce();
    let key = move |index: usize| format!("k{nonce}-{index}");
    let before = Memory::of(args.pid)?;
    let opened = Instant::now();
    let batches = args.waiting.div_ceil(args.batch.max(1));
    let clients = args.clients.max(1);
    concurrently(clients, |client| {
        let server = server.clone();
        let (waiting, batch) = (args.waiting, args.batch.max(1));
        async move {
            let mut connection = server.connect().await?;
            for number in (client..batches).step_by(clients) {
                let events: Vec<Value> = (number * batch..((number + 1) * batch).min(waiting))
                    .map(|index| {
                        let key = key(index);
                        structured_event(
                            &format!("open-{key}"),
                            "bench.open",
                            &[("benchkey", &key)],
                            json!({}),
                        )
                    })
                    .collect();
                let expected = events.len();
                let answer = connection
                    .post(
                        "/events",
                        "application/cloudevents-batch+json",
                        Bytes::from(Value::Array(events).to_string()),
                    )
                    .await?;
                let accepted =
                    answer.expect_json(StatusCode::ACCEPTED, "opening waiting instances")?;
                let started = accepted["started"].as_array().map_or(0, Vec::len);
                if started != expected {
                    bail!(
                        "a batch of {expected} open events started {started} instances: {accepted}"
                    );
                }
            }
            Ok(())
        }
    })
    .await?;
    let open_time = opened.elapsed();
    let waiting = Memory::of(args.pid)?;

    // Distinct instances in a scattered order: a stride coprime with the
    // count visits each index once.
    let stride = (args.waiting / 2 + 1..)
        .find(|s| gcd(*s, args.waiting) == 1)
        .unwrap_or(1);
    let mut connection = server.connect().await?;
    let mut latencies = Latencies::default();
    for sample in 0..args.samples.min(args.waiting) {
        let index = (sample * stride) % args.waiting;
        let key = key(index);
        let event = structured_event(
            &format!("wake-{key}"),
            "bench.wake",
            &[("benchkey", &key)],
            json!({}),
        );
        let sent = Instant::now();
        let answer = connection.post_event(&event).await?;
        let elapsed = sent.elapsed();
        let accepted = answer.expect_json(StatusCode::ACCEPTED, "waking a waiting instance")?;
        let delivered = accepted["delivered"].as_array().map_or(0, Vec::len);
        if delivered != 1 {
            bail!("a wake event for {key} reached {delivered} instances, not 1: {accepted}");
        }
        latencies.record(elapsed);
    }
    let after = Memory::of(args.pid)?;
    let summary = latencies.summary();
    let waiting_count = count(args.waiting as f64);
    print_row(
        &format!("{}: delivery", args.row.label),
        "p50 ≤ 1 ms",
        &format!(
            "p50 {}, p99 {}, max {} ({} events, each to one of {waiting_count} waiting instances)",
            show(summary.p50),
            show(summary.p99),
            show(summary.max),
            count(latencies.len() as f64),
        ),
        Some(summary.p50 <= Duration::from_millis(1)),
    );
    let gib = 1024 * 1024;
    print_row(
        &format!("{}: resident memory", args.row.label),
        "≤ 1 GiB",
        &format!(
            "{} with {waiting_count} waiting (peak {}; {} before opening them; opened at {} /s)",
            mib(waiting.rss_kib),
            mib(after.hwm_kib),
            mib(before.rss_kib),
            count(args.waiting as f64 / open_time.as_secs_f64()),
        ),
        Some(after.hwm_kib <= gib),
    );
    Ok(())
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

// ---- idle: memory around a burst ----

async fn idle(server: &Server, args: IdleArgs) -> anyhow::Result<()> {
    let mut connection = server.connect().await?;
    let listed = connection
        .get("/functions")
        .await?
        .expect_json(StatusCode::OK, "listing functions")?;
    let names: Vec<String> = listed
        .as_array()
        .context("GET /functions is not a list")?
        .iter()
        .filter_map(|function| function["name"].as_str().map(str::to_string))
        .collect();
    if names.is_empty() {
        bail!("the server has no functions to call");
    }
    let before = Memory::of(args.pid)?;
    let calls: Vec<String> = (0..args.calls)
        .flat_map(|_| names.iter().cloned())
        .collect();
    let clients = args.clients.max(1);
    let burst = Instant::now();
    concurrently(clients, |client| {
        let server = server.clone();
        let mine: Vec<String> = calls
            .iter()
            .skip(client)
            .step_by(clients)
            .cloned()
            .collect();
        async move {
            let mut connection = server.connect().await?;
            for name in mine {
                connection
                    .post(
                        &format!("/functions/{name}/invoke"),
                        "application/json",
                        Bytes::from_static(br#"{"n":1}"#),
                    )
                    .await?
                    .expect_json(StatusCode::OK, "calling a function")?;
            }
            Ok(())
        }
    })
    .await?;
    let burst_time = burst.elapsed();
    let warm = Memory::of(args.pid)?;
    // Past the idle-timeout, plus the reaper's period and some slack.
    tokio::time::sleep(args.idle_timeout + Duration::from_secs(1)).await;
    let mut live = 0;
    for name in &names {
        let view = connection
            .get(&format!("/functions/{name}"))
            .await?
            .expect_json(StatusCode::OK, "reading a function")?;
        live += view["stats"]["liveInstances"].as_u64().unwrap_or(0);
    }
    let idle = Memory::of(args.pid)?;
    let growth = idle.rss_kib as f64 / before.rss_kib as f64 - 1.0;
    print_row(
        &args.row.label,
        "idle within 20% of before the burst",
        &format!(
            "{} before the burst, {} right after it ({} calls of {} functions in {:.1} s), {} idle ({:+.0}%, {live} instances left)",
            mib(before.rss_kib),
            mib(warm.rss_kib),
            count(calls.len() as f64),
            names.len(),
            burst_time.as_secs_f64(),
            mib(idle.rss_kib),
            growth * 100.0,
        ),
        Some(growth <= 0.20),
    );
    Ok(())
}
