//! Data-driven tests over `tests/fixtures/workflows/`: the spec's examples, the draft's
//! examples, round trips, and the corpus of invalid definitions.
//!
//! Set `SWIRL_BLESS=1` to rewrite the `expected.json` files of the invalid
//! corpus from the current output (then review the diff).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use swirl_workflow::model::{Exit, StateKind};
use swirl_workflow::{self as workflow, Dialect, KnownFunctions, Loaded};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/workflows")
        .join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

fn load(path: &Path) -> Result<Loaded, workflow::Diagnostics> {
    workflow::load_file(path, KnownFunctions::Unchecked)
}

fn round_trip(loaded: &Loaded) {
    let text = serde_json::to_string_pretty(&workflow::to_json(&loaded.definition)).unwrap();
    let again = workflow::parse(&text, None, KnownFunctions::Unchecked)
        .unwrap_or_else(|d| panic!("{} does not reload:\n{d}\n{text}", loaded.definition.id));
    assert_eq!(
        again.definition, loaded.definition,
        "round trip changed {}",
        loaded.definition.id
    );
    assert_eq!(again.dialect, Dialect::V01);
}

#[test]
fn spec_examples_parse_or_refuse_spel_precisely() {
    let mut parsed = 0;
    for path in files("spec-examples") {
        let text = std::fs::read_to_string(&path).unwrap();
        let spel_count = text.matches("spel").count();
        match load(&path) {
            Ok(loaded) => {
                assert_eq!(spel_count, 0, "{} uses spel but loaded", path.display());
                assert_eq!(loaded.dialect, Dialect::V01);
                round_trip(&loaded);
                parsed += 1;
            }
            Err(diagnostics) => {
                assert!(spel_count > 0, "{} failed:\n{diagnostics}", path.display());
                assert_eq!(
                    diagnostics.0.len(),
                    spel_count,
                    "{}:\n{diagnostics}",
                    path.display()
                );
                for d in &diagnostics.0 {
                    assert!(d.pointer.ends_with("/expression/language"), "{d}");
                    assert_eq!(
                        d.message,
                        "expression language 'spel' is not supported; swirl evaluates 'jsonpath' only, so rewrite this expression as an RFC 9535 filter such as \"@.error.name == 'FunctionExecutionError'\""
                    );
                }
            }
        }
    }
    assert_eq!(parsed, 22);
}

#[test]
fn spel_refusals_point_at_each_expression() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/workflows/spec-examples/provision-orders.json");
    let diagnostics = load(&path).unwrap_err();
    let places: Vec<(String, usize, usize)> = diagnostics
        .0
        .iter()
        .map(|d| (d.pointer.clone(), d.line, d.column))
        .collect();
    assert_eq!(
        places,
        vec![
            ("/states/0/onError/0/expression/language".to_owned(), 33, 25),
            ("/states/0/onError/1/expression/language".to_owned(), 42, 24),
            ("/states/0/onError/2/expression/language".to_owned(), 51, 23),
        ]
    );
}

#[test]
fn jsonpath_rewrites_of_spel_examples_load() {
    let paths = files("spec-examples-jsonpath");
    assert_eq!(paths.len(), 4);
    for path in paths {
        let loaded = load(&path).unwrap_or_else(|d| panic!("{}:\n{d}", path.display()));
        round_trip(&loaded);
    }
}

#[test]
fn json_and_yaml_variants_give_the_same_model() {
    for dir in ["spec-examples", "spec-examples-jsonpath"] {
        for path in files(dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            let (Ok(json), Ok(yaml)) = (load(&path), load(&path.with_extension("yaml"))) else {
                continue;
            };
            assert_eq!(json.definition, yaml.definition, "{}", path.display());
        }
    }
}

#[test]
fn draft_examples_load_and_round_trip() {
    for path in files("draft-examples") {
        let loaded = load(&path).unwrap_or_else(|d| panic!("{}:\n{d}", path.display()));
        assert_eq!(loaded.dialect, Dialect::Draft, "{}", path.display());
        round_trip(&loaded);
    }
}

