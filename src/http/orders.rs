//! Order routes: take, list, read, change, history, every lifecycle step, returns, anomalies,
//! conflicts and attachments (return photos).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Authed, OptionalJson};
use super::{decode_cursor, read, write, AppState, ATTACHMENT_LIMIT};
use crate::domain::facts::{CreditKind, Disposition, Party, ReturnKind, ShipLine};
use crate::domain::order::{LineInput, NewOrder, Status};
use crate::service::customers::Page;
use crate::service::delays::{LateOrder, LateQuery};
use crate::service::lifecycle::{CreditInput, InboxAnomaly, ShippingDocInput};
use crate::service::orders::{HistoryEntry, LinePatch, OrderPatch, OrderQuery, OrderView};
use crate::views::OrderSummary;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub sku: String,
    #[serde(default)]
    pub spec: String,
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,3}0{0,5})?|0\.[0-9]{0,2}[1-9]0{0,5})$", example = "3")]
    #[serde(with = "super::decimal::str")]
    pub quantity: Decimal,
    #[serde(default)]
    pub unit: String,
    #[schema(value_type = String, pattern = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4}0{0,4})?$", example = "1333.33")]
    #[serde(with = "super::decimal::str")]
    pub unit_price: Decimal,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipTo {
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub phone: String,
}

/// 接单: everything verified at 核单 can be given here.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub customer_id: String,
    #[serde(default)]
    pub project: String,
    /// Store code owning the order; defaults to the customer's code.
    pub store: Option<String>,
    #[serde(default)]
    pub salesperson: String,
    #[serde(default)]
    pub tax_included: bool,
    #[schema(value_type = Option<String>, pattern = r"^0(\.[0-9]{1,4}0{0,4})?$", example = "0.13")]
    #[serde(default, with = "super::decimal::str_option")]
    pub tax_rate: Option<Decimal>,
    #[serde(default)]
    pub invoice_title: String,
    #[schema(value_type = Option<String>, pattern = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2}0{0,6})?$")]
    #[serde(default, with = "super::decimal::str_option")]
    pub deposit: Option<Decimal>,
    #[serde(default)]
    pub contract: String,
    #[serde(default)]
    pub ship_to: ShipTo,
    pub promised_ship_date: Option<NaiveDate>,
    #[serde(default)]
    pub note: String,
    #[schema(min_items = 1)]
    pub lines: Vec<LineBody>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinePatchBody {
    /// Absent for a new line.
    pub id: Option<String>,
    pub sku: Option<String>,
    pub spec: Option<String>,
    #[schema(value_type = Option<String>, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,3}0{0,5})?|0\.[0-9]{0,2}[1-9]0{0,5})$")]
    #[serde(default, with = "super::decimal::str_option")]
    pub quantity: Option<Decimal>,
    pub unit: Option<String>,
    #[schema(value_type = Option<String>, pattern = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4}0{0,4})?$")]
    #[serde(default, with = "super::decimal::str_option")]
    pub unit_price: Option<Decimal>,
}

