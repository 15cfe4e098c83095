//! `GET /backup`: a backup of the running server's store, taken while it
//! serves (see `swirl_store::backup` for what it holds and what waits
//! meanwhile; deployments, deletes and alias changes wait too), streamed
//! to the client.
//!
//! The backup is first written to an unlinked file in the data directory,
//! so that the commits it holds back wait for the local disk, never for a
//! slow client; then the file is streamed out and its space freed when the
//! answer ends.

use std::io::{Read, Seek, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::ServerState;
use super::error::{ApiError, blocking};
use swirl_store::StoreError;

/// Bytes read from the file per chunk of the answer.
const CHUNK_BYTES: usize = 256 * 1024;

pub async fn backup(State(state): State<ServerState>) -> Result<Response, ApiError> {
    let (store, deployments) = (state.store().clone(), state.deployments().clone());
    let (file, summary) = blocking("backup", move || {
        let path = store
            .data_dir()
            .join(format!("backup-{}.tmp", swirl_core::ids::new_id()));
        let file_error = |source| StoreError::File {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(file_error)?;
        // The open handle keeps it until the answer is sent.
        std::fs::remove_file(&path).map_err(file_error)?;
        let summary = deployments.exclusive(|| store.backup(&file))?;
        file.seek(SeekFrom::Start(0)).map_err(file_error)?;
        Ok::<_, StoreError>((file, summary))
    })
    .await?;
    tracing::info!(
        entries = summary.entries,
        files = summary.files,
        bytes = summary.bytes,
        "backup taken"
    );
    let (chunks, receiver) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || stream_file(file, chunks));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, summary.bytes.to_string()),
        ],
        Body::from_stream(Chunks(receiver)),
    )
        .into_response())
}

fn stream_file(mut file: std::fs::File, chunks: mpsc::Sender<std::io::Result<Bytes>>) {
    loop {
        let mut chunk = vec![0; CHUNK_BYTES];
        let read = match file.read(&mut chunk) {
            Ok(0) => return,
            Ok(read) => read,
            Err(error) => {
                let _ = chunks.blocking_send(Err(error));
                return;
            }
        };
        chunk.truncate(read);
        // The client went away: stop reading.
        if chunks.blocking_send(Ok(Bytes::from(chunk))).is_err() {
            return;
        }
    }
}

/// The chunks of the file, as the body of the answer reads them.
struct Chunks(mpsc::Receiver<std::io::Result<Bytes>>);

impl futures_core::Stream for Chunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
