//! Returns, exchanges and repairs (退/换/维修) of an order as cases with a state, derived from the
//! order's facts: asked for by the clerk, decided by the VP, received by the warehouse, and (for
//! repairs and exchanges) sent back to the customer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::facts::{FactBody, ReturnKind, ShipLine};
use super::order::Order;

/// Where a return stands; each state is someone's queue.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReturnState {
    /// 待审批: waiting for the VP's decision.
    Pending,
    /// 退货待收: approved, the goods not yet received by the warehouse.
    Approved,
    /// 已驳回
    Rejected,
    /// 已收货: received; a repair or exchange still goes back to the customer.
    Received,
    /// 已寄回: a repaired or exchanged item sent back to the customer.
    ReturnedToCustomer,
}

impl ReturnState {
    pub const ALL: [ReturnState; 5] = [
        ReturnState::Pending,
        ReturnState::Approved,
        ReturnState::Rejected,
        ReturnState::Received,
        ReturnState::ReturnedToCustomer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnState::Pending => "pending",
            ReturnState::Approved => "approved",
            ReturnState::Rejected => "rejected",
            ReturnState::Received => "received",
            ReturnState::ReturnedToCustomer => "returned_to_customer",
        }
    }

    pub fn parse(s: &str) -> Option<ReturnState> {
        ReturnState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ReturnState::Pending => "待审批",
            ReturnState::Approved => "退货待收",
            ReturnState::Rejected => "已驳回",
            ReturnState::Received => "已收货",
            ReturnState::ReturnedToCustomer => "已寄回",
        }
    }
}

/// One return request of an order and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReturnCase {
    /// The request's fact id: the id the return routes take.
    pub id: String,
    pub order_id: String,
    pub order_number: String,
    pub customer_id: String,
    pub store: String,
    pub return_kind: ReturnKind,
    pub state: ReturnState,
    pub lines: Vec<ShipLine>,
    pub reason: String,
    pub damaged: bool,
    pub photos: Vec<String>,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    /// The VP's note on the decision, once decided.
    pub decision_note: Option<String>,
}

/// Every return request of `order`, in the order they were made, each with its state.
pub fn return_cases(order: &Order) -> Vec<ReturnCase> {
    order
        .facts
        .iter()
        .filter_map(|fact| {
            let FactBody::ReturnRequested {
                return_kind,
                lines,
                reason,
                photos,
                damaged,
            } = &fact.body
            else {
                return None;
            };
            let later: Vec<&FactBody> = order
                .facts
                .iter()
                .map(|f| &f.body)
                .filter(|b| concerns(b, &fact.id))
                .collect();
            // The first decision counts, as `decide_return` refuses a second one locally.
            let decision = later.iter().find_map(|b| match b {
                FactBody::ReturnDecided { approved, note, .. } => Some((*approved, note.clone())),
                _ => None,
            });
            let received = later
                .iter()
                .any(|b| matches!(b, FactBody::ReturnReceived { .. }));
            let sent_back = later
                .iter()
                .any(|b| matches!(b, FactBody::ReturnedToCustomer { .. }));
            let state = match (&decision, received, sent_back) {
                (_, _, true) => ReturnState::ReturnedToCustomer,
                (_, true, false) => ReturnState::Received,
                (Some((false, _)), false, false) => ReturnState::Rejected,
                (Some((true, _)), false, false) => ReturnState::Approved,
                (None, false, false) => ReturnState::Pending,
            };
            Some(ReturnCase {
                id: fact.id.clone(),
                order_id: order.id.clone(),
                order_number: order.get("number").to_string(),
                customer_id: order.get("customer_id").to_string(),
                store: order.get("store").to_string(),
                return_kind: *return_kind,
                state,
                lines: lines.clone(),
                reason: reason.clone(),
                damaged: *damaged,
                photos: photos.clone(),
                requested_at: fact.at,
                requested_by: fact.user.clone(),
                decision_note: decision.map(|(_, note)| note),
            })
        })
        .collect()
}

/// Whether `body` is a step of the return request `request`.
fn concerns(body: &FactBody, request: &str) -> bool {
    match body {
        FactBody::ReturnDecided { request: r, .. }
        | FactBody::ReturnReceived { request: r, .. }
        | FactBody::ReturnedToCustomer { request: r, .. } => r == request,
        _ => false,
    }
}