/// Fields to change. Decimal fields are strings; `store` and `salesperson` are the supervisor's.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPatchBody {
    pub customer_id: Option<String>,
    pub project: Option<String>,
    pub store: Option<String>,
    pub salesperson: Option<String>,
    pub tax_included: Option<bool>,
    #[schema(value_type = Option<String>, pattern = r"^0(\.[0-9]{1,4}0{0,4})?$")]
    #[serde(default, with = "super::decimal::str_option")]
    pub tax_rate: Option<Decimal>,
    pub invoice_title: Option<String>,
    #[schema(value_type = Option<String>, pattern = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2}0{0,6})?$")]
    #[serde(default, with = "super::decimal::str_option")]
    pub deposit: Option<Decimal>,
    pub contract: Option<String>,
    pub ship_address: Option<String>,
    pub receiver: Option<String>,
    pub receiver_phone: Option<String>,
    pub promised_ship_date: Option<NaiveDate>,
    pub note: Option<String>,
    #[serde(default)]
    pub lines: Vec<LinePatchBody>,
    #[serde(default)]
    pub remove_lines: Vec<String>,
    /// Why the order changes: required once it was verified (a 变更单).
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderListParams {
    /// One of `Status::ALL` (the document lists them), or empty for any.
    pub status: Option<String>,
    pub customer: Option<String>,
    pub store: Option<String>,
    /// A dealer archive's id: its own orders and its stores' (经销商 → 专卖店).
    pub dealer: Option<String>,
    /// The salesperson the order belongs to (订单归属), as written on the order.
    pub salesperson: Option<String>,
    /// First business day (China, UTC+8) the order was taken, inclusive.
    pub from: Option<NaiveDate>,
    /// Last business day (China, UTC+8) the order was taken, inclusive.
    pub to: Option<NaiveDate>,
    /// Only orders with open anomalies.
    pub anomalies: Option<bool>,
    /// Page size, 50 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    #[param(pattern = r"^([0-9a-fA-F]{2})*$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LateParams {
    /// The day lateness is counted on; the node's today when absent.
    pub today: Option<NaiveDate>,
    /// Days late after which an order goes to the VP; the node's
    /// `delay_escalate_after_days` (default 3) when absent.
    #[param(minimum = 0, maximum = 365)]
    pub escalate_after_days: Option<u32>,
    /// Only the VP's queue (上报销售副总): escalated, not acknowledged.
    pub vp_queue: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    pub parties: Vec<Party>,
    /// Field name -> confirmed (customer, spec, quantity, unit_price, invoice_title...).
    #[serde(default)]
    pub checked: BTreeMap<String, bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub note: String,
    pub revised_date: Option<NaiveDate>,
    pub delay_reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineQuantity {
    /// Line id.
    pub line: String,
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,3}0{0,5})?|0\.[0-9]{0,2}[1-9]0{0,5})$")]
    #[serde(with = "super::decimal::str")]
    pub quantity: Decimal,
    #[schema(value_type = Option<String>, pattern = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4}0{0,4})?$")]
    #[serde(default, with = "super::decimal::str_option")]
    pub unit_price: Option<Decimal>,
}

