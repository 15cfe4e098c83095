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
//! at most [`MAX_RESULT_VALUES`] values and [`MAX_RESULT_BYTES`] of strings;
//! larger ones fail the evaluation.
//!
//! An evaluation may take at most [`MAX_EVALUATION_STEPS`] steps, so that
//! no expression holds a run thread forever: a step is an item `range`
//! yields or a turn of the recursions of the standard library (`repeat`,
//! `recurse` and `..`, `while`, `until`), which jq has no other way to loop
//! without bound. Those definitions are jaq's own with a step counted in
//! each turn (`_swirl_step`, a filter that passes its input on), and `range`
//! is a native one that counts. Once the steps are spent every further step
//! fails, and the evaluation fails whatever a `try` in it made of that.
//!
//! `+` and `*` (and `+=`, `*=`) run through `_swirl_add` and `_swirl_mul`,
//! which refuse to build a string of more than [`MAX_RESULT_BYTES`] or an
//! array of more than [`MAX_RESULT_VALUES`] items before building it: jaq
//! would ask the allocator for all of `"x" * 9000000000000000000` at once,
//! and a failed allocation aborts the process. The expression is compiled
//! as a definition whose body is rewritten so, and so are the standard
//! library's (`add`, `join`, ...).

use std::cell::Cell;
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

/// Bytes of strings (keys included) one evaluation may produce: as much as
/// a function may return.
pub const MAX_RESULT_BYTES: usize = 16 << 20;

/// Steps (see the module's documentation) one evaluation may take: a
/// fraction of a second of work in a release build.
pub const MAX_EVALUATION_STEPS: u64 = 1_000_000;

thread_local! {
    /// Steps the evaluation running on this thread may still take.
    static STEPS_LEFT: Cell<u64> = const { Cell::new(MAX_EVALUATION_STEPS) };
}

/// Counts one step of the evaluation on this thread; an error once
/// [`MAX_EVALUATION_STEPS`] are spent.
fn step() -> Result<(), jaq_core::Error<Val>> {
    STEPS_LEFT.with(|left| match left.get() {
        0 => Err(jaq_core::Error::str(steps_spent())),
        n => {
            left.set(n - 1);
            Ok(())
        }
    })
}

fn steps_spent() -> String {
    format!(
        "the expression took more than {MAX_EVALUATION_STEPS} steps (items of range, turns of repeat, recurse, while or until), the limit for one evaluation"
    )
}

/// The standard library's loops, each counting a step per turn; they
/// replace jaq's definitions of the same names in place.
const COUNTED_DEFINITIONS: &str = "
def repeat(f): def rec: f, (_swirl_step | rec); rec;
def recurse(f): def rec: ., (f | _swirl_step | rec); rec;
def while(cond; update): def rec: if cond then ., (update | _swirl_step | rec) else empty end; rec;
def until(cond; update): def rec: if cond then . else update | _swirl_step | rec end; rec;
";

