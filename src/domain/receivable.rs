//! Receivables (回款): what a customer owes on goods shipped, and for how long.
//!
//! An order's money events, each on a business day in China: goods shipped (value per day, from
//! `report::rows_of`, returns received as negative), invoices issued (live ones, on the day they
//! were recorded) and payments (live ones, on their value date). Figures as of a day count only
//! events up to that day. Payments settle the oldest shipped value first (FIFO), so what is
//! still owed keeps the day it shipped; aging is counted from that day, and from the day it is
//! due under the customer's payment terms (`terms_days`).
//!
//! Payment terms (付款条件) are free text on the customer archive, read as a number of days
//! after shipment: the first number in the text ("月结30天", "30", "net 45") is the days;
//! "月结" without a number is 30 days; anything else ("款到发货", "现结", empty) means due at
//! shipment (0 days).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;

use super::facts::FactBody;
use super::order::Order;
use super::report::{business_day, rows_of, ShipRow};

/// Days after shipment the customer pays in, read from its payment terms (module doc).
pub fn terms_days(terms: &str) -> u32 {
    let digits: String = terms
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    if let Ok(days) = digits.parse::<u32>() {
        return days.min(3650);
    }
    if terms.contains("月结") {
        30
    } else {
        0
    }
}

/// `20261203` as a day, read digit by digit: the receivables pages decode every order's ledger,
/// and chrono's format parser cost more than the rest of the decoding.
fn compact_day(text: &str) -> Option<NaiveDate> {
    let digits = text.as_bytes();
    if digits.len() != 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        digits[range]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    NaiveDate::from_ymd_opt(number(0..4) as i32, number(4..6), number(6..8))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Shipped,
    Invoiced,
    Paid,
}

impl EventKind {
    fn code(self) -> char {
        match self {
            EventKind::Shipped => 'S',
            EventKind::Invoiced => 'I',
            EventKind::Paid => 'P',
        }
    }
}

/// One money event of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub date: NaiveDate,
    pub amount: Decimal,
}

/// An order's money events, in date order within each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub events: Vec<Event>,
}

impl Ledger {
    pub fn of(order: &Order) -> Ledger {
        Ledger::with_shipped(order, &rows_of(order).shipped)
    }

    /// The ledger, given the order's shipped rows (`report::rows_of`) already derived.
    pub fn with_shipped(order: &Order, shipped_rows: &[ShipRow]) -> Ledger {
        let mut shipped: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
        for row in shipped_rows {
            *shipped.entry(row.date).or_default() += row.amount;
        }
        let mut events: Vec<Event> = shipped
            .into_iter()
            .filter(|(_, a)| !a.is_zero())
            .map(|(date, amount)| Event {
                kind: EventKind::Shipped,
                date,
                amount,
            })
            .collect();
        for f in order.live_invoices() {
            if let FactBody::Invoice { amount, .. } = &f.body {
                events.push(Event {
                    kind: EventKind::Invoiced,
                    date: business_day(f.at),
                    amount: *amount,
                });
            }
        }
        for f in order.live_payments() {
            if let FactBody::Payment { amount, date, .. } = &f.body {
                events.push(Event {
                    kind: EventKind::Paid,
                    date: *date,
                    amount: *amount,
                });
            }
        }
        events.sort_by_key(|e| (e.kind.code(), e.date));
        Ledger { events }
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// `S20261203=1234.56,P20261205=100` : compact, and free of `|` and NUL for an index value.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push(e.kind.code());
            out.push_str(&e.date.format("%Y%m%d").to_string());
            out.push('=');
            out.push_str(&e.amount.to_string());
        }
        out
    }

    /// None for text this version did not write.
    pub fn decode(text: &str) -> Option<Ledger> {
        let mut events = Vec::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let kind = match part.as_bytes().first()? {
                b'S' => EventKind::Shipped,
                b'I' => EventKind::Invoiced,
                b'P' => EventKind::Paid,
                _ => return None,
            };
            let (date, amount) = part.get(1..)?.split_once('=')?;
            events.push(Event {
                kind,
                date: compact_day(date)?,
                amount: Decimal::from_str(amount).ok()?,
            });
        }
        Some(Ledger { events })
    }

    /// The day of the last money event, once payments (and goods returned) cover every
    /// shipment: from that day on its figures no longer change with the day they are read on,
    /// whatever the terms. None while something may still be owed.
    pub fn settled_on(&self) -> Option<NaiveDate> {
        let last = self.events.iter().map(|e| e.date).max()?;
        let all = self.figures(last, 0);
        (all.outstanding.is_zero() && all.oldest_due.is_none()).then_some(last)
    }

    /// The figures as of the end of `as_of`, due `terms_days` after shipment.
    pub fn figures(&self, as_of: NaiveDate, terms_days: u32) -> Figures {
        let (mut f, open) = self.open_as_of(as_of);
        add_aging(&mut f, &open, as_of, terms_days);
        f
    }

    /// The figures as of the end of `as_of` without their aging, and the amount of each
    /// shipment day still open then, oldest first (payments and goods returned settle the
    /// oldest shipment first).
    pub fn open_as_of(&self, as_of: NaiveDate) -> (Figures, Vec<(NaiveDate, Decimal)>) {
        let mut f = Figures {
            orders: 1,
            ..Figures::default()
        };
        let mut shipped_days: Vec<(NaiveDate, Decimal)> = Vec::new();
        let mut credits = Decimal::ZERO;
        for e in self.events.iter().filter(|e| e.date <= as_of) {
            match e.kind {
                EventKind::Shipped => {
                    f.shipped += e.amount;
                    if e.amount > Decimal::ZERO {
                        shipped_days.push((e.date, e.amount));
                    } else {
                        // Goods returned reduce what is owed, like a payment.
                        credits -= e.amount;
                    }
                }
                EventKind::Invoiced => f.invoiced += e.amount,
                EventKind::Paid => {
                    f.paid += e.amount;
                    credits += e.amount;
                }
            }
        }
        shipped_days.sort();
        f.outstanding = (f.shipped - f.paid).max(Decimal::ZERO);
        let mut open = Vec::new();
        for (day, amount) in shipped_days {
            let settled = credits.min(amount);
            credits -= settled;
            if amount - settled > Decimal::ZERO {
                open.push((day, amount - settled));
            }
        }
        (f, open)
    }
}

