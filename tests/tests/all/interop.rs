//! The official CloudEvents SDKs against a real `swirl serve`, both ways:
//! PyPI `cloudevents` (its current `cloudevents.core` API and its older
//! `cloudevents.v1.http` one) and npm `cloudevents`, pinned and installed by
//! `tests/interop/install.sh` (which `.ci/run` runs).
//!
//! ```text
//!  sdk_python.py send ─┐                                  ┌─▶ sdk_python.py receive (from_http, both APIs)
//!  sdk_js.js send ─────┼─▶ swirl serve ─▶ workflow ─▶ sinks ┤   binary and structured sinks
//!  probe's emit ───────┘    (instances checked here)       └─▶ sdk_js.js receive (HTTP.toEvent)
//! ```
//!
//! Every value of `tests/interop/cases.json` travels as the `value`
//! extension (the workflow's correlation token, so it shows on the instance),
//! the subject and the data, in binary, structured and batch mode (where the
//! SDK has it), CloudEvents 1.0 and 0.3, with a type and source that are not
//! plain ASCII either (the workflow starts only if they arrive whole). The workflow produces one event per
//! instance, with the correlation value as its extension; a probe function
//! emits one per case with a subject. Each receiver reads them with its SDK
//! and reports what it read, which is checked value by value here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use swirl_tests::workspace_root;

use crate::server::util::{Server, app_with};

const INSTALL: &str = "tests/interop/install.sh";
/// The source of the workflow's produced events: not plain ASCII, so that
/// the sinks' encoding shows.
const OUT_SOURCE: &str = "/swirl/interop/caf\u{e9} 10% \"q\"";

fn interop_dir() -> PathBuf {
    workspace_root().join("tests/interop")
}

/// The SDKs' interpreters, or a failure that says how to install them.
fn sdks() -> (PathBuf, PathBuf) {
    let python = interop_dir().join(".venv/bin/python");
    let sdk_js = interop_dir().join("js/node_modules/cloudevents/package.json");
    let python_ok = Command::new(&python)
        .args(["-c", "import cloudevents.core, cloudevents.v1.http"])
        .status()
        .is_ok_and(|status| status.success());
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        python_ok && node_ok && sdk_js.exists(),
        "the CloudEvents SDKs for the interop test are not installed; run {INSTALL} \
         (it needs python3 and npm, and reaches PyPI and npm) and test again"
    );
    (python, PathBuf::from("node"))
}

