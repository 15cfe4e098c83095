//! Deployments over HTTP: `POST /apps` takes a manifest and the files it
//! names as `multipart/form-data` (a `manifest` part with the TOML text and
//! one part per file, named by the path the manifest uses), and the deletes
//! of functions and workflows. The checks and the durable records are
//! [`crate::deployment`]'s; this module only turns the upload into files.
//!
//! ```text
//! curl -F manifest=@swirl.toml -F functions/greet.wasm=@functions/greet.wasm http://127.0.0.1:8080/apps
//! ```

use std::path::{Component, Path as FsPath, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;
use serde_json::json;

use super::ServerState;
use super::error::{ApiError, blocking};
use swirl_app::deployment::{DeployError, Deployments};

/// Largest `POST /apps` body when `swirl serve` is not told otherwise.
pub const DEFAULT_DEPLOY_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Most parts (files) one deployment may upload.
pub const MAX_DEPLOY_FILES: usize = 1024;

/// The manifest's name inside an upload; messages name it so.
const MANIFEST_FILE: &str = "swirl.toml";

type ApiResult = Result<Response, ApiError>;

#[derive(Debug, serde::Deserialize)]
pub struct DeployQuery {
    /// The percentage of calls each changed function's new version takes.
    canary: Option<String>,
}

pub async fn deploy_app(
    State(state): State<ServerState>,
    Query(query): Query<DeployQuery>,
    request: Request,
) -> ApiResult {
    let canary = match query.canary.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<u32>().ok().filter(|p| (1..100).contains(p)).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "canary must be a whole percentage from 1 to 99, not '{text}'; deploy without it to give the new versions all calls"
            ))
        })?),
    };
    let limit = state.config().deploy_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let request = request.map(|body| Body::new(Limited::new(body, limit)));
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|error| {
            ApiError::BadRequest(format!(
                "POST /apps takes multipart/form-data with a 'manifest' part and one part per file: {}",
                error.body_text()
            ))
        })?;
    let part_error = |error: axum::extract::multipart::MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(limit)
        } else {
            ApiError::BadRequest(format!("cannot read the upload: {}", error.body_text()))
        }
    };
    let mut manifest = None;
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(part_error)?;
        if name == "manifest" {
            manifest = Some(bytes);
        } else {
            files.push((upload_path(&name)?, bytes));
            if files.len() > MAX_DEPLOY_FILES {
                return Err(ApiError::BadRequest(format!(
                    "the upload has more than {MAX_DEPLOY_FILES} files, the most one deployment may carry"
                )));
            }
        }
    }
    let manifest = manifest.ok_or_else(|| {
        ApiError::BadRequest(
            "the upload has no 'manifest' part; send the swirl.toml text as -F manifest=@swirl.toml"
                .to_string(),
        )
    })?;
    let deployments = state.deployments().clone();
    let report = tokio::task::spawn_blocking(move || {
        let depth = files
            .iter()
            .map(|(path, _)| path.parents)
            .max()
            .unwrap_or(0);
        let dir = UploadDir::new(depth)?;
        dir.write(FsPath::new(MANIFEST_FILE), &manifest)?;
        for (path, bytes) in &files {
            dir.write(&path.relative, bytes)?;
        }
        let deployed = Deployments::load_manifest(&dir.manifest_dir.join(MANIFEST_FILE))
            .and_then(|manifest| deployments.deploy_canary(&manifest, canary));
        deployed.map_err(|error| dir.relative(error))
    })
    .await
    .map_err(|error| ApiError::Internal(format!("deployment task failed: {error}")))??;
    state
        .sinks()
        .set_app(&report.app, report.sink_manifests.clone());
    tracing::info!(
        app = %report.app,
        functions = %swirl_app::deployment::items_line(&report.functions),
        workflows = %swirl_app::deployment::items_line(&report.workflows),
        "deployed"
    );
    Ok((StatusCode::CREATED, Json(json!(report))).into_response())
}

pub async fn delete_function(
    State(state): State<ServerState>,
    Path(name): Path<String>,
) -> ApiResult {
    delete(&state, name, Deployments::delete_function).await
}

pub async fn delete_workflow(
    State(state): State<ServerState>,
    Path(id): Path<String>,
) -> ApiResult {
    delete(&state, id, Deployments::delete_workflow).await
}

/// Runs a delete on the blocking pool (it flushes the store) and answers `{deleted: name}`.
async fn delete(
    state: &ServerState,
    name: String,
    delete: fn(&Deployments, &str) -> Result<(), DeployError>,
) -> ApiResult {
    let deployments = state.deployments().clone();
    let deleted = name.clone();
    blocking("delete", move || delete(&deployments, &deleted)).await?;
    Ok(Json(json!({ "deleted": name })).into_response())
}

/// A part's name: a path relative to the manifest's directory, which may
/// climb out of it first (`../../target/wasm32-wasip2/release/greet.wasm`,
/// as the examples name their components) but not anywhere else.
struct UploadPath {
    relative: PathBuf,
    /// How many `..` it starts with.
    parents: usize,
}

fn upload_path(name: &str) -> Result<UploadPath, ApiError> {
    let path = PathBuf::from(name);
    let parents = path
        .components()
        .take_while(|component| matches!(component, Component::ParentDir))
        .count();
    let rest: Vec<Component> = path.components().skip(parents).collect();
    let plain = !rest.is_empty()
        && rest
            .iter()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
    if plain {
        Ok(UploadPath {
            relative: path,
            parents,
        })
    } else {
        Err(ApiError::BadRequest(format!(
            "part '{name}' is not a relative path to a file; name each file part by the path the manifest uses, like functions/greet.wasm"
        )))
    }
}

/// A private temporary directory holding one upload, removed when dropped.
/// The manifest sits `depth` directories below its root, so that every part
/// path, `..`s included, lands inside the root: the upload can only ever
/// write under it.
struct UploadDir {
    root: PathBuf,
    manifest_dir: PathBuf,
}

impl UploadDir {
    fn new(depth: usize) -> Result<Self, DeployError> {
        let root = std::env::temp_dir().join(format!("swirl-upload-{}", swirl_core::ids::new_id()));
        swirl_store::create_private_dir(&root)?;
        let manifest_dir =
            (0..depth).fold(root.clone(), |dir, level| dir.join(format!("app{level}")));
        Ok(UploadDir { root, manifest_dir })
    }

    fn write(&self, relative: &FsPath, bytes: &[u8]) -> Result<(), DeployError> {
        let path = self.manifest_dir.join(relative);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, bytes));
        written.map_err(|error| {
            DeployError::Invalid(vec![format!(
                "cannot keep the uploaded file {}: {error}",
                relative.display()
            )])
        })
    }

    /// The error with paths inside the upload written relative to the
    /// manifest, as the user named them (and without leaking the server's
    /// temporary directory).
    fn relative(&self, error: DeployError) -> DeployError {
        let prefix = format!("{}/", self.manifest_dir.display());
        let root = format!("{}/", self.root.display());
        match error {
            DeployError::Invalid(problems) => DeployError::Invalid(
                problems
                    .into_iter()
                    .map(|problem| problem.replace(&prefix, "").replace(&root, ""))
                    .collect(),
            ),
            other => other,
        }
    }
}

impl Drop for UploadDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
