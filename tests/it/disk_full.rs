//! Disk full, on a real node whose data directory is a size-limited tmpfs: a write that cannot
//! be made durable answers 507 in plain words, reads keep working and show only acknowledged
//! orders, health and status say so, and writes resume by themselves once space is freed.
//! Needs root to mount; elsewhere the test prints a notice and passes without running.

use crate::harness::{three_lines, TestNode};
use neiqin::config::Config;
use reqwest::StatusCode;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        mounted.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system holding `path` with a file, to the last block it takes.
fn fill(path: &Path) -> PathBuf {
    let filler = path.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler file");
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512] {
        let bytes = vec![0x5a_u8; chunk];
        while file
            .write_all(&bytes)
            .and_then(|()| file.sync_all())
            .is_ok()
        {}
    }
    filler
}

async fn storage(node: &TestNode) -> (String, String) {
    let (_, health) = node.get("/api/health", "").await;
    let (_, status) = node.get("/api/status", &node.admin).await;
    (
        health["storage"].as_str().unwrap_or("").to_string(),
        status["storage"].as_str().unwrap_or("").to_string(),
    )
}

async fn listed_orders(node: &TestNode) -> Vec<String> {
    let (status, page) = node.get("/api/orders?limit=500", &node.admin).await;
    assert_eq!(status, StatusCode::OK, "the order list works: {page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_writes_in_plain_words_and_they_resume_when_space_is_freed() {
    let Some(tmpfs) = Tmpfs::mount("48m") else {
        eprintln!("NOTICE: disk_full test skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let data = tmpfs.path().join("data");
    let mut node = TestNode::start_with(Config::local(data), None).await;
    let customer = node.customer("满盘客户").await;
    let mut acknowledged = vec![node.order(&customer, three_lines()).await["id"]
        .as_str()
        .expect("id")
        .to_string()];

    let filler = fill(tmpfs.path());
    let clerk = node.token(neiqin::domain::role::Role::Clerk).await;
    let mut refused = None;
    for _ in 0..500 {
        let (status, body) = node
            .post(
                "/api/orders",
                &clerk,
                crate::harness::order_body(&customer, three_lines()),
            )
            .await;
        match status {
            StatusCode::CREATED => acknowledged.push(body["id"].as_str().expect("id").into()),
            StatusCode::INSUFFICIENT_STORAGE => {
                refused = Some(body);
                break;
            }
            other => panic!("a write on a full disk answered {other}: {body}"),
        }
    }
    let problem = refused.expect("a write on a full disk is refused");
    assert_eq!(problem["status"], 507);
    assert!(
        problem["title"].as_str().unwrap().contains("磁盘空间不足"),
        "{problem}"
    );
    assert!(problem["detail"].as_str().unwrap().contains("disk is full"));
    assert_eq!(
        storage(&node).await,
        ("disk_full".to_string(), "disk_full".to_string())
    );

    // Reads work and show exactly the acknowledged orders.
    let mut listed = listed_orders(&node).await;
    listed.sort();
    acknowledged.sort();
    assert_eq!(
        listed, acknowledged,
        "the list shows only acknowledged orders"
    );
    assert_eq!(node.order_count().await, acknowledged.len() as u64);
    for id in &acknowledged {
        let (status, _) = node.get(&format!("/api/orders/{id}"), &clerk).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = node
        .post(
            "/api/orders",
            &clerk,
            crate::harness::order_body(&customer, three_lines()),
        )
        .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "still full");

    // Space freed: writes resume by themselves, without a restart.
    std::fs::remove_file(&filler).expect("filler removed");
    let mut recovered = false;
    for _ in 0..300 {
        if storage(&node).await == ("ok".to_string(), "ok".to_string()) {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the node notices that space is back");
    acknowledged.push(
        node.order(&customer, three_lines()).await["id"]
            .as_str()
            .expect("id")
            .to_string(),
    );

    // Nothing acknowledged is lost across a restart.
    node.restart().await;
    let mut listed = listed_orders(&node).await;
    listed.sort();
    acknowledged.sort();
    assert_eq!(listed, acknowledged);
    node.stop().await;
    drop(tmpfs);
}
