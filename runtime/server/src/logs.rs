//! Recent invocations per function, with their log lines, for
//! `GET /functions/{name}/logs`.
//!
//! A bounded in-memory ring: the last [`RECENT_INVOCATIONS`] invocations of
//! each function, direct calls and workflow actions (with their instance and
//! state, as the engine's observer reports them), each with at most
//! [`LINES_PER_INVOCATION`] log lines. Older ones are dropped; nothing is
//! persisted, because logs are for looking at what just happened, and the
//! durable record of a workflow is its instance history.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use swirl_function::{Invocation, LogLevel, LogStream};

/// Invocations kept per function.
pub const RECENT_INVOCATIONS: usize = 100;
/// Log lines kept per invocation (a call may write up to 1,000).
pub const LINES_PER_INVOCATION: usize = 200;

/// One invocation as the logs endpoint shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationLog {
    pub invocation_id: String,
    pub version: String,
    /// The workflow instance and state of an action's call; absent for a direct call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub at: String,
    pub duration_ms: f64,
    pub cold_start: bool,
    /// `ok`, or the failure's code.
    pub outcome: String,
    pub lines: Vec<Line>,
    /// Lines dropped by the host's per-call limit or by this ring's.
    pub dropped_lines: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub level: &'static str,
    pub stream: &'static str,
    pub message: String,
}

/// The rings of every function.
#[derive(Debug, Default)]
pub struct InvocationLogs {
    rings: Mutex<HashMap<String, VecDeque<InvocationLog>>>,
}

impl InvocationLogs {
    /// Remembers a direct call of `function`, dropping the oldest beyond the bound.
    pub fn record(&self, function: &str, invocation: &Invocation) {
        self.push(function, invocation, None);
    }

    /// Remembers a workflow action's call of `function`.
    pub fn record_action(
        &self,
        function: &str,
        invocation: &Invocation,
        instance_id: &str,
        state: &str,
    ) {
        self.push(function, invocation, Some((instance_id, state)));
    }

    fn push(&self, function: &str, invocation: &Invocation, action: Option<(&str, &str)>) {
        let kept = invocation.logs.len().min(LINES_PER_INVOCATION);
        let entry = InvocationLog {
            invocation_id: invocation.id.clone(),
            version: invocation.version.clone(),
            instance_id: action.map(|(instance, _)| instance.to_string()),
            state: action.map(|(_, state)| state.to_string()),
            at: swirl_core::time::rfc3339(swirl_core::time::now_ms()),
            duration_ms: invocation.duration.as_secs_f64() * 1000.0,
            cold_start: invocation.cold_start,
            outcome: match &invocation.outcome {
                Ok(_) => "ok".to_string(),
                Err(failure) => failure.code.clone(),
            },
            lines: invocation.logs[..kept]
                .iter()
                .map(|line| Line {
                    level: level_name(line.level),
                    stream: stream_name(line.stream),
                    message: line.message.clone(),
                })
                .collect(),
            dropped_lines: invocation.dropped_log_lines + (invocation.logs.len() - kept) as u64,
        };
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        let ring = rings.entry(function.to_string()).or_default();
        if ring.len() == RECENT_INVOCATIONS {
            ring.pop_front();
        }
        ring.push_back(entry);
    }

    /// The recent invocations of `function`, newest first.
    pub fn recent(&self, function: &str) -> Vec<InvocationLog> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings
            .get(function)
            .map(|ring| ring.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

/// Writes the log lines of `invocation` of `function` to the server's log
/// (target `swirl::function`), at their level, with the invocation's id and,
/// for a workflow action, its instance and state as fields.
pub fn to_server_log(function: &str, invocation: &Invocation, action: Option<(&str, &str)>) {
    let (instance_id, state) = action.unzip();
    for line in &invocation.logs {
        macro_rules! log {
            ($level:ident) => {
                tracing::$level!(
                    target: "swirl::function",
                    function,
                    invocation_id = %invocation.id,
                    instance_id,
                    state,
                    stream = stream_name(line.stream),
                    "{}",
                    line.message
                )
            };
        }
        match line.level {
            LogLevel::Trace => log!(trace),
            LogLevel::Debug => log!(debug),
            LogLevel::Info => log!(info),
            LogLevel::Warn => log!(warn),
            LogLevel::Error => log!(error),
        }
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

fn stream_name(stream: LogStream) -> &'static str {
    match stream {
        LogStream::Host => "host",
        LogStream::Stdout => "stdout",
        LogStream::Stderr => "stderr",
    }
}
