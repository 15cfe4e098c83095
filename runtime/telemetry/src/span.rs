//! A finished span, as the exporter sends it: the OpenTelemetry data model
//! reduced to what swirl records.

use std::borrow::Cow;

use swirl_core::trace_context::{SpanId, TraceContext};

/// What a span stands for, as OTLP numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// How a span ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Unset,
    Ok,
    Error(String),
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Str(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Str(text)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Int(number)
    }
}

impl From<u32> for Value {
    fn from(number: u32) -> Self {
        Value::Int(i64::from(number))
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

pub type Attributes = Vec<(Cow<'static, str>, Value)>;

/// Something that happened at a point in a span.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: &'static str,
    pub at_ns: u64,
    pub attributes: Attributes,
}

/// A finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Its trace, its own id, its flags and `tracestate`.
    pub context: TraceContext,
    pub parent: Option<SpanId>,
    pub name: String,
    pub kind: SpanKind,
    /// Unix nanoseconds.
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Attributes,
    pub events: Vec<Event>,
    /// Spans of other traces (or of this one) it follows from.
    pub links: Vec<TraceContext>,
    pub status: Status,
}

impl Span {
    /// A span `context` names, under `parent`, from `start_ns` (its end is
    /// its start until [`Span::end`] is set).
    pub fn new(
        name: impl Into<String>,
        context: TraceContext,
        parent: Option<SpanId>,
        kind: SpanKind,
        start_ns: u64,
    ) -> Self {
        Span {
            context,
            parent,
            name: name.into(),
            kind,
            start_ns,
            end_ns: start_ns,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            status: Status::Unset,
        }
    }

    /// Sets attribute `key`.
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) -> &mut Self {
        self.attributes.push((Cow::Borrowed(key), value.into()));
        self
    }

    /// The attribute `key`, if set.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value)
    }
}
