//! The order lifecycle as facts: each step is a new fact on the order, checked against the rules
//! on what this node knows. Physical facts (shipments, returns received) are refused only when
//! impossible on their face, never for a missing approval: that becomes an anomaly instead.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

use super::orders::OrderView;
use super::{BackOffice, ServiceError, User};
use crate::domain::anomaly;
use crate::domain::facts::{
    CreditDecision, CreditKind, Disposition, Fact, FactBody, Party, ReturnKind, ShipLine,
};
use crate::domain::money::{line_amount, scale_of};
use crate::domain::order::{validate_amount, Order, Status, ORDER_KIND, QUANTITY_SCALE};
use crate::domain::record::RecordOp;
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;
use crate::views;

/// A rule broken on what this node knows: refused with 409, the rule stated in Chinese and in
/// English.
pub fn rule(zh: &str, en: impl Into<String>) -> ServiceError {
    ServiceError::Rule(format!("{zh} / {}", en.into()))
}

/// Checks that every line exists on the order and every quantity is positive.
fn check_lines(order: &Order, lines: &[ShipLine]) -> Result<(), ServiceError> {
    let mut errors = FieldErrors::default();
    if lines.is_empty() {
        errors.push("lines", "at least one line");
    }
    // A line this node does not know on the order is a fact about the node's state (it may
    // have been added elsewhere), not a malformed field: 409, like the other rules.
    if let Some(l) = lines
        .iter()
        .find(|l| !order.lines.iter().any(|ol| ol.id == l.line))
    {
        return Err(rule(
            &format!("订单上没有这一行: {}", l.line),
            format!("no such line on this order: {}", l.line),
        ));
    }
    for (i, l) in lines.iter().enumerate() {
        if l.quantity <= Decimal::ZERO {
            errors.push(format!("lines[{i}].quantity"), "must be greater than zero");
        }
        if scale_of(l.quantity) > QUANTITY_SCALE {
            errors.push(format!("lines[{i}].quantity"), "at most 3 decimal places");
        }
        if let Some(price) = l.unit_price {
            if price < Decimal::ZERO || scale_of(price) > 4 {
                errors.push(
                    format!("lines[{i}].unit_price"),
                    "a non-negative price with at most 4 decimals",
                );
            }
        }
    }
    Ok(errors.into_result()?)
}

/// The quantities asked for, added up per line (a line may be named twice).
/// The orders and the payments holding one shared value (a bank reference, an invoice number).
type SharedBy = (Vec<String>, Vec<String>);

fn per_line(lines: &[ShipLine]) -> BTreeMap<&str, Decimal> {
    let mut sum: BTreeMap<&str, Decimal> = BTreeMap::new();
    for l in lines {
        *sum.entry(l.line.as_str()).or_default() += l.quantity;
    }
    sum
}

fn refuse_if_closed(order: &Order, what_zh: &str, what_en: &str) -> Result<(), ServiceError> {
    match order.status() {
        Status::Cancelled => Err(rule(
            &format!("已取消的订单不能{what_zh}"),
            format!("a cancelled order cannot be {what_en}"),
        )),
        Status::Archived => Err(rule(
            &format!("已归档的订单不能{what_zh}"),
            format!("an archived order cannot be {what_en}"),
        )),
        _ => Ok(()),
    }
}

/// An order holding a value no authorised node signed (`domain::attest`) is neither released
/// nor shipped: the value (a price, a quantity, an address) may be a forgery, and a clerk must
/// write it again (correct or confirm it) first.
fn refuse_if_unattested(order: &Order, what_zh: &str, what_en: &str) -> Result<(), ServiceError> {
    if order.unattested.is_empty() {
        return Ok(());
    }
    let paths: Vec<&str> = order.unattested.iter().map(|u| u.path.as_str()).collect();
    Err(rule(
        &format!(
            "订单有未经授权的字段修改（{}），须内勤改正或确认后才能{what_zh}",
            paths.join("、")
        ),
        format!(
            "the order holds values no authorised node signed ({}): it cannot be {what_en} until a clerk corrects or confirms them",
            paths.join(", ")
        ),
    ))
}

/// A 出货单 as the clerk fills it in.
#[derive(Debug, Clone, Default)]
pub struct ShippingDocInput {
    pub lines: Vec<ShipLine>,
    pub ship_date: Option<NaiveDate>,
    /// 运送途径: carrier, freight depot or own truck.
    pub route: String,
    /// 付费方式: who pays freight.
    pub freight_payer: String,
}

/// Finance's decision to let goods go before the money is in.
#[derive(Debug, Clone)]
pub struct CreditInput {
    pub kind: CreditKind,
    pub reason: String,
}

/// The quantities a release lets ship, per line: its shipping document's lines.
fn released_lines<'a>(order: &'a Order, release: &Fact) -> BTreeMap<&'a str, Decimal> {
    let FactBody::FinanceRelease { shipping_doc, .. } = &release.body else {
        return BTreeMap::new();
    };
    match order
        .facts
        .iter()
        .find(|f| f.id == *shipping_doc)
        .map(|f| &f.body)
    {
        Some(FactBody::ShippingDoc { lines, .. }) => per_line(lines),
        _ => BTreeMap::new(),
    }
}

/// A stable public id for an anomaly: the order id and a digest of its local id.
pub fn public_anomaly_id(order_id: &str, local_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(local_id.as_bytes());
    format!("{order_id}-{}", hex::encode(&digest[..6]))
}

/// An anomaly as the inbox lists it, with its order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InboxAnomaly {
    /// The id to resolve it by.
    pub id: String,
    /// The order it is about, or None for duplicate customers.
    pub order_id: Option<String>,
    pub order_number: Option<String>,
    /// The complaint it is about (越权或伪造的记录 on a complaint): its id and number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaint: Option<ComplaintRef>,
    /// The customer archives it is about (duplicate customers).
    pub customers: Vec<String>,
    /// The orders it is about, when it spans orders (one bank reference on two orders).
    pub orders: Vec<String>,
    pub anomaly: anomaly::Anomaly,
}

/// What a text resolution was recorded on.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Resolved {
    Order(OrderView),
    Complaint(super::complaints::ComplaintView),
}

/// Whether `user` may close `target` with the text `resolution`: the anomaly names the user's
/// role, no fact alone removes it, and the text says something. `on` (Chinese, English) ends a
/// refusal with what the anomaly is on.
pub(super) fn check_text_resolution(
    user: &User,
    public_id: &str,
    target: &anomaly::Anomaly,
    resolution: &str,
    on: (String, String),
) -> Result<(), ServiceError> {
    if !target.resolvers.contains(&user.role) {
        return Err(ServiceError::Forbidden(format!(
            "anomaly {public_id} is resolved by {:?}, not {}",
            target.resolvers, user.role
        )));
    }
    if let Some((zh, en)) = target.kind.removed_only_by() {
        return Err(rule(
            &format!("此异常不能以文字关闭：{zh}{}", on.0),
            format!("this anomaly cannot be closed with a text: {en}{}", on.1),
        ));
    }
    if resolution.trim().is_empty() {
        return Err(FieldErrors::single("resolution", "say how it was resolved").into());
    }
    Ok(())
}

