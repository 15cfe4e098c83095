//! One keep-alive HTTP/1.1 connection, used for one request at a time, as
//! a client with a connection pool uses each of its connections.
//!
//! It is hyper's connection-level client rather than a pooled one: nothing
//! between a measurement and the socket but HTTP/1 framing, and a test
//! that asks for a new connection gets one.

use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderValue};
use hyper::{Uri, http::uri::PathAndQuery};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{Answer, Bytes, Error, Request, within};
use http_body_util::Full;

/// An open connection to one server; requests on it go one after another.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// `host:port`, sent as `host` and named in errors.
    address: String,
    host: HeaderValue,
}

impl Connection {
    /// Connects to `address`, `host:port`.
    pub async fn open(address: &str) -> Result<Connection, Error> {
        let failed = |error: &dyn std::error::Error| Error::Connect {
            address: address.to_string(),
            reason: error.to_string(),
        };
        let host = HeaderValue::from_str(address).map_err(|_| Error::Invalid {
            url: address.to_string(),
            reason: "not a host:port".to_string(),
        })?;
        let stream = TcpStream::connect(address)
            .await
            .map_err(|error| failed(&error))?;
        // Requests are answered one at a time: Nagle would only add delay.
        stream.set_nodelay(true).map_err(|error| failed(&error))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| failed(&error))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            address: address.to_string(),
            host,
        })
    }

    /// Sends `request` (its url a path, such as `/events?x=1`; of an
    /// absolute url only the path is sent) and reads the whole answer.
    pub async fn send(&mut self, request: Request) -> Result<Answer, Error> {
        let Connection {
            sender,
            address,
            host,
        } = self;
        let timeout = request.timeout;
        let (mut request, url) = request.into_hyper()?;
        if request.uri().authority().is_some() {
            let path = request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"));
            *request.uri_mut() = Uri::from(path);
        }
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, host.clone());
        }
        // Errors name the server, not just the path.
        let name = || match url.authority() {
            Some(_) => url.to_string(),
            None => format!("http://{address}{url}"),
        };
        let exchange = async {
            sender.ready().await.map_err(|_| Error::Closed {
                address: address.clone(),
            })?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|error| Error::Exchange {
                    url: name(),
                    reason: crate::reason(&error),
                })?;
            crate::read(response, &name, None).await
        };
        within(timeout, &name, exchange).await
    }
}
