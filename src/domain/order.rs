//! Sales orders: the fields a clerk takes, their lines, the facts recorded on them, and what is
//! derived from all of that (totals, status, shipped and paid amounts).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;

use super::attest::{Rules, Unattested};
use super::facts::{CheckedFacts, Fact, FactBody};
use super::money::{line_amount, net_of_tax, scale_of};
use super::record::{ConflictingValue, Record, RecordOp};
use super::validation::FieldErrors;

pub const ORDER_KIND: &str = "order";
pub const LINES: &str = "lines";

/// Header fields of an order, each merging on its own. `number` and `created_at` are set once.
pub const HEADER_FIELDS: &[&str] = &[
    "number",
    "created_at",
    "customer_id",
    "project",
    "store",
    "salesperson",
    "tax_included",
    "tax_rate",
    "invoice_title",
    "deposit",
    "contract",
    "ship_address",
    "receiver",
    "receiver_phone",
    "promised_ship_date",
    "note",
];

/// Fields only a supervisor may change once the order exists (reassigning ownership).
pub const OWNERSHIP_FIELDS: &[&str] = &["store", "salesperson"];

pub const LINE_FIELDS: &[&str] = &["sku", "spec", "quantity", "unit", "unit_price", "position"];

/// Unit prices may carry 4 decimals, quantities 3, amounts 2.
pub const PRICE_SCALE: u32 = 4;
pub const QUANTITY_SCALE: u32 = 3;
pub const AMOUNT_SCALE: u32 = 2;

/// An order line as typed by a clerk.
#[derive(Debug, Clone, PartialEq)]
pub struct LineInput {
    pub sku: String,
    pub spec: String,
    pub quantity: Decimal,
    pub unit: String,
    pub unit_price: Decimal,
}

/// Everything needed to take an order. Ids are chosen by the caller (the store's node).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub customer_id: String,
    pub project: String,
    pub store: String,
    pub salesperson: String,
    pub tax_included: bool,
    pub tax_rate: Decimal,
    pub invoice_title: String,
    pub deposit: Decimal,
    pub contract: String,
    pub ship_address: String,
    pub receiver: String,
    pub receiver_phone: String,
    pub promised_ship_date: Option<NaiveDate>,
    pub note: String,
    pub lines: Vec<LineInput>,
}

/// Checks a line's numbers; `at` is the field path prefix for error messages ("lines[2]").
pub fn validate_line(line: &LineInput, at: &str, errors: &mut FieldErrors) {
    if line.sku.trim().is_empty() {
        errors.push(format!("{at}.sku"), "must not be empty");
    }
    if line.quantity <= Decimal::ZERO {
        errors.push(format!("{at}.quantity"), "must be greater than zero");
    }
    if scale_of(line.quantity) > QUANTITY_SCALE {
        errors.push(format!("{at}.quantity"), "at most 3 decimal places");
    }
    if line.unit_price < Decimal::ZERO {
        errors.push(format!("{at}.unit_price"), "must not be negative");
    }
    if scale_of(line.unit_price) > PRICE_SCALE {
        errors.push(format!("{at}.unit_price"), "at most 4 decimal places");
    }
}

pub fn validate_amount(value: Decimal, field: &str, errors: &mut FieldErrors) {
    if value < Decimal::ZERO {
        errors.push(field, "must not be negative");
    }
    if scale_of(value) > AMOUNT_SCALE {
        errors.push(field, "at most 2 decimal places");
    }
}

pub fn validate_tax_rate(rate: Decimal, errors: &mut FieldErrors) {
    if rate < Decimal::ZERO || rate >= Decimal::ONE {
        errors.push("tax_rate", "must be between 0 and 1 (0.13 for 13%)");
    }
    if scale_of(rate) > 4 {
        errors.push("tax_rate", "at most 4 decimal places");
    }
}

