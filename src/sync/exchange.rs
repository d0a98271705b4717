//! Both halves of one exchange, over the store's API and free of sockets and tokio: the answering
//! side (`answer_pull`, `answer_fetch`) and the asking side (`plan_fetch`, `apply_fetch`).
//!
//! Invariants:
//! - The asker's cursor into a peer's feed moves only after every document of the entries it
//!   covers is merged and flushed (`PullProgress`), so an interrupted exchange redoes at most one
//!   batch and never skips one.
//! - A peer is shown its feed only up to the answering node's durable sequence.
//! - Merged changes go through `Store::merge`: durable, indexed, and in this node's own feed, so
//!   they are relayed to peers that never meet the node they came from.

use automerge::ChangeHash;

use super::protocol::{
    DocChanges, DocHave, FeedEntry, FetchRequest, FetchResponse, Hash, Hello, PullRequest,
    PullResponse, MAX_FETCH_BYTES, MAX_PULL_BYTES,
};
use crate::store::{Store, StoreError};

/// Answers a pull: feed entries after `since`, up to what is on disk.
pub fn answer_pull(
    store: &Store,
    me: &Hello,
    req: &PullRequest,
    durable_seq: u64,
) -> Result<PullResponse, StoreError> {
    answer_pull_within(store, me, req, durable_seq, MAX_PULL_BYTES)
}

/// `answer_pull` with the size bound given: entries after the one that reaches `max_bytes`
/// are left for the next pull (counted in `remaining`).
fn answer_pull_within(
    store: &Store,
    me: &Hello,
    req: &PullRequest,
    durable_seq: u64,
    max_bytes: usize,
) -> Result<PullResponse, StoreError> {
    let entries = store.feed_heads_since(req.since, durable_seq, req.limit as usize)?;
    let mut out = Vec::with_capacity(entries.len());
    let mut size = 0;
    for (seq, doc, heads) in entries {
        if size >= max_bytes {
            break;
        }
        size += doc.len() + heads.len() * 32 + 16;
        out.push(FeedEntry { seq, doc, heads });
    }
    let last = out.last().map(|e| e.seq).unwrap_or(req.since);
    let remaining = store.feed_count_between(last, durable_seq)? as u64;
    Ok(PullResponse {
        from: me.clone(),
        entries: out,
        remaining,
    })
}

fn to_hashes(heads: &[Hash]) -> Vec<ChangeHash> {
    heads.iter().map(|h| ChangeHash(*h)).collect()
}

/// Documents of a fetch read and diffed together, spread over the cores, before the answer's
/// size bound is checked again: at most one round's work is wasted on documents deferred.
const FETCH_ROUND: usize = 64;

/// Answers a fetch: for each document, the changes the asker lacks, within a size bound.
pub fn answer_fetch(store: &Store, req: &FetchRequest) -> Result<FetchResponse, StoreError> {
    answer_fetch_within(store, req, MAX_FETCH_BYTES)
}

/// `answer_fetch` with the size bound given: documents after the one that reaches `max_bytes`
/// are deferred (the first is sent whatever its size).
fn answer_fetch_within(
    store: &Store,
    req: &FetchRequest,
    max_bytes: usize,
) -> Result<FetchResponse, StoreError> {
    let mut docs = Vec::new();
    let mut deferred = Vec::new();
    let mut size = 0;
    // Once the answer holds something and has reached the bound, the rest is deferred.
    let full = |size: usize, docs: &Vec<DocChanges>| size >= max_bytes && !docs.is_empty();
    for round in req.docs.chunks(FETCH_ROUND) {
        if full(size, &docs) {
            deferred.extend(round.iter().map(|have| have.doc.clone()));
            continue;
        }
        // Diffing means loading the document: CPU work, one document per core at a time.
        let answers = crate::parallel::map_on_cores(round, 16, |have| {
            if have.heads.is_empty() {
                store.raw_document(&have.doc)
            } else {
                store.changes_for(&have.doc, &to_hashes(&have.heads))
            }
        });
        for (have, changes) in round.iter().zip(answers) {
            if full(size, &docs) {
                deferred.push(have.doc.clone());
                continue;
            }
            // A document damaged here is never sent on: answered as one this node lacks.
            let changes = match changes {
                Err(StoreError::Damaged { .. }) => None,
                changes => changes?,
            };
            if let Some(changes) = changes {
                size += changes.len();
                docs.push(DocChanges {
                    doc: have.doc.clone(),
                    changes,
                });
            }
        }
    }
    Ok(FetchResponse { docs, deferred })
}

