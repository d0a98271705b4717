//! Contract use cases (合同): draft one, edit the draft, submit it, the supervisor's review
//! (主管审核), the VP's approval (领导审批), signing (签订) and filing (归档); a change after
//! submission is a new version that goes through review again. Orders name their contract
//! (`resolve_order_contract`), and a contract shows its orders and how much of its amount they
//! used, from the `order_contract` index and the orders' summaries; an order may not take a
//! contract beyond its amount in force (`check_contract_room`), and contracts exceeded by
//! orders taken on nodes apart are found from the `contract_ledger` index (合同超额). Lists
//! (state, customer, expiring, expired) come from the contract indexes (`views::contracts`).

use chrono::{NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::customers::Page;
use super::lifecycle::{inbox_anomaly, rule, InboxAnomaly};
use super::{BackOffice, ServiceError, User};
use crate::domain::anomaly::{self, Anomaly};
use crate::domain::contract::{
    expired, version_of, Contract, ContractContent, ContractState, CONTRACT_KIND,
};
use crate::domain::facts::{Fact, FactBody};
use crate::domain::money::scale_of;
use crate::domain::order::{Status, AMOUNT_SCALE};
use crate::domain::record::{Record, RecordOp};
use crate::domain::report::business_day;
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;
use crate::store::keys;
use crate::views::contracts::{self as index, ContractSummary};
use crate::views::{search_key, CustomerSummary, OrderSummary};

/// A contract as the clerk drafts it.
#[derive(Debug, Clone, Default)]
pub struct NewContract {
    /// Typed by the clerk, or this node's prefix and sequence (`SH-HT00001`) when empty.
    pub number: String,
    pub customer_id: String,
    /// 甲方; the customer's name when empty.
    pub party_a: String,
    /// 乙方
    pub party_b: String,
    pub amount: Decimal,
    pub terms: String,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    /// Hashes of attachments stored with `put_attachment`.
    pub attachments: Vec<String>,
}

/// A change of the content; absent fields stay. In draft it edits the draft; after submission
/// it makes a new version (with a reason) that goes through review again.
#[derive(Debug, Clone, Default)]
pub struct ContractPatch {
    pub party_a: Option<String>,
    pub party_b: Option<String>,
    pub amount: Option<Decimal>,
    pub terms: Option<String>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub attachments: Option<Vec<String>>,
    pub reason: String,
}

/// One version with what happened to it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractVersion {
    pub version: u32,
    pub state: ContractState,
    pub state_label: String,
    pub content: ContractContent,
    /// Why this version was made (empty for the first).
    pub reason: String,
    /// The revision that made it (from version 2 on), then its submission, reviews,
    /// approvals, signing and filing.
    pub facts: Vec<Fact>,
}

/// An order under the contract.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractOrder {
    pub id: String,
    pub number: String,
    pub status: Status,
    pub status_label: String,
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub gross: Decimal,
    pub created_at: String,
    /// Cancelled orders use nothing of the contract's amount.
    pub counts: bool,
}

/// A contract with everything derived from it, as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractView {
    pub id: String,
    pub number: String,
    pub customer_id: String,
    pub customer_name: String,
    pub created_at: String,
    pub version: u32,
    pub state: ContractState,
    pub state_label: String,
    /// The current version's content.
    #[serde(flatten)]
    pub content: ContractContent,
    /// The version in force (the latest signed), its signing date and last valid day.
    pub signed_version: Option<u32>,
    pub signed_on: Option<NaiveDate>,
    pub in_force_until: Option<NaiveDate>,
    /// The version in force is past its last valid day (China).
    pub expired: bool,
    /// Days from today to the last valid day, when in force.
    pub days_left: Option<i64>,
    /// The latest rejection of the current version: its reason.
    pub rejected_reason: Option<String>,
    /// Orders naming this contract (by id or number), newest first.
    pub orders: Vec<ContractOrder>,
    /// Gross of the orders that count (not cancelled).
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub used: Decimal,
    /// The amount in force (the signed version's, else the current one's) minus used;
    /// negative when the orders exceed the contract.
    #[schema(value_type = String)]
    #[serde(with = "crate::domain::money::serde_money")]
    pub remaining: Decimal,
    /// 超额: how much the orders that count exceed the amount in force (orders taken on two
    /// nodes apart); absent when they do not.
    #[schema(value_type = Option<String>)]
    #[serde(
        with = "crate::domain::money::serde_money_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub exceeded_by: Option<Decimal>,
    /// Every version, the first first, with its own facts.
    pub versions: Vec<ContractVersion>,
    /// 越权或伪造的记录: steps recorded by a role or node that may not, kept as evidence.
    pub anomalies: Vec<Anomaly>,
}

