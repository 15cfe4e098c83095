//! The load generator's client side: where the server is (`Server`, from
//! the command line's urls), and the requests the scenarios send on a
//! `swirl_client::Connection`: one keep-alive HTTP/1.1 connection per
//! simulated client, one request at a time, as a real client with a
//! connection pool would.

use anyhow::{Context, bail};
use swirl_client::Request;
pub use swirl_client::{Answer, Bytes, Connection, StatusCode};

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
        Ok(Connection::open(&self.authority).await?)
    }
}

/// The requests of the scenarios.
pub trait Requests {
    async fn post(&mut self, path: &str, content_type: &str, body: Bytes)
    -> anyhow::Result<Answer>;

    /// `POST /events` of one structured-mode CloudEvent.
    async fn post_event(&mut self, event: &serde_json::Value) -> anyhow::Result<Answer> {
        let body = Bytes::from(event.to_string());
        self.post("/events", "application/cloudevents+json", body)
            .await
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<Answer>;
}

impl Requests for Connection {
    async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let request = Request::post(path)
            .header("content-type", content_type)
            .body(body);
        Ok(self.send(request).await?)
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        Ok(self.send(Request::get(path)).await?)
    }
}

/// What an answer must be.
pub trait Expected {
    /// The body as JSON, when the status is `expected`.
    fn expect_json(&self, expected: StatusCode, what: &str) -> anyhow::Result<serde_json::Value>;
}

impl Expected for Answer {
    fn expect_json(&self, expected: StatusCode, what: &str) -> anyhow::Result<serde_json::Value> {
        if self.status != expected {
            bail!(
                "{what}: the server answered {} (expected {expected}): {}",
                self.status,
                self.text()
            );
        }
        self.json()
            .with_context(|| format!("{what}: the answer is not JSON"))
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
