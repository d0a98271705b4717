//! Every kind of bad input of API.md is refused with a clear problem+json, and nothing is stored.

use crate::harness::{order_body, three_lines, TestNode};
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Case {
    name: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    /// The field the error must name (empty: the body as a whole).
    field: &'static str,
}

fn with(customer: &str, f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut body = order_body(customer, three_lines());
    f(&mut body);
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test]
async fn bad_orders_are_refused_naming_the_field_and_nothing_is_stored() {
    let mut node = TestNode::start().await;
    let customer = node.customer("武汉居然之家店").await;
    let clerk = node.token(Role::Clerk).await;
    let cases = vec![
        Case {
            name: "malformed JSON",
            body: b"{\"customer_id\": ".to_vec(),
            status: StatusCode::BAD_REQUEST,
            field: "",
        },
        Case {
            name: "not an object",
            body: b"[1,2,3]".to_vec(),
            status: StatusCode::BAD_REQUEST,
            field: "",
        },
        Case {
            name: "unknown field",
            body: with(&customer, |b| b["colour"] = json!("red")),
            status: StatusCode::BAD_REQUEST,
            field: "colour",
        },
        Case {
            name: "wrong type: quantity as a JSON number",
            body: with(&customer, |b| b["lines"][1]["quantity"] = json!(2)),
            status: StatusCode::BAD_REQUEST,
            field: "lines[1].quantity",
        },
        Case {
            name: "wrong type: tax_included as a string",
            body: with(&customer, |b| b["tax_included"] = json!("yes")),
            status: StatusCode::BAD_REQUEST,
            field: "tax_included",
        },
        Case {
            name: "not a decimal",
            body: with(&customer, |b| b["lines"][0]["unit_price"] = json!("12,50")),
            status: StatusCode::BAD_REQUEST,
            field: "lines[0].unit_price",
        },
        Case {
            name: "negative quantity",
            body: with(&customer, |b| b["lines"][2]["quantity"] = json!("-1")),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: "lines[2].quantity",
        },
        Case {
            name: "price with too many decimals",
            body: with(&customer, |b| {
                b["lines"][0]["unit_price"] = json!("1333.33333")
            }),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: "lines[0].unit_price",
        },
        Case {
            name: "deposit with too many decimals",
            body: with(&customer, |b| b["deposit"] = json!("100.001")),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: "deposit",
        },
        Case {
            name: "unknown customer",
            body: with(&customer, |b| b["customer_id"] = json!("no-such-customer")),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: "customer_id",
        },
        Case {
            name: "no lines",
            body: with(&customer, |b| b["lines"] = json!([])),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: "lines",
        },
        Case {
            name: "bad date",
            body: with(&customer, |b| b["promised_ship_date"] = json!("2026-13-45")),
            status: StatusCode::BAD_REQUEST,
            field: "promised_ship_date",
        },
    ];
    for case in cases {
        let (status, problem, content_type) = node
            .post_raw("/api/orders", &clerk, "application/json", case.body)
            .await;
        assert_eq!(status, case.status, "{}: {problem}", case.name);
        assert_eq!(content_type, "application/problem+json", "{}", case.name);
        assert_eq!(problem["status"], case.status.as_u16(), "{}", case.name);
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}: {problem}",
            case.name
        );
        if !case.field.is_empty() {
            let named = problem["errors"]
                .as_array()
                .is_some_and(|errors| errors.iter().any(|e| e["field"] == case.field));
            assert!(
                named,
                "{}: error names {}: {problem}",
                case.name, case.field
            );
        }
    }
    let (_, status) = node.get("/api/status", &clerk).await;
    assert_eq!(status["orders"], 0, "nothing was stored");
    let (_, page) = node.get("/api/orders", &clerk).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    node.stop().await;
}

#[tokio::test]
async fn oversized_body_gets_413_and_wrong_content_type_415() {
    let mut node = TestNode::start().await;
    let customer = node.customer("重庆红星美凯龙店").await;
    let clerk = node.token(Role::Clerk).await;
    let mut body = order_body(&customer, three_lines());
    body["note"] = json!("很长".repeat(200_000));
    let (status, problem, ct) = node
        .post_raw(
            "/api/orders",
            &clerk,
            "application/json",
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(ct, "application/problem+json");
    let (status, _, _) = node
        .post_raw("/api/orders", &clerk, "text/plain", b"hello".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(node.order_count().await, 0);
    node.stop().await;
}

#[tokio::test]
async fn bad_patches_change_nothing() {
    let mut node = TestNode::start().await;
    let customer = node.customer("天津居然之家店").await;
    let order = node.order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap();
    let clerk = node.token(Role::Clerk).await;
    let line = order["lines"][0]["id"].as_str().unwrap();
    let bad = [
        json!({"lines": [{"id": line, "quantity": "-3"}], "project": "should not be stored"}),
        json!({"lines": [{"id": "no-such-line", "quantity": "3"}], "project": "should not be stored"}),
        json!({"tax_rate": "1.5", "project": "should not be stored"}),
        json!({"customer_id": "nobody", "project": "should not be stored"}),
        json!({"remove_lines": ["no-such-line"], "project": "should not be stored"}),
    ];
    for body in bad {
        let (status, problem) = node
            .send(
                "PATCH",
                &format!("/api/orders/{id}"),
                &clerk,
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
    }
    let (_, got) = node.get(&format!("/api/orders/{id}"), &clerk).await;
    assert_eq!(got["project"], order["project"]);
    assert_eq!(got["lines"], order["lines"]);
    let (_, history) = node.get(&format!("/api/orders/{id}/history"), &clerk).await;
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "no change was committed"
    );
    node.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_are_problems_too() {
    let node = TestNode::start().await;
    let admin = node.admin.clone();
    let (status, problem) = node.get("/api/orders?from=yesterday", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, problem) = node.get("/api/orders?status=lost", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = node.get("/api/orders?cursor=zz", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    node.stop().await;
}
