//! The workflow interpreter: a pure state machine over an [`InstanceRecord`].
//!
//! Each input (start, an action's result, a timer, an event, a child
//! instance's end, cancel) is applied by one method of [`Step`], which changes
//! the record and collects history and the children to start. It does no IO
//! and reads no clock: the driver passes `now`, commits the changed record,
//! then runs what the record now holds: new tasks, new timers, new
//! subscriptions. A crash between steps loses nothing because the record
//! itself says what is in flight.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::data;
use super::record::{
    ActionList, HistoryEntry, HistoryKind, InstanceRecord, Join, MAX_REMEMBERED_EVENTS, Phase,
    ProducedEvent, Status, Subscription, Task, TaskId, Thread, ThreadId, Timer, TimerId,
    TimerPurpose, WorkflowError,
};
use crate::IncomingEvent;
use swirl_workflow::WorkflowDefinition;
use swirl_workflow::model::{
    Action, ActionMode, ChoiceRule, CompletionStatus, EndKind, EventDefinition, EventRead, Exit,
    State, StateKind, TaskFlow, Transition, WorkflowSchedule,
};

pub use swirl_core::codes::{FAIL, TIMEOUT};

mod listen;
mod tasks;
pub use tasks::{problem_of, standard_error};

/// A definition prepared for execution: states by name, functions and events
/// by name. Built once when a definition is registered.
pub struct Workflow {
    pub definition: WorkflowDefinition,
    /// Hash of the definition's source text.
    pub version: String,
    states: HashMap<String, State>,
    start: String,
    events: HashMap<String, EventDefinition>,
    functions: HashMap<String, String>,
    /// `$secrets`: stand-ins for the secrets the definition lists.
    pub secrets: serde_json::Map<String, Value>,
}

