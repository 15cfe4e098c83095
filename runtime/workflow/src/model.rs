//! The typed workflow model: the vocabulary the engine executes.
//!
//! Every dialect (1.0, v0.1 and the handbook's earlier draft) loads into these
//! types, named as the v0.1 spec names them; [`tasks`] holds what 1.0 adds
//! and says how its tasks lower into states. Shapes the spec forbids cannot be
//! built: a state ends *or* transitions ([`Exit`]), a switch has a `default`
//! and no end, an `EVENT` end carries its `produceEvent`, a scheduled start
//! carries its schedule. Every path and expression is already compiled.
//!
//! Serializing a model gives the v0.1 JSON form; reading that back gives the
//! same model. Two swirl extensions appear in that form only when used: an
//! end's `status` (`FAILURE`, from the draft's END state) and an action's
//! `timeout`; plus `resultPath` in a state data filter (the draft's ResultPath)
//! and the draft's string operators (`StrEQ`, ...).

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::duration::{IsoDuration, RepeatingInterval, ScheduleInterval};
use super::expression::jq::Template;
use super::expression::{Condition, JsonPath, WritePath};
use super::schema::DataSchema;

mod listen;
mod tasks;
pub use listen::*;
pub use tasks::*;

/// Free-form key/value information that does not affect execution.
pub type Metadata = Map<String, Value>;

fn is_false(value: &bool) -> bool {
    !*value
}

/// A whole workflow definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDefinition {
    /// The definition's identity: its `id`, else its `name`, else the file stem.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    pub expression_language: ExpressionLanguage,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventDefinition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<FunctionDefinition>,
    pub states: Vec<State>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Metadata,
    /// 1.0: the workflow's `input.from` and `output.as`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_from: Option<Template>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_as: Option<Template>,
    /// 1.0: `input.schema`, checked on the raw input before `input.from`,
    /// and `output.schema`, checked on the output after `output.as`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<DataSchema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<DataSchema>,
    /// 1.0: the workflow's `timeout.after`; past it the instance faults
    /// with a `timeout` error (408). An expression is computed once, as the
    /// instance starts, on the workflow's transformed input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TaskDuration>,
    /// 1.0: when instances start by themselves (the clock, events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<WorkflowSchedule>,
    /// 1.0 `use.secrets`: the app's secrets this workflow may read
    /// (`$secrets`, an authentication's `use`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// 1.0: the document as written, which expressions read as
    /// `$workflow.definition` (null in the other dialects).
    #[serde(skip)]
    pub document: Value,
}

/// The language of every path and expression: JSONPath for v0.1 and the
/// draft, jq for 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum ExpressionLanguage {
    #[default]
    #[serde(rename = "jsonpath")]
    JsonPath,
    #[serde(rename = "jq")]
    Jq,
}

/// A reusable function; `resource` names a function of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionDefinition {
    pub name: String,
    pub resource: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub function_type: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Metadata,
}

/// A CloudEvent the workflow consumes or produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDefinition {
    pub name: String,
    pub source: String,
    /// Empty (with an empty source) for 1.0's listen to every event
    /// (`any: []`), which the event index keeps under an empty type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The context attribute whose value correlates events with an instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_token: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Metadata,
    /// 1.0: what the event must carry beyond its type and source. Boxed:
    /// most definitions have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Box<EventFilter>>,
}

impl EventDefinition {
    /// Whether a 1.0 listen computes its type or source as it starts: until
    /// then no event is known to be one it names.
    pub fn is_computed(&self) -> bool {
        self.filter
            .as_deref()
            .is_some_and(|f| f.computed_type.is_some() || f.computed_source.is_some())
    }

    /// The attribute name to look up in incoming events. CloudEvents
    /// attribute names are lower case, and the spec's examples write
    /// `patientId`; HTTP binary mode delivers it as `ce-patientid`.
    pub fn correlation_attribute(&self) -> Option<String> {
        self.correlation_token
            .as_ref()
            .map(|t| t.to_ascii_lowercase())
    }
}

/// One state: the fields every state has, and its kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub kind: StateKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Start>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_data_filter: Option<StateDataFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on_error: Vec<ErrorHandler>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Metadata,
    /// 1.0 tasks: the task's name, pointer and data flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskFlow>,
}

impl State {
    /// Where the state goes when it completes; `None` for a v0.1 switch,
    /// whose choices and default decide (a 1.0 switch's is where it goes
    /// when no case matches; a raise's, where it goes when `if` skips it).
    pub fn exit(&self) -> Option<&Exit> {
        match &self.kind {
            StateKind::Event(s) => Some(&s.exit),
            StateKind::Operation(s) => Some(&s.exit),
            StateKind::Switch(_) => None,
            StateKind::Delay(s) => Some(&s.exit),
            StateKind::Parallel(s) => Some(&s.exit),
            StateKind::SubFlow(s) => Some(&s.exit),
            StateKind::Relay(s) => Some(&s.exit),
            StateKind::ForEach(s) => Some(&s.exit),
            StateKind::Callback(s) => Some(&s.exit),
            StateKind::Set(s) => Some(&s.exit),
            StateKind::Scope(s) => Some(&s.exit),
            StateKind::Try(s) => Some(&s.exit),
            StateKind::For(s) => Some(&s.exit),
            StateKind::Emit(s) => Some(&s.exit),
            StateKind::Raise(s) => Some(&s.exit),
            StateKind::Cases(s) => Some(&s.otherwise),
        }
    }

