//! Complaint routes (客诉): record, list (state, customer, store, category; the supervisor's
//! escalation queue), read with the timeline, assign, handle, close, reopen, the supervisor's
//! acknowledgement, the return it leads to, and the monthly count by category and store.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Authed, OptionalJson};
use super::orders::{ship_lines, LineQuantity, NoteBody};
use super::reports::{respond, Format};
use super::{decode_cursor, read, write, AppState};
use crate::domain::complaint::Category;
use crate::domain::facts::ReturnKind;
use crate::domain::validation::FieldError;
use crate::render::{Cell, Table};
use crate::service::complaints::{
    ComplaintQuery, ComplaintReport, ComplaintRow, ComplaintView, NewComplaint, ReturnInput,
    StateFilter,
};
use crate::service::customers::Page;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComplaintBody {
    /// The customer archive (id) the complaint comes from.
    #[schema(min_length = 1, pattern = r"\S")]
    pub customer_id: String,
    /// The store (专卖店); the order's store, else the customer's name, when absent.
    pub store: Option<String>,
    /// The order it is about, an order of that customer.
    pub order_id: Option<String>,
    /// phone (电话), wechat (微信) or visit (上门).
    #[schema(pattern = r"^(phone|wechat|visit|电话|微信|上门)$")]
    pub channel: String,
    /// quality (质量), delivery (交期), service (服务), wrong_goods (发错货) or other (其他).
    #[schema(
        pattern = r"^(quality|delivery|service|wrong_goods|other|质量|交期|服务|发错货|其他)$"
    )]
    pub category: String,
    #[schema(min_length = 1, pattern = r"\S")]
    pub content: String,
    /// Hashes returned by `POST /api/attachments`.
    #[serde(default)]
    pub photos: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A person or a department (仓库, 车间, 李娜…).
    #[schema(min_length = 1, pattern = r"\S")]
    pub to: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandleBody {
    /// What was done.
    #[schema(min_length = 1, pattern = r"\S")]
    pub note: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseComplaintBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub result: String,
    /// satisfied (满意), fairly_satisfied (基本满意) or dissatisfied (不满意).
    #[schema(pattern = r"^(satisfied|fairly_satisfied|dissatisfied|满意|基本满意|不满意)$")]
    pub satisfaction: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub reason: String,
}

