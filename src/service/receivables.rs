//! Receivables (回款): figures per order and customer, aging, the reminder queue (催款) and a
//! payment allocated over several orders of one customer. Read from the `rpt_receivable` index
//! and the summaries (`views`), never by loading every order; a reminder and each allocation
//! are facts on their orders.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

use super::lifecycle::rule;
use super::orders::OrderView;
use super::{new_id, BackOffice, ServiceError, User};
use crate::domain::facts::FactBody;
use crate::domain::order::{validate_amount, Status};
use crate::domain::receivable::{self, Figures, Ledger};
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;
use crate::store::{add_sums, Sums};
use crate::views::{self, tallies, CustomerSummary, LastReminder, OrderSummary, ReceivableEntry};
use rust_decimal::prelude::ToPrimitive;

/// Which receivable entries a read takes.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    /// Every entry (one customer's, when given).
    All(Option<&'a str>),
    /// Only those that may owe as of the day read: open ones and those settled after it (one
    /// customer's, when given); what the others add is in the `rc|` tallies.
    Owing(Option<&'a str>),
    /// Only those settled after the day read (the open ones come from the tallies).
    SettledAfter(Option<&'a str>),
}

/// A customer's open receivables from the tallies (`views::tallies`), as of any day from the
/// last money event of every open order on.
#[derive(Debug, Default)]
struct OpenCustomer {
    /// Shipped, invoiced, paid, orders.
    sums: Sums,
    outstanding: Decimal,
    /// Amounts still open by shipment day, oldest first.
    open: Vec<(NaiveDate, Decimal)>,
    /// Orders by the day of their oldest open shipment, oldest first.
    first_open: Vec<(NaiveDate, usize)>,
}

/// An open order with a money event after the day read: the tallies count it as of that
/// event, so it is taken out of them and counted with its figures as of the day read.
#[derive(Debug)]
struct Late {
    doc: String,
    customer: String,
    salesperson: String,
    number: String,
    state: String,
    figures: Figures,
}

/// The open receivables as of a day (see `open_receivables`).
#[derive(Debug, Default)]
struct OpenReceivables {
    per_customer: BTreeMap<String, OpenCustomer>,
    late: Vec<Late>,
}

/// The day an amount shipped on `day` falls due.
fn due_on(day: NaiveDate, terms_days: u32) -> NaiveDate {
    day.checked_add_days(chrono::Days::new(u64::from(terms_days)))
        .unwrap_or(NaiveDate::MAX)
}

impl OpenCustomer {
    /// Takes out what an open order's ledger adds to the tallies (`views::tallies`).
    fn take_out(&mut self, ledger: &Ledger) {
        let (all, open) = ledger.open_as_of(NaiveDate::MAX);
        add_sums(&mut self.sums, &tallies::settled_sums(ledger), true);
        self.outstanding -= all.outstanding;
        for (day, amount) in &open {
            if let Some(slot) = self.open.iter_mut().find(|(d, _)| d == day) {
                slot.1 -= amount;
            }
        }
        self.open.retain(|(_, amount)| !amount.is_zero());
        if let Some((first, _)) = open.first() {
            if let Some(slot) = self.first_open.iter_mut().find(|(d, _)| d == first) {
                slot.1 = slot.1.saturating_sub(1);
            }
        }
        self.first_open.retain(|(_, orders)| *orders > 0);
    }

    fn figures(&self, as_of: NaiveDate, terms_days: u32) -> Figures {
        let mut f = Figures {
            outstanding: self.outstanding,
            ..figures_of_sums(&self.sums)
        };
        receivable::add_aging(&mut f, &self.open, as_of, terms_days);
        f
    }
}

/// Figures from a receivables tally's sums (shipped, invoiced, paid, orders), nothing owed.
fn figures_of_sums(sums: &Sums) -> Figures {
    Figures {
        orders: sums[3].to_usize().unwrap_or(0),
        shipped: sums[0],
        invoiced: sums[1],
        paid: sums[2],
        ..Figures::default()
    }
}

/// The days `terms_days` before `day`.
fn days_before(day: NaiveDate, terms_days: u32) -> NaiveDate {
    day.checked_sub_days(chrono::Days::new(u64::from(terms_days)))
        .unwrap_or(NaiveDate::MIN)
}

fn terms_of(customers: &HashMap<String, CustomerSummary>, customer: &str) -> u32 {
    customers
        .get(customer)
        .map(|c| receivable::terms_days(&c.payment_terms))
        .unwrap_or(0)
}

/// What the `rc|` tallies count of the settled entries a read took, per customer.
type SettledRead = HashMap<String, Sums>;

/// Filters of the receivables list.
#[derive(Debug, Clone, Default)]
pub struct ReceivableQuery {
    pub customer: Option<String>,
    pub region: Option<String>,
    pub salesperson: Option<String>,
    pub as_of: NaiveDate,
}

/// One customer's receivables.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerReceivable {
    pub customer_id: String,
    pub customer_name: String,
    pub region: String,
    /// 付款条件 as typed on the archive.
    pub payment_terms: String,
    /// Days after shipment the terms give (`domain::receivable::terms_days`).
    pub terms_days: u32,
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receivables {
    pub as_of: NaiveDate,
    pub rows: Vec<CustomerReceivable>,
    pub total: Figures,
}

/// One order of a customer with its figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderReceivable {
    pub order: String,
    pub number: String,
    pub salesperson: String,
    pub status: Option<Status>,
    pub figures: Figures,
    pub last_reminder: Option<LastReminder>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerReceivables {
    pub as_of: NaiveDate,
    pub customer: CustomerReceivable,
    pub orders: Vec<OrderReceivable>,
}

/// An order in the reminder queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderItem {
    pub order: String,
    pub number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub salesperson: String,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub outstanding: Decimal,
    /// Outstanding past its due date.
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub overdue: Decimal,
    /// The due date of the oldest amount owed.
    pub due_date: NaiveDate,
    /// Days past `due_date` (0 or less: not yet due).
    pub days_overdue: i64,
    pub last_reminder: Option<LastReminder>,
}

/// 催款 queue: overdue orders, and orders falling due from today to Sunday.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderQueue {
    pub today: NaiveDate,
    pub week_end: NaiveDate,
    pub overdue: Vec<ReminderItem>,
    pub due_this_week: Vec<ReminderItem>,
}

