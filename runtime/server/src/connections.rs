//! The accept loop of `swirl serve`: how many connections it holds, how long
//! a client may take to send a request, and how it stops.
//!
//! axum's own `serve` has no connection cap and no read timeouts, so a few
//! hundred clients that open connections and then send nothing (or one
//! byte a minute, "slowloris") would hold the server's sockets forever.
//! Here:
//! - at most `max_connections` are served at once; one more is answered
//!   `503` with a JSON error and closed, without reaching the router;
//! - a request's headers must arrive within `header_timeout` (hyper closes
//!   the connection otherwise), and its body within `body_timeout` of the
//!   headers (the request is then answered `408`);
//! - a connection is closed lingering, as nginx does: the server stops
//!   sending, then reads and drops what the client still sends before it
//!   closes the socket, so that a client writing a body the server refused
//!   unread (a 413 on its declared length) reads the answer instead of a
//!   reset.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};

/// How many connections the server holds and how long a request may take to arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Longest time from a connection's first byte of a request to its last header.
    pub header_timeout: Duration,
    /// Longest time from a request's headers to the end of its body.
    pub body_timeout: Duration,
}

impl ConnectionLimits {
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
            body_timeout: Self::DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// The longest a closing connection is read from ("lingering close"), and
/// the longest silence it is allowed then: enough for a client on a good
/// network to finish sending a body of the largest size swirl accepts.
const LINGER_MAX: Duration = Duration::from_secs(10);
const LINGER_IDLE: Duration = Duration::from_secs(2);

/// How long a connection over the cap is lingered on: briefly, since it
/// holds no permit.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and waits for the connections in flight to finish (the caller
/// bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let router = router.layer(axum::middleware::from_fn_with_state(
        limits.body_timeout,
        body_deadline,
    ));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, mostly: wait for some to close
                    // rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let (returned, closed) = oneshot::channel();
        let stream = ReturnedStream {
            stream: Some(stream),
            returned: Some(returned),
        };
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let answered = match connection.await {
                Ok(()) => true,
                Err(error) => {
                    tracing::debug!(%error, "connection ended with an error");
                    false
                }
            };
            // A connection that ended in error (headers too slow or
            // malformed) owes the client no answer: it closes at once. The
            // others keep their permit while they linger, so the cap bounds
            // lingering sockets too.
            if let Ok(stream) = closed.await
                && answered
            {
                linger(stream, LINGER_MAX).await;
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over the cap with a 503 and closes it.
async fn refuse(mut stream: TcpStream, limit: usize) {
    let body = serde_json::json!({
        "error": format!(
            "too many connections: the server holds at most {limit} (--max-connections); retry later"
        )
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    linger(stream, REFUSAL_LINGER).await;
}

/// Closes `stream` without losing what was sent on it: closing a socket
/// with unread data makes the kernel reset the connection, and a client
/// still sending the request (Python's urllib writes the whole body before
/// it reads) gets "broken pipe" or "connection reset" instead of the answer.
/// So: stop sending, read and drop until the client closes too, falls silent
/// for `LINGER_IDLE`, or `at_most` passes; then close.
async fn linger(mut stream: TcpStream, at_most: Duration) {
    let _ = stream.shutdown().await;
    let mut sink = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(at_most, async {
        while let Ok(Ok(read)) = tokio::time::timeout(LINGER_IDLE, stream.read(&mut sink)).await {
            if read == 0 {
                break;
            }
        }
    })
    .await;
}

/// The socket hyper serves a connection on; when hyper drops it, it goes
/// back to the accept loop's task for a lingering close instead of closing.
struct ReturnedStream {
    /// `None` only once dropped.
    stream: Option<TcpStream>,
    returned: Option<oneshot::Sender<TcpStream>>,
}

impl ReturnedStream {
    /// Runs `poll` on the socket; only a dropped stream has none.
    fn poll_stream<T>(
        &mut self,
        poll: impl FnOnce(Pin<&mut TcpStream>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match self.stream.as_mut() {
            Some(stream) => poll(Pin::new(stream)),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl Drop for ReturnedStream {
    fn drop(&mut self) {
        if let (Some(stream), Some(returned)) = (self.stream.take(), self.returned.take()) {
            // Only fails when the task is gone (the runtime is stopping):
            // then the socket just closes.
            let _ = returned.send(stream);
        }
    }
}

impl AsyncRead for ReturnedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.poll_stream(|stream| stream.poll_read(cx, buf))
    }
}

impl AsyncWrite for ReturnedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_stream(|stream| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_stream(|stream| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_stream(|stream| stream.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_stream(|stream| stream.poll_shutdown(cx))
    }
}

/// Gives the request's body `body_timeout` to arrive; a body still arriving
/// then is cut off and the request answered `408`, whatever the handler made
/// of the cut.
async fn body_deadline(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if expired.load(Ordering::Relaxed) {
        return (
            StatusCode::REQUEST_TIMEOUT,
            axum::Json(serde_json::json!({
                "error": format!(
                    "request body not received within {} (--body-timeout); send it faster or in a smaller request",
                    humantime::format_duration(timeout)
                )
            })),
        )
            .into_response();
    }
    response
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("request body not received in time")]
struct BodyTimedOut;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
