//! 异常收件箱, `/ui/anomalies`: the open anomalies this user's role resolves (the admin sees
//! every role's), each with its order, its kind in Chinese, the detail, when it arose, and how it
//! is closed: a text (处理说明) posted to `/ui/anomalies/resolve`, which calls the same service
//! use case as `POST /api/anomalies/{id}/resolve`, or, for a contradiction only a fact removes,
//! what to do and a link to the order; duplicate customer archives are merged there (the clerk
//! picks the one to keep), as the API's resolve with `keep` does. A refused resolution re-renders the page (or the order
//! page it came from) with the reason in Chinese.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, State};
use axum::response::Html;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::format::{anomaly_label, minute_of, money, quantity, role_label};
use super::order_page::{order_page, reason_in_chinese};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::anomaly::{Anomaly, AnomalyKind};
use crate::domain::facts::FactBody;
use crate::domain::order::Order;
use crate::domain::role::Role;
use crate::http::error::ApiError;
use crate::http::{read, write, AppState};
use crate::service::lifecycle::InboxAnomaly;
use crate::views::{CustomerSummary, OrderSummary};

/// Orders with anomalies the inbox reads at most (as `/api/anomalies`).
pub const INBOX_LIMIT: usize = 500;

pub struct OrderLink {
    pub href: String,
    pub number: String,
}

pub struct InboxRow {
    pub id: String,
    pub slug: &'static str,
    pub kind: &'static str,
    pub detail: String,
    /// When the latest change it rests on was made (China time), or empty.
    pub found: String,
    pub orders: Vec<OrderLink>,
    /// The customer archives it is about (duplicate customers), by name.
    pub customers: String,
    pub resolvers: String,
    /// What removes it, in Chinese, when a text cannot close it; empty otherwise.
    pub instruction: String,
    /// A text may close it and this user's role may write it.
    pub may_resolve: bool,
    /// The resolution typed before a refusal, kept for this row.
    pub typed: String,
    /// Duplicate customers, to the clerk: the archives one of which is kept, `(id, label)`.
    pub keep: Vec<(String, String)>,
    /// Duplicate customers: their archives side by side (并排比较), with the merge.
    pub compare_href: String,
}

#[derive(Template)]
#[template(path = "anomalies.html")]
struct InboxPage {
    chrome: Chrome,
    rows: Vec<InboxRow>,
    all_roles: bool,
    error: String,
    notice: String,
}

/// Whether `role` sees an anomaly its `resolvers` close: their own, or all for the admin.
pub fn sees(role: Role, resolvers: &[Role]) -> bool {
    role == Role::Admin || resolvers.contains(&role)
}

/// What removes an anomaly a text cannot close, said in Chinese for the person who must act.
pub fn instruction(kind: AnomalyKind) -> String {
    let Some((zh, _)) = kind.removed_only_by() else {
        return String::new();
    };
    let where_ = match kind {
        AnomalyKind::FieldConflict => "请在订单页的「字段冲突」中点「采用此值」选定一个。",
        AnomalyKind::DuplicateCustomer => {
            "选定保留的档案，其余档案并入它（合并后此异常自动消失）。"
        }
        AnomalyKind::DamagedDocument => {
            "本机磁盘上的这份文档已损坏；连上有完好副本的节点后会自动取回，取回后此异常自动消失。"
        }
        AnomalyKind::UnattestedValue => {
            "请在订单页或客户档案中重新录入该值（订单核单后须填写变更原因），保存后此异常自动消失。"
        }
        AnomalyKind::ContractExceeded => {
            "打开合同查看其订单：取消或以变更单减少订单，或起草新版本提高合同金额并签订，此异常自动消失。"
        }
        _ => "请打开订单记录相应的事实，记录后此异常自动消失。",
    };
    format!("{zh}，不能以文字说明关闭。{where_}")
}

