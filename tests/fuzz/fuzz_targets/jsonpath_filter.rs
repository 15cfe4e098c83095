//! Fuzz target: a JSONPath expression applied to a JSON document.
//!
//! Input format: the first line is the expression, the rest the document
//! (anything that is not JSON becomes `null`, so the expression is still
//! exercised). The expression is compiled the three ways a workflow uses
//! text: as a query ([`JsonPath`]), a filter condition ([`Condition`]) and a
//! result location ([`WritePath`]); each one that compiles is applied.
//!
//! Two properties are checked besides "no crash": a singular query selects at
//! most one node, and a value stored at a write path is what the same path
//! then reads back (a `ResultPath` write followed by a read must agree).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use swirl_workflow::expression::{Condition, JsonPath, WritePath};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (expression, document) = text.split_once('\n').unwrap_or((text, ""));
    let document: Value = serde_json::from_str(document).unwrap_or(Value::Null);

    if let Ok(path) = JsonPath::compile(expression) {
        if let Ok(nodes) = path.select(&document) {
            if path.is_singular() {
                assert!(
                    nodes.len() <= 1,
                    "singular '{expression}' selected {nodes:?}"
                );
            }
        }
        let _ = path.select_value(&document);
        let _ = path.to_write_path();
    }

    if let Ok(condition) = Condition::compile(expression) {
        let _ = condition.eval(&document);
    }

    if let Ok(write_path) = WritePath::compile(expression) {
        let marker = Value::String("swirl-fuzz-marker".to_owned());
        let mut target = document.clone();
        if write_path.write(&mut target, marker.clone()).is_ok() {
            let read = JsonPath::compile(expression)
                .expect("a write path is a query")
                .select_value(&target);
            assert_eq!(
                read,
                Ok(Some(marker)),
                "'{expression}' stored a value that it does not read back from {target}"
            );
        }
    }
});
