//! Receivables (回款): figures per order and customer after shipping, invoicing and payments,
//! aging on a chosen day, the reminder queue (催款), one payment allocated over several orders
//! and the rules on it; on one node, and with payments made on two nodes apart.

use std::time::Duration;

use chrono::{Days, NaiveDate};
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flow::{act, all_lines, doc_body, into_production, ship_all};
use crate::harness::{customer_body, three_lines, TestNode};
use crate::testnet::TestNet;

const SETTLE: Duration = Duration::from_secs(30);
/// Gross of `three_lines()`.
const GROSS: &str = "9828.49";

fn today() -> NaiveDate {
    neiqin::domain::report::business_day(chrono::Utc::now())
}

fn plus(days: u64) -> String {
    (today() + Days::new(days)).to_string()
}

/// A customer on 月结30天 with room for credit.
async fn customer(node: &mut TestNode, name: &str) -> String {
    customer_on_terms(node, name, "月结30天").await
}

/// A customer on these payment terms with room for credit.
pub async fn customer_on_terms(node: &mut TestNode, name: &str, terms: &str) -> String {
    let clerk = node.token(Role::Clerk).await;
    let mut body = customer_body(name);
    body["payment_terms"] = json!(terms);
    body["credit_limit"] = json!("1000000");
    let (status, got) = node.post("/api/customers", &clerk, body).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    got["id"].as_str().unwrap().to_string()
}

/// An order shipped in full today on monthly credit, nothing paid; returns its id.
pub async fn shipped_order(node: &mut TestNode, customer: &str) -> String {
    let created = node.order(customer, three_lines()).await;
    let id = created["id"].as_str().unwrap().to_string();
    into_production(node, &id).await;
    act(
        node,
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(all_lines(&created)),
    )
    .await;
    act(
        node,
        Role::Finance,
        &id,
        "finance-release",
        json!({"credit": {"kind": "monthly", "reason": "月结客户"}}),
    )
    .await;
    act(
        node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&created)}),
    )
    .await;
    id
}

async fn get_ok(node: &mut TestNode, path: &str) -> Value {
    let token = node.token(Role::Clerk).await;
    let (status, body) = node.get(path, &token).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn of_customer(node: &mut TestNode, customer: &str, as_of: &str) -> Value {
    get_ok(
        node,
        &format!("/api/customers/{customer}/receivables?as_of={as_of}"),
    )
    .await
}

fn order_row<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["order"] == id)
        .unwrap_or_else(|| panic!("order {id} in {body}"))
}

async fn pay(node: &mut TestNode, role: Role, body: Value) -> (StatusCode, Value) {
    let token = node.token(role).await;
    node.post("/api/payments", &token, body).await
}

