//! 订单: the order list with a tab per status (`Status::ALL`), number search, customer filter and
//! a date range with 今天/本周/本月/上月 shortcuts, a page at a time with the service's cursor.
//!
//! The number search has no index of its own: it reads pages of the filtered list and keeps the
//! numbers that match, at most `NUMBER_SCAN` summaries per request, and offers to go on from
//! where it stopped. Nothing here loads every order.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use chrono::NaiveDate;
use serde::Deserialize;

use super::format::{business_today, date_shortcuts, day_of, money, query_string, status_label};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::order::Status;
use crate::http::{decode_cursor, read, AppState};
use crate::service::customers::CustomerQuery;
use crate::service::orders::OrderQuery;
use crate::service::{BackOffice, ServiceError};
use crate::views::{CustomerSummary, OrderSummary};

pub const PAGE_SIZE: usize = 50;
/// Summaries a number search reads per request before it offers to go on.
pub const NUMBER_SCAN: usize = 5000;
/// Each status tab counts up to this many orders (one short read of its index).
pub const TAB_COUNT_CAP: usize = 100;
/// Customers offered when the customer filter matches several.
const CUSTOMER_CHOICES: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    anomalies: String,
    /// Order number, or part of it.
    #[serde(default)]
    q: String,
    /// A customer's id, once chosen.
    #[serde(default)]
    customer: String,
    /// A customer's name, code or phone, to choose one by.
    #[serde(default)]
    customer_q: String,
    /// The salesperson the orders belong to (业务员).
    #[serde(default)]
    salesperson: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cursor: String,
}

pub struct Tab {
    pub label: &'static str,
    /// Orders under the tab with the other filters, `100+` past `TAB_COUNT_CAP`; empty when
    /// not counted (a number search, a salesperson, or the tabs that are not statuses).
    pub count: String,
    pub href: String,
    pub active: bool,
}

pub struct Shortcut {
    pub label: &'static str,
    pub href: String,
}

pub struct OrderRow {
    pub number: String,
    pub day: String,
    pub customer: String,
    pub project: String,
    pub store: String,
    pub salesperson: String,
    pub status: &'static str,
    pub gross: String,
    pub paid: String,
    pub anomalies: usize,
    pub print_href: String,
    pub href: String,
}

pub struct CustomerChoice {
    pub label: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrderListPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    shortcuts: Vec<Shortcut>,
    status: String,
    anomalies: String,
    q: String,
    customer: String,
    customer_q: String,
    salesperson: String,
    customer_name: String,
    from: String,
    to: String,
    rows: Vec<OrderRow>,
    choices: Vec<CustomerChoice>,
    notes: Vec<String>,
    next_href: String,
    first_href: String,
    /// 导出Excel: the same filters, every page.
    export_href: String,
}

impl ListParams {
    /// The link to this list with some parameters replaced; the cursor is always dropped.
    fn href(&self, replace: &[(&str, &str)]) -> String {
        let pick = |key: &str, current: &str| -> String {
            replace
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| current.to_string())
        };
        let status = pick("status", &self.status);
        let anomalies = pick("anomalies", &self.anomalies);
        let q = pick("q", &self.q);
        let customer = pick("customer", &self.customer);
        let customer_q = pick("customer_q", &self.customer_q);
        let salesperson = pick("salesperson", &self.salesperson);
        let from = pick("from", &self.from);
        let to = pick("to", &self.to);
        let cursor = pick("cursor", "");
        format!(
            "/ui/orders{}",
            query_string(&[
                ("status", &status),
                ("anomalies", &anomalies),
                ("q", &q),
                ("customer", &customer),
                ("customer_q", &customer_q),
                ("salesperson", &salesperson),
                ("from", &from),
                ("to", &to),
                ("cursor", &cursor),
            ])
        )
    }
}

/// What the list shows, read in one blocking step.
struct Listing {
    rows: Vec<OrderSummary>,
    next_cursor: Option<String>,
    customer_names: HashMap<String, String>,
    choices: Vec<CustomerSummary>,
    customer_chosen: Option<String>,
    customer_missing: bool,
    scan_stopped: bool,
    /// One per `Status::ALL` entry, or none.
    tab_counts: Vec<String>,
}

