//! Reports against a small scenario whose figures were worked out by hand (fixtures/
//! report-scenario.json: partial shipments, a return, a cancellation, a shipment just after
//! midnight in China), before and after a sync that brings shipments, and as CSV / XLSX files
//! read back by a CSV reader and calamine.

use crate::flow::*;
use crate::harness::{three_lines, TestNode};
use crate::testnet::TestNet;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn scenario_node() -> TestNode {
    let node = TestNode::start().await;
    let office = &node.node.as_ref().unwrap().office;
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/report-scenario.json"
    ))
    .unwrap();
    let set = neiqin::import::parse(&bytes).unwrap();
    neiqin::import::import(office, &set, |_, _| {}).unwrap();
    node
}

fn numbers(figure: &Value) -> Vec<(String, String)> {
    figure["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["number"]
                    .as_str()
                    .unwrap()
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .to_string(),
                o["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn daily(node: &TestNode, date: &str) -> Value {
    let (status, r) = node
        .get(&format!("/api/reports/daily?date={date}"), &node.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    r
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn daily_figures_match_the_hand_checked_scenario() {
    let node = scenario_node().await;
    // Expected by hand: O1 = 3 x 1333.33 + 4580.00 = 8579.99; O2 = 4 x 312.1250 = 1248.50;
    // O3 = 999.9950 -> 1000.00, cancelled on 10-14.
    let d = daily(&node, "2026-10-09").await;
    assert_eq!(d["sales"]["amount"], "0.00");
    assert_eq!(d["unshipped"]["amount"], "8579.99");

    let d = daily(&node, "2026-10-10").await;
    assert_eq!(numbers(&d["sales"]), pairs(&[("O1", "1333.33")]));
    assert_eq!(numbers(&d["intake"]), pairs(&[("O2", "1248.50")]));
    assert_eq!(
        numbers(&d["unshipped"]),
        pairs(&[("O1", "7246.66"), ("O2", "1248.50")])
    );
    assert_eq!(d["unshipped"]["amount"], "8495.16");

    let d = daily(&node, "2026-10-12").await;
    assert_eq!(
        d["sales"]["amount"], "7246.66",
        "2 x 1333.33 (as 3999.99 - 1333.33) + 4580.00"
    );
    assert_eq!(numbers(&d["intake"]), pairs(&[("O3", "1000.00")]));
    assert_eq!(
        numbers(&d["unshipped"]),
        pairs(&[("O2", "1248.50"), ("O3", "1000.00")])
    );

    let d = daily(&node, "2026-10-14").await;
    assert_eq!(
        numbers(&d["unshipped"]),
        pairs(&[("O2", "1248.50")]),
        "cancelled O3 is no longer open"
    );

    let d = daily(&node, "2026-10-16").await;
    assert_eq!(
        d["sales"]["amount"], "-1333.33",
        "the returned sofa comes off sales on the day it arrives"
    );

    // 00:30 on 1 November in China is 31 October in UTC: it counts on 1 November.
    let d = daily(&node, "2026-10-31").await;
    assert_eq!(d["sales"]["amount"], "0.00");
    let d = daily(&node, "2026-11-01").await;
    assert_eq!(numbers(&d["sales"]), pairs(&[("O2", "1248.50")]));
    assert_eq!(d["unshipped"]["amount"], "0.00");
    node.stop().await;
}

#[tokio::test]
async fn monthly_per_store_and_statistics_match_the_scenario() {
    let node = scenario_node().await;
    let (_, m) = node
        .get("/api/reports/monthly?month=2026-10", &node.admin)
        .await;
    let stores = m["stores"].as_array().unwrap();
    assert_eq!(stores.len(), 1, "{m}");
    assert_eq!(stores[0]["store"], "SH-001");
    assert_eq!(stores[0]["region"], "East");
    assert_eq!(stores[0]["channel"], "专卖店");
    assert_eq!(stores[0]["amount"], "7246.66");
    assert_eq!(stores[0]["quantity"], "3");
    assert_eq!(stores[0]["orders"], 1);
    assert_eq!(m["total"]["amount"], "7246.66");
    let (_, m) = node
        .get("/api/reports/monthly?month=2026-11", &node.admin)
        .await;
    assert_eq!(m["stores"][0]["store"], "GZ-001");
    assert_eq!(m["stores"][0]["region"], "South");
    assert_eq!(m["total"]["amount"], "1248.50");

    let (_, s) = node
        .get(
            "/api/reports/sales?by=product&from=2026-10-01&to=2026-11-30",
            &node.admin,
        )
        .await;
    let rows: Vec<(String, String, String, String)> = s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["month"].as_str().unwrap().into(),
                r["key"].as_str().unwrap().into(),
                r["amount"].as_str().unwrap().into(),
                r["quantity"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "2026-10".into(),
                "BD-1806".into(),
                "4580.00".into(),
                "1".into()
            ),
            (
                "2026-10".into(),
                "SF-2108".into(),
                "2666.66".into(),
                "2".into()
            ),
            (
                "2026-11".into(),
                "CH-0301".into(),
                "1248.50".into(),
                "4".into()
            ),
        ]
    );
    assert_eq!(s["total_amount"], "8495.16");
    for (by, key) in [
        ("region", "East"),
        ("channel", "专卖店"),
        ("salesperson", "王磊"),
        ("store", "SH-001"),
    ] {
        let (status, s) = node
            .get(
                &format!("/api/reports/sales?by={by}&from=2026-10-01&to=2026-10-31"),
                &node.admin,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(s["rows"].as_array().unwrap().len(), 1, "{by}: {s}");
        assert_eq!(s["rows"][0]["key"], key);
        assert_eq!(s["rows"][0]["amount"], "7246.66");
    }
    let (status, _) = node
        .get(
            "/api/reports/sales?by=colour&from=2026-10-01&to=2026-10-31",
            &node.admin,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = node
        .get("/api/reports/monthly?month=2026-13", &node.admin)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    node.stop().await;
}

#[tokio::test]
async fn csv_and_xlsx_files_read_back_with_chinese_headers_and_totals() {
    let node = scenario_node().await;
    let fetch = |format: &'static str| {
        let url = format!(
            "{}/api/reports/monthly?month=2026-10&format={format}",
            node.base
        );
        let token = node.admin.clone();
        async move {
            let resp = crate::harness::client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
            (ct, resp.bytes().await.unwrap().to_vec())
        }
    };
    let (ct, csv_bytes) = fetch("csv").await;
    assert!(ct.starts_with("text/csv"));
    assert_eq!(&csv_bytes[..3], &[0xEF, 0xBB, 0xBF], "UTF-8 BOM for Excel");
    let mut reader = csv::Reader::from_reader(&csv_bytes[3..]);
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        headers,
        ["门店", "客户", "区域", "渠道", "金额", "数量", "订单数"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&records[0][0], "SH-001");
    assert_eq!(&records[0][1], "上海红星美凯龙真北店");
    assert_eq!(&records[0][4], "7246.66");
    let last = records.last().unwrap();
    assert_eq!(&last[0], "合计");
    assert_eq!(&last[4], "7246.66");

    let (ct, xlsx) = fetch("xlsx").await;
    assert!(ct.contains("spreadsheetml"));
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range("报表").unwrap();
    assert_eq!(sheet.get_value((1, 0)), Some(&Data::String("门店".into())));
    assert_eq!(
        sheet.get_value((2, 1)),
        Some(&Data::String("上海红星美凯龙真北店".into()))
    );
    assert_eq!(sheet.get_value((2, 4)), Some(&Data::Float(7246.66)));
    assert_eq!(sheet.get_value((3, 0)), Some(&Data::String("合计".into())));
    assert_eq!(sheet.get_value((3, 4)), Some(&Data::Float(7246.66)));

    let (_, daily_csv) = {
        let url = format!("{}/api/reports/daily?date=2026-10-10&format=csv", node.base);
        let resp = crate::harness::client()
            .get(url)
            .bearer_auth(&node.admin)
            .send()
            .await
            .unwrap();
        ((), resp.bytes().await.unwrap().to_vec())
    };
    let text = String::from_utf8(daily_csv[3..].to_vec()).unwrap();
    assert!(text.starts_with("指标,订单号,金额,订单数"), "{text}");
    assert!(text.contains("未发货额,合计,8495.16,2"), "{text}");
    node.stop().await;
}

#[tokio::test]
async fn a_report_before_and_after_a_sync_that_brings_shipments() {
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let o = net.nodes[0].order(&customer, three_lines()).await;
    let id = o["id"].as_str().unwrap().to_string();
    ready_to_ship(&mut net.nodes[0], &id).await;
    net.settle(Duration::from_secs(30)).await;
    net.partition(&[&[0], &[1]]);
    act(
        &mut net.nodes[1],
        Role::Warehouse,
        &id,
        "shipments",
        json!({"lines": ship_all(&o)}),
    )
    .await;
    let today = neiqin::domain::report::business_day(chrono::Utc::now());
    let before = daily(&net.nodes[0], &today.to_string()).await;
    assert_eq!(
        before["sales"]["amount"], "0.00",
        "the clerk's node has not heard of the shipment"
    );
    assert_eq!(before["unshipped"]["amount"], "9828.49");
    let on_warehouse = daily(&net.nodes[1], &today.to_string()).await;
    assert_eq!(on_warehouse["sales"]["amount"], "9828.49");
    net.heal();
    net.settle(Duration::from_secs(30)).await;
    let after = daily(&net.nodes[0], &today.to_string()).await;
    assert_eq!(after["sales"]["amount"], "9828.49");
    assert_eq!(after["unshipped"]["amount"], "0.00");
    let peers = after["as_of"]["peers"].as_array().unwrap();
    assert_eq!(
        peers.len(),
        1,
        "the report says as of when it last synced: {after}"
    );
    assert!(peers[0]["last_sync"].is_string());
    net.stop().await;
}

#[test]
fn the_cli_prints_a_readable_daily_table() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let bin = env!("CARGO_BIN_EXE_neiqin");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .env("NEIQIN_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&[
        "init",
        "--data",
        data.to_str().unwrap(),
        "--name",
        "n",
        "--role",
        "clerk",
        "--roles",
        "office,warehouse,finance",
    ]);
    run(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/report-scenario.json"),
    ]);
    let table = run(&[
        "report",
        "daily",
        "--data",
        data.to_str().unwrap(),
        "--date",
        "2026-10-10",
    ]);
    assert!(table.starts_with("每日报表 2026-10-10"), "{table}");
    assert!(
        table.contains("未发货额") && table.contains("8495.16"),
        "{table}"
    );
    let out = tmp.path().join("m.xlsx");
    run(&[
        "report",
        "monthly",
        "--data",
        data.to_str().unwrap(),
        "--month",
        "2026-10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(std::fs::metadata(&out).unwrap().len() > 1000);
}
