//! Node-local users and their bearer tokens. Tokens are 256 random bits, stored only as their
//! SHA-256 (a high-entropy secret needs no slow hash); users are not synced between nodes.

use sha2::{Digest, Sha256};

use super::{BackOffice, ServiceError, User};
use crate::domain::role::Role;
use crate::store::keys;

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl BackOffice {
    /// Adds a user and returns their token, shown once.
    pub fn add_user(&self, name: &str, role: Role) -> Result<String, ServiceError> {
        if name.trim().is_empty() {
            return Err(ServiceError::Invalid(
                crate::domain::validation::FieldErrors::single("name", "must not be empty"),
            ));
        }
        let token = format!("nq_{}", hex::encode(rand::random::<[u8; 32]>()));
        let user = User {
            name: name.to_string(),
            role,
        };
        let bytes = serde_json::to_vec(&user)
            .map_err(|e| ServiceError::Store(crate::store::StoreError::Meta(e.to_string())))?;
        self.store
            .put_raw(&keys::user(&token_hash(&token)), &bytes)?;
        self.store.flush()?;
        Ok(token)
    }

    pub fn authenticate(&self, token: &str) -> Result<Option<User>, ServiceError> {
        match self.store.get_raw(&keys::user(&token_hash(token)))? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            None => Ok(None),
        }
    }

    pub fn users(&self) -> Result<Vec<User>, ServiceError> {
        Ok(self
            .store
            .scan_raw(keys::USER_PREFIX)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect())
    }
}