fn parse_day(text: &str, label: &str, notes: &mut Vec<String>) -> Option<NaiveDate> {
    if text.trim().is_empty() {
        return None;
    }
    match text.trim().parse::<NaiveDate>() {
        Ok(day) => Some(day),
        Err(_) => {
            notes.push(format!(
                "{label}「{text}」不是 YYYY-MM-DD 格式的日期，已忽略"
            ));
            None
        }
    }
}

/// Each status tab's count under the other filters, `100+` past `TAB_COUNT_CAP`. A customer's,
/// dealer's or store's orders are read once, newest first, and counted by status (until every
/// status is past the cap); otherwise each status is its own range of the status index, read
/// until past the cap.
fn tab_counts(office: &BackOffice, query: &OrderQuery) -> Result<Vec<String>, ServiceError> {
    let shown = |n: usize| match n {
        n if n > TAB_COUNT_CAP => format!("{TAB_COUNT_CAP}+"),
        n => n.to_string(),
    };
    if query.customer.is_none() && query.dealer.is_none() && query.store.is_none() {
        return Status::ALL
            .into_iter()
            .map(|status| {
                let page = office.list_orders(&OrderQuery {
                    status: Some(status),
                    cursor: None,
                    limit: TAB_COUNT_CAP,
                    ..query.clone()
                })?;
                Ok(shown(
                    page.items.len() + usize::from(page.next_cursor.is_some()),
                ))
            })
            .collect();
    }
    let mut counts = [0usize; Status::ALL.len()];
    let mut all = OrderQuery {
        status: None,
        cursor: None,
        limit: 1000,
        ..query.clone()
    };
    loop {
        let page = office.list_orders(&all)?;
        for order in &page.items {
            if let Some(i) = Status::ALL.iter().position(|s| *s == order.status) {
                counts[i] += 1;
            }
        }
        let Some(next) = page.next_cursor else { break };
        if counts.iter().all(|n| *n > TAB_COUNT_CAP) {
            break;
        }
        all.cursor = hex::decode(&next).ok();
        if all.cursor.is_none() {
            break;
        }
    }
    Ok(counts.into_iter().map(shown).collect())
}

