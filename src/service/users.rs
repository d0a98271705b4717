//! Node-local users: bearer tokens for scripts, passwords for the workbench. Tokens are 256
//! random bits, stored only as their SHA-256 (a high-entropy secret needs no slow hash);
//! passwords, chosen by people, are stored as Argon2id PHC strings. Users are not synced between
//! nodes.
//!
//! One record per user under `u/<token hash>`; the fields the workbench added (password,
//! disabled) default, so records written before them still read. Names are unique per node, and
//! every change by name applies to every record of that name (older versions allowed two).

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BackOffice, ServiceError, User};
use crate::domain::role::Role;
use crate::domain::validation::FieldErrors;
use crate::store::keys;

/// Shorter passwords are refused: a node's password hashes can be read by anyone holding its
/// disk, and eight characters is where guessing a slow hash stops being quick.
pub const MIN_PASSWORD_CHARS: usize = 8;

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A user as stored. Fields after `role` are `#[serde(default)]`: older records lack them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredUser {
    name: String,
    role: Role,
    /// Argon2id PHC string; None until the admin sets a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    /// A disabled user's tokens and sessions are refused at their next request.
    #[serde(default)]
    disabled: bool,
}

impl StoredUser {
    fn user(&self) -> User {
        User {
            name: self.name.clone(),
            role: self.role,
        }
    }
}

/// A user as the admin's page lists them. Never carries the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub has_password: bool,
}

fn encode_error(e: serde_json::Error) -> ServiceError {
    ServiceError::Store(crate::store::StoreError::Meta(e.to_string()))
}

fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ServiceError::Rule(format!("password could not be hashed: {e}")))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash no password is checked against for real: signing in as a name that does not exist
/// costs the same Argon2 run as a wrong password, so the time does not tell which names exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never set").unwrap_or_default())
}

fn validate_password(password: &str) -> Result<(), ServiceError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(FieldErrors::single(
            "password",
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        )
        .into());
    }
    Ok(())
}

fn require_admin(user: &User) -> Result<(), ServiceError> {
    if user.role == Role::Admin {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "only the admin manages users".into(),
        ))
    }
}

impl BackOffice {
    /// Adds a user and returns their token, shown once.
    pub fn add_user(&self, name: &str, role: Role) -> Result<String, ServiceError> {
        self.add_user_with_password(name, role, None)
    }

