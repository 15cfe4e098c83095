//! JSON Schemas of 1.0 data: the `schema` of a workflow's or a task's
//! `input` and `output`, and of a task's `export`.
//!
//! A schema is compiled once, when its document loads ([`DataSchema::compile`]),
//! by `boon` (draft 2020-12 unless its `$schema` names another), and checked
//! against data where the specification's data flow says
//! ([`DataSchema::validate`]). It is self-contained: a `$ref` may point
//! inside it, never to a file or a URL, since the loader refuses every
//! scheme. `format` is an annotation, as draft 2020-12 has it, not checked.

use std::fmt;
use std::sync::Arc;

use boon::{Compiler, SchemaIndex, Schemas, ValidationError};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// Where the schema is filed inside its compiler; error messages leave it out.
const LOCATION: &str = "urn:swirl:schema";

/// How many failures a message lists (the first ones, depth first).
const LISTED_FAILURES: usize = 3;

/// A compiled JSON Schema and the document it came from.
#[derive(Clone)]
pub struct DataSchema {
    document: Value,
    compiled: Arc<(Schemas, SchemaIndex)>,
}

/// Loads nothing: a schema names no file or URL that swirl would read.
struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("'{url}' is outside the schema, and swirl loads no schema from a file or a URL; put what it names under '$defs'").into())
    }
}

impl DataSchema {
    /// Compiles `document`; the error says what is wrong with it.
    pub fn compile(document: &Value) -> Result<Self, String> {
        let mut compiler = Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.use_loader(Box::new(NoLoader));
        let mut schemas = Schemas::new();
        if let Err(error) = compiler.add_resource(LOCATION, document.clone()) {
            return Err(describe_compile_error(&error));
        }
        let index = compiler
            .compile(LOCATION, &mut schemas)
            .map_err(|error| describe_compile_error(&error))?;
        Ok(DataSchema {
            document: document.clone(),
            compiled: Arc::new((schemas, index)),
        })
    }

    /// The schema as written.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Checks `value`; the error lists where and why it does not conform,
    /// as `at '/pointer': reason` (`at the top` for the whole value).
    pub fn validate(&self, value: &Value) -> Result<(), String> {
        let (schemas, index) = &*self.compiled;
        schemas
            .validate(value, *index)
            .map_err(|error| describe_failures(&error))
    }
}

/// The leaves of a validation error: the checks that failed, in order.
fn describe_failures(error: &ValidationError<'_, '_>) -> String {
    fn leaves<'e, 's, 'v>(
        error: &'e ValidationError<'s, 'v>,
        into: &mut Vec<&'e ValidationError<'s, 'v>>,
    ) {
        if error.causes.is_empty() {
            into.push(error);
        }
        for cause in &error.causes {
            leaves(cause, into);
        }
    }
    let mut found = Vec::new();
    leaves(error, &mut found);
    let listed: Vec<String> = found
        .iter()
        .take(LISTED_FAILURES)
        .map(|leaf| {
            let at = leaf.instance_location.to_string();
            let at = if at.is_empty() {
                "at the top".to_string()
            } else {
                format!("at '{at}'")
            };
            format!("{at}: {}", leaf.kind)
        })
        .collect();
    let more = found.len().saturating_sub(LISTED_FAILURES);
    let more = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    format!("{}{more}", listed.join("; "))
}

/// A compile error, without the compiler's own location for the schema.
fn describe_compile_error(error: &boon::CompileError) -> String {
    let text = match error {
        boon::CompileError::ValidationError { src, .. } => {
            format!("it is not a valid JSON Schema: {}", describe_failures(src))
        }
        boon::CompileError::LoadUrlError { src, .. } => src.to_string(),
        other => other.to_string(),
    };
    text.replace(&format!("{LOCATION}#"), "the schema ")
        .replace(LOCATION, "the schema")
}

impl fmt::Debug for DataSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataSchema({})", self.document)
    }
}

impl PartialEq for DataSchema {
    fn eq(&self, other: &Self) -> bool {
        self.document == other.document
    }
}

impl Serialize for DataSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({"format": "json", "document": self.document}).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> DataSchema {
        DataSchema::compile(&json!({
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
            },
            "$defs": {"item": {"type": "string"}},
        }))
        .unwrap()
    }

    #[test]
    fn conforming_data_passes() {
        order().validate(&json!({"id": 3, "items": ["a"]})).unwrap();
        DataSchema::compile(&json!(true))
            .unwrap()
            .validate(&json!(null))
            .unwrap();
    }

    #[test]
    fn failures_name_where_and_why() {
        let error = order().validate(&json!({"items": [1]})).unwrap_err();
        assert!(
            error.contains("at the top: missing properties 'id'"),
            "{error}"
        );
        assert!(
            error.contains("at '/items/0': want string, but got number"),
            "{error}"
        );
        let error = order().validate(&json!({"id": 0})).unwrap_err();
        assert!(
            error.contains("at '/id': must be >=1, but got 0"),
            "{error}"
        );
        let error = order().validate(&json!([1])).unwrap_err();
        assert!(error.contains("want object, but got array"), "{error}");
    }

    #[test]
    fn invalid_schemas_are_refused_with_the_reason() {
        let error = DataSchema::compile(&json!({"type": "strnig"})).unwrap_err();
        assert!(error.contains("not a valid JSON Schema"), "{error}");
        assert!(error.contains("/type"), "{error}");
        assert!(!error.contains("urn:swirl"), "{error}");
    }

    #[test]
    fn references_outside_the_schema_are_not_loaded() {
        for outside in ["file:///etc/passwd", "https://example.com/s.json"] {
            let error = DataSchema::compile(&json!({"$ref": outside})).unwrap_err();
            assert!(error.contains("loads no schema"), "{outside}: {error}");
        }
    }
}
