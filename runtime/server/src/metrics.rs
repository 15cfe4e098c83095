//! `GET /metrics`: Prometheus text exposition of what the server counts
//! (events) and what the engine and the function host already know
//! (instances by status; invocations, starts and durations per function
//! version loaded, labelled with the function and the version's number,
//! so that a canary can be compared with the version it may replace).
//!
//! Counters kept here are plain atomics; everything else is read at scrape
//! time from counts its owner keeps (instances by status are kept by the
//! engine's commits, not counted by reading records), so neither the hot
//! paths nor a scrape grow with the number of instances; only the store's
//! entries per tree are counted by walking them, at most once per
//! [`swirl_store::stats::COUNT_TTL`]. The store's sync latency is the
//! durable flush that group commit shares. Names follow the
//! Prometheus conventions: counters end in `_total`, durations are in
//! seconds, call durations are a summary (quantiles over the last 1,024
//! calls, `_sum` and `_count` over all).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use swirl_engine::record::Status;
use swirl_function::FunctionStats;
use swirl_store::stats::StoreStats;

/// Every instance status, in the order the metrics and the console list them.
pub const STATUSES: [Status; 6] = [
    Status::Running,
    Status::Waiting,
    Status::Suspended,
    Status::Completed,
    Status::Failed,
    Status::Cancelled,
];

/// Counters of the event ingress and the sinks.
#[derive(Debug, Default)]
pub struct Metrics {
    events_accepted: AtomicU64,
    events_duplicate: AtomicU64,
    events_rejected: AtomicU64,
    sink_delivered: AtomicU64,
    sink_failed_attempts: AtomicU64,
    sink_dead_lettered: AtomicU64,
    events_buffer_full: AtomicU64,
    retention_sweeps: AtomicU64,
    retention_deleted: [AtomicU64; Deleted::ALL.len()],
    dead_letters_dropped: [AtomicU64; 2],
}

/// What a retention sweep deletes, as the `kind` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Instances,
    EventMarks,
    BufferedEvents,
    DeadLetters,
    FunctionVersions,
    Files,
    CodeCache,
}

impl Deleted {
    pub const ALL: [Deleted; 7] = [
        Deleted::Instances,
        Deleted::EventMarks,
        Deleted::BufferedEvents,
        Deleted::DeadLetters,
        Deleted::FunctionVersions,
        Deleted::Files,
        Deleted::CodeCache,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Deleted::Instances => "instances",
            Deleted::EventMarks => "event_marks",
            Deleted::BufferedEvents => "buffered_events",
            Deleted::DeadLetters => "dead_letters",
            Deleted::FunctionVersions => "function_versions",
            Deleted::Files => "files",
            Deleted::CodeCache => "code_cache",
        }
    }
}

/// Why a dead letter was dropped without a replay or a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// One more would pass `--dead-letter-max`: the oldest went.
    Cap = 0,
    /// Older than `--dead-letter-retention`.
    Age = 1,
}

impl Metrics {
    pub fn events_accepted(&self, count: u64) {
        self.events_accepted.fetch_add(count, Ordering::Relaxed);
    }
    pub fn events_duplicate(&self, count: u64) {
        self.events_duplicate.fetch_add(count, Ordering::Relaxed);
    }
    pub fn event_rejected(&self) {
        self.events_rejected.fetch_add(1, Ordering::Relaxed);
    }
    pub fn sink_delivered(&self) {
        self.sink_delivered.fetch_add(1, Ordering::Relaxed);
    }
    pub fn sink_failed_attempt(&self) {
        self.sink_failed_attempts.fetch_add(1, Ordering::Relaxed);
    }
    pub fn sink_dead_lettered(&self) {
        self.sink_dead_lettered.fetch_add(1, Ordering::Relaxed);
    }
    pub fn event_buffer_full(&self) {
        self.events_buffer_full.fetch_add(1, Ordering::Relaxed);
    }
    pub fn retention_swept(&self) {
        self.retention_sweeps.fetch_add(1, Ordering::Relaxed);
    }
    pub fn retention_deleted(&self, kind: Deleted, count: u64) {
        self.retention_deleted[kind as usize].fetch_add(count, Ordering::Relaxed);
    }
    pub fn dead_letters_dropped(&self, reason: DropReason, count: u64) {
        self.dead_letters_dropped[reason as usize].fetch_add(count, Ordering::Relaxed);
    }

