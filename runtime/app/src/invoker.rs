//! The engine's [`Invoker`] port as a server runs it: functions through the
//! wasmtime [`FunctionHost`], protocol requests through [`swirl_calls`], to
//! the hosts the workflow's app allows ([`OutboundHosts`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use swirl_calls::{AllowedHosts, CallError, Caller};
use swirl_function::{Call, FunctionHost, Invocation};
use swirl_ports::invoke::{InvokeError, Invoker, RequestError};

/// Calls the deployed functions of a host and the outside world.
pub struct AppInvoker {
    host: Arc<FunctionHost>,
    calls: Caller,
    outbound: Arc<OutboundHosts>,
}

impl AppInvoker {
    pub fn new(host: Arc<FunctionHost>, outbound: Arc<OutboundHosts>) -> Self {
        AppInvoker {
            host,
            calls: Caller::new(),
            outbound,
        }
    }
}

/// The hosts each workflow's calls may reach, by workflow id, as its app's
/// manifest says (`allowed-outbound-hosts`); a workflow of an app that
/// lists none may call any host.
#[derive(Default)]
pub struct OutboundHosts(RwLock<HashMap<String, Arc<AllowedHosts>>>);

impl OutboundHosts {
    /// Takes in what an app's manifest allows its `workflows`.
    pub fn keep(&self, allowed: &AllowedHosts, workflows: &[String]) {
        let mut by_workflow = self.0.write().unwrap_or_else(|e| e.into_inner());
        let allowed = Arc::new(allowed.clone());
        for id in workflows {
            by_workflow.insert(id.clone(), allowed.clone());
        }
    }

    fn of(&self, workflow: &str) -> Arc<AllowedHosts> {
        let by_workflow = self.0.read().unwrap_or_else(|e| e.into_inner());
        by_workflow.get(workflow).cloned().unwrap_or_default()
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

    fn request(
        &self,
        workflow: &str,
        protocol: &str,
        arguments: &Value,
    ) -> Result<Value, RequestError> {
        let allowed = self.outbound.of(workflow);
        self.calls
            .request(protocol, arguments, &allowed)
            .map_err(|error| {
                let detail = error.to_string();
                match error {
                    CallError::Invalid(_) => RequestError::Invalid(detail),
                    CallError::Forbidden(_) => RequestError::Forbidden(detail),
                    CallError::Status { status, .. } => RequestError::Status { status, detail },
                    CallError::Transport { .. } => RequestError::Transport(detail),
                }
            })
    }
}
