//! The rules on context attributes shared by every content mode: naming, the
//! known spec versions, and the values that must be checked before the SDK sees
//! them so that the error can name the attribute.

use cloudevents::event::SpecVersion;

use super::EventError;

/// The required attributes besides `specversion`, in the order they are checked.
pub(super) const REQUIRED: [&str; 3] = ["id", "source", "type"];

/// CloudEvents 1.0: an attribute name is one or more lower-case ASCII letters
/// or digits. (The spec only recommends at most 20 characters, so longer
/// names are accepted.)
pub(super) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
}

pub(super) fn spec_version(value: &str) -> Result<SpecVersion, EventError> {
    match value {
        "1.0" => Ok(SpecVersion::V10),
        "0.3" => Ok(SpecVersion::V03),
        other => Err(EventError::UnknownSpecVersion(
            other.chars().take(20).collect(),
        )),
    }
}

/// The attribute that names the data's schema: renamed between 0.3 and 1.0.
pub(super) fn schema_attribute(spec: &SpecVersion) -> &'static str {
    match spec {
        SpecVersion::V03 => "schemaurl",
        SpecVersion::V10 => "dataschema",
    }
}

/// Whether `name` is a context attribute of `spec` rather than an extension.
pub(super) fn is_context_attribute(spec: &SpecVersion, name: &str) -> bool {
    spec.attribute_names().contains(&name)
        // A 0.3 attribute of the JSON format that the SDK does not list.
        || (*spec == SpecVersion::V03 && name == "datacontentencoding")
}

/// Checks the string value of a context attribute of `spec`.
///
/// The SDK refuses a bad `time` or schema URL too, but without saying which
/// attribute was wrong; and it accepts an empty `id`, `source` or `type`,
/// which the specification forbids.
pub(super) fn check_value(spec: &SpecVersion, name: &str, value: &str) -> Result<(), EventError> {
    if let Some(required) = REQUIRED.iter().find(|required| **required == name)
        && value.is_empty()
    {
        return Err(EventError::EmptyAttribute(required));
    }
    if name == "time" && chrono::DateTime::parse_from_rfc3339(value).is_err() {
        return Err(EventError::InvalidAttributeValue {
            name: "time",
            expected: "an rfc 3339 timestamp such as 2024-05-01T12:00:00Z",
        });
    }
    let schema = schema_attribute(spec);
    if name == schema && url::Url::parse(value).is_err() {
        return Err(EventError::InvalidAttributeValue {
            name: schema,
            expected: "an absolute uri",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names() {
        for valid in [
            "id",
            "orderid",
            "a1",
            "9lives",
            "averyveryverylongattributename",
        ] {
            assert!(is_valid_name(valid), "{valid}");
        }
        for invalid in ["", "Foo", "foo_bar", "foo-bar", "föö", "data base"] {
            assert!(!is_valid_name(invalid), "{invalid}");
        }
    }

    #[test]
    fn spec_versions() {
        assert_eq!(spec_version("1.0"), Ok(SpecVersion::V10));
        assert_eq!(spec_version("0.3"), Ok(SpecVersion::V03));
        assert_eq!(
            spec_version("2.0").map_err(|error| error.to_string()),
            Err("unknown spec version '2.0'; use '1.0' or '0.3'".to_owned())
        );
    }

    #[test]
    fn values() {
        let v10 = SpecVersion::V10;
        assert_eq!(
            check_value(&v10, "id", ""),
            Err(EventError::EmptyAttribute("id"))
        );
        assert_eq!(check_value(&v10, "subject", ""), Ok(()));
        assert_eq!(check_value(&v10, "time", "2024-05-01T12:00:00Z"), Ok(()));
        assert!(check_value(&v10, "time", "yesterday").is_err());
        assert!(check_value(&v10, "dataschema", "not a uri").is_err());
        // `dataschema` is an extension in 0.3, which names it `schemaurl`.
        assert_eq!(
            check_value(&SpecVersion::V03, "dataschema", "not a uri"),
            Ok(())
        );
        assert!(check_value(&SpecVersion::V03, "schemaurl", "not a uri").is_err());
    }
}
