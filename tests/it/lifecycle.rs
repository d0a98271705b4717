//! The whole order flow with each role on its own node, the network down between steps; money
//! figures; and the local rules refused with 409 naming the rule.

use crate::flow::*;
use crate::harness::{three_lines, TestNode};
use crate::testnet::TestNet;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);
const CLERK: usize = 0;
const WAREHOUSE: usize = 1;
const FINANCE: usize = 2;

#[tokio::test]
async fn the_whole_flow_on_three_nodes_with_the_network_down_between_steps() {
    let mut net = TestNet::start(3).await;
    let cut_all = |net: &TestNet| net.partition(&[&[0], &[1], &[2]]);
    let customer = net.nodes[CLERK].customer("上海红星美凯龙真北店").await;
    let o = net.nodes[CLERK].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    let lines = line_ids(&o);
    assert_eq!(o["totals"]["gross"], "9828.49");

    // Clerk, offline: 核单, 下单, 跟单, 出货单.
    cut_all(&net);
    let c = &mut net.nodes[CLERK];
    act(c, Role::Clerk, &id, "verify", json!({"parties": ["salesperson", "customer", "workshop"], "checked": {"unit_price": true, "invoice_title": true}})).await;
    act(c, Role::Supervisor, &id, "approve", json!({})).await;
    act(c, Role::Clerk, &id, "release-to-workshop", json!({})).await;
    act(
        c,
        Role::Clerk,
        &id,
        "progress",
        json!({"note": "面料到货", "revised_date": "2026-12-18", "delay_reason": "面料"}),
    )
    .await;
    let doc = act(c, Role::Clerk, &id, "shipping-doc", doc_body(all_lines(&o))).await;
    assert_eq!(doc["status"], "awaiting_release");
    assert_eq!(doc["status_label"], "待放行");
    net.heal();
    net.settle(SETTLE).await;

    // Finance, offline: 30% deposit, balance, release.
    cut_all(&net);
    let f = &mut net.nodes[FINANCE];
    act(f, Role::Finance, &id, "payments", json!({"amount": "2948.55", "date": "2026-11-20", "method": "bank", "payer": "张伟", "bank_ref": "ICBC-001"})).await;
    act(f, Role::Finance, &id, "payments", json!({"amount": "6879.94", "date": "2026-11-25", "method": "bank", "payer": "张伟", "bank_ref": "ICBC-002"})).await;
    let released = act(f, Role::Finance, &id, "finance-release", json!({})).await;
    assert_eq!(released["paid"], "9828.49");
    net.heal();
    net.settle(SETTLE).await;

    // Warehouse, offline: two partial shipments.
    cut_all(&net);
    let w = &mut net.nodes[WAREHOUSE];
    let first = act(w, Role::Warehouse, &id, "shipments", json!({"lines": [{"line": lines[0], "quantity": "2"}, {"line": lines[1], "quantity": "1"}], "carrier": "佳吉快运", "waybill": "JJ001", "cartons": 4})).await;
    // Part of the released document is still to ship: it stays in the warehouse's 待发货 queue.
    assert_eq!(first["status"], "released");
    assert_eq!(first["status_label"], "待发货");
    let second = act(w, Role::Warehouse, &id, "shipments", json!({"lines": [{"line": lines[0], "quantity": "1"}, {"line": lines[2], "quantity": "4"}], "carrier": "佳吉快运", "waybill": "JJ002", "cartons": 3})).await;
    assert_eq!(second["status"], "shipped");
    net.heal();
    net.settle(SETTLE).await;

    // Finance invoices; the clerk archives once its node knows everything.
    cut_all(&net);
    act(
        &mut net.nodes[FINANCE],
        Role::Finance,
        &id,
        "invoices",
        json!({"number": "04400123", "title": "上海真北家居有限公司", "amount": "9828.49"}),
    )
    .await;
    let (status, problem) = refused(
        &mut net.nodes[CLERK],
        Role::Clerk,
        &id,
        "archive",
        json!({}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "not invoiced on the clerk's node yet: {problem}"
    );
    assert!(problem["detail"].as_str().unwrap().contains("invoiced"));
    net.heal();
    net.settle(SETTLE).await;
    act(
        &mut net.nodes[CLERK],
        Role::Clerk,
        &id,
        "archive",
        json!({}),
    )
    .await;
    net.settle(SETTLE).await;

    for i in 0..3 {
        let got = order(&mut net.nodes[i], &id).await;
        assert_eq!(got["status"], "archived", "node {i}");
        assert_eq!(got["totals"]["gross"], "9828.49");
        assert_eq!(got["totals"]["net"], "8697.78");
        assert_eq!(got["totals"]["tax"], "1130.71");
        assert_eq!(got["paid"], "9828.49");
        assert_eq!(got["shipped_value"], "9828.49");
        assert_eq!(got["invoiced"], "9828.49");
        assert!(
            anomaly_kinds(&got).is_empty(),
            "node {i}: {:?}",
            got["anomalies"]
        );
        for line in got["lines"].as_array().unwrap() {
            assert_eq!(line["shipped"], line["quantity"]);
        }
        // History: every node and role that acted, each named.
        let (_, history) = net.nodes[i]
            .get(
                &format!("/api/orders/{id}/history"),
                &net.nodes[i].admin.clone(),
            )
            .await;
        let roles: std::collections::BTreeSet<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["clerk", "finance", "supervisor", "warehouse"]
                .into_iter()
                .collect()
        );
        let nodes: std::collections::BTreeSet<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["node"].as_str().unwrap())
            .collect();
        assert_eq!(nodes.len(), 3, "changes from all three nodes");
        // Facts name user, role, node and time.
        for fact in got["facts"].as_array().unwrap() {
            for key in ["id", "at", "user", "role", "node", "kind"] {
                assert!(fact[key].is_string(), "{fact}");
            }
        }
    }
    net.stop().await;
}

