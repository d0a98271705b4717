//! Prospects (意向客户): who was sent a catalogue, material or price list, every follow-up by
//! phone, SMS or email with the next follow-up date, and the customer it became.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::facts::{CheckedFacts, CountAll, Fact, FactCheck};
use super::record::Record;

pub const PROSPECT_KIND: &str = "prospect";

pub const FIELDS: &[&str] = &[
    "name",
    "contact",
    "phone",
    "city",
    "region",
    "source",
    "note",
    "converted_to",
];

/// What a follow-up did: how the prospect was reached, what was sent, and when to call again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUp {
    /// phone, sms, email or visit
    pub method: String,
    #[serde(default)]
    pub note: String,
    /// Catalogue (画册), material, price list… sent this time.
    #[serde(default)]
    pub materials: Vec<String>,
    pub next_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Prospect {
    pub id: String,
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
    pub follow_ups: Vec<Fact>,
    /// The earliest next follow-up date still ahead of the latest follow-up.
    pub next_follow_up: Option<NaiveDate>,
    /// Follow-ups that do not count (unsigned, forged, or by a node not allowed to record them):
    /// kept in the document as evidence, left out of `follow_ups`.
    pub refused_facts: usize,
}

impl Prospect {
    pub fn from_record(id: &str, record: &Record) -> Prospect {
        Prospect::from_record_checked(id, record, &CountAll)
    }

    /// The prospect with only the follow-ups `check` lets count.
    pub fn from_record_checked(id: &str, record: &Record, check: &dyn FactCheck) -> Prospect {
        let fields = FIELDS
            .iter()
            .filter_map(|f| record.field(f).map(|v| (f.to_string(), v.to_string())))
            .collect();
        let checked = CheckedFacts::of(id, record, check);
        let follow_ups = checked.facts;
        let next_follow_up = follow_ups.last().and_then(|f| match &f.body {
            super::facts::FactBody::FollowedUp(f) => f.next_date,
            _ => None,
        });
        Prospect {
            id: id.to_string(),
            fields,
            follow_ups,
            next_follow_up,
            refused_facts: checked.refused_facts.len(),
        }
    }
}

/// A prospect as lists show it, kept beside the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProspectSummary {
    pub id: String,
    pub name: String,
    pub contact: String,
    pub phone: String,
    pub city: String,
    /// The customer it became, once converted.
    pub converted_to: String,
    pub follow_ups: usize,
    pub next_follow_up: Option<NaiveDate>,
}

impl ProspectSummary {
    pub fn of(prospect: &Prospect) -> ProspectSummary {
        let field = |name: &str| prospect.fields.get(name).cloned().unwrap_or_default();
        ProspectSummary {
            id: prospect.id.clone(),
            name: field("name"),
            contact: field("contact"),
            phone: field("phone"),
            city: field("city"),
            converted_to: field("converted_to"),
            follow_ups: prospect.follow_ups.len(),
            next_follow_up: prospect.next_follow_up,
        }
    }
}
