//! 并排比较: archives suspected to be one customer (疑似重复) side by side, field by field, with
//! the values that differ marked, their receivables and a link to each one's orders. When the
//! page is opened from the inbox's anomaly, the clerk merges from here (the same
//! `/ui/anomalies/resolve` form: the archive kept, the others merged into it).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::customers::{header_fields, SECTIONS};
use super::format::{money, query_string};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::anomaly::AnomalyKind;
use crate::domain::customer::Customer;
use crate::http::{read, AppState};

/// Archives one page compares at most.
const MAX_COMPARED: usize = 4;

/// Each collection as one cell: its items, one per line, their fields joined.
fn collection_fields(customer: &Customer) -> Vec<(&'static str, String)> {
    SECTIONS
        .iter()
        .map(|(id, title, fields)| {
            let items: Vec<String> = customer
                .collections
                .get(*id)
                .into_iter()
                .flatten()
                .map(|item| {
                    fields
                        .iter()
                        .filter_map(|(name, _)| item.get(*name).filter(|v| !v.is_empty()))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            (*title, items.join("\n"))
        })
        .collect()
}

pub struct CompareRow {
    pub label: &'static str,
    pub values: Vec<String>,
    /// Not every archive holds the same value.
    pub differs: bool,
}

pub struct Column {
    pub id: String,
    pub href: String,
    pub orders_href: String,
}

#[derive(Template)]
#[template(path = "customer_compare.html")]
struct ComparePage {
    chrome: Chrome,
    columns: Vec<Column>,
    rows: Vec<CompareRow>,
    /// The inbox anomaly to resolve by merging, when this role may.
    anomaly: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// Archive ids, comma-separated.
    #[serde(default)]
    ids: String,
    /// The 疑似重复 anomaly this comparison resolves, if opened from the inbox.
    #[serde(default)]
    anomaly: String,
}

/// The link that compares `ids` side by side (from the inbox and the customer page).
pub fn compare_href(ids: &[String], anomaly: &str) -> String {
    format!(
        "/ui/customers/compare{}",
        query_string(&[("ids", &ids.join(",")), ("anomaly", anomaly)])
    )
}

/// `GET /ui/customers/compare?ids=A,B[&anomaly=ID]`.
pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<Params>,
) -> Result<Html<String>, PageError> {
    let mut ids: Vec<String> = Vec::new();
    for id in p.ids.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    if ids.len() < 2 || ids.len() > MAX_COMPARED {
        return Err(PageError::Refused(format!(
            "请选择 2 到 {MAX_COMPARED} 份档案来比较"
        )));
    }
    let today = super::format::business_today(chrono::Utc::now());
    let wanted = ids.clone();
    let archives = read(&state, move |o| {
        wanted
            .iter()
            .map(|id| {
                let customer = o.customer(id)?;
                let owed = o
                    .customer_receivables(id, today)?
                    .customer
                    .figures
                    .outstanding;
                Ok((customer, owed))
            })
            .collect::<Result<Vec<_>, crate::service::ServiceError>>()
    })
    .await?;
    let per_archive: Vec<Vec<(&'static str, String)>> = archives
        .iter()
        .map(|(customer, owed)| {
            let mut fields = vec![("名称", customer.get("name").to_string())];
            fields.extend(header_fields(customer));
            fields.extend(collection_fields(customer));
            fields.push(("应收余额", money(*owed)));
            fields
        })
        .collect();
    let rows = per_archive[0]
        .iter()
        .enumerate()
        .map(|(i, (label, _))| {
            let values: Vec<String> = per_archive.iter().map(|f| f[i].1.clone()).collect();
            CompareRow {
                label,
                differs: values.iter().any(|v| *v != values[0]),
                values,
            }
        })
        .collect();
    let may_merge = AnomalyKind::DuplicateCustomer
        .resolvers()
        .contains(&signed.user.role);
    render(&ComparePage {
        chrome: Chrome::new(&state, &signed, "/ui/customers"),
        columns: ids
            .iter()
            .map(|id| Column {
                id: id.clone(),
                href: format!("/ui/customers/{id}"),
                orders_href: format!("/ui/orders{}", query_string(&[("customer", id)])),
            })
            .collect(),
        rows,
        anomaly: if may_merge { p.anomaly } else { String::new() },
    })
}