#[tokio::test]
async fn receivables_aging_reminders_and_a_payment_over_several_orders() {
    let mut node = TestNode::start().await;
    let c1 = customer(&mut node, "上海真北家居").await;
    let c2 = customer(&mut node, "苏州园区家居").await;
    let a = shipped_order(&mut node, &c1).await;

    // Invoiced in full, 3000 paid.
    act(
        &mut node,
        Role::Finance,
        &a,
        "invoices",
        json!({"number": "INV-R-1", "title": "上海真北家居有限公司", "amount": GROSS}),
    )
    .await;
    let day = today().to_string();
    act(&mut node, Role::Finance, &a, "payments", json!({"amount": "3000", "date": day, "method": "bank", "payer": "张伟", "bank_ref": "R-SINGLE-1"})).await;

    let got = of_customer(&mut node, &c1, &day).await;
    assert_eq!(got["customer"]["terms_days"], 30, "{got}");
    let f = &order_row(&got, &a)["figures"];
    assert_eq!(f["shipped"], GROSS);
    assert_eq!(f["invoiced"], GROSS);
    assert_eq!(f["paid"], "3000.00");
    assert_eq!(f["outstanding"], "6828.49");
    assert_eq!(f["aging_shipped"]["d0_30"], "6828.49");
    assert_eq!(f["aging_due"]["not_due"], "6828.49");
    assert_eq!(got["customer"]["figures"]["outstanding"], "6828.49");

    // Aging on a chosen day: 45 days after shipment is 15 past due; 100 days is 70 past due.
    let f = &order_row(&of_customer(&mut node, &c1, &plus(45)).await, &a)["figures"].clone();
    assert_eq!(f["aging_shipped"]["d31_60"], "6828.49");
    assert_eq!(f["aging_due"]["d0_30"], "6828.49");
    assert_eq!(f["aging_due"]["not_due"], "0.00");
    let f = &order_row(&of_customer(&mut node, &c1, &plus(100)).await, &a)["figures"].clone();
    assert_eq!(f["aging_shipped"]["over_90"], "6828.49");
    assert_eq!(f["aging_due"]["d61_90"], "6828.49");
    // The day before nothing had shipped or been paid.
    let yesterday = (today() - Days::new(1)).to_string();
    let f = &order_row(&of_customer(&mut node, &c1, &yesterday).await, &a)["figures"].clone();
    assert_eq!(
        (&f["shipped"], &f["paid"]),
        (&json!("0.00"), &json!("0.00"))
    );

    // The list per customer, with filters.
    let list = get_ok(&mut node, &format!("/api/receivables?as_of={day}")).await;
    let row = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["customer_id"] == c1)
        .unwrap();
    assert_eq!(row["figures"]["outstanding"], "6828.49");
    assert_eq!(row["customer_name"], "上海真北家居");
    assert_eq!(list["total"]["outstanding"], "6828.49");
    for (query, expect) in [
        ("region=east", 1),
        ("region=West", 0),
        ("salesperson=王磊", 1),
        ("salesperson=nobody", 0),
    ] {
        let got = get_ok(&mut node, &format!("/api/receivables?as_of={day}&{query}")).await;
        assert_eq!(got["rows"].as_array().unwrap().len(), expect, "{query}");
    }
    let got = get_ok(&mut node, &format!("/api/receivables?customer={c2}")).await;
    assert!(got["rows"].as_array().unwrap().is_empty(), "{got}");

    // The reminder queue: due on day 30 (this week on that day), overdue the day after.
    let queue = get_ok(
        &mut node,
        &format!("/api/receivables/reminders?today={}", plus(30)),
    )
    .await;
    assert_eq!(queue["due_this_week"][0]["order"], a, "{queue}");
    assert_eq!(queue["due_this_week"][0]["due_date"], plus(30));
    assert!(queue["due_this_week"][0]["last_reminder"].is_null());
    let queue = get_ok(
        &mut node,
        &format!("/api/receivables/reminders?today={day}"),
    )
    .await;
    assert!(queue["overdue"].as_array().unwrap().is_empty(), "{queue}");

    // 催款 by a clerk: in the queue and in history. Not by the warehouse; not without a note.
    let clerk = node.token(Role::Clerk).await;
    let (status, _) = node
        .post(
            &format!("/api/orders/{a}/reminders"),
            &clerk,
            json!({"note": "已电话催款，客户答应月底付", "next_date": plus(35)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let supervisor = node.token(Role::Supervisor).await;
    let (status, _) = node
        .post(
            &format!("/api/orders/{a}/reminders"),
            &supervisor,
            json!({"note": "主管已致电客户财务"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = node
        .post(
            &format!("/api/orders/{a}/reminders"),
            &clerk,
            json!({"note": "已电话催款，客户答应月底付", "next_date": plus(35)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let warehouse = node.token(Role::Warehouse).await;
    let (status, _) = node
        .post(
            &format!("/api/orders/{a}/reminders"),
            &warehouse,
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = node
        .post(
            &format!("/api/orders/{a}/reminders"),
            &clerk,
            json!({"note": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let queue = get_ok(
        &mut node,
        &format!("/api/receivables/reminders?today={}", plus(31)),
    )
    .await;
    let item = &queue["overdue"][0];
    assert_eq!(item["order"], a, "{queue}");
    assert_eq!(item["days_overdue"], 1);
    assert_eq!(item["outstanding"], "6828.49");
    assert_eq!(item["last_reminder"]["note"], "已电话催款，客户答应月底付");
    assert_eq!(item["last_reminder"]["next_date"], plus(35));
    let (_, history) = node.get(&format!("/api/orders/{a}/history"), &clerk).await;
    assert!(history.to_string().contains("催款"), "{history}");

    // One payment over two orders of the customer: one bank reference, no duplicate.
    let b = shipped_order(&mut node, &c1).await;
    let d = shipped_order(&mut node, &c2).await;
    let (status, paid) = pay(
        &mut node,
        Role::Finance,
        json!({"customer": c1, "bank_reference": "ICBC-MULTI-1", "amount": "3000.00", "date": day,
               "allocations": [{"order": a, "amount": "1000"}, {"order": b, "amount": "2000.00"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["allocations"].as_array().unwrap().len(), 2);
    assert_eq!(paid["allocations"][0]["outstanding"], "5828.49");
    let got = of_customer(&mut node, &c1, &day).await;
    assert_eq!(order_row(&got, &a)["figures"]["paid"], "4000.00");
    assert_eq!(order_row(&got, &b)["figures"]["paid"], "2000.00");
    assert_eq!(got["customer"]["figures"]["outstanding"], "13656.98");
    let admin = node.admin.clone();
    let (_, inbox) = node.get("/api/anomalies", &admin).await;
    assert!(
        !inbox.to_string().contains("ICBC-MULTI-1"),
        "one payment over two orders is no duplicate: {inbox}"
    );
    let order_b = crate::flow::order(&mut node, &b).await;
    assert!(crate::flow::anomaly_kinds(&order_b).is_empty(), "{order_b}");

    // The rules: each at most what the order owes, all orders of the customer, the sum is the
    // amount, a reference once.
    let refused = [
        json!({"customer": c1, "bank_reference": "R-2", "amount": "6000",
               "allocations": [{"order": a, "amount": "6000"}]}),
        json!({"customer": c1, "bank_reference": "R-3", "amount": "200",
               "allocations": [{"order": a, "amount": "100"}, {"order": d, "amount": "100"}]}),
        json!({"customer": c1, "bank_reference": "R-4", "amount": "250",
               "allocations": [{"order": a, "amount": "100"}, {"order": b, "amount": "100"}]}),
        json!({"customer": c1, "bank_reference": "ICBC-MULTI-1", "amount": "100",
               "allocations": [{"order": a, "amount": "100"}]}),
    ];
    for body in refused {
        let (status, problem) = pay(&mut node, Role::Finance, body.clone()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(" / "),
            "{problem}"
        );
    }
    let (status, _) = pay(
        &mut node,
        Role::Warehouse,
        json!({"customer": c1, "bank_reference": "R-5", "amount": "100",
               "allocations": [{"order": a, "amount": "100"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = pay(
        &mut node,
        Role::Finance,
        json!({"customer": c1, "bank_reference": "R-6", "amount": "lots",
               "allocations": [{"order": a, "amount": "100"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(problem.to_string().contains("amount"), "{problem}");
    let (status, problem) = pay(
        &mut node,
        Role::Finance,
        json!({"customer": c1, "bank_reference": "R-7", "amount": "100",
               "allocations": [{"order": a, "amount": "-100"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"], "allocations[0].amount",
        "{problem}"
    );
    let got = of_customer(&mut node, &c1, &day).await;
    assert_eq!(
        order_row(&got, &a)["figures"]["paid"],
        "4000.00",
        "nothing refused was stored"
    );

    // The aging report by customer, region and salesperson; CSV and XLSX.
    let report = get_ok(
        &mut node,
        &format!(
            "/api/reports/receivables?group_by=region&as_of={}",
            plus(45)
        ),
    )
    .await;
    assert_eq!(report["rows"][0]["key"], "East", "{report}");
    assert_eq!(report["total"]["outstanding"], "23485.47");
    assert_eq!(report["total"]["aging_due"]["d0_30"], "23485.47");
    let report = get_ok(&mut node, "/api/reports/receivables?group_by=salesperson").await;
    assert_eq!(report["rows"][0]["key"], "王磊");
    let report = get_ok(&mut node, "/api/reports/receivables?group_by=customer").await;
    assert_eq!(report["rows"][0]["label"], "上海真北家居");
    let token = node.token(Role::Clerk).await;
    for (format, magic) in [("csv", &b"\xEF\xBB\xBF"[..]), ("xlsx", &b"PK"[..])] {
        let res = crate::harness::client()
            .get(format!(
                "{}/api/reports/receivables?group_by=customer&format={format}",
                node.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = res.bytes().await.unwrap();
        assert!(bytes.starts_with(magic), "{format}");
        if format == "csv" {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                text.contains("应收余额") && text.contains("上海真北家居"),
                "{text}"
            );
        }
    }
    let (status, _) = node
        .get("/api/reports/receivables?group_by=product", &token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = node.get("/api/customers/nobody/receivables", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.stop().await;
}

#[tokio::test]
async fn a_payment_recorded_on_another_node_shows_in_receivables_after_sync() {
    let mut net = TestNet::start(2).await;
    let c = customer(&mut net.nodes[0], "杭州滨江家居").await;
    let id = shipped_order(&mut net.nodes[0], &c).await;
    net.settle(SETTLE).await;
    let (status, paid) = pay(
        &mut net.nodes[1],
        Role::Finance,
        json!({"customer": c, "bank_reference": "NODE-B-1", "amount": "1000",
               "allocations": [{"order": id, "amount": "1000"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    net.settle(SETTLE).await;
    let day = today().to_string();
    let got = of_customer(&mut net.nodes[0], &c, &day).await;
    let f = &order_row(&got, &id)["figures"];
    assert_eq!(f["paid"], "1000.00", "{got}");
    assert_eq!(f["outstanding"], "8828.49");
    net.stop().await;
}

#[tokio::test]
async fn one_bank_reference_on_two_payments_made_apart_is_an_anomaly_on_both_nodes() {
    let mut net = TestNet::start(2).await;
    let c = customer(&mut net.nodes[0], "南京河西家居").await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        orders.push(shipped_order(&mut net.nodes[0], &c).await);
    }
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    let (status, got) = pay(
        &mut net.nodes[0],
        Role::Finance,
        json!({"customer": c, "bank_reference": "CMB-SPLIT-1", "amount": "300",
               "allocations": [{"order": orders[0], "amount": "100"}, {"order": orders[1], "amount": "200"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    let (status, got) = pay(
        &mut net.nodes[1],
        Role::Finance,
        json!({"customer": c, "bank_reference": "CMB-SPLIT-1", "amount": "500",
               "allocations": [{"order": orders[2], "amount": "500"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    for node in net.nodes.iter_mut() {
        let admin = node.admin.clone();
        let (_, inbox) = node.get("/api/anomalies", &admin).await;
        assert!(!inbox.to_string().contains("CMB-SPLIT-1"), "{inbox}");
    }
    net.heal();
    net.settle(SETTLE).await;
    let mut seen = Vec::new();
    for node in net.nodes.iter_mut() {
        let admin = node.admin.clone();
        let (_, inbox) = node.get("/api/anomalies", &admin).await;
        let found: Vec<Value> = inbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["anomaly"]["kind"] == "duplicate_bank_ref")
            .cloned()
            .collect();
        assert_eq!(found.len(), 1, "{inbox}");
        let mut named: Vec<String> = found[0]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect();
        named.sort();
        let mut expect = orders.clone();
        expect.sort();
        assert_eq!(named, expect);
        seen.push(found[0]["id"].clone());
    }
    assert_eq!(seen[0], seen[1], "the same anomaly on both nodes");
    net.stop().await;
}
