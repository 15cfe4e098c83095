//! Runs: what an instance does from one input (its start, an event, a timer,
//! a child's end, a control request, or the rest of an interrupted run) until
//! it must wait or ends.
//!
//! A run executes on one thread of the run pool ([`super::pool`]): it loads
//! the record, applies its input, makes the calls the record then holds
//! inline, one after the other, applying each result, and writes everything
//! (record, history, kv writes, produced and emitted events, subscription
//! changes) in one commit. The flushing thread ([`super::durability`])
//! makes it durable together with the other runs' commits; only then does
//! anything leave the instance (the answer, produced events, children,
//! timers). A crash before then re-runs it from the last commit: calls may
//! run again, their kv writes and events take effect once.
//!
//! A run writes before its end (a *segment*) only when it must:
//! - its caller is to be answered before the calls (a start without
//!   `wait`, an event: their receipt is what they wait for), or a `wait`
//!   answer's deadline passed between two calls;
//! - the next call is of a function whose kv writes this run holds, so that
//!   it reads them;
//! - it made [`MAX_SEGMENT_CALLS`] calls; after [`MAX_RUN_CALLS`] it ends
//!   and queues its rest behind the other instances' runs.
//!
//! A control request (cancel, suspend, resume) for an instance whose run is
//! making calls interrupts it: the run stops when its call returns, drops
//! that call's result, commits, and goes on after the request.
//!
//! Request tasks (1.0's HTTP calls) are not made by the run: they wait on
//! servers outside, and a run thread waiting on one would hold up every
//! other instance. Once a commit whose record holds them is durable, each
//! is sent on the blocking pool ([`Engine::send_requests`], once per
//! process); its response is the input of a run of its own. A crash before
//! the response is applied sends it again after recovery, like a call.

use std::time::Instant;

use super::pool::Admission;
use super::record::InstanceTrace;
use super::tracer::{self, Trigger};
use super::*;
use swirl_ports::invoke::{KvWrites, RequestError};
use swirl_workflow::model::PROTOCOL_PREFIX;

/// Calls one commit holds at most.
pub const MAX_SEGMENT_CALLS: usize = 256;
/// Calls one run makes before it yields its thread to other instances.
pub const MAX_RUN_CALLS: usize = 1024;

/// What starts a run.
pub(crate) enum Begin {
    Start {
        workflow: Arc<Workflow>,
        input: Value,
        parent: Option<ParentLink>,
        /// Boxed: an event is much larger than the other beginnings.
        first_event: Option<Box<IncomingEvent>>,
        /// The span it starts from, when traces are on.
        trace: Option<TraceContext>,
        /// The buffered events it consumes (a start on `all` of several
        /// events), taken out of the buffer in its first commit: if one is
        /// gone, the instance does not start.
        take: Vec<Vec<u8>>,
        /// Those events' `(source, id)` keys, each with the instances
        /// waiting for it: marked seen (unfinished) in that commit, so that
        /// a resend of one not yet acknowledged finishes its delivery
        /// instead of keeping it again.
        marks: Vec<(String, Arc<[String]>)>,
    },
    Apply {
        input: Input,
        /// The buffered event the input comes from, taken out of the buffer
        /// in the run's first commit.
        take: Option<Vec<u8>>,
    },
    Control {
        action: &'static str,
        change: Box<Control>,
    },
    /// The calls a committed record holds (after a crash, or a long run).
    Continue,
}

