//! 回款 in the workbench, as a browser without script uses it: the aging table per customer with
//! its totals, the 催款 queue and a reminder recorded from it (refused in Chinese without a
//! note, keeping what was typed), finance's payment over several orders (each refusal beside
//! its field, what was typed kept), the home pages' counts, and the same work split over two
//! nodes that sync.

use std::time::Duration;

use reqwest::StatusCode;

use crate::flow::order;
use crate::harness::TestNode;
use crate::receivables::{customer_on_terms, shipped_order};
use crate::testnet::TestNet;
use crate::ui::{signed_in, PageClient};

const SETTLE: Duration = Duration::from_secs(30);

async fn number(node: &mut TestNode, id: &str) -> String {
    order(node, id).await["number"]
        .as_str()
        .expect("number")
        .to_string()
}

/// The `<tr>` of the table `table_id` that mentions `needle`.
fn row_of<'a>(body: &'a str, table_id: &str, needle: &str) -> &'a str {
    let start = body
        .find(&format!("id=\"{table_id}\""))
        .unwrap_or_else(|| panic!("table {table_id} in {body}"));
    let table = &body[start..];
    let table = &table[..table.find("</table>").unwrap_or(table.len())];
    table
        .split("<tr")
        .find(|row| row.contains(needle))
        .unwrap_or_else(|| panic!("{needle} in table {table_id}: {table}"))
}

async fn remind(
    page: &mut PageClient,
    order: &str,
    note: &str,
    next: &str,
) -> (StatusCode, String) {
    let csrf = page.get("/ui/receivables").await.csrf();
    let answer = page
        .post(
            "/ui/receivables/remind",
            &[
                ("csrf", &csrf),
                ("order", order),
                ("note", note),
                ("next_date", next),
            ],
        )
        .await;
    (answer.status, answer.body)
}

