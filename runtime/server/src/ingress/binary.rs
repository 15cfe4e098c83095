//! Binary content mode: the attributes travel in `ce-` headers, the body is
//! the event's data and `Content-Type` its `datacontenttype`.
//!
//! The headers are checked here (names, repeats, values) and their values
//! decoded as [`header_value`] says: liberally, so that the raw values of the
//! official SDKs' older APIs arrive as they were meant. The SDK's HTTP binding
//! then builds the event from the decoded headers. A decoded value that is no
//! longer printable ASCII cannot travel in a header the SDK can read, so the
//! SDK gets it strictly encoded and the decoded one is set on the event after.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use cloudevents::binding::http::to_event;
use cloudevents::event::{EventBuilderError, SpecVersion};
use cloudevents::message::Error as SdkError;
use cloudevents::{AttributesReader, AttributesWriter, Data, Event};

use super::attributes::{self, REQUIRED};
use super::{EventError, IngressError, is_json_content_type};
use crate::header_value;

const PREFIX: &str = "ce-";

/// One `ce-` header, its attribute name and its decoded value.
struct HeaderAttribute {
    header: HeaderName,
    name: String,
    decoded: String,
}

pub(super) fn decode(headers: &HeaderMap, body: Bytes) -> Result<Event, IngressError> {
    let invalid = |error| IngressError::InvalidEvent { index: None, error };
    let found = read_headers(headers).map_err(invalid)?;
    let get = |name: &str| found.iter().find(|attribute| attribute.name == name);

    let spec = match get("specversion") {
        Some(attribute) => attributes::spec_version(&attribute.decoded).map_err(invalid)?,
        None => return Err(invalid(EventError::MissingAttribute("specversion"))),
    };
    if let Some(missing) = REQUIRED.into_iter().find(|name| get(name).is_none()) {
        return Err(invalid(EventError::MissingAttribute(missing)));
    }
    for attribute in &found {
        if attributes::is_context_attribute(&spec, &attribute.name) {
            attributes::check_value(&spec, &attribute.name, &attribute.decoded).map_err(invalid)?;
        }
    }

    let mut sdk_headers = HeaderMap::new();
    if let Some(content_type) = headers.get(CONTENT_TYPE) {
        if content_type.to_str().is_err() {
            return Err(invalid(EventError::InvalidHeaderValue {
                header: CONTENT_TYPE.as_str().to_owned(),
                reason: "it has characters outside printable ascii",
            }));
        }
        sdk_headers.insert(CONTENT_TYPE, content_type.clone());
    }
    let mut set_after = Vec::new();
    for attribute in found {
        match HeaderValue::from_str(&attribute.decoded) {
            Ok(value) if attribute.decoded.is_ascii() => {
                sdk_headers.insert(attribute.header, value);
            }
            _ => {
                // Strictly encoded, the value is ASCII the SDK can read, and
                // a schema URI is still the same URI.
                let encoded = HeaderValue::from_str(&header_value::encode(&attribute.decoded))
                    .map_err(|_| {
                        invalid(EventError::rejected("an encoded header value is not ascii"))
                    })?;
                sdk_headers.insert(attribute.header.clone(), encoded);
                set_after.push(attribute);
            }
        }
    }

    let mut event =
        to_event(&sdk_headers, body.to_vec()).map_err(|error| invalid(sdk_error(error)))?;
    for attribute in set_after {
        set_decoded(&mut event, &spec, &attribute.name, attribute.decoded);
    }
    parse_json_data(&mut event)?;
    Ok(event)
}

fn read_headers(headers: &HeaderMap) -> Result<Vec<HeaderAttribute>, EventError> {
    let mut found = Vec::new();
    // `keys` yields each name once; hyper has already lower-cased them, which
    // is right since header names are case-insensitive (`ce-OrderId` is the
    // attribute `orderid`).
    for header in headers.keys() {
        let Some(name) = header.as_str().strip_prefix(PREFIX) else {
            continue;
        };
        let mut values = headers.get_all(header).iter();
        let (Some(raw), None) = (values.next(), values.next()) else {
            // Two values for one attribute: taking either would be a guess,
            // and a guessed correlation value routes the event wrongly.
            return Err(EventError::RepeatedHeader(header.as_str().to_owned()));
        };
        if !attributes::is_valid_name(name) {
            return Err(EventError::InvalidHeaderName(header.as_str().to_owned()));
        }
        let decoded = header_value::decode(raw.as_bytes()).map_err(|reason| {
            EventError::InvalidHeaderValue {
                header: header.as_str().to_owned(),
                reason,
            }
        })?;
        found.push(HeaderAttribute {
            header: header.clone(),
            name: name.to_owned(),
            decoded,
        });
    }
    Ok(found)
}

/// Sets an attribute whose decoded value the SDK could not read from a header.
fn set_decoded(event: &mut Event, spec: &SpecVersion, name: &str, value: String) {
    match name {
        "id" => {
            event.set_id(value);
        }
        "source" => {
            event.set_source(value);
        }
        "type" => {
            event.set_type(value);
        }
        "subject" => {
            event.set_subject(Some(value));
        }
        // `time` was checked and so is ASCII; the schema URI was parsed by the
        // SDK from its percent-encoded form, which is the same URI; and
        // `datacontenttype` comes from `Content-Type`, which is ASCII.
        _ if attributes::is_context_attribute(spec, name) => {}
        _ => {
            event.set_extension(name, value);
        }
    }
}

/// Replaces raw data by parsed JSON when the content type says JSON, so that a
/// body that is not JSON is refused here rather than when a workflow reads it.
fn parse_json_data(event: &mut Event) -> Result<(), IngressError> {
    if !event.datacontenttype().is_some_and(is_json_content_type) {
        return Ok(());
    }
    let Some(Data::Binary(bytes)) = event.data() else {
        return Ok(());
    };
    let value = serde_json::from_slice(bytes).map_err(|error| IngressError::InvalidJson {
        detail: error.to_string(),
    })?;
    event.set_data_unchecked(Data::Json(value));
    Ok(())
}

fn sdk_error(error: SdkError) -> EventError {
    match error {
        SdkError::EventBuilderError {
            source: EventBuilderError::MissingRequiredAttribute { attribute_name },
        } => EventError::MissingAttribute(attribute_name),
        other => EventError::rejected(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_specversion_is_named() {
        let mut headers = HeaderMap::new();
        headers.insert("ce-id", HeaderValue::from_static("1"));
        let error = decode(&headers, Bytes::new()).expect_err("no specversion");
        assert_eq!(
            error.to_string(),
            "missing required attribute 'specversion'"
        );
    }

    #[test]
    fn non_ascii_values_reach_the_event() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "%E2%82%AC1"),
            ("ce-source", "/caf%C3%A9"),
            ("ce-type", "t"),
            ("ce-subject", "%C3%BC"),
            ("ce-city", "M%C3%BCnchen"),
            ("ce-note", "a%20b"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let event = decode(&headers, Bytes::new()).expect("valid event");
        assert_eq!(event.id(), "\u{20ac}1");
        assert_eq!(event.source(), "/caf\u{e9}");
        assert_eq!(event.subject(), Some("\u{fc}"));
        assert_eq!(
            event.extension("city").map(ToString::to_string).as_deref(),
            Some("M\u{fc}nchen")
        );
        assert_eq!(
            event.extension("note").map(ToString::to_string).as_deref(),
            Some("a b")
        );
    }
}
