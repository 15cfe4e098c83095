//! The workflow engine: runs instances of registered workflow definitions
//! durably, calling functions of the function host as their actions.
//!
//! ```text
//!  input (start, task result, timer, event, child end, cancel)
//!    │  per-instance lock
//!    ▼
//!  load record ──▶ interpreter::Step (pure) ──▶ store.commit_step (one transaction, group commit)
//!                                                   │
//!                                                   ▼
//!              run what the record holds: tasks → function host (blocking pool),
//!              timers → tokio sleeps, children → start,
//!              produced events (written to the outbox by the commit) → deliver, observer
//! ```
//!
//! Because the committed record says what is in flight, recovery after a
//! crash is the same "run what the record holds" over every unfinished
//! instance: actions in flight run again (same attempt), timers fire at their
//! due time, waiting instances keep waiting.

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here, and
// each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod correlation;
pub mod data;
pub mod interpreter;
pub mod outbox;
pub mod record;
mod schedule;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, Notify, oneshot};

use interpreter::{ChildStart, Step, Workflow};
use outbox::{ActionCall, EngineObserver, OutboxEvent};
use record::{
    HistoryEntry, InstanceRecord, ParentLink, Status, Subscription, TaskId, ThreadId, TimerId,
    WorkflowError,
};
use swirl_core::time::now_ms;
use swirl_function::{Call, FunctionHost};
use swirl_store::events::ConsumedEvent;
use swirl_store::instances::{StepWrite, SubscriptionKey};
use swirl_store::{Store, StoreError};
use swirl_workflow::{self as workflow, Diagnostics, KnownFunctions};

/// Why the engine refused a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no workflow '{0}' is registered")]
    UnknownWorkflow(String),
    #[error("no instance '{0}'")]
    UnknownInstance(String),
    #[error("workflow input must be a JSON object, not {0}")]
    InputNotObject(&'static str),
    #[error("instance '{id}' is {status}; {action} needs {needs} instance")]
    WrongStatus {
        id: String,
        status: &'static str,
        action: &'static str,
        needs: &'static str,
    },
    #[error("{0}")]
    Definition(Diagnostics),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("instance record '{id}' cannot be read: {reason}")]
    Corrupt { id: String, reason: String },
}

/// A CloudEvent as the engine matches it against event definitions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IncomingEvent {
    /// The CloudEvents `id`; with `source`, what makes a redelivery a duplicate.
    pub id: String,
    pub event_type: String,
    pub source: String,
    pub data: Value,
    /// Extension attributes (correlation tokens among them), lower-case names.
    pub extensions: BTreeMap<String, String>,
}

impl IncomingEvent {
    /// What identifies the event across redeliveries.
    pub fn key(&self) -> String {
        format!("{}\u{0}{}", self.source, self.id)
    }
}

/// An event kept until an instance waits for it.
#[derive(serde::Serialize, serde::Deserialize)]
struct BufferedEvent {
    received_ms: u64,
    event: IncomingEvent,
}

/// What delivering one event did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Delivery {
    /// Instances the event started.
    pub started: Vec<String>,
    /// Waiting instances the event was delivered to.
    pub delivered: Vec<String>,
    /// The event was seen before within the dedup window and changed nothing.
    pub duplicate: bool,
    /// No instance waited for it yet; it is kept until one does.
    pub buffered: bool,
}

/// How long events are remembered and kept.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A redelivered `(source, id)` within this window is a duplicate.
    pub dedup_retention: std::time::Duration,
    /// An event no instance waits for is kept this long.
    pub buffer_retention: std::time::Duration,
    /// Produced events stay in the outbox until an observer is set, so that
    /// the observer (a server's sinks) also gets those recovered at startup.
    pub hold_outbox: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            dedup_retention: std::time::Duration::from_secs(24 * 60 * 60),
            buffer_retention: std::time::Duration::from_secs(60 * 60),
            hold_outbox: false,
        }
    }
}

/// Wait before draining again an outbox event that could not be routed or
/// handed on (the store refused a write).
pub const OUTBOX_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs workflow instances. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    host: Arc<FunctionHost>,
    config: EngineConfig,
    /// Registered definitions by id (the newest) and by version.
    workflows: RwLock<HashMap<String, Arc<Workflow>>>,
    versions: RwLock<HashMap<String, Arc<Workflow>>>,
    locks: StdMutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Tasks and timers this process runs now, so none runs twice.
    running_tasks: StdMutex<HashSet<(String, TaskId)>>,
    scheduled_timers: StdMutex<HashSet<(String, TimerId)>>,
    /// Woken when an instance reaches a final status.
    finished: StdMutex<HashMap<String, Arc<Notify>>>,
    /// Who hears about actions and takes produced events (the server).
    observer: RwLock<Option<Arc<dyn EngineObserver>>>,
    /// Outbox keys this process drains now, so none is drained twice at once.
    draining: StdMutex<HashSet<Vec<u8>>>,
    /// Instances by status: counted once, then kept by every commit.
    counts: StdMutex<Option<HashMap<Status, u64>>>,
    schedules: StdMutex<Schedules>,
}

