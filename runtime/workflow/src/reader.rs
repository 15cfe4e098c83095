//! Shared machinery for turning a [`Node`] tree into the model.
//!
//! A [`Reader`] walks the tree, reports every type error, missing field and
//! uncompilable path at once (a failed part yields `None` and reading goes on),
//! and records [`Facts`]: the names, references and scopes that the
//! dialect-independent checks in `validate.rs` look at, each with the source
//! location the user wrote. The dialect readers (`v01.rs`, `draft.rs`) build on it.

use super::diagnostic::{Diagnostics, Pointer, did_you_mean};
use super::duration::IsoDuration;
use super::expression::{Condition, JsonPath, SUPPORTED_LANGUAGE, WritePath};
use super::source::{Key, Node, NodeValue, Position};

/// A place in the source: pointer and position.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub pointer: Pointer,
    pub position: Position,
}

/// A declared state.
#[derive(Debug, Clone)]
pub struct StateFact {
    pub name: String,
    pub scope: usize,
    pub site: Site,
    pub is_start: bool,
    pub is_end: bool,
}

/// A scope of states: the workflow, a parallel branch, or a foreach body.
#[derive(Debug, Clone)]
pub struct ScopeFact {
    /// How messages name it: "the workflow", "branch 'B' of state 'P'".
    pub label: String,
    pub site: Site,
    /// Whether the scope must contain an end state.
    pub needs_end: bool,
}

/// A reference from one state to another.
#[derive(Debug, Clone)]
pub struct EdgeFact {
    pub from: String,
    pub scope: usize,
    pub target: String,
    pub site: Site,
}

/// A name used somewhere (a function or event reference) or declared.
#[derive(Debug, Clone)]
pub struct NameFact {
    pub name: String,
    pub site: Site,
}

/// What the dialect readers learned for the cross-reference checks.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub scopes: Vec<ScopeFact>,
    pub states: Vec<StateFact>,
    pub edges: Vec<EdgeFact>,
    pub functions: Vec<NameFact>,
    /// `functions[].resource` values, checked against the manifest.
    pub resources: Vec<NameFact>,
    pub events: Vec<NameFact>,
    pub function_refs: Vec<NameFact>,
    pub event_refs: Vec<NameFact>,
    /// 1.0 `use.functions` names: a call that is none of them is a
    /// function of the manifest, and its hint looks among them too.
    pub reusable: Vec<String>,
}

/// Reads nodes, collecting diagnostics and facts.
pub struct Reader {
    pub diagnostics: Diagnostics,
    pub facts: Facts,
    /// Set when the top-level `expressionLanguage` is not JSONPath: every
    /// expression is then refused, pointing at that declaration.
    pub foreign_language: Option<(String, Site)>,
}

impl Reader {
    pub fn new() -> Self {
        Reader {
            diagnostics: Diagnostics::default(),
            facts: Facts::default(),
            foreign_language: None,
        }
    }

    pub fn error(&mut self, pointer: &Pointer, position: Position, message: impl Into<String>) {
        self.diagnostics.error(pointer, position, message);
    }

    pub fn warning(&mut self, pointer: &Pointer, position: Position, message: impl Into<String>) {
        self.diagnostics.warning(pointer, position, message);
    }

    pub fn new_scope(&mut self, label: String, site: Site, needs_end: bool) -> usize {
        self.facts.scopes.push(ScopeFact {
            label,
            site,
            needs_end,
        });
        self.facts.scopes.len() - 1
    }

    pub fn edge(
        &mut self,
        from: &str,
        scope: usize,
        target: String,
        pointer: Pointer,
        position: Position,
    ) {
        self.facts.edges.push(EdgeFact {
            from: from.to_owned(),
            scope,
            target,
            site: Site { pointer, position },
        });
    }

