//! 新建订单, `/ui/orders/new`: a clerk takes an order by keyboard. The customer is found by name,
//! code, phone or pinyin initials (`/ui/customers/lookup`, which the script fills into a list
//! chosen with the arrow keys and Enter); lines are a grid of cells that Enter and Tab walk
//! through, and Enter on the last cell of the last line adds a line. The script shows each
//! line's amount, the tax and the total as they are typed; the server computes them again.
//!
//! Without script the form still works: a plain POST with `BLANK_LINES` lines, the customer
//! resolved from what was typed. The order is taken by the same use case as `POST /api/orders`
//! (`BackOffice::create_order`), so every rule holds; a refusal re-renders the form with each
//! error beside its field, in Chinese, and everything typed kept. Success goes to the order page.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::format::money;
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::money::{line_amount, net_of_tax};
use crate::domain::order::{LineInput, NewOrder};
use crate::domain::role::Action;
use crate::http::error::ApiError;
use crate::http::{create, read, AppState};
use crate::service::customers::CustomerQuery;
use crate::views::CustomerSummary;

/// Blank lines the form offers without script (the script adds more on Enter).
pub const BLANK_LINES: usize = 5;
/// Lines one form takes at most.
pub const MAX_LINES: usize = 200;
/// Customers the lookup offers.
pub const LOOKUP_LIMIT: usize = 10;
/// The tax rate a new form starts with (13% VAT).
const DEFAULT_TAX_RATE: &str = "0.13";

/// One line of the grid as typed, with the amount the server computed and its errors.
#[derive(Default, Clone)]
pub struct LineRow {
    pub index: usize,
    pub sku: String,
    pub spec: String,
    pub unit: String,
    pub quantity: String,
    pub unit_price: String,
    pub amount: String,
    pub sku_error: String,
    pub quantity_error: String,
    pub unit_price_error: String,
}

impl LineRow {
    fn is_blank(&self) -> bool {
        [
            &self.sku,
            &self.spec,
            &self.unit,
            &self.quantity,
            &self.unit_price,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    }
}

pub struct CustomerChoice {
    pub id: String,
    pub label: String,
}

/// Everything the form holds, as typed.
#[derive(Default)]
pub struct Typed {
    pub customer_q: String,
    pub customer_id: String,
    pub project: String,
    pub salesperson: String,
    pub promised_ship_date: String,
    /// 合同号: the contract's number (or id) the order goes under.
    pub contract: String,
    pub tax_included: bool,
    pub tax_rate: String,
    pub invoice_title: String,
    pub ship_address: String,
    pub receiver: String,
    pub receiver_phone: String,
    pub note: String,
    pub lines: Vec<LineRow>,
}

#[derive(Template)]
#[template(path = "order_new.html")]
struct NewOrderPage {
    chrome: Chrome,
    form: Typed,
    /// The chosen customer, as the page names it.
    customer_label: String,
    choices: Vec<CustomerChoice>,
    /// Errors of header fields, by field name.
    errors: BTreeMap<&'static str, String>,
    /// An error that belongs to no one field (a rule of the order).
    error: String,
    gross: String,
    tax: String,
    net: String,
}

impl NewOrderPage {
    /// The error beside `field`, or "".
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).map(String::as_str).unwrap_or("")
    }
}

fn may_take_orders(signed: &SignedIn) -> Result<(), PageError> {
    if signed.user.role.may(Action::TakeOrder) {
        Ok(())
    } else {
        Err(PageError::Forbidden("take an order".into()))
    }
}

