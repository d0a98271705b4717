//! What the store indexes about each document: the projector that turns an order or a customer
//! into index entries and a summary, so lists and reports never load the documents themselves.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::anomaly;
use crate::domain::complaint::{Complaint, COMPLAINT_KIND};
use crate::domain::contract::{Contract, CONTRACT_KIND};
use crate::domain::customer::{Customer, CUSTOMER_KIND};
use crate::domain::delay;
use crate::domain::facts::FactBody;
use crate::domain::order::{Order, Status, ORDER_KIND};
use crate::domain::prospect::{Prospect, ProspectSummary, PROSPECT_KIND};
use crate::domain::record::Record;
use crate::store::{Projection, Projector};

pub mod complaints;
pub mod contracts;
pub mod tallies;

// Index names.

/// Indexes earlier versions wrote and this one does not; their entries are removed at open.
/// `order_created` (every order by date) is served by merging the status index's ranges.
pub const RETIRED_INDEXES: &[&str] = &["order_created"];
/// Every order's `status|created`: lists by status, and (merged over the statuses) all orders
/// newest first.
pub const ORDER_STATUS: &str = "order_status";
pub const ORDER_CUSTOMER: &str = "order_customer";
pub const ORDER_STORE: &str = "order_store";
pub const ORDER_ANOMALIES: &str = "order_anomalies";
pub const ORDER_RETURN: &str = "order_return";
/// Every return request by where it stands: `state|requested_at|request`
/// (`domain::returns`), so each state's queue (the VP's 待审批, the warehouse's 退货待收) is a
/// range of this index.
pub const RETURN_STATE: &str = "return_state";
pub const CUSTOMER_SEARCH: &str = "customer_search";
/// Prospects not yet customers with a next follow-up date: `date|name`, so the follow-ups due
/// today, this week or overdue are ranges of it.
pub const PROSPECT_DUE: &str = "prospect_due";
pub const CUSTOMER_CITY: &str = "customer_city";
pub const CUSTOMER_REGION: &str = "customer_region";
pub const CUSTOMER_NAME: &str = "customer_name";
/// Stores by the dealer they belong to: `dealer id|name`, so a dealer's stores are one range.
pub const CUSTOMER_DEALER: &str = "customer_dealer";
/// Customer archives with open anomalies (`anomalies > 0` in their summary), for the inbox.
pub const CUSTOMER_ANOMALIES: &str = "customer_anomalies";
/// Documents of kinds this version does not know, so a newer peer's documents stay findable.
pub const KIND: &str = "kind";
/// Report rows (see `domain::report`), one index entry each, the figures inside the key:
/// `date|sku|quantity|amount|customer|store|salesperson|number`.
pub const REPORT_SHIPPED: &str = "rpt_shipped";

/// One `rpt_shipped` value, its fields borrowed from the stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippedEntry<'a> {
    pub date: &'a str,
    pub sku: &'a str,
    pub quantity: &'a str,
    pub amount: &'a str,
    pub customer: &'a str,
    pub store: &'a str,
    pub salesperson: &'a str,
    pub number: &'a str,
}

