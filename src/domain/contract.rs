//! Sales contracts (合同): drafted by a clerk, reviewed by the supervisor (主管审核), approved by
//! the VP (领导审批), signed (签订) and archived (归档), each step a signed fact naming the
//! version it is about. A change after submission is a new version (版本): the fields hold the
//! current version's content, a `ContractRevised` fact keeps the content it replaced, and the new
//! version goes through review and approval again. Where a contract stands is derived from the
//! facts of its current version, never stored.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::facts::{CheckedFacts, Fact, FactBody};
use super::record::Record;

pub const CONTRACT_KIND: &str = "contract";

/// The document's fields: `number`, `customer_*` and `created_at` are written once, the rest are
/// the current version's content (`CONTENT_FIELDS`). `attachments` holds content hashes
/// separated by spaces.
pub const FIELDS: &[&str] = &[
    "number",
    "customer_id",
    "customer_name",
    "party_a",
    "party_b",
    "amount",
    "terms",
    "valid_from",
    "valid_to",
    "attachments",
    "created_at",
];

/// The fields a version is made of.
pub const CONTENT_FIELDS: &[&str] = &[
    "party_a",
    "party_b",
    "amount",
    "terms",
    "valid_from",
    "valid_to",
    "attachments",
];

/// One version's content: what review and approval are about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContractContent {
    /// 甲方
    pub party_a: String,
    /// 乙方
    pub party_b: String,
    #[schema(value_type = String)]
    #[serde(with = "super::money::serde_money")]
    pub amount: Decimal,
    pub terms: String,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    /// Attachment hashes (`GET /api/attachments/{hash}`).
    #[serde(default)]
    pub attachments: Vec<String>,
}

impl ContractContent {
    /// The content as document fields.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("party_a", self.party_a.clone()),
            ("party_b", self.party_b.clone()),
            ("amount", self.amount.to_string()),
            ("terms", self.terms.clone()),
            ("valid_from", self.valid_from.to_string()),
            ("valid_to", self.valid_to.to_string()),
            ("attachments", self.attachments.join(" ")),
        ]
    }
}

/// Where the current version stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ContractState {
    /// Being drafted, editable (草稿).
    Draft,
    /// Waiting for the supervisor's review (待主管审核).
    Submitted,
    /// Reviewed, waiting for the VP's approval (待领导审批).
    Reviewed,
    /// Approved, waiting to be signed (待签订).
    Approved,
    /// Signed with the customer (已签订).
    Signed,
    /// Filed after signing (已归档).
    Archived,
    /// Rejected by the supervisor or the VP; a new version goes through again (已退回).
    Rejected,
}

impl ContractState {
    pub const ALL: &'static [ContractState] = &[
        ContractState::Draft,
        ContractState::Submitted,
        ContractState::Reviewed,
        ContractState::Approved,
        ContractState::Signed,
        ContractState::Archived,
        ContractState::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContractState::Draft => "draft",
            ContractState::Submitted => "submitted",
            ContractState::Reviewed => "reviewed",
            ContractState::Approved => "approved",
            ContractState::Signed => "signed",
            ContractState::Archived => "archived",
            ContractState::Rejected => "rejected",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ContractState::Draft => "草稿",
            ContractState::Submitted => "待主管审核",
            ContractState::Reviewed => "待领导审批",
            ContractState::Approved => "待签订",
            ContractState::Signed => "已签订",
            ContractState::Archived => "已归档",
            ContractState::Rejected => "已退回",
        }
    }

    pub fn parse(s: &str) -> Option<ContractState> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s.trim())
    }
}

/// The version a workflow fact is about, None for other facts.
pub fn version_of(body: &FactBody) -> Option<u32> {
    match body {
        FactBody::ContractSubmitted { version }
        | FactBody::ContractReviewed { version, .. }
        | FactBody::ContractApproved { version, .. }
        | FactBody::ContractSigned { version, .. }
        | FactBody::ContractArchived { version }
        | FactBody::ContractRevised { version, .. } => Some(*version),
        _ => None,
    }
}

/// A contract read back from its document, with only the facts that count.
#[derive(Debug, Clone)]
pub struct Contract {
    pub id: String,
    pub fields: BTreeMap<String, String>,
    /// Facts that count, as they happened.
    pub facts: Vec<Fact>,
    /// Facts that do not count (unsigned, forged, beyond their author's authority), with why.
    pub refused_facts: Vec<(Fact, String)>,
}