fn list(
    office: &BackOffice,
    mut query: OrderQuery,
    number: String,
    customer_q: String,
) -> Result<Listing, ServiceError> {
    let mut listing = Listing {
        rows: Vec::new(),
        next_cursor: None,
        customer_names: HashMap::new(),
        choices: Vec::new(),
        customer_chosen: None,
        customer_missing: false,
        scan_stopped: false,
        tab_counts: Vec::new(),
    };
    if query.customer.is_none() && !customer_q.trim().is_empty() {
        let found = office.search_customers(&CustomerQuery {
            q: Some(customer_q.trim().to_string()),
            limit: CUSTOMER_CHOICES,
            ..CustomerQuery::default()
        })?;
        match found.items.len() {
            0 => {
                listing.customer_missing = true;
                return Ok(listing);
            }
            1 => {
                let only = &found.items[0];
                listing.customer_chosen = Some(only.id.clone());
                query.customer = Some(only.id.clone());
            }
            _ => {
                listing.choices = found.items;
                return Ok(listing);
            }
        }
    }
    if number.trim().is_empty() {
        let page = office.list_orders(&query)?;
        listing.rows = page.items;
        listing.next_cursor = page.next_cursor;
    } else {
        let wanted = number.trim().to_lowercase();
        let mut scanned = 0;
        query.limit = 200;
        loop {
            let page = office.list_orders(&query)?;
            scanned += page.items.len();
            listing.rows.extend(
                page.items
                    .into_iter()
                    .filter(|o| o.number.to_lowercase().contains(&wanted)),
            );
            let Some(next) = page.next_cursor else {
                break;
            };
            if listing.rows.len() >= PAGE_SIZE || scanned >= NUMBER_SCAN {
                listing.scan_stopped = listing.rows.len() < PAGE_SIZE;
                listing.next_cursor = Some(next);
                break;
            }
            query.cursor = hex::decode(&next).ok();
            if query.cursor.is_none() {
                break;
            }
        }
    }
    // A salesperson's tabs are not counted: no index holds orders by salesperson, so a count
    // would read every order of the status ranges.
    if number.trim().is_empty() && query.salesperson.is_none() {
        listing.tab_counts = tab_counts(office, &query)?;
    }
    for row in &listing.rows {
        if listing.customer_names.contains_key(&row.customer_id) {
            continue;
        }
        let name = office
            .summary_of::<CustomerSummary>(&row.customer_id)?
            .map(|c| c.name)
            .unwrap_or_else(|| "（客户尚未同步）".to_string());
        listing.customer_names.insert(row.customer_id.clone(), name);
    }
    Ok(listing)
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let mut notes = Vec::new();
    let status = Status::parse(&params.status);
    if status.is_none() && !params.status.is_empty() {
        notes.push(format!("没有「{}」这个状态，显示全部订单", params.status));
    }
    let from = parse_day(&params.from, "开始日期", &mut notes);
    let to = parse_day(&params.to, "结束日期", &mut notes);
    let query = OrderQuery {
        status,
        customer: Some(params.customer.trim().to_string()).filter(|c| !c.is_empty()),
        salesperson: Some(params.salesperson.trim().to_string()).filter(|s| !s.is_empty()),
        from,
        to,
        anomalies_only: !params.anomalies.is_empty(),
        cursor: decode_cursor(Some(params.cursor.as_str()))?,
        limit: PAGE_SIZE,
        ..OrderQuery::default()
    };
    let customer_filter = query.customer.clone();
    let (number, customer_q) = (params.q.clone(), params.customer_q.clone());
    let listing = read(&state, move |office| {
        list(office, query, number, customer_q)
    })
    .await?;

    if listing.customer_missing {
        notes.push(format!("没有找到客户「{}」", params.customer_q));
    }
    if !listing.choices.is_empty() {
        notes.push(format!(
            "有多个客户符合「{}」，请选择一个：",
            params.customer_q
        ));
    }
    if listing.scan_stopped {
        notes.push(format!(
            "已查看 {NUMBER_SCAN} 张订单，找到的都在下面；点「下一页」继续往前查找"
        ));
    }
    let chosen = listing.customer_chosen.clone().or(customer_filter);
    let customer_name = match &chosen {
        Some(id) => {
            let lookup = id.clone();
            read(&state, move |office| {
                office.summary_of::<CustomerSummary>(&lookup)
            })
            .await?
            .map(|c| c.name)
            .unwrap_or_else(|| id.clone())
        }
        None => String::new(),
    };

    let mut tabs = vec![Tab {
        label: "全部",
        count: String::new(),
        href: params.href(&[("status", ""), ("anomalies", "")]),
        active: status.is_none() && params.anomalies.is_empty(),
    }];
    tabs.extend(Status::ALL.into_iter().enumerate().map(|(i, s)| Tab {
        label: status_label(s),
        count: listing.tab_counts.get(i).cloned().unwrap_or_default(),
        href: params.href(&[("status", s.as_str()), ("anomalies", "")]),
        active: status == Some(s),
    }));
    tabs.push(Tab {
        label: "有异常",
        count: String::new(),
        href: params.href(&[("status", ""), ("anomalies", "1")]),
        active: !params.anomalies.is_empty(),
    });
    let today = business_today(chrono::Utc::now());
    let shortcuts = date_shortcuts(today)
        .into_iter()
        .map(|(label, start, end)| Shortcut {
            label,
            href: params.href(&[("from", &start.to_string()), ("to", &end.to_string())]),
        })
        .collect();
    let chosen_id = chosen.clone().unwrap_or_default();
    let choices = listing
        .choices
        .iter()
        .map(|c| CustomerChoice {
            label: format!("{}（{} {}）", c.name, c.code, c.city),
            href: params.href(&[("customer", &c.id), ("customer_q", "")]),
        })
        .collect();
    let rows = listing
        .rows
        .iter()
        .map(|o| OrderRow {
            number: o.number.clone(),
            day: day_of(&o.created_at),
            customer: listing
                .customer_names
                .get(&o.customer_id)
                .cloned()
                .unwrap_or_default(),
            project: o.project.clone(),
            store: o.store.clone(),
            salesperson: o.salesperson.clone(),
            status: status_label(o.status),
            gross: money(o.gross),
            paid: money(o.paid),
            anomalies: o.open_anomalies,
            print_href: format!("/ui/orders/{}/print?form=a4", o.id),
            href: format!("/ui/orders/{}", o.id),
        })
        .collect();
    let next_href = match &listing.next_cursor {
        Some(cursor) => params.href(&[("cursor", cursor), ("customer", &chosen_id)]),
        None => String::new(),
    };
    let export_href =
        params
            .href(&[("customer", &chosen_id)])
            .replacen("/ui/orders", "/ui/orders/export", 1);
    render(&OrderListPage {
        chrome: Chrome::new(&state, &signed, "/ui/orders"),
        tabs,
        shortcuts,
        status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        anomalies: params.anomalies.clone(),
        q: params.q.clone(),
        customer: chosen_id,
        customer_q: params.customer_q.clone(),
        salesperson: params.salesperson.clone(),
        customer_name,
        from: from.map(|d| d.to_string()).unwrap_or_default(),
        to: to.map(|d| d.to_string()).unwrap_or_default(),
        rows,
        choices,
        notes,
        export_href,
        first_href: if params.cursor.is_empty() {
            String::new()
        } else {
            params.href(&[])
        },
        next_href,
    })
}