impl<'a> ShippedEntry<'a> {
    /// None for a value that does not have the eight fields.
    pub fn parse(value: &'a str) -> Option<Self> {
        let mut fields = value.split('|');
        let mut next = || fields.next();
        Some(ShippedEntry {
            date: next()?,
            sku: next()?,
            quantity: next()?,
            amount: next()?,
            customer: next()?,
            store: next()?,
            salesperson: next()?,
            number: next()?,
        })
    }
}
/// `date|amount|customer|store|salesperson|number|adjusts`: `adjusts` is empty for the value
/// at 核单, or the day a later change order's adjustment (调整) refers to.
pub const REPORT_INTAKE: &str = "rpt_intake";
/// `end (or 9999-12-31)|start|amount|number`, keyed by end so a day's open orders are those
/// whose span ends after it.
pub const REPORT_OPEN: &str = "rpt_open";
pub const OPEN_FOREVER: &str = "9999-12-31";
/// Bank references (流水号) of an order's live payments, `ref\u{1}payment`: one reference once
/// in the company, except on the allocations of one payment over several orders, which share
/// the payment (its `payment_id`; a payment of one order is its fact id).
pub const PAYMENT_BANK_REF: &str = "payment_bank_ref";
/// Separates the bank reference from the payment in a `payment_bank_ref` value.
pub const BANK_REF_SEP: char = '\u{1}';
/// Receivables (回款, `domain::receivable`): one entry per order with money events, not
/// cancelled: `customer|state|salesperson|number|ledger`, so receivables, their aging and the
/// reminder queue are read from here (and customer summaries for terms and region). `state` is
/// `O` and the day of the oldest shipment still open while the order owes (so a customer's
/// entries oldest-due first are one range: the 催款 queue's first orders), or `S` and the day
/// of its last money event once payments cover every shipment (settled: its figures no longer
/// change after that day). What both kinds add up to per customer is kept in tallies
/// (`views::tallies`), so the receivables page and the home counts read sums and only the
/// entries they list.
pub const REPORT_RECEIVABLE: &str = "rpt_receivable";
/// Open receivable entries again, after the day of their last money event
/// (`last|<rpt_receivable value>`): the open tallies count each open order as of its last
/// event, so a read as of an earlier day takes the orders after it from here, one by one.
pub const REPORT_RECEIVABLE_LAST: &str = "rpt_receivable_last";

/// One `rpt_receivable` value, its fields borrowed from the stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivableEntry<'a> {
    pub customer: &'a str,
    /// `O` or `S`, and a compact day (`20261203`).
    pub state: &'a str,
    pub salesperson: &'a str,
    pub number: &'a str,
    pub ledger: &'a str,
}

impl<'a> ReceivableEntry<'a> {
    pub fn parse(value: &'a str) -> Option<Self> {
        let mut fields = value.splitn(5, '|');
        Some(ReceivableEntry {
            customer: fields.next()?,
            state: fields.next()?,
            salesperson: fields.next()?,
            number: fields.next()?,
            ledger: fields.next()?,
        })
    }

    /// Whether the order may still owe.
    pub fn is_open(&self) -> bool {
        self.state.starts_with(OPEN_MARK)
    }

    /// The `state` of an entry settled on `day`: entries of one customer settled after a day
    /// are one range of the index.
    pub fn settled_state(day: chrono::NaiveDate) -> String {
        format!("{SETTLED_MARK}{}", compact_day(day))
    }

    /// The `state` of an entry owing since a shipment on `day`.
    pub fn open_state(day: chrono::NaiveDate) -> String {
        format!("{OPEN_MARK}{}", compact_day(day))
    }
}

/// Marks an open receivable entry's state.
pub const OPEN_MARK: char = 'O';
/// Marks a settled receivable entry's state.
pub const SETTLED_MARK: char = 'S';

/// `20261203`: days in receivable states sort as text.
pub fn compact_day(day: chrono::NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

/// The `payment_bank_ref` value of a live payment.
pub fn bank_ref_value(bank_ref: &str, payment: &str) -> String {
    format!(
        "{}{BANK_REF_SEP}{payment}",
        search_key(bank_ref).replace(BANK_REF_SEP, "")
    )
}
/// Invoice numbers of an order's live invoices (a number on two orders is an anomaly until one
/// is voided) and of every invoice ever issued (a number is never given twice).
pub const INVOICE_NUMBER: &str = "invoice_number";
pub const INVOICE_NUMBER_USED: &str = "invoice_number_used";
/// Orders still to ship with a promised date: `promised|revisions|acknowledged(0/1)`, the date
/// the order is held to now (`domain::delay`), so the late list and the VP's queue are read
/// from here without loading orders.
pub const ORDER_DUE: &str = "order_due";

/// One `order_due` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueEntry {
    pub promised: chrono::NaiveDate,
    pub revisions: usize,
    pub acknowledged: bool,
}

impl DueEntry {
    pub fn of(schedule: &delay::Schedule) -> Option<DueEntry> {
        Some(DueEntry {
            promised: schedule.current?,
            revisions: schedule.revisions,
            acknowledged: schedule.acknowledged,
        })
    }

    pub fn value(&self) -> String {
        format!(
            "{}|{:03}|{}",
            self.promised,
            self.revisions,
            u8::from(self.acknowledged)
        )
    }

