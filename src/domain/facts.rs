//! Append-only facts: what people record about an order, each under a unique id, never changed.
//!
//! Several nodes add facts to the same order while apart; because each fact has its own key, a
//! merge keeps all of them. Corrections are new facts (a void, a reinstatement), never deletions.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::record::Record;
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

/// Why finance let goods go with less paid than due: 赊销 (credit sale) or 月结 (monthly account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditDecision {
    pub kind: CreditKind,
    pub reason: String,
    /// Due minus paid at the release: what the customer owes on credit.
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub amount: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    /// 赊销
    CreditSale,
    /// 月结
    Monthly,
}

/// One field's old and new value in a change (`lines.<id>.unit_price` for a line field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    pub old: String,
    pub new: String,
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
    /// 跟单: a production note; a revised date becomes the date the order is held to
    /// (`domain::delay`), the date typed at order taking stays in the header.
    Progress {
        note: String,
        #[serde(default)]
        revised_date: Option<NaiveDate>,
        #[serde(default)]
        delay_reason: Option<String>,
    },
    /// 催款: a clerk (or supervisor) reminded the customer to pay; `next_date` is when to
    /// follow up.
    PaymentReminder {
        note: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_date: Option<NaiveDate>,
    },
    /// The VP saw that the order is late against `promised_date` (上报销售副总). A later
    /// revised date is a new delay to acknowledge.
    DelayAcknowledged {
        promised_date: NaiveDate,
        #[serde(default)]
        note: String,
    },
    /// 出货单: one version of the shipping document. Versions are ordered by time, then id.
    /// Ship date, route (运送途径) and who pays freight (付费方式) are what the rules ask of it;
    /// documents written before they were required read back empty.
    ShippingDoc {
        lines: Vec<ShipLine>,
        #[serde(default)]
        ship_date: Option<NaiveDate>,
        #[serde(default)]
        route: String,
        #[serde(default)]
        freight_payer: String,
    },
    /// 财务放行 of one exact shipping-document version (the fact id of that version), with what
    /// was paid and due at that moment, and the credit decision when paid was short of due.
    FinanceRelease {
        shipping_doc: String,
        #[schema(value_type = Option<String>)]
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "super::money::serde_money_option"
        )]
        paid: Option<Decimal>,
        #[schema(value_type = Option<String>)]
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "super::money::serde_money_option"
        )]
        due: Option<Decimal>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credit: Option<CreditDecision>,
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
        /// The release this shipment went out under (None: recorded after the goods left
        /// without one). Its shipping document bounds the lines and quantities.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release: Option<String>,
    },
    Payment {
        #[schema(value_type = String)]
        #[serde(with = "super::money::serde_money")]
        amount: Decimal,
        date: NaiveDate,
        method: String,
        payer: String,
        bank_ref: String,
        /// One payment allocated over several orders of a customer (`POST /api/payments`):
        /// every allocation carries the same id and bank reference, so the reference on those
        /// orders is one payment, not a duplicate. Absent for a payment of one order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payment_id: Option<String>,
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
        #[serde(with = "super::money::serde_money")]
        amount: Decimal,
    },
    /// 红冲: an invoice voided by a red-letter invoice. The number stays used.
    InvoiceVoided {
        invoice: String,
        #[serde(default)]
        reason: String,
    },
    Cancelled {
        #[serde(default)]
        reason: String,
    },
    Reinstated {
        #[serde(default)]
        reason: String,
    },
    /// The unshipped rest of a partly shipped order is cancelled; what shipped stands.
    RemainderCancelled {
        #[serde(default)]
        reason: String,
    },
    /// A change of the order's fields or lines, with every old and new value. After 核单 it is
    /// a 变更单 (`change_order`): it needs a reason and sends the order back to 待核单.
    Changed {
        changes: Vec<FieldChange>,
        #[serde(default)]
        reason: String,
        change_order: bool,
        /// The order's gross before and after, so reports of past days keep their figures and
        /// the change is reported on its own day as an adjustment.
        #[schema(value_type = String)]
        #[serde(with = "super::money::serde_money")]
        gross_before: Decimal,
        #[schema(value_type = String)]
        #[serde(with = "super::money::serde_money")]
        gross_after: Decimal,
    },
    /// A supervisor's correction of an archived order: a note on the record, nothing edited.
    Correction {
        note: String,
    },
    Archived,
    ReturnRequested {
        return_kind: ReturnKind,
        lines: Vec<ShipLine>,
        reason: String,
        /// Content hashes of photo attachments.
        #[serde(default)]
        photos: Vec<String>,
        /// A damage claim (破损); it needs photos (需有照片).
        #[serde(default)]
        damaged: bool,
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
    /// A repaired (or exchanged) item sent back to the customer.
    ReturnedToCustomer {
        request: String,
        #[serde(default)]
        waybill: String,
    },
    AnomalyResolved {
        anomaly: String,
        resolution: String,
    },
    /// A follow-up of a prospect.
    FollowedUp(super::prospect::FollowUp),
    /// 客诉分派: who handles a complaint, a person or a department.
    ComplaintAssigned {
        to: String,
        #[serde(default)]
        note: String,
    },
    /// 客诉处理: what was done about a complaint; as many as it takes.
    ComplaintHandled {
        note: String,
    },
    /// 客诉结案: the result and the customer's satisfaction.
    ComplaintClosed {
        result: String,
        satisfaction: super::complaint::Satisfaction,
    },
    /// A closed complaint is open again (the customer came back).
    ComplaintReopened {
        reason: String,
    },
    /// 上报主管: the supervisor saw a complaint open too long.
    ComplaintEscalationAcknowledged {
        #[serde(default)]
        note: String,
    },
    /// The complaint led to a return (退换维修): the return request (fact id) on an order.
    ComplaintReturnLinked {
        order: String,
        request: String,
    },
    /// 合同提交: the clerk sends a contract version to the supervisor's review.
    ContractSubmitted {
        version: u32,
    },
    /// 主管审核 of a contract version: approved, or rejected with a reason.
    ContractReviewed {
        version: u32,
        approved: bool,
        #[serde(default)]
        reason: String,
    },
    /// 领导审批 of a contract version by the VP: approved, or rejected with a reason.
    ContractApproved {
        version: u32,
        approved: bool,
        #[serde(default)]
        reason: String,
    },
    /// 签订: the approved version was signed with the customer on `signed_on`.
    ContractSigned {
        version: u32,
        signed_on: NaiveDate,
    },
    /// 归档: the signed contract was filed.
    ContractArchived {
        version: u32,
    },
    /// A change after submission: `version` is the new version, `previous` the content it
    /// replaces (kept readable), and the new version goes through review again.
    ContractRevised {
        version: u32,
        previous: super::contract::ContractContent,
        #[serde(default)]
        reason: String,
    },
    /// A write of a customer archive (create, change, merge): the fields and collections it
    /// set. The values it wrote are vouched for by the fact's `attested` member
    /// (`domain::attest`), so a value no authorised node wrote shows as an anomaly.
    ArchiveWritten {
        #[serde(default)]
        fields: Vec<String>,
        /// The items it removed (`contacts.<id>`): gone by a signed record, so no anomaly,
        /// and never vouched for again if they reappear (`domain::attest`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<String>,
    },
}

