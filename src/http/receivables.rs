//! Receivables routes (回款): per customer and per order, the reminder queue (催款), a reminder
//! on an order, a payment allocated over several orders, and the aging report.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Authed};
use super::reports::{respond, Format};
use super::{read, write, AppState};
use crate::render::Table;
use crate::service::orders::OrderView;
use crate::service::receivables::{
    Allocation, CustomerPayment, CustomerReceivables, GroupBy, PaymentRecorded, ReceivableQuery,
    Receivables, ReminderQueue,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReceivableParams {
    /// A customer id: only that customer.
    pub customer: Option<String>,
    /// Only customers of this region (as typed on the archive, case-insensitive).
    pub region: Option<String>,
    /// Only orders of this salesperson.
    pub salesperson: Option<String>,
    /// The day figures and aging are counted on (events up to its end); today (China) when
    /// absent.
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AsOfParams {
    /// The day figures and aging are counted on; today (China) when absent.
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReminderParams {
    /// The day the queue is for; today (China) when absent.
    pub today: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AgingParams {
    #[serde(default)]
    #[param(inline)]
    pub group_by: GroupBy,
    #[serde(default)]
    #[param(inline)]
    pub format: Format,
    /// The day aging is counted on; today (China) when absent.
    pub as_of: Option<NaiveDate>,
}

/// 催款: what was said to the customer, and when to follow up.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub note: String,
    pub next_date: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationBody {
    /// Order id, an order of the payment's customer.
    #[schema(min_length = 1, pattern = r"\S")]
    pub order: String,
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2}0{0,6})?|0\.[0-9]?[1-9]0{0,6})$", example = "1333.33")]
    #[serde(with = "super::decimal::str")]
    pub amount: Decimal,
}

/// One payment of a customer allocated over several of its orders. Allocations add up to the
/// amount; each is at most what its order owes on goods shipped.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPaymentBody {
    /// Customer id.
    #[schema(min_length = 1, pattern = r"\S")]
    pub customer: String,
    /// 流水号, shared by every allocation.
    #[schema(min_length = 1, pattern = r"\S")]
    pub bank_reference: String,
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2}0{0,6})?|0\.[0-9]?[1-9]0{0,6})$", example = "1333.33")]
    #[serde(with = "super::decimal::str")]
    pub amount: Decimal,
    #[schema(min_items = 1)]
    pub allocations: Vec<AllocationBody>,
    /// Value date; today (China) when absent.
    pub date: Option<NaiveDate>,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub payer: String,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/receivables", get(list))
        .route("/api/receivables/reminders", get(reminders))
        .route("/api/customers/{id}/receivables", get(of_customer))
        .route("/api/orders/{id}/reminders", post(remind))
        .route("/api/payments", post(pay))
        .route("/api/reports/receivables", get(report))
}

fn today() -> NaiveDate {
    crate::domain::report::business_day(chrono::Utc::now())
}

async fn list(
    State(state): State<AppState>,
    Authed(_u): Authed,
    ApiQuery(p): ApiQuery<ReceivableParams>,
) -> Result<Json<Receivables>, ApiError> {
    let q = ReceivableQuery {
        customer: p.customer,
        region: p.region,
        salesperson: p.salesperson,
        as_of: p.as_of.unwrap_or_else(today),
    };
    Ok(Json(read(&state, move |o| o.receivables(&q)).await?))
}

async fn of_customer(
    State(state): State<AppState>,
    Authed(_u): Authed,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<AsOfParams>,
) -> Result<Json<CustomerReceivables>, ApiError> {
    let as_of = p.as_of.unwrap_or_else(today);
    Ok(Json(
        read(&state, move |o| o.customer_receivables(&id, as_of)).await?,
    ))
}

async fn reminders(
    State(state): State<AppState>,
    Authed(_u): Authed,
    ApiQuery(p): ApiQuery<ReminderParams>,
) -> Result<Json<ReminderQueue>, ApiError> {
    let day = p.today.unwrap_or_else(today);
    Ok(Json(read(&state, move |o| o.reminder_queue(day)).await?))
}

async fn remind(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReminderBody>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(
        write(&state, move |o| {
            o.remind_payment(&user, &id, b.note, b.next_date)
        })
        .await?,
    ))
}

async fn pay(
    State(state): State<AppState>,
    Authed(user): Authed,
    ApiJson(b): ApiJson<CustomerPaymentBody>,
) -> Result<(StatusCode, Json<PaymentRecorded>), ApiError> {
    let payment = CustomerPayment {
        customer: b.customer,
        bank_reference: b.bank_reference,
        amount: b.amount,
        date: b.date.unwrap_or_else(today),
        method: b.method,
        payer: b.payer,
        allocations: b
            .allocations
            .into_iter()
            .map(|a| Allocation {
                order: a.order,
                amount: a.amount,
            })
            .collect(),
    };
    let recorded = write(&state, move |o| o.record_customer_payment(&user, payment)).await?;
    Ok((StatusCode::CREATED, Json(recorded)))
}

async fn report(
    State(state): State<AppState>,
    Authed(_u): Authed,
    ApiQuery(p): ApiQuery<AgingParams>,
) -> Result<Response, ApiError> {
    let as_of = p.as_of.unwrap_or_else(today);
    let group_by = p.group_by;
    let report = read(&state, move |o| o.receivables_aging(group_by, as_of)).await?;
    let table = Table::aging(&report);
    let name = format!("receivables-by-{:?}-{as_of}", p.group_by).to_lowercase();
    respond(p.format, &name, report, table)
}
