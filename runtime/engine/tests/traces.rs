//! Trace fixtures: the engine alone, on its in-memory ports, driven by a
//! script, and what it did written down and compared.
//!
//! Each directory of `tests/fixtures/traces/` holds one or more definitions
//! (`*.workflow.yaml` or `*.workflow.json`), a `script.yaml` of operations,
//! and `expected.json`: every instance the script made (named `i1`, `i2`,
//! … in the order they started), with its status, output, error and
//! history, and what each delivery did.
//!
//! Time is the engine's [`ManualClock`]: it stands still while runs go on
//! and moves only to the next due timer when the script waits for an
//! instance, so history times (`at=+ms`, `due=+ms`, from the clock's start)
//! are exact and a one-hour timeout takes no time. Call durations are the
//! process's own and are left out.
//! Set `SWIRL_BLESS=1` to rewrite the `expected.json` files after a change
//! that is meant to change them, and review the diff.
//!
//! Operations, one per list item:
//! - `start: {workflow: ID, input: …}`;
//! - `event: {type, source, id, data, extensions}` delivers a CloudEvent;
//! - `cancel: iN`, `suspend: iN`, `resume: iN`;
//! - `wait: iN` waits until instance `iN` ends, moving the clock from one
//!   due timer to the next.
//!
//! After each operation the script waits until no instance is running.
//!
//! The functions: `double` (`{n}` → `{n: 2n}`), `flaky` (fails with
//! `Flaky` until attempt `until`, default 3, then answers `{attempt}`),
//! `fail` (fails with code `code`, default `Boom`); any other echoes its
//! input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swirl_engine::record::{InstanceRecord, Status};
use swirl_engine::{Engine, IncomingEvent};
use swirl_ports::clock::Clock;
use swirl_ports::invoke::{Call, Failure, Invocation, InvokeError, Invoker, RequestError};
use swirl_ports::memory::{ManualClock, MemoryStore};
use swirl_workflow::KnownFunctions;

struct TraceFunctions;

impl Invoker for TraceFunctions {
    fn invoke(
        &self,
        function: &str,
        _version: Option<&str>,
        call: Call,
    ) -> Result<Invocation, InvokeError> {
        let input: Value = serde_json::from_slice(&call.input).unwrap_or(Value::Null);
        let attempt = call.attempt.max(1);
        let outcome = match function {
            "double" => Ok(json!({ "n": input["n"].as_i64().unwrap_or(0) * 2 })),
            "flaky" if u64::from(attempt) < input["until"].as_u64().unwrap_or(3) => {
                Err(Failure::new("Flaky", format!("attempt {attempt} failed")))
            }
            "flaky" => Ok(json!({ "attempt": attempt })),
            "fail" => Err(Failure::new(
                input["code"].as_str().unwrap_or("Boom"),
                "failed on purpose",
            )),
            _ => Ok(input),
        };
        Ok(Invocation::immediate(
            format!("{function}-{attempt}"),
            "1",
            outcome.map(|output| output.to_string().into_bytes()),
        ))
    }

    fn current_versions(
        &self,
        functions: &mut dyn Iterator<Item = &str>,
    ) -> BTreeMap<String, String> {
        functions
            .map(|name| (name.to_string(), "1".into()))
            .collect()
    }