pub async fn form(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, PageError> {
    may_take_orders(&signed)?;
    let form = Typed {
        tax_rate: DEFAULT_TAX_RATE.into(),
        lines: (0..BLANK_LINES)
            .map(|index| LineRow {
                index,
                ..LineRow::default()
            })
            .collect(),
        ..Typed::default()
    };
    page(
        &state,
        &signed,
        form,
        String::new(),
        Vec::new(),
        BTreeMap::new(),
        String::new(),
    )
}

fn page(
    state: &AppState,
    signed: &SignedIn,
    mut form: Typed,
    customer_label: String,
    choices: Vec<CustomerChoice>,
    errors: BTreeMap<&'static str, String>,
    error: String,
) -> Result<Html<String>, PageError> {
    let (gross, net) = totals(&mut form);
    render(&NewOrderPage {
        chrome: Chrome::new(state, signed, "/ui/orders/new"),
        form,
        customer_label,
        choices,
        errors,
        error,
        gross: money(gross),
        tax: money(gross - net),
        net: money(net),
    })
}

/// Fills each line's amount where its numbers read, and returns the gross and net totals of
/// those lines, computed as the order will be (`Order::totals`).
fn totals(form: &mut Typed) -> (Decimal, Decimal) {
    let rate = parse_rate(&form.tax_rate)
        .ok()
        .flatten()
        .unwrap_or_default();
    let (mut gross, mut net) = (Decimal::ZERO, Decimal::ZERO);
    for line in &mut form.lines {
        let (Ok(q), Ok(p)) = (parse_number(&line.quantity), parse_number(&line.unit_price)) else {
            continue;
        };
        let amount = line_amount(q, p);
        line.amount = money(amount);
        gross += amount;
        net += if form.tax_included {
            net_of_tax(amount, rate)
        } else {
            amount
        };
    }
    (gross, net)
}

/// A number as typed: digits with an optional decimal point; thousands separators and a
/// leading ¥ are let through.
fn parse_number(text: &str) -> Result<Decimal, ()> {
    let cleaned = text.trim().replace([',', '，', '¥', '￥'], "");
    crate::http::decimal::parse(&cleaned).ok_or(())
}

/// A tax rate as 0.13, 13 or 13%; None when left empty.
fn parse_rate(text: &str) -> Result<Option<Decimal>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let (digits, percent) = match trimmed.strip_suffix(['%', '％']) {
        Some(d) => (d.trim(), true),
        None => (trimmed, false),
    };
    let value =
        parse_number(digits).map_err(|_| format!("税率“{text}”不是数字（例如 0.13 或 13%）"))?;
    Ok(Some(if percent || value >= Decimal::ONE {
        value / Decimal::ONE_HUNDRED
    } else {
        value
    }))
}

/// The form's POST body: every input, lines named `<cell>_<index>`.
fn read_form(pairs: Vec<(String, String)>) -> (String, Typed) {
    let mut csrf = String::new();
    let mut form = Typed::default();
    let mut lines: BTreeMap<usize, LineRow> = BTreeMap::new();
    for (name, value) in pairs {
        let cell = name
            .rsplit_once('_')
            .and_then(|(cell, index)| Some((cell, index.parse::<usize>().ok()?)));
        if let Some((cell, index)) = cell.filter(|(_, i)| *i < MAX_LINES) {
            let line = lines.entry(index).or_insert_with(|| LineRow {
                index,
                ..LineRow::default()
            });
            match cell {
                "sku" => line.sku = value,
                "spec" => line.spec = value,
                "unit" => line.unit = value,
                "quantity" => line.quantity = value,
                "unit_price" => line.unit_price = value,
                _ => {}
            }
            continue;
        }
        match name.as_str() {
            "csrf" => csrf = value,
            "customer_q" => form.customer_q = value,
            "customer_id" => form.customer_id = value,
            "project" => form.project = value,
            "salesperson" => form.salesperson = value,
            "promised_ship_date" => form.promised_ship_date = value,
            "contract" => form.contract = value,
            "tax_included" => form.tax_included = !value.is_empty(),
            "tax_rate" => form.tax_rate = value,
            "invoice_title" => form.invoice_title = value,
            "ship_address" => form.ship_address = value,
            "receiver" => form.receiver = value,
            "receiver_phone" => form.receiver_phone = value,
            "note" => form.note = value,
            _ => {}
        }
    }
    // Renumbered from 0, so the grid the page shows again is the grid that was typed.
    form.lines = lines
        .into_values()
        .enumerate()
        .map(|(index, line)| LineRow { index, ..line })
        .collect();
    if form.lines.is_empty() {
        form.lines.push(LineRow::default());
    }
    (csrf, form)
}

/// Which customer the form names: the one chosen from the list, else the only one matching
/// what was typed; otherwise the choices (or none) and the error to show.
enum CustomerFound {
    One(CustomerSummary),
    Choose(Vec<CustomerSummary>, String),
}

