//! Nodes that are cut apart, edit on every side, and converge when they meet again.

use crate::harness::three_lines;
use crate::testnet::TestNet;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn three_nodes_converge_after_a_partition_with_edits_on_every_side() {
    let mut net = TestNet::start(3).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let order = net.nodes[0].order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap().to_string();
    net.settle(SETTLE).await;

    net.partition(&[&[0], &[1, 2]]);
    let mut clerks = Vec::new();
    for node in net.nodes.iter_mut() {
        clerks.push(node.token(Role::Clerk).await);
    }
    // Side A edits one field, side B others and takes new orders; finance records on B.
    let (s, _) = net.nodes[0]
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &clerks[0],
            Some(json!({"project": "from node 0"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = net.nodes[1]
        .send(
            "PATCH",
            &format!("/api/orders/{id}"),
            &clerks[1],
            Some(json!({"note": "from node 1"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let new_on_0 = net.nodes[0].order(&customer, three_lines()).await;
    let new_on_2 = net.nodes[2].order(&customer, three_lines()).await;
    let finance = net.nodes[2].token(Role::Finance).await;
    let (s, paid) = net.nodes[2]
        .post(&format!("/api/orders/{id}/payments"), &finance, json!({"amount": "1200.00", "date": "2026-11-26", "method": "bank", "payer": "张伟", "bank_ref": "CMB20261126001"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    // While cut, node 0 does not see node 2's order.
    let (s, _) = net.nodes[0]
        .get(
            &format!("/api/orders/{}", new_on_2["id"].as_str().unwrap()),
            &clerks[0],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    net.heal();
    net.settle(SETTLE).await;
    for (i, node) in net.nodes.iter().enumerate() {
        let (_, got) = node.get(&format!("/api/orders/{id}"), &clerks[i]).await;
        assert_eq!(got["project"], "from node 0", "node {i}");
        assert_eq!(got["note"], "from node 1", "node {i}");
        assert_eq!(got["paid"], "1200.00", "node {i}");
        for other in [&new_on_0, &new_on_2] {
            let (s, _) = node
                .get(
                    &format!("/api/orders/{}", other["id"].as_str().unwrap()),
                    &clerks[i],
                )
                .await;
            assert_eq!(s, StatusCode::OK, "node {i} has every order");
        }
    }
    net.stop().await;
}

#[tokio::test]
async fn changes_relay_through_a_middle_node() {
    // 0 and 2 never meet; 1 meets both.
    let mut net = TestNet::start(3).await;
    net.partition(&[&[0, 1]]);
    let customer = net.nodes[0].customer("杭州居然之家店").await;
    let order = net.nodes[0].order(&customer, three_lines()).await;
    let clerk = net.nodes[1].token(Role::Clerk).await;
    let wait_for = |node: usize| {
        let net = &net;
        let id = order["id"].as_str().unwrap().to_string();
        let clerk = clerk.clone();
        async move {
            let deadline = tokio::time::Instant::now() + SETTLE;
            loop {
                let token = if node == 1 {
                    clerk.clone()
                } else {
                    net.nodes[node].admin.clone()
                };
                let (s, _) = net.nodes[node]
                    .get(&format!("/api/orders/{id}"), &token)
                    .await;
                if s == StatusCode::OK {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "order never reached node {node}"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    };
    wait_for(1).await;
    net.partition(&[&[1, 2]]);
    wait_for(2).await;
    net.stop().await;
}

#[tokio::test]
async fn concurrent_edits_of_one_field_are_shown_as_a_conflict_and_resolved_by_its_owner() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("广州红星美凯龙店").await;
    let order = net.nodes[0].order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap().to_string();
    let line = order["lines"][0]["id"].as_str().unwrap().to_string();
    net.settle(SETTLE).await;
    net.partition(&[&[0], &[1]]);
    let c0 = net.nodes[0].token(Role::Clerk).await;
    let c1 = net.nodes[1].token(Role::Clerk).await;
    net.nodes[0].send("PATCH", &format!("/api/orders/{id}"), &c0, Some(json!({"receiver_phone": "13800000000", "lines": [{"id": line, "unit_price": "1300.00"}]}))).await;
    net.nodes[1].send("PATCH", &format!("/api/orders/{id}"), &c1, Some(json!({"receiver_phone": "13911111111", "lines": [{"id": line, "unit_price": "1350.00"}]}))).await;
    net.heal();
    net.settle(SETTLE).await;
    let mut seen = Vec::new();
    for (i, token) in [(0, &c0), (1, &c1)] {
        let (_, got) = net.nodes[i].get(&format!("/api/orders/{id}"), token).await;
        let conflicts = got["conflicts"].as_array().unwrap().clone();
        let fields: Vec<&str> = conflicts
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"receiver_phone"), "node {i}: {fields:?}");
        assert!(
            fields.contains(&format!("lines.{line}.unit_price").as_str()),
            "node {i}: {fields:?}"
        );
        let phone = conflicts
            .iter()
            .find(|c| c["field"] == "receiver_phone")
            .unwrap();
        let values: Vec<&str> = phone["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["value"].as_str().unwrap())
            .collect();
        assert_eq!(values.len(), 2);
        assert!(values.contains(&"13800000000") && values.contains(&"13911111111"));
        for v in phone["values"].as_array().unwrap() {
            assert_eq!(v["user"], "clerk-user");
            assert_eq!(v["role"], "clerk");
            assert!(v["at_ms"].as_i64().unwrap() > 0);
        }
        // Same anomaly on both nodes.
        let anomalies: Vec<String> = got["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        seen.push(anomalies);
    }
    assert_eq!(seen[0], seen[1]);
    // A warehouse user may not pick; the clerk may.
    let warehouse = net.nodes[1].token(Role::Warehouse).await;
    let (s, _) = net.nodes[1]
        .post(
            &format!("/api/orders/{id}/conflicts/receiver_phone/resolve"),
            &warehouse,
            json!({"value": "13911111111"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, got) = net.nodes[1]
        .post(
            &format!("/api/orders/{id}/conflicts/receiver_phone/resolve"),
            &c1,
            json!({"value": "13911111111"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
    net.settle(SETTLE).await;
    let (_, got) = net.nodes[0].get(&format!("/api/orders/{id}"), &c0).await;
    assert_eq!(got["receiver_phone"], "13911111111");
    assert!(!got["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["field"] == "receiver_phone"));
    net.stop().await;
}

#[tokio::test]
async fn status_lists_peers_with_last_sync() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("北京居然之家金源店").await;
    net.nodes[0].order(&customer, three_lines()).await;
    net.settle(SETTLE).await;
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let (_, status) = net.nodes[1].get("/api/status", &net.nodes[1].admin).await;
        let peers = status["peers"].as_array().unwrap();
        assert_eq!(peers.len(), 1);
        let p = &peers[0];
        if p["last_sync"].is_string() && p["we_lack"] == 0 {
            assert_eq!(p["found_by"], "static");
            assert_eq!(p["name"], "node-0");
            assert_eq!(
                p["node_id"],
                net.nodes[0].node.as_ref().unwrap().office.identity.node_id
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    net.stop().await;
}

#[tokio::test]
async fn documents_a_peer_leaves_out_of_a_full_answer_are_fetched_next() {
    // Orders with a long project text, so that what node 1 lacks is more than one fetch answer
    // may carry: node 0 answers part and defers the rest, and node 1 must ask for it again
    // (while the first part is still merging) before it moves its cursor.
    let mut net = TestNet::start(2).await;
    net.partition(&[&[0], &[1]]);
    let customer = net.nodes[0].customer("苏州工业园区店").await;
    let long_project: String = (0..200_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let clerk = net.nodes[0].token(Role::Clerk).await;
    for n in 0..45 {
        let mut body = crate::harness::order_body(&customer, three_lines());
        body["project"] = json!(format!("{n} {long_project}"));
        let (status, answer) = net.nodes[0].post("/api/orders", &clerk, body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let store = &net.nodes[0].node.as_ref().unwrap().office.store;
    let lacking: usize = store
        .doc_ids(None)
        .unwrap()
        .iter()
        .map(|id| store.raw_document(id).unwrap().unwrap().len())
        .sum();
    assert!(
        lacking > neiqin::sync::protocol::MAX_FETCH_BYTES,
        "the test needs more than one answer's worth of documents ({lacking} bytes)"
    );
    net.heal();
    net.settle(SETTLE).await;
    assert_eq!(net.state(1).len(), 46);
    net.stop().await;
}