/// The list's filter on where a contract stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractFilter {
    State(ContractState),
    /// Signed (or filed) and past the last valid day of the version in force.
    Expired,
}

#[derive(Debug, Clone)]
pub struct ContractQuery {
    pub filter: Option<ContractFilter>,
    pub customer: Option<String>,
    /// In force and the last valid day within this many days from today: soonest first.
    pub expiring_within: Option<u32>,
    pub today: NaiveDate,
    pub cursor: Option<Vec<u8>>,
    pub limit: usize,
}

impl ContractQuery {
    pub fn all(limit: usize) -> ContractQuery {
        ContractQuery {
            filter: None,
            customer: None,
            expiring_within: None,
            today: business_day(Utc::now()),
            cursor: None,
            limit,
        }
    }
}

/// One contract of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractRow {
    pub contract: ContractSummary,
    pub state_label: String,
    /// Days from the query's day to the last valid day in force, when in force.
    pub days_left: Option<i64>,
    pub expired: bool,
}

impl ContractRow {
    pub fn of(contract: ContractSummary, today: NaiveDate) -> ContractRow {
        ContractRow {
            state_label: contract.state.label_zh().to_string(),
            days_left: contract.in_force_until.map(|d| (d - today).num_days()),
            expired: contract.in_force_until.is_some_and(|d| expired(d, today)),
            contract,
        }
    }
}

fn non_blank(errors: &mut FieldErrors, field: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(field, "must not be empty");
    }
}

/// The content's own rules: names given, a positive amount in cents, validity in order.
fn validate_content(content: &ContractContent, errors: &mut FieldErrors) {
    non_blank(errors, "party_a", &content.party_a);
    non_blank(errors, "party_b", &content.party_b);
    if content.amount <= Decimal::ZERO {
        errors.push("amount", "must be greater than zero");
    }
    if scale_of(content.amount) > AMOUNT_SCALE {
        errors.push("amount", "at most 2 decimal places");
    }
    if content.valid_to < content.valid_from {
        errors.push("valid_to", "must not be before valid_from");
    }
}

fn state_words(state: ContractState) -> String {
    format!("{} ({})", state.label_zh(), state.as_str())
}

impl BackOffice {
    /// The contract in `record` with only the facts that count.
    pub fn contract_from(&self, id: &str, record: &Record) -> Contract {
        Contract::from_checked(id, record, self.checked_facts(id, record))
    }

    pub fn contract(&self, id: &str) -> Result<Contract, ServiceError> {
        match self.store.record(id)? {
            Some(record) if record.kind == CONTRACT_KIND => Ok(self.contract_from(id, &record)),
            _ => Err(ServiceError::NotFound(format!("contract {id}"))),
        }
    }

    /// Every attachment names one this node holds.
    fn check_attachments(
        &self,
        hashes: &[String],
        errors: &mut FieldErrors,
    ) -> Result<(), ServiceError> {
        for (i, h) in hashes.iter().enumerate() {
            if self.store.get_raw(&keys::attachment(h))?.is_none() {
                errors.push(format!("attachments[{i}]"), "no attachment with this hash");
            }
        }
        Ok(())
    }