impl Fact {
    /// Facts in the order they happened; ties (clock skew between nodes) broken by id, so every
    /// node sees the same order.
    pub fn sort_key(&self) -> (DateTime<Utc>, &str) {
        (self.at, self.id.as_str())
    }
}

/// Whether a stored fact of `record` (`stored` as written, `fact` as parsed from it) counts
/// (`authority`): Err(why) when it must not.
pub trait FactCheck {
    fn check(
        &self,
        doc_id: &str,
        fact_id: &str,
        stored: &str,
        fact: &Fact,
        record: &Record,
    ) -> Result<(), String>;
}

/// Counts every readable fact (a store outside any node, unit tests).
pub struct CountAll;

impl FactCheck for CountAll {
    fn check(&self, _: &str, _: &str, _: &str, _: &Fact, _: &Record) -> Result<(), String> {
        Ok(())
    }
}

/// A document's facts sorted as they happened, split into those that count and those `check`
/// refused (kept as evidence, each an anomaly). Every kind of document reads its facts so.
#[derive(Debug, Clone, Default)]
pub struct CheckedFacts {
    pub facts: Vec<Fact>,
    /// Facts that do not count (unsigned, forged, or beyond their author's authority), with why.
    pub refused_facts: Vec<(Fact, String)>,
    /// Facts whose JSON this version cannot read (written by a newer one).
    pub unreadable_facts: usize,
}

impl CheckedFacts {
    pub fn of(doc_id: &str, record: &Record, check: &dyn FactCheck) -> CheckedFacts {
        let mut checked = CheckedFacts::default();
        for (fact_id, json) in &record.facts {
            match serde_json::from_str::<Fact>(json) {
                Ok(fact) => match check.check(doc_id, fact_id, json, &fact, record) {
                    Ok(()) => checked.facts.push(fact),
                    Err(why) => checked.refused_facts.push((fact, why)),
                },
                Err(_) => checked.unreadable_facts += 1,
            }
        }
        checked
            .refused_facts
            .sort_by(|a, b| a.0.sort_key().cmp(&b.0.sort_key()));
        checked
            .facts
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        checked
    }
}
