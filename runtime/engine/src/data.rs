//! How data flows through states: filters, merges, function parameters and
//! switch comparisons. Pure functions over `serde_json::Value`.
//!
//! The rules, as the spec words them and where it is silent, as chosen here:
//! - A filter path that selects nothing fails the state with `SYS.FilterError`.
//! - A result *merges* into the state data: an object key by key (later keys
//!   win); any other value replaces the state data.
//! - `dataResultsPath` selects from the action's result; a path ending in a
//!   member name merges that member under its name (`$.payload.greeting`
//!   merges `{"greeting": …}`), other paths merge the selected value.
//! - Switch `value`s are strings in the schema: v0.1 operators compare as
//!   numbers when the data is a number and the value parses as one, else as
//!   strings; the draft's `Str*` operators always compare strings.

use serde_json::{Map, Value};

use super::record::WorkflowError;
use swirl_workflow::expression::{ExpressionError, JsonPath};
use swirl_workflow::model::{Action, Comparison, Operator, ParameterValue};

pub use swirl_core::codes::FILTER_ERROR;

pub fn filter_error(error: ExpressionError) -> WorkflowError {
    WorkflowError::new(FILTER_ERROR, error.to_string())
}

/// Applies a selecting filter; nothing selected is an error naming the path.
pub fn select(path: &JsonPath, data: &Value, what: &str) -> Result<Value, WorkflowError> {
    path.select_value(data)
        .map_err(filter_error)?
        .ok_or_else(|| {
            WorkflowError::new(
                FILTER_ERROR,
                format!("{what} '{}' selects nothing from the data", path.as_str()),
            )
        })
}

/// Applies an optional selecting filter.
pub fn select_opt(
    path: Option<&JsonPath>,
    data: Value,
    what: &str,
) -> Result<Value, WorkflowError> {
    match path {
        Some(path) => select(path, &data, what),
        None => Ok(data),
    }
}

/// Merges `addition` into `target`: objects key by key, anything else replaces.
pub fn merge(target: &mut Value, addition: Value) {
    match (target, addition) {
        (Value::Object(target), Value::Object(addition)) => {
            for (key, value) in addition {
                target.insert(key, value);
            }
        }
        (target, addition) => *target = addition,
    }
}

/// The input a function gets for `action` from the state data.
pub fn action_input(action: &Action, data: &Value) -> Result<Value, WorkflowError> {
    let data = match action
        .action_data_filter
        .as_ref()
        .and_then(|f| f.data_input_path.as_ref())
    {
        Some(path) => select(path, data, "actionDataFilter.dataInputPath")?,
        None => data.clone(),
    };
    let parameters = &action.function_ref.parameters;
    if parameters.is_empty() {
        return Ok(data);
    }
    let mut input = Map::new();
    for (name, value) in &parameters.0 {
        let value = match value {
            ParameterValue::Literal(value) => value.clone(),
            ParameterValue::Path(path) => select(path, &data, &format!("parameter '{name}'"))?,
        };
        input.insert(name.clone(), value);
    }
    Ok(Value::Object(input))
}

/// Merges an action's result into the state data per its `dataResultsPath`.
pub fn merge_result(action: &Action, data: &mut Value, result: Value) -> Result<(), WorkflowError> {
    let Some(path) = action
        .action_data_filter
        .as_ref()
        .and_then(|f| f.data_results_path.as_ref())
    else {
        merge(data, result);
        return Ok(());
    };
    let selected = select(path, &result, "actionDataFilter.dataResultsPath")?;
    match last_member_name(path) {
        Some(name) => merge(data, Value::Object(Map::from_iter([(name, selected)]))),
        None => merge(data, selected),
    }
    Ok(())
}

/// The member name a singular path ends with: `$.a.b` → `b`, `$['x']` → `x`.
fn last_member_name(path: &JsonPath) -> Option<String> {
    if !path.is_singular() {
        return None;
    }
    let write = path.to_write_path()?;
    match write.steps().last()? {
        swirl_workflow::expression::WriteStep::Member(name) => Some(name.clone()),
        swirl_workflow::expression::WriteStep::Index(_) => None,
    }
}

