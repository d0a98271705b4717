//! The OpenAPI description served at `/api/openapi.json`, built from the request and response
//! types themselves (utoipa), plus a route table. A test walks this table against the router,
//! so a route missing from either side fails the build's tests.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder,
};
use utoipa::{IntoParams, OpenApi as _, PartialSchema};

use super::AppState;

/// One route as the document describes it. The status codes each route can answer follow from
/// these fields (see `statuses`), the way the extractors and `ApiError` produce them.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// Who may call it; anything but "anyone" needs a bearer token (401 without one).
    pub who: &'static str,
    pub summary: &'static str,
    pub body: Body,
    /// 201 for creates, else 200.
    pub ok: u16,
    pub response: Resp,
    pub query: Query,
}

/// The request body, as the handler's extractor reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    /// `ApiJson`: required, `Content-Type: application/json` (415 otherwise).
    Json(&'static str),
    /// `OptionalJson`: absent or empty reads as the defaults; the content type is not checked.
    OptionalJson(&'static str),
    /// Raw bytes (attachments), any content type.
    Bytes,
}

/// The success body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Resp {
    /// A component schema.
    Schema(&'static str),
    /// An array of a component schema.
    Array(&'static str),
    /// `{items: [schema], next_cursor}`.
    Page(&'static str),
    /// A JSON object with no schema of its own yet (the order view, a report).
    Object,
    ArrayOfObjects,
    /// Any JSON value (anomaly resolution answers an order, a merge note or null).
    Any,
    /// application/octet-stream.
    Binary,
    /// JSON, CSV or XLSX by `format`.
    Report,
}

/// Query parameters, from the handler's own parameter type.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Query {
    None,
    Orders,
    Customers,
    Daily,
    Monthly,
    Sales,
    Late,
    Receivables,
    AsOf,
    Reminders,
    Aging,
    Returns,
    Prospects,
    Complaints,
    ComplaintReport,
    Contracts,
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/api/health",
        who: "anyone",
        summary: "liveness and version",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("Health"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/status",
        who: "any role",
        summary: "node, counts, peers, open anomalies",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("NodeStatus"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/openapi.json",
        who: "anyone",
        summary: "this description",
        body: Body::None,
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/users",
        who: "admin",
        summary: "add a user; the token is shown once",
        body: Body::Json("NewUserBody"),
        ok: 201,
        response: Resp::Schema("NewUserToken"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/users",
        who: "admin",
        summary: "list users",
        body: Body::None,
        ok: 200,
        response: Resp::ArrayOfObjects,
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/backup",
        who: "admin",
        summary: "the node's backup (JSON lines), streamed while it runs",
        body: Body::None,
        ok: 200,
        response: Resp::Binary,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/customers",
        who: "clerk",
        summary: "create a customer archive",
        body: Body::Json("NewCustomerBody"),
        ok: 201,
        response: Resp::Schema("Customer"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/customers",
        who: "any role",
        summary: "search customers (q, city, region, a dealer's stores, limit, cursor)",
        body: Body::None,
        ok: 200,
        response: Resp::Page("CustomerSummary"),
        query: Query::Customers,
    },
    Route {
        method: "get",
        path: "/api/customers/{id}",
        who: "any role",
        summary: "read a customer with conflicts",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("Customer"),
        query: Query::None,
    },
    Route {
        method: "patch",
        path: "/api/customers/{id}",
        who: "clerk",
        summary: "change fields (each merges on its own), add items, remove items by id (remove)",
        body: Body::Json("CustomerBody"),
        ok: 200,
        response: Resp::Schema("Customer"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders",
        who: "clerk",
        summary: "take an order (接单)",
        body: Body::Json("NewOrderBody"),
        ok: 201,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/orders",
        who: "any role",
        summary: "list orders (status, customer, store, from, to, anomalies, limit, cursor)",
        body: Body::None,
        ok: 200,
        response: Resp::Page("OrderSummary"),
        query: Query::Orders,
    },
    Route {
        method: "get",
        path: "/api/orders/late",
        who: "any role",
        summary: "late orders (交期延误): past the promised date or revised twice; the VP's queue",
        body: Body::None,
        ok: 200,
        response: Resp::Array("LateOrder"),
        query: Query::Late,
    },
    Route {
        method: "get",
        path: "/api/orders/{id}",
        who: "any role",
        summary: "order with totals, status, facts, anomalies, conflicts",
        body: Body::None,
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "patch",
        path: "/api/orders/{id}",
        who: "clerk (supervisor for store, salesperson)",
        summary: "change fields or lines",
        body: Body::Json("OrderPatchBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/orders/{id}/history",
        who: "any role",
        summary: "every change: who, role, node, when, what",
        body: Body::None,
        ok: 200,
        response: Resp::Array("HistoryEntry"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/verify",
        who: "clerk",
        summary: "核单",
        body: Body::Json("VerifyBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/approve",
        who: "supervisor",
        summary: "审核",
        body: Body::OptionalJson("NoteBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/release-to-workshop",
        who: "clerk",
        summary: "下单",
        body: Body::None,
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/progress",
        who: "clerk",
        summary: "跟单 note, revised date (becomes the promised date), delay reason",
        body: Body::Json("ProgressBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/delay-acknowledgement",
        who: "vp",
        summary: "the VP acknowledges a late order's delay (上报销售副总)",
        body: Body::OptionalJson("NoteBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/shipping-doc",
        who: "clerk",
        summary: "出货单: a new version",
        body: Body::Json("ShippingDocBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/finance-release",
        who: "finance",
        summary: "release one shipping-document version",
        body: Body::OptionalJson("FinanceReleaseBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/shipments",
        who: "warehouse",
        summary: "ship quantities per line",
        body: Body::Json("ShipmentBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/payments",
        who: "finance",
        summary: "record a payment",
        body: Body::Json("PaymentBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/payments/{pid}/void",
        who: "finance",
        summary: "void a payment",
        body: Body::OptionalJson("ReasonBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/invoices",
        who: "finance",
        summary: "record an invoice",
        body: Body::Json("InvoiceBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/cancel",
        who: "vp",
        summary: "cancel",
        body: Body::OptionalJson("ReasonBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/reinstate",
        who: "vp",
        summary: "reinstate",
        body: Body::OptionalJson("ReasonBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/archive",
        who: "clerk",
        summary: "归档 when shipped, paid and invoiced",
        body: Body::None,
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/returns",
        who: "clerk",
        summary: "return, exchange or repair request",
        body: Body::Json("ReturnBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/conflicts/{field}/resolve",
        who: "the field's owner",
        summary: "pick one conflicting value",
        body: Body::Json("PickValueBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/returns",
        who: "any role",
        summary: "returns by state (pending: the VP's 待审批; approved: the warehouse's 退货待收), newest first",
        body: Body::None,
        ok: 200,
        response: Resp::Page("ReturnCase"),
        query: Query::Returns,
    },
    Route {
        method: "post",
        path: "/api/returns/{rid}/approve",
        who: "vp",
        summary: "approve a return",
        body: Body::OptionalJson("NoteBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/returns/{rid}/reject",
        who: "vp",
        summary: "reject a return",
        body: Body::OptionalJson("NoteBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/returns/{rid}/receive",
        who: "warehouse",
        summary:
            "receive returned goods (once, after the VP's approval, at most what was asked back)",
        body: Body::Json("ReceiveBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/returns/{rid}/return-to-customer",
        who: "warehouse",
        summary: "send a repaired or exchanged item back to the customer",
        body: Body::OptionalJson("WaybillBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/invoices/{iid}/void",
        who: "finance",
        summary: "红冲: void an invoice (its number stays used)",
        body: Body::Json("RequiredReasonBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/cancel-remaining",
        who: "vp",
        summary: "cancel what has not shipped of a partly shipped order",
        body: Body::Json("RequiredReasonBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/corrections",
        who: "supervisor",
        summary: "a correction note, the only change an archived order takes",
        body: Body::Json("RequiredNoteBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/anomalies",
        who: "any role",
        summary: "open anomalies, newest first",
        body: Body::None,
        ok: 200,
        response: Resp::ArrayOfObjects,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/anomalies/{id}/resolve",
        who: "the role named for it",
        summary: "resolve an anomaly",
        body: Body::Json("ResolveBody"),
        ok: 200,
        response: Resp::Any,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/attachments",
        who: "clerk (complaint photos: supervisor too)",
        summary: "upload a photo (raw bytes); returns its hash",
        body: Body::Bytes,
        ok: 201,
        response: Resp::Schema("AttachmentRef"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/attachments/{hash}",
        who: "any role",
        summary: "download an attachment",
        body: Body::None,
        ok: 200,
        response: Resp::Binary,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/prospects",
        who: "clerk",
        summary: "record a prospect (意向客户)",
        body: Body::Json("ProspectBody"),
        ok: 201,
        response: Resp::Schema("Prospect"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/prospects",
        who: "any role",
        summary: "prospects newest first, or the follow-ups due (overdue, today, this week) earliest first",
        body: Body::None,
        ok: 200,
        response: Resp::Page("ProspectSummary"),
        query: Query::Prospects,
    },
    Route {
        method: "get",
        path: "/api/prospects/{id}",
        who: "any role",
        summary: "read a prospect with its follow-ups",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("Prospect"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/prospects/{id}/follow-ups",
        who: "clerk",
        summary: "record a follow-up",
        body: Body::Json("FollowUpBody"),
        ok: 200,
        response: Resp::Schema("Prospect"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/prospects/{id}/convert",
        who: "clerk",
        summary: "turn a prospect into a customer archive",
        body: Body::Json("ConvertBody"),
        ok: 201,
        response: Resp::Schema("Customer"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/reports/daily",
        who: "any role",
        summary: "the day's report (日报); JSON, CSV or XLSX",
        body: Body::None,
        ok: 200,
        response: Resp::Report,
        query: Query::Daily,
    },
    Route {
        method: "get",
        path: "/api/reports/monthly",
        who: "any role",
        summary: "the month's report per store (月报); JSON, CSV or XLSX",
        body: Body::None,
        ok: 200,
        response: Resp::Report,
        query: Query::Monthly,
    },
    Route {
        method: "get",
        path: "/api/reports/sales",
        who: "any role",
        summary: "sales statistics by a dimension over a date range; JSON, CSV or XLSX",
        body: Body::None,
        ok: 200,
        response: Resp::Report,
        query: Query::Sales,
    },
    Route {
        method: "get",
        path: "/api/receivables",
        who: "any role",
        summary: "receivables (回款) per customer with totals: shipped, invoiced, paid, outstanding, aging",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("Receivables"),
        query: Query::Receivables,
    },
    Route {
        method: "get",
        path: "/api/receivables/reminders",
        who: "any role",
        summary: "催款 queue: overdue orders and those due this week, with the last reminder",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("ReminderQueue"),
        query: Query::Reminders,
    },
    Route {
        method: "get",
        path: "/api/customers/{id}/receivables",
        who: "any role",
        summary: "a customer's orders with shipped, invoiced, paid, outstanding and aging",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("CustomerReceivables"),
        query: Query::AsOf,
    },
    Route {
        method: "post",
        path: "/api/orders/{id}/reminders",
        who: "clerk or supervisor",
        summary: "催款: record a payment reminder on the order (note, next follow-up date)",
        body: Body::Json("ReminderBody"),
        ok: 200,
        response: Resp::Object,
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/payments",
        who: "finance",
        summary: "one payment of a customer allocated over several of its orders (one bank reference)",
        body: Body::Json("CustomerPaymentBody"),
        ok: 201,
        response: Resp::Schema("PaymentRecorded"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/reports/receivables",
        who: "any role",
        summary: "receivables aging (应收账龄) by customer, region or salesperson; JSON, CSV or XLSX",
        body: Body::None,
        ok: 200,
        response: Resp::Report,
        query: Query::Aging,
    },
    Route {
        method: "post",
        path: "/api/complaints",
        who: "clerk or supervisor",
        summary: "record a complaint (客诉): customer, store, order, channel, category, content, photos",
        body: Body::Json("NewComplaintBody"),
        ok: 201,
        response: Resp::Schema("ComplaintView"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/complaints",
        who: "any role",
        summary: "list complaints (state open|closed|escalated, customer, store, category, today, escalate_after_days, limit, cursor)",
        body: Body::None,
        ok: 200,
        response: Resp::Page("ComplaintRow"),
        query: Query::Complaints,
    },
    Route {
        method: "get",
        path: "/api/complaints/{id}",
        who: "any role",
        summary: "a complaint with its stage, timeline, returns and records that do not count",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("ComplaintView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/complaints/{id}/assign",
        who: "clerk or supervisor",
        summary: "assign the complaint to a person or department (分派)",
        body: Body::Json("AssignBody"),
        ok: 200,
        response: Resp::Schema("ComplaintView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/complaints/{id}/handle",
        who: "any business role (the department it was assigned to)",
        summary: "record what was done (处理); after an assignment, as often as needed",
        body: Body::Json("HandleBody"),
        ok: 200,
        response: Resp::Schema("ComplaintView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/complaints/{id}/close",
        who: "clerk or supervisor",
        summary: "close with the result and the customer's satisfaction (结案); after handling",
        body: Body::Json("CloseComplaintBody"),
        ok: 200,
        response: Resp::Schema("ComplaintView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/complaints/{id}/reopen",
        who: "clerk or supervisor",
        summary: "reopen a closed complaint (the customer came back)",
        body: Body::Json("ReopenBody"),
        ok: 200,
        response: Resp::Schema("ComplaintView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/complaints/{id}/escalation-acknowledgement",
        who: "supervisor",
        summary: "上报主管: the supervisor acknowledges an open complaint from the escalation queue",
        body: Body::OptionalJson("NoteBody"),
        ok: 200,
        response: Resp::Schema("ComplaintView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/complaints/{id}/return",
        who: "clerk",
        summary: "退换维修: request a return on the complaint's order (or another) and link it, or link an existing request",
        body: Body::Json("ComplaintReturnBody"),
        ok: 200,
        response: Resp::Schema("ComplaintView"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/reports/complaints",
        who: "any role",
        summary: "客诉月报: complaints of a month by category and store; JSON, CSV or XLSX",
        body: Body::None,
        ok: 200,
        response: Resp::Report,
        query: Query::ComplaintReport,
    },
    Route {
        method: "post",
        path: "/api/contracts",
        who: "clerk",
        summary: "起草合同: number, customer, parties (甲方/乙方), amount, terms, validity, attachments",
        body: Body::Json("NewContractBody"),
        ok: 201,
        response: Resp::Schema("ContractView"),
        query: Query::None,
    },
    Route {
        method: "get",
        path: "/api/contracts",
        who: "any role",
        summary: "list contracts (state draft|submitted|reviewed|approved|signed|archived|rejected|expired, customer, expiring=N days, today, limit, cursor)",
        body: Body::None,
        ok: 200,
        response: Resp::Page("ContractRow"),
        query: Query::Contracts,
    },
    Route {
        method: "get",
        path: "/api/contracts/{id}",
        who: "any role",
        summary: "a contract with its versions, their review facts, its orders, used and remaining amount, and records that do not count",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("ContractView"),
        query: Query::None,
    },
    Route {
        method: "patch",
        path: "/api/contracts/{id}",
        who: "clerk",
        summary: "change the draft; after submission a new version (版本, with a reason) that is reviewed again",
        body: Body::Json("ContractPatchBody"),
        ok: 200,
        response: Resp::Schema("ContractView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/contracts/{id}/submit",
        who: "clerk",
        summary: "submit the draft to the supervisor's review (提交审核)",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("ContractView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/contracts/{id}/review",
        who: "supervisor",
        summary: "主管审核: approve, or reject with a reason",
        body: Body::Json("ContractDecisionBody"),
        ok: 200,
        response: Resp::Schema("ContractView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/contracts/{id}/approve",
        who: "vp",
        summary: "领导审批: approve, or reject with a reason, a reviewed contract",
        body: Body::Json("ContractDecisionBody"),
        ok: 200,
        response: Resp::Schema("ContractView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/contracts/{id}/sign",
        who: "clerk",
        summary: "签订: the approved version was signed on a day",
        body: Body::Json("SignBody"),
        ok: 200,
        response: Resp::Schema("ContractView"),
        query: Query::None,
    },
    Route {
        method: "post",
        path: "/api/contracts/{id}/archive",
        who: "clerk",
        summary: "归档: file the signed contract",
        body: Body::None,
        ok: 200,
        response: Resp::Schema("ContractView"),
        query: Query::None,
    },
];

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    super::customers::CustomerBody,
    super::customers::RemoveItems,
    super::orders::NewOrderBody,
    super::orders::LineBody,
    super::orders::ShipTo,
    super::orders::OrderPatchBody,
    super::orders::LinePatchBody,
    super::orders::VerifyBody,
    super::orders::NoteBody,
    super::orders::ProgressBody,
    super::orders::LineQuantity,
    super::orders::ShippingDocBody,
    super::orders::FinanceReleaseBody,
    super::orders::ShipmentBody,
    super::orders::PaymentBody,
    super::orders::ReasonBody,
    super::orders::InvoiceBody,
    super::orders::ReturnBody,
    super::orders::ReceiveBody,
    super::orders::WaybillBody,
    super::orders::CreditBody,
    crate::domain::facts::CreditKind,
    super::orders::ResolveBody,
    super::orders::PickValueBody,
    super::orders::AttachmentRef,
    super::users::NewUserBody,
    super::users::NewUserToken,
    super::prospects::ProspectBody,
    super::prospects::FollowUpBody,
    super::prospects::ConvertBody,
    super::error::Problem,
    super::status::Health,
    super::status::NodeStatus,
    crate::sync::peers::PeerInfo,
    crate::sync::peers::FoundBy,
    crate::domain::validation::FieldError,
    crate::domain::facts::Party,
    crate::domain::facts::ReturnKind,
    crate::domain::facts::Disposition,
    crate::domain::role::Role,
    crate::domain::order::Status,
    crate::domain::customer::Customer,
    crate::domain::prospect::Prospect,
    crate::domain::prospect::FollowUp,
    crate::service::orders::HistoryEntry,
    crate::service::delays::LateOrder,
    crate::views::OrderSummary,
    crate::views::CustomerSummary,
    crate::views::LastReminder,
    super::receivables::ReminderBody,
    super::receivables::AllocationBody,
    super::receivables::CustomerPaymentBody,
    crate::service::receivables::Receivables,
    crate::service::receivables::CustomerReceivable,
    crate::service::receivables::CustomerReceivables,
    crate::service::receivables::OrderReceivable,
    crate::service::receivables::ReminderQueue,
    crate::service::receivables::ReminderItem,
    crate::service::receivables::PaymentRecorded,
    crate::service::receivables::AllocationRecorded,
    crate::service::receivables::GroupBy,
    crate::domain::receivable::Figures,
    crate::domain::receivable::Buckets,
    crate::domain::returns::ReturnCase,
    crate::domain::returns::ReturnState,
    crate::domain::prospect::ProspectSummary,
    super::complaints::NewComplaintBody,
    super::complaints::AssignBody,
    super::complaints::HandleBody,
    super::complaints::CloseComplaintBody,
    super::complaints::ReopenBody,
    super::complaints::ComplaintReturnBody,
    crate::service::complaints::ComplaintView,
    crate::service::complaints::ComplaintRow,
    crate::service::complaints::LinkedReturn,
    crate::service::complaints::LinkedReturnState,
    crate::views::complaints::ComplaintSummary,
    crate::domain::complaint::Channel,
    crate::domain::complaint::Category,
    crate::domain::complaint::Satisfaction,
    crate::domain::complaint::Stage,
    super::contracts::NewContractBody,
    super::contracts::ContractPatchBody,
    super::contracts::ContractDecisionBody,
    super::contracts::SignBody,
    crate::service::contracts::ContractView,
    crate::service::contracts::ContractRow,
    crate::service::contracts::ContractVersion,
    crate::service::contracts::ContractOrder,
    crate::views::contracts::ContractSummary,
    crate::domain::contract::ContractContent,
    crate::domain::contract::ContractState,
    crate::domain::facts::Fact,
    crate::domain::facts::FactBody,
    crate::domain::anomaly::Anomaly,
)))]
struct Components;

fn method(m: &str) -> HttpMethod {
    match m {
        "post" => HttpMethod::Post,
        "patch" => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}

/// Every status `route` can answer besides its success, and why: each one is produced by an
/// extractor or by `ApiError` (error.rs), so this follows the handler's signature. 500 is left
/// out: it is a bug, never part of the contract.
pub fn statuses(route: &Route) -> Vec<(u16, &'static str)> {
    let mut out = vec![(route.ok, "success")];
    let authed = route.who != "anyone";
    let has_path_params = route.path.contains('{');
    let writes = route.method != "get";
    let mut add = |code: u16, why: &'static str| {
        if !out.iter().any(|(c, _)| *c == code) {
            out.push((code, why));
        }
    };
    if authed {
        add(401, "no valid bearer token");
    }
    // Reads are open to every role; writes and the admin's routes check the caller's role.
    if authed && (writes || route.who == "admin") {
        add(403, "this role may not do this");
    }
    if has_path_params {
        add(400, "a path segment is not valid UTF-8");
        add(404, "no such resource on this node");
    }
    match route.body {
        Body::None => {}
        Body::Json(_) => {
            add(400, "malformed JSON, an unknown field or a wrong type");
            add(413, "the body exceeds the size limit");
            add(415, "the body is not sent as application/json");
            add(422, "fields break their rules");
        }
        Body::OptionalJson(_) => {
            add(400, "malformed JSON, an unknown field or a wrong type");
            add(413, "the body exceeds the size limit");
            add(422, "fields break their rules");
        }
        Body::Bytes => {
            add(400, "the body could not be read");
            add(413, "the body exceeds the size limit");
            add(422, "the body is empty");
        }
    }
    if route.query != Query::None {
        add(400, "a query parameter is malformed or unknown");
        add(422, "a query parameter breaks its rules");
    }
    if writes {
        add(
            409,
            "a rule is broken on what this node knows (the rule in Chinese and English)",
        );
        add(422, "fields break their rules");
    }
    out.sort_by_key(|(c, _)| *c);
    out
}

fn object() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .build()
        .into()
}

fn array(items: impl Into<RefOr<Schema>>) -> Schema {
    let items: RefOr<Schema> = items.into();
    ArrayBuilder::new()
        .items(utoipa::openapi::schema::ArrayItems::RefOrSchema(Box::new(
            items,
        )))
        .build()
        .into()
}

fn success_content(resp: Resp) -> Vec<(&'static str, RefOr<Schema>)> {
    let json = |schema: RefOr<Schema>| vec![("application/json", schema)];
    match resp {
        Resp::Schema(name) => json(Ref::from_schema_name(name).into()),
        Resp::Array(name) => json(array(Ref::from_schema_name(name)).into()),
        Resp::Page(name) => json(
            ObjectBuilder::new()
                .property("items", array(Ref::from_schema_name(name)))
                .required("items")
                .property(
                    "next_cursor",
                    ObjectBuilder::new().schema_type(
                        utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]),
                    ),
                )
                .required("next_cursor")
                .build()
                .into(),
        ),
        Resp::Object => json(object().into()),
        Resp::ArrayOfObjects => json(array(object()).into()),
        Resp::Any => json(Schema::default().into()),
        Resp::Binary => vec![(
            "application/octet-stream",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Binary,
                )))
                .build()
                .into(),
        )],
        Resp::Report => {
            let file = || -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Binary,
                    )))
                    .build()
                    .into()
            };
            vec![
                ("application/json", object().into()),
                ("text/csv; charset=utf-8", file()),
                (
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    file(),
                ),
            ]
        }
    }
}

/// The query parameters, from the handlers' own parameter types.
fn query_parameters(query: Query) -> Vec<Parameter> {
    let query_in = || Some(ParameterIn::Query);
    let mut params = match query {
        Query::None => vec![],
        Query::Orders => super::orders::OrderListParams::into_params(query_in),
        Query::Customers => super::customers::CustomerSearch::into_params(query_in),
        Query::Daily => super::reports::DailyParams::into_params(query_in),
        Query::Monthly => super::reports::MonthlyParams::into_params(query_in),
        Query::Sales => super::reports::SalesParams::into_params(query_in),
        Query::Late => super::orders::LateParams::into_params(query_in),
        Query::Receivables => super::receivables::ReceivableParams::into_params(query_in),
        Query::AsOf => super::receivables::AsOfParams::into_params(query_in),
        Query::Reminders => super::receivables::ReminderParams::into_params(query_in),
        Query::Aging => super::receivables::AgingParams::into_params(query_in),
        Query::Returns => super::returns::ReturnListParams::into_params(query_in),
        Query::Prospects => super::prospects::ProspectListParams::into_params(query_in),
        Query::Complaints => super::complaints::ComplaintListParams::into_params(query_in),
        Query::ComplaintReport => super::complaints::ComplaintReportParams::into_params(query_in),
        Query::Contracts => super::contracts::ContractListParams::into_params(query_in),
    };
    for p in &mut params {
        // `status` is read as text (empty means any) and parsed by `Status::parse`: its values
        // are Status::ALL, so they are listed from there rather than written down twice.
        if query == Query::Orders && p.name == "status" {
            let values = std::iter::once("")
                .chain(crate::domain::order::Status::ALL.iter().map(|s| s.as_str()));
            p.schema = Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(values))
                    .build()
                    .into(),
            );
        }
    }
    params
}

/// The object schema named `name`, to read or change.
fn object_mut<'a>(
    schemas: &'a mut std::collections::BTreeMap<String, RefOr<Schema>>,
    name: &str,
) -> &'a mut utoipa::openapi::schema::Object {
    match schemas.get_mut(name) {
        Some(RefOr::T(Schema::Object(object))) => object,
        _ => panic!("{name} is not an object schema"),
    }
}

/// A non-blank string: the services refuse one that trims to nothing.
fn non_blank() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(r"\S"))
        .build()
        .into()
}

/// What the derives cannot say, stated from the same constants the services check.
fn refine_components(schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>) {
    // Customer collections: items are text fields named in `COLLECTIONS`, plus the `id` of an
    // item to change; any other name is refused.
    let customer = object_mut(schemas, "CustomerBody");
    for (collection, fields) in crate::domain::customer::COLLECTIONS {
        let mut item = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ))
            .property("id", ObjectBuilder::new().schema_type(Type::String));
        for field in *fields {
            item = item.property(*field, ObjectBuilder::new().schema_type(Type::String));
        }
        let list = ArrayBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::Array,
                Type::Null,
            ]))
            .items(item)
            .build();
        customer
            .properties
            .insert(collection.to_string(), Schema::Array(list).into());
    }
    // A new customer needs a name; a change does not.
    let mut new_customer = customer.clone();
    // Only an existing archive has items to remove.
    new_customer.properties.remove("remove");
    new_customer
        .properties
        .insert("name".into(), non_blank().into());
    new_customer.required.push("name".into());
    schemas.insert(
        "NewCustomerBody".into(),
        Schema::Object(new_customer).into(),
    );
    // 红冲 and cancelling the rest need a reason, a correction its text: the same bodies as
    // the routes where they may be left out, with the field required.
    for (base, field, name) in [
        ("ReasonBody", "reason", "RequiredReasonBody"),
        ("NoteBody", "note", "RequiredNoteBody"),
    ] {
        let mut required = object_mut(schemas, base).clone();
        required.properties.insert(field.into(), non_blank().into());
        required.required.push(field.into());
        schemas.insert(name.into(), Schema::Object(required).into());
    }
}

pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in ROUTES {
        let mut op = OperationBuilder::new()
            .summary(Some(route.summary.to_string()))
            .description(Some(format!("Who: {}.", route.who)));
        for (code, why) in statuses(route) {
            let mut response = ResponseBuilder::new().description(why);
            if code == route.ok {
                for (mime, schema) in success_content(route.response) {
                    response =
                        response.content(mime, ContentBuilder::new().schema(Some(schema)).build());
                }
            } else {
                response = response.content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                );
            }
            op = op.response(code.to_string(), response.build());
        }
        if route.who != "anyone" {
            op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(<String as PartialSchema>::schema())),
                );
            }
        }
        for p in query_parameters(route.query) {
            op = op.parameter(p);
        }
        let body = match route.body {
            Body::None => None,
            Body::Json(schema) => Some((schema, true)),
            Body::OptionalJson(schema) => Some((schema, false)),
            Body::Bytes => None,
        };
        if let Some((schema, required)) = body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(if required {
                        Required::True
                    } else {
                        Required::False
                    }))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(schema)))
                            .build(),
                    )
                    .build(),
            ));
        }
        if route.body == Body::Bytes {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/octet-stream",
                        ContentBuilder::new()
                            .schema(Some(
                                ObjectBuilder::new()
                                    .schema_type(Type::String)
                                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                                        utoipa::openapi::KnownFormat::Binary,
                                    )))
                                    .min_length(Some(1))
                                    .build(),
                            ))
                            .build(),
                    )
                    .build(),
            ));
        }
        paths = paths.path(route.path, PathItem::new(method(route.method), op.build()));
    }
    let mut components = Components::openapi().components.unwrap_or_default();
    refine_components(&mut components.schemas);
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("neiqin local API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Money and quantities are decimal strings. Every route but health and this one needs Authorization: Bearer <token>.")),
        )
        .paths(paths.build())
        .components(Some(components))
        .build();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
    doc
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { Json(document()) }))
}
