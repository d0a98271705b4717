//! 订单详情, `/ui/orders/{id}`: the order's lines, its amounts (ordered / shipped / invoiced /
//! paid / outstanding), the timeline of its facts (who, role, node, when), its change history,
//! field conflicts with one-click resolution, open anomalies (each with the resolve form of the
//! 异常收件箱 where a text may close it), and, as forms, only the actions this user's role may
//! take, 作废 of a payment and 红冲 of an invoice among them (the facts that remove a duplicate
//! bank reference, a duplicate invoice number or a wrong title). The forms post to `/ui/orders/{id}/act`, which calls the same
//! service use cases as the API; a refused action re-renders the page with the server's reason
//! in Chinese (the service still enforces every rule, the page only hides what the role cannot do).

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::Html;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::anomalies::{detail_in_chinese, instruction};
use super::format::{
    anomaly_label, business_today, day_of, minute_of, money, quantity, role_label, unit_price,
};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::facts::{FactBody, Party, ShipLine};
use crate::domain::order::Order;
use crate::domain::role::Action;
use crate::http::error::ApiError;
use crate::http::{read, write, AppState};
use crate::service::lifecycle::{public_anomaly_id, InboxAnomaly, ShippingDocInput};
use crate::service::orders::{HistoryEntry, OrderView};
use crate::views::CustomerSummary;

pub struct LineRow {
    pub position: usize,
    pub sku: String,
    pub spec: String,
    pub unit: String,
    pub quantity: String,
    pub shipped: String,
    pub unit_price: String,
    pub amount: String,
}

pub struct FactRow {
    pub id: String,
    pub at: String,
    pub user: String,
    pub role: &'static str,
    pub node: String,
    pub what: String,
    /// The form that takes it back, `(action, button)`: 作废 a live payment, 红冲 a live
    /// invoice, for the role that may; the facts that remove a duplicate or a wrong title.
    pub undo: Option<(&'static str, &'static str)>,
    /// The photos a return request carries (attachment names), shown in place.
    pub photos: Vec<String>,
}

pub struct ConflictRow {
    pub field: String,
    pub values: Vec<ConflictChoice>,
}

pub struct ConflictChoice {
    pub value: String,
    pub written_by: String,
}

pub struct AnomalyRow {
    /// The public id the resolve form posts.
    pub id: String,
    pub kind: &'static str,
    pub detail: String,
    pub resolvers: String,
    /// What removes it, when a text cannot close it.
    pub instruction: String,
    /// A text may close it and this user's role may write it.
    pub may_resolve: bool,
}

