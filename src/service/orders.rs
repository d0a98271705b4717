//! Order use cases: take an order, read it with everything derived, list with filters, change
//! fields or lines, and read its history from the document's own change log.

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

use super::customers::Page;
use super::lifecycle::rule;
use super::{new_id, BackOffice, ServiceError, User};
use crate::domain::anomaly::{self, Anomaly};
use crate::domain::attest;
use crate::domain::facts::{Fact, FactBody, FieldChange};
use crate::domain::order::{
    line_ops, validate_amount, validate_line, validate_tax_rate, FieldConflict, LineInput,
    NewOrder, Order, OrderLine, Status, Totals, HEADER_FIELDS, LINES, ORDER_KIND, OWNERSHIP_FIELDS,
};
use crate::domain::record::{ChangeAuthor, Record, RecordOp};
use crate::domain::report::business_day;
use crate::domain::role::{Action, Role};
use crate::domain::validation::FieldErrors;
use crate::store::{keys, StoreError};
use crate::views::{self, search_key, OrderSummary};

/// Header fields a change may touch after 核单 without a 变更单: the note, and ownership
/// (reassigned by a supervisor; it changes who, not what was agreed).
const UNLOCKED_FIELDS: &[&str] = &["note", "store", "salesperson"];

fn describe_line(sku: &str, quantity: Decimal, unit_price: Decimal) -> String {
    format!("{sku} x{} @ {unit_price}", quantity.normalize())
}

fn display_or_dash(value: &str) -> &str {
    if value.is_empty() {
        "—"
    } else {
        value
    }
}

/// An index key and the document it names, as `Store::scan_index` gives them.
type IndexEntry = Result<(Vec<u8>, String), StoreError>;

/// An order with everything derived from it, as the API returns it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrderView {
    pub id: String,
    #[serde(flatten)]
    pub header: BTreeMap<String, String>,
    pub status: Status,
    /// The status as the back office names it (待核单, 待放行…).
    pub status_label: &'static str,
    pub lines: Vec<OrderLine>,
    pub totals: Totals,
    /// What the customer owes in the end: the gross, or what shipped once the rest was
    /// cancelled.
    #[serde(with = "crate::domain::money::serde_money")]
    pub due: Decimal,
    #[serde(with = "crate::domain::money::serde_money")]
    pub paid: Decimal,
    /// Due minus paid, never below zero.
    #[serde(with = "crate::domain::money::serde_money")]
    pub outstanding: Decimal,
    #[serde(with = "crate::domain::money::serde_money")]
    pub shipped_value: Decimal,
    #[serde(with = "crate::domain::money::serde_money")]
    pub invoiced: Decimal,
    /// The dates promised: at order taking, and now after 跟单's revisions.
    pub schedule: crate::domain::delay::Schedule,
    pub facts: Vec<Fact>,
    pub anomalies: Vec<Anomaly>,
    pub conflicts: Vec<FieldConflict>,
}

impl OrderView {
    pub fn of(order: &Order) -> OrderView {
        OrderView {
            id: order.id.clone(),
            header: order.header.clone(),
            status: order.status(),
            status_label: order.status().label_zh(),
            lines: order.lines.clone(),
            totals: order.totals(),
            due: order.due_total(),
            paid: order.paid(),
            outstanding: (order.due_total() - order.paid()).max(Decimal::ZERO),
            shipped_value: order.shipped_value(),
            invoiced: order.invoiced(),
            schedule: crate::domain::delay::schedule(order),
            facts: order.facts.clone(),
            anomalies: anomaly::detect(order),
            conflicts: order.conflicts.clone(),
        }
    }
}