async fn find_customer(state: &AppState, form: &Typed) -> Result<CustomerFound, PageError> {
    let (id, q) = (form.customer_id.trim().to_string(), form.customer_q.clone());
    Ok(read(state, move |office| {
        if !id.is_empty() {
            if let Some(found) = office.summary_of::<CustomerSummary>(&id)? {
                return Ok(CustomerFound::One(found));
            }
        }
        if q.trim().is_empty() {
            return Ok(CustomerFound::Choose(
                Vec::new(),
                "请选择客户（输入名称、编码或拼音首字母查找）".into(),
            ));
        }
        let found = office
            .search_customers(&CustomerQuery {
                q: Some(q.trim().to_string()),
                limit: LOOKUP_LIMIT,
                ..CustomerQuery::default()
            })?
            .items;
        Ok(match found.len() {
            0 => CustomerFound::Choose(Vec::new(), format!("没有找到客户“{}”", q.trim())),
            1 => CustomerFound::One(found.into_iter().next().expect("one")),
            _ => CustomerFound::Choose(found, format!("有多个客户符合“{}”，请选择一个", q.trim())),
        })
    })
    .await?)
}

fn customer_label(c: &CustomerSummary) -> String {
    let mut label = format!("{}（{}", c.name, c.code);
    if !c.city.is_empty() {
        label.push(' ');
        label.push_str(&c.city);
    }
    label.push('）');
    if c.status == "frozen" {
        label.push_str(" 已冻结");
    }
    label
}