    /// None for a value this version did not write.
    pub fn parse(value: &str) -> Option<DueEntry> {
        let mut fields = value.split('|');
        Some(DueEntry {
            promised: fields.next()?.parse().ok()?,
            revisions: fields.next()?.parse().ok()?,
            acknowledged: fields.next()? == "1",
        })
    }

    pub fn schedule(&self) -> delay::Schedule {
        delay::Schedule {
            original: None,
            current: Some(self.promised),
            revisions: self.revisions,
            acknowledged: self.acknowledged,
        }
    }
}

/// Bumped whenever what the projector writes changes (index values, summary fields, status
/// names): a store projected by an older version is projected again when it opens.
pub const PROJECTION_VERSION: u32 = 11;
/// Keys on which two customer archives are the same customer: tax id, mobile, name and city.
pub const CUSTOMER_IDENTITY: &str = "customer_identity";

/// An order as lists show it, kept beside the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderSummary {
    pub id: String,
    pub number: String,
    pub customer_id: String,
    pub project: String,
    pub store: String,
    pub salesperson: String,
    pub status: Status,
    pub created_at: String,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub gross: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub paid: Decimal,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub shipped_value: Decimal,
    pub open_anomalies: usize,
    pub conflicts: usize,
    /// The latest payment reminder (催款), if any.
    pub last_reminder: Option<LastReminder>,
}

/// The latest 催款 on an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastReminder {
    pub at: String,
    pub user: String,
    pub note: String,
    pub next_date: Option<chrono::NaiveDate>,
}

impl OrderSummary {
    pub fn of(order: &Order) -> OrderSummary {
        OrderSummary {
            id: order.id.clone(),
            number: order.get("number").to_string(),
            customer_id: order.get("customer_id").to_string(),
            project: order.get("project").to_string(),
            store: order.get("store").to_string(),
            salesperson: order.get("salesperson").to_string(),
            status: order.status(),
            created_at: order.get("created_at").to_string(),
            gross: order.totals().gross,
            paid: order.paid(),
            shipped_value: order.shipped_value(),
            open_anomalies: anomaly::open(order).len(),
            conflicts: order.conflicts.len(),
            last_reminder: order.facts.iter().rev().find_map(|f| match &f.body {
                FactBody::PaymentReminder { note, next_date } => Some(LastReminder {
                    at: f.at.to_rfc3339(),
                    user: f.user.clone(),
                    note: note.clone(),
                    next_date: *next_date,
                }),
                _ => None,
            }),
        }
    }
}

/// A customer as search results show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerSummary {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub city: String,
    pub region: String,
    pub channel: String,
    pub status: String,
    /// 付款条件 as typed (`domain::receivable::terms_days` reads it).
    pub payment_terms: String,
    /// The dealer archive this store belongs to, empty if none.
    pub dealer: String,
    /// Open anomalies of the archive (越权或伪造的记录, 未经授权的字段修改).
    #[serde(default)]
    pub anomalies: usize,
}

/// Lower-cased text used for search keys; index values must not contain the NUL separator.
pub fn search_key(s: &str) -> String {
    s.trim().to_lowercase().replace('\0', "")
}

/// Readings of a name's initials an archive is indexed under, at most this many (a polyphone
/// doubles them).
pub const INITIALS_READINGS: usize = 4;

/// The pinyin initials of a name, lower case: 北京鑫华家具 is `bjxhjj`. A polyphone gives one
/// spelling per initial it may take (重庆: `zq`, `cq`), the commonest reading first, at most
/// `INITIALS_READINGS`; letters and digits stand for themselves, anything else is skipped.
pub fn pinyin_initials(name: &str) -> Vec<String> {
    use pinyin::ToPinyinMulti;
    let mut spellings = vec![String::new()];
    for c in name.chars() {
        let mut initials: Vec<char> = Vec::new();
        if let Some(readings) = c.to_pinyin_multi() {
            for reading in readings {
                if let Some(first) = reading.first_letter().chars().next() {
                    if !initials.contains(&first) {
                        initials.push(first);
                    }
                }
            }
        } else if c.is_ascii_alphanumeric() {
            initials.push(c.to_ascii_lowercase());
        }
        if initials.is_empty() {
            continue;
        }
        spellings = spellings
            .iter()
            .flat_map(|s| {
                initials.iter().map(move |i| {
                    let mut next = s.clone();
                    next.push(*i);
                    next
                })
            })
            .take(INITIALS_READINGS)
            .collect();
    }
    spellings.retain(|s| !s.is_empty());
    spellings
}

