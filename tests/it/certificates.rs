//! Node certificates: the first node creates the cluster CA, a joining node is approved with
//! roles through the real CLI, a node only has users of its certificate's roles, and a data
//! directory made before certificates is refused at start with the commands that migrate it.

use crate::harness::TestNode;
use crate::testnet::TestNet;
use neiqin::config::Config;
use neiqin::domain::role::Role;
use neiqin::pki;
use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;
use std::process::Command;

fn neiqin(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neiqin"))
        .args(args)
        .env("NEIQIN_LOG", "warn")
        .env_remove("NEIQIN_BACKUP_PASSPHRASE")
        .output()
        .expect("run neiqin");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("file").permissions().mode() & 0o777
}

/// The fingerprint printed after "fingerprint: ".
fn fingerprint(output: &str) -> String {
    let at = output.find("fingerprint: ").expect("fingerprint printed") + "fingerprint: ".len();
    output[at..at + 19].to_string()
}

#[tokio::test]
async fn first_node_creates_the_ca_and_approves_a_joining_warehouse_node() {
    let tmp = tempfile::tempdir().expect("tmp");
    let admin = tmp.path().join("admin");
    let warehouse = tmp.path().join("warehouse");
    let admin_s = admin.to_str().expect("utf-8");
    let warehouse_s = warehouse.to_str().expect("utf-8");

    let (ok, out) = neiqin(&[
        "init", "--data", admin_s, "--name", "总部", "--role", "clerk",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("created the cluster CA"), "{out}");
    #[cfg(unix)]
    {
        assert_eq!(mode(&admin.join(pki::CA_KEY_FILE)), 0o600);
        assert_eq!(mode(&admin.join(pki::NODE_KEY_FILE)), 0o600);
    }
    let (ok, out) = neiqin(&["node", "show", "--data", admin_s]);
    assert!(ok && out.contains("roles: clerk,supervisor,vp"), "{out}");

    let (ok, out) = neiqin(&[
        "init",
        "--data",
        warehouse_s,
        "--name",
        "仓库",
        "--role",
        "warehouse",
        "--join",
    ]);
    assert!(ok, "{out}");
    let spoken = fingerprint(&out);
    assert!(
        !warehouse.join(pki::CA_KEY_FILE).exists(),
        "only the first node holds the CA"
    );
    #[cfg(unix)]
    assert_eq!(mode(&warehouse.join(pki::NODE_KEY_FILE)), 0o600);

    // A node that is not the admin node cannot approve.
    let request = warehouse.join(pki::NODE_REQUEST_FILE);
    let (ok, out) = neiqin(&[
        "node",
        "approve",
        "--data",
        warehouse_s,
        request.to_str().unwrap(),
        "--roles",
        "finance",
    ]);
    assert!(!ok && out.contains("no cluster CA"), "{out}");

    let cert_file = tmp.path().join("warehouse.crt");
    let (ok, out) = neiqin(&[
        "node",
        "approve",
        "--data",
        admin_s,
        request.to_str().unwrap(),
        "--roles",
        "warehouse",
        "--out",
        cert_file.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert_eq!(
        fingerprint(&out),
        spoken,
        "both people read the same fingerprint"
    );

    let (ok, out) = neiqin(&[
        "node",
        "install",
        "--data",
        warehouse_s,
        cert_file.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = neiqin(&["node", "show", "--data", warehouse_s]);
    assert!(ok && out.contains("roles: warehouse"), "{out}");
    assert!(out.contains(&spoken), "{out}");

    // Its certificate is the CA's, and the node may only have warehouse users.
    let creds = pki::NodeCredentials::load(&warehouse, chrono::Utc::now())
        .expect("load")
        .expect("installed");
    assert_eq!(creds.certificate.roles, vec![Role::Warehouse]);
    let (ok, out) = neiqin(&[
        "user",
        "add",
        "--data",
        warehouse_s,
        "钱会计",
        "--role",
        "finance",
    ]);
    assert!(!ok, "a warehouse node made a finance user: {out}");
    assert!(
        out.contains("this node's certificate does not allow users of role finance"),
        "{out}"
    );
    let (ok, out) = neiqin(&[
        "user",
        "add",
        "--data",
        warehouse_s,
        "王仓管",
        "--role",
        "warehouse",
    ]);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn the_ca_leaves_the_admin_node_only_encrypted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let admin = tmp.path().join("admin");
    let admin_s = admin.to_str().unwrap();
    let (ok, out) = neiqin(&[
        "init", "--data", admin_s, "--name", "总部", "--role", "clerk",
    ]);
    assert!(ok, "{out}");
    let export = tmp.path().join("ca.age");
    let (ok, out) = neiqin(&[
        "node",
        "export-ca",
        "--data",
        admin_s,
        export.to_str().unwrap(),
    ]);
    assert!(
        !ok && out.contains("encrypted"),
        "exported without a passphrase: {out}"
    );
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "长城长江\n").unwrap();
    let (ok, out) = neiqin(&[
        "node",
        "export-ca",
        "--data",
        admin_s,
        export.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let sealed = std::fs::read(&export).unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("PRIVATE KEY"));
    let original = pki::ClusterCa::load(&admin).unwrap().unwrap();
    assert_eq!(
        pki::open_ca(&sealed, "长城长江").unwrap().fingerprint(),
        original.fingerprint()
    );
}

#[tokio::test]
async fn a_node_has_only_users_of_its_certificate_roles() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = Config::local(tmp.path().join("data"));
    config.certificate_roles = vec![Role::Warehouse];
    let node = TestNode::start_with(config, Some(tmp)).await;
    let (status, body) = node
        .post(
            "/api/users",
            &node.admin,
            json!({"name": "钱会计", "role": "finance"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.to_string()
            .contains("本节点的证书不允许finance角色的用户"),
        "{body}"
    );
    let (status, body) = node
        .post(
            "/api/users",
            &node.admin,
            json!({"name": "王仓管", "role": "warehouse"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn testnet_nodes_carry_certificates_of_one_ca_with_their_roles() {
    let net = TestNet::start_with_roles(&[
        vec![Role::Clerk, Role::Supervisor, Role::Vp],
        vec![Role::Warehouse],
        vec![Role::Finance],
    ])
    .await;
    let roles: Vec<Vec<Role>> = net
        .nodes
        .iter()
        .map(|n| {
            n.node
                .as_ref()
                .unwrap()
                .office
                .certificate()
                .expect("certificate")
                .roles
        })
        .collect();
    assert_eq!(roles[1], vec![Role::Warehouse]);
    assert_eq!(roles[2], vec![Role::Finance]);
    for node in &net.nodes {
        let creds = pki::NodeCredentials::load(node.data_dir(), chrono::Utc::now())
            .expect("load")
            .expect("installed");
        pki::NodeCertificate::verify(&creds.cert_pem, net.ca.cert_pem(), chrono::Utc::now())
            .expect("signed by the test's CA");
    }
    let (status, _) = net.nodes[1]
        .post(
            "/api/users",
            &net.nodes[1].admin,
            json!({"name": "钱会计", "role": "finance"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_data_directory_from_before_certificates_is_refused_with_the_commands_that_migrate_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("old");
    let dir_s = dir.to_str().expect("utf-8");
    let (ok, out) = neiqin(&["init", "--data", dir_s, "--name", "总部", "--role", "clerk"]);
    assert!(ok, "{out}");
    let mut node = TestNode::start_with(Config::local(&dir), None).await;
    let customer = node.customer("老数据的客户").await;
    // An order whose 核单 was recorded before facts were signed.
    let old_order = node.order(&customer, crate::harness::three_lines()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    write_unsigned_verification(&node, &old_order);
    node.stop().await;
    // As a node made before certificates: an identity and a store, no key, CA or certificate.
    for file in [
        pki::CA_CERT_FILE,
        pki::CA_KEY_FILE,
        pki::NODE_KEY_FILE,
        pki::NODE_CERT_FILE,
        pki::NODE_REQUEST_FILE,
    ] {
        std::fs::remove_file(dir.join(file)).expect(file);
    }
    let refused = neiqin::node::start(Config::local(&dir))
        .await
        .err()
        .expect("refused at start");
    let message = format!("{refused:#}");
    for command in [
        "neiqin node init-ca",
        "neiqin node request",
        "neiqin node install",
    ] {
        assert!(message.contains(command), "{message}");
    }
    let (ok, out) = neiqin(&["node", "init-ca", "--data", dir_s, "--roles", "office"]);
    assert!(ok && out.contains("created the cluster CA"), "{out}");
    assert!(out.contains("attested in 1 document"), "{out}");
    let (ok, out) = neiqin(&["node", "init-ca", "--data", dir_s, "--roles", "office"]);
    assert!(ok && out.contains("already holds the cluster CA"), "{out}");
    // Migrated: it starts, nothing in its store was lost, and the old 核单 still counts.
    let node = TestNode::start_with(Config::local(&dir), None).await;
    let (status, body) = node
        .get(&format!("/api/customers/{customer}"), &node.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, order) = node
        .get(&format!("/api/orders/{old_order}"), &node.admin)
        .await;
    assert_eq!(order["status"], "verified", "{order}");
    assert_eq!(order["anomalies"], json!([]), "{order}");
    // An unsigned fact written after the move does not count.
    write_unsigned_verification(&node, &old_order);
    let (_, order) = node
        .get(&format!("/api/orders/{old_order}"), &node.admin)
        .await;
    assert!(
        order["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "unauthorized_fact"),
        "{order}"
    );
    node.stop().await;
}

/// A 核单 fact written straight into the store without a signature, as nodes wrote facts
/// before they were signed.
fn write_unsigned_verification(node: &TestNode, order_id: &str) {
    use neiqin::domain::facts::{Fact, FactBody, Party};
    use neiqin::domain::record::{ChangeAuthor, RecordOp};
    let office = &node.node.as_ref().unwrap().office;
    let fact = Fact {
        id: neiqin::service::new_id(),
        at: chrono::Utc::now(),
        user: "李娜".into(),
        role: Role::Clerk,
        node: office.identity.node_id.clone(),
        body: FactBody::Verified {
            parties: vec![Party::Salesperson, Party::Customer, Party::Workshop],
            checked: Default::default(),
        },
    };
    let json = serde_json::to_string(&fact).unwrap();
    let author = ChangeAuthor {
        user: "李娜".into(),
        role: "clerk".into(),
        action: "verify (before signing)".into(),
    };
    office
        .store
        .update(order_id, &author, |_| {
            Ok::<_, neiqin::store::StoreError>(vec![RecordOp::AddFact { id: fact.id, json }])
        })
        .expect("written");
}

#[tokio::test]
async fn the_admin_revokes_a_node_with_the_cli_and_each_revocation_numbers_the_list_higher() {
    use neiqin::revocation::SignedRevocations;
    let tmp = tempfile::tempdir().expect("tmp");
    let admin = tmp.path().join("admin");
    let admin_s = admin.to_str().expect("utf-8");
    let (ok, out) = neiqin(&[
        "init", "--data", admin_s, "--name", "总部", "--role", "clerk",
    ]);
    assert!(ok, "{out}");
    let lost = "0123456789abcdef0123456789abcdef";
    let (ok, out) = neiqin(&[
        "node",
        "revoke",
        "--data",
        admin_s,
        lost,
        "--reason",
        "笔记本丢失",
    ]);
    assert!(ok && out.contains("revocation list 1"), "{out}");
    let (ok, out) = neiqin(&["node", "revoke", "--data", admin_s, "ffff0000"]);
    assert!(ok && out.contains("revocation list 2"), "{out}");
    let ca = pki::ClusterCa::load(&admin).unwrap().unwrap();
    let (list, _) = SignedRevocations::load(&admin, ca.cert_pem())
        .unwrap()
        .expect("written");
    assert_eq!(list.number, 2);
    assert!(list.is_revoked(lost) && list.is_revoked("ffff0000"));
    assert_eq!(list.revoked[0].reason, "笔记本丢失");
    // Bad input is named; the admin node cannot revoke itself; a non-admin node cannot revoke.
    let (ok, out) = neiqin(&["node", "revoke", "--data", admin_s, "not-an-id"]);
    assert!(!ok && out.contains("is not a node id"), "{out}");
    let own = pki::NodeCredentials::load(&admin, chrono::Utc::now())
        .unwrap()
        .unwrap()
        .certificate
        .node_id;
    let (ok, out) = neiqin(&["node", "revoke", "--data", admin_s, &own]);
    assert!(!ok && out.contains("cannot revoke itself"), "{out}");
    let other = tmp.path().join("other");
    let other_s = other.to_str().expect("utf-8");
    let (ok, out) = neiqin(&[
        "init",
        "--data",
        other_s,
        "--name",
        "仓库",
        "--role",
        "warehouse",
        "--join",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = neiqin(&["node", "revoke", "--data", other_s, lost]);
    assert!(!ok && out.contains("no cluster CA"), "{out}");
}

#[tokio::test]
async fn an_office_node_refuses_to_import_history_of_roles_it_may_not_author() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("office");
    let dir_s = dir.to_str().expect("utf-8");
    let (ok, out) = neiqin(&["init", "--data", dir_s, "--name", "总部", "--role", "clerk"]);
    assert!(ok, "{out}");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json");
    let (ok, out) = neiqin(&["import", "--data", dir_s, fixtures]);
    assert!(
        !ok && out.contains("does not allow the role") && out.contains("--roles"),
        "{out}"
    );
    // Nothing was written.
    let office = neiqin::node::open_office(&dir, 10).expect("open");
    assert!(office.store.doc_ids(None).expect("ids").is_empty());
}

/// A certificate renewed while the node runs is in force within seconds, without a restart:
/// the roles it adds are the node's, the facts it signs from then on count on its peer, and
/// the link goes on over TLS with it. Between the request and the install the node keeps the
/// key of the certificate in force, so it would still start.
#[tokio::test]
async fn a_certificate_renewed_while_the_node_runs_is_in_force_without_a_restart() {
    let mut net =
        TestNet::start_with_roles(&[Role::BUSINESS.to_vec(), vec![Role::Warehouse]]).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let order = net.nodes[0]
        .order(&customer, crate::harness::three_lines())
        .await;
    let id = order["id"].as_str().unwrap().to_string();
    net.settle(std::time::Duration::from_secs(30)).await;
    let dir = net.nodes[1].data_dir().to_path_buf();
    let dir_s = dir.to_str().unwrap().to_string();
    let finance_user = |name: &str| json!({"name": name, "role": "finance"});
    let admin = net.nodes[1].admin.clone();
    let (status, body) = net.nodes[1]
        .post("/api/users", &admin, finance_user("钱会计"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let key_in_force = std::fs::read(dir.join(pki::NODE_KEY_FILE)).unwrap();
    let (ok, out) = neiqin(&["node", "request", "--data", &dir_s]);
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read(dir.join(pki::NODE_KEY_FILE)).unwrap(),
        key_in_force,
        "the key of the certificate in force stays until the install"
    );
    #[cfg(unix)]
    assert_eq!(mode(&dir.join(pki::NODE_PENDING_KEY_FILE)), 0o600);
    assert!(pki::NodeCredentials::load(&dir, chrono::Utc::now())
        .expect("a restart now still finds a key matching its certificate")
        .is_some());

    let request = std::fs::read_to_string(dir.join(pki::NODE_REQUEST_FILE)).unwrap();
    let renewed = net
        .ca
        .approve(
            &request,
            &[Role::Warehouse, Role::Finance],
            chrono::Utc::now(),
            365,
        )
        .expect("approve");
    let file = dir.with_file_name("renewed.crt");
    std::fs::write(&file, pki::bundle(&renewed, net.ca.cert_pem())).unwrap();
    let (ok, out) = neiqin(&["node", "install", "--data", &dir_s, file.to_str().unwrap()]);
    assert!(
        ok && out.contains("a running node takes it within seconds"),
        "{out}"
    );
    assert!(!dir.join(pki::NODE_PENDING_KEY_FILE).exists());

    // The running node takes it: finance users are now allowed there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let token = loop {
        let (status, body) = net.nodes[1]
            .post("/api/users", &admin, finance_user("钱会计"))
            .await;
        if status == StatusCode::CREATED {
            break body["token"].as_str().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate was not taken: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };

    // A payment signed with the renewed key counts on the office node, with no anomaly.
    let pay = json!({"amount": "1000.00", "date": "2026-11-26", "method": "bank",
                     "payer": "张伟", "bank_ref": "CMB-RENEWED-1"});
    let (status, body) = net.nodes[1]
        .post(&format!("/api/orders/{id}/payments"), &token, pay)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    net.settle(std::time::Duration::from_secs(30)).await;
    let office_admin = net.nodes[0].admin.clone();
    let (_, seen) = net.nodes[0]
        .get(&format!("/api/orders/{id}"), &office_admin)
        .await;
    assert_eq!(seen["paid"], "1000.00", "{seen}");
    let (_, inbox) = net.nodes[0].get("/api/anomalies", &office_admin).await;
    assert!(
        !inbox.to_string().contains("unauthorized_fact"),
        "the renewed node's fact counts: {inbox}"
    );
    net.stop().await;
}