/// The loops that start the instances of repeating schedules, one per
/// workflow id, following its current definition; none until
/// [`Engine::start_schedules`].
#[derive(Default)]
struct Schedules {
    /// Where the loops run, once started.
    runtime: Option<tokio::runtime::Handle>,
    /// Dropping a loop's sender stops it.
    loops: HashMap<String, oneshot::Sender<()>>,
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Engine {
    pub fn new(store: Store, host: Arc<FunctionHost>) -> Self {
        Self::with_config(store, host, EngineConfig::default())
    }

    pub fn with_config(store: Store, host: Arc<FunctionHost>, config: EngineConfig) -> Self {
        Engine {
            inner: Arc::new(Inner {
                store,
                host,
                config,
                workflows: RwLock::default(),
                versions: RwLock::default(),
                locks: StdMutex::default(),
                running_tasks: StdMutex::default(),
                scheduled_timers: StdMutex::default(),
                finished: StdMutex::default(),
                observer: RwLock::default(),
                draining: StdMutex::default(),
                counts: StdMutex::default(),
                schedules: StdMutex::default(),
            }),
        }
    }

    /// Parses, validates and registers a definition from its source text;
    /// it becomes the version new instances of its id start with.
    pub fn register(
        &self,
        source: &str,
        file_name: Option<&str>,
        known_functions: KnownFunctions<'_>,
    ) -> Result<Arc<Workflow>, EngineError> {
        let workflow = self.prepare(source, file_name, known_functions)?;
        write(&self.inner.workflows).insert(workflow.id().to_string(), workflow.clone());
        self.reschedule(workflow.id());
        Ok(workflow)
    }

    /// Parses, validates and stores a definition as a version, without
    /// making it the one new instances start with ([`Engine::activate`] does).
    pub fn prepare(
        &self,
        source: &str,
        file_name: Option<&str>,
        known_functions: KnownFunctions<'_>,
    ) -> Result<Arc<Workflow>, EngineError> {
        let loaded =
            workflow::parse(source, file_name, known_functions).map_err(EngineError::Definition)?;
        let version = hex(&Sha256::digest(source.as_bytes()))[..16].to_string();
        self.inner
            .store
            .put_definition(&version, &definition_blob(source, file_name))?;
        let workflow = Workflow::new(loaded.definition, version.clone())
            .ok_or_else(|| EngineError::Definition(Diagnostics::default()))?;
        let workflow = Arc::new(workflow);
        write(&self.inner.versions).insert(version, workflow.clone());
        Ok(workflow)
    }

    /// Makes a stored definition version the one new instances of its id
    /// start with (restoring a server's deployments after a restart).
    pub fn activate(&self, version: &str) -> Result<Arc<Workflow>, EngineError> {
        let workflow = self.workflow_version(version)?;
        write(&self.inner.workflows).insert(workflow.id().to_string(), workflow.clone());
        self.reschedule(workflow.id());
        Ok(workflow)
    }

    /// Stops starting instances of workflow `id`, by call or by event;
    /// running instances finish on their version. False when it is not registered.
    pub fn unregister(&self, id: &str) -> bool {
        let removed = write(&self.inner.workflows).remove(id).is_some();
        self.reschedule(id);
        removed
    }

    /// The definitions new instances start with, by id.
    pub fn workflows(&self) -> BTreeMap<String, Arc<Workflow>> {
        read(&self.inner.workflows)
            .iter()
            .map(|(id, workflow)| (id.clone(), workflow.clone()))
            .collect()
    }

    /// The current version of each function `workflow` calls; functions
    /// not deployed now are left out and fail when called, as before.
    fn pin_functions(&self, workflow: &Workflow) -> BTreeMap<String, String> {
        self.inner
            .host
            .current_versions(workflow.function_resources())
    }

    /// Ids of the registered workflows, sorted.
    pub fn workflow_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = read(&self.inner.workflows).keys().cloned().collect();
        ids.sort();
        ids
    }

