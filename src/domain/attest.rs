//! Field values count only if an authorised node signed them, without a signature per write.
//!
//! A fact that vouches for values carries an `attested` member in its JSON (covered by the
//! fact's signature, so it counts exactly when the fact counts): a short hash of each value it
//! vouches for, over the value's path (`deposit`, `lines.<id>.unit_price`) and its text exactly as
//! stored, plus the item ids of each collection it saw. 核单 (`Verified`) vouches for every value
//! of the order, each change of an order (`Changed`) and each write of a customer archive
//! (`ArchiveWritten`) for the values it wrote. A value is attested when its hash is among the
//! hashes the counted facts give; concurrent writes on two nodes stay attested after a merge,
//! since the value Automerge picks was vouched for by its own writer's fact. An item that a
//! counted fact saw and that is gone must have been removed by a counted fact too, and an item
//! a counted fact removed that is there again is vouched for by nothing.
//!
//! A document is checked only once a counted fact of the activating kind carries an
//! attestation (an order from its 核单 on, a customer from its first signed write): drafts,
//! and documents written before this check, are not.

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

use super::facts::Fact;
use super::record::{Record, RecordOp};

/// The member of a fact's JSON that holds its attestation.
pub const MEMBER: &str = "attested";
const TAG: &[u8] = b"neiqin-value-v1\n";
/// Bytes of SHA-256 kept per value: 96 bits, so no one finds another value with a given hash.
const HASH_BYTES: usize = 12;
/// A hash as stored: base64 (URL-safe, unpadded) of `HASH_BYTES` bytes.
pub const HASH_CHARS: usize = 16;

/// Fields written without a fact, left out of the check, each with the reason.
pub const EXEMPT_FIELDS: &[(&str, &str)] = &[(
    // `authority::LEGACY_FIELD`: the cluster CA's own signed list of the facts a document held
    // before signing, written by `neiqin node init-ca`; it is checked against the CA's key.
    "legacy_facts",
    "signed by the cluster CA itself",
)];

fn exempt(name: &str) -> bool {
    EXEMPT_FIELDS.iter().any(|(f, _)| *f == name)
}

/// The short hash of `value` at `path`, as the attestation stores it. The bytes are the path
/// and the value's text exactly as stored (a decimal is its stored string: `12.50` and `12.5`
/// differ), so every node computes the same hash from the same document.
pub fn value_hash(path: &str, value: &str) -> String {
    let digest = Sha256::new()
        .chain_update(TAG)
        .chain_update(path.as_bytes())
        .chain_update([0u8])
        .chain_update(value.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..HASH_BYTES])
}

/// What one fact vouches for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The values' hashes, concatenated (`HASH_CHARS` each, sorted).
    #[serde(default, rename = "v")]
    pub values: String,
    /// Collection -> the ids of the items this fact saw (only collections with items).
    #[serde(default, rename = "i", skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, Vec<String>>,
}

impl Attestation {
    fn from_values<'a>(
        values: impl Iterator<Item = (String, &'a str)>,
        items: BTreeMap<String, Vec<String>>,
    ) -> Attestation {
        let mut hashes: Vec<String> = values.map(|(path, v)| value_hash(&path, v)).collect();
        hashes.sort();
        hashes.dedup();
        Attestation {
            values: hashes.concat(),
            items,
        }
    }

    /// Every value of `record` (the exempt fields left out) and every item id.
    pub fn of_record(record: &Record) -> Attestation {
        let fields = record
            .fields
            .iter()
            .filter(|(name, _)| !exempt(name))
            .map(|(name, v)| (name.clone(), v.value.as_str()));
        let item_values = record.collections.iter().flat_map(|(c, items)| {
            items.iter().flat_map(move |(item, fields)| {
                fields
                    .iter()
                    .map(move |(name, v)| (format!("{c}.{item}.{name}"), v.value.as_str()))
            })
        });
        let items = record
            .collections
            .iter()
            .filter(|(_, items)| !items.is_empty())
            .map(|(c, items)| (c.clone(), items.keys().cloned().collect()))
            .collect();
        Attestation::from_values(fields.chain(item_values), items)
    }

    /// The values `ops` write, and the items they write into.
    pub fn of_ops(ops: &[RecordOp]) -> Attestation {
        let mut items: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let values: Vec<(String, &str)> = ops.iter().filter_map(written_value).collect();
        for op in ops {
            if let RecordOp::SetItemField {
                collection, item, ..
            } = op
            {
                let ids = items.entry(collection.clone()).or_default();
                if !ids.contains(item) {
                    ids.push(item.clone());
                }
            }
        }
        Attestation::from_values(values.into_iter(), items)
    }

