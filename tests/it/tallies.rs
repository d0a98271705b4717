//! Report tallies (sums across orders the store keeps with every write) against the index rows
//! they stand for: on the node that imported the demo company, on a node that received it by
//! sync and then settled a receivable, and on that node again after a restart, which builds
//! them afresh from the indexes.

use crate::flow::{act, ready_to_ship, ship_all};
use crate::harness::three_lines;
use crate::testnet::TestNet;
use chrono::NaiveDate;
use neiqin::domain::receivable::Figures;
use neiqin::domain::report::{self, Dimension, StatRow};
use neiqin::domain::role::Role;
use neiqin::service::receivables::{GroupBy, ReceivableQuery};
use neiqin::service::BackOffice;
use neiqin::views::{self, ShippedEntry};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

const DIMENSIONS: [Dimension; 5] = [
    Dimension::Region,
    Dimension::Channel,
    Dimension::Product,
    Dimension::Salesperson,
    Dimension::Store,
];

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Statistics as reading every `rpt_shipped` row of `[from, to]` gives them.
fn stats_from_rows(
    office: &BackOffice,
    by: Dimension,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<StatRow> {
    let customers = office.customer_owners().unwrap();
    let mut acc = report::StatsAccumulator::default();
    let end = to.succ_opt().unwrap().to_string();
    office
        .store
        .for_each_in_index_range(
            views::REPORT_SHIPPED,
            &from.to_string(),
            &end,
            |value, order| {
                let row = ShippedEntry::parse(value).unwrap();
                let owner = customers.get(row.customer);
                let key = match by {
                    Dimension::Region => owner.map(|c| c.region.as_str()).unwrap_or(""),
                    Dimension::Channel => owner.map(|c| c.channel.as_str()).unwrap_or(""),
                    Dimension::Product => row.sku,
                    Dimension::Salesperson => row.salesperson,
                    Dimension::Store => row.store,
                };
                let dec = |s: &str| Decimal::from_str(s).unwrap();
                acc.add(
                    &row.date[..7],
                    key,
                    order,
                    dec(row.quantity),
                    dec(row.amount),
                );
            },
        )
        .unwrap();
    acc.finish(by, from, to).rows
}

/// Receivables per customer as a read of every entry gives them (the aging report's).
fn receivables_from_rows(office: &BackOffice, as_of: NaiveDate) -> BTreeMap<String, Figures> {
    office
        .receivables_aging(GroupBy::Customer, as_of)
        .unwrap()
        .rows
        .into_iter()
        .map(|r| (r.key, r.figures))
        .collect()
}

/// What the tallies give, checked against the rows; returned to compare nodes and restarts.
fn tallied_figures(office: &BackOffice, name: &str) -> String {
    let mut seen = String::new();
    // Whole months of the demo company (2026-08 to 2026-11) and a range cutting two months.
    for (from, to) in [
        (day("2026-08-01"), day("2026-12-31")),
        (day("2026-08-17"), day("2026-11-09")),
    ] {
        for by in DIMENSIONS {
            let tallied = office.sales_stats(by, from, to).unwrap().report.rows;
            assert!(!tallied.is_empty(), "{name}: statistics by {by:?}");
            assert_eq!(
                tallied,
                stats_from_rows(office, by, from, to),
                "{name}: statistics by {by:?} from {from} to {to}"
            );
            seen.push_str(&format!("{tallied:?}"));
        }
    }
    let mut open_days = 0;
    let mut date = day("2026-07-30");
    while date <= day("2026-12-10") {
        let (overview, orders) = office.daily_overview(date).unwrap();
        let listed = office.daily_report(date).unwrap().report;
        assert_eq!(
            (overview.report.unshipped.amount, orders),
            (listed.unshipped.amount, listed.unshipped.orders.len()),
            "{name}: orders open at the end of {date}"
        );
        assert_eq!(overview.report.sales, listed.sales);
        if orders > 0 {
            open_days += 1;
        }
        seen.push_str(&format!("{date}:{orders}:{};", listed.unshipped.amount));
        date = date.succ_opt().unwrap();
    }
    assert!(
        open_days > 100,
        "{name}: the demo company has open orders most days"
    );
    let today = report::business_day(chrono::Utc::now());
    let mut settled_customers = 0;
    let later = |days| today.checked_add_days(chrono::Days::new(days)).unwrap();
    for as_of in [
        day("2026-09-15"),
        day("2026-11-20"),
        today,
        later(45),
        later(100),
    ] {
        let q = ReceivableQuery {
            as_of,
            ..ReceivableQuery::default()
        };
        let tallied: BTreeMap<String, Figures> = office
            .receivables(&q)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| (r.customer_id, r.figures))
            .collect();
        assert_eq!(
            tallied,
            receivables_from_rows(office, as_of),
            "{name}: receivables as of {as_of}"
        );
        for (customer, figures) in &tallied {
            let page = office.customer_receivables_owing(customer, as_of).unwrap();
            assert_eq!(
                &page.customer.figures, figures,
                "{name}: {customer} on {as_of}"
            );
            assert!(page
                .orders
                .iter()
                .all(|o| o.figures.outstanding > Decimal::ZERO));
            if figures.paid > Decimal::ZERO && as_of == today {
                settled_customers += 1;
            }
        }
        seen.push_str(&format!("{as_of}:{tallied:?}"));
    }
    assert!(settled_customers > 0, "{name}: some receivables are paid");
    seen.push_str(&queue_checked(office, today, name));
    seen
}

