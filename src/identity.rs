//! Who this node is: its id (also its Automerge actor), name, role, order-number prefix and the
//! cluster key it shares with the other nodes of its company. Kept in the store's meta space.

use serde::{Deserialize, Serialize};

use crate::domain::role::Role;
use crate::store::{Store, StoreError};

const IDENTITY_KEY: &str = "identity";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The store's Automerge actor as hex: every local change carries it.
    pub node_id: String,
    pub name: String,
    pub role: Role,
    /// Start of every order number taken on this node, so numbers never collide offline.
    pub order_prefix: String,
    /// 32 random bytes (hex) shared by every node of one company; proves membership.
    pub cluster_key: String,
}

impl NodeIdentity {
    pub fn generate(
        node_id: String,
        name: &str,
        role: Role,
        cluster_key: Option<String>,
    ) -> NodeIdentity {
        let cluster_key = cluster_key.unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()));
        NodeIdentity {
            order_prefix: node_id[..6].to_uppercase(),
            node_id,
            name: name.to_string(),
            role,
            cluster_key,
        }
    }

    pub fn load(store: &Store) -> Result<Option<NodeIdentity>, StoreError> {
        match store.meta_get(IDENTITY_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Meta(format!("node identity is unreadable: {e}"))),
            None => Ok(None),
        }
    }

    pub fn save(&self, store: &Store) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(self).map_err(|e| StoreError::Meta(e.to_string()))?;
        store.meta_put(IDENTITY_KEY, &bytes)?;
        store.flush()
    }

    /// A short public digest of the cluster key, safe to announce on the LAN.
    pub fn cluster_fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("neiqin-cluster:{}", self.cluster_key));
        hex::encode(&digest[..8])
    }
}

/// Reads a cluster key file written by `neiqin cluster export-key`: 64 hex characters.
pub fn read_cluster_key(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let key = text.trim();
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(key.to_lowercase())
    } else {
        Err("the file does not hold a cluster key (64 hex characters)".into())
    }
}
