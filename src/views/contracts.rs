//! What the store indexes about each contract (合同): its summary and the index entries lists
//! (by state, customer, expiry) and number lookups are read from. The orders under a contract
//! are found from `ORDER_CONTRACT`, written with each order (`views::project_order`).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{field, search_key};
use crate::domain::contract::{Contract, ContractState};
use crate::store::Projection;

/// `state|created`: lists by state, newest first.
pub const CONTRACT_STATE: &str = "contract_state";
/// Every contract's `created`: all contracts newest first.
pub const CONTRACT_CREATED: &str = "contract_created";
/// `customer|created`.
pub const CONTRACT_CUSTOMER: &str = "contract_customer";
/// The contract number as typed (`search_key`), so an order may name its contract by number.
pub const CONTRACT_NUMBER: &str = "contract_number";
/// Contracts with a signed version: `valid_to|created`, the validity in force, so the contracts
/// expiring soon and those expired are ranges of it.
pub const CONTRACT_VALID_TO: &str = "contract_valid_to";
/// Written with each order naming a contract: `contract|created`, the order's `contract` field
/// as stored (the contract's id, or a number typed before contracts were documents).
pub const ORDER_CONTRACT: &str = "order_contract";

/// What each contract may take and what each order under it uses, side by side, so the
/// contracts its orders exceed (合同超额) are found in one scan of this index, without loading
/// an order or a summary: a signed contract writes `<id>|a|<amount in force>`, each order
/// naming a contract and not cancelled `<contract>|o|<gross>`. Entries of one contract are next
/// to each other, its amount first.
pub const CONTRACT_LEDGER: &str = "contract_ledger";
/// The ledger entry's kinds: the contract's amount, an order's gross.
pub const LEDGER_AMOUNT: &str = "a";
pub const LEDGER_ORDER: &str = "o";

/// A contract as lists show it, kept beside the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContractSummary {
    pub id: String,
    pub number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub party_a: String,
    pub party_b: String,
    /// The current version's amount.
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub amount: Decimal,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub version: u32,
    /// Where the current version stands.
    pub state: ContractState,
    /// The latest version signed (in force), if any, its signing date and validity.
    pub signed_version: Option<u32>,
    pub signed_on: Option<NaiveDate>,
    pub in_force_until: Option<NaiveDate>,
    pub created_at: String,
    /// Records that do not count (越权或伪造的记录).
    pub anomalies: usize,
}

impl ContractSummary {
    pub fn of(contract: &Contract) -> ContractSummary {
        let content = contract.content();
        let signed = contract.signed();
        ContractSummary {
            id: contract.id.clone(),
            number: contract.get("number").to_string(),
            customer_id: contract.get("customer_id").to_string(),
            customer_name: contract.get("customer_name").to_string(),
            party_a: content.party_a,
            party_b: content.party_b,
            amount: content.amount,
            valid_from: content.valid_from,
            valid_to: content.valid_to,
            version: contract.version(),
            state: contract.state(),
            signed_version: signed.map(|s| s.0),
            signed_on: signed.map(|s| s.1),
            in_force_until: contract.in_force_until(),
            created_at: contract.get("created_at").to_string(),
            anomalies: contract.refused_facts.len(),
        }
    }
}

pub fn project(contract: &Contract) -> Projection {
    let summary = ContractSummary::of(contract);
    let created = field(&summary.created_at);
    let mut index = vec![
        (
            CONTRACT_STATE,
            format!("{}|{created}", summary.state.as_str()),
        ),
        (CONTRACT_CREATED, created.clone()),
        (
            CONTRACT_CUSTOMER,
            format!("{}|{created}", field(&summary.customer_id)),
        ),
        (CONTRACT_NUMBER, field(&search_key(&summary.number))),
    ];
    if let Some(until) = summary.in_force_until {
        index.push((CONTRACT_VALID_TO, format!("{until}|{created}")));
        index.push((
            CONTRACT_LEDGER,
            format!(
                "{}|{LEDGER_AMOUNT}|{}",
                field(&contract.id),
                contract.amount_in_force()
            ),
        ));
    }
    Projection {
        index,
        summary: postcard::to_allocvec(&summary).unwrap_or_default(),
    }
}
