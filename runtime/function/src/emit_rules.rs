//! The attributes of an event a function emits, checked when it emits it, so
//! that what the runtime later sends is a valid CloudEvent that any receiver
//! reads as the function meant.
//!
//! Extension names are refused rather than encoded: CloudEvents names are
//! lower-case ASCII letters and digits in every binding, no binding has an
//! escape for other characters, and a receiver matches names exactly, so an
//! encoded name would be a different attribute. Names longer than the 20
//! characters the specification recommends are accepted, as the ingress
//! accepts them. Values may hold any text but control characters, which
//! CloudEvents forbids in attribute values.

/// Context attributes the runtime sets itself or the event record carries;
/// an extension of one of these names would collide with it.
const CONTEXT_ATTRIBUTES: [&str; 10] = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
];

/// Why the emitted event with these attributes is refused, or `None`.
pub(super) fn refusal(
    event_type: &str,
    source: &str,
    subject: Option<&str>,
    extensions: &[(String, String)],
) -> Option<String> {
    if event_type.is_empty() {
        return Some("refused: the event's type is empty".to_string());
    }
    let values = [("type", event_type), ("source", source)]
        .into_iter()
        .chain(subject.map(|subject| ("subject", subject)))
        .chain(
            extensions
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
    for (name, value) in values {
        if value.chars().any(char::is_control) {
            return Some(format!(
                "refused: attribute '{name}' has control characters, which CloudEvents attribute values must not contain"
            ));
        }
    }
    for (index, (name, _)) in extensions.iter().enumerate() {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
        if !valid {
            return Some(format!(
                "refused: extension name '{name}' breaks the CloudEvents naming rules; use only lower-case letters a-z and digits 0-9"
            ));
        }
        if CONTEXT_ATTRIBUTES.contains(&name.as_str()) {
            return Some(format!(
                "refused: extension name '{name}' is a context attribute; set the event's own fields instead"
            ));
        }
        if extensions[..index]
            .iter()
            .any(|(earlier, _)| earlier == name)
        {
            return Some(format!("refused: extension '{name}' is given twice"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn valid_events_pass() {
        let ext = extensions(&[
            ("orderid", "caf\u{e9} 10% \"x\""),
            ("a1", ""),
            ("averyveryverylongextensionname", "v"),
        ]);
        assert_eq!(refusal("t", "", Some("\u{fc}"), &ext), None);
    }

    #[test]
    fn bad_names_and_values_are_refused_by_name() {
        let refused =
            |pairs: &[(&str, &str)]| refusal("t", "s", None, &extensions(pairs)).expect("refused");
        assert!(refused(&[("Order_Id", "1")]).contains("'Order_Id'"));
        assert!(refused(&[("", "1")]).contains("extension name ''"));
        assert!(refused(&[("caf\u{e9}", "1")]).contains("naming rules"));
        assert!(refused(&[("type", "x")]).contains("context attribute"));
        assert!(refused(&[("a", "1"), ("a", "2")]).contains("given twice"));
        assert!(refused(&[("note", "a\nb")]).contains("attribute 'note'"));
        assert!(refusal("", "s", None, &[]).is_some());
        assert!(
            refusal("t", "s", Some("a\u{7f}"), &[])
                .expect("refused")
                .contains("'subject'")
        );
    }
}
