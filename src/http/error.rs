//! `ApiError`: the one place where errors become HTTP status codes and problem+json bodies
//! (RFC 9457). Internal details go to the log, never to the client.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::validation::{FieldError, FieldErrors};
use crate::service::ServiceError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    /// Malformed JSON, unknown field or wrong type: the body could not be read as the request.
    BadRequest(String, Vec<FieldError>),
    /// Readable, but some fields break their rules.
    Invalid(Vec<FieldError>),
    /// A rule broken on what this node knows.
    Conflict(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    /// The disk has no room: the write was not saved (507). Writes resume once space is freed.
    DiskFull,
    /// The document's copy on this node's disk is damaged (503): it is fetched again from a peer.
    Damaged(String),
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(FieldErrors(errors)) => ApiError::Invalid(errors),
            ServiceError::NotFound(what) => ApiError::NotFound(what),
            ServiceError::Forbidden(why) => ApiError::Forbidden(why),
            ServiceError::Rule(rule) => ApiError::Conflict(rule),
            ServiceError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DiskFull(why) => {
                tracing::error!(error = %why, "a write was refused: the disk is full");
                ApiError::DiskFull
            }
            StoreError::Damaged { doc, reason } => {
                tracing::error!(doc, reason, "a damaged document was asked for");
                ApiError::Damaged(doc)
            }
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::Invalid(e.0)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title, detail, errors) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "a valid bearer token is required".to_string(),
                vec![],
            ),
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden", d, vec![]),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("{what} not found"),
                vec![],
            ),
            ApiError::BadRequest(d, errors) => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Malformed request",
                d,
                errors,
            ),
            ApiError::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid fields",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors,
            ),
            ApiError::Conflict(rule) => (StatusCode::CONFLICT, "rule", "Rule broken", rule, vec![]),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
                "the request body exceeds the limit".to_string(),
                vec![],
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "media-type",
                "Unsupported media type",
                "send JSON with Content-Type: application/json".to_string(),
                vec![],
            ),
            ApiError::DiskFull => (
                StatusCode::INSUFFICIENT_STORAGE,
                "disk-full",
                "磁盘空间不足 / Disk full",
                "磁盘空间不足，本次写入没有保存；释放磁盘空间后写入会自动恢复，无需重启。 / \
                 The disk is full: this write was not saved. Writes resume by themselves once \
                 space is freed, without a restart."
                    .to_string(),
                vec![],
            ),
            ApiError::Damaged(doc) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "damaged-document",
                "文档已损坏 / Document damaged",
                format!(
                    "本节点磁盘上的文档 {doc} 已损坏，正在从其他节点重新获取。 / Document {doc} is \
                     damaged on this node's disk; it is being fetched again from a peer that has \
                     it. Until then it cannot be read or changed here."
                ),
                vec![],
            ),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "the node could not complete the request; see its log".to_string(),
                    vec![],
                )
            }
        };
        let problem = Problem {
            kind: format!("https://neiqin.invalid/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}
