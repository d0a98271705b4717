//! The local HTTP API (../shared/API.md) over axum: one router per resource, merged here.
//!
//! Invariants: only this module knows status codes and request shapes; `ApiError` is the only
//! place errors become responses; a 2xx answer to a write is sent after the change is flushed,
//! and an answer to a read only once everything it may have read is flushed (`durable_reads`).

pub mod backup;
pub mod complaints;
pub mod contracts;
pub mod customers;
pub mod decimal;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod orders;
pub mod prospects;
pub mod receivables;
pub mod reports;
pub mod returns;
pub mod status;
pub mod users;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use std::time::Instant;

use crate::service::{BackOffice, ServiceError};
use crate::sync::peers::PeerTable;
use error::ApiError;

/// Requests larger than this are refused with 413 (photos go through the attachment route).
pub const BODY_LIMIT: usize = 256 * 1024;
/// Attachments (return photos) may be larger.
pub const ATTACHMENT_LIMIT: usize = 8 * 1024 * 1024;

/// New orders let into the store at once, per core. More than one per core so that creates
/// queue inside the store while one is written and are then written together in one sled batch
/// (`Store::create`). Node bench, 32 clients, paired runs: 1 per core 1111–1177 creates/s,
/// 4 per core 1457–1647/s, 8 per core 1533–1561/s (p99 at 1000/s offered worse than with 4).
/// Other writes are not written together, so more of them at once would only wait on the
/// store's write lock as blocking threads: they keep one per core.
const CREATES_PER_CORE: usize = 4;

#[derive(Clone)]
pub struct AppState {
    pub office: BackOffice,
    pub peers: PeerTable,
    pub started: Arc<Instant>,
    /// Writes running at once (one per core). Under a burst the others wait here, as cheap
    /// async tasks, instead of as hundreds of blocking threads fighting over the store's locks.
    pub write_slots: Arc<tokio::sync::Semaphore>,
    /// Order creates running at once (`CREATES_PER_CORE` per core), see `create`.
    pub create_slots: Arc<tokio::sync::Semaphore>,
    /// The browser workbench's sessions and what it says about sharing (`crate::ui`).
    pub workbench: crate::ui::Workbench,
}

impl AppState {
    pub fn new(office: BackOffice, peers: PeerTable) -> AppState {
        let cores = crate::parallel::cores();
        AppState {
            office,
            peers,
            started: Arc::new(Instant::now()),
            write_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            create_slots: Arc::new(tokio::sync::Semaphore::new(cores * CREATES_PER_CORE)),
            workbench: crate::ui::Workbench::default(),
        }
    }

    /// Whether this node looks for peers at all (mDNS on, or static peers configured); the
    /// workbench says 单机模式 when it does not and none has called.
    pub fn with_discovery(mut self, looks_for_peers: bool) -> AppState {
        self.workbench.looks_for_peers = looks_for_peers;
        self
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(status::routes())
        .merge(customers::routes())
        .merge(orders::routes())
        .merge(prospects::routes())
        .merge(reports::routes())
        .merge(receivables::routes())
        .merge(returns::routes())
        .merge(users::routes())
        .merge(backup::routes())
        .merge(complaints::routes())
        .merge(contracts::routes())
        .merge(openapi::routes())
        .merge(crate::ui::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), durable_reads))
        .with_state(state)
}

/// Sends a read's answer only once what it may have read is on disk: documents merged from a
/// peer are applied before they are flushed (a full sync flushes once per pull), and a person
/// must not see an order that a kill -9 would then take back. Nothing pending: no wait.
async fn durable_reads(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    let response = next.run(request).await;
    if !reading {
        return response;
    }
    match state.office.store.wait_seen_durable().await {
        Ok(()) => response,
        Err(e) => ApiError::from(ServiceError::Store(e)).into_response(),
    }
}

/// Runs blocking store work off the async threads, then waits for the group commit, so the
/// answer is sent only once the change is on disk.
pub async fn write<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&BackOffice) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    write_in(state, &state.write_slots, work).await
}

/// `write` for work that creates a document (`Store::create`), with more of them let in at once
/// so that they are written together.
pub async fn create<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&BackOffice) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    write_in(state, &state.create_slots, work).await
}

async fn write_in<T: Send + 'static>(
    state: &AppState,
    slots: &tokio::sync::Semaphore,
    work: impl FnOnce(&BackOffice) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    let office = state.office.clone();
    // While the disk is full nothing is applied: a write that cannot be made durable must not
    // be seen by readers either. Writing resumes once `recover_storage` finds room.
    if office.store.disk_full() {
        return Err(ApiError::DiskFull);
    }
    let slot = slots
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // From here until its flush is asked for, a flush about to start waits for this write.
    let in_flight = state.office.store.begin_write();
    let applied = tokio::task::spawn_blocking(move || work(&office))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // The slot is free while this write waits for the flush: the next ones join that flush.
    drop(slot);
    let durable = match applied {
        Ok(result) => state
            .office
            .store
            .wait_durable_after(in_flight)
            .await
            .map(|()| result)
            .map_err(ServiceError::Store),
        Err(e) => Err(e),
    };
    if let Err(ServiceError::Store(crate::store::StoreError::DiskFull(_))) = &durable {
        state.office.store.note_disk_full();
        // Before answering: from now on readers see only what is durable (a fresh handle).
        let store = state.office.store.clone();
        match tokio::task::spawn_blocking(move || store.recover_storage()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "reopening the store failed"),
            Err(e) => tracing::error!(error = %e, "reopening the store failed"),
            Ok(Ok(_)) => {}
        }
    }
    Ok(durable?)
}

/// Runs blocking store reads off the async threads.
pub async fn read<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&BackOffice) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    let office = state.office.clone();
    Ok(tokio::task::spawn_blocking(move || work(&office))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??)
}

/// A list's page size: 50 when absent, else 1 to `max` (the document states the same bounds;
/// refusing rather than clamping keeps a request outside them from passing unnoticed).
pub fn page_limit(limit: Option<usize>, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::Invalid(vec![
            crate::domain::validation::FieldError {
                field: "limit".into(),
                message: format!("must be from 1 to {max}"),
            },
        ])),
    }
}

/// Decodes a list cursor handed out by an earlier page.
pub fn decode_cursor(cursor: Option<&str>) -> Result<Option<Vec<u8>>, ApiError> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => hex::decode(c).map(Some).map_err(|_| {
            ApiError::BadRequest(
                "cursor is not one this node handed out".into(),
                vec![crate::domain::validation::FieldError {
                    field: "cursor".into(),
                    message: "invalid cursor".into(),
                }],
            )
        }),
    }
}
