//! Amounts in Chinese capitals (大写金额), as printed on a 出货单 and checked against the figures:
//! 12345.67 → 壹万贰仟叁佰肆拾伍元陆角柒分. Pure; follows the bank rules for capitals (a 零 for
//! every run of zeros between digits, 整 when there are no 角 or 分, 零 before 分 when 角 is zero).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::money::round_cents;

const DIGITS: [&str; 10] = ["零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"];
/// Units inside a group of four digits, highest first.
const GROUP_UNITS: [&str; 4] = ["仟", "佰", "拾", ""];
const WAN: u128 = 10_000;
const YI: u128 = 100_000_000;

/// The amount in capitals, rounded half-up to the cent first, as every amount printed is.
/// A negative amount (a credit note) starts with 负.
pub fn amount_in_capitals(amount: Decimal) -> String {
    let rounded = round_cents(amount);
    if rounded.is_zero() {
        return "零元整".to_string();
    }
    let magnitude = rounded.abs();
    let whole = magnitude.trunc();
    // Split before scaling: `magnitude * 100` overflows a Decimal near its maximum.
    let yuan = whole.to_u128().unwrap_or(0);
    let cents = ((magnitude - whole) * Decimal::ONE_HUNDRED)
        .to_u128()
        .unwrap_or(0);
    let (jiao, fen) = (cents / 10, cents % 10);

    let mut words = String::new();
    if rounded.is_sign_negative() {
        words.push('负');
    }
    if yuan > 0 {
        words.push_str(&integer_words(yuan));
        words.push('元');
    }
    match (jiao, fen) {
        (0, 0) => words.push('整'),
        (0, fen) => {
            // 1005.07 is 壹仟零伍元零柒分: the zero 角 between 元 and 分 is said.
            if yuan > 0 {
                words.push('零');
            }
            words.push_str(DIGITS[fen as usize]);
            words.push('分');
        }
        (jiao, fen) => {
            words.push_str(DIGITS[jiao as usize]);
            words.push('角');
            if fen > 0 {
                words.push_str(DIGITS[fen as usize]);
                words.push('分');
            }
        }
    }
    words
}

/// A positive whole number in capitals: groups of 亿, then 万, then four digits, with 零 where a
/// lower group starts with zeros after a higher one that is written.
fn integer_words(n: u128) -> String {
    if n >= YI {
        let (high, low) = (n / YI, n % YI);
        let mut words = integer_words(high) + "亿";
        if low > 0 {
            if low < YI / 10 {
                words.push('零');
            }
            words.push_str(&below_yi(low));
        }
        words
    } else {
        below_yi(n)
    }
}

/// 1 ..= 9999_9999.
fn below_yi(n: u128) -> String {
    let (high, low) = (n / WAN, n % WAN);
    if high == 0 {
        return group_words(low);
    }
    let mut words = group_words(high) + "万";
    if low > 0 {
        if low < WAN / 10 {
            words.push('零');
        }
        words.push_str(&group_words(low));
    }
    words
}

/// 1 ..= 9999: leading zeros are left to the caller, zeros inside become one 零, trailing zeros
/// nothing.
fn group_words(n: u128) -> String {
    let digits = [n / 1000 % 10, n / 100 % 10, n / 10 % 10, n % 10];
    let mut words = String::new();
    let mut started = false;
    let mut zero_pending = false;
    for (digit, unit) in digits.into_iter().zip(GROUP_UNITS) {
        if digit == 0 {
            zero_pending = started;
            continue;
        }
        if zero_pending {
            words.push('零');
            zero_pending = false;
        }
        words.push_str(DIGITS[digit as usize]);
        words.push_str(unit);
        started = true;
    }
    words
}

#[cfg(test)]
mod tests {
    use super::amount_in_capitals;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn check(cases: &[(&str, &str)]) {
        for (amount, expected) in cases {
            let value = Decimal::from_str(amount).expect("test amount");
            assert_eq!(amount_in_capitals(value), *expected, "{amount}");
        }
    }

    #[test]
    fn whole_amounts_end_in_zheng() {
        check(&[
            ("0", "零元整"),
            ("0.00", "零元整"),
            ("1", "壹元整"),
            ("10", "壹拾元整"),
            ("11", "壹拾壹元整"),
            ("100", "壹佰元整"),
            ("1000", "壹仟元整"),
            ("10000", "壹万元整"),
            ("10000000.00", "壹仟万元整"),
            ("100000000", "壹亿元整"),
        ]);
    }

    #[test]
    fn jiao_and_fen() {
        check(&[
            ("100.5", "壹佰元伍角"),
            ("100.50", "壹佰元伍角"),
            ("100.56", "壹佰元伍角陆分"),
            ("1005.07", "壹仟零伍元零柒分"),
            ("0.5", "伍角"),
            ("0.05", "伍分"),
            ("0.35", "叁角伍分"),
            ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
        ]);
    }

    #[test]
    fn zeros_inside_are_one_ling() {
        check(&[
            ("101", "壹佰零壹元整"),
            ("1001", "壹仟零壹元整"),
            ("1010", "壹仟零壹拾元整"),
            ("100010", "壹拾万零壹拾元整"),
            ("10001", "壹万零壹元整"),
            ("10100", "壹万零壹佰元整"),
            ("11000", "壹万壹仟元整"),
            ("100000001", "壹亿零壹元整"),
            ("100010000", "壹亿零壹万元整"),
            ("110000000", "壹亿壹仟万元整"),
            ("3999.99", "叁仟玖佰玖拾玖元玖角玖分"),
            (
                "1234567890.12",
                "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元壹角贰分",
            ),
        ]);
    }

    #[test]
    fn rounds_half_up_to_the_cent_first() {
        check(&[
            ("0.125", "壹角叁分"),
            ("9.995", "壹拾元整"),
            ("0.004", "零元整"),
            ("-0.004", "零元整"),
        ]);
    }

    #[test]
    fn negative_amounts_start_with_fu() {
        check(&[
            ("-1", "负壹元整"),
            ("-1005.07", "负壹仟零伍元零柒分"),
            ("-0.5", "负伍角"),
        ]);
    }

    #[test]
    fn the_largest_decimal_does_not_panic() {
        let words = amount_in_capitals(Decimal::MAX);
        assert!(words.ends_with("元整"), "{words}");
        let words = amount_in_capitals(Decimal::MIN);
        assert!(words.starts_with('负'), "{words}");
    }
}
