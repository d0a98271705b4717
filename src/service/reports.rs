//! Reports from the report rows kept in the indexes (`views::REPORT_*`): no order is loaded.
//! Each report says as of when this node last synced with each peer, since it reports only what
//! this node knows.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;
use std::str::FromStr;

use super::{BackOffice, ServiceError};
use crate::domain::report::{self, DailyReport, Dimension, MonthlyReport, OrderAmount, SalesStats};
use crate::domain::validation::FieldErrors;
use crate::views::{self, tallies, CustomerSummary, ShippedEntry};
use rust_decimal::prelude::ToPrimitive;

/// What a report is based on: this node's knowledge as of its last sync with each peer.
#[derive(Debug, Clone, Serialize)]
pub struct AsOf {
    pub generated_at: String,
    pub node: String,
    pub peers: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reported<T> {
    pub as_of: AsOf,
    #[serde(flatten)]
    pub report: T,
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn next_day(d: NaiveDate) -> String {
    d.succ_opt().unwrap_or(d).to_string()
}

/// A day's shipped and verified orders, and its intake adjustments.
type DailyRows = (Vec<OrderAmount>, Vec<OrderAmount>, Vec<report::Adjustment>);

fn amount_of(order_id: &str, number: &str, amount: &str) -> OrderAmount {
    OrderAmount {
        order_id: order_id.to_string(),
        number: number.to_string(),
        amount: dec(amount),
    }
}

/// The first day of `month` ("2026-10") and of the month after.
pub fn month_bounds(month: &str) -> Result<(NaiveDate, NaiveDate), ServiceError> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| FieldErrors::single("month", "must be a month like 2026-10"))?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    Ok((first, next.unwrap_or(first)))
}

/// `[from, to)` cut at month starts into at most `parts` consecutive ranges of whole months
/// (the first and last may be partial); never empty.
fn month_parts(from: NaiveDate, to: NaiveDate, parts: usize) -> Vec<(NaiveDate, NaiveDate)> {
    let mut cuts = vec![from];
    let mut month = from.with_day(1).unwrap_or(from);
    while let Some(next) = month.checked_add_months(chrono::Months::new(1)) {
        if next >= to {
            break;
        }
        cuts.push(next);
        month = next;
    }
    let per_part = cuts.len().div_ceil(parts.max(1));
    let starts: Vec<NaiveDate> = cuts.into_iter().step_by(per_part.max(1)).collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| (start, starts.get(i + 1).copied().unwrap_or(to)))
        .collect()
}

/// The whole months of `[from, end)`: the first day of the first and of the month after the
/// last, if there is one.
fn whole_months(from: NaiveDate, end: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let first = if from.day() == 1 {
        from
    } else {
        from.with_day(1)?
            .checked_add_months(chrono::Months::new(1))?
    };
    let last = end.with_day(1)?;
    (first < last).then_some((first, last))
}

/// The key statistics by `by` group under, given the one kept per row or tally (a customer's
/// id for region and channel, read from its archive).
fn grouped_key<'a>(
    customers: &'a HashMap<String, CustomerSummary>,
    by: Dimension,
    kept: &'a str,
) -> &'a str {
    let owner = || customers.get(kept);
    match by {
        Dimension::Region => owner().map(|c| c.region.as_str()).unwrap_or(""),
        Dimension::Channel => owner().map(|c| c.channel.as_str()).unwrap_or(""),
        _ => kept,
    }
}

/// Adds one `rpt_shipped` entry to statistics by `by`.
fn add_shipped_row(
    acc: &mut report::StatsAccumulator,
    customers: &HashMap<String, CustomerSummary>,
    by: Dimension,
    value: &str,
    order: &str,
) {
    let Some(row) = ShippedEntry::parse(value) else {
        return;
    };
    let kept = match by {
        Dimension::Region | Dimension::Channel => row.customer,
        Dimension::Product => row.sku,
        Dimension::Salesperson => row.salesperson,
        Dimension::Store => row.store,
    };
    acc.add(
        row.date.get(..7).unwrap_or(row.date),
        grouped_key(customers, by, kept),
        order,
        dec(row.quantity),
        dec(row.amount),
    );
}

impl BackOffice {
    pub fn as_of(&self) -> Result<AsOf, ServiceError> {
        Ok(AsOf {
            generated_at: chrono::Utc::now().to_rfc3339(),
            node: self.identity.name.clone(),
            peers: self.store.peer_syncs()?,
        })
    }

