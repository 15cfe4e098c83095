//! The background exporter: one thread that takes runs' traces and spans
//! from a bounded queue, makes and batches the spans, and POSTs them to the
//! OTLP/HTTP endpoint. Whoever records never waits: past the queue's
//! bound, spans are dropped and counted, and a failed export is counted
//! and logged, not retried (the next batch goes on).
//!
//! A batch leaves when it is full (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`) or
//! `OTEL_BSP_SCHEDULE_DELAY` after its first span, and on [`Exporter::flush`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::config::Config;
use super::span::Span;
use super::{otlp, runs};
use swirl_engine::tracer::RunTrace;

/// Counters of what became of the spans, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Spans the endpoint accepted.
    pub exported: AtomicU64,
    /// Spans dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Spans of exports that failed (no answer, or not 2xx).
    pub failed: AtomicU64,
}

/// What goes through the queue.
enum Item {
    Run(Box<RunTrace>, usize),
    Span(Box<Span>),
    Flush(mpsc::Sender<()>),
}

pub struct Exporter {
    queue: mpsc::Sender<Item>,
    /// Spans in the queue, as counted when they were queued.
    queued: Arc<AtomicUsize>,
    max_queue: usize,
    counters: Arc<Counters>,
}

impl Exporter {
    /// Starts the exporting thread.
    pub fn start(config: Config) -> std::io::Result<Self> {
        let (queue, items) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let counters = Arc::new(Counters::default());
        let max_queue = config.max_queue;
        let worker = Worker {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(config.timeout))
                .http_status_as_error(false)
                .build()
                .into(),
            config,
            queued: queued.clone(),
            counters: counters.clone(),
            batch: Vec::new(),
            last_warning: None,
        };
        std::thread::Builder::new()
            .name("swirl-traces".into())
            .spawn(move || worker.run(items))?;
        Ok(Exporter {
            queue,
            queued,
            max_queue,
            counters,
        })
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The queue's bound, in spans.
    pub fn max_queue(&self) -> usize {
        self.max_queue
    }

    /// Queues the spans of a run.
    pub fn run(&self, run: RunTrace) {
        let count = runs::span_count(&run);
        self.queue(Item::Run(Box::new(run), count), count);
    }

    /// Queues one span.
    pub fn span(&self, span: Span) {
        self.queue(Item::Span(Box::new(span)), 1);
    }

    fn queue(&self, item: Item, count: usize) {
        let before = self.queued.fetch_add(count, Ordering::Relaxed);
        if before + count > self.max_queue {
            self.queued.fetch_sub(count, Ordering::Relaxed);
            self.counters
                .dropped
                .fetch_add(count as u64, Ordering::Relaxed);
            return;
        }
        if self.queue.send(item).is_err() {
            self.queued.fetch_sub(count, Ordering::Relaxed);
        }
    }

    /// Exports everything queued so far; waits for that at most `timeout`.
    /// `false` when it did not finish in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = mpsc::channel();
        self.queue.send(Item::Flush(done)).is_ok() && wait.recv_timeout(timeout).is_ok()
    }
}

struct Worker {
    agent: ureq::Agent,
    config: Config,
    queued: Arc<AtomicUsize>,
    counters: Arc<Counters>,
    batch: Vec<Span>,
    /// When a failed export was last logged: at most one warning a minute.
    last_warning: Option<Instant>,
}

/// Failed exports are logged at most this often.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

impl Worker {
    fn run(mut self, items: mpsc::Receiver<Item>) {
        // When the oldest span of the batch must leave.
        let mut due: Option<Instant> = None;
        loop {
            let item = match due {
                None => items
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(due) => items.recv_timeout(due.saturating_duration_since(Instant::now())),
            };
            match item {
                Ok(Item::Run(run, count)) => {
                    self.queued.fetch_sub(count, Ordering::Relaxed);
                    self.batch.extend(runs::spans(&run));
                }
                Ok(Item::Span(span)) => {
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                    self.batch.push(*span);
                }
                Ok(Item::Flush(done)) => {
                    self.export_all();
                    due = None;
                    let _ = done.send(());
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.export_all();
                    due = None;
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.export_all();
                    return;
                }
            }
            while self.batch.len() >= self.config.max_batch {
                let rest = self.batch.split_off(self.config.max_batch);
                let full = std::mem::replace(&mut self.batch, rest);
                self.export(&full);
            }
            if self.batch.is_empty() {
                due = None;
            } else if due.is_none() {
                due = Some(Instant::now() + self.config.delay);
            }
        }
    }

    fn export_all(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        for chunk in batch.chunks(self.config.max_batch) {
            self.export(chunk);
        }
    }

    fn export(&mut self, spans: &[Span]) {
        if spans.is_empty() {
            return;
        }
        let body = otlp::encode(&self.config.resource, spans);
        let mut request = self
            .agent
            .post(&self.config.endpoint)
            .header("content-type", "application/x-protobuf");
        for (name, value) in &self.config.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let failure = match request.send(&body[..]) {
            Ok(response) if response.status().is_success() => {
                self.counters
                    .exported
                    .fetch_add(spans.len() as u64, Ordering::Relaxed);
                return;
            }
            Ok(response) => format!("the endpoint answered {}", response.status()),
            Err(error) => error.to_string(),
        };
        self.counters
            .failed
            .fetch_add(spans.len() as u64, Ordering::Relaxed);
        if self
            .last_warning
            .is_none_or(|last| last.elapsed() >= WARNING_INTERVAL)
        {
            self.last_warning = Some(Instant::now());
            tracing::warn!(
                endpoint = %self.config.endpoint,
                spans = spans.len(),
                error = %failure,
                "cannot export spans; they are dropped (swirl_trace_spans_failed_total counts them; this is logged at most once a minute)"
            );
        }
    }
}