/// `range($from; $to; $by)`, counting a step per item.
fn counted_range(
    from: Val,
    to: Val,
    by: Val,
) -> impl Iterator<Item = Result<Val, jaq_core::Error<Val>>> {
    use std::cmp::Ordering;
    let direction = by
        .partial_cmp(&Val::from(0isize))
        .unwrap_or(Ordering::Equal);
    let mut next = Some(Ok(from));
    std::iter::from_fn(move || {
        let current = match next.take()? {
            Ok(current) => current,
            Err(error) => return Some(Err(error)),
        };
        let more = match direction {
            Ordering::Greater => current < to,
            Ordering::Less => current > to,
            Ordering::Equal => current != to,
        };
        if !more {
            return None;
        }
        if let Err(error) = step() {
            return Some(Err(error));
        }
        next = Some(current.clone() + by.clone());
        Some(Ok(current))
    })
}

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
        let counted = counted_definitions();
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .filter(|def| !REFUSED_DEFINITIONS.contains(&def.name))
            .map(|def| {
                counted
                    .iter()
                    .find(|c| c.name == def.name && c.args.len() == def.args.len())
                    .cloned()
                    .unwrap_or(def)
            });
        let funs = jaq_core::funs::<Data>()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .filter(|(name, args, _)| {
                !(REFUSED_FILTERS.contains(name) || (*name == "range" && args.len() == 3))
            })
            .chain(counting_filters());
        let defs: Vec<_> = defs.collect();
        // Loaded as written first, for its errors; then as the body of a
        // definition whose arithmetic is guarded.
        let arena = Arena::default();
        Loader::new(defs.clone())
            .load(
                &arena,
                File {
                    code: source,
                    path: (),
                },
            )
            .map_err(|errors| invalid(describe_load_errors(source, &errors)))?;
        let Some(mut body) = jaq_core::load::parse(source, |p| p.term()) else {
            return Err(invalid("syntax error".into()));
        };
        guard_arithmetic(&mut body);
        let defs = defs
            .into_iter()
            .map(|mut def| {
                guard_arithmetic(&mut def.body);
                def
            })
            .chain([jaq_core::load::parse::Def {
                name: GUARDED_MAIN,
                args: Vec::new(),
                body,
            }]);
        let loader = Loader::new(defs);
        let modules = loader
            .load(
                &arena,
                File {
                    code: GUARDED_MAIN,
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
        STEPS_LEFT.with(|left| left.set(MAX_EVALUATION_STEPS));
        // jaq panics where a string would outgrow the address space
        // (`"x" * 1e18`): that fails this evaluation, not the thread.
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut outputs = self.filter.id.run((ctx, input)).map(jaq_core::unwrap_valr);
            outputs.next()
        }));
        // A `try` inside may have caught the last step's error: spent steps
        // fail the evaluation all the same.
        if STEPS_LEFT.with(Cell::get) == 0 {
            if let Ok(Some(Ok(value))) = first {
                drop_flat(value);
            }
            return Err(failed(steps_spent()));
        }
        match first {
            Err(_) => Err(failed(
                "the evaluation ran out of room (a string or an array too large to build)".into(),
            )),
            Ok(None) => Ok(Value::Null),
            Ok(Some(Ok(value))) => {
                let mut budget = Budget {
                    values: MAX_RESULT_VALUES,
                    bytes: MAX_RESULT_BYTES,
                };
                let converted = from_val(&value, &mut budget, 0);
                drop_flat(value);
                converted.map_err(|too_large| failed(match too_large {
                    TooLarge::Values => format!(
                        "the result has more than {MAX_RESULT_VALUES} values, the limit for one expression"
                    ),
                    TooLarge::Bytes => format!(
                        "the result's strings have more than {MAX_RESULT_BYTES} bytes, the limit for one expression"
                    ),
                    TooLarge::Depth => format!(
                        "the result nests arrays and objects more than {MAX_RESULT_DEPTH} deep, the limit for one expression"
                    ),
                }))
            }
            Ok(Some(Err(error))) => {
                // jaq quotes an error's message; ours read better without.
                let text = error.to_string();
                let ours = text.starts_with("\"the expression");
                let text = if ours {
                    text.trim_matches('"').to_string()
                } else {
                    text
                };
                Err(failed(text))
            }
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

/// The definition an expression is compiled as.
const GUARDED_MAIN: &str = "_swirl_main";

/// Rewrites `l + r` and `l * r` into `_swirl_add(l; r)` and
/// `_swirl_mul(l; r)` (the same outputs, in the same order), and `p += r`
/// into `r as $_swirl_operand | p |= _swirl_add(.; $_swirl_operand)`, as
/// jq defines it, throughout `term`.
fn guard_arithmetic(term: &mut jaq_core::load::parse::Term<&str>) {
    use jaq_core::load::lex::StrPart;
    use jaq_core::load::parse::{BinaryOp, Pattern, Term};
    use jaq_core::ops::Math;
    use jaq_core::path::Part;
    fn pattern(bound: &mut Pattern<&str>) {
        match bound {
            Pattern::Var(_) => {}
            Pattern::Arr(items) => items.iter_mut().for_each(pattern),
            Pattern::Obj(entries) => entries.iter_mut().for_each(|(key, value)| {
                guard_arithmetic(key);
                pattern(value);
            }),
        }
    }
    match term {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Str(_, parts) => parts.iter_mut().for_each(|part| {
            if let StrPart::Term(inner) = part {
                guard_arithmetic(inner);
            }
        }),
        Term::Arr(inner) => inner.iter_mut().for_each(|t| guard_arithmetic(t)),
        Term::Obj(entries) => entries.iter_mut().for_each(|(key, value)| {
            guard_arithmetic(key);
            value.iter_mut().for_each(guard_arithmetic);
        }),
        Term::Neg(inner) | Term::Label(_, inner) => guard_arithmetic(inner),
        Term::BinOp(left, op, right) => {
            guard_arithmetic(left);
            guard_arithmetic(right);
            if let BinaryOp::Pipe(Some(bound)) = op {
                pattern(bound);
            }
        }
        Term::Fold(_, source, bound, arguments) => {
            guard_arithmetic(source);
            pattern(bound);
            arguments.iter_mut().for_each(guard_arithmetic);
        }
        Term::TryCatch(body, catch) => {
            guard_arithmetic(body);
            catch.iter_mut().for_each(|t| guard_arithmetic(t));
        }
        Term::IfThenElse(branches, otherwise) => {
            branches.iter_mut().for_each(|(condition, then)| {
                guard_arithmetic(condition);
                guard_arithmetic(then);
            });
            otherwise.iter_mut().for_each(|t| guard_arithmetic(t));
        }
        Term::Def(defs, rest) => {
            defs.iter_mut()
                .for_each(|def| guard_arithmetic(&mut def.body));
            guard_arithmetic(rest);
        }
        Term::Call(_, arguments) => arguments.iter_mut().for_each(guard_arithmetic),
        Term::Path(base, path) => {
            guard_arithmetic(base);
            for (part, _) in path.0.iter_mut() {
                match part {
                    Part::Index(index) => guard_arithmetic(index),
                    Part::Range(from, to) => {
                        from.iter_mut().for_each(guard_arithmetic);
                        to.iter_mut().for_each(guard_arithmetic);
                    }
                }
            }
        }
    }
    let guarded = |math: &Math| match math {
        Math::Add => Some("_swirl_add"),
        Math::Mul => Some("_swirl_mul"),
        _ => None,
    };
    let name = match term {
        Term::BinOp(_, BinaryOp::Math(math) | BinaryOp::UpdateMath(math), _) => guarded(math),
        _ => None,
    };
    let Some(name) = name else {
        return;
    };
    let Term::BinOp(left, op, right) = std::mem::take(term) else {
        return;
    };
    *term = match op {
        BinaryOp::UpdateMath(_) => {
            let operand = "$_swirl_operand";
            let update = Term::Call(name, vec![Term::Id, Term::Var(operand)]);
            Term::BinOp(
                right,
                BinaryOp::Pipe(Some(Pattern::Var(operand))),
                Box::new(Term::BinOp(left, BinaryOp::Update, Box::new(update))),
            )
        }
        _ => Term::Call(name, vec![*left, *right]),
    };
}

/// Fails before `l + r` or `l * r` builds a string of more than
/// [`MAX_RESULT_BYTES`] or an array of more than [`MAX_RESULT_VALUES`] items.
fn check_size(left: &Val, right: &Val, multiply: bool) -> Result<(), jaq_core::Error<Val>> {
    let length = |value: &Val| match value {
        Val::TStr(bytes) | Val::BStr(bytes) => Some((bytes.len(), true)),
        Val::Arr(items) => Some((items.len(), false)),
        _ => None,
    };
    let (size, string) = match (length(left), length(right), multiply) {
        (Some((l, string)), Some((r, _)), false) => (l.saturating_add(r), string),
        (Some((l, true)), None, true) | (None, Some((l, true)), true) => {
            let times = if length(left).is_some() { right } else { left };
            let times = match times {
                Val::Num(_) => times.to_string().parse::<f64>().unwrap_or(0.0),
                _ => 0.0,
            };
            // Float to integer casts saturate.
            (l.saturating_mul(times.max(0.0) as usize), true)
        }
        _ => return Ok(()),
    };
    let (limit, what) = if string {
        (MAX_RESULT_BYTES, "a string of")
    } else {
        (MAX_RESULT_VALUES, "an array of")
    };
    if size > limit {
        let unit = if string { "bytes" } else { "items" };
        return Err(jaq_core::Error::str(format!(
            "the expression would build {what} {size} {unit}, more than the limit of {limit} for one expression"
        )));
    }
    Ok(())
}

/// [`COUNTED_DEFINITIONS`], parsed.
fn counted_definitions() -> Vec<jaq_core::load::parse::Def<&'static str>> {
    // The text is ours and parses; an error would leave jaq's definitions.
    jaq_core::load::parse(COUNTED_DEFINITIONS, |p| p.defs()).unwrap_or_default()
}