#[derive(Default)]
pub struct BackOfficeProjector {
    /// Which facts count (`authority`): the same check the use cases make.
    pub authority: crate::authority::AuthorityHandle,
}

impl Projector for BackOfficeProjector {
    fn project(&self, doc_id: &str, record: &Record) -> Projection {
        match record.kind.as_str() {
            ORDER_KIND => project_order(&Order::from_record_checked(
                doc_id,
                record,
                &*self.authority.get(),
            )),
            CUSTOMER_KIND => project_customer(&Customer::from_record_checked(
                doc_id,
                record,
                &*self.authority.get(),
            )),
            PROSPECT_KIND => project_prospect(&Prospect::from_record_checked(
                doc_id,
                record,
                &*self.authority.get(),
            )),
            COMPLAINT_KIND => complaints::project(&Complaint::from_checked(
                doc_id,
                record,
                crate::domain::facts::CheckedFacts::of(doc_id, record, &*self.authority.get()),
            )),
            CONTRACT_KIND => contracts::project(&Contract::from_checked(
                doc_id,
                record,
                crate::domain::facts::CheckedFacts::of(doc_id, record, &*self.authority.get()),
            )),
            other => Projection {
                index: vec![(KIND, other.to_string())],
                summary: Vec::new(),
            },
        }
    }

    fn tallied(&self) -> &'static [&'static str] {
        tallies::TALLIED
    }

    fn tally(&self, index: &str, values: &[&str]) -> Vec<crate::store::Contribution> {
        tallies::tally(index, values)
    }
}

fn project_order(order: &Order) -> Projection {
    let summary = OrderSummary::of(order);
    let created = summary.created_at.clone();
    let mut index = vec![
        (
            ORDER_STATUS,
            format!("{}|{created}", summary.status.as_str()),
        ),
        (ORDER_CUSTOMER, format!("{}|{created}", summary.customer_id)),
        (
            ORDER_STORE,
            format!("{}|{created}", search_key(&summary.store)),
        ),
    ];
    let contract = order.get("contract").trim();
    if !contract.is_empty() {
        index.push((
            contracts::ORDER_CONTRACT,
            format!("{}|{created}", field(contract)),
        ));
        if summary.status != Status::Cancelled {
            index.push((
                contracts::CONTRACT_LEDGER,
                format!(
                    "{}|{}|{}",
                    field(contract),
                    contracts::LEDGER_ORDER,
                    summary.gross
                ),
            ));
        }
    }
    if summary.open_anomalies > 0 {
        index.push((ORDER_ANOMALIES, created));
    }
    if delay::still_to_ship(summary.status) {
        if let Some(due) = DueEntry::of(&delay::schedule(order)) {
            index.push((ORDER_DUE, due.value()));
        }
    }
    for case in crate::domain::returns::return_cases(order) {
        index.push((
            RETURN_STATE,
            format!(
                "{}|{}|{}",
                case.state.as_str(),
                case.requested_at.to_rfc3339(),
                case.id
            ),
        ));
    }
    for fact in &order.facts {
        match &fact.body {
            FactBody::ReturnRequested { .. } => index.push((ORDER_RETURN, fact.id.clone())),
            FactBody::Invoice { number, .. } => {
                index.push((INVOICE_NUMBER_USED, search_key(number)));
            }
            _ => {}
        }
    }
    for payment in order.live_payments() {
        if let FactBody::Payment {
            bank_ref,
            payment_id,
            ..
        } = &payment.body
        {
            if !bank_ref.trim().is_empty() {
                let key = payment_id.as_deref().unwrap_or(&payment.id);
                index.push((PAYMENT_BANK_REF, bank_ref_value(bank_ref, key)));
            }
        }
    }
    for invoice in order.live_invoices() {
        if let FactBody::Invoice { number, .. } = &invoice.body {
            index.push((INVOICE_NUMBER, search_key(number)));
        }
    }
    // Two payments (or invoices) of one order with the same value give one entry; the order's
    // own anomalies report that case.
    index.sort();
    index.dedup();
    index.extend(report_entries(order, &summary));
    Projection {
        index,
        summary: postcard::to_allocvec(&summary).unwrap_or_default(),
    }
}

