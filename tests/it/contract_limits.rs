//! An order beyond its contract's remaining amount: refused on the node that sees it (an order
//! taken under the contract, an order linked to it, a change raising a linked order's total; the
//! workbench's order entry says so beside the contract field); and across two nodes, where each
//! took an order within what remained, the contract shows 超额 and the clerk's and supervisor's
//! inboxes list 合同超额 until an order is cancelled (and reinstating it is refused).

use std::time::Duration;

use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::attestation::open_anomalies;
use crate::contracts::{
    draft, draft_body, get_ok, id_of, minus, order_under, plus, through_to_signed,
    THREE_LINES_GROSS,
};
use crate::harness::TestNode;
use crate::testnet::TestNet;
use crate::ui::signed_in;

const SETTLE: Duration = Duration::from_secs(30);
const KIND: &str = "contract_exceeded";

/// A signed contract of `amount` for `customer`; returns (id, number).
async fn signed_contract(node: &mut TestNode, customer: &str, amount: &str) -> (String, String) {
    let contract = draft(node, draft_body(customer, amount, &minus(5), &plus(60))).await;
    let id = id_of(&contract);
    through_to_signed(node, &id).await;
    (id, contract["number"].as_str().unwrap().to_string())
}

async fn patch_order(node: &mut TestNode, id: &str, body: Value) -> (StatusCode, Value) {
    let clerk = node.token(Role::Clerk).await;
    node.send("PATCH", &format!("/api/orders/{id}"), &clerk, Some(body))
        .await
}

fn first_line(order: &Value) -> String {
    order["lines"][0]["id"].as_str().unwrap().to_string()
}

/// The refusal states the contract, its amount, what is used and what remains.
fn says_why(got: &Value, number: &str, used: &str, remaining: &str) {
    let detail = got["detail"].as_str().unwrap();
    for part in [
        format!("超出合同 {number} 的金额"),
        "合同金额 ¥20000.00".to_string(),
        format!("已用 ¥{used}"),
        format!("剩余 ¥{remaining}"),
        format!("本单 ¥{THREE_LINES_GROSS}"),
        format!("contract {number}"),
    ] {
        assert!(detail.contains(&part), "{part} in {detail}");
    }
}

