//! The Serverless Workflow 1.0 reader (the Open Workflow Specification):
//! `document` + `do`, lowered into the one model (see `model/tasks.rs`).
//!
//! Each task becomes a state named by its JSON pointer; a task list becomes
//! a scope whose first task starts it; `then` becomes the state's exit.
//! Every expression is compiled here, with the `for` and `catch` variables in
//! scope at that task. What swirl does not run yet is refused with an error
//! naming the task, never skipped: the protocol calls other than http and openapi,
//! authentications other than basic and bearer, `run` of containers, shells
//! and scripts, a computed `expect` of a schedule `on` all of several events, and a data `schema`
//! from an external `resource` (an inline `document` is compiled here, see
//! `schema.rs`).
//!
//! A `call` of a task of `use.functions` becomes a scope of that task alone,
//! whose first input is the call's `with`; the task is read once, at
//! `/use/functions/<name>`, and every call runs a copy of that state (the
//! same name in each, which the interpreter's index of states allows).
//!
//! An event filter becomes an event definition named by its pointer: its
//! type and source (empty: any source) are what the event index looks up
//! (a listen's `${ }` ones: what it computes as it starts, on its input);
//! its other attributes and its `correlate` are the definition's
//! [`EventFilter`], which the engine checks on each event (`model/listen.rs`).
//! A listen's `until` events are more entries of the same event state,
//! which its [`Listen`] tells apart. A listen to every event (`any: []`)
//! has one definition with neither type nor source.
//!
//! A call's `authentication: {use: name}` is replaced here by the named
//! definition of `use.authentications`, so the host sees every
//! authentication inline; a scheme's `{use: secret}` becomes
//! `${ $secrets["secret"] }`, the secret holding the scheme's fields. The
//! secrets a document may name are its `use.secrets` (the model's
//! `secrets`); their values are the engine's business (`secrets.rs` there).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::cron::Cron;
use super::diagnostic::{Pointer, did_you_mean};
use super::duration::{IsoDuration, unit_millis};
use super::expression::jq::{Jq, Template, strip_braces};
use super::model::*;
use super::reader::{NameFact, Reader, Site, article};
use super::schema::DataSchema;
use super::source::{Node, NodeValue, Position};

/// Task types, for messages.
const TASK_TYPES: &[&str] = &[
    "call", "do", "emit", "for", "fork", "listen", "raise", "run", "set", "switch", "try", "wait",
];

/// Call types that are protocols rather than functions: those the host
/// makes, then those it refuses.
const PROTOCOL_CALLS: &[&str] = &["http", "openapi"];
const REFUSED_CALLS: &[&str] = &["grpc", "asyncapi", "a2a", "mcp"];

/// Authentication schemes: those the host sends, then those it refuses.
const AUTHENTICATION_SCHEMES: &[&str] = &["basic", "bearer"];
const REFUSED_AUTHENTICATIONS: &[&str] = &["digest", "oauth2", "oidc", "certificate"];

/// What the whole document declares that tasks refer to.
struct Uses {
    errors: HashMap<String, Value>,
    retries: HashMap<String, Node>,
    /// `use.timeouts`, read once: tasks and the workflow name them.
    timeouts: HashMap<String, TaskDuration>,
    /// `use.authentications`, checked: calls that `use` one get it inline
    /// (`None` for a definition already reported wrong).
    authentications: HashMap<String, Option<Value>>,
    /// `use.secrets`: the secrets expressions and authentications may read.
    secrets: Vec<String>,
    /// Functions of the app's manifest named in `call`, in first-use
    /// order: (name, resource).
    functions: Vec<(String, String)>,
    /// `use.functions` as written: reusable tasks by name.
    reusable: HashMap<String, Node>,
    /// Those read so far, each once, at its own pointer (`None` when wrong):
    /// every call of one runs a copy of the same state.
    reusable_states: HashMap<String, Option<State>>,
    /// The reusable tasks being read, outermost first, to name a cycle.
    reading: Vec<String>,
    /// The events `listen` tasks wait for, one per filter.
    events: Vec<EventDefinition>,
}

/// Reads a 1.0 document (its root has `document`).
pub fn read_definition(reader: &mut Reader, root: &Node) -> Option<WorkflowDefinition> {
    let p = Pointer::root();
    reader.unknown_keys(
        root,
        &p,
        &[
            "document", "input", "output", "use", "do", "timeout", "schedule", "evaluate",
        ],
        "the workflow",
    );
    let document = reader.required(root, &p, "document", "the workflow")?;
    let dp = p.key("document");
    reader.object(document, &dp, "'document'")?;
    let dsl = reader.required_string(document, &dp, "dsl", "'document'");
    if let Some(dsl) = &dsl
        && !dsl.starts_with("1.")
    {
        reader.error(
            &dp.key("dsl"),
            document
                .get("dsl")
                .map_or(document.position, |n| n.position),
            format!("dsl version '{dsl}' is not supported; swirl reads 1.0.x documents"),
        );
    }
    let name = reader.required_string(document, &dp, "name", "'document'");
    let namespace = reader.required_string(document, &dp, "namespace", "'document'");
    let version = reader.required_string(document, &dp, "version", "'document'");
    let title = reader.optional_string(document, &dp, "title", "'document'");
    let summary = reader.optional_string(document, &dp, "summary", "'document'");
    if let Some(evaluate) = root.get("evaluate")
        && let Some(language) = evaluate.get("language").and_then(Node::as_str)
        && language != "jq"
    {
        reader.error(
            &p.key("evaluate").key("language"),
            evaluate.position,
            format!("expression language '{language}' is not supported; swirl evaluates jq"),
        );
    }
    let mut uses = Uses {
        errors: HashMap::new(),
        retries: HashMap::new(),
        timeouts: HashMap::new(),
        authentications: HashMap::new(),
        secrets: Vec::new(),
        functions: Vec::new(),
        reusable: HashMap::new(),
        reusable_states: HashMap::new(),
        reading: Vec::new(),
        events: Vec::new(),
    };
    if let Some(node) = root.get("use") {
        read_use(reader, node, &p.key("use"), &mut uses);
    }
    let input = read_io(reader, root, &p, "input", "from", &[]);
    let output = read_io(reader, root, &p, "output", "as", &[]);
    // Computed, if it is an expression, as the instance starts: on the
    // workflow's transformed input.
    let timeout = read_timeout(reader, root, &p, &[], &uses);
    let schedule = read_schedule(reader, root, &p, &mut uses);
    let tasks = reader.required(root, &p, "do", "the workflow")?;
    let states = read_tasks(reader, tasks, &p.key("do"), &[], &mut uses);
    // A reusable task no call names is checked all the same.
    let mut unused: Vec<String> = uses
        .reusable
        .keys()
        .filter(|name| !uses.reusable_states.contains_key(*name))
        .cloned()
        .collect();
    unused.sort();
    for name in unused {
        reusable_state(reader, &name, None, &mut uses);
    }
    let mut metadata = Metadata::new();
    if let Some(namespace) = &namespace {
        metadata.insert("namespace".into(), Value::String(namespace.clone()));
    }
    let (input, output) = (input?, output?);
    Some(WorkflowDefinition {
        id: name.clone()?,
        name: title.or(name),
        version,
        description: summary,
        schema_version: dsl,
        expression_language: ExpressionLanguage::Jq,
        events: uses.events,
        functions: uses
            .functions
            .into_iter()
            .map(|(name, resource)| FunctionDefinition {
                name,
                resource,
                function_type: None,
                metadata: Metadata::new(),
            })
            .collect(),
        states: states?,
        extensions: Vec::new(),
        metadata,
        input_from: input.transform,
        input_schema: input.schema,
        output_as: output.transform,
        output_schema: output.schema,
        timeout: timeout?,
        schedule: schedule?,
        secrets: uses.secrets,
        document: root.to_value(),
    })
}

