//! Complaint use cases (客诉): record one, assign it, record what was done, close it with the
//! result and the customer's satisfaction, reopen it, the supervisor's acknowledgement of an
//! escalation (上报主管), and the return it leads to (退换维修) on an order. Lists come from the
//! complaint indexes and summaries (`views::complaints`), the monthly count from `rpt_complaint`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

use super::customers::Page;
use super::lifecycle::{
    check_text_resolution, public_anomaly_id, rule, ComplaintRef, InboxAnomaly,
};
use super::reports::{month_bounds, Reported};
use super::{BackOffice, ServiceError, User};
use crate::domain::anomaly::Anomaly;
use crate::domain::complaint::{
    Category, Channel, Complaint, Satisfaction, Stage, COMPLAINT_KIND, DEFAULT_ESCALATE_AFTER_DAYS,
};
use crate::domain::facts::{Fact, FactBody, ReturnKind, ShipLine};
use crate::domain::order::Order;
use crate::domain::record::{ChangeAuthor, Record, RecordOp};
use crate::domain::report::business_day;
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;
use crate::store::StoreError;
use crate::views::complaints::{self as index, ComplaintSummary};
use crate::views::{search_key, CustomerSummary};

/// A complaint as the clerk takes it down. Channel and category are read by slug or Chinese
/// name, so an unknown one is a 422 naming the field.
#[derive(Debug, Clone, Default)]
pub struct NewComplaint {
    pub customer_id: String,
    /// The store (专卖店) it came from; the order's store, else the customer's name, when empty.
    pub store: String,
    pub order_id: Option<String>,
    pub channel: String,
    pub category: String,
    pub content: String,
    /// Hashes of attachments stored with `put_attachment`.
    pub photos: Vec<String>,
}

/// Where a return the complaint led to stands, read from its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkedReturnState {
    /// 待审批
    Requested,
    /// 已批准
    Approved,
    /// 已驳回
    Rejected,
    /// 已入库
    Received,
    /// 已返还客户
    ReturnedToCustomer,
    /// The order or the request has not reached this node yet.
    Unknown,
}

impl LinkedReturnState {
    pub fn label_zh(self) -> &'static str {
        match self {
            LinkedReturnState::Requested => "待审批",
            LinkedReturnState::Approved => "已批准",
            LinkedReturnState::Rejected => "已驳回",
            LinkedReturnState::Received => "已入库",
            LinkedReturnState::ReturnedToCustomer => "已返还客户",
            LinkedReturnState::Unknown => "本节点尚未收到",
        }
    }

    /// The state of return request `request` on `order`.
    pub fn of(order: &Order, request: &str) -> (Option<ReturnKind>, LinkedReturnState) {
        use crate::domain::returns::{return_cases, ReturnState};
        match return_cases(order).into_iter().find(|c| c.id == request) {
            None => (None, LinkedReturnState::Unknown),
            Some(case) => (
                Some(case.return_kind),
                match case.state {
                    ReturnState::Pending => LinkedReturnState::Requested,
                    ReturnState::Approved => LinkedReturnState::Approved,
                    ReturnState::Rejected => LinkedReturnState::Rejected,
                    ReturnState::Received => LinkedReturnState::Received,
                    ReturnState::ReturnedToCustomer => LinkedReturnState::ReturnedToCustomer,
                },
            ),
        }
    }
}

/// A return (退换维修) the complaint led to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkedReturn {
    pub order: String,
    pub order_number: String,
    /// The return request's id (`/api/returns/{rid}/…`).
    pub request: String,
    pub kind: Option<ReturnKind>,
    pub state: LinkedReturnState,
    pub state_label: String,
}

