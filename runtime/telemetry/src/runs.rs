//! A run's spans, made from what the engine reported of it
//! ([`RunTrace`]): the run, under the instance's span; the states (v0.1,
//! draft) and tasks (1.0, nested by their JSON pointers) it went through,
//! from its history; the function calls, under the state that made them,
//! timed to the nanosecond; and, when the run ended the instance, the
//! instance's own span from its start.
//!
//! History is timed to the millisecond and calls to the nanosecond, so a
//! state's span is widened to hold its calls. A state the run found
//! already entered (it waited for an event) starts with the run; one
//! still open at the run's end (it waits now) ends with it, marked
//! `swirl.state.waiting`.

use super::span::{Event, Span, SpanKind, Status};
use swirl_core::trace_context::{SpanId, TraceContext};
use swirl_engine::record::{HistoryEntry, HistoryKind, Status as InstanceStatus};
use swirl_engine::tracer::{CallTrace, RunTrace, Trigger};
use swirl_workflow::model::PROTOCOL_PREFIX;

/// About how many spans [`spans`] makes of `run`: what the queue counts.
pub fn span_count(run: &RunTrace) -> usize {
    let states = run
        .history
        .iter()
        .filter(|entry| {
            matches!(
                entry.kind,
                HistoryKind::StateEntered { .. } | HistoryKind::TaskStarted { .. }
            )
        })
        .count();
    1 + usize::from(run.status.is_final()) + states + run.calls.len()
}

/// A state or task span not closed yet.
struct Open {
    span: Span,
    /// The state's name; a 1.0 task's state is named by its JSON pointer.
    state: String,
    is_task: bool,
}

/// The spans of `run`; none when its trace is not sampled.
pub fn spans(run: &RunTrace) -> Vec<Span> {
    if !run.instance.sampled() {
        return Vec::new();
    }
    let mut spans = Vec::with_capacity(span_count(run));
    let mut builder = Builder {
        run,
        run_span: run_span(run),
        open: Vec::new(),
        calls: run.calls.iter().map(Some).collect(),
        done: &mut spans,
    };
    for entry in &run.history {
        builder.apply(entry);
    }
    builder.finish();
    if run.status.is_final() {
        spans.push(instance_span(run));
    }
    spans
}

struct Builder<'a> {
    run: &'a RunTrace,
    run_span: Span,
    open: Vec<Open>,
    /// Calls not yet matched to their history entry.
    calls: Vec<Option<&'a CallTrace>>,
    done: &'a mut Vec<Span>,
}

