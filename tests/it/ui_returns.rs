//! 退换货 in the workbench, as a browser without script uses it: the clerk asks for a return
//! on the order's page with photos (multipart, as a file input sends them; a refusal keeps what
//! was typed and the photos already stored), the VP's 待审批 queue and decision, the warehouse's
//! 退货待收 queue and receipt on its own node, a repair sent back to the customer, and a role
//! that may not take a step refused in Chinese.

use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::TestNode;
use crate::receivables::{customer_on_terms, shipped_order};
use crate::testnet::TestNet;
use crate::ui::{home_count, signed_in, PageAnswer, PageClient};

const SETTLE: Duration = Duration::from_secs(30);
const PHOTO: &[u8] = b"\x89PNG\r\n\x1a\n crushed corner";

/// The value of the first `<option>` of the request form's line choice.
fn first_line(page: &PageAnswer) -> String {
    let form = &page.body[page
        .body
        .find("id=\"return-request\"")
        .expect("request form")..];
    let marker = "<option value=\"";
    let options = &form[form.find("name=\"line\"").unwrap()..];
    let start = options.find(marker).unwrap() + marker.len();
    options[start..start + options[start..].find('"').unwrap()].to_string()
}

/// The id of the order's only return case, from its row on the order's page.
fn return_id(page: &PageAnswer) -> String {
    let marker = "<tr id=\"return-";
    let start = page.body.find(marker).expect("a return row") + marker.len();
    page.body[start..start + page.body[start..].find('"').unwrap()].to_string()
}

/// The return case's row on the order's page.
fn return_row<'a>(page: &'a PageAnswer, id: &str) -> &'a str {
    let start = page
        .body
        .find(&format!("<tr id=\"return-{id}\""))
        .unwrap_or_else(|| panic!("no row of return {id}: {}", page.body));
    let row = &page.body[start..];
    &row[..row.find("</tr>").unwrap()]
}

async fn step(
    page: &mut PageClient,
    order: &str,
    request: &str,
    form: &[(&str, &str)],
) -> PageAnswer {
    let csrf = page.get(&format!("/ui/orders/{order}")).await.csrf();
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    let answer = page
        .post(&format!("/ui/returns/{request}/act"), &fields)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer
}

/// The clerk asks on the office node, the VP approves there, the warehouse receives on its own
/// node, and each node shows where the case stands after they sync.
#[tokio::test]
async fn a_return_asked_with_photos_is_approved_and_received_on_another_node() {
    let mut net = TestNet::start(2).await;
    let customer = customer_on_terms(&mut net.nodes[0], "杭州滨江家居", "月结30天").await;
    let order = shipped_order(&mut net.nodes[0], &customer).await;
    net.settle(SETTLE).await;

    let mut clerk = signed_in(&net.nodes[0], "李娜", "clerk").await;
    let page = clerk.get(&format!("/ui/orders/{order}")).await;
    assert!(
        page.body.contains("enctype=\"multipart/form-data\""),
        "{}",
        page.body
    );
    let (csrf, line) = (page.csrf(), first_line(&page));
    let path = format!("/ui/orders/{order}/returns");
    let form = |reason: &'static str, photos: String| {
        vec![
            ("csrf".to_string(), csrf.clone()),
            ("kind".to_string(), "return".to_string()),
            ("line".to_string(), line.clone()),
            ("quantity".to_string(), "1".to_string()),
            ("reason".to_string(), reason.to_string()),
            ("damaged".to_string(), "1".to_string()),
            ("photos".to_string(), photos),
        ]
    };

    // Not a photo: refused in Chinese, nothing recorded.
    let first = form("运输压坏", String::new());
    let fields: Vec<(&str, &str)> = first
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let refused = clerk
        .post_multipart(
            &path,
            &fields,
            &[("photo", "x.svg", b"<svg onload=alert(1)>")],
        )
        .await;
    assert!(
        refused.body.contains("只能上传照片"),
        "{}: {}",
        refused.status,
        refused.body
    );

    // A damage claim without a reason: the page says why, keeps the typed values and the
    // stored photo.
    let second = form(" ", String::new());
    let fields: Vec<(&str, &str)> = second
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let again = clerk
        .post_multipart(&path, &fields, &[("photo", "corner.png", PHOTO)])
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.body.contains("id=\"form-error\""), "{}", again.body);
    assert!(
        !again.body.contains("<tr id=\"return-"),
        "nothing recorded: {}",
        again.body
    );
    let hash = neiqin::service::attachments::content_hash(PHOTO);
    assert!(
        again
            .body
            .contains(&format!("name=\"photos\" value=\"{hash}\"")),
        "{}",
        again.body
    );
    assert!(again.body.contains("已上传 1 张照片"), "{}", again.body);
    assert!(again.body.contains("name=\"damaged\" value=\"1\" checked"));

    // Sent again with a reason and the kept photo: recorded, the photo beside the case.
    let third = form("运输压坏，门店拒收", hash.clone());
    let fields: Vec<(&str, &str)> = third
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let asked = clerk
        .post_multipart(&path, &fields, &[("photo", "", b"")])
        .await;
    assert!(
        asked.body.contains("已申请退货，等待销售副总审批"),
        "{}",
        asked.body
    );
    let request = return_id(&asked);
    let row = return_row(&asked, &request);
    assert!(row.contains("待审批") && row.contains("破损"), "{row}");
    assert!(
        row.contains(&format!("<img src=\"/ui/attachments/{hash}\"")),
        "{row}"
    );
    assert!(
        !row.contains("id=\"return-approve-"),
        "a clerk does not decide: {row}"
    );

    // A clerk posting the VP's step is refused in Chinese.
    let refused = step(
        &mut clerk,
        &order,
        &request,
        &[("action", "approve"), ("note", "好")],
    )
    .await;
    assert!(
        refused.body.contains("id=\"form-error\""),
        "{}",
        refused.body
    );
    assert!(return_row(&refused, &request).contains("待审批"));

    // The VP's queue counts it and lists it; the VP approves from the order's page.
    let mut vp = signed_in(&net.nodes[0], "赵总", "vp").await;
    assert_eq!(home_count(&vp.get("/").await, "退换货待审批"), "1");
    let queue = vp.get("/ui/returns").await;
    assert!(
        queue.body.contains(&format!("#return-{request}\"")),
        "{}",
        queue.body
    );
    assert!(queue.body.contains("运输压坏，门店拒收"));
    let approved = step(
        &mut vp,
        &order,
        &request,
        &[("action", "approve"), ("note", "同意退货")],
    )
    .await;
    assert!(
        approved.body.contains("已批准，等待仓库收货"),
        "{}",
        approved.body
    );
    assert!(return_row(&approved, &request).contains("退货待收"));
    net.settle(SETTLE).await;

    // The warehouse, on its own node, sees 退货待收 and receives it.
    let mut keeper = signed_in(&net.nodes[1], "周仓管", "warehouse").await;
    assert_eq!(home_count(&keeper.get("/").await, "退货待收"), "1");
    let queue = keeper.get("/ui/returns").await;
    assert!(
        queue.body.contains(&format!("#return-{request}\"")),
        "{}",
        queue.body
    );
    let page = keeper.get(&format!("/ui/orders/{order}")).await;
    assert!(return_row(&page, &request).contains(&format!("id=\"return-receive-{request}\"")));
    let received = step(
        &mut keeper,
        &order,
        &request,
        &[
            ("action", "receive"),
            ("condition", "外箱压坏"),
            ("tag", "R-001"),
        ],
    )
    .await;
    assert!(received.body.contains("已收货入库"), "{}", received.body);
    assert!(return_row(&received, &request).contains("已收货"));
    assert_eq!(home_count(&keeper.get("/").await, "退货待收"), "0");
    net.settle(SETTLE).await;

    // The office node shows it received, with its photo.
    let page = clerk.get(&format!("/ui/orders/{order}")).await;
    let row = return_row(&page, &request);
    assert!(row.contains("已收货") && row.contains("同意退货"), "{row}");
    assert!(row.contains(&format!("/ui/attachments/{hash}")));
    net.stop().await;
}

