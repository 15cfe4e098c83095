//! CloudEvents ingress: turns one HTTP request into validated CloudEvents.
//!
//! The HTTP binding defines three content modes, all accepted here for spec
//! versions 1.0 and 0.3:
//!
//! ```text
//!   Content-Type                          mode        events   module
//!   application/cloudevents+json          structured  1        json
//!   application/cloudevents-batch+json    batch       0..n     json
//!   anything else, with ce-* headers      binary      1        binary
//! ```
//!
//! The key idea is *check first, then let the SDK build*. `cloudevents-sdk`
//! does the HTTP binding and the JSON event format, but its errors neither name
//! the attribute at fault nor say how to fix it, and it accepts some inputs the
//! specification forbids (empty `id`, badly named attributes). So every rule a
//! client can break is checked here first, on the raw headers or the parsed
//! JSON, and only then does the SDK build the [`Event`]. A request yields all
//! of its events or one [`IngressError`]: a batch with one bad event is refused
//! whole, so the caller never applies part of a request.
//!
//! The body is read through a length limit ([`IngressLimits`]); a
//! `Content-Length` over it is refused before a byte is read. JSON is parsed by
//! `serde_json` with its default recursion limit (128 levels), so deeply nested
//! input is a clean 400 rather than a stack overflow.
//!
//! Start with [`decode`] (or the [`CloudEvents`] extractor); the error table is
//! [`IngressError::status`] in `ingress/error.rs`.

mod attributes;
mod binary;
mod error;
mod json;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use cloudevents::{AttributesReader, Data, Event};
use http_body_util::{BodyExt, LengthLimitError, Limited};

pub use error::{DataError, EventError, IngressError};

/// Size limits of one ingress request.
///
/// The fields are private so that the body limit can never drop below the
/// 64 KiB that the CloudEvents specification asks every consumer to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngressLimits {
    max_body_bytes: usize,
    max_batch_events: usize,
}

impl IngressLimits {
    /// The smallest body limit: the CloudEvents specification says consumers
    /// should accept events of at least 64 KiB.
    pub const MIN_BODY_BYTES: usize = 64 * 1024;
    pub const DEFAULT_BODY_BYTES: usize = 1024 * 1024;
    pub const DEFAULT_BATCH_EVENTS: usize = 1000;

    /// Limits with `max_body_bytes` raised to at least [`Self::MIN_BODY_BYTES`]
    /// and `max_batch_events` to at least 1.
    pub fn new(max_body_bytes: usize, max_batch_events: usize) -> Self {
        Self {
            max_body_bytes: max_body_bytes.max(Self::MIN_BODY_BYTES),
            max_batch_events: max_batch_events.max(1),
        }
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    pub fn max_batch_events(&self) -> usize {
        self.max_batch_events
    }
}

impl Default for IngressLimits {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BODY_BYTES, Self::DEFAULT_BATCH_EVENTS)
    }
}

/// The events of one request, as an axum extractor.
///
/// The limits come from the router state (`IngressLimits: FromRef<S>`); a
/// rejection is an [`IngressError`], which answers with its status and JSON
/// body.
#[derive(Debug, Clone)]
pub struct CloudEvents(pub Vec<Event>);

impl<S> FromRequest<S> for CloudEvents
where
    IngressLimits: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = IngressError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limits = IngressLimits::from_ref(state);
        decode(request, &limits).await.map(CloudEvents)
    }
}

/// Decodes every CloudEvent of `request`, or refuses the request whole.
///
/// Binary and structured mode yield one event, batch mode any number
/// (possibly none). When an event's content type is JSON its data is
/// [`Data::Json`], in every mode.
pub async fn decode(request: Request, limits: &IngressLimits) -> Result<Vec<Event>, IngressError> {
    let (parts, body) = request.into_parts();
    // The mode comes from the headers alone, so a request that is not a
    // CloudEvent at all is refused before its body is read.
    let mode = Mode::of(&parts.headers)?;
    let body = read_body(&parts.headers, body, limits.max_body_bytes).await?;
    match mode {
        Mode::Binary => binary::decode(&parts.headers, body).map(|event| vec![event]),
        Mode::Structured => json::decode_structured(&body).map(|event| vec![event]),
        Mode::Batch => json::decode_batch(&body, limits.max_batch_events),
    }
}

/// The data of `event` as JSON: `None` when it has no data, an error when its
/// content type is not JSON or the data does not parse.
///
/// An absent content type counts as JSON, as in the JSON event format: a
/// sender that omits it (`curl -d` in binary mode, say) most often means JSON.
pub fn data_json(event: &Event) -> Result<Option<serde_json::Value>, DataError> {
    let Some(data) = event.data() else {
        return Ok(None);
    };
    if let Some(content_type) = event.datacontenttype()
        && !is_json_content_type(content_type)
    {
        return Err(DataError::NotJson(content_type.to_owned()));
    }
    let value = match data {
        Data::Json(value) => value.clone(),
        Data::String(text) => serde_json::from_str(text).map_err(DataError::InvalidJson)?,
        Data::Binary(bytes) => serde_json::from_slice(bytes).map_err(DataError::InvalidJson)?,
    };
    Ok(Some(value))
}

