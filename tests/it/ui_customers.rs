//! 客户 in the workbench: the archive list searched by name, code and pinyin initials, a page at
//! a time; a customer's page with its archive (contacts, addresses with market, floor and unit,
//! depots, invoice profiles, terms and credit), its orders and receivables, and the duplicate
//! archive made on another node linked once the nodes have synced.

use std::time::Duration;

use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{customer_body, TestNode};
use crate::receivables::{customer_on_terms, shipped_order};
use crate::testnet::TestNet;
use crate::ui::signed_in;

const SETTLE: Duration = Duration::from_secs(30);

/// A customer unlike `customer_body`'s (its own code, tax id and mobile); returns its id.
async fn distinct_customer(node: &mut TestNode, name: &str, code: &str) -> String {
    let clerk = node.token(Role::Clerk).await;
    let mut body = customer_body(name);
    body["code"] = json!(code);
    body["tax_id"] = json!(format!("TAX-{code}"));
    body["contacts"] = json!([{"name": "赵敏", "mobile": format!("139{code}")}]);
    let (status, got) = node.post("/api/customers", &clerk, body).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    got["id"].as_str().unwrap().to_string()
}

/// Links to customers' pages (新建客户 is no customer).
fn links_to_customers(body: &str) -> usize {
    body.matches("href=\"/ui/customers/").count()
        - body.matches("href=\"/ui/customers/new\"").count()
}

