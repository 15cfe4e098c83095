//! Compiled JSONPath queries, boolean conditions and write paths.
//!
//! Every path and expression of a definition is compiled here once, at load
//! time; the engine only evaluates. Each compiled value keeps its source text
//! for display and serialization.
//!
//! - [`JsonPath`]: an RFC 9535 query, `$.orders[?@.completed == true]`, that
//!   selects from state data.
//! - [`Condition`]: an RFC 9535 filter expression, `@.age >= 18 && @.status ==
//!   'approved'`, where both `@` and `$` are the state data. It is compiled
//!   once as the query `$[?<expr>]`, with every root `$` inside rewritten to
//!   `$[0]`, and evaluated against a one-element array holding the data: the
//!   filter visits that one element as `@`, and `$[0]` is the data again.
//!   (jsonpath-rust 1.0 keeps the types needed to evaluate a filter against a
//!   chosen node private, so the wrapper is the public way to bind `@`.)
//! - [`WritePath`]: a plain member/index path, `$.ifttt.value1`, that says where
//!   to store a value, creating objects on the way (the draft's `ResultPath`).

mod cost;
pub mod jq;

use std::fmt;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// The only expression language swirl evaluates.
pub const SUPPORTED_LANGUAGE: &str = "jsonpath";

/// Descendant segments (`..`) one path or condition may hold. Each one
/// multiplies the nodes visited by the document's size (`$..*..*` visits
/// every node once per ancestor), so two on a large document exhaust memory
/// before any result could be counted.
pub const MAX_DESCENDANT_SEGMENTS: usize = 1;
/// Nodes one evaluation may select; more fails the evaluation rather than
/// copying them all into state data.
pub const MAX_SELECTED_NODES: usize = 100_000;
/// Times one path or condition may reach the same node, counted at load
/// over its unions (`expression/cost.rs`). jsonpath-rust keeps every copy and
/// runs every later segment and filter once per copy, so `[0,0,0,0,0,0,0,0]`
/// ten times over selects a billion nodes from a few bytes. Honest unions
/// overlap little (`$.a[0,-1].b[0,-1]` reaches a one-element array's element
/// four times). A union also collects its matches pairwise, so its cost grows
/// with the square of its overlap: over a 1 MiB array of numbers, `$[*]`
/// takes 0.2 s, `$[*,*,*,*]` 0.8 s and 230 MB, `$[*×16]` 6 s and 900 MB.
pub const MAX_NODE_COPIES: u64 = 4;
/// Selector passes one segment that starts from many nodes may make over
/// the same node: its selectors times the copies of those nodes. jsonpath-rust
/// applies each selector of a union to a fresh copy of every node before it,
/// so a list of distinct names or indexes repeats nothing yet costs one pass
/// per entry: over a 1 MiB array, 120 ms each (`$[*][0,1,...,31]` takes
/// 3.8 s). 8 keeps the worst case near that of [`MAX_NODE_COPIES`] and admits
/// lists like `$.people[*]['name','email']`; a list applied to one node
/// (`$.a[0,1,2,...,20]`) costs its length once and is not counted.
pub const MAX_SELECTOR_PASSES: u64 = 8;