/// When the latest change an anomaly rests on was made: the facts it names, else the values of
/// a conflicting field, else the order's latest fact.
pub fn found_at(order: &Order, a: &Anomaly) -> Option<DateTime<Utc>> {
    if a.kind == AnomalyKind::FieldConflict {
        let field = a.id.strip_prefix("conflict:")?;
        return order
            .conflicts
            .iter()
            .find(|c| c.field == field)
            .and_then(|c| c.values.iter().map(|v| v.written_by.at_ms).max())
            .and_then(DateTime::from_timestamp_millis);
    }
    order
        .facts
        .iter()
        .filter(|f| a.id.contains(&f.id) || a.detail.contains(&f.id))
        .map(|f| f.at)
        .max()
        .or_else(|| order.facts.iter().map(|f| f.at).max())
}

/// What an anomaly is about, said in Chinese from the order it is on (the service's `detail`
/// is English, for the API); the service's text when the order does not say more.
pub fn detail_in_chinese(order: Option<&Order>, item: &InboxAnomaly) -> String {
    let a = &item.anomaly;
    let rest = a.id.split_once(':').map(|(_, r)| r).unwrap_or("");
    let fact = |id: &str| order.and_then(|o| o.facts.iter().find(|f| f.id == id));
    let by_whom = |id: &str| {
        fact(id)
            .map(|f| {
                format!(
                    "{}（{}）{} 在节点 {} 记录的发货",
                    f.user,
                    role_label(f.role),
                    minute_of(&f.at.to_rfc3339()),
                    f.node
                )
            })
            .unwrap_or_else(|| "一次发货".to_string())
    };
    let line = |id: &str| order.and_then(|o| o.lines.iter().find(|l| l.id == id));
    // One value on several orders: `<slug>:<value>:<orders>`.
    let shared_value = || rest.rsplit_once(':').map_or(rest, |(v, _)| v);
    match (a.kind, order) {
        (AnomalyKind::ShippedWhileCancelled, _) => {
            let count = rest.split('+').count();
            if a.id.starts_with("shipped-after-rest-cancelled") {
                format!("订单余量取消之后仍记录了 {count} 次发货")
            } else {
                format!("订单已取消，却记录了 {count} 次发货")
            }
        }
        (AnomalyKind::ShippedWithoutRelease, Some(_)) => {
            format!("{}，当时该节点没有看到财务放行", by_whom(rest))
        }
        (AnomalyKind::ShippedBeyondRelease, Some(_)) => {
            format!("{}超出了放行出货单上的货品或数量", by_whom(rest))
        }
        (AnomalyKind::StaleRelease, Some(_)) => {
            let shipment = rest.split(':').next().unwrap_or("");
            format!(
                "{}按旧版出货单的放行发出，新版出货单没有经过财务放行",
                by_whom(shipment)
            )
        }
        (AnomalyKind::OverShipped, Some(_)) => {
            let id = rest.split(':').next().unwrap_or("");
            match line(id) {
                Some(l) => format!(
                    "{} 订购 {}，已发 {}，超过订购数量",
                    l.sku,
                    quantity(l.quantity),
                    quantity(l.shipped)
                ),
                None => a.detail.clone(),
            }
        }
        (AnomalyKind::OverReturned, Some(o)) => {
            let id = rest.split(':').next().unwrap_or("");
            let back = o.requested_back().get(id).copied().unwrap_or_default();
            match line(id) {
                Some(l) => format!(
                    "{} 申请退货 {}，超过已发的 {}",
                    l.sku,
                    quantity(back),
                    quantity(l.shipped)
                ),
                None => a.detail.clone(),
            }
        }
        (AnomalyKind::DuplicateBankRef, None) => format!(
            "银行流水号 {} 登记在 {} 张订单的收款上",
            shared_value(),
            item.orders.len()
        ),
        (AnomalyKind::DuplicateBankRef, Some(_)) => {
            format!("银行流水号 {rest} 在本订单登记了不止一笔收款")
        }
        (AnomalyKind::DuplicateInvoiceNumber, None) => format!(
            "发票号 {} 开在 {} 张订单上",
            shared_value(),
            item.orders.len()
        ),
        (AnomalyKind::DuplicateInvoiceNumber, Some(_)) => {
            format!("发票号 {rest} 在本订单开了不止一张")
        }
        (AnomalyKind::OverPaid, Some(o)) => format!(
            "已收款 {}，超过订单应收 {}",
            money(o.paid()),
            money(o.due_total())
        ),
        (AnomalyKind::OverInvoiced, Some(o)) => format!(
            "已开票 {}，超过订单应收 {}",
            money(o.invoiced()),
            money(o.due_total())
        ),
        (AnomalyKind::ReturnWithoutApproval, Some(_)) => "退货未经销售副总审批就已入库".to_string(),
        (AnomalyKind::InvoiceTitleMismatch, Some(o)) => match fact(rest).map(|f| &f.body) {
            Some(FactBody::Invoice { number, title, .. }) => format!(
                "发票 {number} 的抬头是“{title}”，与核单的开票名称“{}”不符",
                o.get("invoice_title")
            ),
            _ => a.detail.clone(),
        },
        (AnomalyKind::FieldConflict, Some(o)) => {
            let values = o
                .conflicts
                .iter()
                .find(|c| c.field == rest)
                .map(|c| {
                    c.values
                        .iter()
                        .map(|v| format!("“{}”（{}）", v.value, v.written_by.user))
                        .collect::<Vec<_>>()
                        .join("、")
                })
                .unwrap_or_default();
            format!("字段 {rest} 在不同节点上被改成了不同的值：{values}")
        }
        (AnomalyKind::ContractExceeded, _) => {
            super::order_page::chinese_half(&a.detail).to_string()
        }
        (AnomalyKind::DuplicateCustomer, _) => format!(
            "{} 份客户档案看来是同一个客户（税号、手机或名称加城市相同）",
            item.customers.len()
        ),
        _ => a.detail.clone(),
    }
}