    /// Customer id -> (name, region, channel), from the customer summaries (customers are few).
    pub fn customer_owners(&self) -> Result<HashMap<String, CustomerSummary>, ServiceError> {
        let mut out = HashMap::new();
        for entry in self.store.scan_index(views::CUSTOMER_NAME, "", None, false) {
            let (_, doc) = entry?;
            if let Some(summary) = self.summary_of::<CustomerSummary>(&doc)? {
                out.insert(doc, summary);
            }
        }
        Ok(out)
    }

    /// The daily report, with every order open at the end of the day listed.
    pub fn daily_report(&self, date: NaiveDate) -> Result<Reported<DailyReport>, ServiceError> {
        let (shipped, intake, adjustments) = self.daily_rows(date)?;
        let unshipped = self.open_orders(date)?;
        Ok(Reported {
            as_of: self.as_of()?,
            report: report::daily(date, shipped, intake, unshipped, adjustments),
        })
    }

    /// The daily report as the workbench shows it: the orders open at the end of the day only
    /// as their value and number (`unshipped.orders` is left empty), from the `op|` tallies.
    pub fn daily_overview(
        &self,
        date: NaiveDate,
    ) -> Result<(Reported<DailyReport>, usize), ServiceError> {
        let (shipped, intake, adjustments) = self.daily_rows(date)?;
        let mut report = report::daily(date, shipped, intake, Vec::new(), adjustments);
        let (mut amount, mut orders) = (Decimal::ZERO, Decimal::ZERO);
        let end = tallies::open_key(&next_day(date));
        for (_, sums) in self.store.tallies(&tallies::open_key(""), &end)? {
            amount += sums[0];
            orders += sums[1];
        }
        report.unshipped.amount = amount;
        Ok((
            Reported {
                as_of: self.as_of()?,
                report,
            },
            orders.to_usize().unwrap_or(0),
        ))
    }

    /// The day's shipped and verified orders, and its intake adjustments.
    fn daily_rows(&self, date: NaiveDate) -> Result<DailyRows, ServiceError> {
        let day = date.to_string();
        let end_of_day = next_day(date);
        let mut shipped = Vec::new();
        self.store.for_each_in_index_range(
            views::REPORT_SHIPPED,
            &day,
            &end_of_day,
            |value, order| {
                if let Some(row) = ShippedEntry::parse(value) {
                    shipped.push(amount_of(order, row.number, row.amount));
                }
            },
        )?;
        let mut intake = Vec::new();
        let mut adjustments = Vec::new();
        self.store.for_each_in_index_range(
            views::REPORT_INTAKE,
            &day,
            &end_of_day,
            |value, order| {
                let fields: Vec<&str> = value.split('|').collect();
                if let [_, amount, _, _, _, number, ..] = fields[..] {
                    intake.push(amount_of(order, number, amount));
                    if let Some(adjusts) = fields.get(6).and_then(|d| d.parse::<NaiveDate>().ok()) {
                        adjustments.push(report::Adjustment {
                            order_id: order.to_string(),
                            number: number.to_string(),
                            amount: dec(amount),
                            adjusts,
                        });
                    }
                }
            },
        )?;
        Ok((shipped, intake, adjustments))
    }

    /// Every order open at the end of `date`, with its value then.
    fn open_orders(&self, date: NaiveDate) -> Result<Vec<OrderAmount>, ServiceError> {
        let day = date.to_string();
        let (end_of_day, forever) = (next_day(date), "9999-12-31~");
        // Open at the end of the day: spans that started by then and end after it; those that
        // end on a later day and those still open (about as many) read on two cores (the
        // report adds them up by order, whatever their order).
        let parts: Vec<(&str, &str)> = if end_of_day.as_str() < views::OPEN_FOREVER {
            vec![
                (end_of_day.as_str(), views::OPEN_FOREVER),
                (views::OPEN_FOREVER, forever),
            ]
        } else {
            vec![(end_of_day.as_str(), forever)]
        };
        let read_part = |&(from, to): &(&str, &str)| {
            let mut open = Vec::new();
            self.store
                .for_each_in_index_range(views::REPORT_OPEN, from, to, |value, order| {
                    let mut fields = value.split('|');
                    if let (Some(_), Some(start), Some(amount), Some(number), None) = (
                        fields.next(),
                        fields.next(),
                        fields.next(),
                        fields.next(),
                        fields.next(),
                    ) {
                        if start <= day.as_str() {
                            open.push(amount_of(order, number, amount));
                        }
                    }
                })
                .map(|()| open)
        };
        let mut unshipped = Vec::new();
        for part in crate::parallel::map_on_cores(&parts, 1, read_part) {
            unshipped.extend(part?);
        }
        Ok(unshipped)
    }