    /// The exposition text, given the instance counts, the sink queue and
    /// dead letters, and the function stats of the moment.
    pub fn render(
        &self,
        instances: &HashMap<Status, u64>,
        sinks: SinkGauges,
        functions: &[VersionSeries],
    ) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        };
        counter(
            &mut out,
            "swirl_events_accepted_total",
            "CloudEvents accepted by the ingress (duplicates included).",
            &self.events_accepted,
        );
        counter(
            &mut out,
            "swirl_events_duplicate_total",
            "Accepted CloudEvents that were redeliveries and changed nothing.",
            &self.events_duplicate,
        );
        counter(
            &mut out,
            "swirl_events_rejected_total",
            "Ingress requests refused (bad input, too large, unauthorized).",
            &self.events_rejected,
        );
        counter(
            &mut out,
            "swirl_sink_delivered_total",
            "Produced events delivered to a sink.",
            &self.sink_delivered,
        );
        counter(
            &mut out,
            "swirl_sink_failed_attempts_total",
            "Failed attempts to deliver a produced event to a sink.",
            &self.sink_failed_attempts,
        );
        counter(
            &mut out,
            "swirl_sink_dead_lettered_total",
            "Produced events that exhausted their retries.",
            &self.sink_dead_lettered,
        );
        counter(
            &mut out,
            "swirl_events_buffer_full_total",
            "CloudEvents refused because --buffer-max-events events wait for an instance already.",
            &self.events_buffer_full,
        );
        counter(
            &mut out,
            "swirl_retention_sweeps_total",
            "Retention sweeps run (every --retention-interval).",
            &self.retention_sweeps,
        );
        let name = "swirl_retention_deleted_total";
        let _ = writeln!(
            out,
            "# HELP {name} What retention sweeps deleted, by kind.\n# TYPE {name} counter"
        );
        for kind in Deleted::ALL {
            let value = self.retention_deleted[kind as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{kind=\"{}\"}} {value}", kind.as_str());
        }
        let name = "swirl_dead_letters_dropped_total";
        let _ = writeln!(
            out,
            "# HELP {name} Dead letters dropped unreplayed: beyond --dead-letter-max (cap) or older than --dead-letter-retention (age).\n# TYPE {name} counter"
        );
        for (reason, label) in [(DropReason::Cap, "cap"), (DropReason::Age, "age")] {
            let value = self.dead_letters_dropped[reason as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{reason=\"{label}\"}} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP swirl_sink_queue Produced events waiting for a sink (being sent or between retries).\n# TYPE swirl_sink_queue gauge\nswirl_sink_queue {}",
            sinks.queued
        );
        let _ = writeln!(
            out,
            "# HELP swirl_dead_letters Produced events kept as dead letters.\n# TYPE swirl_dead_letters gauge\nswirl_dead_letters {}",
            sinks.dead_letters
        );
        let _ = writeln!(
            out,
            "# HELP swirl_instances Workflow instances by status.\n# TYPE swirl_instances gauge"
        );
        for status in STATUSES {
            let count = instances.get(&status).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "swirl_instances{{status=\"{}\"}} {count}",
                status.as_str()
            );
        }
        let families: [Family; 5] = [
            (
                "swirl_function_invocations_total",
                "counter",
                "Function calls.",
                |s| s.invocations,
            ),
            (
                "swirl_function_failures_total",
                "counter",
                "Function calls that failed.",
                |s| s.failures,
            ),
            (
                "swirl_function_cold_starts_total",
                "counter",
                "Calls that instantiated a new instance.",
                |s| s.cold_starts,
            ),
            (
                "swirl_function_warm_starts_total",
                "counter",
                "Calls served by a warm instance.",
                |s| s.warm_starts,
            ),
            (
                "swirl_function_busy_total",
                "counter",
                "Calls refused with SYS.Busy.",
                |s| s.busy,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for series in functions {
                let _ = writeln!(
                    out,
                    "{name}{{{}}} {}",
                    series.labels(),
                    value(&series.stats)
                );
            }
        }
        let name = "swirl_function_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Function call duration; quantiles over the last 1024 calls.\n# TYPE {name} summary"
        );
        let seconds = |micros: u64| micros as f64 / 1e6;
        for series in functions {
            let (labels, stats) = (series.labels(), &series.stats);
            for (quantile, micros) in [("0.5", stats.p50_micros), ("0.99", stats.p99_micros)] {
                let _ = writeln!(
                    out,
                    "{name}{{{labels},quantile=\"{quantile}\"}} {}",
                    seconds(micros)
                );
            }
            let _ = writeln!(
                out,
                "{name}_sum{{{labels}}} {}\n{name}_count{{{labels}}} {}",
                seconds(stats.total_micros),
                stats.invocations
            );
        }
        out
    }
}

