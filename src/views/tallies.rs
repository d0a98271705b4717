//! The tallies the projector asks the store to keep (`store::tally`): sums over every order,
//! read by the reports and the receivables page instead of a year of index entries.
//!
//! - `st|<dim>|<month>|<key>`: shipped amount, quantity and orders of a month, by customer
//!   (`c`, grouped into regions and channels when read), product (`p`), salesperson (`s`) and
//!   store (`t`). An order counts once per month and key, as the statistics count it.
//! - `op|<day>`: how the value of open orders (未发货) and their number change on a day: a
//!   span adds on its first day and takes away on the day it ends, so the open orders at the
//!   end of a day are the sum of every `op` key up to it.
//! - `rc|<customer>`: shipped, invoiced and paid value and orders of the customer's settled
//!   receivables (`views::ReceivableEntry`); `re|<customer>`: how many receivable entries the
//!   customer has (which customers a read of open entries visits); `rs|`, `rt|`, `ro|` and
//!   `rf|` (below): its open receivables as of their last money event, aged and queued as of
//!   any day.
//! - `ct|<contract>`: a contract's amount in force and what its orders use (合同超额).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;

use super::{
    ReceivableEntry, ShippedEntry, OPEN_FOREVER, REPORT_OPEN, REPORT_RECEIVABLE, REPORT_SHIPPED,
};
use crate::domain::receivable::Ledger;
use crate::domain::report::Dimension;
use crate::store::{Contribution, Sums};

/// The indexes the tallies are read from.
pub const TALLIED: &[&str] = &[
    REPORT_SHIPPED,
    REPORT_OPEN,
    REPORT_RECEIVABLE,
    super::contracts::CONTRACT_LEDGER,
];

/// The one-letter name of a dimension kept per key, and the dimension it is read as: region
/// and channel are a customer's, so their tallies are the customers'.
pub fn stats_dimension(by: Dimension) -> &'static str {
    match by {
        Dimension::Region | Dimension::Channel => "c",
        Dimension::Product => "p",
        Dimension::Salesperson => "s",
        Dimension::Store => "t",
    }
}

/// The tally key of a dimension's month (`2026-06`) and key.
pub fn stats_key(dimension: &str, month: &str, key: &str) -> String {
    format!("st|{dimension}|{month}|{key}")
}

/// The month and key of a `st|` tally key of `dimension`.
pub fn parse_stats_key<'a>(dimension: &str, tally_key: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = tally_key.strip_prefix("st|")?.strip_prefix(dimension)?;
    rest.strip_prefix('|')?.split_once('|')
}

pub fn open_key(day: &str) -> String {
    format!("op|{day}")
}

pub fn settled_key(customer: &str) -> String {
    format!("rc|{customer}")
}