    /// The contract a number (as typed) names on this node.
    fn contract_by_number(&self, number: &str) -> Result<Option<String>, ServiceError> {
        let key = format!("{}\0", search_key(number).replace('|', " "));
        Ok(self
            .store
            .scan_index(index::CONTRACT_NUMBER, &key, None, false)
            .next()
            .transpose()?
            .map(|(_, doc)| doc))
    }

    /// 起草: a new contract in draft.
    pub fn create_contract(
        &self,
        user: &User,
        new: NewContract,
    ) -> Result<ContractView, ServiceError> {
        user.require(Action::DraftContract)?;
        let mut errors = FieldErrors::default();
        let customer = self.summary_of::<CustomerSummary>(&new.customer_id)?;
        if customer.is_none() || !self.customer_exists(&new.customer_id)? {
            errors.push("customer_id", "no such customer");
        }
        let customer_name = customer.map(|c| c.name).unwrap_or_default();
        let content = ContractContent {
            party_a: if new.party_a.trim().is_empty() {
                customer_name.clone()
            } else {
                new.party_a.trim().to_string()
            },
            party_b: new.party_b.trim().to_string(),
            amount: new.amount,
            terms: new.terms.trim().to_string(),
            valid_from: new.valid_from,
            valid_to: new.valid_to,
            attachments: new.attachments,
        };
        validate_content(&content, &mut errors);
        self.check_attachments(&content.attachments, &mut errors)?;
        let number = new.number.trim().to_string();
        if number.contains('\0') {
            errors.push("number", "must not contain NUL");
        }
        errors.into_result()?;
        if !number.is_empty() && self.contract_by_number(&number)?.is_some() {
            return Err(rule(
                &format!("合同编号 {number} 已被使用"),
                format!("contract number {number} is already taken"),
            ));
        }
        let number = if number.is_empty() {
            let seq = self.store.next_counter("contract_number")?;
            format!("{}-HT{seq:05}", self.identity.order_prefix)
        } else {
            number
        };
        let id = super::new_id();
        let mut ops = vec![
            RecordOp::SetKind(CONTRACT_KIND.into()),
            RecordOp::field("number", number.clone()),
            RecordOp::field("customer_id", new.customer_id),
            RecordOp::field("customer_name", customer_name),
            RecordOp::field(
                "created_at",
                Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            ),
        ];
        ops.extend(
            content
                .fields()
                .into_iter()
                .map(|(k, v)| RecordOp::field(k, v)),
        );
        let written =
            self.store
                .create(&id, &user.author(format!("draft contract {number}")), &ops)?;
        self.contract_view(&self.contract_from(&id, &written.record))
    }

