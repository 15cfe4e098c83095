//! jq, the expression language of Serverless Workflow 1.0 documents.
//!
//! Every expression is compiled once, when its document loads ([`Jq`]), and
//! evaluated against a task's data with the runtime variables the spec names
//! (`$context`, `$input`, `$output`, `$secrets`, `$task`, `$workflow`,
//! `$runtime`) plus the variables of the enclosing `for` and `catch` tasks.
//! A [`Template`] is a JSON value whose strings may be `${ … }` expressions
//! (a `set` body, a call's `with`, an event's attributes).
//!
//! What an expression may do is narrower than the jq command line: no
//! `env`/`$ENV`, no `input`/`inputs`, no `halt`, no `debug`/`stderr` output,
//! and no `def` (a definition is the only way to recurse without bound, which
//! would overflow the stack of the thread running the instance). A result is
//! at most [`MAX_RESULT_VALUES`] values; larger ones fail the evaluation.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data};
use jaq_json::Val;
use serde::de::Deserialize;
use serde::{Serialize, Serializer};
use serde_json::{Map, Number, Value};

use super::ExpressionError;

/// JSON values (scalars, arrays, objects, counted recursively) one
/// evaluation may produce; a larger result is an `expression` error rather
/// than a copy that could exhaust the server's memory.
pub const MAX_RESULT_VALUES: usize = 1_000_000;

/// How deeply arrays and objects may nest in a result (as in JSON input).
pub const MAX_RESULT_DEPTH: usize = 128;

/// The variables every 1.0 expression may read.
pub const RUNTIME_VARIABLES: [&str; 7] = [
    "$context",
    "$input",
    "$output",
    "$secrets",
    "$task",
    "$workflow",
    "$runtime",
];

/// Native filters an expression may not call: they read the process
/// environment or standard input, stop the process, or write to stderr.
const REFUSED_FILTERS: [&str; 6] = [
    "env",
    "halt",
    "input",
    "inputs",
    "stderr_empty",
    "debug_empty",
];

/// Standard definitions built on the refused filters.
const REFUSED_DEFINITIONS: [&str; 4] = ["stderr", "debug", "halt", "halt_error"];

type Data = data::JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// A compiled jq expression and the variables it reads.
#[derive(Clone)]
pub struct Jq {
    source: String,
    filter: Arc<Filter>,
    /// The `$names` it reads, in the order the compiler bound them.
    variables: Arc<[String]>,
}

/// The values of the variables an expression can read. `$workflow`, `$task`,
/// `$runtime` and `$secrets` are built only for expressions that read them.
#[derive(Debug, Clone, Copy)]
pub struct Bindings<'a> {
    pub context: &'a Value,
    pub input: &'a Value,
    pub output: &'a Value,
    /// `$workflow.id`: the instance's id.
    pub instance_id: &'a str,
    /// `$workflow.definition`: the document as written.
    pub workflow_definition: &'a Value,
    /// `$workflow.startedAt`, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub workflow_input: &'a Value,
    /// The task's name and JSON pointer.
    pub task: (&'a str, &'a str),
    /// `for` and `catch` variables, by name without the `$`.
    pub locals: &'a BTreeMap<String, Value>,
    /// `$secrets`: the workflow's secrets as the engine stands them in
    /// (placeholders the host replaces when it makes a call); none when `None`.
    pub secrets: Option<&'a Map<String, Value>>,
}

static NULL: Value = Value::Null;

impl<'a> Bindings<'a> {
    /// Every variable null or empty, `locals` aside.
    pub fn empty(locals: &'a BTreeMap<String, Value>) -> Self {
        Bindings {
            context: &NULL,
            input: &NULL,
            output: &NULL,
            instance_id: "",
            workflow_definition: &NULL,
            started_ms: 0,
            workflow_input: &NULL,
            task: ("", ""),
            locals,
            secrets: None,
        }
    }

    fn get(&self, name: &str) -> Value {
        match name {
            "$context" => self.context.clone(),
            "$input" => self.input.clone(),
            "$output" => self.output.clone(),
            "$secrets" => Value::Object(self.secrets.cloned().unwrap_or_default()),
            "$task" => serde_json::json!({"name": self.task.0, "reference": self.task.1}),
            "$workflow" => serde_json::json!({
                "id": self.instance_id,
                "definition": self.workflow_definition,
                "input": self.workflow_input,
                "startedAt": {
                    "iso8601": swirl_core::time::rfc3339(self.started_ms),
                    "epoch": {
                        "seconds": self.started_ms / 1000,
                        "milliseconds": self.started_ms,
                    },
                },
            }),
            "$runtime" => serde_json::json!({
                "name": "swirl",
                "version": env!("CARGO_PKG_VERSION"),
            }),
            local => self
                .locals
                .get(local.trim_start_matches('$'))
                .cloned()
                .unwrap_or(Value::Null),
        }
    }
}