/// The workflow's `schedule` (`Some(None)` when absent, `None` when wrong).
fn read_schedule(
    reader: &mut Reader,
    root: &Node,
    p: &Pointer,
    uses: &mut Uses,
) -> Option<Option<WorkflowSchedule>> {
    let Some(node) = root.get("schedule") else {
        return Some(None);
    };
    let sp = p.key("schedule");
    reader.object(node, &sp, "'schedule'")?;
    reader.unknown_keys(
        node,
        &sp,
        &["every", "cron", "after", "on", "read"],
        "'schedule'",
    );
    let given: Vec<&str> = ["every", "cron", "after", "on"]
        .into_iter()
        .filter(|k| node.get(k).is_some())
        .collect();
    let [kind] = given.as_slice() else {
        let message = if given.is_empty() {
            "'schedule' needs one of every, cron, after or on".to_string()
        } else {
            format!(
                "'schedule' takes one of every, cron, after or on, not {}; write one schedule per workflow",
                given.join(" and ")
            )
        };
        reader.error(&sp, node.position, message);
        return None;
    };
    let value = node.get(kind)?;
    let kp = sp.key(kind);
    if *kind != "on"
        && let Some(read) = node.get("read")
    {
        reader.error(
            &sp.key("read"),
            read.position,
            "'schedule.read' says how events that start the workflow are read; it needs 'on'",
        );
        return None;
    }
    let positive = |reader: &mut Reader| {
        let duration = read_duration(reader, value, &kp)?;
        if duration.duration().is_zero() {
            reader.error(
                &kp,
                value.position,
                format!("'schedule.{kind}' must be a positive duration"),
            );
            return None;
        }
        Some(duration)
    };
    let schedule = match *kind {
        "every" => WorkflowSchedule::Every(positive(reader)?),
        "after" => WorkflowSchedule::After(positive(reader)?),
        "cron" => {
            let text = reader.string(value, &kp, "'schedule.cron'")?;
            let cron = Cron::parse(&text)
                .map_err(|e| reader.error(&kp, value.position, e.to_string()))
                .ok()?;
            WorkflowSchedule::Cron(cron)
        }
        _ => {
            // Starts are found by a scan of the workflows, not by the index
            // of subscriptions, so a start may take events of any source.
            let (strategy, events) =
                read_consumption(reader, value, &kp, &[], uses, "schedule.on")?;
            if let Some(until) = value.get("until") {
                reader.error(
                    &kp.key("until"),
                    until.position,
                    "'until' ends a listen; a schedule starts an instance per event (or per set of 'all' events)",
                );
                return None;
            }
            let all = strategy == "all";
            // The engine gathers the events of a set before any instance
            // exists: nothing to compute a correlation's `expect` in.
            let filters = match value.get("all").map(|all| &all.value) {
                Some(NodeValue::Array(filters)) if all => filters.as_slice(),
                _ => &[],
            };
            let computed_expect = filters.iter().enumerate().find_map(|(i, filter)| {
                let NodeValue::Object(correlations) = &filter.get("correlate")?.value else {
                    return None;
                };
                correlations.iter().find_map(|(name, correlation)| {
                    let expect = correlation.get("expect")?;
                    let computed =
                        matches!(&expect.value, NodeValue::String(text) if text.contains("${"));
                    computed.then(|| (i, name.name.clone(), expect))
                })
            });
            if let Some((index, name, expect)) = computed_expect {
                reader.error(
                    &kp.key("all")
                        .index(index)
                        .key("correlate")
                        .key(&name)
                        .key("expect"),
                    expect.position,
                    "an instance started on 'all' of several events has no input yet to compute 'expect' from; write the value, or leave 'expect' out to make sets of events whose values agree",
                );
                return None;
            }
            let read = read_event_read(reader, node, &sp, "schedule.read")?;
            WorkflowSchedule::On { events, read, all }
        }
    };
    Some(Some(schedule))
}

fn read_use(reader: &mut Reader, node: &Node, p: &Pointer, uses: &mut Uses) {
    let Some(members) = reader.object(node, p, "'use'") else {
        return;
    };
    // Authentications name secrets, wherever `secrets` is written.
    if let Some(secrets) = node.get("secrets") {
        let sp = p.key("secrets");
        for (index, item) in reader
            .array(secrets, &sp, "'use.secrets'")
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if let Some(name) = reader.string(item, &sp.index(index), "a secret's name") {
                uses.secrets.push(name);
            }
        }
    }
    for (key, value) in members {
        let kp = p.key(&key.name);
        match key.name.as_str() {
            "errors" => {
                if let Some(errors) = reader.object(value, &kp, "'use.errors'") {
                    for (name, error) in errors {
                        uses.errors.insert(name.name.clone(), error.to_value());
                    }
                }
            }
            "retries" => {
                if let Some(retries) = reader.object(value, &kp, "'use.retries'") {
                    for (name, retry) in retries {
                        uses.retries.insert(name.name.clone(), retry.clone());
                    }
                }
            }
            "timeouts" => {
                if let Some(timeouts) = reader.object(value, &kp, "'use.timeouts'") {
                    for (name, timeout) in timeouts {
                        if let Some(after) =
                            read_timeout_definition(reader, timeout, &kp.key(&name.name), &[])
                        {
                            uses.timeouts.insert(name.name.clone(), after);
                        }
                    }
                }
            }
            "authentications" => {
                if let Some(definitions) = reader.object(value, &kp, "'use.authentications'") {
                    for (name, definition) in definitions {
                        let what = format!("authentication '{}'", name.name);
                        let dp = kp.key(&name.name);
                        let checked = read_authentication(reader, definition, &dp, &what, uses);
                        uses.authentications.insert(name.name.clone(), checked);
                    }
                }
            }
            "secrets" => {}
            "functions" => {
                if let Some(functions) = reader.object(value, &kp, "'use.functions'") {
                    for (name, task) in functions {
                        uses.reusable.insert(name.name.clone(), task.clone());
                        reader.facts.reusable.push(name.name.clone());
                    }
                }
            }
            "extensions" | "catalogs" => reader.error(
                &kp,
                key.position,
                format!(
                    "'use.{}' is not supported yet; call the app's functions by name",
                    key.name
                ),
            ),
            other => reader.warning(
                &kp,
                key.position,
                format!("unknown field '{other}' in 'use' is ignored"),
            ),
        }
    }
}

/// A workflow's or task's `input`, `output` or `export`: its transformation
/// (`from` or `as`) and its `schema`, compiled.
#[derive(Default)]
struct Io {
    transform: Option<Template>,
    schema: Option<DataSchema>,
}

/// `input` / `output` / `export` of a workflow or task, with `field` its
/// transformation (`Some(Io::default())` when absent, `None` when wrong).
fn read_io(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    member: &str,
    field: &str,
    locals: &[String],
) -> Option<Io> {
    let Some(io) = node.get(member) else {
        return Some(Io::default());
    };
    let ip = p.key(member);
    reader.object(io, &ip, &format!("'{member}'"))?;
    reader.unknown_keys(io, &ip, &[field, "schema"], &format!("'{member}'"));
    // Both are read, so that both report their errors.
    let schema = io
        .get("schema")
        .map(|schema| read_schema(reader, schema, &ip.key("schema"), member).ok_or(()));
    let transform = io
        .get(field)
        .map(|value| template_field(reader, value, &ip.key(field), locals).ok_or(()));
    Some(Io {
        transform: transform.transpose().ok()?,
        schema: schema.transpose().ok()?,
    })
}

