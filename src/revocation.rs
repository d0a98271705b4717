//! The revocation list: which nodes the company has shut out (a lost laptop, a machine retired),
//! signed by the cluster CA and numbered. `neiqin node revoke ID` on the admin node makes the next
//! number. Nodes pass the list along in every exchange (`sync::protocol::Hello`), and the higher
//! number wins, so a revocation reaches every node through whichever nodes meet, with or without
//! the admin node. A node that holds the list refuses the revoked nodes at once, in both
//! directions (`net::tls::PeerTls::identify`).
//!
//! The signature covers a domain tag and the list's JSON text exactly as sent, so nothing is
//! re-serialised before it is checked. *Knows nothing of sockets or the store.*

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::pki::{ClusterCa, PkiError};

/// The file a node keeps its newest list in, in its data directory.
pub const REVOCATIONS_FILE: &str = "revocations.json";
/// A list larger than this is not one of ours (thousands of entries fit).
pub const MAX_LIST_BYTES: usize = 256 * 1024;
const SIGNING_TAG: &[u8] = b"neiqin-revocations-v1\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RevocationList {
    /// Higher is newer; 0 is "nothing revoked" (no list).
    pub number: u64,
    pub issued_at: Option<DateTime<Utc>>,
    pub revoked: Vec<Revoked>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub node_id: String,
    /// From when the node's facts no longer count.
    pub at: DateTime<Utc>,
    pub reason: String,
}

impl RevocationList {
    pub fn is_revoked(&self, node_id: &str) -> bool {
        self.revoked.iter().any(|r| r.node_id == node_id)
    }
}

/// A list as the CA signed it: its JSON text and the signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRevocations {
    pub list: String,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

fn signed_bytes(list: &str) -> Vec<u8> {
    [SIGNING_TAG, list.as_bytes()].concat()
}

impl ClusterCa {
    /// The next list: `current` with `node_id` added, numbered one higher, signed.
    pub fn revoke(
        &self,
        current: &RevocationList,
        node_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(RevocationList, SignedRevocations), PkiError> {
        let mut list = current.clone();
        list.number += 1;
        list.issued_at = Some(now);
        if !list.is_revoked(node_id) {
            list.revoked.push(Revoked {
                node_id: node_id.to_string(),
                at: now,
                reason: reason.to_string(),
            });
        }
        let text = serde_json::to_string(&list).map_err(|e| PkiError::Invalid(e.to_string()))?;
        let signature = self.sign(&signed_bytes(&text))?;
        Ok((
            list,
            SignedRevocations {
                list: text,
                signature,
            },
        ))
    }
}

impl SignedRevocations {
    /// The list, if the cluster CA (`ca_pem`) signed it and it is well formed.
    pub fn verify(&self, ca_pem: &str) -> Result<RevocationList, PkiError> {
        if self.list.len() > MAX_LIST_BYTES || self.signature.len() > 256 {
            return Err(PkiError::Invalid("the revocation list is too large".into()));
        }
        crate::pki::verify_ca_signature(ca_pem, &signed_bytes(&self.list), &self.signature)?;
        serde_json::from_str(&self.list)
            .map_err(|e| PkiError::Invalid(format!("the revocation list is malformed: {e}")))
    }

    /// The list kept in `dir`, if any (checked against `ca_pem`).
    pub fn load(dir: &Path, ca_pem: &str) -> Result<Option<(RevocationList, Self)>, PkiError> {
        let path = path(dir);
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::pki::read_file_limited(&path, MAX_LIST_BYTES * 2)?;
        let signed: SignedRevocations =
            serde_json::from_str(&text).map_err(|e| PkiError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let list = signed.verify(ca_pem)?;
        Ok(Some((list, signed)))
    }

    /// Keeps the list in `dir`: written whole to a temporary file, then renamed over the old one.
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        let path = path(dir);
        let tmp = dir.join(format!("{REVOCATIONS_FILE}.tmp"));
        let text = serde_json::to_string(self).map_err(|e| PkiError::Invalid(e.to_string()))?;
        let file_error = |e: std::io::Error| PkiError::File {
            path: path.clone(),
            message: e.to_string(),
        };
        std::fs::write(&tmp, text).map_err(file_error)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(file_error)?;
        std::fs::rename(&tmp, &path).map_err(file_error)
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(REVOCATIONS_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_signed_by_the_ca_verifies_and_grows_by_one_number_per_revocation() {
        let ca = ClusterCa::generate("示例商贸").unwrap();
        let now = Utc::now();
        let (first, signed) = ca
            .revoke(&RevocationList::default(), "abcd", "笔记本丢失", now)
            .unwrap();
        assert_eq!(first.number, 1);
        assert_eq!(signed.verify(ca.cert_pem()).unwrap(), first);
        assert!(first.is_revoked("abcd") && !first.is_revoked("ef01"));
        let (second, _) = ca.revoke(&first, "ef01", "retired", now).unwrap();
        assert_eq!(second.number, 2);
        assert_eq!(second.revoked.len(), 2);

        // Another CA's list, or a list changed after signing, is refused.
        let other = ClusterCa::generate("别的公司").unwrap();
        assert!(signed.verify(other.cert_pem()).is_err());
        let forged = SignedRevocations {
            list: signed.list.replace("abcd", "ef01"),
            signature: signed.signature.clone(),
        };
        assert!(forged.verify(ca.cert_pem()).is_err());

        let dir = tempfile::tempdir().unwrap();
        signed.save(dir.path()).unwrap();
        let (loaded, _) = SignedRevocations::load(dir.path(), ca.cert_pem())
            .unwrap()
            .unwrap();
        assert_eq!(loaded, first);
    }
}
