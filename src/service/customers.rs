//! Customer archive use cases: create, change fields, read, search.

use super::{new_id, BackOffice, ServiceError, User};
use crate::domain::attest::Attestation;
use crate::domain::customer::{Customer, CustomerInput, CUSTOMER_KIND};
use crate::domain::facts::FactBody;
use crate::domain::record::{Record, RecordOp};
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;
use crate::service::lifecycle::{public_anomaly_id, InboxAnomaly};
use crate::views::{self, search_key, CustomerSummary};

/// Public ids of customer archives' anomalies start `archive-` (duplicates' start
/// `customers-`).
pub const CUSTOMER_ANOMALY_PREFIX: &str = "archive";

/// A page of results and the cursor that continues after it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Up to `limit` of the (index key, item) candidates, in order; the cursor is the last key
    /// taken, given only when more candidates remain.
    pub fn take(
        limit: usize,
        candidates: impl Iterator<Item = Result<(Vec<u8>, T), ServiceError>>,
    ) -> Result<Page<T>, ServiceError> {
        let mut items = Vec::new();
        let mut last_key = None;
        for candidate in candidates {
            let (key, item) = candidate?;
            if items.len() == limit {
                return Ok(Page {
                    items,
                    next_cursor: last_key.map(hex::encode),
                });
            }
            items.push(item);
            last_key = Some(key);
        }
        Ok(Page {
            items,
            next_cursor: None,
        })
    }
}