/// A data `schema`: `format` json (the default) and the schema inline in
/// `document`, compiled here; an external `resource` is refused.
fn read_schema(reader: &mut Reader, node: &Node, p: &Pointer, member: &str) -> Option<DataSchema> {
    let what = format!("'{member}.schema'");
    reader.object(node, p, &what)?;
    reader.unknown_keys(node, p, &["format", "document", "resource"], &what);
    if let Some(format) = reader.optional_string(node, p, "format", &what)
        && format != "json"
        && !format.starts_with("json:")
    {
        reader.error(
            &p.key("format"),
            node.get("format").map_or(node.position, |n| n.position),
            format!("schema format '{format}' is not supported; swirl checks data against JSON Schemas (format json)"),
        );
        return None;
    }
    if let Some(resource) = node.get("resource") {
        reader.error(
            &p.key("resource"),
            resource.position,
            format!("an external schema ('resource' of {what}) is not supported yet; write the schema inline under 'document'"),
        );
        return None;
    }
    let document = reader.required(node, p, "document", &what)?;
    DataSchema::compile(&document.to_value())
        .map_err(|why| {
            reader.error(
                &p.key("document"),
                document.position,
                format!("{what} cannot be used: {why}"),
            )
        })
        .ok()
}

/// A field that is an expression when it is a string.
fn template_field(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    locals: &[String],
) -> Option<Template> {
    Template::compile_field(&node.to_value(), locals)
        .map_err(|e| reader.error(p, node.position, e.to_string()))
        .ok()
}

/// A value whose `${ }` strings are expressions.
fn template(reader: &mut Reader, node: &Node, p: &Pointer, locals: &[String]) -> Option<Template> {
    Template::compile(&node.to_value(), locals)
        .map_err(|e| reader.error(p, node.position, e.to_string()))
        .ok()
}

/// A member that is always an expression (`if`, `when`, `in`, ...).
fn expression(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    member: &str,
    locals: &[String],
) -> Option<Option<Jq>> {
    let Some(value) = node.get(member) else {
        return Some(None);
    };
    let mp = p.key(member);
    let text = match &value.value {
        NodeValue::String(text) => text.clone(),
        NodeValue::Bool(b) => b.to_string(),
        _ => {
            reader.error(
                &mp,
                value.position,
                format!("'{member}' must be a jq expression, not {}", article(value)),
            );
            return None;
        }
    };
    match Jq::compile_field(&text, locals) {
        Ok(jq) => Some(Some(jq)),
        Err(error) => {
            reader.error(&mp, value.position, error.to_string());
            None
        }
    }
}

/// One entry of a task list: `{name: task}`.
struct Entry<'n> {
    name: String,
    task: &'n Node,
    pointer: Pointer,
}

/// Reads a task list into a scope of states; the first starts the scope.
fn read_tasks(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    locals: &[String],
    uses: &mut Uses,
) -> Option<Vec<State>> {
    read_tasks_from(reader, node, p, 0, locals, uses)
}

/// A task list whose first task is item `first` of the list at `p`: a fork
/// branch is a list of one task, the branch's, at its index.
fn read_tasks_from(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    first: usize,
    locals: &[String],
    uses: &mut Uses,
) -> Option<Vec<State>> {
    let items = reader.array(node, p, "a task list")?;
    if items.is_empty() {
        reader.error(
            p,
            node.position,
            "a task list needs at least one task".to_string(),
        );
        return None;
    }
    let mut entries = Vec::new();
    let mut failed = false;
    for (index, item) in items.iter().enumerate() {
        let ip = p.index(first + index);
        match &item.value {
            NodeValue::Object(members) if members.len() == 1 => {
                let (key, task) = &members[0];
                entries.push(Entry {
                    name: key.name.clone(),
                    task,
                    pointer: ip.key(&key.name),
                });
            }
            _ => {
                reader.error(
                    &ip,
                    item.position,
                    format!(
                        "each item of a task list must be an object with one member, the task's name, not {}",
                        article(item)
                    ),
                );
                failed = true;
            }
        }
    }
    let references: HashMap<&str, String> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.pointer.to_string()))
        .collect();
    let mut states = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let next = entries.get(index + 1).map(|e| e.pointer.to_string());
        let scope = Scope {
            references: &references,
            next: next.as_deref(),
        };
        match read_task(reader, entry, &scope, locals, uses) {
            Some(mut state) => {
                if index == 0 {
                    state.start = Some(Start::Default);
                }
                states.push(state);
            }
            None => failed = true,
        }
    }
    (!failed).then_some(states)
}

/// The task list a task sits in, for resolving its flow directives.
struct Scope<'a> {
    references: &'a HashMap<&'a str, String>,
    next: Option<&'a str>,
}

impl Scope<'_> {
    /// The exit a flow directive means here.
    fn exit(&self, reader: &mut Reader, then: Option<&Node>, p: &Pointer) -> Option<Exit> {
        let directive = match then {
            None => "continue",
            Some(node) => match node.as_str() {
                Some(text) => text,
                None => {
                    reader.error(
                        p,
                        node.position,
                        format!(
                            "'then' must be a task name or continue, exit or end, not {}",
                            article(node)
                        ),
                    );
                    return None;
                }
            },
        };
        let end = |kind| {
            Some(Exit::End(End {
                kind,
                status: CompletionStatus::Success,
            }))
        };
        match directive {
            "continue" => match self.next {
                Some(next) => Some(transition(next)),
                None => end(EndKind::Default),
            },
            "exit" => end(EndKind::Default),
            "end" => end(EndKind::Terminate),
            name => match self.references.get(name) {
                Some(reference) => Some(transition(reference)),
                None => {
                    let position = then.map_or_else(Default::default, |n| n.position);
                    let hint = did_you_mean(name, self.references.keys().copied());
                    reader.error(
                        p,
                        position,
                        format!(
                            "'then' names '{name}', which is no task of this list (nor continue, exit or end){hint}"
                        ),
                    );
                    None
                }
            },
        }
    }
}

fn transition(to: &str) -> Exit {
    Exit::Transition(Transition {
        next_state: to.to_string(),
        expression: None,
    })
}

/// A task being read: its node and pointer, the member under its type's
/// key, and the `for` and `catch` variables in scope.
#[derive(Clone, Copy)]
struct TaskSite<'a> {
    /// The task's name as written, for messages.
    name: &'a str,
    node: &'a Node,
    p: &'a Pointer,
    body: &'a Node,
    locals: &'a [String],
}

