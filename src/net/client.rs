//! Calls to a peer's endpoint: signed requests, answers checked (signature, size, shape) before
//! anything is decoded for use.

use serde::Serialize;
use std::time::Duration;

use super::auth::{AuthError, ClusterKey, REQUEST_HEADER, RESPONSE_HEADER};
use crate::sync::protocol::{self, ProtocolError, Validate, MAX_MESSAGE_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("cannot reach peer: {0}")]
    Unreachable(String),
    #[error("peer refused our membership proof (is it in another cluster?)")]
    Refused,
    #[error("peer answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("peer's answer is not signed by our cluster: {0}")]
    Unsigned(AuthError),
    #[error("peer's answer is too large")]
    TooLarge,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    key: ClusterKey,
    node_id: String,
}

impl PeerClient {
    pub fn new(key: ClusterKey, node_id: String) -> PeerClient {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client without TLS always builds");
        PeerClient { http, key, node_id }
    }

    /// Sends one message to `address` (`host:port`) and returns the checked answer.
    pub async fn call<Req: Serialize, Resp: for<'de> serde::Deserialize<'de> + Validate>(
        &self,
        address: &str,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, ExchangeError> {
        let body = protocol::encode(request);
        let now = chrono::Utc::now().timestamp_millis();
        let (header, nonce) = self
            .key
            .sign_request(&self.node_id, "POST", path, &body, now);
        let mut resp = self
            .http
            .post(format!("http://{address}{path}"))
            .header(REQUEST_HEADER, header)
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ExchangeError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(ExchangeError::Refused);
        }
        let sig = resp
            .headers()
            .get(RESPONSE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
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
        self.key
            .verify_response(&nonce, status, &bytes, sig.as_deref())
            .map_err(ExchangeError::Unsigned)?;
        if status != 200 {
            return Err(ExchangeError::Status {
                status,
                message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
        }
        Ok(protocol::decode(&bytes)?)
    }
}