/// At most this many orders go into one download.
pub const EXPORT_ROWS: usize = 10_000;

/// `GET /ui/orders/export`: the orders the list's filters select (status, anomalies, customer,
/// dates; a number search among them), newest first, as an Excel workbook: every page, up to
/// `EXPORT_ROWS`, with the totals.
pub async fn export(
    State(state): State<AppState>,
    _signed: SignedIn,
    Query(params): Query<ListParams>,
) -> Result<axum::response::Response, PageError> {
    use crate::render::{Cell, Table};
    let mut ignored = Vec::new();
    let query = OrderQuery {
        status: Status::parse(&params.status),
        customer: Some(params.customer.trim().to_string()).filter(|c| !c.is_empty()),
        salesperson: Some(params.salesperson.trim().to_string()).filter(|s| !s.is_empty()),
        from: parse_day(&params.from, "开始日期", &mut ignored),
        to: parse_day(&params.to, "结束日期", &mut ignored),
        anomalies_only: !params.anomalies.is_empty(),
        limit: 1000,
        ..OrderQuery::default()
    };
    let number = params.q.trim().to_string();
    let (rows, names) = read(&state, move |office| {
        let mut query = query;
        let mut rows = Vec::new();
        let mut names: HashMap<String, String> = HashMap::new();
        loop {
            let page = office.list_orders(&query)?;
            for order in page.items {
                if rows.len() == EXPORT_ROWS {
                    break;
                }
                if !number.is_empty() && !order.number.contains(&number) {
                    continue;
                }
                if !names.contains_key(&order.customer_id) {
                    let name = office
                        .summary_of::<CustomerSummary>(&order.customer_id)?
                        .map(|c| c.name)
                        .unwrap_or_default();
                    names.insert(order.customer_id.clone(), name);
                }
                rows.push(order);
            }
            match page.next_cursor {
                // The service's own cursor, hex as it hands it out.
                Some(cursor) if rows.len() < EXPORT_ROWS => query.cursor = hex::decode(cursor).ok(),
                _ => break,
            }
            if query.cursor.is_none() {
                break;
            }
        }
        Ok((rows, names))
    })
    .await?;
    let table = Table {
        title: format!("订单列表（{} 张）", rows.len()),
        headers: [
            "订单号",
            "接单日期",
            "客户",
            "项目",
            "门店",
            "业务员",
            "状态",
            "金额",
            "已发货",
            "已收款",
        ]
        .map(String::from)
        .to_vec(),
        total: Some(vec![
            Cell::Text("合计".into()),
            Cell::Text(String::new()),
            Cell::Text(String::new()),
            Cell::Text(String::new()),
            Cell::Text(String::new()),
            Cell::Text(String::new()),
            Cell::Text(String::new()),
            Cell::Money(rows.iter().map(|o| o.gross).sum()),
            Cell::Money(rows.iter().map(|o| o.shipped_value).sum()),
            Cell::Money(rows.iter().map(|o| o.paid).sum()),
        ]),
        rows: rows
            .into_iter()
            .map(|o| {
                vec![
                    Cell::Text(o.number),
                    Cell::Text(day_of(&o.created_at)),
                    Cell::Text(names.get(&o.customer_id).cloned().unwrap_or_default()),
                    Cell::Text(o.project),
                    Cell::Text(o.store),
                    Cell::Text(o.salesperson),
                    Cell::Text(status_label(o.status).to_string()),
                    Cell::Money(o.gross),
                    Cell::Money(o.shipped_value),
                    Cell::Money(o.paid),
                ]
            })
            .collect(),
    };
    let today = business_today(chrono::Utc::now());
    Ok(crate::http::reports::respond(
        crate::http::reports::Format::Xlsx,
        &format!("orders-{today}"),
        (),
        table,
    )?)
}
