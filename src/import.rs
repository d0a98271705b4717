//! Imports a data set in the fixtures format (fixtures/README.md): customers, then orders with
//! their recorded events as facts carrying the original users and times, then complaints with
//! their steps. Every record is checked before anything is written, so a bad file changes
//! nothing.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

use crate::domain::complaint::{Category, Channel, Satisfaction};
use crate::domain::customer::CustomerInput;
use crate::domain::facts::{Disposition, Fact, FactBody, Party, ReturnKind, ShipLine};
use crate::domain::order::{LineInput, NewOrder, Order};
use crate::domain::record::{ChangeAuthor, RecordOp};
use crate::domain::role::Role;
use crate::service::complaints::NewComplaint;
use crate::service::{new_id, BackOffice, ServiceError, User};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not a data set: {0}")]
    Format(String),
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

#[derive(Debug, Deserialize)]
pub struct DataSet {
    #[serde(default)]
    pub products: Vec<serde_json::Value>,
    pub customers: Vec<CustomerEntry>,
    pub orders: Vec<OrderEntry>,
    /// Contracts (合同) with their recorded steps; orders name them by `number`.
    #[serde(default)]
    pub contracts: Vec<ContractEntry>,
    #[serde(default)]
    pub complaints: Vec<ComplaintEntry>,
}

