//! A function's lifecycle over HTTP: aliases (`PUT`, `GET`, `DELETE
//! /functions/{name}/aliases[/{alias}]`), rollback (`POST
//! /functions/{name}/rollback`) and version deletes (`DELETE
//! /functions/{name}/versions/{version}`). The rules and the durable
//! records are [`swirl_app::lifecycle`]'s; this module parses and answers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ServerState;
use super::error::ApiError;
use swirl_app::deployment::{DeployError, Deployments};

type ApiResult = Result<Response, ApiError>;

/// Runs a lifecycle change on the blocking pool (it reads instances and
/// flushes the store).
async fn with_deployments<T: Send + 'static>(
    state: &ServerState,
    change: impl FnOnce(&Deployments) -> Result<T, DeployError> + Send + 'static,
) -> Result<T, ApiError> {
    let deployments = state.deployments().clone();
    super::error::blocking("lifecycle task", move || change(&deployments)).await
}

/// `{"versions": {"<number or id>": <weight>, ...}}` → the weights.
fn weights(body: &Bytes) -> Result<Vec<(String, u32)>, ApiError> {
    let usage = "give {\"versions\": {\"<version number or id>\": <whole percentage>, ...}}, the percentages summing to 100";
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::BadRequest(format!("request body is not valid json: {error}; {usage}"))
    })?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::BadRequest(format!("the body is not an object; {usage}")))?;
    if let Some(unknown) = object.keys().find(|key| *key != "versions") {
        return Err(ApiError::BadRequest(format!(
            "unknown field '{unknown}'; {usage}"
        )));
    }
    let versions = object
        .get("versions")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::BadRequest(format!("'versions' is missing; {usage}")))?;
    versions
        .iter()
        .map(|(version, weight)| {
            let weight = weight
                .as_u64()
                .and_then(|weight| u32::try_from(weight).ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "the weight of version '{version}' must be a whole percentage, not {weight}"
                    ))
                })?;
            Ok((version.clone(), weight))
        })
        .collect()
}

pub async fn put_alias(
    State(state): State<ServerState>,
    Path((name, alias)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let weights = weights(&body)?;
    let (function, named) = (name.clone(), alias.clone());
    let route = with_deployments(&state, move |deployments| {
        deployments.set_alias(&function, &named, &weights)
    })
    .await?;
    tracing::info!(function = %name, alias = %alias, route = %route_line(&route), "alias set");
    Ok(Json(json!({ "function": name, "alias": alias, "versions": route })).into_response())
}

pub async fn list_aliases(State(state): State<ServerState>, Path(name): Path<String>) -> ApiResult {
    let function = name.clone();
    let catalog =
        with_deployments(&state, move |deployments| deployments.catalog(&function)).await?;
    Ok(Json(json!({ "function": name, "aliases": catalog.aliases })).into_response())
}

pub async fn delete_alias(
    State(state): State<ServerState>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult {
    let (function, named) = (name.clone(), alias.clone());
    with_deployments(&state, move |deployments| {
        deployments.delete_alias(&function, &named)
    })
    .await?;
    tracing::info!(function = %name, alias = %alias, "alias deleted");
    Ok(Json(json!({ "deleted": alias })).into_response())
}

pub async fn rollback(State(state): State<ServerState>, Path(name): Path<String>) -> ApiResult {
    let function = name.clone();
    let version =
        with_deployments(&state, move |deployments| deployments.rollback(&function)).await?;
    tracing::info!(function = %name, number = version.number, version = %version.version, "rolled back");
    Ok(Json(json!({ "function": name, "current": version })).into_response())
}

pub async fn delete_version(
    State(state): State<ServerState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult {
    let function = name.clone();
    let deleted = with_deployments(&state, move |deployments| {
        deployments.delete_version(&function, &version)
    })
    .await?;
    tracing::info!(function = %name, number = deleted.number, version = %deleted.version, "function version deleted");
    Ok(Json(json!({ "function": name, "deleted": deleted })).into_response())
}

/// A route for a log line: `1=90 2=10`.
fn route_line(route: &[swirl_app::lifecycle::RoutedVersion]) -> String {
    let parts: Vec<String> = route
        .iter()
        .map(|routed| format!("{}={}", routed.number, routed.weight))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_bodies_are_checked() {
        let parse = |text: &str| weights(&Bytes::from(text.to_string()));
        assert_eq!(
            parse(r#"{"versions": {"1": 90, "2": 10}}"#).unwrap(),
            [("1".to_string(), 90), ("2".to_string(), 10)]
        );
        for bad in [
            "",
            "[]",
            r#"{"versions": {"1": 12.5}}"#,
            r#"{"versions": {"1": -1}}"#,
            r#"{"weights": {"1": 100}}"#,
            r#"{"versions": [1]}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