/// A complaint with everything derived from it, as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintView {
    pub id: String,
    pub number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub store: String,
    pub order_id: Option<String>,
    pub channel: Option<Channel>,
    pub channel_label: String,
    pub category: Category,
    pub category_label: String,
    pub content: String,
    /// Attachment hashes (`GET /api/attachments/{hash}`).
    pub photos: Vec<String>,
    pub created_at: String,
    pub stage: Stage,
    pub stage_label: String,
    pub assigned_to: Option<String>,
    pub handled: usize,
    /// When closed: the result and the customer's satisfaction.
    pub result: Option<String>,
    pub satisfaction: Option<Satisfaction>,
    pub satisfaction_label: Option<String>,
    /// Days open today (China), when open.
    pub days_open: Option<i64>,
    /// Open more than the default days (7): the supervisor's to acknowledge.
    pub escalated: bool,
    pub escalation_acknowledged: bool,
    pub returns: Vec<LinkedReturn>,
    /// Every step that counts, as it happened.
    pub facts: Vec<Fact>,
    /// 越权或伪造的记录: steps recorded by a role or node that may not, kept as evidence.
    pub anomalies: Vec<Anomaly>,
}

/// The list's `state` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Open,
    Closed,
    /// Open more than the days given and not acknowledged by the supervisor: 上报主管's queue.
    Escalated,
}

impl StateFilter {
    pub fn parse(s: &str) -> Option<StateFilter> {
        match s {
            "open" => Some(StateFilter::Open),
            "closed" => Some(StateFilter::Closed),
            "escalated" => Some(StateFilter::Escalated),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ComplaintQuery {
    pub state: Option<StateFilter>,
    pub customer: Option<String>,
    pub store: Option<String>,
    pub category: Option<Category>,
    /// The day escalation is counted on.
    pub today: NaiveDate,
    pub escalate_after_days: u32,
    pub cursor: Option<Vec<u8>>,
    pub limit: usize,
}

impl ComplaintQuery {
    /// Every complaint, newest first, escalation counted today (China) after the default days.
    pub fn all(limit: usize) -> ComplaintQuery {
        ComplaintQuery {
            state: None,
            customer: None,
            store: None,
            category: None,
            today: business_day(Utc::now()),
            escalate_after_days: DEFAULT_ESCALATE_AFTER_DAYS,
            cursor: None,
            limit,
        }
    }
}

/// One complaint of a list: its summary and how long it has been open.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintRow {
    pub complaint: ComplaintSummary,
    pub stage_label: String,
    pub category_label: String,
    /// Days open on the query's day, when open.
    pub days_open: Option<i64>,
    /// Open more than the query's days (上报主管).
    pub escalated: bool,
}

impl ComplaintRow {
    fn of(complaint: ComplaintSummary, today: NaiveDate, after_days: u32) -> ComplaintRow {
        let escalation = complaint
            .is_open()
            .then(|| created_day(&complaint))
            .flatten()
            .map(|day| crate::domain::complaint::escalation(day, today, after_days));
        ComplaintRow {
            stage_label: complaint.stage.label_zh().to_string(),
            category_label: complaint.category.label_zh().to_string(),
            days_open: escalation.map(|e| e.days_open),
            escalated: escalation.is_some_and(|e| e.escalated),
            complaint,
        }
    }
}

fn created_day(summary: &ComplaintSummary) -> Option<NaiveDate> {
    chrono::DateTime::parse_from_rfc3339(&summary.created_at)
        .ok()
        .map(|t| business_day(t.with_timezone(&Utc)))
}

/// What the complaint led to: a return already requested on an order, or a new request on an
/// order (the complaint's own when none is named).
#[derive(Debug, Clone)]
pub enum ReturnInput {
    Existing {
        request: String,
    },
    New {
        order: Option<String>,
        kind: ReturnKind,
        lines: Vec<ShipLine>,
        reason: String,
        photos: Vec<String>,
        damaged: bool,
    },
}

/// Complaints of one category in one store in the month.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintCount {
    pub store: String,
    pub category: Category,
    pub category_label: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryCount {
    pub category: Category,
    pub category_label: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreCount {
    pub store: String,
    pub count: usize,
}

/// 客诉月报: complaints recorded in a month (business days in China) by category and store.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintReport {
    pub month: String,
    pub total: usize,
    /// Every category, those without complaints at 0.
    pub by_category: Vec<CategoryCount>,
    /// Most complaints first.
    pub by_store: Vec<StoreCount>,
    /// Store then category.
    pub rows: Vec<ComplaintCount>,
}

fn non_blank(errors: &mut FieldErrors, field: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(field, "must not be empty");
    }
}

/// Public ids of complaints' anomalies start with this, so the inbox's resolve route knows the
/// document is a complaint.
pub const COMPLAINT_ANOMALY_PREFIX: &str = "complaint-";

/// An anomaly of a complaint as the inbox names it: `complaint-{complaint id}-{digest}`.
pub fn complaint_anomaly_id(complaint_id: &str, local_id: &str) -> String {
    public_anomaly_id(
        &format!("{COMPLAINT_ANOMALY_PREFIX}{complaint_id}"),
        local_id,
    )
}

impl BackOffice {
    /// The complaint in `record` with only the facts that count.
    pub fn complaint_from(&self, id: &str, record: &Record) -> Complaint {
        Complaint::from_checked(id, record, self.checked_facts(id, record))
    }

