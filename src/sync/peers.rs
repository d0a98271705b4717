//! What this node knows of its peers, shared between the sync loops (which write it) and the
//! status route (which reads it).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FoundBy {
    Mdns,
    Static,
    /// It pulled from us first (its address learned from that request).
    Caller,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PeerInfo {
    /// Empty until the first exchange tells us who answers at this address.
    pub node_id: String,
    pub name: String,
    pub role: String,
    pub address: String,
    pub found_by: FoundBy,
    /// RFC 3339 time of the last complete exchange.
    pub last_sync: Option<String>,
    /// Documents changed on the peer that we have not pulled yet.
    pub we_lack: u64,
    /// Documents changed here that the peer has not pulled yet.
    pub they_lack: u64,
    pub last_error: Option<String>,
}

/// Peers keyed by address.
#[derive(Debug, Clone, Default)]
pub struct PeerTable(Arc<RwLock<BTreeMap<String, PeerInfo>>>);

impl PeerTable {
    pub fn snapshot(&self) -> Vec<PeerInfo> {
        self.0
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn update(&self, address: &str, f: impl FnOnce(&mut PeerInfo)) {
        if let Ok(mut map) = self.0.write() {
            if let Some(info) = map.get_mut(address) {
                f(info);
            }
        }
    }

    pub fn insert(&self, info: PeerInfo) {
        if let Ok(mut map) = self.0.write() {
            map.entry(info.address.clone()).or_insert(info);
        }
    }

    pub fn remove(&self, address: &str) {
        if let Ok(mut map) = self.0.write() {
            map.remove(address);
        }
    }
}

impl PeerTable {
    /// Updates every entry that belongs to `node_id` (a node may be known by several addresses).
    pub fn update_by_node(&self, node_id: &str, f: impl Fn(&mut PeerInfo)) {
        if let Ok(mut map) = self.0.write() {
            for info in map.values_mut().filter(|p| p.node_id == node_id) {
                f(info);
            }
        }
    }
}
