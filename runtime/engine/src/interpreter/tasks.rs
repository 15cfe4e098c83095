//! How the interpreter runs the states that 1.0 tasks lower into.
//!
//! Data flows as 1.0 says: a task's input (after `input.from`) is its
//! `$input`; its output replaces the data (after `output.as`), and
//! `export.as` replaces the instance's `$context`. Composite tasks (`do`,
//! `try`, `for`) run their task lists as child threads joined to the task's
//! thread, as parallel branches are; an error that no state handles travels
//! up those joins to the nearest `try` whose `catch` takes it, or fails the
//! instance. Errors carry their RFC 7807 form (`problem`) from the task
//! that raised or met them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{FAIL, Step, start_state};
use crate::record::{
    HistoryKind, Phase, ProducedEvent, ThreadId, TimerId, TimerPurpose, WorkflowError,
};
use swirl_workflow::duration::IsoDuration;
use swirl_workflow::expression::ExpressionError;
use swirl_workflow::expression::jq::{Bindings, Jq, Template};
use swirl_workflow::model::{
    Action, Backoff, CasesState, EmitState, ForState, RaiseState, SetState, State, StateKind,
    TaskDuration, TaskFlow,
};
use swirl_workflow::schema::DataSchema;

/// Where the spec's standard error types live.
const ERROR_TYPES: &str = "https://open-workflow-specification.org/spec/1.0.0/errors/";

/// The RFC 7807 type and status of a standard 1.0 error.
fn standard(kind: &str, status: u16) -> (String, u16) {
    (format!("{ERROR_TYPES}{kind}"), status)
}

/// A failure of expression `what` as a 1.0 `expression` error (400).
pub(super) fn expression_error(error: ExpressionError) -> WorkflowError {
    let message = error.to_string();
    let mut failure = WorkflowError::new(swirl_core::codes::FILTER_ERROR, message.clone());
    let (kind, status) = standard("expression", 400);
    failure.problem = Some(Box::new(json!({
        "type": kind, "status": status, "title": "expression failed", "detail": message,
    })));
    failure
}

/// The RFC 7807 form of `error`, met at the task `instance`.
pub fn problem_of(error: &WorkflowError, instance: &str) -> Value {
    if let Some(problem) = &error.problem {
        return Value::clone(problem);
    }
    use swirl_core::codes::*;
    let (kind, status) = match error.name.as_str() {
        TIMEOUT => standard("timeout", 408),
        PERMISSION => standard("authorization", 403),
        INVALID_PARAMETER => standard("validation", 400),
        BUSY => standard("communication", 503),
        FILTER_ERROR => standard("expression", 400),
        FAIL => standard("runtime", 500),
        custom => (format!("urn:swirl:error:{custom}"), 500),
    };
    let mut problem = json!({
        "type": kind, "status": status, "title": error.message, "instance": instance,
    });
    if let (Some(details), Value::Object(map)) = (&error.details, &mut problem) {
        map.insert("details".into(), Value::clone(details));
    }
    problem
}

/// Whether a caught error's `type` matches a `catch.errors.with` type: the
/// same URI, or the same standard error under either of the spec's
/// addresses (the conformance kit filters on `…/dsl/errors/types/<kind>`,
/// the reference tells runtimes to raise `…/spec/1.0.0/errors/<kind>`).
fn same_type(wanted: &str, actual: &str) -> bool {
    fn standard_kind(uri: &str) -> Option<&str> {
        let known = uri.starts_with("https://open-workflow-specification.org/")
            || uri.starts_with("https://serverlessworkflow.io/");
        (known && uri.contains("/errors/")).then(|| uri.rsplit('/').next().unwrap_or_default())
    }
    wanted == actual || standard_kind(wanted).is_some_and(|k| Some(k) == standard_kind(actual))
}

