//! Write swirl functions in Rust.
//!
//! A swirl function is a WebAssembly component that swirl runs in-process, one
//! call per workflow action or direct invocation. With this crate you write it
//! as one plain Rust function over serde types, and one macro exports it.
//!
//! # A first function
//!
//! Create a library crate that builds a `cdylib`:
//!
//! ```toml
//! [package]
//! name = "greet"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! swirl-guest = { path = "../../guest-sdk" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! Then write the handler. Its input is deserialized from the JSON the caller
//! sends, its output serialized back to JSON:
//!
//! ```ignore
//! use serde::{Deserialize, Serialize};
//! use swirl_guest::{Context, Failure};
//!
//! #[derive(Deserialize)]
//! struct Greeting {
//!     name: String,
//! }
//!
//! #[derive(Serialize)]
//! struct Reply {
//!     message: String,
//! }
//!
//! fn greet(input: Greeting, ctx: &Context) -> Result<Reply, Failure> {
//!     if input.name.is_empty() {
//!         return Err(Failure::new("EmptyName", "say who to greet"));
//!     }
//!     let greeting = swirl_guest::config("GREETING").unwrap_or_else(|| "Hello".into());
//!     swirl_guest::log::info(&format!("greeting {} (attempt {})", input.name, ctx.attempt));
//!     Ok(Reply { message: format!("{greeting}, {}!", input.name) })
//! }
//!
//! swirl_guest::export!(greet);
//! ```
//!
//! Build it for the component target:
//!
//! ```text
//! cargo build --target wasm32-wasip2 --release
//! ```
//!
//! and name the resulting `greet.wasm` in a `swirl.toml` manifest:
//!
//! ```toml
//! [functions.greet]
//! source = "target/wasm32-wasip2/release/greet.wasm"
//! config = { GREETING = "Hello" }
//! ```
//!
//! `swirl invoke swirl.toml greet --input '{"name":"World"}'` prints
//! `{"message":"Hello, World!"}`.
//!
//! # Input, output and failures
//!
//! - The input type is any `serde::de::DeserializeOwned`; when the caller's
//!   JSON does not fit it, the call fails with code `SYS.InvalidParameter` and
//!   a message that names the offending field (inside an internally tagged
//!   enum, `#[serde(tag = "...")]`, serde buffers the input and can say only
//!   what is wrong, not where). Use `serde_json::Value` to take anything.
//! - The output type is any `serde::Serialize`.
//! - Return [`Failure`] to fail the call. Its `code` is the error name that a
//!   workflow's `retry` and `onError` definitions match on; add JSON details
//!   with [`Failure::with_details`].
//! - A panic traps the instance: the call fails with `SYS.Fail` and swirl
//!   never reuses that instance.
//!
//! # What the runtime offers
//!
//! - [`Context`]: the invocation id, function name and version, the workflow,
//!   instance and state that called, the attempt number and the deadline.
//! - [`log`]: log lines attached to the invocation. Whatever the function
//!   prints to stdout or stderr is captured as log lines too.
//! - [`config`]: the values of the function's `config` table in the manifest.
//! - [`kv`]: a durable key-value store private to the function. Writes become
//!   durable when the call succeeds; a failed call's writes are discarded.
//! - [`emit`]: publish a CloudEvent into the runtime, to start or wake
//!   workflows.
//!
//! # State between calls
//!
//! In `instance-mode = "reuse"` (the default) an instance serves call after
//! call, so globals survive between calls of the same instance: use them for
//! caches, never for state that must be durable (use [`kv`]). With
//! `instance-mode = "fresh"` every call gets a new instance.
//!
//! # Sandbox
//!
//! Functions get no filesystem, no network and no host environment; memory
//! and run time are bounded by the manifest's `memory` and `timeout`.

// The generated bindings name their runtime by the crate's public path, which
// must also resolve inside this crate.
extern crate self as swirl_guest;

pub mod bindings {
    //! Raw bindings generated from `wit/function.wit`; most functions never
    //! need them directly.
    wit_bindgen::generate!({
        path: "../wit",
        world: "function",
        pub_export_macro: true,
        export_macro_name: "__export_function_world",
        default_bindings_module: "swirl_guest::bindings",
        runtime_path: "swirl_guest::__private::rt",
    });
}

use bindings::swirl::function::{host, kv as kv_imports, types};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What the runtime tells a function about the call it is serving.
pub use types::Context;

/// Failure code for input that does not fit the handler's input type.
pub const INVALID_PARAMETER: &str = "SYS.InvalidParameter";
/// Failure code for errors of the function itself, such as unserializable output.
pub const FAIL: &str = "SYS.Fail";

/// Why a call failed. `code` is the error name workflows match on.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl Failure {
    /// A failure with a code (e.g. `OutOfStock`) and a human-readable message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    /// Attaches a JSON document with details for error handlers: workflows
    /// see it as `error.details` in retry and `onError` conditions and in
    /// `errorDataFilter`, and in the error of an instance it fails.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for types::Failure {
    fn from(failure: Failure) -> Self {
        types::Failure {
            code: failure.code,
            message: failure.message,
            details: failure
                .details
                .map(|details| details.to_string().into_bytes()),
        }
    }
}

/// Reads a value of the function's `config` table in the manifest.
pub fn config(key: &str) -> Option<String> {
    host::config(key)
}

/// Log lines attached to the current invocation.
pub mod log {
    use super::host;
    pub use super::types::Level;

    /// Writes a log line at `level`.
    pub fn log(level: Level, message: &str) {
        host::log(level, message);
    }

