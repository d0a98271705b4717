//! One node on its own: customers and orders created, read back, listed with filters, changed,
//! found again after a restart; history names who did what.

use crate::harness::{three_lines, TestNode};
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn order_is_created_read_back_and_totals_are_exact() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海红星美凯龙真北店").await;
    let order = node.order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap();
    let clerk = node.token(Role::Clerk).await;

    let (status, got) = node.get(&format!("/api/orders/{id}"), &clerk).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["totals"]["gross"], "9828.49");
    assert_eq!(got["totals"]["net"], "8697.78");
    assert_eq!(got["totals"]["tax"], "1130.71");
    assert_eq!(got["lines"][0]["amount"], "3999.99");
    assert_eq!(got["lines"][2]["amount"], "1248.50");
    assert_eq!(got["status"], "taken");
    assert_eq!(
        got["store"], "SH-001",
        "store defaults to the customer's code"
    );
    let number = got["number"].as_str().unwrap();
    let prefix = &node.node.as_ref().unwrap().office.identity.order_prefix;
    assert!(number.starts_with(&format!("{prefix}-")), "{number}");
    node.stop().await;
}

#[tokio::test]
async fn lists_filter_by_status_customer_store_and_date_and_paginate() {
    let mut node = TestNode::start().await;
    let a = node.customer("杭州居然之家店").await;
    let b = node.customer("广州红星美凯龙店").await;
    let mut a_orders = Vec::new();
    for _ in 0..5 {
        a_orders.push(node.order(&a, three_lines()).await);
    }
    node.order(&b, three_lines()).await;
    let clerk = node.token(Role::Clerk).await;
    let verified = a_orders[0]["id"].as_str().unwrap();
    let (status, _) = node
        .post(
            &format!("/api/orders/{verified}/verify"),
            &clerk,
            json!({"parties": ["salesperson", "customer", "workshop"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, page) = node.get(&format!("/api/orders?customer={a}"), &clerk).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    let (_, page) = node.get("/api/orders?status=verified", &clerk).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], verified);
    let (_, page) = node.get("/api/orders?status=taken", &clerk).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    let (_, page) = node.get("/api/orders?store=SH-001", &clerk).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 6);
    // `from`/`to` are business days in China (UTC+8).
    let today = neiqin::domain::report::business_day(chrono::Utc::now());
    let (_, page) = node
        .get(&format!("/api/orders?from={today}&to={today}"), &clerk)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 6);
    let (_, page) = node.get("/api/orders?to=2020-01-01", &clerk).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);

    // Pages of 4 then 2, no order twice.
    let (_, first) = node.get("/api/orders?limit=4", &clerk).await;
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let (_, second) = node
        .get(&format!("/api/orders?limit=4&cursor={cursor}"), &clerk)
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second["next_cursor"].is_null());
    let mut ids: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|o| o["id"].clone())
        .collect();
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), 6);

    // One at a time: every order once, newest first, across both statuses (the verified one is
    // the oldest, so the cursor must resume in one status's range while in another's).
    let mut listed: Vec<(String, String)> = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = node
            .get(&format!("/api/orders?limit=1&cursor={cursor}"), &clerk)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for o in page["items"].as_array().unwrap() {
            listed.push((o["created_at"].to_string(), o["id"].to_string()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert!(
        listed.windows(2).all(|w| w[0] > w[1]),
        "newest first, no order twice: {listed:?}"
    );
    assert_eq!(listed[5].1, format!("\"{verified}\""));
    let (status, problem) = node
        .get(
            &format!("/api/orders?cursor={}", hex::encode("not a key")),
            &clerk,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem.to_string().contains("cursor"), "{problem}");
    node.stop().await;
}

#[tokio::test]
async fn everything_is_found_again_after_a_restart() {
    let mut node = TestNode::start().await;
    let customer = node.customer("成都富森美家居店").await;
    let order = node.order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap().to_string();
    let clerk = node.token(Role::Clerk).await;
    let (status, _) = node
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &clerk,
            Some(json!({"project": "改为 万科城 3-2-1201"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    node.restart().await;

    let (status, got) = node.get(&format!("/api/orders/{id}"), &clerk).await;
    assert_eq!(status, StatusCode::OK, "token and order survive a restart");
    assert_eq!(got["project"], "改为 万科城 3-2-1201");
    assert_eq!(got["totals"]["gross"], "9828.49");
    let (_, c) = node
        .get(&format!("/api/customers/{customer}"), &clerk)
        .await;
    assert_eq!(c["name"], "成都富森美家居店");
    assert_eq!(c["collections"]["addresses"][0]["floor"], "3F");
    let (_, page) = node
        .get(&format!("/api/orders?customer={customer}"), &clerk)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // A new order after restart continues the number sequence instead of reusing it.
    let second = node.order(&customer, three_lines()).await;
    assert_ne!(second["number"], order["number"]);
    node.stop().await;
}

#[tokio::test]
async fn customers_are_searched_by_name_part_code_phone_and_city() {
    let mut node = TestNode::start().await;
    let id = node.customer("上海红星美凯龙真北店").await;
    node.customer("北京居然之家金源店").await;
    let clerk = node.token(Role::Clerk).await;
    for q in ["真北", "红星", "sh-001", "1381234"] {
        let (_, page) = node
            .get(&format!("/api/customers?q={}", urlencode(q)), &clerk)
            .await;
        let ids: Vec<_> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        assert!(ids.contains(&id), "search {q} finds the customer: {page}");
    }
    let (_, page) = node
        .get(&format!("/api/customers?q={}", urlencode("金源")), &clerk)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page) = node
        .get(
            &format!("/api/customers?city={}", urlencode("上海")),
            &clerk,
        )
        .await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "both test customers are in 上海"
    );

    // Patch one contact's phone: the item keeps its id, other fields stay.
    let (_, c) = node.get(&format!("/api/customers/{id}"), &clerk).await;
    let contact = c["collections"]["contacts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, c) = node
        .send(
            "PATCH",
            &format!("/api/customers/{id}"),
            &clerk,
            Some(json!({"contacts": [{"id": contact, "mobile": "13900001111"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["collections"]["contacts"][0]["mobile"], "13900001111");
    assert_eq!(c["collections"]["contacts"][0]["qq"], "123456789");
    node.stop().await;
}

#[tokio::test]
async fn history_names_user_role_node_time_and_action() {
    let mut node = TestNode::start().await;
    let customer = node.customer("长沙红星美凯龙店").await;
    let order = node.order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap();
    let clerk = node.token(Role::Clerk).await;
    node.send(
        "PATCH",
        &format!("/api/orders/{id}"),
        &clerk,
        Some(json!({"receiver": "李娜"})),
    )
    .await;
    let (status, history) = node.get(&format!("/api/orders/{id}/history"), &clerk).await;
    assert_eq!(status, StatusCode::OK);
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let node_id = &node.node.as_ref().unwrap().office.identity.node_id;
    for e in entries {
        assert_eq!(e["user"], "clerk-user");
        assert_eq!(e["role"], "clerk");
        assert_eq!(&e["node"], node_id);
        let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap())
            .expect("time set on commit");
        assert!(at.timestamp() > 1_700_000_000);
    }
    assert!(entries[0]["what"]
        .as_str()
        .unwrap()
        .starts_with("create order"));
    assert!(entries[1]["what"].as_str().unwrap().contains("receiver"));
    node.stop().await;
}

#[tokio::test]
async fn openapi_lists_every_route_and_each_one_exists() {
    let node = TestNode::start().await;
    let (status, doc) = node.get("/api/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let (status, _) = node
                .send(&method.to_uppercase(), &concrete, "no-such-token", None)
                .await;
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is described but not served ({status})"
            );
        }
    }
    node.stop().await;
}

/// The contract (issue 20): the served document states the constraints the server enforces.
/// scripts/api-contract.sh checks them all against a node; this keeps a few from drifting.
#[tokio::test]
async fn openapi_states_the_constraints_the_server_enforces() {
    let mut node = TestNode::start().await;
    let (status, doc) = node.get("/api/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    let op = |method: &str, path: &str| doc["paths"][path][method].clone();

    // Decimal strings carry the domain's own bounds, and the server reads them as stated.
    let amount = &schemas["PaymentBody"]["properties"]["amount"];
    assert_eq!(
        amount["pattern"],
        neiqin::http::decimal::POSITIVE_AMOUNT,
        "{amount}"
    );
    assert_eq!(
        schemas["LineBody"]["properties"]["quantity"]["pattern"],
        neiqin::http::decimal::QUANTITY
    );
    assert_eq!(
        schemas["LineBody"]["properties"]["unit_price"]["pattern"],
        neiqin::http::decimal::PRICE
    );
    // deny_unknown_fields, and serde's required fields.
    assert_eq!(schemas["PaymentBody"]["additionalProperties"], false);
    let required = schemas["PaymentBody"]["required"].as_array().unwrap();
    assert!(required.contains(&json!("amount")) && required.contains(&json!("date")));
    assert!(!required.contains(&json!("method")), "method has a default");
    // Enums from the types.
    let role = &schemas["Role"]["enum"];
    assert!(
        role.as_array().unwrap().contains(&json!("warehouse")),
        "{role}"
    );

    // Every status a route answers: 201 for creates, 401 where a token is needed.
    let create = op("post", "/api/orders");
    for code in ["201", "400", "401", "403", "409", "413", "415", "422"] {
        assert!(
            create["responses"][code].is_object(),
            "POST /api/orders lacks {code}"
        );
    }
    assert!(create["responses"]["200"].is_null());
    assert!(op("get", "/api/orders/{id}")["responses"]["401"].is_object());
    assert!(op("get", "/api/health")["responses"]["401"].is_null());

    // Query parameters, with the status values listed from Status::ALL.
    let params = op("get", "/api/orders")["parameters"].clone();
    let names: Vec<&str> = params
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "status",
        "customer",
        "store",
        "from",
        "to",
        "anomalies",
        "limit",
        "cursor",
    ] {
        assert!(
            names.contains(&name),
            "GET /api/orders lacks ?{name}: {names:?}"
        );
    }
    let status_param = params
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "status")
        .unwrap();
    assert!(status_param["schema"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("awaiting_release")));

    // An OptionalJson body is optional, an ApiJson one required.
    assert_eq!(
        op("post", "/api/orders/{id}/approve")["requestBody"]["required"],
        false
    );
    assert_eq!(
        op("post", "/api/orders/{id}/verify")["requestBody"]["required"],
        true
    );

    // And the server holds to the pattern: a lenient decimal is refused, not rounded.
    let clerk = node.token(Role::Clerk).await;
    let (status, problem) = node
        .send("POST", "/api/orders", &clerk, Some(json!({"customer_id": "x", "lines": [{"sku": "A", "quantity": "1_000", "unit_price": "1"}]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    // A quantity whose product with the price once overflowed (500) is refused as malformed.
    let (status, problem) = node
        .send("POST", "/api/orders", &clerk, Some(json!({"customer_id": "x", "lines": [{"sku": "A", "quantity": "55330511868090908997", "unit_price": "52701707899.50"}]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    node.stop().await;
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
