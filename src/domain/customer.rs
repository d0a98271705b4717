//! Customer archive (客户档案): header fields plus contacts, addresses, freight depots and invoice
//! profiles, each item's fields merging on their own.

use std::collections::BTreeMap;

use super::attest::{Rules, Unattested};
use super::facts::{CheckedFacts, Fact, FactBody, FactCheck};
use super::order::FieldConflict;
use super::record::{Record, RecordOp};
use super::validation::FieldErrors;

pub const CUSTOMER_KIND: &str = "customer";

pub const HEADER_FIELDS: &[&str] = &[
    "code",
    "name",
    "kind",
    "province",
    "city",
    "region",
    "channel",
    "owner",
    "status",
    "tax_id",
    // 付款条件 (款到发货, 月结…) and the credit limit finance may extend (信用额度, CNY).
    "payment_terms",
    "credit_limit",
    // 所属经销商: the id of the dealer archive a specialty store belongs to (经销商 → 专卖店).
    "dealer",
    "note",
    // Set when a clerk merges this archive into another (duplicate customers); not typed by hand.
    "merged_into",
];

/// Each collection of the archive and the fields its items carry.
pub const COLLECTIONS: &[(&str, &[&str])] = &[
    (
        "contacts",
        &[
            "name", "role", "mobile", "landline", "qq", "wechat", "fax", "email",
        ],
    ),
    (
        "addresses",
        &["market", "street", "floor", "unit", "receiver", "phone"],
    ),
    ("depots", &["name", "city", "phone", "address", "payer"]),
    ("invoice_profiles", &["title", "tax_id", "bank"]),
];

pub const KINDS: &[&str] = &["store", "dealer", "direct", "project"];
pub const STATUSES: &[&str] = &["active", "frozen"];

/// A collection item as typed: field name -> value.
pub type Item = BTreeMap<String, String>;

/// A customer as typed by a clerk, for creation or as a partial change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerInput {
    pub header: BTreeMap<String, String>,
    pub collections: BTreeMap<String, Vec<Item>>,
    /// Items to remove, by collection: their ids (a change only).
    pub remove: BTreeMap<String, Vec<String>>,
}

impl CustomerInput {
    pub fn validate(&self, creating: bool) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        for name in self.header.keys() {
            if !HEADER_FIELDS.contains(&name.as_str()) {
                errors.push(name.clone(), "unknown field");
            }
        }
        if creating && self.header.get("name").is_none_or(|n| n.trim().is_empty()) {
            errors.push("name", "must not be empty");
        }
        if let Some(kind) = self.header.get("kind") {
            if !KINDS.contains(&kind.as_str()) {
                errors.push("kind", format!("must be one of {}", KINDS.join(", ")));
            }
        }
        if let Some(limit) = self.header.get("credit_limit") {
            match limit.parse::<rust_decimal::Decimal>() {
                Ok(v) if v >= rust_decimal::Decimal::ZERO && v.normalize().scale() <= 2 => {}
                _ => errors.push(
                    "credit_limit",
                    "a non-negative amount with at most 2 decimals, as a string",
                ),
            }
        }
        if let Some(status) = self.header.get("status") {
            if !STATUSES.contains(&status.as_str()) {
                errors.push("status", "must be active or frozen");
            }
        }
        for (collection, items) in &self.collections {
            let Some((_, fields)) = COLLECTIONS.iter().find(|(c, _)| c == collection) else {
                errors.push(collection.clone(), "unknown collection");
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                for name in item.keys() {
                    if name != "id" && !fields.contains(&name.as_str()) {
                        errors.push(format!("{collection}[{i}].{name}"), "unknown field");
                    }
                }
            }
        }
        for (collection, ids) in &self.remove {
            if creating {
                errors.push(
                    format!("remove.{collection}"),
                    "only an existing archive has items to remove",
                );
                continue;
            }
            if !COLLECTIONS.iter().any(|(c, _)| c == collection) {
                errors.push(format!("remove.{collection}"), "unknown collection");
                continue;
            }
            let changed = self.collections.get(collection);
            for (i, id) in ids.iter().enumerate() {
                let also_changed =
                    changed.is_some_and(|items| items.iter().any(|it| it.get("id") == Some(id)));
                if also_changed {
                    errors.push(
                        format!("remove.{collection}[{i}]"),
                        format!("item {id} is both changed and removed"),
                    );
                }
            }
        }
        errors.into_result()
    }

    /// Ops for this input; items without an `id` get a new one from `new_id`, items with an id
    /// change only the fields given.
    pub fn into_ops(self, creating: bool, mut new_id: impl FnMut() -> String) -> Vec<RecordOp> {
        let mut ops = Vec::new();
        if creating {
            ops.push(RecordOp::SetKind(CUSTOMER_KIND.to_string()));
            for (collection, _) in COLLECTIONS {
                ops.push(RecordOp::EnsureCollection(collection.to_string()));
            }
            if !self.header.contains_key("status") {
                ops.push(RecordOp::field("status", "active"));
            }
        }
        for (name, value) in self.header {
            ops.push(RecordOp::field(&name, value));
        }
        for (collection, items) in self.collections {
            for mut item in items {
                let id = item.remove("id").unwrap_or_else(&mut new_id);
                for (name, value) in item {
                    ops.push(RecordOp::item_field(&collection, &id, &name, value));
                }
            }
        }
        for (collection, ids) in self.remove {
            for item in ids {
                ops.push(RecordOp::RemoveItem {
                    collection: collection.clone(),
                    item,
                });
            }
        }
        ops
    }
}

