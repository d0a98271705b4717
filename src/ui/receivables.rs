//! 回款: the receivables page (aging per customer in 0–30/31–60/61–90/>90 day buckets with the
//! totals, and the 催款 queue with a form recording a reminder on an order), and finance's form
//! recording one payment of a customer allocated over several of its orders. Everything reads
//! the `rpt_receivable` index through the same use cases as `/api/receivables…`, and writes
//! through `remind_payment` and `record_customer_payment`, as `POST /api/payments` does.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::format::{business_today, day_of, money, query_string};
use super::order_new::chinese_message;
use super::order_page::{chinese_half, parse_amount, parse_day};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::receivable::Figures;
use crate::domain::role::Action;
use crate::http::error::ApiError;
use crate::http::{read, write, AppState};
use crate::service::receivables::{
    Allocation, CustomerPayment, ReceivableQuery, ReminderItem, ReminderQueueStart,
};

/// Orders of each 催款 list shown (oldest due first); the heading says how many there are.
pub const QUEUE_SHOWN: usize = 50;
use crate::views::LastReminder;

/// One customer's line of the aging table, every amount written ¥1,234.56.
pub struct AgingLine {
    pub name: String,
    pub href: String,
    pub terms: String,
    pub orders: usize,
    pub outstanding: String,
    pub d0_30: String,
    pub d31_60: String,
    pub d61_90: String,
    pub over_90: String,
    /// Owed past its due date (shipment + payment terms).
    pub overdue: String,
    /// Finance's link to record this customer's payment; "" for other roles.
    pub pay_href: String,
}

fn aging_line(name: String, href: String, terms: String, f: &Figures) -> AgingLine {
    let b = &f.aging_shipped;
    AgingLine {
        name,
        href,
        terms,
        orders: f.orders,
        outstanding: money(f.outstanding),
        d0_30: money(b.d0_30),
        d31_60: money(b.d31_60),
        d61_90: money(b.d61_90),
        over_90: money(b.over_90),
        overdue: money(f.aging_due.total() - f.aging_due.not_due),
        pay_href: String::new(),
    }
}

/// An order of the 催款 queue, with its reminder form as typed.
pub struct ReminderRow {
    pub order: String,
    pub number: String,
    pub href: String,
    pub customer: String,
    pub customer_href: String,
    pub salesperson: String,
    pub outstanding: String,
    pub overdue: String,
    pub due_date: String,
    /// 逾期 N 天, 今天到期, N 天后到期.
    pub lateness: String,
    /// The last reminder said in one line, or "".
    pub last: String,
    pub note: String,
    pub next_date: String,
    pub error: String,
}

/// The latest 催款 in one line: day, who, what, and the next follow-up.
pub(super) fn last_reminder(r: &LastReminder) -> String {
    let next = r
        .next_date
        .map(|d| format!("（下次跟进 {d}）"))
        .unwrap_or_default();
    format!("{} {}：{}{next}", day_of(&r.at), r.user, r.note)
}

fn reminder_row(item: ReminderItem) -> ReminderRow {
    let lateness = match item.days_overdue {
        0 => "今天到期".to_string(),
        d if d > 0 => format!("逾期 {d} 天"),
        d => format!("{} 天后到期", -d),
    };
    ReminderRow {
        href: format!("/ui/orders/{}", item.order),
        customer_href: format!("/ui/customers/{}", item.customer_id),
        order: item.order,
        number: item.number,
        customer: item.customer_name,
        salesperson: item.salesperson,
        outstanding: money(item.outstanding),
        overdue: money(item.overdue),
        due_date: item.due_date.to_string(),
        lateness,
        last: item
            .last_reminder
            .as_ref()
            .map(last_reminder)
            .unwrap_or_default(),
        note: String::new(),
        next_date: String::new(),
        error: String::new(),
    }
}

/// 已逾期 or 本周到期.
pub struct QueueSection {
    pub title: &'static str,
    pub id: &'static str,
    /// Orders in the list; `rows` holds the first `QUEUE_SHOWN`.
    pub total: usize,
    pub rows: Vec<ReminderRow>,
}

#[derive(Template)]
#[template(path = "receivables.html")]
struct ReceivablesPage {
    chrome: Chrome,
    as_of: String,
    today: String,
    week_end: String,
    lines: Vec<AgingLine>,
    total: AgingLine,
    queue: Vec<QueueSection>,
    can_remind: bool,
    can_pay: bool,
    /// A refused reminder, said at the top too (the order may have left the queue meanwhile).
    error: String,
    notice: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    #[serde(default)]
    as_of: String,
}