    pub fn monthly_report(&self, month: &str) -> Result<Reported<MonthlyReport>, ServiceError> {
        let (first, next) = month_bounds(month)?;
        let customers = self.customer_owners()?;
        let mut acc = report::MonthlyAccumulator::default();
        self.store.for_each_in_index_range(
            views::REPORT_SHIPPED,
            &first.to_string(),
            &next.to_string(),
            |value, order| {
                let Some(row) = ShippedEntry::parse(value) else {
                    return;
                };
                if row.date.parse::<NaiveDate>().is_err() {
                    return;
                }
                let owner = || {
                    let c = customers.get(row.customer);
                    let text = |f: fn(&CustomerSummary) -> &String| {
                        c.map(|c| f(c).clone()).unwrap_or_default()
                    };
                    (text(|c| &c.name), text(|c| &c.region), text(|c| &c.channel))
                };
                acc.add(row.store, owner, order, dec(row.quantity), dec(row.amount));
            },
        )?;
        Ok(Reported {
            as_of: self.as_of()?,
            report: acc.finish(month),
        })
    }

    pub fn sales_stats(
        &self,
        by: Dimension,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Reported<SalesStats>, ServiceError> {
        if to < from {
            return Err(FieldErrors::single("to", "must not be before from").into());
        }
        let customers = self.customer_owners()?;
        let end = to.succ_opt().unwrap_or(to);
        // Whole months come from the tallies (a few hundred sums); the days of a month cut by
        // the range are read from the index, on one core per part.
        let whole = whole_months(from, end);
        let row_ranges: Vec<(NaiveDate, NaiveDate)> = match whole {
            Some((first, last)) => [(from, first), (last, end)]
                .into_iter()
                .filter(|(a, b)| a < b)
                .collect(),
            None => month_parts(from, end, crate::parallel::cores()),
        };
        let read_part = |(start, stop): (NaiveDate, NaiveDate)| {
            let mut acc = report::StatsAccumulator::default();
            self.store
                .for_each_in_index_range(
                    views::REPORT_SHIPPED,
                    &start.to_string(),
                    &stop.to_string(),
                    |value, order| add_shipped_row(&mut acc, &customers, by, value, order),
                )
                .map(|()| acc)
        };
        let accumulated = crate::parallel::map_on_cores(&row_ranges, 1, |&part| read_part(part));
        let mut acc = report::StatsAccumulator::default();
        for part in accumulated {
            acc.merge(part?);
        }
        if let Some((first, last)) = whole {
            let dimension = tallies::stats_dimension(by);
            let month = |d: NaiveDate| d.format("%Y-%m").to_string();
            let from_key = tallies::stats_key(dimension, &month(first), "");
            let to_key = tallies::stats_key(dimension, &month(last), "");
            for (tally_key, sums) in self.store.tallies(&from_key, &to_key)? {
                let Some((month, key)) = tallies::parse_stats_key(dimension, &tally_key) else {
                    continue;
                };
                let orders = sums[2].to_usize().unwrap_or(0);
                let key = grouped_key(&customers, by, key);
                acc.add_counted(month, key, sums[1], sums[0], orders);
            }
        }
        Ok(Reported {
            as_of: self.as_of()?,
            report: acc.finish(by, from, to),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::month_parts;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn month_parts_cover_the_range_at_month_starts() {
        let parts = month_parts(d("2025-12-15"), d("2026-12-01"), 2);
        assert_eq!(
            parts,
            vec![
                (d("2025-12-15"), d("2026-06-01")),
                (d("2026-06-01"), d("2026-12-01"))
            ]
        );
        assert_eq!(
            month_parts(d("2026-03-02"), d("2026-03-20"), 2),
            vec![(d("2026-03-02"), d("2026-03-20"))]
        );
        let many = month_parts(d("2026-01-01"), d("2026-04-10"), 8);
        assert_eq!(many.len(), 4);
        assert_eq!(many.first().unwrap().0, d("2026-01-01"));
        assert_eq!(many.last().unwrap().1, d("2026-04-10"));
        assert!(many.windows(2).all(|w| w[0].1 == w[1].0));
    }
}
