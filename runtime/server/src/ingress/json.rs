//! Structured and batch content modes: events in the JSON event format, one
//! object (`application/cloudevents+json`) or an array of them
//! (`application/cloudevents-batch+json`).
//!
//! The body is parsed once into a `serde_json::Value` (recursion limit on), each
//! event object is checked here, then the SDK's JSON format builds the
//! [`Event`] from the checked object.

use cloudevents::event::SpecVersion;
use cloudevents::{AttributesReader, Event};
use serde_json::{Map, Value};

use super::attributes::{self, REQUIRED};
use super::{EventError, IngressError, is_json_content_type};

pub(super) fn decode_structured(body: &[u8]) -> Result<Event, IngressError> {
    let value = parse(body)?;
    event_from_json(value).map_err(|error| IngressError::InvalidEvent { index: None, error })
}

pub(super) fn decode_batch(body: &[u8], max_events: usize) -> Result<Vec<Event>, IngressError> {
    let Value::Array(items) = parse(body)? else {
        return Err(IngressError::BatchNotArray);
    };
    if items.len() > max_events {
        return Err(IngressError::TooManyEvents {
            count: items.len(),
            limit: max_events,
        });
    }
    let mut events: Vec<Event> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let invalid = |error| IngressError::InvalidEvent {
            index: Some(index),
            error,
        };
        let event = event_from_json(item).map_err(invalid)?;
        // The HTTP binding requires one spec version per batch.
        if let Some(first) = events.first()
            && first.specversion() != event.specversion()
        {
            return Err(invalid(EventError::MixedSpecVersions {
                found: event.specversion().to_string(),
                first: first.specversion().to_string(),
            }));
        }
        events.push(event);
    }
    Ok(events)
}

/// Parses the body with serde_json's default recursion limit of 128 levels,
/// which turns deeply nested input into an error instead of a stack overflow.
/// (It must never be lifted with `disable_recursion_limit`.)
fn parse(body: &[u8]) -> Result<Value, IngressError> {
    serde_json::from_slice(body).map_err(|error| IngressError::InvalidJson {
        detail: error.to_string(),
    })
}

fn event_from_json(value: Value) -> Result<Event, EventError> {
    let Value::Object(object) = value else {
        return Err(EventError::NotAnObject);
    };
    check(&object)?;
    serde_json::from_value(Value::Object(object)).map_err(EventError::rejected)
}

/// Checks one event object against the rules of its spec version.
fn check(object: &Map<String, Value>) -> Result<(), EventError> {
    let spec = match object.get("specversion") {
        // The JSON format treats `null` like an absent member, as the SDK does.
        None | Some(Value::Null) => return Err(EventError::MissingAttribute("specversion")),
        Some(Value::String(version)) => attributes::spec_version(version)?,
        Some(_) => return Err(string_expected("specversion")),
    };
    for name in REQUIRED {
        match object.get(name) {
            None | Some(Value::Null) => return Err(EventError::MissingAttribute(name)),
            Some(Value::String(_)) => {}
            Some(_) => return Err(string_expected(name)),
        }
    }
    for (name, value) in object {
        match name.as_str() {
            "data" => {}
            "data_base64" if spec == SpecVersion::V10 => check_base64(object, value)?,
            _ if !attributes::is_valid_name(name) => {
                return Err(EventError::InvalidAttributeName(truncated(name)));
            }
            _ if attributes::is_context_attribute(&spec, name) => match value {
                Value::Null => {}
                Value::String(text) => attributes::check_value(&spec, name, text)?,
                _ => return Err(string_expected(name)),
            },
            _ => check_extension(name, value)?,
        }
    }
    check_data(object)
}

fn string_expected(name: &str) -> EventError {
    EventError::AttributeType {
        name: name.to_owned(),
        expected: "a string",
    }
}

/// Extension values are strings, booleans or integers; the CloudEvents
/// integer is 32-bit.
fn check_extension(name: &str, value: &Value) -> Result<(), EventError> {
    let fits = match value {
        Value::Null | Value::String(_) | Value::Bool(_) => true,
        Value::Number(number) => number.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        Value::Array(_) | Value::Object(_) => false,
    };
    if fits {
        Ok(())
    } else {
        Err(EventError::AttributeType {
            name: name.to_owned(),
            expected: "a string, a boolean or an integer from -2147483648 to 2147483647",
        })
    }
}

fn check_base64(object: &Map<String, Value>, value: &Value) -> Result<(), EventError> {
    use base64::Engine as _;
    if object.get("data").is_some_and(|data| !data.is_null()) {
        return Err(EventError::DataAndBase64);
    }
    match value {
        Value::Null => Ok(()),
        Value::String(text)
            if base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_ok() =>
        {
            Ok(())
        }
        _ => Err(EventError::InvalidBase64),
    }
}

/// `data` of a non-JSON content type must be a string: the SDK would refuse
/// anything else with a message that names neither `data` nor the fix.
fn check_data(object: &Map<String, Value>) -> Result<(), EventError> {
    let Some(data) = object.get("data") else {
        return Ok(());
    };
    // Absent `datacontenttype` means JSON in the JSON event format.
    let Some(Value::String(content_type)) = object.get("datacontenttype") else {
        return Ok(());
    };
    // In 0.3, base64 data is `data` plus `datacontentencoding`: a string too.
    if is_json_content_type(content_type) && !object.contains_key("datacontentencoding") {
        return Ok(());
    }
    match data {
        Value::Null | Value::String(_) => Ok(()),
        _ => Err(EventError::DataNotString(truncated(content_type))),
    }
}