/// A reminder as typed, kept to show again beside its order when it is refused.
#[derive(Debug, Default, Deserialize)]
pub struct RemindForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    next_date: String,
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<PageParams>,
) -> Result<Html<String>, PageError> {
    let today = business_today(chrono::Utc::now());
    let as_of = parse_day(&p.as_of, "日期").unwrap_or(today);
    receivables_page(&state, &signed, as_of, None, String::new()).await
}

async fn receivables_page(
    state: &AppState,
    signed: &SignedIn,
    as_of: NaiveDate,
    typed: Option<(RemindForm, String)>,
    notice: String,
) -> Result<Html<String>, PageError> {
    let today = business_today(chrono::Utc::now());
    let (list, start): (_, ReminderQueueStart) = read(state, move |o| {
        o.receivables_and_queue(as_of, today, QUEUE_SHOWN)
    })
    .await?;
    let can_pay = signed.user.role.may(Action::RecordPayment);
    let lines = list
        .rows
        .iter()
        .filter(|r| r.figures.outstanding > Decimal::ZERO)
        .map(|r| {
            let mut line = aging_line(
                r.customer_name.clone(),
                format!("/ui/customers/{}", r.customer_id),
                r.payment_terms.clone(),
                &r.figures,
            );
            if can_pay {
                line.pay_href = format!(
                    "/ui/receivables/pay{}",
                    query_string(&[("customer", &r.customer_id)])
                );
            }
            line
        })
        .collect();
    let rows = |items: Vec<ReminderItem>| -> Vec<ReminderRow> {
        items
            .into_iter()
            .map(|item| {
                let mut row = reminder_row(item);
                if let Some((form, error)) = typed.as_ref().filter(|(f, _)| f.order == row.order) {
                    row.note = form.note.clone();
                    row.next_date = form.next_date.clone();
                    row.error = error.clone();
                }
                row
            })
            .collect()
    };
    let error = typed
        .as_ref()
        .map(|(_, why)| why.clone())
        .unwrap_or_default();
    let queue = start.queue;
    let sections = vec![
        QueueSection {
            title: "已逾期",
            id: "overdue",
            total: start.overdue_total,
            rows: rows(queue.overdue),
        },
        QueueSection {
            title: "本周到期",
            id: "due-this-week",
            total: start.due_this_week_total,
            rows: rows(queue.due_this_week),
        },
    ];
    render(&ReceivablesPage {
        chrome: Chrome::new(state, signed, "/ui/receivables"),
        as_of: as_of.to_string(),
        today: today.to_string(),
        week_end: queue.week_end.to_string(),
        lines,
        total: aging_line("合计".into(), String::new(), String::new(), &list.total),
        queue: sections,
        can_remind: signed.user.role.may(Action::RemindPayment),
        can_pay,
        error,
        notice,
    })
}

/// A field's name as the page says it.
fn field_label(field: &str) -> &'static str {
    match field {
        "note" => "催款内容",
        "next_date" => "下次跟进日期",
        "customer" => "客户",
        "bank_reference" => "流水号",
        "amount" => "收款金额",
        "date" => "到账日期",
        "allocations" => "分配",
        _ => "",
    }
}

/// A refusal of the service said in Chinese: field errors by field (`field label` + message),
/// a rule by its Chinese half; anything else is the page's error.
fn refusal(e: ApiError) -> Result<Vec<(String, String)>, PageError> {
    match e {
        ApiError::Invalid(errors) | ApiError::BadRequest(_, errors) => Ok(errors
            .iter()
            .map(|e| {
                let why = if e.message.contains(" / ") {
                    chinese_half(&e.message).to_string()
                } else {
                    format!("{}{}", field_label(&e.field), chinese_message(&e.message))
                };
                (e.field.clone(), why)
            })
            .collect()),
        ApiError::Conflict(rule) => Ok(vec![(String::new(), chinese_half(&rule).to_string())]),
        ApiError::Forbidden(_) => Ok(vec![(
            String::new(),
            "您的角色不能进行这项操作".to_string(),
        )]),
        other => Err(other.into()),
    }
}

