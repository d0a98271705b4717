//! Damage found and named: which documents' stored values fail their checksum or do not load,
//! the scrub and the offline check that look for them, and their replacement by a whole copy
//! from a peer (`replace_damaged`, called by sync).

use automerge::{AutoCommit, ChangeHash, ReadDoc};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use tokio::sync::watch;

use super::{
    checksum, hydrate, keys, lock, refused, Change, DocMeta, Projection, Store, StoreError, Written,
};

/// The meta name of the damaged documents found and not yet replaced (JSON: id to why).
pub(super) const DAMAGED_KEY: &str = "damaged";

/// The damaged documents a store kept when it was last open (none if it kept none, or they do
/// not decode: the scrub finds them again).
pub(super) fn load_damaged(db: &sled::Db) -> BTreeMap<String, String> {
    let kept = match db.get(keys::meta(DAMAGED_KEY)) {
        Ok(Some(value)) => serde_json::from_slice(&value).ok(),
        _ => None,
    };
    let kept: BTreeMap<String, String> = kept.unwrap_or_default();
    if !kept.is_empty() {
        tracing::warn!(
            documents = kept.len(),
            "documents found damaged before the restart are still to be fetched again from a peer"
        );
    }
    kept
}

/// What one step of the scrub found.
#[derive(Debug, Default)]
pub struct ScrubStep {
    /// Damaged documents, with why.
    pub damaged: Vec<(String, String)>,
    /// Documents whose index entries, summary or feed entry did not match the document, with
    /// what was rewritten from it.
    pub repaired: Vec<(String, String)>,
    /// The id to continue after; None once every document was checked.
    pub next: Option<String>,
}

impl Store {
    /// Notes `doc_id` as damaged and returns the error that names it.
    pub(super) fn damaged(&self, doc_id: &str, reason: String) -> StoreError {
        self.note_damaged(doc_id, &reason);
        StoreError::Damaged {
            doc: doc_id.to_string(),
            reason,
        }
    }

    fn note_damaged(&self, doc_id: &str, reason: &str) {
        let mut damaged = lock(&self.damaged);
        let new = damaged
            .insert(doc_id.to_string(), reason.to_string())
            .is_none();
        if new {
            self.keep_damaged(&damaged);
            drop(damaged);
            tracing::error!(
                doc = doc_id,
                reason,
                "a document is damaged on disk; it is fetched again whole from a peer that has it"
            );
            self.damage_found.send_modify(|n| *n += 1);
        }
    }

    /// Writes the damaged set under `DAMAGED_KEY` (made durable by the next flush); call with
    /// it locked, so that writes of it are in order. A failure is only logged: the scrub finds
    /// the documents again after a restart.
    fn keep_damaged(&self, damaged: &BTreeMap<String, String>) {
        let kept = self.db().and_then(|db| {
            let value = serde_json::to_vec(damaged).map_err(|e| StoreError::Meta(e.to_string()))?;
            db.insert(keys::meta(DAMAGED_KEY), value)?;
            Ok(())
        });
        if let Err(e) = kept {
            tracing::warn!(error = %e, "the list of damaged documents could not be kept");
        }
    }

    /// The documents found damaged and not yet replaced, by id.
    pub fn damaged_documents(&self) -> Vec<String> {
        lock(&self.damaged).keys().cloned().collect()
    }

    /// The documents found damaged and not yet replaced, with why, by id.
    pub fn damaged_with_reasons(&self) -> Vec<(String, String)> {
        lock(&self.damaged)
            .iter()
            .map(|(doc, reason)| (doc.clone(), reason.clone()))
            .collect()
    }

    /// Whether `doc_id` is known to be damaged.
    pub fn is_damaged(&self, doc_id: &str) -> bool {
        lock(&self.damaged).contains_key(doc_id)
    }

    /// Changes whenever a document is newly found damaged.
    pub fn damage_watch(&self) -> watch::Receiver<u64> {
        self.damage_found.subscribe()
    }

    /// What is wrong with a document's stored values, if anything: every checksum, that they
    /// load (strictly: no damaged tail skipped), and that they end at the heads its metadata
    /// names (a chunk lost or left over). Ok(None) when it reads well or does not exist.
    /// A document that reads well is left in `loaded`, with its metadata.
    fn inspect(
        &self,
        doc_id: &str,
        loaded: &mut Option<(DocMeta, AutoCommit)>,
    ) -> Result<Option<String>, StoreError> {
        let meta = match self.read_meta(doc_id)? {
            Some(Ok(meta)) => meta,
            None => return Ok(None),
            Some(Err(why)) => return Ok(Some(why)),
        };
        let db = self.db()?;
        let strict =
            || automerge::LoadOptions::new().on_partial_load(automerge::OnPartialLoad::Error);
        let mut doc = AutoCommit::new();
        if let Some(value) = db.get(keys::snapshot(doc_id))? {
            let bytes = match checksum::open(&value) {
                Ok(bytes) => bytes,
                Err(why) => return Ok(Some(format!("its snapshot: {why}"))),
            };
            doc = match AutoCommit::load_with_options(bytes, strict()) {
                Ok(doc) => doc,
                Err(e) => return Ok(Some(format!("its snapshot does not load: {e}"))),
            };
        }
        for entry in db.scan_prefix(keys::chunk_prefix(doc_id)) {
            let (_, value) = entry?;
            let bytes = match checksum::open(&value) {
                Ok(bytes) => bytes,
                Err(why) => return Ok(Some(format!("a chunk: {why}"))),
            };
            if let Err(e) = codec_check(bytes).and_then(|()| {
                doc.load_incremental(bytes)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }) {
                return Ok(Some(format!("a chunk does not load: {e}")));
            }
        }
        let mut heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
        let mut expected = meta.heads.clone();
        heads.sort_unstable();
        expected.sort_unstable();
        if heads != expected {
            return Ok(Some(
                "its stored changes do not end at the heads its metadata names".into(),
            ));
        }
        *loaded = Some((meta, doc));
        Ok(None)
    }