/// Either `request` (a return already requested: only the link is recorded) or a new return
/// request (`kind`, `lines`, `reason`, optional `photos` and `damaged`) on `order`, the
/// complaint's order when absent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintReturnBody {
    pub request: Option<String>,
    pub order: Option<String>,
    pub kind: Option<ReturnKind>,
    #[serde(default)]
    pub lines: Vec<LineQuantity>,
    pub reason: Option<String>,
    #[serde(default)]
    pub photos: Vec<String>,
    #[serde(default)]
    pub damaged: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateParam {
    Open,
    Closed,
    /// Open more than `escalate_after_days` and not acknowledged: 上报主管's queue.
    Escalated,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ComplaintListParams {
    #[param(inline)]
    pub state: Option<StateParam>,
    /// A customer id.
    pub customer: Option<String>,
    /// A store, as recorded (case-insensitive).
    pub store: Option<String>,
    #[param(inline)]
    pub category: Option<Category>,
    /// The day escalation is counted on; today (China) when absent.
    pub today: Option<NaiveDate>,
    /// Days open after which a complaint goes to the supervisor; the node's
    /// `complaint_escalate_after_days` (default 7) when absent.
    #[param(minimum = 0, maximum = 365)]
    pub escalate_after_days: Option<u32>,
    /// Page size, 50 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    #[param(pattern = r"^([0-9a-fA-F]{2})*$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ComplaintReportParams {
    /// "2026-12"
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: String,
    #[serde(default)]
    #[param(inline)]
    pub format: Format,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/complaints", post(create).get(list))
        .route("/api/complaints/{id}", get(fetch))
        .route("/api/complaints/{id}/assign", post(assign))
        .route("/api/complaints/{id}/handle", post(handle))
        .route("/api/complaints/{id}/close", post(close))
        .route("/api/complaints/{id}/reopen", post(reopen))
        .route(
            "/api/complaints/{id}/escalation-acknowledgement",
            post(acknowledge),
        )
        .route("/api/complaints/{id}/return", post(return_request))
        .route("/api/reports/complaints", get(report))
}

type ComplaintResult = Result<Json<ComplaintView>, ApiError>;

fn today() -> NaiveDate {
    crate::domain::report::business_day(chrono::Utc::now())
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Invalid(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

async fn create(
    State(state): State<AppState>,
    Authed(user): Authed,
    ApiJson(b): ApiJson<NewComplaintBody>,
) -> Result<(StatusCode, Json<ComplaintView>), ApiError> {
    let new = NewComplaint {
        customer_id: b.customer_id,
        store: b.store.unwrap_or_default(),
        order_id: b.order_id,
        channel: b.channel,
        category: b.category,
        content: b.content,
        photos: b.photos,
    };
    let view = super::create(&state, move |o| o.create_complaint(&user, new)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(
    State(state): State<AppState>,
    Authed(_user): Authed,
    ApiQuery(p): ApiQuery<ComplaintListParams>,
) -> Result<Json<Page<ComplaintRow>>, ApiError> {
    let escalate_after_days = p
        .escalate_after_days
        .unwrap_or(state.office.escalation.open_complaint_days);
    if escalate_after_days > 365 {
        return Err(invalid("escalate_after_days", "at most 365"));
    }
    let query = ComplaintQuery {
        state: p.state.map(|s| match s {
            StateParam::Open => StateFilter::Open,
            StateParam::Closed => StateFilter::Closed,
            StateParam::Escalated => StateFilter::Escalated,
        }),
        customer: p.customer.filter(|c| !c.is_empty()),
        store: p.store.filter(|s| !s.trim().is_empty()),
        category: p.category,
        today: p.today.unwrap_or_else(today),
        escalate_after_days,
        cursor: decode_cursor(p.cursor.as_deref())?,
        limit: super::page_limit(p.limit, 1000)?,
    };
    Ok(Json(
        read(&state, move |o| o.list_complaints(&query)).await?,
    ))
}

async fn fetch(
    State(state): State<AppState>,
    Authed(_user): Authed,
    Path(id): Path<String>,
) -> ComplaintResult {
    Ok(Json(
        read(&state, move |o| o.complaint_view(&o.complaint(&id)?)).await?,
    ))
}

async fn assign(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AssignBody>,
) -> ComplaintResult {
    Ok(Json(
        write(&state, move |o| {
            o.assign_complaint(&user, &id, b.to, b.note)
        })
        .await?,
    ))
}

async fn handle(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<HandleBody>,
) -> ComplaintResult {
    Ok(Json(
        write(&state, move |o| o.handle_complaint(&user, &id, b.note)).await?,
    ))
}

async fn close(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CloseComplaintBody>,
) -> ComplaintResult {
    Ok(Json(
        write(&state, move |o| {
            o.close_complaint(&user, &id, b.result, &b.satisfaction)
        })
        .await?,
    ))
}

async fn reopen(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReopenBody>,
) -> ComplaintResult {
    Ok(Json(
        write(&state, move |o| o.reopen_complaint(&user, &id, b.reason)).await?,
    ))
}

async fn acknowledge(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<NoteBody>,
) -> ComplaintResult {
    Ok(Json(
        write(&state, move |o| {
            o.acknowledge_complaint_escalation(&user, &id, b.note)
        })
        .await?,
    ))
}

async fn return_request(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ComplaintReturnBody>,
) -> ComplaintResult {
    let input = match b.request {
        Some(request) => {
            if b.order.is_some()
                || b.kind.is_some()
                || !b.lines.is_empty()
                || b.reason.is_some()
                || !b.photos.is_empty()
                || b.damaged
            {
                return Err(invalid(
                    "request",
                    "give either the id of a return already requested, or a new return (kind, lines, reason)",
                ));
            }
            ReturnInput::Existing { request }
        }
        None => ReturnInput::New {
            order: b.order,
            kind: b
                .kind
                .ok_or_else(|| invalid("kind", "return, exchange or repair"))?,
            lines: ship_lines(b.lines),
            reason: b.reason.unwrap_or_default(),
            photos: b.photos,
            damaged: b.damaged,
        },
    };
    Ok(Json(
        write(&state, move |o| o.complaint_return(&user, &id, input)).await?,
    ))
}

/// 客诉月报 as one sheet: a row per store and category, the total below.
fn report_table(r: &ComplaintReport) -> Table {
    Table {
        title: format!("客诉月报 {}", r.month),
        headers: ["门店", "类别", "件数"].map(String::from).to_vec(),
        rows: r
            .rows
            .iter()
            .map(|row| {
                vec![
                    Cell::Text(row.store.clone()),
                    Cell::Text(row.category_label.clone()),
                    Cell::Count(row.count),
                ]
            })
            .collect(),
        total: Some(vec![
            Cell::Text("合计".into()),
            Cell::Text(String::new()),
            Cell::Count(r.total),
        ]),
    }
}

async fn report(
    State(state): State<AppState>,
    Authed(_user): Authed,
    ApiQuery(p): ApiQuery<ComplaintReportParams>,
) -> Result<Response, ApiError> {
    let month = p.month.clone();
    let report = read(&state, move |o| o.complaint_report(&month)).await?;
    let table = report_table(&report.report);
    respond(p.format, &format!("complaints-{}", p.month), report, table)
}
