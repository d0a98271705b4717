//! Complaints (客诉): what a customer complained of, through which channel, and the signed steps
//! taken on it: assigned to a person or department, handled (as often as needed), closed with
//! the result and the customer's satisfaction, reopened; escalated to the supervisor (上报主管)
//! when open longer than the company allows, and linked to the returns it led to (退换维修).
//!
//! The stage is derived from the facts that count, never stored: a stage edited on two nodes
//! would lose one of them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::facts::{CheckedFacts, Fact, FactBody};
use super::record::Record;

pub const COMPLAINT_KIND: &str = "complaint";

/// Days a complaint may stay open before it goes to the supervisor when nobody configured
/// otherwise.
pub const DEFAULT_ESCALATE_AFTER_DAYS: u32 = 7;

/// The document's fields, written once when the complaint is recorded. `photos` holds the
/// attachments' content hashes separated by spaces.
pub const FIELDS: &[&str] = &[
    "number",
    "customer_id",
    "customer_name",
    "store",
    "order_id",
    "channel",
    "category",
    "content",
    "photos",
    "created_at",
];

/// How the complaint reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 电话
    Phone,
    /// 微信
    Wechat,
    /// 上门
    Visit,
}

/// What the complaint is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 质量
    Quality,
    /// 交期
    Delivery,
    /// 服务
    Service,
    /// 发错货
    WrongGoods,
    /// 其他
    Other,
}

/// The customer's satisfaction when the complaint is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意
    Satisfied,
    /// 基本满意
    FairlySatisfied,
    /// 不满意
    Dissatisfied,
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Recorded, nobody assigned yet (待分派).
    New,
    /// Assigned, nothing done yet (已分派).
    Assigned,
    /// Something was done, not closed (处理中).
    Handling,
    /// Closed with a result (已结案).
    Closed,
}

/// Slug and Chinese name of each value of a small enum, so that requests may name a value
/// either way and pages show the Chinese.
macro_rules! named {
    ($ty:ident { $($variant:ident => ($slug:literal, $zh:literal)),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $slug),+ }
            }

            pub fn label_zh(self) -> &'static str {
                match self { $($ty::$variant => $zh),+ }
            }

            /// By slug or by Chinese name.
            pub fn parse(s: &str) -> Option<$ty> {
                let s = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s || v.label_zh() == s)
            }

            /// The accepted values, for error messages.
            pub fn expected() -> String {
                Self::ALL
                    .iter()
                    .map(|v| format!("{} ({})", v.as_str(), v.label_zh()))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }
    };
}

named!(Channel {
    Phone => ("phone", "电话"),
    Wechat => ("wechat", "微信"),
    Visit => ("visit", "上门"),
});

named!(Category {
    Quality => ("quality", "质量"),
    Delivery => ("delivery", "交期"),
    Service => ("service", "服务"),
    WrongGoods => ("wrong_goods", "发错货"),
    Other => ("other", "其他"),
});

named!(Satisfaction {
    Satisfied => ("satisfied", "满意"),
    FairlySatisfied => ("fairly_satisfied", "基本满意"),
    Dissatisfied => ("dissatisfied", "不满意"),
});

named!(Stage {
    New => ("new", "待分派"),
    Assigned => ("assigned", "已分派"),
    Handling => ("handling", "处理中"),
    Closed => ("closed", "已结案"),
});

/// The attachment hashes of a `photos` field.
pub fn photos_of(field: &str) -> Vec<String> {
    field.split_whitespace().map(str::to_string).collect()
}

/// How long an open complaint has been open on `today`, and whether that is too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    pub days_open: i64,
    /// Open more than the configured days: the supervisor's (上报主管).
    pub escalated: bool,
}

/// Days from `created` to `today` (business days in China) and whether it is more than
/// `after_days`.
pub fn escalation(created: NaiveDate, today: NaiveDate, after_days: u32) -> Escalation {
    let days_open = (today - created).num_days();
    Escalation {
        days_open,
        escalated: days_open > i64::from(after_days),
    }
}