    /// `json` (a fact's JSON object, before it is signed) with this attestation as its
    /// `attested` member.
    pub fn into_json(&self, json: String) -> String {
        let Ok(member) = serde_json::to_string(self) else {
            return json;
        };
        match json.strip_suffix('}') {
            Some(body) => format!("{body},\"{MEMBER}\":{member}}}"),
            None => json,
        }
    }

    /// The attestation a stored fact carries, if any. The member is read where it starts,
    /// without parsing the rest of the fact (every fact of every document received is looked
    /// at): `into_json` appends it last before the signature, so it is the last occurrence of
    /// its key, and no string inside a fact can hold that key's unescaped quotes followed by a
    /// colon.
    pub fn of_stored(stored: &str) -> Option<Attestation> {
        const KEY: &str = "\"attested\":";
        debug_assert_eq!(KEY, format!("\"{MEMBER}\":"));
        let start = stored.rfind(KEY)? + KEY.len();
        let mut member = serde_json::Deserializer::from_str(&stored[start..]);
        Attestation::deserialize(&mut member).ok()
    }
}

/// The path and value an op writes (None for ops that write no value).
pub fn written_value(op: &RecordOp) -> Option<(String, &str)> {
    match op {
        RecordOp::SetField { name, value } => Some((name.clone(), value.as_str())),
        RecordOp::SetItemField {
            collection,
            item,
            name,
            value,
        } => Some((format!("{collection}.{item}.{name}"), value.as_str())),
        _ => None,
    }
}

/// The value `record` holds at `path` (`name`, or `collection.item.name`).
pub fn value_at<'a>(record: &'a Record, path: &str) -> Option<&'a str> {
    if let Some(v) = record.fields.get(path) {
        return Some(&v.value);
    }
    let (collection, rest) = path.split_once('.')?;
    let (item, name) = rest.split_once('.')?;
    record
        .collections
        .get(collection)?
        .get(item)?
        .get(name)
        .map(|v| v.value.as_str())
}

/// A value no counted fact vouches for: kept and shown as evidence, an anomaly on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Unattested {
    /// `deposit`, `lines.<id>.unit_price`; `lines.<id>` for an item removed without a fact.
    pub path: String,
    /// The value as it stands (empty for a removed item).
    pub value: String,
}

/// How a kind of document is checked.
pub struct Rules<'a> {
    /// Facts whose attestation makes the document checked (an order's 核单).
    pub activates: &'a dyn Fn(&Fact) -> bool,
    /// Values a counted fact states in its body (an order's `Changed` new values, written
    /// before attestations existed): `(path, value)` attested this way, or an item removed
    /// (`path` = `collection.item`, value empty).
    pub stated: &'a dyn Fn(&Fact) -> Vec<(String, String)>,
}

