//! Contract routes (合同): draft, list (state, customer, expiring within N days, expired), read
//! with its versions and orders, change (the draft, or a new version after submission), and the
//! workflow steps: submit, review (主管审核), approve (领导审批), sign (签订), archive (归档).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Authed};
use super::{decode_cursor, read, write, AppState};
use crate::domain::contract::ContractState;
use crate::domain::validation::FieldError;
use crate::service::contracts::{
    ContractFilter, ContractPatch, ContractQuery, ContractRow, ContractView, NewContract,
};
use crate::service::customers::Page;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContractBody {
    /// The contract number; this node's prefix and sequence (`SH-HT00001`) when absent.
    #[schema(min_length = 1, pattern = r"\S")]
    pub number: Option<String>,
    /// The customer archive (id) the contract is with.
    #[schema(min_length = 1, pattern = r"\S")]
    pub customer_id: String,
    /// 甲方; the customer's name when absent.
    #[schema(min_length = 1, pattern = r"\S")]
    pub party_a: Option<String>,
    /// 乙方
    #[schema(min_length = 1, pattern = r"\S")]
    pub party_b: String,
    /// Greater than zero, at most 2 decimals.
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2}0{0,6})?|0\.[0-9]?[1-9]0{0,6})$", example = "200000.00")]
    #[serde(with = "super::decimal::str")]
    pub amount: Decimal,
    #[serde(default)]
    pub terms: String,
    pub valid_from: NaiveDate,
    /// Not before `valid_from`.
    pub valid_to: NaiveDate,
    /// Hashes returned by `POST /api/attachments`.
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// Content to change; absent fields stay. After submission this makes a new version, which
/// needs `reason`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractPatchBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub party_a: Option<String>,
    #[schema(min_length = 1, pattern = r"\S")]
    pub party_b: Option<String>,
    #[schema(value_type = Option<String>, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2}0{0,6})?|0\.[0-9]?[1-9]0{0,6})$")]
    #[serde(default, with = "super::decimal::str_option")]
    pub amount: Option<Decimal>,
    pub terms: Option<String>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub attachments: Option<Vec<String>>,
    /// Why the contract changes: required once it was submitted (a new version).
    pub reason: Option<String>,
}

