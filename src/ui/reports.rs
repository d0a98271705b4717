//! 报表: the daily report (销售额, 接单额, 未发货额), the month per store and the sales statistics,
//! each with a bar chart drawn here as SVG (no script, no chart library), 导出Excel / CSV links to
//! `/ui/reports/export` (the same tables as `/api/reports/…?format=xlsx|csv`, for the session),
//! and as of when this node last synced with each peer. Every figure comes from the report use
//! cases (`service::reports`), which read index entries only.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use chrono::{Duration, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::format::{business_today, minute_of, money, query_string};
use super::order_page::{chinese_half, parse_day};
use super::session::SignedIn;
use super::{render, Chrome, PageError};
use crate::domain::report::Dimension;
use crate::http::reports::{respond, Format};
use crate::http::{read, AppState};
use crate::render::Table;
use crate::service::reports::AsOf;
use crate::service::ServiceError;

/// Bars a chart shows at most (the largest); the table below it has every row.
const CHART_BARS: usize = 15;

/// What the page was asked for; every field may be missing or wrong (then the default, said).
#[derive(Debug, Default, Deserialize, Clone)]
pub struct ReportParams {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    by: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
}

const KINDS: [(&str, &str); 3] = [
    ("daily", "日报"),
    ("monthly", "月报（门店）"),
    ("sales", "销售统计"),
];
const DIMENSIONS: [(&str, &str, Dimension); 5] = [
    ("region", "区域", Dimension::Region),
    ("channel", "渠道", Dimension::Channel),
    ("product", "产品", Dimension::Product),
    ("salesperson", "业务员", Dimension::Salesperson),
    ("store", "门店", Dimension::Store),
];

/// The report asked for, every input read (or its default, with a note saying so).
#[derive(Debug, Clone)]
enum Asked {
    Daily(NaiveDate),
    Monthly(String),
    Sales {
        by: &'static str,
        from: NaiveDate,
        to: NaiveDate,
    },
}

impl Asked {
    fn read(p: &ReportParams, today: NaiveDate, notes: &mut Vec<String>) -> Asked {
        let mut day = |text: &str, what: &str, default: NaiveDate| match text.trim() {
            "" => default,
            t => parse_day(t, what).unwrap_or_else(|why| {
                notes.push(format!("{why}，已改用 {default}"));
                default
            }),
        };
        match p.kind.as_str() {
            "monthly" => {
                let this_month = today.format("%Y-%m").to_string();
                let month = match p.month.trim() {
                    "" => this_month,
                    m if crate::service::reports::month_bounds(m).is_ok() => m.to_string(),
                    m => {
                        notes.push(format!("月份“{m}”不是 YYYY-MM 格式，已改用 {this_month}"));
                        this_month
                    }
                };
                Asked::Monthly(month)
            }
            "sales" => {
                let mut to = day(&p.to, "截止日期", today);
                let mut from = day(&p.from, "开始日期", to - Duration::days(89));
                if to < from {
                    notes.push(format!("开始日期 {from} 晚于截止日期 {to}，已对调"));
                    std::mem::swap(&mut from, &mut to);
                }
                let by = DIMENSIONS
                    .iter()
                    .find(|(v, ..)| *v == p.by)
                    .map_or("region", |(v, ..)| v);
                Asked::Sales { by, from, to }
            }
            _ => Asked::Daily(day(&p.date, "日期", today)),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Asked::Daily(_) => "daily",
            Asked::Monthly(_) => "monthly",
            Asked::Sales { .. } => "sales",
        }
    }

    /// The query string of this report, plus `extra`.
    fn query(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("kind", self.kind().to_string())];
        match self {
            Asked::Daily(d) => pairs.push(("date", d.to_string())),
            Asked::Monthly(m) => pairs.push(("month", m.clone())),
            Asked::Sales { by, from, to } => {
                pairs.push(("by", by.to_string()));
                pairs.push(("from", from.to_string()));
                pairs.push(("to", to.to_string()));
            }
        }
        let mut all: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(extra);
        query_string(&all)
    }
}

fn dimension(by: &str) -> Dimension {
    DIMENSIONS
        .iter()
        .find(|(v, ..)| *v == by)
        .map_or(Dimension::Region, |(.., d)| *d)
}

