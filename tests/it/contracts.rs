//! Contracts (合同): drafted by a clerk, reviewed by the supervisor, approved by the VP, signed
//! and filed; a change after submission is a new version reviewed again while the earlier ones
//! stay readable; orders name their contract (by number or id) and the contract shows what they
//! used; lists by state, customer, expiring soon and expired; role refusals and bad input; and
//! across two nodes: approved at the office, signed and the order taken at a branch, the used
//! amount and a forged step seen on both.

use std::time::Duration;

use chrono::{Days, NaiveDate};
use neiqin::domain::facts::FactBody;
use neiqin::domain::role::Role;
use neiqin::service::{ServiceError, User};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{order_body, three_lines, TestNode};
use crate::testnet::TestNet;

const SETTLE: Duration = Duration::from_secs(30);
/// The gross of `three_lines` (tax included).
pub(crate) const THREE_LINES_GROSS: &str = "9828.49";

pub(crate) fn today() -> NaiveDate {
    neiqin::domain::report::business_day(chrono::Utc::now())
}

pub(crate) fn plus(days: u64) -> String {
    (today() + Days::new(days)).to_string()
}

pub(crate) fn minus(days: u64) -> String {
    (today() - Days::new(days)).to_string()
}

pub(crate) fn draft_body(customer: &str, amount: &str, from: &str, to: &str) -> Value {
    json!({"customer_id": customer, "party_b": "上海内勤家具有限公司", "amount": amount,
           "terms": "货到30天内付清；质保一年", "valid_from": from, "valid_to": to})
}

pub(crate) async fn draft(node: &mut TestNode, body: Value) -> Value {
    let clerk = node.token(Role::Clerk).await;
    let (status, got) = node.post("/api/contracts", &clerk, body).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    got
}

/// A step on a contract that must succeed.
pub(crate) async fn step(
    node: &mut TestNode,
    role: Role,
    id: &str,
    action: &str,
    body: Value,
) -> Value {
    let path = format!("/api/contracts/{id}/{action}");
    node.post_as(role, &path, body, StatusCode::OK).await
}

/// A step on a contract that must be refused with `expected`.
async fn refused(
    node: &mut TestNode,
    role: Role,
    id: &str,
    action: &str,
    body: Value,
    expected: StatusCode,
) -> Value {
    let path = format!("/api/contracts/{id}/{action}");
    node.post_as(role, &path, body, expected).await
}

pub(crate) async fn patch(node: &mut TestNode, id: &str, body: Value) -> (StatusCode, Value) {
    let clerk = node.token(Role::Clerk).await;
    node.send("PATCH", &format!("/api/contracts/{id}"), &clerk, Some(body))
        .await
}

/// Submitted, reviewed, approved and signed today.
pub(crate) async fn through_to_signed(node: &mut TestNode, id: &str) -> Value {
    step(node, Role::Clerk, id, "submit", json!({})).await;
    step(
        node,
        Role::Supervisor,
        id,
        "review",
        json!({"approved": true}),
    )
    .await;
    step(node, Role::Vp, id, "approve", json!({"approved": true})).await;
    step(
        node,
        Role::Clerk,
        id,
        "sign",
        json!({"signed_on": today().to_string()}),
    )
    .await
}

