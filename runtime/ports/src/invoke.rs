//! Calling out of a run: a function of the app ([`Invoker::invoke`]), or a
//! 1.0 protocol request ([`Invoker::request`]). The invoker runs on the
//! run's thread and blocks it for the call's duration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

pub use crate::kv::KvWrites;

/// What a run calls: the app's functions and the outside world.
pub trait Invoker: Send + Sync {
    /// Calls `function` at `version`, or at its current version when `None`.
    /// `Err` is a failure to call at all (no such function or version); a
    /// call that ran and failed is an [`Invocation`] whose outcome is `Err`.
    fn invoke(
        &self,
        function: &str,
        version: Option<&str>,
        call: Call,
    ) -> Result<Invocation, InvokeError>;

    /// The current version of each of `functions` that is deployed; those
    /// not deployed are left out.
    fn current_versions(
        &self,
        functions: &mut dyn Iterator<Item = &str>,
    ) -> BTreeMap<String, String>;

    /// Makes a 1.0 protocol call (`http`, `openapi`) of an instance of
    /// `workflow` with the task's arguments, answering its output.
    fn request(
        &self,
        workflow: &str,
        protocol: &str,
        arguments: &Value,
    ) -> Result<Value, RequestError>;
}

/// Why a function could not be called at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvokeError(pub String);

/// Why a protocol request failed, as 1.0's standard errors tell it apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The call's arguments are unusable (`validation`).
    #[error("{0}")]
    Invalid(String),
    /// The server answered with an error status (`communication`, with it).
    #[error("{detail}")]
    Status { status: u16, detail: String },
    /// The workflow may not call that host (`authorization`).
    #[error("{0}")]
    Forbidden(String),
    /// No answer: connection, TLS, timeout or a body too large (`communication`).
    #[error("{0}")]
    Transport(String),
}

/// One call of a function: its JSON input and where it comes from.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// The JSON input document.
    pub input: Vec<u8>,
    /// The workflow definition that calls, if any.
    pub workflow_id: Option<String>,
    /// The workflow instance that calls, if any.
    pub instance_id: Option<String>,
    /// The state whose action calls, if any.
    pub state_name: Option<String>,
    /// Attempt number, from 1; 0 is read as 1.
    pub attempt: u32,
    /// Hand a successful call's kv writes back in [`Invocation::kv_writes`]
    /// instead of applying them, so the caller can commit them atomically
    /// with its own record of the call (the engine does, per action).
    pub defer_kv_writes: bool,
    /// A shorter timeout for this call (a workflow action's own `timeout`);
    /// the function's manifest timeout still bounds it.
    pub timeout: Option<Duration>,
}

impl Call {
    /// A direct call with `input` as its JSON input.
    pub fn new(input: impl Into<Vec<u8>>) -> Self {
        Call {
            input: input.into(),
            attempt: 1,
            ..Call::default()
        }
    }
}

/// Why a call failed: a code that workflows match on and a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
    /// JSON details the function attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl Failure {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What one call produced.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Unique id of the call, as the function saw it in its context.
    pub id: String,
    /// The function version that ran.
    pub version: String,
    /// The JSON output, or why the call failed.
    pub outcome: Result<Vec<u8>, Failure>,
    /// Log lines of the call: host logs and captured stdout/stderr.
    pub logs: Vec<LogLine>,
    /// Log lines dropped because the call went past the per-call log limit.
    pub dropped_log_lines: u64,
    /// CloudEvents the function emitted.
    pub emitted: Vec<EmittedEvent>,
    /// Time spent in the call, from acquiring an instance to its result.
    pub duration: Duration,
    /// True when no warm instance was available and one was instantiated.
    pub cold_start: bool,
    /// A successful call's kv writes, when the call asked to defer them.
    pub kv_writes: KvWrites,
}

impl Invocation {
    /// A call of `version` that produced `outcome` at once, with no logs,
    /// emitted events or kv writes: what an in-process stand-in answers.
    pub fn immediate(id: String, version: &str, outcome: Result<Vec<u8>, Failure>) -> Self {
        Invocation {
            id,
            version: version.to_string(),
            outcome,
            logs: Vec::new(),
            dropped_log_lines: 0,
            emitted: Vec::new(),
            duration: Duration::ZERO,
            cold_start: false,
            kv_writes: KvWrites::new(),
        }
    }
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// `host.log`.
    Host,
    Stdout,
    Stderr,
}

/// One log line of an invocation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub stream: LogStream,
    pub message: String,
}

/// A CloudEvent a function emitted, before the runtime gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmittedEvent {
    pub event_type: String,
    pub source: String,
    pub subject: Option<String>,
    pub data: Option<Vec<u8>>,
    pub extensions: Vec<(String, String)>,
}
