//! The workflow engine: runs instances of registered workflow definitions
//! durably, calling functions of the function host as their actions.
//!
//! ```text
//!  input (start, event, timer, child end, control)
//!    │  run pool: one thread, one run at a time per instance
//!    ▼
//!  load record ─▶ interpreter::Step (pure) ─▶ calls, inline ─▶ Step ─▶ … ─▶ write
//!                                                                          │
//!    flushing thread: one flush for every run written meanwhile ◀───────────┘
//!    ▼
//!  answer, produced events (outbox) → deliver/observer, children, timers
//! ```
//!
//! Because the committed record says what is in flight, recovery after a
//! crash is the same run over every unfinished instance: calls whose run
//! had not committed run again (same attempt), timers fire at their due
//! time, waiting instances keep waiting. `run.rs` says when a run
//! writes.

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here, and
// each remaining one carries an `allow` with the reason it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod catalog;
mod control;
mod correlation;
pub mod data;
mod definitions;
mod delivery;
mod drain;
mod durability;
mod gather;
pub mod interpreter;
pub mod lifecycle;
pub mod outbox;
mod pool;
mod queries;
pub mod record;
mod recovery;
mod retention;
mod run;
mod schedule;
mod scheduled;
pub mod secrets;
pub mod tracer;

pub use drain::OUTBOX_RETRY;
pub use pool::{Busy, PoolConfig};
pub use queries::{history, list};
pub use run::{MAX_RUN_CALLS, MAX_SEGMENT_CALLS};

use catalog::Catalog;
use delivery::correlation_of;
use durability::Durability;
use pool::{Admission, RunPool};
use run::Begin;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};
use swirl_workflow::model::ExpressionLanguage;
use tokio::sync::{Notify, oneshot};

use interpreter::{ChildStart, Step, SubscriptionChanges, Workflow};
use outbox::{ActionCall, EngineObserver, OutboxEvent};
use record::{
    HistoryEntry, InstanceRecord, ParentLink, Status, Subscription, TaskId, ThreadId, TimerId,
    WorkflowError,
};
use swirl_core::trace_context::TraceContext;
use swirl_ports::clock::{Clock, SystemClock};
use swirl_ports::invoke::{Call, Invoker};
use swirl_ports::store::{ConsumedEvent, InstanceStore, StepWrite, StoreFailure, SubscriptionKey};
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
    Store(#[from] StoreFailure),
    #[error("instance record '{id}' cannot be read: {reason}")]
    Corrupt { id: String, reason: String },
    #[error("the engine is saturated: {0}; retry shortly")]
    Busy(#[from] Busy),
    #[error("the commit could not be made durable: {0}")]
    NotDurable(StoreFailure),
    #[error("cannot start the engine's threads: {0}")]
    Threads(std::io::Error),
    #[error(
        "{0} events that no instance waits for yet are kept already (the limit, --buffer-max-events); this one was not accepted: retry once instances take them or they expire"
    )]
    BufferFull(usize),
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
    /// The optional context attributes it has (`subject`, `time`,
    /// `datacontenttype`, `dataschema`), as strings: 1.0 filters match them
    /// and a 1.0 envelope shows them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
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

/// An event kept until an instance waits for it, as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BufferedEntry {
    /// Where it is kept: the cursor of the listing that follows it.
    pub key: Vec<u8>,
    pub received_ms: u64,
    pub event: IncomingEvent,
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

/// How many events no instance waits for yet are kept, by default.
pub const DEFAULT_BUFFER_MAX_EVENTS: usize = 100_000;

