//! Report benchmark: daily, monthly per store and sales statistics over a store of
//! NEIQIN_BENCH_ORDERS orders (default 100,000) with a realistic mix of verified, paid, shipped
//! (partly in two shipments) and returned orders spread over twelve months. Each report is
//! computed through the service the API calls (JSON) and rendered to CSV and XLSX; the table
//! gives p50 and max of several runs beside the 300 ms target. The receivables aging report
//! (回款账龄) is measured in the same run, beside the daily report as its baseline, and so are
//! the complaints' monthly count and the supervisor's escalation queue (one complaint per 100
//! orders), and the contracts' expiry list and one contract's page with its orders.
//!
//! NEIQIN_BENCH_DATA=DIR keeps the imported store in DIR and reuses it on the next run (the
//! import of 100,000 orders takes minutes; the reports take milliseconds).

use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
use neiqin::domain::report::Dimension;
use neiqin::domain::role::Role;
use neiqin::import::{self, DataSet};
use neiqin::render::Table;
use neiqin::service::complaints::{ComplaintQuery, StateFilter};
use neiqin::service::contracts::ContractQuery;
use neiqin::service::receivables::{GroupBy, ReceivableQuery};
use serde_json::json;
use std::time::Instant;

fn orders_wanted() -> usize {
    std::env::var("NEIQIN_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// A synthetic data set in the fixtures format: 30 stores, 60 products, one year of orders.
fn data_set(orders: usize) -> DataSet {
    let count = orders;
    let regions = ["East", "South", "North", "South-West", "Central"];
    let customers: Vec<_> = (0..30)
        .map(|i| {
            json!({"ref": format!("C{i}"), "code": format!("S-{i:03}"), "name": format!("门店{i}"), "kind": "store",
                   "city": format!("城市{}", i % 10), "region": regions[i % 5], "channel": if i % 3 == 0 { "经销商" } else { "专卖店" },
                   "tax_id": format!("91310000MA1F{i:06}")})
        })
        .collect();
    let start = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
    let at = |day: NaiveDate, hour: u32| {
        Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
            .to_rfc3339()
    };
    let orders: Vec<_> = (0..orders)
        .map(|i| {
            let day = start + Days::days((i * 365 / orders.max(1)) as i64);
            let sku = format!("SF-{:04}", i % 60);
            let lines = json!([
                {"sku": sku, "spec": "三人位沙发", "quantity": "3", "unit": "套", "unit_price": "1333.33"},
                {"sku": format!("CH-{:04}", (i * 7) % 60), "spec": "餐椅", "quantity": "4", "unit": "把", "unit_price": "312.1250"}
            ]);
            let mut events = vec![json!({"kind": "verify", "at": at(day, 2), "user": "李娜", "role": "clerk", "parties": ["salesperson", "customer", "workshop"]})];
            if i % 10 < 8 {
                events.push(json!({"kind": "shipping_doc", "at": at(day, 3), "user": "李娜", "role": "clerk", "lines": [{"line": 0, "quantity": "3"}, {"line": 1, "quantity": "4"}]}));
                // Receivables: 4 in 10 paid in full before shipping, 2 partly after it (a
                // payment 20 days after shipping), 2 not at all (monthly accounts).
                let ship_day = day + Days::days(3 + (i % 9) as i64);
                match i % 10 {
                    0..=3 => events.push(json!({"kind": "payment", "at": at(day, 3), "user": "陈会计", "role": "finance", "amount": "5248.49", "date": day.to_string(), "bank_ref": format!("B{i}")})),
                    4 | 5 => {
                        let paid_day = ship_day + Days::days(20);
                        events.push(json!({"kind": "payment", "at": at(paid_day, 3), "user": "陈会计", "role": "finance", "amount": "2000.00", "date": paid_day.to_string(), "bank_ref": format!("B{i}")}));
                    }
                    _ => {}
                }
                events.push(json!({"kind": "finance_release", "at": at(day, 4), "user": "陈会计", "role": "finance"}));
                events.push(json!({"kind": "shipment", "at": at(ship_day, 5), "user": "刘仓管", "role": "warehouse", "lines": [{"line": 0, "quantity": "2"}, {"line": 1, "quantity": "4"}]}));
                if i % 10 < 5 {
                    events.push(json!({"kind": "shipment", "at": at(ship_day + Days::days(4), 5), "user": "刘仓管", "role": "warehouse", "lines": [{"line": 0, "quantity": "1"}]}));
                }
                if i % 50 == 0 {
                    events.push(json!({"kind": "return_request", "at": at(ship_day + Days::days(9), 2), "user": "李娜", "role": "clerk", "return_kind": "return", "lines": [{"line": 1, "quantity": "1"}], "reason": "划痕"}));
                    events.push(json!({"kind": "return_decision", "at": at(ship_day + Days::days(9), 3), "user": "孙副总", "role": "vp", "approved": true}));
                    events.push(json!({"kind": "return_receipt", "at": at(ship_day + Days::days(10), 3), "user": "刘仓管", "role": "warehouse", "lines": [{"line": 1, "quantity": "1"}], "condition": "划痕", "disposition": "stock", "tag": format!("RT-{i}")}));
                }
            }
            // One order in four is under its customer's contract (合同).
            let contract = if i % 4 == 0 { format!("HT-B-{:03}", i % 30) } else { String::new() };
            json!({"ref": format!("O{i}"), "customer_ref": format!("C{}", i % 30), "store": format!("S-{:03}", i % 30), "salesperson": format!("业务员{}", i % 12),
                   "taken_at": at(day, 1), "contract": contract, "lines": lines, "events": events})
        })
        .collect();
    // One complaint per 100 orders, about that order: every one assigned, four in five handled,
    // three in five closed; the rest stay open (the supervisor's escalation queue).
    let channels = ["phone", "wechat", "visit"];
    let categories = ["quality", "delivery", "service", "wrong_goods", "other"];
    let complaints: Vec<_> = (0..count / 100)
        .map(|k| {
            let i = k * 100 + 7;
            let day = start + Days::days((i * 365 / count.max(1)) as i64 + 12);
            let mut events = vec![json!({"kind": "assign", "at": at(day, 3), "user": "李娜", "role": "clerk", "to": "车间", "note": ""})];
            if k % 5 < 4 {
                events.push(json!({"kind": "handle", "at": at(day + Days::days(1), 3), "user": "李娜", "role": "clerk", "note": "已与门店沟通处理方案"}));
            }
            if k % 5 < 3 {
                let satisfaction = ["satisfied", "fairly_satisfied", "dissatisfied"][k % 3];
                events.push(json!({"kind": "close", "at": at(day + Days::days(3), 3), "user": "李娜", "role": "clerk", "result": "已处理, 门店确认", "satisfaction": satisfaction}));
            }
            json!({"ref": format!("K{k}"), "customer_ref": format!("C{}", i % 30), "order_ref": format!("O{i}"), "store": format!("S-{:03}", i % 30),
                   "channel": channels[k % 3], "category": categories[k % 5], "content": "沙发扶手有划痕, 门店要求处理",
                   "taken_at": at(day, 2), "taken_by": "李娜", "events": events})
        })
        .collect();
    // One signed contract per customer, in force over the whole year; the last five end within
    // 30 days of the data's last day (the expiry list).
    let contracts: Vec<_> = (0..30)
        .map(|c| {
            let valid_to = if c < 25 { "2027-06-30" } else { "2026-12-20" };
            let events = json!([
                {"kind": "submit", "at": at(start - Days::days(20), 2), "user": "李娜", "role": "clerk"},
                {"kind": "review", "at": at(start - Days::days(19), 2), "user": "赵主管", "role": "supervisor", "approved": true},
                {"kind": "approve", "at": at(start - Days::days(18), 2), "user": "孙副总", "role": "vp", "approved": true},
                {"kind": "sign", "at": at(start - Days::days(15), 2), "user": "李娜", "role": "clerk", "signed_on": (start - Days::days(15)).to_string()}
            ]);
            json!({"ref": format!("K{c}"), "number": format!("HT-B-{c:03}"), "customer_ref": format!("C{c}"), "party_b": "佛山市顺德区锦华家具有限公司",
                   "amount": "50000000.00", "terms": "月结30天", "valid_from": (start - Days::days(15)).to_string(), "valid_to": valid_to,
                   "drafted_at": at(start - Days::days(21), 2), "drafted_by": "李娜", "events": events})
        })
        .collect();
    serde_json::from_value(json!({"customers": customers, "orders": orders, "complaints": complaints, "contracts": contracts}))
    .expect("a valid data set")
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

fn main() -> anyhow::Result<()> {
    let n = orders_wanted();
    let dir = tempfile::tempdir()?;
    let data = match std::env::var_os("NEIQIN_BENCH_DATA") {
        Some(kept) => std::path::PathBuf::from(kept),
        None => dir.path().join("reports"),
    };
    if data.join("store").exists() {
        eprintln!("[reports] reusing the store in {}", data.display());
    } else {
        let init =
            neiqin::node::init_node(&data, "bench", Role::Clerk, neiqin::node::Joining::No, 2000)?;
        let set = data_set(n);
        let t = Instant::now();
        let mut last = Instant::now();
        import::import(&init.office, &set, |done, total| {
            if last.elapsed().as_secs() >= 10 {
                eprintln!(
                    "[reports] imported {done}/{total} in {:.0} s",
                    t.elapsed().as_secs_f64()
                );
                last = Instant::now();
            }
        })?;
        eprintln!(
            "[reports] {n} orders imported in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    neiqin::node::checkpoint(&data)?;
    let office = neiqin::node::open_office(&data, 2000)?;
    let day = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
    let (from, to) = (
        NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
    );
    let runs = 7;
    let mut rows: Vec<(String, (f64, f64), String)> = Vec::new();
    let daily = office.daily_report(day)?;
    rows.push((
        "daily (JSON)".into(),
        time(runs, || office.daily_report(day).unwrap()),
        format!(
            "sales {} ({} orders), intake {}, unshipped {} ({} open orders)",
            daily.report.sales.amount,
            daily.report.sales.orders.len(),
            daily.report.intake.amount,
            daily.report.unshipped.amount,
            daily.report.unshipped.orders.len()
        ),
    ));
    let (render_p50, _) = time(runs, || Table::daily(&daily.report).to_xlsx().unwrap());
    rows.push((
        "daily (XLSX)".into(),
        time(runs, || {
            Table::daily(&office.daily_report(day).unwrap().report)
                .to_xlsx()
                .unwrap()
        }),
        format!("of which the workbook alone p50 {render_p50:.1} ms"),
    ));
    let monthly = office.monthly_report("2026-06")?;
    rows.push((
        "monthly per store (JSON)".into(),
        time(runs, || office.monthly_report("2026-06").unwrap()),
        format!(
            "{} stores, total {} in {} orders",
            monthly.report.stores.len(),
            monthly.report.total.amount,
            monthly.report.total.orders
        ),
    ));
    rows.push((
        "monthly per store (CSV)".into(),
        time(runs, || {
            Table::monthly(&office.monthly_report("2026-06").unwrap().report)
                .to_csv()
                .unwrap()
        }),
        String::new(),
    ));
    for by in [
        Dimension::Region,
        Dimension::Channel,
        Dimension::Product,
        Dimension::Salesperson,
        Dimension::Store,
    ] {
        let stats = office.sales_stats(by, from, to)?;
        rows.push((
            format!("sales by {by:?}, 12 months (JSON)").to_lowercase(),
            time(runs, || office.sales_stats(by, from, to).unwrap()),
            format!(
                "{} rows, total {}",
                stats.report.rows.len(),
                stats.report.total_amount
            ),
        ));
    }
    rows.push((
        "sales by product, 12 months (XLSX)".into(),
        time(runs, || {
            Table::stats(
                &office
                    .sales_stats(Dimension::Product, from, to)
                    .unwrap()
                    .report,
            )
            .to_xlsx()
            .unwrap()
        }),
        String::new(),
    ));

    // Receivables aging over every order with money events (80,000 of 100,000), beside the
    // daily report measured above in the same run.
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    for group_by in [GroupBy::Customer, GroupBy::Region, GroupBy::Salesperson] {
        let aging = office.receivables_aging(group_by, as_of)?;
        rows.push((
            format!("receivables_aging by {group_by:?} (JSON)").to_lowercase(),
            time(runs, || office.receivables_aging(group_by, as_of).unwrap()),
            format!(
                "{} rows, {} orders, outstanding {}, over 90 days past shipment {}",
                aging.rows.len(),
                aging.total.orders,
                aging.total.outstanding,
                aging.total.aging_shipped.over_90
            ),
        ));
    }
    rows.push((
        "receivables_aging by customer (XLSX)".into(),
        time(runs, || {
            Table::aging(&office.receivables_aging(GroupBy::Customer, as_of).unwrap())
                .to_xlsx()
                .unwrap()
        }),
        String::new(),
    ));
    rows.push((
        "receivables per_customer (JSON)".into(),
        time(runs, || {
            office
                .receivables(&ReceivableQuery {
                    as_of,
                    ..Default::default()
                })
                .unwrap()
        }),
        String::new(),
    ));

    // Complaints: the monthly count by category and store, and the supervisor's queue (open
    // more than the node's days, oldest first) counted on the last day of the data.
    let complaints = office.complaint_report("2026-06")?;
    rows.push((
        "complaints per month (JSON)".into(),
        time(runs, || office.complaint_report("2026-06").unwrap()),
        format!(
            "{} complaints, {} stores",
            complaints.report.total,
            complaints.report.by_store.len()
        ),
    ));
    let mut escalated = ComplaintQuery::all(50);
    escalated.state = Some(StateFilter::Escalated);
    escalated.today = as_of;
    let queue = office.list_complaints(&escalated)?;
    rows.push((
        "complaints escalated queue (JSON)".into(),
        time(runs, || office.list_complaints(&escalated).unwrap()),
        format!("first page: {} complaints", queue.items.len()),
    ));

    // Contracts: the expiry list, and one contract's page with its orders and the amount they
    // used (one order in four names its customer's contract).
    let mut expiring = ContractQuery::all(50);
    expiring.expiring_within = Some(30);
    expiring.today = as_of;
    let listed = office.list_contracts(&expiring)?;
    rows.push((
        "contracts expiring within 30 days (JSON)".into(),
        time(runs, || office.list_contracts(&expiring).unwrap()),
        format!("{} contracts", listed.items.len()),
    ));
    let mut all = ContractQuery::all(50);
    all.today = as_of;
    let page = office.list_contracts(&all)?;
    // HT-B-000: customer C0's, under which every 60th order was taken.
    if let Some(row) = page.items.iter().find(|r| r.contract.number == "HT-B-000") {
        let contract = office.contract(&row.contract.id)?;
        let view = office.contract_view(&contract)?;
        rows.push((
            "contract with its orders (JSON)".into(),
            time(runs, || office.contract_view(&contract).unwrap()),
            format!("{} orders, used {}", view.orders.len(), view.used),
        ));
    }

    println!("\n| report over {n} orders | p50 | max | target | notes |\n|---|---|---|---|---|");
    for (name, (p50, max), notes) in &rows {
        let verdict = if *max < 300.0 {
            "< 300 ms: ok"
        } else {
            "< 300 ms: MISS"
        };
        println!("| {name} | {p50:.1} ms | {max:.1} ms | {verdict} | {notes} |");
        println!(
            "BENCH report_{} {p50:.1} ms",
            name.split(' ')
                .take(3)
                .collect::<Vec<_>>()
                .join("_")
                .replace(['(', ')', ','], "")
        );
    }
    Ok(())
}