    /// Edits the draft, or after submission makes a new version that is reviewed again.
    pub fn patch_contract(
        &self,
        user: &User,
        id: &str,
        patch: ContractPatch,
    ) -> Result<ContractView, ServiceError> {
        user.require(Action::DraftContract)?;
        let mut errors = FieldErrors::default();
        if let Some(attachments) = &patch.attachments {
            self.check_attachments(attachments, &mut errors)?;
        }
        errors.into_result()?;
        let written = self.store.update(
            id,
            &user.author("change contract (合同变更)"),
            |current| {
                let Some(record) = current.filter(|r| r.kind == CONTRACT_KIND) else {
                    return Err(ServiceError::NotFound(format!("contract {id}")));
                };
                let contract = self.contract_from(id, record);
                let before = contract.content();
                let after = ContractContent {
                    party_a: patch
                        .party_a
                        .clone()
                        .map_or(before.party_a.clone(), |s| s.trim().to_string()),
                    party_b: patch
                        .party_b
                        .clone()
                        .map_or(before.party_b.clone(), |s| s.trim().to_string()),
                    amount: patch.amount.unwrap_or(before.amount),
                    terms: patch
                        .terms
                        .clone()
                        .map_or(before.terms.clone(), |s| s.trim().to_string()),
                    valid_from: patch.valid_from.unwrap_or(before.valid_from),
                    valid_to: patch.valid_to.unwrap_or(before.valid_to),
                    attachments: patch
                        .attachments
                        .clone()
                        .unwrap_or_else(|| before.attachments.clone()),
                };
                let mut errors = FieldErrors::default();
                validate_content(&after, &mut errors);
                errors.into_result()?;
                if after == before {
                    return Err(rule("合同内容没有变化", "nothing in the contract changes"));
                }
                let mut ops: Vec<RecordOp> = after
                    .fields()
                    .into_iter()
                    .zip(before.fields())
                    .filter(|((_, new), (_, old))| new != old)
                    .map(|((k, v), _)| RecordOp::field(k, v))
                    .collect();
                match contract.state() {
                    ContractState::Draft => {}
                    ContractState::Archived => {
                        return Err(rule(
                            "已归档的合同不能修改；如需变更，请起草新合同",
                            "a filed contract takes no change; draft a new contract",
                        ))
                    }
                    _ => {
                        if patch.reason.trim().is_empty() {
                            return Err(FieldErrors::single(
                                "reason",
                                "a change after submission is a new version: say why",
                            )
                            .into());
                        }
                        ops.push(self.fact_op(
                            user,
                            id,
                            FactBody::ContractRevised {
                                version: contract.version() + 1,
                                previous: before,
                                reason: patch.reason.trim().to_string(),
                            },
                        )?);
                    }
                }
                Ok(ops)
            },
        )?;
        self.contract_view(&self.contract_from(id, &written.record))
    }

    /// Appends one fact about the current version; `build` refuses when a rule is broken.
    fn contract_fact(
        &self,
        user: &User,
        id: &str,
        action: Action,
        what: &str,
        build: impl FnOnce(&Contract, u32) -> Result<FactBody, ServiceError>,
    ) -> Result<ContractView, ServiceError> {
        user.require(action)?;
        let written = self.store.update(id, &user.author(what), |current| {
            let Some(record) = current.filter(|r| r.kind == CONTRACT_KIND) else {
                return Err(ServiceError::NotFound(format!("contract {id}")));
            };
            let contract = self.contract_from(id, record);
            let body = build(&contract, contract.version())?;
            Ok(vec![self.fact_op(user, id, body)?])
        })?;
        self.contract_view(&self.contract_from(id, &written.record))
    }

    /// 提交审核: the clerk sends the draft to the supervisor.
    pub fn submit_contract(&self, user: &User, id: &str) -> Result<ContractView, ServiceError> {
        self.contract_fact(
            user,
            id,
            Action::DraftContract,
            "submit contract (合同提交)",
            |contract, version| {
                expect_state(contract, ContractState::Draft, "提交审核", "submitted")?;
                Ok(FactBody::ContractSubmitted { version })
            },
        )
    }

    /// 主管审核: approve, or reject with a reason.
    pub fn review_contract(
        &self,
        user: &User,
        id: &str,
        approved: bool,
        reason: String,
    ) -> Result<ContractView, ServiceError> {
        decision_reason(approved, &reason)?;
        self.contract_fact(
            user,
            id,
            Action::ReviewContract,
            "review contract (主管审核)",
            |contract, version| {
                expect_state(contract, ContractState::Submitted, "主管审核", "reviewed")?;
                Ok(FactBody::ContractReviewed {
                    version,
                    approved,
                    reason: reason.trim().to_string(),
                })
            },
        )
    }

