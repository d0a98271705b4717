//! Report routes: daily, monthly per store, sales statistics; JSON by default, or a CSV / XLSX
//! file with `?format=csv|xlsx`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{ApiQuery, Authed};
use super::{read, AppState};
use crate::domain::report::Dimension;
use crate::render::Table;

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Csv,
    Xlsx,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DailyParams {
    pub date: NaiveDate,
    #[serde(default)]
    #[param(inline)]
    pub format: Format,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthlyParams {
    /// "2026-10"
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: String,
    #[serde(default)]
    #[param(inline)]
    pub format: Format,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SalesParams {
    #[param(inline)]
    pub by: Dimension,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(default)]
    #[param(inline)]
    pub format: Format,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/reports/daily", get(daily))
        .route("/api/reports/monthly", get(monthly))
        .route("/api/reports/sales", get(sales))
}

/// The report as JSON, or its table as a file named after it.
pub(crate) fn respond<T: Serialize>(
    format: Format,
    name: &str,
    json: T,
    table: Table,
) -> Result<Response, ApiError> {
    match format {
        Format::Json => Ok(Json(json).into_response()),
        Format::Csv => {
            let bytes = table
                .to_csv()
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}.csv\""),
                    ),
                ],
                bytes,
            )
                .into_response())
        }
        Format::Xlsx => {
            let bytes = table
                .to_xlsx()
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_string(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}.xlsx\""),
                    ),
                ],
                bytes,
            )
                .into_response())
        }
    }
}

async fn daily(
    State(state): State<AppState>,
    Authed(_u): Authed,
    ApiQuery(p): ApiQuery<DailyParams>,
) -> Result<Response, ApiError> {
    let report = read(&state, move |o| o.daily_report(p.date)).await?;
    let table = Table::daily(&report.report);
    respond(p.format, &format!("daily-{}", p.date), report, table)
}

async fn monthly(
    State(state): State<AppState>,
    Authed(_u): Authed,
    ApiQuery(p): ApiQuery<MonthlyParams>,
) -> Result<Response, ApiError> {
    let month = p.month.clone();
    let report = read(&state, move |o| o.monthly_report(&month)).await?;
    let table = Table::monthly(&report.report);
    respond(p.format, &format!("monthly-{}", p.month), report, table)
}

async fn sales(
    State(state): State<AppState>,
    Authed(_u): Authed,
    ApiQuery(p): ApiQuery<SalesParams>,
) -> Result<Response, ApiError> {
    let report = read(&state, move |o| o.sales_stats(p.by, p.from, p.to)).await?;
    let table = Table::stats(&report.report);
    let name = format!("sales-by-{:?}-{}-{}", p.by, p.from, p.to).to_lowercase();
    respond(p.format, &name, report, table)
}