/// A partial change to an order: header fields, changed or new lines, removed lines.
#[derive(Debug, Clone, Default)]
pub struct OrderPatch {
    pub fields: BTreeMap<String, String>,
    /// Lines with an id change the fields given; lines without one are added.
    pub lines: Vec<LinePatch>,
    pub remove_lines: Vec<String>,
    /// Why: required for a 变更单 (a change after 核单).
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct LinePatch {
    pub id: Option<String>,
    pub sku: Option<String>,
    pub spec: Option<String>,
    pub quantity: Option<Decimal>,
    pub unit: Option<String>,
    pub unit_price: Option<Decimal>,
}

#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub status: Option<Status>,
    pub customer: Option<String>,
    pub store: Option<String>,
    /// A dealer's own orders and its stores' (经销商 → 专卖店).
    pub dealer: Option<String>,
    /// The salesperson the order belongs to (订单归属), as typed on it (case and width aside).
    pub salesperson: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub anomalies_only: bool,
    pub cursor: Option<Vec<u8>>,
    pub limit: usize,
}

/// One entry of an order's history.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub change: String,
    pub node: String,
    pub user: String,
    pub role: String,
    pub at: String,
    pub what: String,
}

impl BackOffice {
    /// Takes an order. The number is this node's prefix and its own sequence, so two offline
    /// nodes never hand out the same number.
    pub fn create_order(&self, user: &User, order: NewOrder) -> Result<OrderView, ServiceError> {
        user.require(Action::TakeOrder)?;
        order.validate()?;
        if !self.customer_exists(&order.customer_id)? {
            return Err(FieldErrors::single("customer_id", "no such customer").into());
        }
        self.refuse_if_customer_closed(&order.customer_id)?;
        let created_at = Utc::now();
        let mut order = order;
        order.contract = self.resolve_order_contract(
            &order.customer_id,
            &order.contract,
            business_day(created_at),
        )?;
        if !order.contract.is_empty() {
            // Within what the contract has left (合同余额), as this node sees its orders;
            // checked before a number is taken.
            let ops = order.clone().into_ops("", created_at, new_id);
            let gross = Order::from_record("", &Record::default().with_ops(&ops))
                .totals()
                .gross;
            self.check_contract_room(&order.contract, None, gross)?;
        }
        let seq = self.store.next_counter("order_number")?;
        let number = format!("{}-{seq:06}", self.identity.order_prefix);
        let id = new_id();
        let ops = order.into_ops(&number, created_at, new_id);
        let written =
            self.store
                .create(&id, &user.author(format!("create order {number}")), &ops)?;
        Ok(OrderView::of(&self.order_from(&id, &written.record)))
    }

    /// Writes an order imported with its original number and time (fixtures, migrations).
    pub fn import_order(
        &self,
        author: &ChangeAuthor,
        number: &str,
        created_at: chrono::DateTime<Utc>,
        order: NewOrder,
    ) -> Result<String, ServiceError> {
        order.validate()?;
        let id = new_id();
        let ops = order.into_ops(number, created_at, new_id);
        self.store.create(&id, author, &ops)?;
        Ok(id)
    }

    /// Frozen or merged archives take no new order; a merged one names its survivor.
    fn refuse_if_customer_closed(&self, customer_id: &str) -> Result<(), ServiceError> {
        let customer = self.customer(customer_id)?;
        let survivor = customer.get("merged_into");
        if !survivor.is_empty() {
            return Err(rule(
                &format!("该客户档案已合并到 {survivor}，请用合并后的档案下单"),
                format!(
                    "this customer archive was merged into {survivor}; take the order on that one"
                ),
            ));
        }
        if customer.refuses_orders() {
            return Err(rule(
                "该客户档案已冻结，不能接新订单",
                "this customer archive is frozen and takes no new order",
            ));
        }
        Ok(())
    }

    pub fn order(&self, id: &str) -> Result<Order, ServiceError> {
        match self.store.record(id)? {
            Some(record) if record.kind == ORDER_KIND => Ok(self.order_from(id, &record)),
            _ => Err(ServiceError::NotFound(format!("order {id}"))),
        }
    }