    /// 领导审批: the VP approves, or rejects with a reason, a reviewed version.
    pub fn approve_contract(
        &self,
        user: &User,
        id: &str,
        approved: bool,
        reason: String,
    ) -> Result<ContractView, ServiceError> {
        decision_reason(approved, &reason)?;
        self.contract_fact(
            user,
            id,
            Action::ApproveContract,
            "approve contract (领导审批)",
            |contract, version| {
                expect_state(contract, ContractState::Reviewed, "领导审批", "approved")?;
                Ok(FactBody::ContractApproved {
                    version,
                    approved,
                    reason: reason.trim().to_string(),
                })
            },
        )
    }

    /// 签订: the approved version was signed on `signed_on` (not after today, China).
    pub fn sign_contract(
        &self,
        user: &User,
        id: &str,
        signed_on: NaiveDate,
    ) -> Result<ContractView, ServiceError> {
        if signed_on > business_day(Utc::now()) {
            return Err(FieldErrors::single("signed_on", "must not be in the future").into());
        }
        self.contract_fact(
            user,
            id,
            Action::SignContract,
            "sign contract (合同签订)",
            |contract, version| {
                expect_state(contract, ContractState::Approved, "签订", "signed")?;
                Ok(FactBody::ContractSigned { version, signed_on })
            },
        )
    }

    /// 归档: the signed contract is filed.
    pub fn archive_contract(&self, user: &User, id: &str) -> Result<ContractView, ServiceError> {
        self.contract_fact(
            user,
            id,
            Action::SignContract,
            "archive contract (合同归档)",
            |contract, version| {
                expect_state(contract, ContractState::Signed, "归档", "filed")?;
                Ok(FactBody::ContractArchived { version })
            },
        )
    }

    /// The orders naming the contract (by id, or by its number typed before it was linked),
    /// from the `order_contract` index and their summaries.
    fn contract_orders(&self, contract: &Contract) -> Result<Vec<ContractOrder>, ServiceError> {
        let mut orders: Vec<ContractOrder> = Vec::new();
        let number = contract.get("number");
        for name in [contract.id.as_str(), number] {
            if name.trim().is_empty() {
                continue;
            }
            let prefix = format!("{}|", name.trim().replace(['|', '\0'], " "));
            for entry in self
                .store
                .scan_index(index::ORDER_CONTRACT, &prefix, None, true)
            {
                let (_, doc) = entry?;
                if orders.iter().any(|o| o.id == doc) {
                    continue;
                }
                if let Some(s) = self.summary_of::<OrderSummary>(&doc)? {
                    orders.push(ContractOrder {
                        counts: s.status != Status::Cancelled,
                        status_label: s.status.label_zh().to_string(),
                        id: s.id,
                        number: s.number,
                        status: s.status,
                        gross: s.gross,
                        created_at: s.created_at,
                    });
                }
            }
        }
        orders.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(orders)
    }