/// The 催款 queue and the home counts (from the tallies) against each customer's orders read
/// whole; returns the queue's orders.
fn queue_checked(office: &BackOffice, today: NaiveDate, name: &str) -> String {
    let week_end = neiqin::domain::receivable::week_end(today);
    let (mut overdue, mut this_week) = (Vec::new(), Vec::new());
    let mut owing = 0;
    for customer in office.customer_owners().unwrap().keys() {
        for o in office.customer_receivables(customer, today).unwrap().orders {
            if o.figures.outstanding <= Decimal::ZERO {
                continue;
            }
            owing += 1;
            match o.figures.oldest_due {
                Some(due) if due < today => overdue.push(o.order),
                Some(due) if due <= week_end => this_week.push(o.order),
                _ => {}
            }
        }
    }
    overdue.sort();
    this_week.sort();
    let queue = office.reminder_queue(today).unwrap();
    let ids = |items: &[neiqin::service::receivables::ReminderItem]| {
        let mut ids: Vec<String> = items.iter().map(|i| i.order.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&queue.overdue), overdue, "{name}: overdue");
    assert_eq!(
        ids(&queue.due_this_week),
        this_week,
        "{name}: due this week"
    );
    let counts = office.receivable_counts(today).unwrap();
    assert_eq!(
        (counts.owing, counts.to_remind),
        (owing, overdue.len() + this_week.len()),
        "{name}: home counts"
    );
    format!("{overdue:?}{this_week:?}")
}

fn office(net: &TestNet, i: usize) -> &BackOffice {
    &net.nodes[i].node.as_ref().unwrap().office
}

#[tokio::test]
async fn tallies_match_the_rows_they_sum_written_received_changed_and_rebuilt() {
    let mut net = TestNet::start(2).await;
    net.nodes[0].import_demo();
    net.settle(Duration::from_secs(60)).await;
    let written = tallied_figures(office(&net, 0), "the importing node");
    let received = tallied_figures(office(&net, 1), "the receiving node");
    assert_eq!(written, received, "both nodes tally the same");

    // On the receiving node an order is paid and shipped (settled), its payment voided (it
    // owes), then paid again (settled): its receivable moves between the open entries and its
    // customer's settled tally, on both nodes once they sync.
    let customer = net.nodes[1].customer("上海真北家居").await;
    let o = net.nodes[1].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    ready_to_ship(&mut net.nodes[1], &id).await;
    let shipped = act(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    let payment = shipped["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["bank_ref"] == format!("FULL-{id}"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let settled = tallied_figures(office(&net, 1), "the node that shipped a paid order");
    let voided = act(
        &mut net.nodes[1],
        Role::Finance,
        &id,
        &format!("payments/{payment}/void"),
        json!({"reason": "退票"}),
    )
    .await;
    let owed = voided["totals"]["gross"].as_str().unwrap().to_string();
    let owing = tallied_figures(office(&net, 1), "the node that voided the payment");
    assert_ne!(owing, settled, "the void moved the receivables");
    let today = report::business_day(chrono::Utc::now());
    let q = ReceivableQuery {
        customer: Some(customer.clone()),
        as_of: today,
        ..ReceivableQuery::default()
    };
    let row = office(&net, 1).receivables(&q).unwrap().rows.remove(0);
    assert_eq!(row.figures.outstanding.to_string(), owed);
    let queue = office(&net, 1).reminder_queue(today).unwrap();
    assert!(
        queue
            .overdue
            .iter()
            .chain(&queue.due_this_week)
            .any(|i| i.order == id),
        "the order owing is in the 催款 queue: {queue:?}"
    );
    // Part of it paid: still open, aged on what is left.
    act(&mut net.nodes[1], Role::Finance, &id, "payments", json!({"amount": "1000.00", "date": today.to_string(), "method": "bank", "payer": "张伟", "bank_ref": "TALLY-PART-1"})).await;
    let part = tallied_figures(office(&net, 1), "the node that took part of it");
    assert_ne!(part, owing, "the part payment moved the receivables");
    let rest = (Decimal::from_str(&owed).unwrap() - Decimal::from(1000)).to_string();
    act(&mut net.nodes[1], Role::Finance, &id, "payments", json!({"amount": rest, "date": today.to_string(), "method": "bank", "payer": "张伟", "bank_ref": "TALLY-AGAIN-1"})).await;
    net.settle(Duration::from_secs(60)).await;
    let changed = tallied_figures(office(&net, 1), "the node that took the payment");
    assert_ne!(changed, owing, "the payment moved the receivables");
    assert_eq!(
        changed,
        tallied_figures(office(&net, 0), "the node it synced to")
    );

    net.nodes[1].restart().await;
    let rebuilt = tallied_figures(office(&net, 1), "the node restarted");
    assert_eq!(
        rebuilt, changed,
        "tallies built afresh equal those kept with each write"
    );
    net.stop().await;
}
