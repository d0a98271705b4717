//! Late orders and the VP's delay queue (交期延误, 上报销售副总), read from the `order_due`
//! index; the VP's acknowledgement is a fact on the order.

use chrono::NaiveDate;
use serde::Serialize;

use super::lifecycle::rule;
use super::orders::OrderView;
use super::{BackOffice, ServiceError, User};
use crate::domain::delay;
use crate::domain::facts::FactBody;
use crate::domain::role::Action;
use crate::views::{self, DueEntry, OrderSummary};

/// What the late list asks for.
#[derive(Debug, Clone)]
pub struct LateQuery {
    /// The day lateness is counted on (the node's today unless given).
    pub today: NaiveDate,
    pub escalate_after_days: u32,
    /// Only the VP's queue: escalated and not acknowledged for the current date.
    pub vp_queue: bool,
}

/// A late order: its summary, the date it is held to now, and how late it is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LateOrder {
    pub order: OrderSummary,
    pub promised_date: NaiveDate,
    pub revisions: usize,
    /// Days past `promised_date` (0 or less: a revised-twice order not yet due).
    pub days_late: i64,
    /// Late more than the configured days, or revised twice: the VP's to acknowledge.
    pub escalated: bool,
    /// The VP acknowledged the delay of `promised_date`.
    pub acknowledged: bool,
}

impl BackOffice {
    /// Orders still to ship that are past their promised date or were revised more than once,
    /// latest first (most days late), then by order number.
    pub fn late_orders(&self, query: &LateQuery) -> Result<Vec<LateOrder>, ServiceError> {
        let mut late = Vec::new();
        self.store
            .for_each_in_index_range(views::ORDER_DUE, "", "\u{7f}", |value, doc| {
                let Some(due) = DueEntry::parse(value) else {
                    return;
                };
                let schedule = due.schedule();
                if let Some(lateness) =
                    delay::lateness(&schedule, query.today, query.escalate_after_days)
                {
                    if !query.vp_queue || (lateness.escalated && !due.acknowledged) {
                        late.push((doc.to_string(), due, lateness));
                    }
                }
            })?;
        let mut out = Vec::with_capacity(late.len());
        for (doc, due, lateness) in late {
            if let Some(order) = self.summary_of::<OrderSummary>(&doc)? {
                out.push(LateOrder {
                    order,
                    promised_date: due.promised,
                    revisions: due.revisions,
                    days_late: lateness.days_late,
                    escalated: lateness.escalated,
                    acknowledged: due.acknowledged,
                });
            }
        }
        out.sort_by(|a, b| {
            b.days_late
                .cmp(&a.days_late)
                .then_with(|| a.order.number.cmp(&b.order.number))
        });
        Ok(out)
    }

    /// The VP's queue a page at a time: the first `limit` orders escalated and not yet
    /// acknowledged, the earliest promise (the latest order) first, and how many there are.
    /// Reads the `order_due` index and the summaries of the orders shown only.
    pub fn vp_delay_queue(
        &self,
        today: NaiveDate,
        limit: usize,
    ) -> Result<(Vec<LateOrder>, usize), ServiceError> {
        let mut shown = Vec::new();
        let mut count = 0;
        let escalate_after = self.escalation.late_order_days;
        self.store
            .for_each_in_index_range(views::ORDER_DUE, "", "\u{7f}", |value, doc| {
                let Some(due) = DueEntry::parse(value) else {
                    return;
                };
                let Some(lateness) = delay::lateness(&due.schedule(), today, escalate_after) else {
                    return;
                };
                if lateness.escalated && !due.acknowledged {
                    count += 1;
                    if shown.len() < limit {
                        shown.push((doc.to_string(), due, lateness));
                    }
                }
            })?;
        let mut out = Vec::with_capacity(shown.len());
        for (doc, due, lateness) in shown {
            if let Some(order) = self.summary_of::<OrderSummary>(&doc)? {
                out.push(LateOrder {
                    order,
                    promised_date: due.promised,
                    revisions: due.revisions,
                    days_late: lateness.days_late,
                    escalated: lateness.escalated,
                    acknowledged: due.acknowledged,
                });
            }
        }
        Ok((out, count))
    }

    /// 交期预警: orders still to ship promised on or before `by` (due within a few days, or
    /// past), the earliest promise first: at most `limit` of them, and how many there are.
    /// Reads the `order_due` range up to `by` and the summaries of those shown only.
    pub fn orders_due_by(
        &self,
        by: NaiveDate,
        today: NaiveDate,
        limit: usize,
    ) -> Result<(Vec<LateOrder>, usize), ServiceError> {
        let mut due = Vec::new();
        let mut count = 0;
        let end = by.succ_opt().unwrap_or(by).to_string();
        self.store
            .for_each_in_index_range(views::ORDER_DUE, "", &end, |value, doc| {
                let Some(entry) = DueEntry::parse(value) else {
                    return;
                };
                count += 1;
                if due.len() < limit {
                    due.push((doc.to_string(), entry));
                }
            })?;
        let escalate_after = self.escalation.late_order_days;
        let mut out = Vec::with_capacity(due.len());
        for (doc, entry) in due {
            let Some(order) = self.summary_of::<OrderSummary>(&doc)? else {
                continue;
            };
            let lateness = delay::lateness(&entry.schedule(), today, escalate_after);
            out.push(LateOrder {
                order,
                promised_date: entry.promised,
                revisions: entry.revisions,
                days_late: lateness
                    .as_ref()
                    .map_or((today - entry.promised).num_days(), |l| l.days_late),
                escalated: lateness.is_some_and(|l| l.escalated),
                acknowledged: entry.acknowledged,
            });
        }
        Ok((out, count))
    }

    /// The VP acknowledges the delay of the order's current promised date. Any late order may
    /// be acknowledged (the queue shows the escalated ones); one that is not late is refused,
    /// and so is a date already acknowledged.
    pub fn acknowledge_delay(
        &self,
        user: &User,
        id: &str,
        note: String,
        today: NaiveDate,
    ) -> Result<OrderView, ServiceError> {
        self.record_fact(
            user,
            id,
            Action::AcknowledgeDelay,
            "delay acknowledged (上报销售副总)",
            |order| {
                let schedule = delay::schedule(order);
                let late = delay::still_to_ship(order.status())
                    && delay::lateness(&schedule, today, self.escalation.late_order_days).is_some();
                let Some(promised_date) = schedule.current.filter(|_| late) else {
                    return Err(rule(
                        "该订单未延误，无需确认",
                        "the order is not late: there is no delay to acknowledge",
                    ));
                };
                if schedule.acknowledged {
                    return Err(rule(
                        &format!("交期 {promised_date} 的延误已确认"),
                        format!("the delay of {promised_date} is already acknowledged"),
                    ));
                }
                Ok(FactBody::DelayAcknowledged {
                    promised_date,
                    note: note.trim().to_string(),
                })
            },
        )
    }
}
