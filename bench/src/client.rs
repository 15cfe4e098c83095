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
        let (server, path) = Self::parse_url(url)?;
        if path != "/" {
            bail!("server url '{url}' must be http://host:port, without a path");
        }
        Ok(server)
    }

    /// Parses `http://host:port/path?query` into the server and the path
    /// (with its query; `/` when there is none).
    pub fn parse_url(url: &str) -> anyhow::Result<(Self, String)> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("url '{url}' must start with http://");
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("url '{url}' has no host:port after http://");
        }
        let path = match path {
            "" => "/".to_string(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_string(),
        };
        let server = Server {
            authority: authority.to_string(),
        };
        Ok((server, path))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_splits_into_server_and_path() {
        let (server, path) = Server::parse_url("http://127.0.0.1:8080/seq3/run").unwrap();
        assert_eq!(server.authority, "127.0.0.1:8080");
        assert_eq!(path, "/seq3/run");
        let (_, path) = Server::parse_url("http://localhost:1/w/i?wait=true").unwrap();
        assert_eq!(path, "/w/i?wait=true");
        let (_, path) = Server::parse_url("http://localhost:1?x=1").unwrap();
        assert_eq!(path, "/?x=1");
    }

    #[test]
    fn a_server_url_has_no_path() {
        assert_eq!(Server::parse("http://h:1/").unwrap().authority, "h:1");
        assert_eq!(Server::parse("http://h:1").unwrap().authority, "h:1");
        assert!(Server::parse("http://h:1/events").is_err());
        assert!(Server::parse("https://h:1").is_err());
        assert!(Server::parse("http:///x").is_err());
    }
}