/// The state data with the current error visible as `error`, for retry and
/// onError conditions.
pub fn with_error(data: &Value, error: &WorkflowError) -> Value {
    let error = error.to_data();
    match data {
        Value::Object(map) => {
            let mut map = map.clone();
            map.insert("error".to_string(), error);
            Value::Object(map)
        }
        other => serde_json::json!({ "error": error, "data": other }),
    }
}

/// Evaluates one switch comparison against the state data.
pub fn compare(comparison: &Comparison, data: &Value) -> Result<bool, WorkflowError> {
    let selected = comparison.path.select(data).map_err(filter_error)?;
    let Some(actual) = selected.first() else {
        return Ok(false);
    };
    if comparison.operator == Operator::Exists {
        return Ok(!actual.is_null());
    }
    let expected = comparison.value.as_str();
    let ordering = match comparison.operator {
        Operator::StrEquals
        | Operator::StrLessThan
        | Operator::StrLessThanEquals
        | Operator::StrGreaterThan
        | Operator::StrGreaterThanEquals => Some(as_text(actual).as_str().cmp(expected)),
        _ => match (actual.as_f64(), expected.parse::<f64>()) {
            (Some(actual), Ok(expected)) => actual.partial_cmp(&expected),
            _ => Some(as_text(actual).as_str().cmp(expected)),
        },
    };
    let Some(ordering) = ordering else {
        return Ok(false);
    };
    use std::cmp::Ordering::*;
    Ok(match comparison.operator {
        Operator::Exists => true,
        Operator::Equals | Operator::StrEquals => ordering == Equal,
        Operator::LessThan | Operator::StrLessThan => ordering == Less,
        Operator::LessThanEquals | Operator::StrLessThanEquals => ordering != Greater,
        Operator::GreaterThan | Operator::StrGreaterThan => ordering == Greater,
        Operator::GreaterThanEquals | Operator::StrGreaterThanEquals => ordering != Less,
    })
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn comparison(path: &str, operator: Operator, value: &str) -> Comparison {
        Comparison {
            path: JsonPath::compile(path).unwrap(),
            value: value.to_string(),
            operator,
        }
    }

    #[test]
    fn merge_is_key_by_key_for_objects_and_replaces_otherwise() {
        let mut data = json!({"a": 1, "b": 2});
        merge(&mut data, json!({"b": 3, "c": 4}));
        assert_eq!(data, json!({"a": 1, "b": 3, "c": 4}));
        merge(&mut data, json!(7));
        assert_eq!(data, json!(7));
    }

    #[test]
    fn numbers_compare_as_numbers_and_strings_as_strings() {
        let data = json!({"age": 9, "name": "bob"});
        assert!(compare(&comparison("$.age", Operator::LessThan, "18"), &data).unwrap());
        assert!(!compare(&comparison("$.age", Operator::StrLessThan, "18"), &data).unwrap());
        assert!(compare(&comparison("$.name", Operator::Equals, "bob"), &data).unwrap());
        assert!(compare(&comparison("$.name", Operator::Exists, ""), &data).unwrap());
        assert!(!compare(&comparison("$.missing", Operator::Exists, ""), &data).unwrap());
        assert!(
            compare(
                &comparison("$.age", Operator::GreaterThanEquals, "9"),
                &data
            )
            .unwrap()
        );
    }

    #[test]
    fn a_filter_that_selects_nothing_names_the_path() {
        let error = select(
            &JsonPath::compile("$.nope").unwrap(),
            &json!({}),
            "dataInputPath",
        )
        .unwrap_err();
        assert_eq!(error.name, FILTER_ERROR);
        assert_eq!(
            error.message,
            "dataInputPath '$.nope' selects nothing from the data"
        );
    }
}
