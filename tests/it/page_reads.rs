//! Pages that read less to answer at 100,000 orders (benches/pages.rs) answer as before: the
//! order list by business day starts its scan at the end of that day, a customer's status tabs
//! are counted in one pass over its orders, and the receivables page reads the receivables
//! index once, on every core, for its aging and its 催款 queue. Orders are imported on one node
//! (with the times they were taken) and the pages are read on the other after sync.

use chrono::{DateTime, Duration as Days, FixedOffset, NaiveDate};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

use crate::testnet::TestNet;
use crate::ui::{user_with_password, PageClient};

const SETTLE: Duration = Duration::from_secs(60);

/// The orders imported: (project, customer ref, taken at, verified, shipped and paid in part).
fn orders() -> Vec<(String, &'static str, String, bool, bool)> {
    let start = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let at = |day: NaiveDate, hms: &str| format!("{day}T{hms}Z");
    let mut out = Vec::new();
    // 门店甲: 105 verified over March and April (its 待审核 tab is past the cap of 100), 3 taken.
    for i in 0..108 {
        let day = start + Days::days((i * 60 / 108) as i64);
        out.push((
            format!("项目-甲{i:03}"),
            "C0",
            at(day, "03:00:00"),
            i < 105,
            false,
        ));
    }
    // 门店乙: one order a day from 1 March, 10 of them shipped and paid in part; and two taken
    // one minute apart across the end of 10 March in China (16:00 UTC).
    for i in 0..20 {
        let day = start + Days::days(i);
        out.push((
            format!("项目-乙{i:03}"),
            "C1",
            at(day, "01:00:00"),
            true,
            i < 10,
        ));
    }
    out.push((
        "边界-早".into(),
        "C1",
        at(start + Days::days(9), "15:59:00"),
        false,
        false,
    ));
    out.push((
        "边界-晚".into(),
        "C1",
        at(start + Days::days(9), "16:00:00"),
        false,
        false,
    ));
    out
}

fn data_set() -> neiqin::import::DataSet {
    let customers = json!([
        {"ref": "C0", "code": "PR-000", "name": "门店甲", "kind": "store", "city": "上海", "region": "East", "tax_id": "91310000MA1PR00000"},
        {"ref": "C1", "code": "PR-001", "name": "门店乙", "kind": "store", "city": "杭州", "region": "East", "tax_id": "91310000MA1PR00001",
         "payment_terms": "月结30天"}
    ]);
    let orders: Vec<Value> = orders()
        .into_iter()
        .enumerate()
        .map(|(i, (project, customer, taken_at, verified, shipped))| {
            let taken: DateTime<FixedOffset> = taken_at.parse().unwrap();
            let later = |hours: i64| (taken + chrono::Duration::hours(hours)).to_rfc3339();
            let mut events = Vec::new();
            if verified {
                events.push(json!({"kind": "verify", "at": later(1), "user": "李娜", "role": "clerk", "parties": ["salesperson", "customer", "workshop"]}));
            }
            if shipped {
                let day = (taken + chrono::Duration::hours(1)).date_naive().to_string();
                events.push(json!({"kind": "shipping_doc", "at": later(2), "user": "李娜", "role": "clerk", "lines": [{"line": 0, "quantity": "2"}]}));
                events.push(json!({"kind": "payment", "at": later(2), "user": "陈会计", "role": "finance", "amount": "100.00", "date": day, "bank_ref": format!("PR-B{i}")}));
                events.push(json!({"kind": "finance_release", "at": later(3), "user": "陈会计", "role": "finance"}));
                events.push(json!({"kind": "shipment", "at": later(4), "user": "刘仓管", "role": "warehouse", "lines": [{"line": 0, "quantity": "2"}]}));
            }
            json!({"ref": format!("O{i}"), "customer_ref": customer, "store": customer, "salesperson": "王磊",
                   "project": project, "taken_at": taken_at,
                   "lines": [{"sku": "SF-0001", "spec": "三人位沙发", "quantity": "2", "unit": "套", "unit_price": "1000.00"}],
                   "events": events})
        })
        .collect();
    serde_json::from_value(json!({"customers": customers, "orders": orders})).unwrap()
}

/// The projects listed on an order list page.
fn projects(html: &str) -> Vec<String> {
    let mut found: Vec<String> = html
        .split("<td>")
        .skip(1)
        .filter_map(|cell| cell.split("</td>").next())
        .filter(|text| text.starts_with("项目-") || text.starts_with("边界-"))
        .map(str::to_string)
        .collect();
    found.sort();
    found
}

