//! Produced events out: to the `[[sinks]]` of the manifests, as HTTP
//! binary-mode CloudEvents, with retries, backoff and a dead-letter list.
//!
//! ```text
//!  engine.take_produced() ─┐ (polled)
//!  function emit ──────────┼─▶ channel ─▶ dispatcher ─▶ one task per (event, sink)
//!                          │                              │ POST, retry with backoff
//!  POST /dead-letters/…/replay ─┘                         └─▶ dead letters when retries run out
//! ```
//!
//! Each event gets a runtime-assigned `id`, `time` and, when its producer
//! gave none, `source`. A 2xx answer is a delivery; a 4xx other than 408 and
//! 429 is the sink refusing the event, which retrying would not change, so
//! it goes straight to the dead letters; anything else is retried.
//!
//! Delivery is at-least-once while the server runs. The queue and the dead
//! letters are kept in memory (at most [`MAX_DEAD_LETTERS`]): events in
//! flight when the server stops are not delivered after a restart.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::metrics::Metrics;
use crate::manifest::SinkManifest;

/// Attempts per event and sink before it becomes a dead letter.
pub const MAX_ATTEMPTS: u32 = 5;
/// Wait before the first retry; doubled for each later one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Time allowed for one POST.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Dead letters kept; the oldest go first.
pub const MAX_DEAD_LETTERS: usize = 10_000;
/// How often produced events are collected from the engine.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The source of events whose producer named none.
pub const DEFAULT_SOURCE: &str = "swirl";

/// A CloudEvent on its way out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingEvent {
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// JSON data; bytes that are not JSON travel as a JSON string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    pub extensions: BTreeMap<String, String>,
}

impl OutgoingEvent {
    pub fn new(
        source: &str,
        event_type: &str,
        subject: Option<String>,
        data: Option<Value>,
        extensions: BTreeMap<String, String>,
    ) -> Self {
        OutgoingEvent {
            id: crate::ids::new_id(),
            source: if source.is_empty() {
                DEFAULT_SOURCE.to_string()
            } else {
                source.to_string()
            },
            event_type: event_type.to_string(),
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            subject,
            data,
            extensions,
        }
    }
}

/// An event that a sink did not take.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: String,
    pub sink: String,
    /// Which `[[sinks]]` entry: two entries may share a url.
    #[serde(skip)]
    sink_index: usize,
    pub attempts: u32,
    pub last_error: String,
    pub at: String,
    pub event: OutgoingEvent,
}

struct Job {
    event: OutgoingEvent,
    /// Only this sink, by index (a replay); every matching sink otherwise.
    sink: Option<usize>,
}

/// The sinks of the running server.
#[derive(Clone)]
pub struct Sinks {
    inner: Arc<Inner>,
}

struct Inner {
    sinks: Vec<SinkManifest>,
    queue: mpsc::UnboundedSender<Job>,
    dead: Mutex<VecDeque<DeadLetter>>,
    metrics: Arc<Metrics>,
}

impl Sinks {
    /// Starts the dispatcher on the current tokio runtime.
    pub fn start(sinks: Vec<SinkManifest>, metrics: Arc<Metrics>) -> Self {
        let (queue, mut jobs) = mpsc::unbounded_channel::<Job>();
        let this = Sinks {
            inner: Arc::new(Inner {
                sinks,
                queue,
                dead: Mutex::new(VecDeque::new()),
                metrics,
            }),
        };
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let dispatcher = this.clone();
        tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                for (index, sink) in dispatcher.inner.sinks.iter().enumerate() {
                    let wanted = match job.sink {
                        Some(only) => only == index,
                        None => sink
                            .event_type
                            .as_deref()
                            .is_none_or(|t| t == job.event.event_type),
                    };
                    if wanted {
                        let (this, client, event) =
                            (dispatcher.clone(), client.clone(), job.event.clone());
                        tokio::spawn(async move { this.deliver(&client, index, event).await });
                    }
                }
            }
        });
        this
    }

    pub fn is_empty(&self) -> bool {
        self.inner.sinks.is_empty()
    }

    /// Queues `event` for every sink whose filter it passes.
    pub fn send(&self, event: OutgoingEvent) {
        if self.is_empty() {
            return;
        }
        let _ = self.inner.queue.send(Job { event, sink: None });
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead().iter().cloned().collect()
    }

    /// Takes dead letter `id` off the list and tries its sink again;
    /// `false` when there is no such dead letter.
    pub fn replay(&self, id: &str) -> bool {
        let letter = {
            let mut dead = self.dead();
            let Some(index) = dead.iter().position(|letter| letter.id == id) else {
                return false;
            };
            dead.remove(index)
        };
        if let Some(letter) = letter {
            let _ = self.inner.queue.send(Job {
                event: letter.event,
                sink: Some(letter.sink_index),
            });
        }
        true
    }

    fn dead(&self) -> std::sync::MutexGuard<'_, VecDeque<DeadLetter>> {
        self.inner.dead.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn deliver(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        sink_index: usize,
        event: OutgoingEvent,
    ) {
        let sink = self.inner.sinks[sink_index].url.as_str();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        let last_error = loop {
            attempt += 1;
            let error = match post(client, sink, &event).await {
                Ok(()) => {
                    self.inner.metrics.sink_delivered();
                    tracing::debug!(sink, event_id = %event.id, attempt, "event delivered to sink");
                    return;
                }
                Err(error) => error,
            };
            self.inner.metrics.sink_failed_attempt();
            tracing::warn!(sink, event_id = %event.id, attempt, error = %error.message, "sink delivery failed");
            if !error.retry || attempt >= MAX_ATTEMPTS {
                break error.message;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        self.inner.metrics.sink_dead_lettered();
        let mut dead = self.dead();
        if dead.len() == MAX_DEAD_LETTERS {
            dead.pop_front();
        }
        dead.push_back(DeadLetter {
            id: crate::ids::new_id(),
            sink: sink.to_string(),
            sink_index,
            attempts: attempt,
            last_error,
            at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            event,
        });
    }
}

struct PostError {
    message: String,
    retry: bool,
}

/// POSTs `event` to `url` in binary mode.
async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    event: &OutgoingEvent,
) -> Result<(), PostError> {
    let fail = |message: String, retry: bool| PostError { message, retry };
    let mut request = hyper::Request::post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", &event.id)
        .header("ce-source", &event.source)
        .header("ce-type", &event.event_type)
        .header("ce-time", &event.time);
    if let Some(subject) = &event.subject {
        request = request.header("ce-subject", subject);
    }
    for (name, value) in &event.extensions {
        request = request.header(format!("ce-{name}"), value);
    }
    let body = match &event.data {
        Some(data) => {
            request = request.header("content-type", "application/json");
            Bytes::from(data.to_string())
        }
        None => Bytes::new(),
    };
    let request = request
        .body(Full::new(body))
        .map_err(|error| fail(format!("cannot build the request: {error}"), false))?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .map_err(|_| fail(format!("no answer within {REQUEST_TIMEOUT:?}"), true))?
        .map_err(|error| fail(format!("cannot reach the sink: {error}"), true))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry = !status.is_client_error() || status.as_u16() == 408 || status.as_u16() == 429;
    Err(fail(format!("the sink answered {status}"), retry))
}
