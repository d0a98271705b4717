//! Reports as tables: printed for the terminal, written as CSV (UTF-8 with a BOM, so Excel reads
//! Chinese correctly) and as XLSX (Chinese headers, number formats, a totals row).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::domain::report::{DailyReport, MonthlyReport, SalesStats};

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Money(Decimal),
    Quantity(Decimal),
    Count(usize),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Money(d) => format!("{:.2}", d),
            Cell::Quantity(d) => d.normalize().to_string(),
            Cell::Count(n) => n.to_string(),
        }
    }
}

/// A report laid out as one sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub total: Option<Vec<Cell>>,
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

impl Table {
    pub fn daily(r: &DailyReport) -> Table {
        let mut rows = Vec::new();
        let mut total = Vec::new();
        for (name, figure) in [
            ("销售额", &r.sales),
            ("接单额", &r.intake),
            ("未发货额", &r.unshipped),
        ] {
            rows.push(vec![
                text(name),
                text("合计"),
                Cell::Money(figure.amount),
                Cell::Count(figure.orders.len()),
            ]);
            total.push(figure.amount);
            for o in &figure.orders {
                rows.push(vec![
                    text(name),
                    text(o.number.clone()),
                    Cell::Money(o.amount),
                    Cell::Count(1),
                ]);
            }
        }
        Table {
            title: format!("每日报表 {}", r.date),
            headers: ["指标", "订单号", "金额", "订单数"]
                .map(String::from)
                .to_vec(),
            rows,
            total: None,
        }
    }

    pub fn monthly(r: &MonthlyReport) -> Table {
        let row = |s: &crate::domain::report::StoreMonth| {
            vec![
                text(s.store.clone()),
                text(s.customer.clone()),
                text(s.region.clone()),
                text(s.channel.clone()),
                Cell::Money(s.amount),
                Cell::Quantity(s.quantity),
                Cell::Count(s.orders),
            ]
        };
        Table {
            title: format!("月度门店销售 {}", r.month),
            headers: ["门店", "客户", "区域", "渠道", "金额", "数量", "订单数"]
                .map(String::from)
                .to_vec(),
            rows: r.stores.iter().map(row).collect(),
            total: Some(row(&r.total)),
        }
    }

    pub fn stats(r: &SalesStats) -> Table {
        Table {
            title: format!("销售统计 按{} {} 至 {}", r.by.label(), r.from, r.to),
            headers: vec![
                "月份".into(),
                r.by.label().into(),
                "金额".into(),
                "数量".into(),
                "订单数".into(),
            ],
            rows: r
                .rows
                .iter()
                .map(|s| {
                    vec![
                        text(s.month.clone()),
                        text(s.key.clone()),
                        Cell::Money(s.amount),
                        Cell::Quantity(s.quantity),
                        Cell::Count(s.orders),
                    ]
                })
                .collect(),
            total: Some(vec![
                text("合计"),
                text(""),
                Cell::Money(r.total_amount),
                Cell::Quantity(r.total_quantity),
                text(""),
            ]),
        }
    }

    /// 应收账龄: receivables and their aging since shipment and past due, one row per group.
    pub fn aging(r: &crate::service::receivables::AgingReport) -> Table {
        let row = |key: &str, f: &crate::domain::receivable::Figures| {
            vec![
                text(key),
                Cell::Count(f.orders),
                Cell::Money(f.shipped),
                Cell::Money(f.invoiced),
                Cell::Money(f.paid),
                Cell::Money(f.outstanding),
                Cell::Money(f.aging_shipped.d0_30),
                Cell::Money(f.aging_shipped.d31_60),
                Cell::Money(f.aging_shipped.d61_90),
                Cell::Money(f.aging_shipped.over_90),
                Cell::Money(f.aging_due.not_due),
                Cell::Money(f.aging_due.d0_30),
                Cell::Money(f.aging_due.d31_60),
                Cell::Money(f.aging_due.d61_90),
                Cell::Money(f.aging_due.over_90),
            ]
        };
        let mut headers = vec![r.group_by.label().to_string()];
        headers.extend(
            [
                "订单数",
                "发货额",
                "开票额",
                "回款额",
                "应收余额",
                "发货0-30天",
                "发货31-60天",
                "发货61-90天",
                "发货90天以上",
                "未到期",
                "逾期0-30天",
                "逾期31-60天",
                "逾期61-90天",
                "逾期90天以上",
            ]
            .map(String::from),
        );
        Table {
            title: format!("应收账龄 按{} 截至 {}", r.group_by.label(), r.as_of),
            headers,
            rows: r.rows.iter().map(|g| row(&g.label, &g.figures)).collect(),
            total: Some(row("合计", &r.total)),
        }
    }