/// The documents of a pull answer that this node lacks changes of, with what it has of each.
/// Looking each one up is a sled read, from disk in a large store: they are spread over the
/// cores.
pub fn plan_fetch(store: &Store, entries: &[FeedEntry]) -> Result<FetchPlan, StoreError> {
    let as_of = store.absence_mark();
    let lacking = crate::parallel::map_on_cores(entries, 16, |entry| {
        store.heads_if_lacking(&entry.doc, &to_hashes(&entry.heads))
    });
    let mut wanted = Vec::new();
    for (entry, lacking) in entries.iter().zip(lacking) {
        if let Some(heads) = lacking? {
            wanted.push(DocHave {
                doc: entry.doc.clone(),
                heads,
            });
        }
    }
    Ok(FetchPlan { wanted, as_of })
}

/// The documents to fetch, and the feed number as of which those asked for whole were absent.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    pub wanted: Vec<DocHave>,
    pub as_of: u64,
}

/// What applying a fetch answer did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub merged: usize,
    pub unchanged: usize,
    /// Documents whose changes were refused (malformed); the exchange must end.
    pub refused: Vec<(String, String)>,
    /// Attachment hashes referenced by merged documents and missing here.
    pub missing_attachments: Vec<String>,
    /// Documents damaged here, left out: they are fetched again whole (`plan_heal`).
    pub damaged: usize,
}

/// The documents of `resp` that were asked for; the others are refused.
fn only_asked(asked: &[DocHave], resp: FetchResponse) -> (Vec<(String, Vec<u8>)>, Applied) {
    let mut applied = Applied::default();
    let mut wanted = Vec::with_capacity(resp.docs.len());
    for DocChanges { doc, changes } in resp.docs {
        if asked.iter().any(|h| h.doc == doc) {
            wanted.push((doc, changes));
        } else {
            applied.refused.push((doc, "not asked for".into()));
        }
    }
    (wanted, applied)
}

