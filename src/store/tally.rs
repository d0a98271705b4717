//! Tallies: sums kept across documents (a month's sales per product, the open orders' value
//! changing on each day, a customer's settled receivables), so that a report reads a few
//! hundred sums instead of every row of a year.
//!
//! A tally is a pure function of one document's entries in one index (`Projector::tally`),
//! so what a document adds is known from the entries written for it before and after a
//! change: the store adds the difference, under its write lock, once the batch that changes
//! those entries is applied. Every write of the store (local, received, reprojected) goes
//! through that path; a path that cannot say what the document's entries were (damage
//! repaired, a reopen after the disk ran full) drops the tallies, and the next reader builds
//! them again.
//!
//! They are kept in memory and built on first use from the tallied indexes, under the write
//! lock, so that no write falls between that read and the first difference added. Kept in
//! sled instead, every received order would write about as many more keys as its index
//! entries (a key per month and customer, product, salesperson and store), and a full sync
//! costs sled about a fifth of its CPU per key written.

use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The figures of one tally key: what each projector's tally means by its four places is its
/// own (say amount, quantity, orders).
pub type Sums = [Decimal; 4];

/// A tally key and what one document adds to it.
pub type Contribution = (String, Sums);

fn add(into: &mut Sums, sums: &Sums, negate: bool) {
    for (slot, value) in into.iter_mut().zip(sums) {
        if negate {
            *slot -= value;
        } else {
            *slot += value;
        }
    }
}

/// What one batch changes in the tallies, added to them once the batch is applied.
#[derive(Debug, Default)]
pub struct TallyDelta {
    sums: HashMap<String, Sums>,
}

impl TallyDelta {
    /// Takes out what `before` added and puts in what `after` adds.
    pub fn replace(&mut self, before: Vec<Contribution>, after: Vec<Contribution>) {
        for (key, sums) in before {
            add(self.sums.entry(key).or_default(), &sums, true);
        }
        for (key, sums) in after {
            add(self.sums.entry(key).or_default(), &sums, false);
        }
    }

    /// Adds another delta's differences.
    pub fn merge(&mut self, other: TallyDelta) {
        for (key, sums) in other.sums {
            add(self.sums.entry(key).or_default(), &sums, false);
        }
    }
}

/// The tallies in memory, or None until built (and after they are dropped).
#[derive(Debug, Default)]
pub(super) struct Book {
    sums: Mutex<Option<BTreeMap<String, Sums>>>,
}

impl Book {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<BTreeMap<String, Sums>>> {
        self.sums.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn is_built(&self) -> bool {
        self.lock().is_some()
    }

    /// Adds a batch's differences (call under the write lock, after the batch is applied).
    pub(super) fn apply(&self, delta: TallyDelta) {
        let mut book = self.lock();
        let Some(sums) = book.as_mut() else {
            return;
        };
        for (key, change) in delta.sums {
            if change.iter().all(Decimal::is_zero) {
                continue;
            }
            let slot = sums.entry(key.clone()).or_default();
            add(slot, &change, false);
            // A key back at nothing is a key no document adds to: keep the map small.
            if slot.iter().all(Decimal::is_zero) {
                sums.remove(&key);
            }
        }
    }

    /// Forgets the tallies; the next reader builds them again.
    pub(super) fn drop_all(&self) {
        *self.lock() = None;
    }

    /// Puts built tallies in place (under the write lock).
    pub(super) fn set(&self, built: TallyDelta) {
        let sums = built
            .sums
            .into_iter()
            .filter(|(_, s)| !s.iter().all(Decimal::is_zero))
            .collect();
        *self.lock() = Some(sums);
    }

    /// The tallies with keys in `[from, to)`, or None when not built.
    pub(super) fn range(&self, from: &str, to: &str) -> Option<Vec<Contribution>> {
        let book = self.lock();
        let sums = book.as_ref()?;
        if from >= to {
            return Some(Vec::new());
        }
        Some(
            sums.range::<str, _>((
                std::ops::Bound::Included(from),
                std::ops::Bound::Excluded(to),
            ))
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn sums(a: &str) -> Sums {
        [d(a), Decimal::ONE, Decimal::ZERO, Decimal::ZERO]
    }

    #[test]
    fn a_document_changed_moves_its_share_and_a_key_at_nothing_is_dropped() {
        let book = Book::default();
        assert!(book.range("a", "z").is_none());
        let mut built = TallyDelta::default();
        built.replace(
            vec![],
            vec![("m|1".into(), sums("10")), ("m|2".into(), sums("5"))],
        );
        book.set(built);
        let mut change = TallyDelta::default();
        change.replace(
            vec![("m|1".into(), sums("10"))],
            vec![("m|2".into(), sums("7"))],
        );
        book.apply(change);
        let all = book.range("m|", "m}").unwrap();
        assert_eq!(
            all,
            vec![(
                "m|2".to_string(),
                [d("12"), d("2"), Decimal::ZERO, Decimal::ZERO]
            )]
        );
        book.drop_all();
        assert!(!book.is_built());
        let mut ignored = TallyDelta::default();
        ignored.replace(vec![], vec![("m|3".into(), sums("1"))]);
        book.apply(ignored);
        assert!(book.range("m|", "m}").is_none());
    }
}
