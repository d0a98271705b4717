//! Helpers for the node benchmark: real `neiqin serve` processes on loopback, a small HTTP
//! client, request bodies, statistics and the result table.

pub mod data;

use anyhow::{bail, Context};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `neiqin` binary cargo built for this benchmark (release profile), or another build named
/// by NEIQIN_BENCH_BIN (to measure an earlier build against this one on the same data).
pub fn bin() -> String {
    std::env::var("NEIQIN_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_neiqin").to_string())
}

/// A `neiqin serve` process started by the benchmark. Stopped (SIGINT, then SIGKILL) on drop.
pub struct NodeProc {
    child: Option<Child>,
    pub base: String,
    pub peer: String,
    pub pid: u32,
    /// When the process was spawned.
    pub spawned: Instant,
}

/// Starts `neiqin serve --no-mdns` on loopback port 0 and reads the two addresses it prints.
pub fn spawn_node(data: &Path, extra: &[&str]) -> anyhow::Result<NodeProc> {
    let spawned = Instant::now();
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--no-mdns",
            "--listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data)
        .args(extra)
        .env(
            "NEIQIN_LOG",
            std::env::var("NEIQIN_BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env_remove("NEIQIN_PEERS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn neiqin serve")?;
    let pid = child.id();
    let stdout = child.stdout.take().context("stdout")?;
    let mut proc = NodeProc {
        child: Some(child),
        base: String::new(),
        peer: String::new(),
        pid,
        spawned,
    };
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let Some(line) = lines.next() else {
            bail!(
                "neiqin serve on {} exited before printing its addresses",
                data.display()
            );
        };
        let line = line?;
        if let Some(url) = line.split("serving on ").nth(1) {
            proc.base = url.trim().to_string();
        }
        if let Some(addr) = line.split("peer endpoint on ").nth(1) {
            proc.peer = addr.trim().to_string();
            break;
        }
    }
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(proc)
}

impl NodeProc {
    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.pid.to_string()])
            .status();
    }

    /// SIGSTOP: the process keeps its sockets but does nothing until `resume`.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// (VmRSS, VmHWM) in KiB, from /proc.
    pub fn rss_kib(&self) -> (u64, u64) {
        let text =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time the node has used so far (user + system), from /proc; clock ticks are 1/100 s
    /// on Linux.
    pub fn cpu_secs(&self) -> f64 {
        // utime and stime are fields 14 and 15 of stat.
        (self.stat_field(14) + self.stat_field(15)) / 100.0
    }

    /// Page faults the node has taken so far that needed no disk read (fresh or reclaimed
    /// memory), from /proc.
    pub fn minor_faults(&self) -> f64 {
        self.stat_field(10)
    }

    /// Field `n` (1-based, as `man proc` numbers them) of /proc/<pid>/stat, 0 if unreadable.
    fn stat_field(&self, n: usize) -> f64 {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // The command name (field 2) may hold spaces; the fields after it are plain, and the
        // first of them is field 3.
        let after_name = text.rsplit_once(')').map_or("", |(_, rest)| rest);
        after_name
            .split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    /// Stops cleanly (SIGINT: the node flushes and exits), killing it after 15 s.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.signal("-CONT");
        self.signal("-INT");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("node {} did not stop on SIGINT; killing it", self.pid);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(128)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// One request; returns the status code and the JSON body (Null when not JSON).
pub async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = c.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

pub async fn get(c: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<(u16, Value)> {
    call(c, reqwest::Method::GET, url, token, None).await
}

pub async fn post(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    call(c, reqwest::Method::POST, url, token, Some(body)).await
}

pub async fn patch(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    call(c, reqwest::Method::PATCH, url, token, Some(body)).await
}

pub fn read_token(data: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(data.join("admin.token"))
        .with_context(|| format!("admin token in {}", data.display()))?
        .trim()
        .to_string())
}

/// Bytes of every file under `dir` (apparent size, and allocated blocks).
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                apparent += meta.len();
                allocated += meta.blocks() * 512;
            }
        }
    }
    (apparent, allocated)
}

/// Latencies in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1000.0);
    }

    /// Nearest-rank percentile (p in 0..=100).
    pub fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NAN, f64::max)
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One line of the result table.
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub target: String,
    pub notes: String,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    /// Prints `BENCH name value unit` at once and keeps a row for the table.
    pub fn figure(&mut self, name: &str, value: f64, unit: &str) {
        println!("BENCH {name} {} {unit}", fmt_num(value));
    }

    pub fn row(
        &mut self,
        figure: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        notes: impl Into<String>,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            measured: measured.into(),
            target: target.into(),
            notes: notes.into(),
        });
    }

    pub fn print(&self) {
        let headers = ["figure", "measured", "target", "baseline/notes"];
        let cells: Vec<[&str; 4]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.figure.as_str(),
                    r.measured.as_str(),
                    r.target.as_str(),
                    r.notes.as_str(),
                ]
            })
            .collect();
        let width = |i: usize| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..3).map(width).collect();
        let pad =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        let line = |c: [&str; 4]| {
            format!(
                "| {} | {} | {} | {} |",
                pad(c[0], widths[0]),
                pad(c[1], widths[1]),
                pad(c[2], widths[2]),
                c[3]
            )
        };
        println!();
        println!("{}", line(headers));
        println!(
            "|{}|{}|{}|---|",
            "-".repeat(widths[0] + 2),
            "-".repeat(widths[1] + 2),
            "-".repeat(widths[2] + 2)
        );
        for c in cells {
            println!("{}", line(c));
        }
    }
}

pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "nan".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// "ok" or "MISS" after a target.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISS"
    }
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

macro_rules! progress {
    ($($arg:tt)*) => {{
        eprintln!("[bench {:>7.1}s] {}", $crate::support::elapsed(), format!($($arg)*));
    }};
}
pub(crate) use progress;

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

pub fn elapsed() -> f64 {
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// The system allocator, counting live bytes while `counting(true)`: how much memory a loaded
/// document takes. A relaxed load per allocation otherwise.
pub struct CountingAlloc;

static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

pub fn counting(on: bool) {
    COUNTING.store(on, std::sync::atomic::Ordering::SeqCst);
}

/// Bytes allocated minus bytes freed while counting was on.
pub fn counted_bytes() -> isize {
    LIVE.load(std::sync::atomic::Ordering::SeqCst)
}

unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        let p = std::alloc::System.alloc(layout);
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        use std::sync::atomic::Ordering::Relaxed;
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        std::alloc::System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        let p = std::alloc::System.realloc(ptr, layout, new_size);
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}