pub(crate) async fn get_ok(node: &TestNode, path: &str) -> Value {
    let (status, body) = node.get(path, &node.admin).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn listed(node: &TestNode, query: &str) -> Vec<String> {
    let page = get_ok(node, &format!("/api/contracts?{query}")).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["contract"]["id"].as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn id_of(view: &Value) -> String {
    view["id"].as_str().unwrap().to_string()
}

fn kinds(facts: &Value) -> Vec<&str> {
    facts
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect()
}

/// The first field a 422 names.
fn field_named(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or("")
}

/// Takes an order naming `contract`; returns the answer.
pub(crate) async fn order_under(
    node: &mut TestNode,
    customer: &str,
    contract: &str,
) -> (StatusCode, Value) {
    let clerk = node.token(Role::Clerk).await;
    let mut body = order_body(customer, three_lines());
    body["contract"] = json!(contract);
    node.post("/api/orders", &clerk, body).await
}

#[tokio::test]
async fn a_contract_is_drafted_reviewed_approved_signed_and_filed_and_its_orders_use_its_amount() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海红星美凯龙真北店").await;
    let clerk = node.token(Role::Clerk).await;
    let (status, uploaded, _) = node
        .post_raw(
            "/api/attachments",
            &clerk,
            "application/pdf",
            b"%PDF-1.4 contract scan".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let scan = uploaded["hash"].as_str().unwrap().to_string();
    let mut body = draft_body(&customer, "50000.00", &minus(10), &plus(20));
    body["attachments"] = json!([scan]);
    let contract = draft(&mut node, body).await;
    let id = id_of(&contract);
    assert_eq!(contract["state"], "draft");
    assert_eq!(contract["state_label"], "草稿");
    assert_eq!(contract["version"], 1);
    assert_eq!(contract["party_a"], "上海红星美凯龙真北店");
    assert_eq!(contract["amount"], "50000.00");
    assert_eq!(contract["attachments"], json!([scan]));
    let number = contract["number"].as_str().unwrap().to_string();
    assert!(number.contains("-HT"), "{number}");

    // The draft is edited in place: still version 1, nothing recorded.
    let (status, edited) = patch(&mut node, &id, json!({"terms": "货到45天内付清"})).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["version"], 1);
    assert_eq!(edited["terms"], "货到45天内付清");
    assert_eq!(edited["versions"][0]["facts"], json!([]));

    // An order cannot go under a contract not signed yet.
    let (status, got) = order_under(&mut node, &customer, &number).await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    assert!(
        got["detail"].as_str().unwrap().contains("尚未签订"),
        "{got}"
    );
    // Steps out of turn are refused naming where it stands.
    let got = refused(
        &mut node,
        Role::Clerk,
        &id,
        "sign",
        json!({"signed_on": today().to_string()}),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(got["detail"].as_str().unwrap().contains("草稿"), "{got}");

    let submitted = step(&mut node, Role::Clerk, &id, "submit", json!({})).await;
    assert_eq!(submitted["state_label"], "待主管审核");
    assert_eq!(listed(&node, "state=submitted").await, [id.as_str()]);
    let reviewed = step(
        &mut node,
        Role::Supervisor,
        &id,
        "review",
        json!({"approved": true}),
    )
    .await;
    assert_eq!(reviewed["state"], "reviewed");
    assert_eq!(reviewed["state_label"], "待领导审批");
    let approved = step(
        &mut node,
        Role::Vp,
        &id,
        "approve",
        json!({"approved": true}),
    )
    .await;
    assert_eq!(approved["state"], "approved");
    let signed = step(
        &mut node,
        Role::Clerk,
        &id,
        "sign",
        json!({"signed_on": today().to_string()}),
    )
    .await;
    assert_eq!(signed["state"], "signed");
    assert_eq!(signed["signed_version"], 1);
    assert_eq!(signed["in_force_until"], plus(20));
    assert_eq!(signed["days_left"], 20);
    assert_eq!(
        kinds(&signed["versions"][0]["facts"]),
        [
            "contract_submitted",
            "contract_reviewed",
            "contract_approved",
            "contract_signed"
        ]
    );

    // Orders name it by number or by id; either way the order holds the id.
    let (status, by_number) = order_under(&mut node, &customer, &number).await;
    assert_eq!(status, StatusCode::CREATED, "{by_number}");
    assert_eq!(by_number["contract"], id.as_str());
    let (status, by_id) = order_under(&mut node, &customer, &id).await;
    assert_eq!(status, StatusCode::CREATED, "{by_id}");
    let cancelled = id_of(&by_id);
    let vp = node.token(Role::Vp).await;
    let (status, got) = node
        .post(
            &format!("/api/orders/{cancelled}/cancel"),
            &vp,
            json!({"reason": "客户改单"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let view = get_ok(&node, &format!("/api/contracts/{id}")).await;
    let orders = view["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{view}");
    assert_eq!(orders[0]["id"], cancelled.as_str());
    assert_eq!(orders[0]["counts"], false);
    assert_eq!(orders[1]["counts"], true);
    assert_eq!(view["used"], THREE_LINES_GROSS);
    assert_eq!(view["remaining"], "40171.51");

    // An order of another customer may not name it; an existing order may be linked later.
    let other = node.customer("杭州居然之家").await;
    let (status, got) = order_under(&mut node, &other, &number).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");
    assert_eq!(field_named(&got), "contract");
    let later = node.order(&customer, three_lines()).await;
    let later_id = id_of(&later);
    let (status, got) = node
        .send(
            "PATCH",
            &format!("/api/orders/{later_id}"),
            &clerk,
            Some(json!({"contract": number})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["contract"], id.as_str());
    let view = get_ok(&node, &format!("/api/contracts/{id}")).await;
    assert_eq!(view["orders"].as_array().unwrap().len(), 3);
    assert_eq!(view["used"], "19656.98");

    // Expiring within 30 days; not within 10; filed, it stays in force and on the list.
    assert_eq!(listed(&node, "expiring=30").await, [id.as_str()]);
    assert!(listed(&node, "expiring=10").await.is_empty());
    let filed = step(&mut node, Role::Clerk, &id, "archive", json!({})).await;
    assert_eq!(filed["state_label"], "已归档");
    assert_eq!(listed(&node, "state=archived").await, [id.as_str()]);
    assert!(listed(&node, "state=signed").await.is_empty());
    assert_eq!(listed(&node, "expiring=30").await, [id.as_str()]);
    // Seen from 25 days on, it has expired.
    let page = get_ok(
        &node,
        &format!("/api/contracts?state=expired&today={}", plus(25)),
    )
    .await;
    assert_eq!(page["items"][0]["contract"]["id"], id.as_str());
    assert_eq!(page["items"][0]["expired"], true);
    assert_eq!(page["items"][0]["days_left"], -5);
    assert!(listed(&node, "state=expired").await.is_empty());
    // An order already under it keeps it through other changes without a check again.
    let (status, got) = node
        .send(
            "PATCH",
            &format!("/api/orders/{later_id}"),
            &clerk,
            Some(json!({"contract": id, "note": "客户要求周末送货"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    // A filed contract takes no change.
    let (status, got) = patch(&mut node, &id, json!({"amount": "60000", "reason": "加量"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    node.stop().await;
}

#[tokio::test]
async fn a_change_after_submission_is_a_new_version_reviewed_again_and_earlier_versions_stay() {
    let mut node = TestNode::start().await;
    let customer = node.customer("成都富森美家居").await;
    let contract = draft(
        &mut node,
        draft_body(&customer, "80000", &minus(1), &plus(200)),
    )
    .await;
    let id = id_of(&contract);
    step(&mut node, Role::Clerk, &id, "submit", json!({})).await;
    let rejected = step(
        &mut node,
        Role::Supervisor,
        &id,
        "review",
        json!({"approved": false, "reason": "付款条款不清"}),
    )
    .await;
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["state_label"], "已退回");
    assert_eq!(rejected["rejected_reason"], "付款条款不清");
    // A rejected version is not submitted again as it is: it changes into a new version.
    refused(
        &mut node,
        Role::Clerk,
        &id,
        "submit",
        json!({}),
        StatusCode::CONFLICT,
    )
    .await;
    let (status, got) = patch(&mut node, &id, json!({"terms": "预付30%，货到付清"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");
    assert_eq!(field_named(&got), "reason");
    let (status, v2) = patch(
        &mut node,
        &id,
        json!({"terms": "预付30%，货到付清", "reason": "按主管意见修改付款条款"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["state"], "draft");
    assert_eq!(v2["rejected_reason"], Value::Null);
    assert_eq!(v2["versions"][0]["state"], "rejected");
    assert_eq!(
        v2["versions"][0]["content"]["terms"],
        "货到30天内付清；质保一年"
    );
    assert_eq!(
        kinds(&v2["versions"][0]["facts"]),
        ["contract_submitted", "contract_reviewed"]
    );
    assert_eq!(v2["versions"][1]["reason"], "按主管意见修改付款条款");
    assert_eq!(kinds(&v2["versions"][1]["facts"]), ["contract_revised"]);
    assert_eq!(v2["versions"][1]["facts"][0]["user"], "clerk-user");

    let signed = through_to_signed(&mut node, &id).await;
    assert_eq!(signed["signed_version"], 2);
    // Signed, then changed again (a longer validity): version 3 goes through review again,
    // version 2 stays in force meanwhile.
    let (status, v3) = patch(
        &mut node,
        &id,
        json!({"valid_to": plus(400), "amount": "95000.50", "reason": "客户续签延长有效期"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v3}");
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["state"], "draft");
    assert_eq!(v3["amount"], "95000.50");
    assert_eq!(v3["signed_version"], 2);
    assert_eq!(v3["in_force_until"], plus(200));
    assert_eq!(v3["versions"][1]["state"], "signed");
    assert_eq!(v3["versions"][1]["content"]["amount"], "80000.00");
    assert_eq!(v3["versions"].as_array().unwrap().len(), 3);
    assert_eq!(listed(&node, "state=draft").await, [id.as_str()]);
    // The signed version still takes orders.
    let (status, got) = order_under(&mut node, &customer, &id).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    step(&mut node, Role::Clerk, &id, "submit", json!({})).await;
    let rejected = step(
        &mut node,
        Role::Supervisor,
        &id,
        "review",
        json!({"approved": true}),
    )
    .await;
    assert_eq!(rejected["state"], "reviewed");
    let vp_no = step(
        &mut node,
        Role::Vp,
        &id,
        "approve",
        json!({"approved": false, "reason": "金额超出年度框架"}),
    )
    .await;
    assert_eq!(vp_no["state"], "rejected");
    assert_eq!(vp_no["rejected_reason"], "金额超出年度框架");
    assert_eq!(vp_no["signed_version"], 2);
    assert_eq!(vp_no["used"], THREE_LINES_GROSS);
    node.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_roles_are_checked() {
    let mut node = TestNode::start().await;
    let customer = node.customer("北京居然之家").await;
    let clerk = node.token(Role::Clerk).await;
    let cases = [
        (
            draft_body(&customer, "1000", &plus(10), &plus(5)),
            "valid_to",
        ),
        (draft_body(&customer, "-5", &plus(1), &plus(5)), "amount"),
        (draft_body(&customer, "0", &plus(1), &plus(5)), "amount"),
        (
            draft_body(&customer, "10.005", &plus(1), &plus(5)),
            "amount",
        ),
        (
            draft_body("nobody", "1000", &plus(1), &plus(5)),
            "customer_id",
        ),
    ];
    for (body, field) in cases {
        let (status, got) = node.post("/api/contracts", &clerk, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");
        assert_eq!(field_named(&got), field, "{got}");
    }
    let mut body = draft_body(&customer, "1000", &plus(1), &plus(5));
    body["attachments"] = json!(["00".repeat(32)]);
    let (status, got) = node.post("/api/contracts", &clerk, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");
    assert_eq!(field_named(&got), "attachments[0]");
    for field in ["party_b", "party_a", "number"] {
        let mut body = draft_body(&customer, "1000", &plus(1), &plus(5));
        body[field] = json!("   ");
        let (status, got) = node.post("/api/contracts", &clerk, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");
        assert_eq!(field_named(&got), field);
    }

    // Only a clerk drafts; the number is one per node.
    let supervisor = node.token(Role::Supervisor).await;
    let (status, got) = node
        .post(
            "/api/contracts",
            &supervisor,
            draft_body(&customer, "1000", &plus(1), &plus(5)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{got}");
    let mut body = draft_body(&customer, "1000", &minus(30), &minus(1));
    body["number"] = json!("HT-2026-001");
    let expired = draft(&mut node, body.clone()).await;
    let id = id_of(&expired);
    assert_eq!(expired["number"], "HT-2026-001");
    let (status, got) = node.post("/api/contracts", &clerk, body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");

    // Edits after validation are checked too.
    let (status, got) = patch(&mut node, &id, json!({"valid_from": plus(1)})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");
    assert_eq!(field_named(&got), "valid_to");
    let (status, got) = patch(&mut node, &id, json!({"amount": "-1"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");
    assert_eq!(field_named(&got), "amount");
    let (status, got) = node
        .send(
            "PATCH",
            &format!("/api/contracts/{id}"),
            &supervisor,
            Some(json!({"terms": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{got}");

    // Each step is its role's.
    refused(
        &mut node,
        Role::Supervisor,
        &id,
        "submit",
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;
    step(&mut node, Role::Clerk, &id, "submit", json!({})).await;
    for role in [Role::Clerk, Role::Vp, Role::Warehouse, Role::Finance] {
        refused(
            &mut node,
            role,
            &id,
            "review",
            json!({"approved": true}),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let got = refused(
        &mut node,
        Role::Supervisor,
        &id,
        "review",
        json!({"approved": false}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_named(&got), "reason");
    step(
        &mut node,
        Role::Supervisor,
        &id,
        "review",
        json!({"approved": true}),
    )
    .await;
    for role in [Role::Clerk, Role::Supervisor, Role::Finance] {
        refused(
            &mut node,
            role,
            &id,
            "approve",
            json!({"approved": true}),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    step(
        &mut node,
        Role::Vp,
        &id,
        "approve",
        json!({"approved": true}),
    )
    .await;
    let got = refused(
        &mut node,
        Role::Clerk,
        &id,
        "sign",
        json!({"signed_on": plus(1)}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_named(&got), "signed_on");
    for role in [Role::Warehouse, Role::Vp] {
        refused(
            &mut node,
            role,
            &id,
            "sign",
            json!({"signed_on": minus(20)}),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    step(
        &mut node,
        Role::Clerk,
        &id,
        "sign",
        json!({"signed_on": minus(20)}),
    )
    .await;
    refused(
        &mut node,
        Role::Finance,
        &id,
        "archive",
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;

    // Signed but past its last day: expired, and it takes no new order.
    assert_eq!(listed(&node, "state=expired").await, [id.as_str()]);
    assert!(listed(&node, "expiring=30").await.is_empty());
    let (status, got) = order_under(&mut node, &customer, "HT-2026-001").await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    assert!(got["detail"].as_str().unwrap().contains("到期"), "{got}");
    // A text naming no contract stays as typed (numbers from before contracts were kept);
    // an id naming none is a mistake.
    let (status, got) = order_under(&mut node, &customer, "纸质合同 2025-17").await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    assert_eq!(got["contract"], "纸质合同 2025-17");
    let (status, got) = order_under(&mut node, &customer, &"ab".repeat(16)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{got}");
    assert_eq!(field_named(&got), "contract");

    // Lists: bad parameters, unknown contract, filter by customer.
    for query in ["state=lost", "expiring=-1", "limit=0", "cursor=zz"] {
        let (status, got) = node
            .get(&format!("/api/contracts?{query}"), &node.admin)
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {status} {got}"
        );
    }
    let (status, _) = node.get("/api/contracts/nope", &node.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        listed(&node, &format!("customer={customer}")).await,
        [id.as_str()]
    );
    assert!(listed(&node, "customer=someone-else").await.is_empty());
    node.stop().await;
}

#[tokio::test]
async fn approved_at_the_office_signed_and_used_at_the_branch_both_see_the_same_contract() {
    let office = vec![Role::Clerk, Role::Supervisor, Role::Vp];
    let branch = vec![Role::Clerk, Role::Finance];
    let mut net = TestNet::start_with_roles(&[office, branch]).await;
    let customer = net.nodes[0].customer("武汉居然之家店").await;
    let clerk = net.nodes[0].token(Role::Clerk).await;
    let scan = b"%PDF-1.4 signed contract scan".to_vec();
    let (status, uploaded, _) = net.nodes[0]
        .post_raw("/api/attachments", &clerk, "application/pdf", scan.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let hash = uploaded["hash"].as_str().unwrap().to_string();
    let mut body = draft_body(&customer, "30000", &minus(5), &plus(15));
    body["attachments"] = json!([hash]);
    let contract = draft(&mut net.nodes[0], body).await;
    let id = id_of(&contract);
    let number = contract["number"].as_str().unwrap().to_string();
    step(&mut net.nodes[0], Role::Clerk, &id, "submit", json!({})).await;
    step(
        &mut net.nodes[0],
        Role::Supervisor,
        &id,
        "review",
        json!({"approved": true}),
    )
    .await;
    step(
        &mut net.nodes[0],
        Role::Vp,
        &id,
        "approve",
        json!({"approved": true}),
    )
    .await;
    net.settle(SETTLE).await;

    // The branch signs it with the customer and takes an order under it.
    let seen = get_ok(&net.nodes[1], &format!("/api/contracts/{id}")).await;
    assert_eq!(seen["state"], "approved", "{seen}");
    step(
        &mut net.nodes[1],
        Role::Clerk,
        &id,
        "sign",
        json!({"signed_on": today().to_string()}),
    )
    .await;
    let (status, order) = order_under(&mut net.nodes[1], &customer, &number).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    // A filing written straight into the branch's store by its finance user, signed with the
    // branch's real key: finance may not file contracts, so it counts nowhere.
    {
        let office = &net.nodes[1].node.as_ref().unwrap().office;
        let cashier = User {
            name: "出纳".into(),
            role: Role::Finance,
        };
        office
            .store
            .update(&id, &cashier.author("forged filing"), |_| {
                Ok::<_, ServiceError>(vec![office.fact_op(
                    &cashier,
                    &id,
                    FactBody::ContractArchived { version: 1 },
                )?])
            })
            .expect("written straight into the store");
    }
    net.settle(SETTLE).await;

    let mut views = Vec::new();
    for node in &net.nodes {
        let view = get_ok(node, &format!("/api/contracts/{id}")).await;
        assert_eq!(view["state"], "signed", "{view}");
        assert_eq!(view["used"], THREE_LINES_GROSS, "{view}");
        assert_eq!(view["remaining"], "20171.51");
        assert_eq!(view["orders"][0]["id"], order["id"]);
        let anomalies = view["anomalies"].as_array().unwrap();
        assert_eq!(anomalies.len(), 1, "{view}");
        assert_eq!(anomalies[0]["kind"], "unauthorized_fact");
        assert_eq!(listed(node, "expiring=30").await, [id.as_str()]);
        assert_eq!(listed(node, "state=signed").await, [id.as_str()]);
        views.push(view);
    }
    assert_eq!(views[0]["versions"], views[1]["versions"]);
    // The scan travelled with the contract.
    let branch_clerk = net.nodes[1].token(Role::Clerk).await;
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let resp = crate::harness::client()
            .get(format!("{}/api/attachments/{hash}", net.nodes[1].base))
            .bearer_auth(&branch_clerk)
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::OK {
            assert_eq!(resp.bytes().await.unwrap().to_vec(), scan);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scan never arrived"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // The office files it; the branch sees it filed.
    step(&mut net.nodes[0], Role::Clerk, &id, "archive", json!({})).await;
    net.settle(SETTLE).await;
    for node in &net.nodes {
        assert_eq!(listed(node, "state=archived").await, [id.as_str()]);
    }
    net.stop().await;
}

/// The workbench: the supervisor's and the VP's home pages count the contracts waiting for them,
/// the list's tabs hold them, and the contract page offers each role its step only.
#[tokio::test]
async fn the_workbench_shows_each_role_its_contract_queue_and_step() {
    use crate::ui::{user_with_password, PageClient};
    let mut node = TestNode::start().await;
    let customer = node.customer("南京金盛家居").await;
    let contract = draft(
        &mut node,
        draft_body(&customer, "12345.60", &minus(1), &plus(12)),
    )
    .await;
    let id = id_of(&contract);
    let number = contract["number"].as_str().unwrap().to_string();
    step(&mut node, Role::Clerk, &id, "submit", json!({})).await;
    let page_of = format!("/ui/contracts/{id}");
    let act = format!("/ui/contracts/{id}/act");

    let mut pages = std::collections::HashMap::new();
    for (name, role) in [
        ("周主管", "supervisor"),
        ("钱总", "vp"),
        ("李内勤", "clerk"),
    ] {
        user_with_password(&node, name, role, "mima-2026-contract").await;
        let mut client = PageClient::new(&node);
        client.sign_in(name, "mima-2026-contract").await;
        pages.insert(role, client);
    }
    let supervisor = pages.get_mut("supervisor").unwrap();
    let home = supervisor.get("/").await;
    assert!(
        home.body.contains("<span class=\"count\">1</span>待审合同"),
        "{}",
        home.body
    );
    let queue = supervisor.get("/ui/contracts?tab=submitted").await;
    assert!(queue.body.contains(&number), "{}", queue.body);
    assert!(queue.body.contains("¥12,345.60"));
    let detail = supervisor.get(&page_of).await;
    assert!(detail.body.contains("id=\"act-review-approve\""));
    assert!(!detail.body.contains("id=\"act-approve\""));
    let csrf = detail.csrf();
    // A rejection without a reason is refused on the page, in Chinese.
    let refused = supervisor
        .post(&act, &[("csrf", &csrf), ("action", "review-reject")])
        .await;
    assert!(
        refused.body.contains("id=\"form-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("待主管审核"));
    let reviewed = supervisor
        .post(&act, &[("csrf", &csrf), ("action", "review-approve")])
        .await;
    assert!(
        reviewed.body.contains("主管审核已通过"),
        "{}",
        reviewed.body
    );
    assert!(reviewed.body.contains("待领导审批"));

    let vp = pages.get_mut("vp").unwrap();
    let home = vp.get("/").await;
    assert!(
        home.body
            .contains("<span class=\"count\">1</span>待审批合同"),
        "{}",
        home.body
    );
    let detail = vp.get(&page_of).await;
    let csrf = detail.csrf();
    let approved = vp
        .post(&act, &[("csrf", &csrf), ("action", "approve")])
        .await;
    assert!(
        approved.body.contains("领导审批已通过"),
        "{}",
        approved.body
    );

    let clerk = pages.get_mut("clerk").unwrap();
    let detail = clerk.get(&page_of).await;
    assert!(detail.body.contains("id=\"act-sign\""));
    let csrf = detail.csrf();
    let today = today().to_string();
    let signed = clerk
        .post(
            &act,
            &[("csrf", &csrf), ("action", "sign"), ("signed_on", &today)],
        )
        .await;
    assert!(signed.body.contains("已登记签订"), "{}", signed.body);
    assert!(signed.body.contains("还有 12 天"));
    let home = clerk.get("/").await;
    assert!(
        home.body
            .contains("<span class=\"count\">1</span>即将到期合同"),
        "{}",
        home.body
    );
    let expiring = clerk.get("/ui/contracts?tab=expiring").await;
    assert!(expiring.body.contains(&number), "{}", expiring.body);
    assert!(expiring.body.contains("12 天"));
    let expired = clerk.get("/ui/contracts?tab=expired").await;
    assert!(expired.body.contains("id=\"no-contracts\""));
    node.stop().await;
}

/// The demo data's contracts: every order naming one finds it, filed or in the workflow, with
/// the order's gross counted against its amount.
#[tokio::test]
async fn the_demo_contracts_hold_their_orders_and_fill_the_workflow_queues() {
    let node = TestNode::start().await;
    let office = &node.node.as_ref().unwrap().office;
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.json")).unwrap();
    let set = neiqin::import::parse(&bytes).unwrap();
    let counts = neiqin::import::import(office, &set, |_, _| {}).unwrap();
    assert_eq!(counts.contracts, set.contracts.len());
    for state in ["draft", "submitted", "reviewed", "rejected"] {
        assert_eq!(
            listed(&node, &format!("state={state}")).await.len(),
            1,
            "{state}"
        );
    }
    let filed = get_ok(&node, "/api/contracts?state=archived&limit=5").await;
    let rows = filed["items"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(filed["next_cursor"].is_string());
    for row in rows {
        let id = row["contract"]["id"].as_str().unwrap();
        let view = get_ok(&node, &format!("/api/contracts/{id}")).await;
        let orders = view["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 1, "{view}");
        let order = get_ok(
            &node,
            &format!("/api/orders/{}", orders[0]["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(order["contract"], view["number"]);
        if order["status"] != "cancelled" {
            assert_eq!(view["used"], order["totals"]["gross"], "{view}");
        }
        assert_eq!(view["signed_version"], 1);
    }
    node.stop().await;
}

/// A clerk drafts a contract from the workbench, edits the draft, submits it, and a change
/// after that becomes version 2 only with a reason.
#[tokio::test]
async fn a_clerk_drafts_and_changes_a_contract_from_the_workbench() {
    use crate::ui::{user_with_password, PageClient};
    let mut node = TestNode::start().await;
    node.customer("厦门喜盈门家居广场店").await;
    node.customer("厦门喜盈门家居二店").await;
    user_with_password(&node, "王内勤", "clerk", "mima-2026-contract").await;
    let mut clerk = PageClient::new(&node);
    clerk.sign_in("王内勤", "mima-2026-contract").await;
    let list = clerk.get("/ui/contracts").await;
    assert!(list.body.contains("id=\"draft-form\""), "{}", list.body);
    let csrf = list.csrf();
    let form = |customer: &'static str, amount: &'static str| {
        vec![
            ("customer", customer),
            ("party_b", "上海内勤家具有限公司"),
            ("amount", amount),
            ("valid_from", "2026-12-01"),
            ("valid_to", "2027-11-30"),
            ("terms", "货到30天内付清"),
        ]
    };
    // Two customers match: the form comes back with what was typed and why.
    let mut fields = form("喜盈门", "88000");
    fields.push(("csrf", &csrf));
    let ambiguous = clerk.post("/ui/contracts", &fields).await;
    assert!(
        ambiguous.body.contains("id=\"draft-error\""),
        "{}",
        ambiguous.body
    );
    assert!(ambiguous.body.contains("对应多个客户"));
    assert!(ambiguous.body.contains("value=\"88000\""));
    let mut fields = form("厦门喜盈门家居二店", "-1");
    fields.push(("csrf", &csrf));
    let negative = clerk.post("/ui/contracts", &fields).await;
    assert!(negative.body.contains("amount"), "{}", negative.body);
    let mut fields = form("厦门喜盈门家居二店", "¥88,000.00");
    fields.push(("csrf", &csrf));
    let drafted = clerk.post("/ui/contracts", &fields).await;
    assert_eq!(drafted.status, StatusCode::SEE_OTHER, "{}", drafted.body);
    let page_of = drafted.location().to_string();
    let id = page_of.rsplit('/').next().unwrap().to_string();
    let view = get_ok(&node, &format!("/api/contracts/{id}")).await;
    assert_eq!(view["customer_name"], "厦门喜盈门家居二店");
    assert_eq!(view["amount"], "88000.00");

    let page = clerk.get(&page_of).await;
    assert!(page.body.contains("修改草稿"), "{}", page.body);
    let act = format!("/ui/contracts/{id}/act");
    let change = |terms: &'static str, reason: &'static str| {
        vec![
            ("action", "change"),
            ("party_a", "厦门喜盈门家居二店"),
            ("party_b", "上海内勤家具有限公司"),
            ("amount", "88000.00"),
            ("valid_from", "2026-12-01"),
            ("valid_to", "2027-11-30"),
            ("terms", terms),
            ("reason", reason),
        ]
    };
    let mut fields = change("预付30%，余款货到付清", "");
    fields.push(("csrf", &csrf));
    let edited = clerk.post(&act, &fields).await;
    assert!(edited.body.contains("已保存修改"), "{}", edited.body);
    let submitted = clerk
        .post(&act, &[("csrf", &csrf), ("action", "submit")])
        .await;
    assert!(submitted.body.contains("待主管审核"), "{}", submitted.body);
    assert!(submitted.body.contains("形成新版本"));
    let mut fields = change("预付50%", "");
    fields.push(("csrf", &csrf));
    let refused = clerk.post(&act, &fields).await;
    assert!(
        refused.body.contains("id=\"form-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("reason"));
    let mut fields = change("预付50%", "客户要求提高预付比例");
    fields.push(("csrf", &csrf));
    let v2 = clerk.post(&act, &fields).await;
    assert!(v2.body.contains("已保存修改"), "{}", v2.body);
    assert!(v2.body.contains("第 2 版"));
    let view = get_ok(&node, &format!("/api/contracts/{id}")).await;
    assert_eq!(view["version"], 2);
    assert_eq!(view["state"], "draft");
    assert_eq!(
        view["versions"][0]["content"]["terms"],
        "预付30%，余款货到付清"
    );
    node.stop().await;
}

/// A contract's scans go with the workbench's forms (multipart, as a file input sends them):
/// a refused draft keeps the files already stored, the contract's page links them, a change
/// adds more, and a file that is neither PDF nor image is refused in Chinese.
#[tokio::test]
async fn a_contract_drafted_in_the_workbench_carries_its_scans() {
    use crate::ui::{user_with_password, PageClient};
    let mut node = TestNode::start().await;
    node.customer("厦门喜盈门家居广场店").await;
    node.customer("厦门喜盈门家居二店").await;
    user_with_password(&node, "王内勤", "clerk", "mima-2026-contract").await;
    let mut clerk = PageClient::new(&node);
    clerk.sign_in("王内勤", "mima-2026-contract").await;
    let list = clerk.get("/ui/contracts").await;
    assert!(list.body.contains("enctype=\"multipart/form-data\""));
    let csrf = list.csrf();
    let scan: &[u8] = b"%PDF-1.7\n signed contract scan";
    let form = |customer: &'static str, attachments: String| {
        vec![
            ("csrf".to_string(), csrf.clone()),
            ("customer".to_string(), customer.to_string()),
            ("party_b".to_string(), "上海内勤家具有限公司".to_string()),
            ("amount".to_string(), "50000".to_string()),
            ("valid_from".to_string(), "2026-12-01".to_string()),
            ("valid_to".to_string(), "2027-11-30".to_string()),
            ("attachments".to_string(), attachments),
        ]
    };
    let not_a_scan = form("厦门喜盈门家居二店", String::new());
    let borrowed: Vec<(&str, &str)> = not_a_scan
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let refused = clerk
        .post_multipart(
            "/ui/contracts",
            &borrowed,
            &[("file", "x.exe", b"MZ\x90\0")],
        )
        .await;
    assert!(
        refused.body.contains("只能上传 PDF 或图片"),
        "{}",
        refused.body
    );

    // Two customers match: refused, the scan already stored and kept in the form.
    let ambiguous = form("喜盈门", String::new());
    let borrowed: Vec<(&str, &str)> = ambiguous
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let again = clerk
        .post_multipart("/ui/contracts", &borrowed, &[("file", "scan.pdf", scan)])
        .await;
    assert!(again.body.contains("对应多个客户"), "{}", again.body);
    let hash = neiqin::service::attachments::content_hash(scan);
    assert!(
        again
            .body
            .contains(&format!("name=\"attachments\" value=\"{hash}\"")),
        "{}",
        again.body
    );
    assert!(again.body.contains("已上传 1 个附件"));

    let kept = form("厦门喜盈门家居二店", hash.clone());
    let borrowed: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let drafted = clerk
        .post_multipart("/ui/contracts", &borrowed, &[("file", "", b"")])
        .await;
    assert_eq!(drafted.status, StatusCode::SEE_OTHER, "{}", drafted.body);
    let page_of = drafted.location().to_string();
    let id = page_of.rsplit('/').next().unwrap().to_string();
    let page = clerk.get(&page_of).await;
    assert!(
        page.body
            .contains(&format!("<a href=\"/ui/attachments/{hash}\">附件1</a>")),
        "{}",
        page.body
    );
    let (status, _, bytes) = clerk.get_bytes(&format!("/ui/attachments/{hash}")).await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, scan));

    // A change adds a photo of the stamped page to the scan.
    let stamp: &[u8] = b"\xFF\xD8\xFF\xE0 stamped page";
    let change = [
        ("csrf", csrf.as_str()),
        ("action", "change"),
        ("party_a", "厦门喜盈门家居二店"),
        ("party_b", "上海内勤家具有限公司"),
        ("amount", "50000"),
        ("valid_from", "2026-12-01"),
        ("valid_to", "2027-11-30"),
        ("terms", ""),
    ];
    let changed = clerk
        .post_multipart(
            &format!("/ui/contracts/{id}/act"),
            &change,
            &[("file", "stamp.jpg", stamp)],
        )
        .await;
    assert!(changed.body.contains("已保存修改"), "{}", changed.body);
    let view = get_ok(&node, &format!("/api/contracts/{id}")).await;
    assert_eq!(
        view["attachments"],
        serde_json::json!([hash, neiqin::service::attachments::content_hash(stamp)])
    );
    node.stop().await;
}
