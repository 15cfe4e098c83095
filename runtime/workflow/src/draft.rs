//! Reads the handbook's earlier draft dialect into the same model as v0.1.
//!
//! The draft is read as its own examples write it: enum values in any case,
//! numbers as strings (`"max-retry": "2"`), times in whole seconds. Mapping:
//!
//! | draft | model |
//! | --- | --- |
//! | `trigger-defs[]` (`eventID` when there is no `type`) | `events[]` |
//! | `start: true` | `start: DEFAULT` |
//! | `next-state` / none | `transition` / `end: DEFAULT` |
//! | `type: END` with `status` | a RELAY state that ends with that status |
//! | `events[]` with `event-expression` `A or B` / `A and B` | `eventsActions[]`, `exclusive` true / false |
//! | action `function: f` | `functionRef: f` plus a synthesized `functions[]` entry `f` → resource `f` |
//! | action `retry[]` (`match`, `retry-interval`, `max-retry`, `next-state`) | state `retry[]`, plus `onError[]` when `next-state` is given |
//! | `match: SYS.Timeout` (an error code) | `@.error.name == 'SYS.Timeout'`; `SYS.MatchAny` always matches |
//! | `InputPath` / `ResultPath` / `OutputPath` | `stateDataFilter` `dataInputPath` / `resultPath` / `dataOutputPath` |
//! | switch `And`/`Or`/`Not`, `default: "S"` | `and`/`or`/`not`, `default: {nextState: S}` |
//! | parallel `branches` | branches that all wait for completion |

use super::diagnostic::Pointer;
use super::duration::{IsoDuration, RepeatingInterval};
use super::expression::Condition;
use super::model::*;
use super::reader::{NameFact, Reader, Site, StateFact, enum_value, one_of};
use super::source::{Node, NodeValue};
use super::v01;
use swirl_core::codes;

/// The draft's predefined error codes.
pub const ERROR_CODES: &[&str] = &[
    codes::TIMEOUT,
    codes::FAIL,
    codes::MATCH_ANY,
    codes::PERMISSION,
    codes::INVALID_PARAMETER,
    codes::FILTER_ERROR,
];

const STATE_TYPES: &[&str] = &["EVENT", "OPERATION", "SWITCH", "DELAY", "END", "PARALLEL"];