/// The store's series: its size on disk, entries per tree, and its
/// durable flushes (the group commit's sync) as a summary in seconds.
pub fn render_store(stats: &StoreStats) -> String {
    let mut out = String::new();
    let name = "swirl_store_disk_bytes";
    let _ = writeln!(
        out,
        "# HELP {name} Bytes the data directory occupies on disk: sled's database and the store's own files.\n# TYPE {name} gauge"
    );
    let _ = writeln!(out, "{name}{{part=\"db\"}} {}", stats.db_bytes);
    let _ = writeln!(out, "{name}{{part=\"files\"}} {}", stats.files_bytes);
    let name = "swirl_store_entries";
    let _ = writeln!(
        out,
        "# HELP {name} Entries per tree of the store (counted at most every {} s).\n# TYPE {name} gauge",
        swirl_store::stats::COUNT_TTL.as_secs()
    );
    for (tree, count) in &stats.trees {
        let _ = writeln!(out, "{name}{{tree=\"{tree}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP swirl_buffered_events Events kept until an instance waits for them (at most --buffer-max-events).\n# TYPE swirl_buffered_events gauge\nswirl_buffered_events {}",
        stats.buffered_events
    );
    let name = "swirl_store_sync_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Durable flushes of the store (sled's flush and the syncs after it), shared by group commit; quantiles over the last {} flushes.\n# TYPE {name} summary",
        swirl_store::stats::SYNC_WINDOW
    );
    let sync = &stats.sync;
    let seconds = |micros: u64| micros as f64 / 1e6;
    for (quantile, micros) in [("0.5", sync.p50_micros), ("0.99", sync.p99_micros)] {
        let _ = writeln!(out, "{name}{{quantile=\"{quantile}\"}} {}", seconds(micros));
    }
    let _ = writeln!(
        out,
        "{name}_sum {}\n{name}_count {}",
        seconds(sync.total_micros),
        sync.count
    );
    out
}

/// The statistics of one loaded function version.
#[derive(Debug, Clone)]
pub struct VersionSeries {
    pub function: String,
    /// The version's number, or its id when it has none.
    pub version: String,
    pub stats: FunctionStats,
}

impl VersionSeries {
    fn labels(&self) -> String {
        format!(
            "function=\"{}\",version=\"{}\"",
            escape_label(&self.function),
            escape_label(&self.version)
        )
    }
}

/// The sinks' backlog at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkGauges {
    pub queued: usize,
    pub dead_letters: usize,
}

/// A per-function metric: name, kind, help and how to read it from stats.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&FunctionStats) -> u64,
);