/// `_swirl_step` and the counting `range/3`.
fn counting_filters() -> impl Iterator<Item = jaq_core::native::Fun<Data>> {
    use jaq_core::native::{bome, run, v};
    let step_filter: jaq_core::RunPtr<Data> = |cv| bome(step().map(|()| cv.1));
    let range_filter: jaq_core::RunPtr<Data> = |mut cv| {
        let by = cv.0.pop_var();
        let to = cv.0.pop_var();
        let from = cv.0.pop_var();
        Box::new(counted_range(from, to, by).map(|r| r.map_err(jaq_core::Exn::from)))
    };
    let add_filter: jaq_core::RunPtr<Data> = |mut cv| {
        let right = cv.0.pop_var();
        let left = cv.0.pop_var();
        bome(check_size(&left, &right, false).and_then(|()| left + right))
    };
    let mul_filter: jaq_core::RunPtr<Data> = |mut cv| {
        let right = cv.0.pop_var();
        let left = cv.0.pop_var();
        bome(check_size(&left, &right, true).and_then(|()| left * right))
    };
    [
        run::<Data>(("_swirl_step", v(0), step_filter)),
        run::<Data>(("range", v(3), range_filter)),
        run::<Data>(("_swirl_add", v(2), add_filter)),
        run::<Data>(("_swirl_mul", v(2), mul_filter)),
    ]
    .into_iter()
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
    Bytes,
    Depth,
}

