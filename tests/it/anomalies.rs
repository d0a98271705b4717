//! Every contradiction of DOMAIN.md's table, produced for real: nodes cut apart, the conflicting
//! actions on each side, heal, sync. The same anomaly (same id) shows on every node, then the
//! role named for it resolves it and it clears everywhere.

use crate::flow::*;
use crate::harness::three_lines;
use crate::testnet::TestNet;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);

/// A net of `n` nodes with one order, synced everywhere.
async fn net_with_order(n: usize) -> (TestNet, String, Value) {
    let mut net = TestNet::start(n).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let o = net.nodes[0].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    net.settle(SETTLE).await;
    (net, id, o)
}

/// The open anomalies of `kind` on every node; asserts every node has the same ones.
async fn same_everywhere(net: &mut TestNet, kind: &str) -> Vec<Value> {
    net.settle(SETTLE).await;
    let mut found: Option<Vec<Value>> = None;
    for i in 0..net.nodes.len() {
        let admin = net.nodes[i].admin.clone();
        let (status, inbox) = net.nodes[i].get("/api/anomalies", &admin).await;
        assert_eq!(status, StatusCode::OK);
        let mine: Vec<Value> = inbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["anomaly"]["kind"] == kind)
            .cloned()
            .collect();
        match &found {
            None => found = Some(mine),
            Some(first) => assert_eq!(&mine, first, "node {i} sees the same {kind} anomalies"),
        }
    }
    let found = found.unwrap();
    assert!(!found.is_empty(), "no {kind} anomaly found");
    found
}

/// Resolves an anomaly as `role` on node `i` (after checking a wrong role is refused), then
/// checks it is gone on every node.
async fn resolve(
    net: &mut TestNet,
    i: usize,
    anomaly: &Value,
    role: Role,
    wrong: Role,
    body: Value,
) {
    let id = anomaly["id"].as_str().unwrap();
    let wrong_token = net.nodes[i].token(wrong).await;
    let (status, _got) = net.nodes[i]
        .post(
            &format!("/api/anomalies/{id}/resolve"),
            &wrong_token,
            body.clone(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{wrong} may not resolve {}: {_got}",
        anomaly["anomaly"]["kind"]
    );
    let token = net.nodes[i].token(role).await;
    let (status, got) = net.nodes[i]
        .post(&format!("/api/anomalies/{id}/resolve"), &token, body)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    net.settle(SETTLE).await;
    for n in 0..net.nodes.len() {
        let admin = net.nodes[n].admin.clone();
        let (_, inbox) = net.nodes[n].get("/api/anomalies", &admin).await;
        assert!(
            !inbox
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == anomaly["id"]),
            "resolved on node {n} too"
        );
    }
}

fn resolution(text: &str) -> Value {
    json!({"resolution": text})
}

#[tokio::test]
async fn shipped_while_cancelled() {
    let (mut net, id, o) = net_with_order(2).await;
    ready_to_ship(&mut net.nodes[0], &id).await;
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    act(
        &mut net.nodes[0],
        Role::Vp,
        &id,
        "cancel",
        json!({"reason": "客户取消"}),
    )
    .await;
    act(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o), "carrier": "佳吉快运", "waybill": "JJ9"}),
    )
    .await;
    net.heal();
    let found = same_everywhere(&mut net, "shipped_while_cancelled").await;
    resolve(
        &mut net,
        1,
        &found[0],
        Role::Vp,
        Role::Warehouse,
        resolution("已发出，恢复订单并补开发票"),
    )
    .await;
    net.stop().await;
}

#[tokio::test]
async fn shipped_without_a_release_the_shipping_node_had_seen() {
    let (mut net, id, o) = net_with_order(2).await;
    net.partition(&[&[0], &[1]]);
    // The goods left the warehouse before its node heard of any release; it records them.
    act(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o), "already_left": true}),
    )
    .await;
    net.heal();
    let found = same_everywhere(&mut net, "shipped_without_release").await;
    resolve(
        &mut net,
        0,
        &found[0],
        Role::Finance,
        Role::Warehouse,
        resolution("货款已到，补放行"),
    )
    .await;
    net.stop().await;
}

