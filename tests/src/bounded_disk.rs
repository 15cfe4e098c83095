//! The bounded-disk soak: short workflow instances and CloudEvents through
//! `swirl serve` with a short retention, sampling the data directory's size
//! as it goes, to show that it levels off once retention deletes as fast as
//! the load adds (finished instances with their history, seen-event marks).
//!
//! The heavy tier (`bounded_disk` binary, its defaults) is the issue's
//! shape: an hour's retention under hours of load. The test runs it scaled
//! down, seconds for hours ([`DiskConfig::scaled`]).
//!
//! The app is two workflows over the probe function: `short` (one call,
//! then the end) started through the admin API, and `ticked` (started by a
//! `tick` event, one call, then the end).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use swirl_client::Client;

use crate::App;
use crate::soak::{ServerProcess, send};

/// How long the load runs and how long what it leaves is kept.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    /// How long requests are sent.
    pub duration: Duration,
    /// `--instance-retention`, `--dedup-retention` and `--buffer-retention`.
    pub retention: Duration,
    /// `--retention-interval`.
    pub sweep_every: Duration,
    /// Clients sending one request at a time each.
    pub clients: usize,
    /// Requests a second from all clients together; `None` sends as fast
    /// as the server answers. sled reclaims log segments at its own pace
    /// (RELIABILITY.md, "Bounded disk"), so whether the size levels off
    /// within a short run depends on the rate, which must not depend on
    /// how fast the machine is.
    pub rate: Option<u32>,
    /// One request in this many is an event; the others start instances.
    pub event_one_in: u64,
    /// How often the size is sampled.
    pub sample_every: Duration,
}

impl Default for DiskConfig {
    /// The heavy tier: an hour's retention under three hours of load.
    fn default() -> Self {
        DiskConfig {
            duration: Duration::from_secs(3 * 60 * 60),
            retention: Duration::from_secs(60 * 60),
            sweep_every: Duration::from_secs(60),
            clients: 16,
            rate: None,
            event_one_in: 10,
            sample_every: Duration::from_secs(60),
        }
    }
}

/// The scaled run's requests a second: about what the shared development
/// machine did when the size was first seen to level off.
pub const SCALED_RATE: u32 = 800;

impl DiskConfig {
    /// The heavy tier with seconds for its hours: `duration` of load under
    /// a retention of a sixth of it.
    pub fn scaled(duration: Duration) -> Self {
        DiskConfig {
            duration,
            retention: duration / 6,
            sweep_every: Duration::from_secs(1),
            clients: 8,
            rate: Some(SCALED_RATE),
            sample_every: duration / 30,
            ..DiskConfig::default()
        }
    }
}

/// The data directory at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskSample {
    pub elapsed: Duration,
    /// Instances started and events accepted so far.
    pub instances: u64,
    pub events: u64,
    /// Bytes on disk of the whole data directory (sled, files, code cache).
    pub data_dir_bytes: u64,
    /// Instances the server holds (`GET /instance-counts`, summed).
    pub stored_instances: u64,
    /// The 99th percentile and the longest answer time of the requests
    /// answered since the sample before, in microseconds: retention's
    /// deletions must not hold the commits up.
    pub p99_micros: u64,
    pub max_micros: u64,
}

/// What a bounded-disk run did and saw.
#[derive(Debug, Default)]
pub struct DiskSummary {
    pub samples: Vec<DiskSample>,
    pub failures: u64,
    pub elapsed: Duration,
    pub problems: Vec<String>,
}

impl DiskSummary {
    /// The largest size in the last third of the run over the largest in
    /// the middle third: near 1 when the size levelled off, near 1.5 and
    /// above when it grew with the load.
    pub fn late_growth(&self) -> f64 {
        let third = self.samples.len() / 3;
        let peak = |samples: &[DiskSample]| {
            samples
                .iter()
                .map(|sample| sample.data_dir_bytes)
                .max()
                .unwrap_or(0)
        };
        let middle = peak(&self.samples[third..2 * third]);
        let last = peak(&self.samples[2 * third..]);
        last as f64 / middle.max(1) as f64
    }

    /// The load's growth over the same thirds: requests done by the end of
    /// the run over those done by the end of the middle third.
    pub fn load_growth(&self) -> f64 {
        let third = self.samples.len() / 3;
        let done = |sample: &DiskSample| sample.instances + sample.events;
        let middle = self.samples.get(2 * third).map_or(0, done);
        let last = self.samples.last().map_or(0, done);
        last as f64 / middle.max(1) as f64
    }
}

impl std::fmt::Display for DiskSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let last = self.samples.last().copied().unwrap_or_default();
        writeln!(
            f,
            "bounded disk: {:.0?}: {} instances started, {} events, {} failed requests; data directory peak in the last third {:.2}x the middle third's while the load grew {:.2}x",
            self.elapsed,
            last.instances,
            last.events,
            self.failures,
            self.late_growth(),
            self.load_growth()
        )?;
        writeln!(
            f,
            "seconds  instances  events  stored  data-dir-MiB  p99-ms  max-ms"
        )?;
        for sample in &self.samples {
            writeln!(
                f,
                "{:>7}  {:>9}  {:>6}  {:>6}  {:>12.1}  {:>6.1}  {:>6.1}",
                sample.elapsed.as_secs(),
                sample.instances,
                sample.events,
                sample.stored_instances,
                sample.data_dir_bytes as f64 / (1024.0 * 1024.0),
                sample.p99_micros as f64 / 1000.0,
                sample.max_micros as f64 / 1000.0
            )?;
        }
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        Ok(())
    }
}