    /// What of a document's derived values (index entries, summary, feed entry) does not
    /// match the document itself, projected again; None when all do.
    fn derived_mismatch(
        &self,
        doc_id: &str,
        meta: &DocMeta,
        projection: &Projection,
    ) -> Result<Option<String>, StoreError> {
        let db = self.db()?;
        let index = owned_index(projection);
        let mut wrong = Vec::new();
        if index != meta.index {
            wrong.push("its index entries named in its metadata");
        }
        if projection.summary != meta.summary {
            wrong.push("its summary");
        }
        for key in index.iter().map(|(n, v)| keys::index_entry(n, v, doc_id)) {
            if !db.contains_key(key)? {
                wrong.push("an index entry missing");
                break;
            }
        }
        if meta.seq != 0 && !db.contains_key(keys::feed(meta.seq))? {
            wrong.push("its feed entry");
        }
        Ok((!wrong.is_empty()).then(|| wrong.join(", ")))
    }

    /// Checks that a document's index entries, summary and feed entry are what the document
    /// gives, and rewrites those that are not from the document, in one batch under the write
    /// lock (unless a writer changed the document meanwhile: it wrote them anew). Returns what
    /// was repaired.
    fn repair_derived(
        &self,
        doc_id: &str,
        meta: DocMeta,
        mut doc: AutoCommit,
    ) -> Result<Option<String>, StoreError> {
        let Ok(record) = hydrate(doc_id, &mut doc) else {
            return Ok(None);
        };
        let projection = self.projector.project(doc_id, &record);
        if self.derived_mismatch(doc_id, &meta, &projection)?.is_none() {
            return Ok(None);
        }
        let _writer = lock(&self.write_lock);
        let Some(Ok(now)) = self.read_meta(doc_id)? else {
            return Ok(None);
        };
        if now.heads != meta.heads {
            return Ok(None);
        }
        let Some(wrong) = self.derived_mismatch(doc_id, &now, &projection)? else {
            return Ok(None);
        };
        let index = owned_index(&projection);
        let mut batch = sled::Batch::default();
        for (name, value) in &now.index {
            if !index.contains(&(name.clone(), value.clone())) {
                batch.remove(keys::index_entry(name, value, doc_id));
            }
        }
        for (name, value) in &index {
            batch.insert(keys::index_entry(name, value, doc_id), &[] as &[u8]);
        }
        let db = self.db()?;
        if now.seq != 0 && db.get(keys::feed(now.seq))?.is_none() {
            batch.insert(keys::feed(now.seq), keys::feed_value(doc_id, &now.heads));
        }
        let repaired = DocMeta {
            index,
            summary: projection.summary,
            ..now
        };
        batch.insert(keys::doc_meta(doc_id), repaired.encode()?);
        self.apply(batch)?;
        // The tallies were read from entries that did not match the document.
        self.tallies.drop_all();
        tracing::warn!(
            doc = doc_id,
            wrong = wrong.as_str(),
            "a document's derived values did not match it and were written again from it"
        );
        Ok(Some(wrong))
    }