/// One bar of a horizontal bar chart, placed in the SVG's coordinates.
pub struct Bar {
    pub label: String,
    pub value: String,
    pub y: u32,
    pub width: u32,
    pub text_y: u32,
    pub value_x: u32,
}

/// A horizontal bar chart: labels on the left, bars scaled to the largest value.
pub struct Chart {
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub label_x: u32,
    pub bar_x: u32,
    pub bar_height: u32,
    pub bars: Vec<Bar>,
}

const CHART_WIDTH: u32 = 760;
const LABEL_WIDTH: u32 = 170;
const BAR_AREA: u32 = 460;
const ROW: u32 = 26;

/// Draws `values` (label, amount) as bars, largest first, at most `CHART_BARS`; a negative
/// amount (returns exceeding sales) draws no bar but says its value.
pub fn bar_chart(title: String, mut values: Vec<(String, Decimal)>) -> Chart {
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    values.truncate(CHART_BARS);
    let max = values
        .iter()
        .map(|(_, v)| *v)
        .max()
        .filter(|m| *m > Decimal::ZERO);
    let bars: Vec<Bar> = values
        .into_iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let share = match max {
                Some(max) if value > Decimal::ZERO => (value / max).to_f64().unwrap_or(0.0),
                _ => 0.0,
            };
            let width = (share * f64::from(BAR_AREA)).round() as u32;
            let y = 8 + i as u32 * ROW;
            Bar {
                label,
                value: money(value),
                y,
                width,
                text_y: y + 14,
                value_x: LABEL_WIDTH + width + 6,
            }
        })
        .collect();
    Chart {
        title,
        width: CHART_WIDTH,
        height: 16 + ROW * bars.len().max(1) as u32,
        label_x: LABEL_WIDTH - 8,
        bar_x: LABEL_WIDTH,
        bar_height: ROW - 8,
        bars,
    }
}

pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub active: bool,
}

/// A table of the report: headers, then rows of cells; `num` marks right-aligned columns.
pub struct ReportTable {
    pub headers: Vec<&'static str>,
    pub num: Vec<bool>,
    pub rows: Vec<Vec<String>>,
    pub total: Vec<String>,
}

