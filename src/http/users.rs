//! Node users, for the admin: add one (the token is shown once) and list them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{ApiJson, Authed};
use super::{read, AppState};
use crate::domain::role::Role;
use crate::service::User;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub name: String,
    pub role: Role,
    /// The workbench password (at least 8 characters); without one the user has only the token
    /// until the admin sets one.
    #[serde(default)]
    pub password: Option<String>,
}

/// Written by hand so that a password never reaches a log through `{:?}`.
impl std::fmt::Debug for NewUserBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserBody")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NewUserToken {
    pub name: String,
    pub role: Role,
    /// Shown once; the node keeps only its hash.
    pub token: String,
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/users", post(add).get(list))
}

fn require_admin(user: &User) -> Result<(), ApiError> {
    if user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only the admin manages users".into()))
    }
}

async fn add(
    State(state): State<AppState>,
    Authed(user): Authed,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<NewUserToken>), ApiError> {
    require_admin(&user)?;
    let (name, role, password) = (body.name.clone(), body.role, body.password);
    // add_user flushes before it returns, so the token works after a crash.
    let token = read(&state, move |office| {
        office.add_user_with_password(&name, role, password.as_deref())
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewUserToken {
            name: body.name,
            role: body.role,
            token,
        }),
    ))
}

async fn list(
    State(state): State<AppState>,
    Authed(user): Authed,
) -> Result<Json<Vec<User>>, ApiError> {
    require_admin(&user)?;
    Ok(Json(read(&state, |office| office.users()).await?))
}
