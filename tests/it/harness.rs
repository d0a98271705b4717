//! Test harness: `TestNode` runs one real node in this process; `body` helpers build realistic
//! requests. Every wait is bounded by a timeout; nothing sleeps as an assertion.

use neiqin::config::Config;
use neiqin::domain::role::Role;
use neiqin::node::{self, RunningNode};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

pub struct TestNode {
    // Keeps the directory alive for the node's whole life (and across restarts).
    _tmp: Option<tempfile::TempDir>,
    pub node: Option<RunningNode>,
    pub base: String,
    pub admin: String,
    tokens: HashMap<Role, String>,
    client: reqwest::Client,
    config: Config,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// Logs to stderr when NEIQIN_TEST_LOG is set (for example `neiqin=debug`).
pub fn init_log() {
    if let Ok(filter) = std::env::var("NEIQIN_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Initialises `config`'s data directory as a node joining the company of `ca`, its request
/// approved with `roles` and the certificate installed.
pub fn join(config: &Config, ca: &neiqin::pki::ClusterCa, roles: &[Role]) {
    use neiqin::pki;
    let init = node::init_node_with_roles(
        &config.data_dir,
        &config.name,
        config.role,
        node::Joining::Yes,
        roles,
        100,
    )
    .expect("init --join");
    let node_id = init.office.identity.node_id.clone();
    drop(init);
    let request = pki::read_file(&config.data_dir.join(pki::NODE_REQUEST_FILE)).expect("request");
    let now = chrono::Utc::now();
    let cert = ca
        .approve(&request, roles, now, pki::NODE_VALIDITY_DAYS)
        .expect("approve");
    pki::NodeCredentials::install(&config.data_dir, &node_id, &cert, ca.cert_pem(), now)
        .expect("install");
}

impl TestNode {
    pub async fn start() -> TestNode {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = Config::local(tmp.path().join("data"));
        Self::start_with(config, Some(tmp)).await
    }

    pub async fn start_with(config: Config, tmp: Option<tempfile::TempDir>) -> TestNode {
        init_log();
        let running = node::start(config.clone()).await.expect("node starts");
        let admin = std::fs::read_to_string(config.data_dir.join(node::ADMIN_TOKEN_FILE))
            .expect("admin token written on first start")
            .trim()
            .to_string();
        TestNode {
            _tmp: tmp,
            base: format!("http://{}", running.api_addr),
            node: Some(running),
            admin,
            tokens: HashMap::new(),
            client: client(),
            config,
        }
    }

    /// A node that joined the company of `ca` with a certificate naming `roles` (as
    /// `neiqin init --join`, `neiqin node approve` and `neiqin node install` do), started.
    pub async fn start_joined(
        config: Config,
        tmp: Option<tempfile::TempDir>,
        ca: &neiqin::pki::ClusterCa,
        roles: &[Role],
    ) -> TestNode {
        join(&config, ca, roles);
        TestNode::start_with(config, tmp).await
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// Stops the node cleanly and starts it again on the same data directory.
    pub async fn restart(&mut self) {
        if let Some(running) = self.node.take() {
            running.shutdown().await.expect("clean shutdown");
        }
        let running = node::start(self.config.clone())
            .await
            .expect("node restarts");
        self.base = format!("http://{}", running.api_addr);
        self.node = Some(running);
    }

    /// A token for a user of `role` on this node (created on first use).
    pub async fn token(&mut self, role: Role) -> String {
        if role == Role::Admin {
            return self.admin.clone();
        }
        if let Some(t) = self.tokens.get(&role) {
            return t.clone();
        }
        let (status, body) = self
            .send(
                "POST",
                "/api/users",
                &self.admin.clone(),
                Some(json!({"name": format!("{role}-user"), "role": role.as_str()})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = body["token"].as_str().expect("token").to_string();
        self.tokens.insert(role, token.clone());
        token
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request reaches the node");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send("GET", path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send("POST", path, token, Some(body)).await
    }

    /// Sends raw bytes with a content type, for malformed-input tests.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value, String) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request reaches the node");
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ct,
        )
    }

    /// Posts `body` to `path` as a user of `role`; the answer must have status `expected`.
    pub async fn post_as(
        &mut self,
        role: Role,
        path: &str,
        body: Value,
        expected: StatusCode,
    ) -> Value {
        let token = self.token(role).await;
        let (status, got) = self.post(path, &token, body).await;
        assert_eq!(status, expected, "{role} {path}: {got}");
        got
    }

    /// Creates a customer as a clerk; returns its id.
    pub async fn customer(&mut self, name: &str) -> String {
        let clerk = self.token(Role::Clerk).await;
        let (status, body) = self
            .post("/api/customers", &clerk, customer_body(name))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Creates an order as a clerk; returns the whole order.
    pub async fn order(&mut self, customer_id: &str, lines: Value) -> Value {
        let clerk = self.token(Role::Clerk).await;
        let (status, body) = self
            .post("/api/orders", &clerk, order_body(customer_id, lines))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn order_count(&self) -> u64 {
        let (_, status) = self.get("/api/status", &self.admin).await;
        status["orders"].as_u64().unwrap_or(0)
    }

    /// Imports `fixtures/demo.json` into this running node.
    pub fn import_demo(&self) -> neiqin::import::DataSet {
        let office = &self.node.as_ref().expect("running").office;
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json"))
            .expect("demo data");
        let set = neiqin::import::parse(&bytes).expect("demo data parses");
        neiqin::import::import(office, &set, |_, _| {}).expect("demo data imports");
        set
    }

    /// Waits until this node holds attachment `hash` (fetched from a peer after a sync), at most
    /// `timeout`; returns its bytes.
    pub async fn wait_for_attachment(&self, hash: &str, timeout: std::time::Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let resp = self
                .client
                .get(format!("{}/api/attachments/{hash}", self.base))
                .bearer_auth(&self.admin)
                .send()
                .await
                .expect("request reaches the node");
            if resp.status() == StatusCode::OK {
                return resp.bytes().await.expect("body").to_vec();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "attachment {hash} never arrived"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.node.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }
}

pub fn customer_body(name: &str) -> Value {
    json!({
        "code": "SH-001",
        "name": name,
        "kind": "store",
        "province": "上海",
        "city": "上海",
        "region": "East",
        "channel": "专卖店",
        "owner": "王磊",
        "tax_id": "91310000MA1FL12345",
        "contacts": [{"name": "张伟", "role": "店长", "mobile": "13812345678", "qq": "123456789"}],
        "addresses": [{"market": "红星美凯龙真北店", "street": "真北路1108号", "floor": "3F", "unit": "A3012", "receiver": "张伟", "phone": "13812345678"}],
        "depots": [{"name": "佳吉快运上海普陀部", "city": "上海", "phone": "021-52345678", "payer": "customer"}],
        "invoice_profiles": [{"title": "上海真北家居有限公司", "tax_id": "91310000MA1FL12345", "bank": "工行真北支行"}]
    })
}

pub fn order_body(customer_id: &str, lines: Value) -> Value {
    json!({
        "customer_id": customer_id,
        "project": "朱先生 旭辉城2-1-2001",
        "salesperson": "王磊",
        "tax_included": true,
        "tax_rate": "0.13",
        "invoice_title": "上海真北家居有限公司",
        "deposit": "1200.00",
        "ship_to": {"address": "真北路1108号 3F A3012", "receiver": "张伟", "phone": "13812345678"},
        "promised_ship_date": "2026-12-20",
        "lines": lines
    })
}

/// Three lines, one of them the 3 x 1333.33 rounding trap.
pub fn three_lines() -> Value {
    json!([
        {"sku": "SF-2108", "spec": "三人位沙发 2200x950x850mm", "quantity": "3", "unit": "套", "unit_price": "1333.33"},
        {"sku": "BD-1806", "spec": "1.8m 实木床", "quantity": "1", "unit": "张", "unit_price": "4580.00"},
        {"sku": "CH-0301", "spec": "餐椅", "quantity": "4", "unit": "把", "unit_price": "312.1250"}
    ])
}