impl Builder<'_> {
    fn context(&self) -> TraceContext {
        TraceContext {
            span_id: SpanId::random(),
            ..self.run.instance.clone()
        }
    }

    /// History time, within the run.
    fn at(&self, entry: &HistoryEntry) -> u64 {
        entry.at_ms.saturating_mul(1_000_000).clamp(
            self.run.started_ns,
            self.run.ended_ns.max(self.run.started_ns),
        )
    }

    fn apply(&mut self, entry: &HistoryEntry) {
        let at = self.at(entry);
        match &entry.kind {
            HistoryKind::StateEntered { state } => self.enter(state, None, at),
            HistoryKind::TaskStarted { task, reference } => {
                self.enter(reference, Some(task.as_str()), at);
            }
            HistoryKind::StateLeft { state } => self.leave(state, None, at),
            HistoryKind::TaskCompleted { task, reference } => {
                self.leave(reference, Some(task.as_str()), at);
            }
            HistoryKind::ActionFinished {
                state,
                function,
                attempt,
                ..
            }
            | HistoryKind::ActionFailed {
                state,
                function,
                attempt,
                ..
            } => {
                let found = self.calls.iter_mut().find(|call| {
                    call.is_some_and(|c| {
                        c.state == *state && c.function == *function && c.attempt == *attempt
                    })
                });
                if let Some(call) = found.and_then(Option::take) {
                    self.call(call);
                }
            }
            HistoryKind::EventConsumed { state, event } => {
                self.event(
                    state,
                    "event consumed",
                    at,
                    vec![("swirl.event.name", event)],
                );
            }
            HistoryKind::TimerFired { state, .. } => self.event(state, "timer fired", at, vec![]),
            HistoryKind::ChildStarted { state, child } => {
                self.event(state, "child started", at, vec![("swirl.child.id", child)]);
            }
            HistoryKind::EventProduced { event_type } => {
                self.run_span.events.push(Event {
                    name: "event produced",
                    at_ns: at,
                    attributes: vec![("swirl.event.type".into(), event_type.as_str().into())],
                });
            }
            _ => {}
        }
    }

    /// The innermost open span of `state`.
    fn find(&self, state: &str) -> Option<usize> {
        self.open.iter().rposition(|open| open.state == state)
    }

    /// The open span of `state`; a state the run found entered already
    /// (it waited) gets one from the run's start.
    fn open_span(&mut self, state: &str, task: Option<&str>) -> usize {
        if let Some(index) = self.find(state) {
            return index;
        }
        // A 1.0 task's state is its JSON pointer, which ends with its name.
        let named = state
            .starts_with('/')
            .then(|| state.rsplit('/').next().unwrap_or(state));
        self.enter(state, task.or(named), self.run.started_ns);
        let last = self.open.len() - 1;
        self.open[last].span.set("swirl.state.resumed", true);
        last
    }

    /// Opens the span of state `state` (a 1.0 task when `task` names it).
    fn enter(&mut self, state: &str, task: Option<&str>, at: u64) {
        // A 1.0 task is a child of the task whose pointer its own extends.
        let parent = self
            .open
            .iter()
            .rev()
            .find(|open| {
                task.is_some()
                    && open.is_task
                    && state.len() > open.state.len()
                    && state.starts_with(&open.state)
                    && state.as_bytes()[open.state.len()] == b'/'
            })
            .map_or(self.run_span.context.span_id, |open| {
                open.span.context.span_id
            });
        let name = match task {
            Some(task) => format!("task {task}"),
            None => format!("state {state}"),
        };
        let mut span = Span::new(name, self.context(), Some(parent), SpanKind::Internal, at);
        match task {
            Some(task) => {
                span.set("swirl.task.name", task);
                span.set("swirl.task.reference", state);
            }
            None => {
                span.set("swirl.state.name", state);
            }
        }
        self.open.push(Open {
            span,
            state: state.to_string(),
            is_task: task.is_some(),
        });
    }

    /// Closes the span of `state`.
    fn leave(&mut self, state: &str, task: Option<&str>, at: u64) {
        let index = self.open_span(state, task);
        let mut open = self.open.remove(index);
        open.span.end_ns = open.span.end_ns.max(at);
        self.close(open.span);
    }

    /// Closes `span`, widening its parent to hold it.
    fn close(&mut self, span: Span) {
        let parent = span.parent;
        if let Some(open) = self
            .open
            .iter_mut()
            .find(|open| Some(open.span.context.span_id) == parent)
        {
            open.span.start_ns = open.span.start_ns.min(span.start_ns);
            open.span.end_ns = open.span.end_ns.max(span.end_ns);
        }
        self.done.push(span);
    }

    fn call(&mut self, call: &CallTrace) {
        let index = self.open_span(&call.state, None);
        let parent = self.open[index].span.context.span_id;
        let kind = if call.function.starts_with(PROTOCOL_PREFIX) {
            SpanKind::Client
        } else {
            SpanKind::Internal
        };
        let mut span = Span::new(
            format!("call {}", call.function),
            self.context(),
            Some(parent),
            kind,
            call.started_ns,
        );
        span.end_ns = call.ended_ns;
        span.set("swirl.function.name", call.function.as_str());
        if let Some(version) = &call.version {
            span.set("swirl.function.version", version.as_str());
        }
        span.set("swirl.call.attempt", call.attempt);
        span.set("swirl.state.name", call.state.as_str());
        match &call.error {
            None => {
                span.set("swirl.call.outcome", "ok");
            }
            Some((name, message)) => {
                span.set("swirl.call.outcome", name.as_str());
                span.status = Status::Error(message.clone());
            }
        }
        self.close(span);
    }

    /// A point event of `state`'s span.
    fn event(
        &mut self,
        state: &str,
        name: &'static str,
        at: u64,
        attributes: Vec<(&'static str, &String)>,
    ) {
        let event = Event {
            name,
            at_ns: at,
            attributes: attributes
                .into_iter()
                .map(|(key, value)| (key.into(), value.as_str().into()))
                .collect(),
        };
        let index = self.open_span(state, None);
        self.open[index].span.events.push(event);
    }

    /// Calls without their history entry (a call a cancel cut off) are
    /// added; states still open end with the run.
    fn finish(mut self) {
        for call in std::mem::take(&mut self.calls).into_iter().flatten() {
            self.call(call);
        }
        while let Some(mut open) = self.open.pop() {
            open.span.end_ns = open.span.end_ns.max(self.run.ended_ns);
            open.span.set("swirl.state.waiting", true);
            self.close(open.span);
        }
        self.done.push(self.run_span);
    }
}

