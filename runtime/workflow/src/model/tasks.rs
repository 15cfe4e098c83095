//! The parts of the model that Serverless Workflow 1.0 documents add.
//!
//! A 1.0 task list lowers into a scope of states: each task is a [`State`]
//! named by its JSON pointer (`/do/0/setRed`, unique in the document) whose
//! [`TaskFlow`] says how data flows through it: the task's output *replaces*
//! the data (v0.1 states merge into it), shaped by `input.from`, `output.as`
//! and `export.as`. Flow directives are exits: `continue` and a task name
//! are transitions, `exit` ends the scope (an end of the branch), `end` ends
//! the workflow (a terminating end). Composite tasks (`do`, `try`, `for`)
//! hold their own scopes of states; `fork` is a parallel state.

use serde::Serialize;
use serde_json::Value;

use super::{Exit, State};
use crate::cron::Cron;
use crate::duration::IsoDuration;
use crate::expression::ExpressionError;
use crate::expression::jq::{Bindings, Jq, Template};
use crate::schema::DataSchema;

/// The resource of a function that is a call the host makes itself:
/// `swirl:http`, `swirl:openapi` (1.0's protocol calls).
pub const PROTOCOL_PREFIX: &str = "swirl:";

/// 1.0 `schedule`: when instances of the workflow start by themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkflowSchedule {
    /// An instance at each multiple of the period since the Unix epoch,
    /// whatever the previous one does.
    Every(IsoDuration),
    /// An instance at each instant the expression names (UTC).
    Cron(Cron),
    /// An instance at once, then each one this long after the previous one
    /// ended.
    After(IsoDuration),
    /// An instance per event that one of these event definitions matches
    /// (`one`, `any`), or, with `all`, per set of events, one matching each
    /// definition, in their order.
    On {
        events: Vec<String>,
        read: EventRead,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        all: bool,
    },
}

/// How a consumed event is read: its `data`, its whole `envelope`
/// (attributes and data), or its `raw` data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventRead {
    #[default]
    Data,
    Envelope,
    Raw,
}

/// A 1.0 task's duration (`wait`, `timeout.after`, a retry's `delay`,
/// `limit.duration` and `jitter`) or the workflow's `timeout.after`: as
/// written, or computed by an expression that the engine evaluates once,
/// when it needs the length, into a timer of fixed length that its record
/// keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TaskDuration {
    Fixed(IsoDuration),
    Computed(Jq),
}

impl TaskDuration {
    /// The length: the written one, or what the expression gives on
    /// `input`, which must be ISO 8601 text or an object of units
    /// (`{seconds: 30}`), as a written one.
    pub fn eval(
        &self,
        input: &Value,
        bindings: &Bindings<'_>,
    ) -> Result<IsoDuration, ExpressionError> {
        match self {
            TaskDuration::Fixed(duration) => Ok(duration.clone()),
            TaskDuration::Computed(jq) => {
                let value = jq.eval(input, bindings)?;
                IsoDuration::from_value(&value).map_err(|why| ExpressionError::Evaluation {
                    source_text: jq.as_str().to_owned(),
                    reason: format!("its result {value} is not a duration: {why}"),
                })
            }
        }
    }
}

impl std::fmt::Display for TaskDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskDuration::Fixed(duration) => duration.fmt(f),
            TaskDuration::Computed(jq) => write!(f, "${{ {} }}", jq.as_str()),
        }
    }
}

/// How data flows through a 1.0 task.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFlow {
    /// The task's name as written.
    pub name: String,
    /// The task's JSON pointer in the document, `/do/0/name`.
    pub reference: String,
    /// `if`: the task runs only when this is true; otherwise its input is its output.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub when: Option<Jq>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_from: Option<Template>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_as: Option<Template>,
    /// Replaces the workflow's `$context`, evaluated on the transformed output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_as: Option<Template>,
    /// `input.schema`: checked on the raw input (after `if`, before
    /// `input.from`); `output.schema`: on the output after `output.as`;
    /// `export.schema`: on the new `$context`. A failure is a `validation`
    /// error (400).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<DataSchema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<DataSchema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_schema: Option<DataSchema>,
    /// `timeout.after`: past it the task fails with a `timeout` error (408);
    /// computed when the task starts, on its transformed input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TaskDuration>,
}

/// `set`: the output is the evaluated value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetState {
    pub set: Template,
    #[serde(flatten)]
    pub exit: Exit,
}

/// `raise`: fails with the evaluated error (`type`, `status`, `title`,
/// `detail`); the exit is taken only when `if` skips the task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaiseState {
    pub error: Template,
    #[serde(flatten)]
    pub exit: Exit,
}

/// `do` inside a task list: runs its own scope; its output is the last task's.
/// A `call` of a task of `use.functions` is one too, of that task alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeState {
    pub states: Vec<State>,
    /// The scope's first input instead of the task's: a call's `with`,
    /// evaluated on the task's input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Template>,
    #[serde(flatten)]
    pub exit: Exit,
}

/// `try`: runs its scope; an error from it that `catch` matches is handled
/// (retried, or replaced by the catch's own tasks), others go up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TryState {
    pub states: Vec<State>,
    pub catch: Catch,
    #[serde(flatten)]
    pub exit: Exit,
}

/// What a `try` catches and what it does then.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Catch {
    /// `errors.with`: properties the error must have (`type`, `status`, ...).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub with: serde_json::Map<String, Value>,
    /// `as`: the variable holding the error, `error` unless named.
    #[serde(rename = "as")]
    pub variable: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Jq>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub except_when: Option<Jq>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// `do`: tasks run with the error instead of the failed ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<State>,
}

/// How a `try` retries its tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Jq>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub except_when: Option<Jq>,
    /// Durations computed by expressions are computed at each failure, on
    /// the error, as `when` is.
    pub delay: TaskDuration,
    pub backoff: Backoff,
    /// Attempts in all, the first included; `None` means no bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_attempts: Option<u32>,
    /// How long retrying may go on, from the first failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_duration: Option<TaskDuration>,
    /// A random extra delay between these two, added to each wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<(TaskDuration, TaskDuration)>,
}

/// How the delay grows from one retry to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    Constant,
    Linear,
    Exponential,
}

/// `for`: runs its scope once per element, in order, each iteration's
/// output being the next one's input.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForState {
    /// The element's variable name (without `$`), `item` unless named.
    pub each: String,
    /// The index's variable name, `index` unless named.
    pub at: String,
    #[serde(rename = "in")]
    pub collection: Jq,
    #[serde(rename = "while", skip_serializing_if = "Option::is_none")]
    pub while_: Option<Jq>,
    pub states: Vec<State>,
    #[serde(flatten)]
    pub exit: Exit,
}

/// `emit`: produces the evaluated CloudEvent; the output is the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmitState {
    pub event: Template,
    #[serde(flatten)]
    pub exit: Exit,
}

/// The 1.0 `switch`: the first case whose `when` holds (or that has none)
/// decides; when none does, the task's own exit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CasesState {
    pub cases: Vec<Case>,
    pub otherwise: Exit,
}

/// One case of a 1.0 switch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Jq>,
    pub then: Exit,
}
