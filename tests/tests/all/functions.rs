//! The function host through the library: limits, pools, scaling and kv,
//! with real components and real sled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swirl_function::{
    Call, ComponentBytes, FunctionHost, FunctionLimits, FunctionSpec, HostConfig, InstanceMode,
    Invocation,
};
use swirl_store::Store;
use swirl_tests::guest;

struct Host {
    host: FunctionHost,
    _dir: tempfile::TempDir,
}

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let host = FunctionHost::new(
        HostConfig::new(swirl_tests::shared_code_cache()),
        Arc::new(store),
    )
    .unwrap();
    Host { host, _dir: dir }
}

fn probe_spec(name: &str, limits: FunctionLimits) -> FunctionSpec {
    let source = guest("probe");
    FunctionSpec {
        name: name.to_string(),
        wasm: std::fs::read(&source).unwrap().into(),
        source_stamp: None,
        content_hash: None,
        source,
        limits,
        config: BTreeMap::from([("COLOR".to_string(), "teal".to_string())]),
    }
}

impl Host {
    fn with_probe(limits: FunctionLimits) -> Self {
        let host = host();
        host.host.deploy(probe_spec("probe", limits)).unwrap();
        host
    }

    fn call(&self, input: Value) -> Invocation {
        self.host
            .invoke("probe", Call::new(input.to_string()))
            .unwrap()
    }

    fn ok(&self, input: Value) -> Value {
        let invocation = self.call(input.clone());
        let output = invocation
            .outcome
            .unwrap_or_else(|failure| panic!("{input} failed: {failure}"));
        serde_json::from_slice(&output).unwrap()
    }

    fn failure(&self, input: Value) -> (String, String) {
        let failure = self
            .call(input.clone())
            .outcome
            .expect_err("the call should fail");
        (failure.code, failure.message)
    }
}

fn limits() -> FunctionLimits {
    FunctionLimits {
        timeout: Duration::from_secs(2),
        ..FunctionLimits::default()
    }
}

#[test]
fn a_call_returns_output_and_sees_its_context() {
    let host = Host::with_probe(limits());
    let output = host.ok(json!({"action": "echo", "value": {"x": 1}}));
    assert_eq!(output["value"], json!({"x": 1}));
    assert_eq!(output["function"], "probe");
    assert_eq!(output["attempt"], 1);
    assert_eq!(output["version"].as_str().unwrap().len(), 12);
    let deadline = output["deadlineMs"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        deadline > now && deadline <= now + 2_000,
        "deadline {deadline}, now {now}"
    );
}

#[test]
fn a_failure_keeps_its_code_message_and_details() {
    let host = Host::with_probe(limits());
    let failure = host
        .call(json!({"action": "fail", "code": "OutOfStock", "message": "no more widgets"}))
        .outcome
        .unwrap_err();
    assert_eq!(failure.code, "OutOfStock");
    assert_eq!(failure.message, "no more widgets");
    assert_eq!(failure.details, Some(json!({"calls": 1})));
}

