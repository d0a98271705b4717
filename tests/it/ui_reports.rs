//! 报表 in the workbench: the daily figures (销售额, 接单额, 未发货额), the month per store and the
//! statistics, each with its SVG chart, the Excel and CSV downloads for the signed-in session
//! (read back with calamine), what is refused or corrected in Chinese, and the "as of" of a
//! peer once two nodes have synced a shipment made on the other.

use std::time::Duration;

use reqwest::StatusCode;

use crate::flow::into_production;
use crate::harness::{three_lines, TestNode};
use crate::receivables::{customer_on_terms, shipped_order};
use crate::testnet::TestNet;
use crate::ui::{signed_in, PageClient};

const SETTLE: Duration = Duration::from_secs(30);

fn today() -> String {
    neiqin::domain::report::business_day(chrono::Utc::now()).to_string()
}

/// The widths of the chart's bars, in order.
fn bar_widths(body: &str) -> Vec<u32> {
    let svg = &body[body.find("<svg").expect("a chart")..body.find("</svg>").unwrap()];
    svg.split("<rect ")
        .skip(1)
        .map(|rect| {
            let w = &rect[rect.find("width=\"").unwrap() + 7..];
            w[..w.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn report_pages_draw_their_charts_and_download_excel_and_csv() {
    let mut node = TestNode::start().await;
    let customer = customer_on_terms(&mut node, "上海真北家居", "月结30天").await;
    shipped_order(&mut node, &customer).await;
    let open = node.order(&customer, three_lines()).await;
    into_production(&mut node, open["id"].as_str().unwrap()).await;
    let day = today();

    let mut supervisor = signed_in(&node, "陈主管", "supervisor").await;
    let page = supervisor.get("/ui/reports").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("href=\"/ui/reports\""), "nav link");
    for (label, amount, orders) in [
        ("销售额", "¥9,828.49", 1),
        ("接单额", "¥19,656.98", 2),
        ("未发货额", "¥9,828.49", 1),
    ] {
        let shown = format!(
            "<span class=\"label\">{label}</span> <span class=\"money\">{amount}</span> <span class=\"muted\">{orders} 单</span>"
        );
        assert!(body.contains(&shown), "{shown} in {body}");
    }
    // 接单额 is twice the others: its bar is the full width, theirs half of it.
    assert_eq!(bar_widths(body), vec![460, 230, 230], "{body}");
    assert!(body.contains("尚未与其他节点同步"), "as of: {body}");
    let xlsx_link = format!("href=\"/ui/reports/export?kind=daily&date={day}&format=xlsx\"");
    assert!(
        body.replace("&#38;", "&").contains(&xlsx_link),
        "{xlsx_link} in {body}"
    );

    let (status, content_type, xlsx) = supervisor
        .get_bytes(&format!(
            "/ui/reports/export?kind=daily&date={day}&format=xlsx"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range("报表").unwrap();
    let cells: Vec<Data> = sheet.rows().flatten().cloned().collect();
    assert!(
        cells.contains(&Data::String("未发货额".into())),
        "{cells:?}"
    );
    assert!(cells.contains(&Data::Float(19656.98)), "{cells:?}");
    let (status, content_type, csv) = supervisor
        .get_bytes(&format!(
            "/ui/reports/export?kind=daily&date={day}&format=csv"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"));
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert!(text.contains("接单额,合计,19656.98,2"), "{text}");

    let month = &day[..7];
    let page = supervisor
        .get(&format!("/ui/reports?kind=monthly&month={month}"))
        .await;
    let total = &page.body[page.body.find("id=\"report-total\"").expect("total")..];
    assert!(total.contains("¥9,828.49"), "{total}");
    assert_eq!(bar_widths(&page.body), vec![460]);
    let page = supervisor
        .get(&format!(
            "/ui/reports?kind=sales&by=region&from={day}&to={day}"
        ))
        .await;
    assert!(page.body.contains("<td>East</td>"), "{}", page.body);
    assert!(page.body.contains("按区域销售额"));
    assert_eq!(bar_widths(&page.body), vec![460]);

    // Wrong inputs are said in Chinese and replaced by the default.
    let page = supervisor
        .get("/ui/reports?kind=monthly&month=2026-13")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("月份“2026-13”不是 YYYY-MM 格式"),
        "{}",
        page.body
    );
    let page = supervisor
        .get(&format!("/ui/reports?kind=sales&from={day}&to=2020-01-01"))
        .await;
    assert!(
        page.body.contains("晚于截止日期 2020-01-01，已对调"),
        "{}",
        page.body
    );
    assert_eq!(
        bar_widths(&page.body),
        vec![460],
        "the swapped range has the sale"
    );
    let page = supervisor.get("/ui/reports?kind=daily&date=昨天").await;
    assert!(
        page.body.contains("不是 YYYY-MM-DD 格式的日期"),
        "{}",
        page.body
    );
    // A day without sales: no bars, and the page says so.
    let page = supervisor
        .get("/ui/reports?kind=daily&date=2020-01-01")
        .await;
    assert_eq!(bar_widths(&page.body), vec![0, 0, 0]);
    let page = supervisor
        .get("/ui/reports?kind=sales&from=2020-01-01&to=2020-01-31")
        .await;
    assert!(page.body.contains("没有数据"), "{}", page.body);

    // The warehouse has no report link; signed out, a download goes to the sign-in page.
    let mut keeper = signed_in(&node, "刘仓管", "warehouse").await;
    assert!(!keeper.get("/").await.body.contains("href=\"/ui/reports\""));
    let mut stranger = PageClient::new(&node);
    let (status, _, _) = stranger
        .get_bytes("/ui/reports/export?kind=daily&format=csv")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_report_on_one_node_counts_a_shipment_made_on_the_other_and_says_as_of() {
    let mut net = TestNet::start(2).await;
    let customer = customer_on_terms(&mut net.nodes[1], "杭州滨江家居", "月结30天").await;
    shipped_order(&mut net.nodes[1], &customer).await;
    net.settle(SETTLE).await;

    let mut vp = signed_in(&net.nodes[0], "周副总", "vp").await;
    let page = vp.get("/ui/reports?kind=daily").await;
    assert!(
        page.body
            .contains("<span class=\"label\">销售额</span> <span class=\"money\">¥9,828.49</span>"),
        "{}",
        page.body
    );
    let as_of = &page.body[page.body.find("id=\"as-of\"").unwrap()..];
    let as_of = &as_of[..as_of.find("</p>").unwrap()];
    assert!(as_of.contains("最后同步于"), "{as_of}");
    assert!(!as_of.contains("尚未与其他节点同步"), "{as_of}");
    net.stop().await;
}