/// One action form: which `action` it posts, its button, and which inputs it asks for.
pub struct ActionForm {
    pub action: &'static str,
    pub label: &'static str,
    /// Inputs, each `(name, label, prefilled value)`.
    pub inputs: Vec<(&'static str, &'static str, String)>,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    chrome: Chrome,
    id: String,
    number: String,
    status_label: &'static str,
    customer: String,
    header: Vec<(&'static str, String)>,
    lines: Vec<LineRow>,
    /// `(label, amount)`: 订单金额, 已发货, 已开票, 已收款, 未收款.
    amounts: Vec<(&'static str, String)>,
    facts: Vec<FactRow>,
    history: Vec<HistoryEntryRow>,
    conflicts: Vec<ConflictRow>,
    anomalies: Vec<AnomalyRow>,
    actions: Vec<ActionForm>,
    /// 退换货: the order's return cases, each with the steps this role may take.
    returns: Vec<super::returns::ReturnRow>,
    /// The request form, for a role that may ask for a return of goods shipped.
    return_form: Option<super::returns::RequestForm>,
    can_resolve_conflicts: bool,
    print_href: String,
    error: String,
    notice: String,
}

pub struct HistoryEntryRow {
    pub at: String,
    pub user: String,
    pub role: String,
    pub what: String,
}

/// The header fields the page shows, in the order a clerk reads them.
const HEADER: [(&str, &str); 10] = [
    ("project", "项目"),
    ("store", "门店"),
    ("salesperson", "业务员"),
    ("promised_date", "交期"),
    ("ship_address", "收货地址"),
    ("receiver", "收货人"),
    ("receiver_phone", "电话"),
    ("invoice_title", "开票名称"),
    ("customer_po", "客户单号"),
    ("note", "备注"),
];

/// What a fact says, in Chinese, for the timeline.
pub(crate) fn describe_fact(body: &FactBody) -> String {
    match body {
        FactBody::Verified { .. } => "核单".into(),
        FactBody::Approved { .. } => "审核通过".into(),
        FactBody::ReleasedToWorkshop => "下单（下达车间）".into(),
        FactBody::Progress { .. } => "跟单进度".into(),
        FactBody::DelayAcknowledged { promised_date, .. } => {
            format!("销售副总确认延误（交期 {promised_date}）")
        }
        FactBody::ShippingDoc { .. } => "开出货单".into(),
        FactBody::FinanceRelease { .. } => "财务放行".into(),
        FactBody::Shipment { .. } => "发货".into(),
        FactBody::Payment { amount, .. } => format!("收款 {}", money(*amount)),
        FactBody::PaymentVoid { .. } => "作废收款".into(),
        FactBody::PaymentReminder { note, .. } => format!("催款：{note}"),
        FactBody::Invoice { amount, .. } => format!("开票 {}", money(*amount)),
        FactBody::InvoiceVoided { .. } => "作废发票".into(),
        FactBody::Cancelled { .. } => "取消订单".into(),
        FactBody::Reinstated { .. } => "恢复订单".into(),
        FactBody::RemainderCancelled { .. } => "取消未发部分".into(),
        FactBody::Changed { .. } => "变更单".into(),
        FactBody::Correction { .. } => "更正".into(),
        FactBody::Archived => "归档".into(),
        FactBody::ReturnRequested { .. } => "申请退货".into(),
        FactBody::ReturnDecided { .. } => "退货审批".into(),
        FactBody::ReturnReceived { .. } => "退货入库".into(),
        FactBody::ReturnedToCustomer { .. } => "退回客户".into(),
        FactBody::AnomalyResolved { .. } => "处理异常".into(),
        FactBody::FollowedUp(_) => "跟进".into(),
        FactBody::ComplaintAssigned { to, .. } => format!("客诉分派给 {to}"),
        FactBody::ComplaintHandled { note } => format!("客诉处理：{note}"),
        FactBody::ComplaintClosed {
            result,
            satisfaction,
        } => format!("客诉结案（{}）：{result}", satisfaction.label_zh()),
        FactBody::ComplaintReopened { reason } => format!("客诉重新打开：{reason}"),
        FactBody::ComplaintEscalationAcknowledged { .. } => "主管确认客诉上报".into(),
        FactBody::ComplaintReturnLinked { .. } => "客诉转退换维修".into(),
        FactBody::ContractSubmitted { version } => format!("合同提交审核（第{version}版）"),
        FactBody::ContractReviewed {
            version,
            approved,
            reason,
        } => decision("主管审核", *version, *approved, reason),
        FactBody::ContractApproved {
            version,
            approved,
            reason,
        } => decision("领导审批", *version, *approved, reason),
        FactBody::ContractSigned { version, signed_on } => {
            format!("合同签订（第{version}版，{signed_on}）")
        }
        FactBody::ContractArchived { version } => format!("合同归档（第{version}版）"),
        FactBody::ContractRevised {
            version, reason, ..
        } => format!("合同变更为第{version}版：{reason}"),
        FactBody::ArchiveWritten { fields, removed } if removed.is_empty() => {
            format!("客户档案修改：{}", fields.join("、"))
        }
        FactBody::ArchiveWritten { fields, removed } => format!(
            "客户档案修改：{}（删除 {}）",
            fields.join("、"),
            removed.join("、")
        ),
    }
}

/// A contract review or approval, in words.
fn decision(step: &str, version: u32, approved: bool, reason: &str) -> String {
    if approved {
        format!("{step}通过（第{version}版）")
    } else {
        format!("{step}退回（第{version}版）：{reason}")
    }
}

/// The action forms this role may use, prefilled where the order says what is usual.
fn action_forms(signed: &SignedIn, order: &OrderView) -> Vec<ActionForm> {
    let role = signed.user.role;
    let today = business_today(chrono::Utc::now()).to_string();
    let none = Vec::new;
    let candidates = [
        (Action::Verify, "verify", "核单", none()),
        (
            Action::Approve,
            "approve",
            "审核",
            vec![("note", "审核意见", String::new())],
        ),
        (Action::ReleaseToWorkshop, "release", "下单", none()),
        (
            Action::Progress,
            "progress",
            "记录跟单",
            vec![
                ("note", "跟单记录", String::new()),
                ("revised_date", "新交期（改期时填）", String::new()),
                ("delay_reason", "延误原因", String::new()),
            ],
        ),
        (
            Action::ShippingDoc,
            "shipping-doc",
            "开出货单",
            vec![
                ("ship_date", "发货日期", today.clone()),
                ("route", "运送途径", String::new()),
                ("freight_payer", "运费", "到付".into()),
            ],
        ),
        (Action::FinanceRelease, "finance-release", "放行", none()),
        (
            Action::Ship,
            "ship",
            "发货",
            vec![
                ("carrier", "承运", String::new()),
                ("waybill", "运单号", String::new()),
                ("cartons", "件数", "1".into()),
            ],
        ),
        (
            Action::RecordPayment,
            "payment",
            "收款",
            vec![
                ("amount", "金额", order.outstanding.to_string()),
                ("date", "日期", today.clone()),
                ("method", "方式", "bank".into()),
                ("payer", "付款人", String::new()),
                ("bank_ref", "银行流水号", String::new()),
            ],
        ),
        (
            Action::Invoice,
            "invoice",
            "开票",
            vec![
                ("number", "发票号", String::new()),
                (
                    "title",
                    "开票名称",
                    order
                        .header
                        .get("invoice_title")
                        .cloned()
                        .unwrap_or_default(),
                ),
                ("amount", "金额", (order.due - order.invoiced).to_string()),
            ],
        ),
        (
            Action::CancelOrReinstate,
            "cancel",
            "取消订单",
            vec![("reason", "原因", String::new())],
        ),
    ];
    candidates
        .into_iter()
        .filter(|(needs, ..)| role.may(*needs))
        .map(|(_, action, label, inputs)| ActionForm {
            action,
            label,
            inputs,
        })
        .collect()
}

/// The VP's 确认延误, for an order still to ship that is late (or revised twice) and whose
/// current promised date is not yet acknowledged.
fn acknowledge_delay_form(
    state: &AppState,
    signed: &SignedIn,
    order: &Order,
) -> Option<ActionForm> {
    use crate::domain::delay;
    if !signed.user.role.may(Action::AcknowledgeDelay) || !delay::still_to_ship(order.status()) {
        return None;
    }
    let schedule = delay::schedule(order);
    let today = business_today(chrono::Utc::now());
    let lateness = delay::lateness(&schedule, today, state.office.escalation.late_order_days)?;
    (!schedule.acknowledged).then(|| ActionForm {
        action: "acknowledge-delay",
        label: if lateness.escalated {
            "确认延误（已上报）"
        } else {
            "确认延误"
        },
        inputs: vec![("note", "意见", String::new())],
    })
}

/// The order and everything the page shows about it, read in one blocking task.
struct Loaded {
    order: Order,
    view: OrderView,
    customer: Option<CustomerSummary>,
    history: Vec<HistoryEntry>,
}

async fn load(state: &AppState, id: &str) -> Result<Loaded, PageError> {
    let id = id.to_string();
    Ok(read(state, move |office| {
        let order = office.order(&id)?;
        let customer = office.summary_of::<CustomerSummary>(order.get("customer_id"))?;
        let history = office.order_history(&id)?;
        Ok(Loaded {
            view: OrderView::of(&order),
            order,
            customer,
            history,
        })
    })
    .await?)
}

/// The order's page with what the last action said; `typed_return` is a refused return request
/// to show again as typed.
pub(super) async fn order_page(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    error: String,
    notice: String,
    typed_return: Option<super::returns::RequestInput>,
) -> Result<Html<String>, PageError> {
    let Loaded {
        order,
        view,
        customer,
        history,
    } = load(state, id).await?;
    let shipped = order.shipped_per_line();
    let role = signed.user.role;
    let live_payments: Vec<String> = order.live_payments().iter().map(|f| f.id.clone()).collect();
    let live_invoices: Vec<String> = order.live_invoices().iter().map(|f| f.id.clone()).collect();
    let undo = |fact: &str| {
        if role.may(Action::VoidPayment) && live_payments.iter().any(|p| p == fact) {
            Some(("void-payment", "作废收款"))
        } else if role.may(Action::Invoice) && live_invoices.iter().any(|i| i == fact) {
            Some(("void-invoice", "红冲发票"))
        } else {
            None
        }
    };
    render(&OrderPage {
        chrome: Chrome::new(state, signed, "/ui/orders"),
        id: id.to_string(),
        number: order.get("number").to_string(),
        status_label: view.status_label,
        customer: customer
            .map(|c| format!("{}（{}）", c.name, c.code))
            .unwrap_or_else(|| "（客户尚未同步到本机）".into()),
        header: HEADER
            .iter()
            .filter(|(field, _)| !order.get(field).is_empty())
            .map(|(field, label)| (*label, order.get(field).to_string()))
            .chain(std::iter::once((
                "接单日期",
                day_of(order.get("created_at")),
            )))
            .collect(),
        lines: order
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| LineRow {
                position: i + 1,
                sku: l.sku.clone(),
                spec: l.spec.clone(),
                unit: l.unit.clone(),
                quantity: quantity(l.quantity),
                shipped: quantity(shipped.get(&l.id).copied().unwrap_or_default()),
                unit_price: unit_price(l.unit_price),
                amount: money(l.amount),
            })
            .collect(),
        amounts: vec![
            ("订单金额", money(view.totals.gross)),
            ("已发货", money(view.shipped_value)),
            ("已开票", money(view.invoiced)),
            ("已收款", money(view.paid)),
            ("未收款", money(view.outstanding)),
        ],
        facts: view
            .facts
            .iter()
            .map(|f| FactRow {
                id: f.id.clone(),
                at: minute_of(&f.at.to_rfc3339()),
                user: f.user.clone(),
                role: role_label(f.role),
                node: f.node.clone(),
                what: describe_fact(&f.body),
                undo: undo(&f.id),
                photos: match &f.body {
                    FactBody::ReturnRequested { photos, .. } => photos.clone(),
                    _ => Vec::new(),
                },
            })
            .collect(),
        history: history
            .into_iter()
            .rev()
            .map(|h| HistoryEntryRow {
                at: minute_of(&h.at),
                user: h.user,
                role: h.role,
                what: h.what,
            })
            .collect(),
        conflicts: view
            .conflicts
            .iter()
            .map(|c| ConflictRow {
                field: c.field.clone(),
                values: c
                    .values
                    .iter()
                    .map(|v| ConflictChoice {
                        value: v.value.clone(),
                        written_by: format!(
                            "{}（{}）@ {}",
                            v.written_by.user, v.written_by.role, v.written_by.node
                        ),
                    })
                    .collect(),
            })
            .collect(),
        anomalies: view
            .anomalies
            .iter()
            .filter(|a| a.resolution.is_none())
            .map(|a| AnomalyRow {
                id: public_anomaly_id(id, &a.id),
                kind: anomaly_label(a.kind),
                detail: detail_in_chinese(
                    Some(&order),
                    &InboxAnomaly {
                        id: String::new(),
                        order_id: Some(id.to_string()),
                        order_number: None,
                        complaint: None,
                        customers: Vec::new(),
                        orders: Vec::new(),
                        anomaly: a.clone(),
                    },
                ),
                resolvers: a
                    .resolvers
                    .iter()
                    .map(|r| role_label(*r))
                    .collect::<Vec<_>>()
                    .join("、"),
                instruction: instruction(a.kind),
                may_resolve: a.kind.removed_only_by().is_none()
                    && a.resolvers.contains(&signed.user.role),
            })
            .collect(),
        actions: {
            let mut forms = action_forms(signed, &view);
            forms.extend(acknowledge_delay_form(state, signed, &order));
            forms
        },
        returns: super::returns::rows_of_order(signed, &order),
        return_form: super::returns::RequestForm::for_order(signed, &order, typed_return),
        can_resolve_conflicts: signed.user.role.may(Action::EditOrder)
            || signed.user.role.may(Action::ReassignOwnership),
        print_href: format!("/ui/orders/{id}/print"),
        error,
        notice,
    })
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    order_page(&state, &signed, &id, String::new(), String::new(), None).await
}

/// Every input any action form may send; each action reads the ones it needs.
#[derive(Deserialize, Default)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    ship_date: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    freight_payer: String,
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    waybill: String,
    #[serde(default)]
    cartons: String,
    #[serde(default)]
    revised_date: String,
    #[serde(default)]
    delay_reason: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    payer: String,
    #[serde(default)]
    bank_ref: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
    /// The payment or invoice a 作废 or 红冲 takes back.
    #[serde(default)]
    fact: String,
}