/// A label value as the exposition format quotes it.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The traces' series: spans exported, dropped because the exporter's queue
/// was full, and failed to export, and the queue's bound (all zero when
/// traces are off).
pub fn render_traces(stats: Option<swirl_telemetry::Stats>) -> String {
    let mut out = String::new();
    let (exported, dropped, failed, capacity) = stats.map_or((0, 0, 0, 0), |s| {
        (s.exported, s.dropped, s.failed, s.max_queue)
    });
    for (name, help, value) in [
        (
            "swirl_trace_spans_exported_total",
            "Spans the OTLP endpoint accepted.",
            exported,
        ),
        (
            "swirl_trace_spans_dropped_total",
            "Spans dropped because the export queue was full (OTEL_BSP_MAX_QUEUE_SIZE).",
            dropped,
        ),
        (
            "swirl_trace_spans_failed_total",
            "Spans whose export failed (no answer, or not 2xx).",
            failed,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let name = "swirl_trace_queue_capacity";
    let _ = writeln!(
        out,
        "# HELP {name} Spans the export queue holds at most; 0 when traces are off.\n# TYPE {name} gauge\n{name} {capacity}"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_instance_gauges() {
        let metrics = Metrics::default();
        metrics.events_accepted(3);
        metrics.events_duplicate(1);
        metrics.event_rejected();
        metrics.retention_deleted(Deleted::Files, 4);
        metrics.dead_letters_dropped(DropReason::Age, 2);
        let text = metrics.render(
            &HashMap::from([(Status::Waiting, 2)]),
            SinkGauges {
                queued: 1,
                dead_letters: 3,
            },
            &[],
        );
        assert!(text.contains("swirl_events_accepted_total 3\n"), "{text}");
        assert!(text.contains("swirl_events_duplicate_total 1\n"));
        assert!(text.contains("swirl_events_rejected_total 1\n"));
        assert!(text.contains("swirl_instances{status=\"waiting\"} 2\n"));
        assert!(text.contains("swirl_instances{status=\"failed\"} 0\n"));
        assert!(text.contains("swirl_dead_letters 3\n"));
        assert!(text.contains("swirl_sink_queue 1\n"));
        assert!(text.contains("swirl_retention_deleted_total{kind=\"files\"} 4\n"));
        assert!(text.contains("swirl_retention_deleted_total{kind=\"instances\"} 0\n"));
        assert!(text.contains("swirl_dead_letters_dropped_total{reason=\"age\"} 2\n"));
    }

    #[test]
    fn call_durations_are_a_summary_in_seconds() {
        let stats = FunctionStats {
            version: "v1".into(),
            from_cache: false,
            invocations: 4,
            failures: 0,
            cold_starts: 1,
            warm_starts: 3,
            busy: 0,
            live_instances: 1,
            idle_instances: 1,
            p50_micros: 1_500,
            p99_micros: 20_000,
            total_micros: 30_000,
        };
        let text = Metrics::default().render(
            &HashMap::new(),
            SinkGauges::default(),
            &[VersionSeries {
                function: "f".into(),
                version: "2".into(),
                stats,
            }],
        );
        for line in [
            "# TYPE swirl_function_duration_seconds summary\n",
            "swirl_function_duration_seconds{function=\"f\",version=\"2\",quantile=\"0.5\"} 0.0015\n",
            "swirl_function_duration_seconds{function=\"f\",version=\"2\",quantile=\"0.99\"} 0.02\n",
            "swirl_function_duration_seconds_sum{function=\"f\",version=\"2\"} 0.03\n",
            "swirl_function_duration_seconds_count{function=\"f\",version=\"2\"} 4\n",
            "swirl_function_invocations_total{function=\"f\",version=\"2\"} 4\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            if line.ends_with(" counter") {
                assert!(
                    line.split(' ').nth(2).unwrap().ends_with("_total"),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn store_series_are_gauges_and_a_sync_summary() {
        let stats = StoreStats {
            db_bytes: 4096,
            files_bytes: 0,
            trees: vec![("instances", 3), ("history", 7)],
            buffered_events: 2,
            sync: swirl_store::stats::SyncSummary {
                p50_micros: 250,
                p99_micros: 4_000,
                count: 9,
                total_micros: 9_000,
            },
        };
        let text = render_store(&stats);
        for line in [
            "swirl_store_disk_bytes{part=\"db\"} 4096\n",
            "swirl_store_entries{tree=\"history\"} 7\n",
            "swirl_buffered_events 2\n",
            "# TYPE swirl_store_sync_seconds summary\n",
            "swirl_store_sync_seconds{quantile=\"0.5\"} 0.00025\n",
            "swirl_store_sync_seconds{quantile=\"0.99\"} 0.004\n",
            "swirl_store_sync_seconds_sum 0.009\n",
            "swirl_store_sync_seconds_count 9\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
