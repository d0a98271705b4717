//! Field values count only if an authorised node signed them (`domain::attest`): a price or a
//! credit limit written straight into a warehouse node's store, with no signed record, shows as
//! 未经授权的字段修改 on every node, and the order is neither released nor shipped on it; values
//! written through the API on two nodes at once raise nothing of the kind after they merge.

use crate::flow::{act, all_lines, doc_body, into_production, line_ids, order, refused};
use crate::harness::{three_lines, TestNode};
use crate::testnet::TestNet;
use neiqin::domain::record::RecordOp;
use neiqin::domain::role::Role;
use neiqin::service::{ServiceError, User};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);
const KIND: &str = "unattested_value";

fn office() -> Vec<Role> {
    vec![Role::Clerk, Role::Supervisor, Role::Vp]
}

/// Writes `ops` into `node`'s store as a plain change, with no fact: what a tampered node (or
/// a script against its data directory) can do.
pub(crate) fn write_raw(node: &TestNode, doc: &str, ops: Vec<RecordOp>) {
    let office = &node.node.as_ref().unwrap().office;
    let someone = User {
        name: "仓库临时工".into(),
        role: Role::Warehouse,
    };
    office
        .store
        .update(doc, &someone.author("edit"), |_| Ok::<_, ServiceError>(ops))
        .expect("written straight into the store");
    // Made durable, as the node's next write would: only then does it offer the change.
    office.store.flush().expect("flushed");
}

/// The inbox's open anomalies of our kind on `node`; the status counts what the inbox lists.
async fn inbox(node: &TestNode) -> Vec<Value> {
    open_anomalies(node)
        .await
        .into_iter()
        .filter(|a| a["anomaly"]["kind"] == KIND)
        .collect()
}

/// Every open anomaly of the inbox on `node` (as the admin sees it); the status counts what
/// the inbox lists.
pub(crate) async fn open_anomalies(node: &TestNode) -> Vec<Value> {
    let (status, listed) = node.get("/api/anomalies", &node.admin).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed = listed.as_array().unwrap();
    let (_, status) = node.get("/api/status", &node.admin).await;
    assert_eq!(
        status["open_anomalies"].as_u64().unwrap(),
        listed.len() as u64,
        "the status counts the inbox: {listed:?}"
    );
    listed.clone()
}

