//! The exporter's settings from the standard OpenTelemetry environment
//! variables: traces are on when an OTLP endpoint is named, off otherwise.
//!
//! Read: `OTEL_EXPORTER_OTLP_ENDPOINT` (the base; `/v1/traces` is appended)
//! or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), `..._HEADERS`
//! (`key=value,…`, values percent-decoded), `..._PROTOCOL` (only
//! `http/protobuf`), `..._TIMEOUT` (ms), `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`
//! (`otlp` or `none`) and the batch processor's `OTEL_BSP_MAX_QUEUE_SIZE`,
//! `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` (ms). A value
//! that cannot be read is an error naming the variable, not a silent default.

use std::time::Duration;

/// Spans waiting for export at most; more are dropped and counted.
pub const DEFAULT_MAX_QUEUE: usize = 2048;
/// Spans in one export request at most.
pub const DEFAULT_MAX_BATCH: usize = 512;
/// How long spans wait for a full batch before they are sent anyway.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(5000);
/// How long one export request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(10_000);
/// The service name when neither `OTEL_SERVICE_NAME` nor the resource
/// attributes name one.
pub const DEFAULT_SERVICE_NAME: &str = "swirl";

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The full URL spans are POSTed to.
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
    /// The resource's attributes, `service.name` first.
    pub resource: Vec<(String, String)>,
    pub max_queue: usize,
    pub max_batch: usize,
    pub delay: Duration,
    pub timeout: Duration,
}

/// A variable that cannot be used as it is set.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{variable}={value:?} cannot be used: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

impl Config {
    /// The settings from the variables `var` reads; `None` when traces are
    /// off (no endpoint, `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Config>, ConfigError> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let error = |variable: &'static str, value: &str, reason: &str| ConfigError {
            variable,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        if let Some(exporter) = var("OTEL_TRACES_EXPORTER") {
            match exporter.trim() {
                "none" => return Ok(None),
                "otlp" => {}
                _ => {
                    return Err(error(
                        "OTEL_TRACES_EXPORTER",
                        &exporter,
                        "swirl exports traces with otlp (or none)",
                    ));
                }
            }
        }
        let endpoint = match (
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            var("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(traces), _) => (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                traces.trim().to_string(),
            ),
            (None, Some(base)) => (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{}/v1/traces", base.trim().trim_end_matches('/')),
            ),
            (None, None) => return Ok(None),
        };
        if !(endpoint.1.starts_with("http://") || endpoint.1.starts_with("https://")) {
            return Err(error(
                endpoint.0,
                &endpoint.1,
                "an OTLP/HTTP endpoint is an http:// or https:// URL",
            ));
        }
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(protocol) = var(name) {
                if protocol.trim() != "http/protobuf" {
                    return Err(error(
                        name,
                        &protocol,
                        "swirl exports traces as http/protobuf only",
                    ));
                }
                break;
            }
        }
        let mut headers = Vec::new();
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(text) = var(name) {
                for (key, value) in
                    key_values(&text).map_err(|reason| error(name, &text, &reason))?
                {
                    // The traces' own header replaces the general one.
                    headers.retain(|(k, _): &(String, String)| !k.eq_ignore_ascii_case(&key));
                    headers.push((key, value));
                }
            }
        }
        let mut resource = match var("OTEL_RESOURCE_ATTRIBUTES") {
            Some(text) => key_values(&text)
                .map_err(|reason| error("OTEL_RESOURCE_ATTRIBUTES", &text, &reason))?,
            None => Vec::new(),
        };
        let named = resource
            .iter()
            .position(|(key, _)| key == "service.name")
            .map(|index| resource.remove(index).1);
        let service = var("OTEL_SERVICE_NAME")
            .map(|name| name.trim().to_string())
            .or(named)
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
        resource.insert(0, ("service.name".to_string(), service));
        let count = |name: &'static str, default: usize| match var(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| error(name, &text, "expected a whole number above 0")),
        };
        let millis = |names: &[&'static str], default: Duration| {
            for name in names {
                if let Some(text) = var(name) {
                    return text
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .map(Duration::from_millis)
                        .ok_or_else(|| error(name, &text, "expected milliseconds above 0"));
                }
            }
            Ok(default)
        };
        let max_queue = count("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE)?;
        Ok(Some(Config {
            endpoint: endpoint.1,
            headers,
            resource,
            max_queue,
            max_batch: count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_MAX_BATCH)?.min(max_queue),
            delay: millis(&["OTEL_BSP_SCHEDULE_DELAY"], DEFAULT_DELAY)?,
            timeout: millis(
                &[
                    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                    "OTEL_EXPORTER_OTLP_TIMEOUT",
                ],
                DEFAULT_TIMEOUT,
            )?,
        }))
    }
}

/// `key=value,key=value` (W3C baggage's form, as the OpenTelemetry
/// variables use it), keys and values trimmed, values percent-decoded.
fn key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("'{}' is not key=value", entry.trim()))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("'{}' has no key", entry.trim()));
            }
            Ok((key.to_string(), percent_decode(value.trim())?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("'{text}' has a % not followed by two hex digits"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{text}' does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Option<Config>, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert_eq!(config(&[]), Ok(None));
        assert_eq!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]), Ok(None));
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(config(&[on, ("OTEL_SDK_DISABLED", "true")]), Ok(None));
        assert_eq!(config(&[on, ("OTEL_TRACES_EXPORTER", "none")]), Ok(None));
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_traces_one_is_kept() {
        let base = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(base.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(base.resource, vec![("service.name".into(), "swirl".into())]);
        assert_eq!(base.max_queue, DEFAULT_MAX_QUEUE);
        assert_eq!(base.delay, DEFAULT_DELAY);
        let traces = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://t.example/otlp",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(traces.endpoint, "https://t.example/otlp");
    }

    #[test]
    fn headers_service_name_resource_and_batching_are_read() {
        let config = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=abc%3D%3D, x-team = core",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Team=traces"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ignored,deployment.environment=prod",
            ),
            ("OTEL_SERVICE_NAME", "orders"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            config.headers,
            vec![
                ("api-key".to_string(), "abc==".to_string()),
                ("X-Team".to_string(), "traces".to_string())
            ]
        );
        assert_eq!(
            config.resource,
            vec![
                ("service.name".to_string(), "orders".to_string()),
                ("deployment.environment".to_string(), "prod".to_string())
            ]
        );
        assert_eq!(config.max_queue, 100);
        assert_eq!(config.max_batch, 100, "a batch is at most the queue");
        assert_eq!(config.delay, Duration::from_millis(200));
    }

    #[test]
    fn values_that_cannot_be_used_name_their_variable() {
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        for (vars, variable) in [
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                vec![on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![on, ("OTEL_EXPORTER_OTLP_HEADERS", "novalue")],
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                vec![on, ("OTEL_EXPORTER_OTLP_HEADERS", "k=%zz")],
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                vec![on, ("OTEL_BSP_MAX_QUEUE_SIZE", "lots")],
                "OTEL_BSP_MAX_QUEUE_SIZE",
            ),
            (
                vec![on, ("OTEL_BSP_SCHEDULE_DELAY", "0")],
                "OTEL_BSP_SCHEDULE_DELAY",
            ),
            (
                vec![on, ("OTEL_TRACES_EXPORTER", "jaeger")],
                "OTEL_TRACES_EXPORTER",
            ),
        ] {
            let error = config(&vars).unwrap_err();
            assert_eq!(error.variable, variable, "{error}");
        }
    }
}
