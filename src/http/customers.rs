//! Customer archive routes: create, search, read, change.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::BTreeMap;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, Authed};
use super::{decode_cursor, read, write, AppState};
use crate::domain::customer::{Customer, CustomerInput};
use crate::service::customers::{CustomerQuery, Page};
use crate::views::CustomerSummary;

type Item = BTreeMap<String, String>;

/// A customer archive, or the part of it to change. Collections items with an `id` change that
/// item; items without one are added.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    pub code: Option<String>,
    pub name: Option<String>,
    /// store, dealer, direct or project
    #[schema(pattern = r"^(store|dealer|direct|project)$")]
    pub kind: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub channel: Option<String>,
    pub owner: Option<String>,
    /// active or frozen
    #[schema(pattern = r"^(active|frozen)$")]
    pub status: Option<String>,
    pub tax_id: Option<String>,
    /// 付款条件, such as 款到发货 or 月结
    pub payment_terms: Option<String>,
    /// 信用额度: the credit finance may extend (decimal string, CNY)
    #[schema(
        example = "50000.00",
        pattern = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2}0{0,6})?$",
        max_length = 24
    )]
    #[serde(default, deserialize_with = "super::decimal::shape_option")]
    pub credit_limit: Option<String>,
    /// 所属经销商: the id of the dealer archive (kind `dealer`) this store belongs to; only a
    /// store may name one, empty to detach it.
    #[schema(max_length = 64)]
    pub dealer: Option<String>,
    pub note: Option<String>,
    /// name, role, mobile, landline, qq, wechat, fax, email
    pub contacts: Option<Vec<Item>>,
    /// market, street, floor, unit, receiver, phone
    pub addresses: Option<Vec<Item>>,
    /// freight depots (货运部): name, city, phone, address, payer
    pub depots: Option<Vec<Item>>,
    /// title, tax_id, bank
    pub invoice_profiles: Option<Vec<Item>>,
    /// A change only: the items to remove, by their `id`. An id the archive does not hold is a
    /// 422 naming it (`remove.contacts[0]`).
    pub remove: Option<RemoveItems>,
}

/// Items of a customer archive to remove, by collection: their ids.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveItems {
    pub contacts: Option<Vec<String>>,
    pub addresses: Option<Vec<String>>,
    pub depots: Option<Vec<String>>,
    pub invoice_profiles: Option<Vec<String>>,
}

impl From<CustomerBody> for CustomerInput {
    fn from(b: CustomerBody) -> Self {
        let header = [
            ("code", b.code),
            ("name", b.name),
            ("kind", b.kind),
            ("province", b.province),
            ("city", b.city),
            ("region", b.region),
            ("channel", b.channel),
            ("owner", b.owner),
            ("status", b.status),
            ("tax_id", b.tax_id),
            ("payment_terms", b.payment_terms),
            ("credit_limit", b.credit_limit),
            ("dealer", b.dealer),
            ("note", b.note),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
        let collections = [
            ("contacts", b.contacts),
            ("addresses", b.addresses),
            ("depots", b.depots),
            ("invoice_profiles", b.invoice_profiles),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
        let remove = b.remove.unwrap_or_default();
        let remove = [
            ("contacts", remove.contacts),
            ("addresses", remove.addresses),
            ("depots", remove.depots),
            ("invoice_profiles", remove.invoice_profiles),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
        CustomerInput {
            header,
            collections,
            remove,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CustomerSearch {
    /// Part of the name, the start of a code or phone number, or part of the name's pinyin
    /// initials (`bjxh` finds 北京鑫华).
    pub q: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    /// A dealer archive's id: its stores (专卖店), by name.
    pub dealer: Option<String>,
    /// Page size, 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    #[param(pattern = r"^([0-9a-fA-F]{2})*$")]
    pub cursor: Option<String>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/customers", get(search).post(create))
        .route("/api/customers/{id}", get(fetch).patch(change))
}

async fn create(
    State(state): State<AppState>,
    Authed(user): Authed,
    ApiJson(body): ApiJson<CustomerBody>,
) -> Result<(StatusCode, Json<Customer>), ApiError> {
    let customer = write(&state, move |office| {
        office.create_customer(&user, body.into())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

async fn change(
    State(state): State<AppState>,
    Authed(user): Authed,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CustomerBody>,
) -> Result<Json<Customer>, ApiError> {
    let customer = write(&state, move |office| {
        office.patch_customer(&user, &id, body.into())
    })
    .await?;
    Ok(Json(customer))
}

async fn fetch(
    State(state): State<AppState>,
    Authed(_user): Authed,
    Path(id): Path<String>,
) -> Result<Json<Customer>, ApiError> {
    Ok(Json(
        read(&state, move |office| office.customer(&id)).await?,
    ))
}

async fn search(
    State(state): State<AppState>,
    Authed(_user): Authed,
    ApiQuery(params): ApiQuery<CustomerSearch>,
) -> Result<Json<Page<CustomerSummary>>, ApiError> {
    let query = CustomerQuery {
        q: params.q,
        city: params.city,
        region: params.region,
        dealer: params.dealer,
        cursor: decode_cursor(params.cursor.as_deref())?,
        limit: super::page_limit(params.limit, 500)?,
    };
    Ok(Json(
        read(&state, move |office| office.search_customers(&query)).await?,
    ))
}
