//! URI templates as Serverless Workflow 1.0 endpoints write them: each
//! `{name}` is replaced by the matching member of a JSON object,
//! percent-encoded; a name with no member is left as it is.

use serde_json::Value;

/// Replaces `{name}` in `template` with the matching member of `data`.
pub fn expand(template: &str, data: &Value) -> String {
    let mut uri = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        uri.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        match data.get(name) {
            Some(value) => uri.push_str(&percent_encode(&text(value))),
            None => uri.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    uri.push_str(rest);
    uri
}

/// `text` with every byte but the unreserved ones (RFC 3986) as `%XX`.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A JSON value as text in a URI or a header: a string as it is, anything
/// else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uri_templates_take_the_input_members() {
        assert_eq!(
            expand(
                "https://x/pet/{petId}?s={status}&q={none}",
                &json!({"petId": 1, "status": "a b"})
            ),
            "https://x/pet/1?s=a%20b&q={none}"
        );
    }
}
