//! Reports, as pure computation: what each order contributes (`OrderRows`, derived from its facts)
//! and how contributions add up into the daily, monthly and statistics reports. The store keeps
//! each order's rows in its indexes, so a report reads rows, never orders.
//!
//! Days are business days in China (UTC+8), whatever the machine's clock zone.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

use super::facts::{FactBody, ReturnKind};
use super::money::line_amount;
use super::order::Order;

/// The company's day starts at midnight in China.
pub fn business_day(at: DateTime<Utc>) -> NaiveDate {
    let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    at.with_timezone(&china).date_naive()
}

/// Goods value leaving (or, for returns, coming back) on one day for one product of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipRow {
    pub date: NaiveDate,
    pub sku: String,
    pub quantity: Decimal,
    pub amount: Decimal,
}

/// A stretch of days during which the order's unshipped value is constant; `end` is the first
/// day it no longer holds (None: still open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSpan {
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    pub amount: Decimal,
}

/// Intake counted on one day: the order's value at its first 核单, or (with `adjusts`) the
/// change a later 变更单 made to it, reported on the day of the change and naming the day it
/// adjusts, so the report of that earlier day does not move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeRow {
    pub date: NaiveDate,
    pub amount: Decimal,
    pub adjusts: Option<NaiveDate>,
}

/// Everything one order contributes to reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderRows {
    pub shipped: Vec<ShipRow>,
    /// The day the order was first verified (核单) and its value then, counted as intake; then
    /// one adjustment (调整) per later day a change order moved its value.
    pub intake: Vec<IntakeRow>,
    pub open: Vec<OpenSpan>,
}

