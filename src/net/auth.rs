//! Proof of cluster membership on every exchange: each request and each answer carries an
//! HMAC-SHA256 keyed by the cluster key. Requests name a time and a random nonce; a node accepts
//! a request only within `MAX_SKEW` of its own clock and only once (nonces are remembered for
//! twice that window), so a recorded request cannot be replayed. Answers are bound to the
//! request's nonce, so an answer cannot be replayed either, nor forged by a stranger.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

type HmacSha256 = Hmac<Sha256>;

pub const REQUEST_HEADER: &str = "x-neiqin-auth";
pub const RESPONSE_HEADER: &str = "x-neiqin-sig";
/// Offices' clocks drift; beyond this a peer is refused (and the log says why).
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

#[derive(Clone)]
pub struct ClusterKey {
    key: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no or malformed authentication header")]
    Malformed,
    #[error("request time is {0} ms away from this node's clock")]
    Skew(i64),
    #[error("nonce already seen (replay)")]
    Replay,
    #[error("signature does not verify (another cluster's key?)")]
    BadSignature,
    #[error("the body is not the one the header signed")]
    BodyMismatch,
}

/// What a verified request said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub node_id: String,
    pub nonce: String,
    /// SHA-256 of the body, as the signed header declared it.
    pub body_digest: String,
}

impl Verified {
    /// The body read after the header was verified must be the one that was signed.
    pub fn check_body(&self, body: &[u8]) -> Result<(), AuthError> {
        if body_digest(body) == self.body_digest {
            Ok(())
        } else {
            Err(AuthError::BodyMismatch)
        }
    }
}

fn body_digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

impl ClusterKey {
    pub fn from_hex(hex_key: &str) -> Option<ClusterKey> {
        hex::decode(hex_key)
            .ok()
            .filter(|k| k.len() >= 16)
            .map(|key| ClusterKey { key })
    }

    fn mac(&self, parts: &[&str]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The header value for a request: `v2 <node> <time ms> <nonce> <body digest> <signature>`.
    /// The body's digest is declared in the header and signed with it, so the endpoint checks
    /// the proof before it reads a byte of the body, then checks the body against the digest.
    pub fn sign_request(
        &self,
        node_id: &str,
        method: &str,
        path: &str,
        body: &[u8],
        now_ms: i64,
    ) -> (String, String) {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let ts = now_ms.to_string();
        let digest = body_digest(body);
        let sig = self
            .mac(&["req", node_id, method, path, &ts, &nonce, &digest])
            .finalize()
            .into_bytes();
        (
            format!("v2 {node_id} {ts} {nonce} {digest} {}", hex::encode(sig)),
            nonce,
        )
    }

    /// Checks a request's proof from its header alone: signature, time, and that the nonce is
    /// new (remembered from here on). The body must then match `Verified::body_digest`.
    pub fn verify_header(
        &self,
        header: Option<&str>,
        method: &str,
        path: &str,
        now_ms: i64,
        nonces: &NonceCache,
    ) -> Result<Verified, AuthError> {
        let parts: Vec<&str> = header.ok_or(AuthError::Malformed)?.split(' ').collect();
        let [version, node_id, ts, nonce, digest, sig] = parts[..] else {
            return Err(AuthError::Malformed);
        };
        if version != "v2" || nonce.len() != 32 || node_id.len() > 64 || digest.len() != 64 {
            return Err(AuthError::Malformed);
        }
        let sig = hex::decode(sig).map_err(|_| AuthError::Malformed)?;
        self.mac(&["req", node_id, method, path, ts, nonce, digest])
            .verify_slice(&sig)
            .map_err(|_| AuthError::BadSignature)?;
        // Time and nonce are checked only once the signature holds, so a stranger cannot fill
        // the nonce cache.
        let ts: i64 = ts.parse().map_err(|_| AuthError::Malformed)?;
        if (now_ms - ts).abs() > MAX_SKEW_MS {
            return Err(AuthError::Skew(now_ms - ts));
        }
        if !nonces.insert(nonce, now_ms) {
            return Err(AuthError::Replay);
        }
        Ok(Verified {
            node_id: node_id.to_string(),
            nonce: nonce.to_string(),
            body_digest: digest.to_string(),
        })
    }

    /// `verify_header`, then the body against the digest the header declared.
    pub fn verify_request(
        &self,
        header: Option<&str>,
        method: &str,
        path: &str,
        body: &[u8],
        now_ms: i64,
        nonces: &NonceCache,
    ) -> Result<Verified, AuthError> {
        let verified = self.verify_header(header, method, path, now_ms, nonces)?;
        verified.check_body(body)?;
        Ok(verified)
    }

    pub fn sign_response(&self, request_nonce: &str, status: u16, body: &[u8]) -> String {
        let digest = body_digest(body);
        hex::encode(
            self.mac(&["resp", request_nonce, &status.to_string(), &digest])
                .finalize()
                .into_bytes(),
        )
    }

    pub fn verify_response(
        &self,
        request_nonce: &str,
        status: u16,
        body: &[u8],
        header: Option<&str>,
    ) -> Result<(), AuthError> {
        let sig =
            hex::decode(header.ok_or(AuthError::Malformed)?).map_err(|_| AuthError::Malformed)?;
        let digest = body_digest(body);
        self.mac(&["resp", request_nonce, &status.to_string(), &digest])
            .verify_slice(&sig)
            .map_err(|_| AuthError::BadSignature)
    }
}

/// Nonces seen recently, forgotten after twice the allowed skew.
#[derive(Default)]
pub struct NonceCache {
    seen: Mutex<HashMap<String, i64>>,
}

impl NonceCache {
    /// False if the nonce was already seen.
    pub fn insert(&self, nonce: &str, now_ms: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, at| now_ms - *at <= 2 * MAX_SKEW_MS);
        }
        seen.insert(nonce.to_string(), now_ms).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> ClusterKey {
        ClusterKey {
            key: vec![byte; 32],
        }
    }

