//! Calls to a peer's endpoint over mutual TLS (`tls.rs`): answers checked (size, shape) before
//! anything is decoded for use, and a pull's answer must come from the node the peer's
//! certificate names.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::tls::PeerTls;
use crate::pki::NodeCertificate;
use crate::sync::protocol::{
    self, ProtocolError, PullRequest, PullResponse, Validate, MAX_MESSAGE_BYTES,
};

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("cannot reach peer: {0}")]
    Unreachable(String),
    #[error("peer answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("peer's certificate is not usable: {0}")]
    Certificate(String),
    #[error("the answer names node {claimed} but the peer's certificate is node {certified}")]
    Impostor { claimed: String, certified: String },
    #[error("peer's answer is too large")]
    TooLarge,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    tls: PeerTls,
    /// What each address last told us it holds: its revocation list number and the digest of
    /// the certificates it knows, so ours are passed along only to peers that lack them.
    peer_holds: Arc<Mutex<HashMap<String, (u64, u64)>>>,
}

impl PeerClient {
    pub fn new(tls: PeerTls) -> PeerClient {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(60))
            .use_preconfigured_tls(tls.client_config())
            .https_only(true)
            .tls_info(true)
            .build()
            .expect("an HTTP client with a rustls configuration always builds");
        PeerClient {
            http,
            tls,
            peer_holds: Arc::default(),
        }
    }

    pub fn tls(&self) -> &PeerTls {
        &self.tls
    }

    /// A pull, whose answer must come from the node the peer's certificate names. Both sides
    /// pass their revocation list along when the other's is older.
    pub async fn pull(
        &self,
        address: &str,
        path: &str,
        request: &PullRequest,
        timeout: Duration,
    ) -> Result<PullResponse, ExchangeError> {
        let mut request = request.clone();
        let mine = self.tls.revocation_number();
        request.from.revocations = mine;
        let theirs = self
            .peer_holds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(address)
            .copied();
        request.from.revocation_list = if mine > 0 && theirs.is_none_or(|(n, _)| n < mine) {
            self.tls.signed_revocations()
        } else {
            None
        };
        let certificates = self.tls.certificates_digest();
        request.from.certificates = certificates;
        request.from.certificate_list = if theirs.is_none_or(|(_, c)| c != certificates) {
            self.tls.certificate_pems()
        } else {
            Vec::new()
        };
        let (resp, peer): (PullResponse, _) =
            self.exchange(address, path, &request, timeout).await?;
        if resp.from.node_id != peer.node_id {
            return Err(ExchangeError::Impostor {
                claimed: resp.from.node_id,
                certified: peer.node_id,
            });
        }
        self.peer_holds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                address.to_string(),
                (resp.from.revocations, resp.from.certificates),
            );
        if !resp.from.certificate_list.is_empty() {
            self.tls.learn_certificates(&resp.from.certificate_list);
        }
        if let Some(list) = &resp.from.revocation_list {
            if let Err(e) = self.tls.offer_revocations(list) {
                tracing::warn!(peer = %address, error = %e, "a revocation list from a peer was refused");
            }
        }
        Ok(resp)
    }

    /// Sends one message to `address` (`host:port`) and returns the checked answer.
    pub async fn call<Req: Serialize, Resp: for<'de> serde::Deserialize<'de> + Validate>(
        &self,
        address: &str,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, ExchangeError> {
        Ok(self.exchange(address, path, request, timeout).await?.0)
    }

    /// The answer and who the peer's certificate names.
    async fn exchange<Req: Serialize, Resp: for<'de> serde::Deserialize<'de> + Validate>(
        &self,
        address: &str,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<(Resp, NodeCertificate), ExchangeError> {
        let body = protocol::encode(request);
        let mut resp = self
            .http
            .post(format!("https://{address}{path}"))
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ExchangeError::Unreachable(error_chain(&e)))?;
        let status = resp.status().as_u16();
        // The handshake checked the chain to our CA; this names the node.
        let peer = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .ok_or_else(|| ExchangeError::Certificate("none presented".into()))
            .and_then(|der| {
                self.tls
                    .identify(der)
                    .map_err(|e| ExchangeError::Certificate(e.to_string()))
            })?;
        if resp
            .content_length()
            .is_some_and(|n| n as usize > MAX_MESSAGE_BYTES)
        {
            return Err(ExchangeError::TooLarge);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ExchangeError::Unreachable(e.to_string()))?
        {
            if bytes.len() + chunk.len() > MAX_MESSAGE_BYTES {
                return Err(ExchangeError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        if status != 200 {
            return Err(ExchangeError::Status {
                status,
                message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
        }
        Ok((protocol::decode(&bytes)?, peer))
    }
}

/// An error with its causes: a refused TLS handshake says why only in its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
