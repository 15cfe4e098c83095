//! The engine's [`Invoker`] port as a server runs it: functions through the
//! wasmtime [`FunctionHost`], protocol requests through [`swirl_calls`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use swirl_calls::{CallError, Caller};
use swirl_function::{Call, FunctionHost, Invocation};
use swirl_ports::invoke::{InvokeError, Invoker, RequestError};

/// Calls the deployed functions of a host and the outside world.
pub struct AppInvoker {
    host: Arc<FunctionHost>,
    calls: Caller,
}

impl AppInvoker {
    pub fn new(host: Arc<FunctionHost>) -> Self {
        AppInvoker {
            host,
            calls: Caller::new(),
        }
    }
}

impl Invoker for AppInvoker {
    fn invoke(
        &self,
        function: &str,
        version: Option<&str>,
        call: Call,
    ) -> Result<Invocation, InvokeError> {
        self.host
            .invoke_version(function, version, call)
            .map_err(|error| InvokeError(error.to_string()))
    }

    fn current_versions(
        &self,
        functions: &mut dyn Iterator<Item = &str>,
    ) -> BTreeMap<String, String> {
        self.host.current_versions(functions)
    }

    fn request(&self, protocol: &str, arguments: &Value) -> Result<Value, RequestError> {
        self.calls.request(protocol, arguments).map_err(|error| {
            let detail = error.to_string();
            match error {
                CallError::Invalid(_) => RequestError::Invalid(detail),
                CallError::Status { status, .. } => RequestError::Status { status, detail },
                CallError::Transport { .. } => RequestError::Transport(detail),
            }
        })
    }
}
