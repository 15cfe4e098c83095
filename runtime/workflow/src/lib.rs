//! Workflow definitions: one typed model for the Serverless Workflow language,
//! read from JSON or YAML in either dialect and validated with precise errors.
//!
//! ```text
//!  text ──source──▶ Node tree ──v10 / v01 / draft──▶ model + Facts ──validate──▶ Loaded
//!        (positions,           (types, required      (names, scopes,
//!         limits)               fields, compiled      references,
//!                               paths)                reachability)
//! ```
//!
//! - [`model`]: the vocabulary the engine executes; start here.
//! - [`expression`]: compiled JSONPath queries, conditions and write paths;
//!   [`schema`]: compiled JSON Schemas of 1.0 data.
//! - [`duration`]: ISO 8601 durations, repeating and schedule intervals;
//!   [`cron`]: cron expressions.
//! - [`graph`]: a definition as nodes and edges, and as a Mermaid flowchart.
//! - [`source`]: the position-tracking JSON/YAML reader and its input limits.
//! - [`v10`], [`v01`] and [`draft`]: the dialect readers; [`validate`]: the
//!   cross-reference checks; [`diagnostic`]: what is reported.
//!
//! Nothing here does IO except [`load_file`].

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here, and
// each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cron;
pub mod diagnostic;
pub mod draft;
pub mod duration;
pub mod expression;
pub mod graph;
pub mod model;
mod reader;
pub mod schema;
pub mod source;
pub mod v01;
pub mod v10;
pub mod validate;

use std::collections::HashSet;
use std::path::Path;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use model::WorkflowDefinition;

use diagnostic::Pointer;
use source::{Node, NodeValue};

/// The dialects of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Serverless Workflow 1.0 (`spec/serverless-workflow-1.0`), now the
    /// Open Workflow Specification: a `document` and a `do` list.
    V10,
    /// `spec/serverless-workflow-v0.1`.
    V01,
    /// The handbook's earlier draft (`trigger-defs`, `next-state`, ...).
    Draft,
}

/// A definition that loaded, with the warnings found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub definition: WorkflowDefinition,
    pub dialect: Dialect,
    pub warnings: Vec<Diagnostic>,
}

/// Which functions the manifest defines, for checking `functions[].resource`.
pub enum KnownFunctions<'a> {
    /// Do not check resources (no manifest at hand).
    Unchecked,
    Set(&'a HashSet<String>),
    Predicate(&'a dyn Fn(&str) -> bool),
}

/// Parses and validates a definition from text.
///
/// `file_name` is used for the fallback identity (the file stem) and to pick
/// YAML for `.yaml`/`.yml` files; content starting with `{` is read as JSON.
/// Returns every error and warning at once when there is any error.
pub fn parse(
    text: &str,
    file_name: Option<&str>,
    known_functions: KnownFunctions<'_>,
) -> Result<Loaded, Diagnostics> {
    let root = source::parse_document(text).map_err(|error| {
        let mut diagnostics = Diagnostics::default();
        diagnostics.error(&Pointer::root(), error.position, error.message);
        diagnostics
    })?;
    let stem = file_name
        .and_then(|name| Path::new(name).file_stem())
        .and_then(|s| s.to_str());
    let mut reader = reader::Reader::new();
    if !matches!(root.value, NodeValue::Object(_)) {
        reader.error(
            &Pointer::root(),
            root.position,
            format!(
                "a workflow definition must be an object with 'states', not {}",
                reader::article(&root)
            ),
        );
        return Err(reader.diagnostics);
    }
    let dialect = detect_dialect(&root);
    let definition = match dialect {
        Dialect::V01 => v01::read_definition(&mut reader, &root, stem),
        Dialect::Draft => draft::read_definition(&mut reader, &root, stem),
        Dialect::V10 => v10::read_definition(&mut reader, &root),
    };
    let predicate;
    let known: Option<&dyn Fn(&str) -> bool> = match known_functions {
        KnownFunctions::Unchecked => None,
        KnownFunctions::Set(set) => {
            predicate = move |name: &str| set.contains(name);
            Some(&predicate)
        }
        KnownFunctions::Predicate(f) => Some(f),
    };
    validate::check(&reader.facts, known, &mut reader.diagnostics);
    let mut diagnostics = reader.diagnostics;
    diagnostics.sort();
    match definition {
        Some(definition) if !diagnostics.has_errors() => Ok(Loaded {
            definition,
            dialect,
            warnings: diagnostics.0,
        }),
        _ => Err(diagnostics),
    }
}

/// Reads a file and [`parse`]s it.
pub fn load_file(path: &Path, known_functions: KnownFunctions<'_>) -> Result<Loaded, Diagnostics> {
    let text = read_source(path)?;
    parse(
        &text,
        path.file_name().and_then(|n| n.to_str()),
        known_functions,
    )
}

/// Reads a definition's text, within the size limit; with [`load_file`]
/// the only IO here.
pub fn read_source(path: &Path) -> Result<String, Diagnostics> {
    let fail = |message: String, position: source::Position| {
        let mut diagnostics = Diagnostics::default();
        diagnostics.error(&Pointer::root(), position, message);
        diagnostics
    };
    let start = source::Position { line: 1, column: 1 };
    let metadata = std::fs::metadata(path)
        .map_err(|e| fail(format!("cannot read '{}': {e}", path.display()), start))?;
    if metadata.len() > source::MAX_SOURCE_BYTES as u64 {
        return Err(fail(
            format!(
                "the file is {} bytes, more than the limit of {} bytes for a workflow definition",
                metadata.len(),
                source::MAX_SOURCE_BYTES
            ),
            start,
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| fail(format!("cannot read '{}': {e}", path.display()), start))?;
    source::decode(&bytes)
        .map(str::to_owned)
        .map_err(|e| fail(e.message, e.position))
}

/// Serializes a definition to the v0.1 JSON form.
pub fn to_json(definition: &WorkflowDefinition) -> serde_json::Value {
    serde_json::to_value(definition).unwrap_or(serde_json::Value::Null)
}

/// Keys and values only the draft uses. A document is read as the draft
/// when any appears anywhere in it; v0.1 otherwise.
const DRAFT_KEYS: &[&str] = &[
    "trigger-defs",
    "next-state",
    "action-mode",
    "time-delay",
    "event-expression",
    "correlation-token",
    "max-retry",
    "retry-interval",
    "InputPath",
    "ResultPath",
    "OutputPath",
];

/// Tells the dialect from markers the user wrote, never from a flag: a
/// top-level `document` is 1.0.
pub fn detect_dialect(root: &Node) -> Dialect {
    if root.get("document").is_some() {
        return Dialect::V10;
    }
    fn walk(node: &Node) -> bool {
        match &node.value {
            NodeValue::Object(members) => members.iter().any(|(key, value)| {
                DRAFT_KEYS.contains(&key.name.as_str())
                    || (key.name == "start" && matches!(value.value, NodeValue::Bool(_)))
                    || (key.name == "type"
                        && value
                            .as_str()
                            .is_some_and(|t| t.eq_ignore_ascii_case("END")))
                    || (key.name == "function" && matches!(value.value, NodeValue::String(_)))
                    || walk(value)
            }),
            NodeValue::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    if walk(root) {
        Dialect::Draft
    } else {
        Dialect::V01
    }
}