    pub fn patch_order(
        &self,
        user: &User,
        id: &str,
        patch: OrderPatch,
    ) -> Result<OrderView, ServiceError> {
        let touches_ownership = patch
            .fields
            .keys()
            .any(|f| OWNERSHIP_FIELDS.contains(&f.as_str()));
        let touches_other = patch
            .fields
            .keys()
            .any(|f| !OWNERSHIP_FIELDS.contains(&f.as_str()))
            || !patch.lines.is_empty()
            || !patch.remove_lines.is_empty();
        if touches_ownership {
            user.require(Action::ReassignOwnership)?;
        }
        if touches_other || !touches_ownership {
            user.require(Action::EditOrder)?;
        }
        let mut errors = FieldErrors::default();
        for (name, value) in &patch.fields {
            if !HEADER_FIELDS.contains(&name.as_str()) || name == "number" || name == "created_at" {
                errors.push(name.clone(), "not a field that can be changed");
                continue;
            }
            match name.as_str() {
                "tax_rate" => match value.parse::<Decimal>() {
                    Ok(rate) => validate_tax_rate(rate, &mut errors),
                    Err(_) => errors.push("tax_rate", "must be a decimal string"),
                },
                "deposit" => match value.parse::<Decimal>() {
                    Ok(d) => validate_amount(d, "deposit", &mut errors),
                    Err(_) => errors.push("deposit", "must be a decimal string"),
                },
                "tax_included" if value != "true" && value != "false" => {
                    errors.push("tax_included", "must be true or false")
                }
                "promised_ship_date"
                    if !value.is_empty() && value.parse::<NaiveDate>().is_err() =>
                {
                    errors.push("promised_ship_date", "must be a date like 2026-11-26")
                }
                "customer_id" if !self.customer_exists(value)? => {
                    errors.push("customer_id", "no such customer")
                }
                _ => {}
            }
        }
        errors.into_result()?;
        if let Some(customer) = patch.fields.get("customer_id") {
            self.refuse_if_customer_closed(customer)?;
        }
        let mut patch = patch;
        if let Some(text) = patch.fields.get("contract").cloned() {
            // The contract is the order's customer's (the customer given here, else its own);
            // the contract the order already names stays without being checked again.
            let current = self.order(id)?;
            if text.trim() != current.get("contract") {
                let customer = patch
                    .fields
                    .get("customer_id")
                    .map_or(current.get("customer_id"), String::as_str)
                    .to_string();
                let stored =
                    self.resolve_order_contract(&customer, &text, business_day(Utc::now()))?;
                patch.fields.insert("contract".into(), stored);
            }
        }
        // The author's action names every old -> new value; it is computed inside the update
        // (from the order as it is under the write lock), so it is filled in there.
        let described = std::cell::RefCell::new(String::from("change order"));
        let author_for = |what: &str| user.author(what.to_string());
        let written = self.store.update_described(id, |current| {
            let Some(record) = current.filter(|r| r.kind == ORDER_KIND) else {
                return Err(ServiceError::NotFound(format!("order {id}")));
            };
            let order = self.order_from(id, record);
            match order.status() {
                Status::Archived => {
                    return Err(rule(
                        "已归档的订单不能修改，只能由主管登记更正",
                        "an archived order takes no change but a supervisor's correction (corrections)",
                    ))
                }
                Status::Cancelled => {
                    return Err(rule("已取消的订单不能修改", "a cancelled order cannot be changed"))
                }
                _ => {}
            }
            let mut errors = FieldErrors::default();
            let mut changes: Vec<FieldChange> = Vec::new();
            let mut ops: Vec<RecordOp> = Vec::new();
            for (name, value) in &patch.fields {
                ops.push(RecordOp::field(name, value.clone()));
                if order.get(name) != value {
                    changes.push(FieldChange {
                        field: name.clone(),
                        old: order.get(name).to_string(),
                        new: value.clone(),
                    });
                }
            }
            let anything_shipped = order.lines.iter().any(|l| l.shipped > Decimal::ZERO);
            if anything_shipped && changes.iter().any(|c| c.field == "customer_id") {
                return Err(rule(
                    "订单已发货，不能更换客户",
                    "goods have shipped: the customer can no longer change",
                ));
            }
            let mut position = order.lines.len();
            for (i, line) in patch.lines.iter().enumerate() {
                let at = format!("lines[{i}]");
                match &line.id {
                    Some(line_id) => {
                        let Some(existing) = order.lines.iter().find(|l| &l.id == line_id) else {
                            errors.push(format!("{at}.id"), "no such line");
                            continue;
                        };
                        let merged = LineInput {
                            sku: line.sku.clone().unwrap_or_else(|| existing.sku.clone()),
                            spec: line.spec.clone().unwrap_or_else(|| existing.spec.clone()),
                            quantity: line.quantity.unwrap_or(existing.quantity),
                            unit: line.unit.clone().unwrap_or_else(|| existing.unit.clone()),
                            unit_price: line.unit_price.unwrap_or(existing.unit_price),
                        };
                        validate_line(&merged, &at, &mut errors);
                        if existing.shipped > Decimal::ZERO {
                            if merged.unit_price != existing.unit_price || merged.sku != existing.sku {
                                return Err(rule(
                                    &format!("{} 已发货，价格和货品只能通过退货或红字冲销更改", existing.sku),
                                    format!("line {line_id} has shipped: its price and product change only through returns and credit notes"),
                                ));
                            }
                            if merged.quantity < existing.shipped {
                                return Err(rule(
                                    &format!("{} 数量不能少于已发数量 {}", existing.sku, existing.shipped),
                                    format!("line {line_id}: quantity cannot go below the {} shipped", existing.shipped),
                                ));
                            }
                        }
                        let old = [
                            ("sku", existing.sku.clone()),
                            ("spec", existing.spec.clone()),
                            ("quantity", existing.quantity.normalize().to_string()),
                            ("unit", existing.unit.clone()),
                            ("unit_price", existing.unit_price.to_string()),
                        ];
                        let new = [
                            ("sku", line.sku.clone()),
                            ("spec", line.spec.clone()),
                            ("quantity", line.quantity.map(|v| v.normalize().to_string())),
                            ("unit", line.unit.clone()),
                            ("unit_price", line.unit_price.map(|v| v.to_string())),
                        ];
                        for ((name, before), (_, after)) in old.into_iter().zip(new) {
                            let Some(after) = after else { continue };
                            ops.push(RecordOp::item_field(LINES, line_id, name, after.clone()));
                            let same = match name {
                                "quantity" | "unit_price" => before.parse::<Decimal>().ok() == after.parse::<Decimal>().ok(),
                                _ => before == after,
                            };
                            if !same {
                                changes.push(FieldChange {
                                    field: format!("lines.{line_id}.{name}"),
                                    old: before,
                                    new: after,
                                });
                            }
                        }
                    }
                    None => {
                        let new_line = LineInput {
                            sku: line.sku.clone().unwrap_or_default(),
                            spec: line.spec.clone().unwrap_or_default(),
                            quantity: line.quantity.unwrap_or_default(),
                            unit: line.unit.clone().unwrap_or_default(),
                            unit_price: line.unit_price.unwrap_or_default(),
                        };
                        validate_line(&new_line, &at, &mut errors);
                        let line_id = new_id();
                        changes.push(FieldChange {
                            field: format!("lines.{line_id}"),
                            old: String::new(),
                            new: describe_line(&new_line.sku, new_line.quantity, new_line.unit_price),
                        });
                        ops.extend(line_ops(&line_id, &new_line, position));
                        position += 1;
                    }
                }
            }
            for (i, line_id) in patch.remove_lines.iter().enumerate() {
                match order.lines.iter().find(|l| &l.id == line_id) {
                    Some(line) if line.shipped > Decimal::ZERO => {
                        return Err(rule(
                            &format!("{} 已发货，不能删除", line.sku),
                            format!("a line already shipped cannot be removed (line {line_id})"),
                        ))
                    }
                    Some(line) => {
                        changes.push(FieldChange {
                            field: format!("lines.{line_id}"),
                            old: describe_line(&line.sku, line.quantity, line.unit_price),
                            new: String::new(),
                        });
                        ops.push(RecordOp::RemoveItem {
                            collection: LINES.to_string(),
                            item: line_id.clone(),
                        })
                    }
                    None => errors.push(format!("remove_lines[{i}]"), "no such line"),
                }
            }
            errors.into_result()?;
            let remaining =
                order.lines.len() + patch.lines.iter().filter(|l| l.id.is_none()).count();
            if remaining <= patch.remove_lines.len() {
                return Err(FieldErrors::single(
                    "remove_lines",
                    "an order needs at least one line",
                )
                .into());
            }
            let after = self.order_from(id, &record.with_ops(&ops));
            let (gross_before, gross_after) = (order.totals().gross, after.totals().gross);
            // Linked to a contract, or a larger total under one: within what it has left.
            let contract = after.get("contract");
            if !contract.is_empty()
                && (contract != order.get("contract") || gross_after > gross_before)
            {
                self.check_contract_room(contract, Some(id), gross_after)?;
            }
            let deposit: Decimal = after.get("deposit").parse().unwrap_or_default();
            if deposit > gross_after {
                return Err(FieldErrors::single(
                    "deposit",
                    format!("定金不能超过订单金额 / must not exceed the order total ({gross_after})"),
                )
                .into());
            }
            if after.tax_included() && after.tax_rate().is_zero() {
                return Err(FieldErrors::single(
                    "tax_rate",
                    "含税订单须填写税率 / required when the order is tax-included",
                )
                .into());
            }
            // Values written again that no authorised node had signed (`domain::attest`): the
            // clerk confirms them, a change of what was verified.
            let confirms: Vec<String> = ops
                .iter()
                .filter_map(attest::written_value)
                .map(|(path, _)| path)
                .filter(|path| order.unattested.iter().any(|u| &u.path == path))
                .collect();
            // Only the stored text differs (12.50 written as 12.5): no change, but signed.
            let restated = order.ever_verified()
                && ops.iter().filter_map(attest::written_value).any(|(path, value)| {
                    attest::value_at(record, &path) != Some(value)
                });
            if changes.is_empty() && confirms.is_empty() && !restated {
                return Ok(ops);
            }
            // After 核单 the order is locked: a change of anything verified is a 变更单, which
            // needs a reason and sends the order back to 待核单 (and finance must release again).
            let change_order = order.ever_verified()
                && (!confirms.is_empty()
                    || changes.iter().any(|c| !UNLOCKED_FIELDS.contains(&c.field.as_str())));
            if change_order && patch.reason.trim().is_empty() {
                return Err(FieldErrors::single(
                    "reason",
                    "订单核单后修改须填写变更原因（变更单） / a change after 核单 is a change order and needs a reason",
                )
                .into());
            }
            let summary: Vec<String> = changes
                .iter()
                .map(|c| format!("{}: {} → {}", c.field, display_or_dash(&c.old), display_or_dash(&c.new)))
                .collect();
            *described.borrow_mut() = format!(
                "{}: {}{}",
                if change_order { "change order (变更单)" } else { "change order" },
                summary.join("; "),
                if patch.reason.trim().is_empty() { String::new() } else { format!(" ({})", patch.reason.trim()) }
            );
            // The fact vouches for every value this change writes (`domain::attest`).
            let attestation = attest::Attestation::of_ops(&ops);
            ops.push(self.attested_fact_op(
                user,
                id,
                FactBody::Changed {
                    changes,
                    reason: patch.reason.trim().to_string(),
                    change_order,
                    gross_before,
                    gross_after,
                },
                Some(&attestation),
            )?);
            Ok(ops)
        }, || author_for(&described.borrow()))?;
        Ok(OrderView::of(&self.order_from(id, &written.record)))
    }

