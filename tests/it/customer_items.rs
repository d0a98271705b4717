//! Removing an item from a customer archive (a contact who left, a closed depot, an old invoice
//! title): `PATCH /api/customers/{id}` with `remove`, a clerk's signed write; an unknown id is a
//! 422 naming it; orders keep what they copied; an item put back without a signed record is an
//! anomaly; one node removing a contact while another edits it ends with the contact removed on
//! both, and no anomaly; and the workbench's 删除 checkbox and 再加一行 button, over HTTP.

use std::time::Duration;

use neiqin::domain::record::RecordOp;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::attestation::{open_anomalies, write_raw};
use crate::flow::{act, into_production};
use crate::harness::{customer_body, three_lines, TestNode};
use crate::testnet::TestNet;
use crate::ui::signed_in;
use crate::ui_customers::item_id;

const SETTLE: Duration = Duration::from_secs(30);

/// An archive with two contacts and two invoice profiles; returns it.
async fn archive(node: &mut TestNode) -> Value {
    let clerk = node.token(Role::Clerk).await;
    let mut body = customer_body("上海红星美凯龙真北店");
    body["contacts"] = json!([
        {"name": "张伟", "role": "店长", "mobile": "13812345678"},
        {"name": "李静", "role": "会计", "mobile": "13987654321"}
    ]);
    body["invoice_profiles"] = json!([
        {"title": "上海真北家居有限公司", "tax_id": "91310000MA1FL12345"},
        {"title": "上海真北家居二店", "tax_id": "91310000MA1FL99999"}
    ]);
    let (status, got) = node.post("/api/customers", &clerk, body).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    got
}

async fn get_customer(node: &TestNode, id: &str) -> Value {
    let (status, got) = node.get(&format!("/api/customers/{id}"), &node.admin).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    got
}

/// The id of the item of `collection` whose `field` is `value`.
fn item_with(customer: &Value, collection: &str, field: &str, value: &str) -> String {
    customer["collections"][collection]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i[field] == value)
        .unwrap_or_else(|| panic!("no {collection} with {field} {value}: {customer}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn names(customer: &Value, collection: &str, field: &str) -> Vec<String> {
    let mut found: Vec<String> = customer["collections"][collection]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap_or("").to_string())
        .collect();
    found.sort();
    found
}

/// `PATCH /api/customers/{id}` as `role`; the answer must have status `expected`.
async fn patched(
    node: &mut TestNode,
    role: Role,
    id: &str,
    body: Value,
    expected: StatusCode,
) -> Value {
    let token = node.token(role).await;
    let (status, got) = node
        .send("PATCH", &format!("/api/customers/{id}"), &token, Some(body))
        .await;
    assert_eq!(status, expected, "{got}");
    got
}