impl BackOffice {
    /// A document's summary as the projector wrote it (postcard: a third of the JSON's size on
    /// disk); None if missing or from another version.
    pub fn summary_of<T: serde::de::DeserializeOwned>(
        &self,
        doc: &str,
    ) -> Result<Option<T>, ServiceError> {
        Ok(self
            .store
            .summary(doc)?
            .and_then(|bytes| postcard::from_bytes(&bytes).ok()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    pub q: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    /// A dealer's stores (经销商 → 专卖店).
    pub dealer: Option<String>,
    pub cursor: Option<Vec<u8>>,
    pub limit: usize,
}

impl BackOffice {
    pub fn create_customer(
        &self,
        user: &User,
        input: CustomerInput,
    ) -> Result<Customer, ServiceError> {
        user.require(Action::EditCustomer)?;
        input.validate(true)?;
        let id = new_id();
        if let Some(dealer) = input.header.get("dealer") {
            let kind = input.header.get("kind").map(String::as_str).unwrap_or("");
            self.check_dealer(&id, kind, dealer)?;
        }
        let ops = self.archive_write(user, &id, None, input.into_ops(true, new_id))?;
        let written = self
            .store
            .create(&id, &user.author("create customer"), &ops)?;
        Ok(self.customer_from(&id, &written.record))
    }

    pub fn patch_customer(
        &self,
        user: &User,
        id: &str,
        input: CustomerInput,
    ) -> Result<Customer, ServiceError> {
        user.require(Action::EditCustomer)?;
        input.validate(false)?;
        let mut fields: Vec<String> = input
            .header
            .keys()
            .cloned()
            .chain(input.collections.keys().cloned())
            .collect();
        for (collection, ids) in &input.remove {
            fields.extend(ids.iter().map(|item| format!("-{collection}.{item}")));
        }
        let written = self.store.update(
            id,
            &user.author(format!("change customer: {}", fields.join(", "))),
            |current| match current {
                Some(record) if record.kind == CUSTOMER_KIND => {
                    // Checked when the change touches the link: an unrelated change (a phone)
                    // is not refused because the dealer's archive changed since.
                    let touches_link =
                        input.header.contains_key("kind") || input.header.contains_key("dealer");
                    let kind = input
                        .header
                        .get("kind")
                        .cloned()
                        .or_else(|| record.field("kind").map(str::to_string))
                        .unwrap_or_default();
                    let dealer = input
                        .header
                        .get("dealer")
                        .cloned()
                        .or_else(|| record.field("dealer").map(str::to_string))
                        .unwrap_or_default();
                    if touches_link {
                        self.check_dealer(id, &kind, &dealer)?;
                    }
                    // Items named by id must exist: a typo must not create an empty contact.
                    for (collection, items) in &input.collections {
                        for item in items {
                            if let Some(item_id) = item.get("id") {
                                let known = record
                                    .collections
                                    .get(collection)
                                    .is_some_and(|c| c.contains_key(item_id));
                                if !known {
                                    // The archive as this node holds it has no such item: a
                                    // rule on its state (409), not a malformed field.
                                    return Err(crate::service::lifecycle::rule(
                                        &format!("{collection} 中没有这一项: {item_id}"),
                                        format!("no item {item_id} in {collection}"),
                                    ));
                                }
                            }
                        }
                    }
                    // Items to remove must be there: an unknown id is named (422), so a typo
                    // or an item another node removed first is not taken for done.
                    let mut errors = FieldErrors::default();
                    for (collection, ids) in &input.remove {
                        for (i, item_id) in ids.iter().enumerate() {
                            let known = record
                                .collections
                                .get(collection)
                                .is_some_and(|c| c.contains_key(item_id));
                            if !known {
                                errors.push(
                                    format!("remove.{collection}[{i}]"),
                                    format!("{collection} 中没有这一项 / no item {item_id} in {collection}"),
                                );
                            }
                        }
                    }
                    errors.into_result()?;
                    self.archive_write(user, id, Some(record), input.into_ops(false, new_id))
                }
                _ => Err(ServiceError::NotFound(format!("customer {id}"))),
            },
        )?;
        Ok(self.customer_from(id, &written.record))
    }

    /// `ops` writing archive `id` (None: a new one), with the signed fact that vouches for the
    /// values they write (`ArchiveWritten`, `domain::attest`). The first signed write of an
    /// archive written before this check vouches for every value it then holds.
    pub(crate) fn archive_write(
        &self,
        user: &User,
        id: &str,
        current: Option<&Record>,
        mut ops: Vec<RecordOp>,
    ) -> Result<Vec<RecordOp>, ServiceError> {
        let mut fields: Vec<String> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        for op in &ops {
            let name = match op {
                RecordOp::SetField { name, .. } => name,
                RecordOp::SetItemField { collection, .. } => collection,
                RecordOp::RemoveItem { collection, item } => {
                    removed.push(format!("{collection}.{item}"));
                    collection
                }
                _ => continue,
            };
            if !fields.contains(name) {
                fields.push(name.clone());
            }
        }
        let attestation = match current {
            Some(record)
                if !self
                    .customer_from(id, record)
                    .facts
                    .iter()
                    .any(|f| matches!(f.body, FactBody::ArchiveWritten { .. })) =>
            {
                Attestation::of_record(&record.with_ops(&ops))
            }
            _ => Attestation::of_ops(&ops),
        };
        ops.push(self.attested_fact_op(
            user,
            id,
            FactBody::ArchiveWritten { fields, removed },
            Some(&attestation),
        )?);
        Ok(ops)
    }

    /// The archive in `record` with only the facts that count, as `order_from` reads orders.
    pub fn customer_from(&self, id: &str, record: &Record) -> Customer {
        Customer::from_record_checked(id, record, &*self.authority())
    }

    /// A store may belong to a dealer (经销商 → 专卖店): the dealer named must be another archive
    /// of kind dealer, as this node holds it, and only a store may name one. Empty detaches.
    fn check_dealer(&self, id: &str, kind: &str, dealer: &str) -> Result<(), ServiceError> {
        if dealer.is_empty() {
            return Ok(());
        }
        if kind != "store" {
            return Err(crate::service::lifecycle::rule(
                "只有专卖店可以归属经销商",
                "only a store (kind store) may belong to a dealer",
            ));
        }
        let is_dealer = dealer != id
            && self
                .customer(dealer)
                .is_ok_and(|d| d.get("kind") == "dealer" && d.get("merged_into").is_empty());
        if !is_dealer {
            return Err(crate::service::lifecycle::rule(
                &format!("没有这个经销商档案: {dealer}"),
                format!("no dealer archive {dealer} on this node"),
            ));
        }
        Ok(())
    }

    pub fn customer(&self, id: &str) -> Result<Customer, ServiceError> {
        match self.store.record(id)? {
            Some(record) if record.kind == CUSTOMER_KIND => Ok(self.customer_from(id, &record)),
            _ => Err(ServiceError::NotFound(format!("customer {id}"))),
        }
    }

    pub fn customer_exists(&self, id: &str) -> Result<bool, ServiceError> {
        Ok(self
            .store
            .doc_meta(id)?
            .is_some_and(|m| m.kind == CUSTOMER_KIND))
    }

    /// Search by name (any part), pinyin initials (any part), code or phone (prefix), then filter
    /// by city and region.
    pub fn search_customers(
        &self,
        query: &CustomerQuery,
    ) -> Result<Page<CustomerSummary>, ServiceError> {
        let limit = query.limit.clamp(1, 500);
        let (index, value) = match (&query.q, &query.city, &query.region) {
            _ if query.dealer.is_some() => (
                views::CUSTOMER_DEALER,
                format!("{}|", query.dealer.as_deref().unwrap_or_default()),
            ),
            (Some(q), _, _) if !q.trim().is_empty() => (views::CUSTOMER_SEARCH, search_key(q)),
            (_, Some(city), _) => (views::CUSTOMER_CITY, format!("{}\0", search_key(city))),
            (_, _, Some(region)) => (views::CUSTOMER_REGION, format!("{}\0", search_key(region))),
            _ => (views::CUSTOMER_NAME, String::new()),
        };
        let mut seen = std::collections::HashSet::new();
        let matches = |summary: &CustomerSummary| {
            query
                .city
                .as_ref()
                .is_none_or(|c| search_key(&summary.city) == search_key(c))
                && query
                    .region
                    .as_ref()
                    .is_none_or(|r| search_key(&summary.region) == search_key(r))
        };
        let candidates = self
            .store
            .scan_index(index, &value, query.cursor.as_deref(), false)
            .filter_map(|entry| {
                let (key, doc) = match entry {
                    Ok(found) => found,
                    Err(e) => return Some(Err(e.into())),
                };
                // A name matches by several of its suffixes; list the customer once.
                if !seen.insert(doc.clone()) {
                    return None;
                }
                match self.summary_of::<CustomerSummary>(&doc) {
                    Ok(Some(summary)) => matches(&summary).then_some(Ok((key, summary))),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                }
            });
        Page::take(limit, candidates)
    }
}

impl BackOffice {
    /// The other archives sharing an identity key (code, tax id, mobile, name and city) with
    /// this customer: the duplicates the anomaly inbox merges. Reads only this customer's keys
    /// of the `customer_identity` index.
    pub fn duplicates_of(&self, customer: &Customer) -> Result<Vec<CustomerSummary>, ServiceError> {
        let prefix_len = crate::store::keys::index_prefix(views::CUSTOMER_IDENTITY).len();
        let mut others = std::collections::BTreeSet::new();
        for value in views::identity_keys(customer) {
            for entry in self
                .store
                .scan_index(views::CUSTOMER_IDENTITY, &value, None, false)
            {
                let (key, doc) = entry?;
                // The scan is by prefix: `code:ab` must not find `code:abc`.
                let exact = key.len() == prefix_len + value.len() + 1 + doc.len();
                if exact && doc != customer.id {
                    others.insert(doc);
                }
            }
        }
        let mut found = Vec::with_capacity(others.len());
        for doc in others {
            if let Some(summary) = self.summary_of::<CustomerSummary>(&doc)? {
                found.push(summary);
            }
        }
        Ok(found)
    }
}

impl BackOffice {
    /// The open anomalies of customer archives (越权或伪造的记录, 未经授权的字段修改), read from
    /// the `customer_anomalies` index: only those archives are loaded. Each is removed by a
    /// clerk's signed write of the value (`patch_customer`), not by a text.
    pub fn customer_anomalies(&self) -> Result<Vec<InboxAnomaly>, ServiceError> {
        let mut out = Vec::new();
        for entry in self
            .store
            .scan_index(views::CUSTOMER_ANOMALIES, "", None, false)
        {
            let (_, doc) = entry?;
            let Ok(customer) = self.customer(&doc) else {
                continue;
            };
            for a in customer.anomalies() {
                if a.resolution.is_some() {
                    continue;
                }
                out.push(InboxAnomaly {
                    id: public_anomaly_id(CUSTOMER_ANOMALY_PREFIX, &format!("{doc}:{}", a.id)),
                    order_id: None,
                    order_number: None,
                    complaint: None,
                    customers: vec![doc.clone()],
                    orders: Vec::new(),
                    anomaly: a,
                });
            }
        }
        Ok(out)
    }
}
