//! How the workbench writes things for people in China: money as ¥1,234.56, dates as YYYY-MM-DD
//! on the business day in China (UTC+8, whatever the machine's zone), roles and statuses in
//! Chinese, and query strings for links.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::domain::anomaly::AnomalyKind;
use crate::domain::money::round_cents;
use crate::domain::order::Status;
use crate::domain::role::Role;

/// China Standard Time; the business day of every date the workbench shows.
pub fn china() -> FixedOffset {
    // 8 hours is within ±24 h, so the offset exists; east_opt only refuses those out of range.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// Today's business day in China.
pub fn business_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&china()).date_naive()
}

/// ¥1,234.56: rounded to the cent, thousands separated, a minus before the sign when negative.
pub fn money(amount: Decimal) -> String {
    yuan(round_cents(amount), 2)
}

/// A unit price as recorded (up to 4 decimals, at least 2): ¥312.125 stays ¥312.125, so that
/// quantity x price visibly gives the line's amount.
pub fn unit_price(price: Decimal) -> String {
    let scale = price.normalize().scale().max(2) as usize;
    yuan(price, scale)
}

fn yuan(rounded: Decimal, decimals: usize) -> String {
    let text = format!("{:.decimals$}", rounded.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}¥{grouped}.{cents}")
}

/// A quantity without trailing zeros: 3, 2.5.
pub fn quantity(value: Decimal) -> String {
    value.normalize().to_string()
}

/// The business day (YYYY-MM-DD) of an RFC 3339 instant; the text unchanged if it is not one.
pub fn day_of(instant: &str) -> String {
    DateTime::parse_from_rfc3339(instant)
        .map(|t| t.with_timezone(&china()).format("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| instant.get(..10).unwrap_or(instant).to_string())
}

/// YYYY-MM-DD HH:MM in China of an RFC 3339 instant.
pub fn minute_of(instant: &str) -> String {
    DateTime::parse_from_rfc3339(instant)
        .map(|t| {
            t.with_timezone(&china())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| instant.to_string())
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Clerk => "内勤",
        Role::Supervisor => "主管",
        Role::Vp => "销售副总",
        Role::Warehouse => "仓库",
        Role::Finance => "财务",
        Role::Admin => "管理员",
    }
}

/// A status in Chinese, as the queue it is (待核单 is an order waiting for its 核单). Matched on
/// the status's name, so that a status added to `Status::ALL` is labelled here before it exists
/// and one without a label shows its name (and fails `every_status_has_a_chinese_label`).
pub fn status_label(status: Status) -> &'static str {
    match status.as_str() {
        "taken" => "待核单",
        "verified" => "待审核",
        "approved" => "待下单",
        "in_production" => "生产中",
        "awaiting_release" => "待放行",
        "released" => "待发货",
        "partially_shipped" => "部分发货",
        "shipped" => "已发货",
        "invoiced" => "已开票",
        "paid" => "已回款",
        "archived" => "已归档",
        "cancelled" => "已取消",
        _ => status.as_str(),
    }
}

/// An anomaly's kind in Chinese, as the inbox names it.
pub fn anomaly_label(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::ShippedWhileCancelled => "取消后仍有发货",
        AnomalyKind::ShippedWithoutRelease => "未经财务放行发货",
        AnomalyKind::StaleRelease => "按旧版出货单放行发货",
        AnomalyKind::OverShipped => "发货超过订购数量",
        AnomalyKind::DuplicateBankRef => "银行流水号重复",
        AnomalyKind::OverPaid => "收款超过订单金额",
        AnomalyKind::ReturnWithoutApproval => "退货未经审批入库",
        AnomalyKind::InvoiceTitleMismatch => "发票抬头与核单不符",
        AnomalyKind::FieldConflict => "字段冲突",
        AnomalyKind::DuplicateCustomer => "重复的客户档案",
        AnomalyKind::DuplicateInvoiceNumber => "发票号重复",
        AnomalyKind::ShippedBeyondRelease => "发货超出放行范围",
        AnomalyKind::OverInvoiced => "开票超过订单金额",
        AnomalyKind::OverReturned => "退货超过已发数量",
        AnomalyKind::UnauthorizedFact => "越权或伪造的记录",
        AnomalyKind::UnattestedValue => "未经授权的字段修改",
        AnomalyKind::DamagedDocument => "文档已损坏",
        AnomalyKind::ContractExceeded => "合同超额",
    }
}

