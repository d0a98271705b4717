//! Request extractors: the bearer-token user, and JSON bodies whose errors name the bad field.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::domain::validation::FieldError;
use crate::service::User;

/// The signed-in user, from `Authorization: Bearer <token>`.
pub struct Authed(pub User);

impl<S> FromRequestParts<S> for Authed
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        match state.office.authenticate(token)? {
            Some(user) => Ok(Authed(user)),
            None => Err(ApiError::Unauthorized),
        }
    }
}

/// A JSON body. Unlike `axum::Json`, every failure is a problem+json naming the field.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, naming the path of the first bad field (`lines[1].quantity`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is a JSON object; serde would also read a struct from an array of its fields
    // in order (`[null, null]`), which the document does not allow.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
            vec![FieldError {
                field: String::new(),
                message: "expected a JSON object".into(),
            }],
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let field = if path == "." { String::new() } else { path };
        let detail = if inner.is_syntax() || inner.is_eof() {
            format!("malformed JSON: {message}")
        } else if field.is_empty() {
            message.clone()
        } else {
            format!("{field}: {message}")
        };
        ApiError::BadRequest(detail, vec![FieldError { field, message }])
    })
}

/// Query parameters; a bad one is a problem+json naming it, like a bad body field.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection| {
                let text = rejection.body_text();
                ApiError::BadRequest(
                    text.clone(),
                    vec![FieldError {
                        field: "query".into(),
                        message: text,
                    }],
                )
            })
    }
}

/// An optional JSON body: no body (or an empty one) reads as the default.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// The body's bytes; over the size limit is 413, anything else unreadable is 400.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(rejection.body_text(), vec![])
        }
    })
}
