//! Workbench sessions: a random 256-bit id in an `HttpOnly; SameSite=Strict` cookie, held in
//! memory (a restart signs everyone out, which is fine for a node at one desk), ended after 30
//! minutes idle or by signing out. Each session has its own CSRF token, sent back by every form.
//!
//! The session names the user; the user is read again on every request, so disabling them or
//! changing their role takes effect at their next click. Session ids are never logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::{header, request::Parts};

use super::PageError;
use crate::http::AppState;
use crate::service::User;

pub const COOKIE: &str = "nq_session";
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

struct Session {
    user: String,
    csrf: String,
    last_seen: Instant,
}

/// Open sessions by id.
#[derive(Clone)]
pub struct Sessions {
    open: Arc<Mutex<HashMap<String, Session>>>,
    idle_timeout: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_idle_timeout(IDLE_TIMEOUT)
    }
}

fn random_hex_256() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    pub fn with_idle_timeout(idle_timeout: Duration) -> Sessions {
        Sessions {
            open: Arc::default(),
            idle_timeout,
        }
    }

    /// Opens a session for `user`; returns its id (for the cookie only).
    pub fn open(&self, user: &str) -> String {
        let id = random_hex_256();
        let now = Instant::now();
        if let Ok(mut open) = self.open.lock() {
            // Sweeping here keeps the map as small as the sessions in use.
            open.retain(|_, s| now.duration_since(s.last_seen) < self.idle_timeout);
            open.insert(
                id.clone(),
                Session {
                    user: user.to_string(),
                    csrf: random_hex_256(),
                    last_seen: now,
                },
            );
        }
        id
    }

    /// The user and CSRF token of a live session, marking it used now; an idle one is ended.
    pub fn touch(&self, id: &str) -> Option<(String, String)> {
        let mut open = self.open.lock().ok()?;
        let now = Instant::now();
        let session = open.get_mut(id)?;
        if now.duration_since(session.last_seen) >= self.idle_timeout {
            open.remove(id);
            return None;
        }
        session.last_seen = now;
        Some((session.user.clone(), session.csrf.clone()))
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id);
        }
    }
}

/// The session id from the request's cookies.
pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value for a new session.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// The signed-in user of a page request. Without a live session, or for a user who is gone or
/// disabled, the page redirects to 登录.
pub struct SignedIn {
    pub user: User,
    pub session: String,
    pub csrf: String,
}

impl SignedIn {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = session_cookie(parts).ok_or(PageError::SignIn)?;
        let sessions = &state.workbench.sessions;
        let (name, csrf) = sessions.touch(&session).ok_or(PageError::SignIn)?;
        let lookup = name.clone();
        let user = crate::http::read(state, move |office| office.active_user(&lookup)).await?;
        match user {
            Some(user) => Ok(SignedIn {
                user,
                session,
                csrf,
            }),
            None => {
                sessions.close(&session);
                Err(PageError::SignIn)
            }
        }
    }
}

/// For pages that differ for a signed-in visitor (登录 sends them home).
impl OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <SignedIn as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_names_its_user_until_closed() {
        let sessions = Sessions::default();
        let id = sessions.open("李娜");
        assert_eq!(id.len(), 64, "256 bits in hex");
        let (user, csrf) = sessions.touch(&id).expect("live");
        assert_eq!(user, "李娜");
        assert_eq!(csrf.len(), 64);
        assert_ne!(csrf, id);
        sessions.close(&id);
        assert!(sessions.touch(&id).is_none());
    }

    #[test]
    fn an_idle_session_ends() {
        let sessions = Sessions::with_idle_timeout(Duration::ZERO);
        let id = sessions.open("李娜");
        assert!(sessions.touch(&id).is_none());
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let request = axum::http::Request::builder()
            .header(header::COOKIE, "theme=dark; nq_session=abc123; other=1")
            .body(())
            .expect("request");
        let (parts, _) = request.into_parts();
        assert_eq!(session_cookie(&parts).as_deref(), Some("abc123"));
        assert!(set_cookie("x").contains("HttpOnly; SameSite=Strict; Path=/"));
    }
}
