//! The admin REST API: workflows, instances and functions as JSON.
//!
//! Handlers are thin: parse, call the engine or the function host, shape
//! the answer. Blocking work (a function call) runs on tokio's blocking
//! pool so that it never stalls the reactor.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ServerState;
use super::error::{ApiError, blocking};
use std::time::{Duration, Instant};
use swirl_core::time::rfc3339;
use swirl_engine::record::{InstanceRecord, Status};
use swirl_function::Call;
use swirl_workflow::WorkflowDefinition;

/// Instances one list request returns when it names no `limit`, and at most.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

type ApiResult = Result<Response, ApiError>;

fn ok(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

/// A JSON request body; an empty body is `{}`.
fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("request body is not valid json: {error}")))
}

/// An instance as the API shows it: what a caller needs, not the
/// interpreter's bookkeeping (threads, tasks, timers).
pub fn instance_view(record: &InstanceRecord) -> Value {
    let states: Vec<&str> = record.threads.values().map(|t| t.state.as_str()).collect();
    let mut view = json!({
        "id": record.id,
        "workflowId": record.workflow_id,
        "status": record.status.as_str(),
        "state": states.first(),
        "states": states,
        "input": record.input,
        "createdAt": rfc3339(record.created_ms),
        "updatedAt": rfc3339(record.updated_ms),
    });
    if let Some(output) = &record.output {
        view["output"] = output.clone();
    }
    if let Some(error) = &record.error {
        view["error"] = json!(error);
    }
    if !record.correlation.is_empty() {
        view["correlation"] = json!(record.correlation);
    }
    if let Some(parent) = &record.parent {
        view["parentId"] = json!(parent.instance_id);
    }
    view
}

// ---- workflows ----

pub async fn list_workflows(State(state): State<ServerState>) -> ApiResult {
    let workflows: Vec<Value> = state
        .definitions()
        .values()
        .map(|definition| {
            let json = swirl_workflow::to_json(definition);
            json!({ "id": json["id"], "name": json["name"], "version": json["version"] })
        })
        .collect();
    ok(json!(workflows))
}

pub async fn get_workflow(State(state): State<ServerState>, Path(id): Path<String>) -> ApiResult {
    ok(swirl_workflow::to_json(&definition(&state, &id)?))
}

/// `GET /workflows/{id}/graph`: the definition's states and routes, as
/// the console draws them and `swirl graph` prints them.
pub async fn workflow_graph(State(state): State<ServerState>, Path(id): Path<String>) -> ApiResult {
    ok(json!(swirl_workflow::graph::build(&definition(
        &state, &id
    )?)))
}

/// `GET /workflows/{id}/source`: the text the current version was
/// deployed from, as written (a 1.0 document stays 1.0 YAML or JSON, which
/// `GET /workflows/{id}` shows as the v0.1 JSON of the model).
pub async fn workflow_source(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> ApiResult {
    let workflow = state
        .engine()
        .workflows()
        .remove(&id)
        .ok_or_else(|| not_deployed(&state, &id))?;
    let engine = state.engine().clone();
    let version = workflow.version.clone();
    let (file_name, source) = blocking("definition source", move || {
        engine.definition_source(&version)
    })
    .await?;
    ok(json!({ "id": id, "version": workflow.version, "fileName": file_name, "source": source }))
}

fn definition(state: &ServerState, id: &str) -> Result<WorkflowDefinition, ApiError> {
    state
        .definitions()
        .remove(id)
        .ok_or_else(|| not_deployed(state, id))
}

fn not_deployed(state: &ServerState, id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no workflow '{id}' is deployed; deployed workflows: {}",
        names(state.definitions().keys())
    ))
}

fn names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

// ---- instances ----

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    /// A caller-chosen instance id: a second start with it returns the same instance.
    id: Option<String>,
    /// `true` answers when the instance ends, with its output.
    wait: Option<String>,
}

fn flag(value: Option<&str>, name: &str) -> Result<bool, ApiError> {
    match value {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "query parameter '{name}' must be true or false, not '{other}'"
        ))),
    }
}

