//! The back office's use cases: each turns a request from a known user into a change on the
//! store, after checking the rules on what this node knows. Synchronous and free of HTTP, so the
//! API, the CLI importer and the tests share one path.

pub mod attachments;
pub mod customers;
pub mod delays;
pub mod lifecycle;
pub mod orders;
pub mod prospects;
pub mod receivables;
pub mod reports;
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

    /// The op that appends a new fact recorded by this user on `node`, now.
    pub fn fact_op(
        &self,
        node: &str,
        body: crate::domain::facts::FactBody,
    ) -> Result<crate::domain::record::RecordOp, ServiceError> {
        let fact = crate::domain::facts::Fact {
            id: new_id(),
            at: chrono::Utc::now(),
            user: self.name.clone(),
            role: self.role,
            node: node.to_string(),
            body,
        };
        let json = serde_json::to_string(&fact)
            .map_err(|e| ServiceError::Rule(format!("fact could not be encoded: {e}")))?;
        Ok(crate::domain::record::RecordOp::AddFact { id: fact.id, json })
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
        }
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