/// 催款: records a reminder on one order of the queue, then shows the page again, the refusal
/// beside that order with what was typed.
pub async fn remind(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(form): Form<RemindForm>,
) -> Result<Response, PageError> {
    signed.check_csrf(&form.csrf)?;
    let today = business_today(chrono::Utc::now());
    let next_date = match form.next_date.trim() {
        "" => Ok(None),
        text => parse_day(text, "下次跟进日期").map(Some),
    };
    let outcome = match next_date {
        Err(why) => Err(why),
        Ok(next_date) => {
            let user = signed.user.clone();
            let (order, note) = (form.order.clone(), form.note.clone());
            match write(&state, move |o| {
                o.remind_payment(&user, &order, note, next_date)
            })
            .await
            {
                Ok(view) => Ok(view.header.get("number").cloned().unwrap_or_default()),
                Err(e) => Err(refusal(e)?
                    .into_iter()
                    .map(|(_, why)| why)
                    .collect::<Vec<_>>()
                    .join("；")),
            }
        }
    };
    match outcome {
        Ok(number) => {
            let notice = format!("已记录订单 {number} 的催款");
            Ok(receivables_page(&state, &signed, today, None, notice)
                .await?
                .into_response())
        }
        Err(why) => {
            let html =
                receivables_page(&state, &signed, today, Some((form, why)), String::new()).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

/// An order the payment may be allocated to, with the amount typed for it.
pub struct AllocRow {
    pub order: String,
    pub number: String,
    pub href: String,
    pub outstanding: String,
    pub typed: String,
    pub error: String,
}

/// The payment form as typed; allocations are `alloc_<order id>` inputs.
#[derive(Debug, Default)]
pub struct PayForm {
    customer: String,
    bank_reference: String,
    amount: String,
    date: String,
    method: String,
    payer: String,
    allocs: BTreeMap<String, String>,
}

impl PayForm {
    fn of(pairs: Vec<(String, String)>) -> (String, PayForm) {
        let mut csrf = String::new();
        let mut form = PayForm::default();
        for (name, value) in pairs {
            match name.as_str() {
                "csrf" => csrf = value,
                "customer" => form.customer = value,
                "bank_reference" => form.bank_reference = value,
                "amount" => form.amount = value,
                "date" => form.date = value,
                "method" => form.method = value,
                "payer" => form.payer = value,
                _ => {
                    if let Some(order) = name.strip_prefix("alloc_") {
                        form.allocs.insert(order.to_string(), value);
                    }
                }
            }
        }
        (csrf, form)
    }
}

pub struct CustomerOption {
    pub id: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "receivables_pay.html")]
struct PayPage {
    chrome: Chrome,
    customers: Vec<CustomerOption>,
    customer_name: String,
    form: PayForm,
    rows: Vec<AllocRow>,
    errors: BTreeMap<String, String>,
    error: String,
    notice: String,
}

impl PayPage {
    /// The error beside `field`, or "".
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).map(String::as_str).unwrap_or("")
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PayParams {
    #[serde(default)]
    customer: String,
}

fn may_record_payments(signed: &SignedIn) -> Result<(), PageError> {
    if signed.user.role.may(Action::RecordPayment) {
        Ok(())
    } else {
        Err(PageError::Forbidden("record payment".into()))
    }
}

pub async fn pay_form(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<PayParams>,
) -> Result<Html<String>, PageError> {
    may_record_payments(&signed)?;
    let form = PayForm {
        customer: p.customer,
        date: business_today(chrono::Utc::now()).to_string(),
        ..PayForm::default()
    };
    pay_page(&state, &signed, form, BTreeMap::new(), String::new()).await
}

/// The payment page: the customers owing money to choose from, and the chosen one's orders
/// owing money, each with the amount typed for it and its error.
async fn pay_page(
    state: &AppState,
    signed: &SignedIn,
    form: PayForm,
    mut errors: BTreeMap<String, String>,
    notice: String,
) -> Result<Html<String>, PageError> {
    let today = business_today(chrono::Utc::now());
    let customer = form.customer.clone();
    let (list, orders) = read(state, move |o| {
        let list = o.receivables(&ReceivableQuery {
            as_of: today,
            ..ReceivableQuery::default()
        })?;
        let orders = if customer.is_empty() {
            None
        } else {
            Some(o.customer_receivables(&customer, NaiveDate::MAX)?)
        };
        Ok((list, orders))
    })
    .await?;
    let customers = list
        .rows
        .iter()
        .filter(|r| r.figures.outstanding > Decimal::ZERO)
        .map(|r| CustomerOption {
            id: r.customer_id.clone(),
            label: format!(
                "{}（应收 {}）",
                r.customer_name,
                money(r.figures.outstanding)
            ),
        })
        .collect();
    let customer_name = orders
        .as_ref()
        .map(|c| c.customer.customer_name.clone())
        .unwrap_or_default();
    let rows = orders
        .map(|c| c.orders)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.figures.outstanding > Decimal::ZERO || form.allocs.contains_key(&r.order))
        .map(|r| AllocRow {
            href: format!("/ui/orders/{}", r.order),
            typed: form.allocs.get(&r.order).cloned().unwrap_or_default(),
            error: errors
                .remove(&format!("alloc_{}", r.order))
                .unwrap_or_default(),
            outstanding: money(r.figures.outstanding),
            number: r.number,
            order: r.order,
        })
        .collect();
    let error = errors.remove("").unwrap_or_default();
    render(&PayPage {
        chrome: Chrome::new(state, signed, "/ui/receivables"),
        customers,
        customer_name,
        form,
        rows,
        errors,
        error,
        notice,
    })
}

/// Adds `why` to the errors said beside `field` ("" for the page's own error).
fn note(errors: &mut BTreeMap<String, String>, field: String, why: String) {
    errors
        .entry(field)
        .and_modify(|e| {
            e.push('；');
            e.push_str(&why)
        })
        .or_insert(why);
}

/// Records the payment through `record_customer_payment`; a refusal comes back beside the field
/// it names (an allocation's beside its order), keeping everything typed.
pub async fn pay(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let (csrf, form) = PayForm::of(pairs);
    signed.check_csrf(&csrf)?;
    may_record_payments(&signed)?;
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    if form.customer.is_empty() {
        note(&mut errors, String::new(), "请先选择客户".into());
    }
    let amount = parse_amount(&form.amount)
        .map_err(|why| note(&mut errors, "amount".into(), why))
        .ok();
    let date = parse_day(&form.date, "到账日期")
        .map_err(|why| note(&mut errors, "date".into(), why))
        .ok();
    let mut allocations = Vec::new();
    for (order, typed) in &form.allocs {
        if typed.trim().is_empty() {
            continue;
        }
        match parse_amount(typed) {
            Ok(amount) => allocations.push(Allocation {
                order: order.clone(),
                amount,
            }),
            Err(why) => note(&mut errors, format!("alloc_{order}"), why),
        }
    }
    if allocations.is_empty() && !form.allocs.values().any(|t| !t.trim().is_empty()) {
        note(
            &mut errors,
            "allocations".into(),
            "请至少给一个订单填写分配金额".into(),
        );
    }
    let (Some(amount), Some(date), true) = (amount, date, errors.is_empty()) else {
        let html = pay_page(&state, &signed, form, errors, String::new()).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
    };
    let orders: Vec<String> = allocations.iter().map(|a| a.order.clone()).collect();
    let payment = CustomerPayment {
        customer: form.customer.clone(),
        bank_reference: form.bank_reference.trim().to_string(),
        amount,
        date,
        method: form.method.trim().to_string(),
        payer: form.payer.trim().to_string(),
        allocations,
    };
    let user = signed.user.clone();
    match write(&state, move |o| o.record_customer_payment(&user, payment)).await {
        Ok(done) => {
            let numbers: Vec<String> = done
                .allocations
                .iter()
                .map(|a| format!("{} {}", a.number, money(a.amount)))
                .collect();
            let notice = format!(
                "已登记回款 {}（流水号 {}），分配到 {} 个订单：{}",
                money(done.amount),
                done.bank_reference,
                done.allocations.len(),
                numbers.join("，")
            );
            let fresh = PayForm {
                customer: form.customer,
                date: form.date,
                ..PayForm::default()
            };
            Ok(pay_page(&state, &signed, fresh, BTreeMap::new(), notice)
                .await?
                .into_response())
        }
        Err(e) => {
            for (field, why) in refusal(e)? {
                // allocations[i].amount / .order: beside the i-th order sent.
                let key = field
                    .strip_prefix("allocations[")
                    .and_then(|rest| rest.split_once(']'))
                    .and_then(|(i, _)| i.parse::<usize>().ok())
                    .and_then(|i| orders.get(i))
                    .map(|order| format!("alloc_{order}"));
                let why = match &key {
                    Some(_) => format!("分配金额{}", why.trim_start_matches('：')),
                    None => why,
                };
                let key = key.unwrap_or_else(|| match field.as_str() {
                    "bank_reference" | "amount" | "date" | "allocations" => field.clone(),
                    _ => String::new(),
                });
                note(&mut errors, key, why);
            }
            let html = pay_page(&state, &signed, form, errors, String::new()).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}
