//! Node benchmark (`cargo bench --bench node`): store and sync figures of the issue "Figures to
//! reach", each beside its target and, for sync, beside an in-process lower bound measured in the
//! same run. Real `neiqin serve` processes on loopback only (always `--no-mdns`).
//!
//! Sizes (environment):
//! - NEIQIN_BENCH_ORDERS       orders in the big store (cold start, RSS, lists, 100k sync), 100000
//! - NEIQIN_BENCH_SYNC_ORDERS  orders synced between two nodes, 10000
//! - NEIQIN_BENCH_HTTP_ORDERS  orders created over HTTP, 5000
//! - NEIQIN_BENCH_CLIENTS      concurrent HTTP clients creating orders, 32
//! - NEIQIN_BENCH_ONLY         store | sync (default: both)
//! - NEIQIN_BENCH_GEN_THREADS  threads writing the generated stores, 2
//! - NEIQIN_BENCH_KEEP         set to keep the data directories
//! - NEIQIN_BENCH_DEBUG        set to print the peers' state while waiting for sync to settle
//! - NEIQIN_BENCH_NODE_LOG     log filter of the node processes (NEIQIN_LOG), warn; neiqin=debug
//!   shows each pull a node applies with its timings
//!
//! Quick smoke run: NEIQIN_BENCH_ORDERS=2000 NEIQIN_BENCH_SYNC_ORDERS=1000 cargo bench --bench node
//!
//! Output: `BENCH name value unit` lines as figures are measured, then a table on stdout.
//! Progress goes to stderr.

mod support;

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::data::{customer_body, generate, order_body, Generated};
use support::{
    client, dir_bytes, env_usize, fmt_num, get, ms, patch, post, progress, read_token, spawn_node,
    verdict, NodeProc, Report, Samples,
};

struct Opts {
    orders: usize,
    sync_orders: usize,
    http_orders: usize,
    clients: usize,
    store: bool,
    sync: bool,
    keep: bool,
}

#[global_allocator]
static ALLOC: support::CountingAlloc = support::CountingAlloc;

/// Orders changed for the incremental-sync figures, whatever the store size.
const CHANGED: usize = 100;
/// Full syncs of the same store measured in one run; the figure is their median.
const FULL_SYNC_ROUNDS: usize = 3;
/// Repetitions of the one-edit latency figure.
const EDIT_REPS: usize = 30;

fn main() {
    support::elapsed();
    let only = std::env::var("NEIQIN_BENCH_ONLY").unwrap_or_default();
    let opts = Opts {
        orders: env_usize("NEIQIN_BENCH_ORDERS", 100_000).max(10),
        sync_orders: env_usize("NEIQIN_BENCH_SYNC_ORDERS", 10_000).max(CHANGED * 2),
        http_orders: env_usize("NEIQIN_BENCH_HTTP_ORDERS", 5_000).max(10),
        clients: env_usize("NEIQIN_BENCH_CLIENTS", 32).max(1),
        store: only.is_empty() || only == "store",
        sync: only.is_empty() || only == "sync",
        keep: std::env::var_os("NEIQIN_BENCH_KEEP").is_some(),
    };
    if !opts.store && !opts.sync {
        eprintln!("NEIQIN_BENCH_ONLY must be store or sync (or unset), not {only:?}");
        std::process::exit(2);
    }
    progress!(
        "neiqin bench: orders={} sync_orders={} http_orders={} clients={} parts={}{}; binary {}",
        opts.orders,
        opts.sync_orders,
        opts.http_orders,
        opts.clients,
        if opts.store { "store " } else { "" },
        if opts.sync { "sync" } else { "" },
        support::bin()
    );
    let root = tempfile::Builder::new()
        .prefix("neiqin-bench-")
        .tempdir()
        .expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = Report::default();
    let result = rt.block_on(run(&opts, root.path(), &mut report));
    report.print();
    if opts.keep {
        let kept = root.keep();
        progress!("data kept in {}", kept.display());
    }
    progress!("done");
    if let Err(e) = result {
        eprintln!("bench failed: {e:#}");
        std::process::exit(1);
    }
}

/// The big store, generated once and used by both parts.
struct Big {
    dir: PathBuf,
    gen: Generated,
}

