//! The test server, which answers with a JSON summary of the events it got,
//! and the clients that talk to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::routing::post;
use axum::{Json, body::Bytes};
use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Event};
use serde_json::{Map, Value, json};
use swirl_client::{Connection, Request};
use swirl_server::ingress::{CloudEvents, IngressLimits, data_json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone)]
struct TestState {
    limits: IngressLimits,
    /// Requests that reached the handler: a refused request must not.
    handled: Arc<AtomicUsize>,
}

impl FromRef<TestState> for IngressLimits {
    fn from_ref(state: &TestState) -> Self {
        state.limits
    }
}

pub struct Server {
    pub addr: SocketAddr,
    handled: Arc<AtomicUsize>,
}

impl Server {
    pub async fn start() -> Self {
        Self::with_limits(IngressLimits::default()).await
    }

    pub async fn with_limits(limits: IngressLimits) -> Self {
        let handled = Arc::new(AtomicUsize::new(0));
        let state = TestState {
            limits,
            handled: handled.clone(),
        };
        // Mounted as the server will mount it: `/events` and the Knative sink `/`.
        let app = Router::new()
            .route("/events", post(ingest))
            .route("/", post(ingest))
            .with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self { addr, handled }
    }

    pub fn handled(&self) -> usize {
        self.handled.load(Ordering::SeqCst)
    }

    /// POSTs on a new connection, with `Content-Length`.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut request = Request::post(path).body(body.into());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut connection = Connection::open(&self.addr.to_string())
            .await
            .expect("connect");
        let answer = connection.send(request).await.expect("response");
        Answer {
            status: answer.status.as_u16(),
            body: answer.json().unwrap_or(Value::Null),
        }
    }

    /// Shorthand for `post` to `/events`.
    pub async fn events(&self, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
        self.post("/events", headers, body).await
    }

    /// Writes `request` as it is on a new connection and reads the answer.
    /// The server may answer before reading everything, so a failed write is
    /// not an error.
    pub async fn raw(&self, request: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let _ = stream.write_all(request).await;
        let mut response = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
        assert!(read.is_ok(), "no answer within 10 s");
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        }
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The error message of a refusal, checking that the body is a JSON object.
    pub fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {self:?}"))
    }

    /// The events of an acceptance.
    pub fn events(&self) -> &Vec<Value> {
        assert_eq!(self.status, 200, "{self:?}");
        self.body.as_array().expect("array of events")
    }
}

async fn ingest(State(state): State<TestState>, CloudEvents(events): CloudEvents) -> Json<Value> {
    state.handled.fetch_add(1, Ordering::SeqCst);
    Json(events.iter().map(summary).collect())
}

fn summary(event: &Event) -> Value {
    let extensions: Map<String, Value> = event
        .iter_extensions()
        .map(|(name, value)| {
            let value = match value {
                ExtensionValue::String(text) => json!(text),
                ExtensionValue::Boolean(flag) => json!(flag),
                ExtensionValue::Integer(number) => json!(number),
            };
            (name.to_owned(), value)
        })
        .collect();
    let (data, data_error) = match data_json(event) {
        Ok(data) => (data.unwrap_or(Value::Null), Value::Null),
        Err(error) => (Value::Null, json!(error.to_string())),
    };
    json!({
        "specversion": event.specversion().to_string(),
        "id": event.id(),
        "source": event.source(),
        "type": event.ty(),
        "subject": event.subject(),
        "time": event.time().map(|time| time.to_rfc3339()),
        "datacontenttype": event.datacontenttype(),
        "schema": event.dataschema().map(ToString::to_string),
        "extensions": extensions,
        "data": data,
        "data_error": data_error,
    })
}