/// A status tab's count on an order list page ("" when it shows none).
fn tab_count(html: &str, label: &str) -> String {
    let tabs = html.split("id=\"status-tabs\"").nth(1).unwrap_or("");
    let tabs = tabs.split("</nav>").next().unwrap_or("");
    let Some(at) = tabs.find(&format!(">{label}")) else {
        panic!("no tab {label} in {tabs}");
    };
    let rest = &tabs[at + label.len() + 1..];
    match rest.strip_prefix(" <span class=\"tab-count\">") {
        Some(count) => count.split('<').next().unwrap_or("").to_string(),
        None => String::new(),
    }
}

fn business_day(taken_at: &str) -> NaiveDate {
    let at: DateTime<FixedOffset> = taken_at.parse().unwrap();
    (at + chrono::Duration::hours(8)).date_naive()
}

#[tokio::test]
async fn pages_that_read_less_answer_as_before_on_another_node_after_sync() {
    let net = TestNet::start(2).await;
    {
        let office = &net.nodes[0].node.as_ref().unwrap().office;
        neiqin::import::import(office, &data_set(), |_, _| {}).unwrap();
    }
    net.settle(SETTLE).await;
    let node = &net.nodes[1];
    user_with_password(node, "李娜", "clerk", "页面-读得少-2026").await;
    let mut page = PageClient::new(node);
    assert_eq!(
        page.sign_in("李娜", "页面-读得少-2026").await.status,
        StatusCode::SEE_OTHER
    );

    // A business day in China: the order taken at 15:59 UTC is that day's, the one a minute
    // later the next day's, though many orders were taken after both.
    for day in ["2026-03-10", "2026-03-11", "2026-03-01"] {
        let wanted: NaiveDate = day.parse().unwrap();
        let mut expected: Vec<String> = orders()
            .into_iter()
            .filter(|(_, _, at, _, _)| business_day(at) == wanted)
            .map(|(project, ..)| project)
            .collect();
        expected.sort();
        assert!(!expected.is_empty());
        let list = page.get(&format!("/ui/orders?from={day}&to={day}")).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(projects(&list.body), expected, "{day}");
    }
    let until = page.get("/ui/orders?to=2026-03-10&status=taken").await;
    assert!(until.body.contains("边界-早") && !until.body.contains("边界-晚"));
    assert_eq!(tab_count(&until.body, "待核单"), "1");

    // A customer's tabs, counted in one pass over its orders: 105 verified (past the cap), 3
    // taken, none of any other status; and under a date range as well.
    let (_, found) = node.get("/api/customers?q=门店甲", &node.admin).await;
    let customer = found["items"][0]["id"].as_str().unwrap().to_string();
    let list = page.get(&format!("/ui/orders?customer={customer}")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(tab_count(&list.body, "待审核"), "100+");
    assert_eq!(tab_count(&list.body, "待核单"), "3");
    assert_eq!(tab_count(&list.body, "已发货"), "0");
    let march = page
        .get(&format!(
            "/ui/orders?customer={customer}&from=2026-03-01&to=2026-03-31"
        ))
        .await;
    let in_march = orders()
        .into_iter()
        .filter(|(_, c, at, verified, _)| {
            *c == "C0" && *verified && business_day(at) <= "2026-03-31".parse().unwrap()
        })
        .count();
    assert!(in_march < 100);
    assert_eq!(tab_count(&march.body, "待审核"), in_march.to_string());

    // The receivables page reads the index once for its aging and its queue: the same total
    // and the same overdue count as the API's two answers.
    let (_, api) = node.get("/api/receivables", &node.admin).await;
    let (_, queue) = node.get("/api/receivables/reminders", &node.admin).await;
    let outstanding = api["total"]["outstanding"].as_str().unwrap().to_string();
    assert_eq!(
        outstanding, "19000.00",
        "10 orders of 2000.00, 100.00 paid on each"
    );
    let receivables = page.get("/ui/receivables").await;
    assert_eq!(receivables.status, StatusCode::OK);
    let total = receivables
        .body
        .split("id=\"aging-total\"")
        .nth(1)
        .unwrap()
        .split("<td class=\"money\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .replace(['¥', ','], "");
    assert_eq!(total, outstanding);
    let overdue = queue["overdue"].as_array().unwrap().len();
    assert_eq!(overdue, 10);
    assert!(
        receivables.body.contains(&format!("已逾期（{overdue}）")),
        "{}",
        receivables.body
    );
    net.stop().await;
}