    fn request(
        &self,
        _workflow: &str,
        protocol: &str,
        _arguments: &Value,
    ) -> Result<Value, RequestError> {
        Err(RequestError::Transport(format!(
            "{protocol} requests are not made in trace fixtures"
        )))
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces")
}

/// Waits until no instance is running (runs go on after their answers),
/// and adds the instances seen for the first time to `known`, the ids in
/// the order the script made them.
async fn settle(engine: &Engine, known: &mut Vec<String>) -> Vec<InstanceRecord> {
    let by = Instant::now() + Duration::from_secs(10);
    loop {
        let records = engine.list(None, None).unwrap();
        if records.iter().all(|r| r.status != Status::Running) {
            let mut new: Vec<_> = records.iter().filter(|r| !known.contains(&r.id)).collect();
            new.sort_by(|a, b| a.start_order().cmp(&b.start_order()));
            known.extend(new.into_iter().map(|r| r.id.clone()));
            return records;
        }
        assert!(Instant::now() < by, "instances still running after 10 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The id of instance `name` (`iN`).
fn instance(known: &[String], name: &str) -> String {
    let n: usize = name
        .trim_start_matches('i')
        .parse()
        .expect("an instance name iN");
    known
        .get(n - 1)
        .unwrap_or_else(|| panic!("no instance {name}"))
        .clone()
}

/// Where the scripts' clock starts: 2027-01-15T08:00:00Z.
const EPOCH_MS: u64 = 1_800_000_000_000;

/// A history entry as one line: its kind, then its fields as `name=value`
/// (times from the clock's start, call durations left out, child instances
/// by their names).
fn history_line(entry: &Value, names: &BTreeMap<String, String>) -> String {
    let since =
        |value: &Value| format!("+{}", value.as_u64().unwrap_or(0).saturating_sub(EPOCH_MS));
    let mut line = entry["kind"].as_str().unwrap_or("?").to_string();
    if let Some(at) = entry.get("atMs") {
        line.push_str(&format!(" at={}", since(at)));
    }
    for (field, value) in entry.as_object().into_iter().flatten() {
        let value = match (field.as_str(), value) {
            ("kind" | "atMs" | "duration_ms", _) => continue,
            ("due_ms", due) => {
                line.push_str(&format!(" due={}", since(due)));
                continue;
            }
            ("child", Value::String(text)) => names.get(text).cloned().unwrap_or_default(),
            (_, Value::String(text)) => text.clone(),
            (_, other) => other.to_string(),
        };
        line.push_str(&format!(" {field}={value}"));
    }
    line
}

/// Waits until instance `id` ends, moving `clock` to each due timer in turn
/// and waiting for that timer to fire.
async fn wait_for_end(engine: &Engine, clock: &ManualClock, id: &str, known: &mut Vec<String>) {
    let by = Instant::now() + Duration::from_secs(10);
    loop {
        let records = settle(engine, known).await;
        let record = records
            .iter()
            .find(|r| r.id == id)
            .expect("a known instance");
        if record.status.is_final() {
            return;
        }
        let next = records
            .iter()
            .filter(|r| !r.status.is_final())
            .flat_map(|r| {
                r.timers
                    .iter()
                    .map(move |(timer, t)| (t.due_ms, r.id.clone(), *timer))
            })
            .min();
        let Some((due_ms, holder, timer)) = next else {
            panic!("{id} waits for nothing the script gives: {record:#?}");
        };
        clock.advance(Duration::from_millis(due_ms.saturating_sub(clock.now_ms())));
        // The timer is gone from its record once its run committed.
        while engine
            .get(&holder)
            .is_ok_and(|r| r.timers.contains_key(&timer))
        {
            assert!(Instant::now() < by, "{id} did not end in 10 s: {record:#?}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

async fn run(dir: &Path) -> Value {
    let clock = ManualClock::at(EPOCH_MS);
    let store = MemoryStore::new();
    let engine = Engine::with_clock(
        Arc::new(store.clone()),
        Arc::new(TraceFunctions),
        Arc::new(clock.clone()),
        Default::default(),
    )
    .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files
        .iter()
        .filter(|f| f.to_string_lossy().contains(".workflow."))
    {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        engine
            .register(&text, Some(&name), KnownFunctions::Unchecked)
            .unwrap_or_else(|d| panic!("{}: {d}", file.display()));
    }
    let script = std::fs::read_to_string(dir.join("script.yaml")).unwrap();
    let script = swirl_workflow::source::parse_yaml(&script)
        .unwrap()
        .to_value();
    let script = script.as_array().expect("a script is a list of operations");
    let mut deliveries = Vec::new();
    let mut known = Vec::new();
    for (n, op) in script.iter().enumerate() {
        let (kind, arg) = op
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("an operation");
        settle(&engine, &mut known).await;
        let instance = |arg: &Value| instance(&known, arg.as_str().expect("an instance name"));
        match kind.as_str() {
            "start" => {
                let workflow = arg["workflow"].as_str().expect("start.workflow");
                let input = arg.get("input").cloned().unwrap_or(json!({}));
                engine.start(workflow, input, None).await.unwrap();
            }
            "event" => {
                let extensions = arg["extensions"]
                    .as_object()
                    .map(|e| {
                        e.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let event = IncomingEvent {
                    id: arg["id"]
                        .as_str()
                        .map_or_else(|| format!("e{n}"), str::to_string),
                    event_type: arg["type"].as_str().expect("event.type").into(),
                    source: arg["source"].as_str().expect("event.source").into(),
                    data: arg.get("data").cloned().unwrap_or(Value::Null),
                    extensions,
                    attributes: Default::default(),
                };
                let delivery = engine.deliver(&event).await.unwrap();
                deliveries.push((n, delivery));
            }
            "cancel" => drop(engine.cancel(&instance(arg)).await),
            "suspend" => drop(engine.suspend(&instance(arg)).await),
            "resume" => drop(engine.resume(&instance(arg)).await),
            "wait" => {
                let id = instance(arg);
                wait_for_end(&engine, &clock, &id, &mut known).await;
            }
            other => panic!("{}: unknown operation '{other}'", dir.display()),
        }
    }
    let mut records = settle(&engine, &mut known).await;
    records.sort_by_key(|r| known.iter().position(|id| *id == r.id));
    let mut subscribed: Vec<_> = records.iter().flat_map(|r| r.subscription_keys()).collect();
    subscribed.sort();
    assert_eq!(
        store.subscription_index(),
        subscribed,
        "{}: the event index is not the records' subscriptions",
        dir.display()
    );
    let names: BTreeMap<String, String> = known
        .iter()
        .enumerate()
        .map(|(n, id)| (id.clone(), format!("i{}", n + 1)))
        .collect();
    let name = |id: &String| names.get(id).cloned().unwrap_or_else(|| id.clone());
    let instances: Vec<Value> = records
        .iter()
        .map(|record| {
            let violations = record.invariant_violations();
            assert!(violations.is_empty(), "{}: {violations:?}", dir.display());
            let history = engine.history(&record.id).unwrap();
            let history: Vec<String> = history
                .iter()
                .map(|entry| history_line(&serde_json::to_value(entry).unwrap(), &names))
                .collect();
            json!({
                "name": name(&record.id),
                "workflow": record.workflow_id,
                "status": record.status,
                "output": record.output,
                "error": record.error,
                "history": history,
            })
        })
        .collect();
    let deliveries: Vec<Value> = deliveries
        .into_iter()
        .map(|(n, d)| {
            json!({
                "operation": n + 1,
                "started": d.started.iter().map(name).collect::<Vec<_>>(),
                "delivered": d.delivered.iter().map(name).collect::<Vec<_>>(),
                "duplicate": d.duplicate,
                "buffered": d.buffered,
            })
        })
        .collect();
    json!({ "instances": instances, "deliveries": deliveries })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_trace_fixture_runs_as_written_down() {
    let bless = std::env::var_os("SWIRL_BLESS").is_some();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no fixtures in {}", fixtures().display());
    let mut differ = Vec::new();
    for dir in &dirs {
        let trace = run(dir).await;
        let text = serde_json::to_string_pretty(&trace).unwrap() + "\n";
        let expected = dir.join("expected.json");
        if bless {
            std::fs::write(&expected, &text).unwrap();
        } else if std::fs::read_to_string(&expected).ok().as_deref() != Some(text.as_str()) {
            eprintln!("{} differs; it is now:\n{text}", expected.display());
            differ.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(
        differ.is_empty(),
        "traces that differ (SWIRL_BLESS=1 rewrites them): {differ:?}"
    );
}