/// Why a path or expression does not compile, or cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpressionError {
    #[error("'{source_text}' is not a valid JSONPath (RFC 9535): {reason}")]
    InvalidPath { source_text: String, reason: String },
    #[error("'{source_text}' is not a valid JSONPath filter expression (RFC 9535): {reason}")]
    InvalidCondition { source_text: String, reason: String },
    #[error(
        "'{source_text}' cannot be used to store a result: write a plain path of member names and indexes, like '$.result.value'"
    )]
    NotWritable { source_text: String },
    #[error(
        "'{source_text}' has {count} descendant segments ('..'), more than the limit of {MAX_DESCENDANT_SEGMENTS}: each one multiplies the work by the size of the data"
    )]
    TooManyDescendants { source_text: String, count: usize },
    #[error(
        "'{source_text}' can select the same node {copies} times, more than the limit of {MAX_NODE_COPIES}: overlapping selectors in one bracket (like [*,*] or [0,0]) repeat nodes and each later segment multiplies the repeats, so name each member or index once per bracket"
    )]
    TooManyCopies { source_text: String, copies: u64 },
    #[error(
        "'{source_text}' has a bracket that makes {passes} passes over the same node (its selectors times the copies earlier brackets made), more than the limit of {MAX_SELECTOR_PASSES}: use fewer selectors in one bracket, or a wildcard or filter instead of a long list"
    )]
    TooManySelectorPasses { source_text: String, passes: u64 },
    #[error(
        "'{source_text}' has a root query inside a filter that can select more than one node, and a filter runs it once per candidate, so the work grows with the square of the data: inside a filter, refer to the root only with a singular path like $.limit (member names and indexes only)"
    )]
    PluralRootQueryInFilter { source_text: String },
    #[error("'{source_text}' is not a valid jq expression: {reason}")]
    InvalidJq { source_text: String, reason: String },
    #[error("evaluating '{source_text}' failed: {reason}")]
    Evaluation { source_text: String, reason: String },
    #[error("cannot store at '{source_text}': {reason}")]
    Write { source_text: String, reason: String },
}

/// The last, most telling line of a jsonpath-rust parse error; pest errors
/// span several lines with an ASCII-art pointer that does not fit a diagnostic.
fn short_reason(error: &impl fmt::Display) -> String {
    let text = error.to_string();
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('|') && *l != "^---")
        .unwrap_or("syntax error");
    line.trim_start_matches("= ").to_owned()
}

/// Refuses a path or condition with more than [`MAX_DESCENDANT_SEGMENTS`]
/// `..`, counted outside string literals (where `..` is just text).
fn check_descendants(source: &str) -> Result<(), ExpressionError> {
    let mut count = 0;
    let mut quote = None;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(open), c) if c == open => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '.') if chars.peek() == Some(&'.') => {
                chars.next();
                count += 1;
            }
            _ => {}
        }
    }
    if count > MAX_DESCENDANT_SEGMENTS {
        return Err(ExpressionError::TooManyDescendants {
            source_text: source.to_owned(),
            count,
        });
    }
    Ok(())
}

/// Refuses a compiled path or condition whose [`cost::Cost`] is over the
/// limits; `source` is the user's text, shown in the message.
fn check_cost(source: &str, cost: cost::Cost) -> Result<(), ExpressionError> {
    if cost.plural_root_query_in_filter {
        return Err(ExpressionError::PluralRootQueryInFilter {
            source_text: source.to_owned(),
        });
    }
    if cost.copies > MAX_NODE_COPIES {
        return Err(ExpressionError::TooManyCopies {
            source_text: source.to_owned(),
            copies: cost.copies,
        });
    }
    if cost.passes > MAX_SELECTOR_PASSES {
        return Err(ExpressionError::TooManySelectorPasses {
            source_text: source.to_owned(),
            passes: cost.passes,
        });
    }
    Ok(())
}

/// A compiled RFC 9535 query.
#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
    query: JpQuery,
}

