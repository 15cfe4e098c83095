//! Cross-reference checks that need the whole definition.
//!
//! They run over the [`Facts`] the dialect readers recorded, so they are the
//! same for both dialects and point at the source as written: unique names,
//! one start state per scope, an end state in every branch and foreach body,
//! transition targets that exist and stay inside their scope, function and
//! event references that resolve, function resources that the manifest
//! defines, and (as warnings) states no path reaches.

use std::collections::{HashMap, HashSet};

use super::diagnostic::{Diagnostics, did_you_mean};
use super::reader::{Facts, NameFact};

/// How many name comparisons "did you mean" hints may cost in one definition.
/// Each hint compares the name with every candidate, so thousands of broken
/// references among thousands of states took minutes to check. Real
/// definitions stay far below the budget; past it, errors come without hints,
/// and a user fixes the first ones long before needing the rest.
pub const MAX_HINT_COMPARISONS: usize = 100_000;

/// Hands out "did you mean" hints until [`MAX_HINT_COMPARISONS`] are spent.
struct Hints {
    comparisons_left: usize,
}

impl Hints {
    fn did_you_mean<'a>(
        &mut self,
        wanted: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> String {
        let left = &mut self.comparisons_left;
        let budgeted = candidates.into_iter().take(*left).inspect(|_| *left -= 1);
        did_you_mean(wanted, budgeted)
    }
}

/// Runs every check, appending to `diagnostics`.
pub fn check(
    facts: &Facts,
    known_functions: Option<&dyn Fn(&str) -> bool>,
    diagnostics: &mut Diagnostics,
) {
    let mut hints = Hints {
        comparisons_left: MAX_HINT_COMPARISONS,
    };
    let mut first_by_name: HashMap<&str, usize> = HashMap::new();
    for (index, state) in facts.states.iter().enumerate() {
        match first_by_name.get(state.name.as_str()) {
            Some(first) => diagnostics.error(
                &state.site.pointer,
                state.site.position,
                format!(
                    "state name '{}' is already used at line {}; state names must be unique in a workflow, branches included",
                    state.name, facts.states[*first].site.position.line
                ),
            ),
            None => {
                first_by_name.insert(&state.name, index);
            }
        }
    }

    for (scope_index, scope) in facts.scopes.iter().enumerate() {
        let in_scope: Vec<_> = facts
            .states
            .iter()
            .filter(|s| s.scope == scope_index)
            .collect();
        let starts: Vec<_> = in_scope.iter().filter(|s| s.is_start).collect();
        match starts.as_slice() {
            [] if !in_scope.is_empty() => diagnostics.error(
                &scope.site.pointer,
                scope.site.position,
                format!(
                    "{} has no start state; mark exactly one of its states as the start",
                    scope.label
                ),
            ),
            // An empty or unreadable state list was reported by the reader.
            [] => {}
            [_] => {}
            [first, rest @ ..] => {
                for extra in rest {
                    diagnostics.error(
                        &extra.site.pointer,
                        extra.site.position,
                        format!(
                            "{} has more than one start state: '{}' and '{}'; keep one",
                            scope.label, first.name, extra.name
                        ),
                    );
                }
            }
        }
        if scope.needs_end && !in_scope.is_empty() && !in_scope.iter().any(|s| s.is_end) {
            diagnostics.error(
                &scope.site.pointer,
                scope.site.position,
                format!(
                    "{} has no end state; give at least one of its states an 'end'",
                    scope.label
                ),
            );
        }
    }

    let scope_of: HashMap<&str, usize> = facts
        .states
        .iter()
        .map(|s| (s.name.as_str(), s.scope))
        .collect();
    for edge in &facts.edges {
        match scope_of.get(edge.target.as_str()) {
            None => {
                let candidates = facts.states.iter().filter(|s| s.scope == edge.scope).map(|s| s.name.as_str());
                diagnostics.error(
                    &edge.site.pointer,
                    edge.site.position,
                    format!(
                        "state '{}' transitions to '{}', which does not exist{}",
                        edge.from,
                        edge.target,
                        hints.did_you_mean(&edge.target, candidates)
                    ),
                );
            }
            Some(scope) if *scope != edge.scope => diagnostics.error(
                &edge.site.pointer,
                edge.site.position,
                format!(
                    "state '{}' in {} transitions to '{}' in {}; transitions cannot jump into or out of a parallel branch or foreach",
                    edge.from, facts.scopes[edge.scope].label, edge.target, facts.scopes[*scope].label
                ),
            ),
            Some(_) => {}
        }
    }

    unique(&facts.functions, "function", diagnostics);
    unique(&facts.events, "event", diagnostics);
    resolve(
        &facts.function_refs,
        &facts.functions,
        "function",
        "functions",
        &mut hints,
        diagnostics,
    );
    resolve(
        &facts.event_refs,
        &facts.events,
        "event",
        "events",
        &mut hints,
        diagnostics,
    );

    if let Some(known) = known_functions {
        for resource in &facts.resources {
            // `greet@canary` calls `greet` through its alias `canary`.
            let (function, alias) = swirl_core::function_ref::split(&resource.name);
            let problem = match alias.map(swirl_core::function_ref::check_alias) {
                Some(Err(problem)) => {
                    Some(format!("function resource '{}': {problem}", resource.name))
                }
                _ if !known(function) => Some(match alias {
                    None if !facts.reusable.is_empty() => format!(
                        "function '{function}' is not a function of the manifest nor of 'use.functions'; add it to one or fix the name{}",
                        hints.did_you_mean(function, facts.reusable.iter().map(String::as_str))
                    ),
                    None => format!(
                        "function resource '{function}' is not a function of the manifest; add it to the manifest or fix the name"
                    ),
                    Some(_) => format!(
                        "function resource '{}' names '{function}', which is not a function of the manifest; add it to the manifest or fix the name",
                        resource.name
                    ),
                }),
                _ => None,
            };
            if let Some(problem) = problem {
                diagnostics.error(&resource.site.pointer, resource.site.position, problem);
            }
        }
    }

    unreachable_states(facts, diagnostics);
}