    fn all_rows(&self) -> impl Iterator<Item = &Vec<Cell>> {
        self.rows.iter().chain(self.total.iter())
    }

    /// A plain-text table for the terminal, columns aligned by display width.
    pub fn to_text(&self) -> String {
        let width = |s: &str| {
            s.chars()
                .map(|c| if c.is_ascii() { 1 } else { 2 })
                .sum::<usize>()
        };
        let cells: Vec<Vec<String>> = std::iter::once(self.headers.clone())
            .chain(self.all_rows().map(|r| r.iter().map(Cell::text).collect()))
            .collect();
        let cols = self.headers.len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                cells
                    .iter()
                    .map(|r| r.get(c).map(|s| width(s)).unwrap_or(0))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("{}\n", self.title);
        for (i, row) in cells.iter().enumerate() {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, s)| format!("{s}{}", " ".repeat(widths[c].saturating_sub(width(s)))))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
            if i == 0 {
                out.push_str(
                    &widths
                        .iter()
                        .map(|w| "-".repeat(*w))
                        .collect::<Vec<_>>()
                        .join("  "),
                );
                out.push('\n');
            }
        }
        out
    }

    /// CSV, UTF-8 with a byte-order mark.
    pub fn to_csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut out = vec![0xEF, 0xBB, 0xBF];
        {
            let mut writer = csv::Writer::from_writer(&mut out);
            writer.write_record(&self.headers)?;
            for row in self.all_rows() {
                writer.write_record(row.iter().map(Cell::text))?;
            }
            writer.flush()?;
        }
        Ok(out)
    }

    pub fn to_xlsx(&self) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{Format, Workbook};
        let mut workbook = Workbook::new();
        // Rows go out as they are written, strings inline: no shared-string table to build
        // for tens of thousands of order numbers (half the time of the daily workbook).
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name("报表")?;
        let bold = Format::new().set_bold();
        let money = Format::new().set_num_format("#,##0.00");
        let money_bold = Format::new().set_num_format("#,##0.00").set_bold();
        let quantity = Format::new().set_num_format("#,##0.###");
        sheet.write_string_with_format(0, 0, &self.title, &bold)?;
        for (c, h) in self.headers.iter().enumerate() {
            sheet.write_string_with_format(1, c as u16, h, &bold)?;
            sheet.set_column_width(c as u16, 14)?;
        }
        let mut r = 2u32;
        for row in &self.rows {
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(s) => sheet.write_string(r, c, s)?,
                    Cell::Money(d) => sheet.write_number_with_format(
                        r,
                        c,
                        d.to_f64().unwrap_or_default(),
                        &money,
                    )?,
                    Cell::Quantity(d) => sheet.write_number_with_format(
                        r,
                        c,
                        d.to_f64().unwrap_or_default(),
                        &quantity,
                    )?,
                    Cell::Count(n) => sheet.write_number(r, c, *n as f64)?,
                };
            }
            r += 1;
        }
        if let Some(total) = &self.total {
            for (c, cell) in total.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(s) => sheet.write_string_with_format(r, c, s, &bold)?,
                    Cell::Money(d) => sheet.write_number_with_format(
                        r,
                        c,
                        d.to_f64().unwrap_or_default(),
                        &money_bold,
                    )?,
                    Cell::Quantity(d) => sheet.write_number_with_format(
                        r,
                        c,
                        d.to_f64().unwrap_or_default(),
                        &bold,
                    )?,
                    Cell::Count(n) => sheet.write_number_with_format(r, c, *n as f64, &bold)?,
                };
            }
        }
        // The file goes to a browser on this machine or the LAN: deflate level 1 instead of 6
        // saves a fifth of the time for a slightly larger file.
        workbook.set_zip_compression_level(1);
        workbook.save_to_buffer()
    }
}