/// A complaint (客诉) with its recorded steps.
#[derive(Debug, Deserialize)]
pub struct ComplaintEntry {
    #[serde(rename = "ref")]
    pub reference: String,
    pub customer_ref: String,
    #[serde(default)]
    pub order_ref: String,
    #[serde(default)]
    pub store: String,
    pub channel: String,
    pub category: String,
    pub content: String,
    pub taken_at: DateTime<chrono::FixedOffset>,
    #[serde(default)]
    pub taken_by: String,
    #[serde(default)]
    pub events: Vec<Event<ComplaintEventKind>>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ComplaintEventKind {
    Assign {
        to: String,
        #[serde(default)]
        note: String,
    },
    Handle {
        note: String,
    },
    Close {
        result: String,
        satisfaction: Satisfaction,
    },
    Reopen {
        reason: String,
    },
    Acknowledge {
        #[serde(default)]
        note: String,
    },
    /// Links the latest return request of the complaint's order.
    ReturnLink,
}

#[derive(Debug, Deserialize)]
pub struct ContractEntry {
    #[serde(rename = "ref")]
    pub reference: String,
    pub number: String,
    pub customer_ref: String,
    #[serde(default)]
    pub party_a: String,
    pub party_b: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    #[serde(default)]
    pub terms: String,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub drafted_at: DateTime<chrono::FixedOffset>,
    #[serde(default)]
    pub drafted_by: String,
    /// Steps of its first (and only) version, in time order.
    #[serde(default)]
    pub events: Vec<ContractEvent>,
}

#[derive(Debug, Deserialize)]
pub struct ContractEvent {
    pub at: DateTime<chrono::FixedOffset>,
    pub user: String,
    pub role: Role,
    #[serde(flatten)]
    pub kind: ContractEventKind,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContractEventKind {
    Submit,
    Review {
        approved: bool,
        #[serde(default)]
        reason: String,
    },
    Approve {
        approved: bool,
        #[serde(default)]
        reason: String,
    },
    Sign {
        signed_on: NaiveDate,
    },
    Archive,
}

impl ContractEventKind {
    fn body(&self) -> FactBody {
        let version = 1;
        match self {
            ContractEventKind::Submit => FactBody::ContractSubmitted { version },
            ContractEventKind::Review { approved, reason } => FactBody::ContractReviewed {
                version,
                approved: *approved,
                reason: reason.clone(),
            },
            ContractEventKind::Approve { approved, reason } => FactBody::ContractApproved {
                version,
                approved: *approved,
                reason: reason.clone(),
            },
            ContractEventKind::Sign { signed_on } => FactBody::ContractSigned {
                version,
                signed_on: *signed_on,
            },
            ContractEventKind::Archive => FactBody::ContractArchived { version },
        }
    }
}

/// A contract of the file as it is checked and written: its content's rules and its customer.
fn check_contract(
    entry: &ContractEntry,
    customers: &std::collections::HashSet<&str>,
) -> Result<(), ImportError> {
    let at = || format!("contract {}", entry.reference);
    if !customers.contains(entry.customer_ref.as_str()) {
        return Err(ImportError::Invalid {
            at: at(),
            message: format!("unknown customer_ref {}", entry.customer_ref),
        });
    }
    if entry.number.trim().is_empty()
        || entry.party_b.trim().is_empty()
        || entry.amount <= Decimal::ZERO
        || entry.valid_to < entry.valid_from
    {
        return Err(ImportError::Invalid {
            at: at(),
            message: "a contract needs a number, 乙方, an amount above zero and valid_to not \
                      before valid_from"
                .into(),
        });
    }
    Ok(())
}

/// Writes one contract with its steps as facts carrying the original users and times.
fn import_contract(
    office: &BackOffice,
    entry: &ContractEntry,
    customer_id: &str,
) -> Result<usize, ImportError> {
    let customer = office.customer(customer_id)?;
    let name = customer.get("name").to_string();
    let content = crate::domain::contract::ContractContent {
        party_a: if entry.party_a.is_empty() {
            name.clone()
        } else {
            entry.party_a.clone()
        },
        party_b: entry.party_b.clone(),
        amount: entry.amount,
        terms: entry.terms.clone(),
        valid_from: entry.valid_from,
        valid_to: entry.valid_to,
        attachments: Vec::new(),
    };
    let created_at = entry
        .drafted_at
        .with_timezone(&Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut ops = vec![
        RecordOp::SetKind(crate::domain::contract::CONTRACT_KIND.into()),
        RecordOp::field("number", entry.number.clone()),
        RecordOp::field("customer_id", customer_id),
        RecordOp::field("customer_name", name),
        RecordOp::field("created_at", created_at),
    ];
    ops.extend(
        content
            .fields()
            .into_iter()
            .map(|(k, v)| RecordOp::field(k, v)),
    );
    let id = new_id();
    for event in &entry.events {
        let fact = Fact {
            id: new_id(),
            at: event.at.with_timezone(&Utc),
            user: event.user.clone(),
            role: event.role,
            node: office.identity.node_id.clone(),
            body: event.kind.body(),
        };
        let json = serde_json::to_string(&fact).unwrap_or_default();
        let json = office.authority().seal(&id, &fact.id, json);
        ops.push(RecordOp::AddFact { id: fact.id, json });
    }
    let author = ChangeAuthor {
        user: if entry.drafted_by.is_empty() {
            "import".into()
        } else {
            entry.drafted_by.clone()
        },
        role: Role::Clerk.to_string(),
        action: format!("import contract {}", entry.reference),
    };
    office
        .store
        .create(&id, &author, &ops)
        .map_err(ServiceError::from)?;
    Ok(entry.events.len())
}

#[derive(Debug, Deserialize)]
pub struct CustomerEntry {
    #[serde(rename = "ref")]
    pub reference: String,
    /// The dealer (经销商) a store belongs to: another customer's `ref`, of kind dealer.
    #[serde(default)]
    pub dealer_ref: String,
    #[serde(flatten)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct LineEntry {
    pub sku: String,
    #[serde(default)]
    pub spec: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(default)]
    pub unit: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
}

#[derive(Debug, Deserialize)]
pub struct OrderEntry {
    #[serde(rename = "ref")]
    pub reference: String,
    pub customer_ref: String,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub store: String,
    #[serde(default)]
    pub salesperson: String,
    #[serde(default)]
    pub tax_included: bool,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub tax_rate: Option<Decimal>,
    #[serde(default)]
    pub invoice_title: String,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub deposit: Option<Decimal>,
    #[serde(default)]
    pub contract: String,
    #[serde(default)]
    pub ship_address: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub receiver_phone: String,
    pub promised_ship_date: Option<NaiveDate>,
    #[serde(default)]
    pub note: String,
    pub taken_at: DateTime<chrono::FixedOffset>,
    #[serde(default)]
    pub taken_by: String,
    pub lines: Vec<LineEntry>,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
pub struct EventLine {
    pub line: usize,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub unit_price: Option<Decimal>,
}

/// One recorded step: when, by whom, and what (an order's `EventKind`, a complaint's
/// `ComplaintEventKind`).
#[derive(Debug, Deserialize)]
pub struct Event<K = EventKind> {
    pub at: DateTime<chrono::FixedOffset>,
    pub user: String,
    pub role: Role,
    #[serde(flatten)]
    pub kind: K,
}

impl<K> Event<K> {
    /// The fact recording this step on `node`, by its original user and time.
    fn fact(&self, id: String, node: &str, body: FactBody) -> Fact {
        Fact {
            id,
            at: self.at.with_timezone(&Utc),
            user: self.user.clone(),
            role: self.role,
            node: node.to_string(),
            body,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    Verify {
        parties: Vec<Party>,
    },
    Approve,
    ReleaseToWorkshop,
    Progress {
        note: String,
        revised_date: Option<NaiveDate>,
        delay_reason: Option<String>,
    },
    Payment {
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
        date: NaiveDate,
        #[serde(default)]
        method: String,
        #[serde(default)]
        payer: String,
        #[serde(default)]
        bank_ref: String,
    },
    ShippingDoc {
        lines: Vec<EventLine>,
        /// The day goods are to leave; the event's own day when absent.
        #[serde(default)]
        ship_date: Option<NaiveDate>,
        /// 运送途径 and 付费方式, as the 出货单 states them.
        #[serde(default = "default_route")]
        route: String,
        #[serde(default = "default_freight_payer")]
        freight_payer: String,
    },
    FinanceRelease,
    Shipment {
        lines: Vec<EventLine>,
        #[serde(default)]
        carrier: String,
        #[serde(default)]
        waybill: String,
        #[serde(default)]
        cartons: u32,
    },
    Invoice {
        number: String,
        title: String,
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    Cancel {
        #[serde(default)]
        reason: String,
    },
    Reinstate {
        #[serde(default)]
        reason: String,
    },
    ReturnRequest {
        return_kind: ReturnKind,
        lines: Vec<EventLine>,
        #[serde(default)]
        reason: String,
    },
    ReturnDecision {
        approved: bool,
        #[serde(default)]
        note: String,
    },
    ReturnReceipt {
        lines: Vec<EventLine>,
        #[serde(default)]
        condition: String,
        disposition: Disposition,
        tag: String,
    },
    Archive,
}

pub fn parse(bytes: &[u8]) -> Result<DataSet, ImportError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de)
        .map_err(|e| ImportError::Format(format!("{}: {}", e.path(), e.inner())))
}

fn customer_input(entry: &CustomerEntry) -> Result<CustomerInput, ImportError> {
    let mut input = CustomerInput::default();
    for (key, value) in &entry.fields {
        match value {
            serde_json::Value::String(s) => {
                input.header.insert(key.clone(), s.clone());
            }
            serde_json::Value::Array(items) => {
                let items = items
                    .iter()
                    .map(|item| {
                        item.as_object()
                            .map(|o| {
                                o.iter()
                                    .map(|(k, v)| {
                                        let text = match v {
                                            serde_json::Value::String(s) => s.clone(),
                                            other => other.to_string(),
                                        };
                                        (k.clone(), text)
                                    })
                                    .collect()
                            })
                            .ok_or_else(|| ImportError::Invalid {
                                at: format!("customer {}.{key}", entry.reference),
                                message: "items must be objects".into(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                input.collections.insert(key.clone(), items);
            }
            _ => {
                return Err(ImportError::Invalid {
                    at: format!("customer {}.{key}", entry.reference),
                    message: "must be a string or a list".into(),
                })
            }
        }
    }
    input.validate(true).map_err(|e| ImportError::Invalid {
        at: format!("customer {}", entry.reference),
        message: format!("{:?}", e.0),
    })?;
    Ok(input)
}

fn new_order(entry: &OrderEntry, customer_id: String) -> NewOrder {
    NewOrder {
        customer_id,
        project: entry.project.clone(),
        store: entry.store.clone(),
        salesperson: entry.salesperson.clone(),
        tax_included: entry.tax_included,
        tax_rate: entry.tax_rate.unwrap_or_default(),
        invoice_title: entry.invoice_title.clone(),
        deposit: entry.deposit.unwrap_or_default(),
        contract: entry.contract.clone(),
        ship_address: entry.ship_address.clone(),
        receiver: entry.receiver.clone(),
        receiver_phone: entry.receiver_phone.clone(),
        promised_ship_date: entry.promised_ship_date,
        note: entry.note.clone(),
        lines: entry
            .lines
            .iter()
            .map(|l| LineInput {
                sku: l.sku.clone(),
                spec: l.spec.clone(),
                quantity: l.quantity,
                unit: l.unit.clone(),
                unit_price: l.unit_price,
            })
            .collect(),
    }
}

/// Turns recorded events into facts, resolving line indexes and "the latest" references.
fn default_route() -> String {
    "货运部".to_string()
}

fn default_freight_payer() -> String {
    "到付".to_string()
}

fn facts_of(entry: &OrderEntry, order: &Order, node: &str) -> Result<Vec<Fact>, ImportError> {
    let line_ids: Vec<&str> = order.lines.iter().map(|l| l.id.as_str()).collect();
    let at = |i: usize| format!("order {} event {i}", entry.reference);
    let lines_of = |i: usize, lines: &[EventLine]| -> Result<Vec<ShipLine>, ImportError> {
        lines
            .iter()
            .map(|l| {
                let id = line_ids.get(l.line).ok_or_else(|| ImportError::Invalid {
                    at: at(i),
                    message: format!("line {} does not exist", l.line),
                })?;
                Ok(ShipLine {
                    line: id.to_string(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                })
            })
            .collect()
    };
    let mut facts: Vec<Fact> = Vec::new();
    let mut last_doc: Option<String> = None;
    let mut releases: Vec<String> = Vec::new();
    let mut last_return: Option<String> = None;
    for (i, event) in entry.events.iter().enumerate() {
        let id = new_id();
        let body = match &event.kind {
            EventKind::Verify { parties } => FactBody::Verified {
                parties: parties.clone(),
                checked: BTreeMap::new(),
            },
            EventKind::Approve => FactBody::Approved {
                note: String::new(),
            },
            EventKind::ReleaseToWorkshop => FactBody::ReleasedToWorkshop,
            EventKind::Progress {
                note,
                revised_date,
                delay_reason,
            } => FactBody::Progress {
                note: note.clone(),
                revised_date: *revised_date,
                delay_reason: delay_reason.clone(),
            },
            EventKind::Payment {
                amount,
                date,
                method,
                payer,
                bank_ref,
            } => FactBody::Payment {
                amount: *amount,
                date: *date,
                method: method.clone(),
                payer: payer.clone(),
                bank_ref: bank_ref.clone(),
                payment_id: None,
            },
            EventKind::ShippingDoc {
                lines,
                ship_date,
                route,
                freight_payer,
            } => {
                last_doc = Some(id.clone());
                // The 出货单 carries the order's prices: prices change only by a change order.
                let priced = lines_of(i, lines)?
                    .into_iter()
                    .map(|l| {
                        let price = order.lines.iter().find(|ol| ol.id == l.line);
                        ShipLine {
                            unit_price: l.unit_price.or(price.map(|p| p.unit_price)),
                            ..l
                        }
                    })
                    .collect();
                FactBody::ShippingDoc {
                    lines: priced,
                    ship_date: Some(ship_date.unwrap_or_else(|| {
                        crate::domain::report::business_day(event.at.with_timezone(&Utc))
                    })),
                    route: route.clone(),
                    freight_payer: freight_payer.clone(),
                }
            }
            EventKind::FinanceRelease => {
                let doc = last_doc.clone().ok_or_else(|| ImportError::Invalid {
                    at: at(i),
                    message: "finance release before any shipping document".into(),
                })?;
                releases.push(id.clone());
                FactBody::FinanceRelease {
                    shipping_doc: doc,
                    paid: None,
                    due: None,
                    credit: None,
                }
            }
            EventKind::Shipment {
                lines,
                carrier,
                waybill,
                cartons,
            } => FactBody::Shipment {
                lines: lines_of(i, lines)?
                    .into_iter()
                    .map(|l| {
                        let price = order.lines.iter().find(|ol| ol.id == l.line);
                        ShipLine {
                            unit_price: price.map(|p| p.unit_price),
                            ..l
                        }
                    })
                    .collect(),
                carrier: carrier.clone(),
                waybill: waybill.clone(),
                cartons: *cartons,
                releases_seen: releases.clone(),
                release: releases.last().cloned(),
            },
            EventKind::Invoice {
                number,
                title,
                amount,
            } => FactBody::Invoice {
                number: number.clone(),
                title: title.clone(),
                amount: *amount,
            },
            EventKind::Cancel { reason } => FactBody::Cancelled {
                reason: reason.clone(),
            },
            EventKind::Reinstate { reason } => FactBody::Reinstated {
                reason: reason.clone(),
            },
            EventKind::ReturnRequest {
                return_kind,
                lines,
                reason,
            } => {
                last_return = Some(id.clone());
                FactBody::ReturnRequested {
                    return_kind: *return_kind,
                    lines: lines_of(i, lines)?,
                    reason: reason.clone(),
                    photos: Vec::new(),
                    damaged: false,
                }
            }
            EventKind::ReturnDecision { approved, note } => FactBody::ReturnDecided {
                request: last_return.clone().ok_or_else(|| ImportError::Invalid {
                    at: at(i),
                    message: "return decision before any return request".into(),
                })?,
                approved: *approved,
                note: note.clone(),
            },
            EventKind::ReturnReceipt {
                lines,
                condition,
                disposition,
                tag,
            } => FactBody::ReturnReceived {
                request: last_return.clone().ok_or_else(|| ImportError::Invalid {
                    at: at(i),
                    message: "return receipt before any return request".into(),
                })?,
                lines: lines_of(i, lines)?,
                condition: condition.clone(),
                disposition: *disposition,
                tag: tag.clone(),
            },
            EventKind::Archive => FactBody::Archived,
        };
        facts.push(event.fact(id, node, body));
    }
    Ok(facts)
}

/// The facts of a complaint's events; `order_return` is its order's id and that order's latest
/// return request, as imported.
fn complaint_facts(
    entry: &ComplaintEntry,
    node: &str,
    order_return: Option<(&String, &String)>,
) -> Result<Vec<Fact>, ImportError> {
    let mut facts = Vec::new();
    for (i, event) in entry.events.iter().enumerate() {
        let body = match &event.kind {
            ComplaintEventKind::Assign { to, note } => FactBody::ComplaintAssigned {
                to: to.clone(),
                note: note.clone(),
            },
            ComplaintEventKind::Handle { note } => {
                FactBody::ComplaintHandled { note: note.clone() }
            }
            ComplaintEventKind::Close {
                result,
                satisfaction,
            } => FactBody::ComplaintClosed {
                result: result.clone(),
                satisfaction: *satisfaction,
            },
            ComplaintEventKind::Reopen { reason } => FactBody::ComplaintReopened {
                reason: reason.clone(),
            },
            ComplaintEventKind::Acknowledge { note } => {
                FactBody::ComplaintEscalationAcknowledged { note: note.clone() }
            }
            ComplaintEventKind::ReturnLink => {
                let (order, request) = order_return.ok_or_else(|| ImportError::Invalid {
                    at: format!("complaint {} event {i}", entry.reference),
                    message: "its order has no return request".into(),
                })?;
                FactBody::ComplaintReturnLinked {
                    order: order.clone(),
                    request: request.clone(),
                }
            }
        };
        facts.push(event.fact(new_id(), node, body));
    }
    Ok(facts)
}

/// The clerk who took a record down (`taken_by`, else "import"), as its changes name them.
fn clerk_author(taken_by: &str, action: String) -> ChangeAuthor {
    ChangeAuthor {
        user: if taken_by.is_empty() {
            "import".into()
        } else {
            taken_by.to_string()
        },
        role: Role::Clerk.to_string(),
        action,
    }
}

/// Appends `facts`, signed by this node, to document `id`.
fn write_facts(
    office: &BackOffice,
    id: &str,
    author: &ChangeAuthor,
    facts: Vec<Fact>,
) -> Result<(), ImportError> {
    let ops = facts
        .into_iter()
        .map(|f| {
            let json = serde_json::to_string(&f).unwrap_or_default();
            let json = office.authority().seal(id, &f.id, json);
            RecordOp::AddFact { id: f.id, json }
        })
        .collect::<Vec<_>>();
    office
        .store
        .update(id, author, |_| Ok::<_, ServiceError>(ops))
        .map_err(ServiceError::from)?;
    Ok(())
}

/// Facts count only within the importing node's certificate (`authority`): history of roles it
/// may not author would arrive as forged records.
fn check_roles<'a>(
    office: &BackOffice,
    at: &str,
    roles: impl Iterator<Item = &'a Role>,
) -> Result<(), ImportError> {
    let Some(certificate) = office.certificate() else {
        return Ok(());
    };
    for (i, role) in roles.enumerate() {
        if !certificate.allows(*role) {
            return Err(ImportError::Invalid {
                at: format!("{at} event {i}"),
                message: format!(
                    "this node's certificate does not allow the role {role}, so its records \
                     would not count; import on a node whose certificate names every role \
                     of the file (neiqin init --roles office,warehouse,finance)"
                ),
            });
        }
    }
    Ok(())
}

pub struct ImportCounts {
    pub contracts: usize,
    pub customers: usize,
    pub orders: usize,
    pub complaints: usize,
    pub facts: usize,
}

/// Imports a data set; `progress(done, total)` is called after each record.
pub fn import(
    office: &BackOffice,
    data: &DataSet,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportCounts, ImportError> {
    // Check everything first: a bad file must change nothing.
    let mut inputs = Vec::new();
    for c in &data.customers {
        inputs.push(customer_input(c)?);
    }
    let refs: std::collections::HashSet<&str> = data
        .customers
        .iter()
        .map(|c| c.reference.as_str())
        .collect();
    let kind_of = |c: &CustomerEntry| {
        c.fields
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_string)
    };
    for c in data.customers.iter().filter(|c| !c.dealer_ref.is_empty()) {
        let dealer = data.customers.iter().find(|d| d.reference == c.dealer_ref);
        if kind_of(c).as_deref() != Some("store")
            || dealer.and_then(kind_of).as_deref() != Some("dealer")
        {
            return Err(ImportError::Invalid {
                at: format!("customer {}", c.reference),
                message: format!(
                    "dealer_ref {}: only a store names a dealer, and it must be a customer of kind dealer",
                    c.dealer_ref
                ),
            });
        }
    }
    for o in &data.orders {
        if !refs.contains(o.customer_ref.as_str()) {
            return Err(ImportError::Invalid {
                at: format!("order {}", o.reference),
                message: format!("unknown customer_ref {}", o.customer_ref),
            });
        }
        new_order(o, "checked".into())
            .validate()
            .map_err(|e| ImportError::Invalid {
                at: format!("order {}", o.reference),
                message: format!("{:?}", e.0),
            })?;
        check_roles(
            office,
            &format!("order {}", o.reference),
            o.events.iter().map(|e| &e.role),
        )?;
    }
    let order_refs: std::collections::HashSet<&str> =
        data.orders.iter().map(|o| o.reference.as_str()).collect();
    for k in &data.complaints {
        let at = format!("complaint {}", k.reference);
        let invalid = |message: String| ImportError::Invalid {
            at: at.clone(),
            message,
        };
        if !refs.contains(k.customer_ref.as_str()) {
            return Err(invalid(format!("unknown customer_ref {}", k.customer_ref)));
        }
        if !k.order_ref.is_empty() && !order_refs.contains(k.order_ref.as_str()) {
            return Err(invalid(format!("unknown order_ref {}", k.order_ref)));
        }
        if k.content.trim().is_empty() {
            return Err(invalid("content must not be empty".into()));
        }
        if Channel::parse(&k.channel).is_none() || Category::parse(&k.category).is_none() {
            return Err(invalid(format!(
                "channel {:?} or category {:?} unknown",
                k.channel, k.category
            )));
        }
        check_roles(office, &at, k.events.iter().map(|e| &e.role))?;
    }

    for c in &data.contracts {
        check_contract(c, &refs)?;
        if let Some(certificate) = office.certificate() {
            if let Some(event) = c.events.iter().find(|e| !certificate.allows(e.role)) {
                return Err(ImportError::Invalid {
                    at: format!("contract {}", c.reference),
                    message: format!(
                        "this node's certificate does not allow the role {}, so its records \
                         would not count",
                        event.role
                    ),
                });
            }
        }
    }

    let total =
        data.customers.len() + data.contracts.len() + data.orders.len() + data.complaints.len();
    let importer = User {
        name: "import".into(),
        role: Role::Clerk,
    };
    let mut customer_ids: HashMap<&str, String> = HashMap::new();
    let mut done = 0;
    // Dealers and every archive naming none first, so a store's dealer has its id.
    let (mut first, mut linked) = (Vec::new(), Vec::new());
    for (entry, input) in data.customers.iter().zip(inputs) {
        if entry.dealer_ref.is_empty() {
            first.push((entry, input));
        } else {
            linked.push((entry, input));
        }
    }
    for (entry, mut input) in first.into_iter().chain(linked) {
        if !entry.dealer_ref.is_empty() {
            input.header.insert(
                "dealer".into(),
                customer_ids[entry.dealer_ref.as_str()].clone(),
            );
        }
        let customer = office.create_customer(&importer, input)?;
        customer_ids.insert(&entry.reference, customer.id);
        done += 1;
        progress(done, total);
    }
    let mut fact_count = 0;
    for entry in &data.contracts {
        let customer_id = &customer_ids[entry.customer_ref.as_str()];
        fact_count += import_contract(office, entry, customer_id)?;
        done += 1;
        progress(done, total);
    }
    // Order ref -> (order id, its latest return request), for the complaints that led to one.
    let mut order_ids: HashMap<&str, (String, Option<String>)> = HashMap::new();
    for entry in &data.orders {
        let customer_id = customer_ids[entry.customer_ref.as_str()].clone();
        let author = clerk_author(&entry.taken_by, format!("import order {}", entry.reference));
        let number = format!("{}-{}", office.identity.order_prefix, entry.reference);
        let id = office.import_order(
            &author,
            &number,
            entry.taken_at.with_timezone(&Utc),
            new_order(entry, customer_id),
        )?;
        let mut last_return = None;
        if !entry.events.is_empty() {
            let order = office.order(&id)?;
            let facts = facts_of(entry, &order, &office.identity.node_id)?;
            fact_count += facts.len();
            last_return = facts
                .iter()
                .rfind(|f| matches!(f.body, FactBody::ReturnRequested { .. }))
                .map(|f| f.id.clone());
            let author = ChangeAuthor {
                action: format!("import events of order {}", entry.reference),
                ..author
            };
            write_facts(office, &id, &author, facts)?;
        }
        order_ids.insert(&entry.reference, (id, last_return));
        done += 1;
        progress(done, total);
    }
    for entry in &data.complaints {
        let author = clerk_author(
            &entry.taken_by,
            format!("import complaint {}", entry.reference),
        );
        let new = NewComplaint {
            customer_id: customer_ids[entry.customer_ref.as_str()].clone(),
            store: entry.store.clone(),
            order_id: order_ids.get(entry.order_ref.as_str()).map(|o| o.0.clone()),
            channel: entry.channel.clone(),
            category: entry.category.clone(),
            content: entry.content.clone(),
            photos: Vec::new(),
        };
        let number = format!("{}-{}", office.identity.order_prefix, entry.reference);
        let id =
            office.import_complaint(&author, &number, entry.taken_at.with_timezone(&Utc), new)?;
        let order_return = order_ids
            .get(entry.order_ref.as_str())
            .and_then(|(order, request)| Some((order, request.as_ref()?)));
        let facts = complaint_facts(entry, &office.identity.node_id, order_return)?;
        fact_count += facts.len();
        if !facts.is_empty() {
            write_facts(office, &id, &author, facts)?;
        }
        done += 1;
        progress(done, total);
    }
    office.store.flush().map_err(ServiceError::from)?;
    Ok(ImportCounts {
        contracts: data.contracts.len(),
        customers: data.customers.len(),
        orders: data.orders.len(),
        complaints: data.complaints.len(),
        facts: fact_count,
    })
}