    fn workflow(&self, id: &str) -> Result<Arc<Workflow>, EngineError> {
        read(&self.inner.workflows)
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::UnknownWorkflow(id.to_string()))
    }

    /// The definition an instance started with, loading it from the store
    /// after a restart.
    fn workflow_version(&self, version: &str) -> Result<Arc<Workflow>, EngineError> {
        if let Some(workflow) = read(&self.inner.versions).get(version) {
            return Ok(workflow.clone());
        }
        let blob = self
            .inner
            .store
            .definition(version)?
            .ok_or_else(|| EngineError::UnknownWorkflow(format!("version {version}")))?;
        let (file_name, source) = split_definition_blob(&blob);
        let loaded = workflow::parse(&source, file_name.as_deref(), KnownFunctions::Unchecked)
            .map_err(EngineError::Definition)?;
        let workflow = Arc::new(
            Workflow::new(loaded.definition, version.to_string())
                .ok_or_else(|| EngineError::Definition(Diagnostics::default()))?,
        );
        write(&self.inner.versions).insert(version.to_string(), workflow.clone());
        Ok(workflow)
    }

    /// Starts an instance of `workflow_id`. With `id`, a second start with
    /// the same id returns the existing instance.
    pub async fn start(
        &self,
        workflow_id: &str,
        input: Value,
        id: Option<String>,
    ) -> Result<InstanceRecord, EngineError> {
        self.start_with(workflow_id, input, id, None, None).await
    }

    async fn start_with(
        &self,
        workflow_id: &str,
        input: Value,
        id: Option<String>,
        parent: Option<ParentLink>,
        first_event: Option<&IncomingEvent>,
    ) -> Result<InstanceRecord, EngineError> {
        if !input.is_object() {
            return Err(EngineError::InputNotObject(kind_name(&input)));
        }
        let workflow = self.workflow(workflow_id)?;
        let id = id.unwrap_or_else(swirl_core::ids::new_id);
        let lock = self.lock(&id);
        let guard = lock.lock().await;
        if let Some(existing) = self.load(&id)? {
            return Ok(existing);
        }
        let now = now_ms();
        let mut record = InstanceRecord {
            id: id.clone(),
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
            outbox: Vec::new(),
            next_id: 0,
            consumed_events: Vec::new(),
            function_versions: self.pin_functions(&workflow),
        };
        let (history, children, orphans) = {
            let mut step = Step::new(&workflow, &mut record, now);
            step.start();
            if let Some(event) = first_event {
                let matching: Vec<(ThreadId, String)> = step
                    .record()
                    .subscriptions
                    .iter()
                    .filter(|s| s.event_type == event.event_type && s.source == event.source)
                    .map(|s| (s.thread, s.event.clone()))
                    .collect();
                if let Some((thread, name)) = matching.first() {
                    let correlation = correlation_of(&workflow, name, event);
                    step.event(
                        *thread,
                        name,
                        &event.key(),
                        event.data.clone(),
                        &correlation,
                    );
                }
            }
            (step.history, step.children, step.orphans)
        };
        // A start by event marks the event seen (unfinished) like a wake:
        // the delivery's waiting instances were served before its starts,
        // so the mark, when this is its first, names none.
        let consumes = Consumes {
            buffered: None,
            event: first_event.map(|event| (event.key(), Arc::from([]))),
        };
        let produced = self
            .commit(None, &mut record, history, None, Vec::new(), consumes)
            .await?
            .unwrap_or_default();
        drop(guard);
        let subscribed = !record.subscriptions.is_empty();
        self.after_commit(&record, children, orphans, subscribed, produced);
        Ok(record)
    }

    /// Applies `input` to instance `id` under its lock and runs what follows.
    async fn apply(&self, id: &str, input: Input) -> Result<Option<InstanceRecord>, EngineError> {
        Ok(self
            .apply_taking(id, input, None)
            .await?
            .map(|(record, _)| record))
    }

    /// [`Self::apply`], taking the buffered event `take` out of the buffer in
    /// the step's own commit; the flag says whether a step was committed
    /// (and so the event taken).
    async fn apply_taking(
        &self,
        id: &str,
        input: Input,
        take: Option<Vec<u8>>,
    ) -> Result<Option<(InstanceRecord, bool)>, EngineError> {
        let lock = self.lock(id);
        let guard = lock.lock().await;
        let Some(before) = self.load(id)? else {
            return Ok(None);
        };
        if before.status.is_final() {
            return Ok(Some((before, false)));
        }
        // A suspended instance's timers stay in the record; resume schedules
        // them again and overdue ones fire at once.
        if before.status == Status::Suspended && matches!(input, Input::Timer(_)) {
            return Ok(Some((before, false)));
        }
        let workflow = self.workflow_version(&before.definition_version)?;
        let mut record = before.clone();
        let now = now_ms();
        let consumes = Consumes {
            buffered: take,
            event: match &input {
                Input::Event { key, targets, .. } => Some((key.clone(), targets.clone())),
                _ => None,
            },
        };
        let mut kv = None;
        let mut emitted = Vec::new();
        let (history, children, orphans) = {
            let mut step = Step::new(&workflow, &mut record, now);
            match input {
                Input::Task {
                    task,
                    result,
                    duration_ms,
                    kv: writes,
                    emitted: events,
                } => {
                    // Writes and events of a task the record no longer holds
                    // (it ran again after a restart, or its state moved on)
                    // are dropped: a completed action's effects happen once.
                    if before.tasks.contains_key(&task) {
                        if !writes.1.is_empty() {
                            kv = Some(writes);
                        }
                        emitted = events;
                    }
                    step.task_done(task, result, duration_ms)
                }
                Input::Timer(timer) => step.timer_fired(timer),
                Input::Event {
                    thread,
                    event,
                    key,
                    data,
                    correlation,
                    targets: _,
                } => step.event(thread, &event, &key, data, &correlation),
                Input::Child { thread, result } => step.child_done(thread, result),
            }
            (step.history, step.children, step.orphans)
        };
        if record == before {
            return Ok(Some((record, false)));
        }
        let Some(produced) = self
            .commit(Some(&before), &mut record, history, kv, emitted, consumes)
            .await?
        else {
            return Ok(Some((before, false)));
        };
        drop(guard);
        let subscribed = subscription_keys(&record) != subscription_keys(&before)
            && !record.subscriptions.is_empty();
        self.after_commit(&record, children, orphans, subscribed, produced);
        Ok(Some((record, true)))
    }

    fn lock(&self, id: &str) -> Arc<Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() > 10_000 {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        locks.entry(id.to_string()).or_default().clone()
    }

    fn load(&self, id: &str) -> Result<Option<InstanceRecord>, EngineError> {
        self.inner
            .store
            .instance(id)?
            .map(|bytes| decode_record(id, &bytes))
            .transpose()
    }

    /// Commits a step on the blocking pool: the write ends with a flush.
    /// The events the step produced (the record's and `emitted`) go to the
    /// outbox in the same transaction; returns them for draining. `None`
    /// when the buffered event the step consumes was taken first by
    /// another step: then nothing was committed.
    async fn commit(
        &self,
        before: Option<&InstanceRecord>,
        record: &mut InstanceRecord,
        history: Vec<HistoryEntry>,
        kv: Option<(String, swirl_function::KvWrites)>,
        emitted: Vec<OutboxEvent>,
        consumes: Consumes,
    ) -> Result<Option<Vec<OutboxEvent>>, EngineError> {
        let now = now_ms();
        record.updated_ms = now;
        let mut produced: Vec<OutboxEvent> = std::mem::take(&mut record.outbox)
            .into_iter()
            .map(|event| OutboxEvent::produced(event, now))
            .collect();
        produced.extend(emitted);
        let outbox = produced
            .iter()
            .map(|event| Ok((event.key(), encode(event)?)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        let old: HashSet<SubscriptionKey> = before.map(subscription_keys).unwrap_or_default();
        let new: HashSet<SubscriptionKey> = subscription_keys(record);
        let id = record.id.clone();
        let bytes = encode(&*record)?;
        let history = history.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        let unsubscribe = old.difference(&new).cloned().collect();
        let subscribe = new.difference(&old).cloned().collect();
        let store = self.inner.store.clone();
        let committed = tokio::task::spawn_blocking(move || {
            store.commit_step(StepWrite {
                instance: &id,
                record: bytes,
                history,
                unsubscribe,
                subscribe,
                kv: kv
                    .as_ref()
                    .map(|(function, writes)| (function.as_str(), writes)),
                outbox,
                take_buffered: consumes.buffered,
                consumed_event: consumes.event.as_ref().map(|(key, targets)| ConsumedEvent {
                    key: key.as_bytes(),
                    at_ms: now,
                    targets,
                }),
            })
        })
        .await;
        let committed = match committed {
            Ok(result) => result?,
            Err(error) => {
                return Err(EngineError::Corrupt {
                    id: record.id.clone(),
                    reason: format!("the commit did not finish: {error}"),
                });
            }
        };
        if !committed {
            return Ok(None);
        }
        self.count(before.map(|b| b.status), record.status);
        Ok(Some(produced))
    }

    /// Keeps the instance counts by status current across a commit.
    fn count(&self, before: Option<Status>, after: Status) {
        if before == Some(after) {
            return;
        }
        let mut counts = self.inner.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(counts) = counts.as_mut() {
            if let Some(count) = before.and_then(|status| counts.get_mut(&status)) {
                *count = count.saturating_sub(1);
            }
            *counts.entry(after).or_insert(0) += 1;
        }
    }

    /// Instances by status, without reading the records (but once, when
    /// neither recovery nor an earlier call counted them).
    pub fn instance_counts(&self) -> Result<HashMap<Status, u64>, EngineError> {
        let mut counts = self.inner.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.is_none() {
            *counts = Some(count_by_status(&self.list(None, None)?));
        }
        Ok(counts.clone().unwrap_or_default())
    }

    /// Runs what a committed record holds and this process does not run yet.
    fn after_commit(
        &self,
        record: &InstanceRecord,
        children: Vec<ChildStart>,
        orphans: Vec<String>,
        subscribed: bool,
        produced: Vec<OutboxEvent>,
    ) {
        self.dispatch(produced);
        self.cancel_orphans(orphans);
        if record.status.is_final() {
            self.finished(record);
            return;
        }
        if subscribed {
            self.deliver_buffered(record);
        }
        for child in children {
            self.spawn_child(record, child);
        }
        if record.status == Status::Suspended {
            return;
        }
        self.run_work(record);
    }

    fn run_work(&self, record: &InstanceRecord) {
        for (task_id, task) in &record.tasks {
            let key = (record.id.clone(), *task_id);
            if !self
                .inner
                .running_tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone())
            {
                continue;
            }
            let engine = self.clone();
            let call = Call {
                input: serde_json::to_vec(&task.input).unwrap_or_default(),
                workflow_id: Some(record.workflow_id.clone()),
                instance_id: Some(record.id.clone()),
                state_name: Some(task.state.clone()),
                attempt: task.attempt,
                defer_kv_writes: true,
                timeout: task.timeout_ms.map(std::time::Duration::from_millis),
            };
            let function = task.function.clone();
            let function_name = task.function.clone();
            let state = task.state.clone();
            let version = record.function_versions.get(&task.function).cloned();
            let task_id = *task_id;
            tokio::spawn(async move {
                let started = Instant::now();
                let host = engine.inner.host.clone();
                let invoked = tokio::task::spawn_blocking(move || {
                    host.invoke_version(&function, version.as_deref(), call)
                })
                .await;
                let mut kv_writes = swirl_function::KvWrites::new();
                let mut emitted = Vec::new();
                let result = match invoked {
                    Ok(Ok(mut invocation)) => {
                        if let Some(observer) = engine.observer() {
                            observer.action(ActionCall {
                                function: &function_name,
                                instance_id: &key.0,
                                state: &state,
                                invocation: &invocation,
                            });
                        }
                        kv_writes = std::mem::take(&mut invocation.kv_writes);
                        let now = now_ms();
                        emitted = std::mem::take(&mut invocation.emitted)
                            .into_iter()
                            .map(|event| OutboxEvent::emitted(&function_name, event, now))
                            .collect();
                        invocation
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
                            })
                    }
                    Ok(Err(error)) => Err(WorkflowError::new(interpreter::FAIL, error.to_string())),
                    Err(error) => Err(WorkflowError::new(
                        interpreter::FAIL,
                        format!("the action's thread failed: {error}"),
                    )),
                };
                let duration_ms = started.elapsed().as_millis() as u64;
                let id = key.0.clone();
                let input = Input::Task {
                    task: task_id,
                    result,
                    duration_ms,
                    kv: (function_name, kv_writes),
                    emitted,
                };
                let applied = engine.apply(&id, input).await;
                engine
                    .inner
                    .running_tasks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                if let Err(error) = applied {
                    tracing::error!(instance = %id, %error, "cannot record an action's result");
                }
            });
        }
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
            tokio::spawn(async move {
                let wait = due_ms.saturating_sub(now_ms());
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                engine
                    .inner
                    .scheduled_timers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                if let Err(error) = engine.apply(&key.0, Input::Timer(timer_id)).await {
                    tracing::error!(instance = %key.0, %error, "cannot fire a timer");
                }
            });
        }
    }

    fn spawn_child(&self, parent: &InstanceRecord, child: ChildStart) {
        let engine = self.clone();
        let link = ParentLink {
            instance_id: parent.id.clone(),
            thread: child.thread,
            waits: child.waits,
            depth: parent.parent.as_ref().map_or(0, |p| p.depth) + 1,
        };
        tokio::spawn(async move {
            let started = engine
                .start_with(
                    &child.workflow_id,
                    child.input.clone(),
                    Some(child.child_id.clone()),
                    Some(link.clone()),
                    None,
                )
                .await;
            if let Err(error) = started
                && link.waits
            {
                let error = WorkflowError::new(
                    interpreter::FAIL,
                    format!("cannot start subflow '{}': {error}", child.workflow_id),
                );
                let _ = engine
                    .apply(
                        &link.instance_id,
                        Input::Child {
                            thread: link.thread,
                            result: Err(error),
                        },
                    )
                    .await;
            }
        });
    }

    /// Cancels child instances their parent no longer waits for (each
    /// cancel cascades to its own children). Recovery does the same for
    /// those a stop left running: see [`Engine::recover`].
    fn cancel_orphans(&self, orphans: Vec<String>) {
        if !orphans.is_empty() {
            swirl_core::failpoint::hit("cancel-before-cascade");
        }
        for child in orphans {
            let engine = self.clone();
            tokio::spawn(async move {
                match engine.cancel(&child).await {
                    // Ended already, or never started (its parent ended in
                    // the step that would have started it).
                    Ok(_)
                    | Err(EngineError::WrongStatus { .. } | EngineError::UnknownInstance(_)) => {}
                    Err(error) => {
                        tracing::warn!(instance = %child, %error, "cannot cancel a child instance its parent no longer waits for");
                    }
                }
            });
        }
    }

    fn finished(&self, record: &InstanceRecord) {
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
            let engine = self.clone();
            let parent = parent.clone();
            tokio::spawn(async move {
                let _ = engine
                    .apply(
                        &parent.instance_id,
                        Input::Child {
                            thread: parent.thread,
                            result,
                        },
                    )
                    .await;
            });
        }
    }

    fn observer(&self) -> Option<Arc<dyn EngineObserver>> {
        read(&self.inner.observer).clone()
    }

    /// Sets who hears about actions and takes produced events, then drains
    /// the outbox to it (events held since startup among them).
    pub fn set_observer(&self, observer: Arc<dyn EngineObserver>) {
        *write(&self.inner.observer) = Some(observer);
        self.drain_outbox();
    }

    /// Puts events produced outside any step (a direct function call) into
    /// the outbox and drains them; returns once they are durable.
    pub async fn produce(&self, events: Vec<OutboxEvent>) -> Result<(), EngineError> {
        if events.is_empty() {
            return Ok(());
        }
        let entries = events
            .iter()
            .map(|event| Ok((event.key(), encode(event)?)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.put_outbox(&entries))
            .await
            .map_err(|error| EngineError::Corrupt {
                id: String::new(),
                reason: format!("the outbox write did not finish: {error}"),
            })??;
        self.dispatch(events);
        Ok(())
    }

    /// Drains every event in the outbox: what a crash left there, or what
    /// an earlier drain could not route.
    pub fn drain_outbox(&self) {
        let entries = match self.inner.store.outbox() {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox");
                return;
            }
        };
        if !entries.is_empty() {
            tracing::info!(events = entries.len(), "draining the outbox");
        }
        let mut events = Vec::new();
        for (key, bytes) in entries {
            match serde_json::from_slice::<OutboxEvent>(&bytes) {
                Ok(event) => events.push(event),
                Err(error) => {
                    tracing::error!(key = %String::from_utf8_lossy(&key), %error, "dropping an unreadable outbox event");
                    let _ = self.inner.store.hand_off(&key, &[]);
                }
            }
        }
        self.dispatch(events);
    }

    /// Drains committed events, in order, on a tokio task: routes each to
    /// the workflows, hands it to the observer (which removes it from the
    /// outbox), or removes it when there is none.
    fn dispatch(&self, events: Vec<OutboxEvent>) {
        if events.is_empty() || (self.inner.config.hold_outbox && self.observer().is_none()) {
            return;
        }
        let events: Vec<OutboxEvent> = {
            let mut draining = self
                .inner
                .draining
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            events
                .into_iter()
                .filter(|event| draining.insert(event.key()))
                .collect()
        };
        let engine = self.clone();
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for event in events {
                if !engine.drain_one(&event).await {
                    failed.push(event.clone());
                }
                engine
                    .inner
                    .draining
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&event.key());
            }
            // They stayed in the outbox: try again later.
            if !failed.is_empty() {
                tokio::time::sleep(OUTBOX_RETRY).await;
                engine.dispatch(failed);
            }
        });
    }

    /// Routes and hands on one event; `false` when it stays in the outbox.
    async fn drain_one(&self, event: &OutboxEvent) -> bool {
        if let Err(error) = self.deliver(&event.incoming()).await {
            tracing::warn!(event_id = %event.id, %error, "cannot route a produced event; retrying in {OUTBOX_RETRY:?}");
            return false;
        }
        let observer = self.observer();
        let store = self.inner.store.clone();
        let taken = {
            let event = event.clone();
            tokio::task::spawn_blocking(move || match observer {
                Some(observer) => observer.produced(&event, &event.key()),
                None => store.hand_off(&event.key(), &[]).map_err(|e| e.to_string()),
            })
            .await
        };
        let error = match taken {
            Ok(Ok(())) => return true,
            Ok(Err(error)) => error,
            Err(error) => error.to_string(),
        };
        tracing::warn!(event_id = %event.id, %error, "cannot hand a produced event on; retrying in {OUTBOX_RETRY:?}");
        false
    }

    /// Starts instances of every workflow whose start state is scheduled with
    /// a repeating interval, at each repetition, from now on: the
    /// registered workflows' schedules now, and those of workflows
    /// registered, replaced or removed later as that happens. Instance ids
    /// derive from the tick, so a restart does not start a tick's instance
    /// twice. Needs a tokio runtime; without one it does nothing.
    pub fn start_schedules(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.inner
            .schedules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .runtime = Some(runtime);
        for id in self.workflow_ids() {
            self.reschedule(&id);
        }
    }

    /// Makes the schedule loop of workflow `id` follow its current
    /// definition: stops the loop of the definition it replaced, and starts
    /// one when the current definition repeats.
    fn reschedule(&self, id: &str) {
        // Held while reading the definition, so that of two registrations
        // at once the later one's loop is the one that stays.
        let mut schedules = self
            .inner
            .schedules
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(runtime) = schedules.runtime.clone() else {
            return;
        };
        schedules.loops.remove(id);
        let Some(workflow) = read(&self.inner.workflows).get(id).cloned() else {
            return;
        };
        let Some((count, period)) = workflow.schedule().and_then(|s| s.repeat) else {
            return;
        };
        if !workflow.start_events().is_empty() {
            return;
        }
        let (keep, stop) = oneshot::channel();
        schedules.loops.insert(id.to_string(), keep);
        runtime.spawn(self.clone().run_schedule(workflow, count, period, stop));
    }

    /// Starts an instance of `workflow` at each tick of its schedule, until
    /// its repetitions are done or `stop` is dropped.
    async fn run_schedule(
        self,
        workflow: Arc<Workflow>,
        count: Option<u32>,
        period: std::time::Duration,
        mut stop: oneshot::Receiver<()>,
    ) {
        let anchor = workflow.schedule().map_or(0, schedule::anchor_ms);
        let period_ms = (period.as_millis() as u64).max(1);
        loop {
            let now = now_ms();
            let index = if now <= anchor {
                0
            } else {
                (now - anchor).div_ceil(period_ms)
            };
            if count.is_some_and(|count| index >= u64::from(count)) {
                return;
            }
            let tick = anchor + index * period_ms;
            tokio::select! {
                _ = &mut stop => return,
                () = tokio::time::sleep(std::time::Duration::from_millis(tick.saturating_sub(now))) => {}
            }
            let id = format!("sched-{}-{tick}", workflow.id());
            if let Err(error) = self
                .start(workflow.id(), Value::Object(Default::default()), Some(id))
                .await
            {
                tracing::error!(workflow = %workflow.id(), %error, "cannot start a scheduled instance");
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Delivers an event: starts the workflows whose start state waits for
    /// it and wakes the waiting instances it matches, once per `(source,
    /// id)` within the dedup window. An event that some workflow consumes but
    /// no instance waits for yet is kept until one does (or its retention
    /// ends). Returns once every effect is durable.
    pub async fn deliver(&self, event: &IncomingEvent) -> Result<Delivery, EngineError> {
        let now = now_ms();
        let store = &self.inner.store;
        let seen = store.event_seen(&event.source, &event.id)?.filter(|seen| {
            now.saturating_sub(seen.at_ms) < self.inner.config.dedup_retention.as_millis() as u64
        });
        if seen.as_ref().is_some_and(|seen| seen.unfinished.is_none()) {
            return Ok(Delivery {
                duplicate: true,
                ..Delivery::default()
            });
        }
        // Marked unfinished: an instance consumed the event and its delivery
        // may have stopped there (a crash, or this resend raced it). This
        // one finishes that delivery: it goes to the instances that one was
        // for (those that consumed it already are unchanged), not to any
        // that started waiting since, and it never buffers the event.
        let resumed = seen.and_then(|seen| seen.unfinished);
        let mut delivery = Delivery {
            delivered: self.deliver_to_waiting(event, resumed.as_deref()).await?,
            ..Delivery::default()
        };
        // The workflows whose instances took the event, also in the
        // interrupted delivery this one finishes, start no other.
        let mut delivered_to = HashSet::new();
        for id in delivery.delivered.iter().chain(resumed.iter().flatten()) {
            if let Some(record) = self.load(id)? {
                delivered_to.insert(record.workflow_id);
            }
        }
        let starters: Vec<Arc<Workflow>> = read(&self.inner.workflows)
            .values()
            .filter(|w| {
                w.start_events()
                    .iter()
                    .any(|e| e.event_type == event.event_type && e.source == event.source)
            })
            // A scheduled event start accepts events only inside its window.
            .filter(|w| {
                w.schedule()
                    .is_none_or(|s| schedule::window_contains(s, now))
            })
            // An instance of the workflow that took the event (a
            // non-exclusive start state collecting its events) starts no other.
            .filter(|w| !delivered_to.contains(w.id()))
            .cloned()
            .collect();
        for workflow in starters {
            // The id derives from the event, so a redelivery after a crash
            // finds the instance its first delivery started.
            let id = event_instance_id(workflow.id(), &event.source, &event.id);
            let record = self
                .start_with(
                    workflow.id(),
                    Value::Object(Default::default()),
                    Some(id),
                    None,
                    Some(event),
                )
                .await?;
            delivery.started.push(record.id);
        }
        if delivery.started.is_empty()
            && delivery.delivered.is_empty()
            && resumed.is_none()
            && self.consumed_by_some_workflow(event)
        {
            let buffered = BufferedEvent {
                received_ms: now,
                event: event.clone(),
            };
            let key = store.buffer_event(&event.event_type, &event.source, &encode(&buffered)?)?;
            // An instance may have started waiting between the lookup above
            // and the buffering: look again, and deliver if this call is the
            // one that takes the event back out.
            let waiting =
                store.subscribers(&event.event_type, &event.source, &event_attributes(event))?;
            if waiting
                .iter()
                .any(|key| correlation::accepts(correlation::of_key(key), event))
                && store.take_buffered_event(&key)?.is_some()
            {
                delivery.delivered = self.deliver_to_waiting(event, None).await?;
            } else {
                delivery.buffered = true;
            }
        }
        swirl_core::failpoint::hit("deliver-before-seen-mark");
        store.mark_event_seen(&event.source, &event.id, now)?;
        if resumed.is_some() && delivery.started.is_empty() && delivery.delivered.is_empty() {
            delivery.duplicate = true;
        }
        // Only a buffered event waits for this flush: its buffering must be
        // durable before the answer. Every step that consumed the event was
        // flushed with an unfinished mark, which serves a resend as well as
        // this one would; an event that did nothing needs no mark.
        if delivery.buffered {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.durable())
                .await
                .map_err(|error| EngineError::Corrupt {
                    id: event.id.clone(),
                    reason: format!("the flush did not finish: {error}"),
                })??;
        }
        Ok(delivery)
    }

    /// Applies `event` to every waiting instance it matches, of `only` when
    /// given (finishing an interrupted delivery); returns their ids.
    async fn deliver_to_waiting(
        &self,
        event: &IncomingEvent,
        only: Option<&[String]>,
    ) -> Result<Vec<String>, EngineError> {
        let mut delivered: Vec<String> = Vec::new();
        let keys: Vec<SubscriptionKey> = self
            .inner
            .store
            .subscribers(&event.event_type, &event.source, &event_attributes(event))?
            .into_iter()
            .filter(|key| correlation::accepts(correlation::of_key(key), event))
            .filter(|key| only.is_none_or(|only| only.contains(&key.instance)))
            .collect();
        let mut targets: Vec<String> = keys.iter().map(|key| key.instance.clone()).collect();
        targets.sort();
        targets.dedup();
        let targets: Arc<[String]> = targets.into();
        for key in keys {
            let correlation = correlation::carried(
                correlation::of_key(&key).map(|(attribute, _)| attribute),
                event,
            );
            let input = Input::Event {
                thread: key.thread,
                event: key.event.clone(),
                key: event.key(),
                data: event.data.clone(),
                correlation,
                targets: targets.clone(),
            };
            if self.apply(&key.instance, input).await?.is_some()
                && !delivered.contains(&key.instance)
            {
                delivered.push(key.instance.clone());
            }
        }
        Ok(delivered)
    }

    /// True when a registered workflow has a non-start event definition for this event.
    fn consumed_by_some_workflow(&self, event: &IncomingEvent) -> bool {
        read(&self.inner.workflows).values().any(|workflow| {
            workflow
                .definition
                .events
                .iter()
                .any(|e| e.event_type == event.event_type && e.source == event.source)
        })
    }

    /// Delivers buffered events to the subscriptions of a record that just
    /// started waiting; expired ones are dropped on the way.
    fn deliver_buffered(&self, record: &InstanceRecord) {
        let engine = self.clone();
        let subscriptions = record.subscriptions.clone();
        let id = record.id.clone();
        tokio::spawn(async move {
            let store = &engine.inner.store;
            let retention = engine.inner.config.buffer_retention.as_millis() as u64;
            for subscription in subscriptions {
                let Ok(candidates) =
                    store.buffered_events(&subscription.event_type, &subscription.source)
                else {
                    continue;
                };
                for (key, bytes) in candidates {
                    let Ok(buffered) = serde_json::from_slice::<BufferedEvent>(&bytes) else {
                        let _ = store.take_buffered_event(&key);
                        continue;
                    };
                    if now_ms().saturating_sub(buffered.received_ms) > retention {
                        let _ = store.take_buffered_event(&key);
                        continue;
                    }
                    let event = buffered.event;
                    let required = subscription
                        .correlation
                        .as_ref()
                        .map(|(attribute, value)| (attribute.as_str(), value.as_deref()));
                    if !correlation::accepts(required, &event) {
                        continue;
                    }
                    let correlation =
                        correlation::carried(required.map(|(attribute, _)| attribute), &event);
                    let input = Input::Event {
                        thread: subscription.thread,
                        event: subscription.event.clone(),
                        key: event.key(),
                        data: event.data.clone(),
                        correlation,
                        targets: Arc::from([]),
                    };
                    // The event leaves the buffer in the commit of the step
                    // that consumes it: a crash keeps it in one or the other.
                    match engine.apply_taking(&id, input, Some(key)).await {
                        // One event per subscription: the state moved on.
                        Ok(Some((_, true))) => break,
                        // Taken by another instance first, or not wanted
                        // here after all: it stays for others.
                        Ok(Some((_, false))) => continue,
                        Ok(None) => break,
                        Err(error) => {
                            tracing::error!(instance = %id, %error, "cannot deliver a buffered event");
                            break;
                        }
                    }
                }
            }
        });
    }

    /// The record of instance `id`.
    pub fn get(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.load(id)?
            .ok_or_else(|| EngineError::UnknownInstance(id.to_string()))
    }

    /// Waits until instance `id` reaches a final status and returns it.
    pub async fn wait(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        loop {
            let notify = self
                .inner
                .finished
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(id.to_string())
                .or_default()
                .clone();
            let notified = notify.notified();
            let record = self.get(id)?;
            if record.status.is_final() {
                return Ok(record);
            }
            notified.await;
        }
    }

    /// History of instance `id`, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, EngineError> {
        history(&self.inner.store, id)
    }

    /// Instances, optionally of one workflow and one status, newest first
    /// (see [`InstanceRecord::start_order`]).
    pub fn list(
        &self,
        workflow_id: Option<&str>,
        status: Option<Status>,
    ) -> Result<Vec<InstanceRecord>, EngineError> {
        list(&self.inner.store, workflow_id, status)
    }

    /// Resumes every unfinished instance of the data directory (runs their
    /// actions in flight again, schedules their timers, re-routes their
    /// undelivered events, hands them the events buffered for their
    /// subscriptions) and starts the scheduled workflows' schedules. Call
    /// once after registering definitions.
    pub fn recover(&self) -> Result<usize, EngineError> {
        let all = self.list(None, None)?;
        *self.inner.counts.lock().unwrap_or_else(|e| e.into_inner()) = Some(count_by_status(&all));
        self.start_schedules();
        if !self.inner.config.hold_outbox {
            self.drain_outbox();
        }
        let unfinished = all.into_iter().filter(|r| !r.status.is_final());
        let mut count = 0;
        for record in unfinished {
            count += 1;
            if self.orphaned(&record)? {
                self.cancel_orphans(vec![record.id.clone()]);
                continue;
            }
            if record.status != Status::Suspended {
                self.run_work(&record);
            }
            // An event buffered before the instance subscribed, whose
            // delivery the stop interrupted: deliver it now.
            if !record.subscriptions.is_empty() {
                self.deliver_buffered(&record);
            }
            for (thread, child_id) in &record.children {
                match self.load(child_id)? {
                    Some(child) if child.status.is_final() => self.finished(&child),
                    Some(_) => {}
                    // The parent committed its SUBFLOW state but the process
                    // stopped before the child was created: create it now.
                    None => {
                        let Some(state) = record.threads.get(thread) else {
                            continue;
                        };
                        let workflow = self.workflow_version(&record.definition_version)?;
                        let Some(target) = workflow.subflow_target(&state.state) else {
                            continue;
                        };
                        let start = ChildStart {
                            child_id: child_id.clone(),
                            workflow_id: target.to_string(),
                            input: state.data.clone(),
                            thread: *thread,
                            waits: true,
                        };
                        self.spawn_child(&record, start);
                    }
                }
            }
        }
        Ok(count)
    }

    /// Whether `record` is a subflow instance whose parent no longer waits
    /// for it: the parent ended, or left its subflow state, and the process
    /// stopped before it cancelled the child.
    fn orphaned(&self, record: &InstanceRecord) -> Result<bool, EngineError> {
        let Some(link) = record.parent.as_ref().filter(|link| link.waits) else {
            return Ok(false);
        };
        Ok(match self.load(&link.instance_id)? {
            Some(parent) => {
                parent.status.is_final() || parent.children.get(&link.thread) != Some(&record.id)
            }
            None => true,
        })
    }

    /// Cancels instance `id`, and the child instances it waits for; running
    /// actions finish but their results are dropped.
    pub async fn cancel(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.control(id, "cancel", |_, step| {
            if step.record().status.is_final() {
                return Err("an unfinished");
            }
            step.cancel();
            Ok(())
        })
        .await
    }

    /// Suspends instance `id`: nothing new starts until it is resumed.
    pub async fn suspend(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.control(id, "suspend", |_, step| {
            let status = step.record().status;
            if status.is_final() || status == Status::Suspended {
                return Err("a running or waiting");
            }
            step.suspend();
            Ok(())
        })
        .await
    }

    /// Resumes a suspended instance.
    pub async fn resume(&self, id: &str) -> Result<InstanceRecord, EngineError> {
        self.control(id, "resume", |record, step| {
            if step.record().status != Status::Suspended {
                return Err("a suspended");
            }
            step.resume(record.suspended_from.unwrap_or(Status::Running));
            Ok(())
        })
        .await
    }

    async fn control(
        &self,
        id: &str,
        action: &'static str,
        change: impl FnOnce(&InstanceRecord, &mut Step<'_>) -> Result<(), &'static str>,
    ) -> Result<InstanceRecord, EngineError> {
        let lock = self.lock(id);
        let guard = lock.lock().await;
        let before = self.get(id)?;
        let workflow = self.workflow_version(&before.definition_version)?;
        let mut record = before.clone();
        let (history, orphans) = {
            let mut step = Step::new(&workflow, &mut record, now_ms());
            change(&before, &mut step).map_err(|needs| EngineError::WrongStatus {
                id: id.to_string(),
                status: before.status.as_str(),
                action,
                needs,
            })?;
            (step.history, step.orphans)
        };
        let produced = self
            .commit(
                Some(&before),
                &mut record,
                history,
                None,
                Vec::new(),
                Consumes::default(),
            )
            .await?
            .unwrap_or_default();
        drop(guard);
        self.after_commit(&record, Vec::new(), orphans, false, produced);
        Ok(record)
    }
}

/// Instances of a data directory, optionally of one workflow and one
/// status, newest first (see [`InstanceRecord::start_order`]); needs no
/// running engine.
pub fn list(
    store: &Store,
    workflow_id: Option<&str>,
    status: Option<Status>,
) -> Result<Vec<InstanceRecord>, EngineError> {
    let mut found = Vec::new();
    for entry in store.instances() {
        let (id, bytes) = entry?;
        let record = decode_record(&id, &bytes)?;
        if workflow_id.is_some_and(|w| w != record.workflow_id)
            || status.is_some_and(|s| s != record.status)
        {
            continue;
        }
        found.push(record);
    }
    // The store keeps records in id order, and ids started by events are
    // hashes: the start order needs a sort.
    found.sort_unstable_by(|a, b| b.start_order().cmp(&a.start_order()));
    Ok(found)
}

fn count_by_status(records: &[InstanceRecord]) -> HashMap<Status, u64> {
    let mut counts = HashMap::new();
    for record in records {
        *counts.entry(record.status).or_insert(0) += 1;
    }
    counts
}

/// History of instance `id`, oldest first; needs no running engine.
pub fn history(store: &Store, id: &str) -> Result<Vec<HistoryEntry>, EngineError> {
    if store.instance(id)?.is_none() {
        return Err(EngineError::UnknownInstance(id.to_string()));
    }
    store
        .history(id)?
        .iter()
        .map(|bytes| {
            serde_json::from_slice(bytes).map_err(|error| EngineError::Corrupt {
                id: id.to_string(),
                reason: error.to_string(),
            })
        })
        .collect()
}

/// Inputs that change an existing instance.
/// The event a step consumes, as its commit records it.
#[derive(Default)]
struct Consumes {
    /// Its key in the buffer, when it comes from there: taken out in the
    /// step's transaction.
    buffered: Option<Vec<u8>>,
    /// Its `(source, id)` key and the instances its delivery is for:
    /// marked seen, unfinished, in the step's transaction unless it is
    /// marked already.
    event: Option<(String, Arc<[String]>)>,
}

enum Input {
    Task {
        task: TaskId,
        result: Result<Value, WorkflowError>,
        duration_ms: u64,
        /// The action's kv writes, committed with its result.
        kv: (String, swirl_function::KvWrites),
        /// Events the action emitted, into the outbox with its result.
        emitted: Vec<OutboxEvent>,
    },
    Timer(TimerId),
    Event {
        thread: ThreadId,
        event: String,
        key: String,
        data: Value,
        correlation: BTreeMap<String, String>,
        /// Every instance the delivery is for (empty for a buffered event,
        /// whose delivery finished when it was buffered).
        targets: Arc<[String]>,
    },
    Child {
        thread: ThreadId,
        result: Result<Value, WorkflowError>,
    },
}

fn subscription_keys(record: &InstanceRecord) -> HashSet<SubscriptionKey> {
    record
        .subscriptions
        .iter()
        .map(|s: &Subscription| {
            let (attribute, value) = match &s.correlation {
                Some((attribute, value)) => (attribute.clone(), value.clone().unwrap_or_default()),
                None => (String::new(), String::new()),
            };
            SubscriptionKey {
                event_type: s.event_type.clone(),
                source: s.source.clone(),
                attribute,
                value,
                instance: record.id.clone(),
                thread: s.thread,
                event: s.event.clone(),
            }
        })
        .collect()
}

fn event_attributes(event: &IncomingEvent) -> Vec<(String, String)> {
    event
        .extensions
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The id of the instance an event starts: the same for every redelivery.
fn event_instance_id(workflow: &str, source: &str, id: &str) -> String {
    let digest = Sha256::digest(format!("{workflow}\u{0}{source}\u{0}{id}").as_bytes());
    format!("ev-{}", &hex(&digest)[..24])
}

fn correlation_of(
    workflow: &Workflow,
    event_name: &str,
    event: &IncomingEvent,
) -> BTreeMap<String, String> {
    let attribute = workflow
        .event(event_name)
        .and_then(|d| d.correlation_attribute());
    correlation::carried(attribute.as_deref(), event)
}

fn decode_record(id: &str, bytes: &[u8]) -> Result<InstanceRecord, EngineError> {
    serde_json::from_slice(bytes).map_err(|error| EngineError::Corrupt {
        id: id.to_string(),
        reason: error.to_string(),
    })
}

fn definition_blob(source: &str, file_name: Option<&str>) -> Vec<u8> {
    let mut blob = file_name.unwrap_or("").as_bytes().to_vec();
    blob.push(0);
    blob.extend_from_slice(source.as_bytes());
    blob
}

fn split_definition_blob(blob: &[u8]) -> (Option<String>, String) {
    match blob.iter().position(|b| *b == 0) {
        Some(split) => {
            let name = String::from_utf8_lossy(&blob[..split]).into_owned();
            let source = String::from_utf8_lossy(&blob[split + 1..]).into_owned();
            ((!name.is_empty()).then_some(name), source)
        }
        None => (None, String::from_utf8_lossy(blob).into_owned()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, EngineError> {
    serde_json::to_vec(value).map_err(|error| EngineError::Corrupt {
        id: String::new(),
        reason: format!("cannot encode: {error}"),
    })
}
