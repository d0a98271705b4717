//! Damage found and named: a byte flipped in a stored document is named by `neiqin check` and
//! by a running node (status, a clear error on read), and healed from a peer. Starts that
//! cannot go on say why: a newer store format, the lock held by another process. A store from
//! before checksums is migrated at open.

use crate::crash::spawn_node;
use crate::harness::{three_lines, TestNode};
use crate::testnet::TestNet;
use neiqin::config::Config;
use neiqin::node;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);

/// Runs the `neiqin` binary to its end (at most 60 s).
fn neiqin(args: &[&str], data: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neiqin"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("NEIQIN_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn neiqin");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("neiqin {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn stop_node(node: &mut TestNode) {
    let running = node.node.take().expect("running");
    running.shutdown().await.expect("clean shutdown");
}

/// Waits until the node's status satisfies `ready`; returns that status.
async fn status_when(node: &TestNode, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let (_, status) = node.get("/api/status", &node.admin).await;
        if ready(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never became as expected: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn lists_damaged(status: &Value, id: &str) -> bool {
    status["damaged_documents"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|d| d == id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flipped_byte_is_named_by_check_and_the_node_and_healed_from_a_peer() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("损坏测试客户").await;
    let order = net.nodes[0].order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap().to_string();
    net.settle(SETTLE).await;

    // Node 1 stopped; one byte of the order's stored snapshot flipped, as bit rot would.
    stop_node(&mut net.nodes[1]).await;
    let dir = net.nodes[1].data_dir().to_path_buf();
    node::open_store(&dir, 10)
        .unwrap()
        .corrupt_for_test(&id)
        .unwrap();

    let out = neiqin(&["check"], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("damaged: {id}")), "{stdout}");
    assert!(stdout.contains("checksum mismatch"), "{stdout}");
    assert!(
        !stdout.contains(&customer),
        "only the order is damaged: {stdout}"
    );

    // A copy of the damaged store, on a node with no peers: it names the document.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&dir, &copy.path().join("data"));
    let alone = TestNode::start_with(Config::local(copy.path().join("data")), None).await;
    let status = status_when(&alone, |s| lists_damaged(s, &id)).await;
    assert_eq!(status["storage"], "damaged", "{status}");
    assert_eq!(
        status["orders"], 0,
        "a damaged order is not counted: {status}"
    );
    assert_eq!(status["customers"], 1);
    let (_, health) = alone.get("/api/health", "").await;
    assert_eq!(health["status"], "degraded");
    let (code, problem) = alone.get(&format!("/api/orders/{id}"), &alone.admin).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(
        problem["title"]
            .as_str()
            .unwrap()
            .contains("Document damaged"),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains(&id),
        "{problem}"
    );
    let (code, _) = alone
        .get(&format!("/api/customers/{customer}"), &alone.admin)
        .await;
    assert_eq!(code, StatusCode::OK, "the rest reads as before");
    alone.stop().await;

    // Node 1 again, with its peer: the order is fetched again whole and reads well.
    healed_from_its_peer(net, &id, 1).await;
}

/// Node 1 (stopped, store in `dir`) started again with its peer node 0: the damaged order `id`
/// is fetched again whole and reads as on node 0, `orders` are listed, and a check afterwards
/// finds nothing damaged.
/// The inbox's 文档已损坏 entries naming document `id`.
async fn damaged_in_inbox(node: &TestNode, id: &str) -> Vec<serde_json::Value> {
    let (code, inbox) = node.get("/api/anomalies", &node.admin).await;
    assert_eq!(code, StatusCode::OK, "{inbox}");
    inbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["anomaly"]["kind"] == "damaged_document"
                && a["anomaly"]["detail"].as_str().unwrap().contains(id)
        })
        .cloned()
        .collect()
}

async fn healed_from_its_peer(mut net: TestNet, id: &str, orders: usize) {
    let dir = net.nodes[1].data_dir().to_path_buf();
    net.nodes[1].restart().await;
    let one = &net.nodes[1];
    status_when(one, |s| {
        s["damaged_documents"].as_array().is_some_and(Vec::is_empty) && s["orders"] == orders
    })
    .await;
    let (code, healed) = one.get(&format!("/api/orders/{id}"), &one.admin).await;
    assert_eq!(code, StatusCode::OK, "{healed}");
    assert!(
        damaged_in_inbox(one, id).await.is_empty(),
        "healed: out of the inbox"
    );
    let (_, original) = net.nodes[0]
        .get(&format!("/api/orders/{id}"), &net.nodes[0].admin)
        .await;
    assert_eq!(healed, original);
    let (_, page) = one.get("/api/orders", &one.admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), orders, "{page}");
    stop_node(&mut net.nodes[1]).await;
    let out = neiqin(&["check"], &dir);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("none damaged"));
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_checksums_is_migrated_and_a_newer_one_refused() {
    let mut node = TestNode::start().await;
    let customer = node.customer("迁移测试客户").await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        orders.push(
            node.order(&customer, three_lines()).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut before = Vec::new();
    for id in &orders {
        before.push(node.get(&format!("/api/orders/{id}"), &node.admin).await.1);
    }
    stop_node(&mut node).await;
    let dir = node.data_dir().to_path_buf();
    let stripped = node::open_store(&dir, 10)
        .unwrap()
        .downgrade_for_test(1)
        .unwrap();
    assert!(stripped >= 4, "{stripped} values");

    // Opened by this version: migrated, every document reads back as it was.
    node.restart().await;
    for (id, was) in orders.iter().zip(&before) {
        let (code, now) = node.get(&format!("/api/orders/{id}"), &node.admin).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(&now, was);
    }
    let store = &node.node.as_ref().unwrap().office.store;
    assert_eq!(
        store.meta_get("format").unwrap().as_deref(),
        Some(&neiqin::store::FORMAT_VERSION.to_be_bytes()[..])
    );
    stop_node(&mut node).await;
    let out = neiqin(&["check"], &dir);
    assert!(out.status.success(), "{}", text(&out.stdout));

    // A store written by a newer version is refused, naming both versions.
    let newer = neiqin::store::FORMAT_VERSION + 1;
    let store = node::open_store(&dir, 10).unwrap();
    store.meta_put("format", &newer.to_be_bytes()).unwrap();
    store.flush().unwrap();
    drop(store);
    let out = neiqin(
        &[
            "serve",
            "--no-mdns",
            "--listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
        ],
        &dir,
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "store format {newer}, written by a newer neiqin; this neiqin reads store formats up to {}",
            neiqin::store::FORMAT_VERSION
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_second_node_on_a_data_directory_in_use_is_told_which_process_holds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut first = spawn_node(&data, &[]);
    let out = neiqin(
        &[
            "serve",
            "--no-mdns",
            "--listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
        ],
        &data,
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "another neiqin is using {} (pid {}); stop it or choose another --data directory",
            data.display(),
            first.child.id()
        )),
        "{stderr}"
    );
    first.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restored_replaces_a_damaged_document() {
    let mut node = TestNode::start().await;
    let customer = node.customer("备份恢复客户").await;
    let id = node.order(&customer, three_lines()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, was) = node.get(&format!("/api/orders/{id}"), &node.admin).await;
    stop_node(&mut node).await;
    let dir = node.data_dir().to_path_buf();
    let backup = dir.parent().unwrap().join("backup.jsonl");
    let out = neiqin(&["export", backup.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    node::open_store(&dir, 10)
        .unwrap()
        .corrupt_for_test(&id)
        .unwrap();
    assert_eq!(neiqin(&["check"], &dir).status.code(), Some(2));

    let out = neiqin(&["restore", backup.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = neiqin(&["check"], &dir);
    assert!(out.status.success(), "{}", text(&out.stdout));
    node.restart().await;
    let (code, now) = node.get(&format!("/api/orders/{id}"), &node.admin).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(now, was);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damage_found_while_the_node_runs_is_healed_without_waiting_for_a_change() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("运行中损坏客户").await;
    let id = net.nodes[0].order(&customer, three_lines()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    net.settle(SETTLE).await;
    // Let node 1's exchange with node 0 settle into its long poll.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let one = &net.nodes[1];
    let store = one.node.as_ref().unwrap().office.store.clone();
    store.corrupt_for_test(&id).unwrap();
    let started = tokio::time::Instant::now();
    // A read finds it: the clear error, and sync is told at once.
    let (code, problem) = one.get(&format!("/api/orders/{id}"), &one.admin).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    status_when(one, |s| {
        s["damaged_documents"].as_array().is_some_and(Vec::is_empty) && s["orders"] == 1
    })
    .await;
    // Well before the long poll (20 s) would have ended by itself.
    assert!(started.elapsed() < Duration::from_secs(10));
    let (code, _) = one.get(&format!("/api/orders/{id}"), &one.admin).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(store.check_document(&id).unwrap(), None);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flipped_byte_in_a_documents_metadata_is_named_and_healed_from_a_peer() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("元数据损坏客户").await;
    let id = net.nodes[0].order(&customer, three_lines()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = net.nodes[0].order(&customer, three_lines()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    net.settle(SETTLE).await;

    // Node 1 stopped; one byte of the order's metadata (heads, index keys, summary) flipped.
    stop_node(&mut net.nodes[1]).await;
    let dir = net.nodes[1].data_dir().to_path_buf();
    node::open_store(&dir, 10)
        .unwrap()
        .corrupt_meta_for_test(&id)
        .unwrap();

    let out = neiqin(&["check"], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("damaged: {id}: its metadata: checksum mismatch")),
        "{stdout}"
    );
    assert!(!stdout.contains(&other), "{stdout}");

    // A copy on a node with no peers: a read names it, the list leaves it out, the rest reads.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&dir, &copy.path().join("data"));
    let alone = TestNode::start_with(Config::local(copy.path().join("data")), None).await;
    let (code, problem) = alone.get(&format!("/api/orders/{id}"), &alone.admin).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&id),
        "{problem}"
    );
    let status = status_when(&alone, |s| lists_damaged(s, &id)).await;
    assert_eq!(status["storage"], "damaged", "{status}");
    assert_eq!(status["orders"], 1, "{status}");
    let (code, page) = alone.get("/api/orders", &alone.admin).await;
    assert_eq!(code, StatusCode::OK, "{page}");
    let listed: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [other.as_str()]);
    let (code, _) = alone
        .get(&format!("/api/orders/{other}"), &alone.admin)
        .await;
    assert_eq!(code, StatusCode::OK);
    // The admin's inbox names it, counted in status; no text closes it.
    let damaged = damaged_in_inbox(&alone, &id).await;
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(
        damaged[0]["anomaly"]["resolvers"],
        serde_json::json!(["admin"])
    );
    let (_, status) = alone.get("/api/status", &alone.admin).await;
    assert_eq!(status["open_anomalies"], 1, "{status}");
    let resolve = format!(
        "/api/anomalies/{}/resolve",
        damaged[0]["id"].as_str().unwrap()
    );
    let (code, refused) = alone
        .post(
            &resolve,
            &alone.admin,
            serde_json::json!({"resolution": "已知"}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{refused}");
    alone.stop().await;

    // Node 1 again, with its peer: the order is fetched again whole and reads well.
    healed_from_its_peer(net, &id, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_index_entries_and_a_wrong_summary_are_repaired_by_check() {
    let mut node = TestNode::start().await;
    let customer = node.customer("索引修复客户").await;
    let id = node.order(&customer, three_lines()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, was) = node.get("/api/orders", &node.admin).await;
    stop_node(&mut node).await;
    let dir = node.data_dir().to_path_buf();
    let store = node::open_store(&dir, 10).unwrap();
    store.corrupt_derived_for_test(&id).unwrap();
    drop(store);

    let out = neiqin(&["check"], &dir);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("repaired: {id}: ")), "{stdout}");
    assert!(stdout.contains("none damaged"), "{stdout}");
    let out = neiqin(&["check"], &dir);
    assert!(!text(&out.stdout).contains("repaired"), "repaired once");

    node.restart().await;
    let (code, now) = node.get("/api/orders", &node.admin).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(now, was, "the order is listed again as it was");
    node.stop().await;
}