    /// Adds a user, with a workbench password when one is given; returns their token, shown
    /// once. A name already taken on this node is refused.
    pub fn add_user_with_password(
        &self,
        name: &str,
        role: Role,
        password: Option<&str>,
    ) -> Result<String, ServiceError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(FieldErrors::single("name", "must not be empty").into());
        }
        if let Some(password) = password {
            validate_password(password)?;
        }
        self.check_role_allowed(role)?;
        if self.stored_users()?.iter().any(|(_, u)| u.name == name) {
            return Err(ServiceError::Rule(format!(
                "user name {name:?} is taken on this node"
            )));
        }
        let token = format!("nq_{}", hex::encode(rand::random::<[u8; 32]>()));
        let user = StoredUser {
            name: name.to_string(),
            role,
            password: password.map(hash_password).transpose()?,
            disabled: false,
        };
        let bytes = serde_json::to_vec(&user).map_err(encode_error)?;
        self.store
            .put_raw(&keys::user(&token_hash(&token)), &bytes)?;
        self.store.flush()?;
        Ok(token)
    }

    /// The user a bearer token belongs to; None for an unknown token or a disabled user.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, ServiceError> {
        match self.store.get_raw(&keys::user(&token_hash(token)))? {
            Some(bytes) => Ok(serde_json::from_slice::<StoredUser>(&bytes)
                .ok()
                .filter(|u| !u.disabled)
                .map(|u| u.user())),
            None => Ok(None),
        }
    }

    /// The user a name and password sign in as; None for a wrong password, an unknown name, a
    /// user without a password or a disabled one (the caller cannot tell which). Slow on
    /// purpose (Argon2): run it off the async threads.
    pub fn sign_in(&self, name: &str, password: &str) -> Result<Option<User>, ServiceError> {
        let found = self
            .stored_users()?
            .into_iter()
            .map(|(_, u)| u)
            .find(|u| u.name == name.trim() && u.password.is_some());
        let phc = found
            .as_ref()
            .and_then(|u| u.password.as_deref())
            .unwrap_or_else(|| decoy_hash());
        let matches = password_matches(password, phc);
        Ok(found.filter(|u| matches && !u.disabled).map(|u| u.user()))
    }

    /// The enabled user of that name, as they stand now (role changes apply at once); None when
    /// there is none or they are disabled. Sessions call this on every request.
    pub fn active_user(&self, name: &str) -> Result<Option<User>, ServiceError> {
        Ok(self
            .stored_users()?
            .into_iter()
            .map(|(_, u)| u)
            .find(|u| u.name == name && !u.disabled)
            .map(|u| u.user()))
    }

    pub fn users(&self) -> Result<Vec<User>, ServiceError> {
        Ok(self
            .stored_users()?
            .into_iter()
            .map(|(_, u)| u.user())
            .collect())
    }

    /// Every user once, by name, for the admin.
    pub fn accounts(&self, admin: &User) -> Result<Vec<Account>, ServiceError> {
        require_admin(admin)?;
        let mut accounts: Vec<Account> = Vec::new();
        for (_, u) in self.stored_users()? {
            if let Some(seen) = accounts.iter_mut().find(|a| a.name == u.name) {
                seen.disabled &= u.disabled;
                seen.has_password |= u.password.is_some();
                continue;
            }
            accounts.push(Account {
                name: u.name.clone(),
                role: u.role,
                disabled: u.disabled,
                has_password: u.password.is_some(),
            });
        }
        accounts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(accounts)
    }

    /// The admin sets (or resets) a user's password.
    pub fn set_password(
        &self,
        admin: &User,
        name: &str,
        password: &str,
    ) -> Result<(), ServiceError> {
        require_admin(admin)?;
        validate_password(password)?;
        let phc = hash_password(password)?;
        self.change_users(name, |u| u.password = Some(phc.clone()))
    }

    /// A user changes their own password, proving they know the current one.
    pub fn change_own_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
    ) -> Result<(), ServiceError> {
        if self.sign_in(&user.name, current)?.is_none() {
            return Err(FieldErrors::single("current", "is not the current password").into());
        }
        validate_password(new)?;
        let phc = hash_password(new)?;
        self.change_users(&user.name, |u| u.password = Some(phc.clone()))
    }

    /// Disables or enables a user: a disabled user's tokens and sessions stop at their next
    /// request. The admin cannot disable themself (the node would have no one to undo it).
    pub fn set_disabled(
        &self,
        admin: &User,
        name: &str,
        disabled: bool,
    ) -> Result<(), ServiceError> {
        require_admin(admin)?;
        if disabled && name == admin.name {
            return Err(ServiceError::Rule(
                "the admin cannot disable themself".into(),
            ));
        }
        self.change_users(name, |u| u.disabled = disabled)
    }

    /// Gives a user another role, effective at their next request.
    pub fn set_role(&self, admin: &User, name: &str, role: Role) -> Result<(), ServiceError> {
        require_admin(admin)?;
        if name == admin.name && role != Role::Admin {
            return Err(ServiceError::Rule(
                "the admin cannot take their own admin role away".into(),
            ));
        }
        self.check_role_allowed(role)?;
        self.change_users(name, |u| u.role = role)
    }

    /// Applies `change` to every record of the user `name`, then flushes.
    fn change_users(
        &self,
        name: &str,
        change: impl Fn(&mut StoredUser),
    ) -> Result<(), ServiceError> {
        let mut found = false;
        for (key, mut user) in self.stored_users()? {
            if user.name != name {
                continue;
            }
            change(&mut user);
            let bytes = serde_json::to_vec(&user).map_err(encode_error)?;
            self.store.put_raw(&key, &bytes)?;
            found = true;
        }
        if !found {
            return Err(ServiceError::NotFound(format!("user {name}")));
        }
        self.store.flush()?;
        Ok(())
    }

    /// Every stored user with its key. A node has tens of users, so a scan is cheap.
    fn stored_users(&self) -> Result<Vec<(Vec<u8>, StoredUser)>, ServiceError> {
        Ok(self
            .store
            .scan_raw(keys::USER_PREFIX)?
            .into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_slice(&v).ok()?)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{password_matches, StoredUser};
    use crate::domain::role::Role;

    #[test]
    fn records_written_before_passwords_still_read() {
        let old: StoredUser =
            serde_json::from_str(r#"{"name":"李娜","role":"clerk"}"#).expect("old record");
        assert_eq!(old.role, Role::Clerk);
        assert!(!old.disabled);
        assert!(old.password.is_none());
    }

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let phc = super::hash_password("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(password_matches("correct horse", &phc));
        assert!(!password_matches("correct horsf", &phc));
        assert!(!password_matches("correct horse", "not a phc string"));
    }
}