    /// The contract with its versions, its orders and what they used, and the records that do
    /// not count.
    pub fn contract_view(&self, contract: &Contract) -> Result<ContractView, ServiceError> {
        let today = business_day(Utc::now());
        let state = contract.state();
        let content = contract.content();
        let orders = self.contract_orders(contract)?;
        let used: Decimal = orders.iter().filter(|o| o.counts).map(|o| o.gross).sum();
        let signed = contract.signed();
        let in_force_until = contract.in_force_until();
        let reasons: Vec<String> = contract
            .facts
            .iter()
            .filter_map(|f| match &f.body {
                FactBody::ContractRevised { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        let versions = (1..=contract.version())
            .filter_map(|v| {
                let content = contract.content_of(v)?;
                let state = contract.state_of(v);
                Some(ContractVersion {
                    version: v,
                    state,
                    state_label: state.label_zh().to_string(),
                    content,
                    reason: v
                        .checked_sub(2)
                        .and_then(|i| reasons.get(i as usize))
                        .cloned()
                        .unwrap_or_default(),
                    // The revision that made it (who, when, why), then its steps.
                    facts: contract
                        .facts
                        .iter()
                        .filter(|f| version_of(&f.body) == Some(v))
                        .cloned()
                        .collect(),
                })
            })
            .collect();
        Ok(ContractView {
            id: contract.id.clone(),
            number: contract.get("number").to_string(),
            customer_id: contract.get("customer_id").to_string(),
            customer_name: contract.get("customer_name").to_string(),
            created_at: contract.get("created_at").to_string(),
            version: contract.version(),
            state,
            state_label: state.label_zh().to_string(),
            remaining: contract.amount_in_force() - used,
            exceeded_by: (used > contract.amount_in_force())
                .then(|| used - contract.amount_in_force()),
            content,
            signed_version: signed.map(|s| s.0),
            signed_on: signed.map(|s| s.1),
            in_force_until,
            expired: in_force_until.is_some_and(|d| expired(d, today)),
            days_left: in_force_until.map(|d| (d - today).num_days()),
            rejected_reason: contract.rejection().map(|(_, r)| r.to_string()),
            orders,
            used,
            versions,
            anomalies: anomaly::unauthorized(&contract.refused_facts),
        })
    }

    /// What an order's `contract` field stores for the text typed: the id of the contract it
    /// names (by id or number), or the text itself when it names none (a number from before
    /// contracts were documents). A contract of another customer is a 422; one not signed yet,
    /// or past its last valid day on `day`, is refused (409): orders go under a contract in
    /// force.
    pub fn resolve_order_contract(
        &self,
        customer_id: &str,
        text: &str,
        day: NaiveDate,
    ) -> Result<String, ServiceError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(String::new());
        }
        let by_id = self
            .store
            .doc_meta(text)?
            .is_some_and(|m| m.kind == CONTRACT_KIND);
        let id = if by_id {
            Some(text.to_string())
        } else {
            self.contract_by_number(text)?
        };
        let Some(id) = id else {
            let looks_like_id = text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
            if looks_like_id {
                return Err(FieldErrors::single("contract", "no such contract").into());
            }
            return Ok(text.to_string());
        };
        let Some(summary) = self.summary_of::<ContractSummary>(&id)? else {
            return Err(FieldErrors::single("contract", "no such contract").into());
        };
        if summary.customer_id != customer_id {
            return Err(FieldErrors::single("contract", "a contract of another customer").into());
        }
        let number = &summary.number;
        let Some(until) = summary.in_force_until else {
            return Err(rule(
                &format!(
                    "合同 {number} 尚未签订（{}），订单只能关联已签订的合同",
                    summary.state.label_zh()
                ),
                format!(
                    "contract {number} is not signed yet ({}): orders go under a signed contract",
                    summary.state.as_str()
                ),
            ));
        };
        if expired(until, day) {
            return Err(rule(
                &format!("合同 {number} 已于 {until} 到期，不能再关联新订单"),
                format!("contract {number} expired on {until}: it takes no new order"),
            ));
        }
        Ok(id)
    }

    /// Lists contracts through the most selective index: expiring soonest first, expired most
    /// recently first, else newest first.
    pub fn list_contracts(&self, query: &ContractQuery) -> Result<Page<ContractRow>, ServiceError> {
        let limit = query.limit.clamp(1, 1000);
        let today = query.today;
        let matches = |r: &ContractRow| {
            let c = &r.contract;
            let filter_ok = match query.filter {
                None => true,
                Some(ContractFilter::State(s)) => c.state == s,
                Some(ContractFilter::Expired) => r.expired,
            };
            filter_ok && query.customer.as_ref().is_none_or(|x| &c.customer_id == x)
        };
        let row = |entry: Result<(Vec<u8>, String), crate::store::StoreError>| match entry {
            Ok((key, doc)) => self
                .summary_of::<ContractSummary>(&doc)
                .transpose()
                .map(|s| s.map(|s| (key, ContractRow::of(s, today)))),
            Err(e) => Some(Err(e.into())),
        };
        let valid_to_key = |day: NaiveDate| {
            [
                keys::index_prefix(index::CONTRACT_VALID_TO),
                day.to_string().into_bytes(),
            ]
            .concat()
        };
        if let Some(days) = query.expiring_within {
            // From today on, soonest first; past the horizon nothing more qualifies.
            let start = query.cursor.clone().unwrap_or_else(|| valid_to_key(today));
            let horizon = today + chrono::Days::new(u64::from(days));
            let candidates = self
                .store
                .scan_index(index::CONTRACT_VALID_TO, "", Some(&start), false)
                .filter_map(row)
                .take_while(|c| {
                    !matches!(c, Ok((_, r)) if r.contract.in_force_until.is_some_and(|d| d > horizon))
                })
                .filter(|c| {
                    c.as_ref()
                        .map_or(true, |(_, r)| !r.expired && matches(r))
                });
            return Page::take(limit, candidates);
        }
        if query.filter == Some(ContractFilter::Expired) {
            // Before today, most recently expired first.
            let start = query.cursor.clone().unwrap_or_else(|| valid_to_key(today));
            let candidates = self
                .store
                .scan_index(index::CONTRACT_VALID_TO, "", Some(&start), true)
                .filter_map(row)
                .filter(|c| c.as_ref().map_or(true, |(_, r)| matches(r)));
            return Page::take(limit, candidates);
        }
        let (index_name, prefix) = match (query.filter, &query.customer) {
            (Some(ContractFilter::State(s)), _) => {
                (index::CONTRACT_STATE, format!("{}|", s.as_str()))
            }
            (_, Some(customer)) => (index::CONTRACT_CUSTOMER, format!("{customer}|")),
            _ => (index::CONTRACT_CREATED, String::new()),
        };
        let candidates = self
            .store
            .scan_index(index_name, &prefix, query.cursor.as_deref(), true)
            .filter_map(row)
            .filter(|c| c.as_ref().map_or(true, |(_, r)| matches(r)));
        Page::take(limit, candidates)
    }
}

/// A rejection needs a reason.
fn decision_reason(approved: bool, reason: &str) -> Result<(), ServiceError> {
    if !approved && reason.trim().is_empty() {
        return Err(FieldErrors::single("reason", "a rejection needs a reason").into());
    }
    Ok(())
}

/// The step needs the current version in `state`; the rule names where it is.
fn expect_state(
    contract: &Contract,
    state: ContractState,
    what_zh: &str,
    what_en: &str,
) -> Result<(), ServiceError> {
    let now = contract.state();
    if now == state {
        return Ok(());
    }
    let hint = if now == ContractState::Rejected {
        "；已退回的合同请修改后形成新版本再提交"
    } else {
        ""
    };
    Err(rule(
        &format!(
            "合同当前为{}，只有{}的合同可以{what_zh}{hint}",
            state_words(now),
            state_words(state)
        ),
        format!(
            "the contract is {} (version {}); only a {} contract can be {what_en}",
            now.as_str(),
            contract.version(),
            state.as_str()
        ),
    ))
}

/// ¥1234.56, as the refusals write amounts.
fn yuan(amount: Decimal) -> String {
    format!("¥{}", crate::domain::money::money_string(amount))
}

/// A contract its orders exceed (合同超额), as the ledger index shows it.
struct Exceeded {
    contract: String,
    amount: Decimal,
    used: Decimal,
    orders: Vec<String>,
}

impl BackOffice {
    /// An order under contract `contract` (its id, as the order stores it) whose total becomes
    /// `gross` is refused (409) when the contract's other orders that count plus `gross` would
    /// go beyond the amount in force. `order` is the order itself when it exists (its own
    /// total is not counted twice). A contract field naming no contract document (a number
    /// from before contracts were documents) has nothing to check.
    pub fn check_contract_room(
        &self,
        contract: &str,
        order: Option<&str>,
        gross: Decimal,
    ) -> Result<(), ServiceError> {
        let is_contract = !contract.is_empty()
            && self
                .store
                .doc_meta(contract)?
                .is_some_and(|m| m.kind == CONTRACT_KIND);
        if !is_contract {
            return Ok(());
        }
        let contract = self.contract(contract)?;
        let amount = contract.amount_in_force();
        let used: Decimal = self
            .contract_orders(&contract)?
            .iter()
            .filter(|o| o.counts && Some(o.id.as_str()) != order)
            .map(|o| o.gross)
            .sum();
        if used + gross <= amount {
            return Ok(());
        }
        let number = contract.get("number");
        let remaining = amount - used;
        Err(rule(
            &format!(
                "超出合同 {number} 的金额：合同金额 {}，已用 {}，剩余 {}，本单 {}",
                yuan(amount),
                yuan(used),
                yuan(remaining),
                yuan(gross)
            ),
            format!(
                "the order would exceed contract {number}: amount {}, used {}, remaining {}, \
                 this order {}",
                money_text(amount),
                money_text(used),
                money_text(remaining),
                money_text(gross)
            ),
        ))
    }

