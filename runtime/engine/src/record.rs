//! The durable record of one workflow instance: where each of its threads of
//! execution stands, the actions in flight, the timers and subscriptions it
//! waits on, and its history. The interpreter changes a record; the store
//! commits it whole, atomically, after every step.
//!
//! A *thread* runs one state at a time within one scope: the instance's
//! top-level states, one parallel branch, or one foreach iteration. Threads
//! form a tree through [`Join`], which says where a child thread's output
//! goes when it ends.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use swirl_core::trace_context::{SpanId, TraceContext};
use swirl_ports::store::SubscriptionKey;

pub type ThreadId = u64;
pub type TaskId = u64;
pub type TimerId = u64;

/// Lifecycle of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Has work in flight: actions running or about to run.
    Running,
    /// Has nothing to do until an event, a timer or a child instance.
    Waiting,
    /// Paused by an operator; work resumes on resume.
    Suspended,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    /// True when the instance will never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "running" => Status::Running,
            "waiting" => Status::Waiting,
            "suspended" => Status::Suspended,
            "completed" => Status::Completed,
            "failed" => Status::Failed,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Suspended => "suspended",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

/// An error as workflows see it: `name` is what retry and onError match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowError {
    pub name: String,
    pub message: String,
    /// The JSON details a failing function attached (`Failure::with_details`);
    /// boxed to keep the error small in the many `Result`s that carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<Value>>,
    /// The state where it happened, once it fails the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// 1.0: the error as an RFC 7807 problem (`type`, `status`, `title`,
    /// `detail`, `instance`), once a 1.0 task raised or met it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Box<Value>>,
}

impl WorkflowError {
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        WorkflowError {
            name: name.into(),
            message: message.into(),
            details: None,
            state: None,
            problem: None,
        }
    }

    /// The error as conditions, `onError` and `errorDataFilter` see it:
    /// `{name, message}`, and `details` when the function gave some.
    pub fn to_data(&self) -> Value {
        let mut data = serde_json::json!({ "name": self.name, "message": self.message });
        if let (Some(details), Value::Object(map)) = (&self.details, &mut data) {
            map.insert("details".to_string(), Value::clone(details));
        }
        data
    }
}

/// One workflow instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub id: String,
    pub workflow_id: String,
    /// Hash of the definition source the instance started with.
    pub definition_version: String,
    pub status: Status,
    /// The status to return to on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_from: Option<Status>,
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WorkflowError>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The instance that started this one from a SUBFLOW state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
    /// Correlation attribute values of the events this instance consumed.
    #[serde(default)]
    pub correlation: BTreeMap<String, String>,
    #[serde(default)]
    pub threads: BTreeMap<ThreadId, Thread>,
    #[serde(default)]
    pub tasks: BTreeMap<TaskId, Task>,
    #[serde(default)]
    pub timers: BTreeMap<TimerId, Timer>,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Child instances this one waits for, by the thread that waits.
    #[serde(default)]
    pub children: BTreeMap<ThreadId, String>,
    #[serde(default)]
    pub next_id: u64,
    /// Keys (`source` and `id`) of the latest events this instance
    /// consumed, so a redelivered event changes nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumed_events: Vec<String>,
    /// The version of each function its workflow uses, pinned at start:
    /// its actions call these versions even after a redeployment. Records
    /// written before pinning existed have none and call the current version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub function_versions: BTreeMap<String, String>,
    /// 1.0: the workflow's `$context`, replaced by each task's `export.as`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub context: Value,
    /// Where the instance sits in a distributed trace, when traces are on
    /// or its start carried a trace context: kept so that every run of it,
    /// across waits and restarts, belongs to the same trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<InstanceTrace>,
}

