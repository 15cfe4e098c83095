//! Reads the v0.1 dialect (`spec/serverless-workflow-v0.1`) into the model.
//!
//! The schema is the field reference: required fields and types are checked
//! here, per state type. Its per-state `oneOf` is read as `anyOf` (a start
//! state with `end` matches two branches, so the verbatim schema rejects the
//! spec's own examples); the rule it means, "a state transitions or ends", is
//! enforced by [`Exit`]. Enum values are accepted in any case because the
//! spec's own examples write `actionMode: Sequential`.

use serde_json::Map;

use super::diagnostic::Pointer;
use super::duration::{RepeatingInterval, ScheduleInterval};
use super::model::*;
use super::reader::{Reader, Site, StateFact, article, enum_value, one_of};
use super::source::{Node, NodeValue};

const STATE_TYPES: &[&str] = &[
    "EVENT",
    "OPERATION",
    "SWITCH",
    "DELAY",
    "PARALLEL",
    "SUBFLOW",
    "RELAY",
    "FOREACH",
    "CALLBACK",
];

/// Reads a whole v0.1 definition. `fallback_id` is the file stem.
pub fn read_definition(
    reader: &mut Reader,
    root: &Node,
    fallback_id: Option<&str>,
) -> Option<WorkflowDefinition> {
    let p = Pointer::root();
    reader.unknown_keys(
        root,
        &p,
        &[
            "id",
            "name",
            "description",
            "version",
            "schemaVersion",
            "expressionLanguage",
            "dataInputSchema",
            "dataOutputSchema",
            "events",
            "functions",
            "states",
            "extensions",
            "metadata",
        ],
        "the workflow",
    );
    let id = reader.optional_string(root, &p, "id", "the workflow");
    let name = reader.optional_string(root, &p, "name", "the workflow");
    let version = reader.optional_string(root, &p, "version", "the workflow");
    for (field, present) in [
        ("id", root.get("id").is_some()),
        ("name", root.get("name").is_some()),
        ("version", root.get("version").is_some()),
    ] {
        if !present {
            reader.warning(
                &p,
                root.position,
                format!("the v0.1 schema requires the workflow field '{field}'; add it"),
            );
        }
    }
    if let Some(language) = reader.optional_string(root, &p, "expressionLanguage", "the workflow")
        && !language.eq_ignore_ascii_case(super::expression::SUPPORTED_LANGUAGE)
    {
        let position = root
            .get("expressionLanguage")
            .map_or(root.position, |n| n.position);
        let site = Site {
            pointer: p.key("expressionLanguage"),
            position,
        };
        reader.foreign_language = Some((language, site));
    }
    let functions = read_list(reader, root, &p, "functions", read_function);
    let events = read_list(reader, root, &p, "events", read_event);
    let states_position = root.get("states").map_or(root.position, |n| n.position);
    let scope = reader.new_scope(
        "the workflow".to_owned(),
        Site {
            pointer: p.key("states"),
            position: states_position,
        },
        false,
    );
    let states = match reader.required(root, &p, "states", "the workflow") {
        Some(node) => read_states(reader, node, &p.key("states"), scope),
        None => None,
    };
    let extensions = match root.get("extensions") {
        Some(node) => reader
            .array(node, &p.key("extensions"), "'extensions'")
            .map(|items| items.iter().map(Node::to_value).collect()),
        None => Some(Vec::new()),
    };
    let metadata = metadata(reader, root, &p);
    let id = id
        .clone()
        .or_else(|| name.clone())
        .or_else(|| fallback_id.map(str::to_owned));
    if id.is_none() {
        reader.error(
            &p,
            root.position,
            "the workflow has no 'id' or 'name' and no file name to fall back on; add an 'id'",
        );
    }
    refuse_schemas(reader, root, &p, "the workflow");
    Some(WorkflowDefinition {
        id: id?,
        name,
        version,
        description: reader.optional_string(root, &p, "description", "the workflow"),
        schema_version: reader.optional_string(root, &p, "schemaVersion", "the workflow"),
        expression_language: ExpressionLanguage::JsonPath,
        events: events?,
        functions: functions?,
        states: states?,
        extensions: extensions?,
        metadata: metadata?,
        input_from: None,
        input_schema: None,
        output_schema: None,
        output_as: None,
        timeout: None,
        schedule: None,
        secrets: Vec::new(),
        document: serde_json::Value::Null,
    })
}

/// Reads an optional array member with `item` per element; `None` if any failed.
fn read_list<T>(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    name: &str,
    item: fn(&mut Reader, &Node, &Pointer) -> Option<T>,
) -> Option<Vec<T>> {
    let Some(list) = node.get(name) else {
        return Some(Vec::new());
    };
    let items = reader.array(list, &p.key(name), &format!("'{name}'"))?;
    let results: Vec<Option<T>> = items
        .iter()
        .enumerate()
        .map(|(i, n)| item(reader, n, &p.key(name).index(i)))
        .collect();
    results.into_iter().collect()
}