#[test]
fn draft_hello_world_chain() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/workflows/draft-examples/hello-world.json");
    let loaded = load(&path).unwrap();
    let definition = &loaded.definition;
    assert_eq!(definition.id, "hello-world");
    let names: Vec<&str> = definition.states.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["HelloWorld", "UpdateArg", "SaveResult", "STATE-END"]
    );
    let next = |i: usize| match definition.states[i].exit() {
        Some(Exit::Transition(t)) => t.next_state.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (next(0), next(1), next(2)),
        ("UpdateArg".into(), "SaveResult".into(), "STATE-END".into())
    );
    assert!(
        matches!(&definition.states[3].kind, StateKind::Relay(r) if matches!(r.exit, Exit::End(_)))
    );
    let functions: Vec<&str> = definition
        .functions
        .iter()
        .map(|f| f.resource.as_str())
        .collect();
    assert_eq!(functions, ["hello", "save_result"]);
    let filter = definition.states[1].state_data_filter.as_ref().unwrap();
    let mut data = serde_json::json!({"payload": "Hello"});
    let input = filter
        .data_input_path
        .as_ref()
        .unwrap()
        .select_value(&data)
        .unwrap()
        .unwrap();
    filter
        .result_path
        .as_ref()
        .unwrap()
        .write(&mut data, input)
        .unwrap();
    let output = filter
        .data_output_path
        .as_ref()
        .unwrap()
        .select_value(&data)
        .unwrap()
        .unwrap();
    assert_eq!(output, serde_json::json!({"value1": "Hello"}));
    let manifest: HashSet<String> = ["hello".to_owned(), "save_result".to_owned()].into();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        workflow::parse(
            &text,
            Some("hello-world.json"),
            KnownFunctions::Set(&manifest)
        )
        .is_ok()
    );
}

/// Each folder of `tests/fixtures/workflows/invalid` holds one definition (`workflow.json` or
/// `workflow.yaml`), optionally `manifest.txt` (function names, one a line),
/// and `expected.json`: every diagnostic, with pointer, line, column, message.
#[test]
fn invalid_corpus() {
    let bless = std::env::var_os("SWIRL_BLESS").is_some();
    let mut failures = Vec::new();
    let cases = files("invalid");
    assert!(cases.len() >= 30, "only {} invalid cases", cases.len());
    for case in cases {
        let source = ["workflow.json", "workflow.yaml"]
            .iter()
            .map(|f| case.join(f))
            .find(|p| p.exists())
            .unwrap();
        let manifest: Option<HashSet<String>> = std::fs::read_to_string(case.join("manifest.txt"))
            .ok()
            .map(|t| {
                t.lines()
                    .map(str::to_owned)
                    .filter(|l| !l.is_empty())
                    .collect()
            });
        let known = match &manifest {
            Some(set) => KnownFunctions::Set(set),
            None => KnownFunctions::Unchecked,
        };
        let actual = match workflow::load_file(&source, known) {
            Ok(loaded) => workflow::Diagnostics(loaded.warnings),
            Err(diagnostics) => diagnostics,
        };
        assert!(
            !actual.0.is_empty(),
            "{} produced no diagnostics",
            case.display()
        );
        let actual_json = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        let expected_path = case.join("expected.json");
        if bless {
            std::fs::write(&expected_path, &actual_json).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual_json {
            failures.push(format!(
                "{}:\nexpected {expected}\nactual {actual_json}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A bounded stand-in for the fuzz target: every prefix and a set of byte
/// mutations of every fixture must load or fail cleanly, never panic.
#[test]
fn truncated_and_mutated_fixtures_never_panic() {
    for dir in ["spec-examples", "draft-examples"] {
        for path in files(dir) {
            let bytes = std::fs::read(&path).unwrap();
            for cut in (0..bytes.len()).step_by(7) {
                if let Ok(text) = std::str::from_utf8(&bytes[..cut]) {
                    let _ = workflow::parse(text, Some("x.json"), KnownFunctions::Unchecked);
                }
            }
            for (i, replacement) in [b'{', b'[', b'"', b':', b'-', b'\n', b'$']
                .iter()
                .cycle()
                .take(200)
                .enumerate()
            {
                let mut mutated = bytes.clone();
                let at = (i * 131) % mutated.len();
                mutated[at] = *replacement;
                if let Ok(text) = std::str::from_utf8(&mutated) {
                    let _ = workflow::parse(text, None, KnownFunctions::Unchecked);
                }
            }
        }
    }
}

#[test]
fn diagnostics_serialize_for_tools_and_predicates_check_resources() {
    let text = r#"{"id": "x", "name": "X", "version": "1", "functions": [{"name": "f", "resource": "missing"}],
        "states": [{"name": "A", "type": "OPERATION", "start": {"kind": "DEFAULT"},
                    "actions": [{"functionRef": {"refName": "f"}}], "end": {"kind": "DEFAULT"}}]}"#;
    let known = |name: &str| name == "present";
    let diagnostics = workflow::parse(text, None, KnownFunctions::Predicate(&known)).unwrap_err();
    let json = serde_json::to_value(&diagnostics).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "severity": "error",
            "pointer": "/functions/0/resource",
            "line": 1,
            "column": 82,
            "message": "function resource 'missing' is not a function of the manifest; add it to the manifest or fix the name"
        }])
    );
    let known = |name: &str| name == "missing";
    assert!(workflow::parse(text, None, KnownFunctions::Predicate(&known)).is_ok());
}
