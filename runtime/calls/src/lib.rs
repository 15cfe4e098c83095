//! Calls a workflow makes to the outside world: 1.0's `call: http` and
//! `call: openapi`, made by the host (functions themselves have no network).
//!
//! The interpreter evaluates a call's `with` into JSON; [`Caller::call`]
//! reads that JSON ([`HttpRequest::from_with`]), makes the request with
//! certificate verification for https, and shapes the answer as the task's
//! `output` asks: `content` (the body, JSON decoded when it says it is
//! JSON), `response` (request, status, headers and content) or `raw` (the
//! body in base64). A status of 400 or more is a [`CallError::Status`].
//!
//! Limits: [`CALL_TIMEOUT`] per request, [`MAX_RESPONSE_BYTES`] per body,
//! [`MAX_REDIRECTS`] when `redirect` allows them. Every request, redirect
//! hop and OpenAPI document goes only to the hosts the app allows
//! ([`AllowedHosts`]), else it is a [`CallError::Forbidden`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use swirl_core::uri_template::{self, percent_encode, text};

mod hosts;

pub use hosts::{AllowedHosts, HostPattern};

/// How long one request may take, connection to last byte.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body read; a larger one fails the call.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Redirects followed when the call allows them.
pub const MAX_REDIRECTS: u32 = 10;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The call's arguments are unusable (a 1.0 `validation` error).
    #[error("{0}")]
    Invalid(String),
    /// The server answered with an error status (`communication`, with it).
    #[error("{method} {uri} answered {status}")]
    Status {
        method: String,
        uri: String,
        status: u16,
    },
    /// The app may not call that host (`authorization`).
    #[error("{0}")]
    Forbidden(String),
    /// No answer: connection, TLS, timeout or a body too large (`communication`).
    #[error("{method} {uri} failed: {reason}")]
    Transport {
        method: String,
        uri: String,
        reason: String,
    },
}

/// What a call's output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Content,
    Response,
    Raw,
}

/// An HTTP request as a 1.0 `call: http` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub output: Output,
    pub redirect: bool,
}

fn pairs(value: Option<&Value>, what: &str) -> Result<Vec<(String, String)>, CallError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map.iter().map(|(k, v)| (k.clone(), text(v))).collect()),
        Some(other) => Err(CallError::Invalid(format!(
            "'{what}' must be an object of names and values, not {other}"
        ))),
    }
}

