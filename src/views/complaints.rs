//! What the store indexes about each complaint (客诉): its summary and the index entries that
//! lists, the supervisor's escalation queue and the monthly count are read from, so none of
//! them loads a complaint document.

use serde::{Deserialize, Serialize};

use super::{field, search_key};
use crate::domain::complaint::{Category, Channel, Complaint, Satisfaction, Stage};
use crate::domain::facts::FactBody;
use crate::store::Projection;

/// `open|created` or `closed|created`: lists by state, newest first; the open range read oldest
/// first is the escalation queue (a complaint is escalated by its age).
pub const COMPLAINT_STATE: &str = "complaint_state";
/// Every complaint's `created`: all complaints newest first.
pub const COMPLAINT_CREATED: &str = "complaint_created";
pub const COMPLAINT_CUSTOMER: &str = "complaint_customer";
pub const COMPLAINT_STORE: &str = "complaint_store";
pub const COMPLAINT_CATEGORY: &str = "complaint_category";
/// The monthly count: `day|category|store`, the day a business day in China.
pub const REPORT_COMPLAINT: &str = "rpt_complaint";
/// Complaints with open anomalies (越权或伪造的记录), by creation: the inbox lists them.
pub const COMPLAINT_ANOMALIES: &str = "complaint_anomalies";

pub const OPEN: &str = "open";
pub const CLOSED: &str = "closed";

/// A complaint as lists show it, kept beside the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComplaintSummary {
    pub id: String,
    pub number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub store: String,
    /// The order it is about; empty when none.
    pub order_id: String,
    pub channel: Option<Channel>,
    pub category: Category,
    /// The complaint's text, at most 80 characters of it.
    pub content: String,
    pub stage: Stage,
    pub created_at: String,
    /// Who handles it now (the latest assignment); empty when nobody yet.
    pub assigned_to: String,
    /// How many handling steps were recorded.
    pub handled: usize,
    /// When closed: when, and how satisfied the customer was.
    pub closed_at: Option<String>,
    pub satisfaction: Option<Satisfaction>,
    /// The supervisor acknowledged the escalation of the complaint as it is open now.
    pub escalation_acknowledged: bool,
    /// Returns (退换维修) it led to.
    pub returns: usize,
    /// Records that do not count (越权或伪造的记录).
    pub anomalies: usize,
}

impl ComplaintSummary {
    pub fn of(complaint: &Complaint) -> ComplaintSummary {
        let closing = complaint.closing();
        ComplaintSummary {
            id: complaint.id.clone(),
            number: complaint.get("number").to_string(),
            customer_id: complaint.get("customer_id").to_string(),
            customer_name: complaint.get("customer_name").to_string(),
            store: complaint.get("store").to_string(),
            order_id: complaint.get("order_id").to_string(),
            channel: complaint.channel(),
            category: complaint.category(),
            content: complaint.get("content").chars().take(80).collect(),
            stage: complaint.stage(),
            created_at: complaint.get("created_at").to_string(),
            assigned_to: complaint.assigned_to().unwrap_or_default().to_string(),
            handled: complaint.handled_count(),
            closed_at: closing.map(|f| f.at.to_rfc3339()),
            satisfaction: closing.and_then(|f| match &f.body {
                FactBody::ComplaintClosed { satisfaction, .. } => Some(*satisfaction),
                _ => None,
            }),
            escalation_acknowledged: complaint.escalation_acknowledged(),
            returns: complaint.returns().len(),
            anomalies: complaint.open_anomalies().len(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.stage != Stage::Closed
    }
}

pub fn project(complaint: &Complaint) -> Projection {
    let summary = ComplaintSummary::of(complaint);
    let created = field(&summary.created_at);
    let state = if summary.is_open() { OPEN } else { CLOSED };
    let mut index = vec![
        (COMPLAINT_STATE, format!("{state}|{created}")),
        (COMPLAINT_CREATED, created.clone()),
        (
            COMPLAINT_CUSTOMER,
            format!("{}|{created}", field(&summary.customer_id)),
        ),
        (
            COMPLAINT_STORE,
            format!("{}|{created}", field(&search_key(&summary.store))),
        ),
        (
            COMPLAINT_CATEGORY,
            format!("{}|{created}", summary.category.as_str()),
        ),
    ];
    if summary.anomalies > 0 {
        index.push((COMPLAINT_ANOMALIES, created.clone()));
    }
    if let Some(day) = complaint.created_day() {
        index.push((
            REPORT_COMPLAINT,
            format!(
                "{day}|{}|{}",
                summary.category.as_str(),
                field(&summary.store)
            ),
        ));
    }
    Projection {
        index,
        summary: postcard::to_allocvec(&summary).unwrap_or_default(),
    }
}
