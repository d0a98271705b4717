//! Roles at the API: no token is 401, a known user whose role may not act is 403, and nothing is
//! recorded either way.

use crate::harness::{customer_body, order_body, three_lines, TestNode};
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let mut node = TestNode::start().await;
    let customer = node.customer("南京红星美凯龙店").await;
    for (method, path) in [
        ("GET", "/api/status"),
        ("GET", "/api/orders"),
        ("POST", "/api/orders"),
        ("GET", "/api/customers"),
    ] {
        let body = (method == "POST").then(|| order_body(&customer, three_lines()));
        let (status, problem) = node.send(method, path, "", body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(problem["status"], 401);
        let (status, _) = node.send(method, path, "nq_forged", body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with an unknown token"
        );
    }
    let (status, _) = node.get("/api/health", "").await;
    assert_eq!(status, StatusCode::OK, "health needs no token");
    assert_eq!(node.order_count().await, 0);
    node.stop().await;
}

#[tokio::test]
async fn warehouse_cannot_create_orders_or_customers() {
    let mut node = TestNode::start().await;
    let customer = node.customer("苏州居然之家店").await;
    let warehouse = node.token(Role::Warehouse).await;
    let (status, problem) = node
        .post(
            "/api/orders",
            &warehouse,
            order_body(&customer, three_lines()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, _) = node
        .post("/api/customers", &warehouse, customer_body("仓库不能建档"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(node.order_count().await, 0);
    // But warehouse may read.
    let (status, _) = node.get("/api/orders", &warehouse).await;
    assert_eq!(status, StatusCode::OK);
    node.stop().await;
}

#[tokio::test]
async fn ownership_is_the_supervisors_and_users_are_the_admins() {
    let mut node = TestNode::start().await;
    let customer = node.customer("西安红星美凯龙店").await;
    let order = node.order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap();
    let clerk = node.token(Role::Clerk).await;
    let supervisor = node.token(Role::Supervisor).await;
    let (status, _) = node
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &clerk,
            Some(json!({"salesperson": "赵六"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a clerk cannot reassign ownership"
    );
    let (status, got) = node
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &supervisor,
            Some(json!({"salesperson": "赵六"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["salesperson"], "赵六");
    let (status, _) = node
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &supervisor,
            Some(json!({"project": "x"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a supervisor does not edit the clerk's fields"
    );
    let (status, _) = node
        .post(
            "/api/users",
            &clerk,
            json!({"name": "x", "role": "finance"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    node.stop().await;
}
