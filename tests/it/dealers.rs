//! A dealer's stores (经销商 → 专卖店): a store archive names its dealer, the dealer's stores and
//! their orders are listed from indexes, and the link syncs like any field.

use std::time::Duration;

use crate::harness::{customer_body, three_lines, TestNode};
use crate::testnet::TestNet;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(30);

async fn create(node: &mut TestNode, name: &str, kind: &str, dealer: Option<&str>) -> String {
    let clerk = node.token(Role::Clerk).await;
    let mut body = customer_body(name);
    body["kind"] = json!(kind);
    if let Some(dealer) = dealer {
        body["dealer"] = json!(dealer);
    }
    let (status, c) = node.post("/api/customers", &clerk, body).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().to_string()
}

async fn stores_of(node: &mut TestNode, dealer: &str) -> Vec<String> {
    let clerk = node.token(Role::Clerk).await;
    let (status, page) = node
        .get(&format!("/api/customers?dealer={dealer}"), &clerk)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    names(&page)
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Order numbers of every page of `/api/orders?{query}`, `limit` at a time.
async fn order_numbers(node: &mut TestNode, query: &str, limit: usize) -> Vec<String> {
    let clerk = node.token(Role::Clerk).await;
    let mut numbers = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = node
            .get(
                &format!("/api/orders?{query}&limit={limit}{cursor}"),
                &clerk,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for o in page["items"].as_array().unwrap() {
            numbers.push(o["number"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return numbers,
        }
    }
}

#[tokio::test]
async fn a_dealers_stores_and_their_orders_are_listed() {
    let mut node = TestNode::start().await;
    let dealer = create(&mut node, "宁波鄞州经销商", "dealer", None).await;
    let other_dealer = create(&mut node, "合肥包河经销商", "dealer", None).await;
    let a = create(&mut node, "宁波天一店", "store", Some(&dealer)).await;
    let b = create(&mut node, "宁波鄞州店", "store", Some(&dealer)).await;
    let elsewhere = create(&mut node, "合肥政务区店", "store", Some(&other_dealer)).await;
    let alone = create(&mut node, "上海真北店", "store", None).await;

    assert_eq!(
        stores_of(&mut node, &dealer).await,
        ["宁波天一店", "宁波鄞州店"]
    );
    assert_eq!(stores_of(&mut node, &other_dealer).await, ["合肥政务区店"]);

    // Orders of the dealer itself, its two stores and two outsiders, interleaved in time.
    let mut expected = Vec::new();
    for customer in [&a, &elsewhere, &b, &dealer, &alone, &a, &b] {
        let o = node.order(customer, three_lines()).await;
        if [&a, &b, &dealer].contains(&customer) {
            expected.push(o["number"].as_str().unwrap().to_string());
        }
    }
    expected.reverse();
    for limit in [1, 2, 50] {
        assert_eq!(
            order_numbers(&mut node, &format!("dealer={dealer}"), limit).await,
            expected,
            "newest first, every page size"
        );
    }
    // With a status the status index is walked, still only the dealer's orders.
    assert_eq!(
        order_numbers(&mut node, &format!("dealer={dealer}&status=taken"), 3).await,
        expected
    );

    // Moving a store to the other dealer moves it and its orders.
    let clerk = node.token(Role::Clerk).await;
    let (status, c) = node
        .send(
            "PATCH",
            &format!("/api/customers/{b}"),
            &clerk,
            Some(json!({"dealer": other_dealer})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["dealer"], other_dealer.as_str());
    assert_eq!(stores_of(&mut node, &dealer).await, ["宁波天一店"]);
    assert_eq!(
        stores_of(&mut node, &other_dealer).await,
        ["合肥政务区店", "宁波鄞州店"]
    );
    assert_eq!(
        order_numbers(&mut node, &format!("dealer={dealer}"), 50)
            .await
            .len(),
        3
    );
    node.stop().await;
}

#[tokio::test]
async fn only_a_store_belongs_and_only_to_a_dealer() {
    let mut node = TestNode::start().await;
    let dealer = create(&mut node, "宁波鄞州经销商", "dealer", None).await;
    let store = create(&mut node, "宁波天一店", "store", None).await;
    let clerk = node.token(Role::Clerk).await;

    let mut body = customer_body("重庆渝北经销商");
    body["kind"] = json!("dealer");
    body["dealer"] = json!(dealer);
    let (status, p) = node.post("/api/customers", &clerk, body).await;
    assert_eq!(status, StatusCode::CONFLICT, "a dealer under a dealer: {p}");
    assert!(p["detail"].as_str().unwrap().contains("只有专卖店"), "{p}");

    for not_a_dealer in [store.as_str(), "0190f1a2b3c4d5e6f708192a3b4c5d6e"] {
        let (status, p) = node
            .send(
                "PATCH",
                &format!("/api/customers/{store}"),
                &clerk,
                Some(json!({"dealer": not_a_dealer})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{p}");
        assert!(
            p["detail"].as_str().unwrap().contains("没有这个经销商"),
            "{p}"
        );
    }
    // Attached, the store cannot stop being a store.
    // The dealer's archive changing later does not block unrelated changes of the store.
    let other_dealer = create(&mut node, "青岛李沧经销商", "dealer", None).await;
    let attached = create(&mut node, "青岛李沧店", "store", Some(&other_dealer)).await;
    let patch = |id: String, body: serde_json::Value| {
        let clerk = clerk.clone();
        let node = &node;
        async move {
            node.send("PATCH", &format!("/api/customers/{id}"), &clerk, Some(body))
                .await
        }
    };
    let (status, _) = patch(other_dealer.clone(), json!({"kind": "direct"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, c) = patch(attached.clone(), json!({"note": "周末不收货"})).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let (status, c) = patch(attached, json!({"dealer": other_dealer})).await;
    assert_eq!(status, StatusCode::CONFLICT, "no longer a dealer: {c}");
    let (status, _) = node
        .send(
            "PATCH",
            &format!("/api/customers/{store}"),
            &clerk,
            Some(json!({"dealer": dealer})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, p) = node
        .send(
            "PATCH",
            &format!("/api/customers/{store}"),
            &clerk,
            Some(json!({"kind": "direct"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    // Detached, it may change kind.
    let (status, p) = node
        .send(
            "PATCH",
            &format!("/api/customers/{store}"),
            &clerk,
            Some(json!({"dealer": "", "kind": "direct"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert!(stores_of(&mut node, &dealer).await.is_empty());
    node.stop().await;
}

/// The dealer archived at the office, a store attached to it on another node, orders taken on
/// both: after sync each node lists the same stores and orders.
#[tokio::test]
async fn a_store_attached_on_another_node_is_the_dealers_everywhere() {
    let mut net = TestNet::start(2).await;
    let dealer = create(&mut net.nodes[0], "东莞厚街经销商", "dealer", None).await;
    let store = create(&mut net.nodes[0], "东莞名家居店", "store", None).await;
    net.settle(SETTLE).await;

    let clerk = net.nodes[1].token(Role::Clerk).await;
    let (status, c) = net.nodes[1]
        .send(
            "PATCH",
            &format!("/api/customers/{store}"),
            &clerk,
            Some(json!({"dealer": dealer})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let first = net.nodes[0].order(&store, three_lines()).await;
    let second = net.nodes[1].order(&store, three_lines()).await;
    net.settle(SETTLE).await;

    let mut expected = [first, second].map(|o| o["number"].as_str().unwrap().to_string());
    expected.sort();
    for node in net.nodes.iter_mut() {
        assert_eq!(stores_of(node, &dealer).await, ["东莞名家居店"]);
        let mut numbers = order_numbers(node, &format!("dealer={dealer}"), 50).await;
        numbers.sort();
        assert_eq!(numbers, expected);
    }
    net.stop().await;
}

/// The demo data links five stores to their dealers (`dealer_ref`); a file naming a dealer that
/// is no dealer is refused whole.
#[tokio::test]
async fn the_demo_stores_name_their_dealers_and_a_wrong_link_refuses_the_file() {
    let mut node = TestNode::start().await;
    node.import_demo();
    let clerk = node.token(Role::Clerk).await;
    let (_, found) = node
        .get(
            "/api/customers?q=%E5%AE%81%E6%B3%A2%E9%94%A6%E7%A8%8B",
            &clerk,
        )
        .await;
    let dealer = found["items"][0]["id"]
        .as_str()
        .expect("宁波锦程家居")
        .to_string();
    assert_eq!(stores_of(&mut node, &dealer).await.len(), 1);

    let bad = r#"{"customers": [
        {"ref": "A", "name": "甲门店", "kind": "store", "dealer_ref": "B"},
        {"ref": "B", "name": "乙门店", "kind": "store"}
    ], "orders": []}"#;
    let set = neiqin::import::parse(bad.as_bytes()).expect("parses");
    let office = &node.node.as_ref().expect("running").office;
    let before = office
        .search_customers(&Default::default())
        .unwrap()
        .items
        .len();
    let refused = neiqin::import::import(office, &set, |_, _| {});
    assert!(
        format!("{:?}", refused.err()).contains("dealer_ref B"),
        "a store named as a dealer"
    );
    let after = office
        .search_customers(&Default::default())
        .unwrap()
        .items
        .len();
    assert_eq!(before, after, "nothing imported");
    node.stop().await;
}
