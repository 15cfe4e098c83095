//! Produced events out: to the `[[sinks]]` of the manifests, as HTTP
//! CloudEvents in binary mode (attribute values percent-encoded as the
//! binding requires) or structured mode, with retries, backoff and durable
//! dead letters.
//!
//! ```text
//!  engine outbox ──hand_off──▶ sink queue (store) ──▶ one task per (event, sink)
//!                                   ▲                   │ POST, retry with backoff
//!                                   │                   ├─ 2xx ─▶ removed
//!  POST /dead-letters/…/replay ─────┘                   └─ retries exhausted ─▶ dead letters (store)
//! ```
//!
//! A 2xx answer is a delivery; a 4xx other than 408 and 429 is the sink
//! refusing the event, which retrying would not change, so it goes straight
//! to the dead letters; anything else is retried.
//!
//! Delivery is at least once: an entry leaves the sink queue only when its
//! sink acknowledged it or when it moved (atomically, durably) to the dead
//! letters. Entries still queued at a crash are delivered after the restart
//! to the configured sink with the same url, or become dead letters when no
//! sink has that url any more. A queue entry is keyed by event id and sink
//! url, so handing the same event on twice (a drain repeated after a crash)
//! queues it once.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use swirl_client::{Client, Request};
use tokio::sync::mpsc;

use super::header_value;
use super::metrics::{DropReason, Metrics};
use super::traces;
use swirl_app::manifest::{SinkManifest, SinkMode};
use swirl_core::time::{now_ms, rfc3339};
use swirl_core::trace_context::TraceContext;
use swirl_engine::outbox::OutboxEvent;
use swirl_store::{Store, StoreError};
use swirl_telemetry::Telemetry;

/// Attempts per event and sink before it becomes a dead letter.
pub const MAX_ATTEMPTS: u32 = 5;
/// Wait before the first retry; doubled for each later one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Time allowed for one POST.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Dead letters kept by default (`--dead-letter-max`); the oldest go first.
pub const DEFAULT_MAX_DEAD_LETTERS: usize = 10_000;
/// POSTs to sinks in flight at once; the rest of the queue waits its turn.
pub const MAX_CONCURRENT_POSTS: usize = 64;

/// An event waiting for one sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Queued {
    sink: String,
    queued_at: String,
    event: OutboxEvent,
}

/// An event that a sink did not take.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: String,
    /// The sink's url.
    pub sink: String,
    pub attempts: u32,
    pub last_error: String,
    /// When it was queued for the sink, and when it was given up on.
    pub queued_at: String,
    pub failed_at: String,
    pub event: OutboxEvent,
}