pub async fn submit(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let (csrf, mut form) = read_form(pairs);
    signed.check_csrf(&csrf)?;
    may_take_orders(&signed)?;
    let mut errors: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut label = String::new();
    let mut choices = Vec::new();
    let customer = match find_customer(&state, &form).await? {
        CustomerFound::One(c) => {
            label = customer_label(&c);
            form.customer_id = c.id.clone();
            Some(c)
        }
        CustomerFound::Choose(found, why) => {
            form.customer_id.clear();
            errors.insert("customer", why);
            choices = found
                .iter()
                .map(|c| CustomerChoice {
                    id: c.id.clone(),
                    label: customer_label(c),
                })
                .collect();
            None
        }
    };

    // The lines typed, each read or its cells' errors said; blank lines are left out.
    let mut inputs = Vec::new();
    // Where each line given to the service sits in the grid, to put its errors back.
    let mut grid_row = Vec::new();
    for (row, line) in form.lines.iter_mut().enumerate() {
        if line.is_blank() {
            continue;
        }
        if line.sku.trim().is_empty() {
            line.sku_error = "请填写货号".into();
        }
        let quantity = parse_number(&line.quantity);
        if quantity.is_err() {
            line.quantity_error = if line.quantity.trim().is_empty() {
                "请填写数量".into()
            } else {
                format!("数量“{}”不是数字（例如 3 或 2.5）", line.quantity.trim())
            };
        }
        let price = parse_number(&line.unit_price);
        if price.is_err() {
            line.unit_price_error = if line.unit_price.trim().is_empty() {
                "请填写单价".into()
            } else {
                format!("单价“{}”不是数字（例如 1333.33）", line.unit_price.trim())
            };
        }
        if let (Ok(quantity), Ok(unit_price)) = (quantity, price) {
            inputs.push(LineInput {
                sku: line.sku.trim().to_string(),
                spec: line.spec.trim().to_string(),
                quantity,
                unit: line.unit.trim().to_string(),
                unit_price,
            });
            grid_row.push(row);
        }
    }
    let lines_typed = form.lines.iter().any(|l| !l.is_blank());
    if !lines_typed {
        errors.insert("lines", "订单至少要有一行明细".into());
    }
    let tax_rate = match parse_rate(&form.tax_rate) {
        Ok(rate) => rate.unwrap_or_default(),
        Err(why) => {
            errors.insert("tax_rate", why);
            Decimal::ZERO
        }
    };
    let promised = match form.promised_ship_date.trim() {
        "" => None,
        day => match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.insert(
                    "promised_ship_date",
                    format!("交期“{day}”不是 YYYY-MM-DD 格式的日期"),
                );
                None
            }
        },
    };
    let cells_wrong = form.lines.iter().any(|l| {
        !(l.sku_error.is_empty() && l.quantity_error.is_empty() && l.unit_price_error.is_empty())
    });
    let Some(customer) = customer.filter(|_| errors.is_empty() && !cells_wrong) else {
        let html = page(&state, &signed, form, label, choices, errors, String::new())?;
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
    };

    let order = NewOrder {
        customer_id: customer.id.clone(),
        project: form.project.trim().to_string(),
        // As `POST /api/orders` without a store: the customer's code.
        store: customer.code.clone(),
        salesperson: form.salesperson.trim().to_string(),
        tax_included: form.tax_included,
        tax_rate,
        invoice_title: form.invoice_title.trim().to_string(),
        deposit: Decimal::ZERO,
        contract: form.contract.trim().to_string(),
        ship_address: form.ship_address.trim().to_string(),
        receiver: form.receiver.trim().to_string(),
        receiver_phone: form.receiver_phone.trim().to_string(),
        promised_ship_date: promised,
        note: form.note.trim().to_string(),
        lines: inputs,
    };
    let user = signed.user.clone();
    let refusal = match create(&state, move |office| office.create_order(&user, order)).await {
        Ok(view) => return Ok(Redirect::to(&format!("/ui/orders/{}", view.id)).into_response()),
        Err(e) => e,
    };
    let mut error = String::new();
    match refusal {
        ApiError::Invalid(found) | ApiError::BadRequest(_, found) => {
            for e in found {
                let message = chinese_message(&e.message);
                let cell = e
                    .field
                    .strip_prefix("lines[")
                    .and_then(|rest| rest.split_once("]."))
                    .and_then(|(i, cell)| Some((i.parse::<usize>().ok()?, cell)));
                match cell {
                    Some((i, cell)) => {
                        let Some(line) = grid_row.get(i).and_then(|r| form.lines.get_mut(*r))
                        else {
                            continue;
                        };
                        match cell {
                            "sku" => line.sku_error = format!("货号{message}"),
                            "quantity" => line.quantity_error = format!("数量{message}"),
                            _ => line.unit_price_error = format!("单价{message}"),
                        }
                    }
                    None => {
                        let (key, what) = match e.field.as_str() {
                            "customer_id" => ("customer", "客户"),
                            "tax_rate" => ("tax_rate", "税率"),
                            "invoice_title" => ("invoice_title", "开票名称"),
                            "contract" => ("contract", "合同"),
                            "lines" => ("lines", ""),
                            _ => ("other", ""),
                        };
                        let text = format!("{what}{message}");
                        if key == "other" {
                            error = text;
                        } else {
                            errors.insert(key, text);
                        }
                    }
                }
            }
        }
        ApiError::Conflict(rule) => {
            let why = super::order_page::chinese_half(&rule).to_string();
            // A contract's rule (not signed, expired, its amount exceeded) goes beside it.
            if !form.contract.trim().is_empty() && why.contains("合同") {
                errors.insert("contract", why);
            } else {
                error = why;
            }
        }
        ApiError::Forbidden(_) => error = "您的角色不能接单".into(),
        other => return Err(other.into()),
    }
    let html = page(&state, &signed, form, label, choices, errors, error)?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}

/// The service's field messages, said in Chinese (those written "中文 / English" say their
/// Chinese half).
pub(super) fn chinese_message(message: &str) -> String {
    if let Some((zh, _)) = message.split_once(" / ") {
        return zh.to_string();
    }
    let known: [(&str, &str); 7] = [
        ("must not be empty", "不能为空"),
        ("must be greater than zero", "须大于零"),
        ("must not be negative", "不能是负数"),
        ("no such customer", "不存在（可能尚未同步到本机）"),
        (
            "required when the order is tax-included",
            "：含税订单须填写",
        ),
        ("an order needs at least one line", "订单至少要有一行明细"),
        (
            "must be between 0 and 1 (0.13 for 13%)",
            "须在 0 到 1 之间（13% 写 0.13）",
        ),
    ];
    if let Some((_, zh)) = known.iter().find(|(en, _)| *en == message) {
        return zh.to_string();
    }
    if let Some(places) = message
        .strip_prefix("at most ")
        .and_then(|m| m.strip_suffix(" decimal places"))
    {
        return format!("最多 {places} 位小数");
    }
    format!("：{message}")
}

