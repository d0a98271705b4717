//! Append-only facts: what people record about an order, each under a unique id, never changed.
//!
//! Several nodes add facts to the same order while apart; because each fact has its own key, a
//! merge keeps all of them. Corrections are new facts (a void, a reinstatement), never deletions.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::role::Role;

/// One recorded fact with who recorded it, where and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fact {
    pub id: String,
    pub at: DateTime<Utc>,
    pub user: String,
    pub role: Role,
    pub node: String,
    #[serde(flatten)]
    pub body: FactBody,
}

/// The parties a clerk confirms an order with at 核单.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    Salesperson,
    Customer,
    Workshop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShipLine {
    pub line: String,
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// Price agreed on the shipping document; absent on shipments.
    #[schema(value_type = Option<String>)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub unit_price: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReturnKind {
    Return,
    Exchange,
    Repair,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    Stock,
    Repair,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FactBody {
    /// 核单: which parties confirmed and which fields were checked.
    Verified {
        parties: Vec<Party>,
        #[serde(default)]
        checked: BTreeMap<String, bool>,
    },
    Approved {
        #[serde(default)]
        note: String,
    },
    ReleasedToWorkshop,
    Progress {
        note: String,
        #[serde(default)]
        revised_date: Option<NaiveDate>,
        #[serde(default)]
        delay_reason: Option<String>,
    },
    /// 出货单: one version of the shipping document. Versions are ordered by time, then id.
    ShippingDoc {
        lines: Vec<ShipLine>,
    },
    /// 财务放行 of one exact shipping-document version (the fact id of that version).
    FinanceRelease {
        shipping_doc: String,
    },
    Shipment {
        lines: Vec<ShipLine>,
        #[serde(default)]
        carrier: String,
        #[serde(default)]
        waybill: String,
        #[serde(default)]
        cartons: u32,
        /// Finance releases this node knew of when it shipped: the proof the rule held locally.
        #[serde(default)]
        releases_seen: Vec<String>,
    },
    Payment {
        #[schema(value_type = String)]
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
        date: NaiveDate,
        method: String,
        payer: String,
        bank_ref: String,
    },
    PaymentVoid {
        payment: String,
        #[serde(default)]
        reason: String,
    },
    Invoice {
        number: String,
        title: String,
        #[schema(value_type = String)]
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    Cancelled {
        #[serde(default)]
        reason: String,
    },
    Reinstated {
        #[serde(default)]
        reason: String,
    },
    Archived,
    ReturnRequested {
        return_kind: ReturnKind,
        lines: Vec<ShipLine>,
        reason: String,
        /// Content hashes of photo attachments.
        #[serde(default)]
        photos: Vec<String>,
    },
    ReturnDecided {
        request: String,
        approved: bool,
        #[serde(default)]
        note: String,
    },
    ReturnReceived {
        request: String,
        lines: Vec<ShipLine>,
        condition: String,
        disposition: Disposition,
        tag: String,
    },
    AnomalyResolved {
        anomaly: String,
        resolution: String,
    },
    /// A follow-up of a prospect.
    FollowedUp(super::prospect::FollowUp),
}

impl Fact {
    /// Facts in the order they happened; ties (clock skew between nodes) broken by id, so every
    /// node sees the same order.
    pub fn sort_key(&self) -> (DateTime<Utc>, &str) {
        (self.at, self.id.as_str())
    }
}