/// How long events are remembered and kept.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A redelivered `(source, id)` within this window is a duplicate.
    pub dedup_retention: std::time::Duration,
    /// An event no instance waits for is kept this long.
    pub buffer_retention: std::time::Duration,
    /// At most this many such events are kept; one more is refused.
    pub buffer_max_events: usize,
    /// Produced events stay in the outbox until an observer is set, so that
    /// the observer (a server's sinks) also gets those recovered at startup.
    pub hold_outbox: bool,
    /// Whether 1.0 instances produce the lifecycle CloudEvents
    /// ([`lifecycle`]): off unless asked for, since each costs an outbox
    /// write and a delivery, several per task.
    pub lifecycle_events: bool,
    /// Whether they also produce the optional `status-changed` events, one
    /// more for each change of an instance's or a task's status phase.
    pub status_changed_events: bool,
    /// The threads runs execute on, and how many may wait for them.
    pub pool: PoolConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            dedup_retention: std::time::Duration::from_secs(24 * 60 * 60),
            buffer_retention: std::time::Duration::from_secs(60 * 60),
            buffer_max_events: DEFAULT_BUFFER_MAX_EVENTS,
            hold_outbox: false,
            lifecycle_events: false,
            status_changed_events: false,
            pool: PoolConfig::default(),
        }
    }
}