/// Derives an order's report rows from its facts.
///
/// Shipped value per day is the difference of cumulative values (cumulative quantity x unit
/// price, rounded), so the days of a line always add up to exactly its amount. A return
/// (退货, not exchange or repair) received reduces sales on the day it arrives.
pub fn rows_of(order: &Order) -> OrderRows {
    let mut rows = OrderRows::default();
    // A line's price as it shipped: the price its first shipment recorded (a shipped line's
    // price does not change later; if a merge changed it anyway, past sales keep theirs).
    let shipped_price = |line: &str| {
        order.facts.iter().find_map(|f| match &f.body {
            FactBody::Shipment { lines, .. } => lines
                .iter()
                .find(|l| l.line == line)
                .and_then(|l| l.unit_price),
            _ => None,
        })
    };
    let price: BTreeMap<&str, (&str, Decimal, Decimal)> = order
        .lines
        .iter()
        .map(|l| {
            let unit_price = shipped_price(&l.id).unwrap_or(l.unit_price);
            (l.id.as_str(), (l.sku.as_str(), unit_price, l.quantity))
        })
        .collect();

    // Cumulative shipped quantity per line, day by day.
    let mut shipped_by_day: BTreeMap<(NaiveDate, &str), Decimal> = BTreeMap::new();
    let return_kinds: BTreeMap<&str, ReturnKind> = order
        .facts
        .iter()
        .filter_map(|f| match &f.body {
            FactBody::ReturnRequested { return_kind, .. } => Some((f.id.as_str(), *return_kind)),
            _ => None,
        })
        .collect();
    for fact in &order.facts {
        let day = business_day(fact.at);
        match &fact.body {
            FactBody::Shipment { lines, .. } => {
                for l in lines.iter().filter(|l| price.contains_key(l.line.as_str())) {
                    *shipped_by_day.entry((day, l.line.as_str())).or_default() += l.quantity;
                }
            }
            FactBody::ReturnReceived { request, lines, .. }
                if return_kinds.get(request.as_str()) == Some(&ReturnKind::Return) =>
            {
                for l in lines.iter().filter(|l| price.contains_key(l.line.as_str())) {
                    *shipped_by_day.entry((day, l.line.as_str())).or_default() -= l.quantity;
                }
            }
            _ => {}
        }
    }
    let mut cumulative: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut by_day_sku: BTreeMap<(NaiveDate, &str), (Decimal, Decimal)> = BTreeMap::new();
    for ((day, line), qty) in &shipped_by_day {
        let (sku, unit_price, _) = price[line];
        let before = cumulative.get(line).copied().unwrap_or_default();
        let after = before + qty;
        cumulative.insert(line, after);
        let amount = line_amount(after, unit_price) - line_amount(before, unit_price);
        let entry = by_day_sku.entry((*day, sku)).or_default();
        entry.0 += qty;
        entry.1 += amount;
    }
    rows.shipped = by_day_sku
        .into_iter()
        .filter(|(_, (q, a))| !q.is_zero() || !a.is_zero())
        .map(|((date, sku), (quantity, amount))| ShipRow {
            date,
            sku: sku.to_string(),
            quantity,
            amount,
        })
        .collect();

    if let Some(verified) = order
        .facts
        .iter()
        .find(|f| matches!(f.body, FactBody::Verified { .. }))
    {
        let first_day = business_day(verified.at);
        rows.intake.push(IntakeRow {
            date: first_day,
            amount: order.gross_at(verified.sort_key()),
            adjusts: None,
        });
        let mut by_day: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
        for fact in order
            .facts
            .iter()
            .filter(|f| f.sort_key() > verified.sort_key())
        {
            if let FactBody::Changed {
                gross_before,
                gross_after,
                ..
            } = &fact.body
            {
                *by_day.entry(business_day(fact.at)).or_default() += *gross_after - *gross_before;
            }
        }
        for (date, amount) in by_day.into_iter().filter(|(_, a)| !a.is_zero()) {
            if date == first_day {
                // Changed the same day it was verified: that day's figure is still open.
                rows.intake[0].amount += amount;
            } else {
                rows.intake.push(IntakeRow {
                    date,
                    amount,
                    adjusts: Some(first_day),
                });
            }
        }
    }
    let gross = order.gross_at((DateTime::<Utc>::MIN_UTC, ""));

    // Unshipped value over time: opens when taken, drops with each shipment (capped at what was
    // ordered), closes when fully shipped, cancelled or archived; reinstating reopens it.
    let Some(created) = order.created_at() else {
        return rows;
    };
    let mut events: Vec<(NaiveDate, Event)> = vec![(business_day(created), Event::Open)];
    for fact in &order.facts {
        let day = business_day(fact.at);
        match &fact.body {
            FactBody::Shipment { lines, .. } => {
                let value: Decimal = lines
                    .iter()
                    .filter_map(|l| {
                        price
                            .get(l.line.as_str())
                            .map(|(_, p, _)| line_amount(l.quantity, *p))
                    })
                    .sum();
                events.push((day, Event::Shipped(value)));
            }
            FactBody::Changed {
                gross_before,
                gross_after,
                ..
            } => events.push((day, Event::Changed(*gross_after - *gross_before))),
            FactBody::Cancelled { .. }
            | FactBody::Archived
            | FactBody::RemainderCancelled { .. } => events.push((day, Event::Close)),
            FactBody::Reinstated { .. } => events.push((day, Event::Open)),
            _ => {}
        }
    }
    events.sort_by_key(|(day, _)| *day);
    let mut open = false;
    let mut unshipped = gross;
    let mut span_start: Option<(NaiveDate, Decimal)> = None;
    for (day, event) in events {
        match event {
            Event::Open => open = true,
            Event::Close => open = false,
            Event::Shipped(value) => unshipped = (unshipped - value).max(Decimal::ZERO),
            Event::Changed(delta) => unshipped = (unshipped + delta).max(Decimal::ZERO),
        }
        let now = (open && unshipped > Decimal::ZERO).then_some(unshipped);
        match (span_start, now) {
            (Some((start, amount)), now) if now != Some(amount) => {
                if start < day {
                    rows.open.push(OpenSpan {
                        start,
                        end: Some(day),
                        amount,
                    });
                }
                span_start = now.map(|a| (day, a));
            }
            (None, Some(a)) => span_start = Some((day, a)),
            _ => {}
        }
    }
    if let Some((start, amount)) = span_start {
        rows.open.push(OpenSpan {
            start,
            end: None,
            amount,
        });
    }
    // Several events on one day: only the state at the end of the day counts.
    rows.open.retain(|s| s.end.is_none_or(|e| e > s.start));
    rows
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Open,
    Close,
    Shipped(Decimal),
    Changed(Decimal),
}

/// Who an order belongs to, for grouping: from the order and its customer's archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ownership {
    pub store: String,
    pub customer: String,
    pub region: String,
    pub channel: String,
    pub salesperson: String,
}

/// One order's contribution to a figure, so each figure can be traced to its orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderAmount {
    pub order_id: String,
    pub number: String,
    #[serde(with = "super::money::serde_money")]
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figure {
    #[serde(with = "super::money::serde_money")]
    pub amount: Decimal,
    pub orders: Vec<OrderAmount>,
}