fn read_task(
    reader: &mut Reader,
    entry: &Entry<'_>,
    scope: &Scope<'_>,
    locals: &[String],
    uses: &mut Uses,
) -> Option<State> {
    let (node, p) = (entry.task, &entry.pointer);
    let what = format!("task '{}'", entry.name);
    reader.object(node, p, &what)?;
    // `for` tasks also have a `do`: the plain `do` task is the last guess.
    let Some(kind_name) = TASK_TYPES
        .iter()
        .copied()
        .filter(|t| *t != "do")
        .chain(["do"])
        .find(|t| node.get(t).is_some())
    else {
        reader.error(
            p,
            node.position,
            format!(
                "{what} has no task type; give it one of {}",
                TASK_TYPES.join(", ")
            ),
        );
        return None;
    };
    let timeout = read_timeout(reader, node, p, locals, uses);
    let when = expression(reader, node, p, "if", locals);
    let input = read_io(reader, node, p, "input", "from", locals);
    let output = read_io(reader, node, p, "output", "as", locals);
    let export = read_io(reader, node, p, "export", "as", locals);
    let exit = scope.exit(reader, node.get("then"), &p.key("then"));
    let body = node.get(kind_name)?;
    let bp = p.key(kind_name);
    let site = TaskSite {
        name: &entry.name,
        node,
        p,
        body,
        locals,
    };
    let kind = match kind_name {
        "set" => StateKind::Set(SetState {
            set: template(reader, body, &bp, locals)?,
            exit: exit?,
        }),
        "do" => StateKind::Scope(ScopeState {
            states: read_tasks(reader, body, &bp, locals, uses)?,
            input: None,
            exit: exit?,
        }),
        "raise" => StateKind::Raise(RaiseState {
            error: read_raise(reader, body, &bp, locals, uses)?,
            exit: exit?,
        }),
        "call" => read_call(reader, site, uses, exit?)?,
        "for" => read_for(reader, site, uses, exit?)?,
        "fork" => read_fork(reader, body, &bp, locals, uses, exit?)?,
        "switch" => read_switch(reader, body, &bp, scope, locals, exit?)?,
        "try" => read_try(reader, site, uses, exit?)?,
        "wait" => StateKind::Delay(DelayState {
            time_delay: read_task_duration(reader, body, &bp, locals)?,
            exit: exit?,
        }),
        "emit" => read_emit(reader, body, &bp, locals, exit?)?,
        "run" => read_run(reader, body, &bp, locals, exit?)?,
        "listen" => read_listen(reader, site, uses, exit?)?,
        _ => {
            reader.error(
                &bp,
                body.position,
                format!("'{kind_name}' tasks are not supported yet"),
            );
            return None;
        }
    };
    let (input, output, export) = (input?, output?, export?);
    Some(State {
        name: p.to_string(),
        id: None,
        kind,
        start: None,
        state_data_filter: None,
        on_error: Vec::new(),
        metadata: node
            .get("metadata")
            .map(|m| match m.to_value() {
                Value::Object(map) => map,
                _ => Map::new(),
            })
            .unwrap_or_default(),
        task: Some(TaskFlow {
            name: entry.name.clone(),
            reference: p.to_string(),
            when: when?,
            input_from: input.transform,
            input_schema: input.schema,
            output_as: output.transform,
            output_schema: output.schema,
            export_as: export.transform,
            export_schema: export.schema,
            timeout: timeout?,
        }),
    })
}

/// The `timeout` of a task or the workflow: `{after: duration}` or the name
/// of one in `use.timeouts` (`Some(None)` when absent, `None` when wrong).
fn read_timeout(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    locals: &[String],
    uses: &Uses,
) -> Option<Option<TaskDuration>> {
    let Some(timeout) = node.get("timeout") else {
        return Some(None);
    };
    let tp = p.key("timeout");
    let Some(name) = timeout.as_str() else {
        return read_timeout_definition(reader, timeout, &tp, locals).map(Some);
    };
    match uses.timeouts.get(name) {
        Some(after) => Some(Some(after.clone())),
        None => {
            let hint = did_you_mean(name, uses.timeouts.keys().map(String::as_str));
            reader.error(
                &tp,
                timeout.position,
                format!("timeout '{name}' is not defined in 'use.timeouts'{hint}"),
            );
            None
        }
    }
}

/// A timeout definition, `{after: duration}`.
fn read_timeout_definition(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    locals: &[String],
) -> Option<TaskDuration> {
    reader.object(node, p, "a timeout")?;
    reader.unknown_keys(node, p, &["after"], "a timeout");
    let node = reader.required(node, p, "after", "a timeout")?;
    let after = read_task_duration(reader, node, &p.key("after"), locals)?;
    if let TaskDuration::Fixed(after) = &after
        && after.duration().is_zero()
    {
        reader.error(
            &p.key("after"),
            node.position,
            "a timeout of zero would time out at once; give a positive duration",
        );
        return None;
    }
    Some(after)
}

fn read_raise(
    reader: &mut Reader,
    body: &Node,
    p: &Pointer,
    locals: &[String],
    uses: &Uses,
) -> Option<Template> {
    let error = reader.required(body, p, "error", "'raise'")?;
    let ep = p.key("error");
    match &error.value {
        NodeValue::String(name) => match uses.errors.get(name) {
            Some(value) => Template::compile(value, locals)
                .map_err(|e| reader.error(&ep, error.position, e.to_string()))
                .ok(),
            None => {
                let hint = did_you_mean(name, uses.errors.keys().map(String::as_str));
                reader.error(
                    &ep,
                    error.position,
                    format!("error '{name}' is not defined in 'use.errors'{hint}"),
                );
                None
            }
        },
        _ => {
            reader.object(error, &ep, "'raise.error'")?;
            for required in ["type", "status"] {
                reader.required(error, &ep, required, "'raise.error'")?;
            }
            template(reader, error, &ep, locals)
        }
    }
}

fn read_call(
    reader: &mut Reader,
    task: TaskSite<'_>,
    uses: &mut Uses,
    exit: Exit,
) -> Option<StateKind> {
    let TaskSite {
        node,
        p,
        body,
        locals,
        ..
    } = task;
    let cp = p.key("call");
    let name = reader.string(body, &cp, "'call'")?;
    if REFUSED_CALLS.contains(&name.as_str()) {
        reader.error(
            &cp,
            body.position,
            format!("'call: {name}' is not supported; call http, openapi or a function of the app"),
        );
        return None;
    }
    // A task of `use.functions` comes before the manifest's functions.
    if !PROTOCOL_CALLS.contains(&name.as_str()) && uses.reusable.contains_key(&name) {
        let state = reusable_state(reader, &name, Some((&cp, body.position)), uses)?;
        let input = match node.get("with") {
            Some(with) => Some(template(reader, with, &p.key("with"), locals)?),
            None => None,
        };
        return Some(StateKind::Scope(ScopeState {
            states: vec![state],
            input,
            exit,
        }));
    }
    // The manifest is the default catalog: `f`, `f@default`, `f:2@default`.
    let resource = match name.split_once('@') {
        _ if PROTOCOL_CALLS.contains(&name.as_str()) => format!("{PROTOCOL_PREFIX}{name}"),
        None => name.clone(),
        Some((function, "default")) => match function.split_once(':') {
            Some((function, version)) => format!("{function}@{version}"),
            None => function.to_string(),
        },
        Some((_, catalog)) => {
            reader.error(
                &cp,
                body.position,
                format!(
                    "catalog '{catalog}' is not supported; swirl's catalog is the app's manifest ('{}@default')",
                    name.split('@').next().unwrap_or_default()
                ),
            );
            return None;
        }
    };
    if !resource.starts_with(PROTOCOL_PREFIX) {
        reader.facts.resources.push(NameFact {
            name: resource.split('@').next().unwrap_or_default().to_string(),
            site: Site {
                pointer: cp.clone(),
                position: body.position,
            },
        });
    }
    if !uses.functions.iter().any(|(n, _)| *n == name) {
        uses.functions.push((name.clone(), resource));
    }
    let arguments = match node.get("with") {
        Some(with) => {
            let wp = p.key("with");
            let mut value = with.to_value();
            let what = format!("task '{}'", task.name);
            let mut failed = false;
            for path in authentication_paths(&name) {
                let Some(found) = path.iter().try_fold(with, |n, key| n.get(key)) else {
                    continue;
                };
                let ap = path.iter().fold(wp.clone(), |p, key| p.key(key));
                let Some(resolved) = use_authentication(reader, found, &ap, &what, uses) else {
                    failed = true;
                    continue;
                };
                let at = format!("/{}", path.join("/"));
                if let Some(slot) = value.pointer_mut(&at) {
                    *slot = resolved;
                }
            }
            if failed {
                return None;
            }
            Some(
                Template::compile(&value, locals)
                    .map_err(|e| reader.error(&wp, with.position, e.to_string()))
                    .ok()?,
            )
        }
        None => None,
    };
    Some(StateKind::Operation(OperationState {
        action_mode: ActionMode::Sequential,
        actions: vec![Action {
            name: None,
            function_ref: FunctionRef {
                ref_name: name,
                parameters: Parameters::default(),
            },
            action_data_filter: None,
            timeout: None,
            arguments,
        }],
        retry: Vec::new(),
        exit,
    }))
}