#[derive(Deserialize)]
pub struct LookupParams {
    #[serde(default)]
    q: String,
}

#[derive(Serialize)]
pub struct LookupItem {
    pub id: String,
    pub label: String,
}

/// `GET /ui/customers/lookup?q=`: up to `LOOKUP_LIMIT` customers whose name (any part), code,
/// phone or pinyin initials start with `q`, as JSON for the script's list.
pub async fn lookup(
    State(state): State<AppState>,
    _signed: SignedIn,
    Query(params): Query<LookupParams>,
) -> Result<Json<Vec<LookupItem>>, PageError> {
    let q = params.q.trim().to_string();
    if q.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let found = read(&state, move |office| {
        office.search_customers(&CustomerQuery {
            q: Some(q),
            limit: LOOKUP_LIMIT,
            ..CustomerQuery::default()
        })
    })
    .await?;
    Ok(Json(
        found
            .items
            .iter()
            .map(|c| LookupItem {
                id: c.id.clone(),
                label: customer_label(c),
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn a_tax_rate_reads_as_a_fraction_a_percentage_or_nothing() {
        for typed in ["0.13", "13", "13%", " 13 ％ "] {
            assert_eq!(parse_rate(typed), Ok(Some(d("0.13"))), "{typed}");
        }
        assert_eq!(parse_rate(""), Ok(None));
        assert!(parse_rate("十三")
            .expect_err("not a number")
            .contains("不是数字"));
    }

    #[test]
    fn numbers_may_carry_thousands_separators_and_the_yuan_sign() {
        assert_eq!(parse_number("4,580"), Ok(d("4580")));
        assert_eq!(parse_number("¥1,333.33"), Ok(d("1333.33")));
        assert!(parse_number("三").is_err());
        assert!(parse_number("-1").is_ok(), "the sign is the domain's rule");
        assert!(parse_number("1e3").is_err());
    }

    #[test]
    fn the_grid_is_read_back_in_order_and_renumbered() {
        let pairs = [
            ("csrf", "t"),
            ("customer_q", "bjxh"),
            ("sku_7", "B"),
            ("quantity_7", "2"),
            ("sku_2", "A"),
            ("unit_price_2", "1.5"),
            ("sku_999", "ignored"),
            ("tax_included", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        let (csrf, form) = read_form(pairs);
        assert_eq!(csrf, "t");
        assert_eq!(form.customer_q, "bjxh");
        assert!(form.tax_included);
        let skus: Vec<(usize, &str)> = form
            .lines
            .iter()
            .map(|l| (l.index, l.sku.as_str()))
            .collect();
        assert_eq!(skus, [(0, "A"), (1, "B")]);
        assert_eq!(form.lines[0].unit_price, "1.5");
        assert_eq!(form.lines[1].quantity, "2");
    }

    #[test]
    fn totals_are_split_per_line_as_the_order_computes_them() {
        let mut form = Typed {
            tax_included: true,
            tax_rate: "13%".into(),
            lines: vec![
                LineRow {
                    quantity: "3".into(),
                    unit_price: "1333.33".into(),
                    ..LineRow::default()
                },
                LineRow {
                    quantity: "2".into(),
                    unit_price: "4580".into(),
                    ..LineRow::default()
                },
                LineRow {
                    quantity: "三".into(),
                    unit_price: "1".into(),
                    ..LineRow::default()
                },
            ],
            ..Typed::default()
        };
        let (gross, net) = totals(&mut form);
        assert_eq!(gross, d("13159.99"));
        assert_eq!(gross - net, d("1513.99"));
        assert_eq!(form.lines[0].amount, "¥3,999.99");
        assert_eq!(
            form.lines[2].amount, "",
            "a line that does not read has no amount"
        );
    }

    #[test]
    fn the_services_field_messages_are_said_in_chinese() {
        assert_eq!(chinese_message("must be greater than zero"), "须大于零");
        assert_eq!(chinese_message("at most 3 decimal places"), "最多 3 位小数");
        assert_eq!(
            chinese_message("含税订单须填写税率 / required when the order is tax-included"),
            "含税订单须填写税率"
        );
    }
}