/// Client text echoed in an error, cut so an answer stays small.
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::Data;
    use serde_json::json;

    fn event(value: Value) -> Result<Event, String> {
        event_from_json(value).map_err(|error| error.to_string())
    }

    fn minimal() -> Value {
        json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t"})
    }

    fn with(mut base: Value, key: &str, value: Value) -> Value {
        base[key] = value;
        base
    }

    fn without(mut base: Value, key: &str) -> Value {
        base.as_object_mut().map(|object| object.remove(key));
        base
    }

    #[test]
    fn required_attributes() {
        for name in ["specversion", "id", "source", "type"] {
            assert_eq!(
                event(without(minimal(), name)),
                Err(format!("missing required attribute '{name}'"))
            );
            assert_eq!(
                event(with(minimal(), name, Value::Null)),
                Err(format!("missing required attribute '{name}'"))
            );
        }
        for name in ["id", "source", "type"] {
            assert_eq!(
                event(with(minimal(), name, json!(""))),
                Err(format!("attribute '{name}' must not be empty"))
            );
            assert_eq!(
                event(with(minimal(), name, json!(7))),
                Err(format!("attribute '{name}' must be a string"))
            );
        }
        assert_eq!(
            event(with(minimal(), "specversion", json!(1.0))),
            Err("attribute 'specversion' must be a string".to_owned())
        );
    }

    #[test]
    fn names_and_extensions() {
        assert_eq!(
            event(with(minimal(), "Order_Id", json!("o3"))),
            Err("attribute name 'Order_Id' breaks the naming rules; use only lower-case letters a-z and digits 0-9".to_owned())
        );
        for good in [json!("o3"), json!(true), json!(42), json!(null)] {
            assert!(event(with(minimal(), "orderid", good)).is_ok());
        }
        for bad in [
            json!(1.5),
            json!({"a": 1}),
            json!([1]),
            json!(4_294_967_296_i64),
        ] {
            assert_eq!(
                event(with(minimal(), "orderid", bad)),
                Err("attribute 'orderid' must be a string, a boolean or an integer from -2147483648 to 2147483647".to_owned())
            );
        }
        // `data_base64` is a member of the 1.0 format only.
        let v03 = with(minimal(), "specversion", json!("0.3"));
        assert!(event(with(v03, "data_base64", json!("AA=="))).is_err());
    }

    #[test]
    fn data_members() {
        let both = with(
            with(minimal(), "data", json!(1)),
            "data_base64",
            json!("AA=="),
        );
        assert_eq!(
            event(both),
            Err("event has both 'data' and 'data_base64'; send only one of them".to_owned())
        );
        assert_eq!(
            event(with(minimal(), "data_base64", json!("not base64!"))),
            Err("'data_base64' must be a base64 string".to_owned())
        );
        let text = with(
            with(minimal(), "datacontenttype", json!("text/plain")),
            "data",
            json!({"a": 1}),
        );
        assert_eq!(
            event(text),
            Err("'data' must be a string because datacontenttype 'text/plain' is not json; send binary data as 'data_base64'".to_owned())
        );
        let binary = event(with(minimal(), "data_base64", json!("AAE="))).expect("valid");
        assert_eq!(binary.data(), Some(&Data::Binary(vec![0, 1])));
    }

    #[test]
    fn optional_attributes() {
        assert_eq!(
            event(with(minimal(), "time", json!("noon"))),
            Err(
                "attribute 'time' must be an rfc 3339 timestamp such as 2024-05-01T12:00:00Z"
                    .to_owned()
            )
        );
        assert_eq!(
            event(with(minimal(), "subject", json!(3))),
            Err("attribute 'subject' must be a string".to_owned())
        );
        let v03 = with(minimal(), "specversion", json!("0.3"));
        assert_eq!(
            event(with(v03, "schemaurl", json!("relative"))),
            Err("attribute 'schemaurl' must be an absolute uri".to_owned())
        );
        let full = event(with(
            with(minimal(), "time", json!("2024-05-01T12:00:00+02:00")),
            "subject",
            json!("s"),
        ))
        .expect("valid");
        assert_eq!(full.subject(), Some("s"));
    }

    #[test]
    fn batches() {
        let ok = serde_json::to_vec(&json!([minimal(), with(minimal(), "id", json!("2"))]))
            .expect("json");
        assert_eq!(
            decode_batch(&ok, 10).map(|events| events.len()).ok(),
            Some(2)
        );
        assert_eq!(
            decode_batch(b"[]", 10).map(|events| events.len()).ok(),
            Some(0)
        );
        let error = decode_batch(&ok, 1).expect_err("too many");
        assert_eq!(error.status().as_u16(), 413);
        let mixed = serde_json::to_vec(&json!([
            minimal(),
            with(minimal(), "specversion", json!("0.3"))
        ]))
        .expect("json");
        let error = decode_batch(&mixed, 10).expect_err("mixed");
        assert_eq!(error.event_index(), Some(1));
        assert!(matches!(
            decode_batch(b"{}", 10),
            Err(IngressError::BatchNotArray)
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let error = parse(deep.as_bytes()).expect_err("too deep");
        assert!(
            error
                .to_string()
                .starts_with("request body is not valid json: recursion limit exceeded"),
            "{error}"
        );
        let shallow = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(shallow.as_bytes()).is_ok());
    }
}
