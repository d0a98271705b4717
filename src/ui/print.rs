//! 出货单 / 送货单 as a print page: `/ui/orders/{id}/print?form=a4|continuous`. A4 prints one
//! sheet per copy (存根, 客户, 财务, 仓库); the 241 x 140 mm continuous form is multi-part
//! carbon paper, so it prints once and names the copies in its margin. The total is written in
//! figures and in Chinese capitals (`domain::capitals`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::format::{business_today, day_of, money, quantity, unit_price};
use super::session::SignedIn;
use super::{assets, render, PageError};
use crate::domain::capitals::amount_in_capitals;
use crate::http::{read, AppState};
use crate::views::CustomerSummary;

/// The copies of a 出货单, in the order they are torn off.
pub const COPIES: [&str; 4] = ["存根", "客户", "财务", "仓库"];

#[derive(Deserialize)]
pub struct PrintParams {
    #[serde(default)]
    form: String,
}

pub struct PrintLine {
    pub position: usize,
    pub sku: String,
    pub spec: String,
    pub unit: String,
    pub quantity: String,
    pub unit_price: String,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "print.html")]
struct PrintPage {
    css: &'static str,
    js: &'static str,
    /// `a4` or `continuous`: the sheet's CSS class, which picks its `@page`.
    form: &'static str,
    /// One name per sheet: every copy on A4, one sheet listing them all on the continuous form.
    sheets: Vec<String>,
    copies_legend: String,
    number: String,
    order_day: String,
    print_day: String,
    customer: String,
    customer_code: String,
    project: String,
    store: String,
    salesperson: String,
    ship_address: String,
    receiver: String,
    receiver_phone: String,
    tax_note: String,
    lines: Vec<PrintLine>,
    total: String,
    total_in_capitals: String,
    made_by: String,
    a4_href: String,
    continuous_href: String,
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(params): Query<PrintParams>,
) -> Result<Html<String>, PageError> {
    let form = if params.form == "continuous" {
        "continuous"
    } else {
        "a4"
    };
    let lookup = id.clone();
    let (order, customer) = read(&state, move |office| {
        let order = office.order(&lookup)?;
        let customer = office.summary_of::<CustomerSummary>(order.get("customer_id"))?;
        Ok((order, customer))
    })
    .await?;
    let totals = order.totals();
    let tax_note = if order.tax_included() {
        format!(
            "含税（税率 {}%），开票名称：{}",
            (order.tax_rate() * rust_decimal::Decimal::ONE_HUNDRED).normalize(),
            order.get("invoice_title")
        )
    } else {
        "不含税".to_string()
    };
    let sheets = if form == "a4" {
        COPIES
            .iter()
            .enumerate()
            .map(|(i, c)| format!("第{}联 {c}", ["一", "二", "三", "四"][i]))
            .collect()
    } else {
        vec![String::new()]
    };
    let copies_legend = COPIES
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}{c}", ["①", "②", "③", "④"][i]))
        .collect::<Vec<_>>()
        .join("　");
    render(&PrintPage {
        css: assets::stylesheet_path(),
        js: assets::script_path(),
        form,
        sheets,
        copies_legend,
        number: order.get("number").to_string(),
        order_day: day_of(order.get("created_at")),
        print_day: business_today(chrono::Utc::now()).to_string(),
        customer: customer
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "（客户尚未同步）".into()),
        customer_code: customer.map(|c| c.code).unwrap_or_default(),
        project: order.get("project").to_string(),
        store: order.get("store").to_string(),
        salesperson: order.get("salesperson").to_string(),
        ship_address: order.get("ship_address").to_string(),
        receiver: order.get("receiver").to_string(),
        receiver_phone: order.get("receiver_phone").to_string(),
        tax_note,
        lines: order
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| PrintLine {
                position: i + 1,
                sku: l.sku.clone(),
                spec: l.spec.clone(),
                unit: l.unit.clone(),
                quantity: quantity(l.quantity),
                unit_price: unit_price(l.unit_price),
                amount: money(l.amount),
            })
            .collect(),
        total: money(totals.gross),
        total_in_capitals: amount_in_capitals(totals.gross),
        made_by: signed.user.name.clone(),
        a4_href: format!("/ui/orders/{id}/print?form=a4"),
        continuous_href: format!("/ui/orders/{id}/print?form=continuous"),
    })
}
