//! A test function whose behaviour the test picks through its input: each
//! `action` exercises one part of the host (limits, traps, kv, config, logs).

use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use swirl_guest::{Context, Event, Failure, kv, log};

/// Calls served by this instance; tells reused instances from fresh ones.
static CALLS: AtomicU64 = AtomicU64::new(0);

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
enum Probe {
    /// Returns the input and the context it was called with.
    Echo { value: Value },
    /// Fails with the given code and message.
    Fail { code: String, message: String },
    /// Panics, which traps the instance.
    Trap,
    /// Never returns.
    Spin,
    /// Allocates until the memory limit stops it.
    AllocateForever,
    /// Recurses until the stack overflows.
    Recurse,
    /// Returns how many calls this instance has served.
    Count,
    /// Sleeps `millis`, then returns `{"slept": millis}`.
    Sleep { millis: u64 },
    /// Adds one to the counter stored under `key` and returns the new value;
    /// fails after the write when `then_fail` is set.
    KvIncrement {
        key: String,
        #[serde(default)]
        then_fail: bool,
    },
    /// Reads `key` from kv.
    KvGet { key: String },
    /// Deletes `key` from kv.
    KvDelete { key: String },
    /// Reads a config value.
    Config { key: String },
    /// Writes log lines through the host and through stdout and stderr.
    Log { message: String },
    /// Emits a CloudEvent; `source` "probe" unless given.
    Emit {
        event_type: String,
        data: Value,
        #[serde(default)]
        source: Option<String>,
        #[serde(default)]
        subject: Option<String>,
        /// Extension attributes as name, value pairs, in order.
        #[serde(default)]
        extensions: Vec<(String, String)>,
    },
    /// Tries to read a file, which the sandbox denies.
    ReadFile { path: String },
    /// Tries to list a directory, which the sandbox denies.
    ListDir { path: String },
    /// Tries to open a TCP connection, which the sandbox denies.
    Connect { address: String },
    /// Reads an environment variable; functions have no host environment.
    Env { name: String },
    /// Returns `{"sum": a + b}`.
    Add { a: f64, b: f64 },
    /// Fails with `code` the first `failures` calls for `key` in this instance.
    Flaky {
        key: String,
        failures: u32,
        code: String,
    },
    /// Counts the calls for `key` in kv and returns `{key: count}`: a
    /// workflow action that ran twice shows as 2.
    Tally { key: String },
    /// Writes `lines` log lines through the host and as many to stdout.
    LogFlood { lines: u32 },
    /// Emits up to `count` events; returns how many the host took and its
    /// first refusal.
    EmitLoop { count: u32 },
    /// Returns a string of `bytes` bytes.
    BigOutput { bytes: usize },
}

/// Calls per `flaky` key, in this instance.
static FLAKY: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());