impl Figure {
    fn new(mut orders: Vec<OrderAmount>) -> Figure {
        orders.retain(|o| !o.amount.is_zero());
        orders.sort_by(|a, b| a.number.cmp(&b.number));
        Figure {
            amount: orders.iter().map(|o| o.amount).sum(),
            orders,
        }
    }
}

/// 调整: a change order that moved an order's value after the day it was verified, reported on
/// the day of the change (its amount is in that day's intake) and naming the day it adjusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adjustment {
    pub order_id: String,
    pub number: String,
    #[serde(with = "super::money::serde_money")]
    pub amount: Decimal,
    pub adjusts: NaiveDate,
}

/// 每日: 销售额 (value shipped), 接单额 (value verified), 未发货额 (unshipped, open orders, end of day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyReport {
    pub date: NaiveDate,
    pub sales: Figure,
    pub intake: Figure,
    pub unshipped: Figure,
    /// Intake adjustments made this day for orders verified on earlier days.
    pub adjustments: Vec<Adjustment>,
}

pub fn daily(
    date: NaiveDate,
    shipped: Vec<OrderAmount>,
    intake: Vec<OrderAmount>,
    unshipped: Vec<OrderAmount>,
    mut adjustments: Vec<Adjustment>,
) -> DailyReport {
    adjustments.sort_by(|a, b| a.number.cmp(&b.number));
    let merge = |rows: Vec<OrderAmount>| {
        let mut by_order: BTreeMap<String, OrderAmount> = BTreeMap::new();
        for r in rows {
            by_order
                .entry(r.order_id.clone())
                .and_modify(|e| e.amount += r.amount)
                .or_insert(r);
        }
        Figure::new(by_order.into_values().collect())
    };
    DailyReport {
        date,
        sales: merge(shipped),
        intake: merge(intake),
        unshipped: merge(unshipped),
        adjustments,
    }
}