pub(super) fn ship_lines(lines: Vec<LineQuantity>) -> Vec<ShipLine> {
    lines
        .into_iter()
        .map(|l| ShipLine {
            line: l.line,
            quantity: l.quantity,
            unit_price: l.unit_price,
        })
        .collect()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingDocBody {
    #[schema(min_items = 1)]
    pub lines: Vec<LineQuantity>,
    /// 发货日期
    #[schema(required = true, value_type = NaiveDate)]
    pub ship_date: Option<NaiveDate>,
    /// 运送途径: carrier, freight depot or own truck.
    #[serde(default)]
    #[schema(required = true, min_length = 1, pattern = r"\S")]
    pub route: String,
    /// 付费方式: who pays freight (寄付, 到付, 月结…).
    #[serde(default)]
    #[schema(required = true, min_length = 1, pattern = r"\S")]
    pub freight_payer: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    pub kind: CreditKind,
    #[schema(min_length = 1, pattern = r"\S")]
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinanceReleaseBody {
    /// The shipping-document version (its fact id); the current one when absent.
    pub shipping_doc: Option<String>,
    /// Required when less is paid than due: 赊销 or 月结, with a reason.
    pub credit: Option<CreditBody>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentBody {
    #[schema(min_items = 1)]
    pub lines: Vec<LineQuantity>,
    #[serde(default)]
    pub carrier: String,
    #[serde(default)]
    pub waybill: String,
    #[schema(minimum = 0, maximum = 4294967295.0)]
    #[serde(default, deserialize_with = "super::decimal::count")]
    pub cartons: u32,
    /// The goods already left (recorded after the fact): a physical fact is never refused, so
    /// it is recorded even without a finance release, and shows as an anomaly instead.
    #[serde(default)]
    pub already_left: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2}0{0,6})?|0\.[0-9]?[1-9]0{0,6})$", example = "1333.33")]
    #[serde(with = "super::decimal::str")]
    pub amount: Decimal,
    pub date: NaiveDate,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub payer: String,
    /// 流水号
    #[serde(default)]
    pub bank_ref: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub number: String,
    pub title: String,
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2}0{0,6})?|0\.[0-9]?[1-9]0{0,6})$", example = "1333.33")]
    #[serde(with = "super::decimal::str")]
    pub amount: Decimal,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    pub kind: ReturnKind,
    #[schema(min_items = 1)]
    pub lines: Vec<LineQuantity>,
    #[schema(min_length = 1, pattern = r"\S")]
    pub reason: String,
    /// Hashes returned by `POST /api/attachments`.
    #[serde(default)]
    pub photos: Vec<String>,
    /// A damage claim (破损): photos are required.
    #[serde(default)]
    pub damaged: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaybillBody {
    #[serde(default)]
    pub waybill: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveBody {
    #[schema(min_items = 1)]
    pub lines: Vec<LineQuantity>,
    #[serde(default)]
    pub condition: String,
    pub disposition: Disposition,
    pub tag: String,
    /// The goods are here although this node knows no approval: recorded anyway, and the
    /// contradiction shows as an anomaly for the VP.
    #[serde(default)]
    pub already_arrived: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub resolution: String,
    /// For duplicate customers: the archive to keep; the others are merged into it.
    pub keep: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickValueBody {
    pub value: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AttachmentRef {
    pub hash: String,
    pub size: usize,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/orders", get(list).post(create))
        .route("/api/orders/late", get(late))
        .route("/api/orders/{id}", get(fetch).patch(change))
        .route("/api/orders/{id}/history", get(history))
        .route("/api/orders/{id}/verify", post(verify))
        .route("/api/orders/{id}/approve", post(approve))
        .route(
            "/api/orders/{id}/release-to-workshop",
            post(release_to_workshop),
        )
        .route("/api/orders/{id}/progress", post(progress))
        .route(
            "/api/orders/{id}/delay-acknowledgement",
            post(acknowledge_delay),
        )
        .route("/api/orders/{id}/shipping-doc", post(shipping_doc))
        .route("/api/orders/{id}/finance-release", post(finance_release))
        .route("/api/orders/{id}/shipments", post(shipments))
        .route("/api/orders/{id}/payments", post(payments))
        .route("/api/orders/{id}/payments/{pid}/void", post(void_payment))
        .route("/api/orders/{id}/invoices", post(invoices))
        .route("/api/orders/{id}/invoices/{iid}/void", post(void_invoice))
        .route("/api/orders/{id}/cancel", post(cancel))
        .route("/api/orders/{id}/cancel-remaining", post(cancel_remaining))
        .route("/api/orders/{id}/corrections", post(correct))
        .route("/api/orders/{id}/reinstate", post(reinstate))
        .route("/api/orders/{id}/archive", post(archive))
        .route("/api/orders/{id}/returns", post(request_return))
        .route(
            "/api/orders/{id}/conflicts/{field}/resolve",
            post(resolve_conflict),
        )
        .route("/api/returns/{rid}/approve", post(approve_return))
        .route("/api/returns/{rid}/reject", post(reject_return))
        .route("/api/returns/{rid}/receive", post(receive_return))
        .route(
            "/api/returns/{rid}/return-to-customer",
            post(return_to_customer),
        )
        .route("/api/anomalies", get(anomalies))
        .route("/api/anomalies/{id}/resolve", post(resolve_anomaly))
        .route(
            "/api/attachments",
            post(upload_attachment).layer(DefaultBodyLimit::max(ATTACHMENT_LIMIT)),
        )
        .route("/api/attachments/{hash}", get(download_attachment))
}

type OrderResult = Result<Json<OrderView>, ApiError>;

async fn create(
    State(state): State<AppState>,
    Authed(user): Authed,
    ApiJson(body): ApiJson<NewOrderBody>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let view = super::create(&state, move |office| {
        let store = match body.store {
            Some(s) => s,
            // An unknown customer is reported by create_order, naming customer_id.
            None => office
                .summary_of::<crate::views::CustomerSummary>(&body.customer_id)?
                .map(|c| c.code)
                .unwrap_or_default(),
        };
        let order = NewOrder {
            customer_id: body.customer_id,
            project: body.project,
            store,
            salesperson: body.salesperson,
            tax_included: body.tax_included,
            tax_rate: body.tax_rate.unwrap_or_default(),
            invoice_title: body.invoice_title,
            deposit: body.deposit.unwrap_or_default(),
            contract: body.contract,
            ship_address: body.ship_to.address,
            receiver: body.ship_to.receiver,
            receiver_phone: body.ship_to.phone,
            promised_ship_date: body.promised_ship_date,
            note: body.note,
            lines: body
                .lines
                .into_iter()
                .map(|l| LineInput {
                    sku: l.sku,
                    spec: l.spec,
                    quantity: l.quantity,
                    unit: l.unit,
                    unit_price: l.unit_price,
                })
                .collect(),
        };
        office.create_order(&user, order)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(
    State(state): State<AppState>,
    Authed(_user): Authed,
    ApiQuery(p): ApiQuery<OrderListParams>,
) -> Result<Json<Page<OrderSummary>>, ApiError> {
    let status = match p.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::Invalid(vec![crate::domain::validation::FieldError {
                field: "status".into(),
                message: format!("unknown status {s:?}"),
            }])
        })?),
    };
    let query = OrderQuery {
        status,
        customer: p.customer,
        store: p.store,
        dealer: p.dealer,
        salesperson: p.salesperson.filter(|s| !s.trim().is_empty()),
        from: p.from,
        to: p.to,
        anomalies_only: p.anomalies.unwrap_or(false),
        cursor: decode_cursor(p.cursor.as_deref())?,
        limit: super::page_limit(p.limit, 1000)?,
    };
    Ok(Json(
        read(&state, move |office| office.list_orders(&query)).await?,
    ))
}

async fn fetch(
    State(state): State<AppState>,
    Authed(_user): Authed,
    Path(id): Path<String>,
) -> OrderResult {
    Ok(Json(
        read(&state, move |office| {
            office.order(&id).map(|o| OrderView::of(&o))
        })
        .await?,
    ))
}

async fn change(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OrderPatchBody>,
) -> OrderResult {
    let mut fields = BTreeMap::new();
    let mut set = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            fields.insert(name.to_string(), v);
        }
    };
    set("customer_id", body.customer_id);
    set("project", body.project);
    set("store", body.store);
    set("salesperson", body.salesperson);
    set("tax_included", body.tax_included.map(|b| b.to_string()));
    set("tax_rate", body.tax_rate.map(|d| d.normalize().to_string()));
    set("invoice_title", body.invoice_title);
    set("deposit", body.deposit.map(|d| d.to_string()));
    set("contract", body.contract);
    set("ship_address", body.ship_address);
    set("receiver", body.receiver);
    set("receiver_phone", body.receiver_phone);
    set(
        "promised_ship_date",
        body.promised_ship_date.map(|d| d.to_string()),
    );
    set("note", body.note);
    let patch = OrderPatch {
        fields,
        lines: body
            .lines
            .into_iter()
            .map(|l| LinePatch {
                id: l.id,
                sku: l.sku,
                spec: l.spec,
                quantity: l.quantity,
                unit: l.unit,
                unit_price: l.unit_price,
            })
            .collect(),
        remove_lines: body.remove_lines,
        reason: body.reason.unwrap_or_default(),
    };
    Ok(Json(
        write(&state, move |office| office.patch_order(&user, &id, patch)).await?,
    ))
}

