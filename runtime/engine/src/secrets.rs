//! The app's secrets (1.0 `use.secrets`, `$secrets`), kept out of every
//! record.
//!
//! Expressions never see a value: a workflow's `$secrets.name` is a stand-in,
//! `{{swirl-secret:name:<check>}}` (for a secret that is a JSON object, an
//! object of stand-ins, one per field). The stand-in is what an evaluated
//! `with` holds, so it is what the instance's record, history, logs and the
//! admin API show; the engine replaces stand-ins by values only in what it
//! hands the invoker (the HTTP request, a function's input), and masks
//! values in what comes back (the answer, the error) as `***`. The check is
//! a hash of every secret's value and the name: data that carries a
//! stand-in it made up is not replaced, so input cannot pull a secret out.
//! Computing on a stand-in (`length`, `@base64`) computes on the stand-in.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What marks a string that may hold stand-ins.
const MARK: &str = "{{swirl-secret:";

/// Values shorter than this are not masked in answers: masking `1` would
/// mangle every number.
const MIN_MASKED_LEN: usize = 4;

/// The secrets of the app, by name: a string, or an object of fields.
#[derive(Default)]
pub struct Secrets {
    values: BTreeMap<String, Value>,
    /// Keys the stand-ins: a hash of every name and value.
    key: Vec<u8>,
    /// (stand-in, value) of every secret and field.
    replacements: Vec<(String, String)>,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl Secrets {
    pub fn new(values: BTreeMap<String, Value>) -> Self {
        let mut hasher = Sha256::new();
        for (name, value) in &values {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(value.to_string().as_bytes());
            hasher.update([0]);
        }
        let mut secrets = Secrets {
            key: hasher.finalize().to_vec(),
            values,
            replacements: Vec::new(),
        };
        let mut replacements = Vec::new();
        for (name, value) in &secrets.values {
            match value {
                Value::Object(fields) => {
                    for (field, value) in fields {
                        let path = format!("{name}.{field}");
                        replacements.push((secrets.stand_in(&path), text(value)));
                    }
                }
                other => replacements.push((secrets.stand_in(name), text(other))),
            }
        }
        secrets.replacements = replacements;
        secrets
    }

    pub(crate) fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    fn stand_in(&self, path: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(&self.key);
        hasher.update(path.as_bytes());
        let check = super::hex(&hasher.finalize());
        format!("{MARK}{path}:{}}}}}", &check[..24])
    }

    /// `$secrets` of a workflow that lists `names`: the stand-ins of those
    /// the app has.
    pub(crate) fn stand_ins(&self, names: &[String]) -> Map<String, Value> {
        names
            .iter()
            .filter_map(|name| {
                let stand_in = match self.values.get(name)? {
                    Value::Object(fields) => Value::Object(
                        fields
                            .keys()
                            .map(|f| (f.clone(), self.stand_in(&format!("{name}.{f}")).into()))
                            .collect(),
                    ),
                    _ => Value::String(self.stand_in(name)),
                };
                Some((name.clone(), stand_in))
            })
            .collect()
    }

    /// `value` with the stand-ins in its strings replaced by the values.
    pub(crate) fn reveal(&self, value: &Value) -> Value {
        self.map_strings(value, &|text| {
            if !text.contains(MARK) {
                return None;
            }
            let mut revealed = text.to_string();
            for (stand_in, value) in &self.replacements {
                revealed = revealed.replace(stand_in, value);
            }
            Some(revealed)
        })
    }

    /// `text` with every secret value in it masked.
    pub(crate) fn conceal_text(&self, text: &str) -> String {
        let mut concealed = text.to_string();
        for (_, value) in &self.replacements {
            if value.len() >= MIN_MASKED_LEN {
                concealed = concealed.replace(value.as_str(), "***");
            }
        }
        concealed
    }

    /// `value` with every secret value in its strings masked.
    pub(crate) fn conceal(&self, value: &Value) -> Value {
        self.map_strings(value, &|text| {
            let concealed = self.conceal_text(text);
            (concealed != text).then_some(concealed)
        })
    }

    fn map_strings(&self, value: &Value, change: &dyn Fn(&str) -> Option<String>) -> Value {
        if self.replacements.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(text) => Value::String(change(text).unwrap_or_else(|| text.clone())),
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.map_strings(i, change)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.map_strings(v, change)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stand_ins_are_revealed_only_when_the_engine_made_them() {
        let secrets = Secrets::new(BTreeMap::from([
            ("token".to_string(), json!("s3cr3t-token")),
            (
                "login".to_string(),
                json!({"username": "ada", "password": "lovelace"}),
            ),
        ]));
        let seen = secrets.stand_ins(&["token".into(), "login".into(), "absent".into()]);
        assert!(!serde_json::to_string(&seen).unwrap().contains("s3cr3t"));
        assert!(seen.get("absent").is_none());
        let with =
            json!({"h": format!("Bearer {}", seen["token"].as_str().unwrap()), "b": seen["login"]});
        assert_eq!(
            secrets.reveal(&with),
            json!({"h": "Bearer s3cr3t-token", "b": {"username": "ada", "password": "lovelace"}})
        );
        let forged = json!("{{swirl-secret:token:000000000000000000000000}}");
        assert_eq!(secrets.reveal(&forged), forged);
        assert_eq!(
            secrets.conceal(&json!({"echo": "got s3cr3t-token"})),
            json!({"echo": "got ***"})
        );
    }
}