pub async fn start_instance(
    State(state): State<ServerState>,
    Path(workflow_id): Path<String>,
    Query(query): Query<StartQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let wait = flag(query.wait.as_deref(), "wait")?;
    if let Some(id) = &query.id {
        check_instance_id(id)?;
    }
    let input = json_body(&body)?;
    let engine = state.engine();
    // The instance continues the caller's trace.
    let trace = state
        .telemetry()
        .and_then(|_| super::traces::of_headers(&headers));
    if !wait {
        let record = engine
            .start_and_run(&workflow_id, input, query.id.clone(), trace, Duration::ZERO)
            .await?;
        tracing::info!(instance_id = %record.id, workflow_id = %workflow_id, "instance started");
        return Ok((StatusCode::CREATED, Json(instance_view(&record))).into_response());
    }
    let limit = state.config().wait_limit;
    let started = Instant::now();
    let record = engine
        .start_and_run(&workflow_id, input, query.id.clone(), trace, limit)
        .await?;
    tracing::info!(instance_id = %record.id, workflow_id = %workflow_id, "instance started");
    if record.status.is_final() {
        return ok(instance_view(&record));
    }
    let left = limit.saturating_sub(started.elapsed());
    match tokio::time::timeout(left, engine.wait(&record.id)).await {
        Ok(finished) => ok(instance_view(&finished?)),
        // Still running: answer with what there is; the caller polls GET.
        Err(_) => {
            let record = engine.get(&record.id)?;
            Ok((StatusCode::ACCEPTED, Json(instance_view(&record))).into_response())
        }
    }
}

/// Ids become sled keys and URL path segments: keep them printable and short.
fn check_instance_id(id: &str) -> Result<(), ApiError> {
    let valid = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "instance id must be 1 to 128 characters of a-z, A-Z, 0-9, '-', '_', '.' or ':'"
                .to_string(),
        ))
    }
}

pub async fn get_instance(State(state): State<ServerState>, Path(id): Path<String>) -> ApiResult {
    ok(instance_view(&state.engine().get(&id)?))
}

pub async fn instance_history(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> ApiResult {
    ok(json!(state.engine().history(&id)?))
}

/// `GET /instance-counts`: how many instances have each status (every
/// status named, zeros included), for the console's summary.
pub async fn instance_counts(State(state): State<ServerState>) -> ApiResult {
    let engine = state.engine().clone();
    // Kept by every commit; but the first count reads every record: off
    // the reactor.
    let counts = blocking("counting", move || engine.instance_counts()).await?;
    let counts: serde_json::Map<String, Value> = super::metrics::STATUSES
        .iter()
        .map(|status| {
            let count = counts.get(status).copied().unwrap_or(0);
            (status.as_str().to_string(), json!(count))
        })
        .collect();
    ok(Value::Object(counts))
}

/// `GET /instances/{id}/data`: the data of each state the instance is in
/// now (one per running branch or iteration), for the console; empty once
/// it ended, when its output is what it has.
pub async fn instance_data(State(state): State<ServerState>, Path(id): Path<String>) -> ApiResult {
    let record = state.engine().get(&id)?;
    let threads: Vec<Value> = record
        .threads
        .values()
        .map(|thread| {
            json!({
                "state": thread.state,
                "data": thread.data,
                "enteredAt": rfc3339(thread.entered_ms),
            })
        })
        .collect();
    ok(json!({ "id": record.id, "status": record.status.as_str(), "threads": threads }))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    workflow: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    /// The `nextCursor` of the previous page: `<createdMs>.<id>` of the
    /// last instance it listed.
    cursor: Option<String>,
    /// `summary`: each instance without its input and output, which may
    /// be megabytes each (the console's list shows neither).
    view: Option<String>,
}

/// The `nextCursor` that follows `record` in a listing.
fn cursor_after(record: &InstanceRecord) -> String {
    let (created_ms, id) = record.start_order();
    format!("{created_ms}.{id}")
}

fn parse_cursor(text: &str) -> Result<(u64, &str), ApiError> {
    text.split_once('.')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id)))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "cursor '{text}' is not a nextCursor this server gave; start again without one"
            ))
        })
}

/// A listing's `limit` parameter: `default` when absent, else 1 to `max`.
pub fn page_limit(text: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match text {
        None | Some("") => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
            _ => Err(ApiError::BadRequest(format!(
                "limit must be a number from 1 to {max}, not '{text}'"
            ))),
        },
    }
}