#[tokio::test]
async fn local_rules_are_refused_with_409_naming_the_rule() {
    let mut node = TestNode::start().await;
    let customer = node.customer("长沙红星美凯龙店").await;
    let o = node.order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    let lines = line_ids(&o);

    let expect_rule = |got: (StatusCode, serde_json::Value), words: &str| {
        assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
        assert!(
            got.1["detail"].as_str().unwrap().contains(words),
            "{} should mention {words}",
            got.1
        );
    };
    let got = refused(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    expect_rule(got, "finance release");
    let got = refused(&mut node, Role::Finance, &id, "finance-release", json!({})).await;
    expect_rule(got, "no current shipping document");
    let got = refused(
        &mut node,
        Role::Finance,
        &id,
        "finance-release",
        json!({"shipping_doc": "no-such-version"}),
    )
    .await;
    expect_rule(got, "does not exist");
    let got = refused(&mut node, Role::Clerk, &id, "archive", json!({})).await;
    expect_rule(got, "not fully shipped");

    ready_to_ship(&mut node, &id).await;
    let got = refused(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": lines[0], "quantity": "4"}]}),
    )
    .await;
    expect_rule(got, "more than ordered");
    act(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": lines[0], "quantity": "3"}]}),
    )
    .await;
    let got = refused(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": lines[0], "quantity": "1"}]}),
    )
    .await;
    expect_rule(got, "more than ordered");
    let got = refused(
        &mut node,
        Role::Finance,
        &id,
        "invoices",
        json!({"number": "1", "title": "别的公司", "amount": "1.00"}),
    )
    .await;
    expect_rule(got, "invoice title");
    let got = refused(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        json!({"amount": "1.00", "date": "2026-11-26", "bank_ref": format!("FULL-{id}")}),
    )
    .await;
    expect_rule(got, "already recorded");

    // A return is decided once.
    let vp = node.token(Role::Vp).await;
    let clerk = node.token(Role::Clerk).await;
    let (_, after) = node.post(&format!("/api/orders/{id}/returns"), &clerk, json!({"kind": "repair", "lines": [{"line": lines[0], "quantity": "1"}], "reason": "扶手破损"})).await;
    let rid = after["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "return_requested")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = node
        .post(
            &format!("/api/returns/{rid}/approve"),
            &vp,
            json!({"note": "同意维修"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = node
        .post(&format!("/api/returns/{rid}/reject"), &vp, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    node.stop().await;
}

#[tokio::test]
async fn money_rounding_partial_payments_overpayment_and_voids() {
    let mut node = TestNode::start().await;
    let customer = node.customer("南京红星美凯龙店").await;
    // Net from 13% gross, per line: 100 / 1.13 = 88.495.. -> 88.50; 3 x 1333.33 = 3999.99.
    let o = node
        .order(&customer, json!([
            {"sku": "CH-0301", "spec": "餐椅", "quantity": "1", "unit": "把", "unit_price": "100.00"},
            {"sku": "SF-2108", "spec": "三人位沙发", "quantity": "3", "unit": "套", "unit_price": "1333.33"},
            {"sku": "TB-1201", "spec": "茶几", "quantity": "2.5", "unit": "米", "unit_price": "0.3350"}
        ]))
        .await;
    let id = o["id"].as_str().unwrap().to_string();
    assert_eq!(o["lines"][0]["amount"], "100.00");
    assert_eq!(o["lines"][1]["amount"], "3999.99");
    assert_eq!(
        o["lines"][2]["amount"], "0.84",
        "2.5 x 0.3350 = 0.8375 rounds half-up to 0.84"
    );
    assert_eq!(o["totals"]["gross"], "4100.83");
    // 88.50 + 3539.81 + 0.74 (0.84 / 1.13 = 0.743..)
    assert_eq!(o["totals"]["net"], "3629.05");
    assert_eq!(o["totals"]["tax"], "471.78");

    let pay = |amount: &str, bank_ref: &str| json!({"amount": amount, "date": "2026-11-26", "method": "bank", "payer": "x", "bank_ref": bank_ref});
    act(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        pay("1230.25", "R1"),
    )
    .await;
    let partial = act(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        pay("1000.00", "R2"),
    )
    .await;
    assert_eq!(partial["paid"], "2230.25");
    // More than the order total is refused on the node that sees it (two nodes apart make it
    // an anomaly instead: see anomalies.rs).
    let (status, problem) = refused(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        pay("2000.00", "R3"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("收款超过订单金额"));
    let r3 = partial["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["bank_ref"] == "R2")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let voided = act(
        &mut node,
        Role::Finance,
        &id,
        &format!("payments/{r3}/void"),
        json!({"reason": "录错金额"}),
    )
    .await;
    assert_eq!(voided["paid"], "1230.25");
    assert!(anomaly_kinds(&voided).is_empty());
    assert!(
        voided["facts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == r3),
        "a voided payment stays in history"
    );
    let got = refused(
        &mut node,
        Role::Finance,
        &id,
        &format!("payments/{r3}/void"),
        json!({}),
    )
    .await;
    assert_eq!(got.0, StatusCode::CONFLICT);
    let bad = refused(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        pay("10.001", "R4"),
    )
    .await;
    assert_eq!(bad.0, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = refused(
        &mut node,
        Role::Finance,
        &id,
        "payments",
        pay("-5.00", "R5"),
    )
    .await;
    assert_eq!(bad.0, StatusCode::UNPROCESSABLE_ENTITY);
    node.stop().await;
}

#[tokio::test]
async fn returns_with_photos_approval_and_receipt_sync_to_every_node() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("武汉居然之家店").await;
    let o = net.nodes[0].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    ready_to_ship(&mut net.nodes[0], &id).await;
    act(
        &mut net.nodes[0],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    // A photo, stored by content hash.
    let clerk = net.nodes[0].token(Role::Clerk).await;
    let photo = b"\x89PNG fake photo bytes of a broken armrest".to_vec();
    let (status, uploaded, _) = net.nodes[0]
        .post_raw("/api/attachments", &clerk, "image/png", photo.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let hash = uploaded["hash"].as_str().unwrap().to_string();
    let line = &line_ids(&o)[0];
    let after = act(&mut net.nodes[0], Role::Clerk, &id, "returns", json!({"kind": "return", "lines": [{"line": line, "quantity": "1"}], "reason": "扶手破损", "photos": [hash]})).await;
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
    // The photo travelled with the order.
    assert_eq!(net.nodes[1].wait_for_attachment(&hash, SETTLE).await, photo);
    let vp = net.nodes[1].token(Role::Vp).await;
    // The request, made on node 0, waits in the VP's queue on node 1.
    assert_eq!(
        returns_in(&net.nodes[1], "pending").await,
        vec![rid.clone()]
    );
    assert!(returns_in(&net.nodes[1], "approved").await.is_empty());
    let (status, _) = net.nodes[1]
        .post(
            &format!("/api/returns/{rid}/approve"),
            &vp,
            json!({"note": "同意退货"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Approved: out of the VP's queue, into the warehouse's 退货待收.
    assert!(returns_in(&net.nodes[1], "pending").await.is_empty());
    assert_eq!(
        returns_in(&net.nodes[1], "approved").await,
        vec![rid.clone()]
    );
    let warehouse = net.nodes[1].token(Role::Warehouse).await;
    let (status, got) = net.nodes[1]
        .post(&format!("/api/returns/{rid}/receive"), &warehouse, json!({"lines": [{"line": line, "quantity": "1"}], "condition": "扶手破损", "disposition": "repair", "tag": "RT-2026-001"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert!(
        anomaly_kinds(&got).is_empty(),
        "approved before receipt: no anomaly"
    );
    net.settle(SETTLE).await;
    let got = order(&mut net.nodes[0], &id).await;
    let receipt = got["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "return_received")
        .unwrap();
    assert_eq!(receipt["tag"], "RT-2026-001");
    assert_eq!(receipt["disposition"], "repair");
    // The receipt made on node 1 moves the return on node 0 too.
    assert_eq!(
        returns_in(&net.nodes[0], "received").await,
        vec![rid.clone()]
    );
    assert!(returns_in(&net.nodes[0], "approved").await.is_empty());
    let (status, all) = net.nodes[0]
        .get(&format!("/api/returns?customer={customer}"), &clerk)
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["items"][0]["order_number"], got["number"]);
    assert_eq!(all["items"][0]["return_kind"], "return");
    let (status, _) = net.nodes[0]
        .get("/api/returns?customer=someone-else", &clerk)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, bad) = net.nodes[0].get("/api/returns?state=lost", &clerk).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    net.stop().await;
}

/// The ids of the returns `node` lists in `state`.
async fn returns_in(node: &crate::harness::TestNode, state: &str) -> Vec<String> {
    let token = node.admin.clone();
    let (status, page) = node
        .get(&format!("/api/returns?state={state}"), &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}