async fn pay(page: &mut PageClient, customer: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let csrf = page
        .get(&format!("/ui/receivables/pay?customer={customer}"))
        .await
        .csrf();
    let mut fields = vec![("csrf", csrf.as_str()), ("customer", customer)];
    fields.extend_from_slice(form);
    let answer = page.post("/ui/receivables/pay", &fields).await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn receivables_pages_show_aging_record_a_reminder_and_a_payment_over_two_orders() {
    let mut node = TestNode::start().await;
    // Cash terms: due the day it ships (today), so in this week's 催款 queue.
    let cash = customer_on_terms(&mut node, "上海真北家居", "现款").await;
    let monthly = customer_on_terms(&mut node, "苏州园区家居", "月结30天").await;
    let a = shipped_order(&mut node, &cash).await;
    let b = shipped_order(&mut node, &cash).await;
    let c = shipped_order(&mut node, &monthly).await;
    let (na, nb, nc) = (
        number(&mut node, &a).await,
        number(&mut node, &b).await,
        number(&mut node, &c).await,
    );

    let mut clerk = signed_in(&node, "李娜", "clerk").await;
    let home = clerk.get("/").await;
    assert!(
        home.body.contains(
            "<a href=\"/ui/receivables#reminders\"><span class=\"count\">3</span>回款跟踪</a>"
        ),
        "{}",
        home.body
    );
    assert!(home.body.contains("href=\"/ui/receivables\""), "nav link");

    let page = clerk.get("/ui/receivables").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    let row = row_of(body, "aging", "上海真北家居");
    assert!(row.contains("<td class=\"num\">2</td>"), "{row}");
    assert!(row.contains("<td class=\"money\">¥19,656.98</td>"), "{row}");
    assert!(row.contains("现款"), "{row}");
    let row = row_of(body, "aging", "苏州园区家居");
    assert!(row.contains("<td class=\"money\">¥9,828.49</td>"), "{row}");
    let total = row_of(body, "aging", "合计");
    assert!(
        total.contains("<td class=\"money\">¥29,485.47</td>"),
        "{total}"
    );
    assert!(
        !body.contains("id=\"record-payment\""),
        "a clerk records no payment"
    );
    // Due today: this week's queue holds the cash customer's orders, not the monthly one's.
    let due = row_of(body, "due-this-week", &na);
    assert!(due.contains("今天到期") && due.contains("未催过"), "{due}");
    row_of(body, "due-this-week", &nb);
    assert!(
        !body[body.find("id=\"due-this-week\"").unwrap()..].contains(&nc),
        "{nc} is due in 30 days"
    );

    // A reminder without a note is refused beside its order, keeping the date typed.
    let (status, body) = remind(&mut clerk, &a, "  ", "2031-01-05").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let row = row_of(&body, "due-this-week", &na);
    assert!(row.contains("催款内容不能为空"), "{row}");
    assert!(row.contains("value=\"2031-01-05\""), "{row}");
    let (status, body) = remind(&mut clerk, &a, "已电话催款，客户答应周五付", "2031-01-05").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&format!("已记录订单 {na} 的催款")), "{body}");
    let row = row_of(&body, "due-this-week", &na);
    assert!(
        row.contains("李娜：已电话催款，客户答应周五付（下次跟进 2031-01-05）"),
        "{row}"
    );

    // The warehouse sees no reminder form, and a reminder it posts anyway is refused.
    let mut keeper = signed_in(&node, "刘仓管", "warehouse").await;
    let page = keeper.get("/ui/receivables").await;
    assert!(!page.body.contains("action=\"/ui/receivables/remind\""));
    assert!(
        !page.body.contains("href=\"/ui/receivables\""),
        "no nav link"
    );
    let (status, body) = remind(&mut keeper, &b, "催一下", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("您的角色不能进行这项操作"), "{body}");
    assert_eq!(
        clerk
            .get(&format!("/ui/receivables/pay?customer={cash}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Finance: the home count links to the payment form, which lists the customer's orders.
    let mut finance = signed_in(&node, "王会计", "finance").await;
    let home = finance.get("/").await;
    assert!(
        home.body
            .contains("<a href=\"/ui/receivables/pay\"><span class=\"count\">3</span>回款登记</a>"),
        "{}",
        home.body
    );
    let list = finance.get("/ui/receivables").await;
    assert!(list
        .body
        .contains(&format!("/ui/receivables/pay?customer={cash}")));
    let form = finance
        .get(&format!("/ui/receivables/pay?customer={cash}"))
        .await;
    assert!(
        form.body.contains(&format!("name=\"alloc_{a}\"")),
        "{}",
        form.body
    );
    assert!(form.body.contains(&format!("name=\"alloc_{b}\"")));
    assert!(!form.body.contains(&format!("name=\"alloc_{c}\"")));

    // Allocations not adding up: refused in Chinese, everything typed kept.
    let alloc_a = format!("alloc_{a}");
    let alloc_b = format!("alloc_{b}");
    let (status, body) = pay(
        &mut finance,
        &cash,
        &[
            ("bank_reference", "CMB-UI-1"),
            ("amount", "5000"),
            ("date", "2026-12-01"),
            ("method", "银行转账"),
            ("payer", "张伟"),
            (&alloc_a, "3000"),
            (&alloc_b, "3000"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("分配金额合计 6000 与收款金额 5000 不符"),
        "{body}"
    );
    assert!(body.contains("value=\"CMB-UI-1\"") && body.contains("value=\"张伟\""));
    assert!(row_of(&body, "allocations", &na).contains("value=\"3000\""));
    // A word for an amount and no bank reference: each said beside its field.
    let (status, body) = pay(
        &mut finance,
        &cash,
        &[
            ("bank_reference", " "),
            ("amount", "5000"),
            ("date", "2026-12-01"),
            (&alloc_a, "三千"),
            (&alloc_b, "2000"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(&format!("id=\"error-alloc-{a}\">金额“三千”不是数字")),
        "{body}"
    );
    // More than an order owes: the service's rule, beside nothing, in Chinese.
    let (status, body) = pay(
        &mut finance,
        &cash,
        &[
            ("bank_reference", "CMB-UI-1"),
            ("amount", "10000"),
            ("date", "2026-12-01"),
            (&alloc_a, "10000"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("分配金额超过订单"), "{body}");
    let (status, body) = pay(
        &mut finance,
        &cash,
        &[
            ("bank_reference", " "),
            ("amount", "5000"),
            ("date", "2026-12-01"),
            (&alloc_a, "3000"),
            (&alloc_b, "2000"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("id=\"error-bank_reference\">须填写流水号"),
        "{body}"
    );

    let (status, body) = pay(
        &mut finance,
        &cash,
        &[
            ("bank_reference", "CMB-UI-1"),
            ("amount", "5,000.00"),
            ("date", "2026-12-01"),
            ("method", "银行转账"),
            ("payer", "张伟"),
            (&alloc_a, "3000"),
            (&alloc_b, "2000"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(&format!(
            "已登记回款 ¥5,000.00（流水号 CMB-UI-1），分配到 2 个订单：{na} ¥3,000.00，{nb} ¥2,000.00"
        )),
        "{body}"
    );
    assert!(row_of(&body, "allocations", &na).contains("¥6,828.49"));
    assert!(row_of(&body, "allocations", &nb).contains("¥7,828.49"));
    let page = clerk.get("/ui/receivables").await;
    let row = row_of(&page.body, "aging", "上海真北家居");
    assert!(row.contains("<td class=\"money\">¥14,656.98</td>"), "{row}");
    let total = row_of(&page.body, "aging", "合计");
    assert!(
        total.contains("<td class=\"money\">¥24,485.47</td>"),
        "{total}"
    );
}

#[tokio::test]
async fn a_reminder_and_a_payment_recorded_on_two_nodes_show_on_both_after_sync() {
    let mut net = TestNet::start(2).await;
    let cash = customer_on_terms(&mut net.nodes[0], "杭州滨江家居", "现款").await;
    let id = shipped_order(&mut net.nodes[0], &cash).await;
    let num = number(&mut net.nodes[0], &id).await;
    net.settle(SETTLE).await;

    let mut clerk = signed_in(&net.nodes[0], "李娜", "clerk").await;
    let (status, body) = remind(&mut clerk, &id, "微信催款", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut finance = signed_in(&net.nodes[1], "王会计", "finance").await;
    let alloc = format!("alloc_{id}");
    let (status, body) = pay(
        &mut finance,
        &cash,
        &[
            ("bank_reference", "ICBC-TWO-1"),
            ("amount", "1000"),
            ("date", "2026-12-01"),
            (&alloc, "1000"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    net.settle(SETTLE).await;

    // The clerk's node sees finance's payment; finance's node sees the clerk's reminder.
    let page = clerk.get("/ui/receivables").await;
    let row = row_of(&page.body, "aging", "杭州滨江家居");
    assert!(row.contains("<td class=\"money\">¥8,828.49</td>"), "{row}");
    let page = finance.get("/ui/receivables").await;
    let row = row_of(&page.body, "due-this-week", &num);
    assert!(row.contains("李娜：微信催款"), "{row}");
    assert!(row.contains("¥8,828.49"), "{row}");
    net.stop().await;
}

#[tokio::test]
async fn a_long_reminder_list_shows_its_oldest_fifty_and_says_how_many() {
    let mut node = TestNode::start().await;
    let cash = customer_on_terms(&mut node, "上海真北家居", "现款").await;
    for _ in 0..51 {
        shipped_order(&mut node, &cash).await;
    }
    let mut clerk = signed_in(&node, "李娜", "clerk").await;
    let page = clerk.get("/ui/receivables").await;
    assert!(page.body.contains("本周到期（51）"), "{}", page.body);
    assert!(page.body.contains("按到期日先后显示最早的 50 个订单"));
    let start = page.body.find("id=\"due-this-week\"").unwrap();
    let table = &page.body[start..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(
        table.matches("action=\"/ui/receivables/remind\"").count(),
        50
    );
    // The aging table still counts every order.
    let row = row_of(&page.body, "aging", "上海真北家居");
    assert!(row.contains("<td class=\"num\">51</td>"), "{row}");
}