impl JsonPath {
    pub fn compile(source: &str) -> Result<Self, ExpressionError> {
        check_descendants(source)?;
        let query = parse_json_path(source).map_err(|e| ExpressionError::InvalidPath {
            source_text: source.to_owned(),
            reason: short_reason(&e),
        })?;
        check_cost(source, cost::of_path(&query.segments))?;
        Ok(JsonPath {
            source: source.to_owned(),
            query,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// All nodes the query selects, in document order.
    pub fn select<'a>(&self, data: &'a Value) -> Result<Vec<&'a Value>, ExpressionError> {
        let refs = js_path_process(&self.query, data).map_err(|e| ExpressionError::Evaluation {
            source_text: self.source.clone(),
            reason: e.to_string(),
        })?;
        if refs.len() > MAX_SELECTED_NODES {
            return Err(ExpressionError::Evaluation {
                source_text: self.source.clone(),
                reason: format!(
                    "it selected {} nodes, more than the limit of {MAX_SELECTED_NODES}",
                    refs.len()
                ),
            });
        }
        Ok(refs.into_iter().map(|r| r.val()).collect())
    }

    /// The selection as one value: `None` when nothing matches, the node
    /// itself when the query is a singular query (RFC 9535 §2.3.5.1, e.g.
    /// `$.a.b`, `$.a[0]`), else an array of every match. This is the shape
    /// filters want: `$.result` yields the result, `$.people[?@.age < 40]` a list.
    pub fn select_value(&self, data: &Value) -> Result<Option<Value>, ExpressionError> {
        let nodes = self.select(data)?;
        if self.is_singular() {
            return Ok(nodes.first().map(|v| (*v).clone()));
        }
        if nodes.is_empty() {
            return Ok(None);
        }
        Ok(Some(Value::Array(nodes.into_iter().cloned().collect())))
    }

    /// True when the query can select at most one node.
    pub fn is_singular(&self) -> bool {
        cost::is_singular(&self.query.segments)
    }

    /// The same path as a [`WritePath`], when it is a plain member/index path.
    pub fn to_write_path(&self) -> Option<WritePath> {
        WritePath::compile(&self.source).ok()
    }
}

impl PartialEq for JsonPath {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for JsonPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// A compiled boolean expression over state data (an RFC 9535 filter
/// expression). The engine puts the current error at `@.error` (`name`,
/// `message`) before evaluating `onError`, `retry` and draft `match` conditions.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    query: JpQuery,
}

impl Condition {
    pub fn compile(source: &str) -> Result<Self, ExpressionError> {
        let invalid = |reason: String| ExpressionError::InvalidCondition {
            source_text: source.to_owned(),
            reason,
        };
        if source.trim().is_empty() {
            return Err(invalid("the expression is empty".to_owned()));
        }
        check_descendants(source)?;
        // A `]` that closes the wrapper early would let `a] , $[...` smuggle a
        // second segment in; the segment count check below catches it.
        let query = parse_json_path(&format!("$[?{}]", rebase_root(source)))
            .map_err(|e| invalid(short_reason(&e)))?;
        match query.segments.as_slice() {
            [Segment::Selector(Selector::Filter(filter))] => {
                // Costed as the filter alone: the `$[0]` the rewrite puts
                // before each root query selects one node, once.
                check_cost(source, cost::of_condition(filter))?;
                Ok(Condition {
                    source: source.to_owned(),
                    query,
                })
            }
            _ => Err(invalid(
                "write a single filter expression such as \"@.status == 'approved'\"".to_owned(),
            )),
        }
    }

    /// The condition that always holds (the draft's `SYS.MatchAny`).
    pub fn always() -> Self {
        let source = "true == true";
        let query = JpQuery::new(Vec::new());
        // The literal is known to compile; the fallback (an empty query, which
        // selects the wrapper itself and so also holds) is never used.
        Condition::compile(source).unwrap_or(Condition {
            source: source.to_owned(),
            query,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Evaluates the condition with `@` and `$` bound to `data`. A comparison
    /// with a missing member is false, as RFC 9535 specifies.
    pub fn eval(&self, data: &Value) -> Result<bool, ExpressionError> {
        let wrapper = Value::Array(vec![data.clone()]);
        js_path_process(&self.query, &wrapper)
            .map(|selected| !selected.is_empty())
            .map_err(|e| ExpressionError::Evaluation {
                source_text: self.source.clone(),
                reason: e.to_string(),
            })
    }
}

/// Rewrites each root identifier `$` outside string literals to `$[0]`.
/// In RFC 9535 `$` cannot occur in a shorthand member name, so every `$`
/// outside quotes is the root identifier.
fn rebase_root(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 8);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for ch in source.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == q {
                    quote = None;
                }
                out.push(ch);
            }
            None => match ch {
                '\'' | '"' => {
                    quote = Some(ch);
                    out.push(ch);
                }
                '$' => out.push_str("$[0]"),
                _ => out.push(ch),
            },
        }
    }
    out
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// One step of a [`WritePath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteStep {
    Member(String),
    Index(usize),
}

/// A path that names one location, for storing a value there.
#[derive(Debug, Clone)]
pub struct WritePath {
    source: String,
    steps: Vec<WriteStep>,
}