/// Runs workflow instances. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn InstanceStore>,
    /// Calls the app's functions and makes 1.0's protocol requests.
    invoker: Arc<dyn Invoker>,
    /// The time the engine records, and what its timers wait on.
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    /// Registered definitions by id (the newest) and by version.
    workflows: RwLock<HashMap<String, Arc<Workflow>>>,
    versions: RwLock<HashMap<String, Arc<Workflow>>>,
    /// Where runs execute, one at a time per instance.
    pool: RunPool,
    /// Makes runs' commits durable, then releases what they hold back.
    durability: Durability,
    /// Timers this process waits for, so none fires twice.
    scheduled_timers: StdMutex<HashSet<(String, TimerId)>>,
    /// Request tasks (1.0's HTTP calls) this process has sent, by
    /// instance, until a commit without them is durable, so none is sent
    /// twice (see `run.rs`).
    requests: StdMutex<HashMap<String, HashSet<TaskId>>>,
    /// Woken when an instance reaches a final status.
    finished: StdMutex<HashMap<String, Arc<Notify>>>,
    /// Who hears about actions and takes produced events (the server).
    observer: RwLock<Option<Arc<dyn EngineObserver>>>,
    /// Who takes the runs' traces, when traces are on.
    tracer: std::sync::OnceLock<Arc<dyn tracer::Tracer>>,
    /// Outbox keys this process drains now, so none is drained twice at once.
    draining: StdMutex<HashSet<Vec<u8>>>,
    /// Instances in start order with their status: built once, then kept
    /// by every commit and deletion.
    catalog: StdMutex<Option<Catalog>>,
    /// Instance records decoded so far, for tests and figures of what a
    /// query costs.
    records_read: std::sync::atomic::AtomicU64,
    schedules: StdMutex<Schedules>,
    /// The app's secrets, which calls send and no record holds.
    secrets: RwLock<Arc<secrets::Secrets>>,
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
    pub fn new(
        store: Arc<dyn InstanceStore>,
        invoker: Arc<dyn Invoker>,
    ) -> Result<Self, EngineError> {
        Self::with_config(store, invoker, EngineConfig::default())
    }

    pub fn with_config(
        store: Arc<dyn InstanceStore>,
        invoker: Arc<dyn Invoker>,
        config: EngineConfig,
    ) -> Result<Self, EngineError> {
        Self::with_clock(store, invoker, Arc::new(SystemClock), config)
    }

    /// An engine whose times and timers come from `clock`.
    pub fn with_clock(
        store: Arc<dyn InstanceStore>,
        invoker: Arc<dyn Invoker>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Self, EngineError> {
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                invoker,
                clock,
                pool: RunPool::new(config.pool).map_err(EngineError::Threads)?,
                durability: Durability::new().map_err(EngineError::Threads)?,
                config,
                workflows: RwLock::default(),
                versions: RwLock::default(),
                scheduled_timers: StdMutex::default(),
                requests: StdMutex::default(),
                finished: StdMutex::default(),
                observer: RwLock::default(),
                tracer: std::sync::OnceLock::new(),
                draining: StdMutex::default(),
                catalog: StdMutex::default(),
                records_read: Default::default(),
                schedules: StdMutex::default(),
                secrets: RwLock::default(),
            }),
        })
    }

    /// Adds secrets (name to value, a string or an object of fields; a
    /// name given again takes the new value); workflows loaded from now on
    /// read those they list. Names are the server's, shared by its apps.
    pub fn add_secrets(&self, values: BTreeMap<String, Value>) {
        let mut secrets = write(&self.inner.secrets);
        let mut all = secrets.values().clone();
        all.extend(values);
        *secrets = Arc::new(secrets::Secrets::new(all));
    }

    fn secrets(&self) -> Arc<secrets::Secrets> {
        read(&self.inner.secrets).clone()
    }

    /// Now, by the engine's clock.
    pub(crate) fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// Starts an instance of `workflow_id`. With `id`, a second start with
    /// the same id returns the existing instance.
    pub async fn start(
        &self,
        workflow_id: &str,
        input: Value,
        id: Option<String>,
    ) -> Result<InstanceRecord, EngineError> {
        self.start_and_run(workflow_id, input, id, None, std::time::Duration::ZERO)
            .await
    }

    /// Starts an instance, a child of the span `trace` when traces are
    /// on, and answers once its first run is durable: at its end (it waits
    /// or ended), or with its first commit after `limit` (a long run; a
    /// zero `limit` answers with its receipt, as [`Self::start`] does).
    /// `POST /workflows/{id}/instances` starts with this.
    pub async fn start_and_run(
        &self,
        workflow_id: &str,
        input: Value,
        id: Option<String>,
        trace: Option<TraceContext>,
        limit: std::time::Duration,
    ) -> Result<InstanceRecord, EngineError> {
        let by = Instant::now() + limit;
        self.start_with(
            workflow_id,
            input,
            id,
            None,
            None,
            trace,
            Admission::External,
            by,
        )
        .await
    }

    /// Starts an instance in a run of its own; answers once the commit
    /// after `answer_by` is durable (at once: the receipt).
    #[allow(clippy::too_many_arguments)]
    async fn start_with(
        &self,
        workflow_id: &str,
        input: Value,
        id: Option<String>,
        parent: Option<ParentLink>,
        first_event: Option<&IncomingEvent>,
        trace: Option<TraceContext>,
        admission: Admission,
        answer_by: Instant,
    ) -> Result<InstanceRecord, EngineError> {
        let workflow = self.workflow(workflow_id)?;
        // v0.1 and the draft merge results into their data, which needs an
        // object; 1.0 data may be any JSON value.
        let any_input = workflow.definition.expression_language == ExpressionLanguage::Jq;
        if !input.is_object() && !any_input {
            return Err(EngineError::InputNotObject(kind_name(&input)));
        }
        let id = id.unwrap_or_else(swirl_core::ids::new_id);
        // An instance an event starts is a child of the event's span.
        let trace = trace.or_else(|| first_event.and_then(|event| self.event_link(event)));
        let begin = Begin::Start {
            workflow,
            input,
            parent,
            first_event: first_event.cloned().map(Box::new),
            trace,
            take: Vec::new(),
            marks: Vec::new(),
        };
        self.execute(&id, begin, admission, answer_by)
            .await?
            .record
            .ok_or(EngineError::UnknownInstance(id))
    }

    /// Applies `input` to instance `id` in a run (`None` when there is no
    /// such instance), taking the buffered event `take` out of the buffer in
    /// the run's first commit; the flag says whether the run committed
    /// (and so took the event).
    async fn apply_taking(
        &self,
        id: &str,
        input: Input,
        take: Option<Vec<u8>>,
        admission: Admission,
    ) -> Result<Option<(InstanceRecord, bool)>, EngineError> {
        let outcome = self
            .execute(id, Begin::Apply { input, take }, admission, Instant::now())
            .await?;
        Ok(outcome.record.map(|record| (record, outcome.changed)))
    }

    fn load(&self, id: &str) -> Result<Option<InstanceRecord>, EngineError> {
        self.read(1);
        self.inner
            .store
            .instance(id)?
            .map(|bytes| decode_record(id, &bytes))
            .transpose()
    }

    /// Returns once everything written so far is durable.
    async fn settled(&self) -> Result<(), EngineError> {
        let (done, settled) = oneshot::channel();
        self.inner.durability.after_flush(
            &self.inner.store,
            Box::new(move |flushed| {
                let _ = done.send(flushed);
            }),
        );
        match settled.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(EngineError::NotDurable(error)),
            Err(_) => Err(EngineError::Corrupt {
                id: String::new(),
                reason: "the flushing thread stopped".into(),
            }),
        }
    }

    /// Keeps the catalog current across a commit of `record`.
    fn catalogue(&self, before: Option<Status>, record: &InstanceRecord) {
        if before == Some(record.status) {
            return;
        }
        let mut catalog = self.inner.catalog.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(catalog) = catalog.as_mut() {
            catalog.keep(record);
        }
    }

    /// Runs `query` on the catalog, built first from every record when
    /// neither recovery nor an earlier query built it.
    fn with_catalog<T>(&self, query: impl FnOnce(&Catalog) -> T) -> Result<T, EngineError> {
        let mut kept = self.inner.catalog.lock().unwrap_or_else(|e| e.into_inner());
        let catalog = match kept.take() {
            Some(catalog) => catalog,
            None => Catalog::of(&self.list(None, None)?),
        };
        Ok(query(kept.insert(catalog)))
    }

    /// Instances by status, without reading the records (but once, when
    /// neither recovery nor an earlier query read them).
    pub fn instance_counts(&self) -> Result<HashMap<Status, u64>, EngineError> {
        self.with_catalog(|catalog| catalog.counts().clone())
    }

    /// Instance records decoded since the engine started.
    pub fn records_read(&self) -> u64 {
        self.inner
            .records_read
            .load(std::sync::atomic::Ordering::Relaxed)
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
}

