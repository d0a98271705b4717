//! How a `Record` lives in an Automerge document, and how it is read back with its conflicts.
//!
//! Layout of every document: `kind` (string), `fields` (map of strings), `collections` (map of
//! maps of item maps of strings), `facts` (map of JSON strings). Every value is a string so that
//! money keeps its exact decimal text. The maps are created with the document, never later, so
//! two nodes can never race to create the same map.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ROOT};

use crate::domain::record::{
    Authorship, ChangeAuthor, ConflictingValue, FieldValue, Fields, Record, RecordOp,
};

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("fact {0} already exists; facts are never changed")]
    FactExists(String),
    #[error("the document has no {0} map")]
    MissingMap(&'static str),
    #[error("collection {0} does not exist in this document")]
    MissingCollection(String),
}

/// The text of a scalar string value; anything else reads as empty (values are always strings).
fn text_of(value: &automerge::ValueRef<'_>) -> String {
    match value {
        automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => s.to_string(),
        _ => String::new(),
    }
}

fn map_at(doc: &AutoCommit, parent: &automerge::ObjId, key: &str) -> Option<automerge::ObjId> {
    match doc.get(parent, key) {
        Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

fn ensure_map(
    doc: &mut AutoCommit,
    parent: &automerge::ObjId,
    key: &str,
) -> Result<automerge::ObjId, CodecError> {
    match map_at(doc, parent, key) {
        Some(id) => Ok(id),
        None => Ok(doc.put_object(parent, key, ObjType::Map)?),
    }
}

/// The single current value of a key, or None when it is missing. A key in conflict reads as a
/// value no write can equal, so writing any value resolves the conflict.
fn changes_value(
    doc: &AutoCommit,
    obj: &automerge::ObjId,
    key: &str,
) -> Result<Option<String>, CodecError> {
    let all = doc.get_all(obj, key)?;
    Ok(match all.len() {
        0 => None,
        1 => Some(all[0].0.as_str().unwrap_or_default().to_string()),
        _ => Some("\u{0}conflict".to_string()),
    })
}

/// Applies ops to the document in the open (uncommitted) change.
pub fn apply_ops(doc: &mut AutoCommit, ops: &[RecordOp]) -> Result<(), CodecError> {
    // The top-level maps are created by the first change of a document only.
    let creating = doc.get_heads().is_empty();
    let (fields, collections, facts) = if creating {
        (
            doc.put_object(ROOT, "fields", ObjType::Map)?,
            doc.put_object(ROOT, "collections", ObjType::Map)?,
            doc.put_object(ROOT, "facts", ObjType::Map)?,
        )
    } else {
        (
            map_at(doc, &ROOT, "fields").ok_or(CodecError::MissingMap("fields"))?,
            map_at(doc, &ROOT, "collections").ok_or(CodecError::MissingMap("collections"))?,
            map_at(doc, &ROOT, "facts").ok_or(CodecError::MissingMap("facts"))?,
        )
    };
    for op in ops {
        match op {
            RecordOp::SetKind(kind) => doc.put(ROOT, "kind", kind.as_str())?,
            RecordOp::EnsureCollection(name) => {
                ensure_map(doc, &collections, name)?;
            }
            RecordOp::SetField { name, value } => {
                if creating {
                    // A new document: an empty field reads the same as a missing one.
                    if !value.is_empty() {
                        doc.put(&fields, name.as_str(), value.as_str())?;
                    }
                } else if changes_value(doc, &fields, name)?
                    .map_or(!value.is_empty(), |v| v != *value)
                {
                    doc.put(&fields, name.as_str(), value.as_str())?;
                }
            }
            RecordOp::SetItemField {
                collection,
                item,
                name,
                value,
            } => {
                let coll = map_at(doc, &collections, collection)
                    .ok_or_else(|| CodecError::MissingCollection(collection.clone()))?;
                let item_map = ensure_map(doc, &coll, item)?;
                if creating {
                    if !value.is_empty() {
                        doc.put(&item_map, name.as_str(), value.as_str())?;
                    }
                } else if changes_value(doc, &item_map, name)?
                    .map_or(!value.is_empty(), |v| v != *value)
                {
                    doc.put(&item_map, name.as_str(), value.as_str())?;
                }
            }
            RecordOp::RemoveItem { collection, item } => {
                if let Some(coll) = map_at(doc, &collections, collection) {
                    doc.delete(&coll, item.as_str())?;
                }
            }
            RecordOp::AddFact { id, json } => {
                if doc.get(&facts, id.as_str())?.is_some() {
                    return Err(CodecError::FactExists(id.clone()));
                }
                doc.put(&facts, id.as_str(), json.as_str())?;
            }
        }
    }
    Ok(())
}

/// Writes the first change of a new document with the same result as `apply_ops` on an empty
/// document, but as one batch (`init_root_from_hydrate`): Automerge splices its op set a couple
/// of times instead of once per value, which made creating an order several times slower.
pub fn init_document(doc: &mut AutoCommit, ops: &[RecordOp]) -> Result<(), CodecError> {
    use automerge::hydrate;
    use std::collections::{HashMap, HashSet};

    // The checks `apply_ops` makes while writing, made before anything is written.
    let mut collections_made = HashSet::new();
    let mut fact_ids = HashSet::new();
    for op in ops {
        match op {
            RecordOp::EnsureCollection(name) => {
                collections_made.insert(name.as_str());
            }
            RecordOp::SetItemField { collection, .. }
                if !collections_made.contains(collection.as_str()) =>
            {
                return Err(CodecError::MissingCollection(collection.clone()));
            }
            RecordOp::AddFact { id, .. } if !fact_ids.insert(id.as_str()) => {
                return Err(CodecError::FactExists(id.clone()));
            }
            _ => {}
        }
    }
    let record = Record::default().with_ops(ops);
    // A new document: an empty field reads the same as a missing one, so it is not written.
    let strings = |fields: &Fields| -> hydrate::Value {
        let map: HashMap<&str, hydrate::Value> = fields
            .iter()
            .filter(|(_, f)| !f.value.is_empty())
            .map(|(name, f)| (name.as_str(), f.value.as_str().into()))
            .collect();
        hydrate::Map::from(map).into()
    };
    let collections: HashMap<&str, hydrate::Value> = record
        .collections
        .iter()
        .map(|(name, items)| {
            let items: HashMap<&str, hydrate::Value> = items
                .iter()
                .map(|(item, fields)| (item.as_str(), strings(fields)))
                .collect();
            (name.as_str(), hydrate::Map::from(items).into())
        })
        .collect();
    let facts: HashMap<&str, hydrate::Value> = record
        .facts
        .iter()
        .map(|(id, json)| (id.as_str(), json.as_str().into()))
        .collect();
    let mut root: HashMap<&str, hydrate::Value> = HashMap::from([
        ("fields", strings(&record.fields)),
        ("collections", hydrate::Map::from(collections).into()),
        ("facts", hydrate::Map::from(facts).into()),
    ]);
    if ops.iter().any(|op| matches!(op, RecordOp::SetKind(_))) {
        root.insert("kind", record.kind.as_str().into());
    }
    doc.init_root_from_hydrate(&hydrate::Map::from(root))?;
    Ok(())
}

/// The commit message that names who made a change; history and conflicts read it back.
pub fn commit_message(author: &ChangeAuthor) -> String {
    serde_json::to_string(author).unwrap_or_default()
}

fn authorship_of(doc: &mut AutoCommit, opid: &automerge::ObjId) -> Authorship {
    let Some(hash) = doc.hash_for_opid(opid) else {
        return Authorship {
            node: String::new(),
            user: String::new(),
            role: String::new(),
            at_ms: 0,
        };
    };
    let meta = doc.get_change_meta_by_hash(&hash);
    let (node, message, at_ms) = match meta {
        Some(m) => (
            m.actor.to_hex_string(),
            m.message.map(|s| s.to_string()).unwrap_or_default(),
            m.timestamp,
        ),
        None => (String::new(), String::new(), 0),
    };
    let author: Option<ChangeAuthor> = serde_json::from_str(&message).ok();
    Authorship {
        node,
        user: author.as_ref().map(|a| a.user.clone()).unwrap_or_default(),
        role: author.map(|a| a.role).unwrap_or_default(),
        at_ms,
    }
}

fn read_fields(doc: &mut AutoCommit, obj: &automerge::ObjId) -> Result<Fields, CodecError> {
    let items: Vec<(String, String, bool)> = doc
        .map_range(obj, ..)
        .map(|item| (item.key.to_string(), text_of(&item.value), item.conflict))
        .collect();
    // `map_range` yields keys in order, and a map built from a sorted list is built in one
    // pass instead of by one insertion per field.
    let mut fields = Vec::with_capacity(items.len());
    for (key, value, conflict) in items {
        let mut field = FieldValue::plain(value);
        if conflict {
            let all: Vec<(String, automerge::ObjId)> = doc
                .get_all(obj, key.as_str())?
                .into_iter()
                .map(|(v, opid)| (v.as_str().unwrap_or_default().to_string(), opid))
                .collect();
            for (v, opid) in all {
                let written_by = authorship_of(doc, &opid);
                field.conflicts.push(ConflictingValue {
                    value: v,
                    written_by,
                });
            }
            // Newest first: the person resolving it usually wants the latest write on top.
            field
                .conflicts
                .sort_by_key(|c| std::cmp::Reverse(c.written_by.at_ms));
        }
        fields.push((key, field));
    }
    Ok(Fields::from_iter(fields))
}

/// Reads the whole document back as a record, conflicts included. Each map is read in one pass
/// (`map_range`), not as a list of keys and a lookup per key: the lookups were a third of the
/// time of reading an order back, which every received document costs.
pub fn hydrate(doc: &mut AutoCommit) -> Result<Record, CodecError> {
    let mut record = Record::default();
    let (mut fields, mut collections, mut facts) = (None, None, None);
    for item in doc.map_range(&ROOT, ..) {
        match item.key.as_ref() {
            "kind" => record.kind = text_of(&item.value),
            "fields" if is_map(&item.value) => fields = Some(item.id()),
            "collections" if is_map(&item.value) => collections = Some(item.id()),
            "facts" if is_map(&item.value) => facts = Some(item.id()),
            _ => {}
        }
    }
    if let Some(fields) = fields {
        record.fields = read_fields(doc, &fields)?;
    }
    if let Some(collections) = collections {
        for (name, coll) in maps_in(doc, &collections) {
            let entry = record.collections.entry(name).or_default();
            for (item_id, item) in maps_in(doc, &coll) {
                entry.insert(item_id, read_fields(doc, &item)?);
            }
        }
    }
    if let Some(facts) = facts {
        record.facts = doc
            .map_range(&facts, ..)
            .map(|item| (item.key.to_string(), text_of(&item.value)))
            .collect();
    }
    Ok(record)
}

fn is_map(value: &automerge::ValueRef<'_>) -> bool {
    matches!(value, automerge::ValueRef::Object(ObjType::Map))
}

/// The maps held in map `obj`, by key (other values are skipped).
fn maps_in(doc: &AutoCommit, obj: &automerge::ObjId) -> Vec<(String, automerge::ObjId)> {
    doc.map_range(obj, ..)
        .filter(|item| is_map(&item.value))
        .map(|item| (item.key.to_string(), item.id()))
        .collect()
}

/// Checks that `bytes` is a sequence of whole Automerge storage chunks (magic, checksum, type,
/// LEB128 length, data), so nothing arriving from a peer is silently cut short.
pub fn check_chunks(bytes: &[u8]) -> Result<(), String> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    if bytes.is_empty() {
        return Err("no changes".into());
    }
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes.get(pos..pos + 4) != Some(&MAGIC[..]) {
            return Err(format!("no chunk header at byte {pos}"));
        }
        pos += 8; // magic and checksum
        match bytes.get(pos) {
            Some(0..=2) => pos += 1,
            _ => return Err(format!("unknown chunk type at byte {pos}")),
        }
        let mut len: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *bytes.get(pos).ok_or("chunk length cut short")?;
            pos += 1;
            if shift > 56 {
                return Err("chunk length too long".into());
            }
            len |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let end = (pos as u64)
            .checked_add(len)
            .ok_or("chunk length overflows")?;
        if end > bytes.len() as u64 {
            return Err(format!("chunk at byte {pos} is cut short"));
        }
        pos = end as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, value: &str) -> RecordOp {
        RecordOp::SetField {
            name: name.into(),
            value: value.into(),
        }
    }

    fn item(collection: &str, item: &str, name: &str, value: &str) -> RecordOp {
        RecordOp::SetItemField {
            collection: collection.into(),
            item: item.into(),
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn hydrate_reads_back_every_level_and_both_sides_of_a_conflict() {
        let mut doc = AutoCommit::new();
        init_document(
            &mut doc,
            &[
                RecordOp::SetKind("order".into()),
                RecordOp::EnsureCollection("lines".into()),
                RecordOp::EnsureCollection("notes".into()),
                set("number", "A-1"),
                set("store", "SH-01"),
                item("lines", "l1", "sku", "SF-2108"),
                item("lines", "l1", "quantity", "3"),
                item("lines", "l2", "sku", "BD-1806"),
                RecordOp::AddFact {
                    id: "f1".into(),
                    json: r#"{"kind":"verified"}"#.into(),
                },
            ],
        )
        .unwrap();
        doc.commit();
        let mut other = doc.fork();
        apply_ops(&mut doc, &[set("store", "SH-02")]).unwrap();
        apply_ops(&mut other, &[set("store", "SH-03")]).unwrap();
        doc.merge(&mut other).unwrap();

        let record = hydrate(&mut doc).unwrap();
        assert_eq!(record.kind, "order");
        assert_eq!(record.field("number"), Some("A-1"));
        let store = &record.fields["store"];
        let mut sides: Vec<&str> = store.conflicts.iter().map(|c| c.value.as_str()).collect();
        sides.sort();
        assert_eq!(sides, ["SH-02", "SH-03"]);
        assert!(sides.contains(&store.value.as_str()));
        let lines = &record.collections["lines"];
        assert_eq!(lines.len(), 2);
        assert_eq!(lines["l1"]["sku"].value, "SF-2108");
        assert_eq!(lines["l1"]["quantity"].value, "3");
        assert_eq!(lines["l2"]["sku"].value, "BD-1806");
        assert!(record.collections["notes"].is_empty());
        assert_eq!(record.facts["f1"], r#"{"kind":"verified"}"#);
    }
}
