//! Revocation travels offline: the admin's list reaches nodes through whichever nodes meet, and a
//! node that holds it refuses the revoked node in both directions, without the admin node there.

use crate::flow::{act, order, verify_body};
use crate::harness::three_lines;
use crate::testnet::TestNet;
use neiqin::domain::role::Role;
use neiqin::revocation::RevocationList;
use serde_json::json;
use std::time::Duration;

fn revocation_number(net: &TestNet, i: usize) -> u64 {
    net.nodes[i]
        .node
        .as_ref()
        .unwrap()
        .peer_tls
        .as_ref()
        .unwrap()
        .revocation_number()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has_doc(net: &TestNet, i: usize, doc: &str) -> bool {
    let store = &net.nodes[i].node.as_ref().unwrap().office.store;
    store.doc_meta(doc).unwrap().is_some()
}

fn peer_error(status: &serde_json::Value, node_id: &str) -> String {
    status["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["node_id"] == node_id || p["node_id"] == "")
        .filter_map(|p| p["last_error"].as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn a_revocation_made_where_the_admin_is_reaches_a_node_it_never_meets_which_then_refuses_the_revoked_node(
) {
    // 0: the admin's node; 1: meets it; 2: never meets it; 3: the lost laptop.
    let mut net = TestNet::start(4).await;
    let early = net.nodes[3].customer("丢失前录入的客户").await;
    net.settle(Duration::from_secs(30)).await;
    net.connect_only(&[(0, 1), (2, 3)]);

    // The admin revokes node 3: `neiqin node revoke` writes the list into the admin node's data
    // directory, and the running node takes it up.
    let lost = net.nodes[3]
        .node
        .as_ref()
        .unwrap()
        .office
        .identity
        .node_id
        .clone();
    let (_, signed) = net
        .ca
        .revoke(
            &RevocationList::default(),
            &lost,
            "笔记本丢失",
            chrono::Utc::now(),
        )
        .unwrap();
    signed.save(net.nodes[0].data_dir()).unwrap();
    wait_for(
        "the admin node takes up the list",
        Duration::from_secs(10),
        || revocation_number(&net, 0) == 1,
    )
    .await;
    wait_for(
        "node 1 gets it from the admin node",
        Duration::from_secs(15),
        || revocation_number(&net, 1) == 1,
    )
    .await;
    assert_eq!(revocation_number(&net, 2), 0, "node 2 met no holder yet");
    // Until then node 2 still syncs with node 3, and counts what node 3 records after the
    // revocation: node 2 does not know of it yet.
    let before = net.nodes[3].customer("吊销前同步的客户").await;
    let o = net.nodes[3].order(&before, three_lines()).await;
    let late_order = o["id"].as_str().unwrap().to_string();
    act(
        &mut net.nodes[3],
        Role::Clerk,
        &late_order,
        "verify",
        verify_body(),
    )
    .await;
    let mut seen = json!(null);
    for _ in 0..150 {
        if has_doc(&net, 2, &late_order) {
            seen = order(&mut net.nodes[2], &late_order).await;
            if seen["status"] == "verified" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen["status"], "verified",
        "node 2 counts it before it knows: {seen}"
    );

    // Node 2 meets node 1 (never the admin node) and still has its link to node 3.
    net.connect_only(&[(1, 2), (2, 3)]);
    wait_for(
        "node 2 gets the list from node 1",
        Duration::from_secs(15),
        || revocation_number(&net, 2) == 1,
    )
    .await;
    let after = net.nodes[3].customer("吊销后写的客户").await;
    let ours = net.nodes[1].customer("吊销后正常同步的客户").await;
    wait_for(
        "node 1's write reaches node 2",
        Duration::from_secs(15),
        || has_doc(&net, 2, &ours),
    )
    .await;
    // Node 2 refuses node 3 both ways: it does not pull node 3's changes, and node 3 learns
    // nothing new from it.
    let token = net.nodes[2].admin.clone();
    let mut refused = String::new();
    for _ in 0..100 {
        let (_, status) = net.nodes[2].get("/api/status", &token).await;
        refused = peer_error(&status, &lost);
        if refused.contains("revoked") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused.contains("revoked"),
        "node 2's peer errors: {refused}"
    );
    let (_, status) = net.nodes[2].get("/api/status", &token).await;
    assert_eq!(status["revoked_nodes"], json!([lost]), "{status}");
    assert!(!has_doc(&net, 2, &after), "a revoked node's write arrived");
    assert!(
        !has_doc(&net, 3, &ours),
        "a revoked node learned something new"
    );
    assert!(has_doc(&net, 2, &early), "what came before stays");
    // Once node 2 holds the list, node 3's 核单 made after its revocation no longer counts
    // there: the order is projected again, back to 待核单, with the record as evidence.
    let mut now = json!(null);
    for _ in 0..100 {
        now = order(&mut net.nodes[2], &late_order).await;
        let listed = net.nodes[2]
            .get("/api/orders?status=taken", &token)
            .await
            .1
            .to_string();
        if now["status"] == "taken" && listed.contains(&late_order) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(now["status"], "taken", "{now}");
    assert!(
        now["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "unauthorized_fact"
                && a["detail"].as_str().unwrap_or("").contains("revoked")),
        "{now}"
    );
    net.stop().await;
}