/// A complaint read back from its document, with only the facts that count.
#[derive(Debug, Clone)]
pub struct Complaint {
    pub id: String,
    pub fields: BTreeMap<String, String>,
    /// Facts that count, as they happened.
    pub facts: Vec<Fact>,
    /// Facts that do not count (unsigned, forged, beyond their author's authority), with why.
    pub refused_facts: Vec<(Fact, String)>,
}

impl Complaint {
    pub fn from_checked(id: &str, record: &Record, checked: CheckedFacts) -> Complaint {
        let fields = FIELDS
            .iter()
            .map(|f| {
                (
                    f.to_string(),
                    record.field(f).unwrap_or_default().to_string(),
                )
            })
            .collect();
        Complaint {
            id: id.to_string(),
            fields,
            facts: checked.facts,
            refused_facts: checked.refused_facts,
        }
    }

    /// 越权或伪造的记录 on this complaint, each with its resolution once someone recorded one.
    pub fn anomalies(&self) -> Vec<super::anomaly::Anomaly> {
        use super::anomaly::{unauthorized, with_resolutions};
        with_resolutions(unauthorized(&self.refused_facts), &self.facts)
    }

    /// The anomalies still waiting for a person (the inbox lists them).
    pub fn open_anomalies(&self) -> Vec<super::anomaly::Anomaly> {
        let mut anomalies = self.anomalies();
        anomalies.retain(|a| a.resolution.is_none());
        anomalies
    }

    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn channel(&self) -> Option<Channel> {
        Channel::parse(self.get("channel"))
    }

    pub fn category(&self) -> Category {
        Category::parse(self.get("category")).unwrap_or(Category::Other)
    }