#[tokio::test]
async fn a_clerk_removes_items_by_id_an_unknown_id_is_named_and_orders_keep_what_they_copied() {
    let mut node = TestNode::start().await;
    let customer = archive(&mut node).await;
    let id = customer["id"].as_str().unwrap().to_string();
    let left = item_with(&customer, "contacts", "name", "李静");
    let old_title = item_with(
        &customer,
        "invoice_profiles",
        "title",
        "上海真北家居有限公司",
    );
    // An order copied the invoice title and is verified with it.
    let order = node.order(&id, three_lines()).await;
    let order_id = order["id"].as_str().unwrap().to_string();
    into_production(&mut node, &order_id).await;

    // Finance may not edit archives.
    patched(
        &mut node,
        Role::Finance,
        &id,
        json!({"remove": {"contacts": [left]}}),
        StatusCode::FORBIDDEN,
    )
    .await;
    // An id the archive does not hold: 422 naming it; nothing is removed.
    let got = patched(
        &mut node,
        Role::Clerk,
        &id,
        json!({"remove": {"contacts": [left, "no-such-contact"]}}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(got["errors"][0]["field"], "remove.contacts[1]", "{got}");
    assert!(got.to_string().contains("no-such-contact"), "{got}");
    // Changing and removing one item at once is a contradiction.
    patched(
        &mut node,
        Role::Clerk,
        &id,
        json!({"contacts": [{"id": left, "mobile": "1"}], "remove": {"contacts": [left]}}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        get_customer(&node, &id).await["collections"]["contacts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The contact who left and the old invoice title go, in one signed write.
    let got = patched(
        &mut node,
        Role::Clerk,
        &id,
        json!({"remove": {"contacts": [left], "invoice_profiles": [old_title]}}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&got, "contacts", "name"), ["张伟"]);
    assert_eq!(
        names(&got, "invoice_profiles", "title"),
        ["上海真北家居二店"]
    );
    // A write like any other: no anomaly (no value or item unvouched for).
    assert!(open_anomalies(&node).await.is_empty());
    // Removed twice: the second is named as unknown.
    patched(
        &mut node,
        Role::Clerk,
        &id,
        json!({"remove": {"contacts": [left]}}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // On create there is nothing to remove.
    let clerk = node.token(Role::Clerk).await;
    let mut body = customer_body("杭州居然之家");
    body["remove"] = json!({"contacts": ["x"]});
    let (status, got) = node.post("/api/customers", &clerk, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");

    // The order keeps the title it copied, and is invoiced with it.
    let kept = crate::flow::order(&mut node, &order_id).await;
    assert_eq!(kept["invoice_title"], "上海真北家居有限公司", "{kept}");
    act(
        &mut node,
        Role::Finance,
        &order_id,
        "invoices",
        json!({"number": "INV-RM-1", "title": "上海真北家居有限公司", "amount": "100.00"}),
    )
    .await;
    // A new title must still be one of the archive's.
    let finance = node.token(Role::Finance).await;
    let (status, got) = node
        .post(
            &format!("/api/orders/{order_id}/invoices"),
            &finance,
            json!({"number": "INV-RM-2", "title": "别的抬头", "amount": "100.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");

    // The removed contact put back with its old values, without a signed record: its old
    // hashes vouch for nothing, so it is 未经授权的字段修改.
    write_raw(
        &node,
        &id,
        vec![
            RecordOp::item_field("contacts", &left, "name", "李静"),
            RecordOp::item_field("contacts", &left, "mobile", "13987654321"),
        ],
    );
    let found = open_anomalies(&node).await;
    assert_eq!(found.len(), 2, "{found:?}");
    for a in &found {
        assert_eq!(a["anomaly"]["kind"], "unattested_value", "{a}");
        assert!(
            a["anomaly"]["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("contacts.{left}.")),
            "{a}"
        );
    }
    // The clerk removes it again: signed, the anomaly goes.
    patched(
        &mut node,
        Role::Clerk,
        &id,
        json!({"remove": {"contacts": [left]}}),
        StatusCode::OK,
    )
    .await;
    assert!(open_anomalies(&node).await.is_empty());
    node.stop().await;
}

/// One node removes a contact while another, cut off, edits it. Automerge deletes the item's
/// key, and an edit inside the item does not bring it back: after sync the contact is removed
/// on both nodes, the other edits of that write stay, and neither node shows an anomaly (the
/// removal is signed; the edit's fact saw an item a counted fact removed).
#[tokio::test]
async fn a_contact_removed_on_one_node_while_edited_on_another_stays_removed_on_both() {
    let mut net = TestNet::start(2).await;
    let customer = archive(&mut net.nodes[0]).await;
    let id = customer["id"].as_str().unwrap().to_string();
    let left = item_with(&customer, "contacts", "name", "李静");
    let stays = item_with(&customer, "contacts", "name", "张伟");
    net.settle(SETTLE).await;

    net.partition(&[&[0], &[1]]);
    patched(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        json!({"remove": {"contacts": [left]}}),
        StatusCode::OK,
    )
    .await;
    let got = patched(
        &mut net.nodes[1],
        Role::Clerk,
        &id,
        json!({"city": "苏州", "contacts": [
            {"id": left, "mobile": "13900000000"},
            {"id": stays, "mobile": "13811112222"}
        ]}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(names(&got, "contacts", "name").len(), 2);
    net.heal();
    net.settle(SETTLE).await;

    let mut seen = Vec::new();
    for node in &net.nodes {
        let got = get_customer(node, &id).await;
        assert_eq!(names(&got, "contacts", "name"), ["张伟"], "{got}");
        assert_eq!(names(&got, "contacts", "mobile"), ["13811112222"], "{got}");
        assert_eq!(got["city"], "苏州", "{got}");
        let found = open_anomalies(node).await;
        assert!(found.is_empty(), "{found:?}");
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1]);
    // The node that edited it now holds no such contact: a further edit by id is refused.
    patched(
        &mut net.nodes[1],
        Role::Clerk,
        &id,
        json!({"contacts": [{"id": left, "mobile": "1"}]}),
        StatusCode::CONFLICT,
    )
    .await;
    net.stop().await;
}

/// The number of rows of `collection` on the form with no item id (new rows, typed or blank).
fn blank_rows(body: &str, collection: &str) -> usize {
    let marker = format!("name=\"{collection}.");
    body.match_indices(&marker)
        .filter(|(at, _)| {
            let rest = &body[at + marker.len()..];
            let row_end = rest.find('"').unwrap_or(0);
            rest[..row_end].ends_with(".id") && rest[row_end..].starts_with("\" value=\"\"")
        })
        .count()
}

#[tokio::test]
async fn the_workbench_removes_checked_rows_keeps_what_was_typed_and_adds_a_row() {
    let mut node = TestNode::start().await;
    let customer = archive(&mut node).await;
    let id = customer["id"].as_str().unwrap().to_string();
    let mut clerk = signed_in(&node, "李娜", "clerk").await;
    let edit_path = format!("/ui/customers/{id}/edit");
    let edit = clerk.get(&edit_path).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body.contains("name=\"contacts.0.remove\""),
        "{}",
        edit.body
    );
    assert_eq!(blank_rows(&edit.body, "contacts"), 2);
    let first = item_id(&edit.body, "contacts", 0);
    let second = item_id(&edit.body, "contacts", 1);
    let removed_name = if first == item_with(&customer, "contacts", "name", "李静") {
        "李静"
    } else {
        "张伟"
    };
    let csrf = edit.csrf();

    // 再加一行: the same form with one more blank contact row, what was typed kept, nothing saved.
    let more = clerk
        .post(
            &edit_path,
            &[
                ("csrf", csrf.as_str()),
                ("f_name", "上海红星美凯龙真北店"),
                ("f_city", "无锡"),
                ("contacts.0.id", first.as_str()),
                ("contacts.1.id", second.as_str()),
                ("contacts.2.id", ""),
                ("contacts.2.name", "新来的"),
                ("contacts.3.id", ""),
                ("blanks.contacts", "2"),
                ("more", "contacts"),
            ],
        )
        .await;
    assert_eq!(more.status, StatusCode::OK, "{}", more.body);
    assert!(more.body.contains("value=\"无锡\""));
    assert!(more.body.contains("value=\"新来的\""));
    // The row typed into, then three blank ones.
    assert_eq!(blank_rows(&more.body, "contacts"), 4, "{}", more.body);
    assert!(more.body.contains("name=\"blanks.contacts\" value=\"3\""));
    assert_eq!(blank_rows(&more.body, "depots"), 2);
    assert_eq!(
        get_customer(&node, &id).await["city"],
        "上海",
        "nothing saved"
    );

    // 删除 checked with a credit limit that is no amount: refused beside the field, the box
    // still checked and the typed values kept; nothing removed.
    let form = |credit: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("f_name", "上海红星美凯龙真北店".to_string()),
            ("f_credit_limit", credit.to_string()),
            ("contacts.0.id", first.clone()),
            ("contacts.0.name", removed_name.to_string()),
            ("contacts.0.remove", "1".to_string()),
            ("contacts.1.id", second.clone()),
            ("contacts.2.id", String::new()),
            ("contacts.2.name", "赵新".to_string()),
            ("contacts.2.mobile", "13600001111".to_string()),
        ]
    };
    let fields = form("五万");
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = clerk.post(&edit_path, &pairs).await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);
    assert!(refused.body.contains("id=\"error-credit_limit\""));
    assert!(
        refused
            .body
            .contains("name=\"contacts.0.remove\" value=\"1\" checked"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"13600001111\""));
    assert_eq!(
        get_customer(&node, &id).await["collections"]["contacts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let fields = form("50000");
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = clerk.post(&edit_path, &pairs).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let got = get_customer(&node, &id).await;
    let mut expected: Vec<String> = ["张伟", "李静", "赵新"]
        .iter()
        .filter(|n| **n != removed_name)
        .map(|n| n.to_string())
        .collect();
    expected.sort();
    assert_eq!(names(&got, "contacts", "name"), expected, "{got}");
    assert_eq!(got["credit_limit"], "50000");
    assert!(open_anomalies(&node).await.is_empty());
    node.stop().await;
}
