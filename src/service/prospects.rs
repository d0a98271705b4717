//! Prospect use cases: record one, follow it up, convert it into a customer.

use std::collections::BTreeMap;

use super::{new_id, BackOffice, ServiceError, User};
use crate::domain::customer::{Customer, CustomerInput};
use crate::domain::facts::FactBody;
use crate::domain::prospect::{FollowUp, Prospect, FIELDS, PROSPECT_KIND};
use crate::domain::record::RecordOp;
use crate::domain::role::Action;
use crate::domain::validation::FieldErrors;

pub const METHODS: &[&str] = &["phone", "sms", "email", "visit"];

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
        Ok(Prospect::from_record(&id, &written.record))
    }

    pub fn prospect(&self, id: &str) -> Result<Prospect, ServiceError> {
        match self.store.record(id)? {
            Some(r) if r.kind == PROSPECT_KIND => Ok(Prospect::from_record(id, &r)),
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
        Ok(Prospect::from_record(id, &written.record))
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
