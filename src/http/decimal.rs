//! Decimal strings in request bodies, read strictly.
//!
//! `rust_decimal`'s own parser is lenient ("1_000", "+5", ".5", "1." and 40-digit numbers that
//! it rounds), so a value the OpenAPI document calls malformed could still be taken. Here a
//! decimal is `-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,8})?` (no "-0"), or the request is a 400. At most
//! 12 whole digits keeps every product and sum the domain computes (quantity × unit price over
//! an order's lines, 10^24 at most) inside the 28 digits of a `Decimal`: a quantity of 10^20
//! once made the multiplication overflow and the node answer 500. Sign, zero and decimal places
//! are the domain's rules (422, `validate_amount`, `validate_line`); the patterns below state
//! them for the document, and every value a pattern admits passes both this shape and the
//! domain's checks.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

/// Whole digits and decimal places taken.
pub const MAX_WHOLE_DIGITS: usize = 12;
pub const MAX_PLACES: usize = 8;

/// An amount of money: not negative, at most 2 decimal places (trailing zeros aside, as the
/// domain counts places on the normalized value).
pub const AMOUNT: &str = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2}0{0,6})?$";
/// An amount greater than zero (payments, invoices).
pub const POSITIVE_AMOUNT: &str = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2}0{0,6})?|0\.[0-9]?[1-9]0{0,6})$";
/// A unit price: not negative, at most 4 decimal places.
pub const PRICE: &str = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4}0{0,4})?$";
/// A quantity: greater than zero, at most 3 decimal places.
pub const QUANTITY: &str = r"^([1-9][0-9]{0,11}(\.[0-9]{1,3}0{0,5})?|0\.[0-9]{0,2}[1-9]0{0,5})$";
/// A tax rate: from 0 up to but not including 1 (0.13 for 13%), at most 4 decimal places.
pub const TAX_RATE: &str = r"^0(\.[0-9]{1,4}0{0,4})?$";

/// Parses `s` if it has the shape above.
pub fn parse(s: &str) -> Option<Decimal> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, places) = match digits.split_once('.') {
        Some((w, p)) => (w, Some(p)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let whole_ok = all_digits(whole)
        && whole.len() <= MAX_WHOLE_DIGITS
        && (whole == "0" || !whole.starts_with('0'));
    let places_ok = places.is_none_or(|p| all_digits(p) && p.len() <= MAX_PLACES);
    if !whole_ok || !places_ok {
        return None;
    }
    let value: Decimal = s.parse().ok()?;
    // "-0" is zero written as a negative: refused, so that the sign always means below zero.
    if digits.len() != s.len() && value.is_zero() {
        return None;
    }
    Some(value)
}

fn read<'de, D: Deserializer<'de>>(s: &str) -> Result<Decimal, D::Error> {
    parse(s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{s:?} is not a decimal string like \"1333.33\" (at most {MAX_WHOLE_DIGITS} whole digits, no leading zero, at most {MAX_PLACES} decimal places)"
        ))
    })
}

/// `#[serde(with = "super::decimal::str")]` for a required decimal string.
pub mod str {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let s = String::deserialize(d)?;
        read::<D>(&s)
    }
}

/// `#[serde(default, with = "super::decimal::str_option")]` for an optional one (absent or null).
pub mod str_option {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => read::<D>(&s).map(Some),
        }
    }
}

/// For a decimal kept as text (a customer's credit limit): the same shape check, the text kept.
pub fn shape_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => read::<D>(&s).map(|_| Some(s)),
    }
}

/// `#[serde(default, deserialize_with = "super::decimal::count")]` for a whole count (cartons):
/// JSON Schema calls `4.0` an integer as much as `4`, so both are taken; `4.5` is not.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            serde::de::Error::custom(format!("{n} is not a whole number from 0 to {}", u32::MAX))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        for ok in ["0", "1333.33", "-5", "0.0001", "1.000", "0.12345678"] {
            assert!(parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "1_000",
            "+5",
            ".5",
            "1.",
            "1e3",
            " 1",
            "--1",
            "1.2.3",
            "١",
            "007",
            "-0",
            "-0.00",
            "0.123456789",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse(&"9".repeat(MAX_WHOLE_DIGITS + 1)).is_none());
        let most = parse(&"9".repeat(MAX_WHOLE_DIGITS)).unwrap();
        // The largest quantity times the largest price, over many lines, still fits.
        let total = most
            .checked_mul(most)
            .and_then(|x| x.checked_mul(Decimal::from(10_000)));
        assert!(total.is_some());
    }

    #[test]
    fn count_takes_whole_numbers_only() {
        let read = |v: serde_json::Value| count(v);
        assert_eq!(read(serde_json::json!(4)).unwrap(), 4);
        assert_eq!(read(serde_json::json!(4.0)).unwrap(), 4);
        assert!(read(serde_json::json!(4.5)).is_err());
        assert!(read(serde_json::json!(-1)).is_err());
        assert!(read(serde_json::json!(4294967296_u64)).is_err());
    }
}