impl Workflow {
    /// Indexes a validated definition; `None` when it has no start state
    /// (validation rules that out).
    pub fn new(definition: WorkflowDefinition, version: String) -> Option<Self> {
        let mut states = HashMap::new();
        collect_states(&definition.states, &mut states);
        let start = start_state(&definition.states)?.to_string();
        let events = definition
            .events
            .iter()
            .map(|e| (e.name.clone(), e.clone()))
            .collect();
        let functions = definition
            .functions
            .iter()
            .map(|f| (f.name.clone(), f.resource.clone()))
            .collect();
        Some(Workflow {
            definition,
            version,
            states,
            start,
            events,
            functions,
            secrets: serde_json::Map::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.definition.id
    }

    /// The functions (their `resource`) this workflow's actions call.
    pub fn function_resources(&self) -> impl Iterator<Item = &str> {
        self.functions
            .values()
            .map(String::as_str)
            .filter(|r| !r.starts_with(swirl_workflow::model::PROTOCOL_PREFIX))
    }

    /// The top-level start state.
    pub fn start_state(&self) -> &State {
        &self.states[&self.start]
    }

    pub fn event(&self, name: &str) -> Option<&EventDefinition> {
        self.events.get(name)
    }

    /// The start state's schedule, when it is `SCHEDULED`.
    pub fn schedule(&self) -> Option<&swirl_workflow::duration::ScheduleInterval> {
        match &self.start_state().start {
            Some(swirl_workflow::model::Start::Scheduled { schedule }) => Some(&schedule.interval),
            _ => None,
        }
    }

    /// The workflow a SUBFLOW state starts, for recovery.
    pub fn subflow_target(&self, state: &str) -> Option<&str> {
        match &self.states.get(state)?.kind {
            StateKind::SubFlow(subflow) => Some(&subflow.workflow_id),
            _ => None,
        }
    }

    /// Event definitions each of whose events starts a new instance (not
    /// those of a start on `all`: see [`Self::gathered_events`]).
    pub fn start_events(&self) -> Vec<&EventDefinition> {
        // A 1.0 `listen` first waits in a started instance; 1.0 starts
        // instances by event only through `schedule.on`.
        if self.start_state().task.is_some() {
            let Some(WorkflowSchedule::On {
                events, all: false, ..
            }) = &self.definition.schedule
            else {
                return Vec::new();
            };
            return events
                .iter()
                .filter_map(|name| self.events.get(name))
                .collect();
        }
        match &self.start_state().kind {
            StateKind::Event(state) => state
                .events_actions
                .iter()
                .flat_map(|ea| ea.event_refs.iter())
                .filter_map(|name| self.events.get(name))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The event definitions of a 1.0 `schedule.on` `all`, in order, and
    /// how the events are read: a set of events, one matching each, starts
    /// an instance.
    pub fn gathered_events(&self) -> Option<(Vec<&EventDefinition>, EventRead)> {
        match &self.definition.schedule {
            Some(WorkflowSchedule::On {
                events,
                read,
                all: true,
            }) => Some((
                events
                    .iter()
                    .filter_map(|name| self.events.get(name))
                    .collect(),
                *read,
            )),
            _ => None,
        }
    }

    pub(crate) fn state(&self, name: &str) -> Result<&State, WorkflowError> {
        self.states
            .get(name)
            .ok_or_else(|| WorkflowError::new(FAIL, format!("state '{name}' does not exist")))
    }
}

fn collect_states(states: &[State], into: &mut HashMap<String, State>) {
    for state in states {
        into.insert(state.name.clone(), state.clone());
        match &state.kind {
            StateKind::Parallel(parallel) => {
                for branch in &parallel.branches {
                    collect_states(&branch.states, into);
                }
            }
            StateKind::ForEach(foreach) => collect_states(&foreach.states, into),
            StateKind::Scope(scope) => collect_states(&scope.states, into),
            StateKind::For(for_state) => collect_states(&for_state.states, into),
            StateKind::Event(event_state) => {
                if let Some(foreach) = event_state.listen.as_ref().and_then(|l| l.foreach.as_ref())
                {
                    collect_states(&foreach.states, into);
                }
            }
            StateKind::Try(try_state) => {
                collect_states(&try_state.states, into);
                collect_states(&try_state.catch.states, into);
            }
            _ => {}
        }
    }
}

fn start_state(states: &[State]) -> Option<&str> {
    states
        .iter()
        .find(|s| s.start.is_some())
        .map(|s| s.name.as_str())
}

/// A child instance a SUBFLOW state asks the driver to start.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildStart {
    pub child_id: String,
    pub workflow_id: String,
    pub input: Value,
    pub thread: ThreadId,
    pub waits: bool,
}

/// One application of an input to a record.
pub struct Step<'a> {
    workflow: &'a Workflow,
    record: &'a mut InstanceRecord,
    now_ms: u64,
    pub history: Vec<HistoryEntry>,
    pub children: Vec<ChildStart>,
    /// Child instances the step stopped waiting for (the instance was
    /// cancelled, terminated or failed, or the subflow state was left on an
    /// error): the driver cancels them.
    pub orphans: Vec<String>,
    /// Events the step produced: the driver commits them to the outbox with
    /// the run and routes them once that is durable.
    pub produced: Vec<ProducedEvent>,
    /// What the event index gains and loses with the step.
    pub subscriptions: SubscriptionChanges,
}

/// Subscriptions added and removed, net: one added and removed again is in
/// neither, so the driver can apply them to the event index in any order.
#[derive(Debug, Default)]
pub struct SubscriptionChanges {
    pub added: HashSet<Subscription>,
    pub removed: HashSet<Subscription>,
}

impl SubscriptionChanges {
    pub fn add(&mut self, subscription: Subscription) {
        if !self.removed.remove(&subscription) {
            self.added.insert(subscription);
        }
    }

    pub fn remove(&mut self, subscription: Subscription) {
        if !self.added.remove(&subscription) {
            self.removed.insert(subscription);
        }
    }

    /// Adds the changes that came after these.
    pub fn then(&mut self, later: SubscriptionChanges) {
        // Net changes are disjoint, so their order within `later` is free.
        later.removed.into_iter().for_each(|s| self.remove(s));
        later.added.into_iter().for_each(|s| self.add(s));
    }
}

impl<'a> Step<'a> {
    pub fn new(workflow: &'a Workflow, record: &'a mut InstanceRecord, now_ms: u64) -> Self {
        Step {
            workflow,
            record,
            now_ms,
            history: Vec::new(),
            children: Vec::new(),
            orphans: Vec::new(),
            produced: Vec::new(),
            subscriptions: SubscriptionChanges::default(),
        }
    }

    fn log(&mut self, kind: HistoryKind) {
        self.history.push(HistoryEntry {
            at_ms: self.now_ms,
            kind,
        });
    }

    /// Starts the instance at its start state with its input.
    pub fn start(&mut self) {
        self.log(HistoryKind::InstanceStarted);
        let thread = self.record.fresh_id();
        let start = self.workflow.start.clone();
        let began = self.workflow_input().and_then(|input| {
            // Set before the first task, so that its calls are bounded by it
            // too; computed once, on the transformed input, into a timer of
            // fixed length.
            if let Some(timeout) = &self.workflow.definition.timeout {
                let after = self.workflow_timeout(timeout, &input)?;
                self.set_timer(thread, after, TimerPurpose::WorkflowTimeout, None);
            }
            Ok(input)
        });
        match began {
            Ok(input) => self.spawn_thread(thread, &start, input, None, BTreeMap::new()),
            Err(error) => self.fail_instance(error, &start),
        }
        self.settle();
    }

    /// An action finished; unknown tasks (already handled, or of a thread
    /// that moved on) are ignored.
    pub fn task_done(
        &mut self,
        task_id: TaskId,
        result: Result<Value, WorkflowError>,
        duration_ms: u64,
    ) {
        let Some(task) = self.record.tasks.remove(&task_id) else {
            return;
        };
        if !self.record.threads.contains_key(&task.thread) || self.record.status.is_final() {
            return;
        }
        match result {
            Ok(output) => {
                self.log(HistoryKind::ActionFinished {
                    state: task.state.clone(),
                    function: task.function.clone(),
                    attempt: task.attempt,
                    duration_ms,
                });
                if let Err(error) =
                    self.action_succeeded(task.thread, task.list, task.action, output)
                {
                    self.state_failed(task.thread, error);
                }
            }
            Err(error) => {
                self.log(HistoryKind::ActionFailed {
                    state: task.state.clone(),
                    function: task.function.clone(),
                    attempt: task.attempt,
                    duration_ms,
                    error: error.clone(),
                });
                // A call cut short by a 1.0 timeout ends as that timeout.
                let ended_ms = self.now_ms.saturating_add(duration_ms);
                let overdue = task.deadline.filter(|id| {
                    self.record
                        .timers
                        .get(id)
                        .is_some_and(|timer| timer.due_ms <= ended_ms)
                });
                match overdue {
                    Some(timer) => return self.timer_fired(timer),
                    None => {
                        self.action_failed(task.thread, task.list, task.action, task.attempt, error)
                    }
                }
            }
        }
        self.settle();
    }

    /// A timer came due; unknown timers are ignored.
    pub fn timer_fired(&mut self, timer_id: TimerId) {
        let Some(timer) = self.record.timers.remove(&timer_id) else {
            return;
        };
        if self.record.status.is_final() {
            return;
        }
        if timer.purpose == TimerPurpose::WorkflowTimeout {
            self.log(HistoryKind::TimerFired {
                state: String::new(),
                purpose: timer.purpose,
            });
            return self.workflow_timed_out(timer.due_ms);
        }
        let Some(state) = self
            .record
            .threads
            .get(&timer.thread)
            .map(|t| t.state.clone())
        else {
            return;
        };
        self.log(HistoryKind::TimerFired {
            state: state.clone(),
            purpose: timer.purpose,
        });
        let result = match timer.purpose {
            TimerPurpose::Delay => self.exit_state(timer.thread),
            TimerPurpose::EventTimeout => {
                self.unsubscribe(timer.thread);
                self.exit_state(timer.thread)
            }
            // The spec: without its event in time, a callback state moves on
            // as an event state does.
            TimerPurpose::CallbackTimeout => {
                self.unsubscribe(timer.thread);
                self.exit_state(timer.thread)
            }
            TimerPurpose::Retry => match timer.retry {
                Some((list, action, attempt)) => {
                    self.start_action(timer.thread, list, action, attempt)
                }
                None => Ok(()),
            },
            TimerPurpose::IterationDelay => {
                if let Some(Phase::ForEach { delayed, .. }) = self
                    .record
                    .threads
                    .get_mut(&timer.thread)
                    .map(|t| &mut t.phase)
                {
                    *delayed = false;
                }
                self.advance_foreach(timer.thread)
            }
            TimerPurpose::TryRetry => self.retry_try(timer.thread),
            TimerPurpose::TaskTimeout => {
                Err(self.task_timed_out(&state, timer.thread, timer.due_ms))
            }
            // Handled above: it needs no thread.
            TimerPurpose::WorkflowTimeout => Ok(()),
        };
        if let Err(error) = result {
            self.state_failed(timer.thread, error);
        }
        self.settle();
    }

    /// An event matched subscription `event` of `thread`; one already
    /// consumed (by its `source` and `id`) is ignored, and so is one that a
    /// 1.0 listen's filter or correlation does not take.
    pub fn event(
        &mut self,
        thread: ThreadId,
        event: &str,
        incoming: &IncomingEvent,
        correlation: &BTreeMap<String, String>,
    ) {
        let key = incoming.key();
        if self.record.status.is_final()
            || !self.record.threads.contains_key(&thread)
            || self.record.consumed_events.contains(&key)
        {
            return;
        }
        let listen = match self.listen_of(thread) {
            Some((event_state, listen)) => {
                let Some(accepted) = self.listen_accepts(thread, listen, event, incoming) else {
                    return;
                };
                Some((event_state, listen, accepted))
            }
            None => None,
        };
        let consumed = &mut self.record.consumed_events;
        if consumed.len() >= MAX_REMEMBERED_EVENTS {
            consumed.remove(0);
        }
        consumed.push(key);
        let result = match listen {
            Some((event_state, listen, accepted)) => {
                self.log_consumed(thread, event);
                self.consume_listen(thread, event_state, listen, event, accepted)
            }
            None => self.consume_event(thread, event, incoming.data.clone(), correlation),
        };
        if let Err(error) = result {
            self.state_failed(thread, error);
        }
        self.settle();
    }

    /// A child instance started by a SUBFLOW state ended.
    pub fn child_done(&mut self, thread: ThreadId, result: Result<Value, WorkflowError>) {
        if self.record.children.remove(&thread).is_none() || self.record.status.is_final() {
            return;
        }
        let outcome = result.and_then(|output| {
            let replaces = self.thread_task(thread).is_some();
            if let Some(t) = self.record.threads.get_mut(&thread) {
                if replaces {
                    t.data = output;
                } else {
                    data::merge(&mut t.data, output);
                }
            }
            self.exit_state(thread)
        });
        if let Err(error) = outcome {
            self.state_failed(thread, error);
        }
        self.settle();
    }

    /// The record as the step has changed it so far.
    pub fn record(&self) -> &InstanceRecord {
        self.record
    }

    /// Pauses the instance: the driver starts nothing new until resume.
    pub fn suspend(&mut self) {
        self.record.suspended_from = Some(self.record.status);
        self.record.status = Status::Suspended;
        self.log(HistoryKind::InstanceSuspended);
        let running = self.record.threads.keys().copied().collect();
        self.log_tasks_of(running, |task, reference| HistoryKind::TaskSuspended {
            task,
            reference,
        });
    }

    /// Undoes [`Step::suspend`].
    pub fn resume(&mut self, back: Status) {
        self.record.suspended_from = None;
        self.record.status = back;
        self.log(HistoryKind::InstanceResumed);
        let running = self.record.threads.keys().copied().collect();
        self.log_tasks_of(running, |task, reference| HistoryKind::TaskResumed {
            task,
            reference,
        });
        self.settle();
    }

    /// Ends the instance as cancelled; running actions finish unobserved.
    pub fn cancel(&mut self) {
        if self.record.status.is_final() {
            return;
        }
        let running = self.record.threads.keys().copied().collect();
        self.log_tasks_of(running, |task, reference| HistoryKind::TaskCancelled {
            task,
            reference,
        });
        self.clear_work();
        self.record.status = Status::Cancelled;
        self.log(HistoryKind::InstanceCancelled);
    }

    /// Logs `kind` for the 1.0 task each of `threads` is in (a thread of a
    /// composite task is in it while its children run theirs).
    fn log_tasks_of(
        &mut self,
        threads: Vec<ThreadId>,
        kind: impl Fn(String, String) -> HistoryKind,
    ) {
        for id in threads {
            if let Some(task) = self.thread_task(id) {
                self.log(kind(task.name.clone(), task.reference.clone()));
            }
        }
    }

    /// The 1.0 task thread `thread_id` runs (a composite task's thread runs
    /// it while its children run theirs); an error for a v0.1 state or a
    /// thread that is gone.
    pub(super) fn task_run_by(&self, thread_id: ThreadId) -> Result<&'a TaskFlow, WorkflowError> {
        self.thread_task(thread_id)
            .ok_or_else(|| WorkflowError::new(FAIL, format!("thread {thread_id} runs no 1.0 task")))
    }

    /// The data of thread `thread_id` (null when it is gone), to read.
    fn data_of(&self, thread_id: ThreadId) -> &Value {
        self.record
            .threads
            .get(&thread_id)
            .map_or(&Value::Null, |thread| &thread.data)
    }

    /// [`Step::task_run_by`] for callers that only ask (a v0.1 thread is
    /// no error for them, and costs no message).
    pub(super) fn thread_task(&self, thread_id: ThreadId) -> Option<&'a TaskFlow> {
        let thread = self.record.threads.get(&thread_id)?;
        self.workflow.state(&thread.state).ok()?.task.as_ref()
    }