    /// Writes a debug log line.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    /// Writes an info log line.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    /// Writes a warning log line.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    /// Writes an error log line.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// The function's private durable key-value store.
///
/// Writes are visible to later reads of the same call at once and become
/// durable when the call succeeds; a failed call's writes are discarded, so a
/// retried action never sees half of an earlier attempt.
pub mod kv {
    use super::kv_imports;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// Reads the bytes stored under `key`.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        kv_imports::get(key)
    }

    /// Stores `value` under `key`.
    pub fn set(key: &str, value: &[u8]) {
        kv_imports::set(key, value);
    }

    /// Removes `key`.
    pub fn delete(key: &str) {
        kv_imports::delete(key);
    }

    /// Reads the JSON value stored under `key`; `Ok(None)` when absent.
    pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, serde_json::Error> {
        get(key)
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
    }

    /// Stores `value` as JSON under `key`.
    pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), serde_json::Error> {
        set(key, &serde_json::to_vec(value)?);
        Ok(())
    }
}

/// A CloudEvent to publish with [`emit`]. The runtime assigns `id`, `time`
/// and `specversion`.
#[derive(Debug, Clone, Default)]
pub struct Event {
    event_type: String,
    source: String,
    subject: Option<String>,
    data: Option<Vec<u8>>,
    extensions: Vec<(String, String)>,
}

impl Event {
    /// An event with its `type` and `source` attributes.
    pub fn new(event_type: impl Into<String>, source: impl Into<String>) -> Self {
        Event {
            event_type: event_type.into(),
            source: source.into(),
            ..Event::default()
        }
    }

    /// Sets the `subject` attribute.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the event data to `data` serialized as JSON.
    pub fn data<T: Serialize>(mut self, data: &T) -> Result<Self, serde_json::Error> {
        self.data = Some(serde_json::to_vec(data)?);
        Ok(self)
    }

    /// Adds an extension attribute, such as a correlation token.
    ///
    /// CloudEvents names are lower-case ASCII letters and digits, and none may
    /// repeat a context attribute (`id`, `type`, `subject`...): [`emit`]
    /// refuses an event with any other name rather than change it, since a
    /// receiver matches names exactly. Values may be any text without control
    /// characters; the runtime percent-encodes them where HTTP needs it.
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((name.into(), value.into()));
        self
    }
}

/// Publishes `event` into the runtime; the error says why it was refused.
pub fn emit(event: Event) -> Result<(), String> {
    host::emit(&types::Event {
        type_: event.event_type,
        source: event.source,
        subject: event.subject,
        data: event.data,
        extensions: event.extensions,
    })
}

/// Exports `handler` as the function's `handle` entry point.
///
/// `handler` is a `fn(Input, &Context) -> Result<Output, Failure>` where
/// `Input: DeserializeOwned` and `Output: Serialize`.
#[macro_export]
macro_rules! export {
    ($handler:path) => {
        struct __SwirlFunction;

        impl $crate::bindings::Guest for __SwirlFunction {
            fn handle(
                ctx: $crate::Context,
                input: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<u8>,
                $crate::bindings::swirl::function::types::Failure,
            > {
                $crate::__private::dispatch(&ctx, &input, $handler)
            }
        }

        $crate::bindings::__export_function_world!(__SwirlFunction with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen::rt;

    use super::{Context, Failure, types};
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// Decodes the input, runs the handler and encodes its result.
    pub fn dispatch<I, O>(
        ctx: &Context,
        input: &[u8],
        handler: impl FnOnce(I, &Context) -> Result<O, Failure>,
    ) -> Result<Vec<u8>, types::Failure>
    where
        I: DeserializeOwned,
        O: Serialize,
    {
        let input = super::decode_input::<I>(input).map_err(types::Failure::from)?;
        let output = handler(input, ctx).map_err(types::Failure::from)?;
        super::encode_output(&output).map_err(types::Failure::from)
    }
}

/// Deserializes a call's JSON input, naming the field that does not fit.
fn decode_input<I: DeserializeOwned>(input: &[u8]) -> Result<I, Failure> {
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let value: I = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = if path == "." {
            format!("invalid input: {inner}")
        } else {
            format!("invalid input at '{path}': {inner}")
        };
        Failure::new(INVALID_PARAMETER, message)
    })?;
    deserializer
        .end()
        .map_err(|error| Failure::new(INVALID_PARAMETER, format!("invalid input: {error}")))?;
    Ok(value)
}

/// Serializes a handler's output; exposed for tests of handlers.
pub fn encode_output<O: Serialize>(output: &O) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(output)
        .map_err(|error| Failure::new(FAIL, format!("cannot serialize the output: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Order {
        id: String,
        quantity: u32,
    }

    #[test]
    fn decode_input_names_the_field_of_a_type_mismatch() {
        let failure = decode_input::<Order>(br#"{"id":"o1","quantity":"two"}"#).unwrap_err();
        assert_eq!(failure.code, INVALID_PARAMETER);
        assert!(
            failure.message.contains("'quantity'"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn decode_input_names_a_missing_field() {
        let failure = decode_input::<Order>(br#"{"id":"o1"}"#).unwrap_err();
        assert!(
            failure.message.contains("missing field `quantity`"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn decode_input_refuses_trailing_garbage() {
        let failure = decode_input::<Order>(br#"{"id":"o1","quantity":2} x"#).unwrap_err();
        assert_eq!(failure.code, INVALID_PARAMETER);
    }

    #[test]
    fn decode_input_accepts_matching_json() {
        let order = decode_input::<Order>(br#"{"id":"o1","quantity":2}"#).unwrap();
        assert_eq!(
            order,
            Order {
                id: "o1".into(),
                quantity: 2
            }
        );
    }
}
