//! What a run reports for distributed traces. The engine notes what a run
//! did and when (its trigger, its history, its calls timed to the
//! nanosecond) and hands that to a [`Tracer`] at the run's end; the tracer
//! (`swirl-telemetry`, set by the server) makes the spans and exports them.
//! The engine does no export IO, and with no tracer set none of this runs.
//! Span times are the system clock's, in nanoseconds, not the engine's
//! [`Clock`](swirl_ports::clock::Clock) (milliseconds, manual in tests):
//! the span maker fits history times within the run's.
//!
//! An instance keeps its place in a trace on its record
//! ([`InstanceTrace`]), so every run of it, after a wait or a restart,
//! belongs to the same trace; a run woken by an event links to the event's
//! span. Events a run produces carry the run's span as their `traceparent`.

use super::record::InstanceTrace;
use super::run::Begin;
use super::*;
use swirl_core::trace_context::{SpanId, TraceContext};

/// Takes what runs did; set once with [`Engine::set_tracer`].
pub trait Tracer: Send + Sync {
    /// A run ended (its last commit is written). Called on the run's
    /// thread, so it must only queue what it got.
    fn run(&self, run: RunTrace);
}

/// What started a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// The instance's start.
    Start,
    /// An event, and the span it was sent or delivered in.
    Event {
        link: Option<TraceContext>,
    },
    Timer,
    /// A child instance ended.
    Child,
    /// The response to an HTTP request came.
    Response,
    /// Cancel, suspend or resume.
    Control(&'static str),
    /// The rest of a run that yielded, or one a stop interrupted.
    Continue,
}

impl Trigger {
    pub fn name(&self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Event { .. } => "event",
            Trigger::Timer => "timer",
            Trigger::Child => "child",
            Trigger::Response => "response",
            Trigger::Control(action) => action,
            Trigger::Continue => "continue",
        }
    }
}

/// One run, as spans are made of it.
#[derive(Debug, Clone)]
pub struct RunTrace {
    pub instance_id: String,
    pub workflow_id: String,
    /// The instance's span (its trace, id, flags and `tracestate`).
    pub instance: TraceContext,
    /// The span the instance was started from.
    pub instance_parent: Option<SpanId>,
    /// When the instance started: its span's start.
    pub created_ms: u64,
    /// The run's own span; events it produced name it as their parent.
    pub span_id: SpanId,
    pub trigger: Trigger,
    /// Unix nanoseconds.
    pub started_ns: u64,
    pub ended_ns: u64,
    /// The instance's status at the run's end, and its error when it failed.
    pub status: Status,
    pub error: Option<WorkflowError>,
    /// What the run committed, in order.
    pub history: Vec<HistoryEntry>,
    /// The calls it made, in order.
    pub calls: Vec<CallTrace>,
}

/// One call of a function (or of `call: http`) by a run.
#[derive(Debug, Clone, PartialEq)]
pub struct CallTrace {
    pub state: String,
    pub function: String,
    /// The version the instance pinned, when it did.
    pub version: Option<String>,
    pub attempt: u32,
    /// Unix nanoseconds.
    pub started_ns: u64,
    pub ended_ns: u64,
    /// The error's name and message when the call failed.
    pub error: Option<(String, String)>,
}

/// A run's trace while it runs.
pub(crate) struct RunTracing {
    tracer: Arc<dyn Tracer>,
    run: RunTrace,
    /// The run's span: what events the run produces carry.
    context: TraceContext,
}

/// Unix nanoseconds now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

impl Trigger {
    pub(crate) fn of(begin: &Begin) -> Self {
        match begin {
            Begin::Start { .. } => Trigger::Start,
            Begin::Apply { input, .. } => match input {
                Input::Event { link, .. } => Trigger::Event { link: link.clone() },
                Input::Timer(_) => Trigger::Timer,
                Input::Child { .. } => Trigger::Child,
                Input::Response { .. } => Trigger::Response,
            },
            Begin::Control { action, .. } => Trigger::Control(action),
            Begin::Continue => Trigger::Continue,
        }
    }
}

impl Engine {
    /// Sets who takes the runs' traces. Once: before any run (recovery
    /// among them), so that every instance gets its place in a trace.
    pub fn set_tracer(&self, tracer: Arc<dyn Tracer>) {
        let _ = self.inner.tracer.set(tracer);
    }

    pub(crate) fn tracer(&self) -> Option<&Arc<dyn Tracer>> {
        self.inner.tracer.get()
    }

    /// The link of a run woken by `event`, when traces are on.
    pub(crate) fn event_link(&self, event: &IncomingEvent) -> Option<TraceContext> {
        self.tracer()
            .and_then(|_| TraceContext::of_extensions(&event.extensions))
    }

    /// The place in a trace of an instance started from `parent`, when
    /// traces are on.
    pub(crate) fn trace_instance(&self, parent: Option<&TraceContext>) -> Option<InstanceTrace> {
        self.tracer().map(|_| InstanceTrace::start(parent))
    }

    /// Begins the trace of a run of `record` started by `trigger`, when
    /// traces are on; an instance from before they were on gets a trace
    /// of its own.
    pub(crate) fn trace_run(
        &self,
        trigger: Option<Trigger>,
        started_ns: u64,
        record: &mut InstanceRecord,
    ) -> Option<RunTracing> {
        let (tracer, trigger) = (self.tracer()?, trigger?);
        let trace = record
            .trace
            .get_or_insert_with(|| InstanceTrace::start(None));
        let instance = trace.context()?;
        let span_id = SpanId::random();
        let context = TraceContext {
            span_id,
            ..instance.clone()
        };
        Some(RunTracing {
            tracer: tracer.clone(),
            run: RunTrace {
                instance_id: record.id.clone(),
                workflow_id: record.workflow_id.clone(),
                instance_parent: trace.parent_span(),
                instance,
                created_ms: record.created_ms,
                span_id,
                trigger,
                started_ns,
                ended_ns: started_ns,
                status: record.status,
                error: None,
                history: Vec::new(),
                calls: Vec::new(),
            },
            context,
        })
    }
}

impl RunTracing {
    /// Notes a call of `task` that began at `started_ns` and just ended.
    pub(crate) fn call(
        &mut self,
        record: &InstanceRecord,
        task: &super::record::Task,
        started_ns: u64,
        result: &Result<Value, WorkflowError>,
    ) {
        self.run.calls.push(CallTrace {
            state: task.state.clone(),
            function: task.function.clone(),
            version: record.function_versions.get(&task.function).cloned(),
            attempt: task.attempt,
            started_ns,
            ended_ns: now_ns(),
            error: result
                .as_ref()
                .err()
                .map(|error| (error.name.clone(), error.message.clone())),
        });
    }

    /// Notes what a commit holds, and makes the events it produces carry
    /// the run's span (those that name no span of their own).
    pub(crate) fn commit(&mut self, history: &[HistoryEntry], produced: &mut [OutboxEvent]) {
        self.run.history.extend_from_slice(history);
        for event in produced {
            if !event.extensions.contains_key("traceparent") {
                self.context.set_extensions(&mut event.extensions);
            }
        }
    }

    /// The run ended with `record` written: hands its trace over.
    pub(crate) fn finish(mut self, record: &InstanceRecord) {
        self.run.ended_ns = now_ns();
        self.run.status = record.status;
        self.run.error = record.error.clone();
        self.tracer.run(self.run);
    }
}
