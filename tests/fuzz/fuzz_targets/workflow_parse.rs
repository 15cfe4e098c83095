//! Fuzz target: arbitrary bytes read as a workflow definition.
//!
//! The bytes take the path a file takes through `swirl_workflow::load_file`
//! (size and UTF-8 checks, then `parse`), once without a file name and once
//! as `fuzz.yaml`. Any panic, stack overflow or runaway allocation is a bug:
//! a definition reaches the parser from whoever deploys an app.
//!
//! A v0.1 or draft definition that loads must also survive the round trip the
//! issue promises: its v0.1 JSON form reloads to the same model. A 1.0
//! document has no such form: its tasks lower into states (a `set`, a `try`)
//! that v0.1 cannot write.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swirl_workflow::{self as workflow, Dialect, KnownFunctions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = workflow::source::decode(data) else {
        return;
    };
    for file_name in [None, Some("fuzz.yaml")] {
        match workflow::parse(text, file_name, KnownFunctions::Unchecked) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    let _ = warning.to_string();
                }
                if loaded.dialect == Dialect::V10 {
                    continue;
                }
                let json = workflow::to_json(&loaded.definition).to_string();
                match workflow::parse(&json, None, KnownFunctions::Unchecked) {
                    Ok(again) => assert_eq!(
                        again.definition, loaded.definition,
                        "the round trip through {json} changed the definition"
                    ),
                    Err(diagnostics) => {
                        panic!("the JSON form {json} of a valid definition fails:\n{diagnostics}")
                    }
                }
            }
            // Rendering the messages runs code (positions, pointers, hints)
            // that a user sees on every error.
            Err(diagnostics) => {
                let _ = diagnostics.to_string();
            }
        }
    }
});