impl WritePath {
    /// Accepts `$`, `.name`, `['name']`, `["name"]` and `[0]` steps only.
    pub fn compile(source: &str) -> Result<Self, ExpressionError> {
        let not_writable = || ExpressionError::NotWritable {
            source_text: source.to_owned(),
        };
        let query = JsonPath::compile(source)?;
        let mut steps = Vec::new();
        for segment in &query.query.segments {
            match segment {
                // jsonpath-rust hands over the name unquoted and unescaped,
                // exactly the member a query of the same path reads.
                Segment::Selector(Selector::Name(name)) => {
                    steps.push(WriteStep::Member(name.clone()))
                }
                Segment::Selector(Selector::Index(index)) => steps.push(WriteStep::Index(
                    usize::try_from(*index).map_err(|_| not_writable())?,
                )),
                _ => return Err(not_writable()),
            }
        }
        Ok(WritePath {
            source: source.to_owned(),
            steps,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn steps(&self) -> &[WriteStep] {
        &self.steps
    }

    /// Stores `value` at this path inside `target`, creating objects for
    /// missing members (and turning a non-object on the way into one). `$`
    /// alone replaces the whole target. An index must name an existing element.
    pub fn write(&self, target: &mut Value, value: Value) -> Result<(), ExpressionError> {
        let mut current = target;
        for step in &self.steps {
            current = match step {
                WriteStep::Member(name) => {
                    if !current.is_object() {
                        *current = Value::Object(serde_json::Map::new());
                    }
                    match current {
                        Value::Object(map) => map.entry(name.clone()).or_insert(Value::Null),
                        _ => return Err(self.write_error("internal: expected an object")),
                    }
                }
                WriteStep::Index(index) => match current {
                    Value::Array(items) if *index < items.len() => &mut items[*index],
                    _ => {
                        return Err(self
                            .write_error(&format!("there is no array element at index {index}")));
                    }
                },
            };
        }
        *current = value;
        Ok(())
    }

    fn write_error(&self, reason: &str) -> ExpressionError {
        ExpressionError::Write {
            source_text: self.source.clone(),
            reason: reason.to_owned(),
        }
    }
}

impl PartialEq for WritePath {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for WritePath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, data: Value) -> bool {
        Condition::compile(expr).unwrap().eval(&data).unwrap()
    }

    #[test]
    fn conditions_bind_at_and_dollar_to_the_data() {
        let data = json!({"age": 20, "status": "approved", "error": {"name": "SYS.Timeout", "message": "late"}});
        assert!(eval("@.age >= 18 && @.status == 'approved'", data.clone()));
        assert!(!eval("@.age >= 21 && @.status == 'approved'", data.clone()));
        assert!(eval("$.age >= 18", data.clone()));
        assert!(eval("@.error.name == 'SYS.Timeout'", data.clone()));
        assert!(eval(
            "@.error.name != 'FunctionExecutionError'",
            data.clone()
        ));
        assert!(eval("@.missing == null || @.age > 1", data.clone()));
        assert!(!eval("@.missing == 1", data.clone()));
        assert!(eval("@.error", data.clone()));
        assert!(!eval("@.nothing", data.clone()));
        assert!(eval("!(@.age < 18)", data.clone()));
        assert!(eval("length(@.status) == 8", data.clone()));
        assert!(eval("true == true", json!(null)));
        assert!(Condition::always().eval(&json!(42)).unwrap());
        assert!(eval("$.tag == '$'", json!({"tag": "$"})));
        assert!(eval("@.n == $.n", json!({"n": 1})));
    }

    #[test]
    fn conditions_on_non_object_data() {
        assert!(eval("@ == 5", json!(5)));
        assert!(eval("@[0] == 'a'", json!(["a"])));
    }

    #[test]
    fn invalid_conditions_are_refused() {
        for bad in ["", "@.age >>= 1", "name eq 'x'", "@.a] , $[?@.b", "$.a"] {
            let result = Condition::compile(bad);
            if bad == "$.a" {
                // An existence test of the root member is a valid filter.
                assert!(result.is_ok());
            } else {
                assert!(result.is_err(), "{bad}");
            }
        }
        let error = Condition::compile("name eq 'x'").unwrap_err().to_string();
        assert!(
            error.starts_with(
                "'name eq 'x'' is not a valid JSONPath filter expression (RFC 9535): "
            ),
            "{error}"
        );
        assert!(!error.contains('\n'));
    }

    #[test]
    fn paths_select() {
        let data = json!({"people": [{"age": 30}, {"age": 50}], "result": "Hello"});
        let path = JsonPath::compile("$.people[?(@.age < 40)]").unwrap();
        assert_eq!(
            path.select_value(&data).unwrap(),
            Some(json!([{"age": 30}]))
        );
        assert_eq!(
            JsonPath::compile("$.result")
                .unwrap()
                .select_value(&data)
                .unwrap(),
            Some(json!("Hello"))
        );
        assert_eq!(
            JsonPath::compile("$.none")
                .unwrap()
                .select_value(&data)
                .unwrap(),
            None
        );
        assert_eq!(
            JsonPath::compile("$").unwrap().select_value(&data).unwrap(),
            Some(data.clone())
        );
        assert!(JsonPath::compile("$.").is_err());
        assert!(JsonPath::compile("payload").is_err());
    }

    #[test]
    fn write_paths_create_objects() {
        let path = WritePath::compile("$.ifttt.value1").unwrap();
        let mut data = json!({"payload": "hi"});
        path.write(&mut data, json!("hi")).unwrap();
        assert_eq!(data, json!({"payload": "hi", "ifttt": {"value1": "hi"}}));
        let mut data = json!({"a": [1, 2]});
        WritePath::compile("$['a'][1]")
            .unwrap()
            .write(&mut data, json!(3))
            .unwrap();
        assert_eq!(data, json!({"a": [1, 3]}));
        let mut data = json!(5);
        WritePath::compile("$")
            .unwrap()
            .write(&mut data, json!({}))
            .unwrap();
        assert_eq!(data, json!({}));
        assert!(WritePath::compile("$..a").is_err());
        assert!(WritePath::compile("$.a[*]").is_err());
        assert!(WritePath::compile("$.a[-1]").is_err());
        let mut data = json!({"a": []});
        assert!(
            WritePath::compile("$.a[0]")
                .unwrap()
                .write(&mut data, json!(1))
                .is_err()
        );
    }

    /// Found by the `jsonpath_filter` fuzz target's write/read property:
    /// `$["'x'"]` names the member `'x'`, quotes included, but the write path
    /// stripped the quotes a second time and stored at `x`, where the same
    /// path never reads.
    #[test]
    fn regression_write_path_stripped_quotes_that_belong_to_the_name() {
        let path = WritePath::compile(r#"$["'x'"]['"y"']"#).unwrap();
        let mut data = json!({});
        path.write(&mut data, json!(1)).unwrap();
        assert_eq!(data, json!({"'x'": {"\"y\"": 1}}));
        assert_eq!(
            JsonPath::compile(path.as_str())
                .unwrap()
                .select_value(&data)
                .unwrap(),
            Some(json!(1))
        );
        // Escapes are resolved once, by the parser.
        let mut data = json!({});
        WritePath::compile(r"$['it\'s']")
            .unwrap()
            .write(&mut data, json!(2))
            .unwrap();
        assert_eq!(data, json!({"it's": 2}));
    }

    #[test]
    fn paths_that_multiply_their_work_are_bounded() {
        let error = JsonPath::compile("$..*..*").unwrap_err();
        assert_eq!(
            error.to_string(),
            "'$..*..*' has 2 descendant segments ('..'), more than the limit of 1: each one multiplies the work by the size of the data"
        );
        assert!(Condition::compile("@..a && @..b").is_err());
        // `..` inside a string is text, not a segment.
        assert!(JsonPath::compile("$..a[?@.b == '..x..']").is_ok());

        let wide = json!({"items": (0..MAX_SELECTED_NODES as u64).collect::<Vec<_>>()});
        let error = JsonPath::compile("$..*")
            .unwrap()
            .select(&wide)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "evaluating '$..*' failed: it selected 100001 nodes, more than the limit of 100000"
        );
        let items = JsonPath::compile("$.items[*]")
            .unwrap()
            .select(&wide)
            .unwrap();
        assert_eq!(items.len(), MAX_SELECTED_NODES);
    }

    /// The copies and passes [`cost::of_path`] counts for `path`.
    fn cost_of(path: &str) -> (u64, u64) {
        let cost = cost::of_path(&parse_json_path(path).unwrap().segments);
        (cost.copies, cost.passes)
    }

    /// Paths within the limits: (case, path, copies, passes).
    const ACCEPTED_UNIONS: &[(&str, &str, u64, u64)] = &[
        ("a plain path", "$.a.b[0]", 1, 1),
        (
            "distinct indexes never overlap",
            "$.a[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]",
            1,
            1,
        ),
        (
            "distinct names never overlap",
            "$['a','b','c']['d','e']",
            1,
            2,
        ),
        ("first and last, twice", "$.a[0,-1].b[0,-1]", 4, 4),
        ("a descendant's union", "$..['a','a']", 2, 2),
        ("copies at the limit", "$[*,0][0:2,'a','b']", 4, 6),
        ("passes at the limit", "$[*,*][*][0,1,2,3]", 2, 8),
        ("nested filters", "$[*,*][?@[*][?@[0,-1]]]", 4, 4),
        ("a filter's relative query", "$.a[?@['b','c','d']]", 1, 3),
    ];

    /// Paths refused for the copies they can make: (case, path, copies).
    const TOO_MANY_COPIES: &[(&str, &str, u64)] = &[
        ("equal indexes", "$[0,0,0,0,0,0,0,0][0,0,0,0,0,0,0,0]", 64),
        ("wildcards", "$[*,*][*,*][*,*]", 8),
        ("equal names", "$['a','b','a','a','a','a']", 5),
        (
            "negative indexes may be any element",
            "$[-1,-1,-1,-1,-1]",
            5,
        ),
        ("a slice may be any element", "$[0:1,1:2,2:3][0,0]", 6),
        ("a descendant's union", "$..[*,*,*][0,-1]", 6),
        ("a filter runs once per copy", "$[0,0,0][?@[*,*]]", 6),
        ("nested filters multiply", "$[*,*][?@[*][?@[*,*,*]]]", 6),
        ("a function's argument", "$[?count(@[*,*,*][*,*]) > 1]", 6),
        (
            "a filter in a function's argument",
            "$[?count(@[?@[*,*][0,0,0]]) > 0]",
            6,
        ),
    ];

    #[test]
    fn unions_within_the_limits_compile() {
        for (case, path, copies, passes) in ACCEPTED_UNIONS {
            assert_eq!(cost_of(path), (*copies, *passes), "{case}: {path}");
            assert!(JsonPath::compile(path).is_ok(), "{case}: {path}");
        }
    }

    #[test]
    fn unions_that_repeat_nodes_are_refused_at_load() {
        for (case, path, copies) in TOO_MANY_COPIES {
            assert_eq!(
                JsonPath::compile(path).unwrap_err(),
                ExpressionError::TooManyCopies {
                    source_text: path.to_string(),
                    copies: *copies,
                },
                "{case}"
            );
        }
        assert_eq!(
            JsonPath::compile("$[*,*][*,*][*,*]")
                .unwrap_err()
                .to_string(),
            "'$[*,*][*,*][*,*]' can select the same node 8 times, more than the limit of 4: overlapping selectors in one bracket (like [*,*] or [0,0]) repeat nodes and each later segment multiplies the repeats, so name each member or index once per bracket"
        );
        // A billion copies from a few bytes, and more: the count saturates.
        let huge = format!("${}", "[0,0,0,0,0,0,0,0]".repeat(30));
        assert!(matches!(
            JsonPath::compile(&huge),
            Err(ExpressionError::TooManyCopies {
                copies: u64::MAX,
                ..
            })
        ));
    }

    /// Paths refused for the passes one bracket makes: (case, path, passes).
    const TOO_MANY_PASSES: &[(&str, &str, u64)] = &[
        ("after a wildcard", "$.a[*][0,1,2,3,4,5,6,7,8]", 9),
        (
            "in a descendant segment",
            "$..['a','b','c','d','e','f','g','h','i']",
            9,
        ),
        ("in a filter", "$.a[?@[0,1,2,3,4,5,6,7,8]]", 9),
        (
            "in a filter's function",
            "$.a[?count(@.b[0,1,2,3,4,5,6,7,8]) > 0]",
            9,
        ),
    ];

    #[test]
    fn long_unions_over_many_nodes_are_refused_at_load() {
        for (case, path, passes) in TOO_MANY_PASSES {
            assert_eq!(
                JsonPath::compile(path).unwrap_err(),
                ExpressionError::TooManySelectorPasses {
                    source_text: path.to_string(),
                    passes: *passes,
                },
                "{case}"
            );
        }
        // Five names, each a pass over two copies of every node.
        assert_eq!(
            JsonPath::compile("$[*,0]['a','b','c','d','e']")
                .unwrap_err()
                .to_string(),
            "'$[*,0]['a','b','c','d','e']' has a bracket that makes 10 passes over the same node (its selectors times the copies earlier brackets made), more than the limit of 8: use fewer selectors in one bracket, or a wildcard or filter instead of a long list"
        );
        // A condition's `@` is one node.
        assert!(Condition::compile("count(@[0,1,2,3,4,5,6,7,8]) > 0").is_ok());
    }

    #[test]
    fn conditions_count_copies_without_the_root_rewrite() {
        // `$` becomes `$[0]` inside a condition: one node, reached once.
        assert!(Condition::compile("count($[*,*][*,*]) > 0").is_ok());
        assert_eq!(
            Condition::compile("count($[*,*][*,*,*]) > 0").unwrap_err(),
            ExpressionError::TooManyCopies {
                source_text: "count($[*,*][*,*,*]) > 0".to_owned(),
                copies: 6,
            }
        );
        assert_eq!(
            Condition::compile("@.a[0,0,0][?@[*,*]]").unwrap_err(),
            ExpressionError::TooManyCopies {
                source_text: "@.a[0,0,0][?@[*,*]]".to_owned(),
                copies: 6,
            }
        );
    }

    #[test]
    fn filters_refer_to_the_root_only_with_singular_paths() {
        let accepted_paths = [
            "$.orders[?@.price > $.limit]",
            "$.orders[?@.price > $.limits[0].max]",
            "$.orders[?$.enabled]",
            "$.orders[?@.kind == $['kind']]",
            "$.orders[?count(@.lines[*]) > 1]",
            "$.people[?(@.age < 40)]",
        ];
        for path in accepted_paths {
            assert!(JsonPath::compile(path).is_ok(), "{path}");
        }
        let refused_paths = [
            "$.items[?count($.items[*]) > 0]",
            "$[?$..x]",
            "$[?value($[*]) == 1]",
            "$.a[?@.b[?$.c[1:]]]",
            "$.a[?match(@.name, value($.patterns[*]))]",
        ];
        for path in refused_paths {
            assert_eq!(
                JsonPath::compile(path).unwrap_err(),
                ExpressionError::PluralRootQueryInFilter {
                    source_text: path.to_owned()
                },
                "{path}"
            );
        }
        assert_eq!(
            JsonPath::compile("$[?$..x]").unwrap_err().to_string(),
            "'$[?$..x]' has a root query inside a filter that can select more than one node, and a filter runs it once per candidate, so the work grows with the square of the data: inside a filter, refer to the root only with a singular path like $.limit (member names and indexes only)"
        );
    }

    #[test]
    fn conditions_refer_to_the_root_freely_outside_nested_filters() {
        // A condition is one filter that runs once, on the state data.
        for condition in [
            "$.a == 1",
            "@.n == $.n",
            "count($.items[*]) > 0",
            "$..x",
            "@.items[?@.price > $.limit]",
        ] {
            assert!(Condition::compile(condition).is_ok(), "{condition}");
        }
        // A filter inside it runs once per candidate; the message shows the
        // user's text, not the rewritten `$[0]`.
        assert_eq!(
            Condition::compile("count(@.items[?count($.items[*]) > 0]) > 0")
                .unwrap_err()
                .to_string(),
            "'count(@.items[?count($.items[*]) > 0]) > 0' has a root query inside a filter that can select more than one node, and a filter runs it once per candidate, so the work grows with the square of the data: inside a filter, refer to the root only with a singular path like $.limit (member names and indexes only)"
        );
    }
}