pub(crate) type Control =
    dyn FnOnce(&InstanceRecord, &mut Step<'_>) -> Result<(), &'static str> + Send;

/// What the caller of a run learns.
pub(crate) struct Outcome {
    /// The record as committed (durable), or as found when the run changed
    /// nothing; `None` when the instance does not exist.
    pub record: Option<InstanceRecord>,
    /// Whether the run committed anything.
    pub changed: bool,
}

type Reply = oneshot::Sender<Result<Outcome, EngineError>>;

/// Who waits for the run, and from when on it gets its answer before the
/// run's end.
struct Ack {
    reply: Reply,
    /// Past this, the answer is sent with the next commit instead of the
    /// run's last one.
    by: Instant,
}

/// What a run has done since its last write.
#[derive(Default)]
struct Segment {
    history: Vec<HistoryEntry>,
    children: Vec<ChildStart>,
    orphans: Vec<String>,
    produced: Vec<OutboxEvent>,
    subscriptions: SubscriptionChanges,
    kv: Vec<(String, KvWrites)>,
    consumes: Consumes,
    calls: usize,
}

impl Segment {
    /// Takes what `step` collected, and the events it produced.
    fn add(&mut self, step: Step<'_>, now: u64) {
        self.produced.extend(
            step.produced
                .into_iter()
                .map(|event| OutboxEvent::produced(event, now)),
        );
        self.subscriptions.then(step.subscriptions);
        self.history.extend(step.history);
        self.children.extend(step.children);
        self.orphans.extend(step.orphans);
    }

    fn holds_kv_of(&self, function: &str) -> bool {
        self.kv.iter().any(|(f, _)| f == function)
    }
}

/// What follows a durable commit.
struct Effects {
    record: InstanceRecord,
    children: Vec<ChildStart>,
    orphans: Vec<String>,
    subscribed: bool,
    produced: Vec<OutboxEvent>,
    /// The run goes on after this commit: it makes the calls itself.
    continuing: bool,
}

impl Engine {
    /// Queues a run of instance `id` and returns its outcome once its answer
    /// is durable (see [`Ack`]): at its end, or with its first commit past
    /// `answer_by`.
    pub(crate) async fn execute(
        &self,
        id: &str,
        begin: Begin,
        admission: Admission,
        answer_by: Instant,
    ) -> Result<Outcome, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.submit(
            id,
            begin,
            admission,
            Some(Ack {
                reply,
                by: answer_by,
            }),
        )?;
        answer.await.map_err(|_| EngineError::Corrupt {
            id: id.to_string(),
            reason: "the run ended without an answer".into(),
        })?
    }

    fn submit(
        &self,
        id: &str,
        begin: Begin,
        admission: Admission,
        ack: Option<Ack>,
    ) -> Result<(), EngineError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| EngineError::Corrupt {
            id: id.to_string(),
            reason: "runs need a tokio runtime for their timers".into(),
        })?;
        let engine = self.clone();
        let instance = id.to_string();
        // A control request interrupts the instance's run (see `run`).
        let urgent = matches!(begin, Begin::Control { .. });
        let response_to = match &begin {
            Begin::Apply {
                input: Input::Response { task, .. },
                ..
            } => Some(*task),
            _ => None,
        };
        self.inner
            .pool
            .submit(id, admission, urgent, move || {
                // What a run queues (another run, a timer) goes to the
                // runtime of whoever queued the run.
                let _entered = runtime.enter();
                let mut ack = ack;
                let result = engine.run(&instance, begin, &mut ack, &runtime);
                // A response that no commit took is lost: the next run
                // sends its request again.
                if let (Err(_), Some(task)) = (&result, response_to) {
                    engine.request_ended(&instance, task);
                }
                match (result, ack) {
                    (Err(error), Some(ack)) => {
                        let _ = ack.reply.send(Err(error));
                    }
                    // Answered already, or nobody asked: what the run
                    // committed stays, the rest runs again after a restart.
                    (Err(error), None) => {
                        tracing::error!(instance = %instance, %error, "a run stopped short");
                    }
                    // Every run answers; this is for one that forgot.
                    (Ok(()), Some(ack)) => {
                        let _ = ack.reply.send(Ok(Outcome {
                            record: None,
                            changed: false,
                        }));
                    }
                    (Ok(()), None) => {}
                }
            })
            .map_err(EngineError::Busy)
    }

    /// Queues a run nobody waits for; a failure is logged.
    pub(crate) fn spawn_run(&self, id: &str, begin: Begin, what: &'static str) {
        if let Err(error) = self.submit(id, begin, Admission::Internal, None) {
            tracing::error!(instance = %id, %error, "cannot {what}");
        }
    }

    /// Executes one run on the calling thread (a run pool thread, the
    /// instance's only one now).
    fn run(
        &self,
        id: &str,
        begin: Begin,
        ack: &mut Option<Ack>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), EngineError> {
        let mut response_span = None;
        let now = self.now_ms();
        let trigger = self.tracer().map(|_| Trigger::of(&begin));
        let started_ns = trigger.as_ref().map_or(0, |_| tracer::now_ns());
        let mut segment = Segment::default();
        let (mut before, mut record, workflow) = match begin {
            Begin::Start {
                workflow,
                input,
                parent,
                first_event,
                trace,
                take,
                marks,
            } => {
                if let Some(existing) = self.load(id)? {
                    return answer(ack, existing, false);
                }
                let mut record = self.new_record(id, &workflow, input, parent, now);
                record.trace = self.trace_instance(trace.as_ref());
                let mut step = Step::new(&workflow, &mut record, now);
                step.start();
                // A 1.0 instance started by `schedule.on` has the event as
                // its input; its listen tasks wait for events to come.
                if let Some(event) = first_event
                    .as_ref()
                    .filter(|_| workflow.start_state().task.is_none())
                {
                    let matching = step
                        .record()
                        .subscriptions
                        .iter()
                        .find(|s| {
                            s.event_type == event.event_type
                                && (s.source == event.source || s.source.is_empty())
                        })
                        .map(|s| (s.thread, s.event.clone()));
                    if let Some((thread, name)) = matching {
                        let correlation = correlation_of(&workflow, &name, event);
                        step.event(thread, &name, event, &correlation);
                    }
                }
                segment.add(step, now);
                // A start by event marks the event seen (unfinished) like a
                // wake: the delivery's waiting instances were served before
                // its starts, so the mark, when this is its first, names none.
                segment.consumes.events = first_event
                    .map(|event| (event.key(), Arc::from([])))
                    .into_iter()
                    .chain(marks)
                    .collect();
                segment.consumes.buffered = take;
                (None, record, workflow)
            }
            begin => {
                let Some(found) = self.load(id)? else {
                    return answer_none(ack);
                };
                // A control request says itself what it needs.
                if found.status.is_final() && !matches!(begin, Begin::Control { .. }) {
                    return answer(ack, found, false);
                }
                let workflow = self.workflow_version(&found.definition_version)?;
                let mut record = found.clone();
                let mut step = Step::new(&workflow, &mut record, now);
                match begin {
                    Begin::Apply { input, take } => {
                        // A suspended instance's timers stay in the record;
                        // resume schedules them again and overdue ones fire
                        // at once.
                        // A response while suspended is dropped: resume
                        // sends the request again.
                        if found.status == Status::Suspended
                            && matches!(input, Input::Timer(_) | Input::Response { .. })
                        {
                            if let Input::Response { task, .. } = input {
                                self.request_ended(id, task);
                            }
                            return answer(ack, found, false);
                        }
                        segment.consumes = Consumes {
                            buffered: take.into_iter().collect(),
                            events: match &input {
                                Input::Event {
                                    incoming, targets, ..
                                } => vec![(incoming.key(), targets.clone())],
                                _ => Vec::new(),
                            },
                        };
                        match input {
                            Input::Timer(timer) => step.timer_fired(timer),
                            Input::Event {
                                thread,
                                event,
                                incoming,
                                correlation,
                                targets: _,
                                link: _,
                            } => step.event(thread, &event, &incoming, &correlation),
                            Input::Child { thread, result } => step.child_done(thread, result),
                            Input::Response {
                                task,
                                result,
                                duration_ms,
                                started_ns,
                            } => {
                                // Gone when the instance moved on (a cancel,
                                // a timeout): the response is for nobody.
                                if let Some(sent) = step.record().tasks.get(&task).cloned() {
                                    response_span = Some((sent, started_ns, result.clone()));
                                    step.task_done(task, result, duration_ms);
                                }
                            }
                        }
                    }
                    Begin::Control { action, change } => {
                        change(&found, &mut step).map_err(|needs| EngineError::WrongStatus {
                            id: id.to_string(),
                            status: found.status.as_str(),
                            action,
                            needs,
                        })?;
                    }
                    Begin::Continue | Begin::Start { .. } => {}
                }
                segment.add(step, now);
                (Some(found), record, workflow)
            }
        };
        let mut trace = self.trace_run(trigger, started_ns, &mut record);
        if let (Some(trace), Some((task, sent_ns, result))) = (&mut trace, &response_span) {
            trace.call(&record, task, *sent_ns, result);
        }

        let mut calls = 0;
        let mut interrupted = false;
        loop {
            if record.status.is_final() || record.status == Status::Suspended {
                break;
            }
            if self.inner.pool.interrupted(id) {
                interrupted = true;
                break;
            }
            let Some((&task_id, task)) = record.tasks.iter().find(|(_, task)| !is_request(task))
            else {
                break;
            };
            let task = task.clone();
            let answer_now = ack.as_ref().is_some_and(|ack| Instant::now() >= ack.by);
            if answer_now
                || segment.holds_kv_of(&task.function)
                || segment.calls >= MAX_SEGMENT_CALLS
            {
                let reply = answer_now.then_some(&mut *ack);
                if let Some(trace) = &mut trace {
                    trace.commit(&segment.history, &mut segment.produced);
                }
                if !self.write(&mut before, &mut record, &mut segment, true, reply, runtime)? {
                    return answer_untaken(ack, before);
                }
                if answer_now {
                    self.failpoint_after_answer("run-after-receipt");
                }
            }
            if calls > 0 {
                self.failpoint_after_answer("run-between-calls");
            }
            if calls == MAX_RUN_CALLS {
                break;
            }
            calls += 1;
            segment.calls += 1;
            let now = self.now_ms();
            let call_ns = trace.as_ref().map_or(0, |_| tracer::now_ns());
            let (result, duration_ms, kv, emitted) = self.call(&record, &task);
            if let Some(trace) = &mut trace {
                trace.call(&record, &task, call_ns, &result);
            }
            if self.inner.pool.interrupted(id) {
                // A control request (a cancel, a suspend) came during the
                // call: it goes first, and the call's result is dropped as
                // if it had ended after it.
                interrupted = true;
                break;
            }
            let mut step = Step::new(&workflow, &mut record, now);
            step.task_done(task_id, result, duration_ms);
            segment.add(step, now);
            if !kv.is_empty() {
                segment.kv.push((task.function.clone(), kv));
            }
            segment.produced.extend(emitted);
        }
        // After the control request that interrupted it (queued before,
        // so it goes first), the run goes on from what it commits now.
        if interrupted {
            self.spawn_run(id, Begin::Continue, "go on with a run");
        }
        if before.as_ref() == Some(&record) && segment.history.is_empty() {
            let unchanged = before.unwrap_or(record);
            // Committed as it is (a run after a restart finds its requests).
            self.send_requests(&unchanged);
            return answer(ack, unchanged, false);
        }
        if let Some(trace) = &mut trace {
            trace.commit(&segment.history, &mut segment.produced);
        }
        if !self.write(
            &mut before,
            &mut record,
            &mut segment,
            interrupted,
            Some(&mut *ack),
            runtime,
        )? {
            return answer_untaken(ack, before);
        }
        if let Some(trace) = trace {
            trace.finish(&record);
        }
        Ok(())
    }

    /// Crashes at `point`, when it is armed, once what the run committed
    /// so far is durable and its answer has had time to reach its caller.
    fn failpoint_after_answer(&self, point: &str) {
        if !swirl_core::failpoint::armed(point) {
            return;
        }
        let (flushed, wait) = std::sync::mpsc::channel();
        self.inner.durability.after_flush(
            &self.inner.store,
            Box::new(move |_| {
                let _ = flushed.send(());
            }),
        );
        let _ = wait.recv();
        std::thread::sleep(std::time::Duration::from_millis(300));
        swirl_core::failpoint::hit(point);
    }

    fn new_record(
        &self,
        id: &str,
        workflow: &Workflow,
        input: Value,
        parent: Option<ParentLink>,
        now: u64,
    ) -> InstanceRecord {
        InstanceRecord {
            id: id.to_string(),
            workflow_id: workflow.id().to_string(),
            definition_version: workflow.version.clone(),
            status: Status::Running,
            suspended_from: None,
            input,
            output: None,
            error: None,
            created_ms: now,
            updated_ms: now,
            parent,
            correlation: BTreeMap::new(),
            threads: BTreeMap::new(),
            tasks: BTreeMap::new(),
            timers: BTreeMap::new(),
            subscriptions: Vec::new(),
            children: BTreeMap::new(),
            next_id: 0,
            consumed_events: Vec::new(),
            function_versions: self.pin_functions(workflow),
            context: Value::Null,
            trace: None,
        }
    }

    /// Calls the function of `task`, inline: its result as the interpreter
    /// takes it, how long it took, its kv writes and the events it emitted.
    /// The call gets the secrets whose stand-ins its input holds; what it
    /// answers comes back with them masked (see `secrets.rs`).
    fn call(
        &self,
        record: &InstanceRecord,
        task: &record::Task,
    ) -> (
        Result<Value, WorkflowError>,
        u64,
        KvWrites,
        Vec<OutboxEvent>,
    ) {
        let secrets = self.secrets();
        let input = secrets.reveal(&task.input);
        let (result, duration_ms, kv_writes, emitted) = self.call_with(record, task, &input);
        (conceal(&secrets, result), duration_ms, kv_writes, emitted)
    }

    /// Sends the requests of `record`'s tasks that this process has not
    /// sent yet, each on the blocking pool; each response is applied by a
    /// run of its own. Call only with a committed record: a request leaves
    /// the instance like its other effects.
    pub(crate) fn send_requests(&self, record: &InstanceRecord) {
        if record.status.is_final() || record.status == Status::Suspended {
            return;
        }
        for (&task_id, task) in &record.tasks {
            let Some(protocol) = task.function.strip_prefix(PROTOCOL_PREFIX) else {
                continue;
            };
            let mut sent = self
                .inner
                .requests
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !sent.entry(record.id.clone()).or_default().insert(task_id) {
                continue;
            }
            drop(sent);
            let engine = self.clone();
            let (id, workflow, protocol, input) = (
                record.id.clone(),
                record.workflow_id.clone(),
                protocol.to_string(),
                task.input.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let started_ns = tracer::now_ns();
                let started = Instant::now();
                let secrets = engine.secrets();
                let result = engine
                    .inner
                    .invoker
                    .request(&workflow, &protocol, &secrets.reveal(&input))
                    .map_err(call_error);
                let response = Input::Response {
                    task: task_id,
                    result: conceal(&secrets, result),
                    duration_ms: started.elapsed().as_millis() as u64,
                    started_ns,
                };
                let begin = Begin::Apply {
                    input: response,
                    take: None,
                };
                if let Err(error) = engine.submit(&id, begin, Admission::Internal, None) {
                    // Sent again by the instance's next run.
                    engine.request_ended(&id, task_id);
                    tracing::error!(instance = %id, %error, "cannot apply an HTTP response");
                }
            });
        }
    }

    /// Forgets the requests sent for tasks that committed `record` no
    /// longer holds: their responses were applied (or they were dropped).
    /// Only here, in commit order, and not when a response comes: the
    /// callback of an earlier commit, still holding the task, may run after
    /// the response's run began, and would send the request again.
    fn requests_answered(&self, record: &InstanceRecord) {
        let mut sent = self
            .inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(tasks) = sent.get_mut(&record.id) else {
            return;
        };
        tasks.retain(|task| record.tasks.contains_key(task));
        if tasks.is_empty() || record.status.is_final() {
            sent.remove(&record.id);
        }
    }

    /// Forgets that the request of task `task` of instance `id` is out, so
    /// that the instance's next commit sends it again.
    fn request_ended(&self, id: &str, task: TaskId) {
        let mut sent = self
            .inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(tasks) = sent.get_mut(id) {
            tasks.remove(&task);
            if tasks.is_empty() {
                sent.remove(id);
            }
        }
    }

    fn call_with(
        &self,
        record: &InstanceRecord,
        task: &record::Task,
        input: &Value,
    ) -> (
        Result<Value, WorkflowError>,
        u64,
        KvWrites,
        Vec<OutboxEvent>,
    ) {
        let call = Call {
            input: serde_json::to_vec(input).unwrap_or_default(),
            workflow_id: Some(record.workflow_id.clone()),
            instance_id: Some(record.id.clone()),
            state_name: Some(task.state.clone()),
            attempt: task.attempt,
            defer_kv_writes: true,
            timeout: task.timeout_ms.map(std::time::Duration::from_millis),
        };
        let version = record.function_versions.get(&task.function);
        let started = Instant::now();
        let invoked = self
            .inner
            .invoker
            .invoke(&task.function, version.map(String::as_str), call);
        let duration_ms = started.elapsed().as_millis() as u64;
        let mut invocation = match invoked {
            Ok(invocation) => invocation,
            Err(error) => {
                let error = WorkflowError::new(interpreter::FAIL, error.to_string());
                return (Err(error), duration_ms, Default::default(), Vec::new());
            }
        };
        if let Some(observer) = self.observer() {
            observer.action(ActionCall {
                function: &task.function,
                instance_id: &record.id,
                state: &task.state,
                invocation: &invocation,
            });
        }
        let now = self.now_ms();
        let emitted = std::mem::take(&mut invocation.emitted)
            .into_iter()
            .map(|event| OutboxEvent::emitted(&task.function, event, now))
            .collect();
        let result = invocation
            .outcome
            .map_err(|failure| WorkflowError {
                details: failure.details.map(Box::new),
                ..WorkflowError::new(failure.code, failure.message)
            })
            .and_then(|bytes| {
                serde_json::from_slice(&bytes).map_err(|error| {
                    WorkflowError::new(
                        interpreter::FAIL,
                        format!("the function's output is not JSON: {error}"),
                    )
                })
            });
        (result, duration_ms, invocation.kv_writes, emitted)
    }

    /// Writes what the run did since its last write in one commit and
    /// has the flushing thread apply its effects, and answer `reply`, once
    /// it is durable. `false` (nothing written) when the buffered event the
    /// run consumes was taken by another run first.
    fn write(
        &self,
        before: &mut Option<InstanceRecord>,
        record: &mut InstanceRecord,
        segment: &mut Segment,
        continuing: bool,
        reply: Option<&mut Option<Ack>>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<bool, EngineError> {
        let mut segment = std::mem::take(segment);
        let now = self.now_ms();
        record.updated_ms = now;
        let config = &self.inner.config;
        if config.lifecycle_events || config.status_changed_events {
            let workflow = self.workflow_version(&record.definition_version)?;
            let was = before.as_ref().map(|b| b.status);
            let events = lifecycle::events(config, &workflow, record, was, &segment.history, now);
            segment.produced.extend(events);
        }
        let outbox = segment
            .produced
            .iter()
            .map(|event| Ok((event.key(), encode(event)?)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        let keys = |subscriptions: &HashSet<Subscription>| {
            subscriptions
                .iter()
                .map(|s| record.subscription_key(s))
                .collect()
        };
        let (subscribe, unsubscribe) = (
            keys(&segment.subscriptions.added),
            keys(&segment.subscriptions.removed),
        );
        let history = segment
            .history
            .iter()
            .map(encode)
            .collect::<Result<Vec<_>, _>>()?;
        let written = self.inner.store.write_step(StepWrite {
            instance: &record.id,
            record: encode(&*record)?,
            history,
            unsubscribe,
            subscribe,
            kv: segment
                .kv
                .iter()
                .map(|(function, writes)| (function.as_str(), writes))
                .collect(),
            outbox,
            take_buffered: segment.consumes.buffered,
            consumed_events: segment
                .consumes
                .events
                .iter()
                .map(|(key, targets)| ConsumedEvent {
                    key: key.as_bytes(),
                    at_ms: now,
                    targets,
                })
                .collect(),
            finished_ms: record.status.is_final().then_some(now),
        })?;
        if !written {
            return Ok(false);
        }
        // Taken only now: a failed write leaves the answer to the caller.
        let reply = reply.and_then(Option::take);
        self.catalogue(before.as_ref().map(|b| b.status), record);
        let effects = Effects {
            record: record.clone(),
            children: segment.children,
            orphans: segment.orphans,
            subscribed: !segment.subscriptions.added.is_empty(),
            produced: segment.produced,
            continuing,
        };
        *before = Some(record.clone());
        let engine = self.clone();
        let runtime = runtime.clone();
        self.inner.durability.after_flush(
            &self.inner.store,
            Box::new(move |flushed| {
                let _entered = runtime.enter();
                let result = match flushed {
                    Ok(()) => {
                        if !continuing {
                            swirl_core::failpoint::hit("run-after-commit-before-answer");
                        }
                        let record = effects.record.clone();
                        engine.after_commit(effects);
                        Ok(Outcome {
                            record: Some(record),
                            changed: true,
                        })
                    }
                    Err(error) => Err(EngineError::NotDurable(error)),
                };
                if let Some(ack) = reply {
                    let _ = ack.reply.send(result);
                }
            }),
        );
        Ok(true)
    }

    /// Releases what a durable commit holds back: produced events, the
    /// cancels of children no longer waited for, the end of the instance,
    /// buffered events for new subscriptions, children, timers, and the
    /// rest of a run that yielded.
    fn after_commit(&self, effects: Effects) {
        let Effects {
            record,
            children,
            orphans,
            subscribed,
            produced,
            continuing,
        } = effects;
        self.dispatch(produced);
        self.cancel_orphans(orphans);
        self.requests_answered(&record);
        if record.status.is_final() {
            self.finished(&record);
            return;
        }
        if subscribed {
            self.deliver_buffered(&record);
        }
        for child in children {
            self.spawn_child(&record, child);
        }
        if record.status == Status::Suspended {
            return;
        }
        self.schedule_timers(&record);
        self.send_requests(&record);
        if !continuing && record.tasks.values().any(|task| !is_request(task)) {
            self.spawn_run(&record.id, Begin::Continue, "go on with a run");
        }
    }

    /// Schedules the record's timers this process does not wait for yet.
    pub(crate) fn schedule_timers(&self, record: &InstanceRecord) {
        for (timer_id, timer) in &record.timers {
            let key = (record.id.clone(), *timer_id);
            if !self
                .inner
                .scheduled_timers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone())
            {
                continue;
            }
            let engine = self.clone();
            let due_ms = timer.due_ms;
            let timer_id = *timer_id;
            let due = self.inner.clock.sleep_until(due_ms);
            tokio::spawn(async move {
                due.await;
                engine
                    .inner
                    .scheduled_timers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                let begin = Begin::Apply {
                    input: Input::Timer(timer_id),
                    take: None,
                };
                engine.spawn_run(&key.0, begin, "fire a timer");
            });
        }
    }

    pub(crate) fn spawn_child(&self, parent: &InstanceRecord, child: ChildStart) {
        let engine = self.clone();
        let link = ParentLink {
            instance_id: parent.id.clone(),
            thread: child.thread,
            waits: child.waits,
            depth: parent.parent.as_ref().map_or(0, |p| p.depth) + 1,
        };
        // A child instance's span is a child of its parent instance's.
        let trace = parent.trace.as_ref().and_then(InstanceTrace::context);
        tokio::spawn(async move {
            let started = engine
                .start_with(
                    &child.workflow_id,
                    child.input.clone(),
                    Some(child.child_id.clone()),
                    Some(link.clone()),
                    None,
                    trace,
                    Admission::Internal,
                    Instant::now(),
                )
                .await;
            if let Err(error) = started
                && link.waits
            {
                let error = WorkflowError::new(
                    interpreter::FAIL,
                    format!("cannot start subflow '{}': {error}", child.workflow_id),
                );
                let input = Input::Child {
                    thread: link.thread,
                    result: Err(error),
                };
                engine.spawn_run(
                    &link.instance_id,
                    Begin::Apply { input, take: None },
                    "end a subflow state",
                );
            }
        });
    }

    pub(crate) fn finished(&self, record: &InstanceRecord) {
        if let Some(notify) = self
            .inner
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&record.id)
        {
            notify.notify_waiters();
        }
        if let Some(parent) = record.parent.as_ref().filter(|p| p.waits) {
            let result = match record.status {
                Status::Completed => Ok(record.output.clone().unwrap_or(Value::Null)),
                _ => Err(record.error.clone().unwrap_or_else(|| {
                    WorkflowError::new(
                        interpreter::FAIL,
                        format!(
                            "subflow instance '{}' was {}",
                            record.id,
                            record.status.as_str()
                        ),
                    )
                })),
            };
            let input = Input::Child {
                thread: parent.thread,
                result,
            };
            self.spawn_run(
                &parent.instance_id,
                Begin::Apply { input, take: None },
                "end a subflow state",
            );
        }
    }
}

