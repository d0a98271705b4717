//! Page benchmark: the workbench's server time per page over a store of NEIQIN_BENCH_ORDERS
//! orders (default 100,000; the data set of `support/company.rs`, shared with the report
//! benchmark), against issue 21's figures: every page's p95 < 50 ms, its first load (the HTML
//! and every asset it references) < 300 KB, assets cached after it.
//!
//! A real `neiqin serve --no-mdns` on loopback port 0, without peers; one user per role
//! (内勤, 主管, 副总, 仓库, 财务) signs in through `/ui/login` as a browser does (the session
//! cookie, the CSRF token of its forms), then each page is asked for NEIQIN_BENCH_PAGE_RUNS
//! times (default 30) after a first cold request reported apart, each timed from request to the
//! whole body read. A GET of the stylesheet and of `/api/status` through the same client is the
//! baseline: what the HTTP round trip alone costs.
//!
//! NEIQIN_BENCH_DATA=DIR keeps the imported store in DIR and reuses it on the next run.

#[path = "support/company.rs"]
mod company;
#[allow(dead_code)]
mod support;

use anyhow::{bail, Context};
use reqwest::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Instant;
use support::Samples;

const TARGET_MS: f64 = 50.0;
const FIRST_LOAD_BYTES: usize = 300 * 1024;
const PASSWORD: &str = "bench-页面-2026";

/// A browser without script: keeps the session cookie, follows no redirect by itself.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
    /// A token for the API (the baseline's `/api/status`); pages go by the cookie.
    bearer: Option<String>,
}

struct Answer {
    status: StatusCode,
    cache_control: String,
    location: String,
    body: String,
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_string(),
            cookie: None,
            bearer: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let request = match &self.bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await?;
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (cache_control, location, set_cookie) =
            (header(CACHE_CONTROL), header(LOCATION), header(SET_COOKIE));
        if !set_cookie.is_empty() {
            self.cookie = Some(set_cookie.split(';').next().unwrap_or("").to_string());
        }
        let status = response.status();
        let body = response.text().await?;
        Ok(Answer {
            status,
            cache_control,
            location,
            body,
        })
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// Signs in as the form does, and checks the workbench opens with a CSRF token in its forms.
    async fn sign_in(&mut self, name: &str) -> anyhow::Result<()> {
        let form = self.get("/ui/login").await?;
        if form.status != StatusCode::OK {
            bail!("the sign-in form answered {}", form.status);
        }
        let request = self
            .client
            .post(format!("{}/ui/login", self.base))
            .form(&[("name", name), ("password", PASSWORD)]);
        let answer = self.send(request).await?;
        if answer.status != StatusCode::SEE_OTHER || answer.location != "/" || self.cookie.is_none()
        {
            bail!("{name} could not sign in: {}", answer.status);
        }
        // A form of the session (not the home page, whose first request is measured cold).
        let form = self.get("/ui/password").await?;
        if form.status != StatusCode::OK || !form.body.contains("name=\"csrf\" value=\"") {
            bail!("{name}'s workbench has no CSRF token: {}", form.status);
        }
        Ok(())
    }
}

/// The first `/prefix/<id>` link in a page (an order's, a customer's): ids are 32 hex digits.
fn first_link(html: &str, prefix: &str) -> Option<String> {
    html.match_indices(prefix).find_map(|(at, _)| {
        let id: String = html[at + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        (id.len() >= 32).then(|| format!("{prefix}{id}"))
    })
}

/// The value of the attribute `attr` of the first element carrying `marker`.
fn attribute_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..];
    let tag = &tag[..tag.find('>')?];
    let key = format!("{attr}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&amp;", "&").replace("&#x3D;", "="))
}

/// The text of the first link to `href` (an order's number in the list).
fn link_text(html: &str, href: &str) -> Option<String> {
    let at = html.find(&format!("href=\"{href}\">"))?;
    let start = at + href.len() + 8;
    let end = html[start..].find('<')? + start;
    Some(html[start..end].trim().to_string())
}