async fn history(
    State(state): State<AppState>,
    Authed(_user): Authed,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    Ok(Json(
        read(&state, move |office| office.order_history(&id)).await?,
    ))
}

async fn verify(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<VerifyBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| o.verify(&user, &id, b.parties, b.checked)).await?,
    ))
}

async fn approve(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<NoteBody>,
) -> OrderResult {
    let note = body.note;
    Ok(Json(
        write(&state, move |o| o.approve(&user, &id, note)).await?,
    ))
}

async fn release_to_workshop(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| o.release_to_workshop(&user, &id)).await?,
    ))
}

async fn progress(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProgressBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| {
            o.progress(&user, &id, b.note, b.revised_date, b.delay_reason)
        })
        .await?,
    ))
}

/// The company's today: a business day in China, whatever the machine's time zone, as reports
/// and the workbench count days.
fn today() -> NaiveDate {
    crate::domain::report::business_day(chrono::Utc::now())
}

async fn late(
    State(state): State<AppState>,
    Authed(_user): Authed,
    ApiQuery(p): ApiQuery<LateParams>,
) -> Result<Json<Vec<LateOrder>>, ApiError> {
    let escalate_after_days = p
        .escalate_after_days
        .unwrap_or(state.office.escalation.late_order_days);
    if escalate_after_days > 365 {
        return Err(ApiError::Invalid(vec![
            crate::domain::validation::FieldError {
                field: "escalate_after_days".into(),
                message: "at most 365".into(),
            },
        ]));
    }
    let query = LateQuery {
        today: p.today.unwrap_or_else(today),
        escalate_after_days,
        vp_queue: p.vp_queue.unwrap_or(false),
    };
    Ok(Json(
        read(&state, move |office| office.late_orders(&query)).await?,
    ))
}