    /// The 1.0 `wait` or `listen` of `thread_id` began waiting.
    fn task_waits(&mut self, thread_id: ThreadId) {
        if let Some(task) = self.thread_task(thread_id) {
            self.log(HistoryKind::TaskWaiting {
                task: task.name.clone(),
                reference: task.reference.clone(),
            });
        }
    }

    /// The threads under `thread_id`: its children, theirs, and so on.
    fn descendants(&self, thread_id: ThreadId) -> Vec<ThreadId> {
        let mut found = Vec::new();
        let mut parents = vec![thread_id];
        while let Some(parent) = parents.pop() {
            for (id, thread) in &self.record.threads {
                if thread.join.is_some_and(|j| j.parent == parent) {
                    found.push(*id);
                    parents.push(*id);
                }
            }
        }
        found
    }

    /// Recomputes the status from the work the record holds.
    fn settle(&mut self) {
        if self.record.status.is_final() {
            self.clear_work();
            return;
        }
        if self.record.status == Status::Suspended {
            return;
        }
        self.record.status = if self.record.tasks.is_empty() {
            Status::Waiting
        } else {
            Status::Running
        };
    }

    fn clear_work(&mut self) {
        self.record.threads.clear();
        self.record.tasks.clear();
        self.record.timers.clear();
        self.drop_subscriptions(|_| true);
        let children = std::mem::take(&mut self.record.children);
        self.orphans.extend(children.into_values());
    }

    fn thread(&mut self, id: ThreadId) -> Result<&mut Thread, WorkflowError> {
        self.record
            .threads
            .get_mut(&id)
            .ok_or_else(|| WorkflowError::new(FAIL, format!("thread {id} is gone")))
    }

    fn spawn_thread(
        &mut self,
        id: ThreadId,
        state: &str,
        input: Value,
        join: Option<Join>,
        locals: BTreeMap<String, Value>,
    ) {
        self.record.threads.insert(
            id,
            Thread {
                state: state.to_string(),
                data: Value::Null,
                raw_input: None,
                locals,
                phase: Phase::Delay,
                join,
                entered_ms: self.now_ms,
            },
        );
        if let Err(error) = self.enter_state(id, state, input) {
            self.state_failed(id, error);
        }
    }