impl<'a> Step<'a> {
    /// What an expression of `task` in `thread_id` sees, with `$output`
    /// bound to `output`.
    pub(super) fn bindings<'b>(
        &'b self,
        thread_id: ThreadId,
        task: &'b TaskFlow,
        output: &'b Value,
    ) -> Bindings<'b> {
        static NULL: Value = Value::Null;
        static NO_LOCALS: BTreeMap<String, Value> = BTreeMap::new();
        let thread = self.record.threads.get(&thread_id);
        Bindings {
            context: &self.record.context,
            input: thread.and_then(|t| t.raw_input.as_ref()).unwrap_or(&NULL),
            output,
            instance_id: &self.record.id,
            workflow_definition: &self.workflow.definition.document,
            started_ms: self.record.created_ms,
            workflow_input: &self.record.input,
            task: (&task.name, &task.reference),
            locals: thread.map_or(&NO_LOCALS, |t| &t.locals),
            secrets: Some(&self.workflow.secrets),
        }
    }

    /// Evaluates `template` for `task` in `thread_id` on `input`, with
    /// `$output` bound to `output`.
    pub(super) fn eval(
        &self,
        thread_id: ThreadId,
        task: &TaskFlow,
        template: &Template,
        input: &Value,
        output: &Value,
    ) -> Result<Value, WorkflowError> {
        template
            .eval(input, &self.bindings(thread_id, task, output))
            .map_err(expression_error)
    }

    /// The length of `duration`, a duration of `state`'s task, computed on
    /// `input` when it is an expression (a result that is no duration is an
    /// `expression` error of the task).
    pub(super) fn length(
        &self,
        thread_id: ThreadId,
        state: &State,
        duration: &TaskDuration,
        input: &Value,
    ) -> Result<Duration, WorkflowError> {
        if let TaskDuration::Fixed(fixed) = duration {
            return Ok(fixed.duration());
        }
        let task = task_of(state)?;
        duration
            .eval(input, &self.bindings(thread_id, task, &Value::Null))
            .map(|d| d.duration())
            .map_err(expression_error)
    }

    /// Evaluates a condition like [`Step::eval`], `$output` being null.
    fn test(
        &self,
        thread_id: ThreadId,
        task: &TaskFlow,
        jq: &Jq,
        input: &Value,
    ) -> Result<bool, WorkflowError> {
        jq.test(input, &self.bindings(thread_id, task, &Value::Null))
            .map_err(expression_error)
    }

    /// The instance's input after the workflow's `input.from`, checked
    /// against its `input.schema` first.
    pub(super) fn workflow_input(&self) -> Result<Value, WorkflowError> {
        let input = self.record.input.clone();
        let definition = &self.workflow.definition;
        conforms(definition.input_schema.as_ref(), &input, "/", || {
            "the workflow's input".into()
        })?;
        match &definition.input_from {
            Some(from) => self.workflow_eval(from, &input),
            None => Ok(input),
        }
    }

    /// The instance's output after the workflow's `output.as`, checked
    /// against its `output.schema`.
    pub(super) fn workflow_output(&self, output: Value) -> Result<Value, WorkflowError> {
        let definition = &self.workflow.definition;
        let output = match &definition.output_as {
            Some(output_as) => self.workflow_eval(output_as, &output)?,
            None => output,
        };
        conforms(definition.output_schema.as_ref(), &output, "/", || {
            "the workflow's output".into()
        })?;
        Ok(output)
    }

    fn workflow_eval(&self, template: &Template, input: &Value) -> Result<Value, WorkflowError> {
        template
            .eval(input, &self.workflow_bindings(&self.record.input))
            .map_err(expression_error)
    }

    /// What an expression of the workflow (no task's) sees, `$input` being
    /// `input`.
    fn workflow_bindings<'b>(&'b self, input: &'b Value) -> Bindings<'b> {
        static NO_LOCALS: BTreeMap<String, Value> = BTreeMap::new();
        Bindings {
            context: &self.record.context,
            input,
            instance_id: &self.record.id,
            workflow_definition: &self.workflow.definition.document,
            started_ms: self.record.created_ms,
            workflow_input: &self.record.input,
            secrets: Some(&self.workflow.secrets),
            ..Bindings::empty(&NO_LOCALS)
        }
    }

    /// The length of the workflow's `timeout`, computed when it is an
    /// expression on `input`, the workflow's transformed input, which is
    /// `$input` too, as a task's definition sees its own. A result that is
    /// no duration is an `expression` error (400) of the workflow (`/`).
    pub(super) fn workflow_timeout(
        &self,
        timeout: &TaskDuration,
        input: &Value,
    ) -> Result<Duration, WorkflowError> {
        timeout
            .eval(input, &self.workflow_bindings(input))
            .map(|after| after.duration())
            .map_err(|e| {
                let mut error = expression_error(e);
                error.message = format!("the workflow's timeout: {}", error.message);
                if let Some(Value::Object(problem)) = error.problem.as_deref_mut() {
                    problem.insert("detail".into(), Value::String(error.message.clone()));
                    problem.insert("instance".into(), Value::String("/".into()));
                }
                error
            })
    }

    /// A task's transformed input, or `None` when its `if` skips it (the
    /// thread's data is then its raw input, which becomes its output).
    pub(super) fn task_input(
        &mut self,
        thread_id: ThreadId,
        task: &TaskFlow,
        input: Value,
    ) -> Result<Option<Value>, WorkflowError> {
        if let Some(when) = &task.when
            && !self.test(thread_id, task, when, &input)?
        {
            self.thread(thread_id)?.data = input;
            return Ok(None);
        }
        conforms(task.input_schema.as_ref(), &input, &task.reference, || {
            format!("the input of task '{}'", task.name)
        })?;
        match &task.input_from {
            Some(from) => self
                .eval(thread_id, task, from, &input, &Value::Null)
                .map(Some),
            None => Ok(Some(input)),
        }
    }

    /// A task's output after `output.as`; `export.as` updates `$context`.
    pub(super) fn task_output(
        &mut self,
        thread_id: ThreadId,
        task: &TaskFlow,
        raw: Value,
    ) -> Result<Value, WorkflowError> {
        let output = match &task.output_as {
            Some(output_as) => self.eval(thread_id, task, output_as, &raw, &raw)?,
            None => raw,
        };
        conforms(
            task.output_schema.as_ref(),
            &output,
            &task.reference,
            || format!("the output of task '{}'", task.name),
        )?;
        if let Some(export_as) = &task.export_as {
            self.record.context = self.eval(thread_id, task, export_as, &output, &output)?;
        }
        // Without `export.as` the context stays as it is, and is checked all the same.
        conforms(
            task.export_schema.as_ref(),
            &self.record.context,
            &task.reference,
            || format!("the context after task '{}'", task.name),
        )?;
        Ok(output)
    }

    /// A 1.0 call's function input: its `with`, else the task's input.
    pub(super) fn call_input(
        &self,
        thread_id: ThreadId,
        task: &TaskFlow,
        action: &Action,
    ) -> Result<Value, WorkflowError> {
        let data = self
            .record
            .threads
            .get(&thread_id)
            .map_or(Value::Null, |t| t.data.clone());
        let input = match &action.arguments {
            Some(with) => self.eval(thread_id, task, with, &data, &Value::Null)?,
            None => data.clone(),
        };
        if action.function_ref.ref_name == "http" {
            return Ok(expand_endpoint(input, &data));
        }
        Ok(input)
    }

    pub(super) fn begin_set(
        &mut self,
        thread_id: ThreadId,
        state: &'a State,
        set: &'a SetState,
    ) -> Result<(), WorkflowError> {
        let task = task_of(state)?;
        let data = self.thread(thread_id)?.data.clone();
        let value = self.eval(thread_id, task, &set.set, &data, &Value::Null)?;
        self.thread(thread_id)?.data = value;
        self.exit_state(thread_id)
    }

    pub(super) fn begin_raise(
        &mut self,
        thread_id: ThreadId,
        state: &'a State,
        raise: &'a RaiseState,
    ) -> Result<(), WorkflowError> {
        let task = task_of(state)?;
        let data = self.thread(thread_id)?.data.clone();
        let mut problem = self.eval(thread_id, task, &raise.error, &data, &Value::Null)?;
        if let Value::Object(map) = &mut problem {
            map.entry("instance")
                .or_insert_with(|| Value::String(task.reference.clone()));
        }
        let text = |key: &str| problem.get(key).and_then(Value::as_str).map(str::to_owned);
        let name = text("type").unwrap_or_else(|| FAIL.to_string());
        let message = text("title")
            .or_else(|| text("detail"))
            .unwrap_or_else(|| format!("task '{}' raised an error", task.name));
        let mut error = WorkflowError::new(name, message);
        error.problem = Some(Box::new(problem));
        Err(error)
    }

    pub(super) fn begin_emit(
        &mut self,
        thread_id: ThreadId,
        state: &'a State,
        emit: &'a EmitState,
    ) -> Result<(), WorkflowError> {
        let task = task_of(state)?;
        let data = self.thread(thread_id)?.data.clone();
        let Value::Object(mut attributes) =
            self.eval(thread_id, task, &emit.event, &data, &Value::Null)?
        else {
            return Err(WorkflowError::new(
                FAIL,
                format!("task '{}' emits an event that is not an object", task.name),
            ));
        };
        let text = |attributes: &Map<String, Value>, key: &str| {
            attributes
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (Some(source), Some(event_type)) =
            (text(&attributes, "source"), text(&attributes, "type"))
        else {
            return Err(WorkflowError::new(
                FAIL,
                format!(
                    "task '{}' emits an event without a string 'source' and 'type'",
                    task.name
                ),
            ));
        };
        let sequence = self.record.fresh_id();
        let id = text(&attributes, "id")
            .unwrap_or_else(|| swirl_core::ids::derived_id(self.now_ms, &self.record.id, sequence));
        let event_data = attributes.remove("data");
        let extensions: BTreeMap<String, String> = attributes
            .iter()
            .filter(|(key, _)| {
                !["id", "source", "type", "time", "specversion"].contains(&key.as_str())
            })
            .filter_map(|(key, value)| match value {
                Value::String(text) => Some((key.clone(), text.clone())),
                Value::Null => None,
                other => Some((key.clone(), other.to_string())),
            })
            .collect();
        self.log(HistoryKind::EventProduced {
            event_type: event_type.clone(),
        });
        let mut event = Map::new();
        event.insert("specversion".into(), json!("1.0"));
        event.insert("id".into(), json!(id));
        event.insert("source".into(), json!(source));
        event.insert("type".into(), json!(event_type));
        event.insert("time".into(), json!(swirl_core::time::rfc3339(self.now_ms)));
        for (key, value) in &extensions {
            event.insert(key.clone(), json!(value));
        }
        if let Some(data) = &event_data {
            event.insert("data".into(), data.clone());
        }
        self.produced.push(ProducedEvent {
            event_type,
            source,
            data: event_data,
            extensions,
            id: Some(id),
        });
        self.thread(thread_id)?.data = Value::Object(event);
        self.exit_state(thread_id)
    }

    pub(super) fn begin_cases(
        &mut self,
        thread_id: ThreadId,
        state: &'a State,
        cases: &'a CasesState,
    ) -> Result<(), WorkflowError> {
        let task = task_of(state)?;
        let data = self.thread(thread_id)?.data.clone();
        let mut chosen = &cases.otherwise;
        for case in &cases.cases {
            let matched = match &case.when {
                Some(when) => self.test(thread_id, task, when, &data)?,
                None => true,
            };
            if matched {
                chosen = &case.then;
                break;
            }
        }
        let output = self.task_output(thread_id, task, data)?;
        self.log(HistoryKind::TaskCompleted {
            task: task.name.clone(),
            reference: task.reference.clone(),
        });
        self.follow(thread_id, state, Some(chosen), output)
    }

    pub(super) fn begin_for(
        &mut self,
        thread_id: ThreadId,
        state: &'a State,
        for_state: &'a ForState,
    ) -> Result<(), WorkflowError> {
        let task = task_of(state)?;
        let data = self.thread(thread_id)?.data.clone();
        let collection = for_state
            .collection
            .eval(&data, &self.bindings(thread_id, task, &Value::Null))
            .map_err(expression_error)?;
        let items = match collection {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
            other => vec![other],
        };
        if items.len() > super::MAX_FOREACH_ITEMS {
            return Err(WorkflowError::new(
                FAIL,
                format!(
                    "'for.in' of task '{}' has {} elements, more than the limit of {}",
                    task.name,
                    items.len(),
                    super::MAX_FOREACH_ITEMS
                ),
            ));
        }
        self.thread(thread_id)?.phase = Phase::For { items, index: 0 };
        self.advance_for(thread_id)
    }

    /// Starts the next iteration of a `for`, or leaves it.
    pub(super) fn advance_for(&mut self, thread_id: ThreadId) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let state = workflow.state(&thread.state)?;
        let StateKind::For(for_state) = &state.kind else {
            return Ok(());
        };
        let Phase::For { items, index } = &thread.phase else {
            return Ok(());
        };
        let Some(item) = items.get(*index).cloned() else {
            return self.exit_state(thread_id);
        };
        let index = *index;
        let mut locals = thread.locals.clone();
        locals.insert(for_state.each.clone(), item);
        locals.insert(for_state.at.clone(), json!(index));
        if let Some(while_) = &for_state.while_ {
            let data = thread.data.clone();
            let saved = std::mem::replace(&mut self.thread(thread_id)?.locals, locals.clone());
            let go_on = self.test(thread_id, task_of(state)?, while_, &data);
            self.thread(thread_id)?.locals = saved;
            if !go_on? {
                return self.exit_state(thread_id);
            }
        }
        self.run_scope(thread_id, &for_state.states, Some(locals))
    }

    /// Runs `states` as a child thread of `parent`, on the parent's data,
    /// with `locals` (else the parent's).
    pub(super) fn run_scope(
        &mut self,
        parent: ThreadId,
        states: &'a [State],
        locals: Option<BTreeMap<String, Value>>,
    ) -> Result<(), WorkflowError> {
        let start = start_state(states)
            .ok_or_else(|| WorkflowError::new(FAIL, "a task list has no first task"))?;
        let thread = self.thread(parent)?;
        let data = thread.data.clone();
        let locals = locals.unwrap_or_else(|| thread.locals.clone());
        let child = self.record.fresh_id();
        self.spawn_thread(
            child,
            start,
            data,
            Some(super::Join { parent, slot: 0 }),
            locals,
        );
        Ok(())
    }

    /// `error` with its RFC 7807 form, located at the 1.0 task that met it.
    pub(super) fn located(&self, mut error: WorkflowError, state: &State) -> WorkflowError {
        if let Some(task) = &state.task {
            match &mut error.problem {
                Some(problem) => {
                    if let Value::Object(map) = problem.as_mut() {
                        map.entry("instance")
                            .or_insert_with(|| Value::String(task.reference.clone()));
                    }
                }
                None => error.problem = Some(Box::new(problem_of(&error, &task.reference))),
            }
        }
        error
    }

    /// The thread an error of `thread_id` goes up to: its parent, when the
    /// parent's state is a 1.0 task (composite tasks pass errors on).
    pub(super) fn composite_parent(&self, thread_id: ThreadId) -> Option<ThreadId> {
        let join = self.record.threads.get(&thread_id)?.join?;
        self.thread_task(join.parent)
            .is_some()
            .then_some(join.parent)
    }

    /// A child thread of `parent` failed with `error`: a `try` may catch it;
    /// any other task fails with it.
    pub(super) fn child_failed(&mut self, parent: ThreadId, error: WorkflowError) {
        let workflow = self.workflow;
        let caught = self.record.threads.get(&parent).and_then(|thread| {
            let state = workflow.state(&thread.state).ok()?;
            match (&state.kind, &thread.phase) {
                (
                    StateKind::Try(_),
                    Phase::Try {
                        catching: false, ..
                    },
                ) => Some(state),
                _ => None,
            }
        });
        match caught {
            Some(state) => {
                if let Err(error) = self.catch(parent, state, error) {
                    self.state_failed(parent, error);
                }
            }
            None => self.state_failed(parent, error),
        }
    }

    /// Handles `error` in the `try` task `state` of thread `thread_id`:
    /// retries, runs `catch.do`, or completes the task; an error the catch
    /// does not take comes back as `Err`.
    fn catch(
        &mut self,
        thread_id: ThreadId,
        state: &'a State,
        error: WorkflowError,
    ) -> Result<(), WorkflowError> {
        let StateKind::Try(try_state) = &state.kind else {
            return Err(error);
        };
        let task = task_of(state)?;
        let catch = &try_state.catch;
        let problem = problem_of(&error, &task.reference);
        let matches_with =
            catch.with.iter().all(
                |(key, wanted)| match (key.as_str(), wanted, problem.get(key)) {
                    ("type", Value::String(wanted), Some(Value::String(actual))) => {
                        same_type(wanted, actual)
                    }
                    (_, wanted, actual) => actual == Some(wanted),
                },
            );
        if !matches_with {
            return Err(error);
        }
        // `when` and `exceptWhen` see the error as their input and variable.
        let mut locals = self.thread(thread_id)?.locals.clone();
        locals.insert(catch.variable.clone(), problem.clone());
        let saved = std::mem::replace(&mut self.thread(thread_id)?.locals, locals.clone());
        let decide = |step: &Self, jq: &Option<Jq>, default: bool| match jq {
            Some(jq) => step.test(thread_id, task, jq, &problem),
            None => Ok(default),
        };
        let when = decide(self, &catch.when, true);
        let except = decide(self, &catch.except_when, false);
        // Its durations are computed as its `when` is, on the error.
        let length = |step: &Self, duration: &TaskDuration| {
            step.length(thread_id, state, duration, &problem)
        };
        let retry = catch.retry.as_ref().map(|policy| {
            let when = decide(self, &policy.when, true);
            let except = decide(self, &policy.except_when, false);
            let durations = (|| {
                let limit = policy
                    .limit_duration
                    .as_ref()
                    .map(|limit| length(self, limit))
                    .transpose()?;
                let jitter = match &policy.jitter {
                    Some((from, to)) => Some((length(self, from)?, length(self, to)?)),
                    None => None,
                };
                Ok((length(self, &policy.delay)?, limit, jitter))
            })();
            (policy, when, except, durations)
        });
        self.thread(thread_id)?.locals = saved;
        if !when? || except? {
            return Err(error);
        }
        let now = self.now_ms;
        if let Some((policy, when, except, durations)) = retry
            && when?
            && !except?
        {
            let (base, limit_duration, jitter): (Duration, Option<Duration>, _) = durations?;
            let Phase::Try {
                attempt,
                first_failure_ms,
                ..
            } = &mut self.thread(thread_id)?.phase
            else {
                return Err(error);
            };
            if *first_failure_ms == 0 {
                *first_failure_ms = now;
            }
            let within_count = policy.limit_attempts.is_none_or(|count| *attempt <= count);
            let within_time = limit_duration.is_none_or(|limit| {
                now.saturating_sub(*first_failure_ms) < limit.as_millis() as u64
            });
            if within_count && within_time {
                let retry_number = *attempt;
                *attempt += 1;
                let delay = match policy.backoff {
                    Backoff::Constant => base,
                    Backoff::Linear => base * retry_number,
                    Backoff::Exponential => {
                        base.saturating_mul(1u32 << retry_number.saturating_sub(1).min(20))
                    }
                };
                let jitter = jitter.map_or(Duration::ZERO, |(from, to): (Duration, Duration)| {
                    // Deterministic per instance and attempt: the core reads no randomness.
                    let span = to.saturating_sub(from).as_millis() as u64;
                    let spread = (self.record.next_id.wrapping_mul(2_654_435_761)) % (span + 1);
                    from + Duration::from_millis(spread)
                });
                self.set_timer(thread_id, delay + jitter, TimerPurpose::TryRetry, None);
                return Ok(());
            }
            // Retries are spent: the catch's tasks take the error, if it has any.
            if catch.states.is_empty() {
                return Err(error);
            }
        }
        if catch.states.is_empty() {
            return self.exit_state(thread_id);
        }
        if let Phase::Try { catching, .. } = &mut self.thread(thread_id)?.phase {
            *catching = true;
        }
        self.run_scope(thread_id, &catch.states, Some(locals))
    }

    /// The nearest 1.0 timeout over what `thread_id` runs: its own task's,
    /// an enclosing task's or the workflow's; the timer and its due time.
    pub(super) fn deadline(&self, thread_id: ThreadId) -> Option<(TimerId, u64)> {
        let mut chain = Vec::new();
        let mut next = Some(thread_id);
        while let Some(id) = next {
            chain.push(id);
            next = self
                .record
                .threads
                .get(&id)
                .and_then(|t| t.join)
                .map(|j| j.parent);
        }
        self.record
            .timers
            .iter()
            .filter(|(_, t)| t.purpose.is_deadline() && chain.contains(&t.thread))
            .map(|(id, t)| (*id, t.due_ms))
            .min_by_key(|(_, due)| *due)
    }

    /// The `timeout` error of the task in state `state`, whose time is up
    /// at `due_ms` on `thread_id`.
    pub(super) fn task_timed_out(
        &self,
        state: &str,
        thread_id: ThreadId,
        due_ms: u64,
    ) -> WorkflowError {
        let task = self
            .workflow
            .state(state)
            .ok()
            .and_then(|s| s.task.as_ref());
        let detail = match task {
            Some(TaskFlow {
                name,
                timeout: Some(TaskDuration::Fixed(after)),
                ..
            }) => format!("task '{name}' timed out after {after}"),
            // The length it was given: the timer was set as the task started.
            Some(TaskFlow {
                name,
                timeout: Some(TaskDuration::Computed(_)),
                ..
            }) => {
                let entered = self
                    .record
                    .threads
                    .get(&thread_id)
                    .map_or(due_ms, |t| t.entered_ms);
                let after = IsoDuration::from_millis(due_ms.saturating_sub(entered));
                format!("task '{name}' timed out after {after}")
            }
            _ => format!("state '{state}' timed out"),
        };
        standard_error("timeout", 408, detail)
    }

    /// The workflow's `timeout`, due at `due_ms`, passed: the instance
    /// faults, whatever runs.
    pub(super) fn workflow_timed_out(&mut self, due_ms: u64) {
        let after = match &self.workflow.definition.timeout {
            Some(TaskDuration::Fixed(after)) => format!(" after {after}"),
            // The length it came to: the timer was set as the instance started.
            Some(TaskDuration::Computed(_)) => format!(
                " after {}",
                IsoDuration::from_millis(due_ms.saturating_sub(self.record.created_ms))
            ),
            None => String::new(),
        };
        let mut error = standard_error("timeout", 408, format!("the workflow timed out{after}"));
        if let Some(Value::Object(problem)) = error.problem.as_deref_mut() {
            problem.insert("instance".into(), Value::String("/".into()));
        }
        let state = self
            .record
            .threads
            .values()
            .next()
            .map(|t| t.state.clone())
            .unwrap_or_default();
        self.fail_instance(error, &state);
    }

    /// A `try`'s retry delay passed: run its tasks again on its input.
    pub(super) fn retry_try(&mut self, thread_id: ThreadId) -> Result<(), WorkflowError> {
        let workflow = self.workflow;
        let thread = self.thread(thread_id)?;
        let state = workflow.state(&thread.state)?;
        let StateKind::Try(try_state) = &state.kind else {
            return Ok(());
        };
        if let Some(input) = thread.raw_input.clone() {
            thread.data = input;
        }
        let task = task_of(state)?;
        self.log(HistoryKind::TaskRetried {
            task: task.name.clone(),
            reference: task.reference.clone(),
        });
        self.run_scope(thread_id, &try_state.states, None)
    }
}