async fn acknowledge_delay(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<NoteBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| {
            o.acknowledge_delay(&user, &id, b.note, today())
        })
        .await?,
    ))
}

async fn shipping_doc(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ShippingDocBody>,
) -> OrderResult {
    let doc = ShippingDocInput {
        lines: ship_lines(b.lines),
        ship_date: b.ship_date,
        route: b.route,
        freight_payer: b.freight_payer,
    };
    Ok(Json(
        write(&state, move |o| o.shipping_doc(&user, &id, doc)).await?,
    ))
}

async fn finance_release(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<FinanceReleaseBody>,
) -> OrderResult {
    let doc = body.shipping_doc;
    // A credit decision always carries its reason, even when this release turns out not to
    // need one: the document requires it, so a blank one is refused rather than ignored.
    if body
        .credit
        .as_ref()
        .is_some_and(|c| c.reason.trim().is_empty())
    {
        return Err(ApiError::Invalid(vec![
            crate::domain::validation::FieldError {
                field: "credit.reason".into(),
                message: "赊销/月结须写明理由 / a credit decision needs a reason".into(),
            },
        ]));
    }
    let credit = body.credit.map(|c| CreditInput {
        kind: c.kind,
        reason: c.reason,
    });
    Ok(Json(
        write(&state, move |o| o.finance_release(&user, &id, doc, credit)).await?,
    ))
}

async fn shipments(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ShipmentBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| {
            o.ship(
                &user,
                &id,
                ship_lines(b.lines),
                b.carrier,
                b.waybill,
                b.cartons,
                b.already_left,
            )
        })
        .await?,
    ))
}

async fn payments(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PaymentBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| {
            o.record_payment(&user, &id, b.amount, b.date, b.method, b.payer, b.bank_ref)
        })
        .await?,
    ))
}

async fn void_payment(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path((id, pid)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> OrderResult {
    let reason = body.reason;
    Ok(Json(
        write(&state, move |o| o.void_payment(&user, &id, &pid, reason)).await?,
    ))
}

async fn invoices(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<InvoiceBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| {
            o.invoice(&user, &id, b.number, b.title, b.amount)
        })
        .await?,
    ))
}

