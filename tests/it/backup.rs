//! Backups of a running node: `neiqin export` asks the node for it while clerks keep writing,
//! encrypted with a passphrase, into a file only its owner can read; `neiqin restore` brings
//! every order acknowledged before the backup began into another node.

use crate::harness::{order_body, three_lines, TestNode};
use neiqin::config::Config;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn neiqin(args: &[&str], passphrase: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_neiqin"));
    cmd.args(args).env("NEIQIN_LOG", "warn");
    cmd.env_remove("NEIQIN_BACKUP_PASSPHRASE");
    if let Some(p) = passphrase {
        cmd.env("NEIQIN_BACKUP_PASSPHRASE", p);
    }
    let out = cmd.output().expect("run neiqin");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_running_node_under_write_load_is_backed_up_encrypted_and_restored_elsewhere() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海红星美凯龙真北店").await;
    let clerk = node.token(Role::Clerk).await;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        let (base, clerk, customer) = (node.base.clone(), clerk.clone(), customer.clone());
        tokio::spawn(async move {
            let client = crate::harness::client();
            let mut written = 0;
            while !stop.load(Ordering::SeqCst) && written < 2000 {
                let resp = client
                    .post(format!("{base}/api/orders"))
                    .bearer_auth(&clerk)
                    .json(&order_body(&customer, three_lines()))
                    .send()
                    .await
                    .expect("the node answers");
                assert_eq!(resp.status(), StatusCode::CREATED);
                let body: serde_json::Value = resp.json().await.unwrap();
                acknowledged
                    .lock()
                    .unwrap()
                    .push(body["id"].as_str().unwrap().to_string());
                written += 1;
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("backup.age");
    let data = node.data_dir().to_str().unwrap().to_string();
    let file_arg = file.to_str().unwrap().to_string();
    let from = node.base.clone();
    let export = tokio::task::spawn_blocking(move || {
        neiqin(
            &[
                "export",
                "--data",
                &data,
                "--from",
                &from,
                "--encrypt",
                &file_arg,
            ],
            Some("门店资料 保密 2026"),
        )
    })
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(export.0, "{}", export.1);
    assert!(export.1.contains("from the running node"), "{}", export.1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup is readable by its owner only");
    }
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    assert!(
        !bytes
            .windows("上海红星美凯龙".len())
            .any(|w| w == "上海红星美凯龙".as_bytes()),
        "no customer name in clear"
    );

    // Restored elsewhere: without the passphrase, or with a wrong one, nothing happens.
    let b = tmp.path().join("b");
    let b_arg = b.to_str().unwrap().to_string();
    let file_arg = file.to_str().unwrap().to_string();
    let (ok, out) = neiqin(
        &[
            "init", "--data", &b_arg, "--name", "restored", "--role", "clerk",
        ],
        None,
    );
    assert!(ok, "{out}");
    let (ok, out) = neiqin(&["restore", "--data", &b_arg, &file_arg], None);
    assert!(!ok && out.contains("passphrase"), "{out}");
    let (ok, out) = neiqin(&["restore", "--data", &b_arg, &file_arg], Some("wrong"));
    assert!(!ok && out.contains("wrong passphrase"), "{out}");
    let (ok, out) = neiqin(
        &["restore", "--data", &b_arg, &file_arg],
        Some("门店资料 保密 2026"),
    );
    assert!(ok, "{out}");
    let restored = TestNode::start_with(Config::local(b), None).await;
    let admin = restored.admin.clone();
    for id in &before {
        let (status, _) = restored.get(&format!("/api/orders/{id}"), &admin).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "order {id}, acknowledged before the backup"
        );
    }
    restored.stop().await;
    node.stop().await;
}
