//! Receivables (回款): figures per order and customer, aging, the reminder queue (催款) and a
//! payment allocated over several orders of one customer. Read from the `rpt_receivable` index
//! and the summaries (`views`), never by loading every order; a reminder and each allocation
//! are facts on their orders.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use super::lifecycle::rule;
use super::orders::OrderView;
use super::{new_id, BackOffice, ServiceError, User};
use crate::domain::facts::FactBody;
use crate::domain::order::{validate_amount, Status};
use crate::domain::receivable::{self, Figures, Ledger};
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;
use crate::views::{self, CustomerSummary, LastReminder, OrderSummary, ReceivableEntry};

/// Filters of the receivables list.
#[derive(Debug, Clone, Default)]
pub struct ReceivableQuery {
    pub customer: Option<String>,
    pub region: Option<String>,
    pub salesperson: Option<String>,
    pub as_of: NaiveDate,
}

/// One customer's receivables.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerReceivable {
    pub customer_id: String,
    pub customer_name: String,
    pub region: String,
    /// 付款条件 as typed on the archive.
    pub payment_terms: String,
    /// Days after shipment the terms give (`domain::receivable::terms_days`).
    pub terms_days: u32,
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receivables {
    pub as_of: NaiveDate,
    pub rows: Vec<CustomerReceivable>,
    pub total: Figures,
}

/// One order of a customer with its figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderReceivable {
    pub order: String,
    pub number: String,
    pub salesperson: String,
    pub status: Option<Status>,
    pub figures: Figures,
    pub last_reminder: Option<LastReminder>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerReceivables {
    pub as_of: NaiveDate,
    pub customer: CustomerReceivable,
    pub orders: Vec<OrderReceivable>,
}

/// An order in the reminder queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderItem {
    pub order: String,
    pub number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub salesperson: String,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub outstanding: Decimal,
    /// Outstanding past its due date.
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub overdue: Decimal,
    /// The due date of the oldest amount owed.
    pub due_date: NaiveDate,
    /// Days past `due_date` (0 or less: not yet due).
    pub days_overdue: i64,
    pub last_reminder: Option<LastReminder>,
}

/// 催款 queue: overdue orders, and orders falling due from today to Sunday.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderQueue {
    pub today: NaiveDate,
    pub week_end: NaiveDate,
    pub overdue: Vec<ReminderItem>,
    pub due_this_week: Vec<ReminderItem>,
}

/// The start of the 催款 queue (the workbench shows a page of each list) and each list's size.
#[derive(Debug, Clone)]
pub struct ReminderQueueStart {
    pub queue: ReminderQueue,
    pub overdue_total: usize,
    pub due_this_week_total: usize,
}

/// What the receivables report adds up by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    #[default]
    Customer,
    Region,
    Salesperson,
}