/// A repair goes back to the customer once received; a plain return never does.
#[tokio::test]
async fn a_repair_is_sent_back_to_the_customer_after_it_is_received() {
    let mut node = TestNode::start().await;
    let customer = customer_on_terms(&mut node, "上海真北家居", "月结30天").await;
    let order = shipped_order(&mut node, &customer).await;
    let mut clerk = signed_in(&node, "李娜", "clerk").await;
    let page = clerk.get(&format!("/ui/orders/{order}")).await;
    let (csrf, line) = (page.csrf(), first_line(&page));
    // Without a file input, a browser sends the form plain: read all the same.
    let asked = clerk
        .post(
            &format!("/ui/orders/{order}/returns"),
            &[
                ("csrf", csrf.as_str()),
                ("kind", "repair"),
                ("line", line.as_str()),
                ("quantity", "1"),
                ("reason", "扶手松动"),
            ],
        )
        .await;
    assert!(asked.body.contains("已申请维修"), "{}", asked.body);
    let request = return_id(&asked);
    let mut vp = signed_in(&node, "赵总", "vp").await;
    let approved = step(&mut vp, &order, &request, &[("action", "approve")]).await;
    assert!(approved.body.contains("已批准"), "{}", approved.body);
    let mut keeper = signed_in(&node, "周仓管", "warehouse").await;
    let page = keeper.get(&format!("/ui/orders/{order}")).await;
    assert!(
        !return_row(&page, &request).contains("return-send-back-"),
        "not before receipt"
    );
    let received = step(
        &mut keeper,
        &order,
        &request,
        &[("action", "receive"), ("condition", "松动"), ("tag", "W-7")],
    )
    .await;
    assert!(received.body.contains("已收货入库"), "{}", received.body);
    let page = keeper.get(&format!("/ui/orders/{order}")).await;
    assert!(return_row(&page, &request).contains(&format!("id=\"return-send-back-{request}\"")));
    let sent = step(
        &mut keeper,
        &order,
        &request,
        &[("action", "send-back"), ("waybill", "SF1234567890")],
    )
    .await;
    assert!(sent.body.contains("已寄回客户"), "{}", sent.body);
    assert!(return_row(&sent, &request).contains("已寄回"));
    let queue = keeper.get("/ui/returns?state=returned_to_customer").await;
    assert!(
        queue.body.contains(&format!("#return-{request}\"")),
        "{}",
        queue.body
    );
    assert!(queue.body.contains("维修"));
    // An unknown state falls back to the role's own queue; an unknown return is a 404 page.
    let queue = keeper.get("/ui/returns?state=nonsense").await;
    assert!(queue.body.contains("id=\"no-returns\""), "{}", queue.body);
    let csrf = keeper.get("/ui/returns").await.csrf();
    let missing = keeper
        .post(
            "/ui/returns/00000000-0000-7000-8000-000000000000/act",
            &[("csrf", csrf.as_str()), ("action", "receive")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    node.stop().await;
}