pub fn metadata(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<Metadata> {
    match node.get("metadata") {
        None => Some(Map::new()),
        Some(value) => {
            reader.object(value, &p.key("metadata"), "'metadata'")?;
            match value.to_value() {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            }
        }
    }
}

fn read_function(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<FunctionDefinition> {
    reader.object(node, p, "a function definition")?;
    reader.unknown_keys(
        node,
        p,
        &["name", "resource", "type", "metadata"],
        "a function definition",
    );
    let name = reader.required_string(node, p, "name", "a function definition");
    let resource = reader.required_string(node, p, "resource", "a function definition");
    if let Some(name) = &name {
        let position = node.get("name").map_or(node.position, |n| n.position);
        reader.facts.functions.push(super::reader::NameFact {
            name: name.clone(),
            site: Site {
                pointer: p.key("name"),
                position,
            },
        });
    }
    if let Some(resource) = &resource {
        let position = node.get("resource").map_or(node.position, |n| n.position);
        reader.facts.resources.push(super::reader::NameFact {
            name: resource.clone(),
            site: Site {
                pointer: p.key("resource"),
                position,
            },
        });
    }
    let function_type = reader.optional_string(node, p, "type", "a function definition");
    let metadata = metadata(reader, node, p);
    Some(FunctionDefinition {
        name: name?,
        resource: resource?,
        function_type,
        metadata: metadata?,
    })
}

fn read_event(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<EventDefinition> {
    reader.object(node, p, "an event definition")?;
    reader.unknown_keys(
        node,
        p,
        &["name", "source", "type", "correlationToken", "metadata"],
        "an event definition",
    );
    let name = reader.required_string(node, p, "name", "an event definition");
    if let Some(name) = &name {
        let position = node.get("name").map_or(node.position, |n| n.position);
        reader.facts.events.push(super::reader::NameFact {
            name: name.clone(),
            site: Site {
                pointer: p.key("name"),
                position,
            },
        });
    }
    let source = reader.required_string(node, p, "source", "an event definition");
    let event_type = reader.required_string(node, p, "type", "an event definition");
    let correlation_token = correlation_token(reader, node, p, "correlationToken");
    let metadata = metadata(reader, node, p);
    Some(EventDefinition {
        name: name?,
        source: source?,
        event_type: event_type?,
        correlation_token,
        metadata: metadata?,
        filter: None,
    })
}

/// Checks a correlation token against the CloudEvents 1.0 rule for attribute
/// names: lower-case ASCII letters and digits, ideally at most 20 characters.
/// Upper case is only a warning because the spec's own examples use
/// `patientId`; the engine matches the lower-cased name.
pub fn correlation_token(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    key: &str,
) -> Option<String> {
    let value = node.get(key)?;
    let p = p.key(key);
    let token = reader.string(value, &p, &format!("'{key}'"))?;
    if !token.chars().all(|c| c.is_ascii_alphanumeric()) {
        reader.error(
            &p,
            value.position,
            format!(
                "correlation token '{token}' is not a CloudEvents attribute name; use only lower-case letters a-z and digits 0-9"
            ),
        );
        return None;
    }
    if token == "data" {
        reader.error(&p, value.position, "correlation token 'data' names the event payload, not a context attribute; name a context attribute such as 'subject' or an extension");
        return None;
    }
    if token.chars().any(|c| c.is_ascii_uppercase()) {
        reader.warning(
            &p,
            value.position,
            format!(
                "CloudEvents attribute names are lower case; correlation token '{token}' will be matched as '{}'",
                token.to_ascii_lowercase()
            ),
        );
    }
    if token.len() > 20 {
        reader.warning(&p, value.position, format!("correlation token '{token}' is longer than the 20 characters CloudEvents recommends for attribute names"));
    }
    Some(token)
}

/// Reads the states of one scope.
pub fn read_states(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    scope: usize,
) -> Option<Vec<State>> {
    let items = reader.array(node, p, "'states'")?;
    if items.is_empty() {
        reader.error(p, node.position, "'states' must list at least one state");
        return None;
    }
    let states: Vec<Option<State>> = items
        .iter()
        .enumerate()
        .map(|(i, n)| read_state(reader, n, &p.index(i), scope))
        .collect();
    states.into_iter().collect()
}

/// swirl checks no data against JSON Schemas, so a definition that names
/// one is refused rather than run unchecked.
fn refuse_schemas(reader: &mut Reader, node: &Node, p: &Pointer, what: &str) {
    for key in ["dataInputSchema", "dataOutputSchema"] {
        if let Some(value) = node.get(key) {
            reader.error(
                &p.key(key),
                value.position,
                format!(
                    "'{key}' of {what} is not supported: swirl does not check data against JSON Schemas; remove it, and check the data in a function or a switch state if it must be"
                ),
            );
        }
    }
}

const COMMON_KEYS: &[&str] = &[
    "id",
    "name",
    "type",
    "start",
    "end",
    "transition",
    "stateDataFilter",
    "onError",
    "dataInputSchema",
    "dataOutputSchema",
    "metadata",
];

fn read_state(reader: &mut Reader, node: &Node, p: &Pointer, scope: usize) -> Option<State> {
    reader.object(node, p, "a state")?;
    let name = reader.required_string(node, p, "name", "a state");
    let label = name
        .as_deref()
        .map_or_else(|| "a state".to_owned(), |n| format!("state '{n}'"));
    let type_text = reader.required_string(node, p, "type", &label);
    let state_type = type_text.as_deref().and_then(|t| {
        let found = STATE_TYPES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(t))
            .copied();
        if found.is_none() {
            let position = node.get("type").map_or(node.position, |n| n.position);
            reader.error(
                &p.key("type"),
                position,
                format!(
                    "{label} has unknown type '{t}'; use one of {}",
                    one_of(STATE_TYPES)
                ),
            );
        }
        found
    });
    let specific: &[&str] = match state_type {
        Some("EVENT") => &["exclusive", "eventsActions", "timeout", "retry"],
        Some("OPERATION") => &["actionMode", "actions", "retry"],
        Some("SWITCH") => &["choices", "default"],
        Some("DELAY") => &["timeDelay"],
        Some("PARALLEL") => &["branches", "retry"],
        Some("SUBFLOW") => &["workflowId", "waitForCompletion"],
        Some("RELAY") => &["inject"],
        Some("FOREACH") => &[
            "inputCollection",
            "outputCollection",
            "inputParameter",
            "max",
            "timeDelay",
            "states",
            "retry",
        ],
        Some("CALLBACK") => &["action", "eventRef", "timeout", "eventDataFilter", "retry"],
        _ => &[],
    };
    if state_type.is_some() {
        let known: Vec<&str> = COMMON_KEYS.iter().chain(specific.iter()).copied().collect();
        reader.unknown_keys(node, p, &known, &label);
    }
    let state_name = name.clone().unwrap_or_default();
    let start = node
        .get("start")
        .and_then(|n| read_start(reader, n, &p.key("start")));
    let state_data_filter = node
        .get("stateDataFilter")
        .and_then(|n| read_state_data_filter(reader, n, &p.key("stateDataFilter")));
    let on_error = read_on_error(reader, node, p, &state_name, scope);
    refuse_schemas(reader, node, p, &label);
    let metadata = metadata(reader, node, p);
    let is_switch = state_type == Some("SWITCH");
    let exit = if is_switch {
        if let Some(end) = node.get("end") {
            reader.error(&p.key("end"), end.position, format!("{label} is a switch state, which cannot end the workflow; remove 'end' and give it a 'default' transition"));
        }
        None
    } else if state_type.is_some() {
        read_exit(reader, node, p, &state_name, scope, &label)
    } else {
        None
    };
    // Record the state even when parts of it failed, so that one bad field
    // does not also report a missing start state or dangling transitions.
    if let Some(name) = &name {
        let position = node.get("name").map_or(node.position, |n| n.position);
        reader.facts.states.push(StateFact {
            name: name.clone(),
            scope,
            site: Site {
                pointer: p.key("name"),
                position,
            },
            is_start: node.get("start").is_some(),
            is_end: node.get("end").is_some(),
        });
    }
    let mut retries = Vec::new();
    if specific.contains(&"retry") {
        retries = read_retries(reader, node, p).unwrap_or_default();
    }
    let kind = match state_type? {
        "EVENT" => {
            let exclusive = reader
                .optional_bool(node, p, "exclusive", false)
                .unwrap_or(true);
            let events_actions = match reader.required(node, p, "eventsActions", &label) {
                Some(list) => {
                    read_events_actions(reader, list, &p.key("eventsActions"), &state_name)
                }
                None => None,
            };
            let timeout = reader.duration(node, p, "timeout");
            StateKind::Event(EventState {
                exclusive,
                events_actions: events_actions?,
                timeout,
                retry: retries,
                listen: None,
                exit: exit?,
            })
        }
        "OPERATION" => {
            let action_mode = action_mode(reader, node, p, "actionMode");
            let actions = match reader.required(node, p, "actions", &label) {
                Some(list) => read_actions(reader, list, &p.key("actions")),
                None => None,
            };
            StateKind::Operation(OperationState {
                action_mode: action_mode?,
                actions: actions?,
                retry: retries,
                exit: exit?,
            })
        }
        "SWITCH" => {
            let choices = match reader.required(node, p, "choices", &label) {
                Some(list) => read_choices(reader, list, &p.key("choices"), &state_name, scope),
                None => None,
            };
            let default = match reader.required(node, p, "default", &label) {
                Some(n) => read_transition(reader, n, &p.key("default"), &state_name, scope),
                None => None,
            };
            StateKind::Switch(SwitchState {
                choices: choices?,
                default: default?,
            })
        }
        "DELAY" => {
            reader.required(node, p, "timeDelay", &label);
            let time_delay = reader.duration(node, p, "timeDelay");
            StateKind::Delay(DelayState {
                time_delay: TaskDuration::Fixed(time_delay?),
                exit: exit?,
            })
        }
        "PARALLEL" => {
            let branches = match reader.required(node, p, "branches", &label) {
                Some(list) => read_branches(reader, list, &p.key("branches"), &state_name),
                None => None,
            };
            StateKind::Parallel(ParallelState {
                branches: branches?,
                compete: false,
                retry: retries,
                exit: exit?,
            })
        }
        "SUBFLOW" => {
            let workflow_id = reader.required_string(node, p, "workflowId", &label);
            let wait_for_completion = reader
                .optional_bool(node, p, "waitForCompletion", false)
                .unwrap_or(false);
            StateKind::SubFlow(SubFlowState {
                workflow_id: workflow_id?,
                input: None,
                wait_for_completion,
                exit: exit?,
            })
        }
        "RELAY" => {
            let inject = match node.get("inject") {
                None => Some(None),
                Some(n) => reader
                    .object(n, &p.key("inject"), "'inject'")
                    .and_then(|_| match n.to_value() {
                        serde_json::Value::Object(map) => Some(Some(map)),
                        _ => None,
                    }),
            };
            StateKind::Relay(RelayState {
                inject: inject?,
                exit: exit?,
            })
        }
        "FOREACH" => {
            reader.required(node, p, "inputCollection", &label);
            reader.required(node, p, "inputParameter", &label);
            let input_collection = reader.path(node, p, "inputCollection", &label);
            let output_collection = reader.path(node, p, "outputCollection", &label);
            let input_parameter = reader.write_path(node, p, "inputParameter", &label);
            let max = reader.optional_count(node, p, "max", false).unwrap_or(0);
            let time_delay = reader.duration(node, p, "timeDelay");
            let inner = reader.new_scope(
                format!("foreach state '{state_name}'"),
                Site {
                    pointer: p.key("states"),
                    position: node.position,
                },
                true,
            );
            let states = match reader.required(node, p, "states", &label) {
                Some(list) => read_states(reader, list, &p.key("states"), inner),
                None => None,
            };
            StateKind::ForEach(ForEachState {
                input_collection: input_collection?,
                output_collection,
                input_parameter: input_parameter?,
                max,
                time_delay,
                states: states?,
                retry: retries,
                exit: exit?,
            })
        }
        "CALLBACK" => {
            let action = match reader.required(node, p, "action", &label) {
                Some(n) => read_action(reader, n, &p.key("action")),
                None => None,
            };
            let event_ref = reader.required_string(node, p, "eventRef", &label);
            if let Some(event) = &event_ref {
                let position = node.get("eventRef").map_or(node.position, |n| n.position);
                reader.facts.event_refs.push(super::reader::NameFact {
                    name: event.clone(),
                    site: Site {
                        pointer: p.key("eventRef"),
                        position,
                    },
                });
            }
            reader.required(node, p, "timeout", &label);
            let timeout = reader.duration(node, p, "timeout");
            let event_data_filter = node
                .get("eventDataFilter")
                .and_then(|n| read_event_data_filter(reader, n, &p.key("eventDataFilter")));
            StateKind::Callback(CallbackState {
                action: action?,
                event_ref: event_ref?,
                timeout: timeout?,
                event_data_filter,
                retry: retries,
                exit: exit?,
            })
        }
        _ => return None,
    };
    let state = State {
        name: name?,
        id: reader.optional_string(node, p, "id", &label),
        kind,
        start,
        state_data_filter,
        on_error: on_error?,
        metadata: metadata?,
        task: None,
    };
    Some(state)
}

fn read_exit(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    state: &str,
    scope: usize,
    label: &str,
) -> Option<Exit> {
    match (node.get("transition"), node.get("end")) {
        (Some(t), Some(end)) => {
            // Read the transition anyway so its target counts as reached.
            let _ = read_transition(reader, t, &p.key("transition"), state, scope);
            reader.error(&p.key("end"), end.position, format!("{label} has both 'transition' and 'end'; a state either transitions or ends, so remove one"));
            None
        }
        (Some(t), None) => {
            read_transition(reader, t, &p.key("transition"), state, scope).map(Exit::Transition)
        }
        (None, Some(e)) => read_end(reader, e, &p.key("end")).map(Exit::End),
        (None, None) => {
            reader.error(p, node.position, format!("{label} has neither 'transition' nor 'end'; add one so the workflow knows what follows"));
            None
        }
    }
}

/// Reads a transition and records its edge.
pub fn read_transition(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    state: &str,
    scope: usize,
) -> Option<Transition> {
    reader.object(node, p, "a transition")?;
    reader.unknown_keys(node, p, &["nextState", "expression"], "a transition");
    let next_state = reader.required_string(node, p, "nextState", "a transition");
    if let Some(target) = &next_state {
        let position = node.get("nextState").map_or(node.position, |n| n.position);
        reader.edge(state, scope, target.clone(), p.key("nextState"), position);
    }
    let expression = match node.get("expression") {
        Some(n) => Some(read_expression(reader, n, &p.key("expression"))?),
        None => None,
    };
    Some(Transition {
        next_state: next_state?,
        expression,
    })
}

fn read_expression(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<ExpressionDef> {
    reader.object(node, p, "an expression")?;
    reader.unknown_keys(node, p, &["language", "body"], "an expression");
    let language = reader.optional_string(node, p, "language", "an expression");
    let body = reader.required_string(node, p, "body", "an expression")?;
    let body_site = Site {
        pointer: p.key("body"),
        position: node.get("body").map_or(node.position, |n| n.position),
    };
    let language_site = Site {
        pointer: p.key("language"),
        position: node.get("language").map_or(node.position, |n| n.position),
    };
    let language = language.as_deref().map(|l| (l, language_site));
    reader
        .condition(&body, language, &body_site)
        .map(ExpressionDef)
}

fn read_end(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<End> {
    reader.object(node, p, "an end definition")?;
    reader.unknown_keys(
        node,
        p,
        &["kind", "produceEvent", "status"],
        "an end definition",
    );
    let kind_text = reader.required_string(node, p, "kind", "an end definition")?;
    let status = match reader.optional_string(node, p, "status", "an end definition") {
        None => CompletionStatus::Success,
        Some(text) => match enum_value(
            &text,
            &[
                ("SUCCESS", CompletionStatus::Success),
                ("FAILURE", CompletionStatus::Failure),
            ],
        ) {
            Some(status) => status,
            None => {
                let position = node.get("status").map_or(node.position, |n| n.position);
                reader.error(
                    &p.key("status"),
                    position,
                    format!("end status '{text}' is unknown; use 'SUCCESS' or 'FAILURE'"),
                );
                return None;
            }
        },
    };
    let kind = match kind_text.to_ascii_uppercase().as_str() {
        "DEFAULT" => EndKind::Default,
        "TERMINATE" => EndKind::Terminate,
        "EVENT" => {
            let produce = reader.required(node, p, "produceEvent", "an end of kind 'EVENT'")?;
            let pp = p.key("produceEvent");
            reader.object(produce, &pp, "'produceEvent'")?;
            reader.unknown_keys(produce, &pp, &["nameRef", "data"], "'produceEvent'");
            let name_ref = reader.required_string(produce, &pp, "nameRef", "'produceEvent'");
            if let Some(name) = &name_ref {
                let position = produce
                    .get("nameRef")
                    .map_or(produce.position, |n| n.position);
                reader.facts.event_refs.push(super::reader::NameFact {
                    name: name.clone(),
                    site: Site {
                        pointer: pp.key("nameRef"),
                        position,
                    },
                });
            }
            let data = reader.path(produce, &pp, "data", "'produceEvent'");
            EndKind::Event {
                produce_event: ProduceEvent {
                    name_ref: name_ref?,
                    data,
                },
            }
        }
        _ => {
            let position = node.get("kind").map_or(node.position, |n| n.position);
            reader.error(
                &p.key("kind"),
                position,
                format!("end kind '{kind_text}' is unknown; use 'DEFAULT', 'TERMINATE' or 'EVENT'"),
            );
            return None;
        }
    };
    Some(End { kind, status })
}

fn read_start(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<Start> {
    reader.object(node, p, "a start definition")?;
    reader.unknown_keys(node, p, &["kind", "schedule"], "a start definition");
    let kind = reader.required_string(node, p, "kind", "a start definition")?;
    match kind.to_ascii_uppercase().as_str() {
        "DEFAULT" => Some(Start::Default),
        "SCHEDULED" => {
            let schedule = reader.required(node, p, "schedule", "a start of kind 'SCHEDULED'")?;
            let sp = p.key("schedule");
            reader.object(schedule, &sp, "'schedule'")?;
            let text = reader.required_string(schedule, &sp, "interval", "'schedule'")?;
            match ScheduleInterval::parse(&text) {
                Ok(interval) => Some(Start::Scheduled {
                    schedule: Schedule { interval },
                }),
                Err(error) => {
                    let position = schedule
                        .get("interval")
                        .map_or(schedule.position, |n| n.position);
                    reader.error(
                        &sp.key("interval"),
                        position,
                        format!("schedule interval is invalid: {error}"),
                    );
                    None
                }
            }
        }
        _ => {
            let position = node.get("kind").map_or(node.position, |n| n.position);
            reader.error(
                &p.key("kind"),
                position,
                format!("start kind '{kind}' is unknown; use 'DEFAULT' or 'SCHEDULED'"),
            );
            None
        }
    }
}

fn read_state_data_filter(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
) -> Option<StateDataFilter> {
    reader.object(node, p, "'stateDataFilter'")?;
    reader.unknown_keys(
        node,
        p,
        &["dataInputPath", "dataOutputPath", "resultPath"],
        "'stateDataFilter'",
    );
    Some(StateDataFilter {
        data_input_path: reader.path(node, p, "dataInputPath", "'stateDataFilter'"),
        result_path: reader.write_path(node, p, "resultPath", "'stateDataFilter'"),
        data_output_path: reader.path(node, p, "dataOutputPath", "'stateDataFilter'"),
    })
}

/// The schema names the event filter's path `dataOutputPath`; the spec's
/// examples write `inputPath` and `dataInputPath`, read as aliases with a warning.
fn read_event_data_filter(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
) -> Option<EventDataFilter> {
    reader.object(node, p, "'eventDataFilter'")?;
    reader.unknown_keys(
        node,
        p,
        &["dataOutputPath", "dataInputPath", "inputPath"],
        "'eventDataFilter'",
    );
    let mut data_output_path = reader.path(node, p, "dataOutputPath", "'eventDataFilter'");
    for alias in ["dataInputPath", "inputPath"] {
        if let Some(value) = node.get(alias) {
            reader.warning(&p.key(alias), value.position, format!("'{alias}' in 'eventDataFilter' is read as 'dataOutputPath', the name the v0.1 schema uses; rename it"));
            if data_output_path.is_none() {
                data_output_path = reader.path(node, p, alias, "'eventDataFilter'");
            }
        }
    }
    Some(EventDataFilter { data_output_path })
}

fn read_on_error(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    state: &str,
    scope: usize,
) -> Option<Vec<ErrorHandler>> {
    let Some(list) = node.get("onError") else {
        return Some(Vec::new());
    };
    let lp = p.key("onError");
    let items = reader.array(list, &lp, "'onError'")?;
    let mut handlers = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let ip = lp.index(i);
        if reader.object(item, &ip, "an onError definition").is_none() {
            ok = false;
            continue;
        }
        reader.unknown_keys(
            item,
            &ip,
            &["expression", "errorDataFilter", "transition"],
            "an onError definition",
        );
        let expression = reader
            .required(item, &ip, "expression", "an onError definition")
            .and_then(|n| read_expression(reader, n, &ip.key("expression")));
        let transition = reader
            .required(item, &ip, "transition", "an onError definition")
            .and_then(|n| read_transition(reader, n, &ip.key("transition"), state, scope));
        let error_data_filter = match item.get("errorDataFilter") {
            Some(f) => {
                let fp = ip.key("errorDataFilter");
                reader.object(f, &fp, "'errorDataFilter'").map(|_| {
                    reader.unknown_keys(f, &fp, &["dataOutputPath"], "'errorDataFilter'");
                    ErrorDataFilter {
                        data_output_path: reader.path(
                            f,
                            &fp,
                            "dataOutputPath",
                            "'errorDataFilter'",
                        ),
                    }
                })
            }
            None => None,
        };
        match (expression, transition) {
            (Some(expression), Some(transition)) => handlers.push(ErrorHandler {
                expression,
                error_data_filter,
                transition,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(handlers)
}

fn read_retries(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<Vec<Retry>> {
    let Some(list) = node.get("retry") else {
        return Some(Vec::new());
    };
    let lp = p.key("retry");
    let items = reader.array(list, &lp, "'retry'")?;
    let results: Vec<Option<Retry>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let ip = lp.index(i);
            reader.object(item, &ip, "a retry definition")?;
            reader.unknown_keys(
                item,
                &ip,
                &["expression", "interval", "multiplier", "maxAttempts"],
                "a retry definition",
            );
            let expression = reader
                .required(item, &ip, "expression", "a retry definition")
                .and_then(|n| read_expression(reader, n, &ip.key("expression")));
            let interval = match item.get("interval") {
                None => Some(None),
                Some(n) => reader
                    .string(n, &ip.key("interval"), "'interval'")
                    .and_then(|text| match RepeatingInterval::parse(&text) {
                        Ok(interval) => Some(Some(interval)),
                        Err(error) => {
                            reader.error(
                                &ip.key("interval"),
                                n.position,
                                format!("'interval' is invalid: {error}"),
                            );
                            None
                        }
                    }),
            };
            let multiplier = reader.duration(item, &ip, "multiplier");
            let multiplier_bad = item.get("multiplier").is_some() && multiplier.is_none();
            let max_attempts = match item.get("maxAttempts") {
                None => Some(1),
                Some(_) => reader
                    .optional_count(item, &ip, "maxAttempts", false)
                    .and_then(|n| u32::try_from(n).ok()),
            };
            if multiplier_bad {
                return None;
            }
            Some(Retry {
                expression: expression?,
                interval: interval?,
                multiplier,
                max_attempts: max_attempts?,
            })
        })
        .collect();
    results.into_iter().collect()
}

fn action_mode(reader: &mut Reader, node: &Node, p: &Pointer, key: &str) -> Option<ActionMode> {
    let Some(value) = node.get(key) else {
        return Some(ActionMode::Sequential);
    };
    let text = reader.string(value, &p.key(key), &format!("'{key}'"))?;
    let mode = enum_value(
        &text,
        &[
            ("SEQUENTIAL", ActionMode::Sequential),
            ("PARALLEL", ActionMode::Parallel),
        ],
    );
    if mode.is_none() {
        reader.error(
            &p.key(key),
            value.position,
            format!("action mode '{text}' is unknown; use 'SEQUENTIAL' or 'PARALLEL'"),
        );
    }
    mode
}

fn read_events_actions(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    _state: &str,
) -> Option<Vec<EventActions>> {
    let items = reader.array(node, p, "'eventsActions'")?;
    let results: Vec<Option<EventActions>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let ip = p.index(i);
            reader.object(item, &ip, "an eventsActions entry")?;
            reader.unknown_keys(
                item,
                &ip,
                &["eventRefs", "actionMode", "actions", "eventDataFilter"],
                "an eventsActions entry",
            );
            let refs = reader
                .required(item, &ip, "eventRefs", "an eventsActions entry")
                .and_then(|n| {
                    let rp = ip.key("eventRefs");
                    let list = reader.array(n, &rp, "'eventRefs'")?;
                    let names: Vec<Option<String>> = list
                        .iter()
                        .enumerate()
                        .map(|(j, e)| {
                            let name = reader.string(e, &rp.index(j), "an event reference")?;
                            reader.facts.event_refs.push(super::reader::NameFact {
                                name: name.clone(),
                                site: Site {
                                    pointer: rp.index(j),
                                    position: e.position,
                                },
                            });
                            Some(name)
                        })
                        .collect();
                    names.into_iter().collect::<Option<Vec<String>>>()
                });
            let action_mode = action_mode(reader, item, &ip, "actionMode");
            let actions = reader
                .required(item, &ip, "actions", "an eventsActions entry")
                .and_then(|n| read_actions(reader, n, &ip.key("actions")));
            let event_data_filter = item
                .get("eventDataFilter")
                .and_then(|n| read_event_data_filter(reader, n, &ip.key("eventDataFilter")));
            Some(EventActions {
                event_refs: refs?,
                action_mode: action_mode?,
                actions: actions?,
                event_data_filter,
            })
        })
        .collect();
    results.into_iter().collect()
}

fn read_actions(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<Vec<Action>> {
    let items = reader.array(node, p, "'actions'")?;
    let results: Vec<Option<Action>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| read_action(reader, item, &p.index(i)))
        .collect();
    results.into_iter().collect()
}

fn read_action(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<Action> {
    reader.object(node, p, "an action")?;
    reader.unknown_keys(
        node,
        p,
        &["name", "functionRef", "actionDataFilter", "timeout"],
        "an action",
    );
    let name = reader.optional_string(node, p, "name", "an action");
    let function_ref = reader
        .required(node, p, "functionRef", "an action")
        .and_then(|n| {
            let fp = p.key("functionRef");
            reader.object(n, &fp, "'functionRef'")?;
            reader.unknown_keys(n, &fp, &["refName", "parameters"], "'functionRef'");
            let ref_name = reader.required_string(n, &fp, "refName", "'functionRef'");
            if let Some(name) = &ref_name {
                let position = n.get("refName").map_or(n.position, |v| v.position);
                reader.facts.function_refs.push(super::reader::NameFact {
                    name: name.clone(),
                    site: Site {
                        pointer: fp.key("refName"),
                        position,
                    },
                });
            }
            let parameters = match n.get("parameters") {
                None => Some(Parameters::default()),
                Some(params) => read_parameters(reader, params, &fp.key("parameters")),
            };
            Some(FunctionRef {
                ref_name: ref_name?,
                parameters: parameters?,
            })
        });
    let action_data_filter = match node.get("actionDataFilter") {
        None => None,
        Some(f) => {
            let fp = p.key("actionDataFilter");
            reader.object(f, &fp, "'actionDataFilter'").map(|_| {
                reader.unknown_keys(
                    f,
                    &fp,
                    &["dataInputPath", "dataResultsPath"],
                    "'actionDataFilter'",
                );
                ActionDataFilter {
                    data_input_path: reader.path(f, &fp, "dataInputPath", "'actionDataFilter'"),
                    data_results_path: reader.path(f, &fp, "dataResultsPath", "'actionDataFilter'"),
                }
            })
        }
    };
    let timeout = reader.duration(node, p, "timeout");
    Some(Action {
        name,
        function_ref: function_ref?,
        action_data_filter,
        timeout,
        arguments: None,
    })
}

pub fn read_parameters(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<Parameters> {
    let members = reader.object(node, p, "'parameters'")?;
    let mut parameters = Vec::new();
    let mut ok = true;
    for (key, value) in members {
        let vp = p.key(&key.name);
        let parameter = match &value.value {
            NodeValue::String(s) if s.starts_with('$') => {
                match reader.path_value(value, &vp, &format!("parameter '{}'", key.name)) {
                    Some(path) => ParameterValue::Path(path),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            }
            _ => ParameterValue::Literal(value.to_value()),
        };
        parameters.push((key.name.clone(), parameter));
    }
    ok.then_some(Parameters(parameters))
}

fn read_choices(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    state: &str,
    scope: usize,
) -> Option<Vec<Choice>> {
    let items = reader.array(node, p, "'choices'")?;
    let results: Vec<Option<Choice>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let ip = p.index(i);
            reader.object(item, &ip, "a choice")?;
            reader.unknown_keys(
                item,
                &ip,
                &[
                    "path",
                    "value",
                    "operator",
                    "transition",
                    "and",
                    "or",
                    "not",
                ],
                "a choice",
            );
            let rule = read_rule(reader, item, &ip, "and", "or", "not");
            let transition = reader
                .required(item, &ip, "transition", "a choice")
                .and_then(|n| read_transition(reader, n, &ip.key("transition"), state, scope));
            Some(Choice {
                rule: rule?,
                transition: transition?,
            })
        })
        .collect();
    results.into_iter().collect()
}

/// Reads a choice's rule; the draft passes its capitalised `And`/`Or`/`Not`.
pub fn read_rule(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    and: &str,
    or: &str,
    not: &str,
) -> Option<ChoiceRule> {
    let present: Vec<&str> = [and, or, not]
        .into_iter()
        .filter(|k| node.get(k).is_some())
        .collect();
    if present.len() > 1 || (!present.is_empty() && node.get("path").is_some()) {
        reader.error(p, node.position, "a choice must be exactly one of a single comparison (path, value, operator), 'and', 'or' or 'not'; split it into several choices");
        return None;
    }
    let list = |reader: &mut Reader, key: &str| -> Option<Vec<Comparison>> {
        let n = node.get(key)?;
        let lp = p.key(key);
        let items = reader.array(n, &lp, &format!("'{key}'"))?;
        if items.is_empty() {
            reader.error(
                &lp,
                n.position,
                format!("'{key}' must list at least one comparison"),
            );
            return None;
        }
        let results: Vec<Option<Comparison>> = items
            .iter()
            .enumerate()
            .map(|(j, c)| read_comparison(reader, c, &lp.index(j), true))
            .collect();
        results.into_iter().collect()
    };
    match present.first() {
        Some(k) if *k == and => list(reader, and).map(|and| ChoiceRule::And { and }),
        Some(k) if *k == or => list(reader, or).map(|or| ChoiceRule::Or { or }),
        Some(_) => {
            let n = node.get(not)?;
            read_comparison(reader, n, &p.key(not), true).map(|not| ChoiceRule::Not { not })
        }
        None => read_comparison(reader, node, p, false).map(ChoiceRule::Single),
    }
}

/// Reads `path`, `value`, `operator`. Members of `and`/`or`/`not` must not
/// carry their own transition (the draft says so for `next-state`).
pub fn read_comparison(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    member: bool,
) -> Option<Comparison> {
    reader.object(node, p, "a comparison")?;
    if member {
        for key in ["transition", "next-state"] {
            if let Some(n) = node.get(key) {
                reader.error(&p.key(key), n.position, format!("a member of 'and', 'or' or 'not' cannot have its own '{key}'; put it on the choice"));
            }
        }
        reader.unknown_keys(
            node,
            p,
            &["path", "value", "operator", "transition", "next-state"],
            "a comparison",
        );
    }
    let path = reader
        .required(node, p, "path", "a comparison")
        .and_then(|_| reader.path(node, p, "path", "a comparison"));
    let value = reader
        .required(node, p, "value", "a comparison")
        .and_then(|n| match &n.value {
            NodeValue::String(s) => Some(s.clone()),
            NodeValue::Number(num) => Some(num.to_string()),
            NodeValue::Bool(b) => Some(b.to_string()),
            _ => {
                reader.error(
                    &p.key("value"),
                    n.position,
                    format!("'value' must be a string, not {}", article(n)),
                );
                None
            }
        });
    let operator = reader.required_string(node, p, "operator", "a comparison").and_then(|text| {
        let op = Operator::parse(&text);
        if op.is_none() {
            let position = node.get("operator").map_or(node.position, |n| n.position);
            reader.error(
                &p.key("operator"),
                position,
                format!(
                    "operator '{text}' is unknown; use one of 'Exists', 'Equals', 'LessThan', 'LessThanEquals', 'GreaterThan', 'GreaterThanEquals' (or the draft's 'EQ', 'LT', 'LTEQ', 'GT', 'GTEQ', 'StrEQ', 'StrLT', 'StrLTEQ', 'StrGT', 'StrGTEQ')"
                ),
            );
        }
        op
    });
    Some(Comparison {
        path: path?,
        value: value?,
        operator: operator?,
    })
}

fn read_branches(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    state: &str,
) -> Option<Vec<Branch>> {
    let items = reader.array(node, p, "'branches'")?;
    let results: Vec<Option<Branch>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let ip = p.index(i);
            reader.object(item, &ip, "a branch")?;
            reader.unknown_keys(
                item,
                &ip,
                &["name", "states", "waitForCompletion"],
                "a branch",
            );
            let name = reader.required_string(item, &ip, "name", "a branch");
            let label = format!(
                "branch '{}' of parallel state '{state}'",
                name.as_deref().unwrap_or("?")
            );
            let scope = reader.new_scope(
                label,
                Site {
                    pointer: ip.key("states"),
                    position: item.position,
                },
                true,
            );
            let states = reader
                .required(item, &ip, "states", "a branch")
                .and_then(|n| read_states(reader, n, &ip.key("states"), scope));
            let wait_for_completion = reader
                .optional_bool(item, &ip, "waitForCompletion", false)
                .unwrap_or(false);
            Some(Branch {
                name: name?,
                states: states?,
                wait_for_completion,
            })
        })
        .collect();
    results.into_iter().collect()
}