/// The values of `record` that none of its counted `facts` vouches for; empty when the
/// document is not checked (no counted activating fact carries an attestation).
pub fn unattested(record: &Record, facts: &[Fact], rules: &Rules) -> Vec<Unattested> {
    let attestation_of = |fact: &Fact| {
        record
            .facts
            .get(&fact.id)
            .and_then(|stored| Attestation::of_stored(stored))
    };
    // The activating facts first: most documents have none, and are done here.
    let mut attestations: Vec<Attestation> = facts
        .iter()
        .filter(|f| (rules.activates)(f))
        .filter_map(attestation_of)
        .collect();
    if attestations.is_empty() {
        return Vec::new();
    }
    attestations.extend(
        facts
            .iter()
            .filter(|f| !(rules.activates)(f))
            .filter_map(attestation_of),
    );
    let mut hashes: HashSet<&str> = HashSet::new();
    let mut seen_items: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for a in &attestations {
        let mut rest = a.values.as_str();
        while rest.len() >= HASH_CHARS && rest.is_char_boundary(HASH_CHARS) {
            let (hash, tail) = rest.split_at(HASH_CHARS);
            hashes.insert(hash);
            rest = tail;
        }
        for (collection, ids) in &a.items {
            seen_items
                .entry(collection)
                .or_default()
                .extend(ids.iter().map(String::as_str));
        }
    }
    let stated: HashSet<(String, String)> = facts.iter().flat_map(|f| (rules.stated)(f)).collect();
    let vouched = |path: String, value: &str| -> Result<(), Unattested> {
        if hashes.contains(value_hash(&path, value).as_str())
            || stated.contains(&(path.clone(), value.to_string()))
        {
            Ok(())
        } else {
            Err(Unattested {
                path,
                value: value.to_string(),
            })
        }
    };
    // Items a counted fact removed. Ids are never reused and a removal wins over a concurrent
    // edit (Automerge deletes the item's key), so one that is there again was put back without
    // a signed record: the hashes its values had before the removal vouch for nothing.
    let removed: HashSet<&str> = stated
        .iter()
        .filter(|(path, value)| value.is_empty() && path.matches('.').count() == 1)
        .map(|(path, _)| path.as_str())
        .collect();
    let mut found = Vec::new();
    for (name, v) in record.fields.iter().filter(|(name, _)| !exempt(name)) {
        found.extend(vouched(name.clone(), &v.value).err());
    }
    for (collection, items) in &record.collections {
        for (item, fields) in items {
            let put_back = removed.contains(format!("{collection}.{item}").as_str());
            for (name, v) in fields {
                let path = format!("{collection}.{item}.{name}");
                if put_back {
                    found.push(Unattested {
                        path,
                        value: v.value.clone(),
                    });
                } else {
                    found.extend(vouched(path, &v.value).err());
                }
            }
        }
    }
    for (collection, ids) in &seen_items {
        let present = record.collections.get(*collection);
        let mut gone: Vec<&&str> = ids
            .iter()
            .filter(|id| !present.is_some_and(|items| items.contains_key(**id)))
            .collect();
        gone.sort();
        for id in gone {
            let path = format!("{collection}.{id}");
            if !stated.contains(&(path.clone(), String::new())) {
                found.push(Unattested {
                    path,
                    value: String::new(),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::FactBody;
    use crate::domain::record::FieldValue;
    use crate::domain::role::Role;

    fn record(price: &str) -> Record {
        let mut r = Record {
            kind: "order".into(),
            ..Record::default()
        };
        r.fields
            .insert("deposit".into(), FieldValue::plain("100.00"));
        r.fields.insert("note".into(), FieldValue::plain("加急"));
        r.collections.entry("lines".into()).or_default().insert(
            "l1".into(),
            [
                ("unit_price".to_string(), FieldValue::plain(price)),
                ("quantity".to_string(), FieldValue::plain("2")),
            ]
            .into_iter()
            .collect(),
        );
        r
    }

    fn fact(id: &str, body: FactBody) -> Fact {
        Fact {
            id: id.into(),
            at: chrono::Utc::now(),
            user: "u".into(),
            role: Role::Clerk,
            node: "n".into(),
            body,
        }
    }

    fn verified() -> FactBody {
        FactBody::Verified {
            parties: vec![],
            checked: BTreeMap::new(),
        }
    }

    const RULES: Rules = Rules {
        activates: &|f: &Fact| matches!(f.body, FactBody::Verified { .. }),
        stated: &|_: &Fact| Vec::new(),
    };

    /// `record` with `fact` stored carrying `attestation`.
    fn with_fact(mut r: Record, f: &Fact, attestation: &Attestation) -> Record {
        let json = attestation.into_json(serde_json::to_string(f).unwrap());
        r.facts.insert(f.id.clone(), json);
        r
    }

    #[test]
    fn a_value_hashes_the_same_on_every_node_and_by_its_stored_text() {
        // A fixed vector (computed apart, with Python's hashlib): any node, any build.
        assert_eq!(
            value_hash("deposit", "100.00"),
            value_hash("deposit", "100.00")
        );
        assert_eq!(value_hash("deposit", "100.00").len(), HASH_CHARS);
        assert_eq!(value_hash("a", "b"), "Cq0_vm0XVNx2RZEs");
        // The stored text counts: 12.50 and 12.5 are different values, as stored.
        assert_ne!(
            value_hash("unit_price", "12.50"),
            value_hash("unit_price", "12.5")
        );
        // A hash belongs to its path: the same value under another field is not vouched for.
        assert_ne!(value_hash("deposit", "1"), value_hash("note", "1"));
        // Path and value are separated: ("ab", "c") is not ("a", "bc").
        assert_ne!(value_hash("ab", "c"), value_hash("a", "bc"));
    }

    #[test]
    fn the_attestation_of_a_record_does_not_depend_on_the_order_values_were_written() {
        let a = record("12.50");
        let mut b = Record {
            kind: "order".into(),
            ..Record::default()
        };
        // The same values inserted the other way round.
        b.collections.entry("lines".into()).or_default().insert(
            "l1".into(),
            [
                ("quantity".to_string(), FieldValue::plain("2")),
                ("unit_price".to_string(), FieldValue::plain("12.50")),
            ]
            .into_iter()
            .collect(),
        );
        b.fields.insert("note".into(), FieldValue::plain("加急"));
        b.fields
            .insert("deposit".into(), FieldValue::plain("100.00"));
        assert_eq!(Attestation::of_record(&a), Attestation::of_record(&b));
        let ops = vec![
            RecordOp::item_field("lines", "l1", "unit_price", "12.50"),
            RecordOp::item_field("lines", "l1", "quantity", "2"),
            RecordOp::field("note", "加急"),
            RecordOp::field("deposit", "100.00"),
        ];
        assert_eq!(Attestation::of_ops(&ops), Attestation::of_record(&a));
    }

    #[test]
    fn the_member_is_read_back_from_the_stored_fact() {
        let a = Attestation::of_record(&record("12.50"));
        let f = fact("f1", verified());
        let json = a.into_json(serde_json::to_string(&f).unwrap());
        // Still the same fact for every reader, with the attestation beside it.
        assert_eq!(serde_json::from_str::<Fact>(&json).unwrap(), f);
        assert_eq!(Attestation::of_stored(&json), Some(a));
        assert_eq!(
            Attestation::of_stored(&serde_json::to_string(&f).unwrap()),
            None
        );
    }

    #[test]
    fn a_value_written_after_the_verification_without_a_fact_is_unattested() {
        let f = fact("f1", verified());
        let verified_at = record("12.50");
        let attestation = Attestation::of_record(&verified_at);
        // As verified: nothing to report.
        let r = with_fact(verified_at, &f, &attestation);
        assert!(unattested(&r, std::slice::from_ref(&f), &RULES).is_empty());
        // The price rewritten by hand: reported with the value as it stands.
        let mut forged = r.clone();
        forged
            .collections
            .get_mut("lines")
            .unwrap()
            .get_mut("l1")
            .unwrap()
            .insert("unit_price".into(), FieldValue::plain("1.00"));
        assert_eq!(
            unattested(&forged, std::slice::from_ref(&f), &RULES),
            vec![Unattested {
                path: "lines.l1.unit_price".into(),
                value: "1.00".into()
            }]
        );
        // A line removed by hand: reported too.
        let mut removed = r.clone();
        removed.collections.get_mut("lines").unwrap().clear();
        assert_eq!(
            unattested(&removed, std::slice::from_ref(&f), &RULES),
            vec![Unattested {
                path: "lines.l1".into(),
                value: String::new()
            }]
        );
        // Not checked until a counted activating fact carries an attestation.
        assert!(unattested(&forged, &[], &RULES).is_empty());
    }

    #[test]
    fn a_later_signed_write_vouches_for_what_it_wrote() {
        let f = fact("f1", verified());
        let r = with_fact(
            record("12.50"),
            &f,
            &Attestation::of_record(&record("12.50")),
        );
        let ops = vec![RecordOp::item_field("lines", "l1", "unit_price", "13.00")];
        let changed = fact(
            "f2",
            FactBody::Correction {
                note: String::new(),
            },
        );
        let r = with_fact(r.with_ops(&ops), &changed, &Attestation::of_ops(&ops));
        assert!(unattested(&r, &[f.clone(), changed], &RULES).is_empty());
        // The same write whose fact does not count (refused) vouches for nothing.
        let found = unattested(&r, &[f], &RULES);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "lines.l1.unit_price");
    }

    #[test]
    fn an_item_removed_by_a_counted_fact_and_put_back_is_vouched_for_by_nothing() {
        const REMOVING: Rules = Rules {
            activates: &|f: &Fact| matches!(f.body, FactBody::Verified { .. }),
            stated: &|f: &Fact| match &f.body {
                FactBody::Correction { note } => vec![(note.clone(), String::new())],
                _ => Vec::new(),
            },
        };
        let f = fact("f1", verified());
        let r = with_fact(
            record("12.50"),
            &f,
            &Attestation::of_record(&record("12.50")),
        );
        let removal = fact(
            "f2",
            FactBody::Correction {
                note: "lines.l1".into(),
            },
        );
        let removed = r.with_ops(&[RecordOp::RemoveItem {
            collection: "lines".into(),
            item: "l1".into(),
        }]);
        let removed = with_fact(removed, &removal, &Attestation::default());
        let facts = [f, removal];
        // Removed by a counted fact: nothing to report.
        assert!(unattested(&removed, &facts, &REMOVING).is_empty());
        // Put back with its old values: the verification's hashes no longer vouch for them.
        let mut put_back = removed.clone();
        put_back.collections = r.collections.clone();
        let found = unattested(&put_back, &facts, &REMOVING);
        let paths: Vec<&str> = found.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(paths, vec!["lines.l1.quantity", "lines.l1.unit_price"]);
    }
}