impl NewOrder {
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.customer_id.trim().is_empty() {
            errors.push("customer_id", "must not be empty");
        }
        if self.lines.is_empty() {
            errors.push("lines", "an order needs at least one line");
        }
        for (i, line) in self.lines.iter().enumerate() {
            validate_line(line, &format!("lines[{i}]"), &mut errors);
        }
        validate_tax_rate(self.tax_rate, &mut errors);
        validate_amount(self.deposit, "deposit", &mut errors);
        if self.tax_included && self.invoice_title.trim().is_empty() {
            errors.push("invoice_title", "required when the order is tax-included");
        }
        if self.tax_included && self.tax_rate.is_zero() {
            errors.push(
                "tax_rate",
                "含税订单须填写税率 / required when the order is tax-included (0.13 for 13%)",
            );
        }
        let gross: Decimal = self
            .lines
            .iter()
            .map(|l| line_amount(l.quantity, l.unit_price))
            .sum();
        if self.deposit > gross {
            errors.push(
                "deposit",
                format!("定金不能超过订单金额 / must not exceed the order total ({gross})"),
            );
        }
        errors.into_result()
    }

    /// The ops that write this order into a fresh document. Line ids come from `line_id`.
    pub fn into_ops(
        self,
        number: &str,
        created_at: DateTime<Utc>,
        mut line_id: impl FnMut() -> String,
    ) -> Vec<RecordOp> {
        let mut ops = vec![
            RecordOp::SetKind(ORDER_KIND.to_string()),
            RecordOp::EnsureCollection(LINES.to_string()),
            RecordOp::field("number", number),
            RecordOp::field("created_at", created_at.to_rfc3339()),
            RecordOp::field("customer_id", self.customer_id),
            RecordOp::field("project", self.project),
            RecordOp::field("store", self.store),
            RecordOp::field("salesperson", self.salesperson),
            RecordOp::field("tax_included", self.tax_included.to_string()),
            RecordOp::field("tax_rate", self.tax_rate.normalize().to_string()),
            RecordOp::field("invoice_title", self.invoice_title),
            RecordOp::field("deposit", self.deposit.to_string()),
            RecordOp::field("contract", self.contract),
            RecordOp::field("ship_address", self.ship_address),
            RecordOp::field("receiver", self.receiver),
            RecordOp::field("receiver_phone", self.receiver_phone),
            RecordOp::field(
                "promised_ship_date",
                self.promised_ship_date
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            ),
            RecordOp::field("note", self.note),
        ];
        for (position, line) in self.lines.into_iter().enumerate() {
            ops.extend(line_ops(&line_id(), &line, position));
        }
        ops
    }
}

pub fn line_ops(id: &str, line: &LineInput, position: usize) -> Vec<RecordOp> {
    vec![
        RecordOp::item_field(LINES, id, "sku", line.sku.clone()),
        RecordOp::item_field(LINES, id, "spec", line.spec.clone()),
        RecordOp::item_field(LINES, id, "quantity", line.quantity.normalize().to_string()),
        RecordOp::item_field(LINES, id, "unit", line.unit.clone()),
        RecordOp::item_field(LINES, id, "unit_price", line.unit_price.to_string()),
        RecordOp::item_field(LINES, id, "position", format!("{position:06}")),
    ]
}

/// A line as read back, with its amount.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub id: String,
    pub sku: String,
    pub spec: String,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub unit: String,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// quantity x unit price, rounded half-up to the cent.
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub amount: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub shipped: Decimal,
}

/// A field whose value differs between nodes, with every value and who wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldConflict {
    /// `project`, or `lines.<line id>.unit_price` for a line field.
    pub field: String,
    pub values: Vec<ConflictingValue>,
}

/// An order read back from its document. Facts that cannot be parsed (written by a newer
/// version) are kept out of derivation but counted, so nothing is silently ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: String,
    pub header: BTreeMap<String, String>,
    pub lines: Vec<OrderLine>,
    pub facts: Vec<Fact>,
    pub unreadable_facts: usize,
    /// Facts that do not count (unsigned, forged, or beyond their author's authority), with
    /// why: kept as evidence, each an anomaly.
    pub refused_facts: Vec<(Fact, String)>,
    pub conflicts: Vec<FieldConflict>,
    /// Values no counted fact vouches for (`domain::attest`), once the order is verified:
    /// shown as evidence, each an anomaly; the order is neither released nor shipped.
    pub unattested: Vec<Unattested>,
}

