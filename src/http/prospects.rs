//! Prospect routes: record, read, follow up, convert into a customer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::BTreeMap;

use super::error::ApiError;
use super::extract::{ApiJson, Authed};
use super::{read, write, AppState};
use crate::domain::customer::Customer;
use crate::domain::prospect::{FollowUp, Prospect};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProspectBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub name: String,
    pub contact: Option<String>,
    pub phone: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    /// How we met them: trade fair, referral…
    pub source: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpBody {
    /// phone, sms, email or visit
    #[schema(pattern = r"^(phone|sms|email|visit)$")]
    pub method: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub materials: Vec<String>,
    pub next_date: Option<chrono::NaiveDate>,
}

/// Archive fields the prospect did not have (code, kind, channel, owner…).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertBody {
    pub code: Option<String>,
    #[schema(pattern = r"^(store|dealer|direct|project)$")]
    pub kind: Option<String>,
    pub channel: Option<String>,
    pub owner: Option<String>,
    pub province: Option<String>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/prospects", post(create))
        .route("/api/prospects/{id}", get(fetch))
        .route("/api/prospects/{id}/follow-ups", post(follow_up))
        .route("/api/prospects/{id}/convert", post(convert))
}

fn present(pairs: [(&str, Option<String>); 5]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

async fn create(
    State(state): State<AppState>,
    Authed(user): Authed,
    ApiJson(b): ApiJson<ProspectBody>,
) -> Result<(StatusCode, Json<Prospect>), ApiError> {
    let mut fields = present([
        ("contact", b.contact),
        ("phone", b.phone),
        ("city", b.city),
        ("region", b.region),
        ("source", b.source),
    ]);
    fields.insert("name".into(), b.name);
    if let Some(note) = b.note {
        fields.insert("note".into(), note);
    }
    let prospect = write(&state, move |o| o.create_prospect(&user, fields)).await?;
    Ok((StatusCode::CREATED, Json(prospect)))
}

async fn fetch(
    State(state): State<AppState>,
    Authed(_u): Authed,
    Path(id): Path<String>,
) -> Result<Json<Prospect>, ApiError> {
    Ok(Json(read(&state, move |o| o.prospect(&id)).await?))
}

async fn follow_up(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<FollowUpBody>,
) -> Result<Json<Prospect>, ApiError> {
    let f = FollowUp {
        method: b.method,
        note: b.note,
        materials: b.materials,
        next_date: b.next_date,
    };
    Ok(Json(
        write(&state, move |o| o.follow_up(&user, &id, f)).await?,
    ))
}

async fn convert(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ConvertBody>,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    let extra = present([
        ("code", b.code),
        ("kind", b.kind),
        ("channel", b.channel),
        ("owner", b.owner),
        ("province", b.province),
    ]);
    let customer = write(&state, move |o| o.convert_prospect(&user, &id, extra)).await?;
    Ok((StatusCode::CREATED, Json(customer)))
}
