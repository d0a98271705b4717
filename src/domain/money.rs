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

/// An amount as every output writes it: exactly two decimals ("4580.00", never "4580").
pub fn money_string(amount: Decimal) -> String {
    let mut rounded = round_cents(amount);
    rounded.rescale(2);
    rounded.to_string()
}

/// Serde for amounts: written with exactly two decimals, read from any decimal string.
pub mod serde_money {
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::money_string(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        rust_decimal::serde::str::deserialize(d)
    }
}

/// `serde_money` for an optional amount.
pub mod serde_money_option {
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(&super::money_string(*v)),
            None => s.serialize_none(),
        }
    }

    /// Absent, null or a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        use serde::de::Error;
        use serde::Deserialize;
        Option::<String>::deserialize(d)?
            .map(|s| s.parse::<Decimal>().map_err(D::Error::custom))
            .transpose()
    }
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
    fn money_has_exactly_two_decimals() {
        assert_eq!(money_string(d("4580")), "4580.00");
        assert_eq!(money_string(d("12090.905")), "12090.91");
        assert_eq!(money_string(d("0")), "0.00");
        assert_eq!(money_string(d("-3.1")), "-3.10");
    }

    #[test]
    fn an_optional_amount_reads_back_absent_null_or_a_string() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Release {
            #[serde(default, with = "serde_money_option")]
            paid: Option<Decimal>,
        }
        let read = |json: &str| serde_json::from_str::<Release>(json).unwrap().paid;
        assert_eq!(read("{}"), None);
        assert_eq!(read(r#"{"paid": null}"#), None);
        assert_eq!(read(r#"{"paid": "12.5"}"#), Some(d("12.5")));
        let written = serde_json::to_string(&Release {
            paid: Some(d("12.5")),
        })
        .unwrap();
        assert_eq!(written, r#"{"paid":"12.50"}"#);
        assert_eq!(
            serde_json::to_string(&Release { paid: None }).unwrap(),
            r#"{"paid":null}"#
        );
    }

    #[test]
    fn scale_ignores_trailing_zeros() {
        assert_eq!(scale_of(d("1.5000")), 1);
        assert_eq!(scale_of(d("1.23456")), 5);
    }
}
