//! The workbench in a real browser: Debian's chromium, headless, driven through chromedriver
//! (WebDriver, fantoccini) against a real node on loopback. Signs in (a wrong password, then
//! the right one), walks the order list's tabs, opens the print page, checks that no page asks
//! another origin for anything, and saves a screenshot of each main page under
//! `target/e2e-screenshots/` for review. One scenario takes an order through three nodes'
//! workbenches (office, finance, warehouse), each person on their own node. Others record a
//! 催款 by keyboard and download a report's 导出Excel (opened with calamine), and ask for a
//! return with a photo chosen through the file input, which the VP then approves.
//!
//! Without chromium or chromedriver the test prints a notice and passes, except when `CI` is
//! set: CI installs both (`.ci/run`), so there a missing browser is a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::harness::{three_lines, TestNode};
use crate::testnet::TestNet;
use crate::ui::user_with_password;
use neiqin::domain::role::Role;

/// How long a sync between the test's nodes may take.
const SETTLE: Duration = Duration::from_secs(30);

/// chromedriver, started by this test on a free loopback port, stopped by its pid on drop.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The child handle kills exactly the process this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// chromium and chromedriver, or None (after a notice) when they are missing outside CI.
fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_program(&["chromium", "chromium-browser"]);
    let driver = find_program(&["chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        (chromium, driver) => {
            let missing = format!(
                "{}{}",
                if chromium.is_none() { "chromium " } else { "" },
                if driver.is_none() { "chromedriver" } else { "" }
            );
            assert!(
                !in_ci(),
                "CI is set but {missing} is missing: .ci/run installs chromium and chromium-driver"
            );
            eprintln!(
                "NOTICE: browser tests skipped: {missing} not installed \
                 (apt-get install chromium chromium-driver fonts-noto-cjk to run them)"
            );
            None
        }
    }
}

async fn start_chromedriver(program: &Path) -> Chromedriver {
    let port = free_loopback_port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Chromedriver { child, port };
    let client = crate::harness::client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/status"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if ready.is_some() {
            return driver;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where the browser saves downloads: a folder of its profile.
fn downloads_of(profile: &Path) -> PathBuf {
    profile.join("downloads")
}

async fn open_browser(driver: &Chromedriver, chromium: &Path, profile: &Path) -> Client {
    let downloads = downloads_of(profile);
    std::fs::create_dir_all(&downloads).expect("downloads dir");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium.to_string_lossy(),
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.to_string_lossy(),
                "download.prompt_for_download": false,
            },
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("e2e-screenshots")
}

/// Every resource the page loaded came from `origin`.
async fn assert_only_from(browser: &Client, origin: &str, page: &str) -> Result<(), String> {
    let names = browser
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .concat(performance.getEntriesByType('navigation').map(e => e.name));",
            vec![],
        )
        .await
        .map_err(|e| format!("{page}: {e}"))?;
    let names: Vec<String> = serde_json::from_value(names).map_err(|e| e.to_string())?;
    if names.is_empty() {
        return Err(format!("{page}: the browser reported no requests at all"));
    }
    match names.iter().find(|n| !n.starts_with(origin)) {
        Some(other) => Err(format!("{page} requested {other}, not from {origin}")),
        None => Ok(()),
    }
}

async fn shoot(browser: &Client, name: &str) -> Result<(), String> {
    let png = browser.screenshot().await.map_err(|e| e.to_string())?;
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(format!("{name}.png")), png).map_err(|e| e.to_string())
}

async fn text_of(browser: &Client, css: &str) -> Result<String, String> {
    browser
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .text()
        .await
        .map_err(|e| format!("{css}: {e}"))
}

/// Types into the sign-in form and submits it.
async fn sign_in(browser: &Client, origin: &str, name: &str, password: &str) -> Result<(), String> {
    browser
        .goto(&format!("{origin}/ui/login"))
        .await
        .map_err(|e| e.to_string())?;
    let field = |id: &'static str| browser.find(Locator::Id(id));
    let name_field = field("name").await.map_err(|e| e.to_string())?;
    name_field.clear().await.map_err(|e| e.to_string())?;
    name_field
        .send_keys(name)
        .await
        .map_err(|e| e.to_string())?;
    field("password")
        .await
        .map_err(|e| e.to_string())?
        .send_keys(password)
        .await
        .map_err(|e| e.to_string())?;
    field("sign-in")
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())
}