    /// Lists order summaries, newest first, through the most selective index for the filters.
    pub fn list_orders(&self, query: &OrderQuery) -> Result<Page<OrderSummary>, ServiceError> {
        let limit = query.limit.clamp(1, 1000);
        // `from`/`to` are business days in China (UTC+8), as people mean them: an order taken
        // at 07:00 Beijing time belongs to that day, though its UTC date is the day before.
        let created_day = |summary: &OrderSummary| {
            chrono::DateTime::parse_from_rfc3339(&summary.created_at)
                .ok()
                .map(|t| business_day(t.with_timezone(&Utc)))
        };
        let dealer_customers = match &query.dealer {
            Some(dealer) => Some(self.dealer_and_stores(dealer)?),
            None => None,
        };
        let matches = |summary: &OrderSummary| {
            query.status.is_none_or(|s| summary.status == s)
                && dealer_customers
                    .as_ref()
                    .is_none_or(|c| c.contains(&summary.customer_id))
                && query
                    .customer
                    .as_ref()
                    .is_none_or(|c| &summary.customer_id == c)
                && query
                    .store
                    .as_ref()
                    .is_none_or(|s| search_key(&summary.store) == search_key(s))
                && query
                    .salesperson
                    .as_ref()
                    .is_none_or(|s| search_key(&summary.salesperson) == search_key(s))
                && (!query.anomalies_only || summary.open_anomalies > 0)
                && query
                    .to
                    .is_none_or(|to| created_day(summary).is_none_or(|d| d <= to))
        };
        let cursor = query.cursor.as_deref();
        // Every index below keys an order by its creation time (UTC, RFC 3339) after the
        // range's prefix: with `to`, each range starts below the end of that business day
        // (16:00 UTC), so the orders taken after it are never read.
        let ceiling = query.to.map(|to| format!("{to}T16:00:00"));
        let scan = |index, prefix: String| -> Box<dyn Iterator<Item = IndexEntry>> {
            let below = ceiling.as_ref().map(|c| {
                [
                    keys::index_prefix(index).as_slice(),
                    prefix.as_bytes(),
                    c.as_bytes(),
                ]
                .concat()
            });
            let after = match (cursor, below.as_deref()) {
                (Some(c), Some(b)) => Some(c.min(b)),
                (c, b) => c.or(b),
            };
            Box::new(self.store.scan_index(index, &prefix, after, true))
        };
        let ceiling = ceiling.as_deref();
        let entries = if let Some(status) = query.status {
            scan(views::ORDER_STATUS, format!("{}|", status.as_str()))
        } else if let Some(customer) = &query.customer {
            scan(views::ORDER_CUSTOMER, format!("{customer}|"))
        } else if let Some(customers) = &dealer_customers {
            let ranges = customers.iter().map(|c| format!("{c}|")).collect();
            Box::new(self.newest_across(views::ORDER_CUSTOMER, ranges, cursor, ceiling)?)
        } else if let Some(store) = &query.store {
            scan(views::ORDER_STORE, format!("{}|", search_key(store)))
        } else if query.anomalies_only {
            scan(views::ORDER_ANOMALIES, String::new())
        } else {
            Box::new(self.newest_of_every_status(cursor, ceiling)?)
        };
        let candidates = entries
            .filter_map(|entry| match entry {
                Ok((key, doc)) => self
                    .summary_of::<OrderSummary>(&doc)
                    .transpose()
                    .map(|summary| summary.map(|s| (key, s))),
                Err(e) => Some(Err(e.into())),
            })
            // Every index lists newest first: once past `from`, nothing further can match.
            .take_while(|c| {
                !matches!(c, Ok((_, s)) if query.from.zip(created_day(s)).is_some_and(|(from, day)| day < from))
            })
            .filter(|c| c.as_ref().map_or(true, |(_, s)| matches(s)));
        Page::take(limit, candidates)
    }

