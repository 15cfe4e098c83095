//! Why a request was refused: each error maps to one HTTP status in
//! [`IngressError::status`] and answers with a JSON body that names the problem
//! and, in a batch, the index of the event at fault:
//! `{"error": "missing required attribute 'source'", "event": 3}`.
//!
//! All of them are the client's fault, so messages are precise and say what to
//! do; none carries a path, a backtrace or a server detail.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A request the ingress refuses, whole.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error(
        "request body is larger than the limit of {limit} bytes; send smaller events or split the batch"
    )]
    BodyTooLarge { limit: usize },
    #[error("request body could not be read to its end; send it again")]
    BodyUnreadable,
    #[error("{}", not_cloud_events(content_type.as_deref()))]
    NotCloudEvents { content_type: Option<String> },
    #[error(
        "event format '{media_type}' is not supported; use application/cloudevents+json or application/cloudevents-batch+json"
    )]
    UnsupportedEventFormat { media_type: String },
    #[error("request body is not valid json: {detail}")]
    InvalidJson { detail: String },
    #[error("a batch must be a json array of events")]
    BatchNotArray,
    #[error(
        "batch has {count} events, more than the limit of {limit}; split it into smaller batches"
    )]
    TooManyEvents { count: usize, limit: usize },
    /// One event breaks a rule; `index` is its position in a batch.
    #[error("{error}")]
    InvalidEvent {
        index: Option<usize>,
        error: EventError,
    },
}

fn not_cloud_events(content_type: Option<&str>) -> String {
    let found = match content_type {
        Some(content_type) => format!("content type '{content_type}'"),
        None => "no content type".to_owned(),
    };
    format!(
        "request is not a cloudevent ({found} and no ce- headers); send binary mode \
         (ce-specversion, ce-id, ce-source and ce-type headers), structured mode \
         (application/cloudevents+json) or batch mode (application/cloudevents-batch+json)"
    )
}

/// What is wrong with one event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("missing required attribute '{0}'")]
    MissingAttribute(&'static str),
    #[error("attribute '{0}' must not be empty")]
    EmptyAttribute(&'static str),
    #[error("attribute '{name}' must be {expected}")]
    AttributeType {
        name: String,
        expected: &'static str,
    },
    #[error("attribute '{name}' must be {expected}")]
    InvalidAttributeValue {
        name: &'static str,
        expected: &'static str,
    },
    #[error("unknown spec version '{0}'; use '1.0' or '0.3'")]
    UnknownSpecVersion(String),
    #[error(
        "attribute name '{0}' breaks the naming rules; use only lower-case letters a-z and digits 0-9"
    )]
    InvalidAttributeName(String),
    #[error(
        "header '{0}' breaks the attribute naming rules; after 'ce-' use only letters a-z and digits 0-9"
    )]
    InvalidHeaderName(String),
    #[error("header '{header}' is not a valid attribute value: {reason}")]
    InvalidHeaderValue {
        header: String,
        reason: &'static str,
    },
    #[error("header '{0}' is repeated; send each attribute once")]
    RepeatedHeader(String),
    #[error("an event must be a json object")]
    NotAnObject,
    #[error("event has both 'data' and 'data_base64'; send only one of them")]
    DataAndBase64,
    #[error("'data_base64' must be a base64 string")]
    InvalidBase64,
    #[error(
        "'data' must be a string because datacontenttype '{0}' is not json; send binary data as 'data_base64'"
    )]
    DataNotString(String),
    #[error(
        "spec version '{found}' differs from '{first}' of the batch's first event; all events of a batch must have the same spec version"
    )]
    MixedSpecVersions { found: String, first: String },
    /// The SDK refused an event that passed every check made here.
    #[error("invalid event: {0}")]
    Rejected(String),
}

impl EventError {
    /// An SDK error in our wording: its messages start with a capital letter.
    pub(super) fn rejected(error: impl std::fmt::Display) -> Self {
        let message = error.to_string();
        let mut chars = message.chars();
        let lowered = match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect(),
            None => String::new(),
        };
        Self::Rejected(lowered)
    }
}

impl IngressError {
    /// The HTTP status of the answer: the one place that maps errors to codes.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge { .. } | Self::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotCloudEvents { .. } | Self::UnsupportedEventFormat { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::BodyUnreadable
            | Self::InvalidJson { .. }
            | Self::BatchNotArray
            | Self::InvalidEvent { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The position in the batch of the event at fault, if there is one.
    pub fn event_index(&self) -> Option<usize> {
        match self {
            Self::InvalidEvent { index, .. } => *index,
            _ => None,
        }
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": self.to_string() });
        if let Some(index) = self.event_index() {
            body["event"] = index.into();
        }
        body
    }
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// Why [`super::data_json`] could not give an event's data as JSON.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("event data has content type '{0}', which is not json")]
    NotJson(String),
    #[error("event data is not valid json")]
    InvalidJson(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_and_body_of_every_error() {
        let event = |index, error| IngressError::InvalidEvent { index, error };
        let cases = [
            (IngressError::BodyTooLarge { limit: 65536 }, 413),
            (IngressError::TooManyEvents { count: 3, limit: 2 }, 413),
            (IngressError::NotCloudEvents { content_type: None }, 415),
            (
                IngressError::UnsupportedEventFormat {
                    media_type: "application/cloudevents+avro".into(),
                },
                415,
            ),
            (IngressError::BodyUnreadable, 400),
            (
                IngressError::InvalidJson {
                    detail: "eof".into(),
                },
                400,
            ),
            (IngressError::BatchNotArray, 400),
            (event(Some(3), EventError::MissingAttribute("source")), 400),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error}");
        }
        assert_eq!(
            event(Some(3), EventError::MissingAttribute("source")).body(),
            json!({"error": "missing required attribute 'source'", "event": 3})
        );
        assert_eq!(
            event(None, EventError::EmptyAttribute("id")).body(),
            json!({"error": "attribute 'id' must not be empty"})
        );
    }

    #[test]
    fn messages_are_lower_case_without_trailing_period() {
        let errors: Vec<String> = vec![
            IngressError::BodyTooLarge { limit: 1 }.to_string(),
            IngressError::NotCloudEvents {
                content_type: Some("text/plain".into()),
            }
            .to_string(),
            EventError::InvalidHeaderName("ce-foo_bar".into()).to_string(),
            EventError::MixedSpecVersions {
                found: "0.3".into(),
                first: "1.0".into(),
            }
            .to_string(),
            DataError::NotJson("text/plain".into()).to_string(),
        ];
        for message in errors {
            let first = message.chars().next().unwrap_or_default();
            assert!(first.is_lowercase() || first == '\'', "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    #[test]
    fn not_cloud_events_names_what_was_sent() {
        assert_eq!(
            IngressError::NotCloudEvents {
                content_type: Some("text/plain".into())
            }
            .to_string(),
            "request is not a cloudevent (content type 'text/plain' and no ce- headers); send binary mode \
             (ce-specversion, ce-id, ce-source and ce-type headers), structured mode \
             (application/cloudevents+json) or batch mode (application/cloudevents-batch+json)"
        );
    }
}
