//! Steps of the order lifecycle as one-liners for tests: each posts through the HTTP API with a
//! token of the right role and asserts the answer's status.

use crate::harness::TestNode;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub async fn act(node: &mut TestNode, role: Role, order: &str, action: &str, body: Value) -> Value {
    let path = format!("/api/orders/{order}/{action}");
    node.post_as(role, &path, body, StatusCode::OK).await
}

pub async fn refused(
    node: &mut TestNode,
    role: Role,
    order: &str,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    let token = node.token(role).await;
    let (status, got) = node
        .post(&format!("/api/orders/{order}/{action}"), &token, body)
        .await;
    assert!(
        status.is_client_error(),
        "{role} {action} should be refused: {got}"
    );
    (status, got)
}

pub async fn order(node: &mut TestNode, id: &str) -> Value {
    let token = node.admin.clone();
    let (status, got) = node.get(&format!("/api/orders/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    got
}

pub fn line_ids(order: &Value) -> Vec<String> {
    order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every line at its full quantity, for a shipping document or a shipment.
pub fn all_lines(order: &Value) -> Value {
    Value::Array(
        order["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| json!({"line": l["id"], "quantity": l["quantity"], "unit_price": l["unit_price"]}))
            .collect(),
    )
}

pub fn ship_all(order: &Value) -> Value {
    Value::Array(
        order["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| json!({"line": l["id"], "quantity": l["quantity"]}))
            .collect(),
    )
}

/// A 出货单 body: these lines, with the ship date, route and freight payer the rules ask for.
pub fn doc_body(lines: Value) -> Value {
    json!({"lines": lines, "ship_date": "2026-12-18", "route": "佳吉快运上海普陀部", "freight_payer": "到付"})
}

/// 核单 with all three parties.
pub fn verify_body() -> Value {
    json!({"parties": ["salesperson", "customer", "workshop"]})
}

/// 核单, 审核 and 下单: the order is in production.
pub async fn into_production(node: &mut TestNode, id: &str) -> Value {
    act(node, Role::Clerk, id, "verify", verify_body()).await;
    act(node, Role::Supervisor, id, "approve", json!({})).await;
    act(node, Role::Clerk, id, "release-to-workshop", json!({})).await
}

/// Verified, approved, in production, paid in full, a shipping document released: ready to
/// ship.
pub async fn ready_to_ship(node: &mut TestNode, id: &str) -> Value {
    let o = order(node, id).await;
    into_production(node, id).await;
    act(
        node,
        Role::Clerk,
        id,
        "shipping-doc",
        doc_body(all_lines(&o)),
    )
    .await;
    let gross = o["totals"]["gross"].as_str().unwrap().to_string();
    act(node, Role::Finance, id, "payments", json!({"amount": gross, "date": "2026-11-26", "method": "bank", "payer": "张伟", "bank_ref": format!("FULL-{id}")})).await;
    act(node, Role::Finance, id, "finance-release", json!({})).await
}

pub fn anomaly_kinds(order: &Value) -> Vec<String> {
    order["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["resolution"].is_null())
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}