impl Jq {
    /// Compiles `source` (without `${ }`); `locals` are the names (without
    /// `$`) of the `for` and `catch` variables in scope.
    pub fn compile(source: &str, locals: &[String]) -> Result<Self, ExpressionError> {
        let invalid = |reason: String| ExpressionError::InvalidJq {
            source_text: source.to_owned(),
            reason,
        };
        if mentions_def(source) {
            return Err(invalid(
                "'def' is not allowed in workflow expressions: write the logic inline".into(),
            ));
        }
        // Bind only what the text mentions: converting `$workflow` (which
        // holds the whole definition) for every evaluation would be waste.
        let variables: Vec<String> = RUNTIME_VARIABLES
            .iter()
            .map(|v| v.to_string())
            .chain(locals.iter().map(|l| format!("${l}")))
            .filter(|v| mentions_variable(source, v))
            .collect();
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .filter(|def| !REFUSED_DEFINITIONS.contains(&def.name));
        let funs = jaq_core::funs::<Data>()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .filter(|(name, _, _)| !REFUSED_FILTERS.contains(name));
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(
                &arena,
                File {
                    code: source,
                    path: (),
                },
            )
            .map_err(|errors| invalid(describe_load_errors(source, &errors)))?;
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .with_global_vars(variables.iter().map(String::as_str))
            .compile(modules)
            .map_err(|errors| invalid(describe_compile_errors(&errors)))?;
        Ok(Jq {
            source: source.to_owned(),
            filter: Arc::new(filter),
            variables: variables.into(),
        })
    }

    /// Compiles a field that is always an expression: `${ … }` is optional.
    pub fn compile_field(text: &str, locals: &[String]) -> Result<Self, ExpressionError> {
        Jq::compile(strip_braces(text).unwrap_or(text), locals)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The expression's first result (`null` when it produces none).
    pub fn eval(&self, input: &Value, bindings: &Bindings<'_>) -> Result<Value, ExpressionError> {
        let failed = |reason: String| ExpressionError::Evaluation {
            source_text: self.source.clone(),
            reason,
        };
        let vars = self
            .variables
            .iter()
            .map(|name| to_val(&bindings.get(name)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        let input = to_val(input).map_err(failed)?;
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new(vars));
        let mut outputs = self.filter.id.run((ctx, input)).map(jaq_core::unwrap_valr);
        match outputs.next() {
            None => Ok(Value::Null),
            Some(Ok(value)) => {
                let mut budget = MAX_RESULT_VALUES;
                let converted = from_val(&value, &mut budget, 0);
                drop_flat(value);
                converted.map_err(|too_large| failed(match too_large {
                    TooLarge::Values => format!(
                        "the result has more than {MAX_RESULT_VALUES} values, the limit for one expression"
                    ),
                    TooLarge::Depth => format!(
                        "the result nests arrays and objects more than {MAX_RESULT_DEPTH} deep, the limit for one expression"
                    ),
                }))
            }
            Some(Err(error)) => Err(failed(error.to_string())),
        }
    }

    /// Evaluates a condition: `false` and `null` are false, anything else true.
    pub fn test(&self, input: &Value, bindings: &Bindings<'_>) -> Result<bool, ExpressionError> {
        Ok(!matches!(
            self.eval(input, bindings)?,
            Value::Null | Value::Bool(false)
        ))
    }
}

impl fmt::Debug for Jq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jq({:?})", self.source)
    }
}

impl PartialEq for Jq {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for Jq {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("${{ {} }}", self.source))
    }
}

/// The expression inside `${ … }`, when `text` is one.
pub fn strip_braces(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("${")?.strip_suffix('}')?;
    Some(inner.trim())
}

/// A JSON value whose strings may be `${ … }` expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// No expression anywhere inside.
    Literal(Value),
    Expression(Jq),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