/// One peer's line of "as of".
pub struct PeerAsOf {
    pub name: String,
    pub last_sync: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    kind: &'static str,
    date: String,
    month: String,
    by: &'static str,
    from: String,
    to: String,
    dimensions: Vec<(&'static str, &'static str)>,
    notes: Vec<String>,
    /// 销售额, 接单额, 未发货额 of the daily report: (label, amount, orders).
    figures: Vec<(&'static str, String, usize)>,
    chart: Chart,
    table: ReportTable,
    xlsx_href: String,
    csv_href: String,
    generated_at: String,
    peers: Vec<PeerAsOf>,
}

fn peers_of(as_of: &AsOf) -> Vec<PeerAsOf> {
    as_of
        .peers
        .iter()
        .map(|p| {
            let text = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let name = match text("name") {
                n if n.is_empty() => text("node_id"),
                n => n,
            };
            PeerAsOf {
                name,
                last_sync: minute_of(&text("last_sync")),
            }
        })
        .collect()
}

/// The page's share of one report: its figures, chart, table, and its as-of.
struct Drawn {
    figures: Vec<(&'static str, String, usize)>,
    chart: Chart,
    table: ReportTable,
    as_of: AsOf,
}

fn daily(office: &crate::service::BackOffice, date: NaiveDate) -> Result<Drawn, ServiceError> {
    let (r, open_orders) = office.daily_overview(date)?;
    let d = &r.report;
    // (label, figure, orders): 未发货 comes as its value and number only.
    let figures = [
        ("销售额", &d.sales, d.sales.orders.len()),
        ("接单额", &d.intake, d.intake.orders.len()),
        ("未发货额", &d.unshipped, open_orders),
    ];
    let chart = bar_chart(
        format!("{date} 销售额 / 接单额 / 未发货额"),
        figures
            .iter()
            .map(|(l, f, _)| (l.to_string(), f.amount))
            .collect(),
    );
    // The day's shipped and verified orders (未发货 is every open order: only its total).
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (label, figure) in [("销售额", &d.sales), ("接单额", &d.intake)] {
        for o in &figure.orders {
            rows.push(vec![label.into(), o.number.clone(), money(o.amount)]);
        }
    }
    for a in &d.adjustments {
        rows.push(vec![
            format!("接单调整（{}）", a.adjusts),
            a.number.clone(),
            money(a.amount),
        ]);
    }
    Ok(Drawn {
        figures: figures
            .iter()
            .map(|(l, f, orders)| (*l, money(f.amount), *orders))
            .collect(),
        chart,
        table: ReportTable {
            headers: vec!["项目", "订单", "金额"],
            num: vec![false, false, true],
            rows,
            total: Vec::new(),
        },
        as_of: r.as_of,
    })
}

fn monthly(office: &crate::service::BackOffice, month: &str) -> Result<Drawn, ServiceError> {
    let r = office.monthly_report(month)?;
    let m = &r.report;
    let chart = bar_chart(
        format!("{month} 各门店销售额"),
        m.stores
            .iter()
            .map(|s| (s.store.clone(), s.amount))
            .collect(),
    );
    let row = |s: &crate::domain::report::StoreMonth| {
        vec![
            s.store.clone(),
            s.customer.clone(),
            s.region.clone(),
            s.channel.clone(),
            money(s.amount),
            super::format::quantity(s.quantity),
            s.orders.to_string(),
        ]
    };
    Ok(Drawn {
        figures: Vec::new(),
        chart,
        table: ReportTable {
            headers: vec!["门店", "客户", "区域", "渠道", "销售额", "数量", "订单数"],
            num: vec![false, false, false, false, true, true, true],
            rows: m.stores.iter().map(row).collect(),
            total: {
                let mut t = row(&m.total);
                t[0] = "合计".into();
                t
            },
        },
        as_of: r.as_of,
    })
}

fn sales(
    office: &crate::service::BackOffice,
    by: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Drawn, ServiceError> {
    let dim = dimension(by);
    let r = office.sales_stats(dim, from, to)?;
    let s = &r.report;
    let mut per_key: BTreeMap<String, Decimal> = BTreeMap::new();
    for row in &s.rows {
        *per_key.entry(row.key.clone()).or_default() += row.amount;
    }
    let chart = bar_chart(
        format!("{from} 至 {to} 按{}销售额", dim.label()),
        per_key.into_iter().collect(),
    );
    Ok(Drawn {
        figures: Vec::new(),
        chart,
        table: ReportTable {
            headers: vec!["月份", dim.label(), "销售额", "数量", "订单数"],
            num: vec![false, false, true, true, true],
            rows: s
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.month.clone(),
                        r.key.clone(),
                        money(r.amount),
                        super::format::quantity(r.quantity),
                        r.orders.to_string(),
                    ]
                })
                .collect(),
            total: vec![
                "合计".into(),
                String::new(),
                money(s.total_amount),
                super::format::quantity(s.total_quantity),
                String::new(),
            ],
        },
        as_of: r.as_of,
    })
}

fn draw(office: &crate::service::BackOffice, asked: &Asked) -> Result<Drawn, ServiceError> {
    match asked {
        Asked::Daily(date) => daily(office, *date),
        Asked::Monthly(month) => monthly(office, month),
        Asked::Sales { by, from, to } => sales(office, by, *from, *to),
    }
}