/// An instance's place in a trace, as W3C trace context text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTrace {
    /// The instance's own span: its trace id, span id and flags.
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tracestate: String,
    /// The span the instance was started from (its starter's, its event's
    /// delivery, its parent instance's); none for a trace of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl InstanceTrace {
    /// A new span in `parent`'s trace, or in a new trace.
    pub fn start(parent: Option<&TraceContext>) -> Self {
        let own = parent.map_or_else(TraceContext::root, TraceContext::child);
        InstanceTrace {
            traceparent: own.traceparent(),
            tracestate: own.state,
            parent: parent.map(|parent| parent.span_id.to_string()),
        }
    }

    /// The instance's span as a context; `None` for a damaged record.
    pub fn context(&self) -> Option<TraceContext> {
        TraceContext::parse(&self.traceparent, Some(&self.tracestate))
    }

    /// The span it was started from.
    pub fn parent_span(&self) -> Option<SpanId> {
        self.parent.as_deref().and_then(SpanId::parse)
    }
}

/// Events an instance remembers having consumed; older keys are forgotten
/// (the server's own dedup window covers redeliveries long after).
pub const MAX_REMEMBERED_EVENTS: usize = 1024;

impl InstanceRecord {
    /// Where the instance stands in listings, which are newest first:
    /// by start time, then (for starts in the same millisecond) by id.
    pub fn start_order(&self) -> (u64, &str) {
        (self.created_ms, &self.id)
    }

    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The event index's entry for `subscription` of this instance.
    pub fn subscription_key(&self, subscription: &Subscription) -> SubscriptionKey {
        let (attribute, value) = match &subscription.correlation {
            Some((attribute, value)) => (attribute.clone(), value.clone().unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        SubscriptionKey {
            event_type: subscription.event_type.clone(),
            source: subscription.source.clone(),
            attribute,
            value,
            instance: self.id.clone(),
            thread: subscription.thread,
            event: subscription.event.clone(),
        }
    }

    /// The event index's entries for this instance's subscriptions.
    pub fn subscription_keys(&self) -> Vec<SubscriptionKey> {
        self.subscriptions
            .iter()
            .map(|subscription| self.subscription_key(subscription))
            .collect()
    }

    /// What is wrong with a committed record, if anything: a finished
    /// instance holds no pending work; every task, timer and subscription
    /// belongs to a live thread; a waiting instance waits for something.
    /// The fuzz target and the engine's own tests check every record with it.
    pub fn invariant_violations(&self) -> Vec<String> {
        let mut found = Vec::new();
        let pending = [
            ("tasks", self.tasks.len()),
            ("timers", self.timers.len()),
            ("subscriptions", self.subscriptions.len()),
            ("children", self.children.len()),
        ];
        if self.status.is_final() {
            for (what, count) in pending.iter().filter(|(_, count)| *count > 0) {
                found.push(format!("{:?} with {count} pending {what}", self.status));
            }
        }
        let owners = self.tasks.values().map(|task| ("a task", task.thread));
        let owners = owners
            .chain(self.timers.values().map(|timer| ("a timer", timer.thread)))
            .chain(
                self.subscriptions
                    .iter()
                    .map(|s| ("a subscription", s.thread)),
            )
            .chain(self.children.keys().map(|thread| ("a child", *thread)));
        for (what, thread) in owners {
            if !self.threads.contains_key(&thread) {
                found.push(format!("{what} of thread {thread:?}, which does not exist"));
            }
        }
        let waits_for_something =
            self.timers.len() + self.subscriptions.len() + self.children.len();
        if self.status == Status::Waiting && waits_for_something == 0 && self.tasks.is_empty() {
            found.push("waiting for nothing: no timer, subscription, child or task".into());
        }
        found
    }
}

/// Where a subflow instance reports its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentLink {
    pub instance_id: String,
    pub thread: ThreadId,
    /// False when the parent does not wait (`waitForCompletion: false`).
    pub waits: bool,
    /// Subflow nesting depth, bounded to stop A→B→A cycles.
    pub depth: u32,
}

/// One thread of execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    pub state: String,
    /// The state data.
    pub data: Value,
    /// The state's raw input, kept for the draft's ResultPath; for a 1.0
    /// task, its transformed input (`$input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_input: Option<Value>,
    /// 1.0: the `for` and `catch` variables in scope, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub locals: BTreeMap<String, Value>,
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<Join>,
    pub entered_ms: u64,
}