fn answer(ack: &mut Option<Ack>, record: InstanceRecord, changed: bool) -> Result<(), EngineError> {
    if let Some(ack) = ack.take() {
        let _ = ack.reply.send(Ok(Outcome {
            record: Some(record),
            changed,
        }));
    }
    Ok(())
}

/// The buffered event the run was to consume was taken by another run
/// first: nothing was written.
fn answer_untaken(
    ack: &mut Option<Ack>,
    before: Option<InstanceRecord>,
) -> Result<(), EngineError> {
    match before {
        Some(before) => answer(ack, before, false),
        None => answer_none(ack),
    }
}

fn answer_none(ack: &mut Option<Ack>) -> Result<(), EngineError> {
    if let Some(ack) = ack.take() {
        let _ = ack.reply.send(Ok(Outcome {
            record: None,
            changed: false,
        }));
    }
    Ok(())
}

/// A failed outbound call as the 1.0 error it is.
/// Whether `task` is a request (an HTTP call) rather than a function call.
fn is_request(task: &record::Task) -> bool {
    task.function.starts_with(PROTOCOL_PREFIX)
}

/// A call's result with every secret value in it masked again.
fn conceal(
    secrets: &secrets::Secrets,
    result: Result<Value, WorkflowError>,
) -> Result<Value, WorkflowError> {
    result
        .map(|output| secrets.conceal(&output))
        .map_err(|error| WorkflowError {
            message: secrets.conceal_text(&error.message),
            details: error.details.map(|d| Box::new(secrets.conceal(&d))),
            problem: error.problem.map(|p| Box::new(secrets.conceal(&p))),
            ..error
        })
}

fn call_error(error: RequestError) -> WorkflowError {
    let detail = error.to_string();
    match error {
        RequestError::Invalid(_) => interpreter::standard_error("validation", 400, detail),
        RequestError::Status { status, .. } => {
            interpreter::standard_error("communication", status, detail)
        }
        RequestError::Forbidden(_) => interpreter::standard_error("authorization", 403, detail),
        RequestError::Transport(_) => interpreter::standard_error("communication", 500, detail),
    }
}