#[tokio::test]
async fn release_covers_an_older_shipping_document() {
    let (mut net, id, o) = net_with_order(2).await;
    ready_to_ship(&mut net.nodes[0], &id).await;
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    // The clerk changes a price by a change order, has it verified and approved again and
    // issues a new version, while the warehouse ships under the old release.
    let line0 = line_ids(&o)[0].clone();
    let clerk = net.nodes[0].token(Role::Clerk).await;
    let (status, changed) = net.nodes[0]
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &clerk,
            Some(json!({"lines": [{"id": line0, "unit_price": "1300.00"}], "reason": "客户议价"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    act(&mut net.nodes[0], Role::Clerk, &id, "verify", verify_body()).await;
    act(
        &mut net.nodes[0],
        Role::Supervisor,
        &id,
        "approve",
        json!({}),
    )
    .await;
    let lines = all_lines(&order(&mut net.nodes[0], &id).await);
    act(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(lines),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await; // the shipment is recorded after the new version
    act(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    net.heal();
    let found = same_everywhere(&mut net, "stale_release").await;
    // Finance re-releases the new version (on credit: the price came down after payment,
    // so nothing is short; the order is paid in full): that resolves it on every node.
    act(
        &mut net.nodes[1],
        Role::Finance,
        &id,
        "finance-release",
        json!({}),
    )
    .await;
    net.settle(SETTLE).await;
    for n in 0..2 {
        let got = order(&mut net.nodes[n], &id).await;
        assert!(
            !anomaly_kinds(&got).contains(&"stale_release".to_string()),
            "node {n}: {:?}",
            got["anomalies"]
        );
    }
    let _ = found;
    net.stop().await;
}

#[tokio::test]
async fn more_shipped_than_ordered_by_two_warehouses() {
    let (mut net, id, o) = net_with_order(3).await;
    ready_to_ship(&mut net.nodes[0], &id).await;
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1], &[2]]);
    let line = &line_ids(&o)[0];
    act(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": line, "quantity": "3"}]}),
    )
    .await;
    act(
        &mut net.nodes[2],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": line, "quantity": "2"}]}),
    )
    .await;
    net.heal();
    let found = same_everywhere(&mut net, "over_shipped").await;
    assert!(found[0]["anomaly"]["detail"]
        .as_str()
        .unwrap()
        .contains("shipped 5 of 3"));
    resolve(
        &mut net,
        2,
        &found[0],
        Role::Warehouse,
        Role::Finance,
        resolution("多发2套，已联系门店退回"),
    )
    .await;
    net.stop().await;
}

#[tokio::test]
async fn the_same_bank_reference_recorded_twice() {
    let (mut net, id, _) = net_with_order(2).await;
    net.partition(&[&[0], &[1]]);
    let pay = json!({"amount": "2948.55", "date": "2026-11-26", "method": "bank", "payer": "张伟", "bank_ref": "CMB-778899"});
    act(
        &mut net.nodes[0],
        Role::Finance,
        &id,
        "payments",
        pay.clone(),
    )
    .await;
    act(&mut net.nodes[1], Role::Finance, &id, "payments", pay).await;
    net.heal();
    let found = same_everywhere(&mut net, "duplicate_bank_ref").await;
    // Finance voids one of the two: that resolves it everywhere.
    let got = order(&mut net.nodes[1], &id).await;
    assert_eq!(got["paid"], "5897.10");
    let second = got["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["bank_ref"] == "CMB-778899")
        .nth(1)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    act(
        &mut net.nodes[1],
        Role::Finance,
        &id,
        &format!("payments/{second}/void"),
        json!({"reason": "重复录入"}),
    )
    .await;
    net.settle(SETTLE).await;
    for n in 0..2 {
        let got = order(&mut net.nodes[n], &id).await;
        assert_eq!(got["paid"], "2948.55");
        assert!(anomaly_kinds(&got).is_empty(), "node {n}");
    }
    let _ = found;
    net.stop().await;
}

#[tokio::test]
async fn paid_more_than_the_order_total() {
    let (mut net, id, _) = net_with_order(2).await;
    net.partition(&[&[0], &[1]]);
    act(
        &mut net.nodes[0],
        Role::Finance,
        &id,
        "payments",
        json!({"amount": "9828.49", "date": "2026-11-26", "bank_ref": "A-1"}),
    )
    .await;
    act(
        &mut net.nodes[1],
        Role::Finance,
        &id,
        "payments",
        json!({"amount": "6879.94", "date": "2026-11-26", "bank_ref": "B-1"}),
    )
    .await;
    net.heal();
    let found = same_everywhere(&mut net, "over_paid").await;
    resolve(
        &mut net,
        0,
        &found[0],
        Role::Finance,
        Role::Clerk,
        resolution("多收6879.94元，转为下单预付款"),
    )
    .await;
    net.stop().await;
}

#[tokio::test]
async fn return_received_without_approval() {
    let (mut net, id, o) = net_with_order(2).await;
    ready_to_ship(&mut net.nodes[0], &id).await;
    act(
        &mut net.nodes[0],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    let line = &line_ids(&o)[0];
    let after = act(&mut net.nodes[0], Role::Clerk, &id, "returns", json!({"kind": "exchange", "lines": [{"line": line, "quantity": "1"}], "reason": "颜色不对"})).await;
    let rid = after["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "return_requested")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    // Goods arrive at the warehouse: received even though nobody approved (a physical fact).
    let warehouse = net.nodes[1].token(Role::Warehouse).await;
    let (status, _) = net.nodes[1]
        .post(&format!("/api/returns/{rid}/receive"), &warehouse, json!({"lines": [{"line": line, "quantity": "1"}], "condition": "完好", "disposition": "stock", "tag": "RT-9"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "no approval known: refused");
    let (status, _) = net.nodes[1]
        .post(&format!("/api/returns/{rid}/receive"), &warehouse, json!({"lines": [{"line": line, "quantity": "1"}], "condition": "完好", "disposition": "stock", "tag": "RT-9", "already_arrived": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    net.heal();
    let found = same_everywhere(&mut net, "return_without_approval").await;
    resolve(
        &mut net,
        0,
        &found[0],
        Role::Vp,
        Role::Warehouse,
        resolution("补批准换货"),
    )
    .await;
    net.stop().await;
}

#[tokio::test]
async fn invoice_title_differs_from_the_verified_one() {
    let (mut net, id, _) = net_with_order(2).await;
    net.partition(&[&[0], &[1]]);
    let clerk = net.nodes[0].token(Role::Clerk).await;
    let (status, _) = net.nodes[0]
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &clerk,
            Some(json!({"invoice_title": "上海真北家居销售有限公司"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    act(
        &mut net.nodes[1],
        Role::Finance,
        &id,
        "invoices",
        json!({"number": "04400999", "title": "上海真北家居有限公司", "amount": "9828.49"}),
    )
    .await;
    net.heal();
    let found = same_everywhere(&mut net, "invoice_title_mismatch").await;
    // A text does not close it: the wrong invoice still stands.
    let finance = net.nodes[1].token(Role::Finance).await;
    let anomaly_id = found[0]["id"].as_str().unwrap();
    let (status, problem) = net.nodes[1]
        .post(
            &format!("/api/anomalies/{anomaly_id}/resolve"),
            &finance,
            resolution("作废重开"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    // 红冲 of the invoice removes it on every node.
    let got = order(&mut net.nodes[1], &id).await;
    let invoice = got["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "invoice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    act(
        &mut net.nodes[1],
        Role::Finance,
        &id,
        &format!("invoices/{invoice}/void"),
        json!({"reason": "抬头错误，红冲重开"}),
    )
    .await;
    net.settle(SETTLE).await;
    for n in 0..2 {
        let got = order(&mut net.nodes[n], &id).await;
        assert!(
            anomaly_kinds(&got).is_empty(),
            "node {n}: {:?}",
            got["anomalies"]
        );
        assert_eq!(got["invoiced"], "0.00");
    }
    net.stop().await;
}

#[tokio::test]
async fn the_same_field_edited_on_two_nodes() {
    let (mut net, id, _) = net_with_order(2).await;
    net.partition(&[&[0], &[1]]);
    for (i, phone) in [(0, "13800000001"), (1, "13800000002")] {
        let clerk = net.nodes[i].token(Role::Clerk).await;
        net.nodes[i]
            .send(
                "PATCH",
                &format!("/api/orders/{id}"),
                &clerk,
                Some(json!({"receiver_phone": phone})),
            )
            .await;
    }
    net.heal();
    let found = same_everywhere(&mut net, "field_conflict").await;
    assert!(found[0]["anomaly"]["detail"]
        .as_str()
        .unwrap()
        .contains("receiver_phone"));
    // The owner picks one value (recorded as a new change); the anomaly clears everywhere.
    let clerk = net.nodes[1].token(Role::Clerk).await;
    let (status, _) = net.nodes[1]
        .post(
            &format!("/api/orders/{id}/conflicts/receiver_phone/resolve"),
            &clerk,
            json!({"value": "13800000002"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    net.settle(SETTLE).await;
    for n in 0..2 {
        let admin = net.nodes[n].admin.clone();
        let (_, inbox) = net.nodes[n].get("/api/anomalies", &admin).await;
        assert!(inbox.as_array().unwrap().is_empty(), "node {n}: {inbox}");
    }
    net.stop().await;
}

#[tokio::test]
async fn the_same_customer_created_twice() {
    let mut net = TestNet::start(2).await;
    net.nodes[0].customer("占位客户").await;
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    // Same tax id and mobile, typed on two machines.
    let a = net.nodes[0].customer("苏州居然之家店").await;
    let b = net.nodes[1].customer("苏州居然之家 园区店").await;
    net.heal();
    let found = same_everywhere(&mut net, "duplicate_customer").await;
    let dup = found
        .iter()
        .find(|d| {
            d["customers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == &json!(a))
        })
        .unwrap()
        .clone();
    let mut customers: Vec<&str> = dup["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    customers.sort();
    assert!(customers.contains(&a.as_str()) && customers.contains(&b.as_str()));
    resolve(
        &mut net,
        1,
        &dup,
        Role::Clerk,
        Role::Finance,
        json!({"resolution": "同一门店，合并档案", "keep": a}),
    )
    .await;
    let admin = net.nodes[0].admin.clone();
    let (_, merged) = net.nodes[0]
        .get(&format!("/api/customers/{b}"), &admin)
        .await;
    assert_eq!(merged["merged_into"], a.as_str());
    assert_eq!(merged["status"], "frozen");
    net.stop().await;
}