impl HttpRequest {
    /// Reads an evaluated `with` of `call: http`; `{name}`s in the endpoint
    /// are filled from `input`, the task's input.
    pub fn from_with(with: &Value, input: &Value) -> Result<Self, CallError> {
        let method = with
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| CallError::Invalid("'with.method' is required".into()))?
            .to_ascii_uppercase();
        let endpoint = with
            .get("endpoint")
            .ok_or_else(|| CallError::Invalid("'with.endpoint' is required".into()))?;
        let (template, authentication) = match endpoint {
            Value::String(uri) => (uri.as_str(), None),
            Value::Object(map) => (
                map.get("uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| CallError::Invalid("'with.endpoint.uri' is required".into()))?,
                map.get("authentication"),
            ),
            other => {
                return Err(CallError::Invalid(format!(
                    "'with.endpoint' must be a URI or an object with 'uri', not {other}"
                )));
            }
        };
        let mut headers = pairs(with.get("headers"), "with.headers")?;
        if let Some(header) = authorization(authentication)? {
            headers.push(("authorization".into(), header));
        }
        let output = match with.get("output").and_then(Value::as_str) {
            None | Some("content") => Output::Content,
            Some("response") => Output::Response,
            Some("raw") => Output::Raw,
            Some(other) => {
                return Err(CallError::Invalid(format!(
                    "'with.output' is '{other}'; use content, response or raw"
                )));
            }
        };
        Ok(HttpRequest {
            method,
            uri: uri_template::expand(template, input),
            headers,
            query: pairs(with.get("query"), "with.query")?,
            body: with.get("body").filter(|b| !b.is_null()).cloned(),
            output,
            redirect: with
                .get("redirect")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// The `authorization` header of a `basic` or `bearer` authentication.
fn authorization(authentication: Option<&Value>) -> Result<Option<String>, CallError> {
    let Some(authentication) = authentication else {
        return Ok(None);
    };
    if let Some(basic) = authentication.get("basic") {
        let field = |name: &str| basic.get(name).map(text).unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            field("username"),
            field("password")
        ));
        return Ok(Some(format!("Basic {token}")));
    }
    if let Some(bearer) = authentication.get("bearer") {
        let token = bearer.get("token").map(text).unwrap_or_default();
        return Ok(Some(format!("Bearer {token}")));
    }
    Err(CallError::Invalid(
        "only 'basic' and 'bearer' authentications are supported".into(),
    ))
}

/// Makes calls; one per server, shared by every run thread.
pub struct Caller {
    /// Follows no redirect itself: [`Caller::http`] follows them, hop by
    /// hop, so that each hop's host is checked before it is called.
    agent: ureq::Agent,
    /// OpenAPI documents by URL, fetched once.
    documents: Mutex<HashMap<String, Value>>,
}

impl Default for Caller {
    fn default() -> Self {
        Caller::new()
    }
}

impl Caller {
    pub fn new() -> Self {
        Caller {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(CALL_TIMEOUT))
                .max_redirects(0)
                .http_status_as_error(false)
                .build()
                .into(),
            documents: Mutex::new(HashMap::new()),
        }
    }

    /// Makes a task's `protocol` call (`http` or `openapi`) with its
    /// evaluated `with`, to the hosts `allowed` only.
    pub fn request(
        &self,
        protocol: &str,
        with: &Value,
        allowed: &AllowedHosts,
    ) -> Result<Value, CallError> {
        match protocol {
            "http" => self.http(&HttpRequest::from_with(with, &Value::Null)?, allowed),
            "openapi" => self.openapi(with, allowed),
            other => Err(CallError::Invalid(format!(
                "'call: {other}' is not a protocol swirl calls; use http or openapi"
            ))),
        }
    }

    /// Makes `request` and shapes its answer.
    pub fn http(&self, request: &HttpRequest, allowed: &AllowedHosts) -> Result<Value, CallError> {
        let mut uri = request.uri.clone();
        if !request.query.is_empty() {
            let query: Vec<String> = request
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect();
            uri.push(if uri.contains('?') { '&' } else { '?' });
            uri.push_str(&query.join("&"));
        }
        let mut headers = request.headers.clone();
        let body = match &request.body {
            None => Vec::new(),
            Some(Value::String(text)) => text.clone().into_bytes(),
            Some(json) => {
                if !headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                json.to_string().into_bytes()
            }
        };
        let mut hop = Hop {
            method: request.method.clone(),
            uri: uri.clone(),
            headers,
            body,
        };
        let mut redirects = 0;
        let Answer {
            status,
            headers: response_headers,
            body: bytes,
        } = loop {
            let answer = self.send(&hop, allowed)?;
            let location = answer.headers.get("location").and_then(Value::as_str);
            match location {
                Some(location) if request.redirect && (300..400).contains(&answer.status) => {
                    if redirects == MAX_REDIRECTS {
                        return Err(hop.failed(format!("more than {MAX_REDIRECTS} redirects")));
                    }
                    redirects += 1;
                    hop = hop.redirected(answer.status, location);
                }
                _ => break answer,
            }
        };
        // Without `redirect`, a 3xx is an error too.
        if status >= 400 || (300..400).contains(&status) {
            return Err(CallError::Status {
                method: hop.method,
                uri: hop.uri,
                status,
            });
        }
        let is_json = response_headers
            .get("content-type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains("json"));
        let content = if is_json {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        } else if bytes.is_empty() {
            Value::Null
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        Ok(match request.output {
            Output::Content => content,
            Output::Raw => Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            Output::Response => json!({
                "request": {
                    "method": request.method,
                    "uri": uri,
                    // The credentials stay out of the output (and so of
                    // the instance's record).
                    "headers": request
                        .headers
                        .iter()
                        .map(|(name, value)| {
                            let value = if name.eq_ignore_ascii_case("authorization") {
                                "***".to_string()
                            } else {
                                value.clone()
                            };
                            (name.clone(), Value::String(value))
                        })
                        .collect::<Map<String, Value>>(),
                },
                "statusCode": status,
                "headers": response_headers,
                "content": content,
            }),
        })
    }

    /// Sends one hop, if its host is allowed.
    fn send(&self, hop: &Hop, allowed: &AllowedHosts) -> Result<Answer, CallError> {
        allowed.check(&hop.uri).map_err(CallError::Forbidden)?;
        let mut builder = ureq::http::Request::builder()
            .method(hop.method.as_str())
            .uri(hop.uri.as_str());
        for (name, value) in &hop.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let http_request = builder.body(hop.body.clone()).map_err(|e| {
            CallError::Invalid(format!("the request to {} is invalid: {e}", hop.uri))
        })?;
        let mut response = self
            .agent
            .run(http_request)
            .map_err(|e| hop.failed(e.to_string()))?;
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
                )
            })
            .collect();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| hop.failed(format!("reading the body failed: {e}")))?;
        Ok(Answer {
            status: response.status().as_u16(),
            headers,
            body: bytes,
        })
    }

    /// Makes the OpenAPI operation an evaluated `call: openapi` `with` names.
    pub fn openapi(&self, with: &Value, allowed: &AllowedHosts) -> Result<Value, CallError> {
        let endpoint = with.get("document").and_then(|d| d.get("endpoint"));
        let document_uri = endpoint
            .and_then(|e| e.as_str().or_else(|| e.get("uri").and_then(Value::as_str)))
            .ok_or_else(|| CallError::Invalid("'with.document.endpoint' is required".into()))?;
        let document_authorization = authorization(endpoint.and_then(|e| e.get("authentication")))?;
        let operation_id = with
            .get("operationId")
            .and_then(Value::as_str)
            .ok_or_else(|| CallError::Invalid("'with.operationId' is required".into()))?;
        let document = self.document(document_uri, document_authorization, allowed)?;
        let (method, path, operation) =
            find_operation(&document, operation_id).ok_or_else(|| {
                CallError::Invalid(format!(
                    "the OpenAPI document at {document_uri} has no operation '{operation_id}'"
                ))
            })?;
        let base = base_uri(&document, document_uri);
        let arguments = with.get("parameters").cloned().unwrap_or(Value::Null);
        let mut query = Vec::new();
        let mut headers = Vec::new();
        let mut body = None;
        for parameter in operation
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), place) = (
                parameter.get("name").and_then(Value::as_str),
                parameter.get("in").and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some(value) = arguments.get(name) else {
                continue;
            };
            match place {
                Some("query") => match value {
                    Value::Array(items) => {
                        query.extend(items.iter().map(|i| (name.into(), text(i))))
                    }
                    other => query.push((name.into(), text(other))),
                },
                Some("header") => headers.push((name.into(), text(value))),
                Some("body") => body = Some(value.clone()),
                _ => {}
            }
        }
        if body.is_none() {
            body = arguments.get("body").cloned();
        }
        if let Some(header) = authorization(with.get("authentication"))? {
            headers.push(("authorization".into(), header));
        }
        let request = HttpRequest {
            method: method.to_ascii_uppercase(),
            uri: uri_template::expand(&format!("{base}{path}"), &arguments),
            headers,
            query,
            body,
            output: match with.get("output").and_then(Value::as_str) {
                Some("response") => Output::Response,
                Some("raw") => Output::Raw,
                _ => Output::Content,
            },
            redirect: with
                .get("redirect")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        self.http(&request, allowed)
    }

    /// The OpenAPI document at `uri`, fetched with `authorization` the
    /// first time (a document is the same whoever asks, but not whoever
    /// may reach its host).
    fn document(
        &self,
        uri: &str,
        authorization: Option<String>,
        allowed: &AllowedHosts,
    ) -> Result<Value, CallError> {
        allowed.check(uri).map_err(CallError::Forbidden)?;
        if let Some(document) = self.documents.lock().ok().and_then(|d| d.get(uri).cloned()) {
            return Ok(document);
        }
        let mut headers = vec![("accept".into(), "application/json".into())];
        headers.extend(authorization.map(|a| ("authorization".into(), a)));
        let document = self.http(
            &HttpRequest {
                method: "GET".into(),
                uri: uri.into(),
                headers,
                query: Vec::new(),
                body: None,
                output: Output::Content,
                redirect: true,
            },
            allowed,
        )?;
        if !document.is_object() {
            return Err(CallError::Invalid(format!(
                "{uri} is not a JSON OpenAPI document"
            )));
        }
        if let Ok(mut documents) = self.documents.lock() {
            documents.insert(uri.to_string(), document.clone());
        }
        Ok(document)
    }
}

