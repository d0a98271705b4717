//! Property: random edits on random nodes under random partitions always converge, and no fact
//! recorded anywhere is lost.

use crate::harness::three_lines;
use crate::testnet::TestNet;
use neiqin::domain::role::Role;
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Step {
    TakeOrder {
        node: usize,
    },
    Pay {
        node: usize,
        order: usize,
        cents: u32,
    },
    EditNote {
        node: usize,
        order: usize,
        note: u8,
    },
    Partition {
        alone: usize,
    },
    Heal,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..3usize).prop_map(|node| Step::TakeOrder { node }),
        3 => (0..3usize, 0..8usize, 1..100_000u32).prop_map(|(node, order, cents)| Step::Pay { node, order, cents }),
        3 => (0..3usize, 0..8usize, any::<u8>()).prop_map(|(node, order, note)| Step::EditNote { node, order, note }),
        1 => (0..3usize).prop_map(|alone| Step::Partition { alone }),
        1 => Just(Step::Heal),
    ]
}

async fn run(steps: Vec<Step>) {
    let mut net = TestNet::start(3).await;
    let customer = net.nodes[0].customer("成都富森美家居店").await;
    net.settle(Duration::from_secs(30)).await;
    let mut orders: Vec<String> = Vec::new();
    let mut payments: BTreeSet<String> = BTreeSet::new();
    for (i, step) in steps.into_iter().enumerate() {
        match step {
            Step::TakeOrder { node } => {
                let order = net.nodes[node].order(&customer, three_lines()).await;
                orders.push(order["id"].as_str().unwrap().to_string());
            }
            Step::Pay { node, order, cents } => {
                let Some(id) = orders.get(order % orders.len().max(1)).cloned() else {
                    continue;
                };
                let finance = net.nodes[node].token(Role::Finance).await;
                let amount = format!("{}.{:02}", cents / 100, cents % 100);
                let (status, body) = net.nodes[node]
                    .post(&format!("/api/orders/{id}/payments"), &finance, json!({"amount": amount, "date": "2026-11-26", "bank_ref": format!("REF-{i}")}))
                    .await;
                if status == StatusCode::OK {
                    let fact = body["facts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|f| f["bank_ref"] == format!("REF-{i}"))
                        .unwrap();
                    payments.insert(fact["id"].as_str().unwrap().to_string());
                } else {
                    // Only possible refusal: this node has not received the order yet.
                    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
                }
            }
            Step::EditNote { node, order, note } => {
                let Some(id) = orders.get(order % orders.len().max(1)).cloned() else {
                    continue;
                };
                let clerk = net.nodes[node].token(Role::Clerk).await;
                let (status, _) = net.nodes[node]
                    .send(
                        "PATCH",
                        &format!("/api/orders/{id}"),
                        &clerk,
                        Some(json!({"note": format!("note {note}")})),
                    )
                    .await;
                assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND);
            }
            Step::Partition { alone } => {
                let others: Vec<usize> = (0..3).filter(|n| *n != alone).collect();
                net.partition(&[&[alone], &others]);
            }
            Step::Heal => net.heal(),
        }
    }
    net.heal();
    net.settle(Duration::from_secs(60)).await;
    // Every payment recorded on any node is on every node.
    for node in &net.nodes {
        let store = &node.node.as_ref().unwrap().office.store;
        let mut found = BTreeSet::new();
        for id in &orders {
            let record = store
                .record(id)
                .unwrap()
                .expect("every order on every node");
            for (fact_id, json) in &record.facts {
                if json.contains("\"kind\":\"payment\"") {
                    found.insert(fact_id.clone());
                }
            }
        }
        assert_eq!(found, payments, "no payment lost");
    }
    net.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 0, .. ProptestConfig::default() })]
    #[test]
    fn random_edits_under_random_partitions_converge_and_lose_nothing(steps in prop::collection::vec(step(), 5..25)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run(steps));
    }
}
