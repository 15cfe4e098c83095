//! What a function's instance sees of the host: the store data of an
//! instance, the `host` and `kv` imports, WASI with nothing granted, and the
//! capture of stdout/stderr as log lines.
//!
//! Per-call state (log lines, kv writes, emitted events) lives in
//! [`CallState`] and is reset at the start of every call, so a reused
//! instance never carries one call's effects into the next.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, format_err};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::emit_rules;
use super::sandbox::{Denied, GUEST_ROOT};
use super::{EmittedEvent, KvStore, LogLevel, LogLine, LogStream};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "function",
    imports: { default: trappable },
});

use self::swirl::function::types::{Event, Level};

/// Log lines one call may write; later lines are counted as dropped.
pub const MAX_LOG_LINES_PER_CALL: usize = 1_000;
/// Bytes of log text one call may write.
pub const MAX_LOG_BYTES_PER_CALL: usize = 256 * 1024;
/// A longer log line is cut to this many bytes.
pub const MAX_LOG_LINE_BYTES: usize = 4 * 1024;
/// Events one call may emit; `emit` refuses more.
pub const MAX_EMITS_PER_CALL: usize = 100;
/// Largest event data `emit` accepts.
pub const MAX_EVENT_DATA_BYTES: usize = 1024 * 1024;
/// Longest kv key.
pub const MAX_KV_KEY_BYTES: usize = 1024;
/// Largest kv value.
pub const MAX_KV_VALUE_BYTES: usize = 1024 * 1024;
/// Distinct keys one call may write.
pub const MAX_KV_WRITES_PER_CALL: usize = 1_000;

/// What a function shares across its instances.
pub(crate) struct FunctionShared {
    pub name: String,
    /// The empty directory the guest sees as `/`.
    pub empty_root: Arc<std::path::Path>,
    pub config: BTreeMap<String, String>,
    pub kv: Arc<dyn KvStore>,
}

/// Effects of the call in progress.
#[derive(Default)]
pub(crate) struct CallState {
    pub kv_writes: BTreeMap<String, Option<Vec<u8>>>,
    pub emitted: Vec<EmittedEvent>,
    /// The first thing the sandbox refused this call.
    pub denied: Option<Denied>,
}

/// Log lines of the call in progress, shared with the stdout/stderr pipes.
#[derive(Default)]
pub(crate) struct CallLog {
    pub lines: Vec<LogLine>,
    pub dropped: u64,
    bytes: usize,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
}

impl CallLog {
    fn push(&mut self, level: LogLevel, stream: LogStream, message: &str) {
        if self.lines.len() >= MAX_LOG_LINES_PER_CALL || self.bytes >= MAX_LOG_BYTES_PER_CALL {
            self.dropped += 1;
            return;
        }
        let message = truncate(message, MAX_LOG_LINE_BYTES);
        self.bytes += message.len();
        self.lines.push(LogLine {
            level,
            stream,
            message: message.to_string(),
        });
    }

    fn write(&mut self, stream: LogStream, bytes: &[u8]) {
        let (partial, level) = match stream {
            LogStream::Stderr => (&mut self.partial_stderr, LogLevel::Warn),
            _ => (&mut self.partial_stdout, LogLevel::Info),
        };
        partial.extend_from_slice(bytes);
        let mut complete = Vec::new();
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            complete.push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        // A flood without newlines must not grow the buffer without bound.
        if partial.len() > MAX_LOG_LINE_BYTES {
            complete.push(String::from_utf8_lossy(partial).into_owned());
            partial.clear();
        }
        for line in complete {
            self.push(level, stream, &line);
        }
    }