impl Contract {
    pub fn from_checked(id: &str, record: &Record, checked: CheckedFacts) -> Contract {
        let fields = FIELDS
            .iter()
            .map(|f| {
                (
                    f.to_string(),
                    record.field(f).unwrap_or_default().to_string(),
                )
            })
            .collect();
        Contract {
            id: id.to_string(),
            fields,
            facts: checked.facts,
            refused_facts: checked.refused_facts,
        }
    }

    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.get("created_at").parse().ok()
    }

    /// The current version's content as the fields hold it (unreadable values read as zero
    /// amounts and the Unix epoch, which no rule lets in).
    pub fn content(&self) -> ContractContent {
        let date = |f: &str| self.get(f).parse().unwrap_or_default();
        ContractContent {
            party_a: self.get("party_a").to_string(),
            party_b: self.get("party_b").to_string(),
            amount: self.get("amount").parse().unwrap_or_default(),
            terms: self.get("terms").to_string(),
            valid_from: date("valid_from"),
            valid_to: date("valid_to"),
            attachments: self
                .get("attachments")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }
    }

    /// The revisions, as they happened: the n-th made version n + 1.
    fn revisions(&self) -> impl Iterator<Item = &Fact> {
        self.facts
            .iter()
            .filter(|f| matches!(f.body, FactBody::ContractRevised { .. }))
    }

    /// The current version: 1, plus one per revision.
    pub fn version(&self) -> u32 {
        1 + self.revisions().count() as u32
    }

    /// Version `version`'s content: the fields for the current one, else what the revision
    /// after it kept.
    pub fn content_of(&self, version: u32) -> Option<ContractContent> {
        if version == self.version() {
            return Some(self.content());
        }
        let index = usize::try_from(version.checked_sub(1)?).ok()?;
        self.revisions().nth(index).and_then(|f| match &f.body {
            FactBody::ContractRevised { previous, .. } => Some(previous.clone()),
            _ => None,
        })
    }

    /// The workflow facts about `version`, as they happened.
    pub fn facts_of(&self, version: u32) -> impl Iterator<Item = &Fact> {
        self.facts.iter().filter(move |f| {
            version_of(&f.body) == Some(version)
                && !matches!(f.body, FactBody::ContractRevised { .. })
        })
    }

    /// Where `version` stands, from its facts; the latest decision of each kind wins.
    pub fn state_of(&self, version: u32) -> ContractState {
        let facts: Vec<&Fact> = self.facts_of(version).collect();
        let any = |p: fn(&FactBody) -> bool| facts.iter().any(|f| p(&f.body));
        let last_decision =
            |p: fn(&FactBody) -> Option<bool>| facts.iter().rev().find_map(|f| p(&f.body));
        if any(|b| matches!(b, FactBody::ContractArchived { .. })) {
            return ContractState::Archived;
        }
        if any(|b| matches!(b, FactBody::ContractSigned { .. })) {
            return ContractState::Signed;
        }
        if !any(|b| matches!(b, FactBody::ContractSubmitted { .. })) {
            return ContractState::Draft;
        }
        let approval = last_decision(|b| match b {
            FactBody::ContractApproved { approved, .. } => Some(*approved),
            _ => None,
        });
        let review = last_decision(|b| match b {
            FactBody::ContractReviewed { approved, .. } => Some(*approved),
            _ => None,
        });
        match (review, approval) {
            (Some(false), _) | (_, Some(false)) => ContractState::Rejected,
            (_, Some(true)) => ContractState::Approved,
            (Some(true), None) => ContractState::Reviewed,
            (None, None) => ContractState::Submitted,
        }
    }

    pub fn state(&self) -> ContractState {
        self.state_of(self.version())
    }

    /// The latest version signed, with its signing date: the one in force.
    pub fn signed(&self) -> Option<(u32, NaiveDate)> {
        self.facts.iter().rev().find_map(|f| match &f.body {
            FactBody::ContractSigned { version, signed_on } => Some((*version, *signed_on)),
            _ => None,
        })
    }

    /// The amount orders may use: the signed version's (the one in force), else the current
    /// version's. A new version raising it counts once it is signed.
    pub fn amount_in_force(&self) -> Decimal {
        self.signed()
            .and_then(|(version, _)| self.content_of(version))
            .unwrap_or_else(|| self.content())
            .amount
    }

    /// The validity in force: the signed version's, None before any version was signed.
    pub fn in_force_until(&self) -> Option<NaiveDate> {
        let (version, _) = self.signed()?;
        self.content_of(version).map(|c| c.valid_to)
    }

    /// The latest rejection of the current version: who, and why.
    pub fn rejection(&self) -> Option<(&Fact, &str)> {
        let facts: Vec<&Fact> = self.facts_of(self.version()).collect();
        facts.into_iter().rev().find_map(|f| match &f.body {
            FactBody::ContractReviewed {
                approved: false,
                reason,
                ..
            }
            | FactBody::ContractApproved {
                approved: false,
                reason,
                ..
            } => Some((f, reason.as_str())),
            _ => None,
        })
    }
}

