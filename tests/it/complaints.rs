//! Complaints (客诉): recorded with photos, assigned, handled, closed with the customer's
//! satisfaction and reopened; lists by state, customer, store and category; the supervisor's
//! escalation queue (上报主管) on a chosen day; the monthly count; role refusals and bad input;
//! and across two nodes: recorded at the office, the return it led to received at the warehouse,
//! a close forged on the warehouse node refused, the same complaint seen on both.

use std::time::Duration;

use chrono::{Days, NaiveDate};
use neiqin::domain::complaint::Satisfaction;
use neiqin::domain::facts::FactBody;
use neiqin::domain::role::Role;
use neiqin::service::{ServiceError, User};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flow::{act, line_ids, ready_to_ship, ship_all};
use crate::harness::{client, three_lines, TestNode};
use crate::testnet::TestNet;

const SETTLE: Duration = Duration::from_secs(30);

fn today() -> NaiveDate {
    neiqin::domain::report::business_day(chrono::Utc::now())
}

fn plus(days: u64) -> String {
    (today() + Days::new(days)).to_string()
}

async fn record(node: &mut TestNode, role: Role, body: Value) -> Value {
    let token = node.token(role).await;
    let (status, got) = node.post("/api/complaints", &token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    got
}

/// A step on a complaint that must succeed.
async fn step(node: &mut TestNode, role: Role, id: &str, action: &str, body: Value) -> Value {
    let path = format!("/api/complaints/{id}/{action}");
    node.post_as(role, &path, body, StatusCode::OK).await
}

/// A step on a complaint that must be refused with `expected`.
async fn refused(
    node: &mut TestNode,
    role: Role,
    id: &str,
    action: &str,
    body: Value,
    expected: StatusCode,
) -> Value {
    let path = format!("/api/complaints/{id}/{action}");
    node.post_as(role, &path, body, expected).await
}

async fn get_ok(node: &mut TestNode, path: &str) -> Value {
    let (status, body) = node.get(path, &node.admin).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn listed(node: &mut TestNode, query: &str) -> Vec<String> {
    let page = get_ok(node, &format!("/api/complaints?{query}")).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["complaint"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn kinds(view: &Value) -> Vec<&str> {
    view["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect()
}

fn id_of(view: &Value) -> String {
    view["id"].as_str().unwrap().to_string()
}

/// The first field a 422 names.
fn field_named(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_complaint_is_assigned_handled_closed_and_reopened_and_listed_by_its_state() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海红星美凯龙真北店").await;
    let order = node.order(&customer, three_lines()).await;
    let order_id = order["id"].as_str().unwrap().to_string();
    let clerk = node.token(Role::Clerk).await;
    let photo = b"\xff\xd8 photo of the wrong sofa delivered".to_vec();
    let (status, uploaded, _) = node
        .post_raw("/api/attachments", &clerk, "image/jpeg", photo)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let hash = uploaded["hash"].as_str().unwrap().to_string();

    let wrong_goods = record(
        &mut node,
        Role::Clerk,
        json!({"customer_id": customer, "order_id": order_id, "store": "真北店 3F A3012",
               "channel": "电话", "category": "发错货", "content": "收到的沙发颜色不对，订的是米白",
               "photos": [hash]}),
    )
    .await;
    let id = id_of(&wrong_goods);
    assert_eq!(wrong_goods["stage"], "new");
    assert_eq!(wrong_goods["stage_label"], "待分派");
    assert_eq!(wrong_goods["channel"], "phone");
    assert_eq!(wrong_goods["category"], "wrong_goods");
    assert_eq!(wrong_goods["category_label"], "发错货");
    assert_eq!(wrong_goods["customer_name"], "上海红星美凯龙真北店");
    assert_eq!(wrong_goods["order_id"], order_id.as_str());
    assert_eq!(wrong_goods["photos"], json!([hash]));
    assert!(wrong_goods["number"].as_str().unwrap().contains("-KS"));
    assert_eq!(wrong_goods["days_open"], 0);
    assert_eq!(wrong_goods["escalated"], false);
    // A supervisor records one too; without a store, the customer's name stands for it.
    let service = record(
        &mut node,
        Role::Supervisor,
        json!({"customer_id": customer, "channel": "wechat", "category": "service",
               "content": "送货师傅态度差"}),
    )
    .await;
    let service_id = id_of(&service);
    assert_eq!(service["store"], "上海红星美凯龙真北店");
    assert_eq!(service["order_id"], Value::Null);

    // Handling comes after an assignment, closing after handling.
    let problem = refused(
        &mut node,
        Role::Clerk,
        &id,
        "handle",
        json!({"note": "先打电话"}),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("分派"),
        "{problem}"
    );
    let assigned = step(
        &mut node,
        Role::Clerk,
        &id,
        "assign",
        json!({"to": "仓库", "note": "核对发货单"}),
    )
    .await;
    assert_eq!(assigned["stage"], "assigned");
    assert_eq!(assigned["assigned_to"], "仓库");
    refused(
        &mut node,
        Role::Clerk,
        &id,
        "close",
        json!({"result": "已解决", "satisfaction": "满意"}),
        StatusCode::CONFLICT,
    )
    .await;
    // The department it went to records what it did; so does the clerk.
    step(
        &mut node,
        Role::Warehouse,
        &id,
        "handle",
        json!({"note": "核实为装车错误，安排换货"}),
    )
    .await;
    let handled = step(
        &mut node,
        Role::Clerk,
        &id,
        "handle",
        json!({"note": "已电话告知客户换货时间"}),
    )
    .await;
    assert_eq!(handled["stage"], "handling");
    assert_eq!(handled["handled"], 2);

    // Only a clerk or supervisor closes; the warehouse may not.
    refused(
        &mut node,
        Role::Warehouse,
        &id,
        "close",
        json!({"result": "已换货", "satisfaction": "satisfied"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        listed(&mut node, "state=open").await,
        [service_id.as_str(), id.as_str()]
    );
    assert!(listed(&mut node, "state=closed").await.is_empty());
    let closed = step(
        &mut node,
        Role::Clerk,
        &id,
        "close",
        json!({"result": "已换货，客户确认颜色正确", "satisfaction": "基本满意"}),
    )
    .await;
    assert_eq!(closed["stage"], "closed");
    assert_eq!(closed["satisfaction"], "fairly_satisfied");
    assert_eq!(closed["satisfaction_label"], "基本满意");
    assert_eq!(closed["result"], "已换货，客户确认颜色正确");
    assert_eq!(closed["days_open"], Value::Null);
    for (action, body) in [
        ("handle", json!({"note": "再看看"})),
        ("assign", json!({"to": "车间"})),
        ("close", json!({"result": "again", "satisfaction": "满意"})),
    ] {
        refused(
            &mut node,
            Role::Clerk,
            &id,
            action,
            body,
            StatusCode::CONFLICT,
        )
        .await;
    }
    assert_eq!(listed(&mut node, "state=open").await, [service_id.as_str()]);
    assert_eq!(listed(&mut node, "state=closed").await, [id.as_str()]);
    let row = &get_ok(&mut node, "/api/complaints?state=closed").await["items"][0];
    assert_eq!(row["complaint"]["satisfaction"], "fairly_satisfied");
    assert_eq!(row["stage_label"], "已结案");

    // The customer comes back: reopened, it is open again and keeps its whole timeline.
    refused(
        &mut node,
        Role::Clerk,
        &service_id,
        "reopen",
        json!({"reason": "未结案"}),
        StatusCode::CONFLICT,
    )
    .await;
    let reopened = step(
        &mut node,
        Role::Supervisor,
        &id,
        "reopen",
        json!({"reason": "换来的沙发扶手有划痕"}),
    )
    .await;
    assert_eq!(reopened["stage"], "handling");
    assert_eq!(reopened["satisfaction"], Value::Null);
    assert_eq!(
        kinds(&reopened),
        [
            "complaint_assigned",
            "complaint_handled",
            "complaint_handled",
            "complaint_closed",
            "complaint_reopened"
        ]
    );
    let roles: Vec<&str> = reopened["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["clerk", "warehouse", "clerk", "clerk", "supervisor"]
    );
    assert_eq!(reopened["anomalies"], json!([]));
    let fetched = get_ok(&mut node, &format!("/api/complaints/{id}")).await;
    assert_eq!(fetched["facts"], reopened["facts"]);
    assert_eq!(
        listed(&mut node, "state=open").await,
        [service_id.as_str(), id.as_str()]
    );

    // Filters and pages.
    let other = node.customer("杭州居然之家店").await;
    let late = record(
        &mut node,
        Role::Clerk,
        json!({"customer_id": other, "store": "杭州店", "channel": "上门", "category": "交期",
               "content": "交期一再推迟"}),
    )
    .await;
    let late_id = id_of(&late);
    assert_eq!(
        listed(&mut node, &format!("customer={customer}")).await,
        [service_id.as_str(), id.as_str()]
    );
    assert_eq!(listed(&mut node, "store=杭州店").await, [late_id.as_str()]);
    assert_eq!(
        listed(&mut node, "category=delivery").await,
        [late_id.as_str()]
    );
    assert_eq!(
        listed(&mut node, &format!("category=service&customer={customer}")).await,
        [service_id.as_str()]
    );
    assert_eq!(
        listed(&mut node, "state=open&category=wrong_goods").await,
        [id.as_str()]
    );
    let first = get_ok(&mut node, "/api/complaints?limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = listed(&mut node, &format!("limit=2&cursor={cursor}")).await;
    let mut all: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["complaint"]["id"].as_str().unwrap().to_string())
        .collect();
    all.extend(second);
    assert_eq!(all, [late_id.as_str(), service_id.as_str(), id.as_str()]);

    // The month's count by category and store, as JSON and as CSV.
    let month = &today().to_string()[..7];
    let report = get_ok(&mut node, &format!("/api/reports/complaints?month={month}")).await;
    assert_eq!(report["total"], 3, "{report}");
    let count = |category: &str| {
        report["by_category"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["category"] == category)
            .map(|c| c["count"].clone())
    };
    assert_eq!(count("wrong_goods"), Some(json!(1)));
    assert_eq!(count("delivery"), Some(json!(1)));
    assert_eq!(count("quality"), Some(json!(0)));
    assert_eq!(report["by_store"].as_array().unwrap().len(), 3);
    let rows = report["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["store"] == "杭州店" && r["category_label"] == "交期" && r["count"] == 1),
        "{report}"
    );
    let next_month = get_ok(&mut node, "/api/reports/complaints?month=2099-01").await;
    assert_eq!(next_month["total"], 0);
    let csv = client()
        .get(format!(
            "{}/api/reports/complaints?month={month}&format=csv",
            node.base
        ))
        .bearer_auth(&clerk)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    assert!(
        text.contains("门店") && text.contains("发错货") && text.contains("杭州店"),
        "{text}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_complaint_open_too_long_reaches_the_supervisor_who_acknowledges_it() {
    let mut node = TestNode::start().await;
    let customer = node.customer("南京金盛国际家居店").await;
    let body = |content: &str| json!({"customer_id": customer, "channel": "phone", "category": "quality", "content": content});
    let old = id_of(&record(&mut node, Role::Clerk, body("床头板开裂")).await);
    let done = id_of(&record(&mut node, Role::Clerk, body("抽屉滑轨异响")).await);
    step(
        &mut node,
        Role::Clerk,
        &done,
        "assign",
        json!({"to": "李娜"}),
    )
    .await;
    step(
        &mut node,
        Role::Clerk,
        &done,
        "handle",
        json!({"note": "上门更换滑轨"}),
    )
    .await;
    step(
        &mut node,
        Role::Clerk,
        &done,
        "close",
        json!({"result": "已更换", "satisfaction": "满意"}),
    )
    .await;

    // Counted on business days: open 7 days is not more than 7; open 8 days is.
    assert!(listed(&mut node, "state=escalated").await.is_empty());
    assert!(
        listed(&mut node, &format!("state=escalated&today={}", plus(7)))
            .await
            .is_empty()
    );
    let queue = get_ok(
        &mut node,
        &format!("/api/complaints?state=escalated&today={}", plus(8)),
    )
    .await;
    let rows = queue["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "the closed one never escalates: {queue}");
    assert_eq!(rows[0]["complaint"]["id"], old.as_str());
    assert_eq!(rows[0]["days_open"], 8);
    assert_eq!(rows[0]["escalated"], true);
    // The days are configured per request, as the VP's delay queue is.
    assert_eq!(
        listed(
            &mut node,
            &format!("state=escalated&escalate_after_days=0&today={}", plus(1))
        )
        .await,
        [old.as_str()]
    );
    assert!(listed(
        &mut node,
        &format!("state=escalated&escalate_after_days=30&today={}", plus(8))
    )
    .await
    .is_empty());

    // Only the supervisor acknowledges; then it leaves the queue and stays open.
    refused(
        &mut node,
        Role::Clerk,
        &old,
        "escalation-acknowledgement",
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;
    refused(
        &mut node,
        Role::Supervisor,
        &done,
        "escalation-acknowledgement",
        json!({}),
        StatusCode::CONFLICT,
    )
    .await;
    let acked = step(
        &mut node,
        Role::Supervisor,
        &old,
        "escalation-acknowledgement",
        json!({"note": "已督促车间"}),
    )
    .await;
    assert_eq!(acked["escalation_acknowledged"], true);
    refused(
        &mut node,
        Role::Supervisor,
        &old,
        "escalation-acknowledgement",
        json!({}),
        StatusCode::CONFLICT,
    )
    .await;
    let later = format!("today={}", plus(8));
    assert!(listed(&mut node, &format!("state=escalated&{later}"))
        .await
        .is_empty());
    let open = get_ok(&mut node, &format!("/api/complaints?state=open&{later}")).await;
    assert_eq!(open["items"][0]["escalated"], true);
    assert_eq!(
        open["items"][0]["complaint"]["escalation_acknowledged"],
        true
    );

    // Reopened, a complaint is a new escalation for the supervisor.
    step(
        &mut node,
        Role::Clerk,
        &done,
        "reopen",
        json!({"reason": "滑轨又响"}),
    )
    .await;
    assert_eq!(
        listed(&mut node, &format!("state=escalated&{later}")).await,
        [done.as_str()]
    );

    let token = node.token(Role::Clerk).await;
    for bad in ["state=late", "escalate_after_days=-1", "today=tomorrow"] {
        let (status, problem) = node.get(&format!("/api/complaints?{bad}"), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
    }
    let (status, problem) = node
        .get("/api/complaints?escalate_after_days=366", &token)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    node.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_roles_are_checked() {
    let mut node = TestNode::start().await;
    let customer = node.customer("成都富森美家居店").await;
    let clerk = node.token(Role::Clerk).await;
    let good = json!({"customer_id": customer, "channel": "phone", "category": "quality", "content": "漆面起泡"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("channel", json!("fax")), "channel"),
        (with("category", json!("price")), "category"),
        (with("content", json!("   ")), "content"),
        (
            with("customer_id", json!("no-such-customer")),
            "customer_id",
        ),
        (with("order_id", json!("no-such-order")), "order_id"),
        (with("photos", json!(["0123abcd"])), "photos[0]"),
    ] {
        let (status, problem) = node.post("/api/complaints", &clerk, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(field_named(&problem), field, "{problem}");
    }
    // An order of another customer is not this complaint's.
    let other = node.customer("重庆居然之家店").await;
    let foreign = node.order(&other, three_lines()).await;
    let (status, problem) = node
        .post(
            "/api/complaints",
            &clerk,
            with("order_id", foreign["id"].clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(field_named(&problem), "order_id");
    let (status, problem) = node
        .post("/api/complaints", &clerk, with("urgent", json!(true)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    for role in [Role::Warehouse, Role::Finance, Role::Vp] {
        let token = node.token(role).await;
        let (status, _) = node.post("/api/complaints", &token, good.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role} records no complaint");
    }
    let (status, _) = node.get("/api/complaints", "no-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let id = id_of(&record(&mut node, Role::Clerk, good.clone()).await);
    step(&mut node, Role::Clerk, &id, "assign", json!({"to": "车间"})).await;
    step(
        &mut node,
        Role::Clerk,
        &id,
        "handle",
        json!({"note": "返厂补漆"}),
    )
    .await;
    let problem = refused(
        &mut node,
        Role::Clerk,
        &id,
        "close",
        json!({"result": "已补漆", "satisfaction": "还行"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_named(&problem), "satisfaction");
    let problem = refused(
        &mut node,
        Role::Clerk,
        &id,
        "assign",
        json!({"to": " "}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_named(&problem), "to");
    // The complaint names no order, so a new return must name one.
    let problem = refused(
        &mut node,
        Role::Clerk,
        &id,
        "return",
        json!({"kind": "repair", "lines": [{"line": "x", "quantity": "1"}], "reason": "补漆"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_named(&problem), "order");
    let problem = refused(
        &mut node,
        Role::Clerk,
        &id,
        "return",
        json!({"request": "no-such-return"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_named(&problem), "request");
    refused(
        &mut node,
        Role::Supervisor,
        &id,
        "return",
        json!({"request": "no-such-return"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    refused(
        &mut node,
        Role::Clerk,
        "no-such-complaint",
        "handle",
        json!({"note": "x"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    let (status, _) = node.get("/api/complaints/no-such-complaint", &clerk).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An order is not a complaint.
    let (status, _) = node
        .get(
            &format!("/api/complaints/{}", foreign["id"].as_str().unwrap()),
            &clerk,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = node
        .get("/api/reports/complaints?month=2026-13", &clerk)
        .await;
    assert!(status.is_client_error());
    node.stop().await;
}

#[tokio::test]
async fn recorded_at_the_office_the_return_received_at_the_warehouse_both_see_the_same_complaint() {
    let office = vec![Role::Clerk, Role::Supervisor, Role::Vp, Role::Finance];
    let mut net = TestNet::start_with_roles(&[office, vec![Role::Warehouse]]).await;
    let customer = net.nodes[0].customer("武汉居然之家店").await;
    let o = net.nodes[0].order(&customer, three_lines()).await;
    let order_id = o["id"].as_str().unwrap().to_string();
    ready_to_ship(&mut net.nodes[0], &order_id).await;
    net.settle(SETTLE).await;
    act(
        &mut net.nodes[1],
        Role::Warehouse,
        &order_id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    net.settle(SETTLE).await;

    // The office records the complaint with a photo, assigns it and asks for a repair.
    let supervisor = net.nodes[0].token(Role::Supervisor).await;
    let photo = b"\x89PNG cracked armrest".to_vec();
    let (status, uploaded, _) = net.nodes[0]
        .post_raw("/api/attachments", &supervisor, "image/png", photo.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let hash = uploaded["hash"].as_str().unwrap().to_string();
    let complaint = record(
        &mut net.nodes[0],
        Role::Supervisor,
        json!({"customer_id": customer, "order_id": order_id, "channel": "微信", "category": "质量",
               "content": "沙发扶手开裂", "photos": [hash]}),
    )
    .await;
    let id = id_of(&complaint);
    step(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "assign",
        json!({"to": "仓库"}),
    )
    .await;
    let line = &line_ids(&o)[0];
    let linked = step(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "return",
        json!({"kind": "repair", "lines": [{"line": line, "quantity": "1"}], "reason": "扶手开裂，返厂维修",
               "photos": [hash]}),
    )
    .await;
    let returns = linked["returns"].as_array().unwrap();
    assert_eq!(returns.len(), 1, "{linked}");
    assert_eq!(returns[0]["state"], "requested");
    assert_eq!(returns[0]["kind"], "repair");
    assert_eq!(returns[0]["order"], order_id.as_str());
    let rid = returns[0]["request"].as_str().unwrap().to_string();
    let vp = net.nodes[0].token(Role::Vp).await;
    let (status, got) = net.nodes[0]
        .post(&format!("/api/returns/{rid}/approve"), &vp, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    // Linking the same request twice is refused; another complaint may link it.
    refused(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "return",
        json!({"request": rid}),
        StatusCode::CONFLICT,
    )
    .await;
    let second = record(
        &mut net.nodes[0],
        Role::Clerk,
        json!({"customer_id": customer, "order_id": order_id, "channel": "phone", "category": "service",
               "content": "维修进度无人告知"}),
    )
    .await;
    let second_id = id_of(&second);
    let linked = step(
        &mut net.nodes[0],
        Role::Clerk,
        &second_id,
        "return",
        json!({"request": rid}),
    )
    .await;
    assert_eq!(linked["returns"][0]["state"], "approved");
    net.settle(SETTLE).await;

    // The warehouse receives the goods and records what it did; closing is not its to do.
    let warehouse = net.nodes[1].token(Role::Warehouse).await;
    let (status, got) = net.nodes[1]
        .post(
            &format!("/api/returns/{rid}/receive"),
            &warehouse,
            json!({"lines": [{"line": line, "quantity": "1"}], "condition": "扶手开裂",
                   "disposition": "repair", "tag": "KS-REPAIR-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    step(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "handle",
        json!({"note": "已入库，转维修车间"}),
    )
    .await;
    refused(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "close",
        json!({"result": "已修好", "satisfaction": "满意"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    // A close written straight into the warehouse node's store, signed with its real key:
    // the warehouse may not close, so it counts nowhere and shows as 越权或伪造的记录.
    {
        let office = &net.nodes[1].node.as_ref().unwrap().office;
        let keeper = User {
            name: "仓管".into(),
            role: Role::Warehouse,
        };
        office
            .store
            .update(&id, &keeper.author("forged close"), |_| {
                Ok::<_, ServiceError>(vec![office.fact_op(
                    &keeper,
                    &id,
                    FactBody::ComplaintClosed {
                        result: "仓库自行结案".into(),
                        satisfaction: Satisfaction::Satisfied,
                    },
                )?])
            })
            .expect("written straight into the store");
    }
    net.settle(SETTLE).await;

    // The photo travelled with the complaint.
    assert_eq!(net.nodes[1].wait_for_attachment(&hash, SETTLE).await, photo);

    let mut seen = Vec::new();
    for node in net.nodes.iter_mut() {
        let view = get_ok(node, &format!("/api/complaints/{id}")).await;
        assert_eq!(view["stage"], "handling", "{view}");
        assert_eq!(view["handled"], 1);
        assert_eq!(view["returns"][0]["state"], "received", "{view}");
        assert_eq!(view["returns"][0]["state_label"], "已入库");
        let anomalies = view["anomalies"].as_array().unwrap();
        assert_eq!(anomalies.len(), 1, "{view}");
        assert_eq!(anomalies[0]["kind"], "unauthorized_fact");
        assert!(
            anomalies[0]["detail"]
                .as_str()
                .unwrap()
                .contains("complaint_closed"),
            "{view}"
        );
        assert_eq!(
            listed(node, "state=open").await,
            [second_id.as_str(), id.as_str()]
        );
        let second = get_ok(node, &format!("/api/complaints/{second_id}")).await;
        assert_eq!(second["returns"][0]["state"], "received");
        seen.push(view);
    }
    assert_eq!(seen[0]["facts"], seen[1]["facts"]);

    // The forged close is in each node's inbox and status count, under the same id, until the
    // supervisor resolves it on the office node; then it is gone from both.
    let mut inbox_ids = Vec::new();
    for node in net.nodes.iter_mut() {
        let (inbox, count) = complaint_inbox(node, &id).await;
        assert_eq!(inbox.len(), 1, "{inbox:?}");
        assert_eq!(count, 1);
        assert_eq!(inbox[0]["complaint"]["number"], seen[0]["number"]);
        assert_eq!(
            inbox[0]["anomaly"]["resolvers"],
            json!(["supervisor", "vp"])
        );
        inbox_ids.push(inbox[0]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(inbox_ids[0], inbox_ids[1]);
    let clerk = net.nodes[0].token(Role::Clerk).await;
    let resolve = format!("/api/anomalies/{}/resolve", inbox_ids[0]);
    let (status, _) = net.nodes[0]
        .post(&resolve, &clerk, json!({"resolution": "已查明"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a clerk does not resolve it");
    let (status, _) = net.nodes[0]
        .post(&resolve, &supervisor, json!({"resolution": " "}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, view) = net.nodes[0]
        .post(
            &resolve,
            &supervisor,
            json!({"resolution": "仓库误操作，已提醒，不算结案"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        view["anomalies"][0]["resolution"],
        "仓库误操作，已提醒，不算结案"
    );
    net.settle(SETTLE).await;
    for node in net.nodes.iter_mut() {
        let (inbox, count) = complaint_inbox(node, &id).await;
        assert!(inbox.is_empty(), "{inbox:?}");
        assert_eq!(count, 0);
    }

    // The office closes it; both nodes see it closed with the same result.
    step(
        &mut net.nodes[0],
        Role::Clerk,
        &id,
        "close",
        json!({"result": "维修完成已送回", "satisfaction": "satisfied"}),
    )
    .await;
    net.settle(SETTLE).await;
    for node in net.nodes.iter_mut() {
        let view = get_ok(node, &format!("/api/complaints/{id}")).await;
        assert_eq!(view["stage"], "closed", "{view}");
        assert_eq!(view["result"], "维修完成已送回");
        assert_eq!(view["satisfaction"], "satisfied");
        assert_eq!(listed(node, "state=closed").await, [id.as_str()]);
    }
    net.stop().await;
}

/// The inbox's entries about complaint `id`, and the node's count of open anomalies (the
/// test's nodes have no other).
async fn complaint_inbox(node: &mut TestNode, id: &str) -> (Vec<Value>, u64) {
    let inbox = get_ok(node, "/api/anomalies").await;
    let about: Vec<Value> = inbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["complaint"]["id"] == id)
        .cloned()
        .collect();
    let status = get_ok(node, "/api/status").await;
    (about, status["open_anomalies"].as_u64().unwrap())
}

/// Every `$ref` of the served document names a schema it describes.
#[tokio::test]
async fn the_complaint_schemas_are_described_whole() {
    let node = TestNode::start().await;
    let (status, doc) = node.get("/api/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    let mut missing: Vec<&str> = text
        .split("\"$ref\":\"#/components/schemas/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| !schemas.contains_key(*name))
        .collect();
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "undescribed schemas: {missing:?}");
    for path in [
        "/api/complaints",
        "/api/complaints/{id}",
        "/api/complaints/{id}/return",
        "/api/reports/complaints",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    node.stop().await;
}

/// The demo data's complaints import with their steps: those that led to a return show the
/// return's state from its order, and the month counts them by category and store.
#[tokio::test]
async fn the_demo_complaints_import_with_their_returns() {
    let mut node = TestNode::start().await;
    let expected = node.import_demo().complaints.len();
    assert!(expected >= 15, "{expected} complaints in the demo");
    let page = get_ok(&mut node, "/api/complaints?limit=100").await;
    let rows = page["items"].as_array().unwrap();
    assert_eq!(rows.len(), expected);
    let with_returns: Vec<&Value> = rows
        .iter()
        .filter(|r| r["complaint"]["returns"] == 1)
        .collect();
    assert_eq!(with_returns.len(), 12, "one per return request");
    let mut states = Vec::new();
    for row in with_returns {
        let id = row["complaint"]["id"].as_str().unwrap();
        let view = get_ok(&mut node, &format!("/api/complaints/{id}")).await;
        assert_eq!(view["anomalies"], json!([]), "{view}");
        states.push(view["returns"][0]["state"].as_str().unwrap().to_string());
    }
    assert_eq!(states.iter().filter(|s| *s == "received").count(), 11);
    assert_eq!(states.iter().filter(|s| *s == "rejected").count(), 1);
    // The open complaint the supervisor acknowledged is not in the queue; nothing else open is
    // acknowledged.
    let open = get_ok(&mut node, "/api/complaints?state=open&limit=100").await;
    let acknowledged = open["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["complaint"]["escalation_acknowledged"] == true)
        .count();
    assert_eq!(acknowledged, 1);
    let queue = listed(&mut node, "state=escalated&today=2026-12-31&limit=100").await;
    assert_eq!(queue.len(), open["items"].as_array().unwrap().len() - 1);
    let mut total = 0;
    for month in ["2026-08", "2026-09", "2026-10", "2026-11"] {
        let report = get_ok(&mut node, &format!("/api/reports/complaints?month={month}")).await;
        total += report["total"].as_u64().unwrap();
    }
    assert_eq!(total as usize, expected);
    node.stop().await;
}

/// The days after which an open complaint goes to the supervisor are the node's configuration
/// (`complaint_escalate_after_days`); one request may still ask for other days.
#[tokio::test]
async fn the_supervisors_queue_counts_the_days_the_node_is_configured_with() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = neiqin::config::Config::local(tmp.path().join("data"));
    config.escalation.open_complaint_days = 2;
    let mut node = TestNode::start_with(config, Some(tmp)).await;
    let customer = node.customer("长沙红星美凯龙开福店").await;
    let complaint = record(
        &mut node,
        Role::Clerk,
        json!({"customer_id": customer, "channel": "phone", "category": "service",
               "content": "安装师傅迟到两小时"}),
    )
    .await;
    let id = complaint["id"].as_str().unwrap();
    // Open three days: more than the 2 configured, not than the default 7.
    let escalated = format!("state=escalated&today={}", plus(3));
    assert_eq!(listed(&mut node, &escalated).await, [id]);
    assert!(
        listed(&mut node, &format!("{escalated}&escalate_after_days=7"))
            .await
            .is_empty()
    );
    assert!(
        listed(&mut node, &format!("state=escalated&today={}", plus(2)))
            .await
            .is_empty()
    );
    node.stop().await;
}