fn project_prospect(prospect: &Prospect) -> Projection {
    let summary = ProspectSummary::of(prospect);
    // Every prospect keeps its `kind` entry (all prospects, newest first by id).
    let mut index = vec![(KIND, PROSPECT_KIND.to_string())];
    if let (Some(next), true) = (summary.next_follow_up, summary.converted_to.is_empty()) {
        index.push((
            PROSPECT_DUE,
            format!("{next}|{}", search_key(&summary.name)),
        ));
    }
    Projection {
        index,
        summary: postcard::to_allocvec(&summary).unwrap_or_default(),
    }
}

fn project_customer(customer: &Customer) -> Projection {
    let summary = CustomerSummary {
        id: customer.id.clone(),
        code: customer.get("code").to_string(),
        name: customer.get("name").to_string(),
        kind: customer.get("kind").to_string(),
        city: customer.get("city").to_string(),
        region: customer.get("region").to_string(),
        channel: customer.get("channel").to_string(),
        status: customer.get("status").to_string(),
        payment_terms: customer.get("payment_terms").to_string(),
        dealer: customer.get("dealer").to_string(),
        anomalies: customer
            .anomalies()
            .iter()
            .filter(|a| a.resolution.is_none())
            .count(),
    };
    let mut index = vec![
        (CUSTOMER_NAME, search_key(&summary.name)),
        (CUSTOMER_CITY, search_key(&summary.city)),
        (CUSTOMER_REGION, search_key(&summary.region)),
    ];
    if summary.anomalies > 0 {
        index.push((CUSTOMER_ANOMALIES, String::new()));
    }
    // Search terms, each matched by prefix: every suffix of the name (so any part of a Chinese
    // name finds it), every suffix of its pinyin initials (bjxh, xh for 北京鑫华), the code and
    // every phone number.
    let name = search_key(&summary.name);
    let mut terms: Vec<String> = name
        .char_indices()
        .map(|(at, _)| name[at..].to_string())
        .collect();
    for initials in pinyin_initials(&summary.name) {
        terms.extend(
            initials
                .char_indices()
                .map(|(at, _)| initials[at..].to_string())
                .filter(|t| t.len() >= 2 || t.len() == initials.len()),
        );
    }
    terms.push(search_key(&summary.code));
    terms.extend(customer.phones().into_iter().map(search_key));
    terms.sort();
    terms.dedup();
    for term in terms.into_iter().filter(|t| !t.is_empty()) {
        index.push((CUSTOMER_SEARCH, term));
    }
    if customer.get("merged_into").is_empty() {
        for key in identity_keys(customer) {
            index.push((CUSTOMER_IDENTITY, key));
        }
        if !summary.dealer.is_empty() {
            index.push((
                CUSTOMER_DEALER,
                format!("{}|{}", summary.dealer, search_key(&summary.name)),
            ));
        }
    }
    Projection {
        index,
        summary: postcard::to_allocvec(&summary).unwrap_or_default(),
    }
}

/// Attachment hashes a document refers to (return photos on an order, a complaint's photos), so
/// sync can fetch them too.
pub fn attachments_of(record: &Record) -> Vec<String> {
    if record.kind == COMPLAINT_KIND {
        return crate::domain::complaint::photos_of(record.field("photos").unwrap_or_default());
    }
    if record.kind == CONTRACT_KIND {
        // Every version's attachments: earlier versions stay readable.
        let mut hashes =
            crate::domain::complaint::photos_of(record.field("attachments").unwrap_or_default());
        for json in record.facts.values() {
            if let Ok(crate::domain::facts::Fact {
                body: FactBody::ContractRevised { previous, .. },
                ..
            }) = serde_json::from_str(json)
            {
                hashes.extend(previous.attachments);
            }
        }
        hashes.sort();
        hashes.dedup();
        return hashes;
    }
    if record.kind != ORDER_KIND {
        return Vec::new();
    }
    record
        .facts
        .values()
        .filter_map(|json| serde_json::from_str::<crate::domain::facts::Fact>(json).ok())
        .flat_map(|fact| match fact.body {
            FactBody::ReturnRequested { photos, .. } => photos,
            _ => Vec::new(),
        })
        .collect()
}

