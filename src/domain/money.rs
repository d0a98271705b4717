//! Exact money and quantity arithmetic: line amounts rounded half-up per line, tax split per line.
//!
//! Everything here is `rust_decimal::Decimal`; a float never touches an amount.

use rust_decimal::{Decimal, RoundingStrategy};

/// Rounds an amount to the cent, half away from zero ("四舍五入"), the company's rule for every line.
pub fn round_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A line's gross amount: quantity x unit price, rounded to the cent for this line alone.
pub fn line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal {
    round_cents(quantity * unit_price)
}

/// The net (tax-excluded) part of a tax-included gross amount: gross / (1 + rate), rounded per line.
pub fn net_of_tax(gross: Decimal, rate: Decimal) -> Decimal {
    round_cents(gross / (Decimal::ONE + rate))
}

/// The number of decimal places written in a value ("1.50" has two), after trailing zeros are kept.
pub fn scale_of(value: Decimal) -> u32 {
    value.normalize().scale()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn three_times_1333_33_is_exact() {
        assert_eq!(line_amount(d("3"), d("1333.33")), d("3999.99"));
    }

    #[test]
    fn half_cent_rounds_up() {
        assert_eq!(line_amount(d("1"), d("0.125")), d("0.13"));
        assert_eq!(line_amount(d("3"), d("0.3350")), d("1.01"));
    }

    #[test]
    fn net_from_13_percent_gross() {
        // 1130 / 1.13 = 1000 exactly; 100 / 1.13 = 88.495.. -> 88.50
        assert_eq!(net_of_tax(d("1130"), d("0.13")), d("1000.00"));
        assert_eq!(net_of_tax(d("100"), d("0.13")), d("88.50"));
    }

    #[test]
    fn scale_ignores_trailing_zeros() {
        assert_eq!(scale_of(d("1.5000")), 1);
        assert_eq!(scale_of(d("1.23456")), 5);
    }
}