async fn cancel(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> OrderResult {
    let reason = body.reason;
    Ok(Json(
        write(&state, move |o| o.cancel(&user, &id, reason)).await?,
    ))
}

async fn reinstate(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> OrderResult {
    let reason = body.reason;
    Ok(Json(
        write(&state, move |o| o.reinstate(&user, &id, reason)).await?,
    ))
}

async fn void_invoice(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path((id, iid)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> OrderResult {
    let reason = body.reason;
    Ok(Json(
        write(&state, move |o| o.void_invoice(&user, &id, &iid, reason)).await?,
    ))
}

async fn cancel_remaining(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> OrderResult {
    let reason = body.reason;
    Ok(Json(
        write(&state, move |o| o.cancel_remaining(&user, &id, reason)).await?,
    ))
}

async fn correct(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> OrderResult {
    let note = body.note;
    Ok(Json(
        write(&state, move |o| o.correct(&user, &id, note)).await?,
    ))
}

async fn return_to_customer(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(rid): Path<String>,
    OptionalJson(body): OptionalJson<WaybillBody>,
) -> OrderResult {
    let waybill = body.waybill;
    Ok(Json(
        write(&state, move |o| o.return_to_customer(&user, &rid, waybill)).await?,
    ))
}

async fn archive(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
) -> OrderResult {
    Ok(Json(write(&state, move |o| o.archive(&user, &id)).await?))
}

async fn request_return(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReturnBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| {
            o.request_return(
                &user,
                &id,
                b.kind,
                ship_lines(b.lines),
                b.reason,
                b.photos,
                b.damaged,
            )
        })
        .await?,
    ))
}

async fn approve_return(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(rid): Path<String>,
    OptionalJson(body): OptionalJson<NoteBody>,
) -> OrderResult {
    let note = body.note;
    Ok(Json(
        write(&state, move |o| o.decide_return(&user, &rid, true, note)).await?,
    ))
}

async fn reject_return(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(rid): Path<String>,
    OptionalJson(body): OptionalJson<NoteBody>,
) -> OrderResult {
    let note = body.note;
    Ok(Json(
        write(&state, move |o| o.decide_return(&user, &rid, false, note)).await?,
    ))
}

async fn receive_return(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(rid): Path<String>,
    ApiJson(b): ApiJson<ReceiveBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| {
            o.receive_return(
                &user,
                &rid,
                ship_lines(b.lines),
                b.condition,
                b.disposition,
                b.tag,
                b.already_arrived,
            )
        })
        .await?,
    ))
}

async fn anomalies(
    State(state): State<AppState>,
    Authed(_user): Authed,
) -> Result<Json<Vec<InboxAnomaly>>, ApiError> {
    Ok(Json(read(&state, |o| o.anomalies(500)).await?))
}

async fn resolve_anomaly(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ResolveBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let answer = write(&state, move |o| {
        if id.starts_with("customers-") {
            let keep = b.keep.ok_or_else(|| {
                crate::domain::validation::FieldErrors::single(
                    "keep",
                    "name the customer archive to keep",
                )
            })?;
            o.merge_customers(&user, &id, &keep, &b.resolution)?;
            Ok(serde_json::json!({"resolved": id, "kept": keep}))
        } else {
            let resolved = o.resolve_with_text(&user, &id, b.resolution)?;
            Ok(serde_json::to_value(resolved).unwrap_or_default())
        }
    })
    .await?;
    Ok(Json(answer))
}

async fn resolve_conflict(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path((id, field)): Path<(String, String)>,
    ApiJson(b): ApiJson<PickValueBody>,
) -> OrderResult {
    Ok(Json(
        write(&state, move |o| {
            o.resolve_conflict(&user, &id, &field, &b.value)
        })
        .await?,
    ))
}

async fn upload_attachment(
    State(state): State<AppState>,
    Authed(user): Authed,
    bytes: Bytes,
) -> Result<(StatusCode, Json<AttachmentRef>), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::Invalid(vec![
            crate::domain::validation::FieldError {
                field: "body".into(),
                message: "an attachment cannot be empty".into(),
            },
        ]));
    }
    let size = bytes.len();
    let hash = write(&state, move |o| o.put_attachment(&user, &bytes)).await?;
    Ok((StatusCode::CREATED, Json(AttachmentRef { hash, size })))
}

async fn download_attachment(
    State(state): State<AppState>,
    Authed(_user): Authed,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = read(&state, move |o| o.attachment(&hash)).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}