    /// The retry policies of the states that have them.
    pub fn retry(&self) -> &[Retry] {
        match &self.kind {
            StateKind::Event(s) => &s.retry,
            StateKind::Operation(s) => &s.retry,
            StateKind::Parallel(s) => &s.retry,
            StateKind::ForEach(s) => &s.retry,
            StateKind::Callback(s) => &s.retry,
            _ => &[],
        }
    }
}

/// What a state does, by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum StateKind {
    #[serde(rename = "EVENT")]
    Event(EventState),
    #[serde(rename = "OPERATION")]
    Operation(OperationState),
    #[serde(rename = "SWITCH")]
    Switch(SwitchState),
    #[serde(rename = "DELAY")]
    Delay(DelayState),
    #[serde(rename = "PARALLEL")]
    Parallel(ParallelState),
    #[serde(rename = "SUBFLOW")]
    SubFlow(SubFlowState),
    #[serde(rename = "RELAY")]
    Relay(RelayState),
    #[serde(rename = "FOREACH")]
    ForEach(ForEachState),
    #[serde(rename = "CALLBACK")]
    Callback(CallbackState),
    #[serde(rename = "set")]
    Set(SetState),
    #[serde(rename = "raise")]
    Raise(RaiseState),
    #[serde(rename = "do")]
    Scope(ScopeState),
    #[serde(rename = "try")]
    Try(TryState),
    #[serde(rename = "for")]
    For(ForState),
    #[serde(rename = "emit")]
    Emit(EmitState),
    #[serde(rename = "switch")]
    Cases(CasesState),
}

/// How a state finishes: it transitions, or it ends the workflow (or branch).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Exit {
    Transition(Transition),
    End(End),
}

/// Waits for events, then performs their actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventState {
    /// True: any one `eventsActions` entry fires; false: all must.
    pub exclusive: bool,
    pub events_actions: Vec<EventActions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<IsoDuration>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retry>,
    /// 1.0 `listen`: how it reads its events and when it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<Box<Listen>>,
    #[serde(flatten)]
    pub exit: Exit,
}

/// Events and the actions they trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventActions {
    pub event_refs: Vec<String>,
    pub action_mode: ActionMode,
    pub actions: Vec<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_data_filter: Option<EventDataFilter>,
}

/// Whether actions run one after another or all at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionMode {
    #[default]
    Sequential,
    Parallel,
}

/// Performs actions without waiting for events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    pub action_mode: ActionMode,
    pub actions: Vec<Action>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retry>,
    #[serde(flatten)]
    pub exit: Exit,
}

/// Chooses the next state from the data; never ends the workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwitchState {
    pub choices: Vec<Choice>,
    pub default: Transition,
}

/// Waits, then goes on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DelayState {
    /// 1.0 `wait` may compute it, when the task starts, on its input.
    pub time_delay: TaskDuration,
    #[serde(flatten)]
    pub exit: Exit,
}

/// Runs branches at the same time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParallelState {
    pub branches: Vec<Branch>,
    /// 1.0 `fork.compete`: the first branch to end decides the output and
    /// the others stop.
    #[serde(skip_serializing_if = "is_false")]
    pub compete: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retry>,
    #[serde(flatten)]
    pub exit: Exit,
}

/// A set of states inside a parallel state, with its own start state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Branch {
    pub name: String,
    pub states: Vec<State>,
    #[serde(skip_serializing_if = "is_false")]
    pub wait_for_completion: bool,
}

/// Runs another workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubFlowState {
    pub workflow_id: String,
    /// 1.0 `run.workflow.input`: the child's input, else the state data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Template>,
    #[serde(skip_serializing_if = "is_false")]
    pub wait_for_completion: bool,
    #[serde(flatten)]
    pub exit: Exit,
}

/// Passes its data on, merged with `inject`. The draft's END state loads as
/// a relay state without inject whose end carries the END's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inject: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub exit: Exit,
}

/// Runs its states once per element of a collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForEachState {
    pub input_collection: JsonPath,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_collection: Option<JsonPath>,
    pub input_parameter: WritePath,
    /// Upper bound of parallel iterations; 0 means no bound.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_delay: Option<IsoDuration>,
    pub states: Vec<State>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retry>,
    #[serde(flatten)]
    pub exit: Exit,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Performs an action, then waits for the event that reports its completion.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackState {
    pub action: Action,
    pub event_ref: String,
    pub timeout: IsoDuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_data_filter: Option<EventDataFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retry>,
    #[serde(flatten)]
    pub exit: Exit,
}

/// A function invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub function_ref: FunctionRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_data_filter: Option<ActionDataFilter>,
    /// How long to wait for the function (the draft's action `timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<IsoDuration>,
    /// 1.0 `call`'s `with`: the function's input, evaluated on the task input.
    #[serde(rename = "with", skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Template>,
}

