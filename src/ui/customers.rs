//! 客户: the archive list, searched by name, code, phone or pinyin initials (the
//! `customer_search` index order entry's lookup uses), a page at a time; and a customer's page:
//! the archive (contacts, addresses with market, floor and unit, depots, invoice profiles,
//! payment terms and credit limit), its latest orders from the index by customer, its
//! receivables, and the archives that look like the same customer (merged from the inbox).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::format::{day_of, money, query_string, status_label};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::customer::Customer;
use crate::http::{decode_cursor, read, AppState};
use crate::service::customers::CustomerQuery;
use crate::service::orders::OrderQuery;
use crate::views::CustomerSummary;

pub const PAGE_SIZE: usize = 50;
/// Orders shown on a customer's page; the rest are on the order list filtered to it.
const ORDERS_SHOWN: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

pub struct Row {
    pub href: String,
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub city: String,
    pub region: String,
    pub channel: String,
    pub status: &'static str,
    pub payment_terms: String,
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "store" => "门店",
        "dealer" => "经销商",
        "direct" => "直营",
        "project" => "工程",
        _ => "",
    }
}

fn status_of(status: &str) -> &'static str {
    match status {
        "frozen" => "冻结",
        "active" => "正常",
        _ => "",
    }
}

fn row(c: CustomerSummary) -> Row {
    Row {
        href: format!("/ui/customers/{}", c.id),
        kind: kind_label(&c.kind),
        status: status_of(&c.status),
        code: c.code,
        name: c.name,
        city: c.city,
        region: c.region,
        channel: c.channel,
        payment_terms: c.payment_terms,
    }
}

#[derive(Template)]
#[template(path = "customers.html")]
struct ListPage {
    chrome: Chrome,
    /// 新建客户, for a role that may.
    may_edit: bool,
    q: String,
    rows: Vec<Row>,
    next_href: String,
    first_href: String,
}

fn list_href(q: &str, cursor: &str) -> String {
    format!(
        "/ui/customers{}",
        query_string(&[("q", q), ("cursor", cursor)])
    )
}

pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let query = CustomerQuery {
        q: Some(p.q.trim().to_string()).filter(|q| !q.is_empty()),
        cursor: decode_cursor(Some(&p.cursor)).map_err(|_| PageError::NotFound("这一页".into()))?,
        limit: PAGE_SIZE,
        ..CustomerQuery::default()
    };
    let page = read(&state, move |o| o.search_customers(&query)).await?;
    render(&ListPage {
        chrome: Chrome::new(&state, &signed, "/ui/customers"),
        may_edit: signed
            .user
            .role
            .may(crate::domain::role::Action::EditCustomer),
        rows: page.items.into_iter().map(row).collect(),
        next_href: page
            .next_cursor
            .map(|c| list_href(&p.q, &c))
            .unwrap_or_default(),
        first_href: if p.cursor.is_empty() {
            String::new()
        } else {
            list_href(&p.q, "")
        },
        q: p.q,
    })
}

/// One collection of the archive as a table.
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// A collection's name, its title, and its fields with their labels.
pub(super) type SectionDef = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The collections shown, each with its fields in Chinese (`domain::customer::COLLECTIONS`).
pub(super) const SECTIONS: &[SectionDef] = &[
    (
        "contacts",
        "联系人",
        &[
            ("name", "姓名"),
            ("role", "职务"),
            ("mobile", "手机"),
            ("landline", "座机"),
            ("wechat", "微信"),
            ("qq", "QQ"),
            ("fax", "传真"),
            ("email", "邮箱"),
        ],
    ),
    (
        "addresses",
        "地址",
        &[
            ("market", "商场"),
            ("street", "街道"),
            ("floor", "楼层"),
            ("unit", "铺位"),
            ("receiver", "收货人"),
            ("phone", "电话"),
        ],
    ),
    (
        "depots",
        "托运部",
        &[
            ("name", "名称"),
            ("city", "城市"),
            ("phone", "电话"),
            ("address", "地址"),
            ("payer", "运费付款方"),
        ],
    ),
    (
        "invoice_profiles",
        "开票信息",
        &[
            ("title", "开票名称"),
            ("tax_id", "税号"),
            ("bank", "开户行及账号"),
        ],
    ),
];

fn sections(customer: &Customer) -> Vec<Section> {
    SECTIONS
        .iter()
        .map(|(id, title, fields)| Section {
            id,
            title,
            headers: fields.iter().map(|(_, label)| *label).collect(),
            rows: customer
                .collections
                .get(*id)
                .into_iter()
                .flatten()
                .map(|item| {
                    fields
                        .iter()
                        .map(|(name, _)| item.get(*name).cloned().unwrap_or_default())
                        .collect()
                })
                .collect(),
        })
        .collect()
}

pub struct OrderRow {
    pub href: String,
    pub number: String,
    pub day: String,
    pub project: String,
    pub status: &'static str,
    pub gross: String,
    pub paid: String,
}