impl Template {
    /// Compiles every `${ … }` string inside `value`; the first error wins.
    pub fn compile(value: &Value, locals: &[String]) -> Result<Self, ExpressionError> {
        if !has_expression(value) {
            return Ok(Template::Literal(value.clone()));
        }
        Ok(match value {
            Value::String(text) => match strip_braces(text) {
                Some(source) => Template::Expression(Jq::compile(source, locals)?),
                None => Template::Literal(value.clone()),
            },
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .map(|item| Template::compile(item, locals))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(members) => Template::Object(
                members
                    .iter()
                    .map(|(key, item)| Ok((key.clone(), Template::compile(item, locals)?)))
                    .collect::<Result<_, ExpressionError>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    /// Compiles a field that is an expression when it is a string (with or
    /// without `${ }`) and a template otherwise (`output.as`, `input.from`).
    pub fn compile_field(value: &Value, locals: &[String]) -> Result<Self, ExpressionError> {
        match value {
            Value::String(text) => Ok(Template::Expression(Jq::compile_field(text, locals)?)),
            other => Template::compile(other, locals),
        }
    }

    pub fn eval(&self, input: &Value, bindings: &Bindings<'_>) -> Result<Value, ExpressionError> {
        Ok(match self {
            Template::Literal(value) => value.clone(),
            Template::Expression(jq) => jq.eval(input, bindings)?,
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.eval(input, bindings))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(key, item)| Ok((key.clone(), item.eval(input, bindings)?)))
                    .collect::<Result<Map<_, _>, ExpressionError>>()?,
            ),
        })
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Template::Literal(value) => value.serialize(serializer),
            Template::Expression(jq) => jq.serialize(serializer),
            Template::Array(items) => items.serialize(serializer),
            Template::Object(members) => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, item) in members {
                    map.serialize_entry(key, item)?;
                }
                map.end()
            }
        }
    }
}

fn has_expression(value: &Value) -> bool {
    match value {
        Value::String(text) => strip_braces(text).is_some(),
        Value::Array(items) => items.iter().any(has_expression),
        Value::Object(members) => members.values().any(has_expression),
        _ => false,
    }
}

/// Whether `source` uses `name` (`$x`, not `$xy`).
fn mentions_variable(source: &str, name: &str) -> bool {
    source.match_indices(name).any(|(at, _)| {
        !source[at + name.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Whether `source` has the keyword `def` outside string literals.
fn mentions_def(source: &str) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let bytes = source.as_bytes();
    for (at, &byte) in bytes.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if byte == b'"' {
            in_string = true;
            continue;
        }
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
        if source[at..].starts_with("def")
            && (at == 0 || !word(bytes[at - 1]))
            && !bytes.get(at + 3).is_some_and(|&b| word(b))
        {
            return true;
        }
    }
    false
}

/// The first load (lex or parse) error, with the text where it happened.
fn describe_load_errors(source: &str, errors: &jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let at = |rest: &str| {
        let offset = source.len().saturating_sub(rest.len());
        let found: String = rest.chars().take(12).collect();
        if found.is_empty() {
            format!("at the end (character {})", offset + 1)
        } else {
            format!("at character {}, '{found}'", offset + 1)
        }
    };
    match errors.first().map(|(_, error)| error) {
        Some(Error::Lex(errors)) => errors.first().map_or_else(
            || "syntax error".to_owned(),
            |(expect, rest)| format!("expected {} {}", expect.as_str(), at(rest)),
        ),
        Some(Error::Parse(errors)) => errors.first().map_or_else(
            || "syntax error".to_owned(),
            |(expect, rest)| format!("expected {} {}", expect.as_str(), at(rest)),
        ),
        Some(Error::Io(errors)) => errors.first().map_or_else(
            || "modules cannot be loaded".to_owned(),
            |(path, _)| format!("modules cannot be loaded ('{path}')"),
        ),
        None => "syntax error".to_owned(),
    }
}

/// The first undefined name the compiler found.
fn describe_compile_errors(errors: &jaq_core::compile::Errors<&str, ()>) -> String {
    errors
        .iter()
        .flat_map(|(_, undefined)| undefined.iter())
        .next()
        .map_or_else(
            || "does not compile".to_owned(),
            |(name, kind)| format!("{} '{name}' is not defined", kind.as_str()),
        )
}

/// Drops a value without recursing: a result nested thousands deep would
/// overflow the stack of the recursive drop.
fn drop_flat(value: Val) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Val::Arr(items) => {
                if let Ok(items) = jaq_json::Rc::try_unwrap(items) {
                    stack.extend(items);
                }
            }
            Val::Obj(members) => {
                if let Ok(members) = jaq_json::Rc::try_unwrap(members) {
                    stack.extend(members.into_iter().flat_map(|(k, v)| [k, v]));
                }
            }
            _ => {}
        }
    }
}

fn to_val(value: &Value) -> Result<Val, String> {
    Val::deserialize(value).map_err(|e| e.to_string())
}