fn run_span(run: &RunTrace) -> Span {
    let context = TraceContext {
        span_id: run.span_id,
        ..run.instance.clone()
    };
    let mut span = Span::new(
        format!("run {}", run.workflow_id),
        context,
        Some(run.instance.span_id),
        SpanKind::Internal,
        run.started_ns,
    );
    span.end_ns = run.ended_ns;
    span.set("swirl.instance.id", run.instance_id.as_str());
    span.set("swirl.workflow.id", run.workflow_id.as_str());
    span.set("swirl.run.trigger", run.trigger.name());
    span.set("swirl.instance.status", run.status.as_str());
    if let Trigger::Event { link: Some(link) } = &run.trigger {
        span.links.push(link.clone());
    }
    if run.status == InstanceStatus::Failed {
        span.status = Status::Error(error_text(run));
    }
    span
}

fn instance_span(run: &RunTrace) -> Span {
    let mut span = Span::new(
        format!("instance {}", run.workflow_id),
        run.instance.clone(),
        run.instance_parent,
        SpanKind::Internal,
        run.created_ms.saturating_mul(1_000_000).min(run.started_ns),
    );
    span.end_ns = run.ended_ns;
    span.set("swirl.instance.id", run.instance_id.as_str());
    span.set("swirl.workflow.id", run.workflow_id.as_str());
    span.set("swirl.instance.status", run.status.as_str());
    span.status = match run.status {
        InstanceStatus::Failed => Status::Error(error_text(run)),
        _ => Status::Ok,
    };
    span
}