/// Names a function definition and the parameters to pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionRef {
    pub ref_name: String,
    #[serde(skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
}

/// Function parameters in their written order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parameters(pub Vec<(String, ParameterValue)>);

impl Parameters {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A parameter: a string starting with `$` selects from the state data,
/// anything else is passed as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParameterValue {
    Path(JsonPath),
    Literal(Value),
}

/// A retry policy, matched against the state data (with `@.error`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    pub expression: ExpressionDef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<RepeatingInterval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<IsoDuration>,
    /// Attempts after the first failure; 0 means no retries.
    pub max_attempts: u32,
}

/// Where to go when an error matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorHandler {
    pub expression: ExpressionDef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_data_filter: Option<ErrorDataFilter>,
    pub transition: Transition,
}

/// A compiled condition in the spec's `{ "language", "body" }` shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpressionDef(pub Condition);

impl Serialize for ExpressionDef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("language", "jsonpath")?;
        map.serialize_entry("body", self.0.as_str())?;
        map.end()
    }
}

/// A move to another state of the same scope, optionally guarded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub next_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<ExpressionDef>,
}

/// Marks the start state and when it is active.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind")]
pub enum Start {
    #[serde(rename = "DEFAULT")]
    Default,
    #[serde(rename = "SCHEDULED")]
    Scheduled { schedule: Schedule },
}

/// When a scheduled start state accepts new instances.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub interval: ScheduleInterval,
}

/// How the workflow (or branch) ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct End {
    #[serde(flatten)]
    pub kind: EndKind,
    #[serde(skip_serializing_if = "CompletionStatus::is_success")]
    pub status: CompletionStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind")]
pub enum EndKind {
    #[serde(rename = "DEFAULT")]
    Default,
    /// Ends the whole instance, even from inside a branch or foreach.
    #[serde(rename = "TERMINATE")]
    Terminate,
    #[serde(rename = "EVENT", rename_all = "camelCase")]
    Event { produce_event: ProduceEvent },
}

/// The event produced when the workflow ends with an `EVENT` end.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProduceEvent {
    pub name_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<JsonPath>,
}

/// Whether the ending counts as success (the draft's END `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CompletionStatus {
    #[default]
    Success,
    Failure,
}

impl CompletionStatus {
    pub fn is_success(&self) -> bool {
        *self == CompletionStatus::Success
    }
}

/// One rule of a switch state and where it leads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    #[serde(flatten)]
    pub rule: ChoiceRule,
    pub transition: Transition,
}

/// The test of a choice.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ChoiceRule {
    Single(Comparison),
    And { and: Vec<Comparison> },
    Or { or: Vec<Comparison> },
    Not { not: Comparison },
}

/// Compares the value a path selects with a written value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub path: JsonPath,
    pub value: String,
    pub operator: Operator,
}

/// Comparison operators: v0.1's, then the draft's string comparisons
/// (the draft's numeric `EQ LT LTEQ GT GTEQ` load as the v0.1 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    Exists,
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
    #[serde(rename = "StrEQ")]
    StrEquals,
    #[serde(rename = "StrLT")]
    StrLessThan,
    #[serde(rename = "StrLTEQ")]
    StrLessThanEquals,
    #[serde(rename = "StrGT")]
    StrGreaterThan,
    #[serde(rename = "StrGTEQ")]
    StrGreaterThanEquals,
}

impl Operator {
    /// Reads any spelling of either dialect, in any case.
    pub fn parse(text: &str) -> Option<Operator> {
        let upper = text.to_ascii_uppercase();
        Some(match upper.as_str() {
            "EXISTS" => Operator::Exists,
            "EQUALS" | "EQ" => Operator::Equals,
            "LESSTHAN" | "LT" => Operator::LessThan,
            "LESSTHANEQUALS" | "LTEQ" => Operator::LessThanEquals,
            "GREATERTHAN" | "GT" => Operator::GreaterThan,
            "GREATERTHANEQUALS" | "GTEQ" => Operator::GreaterThanEquals,
            "STREQ" => Operator::StrEquals,
            "STRLT" => Operator::StrLessThan,
            "STRLTEQ" => Operator::StrLessThanEquals,
            "STRGT" => Operator::StrGreaterThan,
            "STRGTEQ" => Operator::StrGreaterThanEquals,
            _ => return None,
        })
    }
}

/// Filters a state's data on entry and exit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDataFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_input_path: Option<JsonPath>,
    /// Where the state's result is stored in its raw input (the draft's
    /// ResultPath): input → dataInputPath → actions → resultPath → dataOutputPath.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_path: Option<WritePath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_output_path: Option<JsonPath>,
}

/// Filters the data an action sees and the results it merges back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionDataFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_input_path: Option<JsonPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_results_path: Option<JsonPath>,
}

/// Selects the part of an event's data merged into the state data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDataFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_output_path: Option<JsonPath>,
}

/// Selects the part of the error merged into the state data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDataFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_output_path: Option<JsonPath>,
}