/// Whether a media type (parameters allowed) denotes JSON: `application/json`,
/// `text/json` or any `+json` suffix, case-insensitively.
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = media_type_essence(content_type);
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// The content mode of a request, from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Binary,
    Structured,
    Batch,
}

impl Mode {
    fn of(headers: &HeaderMap) -> Result<Self, IngressError> {
        let content_type = headers.get(CONTENT_TYPE).map(|value| {
            // Echoed in the error, so kept printable and short.
            let text = String::from_utf8_lossy(value.as_bytes());
            text.chars().take(100).collect::<String>()
        });
        let essence = content_type.as_deref().map(media_type_essence);
        match essence.as_deref() {
            Some("application/cloudevents+json") => Ok(Self::Structured),
            Some("application/cloudevents-batch+json") => Ok(Self::Batch),
            // Other event formats (Avro, Protobuf, XML) are CloudEvents that
            // swirl cannot read: say so rather than fall back to binary mode.
            Some(other) if other.starts_with("application/cloudevents") => {
                Err(IngressError::UnsupportedEventFormat {
                    media_type: other.to_owned(),
                })
            }
            _ if headers.keys().any(|name| name.as_str().starts_with("ce-")) => Ok(Self::Binary),
            _ => Err(IngressError::NotCloudEvents { content_type }),
        }
    }
}