/// Why a dead letter cannot be replayed or deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("no dead letter '{0}'; GET /dead-letters lists them")]
    Unknown(String),
    #[error("dead letter '{0}' cannot be read: {1}")]
    Corrupt(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Job {
    key: Vec<u8>,
    queued: Queued,
}

/// The sinks of the running server.
#[derive(Clone)]
pub struct Sinks {
    inner: Arc<Inner>,
}

type SinksByApp = BTreeMap<String, Vec<SinkManifest>>;

struct Inner {
    /// The `[[sinks]]` of each app, by app name (a deployment replaces its
    /// app's), and all of them, read per event without copying.
    sinks: std::sync::RwLock<(SinksByApp, Arc<Vec<SinkManifest>>)>,
    store: Store,
    jobs: mpsc::UnboundedSender<Job>,
    /// Queue keys being delivered now, so none is delivered twice at once.
    in_flight: Mutex<HashSet<Vec<u8>>>,
    posts: tokio::sync::Semaphore,
    dead_letters: AtomicUsize,
    /// Dead letters kept at most; the oldest go first.
    max_dead_letters: usize,
    metrics: Arc<Metrics>,
    /// Where the spans of deliveries go, when traces are on.
    telemetry: Option<Arc<Telemetry>>,
}

fn now() -> String {
    rfc3339(now_ms())
}

fn queue_key(event_id: &str, sink: &str) -> Vec<u8> {
    let mut key = event_id.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(sink.as_bytes());
    key
}

impl Sinks {
    /// Starts the dispatcher on the current tokio runtime and delivers what
    /// the sink queue held at the last stop.
    pub fn start(
        sinks: SinksByApp,
        store: Store,
        metrics: Arc<Metrics>,
        max_dead_letters: usize,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Result<Self, StoreError> {
        let (jobs, mut receive) = mpsc::unbounded_channel::<Job>();
        let this = Sinks {
            inner: Arc::new(Inner {
                dead_letters: AtomicUsize::new(store.dead_letter_count()),
                max_dead_letters,
                sinks: std::sync::RwLock::new((
                    sinks.clone(),
                    Arc::new(sinks.into_values().flatten().collect()),
                )),
                store,
                jobs,
                in_flight: Mutex::default(),
                posts: tokio::sync::Semaphore::new(MAX_CONCURRENT_POSTS),
                metrics,
                telemetry,
            }),
        };
        let client = Client::new();
        let dispatcher = this.clone();
        tokio::spawn(async move {
            while let Some(job) = receive.recv().await {
                let fresh = dispatcher
                    .inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(job.key.clone());
                if fresh {
                    let (this, client) = (dispatcher.clone(), client.clone());
                    tokio::spawn(async move { this.deliver(&client, job).await });
                }
            }
        });
        for (key, bytes) in this.inner.store.sink_queue()? {
            match serde_json::from_slice::<Queued>(&bytes) {
                Ok(queued) => this.enqueue(key, queued),
                Err(error) => {
                    tracing::error!(key = %String::from_utf8_lossy(&key), %error, "dropping an unreadable sink queue entry");
                    let _ = this.inner.store.acknowledge(&key);
                }
            }
        }
        Ok(this)
    }

    pub fn is_empty(&self) -> bool {
        self.configured().is_empty()
    }

    /// Makes `sinks` the sinks of app `app` (a deployment of it).
    pub fn set_app(&self, app: &str, sinks: Vec<SinkManifest>) {
        let mut configured = self.inner.sinks.write().unwrap_or_else(|e| e.into_inner());
        configured.0.insert(app.to_string(), sinks);
        configured.1 = Arc::new(configured.0.values().flatten().cloned().collect());
    }

    /// The sinks of every app.
    fn configured(&self) -> Arc<Vec<SinkManifest>> {
        let configured = self.inner.sinks.read().unwrap_or_else(|e| e.into_inner());
        configured.1.clone()
    }

    /// Moves an event from the outbox to the queue of every sink whose
    /// filter it passes (durably, in one step), then starts delivering it.
    pub fn hand_off(&self, event: &OutboxEvent, outbox_key: &[u8]) -> Result<(), StoreError> {
        let configured = self.configured();
        let mut urls: Vec<&str> = configured
            .iter()
            .filter(|sink| {
                sink.event_type
                    .as_deref()
                    .is_none_or(|t| t == event.event_type)
            })
            .map(|sink| sink.url.as_str())
            .collect();
        urls.sort_unstable();
        urls.dedup();
        let queued_at = now();
        let jobs: Vec<Job> = urls
            .into_iter()
            .map(|url| Job {
                key: queue_key(&event.id, url),
                queued: Queued {
                    sink: url.to_string(),
                    queued_at: queued_at.clone(),
                    event: event.clone(),
                },
            })
            .collect();
        let entries = jobs
            .iter()
            .map(|job| Ok((job.key.clone(), encode(&job.queued)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.inner.store.hand_off(outbox_key, &entries)?;
        for job in jobs {
            let _ = self.inner.jobs.send(job);
        }
        Ok(())
    }

    fn enqueue(&self, key: Vec<u8>, queued: Queued) {
        let _ = self.inner.jobs.send(Job { key, queued });
    }

    /// Entries of the sink queue (each being delivered or waiting to retry).
    pub fn queued(&self) -> usize {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// How many dead letters there are, without reading them.
    pub fn dead_letter_count(&self) -> usize {
        self.inner.dead_letters.load(Ordering::Relaxed)
    }

    /// The first `limit` dead letters, oldest first. What it shows is
    /// durable: a letter is readable as soon as its move commits, before
    /// the flush that follows it, so the listing waits for a flush after
    /// reading (the listing is an observation; a SIGKILL must not take back
    /// what someone saw).
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let letters = self
            .inner
            .store
            .first_dead_letters(limit)?
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
            .collect();
        self.inner.store.durable()?;
        Ok(letters)
    }

    /// Moves dead letter `id` back to its sink's queue (durably) and
    /// delivers it again.
    pub fn replay(&self, id: &str) -> Result<(), DeadLetterError> {
        let bytes = self
            .inner
            .store
            .dead_letter(id.as_bytes())?
            .ok_or_else(|| DeadLetterError::Unknown(id.to_string()))?;
        let letter: DeadLetter = serde_json::from_slice(&bytes)
            .map_err(|error| DeadLetterError::Corrupt(id.to_string(), error.to_string()))?;
        let key = queue_key(&letter.event.id, &letter.sink);
        let queued = Queued {
            sink: letter.sink,
            queued_at: now(),
            event: letter.event,
        };
        if !self
            .inner
            .store
            .requeue(id.as_bytes(), &key, &encode(&queued)?)?
        {
            return Err(DeadLetterError::Unknown(id.to_string()));
        }
        self.inner.dead_letters.fetch_sub(1, Ordering::Relaxed);
        self.enqueue(key, queued);
        Ok(())
    }

    /// Deletes dead letter `id` for good.
    pub fn delete(&self, id: &str) -> Result<(), DeadLetterError> {
        if !self.inner.store.delete_dead_letter(id.as_bytes())? {
            return Err(DeadLetterError::Unknown(id.to_string()));
        }
        self.inner.dead_letters.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }

    async fn deliver(&self, client: &Client, job: Job) {
        let Job { key, queued } = job;
        let url = queued.sink.as_str();
        // The mode of the sink as configured now; none when it is gone.
        let mode = self
            .configured()
            .iter()
            .find(|sink| sink.url == url)
            .map(|sink| sink.mode);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        let last_error = loop {
            let Some(mode) = mode else {
                break format!("no [[sinks]] entry has the url {url} any more");
            };
            attempt += 1;
            let posted = {
                // Never closed, so acquiring only waits.
                let _permit = self.inner.posts.acquire().await;
                let span =
                    self.inner.telemetry.as_deref().map(|telemetry| {
                        (telemetry, traces::begin_sink(&queued.event, url, attempt))
                    });
                let context = span.as_ref().map(|(_, span)| &span.context);
                let posted = post(client, url, mode, &queued.event, context).await;
                if let Some((telemetry, mut span)) = span {
                    let outcome = posted.as_ref().map(|_| ()).map_err(|e| e.message.as_str());
                    traces::end_sink(&mut span, outcome);
                    telemetry.record(span);
                }
                posted
            };
            let error = match posted {
                Ok(()) => {
                    self.inner.metrics.sink_delivered();
                    tracing::debug!(sink = url, event_id = %queued.event.id, attempt, "event delivered to sink");
                    if let Err(error) = self.inner.store.acknowledge(&key) {
                        tracing::error!(sink = url, event_id = %queued.event.id, %error, "cannot remove a delivered event from the sink queue");
                    }
                    self.done(&key);
                    return;
                }
                Err(error) => error,
            };
            self.inner.metrics.sink_failed_attempt();
            tracing::warn!(sink = url, event_id = %queued.event.id, attempt, error = %error.message, "sink delivery failed");
            if !error.retry || attempt >= MAX_ATTEMPTS {
                break error.message;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        self.inner.metrics.sink_dead_lettered();
        let letter = DeadLetter {
            id: swirl_core::ids::new_id(),
            sink: queued.sink.clone(),
            attempts: attempt,
            last_error,
            queued_at: queued.queued_at,
            failed_at: now(),
            event: queued.event,
        };
        let store = self.inner.store.clone();
        let buried = tokio::task::spawn_blocking(move || {
            store.bury(&key, letter.id.as_bytes(), &encode(&letter)?)?;
            Ok::<_, StoreError>(key)
        })
        .await;
        match buried {
            Ok(Ok(key)) => {
                self.done(&key);
                self.trim_dead_letters();
            }
            // The entry stays queued and is retried after a restart.
            Ok(Err(error)) => {
                tracing::error!(sink = url, %error, "cannot move an event to the dead letters")
            }
            Err(error) => tracing::error!(sink = url, %error, "the dead-letter task failed"),
        }
    }

    fn done(&self, key: &[u8]) {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Drops the oldest dead letters beyond the limit.
    fn trim_dead_letters(&self) {
        let limit = self.inner.max_dead_letters;
        if self.inner.dead_letters.fetch_add(1, Ordering::Relaxed) < limit {
            return;
        }
        if let Ok(Some(oldest)) = self.inner.store.oldest_dead_letter()
            && self
                .inner
                .store
                .delete_dead_letter(&oldest)
                .unwrap_or(false)
        {
            self.inner.dead_letters.fetch_sub(1, Ordering::Relaxed);
            self.inner.metrics.dead_letters_dropped(DropReason::Cap, 1);
            tracing::warn!(
                limit,
                "dropped the oldest dead letter: at most {limit} are kept (--dead-letter-max)"
            );
        }
    }

    /// Deletes up to `limit` dead letters given up on before `cutoff_ms`
    /// (their ids are time-ordered); returns how many.
    pub fn expire_dead_letters(&self, cutoff_ms: u64, limit: usize) -> Result<usize, StoreError> {
        let bound = swirl_core::ids::prefix_at(cutoff_ms);
        let expired = self
            .inner
            .store
            .forget_dead_letters_before(bound.as_bytes(), limit)?;
        if expired > 0 {
            self.inner
                .dead_letters
                .fetch_sub(expired, Ordering::Relaxed);
            self.inner
                .metrics
                .dead_letters_dropped(DropReason::Age, expired as u64);
        }
        Ok(expired)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt {
        key: String::new(),
        reason: format!("cannot encode: {error}"),
    })
}

struct PostError {
    message: String,
    retry: bool,
}

/// POSTs `event` to `url` in `mode`, with `trace`'s `traceparent` and
/// `tracestate` headers when given.
async fn post(
    client: &Client,
    url: &str,
    mode: SinkMode,
    event: &OutboxEvent,
    trace: Option<&TraceContext>,
) -> Result<(), PostError> {
    let fail = |message: String, retry: bool| PostError { message, retry };
    let mut request = match mode {
        SinkMode::Binary => binary_request(url, event),
        SinkMode::Structured => structured_request(url, event),
    }
    .timeout(REQUEST_TIMEOUT);
    if let Some(trace) = trace {
        // Both are ASCII by construction (a parsed tracestate is printable ASCII).
        request = request.header("traceparent", &trace.traceparent());
        if !trace.state.is_empty() {
            request = request.header("tracestate", &trace.state);
        }
    }
    let answer = client.send(request).await.map_err(|error| {
        // A request that is not valid HTTP would not become so on a retry.
        let retry = !matches!(error, swirl_client::Error::Invalid { .. });
        fail(error.to_string(), retry)
    })?;
    let status = answer.status;
    if status.is_success() {
        return Ok(());
    }
    let retry = !status.is_client_error() || status.as_u16() == 408 || status.as_u16() == 429;
    Err(fail(format!("the sink answered {status}"), retry))
}

/// The event's attributes and its data. No extension has the name of a context
/// attribute: `emit` refuses those, and a workflow's produced events carry
/// the extensions of the events it consumed.
fn attributes(event: &OutboxEvent) -> (Vec<(&str, Cow<'_, str>)>, Option<&Value>) {
    let mut attributes = vec![
        ("specversion", Cow::from("1.0")),
        ("id", Cow::from(event.id.as_str())),
        ("source", Cow::from(event.source.as_str())),
        ("type", Cow::from(event.event_type.as_str())),
        ("time", Cow::from(rfc3339(event.time_ms))),
    ];
    if let Some(subject) = &event.subject {
        attributes.push(("subject", Cow::from(subject.as_str())));
    }
    attributes.extend(
        event
            .extensions
            .iter()
            .map(|(name, value)| (name.as_str(), Cow::from(value.as_str()))),
    );
    (attributes, event.data.as_ref())
}

/// Attributes in `ce-` headers, percent-encoded; the data as the body.
fn binary_request(url: &str, event: &OutboxEvent) -> Request {
    let (attributes, data) = attributes(event);
    let mut request = Request::post(url);
    for (name, value) in &attributes {
        request = request.header(&format!("ce-{name}"), &header_value::encode(value));
    }
    match data {
        Some(data) => request.json(data),
        None => request,
    }
}

/// The whole event as one JSON object.
fn structured_request(url: &str, event: &OutboxEvent) -> Request {
    let (attributes, data) = attributes(event);
    let mut object: serde_json::Map<String, Value> = attributes
        .into_iter()
        .map(|(name, value)| (name.to_string(), Value::String(value.into_owned())))
        .collect();
    if let Some(data) = data {
        object.insert("datacontenttype".into(), "application/json".into());
        object.insert("data".into(), data.clone());
    }
    Request::post(url)
        .header("content-type", "application/cloudevents+json")
        .body(Value::Object(object).to_string())
}
