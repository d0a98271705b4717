//! The peer endpoint: its own port, separate from the local API, serving only what peers need.
//! Every request must prove cluster membership first; a caller that cannot gets a bare 401 and
//! learns nothing (no ids, no counts, no names). Every answer is signed.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use super::auth::{ClusterKey, NonceCache, REQUEST_HEADER, RESPONSE_HEADER};
use crate::service::BackOffice;
use crate::sync::exchange;
use crate::sync::peers::PeerTable;
use crate::sync::protocol::{
    self, Attachment, AttachmentRequest, AttachmentResponse, FetchRequest, Hello, PullRequest,
    MAX_MESSAGE_BYTES,
};

pub const PULL: &str = "/peer/pull";
pub const FETCH: &str = "/peer/fetch";
pub const ATTACHMENTS: &str = "/peer/attachments";

#[derive(Clone)]
pub struct PeerServer {
    pub office: BackOffice,
    pub key: ClusterKey,
    pub nonces: Arc<NonceCache>,
    pub me: Hello,
    pub durable: watch::Receiver<u64>,
    pub peers: PeerTable,
    /// Tells the sync manager about callers, so this node pulls from them too.
    pub callers: mpsc::UnboundedSender<SocketAddr>,
    /// Ends waiting pulls at shutdown, so the endpoint stops at once.
    pub shutdown: watch::Receiver<bool>,
}

pub fn router(server: PeerServer) -> Router {
    Router::new()
        .route(PULL, post(handle))
        .route(FETCH, post(handle))
        .route(ATTACHMENTS, post(handle))
        .fallback(|| async { StatusCode::UNAUTHORIZED })
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .with_state(server)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn handle(
    State(server): State<PeerServer>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let header = headers.get(REQUEST_HEADER).and_then(|v| v.to_str().ok());
    let verified =
        match server
            .key
            .verify_request(header, "POST", &path, &body, now_ms(), &server.nonces)
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%remote, error = %e, "peer request refused");
                return StatusCode::UNAUTHORIZED.into_response();
            }
        };
    let (status, answer) = match answer(&server, remote, &path, &body).await {
        Ok(bytes) => (StatusCode::OK, bytes),
        Err(message) => {
            tracing::warn!(%remote, node = %verified.node_id, %path, error = %message, "peer exchange ended");
            (StatusCode::BAD_REQUEST, message.into_bytes())
        }
    };
    let sig = server
        .key
        .sign_response(&verified.nonce, status.as_u16(), &answer);
    (status, [(RESPONSE_HEADER, sig)], answer).into_response()
}

async fn answer(
    server: &PeerServer,
    remote: SocketAddr,
    path: &str,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    match path {
        PULL => {
            let req: PullRequest = protocol::decode(body).map_err(|e| e.to_string())?;
            let caller = SocketAddr::new(remote.ip(), req.from.peer_port);
            if req.from.node_id != server.me.node_id && req.from.peer_port != 0 {
                let _ = server.callers.send(caller);
            }
            // Long poll: wait for the feed to move past the caller's cursor, or time out.
            let mut durable = server.durable.clone();
            if req.wait_ms > 0 && *durable.borrow() <= req.since {
                let deadline = Duration::from_millis(req.wait_ms as u64);
                let since = req.since;
                let mut shutdown = server.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::timeout(deadline, durable.wait_for(|seq| *seq > since)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            }
            let durable_seq = *durable.borrow();
            let office = server.office.clone();
            let me = server.me.clone();
            let resp = tokio::task::spawn_blocking(move || {
                exchange::answer_pull(&office.store, &me, &req, durable_seq).map(|r| (r, req))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            let (resp, req) = resp;
            let lacking = resp.remaining + resp.entries.len() as u64;
            let node_id = req.from.node_id.clone();
            server
                .peers
                .update_by_node(&node_id, |p| p.they_lack = lacking);
            Ok(protocol::encode(&resp))
        }
        FETCH => {
            let req: FetchRequest = protocol::decode(body).map_err(|e| e.to_string())?;
            let office = server.office.clone();
            let resp =
                tokio::task::spawn_blocking(move || exchange::answer_fetch(&office.store, &req))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            Ok(protocol::encode(&resp))
        }
        ATTACHMENTS => {
            let req: AttachmentRequest = protocol::decode(body).map_err(|e| e.to_string())?;
            let office = server.office.clone();
            let items = tokio::task::spawn_blocking(move || {
                req.hashes
                    .iter()
                    .filter_map(|h| {
                        office.attachment(h).ok().map(|bytes| Attachment {
                            hash: h.clone(),
                            bytes,
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| e.to_string())?;
            Ok(protocol::encode(&AttachmentResponse { items }))
        }
        _ => Err("unknown route".into()),
    }
}
