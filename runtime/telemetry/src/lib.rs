//! swirl's OpenTelemetry traces: spans of instances, runs, states and
//! tasks, function calls, event deliveries and sink deliveries, exported
//! with OTLP/HTTP (protobuf) by a background thread.
//!
//! ```text
//!  engine run ──RunTrace──▶ Telemetry (the engine's Tracer) ─┐
//!  server: event delivery, sink delivery ──Span──────────────┤ bounded queue (spans dropped past it, counted)
//!                                                            ▼
//!                          exporter thread: spans of runs (runs.rs), batches, OTLP protobuf (otlp.rs), POST
//! ```
//!
//! Off unless the standard `OTEL_EXPORTER_OTLP_*` variables name an
//! endpoint ([`config`]); off, nothing of this is built, and the engine and
//! server skip every tracing step. The engine does no export IO: it
//! reports runs through [`Tracer`]; the server records its own spans
//! with [`Telemetry::record`].

// Nothing a network peer, an event sender or a guest sends may panic the
// server: outside tests, `unwrap`, `expect` and `panic!` are refused here.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
mod export;
pub mod otlp;
pub mod runs;
pub mod span;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::{Config, ConfigError};
pub use span::{Span, SpanKind, Status};
pub use swirl_engine::tracer::now_ns;
use swirl_engine::tracer::{RunTrace, Tracer};

/// The traces of one process: cheap to share, one exporting thread.
pub struct Telemetry {
    exporter: export::Exporter,
}

/// What became of the spans so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub exported: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
    /// Their export failed.
    pub failed: u64,
    /// The queue's bound, in spans.
    pub max_queue: usize,
}

impl Telemetry {
    /// Traces as the process environment's `OTEL_*` variables say: `None`
    /// when they are off.
    pub fn from_env() -> Result<Option<Arc<Telemetry>>, StartError> {
        match Config::from_env(|name| std::env::var(name).ok())? {
            Some(config) => Ok(Some(Telemetry::start(config)?)),
            None => Ok(None),
        }
    }

    /// Starts exporting as `config` says.
    pub fn start(config: Config) -> Result<Arc<Telemetry>, StartError> {
        tracing::info!(
            endpoint = %config.endpoint,
            queue = config.max_queue,
            batch = config.max_batch,
            delay_ms = config.delay.as_millis() as u64,
            "exporting traces with OTLP/HTTP"
        );
        let exporter = export::Exporter::start(config).map_err(StartError::Thread)?;
        Ok(Arc::new(Telemetry { exporter }))
    }

    /// Queues a finished span for export; never waits. A span of a trace
    /// its caller did not sample (`traceparent` flags `00`) is dropped here.
    pub fn record(&self, span: Span) {
        if span.context.sampled() {
            self.exporter.span(span);
        }
    }

    pub fn stats(&self) -> Stats {
        let counters = self.exporter.counters();
        Stats {
            exported: counters.exported.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            max_queue: self.exporter.max_queue(),
        }
    }

    /// Exports what is queued, waiting at most `timeout` (at shutdown).
    pub fn flush(&self, timeout: Duration) -> bool {
        self.exporter.flush(timeout)
    }
}

impl Tracer for Telemetry {
    fn run(&self, run: RunTrace) {
        if run.instance.sampled() {
            self.exporter.run(run);
        }
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Why traces cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start the thread that exports traces: {0}")]
    Thread(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use swirl_core::trace_context::TraceContext;

    /// Only sampled spans are sent: with nothing listening at the
    /// endpoint, a sent span counts as failed, a dropped one as nothing.
    #[test]
    fn spans_of_unsampled_traces_are_not_sent() {
        let endpoint = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", endpoint.local_addr().unwrap());
        drop(endpoint);
        let config =
            Config::from_env(|name| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| url.clone()))
                .unwrap()
                .unwrap();
        let telemetry = Telemetry::start(config).unwrap();
        let span = |flags| {
            let context = TraceContext {
                flags,
                ..TraceContext::root()
            };
            Span::new("s", context, None, SpanKind::Internal, 1)
        };
        telemetry.record(span(0));
        assert!(telemetry.flush(Duration::from_secs(10)));
        assert_eq!(
            (telemetry.stats().failed, telemetry.stats().exported),
            (0, 0)
        );
        telemetry.record(span(1));
        assert!(telemetry.flush(Duration::from_secs(10)));
        assert_eq!(telemetry.stats().failed, 1);
    }
}