    /// Every order, newest first, with the status index entries: one range per status, merged
    /// on what follows the status (`created\0id`). There is no index of all orders by date, so
    /// that a write costs one index key fewer. `after`: a status index key handed out as a
    /// cursor; every range resumes below the same date and id.
    fn newest_of_every_status(
        &self,
        after: Option<&[u8]>,
        ceiling: Option<&str>,
    ) -> Result<impl Iterator<Item = IndexEntry> + '_, ServiceError> {
        let statuses = Status::ALL.iter().map(|s| format!("{}|", s.as_str()));
        self.newest_across(views::ORDER_STATUS, statuses.collect(), after, ceiling)
    }

    /// The dealer archive and its stores' (经销商 → 专卖店), as the customer index holds them.
    fn dealer_and_stores(&self, dealer: &str) -> Result<Vec<String>, ServiceError> {
        let mut customers = vec![dealer.to_string()];
        for store in
            self.store
                .scan_index(views::CUSTOMER_DEALER, &format!("{dealer}|"), None, false)
        {
            customers.push(store?.1);
        }
        Ok(customers)
    }

    /// The ranges of `index` under each of `value_prefixes` (each ending in `|`), merged newest
    /// first on what follows the prefix. `after`: a key of one of the ranges handed out as a
    /// cursor; every range resumes below what follows its prefix.
    fn newest_across(
        &self,
        index: &'static str,
        value_prefixes: Vec<String>,
        after: Option<&[u8]>,
        ceiling: Option<&str>,
    ) -> Result<impl Iterator<Item = IndexEntry> + '_, ServiceError> {
        let index_prefix = keys::index_prefix(index);
        let position = match after {
            None => None,
            Some(key) => Some(
                key.strip_prefix(index_prefix.as_slice())
                    .and_then(|rest| Some(&rest[rest.iter().position(|b| *b == b'|')? + 1..]))
                    .ok_or_else(|| FieldErrors::single("cursor", "invalid cursor"))?,
            ),
        };
        // Resume below the cursor or the ceiling, whichever is older.
        let position = match (position, ceiling.map(str::as_bytes)) {
            (Some(p), Some(c)) => Some(p.min(c)),
            (p, c) => p.or(c),
        };
        let mut ranges: Vec<_> = value_prefixes
            .into_iter()
            .map(|value_prefix| {
                let resume = position
                    .map(|p| [index_prefix.as_slice(), value_prefix.as_bytes(), p].concat());
                let skip = index_prefix.len() + value_prefix.len();
                let range = self
                    .store
                    .scan_index(index, &value_prefix, resume.as_deref(), true)
                    .peekable();
                (skip, range)
            })
            .collect();
        Ok(std::iter::from_fn(move || {
            // The range whose next entry is the newest; an error is taken first.
            let mut newest: Option<(usize, &[u8])> = None;
            let mut pick = None;
            for (i, (skip, range)) in ranges.iter_mut().enumerate() {
                match range.peek() {
                    None => {}
                    Some(Err(_)) => {
                        pick = Some(i);
                        break;
                    }
                    Some(Ok((key, _))) => {
                        let position = &key[*skip..];
                        if newest.is_none_or(|(_, best)| position > best) {
                            newest = Some((i, position));
                        }
                    }
                }
            }
            let i = pick.or(newest.map(|(i, _)| i))?;
            ranges[i].1.next()
        }))
    }

    /// Every change of the order, oldest first, read from the document's change log.
    pub fn order_history(&self, id: &str) -> Result<Vec<HistoryEntry>, ServiceError> {
        let entries = self.store.with_doc(id, |doc| {
            doc.get_changes_meta(&[])
                .into_iter()
                .map(|meta| {
                    let author: Option<ChangeAuthor> = meta
                        .message
                        .as_deref()
                        .and_then(|m| serde_json::from_str(m).ok());
                    HistoryEntry {
                        change: meta.hash.to_string(),
                        node: meta.actor.to_hex_string(),
                        user: author.as_ref().map(|a| a.user.clone()).unwrap_or_default(),
                        role: author.as_ref().map(|a| a.role.clone()).unwrap_or_default(),
                        at: chrono::DateTime::<Utc>::from_timestamp_millis(meta.timestamp)
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default(),
                        what: author.map(|a| a.action).unwrap_or_default(),
                    }
                })
                .collect::<Vec<_>>()
        })?;
        let mut entries = entries.ok_or_else(|| ServiceError::NotFound(format!("order {id}")))?;
        entries.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(entries)
    }

    /// Picks one value for a conflicting field; the owner role of the field decides.
    pub fn resolve_conflict(
        &self,
        user: &User,
        id: &str,
        field: &str,
        value: &str,
    ) -> Result<OrderView, ServiceError> {
        let owner_ok = if OWNERSHIP_FIELDS.contains(&field) {
            user.role == Role::Supervisor
        } else {
            user.role == Role::Clerk
        };
        if !owner_ok {
            return Err(ServiceError::Forbidden(format!(
                "role {} does not own field {field}",
                user.role
            )));
        }
        let author = user.author(format!("resolve conflict on {field}"));
        let written = self.store.update(id, &author, |current| {
            let Some(record) = current.filter(|r| r.kind == ORDER_KIND) else {
                return Err(ServiceError::NotFound(format!("order {id}")));
            };
            let order = self.order_from(id, record);
            let Some(conflict) = order.conflicts.iter().find(|c| c.field == field) else {
                return Err(ServiceError::Rule(format!(
                    "field {field} is not in conflict"
                )));
            };
            if !conflict.values.iter().any(|v| v.value == value) {
                return Err(
                    FieldErrors::single("value", "must be one of the conflicting values").into(),
                );
            }
            let op = match field
                .strip_prefix("lines.")
                .and_then(|rest| rest.split_once('.'))
            {
                Some((line, name)) => RecordOp::item_field(LINES, line, name, value),
                None => RecordOp::field(field, value),
            };
            Ok(vec![op])
        })?;
        Ok(OrderView::of(&self.order_from(id, &written.record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::LineInput;
    use crate::identity::NodeIdentity;
    use crate::store::Store;
    use crate::views::BackOfficeProjector;
    use std::sync::Arc;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// An order taken at 07:30 Beijing time on 12-03 is 23:30 UTC on 12-02: the list's dates
    /// are business days, so it belongs to 12-03 only.
    #[test]
    fn the_date_filter_reads_business_days_in_china() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(dir.path(), Arc::new(BackOfficeProjector::default()), 10).unwrap(),
        );
        let identity = NodeIdentity::generate(store.node_id(), "总部", Role::Clerk);
        let office = BackOffice::new(store, identity);
        let author = ChangeAuthor {
            user: "李娜".into(),
            role: "clerk".into(),
            action: "import".into(),
        };
        let new_order = NewOrder {
            customer_id: "c1".into(),
            project: String::new(),
            store: "SH-001".into(),
            salesperson: "王".into(),
            tax_included: false,
            tax_rate: Decimal::ZERO,
            invoice_title: String::new(),
            deposit: Decimal::ZERO,
            contract: String::new(),
            ship_address: String::new(),
            receiver: String::new(),
            receiver_phone: String::new(),
            promised_ship_date: None,
            note: String::new(),
            lines: vec![LineInput {
                sku: "SF-2108".into(),
                spec: String::new(),
                quantity: Decimal::ONE,
                unit: "套".into(),
                unit_price: Decimal::ONE_HUNDRED,
            }],
        };
        let at = "2026-12-02T23:30:00Z".parse().unwrap();
        office.import_order(&author, "SH-1", at, new_order).unwrap();
        let count = |from: &str, to: &str| {
            office
                .list_orders(&OrderQuery {
                    from: Some(day(from)),
                    to: Some(day(to)),
                    limit: 50,
                    ..OrderQuery::default()
                })
                .unwrap()
                .items
                .len()
        };
        assert_eq!(count("2026-12-03", "2026-12-03"), 1);
        assert_eq!(count("2026-12-02", "2026-12-02"), 0);
        assert_eq!(count("2026-12-01", "2026-12-02"), 0);
        assert_eq!(count("2026-12-03", "2026-12-31"), 1);
    }
}