pub struct ReceivableRow {
    pub href: String,
    pub number: String,
    pub outstanding: String,
    pub due: String,
    pub last_reminder: String,
}

pub struct Link {
    pub href: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct DetailPage {
    chrome: Chrome,
    /// Open anomalies of the archive (未经授权的字段修改, 越权或伪造的记录): `(kind, detail)`.
    anomalies: Vec<(&'static str, String)>,
    /// The archive's id, for 编辑档案 when the role may.
    edit_href: String,
    name: String,
    header: Vec<(&'static str, String)>,
    merged_into: Option<Link>,
    duplicates: Vec<Link>,
    sections: Vec<Section>,
    orders: Vec<OrderRow>,
    all_orders_href: String,
    more_orders: bool,
    /// 应收余额, 0–30, 31–60, 61–90, >90, 其中逾期.
    aging: Vec<(&'static str, String)>,
    receivables: Vec<ReceivableRow>,
}

/// The archive's header fields as the customer's page shows them (the name is its title), and
/// as 并排比较 compares them.
pub(super) fn header_fields(customer: &Customer) -> Vec<(&'static str, String)> {
    let credit = match customer.credit_limit() {
        limit if limit > Decimal::ZERO => money(limit),
        _ => "无".to_string(),
    };
    vec![
        ("编码", customer.get("code").to_string()),
        ("类型", kind_label(customer.get("kind")).to_string()),
        ("省份", customer.get("province").to_string()),
        ("城市", customer.get("city").to_string()),
        ("区域", customer.get("region").to_string()),
        ("渠道", customer.get("channel").to_string()),
        ("业务负责人", customer.get("owner").to_string()),
        ("状态", status_of(customer.get("status")).to_string()),
        ("税号", customer.get("tax_id").to_string()),
        ("付款条件", customer.get("payment_terms").to_string()),
        ("信用额度", credit),
        ("备注", customer.get("note").to_string()),
    ]
}

fn link_to(c: &CustomerSummary) -> Link {
    Link {
        href: format!("/ui/customers/{}", c.id),
        label: format!("{}（{}，{}）", c.name, c.code, c.city),
    }
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let today = super::format::business_today(chrono::Utc::now());
    let (customer, duplicates, merged_into, orders, receivables) = read(&state, move |o| {
        let customer = o.customer(&id)?;
        let duplicates = o.duplicates_of(&customer)?;
        let merged_into = match customer.get("merged_into") {
            "" => None,
            into => o.summary_of::<CustomerSummary>(into)?,
        };
        let orders = o.list_orders(&OrderQuery {
            customer: Some(id.clone()),
            limit: ORDERS_SHOWN,
            ..OrderQuery::default()
        })?;
        let receivables = o.customer_receivables_owing(&id, today)?;
        Ok((customer, duplicates, merged_into, orders, receivables))
    })
    .await?;
    let header = header_fields(&customer);
    let f = &receivables.customer.figures;
    let aging = vec![
        ("应收余额", money(f.outstanding)),
        ("0–30天", money(f.aging_shipped.d0_30)),
        ("31–60天", money(f.aging_shipped.d31_60)),
        ("61–90天", money(f.aging_shipped.d61_90)),
        ("90天以上", money(f.aging_shipped.over_90)),
        ("其中逾期", money(f.aging_due.total() - f.aging_due.not_due)),
    ];
    render(&DetailPage {
        chrome: Chrome::new(&state, &signed, "/ui/customers"),
        anomalies: customer
            .anomalies()
            .into_iter()
            .filter(|a| a.resolution.is_none())
            .map(|a| (super::format::anomaly_label(a.kind), a.detail))
            .collect(),
        edit_href: if signed
            .user
            .role
            .may(crate::domain::role::Action::EditCustomer)
        {
            format!("/ui/customers/{}/edit", customer.id)
        } else {
            String::new()
        },
        name: customer.get("name").to_string(),
        header,
        merged_into: merged_into.as_ref().map(link_to),
        duplicates: duplicates.iter().map(link_to).collect(),
        sections: sections(&customer),
        more_orders: orders.next_cursor.is_some(),
        orders: orders
            .items
            .into_iter()
            .map(|s| OrderRow {
                href: format!("/ui/orders/{}", s.id),
                number: s.number,
                day: day_of(&s.created_at),
                project: s.project,
                status: status_label(s.status),
                gross: money(s.gross),
                paid: money(s.paid),
            })
            .collect(),
        all_orders_href: format!("/ui/orders{}", query_string(&[("customer", &customer.id)])),
        aging,
        receivables: receivables
            .orders
            .into_iter()
            .filter(|r| r.figures.outstanding > Decimal::ZERO)
            .map(|r| ReceivableRow {
                href: format!("/ui/orders/{}", r.order),
                number: r.number,
                outstanding: money(r.figures.outstanding),
                due: r
                    .figures
                    .oldest_due
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                last_reminder: r
                    .last_reminder
                    .as_ref()
                    .map(super::receivables::last_reminder)
                    .unwrap_or_default(),
            })
            .collect(),
    })
}
