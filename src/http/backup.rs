//! `GET /api/backup` (admin): the node's backup, streamed while it keeps running, so a node that
//! works all day can be backed up without stopping (`neiqin export` uses it). Each document is
//! exported as it is at that moment; every document acknowledged before the backup began is in
//! it.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::io::Write;

use super::error::ApiError;
use super::extract::Authed;
use super::AppState;
use crate::domain::role::Role;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/backup", get(backup))
}

/// Chunks of the export, handed from the blocking exporter to the response body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the backup's reader went away"))
    }
}

async fn backup(
    State(state): State<AppState>,
    Authed(user): Authed,
) -> Result<impl IntoResponse, ApiError> {
    if user.role != Role::Admin {
        return Err(ApiError::Forbidden("only the admin takes backups".into()));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let office = state.office.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = crate::backup::export(&office, &mut out)
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|_| out.flush());
        if let Err(e) = result {
            tracing::error!(error = %e, "backup stopped");
            // An error ends the body abnormally: the reader sees a broken transfer, never a
            // backup that merely looks complete.
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    ))
}
