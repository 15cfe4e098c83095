//! swirl's HTTP client, for everything of ours that sends requests: the
//! CLI's remote commands, the event sinks, the load generator and the
//! tests. It knows HTTP as a client only and nothing of swirl.
//!
//! ```text
//!  Request (method, url, headers, body, timeout)
//!     ├─▶ Client: pooled keep-alive connections to any http:// url (sinks, soak)
//!     ├─▶ Connection: one HTTP/1.1 connection, one request at a time (load generator, tests)
//!     └─▶ blocking::Client: the pooled client on a runtime of its own (CLI)
//!  ──▶ Answer (status, headers, body bytes; JSON and text views)
//! ```
//!
//! It is hyper's client, which the server side already brings in: plain
//! `http://` only (no TLS stack, no second HTTP implementation). The
//! workflows' own HTTP calls and the OTLP exporter need TLS and use ureq
//! (`swirl-calls`, `swirl-telemetry`).

mod connection;

pub mod blocking;

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use bytes::Bytes;
pub use connection::Connection;
pub use hyper::{HeaderMap, StatusCode};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot send a request to '{url}': {reason}")]
    Invalid { url: String, reason: String },
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("the exchange with {url} failed: {reason}")]
    Exchange { url: String, reason: String },
    #[error("the connection to {address} closed; open a new one")]
    Closed { address: String },
    #[error("cannot write the answer of {url}: {source}")]
    Write {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the HTTP client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl Error {
    /// True when the server could not be reached at all: nothing was sent.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }
}

/// One request: method, url (on a [`Connection`], the path), headers, body
/// and how long to wait for the whole answer.
///
/// A method, url or header that is not valid HTTP is kept as the reason
/// the request cannot be sent, so that building never fails and sending
/// names the url.
#[derive(Debug)]
pub struct Request {
    method: Method,
    url: Uri,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
    /// The first thing found not to be HTTP while building.
    invalid: Option<Error>,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Self {
        let invalid = |reason: String| Error::Invalid {
            url: url.to_string(),
            reason,
        };
        let (url, mut problem) = match Uri::try_from(url) {
            Ok(parsed) => (parsed, None),
            Err(error) => (
                Uri::default(),
                Some(invalid(format!("not a valid url: {error}"))),
            ),
        };
        let method = Method::from_bytes(method.as_bytes()).unwrap_or_else(|_| {
            problem.get_or_insert_with(|| invalid(format!("'{method}' is not an HTTP method")));
            Method::GET
        });
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
            invalid: problem,
        }
    }

    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header (a name given twice is sent twice).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let reason = match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
                return self;
            }
            (Err(_), _) => format!("'{name}' is not a header name"),
            (_, Err(_)) => format!("header {name}'s value is not valid in HTTP"),
        };
        let url = &self.url;
        self.invalid.get_or_insert_with(|| Error::Invalid {
            url: url.to_string(),
            reason,
        });
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// `value` as the body, with `content-type: application/json`.
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    /// Fails the request with [`Error::Timeout`] when its answer is not
    /// whole within `timeout` (no limit by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The hyper request and its url (for messages), or why there is none.
    fn into_hyper(self) -> Result<(hyper::Request<Full<Bytes>>, Uri), Error> {
        if let Some(invalid) = self.invalid {
            return Err(invalid);
        }
        let mut request = hyper::Request::new(Full::new(self.body));
        *request.method_mut() = self.method;
        *request.uri_mut() = self.url.clone();
        *request.headers_mut() = self.headers;
        Ok((request, self.url))
    }
}

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// Keep-alive connections to any `http://` url, pooled by host and port.
/// Cheap to clone: the clones share the pool. Sends on the current tokio
/// runtime.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        Self::with_idle_timeout(Duration::from_secs(90))
    }

    /// A client that closes a pooled connection after `idle` unused (one
    /// to a server that may be killed should not wait long to be dropped).
    pub fn with_idle_timeout(idle: Duration) -> Self {
        let mut connector = HttpConnector::new();
        // Requests are answered one at a time: Nagle would only add delay.
        connector.set_nodelay(true);
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle)
            .build(connector);
        Client { inner }
    }

    /// Sends `request` (its url absolute) and reads the whole answer.
    pub async fn send(&self, request: Request) -> Result<Answer, Error> {
        self.exchange(request, None).await
    }

    /// Sends `request`; a 2xx answer's body is written to `into` as it
    /// arrives (the [`Answer`]'s body is then empty), any other is read whole.
    pub async fn download(
        &self,
        request: Request,
        into: &mut (dyn Write + Send),
    ) -> Result<Answer, Error> {
        self.exchange(request, Some(into)).await
    }

    async fn exchange(
        &self,
        request: Request,
        into: Option<&mut (dyn Write + Send)>,
    ) -> Result<Answer, Error> {
        let timeout = request.timeout;
        let (request, url) = request.into_hyper()?;
        let name = || url.to_string();
        let exchange = async {
            let response = self.inner.request(request).await.map_err(|error| {
                // hyper-util's own text ("client error (Connect)") says
                // less than its sources do.
                let reason =
                    std::error::Error::source(&error).map_or_else(|| reason(&error), reason);
                if error.is_connect() {
                    Error::Connect {
                        address: url
                            .authority()
                            .map_or_else(|| url.to_string(), ToString::to_string),
                        reason,
                    }
                } else {
                    Error::Exchange {
                        url: name(),
                        reason,
                    }
                }
            })?;
            read(response, &name, into).await
        };
        within(timeout, &name, exchange).await
    }
}

/// The text of an error and of its sources, the way a person reads them.
fn reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        let next_text = next.to_string();
        if !text.contains(&next_text) {
            text.push_str(": ");
            text.push_str(&next_text);
        }
        source = next.source();
    }
    text
}

async fn within<T>(
    timeout: Option<Duration>,
    url: &impl Fn() -> String,
    exchange: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match timeout {
        None => exchange.await,
        Some(timeout) => {
            tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| Error::Timeout {
                    url: url(),
                    timeout,
                })?
        }
    }
}

/// Reads `response`; a 2xx body goes to `into` when there is one.
async fn read(
    response: hyper::Response<Incoming>,
    url: &impl Fn() -> String,
    into: Option<&mut (dyn Write + Send)>,
) -> Result<Answer, Error> {
    let (parts, mut body) = response.into_parts();
    let failed = |error: hyper::Error| Error::Exchange {
        url: url(),
        reason: reason(&error),
    };
    let body = match into {
        Some(into) if parts.status.is_success() => {
            let written = |source| Error::Write { url: url(), source };
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map_err(failed)?.into_data() {
                    into.write_all(&data).map_err(written)?;
                }
            }
            into.flush().map_err(written)?;
            Bytes::new()
        }
        _ => body.collect().await.map_err(failed)?.to_bytes(),
    };
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}
