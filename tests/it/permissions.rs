//! Who may do what (DOMAIN.md's table), for every action and every role: a role that may not
//! act gets 403 and nothing is recorded; the role that may is never told 403.

use crate::flow::*;
use crate::harness::{customer_body, order_body, three_lines, TestNode};
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn every_action_is_allowed_to_its_role_only() {
    let mut node = TestNode::start().await;
    let customer = node.customer("重庆红星美凯龙店").await;
    let o = node.order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    let line = line_ids(&o)[0].clone();
    // A return needs goods shipped.
    ready_to_ship(&mut node, &id).await;
    act(
        &mut node,
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": line, "quantity": "2"}]}),
    )
    .await;
    let after = act(
        &mut node,
        Role::Clerk,
        &id,
        "returns",
        json!({"kind": "repair", "lines": [{"line": line, "quantity": "1"}], "reason": "测试"}),
    )
    .await;
    let rid = after["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "return_requested")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lines = json!([{"line": line, "quantity": "1"}]);
    let cases: Vec<(&str, String, Value, &[Role])> = vec![
        (
            "POST",
            "/api/customers".into(),
            customer_body("新客户"),
            &[Role::Clerk],
        ),
        (
            "PATCH",
            format!("/api/customers/{customer}"),
            json!({"city": "重庆"}),
            &[Role::Clerk],
        ),
        (
            "POST",
            "/api/orders".into(),
            order_body(&customer, three_lines()),
            &[Role::Clerk],
        ),
        (
            "PATCH",
            format!("/api/orders/{id}"),
            json!({"project": "x"}),
            &[Role::Clerk],
        ),
        (
            "PATCH",
            format!("/api/orders/{id}"),
            json!({"store": "CQ-001"}),
            &[Role::Supervisor],
        ),
        (
            "POST",
            format!("/api/orders/{id}/verify"),
            json!({"parties": ["customer"]}),
            &[Role::Clerk],
        ),
        (
            "POST",
            format!("/api/orders/{id}/approve"),
            json!({}),
            &[Role::Supervisor],
        ),
        (
            "POST",
            format!("/api/orders/{id}/release-to-workshop"),
            json!({}),
            &[Role::Clerk],
        ),
        (
            "POST",
            format!("/api/orders/{id}/progress"),
            json!({"note": "进度"}),
            &[Role::Clerk],
        ),
        (
            "POST",
            format!("/api/orders/{id}/shipping-doc"),
            json!({"lines": lines}),
            &[Role::Clerk],
        ),
        (
            "POST",
            format!("/api/orders/{id}/finance-release"),
            json!({}),
            &[Role::Finance],
        ),
        (
            "POST",
            format!("/api/orders/{id}/shipments"),
            json!({"lines": lines}),
            &[Role::Warehouse],
        ),
        (
            "POST",
            format!("/api/orders/{id}/payments"),
            json!({"amount": "1.00", "date": "2026-11-26"}),
            &[Role::Finance],
        ),
        (
            "POST",
            format!("/api/orders/{id}/invoices"),
            json!({"number": "1", "title": "上海真北家居有限公司", "amount": "1.00"}),
            &[Role::Finance],
        ),
        (
            "POST",
            format!("/api/orders/{id}/cancel"),
            json!({}),
            &[Role::Vp],
        ),
        (
            "POST",
            format!("/api/orders/{id}/reinstate"),
            json!({}),
            &[Role::Vp],
        ),
        (
            "POST",
            format!("/api/orders/{id}/cancel-remaining"),
            json!({"reason": "客户不要了"}),
            &[Role::Vp],
        ),
        (
            "POST",
            format!("/api/orders/{id}/corrections"),
            json!({"note": "更正送货地址的笔误"}),
            &[Role::Supervisor],
        ),
        (
            "POST",
            format!("/api/orders/{id}/invoices/no-such-invoice/void"),
            json!({"reason": "红冲"}),
            &[Role::Finance],
        ),
        (
            "POST",
            format!("/api/returns/{rid}/return-to-customer"),
            json!({"waybill": "SF123"}),
            &[Role::Warehouse],
        ),
        (
            "POST",
            format!("/api/orders/{id}/archive"),
            json!({}),
            &[Role::Clerk],
        ),
        (
            "POST",
            format!("/api/orders/{id}/returns"),
            json!({"kind": "return", "lines": lines, "reason": "r"}),
            &[Role::Clerk],
        ),
        (
            "POST",
            format!("/api/returns/{rid}/receive"),
            json!({"lines": lines, "condition": "ok", "disposition": "stock", "tag": "T"}),
            &[Role::Warehouse],
        ),
        (
            "POST",
            format!("/api/returns/{rid}/approve"),
            json!({}),
            &[Role::Vp],
        ),
        (
            "POST",
            format!("/api/returns/{rid}/reject"),
            json!({}),
            &[Role::Vp],
        ),
        (
            "POST",
            "/api/users".into(),
            json!({"name": "新人", "role": "clerk"}),
            &[Role::Admin],
        ),
    ];
    for (method, path, body, allowed) in cases {
        for role in Role::ALL {
            let token = node.token(role).await;
            let before = node
                .get(&format!("/api/orders/{id}/history"), &node.admin.clone())
                .await
                .1;
            let (status, got) = node.send(method, &path, &token, Some(body.clone())).await;
            if allowed.contains(&role) {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} may {method} {path}: {got}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} may not {method} {path}: {got}"
                );
                assert_eq!(got["status"], 403);
                let after = node
                    .get(&format!("/api/orders/{id}/history"), &node.admin.clone())
                    .await
                    .1;
                assert_eq!(before, after, "a refused action records nothing");
            }
        }
    }
    // Every role may read.
    for role in Role::ALL {
        let token = node.token(role).await;
        for path in [
            format!("/api/orders/{id}"),
            "/api/orders".into(),
            format!("/api/customers/{customer}"),
            "/api/anomalies".into(),
            "/api/status".into(),
        ] {
            let (status, _) = node.get(&path, &token).await;
            assert_eq!(status, StatusCode::OK, "{role} reads {path}");
        }
    }
    node.stop().await;
}
