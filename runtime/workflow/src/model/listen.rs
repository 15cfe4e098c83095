//! What 1.0's `listen` and `schedule.on` add to the event model: filters on
//! the attributes beyond type and source, correlations between the events
//! of one wait, how the events are read, and when an `any` wait ends.
//!
//! The type and source of a filter stay the event definition's, so that the
//! event index finds the waiting instances by them as it does for v0.1; the
//! rest of a filter is checked on each event the index hands over, on the
//! event's envelope (its context attributes as strings, and `data`). A
//! listen's filter may compute its type or source: the listen computes them
//! as it starts and subscribes under the values, which its record keeps.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::expression::ExpressionError;
use crate::expression::jq::{Bindings, Jq, Template};

/// A 1.0 event filter beyond type and source.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct EventFilter {
    /// `with`: the other attributes the event must carry, and how they must match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub with: Vec<(String, AttributeMatch)>,
    /// `correlate`: values taken from each event that must agree.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub correlate: Vec<Correlation>,
    /// `type` and `source` computed by expressions, on the listen's input
    /// as it starts (the definition's are then the text as written).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub computed_type: Option<Jq>,
    #[serde(rename = "source", skip_serializing_if = "Option::is_none")]
    pub computed_source: Option<Jq>,
}

impl EventFilter {
    /// Whether `envelope` (the event as `read: envelope` gives it) passes
    /// the `with` part of the filter. An expression reads the attribute's
    /// value (`data`: the data) as `.` and sees no workflow variables: a
    /// start by event has no instance yet.
    pub fn accepts(&self, envelope: &Value) -> Result<bool, ExpressionError> {
        let locals = Default::default();
        for (attribute, wanted) in &self.with {
            let Some(value) = envelope.get(attribute) else {
                return Ok(false);
            };
            let passes = match wanted {
                AttributeMatch::Expression(jq) => {
                    match jq.eval(value, &Bindings::empty(&locals))? {
                        Value::Bool(flag) => flag,
                        other => other == *value,
                    }
                }
                AttributeMatch::Pattern(pattern) => {
                    value.as_str().is_some_and(|text| pattern.matches(text))
                }
                AttributeMatch::Value(expected) => expected == value,
            };
            if !passes {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// How one attribute of a filter's `with` must match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AttributeMatch {
    /// `${ … }`: true, or the attribute's value itself.
    Expression(Jq),
    /// A string: the value itself, or a regular expression the whole value matches.
    Pattern(Pattern),
    /// Any other JSON (`data: {…}`): equal to the value.
    Value(Value),
}

/// A string an attribute matches when it is equal or when, read as a
/// regular expression, it matches the whole attribute.
#[derive(Clone)]
pub struct Pattern {
    text: String,
    regex: regex::Regex,
}

impl Pattern {
    /// The pattern of `text`; an error names what the regular expression lacks.
    pub fn new(text: &str) -> Result<Self, regex::Error> {
        Ok(Pattern {
            text: text.to_string(),
            regex: regex::Regex::new(&format!("^(?:{text})$"))?,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        value == self.text || self.regex.is_match(value)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.text.serialize(serializer)
    }
}

/// One `correlate` entry: `from` takes a value from the event's envelope;
/// it must equal `expect` (evaluated on the task's input), or without one,
/// the value the first event of the same wait gave under this name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    pub name: String,
    pub from: Jq,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<Template>,
}

/// How a 1.0 `listen` task reads its events, when it ends, and what it
/// does with each.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Listen {
    pub read: super::EventRead,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreach: Option<ListenForeach>,
}

/// A listen's `foreach`: each consumed event, in the order they came and
/// one at a time, is the input of `states` (none: the event is the item's
/// output), with the event as `$<item>` and its position as `$<at>`. The
/// item's output is the tasks' output after `output_as` (which must
/// conform to `output_schema`); the listen's is the array of its items'
/// outputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenForeach {
    pub item: String,
    pub at: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<super::State>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_as: Option<Template>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<super::DataSchema>,
    /// Replaces `$context` after each item, evaluated on its output; the
    /// context must then conform to `export_schema`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_as: Option<Template>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_schema: Option<super::DataSchema>,
}

/// When a `listen` to `any` stops consuming events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Until {
    /// Evaluated on the array of the events consumed so far, after each.
    Condition(Jq),
    /// Once these events came (every one with `all`, else any one); they
    /// are not part of the task's output.
    Events { all: bool, events: Vec<String> },
}
