//! Prospect routes: record, list (follow-ups due), read, follow up, convert into a customer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::BTreeMap;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Authed};
use super::{decode_cursor, page_limit, read, write, AppState};
use crate::domain::customer::Customer;
use crate::domain::prospect::{FollowUp, Prospect, ProspectSummary};
use crate::domain::validation::FieldError;
use crate::service::customers::Page;
use crate::service::prospects::{Due, ProspectQuery};

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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProspectListParams {
    /// Follow-ups due: overdue, today or week (today to Sunday), earliest first; every
    /// prospect, newest first, when absent.
    #[param(pattern = r"^(overdue|today|week)?$")]
    pub due: Option<String>,
    /// The business day counted on; the node's today (China, UTC+8) when absent.
    pub today: Option<chrono::NaiveDate>,
    /// Page size, 50 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    #[param(pattern = r"^([0-9a-fA-F]{2})*$")]
    pub cursor: Option<String>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/prospects", post(create).get(list))
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

async fn list(
    State(state): State<AppState>,
    Authed(_u): Authed,
    ApiQuery(p): ApiQuery<ProspectListParams>,
) -> Result<Json<Page<ProspectSummary>>, ApiError> {
    let due = match p.due.as_deref() {
        None | Some("") => None,
        Some("overdue") => Some(Due::Overdue),
        Some("today") => Some(Due::Today),
        Some("week") => Some(Due::ThisWeek),
        Some(other) => {
            return Err(ApiError::Invalid(vec![FieldError {
                field: "due".into(),
                message: format!("overdue, today or week, not {other:?}"),
            }]))
        }
    };
    let query = ProspectQuery {
        due,
        today: p
            .today
            .unwrap_or_else(|| crate::domain::report::business_day(chrono::Utc::now())),
        cursor: decode_cursor(p.cursor.as_deref())?,
        limit: page_limit(p.limit, 1000)?,
    };
    Ok(Json(read(&state, move |o| o.list_prospects(&query)).await?))
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