/// What a result may still hold as it converts.
struct Budget {
    values: usize,
    bytes: usize,
}

impl Budget {
    fn spend_bytes(&mut self, bytes: &[u8]) -> Result<(), TooLarge> {
        self.bytes = self.bytes.checked_sub(bytes.len()).ok_or(TooLarge::Bytes)?;
        Ok(())
    }
}

/// Converts a jq result to JSON, spending one value of `budget` per value
/// and its bytes per string.
fn from_val(value: &Val, budget: &mut Budget, depth: usize) -> Result<Value, TooLarge> {
    budget.values = budget.values.checked_sub(1).ok_or(TooLarge::Values)?;
    if depth > MAX_RESULT_DEPTH {
        return Err(TooLarge::Depth);
    }
    Ok(match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(_) => number(value),
        Val::TStr(bytes) | Val::BStr(bytes) => {
            budget.spend_bytes(bytes)?;
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
                        budget.spend_bytes(bytes)?;
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
    fn endless_loops_end_at_the_step_limit() {
        for source in [
            "reduce range(1e12) as $x (0; . + 1)",
            "last(range(1e12))",
            "[repeat(1)]",
            "until(false; .)",
            "[recurse(. + 1)]",
            "last(recurse(. + 1))",
            "first(range(1e12; 0; -1) | select(. < 0))",
            "try last(range(1e12)) catch \"caught\"",
            "[range(0; 1e12; 1)] | length",
            "[while(true; .)] | length",
        ] {
            let started = std::time::Instant::now();
            let error = eval(source, json!(0)).unwrap_err();
            assert!(
                error.to_string().contains("1000000 steps"),
                "{source}: {error}"
            );
            eprintln!("{source}: {:?}", started.elapsed());
        }
    }

    #[test]
    fn bounded_loops_still_run() {
        assert_eq!(
            eval("[limit(5; repeat(1))]", json!(null)).unwrap(),
            json!([1, 1, 1, 1, 1])
        );
        assert_eq!(
            eval("reduce range(1000) as $x (0; . + $x)", json!(null)).unwrap(),
            json!(499500)
        );
        assert_eq!(
            eval("[range(10; 0; -3)]", json!(null)).unwrap(),
            json!([10, 7, 4, 1])
        );
        assert_eq!(
            eval("[range(0; 1; 0.25)]", json!(null)).unwrap(),
            json!([0, 0.25, 0.5, 0.75])
        );
        assert_eq!(eval("until(. > 100; . * 2)", json!(1)).unwrap(), json!(128));
        assert_eq!(
            eval(
                "[.[] | recurse(if . > 0 then . - 1 else empty end)]",
                json!([2])
            )
            .unwrap(),
            json!([2, 1, 0])
        );
        assert_eq!(
            eval("[while(. < 3; . + 1)]", json!(0)).unwrap(),
            json!([0, 1, 2])
        );
        assert_eq!(
            eval("[paths] | length", json!({"a": [1, {"b": 2}]})).unwrap(),
            json!(4)
        );
        assert_eq!(
            eval("flatten", json!([1, [2, [3]]])).unwrap(),
            json!([1, 2, 3])
        );
        // Arithmetic keeps its meaning and its order of outputs.
        for (source, input, output) in [
            ("[(1, 2) * (3, 4)]", json!(null), json!([3, 4, 6, 8])),
            ("[(1, 2) + (10, 20)]", json!(null), json!([11, 21, 12, 22])),
            ("[1, 2] + [3]", json!(null), json!([1, 2, 3])),
            (
                r#"{"a": {"b": 1}} * {"a": {"c": 2}}"#,
                json!(null),
                json!({"a": {"b": 1, "c": 2}}),
            ),
            (
                ".a += 1 | .b *= 3",
                json!({"a": 1, "b": 2}),
                json!({"a": 2, "b": 6}),
            ),
            ("[.[] | . * 2] | add", json!([1, 2]), json!(6)),
            (r#"["a", "b"] | join("-")"#, json!(null), json!("a-b")),
            (r#""\(1 + 2)""#, json!(null), json!("3")),
            (
                "reduce .[] as [$a, $b] (0; . + $a * $b)",
                json!([[1, 2], [3, 4]]),
                json!(14),
            ),
            ("null + 1", json!(null), json!(1)),
        ] {
            assert_eq!(eval(source, input).unwrap(), output, "{source}");
        }
        // Each evaluation has the whole budget.
        let jq = Jq::compile("reduce range(600000) as $x (0; . + 1)", &[]).unwrap();
        let locals = BTreeMap::new();
        for _ in 0..2 {
            assert_eq!(
                jq.eval(&json!(null), &Bindings::empty(&locals)).unwrap(),
                json!(600000)
            );
        }
    }

    #[test]
    fn huge_strings_and_arrays_fail_before_they_are_built() {
        for (source, input, limit) in [
            (r#""x" * 20000000"#, json!(null), "limit of 16777216"),
            (r#""x" * 1e300"#, json!(null), "limit of 16777216"),
            (
                r#""x" * 9000000000000000000"#,
                json!(null),
                "limit of 16777216",
            ),
            (
                r#"9000000000000000000 * "xy""#,
                json!(null),
                "limit of 16777216",
            ),
            (
                r#""x" * .n"#,
                json!({"n": 9_000_000_000_000_000_000u64}),
                "limit of 16777216",
            ),
            (
                r#".s *= .n"#,
                json!({"s": "x", "n": 9_000_000_000_000_000_000u64}),
                "limit of 16777216",
            ),
            (
                r#"reduce range(40) as $i ("x"; . + .)"#,
                json!(null),
                "limit of 16777216",
            ),
            (
                r#"reduce range(40) as $i ([1]; . + .)"#,
                json!(null),
                "limit of 1000000",
            ),
            (
                r#"[range(30) | "x" * 1000000] | add"#,
                json!(null),
                "limit of 16777216",
            ),
        ] {
            let error = eval(source, input).map(|v| v.to_string()).unwrap_err();
            assert!(error.to_string().contains(limit), "{source}: {error}");
        }
        assert_eq!(eval(r#""ab" * 3"#, json!(null)).unwrap(), json!("ababab"));
        assert_eq!(eval(r#""ab" * 0"#, json!(null)).unwrap(), json!(null));
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