/// A customer with receivable entries: `re|<customer>` counts them.
pub fn receivable_customer_key(customer: &str) -> String {
    format!("re|{customer}")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

/// What one document's entries in `index` add to the tallies.
pub fn tally(index: &str, values: &[&str]) -> Vec<Contribution> {
    match index {
        REPORT_SHIPPED => tally_shipped(values),
        REPORT_OPEN => tally_open(values),
        REPORT_RECEIVABLE => tally_receivables(values),
        super::contracts::CONTRACT_LEDGER => tally_contract_ledger(values),
        _ => Vec::new(),
    }
}

fn tally_shipped(values: &[&str]) -> Vec<Contribution> {
    let mut groups: BTreeMap<String, Sums> = BTreeMap::new();
    for row in values.iter().filter_map(|v| ShippedEntry::parse(v)) {
        let month = row.date.get(..7).unwrap_or(row.date);
        for (dimension, key) in [
            ("c", row.customer),
            ("p", row.sku),
            ("s", row.salesperson),
            ("t", row.store),
        ] {
            let sums = groups.entry(stats_key(dimension, month, key)).or_default();
            sums[0] += dec(row.amount);
            sums[1] += dec(row.quantity);
            // The order, once per month and key.
            sums[2] = Decimal::ONE;
        }
    }
    groups.into_iter().collect()
}

fn tally_open(values: &[&str]) -> Vec<Contribution> {
    let mut out = Vec::new();
    for value in values {
        let mut fields = value.split('|');
        let (Some(end), Some(start), Some(amount)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let amount = dec(amount);
        out.push((
            open_key(start),
            [amount, Decimal::ONE, Decimal::ZERO, Decimal::ZERO],
        ));
        if end != OPEN_FOREVER {
            out.push((
                open_key(end),
                [-amount, -Decimal::ONE, Decimal::ZERO, Decimal::ZERO],
            ));
        }
    }
    out
}

/// What a settled ledger adds to its customer's `rc|` tally: shipped, invoiced and paid value
/// and one order.
pub fn settled_sums(ledger: &Ledger) -> Sums {
    let all = ledger.figures(NaiveDate::MAX, 0);
    [all.shipped, all.invoiced, all.paid, Decimal::ONE]
}

fn tally_receivables(values: &[&str]) -> Vec<Contribution> {
    let one = |amount: Decimal| [amount, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO];
    let mut out = Vec::new();
    for entry in values.iter().filter_map(|v| ReceivableEntry::parse(v)) {
        let customer = entry.customer;
        out.push((receivable_customer_key(customer), one(Decimal::ONE)));
        let Some(ledger) = Ledger::decode(entry.ledger) else {
            continue;
        };
        if !entry.is_open() {
            out.push((settled_key(customer), settled_sums(&ledger)));
            continue;
        }
        let (all, open) = ledger.open_as_of(NaiveDate::MAX);
        out.push((
            open_sums_key(customer),
            [all.shipped, all.invoiced, all.paid, Decimal::ONE],
        ));
        out.push((open_outstanding_key(customer), one(all.outstanding)));
        for (day, amount) in &open {
            out.push((open_shipment_key(customer, *day), one(*amount)));
        }
        if let Some((first, _)) = open.first() {
            out.push((first_open_key(customer, *first), one(Decimal::ONE)));
        }
    }
    out
}

/// `ro|<customer>|<day>`: the amount of the customer's open orders' shipments of that day
/// still open (as of their last money event), to age as of a later day (orders with events
/// after the day read are taken out and read one by one, `views::REPORT_RECEIVABLE_LAST`).
pub fn open_shipment_key(customer: &str, day: NaiveDate) -> String {
    format!("ro|{customer}|{day}")
}

/// `rs|<customer>`: shipped, invoiced and paid value and orders of its open receivables.
pub fn open_sums_key(customer: &str) -> String {
    format!("rs|{customer}")
}

/// `rt|<customer>`: what its open orders owe.
pub fn open_outstanding_key(customer: &str) -> String {
    format!("rt|{customer}")
}

/// `rf|<customer>|<day>`: how many of its open orders have their oldest open shipment on that
/// day (the 催款 queue's counts: due that day plus the customer's terms).
pub fn first_open_key(customer: &str, day: NaiveDate) -> String {
    format!("rf|{customer}|{day}")
}

/// `ct|<contract>`: the contract's amount in force, what its orders use, whether it is signed
/// (1) and how many orders name it, from the `contract_ledger` entries (合同超额).
pub fn contract_key(contract: &str) -> String {
    format!("ct|{contract}")
}

fn tally_contract_ledger(values: &[&str]) -> Vec<Contribution> {
    let mut out = Vec::new();
    for value in values {
        let mut parts = value.splitn(3, '|');
        let (Some(contract), Some(kind), Some(figure)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(figure) = Decimal::from_str(figure) else {
            continue;
        };
        let sums = if kind == super::contracts::LEDGER_AMOUNT {
            [figure, Decimal::ZERO, Decimal::ONE, Decimal::ZERO]
        } else {
            [Decimal::ZERO, figure, Decimal::ZERO, Decimal::ONE]
        };
        out.push((contract_key(contract), sums));
    }
    out
}

/// The customer and day of a `ro|` or `rf|` key.
pub fn parse_customer_day<'a>(prefix: &str, key: &'a str) -> Option<(&'a str, NaiveDate)> {
    let (customer, day) = key.strip_prefix(prefix)?.rsplit_once('|')?;
    Some((customer, day.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_counts_once_per_month_and_key_whatever_its_rows() {
        let rows = [
            "2026-06-03|SF-1|2|200.00|C1|S-1|王五|N1",
            "2026-06-09|SF-1|1|100.00|C1|S-1|王五|N1",
            "2026-07-01|CH-2|4|40.00|C1|S-1|王五|N1",
        ];
        let sums: BTreeMap<String, Sums> = tally(REPORT_SHIPPED, &rows).into_iter().collect();
        let june = sums[&stats_key("p", "2026-06", "SF-1")];
        assert_eq!(
            (june[0], june[1], june[2]),
            (dec("300"), dec("3"), Decimal::ONE)
        );
        assert_eq!(sums[&stats_key("c", "2026-06", "C1")][2], Decimal::ONE);
        assert_eq!(sums[&stats_key("c", "2026-07", "C1")][0], dec("40"));
        assert_eq!(sums.len(), 8);
        assert_eq!(
            parse_stats_key("p", &stats_key("p", "2026-06", "SF-1")),
            Some(("2026-06", "SF-1"))
        );
    }

    #[test]
    fn an_open_span_adds_on_its_first_day_and_takes_away_on_its_end() {
        let spans = [
            "2026-06-05|2026-06-01|500|N1",
            "9999-12-31|2026-06-05|200|N1",
        ];
        let sums = tally(REPORT_OPEN, &spans);
        assert_eq!(
            sums.iter()
                .map(|(k, s)| (k.as_str(), s[0]))
                .collect::<Vec<_>>(),
            vec![
                ("op|2026-06-01", dec("500")),
                ("op|2026-06-05", dec("-500")),
                ("op|2026-06-05", dec("200")),
            ]
        );
    }
}
