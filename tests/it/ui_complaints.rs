//! 客诉 in the workbench, as a browser without script uses it: a clerk records a complaint from
//! an order's page, assigns and handles it on its page; the warehouse sees no 结案 and is
//! refused in Chinese when it posts one anyway; the clerk closes it; the lists' tabs; the home
//! pages count the clerk's open complaints and the supervisor's escalated ones.

use reqwest::StatusCode;

use crate::harness::{three_lines, TestNode};
use crate::ui::{signed_in, PageClient};

async fn act(page: &mut PageClient, id: &str, form: &[(&str, &str)]) -> String {
    let csrf = page.get(&format!("/ui/complaints/{id}")).await.csrf();
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    let answer = page
        .post(&format!("/ui/complaints/{id}/act"), &fields)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

#[tokio::test]
async fn a_clerk_records_and_closes_a_complaint_in_the_workbench() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海红星美凯龙真北店").await;
    let order = node.order(&customer, three_lines()).await;
    let order_id = order["id"].as_str().unwrap();
    let mut clerk = signed_in(&node, "李娜", "clerk").await;

    let home = clerk.get("/").await;
    assert!(home.body.contains("客诉处理中"), "{}", home.body);
    let order_page = clerk.get(&format!("/ui/orders/{order_id}")).await;
    assert!(order_page.body.contains("/ui/complaints/new?order="));
    let form = clerk
        .get(&format!("/ui/complaints/new?order={order_id}"))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("上海红星美凯龙真北店"), "{}", form.body);
    let csrf = form.csrf();
    // Without content the form comes back with the refusal in Chinese, keeping the choices.
    let refused = clerk
        .post(
            "/ui/complaints/new",
            &[
                ("csrf", &csrf),
                ("customer", &customer),
                ("order", order_id),
                ("channel", "wechat"),
                ("category", "quality"),
                ("content", " "),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(
        refused.body.contains("id=\"form-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("content"), "{}", refused.body);
    let created = clerk
        .post(
            "/ui/complaints/new",
            &[
                ("csrf", &csrf),
                ("customer", &customer),
                ("order", order_id),
                ("store", ""),
                ("channel", "wechat"),
                ("category", "quality"),
                ("content", "沙发扶手开裂"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let href = created.location().to_string();
    let id = href.trim_start_matches("/ui/complaints/").to_string();
    let detail = clerk.get(&href).await;
    assert!(detail.body.contains("待分派"), "{}", detail.body);
    assert!(detail.body.contains("沙发扶手开裂"));
    assert!(detail.body.contains("id=\"act-assign\""));
    assert!(
        !detail.body.contains("id=\"act-close\""),
        "nothing handled yet"
    );

    let body = act(
        &mut clerk,
        &id,
        &[("action", "assign"), ("to", "仓库"), ("note", "")],
    )
    .await;
    assert!(
        body.contains("已分派") && body.contains("客诉分派给 仓库"),
        "{body}"
    );
    let mut keeper = signed_in(&node, "刘仓管", "warehouse").await;
    let body = act(
        &mut keeper,
        &id,
        &[("action", "handle"), ("note", "已入库，转维修车间")],
    )
    .await;
    assert!(body.contains("已登记处理情况"), "{body}");
    assert!(
        !body.contains("id=\"act-close\""),
        "the warehouse does not close"
    );
    let body = act(
        &mut keeper,
        &id,
        &[
            ("action", "close"),
            ("result", "修好了"),
            ("satisfaction", "satisfied"),
        ],
    )
    .await;
    assert!(body.contains("您的角色不能进行这项操作"), "{body}");

    let list = clerk.get("/ui/complaints").await;
    assert!(
        list.body.contains(&format!("/ui/complaints/{id}")),
        "{}",
        list.body
    );
    assert!(list.body.contains("处理中"));
    let body = act(
        &mut clerk,
        &id,
        &[
            ("action", "close"),
            ("result", "维修完成已送回"),
            ("satisfaction", "fairly_satisfied"),
        ],
    )
    .await;
    assert!(
        body.contains("已结案") && body.contains("基本满意"),
        "{body}"
    );
    assert!(body.contains("id=\"act-reopen\""));
    let open = clerk.get("/ui/complaints?state=open").await;
    assert!(!open.body.contains(&format!("/ui/complaints/{id}")));
    let closed = clerk.get("/ui/complaints?state=closed").await;
    assert!(closed.body.contains(&format!("/ui/complaints/{id}")));
    // A customer found by name, then the form for it.
    let search = clerk.get("/ui/complaints/new?customer_q=真北").await;
    assert!(
        search.body.contains("id=\"complaint-new\""),
        "{}",
        search.body
    );
    let none = clerk.get("/ui/complaints/new?customer_q=没有这家店").await;
    assert!(none.body.contains("没有找到客户"), "{}", none.body);
    node.stop().await;
}

/// The demo data's open complaints were recorded before 2026-11-30: past seven days, every one
/// not acknowledged is in the supervisor's queue on the home page, with 确认上报 on its page.
#[tokio::test]
async fn the_supervisor_sees_the_escalated_complaints_and_acknowledges_one() {
    let node = TestNode::start().await;
    node.import_demo();
    let mut supervisor = signed_in(&node, "赵主管", "supervisor").await;
    let home = supervisor.get("/").await;
    assert!(home.body.contains("客诉上报主管"), "{}", home.body);
    let count = |body: &str| {
        let at = body.find("客诉上报主管").unwrap();
        let before = &body[..at];
        let start =
            before.rfind("<span class=\"count\">").unwrap() + "<span class=\"count\">".len();
        before[start..].split('<').next().unwrap().to_string()
    };
    assert_eq!(count(&home.body), "4");
    let queue = supervisor.get("/ui/complaints?state=escalated").await;
    let marker = "href=\"/ui/complaints/";
    let table = &queue.body[queue.body.find("id=\"complaints\"").unwrap()..];
    let start = table.find(marker).expect("a complaint in the queue") + marker.len();
    let id = table[start..].split('"').next().unwrap().to_string();
    assert!(queue.body.contains("⚠ 超期"));
    let body = act(
        &mut supervisor,
        &id,
        &[("action", "acknowledge"), ("note", "请车间三天内回复")],
    )
    .await;
    assert!(
        body.contains("已确认上报") && body.contains("主管已确认"),
        "{body}"
    );
    assert_eq!(count(&supervisor.get("/").await.body), "3");
    node.stop().await;
}

fn borrowed(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Photos go with the recording form (multipart, as a browser sends a file input): a refusal
/// keeps the photos already stored, the complaint's page shows them in place, and anything but
/// a photo is refused in Chinese.
#[tokio::test]
async fn a_complaint_is_recorded_with_photos_shown_on_its_page() {
    let mut node = TestNode::start().await;
    let customer = node.customer("杭州居然之家古墩路店").await;
    let mut clerk = signed_in(&node, "李娜", "clerk").await;
    let csrf = clerk
        .get(&format!("/ui/complaints/new?customer={customer}"))
        .await
        .csrf();
    let photo: &[u8] = b"\x89PNG\r\n\x1a\n cracked armrest";
    let fields = |content: &'static str, photos: &str| {
        vec![
            ("csrf".to_string(), csrf.clone()),
            ("customer".to_string(), customer.clone()),
            ("channel".to_string(), "visit".to_string()),
            ("category".to_string(), "quality".to_string()),
            ("content".to_string(), content.to_string()),
            ("photos".to_string(), photos.to_string()),
        ]
    };

    // Not a photo: refused, nothing recorded.
    let first = fields("扶手开裂", "");
    let refused = clerk
        .post_multipart(
            "/ui/complaints/new",
            &borrowed(&first),
            &[("photo", "x.html", b"<html><script>alert(1)</script>")],
        )
        .await;
    assert!(
        refused.body.contains("只能上传照片"),
        "{}: {}",
        refused.status,
        refused.body
    );

    // No content: the form comes back, the photo already stored and named in the form.
    let empty = fields(" ", "");
    let again = clerk
        .post_multipart(
            "/ui/complaints/new",
            &borrowed(&empty),
            &[("photo", "armrest.png", photo)],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.body.contains("id=\"form-error\""), "{}", again.body);
    let hash = neiqin::service::attachments::content_hash(photo);
    assert!(
        again
            .body
            .contains(&format!("name=\"photos\" value=\"{hash}\"")),
        "{}",
        again.body
    );
    assert!(again.body.contains("id=\"kept-photos\""));

    // Sent again with content and the kept photo (no new file): recorded with it.
    let kept = fields("扶手开裂，门店要求更换", &hash);
    let created = clerk
        .post_multipart(
            "/ui/complaints/new",
            &borrowed(&kept),
            &[("photo", "", b"")],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let page = clerk.get(created.location()).await;
    assert!(
        page.body
            .contains(&format!("<img src=\"/ui/attachments/{hash}\"")),
        "{}",
        page.body
    );
    let (status, content_type, bytes) = clerk.get_bytes(&format!("/ui/attachments/{hash}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "image/png");
    assert_eq!(bytes, photo);
    let id = created.location().trim_start_matches("/ui/complaints/");
    let (_, view) = node
        .get(&format!("/api/complaints/{id}"), &node.admin)
        .await;
    assert_eq!(view["photos"], serde_json::json!([hash]));
    assert_eq!(
        clerk.get("/ui/attachments/not-a-hash").await.status,
        StatusCode::NOT_FOUND
    );

    // The same photo on a return request shows on the order's page, beside the request.
    let order = node.order(&customer, three_lines()).await;
    let order_id = order["id"].as_str().unwrap();
    crate::flow::ready_to_ship(&mut node, order_id).await;
    let lines = crate::flow::ship_all(&order);
    crate::flow::act(
        &mut node,
        neiqin::domain::role::Role::Warehouse,
        order_id,
        "shipments",
        serde_json::json!({"lines": lines}),
    )
    .await;
    let line = &crate::flow::line_ids(&order)[0];
    crate::flow::act(
        &mut node,
        neiqin::domain::role::Role::Clerk,
        order_id,
        "returns",
        serde_json::json!({"kind": "repair", "lines": [{"line": line, "quantity": "1"}],
                           "reason": "扶手开裂", "photos": [hash]}),
    )
    .await;
    let order_page = clerk.get(&format!("/ui/orders/{order_id}")).await;
    assert!(
        order_page.body.contains(&format!(
            "<img src=\"/ui/attachments/{hash}\" alt=\"退货照片\""
        )),
        "{}",
        order_page.body
    );
    node.stop().await;
}
