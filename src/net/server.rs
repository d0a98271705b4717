//! The peer endpoint: its own port, separate from the local API, serving only what peers need,
//! over TLS 1.3 only (`tls.rs`). A caller must present a node certificate of the cluster CA
//! during the handshake; a stranger's connection is closed before a byte of HTTP is read, and
//! learns nothing (no ids, no counts, no names). The caller's node id is its certificate's.
//!
//! Limits, all applied before a body is buffered: the handshake and headers must arrive within
//! `HEADER_READ_TIMEOUT`, a body within `BODY_READ_TIMEOUT`; a body declares its length (at most
//! `MAX_MESSAGE_BYTES`) and reserves it from a budget shared by every connection
//! (`BODY_BUDGET_BYTES`); one address holds at most `MAX_CONNECTIONS_PER_ADDRESS` connections,
//! the endpoint at most `MAX_CONNECTIONS`, counted from the moment a connection is accepted.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use super::tls::PeerTls;
use crate::pki::NodeCertificate;
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

/// A connection must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A verified request must deliver its body within this time.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Bodies buffered at once, all connections together: two of the largest messages.
pub const BODY_BUDGET_BYTES: usize = 2 * MAX_MESSAGE_BYTES;
/// A peer keeps a few connections (a long poll, fetches in flight); several nodes may share an
/// address behind NAT, or on one machine.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 32;
pub const MAX_CONNECTIONS: usize = 256;
/// How long a verified request waits for room in the body budget before it is told to retry.
const BUDGET_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct PeerServer {
    pub office: BackOffice,
    pub me: Hello,
    /// The revocation list callers are checked against, and passed along to them.
    pub tls: PeerTls,
    pub durable: watch::Receiver<u64>,
    pub peers: PeerTable,
    /// Tells the sync manager about callers, so this node pulls from them too.
    pub callers: mpsc::UnboundedSender<SocketAddr>,
    /// Ends waiting pulls at shutdown, so the endpoint stops at once.
    pub shutdown: watch::Receiver<bool>,
    /// Body bytes that may be buffered at once, in KiB permits.
    pub body_budget: Arc<Semaphore>,
}

/// The budget `PeerServer::body_budget` starts with.
pub fn body_budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(BODY_BUDGET_BYTES / 1024))
}

pub fn router(server: PeerServer) -> Router {
    Router::new()
        .route(PULL, post(handle))
        .route(FETCH, post(handle))
        .route(ATTACHMENTS, post(handle))
        .fallback(|| async { StatusCode::UNAUTHORIZED })
        .with_state(server)
}

/// Open connections per remote address, and in all.
#[derive(Default)]
struct ConnectionCount {
    by_address: HashMap<IpAddr, usize>,
    total: usize,
}

/// Releases a connection's place when the connection ends.
struct ConnectionSlot {
    counts: Arc<Mutex<ConnectionCount>>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&self.ip);
            }
        }
    }
}

fn take_slot(counts: &Arc<Mutex<ConnectionCount>>, ip: IpAddr) -> Option<ConnectionSlot> {
    let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
    let mine = c.by_address.get(&ip).copied().unwrap_or(0);
    if c.total >= MAX_CONNECTIONS || mine >= MAX_CONNECTIONS_PER_ADDRESS {
        return None;
    }
    c.total += 1;
    *c.by_address.entry(ip).or_default() += 1;
    Some(ConnectionSlot {
        counts: counts.clone(),
        ip,
    })
}

/// Waits until the flag turns true (or its sender is gone). The guard `wait_for` returns is
/// dropped here, so callers stay `Send`.
async fn until_true(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// Serves the peer endpoint on `listener` until `shutdown` turns true: TLS 1.3 with a client
/// certificate of the cluster CA, then HTTP/1.1 with a header read timeout; connections capped
/// per address and in all (a connection over the cap is closed at once, before anything is read
/// from it).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: PeerTls,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.acceptor();
    let counts: Arc<Mutex<ConnectionCount>> = Arc::default();
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "peer endpoint could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = until_true(&mut shutdown) => break,
        };
        // Answers are small TLS records written one after another: send each at once rather
        // than holding it back for the previous one's acknowledgement (Nagle).
        let _ = stream.set_nodelay(true);
        let Some(slot) = take_slot(&counts, remote.ip()) else {
            tracing::warn!(%remote, "peer connection refused: too many connections");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let mut closing = closing_rx.clone();
        let acceptor = acceptor.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            let Some((stream, peer)) = handshake(&acceptor, &tls, stream, remote).await else {
                return;
            };
            let peer = Arc::new(peer);
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(remote));
                    req.extensions_mut().insert(peer.clone());
                    let app = app.clone();
                    async move {
                        use tower::ServiceExt;
                        app.oneshot(req.map(Body::new)).await
                    }
                },
            );
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = until_true(&mut closing) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
        // Reap finished connections so the set does not grow with the node's uptime.
        while connections.try_join_next().is_some() {}
    }
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// What a refused handshake means for the people running the nodes.
fn handshake_hint(error: &std::io::Error) -> &'static str {
    use rustls::{CertificateError, Error};
    match error.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        Some(Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        )) => {
            "its certificate expired: renew it (`neiqin node request` on that node, \
             `neiqin node approve` on the admin node, `neiqin node install` there, restart)"
        }
        Some(Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "its certificate is not from this company's CA"
        }
        Some(Error::NoCertificatesPresented) => "it presented no certificate",
        _ => "not a node of this company, or not speaking TLS",
    }
}

