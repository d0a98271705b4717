//! 跟单 in the workbench: the clerk's 交期预警 (orders promised within three days or past) with
//! its home count, a 跟单 note with a revised date recorded from the order's page (a bad date
//! refused in Chinese), and the VP's 上报销售副总 queue on another node, acknowledged there from
//! the order's page and shown acknowledged on the clerk's node after sync.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{order_body, three_lines, TestNode};
use crate::testnet::TestNet;
use crate::ui::{home_count, signed_in, PageAnswer, PageClient};

const SETTLE: Duration = Duration::from_secs(30);

/// A day counted from today in China, as the node counts it.
fn day(offset: i64) -> String {
    (neiqin::domain::report::business_day(chrono::Utc::now()) + chrono::Duration::days(offset))
        .to_string()
}

/// An order promised `offset` days from today; returns (id, number).
async fn promised(node: &mut TestNode, customer: &str, offset: i64) -> (String, String) {
    let mut body = order_body(customer, three_lines());
    body["promised_ship_date"] = Value::String(day(offset));
    let token = node.token(neiqin::domain::role::Role::Clerk).await;
    let (status, order) = node.post("/api/orders", &token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    (
        order["id"].as_str().unwrap().to_string(),
        order["number"].as_str().unwrap().to_string(),
    )
}

/// The row of order `number` in the 跟单 table, or None.
fn row<'a>(page: &'a PageAnswer, number: &str) -> Option<&'a str> {
    let table = &page.body[page.body.find("id=\"delays\"")?..];
    let table = &table[..table.find("</table>")?];
    let at = table.find(&format!(">{number}</a>"))?;
    let start = table[..at].rfind("<tr>")?;
    Some(&table[start..start + table[start..].find("</tr>")?])
}

async fn act(page: &mut PageClient, order: &str, form: &[(&str, &str)]) -> PageAnswer {
    let csrf = page.get(&format!("/ui/orders/{order}")).await.csrf();
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    let answer = page.post(&format!("/ui/orders/{order}/act"), &fields).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer
}

#[tokio::test]
async fn due_orders_are_followed_up_by_the_clerk_and_acknowledged_by_the_vp_on_another_node() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let (soon, soon_no) = promised(&mut net.nodes[0], &customer, 2).await;
    let (late, late_no) = promised(&mut net.nodes[0], &customer, -5).await;
    let (_, later_no) = promised(&mut net.nodes[0], &customer, 10).await;
    let mut clerk = signed_in(&net.nodes[0], "李娜", "clerk").await;

    assert_eq!(home_count(&clerk.get("/").await, "交期预警"), "2");
    let list = clerk.get("/ui/delays").await;
    let first = row(&list, &soon_no).expect("due in two days");
    assert!(first.contains("还有 2 天"), "{first}");
    let overdue = row(&list, &late_no).expect("five days late");
    assert!(
        overdue.contains("逾期 5 天") && overdue.contains("待副总确认"),
        "{overdue}"
    );
    assert!(row(&list, &later_no).is_none(), "ten days ahead is not due");
    assert!(
        list.body.find(&late_no) < list.body.find(&soon_no),
        "the earliest promise first"
    );

    // 跟单 from the order's page: a bad date is refused in Chinese, a good one moves the order
    // out of 交期预警.
    let refused = act(
        &mut clerk,
        &soon,
        &[
            ("action", "progress"),
            ("note", "面料未到"),
            ("revised_date", "下周"),
        ],
    )
    .await;
    assert!(refused.body.contains("新交期"), "{}", refused.body);
    assert!(refused.body.contains("id=\"form-error\""));
    let revised_day = day(9);
    let recorded = act(
        &mut clerk,
        &soon,
        &[
            ("action", "progress"),
            ("note", "面料未到"),
            ("revised_date", revised_day.as_str()),
            ("delay_reason", "面料供应商延期"),
        ],
    )
    .await;
    assert!(recorded.body.contains("已记录跟单"), "{}", recorded.body);
    assert!(row(&clerk.get("/ui/delays").await, &soon_no).is_none());
    assert!(
        !recorded.body.contains("act-acknowledge-delay"),
        "a clerk does not acknowledge"
    );
    net.settle(SETTLE).await;

    // The VP, on the other node: the queue counts and lists the late order; acknowledged from
    // its page, it leaves the queue.
    let mut vp = signed_in(&net.nodes[1], "赵总", "vp").await;
    assert_eq!(home_count(&vp.get("/").await, "延误待确认"), "1");
    let queue = vp.get("/ui/delays").await;
    assert!(row(&queue, &late_no).is_some(), "{}", queue.body);
    assert!(row(&queue, &soon_no).is_none());
    let page = vp.get(&format!("/ui/orders/{late}")).await;
    assert!(page.body.contains("确认延误（已上报）"), "{}", page.body);
    let acknowledged = act(
        &mut vp,
        &late,
        &[
            ("action", "acknowledge-delay"),
            ("note", "已知悉，请催面料"),
        ],
    )
    .await;
    assert!(
        acknowledged.body.contains("已确认延误"),
        "{}",
        acknowledged.body
    );
    assert!(!acknowledged.body.contains("act-acknowledge-delay"));
    assert_eq!(home_count(&vp.get("/").await, "延误待确认"), "0");
    net.settle(SETTLE).await;

    let list = clerk.get("/ui/delays").await;
    let overdue = row(&list, &late_no).expect("still late");
    assert!(overdue.contains("副总已确认"), "{overdue}");
    net.stop().await;
}