/// The date-range shortcuts of the order list, for business day `today`: 今天, 本周 (Monday
/// on), 本月, 上月.
pub fn date_shortcuts(today: NaiveDate) -> Vec<(&'static str, NaiveDate, NaiveDate)> {
    let week_start = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let month_start = today.with_day(1).unwrap_or(today);
    let last_month_end = month_start - Duration::days(1);
    let last_month_start = last_month_end.with_day(1).unwrap_or(last_month_end);
    vec![
        ("今天", today, today),
        ("本周", week_start, today),
        ("本月", month_start, today),
        ("上月", last_month_start, last_month_end),
    ]
}

/// `?a=1&b=x` from the pairs whose value is not empty, percent-encoded.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn money_is_yuan_with_thousands_and_cents() {
        for (amount, shown) in [
            ("0", "¥0.00"),
            ("5", "¥5.00"),
            ("999.999", "¥1,000.00"),
            ("1234.56", "¥1,234.56"),
            ("3999.99", "¥3,999.99"),
            ("1234567.8", "¥1,234,567.80"),
            ("-1234.5", "-¥1,234.50"),
            ("-0.001", "¥0.00"),
        ] {
            assert_eq!(money(Decimal::from_str(amount).expect("amount")), shown);
        }
    }

    #[test]
    fn unit_prices_keep_their_decimals() {
        for (price, shown) in [
            ("312.1250", "¥312.125"),
            ("1333.33", "¥1,333.33"),
            ("4580", "¥4,580.00"),
            ("0.3350", "¥0.335"),
            ("12.3456", "¥12.3456"),
        ] {
            assert_eq!(unit_price(Decimal::from_str(price).expect("price")), shown);
        }
    }

    #[test]
    fn dates_are_the_business_day_in_china() {
        // 17:30 UTC on the 1st is 01:30 on the 2nd in China.
        assert_eq!(day_of("2026-12-01T17:30:00Z"), "2026-12-02");
        assert_eq!(day_of("2026-12-01T15:59:00Z"), "2026-12-01");
        assert_eq!(minute_of("2026-12-01T17:30:00+00:00"), "2026-12-02 01:30");
        let now = DateTime::parse_from_rfc3339("2026-12-31T16:00:00Z")
            .expect("instant")
            .with_timezone(&Utc);
        assert_eq!(business_today(now).to_string(), "2027-01-01");
    }

    #[test]
    fn shortcuts_cover_today_week_month_and_last_month() {
        let wednesday = NaiveDate::from_ymd_opt(2026, 1, 7).expect("date");
        let shortcuts = date_shortcuts(wednesday);
        let d = |s: &str| NaiveDate::from_str(s).expect("date");
        assert_eq!(shortcuts[0], ("今天", wednesday, wednesday));
        assert_eq!(shortcuts[1], ("本周", d("2026-01-05"), wednesday));
        assert_eq!(shortcuts[2], ("本月", d("2026-01-01"), wednesday));
        assert_eq!(shortcuts[3], ("上月", d("2025-12-01"), d("2025-12-31")));
    }

    #[test]
    fn every_status_has_a_chinese_label() {
        for status in Status::ALL {
            assert!(
                !status_label(status).is_ascii(),
                "{} has no Chinese label",
                status.as_str()
            );
        }
    }

    #[test]
    fn every_role_has_a_chinese_label() {
        for role in Role::ALL {
            assert!(!role_label(role).is_ascii(), "{role}");
        }
    }

    #[test]
    fn query_strings_skip_empty_values_and_encode_the_rest() {
        assert_eq!(query_string(&[("a", ""), ("b", "")]), "");
        assert_eq!(
            query_string(&[("status", "taken"), ("q", "李 A&B")]),
            "?status=taken&q=%E6%9D%8E%20A%26B"
        );
    }
}