/// An SDK script serving as a sink: the JSON lines it printed.
struct Receiver {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start(program: &Path, script: &Path) -> Receiver {
        let mut child = Command::new(program)
            .arg(script)
            .arg("receive")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", script.display()));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read the port");
        let port = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("{} did not start: {first:?}", script.display()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line).unwrap_or(json!({ "error": line }));
                sink.lock().unwrap().push(value);
            }
        });
        Receiver { child, port, lines }
    }

    fn received(&self, path: &str) -> Vec<Value> {
        let lines = self.lines.lock().unwrap();
        if let Some(error) = lines.iter().find(|line| line.get("error").is_some()) {
            panic!("a receiver could not read swirl's event: {error}");
        }
        lines
            .iter()
            .filter(|line| line["path"] == path)
            .cloned()
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sink and what its SDK API makes of binary mode.
struct Sink {
    path: &'static str,
    mode: &'static str,
    /// Whether it percent-decodes header values (the older APIs do not:
    /// their users decode).
    decodes: bool,
}

const SINKS: [Sink; 6] = [
    Sink {
        path: "/py-core/binary",
        mode: "binary",
        decodes: true,
    },
    Sink {
        path: "/py-core/structured",
        mode: "structured",
        decodes: true,
    },
    Sink {
        path: "/py-v1/binary",
        mode: "binary",
        decodes: false,
    },
    Sink {
        path: "/py-v1/structured",
        mode: "structured",
        decodes: true,
    },
    Sink {
        path: "/js/binary",
        mode: "binary",
        decodes: false,
    },
    Sink {
        path: "/js/structured",
        mode: "structured",
        decodes: true,
    },
];

/// `tests/interop/cases.json`: the events' type and sources, and the cases.
fn config() -> Value {
    let text = std::fs::read_to_string(interop_dir().join("cases.json")).expect("cases.json");
    serde_json::from_str(&text).expect("cases.json is json")
}

/// Started by the SDKs' events, whose type and source (not plain ASCII, but
/// for npm's URI-reference source) must arrive whole to match; ends with an
/// event to the sinks.
fn workflow(config: &Value) -> Value {
    let event_type = &config["type"];
    json!({ "id": "interop", "version": "1.0", "name": "interop",
        "events": [
            { "name": "In", "type": event_type, "source": config["source"], "correlationToken": "value" },
            { "name": "InUri", "type": event_type, "source": config["uriSource"], "correlationToken": "value" },
            { "name": "Out", "type": "interop.out", "source": OUT_SOURCE }
        ],
        "states": [{ "name": "Take", "type": "EVENT", "start": { "kind": "DEFAULT" }, "exclusive": true,
            "eventsActions": [{ "eventRefs": ["In", "InUri"], "actions": [] }],
            "end": { "kind": "EVENT", "produceEvent": { "nameRef": "Out", "data": "$" } } }] })
}

/// The cases by name: (value, what the value means when sent raw in a header).
fn cases(config: &Value) -> BTreeMap<String, (String, String)> {
    config["cases"]
        .as_array()
        .expect("a list of cases")
        .iter()
        .map(|case| {
            let value = case["value"].as_str().expect("a value").to_string();
            let raw = case["raw"].as_str().map_or(value.clone(), str::to_string);
            (
                case["name"].as_str().expect("a name").to_string(),
                (value, raw),
            )
        })
        .collect()
}

/// Runs an SDK's sender against the server: one JSON line per event sent.
fn send(program: &Path, script: &Path, server: &Server) -> Vec<Value> {
    let output = Command::new(program)
        .arg(script)
        .args(["send", &server.url()])
        .arg(interop_dir().join("cases.json"))
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a json line"))
        .collect()
}

/// What identifies one event an SDK sent: sdk, spec, mode, case.
fn sent_key(value: &Value) -> (String, String, String, String) {
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
    (text("sdk"), text("spec"), text("mode"), text("case"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_sdks_send_to_swirl_and_read_what_it_sends() {
    let (python, node) = sdks();
    let py_script = interop_dir().join("sdk_python.py");
    let js_script = interop_dir().join("js/sdk_js.js");
    let py = Receiver::start(&python, &py_script);
    let js = Receiver::start(&node, &js_script);
    let sinks: String = SINKS
        .iter()
        .map(|sink| {
            let port = if sink.path.starts_with("/js") { js.port } else { py.port };
            format!(
                "\n[[sinks]]\nurl = \"http://127.0.0.1:{port}{}\"\ntype = \"interop.out\"\nmode = \"{}\"\n",
                sink.path, sink.mode
            )
        })
        .collect();
    let config = config();
    let app = app_with(vec![("interop.json", workflow(&config))], &sinks);
    let server = Server::start(&app, &[], &[]);
    let cases = cases(&config);

    // The SDKs send; swirl takes every event and starts one instance each.
    let mut sent = send(&python, &py_script, &server);
    sent.extend(send(&node, &js_script, &server));
    let mut raw = BTreeMap::new();
    let mut started = BTreeSet::new();
    for line in &sent {
        assert_eq!(line["status"], 202, "swirl refused an event: {line}");
        raw.insert(sent_key(line), line["raw"] == true);
        for id in line["answer"]["started"].as_array().expect("started") {
            started.insert(id.as_str().expect("an id").to_string());
        }
    }
    assert_eq!(raw.len(), sent.len(), "each event is sent once");
    assert_eq!(started.len(), sent.len(), "one instance per event");

    // What reached each workflow instance, value by value.
    let mut expected_values = BTreeMap::new();
    for id in &started {
        let instance = server.wait_status(id, "completed").await;
        // The event's data, merged into the instance's (empty) state data.
        let data = &instance["output"];
        let key = sent_key(data);
        let is_raw = *raw
            .get(&key)
            .unwrap_or_else(|| panic!("an instance no sender reported: {instance}"));
        let (value, raw_value) = &cases[&key.3];
        assert_eq!(data["value"], json!(value), "the data of {key:?}");
        let header_value = if is_raw { raw_value } else { value };
        assert_eq!(
            instance["correlation"],
            json!({ "value": header_value }),
            "the 'value' extension of {key:?}"
        );
        expected_values.insert(key, header_value.clone());
    }

    // A function emits one event per case, with a subject.
    for (name, (value, _)) in &cases {
        let mut emit = json!({ "action": "emit", "event_type": "interop.out", "source": OUT_SOURCE,
            "data": { "sdk": "probe", "case": name, "value": value },
            "extensions": [["value", value]] });
        if !value.is_empty() {
            emit["subject"] = json!(value);
        }
        let answer = server.post_json("/functions/probe/invoke", emit).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        expected_values.insert(
            ("probe".into(), String::new(), String::new(), name.clone()),
            value.clone(),
        );
    }

    // Every sink's SDK reads back what was sent.
    for sink in &SINKS {
        let path = sink.path;
        let receiver = if path.starts_with("/js") { &js } else { &py };
        let mut received = Vec::new();
        for _ in 0..600 {
            received = receiver.received(path);
            if received.len() >= expected_values.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            received.len(),
            expected_values.len(),
            "{path} got {} of the events:\n{}",
            received.len(),
            server.log()
        );
        // An SDK API that does not decode headers shows the encoded form,
        // which percent-decoding (as its user must do) turns back.
        let read = |line: &Value, name: &str| -> Option<String> {
            let text = line["attributes"][name].as_str()?.to_string();
            if sink.mode == "binary" && !sink.decodes {
                assert!(
                    text.bytes().all(|byte| (0x21..0x7f).contains(&byte)),
                    "{path}: '{name}' is not percent-encoded: {text:?}"
                );
                return Some(percent_decode(&text));
            }
            Some(text)
        };
        for line in &received {
            let key = sent_key(&line["data"]);
            let expected = &expected_values[&key];
            let context = format!("{path}, {key:?}");
            assert_eq!(
                read(line, "type").as_deref(),
                Some("interop.out"),
                "{context}"
            );
            assert_eq!(
                read(line, "source").as_deref(),
                Some(OUT_SOURCE),
                "{context}"
            );
            assert_eq!(read(line, "value").as_ref(), Some(expected), "{context}");
            assert_eq!(line["data"]["value"], json!(cases[&key.3].0), "{context}");
            if key.0 == "probe" && !expected.is_empty() {
                assert_eq!(read(line, "subject").as_ref(), Some(expected), "{context}");
            }
        }
    }
}

/// Plain percent-decoding, as `decodeURIComponent` or Python's `unquote` do.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).expect("utf-8 once decoded")
}