/// The inbox rows for `signed`'s role, read in one blocking step.
fn rows_for(
    office: &crate::service::BackOffice,
    role: Role,
) -> Result<Vec<InboxRow>, crate::service::ServiceError> {
    let mut orders: HashMap<String, Order> = HashMap::new();
    let mut numbers: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::new();
    let listed: Vec<InboxAnomaly> = office
        .anomalies(INBOX_LIMIT)?
        .into_iter()
        .filter(|a| sees(role, &a.anomaly.resolvers))
        .collect();
    for item in listed {
        let a = &item.anomaly;
        let mut found = String::new();
        let mut links = Vec::new();
        if let Some(order_id) = &item.order_id {
            if !orders.contains_key(order_id) {
                orders.insert(order_id.clone(), office.order(order_id)?);
            }
            if let Some(at) = orders.get(order_id).and_then(|o| found_at(o, a)) {
                found = minute_of(&at.to_rfc3339());
            }
            links.push(OrderLink {
                href: format!("/ui/orders/{order_id}"),
                number: item.order_number.clone().unwrap_or_default(),
            });
        }
        if let Some(complaint) = &item.complaint {
            links.push(OrderLink {
                href: format!("/ui/complaints/{}", complaint.id),
                number: format!("客诉 {}", complaint.number),
            });
        }
        for order_id in &item.orders {
            if !numbers.contains_key(order_id) {
                let number = office
                    .summary_of::<OrderSummary>(order_id)?
                    .map(|s| s.number)
                    .unwrap_or_else(|| order_id.clone());
                numbers.insert(order_id.clone(), number);
            }
            links.push(OrderLink {
                href: format!("/ui/orders/{order_id}"),
                number: numbers.get(order_id).cloned().unwrap_or_default(),
            });
        }
        let mut customers = Vec::new();
        for id in &item.customers {
            customers.push(
                office
                    .summary_of::<CustomerSummary>(id)?
                    .map(|c| format!("{}（{} {}）", c.name, c.code, c.city))
                    .unwrap_or_else(|| id.clone()),
            );
        }
        if a.kind == AnomalyKind::ContractExceeded {
            // `contract-exceeded:<contract>:<used>`: the contract's page lists its orders.
            if let Some(contract) = a.id.split(':').nth(1) {
                links.push(OrderLink {
                    href: format!("/ui/contracts/{contract}"),
                    number: "合同".into(),
                });
            }
        }
        if a.kind != AnomalyKind::DuplicateCustomer {
            for (id, label) in item.customers.iter().zip(&customers) {
                links.push(OrderLink {
                    href: format!("/ui/customers/{id}"),
                    number: format!("客户 {label}"),
                });
            }
        }
        let keep = if a.kind == AnomalyKind::DuplicateCustomer && a.resolvers.contains(&role) {
            item.customers
                .iter()
                .cloned()
                .zip(customers.iter().cloned())
                .collect()
        } else {
            Vec::new()
        };
        let compare_href = if a.kind == AnomalyKind::DuplicateCustomer {
            super::customer_compare::compare_href(&item.customers, &item.id)
        } else {
            String::new()
        };
        let instruction = instruction(a.kind);
        let order = item.order_id.as_ref().and_then(|id| orders.get(id));
        rows.push(InboxRow {
            id: item.id.clone(),
            slug: a.kind.slug(),
            kind: anomaly_label(a.kind),
            detail: detail_in_chinese(order, &item),
            found,
            orders: links,
            customers: customers.join("；"),
            resolvers: a
                .resolvers
                .iter()
                .map(|r| role_label(*r))
                .collect::<Vec<_>>()
                .join("、"),
            may_resolve: instruction.is_empty() && a.resolvers.contains(&role),
            instruction,
            typed: String::new(),
            keep,
            compare_href,
        });
    }
    Ok(rows)
}