async fn run(opts: &Opts, root: &Path, report: &mut Report) -> anyhow::Result<()> {
    let mut big = None;
    if opts.store {
        http_create(opts, root, report).await?;
        big = Some(store_figures(opts, root, report).await?);
    }
    if opts.sync {
        sync_figures(opts, root, report, big).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A. Store / single node
// ---------------------------------------------------------------------------------------------

/// 1. Orders with 3 lines created over HTTP by concurrent clients, each answer durable.
async fn http_create(opts: &Opts, root: &Path, report: &mut Report) -> anyhow::Result<()> {
    let dir = root.join("http");
    let node = spawn_node(&dir, &[])?;
    let admin = read_token(&dir)?;
    let c = client();
    let (st, user) = post(
        &c,
        &format!("{}/api/users", node.base),
        &admin,
        &json!({"name": "李娜", "role": "clerk"}),
    )
    .await?;
    ensure!(st == 201, "create user: {st} {user}");
    let clerk = user["token"].as_str().context("token")?.to_string();
    let (st, customer) = post(
        &c,
        &format!("{}/api/customers", node.base),
        &clerk,
        &customer_body("上海真北家居有限公司"),
    )
    .await?;
    ensure!(st == 201, "create customer: {st} {customer}");
    let cid = customer["id"].as_str().context("customer id")?;
    let body = Bytes::from(serde_json::to_vec(&order_body(cid))?);
    let url = format!("{}/api/orders", node.base);

    let warmup = (opts.http_orders / 10).clamp(10, 300);
    progress!("1. HTTP create: warm-up {warmup} orders");
    load(&c, &url, &clerk, &body, warmup, opts.clients).await?;
    progress!(
        "1. HTTP create: {} orders from {} clients",
        opts.http_orders,
        opts.clients
    );
    let (lat, wall, errors) = load(&c, &url, &clerk, &body, opts.http_orders, opts.clients).await?;
    let rate = lat.0.len() as f64 / wall.as_secs_f64();
    let (p50, p99, max) = (lat.pct(50.0), lat.pct(99.0), lat.max());
    // The same request from one client: service time without queueing.
    let single_n = (opts.http_orders / 10).clamp(10, 500);
    progress!("1. HTTP create: {single_n} orders from 1 client");
    let (single, single_wall, single_errors) = load(&c, &url, &clerk, &body, single_n, 1).await?;
    // A steady offered load (open loop): what "sustained 1000/s with p99 < 10 ms" means for a
    // node whose clerks send orders independently of each other's answers.
    let mut paced_runs = Vec::new();
    for rate in [1000usize, 500] {
        let n = rate * PACED_SECS;
        progress!("1. HTTP create: {n} orders offered at a steady {rate}/s");
        let cpu_before = node.cpu_secs();
        let run = paced(&c, &url, &clerk, &body, rate, n).await?;
        let node_cpu_ms_per_order = (node.cpu_secs() - cpu_before) * 1000.0 / n as f64;
        report.figure(
            &format!("http_create_paced{rate}_node_cpu"),
            node_cpu_ms_per_order,
            "ms/order",
        );
        paced_runs.push((rate, run));
    }
    let (rss, _) = node.rss_kib();
    node.stop();
    let (disk, _) = dir_bytes(&dir);
    let created = warmup
        + opts.http_orders
        + single_n
        + paced_runs
            .iter()
            .map(|(rate, _)| rate * PACED_SECS)
            .sum::<usize>();
    report.figure("http_create_rate", rate, "orders/s");
    report.figure("http_create_p50", p50, "ms");
    report.figure("http_create_p99", p99, "ms");
    report.row(
        format!(
            "1. create order (3 lines) over HTTP, {} clients",
            opts.clients
        ),
        format!("{} orders/s", fmt_num(rate)),
        format!("≥ 1000/s: {}", verdict(rate >= 1000.0)),
        format!(
            "{} orders in {:.2}s, {errors} errors; every answer after group-commit flush",
            opts.http_orders,
            wall.as_secs_f64()
        ),
    );
    report.row(
        format!("1. create order latency p50 / p99, {} clients", opts.clients),
        format!("{} / {} ms", fmt_num(p50), fmt_num(p99)),
        format!("p99 < 10 ms: {}", verdict(p99 < 10.0)),
        format!(
            "max {} ms; with {} requests in flight latency ≈ clients / throughput = {} ms; node RSS after {created} orders {} MB; {} bytes/order on disk",
            fmt_num(max),
            opts.clients,
            fmt_num(opts.clients as f64 / rate * 1000.0),
            rss / 1024,
            disk / created as u64
        ),
    );
    report.figure("http_create_1client_p50", single.pct(50.0), "ms");
    report.figure("http_create_1client_p99", single.pct(99.0), "ms");
    report.row(
        "1. create order latency p50 / p99, 1 client",
        format!(
            "{} / {} ms",
            fmt_num(single.pct(50.0)),
            fmt_num(single.pct(99.0))
        ),
        format!("p99 < 10 ms: {}", verdict(single.pct(99.0) < 10.0)),
        format!(
            "{single_n} sequential orders, {} orders/s: service time incl. the flush, no queueing",
            fmt_num(single.0.len() as f64 / single_wall.as_secs_f64())
        ),
    );
    let mut paced_errors = 0;
    for (rate, (lat, wall, errors)) in &paced_runs {
        let achieved = lat.0.len() as f64 / wall.as_secs_f64();
        let (p50, p99) = (lat.pct(50.0), lat.pct(99.0));
        report.figure(&format!("http_create_paced{rate}_p99"), p99, "ms");
        report.row(
            format!("1. create order at a steady {rate}/s offered: p50 / p99"),
            format!("{} / {} ms", fmt_num(p50), fmt_num(p99)),
            if *rate >= 1000 {
                format!("p99 < 10 ms: {}", verdict(p99 < 10.0 && achieved >= 0.98 * *rate as f64))
            } else {
                "— (report)".to_string()
            },
            format!(
                "open loop: {} requests sent on schedule over {PACED_SECS} s whatever the answers, latency from the scheduled send; achieved {} orders/s, max {} ms, {errors} errors",
                lat.0.len() + errors,
                fmt_num(achieved),
                fmt_num(lat.max())
            ),
        );
        paced_errors += errors;
    }
    if errors + single_errors + paced_errors > 0 {
        bail!(
            "{} order creations failed",
            errors + single_errors + paced_errors
        );
    }
    Ok(())
}

/// Seconds of each open-loop run.
const PACED_SECS: usize = 3;

/// Sends `n` POSTs of `body` on a fixed schedule of `rate` per second, each without waiting for
/// earlier answers (open loop); latency is counted from the scheduled send time, so a node that
/// falls behind shows it in the latency instead of slowing the client down.
async fn paced(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Bytes,
    rate: usize,
    n: usize,
) -> anyhow::Result<(Samples, Duration, usize)> {
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let scheduled = start + period * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let request = c
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.clone());
        tasks.push(tokio::spawn(async move {
            match request.send().await {
                Ok(r) if r.status().as_u16() == 201 => {
                    let _ = r.bytes().await;
                    Some(scheduled.elapsed())
                }
                _ => None,
            }
        }));
    }
    let mut lat = Samples::default();
    let mut errors = 0;
    for t in tasks {
        match t.await? {
            Some(d) => lat.push(d),
            None => errors += 1,
        }
    }
    Ok((lat, start.elapsed(), errors))
}