/// What makes two archives the same customer (DOMAIN.md): the same code, tax id, or mobile, or
/// name and city.
pub fn identity_keys(customer: &Customer) -> Vec<String> {
    let mut keys = Vec::new();
    let code = search_key(customer.get("code"));
    if !code.is_empty() {
        keys.push(format!("code:{code}"));
    }
    let tax_id = search_key(customer.get("tax_id"));
    if !tax_id.is_empty() {
        keys.push(format!("tax:{tax_id}"));
    }
    for contact in customer.collections.get("contacts").into_iter().flatten() {
        if let Some(mobile) = contact
            .get("mobile")
            .map(|m| search_key(m))
            .filter(|m| !m.is_empty())
        {
            keys.push(format!("mobile:{mobile}"));
        }
    }
    let (name, city) = (
        search_key(customer.get("name")),
        search_key(customer.get("city")),
    );
    if !name.is_empty() {
        keys.push(format!("name:{name}|{city}"));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Text safe inside a `|`-separated index value.
fn field(s: &str) -> String {
    s.replace(['|', '\0'], " ")
}

fn report_entries(order: &Order, summary: &OrderSummary) -> Vec<(&'static str, String)> {
    let rows = crate::domain::report::rows_of(order);
    let (customer, store, salesperson, number) = (
        field(&summary.customer_id),
        field(&summary.store),
        field(&summary.salesperson),
        field(&summary.number),
    );
    let mut out = Vec::new();
    if summary.status != Status::Cancelled {
        let ledger = crate::domain::receivable::Ledger::with_shipped(order, &rows.shipped);
        if !ledger.is_empty() {
            let value = |state: &str| {
                format!(
                    "{customer}|{state}|{salesperson}|{number}|{}",
                    ledger.encode()
                )
            };
            match ledger.settled_on() {
                Some(day) => {
                    out.push((
                        REPORT_RECEIVABLE,
                        value(&ReceivableEntry::settled_state(day)),
                    ));
                }
                None => {
                    let (_, open) = ledger.open_as_of(chrono::NaiveDate::MAX);
                    let since = open.first().map(|(day, _)| *day).unwrap_or_default();
                    let entry = value(&ReceivableEntry::open_state(since));
                    let last = ledger
                        .events
                        .iter()
                        .map(|e| e.date)
                        .max()
                        .unwrap_or_default();
                    out.push((REPORT_RECEIVABLE_LAST, format!("{last}|{entry}")));
                    out.push((REPORT_RECEIVABLE, entry));
                }
            }
        }
    }
    for r in rows.shipped {
        out.push((
            REPORT_SHIPPED,
            format!(
                "{}|{}|{}|{}|{customer}|{store}|{salesperson}|{number}",
                r.date,
                field(&r.sku),
                r.quantity,
                r.amount
            ),
        ));
    }
    for row in rows.intake {
        let adjusts = row.adjusts.map(|d| d.to_string()).unwrap_or_default();
        out.push((
            REPORT_INTAKE,
            format!(
                "{}|{}|{customer}|{store}|{salesperson}|{number}|{adjusts}",
                row.date, row.amount
            ),
        ));
    }
    for span in rows.open {
        let end = span
            .end
            .map(|d| d.to_string())
            .unwrap_or_else(|| OPEN_FOREVER.to_string());
        out.push((
            REPORT_OPEN,
            format!("{end}|{}|{}|{number}", span.start, span.amount),
        ));
    }
    out
}

#[cfg(test)]
mod initials_tests {
    use super::pinyin_initials;

    #[test]
    fn a_name_is_found_by_its_pinyin_initials() {
        assert_eq!(pinyin_initials("北京鑫华家具")[0], "bjxhjj");
        assert!(pinyin_initials("重庆").iter().any(|s| s == "cq"));
        assert_eq!(pinyin_initials("A3 家居（东区）")[0], "a3jjdq");
        assert!(pinyin_initials("（）").is_empty());
        let many = pinyin_initials("重重重重重");
        assert!(many.len() <= super::INITIALS_READINGS);
    }
}