/// A refusal as the page says it: the Chinese half of a rule, or what was wrong with an input.
pub(super) fn reason_in_chinese(e: ApiError) -> Result<String, PageError> {
    match e {
        ApiError::Conflict(rule) => Ok(chinese_half(&rule).to_string()),
        ApiError::Forbidden(_) => Ok("您的角色不能进行这项操作".into()),
        ApiError::Invalid(errors) | ApiError::BadRequest(_, errors) => Ok(errors
            .iter()
            .map(|e| format!("{}：{}", e.field, chinese_half(&e.message)))
            .collect::<Vec<_>>()
            .join("；")),
        other => Err(other.into()),
    }
}

/// Rules and field messages are written "中文 / English"; the page says the Chinese.
pub(super) fn chinese_half(message: &str) -> &str {
    message
        .split_once(" / ")
        .map(|(zh, _)| zh)
        .unwrap_or(message)
}

pub(super) fn parse_amount(text: &str) -> Result<Decimal, String> {
    text.trim()
        .replace([',', '¥'], "")
        .parse::<Decimal>()
        .map_err(|_| format!("金额“{text}”不是数字"))
}

pub(super) fn parse_day(text: &str, what: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{what}“{text}”不是 YYYY-MM-DD 格式的日期"))
}

pub async fn act(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Result<Html<String>, PageError> {
    signed.check_csrf(&form.csrf)?;
    let (error, notice) = said(perform(&state, &signed, &id, form).await)?;
    order_page(&state, &signed, &id, error, notice, None).await
}

/// What a page says after an action: `(error, notice)`, each in Chinese.
pub(super) fn said(outcome: Result<String, Refusal>) -> Result<(String, String), PageError> {
    Ok(match outcome {
        Ok(done) => (String::new(), done),
        Err(Refusal::Said(why)) => (why, String::new()),
        Err(Refusal::Api(e)) => (reason_in_chinese(e)?, String::new()),
    })
}

pub(super) enum Refusal {
    /// An input the page could not read, said in Chinese.
    Said(String),
    Api(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl From<String> for Refusal {
    fn from(why: String) -> Self {
        Refusal::Said(why)
    }
}

/// Runs one action; returns what the page says once it is done.
async fn perform(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    form: ActForm,
) -> Result<String, Refusal> {
    let user = signed.user.clone();
    let id = id.to_string();
    let done = match form.action.as_str() {
        "verify" => {
            let parties = vec![Party::Salesperson, Party::Customer, Party::Workshop];
            write(state, move |o| {
                o.verify(&user, &id, parties, Default::default())
            })
            .await?;
            "已核单"
        }
        "approve" => {
            write(state, move |o| o.approve(&user, &id, form.note)).await?;
            "已审核"
        }
        "release" => {
            write(state, move |o| o.release_to_workshop(&user, &id)).await?;
            "已下单到车间"
        }
        "progress" => {
            let revised = match form.revised_date.trim() {
                "" => None,
                text => Some(parse_day(text, "新交期")?),
            };
            let reason = Some(form.delay_reason.trim().to_string()).filter(|r| !r.is_empty());
            write(state, move |o| {
                o.progress(&user, &id, form.note, revised, reason)
            })
            .await?;
            "已记录跟单"
        }
        "acknowledge-delay" => {
            let today = business_today(chrono::Utc::now());
            write(state, move |o| {
                o.acknowledge_delay(&user, &id, form.note, today)
            })
            .await?;
            "已确认延误"
        }
        "shipping-doc" => {
            let ship_date = if form.ship_date.trim().is_empty() {
                None
            } else {
                Some(parse_day(&form.ship_date, "发货日期")?)
            };
            write(state, move |o| {
                // The whole order not yet shipped, at the agreed prices: the usual 出货单.
                let order = o.order(&id)?;
                let shipped = order.shipped_per_line();
                let lines = order
                    .lines
                    .iter()
                    .map(|l| ShipLine {
                        line: l.id.clone(),
                        quantity: l.quantity - shipped.get(&l.id).copied().unwrap_or_default(),
                        unit_price: Some(l.unit_price),
                    })
                    .filter(|l| l.quantity > Decimal::ZERO)
                    .collect();
                let doc = ShippingDocInput {
                    lines,
                    ship_date,
                    route: form.route,
                    freight_payer: form.freight_payer,
                };
                o.shipping_doc(&user, &id, doc)
            })
            .await?;
            "已开出货单"
        }
        "finance-release" => {
            write(state, move |o| o.finance_release(&user, &id, None, None)).await?;
            "已放行"
        }
        "ship" => {
            let cartons = form
                .cartons
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("件数“{}”不是整数", form.cartons))?;
            write(state, move |o| {
                // What the release in force lets go, less what already left under it.
                let order = o.order(&id)?;
                let lines = match (order.release_in_force(), order.current_shipping_doc()) {
                    (Some(release), Some(doc)) => {
                        let gone = order.shipped_under(&release.id);
                        document_lines(doc)
                            .into_iter()
                            .map(|mut l| {
                                l.quantity -= gone.get(&l.line).copied().unwrap_or_default();
                                l.unit_price = None;
                                l
                            })
                            .filter(|l| l.quantity > Decimal::ZERO)
                            .collect()
                    }
                    _ => Vec::new(),
                };
                o.ship(
                    &user,
                    &id,
                    lines,
                    form.carrier,
                    form.waybill,
                    cartons,
                    false,
                )
            })
            .await?;
            "已发货"
        }
        "payment" => {
            let amount = parse_amount(&form.amount)?;
            let date = parse_day(&form.date, "收款日期")?;
            write(state, move |o| {
                o.record_payment(
                    &user,
                    &id,
                    amount,
                    date,
                    form.method,
                    form.payer,
                    form.bank_ref,
                )
            })
            .await?;
            "已登记收款"
        }
        "invoice" => {
            let amount = parse_amount(&form.amount)?;
            write(state, move |o| {
                o.invoice(&user, &id, form.number, form.title, amount)
            })
            .await?;
            "已开票"
        }
        "cancel" => {
            write(state, move |o| o.cancel(&user, &id, form.reason)).await?;
            "已取消订单"
        }
        "void-payment" => {
            write(state, move |o| {
                o.void_payment(&user, &id, &form.fact, form.reason)
            })
            .await?;
            "已作废收款"
        }
        "void-invoice" => {
            write(state, move |o| {
                o.void_invoice(&user, &id, &form.fact, form.reason)
            })
            .await?;
            "已红冲发票"
        }
        "resolve-conflict" => {
            write(state, move |o| {
                o.resolve_conflict(&user, &id, &form.field, &form.value)
            })
            .await?;
            "已解决字段冲突"
        }
        _ => return Err(Refusal::Said("不认识的操作".into())),
    };
    Ok(done.to_string())
}

/// The lines of a shipping document (what its release lets go).
fn document_lines(doc: &crate::domain::facts::Fact) -> Vec<ShipLine> {
    match &doc.body {
        FactBody::ShippingDoc { lines, .. } => lines.clone(),
        _ => Vec::new(),
    }
}