/// The state of reusable task `name` of `use.functions`, read at its own
/// pointer the first time (so that its errors are reported once, there)
/// with no `for` or `catch` variables in scope. `call` is the calling site,
/// where a cycle is reported (none: checking an unused one).
fn reusable_state(
    reader: &mut Reader,
    name: &str,
    call: Option<(&Pointer, Position)>,
    uses: &mut Uses,
) -> Option<State> {
    if let Some(state) = uses.reusable_states.get(name) {
        return state.clone();
    }
    if let Some(at) = uses.reading.iter().position(|n| n == name) {
        let cycle: Vec<&str> = uses.reading[at..]
            .iter()
            .map(String::as_str)
            .chain([name])
            .collect();
        if let Some((p, position)) = call {
            reader.error(
                p,
                position,
                format!(
                    "function '{name}' of 'use.functions' calls itself ({}); a reusable task cannot call itself, directly or through another",
                    cycle.join(" -> ")
                ),
            );
        }
        return None;
    }
    let node = uses.reusable.get(name)?.clone();
    let entry = Entry {
        name: name.to_string(),
        task: &node,
        pointer: Pointer::root().key("use").key("functions").key(name),
    };
    let references = HashMap::new();
    // One task alone: `continue` and `exit` end it, `end` ends the workflow.
    let scope = Scope {
        references: &references,
        next: None,
    };
    uses.reading.push(name.to_string());
    let state = read_task(reader, &entry, &scope, &[], uses).map(|mut state| {
        state.start = Some(Start::Default);
        state
    });
    uses.reading.pop();
    uses.reusable_states.insert(name.to_string(), state.clone());
    state
}

/// Where the `with` of a protocol call may carry an authentication.
fn authentication_paths(call: &str) -> &'static [&'static [&'static str]] {
    match call {
        "http" => &[&["endpoint", "authentication"]],
        "openapi" => &[
            &["document", "endpoint", "authentication"],
            &["authentication"],
        ],
        _ => &[],
    }
}

/// A call's authentication: `{use: name}` of `use.authentications`, or one
/// written inline; the definition to send, checked.
fn use_authentication(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    what: &str,
    uses: &Uses,
) -> Option<Value> {
    let Some(used) = node.get("use") else {
        return read_authentication(reader, node, p, what, uses);
    };
    let up = p.key("use");
    let name = reader.string(used, &up, "'authentication.use'")?;
    match uses.authentications.get(&name) {
        Some(definition) => definition.clone(),
        None => {
            let hint = did_you_mean(&name, uses.authentications.keys().map(String::as_str));
            reader.error(
                &up,
                used.position,
                format!(
                    "{what} uses authentication '{name}', which is not defined in 'use.authentications'{hint}"
                ),
            );
            None
        }
    }
}

/// An authentication definition, inline or in `use.authentications`:
/// `basic` (`username`, `password`) or `bearer` (`token`), whose strings may
/// be expressions, or `{use: secret}` (a secret of `use.secrets` holding
/// those fields). The other schemes are refused by name.
fn read_authentication(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    what: &str,
    uses: &Uses,
) -> Option<Value> {
    let members = reader.object(node, p, "an authentication")?;
    if let Some((key, _)) = members.iter().find(|(k, _)| k.name == "use") {
        reader.error(
            &p.key("use"),
            key.position,
            format!("{what} is in 'use.authentications' and cannot 'use' another; write its scheme (basic or bearer)"),
        );
        return None;
    }
    let Some((key, scheme)) = members.first() else {
        reader.error(
            p,
            node.position,
            format!("{what} needs a scheme: basic or bearer"),
        );
        return None;
    };
    let sp = p.key(&key.name);
    if REFUSED_AUTHENTICATIONS.contains(&key.name.as_str()) {
        reader.error(
            &sp,
            key.position,
            format!(
                "{what}: '{}' authentication is not supported; swirl sends basic and bearer authentications",
                key.name
            ),
        );
        return None;
    }
    if !AUTHENTICATION_SCHEMES.contains(&key.name.as_str()) || members.len() > 1 {
        reader.error(
            p,
            node.position,
            format!("{what} must have one scheme, basic or bearer"),
        );
        return None;
    }
    let fields: &[&str] = if key.name == "basic" {
        &["username", "password"]
    } else {
        &["token"]
    };
    let scheme_what = format!("'{}' of {what}", key.name);
    reader.object(scheme, &sp, &scheme_what)?;
    if let Some(secret) = scheme.get("use") {
        let up = sp.key("use");
        let name = reader.string(secret, &up, "a secret's name")?;
        if !uses.secrets.contains(&name) {
            let hint = did_you_mean(&name, uses.secrets.iter().map(String::as_str));
            reader.error(
                &up,
                secret.position,
                format!("{what} uses secret '{name}', which is not listed in 'use.secrets'{hint}"),
            );
            return None;
        }
        // The secret holds the scheme's fields; `$secrets` reads it.
        let mut definition = Map::new();
        definition.insert(
            key.name.clone(),
            Value::String(format!("${{ $secrets[{}] }}", Value::String(name))),
        );
        return Some(Value::Object(definition));
    }
    reader.unknown_keys(scheme, &sp, fields, &scheme_what);
    for field in fields {
        reader.required(scheme, &sp, field, &scheme_what)?;
    }
    Some(node.to_value())
}

fn read_for(
    reader: &mut Reader,
    task: TaskSite<'_>,
    uses: &mut Uses,
    exit: Exit,
) -> Option<StateKind> {
    let TaskSite {
        node,
        p,
        body,
        locals,
        ..
    } = task;
    let fp = p.key("for");
    reader.object(body, &fp, "'for'")?;
    let each = reader
        .optional_string(body, &fp, "each", "'for'")
        .unwrap_or_else(|| "item".into());
    let at = reader
        .optional_string(body, &fp, "at", "'for'")
        .unwrap_or_else(|| "index".into());
    // An inline array is JSON, which is also the jq expression yielding it.
    let collection = match body.get("in") {
        Some(
            array @ Node {
                value: NodeValue::Array(_),
                ..
            },
        ) => Jq::compile(&array.to_value().to_string(), locals)
            .map_err(|e| reader.error(&fp.key("in"), array.position, e.to_string()))
            .ok()?,
        _ => {
            let Some(collection) = expression(reader, body, &fp, "in", locals)? else {
                reader.required(body, &fp, "in", "'for'");
                return None;
            };
            collection
        }
    };
    let mut inner: Vec<String> = locals.to_vec();
    inner.extend([each.clone(), at.clone()]);
    let while_ = expression(reader, node, p, "while", &inner)?;
    let tasks = reader.required(node, p, "do", "a 'for' task")?;
    Some(StateKind::For(ForState {
        each,
        at,
        collection,
        while_,
        states: read_tasks(reader, tasks, &p.key("do"), &inner, uses)?,
        exit,
    }))
}

