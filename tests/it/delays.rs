//! Delivery delays (交期延误): a revised date from 跟单 becomes the promised date, late orders are
//! listed, and those late too long or revised twice go to the VP, who acknowledges them; on one
//! node and with the revisions made on two nodes apart.

use std::time::Duration;

use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flow::{act, all_lines, doc_body, into_production, order, refused, ship_all};
use crate::harness::{order_body, three_lines, TestNode};
use crate::testnet::TestNet;

const SETTLE: Duration = Duration::from_secs(30);

async fn late(node: &mut TestNode, query: &str) -> Vec<Value> {
    let token = node.token(Role::Clerk).await;
    let (status, body) = node.get(&format!("/api/orders/late?{query}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|l| l["order"]["id"].as_str().unwrap())
        .collect()
}

async fn revise(node: &mut TestNode, id: &str, date: &str) -> Value {
    act(
        node,
        Role::Clerk,
        id,
        "progress",
        json!({"note": "面料未到", "revised_date": date, "delay_reason": "面料供应商延期"}),
    )
    .await
}

#[tokio::test]
async fn a_revised_date_is_the_promised_date_and_late_orders_reach_the_vp() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海红星美凯龙真北店").await;
    let late_one = node.order(&customer, three_lines()).await;
    let id = late_one["id"].as_str().unwrap().to_string();
    into_production(&mut node, &id).await;
    // Shipped in full: never late, whatever its date.
    let shipped = node.order(&customer, three_lines()).await;
    let shipped_id = shipped["id"].as_str().unwrap().to_string();
    into_production(&mut node, &shipped_id).await;
    act(
        &mut node,
        Role::Clerk,
        &shipped_id,
        "shipping-doc",
        doc_body(all_lines(&shipped)),
    )
    .await;
    let gross = shipped["totals"]["gross"].as_str().unwrap().to_string();
    act(&mut node, Role::Finance, &shipped_id, "payments", json!({"amount": gross, "date": "2026-11-26", "method": "bank", "payer": "张伟", "bank_ref": "DELAY-FULL-1"})).await;
    act(
        &mut node,
        Role::Finance,
        &shipped_id,
        "finance-release",
        json!({}),
    )
    .await;
    act(
        &mut node,
        Role::Warehouse,
        &shipped_id,
        "shipments",
        json!({"lines": ship_all(&shipped)}),
    )
    .await;

    let revised = revise(&mut node, &id, "2026-12-28").await;
    assert_eq!(
        revised["promised_ship_date"], "2026-12-20",
        "the original stays"
    );
    assert_eq!(revised["schedule"]["original"], "2026-12-20");
    assert_eq!(revised["schedule"]["current"], "2026-12-28");
    assert_eq!(revised["schedule"]["revisions"], 1);

    // Before the revised date nothing is late, though the original date passed.
    assert!(late(&mut node, "today=2026-12-27").await.is_empty());
    let list = late(&mut node, "today=2026-12-30").await;
    assert_eq!(ids(&list), [id.as_str()], "the shipped order is not late");
    assert_eq!(list[0]["promised_date"], "2026-12-28");
    assert_eq!(list[0]["days_late"], 2);
    assert_eq!(list[0]["escalated"], false);
    assert!(late(&mut node, "today=2026-12-30&vp_queue=true")
        .await
        .is_empty());
    // Late more than the configured days: the VP's queue.
    let list = late(&mut node, "today=2027-01-01&vp_queue=true").await;
    assert_eq!(ids(&list), [id.as_str()]);
    assert_eq!(list[0]["days_late"], 4);
    assert!(late(
        &mut node,
        "today=2027-01-01&vp_queue=true&escalate_after_days=5"
    )
    .await
    .is_empty());

    // Revised twice: escalated before the date is even reached.
    revise(&mut node, &id, "2027-01-10").await;
    let list = late(&mut node, "today=2026-12-01&vp_queue=true").await;
    assert_eq!(ids(&list), [id.as_str()]);
    assert_eq!(list[0]["revisions"], 2);
    assert_eq!(list[0]["escalated"], true);

    // Only the VP acknowledges; then it leaves the queue but stays on the late list.
    let (status, _) = refused(
        &mut node,
        Role::Clerk,
        &id,
        "delay-acknowledgement",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let acked = act(
        &mut node,
        Role::Vp,
        &id,
        "delay-acknowledgement",
        json!({"note": "已知悉，请催面料"}),
    )
    .await;
    assert_eq!(acked["schedule"]["acknowledged"], true);
    assert!(late(&mut node, "today=2026-12-01&vp_queue=true")
        .await
        .is_empty());
    let list = late(&mut node, "today=2026-12-01").await;
    assert_eq!(list[0]["acknowledged"], true);
    let (status, problem) =
        refused(&mut node, Role::Vp, &id, "delay-acknowledgement", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");

    // A third date is a new delay for the VP.
    revise(&mut node, &id, "2027-01-20").await;
    let list = late(&mut node, "today=2026-12-01&vp_queue=true").await;
    assert_eq!(ids(&list), [id.as_str()]);
    assert_eq!(list[0]["acknowledged"], false);

    // History keeps every date the customer was told.
    let token = node.admin.clone();
    let (_, history) = node.get(&format!("/api/orders/{id}/history"), &token).await;
    let text = history.to_string();
    for date in ["2026-12-28", "2027-01-10", "2027-01-20"] {
        assert!(text.contains(date), "{date} in history: {text}");
    }

    // An order far from its date and never revised has no delay to acknowledge.
    let clerk = node.token(Role::Clerk).await;
    let mut body = order_body(&customer, three_lines());
    body["promised_ship_date"] = json!("2099-01-01");
    let (status, future) = node.post("/api/orders", &clerk, body).await;
    assert_eq!(status, StatusCode::CREATED);
    let future_id = future["id"].as_str().unwrap();
    let (status, _) = refused(
        &mut node,
        Role::Vp,
        future_id,
        "delay-acknowledgement",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let token = node.token(Role::Clerk).await;
    let (status, problem) = node
        .get("/api/orders/late?escalate_after_days=-1", &token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    node.stop().await;
}

#[tokio::test]
async fn revisions_made_on_two_nodes_apart_add_up_and_the_vp_acknowledges_on_either() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("杭州居然之家店").await;
    let created = net.nodes[0].order(&customer, three_lines()).await;
    let id = created["id"].as_str().unwrap().to_string();
    into_production(&mut net.nodes[0], &id).await;
    net.settle(SETTLE).await;

    // Each side revises once while apart: neither alone is escalated.
    net.partition(&[&[0], &[1]]);
    revise(&mut net.nodes[0], &id, "2027-01-05").await;
    revise(&mut net.nodes[1], &id, "2027-01-08").await;
    for node in net.nodes.iter_mut() {
        assert!(late(node, "today=2026-12-01&vp_queue=true")
            .await
            .is_empty());
    }
    net.heal();
    net.settle(SETTLE).await;

    // Merged: two revisions, the same current date on both nodes, in the VP's queue on both.
    let mut seen = Vec::new();
    for node in net.nodes.iter_mut() {
        let list = late(node, "today=2026-12-01&vp_queue=true").await;
        assert_eq!(ids(&list), [id.as_str()]);
        assert_eq!(list[0]["revisions"], 2);
        seen.push(list[0]["promised_date"].clone());
        assert_eq!(order(node, &id).await["promised_ship_date"], "2026-12-20");
    }
    assert_eq!(seen[0], seen[1]);

    act(
        &mut net.nodes[1],
        Role::Vp,
        &id,
        "delay-acknowledgement",
        json!({}),
    )
    .await;
    net.settle(SETTLE).await;
    assert!(late(&mut net.nodes[0], "today=2026-12-01&vp_queue=true")
        .await
        .is_empty());
    net.stop().await;
}

/// The days after which a late order goes to the VP are the node's configuration
/// (`delay_escalate_after_days`); one request may still ask for other days.
#[tokio::test]
async fn the_vp_queue_counts_the_days_the_node_is_configured_with() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = neiqin::config::Config::local(tmp.path().join("data"));
    config.escalation.late_order_days = 10;
    let mut node = TestNode::start_with(config, Some(tmp)).await;
    let customer = node.customer("南京金盛卡子门店").await;
    let created = node.order(&customer, three_lines()).await;
    let id = created["id"].as_str().unwrap().to_string();
    into_production(&mut node, &id).await;

    // Promised 2026-12-20: seven days late on the 27th, more than the default 3, not than 10.
    let queue = |today: &str| format!("today={today}&vp_queue=true");
    assert!(late(&mut node, &queue("2026-12-27")).await.is_empty());
    assert_eq!(
        ids(&late(
            &mut node,
            &format!("{}&escalate_after_days=3", queue("2026-12-27"))
        )
        .await),
        [id.as_str()]
    );
    assert_eq!(
        ids(&late(&mut node, &queue("2026-12-31")).await),
        [id.as_str()]
    );
    node.stop().await;
}
