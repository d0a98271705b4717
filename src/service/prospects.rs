//! Prospect use cases: record one, follow it up, convert it into a customer.

use std::collections::BTreeMap;

use super::customers::Page;
use super::{new_id, BackOffice, ServiceError, User};
use crate::domain::customer::{Customer, CustomerInput};
use crate::domain::facts::FactBody;
use crate::domain::prospect::{FollowUp, Prospect, ProspectSummary, FIELDS, PROSPECT_KIND};
use crate::domain::record::Record;
use crate::domain::record::RecordOp;
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;
use crate::views;

pub const METHODS: &[&str] = &["phone", "sms", "email", "visit"];

/// Which follow-ups a list of prospects holds, counted on a business day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Next follow-up before today.
    Overdue,
    Today,
    /// From today to the end of this week (Sunday).
    ThisWeek,
}

#[derive(Debug, Clone)]
pub struct ProspectQuery {
    /// Every prospect, newest first, when absent; else those due, earliest first.
    pub due: Option<Due>,
    pub today: chrono::NaiveDate,
    pub cursor: Option<Vec<u8>>,
    pub limit: usize,
}

impl BackOffice {
    pub fn create_prospect(
        &self,
        user: &User,
        fields: BTreeMap<String, String>,
    ) -> Result<Prospect, ServiceError> {
        user.require(Action::EditCustomer)?;
        let mut errors = FieldErrors::default();
        if fields.get("name").is_none_or(|n| n.trim().is_empty()) {
            errors.push("name", "must not be empty");
        }
        for key in fields.keys() {
            if !FIELDS.contains(&key.as_str()) || key == "converted_to" {
                errors.push(key.clone(), "unknown field");
            }
        }
        errors.into_result()?;
        let id = new_id();
        let mut ops = vec![RecordOp::SetKind(PROSPECT_KIND.into())];
        ops.extend(fields.into_iter().map(|(k, v)| RecordOp::field(&k, v)));
        let written = self
            .store
            .create(&id, &user.author("create prospect"), &ops)?;
        Ok(self.prospect_from(&id, &written.record))
    }

    /// The prospect in `record` with only the follow-ups that count.
    fn prospect_from(&self, id: &str, record: &Record) -> Prospect {
        Prospect::from_record_checked(id, record, &*self.authority.get())
    }

    /// Prospects from the indexes: all of them newest first, or the follow-ups due (overdue,
    /// today, this week) earliest first; converted prospects are never due.
    pub fn list_prospects(
        &self,
        query: &ProspectQuery,
    ) -> Result<Page<ProspectSummary>, ServiceError> {
        use chrono::Datelike;
        let today = query.today;
        let week_end =
            today + chrono::Days::new(6 - u64::from(today.weekday().num_days_from_monday()));
        let cursor = query.cursor.as_deref();
        let (index, prefix, newest_first) = match query.due {
            None => (views::KIND, PROSPECT_KIND.to_string(), true),
            Some(Due::Today) => (views::PROSPECT_DUE, format!("{today}|"), false),
            Some(Due::Overdue | Due::ThisWeek) => (views::PROSPECT_DUE, String::new(), false),
        };
        // A due entry's value starts with its date (`date|name`).
        let date_of = |key: &[u8]| -> Option<chrono::NaiveDate> {
            let value = String::from_utf8_lossy(key);
            let value = value.rsplit('\0').nth(1)?;
            value.split('|').next()?.parse().ok()
        };
        let in_range = |date: chrono::NaiveDate| match query.due {
            Some(Due::Overdue) => date < today,
            Some(Due::ThisWeek) => date >= today && date <= week_end,
            _ => true,
        };
        let candidates = self
            .store
            .scan_index(index, &prefix, cursor, newest_first)
            .map(|entry| entry.map_err(ServiceError::from))
            // Due entries come earliest first: past the range, nothing further matches.
            .take_while(|entry| match (entry, query.due) {
                (Ok((key, _)), Some(Due::Overdue)) => date_of(key).is_some_and(in_range),
                (Ok((key, _)), Some(Due::ThisWeek)) => date_of(key).is_none_or(|d| d <= week_end),
                _ => true,
            })
            .filter(|entry| match entry {
                Ok((key, _)) if query.due == Some(Due::ThisWeek) => {
                    date_of(key).is_some_and(in_range)
                }
                _ => true,
            })
            .filter_map(|entry| match entry {
                Ok((key, doc)) => self
                    .summary_of::<ProspectSummary>(&doc)
                    .transpose()
                    .map(|summary| summary.map(|s| (key, s))),
                Err(e) => Some(Err(e)),
            });
        Page::take(query.limit.clamp(1, 1000), candidates)
    }

    pub fn prospect(&self, id: &str) -> Result<Prospect, ServiceError> {
        match self.store.record(id)? {
            Some(r) if r.kind == PROSPECT_KIND => Ok(self.prospect_from(id, &r)),
            _ => Err(ServiceError::NotFound(format!("prospect {id}"))),
        }
    }

    pub fn follow_up(
        &self,
        user: &User,
        id: &str,
        follow_up: FollowUp,
    ) -> Result<Prospect, ServiceError> {
        user.require(Action::EditCustomer)?;
        if !METHODS.contains(&follow_up.method.as_str()) {
            return Err(FieldErrors::single("method", "phone, sms, email or visit").into());
        }
        let written = self
            .store
            .update(id, &user.author("prospect follow-up"), |current| {
                if current.is_none_or(|r| r.kind != PROSPECT_KIND) {
                    return Err(ServiceError::NotFound(format!("prospect {id}")));
                }
                Ok(vec![self.fact_op(
                    user,
                    id,
                    FactBody::FollowedUp(follow_up),
                )?])
            })?;
        Ok(self.prospect_from(id, &written.record))
    }

    /// Turns a prospect into a customer archive carrying its name, city, region and contact.
    pub fn convert_prospect(
        &self,
        user: &User,
        id: &str,
        extra: BTreeMap<String, String>,
    ) -> Result<Customer, ServiceError> {
        user.require(Action::EditCustomer)?;
        let prospect = self.prospect(id)?;
        if prospect
            .fields
            .get("converted_to")
            .is_some_and(|c| !c.is_empty())
        {
            return Err(ServiceError::Rule(format!(
                "prospect {id} is already a customer"
            )));
        }
        let mut input = CustomerInput::default();
        for key in ["name", "city", "region"] {
            if let Some(v) = prospect.fields.get(key) {
                input.header.insert(key.into(), v.clone());
            }
        }
        input.header.extend(extra);
        let contact: BTreeMap<String, String> = [("name", "contact"), ("mobile", "phone")]
            .into_iter()
            .filter_map(|(to, from)| {
                prospect
                    .fields
                    .get(from)
                    .map(|v| (to.to_string(), v.clone()))
            })
            .collect();
        if !contact.is_empty() {
            input.collections.insert("contacts".into(), vec![contact]);
        }
        let customer = self.create_customer(user, input)?;
        self.store
            .update(id, &user.author("convert prospect"), |_| {
                Ok::<_, ServiceError>(vec![RecordOp::field("converted_to", customer.id.clone())])
            })?;
        Ok(customer)
    }
}