/// The start of the 催款 queue (the workbench shows a page of each list) and each list's size.
#[derive(Debug, Clone)]
pub struct ReminderQueueStart {
    pub queue: ReminderQueue,
    pub overdue_total: usize,
    pub due_this_week_total: usize,
}

/// What the receivables report adds up by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    #[default]
    Customer,
    Region,
    Salesperson,
}

impl GroupBy {
    pub fn label(self) -> &'static str {
        match self {
            GroupBy::Customer => "客户",
            GroupBy::Region => "区域",
            GroupBy::Salesperson => "业务员",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingRow {
    /// Customer id, region or salesperson.
    pub key: String,
    /// Customer name, or the key.
    pub label: String,
    pub figures: Figures,
}

/// 应收账龄: receivables aging by customer, region or salesperson.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingReport {
    pub as_of: NaiveDate,
    pub group_by: GroupBy,
    pub rows: Vec<AgingRow>,
    pub total: Figures,
}

/// One order's share of a payment.
#[derive(Debug, Clone)]
pub struct Allocation {
    pub order: String,
    pub amount: Decimal,
}

/// A payment of one customer allocated over several of its orders.
#[derive(Debug, Clone)]
pub struct CustomerPayment {
    pub customer: String,
    pub bank_reference: String,
    pub amount: Decimal,
    pub date: NaiveDate,
    pub method: String,
    pub payer: String,
    pub allocations: Vec<Allocation>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AllocationRecorded {
    pub order: String,
    pub number: String,
    /// The payment fact on that order.
    pub fact: String,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub amount: Decimal,
    /// What the order still owes after it.
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub outstanding: Decimal,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentRecorded {
    pub payment_id: String,
    pub customer: String,
    pub bank_reference: String,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub amount: Decimal,
    pub date: NaiveDate,
    pub allocations: Vec<AllocationRecorded>,
}

/// An order's outstanding now: every event counted, whatever its date.
fn outstanding_now(order: &crate::domain::order::Order) -> Decimal {
    Ledger::of(order).figures(NaiveDate::MAX, 0).outstanding
}

fn customer_row(id: &str, c: Option<&CustomerSummary>) -> CustomerReceivable {
    let terms = c.map(|c| c.payment_terms.clone()).unwrap_or_default();
    CustomerReceivable {
        customer_id: id.to_string(),
        customer_name: c.map(|c| c.name.clone()).unwrap_or_default(),
        region: c.map(|c| c.region.clone()).unwrap_or_default(),
        terms_days: receivable::terms_days(&terms),
        payment_terms: terms,
        figures: Figures::default(),
    }
}

/// `receivables`' answer from what was gathered: customers owing most first.
fn receivables_of(as_of: NaiveDate, gathered: Gathered) -> Receivables {
    let mut rows: Vec<CustomerReceivable> = gathered.rows.into_values().collect();
    rows.sort_by(|a, b| {
        b.figures
            .outstanding
            .cmp(&a.figures.outstanding)
            .then_with(|| a.customer_name.cmp(&b.customer_name))
    });
    Receivables {
        as_of,
        rows,
        total: gathered.total,
    }
}

/// An order of the 催款 queue as the index gives it: due date, number, order, customer,
/// salesperson and figures.
type Found = (NaiveDate, String, String, String, String, Figures);

/// The first `limit` orders of a 催款 list by (due date, number), ties in index order, and how
/// many the list holds: an order past the first `limit` found so far is only counted (nothing
/// of it copied), so a list of 40,000 overdue orders keeps about `limit`.
struct FirstDue {
    limit: usize,
    found: Vec<Found>,
    total: usize,
    /// The last kept (due, number) once `found` was cut to `limit`: what sorts at or after it
    /// can no longer be among the first.
    cut: Option<(NaiveDate, String)>,
}

impl FirstDue {
    fn new(limit: usize) -> FirstDue {
        FirstDue {
            limit,
            found: Vec::new(),
            total: 0,
            cut: None,
        }
    }

    /// Counts an order due on `due`; `found` makes its row only if it may be among the first.
    fn offer(&mut self, due: NaiveDate, number: &str, found: impl FnOnce() -> Found) {
        self.total += 1;
        if let Some((d, n)) = &self.cut {
            if (due, number) >= (*d, n.as_str()) {
                return;
            }
        }
        self.found.push(found());
        if self.found.len() >= self.limit.saturating_mul(2).max(64) {
            self.shorten();
        }
    }

    /// Sorts (stable: ties keep index order) and keeps the first `limit`.
    fn shorten(&mut self) {
        self.found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        if self.found.len() >= self.limit {
            self.found.truncate(self.limit);
            self.cut = self.found.last().map(|f| (f.0, f.1.clone()));
        }
    }

    /// Adds a later part's (read after this one in index order).
    fn merge(&mut self, other: FirstDue) {
        self.total += other.total;
        self.found.extend(other.found);
        self.shorten();
    }
}

/// What one read of the receivables index gathers, per part of the index: figures per customer
/// and in all (`receivables`, under its filters), and the orders of the 催款 queue.
struct Gathered {
    rows: BTreeMap<String, CustomerReceivable>,
    total: Figures,
    overdue: FirstDue,
    due_this_week: FirstDue,
}

impl Gathered {
    /// Keeping the first `limit` orders of each 催款 list.
    fn new(limit: usize) -> Gathered {
        Gathered {
            rows: BTreeMap::new(),
            total: Figures::default(),
            overdue: FirstDue::new(limit),
            due_this_week: FirstDue::new(limit),
        }
    }
}

impl Gathered {
    /// Adds a later part's (the parts are read in index order).
    fn merge(&mut self, other: Gathered) {
        self.total.add(&other.total);
        for (customer, row) in other.rows {
            match self.rows.get_mut(&customer) {
                Some(mine) => mine.figures.add(&row.figures),
                None => {
                    self.rows.insert(customer, row);
                }
            }
        }
        self.overdue.merge(other.overdue);
        self.due_this_week.merge(other.due_this_week);
    }
}

/// The filters of `receivables` read once.
struct RowFilter {
    region: Option<String>,
    salesperson: Option<String>,
}

impl RowFilter {
    fn of(q: &ReceivableQuery) -> RowFilter {
        RowFilter {
            region: q
                .region
                .as_deref()
                .map(views::search_key)
                .filter(|r| !r.is_empty()),
            salesperson: q
                .salesperson
                .as_deref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        }
    }

    /// Adds an entry's figures to its customer's row and the total, if it passes the filters.
    fn add(
        &self,
        into: &mut Gathered,
        customers: &HashMap<String, CustomerSummary>,
        entry: &ReceivableEntry,
        figures: &Figures,
    ) {
        if let Some(s) = &self.salesperson {
            if entry.salesperson.trim() != s {
                return;
            }
        }
        self.add_customer(into, customers, entry.customer, figures);
    }

    /// Adds a customer's figures (an entry's, or its receivables' from the tallies, read only
    /// without a salesperson filter) if the customer passes the region filter.
    fn add_customer(
        &self,
        into: &mut Gathered,
        customers: &HashMap<String, CustomerSummary>,
        customer: &str,
        figures: &Figures,
    ) {
        let owner = customers.get(customer);
        if let Some(region) = &self.region {
            if owner.map(|c| views::search_key(&c.region)).as_ref() != Some(region) {
                return;
            }
        }
        into.total.add(figures);
        match into.rows.get_mut(customer) {
            Some(row) => row.figures.add(figures),
            None => {
                let mut row = customer_row(customer, owner);
                row.figures = *figures;
                into.rows.insert(customer.to_string(), row);
            }
        }
    }
}

/// Puts an order owing money into the 催款 queue on `today` if it is overdue or falls due by
/// `week_end`.
fn queue_up(
    into: &mut Gathered,
    today: NaiveDate,
    week_end: NaiveDate,
    entry: &ReceivableEntry,
    doc: &str,
    figures: &Figures,
) {
    let Some(due) = figures.oldest_due else {
        return;
    };
    if figures.outstanding > Decimal::ZERO && due <= week_end {
        let list = if due < today {
            &mut into.overdue
        } else {
            &mut into.due_this_week
        };
        list.offer(due, entry.number, || {
            (
                due,
                entry.number.to_string(),
                doc.to_string(),
                entry.customer.to_string(),
                entry.salesperson.to_string(),
                *figures,
            )
        });
    }
}

impl BackOffice {
    /// Reads the receivable entries in `scope` with their figures as of `as_of` under each
    /// customer's terms: `f` is called with each entry, its order and its figures, into an
    /// accumulator per part. The index is keyed by customer first, so it is cut at customer
    /// ids into one part per core, read at once; the parts come back in index order, with
    /// what the tallies count whole of the settled entries read, per customer (see
    /// `settled_figures`).
    fn read_receivables<A: Send>(
        &self,
        scope: Scope<'_>,
        customers: &HashMap<String, CustomerSummary>,
        as_of: NaiveDate,
        init: impl Fn() -> A + Sync,
        f: impl Fn(&mut A, &ReceivableEntry, &str, Figures) + Sync,
    ) -> Result<(Vec<A>, SettledRead), ServiceError> {
        let parts: Vec<Vec<(String, String)>> = match scope {
            Scope::All(Some(c)) => vec![vec![(format!("{c}|"), format!("{c}}}"))]],
            Scope::All(None) => {
                let mut ids: Vec<&String> = customers.keys().collect();
                ids.sort();
                let share = ids.len().div_ceil(crate::parallel::cores()).max(1);
                let mut cuts = vec![String::new()];
                cuts.extend(ids.iter().step_by(share).skip(1).map(|id| id.to_string()));
                cuts.dedup();
                cuts.iter()
                    .enumerate()
                    .map(|(i, from)| {
                        let to = cuts.get(i + 1).cloned();
                        vec![(from.clone(), to.unwrap_or_else(|| "\u{10ffff}".to_string()))]
                    })
                    .collect()
            }
            Scope::Owing(customer) | Scope::SettledAfter(customer) => {
                let ids = match customer {
                    Some(c) => vec![c.to_string()],
                    None => self.receivable_customers()?,
                };
                let settled_after =
                    ReceivableEntry::settled_state(as_of.succ_opt().unwrap_or(NaiveDate::MAX));
                let with_open = matches!(scope, Scope::Owing(_));
                let ranges: Vec<(String, String)> = ids
                    .iter()
                    .flat_map(|c| {
                        let open = (format!("{c}|O"), format!("{c}|P"));
                        let settled = (format!("{c}|{settled_after}"), format!("{c}|T"));
                        with_open.then_some(open).into_iter().chain([settled])
                    })
                    .collect();
                let share = ranges.len().div_ceil(crate::parallel::cores()).max(2);
                ranges.chunks(share).map(<[_]>::to_vec).collect()
            }
        };
        let terms: HashMap<&str, u32> = customers
            .iter()
            .map(|(id, c)| (id.as_str(), receivable::terms_days(&c.payment_terms)))
            .collect();
        let read_part = |ranges: &Vec<(String, String)>| {
            let mut acc = init();
            let mut settled = SettledRead::new();
            for (from, to) in ranges {
                self.store.for_each_in_index_range(
                    views::REPORT_RECEIVABLE,
                    from,
                    to,
                    |value, doc| {
                        let Some(entry) = ReceivableEntry::parse(value) else {
                            return;
                        };
                        let Some(ledger) = Ledger::decode(entry.ledger) else {
                            return;
                        };
                        let days = terms.get(entry.customer).copied().unwrap_or(0);
                        if !entry.is_open() {
                            let read = settled.entry(entry.customer.to_string()).or_default();
                            add_sums(read, &tallies::settled_sums(&ledger), false);
                        }
                        f(&mut acc, &entry, doc, ledger.figures(as_of, days));
                    },
                )?;
            }
            Ok::<_, ServiceError>((acc, settled))
        };
        let mut parts_read = Vec::with_capacity(parts.len());
        let mut settled_read = SettledRead::new();
        for part in crate::parallel::map_on_cores(&parts, 1, read_part) {
            let (acc, settled) = part?;
            parts_read.push(acc);
            for (customer, sums) in settled {
                add_sums(settled_read.entry(customer).or_default(), &sums, false);
            }
        }
        Ok((parts_read, settled_read))
    }

    /// Every customer with receivable entries (from the `re|` tallies), in id order.
    fn receivable_customers(&self) -> Result<Vec<String>, ServiceError> {
        Ok(self
            .store
            .tallies("re|", "re}")?
            .into_iter()
            .filter_map(|(key, _)| key.strip_prefix("re|").map(str::to_string))
            .collect())
    }

    /// Each customer's settled receivables as of `as_of` (from the `rc|` tallies), given what
    /// an `Owing` read found of them (`read`: the entries settled after `as_of`, counted whole
    /// by the tallies but read with their figures as of that day).
    fn settled_figures(
        &self,
        customer: Option<&str>,
        read: &SettledRead,
    ) -> Result<Vec<(String, Figures)>, ServiceError> {
        let (from, to) = match customer {
            Some(c) => (
                tallies::settled_key(c),
                format!("{}\0", tallies::settled_key(c)),
            ),
            None => ("rc|".to_string(), "rc}".to_string()),
        };
        let mut out = Vec::new();
        for (key, mut sums) in self.store.tallies(&from, &to)? {
            let Some(id) = key.strip_prefix("rc|") else {
                continue;
            };
            if let Some(taken) = read.get(id) {
                add_sums(&mut sums, taken, true);
            }
            let figures = figures_of_sums(&sums);
            if figures.orders > 0 {
                out.push((id.to_string(), figures));
            }
        }
        Ok(out)
    }

    /// Reads the entries in `scope` into one `Gathered`, keeping the first `limit` orders of
    /// each 催款 list; with `filter`, an `Owing` read adds the settled receivables' figures
    /// from the tallies to the rows and the total.
    fn gather(
        &self,
        scope: Scope<'_>,
        customers: &HashMap<String, CustomerSummary>,
        as_of: NaiveDate,
        limit: usize,
        filter: Option<&RowFilter>,
        f: impl Fn(&mut Gathered, &ReceivableEntry, &str, Figures) + Sync,
    ) -> Result<Gathered, ServiceError> {
        let mut all = Gathered::new(limit);
        let (parts, settled_read) =
            self.read_receivables(scope, customers, as_of, || Gathered::new(limit), f)?;
        for part in parts {
            all.merge(part);
        }
        if let (Scope::Owing(customer) | Scope::SettledAfter(customer), Some(filter)) =
            (scope, filter)
        {
            for (id, figures) in self.settled_figures(customer, &settled_read)? {
                filter.add_customer(&mut all, customers, &id, &figures);
            }
        }
        Ok(all)
    }

    fn customers_for(
        &self,
        customer: Option<&str>,
    ) -> Result<HashMap<String, CustomerSummary>, ServiceError> {
        match customer {
            Some(id) => Ok(self
                .summary_of::<CustomerSummary>(id)?
                .map(|c| (id.to_string(), c))
                .into_iter()
                .collect()),
            None => self.customer_owners(),
        }
    }

    /// Receivables per customer, with totals. Without a salesperson filter they come from the
    /// tallies and the entries of orders with money events after `as_of`.
    pub fn receivables(&self, q: &ReceivableQuery) -> Result<Receivables, ServiceError> {
        let customer = q.customer.as_deref().filter(|c| !c.is_empty());
        let customers = self.customers_for(customer)?;
        let filter = RowFilter::of(q);
        if filter.salesperson.is_none() {
            let open = self.open_receivables(q.as_of, &customers)?;
            let gathered = self.gather_tallied(customer, &customers, q.as_of, 0, &filter, &open)?;
            return Ok(receivables_of(q.as_of, gathered));
        }
        let gathered = self.gather(
            Scope::All(customer),
            &customers,
            q.as_of,
            0,
            Some(&filter),
            |acc, entry, _, figures| filter.add(acc, &customers, entry, &figures),
        )?;
        Ok(receivables_of(q.as_of, gathered))
    }

    /// The open receivables as of `as_of`: per customer from the tallies, less the orders
    /// with a money event after `as_of`, which are read one by one (`late`).
    fn open_receivables(
        &self,
        as_of: NaiveDate,
        customers: &HashMap<String, CustomerSummary>,
    ) -> Result<OpenReceivables, ServiceError> {
        let mut per_customer: BTreeMap<String, OpenCustomer> = BTreeMap::new();
        for (key, sums) in self.store.tallies("rs|", "rs}")? {
            if let Some(customer) = key.strip_prefix("rs|") {
                per_customer.entry(customer.to_string()).or_default().sums = sums;
            }
        }
        for (key, sums) in self.store.tallies("rt|", "rt}")? {
            if let Some(customer) = key.strip_prefix("rt|") {
                per_customer
                    .entry(customer.to_string())
                    .or_default()
                    .outstanding = sums[0];
            }
        }
        for (key, sums) in self.store.tallies("ro|", "ro}")? {
            if let Some((customer, day)) = tallies::parse_customer_day("ro|", &key) {
                let open = &mut per_customer.entry(customer.to_string()).or_default().open;
                open.push((day, sums[0]));
            }
        }
        for (key, sums) in self.store.tallies("rf|", "rf}")? {
            if let Some((customer, day)) = tallies::parse_customer_day("rf|", &key) {
                let first = &mut per_customer
                    .entry(customer.to_string())
                    .or_default()
                    .first_open;
                first.push((day, sums[0].to_usize().unwrap_or(0)));
            }
        }
        let mut late = Vec::new();
        let after = as_of.succ_opt().unwrap_or(NaiveDate::MAX).to_string();
        self.store.for_each_in_index_range(
            views::REPORT_RECEIVABLE_LAST,
            &after,
            "~",
            |value, doc| {
                let Some(entry) = value
                    .split_once('|')
                    .and_then(|(_, v)| ReceivableEntry::parse(v))
                else {
                    return;
                };
                let Some(ledger) = Ledger::decode(entry.ledger) else {
                    return;
                };
                let owed = per_customer.entry(entry.customer.to_string()).or_default();
                owed.take_out(&ledger);
                late.push(Late {
                    doc: doc.to_string(),
                    customer: entry.customer.to_string(),
                    salesperson: entry.salesperson.to_string(),
                    number: entry.number.to_string(),
                    state: entry.state.to_string(),
                    figures: ledger.figures(as_of, terms_of(customers, entry.customer)),
                });
            },
        )?;
        Ok(OpenReceivables { per_customer, late })
    }

    /// Receivables per customer from the tallies and the entries settled after `as_of` (the
    /// region filter only: a salesperson's are read from the entries).
    fn gather_tallied(
        &self,
        customer: Option<&str>,
        customers: &HashMap<String, CustomerSummary>,
        as_of: NaiveDate,
        limit: usize,
        filter: &RowFilter,
        open: &OpenReceivables,
    ) -> Result<Gathered, ServiceError> {
        let mut all = self.gather(
            Scope::SettledAfter(customer),
            customers,
            as_of,
            limit,
            Some(filter),
            |acc, entry, _, figures| filter.add(acc, customers, entry, &figures),
        )?;
        let wanted = |id: &str| customer.is_none_or(|c| c == id);
        for (id, owed) in open.per_customer.iter().filter(|(id, _)| wanted(id)) {
            if owed.sums[3].is_zero() {
                continue;
            }
            let figures = owed.figures(as_of, terms_of(customers, id));
            filter.add_customer(&mut all, customers, id, &figures);
        }
        for late in open.late.iter().filter(|l| wanted(&l.customer)) {
            filter.add_customer(&mut all, customers, &late.customer, &late.figures);
        }
        Ok(all)
    }

    /// Puts the 催款 queue on `today` into `into` from the tallies: each list's size from the
    /// `rf|` counts, its first orders from each customer's open entries oldest-due first (read
    /// until `limit` are found and the day changes), and the orders with money events after
    /// today one by one.
    fn queue_from_tallies(
        &self,
        into: &mut Gathered,
        customers: &HashMap<String, CustomerSummary>,
        today: NaiveDate,
        open: &OpenReceivables,
    ) -> Result<(), ServiceError> {
        let week_end = receivable::week_end(today);
        let limit = into.overdue.limit;
        let late: HashSet<&str> = open.late.iter().map(|l| l.doc.as_str()).collect();
        let (mut overdue, mut due_this_week) = (0, 0);
        for (customer, owed) in &open.per_customer {
            let terms = terms_of(customers, customer);
            for &(day, orders) in &owed.first_open {
                match due_on(day, terms) {
                    due if due < today => overdue += orders,
                    due if due <= week_end => due_this_week += orders,
                    _ => {}
                }
            }
            let due_today = ReceivableEntry::open_state(days_before(today, terms));
            let after_week = ReceivableEntry::open_state(days_before(
                week_end.succ_opt().unwrap_or(NaiveDate::MAX),
                terms,
            ));
            for (from, to) in [
                (format!("{customer}|O"), format!("{customer}|{due_today}")),
                (
                    format!("{customer}|{due_today}"),
                    format!("{customer}|{after_week}"),
                ),
            ] {
                let mut taken = 0;
                let mut last_state = String::new();
                self.store.for_each_in_index_range_while(
                    views::REPORT_RECEIVABLE,
                    &from,
                    &to,
                    |value, doc| {
                        let Some(entry) = ReceivableEntry::parse(value) else {
                            return true;
                        };
                        if late.contains(doc) {
                            return true;
                        }
                        // Orders of one day tie on their due date: all of them are read.
                        if taken >= limit && entry.state != last_state {
                            return false;
                        }
                        if let Some(ledger) = Ledger::decode(entry.ledger) {
                            let figures = ledger.figures(today, terms);
                            queue_up(into, today, week_end, &entry, doc, &figures);
                        }
                        taken += 1;
                        if last_state != entry.state {
                            last_state = entry.state.to_string();
                        }
                        true
                    },
                )?;
            }
        }
        into.overdue.total = overdue;
        into.due_this_week.total = due_this_week;
        for l in &open.late {
            let entry = ReceivableEntry {
                customer: &l.customer,
                state: &l.state,
                salesperson: &l.salesperson,
                number: &l.number,
                ledger: "",
            };
            queue_up(into, today, week_end, &entry, &l.doc, &l.figures);
        }
        Ok(())
    }

    /// The receivables page: receivables per customer as of `as_of` and the start of the 催款
    /// queue on `today` (its first `limit` orders of each list), in one read of the index when
    /// the two days are the same (as the page opens).
    pub fn receivables_and_queue(
        &self,
        as_of: NaiveDate,
        today: NaiveDate,
        limit: usize,
    ) -> Result<(Receivables, ReminderQueueStart), ServiceError> {
        if as_of != today {
            let q = ReceivableQuery {
                as_of,
                ..ReceivableQuery::default()
            };
            return Ok((
                self.receivables(&q)?,
                self.reminder_queue_first(today, limit)?,
            ));
        }
        let (gathered, queue) = self.read_queue(today, limit, true)?;
        Ok((receivables_of(as_of, gathered), queue))
    }

    /// One read of the index on `today`: the start of the 催款 queue and, with `rows`, the
    /// receivables per customer as well.
    fn read_queue(
        &self,
        today: NaiveDate,
        limit: usize,
        rows: bool,
    ) -> Result<(Gathered, ReminderQueueStart), ServiceError> {
        let customers = self.customer_owners()?;
        let filter = RowFilter::of(&ReceivableQuery::default());
        let open = self.open_receivables(today, &customers)?;
        let mut gathered = if rows {
            self.gather_tallied(None, &customers, today, limit, &filter, &open)?
        } else {
            Gathered::new(limit)
        };
        self.queue_from_tallies(&mut gathered, &customers, today, &open)?;
        let queue = self.queue_start(&customers, today, limit, &mut gathered)?;
        Ok((gathered, queue))
    }

    /// One customer's orders with their figures (orders with money events only).
    pub fn customer_receivables(
        &self,
        customer: &str,
        as_of: NaiveDate,
    ) -> Result<CustomerReceivables, ServiceError> {
        self.customer_receivables_in(Scope::All(Some(customer)), customer, as_of)
    }

    /// One customer's figures over all its orders, and those of its orders that owe something
    /// as of `as_of` (the customer's page): only the entries that may owe are read, and only
    /// the listed orders' summaries.
    pub fn customer_receivables_owing(
        &self,
        customer: &str,
        as_of: NaiveDate,
    ) -> Result<CustomerReceivables, ServiceError> {
        self.customer_receivables_in(Scope::Owing(Some(customer)), customer, as_of)
    }

    fn customer_receivables_in(
        &self,
        scope: Scope<'_>,
        customer: &str,
        as_of: NaiveDate,
    ) -> Result<CustomerReceivables, ServiceError> {
        let customers = self.customers_for(Some(customer))?;
        let Some(owner) = customers.get(customer) else {
            return Err(ServiceError::NotFound(format!("customer {customer}")));
        };
        let listed = |figures: &Figures| match scope {
            Scope::All(_) => true,
            Scope::Owing(_) | Scope::SettledAfter(_) => figures.outstanding > Decimal::ZERO,
        };
        let mut row = customer_row(customer, Some(owner));
        let mut found = Vec::new();
        let (parts, settled_read) = self.read_receivables(
            scope,
            &customers,
            as_of,
            Vec::new,
            |acc: &mut Vec<(String, String, String, Figures)>, entry, doc, figures| {
                acc.push((
                    doc.to_string(),
                    entry.number.to_string(),
                    entry.salesperson.to_string(),
                    figures,
                ))
            },
        )?;
        for part in parts {
            for order in part {
                row.figures.add(&order.3);
                if listed(&order.3) {
                    found.push(order);
                }
            }
        }
        if let Scope::Owing(_) = scope {
            for (_, figures) in self.settled_figures(Some(customer), &settled_read)? {
                row.figures.add(&figures);
            }
        }
        let mut orders = Vec::with_capacity(found.len());
        for (doc, number, salesperson, figures) in found {
            let summary = self.summary_of::<OrderSummary>(&doc)?;
            orders.push(OrderReceivable {
                order: doc,
                number,
                salesperson,
                status: summary.as_ref().map(|s| s.status),
                figures,
                last_reminder: summary.and_then(|s| s.last_reminder),
            });
        }
        orders.sort_by(|a, b| a.number.cmp(&b.number));
        Ok(CustomerReceivables {
            as_of,
            customer: row,
            orders,
        })
    }

    /// 催款 queue on `today`: orders owing money past its due date, and orders whose oldest
    /// amount owed falls due from today to Sunday; oldest due first.
    pub fn reminder_queue(&self, today: NaiveDate) -> Result<ReminderQueue, ServiceError> {
        Ok(self.reminder_queue_first(today, usize::MAX)?.queue)
    }

    /// The 催款 queue's first `limit` orders of each list (oldest due first) and how many each
    /// holds: the index is read whole, but only the orders shown have their summary read.
    pub fn reminder_queue_first(
        &self,
        today: NaiveDate,
        limit: usize,
    ) -> Result<ReminderQueueStart, ServiceError> {
        Ok(self.read_queue(today, limit, false)?.1)
    }

    /// The 催款 queue of what `gather` found: each list oldest due first, its first `limit`
    /// orders with their summaries read, and how many each holds.
    fn queue_start(
        &self,
        customers: &HashMap<String, CustomerSummary>,
        today: NaiveDate,
        limit: usize,
        gathered: &mut Gathered,
    ) -> Result<ReminderQueueStart, ServiceError> {
        let week_end = receivable::week_end(today);
        let mut lists = [Vec::new(), Vec::new()];
        let mut totals = [0, 0];
        for ((list, total), found) in lists
            .iter_mut()
            .zip(totals.iter_mut())
            .zip([&mut gathered.overdue, &mut gathered.due_this_week])
        {
            found.shorten();
            found.found.truncate(limit);
            *total = found.total;
            for (due, number, doc, customer, salesperson, figures) in found.found.drain(..) {
                let last_reminder = self
                    .summary_of::<OrderSummary>(&doc)?
                    .and_then(|s| s.last_reminder);
                list.push(ReminderItem {
                    order: doc,
                    number,
                    customer_name: customers
                        .get(&customer)
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                    customer_id: customer,
                    salesperson,
                    outstanding: figures.outstanding,
                    overdue: figures.aging_due.total() - figures.aging_due.not_due,
                    due_date: due,
                    days_overdue: (today - due).num_days(),
                    last_reminder,
                });
            }
        }
        let [overdue, due_this_week] = lists;
        Ok(ReminderQueueStart {
            queue: ReminderQueue {
                today,
                week_end,
                overdue,
                due_this_week,
            },
            overdue_total: totals[0],
            due_this_week_total: totals[1],
        })
    }

    /// 应收账龄 by customer, region or salesperson.
    pub fn receivables_aging(
        &self,
        group_by: GroupBy,
        as_of: NaiveDate,
    ) -> Result<AgingReport, ServiceError> {
        let customers = self.customer_owners()?;
        let (parts, _) = self.read_receivables(
            Scope::All(None),
            &customers,
            as_of,
            HashMap::new,
            |groups: &mut HashMap<String, Figures>, entry, _, figures| {
                let key = match group_by {
                    GroupBy::Customer => entry.customer,
                    GroupBy::Region => customers
                        .get(entry.customer)
                        .map(|c| c.region.as_str())
                        .unwrap_or(""),
                    GroupBy::Salesperson => entry.salesperson,
                };
                match groups.get_mut(key) {
                    Some(g) => g.add(&figures),
                    None => {
                        groups.insert(key.to_string(), figures);
                    }
                }
            },
        )?;
        let mut groups: HashMap<String, Figures> = HashMap::new();
        for part in parts {
            for (key, figures) in part {
                groups.entry(key).or_default().add(&figures);
            }
        }
        let mut total = Figures::default();
        for figures in groups.values() {
            total.add(figures);
        }
        let mut rows: Vec<AgingRow> = groups
            .into_iter()
            .map(|(key, figures)| AgingRow {
                label: match group_by {
                    GroupBy::Customer => customers
                        .get(&key)
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| key.clone()),
                    _ => key.clone(),
                },
                key,
                figures,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.figures
                .outstanding
                .cmp(&a.figures.outstanding)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(AgingReport {
            as_of,
            group_by,
            rows,
            total,
        })
    }

    /// 催款: a clerk or supervisor records reminding the customer to pay, with a note and
    /// when to follow up. An order paid in full, cancelled or archived has nothing to remind.
    pub fn remind_payment(
        &self,
        user: &User,
        id: &str,
        note: String,
        next_date: Option<NaiveDate>,
    ) -> Result<OrderView, ServiceError> {
        let note = note.trim().to_string();
        if note.is_empty() {
            return Err(FieldErrors::single("note", "must not be empty").into());
        }
        let what = format!("payment reminder (催款): {note}");
        self.record_fact(user, id, Action::RemindPayment, &what, |order| {
            match order.status() {
                Status::Cancelled | Status::Archived => {
                    return Err(rule(
                        "已取消或已归档的订单不能催款",
                        "a cancelled or archived order has no payment to remind",
                    ))
                }
                Status::Paid => {
                    return Err(rule(
                        "订单已全部回款，无需催款",
                        "the order is paid in full: there is nothing to remind",
                    ))
                }
                _ => {}
            }
            Ok(FactBody::PaymentReminder { note, next_date })
        })
    }

    /// One payment of a customer allocated over several of its orders: a payment fact on each,
    /// carrying the bank reference and one payment id (so the reference is not a duplicate
    /// between them). Allocations add up to the amount, each at most what its order owes on
    /// goods shipped, all orders of that customer. Everything is checked before the first
    /// order is written, and each order again as it is written; should that second check fail,
    /// the allocations already written are voided.
    pub fn record_customer_payment(
        &self,
        user: &User,
        p: CustomerPayment,
    ) -> Result<PaymentRecorded, ServiceError> {
        user.require(Action::RecordPayment)?;
        let mut errors = FieldErrors::default();
        if p.customer.trim().is_empty() {
            errors.push("customer", "must not be empty");
        }
        if p.bank_reference.trim().is_empty() {
            errors.push(
                "bank_reference",
                "须填写流水号 / the bank reference is required",
            );
        }
        validate_amount(p.amount, "amount", &mut errors);
        if p.amount <= Decimal::ZERO {
            errors.push("amount", "must be greater than zero");
        }
        if p.allocations.is_empty() {
            errors.push("allocations", "at least one order");
        }
        for (i, a) in p.allocations.iter().enumerate() {
            if a.order.trim().is_empty() {
                errors.push(format!("allocations[{i}].order"), "must not be empty");
            }
            if p.allocations[..i].iter().any(|b| b.order == a.order) {
                errors.push(format!("allocations[{i}].order"), "names an order twice");
            }
            validate_amount(a.amount, &format!("allocations[{i}].amount"), &mut errors);
            if a.amount <= Decimal::ZERO {
                errors.push(
                    format!("allocations[{i}].amount"),
                    "must be greater than zero",
                );
            }
        }
        errors.into_result()?;
        if !self.customer_exists(&p.customer)? {
            return Err(FieldErrors::single("customer", "no such customer").into());
        }
        let sum: Decimal = p.allocations.iter().map(|a| a.amount).sum();
        if sum != p.amount {
            return Err(rule(
                &format!("分配金额合计 {sum} 与收款金额 {} 不符", p.amount),
                format!(
                    "the allocations add up to {sum}, not the payment's amount {}",
                    p.amount
                ),
            ));
        }
        if let Some((other, _)) = self
            .payments_with_ref(&p.bank_reference)?
            .into_iter()
            .next()
        {
            return Err(rule(
                &format!("流水号 {} 已登记过（订单 {other}）", p.bank_reference),
                format!(
                    "bank reference {} is already recorded (order {other})",
                    p.bank_reference
                ),
            ));
        }
        let check = |order: &crate::domain::order::Order, amount: Decimal| {
            if order.get("customer_id") != p.customer {
                return Err(rule(
                    &format!("订单 {} 不是该客户的订单", order.get("number")),
                    format!(
                        "order {} is not an order of customer {}",
                        order.get("number"),
                        p.customer
                    ),
                ));
            }
            if matches!(order.status(), Status::Cancelled | Status::Archived) {
                return Err(rule(
                    &format!("订单 {} 已取消或已归档", order.get("number")),
                    format!("order {} is cancelled or archived", order.get("number")),
                ));
            }
            let outstanding = outstanding_now(order);
            if amount > outstanding {
                return Err(rule(
                    &format!(
                        "分配金额超过订单 {} 的应收余额：应收 {outstanding}，分配 {amount}",
                        order.get("number")
                    ),
                    format!(
                        "allocation {amount} exceeds what order {} owes on goods shipped ({outstanding})",
                        order.get("number")
                    ),
                ));
            }
            Ok(())
        };
        let mut orders = Vec::with_capacity(p.allocations.len());
        let mut unknown = FieldErrors::default();
        for (i, a) in p.allocations.iter().enumerate() {
            match self.order(&a.order) {
                Ok(order) => orders.push(order),
                Err(ServiceError::NotFound(_)) => unknown.push(
                    format!("allocations[{i}].order"),
                    "no such order on this node",
                ),
                Err(e) => return Err(e),
            }
        }
        unknown.into_result()?;
        for (order, a) in orders.iter().zip(&p.allocations) {
            check(order, a.amount)?;
        }
        let payment_id = new_id();
        let mut recorded: Vec<AllocationRecorded> = Vec::with_capacity(p.allocations.len());
        for a in &p.allocations {
            let what = format!(
                "payment (回款) {} of {}, bank reference {}, payment {payment_id}",
                a.amount, p.amount, p.bank_reference
            );
            let written = self.record_fact(user, &a.order, Action::RecordPayment, &what, |order| {
                check(order, a.amount)?;
                Ok(FactBody::Payment {
                    amount: a.amount,
                    date: p.date,
                    method: p.method.clone(),
                    payer: p.payer.clone(),
                    bank_ref: p.bank_reference.clone(),
                    payment_id: Some(payment_id.clone()),
                })
            });
            let view = match written {
                Ok(view) => view,
                Err(e) => {
                    // An order changed between the checks and its write (another writer on
                    // this node): the allocations already written are voided, so the payment
                    // is recorded whole or not at all (the voids stay in their history).
                    for done in &recorded {
                        let reason = format!(
                            "payment {payment_id} could not be allocated in full (order {}): {e}",
                            a.order
                        );
                        self.void_payment(user, &done.order, &done.fact, reason)?;
                    }
                    return Err(e);
                }
            };
            let fact = view
                .facts
                .iter()
                .rev()
                .find(|f| {
                    matches!(&f.body, FactBody::Payment { payment_id: Some(id), .. } if *id == payment_id)
                })
                .map(|f| f.id.clone())
                .unwrap_or_default();
            recorded.push(AllocationRecorded {
                order: a.order.clone(),
                number: view.header.get("number").cloned().unwrap_or_default(),
                fact,
                amount: a.amount,
                outstanding: (view.shipped_value - view.paid).max(Decimal::ZERO),
            });
        }
        Ok(PaymentRecorded {
            payment_id,
            customer: p.customer,
            bank_reference: p.bank_reference,
            amount: p.amount,
            date: p.date,
            allocations: recorded,
        })
    }
}

/// The home page's receivables queues: orders owing money on goods shipped (回款跟踪), and those
/// of them in the 催款 queue (overdue, or falling due by Sunday).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceivableCounts {
    pub owing: usize,
    pub to_remind: usize,
}

impl BackOffice {
    /// Counts from the receivables tallies, as the 催款 queue decides (no order loaded).
    pub fn receivable_counts(&self, today: NaiveDate) -> Result<ReceivableCounts, ServiceError> {
        let customers = self.customer_owners()?;
        let week_end = receivable::week_end(today);
        let open = self.open_receivables(today, &customers)?;
        let mut counts = ReceivableCounts::default();
        for (customer, owed) in &open.per_customer {
            let terms = terms_of(&customers, customer);
            counts.owing += owed.sums[3].to_usize().unwrap_or(0);
            for &(day, orders) in &owed.first_open {
                if due_on(day, terms) <= week_end {
                    counts.to_remind += orders;
                }
            }
        }
        for late in open.late.iter().map(|l| &l.figures) {
            if late.outstanding > Decimal::ZERO {
                counts.owing += 1;
                if late.oldest_due.is_some_and(|due| due <= week_end) {
                    counts.to_remind += 1;
                }
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (due day of December, number) in index order, each made a queue row.
    fn found(day: u32, number: &str, seq: usize) -> Found {
        let due = NaiveDate::from_ymd_opt(2026, 12, day).unwrap();
        let figures = Figures {
            orders: seq,
            ..Figures::default()
        };
        (
            due,
            number.into(),
            format!("o{seq}"),
            "c".into(),
            "s".into(),
            figures,
        )
    }

    /// The first `limit` of `rows` as a stable sort and a cut would give them.
    fn reference(rows: &[(u32, &str)], limit: usize) -> Vec<Found> {
        let mut all: Vec<Found> = rows
            .iter()
            .enumerate()
            .map(|(i, (d, n))| found(*d, n, i))
            .collect();
        all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        all.truncate(limit);
        all
    }

    #[test]
    fn a_queue_keeps_its_first_orders_as_sorting_all_would_and_counts_the_rest() {
        // Many rows, ties on due date and on (due, number), read in two parts.
        let rows: Vec<(u32, &str)> = (0..500)
            .map(|i| {
                let day = 1 + (i * 7919 % 23) as u32;
                let number = ["A-3", "A-1", "A-2", "A-1"][i % 4];
                (day, number)
            })
            .collect();
        for limit in [1, 3, 50, 1000] {
            for split in [0, 1, 250, 499, 500] {
                let mut parts = [FirstDue::new(limit), FirstDue::new(limit)];
                for (i, (d, n)) in rows.iter().enumerate() {
                    let part = &mut parts[usize::from(i >= split)];
                    let due = NaiveDate::from_ymd_opt(2026, 12, *d).unwrap();
                    part.offer(due, n, || found(*d, n, i));
                }
                let [mut first, second] = parts;
                first.merge(second);
                first.shorten();
                first.found.truncate(limit);
                assert_eq!(first.total, rows.len());
                let kept: Vec<_> = first
                    .found
                    .iter()
                    .map(|f| (f.0, &f.1, f.5.orders))
                    .collect();
                let wanted = reference(&rows, limit);
                let wanted: Vec<_> = wanted.iter().map(|f| (f.0, &f.1, f.5.orders)).collect();
                assert_eq!(kept, wanted, "limit {limit}, split at {split}");
            }
        }
    }
}