    /// Contracts whose orders that count (not cancelled) add up to more than the amount in
    /// force (合同超额): two nodes each took an order within what remained. Found from the
    /// `ct|` tallies of the `contract_ledger` index (a sum per contract; no order or summary is
    /// read); only the contracts found are read, for their numbers and orders. Identical on every node holding the same documents; it
    /// leaves the inbox when an order is cancelled or lowered (变更单), or a new version of the
    /// contract raising its amount is signed.
    pub fn contract_exceeded_anomalies(&self) -> Result<Vec<InboxAnomaly>, ServiceError> {
        let mut found: Vec<Exceeded> = Vec::new();
        // The `ct|` tallies: amount, used, signed, orders per contract.
        for (key, sums) in self.store.tallies("ct|", "ct}")? {
            let Some(contract) = key.strip_prefix("ct|") else {
                continue;
            };
            let (amount, used, signed) = (sums[0], sums[1], !sums[2].is_zero());
            if !signed || used <= amount {
                continue;
            }
            let mut orders = Vec::new();
            self.store.for_each_in_index_range(
                index::CONTRACT_LEDGER,
                &format!("{contract}|{}|", index::LEDGER_ORDER),
                &format!("{contract}|{}}}", index::LEDGER_ORDER),
                |_, doc| orders.push(doc.to_string()),
            )?;
            found.push(Exceeded {
                contract: contract.to_string(),
                amount,
                used,
                orders,
            });
        }
        let kind = anomaly::AnomalyKind::ContractExceeded;
        let mut out = Vec::with_capacity(found.len());
        for g in found {
            let number = self
                .summary_of::<ContractSummary>(&g.contract)?
                .map_or_else(|| g.contract.clone(), |s| s.number);
            let mut orders = g.orders;
            orders.sort();
            // The id names the contract and what its orders add up to, so a change that keeps
            // it exceeded by another amount is a new anomaly, the same one on every node.
            let local = format!("{}:{}:{}", kind.slug(), g.contract, money_text(g.used));
            let detail = format!(
                "合同 {number} 超额 {}：合同金额 {}，{} 张订单合计 {} / contract {number} \
                 ({}) is exceeded by {}: amount {}, used {} by {} orders",
                yuan(g.used - g.amount),
                yuan(g.amount),
                orders.len(),
                yuan(g.used),
                g.contract,
                money_text(g.used - g.amount),
                money_text(g.amount),
                money_text(g.used),
                orders.len()
            );
            out.push(inbox_anomaly("shared", kind, local, detail, orders));
        }
        Ok(out)
    }
}

/// 1234.56: an amount in the English half of a message.
fn money_text(amount: Decimal) -> String {
    crate::domain::money::money_string(amount)
}