pub fn run(config: &DiskConfig) -> DiskSummary {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(soak(config))
}

const MANIFEST: &str = "[app]\nname = \"disk\"\nworkflows = [\"short.json\", \"ticked.json\"]\n\n[functions.probe]\nsource = \"{probe}\"\ntimeout = \"5s\"\n";

fn disk_app() -> App {
    let app = App::new(MANIFEST);
    let functions = json!([{ "name": "probe", "resource": "probe" }]);
    let add = json!({ "functionRef": { "refName": "probe",
        "parameters": { "action": "add", "a": 1, "b": 2 } } });
    let events = json!([{ "name": "Tick", "source": "clock", "type": "tick" }]);
    let short = json!({ "id": "short", "version": "1.0", "name": "short", "functions": functions,
        "states": [{ "name": "Add", "type": "OPERATION", "start": { "kind": "DEFAULT" },
            "actionMode": "SEQUENTIAL", "actions": [add], "end": { "kind": "DEFAULT" } }] });
    let ticked = json!({ "id": "ticked", "version": "1.0", "name": "ticked",
        "functions": functions, "events": events,
        "states": [{ "name": "OnTick", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
            "eventsActions": [{ "eventRefs": ["Tick"], "actions": [add] }],
            "end": { "kind": "DEFAULT" } }] });
    for (name, definition) in [("short.json", short), ("ticked.json", ticked)] {
        std::fs::write(app.path().join(name), definition.to_string()).expect("write a workflow");
    }
    app
}

async fn soak(config: &DiskConfig) -> DiskSummary {
    let started = Instant::now();
    let app = disk_app();
    let mut summary = DiskSummary::default();
    let seconds = |duration: Duration| format!("{}ms", duration.as_millis());
    let (retention, sweep) = (seconds(config.retention), seconds(config.sweep_every));
    let args = [
        "--instance-retention",
        &retention,
        "--dedup-retention",
        &retention,
        "--buffer-retention",
        &retention,
        "--retention-interval",
        &sweep,
    ];
    let server = match ServerProcess::start(app.path(), &app.path().join("serve.log"), &args) {
        Ok(server) => server,
        Err(error) => {
            summary.problems.push(error);
            return summary;
        }
    };
    let addr = server.addr;
    let client = Client::new();
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (instances, events, failures) = (0, 1, 2);
    let until = Instant::now() + config.duration;
    let mut clients = tokio::task::JoinSet::new();
    for client_index in 0..config.clients {
        let (client, counts, event_one_in) = (client.clone(), counts.clone(), config.event_one_in);
        let latencies = latencies.clone();
        let mut pace = config.rate.map(|rate| {
            let period = Duration::from_secs_f64(config.clients as f64 / f64::from(rate.max(1)));
            let mut pace = tokio::time::interval(period);
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            pace
        });
        clients.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                n += 1;
                let event = n.is_multiple_of(event_one_in);
                let sent = Instant::now();
                let reply = if event {
                    let headers = [
                        ("ce-specversion", "1.0".to_string()),
                        ("ce-id", format!("t-{client_index}-{n}")),
                        ("ce-source", "clock".to_string()),
                        ("ce-type", "tick".to_string()),
                        ("content-type", "application/json".to_string()),
                    ];
                    send(&client, addr, "POST", "/events", &headers, "{}".into()).await
                } else {
                    let headers = [("content-type", "application/json".to_string())];
                    let path = "/workflows/short/instances";
                    send(&client, addr, "POST", path, &headers, "{}".into()).await
                };
                let counter = match reply {
                    Ok(reply) if reply.status < 300 && event => events,
                    Ok(reply) if reply.status < 300 => instances,
                    _ => failures,
                };
                counts[counter].fetch_add(1, Ordering::Relaxed);
                let micros = sent.elapsed().as_micros() as u64;
                latencies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(micros);
            }
        });
    }
    let data = app.path().join("data");
    loop {
        let elapsed = started.elapsed();
        let stored = stored_instances(&client, addr).await;
        let mut window = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
        window.sort_unstable();
        summary.samples.push(DiskSample {
            p99_micros: swirl_core::percentile::percentile(&window, 99),
            max_micros: window.last().copied().unwrap_or(0),
            elapsed,
            instances: counts[instances].load(Ordering::Relaxed),
            events: counts[events].load(Ordering::Relaxed),
            data_dir_bytes: disk_bytes(&data),
            stored_instances: stored.unwrap_or(0),
        });
        if Instant::now() >= until {
            break;
        }
        tokio::time::sleep(config.sample_every).await;
    }
    while clients.join_next().await.is_some() {}
    summary.failures = counts[failures].load(Ordering::Relaxed);
    summary.elapsed = started.elapsed();
    drop(server);
    summary
}

/// Instances the server holds, by its counts of each status.
async fn stored_instances(client: &Client, addr: std::net::SocketAddr) -> Option<u64> {
    let reply = send(client, addr, "GET", "/instance-counts", &[], String::new())
        .await
        .ok()?;
    Some(
        reply
            .body
            .as_object()?
            .values()
            .filter_map(|count| count.as_u64())
            .sum(),
    )
}

/// Bytes the files under `dir` occupy on disk.
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => disk_bytes(&entry.path()),
            Ok(metadata) => metadata.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