#[tokio::test]
async fn the_customer_list_searches_by_name_code_and_initials_a_page_at_a_time() {
    let mut node = TestNode::start().await;
    let xinhua = distinct_customer(&mut node, "北京鑫华家具", "BJ-001").await;
    let binhai = distinct_customer(&mut node, "天津滨海家居", "TJ-001").await;
    for i in 0..50 {
        distinct_customer(&mut node, &format!("测试门店{i:02}"), &format!("T{i:04}")).await;
    }
    let mut clerk = signed_in(&node, "李娜", "clerk").await;
    let home = clerk.get("/").await;
    assert!(home.body.contains("href=\"/ui/customers\""), "nav link");

    for q in ["bjxh", "鑫华", "BJ-001"] {
        let found = clerk
            .get(&format!("/ui/customers?q={}", urlencode(q)))
            .await;
        assert_eq!(found.status, StatusCode::OK);
        assert!(
            found.body.contains(&format!("/ui/customers/{xinhua}")),
            "{q}: {}",
            found.body
        );
        assert!(!found.body.contains(&binhai), "{q}");
        assert_eq!(links_to_customers(&found.body), 1, "{q}");
        assert!(found.body.contains(&format!("value=\"{q}\"")), "keeps {q}");
    }
    let none = clerk.get("/ui/customers?q=zzzz").await;
    assert!(none.body.contains("没有找到“zzzz”"), "{}", none.body);

    // 52 archives: 50 on the first page, the other 2 after 下一页.
    let first = clerk.get("/ui/customers").await;
    assert_eq!(links_to_customers(&first.body), 50);
    let marker = "id=\"next-page\"";
    assert!(first.body.contains(marker), "{}", first.body);
    let href_start = first.body[..first.body.find(marker).unwrap()]
        .rfind("href=\"")
        .unwrap()
        + 6;
    let href = &first.body[href_start..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let second = clerk.get(&href).await;
    assert_eq!(second.status, StatusCode::OK, "{href}");
    assert_eq!(links_to_customers(&second.body), 2, "{}", second.body);
    assert!(!second.body.contains(marker));
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_customer_page_shows_archive_orders_receivables_and_the_duplicate_from_another_node() {
    let mut net = TestNet::start(2).await;
    let id = customer_on_terms(&mut net.nodes[0], "上海真北家居", "月结30天").await;
    let order = shipped_order(&mut net.nodes[0], &id).await;
    // The same customer typed again on the other node (same code, tax id and mobile).
    let again = net.nodes[1].customer("上海真北家居（新）").await;
    net.settle(SETTLE).await;

    let mut clerk = signed_in(&net.nodes[1], "李娜", "clerk").await;
    let page = clerk.get(&format!("/ui/customers/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    for expected in [
        "<h1>上海真北家居</h1>",
        "<dt>付款条件</dt><dd>月结30天</dd>",
        "<dt>信用额度</dt><dd>¥1,000,000.00</dd>",
        // Address: market, street, floor, unit.
        "<td>红星美凯龙真北店</td><td>真北路1108号</td><td>3F</td><td>A3012</td>",
        "<td>张伟</td><td>店长</td><td>13812345678</td>",
        "佳吉快运上海普陀部",
        "<td>上海真北家居有限公司</td><td>91310000MA1FL12345</td><td>工行真北支行</td>",
        "<td class=\"money\">¥9,828.49</td>",
        "已发货",
    ] {
        assert!(body.contains(expected), "{expected} in {body}");
    }
    assert!(body.contains(&format!("href=\"/ui/orders/{order}\"")));
    let duplicates = &body[body.find("id=\"duplicates\"").expect("duplicates")..];
    assert!(
        duplicates.contains(&format!("href=\"/ui/customers/{again}\"")),
        "{duplicates}"
    );
    // And the other way round, on the node that made the order.
    let mut other = signed_in(&net.nodes[0], "王芳", "clerk").await;
    let page = other.get(&format!("/ui/customers/{again}")).await;
    assert!(
        page.body.contains(&format!("href=\"/ui/customers/{id}\"")),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("id=\"customer-orders\""),
        "no orders of its own"
    );
    let missing = other.get("/ui/customers/no-such-customer").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    net.stop().await;
}

/// The value of the hidden input naming row `row`'s item id in `collection`.
pub(crate) fn item_id(body: &str, collection: &str, row: usize) -> String {
    let marker = format!("name=\"{collection}.{row}.id\" value=\"");
    let start = body.find(&marker).expect("the row's id") + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

/// 新建客户 and 编辑档案: a clerk types an archive on the office node (errors beside their
/// fields, what was typed kept; the dealer named by its name), another clerk edits it on the
/// other node (a contact changed in place, one added in a blank row), and both nodes hold the
/// result after sync; finance may not open the form.
#[tokio::test]
async fn a_clerk_creates_a_customer_archive_and_another_edits_it_on_another_node() {
    let mut net = TestNet::start(2).await;
    let mut dealer = customer_body("华东家居经销有限公司");
    dealer["kind"] = json!("dealer");
    dealer["code"] = json!("D-001");
    let clerk_token = net.nodes[0].token(Role::Clerk).await;
    let (status, dealer) = net.nodes[0]
        .post("/api/customers", &clerk_token, dealer)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dealer}");
    let mut clerk = signed_in(&net.nodes[0], "李娜", "clerk").await;
    let list = clerk.get("/ui/customers").await;
    assert!(list.body.contains("id=\"new-customer\""), "{}", list.body);
    let csrf = clerk.get("/ui/customers/new").await.csrf();
    let form = |name: &'static str, credit: &'static str, dealer: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("f_name", name.to_string()),
            ("f_code", "S-900".to_string()),
            ("f_kind", "store".to_string()),
            ("f_dealer", dealer.to_string()),
            ("f_city", "杭州".to_string()),
            ("f_credit_limit", credit.to_string()),
            ("contacts.0.id", String::new()),
            ("contacts.0.name", "王店长".to_string()),
            ("contacts.0.mobile", "13700001111".to_string()),
            ("contacts.1.id", String::new()),
            ("contacts.1.name", String::new()),
            ("addresses.0.id", String::new()),
            ("addresses.0.market", "杭州居然之家".to_string()),
            ("addresses.0.floor", "2F".to_string()),
        ]
    };
    let post = |fields: &Vec<(&'static str, String)>| {
        fields
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect::<Vec<_>>()
    };

    // No name and a credit limit that is no amount: both said beside their fields.
    let fields = post(&form(" ", "五万", ""));
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = clerk.post("/ui/customers/new", &pairs).await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"error-name\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"error-credit_limit\""));
    assert!(refused.body.contains("value=\"13700001111\""), "typed kept");
    // A dealer nobody has: refused, naming it.
    let fields = post(&form("杭州居然之家王店", "50000", "不存在的经销商"));
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = clerk.post("/ui/customers/new", &pairs).await;
    assert!(
        refused.body.contains("找不到经销商「不存在的经销商」"),
        "{}",
        refused.body
    );

    let fields = post(&form("杭州居然之家王店", "50000", "华东家居经销有限公司"));
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let created = clerk.post("/ui/customers/new", &pairs).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let id = created.location().rsplit('/').next().unwrap().to_string();
    let (_, archive) = net.nodes[0]
        .get(&format!("/api/customers/{id}"), &clerk_token)
        .await;
    assert_eq!(archive["credit_limit"], "50000", "{archive}");
    assert_eq!(archive["dealer"], dealer["id"], "{archive}");
    assert_eq!(
        archive["collections"]["contacts"].as_array().map(Vec::len),
        Some(1),
        "blank rows left out: {archive}"
    );
    assert_eq!(archive["collections"]["addresses"][0]["floor"], "2F");
    net.settle(SETTLE).await;

    // Another clerk on the other node: the form holds the archive, a contact changes in place
    // and a new one goes into the first blank row.
    let mut other = signed_in(&net.nodes[1], "周内勤", "clerk").await;
    let page = other.get(&format!("/ui/customers/{id}")).await;
    assert!(page.body.contains("id=\"edit-customer\""), "{}", page.body);
    let edit = other.get(&format!("/ui/customers/{id}/edit")).await;
    assert!(
        edit.body.contains("value=\"华东家居经销有限公司\""),
        "{}",
        edit.body
    );
    let contact = item_id(&edit.body, "contacts", 0);
    assert!(!contact.is_empty());
    let csrf = edit.csrf();
    let changed = other
        .post(
            &format!("/ui/customers/{id}/edit"),
            &[
                ("csrf", csrf.as_str()),
                ("f_name", "杭州居然之家王店"),
                ("f_city", "宁波"),
                ("f_dealer", "D-001"),
                ("contacts.0.id", contact.as_str()),
                ("contacts.0.name", "王店长"),
                ("contacts.0.mobile", "13700002222"),
                ("contacts.1.id", ""),
                ("contacts.1.name", "钱会计"),
                ("contacts.1.mobile", "13700003333"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    net.settle(SETTLE).await;
    let (_, archive) = net.nodes[0]
        .get(&format!("/api/customers/{id}"), &clerk_token)
        .await;
    assert_eq!(archive["city"], "宁波", "{archive}");
    let contacts = archive["collections"]["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 2, "{archive}");
    let first = contacts
        .iter()
        .find(|c| c["id"] == contact.as_str())
        .unwrap();
    assert_eq!(first["mobile"], "13700002222");
    assert_eq!(archive["dealer"], dealer["id"], "unchanged, named by code");

    let mut finance = signed_in(&net.nodes[0], "钱财务", "finance").await;
    assert_eq!(
        finance.get("/ui/customers/new").await.status,
        StatusCode::FORBIDDEN
    );
    assert!(!finance
        .get("/ui/customers")
        .await
        .body
        .contains("id=\"new-customer\""));
    net.stop().await;
}
