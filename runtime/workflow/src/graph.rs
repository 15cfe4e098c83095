//! A definition as a graph: its states as nodes, their transitions,
//! conditions, error routes, branches and iterations as edges.
//!
//! One pure function over the model, [`build`], feeds both pictures of a
//! workflow: the console draws the JSON form as SVG (`GET
//! /workflows/{id}/graph`), and `swirl graph` prints [`Graph::mermaid`].
//! Both dialects load into the same model, so both draw the same way.
//!
//! State names are unique in a workflow, branches included, so a node's id
//! is its state's name, as instances and their history name it; a nested
//! state's `scope` says where it is (`Outer/branch`).

use serde::Serialize;

use super::model::{
    Action, ChoiceRule, Comparison, EndKind, Exit, Operator, State, StateKind, Transition,
    WorkflowDefinition,
};

/// The graph of one definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graph {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// One state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// The state's name.
    pub id: String,
    /// What the state does, as its dialect names it: a 1.0 task's kind
    /// (`call`, `listen`, `fork`, ...), a v0.1 or draft state's type
    /// (`EVENT`, `OPERATION`, ...).
    #[serde(rename = "type")]
    pub state_type: &'static str,
    /// The enclosing state and branch (`Outer/branch`), for nested states.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Where its scope starts.
    pub start: bool,
    /// Where its scope ends: `success`, `failure` or `terminate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<&'static str>,
    /// Events it waits for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<String>,
    /// Functions its actions call, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
    /// A short description of anything else it does (a delay, a subflow,
    /// the event it produces when it ends).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One way from a state to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// The condition or name that guards it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Why an edge is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// The state completed (guarded when it has a label).
    Transition,
    /// A switch's choice matched.
    Choice,
    /// No choice of a switch matched.
    Default,
    /// An error matched an `onError` handler.
    Error,
    /// A parallel state runs the branch that starts there.
    Branch,
    /// A foreach state runs its states once per element, starting there.
    Iteration,
}