    pub fn photos(&self) -> Vec<String> {
        photos_of(self.get("photos"))
    }

    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.get("created_at").parse().ok()
    }

    /// The business day (China) it was recorded on.
    pub fn created_day(&self) -> Option<NaiveDate> {
        self.created_at().map(super::report::business_day)
    }

    /// The latest close or reopen: which of them is in force.
    fn last_close_or_reopen(&self) -> Option<&Fact> {
        self.facts.iter().rev().find(|f| {
            matches!(
                f.body,
                FactBody::ComplaintClosed { .. } | FactBody::ComplaintReopened { .. }
            )
        })
    }

    /// The close in force, if the complaint is closed.
    pub fn closing(&self) -> Option<&Fact> {
        self.last_close_or_reopen()
            .filter(|f| matches!(f.body, FactBody::ComplaintClosed { .. }))
    }

    pub fn is_open(&self) -> bool {
        self.closing().is_none()
    }

    /// Facts since the last reopen (all of them if it was never reopened).
    fn current_period(&self) -> &[Fact] {
        let start = self
            .facts
            .iter()
            .rposition(|f| matches!(f.body, FactBody::ComplaintReopened { .. }))
            .map_or(0, |i| i + 1);
        &self.facts[start..]
    }

    /// Who handles it now: the latest assignment.
    pub fn assigned_to(&self) -> Option<&str> {
        self.facts.iter().rev().find_map(|f| match &f.body {
            FactBody::ComplaintAssigned { to, .. } => Some(to.as_str()),
            _ => None,
        })
    }

    pub fn handled_count(&self) -> usize {
        self.facts
            .iter()
            .filter(|f| matches!(f.body, FactBody::ComplaintHandled { .. }))
            .count()
    }

    pub fn stage(&self) -> Stage {
        if !self.is_open() {
            Stage::Closed
        } else if self.handled_count() > 0 {
            Stage::Handling
        } else if self.assigned_to().is_some() {
            Stage::Assigned
        } else {
            Stage::New
        }
    }

    /// The supervisor acknowledged the escalation of the complaint as it is open now (a reopened
    /// complaint is a new escalation).
    pub fn escalation_acknowledged(&self) -> bool {
        self.current_period()
            .iter()
            .any(|f| matches!(f.body, FactBody::ComplaintEscalationAcknowledged { .. }))
    }

    /// How long it has been open on `today`; None once closed.
    pub fn escalation(&self, today: NaiveDate, after_days: u32) -> Option<Escalation> {
        if !self.is_open() {
            return None;
        }
        Some(escalation(self.created_day()?, today, after_days))
    }

    /// The returns it led to: (order id, return request id), each once.
    pub fn returns(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for f in &self.facts {
            if let FactBody::ComplaintReturnLinked { order, request } = &f.body {
                if !out.iter().any(|(_, r)| *r == request.as_str()) {
                    out.push((order.as_str(), request.as_str()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::CountAll;
    use crate::domain::record::FieldValue;
    use crate::domain::role::Role;

    fn fact(id: &str, at: &str, body: FactBody) -> (String, String) {
        let fact = Fact {
            id: id.into(),
            at: at.parse().unwrap(),
            user: "李娜".into(),
            role: Role::Clerk,
            node: "n1".into(),
            body,
        };
        (id.into(), serde_json::to_string(&fact).unwrap())
    }

    fn complaint(facts: Vec<(String, String)>) -> Complaint {
        let mut record = Record {
            kind: COMPLAINT_KIND.into(),
            ..Record::default()
        };
        record.fields.insert(
            "created_at".into(),
            FieldValue::plain("2026-12-01T02:00:00Z"),
        );
        record.facts = facts.into_iter().collect();
        let checked = CheckedFacts::of("k1", &record, &CountAll);
        Complaint::from_checked("k1", &record, checked)
    }

    #[test]
    fn the_stage_follows_the_facts_and_the_latest_close_or_reopen_wins() {
        let assigned = fact(
            "f1",
            "2026-12-01T03:00:00Z",
            FactBody::ComplaintAssigned {
                to: "仓库".into(),
                note: String::new(),
            },
        );
        let handled = fact(
            "f2",
            "2026-12-02T03:00:00Z",
            FactBody::ComplaintHandled {
                note: "补发".into(),
            },
        );
        let closed = fact(
            "f3",
            "2026-12-03T03:00:00Z",
            FactBody::ComplaintClosed {
                result: "已补发".into(),
                satisfaction: Satisfaction::FairlySatisfied,
            },
        );
        let reopened = fact(
            "f4",
            "2026-12-04T03:00:00Z",
            FactBody::ComplaintReopened {
                reason: "又坏了".into(),
            },
        );
        assert_eq!(complaint(vec![]).stage(), Stage::New);
        assert_eq!(complaint(vec![assigned.clone()]).stage(), Stage::Assigned);
        let handling = complaint(vec![assigned.clone(), handled.clone()]);
        assert_eq!(handling.stage(), Stage::Handling);
        let done = complaint(vec![assigned.clone(), handled.clone(), closed.clone()]);
        assert_eq!(done.stage(), Stage::Closed);
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(done.escalation(day("2026-12-30"), 7), None);
        let again = complaint(vec![assigned, handled, closed, reopened]);
        assert_eq!(again.stage(), Stage::Handling);
        let open = again.escalation(day("2026-12-09"), 7).unwrap();
        assert_eq!((open.days_open, open.escalated), (8, true));
        let open = again.escalation(day("2026-12-08"), 7).unwrap();
        assert_eq!((open.days_open, open.escalated), (7, false));
    }

    #[test]
    fn values_are_read_by_slug_or_by_chinese_name() {
        assert_eq!(Channel::parse("微信"), Some(Channel::Wechat));
        assert_eq!(Channel::parse("phone"), Some(Channel::Phone));
        assert_eq!(Channel::parse("fax"), None);
        assert_eq!(Category::parse("发错货"), Some(Category::WrongGoods));
        assert_eq!(
            Satisfaction::parse("基本满意"),
            Some(Satisfaction::FairlySatisfied)
        );
        assert!(Category::expected().contains("wrong_goods (发错货)"));
    }
}