    #[test]
    fn a_signed_request_verifies_once_and_only_with_the_same_key() {
        let nonces = NonceCache::default();
        let (header, nonce) = key(1).sign_request("ab", "POST", "/peer/pull", b"body", 1_000_000);
        let ok = key(1).verify_request(
            Some(&header),
            "POST",
            "/peer/pull",
            b"body",
            1_000_500,
            &nonces,
        );
        assert_eq!(
            ok,
            Ok(Verified {
                node_id: "ab".into(),
                nonce,
                body_digest: body_digest(b"body"),
            })
        );
        let again = key(1).verify_request(
            Some(&header),
            "POST",
            "/peer/pull",
            b"body",
            1_000_600,
            &nonces,
        );
        assert_eq!(again, Err(AuthError::Replay));
        let other = key(2).verify_request(
            Some(&header),
            "POST",
            "/peer/pull",
            b"body",
            1_000_500,
            &NonceCache::default(),
        );
        assert_eq!(other, Err(AuthError::BadSignature));
        let tampered = key(1).verify_request(
            Some(&header),
            "POST",
            "/peer/pull",
            b"bodY",
            1_000_500,
            &NonceCache::default(),
        );
        assert_eq!(tampered, Err(AuthError::BodyMismatch));
        let late = key(1).verify_request(
            Some(&header),
            "POST",
            "/peer/pull",
            b"body",
            1_000_000 + MAX_SKEW_MS + 1,
            &NonceCache::default(),
        );
        assert!(matches!(late, Err(AuthError::Skew(_))));
        assert_eq!(
            key(1).verify_request(None, "POST", "/", b"", 0, &nonces),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            key(1).verify_request(Some("v1 a b"), "POST", "/", b"", 0, &nonces),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn the_header_is_checked_without_the_body_and_a_forged_digest_fails() {
        let nonces = NonceCache::default();
        let (header, _) = key(1).sign_request("ab", "POST", "/peer/pull", b"body", 1_000_000);
        let verified = key(1)
            .verify_header(Some(&header), "POST", "/peer/pull", 1_000_100, &nonces)
            .unwrap();
        assert_eq!(verified.check_body(b"other"), Err(AuthError::BodyMismatch));
        assert_eq!(verified.check_body(b"body"), Ok(()));
        // Swapping in another digest breaks the signature.
        let parts: Vec<&str> = header.split(' ').collect();
        let forged = format!(
            "{} {} {} {} {} {}",
            parts[0],
            parts[1],
            parts[2],
            "ab".repeat(16),
            body_digest(b"other"),
            parts[5]
        );
        assert_eq!(
            key(1).verify_header(Some(&forged), "POST", "/peer/pull", 1_000_100, &nonces),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn answers_are_bound_to_their_request() {
        let sig = key(1).sign_response("n1", 200, b"answer");
        assert!(key(1)
            .verify_response("n1", 200, b"answer", Some(&sig))
            .is_ok());
        assert!(key(1)
            .verify_response("n2", 200, b"answer", Some(&sig))
            .is_err());
        assert!(key(2)
            .verify_response("n1", 200, b"answer", Some(&sig))
            .is_err());
    }
}