    /// Moves `thread` into `name` with `input` and starts the state's work.
    fn enter_state(
        &mut self,
        thread_id: ThreadId,
        name: &str,
        input: Value,
    ) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let state = workflow.state(name)?;
        if let Some(task) = &state.task {
            self.log(HistoryKind::TaskCreated {
                task: task.name.clone(),
                reference: task.reference.clone(),
            });
            let now = self.now_ms;
            {
                let thread = self.thread(thread_id)?;
                thread.state = name.to_string();
                thread.entered_ms = now;
                thread.phase = Phase::Delay;
            }
            return match self.task_input(thread_id, task, input)? {
                Some(data) => {
                    self.log(HistoryKind::TaskStarted {
                        task: task.name.clone(),
                        reference: task.reference.clone(),
                    });
                    let thread = self.thread(thread_id)?;
                    thread.raw_input = Some(data.clone());
                    thread.data = data;
                    if let Some(timeout) = &task.timeout {
                        // Computed once, now: the timer keeps its length.
                        let after =
                            self.length(thread_id, state, timeout, self.data_of(thread_id))?;
                        self.set_timer(thread_id, after, TimerPurpose::TaskTimeout, None);
                    }
                    self.begin(thread_id, state)
                }
                // `if` was false: the task is skipped, its input is its output.
                None => {
                    let input = self.thread(thread_id)?.data.clone();
                    self.follow(thread_id, state, state.exit(), input)
                }
            };
        }
        self.log(HistoryKind::StateEntered {
            state: name.to_string(),
        });
        let filter = state.state_data_filter.as_ref();
        let keep_raw = filter.is_some_and(|f| f.result_path.is_some());
        let data = data::select_opt(
            filter.and_then(|f| f.data_input_path.as_ref()),
            input.clone(),
            "stateDataFilter.dataInputPath",
        );
        let now = self.now_ms;
        {
            let thread = self.thread(thread_id)?;
            thread.state = name.to_string();
            thread.entered_ms = now;
            thread.raw_input = keep_raw.then_some(input);
            thread.phase = Phase::Delay;
        }
        let data = data?;
        self.thread(thread_id)?.data = data;
        self.begin(thread_id, state)
    }

    /// Starts the work of `state`, whose data the thread now holds.
    fn begin(&mut self, thread_id: ThreadId, state: &'a State) -> Result<(), WorkflowError> {
        let name = state.name.as_str();
        match &state.kind {
            StateKind::Operation(_) => self.run_actions(thread_id, ActionList::Operation),
            StateKind::Event(event_state) => {
                self.thread(thread_id)?.phase = Phase::Events {
                    received: BTreeMap::new(),
                    consumed: Vec::new(),
                    correlated: BTreeMap::new(),
                    queued: Default::default(),
                    iterating: false,
                    item: Value::Null,
                    processed: Vec::new(),
                    done: false,
                };
                let names: BTreeSet<&String> = event_state
                    .events_actions
                    .iter()
                    .flat_map(|ea| ea.event_refs.iter())
                    .collect();
                for event in names {
                    self.subscribe(thread_id, event)?;
                }
                self.task_waits(thread_id);
                self.start_correlation(thread_id)?;
                if let Some(timeout) = &event_state.timeout {
                    self.set_timer(
                        thread_id,
                        timeout.duration(),
                        TimerPurpose::EventTimeout,
                        None,
                    );
                }
                Ok(())
            }
            StateKind::Switch(switch) => {
                let data = self.thread(thread_id)?.data.clone();
                for choice in &switch.choices {
                    let matched = match &choice.rule {
                        ChoiceRule::Single(c) => data::compare(c, &data)?,
                        ChoiceRule::And { and } => {
                            all(and.iter().map(|c| data::compare(c, &data)))?
                        }
                        ChoiceRule::Or { or } => any(or.iter().map(|c| data::compare(c, &data)))?,
                        ChoiceRule::Not { not } => !data::compare(not, &data)?,
                    };
                    if matched {
                        return self.transition(thread_id, &choice.transition);
                    }
                }
                self.transition(thread_id, &switch.default)
            }
            StateKind::Delay(delay) => {
                let after =
                    self.length(thread_id, state, &delay.time_delay, self.data_of(thread_id))?;
                self.task_waits(thread_id);
                self.set_timer(thread_id, after, TimerPurpose::Delay, None);
                Ok(())
            }
            StateKind::Relay(relay) => {
                if let Some(inject) = &relay.inject {
                    data::merge(
                        &mut self.thread(thread_id)?.data,
                        Value::Object(inject.clone()),
                    );
                }
                self.exit_state(thread_id)
            }
            StateKind::Parallel(parallel) => {
                let data = self.thread(thread_id)?.data.clone();
                let locals = self.thread(thread_id)?.locals.clone();
                let mut running = BTreeMap::new();
                let mut children = Vec::new();
                for (slot, branch) in parallel.branches.iter().enumerate() {
                    let start = start_state(&branch.states).ok_or_else(|| {
                        WorkflowError::new(
                            FAIL,
                            format!("branch '{}' has no start state", branch.name),
                        )
                    })?;
                    let child = self.record.fresh_id();
                    if branch.wait_for_completion
                        || parallel.branches.iter().all(|b| !b.wait_for_completion)
                    {
                        running.insert(slot, child);
                    }
                    children.push((child, start.to_string(), slot));
                }
                self.thread(thread_id)?.phase = Phase::Parallel {
                    outputs: BTreeMap::new(),
                    running,
                };
                for (child, start, slot) in children {
                    // A competing branch that ended as it started decided
                    // the race: the ones after it do not start at all.
                    let racing = self.record.threads.get(&thread_id).is_some_and(|t| {
                        matches!(&t.phase, Phase::Parallel { running, .. } if running.values().any(|c| *c == child))
                    });
                    if parallel.compete && !racing {
                        break;
                    }
                    self.spawn_thread(
                        child,
                        &start,
                        data.clone(),
                        Some(Join {
                            parent: thread_id,
                            slot,
                        }),
                        locals.clone(),
                    );
                }
                Ok(())
            }
            StateKind::ForEach(foreach) => {
                let data = self.thread(thread_id)?.data.clone();
                let items = match data::select(&foreach.input_collection, &data, "inputCollection")?
                {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                if items.len() > MAX_FOREACH_ITEMS {
                    return Err(WorkflowError::new(
                        FAIL,
                        format!(
                            "inputCollection '{}' has {} elements, more than the limit of {MAX_FOREACH_ITEMS}",
                            foreach.input_collection.as_str(),
                            items.len()
                        ),
                    ));
                }
                self.thread(thread_id)?.phase = Phase::ForEach {
                    items,
                    next: 0,
                    running: BTreeMap::new(),
                    outputs: BTreeMap::new(),
                    delayed: false,
                };
                self.advance_foreach(thread_id)
            }
            StateKind::SubFlow(subflow) => {
                let depth = self.record.parent.as_ref().map_or(0, |p| p.depth) + 1;
                if depth > MAX_SUBFLOW_DEPTH {
                    return Err(WorkflowError::new(
                        FAIL,
                        format!(
                            "subflow '{}' would nest {depth} instances deep, more than the limit of {MAX_SUBFLOW_DEPTH}; check for cycles",
                            subflow.workflow_id
                        ),
                    ));
                }
                let sequence = self.record.fresh_id();
                let child_id = format!("{}.{sequence}", self.record.id);
                let data = self.thread(thread_id)?.data.clone();
                let input = match (&state.task, &subflow.input) {
                    (Some(task), Some(input)) => {
                        self.eval(thread_id, task, input, &data, &Value::Null)?
                    }
                    _ => data,
                };
                self.log(HistoryKind::ChildStarted {
                    state: name.to_string(),
                    child: child_id.clone(),
                });
                self.children.push(ChildStart {
                    child_id: child_id.clone(),
                    workflow_id: subflow.workflow_id.clone(),
                    input,
                    thread: thread_id,
                    waits: subflow.wait_for_completion,
                });
                if subflow.wait_for_completion {
                    self.record.children.insert(thread_id, child_id.clone());
                    self.thread(thread_id)?.phase = Phase::SubFlow { child: child_id };
                    Ok(())
                } else {
                    self.exit_state(thread_id)
                }
            }
            StateKind::Callback(_) => self.run_actions(thread_id, ActionList::Callback),
            StateKind::Set(set) => self.begin_set(thread_id, state, set),
            StateKind::Raise(raise) => self.begin_raise(thread_id, state, raise),
            StateKind::Emit(emit) => self.begin_emit(thread_id, state, emit),
            StateKind::Cases(cases) => self.begin_cases(thread_id, state, cases),
            StateKind::Scope(scope) => {
                if let (Some(task), Some(input)) = (&state.task, &scope.input) {
                    let data = self.thread(thread_id)?.data.clone();
                    let input = self.eval(thread_id, task, input, &data, &Value::Null)?;
                    self.thread(thread_id)?.data = input;
                }
                self.thread(thread_id)?.phase = Phase::Scope;
                self.run_scope(thread_id, &scope.states, None)
            }
            StateKind::Try(try_state) => {
                self.thread(thread_id)?.phase = Phase::Try {
                    attempt: 1,
                    catching: false,
                    first_failure_ms: 0,
                };
                self.run_scope(thread_id, &try_state.states, None)
            }
            StateKind::For(for_state) => self.begin_for(thread_id, state, for_state),
        }
    }

    fn actions(&self, state: &'a State, list: ActionList) -> (&'a [Action], ActionMode) {
        match (&state.kind, list) {
            (StateKind::Operation(op), ActionList::Operation) => (&op.actions, op.action_mode),
            (StateKind::Event(ev), ActionList::EventActions(i)) => ev
                .events_actions
                .get(i)
                .map_or((&[][..], ActionMode::Sequential), |ea| {
                    (&ea.actions[..], ea.action_mode)
                }),
            (StateKind::Callback(cb), ActionList::Callback) => {
                (std::slice::from_ref(&cb.action), ActionMode::Sequential)
            }
            _ => (&[], ActionMode::Sequential),
        }
    }

    /// Starts running `list`'s actions in `thread`.
    fn run_actions(&mut self, thread_id: ThreadId, list: ActionList) -> Result<(), WorkflowError> {
        self.thread(thread_id)?.phase = Phase::Actions {
            list,
            next: 0,
            pending: BTreeSet::new(),
            results: BTreeMap::new(),
        };
        self.continue_actions(thread_id)
    }

    /// Starts what can start and finishes the list when nothing is left.
    fn continue_actions(&mut self, thread_id: ThreadId) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let state = workflow.state(&thread.state)?;
        let Phase::Actions {
            list,
            next,
            pending,
            ..
        } = &thread.phase
        else {
            return Ok(());
        };
        let (list, next, busy) = (*list, *next, !pending.is_empty());
        let (actions, mode) = self.actions(state, list);
        let to_start: Vec<usize> = match mode {
            ActionMode::Sequential if !busy && next < actions.len() => vec![next],
            ActionMode::Parallel if next < actions.len() => (next..actions.len()).collect(),
            _ => Vec::new(),
        };
        if let Phase::Actions { next, pending, .. } = &mut self.thread(thread_id)?.phase {
            for &index in &to_start {
                pending.insert(index);
            }
            *next += to_start.len();
        }
        for index in to_start {
            self.start_action(thread_id, list, index, 1)?;
        }
        let thread = self.thread(thread_id)?;
        let Phase::Actions {
            next,
            pending,
            results,
            ..
        } = &mut thread.phase
        else {
            return Ok(());
        };
        if *next < actions.len() || !pending.is_empty() {
            return Ok(());
        }
        // Parallel results merge in declaration order, whatever order they finished in.
        let results = std::mem::take(results);
        for (index, result) in results {
            data::merge_result(&actions[index], &mut thread.data, result)?;
        }
        self.actions_done(thread_id, list)
    }

    fn start_action(
        &mut self,
        thread_id: ThreadId,
        list: ActionList,
        index: usize,
        attempt: u32,
    ) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let state = workflow.state(&thread.state)?;
        let (actions, _) = self.actions(state, list);
        let action = actions.get(index).ok_or_else(|| {
            WorkflowError::new(
                FAIL,
                format!("state '{}' has no action {index}", state.name),
            )
        })?;
        let function = workflow
            .functions
            .get(&action.function_ref.ref_name)
            .cloned()
            .ok_or_else(|| {
                WorkflowError::new(
                    FAIL,
                    format!("function '{}' is not defined", action.function_ref.ref_name),
                )
            })?;
        let input = match &state.task {
            Some(task) => self.call_input(thread_id, task, action)?,
            None => data::action_input(action, &self.thread(thread_id)?.data)?,
        };
        let own_ms = action
            .timeout
            .as_ref()
            .map(|t| t.duration().as_millis() as u64);
        let deadline = self.deadline(thread_id);
        let timeout_ms = match deadline {
            // At least a millisecond: an overdue timer fires in its own run.
            Some((_, due_ms)) => {
                let left = due_ms.saturating_sub(self.now_ms).max(1);
                Some(own_ms.map_or(left, |own| own.min(left)))
            }
            None => own_ms,
        };
        let task_id = self.record.fresh_id();
        self.log(HistoryKind::ActionStarted {
            state: state.name.clone(),
            function: function.clone(),
            attempt,
        });
        self.record.tasks.insert(
            task_id,
            Task {
                thread: thread_id,
                list,
                action: index,
                function,
                input,
                attempt,
                state: state.name.clone(),
                timeout_ms,
                deadline: deadline.map(|(timer, _)| timer),
            },
        );
        Ok(())
    }

    fn action_succeeded(
        &mut self,
        thread_id: ThreadId,
        list: ActionList,
        index: usize,
        output: Value,
    ) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let state = workflow.state(&thread.state)?;
        let (actions, mode) = self.actions(state, list);
        let thread = self.thread(thread_id)?;
        let Phase::Actions {
            pending, results, ..
        } = &mut thread.phase
        else {
            return Ok(());
        };
        pending.remove(&index);
        match mode {
            // A 1.0 call's output replaces the data.
            ActionMode::Sequential if state.task.is_some() => thread.data = output,
            ActionMode::Sequential => {
                if let Some(action) = actions.get(index) {
                    data::merge_result(action, &mut thread.data, output)?;
                }
            }
            ActionMode::Parallel => {
                results.insert(index, output);
            }
        }
        self.continue_actions(thread_id)
    }

    /// All actions of `list` finished: the state goes on.
    fn actions_done(&mut self, thread_id: ThreadId, list: ActionList) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let state = workflow.state(&thread.state)?;
        match (&state.kind, list) {
            (StateKind::Callback(callback), ActionList::Callback) => {
                self.thread(thread_id)?.phase = Phase::CallbackWait;
                self.subscribe(thread_id, &callback.event_ref)?;
                self.set_timer(
                    thread_id,
                    callback.timeout.duration(),
                    TimerPurpose::CallbackTimeout,
                    None,
                );
                Ok(())
            }
            (StateKind::Event(event), ActionList::EventActions(i))
                if !event.exclusive && i + 1 < event.events_actions.len() =>
            {
                self.run_actions(thread_id, ActionList::EventActions(i + 1))
            }
            _ => self.exit_state(thread_id),
        }
    }

    /// An action failed: retry it if a retry policy matches, else handle the
    /// error at the state level.
    fn action_failed(
        &mut self,
        thread_id: ThreadId,
        list: ActionList,
        index: usize,
        attempt: u32,
        error: WorkflowError,
    ) {
        let workflow = self.workflow;
        let Ok(thread) = self.thread(thread_id) else {
            return;
        };
        let Ok(state) = workflow.state(&thread.state) else {
            return;
        };
        let with_error = data::with_error(&thread.data, &error);
        for retry in state.retry() {
            match retry.expression.0.eval(&with_error) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(eval) => return self.state_failed(thread_id, data::filter_error(eval)),
            }
            let limit = retry
                .interval
                .as_ref()
                .and_then(|i| i.repetitions())
                .map_or(retry.max_attempts, |r| r.min(retry.max_attempts));
            if attempt > limit {
                break;
            }
            let interval = retry
                .interval
                .as_ref()
                .map_or(Duration::ZERO, |i| i.interval());
            let extra = retry
                .multiplier
                .as_ref()
                .map_or(Duration::ZERO, |m| m.duration() * attempt.saturating_sub(1));
            self.set_timer(
                thread_id,
                interval + extra,
                TimerPurpose::Retry,
                Some((list, index, attempt + 1)),
            );
            return;
        }
        self.state_failed(thread_id, error);
    }

    /// An error in `thread`'s state: route it through `onError`, or fail the instance.
    fn state_failed(&mut self, thread_id: ThreadId, error: WorkflowError) {
        let workflow = self.workflow;
        let Some(thread) = self.record.threads.get(&thread_id) else {
            return;
        };
        let state_name = thread.state.clone();
        let Ok(state) = workflow.state(&state_name) else {
            return self.fail_instance(error, &state_name);
        };
        // Every task the error passes through faulted: the one that met it
        // and each enclosing one up to a `try` that catches it.
        if let Some(task) = &state.task {
            self.log(HistoryKind::TaskFaulted {
                task: task.name.clone(),
                reference: task.reference.clone(),
                error: error.clone(),
            });
        }
        let Some(thread) = self.record.threads.get(&thread_id) else {
            return;
        };
        let with_error = data::with_error(&thread.data, &error);
        let handler = state
            .on_error
            .iter()
            .find(|h| h.expression.0.eval(&with_error).unwrap_or(false));
        let Some(handler) = handler else {
            let error = self.located(error, state);
            return match self.composite_parent(thread_id) {
                Some(parent) => {
                    self.abandon_state_work(thread_id);
                    self.record.threads.remove(&thread_id);
                    self.child_failed(parent, error)
                }
                None => self.fail_instance(error, &state_name),
            };
        };
        self.abandon_state_work(thread_id);
        let error_data = error.to_data();
        let addition = match handler
            .error_data_filter
            .as_ref()
            .and_then(|f| f.data_output_path.as_ref())
        {
            Some(path) => match path.select_value(&error_data) {
                Ok(Some(selected)) => selected,
                _ => Value::Null,
            },
            None => json!({ "error": error_data }),
        };
        let transition = handler.transition.clone();
        self.log(HistoryKind::StateLeft { state: state_name });
        let result = self.thread(thread_id).map(|thread| {
            if !addition.is_null() {
                data::merge(&mut thread.data, addition);
            }
            thread.data.clone()
        });
        let result = result.and_then(|data| self.enter_state_checked(thread_id, &transition, data));
        if let Err(error) = result {
            self.state_failed(thread_id, error);
        }
    }

    /// Cancels what a thread's state had going: its tasks, timers,
    /// subscriptions and child threads.
    fn abandon_state_work(&mut self, thread_id: ThreadId) {
        self.record.tasks.retain(|_, task| task.thread != thread_id);
        self.record.timers.retain(|_, timer| {
            timer.thread != thread_id || timer.purpose == TimerPurpose::WorkflowTimeout
        });
        self.unsubscribe(thread_id);
        if let Some(child) = self.record.children.remove(&thread_id) {
            self.orphans.push(child);
        }
        let descendants: Vec<ThreadId> = self
            .record
            .threads
            .iter()
            .filter(|(_, t)| t.join.is_some_and(|j| j.parent == thread_id))
            .map(|(id, _)| *id)
            .collect();
        for child in descendants {
            self.abandon_state_work(child);
            self.record.threads.remove(&child);
        }
    }

    fn fail_instance(&mut self, mut error: WorkflowError, state: &str) {
        if error.state.is_none() {
            error.state = Some(state.to_string());
        }
        self.log(HistoryKind::InstanceFailed {
            error: error.clone(),
        });
        self.record.error = Some(error);
        self.record.status = Status::Failed;
        self.clear_work();
    }

    /// The state's work is done: filter its output and follow its exit.
    fn exit_state(&mut self, thread_id: ThreadId) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let state = workflow.state(&thread.state)?;
        if let Some(task) = &state.task {
            let raw = thread.data.clone();
            let output = self.task_output(thread_id, task, raw)?;
            self.unsubscribe(thread_id);
            self.log(HistoryKind::TaskCompleted {
                task: task.name.clone(),
                reference: task.reference.clone(),
            });
            return self.follow(thread_id, state, state.exit(), output);
        }
        let filter = state.state_data_filter.as_ref();
        let mut output = thread.data.clone();
        if let (Some(result_path), Some(raw)) = (
            filter.and_then(|f| f.result_path.as_ref()),
            thread.raw_input.clone(),
        ) {
            let mut whole = raw;
            result_path
                .write(&mut whole, output)
                .map_err(data::filter_error)?;
            output = whole;
        }
        let output = data::select_opt(
            filter.and_then(|f| f.data_output_path.as_ref()),
            output,
            "stateDataFilter.dataOutputPath",
        )?;
        self.unsubscribe(thread_id);
        self.log(HistoryKind::StateLeft {
            state: state.name.clone(),
        });
        self.follow(thread_id, state, state.exit(), output)
    }

    /// Takes `exit` out of `state` with `output`.
    fn follow(
        &mut self,
        thread_id: ThreadId,
        state: &'a State,
        exit: Option<&'a Exit>,
        output: Value,
    ) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        // The task is over: so is its timeout.
        self.record.timers.retain(|_, timer| {
            timer.thread != thread_id || timer.purpose != TimerPurpose::TaskTimeout
        });
        match exit {
            Some(Exit::Transition(transition)) => {
                self.enter_state_checked(thread_id, transition, output)
            }
            Some(Exit::End(end)) => {
                if end.status == CompletionStatus::Failure {
                    self.fail_instance(
                        WorkflowError::new(
                            FAIL,
                            format!(
                                "the workflow ended in state '{}' with status FAILURE",
                                state.name
                            ),
                        ),
                        &state.name,
                    );
                    return Ok(());
                }
                match &end.kind {
                    EndKind::Default => self.finish_thread(thread_id, output),
                    EndKind::Terminate => {
                        self.complete_instance(output);
                        Ok(())
                    }
                    EndKind::Event { produce_event } => {
                        let data = match &produce_event.data {
                            Some(path) => Some(data::select(path, &output, "produceEvent.data")?),
                            None => Some(output.clone()),
                        };
                        let definition =
                            workflow.event(&produce_event.name_ref).ok_or_else(|| {
                                WorkflowError::new(
                                    FAIL,
                                    format!("event '{}' is not defined", produce_event.name_ref),
                                )
                            })?;
                        self.log(HistoryKind::EventProduced {
                            event_type: definition.event_type.clone(),
                        });
                        self.produced.push(ProducedEvent {
                            id: None,
                            event_type: definition.event_type.clone(),
                            source: definition.source.clone(),
                            data,
                            extensions: self.record.correlation.clone(),
                        });
                        self.finish_thread(thread_id, output)
                    }
                }
            }
            // A switch chooses in enter_state and never gets here.
            None => Ok(()),
        }
    }

    fn enter_state_checked(
        &mut self,
        thread_id: ThreadId,
        transition: &Transition,
        data: Value,
    ) -> Result<(), WorkflowError> {
        if let Some(guard) = &transition.expression {
            let allowed = guard.0.eval(&data).map_err(data::filter_error)?;
            if !allowed {
                let state = self.thread(thread_id)?.state.clone();
                return Err(WorkflowError::new(
                    FAIL,
                    format!(
                        "state '{state}' may not transition to '{}': its condition '{}' is false for the state's output",
                        transition.next_state,
                        guard.0.as_str()
                    ),
                ));
            }
        }
        self.enter_state(thread_id, &transition.next_state, data)
    }

    fn transition(
        &mut self,
        thread_id: ThreadId,
        transition: &Transition,
    ) -> Result<(), WorkflowError> {
        let state = self.thread(thread_id)?.state.clone();
        self.log(HistoryKind::StateLeft { state });
        let data = self.thread(thread_id)?.data.clone();
        self.enter_state_checked(thread_id, transition, data)
    }

    /// A thread reached an end: the instance completes, or its parent state collects the output.
    fn finish_thread(&mut self, thread_id: ThreadId, output: Value) -> Result<(), WorkflowError> {
        let thread = self.record.threads.remove(&thread_id);
        let Some(join) = thread.and_then(|t| t.join) else {
            self.complete_instance(output);
            return Ok(());
        };
        // The parent goes on from here, and what fails on its way (a raise
        // after a try, say) is the parent's failure: the ended thread is gone
        // and its caller could not place the error.
        if let Err(error) = self.collect_output(join, output) {
            self.state_failed(join.parent, error);
        }
        Ok(())
    }

    /// The parent state of an ended thread takes its `output` and goes on
    /// when it has all it waits for.
    fn collect_output(&mut self, join: Join, output: Value) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let parent = self.thread(join.parent)?;
        let branches = match &workflow.state(&parent.state)?.kind {
            StateKind::Parallel(p) => p.branches.len(),
            _ => 0,
        };
        match &mut parent.phase {
            Phase::Parallel { outputs, running } => {
                let compete = matches!(
                    &workflow.state(&parent.state)?.kind,
                    StateKind::Parallel(p) if p.compete
                );
                if compete {
                    // The first branch to end decides; the others stop.
                    parent.data = output;
                    let parent_id = join.parent;
                    let losers = self.descendants(parent_id);
                    self.log_tasks_of(losers, |task, reference| HistoryKind::TaskCancelled {
                        task,
                        reference,
                    });
                    self.abandon_state_work(parent_id);
                    return self.exit_state(parent_id);
                }
                outputs.insert(join.slot, output);
                running.remove(&join.slot);
                if running.is_empty() {
                    let outputs = std::mem::take(outputs);
                    let ordered: Vec<Value> = (0..branches)
                        .map(|i| outputs.get(&i).cloned().unwrap_or(Value::Null))
                        .collect();
                    // Branches that were not waited for stop with the state.
                    let parent_id = join.parent;
                    let detached: Vec<ThreadId> = self
                        .record
                        .threads
                        .iter()
                        .filter(|(_, t)| t.join.is_some_and(|j| j.parent == parent_id))
                        .map(|(id, _)| *id)
                        .collect();
                    for child in detached {
                        self.abandon_state_work(child);
                        self.record.threads.remove(&child);
                    }
                    self.thread(parent_id)?.data = Value::Array(ordered);
                    return self.exit_state(parent_id);
                }
                Ok(())
            }
            Phase::ForEach {
                running, outputs, ..
            } => {
                running.remove(&join.slot);
                outputs.insert(join.slot, output);
                self.advance_foreach(join.parent)
            }
            Phase::Scope | Phase::Try { .. } => {
                parent.data = output;
                self.exit_state(join.parent)
            }
            Phase::For { index, .. } => {
                *index += 1;
                parent.data = output;
                self.advance_for(join.parent)
            }
            Phase::Events { .. } => self.listen_item_done(join.parent, output),
            _ => Ok(()),
        }
    }

    /// Starts foreach iterations up to `max` at once, one per `timeDelay`
    /// when it has one; exits when all are done.
    fn advance_foreach(&mut self, thread_id: ThreadId) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let StateKind::ForEach(foreach) = &workflow.state(&thread.state)?.kind else {
            return Ok(());
        };
        let data = thread.data.clone();
        let Phase::ForEach {
            items,
            next,
            running,
            outputs,
            delayed,
        } = &mut thread.phase
        else {
            return Ok(());
        };
        let limit = if foreach.max == 0 {
            usize::MAX
        } else {
            foreach.max as usize
        };
        let time_delay = foreach
            .time_delay
            .as_ref()
            .map(|d| d.duration())
            .filter(|d| !d.is_zero());
        let mut to_start = Vec::new();
        while !*delayed && *next < items.len() && running.len() + to_start.len() < limit {
            to_start.push((*next, items[*next].clone()));
            *next += 1;
            // The next iteration starts `timeDelay` after this one.
            *delayed = time_delay.is_some() && *next < items.len();
        }
        let started_delay = *delayed && !to_start.is_empty();
        if to_start.is_empty() && running.is_empty() && *next >= items.len() {
            let collected: Vec<Value> = (0..items.len())
                .map(|i| outputs.get(&i).cloned().unwrap_or(Value::Null))
                .collect();
            let mut data = data;
            match foreach
                .output_collection
                .as_ref()
                .and_then(|p| p.to_write_path())
            {
                Some(path) => path
                    .write(&mut data, Value::Array(collected))
                    .map_err(data::filter_error)?,
                None => data = Value::Array(collected),
            }
            self.thread(thread_id)?.data = data;
            return self.exit_state(thread_id);
        }
        let start = start_state(&foreach.states)
            .ok_or_else(|| {
                WorkflowError::new(
                    FAIL,
                    format!(
                        "the foreach over '{}' has no start state",
                        foreach.input_collection.as_str()
                    ),
                )
            })?
            .to_string();
        for (slot, item) in to_start {
            let mut input = data.clone();
            foreach
                .input_parameter
                .write(&mut input, item)
                .map_err(data::filter_error)?;
            let child = self.record.fresh_id();
            if let Phase::ForEach { running, .. } = &mut self.thread(thread_id)?.phase {
                running.insert(slot, child);
            }
            let locals = self.thread(thread_id)?.locals.clone();
            self.spawn_thread(
                child,
                &start,
                input,
                Some(Join {
                    parent: thread_id,
                    slot,
                }),
                locals,
            );
        }
        if let Some(after) = time_delay
            && started_delay
        {
            self.set_timer(thread_id, after, TimerPurpose::IterationDelay, None);
        }
        Ok(())
    }

    fn complete_instance(&mut self, output: Value) {
        let output = match self.workflow_output(output) {
            Ok(output) => output,
            Err(error) => {
                let state = self
                    .workflow
                    .definition
                    .states
                    .first()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                return self.fail_instance(error, &state);
            }
        };
        self.record.output = Some(output);
        self.record.status = Status::Completed;
        self.log(HistoryKind::InstanceCompleted);
        self.clear_work();
    }

    fn consume_event(
        &mut self,
        thread_id: ThreadId,
        event: &str,
        data: Value,
        correlation: &BTreeMap<String, String>,
    ) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let state = workflow.state(&thread.state)?;
        for (attribute, value) in correlation {
            self.record
                .correlation
                .entry(attribute.clone())
                .or_insert_with(|| value.clone());
        }
        // Subscriptions made before the instance knew its correlation value
        // (the other events of a non-exclusive start state) now accept only
        // events with that value.
        let bound = &self.record.correlation;
        for subscription in &mut self.record.subscriptions {
            let Some((attribute, None)) = &subscription.correlation else {
                continue;
            };
            let Some(known) = bound.get(attribute.as_str()).cloned() else {
                continue;
            };
            let before = subscription.clone();
            if let Some((_, value)) = &mut subscription.correlation {
                *value = Some(known);
            }
            self.subscriptions.remove(before);
            self.subscriptions.add(subscription.clone());
        }
        self.log_consumed(thread_id, event);
        match &state.kind {
            StateKind::Event(event_state) => {
                let thread = self.thread(thread_id)?;
                let Phase::Events { received, .. } = &mut thread.phase else {
                    return Ok(());
                };
                if event_state.exclusive {
                    let Some(index) = event_state
                        .events_actions
                        .iter()
                        .position(|ea| ea.event_refs.iter().any(|r| r == event))
                    else {
                        return Ok(());
                    };
                    let filter = event_state.events_actions[index].event_data_filter.as_ref();
                    merge_event_data(
                        thread,
                        filter.and_then(|f| f.data_output_path.as_ref()),
                        data,
                    )?;
                    self.unsubscribe(thread_id);
                    self.clear_wait_timers(thread_id);
                    return self.run_actions(thread_id, ActionList::EventActions(index));
                }
                received.insert(event.to_string(), data);
                let all: BTreeSet<&String> = event_state
                    .events_actions
                    .iter()
                    .flat_map(|ea| ea.event_refs.iter())
                    .collect();
                if !all.iter().all(|name| received.contains_key(*name)) {
                    self.drop_subscriptions(|s| s.thread == thread_id && s.event == event);
                    return Ok(());
                }
                let received = std::mem::take(received);
                for entry in &event_state.events_actions {
                    for name in &entry.event_refs {
                        if let Some(data) = received.get(name) {
                            let path = entry
                                .event_data_filter
                                .as_ref()
                                .and_then(|f| f.data_output_path.as_ref());
                            merge_event_data(self.thread(thread_id)?, path, data.clone())?;
                        }
                    }
                }
                self.unsubscribe(thread_id);
                self.clear_wait_timers(thread_id);
                self.run_actions(thread_id, ActionList::EventActions(0))
            }
            StateKind::Callback(callback) => {
                let thread = self.thread(thread_id)?;
                if thread.phase != Phase::CallbackWait {
                    return Ok(());
                }
                let path = callback
                    .event_data_filter
                    .as_ref()
                    .and_then(|f| f.data_output_path.as_ref());
                merge_event_data(thread, path, data)?;
                self.clear_wait_timers(thread_id);
                self.exit_state(thread_id)
            }
            _ => Ok(()),
        }
    }

    /// The name of the state `thread_id` is in (empty for a thread gone).
    fn state_of(&self, thread_id: ThreadId) -> String {
        self.record
            .threads
            .get(&thread_id)
            .map(|t| t.state.clone())
            .unwrap_or_default()
    }

    /// Logs that `thread_id`'s state consumed event `event`.
    fn log_consumed(&mut self, thread_id: ThreadId, event: &str) {
        self.log(HistoryKind::EventConsumed {
            state: self.state_of(thread_id),
            event: event.to_string(),
        });
    }

    fn subscribe(&mut self, thread_id: ThreadId, event: &str) -> Result<(), WorkflowError> {
        let definition = self
            .workflow
            .event(event)
            .ok_or_else(|| WorkflowError::new(FAIL, format!("event '{event}' is not defined")))?;
        let correlation = definition.correlation_attribute().map(|attribute| {
            let value = self.record.correlation.get(&attribute).cloned();
            (attribute, value)
        });
        let (event_type, source) = self.subscribed_under(thread_id, definition)?;
        let subscription = Subscription {
            thread: thread_id,
            event: event.to_string(),
            event_type,
            source,
            correlation,
        };
        self.subscriptions.add(subscription.clone());
        self.record.subscriptions.push(subscription);
        Ok(())
    }

    fn unsubscribe(&mut self, thread_id: ThreadId) {
        self.drop_subscriptions(|s| s.thread == thread_id);
    }

    /// Removes the subscriptions `gone` picks.
    fn drop_subscriptions(&mut self, gone: impl Fn(&Subscription) -> bool) {
        let (dropped, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.record.subscriptions)
            .into_iter()
            .partition(|s| gone(s));
        self.record.subscriptions = kept;
        for subscription in dropped {
            self.subscriptions.remove(subscription);
        }
    }

    /// The thread's wait is over: its timeouts go, its deadlines stay.
    fn clear_wait_timers(&mut self, thread_id: ThreadId) {
        self.record
            .timers
            .retain(|_, t| t.thread != thread_id || t.purpose.is_deadline());
    }

    fn set_timer(
        &mut self,
        thread_id: ThreadId,
        after: Duration,
        purpose: TimerPurpose,
        retry: Option<(ActionList, usize, u32)>,
    ) {
        let due_ms = self.now_ms.saturating_add(after.as_millis() as u64);
        let id = self.record.fresh_id();
        self.log(HistoryKind::TimerSet {
            state: self.state_of(thread_id),
            purpose,
            due_ms,
        });
        self.record.timers.insert(
            id,
            Timer {
                thread: thread_id,
                due_ms,
                purpose,
                retry,
            },
        );
    }
}

/// Iterations of one foreach state; a larger collection fails the state.
pub const MAX_FOREACH_ITEMS: usize = 10_000;
/// Subflows nested deeper than this fail, which stops A→B→A cycles.
pub const MAX_SUBFLOW_DEPTH: u32 = 16;

fn merge_event_data(
    thread: &mut Thread,
    path: Option<&swirl_workflow::expression::JsonPath>,
    data: Value,
) -> Result<(), WorkflowError> {
    let selected = match path {
        Some(path) => data::select(path, &data, "eventDataFilter.dataOutputPath")?,
        None => data,
    };
    data::merge(&mut thread.data, selected);
    Ok(())
}

fn all(results: impl Iterator<Item = Result<bool, WorkflowError>>) -> Result<bool, WorkflowError> {
    for result in results {
        if !result? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn any(results: impl Iterator<Item = Result<bool, WorkflowError>>) -> Result<bool, WorkflowError> {
    for result in results {
        if result? {
            return Ok(true);
        }
    }
    Ok(false)
}
