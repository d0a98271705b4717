//! Realistic request bodies (the same shapes as tests/it/harness.rs) and a fast generator that
//! writes a store directly through the service layer, without HTTP.

use anyhow::Context;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use neiqin::domain::customer::CustomerInput;
use neiqin::domain::facts::Party;
use neiqin::domain::order::{LineInput, NewOrder};
use neiqin::domain::role::Role;
use neiqin::service::User;

use super::progress;

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

pub fn order_body(customer_id: &str) -> Value {
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
        "lines": [
            {"sku": "SF-2108", "spec": "三人位沙发 2200x950x850mm", "quantity": "3", "unit": "套", "unit_price": "1333.33"},
            {"sku": "BD-1806", "spec": "1.8m 实木床", "quantity": "1", "unit": "张", "unit_price": "4580.00"},
            {"sku": "CH-0301", "spec": "餐椅", "quantity": "4", "unit": "把", "unit_price": "312.1250"}
        ]
    })
}

fn s(v: &str) -> String {
    v.to_string()
}

fn item(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (s(k), s(v))).collect()
}

fn customer_input(i: usize) -> CustomerInput {
    let code = format!("SH-{i:04}");
    let header = item(&[
        ("code", &code),
        ("name", &format!("上海真北家居{i}号店")),
        ("kind", "store"),
        ("province", "上海"),
        ("city", "上海"),
        ("region", "East"),
        ("channel", "专卖店"),
        ("owner", "王磊"),
        ("tax_id", "91310000MA1FL12345"),
    ]);
    let mut collections = BTreeMap::new();
    collections.insert(
        s("contacts"),
        vec![item(&[
            ("name", "张伟"),
            ("role", "店长"),
            ("mobile", "13812345678"),
            ("qq", "123456789"),
        ])],
    );
    collections.insert(
        s("addresses"),
        vec![item(&[
            ("market", "红星美凯龙真北店"),
            ("street", "真北路1108号"),
            ("floor", "3F"),
            ("unit", "A3012"),
            ("receiver", "张伟"),
            ("phone", "13812345678"),
        ])],
    );
    collections.insert(
        s("depots"),
        vec![item(&[
            ("name", "佳吉快运上海普陀部"),
            ("city", "上海"),
            ("phone", "021-52345678"),
            ("payer", "customer"),
        ])],
    );
    collections.insert(
        s("invoice_profiles"),
        vec![item(&[
            ("title", "上海真北家居有限公司"),
            ("tax_id", "91310000MA1FL12345"),
            ("bank", "工行真北支行"),
        ])],
    );
    CustomerInput {
        header,
        collections,
        ..CustomerInput::default()
    }
}

fn dec(v: &str) -> Decimal {
    Decimal::from_str(v).expect("decimal literal")
}

fn line(sku: &str, spec: &str, quantity: &str, unit: &str, price: &str) -> LineInput {
    LineInput {
        sku: s(sku),
        spec: s(spec),
        quantity: dec(quantity),
        unit: s(unit),
        unit_price: dec(price),
    }
}

fn new_order(i: usize, customer_id: &str, code: &str) -> NewOrder {
    NewOrder {
        customer_id: s(customer_id),
        project: format!("朱先生 旭辉城2-1-{:04}", i % 10_000),
        store: s(code),
        salesperson: s("王磊"),
        tax_included: true,
        tax_rate: dec("0.13"),
        invoice_title: s("上海真北家居有限公司"),
        deposit: dec("1200.00"),
        contract: String::new(),
        ship_address: s("真北路1108号 3F A3012"),
        receiver: s("张伟"),
        receiver_phone: s("13812345678"),
        promised_ship_date: chrono::NaiveDate::from_ymd_opt(2026, 12, 20),
        note: String::new(),
        lines: vec![
            line("SF-2108", "三人位沙发 2200x950x850mm", "3", "套", "1333.33"),
            line("BD-1806", "1.8m 实木床", "1", "张", "4580.00"),
            line("CH-0301", "餐椅", "4", "把", "312.1250"),
        ],
    }
}

/// A store written by `generate`, closed again.
pub struct Generated {
    pub order_ids: Vec<String>,
    /// The order written last; B merges in A's feed order, so B has everything once it has it.
    pub last_doc: String,
    pub admin_token: String,
    pub clerk_token: String,
    pub verified: usize,
    pub approved: usize,
    pub secs: f64,
}