/// A customer read back from its document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: String,
    #[serde(flatten)]
    pub header: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub collections: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    pub conflicts: Vec<FieldConflict>,
    /// The facts that count (`authority`): the archive's signed writes.
    #[serde(skip)]
    pub facts: Vec<Fact>,
    /// Facts that do not count (unsigned, forged, or beyond their author's authority), with
    /// why: kept as evidence, each an anomaly.
    #[serde(skip)]
    pub refused_facts: Vec<(Fact, String)>,
    /// Values no counted write vouches for (`domain::attest`), once the archive has a signed
    /// write: shown as evidence, each an anomaly.
    #[serde(skip)]
    pub unattested: Vec<Unattested>,
}

/// How an archive's values are checked: from its first signed write (`ArchiveWritten`) on; the
/// items a write removed (`removed`, `contacts.<id>`) are gone by a signed record.
pub const ATTEST_RULES: Rules = Rules {
    activates: &|f: &Fact| matches!(f.body, FactBody::ArchiveWritten { .. }),
    stated: &|f: &Fact| match &f.body {
        FactBody::ArchiveWritten { removed, .. } => removed
            .iter()
            .map(|path| (path.clone(), String::new()))
            .collect(),
        _ => Vec::new(),
    },
};

impl Customer {
    /// Counting every readable fact (a store outside any node, unit tests).
    pub fn from_record(id: &str, record: &Record) -> Customer {
        Customer::from_record_checked(id, record, &super::facts::CountAll)
    }

    /// The archive with only the facts `check` lets count; the others are `refused_facts`.
    pub fn from_record_checked(id: &str, record: &Record, check: &dyn FactCheck) -> Customer {
        let mut conflicts = Vec::new();
        let mut header = BTreeMap::new();
        for name in HEADER_FIELDS {
            if let Some(v) = record.fields.get(*name) {
                if !v.conflicts.is_empty() {
                    conflicts.push(FieldConflict {
                        field: name.to_string(),
                        values: v.conflicts.clone(),
                    });
                }
                header.insert(name.to_string(), v.value.clone());
            }
        }
        let mut collections = BTreeMap::new();
        for (collection, _) in COLLECTIONS {
            let items = record
                .collection(collection)
                .map(|(item_id, fields)| {
                    let mut item: BTreeMap<String, String> = BTreeMap::new();
                    item.insert("id".into(), item_id.clone());
                    for (name, v) in fields {
                        if !v.conflicts.is_empty() {
                            conflicts.push(FieldConflict {
                                field: format!("{collection}.{item_id}.{name}"),
                                values: v.conflicts.clone(),
                            });
                        }
                        item.insert(name.clone(), v.value.clone());
                    }
                    item
                })
                .collect();
            collections.insert(collection.to_string(), items);
        }
        let checked = CheckedFacts::of(id, record, check);
        let unattested = super::attest::unattested(record, &checked.facts, &ATTEST_RULES);
        Customer {
            id: id.to_string(),
            header,
            collections,
            conflicts,
            facts: checked.facts,
            refused_facts: checked.refused_facts,
            unattested,
        }
    }

    /// Whether the value at `path` (`credit_limit`, `contacts.<id>.mobile`) is one no
    /// authorised node signed.
    pub fn is_unattested(&self, path: &str) -> bool {
        self.unattested.iter().any(|u| u.path == path)
    }

    /// The archive's anomalies: facts that do not count (越权或伪造的记录) and values no
    /// counted write vouches for (未经授权的字段修改).
    pub fn anomalies(&self) -> Vec<super::anomaly::Anomaly> {
        let mut found = super::anomaly::unauthorized(&self.refused_facts);
        found.extend(super::anomaly::unattested(
            &format!("客户 {}", self.get("name")),
            &self.unattested,
        ));
        super::anomaly::with_resolutions(found, &self.facts)
    }

    pub fn get(&self, name: &str) -> &str {
        self.header.get(name).map(String::as_str).unwrap_or("")
    }

    /// The credit finance may extend to this customer (0 when the archive names none).
    pub fn credit_limit(&self) -> rust_decimal::Decimal {
        self.get("credit_limit").parse().unwrap_or_default()
    }

    /// The invoice titles (开票名称) of the archive's invoice profiles.
    pub fn invoice_titles(&self) -> Vec<&str> {
        self.collections
            .get("invoice_profiles")
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("title").map(|t| t.trim()))
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Frozen archives take no new order; a merged one is frozen and names its survivor.
    pub fn refuses_orders(&self) -> bool {
        self.get("status") == "frozen" || !self.get("merged_into").is_empty()
    }

    /// Every phone number in the archive, for search and duplicate detection.
    pub fn phones(&self) -> Vec<&str> {
        self.collections
            .values()
            .flatten()
            .flat_map(|item| {
                ["mobile", "landline", "phone"]
                    .into_iter()
                    .filter_map(|k| item.get(k).map(String::as_str))
            })
            .filter(|p| !p.is_empty())
            .collect()
    }
}