    /// Records a complaint (客诉登记).
    pub fn create_complaint(
        &self,
        user: &User,
        new: NewComplaint,
    ) -> Result<ComplaintView, ServiceError> {
        user.require(Action::RecordComplaint)?;
        let fields = self.check_complaint(new)?;
        let seq = self.store.next_counter("complaint_number")?;
        let number = format!("{}-KS{seq:05}", self.identity.order_prefix);
        let author = user.author(format!("record complaint {number}"));
        let (id, record) = self.write_complaint(&author, &number, Utc::now(), fields)?;
        self.complaint_view(&self.complaint_from(&id, &record))
    }

    /// Writes a complaint imported with its original number and time (fixtures); returns its id.
    pub fn import_complaint(
        &self,
        author: &ChangeAuthor,
        number: &str,
        created_at: DateTime<Utc>,
        new: NewComplaint,
    ) -> Result<String, ServiceError> {
        let fields = self.check_complaint(new)?;
        Ok(self.write_complaint(author, number, created_at, fields)?.0)
    }

    /// The complaint's fields, checked against what this node holds (customer, order, photos).
    fn check_complaint(
        &self,
        new: NewComplaint,
    ) -> Result<Vec<(&'static str, String)>, ServiceError> {
        let mut errors = FieldErrors::default();
        let channel = Channel::parse(&new.channel);
        if channel.is_none() {
            errors.push("channel", format!("must be one of {}", Channel::expected()));
        }
        let category = Category::parse(&new.category);
        if category.is_none() {
            errors.push(
                "category",
                format!("must be one of {}", Category::expected()),
            );
        }
        non_blank(&mut errors, "content", &new.content);
        let customer = self.summary_of::<CustomerSummary>(&new.customer_id)?;
        if customer.is_none() || !self.customer_exists(&new.customer_id)? {
            errors.push("customer_id", "no such customer");
        }
        let order_id = new.order_id.filter(|o| !o.trim().is_empty());
        let order = match &order_id {
            None => None,
            Some(id) => match self.order(id) {
                Ok(order) if order.get("customer_id") == new.customer_id => Some(order),
                Ok(_) => {
                    errors.push("order_id", "an order of another customer");
                    None
                }
                Err(ServiceError::NotFound(_)) => {
                    errors.push("order_id", "no such order");
                    None
                }
                Err(e) => return Err(e),
            },
        };
        self.check_photos(&new.photos, "photos", &mut errors)?;
        errors.into_result()?;
        let (Some(channel), Some(category), Some(customer)) = (channel, category, customer) else {
            return Err(FieldErrors::single("channel", "must be given").into());
        };
        let store = [
            new.store.trim(),
            order.as_ref().map_or("", |o| o.get("store")),
            customer.name.as_str(),
        ]
        .into_iter()
        .find(|s| !s.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string();
        Ok(vec![
            ("customer_id", new.customer_id),
            ("customer_name", customer.name),
            ("store", store),
            ("order_id", order_id.unwrap_or_default()),
            ("channel", channel.as_str().to_string()),
            ("category", category.as_str().to_string()),
            ("content", new.content.trim().to_string()),
            ("photos", new.photos.join(" ")),
        ])
    }

    fn write_complaint(
        &self,
        author: &ChangeAuthor,
        number: &str,
        created_at: DateTime<Utc>,
        fields: Vec<(&'static str, String)>,
    ) -> Result<(String, Record), ServiceError> {
        let id = super::new_id();
        let mut ops = vec![
            RecordOp::SetKind(COMPLAINT_KIND.into()),
            RecordOp::field("number", number),
            RecordOp::field(
                "created_at",
                created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            ),
        ];
        ops.extend(fields.into_iter().map(|(k, v)| RecordOp::field(k, v)));
        let written = self.store.create(&id, author, &ops)?;
        Ok((id, written.record))
    }

    /// Every photo names an attachment this node holds.
    fn check_photos(
        &self,
        photos: &[String],
        field: &str,
        errors: &mut FieldErrors,
    ) -> Result<(), StoreError> {
        for (i, p) in photos.iter().enumerate() {
            if self
                .store
                .get_raw(&crate::store::keys::attachment(p))?
                .is_none()
            {
                errors.push(format!("{field}[{i}]"), "no attachment with this hash");
            }
        }
        Ok(())
    }

    pub fn complaint(&self, id: &str) -> Result<Complaint, ServiceError> {
        match self.store.record(id)? {
            Some(record) if record.kind == COMPLAINT_KIND => Ok(self.complaint_from(id, &record)),
            _ => Err(ServiceError::NotFound(format!("complaint {id}"))),
        }
    }

    /// The complaint with its stage, escalation as of today, the returns it led to (read from
    /// their orders) and the records that do not count.
    pub fn complaint_view(&self, complaint: &Complaint) -> Result<ComplaintView, ServiceError> {
        let today = business_day(Utc::now());
        let escalation = complaint.escalation(today, self.escalation.open_complaint_days);
        let mut returns = Vec::new();
        for (order_id, request) in complaint.returns() {
            let order = match self.order(order_id) {
                Ok(order) => Some(order),
                Err(ServiceError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            let (kind, state) = order
                .as_ref()
                .map_or((None, LinkedReturnState::Unknown), |o| {
                    LinkedReturnState::of(o, request)
                });
            returns.push(LinkedReturn {
                order: order_id.to_string(),
                order_number: order
                    .as_ref()
                    .map(|o| o.get("number").to_string())
                    .unwrap_or_default(),
                request: request.to_string(),
                kind,
                state,
                state_label: state.label_zh().to_string(),
            });
        }
        let closed = complaint.closing().and_then(|f| match &f.body {
            FactBody::ComplaintClosed {
                result,
                satisfaction,
            } => Some((result.clone(), *satisfaction)),
            _ => None,
        });
        let channel = complaint.channel();
        let category = complaint.category();
        let stage = complaint.stage();
        Ok(ComplaintView {
            id: complaint.id.clone(),
            number: complaint.get("number").to_string(),
            customer_id: complaint.get("customer_id").to_string(),
            customer_name: complaint.get("customer_name").to_string(),
            store: complaint.get("store").to_string(),
            order_id: Some(complaint.get("order_id").to_string()).filter(|o| !o.is_empty()),
            channel,
            channel_label: channel.map(Channel::label_zh).unwrap_or("").to_string(),
            category,
            category_label: category.label_zh().to_string(),
            content: complaint.get("content").to_string(),
            photos: complaint.photos(),
            created_at: complaint.get("created_at").to_string(),
            stage,
            stage_label: stage.label_zh().to_string(),
            assigned_to: complaint.assigned_to().map(str::to_string),
            handled: complaint.handled_count(),
            result: closed.as_ref().map(|(r, _)| r.clone()),
            satisfaction: closed.as_ref().map(|(_, s)| *s),
            satisfaction_label: closed.map(|(_, s)| s.label_zh().to_string()),
            days_open: escalation.map(|e| e.days_open),
            escalated: escalation.is_some_and(|e| e.escalated),
            escalation_acknowledged: complaint.escalation_acknowledged(),
            returns,
            facts: complaint.facts.clone(),
            anomalies: complaint.anomalies(),
        })
    }

    /// The inbox's part: open anomalies (越权或伪造的记录) of complaints, newest complaint
    /// first, at most `limit` complaints.
    pub fn complaint_anomalies(&self, limit: usize) -> Result<Vec<InboxAnomaly>, ServiceError> {
        let mut out = Vec::new();
        for entry in self
            .store
            .scan_index(index::COMPLAINT_ANOMALIES, "", None, true)
            .take(limit)
        {
            let (_, doc) = entry?;
            let complaint = self.complaint(&doc)?;
            for a in complaint.open_anomalies() {
                out.push(InboxAnomaly {
                    id: complaint_anomaly_id(&complaint.id, &a.id),
                    order_id: None,
                    order_number: None,
                    complaint: Some(ComplaintRef {
                        id: complaint.id.clone(),
                        number: complaint.get("number").to_string(),
                    }),
                    customers: Vec::new(),
                    orders: Vec::new(),
                    anomaly: a,
                });
            }
        }
        Ok(out)
    }

    /// Resolves an anomaly of a complaint with a text, by a role the anomaly names; recorded
    /// as a fact on the complaint, so every node sees it resolved.
    pub(super) fn resolve_complaint_anomaly(
        &self,
        user: &User,
        public_id: &str,
        resolution: String,
    ) -> Result<ComplaintView, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("open anomaly {public_id}"));
        let complaint_id = public_id
            .strip_prefix(COMPLAINT_ANOMALY_PREFIX)
            .and_then(|rest| rest.rsplit_once('-'))
            .map(|(id, _)| id)
            .ok_or_else(not_found)?;
        let complaint = self.complaint(complaint_id).map_err(|_| not_found())?;
        let target = complaint
            .open_anomalies()
            .into_iter()
            .find(|a| complaint_anomaly_id(complaint_id, &a.id) == public_id)
            .ok_or_else(not_found)?;
        check_text_resolution(user, public_id, &target, &resolution, Default::default())?;
        self.append_complaint_fact(user, complaint_id, "resolve anomaly", move |_| {
            Ok(FactBody::AnomalyResolved {
                anomaly: target.id,
                resolution,
            })
        })
    }

    /// Appends one fact built from the current complaint; `build` refuses when a rule is broken.
    fn complaint_fact(
        &self,
        user: &User,
        id: &str,
        action: Action,
        what: &str,
        build: impl FnOnce(&Complaint) -> Result<FactBody, ServiceError>,
    ) -> Result<ComplaintView, ServiceError> {
        user.require(action)?;
        self.append_complaint_fact(user, id, what, build)
    }

    /// Appends one fact built from the current complaint, the permission already checked.
    fn append_complaint_fact(
        &self,
        user: &User,
        id: &str,
        what: &str,
        build: impl FnOnce(&Complaint) -> Result<FactBody, ServiceError>,
    ) -> Result<ComplaintView, ServiceError> {
        let written = self.store.update(id, &user.author(what), |current| {
            let Some(record) = current.filter(|r| r.kind == COMPLAINT_KIND) else {
                return Err(ServiceError::NotFound(format!("complaint {id}")));
            };
            let complaint = self.complaint_from(id, record);
            Ok(vec![self.fact_op(user, id, build(&complaint)?)?])
        })?;
        self.complaint_view(&self.complaint_from(id, &written.record))
    }

    /// 分派: to a person or a department; assigning again hands it over.
    pub fn assign_complaint(
        &self,
        user: &User,
        id: &str,
        to: String,
        note: String,
    ) -> Result<ComplaintView, ServiceError> {
        if to.trim().is_empty() {
            return Err(FieldErrors::single("to", "must not be empty").into());
        }
        self.complaint_fact(
            user,
            id,
            Action::AssignComplaint,
            "assign complaint (客诉分派)",
            |complaint| {
                refuse_if_closed(complaint, "分派", "assigned")?;
                Ok(FactBody::ComplaintAssigned {
                    to: to.trim().to_string(),
                    note: note.trim().to_string(),
                })
            },
        )
    }

    /// 处理: what was done; needs an assignment first.
    pub fn handle_complaint(
        &self,
        user: &User,
        id: &str,
        note: String,
    ) -> Result<ComplaintView, ServiceError> {
        if note.trim().is_empty() {
            return Err(FieldErrors::single("note", "must not be empty").into());
        }
        self.complaint_fact(
            user,
            id,
            Action::HandleComplaint,
            "handle complaint (客诉处理)",
            |complaint| {
                refuse_if_closed(complaint, "登记处理", "handled")?;
                if complaint.assigned_to().is_none() {
                    return Err(rule(
                        "客诉须先分派给负责人或部门，再登记处理情况",
                        "a complaint is assigned to a person or department before it is handled",
                    ));
                }
                Ok(FactBody::ComplaintHandled {
                    note: note.trim().to_string(),
                })
            },
        )
    }

    /// 结案: the result and the customer's satisfaction, once something was done.
    pub fn close_complaint(
        &self,
        user: &User,
        id: &str,
        result: String,
        satisfaction: &str,
    ) -> Result<ComplaintView, ServiceError> {
        let mut errors = FieldErrors::default();
        non_blank(&mut errors, "result", &result);
        let satisfaction = Satisfaction::parse(satisfaction);
        if satisfaction.is_none() {
            errors.push(
                "satisfaction",
                format!("must be one of {}", Satisfaction::expected()),
            );
        }
        errors.into_result()?;
        let Some(satisfaction) = satisfaction else {
            return Err(FieldErrors::single("satisfaction", "must be given").into());
        };
        self.complaint_fact(
            user,
            id,
            Action::CloseComplaint,
            "close complaint (客诉结案)",
            |complaint| {
                refuse_if_closed(complaint, "再次结案", "closed again")?;
                if complaint.handled_count() == 0 {
                    return Err(rule(
                        "客诉须先登记处理情况才能结案",
                        "a complaint is closed only after what was done is recorded",
                    ));
                }
                Ok(FactBody::ComplaintClosed {
                    result: result.trim().to_string(),
                    satisfaction,
                })
            },
        )
    }

    /// 重新打开: the customer came back; escalation starts again.
    pub fn reopen_complaint(
        &self,
        user: &User,
        id: &str,
        reason: String,
    ) -> Result<ComplaintView, ServiceError> {
        if reason.trim().is_empty() {
            return Err(FieldErrors::single("reason", "must not be empty").into());
        }
        self.complaint_fact(
            user,
            id,
            Action::CloseComplaint,
            "reopen complaint (客诉重开)",
            |complaint| {
                if complaint.is_open() {
                    return Err(rule(
                        "客诉未结案，无需重新打开",
                        "the complaint is open: there is nothing to reopen",
                    ));
                }
                Ok(FactBody::ComplaintReopened {
                    reason: reason.trim().to_string(),
                })
            },
        )
    }

    /// 上报主管: the supervisor acknowledges a complaint the escalation queue showed. Any open
    /// complaint may be acknowledged (the queue shows those open too long); a closed one, or
    /// one already acknowledged since it was last opened, is refused.
    pub fn acknowledge_complaint_escalation(
        &self,
        user: &User,
        id: &str,
        note: String,
    ) -> Result<ComplaintView, ServiceError> {
        self.complaint_fact(
            user,
            id,
            Action::AcknowledgeComplaint,
            "complaint escalation acknowledged (上报主管)",
            |complaint| {
                refuse_if_closed(complaint, "确认上报", "acknowledged")?;
                if complaint.escalation_acknowledged() {
                    return Err(rule(
                        "该客诉的上报已确认",
                        "this escalation is already acknowledged",
                    ));
                }
                Ok(FactBody::ComplaintEscalationAcknowledged {
                    note: note.trim().to_string(),
                })
            },
        )
    }

    /// 退换维修: records a return request on an order and links it to the complaint, or links
    /// a request that already exists. Two documents change, one after the other: if the link
    /// fails after the request was recorded, the request stands and can be linked by its id.
    pub fn complaint_return(
        &self,
        user: &User,
        id: &str,
        input: ReturnInput,
    ) -> Result<ComplaintView, ServiceError> {
        user.require(Action::RequestReturn)?;
        let complaint = self.complaint(id)?;
        refuse_if_closed(&complaint, "登记退换维修", "given a return")?;
        let (order_id, request) = match input {
            ReturnInput::Existing { request } => {
                let order_id = match self.order_of_return(&request) {
                    Ok(order) => order,
                    Err(ServiceError::NotFound(_)) => {
                        return Err(FieldErrors::single("request", "no such return request").into())
                    }
                    Err(e) => return Err(e),
                };
                (order_id, request)
            }
            ReturnInput::New {
                order,
                kind,
                lines,
                reason,
                photos,
                damaged,
            } => {
                let order_id = order
                    .filter(|o| !o.trim().is_empty())
                    .or_else(|| Some(complaint.get("order_id").to_string()))
                    .filter(|o| !o.is_empty())
                    .ok_or_else(|| {
                        FieldErrors::single("order", "the complaint names no order: give one")
                    })?;
                let before: HashSet<String> = match self.order(&order_id) {
                    Ok(order) => order.facts.into_iter().map(|f| f.id).collect(),
                    Err(ServiceError::NotFound(_)) => {
                        return Err(FieldErrors::single("order", "no such order").into())
                    }
                    Err(e) => return Err(e),
                };
                let view =
                    self.request_return(user, &order_id, kind, lines, reason, photos, damaged)?;
                // The request just recorded: the one by this user on this node not there before.
                let request = view
                    .facts
                    .iter()
                    .filter(|f| matches!(f.body, FactBody::ReturnRequested { .. }))
                    .filter(|f| !before.contains(&f.id))
                    .rfind(|f| f.node == self.identity.node_id && f.user == user.name)
                    .map(|f| f.id.clone())
                    .ok_or_else(|| {
                        ServiceError::Rule("the return request was not recorded".into())
                    })?;
                (order_id, request)
            }
        };
        self.complaint_fact(
            user,
            id,
            Action::RequestReturn,
            "complaint leads to a return (退换维修)",
            |complaint| {
                if complaint.returns().iter().any(|(_, r)| *r == request) {
                    return Err(rule(
                        "该退换申请已关联此客诉",
                        "this return request is already linked to the complaint",
                    ));
                }
                Ok(FactBody::ComplaintReturnLinked {
                    order: order_id,
                    request,
                })
            },
        )
    }

    /// Lists complaints through the most selective index for the filters, newest first; the
    /// escalated ones oldest first (the longest open at the top of the supervisor's queue).
    pub fn list_complaints(
        &self,
        query: &ComplaintQuery,
    ) -> Result<Page<ComplaintRow>, ServiceError> {
        let limit = query.limit.clamp(1, 1000);
        let cursor = query.cursor.as_deref();
        let row = |summary: ComplaintSummary| {
            ComplaintRow::of(summary, query.today, query.escalate_after_days)
        };
        let matches = |r: &ComplaintRow| {
            let c = &r.complaint;
            let state_ok = match query.state {
                None => true,
                Some(StateFilter::Open) => c.is_open(),
                Some(StateFilter::Closed) => !c.is_open(),
                Some(StateFilter::Escalated) => r.escalated && !c.escalation_acknowledged,
            };
            state_ok
                && query.customer.as_ref().is_none_or(|x| &c.customer_id == x)
                && query
                    .store
                    .as_ref()
                    .is_none_or(|s| search_key(&c.store) == search_key(s))
                && query.category.is_none_or(|x| c.category == x)
        };
        let (index_name, prefix, reverse) = match (query.state, &query.customer, &query.store) {
            (Some(StateFilter::Escalated), _, _) => {
                (index::COMPLAINT_STATE, format!("{}|", index::OPEN), false)
            }
            (Some(StateFilter::Open), _, _) => {
                (index::COMPLAINT_STATE, format!("{}|", index::OPEN), true)
            }
            (Some(StateFilter::Closed), _, _) => {
                (index::COMPLAINT_STATE, format!("{}|", index::CLOSED), true)
            }
            (None, Some(customer), _) => (index::COMPLAINT_CUSTOMER, format!("{customer}|"), true),
            (None, None, Some(store)) => (
                index::COMPLAINT_STORE,
                format!("{}|", search_key(store)),
                true,
            ),
            (None, None, None) => match query.category {
                Some(category) => (
                    index::COMPLAINT_CATEGORY,
                    format!("{}|", category.as_str()),
                    true,
                ),
                None => (index::COMPLAINT_CREATED, String::new(), true),
            },
        };
        let escalated_only = query.state == Some(StateFilter::Escalated);
        let candidates = self
            .store
            .scan_index(index_name, &prefix, cursor, reverse)
            .filter_map(|entry| match entry {
                Ok((key, doc)) => self
                    .summary_of::<ComplaintSummary>(&doc)
                    .transpose()
                    .map(|summary| summary.map(|s| (key, row(s)))),
                Err(e) => Some(Err(e.into())),
            })
            // Oldest first: once one is not open long enough, none after it is.
            .take_while(|c| !(escalated_only && matches!(c, Ok((_, r)) if !r.escalated)))
            .filter(|c| c.as_ref().map_or(true, |(_, r)| matches(r)));
        Page::take(limit, candidates)
    }

    /// How many complaints are open, and how many of them wait for the supervisor (home pages),
    /// reading at most `cap` open complaints (the counts then stop at `cap`).
    pub fn complaint_counts(
        &self,
        today: NaiveDate,
        cap: usize,
    ) -> Result<(usize, usize), ServiceError> {
        let (mut open, mut escalated) = (0, 0);
        for entry in self
            .store
            .scan_index(
                index::COMPLAINT_STATE,
                &format!("{}|", index::OPEN),
                None,
                false,
            )
            .take(cap)
        {
            let (_, doc) = entry?;
            if let Some(summary) = self.summary_of::<ComplaintSummary>(&doc)? {
                open += 1;
                let row = ComplaintRow::of(summary, today, self.escalation.open_complaint_days);
                if row.escalated && !row.complaint.escalation_acknowledged {
                    escalated += 1;
                }
            }
        }
        Ok((open, escalated))
    }

    /// 客诉月报: complaints recorded in `month` ("2026-12") by category and store, from the
    /// `rpt_complaint` index alone.
    pub fn complaint_report(&self, month: &str) -> Result<Reported<ComplaintReport>, ServiceError> {
        let (first, next) = month_bounds(month)?;
        let mut counts: BTreeMap<(String, Category), usize> = BTreeMap::new();
        self.store.for_each_in_index_range(
            index::REPORT_COMPLAINT,
            &first.to_string(),
            &next.to_string(),
            |value, _doc| {
                let mut parts = value.splitn(3, '|');
                let (Some(_day), Some(category), Some(store)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return;
                };
                let category = Category::parse(category).unwrap_or(Category::Other);
                *counts.entry((store.to_string(), category)).or_default() += 1;
            },
        )?;
        let mut by_store: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_category: BTreeMap<Category, usize> = BTreeMap::new();
        for ((store, category), n) in &counts {
            *by_store.entry(store).or_default() += n;
            *by_category.entry(*category).or_default() += n;
        }
        let mut stores: Vec<StoreCount> = by_store
            .into_iter()
            .map(|(store, count)| StoreCount {
                store: store.to_string(),
                count,
            })
            .collect();
        stores.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.store.cmp(&b.store)));
        let report = ComplaintReport {
            month: month.to_string(),
            total: counts.values().sum(),
            by_category: Category::ALL
                .iter()
                .map(|c| CategoryCount {
                    category: *c,
                    category_label: c.label_zh().to_string(),
                    count: by_category.get(c).copied().unwrap_or_default(),
                })
                .collect(),
            by_store: stores,
            rows: counts
                .into_iter()
                .map(|((store, category), count)| ComplaintCount {
                    store,
                    category,
                    category_label: category.label_zh().to_string(),
                    count,
                })
                .collect(),
        };
        Ok(Reported {
            as_of: self.as_of()?,
            report,
        })
    }
}

fn refuse_if_closed(
    complaint: &Complaint,
    what_zh: &str,
    what_en: &str,
) -> Result<(), ServiceError> {
    if complaint.is_open() {
        Ok(())
    } else {
        Err(rule(
            &format!("客诉已结案，不能{what_zh}；如客户再次反映，请先重新打开"),
            format!("the complaint is closed and cannot be {what_en}; reopen it first"),
        ))
    }
}