/// Ages the amounts still open (`open`: shipment day and amount, oldest first) as of `as_of`
/// into `f`, due `terms_days` after shipment, and sets the oldest due date if `f` has none.
pub fn add_aging(
    f: &mut Figures,
    open: &[(NaiveDate, Decimal)],
    as_of: NaiveDate,
    terms_days: u32,
) {
    for &(day, open) in open {
        f.aging_shipped.add((as_of - day).num_days(), open);
        let due = day
            .checked_add_days(chrono::Days::new(u64::from(terms_days)))
            .unwrap_or(NaiveDate::MAX);
        let overdue = (as_of - due).num_days();
        if overdue <= 0 {
            f.aging_due.not_due += open;
        } else {
            f.aging_due.add(overdue, open);
        }
        if f.oldest_due.is_none() {
            f.oldest_due = Some(due);
            f.first_open_shipment = Some(day);
        }
    }
}

/// Amounts by age in days: 0–30, 31–60, 61–90, over 90. Aging by due date keeps what is not
/// yet due apart (`not_due`); aging by shipment has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Buckets {
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub not_due: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub d0_30: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub d31_60: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub d61_90: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub over_90: Decimal,
}

impl Buckets {
    /// Adds `amount` aged `days` (0 or more; a date after `as_of` counts as 0).
    pub fn add(&mut self, days: i64, amount: Decimal) {
        match days {
            ..=30 => self.d0_30 += amount,
            31..=60 => self.d31_60 += amount,
            61..=90 => self.d61_90 += amount,
            _ => self.over_90 += amount,
        }
    }

    pub fn total(&self) -> Decimal {
        self.not_due + self.d0_30 + self.d31_60 + self.d61_90 + self.over_90
    }

    fn merge(&mut self, o: &Buckets) {
        self.not_due += o.not_due;
        self.d0_30 += o.d0_30;
        self.d31_60 += o.d31_60;
        self.d61_90 += o.d61_90;
        self.over_90 += o.over_90;
    }
}

/// Receivable figures of one order, or added up over several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// Orders counted.
    pub orders: usize,
    /// Value shipped (returns received deducted).
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub shipped: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub invoiced: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub paid: Decimal,
    /// Shipped minus paid, never below zero: what the customer owes on goods it has.
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub outstanding: Decimal,
    /// Outstanding by days since the goods shipped.
    pub aging_shipped: Buckets,
    /// Outstanding by days past the due date (shipment + payment terms).
    pub aging_due: Buckets,
    /// The due date of the oldest amount still owed.
    pub oldest_due: Option<NaiveDate>,
    /// The day the oldest amount still owed shipped.
    pub first_open_shipment: Option<NaiveDate>,
}

