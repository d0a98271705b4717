//! Facts count only if a node allowed to author them signed them: a release forged on a clerk's
//! node, signed with that node's real key, releases nothing anywhere, and every node shows it as
//! 越权或伪造的记录; the real finance node's release, verified on the warehouse node with the
//! certificate passed along by the peers, lets the warehouse ship.

use crate::flow::{act, all_lines, doc_body, into_production, order, refused, ship_all};
use crate::harness::three_lines;
use crate::testnet::TestNet;
use neiqin::domain::facts::FactBody;
use neiqin::domain::role::Role;
use neiqin::service::{ServiceError, User};
use serde_json::{json, Value};
use std::time::Duration;

fn unauthorized(order: &Value) -> Vec<String> {
    order["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "unauthorized_fact")
        .map(|a| a["detail"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_release_forged_on_a_clerk_node_releases_nothing_and_every_node_shows_it() {
    let office = vec![Role::Clerk, Role::Supervisor, Role::Vp];
    let mut net =
        TestNet::start_with_roles(&[office, vec![Role::Warehouse], vec![Role::Finance]]).await;
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
    let with_doc = order(&mut net.nodes[0], &id).await;
    let shipping_doc = with_doc["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "shipping_doc")
        .and_then(|f| f["id"].as_str())
        .unwrap()
        .to_string();

    // The forger holds the clerk node's own key: the fact is signed, but by an office node.
    {
        let office = &net.nodes[0].node.as_ref().unwrap().office;
        let finance = User {
            name: "冒充的财务".into(),
            role: Role::Finance,
        };
        let author = finance.author("forged release");
        office
            .store
            .update(&id, &author, |_| {
                Ok::<_, ServiceError>(vec![office.fact_op(
                    &finance,
                    &id,
                    FactBody::FinanceRelease {
                        shipping_doc: shipping_doc.clone(),
                        paid: None,
                        due: None,
                        credit: None,
                    },
                )?])
            })
            .expect("written straight into the store");
    }
    net.settle(Duration::from_secs(30)).await;

    // On the warehouse node the order is not released: shipping is refused.
    let (_, why) = refused(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    for i in 0..3 {
        let seen = order(&mut net.nodes[i], &id).await;
        assert_ne!(seen["status"], "released", "node {i}: {seen}");
        let found = unauthorized(&seen);
        assert_eq!(found.len(), 1, "node {i}: {seen}");
        assert!(
            found[0].contains("finance_release")
                && found[0].contains("does not allow the role finance"),
            "node {i}: {}",
            found[0]
        );
    }
    assert!(why.to_string().len() > 2, "the refusal says why: {why}");

    // The real finance node records the payment and releases; the warehouse ships.
    let gross = o["totals"]["gross"].as_str().unwrap().to_string();
    act(
        &mut net.nodes[2],
        Role::Finance,
        &id,
        "payments",
        json!({"amount": gross, "date": "2026-11-26", "method": "bank", "payer": "张伟", "bank_ref": "REAL-1"}),
    )
    .await;
    act(
        &mut net.nodes[2],
        Role::Finance,
        &id,
        "finance-release",
        json!({}),
    )
    .await;
    net.settle(Duration::from_secs(30)).await;
    act(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    net.settle(Duration::from_secs(30)).await;
    for i in 0..3 {
        let seen = order(&mut net.nodes[i], &id).await;
        assert_eq!(seen["status"], "shipped", "node {i}: {seen}");
        assert_eq!(
            unauthorized(&seen).len(),
            1,
            "the forgery stays as evidence"
        );
    }
    net.stop().await;
}