fn read_fork(
    reader: &mut Reader,
    body: &Node,
    p: &Pointer,
    locals: &[String],
    uses: &mut Uses,
    exit: Exit,
) -> Option<StateKind> {
    reader.object(body, p, "'fork'")?;
    let compete = reader
        .optional_bool(body, p, "compete", false)
        .unwrap_or(false);
    let list = reader.required(body, p, "branches", "'fork'")?;
    let bp = p.key("branches");
    let items = reader.array(list, &bp, "'fork.branches'")?;
    let mut branches = Vec::new();
    for (index, item) in items.iter().enumerate() {
        // Each branch is one task: a task list of its own, of length one.
        let single = Node {
            value: NodeValue::Array(vec![item.clone()]),
            position: item.position,
        };
        let name = match &item.value {
            NodeValue::Object(members) if members.len() == 1 => members[0].0.name.clone(),
            _ => index.to_string(),
        };
        let states = read_tasks_from(reader, &single, &bp, index, locals, uses)?;
        branches.push(Branch {
            name,
            states,
            wait_for_completion: true,
        });
    }
    Some(StateKind::Parallel(ParallelState {
        branches,
        compete,
        retry: Vec::new(),
        exit,
    }))
}

fn read_switch(
    reader: &mut Reader,
    body: &Node,
    p: &Pointer,
    scope: &Scope<'_>,
    locals: &[String],
    exit: Exit,
) -> Option<StateKind> {
    let items = reader.array(body, p, "'switch'")?;
    let mut cases = Vec::new();
    let mut failed = false;
    for (index, item) in items.iter().enumerate() {
        let ip = p.index(index);
        let NodeValue::Object(members) = &item.value else {
            reader.error(
                &ip,
                item.position,
                "each case of a switch must be an object with one member, the case's name",
            );
            failed = true;
            continue;
        };
        let Some((key, case)) = members.first() else {
            failed = true;
            continue;
        };
        let cp = ip.key(&key.name);
        let when = expression(reader, case, &cp, "when", locals);
        let then = scope.exit(reader, case.get("then"), &cp.key("then"));
        match (when, then) {
            (Some(when), Some(then)) => cases.push(Case {
                name: key.name.clone(),
                when,
                then,
            }),
            _ => failed = true,
        }
    }
    (!failed).then_some(StateKind::Cases(CasesState {
        cases,
        otherwise: exit,
    }))
}

fn read_try(
    reader: &mut Reader,
    task: TaskSite<'_>,
    uses: &mut Uses,
    exit: Exit,
) -> Option<StateKind> {
    let TaskSite {
        node,
        p,
        body,
        locals,
        ..
    } = task;
    let states = read_tasks(reader, body, &p.key("try"), locals, uses);
    let catch = reader.required(node, p, "catch", "a 'try' task")?;
    let cp = p.key("catch");
    reader.object(catch, &cp, "'catch'")?;
    let variable = reader
        .optional_string(catch, &cp, "as", "'catch'")
        .unwrap_or_else(|| "error".into());
    let mut inner = locals.to_vec();
    inner.push(variable.clone());
    let with = match catch.get("errors").and_then(|e| e.get("with")) {
        Some(with) => match with.to_value() {
            Value::Object(map) => map,
            _ => {
                reader.error(
                    &cp.key("errors").key("with"),
                    with.position,
                    "'errors.with' must be an object of error properties",
                );
                return None;
            }
        },
        None => Map::new(),
    };
    let when = expression(reader, catch, &cp, "when", &inner);
    let except_when = expression(reader, catch, &cp, "exceptWhen", &inner);
    let retry = match catch.get("retry") {
        None => Some(None),
        Some(retry) => read_retry(reader, retry, &cp.key("retry"), &inner, uses).map(Some),
    };
    let catch_states = match catch.get("do") {
        None => Some(Vec::new()),
        Some(tasks) => read_tasks(reader, tasks, &cp.key("do"), &inner, uses),
    };
    Some(StateKind::Try(TryState {
        states: states?,
        catch: Catch {
            with,
            variable,
            when: when?,
            except_when: except_when?,
            retry: retry?,
            states: catch_states?,
        },
        exit,
    }))
}

fn read_retry(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    locals: &[String],
    uses: &Uses,
) -> Option<RetryPolicy> {
    if let Some(name) = node.as_str() {
        let Some(defined) = uses.retries.get(name).cloned() else {
            let hint = did_you_mean(name, uses.retries.keys().map(String::as_str));
            reader.error(
                p,
                node.position,
                format!("retry policy '{name}' is not defined in 'use.retries'{hint}"),
            );
            return None;
        };
        return read_retry(reader, &defined, p, locals, uses);
    }
    reader.object(node, p, "'retry'")?;
    let when = expression(reader, node, p, "when", locals)?;
    let except_when = expression(reader, node, p, "exceptWhen", locals)?;
    let delay = match node.get("delay") {
        Some(delay) => read_task_duration(reader, delay, &p.key("delay"), locals)?,
        None => TaskDuration::Fixed(IsoDuration::from_millis(0)),
    };
    let backoff = match node.get("backoff") {
        None => Backoff::Constant,
        Some(backoff) => {
            let bp = p.key("backoff");
            reader.object(backoff, &bp, "'backoff'")?;
            if backoff.get("exponential").is_some() {
                Backoff::Exponential
            } else if backoff.get("linear").is_some() {
                Backoff::Linear
            } else {
                Backoff::Constant
            }
        }
    };
    let limit = node.get("limit");
    let limit_attempts = match limit
        .and_then(|l| l.get("attempt"))
        .and_then(|a| a.get("count"))
    {
        Some(count) => match count.to_value().as_u64() {
            Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            None => {
                reader.error(
                    &p.key("limit").key("attempt").key("count"),
                    count.position,
                    "'limit.attempt.count' must be a whole number",
                );
                return None;
            }
        },
        None => None,
    };
    let limit_duration = match limit.and_then(|l| l.get("duration")) {
        Some(d) => Some(read_task_duration(
            reader,
            d,
            &p.key("limit").key("duration"),
            locals,
        )?),
        None => None,
    };
    let jitter = match node.get("jitter") {
        Some(jitter) => {
            let jp = p.key("jitter");
            let from = reader.required(jitter, &jp, "from", "'jitter'")?;
            let to = reader.required(jitter, &jp, "to", "'jitter'")?;
            Some((
                read_task_duration(reader, from, &jp.key("from"), locals)?,
                read_task_duration(reader, to, &jp.key("to"), locals)?,
            ))
        }
        None => None,
    };
    Some(RetryPolicy {
        when,
        except_when,
        delay,
        backoff,
        limit_attempts,
        limit_duration,
        jitter,
    })
}

/// A task's duration or the workflow's timeout: as [`read_duration`] reads
/// it, or `${ … }`, compiled with the task's `locals` (none for the
/// workflow's) for the engine to compute when it needs it.
fn read_task_duration(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    locals: &[String],
) -> Option<TaskDuration> {
    if let Some(source) = node.as_str().and_then(strip_braces) {
        return Jq::compile(source, locals)
            .map(TaskDuration::Computed)
            .map_err(|e| reader.error(p, node.position, e.to_string()))
            .ok();
    }
    read_duration(reader, node, p).map(TaskDuration::Fixed)
}