/// The media type without parameters, trimmed and lower-cased
/// (`Application/JSON; charset=utf-8` is `application/json`).
fn media_type_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Reads the whole body, but never more than `limit` bytes of it.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, IngressError> {
    // A declared length over the limit is refused without reading. A length
    // that does not parse is left to hyper, which refuses it on a real
    // connection, and to the limited read below.
    let declared_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit as u64) {
        return Err(IngressError::BodyTooLarge { limit });
    }
    // The limit also holds for chunked bodies and for a `Content-Length` that
    // lies, since it counts the bytes as they arrive.
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(IngressError::BodyTooLarge { limit })
        }
        Err(_) => Err(IngressError::BodyUnreadable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Method, StatusCode};
    use cloudevents::event::ExtensionValue;
    use serde_json::json;

    fn request(headers: &[(&str, &str)], body: impl Into<Body>) -> Request {
        let mut builder = Request::builder().method(Method::POST).uri("/events");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder
            .body(body.into())
            .expect("test request is well formed")
    }

    async fn decode_default(request: Request) -> Result<Vec<Event>, IngressError> {
        decode(request, &IngressLimits::default()).await
    }

    #[test]
    fn limits_never_go_below_the_spec_minimum() {
        let limits = IngressLimits::new(1000, 0);
        assert_eq!(limits.max_body_bytes(), 64 * 1024);
        assert_eq!(limits.max_batch_events(), 1);
        let default = IngressLimits::default();
        assert_eq!(default.max_body_bytes(), 1024 * 1024);
        assert_eq!(default.max_batch_events(), 1000);
    }

    #[test]
    fn json_content_types() {
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/json",
            "application/vnd.foo+json",
        ] {
            assert!(is_json_content_type(json), "{json}");
        }
        for other in ["text/plain", "application/xml", "application/jsonx", ""] {
            assert!(!is_json_content_type(other), "{other}");
        }
    }

    #[test]
    fn modes_come_from_the_content_type_then_the_ce_headers() {
        let mode = |headers: &[(&str, &str)]| {
            let request = request(headers, Body::empty());
            Mode::of(request.headers())
        };
        assert_eq!(
            mode(&[("content-type", "application/cloudevents+json")]).ok(),
            Some(Mode::Structured)
        );
        assert_eq!(
            mode(&[(
                "content-type",
                "APPLICATION/CloudEvents-Batch+JSON; charset=UTF-8"
            )])
            .ok(),
            Some(Mode::Batch)
        );
        assert_eq!(
            mode(&[("content-type", "application/json"), ("ce-id", "1")]).ok(),
            Some(Mode::Binary)
        );
        assert_eq!(mode(&[("ce-id", "1")]).ok(), Some(Mode::Binary));
        assert!(matches!(
            mode(&[
                ("content-type", "application/cloudevents+avro"),
                ("ce-id", "1")
            ]),
            Err(IngressError::UnsupportedEventFormat { .. })
        ));
        assert!(matches!(
            mode(&[("content-type", "application/json")]),
            Err(IngressError::NotCloudEvents {
                content_type: Some(_)
            })
        ));
        assert!(matches!(
            mode(&[]),
            Err(IngressError::NotCloudEvents { content_type: None })
        ));
    }

    #[tokio::test]
    async fn decodes_without_a_socket() {
        let events = decode_default(request(
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "e1"),
                ("ce-source", "/orders"),
                ("ce-type", "order.created"),
                ("ce-orderid", "o3"),
                ("content-type", "application/json"),
            ],
            r#"{"total": 12}"#,
        ))
        .await
        .expect("valid binary event");
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].extension("orderid"),
            Some(&ExtensionValue::String("o3".into()))
        );
        assert_eq!(
            data_json(&events[0]).expect("json data"),
            Some(json!({"total": 12}))
        );
    }

    #[tokio::test]
    async fn declared_length_over_the_limit_is_refused_before_reading() {
        // The body is empty: only the declared length can trigger the refusal.
        let error = decode_default(request(
            &[
                ("content-type", "application/cloudevents+json"),
                ("content-length", "2000000"),
            ],
            Body::empty(),
        ))
        .await
        .expect_err("over the limit");
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn body_over_the_limit_without_declared_length() {
        let body = vec![b' '; IngressLimits::MIN_BODY_BYTES + 1];
        let error = decode(
            request(&[("content-type", "application/cloudevents+json")], body),
            &IngressLimits::new(0, 10),
        )
        .await
        .expect_err("over the limit");
        assert!(matches!(error, IngressError::BodyTooLarge { limit: 65536 }));
    }

    /// Mangled versions of valid requests in every mode: each must decode or
    /// be refused with a 4xx, never panic.
    #[tokio::test]
    async fn mangled_input_never_panics() {
        let structured = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","orderid":"o3","time":"2024-05-01T12:00:00Z","datacontenttype":"application/json","data":{"a":[1,2,{"b":null}]}}"#;
        let batch = [b"[".as_slice(), structured, b",", structured, b"]"].concat();
        let binary_headers = [
            ("ce-specversion", "1.0"),
            ("ce-id", "%E2%82%AC"),
            ("ce-source", "\"/s\""),
            ("ce-type", "t"),
            ("ce-time", "2024-05-01T12:00:00Z"),
            ("content-type", "application/json"),
        ];
        // A fixed xorshift sequence: reproducible without a dependency.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let interesting = b"{}[]\",:\\%0aZ \x00\xff";
        for round in 0..3000 {
            let (headers, original): (Vec<(&str, String)>, &[u8]) = match round % 3 {
                0 => (
                    vec![("content-type", "application/cloudevents+json".into())],
                    structured,
                ),
                1 => (
                    vec![("content-type", "application/cloudevents-batch+json".into())],
                    &batch,
                ),
                _ => {
                    let mut headers: Vec<(&str, String)> = binary_headers
                        .iter()
                        .map(|(name, value)| (*name, (*value).to_owned()))
                        .collect();
                    let which = (next() % headers.len() as u64) as usize;
                    let mut value = headers[which].1.clone().into_bytes();
                    let at = (next() % (value.len() as u64 + 1)) as usize;
                    value.insert(
                        at,
                        interesting[(next() % interesting.len() as u64) as usize],
                    );
                    headers[which].1 = String::from_utf8_lossy(&value).into_owned();
                    (headers, br#"{"a":[1,2]}"#)
                }
            };
            let mut body = original.to_vec();
            for _ in 0..(next() % 4) {
                let at = (next() % body.len() as u64) as usize;
                body[at] = interesting[(next() % interesting.len() as u64) as usize];
            }
            let mut builder = Request::builder().method(Method::POST).uri("/events");
            for (name, value) in &headers {
                // A value the http crate itself refuses cannot reach us.
                if let Ok(value) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
                    builder = builder.header(*name, value);
                }
            }
            let Ok(request) = builder.body(Body::from(body)) else {
                continue;
            };
            if let Err(error) = decode_default(request).await {
                assert!(error.status().is_client_error(), "{error}");
            }
        }
    }

    #[test]
    fn data_json_by_content_type() {
        use cloudevents::{EventBuilder, EventBuilderV10};
        let base = || EventBuilderV10::new().id("1").source("/s").ty("t");
        let none = base().build().expect("event");
        assert_eq!(data_json(&none).expect("no data"), None);
        let binary = base()
            .data("application/json", br#"[1,2]"#.to_vec())
            .build()
            .expect("event");
        assert_eq!(data_json(&binary).expect("json"), Some(json!([1, 2])));
        let text = base().data("text/plain", "hello").build().expect("event");
        assert_eq!(
            data_json(&text).expect_err("not json").to_string(),
            "event data has content type 'text/plain', which is not json"
        );
        let broken = base().data("application/json", "{").build().expect("event");
        assert_eq!(
            data_json(&broken).expect_err("broken").to_string(),
            "event data is not valid json"
        );
    }
}