pub async fn list_instances(
    State(state): State<ServerState>,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(Status::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown status '{text}'; use running, waiting, suspended, completed, failed or cancelled"
            ))
        })?),
    };
    let limit = page_limit(query.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    let summary = match query.view.as_deref() {
        None | Some("") | Some("full") => false,
        Some("summary") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown view '{other}'; use full or summary"
            )));
        }
    };
    let engine = state.engine().clone();
    let workflow = query.workflow.filter(|w| !w.is_empty());
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_cursor(text).map(|(ms, id)| (ms, id.to_string()))?),
    };
    // Reads the page's records: off the reactor.
    let (page, more) = blocking("listing", move || {
        let after = after.as_ref().map(|(ms, id)| (*ms, id.as_str()));
        engine.page(workflow.as_deref(), status, after, limit)
    })
    .await?;
    let next_cursor = if more {
        page.last().map(cursor_after)
    } else {
        None
    };
    ok(json!({
        "instances": page.iter().map(|record| {
            let mut view = instance_view(record);
            if summary && let Some(fields) = view.as_object_mut() {
                fields.remove("input");
                fields.remove("output");
            }
            view
        }).collect::<Vec<_>>(),
        "nextCursor": next_cursor,
    }))
}

pub async fn cancel_instance(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> ApiResult {
    let record = state.engine().cancel(&id).await?;
    tracing::info!(instance_id = %id, "instance cancelled");
    ok(instance_view(&record))
}

pub async fn suspend_instance(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> ApiResult {
    let record = state.engine().suspend(&id).await?;
    tracing::info!(instance_id = %id, "instance suspended");
    ok(instance_view(&record))
}

pub async fn resume_instance(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> ApiResult {
    let record = state.engine().resume(&id).await?;
    tracing::info!(instance_id = %id, "instance resumed");
    ok(instance_view(&record))
}

// ---- functions ----

pub async fn list_functions(State(state): State<ServerState>) -> ApiResult {
    let host = state.host();
    let functions: Vec<Value> = host
        .function_names()
        .into_iter()
        .filter_map(|name| {
            let stats = host.stats(&name).ok()?;
            let number = state.deployments().version_number(&name, &stats.version);
            Some(
                json!({ "name": name, "version": stats.version, "number": number, "invocations": stats.invocations }),
            )
        })
        .collect();
    ok(json!(functions))
}

pub async fn get_function(State(state): State<ServerState>, Path(name): Path<String>) -> ApiResult {
    let stats = state.host().stats(&name)?;
    let config = state.function_config(&name);
    let deployments = state.deployments().clone();
    let function = name.clone();
    let catalog = blocking("version listing", move || deployments.catalog(&function)).await?;
    let loaded = state.host().version_stats(&name);
    let versions: Vec<Value> = catalog
        .versions
        .iter()
        .map(|info| {
            let mut view = json!({
                "number": info.number,
                "version": info.version,
                "deployedAt": (info.deployed_ms > 0).then(|| rfc3339(info.deployed_ms)),
                "loaded": false,
            });
            if let Some(stats) = loaded.iter().find(|stats| stats.version == info.version) {
                view["loaded"] = json!(true);
                view["stats"] = json!(stats);
            }
            view
        })
        .collect();
    let number = catalog
        .versions
        .iter()
        .find(|info| info.version == stats.version)
        .map(|info| info.number);
    ok(json!({
        "name": name,
        "version": stats.version,
        "number": number,
        "route": catalog.current,
        "aliases": catalog.aliases,
        "versions": versions,
        "config": config,
        "stats": stats,
    }))
}

#[derive(Debug, Deserialize)]
pub struct InvokeQuery {
    /// A version other than the current route's (its number or id).
    version: Option<String>,
    /// An alias, whose route picks the version by weight.
    alias: Option<String>,
}

/// The header that says which version (its number) served a call.
pub const VERSION_HEADER: &str = "swirl-function-version";

pub async fn invoke_function(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let input = json_body(&body)?;
    // When traces are on: the caller's span, and when the call began.
    let trace = state.telemetry().map(|_| {
        (
            super::traces::of_headers(&headers),
            swirl_telemetry::now_ns(),
        )
    });
    let (target, version) = match (query.version, query.alias) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give 'version' or 'alias', not both: an alias picks the version itself"
                    .to_string(),
            ));
        }
        (Some(version), None) => {
            let deployments = state.deployments().clone();
            let function = name.clone();
            let id = tokio::task::spawn_blocking(move || {
                deployments.resolve_version(&function, &version)
            })
            .await
            .map_err(|error| ApiError::Internal(format!("version lookup failed: {error}")))??
            .version;
            (name.clone(), Some(id))
        }
        (None, Some(alias)) => {
            swirl_core::function_ref::check_alias(&alias).map_err(ApiError::BadRequest)?;
            (format!("{name}@{alias}"), None)
        }
        (None, None) => (name.clone(), None),
    };
    // Fail fast with a 404 rather than a queued blocking task.
    if version.is_none() {
        state.host().stats(&name)?;
    }
    let host = state.host().clone();
    let invocation = tokio::task::spawn_blocking(move || {
        let call = Call::new(input.to_string().into_bytes());
        host.invoke_version(&target, version.as_deref(), call)
    })
    .await
    .map_err(|error| ApiError::Internal(format!("invocation task failed: {error}")))??;
    let number = state
        .deployments()
        .version_number(&name, &invocation.version);
    super::logs::to_server_log(&name, &invocation, None);
    state.logs().record(&name, &invocation);
    let span = trace
        .map(|(parent, started)| super::traces::invocation(&name, &invocation, parent, started));
    state
        .emitted(
            &name,
            &invocation.emitted,
            span.as_ref().map(|span| &span.context),
        )
        .await?;
    if let (Some(telemetry), Some(span)) = (state.telemetry(), span) {
        telemetry.record(span);
    }
    tracing::info!(
        function = %name,
        invocation_id = %invocation.id,
        duration_ms = invocation.duration.as_millis() as u64,
        cold_start = invocation.cold_start,
        ok = invocation.outcome.is_ok(),
        "function invoked"
    );
    let mut answer = json!({
        "invocationId": invocation.id,
        "version": invocation.version,
        "number": number,
        "durationMs": invocation.duration.as_secs_f64() * 1000.0,
        "coldStart": invocation.cold_start,
    });
    let status = match invocation.outcome {
        Ok(output) => {
            answer["output"] = serde_json::from_slice(&output).unwrap_or(Value::Null);
            StatusCode::OK
        }
        Err(failure) => {
            answer["error"] = json!(format!("the function failed: {failure}"));
            answer["failure"] = json!(failure);
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    let served_by = number.map_or_else(|| invocation.version.clone(), |n| n.to_string());
    Ok((status, [(VERSION_HEADER, served_by)], Json(answer)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LimitQuery {
    pub limit: Option<String>,
}

/// `GET /functions/{name}/instances`: the function's live instances, those
/// not ended (running, waiting, suspended) whose workflow uses the
/// function, newest first, each with the version its calls go to (pinned
/// when it started); at most `limit`, and how many there are.
pub async fn function_instances(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    Query(query): Query<LimitQuery>,
) -> ApiResult {
    state.host().stats(&name)?;
    let limit = page_limit(query.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    let engine = state.engine().clone();
    let function = name.clone();
    // Reads the page's records: off the reactor.
    let (live, count) = blocking("listing", move || engine.live_calling(&function, limit)).await?;
    let instances: Vec<Value> = live
        .iter()
        .map(|record| {
            let version = record
                .function_versions
                .iter()
                .find(|(resource, _)| swirl_core::function_ref::split(resource).0 == name)
                .map(|(_, version)| version.as_str())
                .unwrap_or_default();
            let mut view = instance_view(record);
            view["functionVersion"] = json!(version);
            view["functionNumber"] = json!(state.deployments().version_number(&name, version));
            view
        })
        .collect();
    ok(json!({ "function": name, "count": count, "instances": instances }))
}

pub async fn function_logs(
    State(state): State<ServerState>,
    Path(name): Path<String>,
) -> ApiResult {
    state.host().stats(&name)?;
    ok(json!({ "function": name, "invocations": state.logs().recent(&name) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_checked() {
        assert!(check_instance_id("order-42_a.b:c").is_ok());
        for bad in ["", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_instance_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags() {
        assert!(flag(Some("true"), "wait").unwrap());
        assert!(!flag(None, "wait").unwrap());
        assert!(flag(Some("maybe"), "wait").is_err());
    }
}