/// A shipped row with its order and ownership, the unit every sales report adds up.
#[derive(Debug, Clone)]
pub struct SalesRow {
    pub order_id: String,
    pub date: NaiveDate,
    pub sku: String,
    pub quantity: Decimal,
    pub amount: Decimal,
    pub owner: Ownership,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreMonth {
    pub store: String,
    pub customer: String,
    pub region: String,
    pub channel: String,
    #[serde(with = "super::money::serde_money")]
    pub amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub orders: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthlyReport {
    /// "2026-10"
    pub month: String,
    pub stores: Vec<StoreMonth>,
    pub total: StoreMonth,
}

pub fn monthly(month: &str, rows: &[SalesRow]) -> MonthlyReport {
    let mut acc = MonthlyAccumulator::default();
    for r in rows {
        acc.add(
            &r.owner.store,
            || {
                (
                    r.owner.customer.clone(),
                    r.owner.region.clone(),
                    r.owner.channel.clone(),
                )
            },
            &r.order_id,
            r.quantity,
            r.amount,
        );
    }
    acc.finish(month)
}

/// A month per store added up row by row, as `monthly` does, for rows read straight from the
/// index (nothing copied per row but the distinct orders' ids, as numbers).
#[derive(Debug, Default)]
pub struct MonthlyAccumulator {
    /// store -> its month (customer, region and channel of its first row) and its orders
    stores: BTreeMap<String, (StoreMonth, OrderSet)>,
    all_orders: OrderSet,
}

impl MonthlyAccumulator {
    /// Adds a shipped row of `store`; `owner` (customer, region, channel) is asked for the
    /// store's first row only.
    pub fn add(
        &mut self,
        store: &str,
        owner: impl FnOnce() -> (String, String, String),
        order: &str,
        quantity: Decimal,
        amount: Decimal,
    ) {
        let entry = match self.stores.get_mut(store) {
            Some(entry) => entry,
            None => {
                let (customer, region, channel) = owner();
                self.stores.entry(store.to_string()).or_insert((
                    StoreMonth {
                        store: store.to_string(),
                        customer,
                        region,
                        channel,
                        amount: Decimal::ZERO,
                        quantity: Decimal::ZERO,
                        orders: 0,
                    },
                    OrderSet::default(),
                ))
            }
        };
        let order = order_key(order);
        entry.0.amount += amount;
        entry.0.quantity += quantity;
        entry.1.insert(order);
        self.all_orders.insert(order);
    }

    pub fn finish(self, month: &str) -> MonthlyReport {
        let stores: Vec<StoreMonth> = self
            .stores
            .into_values()
            .map(|(mut s, orders)| {
                s.orders = orders.len();
                s
            })
            .collect();
        let total = StoreMonth {
            store: "合计".into(),
            customer: String::new(),
            region: String::new(),
            channel: String::new(),
            amount: stores.iter().map(|s| s.amount).sum(),
            quantity: stores.iter().map(|s| s.quantity).sum(),
            orders: self.all_orders.len(),
        };
        MonthlyReport {
            month: month.to_string(),
            stores,
            total,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Region,
    Channel,
    Product,
    Salesperson,
    Store,
}

impl Dimension {
    pub fn label(self) -> &'static str {
        match self {
            Dimension::Region => "区域",
            Dimension::Channel => "渠道",
            Dimension::Product => "产品",
            Dimension::Salesperson => "业务员",
            Dimension::Store => "门店",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatRow {
    pub month: String,
    pub key: String,
    #[serde(with = "super::money::serde_money")]
    pub amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub orders: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SalesStats {
    pub by: Dimension,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// One row per month and key, months in order, keys in order within a month.
    pub rows: Vec<StatRow>,
    #[serde(with = "super::money::serde_money")]
    pub total_amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total_quantity: Decimal,
}

/// Adds sales rows up by month and key as they stream past, without keeping the rows: a
/// year of statistics over 100k orders reads a few hundred thousand index entries.
#[derive(Debug, Default)]
pub struct StatsAccumulator {
    /// month -> key -> its figures
    groups: std::collections::HashMap<String, std::collections::HashMap<String, Group>>,
}

/// Amount, quantity, the distinct orders of one month and key, and orders counted already
/// (from tallies, which count each order once per month and key; never for a month whose
/// orders are also in the set).
type Group = (Decimal, Decimal, OrderSet, usize);

/// Distinct orders by `order_key`.
pub type OrderSet = std::collections::HashSet<u128>;

/// A compact identity for an order id (hex ids parse; anything else is hashed).
fn order_key(order: &str) -> u128 {
    u128::from_str_radix(order, 16).unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        order.hash(&mut h);
        h.finish() as u128
    })
}

impl StatsAccumulator {
    pub fn add(&mut self, month: &str, key: &str, order: &str, quantity: Decimal, amount: Decimal) {
        let keys = match self.groups.get_mut(month) {
            Some(keys) => keys,
            None => self.groups.entry(month.to_string()).or_default(),
        };
        let group = match keys.get_mut(key) {
            Some(group) => group,
            None => keys.entry(key.to_string()).or_default(),
        };
        group.0 += amount;
        group.1 += quantity;
        group.2.insert(order_key(order));
    }

    /// Adds a month and key's figures with its orders counted already (a tally's).
    pub fn add_counted(
        &mut self,
        month: &str,
        key: &str,
        quantity: Decimal,
        amount: Decimal,
        orders: usize,
    ) {
        let group = self
            .groups
            .entry(month.to_string())
            .or_default()
            .entry(key.to_string())
            .or_default();
        group.0 += amount;
        group.1 += quantity;
        group.3 += orders;
    }

    /// Adds another accumulator's groups (one that read another part of the range).
    pub fn merge(&mut self, other: StatsAccumulator) {
        for (month, keys) in other.groups {
            let mine = self.groups.entry(month).or_default();
            for (key, (amount, quantity, orders, counted)) in keys {
                let group = mine.entry(key).or_default();
                group.0 += amount;
                group.1 += quantity;
                group.2.extend(orders);
                group.3 += counted;
            }
        }
    }

    pub fn finish(self, by: Dimension, from: NaiveDate, to: NaiveDate) -> SalesStats {
        let mut rows: Vec<StatRow> = self
            .groups
            .into_iter()
            .flat_map(|(month, keys)| {
                keys.into_iter()
                    .map(move |(key, (amount, quantity, orders, counted))| StatRow {
                        month: month.clone(),
                        key,
                        amount,
                        quantity,
                        orders: orders.len() + counted,
                    })
            })
            .collect();
        rows.sort_by(|a, b| (&a.month, &a.key).cmp(&(&b.month, &b.key)));
        SalesStats {
            by,
            from,
            to,
            total_amount: rows.iter().map(|r| r.amount).sum(),
            total_quantity: rows.iter().map(|r| r.quantity).sum(),
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::{Fact, FactBody, FieldChange, Party};
    use crate::domain::record::{FieldValue, Record};
    use crate::domain::role::Role;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    /// Noon in China on `date`.
    fn at(date: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("{date}T12:00:00+08:00"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn fact(id: &str, date: &str, body: FactBody) -> (String, String) {
        let fact = Fact {
            id: id.into(),
            at: at(date),
            user: "李娜".into(),
            role: Role::Clerk,
            node: "n1".into(),
            body,
        };
        (id.to_string(), serde_json::to_string(&fact).unwrap())
    }

    /// One line of 2 x `price`, taken on 10-01, with `facts`.
    fn order(price: &str, facts: Vec<(String, String)>) -> Order {
        let mut record = Record {
            kind: "order".into(),
            ..Record::default()
        };
        record.fields.insert(
            "created_at".into(),
            FieldValue::plain(at("2026-10-01").to_rfc3339()),
        );
        record
            .fields
            .insert("number".into(), FieldValue::plain("N1-000001"));
        let mut line = crate::domain::record::Fields::new();
        line.insert("sku".into(), FieldValue::plain("SF-2108"));
        line.insert("quantity".into(), FieldValue::plain("2"));
        line.insert("unit_price".into(), FieldValue::plain(price));
        record
            .collections
            .entry("lines".into())
            .or_default()
            .insert("L1".into(), line);
        record.facts = facts.into_iter().collect();
        Order::from_record("o1", &record)
    }

    fn verified() -> FactBody {
        FactBody::Verified {
            parties: vec![Party::Salesperson, Party::Customer, Party::Workshop],
            checked: Default::default(),
        }
    }

    fn price_change(from: &str, to: &str, gross_before: &str, gross_after: &str) -> FactBody {
        FactBody::Changed {
            changes: vec![FieldChange {
                field: "lines.L1.unit_price".into(),
                old: from.into(),
                new: to.into(),
            }],
            reason: "客户议价".into(),
            change_order: true,
            gross_before: d(gross_before),
            gross_after: d(gross_after),
        }
    }

    #[test]
    fn a_change_order_is_reported_on_its_own_day_and_the_past_day_keeps_its_figure() {
        // Verified on 10-02 at 2 x 1000; a change order on 10-05 brings the price to 900.
        let o = order(
            "900",
            vec![
                fact("f1", "2026-10-02", verified()),
                fact(
                    "f2",
                    "2026-10-05",
                    price_change("1000", "900", "2000", "1800"),
                ),
            ],
        );
        let rows = rows_of(&o);
        assert_eq!(
            rows.intake,
            vec![
                IntakeRow {
                    date: day("2026-10-02"),
                    amount: d("2000"),
                    adjusts: None
                },
                IntakeRow {
                    date: day("2026-10-05"),
                    amount: d("-200"),
                    adjusts: Some(day("2026-10-02"))
                },
            ]
        );
        // Unshipped: 2000 from 10-01 until the change, 1800 from then on.
        assert_eq!(
            rows.open,
            vec![
                OpenSpan {
                    start: day("2026-10-01"),
                    end: Some(day("2026-10-05")),
                    amount: d("2000")
                },
                OpenSpan {
                    start: day("2026-10-05"),
                    end: None,
                    amount: d("1800")
                },
            ]
        );
    }

    #[test]
    fn a_change_on_the_day_of_verification_changes_that_day_only() {
        let o = order(
            "900",
            vec![
                fact("f1", "2026-10-02", verified()),
                fact(
                    "f2",
                    "2026-10-02",
                    price_change("1000", "900", "2000", "1800"),
                ),
            ],
        );
        let rows = rows_of(&o);
        assert_eq!(rows.intake.len(), 1);
        assert_eq!(rows.intake[0].amount, d("1800"));
    }

    #[test]
    fn shipped_goods_keep_the_price_they_left_at() {
        // Shipped at 1000 on 10-03; a merge later brought another node's price of 900.
        let shipment = FactBody::Shipment {
            lines: vec![crate::domain::facts::ShipLine {
                line: "L1".into(),
                quantity: d("2"),
                unit_price: Some(d("1000")),
            }],
            carrier: String::new(),
            waybill: String::new(),
            cartons: 0,
            releases_seen: vec!["r".into()],
            release: Some("r".into()),
        };
        let o = order(
            "900",
            vec![
                fact("f1", "2026-10-02", verified()),
                fact("f2", "2026-10-03", shipment),
            ],
        );
        let rows = rows_of(&o);
        assert_eq!(rows.shipped.len(), 1);
        assert_eq!(rows.shipped[0].amount, d("2000"));
    }
}