#[tokio::test]
async fn an_order_beyond_the_contracts_remaining_amount_is_refused_here() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海红星美凯龙真北店").await;
    let (contract, number) = signed_contract(&mut node, &customer, "20000").await;
    let (status, first) = order_under(&mut node, &customer, &number).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, second) = order_under(&mut node, &customer, &contract).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let view = get_ok(&node, &format!("/api/contracts/{contract}")).await;
    assert_eq!(view["used"], "19656.98");
    assert_eq!(view["remaining"], "343.02");

    // A third order would take it to 29485.47: refused, saying why; no order is taken.
    let before = node.order_count().await;
    let (status, got) = order_under(&mut node, &customer, &number).await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    says_why(&got, &number, "19656.98", "343.02");
    assert_eq!(node.order_count().await, before);

    // Linking an order taken without a contract: refused the same way.
    let free = node.order(&customer, crate::harness::three_lines()).await;
    let free_id = id_of(&free);
    let (status, got) = patch_order(&mut node, &free_id, json!({"contract": number})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    says_why(&got, &number, "19656.98", "343.02");

    // A change raising a linked order's total beyond the amount: refused; its own total is
    // not counted twice, so lowering it, or a change that keeps the total, passes.
    let first_id = id_of(&first);
    let line = first_line(&first);
    let (status, got) = patch_order(
        &mut node,
        &first_id,
        json!({"lines": [{"id": line, "quantity": "4"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    assert!(
        got["detail"].as_str().unwrap().contains("剩余 ¥10171.51"),
        "{got}"
    );
    let (status, got) = patch_order(
        &mut node,
        &first_id,
        json!({"lines": [{"id": line, "quantity": "2"}], "note": "少要一套"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let view = get_ok(&node, &format!("/api/contracts/{contract}")).await;
    assert_eq!(view["remaining"], "1676.35", "{view}");
    assert!(view.get("exceeded_by").is_none(), "{view}");
    assert!(open_anomalies(&node).await.is_empty());

    // The workbench's order entry: the refusal beside the contract field, what was typed kept.
    let mut clerk = signed_in(&node, "李娜", "clerk").await;
    let csrf = clerk.get("/ui/orders/new").await.csrf();
    let entered = clerk
        .post(
            "/ui/orders/new",
            &[
                ("csrf", csrf.as_str()),
                ("customer_id", customer.as_str()),
                ("customer_q", "上海红星美凯龙真北店"),
                ("contract", number.as_str()),
                ("tax_rate", "13"),
                ("sku_0", "BD-1806"),
                ("spec_0", "1.8m 实木床"),
                ("quantity_0", "1"),
                ("unit_0", "张"),
                ("unit_price_0", "4580.00"),
            ],
        )
        .await;
    assert_eq!(
        entered.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        entered.body
    );
    let beside = &entered.body[entered
        .body
        .find("id=\"error-contract\"")
        .expect("the refusal beside the contract field")..];
    assert!(beside.contains("剩余 ¥1676.35"), "{beside}");
    assert!(entered.body.contains(&format!("value=\"{number}\"")));
    assert!(entered.body.contains("value=\"BD-1806\""));
    assert_eq!(node.order_count().await, before + 1);
    node.stop().await;
}

/// The inbox's 合同超额 entries on `node` (the status counts the whole inbox).
async fn exceeded(node: &TestNode) -> Vec<Value> {
    open_anomalies(node)
        .await
        .into_iter()
        .filter(|a| a["anomaly"]["kind"] == KIND)
        .collect()
}

#[tokio::test]
async fn orders_taken_on_two_nodes_within_what_remained_show_the_contract_exceeded_until_one_is_cancelled(
) {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("武汉居然之家店").await;
    let (contract, number) = signed_contract(&mut net.nodes[0], &customer, "15000").await;
    net.settle(SETTLE).await;

    // Apart, each node takes an order within the 15000 that remain: 19656.98 in all.
    net.partition(&[&[0], &[1]]);
    let mut taken = Vec::new();
    for i in 0..2 {
        let (status, order) = order_under(&mut net.nodes[i], &customer, &number).await;
        assert_eq!(status, StatusCode::CREATED, "node {i}: {order}");
        assert!(exceeded(&net.nodes[i]).await.is_empty());
        taken.push(id_of(&order));
    }
    net.heal();
    net.settle(SETTLE).await;

    let mut ids = Vec::new();
    for (i, node) in net.nodes.iter().enumerate() {
        let view = get_ok(node, &format!("/api/contracts/{contract}")).await;
        assert_eq!(view["used"], "19656.98", "node {i}: {view}");
        assert_eq!(view["exceeded_by"], "4656.98", "node {i}: {view}");
        let found = exceeded(node).await;
        assert_eq!(found.len(), 1, "node {i}: {found:?}");
        let detail = found[0]["anomaly"]["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("合同 {number} 超额 ¥4656.98")),
            "{detail}"
        );
        let mut orders: Vec<String> = taken.clone();
        orders.sort();
        assert_eq!(found[0]["orders"], json!(orders));
        ids.push(found[0]["id"].clone());
    }
    assert_eq!(ids[0], ids[1], "one id on both nodes");
    let id = ids[0].as_str().unwrap().to_string();

    // The contract page shows 超额; the clerk's and the supervisor's inboxes list it with the
    // way out; warehouse does not see it; a text does not close it.
    let mut clerk = signed_in(&net.nodes[1], "李娜", "clerk").await;
    let page = clerk.get(&format!("/ui/contracts/{contract}")).await;
    assert!(
        page.body.contains("id=\"contract-exceeded\"") && page.body.contains("超额 ¥4,656.98"),
        "{}",
        page.body
    );
    let mut home_clerk = None;
    for (name, role) in [("李娜", "clerk"), ("周主管", "supervisor")] {
        let mut user = signed_in(&net.nodes[0], name, role).await;
        let home = user.get("/").await;
        assert_eq!(crate::ui::home_count(&home, "合同超额"), "1", "{role}");
        let inbox = user.get("/ui/anomalies").await;
        assert!(inbox.body.contains("合同超额"), "{role}: {}", inbox.body);
        assert!(
            inbox.body.contains(&format!("/ui/contracts/{contract}")),
            "{role}: {}",
            inbox.body
        );
        home_clerk.get_or_insert(user);
    }
    let mut warehouse = signed_in(&net.nodes[0], "孙仓管", "warehouse").await;
    assert!(!warehouse
        .get("/ui/anomalies")
        .await
        .body
        .contains("合同超额"));
    let supervisor = net.nodes[0].token(Role::Supervisor).await;
    let (status, got) = net.nodes[0]
        .post(
            &format!("/api/anomalies/{id}/resolve"),
            &supervisor,
            json!({"resolution": "已和客户沟通"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");

    // The VP cancels the branch's order: the anomaly goes on both nodes.
    let vp = net.nodes[0].token(Role::Vp).await;
    let (status, got) = net.nodes[0]
        .post(
            &format!("/api/orders/{}/cancel", taken[1]),
            &vp,
            json!({"reason": "超出合同金额，客户改为下月另签"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    net.settle(SETTLE).await;
    for (i, node) in net.nodes.iter().enumerate() {
        let view = get_ok(node, &format!("/api/contracts/{contract}")).await;
        assert_eq!(view["used"], THREE_LINES_GROSS, "node {i}: {view}");
        assert!(view.get("exceeded_by").is_none(), "node {i}: {view}");
        assert!(exceeded(node).await.is_empty(), "node {i}");
    }
    let home = home_clerk.as_mut().unwrap().get("/").await;
    assert_eq!(crate::ui::home_count(&home, "合同超额"), "0");
    // Reinstating the cancelled order would exceed it again: refused here.
    let (status, got) = net.nodes[0]
        .post(
            &format!("/api/orders/{}/reinstate", taken[1]),
            &vp,
            json!({"reason": "客户又要了"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    assert!(
        got["detail"].as_str().unwrap().contains("超出合同"),
        "{got}"
    );
    net.stop().await;
}

/// The amount in force is the signed version's: a new version lowering it below what the
/// orders use shows 合同超额 once signed (not while it is only drafted), and one raising it,
/// signed, removes it.
#[tokio::test]
async fn a_new_version_of_the_contract_decides_its_amount_once_signed() {
    let mut node = TestNode::start().await;
    let customer = node.customer("成都富森美家居").await;
    let (contract, number) = signed_contract(&mut node, &customer, "20000").await;
    for _ in 0..2 {
        let (status, got) = order_under(&mut node, &customer, &number).await;
        assert_eq!(status, StatusCode::CREATED, "{got}");
    }
    let (status, got) = crate::contracts::patch(
        &mut node,
        &contract,
        json!({"amount": "15000", "reason": "客户减少采购"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["version"], 2, "{got}");
    // Drafted only: the signed version's 20000 still holds.
    let view = get_ok(&node, &format!("/api/contracts/{contract}")).await;
    assert_eq!(view["remaining"], "343.02", "{view}");
    assert!(exceeded(&node).await.is_empty());
    through_to_signed(&mut node, &contract).await;
    let view = get_ok(&node, &format!("/api/contracts/{contract}")).await;
    assert_eq!(view["exceeded_by"], "4656.98", "{view}");
    let found = exceeded(&node).await;
    assert_eq!(found.len(), 1, "{found:?}");
    // Orders may not go further beyond it.
    let (status, got) = order_under(&mut node, &customer, &number).await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");

    // A third version raising the amount, signed: the anomaly goes.
    let (status, got) = crate::contracts::patch(
        &mut node,
        &contract,
        json!({"amount": "25000", "reason": "补签增加金额"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(exceeded(&node).await.len(), 1, "not before it is signed");
    through_to_signed(&mut node, &contract).await;
    let view = get_ok(&node, &format!("/api/contracts/{contract}")).await;
    assert_eq!(view["remaining"], "5343.02", "{view}");
    assert!(view.get("exceeded_by").is_none(), "{view}");
    assert!(exceeded(&node).await.is_empty());
    node.stop().await;
}