/// Waits (at most 15 s) until the page's path and query satisfy `arrived`: a click on a link or
/// a submit button may return before the next page has loaded.
async fn wait_for_url(
    browser: &Client,
    what: &str,
    arrived: impl Fn(&str, &str) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = browser.current_url().await.map_err(|e| e.to_string())?;
        if arrived(url.path(), url.query().unwrap_or("")) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: still at {url} after 15 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (at most 15 s) for an element of the next page.
async fn wait_for(browser: &Client, css: &str) -> Result<(), String> {
    browser
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .map(|_| ())
        .map_err(|e| format!("waiting for {css}: {e}"))
}

fn check(condition: bool, what: impl Into<String>) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what.into())
    }
}

async fn scenario(
    browser: &Client,
    origin: &str,
    order_id: &str,
    number: &str,
) -> Result<(), String> {
    // A wrong password: the form again, with the message and the name as typed.
    sign_in(browser, origin, "李娜", "不对的密码-0000").await?;
    wait_for(browser, "#sign-in-error").await?;
    let error = text_of(browser, "#sign-in-error").await?;
    check(
        error.contains("用户名或密码错误"),
        format!("sign-in error: {error}"),
    )?;
    let kept = browser
        .find(Locator::Id("name"))
        .await
        .map_err(|e| e.to_string())?
        .prop("value")
        .await
        .map_err(|e| e.to_string())?;
    check(
        kept.as_deref() == Some("李娜"),
        format!("name kept: {kept:?}"),
    )?;
    shoot(browser, "01-sign-in-wrong-password").await?;
    assert_only_from(browser, origin, "sign-in").await?;

    // The right one: the clerk's 工作台.
    sign_in(browser, origin, "李娜", "正确的密码-2026").await?;
    wait_for_url(browser, "sign-in", |path, _| path == "/").await?;
    wait_for(browser, "#queues").await?;
    let who = text_of(browser, "header.top .who").await?;
    check(who.contains("李娜（内勤）"), format!("header: {who}"))?;
    let queues = text_of(browser, "#queues").await?;
    check(queues.contains("待核单"), format!("queues: {queues}"))?;
    // The stylesheet arrived and applies (the CSP lets the node's own assets through).
    let header_colour = browser
        .execute(
            "return getComputedStyle(document.querySelector('header.top')).backgroundColor;",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    check(
        header_colour == "rgb(19, 50, 79)",
        format!("stylesheet not applied: header is {header_colour}"),
    )?;
    shoot(browser, "02-home-clerk").await?;
    assert_only_from(browser, origin, "home").await?;

    // The order list: a tab per status; 待核单 holds the new order, 已发货 does not.
    browser
        .goto(&format!("{origin}/ui/orders"))
        .await
        .map_err(|e| e.to_string())?;
    let tabs = text_of(browser, "#status-tabs").await?;
    for tab in [
        "全部",
        "待核单",
        "待审核",
        "生产中",
        "已发货",
        "已取消",
        "已归档",
    ] {
        check(tabs.contains(tab), format!("tab {tab} missing: {tabs}"))?;
    }
    shoot(browser, "03-orders").await?;
    assert_only_from(browser, origin, "orders").await?;
    browser
        .find(Locator::XPath(
            "//nav[@id='status-tabs']/a[starts-with(normalize-space(.), '待核单')]",
        ))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for_url(browser, "the 待核单 tab", |_, query| {
        query.contains("status=taken")
    })
    .await?;
    let active = text_of(browser, "#status-tabs a.active").await?;
    check(
        active == "待核单 1",
        format!("active tab and its count: {active}"),
    )?;
    let rows = text_of(browser, "#orders tbody").await?;
    check(
        rows.contains(number),
        format!("{number} not under 待核单: {rows}"),
    )?;
    check(rows.contains("¥9,828.49"), format!("amount: {rows}"))?;
    browser
        .find(Locator::XPath(
            "//nav[@id='status-tabs']/a[starts-with(normalize-space(.), '已发货')]",
        ))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#no-orders").await?;
    let empty = text_of(browser, "#no-orders").await?;
    check(empty.contains("没有符合条件的订单"), empty)?;

    // The 本月 shortcut fills the range as YYYY-MM-DD, from the first of the month in China.
    browser
        .goto(&format!("{origin}/ui/orders"))
        .await
        .map_err(|e| e.to_string())?;
    browser
        .find(Locator::LinkText("本月"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for_url(browser, "本月", |_, query| query.contains("from=")).await?;
    let from = browser
        .find(Locator::Css("input[name=from]"))
        .await
        .map_err(|e| e.to_string())?
        .prop("value")
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let first = neiqin::ui::format::business_today(chrono::Utc::now()).format("%Y-%m-01");
    check(from == first.to_string(), format!("本月 starts {from}"))?;
    let rows = text_of(browser, "#orders tbody").await?;
    check(
        rows.contains(number),
        format!("{number} not in 本月: {rows}"),
    )?;
    shoot(browser, "03b-orders-this-month").await?;

    // The print page: capitals, copies, signatures.
    browser
        .goto(&format!("{origin}/ui/orders/{order_id}/print?form=a4"))
        .await
        .map_err(|e| e.to_string())?;
    let sheet = text_of(browser, "section.sheet").await?;
    check(
        sheet.contains("玖仟捌佰贰拾捌元肆角玖分"),
        format!("capitals missing: {sheet}"),
    )?;
    check(sheet.contains("制单人：李娜"), format!("制单人: {sheet}"))?;
    check(sheet.contains("第一联 存根"), format!("copy name: {sheet}"))?;
    shoot(browser, "04-print-a4").await?;
    assert_only_from(browser, origin, "print a4").await?;
    browser
        .goto(&format!(
            "{origin}/ui/orders/{order_id}/print?form=continuous"
        ))
        .await
        .map_err(|e| e.to_string())?;
    shoot(browser, "05-print-continuous").await?;
    assert_only_from(browser, origin, "print continuous").await?;

    // The admin's users page.
    browser
        .goto(&format!("{origin}/ui/password"))
        .await
        .map_err(|e| e.to_string())?;
    shoot(browser, "06-password").await?;
    browser
        .find(Locator::Css("header.top form button"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for_url(browser, "退出登录", |path, _| path == "/ui/login").await?;
    sign_in(browser, origin, "王主任", "管理员的密码-2026").await?;
    wait_for_url(browser, "the admin's sign-in", |path, _| path == "/").await?;
    browser
        .goto(&format!("{origin}/ui/users"))
        .await
        .map_err(|e| e.to_string())?;
    let users = text_of(browser, "#users").await?;
    check(users.contains("李娜") && users.contains("内勤"), users)?;
    shoot(browser, "07-users").await?;
    assert_only_from(browser, origin, "users").await?;
    browser
        .goto(&format!("{origin}/"))
        .await
        .map_err(|e| e.to_string())?;
    shoot(browser, "08-home-admin").await?;
    Ok(())
}

#[tokio::test]
async fn the_workbench_in_a_real_browser() {
    let Some((chromium, driver_program)) = browser_programs() else {
        return;
    };
    let mut node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    user_with_password(&node, "王主任", "admin", "管理员的密码-2026").await;
    let customer = node.customer("上海真北家居有限公司").await;
    let order = node.order(&customer, three_lines()).await;
    let order_id = order["id"].as_str().expect("id").to_string();
    let number = order["number"].as_str().expect("number").to_string();
    // The browser is pointed at the same loopback address the node listens on.
    let origin = node.base.clone();

    let driver = start_chromedriver(&driver_program).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &chromium, profile.path()).await;
    let outcome = scenario(&browser, &origin, &order_id, &number).await;
    // Closing the session quits chromium before chromedriver is stopped.
    let _ = browser.close().await;
    drop(driver);
    node.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Sends keys to whichever element has the focus, as a person at the keyboard would.
async fn press(browser: &Client, keys: &str) -> Result<(), String> {
    browser
        .active_element()
        .await
        .map_err(|e| e.to_string())?
        .send_keys(keys)
        .await
        .map_err(|e| format!("typing {keys:?}: {e}"))
}

/// The name (else the id) of the element that has the focus.
async fn focused(browser: &Client) -> Result<String, String> {
    let name = browser
        .execute(
            "const e = document.activeElement; return e.name || e.id || e.tagName;",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(name.as_str().unwrap_or_default().to_string())
}

async fn script(browser: &Client, js: &str) -> Result<serde_json::Value, String> {
    browser
        .execute(js, vec![])
        .await
        .map_err(|e| format!("{js}: {e}"))
}

async fn keyboard_scenario(
    browser: &Client,
    node: &mut TestNode,
    customer_id: &str,
) -> Result<(), String> {
    use fantoccini::key::Key;
    let origin = node.base.clone();
    let (enter, tab) = (Key::Enter.to_string(), Key::Tab.to_string());
    sign_in(browser, &origin, "李娜", "正确的密码-2026").await?;
    wait_for_url(browser, "sign-in", |path, _| path == "/").await?;
    // The nav leads to the form.
    browser
        .find(Locator::LinkText("新建订单"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for_url(browser, "新建订单", |path, _| path == "/ui/orders/new").await?;
    wait_for(browser, "#new-order").await?;
    assert_only_from(browser, &origin, "order entry").await?;
    let lines = "return document.querySelectorAll('#entry-lines tr.entry-line').length;";
    check(
        script(browser, lines).await? == json!(1),
        "with the script the grid starts with one line",
    )?;

    // The customer, by pinyin initials: the list, Enter picks the first, the focus moves on.
    check(
        focused(browser).await? == "customer_q",
        "the customer box has the focus",
    )?;
    press(browser, "bjxh").await?;
    wait_for(browser, "#customer-choices li[data-id]").await?;
    let offered = text_of(browser, "#customer-choices").await?;
    check(
        offered.contains("北京鑫华家具有限公司"),
        format!("lookup offered {offered}"),
    )?;
    shoot(browser, "09-order-entry-lookup").await?;
    press(browser, &enter).await?;
    let chosen = script(
        browser,
        "return document.getElementById('customer_id').value;",
    )
    .await?;
    check(
        chosen == json!(customer_id),
        format!("customer chosen: {chosen}"),
    )?;
    check(
        focused(browser).await? == "project",
        "after the customer, 项目",
    )?;
    press(browser, "国贸三期").await?;
    // Enter walks the header fields to the first cell of the grid; Space ticks 含税, which
    // needs the 开票名称.
    for _ in 0..12 {
        match focused(browser).await?.as_str() {
            "sku_0" => break,
            "tax_included" => press(browser, " ").await?,
            "invoice_title" => press(browser, "北京鑫华家具有限公司").await?,
            _ => {}
        }
        press(browser, &enter).await?;
    }
    check(
        focused(browser).await? == "sku_0",
        "Enter through the header reaches the first cell",
    )?;

    // Line 1 with Tab and Enter mixed; its amount and the total appear as it is typed.
    for (keys, next) in [
        ("SF-2108", &tab),
        ("三人位沙发", &enter),
        ("套", &tab),
        ("3", &enter),
    ] {
        press(browser, keys).await?;
        press(browser, next).await?;
    }
    check(
        focused(browser).await? == "unit_price_0",
        "the cells in order",
    )?;
    press(browser, "1333.33").await?;
    let first = text_of(browser, "#entry-lines tr.entry-line .line-amount").await?;
    check(first == "¥3,999.99", format!("line amount {first}"))?;
    // Enter on the last cell of the last line adds a line.
    press(browser, &enter).await?;
    check(
        script(browser, lines).await? == json!(2),
        "Enter on the last cell added a line",
    )?;
    check(focused(browser).await? == "sku_1", "on the new line")?;
    for keys in ["CT-09", "茶几", "张", "2"] {
        press(browser, keys).await?;
        press(browser, &enter).await?;
    }
    press(browser, "4580").await?;
    let total = text_of(browser, "#total-gross").await?;
    check(total == "¥13,159.99", format!("total {total}"))?;
    // 13% included, split per line: 3999.99 / 1.13 = 3539.81, 9160.00 / 1.13 = 8106.19.
    let tax = text_of(browser, "#total-tax").await?;
    check(tax == "¥1,513.99", format!("tax {tax}"))?;
    shoot(browser, "10-order-entry-typed").await?;

    // Tab to 保存订单, Enter: the order's page.
    press(browser, &tab).await?;
    check(
        focused(browser).await? == "submit-order",
        "Tab from the last cell reaches 保存订单",
    )?;
    press(browser, &enter).await?;
    wait_for_url(browser, "the new order", |path, _| {
        path.starts_with("/ui/orders/") && path != "/ui/orders/new"
    })
    .await?;
    wait_for(browser, "#order-lines").await?;
    let url = browser.current_url().await.map_err(|e| e.to_string())?;
    let id = url.path().trim_start_matches("/ui/orders/").to_string();
    shoot(browser, "11-order-created").await?;
    let (status, order) = node.get(&format!("/api/orders/{id}"), &node.admin).await;
    check(
        status == reqwest::StatusCode::OK,
        format!("{status}: {order}"),
    )?;
    check(order["customer_id"] == customer_id, format!("{order}"))?;
    check(order["project"] == "国贸三期", format!("{order}"))?;
    check(order["totals"]["gross"] == "13159.99", format!("{order}"))?;
    check(order["totals"]["tax"] == "1513.99", format!("{order}"))?;
    check(
        order["invoice_title"] == "北京鑫华家具有限公司",
        format!("{order}"),
    )?;
    let skus: Vec<&str> = order["lines"]
        .as_array()
        .map(|l| l.iter().filter_map(|l| l["sku"].as_str()).collect())
        .unwrap_or_default();
    check(skus == ["SF-2108", "CT-09"], format!("lines {skus:?}"))?;

    // Goods left without a release: the clerk's inbox lists it and a typed text closes it.
    let warehouse = node.token(neiqin::domain::role::Role::Warehouse).await;
    let lines_left: Vec<serde_json::Value> = order["lines"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|l| json!({"line": l["id"], "quantity": l["quantity"]}))
                .collect()
        })
        .unwrap_or_default();
    let (status, got) = node
        .post(
            &format!("/api/orders/{id}/shipments"),
            &warehouse,
            json!({"lines": lines_left, "carrier": "佳吉快运", "waybill": "JJ-9", "cartons": 2, "already_left": true}),
        )
        .await;
    check(
        status == reqwest::StatusCode::OK,
        format!("{status}: {got}"),
    )?;
    browser
        .goto(&format!("{origin}/ui/anomalies"))
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#anomalies").await?;
    let inbox = text_of(browser, "#anomalies").await?;
    check(
        inbox.contains("未经财务放行发货"),
        format!("inbox: {inbox}"),
    )?;
    shoot(browser, "12-anomaly-inbox").await?;
    assert_only_from(browser, &origin, "anomaly inbox").await?;
    browser
        .find(Locator::Css("#anomalies input[name=resolution]"))
        .await
        .map_err(|e| e.to_string())?
        .send_keys(&format!("客户自提，财务已确认{enter}"))
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#form-notice").await?;
    let notice = text_of(browser, "#form-notice").await?;
    check(
        notice.contains("已记录处理结果"),
        format!("notice: {notice}"),
    )?;
    Ok(())
}

#[tokio::test]
async fn an_order_typed_with_the_keyboard_alone_in_a_real_browser() {
    let Some((chromium, driver_program)) = browser_programs() else {
        return;
    };
    let mut node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let customer = node.customer("北京鑫华家具有限公司").await;
    node.customer("上海真北家居有限公司").await;

    let driver = start_chromedriver(&driver_program).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &chromium, profile.path()).await;
    let outcome = keyboard_scenario(&browser, &mut node, &customer).await;
    let _ = browser.close().await;
    drop(driver);
    node.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Opens the order's page on `origin` and takes the action `action` through its form, filling
/// `inputs` (name, text) first; returns once the page says `done`.
async fn act_in_page(
    browser: &Client,
    origin: &str,
    order_id: &str,
    action: &str,
    inputs: &[(&str, &str)],
    done: &str,
) -> Result<(), String> {
    browser
        .goto(&format!("{origin}/ui/orders/{order_id}"))
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#order-lines").await?;
    for (name, text) in inputs {
        let field = browser
            .find(Locator::Css(&format!(
                "form[data-action='{action}'] input[name='{name}']"
            )))
            .await
            .map_err(|e| format!("{action} {name}: {e}"))?;
        field.clear().await.map_err(|e| e.to_string())?;
        field.send_keys(text).await.map_err(|e| e.to_string())?;
    }
    browser
        .find(Locator::Id(&format!("act-{action}")))
        .await
        .map_err(|e| format!("no {action} button for this role: {e}"))?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#form-notice, #form-error").await?;
    if let Ok(error) = text_of(browser, "#form-error").await {
        return Err(format!("{action} refused: {error}"));
    }
    let notice = text_of(browser, "#form-notice").await?;
    check(notice.contains(done), format!("{action}: {notice}"))?;
    assert_only_from(browser, origin, action).await
}

/// Signs out of whatever session the browser holds on `origin` (nodes share 127.0.0.1, so a
/// cookie of one node is sent to the others), then signs in as `name`.
async fn sign_in_as(
    browser: &Client,
    origin: &str,
    name: &str,
    password: &str,
) -> Result<(), String> {
    browser
        .delete_all_cookies()
        .await
        .map_err(|e| e.to_string())?;
    sign_in(browser, origin, name, password).await?;
    wait_for_url(browser, &format!("{name} signs in"), |path, _| path == "/").await
}

/// The order's way through three nodes, each person on their own node's workbench: 核单, 审核,
/// 下单 and the 出货单 at the office; payment and 放行 at finance; 发货 at the warehouse; the
/// clerk's page then shows it shipped. Then the office is cut off from every peer and its
/// workbench still lists and opens orders.
async fn three_nodes_scenario(
    browser: &Client,
    net: &mut TestNet,
    order_id: &str,
) -> Result<(), String> {
    let origin: Vec<String> = net.nodes.iter().map(|n| n.base.clone()).collect();
    let (office, finance, warehouse) = (&origin[0], &origin[1], &origin[2]);
    let password = "三个节点的密码-2026";

    sign_in_as(browser, office, "李娜", password).await?;
    act_in_page(browser, office, order_id, "verify", &[], "已核单").await?;
    sign_in_as(browser, office, "张主管", password).await?;
    act_in_page(
        browser,
        office,
        order_id,
        "approve",
        &[("note", "同意")],
        "已审核",
    )
    .await?;
    sign_in_as(browser, office, "李娜", password).await?;
    act_in_page(browser, office, order_id, "release", &[], "已下单").await?;
    act_in_page(
        browser,
        office,
        order_id,
        "shipping-doc",
        &[("route", "佳吉快运上海普陀部")],
        "已开出货单",
    )
    .await?;
    net.settle(SETTLE).await;

    sign_in_as(browser, finance, "陈会计", password).await?;
    act_in_page(
        browser,
        finance,
        order_id,
        "payment",
        &[
            ("payer", "上海真北家居有限公司"),
            ("bank_ref", "ICBC-E2E-0001"),
        ],
        "已登记收款",
    )
    .await?;
    act_in_page(browser, finance, order_id, "finance-release", &[], "已放行").await?;
    shoot(browser, "21-finance-released").await?;
    net.settle(SETTLE).await;

    sign_in_as(browser, warehouse, "赵仓管", password).await?;
    act_in_page(
        browser,
        warehouse,
        order_id,
        "ship",
        &[
            ("carrier", "佳吉快运"),
            ("waybill", "JJ-E2E-1"),
            ("cartons", "3"),
        ],
        "已发货",
    )
    .await?;
    shoot(browser, "22-warehouse-shipped").await?;
    net.settle(SETTLE).await;

    sign_in_as(browser, office, "李娜", password).await?;
    browser
        .goto(&format!("{office}/ui/orders/{order_id}"))
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#order-status").await?;
    let status = text_of(browser, "#order-status").await?;
    check(
        status == "已发货",
        format!("the clerk's node shows {status}"),
    )?;
    shoot(browser, "23-office-sees-shipped").await?;

    // Every peer down: the office's workbench still lists and opens its orders.
    net.partition(&[&[0], &[1], &[2]]);
    browser
        .goto(&format!("{office}/ui/orders?status=shipped"))
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#status-tabs").await?;
    let listed = browser
        .source()
        .await
        .map_err(|e| e.to_string())?
        .contains(order_id);
    check(listed, "the shipped order is listed with every peer down")?;
    browser
        .goto(&format!("{office}/ui/orders/{order_id}"))
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#order-status").await?;
    shoot(browser, "24-office-cut-off").await?;
    assert_only_from(browser, office, "the order page, cut off").await
}

#[tokio::test]
async fn an_order_goes_through_three_nodes_workbenches_in_a_real_browser() {
    let Some((chromium, driver_program)) = browser_programs() else {
        return;
    };
    let office = vec![Role::Clerk, Role::Supervisor, Role::Vp];
    let mut net =
        TestNet::start_with_roles(&[office, vec![Role::Finance], vec![Role::Warehouse]]).await;
    let password = "三个节点的密码-2026";
    user_with_password(&net.nodes[0], "李娜", "clerk", password).await;
    user_with_password(&net.nodes[0], "张主管", "supervisor", password).await;
    user_with_password(&net.nodes[1], "陈会计", "finance", password).await;
    user_with_password(&net.nodes[2], "赵仓管", "warehouse", password).await;
    let customer = net.nodes[0].customer("上海真北家居有限公司").await;
    let order = net.nodes[0].order(&customer, three_lines()).await;
    let order_id = order["id"].as_str().expect("id").to_string();

    let driver = start_chromedriver(&driver_program).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &chromium, profile.path()).await;
    let outcome = three_nodes_scenario(&browser, &mut net, &order_id).await;
    let _ = browser.close().await;
    drop(driver);
    net.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// The first file the browser finished saving in `dir` whose name ends with `suffix`, waited
/// for up to 15 s (chromium writes `.crdownload` until the download is whole).
async fn downloaded(dir: &Path, suffix: &str) -> Result<Vec<u8>, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let done = std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.to_string_lossy().ends_with(suffix));
        if let Some(path) = done {
            return std::fs::read(&path).map_err(|e| e.to_string());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("no {suffix} download in {}", dir.display()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn receivables_scenario(
    browser: &Client,
    origin: &str,
    number: &str,
    downloads: &Path,
) -> Result<(), String> {
    sign_in(browser, origin, "李娜", "正确的密码-2026").await?;
    wait_for_url(browser, "sign-in", |path, _| path == "/").await?;
    // The home page's 回款跟踪 leads to the 催款 queue.
    browser
        .find(Locator::XPath(
            "//div[@id='queues']/a[contains(normalize-space(.), '回款跟踪')]",
        ))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for_url(browser, "回款跟踪", |path, _| path == "/ui/receivables").await?;
    wait_for(browser, "#due-this-week").await?;
    let aging = text_of(browser, "#aging").await?;
    check(aging.contains("¥9,828.49"), format!("aging: {aging}"))?;
    // Money is right-aligned.
    let align = script(
        browser,
        "return getComputedStyle(document.querySelector('#aging td.money')).textAlign;",
    )
    .await?;
    check(align == "right", format!("money aligned {align}"))?;
    shoot(browser, "09-receivables").await?;
    assert_only_from(browser, origin, "receivables").await?;

    // A reminder typed on the order's row and sent with Enter.
    let row = format!("//table[@id='due-this-week']//tr[.//a[normalize-space(.)='{number}']]");
    let note = browser
        .find(Locator::XPath(&format!("{row}//input[@name='note']")))
        .await
        .map_err(|e| e.to_string())?;
    note.send_keys("电话催款，周五付款\u{E007}")
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#form-notice").await?;
    let notice = text_of(browser, "#form-notice").await?;
    check(
        notice.contains(&format!("已记录订单 {number} 的催款")),
        format!("notice: {notice}"),
    )?;
    let queue = text_of(browser, "#due-this-week").await?;
    check(
        queue.contains("李娜：电话催款，周五付款"),
        format!("last reminder: {queue}"),
    )?;
    shoot(browser, "10-receivables-reminded").await?;

    // 客户 and 报表 from the nav: the customer's page, then a report's chart as drawn.
    browser
        .find(Locator::LinkText("客户"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#customers").await?;
    browser
        .find(Locator::LinkText("杭州滨江家居"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#customer-aging").await?;
    shoot(browser, "11-customer").await?;
    assert_only_from(browser, origin, "customer").await?;
    browser
        .find(Locator::LinkText("报表"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#chart svg").await?;
    let widths = script(
        browser,
        "return Array.from(document.querySelectorAll('#chart rect'))\
         .map(r => Math.round(r.getBoundingClientRect().width));",
    )
    .await?;
    check(
        widths == json!([460, 460, 0]),
        format!("bars as drawn: {widths}"),
    )?;
    shoot(browser, "12-report-daily").await?;
    assert_only_from(browser, origin, "report").await?;

    // 导出Excel saves the day's report as a workbook that opens with today's sales in it.
    browser
        .find(Locator::Id("export-xlsx"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    let xlsx = downloaded(downloads, ".xlsx").await?;
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx))
        .map_err(|e| format!("the download does not open as a workbook: {e}"))?;
    let sheet = book
        .worksheet_range("报表")
        .map_err(|e| format!("no sheet 报表: {e}"))?;
    let cells: Vec<Data> = sheet.rows().flatten().cloned().collect();
    check(
        cells.contains(&Data::String("销售额".into())) && cells.contains(&Data::Float(9828.49)),
        format!("the workbook's cells: {cells:?}"),
    )?;
    Ok(())
}

#[tokio::test]
async fn a_reminder_recorded_through_the_receivables_page_in_a_real_browser() {
    let Some((chromium, driver_program)) = browser_programs() else {
        return;
    };
    let mut node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let customer = crate::receivables::customer_on_terms(&mut node, "杭州滨江家居", "现款").await;
    let id = crate::receivables::shipped_order(&mut node, &customer).await;
    let number = crate::flow::order(&mut node, &id).await["number"]
        .as_str()
        .expect("number")
        .to_string();
    let origin = node.base.clone();

    let driver = start_chromedriver(&driver_program).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &chromium, profile.path()).await;
    let outcome =
        receivables_scenario(&browser, &origin, &number, &downloads_of(profile.path())).await;
    let _ = browser.close().await;
    drop(driver);
    node.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// A return asked for from the order's page with a photo chosen through the file input (as a
/// PC or a phone's camera gives it), the photo shown beside the case as an image the browser
/// decoded, then approved by the VP in the same browser.
async fn return_scenario(
    browser: &Client,
    origin: &str,
    order_id: &str,
    photo: &Path,
) -> Result<(), String> {
    let password = "退货的密码-2026";
    sign_in_as(browser, origin, "李娜", password).await?;
    browser
        .goto(&format!("{origin}/ui/orders/{order_id}"))
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#return-request").await?;
    let reason = browser
        .find(Locator::Css("#return-request input[name='reason']"))
        .await
        .map_err(|e| e.to_string())?;
    reason
        .send_keys("运输压坏")
        .await
        .map_err(|e| e.to_string())?;
    browser
        .find(Locator::Css("#return-request input[name='damaged']"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    browser
        .find(Locator::Css("#return-request input[type='file']"))
        .await
        .map_err(|e| e.to_string())?
        .send_keys(&photo.to_string_lossy())
        .await
        .map_err(|e| format!("choosing the photo: {e}"))?;
    browser
        .find(Locator::Id("act-return-request"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#form-notice, #form-error").await?;
    if let Ok(error) = text_of(browser, "#form-error").await {
        return Err(format!("the return was refused: {error}"));
    }
    wait_for(browser, "#order-returns img").await?;
    let decoded = script(
        browser,
        "const img = document.querySelector('#order-returns img');\
         return img.complete && img.naturalWidth;",
    )
    .await?;
    check(
        decoded == json!(1),
        format!("the photo as decoded: {decoded}"),
    )?;
    let state = text_of(browser, "#order-returns .return-state").await?;
    check(state == "待审批", format!("state: {state}"))?;
    shoot(browser, "13-return-requested").await?;
    assert_only_from(browser, origin, "return request").await?;

    sign_in_as(browser, origin, "赵总", password).await?;
    browser
        .find(Locator::XPath(
            "//div[@id='queues']/a[contains(normalize-space(.), '退换货待审批')]",
        ))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#returns").await?;
    browser
        .find(Locator::Css("#returns td a"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#order-returns").await?;
    browser
        .find(Locator::Css("#order-returns button[id^='return-approve-']"))
        .await
        .map_err(|e| e.to_string())?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    wait_for(browser, "#form-notice").await?;
    let state = text_of(browser, "#order-returns .return-state").await?;
    check(
        state == "退货待收",
        format!("state after approval: {state}"),
    )?;
    shoot(browser, "14-return-approved").await?;
    Ok(())
}

#[tokio::test]
async fn a_return_with_a_photo_is_asked_for_and_approved_in_a_real_browser() {
    let Some((chromium, driver_program)) = browser_programs() else {
        return;
    };
    let mut node = TestNode::start().await;
    for (name, role) in [("李娜", "clerk"), ("赵总", "vp")] {
        user_with_password(&node, name, role, "退货的密码-2026").await;
    }
    let customer =
        crate::receivables::customer_on_terms(&mut node, "杭州滨江家居", "月结30天").await;
    let id = crate::receivables::shipped_order(&mut node, &customer).await;
    let origin = node.base.clone();
    // A real 1×1 PNG, so the browser decodes it.
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .expect("png");
    let files = tempfile::tempdir().expect("files dir");
    let photo = files.path().join("压坏.png");
    std::fs::write(&photo, png).expect("photo file");

    let driver = start_chromedriver(&driver_program).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = open_browser(&driver, &chromium, profile.path()).await;
    let outcome = return_scenario(&browser, &origin, &id, &photo).await;
    let _ = browser.close().await;
    drop(driver);
    node.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