/// A 1.0 duration: an ISO 8601 string or `{days, hours, minutes, seconds, milliseconds}`.
/// Only a task's and the workflow's timeout may be an expression
/// ([`read_task_duration`]): here (the schedule's) no instance, and so no
/// data, exists yet to compute one from.
fn read_duration(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<IsoDuration> {
    if let Some(text) = node.as_str() {
        if text.trim_start().starts_with("${") {
            reader.error(
                p,
                node.position,
                "a duration computed by an expression is not supported here, where there is no data to compute it from (a task's wait, timeout and retry durations and the workflow's timeout may be computed); write it in ISO 8601 ('PT30S') or as {seconds: 30}",
            );
            return None;
        }
        return IsoDuration::parse(text)
            .map_err(|e| reader.error(p, node.position, format!("invalid duration: {e}")))
            .ok();
    }
    let members = reader.object(node, p, "a duration")?;
    let mut millis: u64 = 0;
    for (key, value) in members {
        let unit = match unit_millis(&key.name) {
            Ok(unit) => unit,
            Err(why) => {
                reader.error(&p.key(&key.name), key.position, why);
                return None;
            }
        };
        let Some(count) = value.to_value().as_u64() else {
            reader.error(
                &p.key(&key.name),
                value.position,
                format!("'{}' must be a whole number", key.name),
            );
            return None;
        };
        millis = millis.saturating_add(count.saturating_mul(unit));
    }
    Some(IsoDuration::from_millis(millis))
}

fn read_emit(
    reader: &mut Reader,
    body: &Node,
    p: &Pointer,
    locals: &[String],
    exit: Exit,
) -> Option<StateKind> {
    let event = reader.required(body, p, "event", "'emit'")?;
    let ep = p.key("event");
    let with = reader.required(event, &ep, "with", "'emit.event'")?;
    let wp = ep.key("with");
    reader.object(with, &wp, "'emit.event.with'")?;
    for required in ["source", "type"] {
        reader.required(with, &wp, required, "'emit.event.with'")?;
    }
    Some(StateKind::Emit(EmitState {
        event: template(reader, with, &wp, locals)?,
        exit,
    }))
}

fn read_run(
    reader: &mut Reader,
    body: &Node,
    p: &Pointer,
    locals: &[String],
    exit: Exit,
) -> Option<StateKind> {
    reader.object(body, p, "'run'")?;
    let Some(workflow) = body.get("workflow") else {
        let what = ["container", "shell", "script"]
            .into_iter()
            .find(|k| body.get(k).is_some())
            .unwrap_or("this process");
        reader.error(
            p,
            body.position,
            format!("'run: {what}' is not supported; swirl runs workflows ('run: workflow') and the app's functions ('call')"),
        );
        return None;
    };
    let wp = p.key("workflow");
    let name = reader.required_string(workflow, &wp, "name", "'run.workflow'")?;
    let input = match workflow.get("input") {
        Some(input) => Some(template(reader, input, &wp.key("input"), locals)?),
        None => None,
    };
    let wait = reader.optional_bool(body, p, "await", true).unwrap_or(true);
    Some(StateKind::SubFlow(SubFlowState {
        workflow_id: name,
        input,
        wait_for_completion: wait,
        exit,
    }))
}

/// `listen`: an event state over event definitions made from its filters,
/// named `<task pointer>/listen/to/<strategy>[/<index>]` (and
/// `…/listen/to/until/<strategy>[/<index>]` for those of `until`).
fn read_listen(
    reader: &mut Reader,
    task: TaskSite<'_>,
    uses: &mut Uses,
    exit: Exit,
) -> Option<StateKind> {
    let TaskSite {
        node,
        p,
        body,
        locals,
        ..
    } = task;
    let lp = p.key("listen");
    reader.object(body, &lp, "'listen'")?;
    reader.unknown_keys(body, &lp, &["to", "read"], "'listen'");
    let foreach = match node.get("foreach") {
        Some(foreach) => Some(read_listen_foreach(
            reader,
            foreach,
            &p.key("foreach"),
            locals,
            uses,
        )?),
        None => None,
    };
    let read = read_event_read(reader, body, &lp, "listen.read")?;
    let to = reader.required(body, &lp, "to", "'listen'")?;
    let tp = lp.key("to");
    reader.object(to, &tp, "'listen.to'")?;
    let (strategy, names) = read_consumption(reader, to, &tp, locals, uses, "listen.to")?;
    let until = match to.get("until") {
        None => None,
        Some(until) if strategy != "any" => {
            reader.warning(
                &tp.key("until"),
                until.position,
                format!("'until' applies to 'any' only and is ignored with '{strategy}'"),
            );
            None
        }
        Some(until) => {
            let up = tp.key("until");
            if until.as_str().is_some() {
                Some(Until::Condition(expression(
                    reader, to, &tp, "until", locals,
                )??))
            } else {
                reader.object(until, &up, "'listen.to.until'")?;
                if let Some(nested) = until.get("until") {
                    reader.error(
                        &up.key("until"),
                        nested.position,
                        "'until' inside 'until' means nothing; end the listen with one condition",
                    );
                    return None;
                }
                let (strategy, events) =
                    read_consumption(reader, until, &up, locals, uses, "listen.to.until")?;
                Some(Until::Events {
                    all: strategy == "all",
                    events,
                })
            }
        }
    };
    let mut events_actions: Vec<EventActions> = names
        .into_iter()
        .map(|name| EventActions {
            event_refs: vec![name],
            action_mode: ActionMode::Sequential,
            actions: Vec::new(),
            event_data_filter: None,
        })
        .collect();
    // The events of `until` are waited for by the same state, after those
    // of `to`; the interpreter tells them apart by the listen's `until`.
    if let Some(Until::Events { events, .. }) = &until {
        events_actions.extend(events.iter().map(|name| EventActions {
            event_refs: vec![name.clone()],
            action_mode: ActionMode::Sequential,
            actions: Vec::new(),
            event_data_filter: None,
        }));
    }
    Some(StateKind::Event(EventState {
        exclusive: strategy != "all",
        events_actions,
        timeout: None,
        retry: Vec::new(),
        listen: Some(Box::new(Listen {
            read,
            until,
            foreach,
        })),
        exit,
    }))
}

/// A listen's `foreach` (a subscription iterator): `item` and `at` name
/// the variables its tasks, `output.as` and `export.as` see.
fn read_listen_foreach(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    locals: &[String],
    uses: &mut Uses,
) -> Option<ListenForeach> {
    reader.object(node, p, "'foreach'")?;
    reader.unknown_keys(
        node,
        p,
        &["item", "at", "do", "output", "export"],
        "'foreach'",
    );
    let item = reader
        .optional_string(node, p, "item", "'foreach'")
        .unwrap_or_else(|| "item".into());
    let at = reader
        .optional_string(node, p, "at", "'foreach'")
        .unwrap_or_else(|| "index".into());
    let mut inner: Vec<String> = locals.to_vec();
    inner.extend([item.clone(), at.clone()]);
    let states = match node.get("do") {
        Some(tasks) => read_tasks(reader, tasks, &p.key("do"), &inner, uses),
        None => Some(Vec::new()),
    };
    let output = read_io(reader, node, p, "output", "as", &inner);
    let export = read_io(reader, node, p, "export", "as", &inner);
    let (output, export) = (output?, export?);
    Some(ListenForeach {
        item,
        at,
        states: states?,
        output_as: output.transform,
        output_schema: output.schema,
        export_as: export.transform,
        export_schema: export.schema,
    })
}

/// `read: data | envelope | raw` (data when absent).
fn read_event_read(reader: &mut Reader, node: &Node, p: &Pointer, what: &str) -> Option<EventRead> {
    let Some(read) = node.get("read") else {
        return Some(EventRead::Data);
    };
    match read.as_str() {
        Some("data") => Some(EventRead::Data),
        Some("envelope") => Some(EventRead::Envelope),
        Some("raw") => Some(EventRead::Raw),
        _ => {
            reader.error(
                &p.key("read"),
                read.position,
                format!("'{what}' must be data, envelope or raw"),
            );
            None
        }
    }
}

/// An event consumption strategy (`listen.to`, `schedule.on`, named `what`
/// in messages): `one`, `any` or `all`, and the names of the event
/// definitions made from its filters (their pointers). Its `until` is the
/// caller's. `locals` are the `for` and `catch` variables a listen's
/// filters may use (none for `schedule.on`: no instance exists yet).
fn read_consumption(
    reader: &mut Reader,
    to: &Node,
    tp: &Pointer,
    locals: &[String],
    uses: &mut Uses,
    what: &str,
) -> Option<(&'static str, Vec<String>)> {
    reader.unknown_keys(
        to,
        tp,
        &["one", "any", "all", "until"],
        &format!("'{what}'"),
    );
    let (strategy, filters): (&'static str, Vec<(Pointer, &Node)>) = if let Some(one) =
        to.get("one")
    {
        ("one", vec![(tp.key("one"), one)])
    } else if let Some((name, list)) = ["any", "all"]
        .into_iter()
        .find_map(|name| to.get(name).map(|list| (name, list)))
    {
        let items = reader.array(list, &tp.key(name), &format!("'{what}.{name}'"))?;
        // `any: []` is every event: a definition without type or source.
        if items.is_empty() && name == "any" && what == "listen.to" {
            let definition = EventDefinition {
                name: tp.key(name).to_string(),
                source: String::new(),
                event_type: String::new(),
                correlation_token: None,
                metadata: Metadata::new(),
                filter: None,
            };
            let names = vec![definition.name.clone()];
            uses.events.push(definition);
            return Some((name, names));
        }
        if items.is_empty() {
            let why = match (name, what) {
                ("all", _) => {
                    "waits for nothing; name the events (or listen to 'any: []', every event)"
                }
                (_, "schedule.on") => "(every event) cannot start instances; name the events' type",
                _ => "(every event) cannot end a listen; name the events' type",
            };
            reader.error(
                &tp.key(name),
                list.position,
                format!("an empty '{what}.{name}' {why}"),
            );
            return None;
        }
        (
            name,
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (tp.key(name).index(i), item))
                .collect(),
        )
    } else {
        reader.error(
            tp,
            to.position,
            format!("'{what}' needs one of one, any or all"),
        );
        return None;
    };
    let mut names = Vec::new();
    let mut failed = false;
    for (fp, filter) in filters {
        match read_event_filter(reader, filter, &fp, locals, what) {
            Some(definition) => {
                names.push(definition.name.clone());
                uses.events.push(definition);
            }
            None => failed = true,
        }
    }
    (!failed).then_some((strategy, names))
}

/// One event filter at `fp` of `what` (`listen.to`, `schedule.on`, ...):
/// its `with` (type required, source optional: an empty source takes
/// events of every source) and its `correlate`. A listen's may compute its
/// type and source on its input; `schedule.on` has no input to do it on.
/// Its computed type and source and its correlations see `locals`; `with`
/// sees the event alone.
fn read_event_filter(
    reader: &mut Reader,
    filter: &Node,
    fp: &Pointer,
    locals: &[String],
    what: &str,
) -> Option<EventDefinition> {
    reader.object(filter, fp, "an event filter")?;
    reader.unknown_keys(filter, fp, &["with", "correlate"], "an event filter");
    let with = reader.required(filter, fp, "with", "an event filter")?;
    let wp = fp.key("with");
    let members = reader.object(with, &wp, "'with'")?;
    // The event index finds waiting instances by type and source.
    let event_type = reader.required_string(with, &wp, "type", "an event filter");
    let source = match with.get("source") {
        Some(_) => reader.required_string(with, &wp, "source", "an event filter"),
        None => Some(String::new()),
    };
    let mut failed = false;
    let mut computed = [None, None];
    for (slot, (key, text)) in [("type", &event_type), ("source", &source)]
        .into_iter()
        .enumerate()
    {
        let Some(text) = text.as_deref().filter(|t| t.contains("${")) else {
            continue;
        };
        let compiled = match strip_braces(text) {
            _ if what == "schedule.on" => Err(format!(
                "a 'schedule.on' filter's '{key}' computed by an expression is not supported: no instance, and so no data to compute it from, exists before the event; write it as the events carry it"
            )),
            None => Err(format!(
                "an event filter's '{key}' is matched as written or computed by a whole '${{ }}' expression, not filled in from one"
            )),
            Some(jq) => Jq::compile(jq, locals).map_err(|e| e.to_string()),
        };
        match compiled {
            Ok(jq) => computed[slot] = Some(jq),
            Err(why) => {
                let position = with.get(key).map_or(with.position, |n| n.position);
                reader.error(&wp.key(key), position, why);
                failed = true;
            }
        }
    }
    let [computed_type, computed_source] = computed;
    let mut filter_with = Vec::new();
    for (key, value) in members
        .iter()
        .filter(|(k, _)| k.name != "type" && k.name != "source")
    {
        let kp = wp.key(&key.name);
        let wanted = match &value.value {
            NodeValue::String(text) => match strip_braces(text) {
                Some(source) => Jq::compile(source, &[])
                    .map(AttributeMatch::Expression)
                    .map_err(|e| reader.error(&kp, value.position, e.to_string()))
                    .ok(),
                None if key.name == "data" => Some(AttributeMatch::Value(value.to_value())),
                None => Pattern::new(text)
                    .map(AttributeMatch::Pattern)
                    .map_err(|e| {
                        // The parser's message draws the pattern over lines;
                        // its last line says what is wrong.
                        let text = e.to_string();
                        let why = text.lines().last().unwrap_or_default();
                        let why = why.trim_start_matches("error: ");
                        reader.error(
                            &kp,
                            value.position,
                            format!(
                                "'{}' is no regular expression ({why}); escape its special characters to match them as written",
                                key.name
                            ),
                        )
                    })
                    .ok(),
            },
            // Context attributes arrive as strings: `attempt: 2` matches "2".
            NodeValue::Bool(_) | NodeValue::Number(_) if key.name != "data" => {
                Pattern::new(&regex::escape(&value.to_value().to_string()))
                    .ok()
                    .map(AttributeMatch::Pattern)
            }
            _ => Some(AttributeMatch::Value(value.to_value())),
        };
        match wanted {
            Some(wanted) => filter_with.push((key.name.to_ascii_lowercase(), wanted)),
            None => failed = true,
        }
    }
    let mut correlate = Vec::new();
    if let Some(node) = filter.get("correlate") {
        let cp = fp.key("correlate");
        for (key, entry) in reader.object(node, &cp, "'correlate'").unwrap_or(&[]) {
            let ep = cp.key(&key.name);
            let what = format!("correlation '{}'", key.name);
            if reader.object(entry, &ep, &what).is_none() {
                failed = true;
                continue;
            }
            reader.unknown_keys(entry, &ep, &["from", "expect"], &what);
            let from = match expression(reader, entry, &ep, "from", locals) {
                Some(Some(from)) => Some(from),
                Some(None) => {
                    reader.required(entry, &ep, "from", &what);
                    None
                }
                None => None,
            };
            let expect = match entry.get("expect") {
                None => Some(None),
                Some(expect) => template(reader, expect, &ep.key("expect"), locals).map(Some),
            };
            match (from, expect) {
                (Some(from), Some(expect)) => correlate.push(Correlation {
                    name: key.name.clone(),
                    from,
                    expect,
                }),
                _ => failed = true,
            }
        }
    }
    let filter = (!filter_with.is_empty()
        || !correlate.is_empty()
        || computed_type.is_some()
        || computed_source.is_some())
    .then(|| {
        Box::new(EventFilter {
            with: filter_with,
            correlate,
            computed_type,
            computed_source,
        })
    });
    if failed {
        return None;
    }
    Some(EventDefinition {
        name: fp.to_string(),
        source: source?,
        event_type: event_type?,
        correlation_token: None,
        metadata: Metadata::new(),
        filter,
    })
}