/// Initialises a company's first node in `dir` (it holds the cluster CA) and writes `n` orders
/// with 3 lines each: a third verified (核单), a fifteenth of all also approved. Flushes and
/// closes.
pub fn generate(dir: &Path, name: &str, n: usize) -> anyhow::Result<Generated> {
    let started = Instant::now();
    let init = neiqin::node::init_node(dir, name, Role::Clerk, neiqin::node::Joining::No, 2000)
        .with_context(|| format!("init {}", dir.display()))?;
    let office = init.office;
    let admin_token = super::read_token(dir)?;
    let clerk_token = office.add_user("bench-clerk", Role::Clerk)?;
    let clerk = User {
        name: s("bench-clerk"),
        role: Role::Clerk,
    };
    let supervisor = User {
        name: s("bench-supervisor"),
        role: Role::Supervisor,
    };
    let customers = (n / 100).clamp(5, 1000);
    let mut customer_ids = Vec::with_capacity(customers);
    for i in 0..customers {
        let c = office.create_customer(&clerk, customer_input(i))?;
        customer_ids.push((c.id.clone(), format!("SH-{i:04}")));
    }
    // Two writers: the store serialises the writes themselves, but validation, the customer
    // lookup and the views built around each write overlap on the second core.
    let threads = std::env::var("NEIQIN_BENCH_GEN_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2usize)
        .max(1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<anyhow::Result<(Vec<String>, usize, usize)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (office, clerk, supervisor, customer_ids, done) =
                    (&office, &clerk, &supervisor, &customer_ids, &done);
                scope.spawn(move || -> anyhow::Result<(Vec<String>, usize, usize)> {
                    let mut ids = Vec::with_capacity(n / threads + 1);
                    let (mut verified, mut approved) = (0, 0);
                    let mut last_report = Instant::now();
                    for i in (t..n).step_by(threads) {
                        let (cid, code) = &customer_ids[i % customers];
                        let view = office.create_order(clerk, new_order(i, cid, code))?;
                        if i % 3 == 1 {
                            office.verify(
                                clerk,
                                &view.id,
                                vec![Party::Salesperson, Party::Customer, Party::Workshop],
                                BTreeMap::new(),
                            )?;
                            verified += 1;
                            if i % 15 == 1 {
                                office.approve(supervisor, &view.id, s("ok"))?;
                                approved += 1;
                                verified -= 1;
                            }
                        }
                        ids.push(view.id);
                        let total = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if t == 0 && last_report.elapsed().as_secs() >= 10 {
                            last_report = Instant::now();
                            let secs = started.elapsed().as_secs_f64();
                            progress!(
                                "generating {name}: {total}/{n} orders, {:.0}/s",
                                total as f64 / secs
                            );
                        }
                    }
                    Ok((ids, verified, approved))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("generator panicked")))
            })
            .collect()
    });
    let mut order_ids = Vec::with_capacity(n);
    let (mut verified, mut approved) = (0, 0);
    for part in parts {
        let (ids, v, a) = part?;
        order_ids.extend(ids);
        verified += v;
        approved += a;
    }
    // The document written last (highest feed position): a peer that has it has everything.
    let last_seq = office.store.last_seq();
    let last_doc = office
        .store
        .feed_since(last_seq.saturating_sub(1), last_seq, 1)?
        .into_iter()
        .next()
        .map(|(_, doc)| doc)
        .context("the feed has the last write")?;
    office.store.flush()?;
    drop(office);
    // As `neiqin import` does: checkpoint, so the node's first start does not replay the log.
    neiqin::node::checkpoint(dir)?;
    let secs = started.elapsed().as_secs_f64();
    progress!(
        "generated {name}: {n} orders ({verified} verified, {approved} approved), {customers} customers in {secs:.1}s ({:.0} orders/s)",
        n as f64 / secs
    );
    Ok(Generated {
        order_ids,
        last_doc,
        admin_token,
        clerk_token,
        verified,
        approved,
        secs,
    })
}

/// Initialises a node in `dir` that joins the company of the first node in `admin_dir`: its
/// request approved there with every business role, and the certificate installed (as
/// `init --join`, `node approve`, `node install` do).
pub fn join(dir: &Path, name: &str, admin_dir: &Path) -> anyhow::Result<()> {
    use neiqin::pki;
    let init = neiqin::node::init_node(dir, name, Role::Clerk, neiqin::node::Joining::Yes, 100)
        .with_context(|| format!("init {}", dir.display()))?;
    let node_id = init.office.identity.node_id.clone();
    drop(init);
    let ca = pki::ClusterCa::load(admin_dir)?
        .with_context(|| format!("no cluster CA in {}", admin_dir.display()))?;
    let request = pki::read_file(&dir.join(pki::NODE_REQUEST_FILE))?;
    let now = chrono::Utc::now();
    let cert = ca.approve(&request, &Role::BUSINESS, now, pki::NODE_VALIDITY_DAYS)?;
    pki::NodeCredentials::install(dir, &node_id, &cert, ca.cert_pem(), now)?;
    Ok(())
}