/// The graph of `definition`.
pub fn build(definition: &WorkflowDefinition) -> Graph {
    let mut graph = Graph {
        id: definition.id.clone(),
        version: definition.version.clone(),
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    add_scope(&mut graph, &definition.states, None);
    graph
}

/// Adds the states of one scope (the workflow, a branch, a foreach) and
/// returns the id of its start state.
fn add_scope(graph: &mut Graph, states: &[State], scope: Option<&str>) -> Option<String> {
    let start = states
        .iter()
        .find(|state| state.start.is_some())
        .map(|state| state.name.clone());
    for state in states {
        let node_id = state.name.clone();
        let mut node = Node {
            id: node_id.clone(),
            state_type: state_type(state),
            scope: scope.map(str::to_string),
            start: start.as_deref() == Some(state.name.as_str()),
            end: None,
            waits: Vec::new(),
            calls: Vec::new(),
            notes: Vec::new(),
        };
        let mut edges = Vec::new();
        let mut edge = |to: &Transition, kind, label: Option<String>| {
            let label = label.or_else(|| {
                to.expression
                    .as_ref()
                    .map(|expression| expression.0.as_str().to_string())
            });
            edges.push(Edge {
                from: node_id.clone(),
                to: to.next_state.clone(),
                kind,
                label,
            });
        };
        match &state.kind {
            StateKind::Event(event) => {
                for entry in &event.events_actions {
                    node.waits.extend(entry.event_refs.iter().cloned());
                    node.calls.extend(calls(&entry.actions));
                }
                if let Some(timeout) = &event.timeout {
                    node.notes.push(format!("timeout {timeout}"));
                }
            }
            StateKind::Operation(operation) => node.calls = calls(&operation.actions),
            StateKind::Switch(switch) => {
                for choice in &switch.choices {
                    edge(
                        &choice.transition,
                        EdgeKind::Choice,
                        Some(rule(&choice.rule)),
                    );
                }
                edge(&switch.default, EdgeKind::Default, None);
            }
            StateKind::Delay(delay) => node.notes.push(format!("wait {}", delay.time_delay)),
            StateKind::SubFlow(subflow) => {
                node.notes
                    .push(format!("runs workflow {}", subflow.workflow_id));
            }
            StateKind::Relay(_) => {}
            StateKind::Callback(callback) => {
                node.calls = calls(std::slice::from_ref(&callback.action));
                node.waits.push(callback.event_ref.clone());
                node.notes.push(format!("timeout {}", callback.timeout));
            }
            StateKind::Cases(cases) => {
                for case in &cases.cases {
                    let label = case.when.as_ref().map(|w| w.as_str().to_string());
                    let kind = if label.is_some() {
                        EdgeKind::Choice
                    } else {
                        EdgeKind::Default
                    };
                    if let Exit::Transition(to) = &case.then {
                        edge(to, kind, label.or_else(|| Some(case.name.clone())));
                    }
                }
                if let Exit::Transition(to) = &cases.otherwise {
                    edge(to, EdgeKind::Default, None);
                }
            }
            StateKind::Raise(_) => node.end = Some("failure"),
            StateKind::Emit(_) => node.notes.push("emits an event".to_string()),
            StateKind::Set(_)
            | StateKind::Scope(_)
            | StateKind::Try(_)
            | StateKind::For(_)
            | StateKind::Parallel(_)
            | StateKind::ForEach(_) => {}
        }
        for handler in &state.on_error {
            let label = Some(handler.expression.0.as_str().to_string());
            edge(&handler.transition, EdgeKind::Error, label);
        }
        match state.exit() {
            Some(Exit::Transition(transition)) => edge(transition, EdgeKind::Transition, None),
            Some(Exit::End(end)) => {
                node.end = Some(match (&end.kind, end.status.is_success()) {
                    (EndKind::Terminate, _) => "terminate",
                    (_, false) => "failure",
                    (_, true) => "success",
                });
                if let EndKind::Event { produce_event } = &end.kind {
                    node.notes
                        .push(format!("produces {}", produce_event.name_ref));
                }
            }
            None => {}
        }
        graph.nodes.push(node);
        graph.edges.extend(edges);
        // Nested scopes come after their state, so that a reader sees the
        // state before what it contains.
        match &state.kind {
            StateKind::Parallel(parallel) => {
                for branch in &parallel.branches {
                    let inner = format!("{node_id}/{}", branch.name);
                    if let Some(first) = add_scope(graph, &branch.states, Some(&inner)) {
                        graph.edges.push(Edge {
                            from: node_id.clone(),
                            to: first,
                            kind: EdgeKind::Branch,
                            label: Some(branch.name.clone()),
                        });
                    }
                }
            }
            StateKind::Scope(scope) => {
                if let Some(first) = add_scope(graph, &scope.states, Some(&node_id)) {
                    graph.edges.push(Edge {
                        from: node_id.clone(),
                        to: first,
                        kind: EdgeKind::Branch,
                        label: None,
                    });
                }
            }
            StateKind::Try(try_state) => {
                if let Some(first) = add_scope(graph, &try_state.states, Some(&node_id)) {
                    graph.edges.push(Edge {
                        from: node_id.clone(),
                        to: first,
                        kind: EdgeKind::Branch,
                        label: Some("try".to_string()),
                    });
                }
                let inner = format!("{node_id}/catch");
                if let Some(first) = add_scope(graph, &try_state.catch.states, Some(&inner)) {
                    graph.edges.push(Edge {
                        from: node_id.clone(),
                        to: first,
                        kind: EdgeKind::Error,
                        label: Some("catch".to_string()),
                    });
                }
            }
            StateKind::For(for_state) => {
                if let Some(first) = add_scope(graph, &for_state.states, Some(&node_id)) {
                    graph.edges.push(Edge {
                        from: node_id.clone(),
                        to: first,
                        kind: EdgeKind::Iteration,
                        label: Some(format!("each of {}", for_state.collection.as_str())),
                    });
                }
            }
            StateKind::ForEach(for_each) => {
                if let Some(first) = add_scope(graph, &for_each.states, Some(&node_id)) {
                    graph.edges.push(Edge {
                        from: node_id.clone(),
                        to: first,
                        kind: EdgeKind::Iteration,
                        label: Some(format!("each of {}", for_each.input_collection)),
                    });
                }
            }
            _ => {}
        }
    }
    start
}

/// A 1.0 task lowers into the state kind that runs it (a `call` into an
/// operation, a `listen` into an event state, ...), so its kind is told
/// from that kind and its task flow, which only 1.0 tasks have.
fn state_type(state: &State) -> &'static str {
    if state.task.is_some() {
        match &state.kind {
            StateKind::Operation(_) => return "call",
            StateKind::Event(_) => return "listen",
            StateKind::Delay(_) => return "wait",
            StateKind::Parallel(_) => return "fork",
            StateKind::SubFlow(_) => return "run",
            _ => {}
        }
    }
    match &state.kind {
        StateKind::Event(_) => "EVENT",
        StateKind::Operation(_) => "OPERATION",
        StateKind::Switch(_) => "SWITCH",
        StateKind::Delay(_) => "DELAY",
        StateKind::Parallel(_) => "PARALLEL",
        StateKind::SubFlow(_) => "SUBFLOW",
        StateKind::Relay(_) => "RELAY",
        StateKind::ForEach(_) => "FOREACH",
        StateKind::Callback(_) => "CALLBACK",
        StateKind::Set(_) => "set",
        StateKind::Raise(_) => "raise",
        StateKind::Scope(_) => "do",
        StateKind::Try(_) => "try",
        StateKind::For(_) => "for",
        StateKind::Emit(_) => "emit",
        StateKind::Cases(_) => "switch",
    }
}