#[tokio::test]
async fn a_price_written_without_a_signed_record_on_the_warehouse_node_is_shown_everywhere_and_blocks_release_and_shipping(
) {
    let mut net =
        TestNet::start_with_roles(&[office(), vec![Role::Warehouse], vec![Role::Finance]]).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let o = net.nodes[0].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    into_production(&mut net.nodes[0], &id).await;
    act(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(all_lines(&o)),
    )
    .await;
    let gross = o["totals"]["gross"].as_str().unwrap().to_string();
    // Finance's node pays an order it holds: it must have arrived there first.
    net.settle(SETTLE).await;
    act(
        &mut net.nodes[2],
        Role::Finance,
        &id,
        "payments",
        json!({"amount": gross, "date": "2026-11-26", "method": "bank", "payer": "张伟", "bank_ref": "ATT-1"}),
    )
    .await;
    net.settle(SETTLE).await;
    // Verified through the API: nothing to report anywhere.
    for i in 0..3 {
        let found = inbox(&net.nodes[i]).await;
        assert!(found.is_empty(), "node {i}: {found:?}");
    }

    // On the warehouse node, the second line's price is rewritten in the document itself.
    let line = line_ids(&o)[1].clone();
    write_raw(
        &net.nodes[1],
        &id,
        vec![RecordOp::item_field("lines", &line, "unit_price", "45.80")],
    );
    net.settle(SETTLE).await;

    let path = format!("lines.{line}.unit_price");
    let mut ids = Vec::new();
    for i in 0..3 {
        let seen = order(&mut net.nodes[i], &id).await;
        // The value stays visible as evidence.
        assert_eq!(seen["lines"][1]["unit_price"], "45.80", "node {i}");
        let on_order: Vec<&Value> = seen["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == KIND)
            .collect();
        assert_eq!(on_order.len(), 1, "node {i}: {seen}");
        let detail = on_order[0]["detail"].as_str().unwrap();
        assert!(
            detail.contains(&path) && detail.contains("45.80"),
            "{detail}"
        );
        let found = inbox(&net.nodes[i]).await;
        assert_eq!(found.len(), 1, "node {i}");
        ids.push(found[0]["id"].clone());
    }
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one id everywhere: {ids:?}"
    );

    // Finance does not release it, the warehouse does not ship it.
    let (status, why) = refused(
        &mut net.nodes[2],
        Role::Finance,
        &id,
        "finance-release",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(why.to_string().contains(&path), "{why}");
    let (status, why) = refused(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": [{"line": line, "quantity": "1"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(why.to_string().contains(&path), "{why}");
    // A text does not close it.
    let clerk = net.nodes[0].token(Role::Clerk).await;
    let (status, _) = net.nodes[0]
        .post(
            &format!("/api/anomalies/{}/resolve", ids[0].as_str().unwrap()),
            &clerk,
            json!({"resolution": "知道了"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The clerk corrects the price with a change order; it is signed, the anomaly goes.
    let (status, changed) = net.nodes[0]
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &clerk,
            Some(
                json!({"lines": [{"id": line, "unit_price": "4580.00"}], "reason": "恢复核单价格"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    net.settle(SETTLE).await;
    for i in 0..3 {
        let found = inbox(&net.nodes[i]).await;
        assert!(found.is_empty(), "node {i}: {found:?}");
    }
    net.stop().await;
}

#[tokio::test]
async fn a_credit_limit_written_without_a_signed_record_is_shown_everywhere_and_extends_no_credit()
{
    let mut net =
        TestNet::start_with_roles(&[office(), vec![Role::Warehouse], vec![Role::Finance]]).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let o = net.nodes[0].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    into_production(&mut net.nodes[0], &id).await;
    act(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "shipping-doc",
        doc_body(all_lines(&o)),
    )
    .await;
    net.settle(SETTLE).await;
    for i in 0..3 {
        let found = inbox(&net.nodes[i]).await;
        assert!(found.is_empty(), "node {i}: {found:?}");
    }

    write_raw(
        &net.nodes[1],
        &customer,
        vec![RecordOp::field("credit_limit", "1000000.00")],
    );
    net.settle(SETTLE).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let found = inbox(&net.nodes[i]).await;
        assert_eq!(found.len(), 1, "node {i}: {found:?}");
        assert_eq!(found[0]["customers"], json!([customer]));
        let detail = found[0]["anomaly"]["detail"].as_str().unwrap();
        assert!(
            detail.contains("credit_limit") && detail.contains("1000000.00"),
            "{detail}"
        );
        ids.push(found[0]["id"].clone());
        // The value stays visible in the archive.
        let (_, archive) = net.nodes[i]
            .get(&format!("/api/customers/{customer}"), &net.nodes[i].admin)
            .await;
        assert_eq!(archive["credit_limit"], "1000000.00");
    }
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one id everywhere: {ids:?}"
    );
    // The customer's page in the workbench says so, with the value.
    crate::ui::user_with_password(&net.nodes[0], "李娜", "clerk", "档案密码-2026").await;
    let mut page = crate::ui::PageClient::new(&net.nodes[0]);
    page.sign_in("李娜", "档案密码-2026").await;
    let archive_page = page.get(&format!("/ui/customers/{customer}")).await;
    let shown = &archive_page.body[archive_page
        .body
        .find("id=\"customer-anomalies\"")
        .expect("the anomaly on the customer's page")..];
    assert!(shown.contains("1000000.00"), "{shown}");

    // Finance extends no credit on it.
    let (status, why) = refused(
        &mut net.nodes[2],
        Role::Finance,
        &id,
        "finance-release",
        json!({"credit": {"kind": "monthly", "reason": "月结客户"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(why.to_string().contains("信用额度"), "{why}");

    // The clerk writes the limit through the API: signed, the anomaly goes everywhere, and
    // finance releases on credit within it.
    let clerk = net.nodes[0].token(Role::Clerk).await;
    let (status, _) = net.nodes[0]
        .send(
            "PATCH",
            &format!("/api/customers/{customer}"),
            &clerk,
            Some(json!({"credit_limit": "50000.00"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    net.settle(SETTLE).await;
    for i in 0..3 {
        let found = inbox(&net.nodes[i]).await;
        assert!(found.is_empty(), "node {i}: {found:?}");
    }
    let archive_page = page.get(&format!("/ui/customers/{customer}")).await;
    assert!(!archive_page.body.contains("id=\"customer-anomalies\""));
    act(
        &mut net.nodes[2],
        Role::Finance,
        &id,
        "finance-release",
        json!({"credit": {"kind": "monthly", "reason": "月结客户"}}),
    )
    .await;
    net.stop().await;
}

#[tokio::test]
async fn the_same_values_edited_through_the_api_on_two_nodes_at_once_raise_no_such_anomaly() {
    let mut net = TestNet::start_with_roles(&[office(), office()]).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let o = net.nodes[0].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    act(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "verify",
        crate::flow::verify_body(),
    )
    .await;
    net.settle(SETTLE).await;
    let line = line_ids(&o)[0].clone();

    net.partition(&[&[0], &[1]]);
    for (i, (price, phone, limit)) in [
        ("1300.00", "13800000001", "20000.00"),
        ("1320.00", "13800000002", "30000.00"),
    ]
    .into_iter()
    .enumerate()
    {
        let clerk = net.nodes[i].token(Role::Clerk).await;
        let (status, got) = net.nodes[i]
            .send(
                "PATCH",
                &format!("/api/orders/{id}"),
                &clerk,
                Some(json!({
                    "receiver_phone": phone,
                    "lines": [{"id": line, "unit_price": price}],
                    "reason": "客户议价"
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{got}");
        let (status, got) = net.nodes[i]
            .send(
                "PATCH",
                &format!("/api/customers/{customer}"),
                &clerk,
                Some(json!({"credit_limit": limit, "note": format!("节点{i}")})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{got}");
    }
    net.heal();
    net.settle(SETTLE).await;
    for i in 0..2 {
        let found = inbox(&net.nodes[i]).await;
        assert!(found.is_empty(), "node {i}: {found:?}");
        let seen = order(&mut net.nodes[i], &id).await;
        // The concurrent edits are conflicts to pick from, not unsigned values.
        let kinds: Vec<&str> = seen["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"field_conflict"), "node {i}: {kinds:?}");
        assert!(!kinds.contains(&KIND), "node {i}: {kinds:?}");
    }
    // Verified again after the change orders, the order vouches for the merged values.
    act(
        &mut net.nodes[1],
        Role::Clerk,
        &id,
        "verify",
        crate::flow::verify_body(),
    )
    .await;
    net.settle(SETTLE).await;
    for i in 0..2 {
        let found = inbox(&net.nodes[i]).await;
        assert!(found.is_empty(), "node {i}: {found:?}");
    }
    net.stop().await;
}
