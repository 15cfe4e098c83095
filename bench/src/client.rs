//! One keep-alive HTTP/1.1 connection to the server, used by one simulated
//! client for all its requests, one at a time, as a real client with a
//! connection pool would.
//!
//! It is hyper's connection-level client rather than a pooled one: nothing
//! between the measurement and the socket but HTTP/1 framing.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where the server listens: `host:port`, taken from its base url.
#[derive(Debug, Clone)]
pub struct Server {
    authority: String,
}

impl Server {
    /// Parses `http://host:port` (a trailing slash is fine).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("server url '{url}' must start with http://");
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("server url '{url}' must be http://host:port, without a path");
        }
        Ok(Server {
            authority: authority.to_string(),
        })
    }

    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("cannot connect to {}", self.authority))?;
        // Requests are small and answered one at a time: Nagle would only
        // add delay.
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            authority: self.authority.clone(),
        })
    }
}

/// An open connection; requests on it go one after another.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
}

/// A whole answer.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON, when the status is `expected`.
    pub fn json(&self, expected: StatusCode, what: &str) -> anyhow::Result<serde_json::Value> {
        if self.status != expected {
            bail!(
                "{what}: the server answered {} (expected {expected}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        serde_json::from_slice(&self.body)
            .with_context(|| format!("{what}: the answer is not JSON"))
    }
}

impl Connection {
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body))?;
        self.send(request).await
    }

    /// `POST /events` of one structured-mode CloudEvent.
    pub async fn post_event(&mut self, event: &serde_json::Value) -> anyhow::Result<Answer> {
        self.post(
            "/events",
            "application/cloudevents+json",
            Bytes::from(event.to_string()),
        )
        .await
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, &self.authority)
            .body(Full::new(Bytes::new()))?;
        self.send(request).await
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Answer> {
        self.sender
            .ready()
            .await
            .context("the connection to the server closed")?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }
}