/// Why a result cannot become JSON.
enum TooLarge {
    Values,
    Depth,
}

/// Converts a jq result to JSON, spending one unit of `budget` per value.
fn from_val(value: &Val, budget: &mut usize, depth: usize) -> Result<Value, TooLarge> {
    *budget = budget.checked_sub(1).ok_or(TooLarge::Values)?;
    if depth > MAX_RESULT_DEPTH {
        return Err(TooLarge::Depth);
    }
    Ok(match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(_) => number(value),
        Val::TStr(bytes) | Val::BStr(bytes) => {
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        Val::Arr(items) => Value::Array(
            items
                .iter()
                .map(|item| from_val(item, budget, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Val::Obj(members) => {
            let mut map = Map::new();
            for (key, item) in members.iter() {
                let key = match key {
                    Val::TStr(bytes) | Val::BStr(bytes) => {
                        String::from_utf8_lossy(bytes).into_owned()
                    }
                    other => other.to_string(),
                };
                map.insert(key, from_val(item, budget, depth + 1)?);
            }
            Value::Object(map)
        }
    })
}

/// A jq number as JSON: integers stay integers; NaN and infinities become null.
fn number(value: &Val) -> Value {
    let text = value.to_string();
    if let Ok(int) = text.parse::<i64>() {
        return Value::Number(Number::from(int));
    }
    match text.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(number) => Value::Number(number),
        None => serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(source: &str, input: Value) -> Result<Value, ExpressionError> {
        let locals = BTreeMap::from([("color".to_string(), json!("red"))]);
        let context = json!({"seen": 2});
        let bindings = Bindings {
            context: &context,
            ..Bindings::empty(&locals)
        };
        Jq::compile(source, &["color".to_string()])?.eval(&input, &bindings)
    }

    #[test]
    fn evaluates_paths_arithmetic_strings_and_variables() {
        assert_eq!(
            eval(".colors + [\"red\"]", json!({"colors": ["a"]})).unwrap(),
            json!(["a", "red"])
        );
        assert_eq!(
            eval(r#""Hello \(.first)!""#, json!({"first": "Jo"})).unwrap(),
            json!("Hello Jo!")
        );
        assert_eq!(eval("$color", json!(null)).unwrap(), json!("red"));
        assert_eq!(eval("$context.seen * 2", json!(null)).unwrap(), json!(4));
        assert_eq!(eval(". | length", json!([1, 2, 3])).unwrap(), json!(3));
        assert_eq!(eval("1.5 + 1", json!(null)).unwrap(), json!(2.5));
        assert_eq!(eval("empty", json!(1)).unwrap(), json!(null));
        assert_eq!(
            eval("map(select(. > 1))", json!([1, 2, 3])).unwrap(),
            json!([2, 3])
        );
    }

    #[test]
    fn refuses_environment_input_halt_and_definitions() {
        for source in [
            "env",
            "$ENV",
            "input",
            "halt",
            "def f: f; f",
            "$nope",
            "include \"x\"; .",
            "import \"x\" as x; .",
            ".a |",
        ] {
            let error = eval(source, json!(null)).unwrap_err();
            assert!(
                matches!(error, ExpressionError::InvalidJq { .. }),
                "{source}: {error}"
            );
        }
        // `def` inside a string is text.
        assert_eq!(eval(r#""def""#, json!(null)).unwrap(), json!("def"));
    }

    #[test]
    fn deep_results_fail_with_the_limit() {
        let error = eval("reduce range(0; 100000) as $i (null; [.])", json!(null)).unwrap_err();
        assert!(error.to_string().contains("deep"), "{error}");
    }

    #[test]
    fn runaway_results_fail_with_the_limit() {
        let error = eval("[range(0; 2000000)]", json!(null)).unwrap_err();
        assert!(error.to_string().contains("1000000"), "{error}");
    }

    #[test]
    fn templates_evaluate_only_their_expressions() {
        let template = Template::compile(
            &json!({"shape": "circle", "size": "${ .size }", "list": ["${ .size * 2 }", 1]}),
            &[],
        )
        .unwrap();
        let locals = BTreeMap::new();
        assert_eq!(
            template
                .eval(&json!({"size": 3}), &Bindings::empty(&locals))
                .unwrap(),
            json!({"shape": "circle", "size": 3, "list": [6, 1]})
        );
        assert!(matches!(
            Template::compile(&json!({"a": "plain"}), &[]).unwrap(),
            Template::Literal(_)
        ));
    }
}