/// What a server answered one hop.
struct Answer {
    status: u16,
    headers: Map<String, Value>,
    body: Vec<u8>,
}

/// One request of a call: the first, or one a redirect asks for.
struct Hop {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Hop {
    fn failed(&self, reason: String) -> CallError {
        CallError::Transport {
            method: self.method.clone(),
            uri: self.uri.clone(),
            reason,
        }
    }

    /// The request a `status` redirect to `location` asks for: a 303, or a
    /// 301 or 302 after a POST, is a GET without the body (as browsers
    /// do); 307 and 308 repeat the request. Credentials do not follow to
    /// another origin.
    fn redirected(self, status: u16, location: &str) -> Hop {
        let uri = resolve(&self.uri, location);
        let as_get = status == 303 || (matches!(status, 301 | 302) && self.method == "POST");
        let same_origin = origin(&uri) == origin(&self.uri);
        let headers = self
            .headers
            .into_iter()
            .filter(|(name, _)| same_origin || !name.eq_ignore_ascii_case("authorization"))
            .filter(|(name, _)| !as_get || !name.eq_ignore_ascii_case("content-type"))
            .collect();
        Hop {
            method: if as_get { "GET".into() } else { self.method },
            uri,
            headers,
            body: if as_get { Vec::new() } else { self.body },
        }
    }
}

/// `scheme://authority` of an absolute URI.
fn origin(uri: &str) -> &str {
    let after_scheme = uri.find("://").map_or(0, |at| at + 3);
    let end = uri[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(uri.len(), |at| after_scheme + at);
    &uri[..end]
}

/// A `Location` against the URI it answers (RFC 3986's cases a server
/// sends: absolute, scheme-relative, absolute path, relative path).
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        return format!("{scheme}://{rest}");
    }
    let origin = origin(base);
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = base[origin.len()..]
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let directory = &path[..path.rfind('/').map_or(0, |at| at + 1)];
    let directory = if directory.is_empty() { "/" } else { directory };
    format!("{origin}{directory}{location}")
}

