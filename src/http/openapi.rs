//! The OpenAPI description served at `/api/openapi.json`, built from the request and response
//! types themselves (utoipa), plus a route table. A test walks this table against the router,
//! so a route missing from either side fails the build's tests.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, ResponseBuilder,
};
use utoipa::{OpenApi as _, PartialSchema};

use super::AppState;

/// (method, path, who may call it, summary, request body schema).
pub const ROUTES: &[(&str, &str, &str, &str, Option<&str>)] = &[
    ("get", "/api/health", "anyone", "liveness and version", None),
    (
        "get",
        "/api/status",
        "any role",
        "node, counts, peers, open anomalies",
        None,
    ),
    (
        "get",
        "/api/openapi.json",
        "anyone",
        "this description",
        None,
    ),
    (
        "post",
        "/api/users",
        "admin",
        "add a user; the token is shown once",
        Some("NewUserBody"),
    ),
    ("get", "/api/users", "admin", "list users", None),
    (
        "get",
        "/api/backup",
        "admin",
        "the node's backup as JSON lines, while it runs",
        None,
    ),
    (
        "post",
        "/api/customers",
        "clerk",
        "create a customer archive",
        Some("CustomerBody"),
    ),
    (
        "get",
        "/api/customers",
        "any role",
        "search customers (q, city, region, limit, cursor)",
        None,
    ),
    (
        "get",
        "/api/customers/{id}",
        "any role",
        "read a customer with conflicts",
        None,
    ),
    (
        "patch",
        "/api/customers/{id}",
        "clerk",
        "change fields; each merges on its own",
        Some("CustomerBody"),
    ),
    (
        "post",
        "/api/orders",
        "clerk",
        "take an order (接单)",
        Some("NewOrderBody"),
    ),
    (
        "get",
        "/api/orders",
        "any role",
        "list orders (status, customer, store, from, to, anomalies, limit, cursor)",
        None,
    ),
    (
        "get",
        "/api/orders/{id}",
        "any role",
        "order with totals, status, facts, anomalies, conflicts",
        None,
    ),
    (
        "patch",
        "/api/orders/{id}",
        "clerk (supervisor for store, salesperson)",
        "change fields or lines",
        Some("OrderPatchBody"),
    ),
    (
        "get",
        "/api/orders/{id}/history",
        "any role",
        "every change: who, role, node, when, what",
        None,
    ),
    (
        "post",
        "/api/orders/{id}/verify",
        "clerk",
        "核单",
        Some("VerifyBody"),
    ),
    (
        "post",
        "/api/orders/{id}/approve",
        "supervisor",
        "审核",
        Some("NoteBody"),
    ),
    (
        "post",
        "/api/orders/{id}/release-to-workshop",
        "clerk",
        "下单",
        None,
    ),
    (
        "post",
        "/api/orders/{id}/progress",
        "clerk",
        "跟单 note, revised date, delay reason",
        Some("ProgressBody"),
    ),
    (
        "post",
        "/api/orders/{id}/shipping-doc",
        "clerk",
        "出货单: a new version",
        Some("ShippingDocBody"),
    ),
    (
        "post",
        "/api/orders/{id}/finance-release",
        "finance",
        "release one shipping-document version",
        Some("FinanceReleaseBody"),
    ),
    (
        "post",
        "/api/orders/{id}/shipments",
        "warehouse",
        "ship quantities per line",
        Some("ShipmentBody"),
    ),
    (
        "post",
        "/api/orders/{id}/payments",
        "finance",
        "record a payment",
        Some("PaymentBody"),
    ),
    (
        "post",
        "/api/orders/{id}/payments/{pid}/void",
        "finance",
        "void a payment",
        Some("ReasonBody"),
    ),
    (
        "post",
        "/api/orders/{id}/invoices",
        "finance",
        "record an invoice",
        Some("InvoiceBody"),
    ),
    (
        "post",
        "/api/orders/{id}/cancel",
        "vp",
        "cancel",
        Some("ReasonBody"),
    ),
    (
        "post",
        "/api/orders/{id}/reinstate",
        "vp",
        "reinstate",
        Some("ReasonBody"),
    ),
    (
        "post",
        "/api/orders/{id}/archive",
        "clerk",
        "归档 when shipped, paid and invoiced",
        None,
    ),
    (
        "post",
        "/api/orders/{id}/returns",
        "clerk",
        "return, exchange or repair request",
        Some("ReturnBody"),
    ),
    (
        "post",
        "/api/orders/{id}/conflicts/{field}/resolve",
        "the field's owner",
        "pick one conflicting value",
        Some("PickValueBody"),
    ),
    (
        "post",
        "/api/returns/{rid}/approve",
        "vp",
        "approve a return",
        Some("NoteBody"),
    ),
    (
        "post",
        "/api/returns/{rid}/reject",
        "vp",
        "reject a return",
        Some("NoteBody"),
    ),
    (
        "post",
        "/api/returns/{rid}/receive",
        "warehouse",
        "receive returned goods (once, after the VP's approval, at most what was asked back)",
        Some("ReceiveBody"),
    ),
    (
        "post",
        "/api/returns/{rid}/return-to-customer",
        "warehouse",
        "send a repaired or exchanged item back to the customer",
        Some("WaybillBody"),
    ),
    (
        "post",
        "/api/orders/{id}/invoices/{iid}/void",
        "finance",
        "红冲: void an invoice (its number stays used)",
        Some("ReasonBody"),
    ),
    (
        "post",
        "/api/orders/{id}/cancel-remaining",
        "vp",
        "cancel what has not shipped of a partly shipped order",
        Some("ReasonBody"),
    ),
    (
        "post",
        "/api/orders/{id}/corrections",
        "supervisor",
        "a correction note, the only change an archived order takes",
        Some("NoteBody"),
    ),
    (
        "get",
        "/api/anomalies",
        "any role",
        "open anomalies, newest first",
        None,
    ),
    (
        "post",
        "/api/anomalies/{id}/resolve",
        "the role named for it",
        "resolve an anomaly",
        Some("ResolveBody"),
    ),
    (
        "post",
        "/api/attachments",
        "clerk",
        "upload a photo (raw bytes); returns its hash",
        None,
    ),
    (
        "get",
        "/api/attachments/{hash}",
        "any role",
        "download an attachment",
        None,
    ),
];

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    super::customers::CustomerBody,
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
    super::prospects::ProspectBody,
    super::prospects::FollowUpBody,
    super::prospects::ConvertBody,
    super::error::Problem,
    crate::domain::validation::FieldError,
    crate::domain::facts::Party,
    crate::domain::facts::ReturnKind,
    crate::domain::facts::Disposition,
)))]
struct Components;

fn method(m: &str) -> HttpMethod {
    match m {
        "post" => HttpMethod::Post,
        "patch" => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}

pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for (m, path, who, summary, body) in ROUTES {
        let mut op = OperationBuilder::new()
            .summary(Some(summary.to_string()))
            .description(Some(format!("Who: {who}.")))
            .response("200", ResponseBuilder::new().description("success").build())
            .response(
                "4XX",
                ResponseBuilder::new()
                    .description("problem+json naming the rule or each bad field")
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            );
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(utoipa::openapi::Required::True)
                        .schema(Some(<String as PartialSchema>::schema())),
                );
            }
        }
        if let Some(schema) = body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(*schema)))
                            .build(),
                    )
                    .build(),
            ));
        }
        paths = paths.path(*path, PathItem::new(method(m), op.build()));
    }
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("neiqin local API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Money and quantities are decimal strings. Every route but health and this one needs Authorization: Bearer <token>.")),
        )
        .paths(paths.build())
        .components(Components::openapi().components)
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
