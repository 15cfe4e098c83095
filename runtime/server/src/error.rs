//! Errors of the admin API and the event ingress, each answered with one
//! status and a JSON body `{"error": "..."}`.
//!
//! Client errors are answered precisely and not logged. Server errors are
//! answered vaguely (never a path, a backtrace or a sled detail) and logged
//! with an id that the answer carries, so an operator can find the log line
//! a user reports.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use swirl_app::deployment::DeployError;
use swirl_engine::EngineError;
use swirl_function::InvokeError;
use swirl_ports::store::StoreFailure;
use swirl_store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A deployment with problems (each naming file, line and key); nothing changed.
    #[error("the deployment is invalid and nothing was deployed: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("missing or wrong bearer token; send 'Authorization: Bearer <token>'")]
    Unauthorized,
    #[error("this token may only send events; use the admin token for the admin api")]
    Forbidden,
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The store cannot take writes (disk full, unwritable data directory):
    /// the client may retry later.
    #[error("storage is unavailable; retry later")]
    Unavailable(#[source] StoreFailure),
    /// The engine's runs are saturated: the client should retry after a
    /// second.
    #[error("{0}")]
    Busy(String),
    /// A bug or an unexpected failure inside the server.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The one place that maps errors to status codes.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::UnknownWorkflow(_) | EngineError::UnknownInstance(_) => {
                Self::NotFound(error.to_string())
            }
            EngineError::InputNotObject(_) | EngineError::Definition(_) => {
                Self::BadRequest(error.to_string())
            }
            EngineError::WrongStatus { .. } => Self::Conflict(error.to_string()),
            EngineError::Store(store) | EngineError::NotDurable(store) => Self::Unavailable(store),
            EngineError::Busy(_) | EngineError::BufferFull(_) => Self::Busy(error.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<InvokeError> for ApiError {
    fn from(error: InvokeError) -> Self {
        match error {
            InvokeError::UnknownFunction { .. }
            | InvokeError::UnknownVersion { .. }
            | InvokeError::UnknownAlias { .. } => Self::NotFound(error.to_string()),
        }
    }
}

impl From<DeployError> for ApiError {
    fn from(error: DeployError) -> Self {
        match error {
            DeployError::Invalid(problems) => Self::Invalid(problems),
            DeployError::NotFound { .. } => Self::NotFound(error.to_string()),
            DeployError::InUse { .. } | DeployError::Conflict(_) => {
                Self::Conflict(error.to_string())
            }
            DeployError::Missing(_) => Self::NotFound(error.to_string()),
            DeployError::BadInput(_) => Self::BadRequest(error.to_string()),
            DeployError::Store(store) => Self::Unavailable(store.into()),
            DeployError::Engine(engine) => engine.into(),
        }
    }
}

impl From<super::sinks::DeadLetterError> for ApiError {
    fn from(error: super::sinks::DeadLetterError) -> Self {
        use super::sinks::DeadLetterError;
        match error {
            DeadLetterError::Unknown(_) => Self::NotFound(error.to_string()),
            DeadLetterError::Store(store) => Self::Unavailable(store.into()),
            DeadLetterError::Corrupt(..) => Self::Internal(error.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::Unavailable(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Saturation is expected under load, not a failure to look into:
        // no error id, no error line per refused request.
        let body = if status.is_server_error() && !matches!(self, Self::Busy(_)) {
            let id = swirl_core::ids::new_id();
            let detail = match &self {
                Self::Internal(detail) => detail.clone(),
                Self::Unavailable(source) => source.to_string(),
                other => other.to_string(),
            };
            tracing::error!(error_id = %id, %status, error = %detail, "request failed");
            json!({ "error": format!("{self} (error id {id})"), "errorId": id })
        } else if let Self::Invalid(problems) = &self {
            json!({ "error": self.to_string(), "problems": problems })
        } else {
            json!({ "error": self.to_string() })
        };
        let failed_storage = matches!(self, Self::Unavailable(_));
        let busy = matches!(self, Self::Busy(_));
        let mut response = (status, Json(body)).into_response();
        if failed_storage {
            response.extensions_mut().insert(StorageFailed);
        }
        if busy {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

/// Runs `work` off the reactor, on the blocking pool (it reads or writes
/// the store); a task that did not finish becomes an internal error naming
/// `what`.
pub(crate) async fn blocking<T, E>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::Internal(format!("{what} failed: {error}")))?
        .map_err(Into::into)
}

/// Marks an answer given because the store failed a write, so that the
/// server can check whether the store can still write at all.
#[derive(Debug, Clone, Copy)]
pub struct StorageFailed;