/// The method, path and operation object of `operation_id`.
fn find_operation<'d>(
    document: &'d Value,
    operation_id: &str,
) -> Option<(String, String, &'d Value)> {
    document
        .get("paths")?
        .as_object()?
        .iter()
        .find_map(|(path, item)| {
            item.as_object()?.iter().find_map(|(method, operation)| {
                (operation.get("operationId").and_then(Value::as_str) == Some(operation_id))
                    .then(|| (method.clone(), path.clone(), operation))
            })
        })
}

/// Where an OpenAPI document's paths live: OpenAPI 3's first server, or
/// Swagger 2's scheme, host and base path, else the document's own origin.
fn base_uri(document: &Value, document_uri: &str) -> String {
    if let Some(url) = document.pointer("/servers/0/url").and_then(Value::as_str) {
        return url.trim_end_matches('/').to_string();
    }
    let origin = document_uri
        .find("://")
        .and_then(|at| {
            document_uri[at + 3..]
                .find('/')
                .map(|slash| &document_uri[..at + 3 + slash])
        })
        .unwrap_or(document_uri);
    let scheme = document
        .pointer("/schemes/0")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| origin.split("://").next().unwrap_or("https").to_string());
    let host = document.get("host").and_then(Value::as_str);
    let base_path = document
        .get("basePath")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_end_matches('/');
    match host {
        Some(host) => format!("{scheme}://{host}{base_path}"),
        None => format!("{origin}{base_path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_with_without_method_or_endpoint_is_invalid() {
        assert!(matches!(
            HttpRequest::from_with(&json!({"endpoint": "http://x"}), &Value::Null),
            Err(CallError::Invalid(_))
        ));
        let request = HttpRequest::from_with(
            &json!({"method": "get", "endpoint": {"uri": "http://x/{a}", "authentication": {"basic": {"username": "u", "password": "p"}}}}),
            &json!({"a": "b"}),
        )
        .unwrap();
        assert_eq!(request.uri, "http://x/b");
        assert_eq!(
            request.headers,
            vec![("authorization".into(), "Basic dTpw".into())]
        );
    }

    #[test]
    fn a_location_resolves_against_the_uri_it_answers() {
        let base = "http://a.example:8080/dir/page?q=1";
        assert_eq!(resolve(base, "https://b.example/x"), "https://b.example/x");
        assert_eq!(resolve(base, "//c.example/y"), "http://c.example/y");
        assert_eq!(resolve(base, "/root"), "http://a.example:8080/root");
        assert_eq!(resolve(base, "next?z"), "http://a.example:8080/dir/next?z");
        assert_eq!(resolve("http://a.example", "next"), "http://a.example/next");
    }

    #[test]
    fn a_redirect_to_another_origin_drops_credentials_and_a_303_turns_into_a_get() {
        let hop = Hop {
            method: "POST".into(),
            uri: "http://a.example/form".into(),
            headers: vec![
                ("authorization".into(), "Bearer t".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: b"{}".to_vec(),
        };
        let same = hop.redirected(307, "/again");
        assert_eq!(
            (same.method.as_str(), same.headers.len(), same.body.len()),
            ("POST", 2, 2)
        );
        let other = same.redirected(303, "http://b.example/done");
        assert_eq!(other.method, "GET");
        assert!(other.headers.is_empty() && other.body.is_empty());
    }
}