    /// Checks one document's stored values (see `inspect`); returns why it is damaged, if it
    /// is. A damaged document is noted (and dropped from the cache, so that every read says so
    /// until it is replaced); one that reads well is taken off the damaged list. Damage is
    /// confirmed with the write lock held, so a batch written between two reads of one check
    /// is never taken for it.
    ///
    /// A damaged document still in the cache is written again from there at once: the cached
    /// copy is what this node last wrote (`replace_damaged`).
    pub fn check_document(&self, doc_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.check_and_repair(doc_id)?.0)
    }

    /// `check_document`; a document that reads well also has its derived values checked and
    /// repaired (`repair_derived`). Returns (why it is damaged, what was repaired).
    fn check_and_repair(
        &self,
        doc_id: &str,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let mut loaded = None;
        let mut found = self.inspect(doc_id, &mut loaded)?;
        let mut in_memory = None;
        if found.is_some() {
            let _writer = lock(&self.write_lock);
            found = self.inspect(doc_id, &mut loaded)?;
            if let Some(reason) = &found {
                // Taken out under the write lock: no writer holds the document, and none can
                // load it again before it is replaced.
                in_memory = lock(&self.cache).pop(doc_id).map(|mut doc| doc.save());
                self.note_damaged(doc_id, reason);
            }
        }
        match &found {
            Some(_) => {
                if let Some(bytes) = in_memory {
                    let replaced = self.replace_damaged(&[(doc_id.to_string(), bytes)]).pop();
                    match replaced {
                        Some(Ok(written)) if written.changed => {
                            tracing::warn!(
                                doc = doc_id,
                                "a damaged document was written again from its copy in memory"
                            );
                        }
                        Some(Err(e)) => {
                            tracing::warn!(doc = doc_id, error = %e, "a damaged document could not be written again from memory");
                        }
                        _ => {}
                    }
                }
            }
            None => {
                let mut damaged = lock(&self.damaged);
                if damaged.remove(doc_id).is_some() {
                    self.keep_damaged(&damaged);
                    tracing::info!(doc = doc_id, "a document found damaged reads well again");
                }
            }
        }
        let repaired = match (&found, loaded) {
            (None, Some((meta, doc))) => self.repair_derived(doc_id, meta, doc)?,
            _ => None,
        };
        Ok((found, repaired))
    }

    /// Checks up to `limit` documents in id order after `after` (from the first when None);
    /// returns the damaged ones found with why, and the id to continue after (None once every
    /// document was checked).
    pub fn scrub(&self, after: Option<&str>, limit: usize) -> Result<ScrubStep, StoreError> {
        let start = match after {
            Some(id) => [keys::doc_meta(id).as_slice(), &[0]].concat(),
            None => keys::DOC_META_PREFIX.to_vec(),
        };
        let mut ids = Vec::new();
        for key in self.db()?.range(start..).keys() {
            let key = key?;
            let Some(id) = key.strip_prefix(keys::DOC_META_PREFIX) else {
                break;
            };
            ids.push(String::from_utf8_lossy(id).into_owned());
            if ids.len() >= limit {
                break;
            }
        }
        let mut damaged = Vec::new();
        let mut repaired = Vec::new();
        for id in &ids {
            let (found, fixed) = self.check_and_repair(id)?;
            if let Some(reason) = found {
                damaged.push((id.clone(), reason));
            }
            if let Some(what) = fixed {
                repaired.push((id.clone(), what));
            }
        }
        let next = (ids.len() >= limit).then(|| ids.pop()).flatten();
        Ok(ScrubStep {
            damaged,
            repaired,
            next,
        })
    }

    /// Replaces damaged documents by whole copies received from a peer (the bytes a fetch
    /// with no heads answers), as one atomic batch: each is written as a new snapshot (its
    /// chunks removed), with its feed entry, index entries and metadata, like a received
    /// document. Documents no longer damaged are left alone (`changed: false`). Changes this
    /// node had that the copy lacks are lost with the damaged bytes (logged), unless another
    /// peer brings them again.
    pub fn replace_damaged(&self, docs: &[(String, Vec<u8>)]) -> Vec<Result<Written, StoreError>> {
        let prepared = crate::parallel::map_on_cores(docs, 16, |(doc_id, bytes)| {
            super::codec::check_chunks(bytes).map_err(|reason| refused(doc_id, reason))?;
            let mut doc = self.load_received(doc_id, bytes)?;
            let record = hydrate(doc_id, &mut doc)?;
            let projection = self.projector.project(doc_id, &record);
            Ok((doc, record, projection))
        });
        let _writer = lock(&self.write_lock);
        let mut batch = sled::Batch::default();
        let mut seq = self.last_seq.load(Ordering::SeqCst);
        let mut results = Vec::with_capacity(docs.len());
        let mut staged = Vec::new();
        let mut failure = None;
        let mut seen = HashSet::new();
        for ((doc_id, bytes), prepared) in docs.iter().zip(prepared) {
            if failure.is_some() {
                results.push(Err(StoreError::Durability("not written".into())));
                continue;
            }
            if !seen.insert(doc_id.as_str()) {
                results.push(Err(refused(doc_id, "sent twice in one batch".into())));
                continue;
            }
            let (mut doc, record, projection) = match prepared {
                Ok(prepared) => prepared,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            if !self.is_damaged(doc_id) {
                results.push(Ok(Written {
                    record,
                    changed: false,
                    seq: 0,
                }));
                continue;
            }
            let old = match self.read_meta(doc_id) {
                Ok(Some(Ok(old))) => old,
                Ok(None) => DocMeta::default(),
                Ok(Some(Err(_))) => match self.entries_of(doc_id) {
                    Ok(old) => old,
                    Err(e) => {
                        results.push(Err(e));
                        continue;
                    }
                },
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let lost = old
                .heads
                .iter()
                .filter(|h| doc.get_change_by_hash(&ChangeHash(**h)).is_none())
                .count();
            if lost > 0 {
                tracing::warn!(
                    doc = doc_id.as_str(),
                    heads_lost = lost,
                    "the copy replacing a damaged document lacks changes this node had; another peer may bring them"
                );
            }
            let change = Change {
                seq: seq + 1,
                before: &[],
                saved: Some(bytes),
                projection,
                record: &record,
            };
            // The replaced document's entries may not be what its metadata says: the tallies
            // are built again instead (below).
            let mut tallied = super::TallyDelta::default();
            match self.stage(&mut batch, &mut tallied, doc_id, &mut doc, old, change) {
                Ok(()) => {
                    seq += 1;
                    staged.push(doc_id.as_str());
                    results.push(Ok(Written {
                        record,
                        changed: true,
                        seq,
                    }));
                }
                // Part of this document may be in the batch: write none of it.
                Err(e) => {
                    failure = Some(e.repeated());
                    results.push(Err(e));
                }
            }
        }
        if let Err(reason) = self.apply_unless_failed(batch, failure) {
            return docs.iter().map(|_| Err(reason.repeated())).collect();
        }
        self.reclaimer.wrote(staged.len());
        self.last_seq.store(seq, Ordering::SeqCst);
        let mut cache = lock(&self.cache);
        let mut damaged = lock(&self.damaged);
        let replaced = !staged.is_empty();
        if replaced {
            self.tallies.drop_all();
        }
        for doc_id in staged {
            cache.pop(doc_id);
            damaged.remove(doc_id);
            tracing::info!(
                doc = doc_id,
                "a damaged document was replaced by a peer's copy"
            );
        }
        if replaced {
            self.keep_damaged(&damaged);
        }
        results
    }

    /// What the store holds for a document whose metadata is damaged, found by scanning every
    /// index and feed entry (slow, and only for replacing it): its index entries, its feed
    /// entry, whether it has chunks; so that its replacement leaves none of them behind.
    fn entries_of(&self, doc_id: &str) -> Result<DocMeta, StoreError> {
        let db = self.db()?;
        let mut meta = DocMeta::default();
        let tail = [&[0u8][..], doc_id.as_bytes()].concat();
        for key in db.scan_prefix(keys::INDEX_PREFIX).keys() {
            let key = key?;
            let Some(entry) = key
                .strip_prefix(keys::INDEX_PREFIX)
                .and_then(|entry| entry.strip_suffix(tail.as_slice()))
            else {
                continue;
            };
            if let Some(nul) = entry.iter().position(|b| *b == 0) {
                meta.index.push((
                    String::from_utf8_lossy(&entry[..nul]).into_owned(),
                    String::from_utf8_lossy(&entry[nul + 1..]).into_owned(),
                ));
            }
        }
        for entry in db.scan_prefix(keys::FEED_PREFIX) {
            let (key, value) = entry?;
            if keys::parse_feed_value(&value).0 == doc_id {
                meta.seq = keys::feed_seq(&key).unwrap_or(0);
            }
        }
        if db.scan_prefix(keys::chunk_prefix(doc_id)).next().is_some() {
            meta.chunks = 1;
        }
        Ok(meta)
    }

    /// Test only: flips one byte in the middle of a document's stored snapshot (or first
    /// chunk), leaving its checksum as it was, and flushes; as bit rot on disk would.
    #[doc(hidden)]
    pub fn corrupt_for_test(&self, doc_id: &str) -> Result<(), StoreError> {
        let db = self.db()?;
        let key = match db.get(keys::snapshot(doc_id))? {
            Some(_) => keys::snapshot(doc_id).into(),
            None => match db.scan_prefix(keys::chunk_prefix(doc_id)).keys().next() {
                Some(key) => key?,
                None => return Err(StoreError::Meta(format!("{doc_id} is not stored"))),
            },
        };
        let mut value = db.get(&key)?.expect("read just now").to_vec();
        let at = checksum::HEADER + (value.len() - checksum::HEADER) / 2;
        value[at] ^= 0x20;
        db.insert(key, value)?;
        lock(&self.cache).pop(doc_id);
        db.flush()?;
        Ok(())
    }

    /// Test only: turns the store back into the layout of an older `format`: 2, every
    /// document's metadata without its checksum; 1 (before checksums), every snapshot and
    /// chunk too, and no format key. Returns how many values were stripped. Flushes.
    #[doc(hidden)]
    pub fn downgrade_for_test(&self, format: u32) -> Result<usize, StoreError> {
        let db = self.db()?;
        let mut stripped = 0;
        let prefixes: &[&[u8]] = match format {
            1 => &[b"x/", b"d/", b"c/"],
            2 => &[b"x/"],
            _ => {
                return Err(StoreError::Meta(format!(
                    "no store format {format} to go to"
                )))
            }
        };
        for prefix in prefixes {
            for entry in db.scan_prefix(prefix) {
                let (key, value) = entry?;
                let payload = checksum::open(&value).map_err(StoreError::Meta)?.to_vec();
                db.insert(key, payload)?;
                stripped += 1;
            }
        }
        match format {
            1 => db.remove(keys::meta(super::FORMAT_KEY))?,
            _ => db.insert(keys::meta(super::FORMAT_KEY), &format.to_be_bytes())?,
        };
        db.flush()?;
        Ok(stripped)
    }

    /// Test only: loses a document's index entries and feed entry and alters its summary, as a
    /// bug or a damaged page could, leaving the document and its metadata's checksum whole.
    /// Flushes.
    #[doc(hidden)]
    pub fn corrupt_derived_for_test(&self, doc_id: &str) -> Result<(), StoreError> {
        let _writer = lock(&self.write_lock);
        let Some(mut meta) = self.doc_meta(doc_id)? else {
            return Err(StoreError::Meta(format!("{doc_id} is not stored")));
        };
        let db = self.db()?;
        for key in meta.index_keys(doc_id) {
            db.remove(key)?;
        }
        db.remove(keys::feed(meta.seq))?;
        meta.summary.push(0);
        db.insert(keys::doc_meta(doc_id), meta.encode()?)?;
        db.flush()?;
        Ok(())
    }

    /// Test only: flips one byte in the middle of a document's stored metadata, leaving its
    /// checksum as it was, and flushes.
    #[doc(hidden)]
    pub fn corrupt_meta_for_test(&self, doc_id: &str) -> Result<(), StoreError> {
        let db = self.db()?;
        let key = keys::doc_meta(doc_id);
        let Some(value) = db.get(&key)? else {
            return Err(StoreError::Meta(format!("{doc_id} is not stored")));
        };
        let mut value = value.to_vec();
        let at = checksum::HEADER + (value.len() - checksum::HEADER) / 2;
        value[at] ^= 0x20;
        db.insert(key, value)?;
        lock(&self.cache).pop(doc_id);
        db.flush()?;
        Ok(())
    }
}

/// A projection's index entries as the metadata keeps them.
fn owned_index(projection: &Projection) -> Vec<(String, String)> {
    projection
        .index
        .iter()
        .map(|(index, value)| (index.to_string(), value.clone()))
        .collect()
}

/// Whether `bytes` is whole Automerge chunks (Automerge skips a damaged tail when loading
/// incrementally).
fn codec_check(bytes: &[u8]) -> Result<(), String> {
    super::codec::check_chunks(bytes)
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::*;
    use super::super::{checksum, keys, Store, StoreError, FORMAT_VERSION};
    use std::sync::Arc;

    fn is_damaged<T: std::fmt::Debug>(result: Result<T, StoreError>, id: &str) -> bool {
        matches!(result, Err(StoreError::Damaged { doc, .. }) if doc == id)
    }

    /// Reads of damaged `id`'s bytes answer that it is damaged; a write to it is refused the
    /// same way, and writes nothing.
    fn refused_on_read_and_write(store: &Store, id: &str) {
        assert!(is_damaged(store.changes_for(id, &[]), id));
        let seq = store.last_seq();
        let written = store.update(id, &author(), |_| Ok::<_, ()>(vec![]));
        assert!(matches!(
            written,
            Err(super::super::UpdateError::Store(StoreError::Damaged { .. }))
        ));
        assert_eq!(store.last_seq(), seq);
    }

    /// `store` flushed, closed and opened again by `open`: migrated to the current format.
    fn reopened_migrated(store: Store, open: impl Fn() -> Store) -> Store {
        store.flush().unwrap();
        drop(store);
        let store = open();
        assert_eq!(
            store.meta_get("format").unwrap().as_deref(),
            Some(&FORMAT_VERSION.to_be_bytes()[..])
        );
        store
    }

    #[test]
    fn a_flipped_byte_in_a_snapshot_is_found_named_and_refused_on_read() {
        let (_dir, store) = store();
        set(&store, "a", "x", "1");
        set(&store, "b", "x", "2");
        set(&store, "c", "x", "3");
        store.corrupt_for_test("b").unwrap();
        let err = store.record("b").unwrap_err();
        assert!(err.to_string().contains("document b is damaged"), "{err}");
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert_eq!(store.damaged_documents(), ["b"]);
        assert!(is_damaged(store.raw_document("b"), "b"));
        refused_on_read_and_write(&store, "b");
        assert_eq!(store.record("a").unwrap().unwrap().field("x"), Some("1"));
        // The scrub finds it too, in pages.
        let super::ScrubStep {
            damaged: found,
            next,
            ..
        } = store.scrub(None, 2).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "b");
        assert_eq!(next.as_deref(), Some("b"));
        let super::ScrubStep {
            damaged: found,
            next,
            ..
        } = store.scrub(next.as_deref(), 2).unwrap();
        assert!(found.is_empty());
        assert_eq!(next, None);
    }

    #[test]
    fn a_flipped_byte_in_a_chunk_and_a_lost_chunk_are_found() {
        let dir = tempfile::tempdir().unwrap();
        // A cache of one document, and another written last: "d" is read from disk only.
        let store = Store::open(dir.path(), Arc::new(NoIndex), 1).unwrap();
        make_large(&store, "d");
        set(&store, "d", "n", "1");
        set(&store, "d", "n", "2");
        set(&store, "other", "n", "1");
        assert_eq!(chunk_count(&store, "d"), 2);
        assert_eq!(store.check_document("d").unwrap(), None);
        let db = store.db().unwrap();
        let chunk = db
            .scan_prefix(keys::chunk_prefix("d"))
            .keys()
            .next()
            .unwrap()
            .unwrap();
        let value = db.get(&chunk).unwrap().unwrap();
        let mut flipped = value.to_vec();
        *flipped.last_mut().unwrap() ^= 1;
        db.insert(&chunk, flipped).unwrap();
        let why = store.check_document("d").unwrap().expect("damage found");
        assert!(why.contains("a chunk: checksum mismatch"), "{why}");
        // Put back as it was: the document reads well and is taken off the list.
        db.insert(&chunk, value).unwrap();
        assert_eq!(store.check_document("d").unwrap(), None);
        assert!(store.damaged_documents().is_empty());
        // A chunk lost: the document no longer ends at the heads its metadata names.
        db.remove(&chunk).unwrap();
        let why = store.check_document("d").unwrap().expect("damage found");
        assert!(why.contains("heads"), "{why}");
    }

    #[test]
    fn a_damaged_document_still_in_the_cache_is_written_again_from_it() {
        let (_dir, store) = store();
        set(&store, "d", "x", "1");
        set(&store, "d", "y", "2");
        // Bit rot under a copy the cache still holds.
        let db = store.db().unwrap();
        let mut value = db.get(keys::snapshot("d")).unwrap().unwrap().to_vec();
        let middle = value.len() / 2;
        value[middle] ^= 4;
        db.insert(keys::snapshot("d"), value).unwrap();
        let why = store.check_document("d").unwrap().expect("damage found");
        assert!(why.contains("checksum mismatch"), "{why}");
        assert!(store.damaged_documents().is_empty());
        assert_eq!(store.check_document("d").unwrap(), None);
        let record = store.record("d").unwrap().unwrap();
        assert_eq!(
            (record.field("x"), record.field("y")),
            (Some("1"), Some("2"))
        );
    }

    #[test]
    fn a_damaged_document_is_replaced_whole_by_a_peers_copy() {
        let (_da, a) = store();
        let (_db, b) = store();
        set(&a, "d", "x", "1");
        set(&a, "e", "x", "1");
        for doc in ["d", "e"] {
            b.merge(doc, &raw(&a, doc)).unwrap();
        }
        set(&a, "d", "y", "2");
        b.corrupt_for_test("d").unwrap();
        assert!(b.check_document("d").unwrap().is_some());
        let before = b.last_seq();
        let copy = vec![
            ("d".to_string(), raw(&a, "d")),
            ("e".to_string(), raw(&a, "e")),
        ];
        let results = b.replace_damaged(&copy);
        assert!(results[0].as_ref().is_ok_and(|w| w.changed));
        // Not damaged: left alone.
        assert!(results[1].as_ref().is_ok_and(|w| !w.changed));
        assert!(b.damaged_documents().is_empty());
        assert_eq!(b.check_document("d").unwrap(), None);
        let record = b.record("d").unwrap().unwrap();
        assert_eq!(
            (record.field("x"), record.field("y")),
            (Some("1"), Some("2"))
        );
        assert_eq!(b.doc_meta("d").unwrap().unwrap().heads, heads_of(&a, "d"));
        // One feed entry per document still, the replaced one at its new place.
        let feed = b.feed_since(0, u64::MAX, 10).unwrap();
        assert_eq!(
            feed,
            vec![(2, "e".to_string()), (before + 1, "d".to_string())]
        );
        // Bad bytes are refused and change nothing.
        b.corrupt_for_test("e").unwrap();
        assert!(b.check_document("e").unwrap().is_some());
        let results = b.replace_damaged(&[("e".to_string(), vec![0u8; 40])]);
        assert!(matches!(results[0], Err(StoreError::BadChanges { .. })));
        assert_eq!(b.damaged_documents(), ["e"]);
    }

    fn heads_of(store: &Store, doc: &str) -> Vec<[u8; 32]> {
        store.doc_meta(doc).unwrap().unwrap().heads
    }

    #[test]
    fn a_store_from_before_checksums_is_migrated_at_open_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        let store = open();
        for i in 0..30 {
            set(&store, &format!("d{i}"), "x", &i.to_string());
        }
        make_large(&store, "big");
        set(&store, "big", "n", "1");
        set(&store, "big", "n", "2");
        let stripped = store.downgrade_for_test(1).unwrap();
        // 31 documents' metadata and snapshots, and two chunks.
        assert_eq!(stripped, 31 + 31 + 2);
        assert_eq!(store.meta_get("format").unwrap(), None);
        // Interrupted half-way through a migration: one value already sealed.
        let db = store.db().unwrap();
        let first = db.get(keys::snapshot("d0")).unwrap().unwrap();
        assert!(checksum::is_unsealed(&first));
        db.insert(keys::snapshot("d0"), checksum::seal(&first))
            .unwrap();
        drop(db);
        let store = reopened_migrated(store, open);
        let db = store.db().unwrap();
        for entry in db
            .scan_prefix(b"d/")
            .chain(db.scan_prefix(b"c/"))
            .chain(db.scan_prefix(b"x/"))
        {
            let (key, value) = entry.unwrap();
            assert!(checksum::open(&value).is_ok(), "{key:?} not sealed");
        }
        for i in 0..30 {
            let id = format!("d{i}");
            assert_eq!(store.check_document(&id).unwrap(), None);
            let record = store.record(&id).unwrap().unwrap();
            assert_eq!(record.field("x"), Some(i.to_string().as_str()));
        }
        assert_eq!(store.record("big").unwrap().unwrap().field("n"), Some("2"));
        assert_eq!(store.check_document("big").unwrap(), None);
    }

    #[test]
    fn a_damaged_sled_snapshot_file_is_named_and_a_locked_store_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        set(&store, "d", "x", "1");
        // Opened again by another handle meanwhile: the lock is held.
        let err = match Store::open(dir.path(), Arc::new(NoIndex), 10) {
            Err(e) => e,
            Ok(_) => panic!("opened twice"),
        };
        assert!(
            matches!(err, StoreError::Locked { pid: Some(pid), .. } if pid == std::process::id()),
            "{err}"
        );
        assert!(err.to_string().contains("another neiqin is using"), "{err}");
        store.flush().unwrap();
        drop(store);
        // sled writes its snapshot file when it opens a store.
        drop(Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap());
        let snap = super::super::newest_sled_snapshot(dir.path()).expect("a snapshot file");
        let mut bytes = std::fs::read(&snap).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        std::fs::write(&snap, bytes).unwrap();
        let err = match Store::open(dir.path(), Arc::new(NoIndex), 10) {
            Err(e) => e,
            Ok(_) => panic!("a damaged snapshot file was opened"),
        };
        let message = err.to_string();
        assert!(matches!(err, StoreError::DamagedFiles { .. }), "{message}");
        assert!(message.contains(&snap.display().to_string()), "{message}");
        assert!(message.contains("neiqin restore"), "{message}");
    }

    #[test]
    fn a_store_of_a_newer_format_is_refused_with_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        set(&store, "d", "x", "1");
        store
            .meta_put("format", &(FORMAT_VERSION + 1).to_be_bytes())
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let err = match Store::open(dir.path(), Arc::new(NoIndex), 10) {
            Err(e) => e,
            Ok(_) => panic!("a newer store was opened"),
        };
        assert!(
            matches!(err, StoreError::NewerFormat { found, supported, .. }
                if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade neiqin"), "{err}");
    }

    /// Indexes every document by its field `x`; its summary is that value.
    struct ByX;
    impl super::super::Projector for ByX {
        fn project(
            &self,
            _: &str,
            record: &crate::domain::record::Record,
        ) -> super::super::Projection {
            let x = record.field("x").unwrap_or_default().to_string();
            super::super::Projection {
                index: vec![("x", x.clone())],
                summary: x.into_bytes(),
            }
        }
    }

    fn indexed_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Arc::new(ByX), 10).unwrap();
        (dir, store)
    }

    fn index_keys(store: &Store) -> Vec<Vec<u8>> {
        let db = store.db().unwrap();
        db.scan_prefix(keys::INDEX_PREFIX)
            .keys()
            .map(|k| k.unwrap().to_vec())
            .collect()
    }

    #[test]
    fn a_flipped_byte_in_a_documents_metadata_is_found_and_healed_from_a_peer() {
        let (_da, a) = indexed_store();
        let (_db, b) = indexed_store();
        for (doc, x) in [("a", "1"), ("b", "2"), ("c", "3")] {
            set(&a, doc, "x", x);
            b.merge(doc, &raw(&a, doc)).unwrap();
        }
        set(&a, "b", "x", "4");
        assert_eq!(b.check_document("b").unwrap(), None);
        b.corrupt_meta_for_test("b").unwrap();
        // Found by the check, not as an error of the store.
        let why = b.check_document("b").unwrap().expect("damage found");
        assert!(why.contains("its metadata: checksum mismatch"), "{why}");
        assert_eq!(b.damaged_documents(), ["b"]);
        // Every read and write of it says so; lists leave it out; the rest reads as before.
        assert!(is_damaged(b.record("b"), "b"));
        assert!(is_damaged(b.doc_meta("b"), "b"));
        refused_on_read_and_write(&b, "b");
        // Its stored bytes pass their checksums: they may still be copied whole (export).
        assert!(b.raw_document("b").unwrap().is_some());
        assert_eq!(b.summary("b").unwrap(), None);
        assert_eq!(b.doc_ids(Some("t")).unwrap(), ["a", "c"]);
        assert_eq!(b.summary("a").unwrap().unwrap(), b"1");
        // Sync does not fetch changes of it: it is fetched whole.
        assert_eq!(b.heads_if_lacking("b", &heads(&a, "b")).unwrap(), None);

        // Replaced by the peer's copy: its old index entry and feed entry are gone with it.
        let results = b.replace_damaged(&[("b".to_string(), raw(&a, "b"))]);
        assert!(results[0].as_ref().is_ok_and(|w| w.changed));
        assert!(b.damaged_documents().is_empty());
        assert_eq!(b.check_document("b").unwrap(), None);
        assert_eq!(b.record("b").unwrap().unwrap().field("x"), Some("4"));
        assert_eq!(b.summary("b").unwrap().unwrap(), b"4");
        assert_eq!(
            index_keys(&b),
            [("1", "a"), ("3", "c"), ("4", "b")].map(|(x, doc)| keys::index_entry("x", x, doc))
        );
        let feed = b.feed_since(0, u64::MAX, 10).unwrap();
        assert_eq!(
            feed.iter().map(|(_, doc)| doc.as_str()).collect::<Vec<_>>(),
            ["a", "c", "b"]
        );
    }

    #[test]
    fn metadata_that_does_not_decode_is_damage_too() {
        let (_dir, store) = store();
        set(&store, "d", "x", "1");
        let db = store.db().unwrap();
        // A checksum that holds over bytes that are no metadata.
        db.insert(keys::doc_meta("d"), checksum::seal(&[0xff; 3]))
            .unwrap();
        let why = store.check_document("d").unwrap().expect("damage found");
        assert!(why.contains("its metadata: does not decode"), "{why}");
        // And one written before format 3, unsealed.
        let payload = postcard::to_allocvec(&super::super::DocMeta::default()).unwrap();
        db.insert(keys::doc_meta("d"), payload).unwrap();
        let why = store.check_document("d").unwrap().expect("damage found");
        assert!(why.contains("its metadata:"), "{why}");
    }

    #[test]
    fn a_format_2_store_has_its_metadata_sealed_at_open_even_when_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(dir.path(), Arc::new(ByX), 10).unwrap();
        let store = open();
        for i in 0..20 {
            set(&store, &format!("d{i:02}"), "x", &i.to_string());
        }
        let before = index_keys(&store);
        assert_eq!(store.downgrade_for_test(2).unwrap(), 20);
        assert_eq!(
            store.meta_get("format").unwrap().as_deref(),
            Some(&2u32.to_be_bytes()[..])
        );
        // Interrupted after its first batch: the first five sealed, and that recorded.
        let db = store.db().unwrap();
        for i in 0..5 {
            let key = keys::doc_meta(&format!("d{i:02}"));
            let value = db.get(&key).unwrap().unwrap();
            db.insert(&key, checksum::seal(&value)).unwrap();
        }
        store
            .meta_put(super::super::FORMAT3_PROGRESS_KEY, &keys::doc_meta("d04"))
            .unwrap();
        drop(db);
        let store = reopened_migrated(store, open);
        assert_eq!(
            store.meta_get(super::super::FORMAT3_PROGRESS_KEY).unwrap(),
            None
        );
        // Each sealed once: every one opens to metadata, and every document reads well.
        for i in 0..20 {
            let id = format!("d{i:02}");
            assert_eq!(store.check_document(&id).unwrap(), None, "{id}");
            assert_eq!(
                store.summary(&id).unwrap().unwrap(),
                i.to_string().as_bytes()
            );
        }
        assert!(store.damaged_documents().is_empty());
        assert_eq!(index_keys(&store), before);
        // A newer store than this one is refused still.
        store
            .meta_put("format", &(FORMAT_VERSION + 1).to_be_bytes())
            .unwrap();
        store.flush().unwrap();
        drop(store);
        assert!(matches!(
            Store::open(dir.path(), Arc::new(ByX), 10),
            Err(StoreError::NewerFormat { .. })
        ));
    }

    #[test]
    fn damaged_documents_are_still_named_after_a_restart_until_they_read_well() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(dir.path(), Arc::new(NoIndex), 10).unwrap();
        let store = open();
        set(&store, "a", "x", "1");
        set(&store, "b", "x", "2");
        let db = store.db().unwrap();
        let healthy = db.get(keys::snapshot("a")).unwrap().unwrap();
        store.corrupt_for_test("a").unwrap();
        store.corrupt_meta_for_test("b").unwrap();
        assert!(store.record("a").is_err());
        assert!(store.record("b").is_err());
        store.flush().unwrap();
        drop(db);
        drop(store);

        // Named at once, before anything reads them again.
        let store = open();
        assert_eq!(store.damaged_documents(), ["a", "b"]);
        assert!(store.is_damaged("b"));
        // One put back as it was: it reads well, and is no longer named after the next restart.
        let db = store.db().unwrap();
        db.insert(keys::snapshot("a"), healthy).unwrap();
        assert_eq!(store.check_document("a").unwrap(), None);
        assert_eq!(store.damaged_documents(), ["b"]);
        store.flush().unwrap();
        drop(db);
        drop(store);
        assert_eq!(open().damaged_documents(), ["b"]);
    }

    #[test]
    fn derived_values_that_do_not_match_the_document_are_repaired_from_it() {
        let (_dir, store) = indexed_store();
        for (doc, x) in [("a", "1"), ("b", "2"), ("c", "3")] {
            set(&store, doc, "x", x);
        }
        let index = index_keys(&store);
        let feed = store.feed_since(0, u64::MAX, 10).unwrap();
        store.corrupt_derived_for_test("a").unwrap();
        // Only an index entry lost, for "c".
        let db = store.db().unwrap();
        db.remove(keys::index_entry("x", "3", "c")).unwrap();
        assert_eq!(index_keys(&store).len(), 1);

        let step = store.scrub(None, 10).unwrap();
        assert!(step.damaged.is_empty());
        let repaired: Vec<&str> = step.repaired.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(repaired, ["a", "c"]);
        assert!(
            step.repaired[0].1.contains("its summary"),
            "{:?}",
            step.repaired
        );
        assert!(
            step.repaired[0].1.contains("its feed entry"),
            "{:?}",
            step.repaired
        );
        assert!(step.repaired[1].1.contains("an index entry missing"));
        assert_eq!(index_keys(&store), index);
        assert_eq!(store.summary("a").unwrap().unwrap(), b"1");
        assert_eq!(store.feed_since(0, u64::MAX, 10).unwrap(), feed);
        assert!(store.damaged_documents().is_empty());
        // Nothing left to repair.
        assert!(store.scrub(None, 10).unwrap().repaired.is_empty());
    }
}