/// Where a child thread's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Join {
    pub parent: ThreadId,
    /// Branch index (parallel) or element index (foreach).
    pub slot: usize,
}

/// Which action list a thread is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionList {
    Operation,
    /// `eventsActions[i]` of an event state.
    EventActions(usize),
    Callback,
}

/// What a thread is doing within its state. Externally tagged: internally
/// tagged enums buffer their content, which loses the integer map keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Running actions: `next` is the next to start (sequential), `pending`
    /// those in flight or waiting to be retried, `results` the finished
    /// ones' results kept for an in-order merge (parallel mode).
    Actions {
        list: ActionList,
        next: usize,
        pending: BTreeSet<usize>,
        results: BTreeMap<usize, Value>,
    },
    /// An event state waiting for its events; `received` collects them by
    /// event name for non-exclusive states (and a 1.0 listen's `until`
    /// events, as null). A 1.0 listen to `any` keeps the events it
    /// `consumed` so far, in arrival order, and `correlated` holds the value
    /// each of its correlations took from the first event. A listen with a
    /// `foreach` processes its events one at a time: `queued` are those
    /// consumed but not processed yet, `item` the one whose tasks run (in a
    /// child thread) while `iterating`, `processed` the outputs of those
    /// done, and `done` says that it consumes no more.
    Events {
        received: BTreeMap<String, Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        consumed: Vec<Value>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        correlated: BTreeMap<String, Value>,
        #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
        queued: VecDeque<Value>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        iterating: bool,
        #[serde(default, skip_serializing_if = "Value::is_null")]
        item: Value,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        processed: Vec<Value>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        done: bool,
    },
    /// A delay state's timer runs.
    Delay,
    /// A parallel state waits for its branches.
    Parallel {
        outputs: BTreeMap<usize, Value>,
        running: BTreeMap<usize, ThreadId>,
    },
    /// A foreach state runs its iterations, at most `max` at once, and
    /// `timeDelay` apart.
    ForEach {
        items: Vec<Value>,
        next: usize,
        running: BTreeMap<usize, ThreadId>,
        outputs: BTreeMap<usize, Value>,
        /// The `timeDelay` since the last iteration started has not passed:
        /// its timer runs, and no iteration starts until it fires.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        delayed: bool,
    },
    /// A subflow state waits for its child instance.
    SubFlow { child: String },
    /// A callback state ran its action and waits for the event.
    CallbackWait,
    /// A 1.0 `do` task waits for its tasks.
    Scope,
    /// A 1.0 `try` task runs its tasks (`attempt` counts from 1), or, once
    /// it caught an error, its `catch.do` tasks.
    Try {
        attempt: u32,
        catching: bool,
        /// When the first caught error came, for the retry's duration limit.
        #[serde(default)]
        first_failure_ms: u64,
    },
    /// A 1.0 `for` task runs iteration `index` of `items`.
    For { items: Vec<Value>, index: usize },
}

/// An action in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub thread: ThreadId,
    pub list: ActionList,
    pub action: usize,
    /// The manifest function (`functions[].resource`).
    pub function: String,
    pub input: Value,
    pub attempt: u32,
    pub state: String,
    /// The action's own timeout in milliseconds (the draft's action
    /// `timeout`), or what is left of the nearest 1.0 timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The 1.0 timeout timer that set `timeout_ms`: when the call fails
    /// after that timer's due time, the timeout is what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<TimerId>,
}

/// A durable timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timer {
    pub thread: ThreadId,
    pub due_ms: u64,
    pub purpose: TimerPurpose,
    /// For a retry: the action to run again and its next attempt number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<(ActionList, usize, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TimerPurpose {
    Delay,
    EventTimeout,
    CallbackTimeout,
    Retry,
    /// A foreach state's `timeDelay` between the starts of its iterations.
    IterationDelay,
    /// A 1.0 `try` waits to run its tasks again.
    TryRetry,
    /// A 1.0 task's `timeout`: while the task runs, on the thread running it.
    TaskTimeout,
    /// The 1.0 workflow's `timeout`: on the instance's first thread, for its
    /// whole life.
    WorkflowTimeout,
}