/// Runs `n` POSTs of `body` from `clients` concurrent tasks; latency per created order.
async fn load(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Bytes,
    n: usize,
    clients: usize,
) -> anyhow::Result<(Samples, Duration, usize)> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (c, url, token, body, next) = (
            c.clone(),
            url.to_string(),
            token.to_string(),
            body.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Samples::default();
            let mut errors = 0;
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                let resp = c
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match resp {
                    Ok(r) => {
                        let ok = r.status().as_u16() == 201;
                        let _ = r.bytes().await;
                        if ok {
                            lat.push(t.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Samples::default();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await?;
        all.0.extend(lat.0);
        errors += e;
    }
    Ok((all, start.elapsed(), errors))
}

/// 2-4. The big store: disk per order, cold start, RSS after browsing, list by status.
async fn store_figures(opts: &Opts, root: &Path, report: &mut Report) -> anyhow::Result<Big> {
    let n = opts.orders;
    let dir = root.join("big");
    progress!("2-4. generating the big store: {n} orders");
    let gen = generate(&dir, "big", n)?;
    report.figure("generate_orders_rate", n as f64 / gen.secs, "orders/s");
    report.row(
        format!("   generate {n} orders in-process (setup)"),
        format!("{:.1} s", gen.secs),
        "— (report if > 240 s)",
        format!(
            "{:.0} orders/s via BackOffice::create_order + verify/approve, no per-write fsync",
            n as f64 / gen.secs
        ),
    );

    // 2. Disk per order (the row is added once the live data is counted, after the starts).
    let (disk, allocated) = dir_bytes(&dir);
    let per_order = disk as f64 / n as f64;
    report.figure("disk_per_order", per_order, "bytes");
    let disk_row_at = report.rows.len();

    // 3. Cold start: the first start after the orders were written (sled replays its log).
    progress!("3. cold start on {n} orders");
    let c = client();
    let (node, cold, printed) = start_until_status(&c, &dir, &gen.admin_token, n).await?;
    let status_url = format!("{}/api/status", node.base);
    let (rss_start, _) = node.rss_kib();
    // A second status: how much of the first answer was counting.
    let t = Instant::now();
    get(&c, &status_url, &gen.admin_token).await?;
    let status_ms = ms(t.elapsed());
    report.figure("cold_start", ms(cold), "ms");
    let cold_row_at = report.rows.len();

    // Browse: pages of all orders, and a few statuses.
    let mut browse = Samples::default();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut url = format!("{}/api/orders?limit=100", node.base);
        if let Some(cur) = &cursor {
            url.push_str(&format!("&cursor={cur}"));
        }
        let t = Instant::now();
        let (st, page) = get(&c, &url, &gen.admin_token).await?;
        browse.push(t.elapsed());
        ensure!(st == 200, "list: {st} {page}");
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    for status in ["taken", "verified", "approved", "shipped"] {
        let mut cursor: Option<String> = None;
        let mut count = 0;
        for _ in 0..2 {
            let mut url = format!("{}/api/orders?status={status}&limit=100", node.base);
            if let Some(cur) = &cursor {
                url.push_str(&format!("&cursor={cur}"));
            }
            let t = Instant::now();
            let (st, page) = get(&c, &url, &gen.admin_token).await?;
            browse.push(t.elapsed());
            ensure!(st == 200, "list {status}: {st} {page}");
            count += page["items"].as_array().map(Vec::len).unwrap_or(0);
            cursor = page["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        found.push(format!("{status} {count}"));
    }
    let (rss, hwm) = node.rss_kib();
    let rss_mb = rss as f64 / 1024.0;
    report.figure("rss_after_browse", rss_mb, "MB");
    report.row(
        format!("3. RSS after start + browsing ({n} orders)"),
        format!("{rss_mb:.1} MB"),
        format!("< 150 MB: {}", verdict(rss_mb < 150.0)),
        format!(
            "{:.1} MB right after start, peak {:.1} MB; {} pages of 100 (p50 {} ms, max {} ms; {})",
            rss_start as f64 / 1024.0,
            hwm as f64 / 1024.0,
            browse.0.len(),
            fmt_num(browse.pct(50.0)),
            fmt_num(browse.max()),
            found.join(", ")
        ),
    );

    // 4. List by status, first page of 50, repeated.
    progress!("4. list by status");
    let url = format!("{}/api/orders?status=verified&limit=50", node.base);
    let mut lat = Samples::default();
    for _ in 0..200 {
        let t = Instant::now();
        let (st, page) = get(&c, &url, &gen.admin_token).await?;
        lat.push(t.elapsed());
        ensure!(st == 200, "list verified: {st}");
        ensure!(
            page["items"].as_array().map(Vec::len) == Some(50.min(gen.verified)),
            "a full page of verified orders"
        );
    }
    let url = format!("{}/api/orders?status=approved&limit=50", node.base);
    let mut lat_approved = Samples::default();
    for _ in 0..100 {
        let t = Instant::now();
        get(&c, &url, &gen.admin_token).await?;
        lat_approved.push(t.elapsed());
    }
    report.figure("list_status_p50", lat.pct(50.0), "ms");
    report.figure("list_status_p99", lat.pct(99.0), "ms");
    report.row(
        format!("4. list ?status=verified&limit=50 ({n} orders) p50 / p99"),
        format!("{} / {} ms", fmt_num(lat.pct(50.0)), fmt_num(lat.pct(99.0))),
        "— (report)",
        format!(
            "200 requests, sequential; status=approved p50 {} ms",
            fmt_num(lat_approved.pct(50.0))
        ),
    );
    node.stop();

    // Starting again (nothing written since), and opening the store in-process.
    let (node, second, _) = start_until_status(&c, &dir, &gen.admin_token, n).await?;
    node.stop();
    let t = Instant::now();
    let store = neiqin::node::open_store(&dir, 10)?;
    let open_ms = ms(t.elapsed());
    let live = live_bytes(&store.db()?)?;
    drop(store);
    let live_total: u64 = live.iter().map(|(_, b, _)| b).sum();
    report.rows.insert(
        cold_row_at,
        support::Row {
            figure: format!("3. cold start, {n} orders (spawn → first /api/status)"),
            measured: format!("{} ms", fmt_num(ms(cold))),
            target: format!("< 1 s: {}", verdict(cold < Duration::from_secs(1))),
            notes: format!(
                "first start after writing them; address printed after {} ms; a second start takes {} ms, Store::open in-process after that {} ms; one /api/status takes {} ms (counts by index scan)",
                fmt_num(ms(printed)),
                fmt_num(ms(second)),
                fmt_num(open_ms),
                fmt_num(status_ms)
            ),
        },
    );
    report.rows.insert(
        disk_row_at,
        support::Row {
            figure: format!("2. disk per order ({n} orders)"),
            measured: format!("{:.2} KB", per_order / 1000.0),
            target: format!("< 3 KB: {}", verdict(per_order < 3000.0)),
            notes: format!(
                "data dir {:.1} MB ({:.1} MB allocated), incl. {} customers; {} verified, {} approved; live keys+values {:.1} MB = {:.0} B/order ({}); sled files are {:.1}x the live data",
                disk as f64 / 1e6,
                allocated as f64 / 1e6,
                (n / 100).clamp(5, 1000),
                gen.verified,
                gen.approved,
                live_total as f64 / 1e6,
                live_total as f64 / n as f64,
                live.iter()
                    .map(|(p, b, c)| format!("{p} {:.0} B/order in {c} entries", *b as f64 / n as f64))
                    .collect::<Vec<_>>()
                    .join(", "),
                disk as f64 / live_total as f64
            ),
        },
    );
    Ok(Big { dir, gen })
}

/// Spawns a node on `dir` and waits for its first /api/status answer, which must count `n`
/// orders. Returns the node, spawn → answer, and spawn → address printed.
async fn start_until_status(
    c: &reqwest::Client,
    dir: &Path,
    token: &str,
    n: usize,
) -> anyhow::Result<(NodeProc, Duration, Duration)> {
    let node = spawn_node(dir, &[])?;
    let printed = node.spawned.elapsed();
    let status_url = format!("{}/api/status", node.base);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Ok((200, v)) = get(c, &status_url, token).await {
            break v;
        }
        ensure!(Instant::now() < deadline, "no status answer within 120 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let took = node.spawned.elapsed();
    ensure!(
        status["orders"].as_u64() == Some(n as u64),
        "status after start: {status}"
    );
    Ok((node, took, printed))
}

/// Live bytes (key + value) in sled by key prefix: (prefix, bytes, entries), largest first.
fn live_bytes(db: &sled::Db) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for entry in db.iter() {
        let (k, v) = entry?;
        let prefix = String::from_utf8_lossy(&k[..k.len().min(2)]).to_string();
        let e = by.entry(prefix).or_default();
        e.0 += (k.len() + v.len()) as u64;
        e.1 += 1;
    }
    let mut out: Vec<_> = by.into_iter().map(|(p, (b, c))| (p, b, c)).collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.1));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// B. Sync
// ---------------------------------------------------------------------------------------------

async fn sync_figures(
    opts: &Opts,
    root: &Path,
    report: &mut Report,
    big: Option<Big>,
) -> anyhow::Result<()> {
    let n = opts.sync_orders;
    let a_dir = root.join("sync-a");
    let b_dir = root.join("sync-b");
    progress!("5-8. generating node A: {n} orders");
    let gen = generate(&a_dir, "a", n)?;

    // 7. In-process lower bound, from A's store while A is not running.
    progress!("7. in-process baseline: save + load_incremental of {n} order documents");
    let base = baseline(&a_dir)?;
    report.figure("inprocess_load", ms(base.load), "ms");
    report.figure("inprocess_save", ms(base.save), "ms");
    report.row(
        format!("7. in-process lower bound, {} docs: load_incremental", base.docs),
        format!("{} ms", fmt_num(ms(base.load))),
        "— (baseline)",
        format!(
            "save() {} ms (incl. reading each doc from sled); {:.2} MB saved, {:.2} MB as stored (raw_document); best of 3 loads; a loaded doc holds {:.1} KB of heap",
            fmt_num(ms(base.save)),
            base.saved_bytes as f64 / 1e6,
            base.raw_bytes as f64 / 1e6,
            base.mem_per_doc as f64 / 1024.0
        ),
    );
    report.figure("verify_facts", ms(base.verify), "ms");
    report.row(
        format!(
            "7b. signature and authority check of {} facts, once each",
            base.facts
        ),
        format!("{} ms", fmt_num(ms(base.verify))),
        "— (cost on its own)",
        format!(
            "{:.1} µs per fact, single core, beyond deriving the orders unchecked",
            base.verify.as_secs_f64() * 1e6 / base.facts.max(1) as f64
        ),
    );

    report.figure("attest_values", ms(base.attest), "ms");
    report.row(
        format!(
            "7c. attested values check of {} verified orders",
            base.attested
        ),
        format!("{} ms", fmt_num(ms(base.attest))),
        "— (cost on its own)",
        format!(
            "{:.1} µs per order, single core: each value hashed and looked up among the hashes its signed facts give",
            base.attest.as_secs_f64() * 1e6 / base.attested.max(1) as f64
        ),
    );

    // 5. Full sync, FULL_SYNC_ROUNDS times from the same start: A freshly started, B's store
    // new. One run swings by ±15% on a virtual machine, as the lower bound does, which is the
    // best of 3; the figure is the median run. The last run's nodes stay up for 6 and 8.
    let c = client();
    let mut runs: Vec<FullSyncRun> = Vec::new();
    let mut nodes = None;
    for round in 1..=FULL_SYNC_ROUNDS {
        progress!("5. full sync of {n} orders A → B, run {round}/{FULL_SYNC_ROUNDS}");
        if b_dir.exists() {
            std::fs::remove_dir_all(&b_dir)?;
        }
        support::data::join(&b_dir, "b", &a_dir)?;
        let b_admin = read_token(&b_dir)?;
        let a = spawn_node(&a_dir, &[])?;
        let a_cpu_before = a.cpu_secs();
        let (b, full, b_printed) = full_sync(
            &c,
            &a,
            &b_dir,
            &b_admin,
            n,
            &gen.last_doc,
            Duration::from_millis(5),
        )
        .await?;
        let (b_rss_kib, b_peak_kib) = b.rss_kib();
        runs.push(FullSyncRun {
            full,
            b_printed,
            a_cpu: a.cpu_secs() - a_cpu_before,
            b_cpu: b.cpu_secs(),
            b_faults: b.minor_faults(),
            b_rss_kib,
            b_peak_kib,
        });
        if round < FULL_SYNC_ROUNDS {
            b.stop();
            a.stop();
        } else {
            nodes = Some((a, b, b_admin));
        }
    }
    let (a, b, b_admin) = nodes.context("at least one full sync run")?;
    let all_runs = runs
        .iter()
        .map(|r| fmt_num(ms(r.full)))
        .collect::<Vec<_>>()
        .join(", ");
    runs.sort_by_key(|r| r.full);
    let median = &runs[runs.len() / 2];
    let full = median.full;
    let ratio = full.as_secs_f64() / base.load.as_secs_f64();
    report.figure("full_sync_sender_cpu", median.a_cpu * 1000.0, "ms");
    report.figure("full_sync_receiver_cpu", median.b_cpu * 1000.0, "ms");
    report.figure("full_sync_receiver_faults", median.b_faults, "");
    report.figure(
        "full_sync_receiver_peak_rss",
        median.b_peak_kib as f64 / 1024.0,
        "MB",
    );
    report.figure(
        "full_sync_receiver_rss",
        median.b_rss_kib as f64 / 1024.0,
        "MB",
    );
    report.figure("full_sync", ms(full), "ms");
    report.figure("full_sync_vs_inprocess", ratio, "x");
    report.row(
        format!("5. full sync {n} orders, B start → B has all"),
        format!("{} ms", fmt_num(ms(full))),
        format!(
            "< 1.5 s: {}; ≤ 2x lower bound: {}",
            verdict(full < Duration::from_millis(1500)),
            verdict(ratio <= 2.0)
        ),
        format!(
            "median of {FULL_SYNC_ROUNDS} runs ({all_runs} ms), each with A just started and B's store new; {ratio:.1}x the in-process load ({} ms); in the median run B printed its address after {} ms, CPU used by B {} ms, by A {} ms, B's RSS {} MB at the end, peak {} MB; B polled every 5 ms (GET of A's last-written order, then /api/status)",
            fmt_num(ms(base.load)),
            fmt_num(ms(median.b_printed)),
            fmt_num(median.b_cpu * 1000.0),
            fmt_num(median.a_cpu * 1000.0),
            fmt_num(median.b_rss_kib as f64 / 1024.0),
            fmt_num(median.b_peak_kib as f64 / 1024.0)
        ),
    );
    quiesce(&c, &[(&a, &gen.admin_token), (&b, &b_admin)]).await?;

    // 6. Incremental, 100 of n.
    progress!("6. incremental sync: {CHANGED} of {n}");
    let inc_small = incremental(&c, &a, &gen, &b, &b_admin, "s").await?;
    inc_small.report(report, n, None);

    // 8. One edit on a connected peer.
    progress!("8. one edit visible on the peer, {EDIT_REPS} times");
    let (from_send, from_return) = edit_latency(&c, &a, &gen, &b, &b_admin).await?;
    report.figure("edit_visible_p50", from_send.pct(50.0), "ms");
    report.figure("edit_visible_p90", from_send.pct(90.0), "ms");
    report.row(
        "8. one edit on A visible on B (PATCH sent → seen) p50 / p90",
        format!(
            "{} / {} ms",
            fmt_num(from_send.pct(50.0)),
            fmt_num(from_send.pct(90.0))
        ),
        format!("median < 200 ms: {}", verdict(from_send.pct(50.0) < 200.0)),
        format!(
            "from PATCH answer: p50 {} ms, p90 {} ms, max {} ms; B polled every 1 ms",
            fmt_num(from_return.pct(50.0)),
            fmt_num(from_return.pct(90.0)),
            fmt_num(from_return.max())
        ),
    );
    // Memory a node keeps once the sync is long over (sled frees old node copies lazily).
    let (b_rss_later_kib, _) = b.rss_kib();
    report.figure(
        "full_sync_receiver_rss_later",
        b_rss_later_kib as f64 / 1024.0,
        "MB",
    );
    b.stop();
    a.stop();

    // 6 again on the big store.
    let big = match big {
        Some(big) => big,
        None => {
            let dir = root.join("big");
            progress!("6. generating the big store: {} orders", opts.orders);
            let gen = generate(&dir, "big", opts.orders)?;
            Big { dir, gen }
        }
    };
    let nb = opts.orders;
    let bb_dir = root.join("big-b");
    support::data::join(&bb_dir, "big-b", &big.dir)?;
    let bb_admin = read_token(&bb_dir)?;
    let a = spawn_node(&big.dir, &[])?;
    progress!("6. full sync of {nb} orders to a second node (setup for incremental)");
    let (b, full_big, _) = full_sync(
        &c,
        &a,
        &bb_dir,
        &bb_admin,
        nb,
        &big.gen.last_doc,
        Duration::from_millis(5),
    )
    .await?;
    report.figure("full_sync_big", ms(full_big), "ms");
    // What a node holds right after receiving a large store.
    let (bb_rss_kib, bb_peak_kib) = b.rss_kib();
    report.figure(
        "full_sync_big_receiver_rss",
        bb_rss_kib as f64 / 1024.0,
        "MB",
    );
    report.row(
        format!("   full sync {nb} orders (setup for 6)"),
        format!("{:.2} s", full_big.as_secs_f64()),
        "— (report)",
        format!(
            "{:.0} orders/s; {n}-order rate × {} would be {:.2} s; receiver RSS {:.0} MB at the end (peak {:.0} MB)",
            nb as f64 / full_big.as_secs_f64(),
            nb as f64 / n as f64,
            full.as_secs_f64() * nb as f64 / n as f64,
            bb_rss_kib as f64 / 1024.0,
            bb_peak_kib as f64 / 1024.0
        ),
    );
    quiesce(&c, &[(&a, &big.gen.admin_token), (&b, &bb_admin)]).await?;
    progress!("6. incremental sync: {CHANGED} of {nb}");
    let inc_big = incremental(&c, &a, &big.gen, &b, &bb_admin, "b").await?;
    inc_big.report(report, nb, Some(&inc_small));
    b.stop();
    a.stop();
    Ok(())
}

struct Baseline {
    docs: usize,
    save: Duration,
    load: Duration,
    saved_bytes: usize,
    raw_bytes: usize,
    /// Growth of this process's RSS per loaded document (a loaded AutoCommit in memory).
    mem_per_doc: u64,
    /// Signed facts in A's orders, and the time to check them all once (signature, certificate,
    /// role) beyond deriving the orders unchecked: what verification costs on its own.
    facts: usize,
    verify: Duration,
    /// Orders whose values are checked against their signed attestations (`domain::attest`),
    /// and the time to check them all, facts already read.
    attested: usize,
    attest: Duration,
}

/// The same documents moved with Automerge alone: `save()` from A's store, then
/// `load_incremental()` into fresh documents; no network, no disk on the load side.
fn baseline(dir: &Path) -> anyhow::Result<Baseline> {
    let store = neiqin::node::open_store(dir, 100)?;
    let ids = store.doc_ids(Some("order"))?;
    let records = ids
        .iter()
        .map(|id| Ok((id, store.record(id)?.context("document")?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let facts: usize = records.iter().map(|(_, r)| r.facts.len()).sum();
    let t = Instant::now();
    for (id, record) in &records {
        std::hint::black_box(neiqin::domain::order::Order::from_record(id, record));
    }
    let unchecked = t.elapsed();
    // A fresh authority: no signature verified yet, as on a node receiving them.
    let authority = neiqin::authority::Authority::load(dir)?;
    let t = Instant::now();
    for (id, record) in &records {
        let order = neiqin::domain::order::Order::from_record_checked(id, record, &authority);
        ensure!(order.refused_facts.is_empty(), "every fact of A counts");
    }
    let verify = t.elapsed().saturating_sub(unchecked);
    let counted: Vec<Vec<neiqin::domain::facts::Fact>> = records
        .iter()
        .map(|(id, record)| {
            neiqin::domain::facts::CheckedFacts::of(id, record, &neiqin::domain::facts::CountAll)
                .facts
        })
        .collect();
    let rules = &neiqin::domain::order::ATTEST_RULES;
    let attested = records
        .iter()
        .zip(&counted)
        .filter(|((_, record), facts)| {
            facts.iter().any(|f| {
                (rules.activates)(f)
                    && record.facts.get(&f.id).is_some_and(|text| {
                        neiqin::domain::attest::Attestation::of_stored(text).is_some()
                    })
            })
        })
        .count();
    let t = Instant::now();
    for ((_, record), facts) in records.iter().zip(&counted) {
        let found = neiqin::domain::attest::unattested(record, facts, rules);
        ensure!(found.is_empty(), "every value of A is attested: {found:?}");
    }
    let attest = t.elapsed();
    drop(records);
    let t = Instant::now();
    let mut saved = Vec::with_capacity(ids.len());
    for id in &ids {
        saved.push(store.save(id)?.context("document")?);
    }
    let save = t.elapsed();
    let mut raw_bytes = 0;
    for id in &ids {
        raw_bytes += store.raw_document(id)?.map(|v| v.len()).unwrap_or(0);
    }
    drop(store);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut docs = Vec::with_capacity(saved.len());
        for bytes in &saved {
            let mut doc = automerge::AutoCommit::new();
            doc.load_incremental(bytes)?;
            docs.push(doc);
        }
        best = best.min(t.elapsed());
        ensure!(
            docs.iter_mut().all(|d| !d.get_heads().is_empty()),
            "every loaded document has changes"
        );
    }
    // Memory of a loaded document, counted by the allocator in one more (untimed) pass.
    let mut docs = Vec::with_capacity(saved.len());
    let before = support::counted_bytes();
    support::counting(true);
    for bytes in &saved {
        let mut doc = automerge::AutoCommit::new();
        doc.load_incremental(bytes)?;
        docs.push(doc);
    }
    let mem_per_doc = (support::counted_bytes() - before).max(0) as u64 / saved.len().max(1) as u64;
    support::counting(false);
    drop(docs);
    Ok(Baseline {
        docs: ids.len(),
        save,
        load: best,
        saved_bytes: saved.iter().map(Vec::len).sum(),
        raw_bytes,
        mem_per_doc,
        facts,
        verify,
        attested,
        attest,
    })
}

/// Starts B with A as its static peer; returns B, the time from spawn until B has all `n`
/// orders, and when B printed its address. B is polled cheaply on `last_id`, the document A
/// wrote last (B merges in A's feed order), then /api/status confirms the count; polling the
/// status alone would cost B an index scan of every order each time.
/// What one full sync run measured.
struct FullSyncRun {
    full: Duration,
    b_printed: Duration,
    a_cpu: f64,
    b_cpu: f64,
    b_faults: f64,
    b_rss_kib: u64,
    b_peak_kib: u64,
}

async fn full_sync(
    c: &reqwest::Client,
    a: &NodeProc,
    b_dir: &Path,
    b_admin: &str,
    n: usize,
    last_id: &str,
    poll: Duration,
) -> anyhow::Result<(NodeProc, Duration, Duration)> {
    let b = spawn_node(b_dir, &["--peer", &a.peer])?;
    let printed = b.spawned.elapsed();
    let status_url = format!("{}/api/status", b.base);
    let last_url = format!("{}/api/orders/{last_id}", b.base);
    let deadline = Instant::now() + Duration::from_secs(60 + n as u64 / 100);
    let mut last_report = Instant::now();
    let mut seen_last: Option<Duration> = None;
    loop {
        if seen_last.is_none() {
            if let Ok((200, _)) = get(c, &last_url, b_admin).await {
                seen_last = Some(b.spawned.elapsed());
            }
        }
        if seen_last.is_some() || last_report.elapsed() > Duration::from_secs(5) {
            if let Ok((200, v)) = get(c, &status_url, b_admin).await {
                let have = v["orders"].as_u64().unwrap_or(0);
                if have >= n as u64 {
                    let took = seen_last.unwrap_or_else(|| b.spawned.elapsed());
                    return Ok((b, took, printed));
                }
                if seen_last.is_some() {
                    progress!("   B has the last document but only {have}/{n} orders");
                    seen_last = None;
                } else {
                    progress!("   B has {have}/{n} orders");
                }
                last_report = Instant::now();
            }
        }
        ensure!(
            Instant::now() < deadline,
            "full sync of {n} orders timed out"
        );
        tokio::time::sleep(poll).await;
    }
}

/// Waits until every node's peers report nothing lacking and feed positions stop moving.
async fn quiesce(c: &reqwest::Client, nodes: &[(&NodeProc, &str)]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last: Vec<u64> = Vec::new();
    loop {
        let mut seqs = Vec::new();
        let mut settled = true;
        for (node, token) in nodes {
            let (_, v) = get(c, &format!("{}/api/status", node.base), token).await?;
            seqs.push(v["feed_seq"].as_u64().unwrap_or(0));
            if std::env::var_os("NEIQIN_BENCH_DEBUG").is_some() {
                progress!("   {}: {}", node.base, v["peers"]);
            }
            let peers = v["peers"].as_array().cloned().unwrap_or_default();
            // `they_lack` is only refreshed when a (long) pull is answered, so it is not used.
            settled &= !peers.is_empty()
                && peers
                    .iter()
                    .all(|p| p["we_lack"].as_u64() == Some(0) && !p["last_sync"].is_null());
        }
        if std::env::var_os("NEIQIN_BENCH_DEBUG").is_some() {
            progress!("   quiesce: settled={settled} seqs={seqs:?}");
        }
        if settled && seqs == last {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Ok(());
        }
        last = seqs;
        if Instant::now() > deadline {
            progress!("   nodes did not settle in 180 s; measuring anyway");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `count` distinct ids spread over the set, shifted by `offset`.
fn spread(ids: &[String], count: usize, offset: usize) -> Vec<String> {
    let step = (ids.len() / count).max(1);
    (0..count)
        .map(|i| ids[(i * step + offset) % ids.len()].clone())
        .collect()
}

async fn has_note(c: &reqwest::Client, base: &str, token: &str, id: &str, note: &str) -> bool {
    matches!(
        get(c, &format!("{base}/api/orders/{id}"), token).await,
        Ok((200, v)) if v["note"].as_str() == Some(note)
    )
}

/// Polls B (every 1 ms) until `targets[first]` shows its note, then checks every other target
/// once, polling those still missing. Returns when the last one was seen, and how many were
/// missing when `first` arrived.
async fn wait_visible(
    c: &reqwest::Client,
    b: &NodeProc,
    token: &str,
    targets: &[(String, String)],
    first: usize,
) -> anyhow::Result<(Instant, usize)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let poll = |i: usize| async move {
        let (id, note) = &targets[i];
        loop {
            if has_note(c, &b.base, token, id, note).await {
                return Ok(Instant::now());
            }
            ensure!(
                Instant::now() < deadline,
                "change to {id} not on B within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let mut seen = poll(first).await?;
    let mut missing = Vec::new();
    for (i, (id, note)) in targets.iter().enumerate() {
        if i != first && !has_note(c, &b.base, token, id, note).await {
            missing.push(i);
        }
    }
    let was_missing = missing.len();
    for i in missing {
        seen = poll(i).await?;
    }
    Ok((seen, was_missing))
}

/// Incremental-sync rounds; each round changes `CHANGED` different orders. Milliseconds.
#[derive(Default)]
struct Incremental {
    /// Last PATCH answered → B has all (live, long poll).
    live: Samples,
    /// First PATCH sent → B has all.
    live_total: Samples,
    burst: Samples,
    live_missing: usize,
    /// B resumed after the changes were made → B has all.
    catch_up: Samples,
    catch_up_missing: usize,
}

fn spread_note(s: &Samples) -> String {
    format!(
        "median of {}, min {} max {}",
        s.0.len(),
        fmt_num(s.pct(0.0)),
        fmt_num(s.max())
    )
}

impl Incremental {
    fn report(&self, report: &mut Report, n: usize, small: Option<&Incremental>) {
        let key = if small.is_some() { "big" } else { "small" };
        let live = self.live.pct(50.0);
        let catch_up = self.catch_up.pct(50.0);
        report.figure(&format!("incremental_{key}_live"), live, "ms");
        report.figure(&format!("incremental_{key}_catchup"), catch_up, "ms");
        let mut notes = format!(
            "{} ms; burst of {CHANGED} PATCHes (8 at a time) took {} ms; first PATCH sent → B has all {} ms{}",
            spread_note(&self.live),
            fmt_num(self.burst.pct(50.0)),
            fmt_num(self.live_total.pct(50.0)),
            if self.live_missing > 0 {
                format!("; {} changes not yet there when the last one was", self.live_missing)
            } else {
                String::new()
            }
        );
        let target = match small {
            None => format!("< 50 ms: {}", verdict(live < 50.0)),
            Some(s) => {
                let r = live / s.live.pct(50.0);
                report.figure("incremental_ratio_live", r, "x");
                notes.push_str(&format!("; {r:.2}x the smaller-store figure"));
                format!(
                    "≤ 1.5x small ({} ms): {}",
                    fmt_num(1.5 * s.live.pct(50.0)),
                    verdict(r <= 1.5)
                )
            }
        };
        report.row(
            format!("6. incremental: {CHANGED} of {n} changed, last PATCH answered → B has all"),
            format!("{} ms", fmt_num(live)),
            target,
            notes,
        );
        let mut notes = format!(
            "{} ms; B paused (SIGSTOP) while {CHANGED} PATCHes were made on A, then resumed{}",
            spread_note(&self.catch_up),
            if self.catch_up_missing > 0 {
                format!(
                    "; {} changes not yet there when the last one was",
                    self.catch_up_missing
                )
            } else {
                String::new()
            }
        );
        let target = match small {
            None => format!("< 50 ms: {}", verdict(catch_up < 50.0)),
            Some(s) => {
                let r = catch_up / s.catch_up.pct(50.0);
                report.figure("incremental_ratio_catchup", r, "x");
                notes.push_str(&format!("; {r:.2}x the smaller-store figure"));
                format!(
                    "≤ 1.5x small ({} ms): {}",
                    fmt_num(1.5 * s.catch_up.pct(50.0)),
                    verdict(r <= 1.5)
                )
            }
        };
        report.row(
            format!("6. incremental: {CHANGED} of {n} changed, B resumed → B has all"),
            format!("{} ms", fmt_num(catch_up)),
            target,
            notes,
        );
    }
}

/// Rounds of each incremental-sync variant. Each round is a few milliseconds, set by where the
/// peer's long poll falls against the burst's end; with 5 rounds the 100k-to-10k ratio of
/// medians swung from 0.8x to 1.7x between runs.
const ROUNDS: usize = 9;

async fn incremental(
    c: &reqwest::Client,
    a: &NodeProc,
    gen: &Generated,
    b: &NodeProc,
    b_token: &str,
    tag: &str,
) -> anyhow::Result<Incremental> {
    let set = |offset: usize, round: &str| -> Vec<(String, String)> {
        spread(&gen.order_ids, CHANGED, offset)
            .into_iter()
            .enumerate()
            .map(|(i, id)| (id, format!("bench {tag}-{round}-{i}")))
            .collect()
    };
    let patch_one = |id: String, note: String| async move {
        let url = format!("{}/api/orders/{id}", a.base);
        let (st, v) = patch(c, &url, &gen.clerk_token, &json!({ "note": note })).await?;
        ensure!(st == 200, "PATCH {id}: {st} {v}");
        Ok::<Instant, anyhow::Error>(Instant::now())
    };
    let mut out = Incremental::default();
    for round in 0..ROUNDS {
        // Live: B connected and long-polling A; a burst of PATCHes, 8 at a time.
        let targets = set(1 + 2 * round, &format!("live{round}"));
        let burst_start = Instant::now();
        let done: Vec<(usize, anyhow::Result<Instant>)> = futures::stream::iter(
            targets
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, (id, note))| async move { (i, patch_one(id, note).await) }),
        )
        .buffer_unordered(8)
        .collect()
        .await;
        let mut last = (0, burst_start);
        for (i, r) in done {
            let t = r?;
            if t > last.1 {
                last = (i, t);
            }
        }
        let (seen, missing) = wait_visible(c, b, b_token, &targets, last.0).await?;
        out.live.push(seen.duration_since(last.1));
        out.live_total.push(seen.duration_since(burst_start));
        out.burst.push(last.1.duration_since(burst_start));
        out.live_missing += missing;
        quiesce(c, &[(a, &gen.admin_token), (b, b_token)]).await?;

        // Catch-up: B paused while the changes are made one after another (the last one has
        // the highest feed position), then resumed.
        let targets = set(2 + 2 * round, &format!("catchup{round}"));
        b.pause();
        let mut result = Ok(());
        for (id, note) in &targets {
            if let Err(e) = patch_one(id.clone(), note.clone()).await {
                result = Err(e);
                break;
            }
        }
        let t0 = Instant::now();
        b.resume();
        result?;
        let (seen, missing) = wait_visible(c, b, b_token, &targets, CHANGED - 1).await?;
        out.catch_up.push(seen.duration_since(t0));
        out.catch_up_missing += missing;
        progress!(
            "   round {round}: live {} ms after the last PATCH, catch-up {} ms after resume",
            fmt_num(*out.live.0.last().unwrap_or(&f64::NAN)),
            fmt_num(*out.catch_up.0.last().unwrap_or(&f64::NAN))
        );
        quiesce(c, &[(a, &gen.admin_token), (b, b_token)]).await?;
    }
    Ok(out)
}

/// 8. PATCH one order on A, poll B every 1 ms until it shows; `EDIT_REPS` times.
async fn edit_latency(
    c: &reqwest::Client,
    a: &NodeProc,
    gen: &Generated,
    b: &NodeProc,
    b_token: &str,
) -> anyhow::Result<(Samples, Samples)> {
    let mut from_send = Samples::default();
    let mut from_return = Samples::default();
    let ids = spread(&gen.order_ids, EDIT_REPS, 3);
    for (r, id) in ids.iter().enumerate() {
        let note = format!("bench edit {r}");
        let url = format!("{}/api/orders/{id}", a.base);
        let sent = Instant::now();
        let (st, v) = patch(c, &url, &gen.clerk_token, &json!({ "note": note })).await?;
        ensure!(st == 200, "PATCH {id}: {st} {v}");
        let answered = Instant::now();
        let deadline = sent + Duration::from_secs(30);
        loop {
            if has_note(c, &b.base, b_token, id, &note).await {
                break;
            }
            ensure!(Instant::now() < deadline, "edit {r} not on B within 30 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        from_send.push(sent.elapsed());
        from_return.push(answered.elapsed());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    Ok((from_send, from_return))
}