/// The stylesheets, scripts and images a page references (same origin only, as the CSP allows).
fn assets(html: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in html.match_indices('<') {
        let tag = &html[at..];
        let Some(end) = tag.find('>') else { continue };
        let tag = &tag[..end];
        let attr = if tag.starts_with("<link") && tag.contains("stylesheet") {
            "href=\""
        } else if tag.starts_with("<script") || tag.starts_with("<img") {
            "src=\""
        } else {
            continue;
        };
        if let Some(start) = tag.find(attr).map(|s| s + attr.len()) {
            if let Some(len) = tag[start..].find('"') {
                found.insert(tag[start..start + len].replace("&amp;", "&"));
            }
        }
    }
    found
}

/// The machine's 1-minute load average (other work skews the times; the CPU column less so).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// A page's name for `BENCH` lines: ASCII, words joined by `_`.
fn slug(page: &str) -> String {
    let words = [
        ("内勤", "clerk"),
        ("主管", "supervisor"),
        ("副总", "vp"),
        ("仓库", "warehouse"),
        ("财务", "finance"),
        ("已发货", "shipped"),
        ("本月", "this_month"),
        ("催款", "reminders"),
        ("交期预警", "due_soon"),
        ("上报", "escalated"),
        ("跟单", "follow_up"),
        ("退换货", "returns"),
        ("退货待收", "to_receive"),
        ("编辑档案", "edit"),
    ];
    let mut text = page.to_string();
    for (zh, en) in words {
        text = text.replace(zh, en);
    }
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

struct Measured {
    page: String,
    /// The node's CPU time (user + system, all its threads) per request, from /proc in clock
    /// ticks of 10 ms: the work a page costs, whatever else the machine is doing.
    cpu_ms: f64,
    cold: f64,
    samples: Samples,
    bytes: usize,
    first_load: usize,
    assets: usize,
}

async fn measure(
    browser: &mut Browser,
    page: &str,
    path: &str,
    runs: usize,
    asset_sizes: &mut std::collections::BTreeMap<String, usize>,
    uncached: &mut Vec<String>,
) -> anyhow::Result<Measured> {
    let t = Instant::now();
    let first = browser.get(path).await?;
    let cold = support::ms(t.elapsed());
    if first.status != StatusCode::OK {
        bail!(
            "{page} ({path}) answered {}: {}",
            first.status,
            first.body.chars().take(300).collect::<String>()
        );
    }
    let mut samples = Samples::default();
    for _ in 0..runs {
        let t = Instant::now();
        let answer = browser.get(path).await?;
        samples.push(t.elapsed());
        if answer.status != StatusCode::OK {
            bail!("{page} ({path}) answered {} on a later run", answer.status);
        }
    }
    let referenced = assets(&first.body);
    let mut first_load = first.body.len();
    for asset in &referenced {
        if !asset_sizes.contains_key(asset) {
            let answer = browser.get(asset).await?;
            if answer.status != StatusCode::OK {
                bail!("{page} references {asset}, answered {}", answer.status);
            }
            let max_age = answer
                .cache_control
                .split(',')
                .find_map(|d| d.trim().strip_prefix("max-age="))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            if max_age < 30 * 24 * 3600 {
                uncached.push(format!("{asset} ({:?})", answer.cache_control));
            }
            asset_sizes.insert(asset.clone(), answer.body.len());
        }
        first_load += asset_sizes[asset];
    }
    Ok(Measured {
        page: page.to_string(),
        cpu_ms: f64::NAN,
        cold,
        samples,
        bytes: first.body.len(),
        first_load,
        assets: referenced.len(),
    })
}

fn main() -> anyhow::Result<()> {
    let n = company::orders_wanted();
    let runs = support::env_usize("NEIQIN_BENCH_PAGE_RUNS", 30).max(1);
    let scratch = tempfile::tempdir()?;
    let data = company::store("pages", scratch.path())?;
    let admin = support::read_token(&data)?;
    let started = Instant::now();
    let node = support::spawn_node(&data, &[])?;
    eprintln!(
        "[pages] node {} serving {} after {:.1} s",
        node.pid,
        node.base,
        started.elapsed().as_secs_f64()
    );
    let load_before = load_average();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (results, baselines, sizes, uncached) = rt.block_on(async {
        let api = support::client();
        let roles = [
            ("clerk", "页面内勤"),
            ("supervisor", "页面主管"),
            ("vp", "页面副总"),
            ("warehouse", "页面仓库"),
            ("finance", "页面财务"),
        ];
        let mut browsers = std::collections::BTreeMap::new();
        for (role, name) in roles {
            let (status, body) = support::post(
                &api,
                &format!("{}/api/users", node.base),
                &admin,
                &json!({"name": name, "role": role, "password": PASSWORD}),
            )
            .await?;
            // A kept store already has them (409).
            if status != 201 && status != 409 {
                bail!("adding {name} ({role}) answered {status}: {body}");
            }
            let mut browser = Browser::new(&node.base);
            browser.sign_in(name).await?;
            browsers.insert(role, browser);
        }
        // What the pages are asked about: the newest order and its number, the second page of
        // the list, a store found by name.
        let clerk = browsers.get_mut("clerk").context("clerk")?;
        let list = clerk.get("/ui/orders").await?;
        let order = first_link(&list.body, "/ui/orders/").context("an order in the list")?;
        let number = link_text(&list.body, &order).context("its number")?;
        let next = attribute_after(&list.body, "id=\"next-page\"", "href")
            .context("a second page of orders")?;
        let customers = clerk.get("/ui/customers?q=门店1").await?;
        let customer = first_link(&customers.body, "/ui/customers/").context("a customer found")?;
        let customer_id = customer.trim_start_matches("/ui/customers/").to_string();
        let search = number
            .get(number.len().saturating_sub(5)..)
            .unwrap_or(&number)
            .to_string();
        let today = chrono::Utc::now()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
            .date_naive();
        let month_start = today.format("%Y-%m-01").to_string();
        let pages: Vec<(&str, String, &str)> = vec![
            ("home 内勤", "/".into(), "clerk"),
            ("home 主管", "/".into(), "supervisor"),
            ("home 副总", "/".into(), "vp"),
            ("home 仓库", "/".into(), "warehouse"),
            ("home 财务", "/".into(), "finance"),
            ("orders: all", "/ui/orders".into(), "clerk"),
            (
                "orders: 已发货 tab",
                "/ui/orders?status=shipped".into(),
                "clerk",
            ),
            (
                "orders: 本月",
                format!("/ui/orders?from={month_start}&to={today}"),
                "clerk",
            ),
            (
                "orders: 2026-06",
                "/ui/orders?from=2026-06-01&to=2026-06-30".into(),
                "clerk",
            ),
            (
                "orders: a customer",
                format!("/ui/orders?customer={customer_id}"),
                "clerk",
            ),
            (
                "orders: number search",
                format!("/ui/orders?q={search}"),
                "clerk",
            ),
            ("orders: page 2", next.clone(), "clerk"),
            ("order page", order.clone(), "clerk"),
            ("print page", format!("{order}/print"), "warehouse"),
            ("customers: search", "/ui/customers?q=门店1".into(), "clerk"),
            ("customer page", customer.clone(), "clerk"),
            (
                "receivables + 催款 (finance)",
                "/ui/receivables".into(),
                "finance",
            ),
            (
                "receivables + 催款 (clerk)",
                "/ui/receivables".into(),
                "clerk",
            ),
            (
                "report: daily",
                "/ui/reports?kind=daily&date=2026-06-15".into(),
                "vp",
            ),
            (
                "report: monthly per store",
                "/ui/reports?kind=monthly&month=2026-06".into(),
                "vp",
            ),
            (
                "report: statistics 12 months",
                "/ui/reports?kind=sales&by=region&from=2025-12-01&to=2026-11-30".into(),
                "vp",
            ),
            (
                "report: by product 12 months",
                "/ui/reports?kind=sales&by=product&from=2025-12-01&to=2026-11-30".into(),
                "vp",
            ),
            ("complaints", "/ui/complaints".into(), "clerk"),
            ("contracts", "/ui/contracts".into(), "clerk"),
            ("anomalies (主管)", "/ui/anomalies".into(), "supervisor"),
            ("跟单: 交期预警", "/ui/delays?tab=soon".into(), "clerk"),
            ("跟单: 上报副总", "/ui/delays?tab=vp".into(), "vp"),
            ("退换货 (副总)", "/ui/returns".into(), "vp"),
            ("退换货: 退货待收", "/ui/returns".into(), "warehouse"),
            ("customer: 编辑档案", format!("{customer}/edit"), "clerk"),
        ];
        let mut results = Vec::new();
        let mut sizes = std::collections::BTreeMap::new();
        let mut uncached = Vec::new();
        for (page, path, role) in &pages {
            let browser = browsers.get_mut(role).context("a signed-in role")?;
            let cpu = node.cpu_secs();
            let mut m = measure(browser, page, path, runs, &mut sizes, &mut uncached).await?;
            m.cpu_ms = (node.cpu_secs() - cpu) * 1000.0 / (runs + 1) as f64;
            eprintln!(
                "[pages] {page}: p95 {:.1} ms ({} bytes)",
                m.samples.pct(95.0),
                m.bytes
            );
            results.push(m);
        }
        // The round trip alone: the stylesheet (a constant body); and the API's status, for
        // comparison.
        let clerk = browsers.get_mut("clerk").context("clerk")?;
        let home = clerk.get("/").await?;
        let css = assets(&home.body)
            .into_iter()
            .find(|a| a.ends_with(".css"))
            .context("a stylesheet")?;
        let mut baselines = Vec::new();
        baselines.push(
            measure(
                clerk,
                "baseline: stylesheet",
                &css,
                runs,
                &mut sizes,
                &mut uncached,
            )
            .await?,
        );
        let mut api = Browser::new(&node.base);
        api.bearer = Some(admin.clone());
        baselines.push(
            measure(
                &mut api,
                "api: /api/status (not a page)",
                "/api/status",
                runs,
                &mut sizes,
                &mut uncached,
            )
            .await?,
        );
        anyhow::Ok((results, baselines, sizes, uncached))
    })?;
    node.stop();

    println!(
        "\n| page over {n} orders | cold | p50 | p95 | max | node CPU/request | target | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut missed = 0;
    for m in baselines.iter().chain(&results) {
        let p95 = m.samples.pct(95.0);
        let baseline = m.page.starts_with("baseline") || m.page.starts_with("api:");
        let verdict = if m.page.starts_with("baseline") {
            "(round trip)"
        } else if baseline {
            "(for comparison)"
        } else if p95 < TARGET_MS {
            "met"
        } else {
            missed += 1;
            "MISS"
        };
        let cpu = if m.cpu_ms.is_nan() {
            "-".to_string()
        } else {
            format!("{:.1} ms", m.cpu_ms)
        };
        println!(
            "| {} | {:.1} ms | {:.1} ms | {p95:.1} ms | {:.1} ms | {cpu} | p95 < {TARGET_MS} ms | {verdict} |",
            m.page,
            m.cold,
            m.samples.pct(50.0),
            m.samples.max()
        );
        if !baseline {
            println!("BENCH page_{} {p95:.1} ms", slug(&m.page));
        }
    }
    println!("\n| page | HTML | assets | first load | target | verdict |");
    println!("|---|---|---|---|---|---|");
    for m in &results {
        let verdict = if m.first_load < FIRST_LOAD_BYTES {
            "met"
        } else {
            missed += 1;
            "MISS"
        };
        println!(
            "| {} | {:.1} KB | {} | {:.1} KB | < 300 KB | {verdict} |",
            m.page,
            m.bytes as f64 / 1024.0,
            m.assets,
            m.first_load as f64 / 1024.0
        );
    }
    println!();
    for (asset, size) in &sizes {
        println!("asset {asset}: {:.1} KB", *size as f64 / 1024.0);
    }
    if uncached.is_empty() {
        println!("every asset answered with Cache-Control max-age of at least 30 days");
    } else {
        missed += uncached.len();
        println!(
            "assets without a long Cache-Control: {}",
            uncached.join(", ")
        );
    }
    println!(
        "load average (1 min) of this {}-core machine: {load_before} before, {} after",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average()
    );
    println!("{missed} figures missed");
    Ok(())
}
