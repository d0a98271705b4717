//! `/api/health` (no token) and `/api/status` (any role): who this node is and how it stands.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::extract::Authed;
use super::{read, AppState};
use crate::sync::peers::PeerInfo;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// "ok", or "degraded" while the disk is full (reads work, writes answer 507).
    pub status: &'static str,
    /// "ok" or "disk_full".
    pub storage: &'static str,
    pub version: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeStatus {
    pub node_id: String,
    pub name: String,
    pub role: String,
    /// The cluster CA's fingerprint (which company this node belongs to); empty before the
    /// node has a certificate.
    pub cluster_fingerprint: String,
    /// When this node's certificate expires (renew before: `neiqin node request`).
    pub certificate_expires: Option<chrono::DateTime<chrono::Utc>>,
    pub uptime_seconds: u64,
    /// "ok", or "disk_full" while writes are refused for lack of disk space.
    pub storage: &'static str,
    pub orders: usize,
    pub customers: usize,
    pub feed_seq: u64,
    /// Orders per status (every status named, zeros included): the counts the queues show.
    pub orders_by_status: std::collections::BTreeMap<String, usize>,
    /// Open anomalies as the inbox lists them.
    pub open_anomalies: usize,
    pub peers: Vec<PeerInfo>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/status", get(status))
}

fn storage_state(state: &AppState) -> &'static str {
    if state.office.store.disk_full() {
        "disk_full"
    } else {
        "ok"
    }
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    let storage = storage_state(&state);
    Json(Health {
        status: if storage == "ok" { "ok" } else { "degraded" },
        storage,
        version: env!("CARGO_PKG_VERSION"),
    })
}

async fn status(
    State(state): State<AppState>,
    Authed(_user): Authed,
) -> Result<Json<NodeStatus>, super::error::ApiError> {
    let peers = state.peers.snapshot();
    let uptime = state.started.elapsed().as_secs();
    let storage = storage_state(&state);
    let status = read(&state, move |office| {
        let store = &office.store;
        Ok(NodeStatus {
            node_id: office.identity.node_id.clone(),
            name: office.identity.name.clone(),
            role: office.identity.role.to_string(),
            cluster_fingerprint: office
                .certificate()
                .map(|c| c.ca_fingerprint)
                .unwrap_or_default(),
            certificate_expires: office.certificate().map(|c| c.not_after),
            uptime_seconds: uptime,
            storage,
            orders: count_entries(store.scan_index(crate::views::ORDER_STATUS, "", None, false)),
            customers: count_entries(store.scan_index(
                crate::views::CUSTOMER_NAME,
                "",
                None,
                false,
            )),
            feed_seq: store.last_seq(),
            orders_by_status: crate::domain::order::Status::ALL
                .iter()
                .map(|s| {
                    let prefix = format!("{}|", s.as_str());
                    let count = count_entries(store.scan_index(
                        crate::views::ORDER_STATUS,
                        &prefix,
                        None,
                        false,
                    ));
                    (s.as_str().to_string(), count)
                })
                .collect(),
            open_anomalies: office.open_anomaly_count()?,
            peers,
        })
    })
    .await?;
    Ok(Json(status))
}

fn count_entries<T, E>(entries: impl Iterator<Item = Result<T, E>>) -> usize {
    entries.filter(Result::is_ok).count()
}