/// An anomaly of no one order (`local` its id, its public id under `prefix`: `shared` for one
/// found from an index across orders, `damaged`), which only a fact or a fresh copy removes.
pub(super) fn inbox_anomaly(
    prefix: &str,
    kind: anomaly::AnomalyKind,
    local: String,
    detail: String,
    orders: Vec<String>,
) -> InboxAnomaly {
    InboxAnomaly {
        id: public_anomaly_id(prefix, &local),
        order_id: None,
        order_number: None,
        complaint: None,
        customers: Vec::new(),
        anomaly: anomaly::Anomaly {
            id: local,
            kind,
            detail,
            resolvers: kind.resolvers().to_vec(),
            resolution: None,
        },
        orders,
    }
}

/// A complaint an inbox anomaly is about.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComplaintRef {
    pub id: String,
    pub number: String,
}

impl BackOffice {
    /// Appends one fact built from the current order; `build` refuses when a rule is broken.
    pub fn record_fact(
        &self,
        user: &User,
        order_id: &str,
        action: Action,
        what: &str,
        build: impl FnOnce(&Order) -> Result<FactBody, ServiceError>,
    ) -> Result<OrderView, ServiceError> {
        user.require(action)?;
        append_fact(self, user, order_id, what, build)
    }

    /// 核单: all three parties confirmed every checked item, and the order is complete enough
    /// to be produced and shipped.
    pub fn verify(
        &self,
        user: &User,
        id: &str,
        parties: Vec<Party>,
        checked: BTreeMap<String, bool>,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Verify, "verify (核单)", |order| {
            refuse_if_closed(order, "核单", "verified")?;
            if order.verified_now() {
                return Err(rule(
                    "订单已核单，变更后才需再次核单",
                    "the order is already verified as it stands; only a change order needs a new 核单",
                ));
            }
            let missing: Vec<&str> = [
                (Party::Salesperson, "业务员"),
                (Party::Customer, "客户"),
                (Party::Workshop, "车间"),
            ]
            .into_iter()
            .filter(|(p, _)| !parties.contains(p))
            .map(|(_, name)| name)
            .collect();
            if !missing.is_empty() {
                return Err(rule(
                    &format!("核单须与业务员、客户、车间三方确认，缺少：{}", missing.join("、")),
                    "核单 needs the salesperson, the customer and the workshop to confirm",
                ));
            }
            let failed: Vec<&str> = checked
                .iter()
                .filter(|(_, ok)| !**ok)
                .map(|(field, _)| field.as_str())
                .collect();
            if !failed.is_empty() {
                return Err(rule(
                    &format!("核单项目未全部确认：{}", failed.join("、")),
                    format!("every checked item must be confirmed; not confirmed: {}", failed.join(", ")),
                ));
            }
            let mut incomplete: Vec<(&str, &str)> = Vec::new();
            for (field, zh) in [
                ("ship_address", "送货地址"),
                ("receiver", "收货人"),
                ("receiver_phone", "联系电话"),
                ("promised_ship_date", "交货日期"),
            ] {
                if order.get(field).trim().is_empty() {
                    incomplete.push((field, zh));
                }
            }
            if order.tax_included() {
                if order.tax_rate().is_zero() {
                    incomplete.push(("tax_rate", "税率"));
                }
                if order.get("invoice_title").trim().is_empty() {
                    incomplete.push(("invoice_title", "开票名称"));
                }
            }
            if order.lines.iter().any(|l| l.unit_price <= Decimal::ZERO) {
                incomplete.push(("unit_price", "每行单价"));
            }
            if !incomplete.is_empty() {
                let zh: Vec<&str> = incomplete.iter().map(|(_, zh)| *zh).collect();
                let en: Vec<&str> = incomplete.iter().map(|(f, _)| *f).collect();
                return Err(rule(
                    &format!("核单前须填写：{}", zh.join("、")),
                    format!("the order needs these before 核单: {}", en.join(", ")),
                ));
            }
            Ok(FactBody::Verified { parties, checked })
        })
    }

    /// 审核: the supervisor approves an order verified as it stands.
    pub fn approve(&self, user: &User, id: &str, note: String) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Approve, "approve (审核)", |order| {
            refuse_if_closed(order, "审核", "approved")?;
            if !order.verified_now() {
                return Err(rule(
                    "订单须先核单才能审核",
                    "an order must be verified (核单) before it is approved",
                ));
            }
            if order.approved_now() {
                return Err(rule("订单已审核", "the order is already approved"));
            }
            Ok(FactBody::Approved { note })
        })
    }

    /// 下单: once, after 审核.
    pub fn release_to_workshop(&self, user: &User, id: &str) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::ReleaseToWorkshop,
            "release to workshop (下单)",
            |order| {
                refuse_if_closed(order, "下单", "released to the workshop")?;
                if order.released_to_workshop() {
                    return Err(rule(
                        "订单已下单，下单只能一次",
                        "the order was already released to the workshop; 下单 happens once",
                    ));
                }
                if !order.verified_now() || !order.approved_now() {
                    return Err(rule(
                        "订单须核单并经主管审核后才能下单",
                        "an order must be verified (核单) and approved (审核) before it is released to the workshop",
                    ));
                }
                Ok(FactBody::ReleasedToWorkshop)
            },
        )
    }

    pub fn progress(
        &self,
        user: &User,
        id: &str,
        note: String,
        revised_date: Option<NaiveDate>,
        delay_reason: Option<String>,
    ) -> Result<OrderView, ServiceError> {
        // The history names each revised date, so it shows every date the customer was told.
        let what = match revised_date {
            Some(date) => format!("production note (跟单), promised date revised to {date}"),
            None => "production note (跟单)".to_string(),
        };
        self.record_fact(user, id, Action::Progress, &what, |_| {
            if note.trim().is_empty() {
                return Err(FieldErrors::single("note", "must not be empty").into());
            }
            Ok(FactBody::Progress {
                note,
                revised_date,
                delay_reason,
            })
        })
    }

    /// 出货单: exact lines, quantities and prices to ship, never more than ordered minus
    /// shipped, with ship date, route and who pays freight.
    pub fn shipping_doc(
        &self,
        user: &User,
        id: &str,
        doc: ShippingDocInput,
    ) -> Result<OrderView, ServiceError> {
        let ShippingDocInput {
            lines,
            ship_date,
            route,
            freight_payer,
        } = doc;
        user.require(Action::ShippingDoc)?;
        let mut errors = FieldErrors::default();
        if ship_date.is_none() {
            errors.push(
                "ship_date",
                "出货单须有发货日期 / the ship date is required",
            );
        }
        if route.trim().is_empty() {
            errors.push(
                "route",
                "出货单须写明运送途径 / the route (运送途径) is required",
            );
        }
        if freight_payer.trim().is_empty() {
            errors.push(
                "freight_payer",
                "出货单须写明付费方式 / who pays freight (付费方式) is required",
            );
        }
        errors.into_result()?;
        self.record_fact(
            user,
            id,
            Action::ShippingDoc,
            "shipping document (出货单)",
            |order| {
                check_lines(order, &lines)?;
                refuse_if_closed(order, "开出货单", "given a shipping document")?;
                if order.remainder_cancelled().is_some() {
                    return Err(rule("订单余量已取消，不能再开出货单", "the rest of this order was cancelled"));
                }
                if !order.verified_now() || !order.approved_now() || !order.released_to_workshop() {
                    return Err(rule(
                        "订单须核单、审核并下单后才能开出货单",
                        "a shipping document needs the order verified (核单), approved (审核) and released to the workshop (下单)",
                    ));
                }
                for (line_id, qty) in per_line(&lines) {
                    let Some(line) = order.lines.iter().find(|l| l.id == line_id) else {
                        continue;
                    };
                    let left = line.quantity - line.shipped;
                    if qty > left {
                        return Err(rule(
                            &format!("出货数量不能超过未发数量：{} 订购 {}，已发 {}，本单 {}", line.sku, line.quantity, line.shipped, qty),
                            format!("a shipping document lists at most ordered minus shipped: line {} ({}) ordered {}, shipped {}, listed {}", line.id, line.sku, line.quantity, line.shipped, qty),
                        ));
                    }
                }
                let mut priced = Vec::with_capacity(lines.len());
                for l in lines {
                    let Some(line) = order.lines.iter().find(|ol| ol.id == l.line) else {
                        continue;
                    };
                    if let Some(price) = l.unit_price {
                        if price != line.unit_price {
                            return Err(rule(
                                &format!("出货单价格须与订单一致（{} 单价 {}），改价须走变更单", line.sku, line.unit_price),
                                format!("the price of line {} must be the order's ({}); prices change through a change order", line.id, line.unit_price),
                            ));
                        }
                    }
                    priced.push(ShipLine {
                        unit_price: Some(line.unit_price),
                        ..l
                    });
                }
                Ok(FactBody::ShippingDoc {
                    lines: priced,
                    ship_date,
                    route,
                    freight_payer,
                })
            },
        )
    }

    /// 财务放行 of the current shipping-document version. Paid and due are recorded; with
    /// less paid than due, finance states a credit decision within the customer's credit limit.
    pub fn finance_release(
        &self,
        user: &User,
        id: &str,
        shipping_doc: Option<String>,
        credit: Option<CreditInput>,
    ) -> Result<OrderView, ServiceError> {
        user.require(Action::FinanceRelease)?;
        // The customer's other orders are read before the write: their outstanding amounts
        // bound the credit this release may extend.
        let customer_id = self.order(id)?.get("customer_id").to_string();
        let outstanding_elsewhere = self.outstanding_of_customer(&customer_id, Some(id))?;
        // A limit no authorised node signed (`domain::attest`) extends no credit.
        let (credit_limit, limit_unattested) = match self.customer(&customer_id) {
            Ok(c) => (c.credit_limit(), c.is_unattested("credit_limit")),
            Err(_) => (Decimal::ZERO, false),
        };
        self.record_fact(user, id, Action::FinanceRelease, "finance release (财务放行)", |order| {
            refuse_if_closed(order, "放行", "released")?;
            refuse_if_unattested(order, "放行", "released")?;
            let docs = order.shipping_docs();
            let current = order.current_shipping_doc();
            let target = match (&shipping_doc, current) {
                (Some(doc), _) if !docs.iter().any(|f| &f.id == doc) => {
                    return Err(rule(
                        &format!("出货单 {doc} 不存在"),
                        format!("cannot release shipping document {doc}: it does not exist on this order"),
                    ))
                }
                (Some(doc), Some(cur)) if *doc != cur.id => {
                    let version = docs.iter().position(|f| &f.id == doc).map_or(0, |i| i + 1);
                    return Err(rule(
                        &format!("只能放行最新版本的出货单（第 {version} 版已被取代）"),
                        format!("only the current shipping document can be released; version {version} was superseded"),
                    ));
                }
                (_, Some(cur)) => cur,
                (_, None) => {
                    return Err(rule(
                        "没有待放行的出货单（变更单之后须重新开出货单）",
                        "there is no current shipping document to release (after a change order a new one is needed)",
                    ))
                }
            };
            if order.release_in_force().is_some_and(|r| matches!(&r.body, FactBody::FinanceRelease { shipping_doc, .. } if *shipping_doc == target.id)) {
                return Err(rule("该出货单已放行", "this shipping document is already released"));
            }
            let FactBody::ShippingDoc { lines, .. } = &target.body else {
                return Err(ServiceError::NotFound(format!("shipping document {}", target.id)));
            };
            let doc_value: Decimal = lines
                .iter()
                .filter_map(|l| {
                    let line = order.lines.iter().find(|ol| ol.id == l.line)?;
                    Some(line_amount(l.quantity, l.unit_price.unwrap_or(line.unit_price)))
                })
                .sum();
            let due = (order.shipped_value() + doc_value).min(order.due_total());
            let paid = order.paid();
            let credit = if paid >= due {
                None
            } else {
                let short = due - paid;
                let Some(decision) = credit else {
                    return Err(rule(
                        &format!("货款未到位：应收 {due}，已收 {paid}；须款到发货，或注明赊销/月结及理由"),
                        format!("paid {paid} of {due} due: payment must arrive before shipping, or give a credit decision (credit_sale or monthly) with a reason"),
                    ));
                };
                if decision.reason.trim().is_empty() {
                    return Err(FieldErrors::single("credit.reason", "赊销/月结须写明理由 / a credit decision needs a reason").into());
                }
                if limit_unattested {
                    return Err(rule(
                        &format!("客户信用额度 {credit_limit} 未经授权修改，须内勤改正或确认后才能赊销/月结放行"),
                        format!("the customer's credit limit {credit_limit} was written by no authorised node: no credit until a clerk corrects or confirms it"),
                    ));
                }
                if outstanding_elsewhere + short > credit_limit {
                    return Err(rule(
                        &format!("超出客户信用额度：额度 {credit_limit}，其他订单欠款 {outstanding_elsewhere}，本次赊欠 {short}"),
                        format!("credit limit {credit_limit} exceeded: owed on other orders {outstanding_elsewhere}, this release {short}"),
                    ));
                }
                Some(CreditDecision {
                    kind: decision.kind,
                    reason: decision.reason,
                    amount: short,
                })
            };
            Ok(FactBody::FinanceRelease {
                shipping_doc: target.id.clone(),
                paid: Some(paid),
                due: Some(due),
                credit,
            })
        })
    }

    /// What a customer owes on goods already shipped, over its orders (`except` left out), from
    /// the order summaries.
    pub fn outstanding_of_customer(
        &self,
        customer: &str,
        except: Option<&str>,
    ) -> Result<Decimal, ServiceError> {
        let mut owed = Decimal::ZERO;
        for entry in
            self.store
                .scan_index(views::ORDER_CUSTOMER, &format!("{customer}|"), None, false)
        {
            let (_, doc) = entry?;
            if Some(doc.as_str()) == except {
                continue;
            }
            if let Some(summary) = self.summary_of::<views::OrderSummary>(&doc)? {
                if !matches!(summary.status, Status::Cancelled) {
                    owed += (summary.shipped_value - summary.paid).max(Decimal::ZERO);
                }
            }
        }
        Ok(owed)
    }

    /// Records a shipment under the release in force: only lines and quantities of the released
    /// shipping document. `already_left`: the goods are gone and this only records it, so the
    /// missing-release and cancelled rules give way (the contradiction becomes an anomaly).
    #[allow(clippy::too_many_arguments)]
    pub fn ship(
        &self,
        user: &User,
        id: &str,
        lines: Vec<ShipLine>,
        carrier: String,
        waybill: String,
        cartons: u32,
        already_left: bool,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Ship, "shipment (发货)", |order| {
            check_lines(order, &lines)?;
            let releases: Vec<String> = order.releases().iter().map(|(f, _)| f.id.clone()).collect();
            let in_force = order.release_in_force();
            if !already_left {
                refuse_if_unattested(order, "发货", "shipped")?;
                if order.is_cancelled() {
                    return Err(rule("已取消的订单不能发货", "cannot ship a cancelled order"));
                }
                if order.remainder_cancelled().is_some() {
                    return Err(rule("订单余量已取消，不能再发货", "the rest of this order was cancelled"));
                }
                if in_force.is_none() {
                    return Err(if releases.is_empty() {
                        rule(
                            "未经财务放行不能发货（经财务认可货款到位后交仓库发货）",
                            "cannot ship without a finance release (财务放行) known to this node",
                        )
                    } else {
                        rule(
                            "财务放行的是旧版本出货单或变更单之前的出货单，须财务重新放行",
                            "the finance release covers an older shipping document or predates a change order; finance must release again",
                        )
                    });
                }
            }
            let adding = per_line(&lines);
            for line in &order.lines {
                let more = adding.get(line.id.as_str()).copied().unwrap_or_default();
                if line.shipped + more > line.quantity {
                    return Err(rule(
                        &format!("发货不能超过订购数量：{} 订购 {}，已发 {}，本次 {}", line.sku, line.quantity, line.shipped, more),
                        format!(
                            "cannot ship more than ordered on line {} ({}): ordered {}, shipped {}, shipping {}",
                            line.id, line.sku, line.quantity, line.shipped, more
                        ),
                    ));
                }
            }
            // The release this shipment goes out under, if its document covers it.
            let mut release = None;
            if let Some(r) = in_force {
                let released = released_lines(order, r);
                let shipped = order.shipped_under(&r.id);
                let beyond = adding.iter().find(|(line, qty)| {
                    let allowed = released.get(**line).copied().unwrap_or_default();
                    shipped.get(**line).copied().unwrap_or_default() + **qty > allowed
                });
                match beyond {
                    Some((line, _)) if !already_left => {
                        let sku = order.lines.iter().find(|l| l.id == *line).map_or("", |l| l.sku.as_str());
                        return Err(rule(
                            &format!("只能发放行出货单上的货品和数量（{sku} 超出）"),
                            format!("only the lines and quantities of the released shipping document may ship (line {line} exceeds it)"),
                        ));
                    }
                    Some(_) => {}
                    None => release = Some(r.id.clone()),
                }
            }
            let priced = lines
                .into_iter()
                .map(|l| {
                    let price = order.lines.iter().find(|ol| ol.id == l.line).map(|ol| ol.unit_price);
                    ShipLine { unit_price: price, ..l }
                })
                .collect();
            Ok(FactBody::Shipment {
                lines: priced,
                carrier,
                waybill,
                cartons,
                releases_seen: releases,
                release,
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record_payment(
        &self,
        user: &User,
        id: &str,
        amount: Decimal,
        date: NaiveDate,
        method: String,
        payer: String,
        bank_ref: String,
    ) -> Result<OrderView, ServiceError> {
        user.require(Action::RecordPayment)?;
        let mut errors = FieldErrors::default();
        validate_amount(amount, "amount", &mut errors);
        if amount <= Decimal::ZERO {
            errors.push("amount", "must be greater than zero");
        }
        errors.into_result()?;
        // One bank reference once in the company: refused when this node can see it on any
        // order; recorded on two nodes apart, it becomes an anomaly after the merge.
        if !bank_ref.trim().is_empty() {
            if let Some((other, _)) = self.payments_with_ref(&bank_ref)?.into_iter().next() {
                return Err(rule(
                    &format!("流水号 {bank_ref} 已登记过（订单 {other}）"),
                    format!("bank reference {bank_ref} is already recorded (order {other})"),
                ));
            }
        }
        self.record_fact(user, id, Action::RecordPayment, "payment (回款)", |order| {
            let duplicate = order.live_payments().iter().any(|p| {
                matches!(&p.body, FactBody::Payment { bank_ref: r, .. } if !bank_ref.is_empty() && r == &bank_ref)
            });
            if duplicate {
                return Err(rule(
                    &format!("流水号 {bank_ref} 已登记在本订单"),
                    format!("bank reference {bank_ref} is already recorded on this order"),
                ));
            }
            let due = order.due_total();
            if order.paid() + amount > due {
                return Err(rule(
                    &format!("收款超过订单金额：应收 {due}，已收 {}，本次 {amount}", order.paid()),
                    format!("payments would exceed the order total: due {due}, paid {}, this {amount}", order.paid()),
                ));
            }
            Ok(FactBody::Payment {
                amount,
                date,
                method,
                payer,
                bank_ref,
                payment_id: None,
            })
        })
    }

    pub fn void_payment(
        &self,
        user: &User,
        id: &str,
        payment: &str,
        reason: String,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::VoidPayment, "void payment", |order| {
            if !order
                .facts
                .iter()
                .any(|f| f.id == payment && matches!(f.body, FactBody::Payment { .. }))
            {
                return Err(ServiceError::NotFound(format!("payment {payment}")));
            }
            if !order.live_payments().iter().any(|f| f.id == payment) {
                return Err(rule(
                    "该笔收款已作废",
                    format!("payment {payment} is already void"),
                ));
            }
            Ok(FactBody::PaymentVoid {
                payment: payment.to_string(),
                reason,
            })
        })
    }

    /// 开票: a number used once in the company, never more invoiced than due, the title one of
    /// the customer's invoice profiles (and, tax-included, the one verified at 核单).
    pub fn invoice(
        &self,
        user: &User,
        id: &str,
        number: String,
        title: String,
        amount: Decimal,
    ) -> Result<OrderView, ServiceError> {
        user.require(Action::Invoice)?;
        let mut errors = FieldErrors::default();
        validate_amount(amount, "amount", &mut errors);
        if amount <= Decimal::ZERO {
            errors.push("amount", "must be greater than zero");
        }
        if number.trim().is_empty() {
            errors.push("number", "must not be empty");
        }
        errors.into_result()?;
        if let Some(other) = self
            .docs_with(views::INVOICE_NUMBER_USED, number.trim())?
            .into_iter()
            .next()
        {
            return Err(rule(
                &format!("发票号 {number} 已使用（订单 {other}）"),
                format!("invoice number {number} is already used (order {other})"),
            ));
        }
        let customer_id = self.order(id)?.get("customer_id").to_string();
        let titles: Vec<String> = match self.customer(&customer_id) {
            Ok(c) => c.invoice_titles().into_iter().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        };
        self.record_fact(user, id, Action::Invoice, "invoice (开票)", |order| {
            let verified_title = order.get("invoice_title").trim();
            let must_match = order.tax_included() || !verified_title.is_empty();
            if must_match && title.trim() != verified_title {
                return Err(rule(
                    &format!("开票名称须与核单时一致（{}）", order.get("invoice_title")),
                    format!("invoice title must match the verified one ({:?})", order.get("invoice_title")),
                ));
            }
            // The title the order copied at 核单 stays good after its profile is removed from
            // the archive: an order keeps what it copied.
            let own_title = !verified_title.is_empty() && title.trim() == verified_title;
            if !own_title && !titles.is_empty() && !titles.iter().any(|t| t == title.trim()) {
                return Err(rule(
                    &format!("开票名称不在客户档案的开票资料中（{}）", titles.join("、")),
                    format!("invoice title is not one of the customer's invoice profiles ({})", titles.join(", ")),
                ));
            }
            let due = order.due_total();
            if order.invoiced() + amount > due {
                return Err(rule(
                    &format!("开票金额超过订单金额：应开 {due}，已开 {}，本次 {amount}", order.invoiced()),
                    format!("invoiced would exceed the order total: due {due}, invoiced {}, this {amount}", order.invoiced()),
                ));
            }
            Ok(FactBody::Invoice {
                number: number.trim().to_string(),
                title,
                amount,
            })
        })
    }

    /// 红冲: voids an invoice; its number stays used.
    pub fn void_invoice(
        &self,
        user: &User,
        id: &str,
        invoice: &str,
        reason: String,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Invoice, "void invoice (红冲)", |order| {
            if !order
                .facts
                .iter()
                .any(|f| f.id == invoice && matches!(f.body, FactBody::Invoice { .. }))
            {
                return Err(ServiceError::NotFound(format!("invoice {invoice}")));
            }
            if !order.live_invoices().iter().any(|f| f.id == invoice) {
                return Err(rule(
                    "该发票已红冲",
                    format!("invoice {invoice} is already voided"),
                ));
            }
            if reason.trim().is_empty() {
                return Err(FieldErrors::single("reason", "红冲须写明原因 / say why").into());
            }
            Ok(FactBody::InvoiceVoided {
                invoice: invoice.to_string(),
                reason,
            })
        })
    }

    pub fn cancel(&self, user: &User, id: &str, reason: String) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::CancelOrReinstate, "cancel", |order| {
            match order.status() {
                Status::Cancelled => {
                    return Err(rule("订单已取消", "the order is already cancelled"))
                }
                Status::Archived => {
                    return Err(rule(
                        "已归档的订单不能取消",
                        "an archived order cannot be cancelled",
                    ))
                }
                _ => {}
            }
            if order.lines.iter().any(|l| l.shipped > Decimal::ZERO) {
                return Err(rule(
                    "订单已部分发货，只能取消未发部分（cancel-remaining）",
                    "part of the order has shipped: cancel the rest instead (cancel-remaining)",
                ));
            }
            Ok(FactBody::Cancelled { reason })
        })
    }

    /// Cancels what has not shipped of a partly shipped order; what shipped stands.
    pub fn cancel_remaining(
        &self,
        user: &User,
        id: &str,
        reason: String,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::CancelOrReinstate,
            "cancel the rest",
            |order| {
                refuse_if_closed(order, "取消余量", "cancelled")?;
                if order.remainder_cancelled().is_some() {
                    return Err(rule("余量已取消", "the rest is already cancelled"));
                }
                if !order.lines.iter().any(|l| l.shipped > Decimal::ZERO) {
                    return Err(rule(
                        "订单尚未发货，请直接取消订单",
                        "nothing has shipped: cancel the whole order instead",
                    ));
                }
                if order.lines.iter().all(|l| l.shipped >= l.quantity) {
                    return Err(rule(
                        "订单已全部发货，没有余量可取消",
                        "everything has shipped: nothing is left to cancel",
                    ));
                }
                if reason.trim().is_empty() {
                    return Err(FieldErrors::single("reason", "取消须写明原因 / say why").into());
                }
                Ok(FactBody::RemainderCancelled { reason })
            },
        )
    }

    pub fn reinstate(
        &self,
        user: &User,
        id: &str,
        reason: String,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::CancelOrReinstate, "reinstate", |order| {
            if !order.is_cancelled() {
                return Err(rule(
                    "只有已取消的订单才能恢复",
                    "only a cancelled order can be reinstated",
                ));
            }
            // Back under its contract: within what the contract has left.
            self.check_contract_room(order.get("contract"), Some(id), order.totals().gross)?;
            Ok(FactBody::Reinstated { reason })
        })
    }

    pub fn archive(&self, user: &User, id: &str) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Archive, "archive (归档)", |order| {
            let due = order.due_total();
            if order.status() == Status::Archived {
                return Err(rule("订单已归档", "the order is already archived"));
            }
            if !order.fully_shipped() {
                return Err(rule(
                    "订单未全部发货，不能归档",
                    "cannot archive: the order is not fully shipped",
                ));
            }
            if order.paid() < due {
                return Err(rule(
                    &format!("货款未收齐（已收 {} / {due}），不能归档", order.paid()),
                    format!("cannot archive: paid {} of {due}", order.paid()),
                ));
            }
            if order.invoiced() < due {
                return Err(rule(
                    &format!("发票未开齐（已开 {} / {due}），不能归档", order.invoiced()),
                    format!("cannot archive: invoiced {} of {due}", order.invoiced()),
                ));
            }
            Ok(FactBody::Archived)
        })
    }

    /// A supervisor's correction: the only thing an archived order takes.
    pub fn correct(&self, user: &User, id: &str, note: String) -> Result<OrderView, ServiceError> {
        self.record_fact(user, id, Action::Correct, "correction (更正)", |_| {
            if note.trim().is_empty() {
                return Err(
                    FieldErrors::single("note", "更正须写明内容 / say what is corrected").into(),
                );
            }
            Ok(FactBody::Correction { note })
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn request_return(
        &self,
        user: &User,
        id: &str,
        return_kind: ReturnKind,
        lines: Vec<ShipLine>,
        reason: String,
        photos: Vec<String>,
        damaged: bool,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::RequestReturn,
            "return request (退/换/维修)",
            |order| {
                check_lines(order, &lines)?;
                if reason.trim().is_empty() {
                    return Err(FieldErrors::single("reason", "请填写退换原因 / must not be empty").into());
                }
                if damaged && photos.is_empty() {
                    return Err(rule("破损索赔须附照片（需有照片）", "a damage claim needs photos"));
                }
                let back = order.requested_back();
                for (line_id, qty) in per_line(&lines) {
                    let Some(line) = order.lines.iter().find(|l| l.id == line_id) else {
                        continue;
                    };
                    let already = back.get(line_id).copied().unwrap_or_default();
                    if already + qty > line.shipped {
                        return Err(rule(
                            &format!("退货数量不能超过已发数量减已退数量：{} 已发 {}，已申请退 {}，本次 {}", line.sku, line.shipped, already, qty),
                            format!("a return is at most shipped minus already returned: line {} shipped {}, asked back {}, now {}", line.id, line.shipped, already, qty),
                        ));
                    }
                }
                for (i, p) in photos.iter().enumerate() {
                    if self
                        .store
                        .get_raw(&crate::store::keys::attachment(p))?
                        .is_none()
                    {
                        return Err(FieldErrors::single(
                            format!("photos[{i}]"),
                            "no attachment with this hash",
                        )
                        .into());
                    }
                }
                Ok(FactBody::ReturnRequested {
                    return_kind,
                    lines,
                    reason,
                    photos,
                    damaged,
                })
            },
        )
    }

    /// The order holding a return request.
    pub fn order_of_return(&self, return_id: &str) -> Result<String, ServiceError> {
        match self
            .store
            .scan_index(views::ORDER_RETURN, &format!("{return_id}\0"), None, false)
            .next()
        {
            Some(entry) => Ok(entry?.1),
            None => Err(ServiceError::NotFound(format!("return {return_id}"))),
        }
    }

    pub fn decide_return(
        &self,
        user: &User,
        return_id: &str,
        approved: bool,
        note: String,
    ) -> Result<OrderView, ServiceError> {
        let order_id = self.order_of_return(return_id)?;
        let what = if approved {
            "approve return"
        } else {
            "reject return"
        };
        self.record_fact(user, &order_id, Action::DecideReturn, what, |order| {
            let request = order
                .facts
                .iter()
                .find(|f| f.id == return_id)
                .ok_or_else(|| ServiceError::NotFound(format!("return {return_id}")))?;
            if request.user == user.name {
                return Err(rule("不能审批自己的退货申请", "one cannot decide on one's own return request"));
            }
            if order.facts.iter().any(|f| matches!(&f.body, FactBody::ReturnDecided { request, .. } if request == return_id)) {
                return Err(rule("该退货已审批", "this return has already been decided"));
            }
            Ok(FactBody::ReturnDecided {
                request: return_id.to_string(),
                approved,
                note,
            })
        })
    }

    /// 退货入库: once per request, after the VP's approval, at most what was asked back.
    /// `already_arrived`: the goods are physically here without an approval this node knows;
    /// recorded anyway, the contradiction becomes an anomaly for the VP.
    #[allow(clippy::too_many_arguments)]
    pub fn receive_return(
        &self,
        user: &User,
        return_id: &str,
        lines: Vec<ShipLine>,
        condition: String,
        disposition: Disposition,
        tag: String,
        already_arrived: bool,
    ) -> Result<OrderView, ServiceError> {
        let order_id = self.order_of_return(return_id)?;
        self.record_fact(
            user,
            &order_id,
            Action::ReceiveReturn,
            "return received",
            |order| {
                check_lines(order, &lines)?;
                if tag.trim().is_empty() {
                    return Err(FieldErrors::single(
                        "tag",
                        "维修、换货的货品须贴标签，寄回时认货 / goods must be tagged so they can go back to the store",
                    )
                    .into());
                }
                let Some(FactBody::ReturnRequested { lines: asked, .. }) = order.facts.iter().find(|f| f.id == return_id).map(|f| &f.body) else {
                    return Err(ServiceError::NotFound(format!("return {return_id}")));
                };
                let decision = order.facts.iter().find_map(|f| match &f.body {
                    FactBody::ReturnDecided { request, approved, .. } if request == return_id => Some(*approved),
                    _ => None,
                });
                match decision {
                    Some(true) => {}
                    _ if already_arrived => {}
                    Some(false) => return Err(rule("该退货已被驳回，不能入库", "this return was rejected; it cannot be received")),
                    None => return Err(rule("退货须经销售副总批准后才能入库", "a return is received only after the VP approved it")),
                }
                if order.facts.iter().any(|f| matches!(&f.body, FactBody::ReturnReceived { request, .. } if request == return_id)) {
                    return Err(rule("该退货已入库", "this return was already received"));
                }
                let approved = per_line(asked);
                for (line_id, qty) in per_line(&lines) {
                    let allowed = approved.get(line_id).copied().unwrap_or_default();
                    if qty > allowed {
                        return Err(rule(
                            &format!("入库数量不能超过批准数量（{qty} > {allowed}）"),
                            format!("received {qty} on line {line_id}, more than the {allowed} approved"),
                        ));
                    }
                }
                Ok(FactBody::ReturnReceived {
                    request: return_id.to_string(),
                    lines,
                    condition,
                    disposition,
                    tag,
                })
            },
        )
    }

    /// A repaired or exchanged item goes back to the customer, once, after it was received.
    pub fn return_to_customer(
        &self,
        user: &User,
        return_id: &str,
        waybill: String,
    ) -> Result<OrderView, ServiceError> {
        let order_id = self.order_of_return(return_id)?;
        self.record_fact(user, &order_id, Action::ReturnToCustomer, "returned to customer (返还客户)", |order| {
            let Some(FactBody::ReturnRequested { return_kind, .. }) = order.facts.iter().find(|f| f.id == return_id).map(|f| &f.body) else {
                return Err(ServiceError::NotFound(format!("return {return_id}")));
            };
            if *return_kind == ReturnKind::Return {
                return Err(rule("退货不返还客户，只有维修或换货才返还", "only a repair or an exchange goes back to the customer"));
            }
            if !order.facts.iter().any(|f| matches!(&f.body, FactBody::ReturnReceived { request, .. } if request == return_id)) {
                return Err(rule("货品尚未入库，不能返还客户", "the goods have not been received yet"));
            }
            if order.facts.iter().any(|f| matches!(&f.body, FactBody::ReturnedToCustomer { request, .. } if request == return_id)) {
                return Err(rule("已返还客户", "already returned to the customer"));
            }
            Ok(FactBody::ReturnedToCustomer {
                request: return_id.to_string(),
                waybill,
            })
        })
    }

    /// The inbox: open anomalies of every order, newest order first, then those that span
    /// documents (a bank reference or an invoice number on two orders, duplicate customers).
    pub fn anomalies(&self, limit: usize) -> Result<Vec<InboxAnomaly>, ServiceError> {
        let mut out = Vec::new();
        for entry in self
            .store
            .scan_index(views::ORDER_ANOMALIES, "", None, true)
        {
            let (_, doc) = entry?;
            let order = self.order(&doc)?;
            for a in anomaly::open(&order) {
                out.push(InboxAnomaly {
                    id: public_anomaly_id(&order.id, &a.id),
                    order_id: Some(order.id.clone()),
                    order_number: Some(order.get("number").to_string()),
                    complaint: None,
                    customers: Vec::new(),
                    orders: Vec::new(),
                    anomaly: a,
                });
            }
            if out.len() >= limit {
                break;
            }
        }
        out.extend(self.complaint_anomalies(limit)?);
        out.extend(self.damaged_document_anomalies());
        out.extend(self.shared_value_anomalies()?);
        out.extend(self.duplicate_customers()?);
        out.extend(self.customer_anomalies()?);
        Ok(out)
    }

    /// How many anomalies the inbox lists, counted the way it lists them, without loading every
    /// order (the summaries carry each order's count).
    pub fn open_anomaly_count(&self) -> Result<usize, ServiceError> {
        let orders =
            self.summed::<views::OrderSummary>(views::ORDER_ANOMALIES, |s| s.open_anomalies)?;
        let complaints = self.summed::<views::complaints::ComplaintSummary>(
            views::complaints::COMPLAINT_ANOMALIES,
            |s| s.anomalies,
        )?;
        Ok(orders
            + complaints
            + self.store.damaged_documents().len()
            + self.shared_value_anomalies()?.len()
            + self.duplicate_customers()?.len()
            + self.summed::<views::CustomerSummary>(views::CUSTOMER_ANOMALIES, |s| s.anomalies)?)
    }

    /// The sum of `count` over the summaries of the documents listed in `index`.
    fn summed<T: serde::de::DeserializeOwned>(
        &self,
        index: &str,
        count: impl Fn(&T) -> usize,
    ) -> Result<usize, ServiceError> {
        let mut sum = 0;
        for entry in self.store.scan_index(index, "", None, false) {
            let (_, doc) = entry?;
            if let Some(summary) = self.summary_of::<T>(&doc)? {
                sum += count(&summary);
            }
        }
        Ok(sum)
    }

    /// Documents holding `value` in `index` (exact match).
    pub fn docs_with(&self, index: &str, value: &str) -> Result<Vec<String>, ServiceError> {
        let mut docs = Vec::new();
        let value = views::search_key(value);
        for entry in self
            .store
            .scan_index(index, &format!("{value}\0"), None, false)
        {
            docs.push(entry?.1);
        }
        Ok(docs)
    }

    /// The live payments carrying `bank_ref`: (order, payment) pairs, the payment being a
    /// multi-order payment's id or the payment fact's id.
    pub fn payments_with_ref(&self, bank_ref: &str) -> Result<Vec<(String, String)>, ServiceError> {
        let prefix = views::bank_ref_value(bank_ref, "");
        let prefix_len = crate::store::keys::index_prefix(views::PAYMENT_BANK_REF).len();
        let mut out = Vec::new();
        for entry in self
            .store
            .scan_index(views::PAYMENT_BANK_REF, &prefix, None, false)
        {
            let (key, doc) = entry?;
            let value = String::from_utf8_lossy(&key[prefix_len..key.len() - doc.len() - 1]);
            let payment = value[prefix.len()..].to_string();
            out.push((doc, payment));
        }
        Ok(out)
    }

    /// One bank reference on live payments of two orders, or one invoice number on live
    /// invoices of two orders: found from the indexes, so every node holding the same documents
    /// lists the same ones. Each leaves the inbox only when finance voids a payment or an
    /// invoice (红冲), which takes it out of the index. Contracts their orders exceed (合同超额,
    /// `contract_exceeded_anomalies`) are listed with them.
    fn shared_value_anomalies(&self) -> Result<Vec<InboxAnomaly>, ServiceError> {
        let mut out = Vec::new();
        for (index, kind, what) in [
            (
                views::PAYMENT_BANK_REF,
                anomaly::AnomalyKind::DuplicateBankRef,
                "bank reference",
            ),
            (
                views::INVOICE_NUMBER,
                anomaly::AnomalyKind::DuplicateInvoiceNumber,
                "invoice number",
            ),
        ] {
            // Value -> (orders, payments). The allocations of one payment over several orders
            // share their payment, so a reference is a duplicate only when two payments carry it.
            // Entries of one value are next to each other in the index (a value holds neither
            // the separator nor NUL), so only a value held more than once is kept.
            let mut groups: Vec<(String, SharedBy)> = Vec::new();
            // The entry before, in buffers reused from one entry to the next.
            let mut previous = (String::new(), String::new(), String::new());
            let mut first = true;
            self.store
                .for_each_in_index_range(index, "", "\u{10ffff}", |value, doc| {
                    let (value, payment) = match value.split_once(views::BANK_REF_SEP) {
                        Some((v, p)) => (v, p),
                        None => (value, doc),
                    };
                    match groups.last_mut() {
                        Some((held, group)) if held == value => {
                            group.0.push(doc.to_string());
                            group.1.push(payment.to_string());
                            return;
                        }
                        _ => {}
                    }
                    let (held, first_doc, first_payment) = &mut previous;
                    if !first && held == value {
                        groups.push((
                            value.to_string(),
                            (
                                vec![first_doc.clone(), doc.to_string()],
                                vec![first_payment.clone(), payment.to_string()],
                            ),
                        ));
                    } else {
                        for (buffer, text) in
                            [(held, value), (first_doc, doc), (first_payment, payment)]
                        {
                            buffer.clear();
                            buffer.push_str(text);
                        }
                        first = false;
                    }
                })?;
            for (value, (mut docs, mut payments)) in groups {
                docs.sort();
                docs.dedup();
                payments.sort();
                payments.dedup();
                if docs.len() < 2 || payments.len() < 2 {
                    continue;
                }
                let local = format!("{}:{value}:{}", kind.slug(), docs.join("+"));
                let detail = format!(
                    "{what} {value} is recorded on {} orders ({})",
                    docs.len(),
                    docs.join(", ")
                );
                out.push(inbox_anomaly("shared", kind, local, detail, docs));
            }
        }
        out.extend(self.contract_exceeded_anomalies()?);
        Ok(out)
    }

    /// Documents whose copy on this node's disk is damaged (文档已损坏), for the admin: each
    /// leaves the inbox once a peer's whole copy (or a restore) replaces it.
    fn damaged_document_anomalies(&self) -> Vec<InboxAnomaly> {
        let kind = anomaly::AnomalyKind::DamagedDocument;
        self.store
            .damaged_with_reasons()
            .into_iter()
            .map(|(doc, reason)| {
                let local = format!("{}:{doc}", kind.slug());
                let detail = format!(
                    "文档已损坏 / document {doc} is damaged on this node's disk ({reason}); \
                     it is fetched again whole from a peer that has it"
                );
                inbox_anomaly("damaged", kind, local, detail, Vec::new())
            })
            .collect()
    }

    /// Customer archives that are the same customer, created on two nodes (or twice on one).
    pub fn duplicate_customers(&self) -> Result<Vec<InboxAnomaly>, ServiceError> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in self
            .store
            .scan_index(views::CUSTOMER_IDENTITY, "", None, false)
        {
            let (key, doc) = entry?;
            let prefix_len = crate::store::keys::index_prefix(views::CUSTOMER_IDENTITY).len();
            let value =
                String::from_utf8_lossy(&key[prefix_len..key.len() - doc.len() - 1]).to_string();
            groups.entry(value).or_default().push(doc);
        }
        // One anomaly per set of archives, however many keys they share.
        let mut sets: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (value, mut docs) in groups {
            docs.sort();
            docs.dedup();
            if docs.len() > 1 {
                sets.entry(docs).or_default().push(value);
            }
        }
        Ok(sets
            .into_iter()
            .map(|(customers, reasons)| {
                let local = format!("duplicate-customer:{}", customers.join("+"));
                InboxAnomaly {
                    id: public_anomaly_id("customers", &local),
                    order_id: None,
                    order_number: None,
                    complaint: None,
                    anomaly: anomaly::Anomaly {
                        id: local,
                        kind: anomaly::AnomalyKind::DuplicateCustomer,
                        detail: format!(
                            "{} archives look like one customer ({})",
                            customers.len(),
                            reasons.join(", ")
                        ),
                        resolvers: anomaly::AnomalyKind::DuplicateCustomer.resolvers().to_vec(),
                        resolution: None,
                    },
                    orders: Vec::new(),
                    customers,
                }
            })
            .collect())
    }

    /// Merges duplicate archives into `keep`: the others point to it and leave the inbox.
    pub fn merge_customers(
        &self,
        user: &User,
        public_id: &str,
        keep: &str,
        resolution: &str,
    ) -> Result<(), ServiceError> {
        let Some(dup) = self
            .duplicate_customers()?
            .into_iter()
            .find(|a| a.id == public_id)
        else {
            return Err(ServiceError::NotFound(format!("open anomaly {public_id}")));
        };
        if !dup.anomaly.resolvers.contains(&user.role) {
            return Err(ServiceError::Forbidden(format!(
                "duplicate customers are merged by a clerk, not {}",
                user.role
            )));
        }
        if !dup.customers.iter().any(|c| c == keep) {
            return Err(
                FieldErrors::single("keep", "must be one of the duplicate archives").into(),
            );
        }
        for other in dup.customers.iter().filter(|c| *c != keep) {
            let author = user.author(format!("merge customer into {keep}: {resolution}"));
            self.store.update(other, &author, |current| {
                self.archive_write(
                    user,
                    other,
                    current,
                    vec![
                        RecordOp::field("merged_into", keep),
                        RecordOp::field("status", "frozen"),
                    ],
                )
            })?;
        }
        Ok(())
    }

    /// Closes an inbox anomaly with a text, wherever it stands: on an order, on a complaint,
    /// or one that only a fact removes (one value on two orders, a damaged document), which is
    /// refused naming that fact. Duplicate customers are merged instead (`merge_customers`).
    pub fn resolve_with_text(
        &self,
        user: &User,
        public_id: &str,
        resolution: String,
    ) -> Result<Resolved, ServiceError> {
        if public_id.starts_with("shared-")
            || public_id.starts_with("damaged-")
            || public_id.starts_with(&format!("{}-", super::customers::CUSTOMER_ANOMALY_PREFIX))
        {
            return Err(self.refuse_text(user, public_id));
        }
        if public_id.starts_with(super::complaints::COMPLAINT_ANOMALY_PREFIX) {
            return self
                .resolve_complaint_anomaly(user, public_id, resolution)
                .map(Resolved::Complaint);
        }
        self.resolve_anomaly(user, public_id, resolution)
            .map(Resolved::Order)
    }

    /// The refusal of a text for an anomaly only a fact removes (one bank reference or invoice
    /// number on two orders, a damaged document): which fact, to the role that may record it.
    fn refuse_text(&self, user: &User, public_id: &str) -> ServiceError {
        let listed = match self.shared_value_anomalies() {
            Ok(mut listed) => {
                listed.extend(self.damaged_document_anomalies());
                match self.customer_anomalies() {
                    Ok(found) => listed.extend(found),
                    Err(e) => return e,
                }
                listed
            }
            Err(e) => return e,
        };
        let Some(found) = listed.into_iter().find(|a| a.id == public_id) else {
            return ServiceError::NotFound(format!("open anomaly {public_id}"));
        };
        let on = if found.orders.is_empty() {
            (String::new(), String::new())
        } else {
            (
                format!("（订单 {}）", found.orders.join("、")),
                format!(" (orders {})", found.orders.join(", ")),
            )
        };
        match check_text_resolution(user, public_id, &found.anomaly, "", on) {
            Err(refused) => refused,
            Ok(()) => rule("此异常须以事实消除", "a fact must remove this anomaly"),
        }
    }

    pub fn resolve_anomaly(
        &self,
        user: &User,
        public_id: &str,
        resolution: String,
    ) -> Result<OrderView, ServiceError> {
        let order_id = public_id
            .rsplit_once('-')
            .map(|(o, _)| o)
            .ok_or_else(|| ServiceError::NotFound(format!("anomaly {public_id}")))?;
        let order = self
            .order(order_id)
            .map_err(|_| ServiceError::NotFound(format!("anomaly {public_id}")))?;
        let target = anomaly::open(&order)
            .into_iter()
            .find(|a| public_anomaly_id(order_id, &a.id) == public_id)
            .ok_or_else(|| ServiceError::NotFound(format!("open anomaly {public_id}")))?;
        check_text_resolution(user, public_id, &target, &resolution, Default::default())?;
        let local = target.id.clone();
        append_fact(self, user, order_id, "resolve anomaly", move |_| {
            Ok(FactBody::AnomalyResolved {
                anomaly: local,
                resolution,
            })
        })
    }
}

/// Appends a fact whose permission the caller has checked (anomaly resolution is allowed to
/// whichever role the anomaly names, not to one fixed action).
fn append_fact(
    office: &BackOffice,
    user: &User,
    order_id: &str,
    what: &str,
    build: impl FnOnce(&Order) -> Result<FactBody, ServiceError>,
) -> Result<OrderView, ServiceError> {
    let written = office
        .store
        .update(order_id, &user.author(what), |current| {
            let Some(record) = current.filter(|r| r.kind == ORDER_KIND) else {
                return Err(ServiceError::NotFound(format!("order {order_id}")));
            };
            let order = office.order_from(order_id, record);
            let body = build(&order)?;
            // 核单 vouches for every value of the order as it stands (`domain::attest`).
            let attestation = matches!(body, FactBody::Verified { .. })
                .then(|| crate::domain::attest::Attestation::of_record(record));
            Ok(vec![office.attested_fact_op(
                user,
                order_id,
                body,
                attestation.as_ref(),
            )?])
        })?;
    Ok(OrderView::of(&office.order_from(order_id, &written.record)))
}