    /// Ends the call: flushes unterminated output and hands over the lines.
    pub fn take(&mut self) -> (Vec<LogLine>, u64) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let partial = match stream {
                LogStream::Stderr => std::mem::take(&mut self.partial_stderr),
                _ => std::mem::take(&mut self.partial_stdout),
            };
            if !partial.is_empty() {
                let level = if stream == LogStream::Stderr {
                    LogLevel::Warn
                } else {
                    LogLevel::Info
                };
                self.push(level, stream, &String::from_utf8_lossy(&partial));
            }
        }
        self.bytes = 0;
        (
            std::mem::take(&mut self.lines),
            std::mem::take(&mut self.dropped),
        )
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Refuses memory growth past the function's `memory` limit.
pub(crate) struct MemoryLimiter {
    pub limit: usize,
    /// Set when the limit stopped a growth, so the failure can say so.
    pub hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Err(format_err!(
                "memory limit of {} reached: the function asked for {}",
                describe_bytes(self.limit as u64),
                describe_bytes(desired as u64)
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Bytes for messages: "64 MiB", "1.5 GiB", "512 bytes".
pub fn describe_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if value.fract() == 0.0 {
                format!("{value:.0} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// The store data of one instance.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub function: Arc<FunctionShared>,
    pub call: CallState,
    pub log: Arc<Mutex<CallLog>>,
}

impl HostState {
    pub fn new(function: Arc<FunctionShared>, memory_limit: u64) -> wasmtime::Result<Self> {
        let log = Arc::new(Mutex::new(CallLog::default()));
        let mut wasi = WasiCtxBuilder::new();
        wasi.preopened_dir(&*function.empty_root, GUEST_ROOT, FsPerms::ReadOnly)?;
        let wasi = wasi
            .stdout(CapturedOutput {
                log: log.clone(),
                stream: LogStream::Stdout,
            })
            .stderr(CapturedOutput {
                log: log.clone(),
                stream: LogStream::Stderr,
            })
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Ok(HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: usize::try_from(memory_limit).unwrap_or(usize::MAX),
                hit: false,
            },
            function,
            call: CallState::default(),
            log,
        })
    }

    /// Records an attempt the sandbox refused; the call then fails with `SYS.Permission`.
    pub fn deny(&mut self, denied: Denied) {
        self.call.denied.get_or_insert(denied);
    }

    pub fn lock_log(&self) -> MutexGuard<'_, CallLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    Function::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}

impl swirl::function::types::Host for HostState {}

impl swirl::function::host::Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.lock_log().push(level, LogStream::Host, &message);
        Ok(())
    }

    fn emit(&mut self, event: Event) -> wasmtime::Result<Result<(), String>> {
        if self.call.emitted.len() >= MAX_EMITS_PER_CALL {
            return Ok(Err(format!(
                "refused: a call may emit at most {MAX_EMITS_PER_CALL} events"
            )));
        }
        if let Some(data) = &event.data {
            if data.len() > MAX_EVENT_DATA_BYTES {
                return Ok(Err(format!(
                    "refused: event data of {} is over the {} limit",
                    describe_bytes(data.len() as u64),
                    describe_bytes(MAX_EVENT_DATA_BYTES as u64)
                )));
            }
            if serde_json::from_slice::<serde::de::IgnoredAny>(data).is_err() {
                return Ok(Err("refused: event data must be JSON".to_string()));
            }
        }
        if let Some(refusal) = emit_rules::refusal(
            &event.type_,
            &event.source,
            event.subject.as_deref(),
            &event.extensions,
        ) {
            return Ok(Err(refusal));
        }
        self.call.emitted.push(EmittedEvent {
            event_type: event.type_,
            source: event.source,
            subject: event.subject,
            data: event.data,
            extensions: event.extensions,
        });
        Ok(Ok(()))
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.function.config.get(&key).cloned())
    }
}

impl swirl::function::kv::Host for HostState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        if let Some(written) = self.call.kv_writes.get(&key) {
            return Ok(written.clone());
        }
        self.function
            .kv
            .get(&self.function.name, &key)
            .map_err(|error| format_err!("{error}"))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        if value.len() > MAX_KV_VALUE_BYTES {
            return Err(format_err!(
                "kv value for '{}' is {}, over the {} limit",
                truncate(&key, 64),
                describe_bytes(value.len() as u64),
                describe_bytes(MAX_KV_VALUE_BYTES as u64)
            ));
        }
        self.record_write(key, Some(value))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.record_write(key, None)
    }
}

impl HostState {
    fn record_write(&mut self, key: String, value: Option<Vec<u8>>) -> wasmtime::Result<()> {
        if key.len() > MAX_KV_KEY_BYTES {
            return Err(format_err!(
                "kv key of {} bytes is over the {MAX_KV_KEY_BYTES}-byte limit",
                key.len()
            ));
        }
        let writes = &mut self.call.kv_writes;
        if writes.len() >= MAX_KV_WRITES_PER_CALL && !writes.contains_key(&key) {
            return Err(format_err!(
                "a call may write at most {MAX_KV_WRITES_PER_CALL} distinct kv keys"
            ));
        }
        writes.insert(key, value);
        Ok(())
    }
}

/// A guest's stdout or stderr, turned into log lines of the current call.
struct CapturedOutput {
    log: Arc<Mutex<CallLog>>,
    stream: LogStream,
}

impl CapturedOutput {
    fn write_bytes(&self, bytes: &[u8]) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(self.stream, bytes);
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(CapturedOutput {
            log: self.log.clone(),
            stream: self.stream,
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(CapturedOutput {
            log: self.log.clone(),
            stream: self.stream,
        })
    }
}

/// Always ready and never blocks: output past the log limits is dropped, not back-pressured.
const WRITE_BUDGET: usize = 64 * 1024;

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_splits_lines_and_caps_the_call() {
        let mut log = CallLog::default();
        log.write(LogStream::Stdout, b"one\ntw");
        log.write(LogStream::Stdout, b"o\nthree");
        log.write(LogStream::Stderr, b"oops\n");
        let (lines, dropped) = log.take();
        let texts: Vec<_> = lines
            .iter()
            .map(|l| (l.stream, l.message.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                (LogStream::Stdout, "one"),
                (LogStream::Stdout, "two"),
                (LogStream::Stderr, "oops"),
                (LogStream::Stdout, "three"),
            ]
        );
        assert_eq!(dropped, 0);

        for i in 0..MAX_LOG_LINES_PER_CALL + 5 {
            log.push(LogLevel::Info, LogStream::Host, &format!("line {i}"));
        }
        let (lines, dropped) = log.take();
        assert_eq!(lines.len(), MAX_LOG_LINES_PER_CALL);
        assert_eq!(dropped, 5);
    }

    #[test]
    fn a_line_without_newline_is_cut_rather_than_buffered_forever() {
        let mut log = CallLog::default();
        log.write(LogStream::Stdout, &vec![b'x'; MAX_LOG_LINE_BYTES * 3]);
        let (lines, _) = log.take();
        assert!(lines.iter().all(|l| l.message.len() <= MAX_LOG_LINE_BYTES));
    }

    #[test]
    fn describe_bytes_reads_naturally() {
        assert_eq!(describe_bytes(64 << 20), "64 MiB");
        assert_eq!(describe_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(describe_bytes(100), "100 bytes");
    }
}