fn error_text(run: &RunTrace) -> String {
    run.error.as_ref().map_or_else(String::new, |error| {
        format!("{}: {}", error.name, error.message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Value;
    use swirl_engine::record::WorkflowError;

    const MS: u64 = 1_000_000;

    fn entry(at_ms: u64, kind: HistoryKind) -> HistoryEntry {
        HistoryEntry { at_ms, kind }
    }

    fn run(history: Vec<HistoryEntry>, calls: Vec<CallTrace>, status: InstanceStatus) -> RunTrace {
        RunTrace {
            instance_id: "i1".into(),
            workflow_id: "orders".into(),
            instance: TraceContext::root(),
            instance_parent: Some(SpanId([7; 8])),
            created_ms: 900,
            span_id: SpanId::random(),
            trigger: Trigger::Start,
            started_ns: 1000 * MS,
            ended_ns: 1010 * MS,
            status,
            error: None,
            history,
            calls,
        }
    }

    fn call(state: &str, function: &str, from_ns: u64, to_ns: u64) -> CallTrace {
        CallTrace {
            state: state.into(),
            function: function.into(),
            version: Some("3".into()),
            attempt: 1,
            started_ns: from_ns,
            ended_ns: to_ns,
            error: None,
        }
    }

    fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
        spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
    }

    fn action_finished(state: &str, function: &str) -> HistoryKind {
        HistoryKind::ActionFinished {
            state: state.into(),
            function: function.into(),
            attempt: 1,
            duration_ms: 0,
        }
    }

    #[test]
    fn calls_nest_in_their_state_and_states_in_the_run() {
        let run = run(
            vec![
                entry(1000, HistoryKind::InstanceStarted),
                entry(
                    1000,
                    HistoryKind::StateEntered {
                        state: "Check".into(),
                    },
                ),
                entry(1002, action_finished("Check", "probe")),
                // History is in milliseconds: the call ended after 1002.
                entry(
                    1002,
                    HistoryKind::StateLeft {
                        state: "Check".into(),
                    },
                ),
                entry(
                    1002,
                    HistoryKind::StateEntered {
                        state: "Wait".into(),
                    },
                ),
            ],
            vec![call("Check", "probe", 1001 * MS + 5, 1002 * MS + 700)],
            InstanceStatus::Waiting,
        );
        let spans = spans(&run);
        assert_eq!(spans.len(), 4, "{spans:#?}");
        let run_span = named(&spans, "run orders");
        let check = named(&spans, "state Check");
        let probe = named(&spans, "call probe");
        let wait = named(&spans, "state Wait");
        assert_eq!(run_span.context.span_id, run.span_id);
        assert_eq!(run_span.parent, Some(run.instance.span_id));
        assert_eq!(check.parent, Some(run.span_id));
        assert_eq!(probe.parent, Some(check.context.span_id));
        assert_eq!(wait.parent, Some(run.span_id));
        assert!(
            spans
                .iter()
                .all(|s| s.context.trace_id == run.instance.trace_id)
        );
        assert_eq!(
            (probe.start_ns, probe.end_ns),
            (1001 * MS + 5, 1002 * MS + 700)
        );
        assert_eq!(check.end_ns, 1002 * MS + 700, "widened to hold its call");
        assert_eq!(probe.get("swirl.function.version"), Some(&Value::from("3")));
        assert_eq!(probe.get("swirl.call.outcome"), Some(&Value::from("ok")));
        assert_eq!(wait.get("swirl.state.waiting"), Some(&Value::Bool(true)));
        assert_eq!(wait.end_ns, run.ended_ns);
    }

    #[test]
    fn tasks_nest_by_pointer_and_an_ended_instance_gets_its_span() {
        let outer = "/do/0/outer";
        let inner = "/do/0/outer/do/0/inner";
        let mut run = run(
            vec![
                entry(
                    1000,
                    HistoryKind::TaskStarted {
                        task: "outer".into(),
                        reference: outer.into(),
                    },
                ),
                entry(
                    1001,
                    HistoryKind::TaskStarted {
                        task: "inner".into(),
                        reference: inner.into(),
                    },
                ),
                entry(
                    1003,
                    HistoryKind::ActionFailed {
                        state: inner.into(),
                        function: "swirl:http".into(),
                        attempt: 1,
                        duration_ms: 1,
                        error: WorkflowError::new("communication", "503"),
                    },
                ),
                entry(
                    1004,
                    HistoryKind::InstanceFailed {
                        error: WorkflowError::new("communication", "503"),
                    },
                ),
            ],
            vec![CallTrace {
                error: Some(("communication".into(), "the server answered 503".into())),
                ..call(inner, "swirl:http", 1002 * MS, 1003 * MS)
            }],
            InstanceStatus::Failed,
        );
        run.error = Some(WorkflowError::new("communication", "503"));
        let spans = spans(&run);
        let outer_span = named(&spans, "task outer");
        let inner_span = named(&spans, "task inner");
        let http = named(&spans, "call swirl:http");
        let instance = named(&spans, "instance orders");
        assert_eq!(outer_span.parent, Some(run.span_id));
        assert_eq!(inner_span.parent, Some(outer_span.context.span_id));
        assert_eq!(http.parent, Some(inner_span.context.span_id));
        assert_eq!(http.kind, SpanKind::Client);
        assert_eq!(http.status, Status::Error("the server answered 503".into()));
        assert_eq!(instance.context, run.instance);
        assert_eq!(instance.parent, Some(SpanId([7; 8])));
        assert_eq!(instance.start_ns, 900 * MS);
        assert_eq!(instance.status, Status::Error("communication: 503".into()));
        assert!(matches!(
            named(&spans, "run orders").status,
            Status::Error(_)
        ));
    }

    #[test]
    fn a_run_woken_by_an_event_links_to_it_and_resumes_its_state() {
        let event = TraceContext::root();
        let mut run = run(
            vec![
                entry(
                    1001,
                    HistoryKind::EventConsumed {
                        state: "Wait".into(),
                        event: "Paid".into(),
                    },
                ),
                entry(
                    1001,
                    HistoryKind::StateLeft {
                        state: "Wait".into(),
                    },
                ),
                entry(1001, HistoryKind::InstanceCompleted),
            ],
            vec![],
            InstanceStatus::Completed,
        );
        run.trigger = Trigger::Event {
            link: Some(event.clone()),
        };
        let spans = spans(&run);
        let run_span = named(&spans, "run orders");
        assert_eq!(run_span.links, vec![event]);
        assert_eq!(
            run_span.get("swirl.run.trigger"),
            Some(&Value::from("event"))
        );
        let wait = named(&spans, "state Wait");
        assert_eq!(wait.start_ns, run.started_ns);
        assert_eq!(wait.get("swirl.state.resumed"), Some(&Value::Bool(true)));
        assert_eq!(wait.events[0].name, "event consumed");
        assert_eq!(named(&spans, "instance orders").status, Status::Ok);
    }

    #[test]
    fn an_unsampled_trace_makes_no_spans() {
        let mut run = run(vec![], vec![], InstanceStatus::Completed);
        run.instance.flags = 0;
        assert!(spans(&run).is_empty());
    }
}
