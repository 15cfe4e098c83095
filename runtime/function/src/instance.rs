//! One live instance of a function and one call into it: sets the call's
//! context and deadline, runs the guest, and turns traps, timeouts and memory
//! exhaustion into failures with the codes workflows match on.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wasmtime::{Store, Trap};

use super::engine::WasmEngine;
use super::host_api::{CallState, Context, Function, FunctionPre, FunctionShared, HostState};
use super::{Call, EmittedEvent, Failure, LogLine, codes};
use swirl_core::time::unix_ms;

/// Largest output a call may return.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

pub(crate) struct Instance {
    store: Store<HostState>,
    bindings: Function,
}

/// The result of one call into an instance.
pub(crate) struct CallResult {
    pub outcome: Result<Vec<u8>, Failure>,
    pub logs: Vec<LogLine>,
    pub dropped_log_lines: u64,
    pub emitted: Vec<EmittedEvent>,
    pub kv_writes: std::collections::BTreeMap<String, Option<Vec<u8>>>,
    /// False when the instance trapped or was interrupted and must be dropped.
    pub reusable: bool,
}

/// Who is calling, as the guest's context tells it.
pub(crate) struct Caller<'a> {
    pub invocation_id: &'a str,
    pub version: &'a str,
    pub timeout: Duration,
}

impl Instance {
    pub fn new(
        pre: &FunctionPre<HostState>,
        shared: &Arc<FunctionShared>,
        memory_limit: u64,
        timeout: Duration,
    ) -> Result<Self, Failure> {
        let engine = pre.instance_pre().engine();
        let state = HostState::new(shared.clone(), memory_limit).map_err(|error| {
            Failure::new(
                codes::FAIL,
                format!("instantiation failed: cannot give the sandbox its root: {error:#}"),
            )
        })?;
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        // Start code (a Rust guest's static initialisers) gets the same
        // deadline as a call.
        store.set_epoch_deadline(WasmEngine::ticks_for(timeout));
        store.epoch_deadline_trap();
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|error| classify(&error, store.data(), timeout, "instantiation"))?;
        Ok(Instance { store, bindings })
    }

    pub fn call(&mut self, caller: &Caller<'_>, call: &Call) -> CallResult {
        let deadline = SystemTime::now() + caller.timeout;
        let data = self.store.data_mut();
        data.call = CallState::default();
        data.limiter.hit = false;
        let context = Context {
            invocation_id: caller.invocation_id.to_string(),
            function_name: data.function.name.clone(),
            function_version: caller.version.to_string(),
            workflow_id: call.workflow_id.clone(),
            instance_id: call.instance_id.clone(),
            state_name: call.state_name.clone(),
            attempt: call.attempt.max(1),
            deadline_ms: unix_ms(deadline),
        };
        self.store
            .set_epoch_deadline(WasmEngine::ticks_for(caller.timeout));
        let result = self
            .bindings
            .call_handle(&mut self.store, &context, &call.input);
        let (outcome, reusable) = match result {
            Ok(Ok(output)) if output.len() > MAX_OUTPUT_BYTES => (
                Err(Failure::new(
                    codes::FAIL,
                    format!(
                        "output of {} bytes is over the {MAX_OUTPUT_BYTES}-byte limit",
                        output.len()
                    ),
                )),
                true,
            ),
            Ok(Ok(output)) => (Ok(output), true),
            Ok(Err(failure)) => (
                Err(Failure {
                    code: failure.code,
                    message: failure.message,
                    details: failure
                        .details
                        .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
                }),
                true,
            ),
            Err(error) => (
                Err(classify(&error, self.store.data(), caller.timeout, "call")),
                false,
            ),
        };
        let data = self.store.data_mut();
        let (logs, dropped_log_lines) = data.lock_log().take();
        let call_state = std::mem::take(&mut data.call);
        let (outcome, reusable) = match (call_state.denied, outcome) {
            // Whatever the guest made of the refusal (an error, a panic), the
            // cause is the sandbox. An instance that went on after it may serve again.
            (Some(denied), _) => (
                Err(Failure::new(codes::PERMISSION, denied.message())),
                reusable,
            ),
            (None, Err(failure)) if !reusable => (Err(with_panic_message(failure, &logs)), false),
            (None, other) => (other, reusable),
        };
        CallResult {
            outcome,
            logs,
            dropped_log_lines,
            emitted: call_state.emitted,
            kv_writes: call_state.kv_writes,
            reusable,
        }
    }
}

/// A trapped Rust guest prints its panic message to stderr just before the
/// trap (`thread '..' panicked at file:line:col:` then the message); quoting
/// it makes the failure say why.
fn with_panic_message(mut failure: Failure, logs: &[LogLine]) -> Failure {
    let stderr: Vec<&str> = logs
        .iter()
        .filter(|line| line.stream == super::LogStream::Stderr)
        .map(|line| line.message.trim())
        .collect();
    let Some(start) = stderr.iter().rposition(|line| line.contains("panicked at")) else {
        return failure;
    };
    let message: Vec<&str> = stderr[start + 1..]
        .iter()
        .take_while(|line| !line.starts_with("note:"))
        .copied()
        .collect();
    let location = stderr[start]
        .split_once("panicked at ")
        .map_or("", |(_, location)| location.trim_end_matches(':'));
    failure.message = format!(
        "{} (panicked at {location}: {})",
        failure.message,
        message.join(" ")
    );
    failure
}

/// Turns a wasmtime error into the failure a workflow sees.
fn classify(
    error: &wasmtime::Error,
    state: &HostState,
    timeout: Duration,
    during: &str,
) -> Failure {
    if state.limiter.hit {
        return Failure::new(
            codes::FAIL,
            format!("{during} failed: {}", root_message(error)),
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Failure::new(
            codes::TIMEOUT,
            format!(
                "{during} timed out after {}",
                humantime::format_duration(timeout)
            ),
        ),
        Some(Trap::StackOverflow) => {
            Failure::new(codes::FAIL, format!("{during} trapped: stack overflow"))
        }
        Some(trap) => Failure::new(codes::FAIL, format!("{during} trapped: {trap}")),
        None => Failure::new(
            codes::FAIL,
            format!("{during} failed: {}", root_message(error)),
        ),
    }
}

fn root_message(error: &wasmtime::Error) -> String {
    error
        .chain()
        .last()
        .map(|cause| cause.to_string())
        .unwrap_or_else(|| error.to_string())
}