/// Whether `valid_to` is past on `today` (the last day of validity still counts).
pub fn expired(valid_to: NaiveDate, today: NaiveDate) -> bool {
    valid_to < today
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::CountAll;
    use crate::domain::record::FieldValue;
    use crate::domain::role::Role;

    fn fact(id: &str, at: &str, role: Role, body: FactBody) -> (String, String) {
        let fact = Fact {
            id: id.into(),
            at: at.parse().unwrap(),
            user: "张三".into(),
            role,
            node: "n1".into(),
            body,
        };
        (id.into(), serde_json::to_string(&fact).unwrap())
    }

    fn contract(facts: Vec<(String, String)>) -> Contract {
        let mut record = Record {
            kind: CONTRACT_KIND.into(),
            ..Record::default()
        };
        for (k, v) in [
            ("amount", "200000.00"),
            ("valid_from", "2026-01-01"),
            ("valid_to", "2026-12-31"),
        ] {
            record.fields.insert(k.into(), FieldValue::plain(v));
        }
        record.facts = facts.into_iter().collect();
        let checked = CheckedFacts::of("c1", &record, &CountAll);
        Contract::from_checked("c1", &record, checked)
    }

    #[test]
    fn the_state_follows_the_current_versions_facts() {
        let submitted = fact(
            "f1",
            "2026-01-01T01:00:00Z",
            Role::Clerk,
            FactBody::ContractSubmitted { version: 1 },
        );
        let reviewed = fact(
            "f2",
            "2026-01-01T02:00:00Z",
            Role::Supervisor,
            FactBody::ContractReviewed {
                version: 1,
                approved: true,
                reason: String::new(),
            },
        );
        let approved = fact(
            "f3",
            "2026-01-01T03:00:00Z",
            Role::Vp,
            FactBody::ContractApproved {
                version: 1,
                approved: true,
                reason: String::new(),
            },
        );
        let signed = fact(
            "f4",
            "2026-01-01T04:00:00Z",
            Role::Clerk,
            FactBody::ContractSigned {
                version: 1,
                signed_on: "2026-01-01".parse().unwrap(),
            },
        );
        let mut old = contract(vec![]).content();
        old.amount = "150000".parse().unwrap();
        old.valid_to = "2026-06-30".parse().unwrap();
        let revised = fact(
            "f5",
            "2026-02-01T01:00:00Z",
            Role::Clerk,
            FactBody::ContractRevised {
                version: 2,
                previous: old.clone(),
                reason: "追加数量".into(),
            },
        );
        assert_eq!(contract(vec![]).state(), ContractState::Draft);
        assert_eq!(
            contract(vec![submitted.clone()]).state(),
            ContractState::Submitted
        );
        assert_eq!(
            contract(vec![submitted.clone(), reviewed.clone()]).state(),
            ContractState::Reviewed
        );
        let all = vec![submitted, reviewed, approved, signed];
        let signed_v1 = contract(all.clone());
        assert_eq!(signed_v1.state(), ContractState::Signed);
        assert_eq!(signed_v1.in_force_until(), "2026-12-31".parse().ok());
        let mut with_revision = all;
        with_revision.push(revised);
        let v2 = contract(with_revision);
        assert_eq!(v2.version(), 2);
        assert_eq!(v2.state(), ContractState::Draft);
        assert_eq!(v2.state_of(1), ContractState::Signed);
        assert_eq!(v2.content_of(1), Some(old));
        assert_eq!(v2.content_of(2).unwrap().amount.to_string(), "200000.00");
        // Version 1 stays in force, with its own validity, until version 2 is signed.
        assert_eq!(v2.signed().map(|s| s.0), Some(1));
        assert_eq!(v2.in_force_until(), "2026-06-30".parse().ok());
    }

    #[test]
    fn a_rejection_by_either_reviewer_sends_it_back() {
        let submitted = fact(
            "f1",
            "2026-01-01T01:00:00Z",
            Role::Clerk,
            FactBody::ContractSubmitted { version: 1 },
        );
        let rejected = fact(
            "f2",
            "2026-01-01T02:00:00Z",
            Role::Supervisor,
            FactBody::ContractReviewed {
                version: 1,
                approved: false,
                reason: "付款条款不清".into(),
            },
        );
        let c = contract(vec![submitted, rejected]);
        assert_eq!(c.state(), ContractState::Rejected);
        assert_eq!(c.rejection().map(|r| r.1), Some("付款条款不清"));
    }
}
