//! `kill -9` right after a 2xx answer: the write is there after restart. Runs the real binary.

use crate::harness::{client, customer_body, order_body, three_lines};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct NodeProcess {
    pub child: Child,
    pub base: String,
    pub peer_addr: String,
}

/// Starts `neiqin serve` on loopback port 0 and reads the address it prints.
pub fn spawn_node(data: &Path, extra: &[&str]) -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neiqin"))
        .args([
            "serve",
            "--no-mdns",
            "--listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data)
        .args(extra)
        .env("NEIQIN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn neiqin");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut peer_addr) = (String::new(), String::new());
    while base.is_empty() || peer_addr.is_empty() {
        let line = lines
            .next()
            .expect("node prints its addresses before exiting")
            .expect("line");
        if let Some(url) = line.split("serving on ").nth(1) {
            base = url.trim().to_string();
        }
        if let Some(addr) = line.split("peer endpoint on ").nth(1) {
            peer_addr = addr.trim().to_string();
        }
    }
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    NodeProcess {
        child,
        base,
        peer_addr,
    }
}

impl NodeProcess {
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

/// A test that fails half-way must not leave its node running (it would also hold the test
/// runner's output pipe open).
impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn send(
    method: reqwest::Method,
    base: &str,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let resp = request.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(base: &str, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send(reqwest::Method::POST, base, token, path, Some(body)).await
}

#[tokio::test]
async fn a_write_acknowledged_before_kill_9_is_there_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut node = spawn_node(&data, &[]);
    let admin = std::fs::read_to_string(data.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let (_, user) = post(
        &node.base,
        &admin,
        "/api/users",
        json!({"name": "李娜", "role": "clerk"}),
    )
    .await;
    let clerk = user["token"].as_str().unwrap().to_string();
    let (status, customer) = post(
        &node.base,
        &clerk,
        "/api/customers",
        customer_body("深圳红星美凯龙店"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let customer_id = customer["id"].as_str().unwrap().to_string();

    // Eight writers at once; the node dies right after the 40th acknowledgement.
    let acknowledged = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::<String>::new()));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut writers = Vec::new();
    for _ in 0..8 {
        let (base, clerk, customer_id) = (node.base.clone(), clerk.clone(), customer_id.clone());
        let acknowledged = acknowledged.clone();
        let done_tx = done_tx.clone();
        writers.push(tokio::spawn(async move {
            loop {
                let resp = client()
                    .post(format!("{base}/api/orders"))
                    .bearer_auth(&clerk)
                    .json(&order_body(&customer_id, three_lines()))
                    .send()
                    .await;
                let Ok(resp) = resp else { return };
                if resp.status() != StatusCode::CREATED {
                    return;
                }
                let Ok(body) = resp.json::<Value>().await else {
                    return;
                };
                let mut acked = acknowledged.lock().await;
                acked.push(body["id"].as_str().unwrap().to_string());
                if acked.len() == 40 {
                    let _ = done_tx.try_send(());
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), done_rx.recv())
        .await
        .expect("40 orders acknowledged in time");
    // Freeze the list of acknowledged orders, then kill at once.
    let acked = acknowledged.lock().await.clone();
    node.kill9();
    for w in writers {
        let _ = w.await;
    }
    assert!(acked.len() >= 40);

    let node = spawn_node(&data, &[]);
    for id in &acked {
        let resp = client()
            .get(format!("{}/api/orders/{id}", node.base))
            .bearer_auth(&clerk)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "acknowledged order {id} survived kill -9"
        );
    }
    // Order numbers are handed out from memory and written with the order that uses them: after
    // the crash no number that is on disk is handed out again, and none was handed out twice.
    let (status, page) = send(
        reqwest::Method::GET,
        &node.base,
        &clerk,
        "/api/orders?limit=500",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut numbers: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_str().unwrap().to_string())
        .collect();
    assert!(numbers.len() >= acked.len());
    let (status, next) = post(
        &node.base,
        &clerk,
        "/api/orders",
        order_body(&customer_id, three_lines()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    numbers.push(next["number"].as_str().unwrap().to_string());
    let distinct: std::collections::HashSet<&String> = numbers.iter().collect();
    assert_eq!(
        distinct.len(),
        numbers.len(),
        "a number was reused: {numbers:?}"
    );
    let mut node = node;
    node.kill9();
}

#[tokio::test]
async fn cli_init_user_export_restore_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let bin = env!("CARGO_BIN_EXE_neiqin");
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .env("NEIQIN_LOG", "warn")
            .output()
            .expect("run neiqin");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, _, err) = run(&[
        "init",
        "--data",
        a.to_str().unwrap(),
        "--name",
        "clerk-a",
        "--role",
        "clerk",
        "--roles",
        "office,warehouse,finance",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&[
        "init",
        "--data",
        a.to_str().unwrap(),
        "--name",
        "again",
        "--role",
        "clerk",
    ]);
    assert!(!ok && err.contains("already initialised"), "{err}");
    let (ok, _, err) = run(&[
        "init",
        "--data",
        b.to_str().unwrap(),
        "--name",
        "x",
        "--role",
        "boss",
    ]);
    assert!(!ok && err.contains("unknown role"), "{err}");
    let (ok, token, err) = run(&[
        "user",
        "add",
        "李娜",
        "--role",
        "clerk",
        "--data",
        a.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(token.trim().starts_with("nq_"));
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json");
    let (ok, out, err) = run(&["import", "--data", a.to_str().unwrap(), fixtures]);
    assert!(ok, "{err}");
    assert!(out.contains("300 orders"), "{out}");
    let backup = tmp.path().join("backup.jsonl");
    let (ok, out, err) = run(&[
        "export",
        "--data",
        a.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // Every customer, contract, order and complaint of the demo is a document.
    let set = neiqin::import::parse(&std::fs::read(fixtures).unwrap()).unwrap();
    let documents =
        set.customers.len() + set.contracts.len() + set.orders.len() + set.complaints.len();
    assert!(out.contains(&format!("{documents} documents")), "{out}");

    // A damaged backup restores nothing.
    let (ok, _, _) = run(&[
        "init",
        "--data",
        b.to_str().unwrap(),
        "--name",
        "clerk-b",
        "--role",
        "clerk",
    ]);
    assert!(ok);
    let damaged = tmp.path().join("damaged.jsonl");
    let mut text = std::fs::read_to_string(&backup).unwrap();
    text.push_str("{\"doc\": \"x\", \"data\": \"not base64!\"}\n");
    std::fs::write(&damaged, text).unwrap();
    let (ok, _, err) = run(&[
        "restore",
        "--data",
        b.to_str().unwrap(),
        damaged.to_str().unwrap(),
    ]);
    assert!(!ok, "damaged backup refused");
    assert!(err.contains(&format!("line {}", documents + 2)), "{err}");
    let (ok, out, err) = run(&[
        "restore",
        "--data",
        b.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("restored {documents} documents")),
        "{out}"
    );

    // The restored node serves the same orders.
    let mut node = spawn_node(&b, &[]);
    let admin = std::fs::read_to_string(b.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let resp: Value = client()
        .get(format!("{}/api/status", node.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["orders"], 300);
    assert_eq!(resp["customers"], 31);
    node.kill9();

    // Bad config is a clear error: serving with `text` as the config file fails, saying why.
    let cfg = tmp.path().join("bad.toml");
    let refused_with = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        let (ok, _, err) = run(&[
            "serve",
            "--no-mdns",
            "--config",
            cfg.to_str().unwrap(),
            "--data",
            a.to_str().unwrap(),
        ]);
        assert!(!ok, "{text:?} was accepted");
        err
    };
    let err = refused_with("listen = \"127.0.0.1:0\"\nlisen = 3\n");
    assert!(err.contains("bad.toml") && err.contains("lisen"), "{err}");
    // A page cache out of range is refused, naming the setting; one in range is used.
    let err = refused_with("page_cache_mb = 0\n");
    assert!(err.contains("page_cache_mb"), "{err}");
    let err = refused_with("delay_escalate_after_days = 400\n");
    assert!(err.contains("delay_escalate_after_days"), "{err}");
    let err = refused_with("complaint_escalate_after_days = -1\n");
    assert!(err.contains("complaint_escalate_after_days"), "{err}");
    let small = tmp.path().join("small-cache.toml");
    std::fs::write(&small, "page_cache_mb = 16\n").unwrap();
    let mut node = spawn_node(&b, &["--config", small.to_str().unwrap()]);
    assert_eq!(order_count(&node.base, &admin).await, Some(300));
    node.kill9();
}

async fn order_count(base: &str, token: &str) -> Option<u64> {
    let resp = client()
        .get(format!("{base}/api/status"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    resp.json::<Value>().await.ok()?["orders"].as_u64()
}

#[tokio::test]
async fn a_node_killed_mid_sync_restarts_and_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let bin = env!("CARGO_BIN_EXE_neiqin");
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .env("NEIQIN_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json");
    // B joins A's company: init --join, approved on A, installed on B.
    let join_b = || {
        let cert = tmp.path().join("b.crt");
        run(&[
            "init",
            "--data",
            b.to_str().unwrap(),
            "--name",
            "b",
            "--role",
            "warehouse",
            "--join",
        ]);
        run(&[
            "node",
            "approve",
            "--data",
            a.to_str().unwrap(),
            b.join("node.csr").to_str().unwrap(),
            "--roles",
            "warehouse",
            "--out",
            cert.to_str().unwrap(),
        ]);
        run(&[
            "node",
            "install",
            "--data",
            b.to_str().unwrap(),
            cert.to_str().unwrap(),
        ]);
    };
    run(&[
        "init",
        "--data",
        a.to_str().unwrap(),
        "--name",
        "a",
        "--role",
        "clerk",
        "--roles",
        "office,warehouse,finance",
    ]);
    for _ in 0..4 {
        run(&["import", "--data", a.to_str().unwrap(), fixtures]);
    }
    join_b();
    let admin_a = std::fs::read_to_string(a.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let admin_b = std::fs::read_to_string(b.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();

    let mut node_a = spawn_node(&a, &[]);
    let total = order_count(&node_a.base, &admin_a).await.unwrap();
    assert_eq!(total, 1200);
    let peer_a = node_a.peer_addr.clone();

    // Kill B while it is part-way, right after it showed how many orders it holds; try a few
    // times in case one sync finishes too fast to catch.
    let mut killed_mid_sync = false;
    let mut shown = 0;
    for _ in 0..5 {
        let mut node_b = spawn_node(&b, &["--peer", &peer_a]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let n = order_count(&node_b.base, &admin_b).await.unwrap_or(0);
            if n > 0 && n < total {
                node_b.kill9();
                killed_mid_sync = true;
                shown = n;
                break;
            }
            if n == total || tokio::time::Instant::now() > deadline {
                node_b.kill9();
                break;
            }
        }
        if killed_mid_sync {
            break;
        }
        // Start again from nothing so the next try has a whole sync to interrupt.
        std::fs::remove_dir_all(&b).unwrap();
        join_b();
    }
    assert!(killed_mid_sync, "never caught the sync part-way");
    let admin_b = std::fs::read_to_string(b.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();

    // Alone (no peer to sync from), B still holds every order it showed before the kill: a
    // merged order is shown only once it is durable.
    let mut alone = spawn_node(&b, &[]);
    let held = order_count(&alone.base, &admin_b).await.unwrap();
    assert!(
        held >= shown,
        "B showed {shown} orders before the kill -9 and holds {held} after"
    );
    alone.kill9();

    let mut node_b = spawn_node(&b, &["--peer", &peer_a]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while order_count(&node_b.base, &admin_b).await != Some(total) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "B did not converge after restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Same documents, same content: compare a page of orders on both sides.
    let page = |base: String, token: String| async move {
        client()
            .get(format!("{base}/api/orders?limit=200"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["items"]
            .clone()
    };
    assert_eq!(
        page(node_a.base.clone(), admin_a.clone()).await,
        page(node_b.base.clone(), admin_b.clone()).await
    );
    node_b.kill9();
    node_a.kill9();
}
