//! A year of a furniture maker's orders for the report and page benchmarks: 30 stores, 60
//! products, NEIQIN_BENCH_ORDERS orders (default 100,000) verified, paid, shipped (partly in two
//! shipments) and returned in a realistic mix, with receivables, one complaint per 100 orders and
//! a contract per customer. `store` imports it once into NEIQIN_BENCH_DATA=DIR (kept and reused:
//! the import of 100,000 orders takes minutes) or into a temporary directory.

use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
use neiqin::domain::role::Role;
use neiqin::import::{self, DataSet};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn orders_wanted() -> usize {
    std::env::var("NEIQIN_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// A synthetic data set in the fixtures format: 30 stores, 60 products, one year of orders.
pub fn data_set(orders: usize) -> DataSet {
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

/// The data directory of a node holding `data_set(orders_wanted())`: NEIQIN_BENCH_DATA if set
/// (imported there the first time, reused after), else `scratch/<tag>`. Checkpointed, so a node
/// opens it without replaying sled's log.
pub fn store(tag: &str, scratch: &Path) -> anyhow::Result<PathBuf> {
    let n = orders_wanted();
    let data = match std::env::var_os("NEIQIN_BENCH_DATA") {
        Some(kept) => PathBuf::from(kept),
        None => scratch.join(tag),
    };
    if data.join("store").exists() {
        eprintln!("[{tag}] reusing the store in {}", data.display());
    } else {
        let init =
            neiqin::node::init_node(&data, "bench", Role::Clerk, neiqin::node::Joining::No, 2000)?;
        let set = data_set(n);
        let t = Instant::now();
        let mut last = Instant::now();
        import::import(&init.office, &set, |done, total| {
            if last.elapsed().as_secs() >= 10 {
                eprintln!(
                    "[{tag}] imported {done}/{total} in {:.0} s",
                    t.elapsed().as_secs_f64()
                );
                last = Instant::now();
            }
        })?;
        eprintln!(
            "[{tag}] {n} orders imported in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    neiqin::node::checkpoint(&data)?;
    Ok(data)
}
