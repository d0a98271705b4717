//! Attachments (return and complaint photos): content-addressed bytes, so the same photo stored on two nodes
//! is one attachment and a reference can be checked against its content.

use sha2::{Digest, Sha256};

use super::{BackOffice, ServiceError, User};
use crate::domain::role::Action;
use crate::store::keys;

pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl BackOffice {
    /// Return photos (clerk) and complaint photos (clerk or supervisor).
    pub fn put_attachment(&self, user: &User, bytes: &[u8]) -> Result<String, ServiceError> {
        if !user.role.may(Action::RecordComplaint) {
            user.require(Action::RequestReturn)?;
        }
        let hash = content_hash(bytes);
        self.store.put_raw(&keys::attachment(&hash), bytes)?;
        Ok(hash)
    }

    /// Stores an attachment received from a peer, after checking it is what its hash says.
    pub fn put_attachment_from_peer(&self, hash: &str, bytes: &[u8]) -> Result<bool, ServiceError> {
        if content_hash(bytes) != hash {
            return Ok(false);
        }
        self.store.put_raw(&keys::attachment(hash), bytes)?;
        Ok(true)
    }

    pub fn attachment(&self, hash: &str) -> Result<Vec<u8>, ServiceError> {
        self.store
            .get_raw(&keys::attachment(hash))?
            .ok_or_else(|| ServiceError::NotFound(format!("attachment {hash}")))
    }
}
