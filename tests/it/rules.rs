//! The company's rules (../shared/reference, DOMAIN.md), one test per rule: first the wrong path
//! refused on the node (409 with the rule in Chinese and English, or 422 naming the field, and
//! nothing recorded), then the right path accepted. Where a rule can only be broken by two nodes
//! apart, the two halves are accepted on each side and the merge shows the same anomaly on both.

use crate::flow::*;
use crate::harness::{customer_body, order_body, three_lines, TestNode};
use crate::testnet::TestNet;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);

/// Asserts a 409 whose detail holds `zh` (the rule in Chinese) and some English after " / ".
fn broken(got: (StatusCode, Value), zh: &str) {
    assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    let detail = got.1["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(zh), "{detail:?} should state {zh:?}");
    assert!(
        detail
            .split(" / ")
            .nth(1)
            .is_some_and(|en| en.is_ascii() || !en.is_empty()),
        "{detail:?} should state the rule in English too"
    );
}

async fn patch(node: &mut TestNode, role: Role, id: &str, body: Value) -> (StatusCode, Value) {
    let token = node.token(role).await;
    node.send("PATCH", &format!("/api/orders/{id}"), &token, Some(body))
        .await
}

async fn facts_count(node: &mut TestNode, id: &str) -> usize {
    order(node, id).await["facts"].as_array().unwrap().len()
}

fn fact_id(order: &Value, kind: &str) -> String {
    order["facts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} fact in {order}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn new_order(node: &mut TestNode) -> (String, Value) {
    let customer = node.customer("上海红星美凯龙真北店").await;
    let o = node.order(&customer, three_lines()).await;
    (o["id"].as_str().unwrap().to_string(), o)
}

/// Ships everything of an order ready to ship.
async fn shipped(node: &mut TestNode) -> (String, Value) {
    let (id, o) = new_order(node).await;
    ready_to_ship(node, &id).await;
    act(
        node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    (id, o)
}

#[tokio::test]
async fn verification_needs_three_parties_every_check_and_a_complete_order() {
    let mut node = TestNode::start().await;
    let customer = node.customer("杭州第六空间店").await;
    let clerk = node.token(Role::Clerk).await;
    let mut body = order_body(&customer, three_lines());
    body["ship_to"]["receiver"] = json!("");
    body["promised_ship_date"] = Value::Null;
    let (status, o) = node.post("/api/orders", &clerk, body).await;
    assert_eq!(status, StatusCode::CREATED, "{o}");
    let id = o["id"].as_str().unwrap().to_string();

    // Approval and 下单 need 核单 first.
    broken(
        refused(&mut node, Role::Supervisor, &id, "approve", json!({})).await,
        "须先核单",
    );
    broken(
        refused(
            &mut node,
            Role::Clerk,
            &id,
            "release-to-workshop",
            json!({}),
        )
        .await,
        "核单并经主管审核",
    );
    let before = facts_count(&mut node, &id).await;
    broken(
        refused(
            &mut node,
            Role::Clerk,
            &id,
            "verify",
            json!({"parties": ["customer"]}),
        )
        .await,
        "业务员、车间",
    );
    broken(
        refused(&mut node, Role::Clerk, &id, "verify", json!({"parties": ["salesperson", "customer", "workshop"], "checked": {"unit_price": true, "quantity": false}})).await,
        "quantity",
    );
    broken(
        refused(&mut node, Role::Clerk, &id, "verify", verify_body()).await,
        "收货人、交货日期",
    );
    assert_eq!(
        facts_count(&mut node, &id).await,
        before,
        "nothing recorded"
    );

    // Before 核单 the clerk fills in what is missing freely (no change order).
    let (status, got) = patch(
        &mut node,
        Role::Clerk,
        &id,
        json!({"receiver": "张伟", "promised_ship_date": "2026-12-20"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["status"], "taken");
    let got = act(&mut node, Role::Clerk, &id, "verify", json!({"parties": ["salesperson", "customer", "workshop"], "checked": {"unit_price": true, "quantity": true}})).await;
    assert_eq!(got["status"], "verified");
    assert_eq!(got["status_label"], "待审核");
    broken(
        refused(&mut node, Role::Clerk, &id, "verify", verify_body()).await,
        "已核单",
    );
    broken(
        refused(
            &mut node,
            Role::Clerk,
            &id,
            "release-to-workshop",
            json!({}),
        )
        .await,
        "主管审核",
    );
    let got = act(&mut node, Role::Supervisor, &id, "approve", json!({})).await;
    assert_eq!(got["status_label"], "待下单");
    let got = act(
        &mut node,
        Role::Clerk,
        &id,
        "release-to-workshop",
        json!({}),
    )
    .await;
    assert_eq!(got["status_label"], "生产中");
    broken(
        refused(
            &mut node,
            Role::Clerk,
            &id,
            "release-to-workshop",
            json!({}),
        )
        .await,
        "下单只能一次",
    );

    // tax-included without a rate, and a deposit above the total, are refused at entry.
    let mut bad = order_body(&customer, three_lines());
    bad["tax_rate"] = Value::Null;
    bad["deposit"] = json!("99999.00");
    let (status, problem) = node.post("/api/orders", &clerk, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tax_rate", "deposit"]);
    node.stop().await;
}

#[tokio::test]
async fn a_verified_order_changes_only_by_change_order_with_old_and_new_values() {
    let mut node = TestNode::start().await;
    let (id, o) = new_order(&mut node).await;
    let line = line_ids(&o)[0].clone();
    into_production(&mut node, &id).await;

    let change = json!({"lines": [{"id": line, "unit_price": "1300.00"}]});
    let (status, problem) = patch(&mut node, Role::Clerk, &id, change.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "reason");

    let mut with_reason = change;
    with_reason["reason"] = json!("客户议价");
    let (status, got) = patch(&mut node, Role::Clerk, &id, with_reason).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["status"], "taken", "back to 待核单");
    assert_eq!(got["totals"]["gross"], "9728.50");
    let change_fact = got["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "changed")
        .unwrap();
    assert_eq!(change_fact["change_order"], true);
    assert_eq!(change_fact["gross_before"], "9828.49");
    assert_eq!(change_fact["gross_after"], "9728.50");
    assert_eq!(
        change_fact["changes"][0],
        json!({"field": format!("lines.{line}.unit_price"), "old": "1333.33", "new": "1300.00"})
    );
    let admin = node.admin.clone();
    let (_, history) = node.get(&format!("/api/orders/{id}/history"), &admin).await;
    let last = history.as_array().unwrap().last().unwrap()["what"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        last.contains("1333.33 → 1300.00") && last.contains("客户议价"),
        "{last}"
    );

    // Approval again after 核单 again; the note stays free.
    broken(
        refused(&mut node, Role::Supervisor, &id, "approve", json!({})).await,
        "须先核单",
    );
    act(&mut node, Role::Clerk, &id, "verify", verify_body()).await;
    let got = act(&mut node, Role::Supervisor, &id, "approve", json!({})).await;
    assert_eq!(
        got["status"], "in_production",
        "下单 stands: it happens once"
    );
    let (status, got) = patch(&mut node, Role::Clerk, &id, json!({"note": "周五前发"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        got["status"], "in_production",
        "the note is no change order"
    );

    // A shipped line keeps its price; the customer stays once goods left.
    let o = order(&mut node, &id).await;
    act(
        &mut node,
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(all_lines(&o)),
    )
    .await;
    act(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        json!({"amount": "9728.50", "date": "2026-11-26", "bank_ref": "P-1"}),
    )
    .await;
    act(&mut node, Role::Finance, &id, "finance-release", json!({})).await;
    act(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": line, "quantity": "1"}]}),
    )
    .await;
    let (status, problem) = patch(
        &mut node,
        Role::Clerk,
        &id,
        json!({"lines": [{"id": line, "unit_price": "1200.00"}], "reason": "降价"}),
    )
    .await;
    broken((status, problem), "已发货");
    let other = node.customer("另一个客户").await;
    broken(
        patch(
            &mut node,
            Role::Clerk,
            &id,
            json!({"customer_id": other, "reason": "换客户"}),
        )
        .await,
        "不能更换客户",
    );
    node.stop().await;
}

#[tokio::test]
async fn a_change_order_after_release_needs_finance_to_release_again() {
    let mut node = TestNode::start().await;
    let (id, o) = new_order(&mut node).await;
    ready_to_ship(&mut node, &id).await;
    let (status, got) = patch(
        &mut node,
        Role::Clerk,
        &id,
        json!({"receiver_phone": "13900000000", "reason": "收货人换号"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    broken(
        refused(
            &mut node,
            Role::Warehouse,
            &id,
            "shipments",
            json!({"lines": ship_all(&o)}),
        )
        .await,
        "重新放行",
    );
    act(&mut node, Role::Clerk, &id, "verify", verify_body()).await;
    act(&mut node, Role::Supervisor, &id, "approve", json!({})).await;
    broken(
        refused(&mut node, Role::Finance, &id, "finance-release", json!({})).await,
        "重新开出货单",
    );
    act(
        &mut node,
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(all_lines(&o)),
    )
    .await;
    act(&mut node, Role::Finance, &id, "finance-release", json!({})).await;
    let got = act(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    assert_eq!(got["status"], "shipped");
    assert!(anomaly_kinds(&got).is_empty(), "{:?}", got["anomalies"]);
    node.stop().await;
}

#[tokio::test]
async fn an_archived_order_takes_only_a_supervisors_correction() {
    let mut node = TestNode::start().await;
    let (id, o) = shipped(&mut node).await;
    let gross = o["totals"]["gross"].as_str().unwrap().to_string();
    act(
        &mut node,
        Role::Finance,
        &id,
        "invoices",
        json!({"number": "04400001", "title": "上海真北家居有限公司", "amount": gross}),
    )
    .await;
    let got = act(&mut node, Role::Clerk, &id, "archive", json!({})).await;
    assert_eq!(got["status_label"], "已归档");
    broken(
        patch(
            &mut node,
            Role::Clerk,
            &id,
            json!({"project": "改名", "reason": "x"}),
        )
        .await,
        "只能由主管登记更正",
    );
    let clerk = node.token(Role::Clerk).await;
    let (status, _) = node
        .post(
            &format!("/api/orders/{id}/corrections"),
            &clerk,
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let got = act(
        &mut node,
        Role::Supervisor,
        &id,
        "corrections",
        json!({"note": "送货地址门牌号应为1108号"}),
    )
    .await;
    assert_eq!(got["status"], "archived");
    assert!(got["facts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "correction"));
    node.stop().await;
}

#[tokio::test]
async fn the_finance_gate_bounds_what_ships() {
    let mut node = TestNode::start().await;
    let (id, o) = new_order(&mut node).await;
    let lines = line_ids(&o);
    into_production(&mut node, &id).await;

    // The 出货单: complete, never more than ordered minus shipped, at the order's prices.
    let clerk = node.token(Role::Clerk).await;
    let (status, problem) = node
        .post(
            &format!("/api/orders/{id}/shipping-doc"),
            &clerk,
            json!({"lines": [{"line": lines[0], "quantity": "3"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    broken(
        refused(
            &mut node,
            Role::Clerk,
            &id,
            "shipping-doc",
            doc_body(json!([{"line": lines[0], "quantity": "5"}])),
        )
        .await,
        "不能超过未发数量",
    );
    broken(
        refused(
            &mut node,
            Role::Clerk,
            &id,
            "shipping-doc",
            doc_body(json!([{"line": lines[0], "quantity": "1", "unit_price": "1000"}])),
        )
        .await,
        "变更单",
    );
    // Version 1 lists L1 and L3, version 2 only L1 x 2.
    let v1 = act(
        &mut node,
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(json!([{"line": lines[0], "quantity": "3"}, {"line": lines[2], "quantity": "4"}])),
    )
    .await;
    assert_eq!(v1["status_label"], "待放行");
    let v1 = fact_id(&v1, "shipping_doc");
    let v2 = act(
        &mut node,
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(json!([{"line": lines[0], "quantity": "2"}])),
    )
    .await;
    let doc = v2["facts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|f| f["kind"] == "shipping_doc")
        .unwrap()
        .clone();
    assert_eq!(doc["route"], "佳吉快运上海普陀部");
    assert_eq!(doc["lines"][0]["unit_price"], "1333.33");

    // Nothing paid: refused; a credit decision beyond the customer's limit (0): refused.
    broken(
        refused(&mut node, Role::Finance, &id, "finance-release", json!({})).await,
        "货款未到位",
    );
    broken(
        refused(
            &mut node,
            Role::Finance,
            &id,
            "finance-release",
            json!({"credit": {"kind": "credit_sale", "reason": "老客户"}}),
        )
        .await,
        "信用额度",
    );
    broken(
        refused(
            &mut node,
            Role::Finance,
            &id,
            "finance-release",
            json!({"shipping_doc": v1}),
        )
        .await,
        "最新版本",
    );
    // The deposit in: 2666.66 is due for version 2, 1200 paid; the archive grants 5000 of credit.
    act(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        json!({"amount": "1200.00", "date": "2026-11-26", "bank_ref": "DEP-1"}),
    )
    .await;
    let customer = o["customer_id"].as_str().unwrap();
    let clerk = node.token(Role::Clerk).await;
    let (status, _) = node
        .send(
            "PATCH",
            &format!("/api/customers/{customer}"),
            &clerk,
            Some(json!({"credit_limit": "5000.00", "payment_terms": "月结"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let released = act(
        &mut node,
        Role::Finance,
        &id,
        "finance-release",
        json!({"credit": {"kind": "monthly", "reason": "月结客户，月底结清"}}),
    )
    .await;
    assert_eq!(released["status_label"], "待发货");
    let release = released["facts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|f| f["kind"] == "finance_release")
        .unwrap()
        .clone();
    assert_eq!(release["paid"], "1200.00");
    assert_eq!(release["due"], "2666.66");
    assert_eq!(release["credit"]["amount"], "1466.66");
    broken(
        refused(&mut node, Role::Finance, &id, "finance-release", json!({})).await,
        "已放行",
    );

    // The warehouse ships only the released version's lines and quantities.
    broken(
        refused(
            &mut node,
            Role::Warehouse,
            &id,
            "shipments",
            json!({"lines": [{"line": lines[1], "quantity": "1"}]}),
        )
        .await,
        "只能发放行出货单上的货品",
    );
    broken(
        refused(
            &mut node,
            Role::Warehouse,
            &id,
            "shipments",
            json!({"lines": [{"line": lines[0], "quantity": "3"}]}),
        )
        .await,
        "只能发放行出货单上的货品",
    );
    let got = act(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": lines[0], "quantity": "2"}]}),
    )
    .await;
    assert_eq!(got["status"], "partially_shipped");
    assert!(anomaly_kinds(&got).is_empty());
    node.stop().await;
}

#[tokio::test]
async fn two_warehouses_shipping_past_one_release_raise_the_same_anomaly() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let o = net.nodes[0].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    let line = line_ids(&o)[1].clone();
    into_production(&mut net.nodes[0], &id).await;
    act(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(json!([{"line": line, "quantity": "1"}])),
    )
    .await;
    act(
        &mut net.nodes[0],
        Role::Finance,
        &id,
        "payments",
        json!({"amount": "4580.00", "date": "2026-11-26", "bank_ref": "BED-1"}),
    )
    .await;
    act(
        &mut net.nodes[0],
        Role::Finance,
        &id,
        "finance-release",
        json!({}),
    )
    .await;
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    for i in 0..2 {
        act(
            &mut net.nodes[i],
            Role::Warehouse,
            &id,
            "shipments",
            json!({"lines": [{"line": line, "quantity": "1"}]}),
        )
        .await;
    }
    net.heal();
    net.settle(SETTLE).await;
    let mut seen = Vec::new();
    for i in 0..2 {
        let got = order(&mut net.nodes[i], &id).await;
        let kinds = anomaly_kinds(&got);
        assert!(
            kinds.contains(&"shipped_beyond_release".to_string()),
            "node {i}: {kinds:?}"
        );
        assert!(
            kinds.contains(&"over_shipped".to_string()),
            "node {i}: {kinds:?}"
        );
        seen.push(got["anomalies"].clone());
    }
    assert_eq!(
        seen[0], seen[1],
        "the same anomalies, with the same ids, on both nodes"
    );
    net.stop().await;
}

#[tokio::test]
async fn invoices_one_number_once_never_above_the_total_titles_from_the_archive() {
    let mut node = TestNode::start().await;
    let (id, o) = shipped(&mut node).await;
    let (other, _) = shipped(&mut node).await;
    let invoice = |number: &str, title: &str, amount: &str| json!({"number": number, "title": title, "amount": amount});
    const TITLE: &str = "上海真北家居有限公司";
    broken(
        refused(
            &mut node,
            Role::Finance,
            &id,
            "invoices",
            invoice("0440-1", TITLE, "9828.50"),
        )
        .await,
        "开票金额超过订单金额",
    );
    broken(
        refused(
            &mut node,
            Role::Finance,
            &id,
            "invoices",
            invoice("0440-1", "上海真北家居", "100.00"),
        )
        .await,
        "开票名称",
    );
    let got = act(
        &mut node,
        Role::Finance,
        &id,
        "invoices",
        invoice("0440-1", TITLE, "5000.00"),
    )
    .await;
    assert_eq!(got["invoiced"], "5000.00");
    broken(
        refused(
            &mut node,
            Role::Finance,
            &other,
            "invoices",
            invoice("0440-1", TITLE, "100.00"),
        )
        .await,
        "发票号 0440-1 已使用",
    );
    // 红冲: the invoice stops counting, its number stays used.
    let first = fact_id(&got, "invoice");
    let (status, _) = refused(
        &mut node,
        Role::Finance,
        &id,
        &format!("invoices/{first}/void"),
        json!({"reason": ""}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "红冲 needs a reason"
    );
    let voided = act(
        &mut node,
        Role::Finance,
        &id,
        &format!("invoices/{first}/void"),
        json!({"reason": "金额开错"}),
    )
    .await;
    assert_eq!(voided["invoiced"], "0.00");
    broken(
        refused(
            &mut node,
            Role::Finance,
            &id,
            &format!("invoices/{first}/void"),
            json!({"reason": "again"}),
        )
        .await,
        "已红冲",
    );
    broken(
        refused(
            &mut node,
            Role::Finance,
            &id,
            "invoices",
            invoice("0440-1", TITLE, "100.00"),
        )
        .await,
        "已使用",
    );
    let gross = o["totals"]["gross"].as_str().unwrap().to_string();
    let got = act(
        &mut node,
        Role::Finance,
        &id,
        "invoices",
        invoice("0440-2", TITLE, &gross),
    )
    .await;
    assert_eq!(
        got["status_label"], "已回款",
        "shipped, paid and invoiced in full"
    );
    node.stop().await;
}

#[tokio::test]
async fn one_invoice_number_on_two_nodes_is_an_anomaly_until_one_is_voided() {
    let mut net = TestNet::start(2).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (id, _) = shipped(&mut net.nodes[0]).await;
        ids.push(id);
    }
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    for (i, id) in ids.iter().enumerate() {
        act(
            &mut net.nodes[i],
            Role::Finance,
            id,
            "invoices",
            json!({"number": "04409999", "title": "上海真北家居有限公司", "amount": "100.00"}),
        )
        .await;
    }
    net.heal();
    net.settle(SETTLE).await;
    let mut found = Vec::new();
    for i in 0..2 {
        let admin = net.nodes[i].admin.clone();
        let (_, inbox) = net.nodes[i].get("/api/anomalies", &admin).await;
        let dup: Vec<Value> = inbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["anomaly"]["kind"] == "duplicate_invoice_number")
            .cloned()
            .collect();
        assert_eq!(dup.len(), 1, "node {i}: {inbox}");
        found.push(dup[0].clone());
        let (_, status) = net.nodes[i].get("/api/status", &admin).await;
        assert_eq!(
            status["open_anomalies"],
            inbox.as_array().unwrap().len(),
            "status agrees with the inbox"
        );
    }
    assert_eq!(found[0], found[1]);
    let anomaly = found[0]["id"].as_str().unwrap().to_string();
    let finance = net.nodes[0].token(Role::Finance).await;
    let (status, problem) = net.nodes[0]
        .post(
            &format!("/api/anomalies/{anomaly}/resolve"),
            &finance,
            json!({"resolution": "已核对"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a text does not remove it: {problem}"
    );
    let got = order(&mut net.nodes[1], &ids[1]).await;
    let invoice = fact_id(&got, "invoice");
    act(
        &mut net.nodes[1],
        Role::Finance,
        &ids[1],
        &format!("invoices/{invoice}/void"),
        json!({"reason": "号码重复，红冲"}),
    )
    .await;
    net.settle(SETTLE).await;
    for i in 0..2 {
        let admin = net.nodes[i].admin.clone();
        let (_, inbox) = net.nodes[i].get("/api/anomalies", &admin).await;
        assert!(
            !inbox
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["anomaly"]["kind"] == "duplicate_invoice_number"),
            "node {i}: {inbox}"
        );
    }
    net.stop().await;
}

#[tokio::test]
async fn returns_are_bounded_by_what_shipped_approved_and_received_once() {
    let mut node = TestNode::start().await;
    let (unshipped, o) = new_order(&mut node).await;
    let line = line_ids(&o)[0].clone();
    let ret = |kind: &str, qty: &str| json!({"kind": kind, "lines": [{"line": line, "quantity": qty}], "reason": "扶手破损"});
    broken(
        refused(
            &mut node,
            Role::Clerk,
            &unshipped,
            "returns",
            ret("return", "1"),
        )
        .await,
        "退货数量不能超过",
    );

    let (id, o) = shipped(&mut node).await;
    let line = line_ids(&o)[0].clone();
    let ret = |kind: &str, qty: &str| json!({"kind": kind, "lines": [{"line": line, "quantity": qty}], "reason": "扶手破损"});
    broken(
        refused(&mut node, Role::Clerk, &id, "returns", ret("return", "10")).await,
        "已发 3",
    );
    let mut damage = ret("repair", "1");
    damage["damaged"] = json!(true);
    broken(
        refused(&mut node, Role::Clerk, &id, "returns", damage).await,
        "需有照片",
    );
    let first = act(&mut node, Role::Clerk, &id, "returns", ret("repair", "2")).await;
    broken(
        refused(&mut node, Role::Clerk, &id, "returns", ret("return", "2")).await,
        "已申请退 2",
    );
    let rid = fact_id(&first, "return_requested");

    let warehouse = node.token(Role::Warehouse).await;
    let vp = node.token(Role::Vp).await;
    let receive = |qty: &str| json!({"lines": [{"line": line, "quantity": qty}], "condition": "扶手裂", "disposition": "repair", "tag": "RT-1"});
    let post = |path: String, token: String, body: Value| {
        let node = &node;
        async move { node.post(&path, &token, body).await }
    };
    broken(
        post(
            format!("/api/returns/{rid}/receive"),
            warehouse.clone(),
            receive("2"),
        )
        .await,
        "须经销售副总批准",
    );
    let (status, _) = post(format!("/api/returns/{rid}/approve"), vp.clone(), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    broken(
        post(
            format!("/api/returns/{rid}/receive"),
            warehouse.clone(),
            receive("3"),
        )
        .await,
        "入库数量不能超过批准数量",
    );
    broken(
        post(
            format!("/api/returns/{rid}/return-to-customer"),
            warehouse.clone(),
            json!({}),
        )
        .await,
        "尚未入库",
    );
    let (status, got) = post(
        format!("/api/returns/{rid}/receive"),
        warehouse.clone(),
        receive("2"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    broken(
        post(
            format!("/api/returns/{rid}/receive"),
            warehouse.clone(),
            receive("1"),
        )
        .await,
        "已入库",
    );
    let (status, got) = post(
        format!("/api/returns/{rid}/return-to-customer"),
        warehouse.clone(),
        json!({"waybill": "SF1234"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert!(got["facts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "returned_to_customer"));
    broken(
        post(
            format!("/api/returns/{rid}/return-to-customer"),
            warehouse,
            json!({}),
        )
        .await,
        "已返还客户",
    );
    node.stop().await;
}

#[tokio::test]
async fn a_duplicate_payment_is_removed_by_a_void_not_by_a_text() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let o = net.nodes[0].order(&customer, three_lines()).await;
        ids.push(o["id"].as_str().unwrap().to_string());
    }
    // On one node, one bank reference on a second order is refused.
    let pay = json!({"amount": "1000.00", "date": "2026-11-26", "bank_ref": "CMB-1"});
    act(
        &mut net.nodes[0],
        Role::Finance,
        &ids[0],
        "payments",
        pay.clone(),
    )
    .await;
    broken(
        refused(&mut net.nodes[0], Role::Finance, &ids[1], "payments", pay).await,
        "流水号 CMB-1 已登记过",
    );
    // Two nodes apart, each records it on another order.
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    let pay = json!({"amount": "500.00", "date": "2026-11-26", "bank_ref": "CMB-2"});
    act(
        &mut net.nodes[0],
        Role::Finance,
        &ids[0],
        "payments",
        pay.clone(),
    )
    .await;
    act(&mut net.nodes[1], Role::Finance, &ids[1], "payments", pay).await;
    net.heal();
    net.settle(SETTLE).await;
    let mut found = Vec::new();
    for i in 0..2 {
        let admin = net.nodes[i].admin.clone();
        let (_, inbox) = net.nodes[i].get("/api/anomalies", &admin).await;
        let dup: Vec<Value> = inbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["anomaly"]["kind"] == "duplicate_bank_ref")
            .cloned()
            .collect();
        assert_eq!(dup.len(), 1, "node {i}: {inbox}");
        let mut orders: Vec<String> = dup[0]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect();
        orders.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(orders, expected);
        found.push(dup[0].clone());
    }
    assert_eq!(found[0], found[1]);
    let anomaly = found[0]["id"].as_str().unwrap().to_string();
    let finance = net.nodes[1].token(Role::Finance).await;
    let (status, problem) = net.nodes[1]
        .post(
            &format!("/api/anomalies/{anomaly}/resolve"),
            &finance,
            json!({"resolution": "已核对"}),
        )
        .await;
    broken((status, problem), "作废");
    let got = order(&mut net.nodes[1], &ids[1]).await;
    assert_eq!(got["paid"], "500.00");
    let payment = fact_id(&got, "payment");
    let voided = act(
        &mut net.nodes[1],
        Role::Finance,
        &ids[1],
        &format!("payments/{payment}/void"),
        json!({"reason": "重复录入"}),
    )
    .await;
    assert_eq!(voided["paid"], "0.00", "the duplicate stops counting");
    net.settle(SETTLE).await;
    for i in 0..2 {
        let admin = net.nodes[i].admin.clone();
        let (_, inbox) = net.nodes[i].get("/api/anomalies", &admin).await;
        assert!(inbox.as_array().unwrap().is_empty(), "node {i}: {inbox}");
        let (_, status) = net.nodes[i].get("/api/status", &admin).await;
        assert_eq!(status["open_anomalies"], 0);
    }
    net.stop().await;
}

#[tokio::test]
async fn frozen_and_merged_customers_take_no_order_and_a_code_twice_is_a_duplicate() {
    let mut node = TestNode::start().await;
    let clerk = node.token(Role::Clerk).await;
    let customer = node.customer("无锡红星美凯龙店").await;
    let (status, _) = node
        .send(
            "PATCH",
            &format!("/api/customers/{customer}"),
            &clerk,
            Some(json!({"status": "frozen"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = node
        .post("/api/orders", &clerk, order_body(&customer, three_lines()))
        .await;
    broken((status, problem), "已冻结");

    // Another archive with the same code but nothing else in common.
    let mut body = customer_body("无锡新区店");
    body["tax_id"] = json!("");
    body["contacts"] = json!([]);
    let (status, twin) = node.post("/api/customers", &clerk, body).await;
    assert_eq!(status, StatusCode::CREATED);
    let twin = twin["id"].as_str().unwrap().to_string();
    let (_, inbox) = node.get("/api/anomalies", &clerk).await;
    let dup = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["customers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == &json!(twin))
        })
        .unwrap_or_else(|| panic!("the same code twice is a duplicate: {inbox}"))
        .clone();
    assert!(dup["anomaly"]["detail"]
        .as_str()
        .unwrap()
        .contains("code:sh-001"));
    let (status, _) = node
        .post(
            &format!("/api/anomalies/{}/resolve", dup["id"].as_str().unwrap()),
            &clerk,
            json!({"resolution": "同一门店", "keep": customer}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = node
        .post("/api/orders", &clerk, order_body(&twin, three_lines()))
        .await;
    broken((status, problem.clone()), "已合并到");
    assert!(
        problem["detail"].as_str().unwrap().contains(&customer),
        "names the survivor: {problem}"
    );
    node.stop().await;
}

#[tokio::test]
async fn the_rest_of_a_partly_shipped_order_is_cancelled_on_its_own() {
    let mut node = TestNode::start().await;
    let (id, o) = new_order(&mut node).await;
    let lines = line_ids(&o);
    broken(
        refused(
            &mut node,
            Role::Vp,
            &id,
            "cancel-remaining",
            json!({"reason": "x"}),
        )
        .await,
        "尚未发货",
    );
    ready_to_ship(&mut node, &id).await;
    act(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": lines[1], "quantity": "1"}]}),
    )
    .await;
    broken(
        refused(
            &mut node,
            Role::Vp,
            &id,
            "cancel",
            json!({"reason": "客户不要了"}),
        )
        .await,
        "只能取消未发部分",
    );
    let got = act(
        &mut node,
        Role::Vp,
        &id,
        "cancel-remaining",
        json!({"reason": "客户只要床"}),
    )
    .await;
    assert_eq!(got["status"], "shipped");
    assert_eq!(got["due"], "4580.00");
    // No shipped-while-cancelled; what was paid for the cancelled rest is finance's to refund.
    assert_eq!(anomaly_kinds(&got), ["over_paid"], "{:?}", got["anomalies"]);
    broken(
        refused(
            &mut node,
            Role::Warehouse,
            &id,
            "shipments",
            json!({"lines": [{"line": lines[0], "quantity": "1"}]}),
        )
        .await,
        "余量已取消",
    );
    node.stop().await;
}

#[tokio::test]
async fn statuses_walk_the_queues_and_the_counts_agree_with_the_lists() {
    let mut node = TestNode::start().await;
    let (id, o) = new_order(&mut node).await;
    let expect = |got: &Value, status: &str, label: &str| {
        assert_eq!(got["status"], status, "{}", got["facts"]);
        assert_eq!(got["status_label"], label);
    };
    expect(&o, "taken", "待核单");
    expect(
        &act(&mut node, Role::Clerk, &id, "verify", verify_body()).await,
        "verified",
        "待审核",
    );
    expect(
        &act(&mut node, Role::Supervisor, &id, "approve", json!({})).await,
        "approved",
        "待下单",
    );
    expect(
        &act(
            &mut node,
            Role::Clerk,
            &id,
            "release-to-workshop",
            json!({}),
        )
        .await,
        "in_production",
        "生产中",
    );
    expect(
        &act(
            &mut node,
            Role::Clerk,
            &id,
            "shipping-doc",
            doc_body(all_lines(&o)),
        )
        .await,
        "awaiting_release",
        "待放行",
    );
    act(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        json!({"amount": "9828.49", "date": "2026-11-26", "bank_ref": "ST-1"}),
    )
    .await;
    expect(
        &act(&mut node, Role::Finance, &id, "finance-release", json!({})).await,
        "released",
        "待发货",
    );
    let lines = line_ids(&o);
    act(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": lines[1], "quantity": "1"}]}),
    )
    .await;
    expect(&order(&mut node, &id).await, "released", "待发货");
    expect(&act(&mut node, Role::Warehouse, &id, "shipments", json!({"lines": [{"line": lines[0], "quantity": "3"}, {"line": lines[2], "quantity": "4"}]})).await, "shipped", "已发货");
    expect(
        &act(
            &mut node,
            Role::Finance,
            &id,
            "invoices",
            json!({"number": "0001", "title": "上海真北家居有限公司", "amount": "9828.49"}),
        )
        .await,
        "paid",
        "已回款",
    );
    expect(
        &act(&mut node, Role::Clerk, &id, "archive", json!({})).await,
        "archived",
        "已归档",
    );
    // Shipped and invoiced, paid only in part (released on credit): 已开票.
    let (second, o2) = new_order(&mut node).await;
    into_production(&mut node, &second).await;
    act(
        &mut node,
        Role::Clerk,
        &second,
        "shipping-doc",
        doc_body(all_lines(&o2)),
    )
    .await;
    let customer = o2["customer_id"].as_str().unwrap();
    let clerk = node.token(Role::Clerk).await;
    node.send(
        "PATCH",
        &format!("/api/customers/{customer}"),
        &clerk,
        Some(json!({"credit_limit": "20000.00"})),
    )
    .await;
    act(
        &mut node,
        Role::Finance,
        &second,
        "finance-release",
        json!({"credit": {"kind": "credit_sale", "reason": "年度大客户"}}),
    )
    .await;
    act(
        &mut node,
        Role::Warehouse,
        &second,
        "shipments",
        json!({"lines": ship_all(&o2)}),
    )
    .await;
    expect(
        &act(
            &mut node,
            Role::Finance,
            &second,
            "invoices",
            json!({"number": "0002", "title": "上海真北家居有限公司", "amount": "9828.49"}),
        )
        .await,
        "invoiced",
        "已开票",
    );
    let (third, _) = new_order(&mut node).await;
    expect(
        &act(
            &mut node,
            Role::Vp,
            &third,
            "cancel",
            json!({"reason": "客户取消"}),
        )
        .await,
        "cancelled",
        "已取消",
    );

    // Every count in /api/status is the length of the list it names.
    let admin = node.admin.clone();
    let (_, status) = node.get("/api/status", &admin).await;
    let counts = status["orders_by_status"].as_object().unwrap();
    assert_eq!(counts.len(), 12, "every status counted: {counts:?}");
    let mut total = 0;
    for (name, count) in counts {
        let (_, page) = node
            .get(&format!("/api/orders?status={name}&limit=1000"), &admin)
            .await;
        assert_eq!(
            page["items"].as_array().unwrap().len() as u64,
            count.as_u64().unwrap(),
            "{name}"
        );
        total += count.as_u64().unwrap();
    }
    assert_eq!(total, 3);
    assert_eq!(counts["archived"], 1);
    assert_eq!(counts["invoiced"], 1);
    assert_eq!(counts["cancelled"], 1);
    let (_, inbox) = node.get("/api/anomalies", &admin).await;
    assert_eq!(status["open_anomalies"], inbox.as_array().unwrap().len());
    node.stop().await;
}

#[tokio::test]
async fn every_amount_has_two_decimals() {
    let mut node = TestNode::start().await;
    let customer = node.customer("南昌红星美凯龙店").await;
    let o = node
        .order(&customer, json!([{"sku": "BD-1806", "spec": "1.8m 实木床", "quantity": "1", "unit": "张", "unit_price": "4580"}]))
        .await;
    assert_eq!(o["lines"][0]["amount"], "4580.00");
    assert_eq!(o["totals"]["gross"], "4580.00");
    assert_eq!(o["totals"]["net"], "4053.10");
    assert_eq!(o["totals"]["tax"], "526.90");
    assert_eq!(o["paid"], "0.00");
    let admin = node.admin.clone();
    let (_, page) = node.get("/api/orders", &admin).await;
    assert_eq!(page["items"][0]["gross"], "4580.00");
    node.stop().await;
}

#[tokio::test]
async fn the_demo_data_tells_a_story_the_rules_accept() {
    let node = TestNode::start().await;
    node.import_demo();
    let admin = node.admin.clone();
    let (_, inbox) = node.get("/api/anomalies", &admin).await;
    let kinds: Vec<&str> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["anomaly"]["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.is_empty(), "the demo breaks no rule: {inbox}");
    let (_, status) = node.get("/api/status", &admin).await;
    let counts = status["orders_by_status"].as_object().unwrap();
    let busy: Vec<&String> = counts
        .iter()
        .filter(|(_, n)| n.as_u64() > Some(0))
        .map(|(s, _)| s)
        .collect();
    assert!(busy.len() >= 8, "the demo fills most queues: {counts:?}");
    node.stop().await;
}

#[tokio::test]
async fn invoicing_or_asking_back_too_much_on_two_nodes_is_an_anomaly_until_voided_or_rejected() {
    let mut net = TestNet::start(2).await;
    let (id, o) = shipped(&mut net.nodes[0]).await;
    let line = line_ids(&o)[0].clone();
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    for (i, number) in [(0, "A-1"), (1, "B-1")] {
        act(
            &mut net.nodes[i],
            Role::Finance,
            &id,
            "invoices",
            json!({"number": number, "title": "上海真北家居有限公司", "amount": "6000.00"}),
        )
        .await;
        act(&mut net.nodes[i], Role::Clerk, &id, "returns", json!({"kind": "return", "lines": [{"line": line, "quantity": "2"}], "reason": "门店多订"})).await;
    }
    net.heal();
    net.settle(SETTLE).await;
    let mut seen = Vec::new();
    for i in 0..2 {
        let got = order(&mut net.nodes[i], &id).await;
        let mut kinds = anomaly_kinds(&got);
        kinds.sort();
        assert_eq!(kinds, ["over_invoiced", "over_returned"], "node {i}");
        seen.push(got["anomalies"].clone());
    }
    assert_eq!(seen[0], seen[1]);
    // 红冲 one invoice, reject one request: both anomalies go, on both nodes.
    let got = order(&mut net.nodes[1], &id).await;
    let invoice = fact_id(&got, "invoice");
    act(
        &mut net.nodes[1],
        Role::Finance,
        &id,
        &format!("invoices/{invoice}/void"),
        json!({"reason": "重复开票"}),
    )
    .await;
    let request = fact_id(&got, "return_requested");
    let vp = net.nodes[1].token(Role::Vp).await;
    let (status, _) = net.nodes[1]
        .post(
            &format!("/api/returns/{request}/reject"),
            &vp,
            json!({"note": "重复申请"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    net.settle(SETTLE).await;
    for i in 0..2 {
        let got = order(&mut net.nodes[i], &id).await;
        assert!(
            anomaly_kinds(&got).is_empty(),
            "node {i}: {:?}",
            got["anomalies"]
        );
        assert_eq!(got["invoiced"], "6000.00");
    }
    net.stop().await;
}