/// Merges a fetch answer into the store. Only documents that were asked for are accepted.
/// `absent_as_of`: the `as_of` of the plan that asked for them.
pub fn apply_fetch(
    store: &Store,
    asked: &[DocHave],
    resp: FetchResponse,
    absent_as_of: u64,
) -> Result<Applied, StoreError> {
    let (wanted, mut applied) = only_asked(asked, resp);
    let absent: std::collections::HashSet<&str> = asked
        .iter()
        .filter(|h| h.heads.is_empty())
        .map(|h| h.doc.as_str())
        .collect();
    for result in store.merge_fetched(&wanted, &absent, absent_as_of) {
        match result {
            Ok(written) if written.changed => {
                applied.merged += 1;
                for hash in crate::views::attachments_of(&written.record) {
                    if store
                        .get_raw(&crate::store::keys::attachment(&hash))?
                        .is_none()
                    {
                        applied.missing_attachments.push(hash);
                    }
                }
            }
            Ok(_) => applied.unchanged += 1,
            Err(StoreError::BadChanges { doc, reason }) => applied.refused.push((doc, reason)),
            Err(StoreError::Damaged { .. }) => applied.damaged += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(applied)
}

/// The most damaged documents asked for in one fetch.
const HEAL_BATCH: usize = 125;

/// The documents damaged here, asked for whole (no heads): a peer that has one answers with its
/// stored bytes, and the damaged copy is replaced (`apply_heal`). Asked of every peer at every
/// exchange until one has answered.
pub fn plan_heal(store: &Store) -> Vec<DocHave> {
    store
        .damaged_documents()
        .into_iter()
        .take(HEAL_BATCH)
        .map(|doc| DocHave {
            doc,
            heads: Vec::new(),
        })
        .collect()
}

/// Replaces damaged documents by the whole copies of a fetch answer (`Store::replace_damaged`).
/// Only documents that were asked for are accepted.
pub fn apply_heal(
    store: &Store,
    asked: &[DocHave],
    resp: FetchResponse,
) -> Result<Applied, StoreError> {
    let (wanted, mut applied) = only_asked(asked, resp);
    for result in store.replace_damaged(&wanted) {
        match result {
            Ok(written) if written.changed => applied.merged += 1,
            Ok(_) => applied.unchanged += 1,
            Err(StoreError::BadChanges { doc, reason }) => applied.refused.push((doc, reason)),
            // This one document cannot be replaced here (its metadata is damaged too): it stays
            // listed as damaged, and the exchange goes on.
            Err(
                e @ (StoreError::Corrupt { .. }
                | StoreError::Codec { .. }
                | StoreError::Damaged { .. }),
            ) => {
                tracing::warn!(error = %e, "a damaged document could not be replaced");
                applied.damaged += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(applied)
}

/// Where an asker stands in one peer's feed during an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullProgress {
    pub cursor: u64,
}

impl PullProgress {
    /// The cursor after a pull answer whose documents are all merged and flushed.
    pub fn after(self, resp: &PullResponse) -> PullProgress {
        PullProgress {
            cursor: resp
                .entries
                .last()
                .map(|e| e.seq)
                .unwrap_or(self.cursor)
                .max(self.cursor),
        }
    }
}

/// One pull answer from two answers of the same feed, the second asked from where the first
/// ended: entries in feed order, a document listed once at its latest position (the feed holds
/// one entry per document, so the earlier one is stale), `remaining` as the second says.
pub fn join_pulls(first: PullResponse, then: PullResponse) -> PullResponse {
    let later: std::collections::HashSet<&str> =
        then.entries.iter().map(|e| e.doc.as_str()).collect();
    let mut entries: Vec<FeedEntry> = first
        .entries
        .into_iter()
        .filter(|e| !later.contains(e.doc.as_str()))
        .collect();
    entries.extend(then.entries);
    PullResponse {
        from: first.from,
        entries,
        remaining: then.remaining,
    }
}

#[cfg(test)]
mod join_tests {
    use super::*;

    fn entry(seq: u64, doc: &str) -> FeedEntry {
        FeedEntry {
            seq,
            doc: doc.into(),
            heads: vec![],
        }
    }

    #[test]
    fn a_document_in_both_answers_is_listed_once_at_its_latest_position() {
        let from = Hello {
            version: 1,
            node_id: "n".into(),
            name: "n".into(),
            role: "clerk".into(),
            peer_port: 7781,
            revocations: 0,
            revocation_list: None,
            certificates: 0,
            certificate_list: Vec::new(),
        };
        let first = PullResponse {
            from: from.clone(),
            entries: vec![entry(5, "a"), entry(6, "b")],
            remaining: 0,
        };
        let then = PullResponse {
            from,
            entries: vec![entry(7, "c"), entry(8, "a")],
            remaining: 3,
        };
        let joined = join_pulls(first, then);
        let listed: Vec<(u64, &str)> = joined
            .entries
            .iter()
            .map(|e| (e.seq, e.doc.as_str()))
            .collect();
        assert_eq!(listed, vec![(6, "b"), (7, "c"), (8, "a")]);
        assert_eq!(joined.remaining, 3);
        assert_eq!(PullProgress { cursor: 4 }.after(&joined).cursor, 8);
    }
}

#[cfg(test)]
mod answer_bound_tests {
    use super::*;
    use crate::store::tests_support::{set, store};

    #[test]
    fn a_pull_answer_stops_at_its_bound_and_counts_the_rest_as_remaining() {
        let (_dir, store) = store();
        let ids: Vec<String> = (0..10).map(|i| format!("{i:032x}")).collect();
        for id in &ids {
            set(&store, id, "note", "x");
        }
        let me = Hello {
            version: 1,
            node_id: "n".into(),
            name: "n".into(),
            role: "clerk".into(),
            peer_port: 7781,
            revocations: 0,
            revocation_list: None,
            certificates: 0,
            certificate_list: Vec::new(),
        };
        let req = PullRequest {
            from: me.clone(),
            since: 0,
            limit: 100,
            wait_ms: 0,
        };
        // Each entry counts its id, one head and 16 bytes: the bound is reached by the fourth.
        let entry_size = 32 + 32 + 16;
        let bound = 3 * entry_size + 1;
        let answer = answer_pull_within(&store, &me, &req, store.last_seq(), bound).unwrap();
        let listed: Vec<&str> = answer.entries.iter().map(|e| e.doc.as_str()).collect();
        assert_eq!(listed, ids[..4]);
        assert!(answer.entries.iter().all(|e| e.heads.len() == 1));
        assert_eq!(answer.remaining, 6);
        let whole = answer_pull(&store, &me, &req, store.last_seq()).unwrap();
        assert_eq!(whole.entries.len(), 10);
        assert_eq!(whole.remaining, 0);
    }

    #[test]
    fn a_fetch_answer_stops_at_its_bound_and_defers_the_rest_in_order() {
        let (_dir, store) = store();
        // More documents than one round of work, so the bound is crossed inside a later round.
        let ids: Vec<String> = (0..150).map(|i| format!("{i:032x}")).collect();
        for id in &ids {
            set(&store, id, "note", &"x".repeat(1000));
        }
        let mut asked: Vec<DocHave> = ids
            .iter()
            .map(|id| DocHave {
                doc: id.clone(),
                heads: Vec::new(),
            })
            .collect();
        // A document this node does not have is neither sent nor deferred.
        asked.insert(
            3,
            DocHave {
                doc: format!("{:032x}", 999),
                heads: Vec::new(),
            },
        );
        let sizes: Vec<usize> = ids
            .iter()
            .map(|id| store.raw_document(id).unwrap().unwrap().len())
            .collect();
        let bound = sizes[..100].iter().sum::<usize>() + sizes[100] / 2;
        let answer = answer_fetch_within(&store, &FetchRequest { docs: asked }, bound).unwrap();
        let sent: Vec<&str> = answer.docs.iter().map(|d| d.doc.as_str()).collect();
        // Documents up to the one that reaches the bound, in the order asked.
        let expected: Vec<&str> = ids[..101].iter().map(String::as_str).collect();
        assert_eq!(sent, expected);
        assert_eq!(answer.deferred, ids[101..]);
    }
}