/// Reads a whole draft definition. `fallback_id` is the file stem.
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
            "version",
            "description",
            "trigger-defs",
            "states",
        ],
        "the workflow",
    );
    let id = reader.optional_string(root, &p, "id", "the workflow");
    let name = reader.optional_string(root, &p, "name", "the workflow");
    let events = match root.get("trigger-defs") {
        None => Some(Vec::new()),
        Some(list) => reader
            .array(list, &p.key("trigger-defs"), "'trigger-defs'")
            .and_then(|items| {
                let defs: Vec<Option<EventDefinition>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| read_trigger(reader, n, &p.key("trigger-defs").index(i)))
                    .collect();
                defs.into_iter().collect()
            }),
    };
    let states_position = root.get("states").map_or(root.position, |n| n.position);
    let scope = reader.new_scope(
        "the workflow".to_owned(),
        Site {
            pointer: p.key("states"),
            position: states_position,
        },
        false,
    );
    let mut functions = Vec::new();
    let states = reader
        .required(root, &p, "states", "the workflow")
        .and_then(|n| read_states(reader, n, &p.key("states"), scope, false, &mut functions));
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
    Some(WorkflowDefinition {
        id: id?,
        name,
        version: reader.optional_string(root, &p, "version", "the workflow"),
        description: reader.optional_string(root, &p, "description", "the workflow"),
        schema_version: None,
        expression_language: ExpressionLanguage::JsonPath,
        events: events?,
        functions,
        states: states?,
        extensions: Vec::new(),
        metadata: Metadata::new(),
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

fn read_trigger(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<EventDefinition> {
    reader.object(node, p, "a trigger definition")?;
    reader.unknown_keys(
        node,
        p,
        &["name", "source", "eventID", "type", "correlation-token"],
        "a trigger definition",
    );
    let name = reader.required_string(node, p, "name", "a trigger definition");
    if let Some(name) = &name {
        let position = node.get("name").map_or(node.position, |n| n.position);
        reader.facts.events.push(NameFact {
            name: name.clone(),
            site: Site {
                pointer: p.key("name"),
                position,
            },
        });
    }
    let source = reader.required_string(node, p, "source", "a trigger definition");
    let event_type = match node.get("type") {
        Some(_) => reader.optional_string(node, p, "type", "a trigger definition"),
        None => reader.required_string(node, p, "eventID", "a trigger definition"),
    };
    let correlation_token = v01::correlation_token(reader, node, p, "correlation-token");
    Some(EventDefinition {
        name: name?,
        source: source?,
        event_type: event_type?,
        correlation_token,
        metadata: Metadata::new(),
        filter: None,
    })
}

fn read_states(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    scope: usize,
    in_branch: bool,
    functions: &mut Vec<FunctionDefinition>,
) -> Option<Vec<State>> {
    let items = reader.array(node, p, "'states'")?;
    if items.is_empty() {
        reader.error(p, node.position, "'states' must list at least one state");
        return None;
    }
    let states: Vec<Option<State>> = items
        .iter()
        .enumerate()
        .map(|(i, n)| read_state(reader, n, &p.index(i), scope, in_branch, functions))
        .collect();
    states.into_iter().collect()
}

fn read_state(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    scope: usize,
    in_branch: bool,
    functions: &mut Vec<FunctionDefinition>,
) -> Option<State> {
    reader.object(node, p, "a state")?;
    let name = reader.required_string(node, p, "name", "a state");
    let label = name
        .as_deref()
        .map_or_else(|| "a state".to_owned(), |n| format!("state '{n}'"));
    let state_name = name.clone().unwrap_or_default();
    let type_text = reader.required_string(node, p, "type", &label);
    let type_position = node.get("type").map_or(node.position, |n| n.position);
    let state_type = type_text.as_deref().and_then(|t| {
        let found = STATE_TYPES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(t))
            .copied();
        if found.is_none() {
            reader.error(
                &p.key("type"),
                type_position,
                format!(
                    "{label} has unknown type '{t}'; use one of {}",
                    one_of(STATE_TYPES)
                ),
            );
        }
        found
    });
    let specific: &[&str] = match state_type {
        Some("EVENT") => &["events"],
        Some("OPERATION") => &["action-mode", "actions"],
        Some("SWITCH") => &["choices", "default"],
        Some("DELAY") => &["time-delay"],
        Some("END") => &["status"],
        Some("PARALLEL") => &["branches"],
        _ => &[],
    };
    if state_type.is_some() {
        let common = [
            "name",
            "type",
            "start",
            "next-state",
            "InputPath",
            "ResultPath",
            "OutputPath",
        ];
        let known: Vec<&str> = common.iter().chain(specific.iter()).copied().collect();
        reader.unknown_keys(node, p, &known, &label);
    }
    if in_branch && state_type == Some("END") {
        reader.error(&p.key("type"), type_position, format!("{label} is an END state inside a parallel branch, which the draft forbids; leave out 'next-state' to end the branch"));
    }
    let is_start = reader
        .optional_bool(node, p, "start", true)
        .unwrap_or(false);
    let next_state = reader.optional_string(node, p, "next-state", &label);
    if let Some(target) = &next_state {
        let position = node.get("next-state").map_or(node.position, |n| n.position);
        reader.edge(
            &state_name,
            scope,
            target.clone(),
            p.key("next-state"),
            position,
        );
    }
    if let Some(name) = &name {
        let position = node.get("name").map_or(node.position, |n| n.position);
        let is_end = state_type == Some("END")
            || (next_state.is_none() && !matches!(state_type, Some("SWITCH") | Some("EVENT")));
        reader.facts.states.push(StateFact {
            name: name.clone(),
            scope,
            site: Site {
                pointer: p.key("name"),
                position,
            },
            is_start,
            is_end,
        });
    }
    let exit = match &next_state {
        Some(target) => Exit::Transition(Transition {
            next_state: target.clone(),
            expression: None,
        }),
        None => Exit::End(End {
            kind: EndKind::Default,
            status: CompletionStatus::Success,
        }),
    };
    let filter = read_filter(reader, node, p, &label);
    let mut retry = Vec::new();
    let mut on_error = Vec::new();
    let kind = match state_type? {
        "OPERATION" => {
            let action_mode = action_mode(reader, node, p);
            let actions = reader.required(node, p, "actions", &label).and_then(|n| {
                read_actions(
                    reader,
                    n,
                    &p.key("actions"),
                    &state_name,
                    scope,
                    functions,
                    &mut retry,
                    &mut on_error,
                )
            });
            StateKind::Operation(OperationState {
                action_mode: action_mode?,
                actions: actions?,
                retry,
                exit,
            })
        }
        "EVENT" => {
            let events = reader.required(node, p, "events", &label)?;
            let ep = p.key("events");
            let items = reader.array(events, &ep, "'events'")?;
            let mut events_actions = Vec::new();
            let mut exclusive = None;
            let mut timeout: Option<IsoDuration> = None;
            let mut exit = next_state.clone().map(|t| {
                Exit::Transition(Transition {
                    next_state: t,
                    expression: None,
                })
            });
            let mut failed = false;
            for (i, item) in items.iter().enumerate() {
                let ip = ep.index(i);
                if reader.object(item, &ip, "an events entry").is_none() {
                    failed = true;
                    continue;
                }
                reader.unknown_keys(
                    item,
                    &ip,
                    &[
                        "event-expression",
                        "timeout",
                        "action-mode",
                        "actions",
                        "next-state",
                    ],
                    "an events entry",
                );
                let refs = event_expression(reader, item, &ip, &mut exclusive);
                if let Some(seconds) = seconds(reader, item, &ip, "timeout") {
                    if timeout.as_ref().is_some_and(|t| *t != seconds) {
                        let position = item.get("timeout").map_or(item.position, |n| n.position);
                        reader.error(&ip.key("timeout"), position, format!("{label} gives its events different timeouts; swirl waits with one timeout per state, so use the same value"));
                    }
                    timeout = Some(seconds);
                }
                if let Some(target) =
                    reader.optional_string(item, &ip, "next-state", "an events entry")
                {
                    let position = item.get("next-state").map_or(item.position, |n| n.position);
                    reader.edge(
                        &state_name,
                        scope,
                        target.clone(),
                        ip.key("next-state"),
                        position,
                    );
                    match &exit {
                        Some(Exit::Transition(t)) if t.next_state != target => {
                            reader.error(&ip.key("next-state"), position, format!("{label} gives its events different next states ('{}' and '{target}'); swirl needs one next state per event state, so split it into several states", t.next_state));
                        }
                        _ => {
                            exit = Some(Exit::Transition(Transition {
                                next_state: target,
                                expression: None,
                            }))
                        }
                    }
                }
                let mode = action_mode(reader, item, &ip);
                let actions = reader
                    .required(item, &ip, "actions", "an events entry")
                    .and_then(|n| {
                        read_actions(
                            reader,
                            n,
                            &ip.key("actions"),
                            &state_name,
                            scope,
                            functions,
                            &mut retry,
                            &mut on_error,
                        )
                    });
                match (refs, mode, actions) {
                    (Some(event_refs), Some(action_mode), Some(actions)) => {
                        events_actions.push(EventActions {
                            event_refs,
                            action_mode,
                            actions,
                            event_data_filter: None,
                        })
                    }
                    _ => failed = true,
                }
            }
            if failed {
                return None;
            }
            let exit = exit.unwrap_or(Exit::End(End {
                kind: EndKind::Default,
                status: CompletionStatus::Success,
            }));
            if let (Some(fact), Exit::End(_)) = (
                reader
                    .facts
                    .states
                    .iter_mut()
                    .rev()
                    .find(|s| s.name == state_name),
                &exit,
            ) {
                fact.is_end = true;
            }
            StateKind::Event(EventState {
                exclusive: exclusive.unwrap_or(true),
                events_actions,
                timeout,
                retry,
                listen: None,
                exit,
            })
        }
        "SWITCH" => {
            if let Some(n) = node.get("next-state") {
                reader.error(&p.key("next-state"), n.position, format!("{label} is a switch state; its choices and 'default' pick the next state, so remove 'next-state'"));
            }
            let choices = reader.required(node, p, "choices", &label).and_then(|n| {
                let cp = p.key("choices");
                let items = reader.array(n, &cp, "'choices'")?;
                let choices: Vec<Option<Choice>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let ip = cp.index(i);
                        reader.object(item, &ip, "a choice")?;
                        reader.unknown_keys(
                            item,
                            &ip,
                            &[
                                "path",
                                "value",
                                "operator",
                                "next-state",
                                "And",
                                "Or",
                                "Not",
                            ],
                            "a choice",
                        );
                        let rule = v01::read_rule(reader, item, &ip, "And", "Or", "Not");
                        let target = reader.required_string(item, &ip, "next-state", "a choice");
                        if let Some(target) = &target {
                            let position =
                                item.get("next-state").map_or(item.position, |n| n.position);
                            reader.edge(
                                &state_name,
                                scope,
                                target.clone(),
                                ip.key("next-state"),
                                position,
                            );
                        }
                        Some(Choice {
                            rule: rule?,
                            transition: Transition {
                                next_state: target?,
                                expression: None,
                            },
                        })
                    })
                    .collect();
                choices.into_iter().collect::<Option<Vec<Choice>>>()
            });
            let default = reader.required_string(node, p, "default", &label);
            if let Some(target) = &default {
                let position = node.get("default").map_or(node.position, |n| n.position);
                reader.edge(
                    &state_name,
                    scope,
                    target.clone(),
                    p.key("default"),
                    position,
                );
            }
            StateKind::Switch(SwitchState {
                choices: choices?,
                default: Transition {
                    next_state: default?,
                    expression: None,
                },
            })
        }
        "DELAY" => {
            reader.required(node, p, "time-delay", &label);
            let time_delay = seconds(reader, node, p, "time-delay");
            StateKind::Delay(DelayState {
                time_delay: TaskDuration::Fixed(time_delay?),
                exit,
            })
        }
        "END" => {
            if let Some(n) = node.get("next-state") {
                reader.error(
                    &p.key("next-state"),
                    n.position,
                    format!("{label} is an END state, which cannot have a 'next-state'; remove it"),
                );
            }
            let status = match reader.optional_string(node, p, "status", &label) {
                None => Some(CompletionStatus::Success),
                Some(text) => {
                    let status = enum_value(
                        &text,
                        &[
                            ("SUCCESS", CompletionStatus::Success),
                            ("FAILURE", CompletionStatus::Failure),
                        ],
                    );
                    if status.is_none() {
                        let position = node.get("status").map_or(node.position, |n| n.position);
                        reader.error(
                            &p.key("status"),
                            position,
                            format!("END status '{text}' is unknown; use 'SUCCESS' or 'FAILURE'"),
                        );
                    }
                    status
                }
            };
            StateKind::Relay(RelayState {
                inject: None,
                exit: Exit::End(End {
                    kind: EndKind::Default,
                    status: status?,
                }),
            })
        }
        "PARALLEL" => {
            let branches = reader.required(node, p, "branches", &label).and_then(|n| {
                let bp = p.key("branches");
                let items = reader.array(n, &bp, "'branches'")?;
                let branches: Vec<Option<Branch>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let ip = bp.index(i);
                        reader.object(item, &ip, "a branch")?;
                        reader.unknown_keys(item, &ip, &["name", "states"], "a branch");
                        let name = reader.required_string(item, &ip, "name", "a branch");
                        let branch_label = format!(
                            "branch '{}' of parallel state '{state_name}'",
                            name.as_deref().unwrap_or("?")
                        );
                        let inner = reader.new_scope(
                            branch_label,
                            Site {
                                pointer: ip.key("states"),
                                position: item.position,
                            },
                            true,
                        );
                        let states =
                            reader
                                .required(item, &ip, "states", "a branch")
                                .and_then(|s| {
                                    read_states(
                                        reader,
                                        s,
                                        &ip.key("states"),
                                        inner,
                                        true,
                                        functions,
                                    )
                                });
                        Some(Branch {
                            name: name?,
                            states: states?,
                            wait_for_completion: true,
                        })
                    })
                    .collect();
                branches.into_iter().collect::<Option<Vec<Branch>>>()
            });
            StateKind::Parallel(ParallelState {
                branches: branches?,
                retry,
                compete: false,
                exit,
            })
        }
        _ => return None,
    };
    Some(State {
        name: name?,
        id: None,
        kind,
        start: is_start.then_some(Start::Default),
        state_data_filter: filter?,
        on_error,
        metadata: Metadata::new(),
        task: None,
    })
}