impl Figures {
    pub fn add(&mut self, o: &Figures) {
        self.orders += o.orders;
        self.shipped += o.shipped;
        self.invoiced += o.invoiced;
        self.paid += o.paid;
        self.outstanding += o.outstanding;
        self.aging_shipped.merge(&o.aging_shipped);
        self.aging_due.merge(&o.aging_due);
        self.oldest_due = match (self.oldest_due, o.oldest_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.first_open_shipment = match (self.first_open_shipment, o.first_open_shipment) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The last day of `today`'s week (Monday to Sunday): "due this week" is due from today to it.
pub fn week_end(today: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    today
        .checked_add_days(chrono::Days::new(u64::from(
            6 - today.weekday().num_days_from_monday(),
        )))
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn ev(kind: EventKind, date: &str, amount: &str) -> Event {
        Event {
            kind,
            date: day(date),
            amount: d(amount),
        }
    }

    #[test]
    fn terms_are_read_as_days_after_shipment() {
        assert_eq!(terms_days("月结30天"), 30);
        assert_eq!(terms_days("30"), 30);
        assert_eq!(terms_days("net 45 days"), 45);
        assert_eq!(terms_days("月结"), 30);
        assert_eq!(terms_days("款到发货"), 0);
        assert_eq!(terms_days(""), 0);
        assert_eq!(terms_days("99999999999"), 0, "not a number of days");
    }

    #[test]
    fn a_ledger_survives_its_index_encoding() {
        let ledger = Ledger {
            events: vec![
                ev(EventKind::Shipped, "2026-10-01", "1000.50"),
                ev(EventKind::Invoiced, "2026-10-02", "1000.50"),
                ev(EventKind::Paid, "2026-10-03", "300"),
            ],
        };
        let text = ledger.encode();
        assert!(!text.contains('|'));
        assert_eq!(Ledger::decode(&text), Some(ledger));
        assert_eq!(Ledger::decode(""), Some(Ledger::default()));
        assert_eq!(Ledger::decode("X20261001=1"), None);
        assert_eq!(Ledger::decode("S2026101=1"), None);
        assert_eq!(Ledger::decode("S20261301=1"), None);
        assert_eq!(Ledger::decode("S2026-101=1"), None);
        assert_eq!(
            Ledger::decode("P20240229=1.5").map(|l| l.events[0].date),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
    }

    #[test]
    fn payments_settle_the_oldest_shipment_first_and_the_rest_ages() {
        let ledger = Ledger {
            events: vec![
                ev(EventKind::Shipped, "2026-08-01", "1000"),
                ev(EventKind::Shipped, "2026-10-01", "500"),
                ev(EventKind::Shipped, "2026-11-20", "200"),
                ev(EventKind::Invoiced, "2026-10-02", "1500"),
                ev(EventKind::Paid, "2026-10-05", "600"),
                ev(EventKind::Paid, "2026-12-30", "1100"),
            ],
        };
        let f = ledger.figures(day("2026-12-01"), 0);
        assert_eq!(
            (f.shipped, f.invoiced, f.paid, f.outstanding),
            (d("1700"), d("1500"), d("600"), d("1100"))
        );
        // 400 left of 2026-08-01 (122 days), 500 of 10-01 (61 days), 200 of 11-20 (11 days).
        assert_eq!(f.aging_shipped.over_90, d("400"));
        assert_eq!(f.aging_shipped.d61_90, d("500"));
        assert_eq!(f.aging_shipped.d0_30, d("200"));
        assert_eq!(f.aging_shipped.not_due, Decimal::ZERO);
        assert_eq!(f.aging_due, f.aging_shipped, "due at shipment: the same");
        assert_eq!(f.oldest_due, Some(day("2026-08-01")));

        // Net 30: 08-01 is 92 days past due, 10-01 31 days; 11-20 is not due until 12-20.
        let f = ledger.figures(day("2026-12-01"), 30);
        assert_eq!(f.aging_due.over_90, d("400"));
        assert_eq!(f.aging_due.d31_60, d("500"));
        assert_eq!(f.aging_due.not_due, d("200"));
        assert_eq!(f.oldest_due, Some(day("2026-08-31")));

        // Later, everything is paid: nothing owed, nothing aging.
        let f = ledger.figures(day("2026-12-31"), 30);
        assert_eq!(f.outstanding, Decimal::ZERO);
        assert_eq!(f.aging_shipped.total(), Decimal::ZERO);
        assert_eq!(f.oldest_due, None);

        // Before anything shipped: nothing.
        let f = ledger.figures(day("2026-07-01"), 30);
        assert_eq!((f.shipped, f.outstanding), (Decimal::ZERO, Decimal::ZERO));
    }

    #[test]
    fn bucket_edges_are_30_60_90_days() {
        for (days, bucket) in [(0, 0), (30, 0), (31, 1), (60, 1), (61, 2), (90, 2), (91, 3)] {
            let mut b = Buckets::default();
            b.add(days, d("1"));
            let got = [b.d0_30, b.d31_60, b.d61_90, b.over_90];
            assert_eq!(got[bucket], d("1"), "{days} days");
        }
    }

    #[test]
    fn a_week_ends_on_sunday() {
        assert_eq!(week_end(day("2026-12-03")), day("2026-12-06")); // Thursday
        assert_eq!(week_end(day("2026-12-06")), day("2026-12-06")); // Sunday
        assert_eq!(week_end(day("2026-12-07")), day("2026-12-13")); // Monday
    }
}