/// The events a run consumes, as its commit records them.
#[derive(Default)]
struct Consumes {
    /// Their keys in the buffer, for those that come from there (one for a
    /// wake, each of the set for a start on `all`): taken out in the run's
    /// commit, which writes nothing if one was taken first.
    buffered: Vec<Vec<u8>>,
    /// Their `(source, id)` keys and the instances each one's delivery is
    /// for: marked seen, unfinished, in the run's commit unless marked
    /// already.
    events: Vec<(String, Arc<[String]>)>,
}

/// Inputs that change an existing instance.
pub(crate) enum Input {
    Timer(TimerId),
    Event {
        thread: ThreadId,
        event: String,
        /// Boxed: an event is much larger than the other inputs.
        incoming: Box<IncomingEvent>,
        correlation: BTreeMap<String, String>,
        /// Every instance the delivery is for (empty for a buffered event,
        /// whose delivery finished when it was buffered).
        targets: Arc<[String]>,
        /// The event's span, which the run links to (traces on only).
        link: Option<TraceContext>,
    },
    Child {
        thread: ThreadId,
        result: Result<Value, WorkflowError>,
    },
    /// The response to a request task, sent after a commit (see
    /// [`Engine::send_requests`]).
    Response {
        task: TaskId,
        result: Result<Value, WorkflowError>,
        duration_ms: u64,
        /// When it was sent, for its span (traces on only).
        started_ns: u64,
    },
}

fn decode_record(id: &str, bytes: &[u8]) -> Result<InstanceRecord, EngineError> {
    serde_json::from_slice(bytes).map_err(|error| EngineError::Corrupt {
        id: id.to_string(),
        reason: error.to_string(),
    })
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