async fn inbox(
    state: &AppState,
    signed: &SignedIn,
    error: String,
    notice: String,
    typed: Option<(String, String)>,
) -> Result<Html<String>, PageError> {
    let role = signed.user.role;
    let mut rows = read(state, move |office| rows_for(office, role)).await?;
    if let Some((id, text)) = typed {
        if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
            row.typed = text;
        }
    }
    render(&InboxPage {
        chrome: Chrome::new(state, signed, "/ui/anomalies"),
        rows,
        all_roles: role == Role::Admin,
        error,
        notice,
    })
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, PageError> {
    inbox(&state, &signed, String::new(), String::new(), None).await
}

#[derive(Deserialize, Default)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    /// The anomaly's public id.
    #[serde(default)]
    id: String,
    #[serde(default)]
    resolution: String,
    /// The order page the form was on, to go back to; empty from the inbox.
    #[serde(default)]
    order: String,
    /// Duplicate customers: the archive to keep, the others merged into it.
    #[serde(default)]
    keep: String,
}

/// Closes an anomaly with a text, through the same use cases as the API; a refusal is said in
/// Chinese on the page the form came from.
pub async fn resolve(
    State(state): State<AppState>,
    signed: SignedIn,
    Form(form): Form<ResolveForm>,
) -> Result<Html<String>, PageError> {
    signed.check_csrf(&form.csrf)?;
    let user = signed.user.clone();
    let (id, resolution, keep) = (form.id.clone(), form.resolution.clone(), form.keep.clone());
    let merging = id.starts_with("customers-");
    let outcome = write(&state, move |o| {
        if merging {
            if keep.is_empty() {
                return Err(crate::service::lifecycle::rule(
                    "请选择要保留的客户档案，其余档案将并入它",
                    "name the customer archive to keep",
                ));
            }
            o.merge_customers(&user, &id, &keep, &resolution)
        } else {
            o.resolve_with_text(&user, &id, resolution).map(|_| ())
        }
    })
    .await;
    let (error, notice) = match outcome {
        Ok(()) if merging => (String::new(), "已合并客户档案，此异常已关闭".to_string()),
        Ok(()) => (String::new(), "已记录处理结果，此异常已关闭".to_string()),
        Err(ApiError::Invalid(errors)) if errors.iter().any(|e| e.field == "keep") => {
            ("要保留的档案须是重复档案之一".to_string(), String::new())
        }
        Err(ApiError::NotFound(_)) => (
            "找不到这条未处理的异常，它可能已被别人处理".to_string(),
            String::new(),
        ),
        Err(ApiError::Invalid(errors)) if errors.iter().any(|e| e.field == "resolution") => (
            "请写明处理结果（处理说明不能为空）".to_string(),
            String::new(),
        ),
        Err(e) => (reason_in_chinese(e)?, String::new()),
    };
    if form.order.is_empty() {
        let typed = (!error.is_empty()).then_some((form.id, form.resolution));
        inbox(&state, &signed, error, notice, typed).await
    } else {
        order_page(&state, &signed, &form.order, error, notice, None).await
    }
}