fn probe(input: Probe, ctx: &Context) -> Result<Value, Failure> {
    let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    match input {
        Probe::Echo { value } => Ok(json!({
            "value": value,
            "invocationId": ctx.invocation_id,
            "function": ctx.function_name,
            "version": ctx.function_version,
            "attempt": ctx.attempt,
            "deadlineMs": ctx.deadline_ms,
        })),
        Probe::Fail { code, message } => {
            Err(Failure::new(code, message).with_details(json!({ "calls": calls })))
        }
        Probe::Trap => panic!("probe asked to trap"),
        Probe::Spin => {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        Probe::AllocateForever => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Probe::Recurse => Ok(json!(recurse(std::hint::black_box(1)))),
        Probe::Count => Ok(json!(calls)),
        Probe::Sleep { millis } => {
            std::thread::sleep(std::time::Duration::from_millis(millis));
            Ok(json!({ "slept": millis }))
        }
        Probe::KvIncrement { key, then_fail } => {
            let next = kv::get_json::<u64>(&key).ok().flatten().unwrap_or(0) + 1;
            kv::set_json(&key, &next).map_err(|e| Failure::new("Encode", e.to_string()))?;
            if then_fail {
                return Err(Failure::new("AfterWrite", "failed after writing"));
            }
            Ok(json!(next))
        }
        Probe::KvGet { key } => Ok(kv::get(&key)
            .map(|bytes| json!(String::from_utf8_lossy(&bytes)))
            .unwrap_or(Value::Null)),
        Probe::KvDelete { key } => {
            kv::delete(&key);
            Ok(Value::Null)
        }
        Probe::Config { key } => Ok(json!(swirl_guest::config(&key))),
        Probe::Log { message } => {
            log::info(&message);
            println!("stdout: {message}");
            eprintln!("stderr: {message}");
            Ok(Value::Null)
        }
        Probe::Emit {
            event_type,
            data,
            source,
            subject,
            extensions,
        } => {
            let mut event = Event::new(event_type, source.as_deref().unwrap_or("probe"))
                .data(&data)
                .map_err(|e| Failure::new("Encode", e.to_string()))?;
            if let Some(subject) = subject {
                event = event.subject(subject);
            }
            for (name, value) in extensions {
                event = event.extension(name, value);
            }
            swirl_guest::emit(event).map_err(|e| Failure::new("EmitRefused", e))?;
            Ok(Value::Null)
        }
        Probe::Add { a, b } => Ok(json!({ "sum": a + b })),
        Probe::Flaky {
            key,
            failures,
            code,
        } => {
            let mut seen = FLAKY.lock().unwrap_or_else(|e| e.into_inner());
            let position = seen.iter().position(|(k, _)| *k == key);
            let count = match position {
                Some(index) => {
                    seen[index].1 += 1;
                    seen[index].1
                }
                None => {
                    seen.push((key.clone(), 1));
                    1
                }
            };
            if count <= failures {
                return Err(Failure::new(code, format!("call {count} of '{key}' fails")));
            }
            Ok(json!({ "flaky": key, "calls": count }))
        }
        Probe::Tally { key } => {
            let next = kv::get_json::<u64>(&key).ok().flatten().unwrap_or(0) + 1;
            kv::set_json(&key, &next).map_err(|e| Failure::new("Encode", e.to_string()))?;
            Ok(json!({ key: next }))
        }
        Probe::LogFlood { lines } => {
            for line in 0..lines {
                log::info(&format!("flood {line}"));
                println!("flood {line}");
            }
            Ok(json!({ "lines": lines }))
        }
        Probe::EmitLoop { count } => {
            let mut taken = 0;
            let mut refusal = None;
            for n in 0..count {
                let event = Event::new("flood", "probe")
                    .data(&json!({ "n": n }))
                    .map_err(|e| Failure::new("Encode", e.to_string()))?;
                match swirl_guest::emit(event) {
                    Ok(()) => taken += 1,
                    Err(error) => {
                        refusal.get_or_insert(error);
                    }
                }
            }
            Ok(json!({ "taken": taken, "refusal": refusal }))
        }
        Probe::BigOutput { bytes } => Ok(json!("x".repeat(bytes))),
        Probe::ReadFile { path } => std::fs::read(&path)
            .map(|bytes| json!(bytes.len()))
            .map_err(|e| Failure::new("Io", e.to_string())),
        Probe::ListDir { path } => std::fs::read_dir(&path)
            .map(|entries| json!(entries.count()))
            .map_err(|e| Failure::new("Io", e.to_string())),
        // Panics on the refusal, as careless code does: the host still reports the cause.
        Probe::Connect { address } => {
            let stream = std::net::TcpStream::connect(&address).expect("connect");
            Ok(json!(stream.peer_addr().map(|a| a.to_string()).ok()))
        }
        Probe::Env { name } => Ok(json!({
            "value": std::env::var(&name).ok(),
            "count": std::env::vars().count(),
        })),
    }
}

/// Recursion with small frames that live on the wasm stack (not Rust's shadow
/// stack in linear memory), so it overflows the engine's stack limit.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    recurse(std::hint::black_box(depth + 1)).wrapping_add(depth)
}

swirl_guest::export!(probe);