fn calls(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|action| action.function_ref.ref_name.clone())
        .collect()
}

/// A choice's test as a reader writes it: `$.total >= 100 and $.vip exists`.
fn rule(rule: &ChoiceRule) -> String {
    let join = |comparisons: &[Comparison], word: &str| {
        comparisons
            .iter()
            .map(comparison)
            .collect::<Vec<_>>()
            .join(word)
    };
    match rule {
        ChoiceRule::Single(single) => comparison(single),
        ChoiceRule::And { and } => join(and, " and "),
        ChoiceRule::Or { or } => join(or, " or "),
        ChoiceRule::Not { not } => format!("not {}", comparison(not)),
    }
}

fn comparison(comparison: &Comparison) -> String {
    let operator = match comparison.operator {
        Operator::Exists => return format!("{} exists", comparison.path),
        Operator::Equals | Operator::StrEquals => "==",
        Operator::LessThan | Operator::StrLessThan => "<",
        Operator::LessThanEquals | Operator::StrLessThanEquals => "<=",
        Operator::GreaterThan | Operator::StrGreaterThan => ">",
        Operator::GreaterThanEquals | Operator::StrGreaterThanEquals => ">=",
    };
    format!("{} {operator} {}", comparison.path, comparison.value)
}

impl Graph {
    /// The graph as a Mermaid flowchart, top to bottom: a Start circle,
    /// one box per state (its type, waits and calls under its name), a
    /// subgraph per nested scope, dotted arrows for error routes and an
    /// End circle after the states that end the workflow (capitalised:
    /// Mermaid reads a lower-case `end` as a keyword).
    pub fn mermaid(&self) -> String {
        let key = |id: &str| {
            let index = self.nodes.iter().position(|node| node.id == id);
            index.map_or_else(|| "missing".to_string(), |index| format!("s{index}"))
        };
        let mut out = String::from("flowchart TD\n");
        out.push_str("    start((Start))\n");
        let mut scopes: Vec<&str> = Vec::new();
        for node in &self.nodes {
            let scope = node.scope.as_deref();
            // Close the scopes this node is not inside, open the ones it is.
            while let Some(open) = scopes.last() {
                if scope
                    .is_some_and(|scope| scope == *open || scope.starts_with(&format!("{open}/")))
                {
                    break;
                }
                scopes.pop();
                out.push_str(&format!("{}end\n", indent(scopes.len())));
            }
            if let Some(scope) = scope
                && scopes.last() != Some(&scope)
            {
                let label = scope.rsplit('/').next().unwrap_or(scope);
                out.push_str(&format!(
                    "{}subgraph {} [\"{}\"]\n",
                    indent(scopes.len()),
                    scope_key(scope),
                    escape(label)
                ));
                scopes.push(scope);
            }
            let mut lines = vec![
                format!("<b>{}</b>", escape(&node.id)),
                node.state_type.to_string(),
            ];
            if !node.waits.is_empty() {
                lines.push(format!("waits {}", escape(&node.waits.join(", "))));
            }
            if !node.calls.is_empty() {
                lines.push(format!("calls {}", escape(&node.calls.join(", "))));
            }
            lines.extend(node.notes.iter().map(|note| escape(note)));
            out.push_str(&format!(
                "{}{}[\"{}\"]\n",
                indent(scopes.len()),
                key(&node.id),
                lines.join("<br/>")
            ));
        }
        while scopes.pop().is_some() {
            out.push_str(&format!("{}end\n", indent(scopes.len())));
        }
        let mut stop = false;
        for node in self.nodes.iter().filter(|node| node.scope.is_none()) {
            if node.start {
                out.push_str(&format!("    start --> {}\n", key(&node.id)));
            }
            if node.end.is_some() {
                stop = true;
                let label = match node.end {
                    Some("success") | None => String::new(),
                    Some(other) => format!("|{other}|"),
                };
                out.push_str(&format!("    {} -->{label} stop\n", key(&node.id)));
            }
        }
        for edge in &self.edges {
            let arrow = match edge.kind {
                EdgeKind::Error => "-.->",
                EdgeKind::Branch | EdgeKind::Iteration => "==>",
                _ => "-->",
            };
            let label = match (&edge.label, edge.kind) {
                (Some(label), EdgeKind::Error) => format!("|\"error: {}\"|", escape(label)),
                (Some(label), _) => format!("|\"{}\"|", escape(label)),
                (None, EdgeKind::Default) => "|default|".to_string(),
                (None, _) => String::new(),
            };
            out.push_str(&format!(
                "    {} {arrow}{label} {}\n",
                key(&edge.from),
                key(&edge.to)
            ));
        }
        if stop {
            out.push_str("    stop((End))\n");
        }
        out
    }
}