    /// The members of an object node, or an error naming what was expected.
    pub fn object<'n>(
        &mut self,
        node: &'n Node,
        pointer: &Pointer,
        what: &str,
    ) -> Option<&'n [(Key, Node)]> {
        match &node.value {
            NodeValue::Object(members) => Some(members),
            _ => {
                self.error(
                    pointer,
                    node.position,
                    format!("{what} must be an object, not {}", article(node)),
                );
                None
            }
        }
    }

    /// The items of an array node, or an error.
    pub fn array<'n>(
        &mut self,
        node: &'n Node,
        pointer: &Pointer,
        what: &str,
    ) -> Option<&'n [Node]> {
        match &node.value {
            NodeValue::Array(items) => Some(items),
            _ => {
                self.error(
                    pointer,
                    node.position,
                    format!("{what} must be an array, not {}", article(node)),
                );
                None
            }
        }
    }

    /// Warns about keys that the dialect does not define, suggesting the
    /// closest known key (the schema allows extra keys, so this is no error).
    pub fn unknown_keys(&mut self, node: &Node, pointer: &Pointer, known: &[&str], what: &str) {
        let NodeValue::Object(members) = &node.value else {
            return;
        };
        for (key, _) in members {
            if !known.contains(&key.name.as_str()) {
                let hint = did_you_mean(&key.name, known.iter().copied());
                self.warning(
                    &pointer.key(&key.name),
                    key.position,
                    format!("unknown field '{}' in {what} is ignored{hint}", key.name),
                );
            }
        }
    }

    /// A member that must be present.
    pub fn required<'n>(
        &mut self,
        node: &'n Node,
        pointer: &Pointer,
        name: &str,
        what: &str,
    ) -> Option<&'n Node> {
        let found = node.get(name);
        if found.is_none() {
            self.error(
                pointer,
                node.position,
                format!("{what} is missing the required field '{name}'"),
            );
        }
        found
    }

    /// A string member that must be present and non-empty.
    pub fn required_string(
        &mut self,
        node: &Node,
        pointer: &Pointer,
        name: &str,
        what: &str,
    ) -> Option<String> {
        let value = self.required(node, pointer, name, what)?;
        self.string(value, &pointer.key(name), &format!("'{name}' of {what}"))
    }

    pub fn optional_string(
        &mut self,
        node: &Node,
        pointer: &Pointer,
        name: &str,
        what: &str,
    ) -> Option<String> {
        let value = node.get(name)?;
        self.string(value, &pointer.key(name), &format!("'{name}' of {what}"))
    }

    pub fn string(&mut self, node: &Node, pointer: &Pointer, what: &str) -> Option<String> {
        match &node.value {
            NodeValue::String(s) if s.is_empty() => {
                self.error(pointer, node.position, format!("{what} must not be empty"));
                None
            }
            NodeValue::String(s) => Some(s.clone()),
            _ => {
                self.error(
                    pointer,
                    node.position,
                    format!("{what} must be a string, not {}", article(node)),
                );
                None
            }
        }
    }

    /// A boolean member; the draft's `"true"`/`"false"` strings are accepted
    /// when `lenient`.
    pub fn optional_bool(
        &mut self,
        node: &Node,
        pointer: &Pointer,
        name: &str,
        lenient: bool,
    ) -> Option<bool> {
        let value = node.get(name)?;
        match &value.value {
            NodeValue::Bool(b) => Some(*b),
            NodeValue::String(s) if lenient && s.eq_ignore_ascii_case("true") => Some(true),
            NodeValue::String(s) if lenient && s.eq_ignore_ascii_case("false") => Some(false),
            _ => {
                self.error(
                    &pointer.key(name),
                    value.position,
                    format!("'{name}' must be true or false, not {}", article(value)),
                );
                None
            }
        }
    }

    /// A non-negative integer member; numbers written as strings (`"2"`) are
    /// accepted when `lenient`, as the draft writes them.
    pub fn optional_count(
        &mut self,
        node: &Node,
        pointer: &Pointer,
        name: &str,
        lenient: bool,
    ) -> Option<u64> {
        let value = node.get(name)?;
        let parsed = match &value.value {
            NodeValue::Number(n) => n.as_u64(),
            NodeValue::String(s) if lenient => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.error(
                &pointer.key(name),
                value.position,
                format!(
                    "'{name}' must be a whole number of zero or more, not {}",
                    describe(value)
                ),
            );
        }
        parsed
    }

    /// A JSONPath member, compiled.
    pub fn path(
        &mut self,
        node: &Node,
        pointer: &Pointer,
        name: &str,
        what: &str,
    ) -> Option<JsonPath> {
        let value = node.get(name)?;
        self.path_value(value, &pointer.key(name), &format!("'{name}' of {what}"))
    }

    pub fn path_value(&mut self, node: &Node, pointer: &Pointer, what: &str) -> Option<JsonPath> {
        let text = self.string(node, pointer, what)?;
        match JsonPath::compile(&text) {
            Ok(path) => Some(path),
            Err(error) => {
                self.error(pointer, node.position, error.to_string());
                None
            }
        }
    }

    /// A write path member (where a result is stored), compiled.
    pub fn write_path(
        &mut self,
        node: &Node,
        pointer: &Pointer,
        name: &str,
        what: &str,
    ) -> Option<WritePath> {
        let value = node.get(name)?;
        let pointer = pointer.key(name);
        let text = self.string(value, &pointer, &format!("'{name}' of {what}"))?;
        match WritePath::compile(&text) {
            Ok(path) => Some(path),
            Err(error) => {
                self.error(&pointer, value.position, error.to_string());
                None
            }
        }
    }

    /// A duration member (`PT15M`), parsed.
    pub fn duration(&mut self, node: &Node, pointer: &Pointer, name: &str) -> Option<IsoDuration> {
        let value = node.get(name)?;
        let pointer = pointer.key(name);
        let text = self.string(value, &pointer, &format!("'{name}'"))?;
        match IsoDuration::parse(&text) {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.error(
                    &pointer,
                    value.position,
                    format!("'{name}' is invalid: {error}"),
                );
                None
            }
        }
    }

    /// Compiles a boolean expression body in `language` (`None`: the default).
    pub fn condition(
        &mut self,
        body: &str,
        language: Option<(&str, Site)>,
        body_site: &Site,
    ) -> Option<Condition> {
        let (foreign, inherited) = match language {
            Some((language, site)) if !language.eq_ignore_ascii_case(SUPPORTED_LANGUAGE) => {
                (Some((language.to_owned(), site)), false)
            }
            Some(_) => (None, false),
            None => (self.foreign_language.clone(), true),
        };
        if let Some((language, site)) = foreign {
            let advice = format!(
                "swirl evaluates '{SUPPORTED_LANGUAGE}' only, so rewrite this expression as an RFC 9535 filter such as \"@.error.name == 'FunctionExecutionError'\""
            );
            if inherited {
                // Point at the expression itself; the message names the declaration.
                self.error(
                    &body_site.pointer,
                    body_site.position,
                    format!(
                        "expression language '{language}' (set by {}) is not supported; {advice}",
                        site.pointer
                    ),
                );
            } else {
                self.error(
                    &site.pointer,
                    site.position,
                    format!("expression language '{language}' is not supported; {advice}"),
                );
            }
            return None;
        }
        match Condition::compile(body) {
            Ok(condition) => Some(condition),
            Err(error) => {
                self.error(&body_site.pointer, body_site.position, error.to_string());
                None
            }
        }
    }
}

/// "a string", "an array", ... for messages.
pub fn article(node: &Node) -> String {
    match node.type_name() {
        name @ ("object" | "array") => format!("an {name}"),
        "null" => "null".to_owned(),
        name => format!("a {name}"),
    }
}

/// The value itself for scalars, else its type, for messages.
pub fn describe(node: &Node) -> String {
    match &node.value {
        NodeValue::String(s) => format!("'{s}'"),
        NodeValue::Number(n) => n.to_string(),
        NodeValue::Bool(b) => b.to_string(),
        _ => article(node),
    }
}

/// Matches an enumerated value in any case against its spellings.
pub fn enum_value<T: Copy>(text: &str, choices: &[(&str, T)]) -> Option<T> {
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, v)| *v)
}

/// "'A', 'B' or 'C'" for messages.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}