fn unique(declared: &[NameFact], what: &str, diagnostics: &mut Diagnostics) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for fact in declared {
        if let Some(line) = seen.get(fact.name.as_str()) {
            diagnostics.error(
                &fact.site.pointer,
                fact.site.position,
                format!("{what} name '{}' is already defined at line {line}; {what} names must be unique", fact.name),
            );
        } else {
            seen.insert(&fact.name, fact.site.position.line);
        }
    }
}

fn resolve(
    uses: &[NameFact],
    declared: &[NameFact],
    what: &str,
    list: &str,
    hints: &mut Hints,
    diagnostics: &mut Diagnostics,
) {
    let names: HashSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    for used in uses {
        if !names.contains(used.name.as_str()) {
            diagnostics.error(
                &used.site.pointer,
                used.site.position,
                format!(
                    "{what} '{}' is not defined; add it to '{list}'{}",
                    used.name,
                    hints.did_you_mean(&used.name, names.iter().copied())
                ),
            );
        }
    }
}

/// Warns about states that no transition reaches from their scope's start.
/// States of a nested scope are reached through their scope's start state.
fn unreachable_states(facts: &Facts, diagnostics: &mut Diagnostics) {
    let mut next: HashMap<&str, Vec<&str>> = HashMap::new();
    for edge in &facts.edges {
        next.entry(edge.from.as_str())
            .or_default()
            .push(edge.target.as_str());
    }
    let mut reached: HashSet<&str> = HashSet::new();
    let mut pending: Vec<&str> = facts
        .states
        .iter()
        .filter(|s| s.is_start)
        .map(|s| s.name.as_str())
        .collect();
    while let Some(name) = pending.pop() {
        if reached.insert(name) {
            pending.extend(next.get(name).into_iter().flatten().copied());
        }
    }
    let has_start: HashSet<usize> = facts
        .states
        .iter()
        .filter(|s| s.is_start)
        .map(|s| s.scope)
        .collect();
    for state in &facts.states {
        if has_start.contains(&state.scope) && !reached.contains(state.name.as_str()) {
            diagnostics.warning(
                &state.site.pointer,
                state.site.position,
                format!("state '{}' is never reached: no transition leads to it from the start state of {}", state.name, facts.scopes[state.scope].label),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{KnownFunctions, parse};

    #[test]
    fn a_resource_may_name_a_known_function_through_an_alias() {
        let known = std::collections::HashSet::from(["greet".to_string()]);
        let check = |resource: &str| {
            let text = format!(
                r#"{{"id": "w", "version": "1", "functions": [{{"name": "f", "resource": "{resource}"}}],
                  "states": [{{"name": "S", "type": "OPERATION", "start": {{"kind": "DEFAULT"}},
                  "actions": [{{"functionRef": {{"refName": "f"}}}}], "end": {{"kind": "DEFAULT"}}}}]}}"#
            );
            parse(&text, None, KnownFunctions::Set(&known))
                .map(|_| ())
                .map_err(|diagnostics| diagnostics.0[0].message.clone())
        };
        assert_eq!(check("greet"), Ok(()));
        assert_eq!(check("greet@live"), Ok(()));
        assert!(
            check("greet@Live")
                .unwrap_err()
                .contains("alias name 'Live'")
        );
        assert!(
            check("hello@live")
                .unwrap_err()
                .contains("names 'hello', which is not a function of the manifest")
        );
    }

    /// 9,000 states each transitioning to a misspelt name took minutes to
    /// check: every missing target was compared with every state for a hint.
    #[test]
    fn regression_many_unresolved_transitions_took_minutes() {
        let states: Vec<String> = (0..9_000)
            .map(|i| {
                let start = if i == 0 { r#""start": {"kind": "DEFAULT"},"# } else { "" };
                format!(
                    r#"{{"name": "State{i:05}", "type": "RELAY", {start} "transition": {{"nextState": "Stat{i:05}"}}}}"#
                )
            })
            .collect();
        let text = format!(
            r#"{{"id": "many", "version": "1", "states": [{}]}}"#,
            states.join(",\n")
        );
        let started = std::time::Instant::now();
        let diagnostics = parse(&text, None, KnownFunctions::Unchecked).unwrap_err();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        let missing: Vec<_> = diagnostics
            .0
            .iter()
            .filter(|d| d.message.contains("which does not exist"))
            .collect();
        assert_eq!(missing.len(), 9_000);
        // The budget buys whole hints for the first references, then none.
        let hinted = missing
            .iter()
            .filter(|d| d.message.contains("did you mean"))
            .count();
        assert_eq!(hinted, super::MAX_HINT_COMPARISONS / 9_000 + 1);
        assert!(
            missing[..hinted]
                .iter()
                .all(|d| d.message.contains("did you mean"))
        );
        assert_eq!(
            missing[0].message,
            "state 'State00000' transitions to 'Stat00000', which does not exist; did you mean 'State00000'?"
        );
    }
}