/// 主管审核 or 领导审批: approve, or reject with a reason.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractDecisionBody {
    pub approved: bool,
    /// Required when rejecting.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// The day it was signed; not after today (China).
    pub signed_on: NaiveDate,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStateParam {
    Draft,
    Submitted,
    Reviewed,
    Approved,
    Signed,
    Archived,
    Rejected,
    /// Signed or filed, past the last valid day of the version in force.
    Expired,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContractListParams {
    #[param(inline)]
    pub state: Option<ContractStateParam>,
    /// A customer id.
    pub customer: Option<String>,
    /// In force (signed or filed) and the last valid day within this many days from today.
    #[param(minimum = 0, maximum = 3660)]
    pub expiring: Option<u32>,
    /// The day expiry is counted from; today (China) when absent.
    pub today: Option<NaiveDate>,
    /// Page size, 50 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    #[param(pattern = r"^([0-9a-fA-F]{2})*$")]
    pub cursor: Option<String>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/contracts", post(create).get(list))
        .route("/api/contracts/{id}", get(fetch).patch(change))
        .route("/api/contracts/{id}/submit", post(submit))
        .route("/api/contracts/{id}/review", post(review))
        .route("/api/contracts/{id}/approve", post(approve))
        .route("/api/contracts/{id}/sign", post(sign))
        .route("/api/contracts/{id}/archive", post(archive))
}

type ContractResult = Result<Json<ContractView>, ApiError>;

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Invalid(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

async fn create(
    State(state): State<AppState>,
    Authed(user): Authed,
    ApiJson(b): ApiJson<NewContractBody>,
) -> Result<(StatusCode, Json<ContractView>), ApiError> {
    // Absent means the default; given, it must say something.
    for (field, value) in [("number", &b.number), ("party_a", &b.party_a)] {
        if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
            return Err(invalid(
                field,
                "must not be empty; leave it out for the default",
            ));
        }
    }
    let new = NewContract {
        number: b.number.unwrap_or_default(),
        customer_id: b.customer_id,
        party_a: b.party_a.unwrap_or_default(),
        party_b: b.party_b,
        amount: b.amount,
        terms: b.terms,
        valid_from: b.valid_from,
        valid_to: b.valid_to,
        attachments: b.attachments,
    };
    let view = super::create(&state, move |o| o.create_contract(&user, new)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(
    State(state): State<AppState>,
    Authed(_user): Authed,
    ApiQuery(p): ApiQuery<ContractListParams>,
) -> Result<Json<Page<ContractRow>>, ApiError> {
    if p.expiring.is_some_and(|d| d > 3660) {
        return Err(invalid("expiring", "at most 3660 days"));
    }
    let filter = p.state.map(|s| match s {
        ContractStateParam::Draft => ContractFilter::State(ContractState::Draft),
        ContractStateParam::Submitted => ContractFilter::State(ContractState::Submitted),
        ContractStateParam::Reviewed => ContractFilter::State(ContractState::Reviewed),
        ContractStateParam::Approved => ContractFilter::State(ContractState::Approved),
        ContractStateParam::Signed => ContractFilter::State(ContractState::Signed),
        ContractStateParam::Archived => ContractFilter::State(ContractState::Archived),
        ContractStateParam::Rejected => ContractFilter::State(ContractState::Rejected),
        ContractStateParam::Expired => ContractFilter::Expired,
    });
    let query = ContractQuery {
        filter,
        customer: p.customer.filter(|c| !c.is_empty()),
        expiring_within: p.expiring,
        today: p
            .today
            .unwrap_or_else(|| crate::domain::report::business_day(chrono::Utc::now())),
        cursor: decode_cursor(p.cursor.as_deref())?,
        limit: super::page_limit(p.limit, 1000)?,
    };
    Ok(Json(read(&state, move |o| o.list_contracts(&query)).await?))
}

async fn fetch(
    State(state): State<AppState>,
    Authed(_user): Authed,
    Path(id): Path<String>,
) -> ContractResult {
    Ok(Json(
        read(&state, move |o| o.contract_view(&o.contract(&id)?)).await?,
    ))
}

async fn change(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ContractPatchBody>,
) -> ContractResult {
    let patch = ContractPatch {
        party_a: b.party_a,
        party_b: b.party_b,
        amount: b.amount,
        terms: b.terms,
        valid_from: b.valid_from,
        valid_to: b.valid_to,
        attachments: b.attachments,
        reason: b.reason.unwrap_or_default(),
    };
    Ok(Json(
        write(&state, move |o| o.patch_contract(&user, &id, patch)).await?,
    ))
}

async fn submit(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
) -> ContractResult {
    Ok(Json(
        write(&state, move |o| o.submit_contract(&user, &id)).await?,
    ))
}

async fn review(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ContractDecisionBody>,
) -> ContractResult {
    Ok(Json(
        write(&state, move |o| {
            o.review_contract(&user, &id, b.approved, b.reason)
        })
        .await?,
    ))
}

async fn approve(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ContractDecisionBody>,
) -> ContractResult {
    Ok(Json(
        write(&state, move |o| {
            o.approve_contract(&user, &id, b.approved, b.reason)
        })
        .await?,
    ))
}

async fn sign(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<SignBody>,
) -> ContractResult {
    Ok(Json(
        write(&state, move |o| o.sign_contract(&user, &id, b.signed_on)).await?,
    ))
}

async fn archive(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
) -> ContractResult {
    Ok(Json(
        write(&state, move |o| o.archive_contract(&user, &id)).await?,
    ))
}
