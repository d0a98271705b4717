//! Prospects (意向客户): who was sent a catalogue, material or price list, every follow-up by
//! phone, SMS or email with the next follow-up date, and the customer it became.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::facts::Fact;
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
}

impl Prospect {
    pub fn from_record(id: &str, record: &Record) -> Prospect {
        let fields = FIELDS
            .iter()
            .filter_map(|f| record.field(f).map(|v| (f.to_string(), v.to_string())))
            .collect();
        let mut follow_ups: Vec<Fact> = record
            .facts
            .values()
            .filter_map(|json| serde_json::from_str::<Fact>(json).ok())
            .collect();
        follow_ups.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let next_follow_up = follow_ups.last().and_then(|f| match &f.body {
            super::facts::FactBody::FollowedUp(f) => f.next_date,
            _ => None,
        });
        Prospect {
            id: id.to_string(),
            fields,
            follow_ups,
            next_follow_up,
        }
    }
}