pub async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(p): Query<ReportParams>,
) -> Result<Html<String>, PageError> {
    let today = business_today(chrono::Utc::now());
    let mut notes = Vec::new();
    let asked = Asked::read(&p, today, &mut notes);
    let for_read = asked.clone();
    let drawn = read(&state, move |o| draw(o, &for_read))
        .await
        .map_err(|e| match e {
            crate::http::error::ApiError::Invalid(errors) => PageError::Refused(
                errors
                    .iter()
                    .map(|e| chinese_half(&e.message).to_string())
                    .collect::<Vec<_>>()
                    .join("；"),
            ),
            other => other.into(),
        })?;
    let (date, month, by, from, to) = match &asked {
        Asked::Daily(d) => (
            d.to_string(),
            today.format("%Y-%m").to_string(),
            "region",
            (today - Duration::days(89)).to_string(),
            today.to_string(),
        ),
        Asked::Monthly(m) => (
            today.to_string(),
            m.clone(),
            "region",
            (today - Duration::days(89)).to_string(),
            today.to_string(),
        ),
        Asked::Sales { by, from, to } => (
            today.to_string(),
            today.format("%Y-%m").to_string(),
            *by,
            from.to_string(),
            to.to_string(),
        ),
    };
    render(&ReportsPage {
        chrome: Chrome::new(&state, &signed, "/ui/reports"),
        tabs: KINDS
            .iter()
            .map(|(kind, label)| Tab {
                label,
                href: format!("/ui/reports{}", query_string(&[("kind", kind)])),
                active: *kind == asked.kind(),
            })
            .collect(),
        kind: asked.kind(),
        date,
        month,
        by,
        from,
        to,
        dimensions: DIMENSIONS.iter().map(|(v, l, _)| (*v, *l)).collect(),
        notes,
        figures: drawn.figures,
        chart: drawn.chart,
        table: drawn.table,
        xlsx_href: format!("/ui/reports/export{}", asked.query(&[("format", "xlsx")])),
        csv_href: format!("/ui/reports/export{}", asked.query(&[("format", "csv")])),
        generated_at: minute_of(&drawn.as_of.generated_at),
        peers: peers_of(&drawn.as_of),
    })
}

/// 导出Excel / CSV: the report's table as `/api/reports/…?format=xlsx|csv` gives it, for the
/// signed-in session (a browser sends no bearer token).
pub async fn export(
    State(state): State<AppState>,
    _signed: SignedIn,
    Query(p): Query<ReportParams>,
) -> Result<Response, PageError> {
    let today = business_today(chrono::Utc::now());
    let format = match p.format.as_str() {
        "csv" => Format::Csv,
        _ => Format::Xlsx,
    };
    let asked = Asked::read(&p, today, &mut Vec::new());
    let response = match asked {
        Asked::Daily(date) => {
            let r = read(&state, move |o| o.daily_report(date)).await?;
            let table = Table::daily(&r.report);
            respond(format, &format!("daily-{date}"), r, table)
        }
        Asked::Monthly(month) => {
            let m = month.clone();
            let r = read(&state, move |o| o.monthly_report(&m)).await?;
            let table = Table::monthly(&r.report);
            respond(format, &format!("monthly-{month}"), r, table)
        }
        Asked::Sales { by, from, to } => {
            let dim = dimension(by);
            let r = read(&state, move |o| o.sales_stats(dim, from, to)).await?;
            let table = Table::stats(&r.report);
            respond(format, &format!("sales-by-{by}-{from}-{to}"), r, table)
        }
    };
    Ok(response?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn bars_are_scaled_to_the_largest_and_sorted_largest_first() {
        let chart = bar_chart(
            "t".into(),
            vec![("小".into(), d("250")), ("大".into(), d("1000"))],
        );
        let bars: Vec<(&str, u32, &str)> = chart
            .bars
            .iter()
            .map(|b| (b.label.as_str(), b.width, b.value.as_str()))
            .collect();
        assert_eq!(bars, vec![("大", 460, "¥1,000.00"), ("小", 115, "¥250.00")]);
        assert_eq!(chart.height, 16 + 2 * ROW);
    }

    #[test]
    fn a_negative_or_zero_value_draws_no_bar_and_only_the_largest_are_drawn() {
        let mut values: Vec<(String, Decimal)> = (0..20)
            .map(|i| (format!("k{i:02}"), Decimal::from(i)))
            .collect();
        values.push(("退货".into(), d("-50")));
        let chart = bar_chart("t".into(), values);
        assert_eq!(chart.bars.len(), CHART_BARS);
        assert_eq!(chart.bars[0].label, "k19");
        assert_eq!(chart.bars[0].width, BAR_AREA);
        let none = bar_chart("t".into(), vec![("退货".into(), d("-50"))]);
        assert_eq!(none.bars[0].width, 0);
        assert_eq!(none.bars[0].value, "-¥50.00");
    }
}