/// An http call's `with` with its endpoint's `{name}`s filled from the task input.
fn expand_endpoint(mut with: Value, input: &Value) -> Value {
    let endpoint = match with.get_mut("endpoint") {
        Some(Value::Object(endpoint)) => endpoint.get_mut("uri"),
        other => other,
    };
    if let Some(Value::String(uri)) = endpoint {
        *uri = swirl_core::uri_template::expand(uri, input);
    }
    with
}

/// A 1.0 standard error (`kind` under the spec's error types) with `detail`.
pub fn standard_error(kind: &str, status: u16, detail: String) -> WorkflowError {
    let (type_uri, status) = standard(kind, status);
    let mut error = WorkflowError::new(type_uri.clone(), detail.clone());
    error.problem = Some(Box::new(json!({
        "type": type_uri, "status": status, "title": format!("{kind} error"), "detail": detail,
    })));
    error
}

/// Checks `value` against `schema`, if there is one: a mismatch is the
/// standard `validation` error (400) of the task at `instance`, naming
/// `what` did not conform and where.
pub(super) fn conforms(
    schema: Option<&DataSchema>,
    value: &Value,
    instance: &str,
    what: impl FnOnce() -> String,
) -> Result<(), WorkflowError> {
    let Some(schema) = schema else {
        return Ok(());
    };
    schema.validate(value).map_err(|why| {
        let mut error = standard_error(
            "validation",
            400,
            format!("{} does not match its schema: {why}", what()),
        );
        if let Some(Value::Object(problem)) = error.problem.as_deref_mut() {
            problem.insert("instance".into(), Value::String(instance.into()));
        }
        error
    })
}

fn task_of(state: &State) -> Result<&TaskFlow, WorkflowError> {
    state.task.as_ref().ok_or_else(|| {
        WorkflowError::new(FAIL, format!("state '{}' is not a 1.0 task", state.name))
    })
}