impl GroupBy {
    pub fn label(self) -> &'static str {
        match self {
            GroupBy::Customer => "客户",
            GroupBy::Region => "区域",
            GroupBy::Salesperson => "业务员",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingRow {
    /// Customer id, region or salesperson.
    pub key: String,
    /// Customer name, or the key.
    pub label: String,
    pub figures: Figures,
}

/// 应收账龄: receivables aging by customer, region or salesperson.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingReport {
    pub as_of: NaiveDate,
    pub group_by: GroupBy,
    pub rows: Vec<AgingRow>,
    pub total: Figures,
}

/// One order's share of a payment.
#[derive(Debug, Clone)]
pub struct Allocation {
    pub order: String,
    pub amount: Decimal,
}

/// A payment of one customer allocated over several of its orders.
#[derive(Debug, Clone)]
pub struct CustomerPayment {
    pub customer: String,
    pub bank_reference: String,
    pub amount: Decimal,
    pub date: NaiveDate,
    pub method: String,
    pub payer: String,
    pub allocations: Vec<Allocation>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AllocationRecorded {
    pub order: String,
    pub number: String,
    /// The payment fact on that order.
    pub fact: String,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub amount: Decimal,
    /// What the order still owes after it.
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub outstanding: Decimal,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentRecorded {
    pub payment_id: String,
    pub customer: String,
    pub bank_reference: String,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub amount: Decimal,
    pub date: NaiveDate,
    pub allocations: Vec<AllocationRecorded>,
}

/// An order's outstanding now: every event counted, whatever its date.
fn outstanding_now(order: &crate::domain::order::Order) -> Decimal {
    Ledger::of(order).figures(NaiveDate::MAX, 0).outstanding
}

fn customer_row(id: &str, c: Option<&CustomerSummary>) -> CustomerReceivable {
    let terms = c.map(|c| c.payment_terms.clone()).unwrap_or_default();
    CustomerReceivable {
        customer_id: id.to_string(),
        customer_name: c.map(|c| c.name.clone()).unwrap_or_default(),
        region: c.map(|c| c.region.clone()).unwrap_or_default(),
        terms_days: receivable::terms_days(&terms),
        payment_terms: terms,
        figures: Figures::default(),
    }
}

impl BackOffice {
    /// Calls `f` with each receivable entry (of `customer` only, when given), its order and
    /// its figures as of `as_of` under the customer's terms.
    fn for_each_receivable(
        &self,
        customer: Option<&str>,
        customers: &HashMap<String, CustomerSummary>,
        as_of: NaiveDate,
        mut f: impl FnMut(&ReceivableEntry, &str, Figures),
    ) -> Result<(), ServiceError> {
        let (from, to) = match customer {
            Some(c) => (format!("{c}|"), format!("{c}}}")),
            None => (String::new(), "\u{10ffff}".to_string()),
        };
        let mut terms: HashMap<&str, u32> = HashMap::new();
        self.store.for_each_in_index_range(
            views::REPORT_RECEIVABLE,
            &from,
            &to,
            |value, doc| {
                let Some(entry) = ReceivableEntry::parse(value) else {
                    return;
                };
                let Some(ledger) = Ledger::decode(entry.ledger) else {
                    return;
                };
                let days = match customers.get_key_value(entry.customer) {
                    Some((id, c)) => *terms
                        .entry(id.as_str())
                        .or_insert_with(|| receivable::terms_days(&c.payment_terms)),
                    None => 0,
                };
                f(&entry, doc, ledger.figures(as_of, days));
            },
        )?;
        Ok(())
    }

    fn customers_for(
        &self,
        customer: Option<&str>,
    ) -> Result<HashMap<String, CustomerSummary>, ServiceError> {
        match customer {
            Some(id) => Ok(self
                .summary_of::<CustomerSummary>(id)?
                .map(|c| (id.to_string(), c))
                .into_iter()
                .collect()),
            None => self.customer_owners(),
        }
    }

    /// Receivables per customer, with totals.
    pub fn receivables(&self, q: &ReceivableQuery) -> Result<Receivables, ServiceError> {
        let customer = q.customer.as_deref().filter(|c| !c.is_empty());
        let customers = self.customers_for(customer)?;
        let region = q.region.as_deref().map(views::search_key);
        let salesperson = q.salesperson.as_deref().map(str::trim);
        let mut rows: BTreeMap<String, CustomerReceivable> = BTreeMap::new();
        let mut total = Figures::default();
        self.for_each_receivable(customer, &customers, q.as_of, |entry, _, figures| {
            let owner = customers.get(entry.customer);
            if let Some(region) = region.as_deref().filter(|r| !r.is_empty()) {
                if owner.map(|c| views::search_key(&c.region)).as_deref() != Some(region) {
                    return;
                }
            }
            if let Some(s) = salesperson.filter(|s| !s.is_empty()) {
                if entry.salesperson.trim() != s {
                    return;
                }
            }
            total.add(&figures);
            rows.entry(entry.customer.to_string())
                .or_insert_with(|| customer_row(entry.customer, owner))
                .figures
                .add(&figures);
        })?;
        let mut rows: Vec<CustomerReceivable> = rows.into_values().collect();
        rows.sort_by(|a, b| {
            b.figures
                .outstanding
                .cmp(&a.figures.outstanding)
                .then_with(|| a.customer_name.cmp(&b.customer_name))
        });
        Ok(Receivables {
            as_of: q.as_of,
            rows,
            total,
        })
    }

    /// One customer's orders with their figures (orders with money events only).
    pub fn customer_receivables(
        &self,
        customer: &str,
        as_of: NaiveDate,
    ) -> Result<CustomerReceivables, ServiceError> {
        let customers = self.customers_for(Some(customer))?;
        let Some(owner) = customers.get(customer) else {
            return Err(ServiceError::NotFound(format!("customer {customer}")));
        };
        let mut row = customer_row(customer, Some(owner));
        let mut found = Vec::new();
        self.for_each_receivable(Some(customer), &customers, as_of, |entry, doc, figures| {
            row.figures.add(&figures);
            found.push((
                doc.to_string(),
                entry.number.to_string(),
                entry.salesperson.to_string(),
                figures,
            ));
        })?;
        let mut orders = Vec::with_capacity(found.len());
        for (doc, number, salesperson, figures) in found {
            let summary = self.summary_of::<OrderSummary>(&doc)?;
            orders.push(OrderReceivable {
                order: doc,
                number,
                salesperson,
                status: summary.as_ref().map(|s| s.status),
                figures,
                last_reminder: summary.and_then(|s| s.last_reminder),
            });
        }
        orders.sort_by(|a, b| a.number.cmp(&b.number));
        Ok(CustomerReceivables {
            as_of,
            customer: row,
            orders,
        })
    }

    /// 催款 queue on `today`: orders owing money past its due date, and orders whose oldest
    /// amount owed falls due from today to Sunday; oldest due first.
    pub fn reminder_queue(&self, today: NaiveDate) -> Result<ReminderQueue, ServiceError> {
        Ok(self.reminder_queue_first(today, usize::MAX)?.queue)
    }

    /// The 催款 queue's first `limit` orders of each list (oldest due first) and how many each
    /// holds: the index is read whole, but only the orders shown have their summary read.
    pub fn reminder_queue_first(
        &self,
        today: NaiveDate,
        limit: usize,
    ) -> Result<ReminderQueueStart, ServiceError> {
        let customers = self.customer_owners()?;
        let week_end = receivable::week_end(today);
        let (mut overdue, mut due_this_week) = (Vec::new(), Vec::new());
        self.for_each_receivable(None, &customers, today, |entry, doc, figures| {
            let Some(due) = figures.oldest_due else {
                return;
            };
            if figures.outstanding > Decimal::ZERO && due <= week_end {
                let found = (
                    due,
                    entry.number.to_string(),
                    doc.to_string(),
                    entry.customer.to_string(),
                    entry.salesperson.to_string(),
                    figures,
                );
                if due < today {
                    overdue.push(found);
                } else {
                    due_this_week.push(found);
                }
            }
        })?;
        let totals = (overdue.len(), due_this_week.len());
        let mut lists = [Vec::new(), Vec::new()];
        for (list, mut found) in lists.iter_mut().zip([overdue, due_this_week]) {
            found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            found.truncate(limit);
            for (due, number, doc, customer, salesperson, figures) in found {
                let last_reminder = self
                    .summary_of::<OrderSummary>(&doc)?
                    .and_then(|s| s.last_reminder);
                list.push(ReminderItem {
                    order: doc,
                    number,
                    customer_name: customers
                        .get(&customer)
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                    customer_id: customer,
                    salesperson,
                    outstanding: figures.outstanding,
                    overdue: figures.aging_due.total() - figures.aging_due.not_due,
                    due_date: due,
                    days_overdue: (today - due).num_days(),
                    last_reminder,
                });
            }
        }
        let [overdue, due_this_week] = lists;
        Ok(ReminderQueueStart {
            queue: ReminderQueue {
                today,
                week_end,
                overdue,
                due_this_week,
            },
            overdue_total: totals.0,
            due_this_week_total: totals.1,
        })
    }

    /// 应收账龄 by customer, region or salesperson.
    pub fn receivables_aging(
        &self,
        group_by: GroupBy,
        as_of: NaiveDate,
    ) -> Result<AgingReport, ServiceError> {
        let customers = self.customer_owners()?;
        let mut groups: HashMap<String, Figures> = HashMap::new();
        let mut total = Figures::default();
        self.for_each_receivable(None, &customers, as_of, |entry, _, figures| {
            let key = match group_by {
                GroupBy::Customer => entry.customer,
                GroupBy::Region => customers
                    .get(entry.customer)
                    .map(|c| c.region.as_str())
                    .unwrap_or(""),
                GroupBy::Salesperson => entry.salesperson,
            };
            total.add(&figures);
            match groups.get_mut(key) {
                Some(g) => g.add(&figures),
                None => {
                    groups.insert(key.to_string(), figures);
                }
            }
        })?;
        let mut rows: Vec<AgingRow> = groups
            .into_iter()
            .map(|(key, figures)| AgingRow {
                label: match group_by {
                    GroupBy::Customer => customers
                        .get(&key)
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| key.clone()),
                    _ => key.clone(),
                },
                key,
                figures,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.figures
                .outstanding
                .cmp(&a.figures.outstanding)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(AgingReport {
            as_of,
            group_by,
            rows,
            total,
        })
    }

    /// 催款: a clerk or supervisor records reminding the customer to pay, with a note and
    /// when to follow up. An order paid in full, cancelled or archived has nothing to remind.
    pub fn remind_payment(
        &self,
        user: &User,
        id: &str,
        note: String,
        next_date: Option<NaiveDate>,
    ) -> Result<OrderView, ServiceError> {
        let note = note.trim().to_string();
        if note.is_empty() {
            return Err(FieldErrors::single("note", "must not be empty").into());
        }
        let what = format!("payment reminder (催款): {note}");
        self.record_fact(user, id, Action::RemindPayment, &what, |order| {
            match order.status() {
                Status::Cancelled | Status::Archived => {
                    return Err(rule(
                        "已取消或已归档的订单不能催款",
                        "a cancelled or archived order has no payment to remind",
                    ))
                }
                Status::Paid => {
                    return Err(rule(
                        "订单已全部回款，无需催款",
                        "the order is paid in full: there is nothing to remind",
                    ))
                }
                _ => {}
            }
            Ok(FactBody::PaymentReminder { note, next_date })
        })
    }

    /// One payment of a customer allocated over several of its orders: a payment fact on each,
    /// carrying the bank reference and one payment id (so the reference is not a duplicate
    /// between them). Allocations add up to the amount, each at most what its order owes on
    /// goods shipped, all orders of that customer. Everything is checked before the first
    /// order is written, and each order again as it is written; should that second check fail,
    /// the allocations already written are voided.
    pub fn record_customer_payment(
        &self,
        user: &User,
        p: CustomerPayment,
    ) -> Result<PaymentRecorded, ServiceError> {
        user.require(Action::RecordPayment)?;
        let mut errors = FieldErrors::default();
        if p.customer.trim().is_empty() {
            errors.push("customer", "must not be empty");
        }
        if p.bank_reference.trim().is_empty() {
            errors.push(
                "bank_reference",
                "须填写流水号 / the bank reference is required",
            );
        }
        validate_amount(p.amount, "amount", &mut errors);
        if p.amount <= Decimal::ZERO {
            errors.push("amount", "must be greater than zero");
        }
        if p.allocations.is_empty() {
            errors.push("allocations", "at least one order");
        }
        for (i, a) in p.allocations.iter().enumerate() {
            if a.order.trim().is_empty() {
                errors.push(format!("allocations[{i}].order"), "must not be empty");
            }
            if p.allocations[..i].iter().any(|b| b.order == a.order) {
                errors.push(format!("allocations[{i}].order"), "names an order twice");
            }
            validate_amount(a.amount, &format!("allocations[{i}].amount"), &mut errors);
            if a.amount <= Decimal::ZERO {
                errors.push(
                    format!("allocations[{i}].amount"),
                    "must be greater than zero",
                );
            }
        }
        errors.into_result()?;
        if !self.customer_exists(&p.customer)? {
            return Err(FieldErrors::single("customer", "no such customer").into());
        }
        let sum: Decimal = p.allocations.iter().map(|a| a.amount).sum();
        if sum != p.amount {
            return Err(rule(
                &format!("分配金额合计 {sum} 与收款金额 {} 不符", p.amount),
                format!(
                    "the allocations add up to {sum}, not the payment's amount {}",
                    p.amount
                ),
            ));
        }
        if let Some((other, _)) = self
            .payments_with_ref(&p.bank_reference)?
            .into_iter()
            .next()
        {
            return Err(rule(
                &format!("流水号 {} 已登记过（订单 {other}）", p.bank_reference),
                format!(
                    "bank reference {} is already recorded (order {other})",
                    p.bank_reference
                ),
            ));
        }
        let check = |order: &crate::domain::order::Order, amount: Decimal| {
            if order.get("customer_id") != p.customer {
                return Err(rule(
                    &format!("订单 {} 不是该客户的订单", order.get("number")),
                    format!(
                        "order {} is not an order of customer {}",
                        order.get("number"),
                        p.customer
                    ),
                ));
            }
            if matches!(order.status(), Status::Cancelled | Status::Archived) {
                return Err(rule(
                    &format!("订单 {} 已取消或已归档", order.get("number")),
                    format!("order {} is cancelled or archived", order.get("number")),
                ));
            }
            let outstanding = outstanding_now(order);
            if amount > outstanding {
                return Err(rule(
                    &format!(
                        "分配金额超过订单 {} 的应收余额：应收 {outstanding}，分配 {amount}",
                        order.get("number")
                    ),
                    format!(
                        "allocation {amount} exceeds what order {} owes on goods shipped ({outstanding})",
                        order.get("number")
                    ),
                ));
            }
            Ok(())
        };
        let mut orders = Vec::with_capacity(p.allocations.len());
        let mut unknown = FieldErrors::default();
        for (i, a) in p.allocations.iter().enumerate() {
            match self.order(&a.order) {
                Ok(order) => orders.push(order),
                Err(ServiceError::NotFound(_)) => unknown.push(
                    format!("allocations[{i}].order"),
                    "no such order on this node",
                ),
                Err(e) => return Err(e),
            }
        }
        unknown.into_result()?;
        for (order, a) in orders.iter().zip(&p.allocations) {
            check(order, a.amount)?;
        }
        let payment_id = new_id();
        let mut recorded: Vec<AllocationRecorded> = Vec::with_capacity(p.allocations.len());
        for a in &p.allocations {
            let what = format!(
                "payment (回款) {} of {}, bank reference {}, payment {payment_id}",
                a.amount, p.amount, p.bank_reference
            );
            let written = self.record_fact(user, &a.order, Action::RecordPayment, &what, |order| {
                check(order, a.amount)?;
                Ok(FactBody::Payment {
                    amount: a.amount,
                    date: p.date,
                    method: p.method.clone(),
                    payer: p.payer.clone(),
                    bank_ref: p.bank_reference.clone(),
                    payment_id: Some(payment_id.clone()),
                })
            });
            let view = match written {
                Ok(view) => view,
                Err(e) => {
                    // An order changed between the checks and its write (another writer on
                    // this node): the allocations already written are voided, so the payment
                    // is recorded whole or not at all (the voids stay in their history).
                    for done in &recorded {
                        let reason = format!(
                            "payment {payment_id} could not be allocated in full (order {}): {e}",
                            a.order
                        );
                        self.void_payment(user, &done.order, &done.fact, reason)?;
                    }
                    return Err(e);
                }
            };
            let fact = view
                .facts
                .iter()
                .rev()
                .find(|f| {
                    matches!(&f.body, FactBody::Payment { payment_id: Some(id), .. } if *id == payment_id)
                })
                .map(|f| f.id.clone())
                .unwrap_or_default();
            recorded.push(AllocationRecorded {
                order: a.order.clone(),
                number: view.header.get("number").cloned().unwrap_or_default(),
                fact,
                amount: a.amount,
                outstanding: (view.shipped_value - view.paid).max(Decimal::ZERO),
            });
        }
        Ok(PaymentRecorded {
            payment_id,
            customer: p.customer,
            bank_reference: p.bank_reference,
            amount: p.amount,
            date: p.date,
            allocations: recorded,
        })
    }
}

/// The home page's receivables queues: orders owing money on goods shipped (回款跟踪), and those
/// of them in the 催款 queue (overdue, or falling due by Sunday).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceivableCounts {
    pub owing: usize,
    pub to_remind: usize,
}

impl BackOffice {
    /// Counts from the `rpt_receivable` index alone, as the 催款 queue decides (no order loaded).
    pub fn receivable_counts(&self, today: NaiveDate) -> Result<ReceivableCounts, ServiceError> {
        let customers = self.customer_owners()?;
        let week_end = receivable::week_end(today);
        let mut counts = ReceivableCounts::default();
        self.for_each_receivable(None, &customers, today, |_, _, figures| {
            if figures.outstanding > Decimal::ZERO {
                counts.owing += 1;
                if figures.oldest_due.is_some_and(|due| due <= week_end) {
                    counts.to_remind += 1;
                }
            }
        })?;
        Ok(counts)
    }
}