/// How an order's values are checked: from its 核单 on; a `Changed` fact's new values (and
/// the lines it removed) count as vouched for even without an attestation (written before
/// attestations, or by an older node).
pub const ATTEST_RULES: Rules = Rules {
    activates: &|f: &Fact| matches!(f.body, FactBody::Verified { .. }),
    stated: &|f: &Fact| match &f.body {
        FactBody::Changed { changes, .. } => changes
            .iter()
            .map(|c| (c.field.clone(), c.new.clone()))
            .collect(),
        _ => Vec::new(),
    },
};

pub use super::facts::{CountAll, FactCheck};

fn decimal_or_zero(value: Option<&str>) -> Decimal {
    value
        .and_then(|v| Decimal::from_str(v).ok())
        .unwrap_or_default()
}

impl Order {
    pub fn from_record(id: &str, record: &Record) -> Order {
        Order::from_record_checked(id, record, &CountAll)
    }

    /// The order with only the facts `check` lets count; the others are `refused_facts`.
    pub fn from_record_checked(id: &str, record: &Record, check: &dyn FactCheck) -> Order {
        let mut conflicts = Vec::new();
        let header = HEADER_FIELDS
            .iter()
            .map(|name| {
                let value = record.fields.get(*name);
                if let Some(v) = value.filter(|v| !v.conflicts.is_empty()) {
                    conflicts.push(FieldConflict {
                        field: name.to_string(),
                        values: v.conflicts.clone(),
                    });
                }
                (
                    name.to_string(),
                    value.map(|v| v.value.clone()).unwrap_or_default(),
                )
            })
            .collect();
        let mut lines: Vec<(String, OrderLine)> = record
            .collection(LINES)
            .map(|(line_id, fields)| {
                for (name, v) in fields.iter().filter(|(_, v)| !v.conflicts.is_empty()) {
                    conflicts.push(FieldConflict {
                        field: format!("lines.{line_id}.{name}"),
                        values: v.conflicts.clone(),
                    });
                }
                let get = |name: &str| fields.get(name).map(|v| v.value.as_str());
                let quantity = decimal_or_zero(get("quantity"));
                let unit_price = decimal_or_zero(get("unit_price"));
                let position = get("position").unwrap_or_default().to_string();
                (
                    position,
                    OrderLine {
                        id: line_id.clone(),
                        sku: get("sku").unwrap_or_default().to_string(),
                        spec: get("spec").unwrap_or_default().to_string(),
                        quantity,
                        unit: get("unit").unwrap_or_default().to_string(),
                        unit_price,
                        amount: line_amount(quantity, unit_price),
                        shipped: Decimal::ZERO,
                    },
                )
            })
            .collect();
        lines.sort_by(|a, b| (&a.0, &a.1.id).cmp(&(&b.0, &b.1.id)));
        let CheckedFacts {
            facts,
            refused_facts,
            unreadable_facts,
        } = CheckedFacts::of(id, record, check);
        let unattested = super::attest::unattested(record, &facts, &ATTEST_RULES);
        let mut order = Order {
            id: id.to_string(),
            header,
            lines: lines.into_iter().map(|(_, l)| l).collect(),
            facts,
            unreadable_facts,
            refused_facts,
            conflicts,
            unattested,
        };
        let shipped = order.shipped_per_line();
        for line in &mut order.lines {
            line.shipped = shipped.get(&line.id).copied().unwrap_or_default();
        }
        order
    }

    pub fn get(&self, field: &str) -> &str {
        self.header.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn tax_included(&self) -> bool {
        self.get("tax_included") == "true"
    }

    pub fn tax_rate(&self) -> Decimal {
        decimal_or_zero(Some(self.get("tax_rate")))
    }

    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.get("created_at"))
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    pub fn totals(&self) -> Totals {
        let gross: Decimal = self.lines.iter().map(|l| l.amount).sum();
        let net: Decimal = if self.tax_included() {
            let rate = self.tax_rate();
            self.lines.iter().map(|l| net_of_tax(l.amount, rate)).sum()
        } else {
            gross
        };
        Totals {
            gross,
            net,
            tax: gross - net,
        }
    }

