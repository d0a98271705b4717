//! The shape every document has, as plain data: fields that merge one by one, keyed collections of
//! items whose fields merge one by one, and append-only facts keyed by unique ids.
//!
//! The store maps a `Record` to and from an Automerge document; the domain maps it to and from
//! orders and customers. Neither side needs to know the other.

use std::collections::BTreeMap;

/// Who wrote a value, as read back from the change that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Authorship {
    pub node: String,
    pub user: String,
    pub role: String,
    /// Milliseconds since the Unix epoch, as the writing node's clock had it.
    pub at_ms: i64,
}

/// One of several values a field holds after concurrent edits on different nodes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ConflictingValue {
    pub value: String,
    #[serde(flatten)]
    pub written_by: Authorship,
}

/// A field's current value and, when nodes wrote different values concurrently, all of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldValue {
    /// The value Automerge picks deterministically on every node.
    pub value: String,
    /// Empty unless the field is in conflict; then every value, the picked one included.
    pub conflicts: Vec<ConflictingValue>,
}

impl FieldValue {
    pub fn plain(value: impl Into<String>) -> Self {
        FieldValue {
            value: value.into(),
            conflicts: Vec::new(),
        }
    }
}

pub type Fields = BTreeMap<String, FieldValue>;

/// A document read back: what the domain interprets as an order or a customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub kind: String,
    pub fields: Fields,
    /// collection name -> item id -> item fields (order lines, contacts, addresses...).
    pub collections: BTreeMap<String, BTreeMap<String, Fields>>,
    /// fact id -> the fact's JSON. Facts are written once and never changed.
    pub facts: BTreeMap<String, String>,
}

impl Record {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(|f| f.value.as_str())
    }

    pub fn collection(&self, name: &str) -> impl Iterator<Item = (&String, &Fields)> {
        self.collections.get(name).into_iter().flatten()
    }

    /// Applies ops to a copy, as the store will apply them to the document; used to validate the
    /// result of a change before anything is written.
    pub fn with_ops(&self, ops: &[RecordOp]) -> Record {
        let mut next = self.clone();
        for op in ops {
            match op {
                RecordOp::SetKind(kind) => next.kind = kind.clone(),
                RecordOp::EnsureCollection(name) => {
                    next.collections.entry(name.clone()).or_default();
                }
                RecordOp::SetField { name, value } => {
                    next.fields
                        .insert(name.clone(), FieldValue::plain(value.clone()));
                }
                RecordOp::SetItemField {
                    collection,
                    item,
                    name,
                    value,
                } => {
                    next.collections
                        .entry(collection.clone())
                        .or_default()
                        .entry(item.clone())
                        .or_default()
                        .insert(name.clone(), FieldValue::plain(value.clone()));
                }
                RecordOp::RemoveItem { collection, item } => {
                    if let Some(items) = next.collections.get_mut(collection) {
                        items.remove(item);
                    }
                }
                RecordOp::AddFact { id, json } => {
                    next.facts.insert(id.clone(), json.clone());
                }
            }
        }
        next
    }
}

/// One edit to a document. A change is a list of these, committed as one Automerge change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOp {
    SetKind(String),
    /// Creates an empty collection when the document is created, so that two nodes adding the
    /// first item later never race to create the collection itself (one of them would be lost).
    EnsureCollection(String),
    SetField {
        name: String,
        value: String,
    },
    SetItemField {
        collection: String,
        item: String,
        name: String,
        value: String,
    },
    RemoveItem {
        collection: String,
        item: String,
    },
    /// Facts are append-only: the store refuses to overwrite an existing fact id.
    AddFact {
        id: String,
        json: String,
    },
}

impl RecordOp {
    pub fn field(name: &str, value: impl Into<String>) -> Self {
        RecordOp::SetField {
            name: name.to_string(),
            value: value.into(),
        }
    }

    pub fn item_field(collection: &str, item: &str, name: &str, value: impl Into<String>) -> Self {
        RecordOp::SetItemField {
            collection: collection.to_string(),
            item: item.to_string(),
            name: name.to_string(),
            value: value.into(),
        }
    }
}

/// Who makes a change, written into the change's message so history and conflicts can name them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeAuthor {
    pub user: String,
    pub role: String,
    /// What was done, in words ("create order", "record payment").
    pub action: String,
}