fn indent(depth: usize) -> String {
    "    ".repeat(depth + 1)
}

fn scope_key(scope: &str) -> String {
    let mut key = String::from("scope_");
    key.extend(
        scope
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    key
}

/// Mermaid labels are quoted strings with HTML entities; quotes, angle
/// brackets and the pipes of edge labels must not end them early.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '#' => out.push_str("#35;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KnownFunctions, parse};

    fn graph(text: &str) -> Graph {
        build(
            &parse(text, Some("w.json"), KnownFunctions::Unchecked)
                .unwrap()
                .definition,
        )
    }

    const ORDER: &str = r#"{
      "id": "order", "version": "2",
      "events": [{ "name": "Paid", "source": "shop", "type": "paid" }],
      "functions": [{ "name": "charge", "resource": "charge" }],
      "states": [
        { "name": "Wait", "type": "EVENT", "start": { "kind": "DEFAULT" },
          "eventsActions": [{ "eventRefs": ["Paid"], "actions": [] }],
          "transition": { "nextState": "Check" } },
        { "name": "Check", "type": "SWITCH",
          "choices": [{ "path": "$.total", "value": "100", "operator": "GreaterThanEquals",
                        "transition": { "nextState": "Charge" } }],
          "default": { "nextState": "Done" } },
        { "name": "Charge", "type": "OPERATION",
          "actions": [{ "functionRef": { "refName": "charge" } }],
          "onError": [{ "expression": { "language": "jsonpath", "body": "$.error" },
                        "transition": { "nextState": "Failed" } }],
          "transition": { "nextState": "Done" } },
        { "name": "Done", "type": "RELAY", "end": { "kind": "DEFAULT" } },
        { "name": "Failed", "type": "RELAY", "end": { "kind": "TERMINATE" } }
      ] }"#;

    #[test]
    fn states_become_nodes_and_every_route_an_edge() {
        let graph = graph(ORDER);
        let names: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(names, ["Wait", "Check", "Charge", "Done", "Failed"]);
        assert!(graph.nodes[0].start);
        assert_eq!(graph.nodes[0].waits, ["Paid"]);
        assert_eq!(graph.nodes[2].calls, ["charge"]);
        assert_eq!(graph.nodes[3].end, Some("success"));
        assert_eq!(graph.nodes[4].end, Some("terminate"));
        let edges: Vec<(&str, &str, EdgeKind, Option<&str>)> = graph
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str(), e.kind, e.label.as_deref()))
            .collect();
        assert_eq!(
            edges,
            [
                ("Wait", "Check", EdgeKind::Transition, None),
                ("Check", "Charge", EdgeKind::Choice, Some("$.total >= 100")),
                ("Check", "Done", EdgeKind::Default, None),
                ("Charge", "Failed", EdgeKind::Error, Some("$.error")),
                ("Charge", "Done", EdgeKind::Transition, None),
            ]
        );
    }

    #[test]
    fn nested_states_get_their_scope_and_an_edge_from_their_state() {
        let graph = graph(
            r#"{ "id": "p", "functions": [{ "name": "f", "resource": "f" }],
              "states": [{ "name": "Both", "type": "PARALLEL", "start": { "kind": "DEFAULT" },
                "branches": [
                  { "name": "left", "states": [{ "name": "A", "type": "OPERATION", "start": { "kind": "DEFAULT" },
                      "actions": [{ "functionRef": { "refName": "f" } }], "end": { "kind": "DEFAULT" } }] },
                  { "name": "right", "states": [{ "name": "B", "type": "DELAY", "start": { "kind": "DEFAULT" },
                      "timeDelay": "PT1S", "end": { "kind": "DEFAULT" } }] }],
                "end": { "kind": "DEFAULT" } }] }"#,
        );
        let ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["Both", "A", "B"]);
        assert_eq!(graph.nodes[1].scope.as_deref(), Some("Both/left"));
        assert!(graph.nodes[2].notes.contains(&"wait PT1S".to_string()));
        assert!(
            graph
                .edges
                .iter()
                .any(|e| e.from == "Both" && e.to == "B" && e.kind == EdgeKind::Branch)
        );
        let mermaid = graph.mermaid();
        assert!(
            mermaid.contains("subgraph scope_Both_left [\"left\"]"),
            "{mermaid}"
        );
        assert!(mermaid.contains("s0 ==>|\"right\"| s2"), "{mermaid}");
    }

    #[test]
    fn mermaid_draws_start_end_and_error_routes_with_escaped_labels() {
        let mermaid = graph(ORDER).mermaid();
        assert!(mermaid.starts_with("flowchart TD\n"));
        assert!(mermaid.contains("start --> s0"), "{mermaid}");
        assert!(
            mermaid.contains("s1 -->|\"$.total #gt;= 100\"| s2"),
            "{mermaid}"
        );
        assert!(mermaid.contains("s1 -->|default| s3"), "{mermaid}");
        assert!(
            mermaid.contains("s2 -.->|\"error: $.error\"| s4"),
            "{mermaid}"
        );
        assert!(mermaid.contains("s4 -->|terminate| stop"), "{mermaid}");
        assert!(
            mermaid.contains("s0[\"<b>Wait</b><br/>EVENT<br/>waits Paid\"]"),
            "{mermaid}"
        );
    }

    #[test]
    fn a_1_0_task_is_labelled_with_its_1_0_kind() {
        let text = r#"
document: { dsl: '1.0.0', namespace: test, name: kinds, version: '1.0.0' }
do:
  - quote: { call: quote, with: { n: 1 } }
  - init: { set: { n: 1 } }
  - route:
      switch:
        - big: { when: '${ .n > 1 }', then: tell }
        - default: { then: both }
  - both:
      fork:
        branches:
          - paid: { listen: { to: { one: { with: { type: paid, source: shop } } } } }
          - pause: { wait: { seconds: 1 } }
  - guarded:
      try:
        - inner: { do: [ { each: { for: { each: item, in: '${ .items }' }, do: [ { none: { set: {} } } ] } } ] }
      catch:
        errors: { with: { status: 500 } }
  - tell: { emit: { event: { with: { type: told, source: kinds } } } }
  - child: { run: { workflow: { namespace: test, name: other, version: '1.0.0' } } }
  - fail: { raise: { error: { type: https://example.com/no, status: 400 } } }
"#;
        let graph = build(
            &parse(text, Some("kinds.yaml"), KnownFunctions::Unchecked)
                .unwrap()
                .definition,
        );
        let kinds: Vec<(&str, &str)> = graph
            .nodes
            .iter()
            .map(|node| (node.id.as_str(), node.state_type))
            .collect();
        assert_eq!(
            kinds,
            [
                ("/do/0/quote", "call"),
                ("/do/1/init", "set"),
                ("/do/2/route", "switch"),
                ("/do/3/both", "fork"),
                ("/do/3/both/fork/branches/0/paid", "listen"),
                ("/do/3/both/fork/branches/1/pause", "wait"),
                ("/do/4/guarded", "try"),
                ("/do/4/guarded/try/0/inner", "do"),
                ("/do/4/guarded/try/0/inner/do/0/each", "for"),
                ("/do/4/guarded/try/0/inner/do/0/each/do/0/none", "set"),
                ("/do/5/tell", "emit"),
                ("/do/6/child", "run"),
                ("/do/7/fail", "raise"),
            ]
        );
        let mermaid = graph.mermaid();
        assert!(
            mermaid.contains("s0[\"<b>/do/0/quote</b><br/>call<br/>calls quote\"]"),
            "{mermaid}"
        );
    }

    #[test]
    fn the_draft_dialect_draws_too() {
        let graph = graph(include_str!(
            "../../../examples/draft-hello-world/workflow.json"
        ));
        let hello = &graph.nodes[0];
        assert!(hello.start);
        assert_eq!(hello.calls, ["hello"]);
        let bad_input = graph.nodes.iter().find(|n| n.id == "BadInput").unwrap();
        assert_eq!(bad_input.end, Some("failure"));
        assert!(
            graph
                .edges
                .iter()
                .any(|e| e.from == "HelloWorld" && e.to == "BadInput" && e.kind == EdgeKind::Error)
        );
    }
}