    pub fn facts_of<'a, T>(
        &'a self,
        pick: impl Fn(&'a Fact) -> Option<T> + 'a,
    ) -> impl Iterator<Item = T> + 'a {
        self.facts.iter().filter_map(pick)
    }

    pub fn shipped_per_line(&self) -> BTreeMap<String, Decimal> {
        let mut shipped = BTreeMap::new();
        for fact in &self.facts {
            if let FactBody::Shipment { lines, .. } = &fact.body {
                for l in lines {
                    *shipped.entry(l.line.clone()).or_insert(Decimal::ZERO) += l.quantity;
                }
            }
        }
        shipped
    }

    /// Payment facts not voided, in recorded order.
    pub fn live_payments(&self) -> Vec<&Fact> {
        let voided: Vec<&str> = self
            .facts_of(|f| match &f.body {
                FactBody::PaymentVoid { payment, .. } => Some(payment.as_str()),
                _ => None,
            })
            .collect();
        self.facts
            .iter()
            .filter(|f| {
                matches!(f.body, FactBody::Payment { .. }) && !voided.contains(&f.id.as_str())
            })
            .collect()
    }

    pub fn paid(&self) -> Decimal {
        self.live_payments()
            .iter()
            .map(|f| match &f.body {
                FactBody::Payment { amount, .. } => *amount,
                _ => Decimal::ZERO,
            })
            .sum()
    }

    /// Invoice facts not voided (红冲), in recorded order.
    pub fn live_invoices(&self) -> Vec<&Fact> {
        let voided: Vec<&str> = self
            .facts_of(|f| match &f.body {
                FactBody::InvoiceVoided { invoice, .. } => Some(invoice.as_str()),
                _ => None,
            })
            .collect();
        self.facts
            .iter()
            .filter(|f| {
                matches!(f.body, FactBody::Invoice { .. }) && !voided.contains(&f.id.as_str())
            })
            .collect()
    }

    pub fn invoiced(&self) -> Decimal {
        self.live_invoices()
            .iter()
            .map(|f| match &f.body {
                FactBody::Invoice { amount, .. } => *amount,
                _ => Decimal::ZERO,
            })
            .sum()
    }

    /// Value shipped: for each line, shipped quantity (capped at ordered) at the line's price.
    pub fn shipped_value(&self) -> Decimal {
        self.lines
            .iter()
            .map(|l| line_amount(l.shipped.min(l.quantity), l.unit_price))
            .sum()
    }

    /// What the customer owes for the order in the end: its gross, or only what shipped once
    /// the rest was cancelled.
    pub fn due_total(&self) -> Decimal {
        if self.remainder_cancelled().is_some() {
            self.shipped_value()
        } else {
            self.totals().gross
        }
    }

    /// Whether the order is cancelled now: the later of cancel and reinstate facts wins.
    pub fn is_cancelled(&self) -> bool {
        self.facts
            .iter()
            .rev()
            .find_map(|f| match f.body {
                FactBody::Cancelled { .. } => Some(true),
                FactBody::Reinstated { .. } => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// The fact that cancelled the unshipped rest, if any.
    pub fn remainder_cancelled(&self) -> Option<&Fact> {
        self.facts
            .iter()
            .find(|f| matches!(f.body, FactBody::RemainderCancelled { .. }))
    }

    pub fn has(&self, pick: impl Fn(&FactBody) -> bool) -> bool {
        self.facts.iter().any(|f| pick(&f.body))
    }

    /// Every line shipped in full, or, once the rest was cancelled, something shipped.
    pub fn fully_shipped(&self) -> bool {
        if self.remainder_cancelled().is_some() {
            return self.lines.iter().any(|l| l.shipped > Decimal::ZERO);
        }
        !self.lines.is_empty() && self.lines.iter().all(|l| l.shipped >= l.quantity)
    }

    /// The latest 变更单 (a change after 核单): verification, approval and finance releases
    /// recorded before it no longer count.
    pub fn last_change_order(&self) -> Option<&Fact> {
        self.facts.iter().rev().find(|f| {
            matches!(
                f.body,
                FactBody::Changed {
                    change_order: true,
                    ..
                }
            )
        })
    }

    /// Facts recorded since the latest 变更单 (all of them when there is none).
    pub fn since_last_change_order(&self) -> &[Fact] {
        match self.last_change_order() {
            Some(change) => {
                let at = self
                    .facts
                    .iter()
                    .position(|f| f.id == change.id)
                    .map_or(0, |i| i + 1);
                &self.facts[at..]
            }
            None => &self.facts,
        }
    }

    /// 核单 holds for the order as it is now (none since the latest 变更单 means it must be
    /// verified again).
    pub fn verified_now(&self) -> bool {
        self.since_last_change_order()
            .iter()
            .any(|f| matches!(f.body, FactBody::Verified { .. }))
    }

    /// 审核 holds for the order as it is now.
    pub fn approved_now(&self) -> bool {
        self.since_last_change_order()
            .iter()
            .any(|f| matches!(f.body, FactBody::Approved { .. }))
    }

    /// Whether the order was ever verified: from then on it is locked, and changes are 变更单.
    pub fn ever_verified(&self) -> bool {
        self.has(|b| matches!(b, FactBody::Verified { .. }))
    }

    pub fn released_to_workshop(&self) -> bool {
        self.has(|b| matches!(b, FactBody::ReleasedToWorkshop))
    }

    /// The shipping document in force: the latest version issued since the latest 变更单.
    pub fn current_shipping_doc(&self) -> Option<&Fact> {
        self.since_last_change_order()
            .iter()
            .rev()
            .find(|f| matches!(f.body, FactBody::ShippingDoc { .. }))
    }

    /// The release the warehouse may ship under: a release of the current shipping document,
    /// recorded since the latest 变更单.
    pub fn release_in_force(&self) -> Option<&Fact> {
        let doc = self.current_shipping_doc()?;
        self.since_last_change_order().iter().find(|f| {
            matches!(&f.body, FactBody::FinanceRelease { shipping_doc, .. } if *shipping_doc == doc.id)
        })
    }

    /// Quantities shipped under one release, per line.
    pub fn shipped_under(&self, release: &str) -> BTreeMap<String, Decimal> {
        let mut shipped = BTreeMap::new();
        for fact in &self.facts {
            if let FactBody::Shipment {
                lines,
                release: Some(r),
                ..
            } = &fact.body
            {
                if r == release {
                    for l in lines {
                        *shipped.entry(l.line.clone()).or_insert(Decimal::ZERO) += l.quantity;
                    }
                }
            }
        }
        shipped
    }

    /// Whether the released document still has goods to ship.
    fn release_has_goods_left(&self, release: &Fact) -> bool {
        let FactBody::FinanceRelease { shipping_doc, .. } = &release.body else {
            return false;
        };
        let Some(FactBody::ShippingDoc { lines, .. }) = self
            .facts
            .iter()
            .find(|f| f.id == *shipping_doc)
            .map(|f| &f.body)
        else {
            return false;
        };
        let shipped = self.shipped_under(&release.id);
        lines
            .iter()
            .any(|l| shipped.get(&l.line).copied().unwrap_or_default() < l.quantity)
    }

    /// Status derived from facts, never stored as an editable field.
    pub fn status(&self) -> Status {
        if self.has(|b| matches!(b, FactBody::Archived)) {
            return Status::Archived;
        }
        if self.is_cancelled() {
            return Status::Cancelled;
        }
        if self.fully_shipped() {
            let due = self.due_total();
            return if self.invoiced() < due {
                Status::Shipped
            } else if self.paid() < due {
                Status::Invoiced
            } else {
                Status::Paid
            };
        }
        if !self.verified_now() {
            return Status::Taken;
        }
        if !self.approved_now() {
            return Status::Verified;
        }
        if let Some(release) = self.release_in_force() {
            if self.release_has_goods_left(release) {
                return Status::Released;
            }
        } else if self.current_shipping_doc().is_some() {
            return Status::AwaitingRelease;
        }
        if self.lines.iter().any(|l| l.shipped > Decimal::ZERO) {
            Status::PartiallyShipped
        } else if self.released_to_workshop() {
            Status::InProduction
        } else {
            Status::Approved
        }
    }

    /// The day the order was first verified (核单), for the daily intake report.
    pub fn verified_on(&self) -> Option<NaiveDate> {
        self.facts
            .iter()
            .find(|f| matches!(f.body, FactBody::Verified { .. }))
            .map(|f| super::report::business_day(f.at))
    }

    /// The order's gross as it stood at `at`: the gross before the first change recorded after
    /// that moment, or today's gross when nothing changed since.
    pub fn gross_at(&self, at: (DateTime<Utc>, &str)) -> Decimal {
        self.facts
            .iter()
            .filter(|f| f.sort_key() > at)
            .find_map(|f| match &f.body {
                FactBody::Changed { gross_before, .. } => Some(*gross_before),
                _ => None,
            })
            .unwrap_or_else(|| self.totals().gross)
    }

    /// Shipping-document versions in order; version numbers start at 1.
    pub fn shipping_docs(&self) -> Vec<&Fact> {
        self.facts
            .iter()
            .filter(|f| matches!(f.body, FactBody::ShippingDoc { .. }))
            .collect()
    }

    pub fn releases(&self) -> Vec<(&Fact, &str)> {
        self.facts_of(|f| match &f.body {
            FactBody::FinanceRelease { shipping_doc, .. } => Some((f, shipping_doc.as_str())),
            _ => None,
        })
        .collect()
    }

    /// Quantity per line already asked back (return requests not rejected).
    pub fn requested_back(&self) -> BTreeMap<String, Decimal> {
        let rejected: Vec<&str> = self
            .facts_of(|f| match &f.body {
                FactBody::ReturnDecided {
                    request,
                    approved: false,
                    ..
                } => Some(request.as_str()),
                _ => None,
            })
            .collect();
        let mut back = BTreeMap::new();
        for fact in &self.facts {
            if let FactBody::ReturnRequested { lines, .. } = &fact.body {
                if rejected.contains(&fact.id.as_str()) {
                    continue;
                }
                for l in lines {
                    *back.entry(l.line.clone()).or_insert(Decimal::ZERO) += l.quantity;
                }
            }
        }
        back
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    #[serde(with = "super::money::serde_money")]
    pub gross: Decimal,
    #[serde(with = "super::money::serde_money")]
    pub net: Decimal,
    #[serde(with = "super::money::serde_money")]
    pub tax: Decimal,
}

/// Where an order stands, derived from its facts; each status is a queue someone works from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 待核单: taken, or changed by a 变更单 since its last 核单.
    Taken,
    /// 待审核: verified, waiting for the supervisor.
    Verified,
    /// 待下单: approved, not yet released to the workshop.
    Approved,
    /// 生产中: released to the workshop, no shipping document waiting.
    InProduction,
    /// 待放行: a shipping document waits for finance.
    AwaitingRelease,
    /// 待发货: finance released the current shipping document; the warehouse may ship it.
    Released,
    /// 部分发货: some goods left, nothing waits for finance or the warehouse.
    PartiallyShipped,
    /// 已发货: everything (or everything not cancelled) left; not fully invoiced.
    Shipped,
    /// 已开票: shipped and invoiced in full, not fully paid.
    Invoiced,
    /// 已回款: shipped, invoiced and paid in full: ready to archive.
    Paid,
    /// 已归档
    Archived,
    /// 已取消
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Taken,
        Status::Verified,
        Status::Approved,
        Status::InProduction,
        Status::AwaitingRelease,
        Status::Released,
        Status::PartiallyShipped,
        Status::Shipped,
        Status::Invoiced,
        Status::Paid,
        Status::Archived,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Taken => "taken",
            Status::Verified => "verified",
            Status::Approved => "approved",
            Status::InProduction => "in_production",
            Status::AwaitingRelease => "awaiting_release",
            Status::Released => "released",
            Status::PartiallyShipped => "partially_shipped",
            Status::Shipped => "shipped",
            Status::Invoiced => "invoiced",
            Status::Paid => "paid",
            Status::Archived => "archived",
            Status::Cancelled => "cancelled",
        }
    }

    /// The name the back office uses for it.
    pub fn label_zh(self) -> &'static str {
        match self {
            Status::Taken => "待核单",
            Status::Verified => "待审核",
            Status::Approved => "待下单",
            Status::InProduction => "生产中",
            Status::AwaitingRelease => "待放行",
            Status::Released => "待发货",
            Status::PartiallyShipped => "部分发货",
            Status::Shipped => "已发货",
            Status::Invoiced => "已开票",
            Status::Paid => "已回款",
            Status::Archived => "已归档",
            Status::Cancelled => "已取消",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Open orders count toward the unshipped amount: goods still to leave.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            Status::Cancelled
                | Status::Archived
                | Status::Shipped
                | Status::Invoiced
                | Status::Paid
        )
    }
}