fn read_filter(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    label: &str,
) -> Option<Option<StateDataFilter>> {
    let input = reader.path(node, p, "InputPath", label);
    let result = reader.write_path(node, p, "ResultPath", label);
    let output = reader.path(node, p, "OutputPath", label);
    let failed = (node.get("InputPath").is_some() && input.is_none())
        || (node.get("ResultPath").is_some() && result.is_none())
        || (node.get("OutputPath").is_some() && output.is_none());
    if failed {
        return None;
    }
    if input.is_none() && result.is_none() && output.is_none() {
        return Some(None);
    }
    Some(Some(StateDataFilter {
        data_input_path: input,
        result_path: result,
        data_output_path: output,
    }))
}

fn action_mode(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<ActionMode> {
    let Some(value) = node.get("action-mode") else {
        return Some(ActionMode::Sequential);
    };
    let text = reader.string(value, &p.key("action-mode"), "'action-mode'")?;
    let mode = enum_value(
        &text,
        &[
            ("SEQUENTIAL", ActionMode::Sequential),
            ("PARALLEL", ActionMode::Parallel),
        ],
    );
    if mode.is_none() {
        reader.error(
            &p.key("action-mode"),
            value.position,
            format!("action mode '{text}' is unknown; use 'SEQUENTIAL' or 'PARALLEL'"),
        );
    }
    mode
}

/// A positive whole number of seconds, given as a number or a string.
fn seconds(reader: &mut Reader, node: &Node, p: &Pointer, key: &str) -> Option<IsoDuration> {
    let value = node.get(key)?;
    let parsed = match &value.value {
        NodeValue::Number(n) => n.as_u64(),
        NodeValue::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if n > 0 => Some(IsoDuration::from_seconds(n)),
        _ => {
            reader.error(
                &p.key(key),
                value.position,
                format!(
                    "'{key}' must be a positive whole number of seconds, not {}",
                    super::reader::describe(value)
                ),
            );
            None
        }
    }
}

/// Reads `event-expression`: event names joined by `or` (any one fires) or
/// by `and` (all must arrive); mixing both is refused.
fn event_expression(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    exclusive: &mut Option<bool>,
) -> Option<Vec<String>> {
    let text = reader.required_string(node, p, "event-expression", "an events entry")?;
    let position = node
        .get("event-expression")
        .map_or(node.position, |n| n.position);
    let ep = p.key("event-expression");
    let mut names = Vec::new();
    let mut operator: Option<bool> = None;
    for (i, word) in text.split_whitespace().enumerate() {
        let is_operator = word.eq_ignore_ascii_case("or") || word.eq_ignore_ascii_case("and");
        if i % 2 == 1 {
            if !is_operator {
                reader.error(&ep, position, format!("event expression '{text}' must be event names joined by 'or' or by 'and', like 'Event1 or Event2'"));
                return None;
            }
            let any = word.eq_ignore_ascii_case("or");
            if operator.is_some_and(|o| o != any) {
                reader.error(
                    &ep,
                    position,
                    format!("event expression '{text}' mixes 'and' and 'or'; use one of them"),
                );
                return None;
            }
            operator = Some(any);
        } else {
            if is_operator || word.contains(['(', ')']) {
                reader.error(&ep, position, format!("event expression '{text}' must be event names joined by 'or' or by 'and', like 'Event1 or Event2'"));
                return None;
            }
            reader.facts.event_refs.push(NameFact {
                name: word.to_owned(),
                site: Site {
                    pointer: ep.clone(),
                    position,
                },
            });
            names.push(word.to_owned());
        }
    }
    if names.is_empty() || text.split_whitespace().count() % 2 == 0 {
        reader.error(&ep, position, format!("event expression '{text}' must be event names joined by 'or' or by 'and', like 'Event1 or Event2'"));
        return None;
    }
    if let Some(any) = operator {
        if exclusive.is_some_and(|e| e != any) {
            reader.error(
                &ep,
                position,
                "the events of one state must all use 'or' or all use 'and'; split the state",
            );
            return None;
        }
        *exclusive = Some(any);
    }
    Some(names)
}

#[allow(clippy::too_many_arguments)]
fn read_actions(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    state: &str,
    scope: usize,
    functions: &mut Vec<FunctionDefinition>,
    retry: &mut Vec<Retry>,
    on_error: &mut Vec<ErrorHandler>,
) -> Option<Vec<Action>> {
    let items = reader.array(node, p, "'actions'")?;
    let mut actions = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let ip = p.index(i);
        if reader.object(item, &ip, "an action").is_none() {
            ok = false;
            continue;
        }
        reader.unknown_keys(
            item,
            &ip,
            &["function", "timeout", "retry", "parameters"],
            "an action",
        );
        let function = reader.required_string(item, &ip, "function", "an action");
        if let Some(name) = &function {
            let site = Site {
                pointer: ip.key("function"),
                position: item.get("function").map_or(item.position, |n| n.position),
            };
            reader.facts.function_refs.push(NameFact {
                name: name.clone(),
                site: site.clone(),
            });
            if !functions.iter().any(|f| &f.name == name) {
                functions.push(FunctionDefinition {
                    name: name.clone(),
                    resource: name.clone(),
                    function_type: None,
                    metadata: Metadata::new(),
                });
                reader.facts.functions.push(NameFact {
                    name: name.clone(),
                    site: site.clone(),
                });
                reader.facts.resources.push(NameFact {
                    name: name.clone(),
                    site,
                });
            }
        }
        let parameters = match item.get("parameters") {
            None => Some(Parameters::default()),
            Some(n) => v01::read_parameters(reader, n, &ip.key("parameters")),
        };
        let timeout = seconds(reader, item, &ip, "timeout");
        let timeout_bad = item.get("timeout").is_some() && timeout.is_none();
        if let Some(list) = item.get("retry") {
            ok &= read_retries(
                reader,
                list,
                &ip.key("retry"),
                state,
                scope,
                retry,
                on_error,
            );
        }
        match (function, parameters) {
            (Some(ref_name), Some(parameters)) if !timeout_bad => actions.push(Action {
                name: None,
                function_ref: FunctionRef {
                    ref_name,
                    parameters,
                },
                arguments: None,
                action_data_filter: None,
                timeout,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(actions)
}

fn read_retries(
    reader: &mut Reader,
    node: &Node,
    p: &Pointer,
    state: &str,
    scope: usize,
    retry: &mut Vec<Retry>,
    on_error: &mut Vec<ErrorHandler>,
) -> bool {
    let Some(items) = reader.array(node, p, "'retry'") else {
        return false;
    };
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let ip = p.index(i);
        if reader.object(item, &ip, "a retry definition").is_none() {
            ok = false;
            continue;
        }
        reader.unknown_keys(
            item,
            &ip,
            &["match", "retry-interval", "max-retry", "next-state"],
            "a retry definition",
        );
        let condition = reader
            .required(item, &ip, "match", "a retry definition")
            .and_then(|n| match_condition(reader, n, &ip.key("match")));
        let interval = seconds(reader, item, &ip, "retry-interval")
            .and_then(|d| RepeatingInterval::parse(d.as_str()).ok());
        let interval_bad = item.get("retry-interval").is_some() && interval.is_none();
        let max_attempts = match item.get("max-retry") {
            None => Some(1),
            Some(_) => reader
                .optional_count(item, &ip, "max-retry", true)
                .and_then(|n| u32::try_from(n).ok()),
        };
        let next_state = reader.optional_string(item, &ip, "next-state", "a retry definition");
        if let Some(target) = &next_state {
            let position = item.get("next-state").map_or(item.position, |n| n.position);
            reader.edge(state, scope, target.clone(), ip.key("next-state"), position);
        }
        match (condition, max_attempts) {
            (Some(condition), Some(max_attempts)) if !interval_bad => {
                retry.push(Retry {
                    expression: ExpressionDef(condition.clone()),
                    interval,
                    multiplier: None,
                    max_attempts,
                });
                if let Some(target) = next_state {
                    on_error.push(ErrorHandler {
                        expression: ExpressionDef(condition),
                        error_data_filter: None,
                        transition: Transition {
                            next_state: target,
                            expression: None,
                        },
                    });
                }
            }
            _ => ok = false,
        }
    }
    ok
}

/// A draft `match`: an error code (`SYS.Timeout`) or a filter expression.
fn match_condition(reader: &mut Reader, node: &Node, p: &Pointer) -> Option<Condition> {
    let text = reader.string(node, p, "'match'")?;
    let site = Site {
        pointer: p.clone(),
        position: node.position,
    };
    if text.starts_with("SYS.") {
        return match ERROR_CODES.iter().find(|c| c.eq_ignore_ascii_case(&text)) {
            Some(code) if *code == codes::MATCH_ANY => Some(Condition::always()),
            Some(code) => reader.condition(&format!("@.error.name == '{code}'"), None, &site),
            None => {
                reader.error(
                    p,
                    node.position,
                    format!(
                        "'{text}' is not a draft error code; use one of {}",
                        one_of(ERROR_CODES)
                    ),
                );
                None
            }
        };
    }
    reader.condition(&text, None, &site)
}
