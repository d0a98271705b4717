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
//! They are kept in memory and built from the tallied indexes (when the node starts, or by the
//! first reader), without holding writers back: documents written during that read are noted,
//! and once it is done they are counted again from their entries as they are then, under the
//! write lock, so that no write falls between the tallies and the first difference added. Kept in
//! sled instead, every received order would write about as many more keys as its index
//! entries (a key per month and customer, product, salesperson and store), and a full sync
//! costs sled about a fifth of its CPU per key written.

use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

/// The figures of one tally key: what each projector's tally means by its four places is its
/// own (say amount, quantity, orders).
pub type Sums = [Decimal; 4];

/// A tally key and what one document adds to it.
pub type Contribution = (String, Sums);

/// Adds `sums` into `into` place by place (takes them away with `negate`).
pub fn add(into: &mut Sums, sums: &Sums, negate: bool) {
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
}

/// Where the tallies stand.
#[derive(Debug, Default)]
enum State {
    /// Not built (or dropped): readers build them.
    #[default]
    Unbuilt,
    /// Being built from a read of the indexes made without holding writers back: the
    /// documents written meanwhile are noted, and counted again from what they are once the
    /// read is done (`Book::finish`).
    Building {
        generation: u64,
        written: HashSet<String>,
    },
    Built(BTreeMap<String, Sums>),
}

/// The tallies in memory.
#[derive(Debug, Default)]
pub(super) struct Book {
    state: Mutex<State>,
    generations: std::sync::atomic::AtomicU64,
}

impl Book {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn is_built(&self) -> bool {
        matches!(*self.lock(), State::Built(_))
    }

    /// Notes a document written while the tallies are being built (call under the write
    /// lock, when staging it).
    pub(super) fn note_written(&self, doc_id: &str) {
        if let State::Building { written, .. } = &mut *self.lock() {
            written.insert(doc_id.to_string());
        }
    }

    /// Adds a batch's differences (call under the write lock, after the batch is applied).
    pub(super) fn apply(&self, delta: TallyDelta) {
        let mut book = self.lock();
        let State::Built(sums) = &mut *book else {
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

    /// Forgets the tallies (and any build under way); the next reader builds them again.
    pub(super) fn drop_all(&self) {
        *self.lock() = State::Unbuilt;
    }

    /// Starts a build (call under the write lock): documents written from now on are noted.
    /// None if they are built already.
    pub(super) fn start(&self) -> Option<u64> {
        let mut book = self.lock();
        if let State::Built(_) = *book {
            return None;
        }
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *book = State::Building {
            generation,
            written: HashSet::new(),
        };
        Some(generation)
    }

    /// The documents written since build `generation` started (call under the write lock),
    /// or None if it was dropped meanwhile.
    pub(super) fn written_since(&self, generation: u64) -> Option<HashSet<String>> {
        match &mut *self.lock() {
            State::Building {
                generation: g,
                written,
            } if *g == generation => Some(std::mem::take(written)),
            _ => None,
        }
    }

    /// Puts built tallies in place (under the write lock).
    pub(super) fn set(&self, built: TallyDelta) {
        let sums = built
            .sums
            .into_iter()
            .filter(|(_, s)| !s.iter().all(Decimal::is_zero))
            .collect();
        *self.lock() = State::Built(sums);
    }

    /// The tallies with keys in `[from, to)`, or None when not built.
    pub(super) fn range(&self, from: &str, to: &str) -> Option<Vec<Contribution>> {
        let book = self.lock();
        let State::Built(sums) = &*book else {
            return None;
        };
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