#[test]
fn input_that_does_not_fit_is_an_invalid_parameter_naming_the_field() {
    let host = host();
    let source = guest("greet");
    host.host
        .deploy(FunctionSpec {
            name: "greet".into(),
            wasm: std::fs::read(&source).unwrap().into(),
            source_stamp: None,
            content_hash: None,
            source,
            limits: limits(),
            config: BTreeMap::new(),
        })
        .unwrap();
    let failure = |input: &str| {
        host.host
            .invoke("greet", Call::new(input))
            .unwrap()
            .outcome
            .unwrap_err()
    };
    let wrong_type = failure(r#"{"name": 42}"#);
    assert_eq!(wrong_type.code, "SYS.InvalidParameter");
    assert!(
        wrong_type
            .message
            .starts_with("invalid input at 'name': invalid type: integer `42`"),
        "{}",
        wrong_type.message
    );
    let missing = failure("{}");
    assert_eq!(missing.code, "SYS.InvalidParameter");
    assert!(
        missing.message.contains("missing field `name`"),
        "{}",
        missing.message
    );
}

#[test]
fn a_trap_fails_with_the_panic_message_and_the_instance_is_replaced() {
    let host = Host::with_probe(limits());
    assert_eq!(host.ok(json!({"action": "count"})), 1);
    let (code, message) = host.failure(json!({"action": "trap"}));
    assert_eq!(code, "SYS.Fail");
    assert!(message.contains("trapped"), "{message}");
    assert!(message.contains("probe asked to trap"), "{message}");
    assert!(
        message.contains("panicked at tests/guests/probe/src/lib.rs"),
        "{message}"
    );
    // A fresh instance serves the next call: its counter starts again.
    assert_eq!(host.ok(json!({"action": "count"})), 1);
}

#[test]
fn an_infinite_loop_times_out_and_the_next_call_succeeds() {
    let host = Host::with_probe(FunctionLimits {
        timeout: Duration::from_millis(300),
        ..limits()
    });
    let started = Instant::now();
    let (code, message) = host.failure(json!({"action": "spin"}));
    let elapsed = started.elapsed();
    assert_eq!(code, "SYS.Timeout");
    assert!(message.contains("timed out after 300ms"), "{message}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    // Generous: a loaded 2-core CI machine may not schedule the call's
    // thread for a while; a missing interrupt would never end at all.
    assert!(elapsed < Duration::from_millis(300 + 2_000), "{elapsed:?}");
    assert_eq!(host.ok(json!({"action": "count"})), 1);
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let host = Host::with_probe(FunctionLimits {
        memory: 16 << 20,
        ..limits()
    });
    let (code, message) = host.failure(json!({"action": "allocate-forever"}));
    assert_eq!(code, "SYS.Fail");
    assert!(
        message.contains("memory limit of 16 MiB reached"),
        "{message}"
    );
    assert_eq!(host.ok(json!({"action": "count"})), 1);
}

#[test]
fn a_stack_overflow_fails_the_call_not_the_host() {
    let host = Host::with_probe(limits());
    let (code, message) = host.failure(json!({"action": "recurse"}));
    assert_eq!(code, "SYS.Fail");
    assert!(message.contains("stack overflow"), "{message}");
    assert_eq!(host.ok(json!({"action": "count"})), 1);
}

#[test]
fn reuse_mode_keeps_globals_across_calls_and_fresh_mode_does_not() {
    let reuse = Host::with_probe(limits());
    let counts: Vec<Value> = (0..3)
        .map(|_| reuse.ok(json!({"action": "count"})))
        .collect();
    assert_eq!(counts, [1, 2, 3]);
    let stats = reuse.host.stats("probe").unwrap();
    assert_eq!((stats.cold_starts, stats.warm_starts), (1, 2));

    let fresh = Host::with_probe(FunctionLimits {
        instance_mode: InstanceMode::Fresh,
        ..limits()
    });
    let counts: Vec<Value> = (0..3)
        .map(|_| fresh.ok(json!({"action": "count"})))
        .collect();
    assert_eq!(counts, [1, 1, 1]);
    assert_eq!(fresh.host.stats("probe").unwrap().live_instances, 0);
}

#[test]
fn max_instances_is_never_exceeded_and_extra_calls_wait() {
    let host = Arc::new(Host::with_probe(FunctionLimits {
        max_instances: 2,
        ..limits()
    }));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (host, done) = (host.clone(), done.clone());
        thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(host.host.stats("probe").unwrap().live_instances);
                thread::sleep(Duration::from_millis(2));
            }
            most
        })
    };
    let started = Instant::now();
    let callers: Vec<_> = (0..6)
        .map(|_| {
            let host = host.clone();
            thread::spawn(move || host.ok(json!({"action": "sleep", "millis": 100})))
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(sampler.join().unwrap(), 2);
    // Six 100 ms calls two at a time take at least three rounds.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert_eq!(host.host.stats("probe").unwrap().cold_starts, 2);
}

#[test]
fn a_full_queue_fails_with_busy() {
    let host = Arc::new(Host::with_probe(FunctionLimits {
        max_instances: 1,
        max_queue: 0,
        ..limits()
    }));
    let sleeper = {
        let host = host.clone();
        thread::spawn(move || host.ok(json!({"action": "sleep", "millis": 300})))
    };
    thread::sleep(Duration::from_millis(100));
    let (code, message) = host.failure(json!({"action": "count"}));
    assert_eq!(code, "SYS.Busy");
    assert!(message.contains("max-instances"), "{message}");
    sleeper.join().unwrap();
    assert_eq!(host.host.stats("probe").unwrap().busy, 1);
}

#[test]
fn a_burst_that_exhausts_one_function_leaves_another_at_its_latency() {
    let host = host();
    let busy_limits = FunctionLimits {
        max_instances: 2,
        max_queue: 2,
        ..limits()
    };
    host.host.deploy(probe_spec("slow", busy_limits)).unwrap();
    host.host.deploy(probe_spec("fast", limits())).unwrap();
    let host = Arc::new(host);
    let call = |host: &Host, name: &str, input: Value| {
        host.host
            .invoke(name, Call::new(input.to_string()))
            .unwrap()
            .outcome
            .map_err(|failure| failure.code)
    };
    call(&host, "fast", json!({"action": "add", "a": 1, "b": 1})).unwrap();
    let burst: Vec<_> = (0..30)
        .map(|_| {
            let host = host.clone();
            thread::spawn(move || call(&host, "slow", json!({"action": "sleep", "millis": 300})))
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    let mut worst = Duration::ZERO;
    for _ in 0..50 {
        let started = Instant::now();
        call(&host, "fast", json!({"action": "add", "a": 1, "b": 1})).unwrap();
        worst = worst.max(started.elapsed());
    }
    let outcomes: Vec<_> = burst.into_iter().map(|b| b.join().unwrap()).collect();
    let busy = outcomes
        .iter()
        .filter(|outcome| outcome.as_ref().err().map(String::as_str) == Some("SYS.Busy"))
        .count();
    // Two run, two queue; the rest are refused at once.
    assert!(busy >= 20, "{outcomes:?}");
    assert!(
        outcomes.iter().filter(|o| o.is_ok()).count() >= 4,
        "{outcomes:?}"
    );
    // A generous bound for a loaded machine: a call takes well under 1 ms alone.
    assert!(worst < Duration::from_millis(200), "{worst:?}");
}

#[test]
fn an_idle_pool_scales_to_zero_and_min_instances_stay_warm() {
    let host = Host::with_probe(FunctionLimits {
        idle_timeout: Duration::from_millis(100),
        ..limits()
    });
    host.ok(json!({"action": "count"}));
    assert_eq!(host.host.stats("probe").unwrap().live_instances, 1);
    thread::sleep(Duration::from_millis(400));
    assert_eq!(host.host.stats("probe").unwrap().live_instances, 0);

    let warm = Host::with_probe(FunctionLimits {
        idle_timeout: Duration::from_millis(100),
        min_instances: 1,
        ..limits()
    });
    assert_eq!(warm.host.stats("probe").unwrap().live_instances, 1);
    warm.ok(json!({"action": "count"}));
    thread::sleep(Duration::from_millis(400));
    let stats = warm.host.stats("probe").unwrap();
    assert_eq!((stats.live_instances, stats.idle_instances), (1, 1));
    assert_eq!(
        stats.warm_starts, 1,
        "the pre-warmed instance served the call"
    );
}

#[test]
fn config_values_reach_the_function() {
    let host = Host::with_probe(limits());
    assert_eq!(host.ok(json!({"action": "config", "key": "COLOR"})), "teal");
    assert_eq!(
        host.ok(json!({"action": "config", "key": "NOPE"})),
        Value::Null
    );
}

#[test]
fn kv_writes_commit_with_a_successful_call_and_vanish_with_a_failed_one() {
    let host = Host::with_probe(limits());
    assert_eq!(host.ok(json!({"action": "kv-increment", "key": "n"})), 1);
    let (code, _) = host.failure(json!({"action": "kv-increment", "key": "n", "then_fail": true}));
    assert_eq!(code, "AfterWrite");
    assert_eq!(host.ok(json!({"action": "kv-increment", "key": "n"})), 2);
    assert_eq!(host.ok(json!({"action": "kv-get", "key": "n"})), "2");
    host.ok(json!({"action": "kv-delete", "key": "n"}));
    assert_eq!(
        host.ok(json!({"action": "kv-get", "key": "n"})),
        Value::Null
    );
}

#[test]
fn stdout_stderr_and_host_logs_become_log_lines_of_the_call() {
    let host = Host::with_probe(limits());
    let invocation = host.call(json!({"action": "log", "message": "hi"}));
    let lines: Vec<String> = invocation
        .logs
        .iter()
        .map(|line| format!("{:?}/{:?}: {}", line.stream, line.level, line.message))
        .collect();
    assert_eq!(
        lines,
        [
            "Host/Info: hi",
            "Stdout/Info: stdout: hi",
            "Stderr/Warn: stderr: hi"
        ]
    );
    // The next call starts with no lines of its own.
    assert!(host.call(json!({"action": "count"})).logs.is_empty());
}

#[test]
fn emitted_events_are_recorded_with_the_call() {
    let host = Host::with_probe(limits());
    let invocation =
        host.call(json!({"action": "emit", "event_type": "order.shipped", "data": {"id": 7}}));
    assert!(invocation.outcome.is_ok());
    assert_eq!(invocation.emitted.len(), 1);
    assert_eq!(invocation.emitted[0].event_type, "order.shipped");
    assert_eq!(
        invocation.emitted[0].data.as_deref(),
        Some(&br#"{"id":7}"#[..])
    );
}

/// Extension names are refused rather than encoded (`emit_rules.rs`); values
/// may be any text without control characters.
#[test]
fn emitted_attributes_are_checked_when_emitted() {
    let host = Host::with_probe(limits());
    let emit = |extensions: Value| {
        json!({"action": "emit", "event_type": "order.shipped", "data": {},
               "subject": "caf\u{e9} 10%", "extensions": extensions})
    };
    let invocation = host.call(emit(json!([["orderid", "say \"hi\" 100%"], ["empty", ""]])));
    assert!(invocation.outcome.is_ok(), "{:?}", invocation.outcome);
    assert_eq!(
        invocation.emitted[0].extensions,
        [
            ("orderid".to_string(), "say \"hi\" 100%".to_string()),
            ("empty".to_string(), String::new())
        ]
    );
    assert_eq!(
        invocation.emitted[0].subject.as_deref(),
        Some("caf\u{e9} 10%")
    );

    for (extensions, message) in [
        (
            json!([["Order_Id", "1"]]),
            "refused: extension name 'Order_Id' breaks the CloudEvents naming rules; use only lower-case letters a-z and digits 0-9",
        ),
        (
            json!([["type", "x"]]),
            "refused: extension name 'type' is a context attribute; set the event's own fields instead",
        ),
        (
            json!([["note", "two\nlines"]]),
            "refused: attribute 'note' has control characters, which CloudEvents attribute values must not contain",
        ),
    ] {
        let invocation = host.call(emit(extensions));
        let failure = invocation.outcome.expect_err("emit refused");
        assert_eq!(
            (failure.code.as_str(), failure.message.as_str()),
            ("EmitRefused", message)
        );
        assert!(invocation.emitted.is_empty());
    }
}

#[test]
fn a_log_flood_is_capped_per_call() {
    // 100,000 lines take a while on a loaded machine; the cap, not the
    // time, is what this checks.
    let host = Host::with_probe(FunctionLimits {
        timeout: Duration::from_secs(30),
        ..limits()
    });
    let invocation = host.call(json!({"action": "log-flood", "lines": 100_000}));
    assert!(invocation.outcome.is_ok(), "{:?}", invocation.outcome);
    // MAX_LOG_LINES_PER_CALL.
    assert_eq!(invocation.logs.len(), 1_000);
    // The next call has its own budget.
    let next = host.call(json!({"action": "log", "message": "after"}));
    assert_eq!(next.logs.len(), 3);
}

#[test]
fn emit_in_a_loop_is_refused_after_the_per_call_limit() {
    let host = Host::with_probe(limits());
    let invocation = host.call(json!({"action": "emit-loop", "count": 10_000}));
    let output: Value = serde_json::from_slice(invocation.outcome.as_ref().unwrap()).unwrap();
    // MAX_EMITS_PER_CALL.
    let limit = 100;
    assert_eq!(output["taken"], limit, "{output}");
    assert_eq!(
        output["refusal"],
        format!("refused: a call may emit at most {limit} events")
    );
    assert_eq!(invocation.emitted.len(), limit);
}

#[test]
fn a_100_mb_output_fails_the_call_naming_the_limit() {
    // Making and encoding 100 MB inside the guest takes a few seconds.
    let host = Host::with_probe(FunctionLimits {
        memory: 512 * 1024 * 1024,
        timeout: Duration::from_secs(30),
        ..limits()
    });
    let (code, message) = host.failure(json!({"action": "big-output", "bytes": 100_000_000}));
    assert_eq!(code, "SYS.Fail", "{message}");
    assert_eq!(
        message,
        "output of 100000002 bytes is over the 16777216-byte limit"
    );
    // The host is fine: the next call answers.
    assert_eq!(
        host.ok(json!({"action": "add", "a": 1, "b": 2}))["sum"],
        3.0
    );
}

#[test]
fn opening_a_file_fails_with_permission_naming_it_and_the_root_is_empty() {
    let host = Host::with_probe(limits());
    let denied = |path: &str| {
        (
            "SYS.Permission".to_string(),
            format!("the function tried to open '{path}'; functions have no filesystem access"),
        )
    };
    // Twice each: a reused instance must report the attempt as well as a new one.
    for _ in 0..2 {
        assert_eq!(
            host.failure(json!({"action": "read-file", "path": "/etc/passwd"})),
            denied("/etc/passwd")
        );
        assert_eq!(
            host.failure(json!({"action": "read-file", "path": "data.json"})),
            denied("/data.json")
        );
        // Looking at the root is no attempt: it is there, and empty.
        assert_eq!(host.ok(json!({"action": "list-dir", "path": "/"})), 0);
        assert_eq!(host.ok(json!({"action": "list-dir", "path": "."})), 0);
        let (code, message) = host.failure(json!({"action": "list-dir", "path": "/etc"}));
        assert_eq!(code, "Io", "{message}");
    }
    assert_eq!(
        host.ok(json!({"action": "add", "a": 1, "b": 2}))["sum"],
        3.0
    );
}

#[test]
fn connecting_a_socket_fails_with_permission_even_when_the_guest_panics() {
    let host = Host::with_probe(limits());
    let (code, message) = host.failure(json!({"action": "connect", "address": "127.0.0.1:9"}));
    assert_eq!(code, "SYS.Permission");
    assert_eq!(
        message,
        "the function tried to open a network socket; functions have no network access"
    );
}

#[test]
fn resolving_a_host_name_fails_with_permission() {
    let host = Host::with_probe(limits());
    let (code, message) = host.failure(json!({"action": "connect", "address": "example.com:80"}));
    assert_eq!(code, "SYS.Permission");
    assert_eq!(
        message,
        "the function tried to resolve a host name; functions have no network access"
    );
}

#[test]
fn the_host_environment_is_invisible() {
    let host = Host::with_probe(limits());
    let seen = host.ok(json!({"action": "env", "name": "PATH"}));
    assert_eq!(seen, json!({"value": null, "count": 0}));
}

#[test]
fn a_second_host_on_the_same_data_dir_loads_from_the_code_cache() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = || {
        let store = Store::open(&dir.path().join("data")).unwrap();
        let host =
            FunctionHost::new(HostConfig::new(dir.path().join("cache")), Arc::new(store)).unwrap();
        host.deploy(probe_spec("probe", limits())).unwrap()
    };
    assert!(!deploy().from_cache);
    assert!(deploy().from_cache);
}

/// A restarted server loads a stored version from its content-addressed
/// file: with the code in the cache and the hash known, the bytes after the
/// header are neither hashed nor compiled (here, the file lost its second
/// half and the load still succeeds), and with the cache empty the whole
/// file is read and compiled.
#[test]
fn a_component_in_a_file_is_read_only_when_its_code_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let source = guest("probe");
    let bytes = std::fs::read(&source).unwrap();
    // As a deployment stores it: a file named by its content hash.
    let (hash, stored) = {
        let store = Store::open(&dir.path().join("data")).unwrap();
        let hash = store.put_blob(&bytes).unwrap();
        let stored = store.blob_path(&hash).unwrap();
        (hash, stored)
    };
    let truncated = dir.path().join("truncated.wasm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let deploy = |cache: &str, wasm: ComponentBytes| {
        let store = Store::open(&dir.path().join("data")).unwrap();
        let host =
            FunctionHost::new(HostConfig::new(dir.path().join(cache)), Arc::new(store)).unwrap();
        let spec = FunctionSpec {
            wasm,
            content_hash: Some(hash.clone()),
            ..probe_spec("probe", limits())
        };
        let deployed = host.deploy(spec)?;
        let output = host
            .invoke("probe", Call::new(r#"{"action":"count"}"#))
            .unwrap();
        assert_eq!(output.outcome.unwrap(), b"1");
        Ok::<_, swirl_function::LoadError>(deployed)
    };
    assert!(
        !deploy("cache", ComponentBytes::File(stored))
            .unwrap()
            .from_cache
    );
    assert!(
        deploy("cache", ComponentBytes::File(truncated.clone()))
            .unwrap()
            .from_cache
    );
    let error = deploy("empty", ComponentBytes::File(truncated.clone())).unwrap_err();
    assert!(
        error.to_string().contains("cannot compile the component"),
        "{error}"
    );
    let missing = dir.path().join("missing.wasm");
    let error = deploy("cache", ComponentBytes::File(missing.clone())).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: cannot read the component: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

#[test]
fn a_damaged_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let deploy = || {
        let store = Store::open(&dir.path().join("data")).unwrap();
        let host = FunctionHost::new(HostConfig::new(&cache), Arc::new(store)).unwrap();
        let deployed = host.deploy(probe_spec("probe", limits())).unwrap();
        let output = host
            .invoke("probe", Call::new(r#"{"action":"count"}"#))
            .unwrap();
        assert_eq!(output.outcome.unwrap(), b"1");
        deployed
    };
    deploy();
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        // The empty directory that functions see as their root.
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    }
    assert!(!deploy().from_cache, "a truncated entry must not load");
    assert!(deploy().from_cache, "the recompiled entry replaced it");
}

#[test]
fn components_of_another_world_and_core_modules_are_refused() {
    let host = host();
    let source = guest("wrong-world");
    let error = host
        .host
        .deploy(FunctionSpec {
            name: "other".into(),
            wasm: std::fs::read(&source).unwrap().into(),
            source_stamp: None,
            content_hash: None,
            source,
            limits: limits(),
            config: BTreeMap::new(),
        })
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("does not implement the swirl:function world"),
        "{error}"
    );
    assert!(
        error.contains("does not export the function 'handle' (it exports run)"),
        "{error}"
    );

    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let error = host
        .host
        .deploy(FunctionSpec {
            name: "core".into(),
            wasm: core_module.into(),
            source_stamp: None,
            content_hash: None,
            source: "core.wasm".into(),
            limits: limits(),
            config: BTreeMap::new(),
        })
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("core.wasm: not a WebAssembly component (it is a core module)"),
        "{error}"
    );
}

#[test]
fn an_unknown_function_is_an_error_naming_the_deployed_ones() {
    let host = Host::with_probe(limits());
    let error = host
        .host
        .invoke("nope", Call::new("{}"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "no function named 'nope' is deployed; deployed functions: probe"
    );
}

#[test]
fn a_changed_config_is_a_new_version_and_older_versions_stay_callable() {
    let host = host();
    let mut spec = probe_spec("probe", limits());
    let first = host.host.deploy(spec.clone()).unwrap();
    assert_eq!(
        host.host.deploy(spec.clone()).unwrap().version,
        first.version
    );
    spec.config.insert("COLOR".to_string(), "plum".to_string());
    let second = host.host.deploy(spec).unwrap();
    assert_ne!(second.version, first.version);
    assert_eq!(
        host.host.current_versions(["probe", "absent"].into_iter()),
        BTreeMap::from([("probe".to_string(), second.version.clone())])
    );
    let color = |version: Option<&str>| {
        let input = json!({ "action": "config", "key": "COLOR" }).to_string();
        let invocation = host
            .host
            .invoke_version("probe", version, Call::new(input))
            .unwrap();
        assert_eq!(invocation.version, version.unwrap_or(&second.version));
        serde_json::from_slice::<Value>(&invocation.outcome.unwrap()).unwrap()
    };
    assert_eq!(color(Some(&first.version)), json!("teal"));
    assert_eq!(color(None), json!("plum"));

    // Removed: gone for new work, still there for work that pinned a version.
    assert!(host.host.remove("probe"));
    assert!(host.host.function_names().is_empty());
    assert!(host.host.invoke("probe", Call::new("{}")).is_err());
    assert_eq!(color(Some(&first.version)), json!("teal"));
    let unknown = host
        .host
        .invoke_version("probe", Some("nope"), Call::new("{}"))
        .unwrap_err();
    assert!(unknown.to_string().contains("version nope"), "{unknown}");
}

#[test]
fn a_component_whose_start_code_traps_fails_each_call_and_the_host_serves_others() {
    let host = Host::with_probe(limits());
    let source = guest("start-trap");
    let spec = FunctionSpec {
        name: "start-trap".to_string(),
        wasm: std::fs::read(&source).unwrap().into(),
        source,
        ..probe_spec("start-trap", limits())
    };
    // wasm-ld runs a library's constructors on entry to its first export, so
    // the trap surfaces in the call, not at deploy; each call gets a new
    // instance and traps again rather than reusing a half-started one.
    host.host.deploy(spec).unwrap();
    for _ in 0..2 {
        let failure = host
            .host
            .invoke("start-trap", Call::new("{}".to_string()))
            .unwrap()
            .outcome
            .expect_err("a component that traps at start must fail the call");
        assert_eq!(failure.code, "SYS.Fail");
        assert_eq!(
            failure.message,
            "call trapped: wasm trap: wasm `unreachable` instruction executed"
        );
    }
    assert_eq!(
        host.ok(json!({"action": "add", "a": 1, "b": 2}))["sum"],
        3.0
    );
}

#[test]
fn a_component_over_the_hosts_core_instance_limit_is_a_named_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let config = HostConfig {
        max_core_instances_per_component: 1,
        ..HostConfig::new(dir.path().join("cache"))
    };
    let host = FunctionHost::new(config, Arc::new(store)).unwrap();
    let error = host.deploy(probe_spec("probe", limits())).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, swirl_function::LoadError::OverHostLimits { .. }),
        "{message}"
    );
    assert!(
        message.contains("the component is larger than this host allows")
            && message.contains("core module instances, which exceeds the configured maximum of 1"),
        "{message}"
    );
}
