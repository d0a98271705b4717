//! Who this node is: its id (also its Automerge actor), name, role and order-number prefix. Kept
//! in the store's meta space. Which company it belongs to, and what it may author, is its
//! certificate's (`pki`).

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
}

impl NodeIdentity {
    pub fn generate(node_id: String, name: &str, role: Role) -> NodeIdentity {
        NodeIdentity {
            order_prefix: node_id[..6].to_uppercase(),
            node_id,
            name: name.to_string(),
            role,
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
}