impl TimerPurpose {
    /// Whether the timer bounds a task or the workflow rather than one
    /// wait: it stays when the wait ends (an event arrives).
    pub fn is_deadline(self) -> bool {
        matches!(
            self,
            TimerPurpose::TaskTimeout | TimerPurpose::WorkflowTimeout
        )
    }
}

/// An event a waiting thread accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub thread: ThreadId,
    /// The event definition's name.
    pub event: String,
    pub event_type: String,
    pub source: String,
    /// The correlation attribute and the value an event must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<(String, Option<String>)>,
}

/// A CloudEvent the workflow produced (`end.kind = EVENT`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducedEvent {
    /// The id the producer chose (1.0 `emit`, whose output shows it); the
    /// outbox assigns one otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub event_type: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default)]
    pub extensions: BTreeMap<String, String>,
}

/// One line of an instance's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: HistoryKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum HistoryKind {
    InstanceStarted,
    StateEntered {
        state: String,
    },
    StateLeft {
        state: String,
    },
    /// A 1.0 task was scheduled: its thread entered it, before its `if`
    /// and its input were looked at. Its name and JSON pointer.
    TaskCreated {
        task: String,
        reference: String,
    },
    /// A 1.0 task began its work, its `if` true and its input taken: its
    /// name and JSON pointer. A skipped task was created but not started.
    TaskStarted {
        task: String,
        reference: String,
    },
    /// A 1.0 `wait` or `listen` began waiting: for its time, or for its
    /// events. It waits until it completes (or faults, or is cancelled).
    TaskWaiting {
        task: String,
        reference: String,
    },
    /// A 1.0 task ended with an output.
    TaskCompleted {
        task: String,
        reference: String,
    },
    /// A 1.0 task met an error, whether a `try` catches it or not.
    TaskFaulted {
        task: String,
        reference: String,
        error: WorkflowError,
    },
    /// A 1.0 `try`'s retry began a new attempt of its tasks.
    TaskRetried {
        task: String,
        reference: String,
    },
    /// A running 1.0 task stopped: its instance was cancelled, or it was
    /// a losing branch of a `fork` with `compete` (or within one).
    TaskCancelled {
        task: String,
        reference: String,
    },
    /// A running 1.0 task's instance was suspended.
    TaskSuspended {
        task: String,
        reference: String,
    },
    /// A running 1.0 task's instance was resumed.
    TaskResumed {
        task: String,
        reference: String,
    },
    /// A 1.0 `listen` whose events have `correlate` began waiting for
    /// them.
    CorrelationStarted {
        task: String,
        reference: String,
    },
    /// Such a `listen` consumed the last event it waits for; `keys` are the
    /// correlation values its events bound, by their `correlate` names.
    CorrelationCompleted {
        task: String,
        reference: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        keys: BTreeMap<String, Value>,
    },
    ActionStarted {
        state: String,
        function: String,
        attempt: u32,
    },
    ActionFinished {
        state: String,
        function: String,
        attempt: u32,
        duration_ms: u64,
    },
    ActionFailed {
        state: String,
        function: String,
        attempt: u32,
        duration_ms: u64,
        error: WorkflowError,
    },
    EventConsumed {
        state: String,
        event: String,
    },
    TimerSet {
        state: String,
        purpose: TimerPurpose,
        due_ms: u64,
    },
    TimerFired {
        state: String,
        purpose: TimerPurpose,
    },
    ChildStarted {
        state: String,
        child: String,
    },
    EventProduced {
        event_type: String,
    },
    InstanceCompleted,
    InstanceFailed {
        error: WorkflowError,
    },
    InstanceCancelled,
    InstanceSuspended,
    InstanceResumed,
}
