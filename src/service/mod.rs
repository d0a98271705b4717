//! The back office's use cases: each turns a request from a known user into a change on the
//! store, after checking the rules on what this node knows. Synchronous and free of HTTP, so the
//! API, the CLI importer and the tests share one path.

pub mod attachments;
pub mod complaints;
pub mod contracts;
pub mod customers;
pub mod delays;
pub mod lifecycle;
pub mod orders;
pub mod prospects;
pub mod receivables;
pub mod reports;
pub mod returns;
pub mod users;

use std::sync::Arc;

use crate::domain::record::ChangeAuthor;
use crate::domain::role::{Action, Role};
use crate::domain::validation::FieldErrors;
use crate::identity::NodeIdentity;
use crate::store::{Store, StoreError, UpdateError};

/// A signed-in user of this node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub name: String,
    pub role: Role,
}

impl User {
    pub fn author(&self, action: impl Into<String>) -> ChangeAuthor {
        ChangeAuthor {
            user: self.name.clone(),
            role: self.role.to_string(),
            action: action.into(),
        }
    }

    pub fn require(&self, action: Action) -> Result<(), ServiceError> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "role {} may not {action:?}",
                self.role
            )))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// A rule broken on what this node knows; the message names the rule.
    #[error("{0}")]
    Rule(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FieldErrors> for ServiceError {
    fn from(e: FieldErrors) -> Self {
        ServiceError::Invalid(e)
    }
}

impl From<UpdateError<ServiceError>> for ServiceError {
    fn from(e: UpdateError<ServiceError>) -> Self {
        match e {
            UpdateError::Refused(e) => e,
            UpdateError::Store(e) => ServiceError::Store(e),
        }
    }
}

/// The node's business state: its store and who it is.
#[derive(Clone)]
pub struct BackOffice {
    pub store: Arc<Store>,
    pub identity: NodeIdentity,
    /// This node's verified certificate (`pki`), once one is installed: the roles whose users
    /// it may have. Shared by every clone, so installing one applies at once.
    certificate: Arc<std::sync::RwLock<Option<crate::pki::NodeCertificate>>>,
    /// Signs the facts this node writes and decides which facts count (`authority`); the same
    /// handle the store's projector holds.
    authority: crate::authority::AuthorityHandle,
    /// When late orders and open complaints go up (上报): the node's configuration.
    pub escalation: Escalation,
}

/// After how many days a late order goes to the VP's queue (上报销售副总) and an open complaint
/// to the supervisor's (上报主管). A list may ask for other days; queues and counts use these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    pub late_order_days: u32,
    pub open_complaint_days: u32,
}

impl Default for Escalation {
    fn default() -> Self {
        Escalation {
            late_order_days: crate::domain::delay::DEFAULT_ESCALATE_AFTER_DAYS,
            open_complaint_days: crate::domain::complaint::DEFAULT_ESCALATE_AFTER_DAYS,
        }
    }
}

/// A new unique id (documents, lines, facts): a UUID v7, the time in ms then 74 random bits, so
/// nodes never collide offline. Time first, because the store keys documents by id: documents
/// created together sit together, and a batch of them (a burst of creates, a full sync in feed
/// order) writes a few sled leaves instead of one per document. With random ids a full sync of
/// 10,000 orders took 13% more CPU, and the store 20% more disk.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl BackOffice {
    pub fn new(store: Arc<Store>, identity: NodeIdentity) -> Self {
        BackOffice {
            store,
            identity,
            certificate: Arc::default(),
            authority: Default::default(),
            escalation: Escalation::default(),
        }
    }

    pub fn with_escalation(mut self, escalation: Escalation) -> Self {
        self.escalation = escalation;
        self
    }

    /// With the authority the store's projector uses (`node::open_store_with_authority`).
    pub fn with_authority(mut self, authority: crate::authority::AuthorityHandle) -> Self {
        self.authority = authority;
        self
    }

    pub fn authority(&self) -> Arc<crate::authority::Authority> {
        self.authority.get()
    }

    pub fn authority_handle(&self) -> crate::authority::AuthorityHandle {
        self.authority.clone()
    }

    /// The order in `record` with only the facts that count.
    pub fn order_from(
        &self,
        id: &str,
        record: &crate::domain::record::Record,
    ) -> crate::domain::order::Order {
        crate::domain::order::Order::from_record_checked(id, record, &*self.authority.get())
    }

    /// The facts of any document (complaint, contract, prospect…) split into those that count
    /// and those refused by this node's authority, as `order_from` does for orders.
    pub fn checked_facts(
        &self,
        id: &str,
        record: &crate::domain::record::Record,
    ) -> crate::domain::facts::CheckedFacts {
        crate::domain::facts::CheckedFacts::of(id, record, &*self.authority.get())
    }

    /// The op that appends a new fact recorded by `user` on this node, now, to document
    /// `doc_id`, signed with this node's key.
    pub fn fact_op(
        &self,
        user: &User,
        doc_id: &str,
        body: crate::domain::facts::FactBody,
    ) -> Result<crate::domain::record::RecordOp, ServiceError> {
        self.attested_fact_op(user, doc_id, body, None)
    }

    /// `fact_op` for a fact that also vouches for values (`domain::attest`): the attestation
    /// is a member of the fact's JSON, so the fact's one signature covers it.
    pub fn attested_fact_op(
        &self,
        user: &User,
        doc_id: &str,
        body: crate::domain::facts::FactBody,
        attestation: Option<&crate::domain::attest::Attestation>,
    ) -> Result<crate::domain::record::RecordOp, ServiceError> {
        let fact = crate::domain::facts::Fact {
            id: new_id(),
            at: chrono::Utc::now(),
            user: user.name.clone(),
            role: user.role,
            node: self.identity.node_id.clone(),
            body,
        };
        let json = serde_json::to_string(&fact)
            .map_err(|e| ServiceError::Rule(format!("fact could not be encoded: {e}")))?;
        let json = match attestation {
            Some(a) => a.into_json(json),
            None => json,
        };
        let json = self.authority.get().seal(doc_id, &fact.id, json);
        Ok(crate::domain::record::RecordOp::AddFact { id: fact.id, json })
    }

    /// The node's certificate, as installed.
    pub fn certificate(&self) -> Option<crate::pki::NodeCertificate> {
        self.certificate
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Takes a verified certificate as this node's (at start, and when one is installed).
    pub fn set_certificate(&self, certificate: crate::pki::NodeCertificate) {
        *self
            .certificate
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(certificate);
    }

    /// A node may only have users of its certificate's roles (a clerk machine cannot make
    /// itself a finance user). A node without a certificate yet is not limited here.
    fn check_role_allowed(&self, role: Role) -> Result<(), ServiceError> {
        match self.certificate() {
            Some(cert) if !cert.allows(role) => {
                let roles: Vec<&str> = cert.roles.iter().map(|r| r.as_str()).collect();
                let roles = roles.join(", ");
                Err(ServiceError::Rule(format!(
                    "本节点的证书不允许{role}角色的用户（证书角色：{roles}）/ this node's \
                     certificate does not allow users of role {role} (certificate roles: {roles})"
                )))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn ids_are_plain_hex_and_sort_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..2000).map(|_| new_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
    }
}