/// The TLS handshake, within the header timeout, and who the caller's certificate names. A
/// caller without a certificate of the cluster CA (none, another CA's, expired) is refused here,
/// before any HTTP is read; the log says why, the caller learns nothing.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    tls: &PeerTls,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
) -> Option<(
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    NodeCertificate,
)> {
    let stream = match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::warn!(%remote, error = %e, hint = handshake_hint(&e), "peer refused during the TLS handshake");
            return None;
        }
        Err(_) => {
            tracing::warn!(%remote, "peer refused: TLS handshake too slow");
            return None;
        }
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first());
    let Some(certificate) = certificate else {
        tracing::warn!(%remote, "peer refused: no certificate");
        return None;
    };
    match tls.identify(certificate) {
        Ok(peer) => Some((stream, peer)),
        Err(e) => {
            tracing::warn!(%remote, error = %e, "peer refused");
            None
        }
    }
}

async fn handle(
    State(server): State<PeerServer>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    // Set by `serve` from the caller's certificate; a request without it never passed the
    // handshake (it cannot happen, and is refused if it does).
    let Some(peer) = parts.extensions.get::<Arc<NodeCertificate>>().cloned() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // A node revoked after its connection was opened is refused from its next request on.
    if let Err(e) = server.tls.check_not_revoked(&peer.node_id) {
        tracing::warn!(%remote, error = %e, "peer request refused");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // The length the body declares (Content-Length, or none at all): a body of unknown length
    // (chunked) could not reserve its room in the budget, so it is refused.
    let declared = axum::body::HttpBody::size_hint(&body).exact();
    let Some(length) = declared.and_then(|n| usize::try_from(n).ok()) else {
        return StatusCode::LENGTH_REQUIRED.into_response();
    };
    if length > MAX_MESSAGE_BYTES {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    // Room for the body in the budget all connections share, held until the answer is built.
    let permits = u32::try_from(length.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    let _reserved = match tokio::time::timeout(
        BUDGET_WAIT,
        server.body_budget.clone().acquire_many_owned(permits),
    )
    .await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            tracing::warn!(%remote, length, "peer request deferred: body budget in use");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, length))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            tracing::warn!(%remote, error = %e, "peer request body unreadable or over its length");
            return StatusCode::BAD_REQUEST.into_response();
        }
        Err(_) => {
            tracing::warn!(%remote, "peer request body too slow");
            return StatusCode::REQUEST_TIMEOUT.into_response();
        }
    };
    match answer(&server, remote, &peer, &path, &body).await {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(message) => {
            tracing::warn!(%remote, node = %peer.node_id, %path, error = %message, "peer exchange ended");
            (StatusCode::BAD_REQUEST, message.into_bytes()).into_response()
        }
    }
}

async fn answer(
    server: &PeerServer,
    remote: SocketAddr,
    peer: &NodeCertificate,
    path: &str,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    match path {
        PULL => {
            let req: PullRequest = protocol::decode(body).map_err(|e| e.to_string())?;
            if req.from.node_id != peer.node_id {
                return Err(format!(
                    "the request names node {} but its certificate is node {}",
                    req.from.node_id, peer.node_id
                ));
            }
            if let Some(list) = &req.from.revocation_list {
                if let Err(e) = server.tls.offer_revocations(list) {
                    tracing::warn!(%remote, error = %e, "a revocation list from a peer was refused");
                }
            }
            if !req.from.certificate_list.is_empty() {
                server.tls.learn_certificates(&req.from.certificate_list);
            }
            let caller = SocketAddr::new(remote.ip(), req.from.peer_port);
            if req.from.node_id != server.me.node_id && req.from.peer_port != 0 {
                let _ = server.callers.send(caller);
            }
            // Long poll: wait for the feed to move past the caller's cursor, or time out. A
            // newer revocation list than the caller's answers at once, so it travels without
            // waiting for a change.
            let mut durable = server.durable.clone();
            let mut revocations = server.tls.revocations_changed();
            let theirs = req.from.revocations;
            if req.wait_ms > 0 && *durable.borrow() <= req.since && *revocations.borrow() <= theirs
            {
                let deadline = Duration::from_millis(req.wait_ms as u64);
                let since = req.since;
                let mut shutdown = server.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::timeout(deadline, durable.wait_for(|seq| *seq > since)) => {}
                    _ = revocations.wait_for(|number| *number > theirs) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            }
            let durable_seq = *durable.borrow();
            let office = server.office.clone();
            let mut me = server.me.clone();
            me.revocations = server.tls.revocation_number();
            if req.from.revocations < me.revocations {
                me.revocation_list = server.tls.signed_revocations();
            }
            me.certificates = server.tls.certificates_digest();
            if req.from.certificates != me.certificates {
                me.certificate_list = server.tls.certificate_pems();
            }
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
